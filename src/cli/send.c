/* send: sends a conversation a message (POST .../message; a stopped conversation starts again to
 * answer it) and follows the agent's answer like `run`. A client: see cli/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

static const struct cli_option options[] = {
    CLIENT_OPTIONS,
    {"no-follow", NULL, "send and return at once, without following the agent"},
    {"json", NULL,
     "print each event as one JSON line (the event object) and nothing else on "
     "stdout"},
    {NULL, NULL, NULL},
};

static int send_exec(const struct cli_args *a)
{
    const char *id = a->argv[0];
    if (!client_check_id(id)) return 2;
    struct buf text = BUF_INIT;
    for (int i = 1; i < a->argc; i++) buf_addf(&text, "%s%s", i > 1 ? " " : "", a->argv[i]);
    if (!text.len) {
        cli_error("the message is empty: cloudhands send ID \"your answer\"");
        return 2;
    }
    struct client c;
    int rc = client_open(&c, a);
    if (rc) {
        buf_release(&text);
        return rc;
    }
    char path[160];
    json_t *last = NULL, *ok = NULL, *conv = NULL;
    /* Follow from the newest event: what came before is `cloudhands logs`. */
    snprintf(path, sizeof(path), "/api/conversations/%s/events?reverse=true&limit=1", id);
    rc = client_call(&c, "GET", path, NULL, &last);
    json_t *newest = json_array_get(json_object_get(last, "events"), 0);
    if (!rc && json_is_integer(json_object_get(newest, "id")))
        c.last_id = json_integer_value(json_object_get(newest, "id"));
    json_t *body = json_pack("{s:s}", "message", text.data);
    snprintf(path, sizeof(path), "/api/conversations/%s/message", id);
    int64_t started = time_now_us();
    if (!rc) rc = client_call(&c, "POST", path, body, &ok);
    if (!rc && cli_opt(a, "no-follow")) {
        char *link = client_web_link(&c, id);
        client_say(&c, "sent; follow the agent with `cloudhands logs %s --follow` or at %s", id,
                   link);
        free(link);
    } else if (!rc) {
        rc = client_follow(&c, id, started, &conv);
        if (rc == 0) rc = client_summary(&c, conv);
    }
    json_decref(conv);
    json_decref(ok);
    json_decref(body);
    json_decref(last);
    buf_release(&text);
    client_close(&c);
    return rc;
}

const struct cli_command cmd_send = {
    .name = "send",
    .positional = "ID MESSAGE",
    .min_args = 2,
    .max_args = 100000,
    .summary = "Send a conversation a message (e.g. an answer) and follow the agent.",
    .description = "Sends MESSAGE (several words are joined) to the conversation ID, which starts\n"
                   "again if it had stopped, and follows the agent as `cloudhands run` does, with\n"
                   "the same exit codes.\n"
                   "\n"
                   "examples:\n"
                   "  cloudhands send 3f2a...c9 \"Yes, keep the old flag as an alias\"\n"
                   "  cloudhands send 3f2a...c9 --no-follow \"Also update the changelog\"",
    .options = options,
    .exec = send_exec,
    .client = true,
};
