/* service: liveness and health probes (no authentication). */
#include "api/api.h"

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
