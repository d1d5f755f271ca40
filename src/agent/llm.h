/*
 * llm: the client for the model. Speaks OpenAI's chat-completions protocol (which covers
 * OpenAI, vLLM, llama.cpp's server, Ollama, LiteLLM, OpenRouter) and Anthropic's Messages
 * API (model "anthropic/..." or an Anthropic base URL), over libcurl, with timeouts and
 * retries (exponential backoff on 429, 5xx and connection errors, honouring Retry-After).
 *
 * Messages and tools are always given in OpenAI's shape; the Anthropic adapter converts
 * both ways. The API key is sent only to the configured base URL and never logged or put
 * into an error message.
 */
#ifndef CH_LLM_H
#define CH_LLM_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util/error.h"

struct llm_config {
    const char *model;    /* e.g. "gpt-4o", "anthropic/claude-sonnet-4-20250514" */
    const char *base_url; /* e.g. "https://api.openai.com/v1" (".../chat/completions" appended) */
    const char *api_key;  /* may be NULL for local servers */
    int timeout_s;        /* per request; 0 = 300 */
    int max_retries;      /* 0 = 5 */
    int retry_min_ms;     /* first backoff; 0 = 1000 (tests set it low) */
    int retry_max_ms;     /* backoff cap; 0 = 30000 */
    const atomic_int *cancel; /* optional: when it becomes non-zero, the call (and any
                                 backoff) ends at once with ERR_UNAVAILABLE */
};

struct llm_tool_call {
    char *id;
    char *name;
    char *arguments; /* JSON text as the model sent it (may be invalid JSON) */
};

struct llm_reply {
    char *content; /* assistant text, or NULL */
    struct llm_tool_call *calls;
    size_t ncalls;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double cost_usd;
    char *response_id;
};

/* Failure codes: ERR_UNAUTHORIZED (the provider answered 401/403: a bad key),
 * ERR_UNAVAILABLE (429/5xx/connection errors until retries ran out), ERR_BAD_REQUEST (the
 * provider answered something that is not a chat completion: the message says what), and
 * ERR_INVALID (the provider refused the request, e.g. 400, with its message). */
int llm_complete(const struct llm_config *cfg, json_t *messages, json_t *tools,
                 struct llm_reply *out, struct error *err);
void llm_reply_free(struct llm_reply *r);
/* True when cfg selects Anthropic's Messages API. */
int llm_is_anthropic(const struct llm_config *cfg);

#endif
