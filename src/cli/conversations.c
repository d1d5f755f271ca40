/* conversations: the account's conversations on a server, newest first (GET /api/conversations,
 * paged): a table, or with --json one conversation object per line. A client: see
 * cli/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/client.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

#define PAGE 100

static const struct cli_option options[] = {
    CLIENT_OPTIONS,
    {"limit", "N", "at most N conversations (default 20)"},
    {"json", NULL, "one JSON object per line, as GET /api/conversations/{id} shows it"},
    {NULL, NULL, NULL},
};

/* What the conversation is doing, in one word: "running", "finished", "error", ... */
static const char *state_word(json_t *conv)
{
    const char *status = json_get_str(conv, "status"), *agent = json_get_str(conv, "agent_state");
    if (!status) return "?";
    if (strcmp(status, "STARTING") == 0) return "queued";
    if (strcmp(status, "RUNNING") == 0) return agent && *agent ? agent : "running";
    if (strcmp(status, "STOPPED") == 0 && agent && *agent) return agent;
    return strcmp(status, "STOPPED") == 0 ? "stopped" : status;
}

/* "12s ago", "5m ago", "3h ago", "2d ago", else the date. */
static void when(const char *iso, char *out, size_t size)
{
    int64_t us;
    if (!iso || !time_parse_iso(iso, &us)) {
        snprintf(out, size, "-");
        return;
    }
    long long s = (long long)((time_now_us() - us) / USEC_PER_SEC);
    if (s < 0) s = 0;
    if (s < 60)
        snprintf(out, size, "%llds ago", s);
    else if (s < 3600)
        snprintf(out, size, "%lldm ago", s / 60);
    else if (s < 86400)
        snprintf(out, size, "%lldh ago", s / 3600);
    else if (s < 30 * 86400)
        snprintf(out, size, "%lldd ago", s / 86400);
    else
        snprintf(out, size, "%.10s", iso);
}

/* Appends s with control characters dropped, at most max characters (0: all). */
static void add_cell(struct buf *b, const char *s, int max)
{
    int n = 0;
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) ch = ' ';
        if ((ch & 0xC0) != 0x80) {
            if (max && n == max - 1 && s[1]) {
                buf_adds(b, "~");
                return;
            }
            n++;
        }
        buf_addch(b, (char)ch);
    }
}

static int conversations_exec(const struct cli_args *a)
{
    int limit;
    if (!cli_opt_int(a, "limit", 20, 1, 100000, &limit)) return 2;
    struct client c;
    int rc = client_open(&c, a);
    if (rc) return rc;
    json_t *all = json_array();
    char *page_id = NULL;
    while (!rc && (int)json_array_size(all) < limit) {
        struct buf path = BUF_INIT;
        int want = limit - (int)json_array_size(all);
        buf_addf(&path, "/api/conversations?limit=%d", want < PAGE ? want : PAGE);
        if (page_id) buf_addf(&path, "&page_id=%s", page_id);
        json_t *page;
        rc = client_call(&c, "GET", path.data, NULL, &page);
        buf_release(&path);
        if (rc) break;
        json_array_extend(all, json_object_get(page, "results"));
        const char *next = json_get_str(page, "next_page_id");
        free(page_id);
        page_id = next ? xstrdup(next) : NULL;
        json_decref(page);
        if (!page_id) break;
    }
    free(page_id);
    size_t i;
    json_t *conv;
    if (!rc && c.json) {
        json_array_foreach(all, i, conv)
        {
            struct buf line = BUF_INIT;
            buf_add_json(&line, conv);
            puts(line.data);
            buf_release(&line);
        }
    } else if (!rc && json_array_size(all) == 0) {
        fprintf(stderr, "No conversations yet: start one with `cloudhands run \"a task\"`.\n");
    } else if (!rc) {
        bool terminal = isatty(STDOUT_FILENO);
        struct winsize ws;
        int columns =
            terminal && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 0;
        int repo_width = 10, state_width = 5;
        json_array_foreach(all, i, conv)
        {
            const char *r = json_get_str(conv, "selected_repository");
            int n = r ? (int)utf8_length(r) : 1;
            if (n > repo_width) repo_width = n > 40 ? 40 : n;
            if ((int)strlen(state_word(conv)) > state_width)
                state_width = (int)strlen(state_word(conv));
        }
        /* id 32, state, updated 10, then the repository; the title takes the rest. */
        int title_width =
            columns ? columns - (32 + 2 + state_width + 2 + 10 + 2 + repo_width + 2) : 0;
        if (columns && title_width < 10) title_width = 10;
        printf("%-32s  %-*s  %-10s  %-*s  %s\n", "ID", state_width, "STATE", "UPDATED", repo_width,
               "REPOSITORY", "TITLE");
        json_array_foreach(all, i, conv)
        {
            char updated[32];
            when(json_get_str(conv, "last_updated_at"), updated, sizeof(updated));
            const char *r = json_get_str(conv, "selected_repository");
            struct buf repo = BUF_INIT, title = BUF_INIT;
            add_cell(&repo, r ? r : "-", repo_width);
            add_cell(&title, json_get_str(conv, "title"), title_width);
            int pad = repo_width - (int)utf8_length(repo.data);
            const char *id = json_get_str(conv, "conversation_id");
            printf("%-32s  %-*s  %-10s  %s%*s  %s\n", id ? id : "?", state_width, state_word(conv),
                   updated, repo.data, pad > 0 ? pad : 0, "", title.data);
            buf_release(&repo);
            buf_release(&title);
        }
    }
    fflush(stdout);
    json_decref(all);
    client_close(&c);
    return rc;
}

const struct cli_command cmd_conversations = {
    .name = "conversations",
    .min_args = 0,
    .max_args = 0,
    .summary = "List your conversations on a server, newest first.",
    .description =
        "One row per conversation: its id (for `cloudhands logs ID`, `stop ID`, `send ID`),\n"
        "what it is doing (queued, running, finished, awaiting_user_input, error,\n"
        "stopped), when it last changed, its repository and title.\n"
        "\n"
        "examples:\n"
        "  cloudhands conversations\n"
        "  cloudhands conversations --limit 200 --json | jq -r 'select(.agent_state == "
        "\"error\") | .conversation_id'",
    .options = options,
    .exec = conversations_exec,
    .client = true,
};
