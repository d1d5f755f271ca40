/*
 * sandbox: where a conversation's agent works. One bubblewrap sandbox per running
 * conversation: the conversation's workspace directory mounted at /workspace, a read-only
 * view of the system (/usr, /etc, ...), a private /tmp, no network unless allowed, no view
 * of the server (not its database, not other workspaces, not its environment), and limits
 * on CPU, memory, processes and file size.
 *
 * Inside runs the sandbox agent (`cloudhands sandbox-agent`, the same binary mounted
 * read-only), which holds the persistent bash session and the editor and answers tool
 * calls over a pipe: one JSON object per line each way (see sandbox_call). Killing the
 * sandbox kills everything in it (a PID namespace). How, and why so: src/sandbox/bwrap.c.
 */
#ifndef CH_SANDBOX_H
#define CH_SANDBOX_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
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
/* Kills everything in the sandbox at once; safe to call from another thread while sandbox_call
 * waits (that call then fails with ERR_UNAVAILABLE), but not concurrently with sandbox_free. */
void sandbox_kill(struct sandbox *sb);
/* Kills (if needed), reaps and frees. */
void sandbox_free(struct sandbox *sb);
pid_t sandbox_pid(const struct sandbox *sb);

/* The agent side: `cloudhands sandbox-agent` runs this inside the sandbox (src/sandbox/agent.c).
 * Applies the limits (rlimits, 0 = default) to itself and so to everything it starts, starts
 * the bash session in `cwd` (NULL = "/workspace") and the editor, then reads requests on stdin
 * and answers on stdout, until stdin closes. Returns the exit code. */
struct sandbox_agent_options {
    const char *cwd;
    int no_change_timeout;
    struct sandbox_limits limits;
};
int sandbox_agent_main(const struct sandbox_agent_options *opts);

/* The wire (both sides, src/sandbox/bwrap.c): one JSON object per line, at most
 * SANDBOX_MAX_LINE bytes. Requests: {"ping":1} -> {"pong":1}; {"tool": ..., "arguments": {...}}
 * -> execute_bash: {"content", "exit_code", "working_dir", "refused", "command"};
 * str_replace_editor: {"content", "error", "path", "old_content", "new_content", "diff"};
 * anything else: {"content": "...", "error": true}. */
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
