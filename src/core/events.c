/* events: OpenHands V0 event builders and the replay of events into chat messages; see
 * events.h. */
#include "core/events.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/timeutil.h"

static json_t *base_event(const char *source, const char *message)
{
    char iso[ISO_TIME_LEN];
    /* "id" comes first, as in OpenHands; the store fills it in place when it appends. */
    return json_pack("{s:n, s:s, s:s, s:s}", "id", "timestamp", time_format_iso(time_now_us(), iso),
                     "source", source, "message", message ? message : "");
}

json_t *event_user_message(const char *content, json_t *image_urls)
{
    json_t *ev = base_event("user", content);
    json_object_set_new(ev, "action", json_string("message"));
    json_object_set_new(ev, "args",
                        json_pack("{s:s, s:o, s:[], s:b}", "content", content, "image_urls",
                                  image_urls ? json_incref(image_urls) : json_array(), "file_urls",
                                  "wait_for_response", 0));
    return ev;
}

json_t *event_agent_message(const char *content, json_t *tool_meta)
{
    json_t *ev = base_event("agent", content);
    json_object_set_new(ev, "action", json_string("message"));
    json_object_set_new(ev, "args",
                        json_pack("{s:s, s:n, s:n, s:b}", "content", content, "image_urls",
                                  "file_urls", "wait_for_response", 1));
    if (tool_meta) json_object_set_new(ev, "tool_call_metadata", tool_meta);
    return ev;
}

json_t *event_agent_action(const char *action, const char *message, json_t *args, json_t *tool_meta)
{
    json_t *ev = base_event("agent", message);
    json_object_set_new(ev, "action", json_string(action));
    json_object_set_new(ev, "args", args ? args : json_object());
    if (tool_meta) json_object_set_new(ev, "tool_call_metadata", tool_meta);
    return ev;
}

json_t *event_observation(const char *observation, int64_t cause, const char *content,
                          const char *message, json_t *extras, json_t *tool_meta)
{
    json_t *ev = base_event("agent", message);
    json_object_set_new(ev, "cause", cause >= 0 ? json_integer(cause) : json_null());
    json_object_set_new(ev, "observation", json_string(observation));
    json_object_set_new(ev, "content", json_string(content ? content : ""));
    json_object_set_new(ev, "extras", extras ? extras : json_object());
    if (tool_meta) json_object_set_new(ev, "tool_call_metadata", tool_meta);
    return ev;
}

json_t *event_agent_state(const char *agent_state, const char *reason)
{
    json_t *ev = base_event("environment", "");
    json_object_set_new(ev, "observation", json_string("agent_state_changed"));
    json_object_set_new(ev, "content", json_string(""));
    json_object_set_new(
        ev, "extras",
        json_pack("{s:s, s:s}", "agent_state", agent_state, "reason", reason ? reason : ""));
    return ev;
}

json_t *event_tool_meta(const char *function_name, const char *tool_call_id, json_t *model_response,
                        size_t total_calls)
{
    return json_pack("{s:s, s:s, s:O, s:I}", "function_name", function_name, "tool_call_id",
                     tool_call_id, "model_response", model_response ? model_response : json_null(),
                     "total_calls_in_response", (json_int_t)total_calls);
}

/* Appends the tool results still owed for the last assistant message's tool calls. */
static void close_open_calls(json_t *messages, json_t *open_calls)
{
    size_t i;
    json_t *id;
    json_array_foreach(open_calls, i, id)
    {
        json_array_append_new(
            messages, json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id", id, "content",
                                "ERROR: the server stopped while this tool call ran; its result "
                                "is lost. Check the state of the workspace before going on."));
    }
    json_array_clear(open_calls);
}

/* Closes the open calls, then adds the user messages that waited for them: a user may write
 * while a tool runs, and the model must see each call's result right after the call. */
static void settle(json_t *messages, json_t *open_calls, json_t *pending)
{
    close_open_calls(messages, open_calls);
    json_array_extend(messages, pending);
    json_array_clear(pending);
}

/* Removes `id` from the pending tool calls; false when it was not pending. */
static bool take_open_call(json_t *open_calls, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(open_calls, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0) {
            json_array_remove(open_calls, i);
            return true;
        }
    }
    return false;
}

json_t *events_to_messages(char **events, size_t n)
{
    json_t *messages = json_array(), *open_calls = json_array(), *pending = json_array();
    const char *last_response = NULL;
    char *last_response_copy = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(events[i], 0, NULL);
        if (!json_is_object(ev)) {
            json_decref(ev);
            continue;
        }
        const char *source = json_string_value(json_object_get(ev, "source"));
        const char *action = json_string_value(json_object_get(ev, "action"));
        const char *obs = json_string_value(json_object_get(ev, "observation"));
        json_t *meta = json_object_get(ev, "tool_call_metadata");
        json_t *response = json_object_get(meta, "model_response");
        const char *response_id = json_string_value(json_object_get(response, "id"));
        source = source ? source : "";

        /* The first event of a model response (an action, or the error observation of a call
         * that could not become one) replays the response itself. */
        if (json_is_object(response) && response_id &&
            (!last_response || strcmp(last_response, response_id) != 0)) {
            settle(messages, open_calls, pending);
            json_t *m = json_deep_copy(json_object_get(
                json_array_get(json_object_get(response, "choices"), 0), "message"));
            if (json_is_object(m)) {
                json_object_set_new(m, "role", json_string("assistant"));
                json_t *calls = json_object_get(m, "tool_calls");
                size_t k;
                json_t *call;
                json_array_foreach(calls, k, call)
                    json_array_append(open_calls, json_object_get(call, "id"));
                json_array_append_new(messages, m);
            } else {
                json_decref(m);
            }
            free(last_response_copy);
            last_response_copy = xstrdup(response_id);
            last_response = last_response_copy;
        }

        if (action && strcmp(source, "user") == 0 && strcmp(action, "message") == 0) {
            json_t *args = json_object_get(ev, "args");
            json_array_append_new(json_array_size(open_calls) ? pending : messages,
                                  json_pack("{s:s, s:O}", "role", "user", "content",
                                            json_object_get(args, "content")));
        } else if (action && json_is_object(response)) {
            /* finish has no observation; the model's call still needs its result. */
            const char *call_id = json_string_value(json_object_get(meta, "tool_call_id"));
            if (strcmp(action, "finish") == 0 && call_id && take_open_call(open_calls, call_id))
                json_array_append_new(messages,
                                      json_pack("{s:s, s:s, s:s, s:s}", "role", "tool",
                                                "tool_call_id", call_id, "name", "finish",
                                                "content", "The task is marked as finished."));
        } else if (action && strcmp(source, "agent") == 0 && strcmp(action, "message") == 0) {
            settle(messages, open_calls, pending);
            json_array_append_new(
                messages, json_pack("{s:s, s:O}", "role", "assistant", "content",
                                    json_object_get(json_object_get(ev, "args"), "content")));
        } else if (obs && strcmp(obs, "agent_state_changed") != 0) {
            const char *call_id = json_string_value(json_object_get(meta, "tool_call_id"));
            json_t *content = json_object_get(ev, "content");
            if (call_id && take_open_call(open_calls, call_id)) {
                json_array_append_new(
                    messages,
                    json_pack("{s:s, s:s, s:s, s:O}", "role", "tool", "tool_call_id", call_id,
                              "name", json_string_value(json_object_get(meta, "function_name")),
                              "content", content));
            } else if (!call_id && (strcmp(obs, "error") == 0 || strcmp(obs, "recall") == 0 ||
                                    (strcmp(obs, "git") == 0 &&
                                     json_is_true(json_object_get(json_object_get(ev, "extras"),
                                                                  "restored"))))) {
                /* an error the model must see, the workspace context, or the note that the
                 * workspace was rebuilt elsewhere (agent/repository.c) */
                settle(messages, open_calls, pending);
                json_array_append_new(messages,
                                      json_pack("{s:s, s:O}", "role", "user", "content", content));
            }
        }
        if (!json_array_size(open_calls)) settle(messages, open_calls, pending);
        json_decref(ev);
    }
    settle(messages, open_calls, pending);
    json_decref(open_calls);
    json_decref(pending);
    free(last_response_copy);
    return messages;
}
