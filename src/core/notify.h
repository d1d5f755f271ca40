/*
 * notify: in-process signals between the API and the runners. The API publishes "new
 * work" (a conversation was queued), "stop" (kill that conversation's sandbox now) and
 * "events" (a conversation has new events, for live streams); runners and streams
 * subscribe. Delivery is best effort and immediate; correctness never depends on it:
 * runners also poll the store, and a remote worker (PostgreSQL) learns of a stop when
 * its lease renewal fails.
 */
#ifndef CH_NOTIFY_H
#define CH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

enum notify_kind {
    NOTIFY_WORK,   /* a conversation was queued; id may be NULL */
    NOTIFY_STOP,   /* a conversation was stopped or deleted */
    NOTIFY_EVENTS, /* a conversation has new events (or a new status) */
    NOTIFY_KINDS
};

typedef void (*notify_fn)(void *ctx, enum notify_kind kind, const char *conversation_id);

/* Calls `fn` (in the publisher's thread, so it must be quick) for each publish of `kind`. */
void notify_subscribe(enum notify_kind kind, notify_fn fn, void *ctx);
void notify_unsubscribe(enum notify_kind kind, notify_fn fn, void *ctx);
void notify_publish(enum notify_kind kind, const char *conversation_id);
/* A counter bumped by every publish; notify_wait sleeps until it differs from `seen` or
 * timeout_ms passes, and returns the current value. */
uint64_t notify_seq(void);
uint64_t notify_wait(uint64_t seen, int timeout_ms);

#endif
