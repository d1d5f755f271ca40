/* node list: the nodes (data directories that run conversations) sharing this database, whether
 * each is alive, where it serves its workspaces and how many it holds (docs/DEPLOYMENT.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/timeutil.h"

static int node_list_exec(const struct cli_args *a)
{
    struct error err = {0};
    struct node *list;
    size_t n;
    struct app *app = cli_open_app(a);
    if (!app) return 1;
    int rc = app->store->ops->node_list(app->store, &list, &n, &err);
    if (rc) {
        cli_error("%s", err.message);
    } else {
        int64_t now = time_now_us();
        printf("%-32s %-5s %-10s %-32s %s\n", "NODE", "HERE", "STATE", "URL", "WORKSPACES");
        for (size_t i = 0; i < n; i++) {
            char state[32];
            int64_t gone_s = (now - list[i].alive_until) / USEC_PER_SEC;
            if (now <= list[i].alive_until)
                snprintf(state, sizeof(state), "alive");
            else if (gone_s < 3600)
                snprintf(state, sizeof(state), "gone %llds", (long long)gone_s);
            else
                snprintf(state, sizeof(state), "gone %lldh", (long long)(gone_s / 3600));
            printf("%-32s %-5s %-10s %-32s %lld\n", list[i].id,
                   strcmp(list[i].id, app->node_id) == 0 ? "yes" : "", state,
                   list[i].url ? list[i].url : "-", (long long)list[i].workspaces);
        }
        node_list_free(list, n);
    }
    error_clear(&err);
    app_close(app);
    return rc ? 1 : 0;
}

const struct cli_command cmd_node_list = {
    .name = "node list",
    .min_args = 0,
    .max_args = 0,
    .summary = "List the nodes that run conversations on this database, and their workspaces.",
    .description = "A node is a data directory (its node.id) with the processes that use it.\n"
                   "HERE marks this data directory's own. A node is alive while it renews its\n"
                   "liveness (every third of --lease-seconds); URL is where the API nodes read\n"
                   "its workspaces (- : nowhere, start its worker with --listen).",
    .exec = node_list_exec,
};
