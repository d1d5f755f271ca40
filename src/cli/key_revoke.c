/* key revoke: revokes a key by id (as `key list` shows it); it stops working at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/timeutil.h"

static int key_revoke_exec(const struct cli_args *a)
{
    struct error err = {0};
    char *end;
    errno = 0;
    long long id = strtoll(a->argv[0], &end, 10);
    if (*end || errno || id <= 0) {
        cli_error("key id must be a positive number, as `cloudhands key list` shows");
        return 2;
    }
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = app->store->ops->key_revoke(app->store, 0, id, time_now_us(), &err);
    if (rc == ERR_NOT_FOUND)
        cli_error("no active key with id %lld", id);
    else if (rc)
        cli_error("%s", err.message);
    else
        printf("revoked key %lld\n", id);
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_key_revoke = {
    .name = "key revoke",
    .positional = "ID",
    .min_args = 1,
    .max_args = 1,
    .summary = "Revoke an API key; requests with it get 401 at once.",
    .exec = key_revoke_exec,
};
