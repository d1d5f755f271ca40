/*
 * router: matches a request against the route table. Patterns are compared with the
 * path segment by segment; `{name}` segments capture. The table is small (tens of
 * rows), so a linear scan is both the simplest and fast enough (see bench/).
 */
#include <string.h>

#include "http/http.h"

/* Compares the writable `path` with `pattern`. On a match, terminates each captured
 * segment in place, points params at them and returns true; otherwise leaves path intact. */
static bool match_path(const char *pattern, char *path, const char *params[HTTP_MAX_PARAMS])
{
    char *ends[HTTP_MAX_PARAMS];
    const char *p = pattern;
    char *s = path;
    int n = 0;
    for (;;) {
        if (*p == '\0' || *s == '\0') break;
        if (*p != '/' || *s != '/') return false;
        p++;
        s++;
        const char *pend = strchrnul(p, '/');
        char *send = strchrnul(s, '/');
        size_t plen = (size_t)(pend - p), slen = (size_t)(send - s);
        if (*p == '{') {
            if (slen == 0 || n >= HTTP_MAX_PARAMS) return false;
            params[n] = s;
            ends[n++] = send;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p = pend;
        s = send;
    }
    if (*p != '\0' || *s != '\0') return false;
    for (int i = 0; i < n; i++) *ends[i] = '\0';
    return true;
}

/* Whether `method` is already in the comma-separated `list`. */
static bool method_listed(const char *list, const char *method)
{
    size_t len = strlen(method);
    for (const char *p = list; (p = strstr(p, method)); p += len)
        if ((p == list || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0')) return true;
    return false;
}

const struct route *router_match(const struct route *table, struct http_request *req,
                                 bool *path_matched, struct buf *allow)
{
    *path_matched = false;
    for (const struct route *r = table; r->method; r++) {
        if (!match_path(r->pattern, req->path_copy, req->params)) continue;
        /* HEAD is GET without the body; libmicrohttpd drops the body itself. */
        if (strcmp(r->method, req->method) == 0 ||
            (strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
        /* Same path, other method: remember it for 405's Allow header. The match
         * terminated captures in place; restore the copy before trying further rows. */
        strcpy(req->path_copy, req->path);
        *path_matched = true;
        if (!method_listed(allow->data, r->method)) {
            if (allow->len) buf_adds(allow, ", ");
            buf_adds(allow, r->method);
        }
    }
    return NULL;
}
