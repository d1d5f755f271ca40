/* runner: claiming, running and heartbeating conversations; see runner.h. */
#include "agent/runner.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/loop.h"
#include "core/conversations.h"
#include "core/notify.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define IDLE_POLL_MS 1000 /* claim again at least this often, notifications or not */

struct runner_pool {
    struct app *app;
    int n;
    pthread_t *threads;
    pthread_t heartbeat;
    bool heartbeat_started;
    atomic_bool stopping;
    pthread_mutex_t mu;      /* guards runs[] */
    struct agent_run **runs; /* runs[i]: what thread i runs now, or NULL */
    char id[48];             /* this process's runner id prefix */
    /* Conversations stopped or deleted (maybe on another node) whose workspace here may be
     * left to remove, guarded by mu; sweep: look at every workspace (at start, or after more
     * stops than fit). */
    char (*stopped)[33];
    size_t n_stopped;
    bool sweep;
    /* Held while a workspace is removed, and while a claimed conversation is entered in runs[]:
     * a workspace is never removed under a run that has started. */
    pthread_mutex_t workspace_mu;
};

#define STOPPED_MAX       256
#define SWEEP_EVERY_BEATS 30 /* heartbeats (a third of a lease each): 5 minutes by default */

struct thread_arg {
    struct runner_pool *pool;
    int index;
};

static int64_t lease_us(const struct runner_pool *pool)
{
    return (int64_t)pool->app->cfg.lease_seconds * USEC_PER_SEC;
}

static int64_t lease_until(const struct runner_pool *pool)
{
    return time_now_us() + lease_us(pool);
}

/* Removes this node's copy of conversation `id` when the conversation is gone, or has moved to
 * another node (this one was busy or down when it was to run again). */
static bool running_here(struct runner_pool *pool, const char *id)
{
    bool running = false;
    pthread_mutex_lock(&pool->mu);
    for (int i = 0; i < pool->n && !running; i++)
        running = pool->runs[i] && strcmp(pool->runs[i]->conv.id, id) == 0;
    pthread_mutex_unlock(&pool->mu);
    return running;
}

static void remove_if_gone(struct runner_pool *pool, const char *id)
{
    struct app *app = pool->app;
    struct buf ws = BUF_INIT;
    struct conversation c;
    struct error err = {0};
    struct stat st;
    pthread_mutex_lock(&pool->workspace_mu);
    if (running_here(pool, id)) {
        pthread_mutex_unlock(&pool->workspace_mu);
        return;
    }
    conversation_workspace(app, id, &ws);
    size_t len = ws.len;
    bool here = stat(ws.data, &st) == 0;
    buf_adds(&ws, ".git");
    here = here || stat(ws.data, &st) == 0;
    ws.len = len;
    buf_adds(&ws, ".log");
    here = here || stat(ws.data, &st) == 0;
    buf_release(&ws);
    int rc = here ? app->store->ops->conversation_get(app->store, 0, id, &c, &err) : ERR_INTERNAL;
    if (rc == 0 && c.node && strcmp(c.node, app->node_id) != 0) {
        log_info("removing the workspace of a conversation that moved", "conversation=%s node=%s",
                 id, c.node);
        conversation_workspace_remove(app, id);
    } else if (rc == ERR_NOT_FOUND) {
        log_info("removing the workspace of a deleted conversation", "conversation=%s", id);
        conversation_workspace_remove(app, id);
    }
    if (rc == 0) conversation_free(&c);
    error_clear(&err);
    pthread_mutex_unlock(&pool->workspace_mu);
}

/* The workspaces of conversations that are gone: those named by stop signals since the last
 * call, or all of them in a sweep. */
static void remove_deleted_workspaces(struct runner_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    char(*ids)[33] = pool->stopped;
    size_t n = pool->n_stopped;
    bool sweep = pool->sweep;
    pool->stopped = NULL;
    pool->n_stopped = 0;
    pool->sweep = false;
    pthread_mutex_unlock(&pool->mu);
    for (size_t i = 0; i < n; i++) remove_if_gone(pool, ids[i]);
    free(ids);
    if (!sweep) return;
    struct buf dir = BUF_INIT;
    buf_addf(&dir, "%s/workspaces", pool->app->cfg.data_dir);
    DIR *d = opendir(dir.data);
    buf_release(&dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char id[33];
        if (strlen(e->d_name) < 32) continue;
        memcpy(id, e->d_name, 32);
        id[32] = '\0';
        if (conversation_id_valid(id) &&
            (!e->d_name[32] || !strcmp(e->d_name + 32, ".git") || !strcmp(e->d_name + 32, ".log")))
            remove_if_gone(pool, id);
    }
    if (d) closedir(d);
}

/* Tells the other nodes that this one is alive and where its workspaces are served. */
static void node_seen(struct runner_pool *pool)
{
    struct app *app = pool->app;
    struct error err = {0};
    if (app->store->ops->node_seen(app->store, app->node_id, app->cfg.node_url, lease_until(pool),
                                   &err))
        log_error("cannot record this node as alive", "error=\"%s\"", err.message);
    error_clear(&err);
}

static void run_one(struct runner_pool *pool, int index, struct conversation *conv)
{
    /* It ran on another node since it last ran here: a copy here is out of date. */
    bool moved = conv->node && strcmp(conv->node, pool->app->node_id) != 0;
    struct agent_run *r = xcalloc(1, sizeof(*r));
    r->app = pool->app;
    r->conv = *conv; /* takes ownership of the strings */
    snprintf(r->runner, sizeof(r->runner), "%s-%d", pool->id, index);
    atomic_init(&r->cancel, RUN_GOING);
    r->renewed_at = time_now_us();
    pthread_mutex_init(&r->mu, NULL);

    pthread_mutex_lock(&pool->workspace_mu);
    pthread_mutex_lock(&pool->mu);
    pool->runs[index] = r;
    bool stopping = atomic_load(&pool->stopping);
    pthread_mutex_unlock(&pool->mu);
    if (moved) conversation_workspace_remove(pool->app, r->conv.id);
    pthread_mutex_unlock(&pool->workspace_mu);
    if (stopping) agent_run_cancel(r, RUN_SHUTDOWN);

    log_info("conversation claimed", "conversation=%s runner=%s", r->conv.id, r->runner);
    metrics_add(METRIC_RUNNERS_BUSY, 1);
    agent_run(r);
    metrics_add(METRIC_RUNNERS_BUSY, -1);

    pthread_mutex_lock(&pool->mu);
    pool->runs[index] = NULL;
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_destroy(&r->mu);
    conversation_free(&r->conv);
    free(r);
}

static void *runner_thread(void *p)
{
    struct thread_arg *arg = p;
    struct runner_pool *pool = arg->pool;
    int index = arg->index;
    char runner[64];
    free(arg);
    snprintf(runner, sizeof(runner), "%s-%d", pool->id, index);

    while (!atomic_load(&pool->stopping)) {
        uint64_t seen = notify_seq(NOTIFY_WORK);
        struct conversation conv;
        struct error err = {0};
        int64_t now = time_now_us();
        int rc = pool->app->store->ops->conversation_claim(
            pool->app->store, runner, pool->app->node_id, now, now + lease_us(pool),
            now - lease_us(pool), &conv, &err);
        if (rc == 0) {
            run_one(pool, index, &conv);
        } else {
            if (rc != ERR_NOT_FOUND)
                log_error("cannot claim conversations", "runner=%s error=\"%s\"", runner,
                          err.message);
            notify_wait(NOTIFY_WORK, seen, IDLE_POLL_MS);
        }
        error_clear(&err);
    }
    return NULL;
}

/* Renews the leases of running conversations every third of a lease; a renewal refused means
 * the conversation is no longer this runner's to run. */
static void *heartbeat_thread(void *p)
{
    struct runner_pool *pool = p;
    int period_ms = pool->app->cfg.lease_seconds * 1000 / 3;
    for (unsigned beat = 1; !atomic_load(&pool->stopping); beat++) {
        uint64_t seen = notify_seq(NOTIFY_WORK);
        node_seen(pool);
        if (beat % SWEEP_EVERY_BEATS == 0) {
            pthread_mutex_lock(&pool->mu);
            pool->sweep = true;
            pthread_mutex_unlock(&pool->mu);
        }
        remove_deleted_workspaces(pool);
        pthread_mutex_lock(&pool->mu);
        for (int i = 0; i < pool->n; i++) {
            struct agent_run *r = pool->runs[i];
            if (!r) continue;
            struct error err = {0};
            int rc = pool->app->store->ops->conversation_renew(pool->app->store, r->conv.id,
                                                               r->runner, lease_until(pool), &err);
            int64_t now = time_now_us();
            if (rc == 0) {
                r->renewed_at = now;
            } else if (rc == ERR_CONFLICT) {
                agent_run_cancel(r, RUN_STOPPED);
            } else if (now - r->renewed_at >=
                       (int64_t)pool->app->cfg.lease_seconds * USEC_PER_SEC) {
                /* The database could not renew the lease in time (an outage): another process
                 * may claim the conversation now, so this one must stop working on it. */
                log_info("lease expired unrenewed; giving the conversation up",
                         "conversation=%s error=\"%s\"", r->conv.id, err.message);
                agent_run_cancel(r, RUN_SHUTDOWN);
            }
            error_clear(&err);
        }
        pthread_mutex_unlock(&pool->mu);
        /* Sleep a period, waking early only to notice shutdown. */
        int64_t until = time_now_us() + (int64_t)period_ms * 1000;
        while (!atomic_load(&pool->stopping) && time_now_us() < until)
            seen = notify_wait(NOTIFY_WORK, seen, 200);
    }
    return NULL;
}

/* NOTIFY_STOP: the conversation was stopped or deleted; kill its sandbox now, and let the
 * heartbeat thread see whether its workspace here is to go. */
static void on_stop(void *ctx, enum notify_kind kind, const char *conversation_id)
{
    struct runner_pool *pool = ctx;
    if (!conversation_id) return;
    pthread_mutex_lock(&pool->mu);
    if (pool->n_stopped == STOPPED_MAX) {
        pool->sweep = true;
    } else if (conversation_id_valid(conversation_id)) {
        if (!pool->stopped) pool->stopped = xmalloc(STOPPED_MAX * sizeof(*pool->stopped));
        memcpy(pool->stopped[pool->n_stopped++], conversation_id, 33);
    }
    for (int i = 0; i < pool->n; i++) {
        struct agent_run *r = pool->runs[i];
        if (r && strcmp(r->conv.id, conversation_id) == 0) agent_run_cancel(r, RUN_STOPPED);
    }
    pthread_mutex_unlock(&pool->mu);
}

int runner_pool_start(struct app *app, struct runner_pool **out, struct error *err)
{
    struct runner_pool *pool = xcalloc(1, sizeof(*pool));
    char host[32] = "";
    pool->app = app;
    pool->n = app->cfg.runners;
    gethostname(host, sizeof(host) - 1);
    uint8_t rnd[4];
    crypto_random(rnd, sizeof(rnd));
    char hex[9];
    crypto_hex(rnd, sizeof(rnd), hex);
    snprintf(pool->id, sizeof(pool->id), "%.20s-%d-%s", host, (int)getpid(), hex);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_mutex_init(&pool->workspace_mu, NULL);
    atomic_init(&pool->stopping, false);
    pool->sweep = true; /* deleted while this node was down */
    *out = pool;
    if (pool->n == 0) return 0;

    node_seen(pool);
    pool->runs = xcalloc((size_t)pool->n, sizeof(*pool->runs));
    pool->threads = xcalloc((size_t)pool->n, sizeof(*pool->threads));
    notify_subscribe(NOTIFY_STOP, on_stop, pool);
    for (int i = 0; i < pool->n; i++) {
        struct thread_arg *arg = xmalloc(sizeof(*arg));
        *arg = (struct thread_arg){pool, i};
        if (pthread_create(&pool->threads[i], NULL, runner_thread, arg) != 0) {
            free(arg);
            pool->n = i;
            runner_pool_stop(pool);
            *out = NULL;
            return error_set(err, ERR_INTERNAL, "cannot start runner threads");
        }
    }
    pool->heartbeat_started = pthread_create(&pool->heartbeat, NULL, heartbeat_thread, pool) == 0;
    metrics_set(METRIC_RUNNERS, pool->n);
    return 0;
}

void runner_pool_stop(struct runner_pool *pool)
{
    if (!pool) return;
    atomic_store(&pool->stopping, true);
    if (pool->n > 0) {
        pthread_mutex_lock(&pool->mu);
        for (int i = 0; i < pool->n; i++)
            if (pool->runs[i]) agent_run_cancel(pool->runs[i], RUN_SHUTDOWN);
        pthread_mutex_unlock(&pool->mu);
        notify_publish(NOTIFY_WORK, NULL); /* wake idle runners */
        for (int i = 0; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
        if (pool->heartbeat_started) pthread_join(pool->heartbeat, NULL);
        notify_unsubscribe(NOTIFY_STOP, on_stop, pool);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->workspace_mu);
    free(pool->runs);
    free(pool->threads);
    free(pool->stopped);
    free(pool);
}
