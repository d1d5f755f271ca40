/*
 * conversations: the /api/conversations resource (the seed's routes and the rest of
 * OpenHands' V0 conversation API). Rules live in core/conversations.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/conversations.h"
#include "core/paging.h"
#include "util/json.h"
#include "util/timeutil.h"

#define LIST_DEFAULT_LIMIT 20
#define LIST_MAX_LIMIT     100

int query_int(struct http_request *req, const char *name, long long dflt, long long min,
              long long max, long long *out, struct error *err)
{
    const char *v = http_query(req, name);
    char field[64];
    snprintf(field, sizeof(field), "query.%s", name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*end || errno)
        return error_invalid(err, field, "int_parsing",
                             "Input should be a valid integer, unable to parse string as an "
                             "integer");
    if (n < min)
        return error_invalid(err, field, "greater_than_equal",
                             "Input should be greater than or equal to %lld", min);
    if (n > max)
        return error_invalid(err, field, "less_than_equal",
                             "Input should be less than or equal to %lld", max);
    *out = n;
    return 0;
}

int api_conversation_create(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    struct conversation_request rq;
    char *answer = NULL;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = conversation_request_parse(body, true, &rq, err);
    if (!rc)
        rc = conversations_create(req->app, &req->auth,
                                  req->auth.via_session ? TRIGGER_GUI : TRIGGER_API, &rq,
                                  http_header(req, "Idempotency-Key"), &answer, err);
    if (!rc) {
        res->status = 200;
        buf_adds(&res->body, answer);
    }
    free(answer);
    json_decref(body);
    return rc;
}

int caller_conversation(struct http_request *req, struct error *err)
{
    struct conversation c;
    const char *id = req->params[0];
    int rc = conversation_id_valid(id) ? req->app->store->ops->conversation_get(
                                             req->app->store, req->auth.account.id, id, &c, err)
                                       : ERR_NOT_FOUND;
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (!rc) conversation_free(&c);
    return rc;
}

/* OpenHands answers a missing conversation with 200 and null: so does this. */
int api_conversation_get(struct http_request *req, struct http_response *res, struct error *err)
{
    struct conversation c;
    const char *id = req->params[0];
    if (!conversation_id_valid(id)) {
        response_json(res, 200, json_null());
        return 0;
    }
    int rc =
        req->app->store->ops->conversation_get(req->app->store, req->auth.account.id, id, &c, err);
    if (rc == ERR_NOT_FOUND) {
        response_json(res, 200, json_null());
        return 0;
    }
    if (rc) return rc;
    res->status = 200;
    conversation_write_json(&res->body, &c);
    conversation_free(&c);
    return 0;
}

int api_conversation_list(struct http_request *req, struct http_response *res, struct error *err)
{
    long long limit;
    int64_t before = 0;
    struct conversation_filter f = {
        .selected_repository = http_query(req, "selected_repository"),
        .trigger = http_query(req, "conversation_trigger"),
        .status = http_query(req, "status"),
    };
    int rc = query_int(req, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT, &limit, err);
    if (rc) return rc;
    const char *page = http_query(req, "page_id");
    if (page && *page && !paging_decode(page, &before))
        return error_invalid(err, "query.page_id", "value_error",
                             "page_id is not a token this server gave out");
    if (f.status && *f.status && !conversation_status_valid(f.status))
        return error_invalid(err, "query.status", "enum",
                             "Input should be 'STARTING', 'RUNNING', 'STOPPED', 'ARCHIVED' or "
                             "'ERROR'");
    if (f.status && !*f.status) f.status = NULL;
    if (f.trigger && !*f.trigger) f.trigger = NULL;
    if (f.selected_repository && !*f.selected_repository) f.selected_repository = NULL;

    struct conversation *list;
    size_t n;
    rc = req->app->store->ops->conversation_list(req->app->store, req->auth.account.id, &f, before,
                                                 (int)limit + 1, &list, &n, err);
    if (rc) return rc;
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    res->status = 200;
    buf_adds(&res->body, "{\"results\":[");
    for (size_t i = 0; i < shown; i++) {
        if (i) buf_addch(&res->body, ',');
        conversation_write_json(&res->body, &list[i]);
    }
    buf_adds(&res->body, "],\"next_page_id\":");
    if (n > shown) {
        char token[PAGE_TOKEN_MAX];
        paging_encode(list[shown - 1].seq, token);
        buf_add_json_str(&res->body, token);
    } else {
        buf_adds(&res->body, "null");
    }
    buf_addch(&res->body, '}');
    conversation_list_free(list, n);
    return 0;
}

static const struct json_field update_fields[] = {
    {"title", JF_STRING, true, CONV_TITLE_MAX},
    {NULL, 0, false, 0},
};

/* PATCH {"title"} → true, or false when there is no such conversation (as OpenHands). */
int api_conversation_update(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, update_fields, true, err);
    const char *title = json_get_str(body, "title");
    if (!rc && !*title)
        rc = error_invalid(err, "title", "string_too_short", "Title must not be empty");
    if (!rc) {
        bool found = false;
        if (conversation_id_valid(req->params[0])) {
            rc = req->app->store->ops->conversation_set_title(
                req->app->store, req->auth.account.id, req->params[0], title, time_now_us(), err);
            found = rc == 0;
            if (rc == ERR_NOT_FOUND) rc = 0;
        }
        if (!rc) response_json(res, 200, json_boolean(found));
    }
    json_decref(body);
    return rc;
}

/* DELETE → true, or false when there is no such conversation. */
int api_conversation_delete(struct http_request *req, struct http_response *res, struct error *err)
{
    int rc = conversations_delete(req->app, &req->auth, req->params[0], err);
    if (rc && rc != ERR_NOT_FOUND) return rc;
    error_clear(err);
    response_json(res, 200, json_boolean(rc == 0));
    return 0;
}

static void status_answer(struct http_response *res, const char *id, const char *message,
                          const char *status)
{
    response_json(res, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "status", "ok", "conversation_id", id,
                            "message", message, "conversation_status", status));
}

int api_conversation_stop(struct http_request *req, struct http_response *res, struct error *err)
{
    int rc = conversations_stop(req->app, &req->auth, req->params[0], err);
    if (rc) return rc;
    status_answer(res, req->params[0], "Conversation stopped", CONV_STOPPED);
    return 0;
}

int api_conversation_start(struct http_request *req, struct http_response *res, struct error *err)
{
    const char *status;
    int rc = conversations_start(req->app, &req->auth, req->params[0], &status, err);
    if (rc) return rc;
    status_answer(res, req->params[0], "Conversation started", status);
    return 0;
}

static const struct json_field message_fields[] = {
    {"message", JF_STRING, true, CONV_MSG_MAX},
    {"image_urls", JF_STRING_LIST, false, CONV_IMAGES_MAX},
    {NULL, 0, false, 0},
};

/* POST .../message {"message"} → {"success": true}. Beyond OpenHands, a stopped conversation
 * starts again to answer it. */
int api_conversation_message(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, message_fields, true, err);
    const char *text = json_get_str(body, "message");
    if (!rc && !*text) rc = error_invalid(err, "message", "string_too_short", "Message is empty");
    if (!rc)
        rc = conversations_message(req->app, &req->auth, req->params[0], text,
                                   json_object_get(body, "image_urls"), err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:b}", "success", 1));
    return 0;
}

/* The args of a message event, as OpenHands' MessageAction has them; others are ignored. */
static const struct json_field event_args_fields[] = {
    {"content", JF_STRING, true, CONV_MSG_MAX},
    {"image_urls", JF_STRING_LIST, false, CONV_IMAGES_MAX},
    {"file_urls", JF_STRING_LIST, false, CONV_IMAGES_MAX},
    {"wait_for_response", JF_BOOL, false, 0},
    {NULL, 0, false, 0},
};

/* Checks a message event's args; a bad member is reported on "args", naming it. */
static int check_event_args(json_t *args, struct error *err)
{
    if (!json_is_object(args))
        return error_invalid(err, "args", "model_type",
                             "args must be an object: {\"content\": \"...\"}");
    int rc = json_check_fields(args, event_args_fields, false, err);
    if (rc != ERR_INVALID) return rc;
    struct error inner = *err;
    return error_invalid(err, "args", inner.kind, "args.%s: %s", inner.field, inner.message);
}

/* POST .../events with a raw event. Only what a user may send is accepted: a message action
 * ({"action": "message", "args": {"content"}}). */
int api_event_post(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    const char *action = json_get_str(body, "action");
    json_t *args = json_object_get(body, "args");
    if (!action || strcmp(action, "message") != 0)
        rc = error_invalid(err, "action", "literal_error",
                           "Only message actions can be sent: {\"action\": \"message\", "
                           "\"args\": {\"content\": \"...\"}}");
    if (!rc) rc = check_event_args(args, err);
    if (!rc && !*json_get_str(args, "content"))
        rc = error_invalid(err, "args", "string_too_short", "args.content is empty");
    if (!rc) {
        json_t *images = json_object_get(args, "image_urls"); /* null: none */
        rc = conversations_message(req->app, &req->auth, req->params[0],
                                   json_get_str(args, "content"),
                                   json_is_array(images) ? images : NULL, err);
    }
    json_decref(body);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:b}", "success", 1));
    return 0;
}
