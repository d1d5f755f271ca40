/*
 * app: the process-wide state every command and request handler shares: the resolved
 * configuration, the open store and the server secret. One `struct app` per process,
 * created by app_open() and read-only afterwards (the store is thread-safe).
 */
#ifndef CH_APP_H
#define CH_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/crypto.h"
#include "util/error.h"

#define DEFAULT_LISTEN            "127.0.0.1:3000"
#define DEFAULT_DATA_DIR          "./data"
#define DEFAULT_MAX_CONCURRENT    10
#define DEFAULT_RUNNERS           8
#define DEFAULT_LEASE_SECONDS     30
#define DEFAULT_MAX_ITERATIONS    100
#define DEFAULT_NO_CHANGE_TIMEOUT 10
#define DEFAULT_GIT_PROVIDER      "github"
#define DEFAULT_GITHUB_API_URL    "https://api.github.com"
#define DEFAULT_GITHUB_URL        "https://github.com"
#define DEFAULT_GITLAB_URL        "https://gitlab.com"
#define DEFAULT_GIT_CLONE_DEPTH   1
#define DEFAULT_SESSION_TTL       43200

/* Settings resolved from defaults, then the environment, then flags (flags win). */
struct config {
    char *listen;   /* "HOST:PORT" */
    char *data_dir; /* holds secret.key and, by default, cloudhands.db */
    char *db_url;   /* "sqlite:PATH", a path, or later "postgres://..." */
    int max_concurrent;
    int threads; /* HTTP worker threads; 0 = number of cores */

    /* The agent runtime (serve). */
    int runners;           /* runner threads; 0 serves the API only */
    int lease_seconds;     /* how long a runner's claim lasts without renewal */
    int no_change_timeout; /* bash soft timeout, seconds */
    int max_iterations;    /* default for accounts that set none */
    bool sandbox_network;  /* let sandboxes reach the network */
    char *llm_model;       /* server-wide LLM defaults (accounts may override) */
    char *llm_base_url;
    char *llm_api_key;
    char *agent_binary; /* this executable, mounted into sandboxes */

    /* Git providers (src/git/provider.h). */
    char *default_git_provider; /* for conversations that name none: "github" */
    char *github_api_url;       /* REST API, default https://api.github.com */
    char *github_url;           /* git over HTTPS, default https://github.com */
    char *gitlab_url;           /* web, API (/api/v4) and git, default https://gitlab.com */
    char *git_url_template;     /* the "git" provider: ".../{owner}/{repo}.git"; NULL = off */
    char *github_token;         /* server-wide tokens for accounts that set none */
    char *gitlab_token;
    char *git_token;
    bool expose_provider_token; /* the sandbox sees GITHUB_TOKEN / GITLAB_TOKEN */
    int git_clone_depth;        /* --depth of the workspace clone; 0 = full history */

    int session_ttl; /* seconds a web UI session lasts */

    bool webhook_allow_private; /* webhooks may target loopback and private addresses */

    /* Several nodes (docs/DEPLOYMENT.md): where other nodes reach this one's workspaces
     * ("http://host:port"); NULL: derived from the listen address, or none (a worker without
     * --listen). */
    char *node_url;
};

#define NODE_ID_LEN 32 /* hex characters */

struct app {
    struct config cfg;
    struct store *store;
    uint8_t secret[SERVER_SECRET_LEN];
    /* This data directory's name among the nodes sharing the database (DATA/node.id, made on
     * the first start): the home of the workspaces under DATA/workspaces. */
    char node_id[NODE_ID_LEN + 1];
};

/* Creates the data directory (0700) if needed, loads or creates the server secret and the node
 * id, opens the store, applies migrations and checks that the database was set up with the same
 * secret.key (ERR_CONFLICT, saying what to do, when not). `cfg` is moved into the app (the caller
 * must not free it). */
int app_open(struct config *cfg, struct app **out, struct error *err);
void app_close(struct app *app);
void config_free(struct config *cfg);

#endif
