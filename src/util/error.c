/* error: filling and clearing error records; see error.h. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *e, enum err_code code, const char *fmt, ...)
{
    if (!e) return code;
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return code;
}

/* Drops a UTF-8 sequence that snprintf cut in half at the end of `s`. */
static void utf8_truncate(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < need) s[i - 1] = '\0';
}

int error_invalid(struct error *e, const char *field, const char *kind, const char *fmt, ...)
{
    if (!e) return ERR_INVALID;
    va_list ap;
    e->code = ERR_INVALID;
    snprintf(e->field, sizeof(e->field), "%s", field);
    utf8_truncate(e->field);
    snprintf(e->kind, sizeof(e->kind), "%s", kind);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

void error_clear(struct error *e)
{
    if (!e) return;
    json_decref(e->detail);
    memset(e, 0, sizeof(*e));
}

const char *err_code_name(enum err_code code)
{
    static const char *names[] = {
        [ERR_OK] = "ok",
        [ERR_BAD_REQUEST] = "bad_request",
        [ERR_INVALID] = "invalid",
        [ERR_UNAUTHORIZED] = "unauthorized",
        [ERR_FORBIDDEN] = "forbidden",
        [ERR_NOT_FOUND] = "not_found",
        [ERR_METHOD] = "method_not_allowed",
        [ERR_CONFLICT] = "conflict",
        [ERR_LIMIT] = "limit",
        [ERR_TOO_LARGE] = "too_large",
        [ERR_UNSUPPORTED] = "unsupported",
        [ERR_UNAVAILABLE] = "unavailable",
        [ERR_INTERNAL] = "internal",
    };
    if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code]) return names[code];
    return "unknown";
}
