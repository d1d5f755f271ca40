/*
 * files: the conversation's workspace as the API shows it — list-files and select-file.
 * The workspace belongs to the agent, who may plant symlinks in it, so every path is
 * opened beneath the workspace (fs_open_beneath) and can never reach outside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/conversations.h"
#include "util/fs.h"
#include "util/json.h"

#define SELECT_FILE_MAX (5 * 1024 * 1024)

/* Checks that the conversation is the caller's and puts its workspace path in `ws`. */
static int workspace_of(struct http_request *req, struct buf *ws, struct error *err)
{
    const char *id = req->params[0];
    int rc = caller_conversation(req, err);
    if (rc) return rc;
    conversation_workspace(req->app, id, ws);
    return 0;
}

/* Paths may be given relative to the workspace or as /workspace/...; both mean the same. */
static const char *relative(const char *path)
{
    if (!path) return "";
    if (strncmp(path, "/workspace", 10) == 0 && (path[10] == '/' || path[10] == '\0')) path += 10;
    while (*path == '/') path++;
    return path;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* GET .../list-files?path= → the entries of a workspace directory, sorted, directories ending
 * in '/', paths relative to the workspace; .git is left out. */
int api_list_files(struct http_request *req, struct http_response *res, struct error *err)
{
    struct buf ws = BUF_INIT;
    int rc = workspace_of(req, &ws, err);
    if (rc) goto out;
    const char *rel = relative(http_query(req, "path"));
    int fd = fs_open_beneath(ws.data, rel, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        /* Not started yet, or no such directory: an empty listing, as OpenHands answers. */
        if (errno == ENOENT && !*rel) {
            response_json(res, 200, json_array());
            goto out;
        }
        rc = error_set(err, ERR_NOT_FOUND, "No such directory in the workspace: %s", rel);
        goto out;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        rc = error_set(err, ERR_INTERNAL, "cannot read the directory");
        goto out;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        struct stat st;
        bool dir =
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        struct buf p = BUF_INIT;
        buf_addf(&p, "%s%s%s%s", rel, *rel && rel[strlen(rel) - 1] != '/' ? "/" : "", e->d_name,
                 dir ? "/" : "");
        if (n == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
        names[n++] = buf_detach(&p, NULL);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(names[i]);
        if (s) json_array_append_new(list, s); /* names that are not UTF-8 are left out */
        free(names[i]);
    }
    free(names);
    response_json(res, 200, list);
out:
    buf_release(&ws);
    return rc;
}

/* GET .../select-file?file= → {"code": text}; 415 for a binary file. */
int api_select_file(struct http_request *req, struct http_response *res, struct error *err)
{
    struct buf ws = BUF_INIT, content = BUF_INIT;
    int rc = workspace_of(req, &ws, err);
    if (rc) goto out;
    const char *file = http_query(req, "file");
    if (!file || !*relative(file)) {
        rc = error_invalid(err, "query.file", "missing", "Field required");
        goto out;
    }
    /* O_NONBLOCK: a FIFO the agent planted must not block this thread waiting for a writer. */
    int fd = fs_open_beneath(ws.data, relative(file), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        rc = error_set(err, ERR_NOT_FOUND, "No such file in the workspace: %s", relative(file));
        goto out;
    }
    rc = fs_read_fd(fd, SELECT_FILE_MAX, &content, err);
    close(fd);
    if (rc) goto out;
    json_t *text =
        memchr(content.data, '\0', content.len) ? NULL : json_stringn(content.data, content.len);
    if (!text) {
        rc = error_set(err, ERR_UNSUPPORTED, "Unable to open binary file: %s", relative(file));
        goto out;
    }
    response_json(res, 200, json_pack("{s:o}", "code", text));
out:
    buf_release(&content);
    buf_release(&ws);
    return rc;
}
