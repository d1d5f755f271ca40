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
 * sandbox kills everything in it (a PID namespace whose init is the agent).
 */
#ifndef CH_SANDBOX_H
#define CH_SANDBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

struct sandbox_limits {
    int memory_mb;      /* address space per process (RLIMIT_AS); 0 = default 4096 */
    int max_processes;  /* processes in the sandbox; 0 = default 256 */
    int cpu_seconds;    /* CPU time per process (RLIMIT_CPU); 0 = default 600 */
    int file_size_mb;   /* largest file a process may write (RLIMIT_FSIZE); 0 = default 1024 */
};

struct sandbox_config {
    const char *workspace;    /* host directory mounted read-write at /workspace */
    const char *agent_binary; /* host path of the cloudhands executable */
    const char *cwd;          /* where the shell starts (inside), default "/workspace" */
    char *const *env;         /* the environment inside (NULL-terminated); nothing else leaks in */
    bool network;             /* share the host network (default: none) */
    int no_change_timeout;    /* bash soft timeout, seconds (0 = default) */
    struct sandbox_limits limits;
};

struct sandbox;

/* Starts the sandbox and its agent; returns when the agent has answered a ping. */
int sandbox_start(const struct sandbox_config *cfg, struct sandbox **out, struct error *err);
/* Sends one request ({"tool": "execute_bash"|"str_replace_editor", "arguments": {...}}) and
 * waits for its answer (a JSON object, *response is a new reference). ERR_UNAVAILABLE when the
 * sandbox died or was killed (e.g. by sandbox_kill from another thread). */
int sandbox_call(struct sandbox *sb, json_t *request, json_t **response, struct error *err);
/* Kills everything in the sandbox at once; safe to call from another thread while sandbox_call
 * waits (that call then fails with ERR_UNAVAILABLE). */
void sandbox_kill(struct sandbox *sb);
/* Kills (if needed), reaps and frees. */
void sandbox_free(struct sandbox *sb);
pid_t sandbox_pid(const struct sandbox *sb);

/* The agent side: `cloudhands sandbox-agent` runs this inside the sandbox. Reads requests on
 * stdin, answers on stdout, until stdin closes. Returns the exit code. */
int sandbox_agent_main(int no_change_timeout);

#endif
