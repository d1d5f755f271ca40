/*
 * api: the HTTP handlers, one file per resource. Handlers translate between HTTP and
 * core/: they read the request, call core/ or the store, and render JSON. They hold no
 * business rules. The table that maps routes to them is api/routes.c.
 */
#ifndef CH_API_H
#define CH_API_H

#include "http/http.h"

/* service.c */
int api_alive(struct http_request *req, struct http_response *res, struct error *err);
int api_health(struct http_request *req, struct http_response *res, struct error *err);

/* conversations.c */
int api_conversation_create(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_get(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_list(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_update(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_delete(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_stop(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_start(struct http_request *req, struct http_response *res, struct error *err);

/* events.c */
int api_event_list(struct http_request *req, struct http_response *res, struct error *err);

int api_event_post(struct http_request *req, struct http_response *res, struct error *err);
int api_event_stream(struct http_request *req, struct http_response *res, struct error *err);
int api_trajectory(struct http_request *req, struct http_response *res, struct error *err);
int api_conversation_message(struct http_request *req, struct http_response *res,
                             struct error *err);

/* files.c */
int api_list_files(struct http_request *req, struct http_response *res, struct error *err);
int api_select_file(struct http_request *req, struct http_response *res, struct error *err);

/* settings.c */
int api_settings_get(struct http_request *req, struct http_response *res, struct error *err);
int api_settings_post(struct http_request *req, struct http_response *res, struct error *err);
int api_add_git_providers(struct http_request *req, struct http_response *res, struct error *err);
int api_unset_provider_tokens(struct http_request *req, struct http_response *res,
                              struct error *err);
int api_metrics(struct http_request *req, struct http_response *res, struct error *err);
int api_login(struct http_request *req, struct http_response *res, struct error *err);
int api_logout(struct http_request *req, struct http_response *res, struct error *err);
int api_session(struct http_request *req, struct http_response *res, struct error *err);
int api_web_page(struct http_request *req, struct http_response *res, struct error *err);
int api_web_asset(struct http_request *req, struct http_response *res, struct error *err);

/* docs.c: the API reference (/openapi.json, /swagger-ui/) */
int api_openapi(struct http_request *req, struct http_response *res, struct error *err);
int api_swagger_ui(struct http_request *req, struct http_response *res, struct error *err);
int api_swagger_ui_file(struct http_request *req, struct http_response *res, struct error *err);

int api_git_changes(struct http_request *req, struct http_response *res, struct error *err);
int api_git_diff(struct http_request *req, struct http_response *res, struct error *err);
int api_zip_directory(struct http_request *req, struct http_response *res, struct error *err);
int api_options_models(struct http_request *req, struct http_response *res, struct error *err);

/* secrets.c */
int api_secret_list(struct http_request *req, struct http_response *res, struct error *err);
int api_secret_create(struct http_request *req, struct http_response *res, struct error *err);
int api_secret_update(struct http_request *req, struct http_response *res, struct error *err);
int api_secret_delete(struct http_request *req, struct http_response *res, struct error *err);

/* keys.c */
int api_key_create(struct http_request *req, struct http_response *res, struct error *err);
int api_key_list(struct http_request *req, struct http_response *res, struct error *err);
int api_key_current(struct http_request *req, struct http_response *res, struct error *err);
int api_key_delete(struct http_request *req, struct http_response *res, struct error *err);

/* webhooks.c */
int api_webhook_create(struct http_request *req, struct http_response *res, struct error *err);
int api_webhook_list(struct http_request *req, struct http_response *res, struct error *err);
int api_webhook_get(struct http_request *req, struct http_response *res, struct error *err);
int api_webhook_delete(struct http_request *req, struct http_response *res, struct error *err);
int api_webhook_deliveries(struct http_request *req, struct http_response *res, struct error *err);

/* Checks that req->params[0] names a conversation of the caller: ERR_NOT_FOUND (404) when it is
 * malformed, missing or another account's — the three answer alike. */
int caller_conversation(struct http_request *req, struct error *err);
/* Parses an integer query parameter within [min, max]; absent → *out = dflt. ERR_INVALID
 * naming "query.<name>" otherwise. */
int query_int(struct http_request *req, const char *name, long long dflt, long long min,
              long long max, long long *out, struct error *err);

#endif
