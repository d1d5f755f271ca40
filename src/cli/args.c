/* args: central option parsing, --help text and configuration for every command; see cli.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <termios.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#include "util/crypto.h"
#include "util/buf.h"

static const struct cli_option common_options[] = {
    {"data", "DIR", "data directory (default ./data; env CLOUDHANDS_DATA)"},
    {"db", "URL",
     "database: a SQLite path or a postgres:// URL (default DIR/cloudhands.db; env "
     "CLOUDHANDS_DB)"},
    {"help", NULL, "show this help"},
    {NULL, NULL, NULL},
};
/* A client of a running server (cli/client.h) has no data directory or database. */
static const struct cli_option client_common_options[] = {
    {"help", NULL, "show this help"},
    {NULL, NULL, NULL},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("cloudhands: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print_options(FILE *out, const struct cli_option *opts)
{
    for (; opts && opts->name; opts++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", opts->name, opts->metavar ? " " : "",
                 opts->metavar ? opts->metavar : "");
        fprintf(out, "  %-24s ", left);
        /* Wrap the help at word boundaries to fit 100 columns, continuing under itself. */
        const char *h = opts->help;
        const int width = 100 - 27;
        while (strlen(h) > (size_t)width) {
            int cut = width;
            while (cut > 0 && h[cut] != ' ') cut--;
            if (cut == 0) cut = width;
            fprintf(out, "%.*s\n%27s", cut, h, "");
            h += cut + (h[cut] == ' ');
        }
        fprintf(out, "%s\n", h);
    }
}

void cli_usage(const struct cli_command *cmd, bool full)
{
    FILE *out = full ? stdout : stderr;
    fprintf(out, "usage: cloudhands %s%s%s [options]\n", cmd->name, cmd->positional ? " " : "",
            cmd->positional ? cmd->positional : "");
    if (!full) {
        fprintf(out, "Run 'cloudhands %s --help' for the options.\n", cmd->name);
        return;
    }
    fprintf(out, "\n%s\n", cmd->summary);
    if (cmd->description) fprintf(out, "\n%s\n", cmd->description);
    fputs("\noptions:\n", out);
    print_options(out, cmd->options);
    print_options(out, cmd->client ? client_common_options : common_options);
}

static int find_option(const struct cli_option *opts, const char *name, size_t len)
{
    for (int i = 0; opts && opts[i].name; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return i;
    return -1;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
    int i = find_option(a->cmd->options, name, strlen(name));
    return i < 0 ? NULL : a->values[i];
}

bool cli_opt_int(const struct cli_args *a, const char *name, int dflt, int min, int max, int *out)
{
    const char *v = cli_opt(a, name);
    if (!v) {
        *out = dflt;
        return true;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) {
        cli_error("--%s must be a whole number from %d to %d (got \"%s\")", name, min, max, v);
        return false;
    }
    *out = (int)n;
    return true;
}

int cli_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_args a = {.cmd = cmd};
    char **positional = calloc((size_t)argc + 1, sizeof(char *));
    bool only_positional = false;
    int rc;

    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            positional[a.argc++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_usage(cmd, true);
            free(positional);
            return 0;
        }
        if (arg[1] != '-') {
            cli_error("unknown option %s for 'cloudhands %s'", arg, cmd->name);
            cli_usage(cmd, false);
            free(positional);
            return 2;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int idx = find_option(cmd->options, name, len);
        const struct cli_option *commons = cmd->client ? client_common_options : common_options;
        int common = idx < 0 ? find_option(commons, name, len) : -1;
        if (idx < 0 && common < 0) {
            cli_error("unknown option --%.*s for 'cloudhands %s'", (int)len, name, cmd->name);
            cli_usage(cmd, false);
            free(positional);
            return 2;
        }
        const struct cli_option *opt = idx >= 0 ? &cmd->options[idx] : &commons[common];
        const char *value = "";
        if (opt->metavar) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                cli_error("option --%s needs a value (%s)", opt->name, opt->metavar);
                free(positional);
                return 2;
            }
        } else if (eq) {
            cli_error("option --%s takes no value", opt->name);
            free(positional);
            return 2;
        }
        if (idx >= 0)
            a.values[idx] = value;
        else if (strcmp(opt->name, "data") == 0)
            a.data = value;
        else if (strcmp(opt->name, "db") == 0)
            a.db = value;
    }
    if (a.argc < cmd->min_args || a.argc > cmd->max_args) {
        if (a.argc < cmd->min_args)
            cli_error("'cloudhands %s' needs %s", cmd->name, cmd->positional);
        else
            cli_error("'cloudhands %s': unexpected argument \"%s\"", cmd->name,
                      positional[cmd->max_args]);
        cli_usage(cmd, false);
        free(positional);
        return 2;
    }
    a.argv = positional;
    rc = cmd->exec(&a);
    free(positional);
    return rc;
}

/* flag, else environment variable, else default; NULL only when all three are. */
static char *pick(const char *flag, const char *env, const char *dflt)
{
    const char *e = getenv(env);
    if (flag) return xstrdup(flag);
    if (e && *e) return xstrdup(e);
    return dflt ? xstrdup(dflt) : NULL;
}

bool cli_config(const struct cli_args *a, struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = pick(a->data, "CLOUDHANDS_DATA", DEFAULT_DATA_DIR);
    cfg->db_url = pick(a->db, "CLOUDHANDS_DB", NULL);
    if (!cfg->db_url) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s/cloudhands.db", cfg->data_dir);
        cfg->db_url = buf_detach(&b, NULL);
    }
    cfg->listen = pick(cli_opt(a, "listen"), "CLOUDHANDS_LISTEN", DEFAULT_LISTEN);
    cfg->max_concurrent = DEFAULT_MAX_CONCURRENT;
    cfg->runners = DEFAULT_RUNNERS;
    cfg->lease_seconds = DEFAULT_LEASE_SECONDS;
    cfg->no_change_timeout = DEFAULT_NO_CHANGE_TIMEOUT;
    cfg->max_iterations = DEFAULT_MAX_ITERATIONS;
    cfg->llm_model = pick(cli_opt(a, "llm-model"), "CLOUDHANDS_LLM_MODEL", NULL);
    cfg->llm_base_url = pick(cli_opt(a, "llm-base-url"), "CLOUDHANDS_LLM_BASE_URL", NULL);
    cfg->llm_api_key = pick(cli_opt(a, "llm-api-key"), "CLOUDHANDS_LLM_API_KEY", NULL);
    cfg->default_git_provider = pick(cli_opt(a, "default-git-provider"),
                                     "CLOUDHANDS_DEFAULT_GIT_PROVIDER", DEFAULT_GIT_PROVIDER);
    cfg->github_api_url =
        pick(cli_opt(a, "github-api-url"), "CLOUDHANDS_GITHUB_API_URL", DEFAULT_GITHUB_API_URL);
    cfg->github_url = pick(cli_opt(a, "github-url"), "CLOUDHANDS_GITHUB_URL", DEFAULT_GITHUB_URL);
    cfg->gitlab_url = pick(cli_opt(a, "gitlab-url"), "CLOUDHANDS_GITLAB_URL", DEFAULT_GITLAB_URL);
    cfg->git_url_template =
        pick(cli_opt(a, "git-url-template"), "CLOUDHANDS_GIT_URL_TEMPLATE", NULL);
    cfg->github_token = pick(cli_opt(a, "github-token"), "CLOUDHANDS_GITHUB_TOKEN", NULL);
    cfg->gitlab_token = pick(cli_opt(a, "gitlab-token"), "CLOUDHANDS_GITLAB_TOKEN", NULL);
    cfg->git_token = pick(cli_opt(a, "git-token"), "CLOUDHANDS_GIT_TOKEN", NULL);
    cfg->expose_provider_token = cli_opt(a, "expose-provider-token") != NULL;
    cfg->git_clone_depth = DEFAULT_GIT_CLONE_DEPTH;
    cfg->session_ttl = DEFAULT_SESSION_TTL;
    char self[4096];
    ssize_t self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (self_len > 0) {
        self[self_len] = '\0';
        cfg->agent_binary = xstrdup(self);
    }
    const char *env_max = getenv("CLOUDHANDS_MAX_CONCURRENT");
    if (env_max && *env_max) {
        char *end;
        long n = strtol(env_max, &end, 10);
        if (*end || n < 1 || n > 1000000000) {
            cli_error("CLOUDHANDS_MAX_CONCURRENT must be a whole number from 1 to 1000000000");
            config_free(cfg);
            return false;
        }
        cfg->max_concurrent = (int)n;
    }
    if (!*cfg->data_dir) {
        cli_error("--data must not be empty");
        config_free(cfg);
        return false;
    }
    return true;
}

struct app *cli_open_app(const struct cli_args *a)
{
    struct config cfg;
    struct app *app;
    struct error err = {0};
    if (!cli_config(a, &cfg)) return NULL;
    if (app_open(&cfg, &app, &err)) {
        cli_error("%s", err.message);
        error_clear(&err);
        return NULL;
    }
    return app;
}

/* One line from fd without its newline; NULL at end of file before any byte or on error. */
static char *read_line(FILE *f)
{
    struct buf b = BUF_INIT;
    int c;
    bool any = false;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        any = true;
        if (b.len < 4096) buf_addch(&b, (char)c);
    }
    if (!any && c == EOF) {
        buf_release(&b);
        return NULL;
    }
    if (b.len && b.data[b.len - 1] == '\r') b.data[--b.len] = '\0';
    return buf_detach(&b, NULL);
}

static char *ask_hidden(FILE *tty, const char *prompt)
{
    struct termios old, quiet;
    bool hidden = tcgetattr(fileno(tty), &old) == 0;
    if (hidden) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, stderr);
    fflush(stderr);
    char *line = read_line(tty);
    if (hidden) tcsetattr(fileno(tty), TCSAFLUSH, &old);
    return line;
}

bool cli_read_password(const struct cli_args *a, const char *name, char **out)
{
    *out = NULL;
    if (cli_opt(a, "password-stdin")) {
        *out = read_line(stdin);
        if (!*out || !**out) {
            cli_error("--password-stdin: no password on stdin");
            free(*out);
            *out = NULL;
            return false;
        }
        return true;
    }
    if (!isatty(0)) return true;
    char prompt[160];
    snprintf(prompt, sizeof(prompt), "Password for %s (web UI sign-in; empty for none): ", name);
    char *first = ask_hidden(stdin, prompt);
    if (!first || !*first) {
        free(first);
        return true;
    }
    char *second = ask_hidden(stdin, "The same password again: ");
    bool same = second && strcmp(first, second) == 0;
    if (second) crypto_wipe(second, strlen(second));
    free(second);
    if (!same) {
        crypto_wipe(first, strlen(first));
        free(first);
        cli_error("the two passwords differ");
        return false;
    }
    *out = first;
    return true;
}
