/* key list: prints an account's keys (never the keys themselves: only their records). */
#include <stdio.h>

#include "cli/cli.h"
#include "util/timeutil.h"

static const struct cli_option options[] = {
    {"user", "NAME", "the account (required)"},
    {NULL, NULL, NULL},
};

static const char *when(int64_t us, char buf[ISO_TIME_LEN])
{
    return us ? time_format_iso(us, buf) : "-";
}

static int key_list_exec(const struct cli_args *a)
{
    struct error err = {0};
    struct account acct = {0};
    struct api_key *keys = NULL;
    size_t n = 0;
    const char *user = cli_opt(a, "user");
    if (!user) {
        cli_error("'key list' needs --user NAME");
        return 2;
    }
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = app->store->ops->account_get_by_name(app->store, user, &acct, &err);
    if (rc == ERR_NOT_FOUND)
        cli_error("no account named \"%s\"", user);
    else if (rc)
        cli_error("%s", err.message);
    if (!rc && (rc = app->store->ops->key_list(app->store, acct.id, &keys, &n, &err)))
        cli_error("%s", err.message);
    if (!rc) {
        char c[ISO_TIME_LEN], u[ISO_TIME_LEN], e[ISO_TIME_LEN];
        printf("%-6s %-20s %-28s %-28s %s\n", "ID", "NAME", "CREATED", "LAST_USED", "EXPIRES");
        for (size_t i = 0; i < n; i++)
            printf("%-6lld %-20s %-28s %-28s %s\n", (long long)keys[i].id, keys[i].name,
                   when(keys[i].created_at, c), when(keys[i].last_used_at, u),
                   when(keys[i].expires_at, e));
        api_key_list_free(keys, n);
    }
    account_free(&acct);
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_key_list = {
    .name = "key list",
    .min_args = 0,
    .max_args = 0,
    .summary = "List an account's API keys.",
    .options = options,
    .exec = key_list_exec,
};
