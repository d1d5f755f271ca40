/*
 * sessions: signing in to the web UI — POST /api/auth/login, POST /api/auth/logout and
 * GET /api/auth/session. The session travels in an HttpOnly, SameSite=Strict cookie (Secure
 * behind an HTTPS proxy); the page sends the CSRF token back in X-CSRF-Token on every
 * state-changing request (checked in http/server.c). Rules live in core/sessions.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/sessions.h"
#include "util/buf.h"
#include "util/json.h"

static const struct json_field login_fields[] = {
    {"username", JF_STRING, true, 200},
    {"password", JF_STRING, true, PASSWORD_MAX},
    {NULL, 0, false, 0},
};

/* Secure only when the client reached us over HTTPS (a proxy in front says so). */
static bool over_tls(struct http_request *req)
{
    const char *proto = http_header(req, "X-Forwarded-Proto");
    return proto && strcasecmp(proto, "https") == 0;
}

static char *cookie(struct http_request *req, const char *value, long max_age)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s", SESSION_COOKIE, value,
             max_age, over_tls(req) ? "; Secure" : "");
    return buf_detach(&b, NULL);
}

static json_t *session_json(const struct account *a, const char *csrf, int64_t expires_at,
                            const char *via)
{
    return json_pack("{s:{s:I, s:s, s:b}, s:o, s:o, s:s}", "account", "id", (json_int_t)a->id,
                     "name", a->name, "is_admin", a->is_admin, "csrf_token", json_str_or_null(csrf),
                     "expires_at", json_time_or_null(expires_at), "via", via);
}

int api_login(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = json_check_fields(body, login_fields, true, err);
    struct session s;
    if (!rc)
        rc = session_login(req->app, json_get_str(body, "username"), json_get_str(body, "password"),
                           &s, err);
    json_decref(body);
    if (rc) return rc;
    /* The cookie outlives the session by a day: the server is the one to say it expired (and
     * say so: SESSION_EXPIRED_MSG), rather than the browser silently dropping it. */
    res->set_cookie = cookie(req, s.value, req->app->cfg.session_ttl + SESSION_COOKIE_GRACE_S);
    response_json(res, 200, session_json(&s.account, s.csrf_token, s.expires_at, "session"));
    session_free(&s);
    return 0;
}

int api_logout(struct http_request *req, struct http_response *res, struct error *err)
{
    if (req->auth.via_session) {
        int rc = session_logout(req->app, http_cookie(req, SESSION_COOKIE), err);
        if (rc) return rc;
        res->set_cookie = cookie(req, "", 0);
    }
    response_json(res, 200, json_pack("{s:s}", "message", "Signed out"));
    return 0;
}

int api_session(struct http_request *req, struct http_response *res, struct error *err)
{
    (void)err;
    const struct auth *a = &req->auth;
    response_json(res, 200,
                  a->via_session
                      ? session_json(&a->account, a->csrf_token, a->session_expires_at, "session")
                      : session_json(&a->account, NULL, a->key.expires_at, "api_key"));
    return 0;
}
