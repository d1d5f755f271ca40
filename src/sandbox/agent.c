/*
 * agent: the inside of the sandbox — `cloudhands sandbox-agent`, run by bwrap (see bwrap.c).
 * It limits itself (and so everything it starts) with rlimits, holds the conversation's bash
 * session and editor, and answers the server's requests: one JSON object per line on stdin,
 * one answer per line on stdout (the wire is described in sandbox.h). stderr is the server's
 * log (or /dev/null).
 *
 * Limits: RLIMIT_AS (memory_mb; skipped in AddressSanitizer builds, whose shadow memory
 * reserves terabytes of address space), RLIMIT_CPU (cpu_seconds; SIGXCPU, then SIGKILL a second
 * later), RLIMIT_FSIZE (file_size_mb; SIGXFSZ is ignored so a write over the limit fails with
 * EFBIG, "File too large"), RLIMIT_NPROC (max_processes: per user namespace, so per sandbox)
 * and RLIMIT_CORE 0. They are per process and apply to the agent too: the persistent bash
 * shell's own CPU time counts against cpu_seconds for the whole conversation.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/bash.h"
#include "agent/editor.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/json.h"

#if defined(__SANITIZE_ADDRESS__)
#define CH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CH_ASAN 1
#endif
#endif

extern char **environ;

static int set_limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    struct rlimit now;
    /* never above the current hard limit: raising it needs privileges we do not have */
    if (getrlimit(resource, &now) == 0 && now.rlim_max != RLIM_INFINITY) {
        if (rl.rlim_max > now.rlim_max) rl.rlim_max = now.rlim_max;
        if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    }
    return setrlimit(resource, &rl);
}

static int apply_limits(const struct sandbox_limits *l)
{
    rlim_t mb = 1024 * 1024;
    rlim_t cpu = (rlim_t)(l->cpu_seconds > 0 ? l->cpu_seconds : SANDBOX_DEFAULT_CPU_SECONDS);
    rlim_t fsize = (rlim_t)(l->file_size_mb > 0 ? l->file_size_mb : SANDBOX_DEFAULT_FILE_SIZE_MB);
    rlim_t nproc =
        (rlim_t)(l->max_processes > 0 ? l->max_processes : SANDBOX_DEFAULT_MAX_PROCESSES);
    int rc = 0;
#ifndef CH_ASAN
    rlim_t mem = (rlim_t)(l->memory_mb > 0 ? l->memory_mb : SANDBOX_DEFAULT_MEMORY_MB);
    rc |= set_limit(RLIMIT_AS, mem * mb, mem * mb);
#endif
    rc |= set_limit(RLIMIT_CPU, cpu, cpu + 1);
    rc |= set_limit(RLIMIT_FSIZE, fsize * mb, fsize * mb);
    rc |= set_limit(RLIMIT_NPROC, nproc, nproc);
    rc |= set_limit(RLIMIT_CORE, 0, 0);
    return rc;
}

/* Appends s[0..n) with every invalid UTF-8 sequence replaced by U+FFFD: a command's output is
 * bytes, and jansson takes only valid UTF-8. */
static void add_utf8(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t len = c < 0x80                 ? 1
                     : c >= 0xC2 && c <= 0xDF ? 2
                     : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xF0 && c <= 0xF4 ? 4
                                              : 0;
        bool ok = len > 0 && (size_t)(end - p) >= len;
        for (size_t i = 1; ok && i < len; i++) ok = (p[i] & 0xC0) == 0x80;
        if (ok && len == 3) /* no overlongs, no surrogates */
            ok = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] >= 0xA0);
        if (ok && len == 4) /* no overlongs, nothing above U+10FFFF */
            ok = !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] >= 0x90);
        if (ok && c != 0) {
            buf_add(out, p, len);
            p += len;
        } else {
            buf_adds(out, "\xEF\xBF\xBD");
            p++;
        }
    }
}

static json_t *text(const char *s)
{
    if (!s) return json_null();
    struct buf b = BUF_INIT;
    add_utf8(&b, s, strlen(s));
    json_t *j = json_stringn(b.data, b.len);
    buf_release(&b);
    return j;
}

/* {"content": prefix + detail, "error": true} */
static json_t *error_answer(const char *prefix, const char *detail)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, prefix);
    buf_adds(&b, detail);
    json_t *res = json_pack("{s:o, s:b}", "content", text(b.data), "error", 1);
    buf_release(&b);
    return res;
}

static json_t *run_bash(struct bash_session *bash, json_t *args)
{
    struct buf out = BUF_INIT;
    struct bash_result res = {0};
    bash_run(bash, args, &out, &res);
    json_t *answer = json_pack("{s:o, s:i, s:o, s:b, s:o}", "content", text(out.data), "exit_code",
                               res.exit_code, "working_dir", text(res.working_dir), "refused",
                               res.refused, "command", text(res.command));
    bash_result_free(&res);
    buf_release(&out);
    return answer;
}

static json_t *run_editor(struct editor *ed, json_t *args)
{
    struct buf out = BUF_INIT;
    struct editor_result res = {0};
    editor_run(ed, args, &out, &res);
    json_t *answer = json_pack("{s:o, s:b, s:o, s:o, s:o, s:o}", "content", text(out.data), "error",
                               res.error, "path", text(res.path), "old_content", text(res.old_text),
                               "new_content", text(res.new_text), "diff", text(res.diff));
    editor_result_free(&res);
    buf_release(&out);
    return answer;
}

/* One request line → its answer (a new reference). `startup` is why bash is missing, if it is. */
static json_t *answer(struct bash_session *bash, struct editor *ed, const char *startup,
                      const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, 0, &jerr);
    json_t *res;
    if (!json_is_object(req)) {
        res = error_answer("bad request: ", req ? "not a JSON object" : jerr.text);
    } else if (startup) {
        res = error_answer("the sandbox agent cannot start bash: ", startup);
    } else if (json_object_get(req, "ping")) {
        res = json_pack("{s:i}", "pong", 1);
    } else {
        const char *tool = json_get_str(req, "tool");
        json_t *args = json_object_get(req, "arguments");
        if (!tool)
            res = error_answer("bad request: ", "\"tool\" must be a string");
        else if (!json_is_object(args))
            res = error_answer("bad request: ", "\"arguments\" must be an object");
        else if (strcmp(tool, "execute_bash") == 0)
            res = run_bash(bash, args);
        else if (strcmp(tool, "str_replace_editor") == 0)
            res = run_editor(ed, args);
        else
            res = error_answer("unknown tool: ", tool);
    }
    json_decref(req);
    return res;
}

/* Writes the answer as one line; drops the edit's before/after texts if the line would be too
 * long for the server (they are a convenience; `content` is what the model reads). */
static int send_answer(int fd, json_t *res)
{
    struct buf line = BUF_INIT;
    buf_add_json(&line, res);
    if (line.len >= SANDBOX_MAX_LINE) {
        json_object_set_new(res, "old_content", json_null());
        json_object_set_new(res, "new_content", json_null());
        json_object_set_new(res, "diff", json_null());
        buf_reset(&line);
        buf_add_json(&line, res);
    }
    if (line.len >= SANDBOX_MAX_LINE) {
        json_t *small = error_answer("the answer is too long: over ", "8 MiB");
        buf_reset(&line);
        buf_add_json(&line, small);
        json_decref(small);
    }
    buf_addch(&line, '\n');
    int rc = sandbox_write_all(fd, line.data, line.len);
    buf_release(&line);
    return rc;
}

int sandbox_agent_main(const struct sandbox_agent_options *opts)
{
    const char *cwd = opts->cwd && *opts->cwd ? opts->cwd : "/workspace";
    if (apply_limits(&opts->limits) < 0)
        fprintf(stderr, "cloudhands sandbox-agent: setrlimit: %s\n", strerror(errno));
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);

    /* The wire moves to close-on-exec fds; bash and what it runs get /dev/null instead. */
    int in = fcntl(0, F_DUPFD_CLOEXEC, 3), out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (in < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
        fprintf(stderr, "cloudhands sandbox-agent: cannot set up fds: %s\n", strerror(errno));
        return 1;
    }
    close(null);

    struct error err = {0};
    struct bash_session *bash = NULL;
    struct bash_options bo = {
        .cwd = cwd, .envp = environ, .no_change_timeout = opts->no_change_timeout};
    const char *startup = NULL;
    if (bash_start(&bo, &bash, &err)) {
        fprintf(stderr, "cloudhands sandbox-agent: %s\n", err.message);
        startup = err.message;
    }
    struct editor *ed = editor_new("/workspace");

    struct sandbox_reader reader = {.fd = in};
    for (;;) {
        char *line;
        size_t len;
        enum sandbox_read got = sandbox_read_line(&reader, -1, NULL, &line, &len);
        if (got == SANDBOX_READ_EOF) break;
        json_t *res = got == SANDBOX_READ_TOO_LONG
                          ? error_answer("bad request: longer than ", "8 MiB")
                          : answer(bash, ed, startup, line, len);
        int rc = send_answer(out, res);
        json_decref(res);
        if (rc < 0) break;
    }
    sandbox_reader_release(&reader);
    editor_free(ed);
    if (bash) bash_close(bash);
    error_clear(&err);
    return 0;
}
