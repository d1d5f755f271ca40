/*
 * settings: an account's settings (API.md "Settings and secrets") over the server's
 * defaults. Stored as one JSON object per account; the LLM key is stored sealed
 * (crypto_seal) under "llm_api_key_sealed" and never returned by the API.
 */
#ifndef CH_SETTINGS_H
#define CH_SETTINGS_H

#include <jansson.h>

#include "core/app.h"

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

#endif
