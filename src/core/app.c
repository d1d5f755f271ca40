/* app: opening the data directory, the secret and the store for a process; see app.h. */
#include "core/app.h"

#include "core/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

/* DATA/node.id: NODE_ID_LEN hex characters, made once per data directory. */
static int load_node_id(struct app *app, struct error *err)
{
    struct buf path = BUF_INIT, text = BUF_INIT;
    buf_addf(&path, "%s/node.id", app->cfg.data_dir);
    uint8_t rnd[NODE_ID_LEN / 2];
    crypto_random(rnd, sizeof(rnd));
    crypto_hex(rnd, sizeof(rnd), app->node_id);
    int rc = fs_create_once(path.data, app->node_id, NODE_ID_LEN, err);
    if (rc == 1) {
        int fd = open(path.data, O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? error_set(err, ERR_INTERNAL, "cannot read %s: %s", path.data, strerror(errno))
                    : fs_read_fd(fd, NODE_ID_LEN + 1, &text, err);
        if (fd >= 0) close(fd);
        if (!rc && text.len != NODE_ID_LEN)
            rc = error_set(err, ERR_INTERNAL,
                           "%s is damaged (it must hold %d hex characters): delete it, and this "
                           "node's workspaces under %s/workspaces",
                           path.data, NODE_ID_LEN, app->cfg.data_dir);
        if (!rc) memcpy(app->node_id, text.data, NODE_ID_LEN + 1);
    }
    buf_release(&path);
    buf_release(&text);
    return rc;
}

/* Every process sharing the database must hold the same secret.key, or keys, sessions and sealed
 * tokens written by one are garbage to another: the first start records a check value of the
 * key (a keyed hash: it tells nothing about the key) and later starts compare. */
static int check_secret(struct app *app, struct error *err)
{
    static const char label[] = "cloudhands secret.key check";
    char mine[KEYED_HASH_HEX];
    char *stored = NULL;
    crypto_keyed_hash_hex(app->secret, label, sizeof(label) - 1, mine);
    int rc = app->store->ops->cluster_value(app->store, "secret_key_check", mine, &stored, err);
    if (!rc && strcmp(stored, mine) != 0)
        rc = error_set(err, ERR_CONFLICT,
                       "%s/secret.key is not the key this database was set up with: every node "
                       "sharing a database needs the same secret.key. Copy it from a node that "
                       "runs (mode 0600), or point --db at this node's own database",
                       app->cfg.data_dir);
    free(stored);
    return rc;
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
    if (fs_make_dirs(app->cfg.data_dir) < 0) {
        rc = error_set(err, ERR_INTERNAL, "cannot create data directory %s: %s", app->cfg.data_dir,
                       strerror(errno));
        goto fail;
    }
    if ((rc = crypto_load_server_secret(app->cfg.data_dir, app->secret, err))) goto fail;
    if ((rc = load_node_id(app, err))) goto fail;
    if ((rc = store_open(app->cfg.db_url, &app->store, err))) goto fail;
    if ((rc = app->store->ops->migrate(app->store, &version, err))) goto fail;
    if ((rc = check_secret(app, err))) goto fail;
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
    free(cfg->node_url);
    char **tokens[] = {&cfg->github_token, &cfg->gitlab_token, &cfg->git_token};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        if (*tokens[i]) crypto_wipe(*tokens[i], strlen(*tokens[i]));
        free(*tokens[i]);
    }
    memset(cfg, 0, sizeof(*cfg));
}
