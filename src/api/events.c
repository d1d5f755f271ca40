/*
 * events: GET /api/conversations/{id}/events. Events are stored as JSON text and spliced
 * into the answer as they are, never parsed and re-serialized (the hot read path).
 */
#include <string.h>

#include "api/api.h"
#include "core/conversations.h"

#define EVENTS_DEFAULT_LIMIT 20
#define EVENTS_MAX_LIMIT     100

int api_event_list(struct http_request *req, struct http_response *res, struct error *err)
{
    long long start_id, end_id, limit;
    struct conversation c;
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
    if (!conversation_id_valid(id)) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    rc = req->app->store->ops->conversation_get(req->app->store, req->auth.account.id, id, &c, err);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (rc) return rc;
    conversation_free(&c);

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
