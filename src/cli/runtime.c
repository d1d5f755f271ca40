/* runtime: what `serve` and `worker` share — the options of a process that runs conversations
 * (CLI_RUNTIME_OPTIONS in cli.h) and the stop signals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "git/provider.h"
#include "util/log.h"

bool cli_runtime_config(const struct cli_args *a, struct config *cfg)
{
    if (!cli_opt_int(a, "runners", cfg->runners, 0, 1024, &cfg->runners) ||
        !cli_opt_int(a, "max-iterations", cfg->max_iterations, 1, 100000, &cfg->max_iterations) ||
        !cli_opt_int(a, "no-change-timeout", cfg->no_change_timeout, 1, 3600,
                     &cfg->no_change_timeout) ||
        !cli_opt_int(a, "lease-seconds", cfg->lease_seconds, 2, 3600, &cfg->lease_seconds) ||
        !cli_opt_int(a, "git-clone-depth", cfg->git_clone_depth, 0, 1000000, &cfg->git_clone_depth))
        return false;
    cfg->sandbox_network = cli_opt(a, "sandbox-network") != NULL;
    const char *node_url = cli_opt(a, "node-url");
    if (!node_url) node_url = getenv("CLOUDHANDS_NODE_URL");
    if (node_url && *node_url) {
        if (strncmp(node_url, "http://", 7) != 0 && strncmp(node_url, "https://", 8) != 0) {
            cli_error("--node-url must start with http:// or https://, not '%s'", node_url);
            return false;
        }
        free(cfg->node_url);
        cfg->node_url = xstrdup(node_url);
    }
    const char *log_format = cli_opt(a, "log-format");
    if (!log_format) log_format = getenv("CLOUDHANDS_LOG_FORMAT");
    if (log_format && *log_format && strcmp(log_format, "json") != 0 &&
        strcmp(log_format, "logfmt") != 0) {
        cli_error("--log-format must be logfmt or json, not '%s'", log_format);
        return false;
    }
    log_set_format(log_format && strcmp(log_format, "json") == 0 ? LOG_JSON : LOG_LOGFMT);
    struct error err = {0};
    if (!git_provider_find(cfg, NULL, &err)) {
        cli_error("--default-git-provider: %s", err.message);
        error_clear(&err);
        return false;
    }
    return true;
}

void cli_block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
    umask(077); /* the database, secret.key and logs are the server's alone */
}

void cli_wait_for_stop_signal(const sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    log_info("stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
}
