/*
 * agent: the inside of the sandbox — `cloudhands sandbox-agent`, run by bwrap (see bwrap.c).
 * It limits itself (and so everything it starts) with rlimits, holds the conversation's bash
 * session and editor, and answers the server's requests: one JSON object per line on stdin,
 * one answer per line on stdout (the wire is described in sandbox.h). stderr is the server's
 * log (or /dev/null). Besides the tools it runs single commands ("exec" requests, see run_exec),
 * for the server's own use (git on the workspace); with --exec-only it starts neither bash nor
 * the editor and serves only those.
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* Appends s[0..n) with every invalid UTF-8 sequence (and NUL) replaced by U+FFFD: a command's
 * output is bytes, and jansson takes only valid UTF-8. Returns how many it replaced. */
static size_t add_utf8(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t replaced = 0;
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
            replaced++;
        }
    }
    return replaced;
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

/* ---- exec: one command, not through the shell ---------------------------------------------- */

/* How it runs (see sandbox.h for the request and the answer): fork, and in the child its own
 * process group, stdin /dev/null or a pipe holding the given text, stdout and stderr on two pipes,
 * signal dispositions reset (except SIGXFSZ, left ignored as for everything the agent runs: a
 * write over file_size_mb fails with EFBIG), every other fd closed, chdir, then execve of each
 * candidate path for argv[0] (resolved before the fork, on the PATH of the command's own
 * environment). The child reports a failure before exec over a close-on-exec status pipe.
 * The parent polls both output pipes (and writes stdin) until the command exits or its time is
 * up, then kills the command's whole process group (what it left running in the background goes
 * too; a process that left the group with setsid lives on until the sandbox ends) and reaps the
 * command with waitpid on its pid only: the bash session's shell is reaped the same way by its
 * I/O thread, and SIGCHLD keeps its default disposition, so neither takes the other's status. */

#define EXEC_GRACE_MS 500  /* after the command exits: reading what is left in the pipes */
#define EXEC_SLACK    4096 /* room in the answer line for everything but stdout and stderr */

struct exec_failure {
    int stage; /* EXEC_SETUP, EXEC_CHDIR, EXEC_EXEC */
    int err;
};
enum { EXEC_SETUP = 1, EXEC_CHDIR, EXEC_EXEC };

struct exec_child {
    char *const *argv;
    char *const *envp;
    char *const *paths; /* where to look for argv[0], in order */
    const char *cwd;
    int in, out, err, status;
    int max_fd;
};

static void exec_child_fail(int status_fd, int stage, int err)
{
    struct exec_failure f = {stage, err};
    ssize_t ignored = write(status_fd, &f, sizeof(f));
    (void)ignored;
    _exit(127);
}

/* After fork: only async-signal-safe calls (the bash session has a thread). */
static void exec_child(const struct exec_child *c)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGXFSZ) sigaction(s, &dfl, NULL); /* KILL, STOP, ... just fail */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    /* every fd here is >= 3: the agent's 0, 1 and 2 are open */
    if (dup2(c->in, 0) < 0 || dup2(c->out, 1) < 0 || dup2(c->err, 2) < 0 ||
        dup2(c->status, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
        exec_child_fail(c->status, EXEC_SETUP, errno);
    if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
        for (int fd = 4; fd < c->max_fd; fd++) close(fd);
    if (chdir(c->cwd) < 0) exec_child_fail(3, EXEC_CHDIR, errno);
    int err = ENOENT;
    bool denied = false;
    for (char *const *p = c->paths; *p; p++) {
        execve(*p, c->argv, c->envp);
        if (errno == EACCES) {
            denied = true; /* execvp's rule: go on looking, report it if nothing else is found */
        } else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ELOOP &&
                   errno != ENAMETOOLONG) {
            err = errno;
            break;
        }
    }
    exec_child_fail(3, EXEC_EXEC, denied && err == ENOENT ? EACCES : err);
}

/* The environment: the agent's own, then `env`'s entries, which win. NULL-terminated, malloc'd
 * strings. */
static char **exec_environment(json_t *env)
{
    size_t n = 0, cap = json_object_size(env) + 1;
    for (char **e = environ; *e; e++) cap++;
    char **out = xcalloc(cap, sizeof(char *));
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        char name[256];
        if (len < sizeof(name)) {
            memcpy(name, *e, len);
            name[len] = '\0';
            if (json_object_get(env, name)) continue;
        }
        out[n++] = xstrdup(*e);
    }
    const char *key;
    json_t *value;
    json_object_foreach(env, key, value)
    {
        struct buf b = BUF_INIT;
        buf_addf(&b, "%s=%s", key, json_string_value(value));
        out[n++] = buf_detach(&b, NULL);
    }
    out[n] = NULL;
    return out;
}

static void free_strings(char **v)
{
    for (char **p = v; p && *p; p++) free(*p);
    free(v);
}

/* The paths execvp would try for `file`, on the PATH of `envp`. */
static char **exec_candidates(const char *file, char *const *envp)
{
    if (strchr(file, '/')) {
        char **one = xcalloc(2, sizeof(char *));
        one[0] = xstrdup(file);
        return one;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    size_t n = 1;
    for (const char *p = path; *p; p++) n += *p == ':';
    char **out = xcalloc(n + 1, sizeof(char *));
    size_t i = 0;
    for (const char *p = path;; p++) {
        size_t len = strcspn(p, ":");
        struct buf b = BUF_INIT;
        if (len) {
            buf_add(&b, p, len);
            buf_addch(&b, '/');
        } /* an empty entry is the working directory */
        buf_adds(&b, file);
        out[i++] = buf_detach(&b, NULL);
        p += len;
        if (!*p) break;
    }
    out[i] = NULL;
    return out;
}

/* One output of the command: kept up to `max` bytes, the rest read and dropped. */
struct capture {
    int fd;
    size_t max;
    bool truncated;
    struct buf data;
};

static void capture_read(struct capture *c, char *chunk, size_t size)
{
    ssize_t n = read(c->fd, chunk, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    size_t room = c->data.len < c->max ? c->max - c->data.len : 0;
    size_t keep = (size_t)n < room ? (size_t)n : room;
    buf_add(&c->data, chunk, keep);
    if (keep < (size_t)n) c->truncated = true;
}

/* n, less a UTF-8 sequence cut short at the end of s[0..n) (an output cut at its limit). */
static size_t utf8_whole(const char *s, size_t n)
{
    size_t i = n, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0) return n;
    unsigned c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 && c <= 0xF4   ? 4
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xC2 && c <= 0xDF ? 2
                                           : 1;
    return need > cont + 1 ? i - 1 : n;
}

/* The bytes jansson writes for one character of a (valid UTF-8) string. */
static size_t json_char_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

/* The longest prefix of the valid UTF-8 text s[0..n), cut between characters, whose JSON
 * string takes at most `budget` bytes. */
static size_t json_fit(const char *s, size_t n, size_t budget)
{
    size_t used = 2, fit = 0;
    for (size_t i = 0; i < n; i++) {
        used += json_char_len((unsigned char)s[i]);
        if (used > budget) return fit;
        if (i + 1 == n || ((unsigned char)s[i + 1] & 0xC0) != 0x80) fit = i + 1;
    }
    return n;
}

static size_t json_text_len(const char *s, size_t n)
{
    size_t used = 2;
    for (size_t i = 0; i < n; i++) used += json_char_len((unsigned char)s[i]);
    return used;
}

/* The answer for a command that ran (or could not start: exit_code 126 or 127). */
static json_t *exec_answer(int exit_code, bool timed_out, struct capture *out, struct capture *err)
{
    struct buf text = BUF_INIT, etext = BUF_INIT;
    size_t n = out->truncated ? utf8_whole(out->data.data, out->data.len) : out->data.len;
    bool binary = add_utf8(&text, out->data.data, n) > 0;
    n = err->truncated ? utf8_whole(err->data.data, err->data.len) : err->data.len;
    add_utf8(&etext, err->data.data, n);
    bool truncated = out->truncated || err->truncated;
    /* replacements and escapes can make 6 MiB of output a line over SANDBOX_MAX_LINE */
    size_t budget = SANDBOX_MAX_LINE - EXEC_SLACK - json_text_len(etext.data, etext.len);
    if (json_text_len(text.data, text.len) > budget) {
        text.len = json_fit(text.data, text.len, budget);
        text.data[text.len] = '\0';
        truncated = true;
    }
    json_t *res = json_pack("{s:i, s:s%, s:s%, s:b, s:b, s:b}", "exit_code", exit_code, "stdout",
                            text.data, text.len, "stderr", etext.data, etext.len, "timed_out",
                            timed_out, "truncated", truncated, "binary", binary);
    buf_release(&text);
    buf_release(&etext);
    return res;
}

/* The answer for a command that could not start (the child's report). */
static json_t *exec_not_started(const struct exec_failure *f, const char *file, const char *cwd)
{
    struct capture out = {.fd = -1}, err = {.fd = -1, .max = SANDBOX_EXEC_STDERR_MAX};
    int code = 127;
    if (f->stage == EXEC_CHDIR) {
        buf_addf(&err.data, "cloudhands exec: cannot change directory to %s: %s\n", cwd,
                 strerror(f->err));
    } else if (f->stage == EXEC_EXEC && f->err == ENOENT && !strchr(file, '/')) {
        buf_addf(&err.data, "cloudhands exec: %s: command not found\n", file);
    } else if (f->stage == EXEC_EXEC) {
        if (f->err == EACCES || f->err == ENOEXEC || f->err == EISDIR) code = 126;
        buf_addf(&err.data, "cloudhands exec: %s: %s\n", file, strerror(f->err));
    } else {
        buf_addf(&err.data, "cloudhands exec: cannot set up the command: %s\n", strerror(f->err));
    }
    json_t *res = exec_answer(code, false, &out, &err);
    buf_release(&err.data);
    return res;
}

/* Checks an "exec" request's members; NULL when fine, else what is wrong. */
static const char *exec_check(json_t *ex)
{
    if (!json_is_object(ex)) return "\"exec\" must be an object";
    json_t *argv = json_object_get(ex, "argv"), *v;
    size_t i;
    if (!json_is_array(argv) || json_array_size(argv) == 0)
        return "\"exec.argv\" must be a non-empty array of strings";
    json_array_foreach(argv, i, v)
    {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return "\"exec.argv\" must be a non-empty array of strings (without NUL)";
    }
    if (!json_string_length(json_array_get(argv, 0))) return "\"exec.argv[0]\" is empty";
    v = json_object_get(ex, "cwd");
    if (v && !json_is_null(v) && (!json_is_string(v) || !json_string_length(v)))
        return "\"exec.cwd\" must be a non-empty string";
    v = json_object_get(ex, "timeout");
    if (v && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 1 ||
         json_integer_value(v) > SANDBOX_EXEC_MAX_TIMEOUT))
        return "\"exec.timeout\" must be an integer from 1 to 3600 (seconds)";
    v = json_object_get(ex, "stdout_max");
    if (v && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 0 ||
         json_integer_value(v) > SANDBOX_EXEC_STDOUT_MAX))
        return "\"exec.stdout_max\" must be an integer from 0 to 6291456";
    v = json_object_get(ex, "stdin");
    if (v && !json_is_null(v) && !json_is_string(v)) return "\"exec.stdin\" must be a string";
    json_t *env = json_object_get(ex, "env");
    if (env && !json_is_null(env)) {
        if (!json_is_object(env)) return "\"exec.env\" must be an object of strings";
        const char *key;
        json_object_foreach(env, key, v)
        {
            if (!*key || strchr(key, '=') || strlen(key) >= 256)
                return "\"exec.env\" has a bad variable name";
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return "\"exec.env\" must be an object of strings (without NUL)";
        }
    }
    return NULL;
}

static long long exec_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static json_t *run_exec(json_t *ex)
{
    const char *bad = exec_check(ex);
    if (bad) return error_answer("bad request: ", bad);
    json_t *jargv = json_object_get(ex, "argv");
    const char *cwd = json_get_str(ex, "cwd");
    if (!cwd) cwd = "/workspace";
    json_t *jt = json_object_get(ex, "timeout"), *jmax = json_object_get(ex, "stdout_max");
    long long timeout_ms =
        (json_is_integer(jt) ? json_integer_value(jt) : SANDBOX_EXEC_DEFAULT_TIMEOUT) * 1000;
    const char *stdin_text = json_get_str(ex, "stdin");
    size_t stdin_len = stdin_text ? json_string_length(json_object_get(ex, "stdin")) : 0;
    json_t *env = json_object_get(ex, "env");

    size_t argc = json_array_size(jargv);
    char **argv = xcalloc(argc + 1, sizeof(char *));
    for (size_t i = 0; i < argc; i++) argv[i] = (char *)json_string_value(json_array_get(jargv, i));
    char **envp = exec_environment(json_is_object(env) ? env : NULL);
    char **paths = exec_candidates(argv[0], envp);

    struct capture out = {.fd = -1,
                          .max = json_is_integer(jmax) ? (size_t)json_integer_value(jmax)
                                                       : SANDBOX_EXEC_STDOUT_MAX};
    struct capture err = {.fd = -1, .max = SANDBOX_EXEC_STDERR_MAX};
    int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1}, st[2] = {-1, -1}, pidfd = -1;
    json_t *res = NULL;
    /* a command that closes its stdin early must not kill the agent with SIGPIPE */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool pipe_was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    if ((stdin_text ? pipe2(in, O_CLOEXEC) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) <
            0 ||
        pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0) {
        res = error_answer("cannot run the command: pipe: ", strerror(errno));
        goto done;
    }
    struct rlimit nofile;
    struct exec_child child = {
        .argv = argv,
        .envp = envp,
        .paths = paths,
        .cwd = cwd,
        .in = in[0],
        .out = o[1],
        .err = e[1],
        .status = st[1],
        .max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536
                      ? (int)nofile.rlim_cur
                      : 65536,
    };
    pid_t pid = fork();
    if (pid < 0) {
        res = error_answer("cannot run the command: fork: ", strerror(errno));
        goto done;
    }
    if (pid == 0) exec_child(&child);
    setpgid(pid, pid); /* the child does it too; whichever comes first */
    close_fd(&in[0]);
    close_fd(&o[1]);
    close_fd(&e[1]);
    close_fd(&st[1]);

    struct exec_failure failure;
    ssize_t got;
    while ((got = read(st[0], &failure, sizeof(failure))) < 0 && errno == EINTR) {}
    close_fd(&st[0]);
    if (got == (ssize_t)sizeof(failure)) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        res = exec_not_started(&failure, argv[0], cwd);
        goto done;
    }

    pidfd = (int)syscall(SYS_pidfd_open, pid, 0U); /* readable when it exits; else we look */
    out.fd = o[0];
    err.fd = e[0];
    o[0] = e[0] = -1;
    fcntl(out.fd, F_SETFL, O_NONBLOCK);
    fcntl(err.fd, F_SETFL, O_NONBLOCK);
    size_t stdin_done = 0;
    if (in[1] >= 0) {
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (stdin_len == 0) close_fd(&in[1]);
    }
    char *chunk = xmalloc(65536);
    long long deadline = exec_now_ms() + timeout_ms, stop_at = 0;
    bool exited = false, timed_out = false;
    int status = 0;
    for (;;) {
        long long now = exec_now_ms();
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            int wr = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
            bool ended = wr == 0 && si.si_pid == pid;
            bool lost = wr < 0 && errno == ECHILD; /* reaped by the kernel: SIGCHLD ignored */
            if (ended || lost || now >= deadline) {
                timed_out = !ended && !lost;
                /* the group before the reaping, while the zombie holds its id */
                kill(-pid, SIGKILL);
                if (timed_out) kill(pid, SIGKILL);
                if (lost)
                    status = -1;
                else
                    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
                exited = true;
                close_fd(&in[1]);
                stop_at = now + EXEC_GRACE_MS;
            }
        }
        if (exited && ((out.fd < 0 && err.fd < 0) || now >= stop_at)) break;
        struct pollfd pf[4];
        int npf = 0, i_out = -1, i_err = -1, i_in = -1;
        if (out.fd >= 0) i_out = npf, pf[npf++] = (struct pollfd){out.fd, POLLIN, 0};
        if (err.fd >= 0) i_err = npf, pf[npf++] = (struct pollfd){err.fd, POLLIN, 0};
        if (in[1] >= 0) i_in = npf, pf[npf++] = (struct pollfd){in[1], POLLOUT, 0};
        if (!exited && pidfd >= 0) pf[npf++] = (struct pollfd){pidfd, POLLIN, 0};
        long long wait = exited ? stop_at - now : deadline - now;
        if (!exited && pidfd < 0 && wait > 50) wait = 50;
        if (wait < 0) wait = 0;
        if (poll(pf, (nfds_t)npf, (int)wait) <= 0) continue;
        if (i_out >= 0 && pf[i_out].revents) capture_read(&out, chunk, 65536);
        if (i_err >= 0 && pf[i_err].revents) capture_read(&err, chunk, 65536);
        if (i_in >= 0 && pf[i_in].revents) {
            ssize_t w = (pf[i_in].revents & POLLOUT)
                            ? write(in[1], stdin_text + stdin_done, stdin_len - stdin_done)
                            : -1;
            if (w > 0) stdin_done += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_done == stdin_len)
                close_fd(&in[1]); /* all given, or the command closed its stdin */
        }
    }
    free(chunk);
    int code = timed_out || status == -1 ? -1
               : WIFEXITED(status)       ? WEXITSTATUS(status)
               : WIFSIGNALED(status)     ? 128 + WTERMSIG(status)
                                         : -1;
    res = exec_answer(code, timed_out, &out, &err);

done:
    if (!pipe_was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close_fd(&pidfd);
    close_fd(&out.fd);
    close_fd(&err.fd);
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&o[i]);
        close_fd(&e[i]);
        close_fd(&st[i]);
    }
    buf_release(&out.data);
    buf_release(&err.data);
    free_strings(paths);
    free_strings(envp);
    free(argv);
    return res;
}

/* One request line → its answer (a new reference). `startup` is why bash is missing, if it is;
 * without bash and editor (exec-only), only ping and exec are served. */
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
    } else if (json_object_get(req, "exec")) {
        res = run_exec(json_object_get(req, "exec"));
    } else if (!bash || !ed) {
        res = error_answer("this sandbox runs commands only (exec-only): no tool ",
                           json_get_str(req, "tool") ? json_get_str(req, "tool") : "request");
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
    struct editor *ed = NULL;
    if (!opts->exec_only) {
        if (bash_start(&bo, &bash, &err)) {
            fprintf(stderr, "cloudhands sandbox-agent: %s\n", err.message);
            startup = err.message;
        }
        ed = editor_new("/workspace");
    }

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
    if (ed) editor_free(ed);
    if (bash) bash_close(bash);
    error_clear(&err);
    return 0;
}
