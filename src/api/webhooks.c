/*
 * webhooks: the /api/webhooks resource (beyond OpenHands) — an account's webhooks and their
 * deliveries. The signing secret appears in exactly one answer, the one to POST. Rules (events,
 * the URL check, the limit) live in core/webhooks.c.
 */
#include <ctype.h>
#include <string.h>

#include "api/api.h"
#include "core/webhooks.h"
#include "util/crypto.h"
#include "util/json.h"

#define DELIVERIES_DEFAULT_LIMIT 20
#define DELIVERIES_MAX_LIMIT     100

static json_t *webhook_to_json(const struct webhook *w, const char *secret)
{
    json_t *events = json_loads(w->events ? w->events : "[]", 0, NULL);
    if (!json_is_array(events)) {
        json_decref(events);
        events = json_array();
    }
    json_t *v = json_pack("{s:s, s:s, s:o, s:s, s:o}", "id", w->id, "url", w->url, "events", events,
                          "description", w->description ? w->description : "", "created_at",
                          json_time_or_null(w->created_at));
    if (secret) json_object_set_new(v, "secret", json_string(secret));
    return v;
}

/* Webhook ids are 32 lowercase hex characters; anything else is no webhook of the caller's. */
static bool webhook_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!isxdigit((unsigned char)id[n]) || isupper((unsigned char)id[n])) return false;
    return n == 32;
}

static int not_found(struct error *err)
{
    return error_set(err, ERR_NOT_FOUND, "Webhook not found");
}

static const struct json_field create_fields[] = {
    {"url", JF_STRING, true, WEBHOOK_URL_MAX},
    {"events", JF_STRING_LIST, true, 16},
    {"description", JF_STRING, false, WEBHOOK_DESCRIPTION_MAX},
    {NULL, 0, false, 0},
};

int api_webhook_create(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    struct webhook w;
    char secret[WEBHOOK_SECRET_LEN + 1];
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, create_fields, true, err);
    if (!rc)
        rc = webhooks_create(req->app, req->auth.account.id, json_get_str(body, "url"),
                             json_object_get(body, "events"), json_get_str(body, "description"), &w,
                             secret, err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 201, webhook_to_json(&w, secret));
    crypto_wipe(secret, sizeof(secret));
    webhook_free(&w);
    return 0;
}

int api_webhook_list(struct http_request *req, struct http_response *res, struct error *err)
{
    struct webhook *list;
    size_t n;
    int rc =
        req->app->store->ops->webhook_list(req->app->store, req->auth.account.id, &list, &n, err);
    if (rc) return rc;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(items, webhook_to_json(&list[i], NULL));
    webhook_list_free(list, n);
    response_json(res, 200, json_pack("{s:o}", "webhooks", items));
    return 0;
}

int api_webhook_get(struct http_request *req, struct http_response *res, struct error *err)
{
    struct webhook w;
    if (!webhook_id_valid(req->params[0])) return not_found(err);
    int rc = req->app->store->ops->webhook_get(req->app->store, req->auth.account.id,
                                               req->params[0], &w, err);
    if (rc == ERR_NOT_FOUND) return not_found(err);
    if (rc) return rc;
    response_json(res, 200, webhook_to_json(&w, NULL));
    webhook_free(&w);
    return 0;
}

int api_webhook_delete(struct http_request *req, struct http_response *res, struct error *err)
{
    if (!webhook_id_valid(req->params[0])) return not_found(err);
    int rc = req->app->store->ops->webhook_delete(req->app->store, req->auth.account.id,
                                                  req->params[0], err);
    if (rc == ERR_NOT_FOUND) return not_found(err);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Webhook deleted"));
    return 0;
}

static json_t *delivery_to_json(const struct webhook_delivery *d)
{
    return json_pack(
        "{s:s, s:s, s:o, s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "id", d->id, "event",
        d->event ? d->event : "", "conversation_id", json_str_or_null(d->conversation_id), "status",
        d->status ? d->status : "", "attempts", d->attempts, "last_status_code",
        d->last_status_code ? json_integer(d->last_status_code) : json_null(), "last_error",
        json_str_or_null(d->last_error), "created_at", json_time_or_null(d->created_at),
        "delivered_at", json_time_or_null(d->delivered_at), "next_attempt_at",
        json_time_or_null(d->next_attempt_at));
}

/* GET /api/webhooks/{id}/deliveries?limit= → the newest deliveries first. */
int api_webhook_deliveries(struct http_request *req, struct http_response *res, struct error *err)
{
    struct webhook w;
    long long limit;
    int rc =
        query_int(req, "limit", DELIVERIES_DEFAULT_LIMIT, 1, DELIVERIES_MAX_LIMIT, &limit, err);
    if (rc) return rc;
    if (!webhook_id_valid(req->params[0])) return not_found(err);
    rc = req->app->store->ops->webhook_get(req->app->store, req->auth.account.id, req->params[0],
                                           &w, err);
    if (rc == ERR_NOT_FOUND) return not_found(err);
    if (rc) return rc;
    webhook_free(&w);
    struct webhook_delivery *list;
    size_t n;
    rc = req->app->store->ops->webhook_delivery_list(req->app->store, req->auth.account.id,
                                                     req->params[0], (int)limit, &list, &n, err);
    if (rc) return rc;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(items, delivery_to_json(&list[i]));
    webhook_delivery_list_free(list, n);
    response_json(res, 200, json_pack("{s:o}", "deliveries", items));
    return 0;
}
