/*
 * client: what the commands that talk to a running server share (run, send, conversations,
 * logs, stop). They are HTTP clients of the API (docs/API.md) and need no data directory:
 *
 *   - the server (--server, else CLOUDHANDS_SERVER, else http://127.0.0.1:3000) and the API key
 *     (--key, else CLOUDHANDS_API_KEY);
 *   - requests whose failures say what to do: the server's own message for a refusal, "is
 *     `cloudhands serve` running?" for a server that does not answer;
 *   - the output of events: one readable line per agent step (plain when stdout is not a
 *     terminal; on a terminal with colours and a status line, spinner and elapsed time, rewritten
 *     in place below them), or with --json each event exactly as the server sent it, one per line,
 *     and nothing else on stdout;
 *   - following a conversation's event stream (Server-Sent Events) until the agent stops,
 *     reconnecting after the last event seen when the connection drops, and Ctrl-C, which stops
 *     following (not the conversation) and says how to resume.
 */
#ifndef CH_CLI_CLIENT_H
#define CH_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"

/* The option rows every client command declares (in its options table, before {NULL}). */
#define CLIENT_OPTIONS                                                                             \
    {"server", "URL", "the server (default http://127.0.0.1:3000; env CLOUDHANDS_SERVER)"},        \
    {                                                                                              \
        "key", "KEY",                                                                              \
            "an API key (env CLOUDHANDS_API_KEY: prefer it, a flag shows in `ps`); made with "     \
            "`cloudhands key create` or in the web UI (Settings > API Keys)"                       \
    }

/* Exit codes beyond cli.h's 0, 1 and 2. */
#define CLIENT_EXIT_AWAITING    3   /* the agent asked a question: answer with `cloudhands send` */
#define CLIENT_EXIT_INTERRUPTED 130 /* Ctrl-C: stopped following; the conversation goes on */

struct client_status;

struct client {
    char *server;  /* "http://host:port", no trailing slash */
    char *auth;    /* "Authorization: Bearer <key>" */
    bool json;     /* --json */
    bool terminal; /* stdout is a terminal and not --json: colours, status line */
    bool color;
    bool utf8; /* the locale is UTF-8: symbols rather than ASCII markers */
    /* Following: */
    int64_t last_id;   /* the last event shown, -1 before any */
    json_t *pending;   /* an action whose observation is still to come (shown with it) */
    char *agent_state; /* from the last agent_state_changed event */
    char *error_shown; /* the reason of the last error state shown as a line */
    struct client_status *status;
};

/* Resolves the server and key (and --json); 0, or after printing why, the exit code (2). */
int client_open(struct client *c, const struct cli_args *a);
void client_close(struct client *c);

/* METHOD SERVER+path with the key and `body` (NULL: none). 0 with *out (a new reference; JSON
 * null when the server answered null) for a 2xx answer; else 1, after printing the server's
 * message or why it could not be reached. */
int client_call(struct client *c, const char *method, const char *path, json_t *body, json_t **out);
/* Checks a conversation id given on the command line (32 hex characters); prints why not. */
bool client_check_id(const char *id);
/* The conversation's page in the web UI, malloc'd. */
char *client_web_link(const struct client *c, const char *id);

/* Shows one event (as a JSON line with --json, else its readable line(s)); `raw` is its JSON
 * text when the caller has it. */
void client_show_event(struct client *c, json_t *ev, const char *raw);
/* A line of the client's own: stdout, or stderr with --json (stdout holds only events). */
void client_say(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints every event after c->last_id (GET .../events, 100 a page). 0, or 1 after printing why. */
int client_replay(struct client *c, const char *id);
/* Follows the event stream after c->last_id until the conversation is no longer active
 * (reconnecting with backoff when the connection drops), with the status line on a terminal,
 * elapsed time counted from since_us. 0 with *conv the conversation's final state; 1 after
 * printing why; CLIENT_EXIT_INTERRUPTED after Ctrl-C (having said how to resume). */
int client_follow(struct client *c, const char *id, int64_t since_us, json_t **conv);
/* Prints how the conversation ended (its state, error, pull requests, web link); returns the
 * exit code for it: 0 finished, CLIENT_EXIT_AWAITING for a question, 1 otherwise. */
int client_summary(struct client *c, json_t *conv);
/* Whether a conversation (as GET returns it) is STARTING or RUNNING. */
bool client_conversation_active(json_t *conv);

#endif
