/*
 * notify: in-process signals between the API and the runners. The API publishes "new
 * work" (a conversation was queued), "stop" (kill that conversation's sandbox now) and
 * "events" (a conversation has new events, for live streams); runners and streams
 * subscribe; "webhooks" wakes the webhook delivery workers. Delivery is best effort and
 * immediate; correctness never depends on it: runners and delivery workers also poll the
 * store, and a remote worker (PostgreSQL) learns of a stop when its lease renewal fails. With
 * PostgreSQL, signals also cross processes (LISTEN/NOTIFY, notify_remote_start), so a stream
 * on one API node wakes for the events a worker on another machine writes.
 */
#ifndef CH_NOTIFY_H
#define CH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

enum notify_kind {
    NOTIFY_WORK,     /* a conversation was queued; id may be NULL */
    NOTIFY_STOP,     /* a conversation was stopped or deleted */
    NOTIFY_EVENTS,   /* a conversation has new events (or a new status) */
    NOTIFY_WEBHOOKS, /* webhook deliveries were enqueued (core/webhooks.c); id is NULL */
    NOTIFY_KINDS
};

typedef void (*notify_fn)(void *ctx, enum notify_kind kind, const char *conversation_id);

/* Calls `fn` (in the publisher's thread, so it must be quick) for each publish of `kind`. */
void notify_subscribe(enum notify_kind kind, notify_fn fn, void *ctx);
void notify_unsubscribe(enum notify_kind kind, notify_fn fn, void *ctx);
void notify_publish(enum notify_kind kind, const char *conversation_id);
/* A counter per kind, bumped by every publish of that kind; notify_wait sleeps until the
 * kind's counter differs from `seen` or timeout_ms passes, and returns its current value.
 * Waiters of one kind are not woken by the others (an event must not wake idle runners). */
uint64_t notify_seq(enum notify_kind kind);
/* Across processes: with a store that can signal other processes (PostgreSQL), every publish
 * is also sent there, and what other processes publish is delivered here. Called once by
 * app_open; notify_remote_stop before the store closes. */
struct store;
int notify_remote_start(struct store *s);
void notify_remote_stop(void);
uint64_t notify_wait(enum notify_kind kind, uint64_t seen, int timeout_ms);

#endif
