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
    {"runners", "N",
     "conversations run at once by this process (default 8); 0 serves the API only and leaves "
     "conversations queued"},
    {"llm-model", "MODEL",
     "the LLM for accounts that set none, e.g. gpt-4o or anthropic/claude-sonnet-4-20250514 "
     "(env CLOUDHANDS_LLM_MODEL)"},
    {"llm-base-url", "URL",
     "the LLM's API, OpenAI-compatible or Anthropic (env CLOUDHANDS_LLM_BASE_URL)"},
    {"llm-api-key", "KEY",
     "the LLM's API key (env CLOUDHANDS_LLM_API_KEY, preferred: flags show in ps)"},
    {"max-iterations", "N", "agent steps per task for accounts that set none (default 100)"},
    {"no-change-timeout", "SECONDS",
     "a command that prints nothing new for this long returns to the agent (default 10)"},
    {"lease-seconds", "N",
     "a runner's claim on a conversation; after a crash, others resume it this long later "
     "(default 30)"},
    {"sandbox-network", NULL, "let the agent's sandbox reach the network (default: no network)"},
    {"default-git-provider", "NAME",
     "github, gitlab or git: the provider of a conversation's repository when the request names "
     "none (default github; env CLOUDHANDS_DEFAULT_GIT_PROVIDER)"},
    {"github-api-url", "URL",
     "GitHub's REST API, e.g. https://ghe.example.com/api/v3 for GitHub Enterprise (default "
     "https://api.github.com; env CLOUDHANDS_GITHUB_API_URL)"},
    {"github-url", "URL",
     "where GitHub serves git over HTTPS (default https://github.com; env "
     "CLOUDHANDS_GITHUB_URL)"},
    {"gitlab-url", "URL", "GitLab (default https://gitlab.com; env CLOUDHANDS_GITLAB_URL)"},
    {"git-url-template", "URL",
     "turns on the plain git provider: where {owner}/{repo} lives, e.g. "
     "https://git.example.com/{owner}/{repo}.git or file:///srv/git/{owner}/{repo}.git (env "
     "CLOUDHANDS_GIT_URL_TEMPLATE)"},
    {"github-token", "TOKEN",
     "a GitHub token for accounts that added none (env CLOUDHANDS_GITHUB_TOKEN, preferred: flags "
     "show in ps)"},
    {"gitlab-token", "TOKEN", "the same for GitLab (env CLOUDHANDS_GITLAB_TOKEN)"},
    {"git-token", "TOKEN",
     "the same for the git provider, as TOKEN or USER:PASSWORD (env CLOUDHANDS_GIT_TOKEN)"},
    {"git-clone-depth", "N",
     "history fetched into a workspace: the last N commits (default 1), 0 for all of it"},
    {"expose-provider-token", NULL,
     "give the agent's sandbox the account's token as GITHUB_TOKEN / GITLAB_TOKEN (default: the "
     "token never enters the sandbox; the server pushes)"},
    {"session-ttl", "SECONDS", "how long a web UI sign-in lasts (default 43200, 12 hours)"},
    {"webhook-allow-private", NULL,
     "let webhooks target loopback, private, link-local and other non-public addresses "
     "(default: refused when a webhook is created and again at each delivery, so that users "
     "cannot make the server call internal services)"},
    {"log-format", "FORMAT",
     "logfmt (default) or json: one line per request and per conversation state change on "
     "stderr (env CLOUDHANDS_LOG_FORMAT)"},
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
    int sig, rc = 1;

    if (!cli_config(a, &cfg)) return 2;
    if (!cli_opt_int(a, "max-concurrent", cfg.max_concurrent, 1, 1000000000, &cfg.max_concurrent) ||
        !cli_opt_int(a, "threads", 0, 0, 1024, &cfg.threads) ||
        !cli_opt_int(a, "runners", cfg.runners, 0, 1024, &cfg.runners) ||
        !cli_opt_int(a, "max-iterations", cfg.max_iterations, 1, 100000, &cfg.max_iterations) ||
        !cli_opt_int(a, "no-change-timeout", cfg.no_change_timeout, 1, 3600,
                     &cfg.no_change_timeout) ||
        !cli_opt_int(a, "lease-seconds", cfg.lease_seconds, 2, 3600, &cfg.lease_seconds) ||
        !cli_opt_int(a, "git-clone-depth", cfg.git_clone_depth, 0, 1000000, &cfg.git_clone_depth) ||
        !cli_opt_int(a, "session-ttl", cfg.session_ttl, 1, 31 * 24 * 3600, &cfg.session_ttl)) {
        config_free(&cfg);
        return 2;
    }
    cfg.sandbox_network = cli_opt(a, "sandbox-network") != NULL;
    cfg.webhook_allow_private = cli_opt(a, "webhook-allow-private") != NULL;
    const char *log_format = cli_opt(a, "log-format");
    if (!log_format) log_format = getenv("CLOUDHANDS_LOG_FORMAT");
    if (log_format && *log_format && strcmp(log_format, "json") != 0 &&
        strcmp(log_format, "logfmt") != 0) {
        cli_error("--log-format must be logfmt or json, not '%s'", log_format);
        config_free(&cfg);
        return 2;
    }
    log_set_format(log_format && strcmp(log_format, "json") == 0 ? LOG_JSON : LOG_LOGFMT);
    if (!git_provider_find(&cfg, NULL, &err)) {
        cli_error("--default-git-provider: %s", err.message);
        config_free(&cfg);
        error_clear(&err);
        return 2;
    }
    /* Signals are taken by sigwait() below; block them before any thread starts. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    umask(077); /* the database, secret.key and logs are the server's alone */

    if (app_open(&cfg, &app, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
    int created = accounts_bootstrap(app, key, password, &err);
    if (created < 0 || (created == 0 && err.code)) {
        cli_error("cannot create the first account: %s", err.message);
        goto out;
    }
    if (http_server_start(app, app->cfg.listen, app->cfg.threads, &srv, &err)) {
        cli_error("%s", err.message);
        goto out;
    }
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
    sigwait(&stop_signals, &sig);
    log_info("stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
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
