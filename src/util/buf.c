/* buf: growable NUL-terminated buffers and the aborting allocators; see buf.h. */
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char buf_empty[1];

static void die_oom(size_t n)
{
    fprintf(stderr, "cloudhands: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die_oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die_oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) die_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void buf_init(struct buf *b, size_t hint)
{
    b->data = buf_empty;
    b->len = 0;
    b->alloc = 0;
    if (hint) buf_grow(b, hint);
}

void buf_release(struct buf *b)
{
    if (b->alloc) free(b->data);
    buf_init(b, 0);
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *out;
    if (!b->alloc) buf_grow(b, 0);
    out = b->data;
    if (len) *len = b->len;
    buf_init(b, 0);
    return out;
}

void buf_grow(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len) die_oom(SIZE_MAX);
    if (need <= b->alloc) return;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need) n = n * 2 > n ? n * 2 : need;
    if (b->alloc) {
        b->data = xrealloc(b->data, n);
    } else {
        b->data = xmalloc(n);
        b->data[0] = '\0';
    }
    b->alloc = n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->alloc) b->data[0] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
    buf_add(b, &c, 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(b->data + b->len, b->alloc ? b->alloc - b->len : 0, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    if ((size_t)n + 1 > (b->alloc ? b->alloc - b->len : 0)) {
        buf_grow(b, (size_t)n);
        vsnprintf(b->data + b->len, b->alloc - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}
