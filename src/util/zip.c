/* zip: a directory tree as a streamed ZIP archive (PKWARE APPNOTE 6.3); see zip.h. */
#include "util/zip.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/buf.h"

#define CHUNK 65536 /* read size, deflate output size and output flush threshold */

#define SIG_LOCAL     0x04034b50u
#define SIG_DESCRIPT  0x08074b50u
#define SIG_CENTRAL   0x02014b50u
#define SIG_END64     0x06064b50u
#define SIG_END64_LOC 0x07064b50u
#define SIG_END       0x06054b50u

#define FLAG_DESCRIPTOR 0x0008u /* bit 3: crc and sizes follow the data */
#define FLAG_UTF8       0x0800u /* bit 11: the name is UTF-8 */
#define METHOD_STORED   0
#define METHOD_DEFLATED 8
#define VERSION_NEEDED  20              /* 2.0: deflate and directories */
#define VERSION_ZIP64   45              /* 4.5: ZIP64 extensions */
#define VERSION_MADE_BY (0x0300u | 45u) /* Unix, APPNOTE 4.5 */
#define MAX16           0xFFFFu
#define MAX32           0xFFFFFFFFu
#define DOS_DIRECTORY   0x10u /* MS-DOS attribute bit, next to the Unix mode */

struct zip_writer {
    int out_fd;
    size_t prefix_len;
    int64_t max_total;
    bool force64;
    bool dry;          /* first pass: look, check and count, write nothing */
    int64_t total;     /* regular-file bytes seen so far */
    uint64_t offset;   /* archive bytes produced so far (written or in `out`) */
    uint64_t entries;  /* central directory records in `cd` */
    struct buf path;   /* prefix + the current entry's path relative to the root */
    struct buf out;    /* output not yet written */
    struct buf cd;     /* the central directory, written at the end */
    struct buf link;   /* a symlink's target */
    unsigned char *in; /* CHUNK bytes: file reads */
    unsigned char *zo; /* CHUNK bytes: deflate output */
    z_stream z;
    bool z_ready;
    struct error *err;
    char shown[208]; /* rel()'s shortened path */
};

/* One entry's fields, as both headers need them. */
struct entry {
    uint16_t method, flags;
    uint16_t dos_time, dos_date;
    int64_t mtime;
    uint32_t mode; /* st_mode */
    uint32_t crc;
    uint64_t csize, usize;
    uint64_t offset; /* of the local header */
    bool local64;    /* the local header has a ZIP64 extra: the data descriptor has 8-byte sizes */
};

/* The entry's path without the prefix, for messages: at most its last 200 bytes, so that the
 * reason after it fits the 512-byte message. */
static const char *rel(struct zip_writer *w)
{
    const char *p = w->path.data + w->prefix_len;
    size_t n = w->path.len - w->prefix_len;
    if (n <= 200) return p;
    p += n - 200;
    while (((unsigned char)*p & 0xC0) == 0x80) p++; /* not in the middle of a character */
    snprintf(w->shown, sizeof(w->shown), "...%s", p);
    return w->shown;
}

static void put16(struct buf *b, uint32_t v)
{
    unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    buf_add(b, p, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_add(b, p, 4);
}

static void put64(struct buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* Writes all of data, retrying short writes and EINTR and waiting out EAGAIN. */
static int write_all(struct zip_writer *w, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(w->out_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = w->out_fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return error_set(w->err, ERR_INTERNAL, "zip: poll failed: %s", strerror(errno));
            continue;
        }
        return error_set(w->err, ERR_INTERNAL, "zip: write failed: %s",
                         n < 0 ? strerror(errno) : "no progress");
    }
    return 0;
}

static int flush_out(struct zip_writer *w)
{
    int rc = write_all(w, w->out.data, w->out.len);
    buf_reset(&w->out);
    return rc;
}

/* Call after appending to w->out: counts the bytes and writes once a chunk has gathered. */
static int produced(struct zip_writer *w, size_t before)
{
    w->offset += w->out.len - before;
    return w->out.len >= CHUNK ? flush_out(w) : 0;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* Fills the fields every entry has from its stat. */
static void entry_init(struct entry *e, const struct zip_writer *w, const struct stat *st)
{
    memset(e, 0, sizeof(*e));
    e->flags = utf8_valid((const unsigned char *)w->path.data, w->path.len) ? FLAG_UTF8 : 0;
    e->mtime = (int64_t)st->st_mtime;
    e->mode = (uint32_t)st->st_mode;
    e->offset = w->offset;

    /* DOS times are local time in two-second steps from 1980 to 2107; clamp outside. */
    struct tm tm;
    time_t t = st->st_mtime;
    if (!localtime_r(&t, &tm) || tm.tm_year < 80) {
        e->dos_date = (0 << 9) | (1 << 5) | 1;
        e->dos_time = 0;
    } else if (tm.tm_year > 207) {
        e->dos_date = (127 << 9) | (12 << 5) | 31;
        e->dos_time = (23 << 11) | (59 << 5) | (58 / 2);
    } else {
        e->dos_date = (uint16_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
        e->dos_time = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
    }
}

/* The extended timestamp (0x5455) with the modification time, when it fits its 32 bits. */
static bool has_ut(const struct entry *e)
{
    return e->mtime >= INT32_MIN && e->mtime <= INT32_MAX;
}

static void put_ut(struct buf *b, const struct entry *e)
{
    put16(b, 0x5455);
    put16(b, 5);
    buf_addch(b, 1); /* flags: mtime present */
    put32(b, (uint32_t)(int32_t)e->mtime);
}

static int write_local_header(struct zip_writer *w, const struct entry *e)
{
    size_t before = w->out.len;
    struct buf *b = &w->out;
    bool descriptor = e->flags & FLAG_DESCRIPTOR;
    size_t extra = (e->local64 ? 20 : 0) + (has_ut(e) ? 9 : 0);
    put32(b, SIG_LOCAL);
    put16(b, e->local64 ? VERSION_ZIP64 : VERSION_NEEDED);
    put16(b, e->flags);
    put16(b, e->method);
    put16(b, e->dos_time);
    put16(b, e->dos_date);
    put32(b, descriptor ? 0 : e->crc);
    put32(b, e->local64 ? MAX32 : descriptor ? 0 : (uint32_t)e->csize);
    put32(b, e->local64 ? MAX32 : descriptor ? 0 : (uint32_t)e->usize);
    put16(b, (uint32_t)w->path.len);
    put16(b, (uint32_t)extra);
    buf_add(b, w->path.data, w->path.len);
    if (e->local64) {
        /* Both sizes, as APPNOTE 4.5.3 wants in a local header; zero when a descriptor
         * follows (as Python's zipfile writes it). */
        put16(b, 0x0001);
        put16(b, 16);
        put64(b, descriptor ? 0 : e->usize);
        put64(b, descriptor ? 0 : e->csize);
    }
    if (has_ut(e)) put_ut(b, e);
    return produced(w, before);
}

static int write_descriptor(struct zip_writer *w, const struct entry *e)
{
    size_t before = w->out.len;
    put32(&w->out, SIG_DESCRIPT);
    put32(&w->out, e->crc);
    if (e->local64) {
        put64(&w->out, e->csize);
        put64(&w->out, e->usize);
    } else {
        put32(&w->out, (uint32_t)e->csize);
        put32(&w->out, (uint32_t)e->usize);
    }
    return produced(w, before);
}

/* Appends the entry's central directory record; ZIP64 fields only for the values that need
 * them (in APPNOTE's order: uncompressed size, compressed size, offset). */
static void add_central(struct zip_writer *w, const struct entry *e)
{
    struct buf *b = &w->cd;
    bool u64 = w->force64 || e->usize >= MAX32;
    bool c64 = w->force64 || e->csize >= MAX32;
    bool o64 = w->force64 || e->offset >= MAX32;
    size_t n64 = (size_t)u64 + (size_t)c64 + (size_t)o64;
    size_t extra = (n64 ? 4 + 8 * n64 : 0) + (has_ut(e) ? 9 : 0);
    uint32_t attrs = e->mode << 16 | (S_ISDIR(e->mode) ? DOS_DIRECTORY : 0);

    put32(b, SIG_CENTRAL);
    put16(b, VERSION_MADE_BY);
    put16(b, n64 || e->local64 ? VERSION_ZIP64 : VERSION_NEEDED);
    put16(b, e->flags);
    put16(b, e->method);
    put16(b, e->dos_time);
    put16(b, e->dos_date);
    put32(b, e->crc);
    put32(b, c64 ? MAX32 : (uint32_t)e->csize);
    put32(b, u64 ? MAX32 : (uint32_t)e->usize);
    put16(b, (uint32_t)w->path.len);
    put16(b, (uint32_t)extra);
    put16(b, 0); /* comment */
    put16(b, 0); /* disk */
    put16(b, 0); /* internal attributes */
    put32(b, attrs);
    put32(b, o64 ? MAX32 : (uint32_t)e->offset);
    buf_add(b, w->path.data, w->path.len);
    if (n64) {
        put16(b, 0x0001);
        put16(b, (uint32_t)(8 * n64));
        if (u64) put64(b, e->usize);
        if (c64) put64(b, e->csize);
        if (o64) put64(b, e->offset);
    }
    if (has_ut(e)) put_ut(b, e);
    w->entries++;
}

/* An entry whose content is known up front (a directory or a symlink): stored, crc and sizes
 * in the local header, no data descriptor. */
static int add_known(struct zip_writer *w, const struct stat *st, const char *data, size_t len)
{
    struct entry e;
    entry_init(&e, w, st);
    e.method = METHOD_STORED;
    e.crc = (uint32_t)crc32(0, (const Bytef *)data, (uInt)len);
    e.csize = e.usize = len;
    e.local64 = w->force64;
    int rc = write_local_header(w, &e);
    if (rc) return rc;
    size_t before = w->out.len;
    buf_add(&w->out, data, len);
    if ((rc = produced(w, before))) return rc;
    add_central(w, &e);
    return 0;
}

/* Feeds n bytes (or, with Z_FINISH, the end) to deflate and writes what comes out. */
static int deflate_some(struct zip_writer *w, const unsigned char *data, size_t n, int flush,
                        struct entry *e)
{
    w->z.next_in = (Bytef *)data;
    w->z.avail_in = (uInt)n;
    for (;;) {
        w->z.next_out = w->zo;
        w->z.avail_out = CHUNK;
        int zrc = deflate(&w->z, flush);
        if (zrc == Z_STREAM_ERROR)
            return error_set(w->err, ERR_INTERNAL, "zip: deflate failed on '%s'", rel(w));
        size_t got = CHUNK - w->z.avail_out;
        e->csize += got;
        size_t before = w->out.len;
        buf_add(&w->out, w->zo, got);
        int rc = produced(w, before);
        if (rc) return rc;
        if (flush == Z_FINISH ? zrc == Z_STREAM_END : w->z.avail_out != 0) return 0;
    }
}

/* A regular file: deflated, crc and sizes in a data descriptor after the data. */
static int add_file(struct zip_writer *w, int dfd, const char *name)
{
    /* O_NONBLOCK: if the file was swapped for a fifo since the fstatat, do not hang on it. */
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0; /* deleted meanwhile */
        return error_set(w->err, ERR_INTERNAL, "zip: cannot open '%s': %s", rel(w),
                         strerror(errno));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = error_set(w->err, ERR_INTERNAL, "zip: cannot stat '%s': %s", rel(w), strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) goto out; /* replaced meanwhile */
    w->total += st.st_size;
    if (w->max_total > 0 && w->total > w->max_total) {
        rc = error_set(w->err, ERR_TOO_LARGE, "the files add up to more than %" PRId64 " bytes",
                       w->max_total);
        goto out;
    }
    if (w->dry) goto out;

    struct entry e;
    entry_init(&e, w, &st);
    e.method = METHOD_DEFLATED;
    e.flags |= FLAG_DESCRIPTOR;
    /* The descriptor's size fields are 8 bytes only if the local header announced ZIP64, so
     * decide before compressing, with a bound on deflate's growth (zlib's deflateBound). */
    uint64_t size = (uint64_t)st.st_size;
    uint64_t bound = size + (size >> 12) + (size >> 14) + (size >> 25) + 64;
    e.local64 = w->force64 || bound >= MAX32;
    if ((rc = write_local_header(w, &e))) goto out;

    if (deflateReset(&w->z) != Z_OK) {
        rc = error_set(w->err, ERR_INTERNAL, "zip: deflateReset failed");
        goto out;
    }
    e.crc = (uint32_t)crc32(0, NULL, 0);
    uint64_t left = size; /* read no more than the size at open: see zip.h */
    while (left > 0) {
        ssize_t n = read(fd, w->in, left < CHUNK ? (size_t)left : CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = error_set(w->err, ERR_INTERNAL, "zip: cannot read '%s': %s", rel(w),
                           strerror(errno));
            goto out;
        }
        if (n == 0) break; /* truncated meanwhile */
        e.crc = (uint32_t)crc32(e.crc, w->in, (uInt)n);
        e.usize += (uint64_t)n;
        left -= (uint64_t)n;
        if ((rc = deflate_some(w, w->in, (size_t)n, Z_NO_FLUSH, &e))) goto out;
    }
    if ((rc = deflate_some(w, NULL, 0, Z_FINISH, &e))) goto out;
    if ((rc = write_descriptor(w, &e))) goto out;
    add_central(w, &e);
out:
    close(fd);
    return rc;
}

static int add_symlink(struct zip_writer *w, int dfd, const char *name, const struct stat *st)
{
    size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
    for (;;) {
        buf_reset(&w->link);
        buf_grow(&w->link, cap);
        ssize_t n = readlinkat(dfd, name, w->link.data, cap);
        if (n < 0) {
            if (errno == ENOENT) return 0;
            return error_set(w->err, ERR_INTERNAL, "zip: cannot read link '%s': %s", rel(w),
                             strerror(errno));
        }
        if ((size_t)n < cap) {
            w->link.len = (size_t)n;
            w->link.data[n] = '\0';
            break;
        }
        cap *= 2; /* the link changed since the stat */
    }
    if (w->dry) return 0;
    return add_known(w, st, w->link.data, w->link.len);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct zip_writer *w, int fd, int depth);

/* One directory entry: w->path already ends with its name. */
static int add_entry(struct zip_writer *w, int dfd, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return 0;
        return error_set(w->err, ERR_INTERNAL, "zip: cannot stat '%s': %s", rel(w),
                         strerror(errno));
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode))
        return 0;                                            /* sockets, fifos, devices */
    if (w->path.len + (S_ISDIR(st.st_mode) ? 1 : 0) > MAX16) /* a directory gets a '/' */
        return error_set(w->err, ERR_INTERNAL, "zip: the name '%s' is longer than %u bytes", rel(w),
                         MAX16);
    if (S_ISREG(st.st_mode)) return add_file(w, dfd, name);
    if (S_ISLNK(st.st_mode)) return add_symlink(w, dfd, name, &st);

    if (depth + 1 > ZIP_MAX_DEPTH)
        return error_set(w->err, ERR_INTERNAL, "zip: '%s' is more than %d directories deep", rel(w),
                         ZIP_MAX_DEPTH);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return error_set(w->err, ERR_INTERNAL, "zip: cannot open directory '%s': %s", rel(w),
                         strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        int rc =
            error_set(w->err, ERR_INTERNAL, "zip: cannot stat '%s': %s", rel(w), strerror(errno));
        close(fd);
        return rc;
    }
    buf_addch(&w->path, '/');
    if (!w->dry) {
        int rc = add_known(w, &st, "", 0);
        if (rc) {
            close(fd);
            return rc;
        }
    }
    return walk_dir(w, fd, depth + 1);
}

/* Adds the entries of the directory open as fd (which this takes over), sorted by name. */
static int walk_dir(struct zip_writer *w, int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = error_set(w->err, ERR_INTERNAL, "zip: cannot read directory '%s': %s", rel(w),
                           strerror(errno));
        close(fd);
        return rc;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = error_set(w->err, ERR_INTERNAL, "zip: cannot read directory '%s': %s", rel(w),
                               strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    if (n) qsort(names, n, sizeof(*names), cmp_names);

    size_t base = w->path.len;
    for (size_t i = 0; i < n && !rc; i++) {
        buf_adds(&w->path, names[i]);
        rc = add_entry(w, dirfd(d), names[i], depth);
        w->path.len = base;
        w->path.data[base] = '\0'; /* the buffer owns storage: a name was just added */
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int write_end(struct zip_writer *w)
{
    uint64_t cd_offset = w->offset, cd_size = w->cd.len;
    int rc = flush_out(w);
    if (!rc) rc = write_all(w, w->cd.data, w->cd.len);
    if (rc) return rc;
    w->offset += cd_size;

    bool z64 = w->force64 || w->entries >= MAX16 || cd_size >= MAX32 || cd_offset >= MAX32;
    struct buf *b = &w->out;
    if (z64) {
        uint64_t end64_offset = w->offset;
        put32(b, SIG_END64);
        put64(b, 44); /* the size of the rest of this record */
        put16(b, VERSION_MADE_BY);
        put16(b, VERSION_ZIP64);
        put32(b, 0); /* this disk */
        put32(b, 0); /* the disk with the central directory */
        put64(b, w->entries);
        put64(b, w->entries);
        put64(b, cd_size);
        put64(b, cd_offset);
        put32(b, SIG_END64_LOC);
        put32(b, 0); /* the disk with the ZIP64 end record */
        put64(b, end64_offset);
        put32(b, 1); /* disks */
    }
    put32(b, SIG_END);
    put16(b, 0);
    put16(b, 0);
    uint32_t count = z64 && (w->force64 || w->entries >= MAX16) ? MAX16 : (uint32_t)w->entries;
    put16(b, count);
    put16(b, count);
    put32(b, z64 && (w->force64 || cd_size >= MAX32) ? MAX32 : (uint32_t)cd_size);
    put32(b, z64 && (w->force64 || cd_offset >= MAX32) ? MAX32 : (uint32_t)cd_offset);
    put16(b, 0); /* comment */
    w->offset += b->len;
    return flush_out(w);
}

int zip_write_tree(int dirfd, int out_fd, const struct zip_options *opts, struct error *err)
{
    struct zip_writer w = {
        .out_fd = out_fd,
        .max_total = opts ? opts->max_total_bytes : 0,
        .force64 = opts && opts->force_zip64,
        .path = BUF_INIT,
        .out = BUF_INIT,
        .cd = BUF_INIT,
        .link = BUF_INIT,
        .err = err,
    };
    const char *prefix = opts && opts->prefix ? opts->prefix : "";
    buf_adds(&w.path, prefix);
    buf_grow(&w.path, 256); /* so the path buffer owns storage from the start */
    w.prefix_len = w.path.len;
    int rc = 0;
    if (w.prefix_len > MAX16)
        rc = error_set(err, ERR_INTERNAL, "zip: the prefix is longer than %u bytes", MAX16);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        w.dry = pass == 0;
        w.total = 0;
        /* A new open file description, so the caller's fd keeps its offset. */
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            rc =
                error_set(err, ERR_INTERNAL, "zip: cannot open the directory: %s", strerror(errno));
            break;
        }
        if (!w.dry) {
            w.in = xmalloc(CHUNK);
            w.zo = xmalloc(CHUNK);
            buf_grow(&w.out, 2 * CHUNK);
            if (deflateInit2(&w.z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                close(fd);
                rc = error_set(err, ERR_INTERNAL, "zip: deflateInit2 failed");
                break;
            }
            w.z_ready = true;
        }
        rc = walk_dir(&w, fd, 0);
    }
    if (!rc) rc = write_end(&w);

    if (w.z_ready) deflateEnd(&w.z);
    free(w.in);
    free(w.zo);
    buf_release(&w.path);
    buf_release(&w.out);
    buf_release(&w.cd);
    buf_release(&w.link);
    return rc;
}
