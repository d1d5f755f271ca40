/* key create: makes an API key for an account and prints it alone on stdout (so scripts
 * can capture it); it is never shown again. */
#include <stdio.h>

#include "cli/cli.h"
#include "core/keys.h"
#include "util/timeutil.h"

static const struct cli_option options[] = {
    {"user", "NAME", "the account the key belongs to (required)"},
    {"name", "LABEL", "a descriptive name, e.g. \"CI\" or \"laptop\" (required)"},
    {"expires", "ISO8601", "when the key stops working, e.g. 2026-12-31T23:59:59Z"},
    {NULL, NULL, NULL},
};

static int key_create_exec(const struct cli_args *a)
{
    struct error err = {0};
    struct account acct = {0};
    struct api_key k;
    char key[API_KEY_LEN + 1];
    int64_t expires = 0;
    const char *user = cli_opt(a, "user"), *name = cli_opt(a, "name"), *exp = cli_opt(a, "expires");
    if (!user || !name) {
        cli_error("'key create' needs --user NAME and --name LABEL");
        cli_usage(a->cmd, false);
        return 2;
    }
    if (exp && !time_parse_iso(exp, &expires)) {
        cli_error("--expires must be an ISO-8601 date or time, e.g. 2026-12-31T23:59:59Z");
        return 2;
    }
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = app->store->ops->account_get_by_name(app->store, user, &acct, &err);
    if (rc == ERR_NOT_FOUND)
        cli_error("no account named \"%s\"; create it with: cloudhands user add %s", user, user);
    else if (rc)
        cli_error("%s", err.message);
    if (!rc && (rc = keys_create(app, acct.id, name, expires, &k, key, &err)))
        cli_error("%s", err.message);
    if (!rc) {
        printf("%s\n", key);
        fflush(stdout);
        crypto_wipe(key, sizeof(key));
        fprintf(stderr, "cloudhands: created key %lld \"%s\" for %s; it is shown only this once\n",
                (long long)k.id, name, user);
        api_key_free(&k);
    }
    account_free(&acct);
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_key_create = {
    .name = "key create",
    .min_args = 0,
    .max_args = 0,
    .summary = "Create an API key and print it (alone, on stdout) once.",
    .options = options,
    .exec = key_create_exec,
};
