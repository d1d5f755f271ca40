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
