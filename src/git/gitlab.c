/*
 * gitlab: the GitLab provider (gitlab.com or a self-managed GitLab at --gitlab-url) over API
 * v4 — GET /projects/{path} as the access check (paths may nest groups: group/sub/repo),
 * POST /projects/{id}/merge_requests for merge requests, GET /user to check a token. git runs
 * over HTTPS with the token as the password of "oauth2", which GitLab accepts for personal,
 * project, group and OAuth tokens alike.
 */
#include <stdlib.h>
#include <string.h>

#include "git/provider.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/json.h"

#define NO_TOKEN_HINT                                                                              \
    " No GitLab token is set for this account: add one with POST /api/add-git-providers."
#define DEVELOPER_ACCESS 30 /* GitLab's access level that may push branches */

static const char *gitlab_base(const struct config *cfg)
{
    return cfg->gitlab_url && *cfg->gitlab_url ? cfg->gitlab_url : NULL;
}

static int call(const struct provider_call *pc, const char *method, const char *path, json_t *body,
                struct rest_answer *a, struct error *err)
{
    const char *h[2] = {NULL, NULL};
    char *auth = NULL;
    if (pc->token) {
        struct buf b = BUF_INIT;
        buf_addf(&b, "Authorization: Bearer %s", pc->token);
        h[0] = auth = buf_detach(&b, NULL);
    }
    struct buf rel = BUF_INIT;
    buf_addf(&rel, "api/v4/%s", path);
    char *url = url_join(pc->cfg->gitlab_url, rel.data);
    int rc = provider_rest(pc, method, url, h, body, a, err);
    if (auth) crypto_wipe(auth, strlen(auth));
    free(auth);
    free(url);
    buf_release(&rel);
    if (rc == ERR_UNAVAILABLE)
        error_set(err, ERR_UNAVAILABLE, "GitLab did not answer (%s): try again later",
                  pc->cfg->gitlab_url);
    return rc;
}

static int access_level(json_t *project)
{
    json_t *perm = json_object_get(project, "permissions");
    json_int_t p = json_integer_value(
        json_object_get(json_object_get(perm, "project_access"), "access_level"));
    json_int_t g =
        json_integer_value(json_object_get(json_object_get(perm, "group_access"), "access_level"));
    return (int)(p > g ? p : g);
}

static int gitlab_lookup(const struct provider_call *pc, const char *repository,
                         struct repo_info *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    struct buf path = BUF_INIT;
    buf_adds(&path, "projects/");
    url_encode(repository, &path);
    struct rest_answer a;
    int rc = call(pc, "GET", path.data, NULL, &a, err);
    buf_release(&path);
    if (rc) return rc;
    const char *full = json_get_str(a.json, "path_with_namespace");
    if ((rc = rest_common_failure(&provider_gitlab, pc, &a, err))) {
    } else if (a.status == 404 || a.status == 403) {
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "Project %s was not found on GitLab, or the token cannot access it.%s",
                       repository, pc->token ? "" : NO_TOKEN_HINT);
    } else if (a.status != 200 || !full) {
        rc = error_set(err, ERR_UNAVAILABLE, "GitLab answered HTTP %ld to a project lookup",
                       a.status);
    } else {
        out->full_name = xstrdup(full);
        out->default_branch = xstrdup_or_null(json_get_str(a.json, "default_branch"));
        out->web_url = xstrdup_or_null(json_get_str(a.json, "web_url"));
        struct buf tmp = BUF_INIT;
        buf_addf(&tmp, "%s.git", full);
        out->clone_url = url_join(pc->cfg->gitlab_url, tmp.data);
        buf_reset(&tmp);
        buf_addf(&tmp, "%lld", (long long)json_integer_value(json_object_get(a.json, "id")));
        out->project_id = buf_detach(&tmp, NULL);
        out->can_push =
            !json_object_get(a.json, "permissions") || access_level(a.json) >= DEVELOPER_ACCESS;
    }
    rest_answer_release(&a);
    return rc;
}

static int find_open_merge_request(const struct provider_call *pc, const struct repo_info *repo,
                                   const char *head, struct pull_request *out, struct error *err)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "projects/%s/merge_requests?state=opened&source_branch=", repo->project_id);
    url_encode(head, &path);
    struct rest_answer a;
    int rc = call(pc, "GET", path.data, NULL, &a, err);
    buf_release(&path);
    if (rc) return rc;
    json_t *first = json_array_get(a.json, 0);
    if (!(rc = rest_common_failure(&provider_gitlab, pc, &a, err))) {
        if (a.status == 200 && json_get_str(first, "web_url")) {
            out->number = json_integer_value(json_object_get(first, "iid"));
            out->url = xstrdup(json_get_str(first, "web_url"));
        } else {
            rc = error_set(err, ERR_INVALID,
                           "GitLab says a merge request for %s exists, but does not list it", head);
        }
    }
    rest_answer_release(&a);
    return rc;
}

static int gitlab_open_pull_request(const struct provider_call *pc, const struct repo_info *repo,
                                    const char *head, const char *base, const char *title,
                                    const char *body, struct pull_request *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "source_branch", head, "target_branch", base,
                            "title", title, "description", body);
    struct buf path = BUF_INIT;
    buf_addf(&path, "projects/%s/merge_requests", repo->project_id);
    struct rest_answer a;
    int rc = call(pc, "POST", path.data, req, &a, err);
    json_decref(req);
    buf_release(&path);
    if (rc) return rc;
    struct buf why = BUF_INIT;
    rest_message(&a, &why);
    if ((rc = rest_common_failure(&provider_gitlab, pc, &a, err))) {
    } else if (a.status == 201 && json_get_str(a.json, "web_url")) {
        out->number = json_integer_value(json_object_get(a.json, "iid"));
        out->url = xstrdup(json_get_str(a.json, "web_url"));
    } else if (a.status == 409) {
        rc = find_open_merge_request(pc, repo, head, out, err);
    } else if (a.status == 403 || a.status == 404) {
        rc = error_set(err, ERR_FORBIDDEN,
                       "GitLab did not let the token open a merge request on %s (HTTP %ld%s%s)",
                       repo->full_name, a.status, why.len ? ": " : "", why.data);
    } else {
        rc = error_set(err, ERR_INVALID, "GitLab refused the merge request (HTTP %ld%s%s)",
                       a.status, why.len ? ": " : "", why.data);
    }
    buf_release(&why);
    rest_answer_release(&a);
    return rc;
}

static int gitlab_check_token(const struct provider_call *pc, struct error *err)
{
    struct rest_answer a;
    int rc = call(pc, "GET", "user", NULL, &a, err);
    if (rc) return rc;
    if (!(rc = rest_common_failure(&provider_gitlab, pc, &a, err)) && a.status != 200)
        rc = error_set(err, ERR_UNAUTHORIZED, "GitLab did not accept the token (HTTP %ld)",
                       a.status);
    rest_answer_release(&a);
    return rc;
}

const struct git_provider provider_gitlab = {
    .name = "gitlab",
    .display_name = "GitLab",
    .token_user = "oauth2",
    .token_env = "GITLAB_TOKEN",
    .has_pull_requests = true,
    .base_url = gitlab_base,
    .lookup = gitlab_lookup,
    .open_pull_request = gitlab_open_pull_request,
    .check_token = gitlab_check_token,
};
