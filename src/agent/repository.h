/*
 * repository: a conversation's repository, from clone to pull request.
 *
 * Before the agent's first run, repo_open clones the repository (on the host: a fresh clone is
 * trusted) into /workspace/<name> of the conversation's workspace, checks out selected_branch,
 * creates the work branch openhands-workspace-<8 letters or digits>, sets the commit identity,
 * and creates the conversation's *mirror*: a bare repository beside the workspace
 * (DATA/workspaces/<id>.git) that the sandbox never sees and that records the branch and the
 * commit it started from. Later runs reopen that state. A run on another node (the first one
 * died, docs/DEPLOYMENT.md) finds no state: it clones again and, when the work branch was pushed,
 * continues it (conversation.branch and base_commit), so the pull request goes on.
 *
 * After the agent stops, repo_publish commits what it left uncommitted (inside the sandbox: the
 * workspace repository is untrusted now), fetches the branch into the mirror over file:// (git's
 * sanitized-clone boundary), pushes it from the mirror with the token, and opens the pull
 * request once; a later run that changes more pushes to the same branch, and the same pull
 * request shows it. No new commits: nothing is pushed.
 *
 * The token never enters the workspace (.git/config holds the plain clone URL) nor the sandbox
 * (unless --expose-provider-token), nor any message.
 */
#ifndef CH_REPOSITORY_H
#define CH_REPOSITORY_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/app.h"
#include "git/provider.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

#define REPO_INSTRUCTIONS_MAX (64 * 1024) /* bytes of .openhands/microagents/repo.md */
#define REPO_SETUP_SCRIPT     ".openhands/setup.sh"

struct repo_work {
    const struct config *cfg;
    const struct git_provider *provider;
    struct repo_info info;
    char *token;        /* decrypted, or NULL; wiped by repo_work_free */
    char *name;         /* the directory under /workspace: the repository's last segment */
    char *host_dir;     /* DATA/workspaces/<id>/<name> */
    char *inside_dir;   /* /workspace/<name> */
    char *mirror;       /* DATA/workspaces/<id>.git */
    char *work_branch;  /* openhands-workspace-xxxxxxxx */
    char *base_branch;  /* the branch it started from */
    char *base_commit;  /* the commit it started from ("" for an empty repository) */
    char *instructions; /* repo.md or AGENTS.md as cloned (first run only), or NULL */
    bool cloned;        /* this call made the clone (the conversation's first run) */
    bool restored;      /* this call rebuilt a lost workspace from the pushed work branch */
    bool branch_gone;   /* ... which the provider no longer had: made again from the base */
};

/* Makes (first run) or reopens the conversation's repository. Errors are for the conversation:
 * ERR_UNAUTHORIZED (no access any more), ERR_INVALID (e.g. the branch does not exist),
 * ERR_UNAVAILABLE (the provider or git server did not answer, or *cancel was set). */
int repo_open(struct app *app, const struct conversation *conv, const char *git_user_name,
              const char *git_user_email, const atomic_int *cancel, struct repo_work *rw,
              struct error *err);
void repo_work_free(struct repo_work *rw);

/* The workspace context the model reads on the first run (OpenHands' RecallObservation of type
 * workspace_context): the repository, its directory and branch, and its instructions. */
json_t *repo_context_event(const struct repo_work *rw);

/* Whether the clone has a setup script (checked on the host, without following links). */
bool repo_has_setup_script(const struct repo_work *rw);

struct repo_outcome {
    bool changed;           /* there were commits to publish */
    bool pushed;            /* the branch was pushed now */
    struct pull_request pr; /* the pull request opened (or found) now; number 0: none */
    char *message;          /* what happened, for people (the event's content) */
};
void repo_outcome_free(struct repo_outcome *o);

/* Publishes the agent's work (see the top). `summary` is the agent's final message (the commit
 * message and the pull request's text); `has_pull_request` tells that one was opened before.
 * `sb` is the conversation's running sandbox. Errors say what failed (the push, the pull
 * request) and leave the workspace as it is, so a follow-up can publish again. */
int repo_publish(struct repo_work *rw, struct sandbox *sb, const char *summary,
                 const char *fallback_title, bool has_pull_request, const char *git_user_name,
                 const char *git_user_email, const atomic_int *cancel, struct repo_outcome *out,
                 struct error *err);

/* What the API shows of a workspace's repository (GET .../git/changes and .../git/diff). git runs
 * in a short-lived sandbox: the repository is the agent's. Paths are relative to the workspace
 * ("repo/README.md"). The base is the commit the work branch started from (for a conversation
 * without a repository: HEAD of a repository the agent made at /workspace).
 * repo_changes: [{"status": "M"|"A"|"D"|"U", "path"}], [] when there is no repository yet.
 * repo_original: the file's text at the base, "" when it did not exist there; ERR_UNSUPPORTED for
 * a binary file. */
int repo_changes(struct app *app, const struct conversation *conv, json_t **out, struct error *err);
int repo_original(struct app *app, const struct conversation *conv, const char *path, char **text,
                  struct error *err);

/* The repository's directory under the workspace for a conversation (its last name segment),
 * malloc'd; NULL when the conversation has no repository. */
char *repo_dir_name(const char *selected_repository);

#endif
