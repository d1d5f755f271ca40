/*
 * fs: file-system helpers that are safe against a workspace the agent controls. The
 * server reads workspaces (list-files, select-file) while the agent may plant symlinks
 * in them, so every path is resolved with openat2(RESOLVE_BENEATH): nothing outside the
 * workspace can be reached through it, whatever the links say.
 */
#ifndef CH_FS_H
#define CH_FS_H

#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

/* Opens `rel` (relative; "" or "." is the directory itself) beneath directory `root`, never
 * leaving it. Returns an fd or -1 with errno set (EXDEV/ELOOP for escapes, ENOENT, ...). */
int fs_open_beneath(const char *root, const char *rel, int flags);
/* Reads a whole regular file opened with fs_open_beneath into `out`, up to max bytes
 * (ERR_TOO_LARGE beyond). */
int fs_read_fd(int fd, size_t max, struct buf *out, struct error *err);
/* rm -rf: removes a directory tree without following symlinks. Missing is not an error. */
int fs_remove_tree(const char *path);
/* mkdir -p with mode 0700. */
int fs_make_dirs(const char *path);
/* Creates file `path` (mode 0600) holding `data`, atomically and only if it does not exist: the
 * bytes go to a temporary file first, which is linked into place, so a racing process either
 * wins whole or finds the winner's file. 0: created; 1: it existed (nothing written); or
 * ERR_INTERNAL. */
int fs_create_once(const char *path, const void *data, size_t len, struct error *err);
/* The executable `name` on PATH (or /usr/bin:/bin), malloc'd; NULL when there is none. Resolve
 * before fork: a child of a threaded process may not allocate. */
char *fs_find_program(const char *name);

#endif
