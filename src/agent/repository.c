/* repository: clone before the agent, publish after it; see repository.h. */
#include "agent/repository.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conversations.h"
#include "core/events.h"
#include "core/settings.h"
#include "git/git.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/json.h"

#define WORK_BRANCH_PREFIX "openhands-workspace-"
#define PR_TITLE_MAX       72
#define COMMIT_TIMEOUT_S   300

/* ---- small helpers -------------------------------------------------------------------------- */

char *repo_dir_name(const char *selected_repository)
{
    if (!selected_repository || !*selected_repository) return NULL;
    const char *slash = strrchr(selected_repository, '/');
    const char *name = slash ? slash + 1 : selected_repository;
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".git") == 0) n -= 4;
    char *out = xmalloc(n + 1);
    memcpy(out, name, n);
    out[n] = '\0';
    return out;
}

static void random_branch(struct buf *out)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[8];
    crypto_random(bytes, sizeof(bytes));
    buf_adds(out, WORK_BRANCH_PREFIX);
    for (size_t i = 0; i < sizeof(bytes); i++)
        buf_addch(out, alphabet[bytes[i] % (sizeof(alphabet) - 1)]);
}

/* Runs git and turns a non-zero exit into an error whose message starts with `what`. */
static int git_ok(const char *dir, const char *const *args, const struct git_auth *auth,
                  const atomic_int *cancel, const char *what, struct git_result *res,
                  struct error *err)
{
    int rc = git_run(dir, args, auth, 0, cancel, res, err);
    if (rc == 0 && res->exit_code != 0) {
        struct buf why = BUF_INIT;
        git_error_summary(res, &why);
        rc = error_set(err, ERR_INTERNAL, "%s: %s", what, why.data);
        buf_release(&why);
    }
    return rc;
}

/* The trimmed first line of git's stdout (malloc'd). */
static char *first_line(const struct git_result *res)
{
    size_t n = strcspn(res->out.data, "\r\n");
    char *s = xmalloc(n + 1);
    memcpy(s, res->out.data, n);
    s[n] = '\0';
    return s;
}

static void wipe_free(char *s)
{
    if (s) crypto_wipe(s, strlen(s));
    free(s);
}

void repo_work_free(struct repo_work *rw)
{
    repo_info_free(&rw->info);
    wipe_free(rw->token);
    free(rw->name);
    free(rw->host_dir);
    free(rw->inside_dir);
    free(rw->mirror);
    free(rw->work_branch);
    free(rw->base_branch);
    free(rw->base_commit);
    free(rw->instructions);
    memset(rw, 0, sizeof(*rw));
}

void repo_outcome_free(struct repo_outcome *o)
{
    pull_request_free(&o->pr);
    free(o->message);
    memset(o, 0, sizeof(*o));
}

/* ---- the mirror's record -------------------------------------------------------------------- */

/* The state lives in the mirror's config, section [cloudhands]: the server wrote it, the agent
 * never sees it. */
static int record_state(const struct repo_work *rw, struct error *err)
{
    struct buf path = BUF_INIT, text = BUF_INIT;
    buf_addf(&path, "%s/config", rw->mirror);
    buf_addf(&text, "[cloudhands]\n\tbranch = %s\n\tbaseBranch = %s\n\tbaseCommit = %s\n",
             rw->work_branch, rw->base_branch, rw->base_commit);
    int fd = open(path.data, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    int rc = 0;
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len)
        rc = error_set(err, ERR_INTERNAL, "cannot record the repository's state: %s",
                       strerror(errno));
    if (fd >= 0) close(fd);
    buf_release(&path);
    buf_release(&text);
    return rc;
}

static int load_state(struct repo_work *rw, struct error *err)
{
    struct buf cfg = BUF_INIT;
    buf_addf(&cfg, "--file=%s/config", rw->mirror);
    const char *args[] = {"config", cfg.data, "--get-regexp", "^cloudhands\\.", NULL};
    struct git_result res;
    int rc = git_ok(NULL, args, NULL, NULL, "cannot read the repository's state", &res, err);
    buf_release(&cfg);
    for (const char *p = rc ? "" : res.out.data; *p;) {
        size_t n = strcspn(p, "\n");
        const char *sp = memchr(p, ' ', n);
        char **slot = NULL;
        size_t klen = sp ? (size_t)(sp - p) : n;
        if (klen == 17 && strncmp(p, "cloudhands.branch", klen) == 0) slot = &rw->work_branch;
        if (klen == 21 && strncmp(p, "cloudhands.basebranch", klen) == 0) slot = &rw->base_branch;
        if (klen == 21 && strncmp(p, "cloudhands.basecommit", klen) == 0) slot = &rw->base_commit;
        if (slot) {
            free(*slot);
            size_t vlen = sp ? n - klen - 1 : 0;
            *slot = xmalloc(vlen + 1);
            if (vlen) memcpy(*slot, sp + 1, vlen);
            (*slot)[vlen] = '\0';
        }
        p += n;
        if (*p) p++;
    }
    if (!rc && (!rw->work_branch || !rw->base_branch || !rw->base_commit))
        rc = error_set(err, ERR_INTERNAL, "the repository's state in %s is incomplete", rw->mirror);
    if (!rc) git_result_release(&res);
    return rc;
}

/* ---- the clone ------------------------------------------------------------------------------ */

static int classify_clone_failure(const struct repo_work *rw, const char *branch,
                                  const struct git_result *res, struct error *err)
{
    struct buf why = BUF_INIT;
    git_error_summary(res, &why);
    int rc;
    if (branch && (strstr(res->err.data, "not found in upstream") ||
                   strstr(res->err.data, "Could not find remote branch")))
        rc = error_set(err, ERR_INVALID, "The branch '%s' does not exist in %s.", branch,
                       rw->info.full_name);
    else if (strstr(res->err.data, "Authentication failed") ||
             strstr(res->err.data, "could not read Username") ||
             strstr(res->err.data, "returned error: 401") ||
             strstr(res->err.data, "returned error: 403") ||
             strstr(res->err.data, "returned error: 404"))
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "Cloning %s was refused (%s): check the account's %s token.",
                       rw->info.full_name, why.data, rw->provider->display_name);
    else
        rc = error_set(err, ERR_UNAVAILABLE, "Cloning %s failed: %s", rw->info.full_name, why.data);
    buf_release(&why);
    return rc;
}

/* Reads the repository's instructions for the agent, if it has some (a fresh clone: trusted). */
static char *read_instructions(const char *dir)
{
    static const char *const names[] = {".openhands/microagents/repo.md", "AGENTS.md", NULL};
    for (const char *const *n = names; *n; n++) {
        int fd = fs_open_beneath(dir, *n, O_RDONLY | O_NOFOLLOW);
        if (fd < 0) continue;
        struct buf text = BUF_INIT;
        struct error err = {0};
        struct stat st;
        bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  fs_read_fd(fd, REPO_INSTRUCTIONS_MAX, &text, &err) == 0;
        close(fd);
        error_clear(&err);
        json_t *utf8 = ok ? json_stringn(text.data, text.len) : NULL; /* NULL: not UTF-8 */
        ok = ok && utf8 != NULL;
        json_decref(utf8);
        if (ok && text.len) return buf_detach(&text, NULL);
        buf_release(&text);
    }
    return NULL;
}

/* Whether `rev` names a commit the clone has. */
static bool have_commit(const struct repo_work *rw, const char *rev, const atomic_int *cancel)
{
    struct buf spec = BUF_INIT;
    buf_addf(&spec, "%s^{commit}", rev);
    const char *args[] = {"cat-file", "-e", spec.data, NULL};
    struct git_result res = {0};
    struct error err = {0};
    bool have = git_run(rw->host_dir, args, NULL, 0, cancel, &res, &err) == 0 && res.exit_code == 0;
    git_result_release(&res);
    error_clear(&err);
    buf_release(&spec);
    return have;
}

/* Rebuilding on another node: the work branch as it was pushed (into refs/heads; *fetched
 * false when the provider has no such branch any more) and the commit it started from (kept
 * only if the clone has it or can fetch it). */
static int fetch_pushed_work(struct repo_work *rw, const char *base_commit, bool *fetched,
                             const atomic_int *cancel, struct error *err)
{
    struct git_auth auth = {.user = rw->provider->token_user, .token = rw->token};
    struct git_result res = {0};
    struct buf refspec = BUF_INIT;
    buf_addf(&refspec, "+refs/heads/%s:refs/heads/%s", rw->work_branch, rw->work_branch);
    const char *fetch[] = {"fetch", "--quiet", "--no-tags", "origin", refspec.data, NULL};
    int rc = git_run(rw->host_dir, fetch, &auth, 0, cancel, &res, err);
    *fetched = rc == 0 && res.exit_code == 0;
    if (rc == 0 && !*fetched && !strstr(res.err.data, "couldn't find remote ref")) {
        struct buf why = BUF_INIT;
        git_error_summary(&res, &why);
        rc = error_set(err, ERR_UNAVAILABLE, "Fetching the work branch %s of %s failed: %s",
                       rw->work_branch, rw->info.full_name, why.data);
        buf_release(&why);
    }
    git_result_release(&res);
    buf_release(&refspec);
    /* A commit id as the server recorded it (rev-parse), never anything git could take for an
     * option. */
    if (rc || !base_commit || strlen(base_commit) < 40 ||
        strspn(base_commit, "0123456789abcdef") != strlen(base_commit))
        return rc;
    if (!have_commit(rw, base_commit, cancel)) {
        const char *by_id[] = {"fetch",  "--quiet",   "--no-tags", "--depth=1",
                               "origin", base_commit, NULL};
        if (git_run(rw->host_dir, by_id, &auth, 0, cancel, &res, err) != 0) error_clear(err);
        git_result_release(&res);
    }
    if (have_commit(rw, base_commit, cancel)) {
        free(rw->base_commit);
        rw->base_commit = xstrdup(base_commit);
    }
    return 0;
}

/* A first run clones and starts a new work branch. A conversation whose workspace was lost (it
 * ran on another node, which died) but whose work branch was pushed (conv->branch) continues
 * that branch instead, so its pull request goes on. */
static int clone_repository(struct app *app, struct repo_work *rw, const struct conversation *conv,
                            const char *git_user_name, const char *git_user_email,
                            const atomic_int *cancel, struct error *err)
{
    const char *selected_branch = conv->selected_branch;
    bool restore = conv->branch && *conv->branch, fetched = false;
    struct git_auth auth = {.user = rw->provider->token_user, .token = rw->token};
    struct git_result res = {0};
    char depth[32];
    snprintf(depth, sizeof(depth), "--depth=%d", app->cfg.git_clone_depth);
    const char *args[12];
    size_t n = 0;
    args[n++] = "clone";
    args[n++] = "--quiet";
    if (app->cfg.git_clone_depth > 0) args[n++] = depth;
    if (selected_branch) {
        args[n++] = "--branch";
        args[n++] = selected_branch;
    }
    args[n++] = "--";
    args[n++] = rw->info.clone_url;
    args[n++] = rw->host_dir;
    args[n] = NULL;
    int rc = git_run(NULL, args, &auth, 0, cancel, &res, err);
    if (rc == 0 && res.exit_code != 0) rc = classify_clone_failure(rw, selected_branch, &res, err);
    git_result_release(&res);
    if (rc) {
        fs_remove_tree(rw->host_dir);
        return rc;
    }

    /* where it starts from */
    const char *head[] = {"rev-parse", "--verify", "-q", "HEAD", NULL};
    if (git_run(rw->host_dir, head, NULL, 0, cancel, &res, err) == 0 && res.exit_code == 0)
        rw->base_commit = first_line(&res);
    else
        rw->base_commit = xstrdup(""); /* an empty repository */
    git_result_release(&res);
    error_clear(err);
    if (selected_branch) {
        rw->base_branch = xstrdup(selected_branch);
    } else {
        const char *sym[] = {"symbolic-ref", "--short", "-q", "HEAD", NULL};
        if (git_run(rw->host_dir, sym, NULL, 0, cancel, &res, err) == 0 && res.exit_code == 0)
            rw->base_branch = first_line(&res);
        git_result_release(&res);
        error_clear(err);
        if (!rw->base_branch || !*rw->base_branch) {
            free(rw->base_branch);
            rw->base_branch = xstrdup(rw->info.default_branch ? rw->info.default_branch : "main");
        }
    }

    struct buf branch = BUF_INIT, name = BUF_INIT, email = BUF_INIT;
    if (restore) {
        rw->work_branch = xstrdup(conv->branch);
        rc = fetch_pushed_work(rw, conv->base_commit, &fetched, cancel, err);
        if (rc) {
            fs_remove_tree(rw->host_dir);
            return rc;
        }
    } else {
        random_branch(&branch);
        rw->work_branch = buf_detach(&branch, NULL);
    }
    buf_addf(&name, "user.name=%s", git_user_name);
    buf_addf(&email, "user.email=%s", git_user_email);
    /* `checkout -b` would re-hash every file of a fresh clone (all racily clean in the index,
     * bench/clone.py): the work branch starts where HEAD is, so only HEAD needs to move. */
    struct buf head_ref = BUF_INIT;
    buf_addf(&head_ref, "refs/heads/%s", rw->work_branch);
    const char *branch_args[] = {"branch", rw->work_branch, NULL};
    const char *checkout[] = {"symbolic-ref", "HEAD", head_ref.data, NULL};
    const char *checkout_pushed[] = {"checkout", "--quiet", rw->work_branch, NULL};
    const char *set_name[] = {"config", "user.name", git_user_name, NULL};
    const char *set_email[] = {"config", "user.email", git_user_email, NULL};
    const char *init[] = {"init", "-q", "--bare", rw->mirror, NULL};
    if (fetched)
        rc = git_ok(rw->host_dir, checkout_pushed, NULL, cancel,
                    "cannot switch to the pushed work branch", &res, err);
    else if (*rw->base_commit) /* an empty repository has no commit to branch from */
        rc = git_ok(rw->host_dir, branch_args, NULL, cancel, "cannot create the work branch", &res,
                    err);
    git_result_release(&res);
    if (!rc && !fetched)
        rc = git_ok(rw->host_dir, checkout, NULL, cancel, "cannot switch to the work branch", &res,
                    err);
    git_result_release(&res);
    buf_release(&head_ref);
    if (!rc) rc = git_ok(rw->host_dir, set_name, NULL, cancel, "git config", &res, err);
    git_result_release(&res);
    if (!rc) rc = git_ok(rw->host_dir, set_email, NULL, cancel, "git config", &res, err);
    git_result_release(&res);
    fs_remove_tree(rw->mirror); /* a mirror left by an interrupted first run */
    if (!rc) rc = git_ok(NULL, init, NULL, cancel, "cannot create the mirror", &res, err);
    git_result_release(&res);
    if (!rc) rc = record_state(rw, err);
    buf_release(&name);
    buf_release(&email);
    if (rc) {
        fs_remove_tree(rw->host_dir);
        fs_remove_tree(rw->mirror);
        return rc;
    }
    if (restore) {
        rw->restored = true; /* the model has the workspace context from the first run */
        rw->branch_gone = !fetched;
    } else {
        rw->instructions = read_instructions(rw->host_dir);
        rw->cloned = true;
    }
    return 0;
}

int repo_open(struct app *app, const struct conversation *conv, const char *git_user_name,
              const char *git_user_email, const atomic_int *cancel, struct repo_work *rw,
              struct error *err)
{
    memset(rw, 0, sizeof(*rw));
    rw->cfg = &app->cfg;
    rw->provider = git_provider_find(&app->cfg, conv->git_provider, err);
    if (!rw->provider) return ERR_INVALID;
    int rc = settings_provider_token(app, conv->account_id, rw->provider, &rw->token, err);
    if (rc) return rc;
    struct provider_call pc = {.cfg = &app->cfg, .token = rw->token, .cancel = cancel};
    if ((rc = rw->provider->lookup(&pc, conv->selected_repository, &rw->info, err))) return rc;

    struct buf ws = BUF_INIT, path = BUF_INIT;
    conversation_workspace(app, conv->id, &ws);
    rw->name = repo_dir_name(conv->selected_repository);
    buf_addf(&path, "%s/%s", ws.data, rw->name);
    rw->host_dir = buf_detach(&path, NULL);
    buf_addf(&path, "/workspace/%s", rw->name);
    rw->inside_dir = buf_detach(&path, NULL);
    buf_addf(&path, "%s.git", ws.data);
    rw->mirror = buf_detach(&path, NULL);
    if (fs_make_dirs(ws.data) < 0)
        rc = error_set(err, ERR_INTERNAL, "cannot create the workspace: %s", strerror(errno));
    buf_release(&ws);
    if (rc) return rc;

    struct stat st;
    bool have_state = stat(rw->mirror, &st) == 0 && load_state(rw, err) == 0;
    error_clear(err);
    if (have_state) return 0;
    free(rw->work_branch);
    free(rw->base_branch);
    free(rw->base_commit);
    rw->work_branch = rw->base_branch = rw->base_commit = NULL;
    if (lstat(rw->host_dir, &st) == 0) fs_remove_tree(rw->host_dir); /* an interrupted clone */
    return clone_repository(app, rw, conv, git_user_name, git_user_email, cancel, err);
}

bool repo_has_setup_script(const struct repo_work *rw)
{
    int fd = fs_open_beneath(rw->host_dir, REPO_SETUP_SCRIPT, O_RDONLY | O_NOFOLLOW);
    if (fd < 0) return false;
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return regular;
}

json_t *repo_context_event(const struct repo_work *rw)
{
    struct buf text = BUF_INIT;
    buf_addf(&text,
             "<REPOSITORY_INFO>\n"
             "At the user's request, repository %s has been cloned to %s in the current working "
             "directory.\n"
             "The repository has been checked out to branch \"%s\".\n\n"
             "IMPORTANT: You should work within the current branch \"%s\" unless the user "
             "explicitly instructs otherwise. Your changes on it are committed, pushed and "
             "proposed as a pull request for you when you finish: you do not need to push.\n"
             "</REPOSITORY_INFO>",
             rw->info.full_name, rw->inside_dir, rw->work_branch, rw->work_branch);
    if (rw->instructions)
        buf_addf(&text, "\n\n<REPOSITORY_INSTRUCTIONS>\n%s\n</REPOSITORY_INSTRUCTIONS>",
                 rw->instructions);
    json_t *extras =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:[]}", "recall_type", "workspace_context",
                  "repo_name", rw->info.full_name, "repo_directory", rw->inside_dir, "repo_branch",
                  rw->work_branch, "repo_instructions", json_str_or_null(rw->instructions),
                  "working_dir", "/workspace", "microagent_knowledge");
    json_t *ev =
        event_observation("recall", -1, text.data, "Added workspace context", extras, NULL);
    json_object_set_new(ev, "source", json_string("environment"));
    buf_release(&text);
    return ev;
}

/* ---- publishing ----------------------------------------------------------------------------- */

/* Commits whatever the agent left uncommitted, inside the sandbox. */
static int commit_leftovers(struct repo_work *rw, struct sandbox *sb, const char *message,
                            const char *name, const char *email, struct error *err)
{
    /* add everything; commit only when the index differs from HEAD (or HEAD is unborn) */
    static const char script[] = "git add -A || exit\n"
                                 "if git rev-parse -q --verify HEAD >/dev/null; then\n"
                                 "  git diff --cached --quiet && exit 0\n"
                                 "fi\n"
                                 "git commit -q --no-verify -F -\n";
    const char *argv[] = {"sh", "-c", script, NULL};
    struct buf n1 = BUF_INIT, e1 = BUF_INIT, n2 = BUF_INIT, e2 = BUF_INIT;
    buf_addf(&n1, "GIT_AUTHOR_NAME=%s", name);
    buf_addf(&e1, "GIT_AUTHOR_EMAIL=%s", email);
    buf_addf(&n2, "GIT_COMMITTER_NAME=%s", name);
    buf_addf(&e2, "GIT_COMMITTER_EMAIL=%s", email);
    const char *env[] = {n1.data,           e1.data, n2.data, e2.data, "GIT_TERMINAL_PROMPT=0",
                         "GIT_EDITOR=true", NULL};
    struct sandbox_exec ex = {.argv = argv,
                              .cwd = rw->inside_dir,
                              .env = env,
                              .stdin_text = message,
                              .timeout_s = COMMIT_TIMEOUT_S};
    struct sandbox_exec_result res = {0};
    int rc = sandbox_exec(sb, &ex, &res, err);
    if (rc == 0 && res.exit_code != 0) {
        const char *why = res.err_text && *res.err_text ? res.err_text : "no message";
        rc = error_set(err, ERR_INVALID, "Committing the agent's changes failed: %.300s", why);
    }
    sandbox_exec_result_free(&res);
    buf_release(&n1);
    buf_release(&e1);
    buf_release(&n2);
    buf_release(&e2);
    return rc;
}

/* The workspace repository must be a plain one inside the workspace before the host fetches
 * from it: no .git file or link pointing elsewhere, no borrowed object stores. */
static int check_workspace_repository(const struct repo_work *rw, struct error *err)
{
    static const char *const dirs[] = {"", ".git", ".git/objects", ".git/refs", NULL};
    static const char *const absent[] = {".git/objects/info/alternates",
                                         ".git/objects/info/http-alternates", NULL};
    struct buf p = BUF_INIT;
    int rc = 0;
    for (const char *const *d = dirs; *d && !rc; d++) {
        struct stat st;
        buf_reset(&p);
        buf_addf(&p, "%s%s%s", rw->host_dir, **d ? "/" : "", *d);
        if (lstat(p.data, &st) < 0 || !S_ISDIR(st.st_mode))
            rc = error_set(err, ERR_INVALID,
                           "%s%s%s is not a git repository directory any more, so it cannot be "
                           "pushed",
                           rw->inside_dir, **d ? "/" : "", *d);
    }
    for (const char *const *a = absent; *a && !rc; a++) {
        struct stat st;
        buf_reset(&p);
        buf_addf(&p, "%s/%s", rw->host_dir, *a);
        if (lstat(p.data, &st) == 0)
            rc = error_set(err, ERR_INVALID,
                           "%s/%s exists: a repository borrowing objects from elsewhere is not "
                           "pushed; remove it",
                           rw->inside_dir, *a);
    }
    buf_release(&p);
    return rc;
}

/* The pull request's title: the summary's first line, shortened; else the conversation's. */
static void pull_request_title(const char *summary, const char *fallback, struct buf *out)
{
    const char *s = summary ? summary : "";
    while (*s == ' ' || *s == '\n' || *s == '#' || *s == '*') s++;
    size_t n = strcspn(s, "\n");
    if (n == 0) {
        buf_adds(out, fallback && *fallback ? fallback : "Changes by OpenHands");
        return;
    }
    if (n > PR_TITLE_MAX) {
        size_t cut = PR_TITLE_MAX - 3;
        while (cut > 20 && s[cut] != ' ') cut--;
        while (cut && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--; /* UTF-8 boundary */
        buf_add(out, s, cut);
        buf_adds(out, "...");
    } else {
        buf_add(out, s, n);
    }
}

int repo_publish(struct repo_work *rw, struct sandbox *sb, const char *summary,
                 const char *fallback_title, bool has_pull_request, const char *git_user_name,
                 const char *git_user_email, const atomic_int *cancel, struct repo_outcome *out,
                 struct error *err)
{
    memset(out, 0, sizeof(*out));
    struct buf title = BUF_INIT, message = BUF_INIT, src = BUF_INIT, refspec = BUF_INIT,
               ref = BUF_INIT, why = BUF_INIT;
    struct git_result res = {0};
    pull_request_title(summary, fallback_title, &title);
    buf_adds(&message, title.data);
    if (summary && strlen(summary) > title.len) buf_addf(&message, "\n\n%s", summary);
    buf_addch(&message, '\n');

    int rc = commit_leftovers(rw, sb, message.data, git_user_name, git_user_email, err);
    if (!rc) rc = check_workspace_repository(rw, err);
    char real[PATH_MAX];
    if (!rc && !realpath(rw->host_dir, real))
        rc = error_set(err, ERR_INTERNAL, "cannot resolve the workspace: %s", strerror(errno));
    if (rc) goto out;

    /* into the mirror: the sanitized copy the push starts from */
    buf_addf(&src, "file://%s", real);
    buf_addf(&ref, "refs/heads/%s", rw->work_branch);
    buf_addf(&refspec, "+HEAD:%s", ref.data);
    /* git clears its configuration from the environment of the upload-pack it starts on the
     * workspace, and a root server reads a repository the sandbox user owns */
    const char *fetch[] = {"--git-dir",
                           rw->mirror,
                           "fetch",
                           "--quiet",
                           "--no-tags",
                           "--update-shallow",
                           "--no-write-fetch-head",
                           "--upload-pack=git -c 'safe.directory=*' upload-pack",
                           "--",
                           src.data,
                           refspec.data,
                           NULL};
    rc = git_ok(NULL, fetch, NULL, cancel, "Reading the agent's commits failed", &res, err);
    git_result_release(&res);
    if (rc) goto out;
    const char *tip_args[] = {"--git-dir", rw->mirror, "rev-parse", "--verify",
                              "-q",        ref.data,   NULL};
    rc = git_ok(NULL, tip_args, NULL, cancel, "Reading the agent's commits failed", &res, err);
    char *tip = rc ? NULL : first_line(&res);
    git_result_release(&res);
    if (rc) goto out;
    const char *pushed_args[] = {
        "--git-dir", rw->mirror, "rev-parse", "--verify", "-q", "refs/cloudhands/pushed", NULL};
    char *pushed = NULL;
    if (git_run(NULL, pushed_args, NULL, 0, cancel, &res, err) == 0 && res.exit_code == 0)
        pushed = first_line(&res);
    git_result_release(&res);
    error_clear(err);

    out->changed = strcmp(tip, rw->base_commit) != 0;
    bool new_commits = out->changed && (!pushed || strcmp(pushed, tip) != 0);
    if (!out->changed) {
        buf_addf(&why, "The agent made no changes to %s: nothing was pushed%s.", rw->info.full_name,
                 rw->provider->has_pull_requests ? " and no pull request opened" : "");
        out->message = buf_detach(&why, NULL);
        free(tip);
        free(pushed);
        goto out;
    }
    if (new_commits) {
        struct git_auth auth = {.user = rw->provider->token_user, .token = rw->token};
        buf_reset(&refspec);
        buf_addf(&refspec, "+%s:%s", ref.data, ref.data);
        const char *push[] = {"--git-dir", rw->mirror,         "push",       "--quiet",
                              "--",        rw->info.clone_url, refspec.data, NULL};
        rc = git_run(NULL, push, &auth, 0, cancel, &res, err);
        if (rc == 0 && res.exit_code != 0) {
            git_error_summary(&res, &why);
            bool refused = strstr(res.err.data, "403") || strstr(res.err.data, "401") ||
                           strstr(res.err.data, "Authentication failed") ||
                           strstr(res.err.data, "could not read Username") ||
                           strstr(res.err.data, "denied");
            rc = error_set(err, refused ? ERR_FORBIDDEN : ERR_UNAVAILABLE,
                           "Pushing branch %s to %s failed (%s)%s", rw->work_branch,
                           rw->info.full_name, why.data,
                           refused ? ": the token needs write access to the repository" : "");
            buf_reset(&why);
        }
        git_result_release(&res);
        if (!rc) {
            const char *mark[] = {"--git-dir", rw->mirror, "update-ref", "refs/cloudhands/pushed",
                                  tip,         NULL};
            git_run(NULL, mark, NULL, 0, cancel, &res, err);
            git_result_release(&res);
            error_clear(err);
            out->pushed = true;
        }
    }
    free(tip);
    free(pushed);
    if (rc) goto out;

    if (rw->provider->has_pull_requests && !has_pull_request) {
        struct provider_call pc = {.cfg = rw->cfg, .token = rw->token, .cancel = cancel};
        struct buf body = BUF_INIT;
        buf_addf(&body, "%s\n\n---\nOpened by cloudhands on behalf of the agent (branch `%s`).",
                 summary && *summary ? summary : title.data, rw->work_branch);
        rc = rw->provider->open_pull_request(&pc, &rw->info, rw->work_branch, rw->base_branch,
                                             title.data, body.data, &out->pr, err);
        buf_release(&body);
        if (rc) goto out;
    }
    if (out->pr.number)
        buf_addf(&why, "Pushed branch %s to %s and opened pull request #%lld: %s", rw->work_branch,
                 rw->info.full_name, (long long)out->pr.number, out->pr.url);
    else if (out->pushed)
        buf_addf(&why, "Pushed branch %s to %s.", rw->work_branch, rw->info.full_name);
    else
        buf_addf(&why, "Branch %s of %s is up to date.", rw->work_branch, rw->info.full_name);
    out->message = buf_detach(&why, NULL);
out:
    buf_release(&title);
    buf_release(&message);
    buf_release(&src);
    buf_release(&refspec);
    buf_release(&ref);
    buf_release(&why);
    return rc;
}

/* ---- what the API shows -----------------------------------------------------------------------
 */

/* Where the conversation's repository is: its directory under the workspace ("" for /workspace
 * itself) and its base commit (malloc'd, "HEAD" when none is recorded). False when there is no
 * repository yet. */
static bool locate(struct app *app, const struct conversation *conv, char **dir, char **base)
{
    struct buf ws = BUF_INIT, p = BUF_INIT;
    conversation_workspace(app, conv->id, &ws);
    char *name = repo_dir_name(conv->selected_repository);
    buf_addf(&p, "%s%s%s/.git", ws.data, name ? "/" : "", name ? name : "");
    struct stat st;
    bool found = lstat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
    *dir = name ? name : xstrdup("");
    *base = NULL;
    if (found && name) {
        struct repo_work rw = {0};
        buf_reset(&p);
        buf_addf(&p, "%s.git", ws.data);
        rw.mirror = buf_detach(&p, NULL);
        struct error err = {0};
        if (load_state(&rw, &err) == 0 && *rw.base_commit) *base = xstrdup(rw.base_commit);
        error_clear(&err);
        repo_work_free(&rw);
    }
    if (!*base) *base = xstrdup("HEAD");
    buf_release(&ws);
    buf_release(&p);
    if (!found) {
        free(*dir);
        free(*base);
        *dir = *base = NULL;
    }
    return found;
}

/* Runs argv in a short-lived sandbox on the conversation's workspace, in /workspace/<dir>. */
static int exec_once(struct app *app, const struct conversation *conv, const char *dir,
                     const char *const *argv, struct sandbox_exec_result *res, struct error *err)
{
    struct buf ws = BUF_INIT, cwd = BUF_INIT;
    conversation_workspace(app, conv->id, &ws);
    buf_addf(&cwd, "/workspace%s%s", *dir ? "/" : "", dir);
    static char *const env[] = {"LANG=C.UTF-8", NULL};
    struct sandbox_config cfg = {.workspace = ws.data,
                                 .agent_binary = app->cfg.agent_binary,
                                 .cwd = "/workspace",
                                 .env = env,
                                 .exec_only = true};
    const char *exec_env[] = {"GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", NULL};
    struct sandbox_exec ex = {.argv = argv, .cwd = cwd.data, .env = exec_env, .timeout_s = 30};
    int rc = sandbox_exec_once(&cfg, &ex, res, err);
    buf_release(&ws);
    buf_release(&cwd);
    return rc;
}

/* Undoes git's C-style quoting of a path ("a\tb" with quotes), in place. */
static void unquote_path(char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') return;
    char *w = s;
    for (const char *r = s + 1; r < s + n - 1; r++) {
        if (*r != '\\' || r + 1 >= s + n - 1) {
            *w++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n':
            *w++ = '\n';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'a':
            *w++ = '\a';
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 'v':
            *w++ = '\v';
            break;
        default:
            if (*r >= '0' && *r <= '3' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' &&
                r[2] <= '7') {
                *w++ = (char)((*r - '0') * 64 + (r[1] - '0') * 8 + (r[2] - '0'));
                r += 2;
            } else {
                *w++ = *r;
            }
        }
    }
    *w = '\0';
}

int repo_changes(struct app *app, const struct conversation *conv, json_t **out, struct error *err)
{
    char *dir, *base;
    *out = json_array();
    if (!locate(app, conv, &dir, &base)) return 0;
    /* tracked changes against the base (committed or not), a marker line, then untracked files */
    static const char script[] =
        "base=$1\n"
        "if [ \"$base\" = HEAD ] && ! git rev-parse -q --verify HEAD >/dev/null; then\n"
        "  base=$(git hash-object -t tree /dev/null)\n"
        "fi\n"
        "git -c core.quotePath=false diff --name-status --no-renames --no-ext-diff \"$base\" -- "
        "|| exit\n"
        "echo ==\n"
        "git -c core.quotePath=false ls-files --others --exclude-standard\n";
    const char *argv[] = {"sh", "-c", script, "sh", base, NULL};
    struct sandbox_exec_result res = {0};
    int rc = exec_once(app, conv, dir, argv, &res, err);
    if (rc == 0 && res.exit_code != 0)
        rc = error_set(err, ERR_INTERNAL, "git could not list the changes: %.300s",
                       res.err_text ? res.err_text : "");
    bool untracked = false;
    char *save = NULL;
    for (char *line = rc ? NULL : strtok_r(res.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, "==") == 0) {
            untracked = true;
            continue;
        }
        const char *status = "A";
        char *path = line;
        if (!untracked) {
            char *tab = strchr(line, '\t');
            if (!tab) continue;
            *tab = '\0';
            status = line[0] == 'D' ? "D" : line[0] == 'A' ? "A" : line[0] == 'U' ? "U" : "M";
            path = tab + 1;
        }
        unquote_path(path);
        struct buf full = BUF_INIT;
        buf_addf(&full, "%s%s%s", dir, *dir ? "/" : "", path);
        json_t *p = json_stringn(full.data, full.len);
        if (p) json_array_append_new(*out, json_pack("{s:s, s:o}", "status", status, "path", p));
        buf_release(&full);
    }
    sandbox_exec_result_free(&res);
    free(dir);
    free(base);
    return rc;
}

int repo_original(struct app *app, const struct conversation *conv, const char *path, char **text,
                  struct error *err)
{
    char *dir, *base;
    *text = NULL;
    if (!locate(app, conv, &dir, &base)) {
        *text = xstrdup("");
        return 0;
    }
    size_t dlen = strlen(dir);
    int rc = 0;
    if (dlen && (strncmp(path, dir, dlen) != 0 || path[dlen] != '/')) {
        *text = xstrdup(""); /* outside the repository: it did not exist there */
        goto out;
    }
    struct buf spec = BUF_INIT;
    buf_addf(&spec, "%s:%s", base, dlen ? path + dlen + 1 : path);
    const char *argv[] = {"git", "show", "--no-textconv", spec.data, NULL};
    struct sandbox_exec_result res = {0};
    rc = exec_once(app, conv, dir, argv, &res, err);
    buf_release(&spec);
    if (rc == 0 && res.exit_code == 0) {
        if (res.binary)
            rc = error_set(err, ERR_UNSUPPORTED, "Unable to open binary file: %s", path);
        else
            *text = xstrdup(res.out);
    } else if (rc == 0) {
        *text = xstrdup(""); /* not in the base: an added file */
    }
    sandbox_exec_result_free(&res);
out:
    free(dir);
    free(base);
    return rc;
}
