/* settings: per-account settings over server defaults; see settings.h. */
#include "core/settings.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

#define DEFAULT_GIT_USER_NAME  "openhands"
#define DEFAULT_GIT_USER_EMAIL "openhands@all-hands.dev"
#define SEALED_KEY             "llm_api_key_sealed"

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
    json_decref(stored);
    if ((rc = settings_resolve(app, account_id, &s, err))) return rc;
    *out = json_pack("{s:o, s:o, s:n, s:b, s:i, s:o, s:o, s:o}", "llm_model",
                     json_str_or_null(s.llm_model), "llm_base_url",
                     json_str_or_null(s.llm_base_url), "llm_api_key", "llm_api_key_set",
                     key_set || s.llm_api_key != NULL, "max_iterations", s.max_iterations,
                     "git_user_name", json_str_or_null(s.git_user_name), "git_user_email",
                     json_str_or_null(s.git_user_email), "provider_tokens_set", json_object());
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
