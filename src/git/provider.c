/* provider: the table of git providers and what they share; see provider.h. */
#include "git/provider.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/timeutil.h"

const struct git_provider *const git_providers[] = {&provider_github, &provider_gitlab,
                                                    &provider_git, NULL};

const struct git_provider *git_provider_find(const struct config *cfg, const char *name,
                                             struct error *err)
{
    if (!name) name = cfg->default_git_provider ? cfg->default_git_provider : "github";
    for (const struct git_provider *const *p = git_providers; *p; p++) {
        if (strcmp((*p)->name, name) != 0) continue;
        if (!(*p)->base_url(cfg)) {
            error_invalid(err, "git_provider", "value_error",
                          "The %s provider is not configured on this server (its operator "
                          "turns it on with --git-url-template)",
                          name);
            return NULL;
        }
        return *p;
    }
    error_invalid(err, "git_provider", "enum",
                  "Unknown git_provider '%.40s': this server knows github, gitlab and git", name);
    return NULL;
}

const char *git_provider_server_token(const struct config *cfg, const struct git_provider *p)
{
    const char *t = p == &provider_github   ? cfg->github_token
                    : p == &provider_gitlab ? cfg->gitlab_token
                                            : cfg->git_token;
    return t && *t ? t : NULL;
}

void repo_info_free(struct repo_info *r)
{
    free(r->full_name);
    free(r->default_branch);
    free(r->clone_url);
    free(r->web_url);
    free(r->project_id);
    memset(r, 0, sizeof(*r));
}

void pull_request_free(struct pull_request *pr)
{
    free(pr->url);
    memset(pr, 0, sizeof(*pr));
}

char *url_host(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p) return NULL;
    p += 3;
    const char *at = p + strcspn(p, "/?#");
    const char *cred = memchr(p, '@', (size_t)(at - p));
    if (cred) p = cred + 1;
    if (at == p) return NULL;
    char *host = xmalloc((size_t)(at - p) + 1);
    memcpy(host, p, (size_t)(at - p));
    host[at - p] = '\0';
    for (char *h = host; *h; h++) *h = (char)tolower((unsigned char)*h);
    return host;
}

char *url_join(const char *base, const char *path)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, base);
    while (b.len && b.data[b.len - 1] == '/') b.data[--b.len] = '\0';
    while (*path == '/') path++;
    buf_addf(&b, "/%s", path);
    return buf_detach(&b, NULL);
}

int provider_rest(const struct provider_call *pc, const char *method, const char *url,
                  const char *const *headers, json_t *body, struct rest_answer *out,
                  struct error *err)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    const char *all[12];
    size_t n = 0;
    all[n++] = "Content-Type: application/json";
    for (const char *const *h = headers; h && *h && n < 11; h++) all[n++] = *h;
    all[n] = NULL;
    struct http_client_request rq = {
        .method = method,
        .url = url,
        .headers = all,
        .body = text,
        .timeout_s = 30,
        .max_response = 4u << 20,
        .cancel = pc->cancel,
        .capture = {"x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit-remaining",
                    "ratelimit-reset"},
    };
    struct http_client_response resp;
    int rc = http_client_request(&rq, &resp, err);
    free(text);
    if (rc) {
        http_client_response_release(&resp);
        return rc;
    }
    out->status = resp.status;
    out->json = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, NULL);
    out->ratelimit_remaining =
        xstrdup_or_null(resp.captured[0] ? resp.captured[0] : resp.captured[2]);
    out->ratelimit_reset = xstrdup_or_null(resp.captured[1] ? resp.captured[1] : resp.captured[3]);
    out->retry_after_ms = resp.retry_after_ms;
    http_client_response_release(&resp);
    return 0;
}

void rest_answer_release(struct rest_answer *a)
{
    json_decref(a->json);
    free(a->ratelimit_remaining);
    free(a->ratelimit_reset);
    memset(a, 0, sizeof(*a));
}

void rest_message(const struct rest_answer *a, struct buf *out)
{
    json_t *m = json_object_get(a->json, "message");
    if (!m) m = json_object_get(a->json, "error");
    struct buf tmp = BUF_INIT;
    if (json_is_string(m)) {
        buf_adds(&tmp, json_string_value(m));
    } else if (json_is_array(m)) {
        size_t i;
        json_t *v;
        json_array_foreach(m, i, v) if (json_is_string(v))
        {
            if (tmp.len) buf_adds(&tmp, "; ");
            buf_adds(&tmp, json_string_value(v));
        }
    } else if (m) {
        buf_add_json(&tmp, m);
    }
    /* GitHub's validation details: {"errors": [{"message"} or {"field", "code"}]} */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(a->json, "errors"), i, e)
    {
        const char *msg = json_get_str(e, "message");
        const char *field = json_get_str(e, "field"), *code = json_get_str(e, "code");
        if (msg)
            buf_addf(&tmp, "%s%s", tmp.len ? ": " : "", msg);
        else if (field && code)
            buf_addf(&tmp, "%s%s %s", tmp.len ? ": " : "", field, code);
    }
    buf_add(out, tmp.data, tmp.len > 200 ? 200 : tmp.len);
    buf_release(&tmp);
}

int rest_rate_limited(const struct git_provider *p, const struct rest_answer *a, struct error *err)
{
    bool exhausted =
        a->status == 429 || ((a->status == 403 || a->status == 429) && a->ratelimit_remaining &&
                             strcmp(a->ratelimit_remaining, "0") == 0);
    if (!exhausted) return 0;
    long wait_s = a->retry_after_ms >= 0 ? (a->retry_after_ms + 999) / 1000 : 0;
    char until[64] = "";
    if (a->ratelimit_reset) {
        long long reset = strtoll(a->ratelimit_reset, NULL, 10);
        long long now = (long long)time(NULL);
        if (reset > now && !wait_s) wait_s = (long)(reset - now);
        char when[ISO_TIME_LEN];
        if (reset > 0)
            snprintf(until, sizeof(until), " until %s",
                     time_format_iso((int64_t)reset * USEC_PER_SEC, when));
    }
    error_set(err, ERR_UNAVAILABLE,
              "%s's API rate limit for this token is exhausted%s; try again later", p->display_name,
              until);
    if (err) err->retry_after = wait_s > 0 ? wait_s : 60;
    return ERR_UNAVAILABLE;
}

int rest_common_failure(const struct git_provider *p, const struct provider_call *pc,
                        const struct rest_answer *a, struct error *err)
{
    struct buf why = BUF_INIT;
    rest_message(a, &why);
    int rc = rest_rate_limited(p, a, err);
    if (rc) {
    } else if (a->status == 401) {
        rc = error_set(err, ERR_UNAUTHORIZED,
                       "%s refused the %s token (%s): add a valid one with POST "
                       "/api/add-git-providers",
                       p->display_name, pc->token ? "account's" : "missing",
                       why.len ? why.data : "HTTP 401");
    } else if (a->status >= 500 || a->status == 0) {
        rc = error_set(err, ERR_UNAVAILABLE, "%s failed (HTTP %ld%s%s): try again later",
                       p->display_name, a->status, why.len ? ", " : "", why.data);
    }
    buf_release(&why);
    return rc;
}
