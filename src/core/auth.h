/*
 * auth: who is calling. Turns the `Authorization: Bearer <key>` header into the caller's
 * account and key, or a 401 with a message that says what to do. Expired and revoked keys
 * are refused at once (no cache: revocation is immediate, on every node).
 */
#ifndef CH_AUTH_H
#define CH_AUTH_H

#include "core/app.h"
#include "util/timeutil.h"

/* How often the stored last_used_at of a key is refreshed at most (one write per minute per
 * key keeps the authenticated read path free of writes). */
#define KEY_TOUCH_INTERVAL_US (60 * USEC_PER_SEC)

struct auth {
    struct account account;
    struct api_key key;  /* an API key caller's key (empty for a session) */
    bool via_session;    /* signed in to the web UI (core/sessions.h) */
    char csrf_token[65]; /* the session's CSRF token */
    int64_t session_expires_at;
};

int auth_bearer(struct app *app, const char *authorization, struct auth *out, struct error *err);
void auth_free(struct auth *a);
/* The concurrency limit that applies to an account: its own, or the server's. */
int auth_account_limit(const struct app *app, const struct account *account);

#endif
