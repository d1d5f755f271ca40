/* auth: API-key authentication; see auth.h. */
#include "core/auth.h"

#include <string.h>
#include <strings.h>

#include "core/keys.h"
#include "util/timeutil.h"

#define HOW_TO_GET_A_KEY                                                                           \
    "Create a key in Settings > API Keys, or with `cloudhands key create --user NAME --name "      \
    "LABEL`, and send it as `Authorization: Bearer <key>`."

int auth_bearer(struct app *app, const char *authorization, struct auth *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!authorization || !*authorization)
        return error_set(err, ERR_UNAUTHORIZED, "Missing API key. " HOW_TO_GET_A_KEY);
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return error_set(err, ERR_UNAUTHORIZED,
                         "Unsupported Authorization scheme; use `Authorization: Bearer <key>`.");
    const char *key = authorization + 7;
    while (*key == ' ') key++;
    if (!api_key_well_formed(key))
        return error_set(err, ERR_UNAUTHORIZED,
                         "Malformed API key: keys start with \"oh_\" followed by 64 hex "
                         "characters. " HOW_TO_GET_A_KEY);

    char hash[KEYED_HASH_HEX], stored[KEYED_HASH_HEX] = "";
    int64_t now = time_now_us();
    api_key_hash(app, key, hash);
    int rc = app->store->ops->key_authenticate(app->store, hash, now, now - KEY_TOUCH_INTERVAL_US,
                                               &out->key, &out->account, stored, err);
    if (rc == ERR_UNAUTHORIZED || rc == ERR_NOT_FOUND || (!rc && !crypto_equal(hash, stored, 64))) {
        auth_free(out);
        return error_set(err, ERR_UNAUTHORIZED,
                         "Invalid API key: it is unknown or has been revoked. " HOW_TO_GET_A_KEY);
    }
    if (rc) return rc;
    if (out->key.expires_at && out->key.expires_at <= now) {
        char iso[ISO_TIME_LEN];
        time_format_iso(out->key.expires_at, iso);
        auth_free(out);
        return error_set(err, ERR_UNAUTHORIZED, "API key expired at %s. " HOW_TO_GET_A_KEY, iso);
    }
    return 0;
}

void auth_free(struct auth *a)
{
    account_free(&a->account);
    api_key_free(&a->key);
}

int auth_account_limit(const struct app *app, const struct account *account)
{
    return account->max_concurrent > 0 ? account->max_concurrent : app->cfg.max_concurrent;
}
