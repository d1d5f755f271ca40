/*
 * log: one line per event on stderr, in logfmt (`time=... level=... msg="..." k=v ...`) or, with
 * log_set_format(LOG_JSON), as one JSON object per line with the same keys. `fields` is a printf
 * format for the key=value part (may be NULL); values that may hold spaces, quotes or anything
 * a client sent go through log_value. Callers never pass secrets: keys, tokens and passwords
 * are not logged, not even in part.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include "util/buf.h"

enum log_format { LOG_LOGFMT, LOG_JSON };

void log_set_format(enum log_format f);
void log_info(const char *msg, const char *fields, ...) __attribute__((format(printf, 2, 3)));
void log_error(const char *msg, const char *fields, ...) __attribute__((format(printf, 2, 3)));
/* Appends a logfmt value: as is when it is plain, else quoted with \" \\ \n and \xNN escapes
 * (so a value can never break the line or fake another field). */
void log_value(struct buf *out, const char *v);

#endif
