/*
 * settings: GET/POST /api/settings (the account's LLM and git identity over the server's
 * defaults), the git provider tokens (POST /api/add-git-providers, /api/unset-provider-tokens)
 * and GET /api/options/models. Rules and encryption live in core/settings.c.
 */
#include <string.h>

#include "api/api.h"
#include "core/settings.h"

int api_settings_get(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *v;
    int rc = settings_public(req->app, req->auth.account.id, &v, err);
    if (rc) return rc;
    response_json(res, 200, v);
    return 0;
}

/* OpenHands answers {"message": "Settings stored"}. */
int api_settings_post(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = settings_update(req->app, req->auth.account.id, body, err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Settings stored"));
    return 0;
}

/* OpenHands answers {"message": "Git providers stored"}. */
int api_add_git_providers(struct http_request *req, struct http_response *res, struct error *err)
{
    json_t *body;
    int rc = http_body_json(req, &body, err);
    if (rc) return rc;
    rc = settings_add_provider_tokens(req->app, req->auth.account.id, body, err);
    json_decref(body);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Git providers stored"));
    return 0;
}

int api_unset_provider_tokens(struct http_request *req, struct http_response *res,
                              struct error *err)
{
    int rc = settings_unset_provider_tokens(req->app, req->auth.account.id, err);
    if (rc) return rc;
    response_json(res, 200, json_pack("{s:s}", "message", "Unset Git provider tokens"));
    return 0;
}

/* The models this server knows of: the server's default and the caller's own setting. */
int api_options_models(struct http_request *req, struct http_response *res, struct error *err)
{
    struct agent_settings s;
    json_t *models = json_array();
    if (req->app->cfg.llm_model)
        json_array_append_new(models, json_string(req->app->cfg.llm_model));
    if (settings_resolve(req->app, req->auth.account.id, &s, err) == 0) {
        if (s.llm_model &&
            (!req->app->cfg.llm_model || strcmp(s.llm_model, req->app->cfg.llm_model) != 0))
            json_array_append_new(models, json_string(s.llm_model));
        agent_settings_free(&s);
    }
    error_clear(err);
    response_json(res, 200, models);
    return 0;
}
