/* user passwd: sets (or with --remove, removes) an account's web UI password. Also lifts a
 * lock that failed sign-ins put on the account. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/sessions.h"
#include "util/crypto.h"

static const struct cli_option options[] = {
    {"password-stdin", NULL,
     "read the password from the first line of stdin (on a terminal it is asked for)"},
    {"remove", NULL, "remove the password: the account can no longer sign in to the web UI"},
    {NULL, NULL, NULL},
};

static int user_passwd_exec(const struct cli_args *a)
{
    struct error err = {0};
    char *password = NULL;
    bool remove = cli_opt(a, "remove") != NULL;
    if (!remove) {
        if (!cli_read_password(a, a->argv[0], &password)) return 2;
        if (!password) {
            cli_error("no password given: use --password-stdin, run it on a terminal, or "
                      "--remove");
            return 2;
        }
    }
    struct app *app = cli_open_app(a);
    int rc = 1;
    if (app) {
        rc = accounts_set_password(app, a->argv[0], password, &err);
        if (rc)
            cli_error("%s", err.message);
        else
            printf("%s the password of %s\n", remove ? "removed" : "set", a->argv[0]);
        app_close(app);
    }
    if (password) crypto_wipe(password, strlen(password));
    free(password);
    error_clear(&err);
    return rc ? 1 : 0;
}

const struct cli_command cmd_user_passwd = {
    .name = "user passwd",
    .positional = "NAME",
    .min_args = 1,
    .max_args = 1,
    .summary = "Set an account's web UI password.",
    .description = "Signs nobody out; lifts a lock from failed sign-ins.",
    .options = options,
    .exec = user_passwd_exec,
};
