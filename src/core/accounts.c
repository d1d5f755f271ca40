/* accounts: validation, creation and the first-start bootstrap; see accounts.h. */
#include "core/accounts.h"

#include "core/sessions.h"
#include "util/crypto.h"

#include <ctype.h>
#include <string.h>

#include "util/timeutil.h"

bool account_name_valid(const char *name)
{
    if (!name) return false;
    size_t n = strlen(name);
    if (n == 0 || n > ACCOUNT_NAME_MAX || name[0] == '-') return false;
    for (; *name; name++)
        if (!isalnum((unsigned char)*name) && !strchr("-_.@", *name)) return false;
    return true;
}

int accounts_create(struct app *app, const char *name, bool is_admin, int max_concurrent,
                    int64_t *id, struct error *err)
{
    if (!account_name_valid(name))
        return error_invalid(err, "name", "string_pattern_mismatch",
                             "account names are 1 to %d letters, digits, '-', '_', '.' or '@'",
                             ACCOUNT_NAME_MAX);
    return app->store->ops->account_create(app->store, name, is_admin, max_concurrent,
                                           time_now_us(), id, err);
}

/* Letters and digits without the ones people confuse (0/O, 1/l/I). */
static void random_password(char out[BOOTSTRAP_PASSWORD_LEN + 1])
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char raw[BOOTSTRAP_PASSWORD_LEN];
    crypto_random(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++) out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
    out[BOOTSTRAP_PASSWORD_LEN] = '\0';
    crypto_wipe(raw, sizeof(raw));
}

int accounts_bootstrap(struct app *app, char key_out[API_KEY_LEN + 1],
                       char password_out[BOOTSTRAP_PASSWORD_LEN + 1], struct error *err)
{
    int64_t n, id;
    struct api_key k;
    int rc = app->store->ops->account_count(app->store, &n, err);
    if (rc) return rc;
    if (n > 0) return 0;
    rc = accounts_create(app, BOOTSTRAP_ACCOUNT, true, 0, &id, err);
    if (rc == ERR_CONFLICT) { /* another process bootstrapped at the same moment */
        error_clear(err);
        return 0;
    }
    if (rc) return rc;
    rc = keys_create(app, id, "initial key", 0, &k, key_out, err);
    if (rc) return rc;
    api_key_free(&k);
    random_password(password_out);
    rc = accounts_set_password(app, BOOTSTRAP_ACCOUNT, password_out, err);
    return rc ? rc : 1;
}
