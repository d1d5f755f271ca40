/*
 * cli: the command-line interface. Each subcommand is one `struct cli_command` row in
 * its own file (cli/serve.c, cli/user_add.c, ...), listed in cli/commands.c; the
 * options are declared in the row and parsed centrally (cli/args.c), so an exec
 * function receives parsed arguments and stays short — the shape of tmux's cmd_entry.
 *
 * Every command also takes --help, and, unless it is a client of a running server (cli/client.h:
 * run, logs, ...), --data DIR and --db URL. Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef CH_CLI_H
#define CH_CLI_H

#include <stdbool.h>

#include "core/app.h"

#define CLI_MAX_OPTIONS 32

struct cli_option {
    const char *name;    /* long name without "--" */
    const char *metavar; /* "N", "DIR"...; NULL for a flag that takes no value */
    const char *help;
};

struct cli_args;

struct cli_command {
    const char *name;       /* "serve", "key create" */
    const char *positional; /* usage of positional arguments, e.g. "NAME"; NULL for none */
    int min_args, max_args;
    const char *summary;              /* one line for `cloudhands --help` */
    const char *description;          /* paragraphs for `cloudhands CMD --help`; may be NULL */
    const struct cli_option *options; /* command-specific, ending with a {NULL} row */
    int (*exec)(const struct cli_args *args);
    bool hidden; /* internal: left out of `cloudhands --help` */
    bool client; /* talks to a server over HTTP (cli/client.h): no --data, --db, database */
};

struct cli_args {
    const struct cli_command *cmd;
    int argc; /* positional arguments */
    char **argv;
    const char *values[CLI_MAX_OPTIONS]; /* by index into cmd->options; flags get "" */
    const char *data;                    /* --data, or NULL */
    const char *db;                      /* --db, or NULL */
};

/* The options of the processes that run conversations (serve, worker), parsed by
 * cli_runtime_config: the runner pool, the model, the sandbox, the git providers, the logs. */
#define CLI_RUNTIME_OPTIONS                                                                        \
    {"runners", "N",                                                                               \
     "conversations run at once by this process (default 8); `serve --runners 0` serves the API "  \
     "only and leaves conversations queued for workers"},                                          \
        {"llm-model", "MODEL",                                                                     \
         "the LLM for accounts that set none, e.g. gpt-4o or anthropic/claude-sonnet-4-20250514 "  \
         "(env CLOUDHANDS_LLM_MODEL)"},                                                            \
        {"llm-base-url", "URL",                                                                    \
         "the LLM's API, OpenAI-compatible or Anthropic (env CLOUDHANDS_LLM_BASE_URL)"},           \
        {"llm-api-key", "KEY",                                                                     \
         "the LLM's API key (env CLOUDHANDS_LLM_API_KEY, preferred: flags show in ps)"},           \
        {"max-iterations", "N", "agent steps per task for accounts that set none (default 100)"},  \
        {"no-change-timeout", "SECONDS",                                                           \
         "a command that prints nothing new for this long returns to the agent (default 10)"},     \
        {"lease-seconds", "N",                                                                     \
         "a runner's claim on a conversation; after a crash, others resume it this long later "    \
         "(default 30)"},                                                                          \
        {"sandbox-network", NULL,                                                                  \
         "let the agent's sandbox reach the network (default: no network)"},                       \
        {"default-git-provider", "NAME",                                                           \
         "github, gitlab or git: the provider of a conversation's repository when the request "    \
         "names "                                                                                  \
         "none (default github; env CLOUDHANDS_DEFAULT_GIT_PROVIDER)"},                            \
        {"github-api-url", "URL",                                                                  \
         "GitHub's REST API, e.g. https://ghe.example.com/api/v3 for GitHub Enterprise (default "  \
         "https://api.github.com; env CLOUDHANDS_GITHUB_API_URL)"},                                \
        {"github-url", "URL",                                                                      \
         "where GitHub serves git over HTTPS (default https://github.com; env "                    \
         "CLOUDHANDS_GITHUB_URL)"},                                                                \
        {"gitlab-url", "URL", "GitLab (default https://gitlab.com; env CLOUDHANDS_GITLAB_URL)"},   \
        {"git-url-template", "URL",                                                                \
         "turns on the plain git provider: where {owner}/{repo} lives, e.g. "                      \
         "https://git.example.com/{owner}/{repo}.git or file:///srv/git/{owner}/{repo}.git (env "  \
         "CLOUDHANDS_GIT_URL_TEMPLATE)"},                                                          \
        {"github-token", "TOKEN",                                                                  \
         "a GitHub token for accounts that added none (env CLOUDHANDS_GITHUB_TOKEN, preferred: "   \
         "flags "                                                                                  \
         "show in ps)"},                                                                           \
        {"gitlab-token", "TOKEN", "the same for GitLab (env CLOUDHANDS_GITLAB_TOKEN)"},            \
        {"git-token", "TOKEN",                                                                     \
         "the same for the git provider, as TOKEN or USER:PASSWORD (env CLOUDHANDS_GIT_TOKEN)"},   \
        {"git-clone-depth", "N",                                                                   \
         "history fetched into a workspace: the last N commits (default 1), 0 for all of it"},     \
        {"expose-provider-token", NULL,                                                            \
         "give the agent's sandbox the account's token as GITHUB_TOKEN / GITLAB_TOKEN (default: "  \
         "the "                                                                                    \
         "token never enters the sandbox; the server pushes)"},                                    \
        {"log-format", "FORMAT",                                                                   \
         "logfmt (default) or json: one line per request and per conversation state change on "    \
         "stderr (env CLOUDHANDS_LOG_FORMAT)"},                                                    \
        {"node-url", "URL",                                                                        \
         "where the other nodes reach the workspaces of conversations run here (list-files, "      \
         "git/changes, zip-directory ...); default http://<this host>:<listen port> (env "         \
         "CLOUDHANDS_NODE_URL)"},

/* Parses CLI_RUNTIME_OPTIONS into cfg (after cli_config); sets the log format. Returns false,
 * after printing why, when one is unusable. */
bool cli_runtime_config(const struct cli_args *a, struct config *cfg);
/* A long-running command takes SIGINT and SIGTERM with cli_wait_for_stop_signal: block them in
 * every thread (call before starting any), ignore SIGPIPE, and keep files private (umask 077). */
#include <signal.h>
void cli_block_stop_signals(sigset_t *set);
/* Waits for SIGINT or SIGTERM and logs which came. */
void cli_wait_for_stop_signal(const sigset_t *set);

/* The table of commands (cli/commands.c), ending with NULL. */
extern const struct cli_command *const cli_commands[];

/* Parses argv (after the command's words) and runs the command; returns the exit code. */
int cli_run(const struct cli_command *cmd, int argc, char **argv);
/* The value of option `name` (NULL when absent; "" for a given flag). */
const char *cli_opt(const struct cli_args *a, const char *name);
/* Parses option `name` as an integer in [min, max] into *out (dflt when absent); prints a
 * message and returns false when it is not one. */
bool cli_opt_int(const struct cli_args *a, const char *name, int dflt, int min, int max, int *out);
/* Resolves the configuration shared by all commands (defaults < environment < --data, --db,
 * --listen). Returns false, after printing why, when a value is unusable. */
bool cli_config(const struct cli_args *a, struct config *cfg);
/* Resolves the configuration and opens the app (data dir, secret, store, migrations), printing
 * what to do when that fails. */
struct app *cli_open_app(const struct cli_args *a);
/* The password for account `name`, for `user add` and `user passwd`: with --password-stdin the
 * first line of stdin; else, on a terminal, asked twice without echo; else none (*out NULL).
 * Returns false, after printing why, when it cannot be read or the two answers differ. *out is
 * malloc'd; wipe it after use. */
bool cli_read_password(const struct cli_args *a, const char *name, char **out);
/* Prints "cloudhands: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_usage(const struct cli_command *cmd, bool full);

#endif
