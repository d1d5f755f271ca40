/* json: request-body parsing and validation, response helpers; see json.h. */
#include "util/json.h"

#include <string.h>

#include "util/timeutil.h"

int json_parse_object(const char *data, size_t len, json_t **out, struct error *err)
{
    json_error_t jerr;
    *out = NULL;
    if (len == 0)
        return error_set(err, ERR_BAD_REQUEST, "Request body is empty: send a JSON object");
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        if (json_error_code(&jerr) == json_error_invalid_utf8)
            return error_set(err, ERR_BAD_REQUEST, "Request body is not valid UTF-8");
        return error_set(err, ERR_BAD_REQUEST, "Malformed JSON at line %d, column %d: %s",
                         jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return error_invalid(err, "body", "model_attributes_type",
                             "Input should be a valid dictionary or object");
    }
    *out = v;
    return 0;
}

size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static const struct json_field *find_field(const struct json_field *fields, const char *name)
{
    for (; fields->name; fields++)
        if (strcmp(fields->name, name) == 0) return fields;
    return NULL;
}

static int check_one(json_t *v, const struct json_field *f, struct error *err)
{
    switch (f->type) {
    case JF_STRING:
        if (!json_is_string(v))
            return error_invalid(err, f->name, "string_type", "Input should be a valid string");
        if (f->max_len && utf8_length(json_string_value(v)) > f->max_len)
            return error_invalid(err, f->name, "string_too_long",
                                 "String should have at most %zu characters", f->max_len);
        if (strlen(json_string_value(v)) != json_string_length(v))
            return error_invalid(err, f->name, "string_type",
                                 "String must not contain NUL characters");
        return 0;
    case JF_INT:
        if (!json_is_integer(v))
            return error_invalid(err, f->name, "int_type", "Input should be a valid integer");
        return 0;
    case JF_BOOL:
        if (!json_is_boolean(v))
            return error_invalid(err, f->name, "bool_type", "Input should be a valid boolean");
        return 0;
    case JF_STRING_LIST: {
        if (!json_is_array(v))
            return error_invalid(err, f->name, "list_type", "Input should be a valid list");
        if (f->max_len && json_array_size(v) > f->max_len)
            return error_invalid(err, f->name, "too_long", "List should have at most %zu items",
                                 f->max_len);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item))
                return error_invalid(err, f->name, "string_type",
                                     "Item %zu should be a valid string", i);
            if (utf8_length(json_string_value(item)) > 8192)
                return error_invalid(err, f->name, "string_too_long",
                                     "Item %zu should have at most 8192 characters", i);
        }
        return 0;
    }
    case JF_OBJECT:
        if (!json_is_object(v))
            return error_invalid(err, f->name, "dict_type",
                                 "Input should be a valid dictionary or object");
        return 0;
    }
    return 0;
}

int json_check_fields(json_t *obj, const struct json_field *fields, bool reject_unknown,
                      struct error *err)
{
    const char *key;
    json_t *v;
    if (reject_unknown) {
        json_object_foreach(obj, key, v)
        {
            if (!find_field(fields, key))
                return error_invalid(err, key, "extra_forbidden", "Extra inputs are not permitted");
        }
    }
    for (const struct json_field *f = fields; f->name; f++) {
        v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) {
            if (f->required) return error_invalid(err, f->name, "missing", "Field required");
            continue;
        }
        int rc = check_one(v, f, err);
        if (rc) return rc;
    }
    return 0;
}

const char *json_get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *json_time_or_null(long long us)
{
    char iso[ISO_TIME_LEN];
    return us ? json_string(time_format_iso(us, iso)) : json_null();
}

void buf_add_json_str(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        buf_adds(b, "null");
        return;
    }
    buf_grow(b, strlen(s) + 2);
    buf_addch(b, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_add(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"':
            buf_adds(b, "\\\"");
            break;
        case '\\':
            buf_adds(b, "\\\\");
            break;
        case '\n':
            buf_adds(b, "\\n");
            break;
        case '\r':
            buf_adds(b, "\\r");
            break;
        case '\t':
            buf_adds(b, "\\t");
            break;
        case '\b':
            buf_adds(b, "\\b");
            break;
        case '\f':
            buf_adds(b, "\\f");
            break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_adds(b, u);
        }
        }
    }
    buf_adds(b, run);
    buf_addch(b, '"');
}

void buf_add_json_time(struct buf *b, long long us)
{
    char iso[ISO_TIME_LEN];
    if (!us) {
        buf_adds(b, "null");
        return;
    }
    buf_addch(b, '"');
    buf_adds(b, time_format_iso(us, iso));
    buf_addch(b, '"');
}

static int dump_to_buf(const char *chunk, size_t size, void *data)
{
    buf_add((struct buf *)data, chunk, size);
    return 0;
}

void buf_add_json(struct buf *b, const json_t *v)
{
    json_dump_callback(v, dump_to_buf, b, JSON_COMPACT | JSON_ENCODE_ANY);
}
