/* logs: a conversation's events so far (GET .../events, a page of 100 at a time), and with
 * --follow the rest live until the agent stops. A client: see cli/client.h. */
#include <stdio.h>

#include "cli/client.h"
#include "util/json.h"
#include "util/timeutil.h"

static const struct cli_option options[] = {
    CLIENT_OPTIONS,
    {"follow", NULL,
     "then follow the conversation live until the agent stops (exit codes as "
     "`cloudhands run`)"},
    {"json", NULL,
     "print each event as one JSON line (the event object) and nothing else on "
     "stdout"},
    {NULL, NULL, NULL},
};

static int logs_exec(const struct cli_args *a)
{
    const char *id = a->argv[0];
    if (!client_check_id(id)) return 2;
    struct client c;
    int rc = client_open(&c, a);
    if (rc) return rc;
    char path[160];
    json_t *conv = NULL, *end = NULL;
    snprintf(path, sizeof(path), "/api/conversations/%s", id);
    rc = client_call(&c, "GET", path, NULL, &conv);
    if (!rc && !json_is_object(conv)) {
        cli_error("no conversation %s on %s for this key (`cloudhands conversations` lists "
                  "yours)",
                  id, c.server);
        rc = 1;
    }
    if (!rc) rc = client_replay(&c, id);
    if (!rc && cli_opt(a, "follow")) {
        int64_t since = time_now_us();
        const char *created = json_get_str(conv, "created_at");
        if (created && !time_parse_iso(created, &since)) since = time_now_us();
        rc = client_follow(&c, id, since, &end);
        if (rc == 0) rc = client_summary(&c, end);
    } else if (!rc && client_conversation_active(conv)) {
        client_say(&c, "(still running: `cloudhands logs %s --follow` follows it)", id);
    } else if (!rc) {
        client_summary(&c, conv); /* how it ended; the exit code stays 0: the log was shown */
    }
    json_decref(end);
    json_decref(conv);
    client_close(&c);
    return rc;
}

const struct cli_command cmd_logs = {
    .name = "logs",
    .positional = "ID",
    .min_args = 1,
    .max_args = 1,
    .summary = "Show a conversation's events; --follow to watch it live.",
    .description = "Prints the events so far, one readable line per agent step (or JSON lines\n"
                   "with --json), then with --follow the rest as it happens until the agent\n"
                   "stops. Ctrl-C stops following, not the conversation.\n"
                   "\n"
                   "examples:\n"
                   "  cloudhands logs 3f2a...c9\n"
                   "  cloudhands logs 3f2a...c9 --follow\n"
                   "  cloudhands logs 3f2a...c9 --json | jq -r 'select(.action == \"run\") | "
                   ".args.command'",
    .options = options,
    .exec = logs_exec,
    .client = true,
};
