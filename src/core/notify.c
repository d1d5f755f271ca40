/* notify: subscriber lists and a sequence counter under one mutex; see notify.h. */
#include "core/notify.h"

#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define MAX_SUBSCRIBERS 16

struct subscriber {
    notify_fn fn;
    void *ctx;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[NOTIFY_KINDS];
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static struct subscriber subs[NOTIFY_KINDS][MAX_SUBSCRIBERS];
static uint64_t seq[NOTIFY_KINDS];

/* The condition variable waits on the monotonic clock, so wall-clock jumps do not matter. */
static void init_cv(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (int k = 0; k < NOTIFY_KINDS; k++) pthread_cond_init(&cv[k], &attr);
    pthread_condattr_destroy(&attr);
}

void notify_subscribe(enum notify_kind kind, notify_fn fn, void *ctx)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_SUBSCRIBERS; i++) {
        if (!subs[kind][i].fn) {
            subs[kind][i] = (struct subscriber){fn, ctx};
            break;
        }
    }
    pthread_mutex_unlock(&mu);
}

void notify_unsubscribe(enum notify_kind kind, notify_fn fn, void *ctx)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_SUBSCRIBERS; i++)
        if (subs[kind][i].fn == fn && subs[kind][i].ctx == ctx)
            subs[kind][i] = (struct subscriber){0};
    pthread_mutex_unlock(&mu);
}

static struct store *remote; /* set while signals cross processes */
static pthread_mutex_t remote_mu = PTHREAD_MUTEX_INITIALIZER;

static void deliver_local(enum notify_kind kind, const char *conversation_id);

void notify_publish(enum notify_kind kind, const char *conversation_id)
{
    deliver_local(kind, conversation_id);
    pthread_mutex_lock(&remote_mu);
    struct store *s = remote;
    pthread_mutex_unlock(&remote_mu);
    if (s) s->ops->publish(s, (int)kind, conversation_id, NULL);
}

/* What another process published: the same wake-ups here, without sending it back. A kind of
 * -1 (the listener reconnected, signals may be lost) wakes every kind. */
static void from_remote(void *ctx, int kind, const char *id)
{
    (void)ctx;
    if (kind >= 0 && kind < NOTIFY_KINDS) {
        deliver_local((enum notify_kind)kind, id);
        return;
    }
    for (int k = 0; k < NOTIFY_KINDS; k++)
        if (k != NOTIFY_STOP) deliver_local((enum notify_kind)k, NULL);
}

int notify_remote_start(struct store *s)
{
    if (!s->ops->publish || !s->ops->listen) return 0;
    int rc = s->ops->listen(s, from_remote, NULL, NULL);
    if (rc) return rc;
    pthread_mutex_lock(&remote_mu);
    remote = s;
    pthread_mutex_unlock(&remote_mu);
    return 0;
}

void notify_remote_stop(void)
{
    pthread_mutex_lock(&remote_mu);
    remote = NULL;
    pthread_mutex_unlock(&remote_mu);
}

static void deliver_local(enum notify_kind kind, const char *conversation_id)
{
    struct subscriber copy[MAX_SUBSCRIBERS];
    pthread_once(&cv_once, init_cv);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_SUBSCRIBERS; i++) copy[i] = subs[kind][i];
    seq[kind]++;
    pthread_cond_broadcast(&cv[kind]);
    pthread_mutex_unlock(&mu);
    /* Outside the lock: a subscriber may publish in turn. */
    for (int i = 0; i < MAX_SUBSCRIBERS; i++)
        if (copy[i].fn) copy[i].fn(copy[i].ctx, kind, conversation_id);
}

uint64_t notify_seq(enum notify_kind kind)
{
    pthread_mutex_lock(&mu);
    uint64_t v = seq[kind];
    pthread_mutex_unlock(&mu);
    return v;
}

uint64_t notify_wait(enum notify_kind kind, uint64_t seen, int timeout_ms)
{
    struct timespec deadline;
    pthread_once(&cv_once, init_cv);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (seq[kind] == seen)
        if (pthread_cond_timedwait(&cv[kind], &mu, &deadline) == ETIMEDOUT) break;
    uint64_t v = seq[kind];
    pthread_mutex_unlock(&mu);
    return v;
}
