/* settings: per-account settings over server defaults; see settings.h. */
#include "core/settings.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/json.h"

#define DEFAULT_GIT_USER_NAME  "openhands"
#define DEFAULT_GIT_USER_EMAIL "openhands@all-hands.dev"
#define SEALED_KEY             "llm_api_key_sealed"
#define PROVIDER_TOKENS        "provider_tokens"
#define PROVIDER_TOKEN_MAX     4000

static const struct json_field update_fields[] = {
    {"llm_model", JF_STRING, false, 200},
    {"llm_base_url", JF_STRING, false, 2000},
    {"llm_api_key", JF_STRING, false, 4000},
    {"max_iterations", JF_INT, false, 0},
    {"git_user_name", JF_STRING, false, 200},
    {"git_user_email", JF_STRING, false, 200},
    {NULL, 0, false, 0},
};

/* The account's string value for `key`, else the server's (may be NULL). */
static char *pick(json_t *stored, const char *key, const char *server)
{
    const char *v = json_string_value(json_object_get(stored, key));
    return xstrdup_or_null(v && *v ? v : server);
}

static bool same_url(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int settings_resolve(struct app *app, int64_t account_id, struct agent_settings *out,
                     struct error *err)
{
    json_t *stored;
    memset(out, 0, sizeof(*out));
    int rc = app->store->ops->settings_get(app->store, account_id, &stored, err);
    if (rc) return rc;
    out->llm_model = pick(stored, "llm_model", app->cfg.llm_model);
    out->llm_base_url = pick(stored, "llm_base_url", app->cfg.llm_base_url);
    const char *sealed = json_string_value(json_object_get(stored, SEALED_KEY));
    if (sealed) {
        out->llm_api_key = crypto_open(app->secret, sealed);
        if (!out->llm_api_key) {
            json_decref(stored);
            agent_settings_free(out);
            return error_set(err, ERR_INTERNAL,
                             "the stored LLM API key cannot be decrypted (was secret.key "
                             "replaced?); set it again in the settings");
        }
    } else if (same_url(out->llm_base_url, app->cfg.llm_base_url)) {
        /* The server's key goes only to the server's URL, never to one an account chose. */
        out->llm_api_key = xstrdup_or_null(app->cfg.llm_api_key);
    }
    json_t *iters = json_object_get(stored, "max_iterations");
    out->max_iterations =
        json_is_integer(iters) ? (int)json_integer_value(iters) : app->cfg.max_iterations;
    out->git_user_name = pick(stored, "git_user_name", DEFAULT_GIT_USER_NAME);
    out->git_user_email = pick(stored, "git_user_email", DEFAULT_GIT_USER_EMAIL);
    json_decref(stored);
    return 0;
}

void agent_settings_free(struct agent_settings *s)
{
    if (s->llm_api_key) crypto_wipe(s->llm_api_key, strlen(s->llm_api_key));
    free(s->llm_model);
    free(s->llm_base_url);
    free(s->llm_api_key);
    free(s->git_user_name);
    free(s->git_user_email);
    memset(s, 0, sizeof(*s));
}

int settings_public(struct app *app, int64_t account_id, json_t **out, struct error *err)
{
    struct agent_settings s;
    json_t *stored;
    int rc = app->store->ops->settings_get(app->store, account_id, &stored, err);
    if (rc) return rc;
    bool key_set = json_object_get(stored, SEALED_KEY) != NULL;
    json_t *tokens_set = json_object();
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(stored, PROVIDER_TOKENS), name, entry)
        json_object_set_new(tokens_set, name, json_str_or_null(json_get_str(entry, "host")));
    json_decref(stored);
    if ((rc = settings_resolve(app, account_id, &s, err))) {
        json_decref(tokens_set);
        return rc;
    }
    *out = json_pack("{s:o, s:o, s:n, s:b, s:i, s:o, s:o, s:o}", "llm_model",
                     json_str_or_null(s.llm_model), "llm_base_url",
                     json_str_or_null(s.llm_base_url), "llm_api_key", "llm_api_key_set",
                     key_set || s.llm_api_key != NULL, "max_iterations", s.max_iterations,
                     "git_user_name", json_str_or_null(s.git_user_name), "git_user_email",
                     json_str_or_null(s.git_user_email), "provider_tokens_set", tokens_set);
    agent_settings_free(&s);
    return 0;
}

int settings_update(struct app *app, int64_t account_id, json_t *body, struct error *err)
{
    int rc = json_check_fields(body, update_fields, true, err);
    if (rc) return rc;
    json_t *iters = json_object_get(body, "max_iterations");
    if (json_is_integer(iters) &&
        (json_integer_value(iters) < 1 || json_integer_value(iters) > 100000))
        return error_invalid(err, "max_iterations", "greater_than_equal",
                             "max_iterations must be from 1 to 100000");
    const char *url = json_get_str(body, "llm_base_url");
    if (url && *url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return error_invalid(err, "llm_base_url", "url_scheme",
                             "URL scheme should be 'http' or 'https'");

    json_t *changes = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "llm_api_key") == 0) {
            const char *plain = json_string_value(v);
            /* An empty or null key removes the stored one (the server's default applies). */
            char *sealed = plain && *plain ? crypto_seal(app->secret, plain) : NULL;
            json_object_set_new(changes, SEALED_KEY, json_str_or_null(sealed));
            free(sealed);
        } else if (json_is_string(v) && !*json_string_value(v)) {
            json_object_set_new(changes, key, json_null());
        } else {
            json_object_set(changes, key, v);
        }
    }
    rc = app->store->ops->settings_put(app->store, account_id, changes, err);
    json_decref(changes);
    return rc;
}

int settings_provider_token(struct app *app, int64_t account_id, const struct git_provider *p,
                            char **token, struct error *err)
{
    json_t *stored;
    *token = NULL;
    int rc = app->store->ops->settings_get(app->store, account_id, &stored, err);
    if (rc) return rc;
    const char *sealed = json_get_str(
        json_object_get(json_object_get(stored, PROVIDER_TOKENS), p->name), "token_sealed");
    if (sealed) {
        *token = crypto_open(app->secret, sealed);
        if (!*token)
            rc = error_set(err, ERR_INTERNAL,
                           "the stored %s token cannot be decrypted (was secret.key replaced?); "
                           "add it again with POST /api/add-git-providers",
                           p->display_name);
    } else {
        *token = xstrdup_or_null(git_provider_server_token(&app->cfg, p));
    }
    json_decref(stored);
    return rc;
}

/* Checks one {"token", "host"} entry of add-git-providers. */
static int check_provider_entry(struct app *app, const char *name, json_t *entry,
                                const struct git_provider **p, struct error *err)
{
    static const struct json_field fields[] = {
        {"token", JF_STRING, false, PROVIDER_TOKEN_MAX},
        {"host", JF_STRING, false, 255},
        {"user_id", JF_STRING, false, 255}, /* OpenHands clients may send it; unused */
        {NULL, 0, false, 0},
    };
    *p = git_provider_find(&app->cfg, name, err);
    if (!*p) {
        snprintf(err->field, sizeof(err->field), "provider_tokens.%s", name);
        return ERR_INVALID;
    }
    if (!json_is_object(entry))
        return error_invalid(err, "provider_tokens", "dict_type",
                             "Each provider's value must be an object {\"token\", \"host\"}");
    int rc = json_check_fields(entry, fields, true, err);
    if (rc) return rc;
    const char *host = json_get_str(entry, "host");
    if (host && *host) {
        char *mine = url_host((*p)->base_url(&app->cfg));
        bool same = mine && strcasecmp(mine, host) == 0;
        if (!same)
            error_invalid(err, "host", "value_error",
                          "This server talks to %s at %s; a token for another host cannot be "
                          "used here (the operator chooses the host with the server's flags)",
                          (*p)->display_name, mine ? mine : "its configured URL");
        free(mine);
        if (!same) return ERR_INVALID;
    }
    return 0;
}

int settings_add_provider_tokens(struct app *app, int64_t account_id, json_t *body,
                                 struct error *err)
{
    static const struct json_field fields[] = {
        {"provider_tokens", JF_OBJECT, true, 0},
        {NULL, 0, false, 0},
    };
    int rc = json_check_fields(body, fields, true, err);
    if (rc) return rc;
    json_t *given = json_object_get(body, "provider_tokens");
    const char *name;
    json_t *entry;
    json_object_foreach(given, name, entry)
    {
        const struct git_provider *p;
        if ((rc = check_provider_entry(app, name, entry, &p, err))) return rc;
        const char *token = json_get_str(entry, "token");
        if (token && *token) {
            struct provider_call pc = {.cfg = &app->cfg, .token = token};
            if ((rc = p->check_token(&pc, err))) return rc;
        }
    }

    json_t *stored;
    if ((rc = app->store->ops->settings_get(app->store, account_id, &stored, err))) return rc;
    json_t *tokens = json_object_get(stored, PROVIDER_TOKENS);
    tokens = json_is_object(tokens) ? json_deep_copy(tokens) : json_object();
    json_object_foreach(given, name, entry)
    {
        const char *token = json_get_str(entry, "token");
        const char *host = json_get_str(entry, "host");
        json_t *mine = json_object_get(tokens, name);
        if (!json_is_object(mine)) {
            if (!token || !*token) continue; /* nothing to keep, nothing given */
            mine = json_object();
            json_object_set_new(tokens, name, mine);
        }
        if (token && *token) {
            char *sealed = crypto_seal(app->secret, token);
            json_object_set_new(mine, "token_sealed", json_string(sealed));
            free(sealed);
        }
        if (host) json_object_set_new(mine, "host", *host ? json_string(host) : json_null());
    }
    json_t *changes = json_pack("{s:o}", PROVIDER_TOKENS, tokens);
    rc = app->store->ops->settings_put(app->store, account_id, changes, err);
    json_decref(changes);
    json_decref(stored);
    return rc;
}

int settings_unset_provider_tokens(struct app *app, int64_t account_id, struct error *err)
{
    json_t *changes = json_pack("{s:n}", PROVIDER_TOKENS);
    int rc = app->store->ops->settings_put(app->store, account_id, changes, err);
    json_decref(changes);
    return rc;
}
