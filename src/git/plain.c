/*
 * plain: the "git" provider — any git server, reached through the operator's
 * --git-url-template (https://git.example.com/{owner}/{repo}.git,
 * file:///srv/git/{owner}/{repo}.git,
 * ...). It has no review API: the access check is `git ls-remote` with the account's
 * credentials, and the result of a conversation is the pushed branch, without a pull request.
 * A token is a password for "x-access-token", or USER:PASSWORD.
 */
#include <stdlib.h>
#include <string.h>

#include "git/git.h"
#include "git/provider.h"
#include "util/buf.h"

static const char *plain_base(const struct config *cfg)
{
    return cfg->git_url_template && *cfg->git_url_template ? cfg->git_url_template : NULL;
}

/* The template with {owner} and {repo} (and {repository}, the whole name) filled in. */
static char *expand(const char *tmpl, const char *repository)
{
    size_t owner_len = strcspn(repository, "/");
    const char *repo = repository[owner_len] ? repository + owner_len + 1 : "";
    struct buf b = BUF_INIT;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{owner}", 7) == 0) {
            buf_add(&b, repository, owner_len);
            p += 7;
        } else if (strncmp(p, "{repo}", 6) == 0) {
            buf_adds(&b, repo);
            p += 6;
        } else if (strncmp(p, "{repository}", 12) == 0) {
            buf_adds(&b, repository);
            p += 12;
        } else {
            buf_addch(&b, *p++);
        }
    }
    return buf_detach(&b, NULL);
}

/* Failures of the transport itself, not of the repository or the credentials. */
static bool unreachable(const char *stderr_text)
{
    static const char *const signs[] = {"Could not resolve host",
                                        "Connection refused",
                                        "Failed to connect",
                                        "timed out",
                                        "Connection reset",
                                        "SSL",
                                        "The requested URL returned error: 5",
                                        NULL};
    for (const char *const *s = signs; *s; s++)
        if (strstr(stderr_text, *s)) return true;
    return false;
}

static int plain_lookup(const struct provider_call *pc, const char *repository,
                        struct repo_info *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    char *url = expand(pc->cfg->git_url_template, repository);
    const char *args[] = {"ls-remote", "--symref", url, "HEAD", NULL};
    struct git_auth auth = {.user = NULL, .token = pc->token};
    struct git_result res;
    int rc = git_run(NULL, args, &auth, 60, pc->cancel, &res, err);
    if (rc == 0 && res.exit_code != 0) {
        struct buf why = BUF_INIT;
        git_error_summary(&res, &why);
        if (unreachable(res.err.data))
            rc = error_set(err, ERR_UNAVAILABLE,
                           "The git server for %s did not answer (%s): try again later", repository,
                           why.data);
        else
            rc = error_set(err, ERR_UNAUTHORIZED,
                           "Repository %s was not found on the git server, or the credentials "
                           "cannot access it.%s",
                           repository,
                           pc->token || strncmp(url, "file:", 5) == 0
                               ? ""
                               : " No git token is set for this account: add one with POST "
                                 "/api/add-git-providers.");
        buf_release(&why);
    } else if (rc == 0) {
        const char *ref = strstr(res.out.data, "ref: refs/heads/");
        if (ref) {
            ref += strlen("ref: refs/heads/");
            size_t n = strcspn(ref, "\t\n");
            out->default_branch = xmalloc(n + 1);
            memcpy(out->default_branch, ref, n);
            out->default_branch[n] = '\0';
        }
        out->full_name = xstrdup(repository);
        out->clone_url = url;
        url = NULL;
        out->can_push = true;
    }
    git_result_release(&res);
    free(url);
    return rc;
}

static int plain_check_token(const struct provider_call *pc, struct error *err)
{
    (void)pc, (void)err; /* no API to ask: the first clone tells */
    return 0;
}

const struct git_provider provider_git = {
    .name = "git",
    .display_name = "git server",
    .token_user = NULL,
    .token_env = NULL,
    .has_pull_requests = false,
    .base_url = plain_base,
    .lookup = plain_lookup,
    .open_pull_request = NULL,
    .check_token = plain_check_token,
};
