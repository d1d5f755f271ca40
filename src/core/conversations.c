/* conversations: validation, creation under the concurrency limit, stop and start; see
 * conversations.h. */
#include "core/conversations.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/events.h"
#include "core/notify.h"
#include "core/settings.h"
#include "core/webhooks.h"
#include "git/git.h"
#include "git/provider.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timeutil.h"

static const struct json_field create_fields[] = {
    {"initial_user_msg", JF_STRING, false, CONV_MSG_MAX},
    {"repository", JF_STRING, false, 255},
    {"selected_branch", JF_STRING, false, CONV_BRANCH_MAX},
    {"git_provider", JF_STRING, false, 32},
    {"conversation_instructions", JF_STRING, false, CONV_INSTRUCTIONS_MAX},
    {"image_urls", JF_STRING_LIST, false, CONV_IMAGES_MAX},
    {NULL, 0, false, 0},
};

static const char *const statuses[] = {CONV_STARTING, CONV_RUNNING, CONV_STOPPED,
                                       CONV_ARCHIVED, CONV_ERROR,   NULL};

#define DEFAULT_METRICS                                                                            \
    "{\"llm_calls\":0,\"prompt_tokens\":0,\"completion_tokens\":0,\"cost_usd\":0.0}"

/* pr_number: the numbers of pull_requests (a JSON array text the runner wrote). */
static void write_pr_numbers(struct buf *b, const char *pull_requests)
{
    buf_addch(b, '[');
    if (pull_requests && strcmp(pull_requests, "[]") != 0) {
        json_t *prs = json_loads(pull_requests, 0, NULL);
        size_t i, n = 0;
        json_t *pr;
        json_array_foreach(prs, i, pr)
        {
            json_t *num = json_object_get(pr, "number");
            if (json_is_integer(num))
                buf_addf(b, "%s%lld", n++ ? "," : "", (long long)json_integer_value(num));
        }
        json_decref(prs);
    }
    buf_addch(b, ']');
}

/* Writes straight into the buffer rather than through a jansson tree: this is the hot read
 * path (bench/). pull_requests and metrics are JSON texts the server itself stored. */
void conversation_write_json(struct buf *b, const struct conversation *c)
{
    const char *prs = c->pull_requests && *c->pull_requests ? c->pull_requests : "[]";
    const char *metrics =
        c->metrics && *c->metrics && strcmp(c->metrics, "{}") != 0 ? c->metrics : DEFAULT_METRICS;
    buf_adds(b, "{\"conversation_id\":");
    buf_add_json_str(b, c->id);
    buf_adds(b, ",\"title\":");
    buf_add_json_str(b, c->title);
    buf_adds(b, ",\"created_at\":");
    buf_add_json_time(b, c->created_at);
    buf_adds(b, ",\"last_updated_at\":");
    buf_add_json_time(b, c->updated_at);
    buf_adds(b, ",\"status\":");
    buf_add_json_str(b, c->status);
    buf_adds(b, ",\"selected_repository\":");
    buf_add_json_str(b, c->selected_repository);
    buf_adds(b, ",\"selected_branch\":");
    buf_add_json_str(b, c->selected_branch);
    buf_adds(b, ",\"git_provider\":");
    buf_add_json_str(b, c->git_provider);
    buf_adds(b, ",\"trigger\":");
    buf_add_json_str(b, c->trigger);
    buf_adds(b, ",\"runtime_status\":");
    buf_add_json_str(b, c->runtime_status);
    buf_adds(b, ",\"url\":null,\"pr_number\":");
    write_pr_numbers(b, prs);
    buf_adds(b, ",\"conversation_version\":\"V0\",\"num_connections\":0,"
                "\"session_api_key\":null,\"agent_state\":");
    buf_add_json_str(b, c->agent_state);
    buf_adds(b, ",\"branch\":");
    buf_add_json_str(b, c->branch);
    buf_adds(b, ",\"pull_requests\":");
    buf_adds(b, prs);
    buf_adds(b, ",\"error\":");
    buf_add_json_str(b, c->error);
    buf_adds(b, ",\"metrics\":");
    buf_adds(b, metrics);
    buf_addch(b, '}');
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

bool repository_name_valid(const char *repo, const char *provider)
{
    int segments = 0;
    const char *p = repo;
    bool nested = provider && strcmp(provider, "gitlab") == 0;
    while (*p) {
        const char *start = p;
        if (*p == '.') return false;
        while (*p && *p != '/') {
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return false;
            p++;
        }
        if (p == start || p - start > 100) return false;
        segments++;
        if (*p == '/') {
            p++;
            if (!*p) return false;
        }
    }
    return nested ? segments >= 2 : segments == 2;
}

bool conversation_id_valid(const char *id)
{
    if (!id || strlen(id) != 32) return false;
    for (; *id; id++)
        if (!((*id >= '0' && *id <= '9') || (*id >= 'a' && *id <= 'f'))) return false;
    return true;
}

bool conversation_status_valid(const char *status)
{
    return status && in_list(status, statuses);
}

int conversation_request_parse(json_t *body, bool require_message, struct conversation_request *out,
                               struct error *err)
{
    memset(out, 0, sizeof(*out));
    int rc = json_check_fields(body, create_fields, true, err);
    if (rc) return rc;
    out->initial_user_msg = json_get_str(body, "initial_user_msg");
    out->repository = json_get_str(body, "repository");
    out->selected_branch = json_get_str(body, "selected_branch");
    out->git_provider = json_get_str(body, "git_provider");
    out->conversation_instructions = json_get_str(body, "conversation_instructions");
    json_t *images = json_object_get(body, "image_urls");
    out->image_urls = json_is_array(images) ? images : NULL;

    if (require_message && (!out->initial_user_msg || !*out->initial_user_msg))
        return error_invalid(err, "initial_user_msg", "missing",
                             "Field required: the task for the agent");
    bool known = !out->git_provider;
    for (const struct git_provider *const *p = git_providers; *p && !known; p++)
        known = strcmp((*p)->name, out->git_provider) == 0;
    if (!known)
        return error_invalid(err, "git_provider", "enum",
                             "Input should be 'github', 'gitlab' or 'git'");
    if (out->repository && !repository_name_valid(out->repository, out->git_provider))
        return error_invalid(err, "repository", "string_pattern_mismatch",
                             "Repository must be shaped owner/repo (letters, digits, '-', '_', "
                             "'.')");
    if (out->selected_branch && !*out->selected_branch)
        return error_invalid(err, "selected_branch", "string_too_short",
                             "Branch name must not be empty");
    if (out->selected_branch && !git_branch_name_valid(out->selected_branch))
        return error_invalid(err, "selected_branch", "value_error",
                             "'%.100s' is not a valid git branch name", out->selected_branch);
    return 0;
}

void conversation_title_from_message(const char *msg, const char *id, struct buf *out)
{
    const size_t max_chars = 60;
    buf_reset(out);
    while (msg && isspace((unsigned char)*msg)) msg++;
    if (!msg || !*msg) {
        buf_addf(out, "Conversation %.5s", id);
        return;
    }
    const char *end = msg;
    size_t chars = 0, space_chars = 0;
    const char *last_space = NULL;
    while (*end && *end != '\n' && *end != '\r' && chars < max_chars) {
        if (*end == ' ') {
            last_space = end;
            space_chars = chars;
        }
        end++;
        while (((unsigned char)*end & 0xC0) == 0x80) end++; /* whole UTF-8 sequences */
        chars++;
    }
    bool cut = *end && *end != '\n' && *end != '\r';
    /* Cut at the last word boundary unless that loses more than half the title; a cut that
     * falls right before a space already ends on a whole word. */
    if (cut && *end != ' ' && last_space && space_chars > max_chars / 2) end = last_space;
    while (end > msg && isspace((unsigned char)end[-1])) end--;
    buf_add(out, msg, (size_t)(end - msg));
    if (cut) buf_adds(out, "\xe2\x80\xa6"); /* U+2026 HORIZONTAL ELLIPSIS */
}

char *conversation_first_event(const char *msg, json_t *image_urls, int64_t now)
{
    json_t *ev = event_user_message(msg, image_urls);
    char iso[ISO_TIME_LEN];
    json_object_set_new(ev, "id", json_integer(0));
    json_object_set_new(ev, "timestamp", json_string(time_format_iso(now, iso)));
    struct buf out = BUF_INIT;
    buf_add_json(&out, ev);
    json_decref(ev);
    return buf_detach(&out, NULL);
}

void conversation_workspace(const struct app *app, const char *id, struct buf *out)
{
    buf_addf(out, "%s/workspaces/%s", app->cfg.data_dir, id);
}

void conversation_workspace_remove(const struct app *app, const char *id)
{
    struct buf path = BUF_INIT;
    conversation_workspace(app, id, &path);
    fs_remove_tree(path.data);
    size_t len = path.len;
    buf_adds(&path, ".git"); /* its mirror (agent/repository.c) */
    fs_remove_tree(path.data);
    path.len = len;
    buf_adds(&path, ".log");
    unlink(path.data);
    buf_release(&path);
}

static char *create_response(const char *id)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "status", "ok", "conversation_id", id,
                          "conversation_status", CONV_STARTING, "id", id);
    struct buf out = BUF_INIT;
    buf_add_json(&out, v);
    json_decref(v);
    return buf_detach(&out, NULL);
}

/* The 429 body's detail (API.md). */
static int limit_error(struct error *err, int limit, int current)
{
    error_set(err, ERR_LIMIT,
              "You have %d conversations running, the limit of your account. Stop one (POST "
              "/api/conversations/{id}/stop) or wait for one to finish.",
              current);
    if (err) {
        err->retry_after = LIMIT_RETRY_AFTER_S;
        json_decref(err->detail);
        err->detail = json_pack("{s:s, s:s, s:i, s:i}", "error", "CONCURRENCY_LIMIT_REACHED",
                                "message", err->message, "limit", limit, "current", current);
    }
    return ERR_LIMIT;
}

/* The seed's access check, before anything is stored: the repository exists on its provider
 * and the account's (or the server's) token may see it. ERR_UNAUTHORIZED otherwise. */
static int check_repository_access(struct app *app, const struct auth *who,
                                   const struct conversation_request *rq,
                                   const struct git_provider **provider, struct error *err)
{
    const struct git_provider *p = git_provider_find(&app->cfg, rq->git_provider, err);
    if (!p) return ERR_INVALID;
    if (!repository_name_valid(rq->repository, p->name))
        return error_invalid(err, "repository", "string_pattern_mismatch",
                             "Repository must be shaped owner/repo (letters, digits, '-', '_', "
                             "'.')");
    char *token = NULL;
    int rc = settings_provider_token(app, who->account.id, p, &token, err);
    if (rc) return rc;
    struct provider_call pc = {.cfg = &app->cfg, .token = token};
    struct repo_info info;
    rc = p->lookup(&pc, rq->repository, &info, err);
    if (token) crypto_wipe(token, strlen(token));
    free(token);
    if (!rc) repo_info_free(&info);
    *provider = p;
    return rc;
}

int conversations_create(struct app *app, const struct auth *who, const char *trigger,
                         const struct conversation_request *rq, const char *idempotency_key,
                         char **response, struct error *err)
{
    struct conversation c = {0};
    struct conversation_create_opts opts = {0};
    struct conversation_create_result res = {0};
    struct buf title = BUF_INIT;
    int64_t now = time_now_us();
    const char *msg = rq->initial_user_msg ? rq->initial_user_msg : "";
    int limit = auth_account_limit(app, &who->account);

    *response = NULL;
    if (idempotency_key &&
        (utf8_length(idempotency_key) > IDEMPOTENCY_KEY_MAX || !*idempotency_key))
        return error_invalid(err, "header.Idempotency-Key", "string_too_long",
                             "Idempotency-Key must have 1 to %d characters", IDEMPOTENCY_KEY_MAX);

    const struct git_provider *provider = NULL;
    if (rq->repository) {
        int rc = check_repository_access(app, who, rq, &provider, err);
        if (rc) return rc;
    }

    crypto_uuid_hex(c.id);
    conversation_title_from_message(msg, c.id, &title);
    c.account_id = who->account.id;
    c.title = title.data;
    c.status = CONV_STARTING;
    c.agent_state = "loading";
    c.trigger = (char *)trigger;
    c.selected_repository = (char *)rq->repository;
    c.selected_branch = (char *)rq->selected_branch;
    c.git_provider = provider ? (char *)provider->name : (char *)rq->git_provider;
    c.conversation_instructions = (char *)rq->conversation_instructions;
    c.pull_requests = "[]";
    c.metrics = "{}";
    c.created_at = c.updated_at = now;

    char *first_event = conversation_first_event(msg, rq->image_urls, now);
    char *answer = create_response(c.id);
    opts.limit = limit;
    opts.first_event = first_event;
    opts.idempotency_key = idempotency_key;
    opts.response = answer;
    opts.idempotency_since = now - IDEMPOTENCY_TTL_US;

    int rc = app->store->ops->conversation_create(app->store, &c, &opts, &res, err);
    if (rc == ERR_LIMIT) {
        limit_error(err, limit, res.current);
    } else if (!rc && res.replayed) {
        *response = res.response;
        res.response = NULL;
    } else if (!rc) {
        *response = answer;
        answer = NULL;
        notify_publish(NOTIFY_WORK, c.id);
    }
    free(res.response);
    free(answer);
    free(first_event);
    buf_release(&title);
    return rc;
}

int conversations_stop(struct app *app, const struct auth *who, const char *id, struct error *err)
{
    if (!conversation_id_valid(id)) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    int current = 0;
    struct conversation before;
    bool was_active = false; /* then the stop is a status change webhooks hear of */
    if (app->store->ops->conversation_get(app->store, who->account.id, id, &before, NULL) == 0) {
        was_active = conversation_status_is_active(before.status);
        conversation_free(&before);
    }
    int rc = app->store->ops->conversation_set_status(app->store, who->account.id, id, CONV_STOPPED,
                                                      "stopped", 0, time_now_us(), &current, err);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (rc) return rc;
    /* The runner lost its claim with the status; its sandbox dies now, not at its next step. */
    notify_publish(NOTIFY_STOP, id);
    notify_publish(NOTIFY_EVENTS, id);
    if (was_active) webhooks_emit(app, who->account.id, id, WEBHOOK_EVENT_STATUS);
    return 0;
}

int conversations_start(struct app *app, const struct auth *who, const char *id,
                        const char **status, struct error *err)
{
    struct conversation c = {0};
    if (!conversation_id_valid(id)) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    int rc = app->store->ops->conversation_get(app->store, who->account.id, id, &c, err);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (rc) return rc;
    bool active = conversation_status_is_active(c.status);
    *status = active && strcmp(c.status, CONV_RUNNING) == 0 ? CONV_RUNNING : CONV_STARTING;
    conversation_free(&c);
    if (active) return 0;

    int limit = auth_account_limit(app, &who->account), current = 0;
    rc = app->store->ops->conversation_set_status(app->store, who->account.id, id, CONV_STARTING,
                                                  "loading", limit, time_now_us(), &current, err);
    if (rc == ERR_LIMIT) return limit_error(err, limit, current);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (!rc) notify_publish(NOTIFY_WORK, id);
    return rc;
}

int conversations_message(struct app *app, const struct auth *who, const char *id, const char *text,
                          json_t *image_urls, struct error *err)
{
    if (!conversation_id_valid(id)) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    int limit = auth_account_limit(app, &who->account), current = 0;
    bool queued = false;
    json_t *ev = event_user_message(text, image_urls);
    int rc = app->store->ops->conversation_message(app->store, who->account.id, id, ev, limit,
                                                   time_now_us(), NULL, &queued, &current, err);
    json_decref(ev);
    if (rc == ERR_LIMIT) return limit_error(err, limit, current);
    if (rc == ERR_NOT_FOUND) return error_set(err, ERR_NOT_FOUND, "Conversation not found");
    if (rc) return rc;
    notify_publish(NOTIFY_EVENTS, id);
    if (queued) notify_publish(NOTIFY_WORK, id);
    return 0;
}

int conversations_delete(struct app *app, const struct auth *who, const char *id, struct error *err)
{
    if (!conversation_id_valid(id)) return ERR_NOT_FOUND;
    int rc = app->store->ops->conversation_delete(app->store, who->account.id, id, err);
    if (rc) return rc;
    /* The runner holding it (if any) loses its claim; kill its sandbox before removing the
     * files it works on. */
    notify_publish(NOTIFY_STOP, id);
    notify_publish(NOTIFY_EVENTS, id);
    /* Here; a node holding the workspace elsewhere removes its copy on the stop signal. */
    conversation_workspace_remove(app, id);
    return 0;
}
