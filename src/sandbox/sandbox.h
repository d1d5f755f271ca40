/*
 * sandbox: where a conversation's agent works. One bubblewrap sandbox per running
 * conversation: the conversation's workspace directory mounted at /workspace, a read-only
 * view of the system (/usr, /etc, ...), a private /tmp, no network unless allowed, no view
 * of the server (not its database, not other workspaces, not its environment), and limits
 * on CPU, memory, processes and file size.
 *
 * Inside runs the sandbox agent (`cloudhands sandbox-agent`, the same binary mounted
 * read-only), which holds the persistent bash session and the editor and answers tool
 * calls over a pipe: one JSON object per line each way (see sandbox_call). It also runs single
 * commands (sandbox_exec), e.g. the server's git on the workspace, in a conversation's sandbox or
 * in a short-lived exec-only one (sandbox_exec_once). Killing the sandbox kills everything in it
 * (a PID namespace). How, and why so: src/sandbox/bwrap.c.
 */
#ifndef CH_SANDBOX_H
#define CH_SANDBOX_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/error.h"

struct sandbox_limits {
    int memory_mb;     /* address space per process (RLIMIT_AS); 0 = default 4096 */
    int max_processes; /* processes in the sandbox; 0 = default 256 */
    int cpu_seconds;   /* CPU time per process (RLIMIT_CPU); 0 = default 600 */
    int file_size_mb;  /* largest file a process may write (RLIMIT_FSIZE); 0 = default 1024;
                          also the size of the private /tmp and home (tmpfs, in memory) */
};

#define SANDBOX_DEFAULT_MEMORY_MB     4096
#define SANDBOX_DEFAULT_MAX_PROCESSES 256
#define SANDBOX_DEFAULT_CPU_SECONDS   600
#define SANDBOX_DEFAULT_FILE_SIZE_MB  1024

struct sandbox_config {
    const char *workspace;    /* host directory mounted read-write at /workspace */
    const char *agent_binary; /* host path of the cloudhands executable */
    const char *cwd;          /* where the shell starts (inside), default "/workspace" */
    char *const *env;         /* the environment inside (NULL-terminated); nothing else leaks in */
    bool network;             /* share the host network (default: none) */
    int no_change_timeout;    /* bash soft timeout, seconds (0 = default) */
    struct sandbox_limits limits;
    const char *log_file; /* the agent's (and bwrap's) stderr is appended here; NULL = /dev/null */
    uid_t sandbox_uid;    /* server running as root only: the unprivileged host user and group */
    gid_t sandbox_gid;    /* bwrap runs as (0 = 65534, nobody/nogroup); see bwrap.c */
    bool exec_only;       /* no bash session, no editor: only sandbox_exec (faster to start) */
};

struct sandbox;

/* Starts the sandbox and its agent; returns when the agent has answered a ping (10 s at most).
 * The sandbox dies with the thread that started it (bwrap --die-with-parent is the parent
 * *thread*'s death signal): start it from the thread that runs the conversation. When the
 * server runs as root, the workspace is chowned to cfg->sandbox_uid and every directory above
 * it and above agent_binary must be searchable by that user (o+x), or this fails saying which. */
int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct error *err);
/* Sends one request ({"tool": "execute_bash"|"str_replace_editor", "arguments": {...}}) and
 * waits for its answer (a JSON object, *response is a new reference), for as long as it takes:
 * the agent enforces the tools' timeouts. ERR_UNAVAILABLE when the sandbox died or was killed
 * (e.g. by sandbox_kill from another thread); ERR_INTERNAL for an answer over SANDBOX_MAX_LINE
 * or not a JSON object. One call at a time per sandbox. */
int sandbox_call(struct sandbox *sb, json_t *request, json_t **response, struct error *err);
/* One command run in the sandbox, not through the bash session: argv is executed directly
 * (a PATH lookup, no shell), as the sandbox user, confined like everything else in there. For
 * what must never run on the host, e.g. git on a workspace repository the agent has touched
 * (its .git/config can set hooks, fsmonitor, filters: code execution). */
struct sandbox_exec {
    const char *const *argv; /* NULL-terminated, at least argv[0]; valid UTF-8 (it goes as JSON) */
    const char *cwd;         /* inside; NULL = /workspace */
    const char *const
        *env; /* "NAME=VALUE" added to (and winning over) the sandbox's; may be NULL */
    const char *stdin_text; /* the command's stdin; NULL = /dev/null */
    int timeout_s;          /* 0 = SANDBOX_EXEC_DEFAULT_TIMEOUT, at most SANDBOX_EXEC_MAX_TIMEOUT */
    size_t stdout_max;      /* stdout bytes kept; 0 = (and at most) SANDBOX_EXEC_STDOUT_MAX */
};

struct sandbox_exec_result {
    int exit_code;  /* the exit status; 128 + N when killed by signal N; -1 on timeout; 127 when
                       the command or cwd does not exist, 126 when it is not executable (err_text
                       says which, "cloudhands exec: ...") */
    bool timed_out; /* killed (with its whole process group) at timeout_s */
    bool truncated; /* stdout over stdout_max or stderr over SANDBOX_EXEC_STDERR_MAX: cut */
    bool binary;    /* stdout was not valid UTF-8 (or held NUL): bad bytes became U+FFFD */
    char *out;      /* stdout, malloc'd, NUL-terminated, valid UTF-8 */
    size_t out_len;
    char *err_text; /* stderr, malloc'd, NUL-terminated, valid UTF-8 */
};

#define SANDBOX_EXEC_DEFAULT_TIMEOUT 60
#define SANDBOX_EXEC_MAX_TIMEOUT     3600
#define SANDBOX_EXEC_STDOUT_MAX      (6 * 1024 * 1024) /* keeps the answer under SANDBOX_MAX_LINE */
#define SANDBOX_EXEC_STDERR_MAX      (64 * 1024)

/* Runs a command in a running sandbox (either kind) and waits for it; one call at a time, and not
 * concurrently with sandbox_call (the same wire). 0 with *res filled whatever the command did
 * (check exit_code); else *res is empty (safe to free) and: ERR_INTERNAL for a bad `ex` (empty
 * argv, timeout out of range, an env entry without NAME=, text that is not UTF-8) or a refusal by
 * the agent, ERR_UNAVAILABLE as sandbox_call. A running bash session is not disturbed. */
int sandbox_exec(struct sandbox *sb, const struct sandbox_exec *ex, struct sandbox_exec_result *res,
                 struct error *err);
/* Starts an exec-only sandbox with cfg (cfg->exec_only is implied), runs one command and stops
 * it. As sandbox_start, it must be called from a thread that outlives the call (it does). */
int sandbox_exec_once(const struct sandbox_config *cfg, const struct sandbox_exec *ex,
                      struct sandbox_exec_result *res, struct error *err);
/* Frees out and err_text; leaves *res zeroed. */
void sandbox_exec_result_free(struct sandbox_exec_result *res);

/* Kills everything in the sandbox at once; safe to call from another thread while sandbox_call
 * waits (that call then fails with ERR_UNAVAILABLE), but not concurrently with sandbox_free. */
void sandbox_kill(struct sandbox *sb);
/* Kills (if needed), reaps and frees. */
void sandbox_free(struct sandbox *sb);
pid_t sandbox_pid(const struct sandbox *sb);

/* The agent side: `cloudhands sandbox-agent` runs this inside the sandbox (src/sandbox/agent.c).
 * Applies the limits (rlimits, 0 = default) to itself and so to everything it starts, starts
 * the bash session in `cwd` (NULL = "/workspace") and the editor (unless exec_only), then reads
 * requests on stdin and answers on stdout, until stdin closes. Returns the exit code. */
struct sandbox_agent_options {
    const char *cwd;
    int no_change_timeout;
    struct sandbox_limits limits;
    bool exec_only; /* --exec-only: neither bash nor the editor; tool requests answer an error */
};
int sandbox_agent_main(const struct sandbox_agent_options *opts);

/* The wire (both sides, src/sandbox/bwrap.c): one JSON object per line, at most
 * SANDBOX_MAX_LINE bytes. Requests: {"ping":1} -> {"pong":1}; {"tool": ..., "arguments": {...}}
 * -> execute_bash: {"content", "exit_code", "working_dir", "refused", "command"};
 * str_replace_editor: {"content", "error", "path", "old_content", "new_content", "diff"};
 * {"exec": {"argv": ["git", "status"], "cwd": "/workspace/repo", "timeout": 60,
 *           "env": {"GIT_TERMINAL_PROMPT": "0"}, "stdin": "text", "stdout_max": 6291456}}
 * (all but argv optional: cwd /workspace, timeout 60 s (1..3600), env none (added to the agent's
 * environment, winning), stdin /dev/null, stdout_max 6 MiB (0..6 MiB); argv a non-empty array
 * of strings) -> {"exit_code": N, "stdout": "...", "stderr": "...", "timed_out": bool,
 * "truncated": bool, "binary": bool}: exit_code as struct sandbox_exec_result's (-1 on timeout,
 * 128 + N for signal N, 127 with a "cloudhands exec: ..." stderr when the command or the cwd
 * does not exist, 126 when not executable); stderr kept up to 64 KiB; stdout also cut (truncated)
 * when its JSON would not fit the line; binary: stdout was not valid UTF-8, bad bytes became
 * U+FFFD. A request that is malformed (or cannot fork), a tool request to an exec-only agent,
 * and anything else: {"content": "...", "error": true}. */
#define SANDBOX_MAX_LINE (8 * 1024 * 1024)

enum sandbox_read {
    SANDBOX_READ_OK = 0,
    SANDBOX_READ_EOF = -1,      /* end of file or a read error */
    SANDBOX_READ_TIMEOUT = -2,  /* the deadline passed (or *cancel became true) */
    SANDBOX_READ_TOO_LONG = -3, /* a line over SANDBOX_MAX_LINE, read and dropped */
};

/* Reads lines from a blocking fd, whatever the sizes of the reads. Zero-initialize, set fd. */
struct sandbox_reader {
    int fd;
    struct buf buf; /* buf.data[start..len) is read but not yet returned */
    size_t start;
};

/* The next line without its newline, NUL-terminated, valid until the next call. timeout_ms < 0
 * waits for ever; `cancel` (may be NULL) is checked every 100 ms. */
enum sandbox_read sandbox_read_line(struct sandbox_reader *r, int timeout_ms,
                                    const atomic_bool *cancel, char **line, size_t *len);
void sandbox_reader_release(struct sandbox_reader *r);
/* Writes all of data (retrying short writes); with SIGPIPE blocked for the calling thread, so a
 * dead peer is an error (-1, errno EPIPE), never a signal. 0 on success. */
int sandbox_write_all(int fd, const void *data, size_t len);

#endif
