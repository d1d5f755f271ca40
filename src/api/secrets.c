/*
 * secrets: /api/secrets — named values the agent's sandbox sees as environment variables.
 * Values go in and never come back out; they are stored sealed (crypto_seal).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/json.h"
#include "util/timeutil.h"

#define SECRET_NAME_MAX  100
#define SECRET_VALUE_MAX 65536

/* Secret names become environment variable names: letters, digits and '_', not starting with
 * a digit. */
static bool secret_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > SECRET_NAME_MAX || isdigit((unsigned char)*name))
        return false;
    for (; *name; name++)
        if (!isalnum((unsigned char)*name) && *name != '_') return false;
    return true;
}

int api_secret_list(struct http_request *req, struct http_response *res, struct error *err)
{
    struct secret *list;
    size_t n;
    int rc =
        req->app->store->ops->secret_list(req->app->store, req->auth.account.id, &list, &n, err);
    if (rc) return rc;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, json_pack("{s:s, s:s}", "name", list[i].name, "description",
                                               list[i].description ? list[i].description : ""));
    secret_list_free(list, n);
    response_json(res, 200, json_pack("{s:o}", "custom_secrets", items));
    return 0;
}

static const struct json_field create_fields[] = {
    {"name", JF_STRING, true, SECRET_NAME_MAX},
    {"value", JF_STRING, true, SECRET_VALUE_MAX},
    {"description", JF_STRING, false, 1000},
    {NULL, 0, false, 0},
};

static const struct json_field update_fields[] = {
    {"name", JF_STRING, false, SECRET_NAME_MAX},
    {"value", JF_STRING, false, SECRET_VALUE_MAX},
    {"description", JF_STRING, false, 1000},
    {NULL, 0, false, 0},
};

/* Creates (create) or updates the secret named `name` from `body`. */
static int put_secret(struct http_request *req, const char *name, json_t *body, bool create,
                      struct error *err)
{
    const char *value = json_get_str(body, "value");
    char *sealed = value ? crypto_seal(req->app->secret, value) : NULL;
    int rc = req->app->store->ops->secret_put(req->app->store, req->auth.account.id, name,
                                              json_get_str(body, "description"), sealed, create,
                                              time_now_us(), err);
    free(sealed);
    if (rc == ERR_CONFLICT)
        return error_set(err, ERR_CONFLICT, "A secret named %s exists already; update it with PUT",
                         name);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Secret not found");
    return rc;
}

int api_secret_create(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, create_fields, true, err);
    const char *name = json_get_str(body, "name");
    if (!rc && !secret_name_valid(name))
        rc = error_invalid(err, "name", "string_pattern_mismatch",
                           "Secret names are environment variable names: letters, digits and "
                           "'_', not starting with a digit");
    if (!rc) rc = put_secret(req, name, body, true, err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 201, json_pack("{s:s}", "message", "Secret created successfully"));
    return 0;
}

/* PUT /api/secrets/{id}: the id is the secret's name, as in OpenHands. A rename is not
 * supported: a different "name" in the body is 422. */
int api_secret_update(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, update_fields, true, err);
    const char *name = json_get_str(body, "name");
    if (!rc && name && strcmp(name, req->params[0]) != 0)
        rc = error_invalid(err, "name", "value_error",
                           "Renaming a secret is not supported: delete it and create another");
    if (!rc && !secret_name_valid(req->params[0]))
        rc = error_set(err, ERR_NOT_FOUND, "Secret not found");
    if (!rc) rc = put_secret(req, req->params[0], body, false, err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Secret updated successfully"));
    return 0;
}

int api_secret_delete(struct http_request *req, struct http_response *res, struct error *err)
{
    int rc = secret_name_valid(req->params[0])
                 ? req->app->store->ops->secret_delete(req->app->store, req->auth.account.id,
                                                       req->params[0], err)
                 : ERR_NOT_FOUND;
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Secret not found");
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Secret deleted successfully"));
    return 0;
}
