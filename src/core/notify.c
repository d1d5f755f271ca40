/* notify: subscriber lists and a sequence counter under one mutex; see notify.h. */
#include "core/notify.h"

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

void notify_publish(enum notify_kind kind, const char *conversation_id)
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
