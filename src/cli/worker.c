/*
 * worker: runs conversations and serves no API — the other half of `serve --runners 0` when
 * one machine is not enough (docs/DEPLOYMENT.md). It shares the API nodes' database (PostgreSQL)
 * and secret.key, claims queued conversations with a lease it renews, and hands them back on
 * SIGTERM; if it dies, another process takes them over when the lease expires. With --listen it
 * serves the workspaces it holds to the API nodes (the ROUTE_ON_WORKERS routes), nothing else.
 */
#include <stdio.h>

#include "agent/runner.h"
#include "cli/cli.h"
#include "core/notify.h"
#include "http/server.h"
#include "util/log.h"

static const struct cli_option options[] = {
    {"listen", "HOST:PORT",
     "serve the workspaces of conversations run here to the API nodes (list-files, "
     "select-file, git/changes, git/diff, zip-directory; also /alive, /health and /metrics), "
     "e.g. 0.0.0.0:3001 (default: not served)"},
    {"threads", "N", "HTTP threads for --listen (default: one per core)"},
    CLI_RUNTIME_OPTIONS{NULL, NULL, NULL},
};

static int worker_exec(const struct cli_args *a)
{
    struct config cfg;
    struct app *app = NULL;
    struct runner_pool *runners = NULL;
    struct http_server *srv = NULL;
    struct error err = {0};
    sigset_t stop_signals;
    int rc = 1;

    if (!cli_config(a, &cfg)) return 2;
    if (!cli_runtime_config(a, &cfg)) {
        config_free(&cfg);
        return 2;
    }
    const char *listen = cli_opt(a, "listen");
    if (!cli_opt_int(a, "threads", 0, 0, 1024, &cfg.threads)) {
        config_free(&cfg);
        return 2;
    }
    if (cfg.runners == 0) {
        cli_error("a worker with --runners 0 would do nothing: give it at least 1");
        config_free(&cfg);
        return 2;
    }
    cli_block_stop_signals(&stop_signals);
    if (app_open(&cfg, &app, &err) || notify_remote_start(app->store)) {
        cli_error("%s", err.code ? err.message : "cannot listen to the database");
        goto out;
    }
    if (listen && http_server_start(app, listen, app->cfg.threads, true, &srv, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    if (srv && !app->cfg.node_url) app->cfg.node_url = http_server_url(srv, listen);
    if (runner_pool_start(app, &runners, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    log_info("working", "data=%s store=%s runners=%d lease_seconds=%d llm=%s node=%s url=%s",
             app->cfg.data_dir, app->store->ops->name, app->cfg.runners, app->cfg.lease_seconds,
             app->cfg.llm_model ? app->cfg.llm_model : "(per account)", app->node_id,
             app->cfg.node_url ? app->cfg.node_url : "(workspaces not served)");
    cli_wait_for_stop_signal(&stop_signals);
    rc = 0;
out:
    http_server_stop(srv);
    runner_pool_stop(runners); /* hands running conversations back to the queue */
    app_close(app);
    config_free(&cfg);
    error_clear(&err);
    return rc;
}

const struct cli_command cmd_worker = {
    .name = "worker",
    .min_args = 0,
    .max_args = 0,
    .summary = "Run conversations (no HTTP API) until SIGINT or SIGTERM.",
    .description =
        "For deployments over several machines: API nodes run `serve --runners 0`, workers run\n"
        "this, all with the same --db (PostgreSQL) and the same secret.key in --data.\n"
        "With --listen, the API nodes read the workspaces of its conversations from it.\n"
        "Example: cloudhands worker --db postgres://cloudhands@db/cloudhands --runners 8 \\\n"
        "           --listen 0.0.0.0:3001",
    .options = options,
    .exec = worker_exec,
};
