/*
 * git: the conversation's repository as the API shows it — GET .../git/changes (what changed
 * since the work branch started), GET .../git/diff?path= (a file before and now) and
 * GET .../zip-directory (the whole workspace as a zip). git runs in a short-lived sandbox
 * (agent/repository.c): the repository belongs to the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/repository.h"
#include "api/api.h"
#include "core/conversations.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/zip.h"

#define DIFF_FILE_MAX (5 * 1024 * 1024)
#define ZIP_INPUT_MAX (2LL * 1024 * 1024 * 1024) /* bytes of files zipped at most */

/* The caller's conversation (ERR_NOT_FOUND when it is not theirs). */
static int load(struct http_request *req, struct conversation *c, struct error *err)
{
    const char *id = req->params[0];
    int rc = conversation_id_valid(id) ? req->app->store->ops->conversation_get(
                                             req->app->store, req->auth.account.id, id, c, err)
                                       : ERR_NOT_FOUND;
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    return rc;
}

int api_git_changes(struct http_request *req, struct http_response *res, struct error *err)
{
    struct conversation c;
    int rc = load(req, &c, err);
    if (rc) return rc;
    json_t *changes;
    rc = repo_changes(req->app, &c, &changes, err);
    conversation_free(&c);
    if (rc) {
        json_decref(changes);
        return rc;
    }
    response_json(res, 200, changes);
    return 0;
}

/* The file as it is now in the workspace ("" when it is gone). */
static int current_text(struct http_request *req, const char *rel, json_t **out, struct error *err)
{
    struct buf ws = BUF_INIT, content = BUF_INIT;
    conversation_workspace(req->app, req->params[0], &ws);
    int fd = fs_open_beneath(ws.data, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    buf_release(&ws);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *out = json_string(""); /* deleted (or not a file) */
    } else if (!(rc = fs_read_fd(fd, DIFF_FILE_MAX, &content, err))) {
        *out = memchr(content.data, '\0', content.len) ? NULL
                                                       : json_stringn(content.data, content.len);
        if (!*out) rc = error_set(err, ERR_UNSUPPORTED, "Unable to open binary file: %s", rel);
    }
    if (fd >= 0) close(fd);
    buf_release(&content);
    return rc;
}

/* GET .../git/diff?path= → {"modified": now, "original": at the base}. */
int api_git_diff(struct http_request *req, struct http_response *res, struct error *err)
{
    const char *path = http_query(req, "path");
    if (path && strncmp(path, "/workspace", 10) == 0 && (path[10] == '/' || !path[10])) path += 10;
    while (path && *path == '/') path++;
    if (!path || !*path) return error_invalid(err, "query.path", "missing", "Field required");
    if (strstr(path, "..") &&
        (strncmp(path, "../", 3) == 0 || strstr(path, "/../") || strcmp(path, "..") == 0 ||
         (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))) {
        return error_invalid(err, "query.path", "value_error",
                             "The path must stay inside the workspace");
    }
    struct conversation c;
    int rc = load(req, &c, err);
    if (rc) return rc;
    json_t *modified = NULL;
    char *original = NULL;
    rc = current_text(req, path, &modified, err);
    if (!rc) rc = repo_original(req->app, &c, path, &original, err);
    conversation_free(&c);
    json_t *orig = original ? json_string(original) : NULL;
    free(original);
    if (rc || !orig) {
        json_decref(modified);
        json_decref(orig);
        return rc ? rc : error_set(err, ERR_UNSUPPORTED, "Unable to open binary file: %s", path);
    }
    response_json(res, 200, json_pack("{s:o, s:o}", "modified", modified, "original", orig));
    return 0;
}

/* GET .../zip-directory → the workspace as workspace.zip. Written to an unnamed temporary file
 * in the data directory first, so a failure is still an error answer and not a cut download. */
int api_zip_directory(struct http_request *req, struct http_response *res, struct error *err)
{
    int rc = caller_conversation(req, err);
    if (rc) return rc;
    struct buf ws = BUF_INIT;
    conversation_workspace(req->app, req->params[0], &ws);
    int dir = open(ws.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    buf_release(&ws);
    if (dir < 0 && errno != ENOENT)
        return error_set(err, ERR_INTERNAL, "cannot open the workspace: %s", strerror(errno));
    int out = open(req->app->cfg.data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (out < 0) {
        if (dir >= 0) close(dir);
        return error_set(err, ERR_INTERNAL, "cannot create a temporary file: %s", strerror(errno));
    }
    if (dir < 0) { /* not started yet: an empty workspace */
        char empty[] = "/tmp/cloudhands-empty-XXXXXX";
        if (mkdtemp(empty)) {
            dir = open(empty, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            rmdir(empty);
        }
    }
    struct zip_options opts = {.prefix = "workspace/", .max_total_bytes = ZIP_INPUT_MAX};
    rc = dir >= 0 ? zip_write_tree(dir, out, &opts, err)
                  : error_set(err, ERR_INTERNAL, "cannot read the workspace");
    if (dir >= 0) close(dir);
    if (rc == ERR_TOO_LARGE)
        error_set(err, ERR_TOO_LARGE, "The workspace holds more than %lld bytes: too large to zip",
                  ZIP_INPUT_MAX);
    if (rc || lseek(out, 0, SEEK_SET) < 0) {
        close(out);
        return rc ? rc : error_set(err, ERR_INTERNAL, "cannot read the zip back");
    }
    res->status = 200;
    res->file_fd = out;
    res->content_type = "application/zip";
    res->disposition = "attachment; filename=\"workspace.zip\"";
    return 0;
}
