/*
 * error: the error codes every layer returns, and the record that carries the
 * message to the client. Codes are about *what went wrong*, never about HTTP:
 * http/response.c maps each code to a status in exactly one place.
 *
 * Convention: a function that can fail returns `int` (0 or an ERR_* code) and
 * takes an optional `struct error *` it fills with a message for people. The
 * message must never contain a secret (API key, token, password).
 */
#ifndef CH_ERROR_H
#define CH_ERROR_H

#include <jansson.h>

enum err_code {
    ERR_OK = 0,
    ERR_BAD_REQUEST,  /* malformed input that is not a field problem (bad JSON, bad UTF-8) */
    ERR_INVALID,      /* a field failed validation; `field` names it */
    ERR_UNAUTHORIZED, /* no, unknown, revoked or expired credentials */
    ERR_FORBIDDEN,    /* authenticated but not allowed */
    ERR_NOT_FOUND,    /* no such thing, or not the caller's */
    ERR_METHOD,       /* the path exists, not with this method */
    ERR_CONFLICT,     /* a uniqueness rule (account name taken, ...) */
    ERR_LIMIT,        /* the account's concurrency limit is reached */
    ERR_TOO_LARGE,    /* request body over the limit */
    ERR_UNSUPPORTED,  /* unsupported media type */
    ERR_UNAVAILABLE,  /* the store is busy or down; try again */
    ERR_INTERNAL,     /* a bug or an I/O failure on our side */
};

struct error {
    enum err_code code;
    char message[512]; /* for people; no secrets */
    char field[64];    /* ERR_INVALID: the offending field ("initial_user_msg", "query.limit") */
    char kind[32];     /* ERR_INVALID: pydantic-style error type ("missing", "string_type", ...) */
    json_t *detail;   /* optional: a whole JSON `detail` to send instead (owned; see error_clear) */
    long retry_after; /* ERR_LIMIT / ERR_UNAVAILABLE: seconds for Retry-After, 0 = none */
};

/* Sets code and message (printf-style) and returns the code, so `return error_set(...)` reads
 * well. `e` may be NULL. */
int error_set(struct error *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ERR_INVALID naming `field` with a pydantic error type. */
int error_invalid(struct error *e, const char *field, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Releases `detail` and resets the record. */
void error_clear(struct error *e);
const char *err_code_name(enum err_code code);

#endif
