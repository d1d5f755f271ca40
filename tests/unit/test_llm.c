/*
 * test_llm: the LLM client (agent/llm.h) against tests/fixtures/scripted_llm.py, a scripted
 * server speaking the real OpenAI and Anthropic wire protocols. The fixture is found through
 * CLOUDHANDS_SOURCE_DIR, else by walking up from the working directory; the interpreter is
 * $PYTHON, else /usr/bin/python3. One server (requiring a key, recording to a file) serves
 * every test: each test loads its script with POST /_script and reads back what the client
 * sent with GET /_requests. Covers replies (text, tool calls, usage, cost), the request
 * shapes of both protocols (including the OpenAI → Anthropic conversion), retries (429 with
 * Retry-After, 5xx until exhausted, timeouts, refused connections), the error codes, the API
 * key never appearing in a message or a log line, and concurrent callers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/llm.h"
#include "util/buf.h"

extern char **environ;

#define KEY       "sk-test-SECRET-key-0123456789"
#define WRONG_KEY "sk-wrong-OTHER-key-9876543210"

static pid_t server_pid;
static int server_port;
static int server_stdin = -1; /* closing it makes the fixture exit (--exit-on-stdin-eof) */
static char script_path[64];
static char record_path[64];
static int model_requests; /* how many model requests the tests made, for the record file */

/* ---- fixture process ---- */

static int find_fixture(char out[PATH_MAX])
{
    const char *rel = "tests/fixtures/scripted_llm.py";
    const char *env = getenv("CLOUDHANDS_SOURCE_DIR");
    if (env && *env) {
        snprintf(out, PATH_MAX, "%s/%s", env, rel);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char dir[PATH_MAX - 64]; /* leaves room for rel */
    if (!getcwd(dir, sizeof(dir))) return -1;
    for (;;) {
        snprintf(out, PATH_MAX, "%.4000s/%s", dir, rel);
        if (access(out, R_OK) == 0) return 0;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return -1;
        *slash = '\0';
    }
}

static const char *python(void)
{
    const char *env = getenv("PYTHON");
    if (env && *env) return env;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static int start_server(void **state)
{
    char fixture[PATH_MAX];
    if (find_fixture(fixture) != 0) {
        fprintf(stderr, "test_llm: cannot find tests/fixtures/scripted_llm.py; set "
                        "CLOUDHANDS_SOURCE_DIR\n");
        return -1;
    }
    strcpy(script_path, "/tmp/test_llm_script_XXXXXX");
    strcpy(record_path, "/tmp/test_llm_record_XXXXXX");
    int sfd = mkstemp(script_path), rfd = mkstemp(record_path);
    if (sfd < 0 || rfd < 0) return -1;
    const char *initial = "{\"responses\": [{\"content\": \"from the --script file\"}]}";
    if (write(sfd, initial, strlen(initial)) != (ssize_t)strlen(initial)) return -1;
    close(sfd);
    close(rfd);

    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    char *argv[] = {(char *)python(),
                    fixture,
                    "--port",
                    "0",
                    "--script",
                    script_path,
                    "--record",
                    record_path,
                    "--require-key",
                    KEY,
                    "--exit-on-stdin-eof",
                    NULL};
    int rc = posix_spawnp(&server_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    if (rc != 0) {
        fprintf(stderr, "test_llm: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    server_stdin = in[1];

    /* The first stdout line is "PORT <n>". */
    char line[64];
    size_t len = 0;
    while (len < sizeof(line) - 1) {
        struct pollfd p = {out[0], POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) break;
        ssize_t n = read(out[0], line + len, 1);
        if (n <= 0) break;
        if (line[len] == '\n') break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &server_port) != 1 || server_port <= 0) {
        fprintf(stderr, "test_llm: the fixture did not print its port (got \"%s\")\n", line);
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int stop_server(void **state)
{
    if (server_stdin >= 0) close(server_stdin);
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    unlink(script_path);
    unlink(record_path);
    curl_global_cleanup();
    return 0;
}

/* ---- talking to the fixture's control endpoints ---- */

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    buf_add(ud, data, size * n);
    return size * n;
}

/* GET (body NULL) or POST a control endpoint; returns the parsed JSON answer. */
static json_t *control(const char *path, const char *body)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
    struct buf resp = BUF_INIT;
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK || status != 200)
        fail_msg("%s %s: curl %d, HTTP %ld: %s", body ? "POST" : "GET", path, cc, status,
                 resp.data);
    json_t *v = json_loads(resp.data, 0, NULL);
    if (!v) fail_msg("%s answered non-JSON: %s", path, resp.data);
    buf_release(&resp);
    return v;
}

static void load_script(const char *script)
{
    json_decref(control("/_script", script));
}

/* The model requests the fixture recorded since the script was loaded. */
static json_t *recorded(void)
{
    json_t *list = control("/_requests", NULL);
    assert_true(json_is_array(list));
    return list;
}

static json_t *rec_body(json_t *rec)
{
    return json_object_get(rec, "body");
}

static const char *rec_header(json_t *rec, const char *lower_name)
{
    return json_string_value(json_object_get(json_object_get(rec, "headers"), lower_name));
}

static void assert_json_equal(json_t *got, const char *expected_text)
{
    json_error_t jerr;
    json_t *expected = json_loads(expected_text, 0, &jerr);
    if (!expected) fail_msg("bad expected JSON in the test: %s", jerr.text);
    if (!json_equal(got, expected)) {
        char *g = json_dumps(got, JSON_INDENT(1) | JSON_ENCODE_ANY);
        fail_msg("JSON differs.\nexpected: %s\ngot: %s", expected_text, g ? g : "(null)");
    }
    json_decref(expected);
}

/* ---- client helpers ---- */

static struct llm_config config(void)
{
    static _Thread_local char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", server_port);
    struct llm_config c = {
        .model = "gpt-test",
        .base_url = url,
        .api_key = KEY,
        .timeout_s = 10,
        .max_retries = 3,
        .retry_min_ms = 1,
        .retry_max_ms = 20,
    };
    return c;
}

static json_t *json_or_die(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v) fail_msg("bad JSON in the test: %s", jerr.text);
    return v;
}

static json_t *simple_messages(void)
{
    return json_or_die("[{\"role\": \"system\", \"content\": \"You are a careful agent.\"},"
                       " {\"role\": \"user\", \"content\": \"Say hello.\"}]");
}

static int call(const struct llm_config *c, json_t *messages, json_t *tools,
                struct llm_reply *reply, struct error *err)
{
    memset(err, 0, sizeof(*err));
    model_requests++;
    return llm_complete(c, messages, tools, reply, err);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Redirects stderr (where log lines go) into a file until capture_end, which returns what
 * was written (and echoes it, so nothing is hidden from the test output). */
static int saved_stderr = -1;
static char capture_path[64];

static void capture_begin(void)
{
    fflush(stderr);
    strcpy(capture_path, "/tmp/test_llm_stderr_XXXXXX");
    int fd = mkstemp(capture_path);
    assert_true(fd >= 0);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    saved_stderr = -1;
    struct buf text = BUF_INIT;
    FILE *f = fopen(capture_path, "r");
    assert_non_null(f);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) buf_add(&text, chunk, n);
    fclose(f);
    unlink(capture_path);
    fputs(text.data, stderr);
    return buf_detach(&text, NULL);
}

static void assert_no_key(const char *text)
{
    if (strstr(text, KEY)) fail_msg("the API key leaked into: %s", text);
    if (strstr(text, WRONG_KEY)) fail_msg("the (wrong) API key leaked into: %s", text);
}

/* ---- OpenAI protocol ---- */

static void test_openai_text_reply(void **state)
{
    load_script("{\"responses\": [{\"content\": \"Hello there.\","
                " \"usage\": {\"prompt_tokens\": 7, \"completion_tokens\": 3}}]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    int rc = call(&c, messages, NULL, &r, &err);
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "Hello there.");
    assert_int_equal(r.ncalls, 0);
    assert_null(r.calls);
    assert_int_equal(r.prompt_tokens, 7);
    assert_int_equal(r.completion_tokens, 3);
    assert_true(r.cost_usd == 0.0);
    assert_string_equal(r.response_id, "chatcmpl-scripted-1");
    llm_reply_free(&r);
    assert_null(r.content);

    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(req, "path")), "/v1/chat/completions");
    assert_string_equal(rec_header(req, "authorization"), "Bearer " KEY);
    assert_string_equal(rec_header(req, "content-type"), "application/json");
    assert_null(rec_header(req, "x-api-key"));
    json_t *body = rec_body(req);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "gpt-test");
    assert_true(json_equal(json_object_get(body, "messages"), messages));
    /* no tools: neither "tools" nor "tool_choice" (OpenAI refuses tool_choice alone) */
    assert_null(json_object_get(body, "tools"));
    assert_null(json_object_get(body, "tool_choice"));
    assert_int_equal(json_object_size(body), 2);
    json_decref(reqs);
    json_decref(messages);
}

static const char *TOOLS =
    "[{\"type\": \"function\", \"function\": {\"name\": \"bash\", \"description\": \"Run a "
    "command\", \"parameters\": {\"type\": \"object\", \"properties\": {\"command\": {\"type\": "
    "\"string\"}}, \"required\": [\"command\"]}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"str_replace_editor\", \"description\": "
    "\"Edit files\", \"parameters\": {\"type\": \"object\", \"properties\": {\"path\": {\"type\": "
    "\"string\"}}}}}]";

static void test_openai_tool_calls(void **state)
{
    load_script("{\"responses\": [{\"content\": \"Let me look.\", \"cost\": 0.0125, \"tool_calls\":"
                " [{\"name\": \"bash\", \"arguments\": {\"command\": \"ls -la\"}},"
                "  {\"name\": \"str_replace_editor\", \"arguments\": \"{not json\"}]}]}");
    struct llm_config c = config();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", server_port); /* trailing slash */
    c.base_url = url;
    c.model = "openai/gpt-test"; /* LiteLLM-style prefix, stripped */
    json_t *messages = simple_messages();
    json_t *tools = json_or_die(TOOLS);
    struct llm_reply r;
    struct error err;
    int rc = call(&c, messages, tools, &r, &err);
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "Let me look.");
    assert_int_equal(r.ncalls, 2);
    assert_string_equal(r.calls[0].id, "call_1");
    assert_string_equal(r.calls[0].name, "bash");
    json_t *args = json_loads(r.calls[0].arguments, 0, NULL);
    assert_non_null(args);
    assert_json_equal(args, "{\"command\": \"ls -la\"}");
    json_decref(args);
    assert_string_equal(r.calls[1].id, "call_2");
    assert_string_equal(r.calls[1].name, "str_replace_editor");
    assert_string_equal(r.calls[1].arguments, "{not json"); /* verbatim, even when invalid */
    assert_int_equal(r.prompt_tokens, 100);                 /* the fixture's default usage */
    assert_int_equal(r.completion_tokens, 20);
    assert_true(r.cost_usd > 0.0124 && r.cost_usd < 0.0126);
    llm_reply_free(&r);

    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(req, "path")), "/chat/completions");
    json_t *body = rec_body(req);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "gpt-test");
    assert_true(json_equal(json_object_get(body, "tools"), tools));
    assert_string_equal(json_string_value(json_object_get(body, "tool_choice")), "auto");
    json_decref(reqs);
    json_decref(tools);
    json_decref(messages);
}

/* The caller sums usage over a conversation; each reply must carry its own call's counts. */
static void test_usage_per_call_sums(void **state)
{
    load_script(
        "{\"responses\": ["
        " {\"content\": \"a\", \"usage\": {\"prompt_tokens\": 11, \"completion_tokens\": 1}},"
        " {\"content\": \"b\", \"usage\": {\"prompt_tokens\": 22, \"completion_tokens\": 2}},"
        " {\"content\": \"c\", \"usage\": {\"prompt_tokens\": 33, \"completion_tokens\": 3}}"
        "]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    int64_t prompt = 0, completion = 0;
    for (int i = 0; i < 3; i++) {
        struct llm_reply r;
        struct error err;
        if (call(&c, messages, NULL, &r, &err)) fail_msg("llm_complete: %s", err.message);
        prompt += r.prompt_tokens;
        completion += r.completion_tokens;
        llm_reply_free(&r);
    }
    assert_int_equal(prompt, 66);
    assert_int_equal(completion, 6);
    json_decref(messages);
}

/* A shape another server might send: no choices, an empty list, an error with a 200. */
static void test_not_a_completion(void **state)
{
    const char *scripts[] = {
        "{\"responses\": [{\"raw\": \"not json at all\"}]}",
        "{\"responses\": [{\"raw\": \"\"}]}",
        "{\"responses\": [{\"status\": 200, \"body\": {\"object\": \"list\", \"data\": []}}]}",
        "{\"responses\": [{\"status\": 200, \"body\": {\"choices\": []}}]}",
        "{\"responses\": [{\"status\": 200, \"body\": {\"choices\": [{\"index\": 0}]}}]}",
        "{\"responses\": [{\"status\": 200, \"body\": [1, 2]}]}",
        "{\"responses\": [{\"status\": 200, \"body\": {\"error\": {\"message\": \"upstream "
        "down\"}}}]}",
    };
    const char *expect[] = {"not json at all",      "empty",          "no \"choices\"",
                            "\"choices\" is empty", "no \"message\"", "not a JSON object",
                            "upstream down"};
    struct llm_config c = config();
    json_t *messages = simple_messages();
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        load_script(scripts[i]);
        struct llm_reply r;
        struct error err;
        int rc = call(&c, messages, NULL, &r, &err);
        assert_int_equal(rc, ERR_BAD_REQUEST);
        assert_int_equal(err.code, ERR_BAD_REQUEST);
        if (!strstr(err.message, "not a chat completion") || !strstr(err.message, expect[i]))
            fail_msg("script %zu: unexpected message: %s", i, err.message);
        assert_null(r.content); /* the reply is left empty on failure */
        assert_int_equal(r.ncalls, 0);
        json_t *reqs = recorded();
        assert_int_equal(json_array_size(reqs), 1); /* no retry */
        json_decref(reqs);
    }
    json_decref(messages);
}

static void test_response_too_large(void **state)
{
    load_script("{\"responses\": [{\"raw\": \"x\", \"repeat\": 17000000}]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_BAD_REQUEST);
    assert_non_null(strstr(err.message, "larger than 16 MiB"));
    json_decref(messages);
}

/* ---- retries ---- */

static void test_429_retry_after_then_success(void **state)
{
    load_script("{\"responses\": [{\"status\": 429, \"headers\": {\"Retry-After\": \"1\"}},"
                " {\"content\": \"after the wait\"}]}");
    struct llm_config c = config();
    c.retry_max_ms = 400; /* Retry-After (1 s) is honoured, but capped at this */
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    long long t0 = now_ms();
    int rc = call(&c, messages, NULL, &r, &err);
    long long elapsed = now_ms() - t0;
    char *log = capture_end();
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "after the wait");
    if (elapsed < 350 || elapsed > 950)
        fail_msg("waited %lld ms; expected Retry-After capped at 400 ms", elapsed);
    assert_non_null(strstr(log, "retrying"));
    assert_non_null(strstr(log, "status=429"));
    assert_no_key(log);
    free(log);
    llm_reply_free(&r);

    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 429);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")), 200);
    json_decref(reqs);
    json_decref(messages);
}

static void test_5xx_until_retries_run_out(void **state)
{
    load_script("{\"responses\": [{\"status\": 500}, {\"status\": 502}, {\"status\": 529},"
                " {\"status\": 503, \"body\": {\"error\": {\"message\": \"overloaded, try "
                "later\"}}}, {\"content\": \"too late\"}]}");
    struct llm_config c = config(); /* max_retries 3: four attempts */
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    int rc = call(&c, messages, NULL, &r, &err);
    char *log = capture_end();
    assert_int_equal(rc, ERR_UNAVAILABLE);
    assert_int_equal(err.code, ERR_UNAVAILABLE);
    if (!strstr(err.message, "4 attempts") || !strstr(err.message, "HTTP 503") ||
        !strstr(err.message, "overloaded, try later"))
        fail_msg("unexpected message: %s", err.message);
    assert_no_key(err.message);
    assert_no_key(log);
    free(log);
    json_t *st = control("/_status", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "served")), 4);
    assert_int_equal(json_integer_value(json_object_get(st, "remaining")), 1);
    json_decref(st);
    json_decref(messages);
}

/* An exhausted script answers a 500 that says so; the client retries, then gives up with it. */
static void test_exhausted_script(void **state)
{
    load_script("{\"responses\": []}");
    struct llm_config c = config();
    c.max_retries = 1;
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    int rc = call(&c, messages, NULL, &r, &err);
    free(capture_end());
    assert_int_equal(rc, ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, "2 attempts"));
    assert_non_null(strstr(err.message, "script is exhausted"));
    json_decref(messages);
}

static void test_timeout_is_retried(void **state)
{
    load_script("{\"responses\": [{\"delay\": 1.6, \"content\": \"late\"},"
                " {\"content\": \"on time\"}]}");
    struct llm_config c = config();
    c.timeout_s = 1;
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    long long t0 = now_ms();
    int rc = call(&c, messages, NULL, &r, &err);
    long long elapsed = now_ms() - t0;
    free(capture_end());
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "on time");
    assert_true(elapsed >= 900);
    llm_reply_free(&r);
    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 2);
    json_decref(reqs);
    json_decref(messages);
}

static void test_dropped_connection_is_retried(void **state)
{
    load_script("{\"responses\": [{\"disconnect\": true}, {\"content\": \"second try\"}]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    int rc = call(&c, messages, NULL, &r, &err);
    free(capture_end());
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "second try");
    llm_reply_free(&r);
    json_decref(messages);
}

static void test_connection_refused(void **state)
{
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", ntohs(sa.sin_port));

    struct llm_config c = config();
    c.base_url = url;
    c.max_retries = 2;
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    long long t0 = now_ms();
    int rc = call(&c, messages, NULL, &r, &err);
    long long elapsed = now_ms() - t0;
    char *log = capture_end();
    model_requests--; /* never reached the fixture */
    assert_int_equal(rc, ERR_UNAVAILABLE);
    if (!strstr(err.message, "3 attempts") || !strstr(err.message, "connection failed"))
        fail_msg("unexpected message: %s", err.message);
    assert_true(elapsed < 2000);
    assert_no_key(err.message);
    assert_no_key(log);
    free(log);
    json_decref(messages);
}

/* ---- refusals ---- */

static void test_401_is_not_retried(void **state)
{
    load_script("{\"responses\": [{\"content\": \"never served\"}]}");
    struct llm_config c = config();
    c.api_key = WRONG_KEY;
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    capture_begin();
    int rc = call(&c, messages, NULL, &r, &err);
    char *log = capture_end();
    assert_int_equal(rc, ERR_UNAUTHORIZED);
    assert_int_equal(err.code, ERR_UNAUTHORIZED);
    if (!strstr(err.message, "refused the API key (HTTP 401)") ||
        !strstr(err.message, "Incorrect API key provided"))
        fail_msg("unexpected message: %s", err.message);
    assert_no_key(err.message);
    assert_no_key(log);
    free(log);
    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 1); /* no retry */
    json_decref(reqs);
    json_decref(messages);
}

/* A provider that echoes the key back in its message: the client redacts it. */
static void test_echoed_key_is_redacted(void **state)
{
    load_script("{\"responses\": [{\"status\": 403, \"body\": {\"error\": {\"message\": \"key "
                "" KEY " is revoked\"}}},"
                " {\"status\": 400, \"body\": {\"error\": {\"message\": \"bad request for " KEY
                "\"}}}]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_UNAUTHORIZED);
    assert_no_key(err.message);
    if (!strstr(err.message, "HTTP 403") || !strstr(err.message, "key [redacted] is revoked"))
        fail_msg("unexpected message: %s", err.message);
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_INVALID);
    assert_no_key(err.message);
    assert_non_null(strstr(err.message, "[redacted]"));
    json_decref(messages);
}

static void test_4xx_is_invalid(void **state)
{
    load_script("{\"responses\": [{\"status\": 400, \"body\": {\"error\": {\"message\": "
                "\"This model's maximum context length is 8192 tokens\", \"type\": "
                "\"invalid_request_error\", \"code\": \"context_length_exceeded\"}}},"
                " {\"status\": 404, \"body\": \"<html>no such model</html>\"}]}");
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_INVALID);
    if (!strstr(err.message, "HTTP 400") || !strstr(err.message, "maximum context length"))
        fail_msg("unexpected message: %s", err.message);
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_INVALID);
    if (!strstr(err.message, "HTTP 404") || !strstr(err.message, "no such model"))
        fail_msg("unexpected message: %s", err.message);
    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 2); /* one each: no retries */
    json_decref(reqs);
    json_decref(messages);
}

/* Without a key no Authorization header is sent (local servers); this fixture wants one. */
static void test_no_key_sends_no_header(void **state)
{
    load_script("{\"responses\": [{\"content\": \"never served\"}]}");
    struct llm_config c = config();
    c.api_key = NULL;
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "didn't provide an API key"));
    json_t *reqs = recorded();
    assert_null(rec_header(json_array_get(reqs, 0), "authorization"));
    json_decref(reqs);
    json_decref(messages);
}

static void test_bad_arguments(void **state)
{
    struct llm_config c = config();
    struct llm_reply r;
    struct error err = {0};
    json_t *notarray = json_object();
    assert_int_equal(llm_complete(&c, notarray, NULL, &r, &err), ERR_INVALID);
    json_t *messages = simple_messages();
    c.model = NULL;
    assert_int_equal(llm_complete(&c, messages, NULL, &r, &err), ERR_INVALID);
    c.model = "gpt-test";
    c.api_key = "bad\r\nX-Injected: 1";
    assert_int_equal(llm_complete(&c, messages, NULL, &r, &err), ERR_INVALID);
    assert_null(strstr(err.message, "Injected"));
    json_decref(messages);
    json_decref(notarray);
}

/* ---- Anthropic protocol ---- */

static void test_is_anthropic(void **state)
{
    struct llm_config a = {.model = "anthropic/claude-x", .base_url = "http://localhost:1"};
    struct llm_config b = {.model = "claude-x", .base_url = "https://api.anthropic.com"};
    struct llm_config o = {.model = "gpt-4o", .base_url = "https://api.openai.com/v1"};
    struct llm_config l = {.model = "openai/claude-x", .base_url = "http://litellm:4000"};
    assert_true(llm_is_anthropic(&a));
    assert_true(llm_is_anthropic(&b));
    assert_false(llm_is_anthropic(&o));
    assert_false(llm_is_anthropic(&l));
    assert_false(llm_is_anthropic(NULL));
}

static const char *CONVERSATION =
    "[{\"role\": \"system\", \"content\": \"You are helpful.\"},"
    " {\"role\": \"user\", \"content\": \"List the files, then show README.\"},"
    " {\"role\": \"assistant\", \"content\": \"Sure.\", \"tool_calls\": ["
    "   {\"id\": \"call_a\", \"type\": \"function\", \"function\": {\"name\": \"bash\","
    "    \"arguments\": \"{\\\"command\\\": \\\"ls\\\"}\"}},"
    "   {\"id\": \"call_b\", \"type\": \"function\", \"function\": {\"name\": "
    "\"str_replace_editor\", \"arguments\": \"{\\\"path\\\": \\\"/w/README\\\"}\"}}]},"
    " {\"role\": \"tool\", \"tool_call_id\": \"call_a\", \"content\": \"README\\na.txt\"},"
    " {\"role\": \"tool\", \"tool_call_id\": \"call_b\", \"content\": \"# Title\"}]";

static const char *CONVERTED =
    "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"List the files, then "
    "show README.\"}]},"
    " {\"role\": \"assistant\", \"content\": [{\"type\": \"text\", \"text\": \"Sure.\"},"
    "   {\"type\": \"tool_use\", \"id\": \"call_a\", \"name\": \"bash\", \"input\": "
    "{\"command\": \"ls\"}},"
    "   {\"type\": \"tool_use\", \"id\": \"call_b\", \"name\": \"str_replace_editor\", "
    "\"input\": {\"path\": \"/w/README\"}}]},"
    " {\"role\": \"user\", \"content\": ["
    "   {\"type\": \"tool_result\", \"tool_use_id\": \"call_a\", \"content\": \"README\\na.txt\"},"
    "   {\"type\": \"tool_result\", \"tool_use_id\": \"call_b\", \"content\": \"# Title\"}]}]";

static const char *CONVERTED_TOOLS =
    "[{\"name\": \"bash\", \"description\": \"Run a command\", \"input_schema\": {\"type\": "
    "\"object\", \"properties\": {\"command\": {\"type\": \"string\"}}, \"required\": "
    "[\"command\"]}},"
    " {\"name\": \"str_replace_editor\", \"description\": \"Edit files\", \"input_schema\": "
    "{\"type\": \"object\", \"properties\": {\"path\": {\"type\": \"string\"}}}}]";

static void test_anthropic_tool_use(void **state)
{
    load_script("{\"responses\": [{\"status\": 529},"
                " {\"content\": \"Counting.\", \"tool_calls\": [{\"name\": \"bash\", "
                "\"arguments\": {\"command\": \"wc -l a.txt\"}}],"
                " \"usage\": {\"prompt_tokens\": 50, \"completion_tokens\": 9}}]}");
    struct llm_config c = config();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
    c.base_url = url;
    c.model = "anthropic/claude-x";
    json_t *messages = json_or_die(CONVERSATION);
    json_t *tools = json_or_die(TOOLS);
    struct llm_reply r;
    struct error err;
    capture_begin();
    int rc = call(&c, messages, tools, &r, &err);
    free(capture_end());
    if (rc) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "Counting.");
    assert_int_equal(r.ncalls, 1);
    assert_string_equal(r.calls[0].id, "toolu_1");
    assert_string_equal(r.calls[0].name, "bash");
    json_t *args = json_loads(r.calls[0].arguments, 0, NULL);
    assert_json_equal(args, "{\"command\": \"wc -l a.txt\"}");
    json_decref(args);
    assert_int_equal(r.prompt_tokens, 50);
    assert_int_equal(r.completion_tokens, 9);
    assert_string_equal(r.response_id, "msg_scripted_1");
    llm_reply_free(&r);

    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), 2); /* the 529 was retried */
    json_t *req = json_array_get(reqs, 1);
    assert_string_equal(json_string_value(json_object_get(req, "path")), "/v1/messages");
    assert_true(json_is_null(json_object_get(req, "rejected"))); /* the fixture's checks passed */
    assert_string_equal(rec_header(req, "x-api-key"), KEY);
    assert_string_equal(rec_header(req, "anthropic-version"), "2023-06-01");
    assert_null(rec_header(req, "authorization"));
    json_t *body = rec_body(req);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "claude-x");
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 8192);
    assert_string_equal(json_string_value(json_object_get(body, "system")), "You are helpful.");
    assert_json_equal(json_object_get(body, "messages"), CONVERTED);
    assert_json_equal(json_object_get(body, "tools"), CONVERTED_TOOLS);
    assert_json_equal(json_object_get(body, "tool_choice"), "{\"type\": \"auto\"}");
    json_decref(reqs);
    json_decref(tools);
    json_decref(messages);
}

/* base_url ending in /v1 gets /messages, not /v1/v1/messages; a text-only reply; Anthropic
 * errors (401 with its own error shape) map like OpenAI's. */
static void test_anthropic_v1_base_and_errors(void **state)
{
    load_script("{\"responses\": [{\"content\": \"Plain answer.\"}]}");
    struct llm_config c = config();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", server_port);
    c.base_url = url;
    c.model = "anthropic/claude-y";
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    if (call(&c, messages, NULL, &r, &err)) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "Plain answer.");
    assert_int_equal(r.ncalls, 0);
    llm_reply_free(&r);
    json_t *reqs = recorded();
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(json_string_value(json_object_get(req, "path")), "/v1/messages");
    assert_null(json_object_get(rec_body(req), "tools"));
    assert_null(json_object_get(rec_body(req), "tool_choice"));
    json_decref(reqs);

    c.api_key = WRONG_KEY;
    assert_int_equal(call(&c, messages, NULL, &r, &err), ERR_UNAUTHORIZED);
    assert_non_null(strstr(err.message, "invalid x-api-key"));
    assert_no_key(err.message);
    json_decref(messages);
}

/* Ids Anthropic would refuse are mapped (the same way on both sides), invalid arguments become
 * an empty input, image parts become image blocks, tool-result parts become text, and a user
 * message right after tool results joins their user message. */
static void test_anthropic_conversion_edges(void **state)
{
    load_script("{\"responses\": [{\"content\": \"done\"}]}");
    struct llm_config c = config();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
    c.base_url = url;
    c.model = "anthropic/claude-x";
    json_t *messages = json_or_die(
        "[{\"role\": \"system\", \"content\": \"one\"}, {\"role\": \"system\", \"content\": "
        "[{\"type\": \"text\", \"text\": \"two\"}]},"
        " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"look\"},"
        "   {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,iVBO\"}}]},"
        " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"fc.1:x\", "
        "\"type\": \"function\", \"function\": {\"name\": \"bash\", \"arguments\": \"{oops\"}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"fc.1:x\", \"content\": [{\"type\": \"text\", "
        "\"text\": \"ok\"}]},"
        " {\"role\": \"user\", \"content\": \"next\"}]");
    struct llm_reply r;
    struct error err;
    if (call(&c, messages, NULL, &r, &err)) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "done");
    llm_reply_free(&r);
    json_t *reqs = recorded();
    json_t *body = rec_body(json_array_get(reqs, 0));
    assert_string_equal(json_string_value(json_object_get(body, "system")), "one\n\ntwo");
    assert_json_equal(
        json_object_get(body, "messages"),
        "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"look\"},"
        "   {\"type\": \"image\", \"source\": {\"type\": \"base64\", \"media_type\": "
        "\"image/png\", \"data\": \"iVBO\"}}]},"
        " {\"role\": \"assistant\", \"content\": [{\"type\": \"tool_use\", \"id\": \"fc_1_x\", "
        "\"name\": \"bash\", \"input\": {}}]},"
        " {\"role\": \"user\", \"content\": [{\"type\": \"tool_result\", \"tool_use_id\": "
        "\"fc_1_x\", \"content\": \"ok\"}, {\"type\": \"text\", \"text\": \"next\"}]}]");
    json_decref(reqs);
    json_decref(messages);
}

/* The fixture refuses what the real APIs refuse, so a client (or agent) bug shows up in tests:
 * a tool result without its call, a call without its result. */
static void test_fixture_refuses_broken_histories(void **state)
{
    load_script("{\"responses\": [{\"content\": \"never served\"}]}");
    struct llm_config c = config();
    json_t *orphan = json_or_die("[{\"role\": \"user\", \"content\": \"hi\"},"
                                 " {\"role\": \"tool\", \"tool_call_id\": \"call_9\", "
                                 "\"content\": \"x\"}]");
    json_t *unanswered = json_or_die(
        "[{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": "
        "null, \"tool_calls\": [{\"id\": \"call_9\", \"type\": \"function\", \"function\": "
        "{\"name\": \"bash\", \"arguments\": \"{}\"}}]}]");
    struct llm_reply r;
    struct error err;
    assert_int_equal(call(&c, orphan, NULL, &r, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "must be a response to a preceding message"));
    assert_int_equal(call(&c, unanswered, NULL, &r, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "must be followed by tool messages"));

    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
    c.base_url = url;
    c.model = "anthropic/claude-x";
    assert_int_equal(call(&c, orphan, NULL, &r, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "unexpected `tool_use_id`"));
    assert_int_equal(call(&c, unanswered, NULL, &r, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "without `tool_result` blocks"));

    json_t *st = control("/_status", NULL);
    assert_int_equal(json_integer_value(json_object_get(st, "served")), 0); /* no step used */
    json_decref(st);
    json_decref(orphan);
    json_decref(unanswered);
}

/* ---- threads ---- */

#define NTHREADS 8

struct worker {
    int anthropic;
    json_t *tools; /* shared by every thread, as an agent's tool list would be */
    int rc;
    char content[64];
    char message[512];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct llm_config c = config();
    char url[64];
    if (w->anthropic) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_port);
        c.base_url = url;
        c.model = "anthropic/claude-x";
    }
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err = {0};
    w->rc = llm_complete(&c, messages, w->tools, &r, &err);
    if (w->rc == 0) snprintf(w->content, sizeof(w->content), "%s", r.content ? r.content : "");
    snprintf(w->message, sizeof(w->message), "%s", err.message);
    llm_reply_free(&r);
    json_decref(messages);
    return NULL;
}

/* Several runner threads at once, both protocols, one shared tools array. */
static void test_concurrent_callers(void **state)
{
    struct buf script = BUF_INIT;
    buf_adds(&script, "{\"responses\": [");
    for (int i = 0; i < NTHREADS; i++)
        buf_addf(&script, "%s{\"content\": \"reply %d\", \"delay\": 0.05}", i ? "," : "", i);
    buf_adds(&script, "]}");
    load_script(script.data);
    buf_release(&script);

    json_t *tools = json_or_die(TOOLS);
    pthread_t t[NTHREADS];
    struct worker w[NTHREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < NTHREADS; i++) {
        model_requests++;
        w[i].anthropic = i % 2;
        w[i].tools = tools;
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(tools->refcount, 1);
    json_decref(tools);
    int seen[NTHREADS] = {0};
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].rc) fail_msg("thread %d: %s", i, w[i].message);
        int n = -1;
        assert_int_equal(sscanf(w[i].content, "reply %d", &n), 1);
        assert_true(n >= 0 && n < NTHREADS);
        seen[n]++;
    }
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(seen[i], 1);
    json_t *reqs = recorded();
    assert_int_equal(json_array_size(reqs), NTHREADS);
    json_decref(reqs);
}

/* ---- the fixture itself ---- */

/* The first request of the run was answered from the --script file; this test only checks that
 * --record wrote one JSON line per model request, with what the client sent. */
static void test_record_file(void **state)
{
    FILE *f = fopen(record_path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        assert_non_null(json_object_get(rec, "path"));
        assert_non_null(json_object_get(rec, "headers"));
        json_decref(rec);
        lines++;
    }
    free(line);
    fclose(f);
    if (lines < model_requests)
        fail_msg("%d lines recorded for at least %d model requests", lines, model_requests);
}

static void test_script_file_served_first(void **state)
{
    /* Runs first: nothing has replaced the --script file's script yet. */
    struct llm_config c = config();
    json_t *messages = simple_messages();
    struct llm_reply r;
    struct error err;
    if (call(&c, messages, NULL, &r, &err)) fail_msg("llm_complete: %s", err.message);
    assert_string_equal(r.content, "from the --script file");
    llm_reply_free(&r);
    json_decref(messages);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_file_served_first),
        cmocka_unit_test(test_openai_text_reply),
        cmocka_unit_test(test_openai_tool_calls),
        cmocka_unit_test(test_usage_per_call_sums),
        cmocka_unit_test(test_not_a_completion),
        cmocka_unit_test(test_response_too_large),
        cmocka_unit_test(test_429_retry_after_then_success),
        cmocka_unit_test(test_5xx_until_retries_run_out),
        cmocka_unit_test(test_exhausted_script),
        cmocka_unit_test(test_timeout_is_retried),
        cmocka_unit_test(test_dropped_connection_is_retried),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_401_is_not_retried),
        cmocka_unit_test(test_echoed_key_is_redacted),
        cmocka_unit_test(test_4xx_is_invalid),
        cmocka_unit_test(test_no_key_sends_no_header),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_is_anthropic),
        cmocka_unit_test(test_anthropic_tool_use),
        cmocka_unit_test(test_anthropic_v1_base_and_errors),
        cmocka_unit_test(test_anthropic_conversion_edges),
        cmocka_unit_test(test_fixture_refuses_broken_histories),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_record_file),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
