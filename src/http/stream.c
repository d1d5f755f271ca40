/*
 * stream: long-lived responses (Server-Sent Events). A handler sets res->stream; the
 * server sends the body as it is produced. When the producer has nothing to send, the
 * connection is suspended (libmicrohttpd's pattern: suspend from the content reader and
 * return 0) so no thread waits on it; any NOTIFY_EVENTS publish, and a 15-second tick for
 * keep-alives, resumes every suspended stream to produce again.
 *
 * The race between "nothing to send" and a publish is closed with notify's sequence
 * counter: a stream suspends only if no publish happened since it last produced, checked
 * under the same lock the waker takes.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/notify.h"
#include "http/http.h"
#include "http/stream.h"

#define TICK_MS 15000

struct stream_conn {
    struct MHD_Connection *conn;
    struct http_stream stream;
    struct buf pending; /* produced, not yet taken by MHD */
    size_t sent;        /* bytes of `pending` already taken */
    bool ended;
    struct stream_conn *next_suspended;
    bool suspended;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct stream_conn *suspended;
static bool closing;
static pthread_t ticker;
static bool ticker_started;

/* Resumes every suspended stream (they produce again). */
static void resume_all(void)
{
    pthread_mutex_lock(&mu);
    for (struct stream_conn *s = suspended; s; s = s->next_suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
    suspended = NULL;
    pthread_mutex_unlock(&mu);
}

static void on_events(void *ctx, enum notify_kind kind, const char *conversation_id)
{
    resume_all();
}

static void *tick(void *arg)
{
    uint64_t seen = notify_seq(NOTIFY_EVENTS);
    for (;;) {
        pthread_mutex_lock(&mu);
        bool stop = closing;
        pthread_mutex_unlock(&mu);
        if (stop) return NULL;
        uint64_t now = notify_wait(NOTIFY_EVENTS, seen, TICK_MS);
        if (now == seen) resume_all(); /* a quiet period: let streams send a keep-alive */
        seen = now;
    }
}

void stream_start(void)
{
    notify_subscribe(NOTIFY_EVENTS, on_events, NULL);
    ticker_started = pthread_create(&ticker, NULL, tick, NULL) == 0;
}

void stream_stop(void)
{
    pthread_mutex_lock(&mu);
    closing = true;
    pthread_mutex_unlock(&mu);
    notify_unsubscribe(NOTIFY_EVENTS, on_events, NULL);
    notify_publish(NOTIFY_EVENTS, NULL); /* wakes the ticker */
    if (ticker_started) pthread_join(ticker, NULL);
    ticker_started = false;
    resume_all(); /* MHD must not be stopped with suspended connections */
}

static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream_conn *s = cls;
    for (;;) {
        if (s->sent < s->pending.len) {
            size_t n = s->pending.len - s->sent;
            if (n > max) n = max;
            memcpy(out, s->pending.data + s->sent, n);
            s->sent += n;
            if (s->sent == s->pending.len) {
                buf_reset(&s->pending);
                s->sent = 0;
            }
            return (ssize_t)n;
        }
        if (s->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t seen = notify_seq(NOTIFY_EVENTS);
        int rc = s->stream.produce(s->stream.ctx, &s->pending);
        if (rc < 0) s->ended = true;
        if (rc != 0) continue;
        pthread_mutex_lock(&mu);
        if (closing) {
            pthread_mutex_unlock(&mu);
            s->ended = true;
            continue;
        }
        if (notify_seq(NOTIFY_EVENTS) != seen) { /* something happened meanwhile: produce again */
            pthread_mutex_unlock(&mu);
            continue;
        }
        MHD_suspend_connection(s->conn);
        s->suspended = true;
        s->next_suspended = suspended;
        suspended = s;
        pthread_mutex_unlock(&mu);
        return 0;
    }
}

static void free_stream(void *cls)
{
    struct stream_conn *s = cls;
    pthread_mutex_lock(&mu);
    for (struct stream_conn **p = &suspended; *p; p = &(*p)->next_suspended) {
        if (*p == s) {
            *p = s->next_suspended;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    if (s->stream.free) s->stream.free(s->stream.ctx);
    buf_release(&s->pending);
    free(s);
}

struct MHD_Response *stream_response(struct MHD_Connection *conn, struct http_stream *stream)
{
    struct stream_conn *s = xcalloc(1, sizeof(*s));
    s->conn = conn;
    s->stream = *stream;
    buf_init(&s->pending, 0);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, s, free_stream);
    if (!r) free_stream(s);
    return r;
}
