/*
 * routes: the one route table. Adding an endpoint is adding a row here, a handler
 * in the resource's file and its entry in api/openapi.json (tests/api/test_openapi.py checks
 * that the two list the same routes). Order matters only between rows whose patterns could match
 * the same path: literal rows come before `{param}` rows. Flags (http.h): ROUTE_WORKSPACE rows are
 * answered by the node holding the workspace, ROUTE_ON_WORKERS rows are all a worker serves.
 */
#include "api/api.h"

const struct route api_routes[] = {
    {"GET", "/", api_web_page, ROUTE_PUBLIC, 0},
    {"GET", "/login", api_web_page, ROUTE_PUBLIC, 0},
    {"GET", "/settings", api_web_page, ROUTE_PUBLIC, 0},
    {"GET", "/conversations", api_web_page, ROUTE_PUBLIC, 0},
    {"GET", "/conversations/{id}", api_web_page, ROUTE_PUBLIC, 0},
    {"GET", "/assets/{file}", api_web_asset, ROUTE_PUBLIC, 0},

    {"GET", "/alive", api_alive, ROUTE_PUBLIC, ROUTE_ON_WORKERS},
    {"GET", "/health", api_health, ROUTE_PUBLIC, ROUTE_ON_WORKERS},
    {"GET", "/metrics", api_metrics, ROUTE_PUBLIC, ROUTE_ON_WORKERS},
    {"GET", "/openapi.json", api_openapi, ROUTE_PUBLIC, 0},
    {"GET", "/swagger-ui/", api_swagger_ui, ROUTE_PUBLIC, 0},
    {"GET", "/swagger-ui/{file}", api_swagger_ui_file, ROUTE_PUBLIC, 0},

    {"POST", "/api/conversations", api_conversation_create, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations", api_conversation_list, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations/{id}", api_conversation_get, ROUTE_ACCOUNT, 0},
    {"PATCH", "/api/conversations/{id}", api_conversation_update, ROUTE_ACCOUNT, 0},
    {"DELETE", "/api/conversations/{id}", api_conversation_delete, ROUTE_ACCOUNT, 0},
    {"POST", "/api/conversations/{id}/stop", api_conversation_stop, ROUTE_ACCOUNT, 0},
    {"POST", "/api/conversations/{id}/start", api_conversation_start, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations/{id}/events", api_event_list, ROUTE_ACCOUNT, 0},
    {"POST", "/api/conversations/{id}/events", api_event_post, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations/{id}/events/stream", api_event_stream, ROUTE_ACCOUNT, 0},
    {"POST", "/api/conversations/{id}/message", api_conversation_message, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations/{id}/trajectory", api_trajectory, ROUTE_ACCOUNT, 0},
    {"GET", "/api/conversations/{id}/list-files", api_list_files, ROUTE_ACCOUNT,
     ROUTE_WORKSPACE | ROUTE_ON_WORKERS},
    {"GET", "/api/conversations/{id}/select-file", api_select_file, ROUTE_ACCOUNT,
     ROUTE_WORKSPACE | ROUTE_ON_WORKERS},
    {"GET", "/api/conversations/{id}/git/changes", api_git_changes, ROUTE_ACCOUNT,
     ROUTE_WORKSPACE | ROUTE_ON_WORKERS},
    {"GET", "/api/conversations/{id}/git/diff", api_git_diff, ROUTE_ACCOUNT,
     ROUTE_WORKSPACE | ROUTE_ON_WORKERS},
    {"GET", "/api/conversations/{id}/zip-directory", api_zip_directory, ROUTE_ACCOUNT,
     ROUTE_WORKSPACE | ROUTE_ON_WORKERS},

    {"GET", "/api/settings", api_settings_get, ROUTE_ACCOUNT, 0},
    {"POST", "/api/settings", api_settings_post, ROUTE_ACCOUNT, 0},
    {"GET", "/api/options/models", api_options_models, ROUTE_ACCOUNT, 0},
    {"POST", "/api/add-git-providers", api_add_git_providers, ROUTE_ACCOUNT, 0},
    {"POST", "/api/unset-provider-tokens", api_unset_provider_tokens, ROUTE_ACCOUNT, 0},

    {"GET", "/api/secrets", api_secret_list, ROUTE_ACCOUNT, 0},
    {"POST", "/api/secrets", api_secret_create, ROUTE_ACCOUNT, 0},
    {"PUT", "/api/secrets/{id}", api_secret_update, ROUTE_ACCOUNT, 0},
    {"DELETE", "/api/secrets/{id}", api_secret_delete, ROUTE_ACCOUNT, 0},

    {"POST", "/api/auth/login", api_login, ROUTE_PUBLIC, 0},
    {"POST", "/api/auth/logout", api_logout, ROUTE_ACCOUNT, 0},
    {"GET", "/api/auth/session", api_session, ROUTE_ACCOUNT, 0},

    {"POST", "/api/keys", api_key_create, ROUTE_ACCOUNT, 0},
    {"GET", "/api/keys", api_key_list, ROUTE_ACCOUNT, 0},
    {"GET", "/api/keys/current", api_key_current, ROUTE_ACCOUNT, 0},
    {"DELETE", "/api/keys/{id}", api_key_delete, ROUTE_ACCOUNT, 0},

    {"POST", "/api/webhooks", api_webhook_create, ROUTE_ACCOUNT, 0},
    {"GET", "/api/webhooks", api_webhook_list, ROUTE_ACCOUNT, 0},
    {"GET", "/api/webhooks/{id}", api_webhook_get, ROUTE_ACCOUNT, 0},
    {"DELETE", "/api/webhooks/{id}", api_webhook_delete, ROUTE_ACCOUNT, 0},
    {"GET", "/api/webhooks/{id}/deliveries", api_webhook_deliveries, ROUTE_ACCOUNT, 0},

    {NULL, NULL, NULL, ROUTE_PUBLIC, 0},
};
