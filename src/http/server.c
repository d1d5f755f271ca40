/*
 * server: libmicrohttpd glue; see server.h. One `struct http_request` per request lives
 * in MHD's per-connection pointer from the first access-handler call to the completion
 * callback. Responses are queued on the second call at the earliest: MHD 0.9.75 adds
 * `Connection: close` to a response queued on the first call of a GET (measured), which
 * would defeat keep-alive.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http.h"
#include "http/stream.h"
#include "core/sessions.h"
#include "util/crypto.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    int port;
    bool workers_only; /* ROUTE_ON_WORKERS routes only */
};

const char *http_query(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_cookie(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *http_header(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_body_json(struct http_request *req, json_t **out, struct error *err)
{
    return json_parse_object(req->body.data, req->body.len, out, err);
}

static void request_free(struct http_request *req)
{
    if (!req) return;
    buf_release(&req->body);
    buf_release(&req->allow);
    free(req->path_copy);
    auth_free(&req->auth);
    free(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *res)
{
    struct MHD_Response *r;
    if (res->stream) {
        r = stream_response(conn, res->stream);
        free(res->stream);
        res->stream = NULL;
        if (!r) return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* proxies: do not buffer */
    } else if (res->file_fd > 0) {
        struct stat st;
        r = fstat(res->file_fd, &st) == 0
                ? MHD_create_response_from_fd64((uint64_t)st.st_size, res->file_fd)
                : NULL;
        if (!r) {
            close(res->file_fd);
            res->file_fd = 0;
            return MHD_NO;
        }
        res->file_fd = 0; /* MHD closes it */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/octet-stream");
    } else {
        size_t len;
        char *data = buf_detach(&res->body, &len);
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(data);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/json");
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                            res->cache_control ? res->cache_control : "no-store");
    if (res->retry_after > 0) {
        char v[24];
        snprintf(v, sizeof(v), "%ld", res->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (res->allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    if (res->disposition)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, res->disposition);
    if (res->set_cookie) MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, res->set_cookie);
    if (res->page) {
        /* the web UI: its own scripts and styles only, never framed */
        MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    }
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (res->request_id) MHD_add_response_header(r, "X-Request-Id", res->request_id);
    enum MHD_Result ok = MHD_queue_response(conn, res->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct buf *out = cls;
    buf_addch(out, out->len ? '&' : '?');
    url_encode(key, out);
    if (value) {
        buf_addch(out, '=');
        url_encode(value, out);
    }
    return MHD_YES;
}

void http_query_string(struct http_request *req, struct buf *out)
{
    struct buf q = BUF_INIT;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
    if (q.len) buf_add(out, q.data, q.len);
    buf_release(&q);
}

/* Iterator over query arguments: records in *cls (a struct error) the first name or value
 * with an embedded NUL, which would otherwise silently cut the value short. */
static enum MHD_Result query_has_nul(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    if (strlen(key) == key_size && (!value || strlen(value) == value_size)) return MHD_YES;
    char field[64];
    snprintf(field, sizeof(field), "query.%s", key);
    error_invalid(cls, field, "string_type", "Query parameters must not contain NUL bytes");
    return MHD_NO;
}

/* Authenticates the caller as the route row says and runs the handler. */
/* The caller: an API key (Authorization: Bearer) wins; else the web UI's session cookie, which
 * for a state-changing method must come with the session's CSRF token (X-CSRF-Token). */
static int authenticate(struct http_request *req, struct error *err)
{
    const char *authorization = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cookie = http_cookie(req, SESSION_COOKIE);
    if (authorization || !cookie) return auth_bearer(req->app, authorization, &req->auth, err);
    int rc = session_authenticate(req->app, cookie, &req->auth, err);
    if (rc) return rc;
    bool safe = strcmp(req->method, MHD_HTTP_METHOD_GET) == 0 ||
                strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
    const char *csrf = http_header(req, "X-CSRF-Token");
    if (!safe && (!csrf || strlen(csrf) != CSRF_TOKEN_LEN ||
                  !crypto_equal(csrf, req->auth.csrf_token, CSRF_TOKEN_LEN)))
        return error_set(err, ERR_FORBIDDEN, CSRF_MISSING_MSG);
    return 0;
}

static int run_route(struct http_request *req, struct http_response *res, struct error *err)
{
    if (req->route->auth == ROUTE_ACCOUNT) {
        int rc = authenticate(req, err);
        if (rc) return rc;
    }
    if (req->route->flags & ROUTE_WORKSPACE) {
        int rc = workspace_forward(req, res, err);
        if (rc != FORWARD_NOT_NEEDED) return rc;
    }
    return req->route->handler(req, res, err);
}

/* Routes, authenticates and runs the handler; always leaves a response in `res`. A GET or
 * HEAD runs in a read scope (store.h): the key check and the handler's reads share one
 * snapshot, and the SQLite store one read transaction instead of one per read. A server of a
 * worker (workers_only) knows only the ROUTE_ON_WORKERS rows. */
static void dispatch(const struct http_server *srv, struct http_request *req,
                     struct http_response *res)
{
    struct store *store = req->app->store;
    struct error err = {0};
    bool path_matched, read_only;
    int rc;

    if (req->body_too_large) {
        rc = error_set(&err, ERR_TOO_LARGE, "Request body is larger than %d bytes", HTTP_MAX_BODY);
        goto out;
    }
    MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_has_nul, &err);
    if ((rc = err.code)) goto out;
    req->route = router_match(api_routes, req, &path_matched, &req->allow);
    if (req->route && srv->workers_only && !(req->route->flags & ROUTE_ON_WORKERS)) {
        req->route = NULL; /* a worker serves its workspaces, and nothing else */
        path_matched = false;
    }
    if (!req->route) {
        rc = path_matched ? error_set(&err, ERR_METHOD, "Method Not Allowed")
                          : error_set(&err, ERR_NOT_FOUND, "Not Found");
        if (path_matched) res->allow = req->allow.data;
        goto out;
    }
    read_only = strcmp(req->method, MHD_HTTP_METHOD_GET) == 0 ||
                strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
    /* A workspace request may be relayed to another node (api/forward.c): no transaction stays
     * open meanwhile. */
    if (!read_only || (req->route->flags & ROUTE_WORKSPACE)) {
        rc = run_route(req, res, &err);
    } else if (!(rc = store_read_begin(store, &err))) {
        rc = run_route(req, res, &err);
        store_read_end(store);
    }
out:
    if (rc) {
        err.code = rc;
        response_error(res, &err);
        if (res->status >= 500)
            log_error("request failed", "method=%s path=%s status=%u error=\"%s\"", req->method,
                      req->path, res->status, err.message);
    }
    error_clear(&err);
}

/* The client's X-Request-Id when it is a sane token (so that a proxy's id carries through),
 * else 16 random bytes in hex. */
static void set_request_id(struct http_request *req)
{
    const char *given = http_header(req, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    bool sane = n > 0 && n <= 64;
    for (size_t i = 0; sane && i < n; i++)
        sane = isalnum((unsigned char)given[i]) || strchr("-_.:", given[i]);
    if (sane) {
        memcpy(req->request_id, given, n + 1);
    } else {
        unsigned char raw[16];
        crypto_random(raw, sizeof(raw));
        crypto_hex(raw, sizeof(raw), req->request_id);
    }
}

/* One log line and the metrics per answered request. */
static void account_request(const struct http_request *req, unsigned status)
{
    double seconds = (double)(time_now_us() - req->started_us) / 1e6;
    int route = req->route ? (int)(req->route - api_routes) : -1;
    metrics_request(route, status, seconds);
    struct buf f = BUF_INIT;
    buf_addf(&f, "request_id=%s method=", req->request_id);
    log_value(&f, req->method);
    buf_adds(&f, " path=");
    log_value(&f, req->path);
    buf_adds(&f, " route=");
    log_value(&f, req->route ? req->route->pattern : "");
    buf_addf(&f, " status=%u duration_ms=%.3f", status, seconds * 1e3);
    if (req->auth.account.name) {
        buf_adds(&f, " account=");
        log_value(&f, req->auth.account.name);
    }
    log_info("request", "%s", f.data);
    buf_release(&f);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;

    if (!req) {
        req = xcalloc(1, sizeof(*req));
        req->app = srv->app;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->path_copy = xstrdup(url);
        req->started_us = time_now_us();
        set_request_id(req);
        buf_init(&req->body, 0);
        buf_init(&req->allow, 0);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        *con_cls = req;
        if (!cl || strtoull(cl, NULL, 10) <= HTTP_MAX_BODY) return MHD_YES;
        /* Declared too large: answer 413 now, before reading (or inviting, with
         * "100 Continue") a body that will be refused. MHD then closes the connection. */
        req->body_too_large = true;
    } else if (*upload_data_size) {
        if (!req->body_too_large) {
            if (req->body.len + *upload_data_size > HTTP_MAX_BODY) {
                req->body_too_large = true;
                buf_release(&req->body);
            } else {
                buf_add(&req->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct http_response res = {.status = MHD_HTTP_OK, .body = BUF_INIT};
    dispatch(srv, req, &res);
    res.request_id = req->request_id;
    enum MHD_Result ok = send_response(conn, &res);
    account_request(req, res.status);
    buf_release(&res.body);
    free(res.set_cookie);
    return ok;
}

bool listen_parse(const char *listen, char **host, int *port)
{
    const char *colon;
    size_t hlen;
    const char *h = listen;
    if (*listen == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') return false;
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) return false;
        hlen = (size_t)(colon - listen);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535 || hlen == 0) return false;
    *host = xmalloc(hlen + 1);
    memcpy(*host, h, hlen);
    (*host)[hlen] = '\0';
    *port = (int)p;
    return true;
}

int http_server_start(struct app *app, const char *listen, int threads, bool workers_only,
                      struct http_server **out, struct error *err)
{
    char *host;
    int port;
    struct sockaddr_storage ss = {0};
    /* Suspend/resume: streamed responses wait without holding a thread (http/stream.c). */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

    *out = NULL;
    if (!listen_parse(listen, &host, &port))
        return error_set(err, ERR_INVALID,
                         "--listen must be HOST:PORT, e.g. 127.0.0.1:3000 (got \"%s\")", listen);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &v4->sin_addr) ==
        1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        error_set(err, ERR_INVALID, "--listen: \"%s\" is not an IP address (use e.g. 0.0.0.0)",
                  host);
        free(host);
        return ERR_INVALID;
    }
    free(host);
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads <= 0) threads = 2;

    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->app = app;
    srv->workers_only = workers_only;
    srv->daemon =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                         &ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv);
        return error_set(err, ERR_INTERNAL,
                         "cannot listen on %s: %s (is another server using the port? try "
                         "--listen 127.0.0.1:OTHER_PORT)",
                         listen, strerror(errno ? errno : EADDRINUSE));
    }
    stream_start();
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : port;
    *out = srv;
    return 0;
}

char *http_server_url(const struct http_server *srv, const char *listen)
{
    char *host = NULL, name[256] = "";
    int port;
    struct buf url = BUF_INIT;
    if (!listen_parse(listen, &host, &port)) host = xstrdup("127.0.0.1");
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
        free(host);
        host = xstrdup(gethostname(name, sizeof(name) - 1) == 0 && *name ? name : "localhost");
    }
    bool v6 = strchr(host, ':') != NULL;
    buf_addf(&url, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", srv->port);
    free(host);
    return buf_detach(&url, NULL);
}

void http_server_stop(struct http_server *srv)
{
    if (!srv) return;
    stream_stop();
    MHD_stop_daemon(srv->daemon);
    free(srv);
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}
