/*
 * store: the one storage interface of cloudhands. Everything that persists goes
 * through these operations; nothing above this header knows SQL or which back end
 * (SQLite, or PostgreSQL for several processes sharing one database) holds the data.
 *
 * Rules every back end keeps (the store test suite checks them):
 * - Each operation is atomic. Business rules that must hold under concurrency (the
 *   account's concurrency limit, idempotency keys) are parameters of one operation
 *   and are checked inside the same transaction that writes.
 * - Records returned through `out` pointers own their strings; free them with the
 *   matching *_free function. Inputs are borrowed.
 * - Times are microseconds since the epoch (timeutil.h); 0 means "not set".
 * - "Not the caller's" is ERR_NOT_FOUND: every conversation and key operation takes
 *   the account id and never touches another account's rows.
 * - A busy or unreachable database is ERR_UNAVAILABLE (the client may retry).
 *
 * The back end is chosen by URL in store_open(): "sqlite:PATH" or a plain path (sqlite.c), or
 * "postgres://..." (postgres.c). Operations are thread-safe; a store is shared by all threads.
 */
#ifndef CH_STORE_H
#define CH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct account {
    int64_t id;
    char *name;
    bool is_admin;
    int max_concurrent; /* 0: the server's default applies */
    int64_t created_at;
};

struct api_key {
    int64_t id;
    int64_t account_id;
    char *name;
    int64_t created_at;
    int64_t last_used_at;
    int64_t expires_at; /* 0: never */
};

/* Conversation status values (API.md). ACTIVE ones hold a runtime and count toward the limit. */
#define CONV_STARTING "STARTING"
#define CONV_RUNNING  "RUNNING"
#define CONV_STOPPED  "STOPPED"
#define CONV_ARCHIVED "ARCHIVED"
#define CONV_ERROR    "ERROR"

struct conversation {
    char id[33]; /* 32 lowercase hex chars */
    int64_t account_id;
    int64_t seq; /* insertion order; paging key, never shown */
    char *title;
    char *status;      /* CONV_* */
    char *agent_state; /* OpenHands AgentState: "loading", "running", "stopped", ... */
    char *trigger;     /* "openhands_api", "gui" */
    char *selected_repository;
    char *selected_branch;
    char *git_provider;
    char *conversation_instructions;
    char *runtime_status;
    char *branch;
    char *error;
    char *pull_requests; /* JSON array text */
    char *metrics;       /* JSON object text */
    char *node;          /* the node holding its workspace (DATA/node.id), or NULL */
    char *base_commit;   /* the commit its work branch started from, once pushed; or NULL */
    int64_t created_at;
    int64_t updated_at;
};

struct conversation_filter {
    const char *selected_repository; /* NULL: any */
    const char *trigger;
    const char *status;
};

/* What conversation_create needs besides the row itself. */
struct conversation_create_opts {
    int limit;                   /* the account's concurrency limit (> 0) */
    const char *first_event;     /* JSON text of event 0 (the user's message) */
    const char *idempotency_key; /* NULL: none */
    const char *response;        /* the answer to remember under the idempotency key */
    int64_t idempotency_since;   /* keys stored before this time are expired */
};

struct conversation_create_result {
    bool replayed;  /* the idempotency key was seen: `response` holds the first answer */
    char *response; /* owned; set when replayed */
    int current;    /* ERR_LIMIT: how many conversations the account has active */
};

/* Changes to a conversation's derived fields, written in the same transaction as an event
 * (or alone). NULL leaves a field as it is; "" clears runtime_status, error and branch. */
struct conversation_update {
    const char *status;
    const char *agent_state;
    const char *runtime_status;
    const char *error;
    const char *metrics; /* JSON object text */
    const char *title;
    const char *branch;
    const char *base_commit;   /* set with branch: where it started */
    const char *pull_requests; /* JSON array text */
    bool release;              /* the runner gives the conversation up (runner, lease cleared) */
};

/* A named secret of an account (its value is sealed: crypto_seal). */
struct secret {
    char *name;
    char *description;
    char *value_sealed;
    int64_t created_at;
};

/* A webhook of an account (core/webhooks.c): where to POST which conversation events. */
struct webhook {
    char id[33]; /* 32 lowercase hex chars */
    int64_t account_id;
    char *url;
    char *events; /* JSON array text of event names */
    char *description;
    char *secret_sealed; /* crypto_seal() of the signing secret */
    int64_t created_at;
};

/* A node: the processes of one data directory that run conversations (docs/DEPLOYMENT.md). */
struct node {
    char *id;            /* DATA/node.id */
    char *url;           /* where it serves its workspaces, or NULL */
    int64_t alive_until; /* renewed like a lease while it runs */
    int64_t workspaces;  /* node_list only: conversations whose workspace it holds */
};

/* Delivery status values. */
#define DELIVERY_PENDING   "pending"
#define DELIVERY_DELIVERED "delivered"
#define DELIVERY_FAILED    "failed"

/* One event sent (or to be sent) to one webhook. */
struct webhook_delivery {
    char id[33]; /* 32 lowercase hex chars: X-Cloudhands-Delivery */
    char webhook_id[33];
    char *event;
    char *conversation_id;
    char *body;   /* the exact bytes sent; not read by webhook_delivery_list */
    char *status; /* DELIVERY_* */
    int attempts;
    int last_status_code; /* 0: no answer yet */
    char *last_error;
    int64_t created_at;
    int64_t delivered_at;
    int64_t next_attempt_at;
    /* Read by webhook_delivery_claim only: the webhook's URL and sealed secret. */
    char *url;
    char *secret_sealed;
};

/* The outcome of one claimed delivery attempt (webhook_delivery_finish). */
struct webhook_attempt {
    const char *status;      /* DELIVERY_*: pending to try again */
    int status_code;         /* 0: no answer */
    const char *error;       /* NULL: none */
    int64_t delivered_at;    /* delivered: when */
    int64_t next_attempt_at; /* pending: when to try again */
};

struct store;

struct store_ops {
    const char *name;
    void (*close)(struct store *s);
    /* Applies the numbered migrations not yet applied; records each version. */
    int (*migrate)(struct store *s, int *version, struct error *err);

    /* ERR_CONFLICT when the name is taken. */
    int (*account_create)(struct store *s, const char *name, bool is_admin, int max_concurrent,
                          int64_t now, int64_t *id, struct error *err);
    int (*account_get_by_name)(struct store *s, const char *name, struct account *out,
                               struct error *err);
    /* *out is an array of *n accounts ordered by id; free with account_list_free. */
    int (*account_list)(struct store *s, struct account **out, size_t *n, struct error *err);
    int (*account_count)(struct store *s, int64_t *n, struct error *err);

    /* Stores a key by its keyed hash (hex); the key itself is never given to the store. */
    int (*key_create)(struct store *s, int64_t account_id, const char *name, const char *hash_hex,
                      int64_t created_at, int64_t expires_at, int64_t *id, struct error *err);
    /* Finds the unrevoked key with this hash and its account. ERR_UNAUTHORIZED when none.
     * Sets last_used_at to `now` when it is older than `touch_before` (a cheap write-back). */
    int (*key_authenticate)(struct store *s, const char *hash_hex, int64_t now,
                            int64_t touch_before, struct api_key *key, struct account *acct,
                            char stored_hash[65], struct error *err);
    /* key_get and key_list see unrevoked keys only (a revoked key is ERR_NOT_FOUND); key_list
     * is ordered by id. */
    int (*key_get)(struct store *s, int64_t account_id, int64_t id, struct api_key *out,
                   struct error *err);
    int (*key_list)(struct store *s, int64_t account_id, struct api_key **out, size_t *n,
                    struct error *err);
    /* account_id 0: any account (the operator's `key revoke`). ERR_NOT_FOUND when there is no
     * such unrevoked key. */
    int (*key_revoke)(struct store *s, int64_t account_id, int64_t id, int64_t now,
                      struct error *err);

    /* Inserts the conversation (status STARTING, queued for a runner) and its first event,
     * unless the account already has opts->limit active conversations (ERR_LIMIT, with
     * res->current) or the idempotency key was seen (res->replayed). One transaction. */
    int (*conversation_create)(struct store *s, const struct conversation *c,
                               const struct conversation_create_opts *opts,
                               struct conversation_create_result *res, struct error *err);
    /* account_id 0: any account's (a node's own bookkeeping, never a request's). */
    int (*conversation_get)(struct store *s, int64_t account_id, const char *id,
                            struct conversation *out, struct error *err);
    /* Newest first; only conversations with seq < before_seq when before_seq > 0. At most
     * `limit` (<= 0: no limit). */
    int (*conversation_list)(struct store *s, int64_t account_id,
                             const struct conversation_filter *f, int64_t before_seq, int limit,
                             struct conversation **out, size_t *n, struct error *err);
    int (*conversation_set_title)(struct store *s, int64_t account_id, const char *id,
                                  const char *title, int64_t now, struct error *err);
    /* Moves a conversation to `status`/`agent_state`. With limit > 0 and a new status that is
     * active (STARTING/RUNNING) while the current one is not, the account's active count is
     * checked first (ERR_LIMIT, *current set) in the same transaction, and the conversation is
     * queued for a runner. */
    int (*conversation_set_status)(struct store *s, int64_t account_id, const char *id,
                                   const char *status, const char *agent_state, int limit,
                                   int64_t now, int *current, struct error *err);
    int (*conversation_delete)(struct store *s, int64_t account_id, const char *id,
                               struct error *err);

    /* Appends an event: sets its "id" (the conversation's next id) and, when missing, its
     * "timestamp", stores it, and applies `upd` (may be NULL) in the same transaction. With a
     * `runner`, only while that runner holds the conversation and it is active (STARTING or
     * RUNNING): ERR_CONFLICT otherwise (it was stopped, deleted or taken over). *id may be NULL. */
    int (*event_append)(struct store *s, const char *conversation_id, const char *runner,
                        json_t *event, const struct conversation_update *upd, int64_t now,
                        int64_t *id, struct error *err);
    /* Applies `upd` alone, with the same runner rule as event_append. */
    int (*conversation_update)(struct store *s, const char *conversation_id, const char *runner,
                               const struct conversation_update *upd, int64_t now,
                               struct error *err);
    /* A user's follow-up: appends `event` and, when the conversation is not active, queues it
     * again (STARTING, agent_state "loading", error cleared) within the account's `limit`
     * (ERR_LIMIT with *current), all in one transaction. *queued tells whether it was queued. */
    int (*conversation_message)(struct store *s, int64_t account_id, const char *conversation_id,
                                json_t *event, int limit, int64_t now, int64_t *id, bool *queued,
                                int *current, struct error *err);
    /* Claims the oldest conversation that waits for a runner — queued (STARTING) or active with
     * an expired lease (its runner died) — for `runner` of `node` until lease_until, and makes
     * `node` its workspace's home. A conversation homed on another node is left to that node
     * while the node is alive (node_seen) unless the conversation has waited since before
     * `stale_before` (the node is busy): then its workspace moves. In *out,
     * `node` is the node that held the workspace until this claim (NULL: none). Claimed
     * conversations are no longer queued. ERR_NOT_FOUND when there is none. */
    int (*conversation_claim)(struct store *s, const char *runner, const char *node, int64_t now,
                              int64_t lease_until, int64_t stale_before, struct conversation *out,
                              struct error *err);
    /* Extends the runner's lease; ERR_CONFLICT when the runner no longer holds it. */
    int (*conversation_renew)(struct store *s, const char *conversation_id, const char *runner,
                              int64_t lease_until, struct error *err);
    /* The account's settings as a JSON object (sealed values stay sealed); {} when none. */
    int (*settings_get)(struct store *s, int64_t account_id, json_t **out, struct error *err);
    /* Merges `changes` into the stored settings (a member set to null is removed). */
    int (*settings_put)(struct store *s, int64_t account_id, json_t *changes, struct error *err);
    /* Secrets by name, ordered by name; free with secret_list_free. */
    int (*secret_list)(struct store *s, int64_t account_id, struct secret **out, size_t *n,
                       struct error *err);
    /* Creates (create = true; ERR_CONFLICT when the name exists) or updates (ERR_NOT_FOUND when
     * it does not) a secret. NULL description or value_sealed leave them unchanged on update. */
    int (*secret_put)(struct store *s, int64_t account_id, const char *name,
                      const char *description, const char *value_sealed, bool create, int64_t now,
                      struct error *err);
    int (*secret_delete)(struct store *s, int64_t account_id, const char *name, struct error *err);

    /* Web sign-in (the web UI). Passwords are given as hashes (crypto_password_hash), never
     * in clear. account_set_password: NULL removes it; ERR_NOT_FOUND for no such account. */
    int (*account_set_password)(struct store *s, const char *name, const char *password_hash,
                                struct error *err);
    /* The account named `name`, its password hash (malloc'd; NULL when none is set), its
     * failed sign-ins in a row and until when it is locked (0: not). ERR_NOT_FOUND. */
    int (*account_login_info)(struct store *s, const char *name, struct account *out,
                              char **password_hash, int *failures, int64_t *locked_until,
                              struct error *err);
    /* Stores the outcome of a sign-in: the failures in a row (0 after a success) and the lock. */
    int (*account_login_update)(struct store *s, int64_t account_id, int failures,
                                int64_t locked_until, struct error *err);
    /* Sessions, by the keyed hash of the cookie's value. session_create also removes sessions
     * that expired before `now`. session_get answers expired sessions too (the caller tells
     * "expired" from "unknown"); ERR_UNAUTHORIZED when there is none. */
    int (*session_create)(struct store *s, const char *id_hash, int64_t account_id,
                          const char *csrf_token, int64_t now, int64_t expires_at,
                          struct error *err);
    int (*session_get)(struct store *s, const char *id_hash, struct account *acct,
                       char csrf_token[65], int64_t *expires_at, struct error *err);
    int (*session_delete)(struct store *s, const char *id_hash, struct error *err);

    /* How many conversations (all accounts) have each of the given statuses (NULL-terminated),
     * into counts[i]: for GET /metrics. */
    int (*conversation_status_counts)(struct store *s, const char *const *statuses, int64_t *counts,
                                      struct error *err);

    /* Webhooks (core/webhooks.c). webhook_create stores one unless the account has `max`
     * already (ERR_LIMIT, checked in the same transaction). webhook_list is oldest first; free
     * with webhook_list_free. Another account's webhook is ERR_NOT_FOUND; deleting a webhook
     * deletes its deliveries. */
    int (*webhook_create)(struct store *s, const struct webhook *w, int max, struct error *err);
    int (*webhook_list)(struct store *s, int64_t account_id, struct webhook **out, size_t *n,
                        struct error *err);
    int (*webhook_get)(struct store *s, int64_t account_id, const char *id, struct webhook *out,
                       struct error *err);
    int (*webhook_delete)(struct store *s, int64_t account_id, const char *id, struct error *err);
    /* Enqueues deliveries (id, webhook_id, event, conversation_id, body, created_at,
     * next_attempt_at; pending, no attempt yet) in one transaction; one whose webhook is gone
     * is skipped. Also removes finished (delivered or failed) deliveries created before
     * `purge_before`. */
    int (*webhook_delivery_create)(struct store *s, const struct webhook_delivery *d, size_t n,
                                   int64_t purge_before, struct error *err);
    /* The webhook's deliveries, newest first, at most `limit`, without bodies; free with
     * webhook_delivery_list_free. Empty for another account's webhook. */
    int (*webhook_delivery_list)(struct store *s, int64_t account_id, const char *webhook_id,
                                 int limit, struct webhook_delivery **out, size_t *n,
                                 struct error *err);
    /* Claims the pending delivery that has been due longest (next_attempt_at <= now) for
     * `worker`: counts the attempt and moves next_attempt_at to lease_until, so a worker that
     * dies leaves it due again then. *out has the body, the webhook's url and secret_sealed.
     * ERR_NOT_FOUND when none is due. */
    int (*webhook_delivery_claim)(struct store *s, const char *worker, int64_t now,
                                  int64_t lease_until, struct webhook_delivery *out,
                                  struct error *err);
    /* Records the outcome of a claimed attempt; ERR_CONFLICT when `worker` no longer holds the
     * delivery (its lease ran out and another worker took it, or the webhook was deleted). */
    int (*webhook_delivery_finish)(struct store *s, const char *id, const char *worker,
                                   const struct webhook_attempt *a, struct error *err);

    /* Events of a conversation as JSON texts, ids in [start_id, end_id] (end_id < 0: no end),
     * ascending or, with reverse, descending; at most `limit` (<= 0: no limit). *out is an
     * array of *n owned strings; free with event_list_free. */
    int (*event_list)(struct store *s, const char *conversation_id, int64_t start_id,
                      int64_t end_id, bool reverse, int limit, char ***out, size_t *n,
                      struct error *err);

    /* Signals between processes sharing the database (PostgreSQL: NOTIFY on one channel,
     * a listening connection per process). publish sends (kind, id) to every process, this
     * one included; listen starts the process's listener, which calls deliver(ctx, kind, id)
     * from its own thread for each signal from another process, and once with kind -1 after a
     * lost connection came back (signals may have been missed: look again). Both NULL in a
     * back end for one process (SQLite). The listener stops in close. Best effort, like
     * core/notify.h: nothing may depend on a signal arriving. */
    int (*publish)(struct store *s, int kind, const char *id, struct error *err);
    int (*listen)(struct store *s, void (*deliver)(void *ctx, int kind, const char *id), void *ctx,
                  struct error *err);

    /* Nodes (the processes of a data directory) that run conversations. node_seen records that
     * node `id` is alive until `alive_until` (it renews that like a lease) and serves its
     * workspaces at `url` (NULL: keeps the one recorded). node_get reads one (ERR_NOT_FOUND for a
     * node never seen; free with node_free); node_list all of them, ordered by id, with how many
     * workspaces each holds (free with node_list_free). */
    int (*node_seen)(struct store *s, const char *id, const char *url, int64_t alive_until,
                     struct error *err);
    int (*node_get)(struct store *s, const char *id, struct node *out, struct error *err);
    int (*node_list)(struct store *s, struct node **out, size_t *n, struct error *err);
    /* A value all processes sharing the database must agree on: stores `value` under `name`
     * unless one is there, and answers the stored one (malloc'd) in *stored. */
    int (*cluster_value)(struct store *s, const char *name, const char *value, char **stored,
                         struct error *err);

    /* Read scope: the reads of one request see one snapshot. Between read_begin and the
     * matching read_end, the operations the calling thread runs on this store read one
     * consistent snapshot of the data, taken at the first of them (never earlier: a key
     * revoked before the scope's first read is seen revoked), and a back end may serve them
     * all from one connection and one transaction, which is what makes a scope cheaper than
     * the same reads alone. The HTTP server wraps each GET and HEAD in one (but for the
     * workspace routes, which may wait on another node).
     * - Scopes belong to the thread and nest: each successful read_begin needs one read_end,
     *   and only the outermost read_end ends the scope.
     * - Writes inside a scope are allowed and stay correct, but end the snapshot: a write
     *   runs as it would outside the scope, and the reads after it see it (in a new
     *   snapshot). key_authenticate's last_used_at write-back is such a write.
     * - Keep scopes short (one request): a back end may hold a transaction open meanwhile.
     * - read_begin fails only when the back end cannot open a scope (then no read_end).
     * Either may be NULL in a back end that does without (store_read_begin/store_read_end
     * below are then no-ops). SQLite keeps one deferred read transaction open per scope
     * (sqlite.c); PostgreSQL runs a scope as one REPEATABLE READ transaction, ended before a
     * write like here (postgres.c). */
    int (*read_begin)(struct store *s, struct error *err);
    void (*read_end)(struct store *s);
};

struct store {
    const struct store_ops *ops;
    void *impl;
};

/* Opens the store named by `url` ("sqlite:PATH", a plain PATH, or "postgres://...").
 * Does not migrate. *out is freed with store_close. */
int store_open(const char *url, struct store **out, struct error *err);
void store_close(struct store *s);

/* A read scope (store_ops.read_begin/read_end) when the back end has them, else nothing. */
static inline int store_read_begin(struct store *s, struct error *err)
{
    return s->ops->read_begin ? s->ops->read_begin(s, err) : 0;
}

static inline void store_read_end(struct store *s)
{
    if (s->ops->read_end) s->ops->read_end(s);
}

void account_free(struct account *a);
void account_list_free(struct account *a, size_t n);
void api_key_free(struct api_key *k);
void api_key_list_free(struct api_key *k, size_t n);
void conversation_free(struct conversation *c);
void conversation_list_free(struct conversation *c, size_t n);
void event_list_free(char **events, size_t n);
void secret_list_free(struct secret *s, size_t n);
void node_free(struct node *n);
void node_list_free(struct node *n, size_t count);
void webhook_free(struct webhook *w);
void webhook_list_free(struct webhook *w, size_t n);
void webhook_delivery_free(struct webhook_delivery *d);
void webhook_delivery_list_free(struct webhook_delivery *d, size_t n);
bool conversation_status_is_active(const char *status);

/* Back ends. */
int store_sqlite_open(const char *path, struct store **out, struct error *err);
int store_postgres_open(const char *url, struct store **out, struct error *err);

#endif
