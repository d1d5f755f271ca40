/*
 * sessions: signing in to the web UI. An account name and password (argon2id, stored only as
 * its hash) give a session: a random value in an HttpOnly cookie, stored server-side by its
 * keyed hash (like API keys) with an expiry and a CSRF token the page sends back on every
 * state-changing request. Repeated failures lock the account for a while (the failure count
 * and the lock are in the database, so every node sees them).
 */
#ifndef CH_SESSIONS_H
#define CH_SESSIONS_H

#include "core/app.h"
#include "core/auth.h"

#define SESSION_COOKIE         "cloudhands_session"
#define SESSION_VALUE_LEN      64 /* hex of 32 random bytes */
#define CSRF_TOKEN_LEN         64
#define SESSION_COOKIE_GRACE_S 86400 /* the cookie's Max-Age is the session's lifetime + this */
#define PASSWORD_MIN           8
#define PASSWORD_MAX           1024
#define LOGIN_FREE_FAILURES    5   /* failures in a row before the account is locked */
#define LOGIN_LOCK_FIRST_S     30  /* the first lock; each further failure doubles it */
#define LOGIN_LOCK_MAX_S       900 /* at most 15 minutes */
#define SESSION_EXPIRED_MSG    "Your session has expired: sign in again."
#define CSRF_MISSING_MSG       "Missing or wrong CSRF token: reload the page and try again."
#define WRONG_CREDENTIALS_MSG  "Wrong account name or password."

struct session {
    struct account account;
    char value[SESSION_VALUE_LEN + 1]; /* the cookie's value: only in the Set-Cookie answer */
    char csrf_token[CSRF_TOKEN_LEN + 1];
    int64_t expires_at;
};

/* Checks the password and opens a session lasting app->cfg.session_ttl seconds.
 * ERR_UNAUTHORIZED (WRONG_CREDENTIALS_MSG, the same for an unknown name, a wrong password and
 * an account without a password), ERR_LIMIT while the account is locked (retry_after set). */
int session_login(struct app *app, const char *name, const char *password, struct session *out,
                  struct error *err);
/* The caller of a request carrying the cookie value: ERR_UNAUTHORIZED for an unknown or expired
 * session (SESSION_EXPIRED_MSG). Fills who (via_session set, csrf_token). */
int session_authenticate(struct app *app, const char *value, struct auth *who, struct error *err);
int session_logout(struct app *app, const char *value, struct error *err);
void session_free(struct session *s);

/* Sets (or with NULL removes) an account's password, after checking its length. */
int accounts_set_password(struct app *app, const char *name, const char *password,
                          struct error *err);

#endif
