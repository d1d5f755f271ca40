/*
 * http: the request and response records handlers work with, and the route table's
 * row type. Handlers never see libmicrohttpd: they read a `struct http_request` (path
 * parameters, query, headers, body, the authenticated caller) and fill a
 * `struct http_response`, or return an error code that http/response.c turns into
 * a status and body (the one error-to-status map).
 */
#ifndef CH_HTTP_H
#define CH_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/app.h"
#include "core/auth.h"
#include "util/buf.h"
#include "util/error.h"

#define HTTP_MAX_BODY   (1024 * 1024) /* 1 MiB; larger bodies get 413 */
#define HTTP_MAX_PARAMS 4

struct MHD_Connection;
struct http_request;
struct http_response;

/* A handler returns 0 after filling `res`, or an ERR_* code with `err` filled. */
typedef int (*http_handler)(struct http_request *req, struct http_response *res, struct error *err);

enum route_auth {
    ROUTE_PUBLIC,  /* no credentials needed */
    ROUTE_ACCOUNT, /* an API key (later: or a session cookie); req->auth is filled */
};

/* One row of the route table (api/routes.c). Patterns are literal segments and `{name}`
 * captures, e.g. "/api/conversations/{id}/stop"; captures land in req->params in order. */
struct route {
    const char *method;
    const char *pattern;
    http_handler handler;
    enum route_auth auth;
    unsigned flags; /* ROUTE_* below */
};

/* The route reads the workspace of conversation params[0]: when another node holds it, the
 * request is answered there (api/forward.c). */
#define ROUTE_WORKSPACE 1u
/* Also served by `cloudhands worker --listen`, which serves nothing else. */
#define ROUTE_ON_WORKERS 2u

struct http_request {
    struct app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const struct route *route;
    const char *params[HTTP_MAX_PARAMS]; /* path captures; point into `path_copy` */
    char *path_copy;
    struct buf body;
    bool body_too_large;
    struct buf allow;    /* 405: the methods the path has */
    struct auth auth;    /* filled for ROUTE_ACCOUNT routes */
    int64_t started_us;  /* when the request arrived (metrics, the request log) */
    char request_id[65]; /* X-Request-Id: the client's (when sane) or a fresh one */
};

/* A body produced while it is sent (Server-Sent Events). `produce` appends what it has to
 * `out` and returns 1, returns 0 when it has nothing now (it is called again after the next
 * NOTIFY_EVENTS publish, or within 15 s to send a keep-alive), or -1 at the end (after what it
 * appended). `free` releases ctx when the connection ends. */
struct http_stream {
    int (*produce)(void *ctx, struct buf *out);
    void (*free)(void *ctx);
    void *ctx;
};

struct http_response {
    unsigned status;
    struct buf body;
    const char *content_type;   /* default application/json */
    long retry_after;           /* > 0: a Retry-After header */
    const char *allow;          /* 405: the Allow header */
    struct http_stream *stream; /* set: the body is streamed (body ignored); owned */
    int file_fd;                /* > 0: the body is this whole file (body ignored); owned */
    const char *disposition;    /* a Content-Disposition header, or NULL */
    char *set_cookie;           /* a Set-Cookie header (owned), or NULL */
    const char *cache_control;  /* default no-store */
    bool page;                  /* a web UI page: Content-Security-Policy and framing headers */
    const char *request_id;     /* the X-Request-Id header */
};

/* The web UI's Content-Security-Policy: no inline scripts or styles, nothing from elsewhere. */
#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "             \
    "form-action 'self'"

/* Request accessors (values borrowed from the connection; valid during the request). */
const char *http_query(struct http_request *req, const char *name);
/* The query as it would be sent on: "?a=1&b=x%20y", or "" when there is none. */
void http_query_string(struct http_request *req, struct buf *out);
const char *http_header(struct http_request *req, const char *name);
const char *http_cookie(struct http_request *req, const char *name);
/* Parses the body as a JSON object (see json_parse_object). */
int http_body_json(struct http_request *req, json_t **out, struct error *err);

/* Response helpers. `v` is stolen (decref'd) by response_json. */
void response_json(struct http_response *res, unsigned status, json_t *v);
/* The one place errors become HTTP: status and body for `e`. */
void response_error(struct http_response *res, const struct error *e);
unsigned http_status_for(enum err_code code);

/* For a ROUTE_WORKSPACE route (api/forward.c): when another node holds the conversation's
 * workspace, answers the request from there and returns 0 (res filled) or an ERR_* code;
 * returns FORWARD_NOT_NEEDED when the request is to be served here. */
#define FORWARD_NOT_NEEDED (-1)
int workspace_forward(struct http_request *req, struct http_response *res, struct error *err);

/* The route table (api/routes.c), ending with a {NULL} row. */
extern const struct route api_routes[];

/* Router (http/router.c): finds the row for method+path. Returns the route, or NULL with
 * *path_matched telling whether another method would have matched (405 vs 404) and `allow`
 * listing those methods. Fills req->params. */
const struct route *router_match(const struct route *table, struct http_request *req,
                                 bool *path_matched, struct buf *allow);

#endif
