/* keys: generating, recognising, hashing and creating API keys; see keys.h. */
#include "core/keys.h"

#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

void api_key_generate(char out[API_KEY_LEN + 1])
{
    uint8_t raw[32];
    crypto_random(raw, sizeof(raw));
    memcpy(out, API_KEY_PREFIX, 3);
    crypto_hex(raw, sizeof(raw), out + 3);
    crypto_wipe(raw, sizeof(raw));
}

bool api_key_well_formed(const char *key)
{
    if (!key || strncmp(key, API_KEY_PREFIX, 3) != 0 || strlen(key) != API_KEY_LEN) return false;
    for (const char *p = key + 3; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

void api_key_hash(const struct app *app, const char *key, char out[KEYED_HASH_HEX])
{
    crypto_keyed_hash_hex(app->secret, key, strlen(key), out);
}

int keys_create(struct app *app, int64_t account_id, const char *name, int64_t expires_at,
                struct api_key *out, char key_out[API_KEY_LEN + 1], struct error *err)
{
    int64_t now = time_now_us();
    size_t n = name ? utf8_length(name) : 0;
    if (n == 0) return error_invalid(err, "name", "missing", "Give the key a descriptive name");
    if (n > API_KEY_NAME_MAX)
        return error_invalid(err, "name", "string_too_long",
                             "String should have at most %d characters", API_KEY_NAME_MAX);
    if (expires_at && expires_at <= now)
        return error_invalid(err, "expires_at", "datetime_future", "Expiry must be in the future");

    char hash[KEYED_HASH_HEX];
    api_key_generate(key_out);
    api_key_hash(app, key_out, hash);
    int64_t id;
    int rc =
        app->store->ops->key_create(app->store, account_id, name, hash, now, expires_at, &id, err);
    if (rc) {
        crypto_wipe(key_out, API_KEY_LEN + 1);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->account_id = account_id;
    out->name = xstrdup(name);
    out->created_at = now;
    out->expires_at = expires_at;
    return 0;
}
