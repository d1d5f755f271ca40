/*
 * settings: an account's settings (API.md "Settings and secrets") over the server's
 * defaults. Stored as one JSON object per account; the LLM key is stored sealed
 * (crypto_seal) under "llm_api_key_sealed" and never returned by the API.
 */
#ifndef CH_SETTINGS_H
#define CH_SETTINGS_H

#include <jansson.h>

#include "core/app.h"
#include "git/provider.h"

/* What a run needs, resolved: the account's values where it set them, the server's otherwise.
 * Strings are malloc'd (NULL when neither has one); free with agent_settings_free. The
 * server's LLM key applies only when the base URL is the server's too: it is never sent to a URL
 * an account chose. */
struct agent_settings {
    char *llm_model;
    char *llm_base_url;
    char *llm_api_key; /* decrypted; wiped by agent_settings_free */
    int max_iterations;
    char *git_user_name;
    char *git_user_email;
};

int settings_resolve(struct app *app, int64_t account_id, struct agent_settings *out,
                     struct error *err);
void agent_settings_free(struct agent_settings *s);
/* GET /api/settings: the account's view (llm_api_key null, llm_api_key_set, defaults filled). */
int settings_public(struct app *app, int64_t account_id, json_t **out, struct error *err);
/* POST /api/settings: validates and stores a partial update (unknown fields are 422). */
int settings_update(struct app *app, int64_t account_id, json_t *body, struct error *err);

/* Git provider tokens live in the settings as "provider_tokens": {"github": {"token_sealed",
 * "host"}}, sealed like the LLM key. */

/* The token a conversation of the account uses with provider p: the account's own (decrypted),
 * else the server's (--github-token, ...); *token is NULL when there is neither. Wipe and free
 * it after use. */
int settings_provider_token(struct app *app, int64_t account_id, const struct git_provider *p,
                            char **token, struct error *err);
/* POST /api/add-git-providers {"provider_tokens": {"github": {"token", "host"}}}: checks each
 * token with its provider (ERR_UNAUTHORIZED when refused) and stores it sealed. An empty or
 * missing token keeps the stored one (only the host changes), as in OpenHands. A host must be
 * the one this server is configured with for that provider. */
int settings_add_provider_tokens(struct app *app, int64_t account_id, json_t *body,
                                 struct error *err);
/* POST /api/unset-provider-tokens: removes the account's provider tokens. */
int settings_unset_provider_tokens(struct app *app, int64_t account_id, struct error *err);

#endif
