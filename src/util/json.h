/*
 * json: the one set of JSON helpers on top of jansson. Request bodies are parsed
 * and checked against a small declarative field table (json_check_fields) that
 * produces pydantic-style 422 errors naming the bad field, as OpenHands' FastAPI
 * server does; responses are built with jansson and written into a struct buf.
 */
#ifndef CH_JSON_H
#define CH_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

enum json_field_type {
    JF_STRING,      /* a string (null allowed unless required) */
    JF_INT,         /* an integer */
    JF_BOOL,        /* true/false */
    JF_STRING_LIST, /* an array of strings */
    JF_OBJECT,      /* an object (its members are the caller's to check) */
};

struct json_field {
    const char *name;
    enum json_field_type type;
    bool required;
    size_t max_len; /* strings: characters; lists: items; 0 = no limit */
};

/* Parses a request body that must be a JSON object. Malformed JSON or bad UTF-8 is
 * ERR_BAD_REQUEST; another JSON type is ERR_INVALID. On success *out is a new reference. */
int json_parse_object(const char *data, size_t len, json_t **out, struct error *err);
/* Checks `obj` against `fields` (terminated by a {NULL} row): presence of required fields,
 * types, lengths, and (with reject_unknown) that no other member exists. */
int json_check_fields(json_t *obj, const struct json_field *fields, bool reject_unknown,
                      struct error *err);
/* The string value of obj[key], or NULL if absent, null or not a string. Borrowed. */
const char *json_get_str(json_t *obj, const char *key);
/* json_string(s), or json_null() when s is NULL. A new reference. */
json_t *json_str_or_null(const char *s);
/* json_string of an ISO-8601 time, or json_null() when us is 0. */
json_t *json_time_or_null(long long us);
/* Appends `s` as a JSON string literal (quoted, escaped; `s` must be valid UTF-8), or `null`
 * when s is NULL. For hot paths that write JSON without building a jansson tree. */
void buf_add_json_str(struct buf *b, const char *s);
/* Appends an ISO-8601 time as a JSON string, or `null` when us is 0. */
void buf_add_json_time(struct buf *b, long long us);
/* Appends the compact serialization of `v` to `b`. */
void buf_add_json(struct buf *b, const json_t *v);
/* Number of UTF-8 code points in a valid UTF-8 string. */
size_t utf8_length(const char *s);

#endif
