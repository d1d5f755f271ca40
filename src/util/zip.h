/*
 * zip: writes a directory tree as a ZIP archive to a file descriptor, for
 * GET /api/conversations/{id}/zip-directory. The output is streamed (it may be a pipe or a
 * socket: nothing is ever sought back to), so every file entry carries a data descriptor
 * (general-purpose bit 3); ZIP64 fields are added only where a size, an offset or the entry
 * count needs them. The workspace belongs to the agent, so the walk never follows a symlink
 * and opens everything relative to an already opened directory (openat, O_NOFOLLOW).
 *
 * What goes in: regular files (deflated), directories (a "name/" entry, empty ones too) and
 * symlinks (stored as links: Unix mode, the target as content). Sockets, fifos and devices
 * are skipped. Entries are sorted by name within each directory, so the same tree gives the
 * same bytes (DOS times are local time, so in the same time zone).
 *
 * The tree is walked twice: a first pass only looks (sizes, permissions, depth, name
 * lengths), so the usual failures (ERR_TOO_LARGE, an unreadable file) are returned before
 * the first byte is written and the caller can still answer with an error status. Only
 * write errors and a tree that changes in between can fail half-way through.
 */
#ifndef CH_ZIP_H
#define CH_ZIP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define ZIP_MAX_DEPTH 256 /* directory levels below the root; deeper is an error */

struct zip_options {
    const char *prefix;      /* prepended verbatim to every name, e.g. "workspace/" (NULL: none) */
    int64_t max_total_bytes; /* ERR_TOO_LARGE when the regular files exceed this (0: no limit) */
    bool force_zip64;        /* for tests: write ZIP64 fields even where they are not needed */
};

/*
 * Writes the tree under `dirfd` (a directory fd; its file offset is not touched, and it is not
 * closed) as a ZIP archive to `out_fd`, which may be blocking or not. `opts` may be NULL.
 * Returns 0 or an ERR_* code with a message (naming the file, where one is at fault):
 * ERR_TOO_LARGE over max_total_bytes; ERR_INTERNAL for a file or directory that cannot be read,
 * a tree deeper than ZIP_MAX_DEPTH, a name longer than 65535 bytes, or a failed write (EPIPE:
 * the reader went away; the server ignores SIGPIPE, other callers must too). A file is read up
 * to the size it had when it was opened, so a file that grows meanwhile is cut at that size
 * rather than making the archive inconsistent.
 */
int zip_write_tree(int dirfd, int out_fd, const struct zip_options *opts, struct error *err);

#endif
