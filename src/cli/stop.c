/* stop: stops a conversation on a server (POST .../stop): its agent and sandbox end at once, its
 * events and workspace stay. A client: see cli/client.h. */
#include <stdio.h>

#include "cli/client.h"
#include "util/json.h"

static const struct cli_option options[] = {
    CLIENT_OPTIONS,
    {NULL, NULL, NULL},
};

static int stop_exec(const struct cli_args *a)
{
    const char *id = a->argv[0];
    if (!client_check_id(id)) return 2;
    struct client c;
    int rc = client_open(&c, a);
    if (rc) return rc;
    char path[160];
    json_t *answer = NULL;
    snprintf(path, sizeof(path), "/api/conversations/%s/stop", id);
    rc = client_call(&c, "POST", path, NULL, &answer);
    if (!rc) {
        const char *status = json_get_str(answer, "conversation_status");
        client_say(&c, "%s: %s (status %s)", id,
                   json_get_str(answer, "message") ? json_get_str(answer, "message") : "stopped",
                   status ? status : "STOPPED");
    }
    json_decref(answer);
    client_close(&c);
    return rc;
}

const struct cli_command cmd_stop = {
    .name = "stop",
    .positional = "ID",
    .min_args = 1,
    .max_args = 1,
    .summary = "Stop a running conversation (its events and workspace stay).",
    .description = "The agent and its sandbox stop at once; `cloudhands send ID \"...\"` starts\n"
                   "it again.\n"
                   "\n"
                   "example:\n"
                   "  cloudhands stop 3f2a...c9",
    .options = options,
    .exec = stop_exec,
    .client = true,
};
