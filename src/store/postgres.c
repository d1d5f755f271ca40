/*
 * store/postgres: the PostgreSQL back end of store.h (libpq), for several cloudhands processes
 * sharing one database. Owns the connection pool, the per-connection prepared statements, the
 * transactions and row locks that keep the business rules across processes, the read scopes,
 * recovering from a lost connection, and applying the migrations embedded from
 * src/store/migrations/postgres.
 *
 * Connections: a pool per store (a mutex, a condition variable and a free list), at most
 * POOL_MAX connections, opened on demand and kept. Statements are prepared once per connection
 * (PQprepare on first use) and run with text-format parameters.
 *
 * A lost connection (the server restarted, the network went away) is found when a statement
 * fails with a connection error: the connection is closed instead of going back to the pool,
 * and every idle connection opened before the loss is closed as well (the pool's `generation`),
 * since they are most likely dead too. The operation fails with ERR_UNAVAILABLE (the API
 * answers 503), except when the failure was the first statement on a connection taken from the
 * pool and that statement changes nothing (a BEGIN or a read): then it is run once more on a
 * new connection, so an outage costs the operations that were running during it, not one per
 * stale pooled connection afterwards. New connections are attempted with a backoff (100 ms,
 * doubling up to 5 s) while the server cannot be reached; meanwhile operations fail at once
 * with ERR_UNAVAILABLE. Once the server answers again, everything works as before. The outage
 * and the recovery are logged once each.
 *
 * Transactions (READ COMMITTED): every check-then-write runs in one transaction that first
 * locks the row the rule is about, so writers of any process serialize on it:
 * - the account's concurrency limit and idempotency keys (conversation_create,
 *   conversation_set_status, conversation_message), webhook_create's maximum and settings_put's
 *   read-modify-write lock the account row (SELECT ... FOR NO KEY UPDATE: it excludes the other
 *   lockers like FOR UPDATE, without blocking inserts elsewhere that merely reference the
 *   account); each statement after the lock sees what the previous holder committed;
 * - a runner's writes (event_append, conversation_update) lock the conversation row and check
 *   that the runner still holds it and it is active; next_event_id is incremented under that
 *   lock;
 * - claims (conversation_claim, webhook_delivery_claim) are one UPDATE of the oldest waiting row
 *   chosen with FOR UPDATE SKIP LOCKED: concurrent claimers of any process take different rows.
 * A deadlock or serialization failure is ERR_UNAVAILABLE (try again).
 *
 * Read scopes (store.h read_begin/read_end): per thread. The scope's first read takes a
 * connection, runs BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY (the snapshot is taken by
 * the first read itself) and keeps the transaction for the scope's later reads; a write inside
 * the scope commits the read transaction first and runs as usual, and the next read begins a
 * new snapshot that includes it; read_end commits and gives the connection back.
 *
 * Migrations: numbered SQL files, each applied in its own transaction and recorded in
 * schema_migrations, the whole run under a session advisory lock (pg_advisory_lock), so nodes
 * starting at once migrate one after the other and the later ones find the work done. A
 * database with a version newer than this build knows is refused.
 *
 * Messages never contain the URL's password: it is cut out of the URL shown (shown_url) and
 * replaced by *** in every text that comes from libpq or the server.
 */
#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/timeutil.h"

#define POOL_MAX       16
#define POOL_WAIT_MS   10000 /* an operation waits this long for a free connection */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_PARAMS     24
/* Signals between processes (store.h publish/listen): one channel, payload
 * "<process tag> <kind> <conversation id or ->". */
#define NOTIFY_CHANNEL     "cloudhands"
#define LISTEN_BACKOFF_MAX 5000
/* The advisory lock held while migrating: "cloudhnd" in ASCII. */
#define MIGRATION_LOCK_KEY "7164784747107823204"

/* The columns read_conversation() expects, in order. */
#define CONV_COLS                                                                                  \
    "id, account_id, seq, title, status, agent_state, \"trigger\", selected_repository, "          \
    "selected_branch, git_provider, conversation_instructions, runtime_status, branch, error, "    \
    "pull_requests, metrics, node, base_commit, created_at, updated_at"
#define KEY_COLS     "id, account_id, name, created_at, last_used_at, expires_at"
#define NODE_COLS    "n.id, n.url, n.alive_until"
#define ACCOUNT_COLS "id, name, is_admin, max_concurrent, created_at"
#define WEBHOOK_COLS "id, account_id, url, events, description, secret_sealed, created_at"
#define DELIVERY_COLS                                                                              \
    "d.id, d.webhook_id, d.event, d.conversation_id, d.status, d.attempts, d.last_status_code, "   \
    "d.last_error, d.created_at, d.delivered_at, d.next_attempt_at"
#define ACTIVE_IN "('" CONV_STARTING "', '" CONV_RUNNING "')"
/* As sqlite.c: a claimer of node $4 may take conversation c (see store.h). */
#define CLAIM_HOME_OK                                                                              \
    "(c.node IS NULL OR c.node = $4 OR COALESCE(c.queued_at, c.lease_until) < $5 OR "              \
    "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = c.node AND n.alive_until >= $2))"

/* Every statement this back end runs; prepared on a connection at its first use there. */
enum stmt_id {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_MIG_LOCK,
    ST_MIG_UNLOCK,
    ST_MIG_HAS,
    ST_MIG_RECORD,
    ST_MIG_MAX,
    ST_ACCOUNT_LOCK,
    ST_ACCOUNT_INSERT,
    ST_ACCOUNT_BY_NAME,
    ST_ACCOUNT_LIST,
    ST_ACCOUNT_COUNT,
    ST_KEY_INSERT,
    ST_KEY_AUTH,
    ST_KEY_TOUCH,
    ST_KEY_GET,
    ST_KEY_LIST,
    ST_KEY_REVOKE,
    ST_IDEM_PURGE,
    ST_IDEM_GET,
    ST_IDEM_INSERT,
    ST_CONV_COUNT_ACTIVE,
    ST_CONV_INSERT,
    ST_CONV_GET,
    ST_CONV_LIST,
    ST_CONV_SET_TITLE,
    ST_CONV_STATUS_LOCK,
    ST_CONV_SET_STATUS,
    ST_CONV_DELETE,
    ST_EVENT_INSERT,
    ST_EVENT_LIST_ASC,
    ST_EVENT_LIST_DESC,
    ST_RUN_CHECK,
    ST_RUN_NEXT_EVENT,
    ST_RUN_UPDATE,
    ST_MSG_QUEUE,
    ST_CLAIM,
    ST_RENEW,
    ST_SETTINGS_GET,
    ST_SETTINGS_PUT,
    ST_SECRET_LIST,
    ST_SECRET_INSERT,
    ST_SECRET_UPDATE,
    ST_SECRET_DELETE,
    ST_PASSWORD_SET,
    ST_LOGIN_INFO,
    ST_LOGIN_UPDATE,
    ST_SESSION_PURGE,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_DELETE,
    ST_STATUS_COUNTS,
    ST_NOTIFY,
    ST_WEBHOOK_COUNT,
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_LIST,
    ST_WEBHOOK_GET,
    ST_WEBHOOK_DELETE,
    ST_DELIVERY_PURGE,
    ST_DELIVERY_INSERT,
    ST_DELIVERY_LIST,
    ST_DELIVERY_CLAIM,
    ST_DELIVERY_FINISH,
    ST_NODE_SEEN,
    ST_NODE_GET,
    ST_NODE_LIST,
    ST_CLUSTER_PUT,
    ST_CLUSTER_GET,
    ST_COUNT
};

/* Parameters are sent as text and typed by the server from their use; where a use alone does
 * not tell (IS NULL, a SELECT list, CASE), the SQL casts them. */
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [ST_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_MIG_LOCK] = "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")",
    [ST_MIG_UNLOCK] = "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")",
    [ST_MIG_HAS] = "SELECT 1 FROM schema_migrations WHERE version = $1",
    [ST_MIG_RECORD] = "INSERT INTO schema_migrations(version, name, applied_at) VALUES($1, $2, $3)",
    [ST_MIG_MAX] = "SELECT COALESCE(max(version), 0) FROM schema_migrations",
    /* The lock every check-then-write about an account takes first (see the top). */
    [ST_ACCOUNT_LOCK] = "SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts(name, is_admin, max_concurrent, created_at) "
                          "VALUES($1, $2, $3, $4) RETURNING id",
    [ST_ACCOUNT_BY_NAME] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE name = $1",
    [ST_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id",
    [ST_ACCOUNT_COUNT] = "SELECT count(*) FROM accounts",
    [ST_KEY_INSERT] = "INSERT INTO api_keys(account_id, name, key_hash, created_at, expires_at) "
                      "VALUES($1, COALESCE($2::text, ''), $3, $4, $5) RETURNING id",
    [ST_KEY_AUTH] = "SELECT k.id, k.account_id, k.name, k.created_at, k.last_used_at, "
                    "k.expires_at, k.key_hash, a.id, a.name, a.is_admin, a.max_concurrent, "
                    "a.created_at FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                    "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    [ST_KEY_TOUCH] = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 "
                     "AND (last_used_at IS NULL OR last_used_at < $3)",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM api_keys "
                   "WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM api_keys "
                    "WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL "
                      "AND ($2::bigint = 0 OR account_id = $2::bigint)",
    [ST_IDEM_PURGE] = "DELETE FROM idempotency_keys WHERE account_id = $1 AND created_at < $2",
    [ST_IDEM_GET] = "SELECT response FROM idempotency_keys WHERE account_id = $1 AND key = $2",
    [ST_IDEM_INSERT] = "INSERT INTO idempotency_keys(account_id, key, response, created_at) "
                       "VALUES($1, $2, $3, $4)",
    [ST_CONV_COUNT_ACTIVE] = "SELECT count(*) FROM conversations "
                             "WHERE account_id = $1 AND status IN " ACTIVE_IN,
    [ST_CONV_INSERT] =
        "INSERT INTO conversations(id, account_id, title, status, agent_state, \"trigger\", "
        "selected_repository, selected_branch, git_provider, conversation_instructions, "
        "runtime_status, branch, error, pull_requests, metrics, created_at, updated_at, "
        "next_event_id, queued_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
        "$13, COALESCE($14::text, '[]'), COALESCE($15::text, '{}'), $16, $17, $18, $19)",
    [ST_CONV_GET] = "SELECT " CONV_COLS " FROM conversations WHERE id = $1 "
                    "AND ($2::bigint = 0 OR account_id = $2::bigint)",
    [ST_CONV_LIST] = "SELECT " CONV_COLS " FROM conversations "
                     "WHERE account_id = $1 AND seq < $2 "
                     "AND ($3::text IS NULL OR selected_repository = $3::text) "
                     "AND ($4::text IS NULL OR \"trigger\" = $4::text) "
                     "AND ($5::text IS NULL OR status = $5::text) "
                     "ORDER BY seq DESC LIMIT $6",
    [ST_CONV_SET_TITLE] = "UPDATE conversations SET title = $3, updated_at = $4 "
                          "WHERE id = $1 AND account_id = $2",
    [ST_CONV_STATUS_LOCK] = "SELECT status FROM conversations WHERE id = $1 AND account_id = $2 "
                            "FOR NO KEY UPDATE",
    /* As sqlite.c: an already queued conversation keeps its place in the queue; one that is no
     * longer active lets go of its runner. A NULL agent_state leaves it unchanged. */
    [ST_CONV_SET_STATUS] =
        "UPDATE conversations SET status = $3::text, "
        "agent_state = COALESCE($4::text, agent_state), updated_at = $5::bigint, "
        "queued_at = CASE WHEN $3::text = '" CONV_STARTING "' "
        "THEN COALESCE(queued_at, $5::bigint) END, "
        "runner = CASE WHEN $3::text IN " ACTIVE_IN " THEN runner END, "
        "lease_until = CASE WHEN $3::text IN " ACTIVE_IN " THEN lease_until END "
        "WHERE id = $1 AND account_id = $2",
    [ST_CONV_DELETE] = "DELETE FROM conversations WHERE id = $1 AND account_id = $2",
    [ST_EVENT_INSERT] = "INSERT INTO events(conversation_id, id, body) VALUES($1, $2, $3)",
    [ST_EVENT_LIST_ASC] = "SELECT body FROM events WHERE conversation_id = $1 "
                          "AND id BETWEEN $2 AND $3 ORDER BY id ASC LIMIT $4",
    [ST_EVENT_LIST_DESC] = "SELECT body FROM events WHERE conversation_id = $1 "
                           "AND id BETWEEN $2 AND $3 ORDER BY id DESC LIMIT $4",
    /* The runner rule, under the conversation's row lock: re-checked on the newest version of
     * the row when another transaction changed it meanwhile. */
    [ST_RUN_CHECK] = "SELECT 1 FROM conversations WHERE id = $1 AND ($2::text IS NULL OR "
                     "(runner = $2::text AND status IN " ACTIVE_IN ")) FOR NO KEY UPDATE",
    [ST_RUN_NEXT_EVENT] = "UPDATE conversations SET next_event_id = next_event_id + 1 "
                          "WHERE id = $1 RETURNING next_event_id - 1",
    /* As sqlite.c: NULL leaves a field; '' clears runtime_status, error, branch. $11 releases
     * the runner's claim. Leaving the active statuses always lets go of the runner. */
    [ST_RUN_UPDATE] =
        "UPDATE conversations SET status = COALESCE($2::text, status), "
        "agent_state = COALESCE($3::text, agent_state), "
        "runtime_status = CASE WHEN $4::text IS NULL THEN runtime_status WHEN $4::text = '' "
        "THEN NULL ELSE $4::text END, "
        "error = CASE WHEN $5::text IS NULL THEN error WHEN $5::text = '' THEN NULL "
        "ELSE $5::text END, "
        "metrics = COALESCE($6::text, metrics), title = COALESCE($7::text, title), "
        "branch = CASE WHEN $8::text IS NULL THEN branch WHEN $8::text = '' THEN NULL "
        "ELSE $8::text END, "
        "pull_requests = COALESCE($9::text, pull_requests), updated_at = $10::bigint, "
        "base_commit = COALESCE($12::text, base_commit), "
        "runner = CASE WHEN $11::boolean OR COALESCE($2::text, status) NOT IN " ACTIVE_IN " "
        "THEN NULL ELSE runner END, "
        "lease_until = CASE WHEN $11::boolean OR COALESCE($2::text, status) NOT IN " ACTIVE_IN " "
        "THEN NULL ELSE lease_until END, "
        "queued_at = CASE WHEN COALESCE($2::text, status) NOT IN " ACTIVE_IN " THEN NULL "
        "WHEN $11::boolean THEN COALESCE(queued_at, $10::bigint) ELSE queued_at END "
        "WHERE id = $1",
    [ST_MSG_QUEUE] = "UPDATE conversations SET status = '" CONV_STARTING "', "
                     "agent_state = 'loading', error = NULL, runtime_status = NULL, "
                     "updated_at = $2, queued_at = $2, runner = NULL, lease_until = NULL "
                     "WHERE id = $1",
    /* Waiting for a runner: active and held by none (queued, or handed back), or held under a
     * lease that ran out (its runner died). Oldest first; rows another claimer is taking right
     * now are skipped, not waited for. */
    [ST_CLAIM] =
        "WITH pick AS (SELECT seq AS pick_seq, node AS old_node FROM conversations c "
        "WHERE status IN " ACTIVE_IN " AND (runner IS NULL OR lease_until < $2) AND " CLAIM_HOME_OK
        " ORDER BY COALESCE(queued_at, updated_at), seq LIMIT 1 "
        "FOR UPDATE SKIP LOCKED) "
        "UPDATE conversations SET runner = $1, lease_until = $3, queued_at = NULL, "
        "node = $4 FROM pick WHERE seq = pick_seq RETURNING " CONV_COLS ", old_node",
    [ST_RENEW] = "UPDATE conversations SET lease_until = $3 WHERE id = $1 AND runner = $2 "
                 "AND status IN " ACTIVE_IN,
    [ST_SETTINGS_GET] = "SELECT body FROM settings WHERE account_id = $1",
    [ST_SETTINGS_PUT] = "INSERT INTO settings(account_id, body) VALUES($1, $2) "
                        "ON CONFLICT(account_id) DO UPDATE SET body = excluded.body",
    [ST_SECRET_LIST] = "SELECT name, description, value_sealed, created_at FROM secrets "
                       "WHERE account_id = $1 ORDER BY name COLLATE \"C\"",
    [ST_SECRET_INSERT] = "INSERT INTO secrets(account_id, name, description, value_sealed, "
                         "created_at) VALUES($1, $2, COALESCE($3::text, ''), $4, $5)",
    [ST_SECRET_UPDATE] = "UPDATE secrets SET description = COALESCE($3::text, description), "
                         "value_sealed = COALESCE($4::text, value_sealed) "
                         "WHERE account_id = $1 AND name = $2",
    [ST_SECRET_DELETE] = "DELETE FROM secrets WHERE account_id = $1 AND name = $2",
    [ST_PASSWORD_SET] = "UPDATE accounts SET password_hash = $2, failed_logins = 0, "
                        "locked_until = NULL WHERE name = $1",
    [ST_LOGIN_INFO] = "SELECT " ACCOUNT_COLS ", password_hash, failed_logins, locked_until "
                      "FROM accounts WHERE name = $1",
    [ST_LOGIN_UPDATE] = "UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1",
    [ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at < $1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions(id_hash, account_id, csrf_token, created_at, "
                          "expires_at) VALUES($1, $2, $3, $4, $5)",
    [ST_SESSION_GET] = "SELECT a.id, a.name, a.is_admin, a.max_concurrent, a.created_at, "
                       "s.csrf_token, s.expires_at FROM sessions s "
                       "JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = $1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id_hash = $1",
    [ST_STATUS_COUNTS] = "SELECT status, count(*) FROM conversations GROUP BY status",
    [ST_NOTIFY] = "SELECT pg_notify('" NOTIFY_CHANNEL "', $1)",
    [ST_WEBHOOK_COUNT] = "SELECT count(*) FROM webhooks WHERE account_id = $1",
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks(" WEBHOOK_COLS ") "
                          "VALUES($1, $2, $3, $4, COALESCE($5::text, ''), $6, $7)",
    [ST_WEBHOOK_LIST] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE account_id = $1 "
                        "ORDER BY created_at, id",
    [ST_WEBHOOK_GET] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = $1 AND account_id = $2",
    [ST_WEBHOOK_DELETE] = "DELETE FROM webhooks WHERE id = $1 AND account_id = $2",
    [ST_DELIVERY_PURGE] = "DELETE FROM webhook_deliveries WHERE created_at < $1 "
                          "AND status <> '" DELIVERY_PENDING "'",
    /* A delivery of a webhook deleted meanwhile is skipped rather than refused; the key-share
     * lock keeps the webhook from going away before the insert. */
    [ST_DELIVERY_INSERT] =
        "INSERT INTO webhook_deliveries(id, webhook_id, event, conversation_id, body, status, "
        "created_at, next_attempt_at) SELECT $1::text, $2::text, $3::text, $4::text, $5::text, "
        "'" DELIVERY_PENDING "', $6::bigint, $7::bigint "
        "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $2::text FOR KEY SHARE)",
    [ST_DELIVERY_LIST] = "SELECT " DELIVERY_COLS " FROM webhook_deliveries d "
                         "JOIN webhooks w ON w.id = d.webhook_id "
                         "WHERE d.webhook_id = $1 AND w.account_id = $2 "
                         "ORDER BY d.seq DESC LIMIT $3",
    [ST_DELIVERY_CLAIM] =
        "UPDATE webhook_deliveries d SET worker = $1, next_attempt_at = $3, "
        "attempts = d.attempts + 1 FROM webhooks w WHERE w.id = d.webhook_id AND d.seq = "
        "(SELECT seq FROM webhook_deliveries WHERE status = '" DELIVERY_PENDING "' "
        "AND next_attempt_at <= $2 ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING " DELIVERY_COLS ", d.body, w.url, w.secret_sealed",
    [ST_DELIVERY_FINISH] = "UPDATE webhook_deliveries SET status = $3, last_status_code = $4, "
                           "last_error = $5, delivered_at = $6, next_attempt_at = $7, "
                           "worker = NULL WHERE id = $1 AND worker = $2 "
                           "AND status = '" DELIVERY_PENDING "'",
    [ST_NODE_SEEN] = "INSERT INTO nodes(id, url, alive_until) VALUES($1, $2, $3) ON CONFLICT(id) "
                     "DO UPDATE SET url = COALESCE(excluded.url, nodes.url), "
                     "alive_until = excluded.alive_until",
    [ST_NODE_GET] = "SELECT " NODE_COLS " FROM nodes n WHERE id = $1",
    [ST_NODE_LIST] = "SELECT " NODE_COLS ", (SELECT count(*) FROM conversations c "
                     "WHERE c.node = n.id) FROM nodes n ORDER BY id COLLATE \"C\"",
    [ST_CLUSTER_PUT] = "INSERT INTO cluster(name, value) VALUES($1, $2) ON CONFLICT DO NOTHING",
    [ST_CLUSTER_GET] = "SELECT value FROM cluster WHERE name = $1",
};

struct conn {
    PGconn *pg;
    bool prepared[ST_COUNT];
    struct conn *next;     /* free list */
    struct conn *all_next; /* every open connection of the store */
    uint64_t generation;   /* the pool's generation when it was opened */
    bool broken;           /* lost or in an unknown state: close instead of reusing */
    bool used;             /* has run a statement since it was taken from the pool */
    char sqlstate[6];      /* of the last failed statement; "" when it was not the server's */
};

struct pg_store {
    struct store base;
    char *url;          /* as given: for libpq only, never in a message */
    char *shown_url;    /* the URL without its password */
    char *secrets[2];   /* the password as written in the URL and decoded: cut from messages */
    uint64_t id;        /* unique in the process; what a thread's scope refers to */
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    struct conn *free_list;
    struct conn *all;
    int nconns;          /* open or being opened */
    uint64_t generation; /* bumped when a connection is found lost */
    int64_t retry_at;    /* monotonic ms: no new connection attempt before this */
    int backoff_ms;
    char tag[24];       /* this process's tag in signals (its own are not delivered back) */
    pthread_t listener; /* store.h listen: the thread holding the LISTEN connection */
    bool listening;
    atomic_bool stop_listening;
    void (*deliver)(void *ctx, int kind, const char *id);
    void *deliver_ctx;
    bool down;   /* the outage was logged; the recovery will be */
    bool opened; /* store_postgres_open succeeded: failures before are its error, not logged */
};

/* A thread's read scope (store.h): on one store at a time. */
struct thread_scope {
    uint64_t store_id;
    int depth;         /* read_begin calls not yet ended */
    struct conn *conn; /* the scope's connection; NULL until its first operation */
    bool tx;           /* the scope's read transaction is open on conn */
};

static _Thread_local struct thread_scope tls;
static atomic_uint_fast64_t last_store_id;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- messages without the password ---- */

/* Copies `text` into `out` with every occurrence of the password replaced by ***. */
static void redact_into(const struct pg_store *s, const char *text, struct buf *out)
{
    buf_reset(out);
    const char *p = text ? text : "";
    while (*p) {
        size_t best = 0;
        for (int i = 0; i < 2; i++) {
            const char *pw = s->secrets[i];
            if (pw && *pw && strncmp(p, pw, strlen(pw)) == 0 && strlen(pw) > best)
                best = strlen(pw);
        }
        if (best) {
            buf_adds(out, "***");
            p += best;
        } else {
            buf_addch(out, *p++);
        }
    }
    /* libpq's messages end with a newline (and may span lines): keep one line. */
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
        out->data[--out->len] = '\0';
    for (size_t i = 0; i < out->len; i++)
        if (out->data[i] == '\n' || out->data[i] == '\t') out->data[i] = ' ';
}

/* The URL with the password of its user info (postgres://user:PASSWORD@host) removed. */
static char *url_without_password(const char *url)
{
    struct buf b = BUF_INIT;
    const char *scheme = strstr(url, "://");
    if (!scheme) return xstrdup(url);
    const char *auth = scheme + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@') at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) return xstrdup(url);
    buf_add(&b, url, (size_t)(colon - url));
    buf_adds(&b, at);
    return buf_detach(&b, NULL);
}

/* ---- the outage log ---- */

static void log_down(struct pg_store *s, const char *reason)
{
    pthread_mutex_lock(&s->mu);
    bool first = !s->down && s->opened;
    s->down = s->opened;
    pthread_mutex_unlock(&s->mu);
    if (!first) return;
    struct buf f = BUF_INIT, r = BUF_INIT;
    redact_into(s, reason, &r);
    buf_adds(&f, "db=");
    log_value(&f, s->shown_url);
    buf_adds(&f, " reason=");
    log_value(&f, r.data);
    log_error("database unavailable; retrying with backoff", "%s", f.data);
    buf_release(&f);
    buf_release(&r);
}

static void log_up(struct pg_store *s)
{
    pthread_mutex_lock(&s->mu);
    bool was_down = s->down;
    s->down = false;
    s->backoff_ms = 0;
    s->retry_at = 0;
    pthread_mutex_unlock(&s->mu);
    if (!was_down) return;
    struct buf f = BUF_INIT;
    buf_adds(&f, "db=");
    log_value(&f, s->shown_url);
    log_info("database reachable again", "%s", f.data);
    buf_release(&f);
}

static int unavailable(struct error *err)
{
    if (err) err->retry_after = 1;
    return error_set(err, ERR_UNAVAILABLE, "the database is unavailable, try again in a moment");
}

/* ---- statements ---- */

/* Whether a PostgreSQL error (SQLSTATE) means the connection is gone. */
static bool sqlstate_lost(const char *st)
{
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0;
}

/* Turns a failed statement into an error record, and marks a lost connection broken. */
static int db_error(struct pg_store *s, struct conn *cn, const PGresult *res, struct error *err)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(cn->sqlstate, sizeof(cn->sqlstate), "%s", st ? st : "");
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg) msg = PQerrorMessage(cn->pg);
    if (PQstatus(cn->pg) != CONNECTION_OK || sqlstate_lost(cn->sqlstate)) {
        cn->broken = true;
        pthread_mutex_lock(&s->mu);
        if (cn->generation == s->generation) s->generation++;
        pthread_mutex_unlock(&s->mu);
        log_down(s, msg);
        return unavailable(err);
    }
    /* Deadlock, serialization failure, lock timeout, cancelled, out of resources. */
    if (strcmp(cn->sqlstate, "40001") == 0 || strcmp(cn->sqlstate, "40P01") == 0 ||
        strcmp(cn->sqlstate, "55P03") == 0 || strcmp(cn->sqlstate, "57014") == 0 ||
        strncmp(cn->sqlstate, "53", 2) == 0) {
        if (err) err->retry_after = 1;
        return error_set(err, ERR_UNAVAILABLE, "the database is busy, try again");
    }
    struct buf r = BUF_INIT;
    redact_into(s, msg, &r);
    int rc = error_set(err, ERR_INTERNAL, "database error: %s", r.data);
    buf_release(&r);
    return rc;
}

static bool is_unique_violation(const struct conn *cn, int rc)
{
    return rc && strcmp(cn->sqlstate, "23505") == 0;
}

static bool is_fk_violation(const struct conn *cn, int rc)
{
    return rc && strcmp(cn->sqlstate, "23503") == 0;
}

/* Statements that change nothing: safe to run again when the connection turned out dead. */
static bool stmt_retryable(enum stmt_id id)
{
    return id == ST_BEGIN || id == ST_BEGIN_READ || strncmp(stmt_sql[id], "SELECT", 6) == 0;
}

static int conn_connect(struct pg_store *s, struct conn *cn, struct error *err);

/* Parameters from `fmt`: 't' const char * (NULL is NULL), 'l' int64_t, 'z' int64_t where 0 is
 * NULL ("not set"), 'i' int, 'b' bool (an int). Numbers are formatted into `nums`. */
static int q_params(const char *fmt, va_list ap, const char **values, char nums[][24])
{
    int n = 0;
    for (; fmt[n]; n++) {
        if (n >= MAX_PARAMS) abort(); /* a statement of this file with too many parameters */
        switch (fmt[n]) {
        case 't':
            values[n] = va_arg(ap, const char *);
            break;
        case 'l':
            snprintf(nums[n], 24, "%lld", (long long)va_arg(ap, int64_t));
            values[n] = nums[n];
            break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);
            snprintf(nums[n], 24, "%lld", (long long)v);
            values[n] = v ? nums[n] : NULL;
            break;
        }
        case 'i':
            snprintf(nums[n], 24, "%d", va_arg(ap, int));
            values[n] = nums[n];
            break;
        case 'b':
            values[n] = va_arg(ap, int) ? "t" : "f";
            break;
        default:
            abort(); /* a typo in a format string of this file */
        }
    }
    return n;
}

/* Prepares (once per connection) and runs one statement. */
static PGresult *q_send(struct conn *cn, enum stmt_id id, int n, const char *const *values)
{
    char name[16];
    snprintf(name, sizeof(name), "s%d", (int)id);
    if (!cn->prepared[id]) {
        PGresult *res = PQprepare(cn->pg, name, stmt_sql[id], 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) return res;
        PQclear(res);
        cn->prepared[id] = true;
    }
    return PQexecPrepared(cn->pg, name, n, values, NULL, NULL, 0);
}

static int q_exec(struct pg_store *s, struct conn *cn, struct error *err, int64_t *changes,
                  enum stmt_id id, const char *fmt, ...);

/* Inside a read scope, the first read on the scope's connection outside a transaction begins
 * the scope's read transaction (the read itself takes the snapshot). */
static int scope_read_begin(struct pg_store *s, struct conn *cn, enum stmt_id id, struct error *err)
{
    if (cn != tls.conn || tls.tx || tls.depth == 0 || tls.store_id != s->id ||
        strncmp(stmt_sql[id], "SELECT", 6) != 0 || PQtransactionStatus(cn->pg) != PQTRANS_IDLE)
        return 0;
    int rc = q_exec(s, cn, err, NULL, ST_BEGIN_READ, "");
    if (!rc) tls.tx = true;
    return rc;
}

/* Runs statement `id` with parameters per `fmt` (q_params). On success *out is its result
 * (PGRES_COMMAND_OK or PGRES_TUPLES_OK; the caller PQclear()s it). A dead connection met on
 * the first statement since it was taken from the pool, when that statement changes nothing,
 * is replaced by a new one and the statement runs again. */
static int q_vrun(struct pg_store *s, struct conn *cn, struct error *err, PGresult **out,
                  enum stmt_id id, const char *fmt, va_list ap)
{
    const char *values[MAX_PARAMS];
    char nums[MAX_PARAMS][24];
    *out = NULL;
    cn->sqlstate[0] = '\0';
    if (cn->broken) return unavailable(err);
    int rc = scope_read_begin(s, cn, id, err);
    if (rc) return rc;
    int n = q_params(fmt, ap, values, nums);
    for (int attempt = 0;; attempt++) {
        bool first = !cn->used;
        cn->used = true;
        PGresult *res = q_send(cn, id, n, values);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            *out = res;
            return 0;
        }
        rc = db_error(s, cn, res, err);
        PQclear(res);
        if (!(cn->broken && first && attempt == 0 && stmt_retryable(id))) break;
        /* A stale connection of the pool: try a new one once. */
        if (conn_connect(s, cn, NULL)) break;
        if (err) error_clear(err);
        cn->used = false;
    }
    /* A failed read ends the scope's read transaction (PostgreSQL refuses anything more in it):
     * the scope's next read begins a new one. */
    if (cn == tls.conn && tls.tx && PQtransactionStatus(cn->pg) == PQTRANS_INERROR) {
        tls.tx = false;
        PGresult *r = PQexec(cn->pg, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) cn->broken = true;
        PQclear(r);
    }
    return rc;
}

static int q_run(struct pg_store *s, struct conn *cn, struct error *err, PGresult **out,
                 enum stmt_id id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vrun(s, cn, err, out, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* Runs a statement for its effect; *changes (may be NULL) gets the rows it changed. */
static int q_vexec(struct pg_store *s, struct conn *cn, struct error *err, int64_t *changes,
                   enum stmt_id id, const char *fmt, va_list ap)
{
    PGresult *res;
    int rc = q_vrun(s, cn, err, &res, id, fmt, ap);
    if (rc) return rc;
    if (changes) *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int q_exec(struct pg_store *s, struct conn *cn, struct error *err, int64_t *changes,
                  enum stmt_id id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vexec(s, cn, err, changes, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* Runs a query whose first row's first column is an integer; *v is 0 without a row. */
static int q_int64(struct pg_store *s, struct conn *cn, struct error *err, int64_t *v,
                   enum stmt_id id, const char *fmt, ...)
{
    PGresult *res;
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vrun(s, cn, err, &res, id, fmt, ap);
    va_end(ap);
    *v = 0;
    if (rc) return rc;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        *v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* ---- reading rows ---- */

static char *col_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static int64_t col_int64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* A text column into a fixed buffer ("" for NULL). */
static void col_copy(const PGresult *r, int row, int col, char *out, size_t size)
{
    snprintf(out, size, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static void read_account(const PGresult *r, int row, int col, struct account *a)
{
    a->id = col_int64(r, row, col);
    a->name = col_str(r, row, col + 1);
    a->is_admin = col_bool(r, row, col + 2);
    a->max_concurrent = (int)col_int64(r, row, col + 3);
    a->created_at = col_int64(r, row, col + 4);
}

static void read_key(const PGresult *r, int row, int col, struct api_key *k)
{
    k->id = col_int64(r, row, col);
    k->account_id = col_int64(r, row, col + 1);
    k->name = col_str(r, row, col + 2);
    k->created_at = col_int64(r, row, col + 3);
    k->last_used_at = col_int64(r, row, col + 4);
    k->expires_at = col_int64(r, row, col + 5);
}

static void read_conversation(const PGresult *r, int row, struct conversation *c)
{
    col_copy(r, row, 0, c->id, sizeof(c->id));
    c->account_id = col_int64(r, row, 1);
    c->seq = col_int64(r, row, 2);
    c->title = col_str(r, row, 3);
    c->status = col_str(r, row, 4);
    c->agent_state = col_str(r, row, 5);
    c->trigger = col_str(r, row, 6);
    c->selected_repository = col_str(r, row, 7);
    c->selected_branch = col_str(r, row, 8);
    c->git_provider = col_str(r, row, 9);
    c->conversation_instructions = col_str(r, row, 10);
    c->runtime_status = col_str(r, row, 11);
    c->branch = col_str(r, row, 12);
    c->error = col_str(r, row, 13);
    c->pull_requests = col_str(r, row, 14);
    c->metrics = col_str(r, row, 15);
    c->node = col_str(r, row, 16);
    c->base_commit = col_str(r, row, 17);
    c->created_at = col_int64(r, row, 18);
    c->updated_at = col_int64(r, row, 19);
}

static void read_webhook(const PGresult *r, int row, struct webhook *w)
{
    col_copy(r, row, 0, w->id, sizeof(w->id));
    w->account_id = col_int64(r, row, 1);
    w->url = col_str(r, row, 2);
    w->events = col_str(r, row, 3);
    w->description = col_str(r, row, 4);
    w->secret_sealed = col_str(r, row, 5);
    w->created_at = col_int64(r, row, 6);
}

/* Reads the DELIVERY_COLS columns. */
static void read_delivery(const PGresult *r, int row, struct webhook_delivery *d)
{
    col_copy(r, row, 0, d->id, sizeof(d->id));
    col_copy(r, row, 1, d->webhook_id, sizeof(d->webhook_id));
    d->event = col_str(r, row, 2);
    d->conversation_id = col_str(r, row, 3);
    d->status = col_str(r, row, 4);
    d->attempts = (int)col_int64(r, row, 5);
    d->last_status_code = (int)col_int64(r, row, 6);
    d->last_error = col_str(r, row, 7);
    d->created_at = col_int64(r, row, 8);
    d->delivered_at = col_int64(r, row, 9);
    d->next_attempt_at = col_int64(r, row, 10);
}

typedef void (*row_reader)(const PGresult *r, int row, void *elem);

static void row_account(const PGresult *r, int row, void *elem)
{
    read_account(r, row, 0, elem);
}

static void row_key(const PGresult *r, int row, void *elem)
{
    read_key(r, row, 0, elem);
}

static void row_conversation(const PGresult *r, int row, void *elem)
{
    read_conversation(r, row, elem);
}

static void row_text(const PGresult *r, int row, void *elem)
{
    *(char **)elem = col_str(r, row, 0);
}

static void row_webhook(const PGresult *r, int row, void *elem)
{
    read_webhook(r, row, elem);
}

static void row_delivery(const PGresult *r, int row, void *elem)
{
    read_delivery(r, row, elem);
}

static void row_secret(const PGresult *r, int row, void *elem)
{
    struct secret *sec = elem;
    sec->name = col_str(r, row, 0);
    sec->description = col_str(r, row, 1);
    sec->value_sealed = col_str(r, row, 2);
    sec->created_at = col_int64(r, row, 3);
}

/* Every row of a result into a new array of `size`-byte elements; clears the result. */
static void rows_read(PGresult *res, size_t size, row_reader read, void **out, size_t *n)
{
    int rows = PQntuples(res);
    char *v = rows ? xcalloc((size_t)rows, size) : NULL;
    for (int i = 0; i < rows; i++) read(res, i, v + (size_t)i * size);
    PQclear(res);
    *out = v;
    *n = (size_t)rows;
}

/* ---- connections ---- */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not for stderr */
}

/* (Re)connects `cn` in place: the old connection, if any, is closed and its prepared
 * statements forgotten. Fails at once while the backoff after a failed attempt runs. */
static int conn_connect(struct pg_store *s, struct conn *cn, struct error *err)
{
    if (cn->pg) PQfinish(cn->pg);
    cn->pg = NULL;
    memset(cn->prepared, 0, sizeof(cn->prepared));
    cn->broken = true;
    pthread_mutex_lock(&s->mu);
    bool wait = s->retry_at && mono_ms() < s->retry_at;
    pthread_mutex_unlock(&s->mu);
    if (wait) return unavailable(err);

    /* The URL comes last: what it sets wins over these defaults. A server that vanished is
     * noticed within a minute: TCP keepalives on idle connections, tcp_user_timeout (ms) on
     * a statement whose answer never comes. */
    static const char *const keys[] = {"connect_timeout",  "application_name",
                                       "client_encoding",  "keepalives",
                                       "keepalives_idle",  "keepalives_interval",
                                       "keepalives_count", "tcp_user_timeout",
                                       "dbname",           NULL};
    const char *values[] = {"5", "cloudhands", "UTF8", "1", "30", "10", "3", "60000", s->url, NULL};
    cn->pg = PQconnectdbParams(keys, values, 1);
    if (!cn->pg || PQstatus(cn->pg) != CONNECTION_OK) {
        const char *why = cn->pg ? PQerrorMessage(cn->pg) : "out of memory";
        struct buf r = BUF_INIT;
        redact_into(s, why, &r);
        pthread_mutex_lock(&s->mu);
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS) s->backoff_ms = BACKOFF_MAX_MS;
        s->retry_at = mono_ms() + s->backoff_ms;
        pthread_mutex_unlock(&s->mu);
        log_down(s, r.data);
        if (err) err->retry_after = 1;
        /* At start, the operator reads why; later the details go to the log (log_down) and a
         * client's answer names no host, port or user. */
        if (s->opened)
            error_set(err, ERR_UNAVAILABLE, "the database is unavailable, try again in a moment");
        else
            error_set(err, ERR_UNAVAILABLE, "cannot connect to the database %s: %s", s->shown_url,
                      r.data);
        buf_release(&r);
        if (cn->pg) PQfinish(cn->pg);
        cn->pg = NULL;
        return ERR_UNAVAILABLE;
    }
    PQsetNoticeProcessor(cn->pg, quiet_notices, NULL);
    pthread_mutex_lock(&s->mu);
    cn->generation = s->generation;
    pthread_mutex_unlock(&s->mu);
    cn->broken = false;
    cn->used = false;
    log_up(s);
    return 0;
}

static void conn_free(struct conn *cn)
{
    if (cn->pg) PQfinish(cn->pg);
    free(cn);
}

/* Removes a connection from the store's list of all connections; under mu. */
static void conn_unlink(struct pg_store *s, struct conn *cn)
{
    struct conn **p = &s->all;
    while (*p && *p != cn) p = &(*p)->all_next;
    if (*p) *p = cn->all_next;
}

/* A free connection, a new one while the pool is below POOL_MAX, or one given back within
 * POOL_WAIT_MS. Idle connections older than the last loss are closed on the way. */
static int conn_take(struct pg_store *s, struct conn **out, struct error *err)
{
    struct conn *stale = NULL;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += POOL_WAIT_MS / 1000;
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->free_list && s->free_list->generation != s->generation) {
            struct conn *cn = s->free_list;
            s->free_list = cn->next;
            conn_unlink(s, cn);
            s->nconns--;
            cn->next = stale;
            stale = cn;
        }
        if (s->free_list || s->nconns < POOL_MAX) break;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0 && !s->free_list &&
            s->nconns >= POOL_MAX) {
            pthread_mutex_unlock(&s->mu);
            while (stale) {
                struct conn *next = stale->next;
                conn_free(stale);
                stale = next;
            }
            if (err) err->retry_after = 1;
            return error_set(err, ERR_UNAVAILABLE,
                             "all %d database connections are busy, try again", POOL_MAX);
        }
    }
    struct conn *cn = s->free_list;
    if (cn) {
        s->free_list = cn->next;
    } else {
        s->nconns++; /* reserve the slot; connect outside the lock */
    }
    pthread_mutex_unlock(&s->mu);
    while (stale) {
        struct conn *next = stale->next;
        conn_free(stale);
        stale = next;
    }
    if (cn) {
        cn->used = false;
        *out = cn;
        return 0;
    }
    cn = xcalloc(1, sizeof(*cn));
    int rc = conn_connect(s, cn, err);
    pthread_mutex_lock(&s->mu);
    if (rc) {
        s->nconns--;
        pthread_cond_signal(&s->cv);
    } else {
        cn->all_next = s->all;
        s->all = cn;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        conn_free(cn);
        return rc;
    }
    *out = cn;
    return 0;
}

/* Gives a connection back to the pool; one that is broken, older than the last loss, or left
 * inside a transaction that cannot be rolled back is closed instead. */
static void conn_give(struct pg_store *s, struct conn *cn)
{
    if (!cn->broken && PQtransactionStatus(cn->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(cn->pg, "ROLLBACK"); /* a bug: never commit what was left */
        if (PQresultStatus(r) != PGRES_COMMAND_OK || PQtransactionStatus(cn->pg) != PQTRANS_IDLE)
            cn->broken = true;
        PQclear(r);
    }
    if (PQstatus(cn->pg) != CONNECTION_OK) cn->broken = true;
    pthread_mutex_lock(&s->mu);
    bool close = cn->broken || cn->generation != s->generation;
    if (close) {
        conn_unlink(s, cn);
        s->nconns--;
    } else {
        cn->next = s->free_list;
        s->free_list = cn;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (close) conn_free(cn);
}

/* ---- read scopes ---- */

static bool in_scope(const struct pg_store *s)
{
    return tls.depth > 0 && tls.store_id == s->id;
}

/* The connection for one operation: inside this thread's read scope on `s`, the scope's
 * connection (taken at the scope's first operation, kept until read_end; a broken one is
 * replaced); else one from the pool. Given back with conn_put. */
static int conn_get(struct pg_store *s, struct conn **out, struct error *err)
{
    if (!in_scope(s)) return conn_take(s, out, err);
    if (tls.conn && tls.conn->broken) {
        conn_give(s, tls.conn);
        tls.conn = NULL;
        tls.tx = false;
    }
    if (!tls.conn) {
        int rc = conn_take(s, &tls.conn, err);
        if (rc) {
            tls.conn = NULL;
            return rc;
        }
    }
    *out = tls.conn;
    return 0;
}

static void conn_put(struct pg_store *s, struct conn *cn)
{
    if (in_scope(s) && cn == tls.conn) return; /* kept until read_end */
    conn_give(s, cn);
}

/* Before a write: ends the scope's read transaction when `cn` holds it, so the write runs as
 * usual and the scope's next read takes a new snapshot that includes it. */
static void read_tx_end(struct pg_store *s, struct conn *cn)
{
    if (cn != tls.conn || !tls.tx) return;
    tls.tx = false;
    if (q_exec(s, cn, NULL, NULL, ST_COMMIT, "")) cn->broken = true;
}

/* ---- transactions ---- */

static int tx_begin(struct pg_store *s, struct conn *cn, struct error *err)
{
    read_tx_end(s, cn);
    return q_exec(s, cn, err, NULL, ST_BEGIN, "");
}

/* Finishes a transaction: commit when everything went well, else roll back. */
static int tx_end(struct pg_store *s, struct conn *cn, int rc, struct error *err)
{
    if (rc) {
        if (!cn->broken && q_exec(s, cn, NULL, NULL, ST_ROLLBACK, "")) cn->broken = true;
        return rc;
    }
    rc = q_exec(s, cn, err, NULL, ST_COMMIT, "");
    if (rc && !cn->broken && PQtransactionStatus(cn->pg) != PQTRANS_IDLE &&
        q_exec(s, cn, NULL, NULL, ST_ROLLBACK, ""))
        cn->broken = true;
    return rc;
}

/* A single-statement write, in autocommit (after ending a scope's read transaction). */
static int write_one(struct pg_store *s, struct conn *cn, struct error *err, int64_t *changes,
                     enum stmt_id id, const char *fmt, ...)
{
    va_list ap;
    read_tx_end(s, cn);
    va_start(ap, fmt);
    int rc = q_vexec(s, cn, err, changes, id, fmt, ap);
    va_end(ap);
    return rc;
}

/* Locks the account row (see the top): ERR_NOT_FOUND when there is no such account. */
static int lock_account(struct pg_store *s, struct conn *cn, int64_t account_id, struct error *err)
{
    int64_t found;
    int rc = q_int64(s, cn, err, &found, ST_ACCOUNT_LOCK, "l", account_id);
    if (!rc && !found) rc = error_set(err, ERR_NOT_FOUND, "account not found");
    return rc;
}

/* ---- operations ---- */

/* Closes every connection. No operation may be running. */
static void pg_close(struct store *store)
{
    struct pg_store *s = store->impl;
    if (s->listening) {
        atomic_store(&s->stop_listening, true);
        pthread_join(s->listener, NULL);
    }
    if (tls.store_id == s->id) memset(&tls, 0, sizeof(tls));
    while (s->all) {
        struct conn *cn = s->all;
        s->all = cn->all_next;
        conn_free(cn);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->url);
    free(s->shown_url);
    for (int i = 0; i < 2; i++) {
        if (s->secrets[i]) memset(s->secrets[i], 0, strlen(s->secrets[i]));
        free(s->secrets[i]);
    }
    free(s);
}

static int pg_read_begin(struct store *store, struct error *err)
{
    struct pg_store *s = store->impl;
    if (tls.depth > 0 && tls.store_id != s->id)
        return error_set(err, ERR_INTERNAL, "a read scope on another store is open in this thread");
    tls.store_id = s->id;
    tls.depth++;
    return 0;
}

static void pg_read_end(struct store *store)
{
    struct pg_store *s = store->impl;
    if (!in_scope(s) || --tls.depth > 0) return;
    struct conn *cn = tls.conn;
    if (cn) read_tx_end(s, cn);
    memset(&tls, 0, sizeof(tls));
    if (cn) conn_give(s, cn);
}

/* The version of a migration file: its leading number ("001_init.sql" is 1); 0 if none. */
static int migration_version(const char *name)
{
    char *end;
    long v = strtol(name, &end, 10);
    if (end == name || *end != '_' || v <= 0 || v > INT32_MAX) return 0;
    return (int)v;
}

/* Runs SQL text (one or more statements, no parameters) on the connection. */
static int exec_text(struct pg_store *s, struct conn *cn, const char *sql, struct error *err)
{
    PGresult *res = PQexec(cn->pg, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = db_error(s, cn, res, err);
    PQclear(res);
    return rc;
}

/* Applies one migration unless it is recorded, in its own transaction. */
static int migrate_one(struct pg_store *s, struct conn *cn, const struct embedded_file *m,
                       int version, struct error *err)
{
    int rc = tx_begin(s, cn, err);
    if (rc) return rc;
    int64_t applied;
    rc = q_int64(s, cn, err, &applied, ST_MIG_HAS, "i", version);
    if (!rc && !applied) {
        rc = exec_text(s, cn, (const char *)m->data, err);
        if (rc == ERR_INTERNAL) {
            char why[sizeof(err->message)];
            snprintf(why, sizeof(why), "%s", err ? err->message : "");
            error_set(err, ERR_INTERNAL, "migration %s failed: %s", m->name, why);
        }
        if (!rc)
            rc = q_exec(s, cn, err, NULL, ST_MIG_RECORD, "itl", version, m->name, time_now_us());
    }
    return tx_end(s, cn, rc, err);
}

/* Under the advisory lock: the bookkeeping table, each migration not yet applied, the check
 * that the database is not newer than this build. */
static int migrate_locked(struct pg_store *s, struct conn *cn, int *version, struct error *err)
{
    int rc = exec_text(s, cn,
                       "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
                       "name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                       err);
    int known = 0;
    for (const struct embedded_file *m = postgres_migrations; !rc && m->name; m++) {
        int v = migration_version(m->name);
        if (!v)
            rc = error_set(err, ERR_INTERNAL, "migration %s has no version number", m->name);
        else
            rc = migrate_one(s, cn, m, v, err);
        if (v > known) known = v;
    }
    int64_t max = 0;
    if (!rc) rc = q_int64(s, cn, err, &max, ST_MIG_MAX, "");
    /* A newer cloudhands migrated this database: an older one would misread it. */
    if (!rc && max > known)
        rc = error_set(err, ERR_INTERNAL,
                       "the database has schema version %lld, newer than this cloudhands knows "
                       "(%d): run the newer cloudhands, or restore a backup made before the "
                       "upgrade",
                       (long long)max, known);
    if (!rc && version) *version = (int)max;
    return rc;
}

static int pg_migrate(struct store *store, int *version, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    if (version) *version = 0;
    int rc = conn_take(s, &cn, err); /* never a scope's connection */
    if (rc) return rc;
    rc = q_exec(s, cn, err, NULL, ST_MIG_LOCK, "");
    if (!rc) {
        rc = migrate_locked(s, cn, version, err);
        /* Closing the connection releases the lock too. */
        if (!cn->broken && q_exec(s, cn, NULL, NULL, ST_MIG_UNLOCK, "")) cn->broken = true;
    }
    conn_give(s, cn);
    return rc;
}

static int pg_account_create(struct store *store, const char *name, bool is_admin,
                             int max_concurrent, int64_t now, int64_t *id, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int64_t new_id = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    read_tx_end(s, cn);
    rc = q_int64(s, cn, err, &new_id, ST_ACCOUNT_INSERT, "tbzl", name, (int)is_admin,
                 (int64_t)max_concurrent, now);
    if (is_unique_violation(cn, rc))
        rc = error_set(err, ERR_CONFLICT, "account %s already exists", name);
    else if (!rc && id)
        *id = new_id;
    conn_put(s, cn);
    return rc;
}

/* Runs a query expected to return at most one row; *res is NULL when it returned none. */
static int q_one(struct pg_store *s, struct conn *cn, struct error *err, PGresult **res,
                 enum stmt_id id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vrun(s, cn, err, res, id, fmt, ap);
    va_end(ap);
    if (!rc && PQntuples(*res) == 0) {
        PQclear(*res);
        *res = NULL;
    }
    return rc;
}

static int pg_account_get_by_name(struct store *store, const char *name, struct account *out,
                                  struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_ACCOUNT_BY_NAME, "t", name);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "account %s not found", name);
    read_account(res, 0, 0, out);
    PQclear(res);
    return 0;
}

/* Runs a query and reads all its rows into an array (see rows_read). */
static int q_list(struct pg_store *s, size_t size, row_reader read, void **out, size_t *n,
                  struct error *err, enum stmt_id id, const char *fmt, ...)
{
    struct conn *cn;
    PGresult *res;
    *out = NULL;
    *n = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = q_vrun(s, cn, err, &res, id, fmt, ap);
    va_end(ap);
    conn_put(s, cn);
    if (!rc) rows_read(res, size, read, out, n);
    return rc;
}

static int pg_account_list(struct store *store, struct account **out, size_t *n, struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_account, (void **)out, n, err, ST_ACCOUNT_LIST,
                  "");
}

/* A one-number read of its own. */
static int read_int64(struct pg_store *s, int64_t *v, struct error *err, enum stmt_id id,
                      const char *fmt, ...)
{
    struct conn *cn;
    PGresult *res;
    *v = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = q_vrun(s, cn, err, &res, id, fmt, ap);
    va_end(ap);
    conn_put(s, cn);
    if (rc) return rc;
    if (PQntuples(res) > 0) *v = col_int64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_account_count(struct store *store, int64_t *n, struct error *err)
{
    return read_int64(store->impl, n, err, ST_ACCOUNT_COUNT, "");
}

static int pg_key_create(struct store *store, int64_t account_id, const char *name,
                         const char *hash_hex, int64_t created_at, int64_t expires_at, int64_t *id,
                         struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int64_t new_id = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    read_tx_end(s, cn);
    rc = q_int64(s, cn, err, &new_id, ST_KEY_INSERT, "lttlz", account_id, name, hash_hex,
                 created_at, expires_at);
    if (is_unique_violation(cn, rc))
        rc = error_set(err, ERR_CONFLICT, "an API key with this hash already exists");
    else if (is_fk_violation(cn, rc))
        rc = error_set(err, ERR_NOT_FOUND, "account not found");
    else if (!rc && id)
        *id = new_id;
    conn_put(s, cn);
    return rc;
}

/* One indexed read; the write-back of last_used_at happens only when the stored time is older
 * than touch_before, and is best effort (an unavailable database does not fail an otherwise
 * valid authentication). */
static int pg_key_authenticate(struct store *store, const char *hash_hex, int64_t now,
                               int64_t touch_before, struct api_key *key, struct account *acct,
                               char stored_hash[65], struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(key, 0, sizeof(*key));
    memset(acct, 0, sizeof(*acct));
    stored_hash[0] = '\0';
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_KEY_AUTH, "t", hash_hex);
    if (!rc && res) {
        read_key(res, 0, 0, key);
        col_copy(res, 0, 6, stored_hash, 65);
        read_account(res, 0, 7, acct);
        PQclear(res);
    } else if (!rc) {
        rc = error_set(err, ERR_UNAUTHORIZED, "invalid API key");
    }
    if (!rc && (key->last_used_at == 0 || key->last_used_at < touch_before)) {
        struct error touch_err = {0};
        int64_t changed = 0;
        int trc =
            write_one(s, cn, &touch_err, &changed, ST_KEY_TOUCH, "lll", key->id, now, touch_before);
        if (!trc && changed > 0) key->last_used_at = now;
        if (trc && trc != ERR_UNAVAILABLE) {
            rc = trc;
            if (err) {
                error_clear(err);
                *err = touch_err;
            }
        }
    }
    conn_put(s, cn);
    if (rc) {
        api_key_free(key);
        account_free(acct);
        stored_hash[0] = '\0';
    }
    return rc;
}

static int pg_key_get(struct store *store, int64_t account_id, int64_t id, struct api_key *out,
                      struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_KEY_GET, "ll", id, account_id);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "API key not found");
    read_key(res, 0, 0, out);
    PQclear(res);
    return 0;
}

static int pg_key_list(struct store *store, int64_t account_id, struct api_key **out, size_t *n,
                       struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_key, (void **)out, n, err, ST_KEY_LIST, "l",
                  account_id);
}

/* A single-statement write of its own; *changes gets the rows it changed. */
static int write_alone(struct pg_store *s, int64_t *changes, struct error *err, enum stmt_id id,
                       const char *fmt, ...)
{
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    read_tx_end(s, cn);
    va_list ap;
    va_start(ap, fmt);
    rc = q_vexec(s, cn, err, changes, id, fmt, ap);
    va_end(ap);
    if (is_unique_violation(cn, rc)) {
        rc = error_set(err, ERR_CONFLICT, "already exists");
    } else if (is_fk_violation(cn, rc)) {
        rc = error_set(err, ERR_NOT_FOUND, "account not found");
    }
    conn_put(s, cn);
    return rc;
}

static int pg_key_revoke(struct store *store, int64_t account_id, int64_t id, int64_t now,
                         struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_KEY_REVOKE, "lll", id, account_id, now);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "API key not found");
    return rc;
}

/* Counts the account's active (STARTING/RUNNING) conversations and fails with ERR_LIMIT
 * when there are `limit` or more. Inside the caller's transaction, after lock_account. */
static int check_limit(struct pg_store *s, struct conn *cn, int64_t account_id, int limit,
                       int *current, struct error *err)
{
    int64_t count;
    int rc = q_int64(s, cn, err, &count, ST_CONV_COUNT_ACTIVE, "l", account_id);
    if (rc || count < limit) return rc;
    if (current) *current = (int)count;
    return error_set(err, ERR_LIMIT, "You have %lld conversations running; the limit is %d",
                     (long long)count, limit);
}

/* The body of conversation_create, inside its transaction. Returns with res->replayed set
 * (and nothing written) when the idempotency key is fresh. */
static int create_in_tx(struct pg_store *s, struct conn *cn, const struct conversation *c,
                        const struct conversation_create_opts *opts,
                        struct conversation_create_result *res, struct error *err)
{
    int rc = lock_account(s, cn, c->account_id, err);
    if (rc) return rc;
    const char *key = opts->idempotency_key;
    if (key) {
        /* Expired keys of this account go first, so what is found is fresh. */
        rc = q_exec(s, cn, err, NULL, ST_IDEM_PURGE, "ll", c->account_id, opts->idempotency_since);
        if (rc) return rc;
        PGresult *r;
        rc = q_one(s, cn, err, &r, ST_IDEM_GET, "lt", c->account_id, key);
        if (rc) return rc;
        if (r) {
            res->replayed = true;
            res->response = col_str(r, 0, 0);
            PQclear(r);
            return 0;
        }
    }
    if (opts->limit > 0 &&
        (rc = check_limit(s, cn, c->account_id, opts->limit, &res->current, err)))
        return rc;

    const char *status = c->status ? c->status : CONV_STARTING;
    bool queued = strcmp(status, CONV_STARTING) == 0;
    int64_t updated_at = c->updated_at ? c->updated_at : c->created_at;
    int64_t next_event_id = opts->first_event ? 1 : 0;
    rc = q_exec(s, cn, err, NULL, ST_CONV_INSERT,
                "tl"
                "ttttttttttttt"
                "lllz",
                c->id, c->account_id, c->title, status, c->agent_state, c->trigger,
                c->selected_repository, c->selected_branch, c->git_provider,
                c->conversation_instructions, c->runtime_status, c->branch, c->error,
                c->pull_requests, c->metrics, c->created_at, updated_at, next_event_id,
                queued ? c->created_at : (int64_t)0);
    if (is_unique_violation(cn, rc))
        return error_set(err, ERR_CONFLICT, "conversation %s already exists", c->id);
    if (!rc && opts->first_event)
        rc = q_exec(s, cn, err, NULL, ST_EVENT_INSERT, "tlt", c->id, (int64_t)0, opts->first_event);
    if (!rc && key)
        rc = q_exec(s, cn, err, NULL, ST_IDEM_INSERT, "lttl", c->account_id, key, opts->response,
                    c->created_at);
    return rc;
}

static int pg_conversation_create(struct store *store, const struct conversation *c,
                                  const struct conversation_create_opts *opts,
                                  struct conversation_create_result *res, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conversation_create_result ignored;
    struct conn *cn;
    if (!res) res = &ignored;
    memset(res, 0, sizeof(*res));
    if (opts->idempotency_key && !opts->response)
        return error_set(err, ERR_INTERNAL, "an idempotency key needs a response to remember");
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, create_in_tx(s, cn, c, opts, res, err), err);
    conn_put(s, cn);
    if (rc && res->replayed) { /* the commit failed after the lookup */
        free(res->response);
        res->response = NULL;
        res->replayed = false;
    }
    if (rc && rc != ERR_LIMIT) res->current = 0;
    if (res == &ignored) free(ignored.response);
    return rc;
}

static int pg_conversation_get(struct store *store, int64_t account_id, const char *id,
                               struct conversation *out, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_CONV_GET, "tl", id, account_id);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "conversation not found");
    read_conversation(res, 0, out);
    PQclear(res);
    return 0;
}

static int pg_conversation_list(struct store *store, int64_t account_id,
                                const struct conversation_filter *f, int64_t before_seq, int limit,
                                struct conversation **out, size_t *n, struct error *err)
{
    static const struct conversation_filter any = {0};
    if (!f) f = &any;
    return q_list(store->impl, sizeof(**out), row_conversation, (void **)out, n, err, ST_CONV_LIST,
                  "lltttz", account_id, before_seq > 0 ? before_seq : INT64_MAX,
                  f->selected_repository, f->trigger, f->status, (int64_t)(limit > 0 ? limit : 0));
}

static int pg_conversation_set_title(struct store *store, int64_t account_id, const char *id,
                                     const char *title, int64_t now, struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_CONV_SET_TITLE, "tltl", id, account_id,
                         title, now);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    return rc;
}

/* The body of conversation_set_status, inside its transaction: the account first (when the
 * limit may apply), then the conversation. */
static int set_status_in_tx(struct pg_store *s, struct conn *cn, int64_t account_id, const char *id,
                            const char *status, const char *agent_state, int limit, int64_t now,
                            int *current, struct error *err)
{
    bool check = limit > 0 && conversation_status_is_active(status);
    int rc = check ? lock_account(s, cn, account_id, err) : 0;
    if (rc) return rc == ERR_NOT_FOUND ? error_set(err, rc, "conversation not found") : rc;
    PGresult *r;
    rc = q_one(s, cn, err, &r, ST_CONV_STATUS_LOCK, "tl", id, account_id);
    if (rc) return rc;
    if (!r) return error_set(err, ERR_NOT_FOUND, "conversation not found");
    bool was_active = conversation_status_is_active(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (check && !was_active && (rc = check_limit(s, cn, account_id, limit, current, err)))
        return rc;
    return q_exec(s, cn, err, NULL, ST_CONV_SET_STATUS, "tlttl", id, account_id, status,
                  agent_state, now);
}

static int pg_conversation_set_status(struct store *store, int64_t account_id, const char *id,
                                      const char *status, const char *agent_state, int limit,
                                      int64_t now, int *current, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    if (current) *current = 0;
    if (!status) return error_set(err, ERR_INTERNAL, "conversation_set_status without a status");
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc)
        rc = tx_end(
            s, cn,
            set_status_in_tx(s, cn, account_id, id, status, agent_state, limit, now, current, err),
            err);
    conn_put(s, cn);
    if (rc && rc != ERR_LIMIT && current) *current = 0;
    return rc;
}

/* Deletes the conversation; its events go with it (ON DELETE CASCADE). */
static int pg_conversation_delete(struct store *store, int64_t account_id, const char *id,
                                  struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_CONV_DELETE, "tl", id, account_id);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    return rc;
}

static int pg_event_list(struct store *store, const char *conversation_id, int64_t start_id,
                         int64_t end_id, bool reverse, int limit, char ***out, size_t *n,
                         struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_text, (void **)out, n, err,
                  reverse ? ST_EVENT_LIST_DESC : ST_EVENT_LIST_ASC, "tllz", conversation_id,
                  start_id, end_id < 0 ? INT64_MAX : end_id, (int64_t)(limit > 0 ? limit : 0));
}

/* ---- the runtime: events, claims, settings, secrets ---- */

/* The runner rule of store.h, under the conversation's row lock: with a runner, it must hold
 * the conversation and the conversation must be active; without one, it must exist. */
static int run_check(struct pg_store *s, struct conn *cn, const char *id, const char *runner,
                     struct error *err)
{
    int64_t ok;
    int rc = q_int64(s, cn, err, &ok, ST_RUN_CHECK, "tt", id, runner);
    if (rc || ok) return rc;
    return runner ? error_set(err, ERR_CONFLICT, "the conversation is no longer this runner's")
                  : error_set(err, ERR_NOT_FOUND, "conversation not found");
}

/* Gives the event the conversation's next id (and a timestamp when it has none) and stores
 * it. Inside the caller's transaction. */
static int insert_event(struct pg_store *s, struct conn *cn, const char *conversation_id,
                        json_t *event, int64_t now, int64_t *id, struct error *err)
{
    PGresult *r;
    int rc = q_one(s, cn, err, &r, ST_RUN_NEXT_EVENT, "t", conversation_id);
    if (rc) return rc;
    if (!r) return error_set(err, ERR_NOT_FOUND, "conversation not found");
    int64_t next = col_int64(r, 0, 0);
    PQclear(r);
    json_object_set_new(event, "id", json_integer(next));
    if (!json_object_get(event, "timestamp")) {
        char iso[ISO_TIME_LEN];
        json_object_set_new(event, "timestamp", json_string(time_format_iso(now, iso)));
    }
    char *body = json_dumps(event, JSON_COMPACT);
    if (!body) return error_set(err, ERR_INTERNAL, "an event could not be serialized");
    rc = q_exec(s, cn, err, NULL, ST_EVENT_INSERT, "tlt", conversation_id, next, body);
    free(body);
    if (!rc && id) *id = next;
    return rc;
}

static int apply_update(struct pg_store *s, struct conn *cn, const char *id,
                        const struct conversation_update *u, int64_t now, struct error *err)
{
    if (!u) return 0;
    return q_exec(s, cn, err, NULL, ST_RUN_UPDATE, "tttttttttlbt", id, u->status, u->agent_state,
                  u->runtime_status, u->error, u->metrics, u->title, u->branch, u->pull_requests,
                  now, (int)u->release, u->base_commit);
}

static int pg_event_append(struct store *store, const char *conversation_id, const char *runner,
                           json_t *event, const struct conversation_update *upd, int64_t now,
                           int64_t *id, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) {
        int body = run_check(s, cn, conversation_id, runner, err);
        if (!body) body = insert_event(s, cn, conversation_id, event, now, id, err);
        if (!body) body = apply_update(s, cn, conversation_id, upd, now, err);
        rc = tx_end(s, cn, body, err);
    }
    conn_put(s, cn);
    return rc;
}

static int pg_conversation_update(struct store *store, const char *conversation_id,
                                  const char *runner, const struct conversation_update *upd,
                                  int64_t now, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) {
        int body = run_check(s, cn, conversation_id, runner, err);
        if (!body) body = apply_update(s, cn, conversation_id, upd, now, err);
        rc = tx_end(s, cn, body, err);
    }
    conn_put(s, cn);
    return rc;
}

/* The body of conversation_message, inside its transaction: the account, then the
 * conversation. */
static int message_in_tx(struct pg_store *s, struct conn *cn, int64_t account_id, const char *id,
                         json_t *event, int limit, int64_t now, int64_t *event_id, bool *queued,
                         int *current, struct error *err)
{
    int rc = lock_account(s, cn, account_id, err);
    if (rc) return rc == ERR_NOT_FOUND ? error_set(err, rc, "conversation not found") : rc;
    PGresult *r;
    rc = q_one(s, cn, err, &r, ST_CONV_STATUS_LOCK, "tl", id, account_id);
    if (rc) return rc;
    if (!r) return error_set(err, ERR_NOT_FOUND, "conversation not found");
    bool active = conversation_status_is_active(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!active && limit > 0 && (rc = check_limit(s, cn, account_id, limit, current, err)))
        return rc;
    rc = insert_event(s, cn, id, event, now, event_id, err);
    if (!rc && !active) {
        rc = q_exec(s, cn, err, NULL, ST_MSG_QUEUE, "tl", id, now);
        *queued = !rc;
    }
    return rc;
}

static int pg_conversation_message(struct store *store, int64_t account_id,
                                   const char *conversation_id, json_t *event, int limit,
                                   int64_t now, int64_t *id, bool *queued, int *current,
                                   struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    bool ignored_queued;
    int ignored_current;
    if (!queued) queued = &ignored_queued;
    if (!current) current = &ignored_current;
    *queued = false;
    *current = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc)
        rc = tx_end(s, cn,
                    message_in_tx(s, cn, account_id, conversation_id, event, limit, now, id, queued,
                                  current, err),
                    err);
    conn_put(s, cn);
    if (rc) *queued = false;
    if (rc && rc != ERR_LIMIT) *current = 0;
    return rc;
}

static int pg_conversation_claim(struct store *store, const char *runner, const char *node,
                                 int64_t now, int64_t lease_until, int64_t stale_before,
                                 struct conversation *out, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    read_tx_end(s, cn);
    rc = q_one(s, cn, err, &res, ST_CLAIM, "tlltl", runner, now, lease_until, node, stale_before);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return ERR_NOT_FOUND;
    read_conversation(res, 0, out);
    free(out->node); /* the node it had until now (store.h) */
    out->node = col_str(res, 0, 20);
    PQclear(res);
    return 0;
}

static int pg_conversation_renew(struct store *store, const char *conversation_id,
                                 const char *runner, int64_t lease_until, struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_RENEW, "ttl", conversation_id, runner,
                         lease_until);
    if (!rc && changed == 0)
        rc = error_set(err, ERR_CONFLICT, "the conversation is no longer this runner's");
    return rc;
}

/* The stored settings object of an account ({} when none). */
static int settings_read(struct pg_store *s, struct conn *cn, int64_t account_id, json_t **out,
                         struct error *err)
{
    PGresult *r;
    *out = NULL;
    int rc = q_one(s, cn, err, &r, ST_SETTINGS_GET, "l", account_id);
    if (rc) return rc;
    if (r) {
        *out = json_loads(PQgetisnull(r, 0, 0) ? "{}" : PQgetvalue(r, 0, 0), 0, NULL);
        PQclear(r);
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = json_object();
    }
    return 0;
}

static int pg_settings_get(struct store *store, int64_t account_id, json_t **out, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    *out = NULL;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = settings_read(s, cn, account_id, out, err);
    conn_put(s, cn);
    return rc;
}

/* Read-modify-write under the account's lock, so concurrent changes of different members all
 * land. */
static int settings_put_in_tx(struct pg_store *s, struct conn *cn, int64_t account_id,
                              json_t *changes, struct error *err)
{
    int rc = lock_account(s, cn, account_id, err);
    if (rc) return rc;
    json_t *cur;
    rc = settings_read(s, cn, account_id, &cur, err);
    if (rc) return rc;
    const char *key;
    json_t *v;
    json_object_foreach(changes, key, v)
    {
        if (json_is_null(v))
            json_object_del(cur, key);
        else
            json_object_set(cur, key, v);
    }
    char *body = json_dumps(cur, JSON_COMPACT);
    json_decref(cur);
    if (!body) return error_set(err, ERR_INTERNAL, "settings could not be serialized");
    rc = q_exec(s, cn, err, NULL, ST_SETTINGS_PUT, "lt", account_id, body);
    free(body);
    return rc;
}

static int pg_settings_put(struct store *store, int64_t account_id, json_t *changes,
                           struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, settings_put_in_tx(s, cn, account_id, changes, err), err);
    conn_put(s, cn);
    return rc;
}

static int pg_secret_list(struct store *store, int64_t account_id, struct secret **out, size_t *n,
                          struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_secret, (void **)out, n, err, ST_SECRET_LIST, "l",
                  account_id);
}

static int pg_secret_put(struct store *store, int64_t account_id, const char *name,
                         const char *description, const char *value_sealed, bool create,
                         int64_t now, struct error *err)
{
    struct pg_store *s = store->impl;
    int64_t changed = 0;
    if (create && !value_sealed) return error_set(err, ERR_INTERNAL, "a new secret needs a value");
    if (create) {
        int rc = write_alone(s, NULL, err, ST_SECRET_INSERT, "ltttl", account_id, name, description,
                             value_sealed, now);
        if (rc == ERR_CONFLICT) rc = error_set(err, ERR_CONFLICT, "secret %s already exists", name);
        return rc;
    }
    int rc = write_alone(s, &changed, err, ST_SECRET_UPDATE, "lttt", account_id, name, description,
                         value_sealed);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "secret not found");
    return rc;
}

static int pg_secret_delete(struct store *store, int64_t account_id, const char *name,
                            struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_SECRET_DELETE, "lt", account_id, name);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "secret not found");
    return rc;
}

static int pg_account_set_password(struct store *store, const char *name, const char *password_hash,
                                   struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_PASSWORD_SET, "tt", name, password_hash);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "account %s not found", name);
    return rc;
}

static int pg_account_login_info(struct store *store, const char *name, struct account *out,
                                 char **password_hash, int *failures, int64_t *locked_until,
                                 struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    *password_hash = NULL;
    *failures = 0;
    *locked_until = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_LOGIN_INFO, "t", name);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "account %s not found", name);
    read_account(res, 0, 0, out);
    *password_hash = col_str(res, 0, 5);
    *failures = (int)col_int64(res, 0, 6);
    *locked_until = col_int64(res, 0, 7);
    PQclear(res);
    return 0;
}

static int pg_account_login_update(struct store *store, int64_t account_id, int failures,
                                   int64_t locked_until, struct error *err)
{
    return write_alone(store->impl, NULL, err, ST_LOGIN_UPDATE, "liz", account_id, failures,
                       locked_until);
}

static int pg_session_create(struct store *store, const char *id_hash, int64_t account_id,
                             const char *csrf_token, int64_t now, int64_t expires_at,
                             struct error *err)
{
    struct pg_store *s = store->impl;
    int rc = write_alone(s, NULL, err, ST_SESSION_PURGE, "l", now);
    if (!rc)
        rc = write_alone(s, NULL, err, ST_SESSION_INSERT, "tltll", id_hash, account_id, csrf_token,
                         now, expires_at);
    return rc;
}

static int pg_session_get(struct store *store, const char *id_hash, struct account *acct,
                          char csrf_token[65], int64_t *expires_at, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(acct, 0, sizeof(*acct));
    csrf_token[0] = '\0';
    *expires_at = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_SESSION_GET, "t", id_hash);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_UNAUTHORIZED, "no such session");
    read_account(res, 0, 0, acct);
    col_copy(res, 0, 5, csrf_token, 65);
    *expires_at = col_int64(res, 0, 6);
    PQclear(res);
    return 0;
}

static int pg_session_delete(struct store *store, const char *id_hash, struct error *err)
{
    return write_alone(store->impl, NULL, err, ST_SESSION_DELETE, "t", id_hash);
}

static int pg_conversation_status_counts(struct store *store, const char *const *statuses,
                                         int64_t *counts, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    for (size_t i = 0; statuses[i]; i++) counts[i] = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_run(s, cn, err, &res, ST_STATUS_COUNTS, "");
    conn_put(s, cn);
    if (rc) return rc;
    for (int row = 0; row < PQntuples(res); row++) {
        const char *status = PQgetvalue(res, row, 0);
        for (size_t i = 0; statuses[i]; i++)
            if (strcmp(statuses[i], status) == 0) counts[i] = col_int64(res, row, 1);
    }
    PQclear(res);
    return 0;
}

/* ---- nodes ---- */

static int pg_node_seen(struct store *store, const char *id, const char *url, int64_t alive_until,
                        struct error *err)
{
    return write_alone(store->impl, NULL, err, ST_NODE_SEEN, "ttl", id, url, alive_until);
}

static void row_node(const PGresult *r, int row, void *elem)
{
    struct node *n = elem;
    n->id = col_str(r, row, 0);
    n->url = col_str(r, row, 1);
    n->alive_until = col_int64(r, row, 2);
    if (PQnfields(r) > 3) n->workspaces = col_int64(r, row, 3);
}

static int pg_node_get(struct store *store, const char *id, struct node *out, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_NODE_GET, "t", id);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "node not found");
    row_node(res, 0, out);
    PQclear(res);
    return 0;
}

static int pg_node_list(struct store *store, struct node **out, size_t *n, struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_node, (void **)out, n, err, ST_NODE_LIST, "");
}

static int pg_cluster_value(struct store *store, const char *name, const char *value, char **stored,
                            struct error *err)
{
    struct pg_store *s = store->impl;
    PGresult *res = NULL;
    *stored = NULL;
    int rc = write_alone(s, NULL, err, ST_CLUSTER_PUT, "tt", name, value);
    struct conn *cn;
    if (!rc) rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_CLUSTER_GET, "t", name);
    conn_put(s, cn);
    if (!rc && !res) rc = error_set(err, ERR_NOT_FOUND, "cluster value not found");
    if (!rc) *stored = col_str(res, 0, 0);
    if (res) PQclear(res);
    return rc;
}

/* ---- webhooks ---- */

/* The body of webhook_create, inside its transaction, under the account's lock. */
static int webhook_create_in_tx(struct pg_store *s, struct conn *cn, const struct webhook *w,
                                int max, struct error *err)
{
    int rc = lock_account(s, cn, w->account_id, err);
    if (rc) return rc;
    int64_t count;
    rc = q_int64(s, cn, err, &count, ST_WEBHOOK_COUNT, "l", w->account_id);
    if (rc) return rc;
    if (max > 0 && count >= max)
        return error_set(err, ERR_LIMIT, "The account has %lld webhooks; the limit is %d",
                         (long long)count, max);
    rc = q_exec(s, cn, err, NULL, ST_WEBHOOK_INSERT, "tlttttl", w->id, w->account_id, w->url,
                w->events, w->description, w->secret_sealed, w->created_at);
    if (is_unique_violation(cn, rc))
        return error_set(err, ERR_CONFLICT, "webhook %s already exists", w->id);
    return rc;
}

static int pg_webhook_create(struct store *store, const struct webhook *w, int max,
                             struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, webhook_create_in_tx(s, cn, w, max, err), err);
    conn_put(s, cn);
    return rc;
}

static int pg_webhook_list(struct store *store, int64_t account_id, struct webhook **out, size_t *n,
                           struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_webhook, (void **)out, n, err, ST_WEBHOOK_LIST,
                  "l", account_id);
}

static int pg_webhook_get(struct store *store, int64_t account_id, const char *id,
                          struct webhook *out, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_one(s, cn, err, &res, ST_WEBHOOK_GET, "tl", id, account_id);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return error_set(err, ERR_NOT_FOUND, "webhook not found");
    read_webhook(res, 0, out);
    PQclear(res);
    return 0;
}

static int pg_webhook_delete(struct store *store, int64_t account_id, const char *id,
                             struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_WEBHOOK_DELETE, "tl", id, account_id);
    if (!rc && changed == 0) rc = error_set(err, ERR_NOT_FOUND, "webhook not found");
    return rc;
}

static int delivery_create_in_tx(struct pg_store *s, struct conn *cn,
                                 const struct webhook_delivery *d, size_t n, int64_t purge_before,
                                 struct error *err)
{
    int rc = purge_before > 0 ? q_exec(s, cn, err, NULL, ST_DELIVERY_PURGE, "l", purge_before) : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = q_exec(s, cn, err, NULL, ST_DELIVERY_INSERT, "tttttll", d[i].id, d[i].webhook_id,
                    d[i].event, d[i].conversation_id, d[i].body, d[i].created_at,
                    d[i].next_attempt_at);
        if (is_unique_violation(cn, rc))
            rc = error_set(err, ERR_CONFLICT, "delivery %s already exists", d[i].id);
    }
    return rc;
}

static int pg_webhook_delivery_create(struct store *store, const struct webhook_delivery *d,
                                      size_t n, int64_t purge_before, struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, delivery_create_in_tx(s, cn, d, n, purge_before, err), err);
    conn_put(s, cn);
    return rc;
}

static int pg_webhook_delivery_list(struct store *store, int64_t account_id, const char *webhook_id,
                                    int limit, struct webhook_delivery **out, size_t *n,
                                    struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_delivery, (void **)out, n, err, ST_DELIVERY_LIST,
                  "tlz", webhook_id, account_id, (int64_t)(limit > 0 ? limit : 0));
}

static int pg_webhook_delivery_claim(struct store *store, const char *worker, int64_t now,
                                     int64_t lease_until, struct webhook_delivery *out,
                                     struct error *err)
{
    struct pg_store *s = store->impl;
    struct conn *cn;
    PGresult *res;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    read_tx_end(s, cn);
    rc = q_one(s, cn, err, &res, ST_DELIVERY_CLAIM, "tll", worker, now, lease_until);
    conn_put(s, cn);
    if (rc) return rc;
    if (!res) return ERR_NOT_FOUND;
    read_delivery(res, 0, out);
    out->body = col_str(res, 0, 11);
    out->url = col_str(res, 0, 12);
    out->secret_sealed = col_str(res, 0, 13);
    PQclear(res);
    return 0;
}

static int pg_webhook_delivery_finish(struct store *store, const char *id, const char *worker,
                                      const struct webhook_attempt *a, struct error *err)
{
    int64_t changed = 0;
    int rc = write_alone(store->impl, &changed, err, ST_DELIVERY_FINISH, "tttztzz", id, worker,
                         a->status, (int64_t)a->status_code, a->error, a->delivered_at,
                         a->next_attempt_at);
    if (!rc && changed == 0)
        rc = error_set(err, ERR_CONFLICT, "the delivery is no longer this worker's");
    return rc;
}

/* ---- signals between processes (LISTEN/NOTIFY) ---------------------------------------------- */

static int pg_publish(struct store *store, int kind, const char *id, struct error *err)
{
    struct pg_store *s = store->impl;
    char payload[128];
    snprintf(payload, sizeof(payload), "%s %d %.64s", s->tag, kind, id && *id ? id : "-");
    return write_alone(s, NULL, err, ST_NOTIFY, "t", payload);
}

/* One signal's payload: delivered unless this process sent it. */
static void deliver_payload(struct pg_store *s, const char *payload)
{
    char tag[24], id[72];
    int kind;
    if (sscanf(payload, "%23s %d %71s", tag, &kind, id) != 3 || strcmp(tag, s->tag) == 0) return;
    s->deliver(s->deliver_ctx, kind, strcmp(id, "-") == 0 ? NULL : id);
}

/* The listener: its own connection (not the pool's), LISTEN, then wait on its socket; on a lost
 * connection, reconnect with a backoff and tell the process to look again (kind -1). */
static void *listen_thread(void *arg)
{
    struct pg_store *s = arg;
    static const char *const keys[] = {"connect_timeout", "application_name", "keepalives",
                                       "keepalives_idle", "dbname",           NULL};
    const char *values[] = {"5", "cloudhands-listen", "1", "30", s->url, NULL};
    PGconn *pg = NULL;
    int backoff = 0;
    bool first = true;
    while (!atomic_load(&s->stop_listening)) {
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            if (pg) PQfinish(pg);
            pg = PQconnectdbParams(keys, values, 1);
            if (pg) PQsetNoticeProcessor(pg, quiet_notices, NULL);
            PGresult *r =
                pg && PQstatus(pg) == CONNECTION_OK ? PQexec(pg, "LISTEN " NOTIFY_CHANNEL) : NULL;
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
                if (backoff > LISTEN_BACKOFF_MAX) backoff = LISTEN_BACKOFF_MAX;
                for (int t = 0; t < backoff && !atomic_load(&s->stop_listening); t += 50) {
                    struct timespec ts = {0, 50 * 1000000L};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            backoff = 0;
            if (!first) s->deliver(s->deliver_ctx, -1, NULL); /* may have missed some */
            first = false;
        }
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&pfd, 1, 250);
        if (n < 0) continue;
        if (n > 0 && !PQconsumeInput(pg)) continue; /* lost: reconnect above */
        PGnotify *note;
        while ((note = PQnotifies(pg))) {
            deliver_payload(s, note->extra);
            PQfreemem(note);
        }
    }
    if (pg) PQfinish(pg);
    return NULL;
}

static int pg_listen(struct store *store, void (*deliver)(void *ctx, int kind, const char *id),
                     void *ctx, struct error *err)
{
    struct pg_store *s = store->impl;
    if (s->listening) return error_set(err, ERR_INTERNAL, "the store is listening already");
    s->deliver = deliver;
    s->deliver_ctx = ctx;
    atomic_store(&s->stop_listening, false);
    if (pthread_create(&s->listener, NULL, listen_thread, s) != 0)
        return error_set(err, ERR_INTERNAL, "cannot start the database listener thread");
    s->listening = true;
    return 0;
}

static const struct store_ops postgres_ops = {
    .name = "postgres",
    .close = pg_close,
    .publish = pg_publish,
    .listen = pg_listen,
    .migrate = pg_migrate,
    .account_create = pg_account_create,
    .account_get_by_name = pg_account_get_by_name,
    .account_list = pg_account_list,
    .account_count = pg_account_count,
    .key_create = pg_key_create,
    .key_authenticate = pg_key_authenticate,
    .key_get = pg_key_get,
    .key_list = pg_key_list,
    .key_revoke = pg_key_revoke,
    .conversation_create = pg_conversation_create,
    .conversation_get = pg_conversation_get,
    .conversation_list = pg_conversation_list,
    .conversation_set_title = pg_conversation_set_title,
    .conversation_set_status = pg_conversation_set_status,
    .conversation_delete = pg_conversation_delete,
    .event_list = pg_event_list,
    .event_append = pg_event_append,
    .conversation_update = pg_conversation_update,
    .conversation_message = pg_conversation_message,
    .conversation_claim = pg_conversation_claim,
    .conversation_renew = pg_conversation_renew,
    .settings_get = pg_settings_get,
    .settings_put = pg_settings_put,
    .secret_list = pg_secret_list,
    .secret_put = pg_secret_put,
    .secret_delete = pg_secret_delete,
    .account_set_password = pg_account_set_password,
    .account_login_info = pg_account_login_info,
    .account_login_update = pg_account_login_update,
    .session_create = pg_session_create,
    .session_get = pg_session_get,
    .session_delete = pg_session_delete,
    .conversation_status_counts = pg_conversation_status_counts,
    .webhook_create = pg_webhook_create,
    .webhook_list = pg_webhook_list,
    .webhook_get = pg_webhook_get,
    .webhook_delete = pg_webhook_delete,
    .webhook_delivery_create = pg_webhook_delivery_create,
    .webhook_delivery_list = pg_webhook_delivery_list,
    .webhook_delivery_claim = pg_webhook_delivery_claim,
    .webhook_delivery_finish = pg_webhook_delivery_finish,
    .node_seen = pg_node_seen,
    .node_get = pg_node_get,
    .node_list = pg_node_list,
    .cluster_value = pg_cluster_value,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
};

/* Opens the store and one first connection, so a wrong URL or an unreachable server fails
 * here rather than on the first request. Does not migrate. */
int store_postgres_open(const char *url, struct store **out, struct error *err)
{
    *out = NULL;
    struct pg_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &postgres_ops;
    s->base.impl = s;
    s->url = xstrdup(url);
    s->shown_url = url_without_password(url);
    s->id = atomic_fetch_add(&last_store_id, 1) + 1;
    snprintf(s->tag, sizeof(s->tag), "%d-%llu-%llx", (int)getpid(), (unsigned long long)s->id,
             (unsigned long long)(mono_ms() & 0xffffff));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);

    /* The password as libpq reads it (decoded; also from ?password=), to cut from messages. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        struct buf r = BUF_INIT;
        redact_into(s, perr ? perr : "out of memory", &r);
        error_set(err, ERR_INTERNAL, "invalid database URL %s: %s", s->shown_url, r.data);
        buf_release(&r);
        PQfreemem(perr);
        pg_close(&s->base);
        return ERR_INTERNAL;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            s->secrets[1] = xstrdup(o->val);
    PQconninfoFree(opts);
    /* ... and as spelled in the URL's user info (percent-encoded, maybe). */
    const char *auth = strstr(url, "://");
    if (auth) {
        auth += 3;
        size_t len = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *p = auth; p < auth + len; p++)
            if (*p == '@') at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && at > colon + 1) {
            struct buf b = BUF_INIT;
            buf_add(&b, colon + 1, (size_t)(at - colon - 1));
            s->secrets[0] = buf_detach(&b, NULL);
        }
    }
    if (s->secrets[1]) { /* ?password=...: the shown URL must not have it either */
        struct buf r = BUF_INIT;
        redact_into(s, s->shown_url, &r);
        free(s->shown_url);
        s->shown_url = buf_detach(&r, NULL);
    }

    struct conn *cn;
    int rc = conn_take(s, &cn, err);
    if (rc) {
        pg_close(&s->base);
        return rc;
    }
    conn_give(s, cn);
    pthread_mutex_lock(&s->mu);
    s->opened = true;
    pthread_mutex_unlock(&s->mu);
    *out = &s->base;
    return 0;
}
