/*
 * routes: the one route table. Adding an endpoint is adding a row here, a handler
 * in the resource's file and its entry in api/openapi.json (tests/api/test_openapi.py checks
 * that the two list the same routes). Order matters only between rows whose patterns could match
 * the same path: literal rows come before `{param}` rows.
 */
#include "api/api.h"

const struct route api_routes[] = {
    {"GET", "/", api_web_page, ROUTE_PUBLIC},
    {"GET", "/login", api_web_page, ROUTE_PUBLIC},
    {"GET", "/settings", api_web_page, ROUTE_PUBLIC},
    {"GET", "/conversations", api_web_page, ROUTE_PUBLIC},
    {"GET", "/conversations/{id}", api_web_page, ROUTE_PUBLIC},
    {"GET", "/assets/{file}", api_web_asset, ROUTE_PUBLIC},

    {"GET", "/alive", api_alive, ROUTE_PUBLIC},
    {"GET", "/health", api_health, ROUTE_PUBLIC},
    {"GET", "/metrics", api_metrics, ROUTE_PUBLIC},
    {"GET", "/openapi.json", api_openapi, ROUTE_PUBLIC},
    {"GET", "/swagger-ui/", api_swagger_ui, ROUTE_PUBLIC},
    {"GET", "/swagger-ui/{file}", api_swagger_ui_file, ROUTE_PUBLIC},

    {"POST", "/api/conversations", api_conversation_create, ROUTE_ACCOUNT},
    {"GET", "/api/conversations", api_conversation_list, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}", api_conversation_get, ROUTE_ACCOUNT},
    {"PATCH", "/api/conversations/{id}", api_conversation_update, ROUTE_ACCOUNT},
    {"DELETE", "/api/conversations/{id}", api_conversation_delete, ROUTE_ACCOUNT},
    {"POST", "/api/conversations/{id}/stop", api_conversation_stop, ROUTE_ACCOUNT},
    {"POST", "/api/conversations/{id}/start", api_conversation_start, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/events", api_event_list, ROUTE_ACCOUNT},
    {"POST", "/api/conversations/{id}/events", api_event_post, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/events/stream", api_event_stream, ROUTE_ACCOUNT},
    {"POST", "/api/conversations/{id}/message", api_conversation_message, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/trajectory", api_trajectory, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/list-files", api_list_files, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/select-file", api_select_file, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/git/changes", api_git_changes, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/git/diff", api_git_diff, ROUTE_ACCOUNT},
    {"GET", "/api/conversations/{id}/zip-directory", api_zip_directory, ROUTE_ACCOUNT},

    {"GET", "/api/settings", api_settings_get, ROUTE_ACCOUNT},
    {"POST", "/api/settings", api_settings_post, ROUTE_ACCOUNT},
    {"GET", "/api/options/models", api_options_models, ROUTE_ACCOUNT},
    {"POST", "/api/add-git-providers", api_add_git_providers, ROUTE_ACCOUNT},
    {"POST", "/api/unset-provider-tokens", api_unset_provider_tokens, ROUTE_ACCOUNT},

    {"GET", "/api/secrets", api_secret_list, ROUTE_ACCOUNT},
    {"POST", "/api/secrets", api_secret_create, ROUTE_ACCOUNT},
    {"PUT", "/api/secrets/{id}", api_secret_update, ROUTE_ACCOUNT},
    {"DELETE", "/api/secrets/{id}", api_secret_delete, ROUTE_ACCOUNT},

    {"POST", "/api/auth/login", api_login, ROUTE_PUBLIC},
    {"POST", "/api/auth/logout", api_logout, ROUTE_ACCOUNT},
    {"GET", "/api/auth/session", api_session, ROUTE_ACCOUNT},

    {"POST", "/api/keys", api_key_create, ROUTE_ACCOUNT},
    {"GET", "/api/keys", api_key_list, ROUTE_ACCOUNT},
    {"GET", "/api/keys/current", api_key_current, ROUTE_ACCOUNT},
    {"DELETE", "/api/keys/{id}", api_key_delete, ROUTE_ACCOUNT},

    {"POST", "/api/webhooks", api_webhook_create, ROUTE_ACCOUNT},
    {"GET", "/api/webhooks", api_webhook_list, ROUTE_ACCOUNT},
    {"GET", "/api/webhooks/{id}", api_webhook_get, ROUTE_ACCOUNT},
    {"DELETE", "/api/webhooks/{id}", api_webhook_delete, ROUTE_ACCOUNT},
    {"GET", "/api/webhooks/{id}/deliveries", api_webhook_deliveries, ROUTE_ACCOUNT},

    {NULL, NULL, NULL, ROUTE_PUBLIC},
};
