/*
 * conversations: the rules of a conversation's life, independent of HTTP. Validates a
 * create request, derives the title and the first event, enforces the account's
 * concurrency limit (through one atomic store operation), and moves conversations
 * between statuses (stop, start). A runner (next issue) claims STARTING ones.
 */
#ifndef CH_CONVERSATIONS_H
#define CH_CONVERSATIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "core/app.h"
#include "core/auth.h"
#include "util/buf.h"

#define CONV_MSG_MAX          200000 /* characters of initial_user_msg */
#define CONV_INSTRUCTIONS_MAX 65536
#define CONV_TITLE_MAX        200
#define CONV_BRANCH_MAX       255
#define CONV_IMAGES_MAX       20
#define IDEMPOTENCY_KEY_MAX   255
#define IDEMPOTENCY_TTL_US    (24LL * 3600 * USEC_PER_SEC)
#define LIMIT_RETRY_AFTER_S   30 /* Retry-After on 429: a guess at when a slot frees up */

#define TRIGGER_API "openhands_api"
#define TRIGGER_GUI "gui"

/* A validated POST /api/conversations body; strings borrowed from the JSON. */
struct conversation_request {
    const char *initial_user_msg;
    const char *repository;
    const char *selected_branch;
    const char *git_provider;
    const char *conversation_instructions;
    json_t *image_urls; /* an array of strings, or NULL */
};

/* Checks fields, types, lengths, unknown fields and the repository's shape. */
int conversation_request_parse(json_t *body, bool require_message, struct conversation_request *out,
                               struct error *err);
/* "owner/repo" (for gitlab also "group/subgroup/repo"): segments of letters, digits, '-', '_'
 * and '.', not starting with '.', at most 100 characters each. */
bool repository_name_valid(const char *repo, const char *provider);
bool conversation_id_valid(const char *id);
bool conversation_status_valid(const char *status);
/* Appends a stored conversation as OpenHands' ConversationInfo (plus what goes beyond it): the
 * body of GET /api/conversations/{id}, and the "conversation" of a webhook delivery. */
void conversation_write_json(struct buf *b, const struct conversation *c);
/* The first line of the message, trimmed, cut at a word boundary to about 60 characters;
 * "Conversation <first 5 of id>" when the message is empty. */
void conversation_title_from_message(const char *msg, const char *id, struct buf *out);
/* Event 0: the user's message in OpenHands' event shape, as JSON text (malloc'd). */
char *conversation_first_event(const char *msg, json_t *image_urls, int64_t now);

/* The host directory of a conversation's workspace (mounted at /workspace in its sandbox). */
void conversation_workspace(const struct app *app, const char *id, struct buf *out);
/* Removes what this node holds of a conversation: its workspace, mirror and sandbox log. */
void conversation_workspace_remove(const struct app *app, const char *id);

/* Creates a conversation for the caller (STARTING, queued for a runner). On success *response
 * is the JSON answer (malloc'd) — for an Idempotency-Key seen in the last 24 h it is the first
 * answer and nothing new is created. ERR_LIMIT fills err->detail with the 429 body's detail. */
int conversations_create(struct app *app, const struct auth *who, const char *trigger,
                         const struct conversation_request *rq, const char *idempotency_key,
                         char **response, struct error *err);
/* Stops a conversation (STOPPED). ERR_NOT_FOUND when it is not the caller's. */
int conversations_stop(struct app *app, const struct auth *who, const char *id, struct error *err);
/* Starts a stopped conversation again (STARTING, queued), within the limit; a conversation
 * that is already active is left as it is. *status receives the resulting status. */
int conversations_start(struct app *app, const struct auth *who, const char *id,
                        const char **status, struct error *err);

/* A follow-up message from the user: stored as an event; a stopped conversation is queued
 * again (within the limit). ERR_NOT_FOUND when it is not the caller's. */
int conversations_message(struct app *app, const struct auth *who, const char *id, const char *text,
                          json_t *image_urls, struct error *err);
/* Stops the conversation (its sandbox dies at once), removes its record, events and workspace.
 * ERR_NOT_FOUND when it is not the caller's. */
int conversations_delete(struct app *app, const struct auth *who, const char *id,
                         struct error *err);

#endif
