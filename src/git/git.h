/*
 * git: runs the git program on the host, for the server's own repository work (clone, fetch
 * into a trusted mirror, push, ls-remote). Owns how a credential reaches git and how git is
 * kept from running anything a repository chose.
 *
 * Trust. Only repositories the server made itself are worked in on the host: a fresh clone
 * before any agent touched it, and the conversation's mirror (a bare repository the agent never
 * sees). A workspace repository after the agent ran is untrusted (its .git/config may name hooks,
 * filters or an fsmonitor = code execution), so the host only ever *fetches from* it over the
 * file:// transport, the "sanitized clone" git's security boundary documents
 * (gitsecurityboundary(7)); every other command on it runs inside the sandbox.
 *
 * Credentials. A token travels as an `http.extraHeader` in git's environment (GIT_CONFIG_COUNT),
 * never in a URL or argv (both are public on the host: ps, .git/config, error messages), and
 * every message built from git's output has it redacted. Credential helpers, hooks and terminal
 * prompts are switched off for every command.
 */
#ifndef CH_GIT_H
#define CH_GIT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "util/buf.h"
#include "util/error.h"

#define GIT_DEFAULT_TIMEOUT 600 /* seconds for a clone or push */

/* HTTPS basic credentials for a command; both NULL for none. */
struct git_auth {
    const char *user;  /* e.g. "x-access-token", "oauth2"; NULL: a token "USER:PASSWORD" is
                          split, any other goes with "x-access-token" */
    const char *token; /* the secret */
};

struct git_result {
    int exit_code;  /* -1 when killed (timeout, cancel) */
    struct buf out; /* stdout (up to 4 MiB) */
    struct buf err; /* stderr (up to 64 KiB), the token redacted */
};

/* Runs `git ARGS...` (argv without "git", NULL-terminated) in `dir` (NULL: the current one).
 * Returns 0 when git ran (whatever its exit code: see res->exit_code), or an error when it could
 * not be started or was stopped: ERR_UNAVAILABLE after timeout_s seconds (0: the default) or when
 * *cancel (may be NULL) becomes non-zero. Release res with git_result_release. */
int git_run(const char *dir, const char *const *args, const struct git_auth *auth, int timeout_s,
            const atomic_int *cancel, struct git_result *res, struct error *err);
void git_result_release(struct git_result *res);

/* The last meaningful line of git's stderr ("fatal: ..." preferred), for error messages. */
void git_error_summary(const struct git_result *res, struct buf *out);

/* Replaces every occurrence of `secret` (if at least 4 characters) in the buffer by "***". */
void git_redact(struct buf *b, const char *secret);

/* A branch name git accepts (git check-ref-format --branch, the common rules). */
bool git_branch_name_valid(const char *name);

#endif
