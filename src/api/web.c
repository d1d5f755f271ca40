/*
 * web: the web UI's files, compiled into the binary (web/ → embedded_web.c). Every page route
 * (/, /login, /settings, /conversations, /conversations/{id}) answers the one HTML shell,
 * web/index.html, whose ES modules route on the path; /assets/{file} answers web/assets/file.
 * Pages carry the Content-Security-Policy (http/server.c); nothing here needs a session: the
 * data comes from the JSON API, which does.
 */
#include <string.h>

#include "api/api.h"
#include "util/embedded.h"

static const struct embedded_file *find(const char *name)
{
    for (const struct embedded_file *f = web_files; f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0) return types[i][1];
    return "application/octet-stream";
}

static int send_file(const struct embedded_file *f, struct http_response *res)
{
    res->status = 200;
    buf_add(&res->body, f->data, f->len);
    res->content_type = content_type(f->name);
    return 0;
}

int api_web_page(struct http_request *req, struct http_response *res, struct error *err)
{
    (void)req;
    const struct embedded_file *f = find("index.html");
    if (!f) return error_set(err, ERR_NOT_FOUND, "This server was built without its web UI");
    res->page = true;
    return send_file(f, res);
}

int api_web_asset(struct http_request *req, struct http_response *res, struct error *err)
{
    char name[256];
    const char *file = req->params[0];
    if (strlen(file) > 200 || file[0] == '.') return error_set(err, ERR_NOT_FOUND, "Not Found");
    snprintf(name, sizeof(name), "assets/%s", file);
    const struct embedded_file *f = find(name);
    if (!f) return error_set(err, ERR_NOT_FOUND, "Not Found");
    res->cache_control = "no-cache"; /* revalidated: a new binary may bring new files */
    return send_file(f, res);
}
