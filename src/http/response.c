/*
 * response: building responses, and the one map from error codes to HTTP statuses and
 * bodies. Body shapes follow OpenHands: {"error": ...} for authentication failures,
 * {"detail": ...} for everything else, with pydantic's list form for validation errors.
 */
#include <microhttpd.h>
#include <string.h>

#include "http/http.h"
#include "util/json.h"

void response_json(struct http_response *res, unsigned status, json_t *v)
{
    res->status = status;
    buf_reset(&res->body);
    buf_add_json(&res->body, v);
    json_decref(v);
}

unsigned http_status_for(enum err_code code)
{
    switch (code) {
    case ERR_OK:
        return MHD_HTTP_OK;
    case ERR_BAD_REQUEST:
        return MHD_HTTP_BAD_REQUEST;
    case ERR_INVALID:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case ERR_UNAUTHORIZED:
        return MHD_HTTP_UNAUTHORIZED;
    case ERR_FORBIDDEN:
        return MHD_HTTP_FORBIDDEN;
    case ERR_NOT_FOUND:
        return MHD_HTTP_NOT_FOUND;
    case ERR_METHOD:
        return MHD_HTTP_METHOD_NOT_ALLOWED;
    case ERR_CONFLICT:
        return MHD_HTTP_CONFLICT;
    case ERR_LIMIT:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    case ERR_TOO_LARGE:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    case ERR_UNSUPPORTED:
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    case ERR_UNAVAILABLE:
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    case ERR_INTERNAL:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* pydantic's error list: [{"type", "loc": ["body"|"query"|"header", field], "msg"}]. A field
 * written "query.limit" or "header.Idempotency-Key" names its location; plain names are body
 * fields, and "body" alone is the whole body. */
static json_t *validation_detail(const struct error *e)
{
    json_t *loc = json_array();
    const char *dot = strchr(e->field, '.');
    if (strcmp(e->field, "body") == 0) {
        json_array_append_new(loc, json_string("body"));
    } else if (dot &&
               (strncmp(e->field, "query.", 6) == 0 || strncmp(e->field, "header.", 7) == 0 ||
                strncmp(e->field, "path.", 5) == 0)) {
        json_array_append_new(loc, json_stringn(e->field, (size_t)(dot - e->field)));
        json_array_append_new(loc, json_string(dot + 1));
    } else {
        json_array_append_new(loc, json_string("body"));
        json_array_append_new(loc, json_string(e->field));
    }
    json_t *item = json_pack("{s:s, s:o, s:s}", "type", e->kind[0] ? e->kind : "value_error", "loc",
                             loc, "msg", e->message);
    return json_pack("[o]", item);
}

void response_error(struct http_response *res, const struct error *e)
{
    unsigned status = http_status_for(e->code);
    json_t *body;
    const char *msg = e->message[0] ? e->message : err_code_name(e->code);
    if (e->detail)
        body = json_pack("{s:O}", "detail", e->detail);
    else if (e->code == ERR_UNAUTHORIZED)
        body = json_pack("{s:s}", "error", msg);
    else if (e->code == ERR_INVALID)
        body = json_pack("{s:o}", "detail", validation_detail(e));
    else
        body = json_pack("{s:s}", "detail", msg);
    if (!body) /* a message that is not valid UTF-8 (it quoted the input): say less */
        body = json_pack("{s:s}", e->code == ERR_UNAUTHORIZED ? "error" : "detail",
                         err_code_name(e->code));
    if (e->retry_after > 0) res->retry_after = e->retry_after;
    response_json(res, status, body);
}
