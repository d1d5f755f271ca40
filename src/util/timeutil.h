/*
 * timeutil: the wall clock as the API shows it. Times are int64 microseconds since the
 * Unix epoch inside the program and in the store; ISO-8601 UTC with microseconds
 * ("2025-04-29T15:13:51.370706Z") on the wire.
 */
#ifndef CH_TIMEUTIL_H
#define CH_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

#define USEC_PER_SEC 1000000LL
#define ISO_TIME_LEN 28 /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" + NUL */

int64_t time_now_us(void);
/* Writes `us` as ISO-8601 UTC with microseconds into out[ISO_TIME_LEN]; returns out. */
char *time_format_iso(int64_t us, char out[ISO_TIME_LEN]);
/* Parses ISO-8601 ("2026-01-02", "2026-01-02T03:04:05", optional fraction, "Z" or
 * "+HH:MM"/"-HH:MM"). Returns false on anything else. */
bool time_parse_iso(const char *s, int64_t *us);

#endif
