/* sessions: web sign-in, sessions and their CSRF tokens; see sessions.h. */
#include "core/sessions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/json.h"
#include "util/timeutil.h"

/* A hash to verify against when there is no account or no password, so that a failed sign-in
 * takes the same time either way. */
static char *dummy;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void make_dummy(void)
{
    dummy = crypto_password_hash("not the password of anybody");
}

static void hash_value(const struct app *app, const char *value, char out[KEYED_HASH_HEX])
{
    crypto_keyed_hash_hex(app->secret, value, strlen(value), out);
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    crypto_random(raw, bytes);
    crypto_hex(raw, bytes, out);
    crypto_wipe(raw, sizeof(raw));
}

static int64_t lock_seconds(int failures)
{
    int over = failures - LOGIN_FREE_FAILURES;
    if (over < 0) return 0;
    int64_t s = LOGIN_LOCK_FIRST_S;
    for (int i = 0; i < over && s < LOGIN_LOCK_MAX_S; i++) s *= 2;
    return s > LOGIN_LOCK_MAX_S ? LOGIN_LOCK_MAX_S : s;
}

int session_login(struct app *app, const char *name, const char *password, struct session *out,
                  struct error *err)
{
    memset(out, 0, sizeof(*out));
    struct store *st = app->store;
    char *hash = NULL;
    int failures = 0;
    int64_t locked_until = 0, now = time_now_us();
    int rc =
        st->ops->account_login_info(st, name, &out->account, &hash, &failures, &locked_until, err);
    if (rc && rc != ERR_NOT_FOUND) return rc;
    error_clear(err);
    if (rc == 0 && locked_until > now) {
        free(hash);
        account_free(&out->account);
        long wait = (long)((locked_until - now + USEC_PER_SEC - 1) / USEC_PER_SEC);
        error_set(err, ERR_LIMIT,
                  "Too many failed sign-ins for this account: try again in %ld seconds.", wait);
        if (err) err->retry_after = wait;
        return ERR_LIMIT;
    }
    bool ok;
    if (rc == 0 && hash) {
        ok = crypto_password_verify(hash, password);
    } else {
        pthread_once(&dummy_once, make_dummy);
        crypto_password_verify(dummy, password); /* same work as a real check */
        ok = false;
    }
    free(hash);
    if (rc == ERR_NOT_FOUND || !ok) {
        if (rc == 0) {
            failures++;
            int64_t lock = lock_seconds(failures);
            st->ops->account_login_update(st, out->account.id, failures,
                                          lock ? now + lock * USEC_PER_SEC : 0, NULL);
        }
        account_free(&out->account);
        return error_set(err, ERR_UNAUTHORIZED, WRONG_CREDENTIALS_MSG);
    }
    if (failures || locked_until) st->ops->account_login_update(st, out->account.id, 0, 0, NULL);

    char id_hash[KEYED_HASH_HEX];
    random_hex(out->value, SESSION_VALUE_LEN / 2);
    random_hex(out->csrf_token, CSRF_TOKEN_LEN / 2);
    hash_value(app, out->value, id_hash);
    out->expires_at = now + (int64_t)app->cfg.session_ttl * USEC_PER_SEC;
    rc = st->ops->session_create(st, id_hash, out->account.id, out->csrf_token, now,
                                 out->expires_at, err);
    if (rc) session_free(out);
    return rc;
}

int session_authenticate(struct app *app, const char *value, struct auth *who, struct error *err)
{
    memset(who, 0, sizeof(*who));
    if (!value || strlen(value) != SESSION_VALUE_LEN)
        return error_set(err, ERR_UNAUTHORIZED, SESSION_EXPIRED_MSG);
    char id_hash[KEYED_HASH_HEX];
    int64_t expires_at;
    hash_value(app, value, id_hash);
    int rc = app->store->ops->session_get(app->store, id_hash, &who->account, who->csrf_token,
                                          &expires_at, err);
    if (rc == ERR_UNAUTHORIZED || (!rc && expires_at <= time_now_us())) {
        auth_free(who);
        return error_set(err, ERR_UNAUTHORIZED, SESSION_EXPIRED_MSG);
    }
    if (rc) return rc;
    who->via_session = true;
    who->session_expires_at = expires_at;
    return 0;
}

int session_logout(struct app *app, const char *value, struct error *err)
{
    if (!value) return 0;
    char id_hash[KEYED_HASH_HEX];
    hash_value(app, value, id_hash);
    return app->store->ops->session_delete(app->store, id_hash, err);
}

void session_free(struct session *s)
{
    account_free(&s->account);
    crypto_wipe(s->value, sizeof(s->value));
    memset(s, 0, sizeof(*s));
}

int accounts_set_password(struct app *app, const char *name, const char *password,
                          struct error *err)
{
    char *hash = NULL;
    if (password) {
        size_t n = utf8_length(password);
        if (n < PASSWORD_MIN || strlen(password) > PASSWORD_MAX)
            return error_set(err, ERR_INVALID, "A password has %d to %d characters", PASSWORD_MIN,
                             PASSWORD_MAX);
        hash = crypto_password_hash(password);
        if (!hash) return error_set(err, ERR_INTERNAL, "cannot hash the password (out of memory?)");
    }
    int rc = app->store->ops->account_set_password(app->store, name, hash, err);
    free(hash);
    return rc;
}
