/* user list: prints the accounts, one per line. */
#include <stdio.h>

#include "cli/cli.h"

static int user_list_exec(const struct cli_args *a)
{
    struct error err = {0};
    struct account *list;
    size_t n;
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = app->store->ops->account_list(app->store, &list, &n, &err);
    if (rc) {
        cli_error("%s", err.message);
    } else {
        printf("%-6s %-24s %-6s %s\n", "ID", "NAME", "ADMIN", "MAX_CONCURRENT");
        for (size_t i = 0; i < n; i++) {
            char limit[16];
            snprintf(limit, sizeof(limit), "%d", list[i].max_concurrent);
            printf("%-6lld %-24s %-6s %s\n", (long long)list[i].id, list[i].name,
                   list[i].is_admin ? "yes" : "no",
                   list[i].max_concurrent ? limit : "server default");
        }
        account_list_free(list, n);
    }
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_user_list = {
    .name = "user list",
    .min_args = 0,
    .max_args = 0,
    .summary = "List the accounts.",
    .exec = user_list_exec,
};
