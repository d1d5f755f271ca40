/*
 * forward: a conversation's workspace lives on the node that ran it (DATA/workspaces of that
 * node's data directory; docs/DEPLOYMENT.md). A ROUTE_WORKSPACE request that reaches another
 * node — an API node, or a worker that does not hold it — is sent to the holder's URL (recorded
 * in the nodes table) with the caller's own credentials, which the holder checks against the
 * same database as any request, and its answer is relayed as it came. A forwarded request is
 * marked and always served where it lands, so requests never go round.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/conversations.h"
#include "core/sessions.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/timeutil.h"

#define FORWARDED_HEADER "X-Cloudhands-Forwarded"
/* How long the home node may stay silent. An answer blocks one of this node's HTTP threads
 * meanwhile, so only a zip, which the home node builds whole before its first byte, gets long. */
#define FORWARD_SILENCE_S     30
#define FORWARD_ZIP_SILENCE_S 600
/* An answer kept in memory: select-file's 5 MiB of text, escaped as JSON, at most. */
#define RELAYED_BODY_MAX (64 * 1024 * 1024)

static bool write_all(const char *data, size_t len, void *ctx)
{
    int fd = *(int *)ctx;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* The node `node` serves workspaces at *url (malloc'd), and is alive; else an error for the
 * caller. */
static int holder_url(struct app *app, const char *node, char **url, struct error *err)
{
    struct node holder;
    *url = NULL;
    int rc = app->store->ops->node_get(app->store, node, &holder, err);
    if (rc && rc != ERR_NOT_FOUND) return rc;
    error_clear(err);
    *url = holder.url;
    holder.url = NULL;
    int64_t now = time_now_us(), alive_until = holder.alive_until;
    node_free(&holder);
    if (rc == ERR_NOT_FOUND || now > alive_until) {
        free(*url);
        *url = NULL;
        log_info("workspace on a node that is not alive", "node=%s for_s=%lld", node,
                 rc ? -1LL : (long long)((now - alive_until) / USEC_PER_SEC));
        return error_set(err, ERR_UNAVAILABLE,
                         "The machine that holds this conversation's workspace is not running. "
                         "The workspace is back when it is, or when a follow-up message runs the "
                         "conversation on another machine.");
    }
    if (!*url) {
        log_info("workspace on a node without a URL: start its worker with --listen", "node=%s",
                 node);
        return error_set(err, ERR_UNAVAILABLE,
                         "This conversation's workspace is on a worker that serves it to no "
                         "one: the operator needs to start that worker with --listen "
                         "(docs/DEPLOYMENT.md).");
    }
    return 0;
}

/* Sends the request to `base` and fills `res` with the answer. */
static int relay(struct http_request *req, const char *base, struct http_response *res,
                 struct error *err)
{
    struct app *app = req->app;
    struct buf url = BUF_INIT, auth = BUF_INIT, cookie = BUF_INIT, id = BUF_INIT, mark = BUF_INIT;
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/') base_len--;
    buf_add(&url, base, base_len);
    buf_adds(&url, req->path);
    http_query_string(req, &url);

    const char *headers[5];
    size_t n = 0;
    const char *authorization = http_header(req, "Authorization");
    const char *session = http_cookie(req, SESSION_COOKIE);
    if (authorization) {
        buf_addf(&auth, "Authorization: %s", authorization);
        headers[n++] = auth.data;
    }
    if (session) {
        buf_addf(&cookie, "Cookie: %s=%s", SESSION_COOKIE, session);
        headers[n++] = cookie.data;
    }
    buf_addf(&id, "X-Request-Id: %s", req->request_id);
    headers[n++] = id.data;
    buf_addf(&mark, FORWARDED_HEADER ": %s", app->node_id);
    headers[n++] = mark.data;
    headers[n] = NULL;

    /* A zip goes to an unnamed file, as zip-directory's own does (api/git.c); the other
     * answers are small enough for memory. */
    bool zip = req->route->handler == api_zip_directory;
    int fd = zip ? open(app->cfg.data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
    int rc = 0;
    if (zip && fd < 0)
        rc = error_set(err, ERR_INTERNAL, "cannot create a temporary file: %s", strerror(errno));
    struct http_client_request rq = {.method = "GET",
                                     .url = url.data,
                                     .headers = headers,
                                     .timeout_s = zip ? FORWARD_ZIP_SILENCE_S : FORWARD_SILENCE_S,
                                     .max_response = RELAYED_BODY_MAX,
                                     .on_data = zip ? write_all : NULL,
                                     .on_data_ctx = &fd,
                                     .keep_alive = true};
    struct http_client_response resp = {0};
    if (!rc && http_client_request(&rq, &resp, err) != 0) {
        struct buf where = BUF_INIT, why = BUF_INIT;
        log_value(&where, url.data); /* the query is the client's */
        log_value(&why, err->message);
        log_error("the node holding a workspace did not answer", "url=%s error=%s", where.data,
                  why.data);
        buf_release(&where);
        buf_release(&why);
        error_clear(err);
        rc = error_set(err, ERR_UNAVAILABLE,
                       "The machine that holds this conversation's workspace did not answer; try "
                       "again in a moment.");
    }
    bool ok = !rc && resp.status >= 200 && resp.status < 300;
    if (ok && zip && lseek(fd, 0, SEEK_SET) == 0) {
        res->status = (unsigned)resp.status;
        res->file_fd = fd;
        fd = -1;
        res->content_type = "application/zip";
        res->disposition = "attachment; filename=\"workspace.zip\"";
    } else if (ok && zip) {
        rc = error_set(err, ERR_INTERNAL, "cannot read the relayed zip back: %s", strerror(errno));
    } else if (!rc) { /* JSON, whether an answer or an error */
        res->status = resp.status >= 200 && resp.status < 600 ? (unsigned)resp.status : 502;
        buf_add(&res->body, resp.body.data ? resp.body.data : "", resp.body.len);
    }
    if (fd >= 0) close(fd);
    http_client_response_release(&resp);
    buf_release(&url);
    if (auth.data) crypto_wipe(auth.data, auth.len);
    if (cookie.data) crypto_wipe(cookie.data, cookie.len);
    buf_release(&auth);
    buf_release(&cookie);
    buf_release(&id);
    buf_release(&mark);
    return rc;
}

int workspace_forward(struct http_request *req, struct http_response *res, struct error *err)
{
    struct app *app = req->app;
    const char *id = req->params[0];
    const char *from = http_header(req, FORWARDED_HEADER);
    if (!conversation_id_valid(id)) return FORWARD_NOT_NEEDED;
    struct conversation c;
    int rc = app->store->ops->conversation_get(app->store, req->auth.account.id, id, &c, err);
    if (rc == ERR_NOT_FOUND) error_clear(err);
    if (rc) return rc == ERR_NOT_FOUND ? FORWARD_NOT_NEEDED : rc;
    bool here = !c.node || strcmp(c.node, app->node_id) == 0;
    char *url = NULL;
    if (here) {
        rc = FORWARD_NOT_NEEDED;
    } else if (from) {
        /* Sent here as the holder, but this is not it: the URL recorded for the holder leads
         * elsewhere (say, a loopback address seen from another machine). Answering from this
         * node's disk would be a wrong answer that looks right. */
        struct buf sender = BUF_INIT;
        log_value(&sender, from); /* a header: anyone may send it */
        log_error("a forwarded workspace request reached the wrong node: the holder's URL leads "
                  "here; set --node-url on the holder",
                  "conversation=%s holder=%s from=%s", id, c.node, sender.data);
        buf_release(&sender);
        rc = error_set(err, ERR_UNAVAILABLE,
                       "The address recorded for the machine that holds this conversation's "
                       "workspace leads to another machine: the operator needs to set --node-url "
                       "on it (docs/DEPLOYMENT.md).");
    } else if (!(rc = holder_url(app, c.node, &url, err))) {
        rc = relay(req, url, res, err);
    }
    free(url);
    conversation_free(&c);
    return rc;
}
