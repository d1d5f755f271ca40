/* metrics: atomic counters and their Prometheus text rendering; see metrics.h. */
#include "util/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const unsigned statuses[] = {200, 201, 204, 302, 400, 401, 403, 404,
                                    405, 409, 413, 415, 422, 429, 500, 503};
#define NSTATUS      (sizeof(statuses) / sizeof(statuses[0]))
#define STATUS_OTHER NSTATUS /* one more slot */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   10};
#define NBUCKET (sizeof(buckets) / sizeof(buckets[0]))

/* index METRICS_MAX_ROUTES: requests no route matched */
static atomic_ullong requests[METRICS_MAX_ROUTES + 1][NSTATUS + 1];
static atomic_ullong latency[METRICS_MAX_ROUTES + 1][NBUCKET + 1]; /* +1: +Inf */
static atomic_ullong latency_sum_us[METRICS_MAX_ROUTES + 1];
static atomic_llong values[METRIC_COUNT];

void metrics_add(enum metric m, int64_t n)
{
    atomic_fetch_add_explicit(&values[m], n, memory_order_relaxed);
}

void metrics_set(enum metric m, int64_t v)
{
    atomic_store_explicit(&values[m], v, memory_order_relaxed);
}

void metrics_request(int route_index, unsigned status, double seconds)
{
    int r = route_index >= 0 && route_index < METRICS_MAX_ROUTES ? route_index : METRICS_MAX_ROUTES;
    size_t s = STATUS_OTHER;
    for (size_t i = 0; i < NSTATUS; i++)
        if (statuses[i] == status) s = i;
    atomic_fetch_add_explicit(&requests[r][s], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBUCKET && seconds > buckets[b]) b++;
    atomic_fetch_add_explicit(&latency[r][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_sum_us[r], (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

static unsigned long long load(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static long long value(enum metric m)
{
    return atomic_load_explicit(&values[m], memory_order_relaxed);
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The route's labels: method and pattern ("unmatched" for requests no route took). */
static void route_labels(const struct metrics_scrape *s, int r, struct buf *out)
{
    if (r == METRICS_MAX_ROUTES)
        buf_adds(out, "method=\"\",route=\"unmatched\"");
    else
        buf_addf(out, "method=\"%s\",route=\"%s\"", s->route_methods[r], s->route_patterns[r]);
}

void metrics_render(const struct metrics_scrape *s, struct buf *out)
{
    int nroutes = 0;
    while (s->route_patterns[nroutes] && nroutes < METRICS_MAX_ROUTES) nroutes++;
    struct buf labels = BUF_INIT;

    header(out, "cloudhands_http_requests_total", "counter",
           "HTTP requests answered, by route (the route table's pattern) and status.");
    for (int r = 0; r <= METRICS_MAX_ROUTES; r++) {
        if (r >= nroutes && r != METRICS_MAX_ROUTES) continue;
        buf_reset(&labels);
        route_labels(s, r, &labels);
        for (size_t i = 0; i <= NSTATUS; i++) {
            unsigned long long n = load(&requests[r][i]);
            if (!n) continue;
            if (i == STATUS_OTHER)
                buf_addf(out, "cloudhands_http_requests_total{%s,status=\"other\"} %llu\n",
                         labels.data, n);
            else
                buf_addf(out, "cloudhands_http_requests_total{%s,status=\"%u\"} %llu\n",
                         labels.data, statuses[i], n);
        }
    }

    header(out, "cloudhands_http_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer being queued, by route.");
    for (int r = 0; r <= METRICS_MAX_ROUTES; r++) {
        if (r >= nroutes && r != METRICS_MAX_ROUTES) continue;
        unsigned long long total = 0, cumulative = 0;
        for (size_t b = 0; b <= NBUCKET; b++) total += load(&latency[r][b]);
        if (!total) continue;
        buf_reset(&labels);
        route_labels(s, r, &labels);
        for (size_t b = 0; b <= NBUCKET; b++) {
            cumulative += load(&latency[r][b]);
            if (b < NBUCKET)
                buf_addf(out,
                         "cloudhands_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                         labels.data, buckets[b], cumulative);
            else
                buf_addf(out,
                         "cloudhands_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                         labels.data, cumulative);
        }
        buf_addf(out, "cloudhands_http_request_duration_seconds_sum{%s} %.6f\n", labels.data,
                 (double)load(&latency_sum_us[r]) / 1e6);
        buf_addf(out, "cloudhands_http_request_duration_seconds_count{%s} %llu\n", labels.data,
                 total);
    }
    buf_release(&labels);

    if (s->conversation_counts) {
        header(out, "cloudhands_conversations", "gauge",
               "Conversations in the database, by status (all accounts).");
        for (size_t i = 0; s->conversation_statuses[i]; i++)
            buf_addf(out, "cloudhands_conversations{status=\"%s\"} %lld\n",
                     s->conversation_statuses[i], (long long)s->conversation_counts[i]);
    }
    header(out, "cloudhands_runners", "gauge",
           "Runner threads of this process, by state (busy: running a conversation).");
    long long runners = value(METRIC_RUNNERS), busy = value(METRIC_RUNNERS_BUSY);
    buf_addf(out, "cloudhands_runners{state=\"busy\"} %lld\n", busy);
    buf_addf(out, "cloudhands_runners{state=\"idle\"} %lld\n", runners - busy);
    header(out, "cloudhands_runs_started_total", "counter",
           "Agent runs started by this process (a conversation's start or resume).");
    buf_addf(out, "cloudhands_runs_started_total %lld\n", value(METRIC_RUNS_STARTED));
    header(out, "cloudhands_llm_calls_total", "counter", "Calls to the model, by outcome.");
    buf_addf(out, "cloudhands_llm_calls_total{outcome=\"ok\"} %lld\n", value(METRIC_LLM_CALLS_OK));
    buf_addf(out, "cloudhands_llm_calls_total{outcome=\"error\"} %lld\n",
             value(METRIC_LLM_CALLS_ERROR));
    header(out, "cloudhands_llm_tokens_total", "counter", "Tokens the model read and wrote.");
    buf_addf(out, "cloudhands_llm_tokens_total{kind=\"prompt\"} %lld\n",
             value(METRIC_LLM_PROMPT_TOKENS));
    buf_addf(out, "cloudhands_llm_tokens_total{kind=\"completion\"} %lld\n",
             value(METRIC_LLM_COMPLETION_TOKENS));
    header(out, "cloudhands_sandbox_starts_total", "counter", "Sandboxes started, by outcome.");
    buf_addf(out, "cloudhands_sandbox_starts_total{outcome=\"ok\"} %lld\n",
             value(METRIC_SANDBOX_STARTS_OK));
    buf_addf(out, "cloudhands_sandbox_starts_total{outcome=\"error\"} %lld\n",
             value(METRIC_SANDBOX_STARTS_ERROR));
    header(out, "cloudhands_webhook_deliveries_total", "counter",
           "Webhook delivery attempts, by outcome (gave_up: a day of retries ran out).");
    buf_addf(out, "cloudhands_webhook_deliveries_total{outcome=\"delivered\"} %lld\n",
             value(METRIC_WEBHOOK_DELIVERED));
    buf_addf(out, "cloudhands_webhook_deliveries_total{outcome=\"failed_attempt\"} %lld\n",
             value(METRIC_WEBHOOK_ATTEMPT_FAILED));
    buf_addf(out, "cloudhands_webhook_deliveries_total{outcome=\"gave_up\"} %lld\n",
             value(METRIC_WEBHOOK_GAVE_UP));
    header(out, "cloudhands_build_info", "gauge", "The running version (the value is 1).");
    buf_addf(out, "cloudhands_build_info{version=\"%s\"} 1\n", CH_VERSION);
}
