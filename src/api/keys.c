/*
 * keys: the /api/keys resource (as OpenHands Cloud's). The key itself appears in exactly
 * one answer, the one to POST; everything else shows the record without it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/keys.h"
#include "util/json.h"
#include "util/timeutil.h"

static json_t *key_to_json(const struct api_key *k, const char *plain_key)
{
    json_t *v = json_pack("{s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)k->id, "name", k->name,
                          "created_at", json_time_or_null(k->created_at), "last_used_at",
                          json_time_or_null(k->last_used_at), "expires_at",
                          json_time_or_null(k->expires_at));
    if (plain_key) json_object_set_new(v, "key", json_string(plain_key));
    return v;
}

static const struct json_field create_fields[] = {
    {"name", JF_STRING, true, API_KEY_NAME_MAX},
    {"expires_at", JF_STRING, false, 64},
    {NULL, 0, false, 0},
};

int api_key_create(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    struct api_key k;
    char key[API_KEY_LEN + 1];
    int64_t expires = 0;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, create_fields, true, err);
    const char *exp = json_get_str(body, "expires_at");
    if (!rc && exp && !time_parse_iso(exp, &expires))
        rc = error_invalid(err, "expires_at", "datetime_parsing",
                           "Input should be an ISO-8601 date-time, e.g. 2026-12-31T23:59:59Z");
    if (!rc)
        rc = keys_create(req->app, req->auth.account.id, json_get_str(body, "name"), expires, &k,
                         key, err);
    if (!rc) {
        response_json(res, 200, key_to_json(&k, key));
        crypto_wipe(key, sizeof(key));
        api_key_free(&k);
    }
    json_decref(body);
    return rc;
}

int api_key_list(struct http_request *req, struct http_response *res, struct error *err)
{
    struct api_key *keys;
    size_t n;
    int rc = req->app->store->ops->key_list(req->app->store, req->auth.account.id, &keys, &n, err);
    if (rc) return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, key_to_json(&keys[i], NULL));
    api_key_list_free(keys, n);
    response_json(res, 200, list);
    return 0;
}

int api_key_current(struct http_request *req, struct http_response *res, struct error *err)
{
    response_json(res, 200, key_to_json(&req->auth.key, NULL));
    return 0;
}

int api_key_delete(struct http_request *req, struct http_response *res, struct error *err)
{
    char *end;
    errno = 0;
    long long id = strtoll(req->params[0], &end, 10);
    if (*end || errno || id <= 0) return error_set(err, ERR_NOT_FOUND, "API key not found");
    int rc = req->app->store->ops->key_revoke(req->app->store, req->auth.account.id, id,
                                              time_now_us(), err);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "API key not found");
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "API key deleted successfully"));
    return 0;
}
