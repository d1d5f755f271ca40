/*
 * bash: the `execute_bash` tool of OpenHands' CodeActAgent — one persistent bash session
 * per conversation (cwd and environment persist between calls), with the exact
 * observation texts of ../shared/TOOLS.md: exit-code suffix, soft timeout (no new output
 * for N seconds) that lets the model continue with an empty command, `is_input`, or keys
 * like C-c, hard timeout, head+tail truncation of long output, refusal of several
 * commands at once.
 *
 * It runs inside the conversation's sandbox (the sandbox agent process). bash runs on a
 * pseudo-terminal; a PS1 marker carrying the exit code and working directory tells when a
 * command has finished.
 */
#ifndef CH_BASH_H
#define CH_BASH_H

#include <jansson.h>
#include <stdbool.h>

#include "util/buf.h"
#include "util/error.h"

#define BASH_DEFAULT_NO_CHANGE_TIMEOUT 10  /* seconds: the soft timeout */
#define BASH_DEFAULT_HARD_TIMEOUT      120 /* seconds: a call without `timeout` */
#define BASH_MAX_OUTPUT                30000

struct bash_session;

struct bash_options {
    const char *cwd;       /* where the shell starts, e.g. "/workspace" */
    char *const *envp;     /* the shell's environment (NULL-terminated) */
    int no_change_timeout; /* seconds; 0 = BASH_DEFAULT_NO_CHANGE_TIMEOUT */
    int hard_timeout;      /* seconds; 0 = BASH_DEFAULT_HARD_TIMEOUT */
};

struct bash_result {
    int exit_code;     /* -1 while the command still runs (timeouts) or when refused */
    char *working_dir; /* the shell's cwd after the call (malloc'd, or NULL) */
    char *command;     /* the command as run (malloc'd) */
    bool refused;      /* not run: the model reads the text + "\n[Error occurred in processing last
                          action]" */
};

int bash_start(const struct bash_options *opts, struct bash_session **out, struct error *err);
/* Kills the shell and everything it started. */
void bash_close(struct bash_session *s);
/* Runs one tool call. `args` is the arguments object (command, is_input, timeout; security_risk
 * ignored). Writes exactly what the model reads into `out`, except that for a refused call
 * (res->refused) the caller appends "\n[Error occurred in processing last action]". Free res
 * with bash_result_free. Calls on one session must not overlap; different sessions may run in
 * different threads. */
void bash_run(struct bash_session *s, json_t *args, struct buf *out, struct bash_result *res);
void bash_result_free(struct bash_result *res);

/* Exposed for the unit tests. */
/* OpenHands' split_bash_commands: the top-level commands of `cmd` (at least one item; a command
 * that bashlex cannot parse is one item). Free with bash_split_free. */
int bash_split_commands(const char *cmd, char ***items, size_t *n);
void bash_split_free(char **items, size_t n);
/* Python's float(str) and repr(float). */
bool bash_parse_py_float(const char *s, double *out);
void bash_py_float_repr(double v, struct buf *out);
/* float(arguments['timeout']) for a JSON value; -1 when Python would raise. `repr` may be NULL. */
int bash_parse_timeout(json_t *v, double *seconds, struct buf *repr);

#endif
