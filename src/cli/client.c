/* client: the server, key, requests and output shared by the client commands; see client.h. */
#include "cli/client.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/timeutil.h"

#define DEFAULT_SERVER      "http://127.0.0.1:3000"
#define REQUEST_TIMEOUT_S   30
#define STREAM_SILENCE_S    45  /* the server sends a keep-alive every 15 s */
#define RECONNECT_GIVE_UP_S 300 /* of failed reconnects in a row */
#define RECONNECT_MAX_MS    10000
#define STATUS_TICK_MS      100
#define MAX_SSE_LINE        (64u << 20)
#define MAX_ERROR_BODY      (1u << 20)
#define ONE_LINE_CHARS      240
#define WORKSPACE_PREFIX    "/workspace/"
#define SGR_DIM             "\033[2m"
#define SGR_RED             "\033[31m"
#define SGR_GREEN           "\033[32m"
#define SGR_YELLOW          "\033[33m"
#define SGR_BOLD            "\033[1m"
#define SGR_RESET           "\033[0m"
#define CLEAR_LINE          "\r\033[K"

/* Ctrl-C while following: stops the request (http_client's cancel flag) and the follow loop. */
static atomic_int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

/* ---- markers ----------------------------------------------------------------------------- */

struct symbols {
    const char *user, *agent, *thought, *arrow, *edit, *read, *git, *error, *done, *waiting,
        *stopped, *info, *ellipsis, *dot;
    const char *const *spinner;
    int frames;
};

static const char *const utf8_spinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
static const char *const ascii_spinner[] = {"|", "/", "-", "\\"};

static const struct symbols utf8_symbols = {
    .user = "›",
    .agent = "◆",
    .thought = "·",
    .arrow = "→",
    .edit = "✎",
    .read = "◎",
    .git = "⎇",
    .error = "✗",
    .done = "✓",
    .waiting = "?",
    .stopped = "■",
    .info = "•",
    .ellipsis = "…",
    .dot = "·",
    .spinner = utf8_spinner,
    .frames = 10,
};
/* Outside a UTF-8 locale. */
static const struct symbols ascii_symbols = {
    .user = ">",
    .agent = "<",
    .thought = "~",
    .arrow = "->",
    .edit = "+",
    .read = "-",
    .git = "git:",
    .error = "!",
    .done = "=>",
    .waiting = "?",
    .stopped = "x",
    .info = "*",
    .ellipsis = "...",
    .dot = "-",
    .spinner = ascii_spinner,
    .frames = 4,
};

static const struct symbols *sym(const struct client *c)
{
    return c->utf8 ? &utf8_symbols : &ascii_symbols;
}

static const char *sgr(const struct client *c, const char *code)
{
    return c->color ? code : "";
}

static bool locale_is_utf8(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
    }
    return false;
}

/* ---- the status line --------------------------------------------------------------------- */

struct client_status {
    pthread_mutex_t mu;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    bool active; /* drawn below the output while following */
    bool shown;  /* on screen now */
    unsigned frame;
    int64_t since_us;
    char state[160]; /* "running", "reconnecting in 2s: ..." */
    char step[200];  /* the step in progress, e.g. "$ sleep 30" */
};

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

static void format_duration(int64_t us, char *out, size_t size)
{
    long long s = us > 0 ? us / USEC_PER_SEC : 0;
    if (s >= 3600)
        snprintf(out, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, size, "%lld:%02lld", s / 60, s % 60);
}

/* Appends `s` but at most `*room` characters (UTF-8 code points) of it. */
static void add_fitting(struct buf *b, const char *s, int *room)
{
    for (; *s && *room > 0; (*room)--) {
        size_t n = 1;
        while ((s[n] & 0xC0) == 0x80) n++;
        buf_add(b, s, n);
        s += n;
    }
}

static void status_draw_locked(struct client *c)
{
    struct client_status *st = c->status;
    const struct symbols *y = sym(c);
    char elapsed[32];
    format_duration(time_now_us() - st->since_us, elapsed, sizeof(elapsed));
    int room = terminal_columns() - 1; /* a full line would wrap, and \r could not clear it */
    struct buf b = BUF_INIT;
    buf_adds(&b, CLEAR_LINE);
    buf_adds(&b, sgr(c, SGR_BOLD));
    add_fitting(&b, y->spinner[st->frame % (unsigned)y->frames], &room);
    buf_adds(&b, sgr(c, SGR_RESET));
    add_fitting(&b, " ", &room);
    add_fitting(&b, st->state, &room);
    add_fitting(&b, " ", &room);
    add_fitting(&b, y->dot, &room);
    add_fitting(&b, " ", &room);
    add_fitting(&b, elapsed, &room);
    if (st->step[0]) {
        add_fitting(&b, " ", &room);
        add_fitting(&b, y->dot, &room);
        add_fitting(&b, " ", &room);
        buf_adds(&b, sgr(c, SGR_DIM));
        add_fitting(&b, st->step, &room);
        buf_adds(&b, sgr(c, SGR_RESET));
    }
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    buf_release(&b);
    st->shown = true;
}

static void *status_thread(void *arg)
{
    struct client *c = arg;
    struct timespec tick = {0, STATUS_TICK_MS * 1000000L};
    while (!atomic_load(&c->status->stop)) {
        nanosleep(&tick, NULL);
        pthread_mutex_lock(&c->status->mu);
        if (c->status->active) {
            c->status->frame++;
            status_draw_locked(c);
        }
        pthread_mutex_unlock(&c->status->mu);
    }
    return NULL;
}

static void status_start(struct client *c, int64_t since_us)
{
    if (!c->status || c->status->active) return;
    pthread_mutex_lock(&c->status->mu);
    c->status->active = true;
    c->status->since_us = since_us;
    snprintf(c->status->state, sizeof(c->status->state), "%s",
             c->agent_state ? c->agent_state : "connecting");
    status_draw_locked(c);
    pthread_mutex_unlock(&c->status->mu);
    if (!c->status->thread_started)
        c->status->thread_started = pthread_create(&c->status->thread, NULL, status_thread, c) == 0;
}

static void status_end(struct client *c)
{
    if (!c->status) return;
    pthread_mutex_lock(&c->status->mu);
    if (c->status->shown) {
        fputs(CLEAR_LINE, stdout);
        fflush(stdout);
    }
    c->status->shown = c->status->active = false;
    pthread_mutex_unlock(&c->status->mu);
}

static void status_set(struct client *c, const char *state, const char *step)
{
    if (!c->status) return;
    pthread_mutex_lock(&c->status->mu);
    if (state) snprintf(c->status->state, sizeof(c->status->state), "%s", state);
    if (step) snprintf(c->status->step, sizeof(c->status->step), "%s", step);
    if (c->status->active) status_draw_locked(c);
    pthread_mutex_unlock(&c->status->mu);
}

/* Writes text (whole lines) to f, above the status line when there is one. */
static void emit(struct client *c, FILE *f, const char *text, size_t len)
{
    if (c->status) pthread_mutex_lock(&c->status->mu);
    if (c->status && c->status->shown) {
        fputs(CLEAR_LINE, stdout);
        fflush(stdout);
        c->status->shown = false;
    }
    fwrite(text, 1, len, f);
    fflush(f);
    if (c->status) {
        if (c->status->active) status_draw_locked(c);
        pthread_mutex_unlock(&c->status->mu);
    }
}

void client_say(struct client *c, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    buf_addch(&b, '\n');
    emit(c, c->json ? stderr : stdout, b.data, b.len);
    buf_release(&b);
}

/* "cloudhands: ..." on stderr, above the status line. */
static void client_warn(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void client_warn(struct client *c, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    buf_adds(&b, "cloudhands: ");
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    buf_addch(&b, '\n');
    emit(c, stderr, b.data, b.len);
    buf_release(&b);
}

/* ---- setup ------------------------------------------------------------------------------- */

int client_open(struct client *c, const struct cli_args *a)
{
    memset(c, 0, sizeof(*c));
    c->last_id = -1;
    const char *server = cli_opt(a, "server"), *key = cli_opt(a, "key");
    if (!server) server = getenv("CLOUDHANDS_SERVER");
    if (!server || !*server) server = DEFAULT_SERVER;
    if (!key) key = getenv("CLOUDHANDS_API_KEY");
    if (!key || !*key) {
        cli_error("no API key: set CLOUDHANDS_API_KEY=oh_... (or pass --key). Make one on the "
                  "server with `cloudhands key create --user NAME --name LABEL`, or in the web UI "
                  "under Settings > API Keys; the server's first start printed one for admin.");
        return 2;
    }
    if (strpbrk(key, "\r\n")) {
        cli_error("the API key must be one line");
        return 2;
    }
    struct buf url = BUF_INIT;
    if (!strstr(server, "://")) buf_adds(&url, "http://");
    buf_adds(&url, server);
    while (url.len && url.data[url.len - 1] == '/') url.data[--url.len] = '\0';
    if (strncmp(url.data, "http://", 7) != 0 && strncmp(url.data, "https://", 8) != 0) {
        cli_error("the server must be an http:// or https:// URL (got \"%s\")", server);
        buf_release(&url);
        return 2;
    }
    c->server = buf_detach(&url, NULL);
    struct buf auth = BUF_INIT;
    buf_addf(&auth, "Authorization: Bearer %s", key);
    c->auth = buf_detach(&auth, NULL);
    c->json = cli_opt(a, "json") != NULL;
    c->terminal = !c->json && isatty(STDOUT_FILENO);
    c->color = c->terminal && !getenv("NO_COLOR");
    c->utf8 = locale_is_utf8();
    if (c->terminal) {
        c->status = xcalloc(1, sizeof(*c->status));
        pthread_mutex_init(&c->status->mu, NULL);
    }
    return 0;
}

void client_close(struct client *c)
{
    if (c->status) {
        status_end(c);
        atomic_store(&c->status->stop, true);
        if (c->status->thread_started) pthread_join(c->status->thread, NULL);
        pthread_mutex_destroy(&c->status->mu);
        free(c->status);
    }
    free(c->server);
    if (c->auth) memset(c->auth, 0, strlen(c->auth));
    free(c->auth);
    free(c->agent_state);
    free(c->error_shown);
    json_decref(c->pending);
    memset(c, 0, sizeof(*c));
}

bool client_check_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 32 && strspn(id, "0123456789abcdef") == 32) return true;
    cli_error("\"%s\" is not a conversation id (32 lowercase hex characters; `cloudhands "
              "conversations` lists yours)",
              id);
    return false;
}

char *client_web_link(const struct client *c, const char *id)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s/conversations/%s", c->server, id);
    return buf_detach(&b, NULL);
}

bool client_conversation_active(json_t *conv)
{
    const char *status = json_get_str(conv, "status");
    return status && (strcmp(status, "STARTING") == 0 || strcmp(status, "RUNNING") == 0);
}

/* How add_clean treats line breaks. */
enum lines {
    FIRST_LINE, /* stop at the first, with an ellipsis when more follows */
    JOINED,     /* a space for each */
    INDENTED,   /* keep them, each further line indented under the first */
};

/* Appends s without control characters (a terminal must not obey what the agent wrote), at
 * most max characters, its line breaks treated as `mode` says. */
static void add_clean(struct buf *b, const struct client *c, const char *s, int max,
                      enum lines mode)
{
    if (!s) return;
    while (*s == '\n' || *s == ' ' || *s == '\r') s++;
    size_t end = strlen(s);
    while (end && (s[end - 1] == '\n' || s[end - 1] == ' ' || s[end - 1] == '\r')) end--;
    int n = 0;
    bool space = false; /* JOINED: a break or blank is pending */
    for (size_t i = 0; i < end;) {
        unsigned char ch = (unsigned char)s[i];
        if (n >= max) {
            buf_adds(b, sym(c)->ellipsis);
            return;
        }
        if (ch == '\n' && mode == FIRST_LINE) {
            buf_adds(b, " ");
            buf_adds(b, sym(c)->ellipsis);
            return;
        }
        if (ch == '\n' && mode == INDENTED) {
            buf_adds(b, "\n  ");
            i++;
            continue;
        }
        if (mode == JOINED && (ch == '\n' || ch == ' ' || ch == '\t')) {
            space = true;
            i++;
            continue;
        }
        if (ch == '\t') {
            buf_addch(b, ' ');
            i++, n++;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f) {
            i++;
            continue;
        }
        if (ch == 0xC2 && i + 1 < end && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F) {
            i += 2; /* a C1 control character */
            continue;
        }
        if (space) {
            buf_addch(b, ' ');
            space = false;
            n++;
        }
        size_t len = 1;
        while (i + len < end && ((unsigned char)s[i + len] & 0xC0) == 0x80) len++;
        buf_add(b, s + i, len);
        i += len, n++;
    }
}

/* ---- requests ---------------------------------------------------------------------------- */

/* The message of an error answer: {"error"} or {"detail"} (a string, 422's list, or 429's
 * object), else the start of the body. */
static void server_message(const struct http_client_response *resp, struct buf *out)
{
    json_t *v = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    json_t *detail = json_object_get(v, "detail");
    if (json_get_str(v, "error")) {
        buf_adds(out, json_get_str(v, "error"));
    } else if (json_is_string(detail)) {
        buf_adds(out, json_string_value(detail));
    } else if (json_is_array(detail)) {
        size_t i;
        json_t *item;
        json_array_foreach(detail, i, item)
        {
            json_t *loc = json_object_get(item, "loc");
            json_t *last = json_array_get(loc, json_array_size(loc) - 1);
            if (i) buf_adds(out, "; ");
            if (json_is_string(last)) buf_addf(out, "%s: ", json_string_value(last));
            buf_adds(out, json_get_str(item, "msg") ? json_get_str(item, "msg") : "invalid");
        }
    } else if (json_is_object(detail) && json_get_str(detail, "message")) {
        buf_adds(out, json_get_str(detail, "message"));
    } else if (resp->body.len) {
        buf_addf(out, "%.300s", resp->body.data);
    } else {
        buf_addf(out, "HTTP %ld", resp->status);
    }
    json_decref(v);
}

static void say_unreachable(struct client *c, const char *reason)
{
    client_warn(c,
                "cannot reach %s: %s; is `cloudhands serve` running? (set --server or "
                "CLOUDHANDS_SERVER)",
                c->server, reason);
}

static void say_refused(struct client *c, const struct http_client_response *resp)
{
    struct buf msg = BUF_INIT, clean = BUF_INIT;
    server_message(resp, &msg);
    add_clean(&clean, c, msg.data, 2000, JOINED);
    client_warn(c, "the server answered %ld: %s", resp->status, clean.data);
    buf_release(&msg);
    buf_release(&clean);
}

int client_call(struct client *c, const char *method, const char *path, json_t *body, json_t **out)
{
    *out = NULL;
    struct buf url = BUF_INIT, text = BUF_INIT;
    buf_addf(&url, "%s%s", c->server, path);
    if (body) buf_add_json(&text, body);
    const char *headers[] = {c->auth, "Accept: application/json",
                             body ? "Content-Type: application/json" : NULL, NULL};
    struct http_client_request rq = {.method = method,
                                     .url = url.data,
                                     .headers = headers,
                                     .body = body ? text.data : NULL,
                                     .timeout_s = REQUEST_TIMEOUT_S};
    struct http_client_response resp;
    struct error err = {0};
    int rc = http_client_request(&rq, &resp, &err);
    if (rc) {
        say_unreachable(c, resp.transport_error[0] ? resp.transport_error : err.message);
    } else if (resp.status < 200 || resp.status >= 300) {
        say_refused(c, &resp);
        rc = 1;
    } else if (!(*out = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, NULL))) {
        client_warn(c,
                    "%s answered %s %s with something that is not JSON; is it a cloudhands "
                    "server?",
                    c->server, method, path);
        rc = 1;
    }
    error_clear(&err);
    http_client_response_release(&resp);
    buf_release(&url);
    buf_release(&text);
    return rc ? 1 : 0;
}

/* ---- one event as readable lines --------------------------------------------------------- */

static const char *display_path(const char *path)
{
    if (!path) return "";
    if (strncmp(path, WORKSPACE_PREFIX, strlen(WORKSPACE_PREFIX)) == 0 &&
        path[strlen(WORKSPACE_PREFIX)])
        return path + strlen(WORKSPACE_PREFIX);
    return path;
}

static const char *event_action(json_t *ev)
{
    return json_get_str(ev, "action");
}

/* The short form of an action, for its line and the status line: "$ make test", "✎ edit a.txt". */
static void describe_action(const struct client *c, json_t *action, struct buf *b)
{
    const struct symbols *y = sym(c);
    const char *kind = event_action(action);
    json_t *args = json_object_get(action, "args");
    if (kind && strcmp(kind, "run") == 0) {
        buf_adds(b, "$ ");
        add_clean(b, c, json_get_str(args, "command"), ONE_LINE_CHARS, FIRST_LINE);
    } else if (kind && strcmp(kind, "edit") == 0) {
        buf_addf(b, "%s edit ", y->edit);
        add_clean(b, c, display_path(json_get_str(args, "path")), ONE_LINE_CHARS, FIRST_LINE);
    } else if (kind && strcmp(kind, "read") == 0) {
        buf_addf(b, "%s read ", y->read);
        add_clean(b, c, display_path(json_get_str(args, "path")), ONE_LINE_CHARS, FIRST_LINE);
    } else {
        buf_addf(b, "%s ", y->info);
        add_clean(b, c, json_get_str(action, "message"), ONE_LINE_CHARS, FIRST_LINE);
    }
}

static void set_pending(struct client *c, json_t *action)
{
    json_decref(c->pending);
    c->pending = action ? json_incref(action) : NULL;
    if (!c->status) return;
    struct buf step = BUF_INIT;
    if (action) describe_action(c, action, &step);
    status_set(c, NULL, step.data);
    buf_release(&step);
}

/* An action shown without its result: the conversation stopped (or the server restarted)
 * before the result came. */
static void flush_pending(struct client *c, struct buf *b, const char *why)
{
    if (!c->pending) return;
    describe_action(c, c->pending, b);
    buf_addf(b, "  %s%s %s%s\n", sgr(c, SGR_DIM), sym(c)->arrow, why, sgr(c, SGR_RESET));
    set_pending(c, NULL);
}

static void line_thought(const struct client *c, struct buf *b, const char *thought)
{
    if (!thought || !*thought) return;
    buf_addf(b, "%s%s ", sgr(c, SGR_DIM), sym(c)->thought);
    add_clean(b, c, thought, ONE_LINE_CHARS, JOINED);
    buf_addf(b, "%s\n", sgr(c, SGR_RESET));
}

static void format_action(struct client *c, json_t *ev, struct buf *b)
{
    const struct symbols *y = sym(c);
    const char *kind = event_action(ev), *source = json_get_str(ev, "source");
    json_t *args = json_object_get(ev, "args");
    flush_pending(c, b, "no result");
    if (strcmp(kind, "think") != 0) line_thought(c, b, json_get_str(args, "thought"));
    if (strcmp(kind, "message") == 0) {
        bool user = source && strcmp(source, "user") == 0;
        buf_addf(b, "%s%s%s ", sgr(c, SGR_BOLD), user ? y->user : y->agent, sgr(c, SGR_RESET));
        add_clean(b, c, json_get_str(args, "content"), 20000, INDENTED);
        buf_addch(b, '\n');
    } else if (strcmp(kind, "run") == 0 || strcmp(kind, "edit") == 0 || strcmp(kind, "read") == 0) {
        set_pending(c, ev); /* one line with its result */
    } else if (strcmp(kind, "think") == 0) {
        line_thought(c, b, json_get_str(args, "thought"));
    } else if (strcmp(kind, "finish") == 0) {
        buf_addf(b, "%s%s%s ", sgr(c, SGR_GREEN), y->done, sgr(c, SGR_RESET));
        const char *m = json_get_str(args, "final_thought");
        add_clean(b, c, m && *m ? m : json_get_str(ev, "message"), 20000, INDENTED);
        buf_addch(b, '\n');
    } else {
        const char *m = json_get_str(ev, "message");
        if (m && *m) {
            buf_addf(b, "%s ", y->info);
            add_clean(b, c, m, ONE_LINE_CHARS, FIRST_LINE);
            buf_addch(b, '\n');
        }
    }
}

static void format_observation(struct client *c, json_t *ev, struct buf *b)
{
    const struct symbols *y = sym(c);
    const char *kind = json_get_str(ev, "observation");
    json_t *extras = json_object_get(ev, "extras");
    json_t *cause = json_object_get(ev, "cause");
    bool answers =
        c->pending && json_is_integer(cause) &&
        json_integer_value(cause) == json_integer_value(json_object_get(c->pending, "id"));
    if (strcmp(kind, "run") == 0) {
        json_t *code = json_object_get(json_object_get(extras, "metadata"), "exit_code");
        long long exit_code = json_integer_value(code);
        buf_adds(b, "$ ");
        add_clean(b, c, json_get_str(extras, "command"), ONE_LINE_CHARS, FIRST_LINE);
        if (json_is_integer(code) && exit_code >= 0)
            buf_addf(b, "  %s%s exit %lld%s\n", sgr(c, exit_code ? SGR_RED : SGR_GREEN), y->arrow,
                     exit_code, sgr(c, SGR_RESET));
        else /* -1: still running after the no-change timeout; the agent was told */
            buf_addf(b, "  %s%s still running%s\n", sgr(c, SGR_YELLOW), y->arrow,
                     sgr(c, SGR_RESET));
        if (answers) set_pending(c, NULL);
    } else if (strcmp(kind, "edit") == 0) {
        json_t *prev = json_object_get(extras, "prev_exist");
        buf_addf(b, "%s %s ", y->edit, json_is_false(prev) ? "created" : "edited");
        add_clean(b, c, display_path(json_get_str(extras, "path")), ONE_LINE_CHARS, FIRST_LINE);
        buf_addch(b, '\n');
        if (answers) set_pending(c, NULL);
    } else if (strcmp(kind, "read") == 0) {
        buf_addf(b, "%s read ", y->read);
        add_clean(b, c, display_path(json_get_str(extras, "path")), ONE_LINE_CHARS, FIRST_LINE);
        buf_addch(b, '\n');
        if (answers) set_pending(c, NULL);
    } else if (strcmp(kind, "error") == 0) {
        if (answers) {
            describe_action(c, c->pending, b);
            buf_addf(b, "  %s%s ", sgr(c, SGR_RED), y->arrow);
            set_pending(c, NULL);
        } else {
            buf_addf(b, "%s%s ", sgr(c, SGR_RED), y->error);
        }
        add_clean(b, c, json_get_str(ev, "content"), ONE_LINE_CHARS, JOINED);
        buf_addf(b, "%s\n", sgr(c, SGR_RESET));
    } else if (strcmp(kind, "agent_state_changed") == 0) {
        const char *state = json_get_str(extras, "agent_state");
        if (!state) return;
        free(c->agent_state);
        c->agent_state = xstrdup(state);
        status_set(c, state, NULL);
        if (strcmp(state, "running") != 0) flush_pending(c, b, "no result");
        const char *reason = json_get_str(extras, "reason");
        if (strcmp(state, "error") == 0) {
            free(c->error_shown);
            c->error_shown = xstrdup(reason ? reason : "");
            buf_addf(b, "%s%s ", sgr(c, SGR_RED), y->error);
            add_clean(b, c, reason && *reason ? reason : "the agent stopped on an error", 2000,
                      INDENTED);
            buf_addf(b, "%s\n", sgr(c, SGR_RESET));
        }
    } else if (strcmp(kind, "git") == 0) {
        const char *url = json_get_str(json_object_get(extras, "pull_request"), "url");
        const char *content = json_get_str(ev, "content");
        buf_addf(b, "%s ", y->git);
        add_clean(b, c, content, ONE_LINE_CHARS, JOINED);
        if (url && (!content || !strstr(content, url))) {
            buf_adds(b, " ");
            add_clean(b, c, url, ONE_LINE_CHARS, FIRST_LINE);
        }
        buf_addch(b, '\n');
    } else if (strcmp(kind, "think") == 0) {
        /* "Your thought has been logged": the thought itself was shown */
    } else {
        const char *m = json_get_str(ev, "message");
        if (!m || !*m) m = json_get_str(ev, "content");
        if (m && *m) {
            buf_addf(b, "%s%s ", sgr(c, SGR_DIM), y->info);
            add_clean(b, c, m, ONE_LINE_CHARS, JOINED);
            buf_addf(b, "%s\n", sgr(c, SGR_RESET));
        }
    }
}

void client_show_event(struct client *c, json_t *ev, const char *raw)
{
    json_t *id = json_object_get(ev, "id");
    if (json_is_integer(id)) c->last_id = json_integer_value(id);
    if (c->json) {
        /* Track the agent state for the summary (the readable path does it in its format). */
        if (json_get_str(ev, "observation") &&
            strcmp(json_get_str(ev, "observation"), "agent_state_changed") == 0) {
            const char *state = json_get_str(json_object_get(ev, "extras"), "agent_state");
            if (state) {
                free(c->agent_state);
                c->agent_state = xstrdup(state);
            }
        }
        struct buf b = BUF_INIT;
        if (raw)
            buf_adds(&b, raw);
        else
            buf_add_json(&b, ev);
        buf_addch(&b, '\n');
        emit(c, stdout, b.data, b.len);
        buf_release(&b);
        return;
    }
    struct buf b = BUF_INIT;
    if (event_action(ev))
        format_action(c, ev, &b);
    else if (json_get_str(ev, "observation"))
        format_observation(c, ev, &b);
    if (b.len) emit(c, stdout, b.data, b.len);
    buf_release(&b);
}

/* ---- replay and follow ------------------------------------------------------------------- */

int client_replay(struct client *c, const char *id)
{
    for (;;) {
        char path[160];
        snprintf(path, sizeof(path), "/api/conversations/%s/events?start_id=%lld&limit=100", id,
                 (long long)(c->last_id + 1));
        json_t *page;
        if (client_call(c, "GET", path, NULL, &page)) return 1;
        json_t *events = json_object_get(page, "events"), *ev;
        size_t i;
        int64_t before = c->last_id;
        json_array_foreach(events, i, ev) client_show_event(c, ev, NULL);
        bool more = json_is_true(json_object_get(page, "has_more")) && c->last_id > before;
        json_decref(page);
        if (!more) return 0;
    }
}

/* Server-Sent Events, parsed as they arrive: `id:` and `data:` lines, a blank line ending
 * each event, `:` comments (keep-alives). */
struct sse {
    struct client *c;
    struct buf line, data;
    char id[32];
    bool has_data;
    bool connected;    /* bytes came: the connection is up */
    bool reconnecting; /* after a failure: say so when bytes come */
};

static void sse_reset(struct sse *s)
{
    buf_reset(&s->line);
    buf_reset(&s->data);
    s->id[0] = '\0';
    s->has_data = false;
}

static void sse_dispatch(struct sse *s)
{
    if (!s->has_data) {
        s->id[0] = '\0';
        return;
    }
    json_t *ev = json_loadb(s->data.data, s->data.len, 0, NULL);
    long long id = -1;
    if (s->id[0]) {
        char *end;
        errno = 0;
        id = strtoll(s->id, &end, 10);
        if (*end || errno) id = -1;
    }
    if (id < 0 && json_is_integer(json_object_get(ev, "id")))
        id = json_integer_value(json_object_get(ev, "id"));
    if (!json_is_object(ev))
        client_warn(s->c, "skipped an event that is not a JSON object (id %s)",
                    s->id[0] ? s->id : "?");
    else if (id > s->c->last_id) /* never twice, even if a server repeated one */
        client_show_event(s->c, ev, s->data.data);
    json_decref(ev);
    buf_reset(&s->data);
    s->id[0] = '\0';
    s->has_data = false;
}

static void sse_line(struct sse *s, char *line, size_t len)
{
    if (len && line[len - 1] == '\r') line[--len] = '\0';
    if (len == 0) {
        sse_dispatch(s);
        return;
    }
    if (line[0] == ':') return; /* a comment: the keep-alive */
    char *colon = memchr(line, ':', len);
    const char *value = colon ? colon + 1 : "";
    if (colon) {
        *colon = '\0';
        if (*value == ' ') value++;
    }
    if (strcmp(line, "data") == 0) {
        if (s->has_data) buf_addch(&s->data, '\n');
        buf_adds(&s->data, value);
        s->has_data = true;
    } else if (strcmp(line, "id") == 0) {
        snprintf(s->id, sizeof(s->id), "%s", value);
    } /* event:, retry: and unknown fields are ignored, as EventSource does */
}

static bool sse_feed(const char *data, size_t len, void *ctx)
{
    struct sse *s = ctx;
    if (!s->connected && s->reconnecting) {
        client_warn(s->c, "reconnected");
        s->reconnecting = false;
    }
    s->connected = true;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->line.len + take > MAX_SSE_LINE) {
            client_warn(s->c, "an event stream line over %u bytes; giving up on this connection",
                        MAX_SSE_LINE);
            return false;
        }
        buf_add(&s->line, data, take);
        if (!nl) break;
        sse_line(s, s->line.data, s->line.len);
        buf_reset(&s->line);
        data += take + 1;
        len -= take + 1;
    }
    return !atomic_load(&interrupted);
}

/* Sleeps ms, in steps, returning early (true) on Ctrl-C. */
static bool nap(int ms)
{
    for (int slept = 0; slept < ms; slept += 50) {
        if (atomic_load(&interrupted)) return true;
        struct timespec step = {0, 50 * 1000000L};
        nanosleep(&step, NULL);
    }
    return atomic_load(&interrupted);
}

enum attempt { STREAM_ENDED, STREAM_RETRY, STREAM_FAILED };

/* One connection to the stream, from c->last_id; *why says why a retry is due. */
static enum attempt stream_once(struct client *c, const char *id, struct sse *s, struct buf *why)
{
    struct buf url = BUF_INIT;
    char last[64] = "";
    buf_addf(&url, "%s/api/conversations/%s/events/stream", c->server, id);
    if (c->last_id >= 0) snprintf(last, sizeof(last), "Last-Event-ID: %lld", (long long)c->last_id);
    const char *headers[] = {c->auth, "Accept: text/event-stream", "Cache-Control: no-cache",
                             last[0] ? last : NULL, NULL};
    struct http_client_request rq = {.method = "GET",
                                     .url = url.data,
                                     .headers = headers,
                                     .timeout_s = STREAM_SILENCE_S,
                                     .max_response = MAX_ERROR_BODY,
                                     .cancel = &interrupted,
                                     .on_data = sse_feed,
                                     .on_data_ctx = s};
    struct http_client_response resp;
    struct error err = {0};
    sse_reset(s);
    s->connected = false;
    int rc = http_client_request(&rq, &resp, &err);
    enum attempt out = STREAM_RETRY;
    if (rc == 0 && resp.status >= 200 && resp.status < 300) {
        out = STREAM_ENDED;
    } else if (rc == 0 && (resp.status >= 500 || resp.status == 429)) {
        server_message(&resp, why);
    } else if (rc == 0) {
        say_refused(c, &resp);
        out = STREAM_FAILED;
    } else {
        buf_adds(why, resp.transport_error[0] ? resp.transport_error : err.message);
    }
    /* An event cut off by a dropped connection is discarded: the next one resumes after the
     * last whole event. */
    sse_reset(s);
    error_clear(&err);
    http_client_response_release(&resp);
    buf_release(&url);
    return out;
}

/* GET the conversation without printing failures: 0 with *conv, 1 for a refusal (printed),
 * -1 when the server did not answer (*why). */
static int fetch_conversation(struct client *c, const char *id, json_t **conv, struct buf *why)
{
    struct buf url = BUF_INIT;
    buf_addf(&url, "%s/api/conversations/%s", c->server, id);
    const char *headers[] = {c->auth, "Accept: application/json", NULL};
    struct http_client_request rq = {
        .method = "GET", .url = url.data, .headers = headers, .timeout_s = REQUEST_TIMEOUT_S};
    struct http_client_response resp;
    struct error err = {0};
    int rc = http_client_request(&rq, &resp, &err);
    *conv = NULL;
    if (rc) {
        buf_adds(why, resp.transport_error[0] ? resp.transport_error : err.message);
        rc = -1;
    } else if (resp.status >= 500) {
        server_message(&resp, why);
        rc = -1;
    } else if (resp.status < 200 || resp.status >= 300) {
        say_refused(c, &resp);
        rc = 1;
    } else if (!(*conv = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, NULL))) {
        buf_adds(why, "the answer was not JSON");
        rc = -1;
    }
    error_clear(&err);
    http_client_response_release(&resp);
    buf_release(&url);
    return rc;
}

static void say_resume(struct client *c, const char *id)
{
    client_warn(c,
                "stopped following; the conversation goes on. Follow it again with "
                "`cloudhands logs %s --follow`, or stop it with `cloudhands stop %s`",
                id, id);
}

int client_follow(struct client *c, const char *id, int64_t since_us, json_t **conv)
{
    struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    atomic_store(&interrupted, 0);
    struct sse s = {.c = c, .line = BUF_INIT, .data = BUF_INIT};
    int64_t failing_since = 0;
    int backoff_ms = 500, rc = 1;
    *conv = NULL;
    status_start(c, since_us);
    for (;;) {
        struct buf why = BUF_INIT;
        s.reconnecting = failing_since != 0;
        enum attempt a = stream_once(c, id, &s, &why);
        if (atomic_load(&interrupted)) {
            buf_release(&why);
            rc = CLIENT_EXIT_INTERRUPTED;
            break;
        }
        if (a == STREAM_FAILED) {
            buf_release(&why);
            break;
        }
        if (s.connected || a == STREAM_ENDED) {
            if (s.reconnecting) client_warn(c, "reconnected");
            failing_since = 0;
            backoff_ms = 500;
        }
        if (a == STREAM_ENDED) {
            /* The stream ends once the agent stopped, or when the server shuts down: ask. */
            int got = fetch_conversation(c, id, conv, &why);
            if (got == 1) {
                buf_release(&why);
                break;
            }
            if (got == 0 && json_is_null(*conv)) {
                client_warn(c, "the conversation %s was deleted", id);
                buf_release(&why);
                break;
            }
            if (got == 0 && !client_conversation_active(*conv)) {
                buf_release(&why);
                rc = 0;
                break;
            }
            json_decref(*conv);
            *conv = NULL;
            if (got == 0) { /* still going (e.g. a new message came): follow on */
                buf_release(&why);
                if (nap(200)) {
                    rc = CLIENT_EXIT_INTERRUPTED;
                    break;
                }
                continue;
            }
        }
        /* The connection dropped or the server did not answer: again, after a pause. */
        int64_t now = time_now_us();
        if (!failing_since) {
            failing_since = now;
            client_warn(c, "lost the event stream (%s); reconnecting", why.data);
        } else if (now - failing_since > RECONNECT_GIVE_UP_S * USEC_PER_SEC) {
            client_warn(c,
                        "gave up reconnecting to %s after %d s (%s); the conversation goes on "
                        "on the server: `cloudhands logs %s --follow` follows it again",
                        c->server, RECONNECT_GIVE_UP_S, why.data, id);
            buf_release(&why);
            break;
        }
        char state[160];
        snprintf(state, sizeof(state), "reconnecting in %.1fs (%.100s)", backoff_ms / 1000.0,
                 why.data);
        status_set(c, state, NULL);
        buf_release(&why);
        if (nap(backoff_ms)) {
            rc = CLIENT_EXIT_INTERRUPTED;
            break;
        }
        status_set(c, c->agent_state ? c->agent_state : "connecting", NULL);
        backoff_ms = backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff_ms * 2;
    }
    struct buf rest = BUF_INIT;
    if (rc != CLIENT_EXIT_INTERRUPTED) flush_pending(c, &rest, "no result");
    status_end(c);
    if (rest.len) emit(c, c->json ? stderr : stdout, rest.data, rest.len);
    buf_release(&rest);
    if (rc == CLIENT_EXIT_INTERRUPTED) {
        if (c->terminal) emit(c, stdout, "\n", 1);
        say_resume(c, id);
    }
    if (rc != 0) {
        json_decref(*conv);
        *conv = NULL;
    }
    buf_release(&s.line);
    buf_release(&s.data);
    sigaction(SIGINT, &old_sa, NULL);
    return rc;
}

/* ---- the end ----------------------------------------------------------------------------- */

int client_summary(struct client *c, json_t *conv)
{
    const struct symbols *y = sym(c);
    const char *id = json_get_str(conv, "conversation_id");
    const char *state = json_get_str(conv, "agent_state");
    const char *error = json_get_str(conv, "error");
    char *link = client_web_link(c, id ? id : "");
    int64_t created = 0, updated = 0;
    char took[32] = "";
    if (json_get_str(conv, "created_at") && json_get_str(conv, "last_updated_at") &&
        time_parse_iso(json_get_str(conv, "created_at"), &created) &&
        time_parse_iso(json_get_str(conv, "last_updated_at"), &updated))
        format_duration(updated - created, took, sizeof(took));
    struct buf b = BUF_INIT;
    int rc = 1;
    if (state && strcmp(state, "finished") == 0) {
        buf_addf(&b, "%s%s finished%s", sgr(c, SGR_GREEN), y->done, sgr(c, SGR_RESET));
        rc = 0;
    } else if (state && strcmp(state, "awaiting_user_input") == 0) {
        buf_addf(&b, "%s%s the agent waits for your answer%s", sgr(c, SGR_YELLOW), y->waiting,
                 sgr(c, SGR_RESET));
        rc = CLIENT_EXIT_AWAITING;
    } else if (state && strcmp(state, "error") == 0) {
        buf_addf(&b, "%s%s failed%s", sgr(c, SGR_RED), y->error, sgr(c, SGR_RESET));
    } else if (client_conversation_active(conv)) {
        buf_addf(&b, "%s still running", y->info);
    } else {
        buf_addf(&b, "%s%s stopped%s", sgr(c, SGR_YELLOW), y->stopped, sgr(c, SGR_RESET));
    }
    if (took[0]) buf_addf(&b, " after %s", took);
    if (rc == 1 && error && *error && !(c->error_shown && strcmp(c->error_shown, error) == 0)) {
        buf_adds(&b, ": ");
        add_clean(&b, c, error, 2000, INDENTED);
    }
    buf_addch(&b, '\n');
    json_t *prs = json_object_get(conv, "pull_requests"), *pr;
    size_t i;
    json_array_foreach(prs, i, pr)
    {
        if (!json_get_str(pr, "url")) continue;
        buf_adds(&b, "  pull request: ");
        add_clean(&b, c, json_get_str(pr, "url"), 2000, FIRST_LINE);
        buf_addch(&b, '\n');
    }
    const char *branch = json_get_str(conv, "branch");
    if (branch && json_array_size(prs) == 0) {
        buf_adds(&b, "  branch: ");
        add_clean(&b, c, branch, 2000, FIRST_LINE);
        buf_addch(&b, '\n');
    }
    buf_addf(&b, "  conversation: %s\n", link);
    if (rc == CLIENT_EXIT_AWAITING)
        buf_addf(&b, "  answer with: cloudhands send %s \"...\"\n", id ? id : "ID");
    emit(c, c->json ? stderr : stdout, b.data, b.len);
    buf_release(&b);
    free(link);
    return rc;
}
