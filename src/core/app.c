/* app: opening the data directory, the secret and the store for a process; see app.h. */
#include "core/app.h"

#include "core/notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/fs.h"

int app_open(struct config *cfg, struct app **out, struct error *err)
{
    struct app *app = xcalloc(1, sizeof(*app));
    int rc, version = 0;
    app->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    *out = NULL;

    if ((rc = crypto_init())) {
        error_set(err, rc, "cannot initialise libsodium");
        goto fail;
    }
    if (fs_make_dirs(app->cfg.data_dir) < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot create data directory %s: %s", app->cfg.data_dir,
                       strerror(errno));
        goto fail;
    }
    if ((rc = crypto_load_server_secret(app->cfg.data_dir, app->secret, err))) goto fail;
    if ((rc = store_open(app->cfg.db_url, &app->store, err))) goto fail;
    if ((rc = app->store->ops->migrate(app->store, &version, err))) goto fail;
    *out = app;
    return 0;
fail:
    app_close(app);
    return rc;
}

void app_close(struct app *app)
{
    if (!app) return;
    notify_remote_stop();
    store_close(app->store);
    config_free(&app->cfg);
    crypto_wipe(app->secret, sizeof(app->secret));
    free(app);
}

void config_free(struct config *cfg)
{
    free(cfg->listen);
    free(cfg->data_dir);
    free(cfg->db_url);
    free(cfg->llm_model);
    free(cfg->llm_base_url);
    if (cfg->llm_api_key) crypto_wipe(cfg->llm_api_key, strlen(cfg->llm_api_key));
    free(cfg->llm_api_key);
    free(cfg->agent_binary);
    free(cfg->default_git_provider);
    free(cfg->github_api_url);
    free(cfg->github_url);
    free(cfg->gitlab_url);
    free(cfg->git_url_template);
    char **tokens[] = {&cfg->github_token, &cfg->gitlab_token, &cfg->git_token};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        if (*tokens[i]) crypto_wipe(*tokens[i], strlen(*tokens[i]));
        free(*tokens[i]);
    }
    memset(cfg, 0, sizeof(*cfg));
}
