/* fs: workspace-safe file access and tree removal; see fs.h. */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_open_beneath(const char *root, const char *rel, int flags)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    while (*rel == '/') rel++;
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, dir, *rel ? rel : ".", &how, sizeof(how));
    int saved = errno;
    close(dir);
    errno = saved;
    return (int)fd;
}

int fs_read_fd(int fd, size_t max, struct buf *out, struct error *err)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return error_set(err, ERR_INTERNAL, "read failed: %s", strerror(errno));
        if (n == 0) return 0;
        if (out->len + (size_t)n > max)
            return error_set(err, ERR_TOO_LARGE, "the file is larger than %zu bytes", max);
        buf_add(out, chunk, (size_t)n);
    }
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

static int make_writable(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_D || type == FTW_DNR) (void)chmod(path, 0700);
    return 0;
}

int fs_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
    /* The agent may have made directories unwritable; make them writable again first. */
    if (S_ISDIR(st.st_mode)) nftw(path, make_writable, 16, FTW_PHYS | FTW_MOUNT);
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int fs_make_dirs(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) goto fail;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST) goto fail;
    free(p);
    return 0;
fail:
    free(p);
    return -1;
}

char *fs_find_program(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        struct buf b = BUF_INIT;
        buf_add(&b, path, n);
        buf_addf(&b, "/%s", name);
        if (n && access(b.data, X_OK) == 0) return buf_detach(&b, NULL);
        buf_release(&b);
        path += n;
        if (*path == ':') path++;
    }
    return NULL;
}

int fs_create_once(const char *path, const void *data, size_t len, struct error *err)
{
    struct buf tmp = BUF_INIT;
    buf_addf(&tmp, "%s.%ld.tmp", path, (long)getpid());
    int rc, fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot create %s: %s", tmp.data, strerror(errno));
        goto done;
    }
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot write %s: %s", tmp.data, strerror(errno));
        close(fd);
        unlink(tmp.data);
        goto done;
    }
    close(fd);
    if (link(tmp.data, path) == 0)
        rc = 0;
    else if (errno == EEXIST)
        rc = 1;
    else
        rc = error_set(err, ERR_INTERNAL, "cannot create %s: %s", path, strerror(errno));
    unlink(tmp.data);
done:
    buf_release(&tmp);
    return rc;
}
