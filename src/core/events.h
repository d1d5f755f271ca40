/*
 * events: builders for OpenHands' V0 event shapes, the source of truth of a conversation.
 * Each returns a new jansson object without "id" (the store assigns ids when it appends;
 * see store.h) and with "timestamp" set. Actions come from the user or the agent;
 * observations answer an action (`cause` = the action's id) and carry what the tool
 * returned. `tool_call_metadata` ties agent actions and their observations to the model's
 * tool call, and holds the model's response so the conversation can be replayed to the
 * model exactly after a restart (events_to_messages).
 */
#ifndef CH_EVENTS_H
#define CH_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* The user's message (source "user"). image_urls may be NULL. */
json_t *event_user_message(const char *content, json_t *image_urls);
/* The agent's plain message (no tool call): it waits for the user. */
json_t *event_agent_message(const char *content, json_t *tool_meta);
/* An agent action for a tool call. `action` is "run", "edit", "read", "think" or "finish";
 * `args` is stolen. `message` is the human summary ("Running command: ls"). */
json_t *event_agent_action(const char *action, const char *message, json_t *args,
                           json_t *tool_meta);
/* An observation answering action `cause`; `extras` stolen (NULL: {}). */
json_t *event_observation(const char *observation, int64_t cause, const char *content,
                          const char *message, json_t *extras, json_t *tool_meta);
/* agent_state_changed (source "environment"). */
json_t *event_agent_state(const char *agent_state, const char *reason);
/* {"function_name", "tool_call_id", "model_response", "total_calls_in_response"}; model_response
 * is borrowed (incref'd). */
json_t *event_tool_meta(const char *function_name, const char *tool_call_id, json_t *model_response,
                        size_t total_calls);

/* Rebuilds the chat messages (OpenAI shape, after `system`) that produced a conversation from
 * its stored events (JSON texts, in id order): user messages, the model's responses with their
 * tool calls, and the tool results. A tool call whose result was never stored (the server died
 * while it ran) gets an error result saying so, so the model can carry on. */
json_t *events_to_messages(char **events, size_t n);

#endif
