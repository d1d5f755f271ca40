/* sandbox-agent: the agent inside a conversation's sandbox (internal; bwrap.c runs it). */
#include "cli/cli.h"
#include "sandbox/sandbox.h"

static const struct cli_option options[] = {
    {"cwd", "DIR", "where the shell starts (default /workspace)"},
    {"no-change-timeout", "SECONDS", "bash soft timeout (default 10)"},
    {"memory-mb", "N", "address space per process, MiB (RLIMIT_AS)"},
    {"cpu-seconds", "N", "CPU time per process (RLIMIT_CPU)"},
    {"file-size-mb", "N", "largest file a process may write, MiB (RLIMIT_FSIZE)"},
    {"max-processes", "N", "processes in the sandbox (RLIMIT_NPROC)"},
    {"exec-only", NULL, "start neither bash nor the editor: answer only ping and exec requests"},
    {NULL, NULL, NULL},
};

static int sandbox_agent_exec(const struct cli_args *a)
{
    struct sandbox_agent_options o = {.cwd = cli_opt(a, "cwd"),
                                      .exec_only = cli_opt(a, "exec-only") != NULL};
    if (!cli_opt_int(a, "no-change-timeout", 0, 0, 86400, &o.no_change_timeout) ||
        !cli_opt_int(a, "memory-mb", SANDBOX_DEFAULT_MEMORY_MB, 1, 1 << 24, &o.limits.memory_mb) ||
        !cli_opt_int(a, "cpu-seconds", SANDBOX_DEFAULT_CPU_SECONDS, 1, 1 << 30,
                     &o.limits.cpu_seconds) ||
        !cli_opt_int(a, "file-size-mb", SANDBOX_DEFAULT_FILE_SIZE_MB, 1, 1 << 24,
                     &o.limits.file_size_mb) ||
        !cli_opt_int(a, "max-processes", SANDBOX_DEFAULT_MAX_PROCESSES, 1, 1 << 22,
                     &o.limits.max_processes))
        return 2;
    return sandbox_agent_main(&o);
}

const struct cli_command cmd_sandbox_agent = {
    .name = "sandbox-agent",
    .min_args = 0,
    .max_args = 0,
    .summary = "Internal: the tool agent inside a conversation's sandbox (run by the server).",
    .description = "Reads one JSON request per line on stdin and answers on stdout; see "
                   "src/sandbox/sandbox.h. Not meant to be run by hand.",
    .options = options,
    .exec = sandbox_agent_exec,
    .hidden = true,
};
