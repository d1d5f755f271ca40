/*
 * serve: runs the HTTP API. On the first start with an empty database it creates the
 * account "admin" and prints its API key once, with a curl command to try it. Stops
 * cleanly on SIGINT or SIGTERM: running requests finish, the store is closed.
 */
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/notify.h"
#include "core/accounts.h"
#include "agent/runner.h"
#include "core/webhooks.h"
#include "git/provider.h"
#include "http/server.h"
#include "util/buf.h"
#include "util/log.h"

static const struct cli_option options[] = {
    {"listen", "HOST:PORT", "address to serve on (default 127.0.0.1:3000; env CLOUDHANDS_LISTEN)"},
    {"max-concurrent", "N",
     "conversations an account may run at once unless `user add --max-concurrent` says "
     "otherwise (default 10; env CLOUDHANDS_MAX_CONCURRENT)"},
    {"threads", "N", "HTTP worker threads (default: one per core)"},
    CLI_RUNTIME_OPTIONS{"session-ttl", "SECONDS",
                        "how long a web UI sign-in lasts (default 43200, 12 hours)"},
    {"webhook-allow-private", NULL,
     "let webhooks target loopback, private, link-local and other non-public addresses "
     "(default: refused when a webhook is created and again at each delivery, so that users "
     "cannot make the server call internal services)"},
    {NULL, NULL, NULL},
};

static void print_bootstrap_key(const char *key, const char *password, const char *listen, int port)
{
    char *host = NULL;
    int ignored;
    if (!listen_parse(listen, &host, &ignored) || strcmp(host, "0.0.0.0") == 0 ||
        strcmp(host, "::") == 0) {
        free(host);
        host = xstrdup("127.0.0.1");
    }
    bool v6 = strchr(host, ':') != NULL;
    printf("\nCreated the account \"admin\". Its API key and web UI password are shown only this "
           "once; store them now:\n\n"
           "    API key:  %s\n"
           "    password: %s\n\n"
           "Try it:\n"
           "    curl -H \"Authorization: Bearer %s\" http://%s%s%s:%d/api/conversations\n"
           "    or sign in at http://%s%s%s:%d/login as admin\n\n"
           "More keys: cloudhands key create --user admin --name LABEL; a new password: "
           "cloudhands user passwd admin\n\n",
           key, password, key, v6 ? "[" : "", host, v6 ? "]" : "", port, v6 ? "[" : "", host,
           v6 ? "]" : "", port);
    fflush(stdout);
    free(host);
}

static int serve_exec(const struct cli_args *a)
{
    struct config cfg;
    struct app *app = NULL;
    struct http_server *srv = NULL;
    struct runner_pool *runners = NULL;
    struct webhook_workers *webhooks = NULL;
    struct error err = {0};
    char key[API_KEY_LEN + 1], password[BOOTSTRAP_PASSWORD_LEN + 1];
    sigset_t stop_signals;
    int rc = 1;

    if (!cli_config(a, &cfg)) return 2;
    if (!cli_opt_int(a, "max-concurrent", cfg.max_concurrent, 1, 1000000000, &cfg.max_concurrent) ||
        !cli_opt_int(a, "threads", 0, 0, 1024, &cfg.threads) ||
        !cli_opt_int(a, "session-ttl", cfg.session_ttl, 1, 31 * 24 * 3600, &cfg.session_ttl) ||
        !cli_runtime_config(a, &cfg)) {
        config_free(&cfg);
        return 2;
    }
    cfg.webhook_allow_private = cli_opt(a, "webhook-allow-private") != NULL;
    cli_block_stop_signals(&stop_signals);
    if (app_open(&cfg, &app, &err) || notify_remote_start(app->store)) {
        cli_error("%s", err.code ? err.message : "cannot listen to the database");
        goto out;
    }
    int created = accounts_bootstrap(app, key, password, &err);
    if (created < 0 || (created == 0 && err.code)) {
        cli_error("cannot create the first account: %s", err.message);
        goto out;
    }
    if (http_server_start(app, app->cfg.listen, app->cfg.threads, false, &srv, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    if (!app->cfg.node_url) app->cfg.node_url = http_server_url(srv, app->cfg.listen);
    if (webhook_workers_start(app, &webhooks, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    if (runner_pool_start(app, &runners, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    if (created == 1) {
        print_bootstrap_key(key, password, app->cfg.listen, http_server_port(srv));
        crypto_wipe(key, sizeof(key));
        crypto_wipe(password, sizeof(password));
    }
    log_info("serving", "listen=%s port=%d data=%s store=%s max_concurrent=%d runners=%d llm=%s",
             app->cfg.listen, http_server_port(srv), app->cfg.data_dir, app->store->ops->name,
             app->cfg.max_concurrent, app->cfg.runners,
             app->cfg.llm_model ? app->cfg.llm_model : "(per account)");
    if (!app->cfg.llm_model && app->cfg.runners > 0)
        log_info("no server-wide LLM: conversations of accounts without LLM settings will stop "
                 "with an error; start with --llm-model/--llm-base-url (and "
                 "CLOUDHANDS_LLM_API_KEY) or POST /api/settings",
                 NULL);
    cli_wait_for_stop_signal(&stop_signals);
    rc = 0;
out:
    /* No new requests first; then the runners hand their conversations back to the queue. */
    http_server_stop(srv);
    runner_pool_stop(runners);
    webhook_workers_stop(webhooks);
    app_close(app);
    config_free(&cfg);
    error_clear(&err);
    return rc;
}

const struct cli_command cmd_serve = {
    .name = "serve",
    .min_args = 0,
    .max_args = 0,
    .summary = "Serve the HTTP API (the OpenHands Cloud API) until SIGINT or SIGTERM.",
    .description = "On the first start with an empty database, creates the account \"admin\" and\n"
                   "prints its API key once. Data (database and secret.key) lives in --data.",
    .options = options,
    .exec = serve_exec,
};
