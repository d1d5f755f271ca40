/*
 * store: the one storage interface of cloudhands. Everything that persists goes
 * through these operations; nothing above this header knows SQL or which back end
 * (SQLite today, PostgreSQL later) holds the data.
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
 * The back end is chosen by URL in store_open(): "sqlite:PATH" or a plain path, later
 * "postgres://...". Operations are thread-safe; a store is shared by all threads.
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

    /* Events of a conversation as JSON texts, ids in [start_id, end_id] (end_id < 0: no end),
     * ascending or, with reverse, descending; at most `limit` (<= 0: no limit). *out is an
     * array of *n owned strings; free with event_list_free. */
    int (*event_list)(struct store *s, const char *conversation_id, int64_t start_id,
                      int64_t end_id, bool reverse, int limit, char ***out, size_t *n,
                      struct error *err);
};

struct store {
    const struct store_ops *ops;
    void *impl;
};

/* Opens the store named by `url` ("sqlite:PATH", a plain PATH, or "postgres://...").
 * Does not migrate. *out is freed with store_close. */
int store_open(const char *url, struct store **out, struct error *err);
void store_close(struct store *s);

void account_free(struct account *a);
void account_list_free(struct account *a, size_t n);
void api_key_free(struct api_key *k);
void api_key_list_free(struct api_key *k, size_t n);
void conversation_free(struct conversation *c);
void conversation_list_free(struct conversation *c, size_t n);
void event_list_free(char **events, size_t n);
bool conversation_status_is_active(const char *status);

/* Back ends. */
int store_sqlite_open(const char *path, struct store **out, struct error *err);

#endif
