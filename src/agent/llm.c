/*
 * llm: the model client (see llm.h). Owns both wire formats (OpenAI chat completions and
 * Anthropic Messages, including the conversion of OpenAI-shaped messages and tools into
 * Anthropic's), the HTTP exchange over libcurl, retries with backoff, and the mapping of
 * provider failures onto error codes.
 *
 * Connections: one curl easy handle per llm_complete call, reused by that call's retries (so a
 * retry can reuse the connection); nothing is shared between threads except libcurl's global
 * state, initialised once. Redirects are never followed, so the key only goes to base_url.
 * The key is redacted from every error message, including provider messages that echo it.
 */
#include "agent/llm.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/crypto.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"

#ifndef CH_VERSION
#define CH_VERSION "dev"
#endif

#define LLM_MAX_RESPONSE      (16u << 20) /* a bigger answer is treated as malformed */
#define LLM_PROVIDER_MSG_MAX  300         /* bytes of a provider's message quoted in errors */
#define ANTHROPIC_VERSION     "2023-06-01"
#define ANTHROPIC_MAX_TOKENS  8192
#define DEFAULT_OPENAI_URL    "https://api.openai.com/v1"
#define DEFAULT_ANTHROPIC_URL "https://api.anthropic.com"
#define NOT_A_COMPLETION      "the LLM answered something that is not a chat completion: "

/* ---- small helpers ---------------------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Cuts `b` to at most `max` bytes without splitting a UTF-8 sequence. */
static void utf8_truncate(struct buf *b, size_t max)
{
    if (b->len <= max) return;
    size_t n = max;
    while (n > 0 && ((unsigned char)b->data[n] & 0xC0) == 0x80) n--;
    b->len = n;
    b->data[n] = '\0';
}

/* Appends `text` to `out` with every occurrence of `key` replaced. Keys shorter than 4 bytes
 * are not real secrets and would mangle ordinary text, so they are left alone. */
static void add_redacted(struct buf *out, const char *text, const char *key)
{
    size_t klen = key ? strlen(key) : 0;
    if (klen < 4) {
        buf_adds(out, text);
        return;
    }
    const char *p = text, *hit;
    while ((hit = strstr(p, key))) {
        buf_add(out, p, (size_t)(hit - p));
        buf_adds(out, "[redacted]");
        p = hit + klen;
    }
    buf_adds(out, p);
}

/* error_set, with the key redacted and the message cut at a UTF-8 boundary to fit. */
static int fail(struct error *err, enum err_code code, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct error *err, enum err_code code, const char *key, const char *fmt, ...)
{
    struct buf raw = BUF_INIT, clean = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&raw, fmt, ap);
    va_end(ap);
    add_redacted(&clean, raw.data, key);
    utf8_truncate(&clean, sizeof(((struct error *)NULL)->message) - 1);
    error_set(err, code, "%s", clean.data);
    buf_release(&raw);
    buf_release(&clean);
    return code;
}

/* Thread-local xorshift64* for the backoff jitter; quality is irrelevant, no locks are. */
static uint64_t jitter_next(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        if (!state) state = 0x9E3779B97F4A7C15ull;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

static void sleep_ms(long ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ---- settings ----------------------------------------------------------------------------- */

int llm_is_anthropic(const struct llm_config *cfg)
{
    if (!cfg) return 0;
    if (starts_with(cfg->model, "anthropic/")) return 1;
    return cfg->base_url && strstr(cfg->base_url, "anthropic.com") != NULL;
}

struct settings {
    bool anthropic;
    const char *model; /* without the provider prefix */
    const char *key;   /* NULL when none */
    char *url;         /* the endpoint (owned) */
    int max_retries;
    long timeout_s, min_ms, max_ms;
    const atomic_int *cancel;
};

static bool cancelled(const struct settings *s)
{
    return s->cancel && atomic_load(s->cancel) != 0;
}

static int settings_load(const struct llm_config *cfg, struct settings *s, struct error *err)
{
    memset(s, 0, sizeof(*s));
    if (!cfg || !cfg->model || !*cfg->model)
        return error_set(err, ERR_INVALID, "no LLM model is configured");
    s->anthropic = llm_is_anthropic(cfg);
    s->cancel = cfg->cancel;
    s->model = cfg->model;
    if (s->anthropic && starts_with(s->model, "anthropic/"))
        s->model += strlen("anthropic/");
    else if (!s->anthropic && starts_with(s->model, "openai/"))
        s->model += strlen("openai/");
    if (!*s->model) return error_set(err, ERR_INVALID, "the LLM model name is empty");

    s->key = cfg->api_key && *cfg->api_key ? cfg->api_key : NULL;
    if (s->key)
        for (const char *p = s->key; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return error_set(err, ERR_INVALID, "the LLM API key contains control characters");

    const char *base = cfg->base_url && *cfg->base_url
                           ? cfg->base_url
                           : (s->anthropic ? DEFAULT_ANTHROPIC_URL : DEFAULT_OPENAI_URL);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') blen--;
    struct buf url = BUF_INIT;
    buf_add(&url, base, blen);
    if (!s->anthropic)
        buf_adds(&url, "/chat/completions");
    else if (ends_with(base, blen, "/v1"))
        buf_adds(&url, "/messages");
    else
        buf_adds(&url, "/v1/messages");
    s->url = buf_detach(&url, NULL);

    s->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 300;
    s->max_retries = cfg->max_retries > 0 ? cfg->max_retries : cfg->max_retries < 0 ? 0 : 5;
    s->min_ms = cfg->retry_min_ms > 0 ? cfg->retry_min_ms : cfg->retry_min_ms < 0 ? 0 : 1000;
    s->max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : cfg->retry_max_ms < 0 ? 0 : 30000;
    if (s->max_ms < s->min_ms) s->max_ms = s->min_ms;
    return 0;
}

/* ---- request bodies ----------------------------------------------------------------------- */

static int dump_to_buf(const char *chunk, size_t size, void *data)
{
    buf_add(data, chunk, size);
    return 0;
}

/* Appends the compact JSON of `v`; -1 if it cannot be serialised (e.g. a NaN). */
static int add_json(struct buf *b, const json_t *v)
{
    return json_dump_callback(v, dump_to_buf, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The OpenAI body is written as text around the caller's messages and tools, so their
 * reference counts are never touched: a tools array shared by several runner threads stays
 * untouched memory (jansson's incref reads the count non-atomically). */
static int openai_body(const struct settings *s, json_t *messages, json_t *tools, struct buf *out)
{
    json_t *model = json_string(s->model);
    int rc = 0;
    buf_adds(out, "{\"model\":");
    rc |= add_json(out, model);
    buf_adds(out, ",\"messages\":");
    rc |= add_json(out, messages);
    if (tools && json_array_size(tools) > 0) {
        buf_adds(out, ",\"tools\":");
        rc |= add_json(out, tools);
        buf_adds(out, ",\"tool_choice\":\"auto\"");
    }
    buf_addch(out, '}');
    json_decref(model);
    return rc ? -1 : 0;
}

/* The text of an OpenAI `content` (a string or an array of parts), appended to `out`. */
static void add_content_text(struct buf *out, json_t *content)
{
    if (json_is_string(content)) {
        buf_adds(out, json_string_value(content));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *text = json_get_str(part, "text");
        if (text) buf_adds(out, text);
    }
}

static json_t *text_block(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

/* An OpenAI image_url part as an Anthropic image block (data: URLs inline, others by URL). */
static json_t *image_block(json_t *part)
{
    json_t *iu = json_object_get(part, "image_url");
    const char *url = json_is_string(iu) ? json_string_value(iu) : json_get_str(iu, "url");
    if (!url) return NULL;
    if (starts_with(url, "data:")) {
        const char *semi = strstr(url, ";base64,");
        if (!semi) return NULL;
        json_t *media = json_stringn(url + 5, (size_t)(semi - (url + 5)));
        return json_pack("{s:s, s:{s:s, s:o, s:s}}", "type", "image", "source", "type", "base64",
                         "media_type", media, "data", semi + strlen(";base64,"));
    }
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type", "url", "url", url);
}

/* Appends the blocks of an OpenAI `content` to `blocks`, skipping empty text (which
 * Anthropic refuses). */
static void add_content_blocks(json_t *blocks, json_t *content)
{
    if (json_is_string(content)) {
        if (*json_string_value(content))
            json_array_append_new(blocks, text_block(json_string_value(content)));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_get_str(part, "type");
        const char *text = json_get_str(part, "text");
        if (text && (!type || strcmp(type, "text") == 0)) {
            if (*text) json_array_append_new(blocks, text_block(text));
        } else if (type && strcmp(type, "image_url") == 0) {
            json_t *img = image_block(part);
            if (img) json_array_append_new(blocks, img);
        }
    }
}

/* Anthropic ids must match ^[a-zA-Z0-9_-]+$; ids from other providers are mapped onto that
 * alphabet the same way on both sides (tool_use and tool_result), so pairs still match. */
static json_t *anthropic_id(const char *id)
{
    if (!id || !*id) return json_string("toolu_missing");
    char *copy = xstrdup(id);
    for (char *p = copy; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            *p = '_';
    }
    json_t *v = json_string(copy);
    free(copy);
    return v;
}

static json_t *tool_use_block(json_t *call)
{
    json_t *fn = json_object_get(call, "function");
    const char *name = json_get_str(fn, "name");
    json_t *args = json_object_get(fn, "arguments");
    json_t *input = NULL;
    if (json_is_string(args))
        input = json_loads(json_string_value(args), 0, NULL);
    else if (json_is_object(args))
        input = json_deep_copy(args); /* never share (incref) the caller's objects */
    if (!json_is_object(input)) {     /* Anthropic insists on an object */
        json_decref(input);
        input = json_object();
    }
    return json_pack("{s:s, s:o, s:s, s:o}", "type", "tool_use", "id",
                     anthropic_id(json_get_str(call, "id")), "name", name ? name : "", "input",
                     input);
}

static json_t *tool_result_block(json_t *msg)
{
    json_t *block = json_pack("{s:s, s:o}", "type", "tool_result", "tool_use_id",
                              anthropic_id(json_get_str(msg, "tool_call_id")));
    struct buf text = BUF_INIT;
    add_content_text(&text, json_object_get(msg, "content"));
    if (text.len) json_object_set_new(block, "content", json_string(text.data));
    buf_release(&text);
    return block;
}

/* OpenAI messages → Anthropic {system, messages}: system messages are joined into `system`;
 * assistant tool_calls become tool_use blocks; role "tool" messages become user tool_result
 * blocks; consecutive messages of the same role are merged into one (so a run of tool results
 * is one user message, as Anthropic requires). */
static json_t *anthropic_body(const struct settings *s, json_t *messages, json_t *tools)
{
    struct buf system = BUF_INIT;
    json_t *out = json_array();
    json_t *last = NULL; /* borrowed: the last message appended to `out` */
    const char *last_role = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_get_str(m, "role");
        if (!role) continue;
        json_t *content = json_object_get(m, "content");
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            struct buf t = BUF_INIT;
            add_content_text(&t, content);
            if (t.len) {
                if (system.len) buf_adds(&system, "\n\n");
                buf_add(&system, t.data, t.len);
            }
            buf_release(&t);
            continue;
        }
        const char *r;
        json_t *blocks = json_array();
        if (strcmp(role, "user") == 0) {
            r = "user";
            add_content_blocks(blocks, content);
        } else if (strcmp(role, "assistant") == 0) {
            r = "assistant";
            add_content_blocks(blocks, content);
            size_t j;
            json_t *call;
            json_array_foreach(json_object_get(m, "tool_calls"), j, call)
                json_array_append_new(blocks, tool_use_block(call));
        } else if (strcmp(role, "tool") == 0) {
            r = "user";
            json_array_append_new(blocks, tool_result_block(m));
        } else {
            json_decref(blocks);
            continue;
        }
        if (json_array_size(blocks) == 0) {
            json_decref(blocks);
            continue;
        }
        if (last && strcmp(last_role, r) == 0) {
            json_array_extend(json_object_get(last, "content"), blocks);
            json_decref(blocks);
        } else {
            last = json_pack("{s:s, s:o}", "role", r, "content", blocks);
            json_array_append_new(out, last);
            last_role = r;
        }
    }

    json_t *body = json_object();
    json_object_set_new(body, "model", json_string(s->model));
    json_object_set_new(body, "max_tokens", json_integer(ANTHROPIC_MAX_TOKENS));
    if (system.len) json_object_set_new(body, "system", json_string(system.data));
    json_object_set_new(body, "messages", out);
    if (tools && json_array_size(tools) > 0) {
        json_t *list = json_array();
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            json_t *fn = json_object_get(t, "function");
            if (!json_is_object(fn)) fn = t; /* already flat */
            const char *name = json_get_str(fn, "name");
            if (!name) continue;
            json_t *tool = json_pack("{s:s}", "name", name);
            const char *desc = json_get_str(fn, "description");
            if (desc) json_object_set_new(tool, "description", json_string(desc));
            json_t *schema = json_object_get(fn, "parameters");
            if (!schema) schema = json_object_get(fn, "input_schema");
            if (json_is_object(schema))
                json_object_set_new(tool, "input_schema", json_deep_copy(schema));
            else
                json_object_set_new(tool, "input_schema",
                                    json_pack("{s:s, s:{}}", "type", "object", "properties"));
            json_array_append_new(list, tool);
        }
        json_object_set_new(body, "tools", list);
        json_object_set_new(body, "tool_choice", json_pack("{s:s}", "type", "auto"));
    }
    buf_release(&system);
    return body;
}

/* ---- responses ---------------------------------------------------------------------------- */

static int64_t int_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v)) return (int64_t)json_real_value(v);
    return 0;
}

/* The human message in a provider's error body: OpenAI and Anthropic {"error": {"message"}},
 * {"error": "..."}, {"message": "..."}, FastAPI {"detail": ...}; else the body text itself.
 * Control characters become spaces, the key is redacted, and the result is cut to fit. */
static void provider_message(const struct buf *body, const char *key, struct buf *out)
{
    struct buf raw = BUF_INIT;
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    if (root) {
        json_t *e = json_object_get(root, "error");
        const char *msg = json_is_string(e) ? json_string_value(e) : json_get_str(e, "message");
        if (!msg) msg = json_get_str(root, "message");
        if (!msg) msg = json_get_str(root, "detail");
        if (!msg) msg = json_get_str(json_array_get(json_object_get(root, "detail"), 0), "msg");
        if (msg)
            buf_adds(&raw, msg);
        else
            buf_add_json(&raw, root);
        json_decref(root);
    } else {
        /* not JSON: keep printable ASCII only, so the message is valid UTF-8 */
        for (size_t i = 0; i < body->len && raw.len < 4 * LLM_PROVIDER_MSG_MAX; i++) {
            unsigned char c = (unsigned char)body->data[i];
            buf_addch(&raw, c >= 0x20 && c < 0x7f ? (char)c : ' ');
        }
    }
    for (size_t i = 0; i < raw.len; i++)
        if ((unsigned char)raw.data[i] < 0x20) raw.data[i] = ' ';
    add_redacted(out, raw.data, key);
    if (out->len > LLM_PROVIDER_MSG_MAX) {
        utf8_truncate(out, LLM_PROVIDER_MSG_MAX);
        buf_adds(out, "...");
    }
    buf_release(&raw);
}

static void reply_set_calls(struct llm_reply *out, size_t n)
{
    out->calls = n ? xcalloc(n, sizeof(*out->calls)) : NULL;
    out->ncalls = 0;
}

static char *dump_or_empty_object(json_t *v)
{
    char *s = v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!s) return xstrdup("{}");
    char *copy = xstrdup(s); /* callers free() with the project's allocator */
    free(s);
    return copy;
}

static int parse_openai(json_t *root, double header_cost, const char *key, struct llm_reply *out,
                        struct error *err)
{
    json_t *choices = json_object_get(root, "choices");
    json_t *msg = json_object_get(json_array_get(choices, 0), "message");
    if (!json_is_object(msg)) {
        struct buf why = BUF_INIT;
        json_t *e = json_object_get(root, "error");
        if (e) {
            struct buf tmp = BUF_INIT;
            buf_add_json(&tmp, root);
            buf_adds(&why, "an error: ");
            provider_message(&tmp, key, &why);
            buf_release(&tmp);
        } else if (!json_is_array(choices)) {
            buf_adds(&why, "the JSON has no \"choices\" array");
        } else if (json_array_size(choices) == 0) {
            buf_adds(&why, "\"choices\" is empty");
        } else {
            buf_adds(&why, "choices[0] has no \"message\" object");
        }
        int rc = fail(err, ERR_BAD_REQUEST, key, NOT_A_COMPLETION "%s", why.data);
        buf_release(&why);
        return rc;
    }

    json_t *content = json_object_get(msg, "content");
    struct buf text = BUF_INIT;
    add_content_text(&text, content);
    out->content = text.len ? buf_detach(&text, NULL) : NULL;
    buf_release(&text);

    json_t *calls = json_object_get(msg, "tool_calls");
    json_t *legacy = json_object_get(msg, "function_call");
    if (json_is_array(calls) && json_array_size(calls) > 0) {
        reply_set_calls(out, json_array_size(calls));
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c)
        {
            json_t *fn = json_object_get(c, "function");
            const char *name = json_get_str(fn, "name");
            if (!name) {
                return fail(err, ERR_BAD_REQUEST, key,
                            NOT_A_COMPLETION "tool_calls[%zu] has no function name", i);
            }
            struct llm_tool_call *tc = &out->calls[out->ncalls++];
            const char *id = json_get_str(c, "id");
            if (id && *id) {
                tc->id = xstrdup(id);
            } else {
                struct buf gen = BUF_INIT;
                buf_addf(&gen, "call_%zu", i + 1);
                tc->id = buf_detach(&gen, NULL);
            }
            tc->name = xstrdup(name);
            json_t *args = json_object_get(fn, "arguments");
            tc->arguments = json_is_string(args) ? xstrdup(json_string_value(args))
                                                 : dump_or_empty_object(args);
        }
    } else if (json_is_object(legacy) && json_get_str(legacy, "name")) {
        reply_set_calls(out, 1);
        struct llm_tool_call *tc = &out->calls[out->ncalls++];
        tc->id = xstrdup("call_1");
        tc->name = xstrdup(json_get_str(legacy, "name"));
        json_t *args = json_object_get(legacy, "arguments");
        tc->arguments =
            json_is_string(args) ? xstrdup(json_string_value(args)) : dump_or_empty_object(args);
    }

    json_t *usage = json_object_get(root, "usage");
    out->prompt_tokens = int_field(usage, "prompt_tokens");
    out->completion_tokens = int_field(usage, "completion_tokens");
    json_t *cost = json_object_get(usage, "cost");
    if (!json_is_number(cost)) cost = json_object_get(usage, "total_cost");
    if (!json_is_number(cost)) cost = json_object_get(root, "cost");
    out->cost_usd = json_is_number(cost) ? json_number_value(cost) : header_cost;
    out->response_id = xstrdup_or_null(json_get_str(root, "id"));
    return 0;
}

static int parse_anthropic(json_t *root, double header_cost, const char *key, struct llm_reply *out,
                           struct error *err)
{
    json_t *blocks = json_object_get(root, "content");
    if (!json_is_array(blocks)) {
        struct buf why = BUF_INIT;
        if (json_object_get(root, "error")) {
            struct buf tmp = BUF_INIT;
            buf_add_json(&tmp, root);
            buf_adds(&why, "an error: ");
            provider_message(&tmp, key, &why);
            buf_release(&tmp);
        } else {
            buf_adds(&why, "the JSON has no \"content\" array");
        }
        int rc = fail(err, ERR_BAD_REQUEST, key, NOT_A_COMPLETION "%s", why.data);
        buf_release(&why);
        return rc;
    }
    struct buf text = BUF_INIT;
    size_t i, ncalls = 0;
    json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_get_str(b, "type");
        if (type && strcmp(type, "tool_use") == 0) ncalls++;
    }
    reply_set_calls(out, ncalls);
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_get_str(b, "type");
        if (!type) continue;
        if (strcmp(type, "text") == 0) {
            const char *t = json_get_str(b, "text");
            if (t) buf_adds(&text, t);
        } else if (strcmp(type, "tool_use") == 0) {
            const char *name = json_get_str(b, "name");
            if (!name) {
                buf_release(&text);
                return fail(err, ERR_BAD_REQUEST, key,
                            NOT_A_COMPLETION "content[%zu] (tool_use) has no name", i);
            }
            struct llm_tool_call *tc = &out->calls[out->ncalls++];
            const char *id = json_get_str(b, "id");
            if (id && *id) {
                tc->id = xstrdup(id);
            } else {
                struct buf gen = BUF_INIT;
                buf_addf(&gen, "toolu_%zu", out->ncalls);
                tc->id = buf_detach(&gen, NULL);
            }
            tc->name = xstrdup(name);
            tc->arguments = dump_or_empty_object(json_object_get(b, "input"));
        }
    }
    out->content = text.len ? buf_detach(&text, NULL) : NULL;
    buf_release(&text);

    json_t *usage = json_object_get(root, "usage");
    out->prompt_tokens = int_field(usage, "input_tokens") +
                         int_field(usage, "cache_creation_input_tokens") +
                         int_field(usage, "cache_read_input_tokens");
    out->completion_tokens = int_field(usage, "output_tokens");
    json_t *cost = json_object_get(usage, "cost");
    out->cost_usd = json_is_number(cost) ? json_number_value(cost) : header_cost;
    out->response_id = xstrdup_or_null(json_get_str(root, "id"));
    return 0;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static bool status_retryable(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504 || status == 529;
}

/* Transport failures worth another try: everything but a bad URL/option or our own abort. */
static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
        return false;
    default:
        return true;
    }
}

static long backoff_ms(const struct settings *s, int attempt)
{
    long base = s->min_ms;
    for (int i = 0; i < attempt && base < s->max_ms; i++) base *= 2;
    if (base > s->max_ms) base = s->max_ms;
    long half = base / 2;
    return half + (long)(jitter_next() % (uint64_t)(base - half + 1));
}

/* The request's headers into h[] (NULL-terminated); the line with the key is malloc'd in *key_line,
 * wiped and freed by the caller. */
static void request_headers(const struct settings *s, const char *h[5], char **key_line)
{
    size_t n = 0;
    struct buf line = BUF_INIT;
    h[n++] = "Accept: application/json";
    if (s->anthropic) {
        h[n++] = "anthropic-version: " ANTHROPIC_VERSION;
        if (s->key) buf_addf(&line, "x-api-key: %s", s->key);
    } else if (s->key) {
        buf_addf(&line, "Authorization: Bearer %s", s->key);
    }
    *key_line = line.len ? buf_detach(&line, NULL) : NULL;
    buf_release(&line);
    if (*key_line) h[n++] = *key_line;
    h[n] = NULL;
}

static int exchange_run(const struct settings *s, const char *body, struct llm_reply *out,
                        struct error *err)
{
    const char *headers[6];
    char *key_line;
    request_headers(s, headers + 1, &key_line);
    headers[0] = "Content-Type: application/json";
    struct http_client_request rq = {
        .method = "POST",
        .url = s->url,
        .headers = headers,
        .body = body,
        .timeout_s = s->timeout_s,
        .max_response = LLM_MAX_RESPONSE,
        .cancel = s->cancel,
        .capture = {"x-litellm-response-cost"}, /* LiteLLM's cost, when it proxies */
    };
    const char *provider = s->anthropic ? "anthropic" : "openai";
    struct buf last = BUF_INIT; /* what the last failed attempt got, for the final message */
    struct http_client_response x = {0};
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        struct error transport = {0};
        http_client_response_release(&x);
        http_client_request(&rq, &x, &transport);
        if (cancelled(s)) {
            rc = error_set(err, ERR_UNAVAILABLE, "the LLM call was cancelled");
            break;
        }
        long status = x.status;
        CURLcode cc = (CURLcode)x.curl_code;
        buf_reset(&last);
        if (transport.code == ERR_INTERNAL && !x.too_large) { /* could not even start */
            rc = error_set(err, ERR_INTERNAL, "%s", transport.message);
            break;
        }

        if (x.too_large) {
            rc =
                fail(err, ERR_BAD_REQUEST, s->key,
                     NOT_A_COMPLETION "the response is larger than %u MiB", LLM_MAX_RESPONSE >> 20);
            break;
        }
        if (cc != CURLE_OK) {
            const char *detail = x.transport_error;
            if (!curl_retryable(cc)) {
                rc = fail(err, ERR_INVALID, s->key, "cannot call the LLM at the configured URL: %s",
                          detail);
                break;
            }
            if (cc == CURLE_OPERATION_TIMEDOUT)
                buf_addf(&last, "no answer within %ld s (%s)", s->timeout_s, detail);
            else
                buf_addf(&last, "connection failed (%s)", detail);
        } else if (status >= 200 && status < 300) {
            double header_cost = 0;
            if (x.captured[0]) {
                char *end;
                double c = strtod(x.captured[0], &end);
                if (end != x.captured[0] && c >= 0) header_cost = c;
            }
            json_error_t jerr;
            json_t *root = json_loadb(x.body.data, x.body.len, 0, &jerr);
            if (!json_is_object(root)) {
                struct buf snippet = BUF_INIT;
                provider_message(&x.body, s->key, &snippet);
                rc = fail(err, ERR_BAD_REQUEST, s->key,
                          NOT_A_COMPLETION "HTTP %ld with a body that is not a JSON object (%s)",
                          status, x.body.len ? snippet.data : "empty");
                buf_release(&snippet);
                json_decref(root);
                break;
            }
            rc = s->anthropic ? parse_anthropic(root, header_cost, s->key, out, err)
                              : parse_openai(root, header_cost, s->key, out, err);
            json_decref(root);
            break;
        } else {
            struct buf msg = BUF_INIT;
            provider_message(&x.body, s->key, &msg);
            const char *sep = msg.len ? ": " : "";
            if (status == 401 || status == 403) {
                rc = fail(err, ERR_UNAUTHORIZED, s->key,
                          "the LLM provider refused the API key (HTTP %ld)%s%s", status, sep,
                          msg.data);
                buf_release(&msg);
                break;
            }
            if (!status_retryable(status)) {
                enum err_code code = status >= 500 ? ERR_UNAVAILABLE : ERR_INVALID;
                if (status >= 300 && status < 400)
                    rc = fail(err, ERR_INVALID, s->key,
                              "the LLM provider answered a redirect (HTTP %ld), which is not "
                              "followed: check the base URL",
                              status);
                else
                    rc =
                        fail(err, code, s->key, "the LLM provider %s the request (HTTP %ld)%s%s",
                             code == ERR_UNAVAILABLE ? "failed" : "refused", status, sep, msg.data);
                buf_release(&msg);
                break;
            }
            buf_addf(&last, "HTTP %ld%s%s", status, sep, msg.data);
            buf_release(&msg);
        }

        if (attempt >= s->max_retries) {
            rc = fail(err, ERR_UNAVAILABLE, s->key,
                      "the LLM provider is unavailable after %d attempt%s; last: %s", attempt + 1,
                      attempt ? "s" : "", last.data);
            if (err && x.retry_after_ms > 0) err->retry_after = (x.retry_after_ms + 999) / 1000;
            break;
        }
        long delay = x.retry_after_ms >= 0 ? x.retry_after_ms : backoff_ms(s, attempt);
        if (delay > s->max_ms) delay = s->max_ms;
        log_info("LLM call failed; retrying",
                 "provider=%s status=%ld curl=%d attempt=%d max_retries=%d delay_ms=%ld", provider,
                 status, (int)cc, attempt + 1, s->max_retries, delay);
        for (long slept = 0; slept < delay && !cancelled(s); slept += 50)
            sleep_ms(delay - slept < 50 ? delay - slept : 50);
    }
    buf_release(&last);
    http_client_response_release(&x);
    if (key_line) crypto_wipe(key_line, strlen(key_line));
    free(key_line);
    return rc;
}

/* ---- the interface ------------------------------------------------------------------------ */

int llm_complete(const struct llm_config *cfg, json_t *messages, json_t *tools,
                 struct llm_reply *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(messages))
        return error_set(err, ERR_INVALID, "the LLM messages must be a JSON array");
    if (tools && !json_is_array(tools) && !json_is_null(tools))
        return error_set(err, ERR_INVALID, "the LLM tools must be a JSON array");
    if (json_is_null(tools)) tools = NULL;

    struct settings s;
    int rc = settings_load(cfg, &s, err);
    if (rc) return rc;
    struct buf text = BUF_INIT;
    if (s.anthropic) {
        json_t *body = anthropic_body(&s, messages, tools);
        rc = add_json(&text, body);
        json_decref(body);
    } else {
        rc = openai_body(&s, messages, tools, &text);
    }
    if (rc) {
        buf_release(&text);
        free(s.url);
        return error_set(err, ERR_INVALID, "the conversation cannot be serialised as JSON");
    }
    rc = exchange_run(&s, text.data, out, err);
    buf_release(&text);
    free(s.url);
    if (rc) llm_reply_free(out);
    return rc;
}

void llm_reply_free(struct llm_reply *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->ncalls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
    free(r->calls);
    free(r->content);
    free(r->response_id);
    memset(r, 0, sizeof(*r));
}
