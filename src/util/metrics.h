/*
 * metrics: the process's counters for GET /metrics (Prometheus text format). Counters are
 * atomics updated where things happen (requests in http/server.c, model calls and sandbox starts
 * in agent/loop.c, the runner pool in agent/runner.c, webhook deliveries in core/webhooks.c);
 * metrics_render writes them all, plus what the caller measured at scrape time (conversations by
 * status, from the database). Names start with "cloudhands_"; labels have small, fixed value
 * sets (routes are the route table's patterns, never raw paths).
 */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stdint.h>

#include "util/buf.h"

enum metric {
    METRIC_LLM_CALLS_OK,
    METRIC_LLM_CALLS_ERROR,
    METRIC_LLM_PROMPT_TOKENS,
    METRIC_LLM_COMPLETION_TOKENS,
    METRIC_SANDBOX_STARTS_OK,
    METRIC_SANDBOX_STARTS_ERROR,
    METRIC_RUNS_STARTED,
    METRIC_WEBHOOK_DELIVERED,
    METRIC_WEBHOOK_ATTEMPT_FAILED,
    METRIC_WEBHOOK_GAVE_UP,
    METRIC_RUNNERS,      /* gauge: runner threads in this process */
    METRIC_RUNNERS_BUSY, /* gauge: runners running a conversation now */
    METRIC_COUNT
};

#define METRICS_MAX_ROUTES 128

void metrics_add(enum metric m, int64_t n);
void metrics_set(enum metric m, int64_t v);
/* One answered request: route_index into the route table (-1: no route matched), the status and
 * how long it took. */
void metrics_request(int route_index, unsigned status, double seconds);

/* What the caller knows at scrape time. */
struct metrics_scrape {
    const char *const *route_methods; /* per route index, NULL-terminated with route_patterns */
    const char *const *route_patterns;
    const char *const *conversation_statuses; /* names, NULL-terminated */
    const int64_t *conversation_counts;       /* per name; NULL: not known (database down) */
};
void metrics_render(const struct metrics_scrape *s, struct buf *out);

#endif
