/*
 * provider: the git hosting services a conversation's repository can live on, behind one
 * table of operations — look a repository up (the access check), check a token, open a pull
 * request. One file per provider: github.c (REST API v3), gitlab.c (API v4), plain.c (any git
 * server through --git-url-template: no review API, so no pull requests).
 *
 * Where a provider is (its URLs) is the operator's choice, in `struct config`; which token is
 * used is the account's (settings) or the server's. Errors:
 *   ERR_UNAUTHORIZED  the repository does not exist, or this token may not see it (the provider
 *                     cannot tell those apart, and neither does the API: both are 401), or the
 *                     token is refused;
 *   ERR_UNAVAILABLE   the provider did not answer, failed (5xx), or its rate limit is exhausted
 *                     (err->retry_after set when it said until when);
 *   ERR_FORBIDDEN     the token may read but not do this (push, open a pull request);
 *   ERR_INVALID       the provider refused the request itself (e.g. a branch it does not know).
 * Messages name the provider and say what to do; they never hold a token.
 */
#ifndef CH_PROVIDER_H
#define CH_PROVIDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/app.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/http_client.h" /* url_encode */

/* What a lookup learns about a repository. Strings malloc'd; free with repo_info_free. */
struct repo_info {
    char *full_name;      /* as the provider spells it: "owner/repo" */
    char *default_branch; /* NULL when the provider did not say (an empty repository) */
    char *clone_url;      /* git over HTTPS (or file://), without credentials */
    char *web_url;        /* the repository's page; NULL for the git provider */
    char *project_id;     /* GitLab's numeric id; NULL elsewhere */
    bool can_push;        /* as far as the provider tells (true when it does not) */
};

struct pull_request {
    int64_t number;
    char *url;
};

/* Whose request it is: the token (may be NULL: anonymous) and a cancel flag (may be NULL). */
struct provider_call {
    const struct config *cfg;
    const char *token;
    const atomic_int *cancel;
};

struct git_provider {
    const char *name;         /* "github", "gitlab", "git" */
    const char *display_name; /* "GitHub" */
    const char *token_user;   /* the user name that goes with a token in git's basic auth */
    const char *token_env;    /* the sandbox variable for --expose-provider-token, or NULL */
    bool has_pull_requests;
    /* Where git reaches it (its web and git URL, for the git provider the URL template); NULL
     * when the server has no configuration for it (the git provider without a template). */
    const char *(*base_url)(const struct config *cfg);
    int (*lookup)(const struct provider_call *pc, const char *repository, struct repo_info *out,
                  struct error *err);
    /* Opens a pull (merge) request from `head` into `base`; when one is already open for that
     * head, answers that one. */
    int (*open_pull_request)(const struct provider_call *pc, const struct repo_info *repo,
                             const char *head, const char *base, const char *title,
                             const char *body, struct pull_request *out, struct error *err);
    /* Checks that the token is one the provider accepts (add-git-providers). */
    int (*check_token)(const struct provider_call *pc, struct error *err);
};

extern const struct git_provider provider_github, provider_gitlab, provider_git;

/* The provider named `name` (NULL: cfg's default). NULL with ERR_INVALID in err (field
 * "git_provider") when there is no such provider or the server does not have it configured. */
const struct git_provider *git_provider_find(const struct config *cfg, const char *name,
                                             struct error *err);
/* Every provider, NULL-terminated. */
extern const struct git_provider *const git_providers[];

/* The server-wide token for a provider (--github-token, ...), or NULL. */
const char *git_provider_server_token(const struct config *cfg, const struct git_provider *p);

void repo_info_free(struct repo_info *r);
void pull_request_free(struct pull_request *pr);

/* Shared by the provider files: one JSON call to a provider's REST API. `auth_header` is the
 * whole header line carrying the token (may be NULL); `body` may be NULL. 0 when an answer came
 * (any status; json is NULL when the body was not JSON), else ERR_UNAVAILABLE. */
struct rest_answer {
    long status;
    json_t *json;
    char *ratelimit_remaining; /* X-RateLimit-Remaining (GitHub) / RateLimit-Remaining (GitLab) */
    char *ratelimit_reset;     /* epoch seconds */
    long retry_after_ms;       /* -1: none */
};
int provider_rest(const struct provider_call *pc, const char *method, const char *url,
                  const char *const *headers, json_t *body, struct rest_answer *out,
                  struct error *err);
void rest_answer_release(struct rest_answer *a);
/* The provider's own words from an error body ({"message": "..."}, GitLab's {"message": [...]}
 * or {"error": "..."}), cut to 200 bytes; "" when none. */
void rest_message(const struct rest_answer *a, struct buf *out);
/* ERR_UNAVAILABLE for an exhausted rate limit (retry_after set from the reset time), naming the
 * provider; 0 when the answer is not one. */
int rest_rate_limited(const struct git_provider *p, const struct rest_answer *a, struct error *err);

/* The failures every REST call shares, as errors naming the provider: a refused token (401), an
 * exhausted rate limit, a server error (5xx). 0 when the answer is none of them. */
int rest_common_failure(const struct git_provider *p, const struct provider_call *pc,
                        const struct rest_answer *a, struct error *err);

/* Shared by the provider files: the host part of a URL ("https://a.b:8443/x" -> "a.b:8443"),
 * malloc'd, or NULL. */
char *url_host(const char *url);
/* Joins a base URL and a path with exactly one '/' between them (malloc'd). */
char *url_join(const char *base, const char *path);

#endif
