/* service: liveness and health probes and the Prometheus metrics (no authentication). */
#include "api/api.h"

#include "util/metrics.h"

int api_alive(struct http_request *req, struct http_response *res, struct error *err)
{
    response_json(res, 200, json_pack("{s:s}", "status", "ok"));
    return 0;
}

/* "OK" once the store answers; 503 when it does not. */
int api_health(struct http_request *req, struct http_response *res, struct error *err)
{
    int64_t n;
    int rc = req->app->store->ops->account_count(req->app->store, &n, err);
    if (rc) return error_set(err, ERR_UNAVAILABLE, "database unavailable");
    response_json(res, 200, json_string("OK"));
    return 0;
}

/* GET /metrics: the process's counters (util/metrics.h) and, from the database, the
 * conversations by status (left out while the database does not answer). */
int api_metrics(struct http_request *req, struct http_response *res, struct error *err)
{
    (void)err;
    static const char *const statuses[] = {CONV_STARTING, CONV_RUNNING, CONV_STOPPED,
                                           CONV_ARCHIVED, CONV_ERROR,   NULL};
    const char *methods[METRICS_MAX_ROUTES + 1], *patterns[METRICS_MAX_ROUTES + 1];
    size_t n = 0;
    for (; api_routes[n].method && n < METRICS_MAX_ROUTES; n++) {
        methods[n] = api_routes[n].method;
        patterns[n] = api_routes[n].pattern;
    }
    methods[n] = patterns[n] = NULL;
    int64_t counts[5];
    struct error store_err = {0};
    bool known = req->app->store->ops->conversation_status_counts(req->app->store, statuses, counts,
                                                                  &store_err) == 0;
    error_clear(&store_err);
    struct metrics_scrape scrape = {.route_methods = methods,
                                    .route_patterns = patterns,
                                    .conversation_statuses = statuses,
                                    .conversation_counts = known ? counts : NULL};
    res->status = 200;
    metrics_render(&scrape, &res->body);
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
