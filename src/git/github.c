/*
 * github: the GitHub provider (github.com or GitHub Enterprise) over REST API v3 —
 * GET /repos/{owner}/{repo} as the access check, POST /repos/{owner}/{repo}/pulls for pull
 * requests, GET /user to check a token. git runs over HTTPS at --github-url with the token as
 * the password of "x-access-token", which GitHub accepts for every kind of token.
 */
#include <stdlib.h>
#include <string.h>

#include "git/provider.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/json.h"

#define NO_TOKEN_HINT                                                                              \
    " No GitHub token is set for this account: add one with POST /api/add-git-providers."

static const char *github_base(const struct config *cfg)
{
    return cfg->github_api_url && *cfg->github_api_url && cfg->github_url && *cfg->github_url
               ? cfg->github_url
               : NULL;
}

/* The request headers; the Authorization line (if any) is malloc'd in *auth, wiped after. */
static void headers_for(const struct provider_call *pc, const char *h[4], char **auth)
{
    size_t n = 0;
    *auth = NULL;
    h[n++] = "Accept: application/vnd.github+json";
    h[n++] = "X-GitHub-Api-Version: 2022-11-28";
    if (pc->token) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "Authorization: Bearer %s", pc->token);
        *auth = buf_detach(&b, NULL);
        h[n++] = *auth;
    }
    h[n] = NULL;
}

static void wipe(char *s)
{
    if (s) crypto_wipe(s, strlen(s));
    free(s);
}

static int call(const struct provider_call *pc, const char *method, const char *path, json_t *body,
                struct rest_answer *a, struct error *err)
{
    const char *h[4];
    char *auth, *url = url_join(pc->cfg->github_api_url, path);
    headers_for(pc, h, &auth);
    int rc = provider_rest(pc, method, url, h, body, a, err);
    wipe(auth);
    free(url);
    if (rc == ERR_UNAVAILABLE)
        error_set(err, ERR_UNAVAILABLE, "GitHub did not answer (%s): try again later",
                  pc->cfg->github_api_url);
    return rc;
}

static int github_lookup(const struct provider_call *pc, const char *repository,
                         struct repo_info *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    struct rest_answer a;
    struct buf path = BUF_INIT;
    buf_addf(&path, "repos/%s", repository);
    int rc = call(pc, "GET", path.data, NULL, &a, err);
    buf_release(&path);
    if (rc) return rc;
    if ((rc = rest_common_failure(&provider_github, pc, &a, err))) {
    } else if (a.status == 404 || a.status == 403) {
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "Repository %s was not found on GitHub, or the token cannot access it.%s",
                       repository, pc->token ? "" : NO_TOKEN_HINT);
    } else if (a.status != 200 || !json_is_object(a.json) || !json_get_str(a.json, "full_name")) {
        rc = error_set(err, ERR_UNAVAILABLE, "GitHub answered HTTP %ld to a repository lookup",
                       a.status);
    } else {
        const char *full = json_get_str(a.json, "full_name");
        out->full_name = xstrdup(full);
        out->default_branch = xstrdup_or_null(json_get_str(a.json, "default_branch"));
        out->web_url = xstrdup_or_null(json_get_str(a.json, "html_url"));
        struct buf clone = BUF_INIT;
        buf_addf(&clone, "%s.git", full);
        out->clone_url = url_join(pc->cfg->github_url, clone.data);
        buf_release(&clone);
        json_t *perm = json_object_get(a.json, "permissions");
        out->can_push = !perm || json_is_true(json_object_get(perm, "push"));
    }
    rest_answer_release(&a);
    return rc;
}

/* The open pull request whose head is owner:branch, if there is one. */
static int find_open_pull(const struct provider_call *pc, const struct repo_info *repo,
                          const char *head, struct pull_request *out, struct error *err)
{
    struct buf path = BUF_INIT, owner = BUF_INIT;
    buf_add(&owner, repo->full_name, strcspn(repo->full_name, "/"));
    buf_addf(&path, "repos/%s/pulls?state=open&head=", repo->full_name);
    url_encode(owner.data, &path);
    buf_addch(&path, ':');
    url_encode(head, &path);
    struct rest_answer a;
    int rc = call(pc, "GET", path.data, NULL, &a, err);
    buf_release(&path);
    buf_release(&owner);
    if (rc) return rc;
    json_t *first = json_array_get(a.json, 0);
    if (!(rc = rest_common_failure(&provider_github, pc, &a, err))) {
        if (a.status == 200 && json_is_object(first) && json_get_str(first, "html_url")) {
            out->number = json_integer_value(json_object_get(first, "number"));
            out->url = xstrdup(json_get_str(first, "html_url"));
        } else {
            rc = error_set(err, ERR_INVALID,
                           "GitHub says a pull request for %s exists, but does not list it", head);
        }
    }
    rest_answer_release(&a);
    return rc;
}

static int github_open_pull_request(const struct provider_call *pc, const struct repo_info *repo,
                                    const char *head, const char *base, const char *title,
                                    const char *body, struct pull_request *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    json_t *req =
        json_pack("{s:s, s:s, s:s, s:s}", "title", title, "head", head, "base", base, "body", body);
    struct buf path = BUF_INIT;
    buf_addf(&path, "repos/%s/pulls", repo->full_name);
    struct rest_answer a;
    int rc = call(pc, "POST", path.data, req, &a, err);
    json_decref(req);
    buf_release(&path);
    if (rc) return rc;
    struct buf why = BUF_INIT;
    rest_message(&a, &why);
    if ((rc = rest_common_failure(&provider_github, pc, &a, err))) {
    } else if (a.status == 201 && json_get_str(a.json, "html_url")) {
        out->number = json_integer_value(json_object_get(a.json, "number"));
        out->url = xstrdup(json_get_str(a.json, "html_url"));
    } else if (a.status == 422 && strstr(why.data, "already exists")) {
        rc = find_open_pull(pc, repo, head, out, err);
    } else if (a.status == 403 || a.status == 404) {
        rc = error_set(err, ERR_FORBIDDEN,
                       "GitHub did not let the token open a pull request on %s (HTTP %ld%s%s): "
                       "it needs write access to pull requests",
                       repo->full_name, a.status, why.len ? ": " : "", why.data);
    } else {
        rc = error_set(err, ERR_INVALID, "GitHub refused the pull request (HTTP %ld%s%s)", a.status,
                       why.len ? ": " : "", why.data);
    }
    buf_release(&why);
    rest_answer_release(&a);
    return rc;
}

static int github_check_token(const struct provider_call *pc, struct error *err)
{
    struct rest_answer a;
    int rc = call(pc, "GET", "user", NULL, &a, err);
    if (rc) return rc;
    if (!(rc = rest_common_failure(&provider_github, pc, &a, err)) && a.status != 200)
        rc = error_set(err, ERR_UNAUTHORIZED, "GitHub did not accept the token (HTTP %ld)",
                       a.status);
    rest_answer_release(&a);
    return rc;
}

const struct git_provider provider_github = {
    .name = "github",
    .display_name = "GitHub",
    .token_user = "x-access-token",
    .token_env = "GITHUB_TOKEN",
    .has_pull_requests = true,
    .base_url = github_base,
    .lookup = github_lookup,
    .open_pull_request = github_open_pull_request,
    .check_token = github_check_token,
};
