/* run: starts a conversation on a server (POST /api/conversations) and follows it live until
 * the agent stops; the exit code says how it ended. A client: see cli/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

#define MAX_TASK 200000 /* characters, as the API allows */

static const struct cli_option options[] = {
    CLIENT_OPTIONS,
    {"repo", "OWNER/REPO", "the repository to work on (cloned, then a pull request opened)"},
    {"branch", "BRANCH", "the branch to start from (default: the repository's default)"},
    {"provider", "NAME",
     "the repository's provider: github, gitlab or git (default: the "
     "server's)"},
    {"json", NULL,
     "print each event as one JSON line (the event object) and nothing else on "
     "stdout; the rest goes to stderr"},
    {NULL, NULL, NULL},
};

/* The task: the words given, joined by spaces; "-" alone reads it from stdin. */
static char *read_task(const struct cli_args *a)
{
    struct buf b = BUF_INIT;
    if (a->argc == 1 && strcmp(a->argv[0], "-") == 0) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
            buf_add(&b, chunk, n);
            if (b.len > MAX_TASK * 4) break;
        }
    } else {
        for (int i = 0; i < a->argc; i++) buf_addf(&b, "%s%s", i ? " " : "", a->argv[i]);
    }
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ')) b.data[--b.len] = '\0';
    if (!b.len) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static int run_exec(const struct cli_args *a)
{
    const char *repo = cli_opt(a, "repo"), *branch = cli_opt(a, "branch"),
               *provider = cli_opt(a, "provider");
    if ((branch || provider) && !repo) {
        cli_error("--branch and --provider go with --repo OWNER/REPO");
        return 2;
    }
    struct client c;
    int rc = client_open(&c, a);
    if (rc) return rc;
    char *task = read_task(a);
    if (!task) {
        cli_error("the task is empty: cloudhands run \"what the agent should do\"");
        client_close(&c);
        return 2;
    }
    json_t *body = json_pack("{s:s}", "initial_user_msg", task);
    if (repo) json_object_set_new(body, "repository", json_string(repo));
    if (branch) json_object_set_new(body, "selected_branch", json_string(branch));
    if (provider) json_object_set_new(body, "git_provider", json_string(provider));
    int64_t started = time_now_us();
    json_t *created = NULL, *conv = NULL;
    rc = client_call(&c, "POST", "/api/conversations", body, &created);
    const char *id = json_get_str(created, "conversation_id");
    if (!rc && !id) {
        cli_error("the server's answer has no conversation_id; is %s a cloudhands server?",
                  c.server);
        rc = 1;
    }
    if (!rc) {
        char *link = client_web_link(&c, id);
        client_say(&c, "%sconversation %s%s", c.color ? "\033[2m" : "", link,
                   c.color ? "\033[0m" : "");
        free(link);
        rc = client_follow(&c, id, started, &conv);
        if (rc == 0) rc = client_summary(&c, conv);
    }
    json_decref(conv);
    json_decref(created);
    json_decref(body);
    free(task);
    client_close(&c);
    return rc;
}

const struct cli_command cmd_run = {
    .name = "run",
    .positional = "TASK",
    .min_args = 1,
    .max_args = 100000,
    .summary = "Start a conversation on a server and follow the agent until it stops.",
    .description =
        "Starts a conversation with TASK (several words are joined; \"-\" reads it from stdin)\n"
        "and prints each agent step as it happens: commands with their exit codes, files read\n"
        "and edited, thoughts, messages; at the end the final message, the pull request and the\n"
        "conversation's link. On a terminal a status line shows the spinner and elapsed time.\n"
        "Ctrl-C stops following, not the conversation: `cloudhands logs ID --follow` resumes.\n"
        "\n"
        "The key: CLOUDHANDS_API_KEY (or --key; the environment keeps it out of `ps`).\n"
        "\n"
        "exit codes: 0 the agent finished; 1 it failed or was stopped, or the server refused\n"
        "(its message is printed); 2 usage; 3 the agent asks a question (answer it with\n"
        "`cloudhands send ID \"...\"`); 130 interrupted.\n"
        "\n"
        "examples:\n"
        "  export CLOUDHANDS_API_KEY=oh_...\n"
        "  cloudhands run \"Add a --verbose flag to the CLI\" --repo you/your-repo\n"
        "  cloudhands run --server https://hands.example.com --json \"Fix the typo\" | jq -c .\n"
        "  cloudhands run - < task.md",
    .options = options,
    .exec = run_exec,
    .client = true,
};
