/*
 * events: GET /api/conversations/{id}/events. Events are stored as JSON text and spliced
 * into the answer as they are, never parsed and re-serialized (the hot read path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

#include "api/api.h"
#include "core/conversations.h"

#define EVENTS_DEFAULT_LIMIT 20
#define EVENTS_MAX_LIMIT     100

int api_event_list(struct http_request *req, struct http_response *res, struct error *err)
{
    long long start_id, end_id, limit;
    const char *id = req->params[0];
    int rc;

    if ((rc = query_int(req, "start_id", 0, 0, INT64_MAX, &start_id, err)) ||
        (rc = query_int(req, "end_id", -1, 0, INT64_MAX, &end_id, err)) ||
        (rc = query_int(req, "limit", EVENTS_DEFAULT_LIMIT, 1, INT64_MAX, &limit, err)))
        return rc;
    if (limit > EVENTS_MAX_LIMIT)
        return error_set(err, ERR_BAD_REQUEST, "limit must be at most %d", EVENTS_MAX_LIMIT);
    const char *rev = http_query(req, "reverse");
    bool reverse = false;
    if (rev && *rev) {
        if (strcmp(rev, "true") == 0 || strcmp(rev, "1") == 0)
            reverse = true;
        else if (strcmp(rev, "false") != 0 && strcmp(rev, "0") != 0)
            return error_invalid(err, "query.reverse", "bool_parsing",
                                 "Input should be a valid boolean");
    }
    if ((rc = caller_conversation(req, err))) return rc;

    char **events;
    size_t n;
    rc = req->app->store->ops->event_list(req->app->store, id, start_id, end_id, reverse,
                                          (int)limit + 1, &events, &n, err);
    if (rc) return rc;
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    buf_adds(&res->body, "{\"events\":[");
    for (size_t i = 0; i < shown; i++) {
        if (i) buf_addch(&res->body, ',');
        buf_adds(&res->body, events[i]);
    }
    buf_addf(&res->body, "],\"has_more\":%s}", n > shown ? "true" : "false");
    res->status = 200;
    event_list_free(events, n);
    return 0;
}

/* GET .../trajectory → {"trajectory": [every event]}. */
int api_trajectory(struct http_request *req, struct http_response *res, struct error *err)
{
    const char *id = req->params[0];
    int rc = caller_conversation(req, err);
    if (rc) return rc;
    char **events;
    size_t n;
    rc = req->app->store->ops->event_list(req->app->store, id, 0, -1, false, 0, &events, &n, err);
    if (rc) return rc;
    buf_adds(&res->body, "{\"trajectory\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_addch(&res->body, ',');
        buf_adds(&res->body, events[i]);
    }
    buf_adds(&res->body, "]}");
    res->status = 200;
    event_list_free(events, n);
    return 0;
}

/* ---- GET .../events/stream: Server-Sent Events ------------------------------------------- */

#define STREAM_BATCH        100
#define STREAM_KEEPALIVE_US (15 * USEC_PER_SEC)

struct event_stream {
    struct app *app;
    int64_t account_id;
    char id[33];
    int64_t next_id;
    int64_t last_write_us;
};

/* Sends new events as `id: N` + `data: <event JSON>`; ends once the conversation is no longer
 * active and every event is out (or it was deleted). */
static int produce_events(void *ctx, struct buf *out)
{
    struct event_stream *s = ctx;
    struct store *st = s->app->store;
    struct conversation c;
    struct error err = {0};
    /* Status first: events written with a final status are committed before it is seen. */
    int rc = st->ops->conversation_get(st, s->account_id, s->id, &c, &err);
    if (rc) {
        error_clear(&err);
        return -1;
    }
    bool active = conversation_status_is_active(c.status);
    conversation_free(&c);
    char **events;
    size_t n;
    if (st->ops->event_list(st, s->id, s->next_id, -1, false, STREAM_BATCH, &events, &n, &err)) {
        error_clear(&err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        buf_addf(out, "id: %lld\ndata: %s\n\n", (long long)(s->next_id), events[i]);
        s->next_id++;
    }
    event_list_free(events, n);
    int64_t now = time_now_us();
    if (n) {
        s->last_write_us = now;
        return 1;
    }
    if (!active) return -1;
    if (now - s->last_write_us >= STREAM_KEEPALIVE_US) {
        buf_adds(out, ": keep-alive\n\n");
        s->last_write_us = now;
        return 1;
    }
    return 0;
}

int api_event_stream(struct http_request *req, struct http_response *res, struct error *err)
{
    const char *id = req->params[0];
    int rc = caller_conversation(req, err);
    if (rc) return rc;

    /* Resume after the last event the client saw (the Last-Event-ID header of a reconnecting
     * EventSource, or ?last_event_id=). */
    long long last;
    const char *header = http_header(req, "Last-Event-ID");
    if (header && *header) {
        char *end;
        errno = 0;
        last = strtoll(header, &end, 10);
        if (*end || errno || last < -1 || last == INT64_MAX) /* next_id = last + 1 */
            return error_invalid(err, "header.Last-Event-ID", "int_parsing",
                                 "Last-Event-ID must be an event id");
    } else if ((rc = query_int(req, "last_event_id", -1, -1, INT64_MAX - 1, &last, err))) {
        return rc;
    }
    struct event_stream *s = xcalloc(1, sizeof(*s));
    s->app = req->app;
    s->account_id = req->auth.account.id;
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->next_id = last + 1;
    s->last_write_us = time_now_us();
    res->stream = xcalloc(1, sizeof(*res->stream));
    res->stream->produce = produce_events;
    res->stream->free = free;
    res->stream->ctx = s;
    res->status = 200;
    return 0;
}
