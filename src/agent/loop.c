/* loop: the agent's run on one conversation; see loop.h. */
#include "agent/loop.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/llm.h"
#include "agent/prompt.h"
#include "agent/repository.h"
#include "core/events.h"
#include "core/notify.h"
#include "core/settings.h"
#include "core/webhooks.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define WORKSPACE        "/workspace"
#define THINK_RESULT     "Your thought has been logged."
#define PROCESSING_ERROR "\n[Error occurred in processing last action]"
#define SANDBOX_PATH     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Secret values in events and in what the model reads are replaced by this (OpenHands' mask);
 * values shorter than SECRET_MASK_MIN are not masked (they would garble every text). */
#define SECRET_MASK     "<secret_hidden>"
#define SECRET_MASK_MIN 4

/* OpenHands' runtime_status values for the failures a user must act on. */
#define STATUS_LLM_AUTH        "STATUS$ERROR_LLM_AUTHENTICATION"
#define STATUS_LLM_UNAVAILABLE "STATUS$ERROR_LLM_SERVICE_UNAVAILABLE"
#define STATUS_ERROR           "STATUS$ERROR"
#define STATUS_READY           "STATUS$READY"
#define STATUS_SETTING_UP      "STATUS$SETTING_UP_WORKSPACE"
#define SETUP_TIMEOUT_S        600 /* .openhands/setup.sh */

struct run_state {
    struct agent_run *r;
    struct agent_settings settings;
    json_t *messages;
    json_t *tools;
    int64_t llm_calls, prompt_tokens, completion_tokens;
    double cost_usd;
    char metrics[256];
    bool ended;          /* the final event was written */
    int64_t user_cursor; /* events up to this id were looked at for new user messages */
    char **secrets;      /* the account's secret values (decrypted), masked in all output */
    size_t nsecrets;
    bool has_repo; /* the conversation works on a repository: `repo` is open */
    struct repo_work repo;
    char *summary; /* the agent's final words (finish message or last message) */
};

static const char *metrics_text(struct run_state *st)
{
    snprintf(st->metrics, sizeof(st->metrics),
             "{\"llm_calls\":%lld,\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
             "\"cost_usd\":%.6f}",
             (long long)st->llm_calls, (long long)st->prompt_tokens,
             (long long)st->completion_tokens, st->cost_usd);
    return st->metrics;
}

static void load_metrics(struct run_state *st, const char *text)
{
    json_t *m = json_loads(text ? text : "{}", 0, NULL);
    st->llm_calls = json_integer_value(json_object_get(m, "llm_calls"));
    st->prompt_tokens = json_integer_value(json_object_get(m, "prompt_tokens"));
    st->completion_tokens = json_integer_value(json_object_get(m, "completion_tokens"));
    st->cost_usd = json_number_value(json_object_get(m, "cost_usd"));
    json_decref(m);
}

static bool going(struct run_state *st)
{
    return atomic_load(&st->r->cancel) == RUN_GOING;
}

/* `s` with every secret value replaced by SECRET_MASK (malloc'd), or NULL when it holds none. */
static char *mask_text(const struct run_state *st, const char *s)
{
    bool any = false;
    for (size_t i = 0; i < st->nsecrets && !any; i++) any = strstr(s, st->secrets[i]) != NULL;
    if (!any) return NULL;
    struct buf out = BUF_INIT;
    while (*s) {
        size_t longest = 0;
        for (size_t i = 0; i < st->nsecrets; i++) {
            size_t len = strlen(st->secrets[i]);
            if (len > longest && strncmp(s, st->secrets[i], len) == 0) longest = len;
        }
        if (longest) {
            buf_adds(&out, SECRET_MASK);
            s += longest;
        } else {
            buf_addch(&out, *s++);
        }
    }
    return buf_detach(&out, NULL);
}

/* Masks secret values in every string of `v`, in place. */
static void mask_json(const struct run_state *st, json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_string(v)) {
        char *masked = mask_text(st, json_string_value(v));
        if (masked) json_string_set(v, masked);
        free(masked);
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, child) mask_json(st, child);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) mask_json(st, child);
    }
}

/* Appends an event (stolen) with an optional update. A lost claim cancels the run. Returns the
 * event's id, or -1. */
static int64_t append(struct run_state *st, json_t *event, const struct conversation_update *upd)
{
    struct agent_run *r = st->r;
    struct error err = {0};
    int64_t id = -1;
    if (!going(st)) {
        json_decref(event);
        return -1;
    }
    mask_json(st, event);
    int rc = r->app->store->ops->event_append(r->app->store, r->conv.id, r->runner, event, upd,
                                              time_now_us(), &id, &err);
    json_decref(event);
    if (rc == ERR_CONFLICT) {
        agent_run_cancel(r, RUN_STOPPED);
    } else if (rc) {
        log_error("cannot store an event", "conversation=%s error=\"%s\"", r->conv.id, err.message);
        agent_run_cancel(r, RUN_STOPPED);
    } else {
        notify_publish(NOTIFY_EVENTS, r->conv.id);
    }
    error_clear(&err);
    return rc ? -1 : id;
}

/* Ends the run: the final agent state, STOPPED, the slot freed, in one transaction. */
static void end_run(struct run_state *st, const char *agent_state, const char *reason,
                    const char *error, const char *runtime_status)
{
    struct conversation_update upd = {
        .status = CONV_STOPPED,
        .agent_state = agent_state,
        .error = error ? error : "",
        .runtime_status = runtime_status ? runtime_status : "",
        .metrics = metrics_text(st),
        .release = true,
    };
    if (append(st, event_agent_state(agent_state, reason ? reason : ""), &upd) >= 0)
        webhooks_emit_run_end(st->r->app, &st->r->conv, agent_state);
    st->ended = true;
    log_info("conversation stopped", "conversation=%s agent_state=%s", st->r->conv.id, agent_state);
}

static void fail_run(struct run_state *st, const char *runtime_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The agent stopped on its own (finished, or waits for the user): its work on the repository
 * is committed, pushed and proposed (agent/repository.c) before the run ends. */
static void settle_run(struct run_state *st, const char *agent_state)
{
    struct agent_run *r = st->r;
    if (!st->has_repo || !going(st)) {
        end_run(st, agent_state, "", NULL, NULL);
        return;
    }
    json_t *prs = json_loads(r->conv.pull_requests ? r->conv.pull_requests : "[]", 0, NULL);
    if (!json_is_array(prs)) {
        json_decref(prs);
        prs = json_array();
    }
    struct repo_outcome out;
    struct error err = {0};
    int rc = repo_publish(&st->repo, r->sandbox, st->summary, r->conv.title,
                          json_array_size(prs) > 0, st->settings.git_user_name,
                          st->settings.git_user_email, &r->cancel, &out, &err);
    if (rc) {
        if (going(st)) fail_run(st, STATUS_ERROR, "%s", err.message);
    } else {
        if (out.pr.number)
            json_array_append_new(prs, json_pack("{s:I, s:s}", "number", (json_int_t)out.pr.number,
                                                 "url", out.pr.url));
        char *prs_text = json_dumps(prs, JSON_COMPACT);
        struct conversation_update upd = {.branch = out.changed ? st->repo.work_branch : NULL,
                                          .base_commit = out.changed ? st->repo.base_commit : NULL,
                                          .pull_requests = prs_text};
        json_t *extras =
            json_pack("{s:s, s:b, s:b, s:o}", "branch", st->repo.work_branch, "changed",
                      out.changed, "pushed", out.pushed, "pull_request",
                      out.pr.number ? json_pack("{s:I, s:s}", "number", (json_int_t)out.pr.number,
                                                "url", out.pr.url)
                                    : json_null());
        json_t *ev = event_observation("git", -1, out.message, out.message, extras, NULL);
        json_object_set_new(ev, "source", json_string("environment"));
        append(st, ev, &upd);
        free(prs_text);
        end_run(st, agent_state, "", NULL, NULL);
    }
    repo_outcome_free(&out);
    json_decref(prs);
    error_clear(&err);
}
static void fail_run(struct run_state *st, const char *runtime_status, const char *fmt, ...)
{
    struct buf msg = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    end_run(st, "error", msg.data, msg.data, runtime_status);
    buf_release(&msg);
}

/* ---- the sandbox -------------------------------------------------------------------------- */

static int make_dir(const char *path)
{
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The environment inside: a PATH, a home, and the account's secrets (decrypted). */
static char **sandbox_env(struct run_state *st)
{
    struct app *app = st->r->app;
    struct secret *secrets = NULL;
    size_t n = 0;
    struct error err = {0};
    if (app->store->ops->secret_list &&
        app->store->ops->secret_list(app->store, st->r->conv.account_id, &secrets, &n, &err))
        n = 0;
    error_clear(&err);
    char **env = xcalloc(n + 6, sizeof(char *));
    size_t k = 0;
    env[k++] = xstrdup(SANDBOX_PATH);
    env[k++] = xstrdup("LANG=C.UTF-8");
    env[k++] = xstrdup("TERM=dumb");
    for (size_t i = 0; i < n; i++) {
        char *value = crypto_open(app->secret, secrets[i].value_sealed);
        if (!value) continue;
        struct buf kv = BUF_INIT;
        buf_addf(&kv, "%s=%s", secrets[i].name, value);
        env[k++] = buf_detach(&kv, NULL);
        if (strlen(value) >= SECRET_MASK_MIN) {
            st->secrets = xrealloc(st->secrets, (st->nsecrets + 2) * sizeof(char *));
            st->secrets[st->nsecrets++] = value;
            st->secrets[st->nsecrets] = NULL; /* NULL-terminated, freed with env_free */
        } else {
            crypto_wipe(value, strlen(value));
            free(value);
        }
    }
    secret_list_free(secrets, n);
    if (st->has_repo && st->repo.token) {
        /* the provider token: masked wherever it might show, in the sandbox only if asked */
        if (app->cfg.expose_provider_token && st->repo.provider->token_env) {
            struct buf kv = BUF_INIT;
            buf_addf(&kv, "%s=%s", st->repo.provider->token_env, st->repo.token);
            env[k++] = buf_detach(&kv, NULL);
        }
        st->secrets = xrealloc(st->secrets, (st->nsecrets + 2) * sizeof(char *));
        st->secrets[st->nsecrets++] = xstrdup(st->repo.token);
        st->secrets[st->nsecrets] = NULL;
    }
    return env;
}

static void env_free(char **env)
{
    for (char **e = env; e && *e; e++) {
        crypto_wipe(*e, strlen(*e));
        free(*e);
    }
    free(env);
}

static int start_sandbox(struct run_state *st, struct error *err)
{
    struct agent_run *r = st->r;
    struct buf dir = BUF_INIT;
    buf_addf(&dir, "%s/workspaces", r->app->cfg.data_dir);
    make_dir(dir.data);
    buf_addf(&dir, "/%s", r->conv.id);
    if (make_dir(dir.data) < 0) {
        error_set(err, ERR_INTERNAL, "cannot create the workspace: %s", strerror(errno));
        buf_release(&dir);
        return ERR_INTERNAL;
    }
    char **env = sandbox_env(st);
    struct buf log = BUF_INIT; /* the sandbox's own messages (bwrap, the agent), for operators */
    buf_addf(&log, "%s.log", dir.data);
    struct sandbox_config cfg = {
        .log_file = log.data,
        .workspace = dir.data,
        .agent_binary = r->app->cfg.agent_binary,
        .cwd = st->has_repo ? st->repo.inside_dir : WORKSPACE,
        .env = env,
        .network = r->app->cfg.sandbox_network,
        .no_change_timeout = r->app->cfg.no_change_timeout,
    };
    struct sandbox *sb = NULL;
    int rc = sandbox_start(&cfg, &sb, err);
    metrics_add(rc ? METRIC_SANDBOX_STARTS_ERROR : METRIC_SANDBOX_STARTS_OK, 1);
    env_free(env);
    buf_release(&log);
    buf_release(&dir);
    if (rc) return rc;
    pthread_mutex_lock(&r->mu);
    r->sandbox = sb;
    bool cancelled = atomic_load(&r->cancel) != RUN_GOING;
    pthread_mutex_unlock(&r->mu);
    if (cancelled) sandbox_kill(sb);
    return 0;
}

static void stop_sandbox(struct agent_run *r)
{
    pthread_mutex_lock(&r->mu);
    struct sandbox *sb = r->sandbox;
    r->sandbox = NULL;
    pthread_mutex_unlock(&r->mu);
    sandbox_free(sb);
}

/* ---- tool calls --------------------------------------------------------------------------- */

/* Records the tool result the model reads next (masked, as its event is). */
static void tool_result(struct run_state *st, const struct llm_tool_call *call, const char *text)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "role", "tool", "tool_call_id", call->id, "name",
                          call->name, "content", text);
    mask_json(st, m);
    json_array_append_new(st->messages, m);
}

/* An error the model reads instead of a tool's answer, stored as an error observation. */
static void tool_error(struct run_state *st, const struct llm_tool_call *call, int64_t cause,
                       json_t *meta, const char *text)
{
    append(st,
           event_observation("error", cause, text, text, json_pack("{s:s}", "error_id", ""),
                             json_incref(meta)),
           NULL);
    tool_result(st, call, text);
}

/* The sandbox died under a tool call (out of memory, killed from inside...): the run ends with
 * the reason; a follow-up message starts a new sandbox on the same workspace. */
static void sandbox_lost(struct run_state *st, const struct error *err)
{
    fail_run(st, STATUS_ERROR,
             "The sandbox stopped unexpectedly (%s). Send a message to continue "
             "in a new sandbox on the same workspace.",
             err->message);
}

/* Runs a tool call in the sandbox; *response is the agent's answer or NULL (error set). */
static int sandbox_tool(struct run_state *st, const char *tool, json_t *args, json_t **response,
                        struct error *err)
{
    json_t *req = json_pack("{s:s, s:O}", "tool", tool, "arguments", args);
    int rc = sandbox_call(st->r->sandbox, req, response, err);
    json_decref(req);
    return rc;
}

static void run_bash(struct run_state *st, const struct llm_tool_call *call, json_t *args,
                     json_t *meta, const char *thought)
{
    const char *command = json_string_value(json_object_get(args, "command"));
    json_t *is_input = json_object_get(args, "is_input");
    bool input = json_is_true(is_input) ||
                 (json_is_string(is_input) && strcmp(json_string_value(is_input), "true") == 0);
    struct buf msg = BUF_INIT;
    buf_addf(&msg, "Running command: %s", command ? command : "");
    json_t *action_args =
        json_pack("{s:s, s:b, s:s, s:b, s:b, s:n, s:b, s:s, s:i}", "command",
                  command ? command : "", "is_input", input, "thought", thought ? thought : "",
                  "blocking", json_object_get(args, "timeout") != NULL, "is_static", 0, "cwd",
                  "hidden", 0, "confirmation_state", "confirmed", "security_risk", -1);
    int64_t cause =
        append(st, event_agent_action("run", msg.data, action_args, json_incref(meta)), NULL);
    buf_release(&msg);
    if (cause < 0) return;

    json_t *res = NULL;
    struct error err = {0};
    if (sandbox_tool(st, "execute_bash", args, &res, &err)) {
        if (going(st)) sandbox_lost(st, &err);
        error_clear(&err);
        return;
    }
    const char *content = json_string_value(json_object_get(res, "content"));
    content = content ? content : "";
    if (json_is_true(json_object_get(res, "refused"))) {
        struct buf text = BUF_INIT;
        buf_addf(&text, "%s%s", content, PROCESSING_ERROR);
        tool_error(st, call, cause, meta, text.data);
        buf_release(&text);
        json_decref(res);
        return;
    }
    json_int_t exit_code = json_integer_value(json_object_get(res, "exit_code"));
    if (!json_is_integer(json_object_get(res, "exit_code"))) exit_code = -1;
    const char *cwd = json_string_value(json_object_get(res, "working_dir"));
    buf_addf(&msg, "Command `%s` executed with exit code %lld.", command ? command : "",
             (long long)exit_code);
    json_t *extras = json_pack("{s:s, s:{s:I, s:i, s:n, s:n, s:o, s:n, s:s, s:s}, s:b}", "command",
                               command ? command : "", "metadata", "exit_code", exit_code, "pid",
                               -1, "username", "hostname", "working_dir", json_str_or_null(cwd),
                               "py_interpreter_path", "prefix", "", "suffix", "", "hidden", 0);
    json_t *obs = event_observation("run", cause, content, msg.data, extras, json_incref(meta));
    json_object_set_new(obs, "success", json_boolean(exit_code == 0));
    append(st, obs, NULL);
    buf_release(&msg);
    tool_result(st, call, content);
    json_decref(res);
}

static void run_editor(struct run_state *st, const struct llm_tool_call *call, json_t *args,
                       json_t *meta, const char *thought)
{
    const char *command = json_string_value(json_object_get(args, "command"));
    const char *path = json_string_value(json_object_get(args, "path"));
    bool view = command && strcmp(command, "view") == 0;
    struct buf msg = BUF_INIT;
    json_t *action_args;
    if (view) {
        buf_addf(&msg, "Reading file: %s", path ? path : "");
        action_args =
            json_pack("{s:s, s:i, s:i, s:s, s:i, s:s, s:O}", "path", path ? path : "", "start", 0,
                      "end", -1, "thought", thought ? thought : "", "security_risk", -1,
                      "impl_source", "oh_aci", "view_range",
                      json_object_get(args, "view_range") ? json_object_get(args, "view_range")
                                                          : json_null());
    } else {
        buf_addf(&msg, "Editing file: %s", path ? path : "");
        action_args = json_pack(
            "{s:s, s:o, s:o, s:o, s:o, s:O, s:s, s:s, s:i}", "path", path ? path : "", "command",
            json_str_or_null(command), "file_text",
            json_str_or_null(json_string_value(json_object_get(args, "file_text"))), "old_str",
            json_str_or_null(json_string_value(json_object_get(args, "old_str"))), "new_str",
            json_str_or_null(json_string_value(json_object_get(args, "new_str"))), "insert_line",
            json_object_get(args, "insert_line") ? json_object_get(args, "insert_line")
                                                 : json_null(),
            "thought", thought ? thought : "", "impl_source", "oh_aci", "security_risk", -1);
    }
    int64_t cause = append(
        st, event_agent_action(view ? "read" : "edit", msg.data, action_args, json_incref(meta)),
        NULL);
    buf_release(&msg);
    if (cause < 0) return;

    json_t *res = NULL;
    struct error err = {0};
    if (sandbox_tool(st, "str_replace_editor", args, &res, &err)) {
        if (going(st)) sandbox_lost(st, &err);
        error_clear(&err);
        return;
    }
    const char *content = json_string_value(json_object_get(res, "content"));
    content = content ? content : "";
    if (json_is_true(json_object_get(res, "error"))) {
        tool_error(st, call, cause, meta, content);
    } else if (view) {
        append(st,
               event_observation(
                   "read", cause, content, content,
                   json_pack("{s:s, s:s}", "path", path ? path : "", "impl_source", "oh_aci"),
                   json_incref(meta)),
               NULL);
        tool_result(st, call, content);
    } else {
        json_t *old_content = json_object_get(res, "old_content");
        json_t *extras = json_pack(
            "{s:s, s:b, s:O, s:O, s:s, s:O}", "path", path ? path : "", "prev_exist",
            json_is_string(old_content), "old_content", old_content ? old_content : json_null(),
            "new_content",
            json_object_get(res, "new_content") ? json_object_get(res, "new_content") : json_null(),
            "impl_source", "oh_aci", "diff",
            json_object_get(res, "diff") ? json_object_get(res, "diff") : json_null());
        append(st, event_observation("edit", cause, content, content, extras, json_incref(meta)),
               NULL);
        tool_result(st, call, content);
    }
    json_decref(res);
}

/* Runs one tool call; returns true when it was `finish`. */
static bool run_tool_call(struct run_state *st, json_t *model_response,
                          const struct llm_tool_call *call, size_t ncalls, const char *thought)
{
    json_t *meta = event_tool_meta(call->name, call->id, model_response, ncalls);
    json_error_t jerr;
    json_t *args = json_loads(call->arguments ? call->arguments : "", JSON_DECODE_ANY, &jerr);
    bool finished = false;
    struct buf text = BUF_INIT;

    if (!json_is_object(args)) {
        buf_addf(&text, "Failed to parse tool call arguments: %s", call->arguments);
        tool_error(st, call, -1, meta, text.data);
    } else if (strcmp(call->name, "execute_bash") == 0) {
        run_bash(st, call, args, meta, thought);
    } else if (strcmp(call->name, "str_replace_editor") == 0) {
        run_editor(st, call, args, meta, thought);
    } else if (strcmp(call->name, "think") == 0) {
        const char *t = json_string_value(json_object_get(args, "thought"));
        int64_t cause =
            append(st,
                   event_agent_action("think", t ? t : "",
                                      json_pack("{s:s}", "thought", t ? t : ""), json_incref(meta)),
                   NULL);
        if (cause >= 0) {
            append(st,
                   event_observation("think", cause, THINK_RESULT, THINK_RESULT, NULL,
                                     json_incref(meta)),
                   NULL);
            tool_result(st, call, THINK_RESULT);
        }
    } else if (strcmp(call->name, "finish") == 0) {
        const char *m = json_string_value(json_object_get(args, "message"));
        m = m ? m : "";
        free(st->summary);
        st->summary = xstrdup(m);
        append(st,
               event_agent_action("finish", m,
                                  json_pack("{s:s, s:{}, s:s}", "final_thought", m, "outputs",
                                            "thought", thought ? thought : ""),
                                  json_incref(meta)),
               NULL);
        finished = true;
    } else {
        buf_addf(&text,
                 "Tool %s is not registered. (arguments: %s). Please check the tool name and "
                 "retry with an existing tool.",
                 call->name, call->arguments ? call->arguments : "");
        tool_error(st, call, -1, meta, text.data);
    }
    buf_release(&text);
    json_decref(args);
    json_decref(meta);
    return finished;
}

/* ---- the repository ----------------------------------------------------------------------- */

/* Clones (first run) or reopens the conversation's repository; on the first run the model gets
 * the workspace context. Non-zero when the run ended (the failure is written). */
static int open_repository(struct run_state *st, struct error *err)
{
    struct agent_run *r = st->r;
    struct conversation_update upd = {.status = CONV_RUNNING, .runtime_status = STATUS_SETTING_UP};
    if (r->app->store->ops->conversation_update(r->app->store, r->conv.id, r->runner, &upd,
                                                time_now_us(), NULL) == 0)
        webhooks_emit_started(r->app, &r->conv);
    notify_publish(NOTIFY_EVENTS, r->conv.id);
    int rc = repo_open(r->app, &r->conv, st->settings.git_user_name, st->settings.git_user_email,
                       &r->cancel, &st->repo, err);
    if (rc) {
        repo_work_free(&st->repo);
        if (going(st))
            fail_run(st,
                     rc == ERR_UNAUTHORIZED ? "STATUS$GIT_PROVIDER_AUTHENTICATION_ERROR"
                                            : STATUS_ERROR,
                     "%s", err->message);
        return -1;
    }
    st->has_repo = true;
    if (st->repo.cloned) {
        json_t *ev = repo_context_event(&st->repo);
        json_t *text = json_incref(json_object_get(ev, "content"));
        if (append(st, ev, NULL) < 0) {
            json_decref(text);
            return -1;
        }
        json_array_append_new(st->messages,
                              json_pack("{s:s, s:o}", "role", "user", "content", text));
    }
    if (st->repo.restored) {
        /* The model's earlier observations describe a workspace that is gone: say what it has. */
        struct buf text = BUF_INIT;
        if (st->repo.branch_gone)
            buf_addf(&text,
                     "The workspace was rebuilt on another machine: %s was cloned again. The work "
                     "branch \"%s\" is no longer on the git provider (deleted, perhaps after a "
                     "merge), so it was made again from \"%s\". Files from earlier runs, and "
                     "anything outside the repository, are gone.",
                     st->repo.inside_dir, st->repo.work_branch, st->repo.base_branch);
        else
            buf_addf(&text,
                     "The workspace was rebuilt on another machine: %s was cloned again and the "
                     "work branch \"%s\" checked out as it was last pushed. Files that were never "
                     "committed and pushed, and anything outside the repository, are gone.",
                     st->repo.inside_dir, st->repo.work_branch);
        json_t *extras = json_pack("{s:s, s:b}", "branch", st->repo.work_branch, "restored", 1);
        json_t *ev = event_observation("git", -1, text.data, text.data, extras, NULL);
        json_object_set_new(ev, "source", json_string("environment"));
        json_array_append_new(st->messages,
                              json_pack("{s:s, s:s}", "role", "user", "content", text.data));
        buf_release(&text);
        if (append(st, ev, NULL) < 0) return -1;
    }
    log_info("repository ready", "conversation=%s repository=%s branch=%s cloned=%s", r->conv.id,
             st->repo.info.full_name, st->repo.work_branch, st->repo.cloned ? "yes" : "no");
    return 0;
}

/* The repository's .openhands/setup.sh, sourced in the agent's bash session before the agent
 * starts (so what it exports stays), recorded as a command and its output. Its failure is
 * recorded, not fatal: the agent may still do the task. Non-zero when the run ended. */
static int run_setup_script(struct run_state *st)
{
    struct buf command = BUF_INIT;
    buf_addf(&command, "chmod +x %s && source %s", REPO_SETUP_SCRIPT, REPO_SETUP_SCRIPT);
    json_t *action_args =
        json_pack("{s:s, s:b, s:s, s:b, s:b, s:n, s:b}", "command", command.data, "is_input", 0,
                  "thought", "", "blocking", 1, "is_static", 0, "cwd", "hidden", 0);
    json_t *action =
        event_agent_action("run", "Running the repository's setup script", action_args, NULL);
    json_object_set_new(action, "source", json_string("environment"));
    int64_t cause = append(st, action, NULL);
    if (cause < 0) {
        buf_release(&command);
        return -1;
    }
    json_t *args = json_pack("{s:s, s:i}", "command", command.data, "timeout", SETUP_TIMEOUT_S);
    json_t *res = NULL;
    struct error err = {0};
    int rc = sandbox_tool(st, "execute_bash", args, &res, &err);
    json_decref(args);
    if (rc) {
        if (going(st)) sandbox_lost(st, &err);
        error_clear(&err);
        buf_release(&command);
        return -1;
    }
    const char *content = json_string_value(json_object_get(res, "content"));
    json_int_t exit_code = json_integer_value(json_object_get(res, "exit_code"));
    struct buf msg = BUF_INIT;
    buf_addf(&msg, "Command `%s` executed with exit code %lld.", command.data,
             (long long)exit_code);
    json_t *extras = json_pack("{s:s, s:{s:I}, s:b}", "command", command.data, "metadata",
                               "exit_code", exit_code, "hidden", 0);
    json_t *obs = event_observation("run", cause, content ? content : "", msg.data, extras, NULL);
    json_object_set_new(obs, "source", json_string("environment"));
    json_object_set_new(obs, "success", json_boolean(exit_code == 0));
    append(st, obs, NULL);
    json_decref(res);
    buf_release(&msg);
    buf_release(&command);
    return going(st) ? 0 : -1;
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* The model's answer as OpenAI's response shape: stored with the actions so that a restarted
 * conversation replays it exactly. */
static json_t *model_response_json(const struct llm_reply *reply, int step)
{
    json_t *calls = json_array();
    for (size_t i = 0; i < reply->ncalls; i++)
        json_array_append_new(
            calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", reply->calls[i].id, "type",
                             "function", "function", "name", reply->calls[i].name, "arguments",
                             reply->calls[i].arguments ? reply->calls[i].arguments : ""));
    char id[64];
    if (reply->response_id)
        snprintf(id, sizeof(id), "%s", reply->response_id);
    else
        snprintf(id, sizeof(id), "step-%d", step);
    json_t *message =
        json_pack("{s:s, s:o}", "role", "assistant", "content", json_str_or_null(reply->content));
    if (json_array_size(calls))
        json_object_set_new(message, "tool_calls", calls);
    else
        json_decref(calls);
    return json_pack("{s:s, s:[{s:o}]}", "id", id, "choices", "message", message);
}

/* Messages the user sent while the agent worked: they join the conversation before the next
 * call to the model. */
static void take_new_messages(struct run_state *st)
{
    struct agent_run *r = st->r;
    char **events;
    size_t n;
    struct error err = {0};
    if (r->app->store->ops->event_list(r->app->store, r->conv.id, st->user_cursor + 1, -1, false, 0,
                                       &events, &n, &err)) {
        error_clear(&err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(events[i], 0, NULL);
        const char *source = json_string_value(json_object_get(ev, "source"));
        const char *action = json_string_value(json_object_get(ev, "action"));
        if (source && action && !strcmp(source, "user") && !strcmp(action, "message"))
            json_array_append_new(
                st->messages, json_pack("{s:s, s:O}", "role", "user", "content",
                                        json_object_get(json_object_get(ev, "args"), "content")));
        json_int_t id = json_integer_value(json_object_get(ev, "id"));
        if (id > st->user_cursor) st->user_cursor = id;
        json_decref(ev);
    }
    event_list_free(events, n);
}

static void iterate(struct run_state *st)
{
    struct agent_run *r = st->r;
    struct llm_config llm = {
        .model = st->settings.llm_model,
        .base_url = st->settings.llm_base_url,
        .api_key = st->settings.llm_api_key,
        .cancel = &r->cancel,
    };
    const char *fast = getenv("CLOUDHANDS_LLM_RETRY_MS"); /* tests: fast retries */
    if (fast && *fast) llm.retry_min_ms = llm.retry_max_ms = atoi(fast);

    for (int step = 0; going(st); step++) {
        if (step >= st->settings.max_iterations) {
            fail_run(st, STATUS_ERROR,
                     "The agent reached max_iterations (%d) without finishing. Send a message to "
                     "let it go on, or raise max_iterations in the settings.",
                     st->settings.max_iterations);
            return;
        }
        take_new_messages(st);
        struct llm_reply reply = {0};
        struct error err = {0};
        int rc = llm_complete(&llm, st->messages, st->tools, &reply, &err);
        metrics_add(rc ? METRIC_LLM_CALLS_ERROR : METRIC_LLM_CALLS_OK, 1);
        if (!rc) {
            metrics_add(METRIC_LLM_PROMPT_TOKENS, reply.prompt_tokens);
            metrics_add(METRIC_LLM_COMPLETION_TOKENS, reply.completion_tokens);
        }
        if (!going(st)) {
            llm_reply_free(&reply);
            error_clear(&err);
            return;
        }
        if (rc == ERR_UNAUTHORIZED) {
            fail_run(st, STATUS_LLM_AUTH, "%s", err.message);
        } else if (rc == ERR_UNAVAILABLE) {
            fail_run(st, STATUS_LLM_UNAVAILABLE, "%s", err.message);
        } else if (rc == ERR_BAD_REQUEST) {
            /* A malformed answer: the model is told, and tries again. */
            st->llm_calls++;
            append(st,
                   event_observation("error", -1, err.message, err.message,
                                     json_pack("{s:s}", "error_id", ""), NULL),
                   NULL);
            json_array_append_new(st->messages,
                                  json_pack("{s:s, s:s}", "role", "user", "content", err.message));
        } else if (rc) {
            fail_run(st, STATUS_ERROR, "%s", err.message);
        }
        error_clear(&err);
        if (rc) {
            llm_reply_free(&reply);
            if (rc == ERR_BAD_REQUEST) continue;
            return;
        }

        st->llm_calls++;
        st->prompt_tokens += reply.prompt_tokens;
        st->completion_tokens += reply.completion_tokens;
        st->cost_usd += reply.cost_usd;
        json_t *response = model_response_json(&reply, step);
        json_array_append(
            st->messages,
            json_object_get(json_array_get(json_object_get(response, "choices"), 0), "message"));
        struct conversation_update upd = {.metrics = metrics_text(st)};
        r->app->store->ops->conversation_update(r->app->store, r->conv.id, r->runner, &upd,
                                                time_now_us(), NULL);

        if (reply.ncalls == 0) {
            /* A plain message: the agent waits for the user. */
            append(st, event_agent_message(reply.content ? reply.content : "", NULL), NULL);
            free(st->summary);
            st->summary = xstrdup(reply.content ? reply.content : "");
            settle_run(st, "awaiting_user_input");
        } else {
            bool finished = false;
            for (size_t i = 0; i < reply.ncalls && going(st) && !finished; i++)
                finished = run_tool_call(st, response, &reply.calls[i], reply.ncalls,
                                         i == 0 ? reply.content : NULL);
            if (finished) settle_run(st, "finished");
        }
        json_decref(response);
        llm_reply_free(&reply);
        if (st->ended) return;
    }
}

void agent_run(struct agent_run *r)
{
    struct run_state st = {.r = r};
    struct error err = {0};
    struct app *app = r->app;
    char **events = NULL;
    size_t n = 0;

    load_metrics(&st, r->conv.metrics);
    metrics_add(METRIC_RUNS_STARTED, 1);
    if (settings_resolve(app, r->conv.account_id, &st.settings, &err)) {
        fail_run(&st, STATUS_ERROR, "cannot read the settings: %s", err.message);
        goto out;
    }
    if (!st.settings.llm_model) {
        fail_run(&st, STATUS_ERROR,
                 "No LLM is configured: set llm_model (and llm_base_url, llm_api_key) with POST "
                 "/api/settings, or start the server with --llm-model.");
        goto out;
    }
    if (app->store->ops->event_list(app->store, r->conv.id, 0, -1, false, 0, &events, &n, &err)) {
        fail_run(&st, STATUS_ERROR, "cannot read the conversation's events: %s", err.message);
        goto out;
    }
    struct buf system = BUF_INIT;
    agent_system_prompt(&system, WORKSPACE, r->conv.conversation_instructions);
    json_t *history = events_to_messages(events, n);
    st.user_cursor = (int64_t)n - 1; /* ids are 0..n-1, all in `history` */
    st.messages = json_pack("[{s:s, s:s}]", "role", "system", "content", system.data);
    json_array_extend(st.messages, history);
    json_decref(history);
    buf_release(&system);
    st.tools = agent_tools();

    if (r->conv.selected_repository && *r->conv.selected_repository &&
        open_repository(&st, &err) != 0)
        goto out;

    struct conversation_update running = {.status = CONV_RUNNING,
                                          .agent_state = "running",
                                          .runtime_status = STATUS_READY,
                                          .error = ""};
    if (append(&st, event_agent_state("running", ""), &running) < 0) goto out;
    if (!st.has_repo) webhooks_emit_started(app, &r->conv);
    if (start_sandbox(&st, &err)) {
        fail_run(&st, STATUS_ERROR, "cannot start the sandbox: %s", err.message);
        goto out;
    }
    if (st.has_repo && repo_has_setup_script(&st.repo) && run_setup_script(&st) != 0) goto out;
    iterate(&st);
out:
    stop_sandbox(r);
    if (atomic_load(&r->cancel) == RUN_SHUTDOWN) {
        /* Hand the conversation back: the next start (or another worker) resumes it. */
        struct conversation_update upd = {.metrics = metrics_text(&st), .release = true};
        app->store->ops->conversation_update(app->store, r->conv.id, r->runner, &upd, time_now_us(),
                                             NULL);
    }
    event_list_free(events, n);
    json_decref(st.messages);
    json_decref(st.tools);
    env_free(st.secrets);
    if (st.has_repo) repo_work_free(&st.repo);
    free(st.summary);
    agent_settings_free(&st.settings);
    error_clear(&err);
}

void agent_run_cancel(struct agent_run *r, enum run_cancel why)
{
    int expected = RUN_GOING;
    if (atomic_compare_exchange_strong(&r->cancel, &expected, (int)why))
        log_info("conversation cancelled", "conversation=%s reason=%s", r->conv.id,
                 why == RUN_SHUTDOWN ? "shutdown" : "stopped");
    pthread_mutex_lock(&r->mu);
    if (r->sandbox) sandbox_kill(r->sandbox);
    pthread_mutex_unlock(&r->mu);
}
