/* git: running the git program on the host with a credential and nothing else; see git.h. */
#include "git/git.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/crypto.h"
#include "util/fs.h"

#define OUT_MAX (4u << 20)
#define ERR_MAX (64u << 10)

extern char **environ;

/* Every command gets these, whatever the system's or the operator's git configuration says:
 * no credential helper may store or offer a token, no hook runs, no prompt waits for a terminal
 * that is not there, and local file:// remotes work (the mirror fetches from workspaces). A root
 * server works in directories the sandbox user owns, hence safe.directory. */
static const char *const fixed_config[][2] = {
    {"credential.helper", ""},      {"core.hooksPath", "/dev/null"},
    {"core.fsmonitor", "false"},    {"protocol.file.allow", "always"},
    {"safe.directory", "*"},        {"advice.detachedHead", "false"},
    {"init.defaultBranch", "main"},
};
#define NFIXED (sizeof(fixed_config) / sizeof(fixed_config[0]))

/* Environment variables of the server that git must not inherit: they would redirect it. */
static bool env_dropped(const char *e)
{
    static const char *const drop[] = {"GIT_", "CLOUDHANDS_", "SSH_ASKPASS=", NULL};
    for (const char *const *d = drop; *d; d++)
        if (strncmp(e, *d, strlen(*d)) == 0) return true;
    return false;
}

static char *env_entry(const char *name, const char *value)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s=%s", name, value);
    return buf_detach(&b, NULL);
}

/* The child's environment: the server's minus GIT_*, plus the fixed config and the credential. */
static char **build_env(const struct git_auth *auth)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = xcalloc(n + 2 * NFIXED + 12, sizeof(char *));
    size_t k = 0, count = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_dropped(environ[i])) env[k++] = xstrdup(environ[i]);
    env[k++] = xstrdup("GIT_TERMINAL_PROMPT=0");
    env[k++] = xstrdup("GIT_ASKPASS=/bin/false");
    env[k++] = xstrdup("GIT_PROTOCOL_FROM_USER=0");
    env[k++] = xstrdup("LC_ALL=C");
    char key[32];
    for (size_t i = 0; i < NFIXED; i++, count++) {
        snprintf(key, sizeof(key), "GIT_CONFIG_KEY_%zu", count);
        env[k++] = env_entry(key, fixed_config[i][0]);
        snprintf(key, sizeof(key), "GIT_CONFIG_VALUE_%zu", count);
        env[k++] = env_entry(key, fixed_config[i][1]);
    }
    if (auth && auth->token && *auth->token) {
        struct buf plain = BUF_INIT, header = BUF_INIT;
        if (auth->user)
            buf_addf(&plain, "%s:%s", auth->user, auth->token);
        else if (strchr(auth->token, ':'))
            buf_adds(&plain, auth->token); /* USER:PASSWORD */
        else
            buf_addf(&plain, "x-access-token:%s", auth->token);
        buf_adds(&header, "Authorization: Basic ");
        crypto_base64(plain.data, plain.len, &header);
        snprintf(key, sizeof(key), "GIT_CONFIG_KEY_%zu", count);
        env[k++] = env_entry(key, "http.extraHeader");
        snprintf(key, sizeof(key), "GIT_CONFIG_VALUE_%zu", count++);
        env[k++] = env_entry(key, header.data);
        crypto_wipe(plain.data, plain.len);
        crypto_wipe(header.data, header.len);
        buf_release(&plain);
        buf_release(&header);
    }
    char value[16];
    snprintf(value, sizeof(value), "%zu", count);
    env[k++] = env_entry("GIT_CONFIG_COUNT", value);
    env[k] = NULL;
    return env;
}

static void env_free(char **env)
{
    for (char **e = env; *e; e++) {
        crypto_wipe(*e, strlen(*e));
        free(*e);
    }
    free(env);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there into b (kept up to max bytes; the rest is read and dropped). Returns
 * false at end of file. */
static bool drain(int fd, struct buf *b, size_t max)
{
    char chunk[16384];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    size_t keep = b->len < max ? max - b->len : 0;
    buf_add(b, chunk, (size_t)n < keep ? (size_t)n : keep);
    return true;
}

int git_run(const char *dir, const char *const *args, const struct git_auth *auth, int timeout_s,
            const atomic_int *cancel, struct git_result *res, struct error *err)
{
    memset(res, 0, sizeof(*res));
    res->exit_code = -1;
    char *git = fs_find_program("git");
    if (!git) return error_set(err, ERR_INTERNAL, "git is not installed (apt-get install git)");
    size_t nargs = 0;
    while (args[nargs]) nargs++;
    char **argv = xcalloc(nargs + 2, sizeof(char *));
    argv[0] = "git";
    for (size_t i = 0; i < nargs; i++) argv[i + 1] = (char *)args[i];
    char **env = build_env(auth);

    int out[2] = {-1, -1}, errp[2] = {-1, -1}, rc = 0;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot start git: %s", strerror(errno));
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot start git: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* only async-signal-safe calls from here: the server has other threads */
        sigset_t none;
        sigemptyset(&none);
        signal(SIGPIPE, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(127);
        if (dir && chdir(dir) < 0) _exit(126);
        execve(git, argv, env);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides: whichever runs first */
    close(out[1]);
    close(errp[1]);
    out[1] = errp[1] = -1;
    long long deadline = now_ms() + 1000LL * (timeout_s > 0 ? timeout_s : GIT_DEFAULT_TIMEOUT);
    bool out_open = true, err_open = true, stopped = false;
    while (out_open || err_open) {
        struct pollfd p[2] = {{.fd = out_open ? out[0] : -1, .events = POLLIN},
                              {.fd = err_open ? errp[0] : -1, .events = POLLIN}};
        int n = poll(p, 2, 100);
        if (n < 0 && errno != EINTR) break;
        if (n > 0 && p[0].revents) out_open = drain(out[0], &res->out, OUT_MAX);
        if (n > 0 && p[1].revents) err_open = drain(errp[0], &res->err, ERR_MAX);
        if (now_ms() > deadline || (cancel && atomic_load(cancel))) {
            stopped = true;
            break;
        }
    }
    if (stopped) kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!stopped) kill(-pid, SIGKILL); /* anything git left behind in its group */
    if (auth) git_redact(&res->err, auth->token);
    if (auth) git_redact(&res->out, auth->token);
    if (stopped) {
        rc = error_set(err, ERR_UNAVAILABLE, "%s",
                       cancel && atomic_load(cancel) ? "git was stopped"
                                                     : "git did not finish in time");
    } else if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
        if (res->exit_code == 126 && dir)
            rc = error_set(err, ERR_INTERNAL, "cannot enter %s to run git", dir);
    }
done:
    if (out[0] >= 0) close(out[0]);
    if (out[1] >= 0) close(out[1]);
    if (errp[0] >= 0) close(errp[0]);
    if (errp[1] >= 0) close(errp[1]);
    env_free(env);
    free(argv);
    free(git);
    return rc;
}

void git_result_release(struct git_result *res)
{
    buf_release(&res->out);
    buf_release(&res->err);
}

void git_error_summary(const struct git_result *res, struct buf *out)
{
    const char *text = res->err.len ? res->err.data : "";
    const char *best = NULL, *best_end = NULL, *last = NULL, *last_end = NULL;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        const char *s = p;
        while (s < end && (*s == ' ' || *s == '\r')) s++;
        if (end > s) {
            if (strncmp(s, "fatal: ", 7) == 0 || strncmp(s, "error: ", 7) == 0 ||
                strncmp(s, "remote: ", 8) == 0 || strncmp(s, " ! ", 3) == 0) {
                if (!best || strncmp(s, "fatal: ", 7) == 0) {
                    best = s;
                    best_end = end;
                }
            }
            last = s;
            last_end = end;
        }
        p = *end ? end + 1 : end;
    }
    if (!best) {
        best = last;
        best_end = last_end;
    }
    if (!best) {
        buf_addf(out, "git exited with status %d", res->exit_code);
        return;
    }
    size_t n = (size_t)(best_end - best);
    if (n > 300) n = 300;
    while (n && (best[n - 1] == '\r' || best[n - 1] == ' ')) n--;
    buf_add(out, best, n);
}

void git_redact(struct buf *b, const char *secret)
{
    if (!secret || strlen(secret) < 4 || !b->len) return;
    size_t n = strlen(secret);
    struct buf out = BUF_INIT;
    const char *p = b->data, *end = b->data + b->len;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), secret, n);
        if (!hit) {
            buf_add(&out, p, (size_t)(end - p));
            break;
        }
        buf_add(&out, p, (size_t)(hit - p));
        buf_adds(&out, "***");
        p = hit + n;
    }
    buf_release(b);
    *b = out;
}

bool git_branch_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '-' || name[0] == '/' || name[n - 1] == '/' ||
        name[n - 1] == '.' || strstr(name, "..") || strstr(name, "//") || strstr(name, "@{") ||
        strcmp(name, "@") == 0 || strstr(name, "/.") || name[0] == '.' ||
        (n >= 5 && strcmp(name + n - 5, ".lock") == 0))
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || strchr(" ~^:?*[\\", *p)) return false;
    return true;
}
