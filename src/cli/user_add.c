/* user add: creates an account (optionally an administrator, optionally with its own
 * concurrency limit, optionally with a password for the web UI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/accounts.h"
#include "core/sessions.h"
#include "util/crypto.h"

static const struct cli_option options[] = {
    {"admin", NULL, "make the account an administrator"},
    {"max-concurrent", "N",
     "this account's limit of running conversations (default: the server's)"},
    {"password-stdin", NULL,
     "read the web UI password from the first line of stdin (on a terminal it is asked for)"},
    {NULL, NULL, NULL},
};

static int user_add_exec(const struct cli_args *a)
{
    struct error err = {0};
    int64_t id;
    int max;
    char *password;
    if (!cli_opt_int(a, "max-concurrent", 0, 1, 1000000000, &max)) return 2;
    if (!cli_read_password(a, a->argv[0], &password)) return 2;
    if (password && (strlen(password) < PASSWORD_MIN || strlen(password) > PASSWORD_MAX)) {
        cli_error("a password has %d to %d characters", PASSWORD_MIN, PASSWORD_MAX);
        crypto_wipe(password, strlen(password));
        free(password);
        return 2;
    }
    struct app *app = cli_open_app(a);
    int rc = 1;
    if (!app) goto out;
    rc = accounts_create(app, a->argv[0], cli_opt(a, "admin") != NULL, max, &id, &err);
    if (!rc && password) rc = accounts_set_password(app, a->argv[0], password, &err);
    if (rc) {
        cli_error("%s", err.message);
    } else {
        printf("created account %s (id %lld)%s\n", a->argv[0], (long long)id,
               cli_opt(a, "admin") ? ", administrator" : "");
        if (!password)
            printf("no password: %s can use API keys but not sign in to the web UI "
                   "(cloudhands user passwd %s sets one)\n",
                   a->argv[0], a->argv[0]);
    }
    app_close(app);
out:
    if (password) crypto_wipe(password, strlen(password));
    free(password);
    error_clear(&err);
    return rc ? 1 : 0;
}

const struct cli_command cmd_user_add = {
    .name = "user add",
    .positional = "NAME",
    .min_args = 1,
    .max_args = 1,
    .summary = "Create an account.",
    .description = "On a terminal it asks for a password for the web UI (empty: none).\n"
                   "Then give it an API key: cloudhands key create --user NAME --name LABEL",
    .options = options,
    .exec = user_add_exec,
};
