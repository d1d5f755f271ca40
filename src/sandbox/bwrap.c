/*
 * bwrap: the server side of the sandbox (see sandbox.h) — spawns bubblewrap around
 * `cloudhands sandbox-agent` and talks to it over two pipes, one JSON object per line.
 *
 * The command line (sandbox_start builds it; bwrap 0.8). Everything up to "--" goes through
 * --args 6 (NUL-separated on a pipe), since a command line is public on the host (ps) and this
 * one holds the workspace path and cfg->env (the account's secrets):
 *   bwrap --die-with-parent --unshare-all [--share-net] --unshare-user --disable-userns
 *         --new-session --info-fd 5 --cap-drop ALL --uid 1000 --gid 1000 --hostname sandbox
 *         --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib
 *         --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc
 *         --ro-bind-data 3 /etc/passwd --ro-bind-data 4 /etc/group
 *         --tmpfs /etc/ssh [ssh client config re-bound] --remount-ro /etc/ssh
 *         [--ro-bind-try RESOLV_TARGET RESOLV_TARGET   when sharing the network]
 *         --proc /proc --dev /dev --size min(S, 64 MiB) --tmpfs /dev/shm --remount-ro /dev
 *         --size S --tmpfs /tmp --size S --tmpfs /home/openhands
 *         --bind WORKSPACE /workspace --ro-bind AGENT /.cloudhands/cloudhands --remount-ro /
 *         --chdir CWD
 *         --clearenv --setenv PATH ... --setenv HOME /home/openhands --setenv LANG C.UTF-8
 *         [--setenv NAME VALUE for each cfg->env entry, which win]
 *         -- /.cloudhands/cloudhands sandbox-agent --cwd CWD --no-change-timeout N
 *            --memory-mb M --cpu-seconds C --file-size-mb F --max-processes P [--exec-only]
 * S = file_size_mb MiB. Merged /usr (Debian 12): /bin, /lib, /lib64, /sbin are symlinks into
 * /usr. /etc/passwd and /etc/group are replaced so uid 1000 is "openhands"; /etc/ssh (host keys)
 * is hidden. Writable: /workspace, and the sized tmpfs /tmp, home and /dev/shm (in memory: at
 * most 2 S + 64 MiB per sandbox); bwrap's root and /dev tmpfs are read-only.
 *
 * Users. Inside, everything runs as uid/gid 1000 with no capabilities, in its own user, PID,
 * mount, network, IPC and UTS namespaces. Outside, bwrap is never run as root: a server running
 * as root drops to cfg->sandbox_uid (default 65534) in the child before exec, and chowns the
 * workspace to it. Two reasons: (1) with root mapped to uid 1000, every root-owned file of the
 * read-only /usr and /etc would be the sandbox user's own (it could read /etc/shadow);
 * (2) RLIMIT_NPROC is not enforced for the host's root, and is for any other user — counted per
 * user namespace, so per sandbox. That is what contains a fork bomb: the agent sets
 * RLIMIT_NPROC = max_processes before it starts bash; no cgroup is needed (none is used).
 * A server running as a normal user runs bwrap as itself; uid 1000 inside is that user.
 *
 * A root server's child stages the workspace and the agent binary in a private mount namespace
 * (a tmpfs over /tmp, seen by nobody else) before it drops to the sandbox user, so that user
 * never needs to walk their host paths: the data directory stays 0700.
 *
 * Fds: the agent's stdin/stdout are pipes to the server (O_CLOEXEC on this side); its stderr
 * (and bwrap's) goes to cfg->log_file, else /dev/null. The child closes every other fd before
 * exec, resets signal dispositions (the server ignores SIGPIPE) and unblocks all signals.
 *
 * Killing: SIGKILL to the PID namespace's init (bwrap's child, whose pid --info-fd reports),
 * through a pidfd so it can never hit a recycled pid; the kernel kills everything else in the
 * namespace, bwrap reaps the init and exits, and sandbox_free reaps bwrap. Killing bwrap itself
 * would work too (--die-with-parent), but would leave the init's zombie to the host's PID 1,
 * which may be slow to reap it or never do (a server that is PID 1 in a container). Without a
 * pidfd (Linux < 5.3) that is the fallback; bwrap's pid stays ours until sandbox_free reaps it.
 * When the agent dies on its own (`kill -9 -1` inside, a crash), bwrap exits without reaping the
 * init either: its zombie is left to the host's PID 1 — run the server under one that reaps.
 */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/json.h"

#define INSIDE_AGENT "/.cloudhands/cloudhands"
#define INSIDE_HOME  "/home/openhands"
#define DEFAULT_CWD  "/workspace"
/* Where a root server's child stages the bind sources for the sandbox user (child_exec). */
#define STAGE_DIR        "/tmp"
#define STAGED_WORKSPACE STAGE_DIR "/workspace"
#define STAGED_AGENT     STAGE_DIR "/cloudhands"
#define DEFAULT_PATH     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOBODY           65534
#define START_TIMEOUT    10000 /* ms for the first pong */
#define CHOWN_MAX_DEPTH  200
#define SHM_BYTES        (64LL << 20) /* /dev/shm, as Docker's */

struct sandbox {
    pid_t pid;   /* bwrap's; reaped only by sandbox_free */
    int init_fd; /* a pidfd of the PID namespace's init (bwrap's child), or -1 */
    int to_agent, from_agent;
    struct sandbox_reader reader;
    atomic_bool killed;
    bool dead; /* the agent's stdout ended */
};

/* ---- the wire ------------------------------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum sandbox_read sandbox_read_line(struct sandbox_reader *r, int timeout_ms,
                                    const atomic_bool *cancel, char **line, size_t *len)
{
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    struct buf *b = &r->buf;
    if (!b->data) buf_init(b, 0); /* a zeroed reader */
    size_t scan = r->start;
    bool dropping = false; /* the line is over the limit: read on to its end, keep nothing */
    for (;;) {
        char *nl = memchr(b->data + scan, '\n', b->len - scan);
        if (nl) {
            size_t end = (size_t)(nl - b->data);
            size_t start = r->start;
            r->start = end + 1;
            if (dropping || end - start > SANDBOX_MAX_LINE) return SANDBOX_READ_TOO_LONG;
            *nl = '\0';
            *line = b->data + start;
            *len = end - start;
            return SANDBOX_READ_OK;
        }
        if (b->len - r->start > SANDBOX_MAX_LINE) {
            dropping = true;
            buf_reset(b);
            r->start = 0;
        } else if (r->start) {
            memmove(b->data, b->data + r->start, b->len - r->start);
            b->len -= r->start;
            b->data[b->len] = '\0';
            r->start = 0;
        }
        scan = b->len;

        for (;;) {
            int wait = -1;
            if (deadline >= 0) {
                long long left = deadline - now_ms();
                if (left <= 0) return SANDBOX_READ_TIMEOUT;
                wait = left > INT_MAX ? INT_MAX : (int)left;
            }
            if (cancel) {
                if (atomic_load(cancel)) return SANDBOX_READ_TIMEOUT;
                if (wait < 0 || wait > 100) wait = 100;
            }
            struct pollfd p = {.fd = r->fd, .events = POLLIN};
            int n = poll(&p, 1, wait);
            if (n < 0 && errno != EINTR) return SANDBOX_READ_EOF;
            if (n > 0) break;
        }
        buf_grow(b, 65536);
        ssize_t n = read(r->fd, b->data + b->len, b->alloc - b->len - 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return SANDBOX_READ_EOF;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    }
}

void sandbox_reader_release(struct sandbox_reader *r)
{
    buf_release(&r->buf);
    r->start = 0;
}

int sandbox_write_all(int fd, const void *data, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    const char *p = data;
    int rc = 0;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    int saved = errno;
    if (rc && saved == EPIPE && !was_pending) {
        /* consume the SIGPIPE this thread just raised, so it never fires on unblocking */
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return rc;
}

/* ---- building the command line ------------------------------------------------------------- */

struct argv_list {
    char **v;
    size_t n, cap;
};

static void arg(struct argv_list *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof(char *));
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void args2(struct argv_list *a, const char *s1, const char *s2)
{
    arg(a, s1);
    arg(a, s2);
}

static void args3(struct argv_list *a, const char *s1, const char *s2, const char *s3)
{
    arg(a, s1);
    arg(a, s2);
    arg(a, s3);
}

static void arg_int(struct argv_list *a, const char *flag, long long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", n);
    args2(a, flag, num);
}

static void argv_free(struct argv_list *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
}

static int dflt(int v, int d)
{
    return v > 0 ? v : d;
}

/* The ssh client's configuration stays visible; the rest of /etc/ssh (host keys) does not. */
static void hide_etc_ssh(struct argv_list *a)
{
    static const char *const keep[] = {"ssh_config", "ssh_config.d", "ssh_known_hosts", NULL};
    args2(a, "--tmpfs", "/etc/ssh");
    for (const char *const *k = keep; *k; k++) {
        char path[64];
        snprintf(path, sizeof(path), "/etc/ssh/%s", *k);
        args3(a, "--ro-bind-try", path, path);
    }
    args2(a, "--remount-ro", "/etc/ssh");
}

/* bwrap's options go in `a` (passed through --args: a command line is public on the host, and
 * these hold the workspace path and cfg->env, the account's secrets); its command line proper,
 * with the agent's (secret-free) arguments, in `cmd`. */
static int build_argv(const struct sandbox_config *cfg, const char *workspace, const char *agent,
                      struct argv_list *a, struct argv_list *cmd, struct error *err)
{
    const char *cwd = cfg->cwd && *cfg->cwd ? cfg->cwd : DEFAULT_CWD;
    long long tmp_bytes = (long long)dflt(cfg->limits.file_size_mb, SANDBOX_DEFAULT_FILE_SIZE_MB)
                          << 20;
    args2(a, "--die-with-parent", "--unshare-all");
    if (cfg->network) arg(a, "--share-net");
    args3(a, "--unshare-user", "--disable-userns", "--new-session");
    args2(a, "--info-fd", "5");
    args2(a, "--cap-drop", "ALL");
    args2(a, "--uid", "1000");
    args2(a, "--gid", "1000");
    args2(a, "--hostname", "sandbox");
    args3(a, "--ro-bind", "/usr", "/usr");
    args3(a, "--symlink", "usr/bin", "/bin");
    args3(a, "--symlink", "usr/lib", "/lib");
    args3(a, "--symlink", "usr/lib64", "/lib64");
    args3(a, "--symlink", "usr/sbin", "/sbin");
    args3(a, "--ro-bind", "/etc", "/etc");
    args3(a, "--ro-bind-data", "3", "/etc/passwd");
    args3(a, "--ro-bind-data", "4", "/etc/group");
    hide_etc_ssh(a);
    if (cfg->network) {
        /* /etc/resolv.conf may point into /run (systemd-resolved), which is not mounted */
        char resolv[PATH_MAX];
        struct stat st;
        if (lstat("/etc/resolv.conf", &st) == 0 && S_ISLNK(st.st_mode) &&
            realpath("/etc/resolv.conf", resolv) && strncmp(resolv, "/etc/", 5) != 0)
            args3(a, "--ro-bind-try", resolv, resolv);
    }
    args2(a, "--proc", "/proc");
    args2(a, "--dev", "/dev");
    /* every tmpfs has a size: an unsized one may take half the host's memory */
    arg_int(a, "--size", tmp_bytes < SHM_BYTES ? tmp_bytes : SHM_BYTES);
    args2(a, "--tmpfs", "/dev/shm");
    args2(a, "--remount-ro", "/dev");
    arg_int(a, "--size", tmp_bytes);
    args2(a, "--tmpfs", "/tmp");
    arg_int(a, "--size", tmp_bytes);
    args2(a, "--tmpfs", INSIDE_HOME);
    args3(a, "--bind", workspace, "/workspace");
    args3(a, "--ro-bind", agent, INSIDE_AGENT);
    args2(a, "--remount-ro", "/"); /* bwrap's own root tmpfs */
    args2(a, "--chdir", cwd);
    arg(a, "--clearenv");
    args3(a, "--setenv", "PATH", DEFAULT_PATH);
    args3(a, "--setenv", "HOME", INSIDE_HOME);
    args3(a, "--setenv", "LANG", "C.UTF-8");
    for (char *const *e = cfg->env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            return error_set(err, ERR_INTERNAL, "sandbox environment entry without NAME=");
        char *name = xmalloc((size_t)(eq - *e) + 1);
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        args3(a, "--setenv", name, eq + 1);
        free(name);
    }
    args3(cmd, "bwrap", "--args", "6");
    args3(cmd, "--", INSIDE_AGENT, "sandbox-agent");
    args2(cmd, "--cwd", cwd);
    arg_int(cmd, "--no-change-timeout", cfg->no_change_timeout > 0 ? cfg->no_change_timeout : 0);
    arg_int(cmd, "--memory-mb", dflt(cfg->limits.memory_mb, SANDBOX_DEFAULT_MEMORY_MB));
    arg_int(cmd, "--cpu-seconds", dflt(cfg->limits.cpu_seconds, SANDBOX_DEFAULT_CPU_SECONDS));
    arg_int(cmd, "--file-size-mb", dflt(cfg->limits.file_size_mb, SANDBOX_DEFAULT_FILE_SIZE_MB));
    arg_int(cmd, "--max-processes", dflt(cfg->limits.max_processes, SANDBOX_DEFAULT_MAX_PROCESSES));
    if (cfg->exec_only) arg(cmd, "--exec-only");
    return 0;
}

/* The options as --args reads them: each followed by a NUL. */
static void write_args(int fd, const struct argv_list *a)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < a->n; i++) buf_add(&b, a->v[i], strlen(a->v[i]) + 1);
    sandbox_write_all(fd, b.data, b.len); /* a failure shows as bwrap's */
    buf_release(&b);
}

/* ---- preparing the host side --------------------------------------------------------------- */

/* Gives the tree at dirfd (a directory) to uid/gid. Symlinks are not followed, and files with
 * other hard links are left alone: they may be shared with something outside (git clone --local).
 */
static int chown_tree(int dirfd, uid_t uid, gid_t gid, int depth)
{
    if (depth > CHOWN_MAX_DEPTH) return 0;
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if ((st.st_uid != uid || st.st_gid != gid) && (S_ISDIR(st.st_mode) || st.st_nlink == 1) &&
            fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            rc = -1;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || chown_tree(sub, uid, gid, depth + 1) < 0) rc = -1;
            if (sub >= 0) close(sub);
        }
    }
    closedir(d);
    return rc;
}

static int give_workspace(const char *workspace, uid_t uid, gid_t gid, struct error *err)
{
    int fd = open(workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, ERR_INTERNAL, "cannot open the workspace: %s", strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && (st.st_uid != uid || st.st_gid != gid)) rc = fchown(fd, uid, gid);
    if (rc == 0) rc = chown_tree(fd, uid, gid, 0);
    close(fd);
    if (rc < 0)
        return error_set(err, ERR_INTERNAL, "cannot give the workspace to uid %u: %s",
                         (unsigned)uid, strerror(errno));
    return 0;
}

/* A pipe whose read end holds `text` (small enough for the pipe buffer), for --ro-bind-data. */
static int data_pipe(const char *text)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    if (sandbox_write_all(p[1], text, strlen(text)) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    close(p[1]);
    return p[0];
}

/* ---- the child ----------------------------------------------------------------------------- */

struct spawn {
    const char *bwrap;
    char **argv;
    int fds[7]; /* become 0 stdin, 1 stdout, 2 stderr, 3 passwd, 4 group, 5 info, 6 args */
    const char *workspace; /* with `drop`: staged at STAGED_WORKSPACE */
    const char *agent;     /* with `drop`: staged at STAGED_AGENT */
    bool drop;
    uid_t uid;
    gid_t gid;
};

static void child_fail(const char *what)
{
    static const char prefix[] = "cloudhands: sandbox: cannot ";
    const char *why = strerror(errno);
    ssize_t ignored = write(2, prefix, sizeof(prefix) - 1);
    ignored = write(2, what, strlen(what));
    ignored = write(2, ": ", 2);
    ignored = write(2, why, strlen(why));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(127);
}

/* After fork: only async-signal-safe calls (the server has other threads). */
static void child_exec(const struct spawn *sp)
{
    sigset_t none;
    sigemptyset(&none);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* KILL, STOP, ... just fail */
    sigprocmask(SIG_SETMASK, &none, NULL);

    int moved[7];
    for (int i = 0; i < 7; i++) {
        moved[i] = fcntl(sp->fds[i], F_DUPFD, 16);
        if (moved[i] < 0) child_fail("set up fds");
    }
    for (int i = 0; i < 7; i++)
        if (dup2(moved[i], i) < 0) child_fail("set up fds");
    if (syscall(SYS_close_range, 7U, ~0U, 0U) < 0) {
        for (int fd = 7; fd < 65536; fd++) close(fd);
    }
    if (sp->drop) {
        /* Still root: in a mount namespace of its own, bind the workspace and the agent binary
         * into a fresh tmpfs over /tmp, where the sandbox user can reach them however private
         * the data directory's path is (bwrap resolves bind sources as that user). Nothing
         * outside this process and its sandbox sees these mounts. */
        /* The sources are opened (in the new namespace) before the tmpfs, which may hide them. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            child_fail("make a mount namespace for staging");
        int fd, ws = open(sp->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int agent = open(sp->agent, O_PATH | O_CLOEXEC);
        char ws_src[32], agent_src[32];
        snprintf(ws_src, sizeof(ws_src), "/proc/self/fd/%d", ws);
        snprintf(agent_src, sizeof(agent_src), "/proc/self/fd/%d", agent);
        if (ws < 0 || agent < 0 ||
            mount("tmpfs", STAGE_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0 ||
            mkdir(STAGED_WORKSPACE, 0755) < 0 ||
            mount(ws_src, STAGED_WORKSPACE, NULL, MS_BIND, NULL) < 0 ||
            (fd = open(STAGED_AGENT, O_WRONLY | O_CREAT | O_CLOEXEC, 0755)) < 0 || close(fd) < 0 ||
            mount(agent_src, STAGED_AGENT, NULL, MS_BIND, NULL) < 0)
            child_fail("stage the workspace for the sandbox user");
        close(ws);
        close(agent);
        /* raw syscalls: this process has one thread, and glibc's wrappers would sync others */
        if (syscall(SYS_setgroups, 0, NULL) < 0 ||
            syscall(SYS_setresgid, sp->gid, sp->gid, sp->gid) < 0 ||
            syscall(SYS_setresuid, sp->uid, sp->uid, sp->uid) < 0)
            child_fail("drop to the sandbox user");
    }
    static char *const no_env[] = {NULL};
    execve(sp->bwrap, sp->argv, no_env);
    child_fail("run bwrap");
}

/* ---- the API ------------------------------------------------------------------------------- */

static const char passwd_text[] = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                  "openhands:x:1000:1000:OpenHands:" INSIDE_HOME ":/bin/bash\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] = "root:x:0:\nopenhands:x:1000:\nnogroup:x:65534:\n";

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* bwrap's --info-fd JSON, {"child-pid": N, ...} over several lines: a pidfd of that child
 * (the namespace's init), or -1. */
static int open_init(int info_fd)
{
    struct sandbox_reader r = {.fd = info_fd};
    struct buf all = BUF_INIT;
    json_t *info = NULL;
    char *line;
    size_t len;
    while (!info && sandbox_read_line(&r, 1000, NULL, &line, &len) == SANDBOX_READ_OK) {
        buf_add(&all, line, len);
        info = json_loadb(all.data, all.len, 0, NULL); /* complete once it parses */
    }
    json_int_t pid = json_integer_value(json_object_get(info, "child-pid"));
    int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0U) : -1;
    json_decref(info);
    buf_release(&all);
    sandbox_reader_release(&r);
    return fd;
}

static void kill_sandbox(struct sandbox *sb)
{
    if (sb->init_fd >= 0 && syscall(SYS_pidfd_send_signal, sb->init_fd, SIGKILL, NULL, 0U) == 0)
        return;
    if (sb->pid > 0) kill(sb->pid, SIGKILL);
}

/* Kills and reaps bwrap; returns its wait status, or -1. */
static int kill_and_reap(struct sandbox *sb)
{
    kill_sandbox(sb);
    int status;
    pid_t r = 0;
    /* bwrap exits as soon as it has reaped the init (2 s at most, else it is killed too) */
    for (int i = 0; i < 200 && r == 0; i++) {
        r = waitpid(sb->pid, &status, WNOHANG);
        if (r < 0 && errno == EINTR) r = 0;
        if (r == 0) usleep(i < 20 ? 1000 : 10000);
    }
    if (r == 0) {
        kill(sb->pid, SIGKILL);
        while ((r = waitpid(sb->pid, &status, 0)) < 0 && errno == EINTR) {}
    }
    sb->pid = -1;
    return r > 0 ? status : -1;
}

static void describe_exit(int status, char *out, size_t size)
{
    if (status < 0)
        snprintf(out, size, "gone");
    else if (WIFEXITED(status))
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, size, "status %d", status);
}

int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct error *err)
{
    *out = NULL;
    char workspace[PATH_MAX], agent[PATH_MAX];
    if (!cfg->workspace || !realpath(cfg->workspace, workspace))
        return error_set(err, ERR_INTERNAL, "no workspace directory: %s",
                         cfg->workspace ? strerror(errno) : "none given");
    if (!cfg->agent_binary || !realpath(cfg->agent_binary, agent) || access(agent, X_OK) < 0)
        return error_set(err, ERR_INTERNAL, "the agent binary is not executable: %s",
                         cfg->agent_binary ? strerror(errno) : "none given");
    bool drop = geteuid() == 0;
    uid_t uid = cfg->sandbox_uid ? cfg->sandbox_uid : NOBODY;
    gid_t gid = cfg->sandbox_gid ? cfg->sandbox_gid : NOBODY;
    if (drop) {
        int rc = give_workspace(workspace, uid, gid, err);
        if (rc) return rc;
    }
    char *bwrap = fs_find_program("bwrap"); /* before fork: the child may not allocate */
    if (!bwrap) return error_set(err, ERR_INTERNAL, "bwrap not found (install bubblewrap)");
    struct argv_list opts = {0}, argv = {0};
    int rc = build_argv(cfg, drop ? STAGED_WORKSPACE : workspace, drop ? STAGED_AGENT : agent,
                        &opts, &argv, err);
    if (rc) {
        argv_free(&opts);
        argv_free(&argv);
        free(bwrap);
        return rc;
    }

    int in[2] = {-1, -1}, outp[2] = {-1, -1}, info[2] = {-1, -1}, args[2] = {-1, -1}, errfd = -1,
        passwd = -1, group = -1;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(info, O_CLOEXEC) < 0 ||
        pipe2(args, O_CLOEXEC) < 0 || (passwd = data_pipe(passwd_text)) < 0 ||
        (group = data_pipe(group_text)) < 0 ||
        (errfd = cfg->log_file
                     ? open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)
                     : open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot set up the sandbox's pipes: %s", strerror(errno));
        goto fail;
    }
    struct spawn sp = {.bwrap = bwrap,
                       .argv = argv.v,
                       .fds = {in[0], outp[1], errfd, passwd, group, info[1], args[0]},
                       .workspace = workspace,
                       .agent = agent,
                       .drop = drop,
                       .uid = uid,
                       .gid = gid};
    pid_t pid = fork();
    if (pid < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) child_exec(&sp);

    struct sandbox *sb = xcalloc(1, sizeof(*sb));
    sb->pid = pid;
    sb->init_fd = -1;
    sb->to_agent = in[1];
    sb->from_agent = outp[0];
    sb->reader.fd = outp[0];
    atomic_init(&sb->killed, false);
    in[1] = outp[0] = -1;
    close_fd(&in[0]);
    close_fd(&outp[1]);
    close_fd(&info[1]);
    close_fd(&args[0]);
    close_fd(&errfd);
    close_fd(&passwd);
    close_fd(&group);
    write_args(args[1], &opts);
    close_fd(&args[1]);
    argv_free(&opts);
    argv_free(&argv);
    free(bwrap);

    static const char ping[] = "{\"ping\":1}\n";
    char *line;
    size_t len;
    enum sandbox_read got = SANDBOX_READ_EOF;
    if (sandbox_write_all(sb->to_agent, ping, sizeof(ping) - 1) == 0)
        got = sandbox_read_line(&sb->reader, START_TIMEOUT, NULL, &line, &len);
    json_t *pong = got == SANDBOX_READ_OK ? json_loadb(line, len, 0, NULL) : NULL;
    if (json_is_integer(json_object_get(pong, "pong"))) {
        json_decref(pong);
        sb->init_fd = open_init(info[0]);
        close_fd(&info[0]);
        *out = sb;
        return 0;
    }
    close_fd(&info[0]);
    char how[64];
    describe_exit(kill_and_reap(sb), how, sizeof(how));
    const char *said = json_get_str(pong, "content"); /* the agent's reason, if it gave one */
    rc = error_set(err, ERR_INTERNAL, "the sandbox did not start: %s (bwrap: %s)%s%s",
                   said                          ? said
                   : got == SANDBOX_READ_TIMEOUT ? "no answer in 10 s"
                   : got == SANDBOX_READ_OK      ? "a bad answer"
                                                 : "it exited",
                   how, cfg->log_file ? "; see " : "", cfg->log_file ? cfg->log_file : "");
    json_decref(pong);
    sandbox_free(sb);
    return rc;

fail:
    close_fd(&info[0]);
    close_fd(&info[1]);
    close_fd(&args[0]);
    close_fd(&args[1]);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errfd);
    close_fd(&passwd);
    close_fd(&group);
    argv_free(&opts);
    argv_free(&argv);
    free(bwrap);
    return rc;
}

int sandbox_call(struct sandbox *sb, json_t *request, json_t **response, struct error *err)
{
    *response = NULL;
    if (sb->dead || atomic_load(&sb->killed))
        return error_set(err, ERR_UNAVAILABLE, "the sandbox is not running");
    char *text = json_dumps(request, JSON_COMPACT);
    if (!text) return error_set(err, ERR_INTERNAL, "cannot encode the sandbox request");
    struct buf req = BUF_INIT;
    buf_adds(&req, text);
    buf_addch(&req, '\n');
    free(text);
    int rc = sandbox_write_all(sb->to_agent, req.data, req.len);
    buf_release(&req);
    if (rc < 0) {
        sb->dead = true;
        return error_set(err, ERR_UNAVAILABLE, "the sandbox is gone");
    }
    char *line;
    size_t len;
    enum sandbox_read got = sandbox_read_line(&sb->reader, -1, &sb->killed, &line, &len);
    if (got == SANDBOX_READ_TOO_LONG)
        return error_set(err, ERR_INTERNAL, "the sandbox's answer is over %d bytes",
                         SANDBOX_MAX_LINE);
    if (got != SANDBOX_READ_OK) {
        sb->dead = true;
        return error_set(err, ERR_UNAVAILABLE,
                         atomic_load(&sb->killed) ? "the sandbox was killed"
                                                  : "the sandbox is gone");
    }
    json_error_t jerr;
    json_t *res = json_loadb(line, len, 0, &jerr);
    if (!json_is_object(res)) {
        json_decref(res);
        return error_set(err, ERR_INTERNAL, "the sandbox's answer is not a JSON object");
    }
    *response = res;
    return 0;
}

void sandbox_kill(struct sandbox *sb)
{
    if (!sb) return;
    atomic_store(&sb->killed, true);
    kill_sandbox(sb);
}

void sandbox_free(struct sandbox *sb)
{
    if (!sb) return;
    if (sb->pid > 0) kill_and_reap(sb);
    close_fd(&sb->init_fd);
    close_fd(&sb->to_agent);
    close_fd(&sb->from_agent);
    sandbox_reader_release(&sb->reader);
    free(sb);
}

pid_t sandbox_pid(const struct sandbox *sb)
{
    return sb ? sb->pid : -1;
}

/* ---- exec ---------------------------------------------------------------------------------- */

/* The {"exec": {...}} request for ex (see the wire in sandbox.h), or an error. */
static int exec_request(const struct sandbox_exec *ex, json_t **out, struct error *err)
{
    *out = NULL;
    if (!ex->argv || !ex->argv[0] || !*ex->argv[0])
        return error_set(err, ERR_INTERNAL, "sandbox exec: no command");
    if (ex->timeout_s < 0 || ex->timeout_s > SANDBOX_EXEC_MAX_TIMEOUT)
        return error_set(err, ERR_INTERNAL, "sandbox exec: timeout %d s out of 0..%d",
                         ex->timeout_s, SANDBOX_EXEC_MAX_TIMEOUT);
    if (ex->stdout_max > SANDBOX_EXEC_STDOUT_MAX)
        return error_set(err, ERR_INTERNAL, "sandbox exec: stdout_max over %d bytes",
                         SANDBOX_EXEC_STDOUT_MAX);
    json_t *req = json_object(), *argv = json_array(), *env = json_object();
    json_object_set_new(req, "argv", argv);
    int rc = 0;
    for (const char *const *a = ex->argv; *a && !rc; a++) {
        json_t *s = json_string(*a);
        if (!s)
            rc = error_set(err, ERR_INTERNAL, "sandbox exec: an argument is not valid UTF-8");
        else
            json_array_append_new(argv, s);
    }
    for (const char *const *e = ex->env; e && *e && !rc; e++) {
        const char *eq = strchr(*e, '=');
        json_t *value = eq ? json_string(eq + 1) : NULL;
        if (!eq || eq == *e || !value) {
            json_decref(value);
            rc = error_set(err, ERR_INTERNAL,
                           "sandbox exec: an environment entry is not NAME=VALUE in UTF-8");
        } else {
            char *name = xmalloc((size_t)(eq - *e) + 1);
            memcpy(name, *e, (size_t)(eq - *e));
            name[eq - *e] = '\0';
            json_object_set_new(env, name, value);
            free(name);
        }
    }
    if (!rc && json_object_size(env)) json_object_set(req, "env", env);
    json_decref(env);
    if (!rc && ex->cwd) {
        json_t *cwd = json_string(ex->cwd);
        if (!cwd || !*ex->cwd)
            rc = error_set(err, ERR_INTERNAL, "sandbox exec: the cwd is empty or not UTF-8");
        json_object_set_new(req, "cwd", cwd ? cwd : json_null());
    }
    if (!rc && ex->stdin_text) {
        json_t *in = json_string(ex->stdin_text);
        if (!in) rc = error_set(err, ERR_INTERNAL, "sandbox exec: stdin is not valid UTF-8");
        json_object_set_new(req, "stdin", in ? in : json_null());
    }
    json_object_set_new(req, "timeout",
                        json_integer(ex->timeout_s ? ex->timeout_s : SANDBOX_EXEC_DEFAULT_TIMEOUT));
    if (ex->stdout_max)
        json_object_set_new(req, "stdout_max", json_integer((json_int_t)ex->stdout_max));
    if (rc) {
        json_decref(req);
        return rc;
    }
    *out = json_pack("{s:o}", "exec", req);
    return 0;
}

int sandbox_exec(struct sandbox *sb, const struct sandbox_exec *ex, struct sandbox_exec_result *res,
                 struct error *err)
{
    memset(res, 0, sizeof(*res));
    res->exit_code = -1;
    json_t *req, *ans = NULL;
    int rc = exec_request(ex, &req, err);
    if (rc) return rc;
    rc = sandbox_call(sb, req, &ans, err);
    json_decref(req);
    if (rc) return rc;
    json_t *code = json_object_get(ans, "exit_code"), *out = json_object_get(ans, "stdout"),
           *errs = json_object_get(ans, "stderr");
    if (json_is_true(json_object_get(ans, "error"))) {
        const char *why = json_get_str(ans, "content");
        rc = error_set(err, ERR_INTERNAL, "sandbox exec: %s", why ? why : "refused");
    } else if (!json_is_integer(code) || !json_is_string(out) || !json_is_string(errs)) {
        rc = error_set(err, ERR_INTERNAL, "sandbox exec: a malformed answer");
    } else {
        res->exit_code = (int)json_integer_value(code);
        res->timed_out = json_is_true(json_object_get(ans, "timed_out"));
        res->truncated = json_is_true(json_object_get(ans, "truncated"));
        res->binary = json_is_true(json_object_get(ans, "binary"));
        res->out_len = json_string_length(out);
        res->out = xmalloc(res->out_len + 1);
        memcpy(res->out, json_string_value(out), res->out_len + 1);
        res->err_text = xstrdup(json_string_value(errs));
    }
    json_decref(ans);
    return rc;
}

int sandbox_exec_once(const struct sandbox_config *cfg, const struct sandbox_exec *ex,
                      struct sandbox_exec_result *res, struct error *err)
{
    memset(res, 0, sizeof(*res));
    res->exit_code = -1;
    struct sandbox_config once = *cfg;
    once.exec_only = true;
    struct sandbox *sb = NULL;
    int rc = sandbox_start(&once, &sb, err);
    if (rc) return rc;
    rc = sandbox_exec(sb, ex, res, err);
    sandbox_free(sb);
    return rc;
}

void sandbox_exec_result_free(struct sandbox_exec_result *res)
{
    if (!res) return;
    free(res->out);
    free(res->err_text);
    memset(res, 0, sizeof(*res));
}
