/* user add: creates an account (optionally an administrator, optionally with its own
 * concurrency limit). */
#include <stdio.h>

#include "cli/cli.h"
#include "core/accounts.h"

static const struct cli_option options[] = {
    {"admin", NULL, "make the account an administrator"},
    {"max-concurrent", "N",
     "this account's limit of running conversations (default: the server's)"},
    {NULL, NULL, NULL},
};

static int user_add_exec(const struct cli_args *a)
{
    struct error err = {0};
    int64_t id;
    int max;
    if (!cli_opt_int(a, "max-concurrent", 0, 1, 1000000000, &max)) return 2;
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = accounts_create(app, a->argv[0], cli_opt(a, "admin") != NULL, max, &id, &err);
    if (rc)
        cli_error("%s", err.message);
    else
        printf("created account %s (id %lld)%s\n", a->argv[0], (long long)id,
               cli_opt(a, "admin") ? ", administrator" : "");
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_user_add = {
    .name = "user add",
    .positional = "NAME",
    .min_args = 1,
    .max_args = 1,
    .summary = "Create an account.",
    .description = "Then give it an API key: cloudhands key create --user NAME --name LABEL",
    .options = options,
    .exec = user_add_exec,
};
