/*
 * log: one line per event on stderr, in logfmt (`time=... level=... msg="..." k=v ...`).
 * `fields` is a printf format for the key=value part (may be NULL). Callers never pass
 * secrets: keys, tokens and passwords are not logged, not even in part.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

void log_info(const char *msg, const char *fields, ...) __attribute__((format(printf, 2, 3)));
void log_error(const char *msg, const char *fields, ...) __attribute__((format(printf, 2, 3)));

#endif
