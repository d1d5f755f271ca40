/* log: logfmt lines on stderr; see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/timeutil.h"

static void log_line(const char *level, const char *msg, const char *fields, va_list ap)
{
    char iso[ISO_TIME_LEN];
    struct buf line = BUF_INIT;
    buf_addf(&line, "time=%s level=%s msg=\"%s\"", time_format_iso(time_now_us(), iso), level, msg);
    if (fields && *fields) {
        buf_addch(&line, ' ');
        buf_vaddf(&line, fields, ap);
    }
    buf_addch(&line, '\n');
    fputs(line.data, stderr); /* one write per line keeps lines whole across threads */
    buf_release(&line);
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
