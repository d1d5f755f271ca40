/* log: one line per event on stderr, as logfmt or JSON; see log.h. */
#include "util/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

static atomic_int format = LOG_LOGFMT;

void log_set_format(enum log_format f)
{
    atomic_store(&format, (int)f);
}

void log_value(struct buf *out, const char *v)
{
    if (!v) v = "";
    bool plain = *v != '\0';
    for (const unsigned char *p = (const unsigned char *)v; *p && plain; p++)
        plain = isalnum(*p) || strchr("/_.:{}@+-,%", *p);
    if (plain) {
        buf_adds(out, v);
        return;
    }
    buf_addch(out, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_addf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_adds(out, "\\n");
        else if (*p < 0x20 || *p == 0x7f)
            buf_addf(out, "\\x%02x", *p);
        else
            buf_addch(out, (char)*p);
    }
    buf_addch(out, '"');
}

/* Reads one logfmt value at *p (raw up to a space, or quoted with the escapes log_value
 * writes) into out, advancing *p. */
static void read_value(const char **p, struct buf *out)
{
    const char *s = *p;
    if (*s != '"') {
        size_t n = strcspn(s, " ");
        buf_add(out, s, n);
        *p = s + n;
        return;
    }
    for (s++; *s && *s != '"'; s++) {
        if (*s != '\\' || !s[1]) {
            buf_addch(out, *s);
            continue;
        }
        s++;
        if (*s == 'n') {
            buf_addch(out, '\n');
        } else if (*s == 'x' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char hex[3] = {s[1], s[2], 0};
            buf_addch(out, (char)strtol(hex, NULL, 16));
            s += 2;
        } else {
            buf_addch(out, *s);
        }
    }
    *p = *s ? s + 1 : s;
}

/* A number in JSON when the whole value is one (durations, ids, counts), else a string. */
static json_t *json_value(const char *v)
{
    char *end;
    if (*v && (isdigit((unsigned char)*v) || (*v == '-' && isdigit((unsigned char)v[1])))) {
        long long i = strtoll(v, &end, 10);
        if (!*end && strlen(v) < 16) return json_integer(i);
        double d = strtod(v, &end);
        if (!*end) return json_real(d);
    }
    json_t *s = json_string(v);
    return s ? s : json_string("(not UTF-8)");
}

/* The logfmt fields as members of a JSON object. */
static void fields_to_json(const char *fields, json_t *obj)
{
    struct buf key = BUF_INIT, val = BUF_INIT;
    for (const char *p = fields; *p;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, "= ");
        if (!n) {
            if (*p) p++;
            continue;
        }
        buf_reset(&key);
        buf_add(&key, p, n);
        p += n;
        buf_reset(&val);
        if (*p == '=') {
            p++;
            read_value(&p, &val);
        }
        json_t *v = json_value(val.data);
        json_t *valid = json_string(key.data); /* NULL: the key is not UTF-8 */
        if (valid)
            json_object_set_new(obj, key.data, v);
        else
            json_decref(v);
        json_decref(valid);
    }
    buf_release(&key);
    buf_release(&val);
}

static void log_line(const char *level, const char *msg, const char *fields, va_list ap)
{
    char iso[ISO_TIME_LEN];
    struct buf line = BUF_INIT, f = BUF_INIT;
    time_format_iso(time_now_us(), iso);
    if (fields && *fields) buf_vaddf(&f, fields, ap);
    if (atomic_load(&format) == LOG_JSON) {
        json_t *obj = json_pack("{s:s, s:s, s:s}", "time", iso, "level", level, "msg", msg);
        fields_to_json(f.data, obj);
        char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
        buf_adds(&line, text ? text : "{}");
        free(text);
        json_decref(obj);
    } else {
        buf_addf(&line, "time=%s level=%s msg=\"%s\"", iso, level, msg);
        if (f.len) buf_addf(&line, " %s", f.data);
    }
    buf_addch(&line, '\n');
    fputs(line.data, stderr); /* one write per line keeps lines whole across threads */
    buf_release(&line);
    buf_release(&f);
}

void log_info(const char *msg, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    log_line("info", msg, fields, ap);
    va_end(ap);
}

void log_error(const char *msg, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    log_line("error", msg, fields, ap);
    va_end(ap);
}
