/*
 * docs: the API reference. GET /openapi.json answers src/api/openapi.json, the hand-written
 * OpenAPI 3.1 document of every route in api/routes.c (tests/api/test_openapi.py keeps the two
 * in step and validates real answers against it). GET /swagger-ui/ is Swagger UI showing it: the
 * page and its own script and style (src/api/swagger-ui/) and a few files of the npm package
 * swagger-ui-dist (third_party/swagger-ui, installed by the build), all compiled into the binary
 * (cmake/embed.cmake), so nothing is fetched from elsewhere.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "util/embedded.h"

static const struct embedded_file *find(const struct embedded_file *table, const char *name)
{
    for (const struct embedded_file *f = table; f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".png", "image/png"},
        {".json", "application/json"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0) return types[i][1];
    return "text/plain; charset=utf-8"; /* LICENSE, NOTICE */
}

static int send_file(const struct embedded_file *f, struct http_response *res)
{
    res->status = 200;
    buf_add(&res->body, f->data, f->len);
    res->content_type = content_type(f->name);
    res->cache_control = "no-cache"; /* revalidated: a new binary may bring new files */
    /* The page gets the web UI's Content-Security-Policy (WEB_CSP), no wider: Swagger UI needs
     * nothing more (it sets styles through the DOM, which style-src does not govern, and runs no
     * eval; tests/web/swagger.test.js fails on any violation). */
    res->page = strncmp(res->content_type, "text/html", 9) == 0;
    return 0;
}

int api_openapi(struct http_request *req, struct http_response *res, struct error *err)
{
    (void)req;
    const struct embedded_file *f = find(api_docs_files, "openapi.json");
    if (!f) return error_set(err, ERR_NOT_FOUND, "Not Found");
    return send_file(f, res);
}

int api_swagger_ui(struct http_request *req, struct http_response *res, struct error *err)
{
    (void)req;
    const struct embedded_file *f = find(api_docs_files, "swagger-ui/index.html");
    if (!f) return error_set(err, ERR_NOT_FOUND, "Not Found");
    return send_file(f, res);
}

/* /swagger-ui/{file}: swagger-ui-dist's files first, then the page's own. */
int api_swagger_ui_file(struct http_request *req, struct http_response *res, struct error *err)
{
    char name[256];
    const char *file = req->params[0];
    if (strlen(file) > 200 || file[0] == '.') return error_set(err, ERR_NOT_FOUND, "Not Found");
    const struct embedded_file *f = find(swagger_ui_files, file);
    if (!f) {
        snprintf(name, sizeof(name), "swagger-ui/%s", file);
        f = find(api_docs_files, name);
    }
    if (!f) return error_set(err, ERR_NOT_FOUND, "Not Found");
    return send_file(f, res);
}
