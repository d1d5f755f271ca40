/* app: opening the data directory, the secret and the store for a process; see app.h. */
#include "core/app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *path, struct error *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) goto fail;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST) goto fail;
    free(p);
    return 0;
fail:
    error_set(err, ERR_INTERNAL, "cannot create data directory %s: %s", path, strerror(errno));
    free(p);
    return ERR_INTERNAL;
}

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
    if ((rc = make_dirs(app->cfg.data_dir, err))) goto fail;
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
    memset(cfg, 0, sizeof(*cfg));
}
