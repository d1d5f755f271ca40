/*
 * buf: the one growable byte buffer of cloudhands (after git's strbuf).
 *
 * Invariants: `data` is never NULL and always NUL-terminated at data[len], so a
 * buf can be passed wherever a C string is wanted. A zeroed or BUF_INIT buffer
 * points at a shared empty string and owns nothing until the first append.
 * Allocation failure aborts the process (like git's xmalloc): an out-of-memory
 * server has nothing sensible left to do, and every caller stays simple.
 */
#ifndef CH_BUF_H
#define CH_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;   /* never NULL, NUL-terminated */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t alloc; /* bytes allocated; 0 while data points at the shared empty string */
};

extern char buf_empty[];
#define BUF_INIT                                                                                   \
    {                                                                                              \
        buf_empty, 0, 0                                                                            \
    }

void buf_init(struct buf *b, size_t hint);
/* Frees the storage and leaves `b` as BUF_INIT. */
void buf_release(struct buf *b);
/* Hands the storage to the caller (who frees it with free()); `b` becomes BUF_INIT. */
char *buf_detach(struct buf *b, size_t *len);
void buf_grow(struct buf *b, size_t extra);
void buf_reset(struct buf *b);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);

/* Allocation helpers that abort on failure; the rest of the code never checks for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* xstrdup(NULL) is NULL. */
char *xstrdup_or_null(const char *s);

#endif
