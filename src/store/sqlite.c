/*
 * store/sqlite: the SQLite back end of store.h. Owns the connection pool, the
 * per-connection cache of prepared statements, the transactions that keep the business
 * rules (concurrency limit, idempotency) atomic, the read scopes, and applying the
 * migrations embedded from src/store/migrations/sqlite.
 *
 * Connections: a connection is used by one thread at a time (opened NOMUTEX). Each thread
 * that uses the store gets a connection of its own ("thread-affine"): the first connection
 * it gives back is kept in a thread-local slot instead of the shared free list, and its later
 * operations take it without touching the pool's mutex (an HTTP worker thread runs every
 * request on the same connection, its statement cache and page cache stay warm, and the
 * workers do not meet on `pool_mu`). At most AFFINE_MAX connections are owned so; threads
 * beyond that, and nested use while the thread's connection is busy, take connections from
 * the shared free list (mutex-protected, grows on demand up to POOL_MAX). A thread's
 * connection goes back to the free list when the thread exits (a pthread key destructor, which
 * finds the store through the registry of open stores so that it never touches a closed one);
 * close() closes every connection, owned ones included. A thread's slot names its store by a
 * process-unique id, never compared against a freed store's memory: a slot left by a closed
 * store is simply not used again.
 *
 * Read scopes (store.h read_begin/read_end): per thread. The scope's first read takes a
 * connection (normally the thread's own), runs BEGIN (deferred) and keeps that read
 * transaction open for the scope's later reads, which therefore see one WAL snapshot and pay
 * the read-transaction begin and end (shared-memory locks) once; read_end commits it and gives
 * the connection back. A write inside a scope first ends the read transaction (a read
 * transaction cannot become a write transaction reliably under WAL: SQLITE_BUSY_SNAPSHOT),
 * then writes as usual on the same connection; the next read in the scope begins a new
 * snapshot, which includes the write. key_authenticate's once-a-minute last_used_at
 * write-back is such a write.
 *
 * Transactions: reads outside a scope run in autocommit mode and never block on writers
 * (WAL). Writers of this process queue on `write_mu` before they ask SQLite for the write
 * lock, so they wait on a mutex instead of polling in SQLite's busy handler; other processes
 * are kept out by SQLite's own lock (BEGIN IMMEDIATE) and busy_timeout. Every
 * check-then-write runs inside BEGIN IMMEDIATE, so no two writers, in any process, can both
 * pass the check.
 */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/embedded.h"
#include "util/timeutil.h"

#define POOL_MAX            32
#define AFFINE_MAX          24 /* connections owned by threads; POOL_MAX - AFFINE_MAX stay shared */
#define BUSY_TIMEOUT_MS     5000
#define ACCOUNT_MISSING_MAX 128

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
/* A claimer of node ?2 may take conversation c: it has no home yet, or it is ?2, or it has
 * waited since before ?3 (its home is busy), or its home is not alive at ?1: see store.h. */
#define CLAIM_HOME_OK                                                                              \
    "(c.node IS NULL OR c.node = ?2 OR COALESCE(c.queued_at, c.lease_until) < ?3 OR "              \
    "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = c.node AND n.alive_until >= ?1))"

/* Every statement this back end runs; prepared lazily per connection and kept. */
enum stmt_id {
    ST_BEGIN, /* the transaction statements first (scope_read_begin) */
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_MIG_HAS,
    ST_MIG_RECORD,
    ST_MIG_MAX,
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
    ST_CONV_STATUS,
    ST_CONV_SET_STATUS,
    ST_CONV_DELETE,
    ST_EVENT_INSERT,
    ST_EVENT_LIST_ASC,
    ST_EVENT_LIST_DESC,
    ST_RUN_CHECK,
    ST_RUN_NEXT_EVENT,
    ST_RUN_UPDATE,
    ST_MSG_STATUS,
    ST_MSG_QUEUE,
    ST_CLAIM_PICK,
    ST_CLAIM_TAKE,
    ST_RENEW,
    ST_SETTINGS_GET,
    ST_SETTINGS_PUT,
    ST_SECRET_LIST,
    ST_SECRET_INSERT,
    ST_SECRET_UPDATE,
    ST_SECRET_DELETE,
    ST_CLAIM_GET,
    ST_PASSWORD_SET,
    ST_LOGIN_INFO,
    ST_LOGIN_UPDATE,
    ST_SESSION_PURGE,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_DELETE,
    ST_STATUS_COUNTS,
    ST_WEBHOOK_COUNT,
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_LIST,
    ST_WEBHOOK_GET,
    ST_WEBHOOK_DELETE,
    ST_DELIVERY_PURGE,
    ST_DELIVERY_INSERT,
    ST_DELIVERY_LIST,
    ST_DELIVERY_PICK,
    ST_DELIVERY_TAKE,
    ST_DELIVERY_CLAIMED,
    ST_DELIVERY_FINISH,
    ST_NODE_SEEN,
    ST_NODE_GET,
    ST_NODE_LIST,
    ST_CLUSTER_PUT,
    ST_CLUSTER_GET,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN", /* deferred: the first read takes the snapshot */
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_MIG_HAS] = "SELECT 1 FROM schema_migrations WHERE version = ?1",
    [ST_MIG_RECORD] = "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?1, ?2, ?3)",
    [ST_MIG_MAX] = "SELECT COALESCE(max(version), 0) FROM schema_migrations",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts(name, is_admin, max_concurrent, created_at) "
                          "VALUES(?1, ?2, ?3, ?4)",
    [ST_ACCOUNT_BY_NAME] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE name = ?1",
    [ST_ACCOUNT_LIST] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id",
    [ST_ACCOUNT_COUNT] = "SELECT count(*) FROM accounts",
    [ST_KEY_INSERT] = "INSERT INTO api_keys(account_id, name, key_hash, created_at, expires_at) "
                      "VALUES(?1, COALESCE(?2, ''), ?3, ?4, ?5)",
    [ST_KEY_AUTH] = "SELECT k.id, k.account_id, k.name, k.created_at, k.last_used_at, "
                    "k.expires_at, k.key_hash, a.id, a.name, a.is_admin, a.max_concurrent, "
                    "a.created_at FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                    "WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
    [ST_KEY_TOUCH] = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 "
                     "AND (last_used_at IS NULL OR last_used_at < ?3)",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM api_keys "
                   "WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM api_keys "
                    "WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY id",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND revoked_at IS NULL "
                      "AND (?2 = 0 OR account_id = ?2)",
    [ST_IDEM_PURGE] = "DELETE FROM idempotency_keys WHERE account_id = ?1 AND created_at < ?2",
    [ST_IDEM_GET] = "SELECT response FROM idempotency_keys WHERE account_id = ?1 AND key = ?2",
    [ST_IDEM_INSERT] = "INSERT INTO idempotency_keys(account_id, key, response, created_at) "
                       "VALUES(?1, ?2, ?3, ?4)",
    [ST_CONV_COUNT_ACTIVE] = "SELECT count(*) FROM conversations "
                             "WHERE account_id = ?1 AND status IN " ACTIVE_IN,
    [ST_CONV_INSERT] =
        "INSERT INTO conversations(id, account_id, title, status, agent_state, \"trigger\", "
        "selected_repository, selected_branch, git_provider, conversation_instructions, "
        "runtime_status, branch, error, pull_requests, metrics, created_at, updated_at, "
        "next_event_id, queued_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13, COALESCE(?14, '[]'), COALESCE(?15, '{}'), ?16, ?17, ?18, ?19)",
    [ST_CONV_GET] = "SELECT " CONV_COLS " FROM conversations WHERE id = ?1 "
                    "AND (?2 = 0 OR account_id = ?2)",
    /* seq < ?2 (not "?2 <= 0 OR ...") keeps the (account_id, seq) index range usable. */
    [ST_CONV_LIST] = "SELECT " CONV_COLS " FROM conversations "
                     "WHERE account_id = ?1 AND seq < ?2 "
                     "AND (?3 IS NULL OR selected_repository = ?3) "
                     "AND (?4 IS NULL OR \"trigger\" = ?4) AND (?5 IS NULL OR status = ?5) "
                     "ORDER BY seq DESC LIMIT ?6",
    [ST_CONV_SET_TITLE] = "UPDATE conversations SET title = ?3, updated_at = ?4 "
                          "WHERE id = ?1 AND account_id = ?2",
    [ST_CONV_STATUS] = "SELECT status FROM conversations WHERE id = ?1 AND account_id = ?2",
    /* A conversation that is already queued keeps its place in the queue; one that is no
     * longer active lets go of its runner. A NULL agent_state leaves it unchanged. */
    [ST_CONV_SET_STATUS] =
        "UPDATE conversations SET status = ?3, agent_state = COALESCE(?4, agent_state), "
        "updated_at = ?5, "
        "queued_at = CASE WHEN ?3 = '" CONV_STARTING "' THEN COALESCE(queued_at, ?5) END, "
        "runner = CASE WHEN ?3 IN " ACTIVE_IN " THEN runner END, "
        "lease_until = CASE WHEN ?3 IN " ACTIVE_IN " THEN lease_until END "
        "WHERE id = ?1 AND account_id = ?2",
    [ST_CONV_DELETE] = "DELETE FROM conversations WHERE id = ?1 AND account_id = ?2",
    [ST_EVENT_INSERT] = "INSERT INTO events(conversation_id, id, body) VALUES(?1, ?2, ?3)",
    [ST_EVENT_LIST_ASC] = "SELECT body FROM events WHERE conversation_id = ?1 "
                          "AND id BETWEEN ?2 AND ?3 ORDER BY id ASC LIMIT ?4",
    [ST_EVENT_LIST_DESC] = "SELECT body FROM events WHERE conversation_id = ?1 "
                           "AND id BETWEEN ?2 AND ?3 ORDER BY id DESC LIMIT ?4",
    /* The runtime: a runner writes only while it holds the conversation and it is active. */
    [ST_RUN_CHECK] = "SELECT 1 FROM conversations WHERE id = ?1 AND (?2 IS NULL OR "
                     "(runner = ?2 AND status IN " ACTIVE_IN "))",
    [ST_RUN_NEXT_EVENT] = "UPDATE conversations SET next_event_id = next_event_id + 1 "
                          "WHERE id = ?1 RETURNING next_event_id - 1",
    /* NULL leaves a field; '' clears runtime_status, error, branch. ?11 = 1 releases the
     * runner's claim. Leaving the active statuses always lets go of the runner. */
    [ST_RUN_UPDATE] =
        "UPDATE conversations SET status = COALESCE(?2, status), "
        "agent_state = COALESCE(?3, agent_state), "
        "runtime_status = CASE WHEN ?4 IS NULL THEN runtime_status WHEN ?4 = '' THEN NULL "
        "ELSE ?4 END, "
        "error = CASE WHEN ?5 IS NULL THEN error WHEN ?5 = '' THEN NULL ELSE ?5 END, "
        "metrics = COALESCE(?6, metrics), title = COALESCE(?7, title), "
        "branch = CASE WHEN ?8 IS NULL THEN branch WHEN ?8 = '' THEN NULL ELSE ?8 END, "
        "pull_requests = COALESCE(?9, pull_requests), updated_at = ?10, "
        "base_commit = COALESCE(?12, base_commit), "
        "runner = CASE WHEN ?11 OR COALESCE(?2, status) NOT IN " ACTIVE_IN " THEN NULL "
        "ELSE runner END, "
        "lease_until = CASE WHEN ?11 OR COALESCE(?2, status) NOT IN " ACTIVE_IN " THEN NULL "
        "ELSE lease_until END, "
        "queued_at = CASE WHEN COALESCE(?2, status) NOT IN " ACTIVE_IN " THEN NULL "
        "WHEN ?11 THEN COALESCE(queued_at, ?10) ELSE queued_at END "
        "WHERE id = ?1",
    [ST_MSG_STATUS] = "SELECT status FROM conversations WHERE id = ?1 AND account_id = ?2",
    [ST_MSG_QUEUE] = "UPDATE conversations SET status = '" CONV_STARTING "', "
                     "agent_state = 'loading', error = NULL, runtime_status = NULL, "
                     "updated_at = ?2, queued_at = ?2, runner = NULL, lease_until = NULL "
                     "WHERE id = ?1",
    /* Waiting for a runner: active and held by none (queued, or handed back), or held under a
     * lease that ran out (its runner died). Oldest first. */
    [ST_CLAIM_PICK] = "SELECT id, node FROM conversations c WHERE status IN " ACTIVE_IN " "
                      "AND (runner IS NULL OR lease_until < ?1) AND " CLAIM_HOME_OK " "
                      "ORDER BY COALESCE(queued_at, updated_at), seq LIMIT 1",
    [ST_CLAIM_TAKE] = "UPDATE conversations SET runner = ?2, lease_until = ?3, queued_at = NULL, "
                      "node = ?4 WHERE id = ?1",
    [ST_RENEW] = "UPDATE conversations SET lease_until = ?3 WHERE id = ?1 AND runner = ?2 "
                 "AND status IN " ACTIVE_IN,
    [ST_SETTINGS_GET] = "SELECT body FROM settings WHERE account_id = ?1",
    [ST_SETTINGS_PUT] = "INSERT INTO settings(account_id, body) VALUES(?1, ?2) "
                        "ON CONFLICT(account_id) DO UPDATE SET body = excluded.body",
    [ST_SECRET_LIST] = "SELECT name, description, value_sealed, created_at FROM secrets "
                       "WHERE account_id = ?1 ORDER BY name",
    [ST_SECRET_INSERT] = "INSERT INTO secrets(account_id, name, description, value_sealed, "
                         "created_at) VALUES(?1, ?2, COALESCE(?3, ''), ?4, ?5)",
    [ST_SECRET_UPDATE] = "UPDATE secrets SET description = COALESCE(?3, description), "
                         "value_sealed = COALESCE(?4, value_sealed) "
                         "WHERE account_id = ?1 AND name = ?2",
    [ST_SECRET_DELETE] = "DELETE FROM secrets WHERE account_id = ?1 AND name = ?2",
    [ST_PASSWORD_SET] = "UPDATE accounts SET password_hash = ?2, failed_logins = 0, "
                        "locked_until = NULL WHERE name = ?1",
    [ST_LOGIN_INFO] = "SELECT " ACCOUNT_COLS ", password_hash, failed_logins, locked_until "
                      "FROM accounts WHERE name = ?1",
    [ST_LOGIN_UPDATE] = "UPDATE accounts SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
    [ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at < ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions(id_hash, account_id, csrf_token, created_at, "
                          "expires_at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_SESSION_GET] = "SELECT a.id, a.name, a.is_admin, a.max_concurrent, a.created_at, "
                       "s.csrf_token, s.expires_at FROM sessions s "
                       "JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = ?1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id_hash = ?1",
    [ST_STATUS_COUNTS] = "SELECT status, count(*) FROM conversations GROUP BY status",
    [ST_CLAIM_GET] = "SELECT " CONV_COLS " FROM conversations WHERE id = ?1",
    [ST_WEBHOOK_COUNT] = "SELECT count(*) FROM webhooks WHERE account_id = ?1",
    [ST_NODE_SEEN] = "INSERT INTO nodes(id, url, alive_until) VALUES(?1, ?2, ?3) ON CONFLICT(id) "
                     "DO UPDATE SET url = COALESCE(excluded.url, url), "
                     "alive_until = excluded.alive_until",
    [ST_NODE_GET] = "SELECT " NODE_COLS " FROM nodes n WHERE id = ?1",
    [ST_NODE_LIST] = "SELECT " NODE_COLS ", (SELECT count(*) FROM conversations c "
                     "WHERE c.node = n.id) FROM nodes n ORDER BY id",
    [ST_CLUSTER_PUT] = "INSERT INTO cluster(name, value) VALUES(?1, ?2) ON CONFLICT DO NOTHING",
    [ST_CLUSTER_GET] = "SELECT value FROM cluster WHERE name = ?1",
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks(" WEBHOOK_COLS ") "
                          "VALUES(?1, ?2, ?3, ?4, COALESCE(?5, ''), ?6, ?7)",
    [ST_WEBHOOK_LIST] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE account_id = ?1 "
                        "ORDER BY created_at, id",
    [ST_WEBHOOK_GET] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = ?1 AND account_id = ?2",
    [ST_WEBHOOK_DELETE] = "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2",
    [ST_DELIVERY_PURGE] = "DELETE FROM webhook_deliveries WHERE created_at < ?1 "
                          "AND status <> '" DELIVERY_PENDING "'",
    /* A delivery of a webhook deleted meanwhile is skipped rather than refused. */
    [ST_DELIVERY_INSERT] =
        "INSERT INTO webhook_deliveries(id, webhook_id, event, conversation_id, body, status, "
        "created_at, next_attempt_at) SELECT ?1, ?2, ?3, ?4, ?5, '" DELIVERY_PENDING "', ?6, ?7 "
        "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?2)",
    [ST_DELIVERY_LIST] =
        "SELECT " DELIVERY_COLS " FROM webhook_deliveries d "
        "JOIN webhooks w ON w.id = d.webhook_id "
        "WHERE d.webhook_id = ?1 AND w.account_id = ?2 ORDER BY d.seq DESC LIMIT ?3",
    [ST_DELIVERY_PICK] = "SELECT id FROM webhook_deliveries WHERE status = '" DELIVERY_PENDING "' "
                         "AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT 1",
    [ST_DELIVERY_TAKE] = "UPDATE webhook_deliveries SET worker = ?2, next_attempt_at = ?3, "
                         "attempts = attempts + 1 WHERE id = ?1",
    [ST_DELIVERY_CLAIMED] = "SELECT " DELIVERY_COLS ", d.body, w.url, w.secret_sealed "
                            "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                            "WHERE d.id = ?1",
    [ST_DELIVERY_FINISH] =
        "UPDATE webhook_deliveries SET status = ?3, last_status_code = ?4, "
        "last_error = ?5, delivered_at = ?6, next_attempt_at = ?7, worker = NULL "
        "WHERE id = ?1 AND worker = ?2 AND status = '" DELIVERY_PENDING "'",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct conn *next;     /* free list */
    struct conn *all_next; /* every open connection of the store, owned ones included */
    int rc;                /* the SQLite result code of the last failure (extended) */
    bool broken;           /* left in an unknown state: close instead of reusing */
    bool owned;            /* a thread's own connection: in its slot, never in the free list */
};

struct sqlite_store {
    struct store base;
    char *path;
    uint64_t id;                    /* unique in the process; what thread slots refer to */
    struct sqlite_store *live_next; /* the registry of open stores (live_mu) */
    pthread_mutex_t pool_mu;        /* guards the fields below up to write_mu */
    pthread_cond_t pool_cv;
    struct conn *free_list;
    struct conn *all;
    int nconns; /* open or being opened, in use, free or owned */
    int nowned; /* owned by a thread */
    pthread_mutex_t write_mu;
};

/* What a thread keeps: its own connection to one store, and its read scope. Only this thread
 * reads or writes it (the exit destructor runs in the thread too). */
struct thread_slot {
    uint64_t store_id; /* the store `conn` belongs to; 0: none. The store may have been closed:
                        * `conn` is used only while a caller holds the store with this id. */
    struct conn *conn; /* the thread's own connection */
    bool busy;         /* `conn` is in use by an operation (or a scope) of this thread */
    int scope_depth;   /* read_begin calls not yet ended */
    uint64_t scope_store_id;
    struct conn *scope_conn; /* the scope's connection; NULL until its first operation */
    bool scope_tx;           /* a read transaction is open on scope_conn */
};

static _Thread_local struct thread_slot tls;

/* The registry of open stores, so that a thread's exit never touches a closed one. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sqlite_store *live_stores;
static uint64_t last_store_id;
static pthread_key_t slot_key; /* only for its destructor: thread exit gives `tls.conn` back */

/* Turns a failed SQLite call into an error record. Must run before anything else touches
 * the connection so sqlite3_errmsg() still describes this failure. The message is SQLite's
 * own (it names tables and columns, never bound values). */
static int db_error(struct conn *cn, int rc, struct error *err)
{
    cn->rc = rc;
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        if (err) err->retry_after = 1;
        return error_set(err, ERR_UNAVAILABLE, "database is busy, try again");
    }
    return error_set(err, ERR_INTERNAL, "database error: %s", sqlite3_errmsg(cn->db));
}

/* Ends the use of a cached statement: back to the start, bindings (which point into the
 * caller's memory) dropped. Any error sqlite3_reset repeats was handled at its step. */
static void q_done(sqlite3_stmt *q)
{
    (void)sqlite3_reset(q);
    (void)sqlite3_clear_bindings(q);
}

/* Binds parameters ?1..?n described by `fmt`: 't' const char * (NULL binds NULL), 'l'
 * int64_t, 'z' int64_t where 0 binds NULL ("not set"), 'i' int. Text is bound without a
 * copy: it must live until q_done(). */
static int q_vbind(sqlite3_stmt *q, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
        int idx = i + 1;
        switch (fmt[i]) {
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(q, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(q, idx);
            break;
        }
        case 'l':
            rc = sqlite3_bind_int64(q, idx, va_arg(ap, int64_t));
            break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(q, idx, v) : sqlite3_bind_null(q, idx);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int(q, idx, va_arg(ap, int));
            break;
        default:
            abort(); /* a typo in a format string of this file */
        }
    }
    return rc;
}

static int q_exec(struct conn *cn, struct error *err, enum stmt_id id, const char *fmt, ...);

/* Inside a read scope, the first read-only statement on the scope's connection begins the
 * scope's read transaction (deferred: the statement itself takes the snapshot). Never inside
 * a write transaction, nor for the transaction statements themselves. */
static int scope_read_begin(struct conn *cn, enum stmt_id id, sqlite3_stmt *q, struct error *err)
{
    if (cn != tls.scope_conn || tls.scope_tx || id <= ST_ROLLBACK || !sqlite3_stmt_readonly(q) ||
        !sqlite3_get_autocommit(cn->db))
        return 0;
    int rc = q_exec(cn, err, ST_BEGIN_READ, "");
    if (!rc) tls.scope_tx = true;
    return rc;
}

/* Gets statement `id` of this connection (preparing it on first use) with its parameters
 * bound per `fmt` (see q_vbind); in a read scope, a read begins the scope's read transaction
 * first. On success the caller steps it and ends with q_done(). */
static int q_vprep(struct conn *cn, enum stmt_id id, sqlite3_stmt **out, struct error *err,
                   const char *fmt, va_list ap)
{
    *out = NULL;
    if (!cn->stmt[id]) {
        int rc = sqlite3_prepare_v3(cn->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &cn->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            cn->stmt[id] = NULL;
            return db_error(cn, rc, err);
        }
    }
    sqlite3_stmt *q = cn->stmt[id];
    int rc = scope_read_begin(cn, id, q, err);
    if (rc) return rc;
    rc = q_vbind(q, fmt, ap);
    if (rc != SQLITE_OK) {
        int code = db_error(cn, rc, err);
        q_done(q);
        return code;
    }
    *out = q;
    return 0;
}

static int q_prep(struct conn *cn, enum stmt_id id, sqlite3_stmt **out, struct error *err,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vprep(cn, id, out, err, fmt, ap);
    va_end(ap);
    return rc;
}

/* Steps once: *row tells whether a row is there. Does not reset; the caller ends with
 * q_done() whatever happens. */
static int q_step(struct conn *cn, sqlite3_stmt *q, bool *row, struct error *err)
{
    int rc = sqlite3_step(q);
    *row = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
    return db_error(cn, rc, err);
}

/* Runs a statement that returns no rows (any it does return are skipped). */
static int q_exec(struct conn *cn, struct error *err, enum stmt_id id, const char *fmt, ...)
{
    sqlite3_stmt *q;
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vprep(cn, id, &q, err, fmt, ap);
    va_end(ap);
    if (rc) return rc;
    bool row = true;
    while (!rc && row) rc = q_step(cn, q, &row, err);
    q_done(q);
    return rc;
}

/* Runs a query whose first row's first column is an integer (a count); 0 without a row. */
static int q_int64(struct conn *cn, struct error *err, int64_t *v, enum stmt_id id, const char *fmt,
                   ...)
{
    sqlite3_stmt *q;
    va_list ap;
    va_start(ap, fmt);
    int rc = q_vprep(cn, id, &q, err, fmt, ap);
    va_end(ap);
    *v = 0;
    if (rc) return rc;
    bool row;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) *v = sqlite3_column_int64(q, 0);
    q_done(q);
    return rc;
}

/* A text column as an owned string; NULL for SQL NULL. SQLite running out of memory aborts,
 * like every other allocation failure in cloudhands. */
static char *col_str(sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    if (!t) {
        if (sqlite3_column_type(q, col) != SQLITE_NULL) {
            fprintf(stderr, "cloudhands: out of memory reading a database column\n");
            abort();
        }
        return NULL;
    }
    return xstrdup((const char *)t);
}

/* Readers of the *_COLS column lists, starting at column `col`. */
static void read_account(sqlite3_stmt *q, int col, struct account *a)
{
    a->id = sqlite3_column_int64(q, col);
    a->name = col_str(q, col + 1);
    a->is_admin = sqlite3_column_int(q, col + 2) != 0;
    a->max_concurrent = sqlite3_column_int(q, col + 3);
    a->created_at = sqlite3_column_int64(q, col + 4);
}

static void read_key(sqlite3_stmt *q, int col, struct api_key *k)
{
    k->id = sqlite3_column_int64(q, col);
    k->account_id = sqlite3_column_int64(q, col + 1);
    k->name = col_str(q, col + 2);
    k->created_at = sqlite3_column_int64(q, col + 3);
    k->last_used_at = sqlite3_column_int64(q, col + 4);
    k->expires_at = sqlite3_column_int64(q, col + 5);
}

static void read_conversation(sqlite3_stmt *q, struct conversation *c)
{
    const unsigned char *id = sqlite3_column_text(q, 0);
    snprintf(c->id, sizeof(c->id), "%s", id ? (const char *)id : "");
    c->account_id = sqlite3_column_int64(q, 1);
    c->seq = sqlite3_column_int64(q, 2);
    c->title = col_str(q, 3);
    c->status = col_str(q, 4);
    c->agent_state = col_str(q, 5);
    c->trigger = col_str(q, 6);
    c->selected_repository = col_str(q, 7);
    c->selected_branch = col_str(q, 8);
    c->git_provider = col_str(q, 9);
    c->conversation_instructions = col_str(q, 10);
    c->runtime_status = col_str(q, 11);
    c->branch = col_str(q, 12);
    c->error = col_str(q, 13);
    c->pull_requests = col_str(q, 14);
    c->metrics = col_str(q, 15);
    c->node = col_str(q, 16);
    c->base_commit = col_str(q, 17);
    c->created_at = sqlite3_column_int64(q, 18);
    c->updated_at = sqlite3_column_int64(q, 19);
}

/* Grows a result array of `size`-byte elements so it holds at least len + 1. */
static void *grow(void *v, size_t len, size_t *cap, size_t size)
{
    if (len < *cap) return v;
    *cap = *cap ? *cap * 2 : 8;
    return xrealloc(v, *cap * size);
}

typedef void (*row_reader)(sqlite3_stmt *q, void *elem);

/* Reads every row of a prepared statement into an array of `size`-byte elements, one per row,
 * each zeroed and then filled by `read`; ends the statement. *out and *n describe what was read
 * even on failure, for the caller's list_free. */
static int q_rows(struct conn *cn, sqlite3_stmt *q, size_t size, row_reader read, void **out,
                  size_t *n, struct error *err)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    bool row = true;
    int rc;
    while (!(rc = q_step(cn, q, &row, err)) && row) {
        v = grow(v, len, &cap, size);
        memset(v + len * size, 0, size);
        read(q, v + len++ * size);
    }
    q_done(q);
    *out = v;
    *n = len;
    return rc;
}

/* Steps a prepared statement expected to give one row: `read` fills elem from it, or, when there
 * is none, ERR_NOT_FOUND with `missing` as the message; ends the statement. */
static int q_one(struct conn *cn, sqlite3_stmt *q, row_reader read, void *elem, const char *missing,
                 struct error *err)
{
    bool row;
    int rc = q_step(cn, q, &row, err);
    if (!rc && row)
        read(q, elem);
    else if (!rc)
        rc = error_set(err, ERR_NOT_FOUND, "%s", missing);
    q_done(q);
    return rc;
}

static void row_account(sqlite3_stmt *q, void *elem)
{
    read_account(q, 0, elem);
}

static void row_key(sqlite3_stmt *q, void *elem)
{
    read_key(q, 0, elem);
}

static void row_conversation(sqlite3_stmt *q, void *elem)
{
    read_conversation(q, elem);
}

static void row_text(sqlite3_stmt *q, void *elem)
{
    *(char **)elem = col_str(q, 0);
}

static void read_webhook(sqlite3_stmt *q, struct webhook *w)
{
    const unsigned char *id = sqlite3_column_text(q, 0);
    snprintf(w->id, sizeof(w->id), "%s", id ? (const char *)id : "");
    w->account_id = sqlite3_column_int64(q, 1);
    w->url = col_str(q, 2);
    w->events = col_str(q, 3);
    w->description = col_str(q, 4);
    w->secret_sealed = col_str(q, 5);
    w->created_at = sqlite3_column_int64(q, 6);
}

static void row_webhook(sqlite3_stmt *q, void *elem)
{
    read_webhook(q, elem);
}

/* Reads the DELIVERY_COLS columns. */
static void read_delivery(sqlite3_stmt *q, struct webhook_delivery *d)
{
    const unsigned char *t = sqlite3_column_text(q, 0);
    snprintf(d->id, sizeof(d->id), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(q, 1);
    snprintf(d->webhook_id, sizeof(d->webhook_id), "%s", t ? (const char *)t : "");
    d->event = col_str(q, 2);
    d->conversation_id = col_str(q, 3);
    d->status = col_str(q, 4);
    d->attempts = sqlite3_column_int(q, 5);
    d->last_status_code = sqlite3_column_int(q, 6);
    d->last_error = col_str(q, 7);
    d->created_at = sqlite3_column_int64(q, 8);
    d->delivered_at = sqlite3_column_int64(q, 9);
    d->next_attempt_at = sqlite3_column_int64(q, 10);
}

static void row_delivery(sqlite3_stmt *q, void *elem)
{
    read_delivery(q, elem);
}

static void row_secret(sqlite3_stmt *q, void *elem)
{
    struct secret *sec = elem;
    sec->name = col_str(q, 0);
    sec->description = col_str(q, 1);
    sec->value_sealed = col_str(q, 2);
    sec->created_at = sqlite3_column_int64(q, 3);
}

/* ---- connections ---- */

static void conn_close(struct conn *cn)
{
    /* finalize() repeats the statement's last error, already handled when it happened;
     * close_v2 cannot fail once every statement is finalized. */
    for (int i = 0; i < ST_COUNT; i++)
        if (cn->stmt[i]) (void)sqlite3_finalize(cn->stmt[i]);
    (void)sqlite3_close_v2(cn->db);
    free(cn);
}

/* Opens and configures one connection. busy_timeout comes first so that even switching to
 * WAL waits for a concurrent opener instead of failing. */
static int conn_open(const char *path, struct conn **out, struct error *err)
{
    struct conn *cn = xcalloc(1, sizeof(*cn));
    *out = NULL;
    int rc = sqlite3_open_v2(
        path, &cn->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        error_set(err, ERR_INTERNAL, "cannot open database %s: %s", path,
                  cn->db ? sqlite3_errmsg(cn->db) : sqlite3_errstr(rc));
        conn_close(cn);
        return ERR_INTERNAL;
    }
    rc = sqlite3_extended_result_codes(cn->db, 1);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(cn->db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(cn->db,
                          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "PRAGMA foreign_keys=ON;",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = db_error(cn, rc, err);
        conn_close(cn);
        return code;
    }
    *out = cn;
    return 0;
}

static struct sqlite_store *live_find(uint64_t id) /* under live_mu */
{
    struct sqlite_store *s = live_stores;
    while (s && s->id != id) s = s->live_next;
    return s;
}

/* Removes a connection from the store's list of all connections; under pool_mu. */
static void conn_unlink(struct sqlite_store *s, struct conn *cn)
{
    struct conn **p = &s->all;
    while (*p && *p != cn) p = &(*p)->all_next;
    if (*p) *p = cn->all_next;
}

/* Ends a transaction left open on a connection given back (a bug, or a thread that exited
 * inside a read scope); one that cannot be rolled back is marked broken. */
static void conn_settle(struct conn *cn)
{
    if (!cn->broken && !sqlite3_get_autocommit(cn->db) &&
        sqlite3_exec(cn->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        cn->broken = true;
}

/* Puts a connection that is no longer anyone's back in the free list, or closes it when it is
 * broken; under pool_mu. Returns it when the caller must close it (after unlocking). */
static struct conn *conn_release_locked(struct sqlite_store *s, struct conn *cn)
{
    if (cn->owned) {
        cn->owned = false;
        s->nowned--;
    }
    pthread_cond_signal(&s->pool_cv);
    if (cn->broken) {
        conn_unlink(s, cn);
        s->nconns--;
        return cn;
    }
    cn->next = s->free_list;
    s->free_list = cn;
    return NULL;
}

/* Thread exit (the slot_key destructor): the thread's own connection, and the connection of a
 * read scope it failed to end, go back to their store's free list if the store is still
 * open. live_mu keeps the store from being closed meanwhile. */
static void slot_release(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&live_mu);
    struct conn *gone[2] = {NULL, NULL};
    struct sqlite_store *s;
    if (tls.scope_conn && tls.scope_conn != tls.conn && (s = live_find(tls.scope_store_id))) {
        conn_settle(tls.scope_conn);
        pthread_mutex_lock(&s->pool_mu);
        gone[0] = conn_release_locked(s, tls.scope_conn);
        pthread_mutex_unlock(&s->pool_mu);
    }
    if (tls.conn && (s = live_find(tls.store_id))) {
        conn_settle(tls.conn);
        pthread_mutex_lock(&s->pool_mu);
        gone[1] = conn_release_locked(s, tls.conn);
        pthread_mutex_unlock(&s->pool_mu);
    }
    pthread_mutex_unlock(&live_mu);
    for (int i = 0; i < 2; i++)
        if (gone[i]) conn_close(gone[i]);
    memset(&tls, 0, sizeof(tls));
}

/* The thread's own connection to `s` when it has one and it is free; else takes a free
 * connection, opens a new one while the pool is below POOL_MAX, or waits for one to be given
 * back. */
static int conn_take(struct sqlite_store *s, struct conn **out, struct error *err)
{
    if (tls.store_id == s->id && tls.conn && !tls.busy) { /* the hot path: no lock */
        tls.busy = true;
        *out = tls.conn;
        return 0;
    }
    pthread_mutex_lock(&s->pool_mu);
    while (!s->free_list && s->nconns >= POOL_MAX) pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    if (s->free_list) {
        *out = s->free_list;
        s->free_list = (*out)->next;
        pthread_mutex_unlock(&s->pool_mu);
        return 0;
    }
    s->nconns++; /* reserve the slot; open outside the lock */
    pthread_mutex_unlock(&s->pool_mu);
    int rc = conn_open(s->path, out, err);
    pthread_mutex_lock(&s->pool_mu);
    if (rc) {
        s->nconns--;
        pthread_cond_signal(&s->pool_cv);
    } else {
        (*out)->all_next = s->all;
        s->all = *out;
    }
    pthread_mutex_unlock(&s->pool_mu);
    return rc;
}

/* Whether this thread may take `s`'s connection as its own: it owns none (or only one of a
 * store that has been closed since). */
static bool slot_free_for(struct sqlite_store *s)
{
    if (!tls.store_id || !tls.conn) return true;
    if (tls.store_id == s->id) return false;
    pthread_mutex_lock(&live_mu);
    bool other_open = live_find(tls.store_id) != NULL;
    pthread_mutex_unlock(&live_mu);
    return !other_open;
}

/* Gives a connection back: the thread's own stays in its slot; a shared one becomes the
 * thread's own when the thread has none and fewer than AFFINE_MAX are owned, else it goes back
 * to the free list. One left inside a transaction (a bug) is rolled back; one that cannot be
 * trusted any more is closed instead. */
static void conn_give(struct sqlite_store *s, struct conn *cn)
{
    conn_settle(cn);
    if (cn == tls.conn && tls.store_id == s->id) {
        tls.busy = false;
        if (!cn->broken) return; /* the hot path: no lock */
        tls.conn = NULL;
        tls.store_id = 0;
    } else if (!cn->broken && slot_free_for(s)) {
        pthread_mutex_lock(&s->pool_mu);
        bool adopt = s->nowned < AFFINE_MAX;
        if (adopt) {
            cn->owned = true;
            s->nowned++;
        }
        pthread_mutex_unlock(&s->pool_mu);
        if (adopt) {
            tls.store_id = s->id;
            tls.conn = cn;
            tls.busy = false;
            (void)pthread_setspecific(slot_key, &tls); /* non-NULL: the destructor runs */
            return;
        }
    }
    pthread_mutex_lock(&s->pool_mu);
    struct conn *gone = conn_release_locked(s, cn);
    pthread_mutex_unlock(&s->pool_mu);
    if (gone) conn_close(gone);
}

/* ---- read scopes ---- */

static bool in_scope(const struct sqlite_store *s)
{
    return tls.scope_depth > 0 && tls.scope_store_id == s->id;
}

/* The connection for one operation: inside this thread's read scope on `s`, the scope's
 * connection (taken at the scope's first operation and kept until read_end); else as
 * conn_take. Every operation gets its connection here and gives it back with conn_put. */
static int conn_get(struct sqlite_store *s, struct conn **out, struct error *err)
{
    if (!in_scope(s)) return conn_take(s, out, err);
    if (!tls.scope_conn) {
        int rc = conn_take(s, &tls.scope_conn, err);
        if (rc) {
            tls.scope_conn = NULL;
            return rc;
        }
    }
    *out = tls.scope_conn;
    return 0;
}

static void conn_put(struct sqlite_store *s, struct conn *cn)
{
    if (in_scope(s) && cn == tls.scope_conn) return; /* kept until read_end */
    conn_give(s, cn);
}

/* How a list operation frees what it read: the *_list_free of store.h, one per row type. */
typedef void (*list_free_fn)(void *list, size_t n);

static void free_accounts(void *v, size_t n)
{
    account_list_free(v, n);
}

static void free_keys(void *v, size_t n)
{
    api_key_list_free(v, n);
}

static void free_conversations(void *v, size_t n)
{
    conversation_list_free(v, n);
}

static void free_events(void *v, size_t n)
{
    event_list_free(v, n);
}

static void free_secrets(void *v, size_t n)
{
    secret_list_free(v, n);
}

static void free_nodes(void *v, size_t n)
{
    node_list_free(v, n);
}

static void free_webhooks(void *v, size_t n)
{
    webhook_list_free(v, n);
}

static void free_deliveries(void *v, size_t n)
{
    webhook_delivery_list_free(v, n);
}

/* A whole list operation: runs statement `id` with parameters per `fmt` (q_prep) and reads every
 * row (q_rows) into *out and *n. On failure, what was read is freed with `free_list`, and *out is
 * NULL and *n 0. */
static int q_list(struct sqlite_store *s, size_t size, row_reader read, list_free_fn free_list,
                  void **out, size_t *n, struct error *err, enum stmt_id id, const char *fmt, ...)
{
    struct conn *cn;
    sqlite3_stmt *q;
    void *v = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = q_vprep(cn, id, &q, err, fmt, ap);
    va_end(ap);
    if (!rc) rc = q_rows(cn, q, size, read, &v, &len, err);
    conn_put(s, cn);
    if (rc) {
        free_list(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Before a write: when `cn` holds this thread's scope read transaction, ends it (commits the
 * read; there is nothing else in it), so the write runs as usual and the scope's next read
 * takes a new snapshot that includes it. */
static void read_tx_end(struct conn *cn)
{
    if (cn != tls.scope_conn || !tls.scope_tx) return;
    tls.scope_tx = false;
    if (q_exec(cn, NULL, ST_COMMIT, "")) conn_settle(cn);
}

/* ---- transactions ---- */

/* Starts a write transaction: first this process's writer queue, then SQLite's write lock.
 * Ends with tx_commit() or tx_rollback(), which release both. */
static int tx_begin(struct sqlite_store *s, struct conn *cn, struct error *err)
{
    read_tx_end(cn);
    pthread_mutex_lock(&s->write_mu);
    int rc = q_exec(cn, err, ST_BEGIN, "");
    if (rc) pthread_mutex_unlock(&s->write_mu);
    return rc;
}

static void tx_rollback(struct sqlite_store *s, struct conn *cn)
{
    if (!sqlite3_get_autocommit(cn->db) && q_exec(cn, NULL, ST_ROLLBACK, "")) cn->broken = true;
    pthread_mutex_unlock(&s->write_mu);
}

static int tx_commit(struct sqlite_store *s, struct conn *cn, struct error *err)
{
    int rc = q_exec(cn, err, ST_COMMIT, "");
    if (rc) {
        tx_rollback(s, cn);
        return rc;
    }
    pthread_mutex_unlock(&s->write_mu);
    return 0;
}

/* Finishes a transaction: commit when everything went well, else roll back. */
static int tx_end(struct sqlite_store *s, struct conn *cn, int rc, struct error *err)
{
    if (rc) {
        tx_rollback(s, cn);
        return rc;
    }
    return tx_commit(s, cn, err);
}

/* A single-statement write: no transaction needed, but it queues with the other writers. */
static int write_one(struct sqlite_store *s, struct conn *cn, struct error *err, enum stmt_id id,
                     const char *fmt, ...)
{
    sqlite3_stmt *q;
    va_list ap;
    read_tx_end(cn);
    pthread_mutex_lock(&s->write_mu);
    va_start(ap, fmt);
    int rc = q_vprep(cn, id, &q, err, fmt, ap);
    va_end(ap);
    if (!rc) {
        bool row = true;
        while (!rc && row) rc = q_step(cn, q, &row, err);
        q_done(q);
    }
    pthread_mutex_unlock(&s->write_mu);
    return rc;
}

static bool is_unique_violation(const struct conn *cn, int rc)
{
    return rc && (cn->rc == SQLITE_CONSTRAINT_UNIQUE || cn->rc == SQLITE_CONSTRAINT_PRIMARYKEY);
}

/* ---- operations ---- */

/* Closes every connection, the threads' own ones included. No operation may be running; a
 * thread that owned a connection keeps a slot naming this store's id, which no store will
 * have again, so the slot is never used. */
static void sq_close(struct store *store)
{
    struct sqlite_store *s = store->impl;
    pthread_mutex_lock(&live_mu);
    for (struct sqlite_store **p = &live_stores; *p; p = &(*p)->live_next) {
        if (*p == s) {
            *p = s->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
    if (tls.store_id == s->id) { /* the closing thread's own slot; other threads' are dead */
        tls.store_id = 0;
        tls.conn = NULL;
        tls.busy = false;
    }
    if (tls.scope_store_id == s->id) {
        tls.scope_depth = 0;
        tls.scope_store_id = 0;
        tls.scope_conn = NULL;
        tls.scope_tx = false;
    }
    while (s->all) {
        struct conn *cn = s->all;
        s->all = cn->all_next;
        conn_close(cn);
    }
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->write_mu);
    free(s->path);
    free(s);
}

/* Read scopes: see the top of this file. A thread has a scope on one store at a time. */
static int sq_read_begin(struct store *store, struct error *err)
{
    struct sqlite_store *s = store->impl;
    if (tls.scope_depth > 0 && tls.scope_store_id != s->id)
        return error_set(err, ERR_INTERNAL, "a read scope on another store is open in this thread");
    tls.scope_store_id = s->id;
    tls.scope_depth++;
    return 0;
}

static void sq_read_end(struct store *store)
{
    struct sqlite_store *s = store->impl;
    if (!in_scope(s) || --tls.scope_depth > 0) return;
    struct conn *cn = tls.scope_conn;
    if (cn) read_tx_end(cn);
    tls.scope_conn = NULL;
    tls.scope_store_id = 0;
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

/* Applies one migration unless it is recorded. The check runs inside the IMMEDIATE
 * transaction, so of two processes migrating at once, the second sees the first's record. */
static int migrate_one(struct sqlite_store *s, struct conn *cn, const struct embedded_file *m,
                       int version, struct error *err)
{
    int rc = tx_begin(s, cn, err);
    if (rc) return rc;
    int64_t applied;
    rc = q_int64(cn, err, &applied, ST_MIG_HAS, "i", version);
    if (!rc && !applied) {
        int erc = sqlite3_exec(cn->db, (const char *)m->data, NULL, NULL, NULL);
        if (erc != SQLITE_OK) {
            rc = db_error(cn, erc, err);
            if (rc == ERR_INTERNAL)
                error_set(err, ERR_INTERNAL, "migration %s failed: %s", m->name,
                          sqlite3_errmsg(cn->db));
        } else {
            rc = q_exec(cn, err, ST_MIG_RECORD, "itl", version, m->name, time_now_us());
        }
    }
    return tx_end(s, cn, rc, err);
}

static int sq_migrate(struct store *store, int *version, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    if (version) *version = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->write_mu);
    read_tx_end(cn);
    int erc = sqlite3_exec(cn->db,
                           "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY "
                           "KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                           NULL, NULL, NULL);
    if (erc != SQLITE_OK) rc = db_error(cn, erc, err);
    pthread_mutex_unlock(&s->write_mu);
    int known = 0;
    for (const struct embedded_file *m = sqlite_migrations; !rc && m->name; m++) {
        int v = migration_version(m->name);
        if (!v)
            rc = error_set(err, ERR_INTERNAL, "migration %s has no version number", m->name);
        else
            rc = migrate_one(s, cn, m, v, err);
        if (v > known) known = v;
    }
    int64_t max = 0;
    if (!rc) rc = q_int64(cn, err, &max, ST_MIG_MAX, "");
    /* A newer cloudhands migrated this database: an older one would misread it. */
    if (!rc && max > known)
        rc = error_set(err, ERR_INTERNAL,
                       "the database has schema version %lld, newer than this cloudhands knows "
                       "(%d): run the newer cloudhands, or restore a backup made before the "
                       "upgrade",
                       (long long)max, known);
    if (!rc && version) *version = (int)max;
    conn_put(s, cn);
    return rc;
}

static int sq_account_create(struct store *store, const char *name, bool is_admin,
                             int max_concurrent, int64_t now, int64_t *id, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_ACCOUNT_INSERT, "tizl", name, (int)is_admin,
                   (int64_t)max_concurrent, now);
    if (is_unique_violation(cn, rc))
        rc = error_set(err, ERR_CONFLICT, "account %s already exists", name);
    else if (!rc && id)
        *id = sqlite3_last_insert_rowid(cn->db);
    conn_put(s, cn);
    return rc;
}

static int sq_account_get_by_name(struct store *store, const char *name, struct account *out,
                                  struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    char missing[ACCOUNT_MISSING_MAX];
    snprintf(missing, sizeof(missing), "account %.100s not found", name);
    rc = q_prep(cn, ST_ACCOUNT_BY_NAME, &q, err, "t", name);
    if (!rc) rc = q_one(cn, q, row_account, out, missing, err);
    conn_put(s, cn);
    return rc;
}

static int sq_account_list(struct store *store, struct account **out, size_t *n, struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_account, free_accounts, (void **)out, n, err,
                  ST_ACCOUNT_LIST, "");
}

static int sq_account_count(struct store *store, int64_t *n, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    *n = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_int64(cn, err, n, ST_ACCOUNT_COUNT, "");
    conn_put(s, cn);
    return rc;
}

static int sq_key_create(struct store *store, int64_t account_id, const char *name,
                         const char *hash_hex, int64_t created_at, int64_t expires_at, int64_t *id,
                         struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_KEY_INSERT, "lttlz", account_id, name, hash_hex, created_at,
                   expires_at);
    if (is_unique_violation(cn, rc))
        rc = error_set(err, ERR_CONFLICT, "an API key with this hash already exists");
    else if (rc && cn->rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = error_set(err, ERR_NOT_FOUND, "account not found");
    else if (!rc && id)
        *id = sqlite3_last_insert_rowid(cn->db);
    conn_put(s, cn);
    return rc;
}

/* The hot path of every request: one indexed read. The write-back of last_used_at happens
 * only when the stored time is older than touch_before, and is best effort: a database too
 * busy to take it does not fail an otherwise valid authentication. */
static int sq_key_authenticate(struct store *store, const char *hash_hex, int64_t now,
                               int64_t touch_before, struct api_key *key, struct account *acct,
                               char stored_hash[65], struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    bool row = false;
    memset(key, 0, sizeof(*key));
    memset(acct, 0, sizeof(*acct));
    stored_hash[0] = '\0';
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_KEY_AUTH, &q, err, "t", hash_hex);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            read_key(q, 0, key);
            const unsigned char *h = sqlite3_column_text(q, 6);
            snprintf(stored_hash, 65, "%s", h ? (const char *)h : "");
            read_account(q, 7, acct);
        }
        q_done(q); /* ends the read before the write below */
    }
    if (!rc && !row) rc = error_set(err, ERR_UNAUTHORIZED, "invalid API key");
    if (!rc && (key->last_used_at == 0 || key->last_used_at < touch_before)) {
        struct error touch_err = {0};
        int trc = write_one(s, cn, &touch_err, ST_KEY_TOUCH, "lll", key->id, now, touch_before);
        if (!trc && sqlite3_changes(cn->db) > 0) key->last_used_at = now;
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

static int sq_key_get(struct store *store, int64_t account_id, int64_t id, struct api_key *out,
                      struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_KEY_GET, &q, err, "ll", id, account_id);
    if (!rc) rc = q_one(cn, q, row_key, out, "API key not found", err);
    conn_put(s, cn);
    return rc;
}

static int sq_key_list(struct store *store, int64_t account_id, struct api_key **out, size_t *n,
                       struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_key, free_keys, (void **)out, n, err, ST_KEY_LIST,
                  "l", account_id);
}

static int sq_key_revoke(struct store *store, int64_t account_id, int64_t id, int64_t now,
                         struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_KEY_REVOKE, "lll", id, account_id, now);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_NOT_FOUND, "API key not found");
    conn_put(s, cn);
    return rc;
}

/* Counts the account's active (STARTING/RUNNING) conversations and fails with ERR_LIMIT
 * when there are `limit` or more. Runs inside the caller's IMMEDIATE transaction. */
static int check_limit(struct conn *cn, int64_t account_id, int limit, int *current,
                       struct error *err)
{
    int64_t count;
    int rc = q_int64(cn, err, &count, ST_CONV_COUNT_ACTIVE, "l", account_id);
    if (rc || count < limit) return rc;
    if (current) *current = (int)count;
    return error_set(err, ERR_LIMIT, "You have %lld conversations running; the limit is %d",
                     (long long)count, limit);
}

/* The body of conversation_create, inside its transaction. Returns with res->replayed set
 * (and nothing written) when the idempotency key is fresh. */
static int create_in_tx(struct conn *cn, const struct conversation *c,
                        const struct conversation_create_opts *opts,
                        struct conversation_create_result *res, struct error *err)
{
    int rc;
    const char *key = opts->idempotency_key;
    if (key) {
        /* Expired keys of this account go first, so what is found is fresh. */
        rc = q_exec(cn, err, ST_IDEM_PURGE, "ll", c->account_id, opts->idempotency_since);
        if (rc) return rc;
        sqlite3_stmt *q;
        bool row;
        rc = q_prep(cn, ST_IDEM_GET, &q, err, "lt", c->account_id, key);
        if (rc) return rc;
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            res->replayed = true;
            res->response = col_str(q, 0);
        }
        q_done(q);
        if (rc || res->replayed) return rc;
    }
    if (opts->limit > 0 && (rc = check_limit(cn, c->account_id, opts->limit, &res->current, err)))
        return rc;

    const char *status = c->status ? c->status : CONV_STARTING;
    bool queued = strcmp(status, CONV_STARTING) == 0;
    int64_t updated_at = c->updated_at ? c->updated_at : c->created_at;
    int64_t next_event_id = opts->first_event ? 1 : 0;
    rc = q_exec(cn, err, ST_CONV_INSERT,
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
    if (rc && cn->rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return error_set(err, ERR_NOT_FOUND, "account not found");
    if (!rc && opts->first_event)
        rc = q_exec(cn, err, ST_EVENT_INSERT, "tlt", c->id, (int64_t)0, opts->first_event);
    if (!rc && key)
        rc = q_exec(cn, err, ST_IDEM_INSERT, "lttl", c->account_id, key, opts->response,
                    c->created_at);
    return rc;
}

static int sq_conversation_create(struct store *store, const struct conversation *c,
                                  const struct conversation_create_opts *opts,
                                  struct conversation_create_result *res, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conversation_create_result ignored;
    struct conn *cn;
    if (!res) res = &ignored;
    memset(res, 0, sizeof(*res));
    if (opts->idempotency_key && !opts->response)
        return error_set(err, ERR_INTERNAL, "an idempotency key needs a response to remember");
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, create_in_tx(cn, c, opts, res, err), err);
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

static int sq_conversation_get(struct store *store, int64_t account_id, const char *id,
                               struct conversation *out, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_CONV_GET, &q, err, "tl", id, account_id);
    if (!rc) rc = q_one(cn, q, row_conversation, out, "conversation not found", err);
    conn_put(s, cn);
    return rc;
}

static int sq_conversation_list(struct store *store, int64_t account_id,
                                const struct conversation_filter *f, int64_t before_seq, int limit,
                                struct conversation **out, size_t *n, struct error *err)
{
    static const struct conversation_filter any = {0};
    if (!f) f = &any;
    return q_list(store->impl, sizeof(**out), row_conversation, free_conversations, (void **)out, n,
                  err, ST_CONV_LIST, "llttti", account_id, before_seq > 0 ? before_seq : INT64_MAX,
                  f->selected_repository, f->trigger, f->status, limit > 0 ? limit : -1);
}

static int sq_conversation_set_title(struct store *store, int64_t account_id, const char *id,
                                     const char *title, int64_t now, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_CONV_SET_TITLE, "tltl", id, account_id, title, now);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    conn_put(s, cn);
    return rc;
}

/* The body of conversation_set_status, inside its transaction. */
static int set_status_in_tx(struct conn *cn, int64_t account_id, const char *id, const char *status,
                            const char *agent_state, int limit, int64_t now, int *current,
                            struct error *err)
{
    sqlite3_stmt *q;
    bool row;
    char *old = NULL;
    int rc = q_prep(cn, ST_CONV_STATUS, &q, err, "tl", id, account_id);
    if (rc) return rc;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) old = col_str(q, 0);
    q_done(q);
    if (!rc && !row) rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    if (!rc && limit > 0 && conversation_status_is_active(status) &&
        !conversation_status_is_active(old))
        rc = check_limit(cn, account_id, limit, current, err);
    free(old);
    if (rc) return rc;
    return q_exec(cn, err, ST_CONV_SET_STATUS, "tlttl", id, account_id, status, agent_state, now);
}

static int sq_conversation_set_status(struct store *store, int64_t account_id, const char *id,
                                      const char *status, const char *agent_state, int limit,
                                      int64_t now, int *current, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    if (current) *current = 0;
    if (!status) return error_set(err, ERR_INTERNAL, "conversation_set_status without a status");
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc)
        rc = tx_end(
            s, cn,
            set_status_in_tx(cn, account_id, id, status, agent_state, limit, now, current, err),
            err);
    conn_put(s, cn);
    if (rc && rc != ERR_LIMIT && current) *current = 0;
    return rc;
}

/* Deletes the conversation; its events go with it (ON DELETE CASCADE). */
static int sq_conversation_delete(struct store *store, int64_t account_id, const char *id,
                                  struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_CONV_DELETE, "tl", id, account_id);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    conn_put(s, cn);
    return rc;
}

static int sq_event_list(struct store *store, const char *conversation_id, int64_t start_id,
                         int64_t end_id, bool reverse, int limit, char ***out, size_t *n,
                         struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_text, free_events, (void **)out, n, err,
                  reverse ? ST_EVENT_LIST_DESC : ST_EVENT_LIST_ASC, "tlli", conversation_id,
                  start_id, end_id < 0 ? INT64_MAX : end_id, limit > 0 ? limit : -1);
}

/* ---- the runtime: events, claims, settings, secrets ---- */

/* The runner rule of store.h: with a runner, it must hold the conversation and the
 * conversation must be active; without one, the conversation must exist. */
static int run_check(struct conn *cn, const char *id, const char *runner, struct error *err)
{
    int64_t ok;
    int rc = q_int64(cn, err, &ok, ST_RUN_CHECK, "tt", id, runner);
    if (rc || ok) return rc;
    return runner ? error_set(err, ERR_CONFLICT, "the conversation is no longer this runner's")
                  : error_set(err, ERR_NOT_FOUND, "conversation not found");
}

/* Gives the event the conversation's next id (and a timestamp when it has none) and stores
 * it. Inside the caller's transaction. */
static int insert_event(struct conn *cn, const char *conversation_id, json_t *event, int64_t now,
                        int64_t *id, struct error *err)
{
    int64_t next;
    int rc = q_int64(cn, err, &next, ST_RUN_NEXT_EVENT, "t", conversation_id);
    if (rc) return rc;
    json_object_set_new(event, "id", json_integer(next));
    if (!json_object_get(event, "timestamp")) {
        char iso[ISO_TIME_LEN];
        json_object_set_new(event, "timestamp", json_string(time_format_iso(now, iso)));
    }
    char *body = json_dumps(event, JSON_COMPACT);
    if (!body) return error_set(err, ERR_INTERNAL, "an event could not be serialized");
    rc = q_exec(cn, err, ST_EVENT_INSERT, "tlt", conversation_id, next, body);
    free(body);
    if (!rc && id) *id = next;
    return rc;
}

static int apply_update(struct conn *cn, const char *id, const struct conversation_update *u,
                        int64_t now, struct error *err)
{
    if (!u) return 0;
    return q_exec(cn, err, ST_RUN_UPDATE, "tttttttttlit", id, u->status, u->agent_state,
                  u->runtime_status, u->error, u->metrics, u->title, u->branch, u->pull_requests,
                  now, u->release ? 1 : 0, u->base_commit);
}

static int sq_event_append(struct store *store, const char *conversation_id, const char *runner,
                           json_t *event, const struct conversation_update *upd, int64_t now,
                           int64_t *id, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) {
        int body = run_check(cn, conversation_id, runner, err);
        if (!body) body = insert_event(cn, conversation_id, event, now, id, err);
        if (!body) body = apply_update(cn, conversation_id, upd, now, err);
        rc = tx_end(s, cn, body, err);
    }
    conn_put(s, cn);
    return rc;
}

static int sq_conversation_update(struct store *store, const char *conversation_id,
                                  const char *runner, const struct conversation_update *upd,
                                  int64_t now, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) {
        int body = run_check(cn, conversation_id, runner, err);
        if (!body) body = apply_update(cn, conversation_id, upd, now, err);
        rc = tx_end(s, cn, body, err);
    }
    conn_put(s, cn);
    return rc;
}

/* The body of conversation_message, inside its transaction. */
static int message_in_tx(struct conn *cn, int64_t account_id, const char *id, json_t *event,
                         int limit, int64_t now, int64_t *event_id, bool *queued, int *current,
                         struct error *err)
{
    sqlite3_stmt *q;
    bool row;
    char *status = NULL;
    int rc = q_prep(cn, ST_MSG_STATUS, &q, err, "tl", id, account_id);
    if (rc) return rc;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) status = col_str(q, 0);
    q_done(q);
    if (!rc && !row) rc = error_set(err, ERR_NOT_FOUND, "conversation not found");
    bool active = conversation_status_is_active(status);
    free(status);
    if (!rc && !active && limit > 0) rc = check_limit(cn, account_id, limit, current, err);
    if (!rc) rc = insert_event(cn, id, event, now, event_id, err);
    if (!rc && !active) {
        rc = q_exec(cn, err, ST_MSG_QUEUE, "tl", id, now);
        *queued = !rc;
    }
    return rc;
}

static int sq_conversation_message(struct store *store, int64_t account_id,
                                   const char *conversation_id, json_t *event, int limit,
                                   int64_t now, int64_t *id, bool *queued, int *current,
                                   struct error *err)
{
    struct sqlite_store *s = store->impl;
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
                    message_in_tx(cn, account_id, conversation_id, event, limit, now, id, queued,
                                  current, err),
                    err);
    conn_put(s, cn);
    if (rc) *queued = false;
    return rc;
}

/* The body of conversation_claim, inside its transaction. */
static int claim_in_tx(struct conn *cn, const char *runner, const char *node, int64_t now,
                       int64_t lease_until, int64_t stale_before, struct conversation *out,
                       struct error *err)
{
    sqlite3_stmt *q;
    bool row;
    char *id = NULL, *old_node = NULL;
    int rc = q_prep(cn, ST_CLAIM_PICK, &q, err, "ltl", now, node, stale_before);
    if (rc) return rc;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) {
        id = col_str(q, 0);
        old_node = col_str(q, 1);
    }
    q_done(q);
    if (!rc && !row) rc = ERR_NOT_FOUND;
    if (!rc) rc = q_exec(cn, err, ST_CLAIM_TAKE, "ttlt", id, runner, lease_until, node);
    if (!rc) rc = q_prep(cn, ST_CLAIM_GET, &q, err, "t", id);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            read_conversation(q, out);
            free(out->node); /* the node it had until now (store.h) */
            out->node = old_node;
            old_node = NULL;
        }
        q_done(q);
    }
    free(id);
    free(old_node);
    return rc;
}

static int sq_conversation_claim(struct store *store, const char *runner, const char *node,
                                 int64_t now, int64_t lease_until, int64_t stale_before,
                                 struct conversation *out, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    /* Most calls find nothing: look without the write lock first. */
    int64_t waiting = 0;
    sqlite3_stmt *q;
    bool row = false;
    rc = q_prep(cn, ST_CLAIM_PICK, &q, err, "ltl", now, node, stale_before);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        q_done(q);
        waiting = row;
    }
    if (!rc && !waiting) rc = ERR_NOT_FOUND;
    if (!rc) rc = tx_begin(s, cn, err);
    if (!rc)
        rc = tx_end(s, cn, claim_in_tx(cn, runner, node, now, lease_until, stale_before, out, err),
                    err);
    conn_put(s, cn);
    if (rc) conversation_free(out);
    return rc;
}

static int sq_conversation_renew(struct store *store, const char *conversation_id,
                                 const char *runner, int64_t lease_until, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_RENEW, "ttl", conversation_id, runner, lease_until);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_CONFLICT, "the conversation is no longer this runner's");
    conn_put(s, cn);
    return rc;
}

/* The stored settings object of an account ({} when none). */
static int settings_read(struct conn *cn, int64_t account_id, json_t **out, struct error *err)
{
    sqlite3_stmt *q;
    bool row;
    *out = NULL;
    int rc = q_prep(cn, ST_SETTINGS_GET, &q, err, "l", account_id);
    if (rc) return rc;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        *out = json_loads(text ? text : "{}", 0, NULL);
    }
    q_done(q);
    if (!rc && !json_is_object(*out)) {
        json_decref(*out);
        *out = json_object();
    }
    return rc;
}

static int sq_settings_get(struct store *store, int64_t account_id, json_t **out, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = settings_read(cn, account_id, out, err);
    conn_put(s, cn);
    return rc;
}

static int settings_put_in_tx(struct conn *cn, int64_t account_id, json_t *changes,
                              struct error *err)
{
    json_t *cur;
    int rc = settings_read(cn, account_id, &cur, err);
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
    rc = q_exec(cn, err, ST_SETTINGS_PUT, "lt", account_id, body);
    free(body);
    if (rc && cn->rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return error_set(err, ERR_NOT_FOUND, "account not found");
    return rc;
}

static int sq_settings_put(struct store *store, int64_t account_id, json_t *changes,
                           struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, settings_put_in_tx(cn, account_id, changes, err), err);
    conn_put(s, cn);
    return rc;
}

static int sq_secret_list(struct store *store, int64_t account_id, struct secret **out, size_t *n,
                          struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_secret, free_secrets, (void **)out, n, err,
                  ST_SECRET_LIST, "l", account_id);
}

static int sq_secret_put(struct store *store, int64_t account_id, const char *name,
                         const char *description, const char *value_sealed, bool create,
                         int64_t now, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    if (create && !value_sealed) return error_set(err, ERR_INTERNAL, "a new secret needs a value");
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    if (create) {
        rc = write_one(s, cn, err, ST_SECRET_INSERT, "ltttl", account_id, name, description,
                       value_sealed, now);
        if (is_unique_violation(cn, rc))
            rc = error_set(err, ERR_CONFLICT, "secret %s already exists", name);
    } else {
        rc = write_one(s, cn, err, ST_SECRET_UPDATE, "lttt", account_id, name, description,
                       value_sealed);
        if (!rc && sqlite3_changes(cn->db) == 0)
            rc = error_set(err, ERR_NOT_FOUND, "secret not found");
    }
    conn_put(s, cn);
    return rc;
}

static int sq_secret_delete(struct store *store, int64_t account_id, const char *name,
                            struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_SECRET_DELETE, "lt", account_id, name);
    if (!rc && sqlite3_changes(cn->db) == 0) rc = error_set(err, ERR_NOT_FOUND, "secret not found");
    conn_put(s, cn);
    return rc;
}

static int sq_account_set_password(struct store *store, const char *name, const char *password_hash,
                                   struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_PASSWORD_SET, "tt", name, password_hash);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_NOT_FOUND, "account %s not found", name);
    conn_put(s, cn);
    return rc;
}

static int sq_account_login_info(struct store *store, const char *name, struct account *out,
                                 char **password_hash, int *failures, int64_t *locked_until,
                                 struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    bool row;
    memset(out, 0, sizeof(*out));
    *password_hash = NULL;
    *failures = 0;
    *locked_until = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_LOGIN_INFO, &q, err, "t", name);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            read_account(q, 0, out);
            *password_hash = col_str(q, 5);
            *failures = sqlite3_column_int(q, 6);
            *locked_until = sqlite3_column_int64(q, 7);
        } else if (!rc) {
            rc = error_set(err, ERR_NOT_FOUND, "account %s not found", name);
        }
        q_done(q);
    }
    conn_put(s, cn);
    return rc;
}

static int sq_account_login_update(struct store *store, int64_t account_id, int failures,
                                   int64_t locked_until, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_LOGIN_UPDATE, "liz", account_id, failures, locked_until);
    conn_put(s, cn);
    return rc;
}

static int sq_session_create(struct store *store, const char *id_hash, int64_t account_id,
                             const char *csrf_token, int64_t now, int64_t expires_at,
                             struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_SESSION_PURGE, "l", now);
    if (!rc)
        rc = write_one(s, cn, err, ST_SESSION_INSERT, "tltll", id_hash, account_id, csrf_token, now,
                       expires_at);
    conn_put(s, cn);
    return rc;
}

static int sq_session_get(struct store *store, const char *id_hash, struct account *acct,
                          char csrf_token[65], int64_t *expires_at, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    bool row;
    memset(acct, 0, sizeof(*acct));
    csrf_token[0] = '\0';
    *expires_at = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_SESSION_GET, &q, err, "t", id_hash);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            read_account(q, 0, acct);
            const unsigned char *t = sqlite3_column_text(q, 5);
            snprintf(csrf_token, 65, "%s", t ? (const char *)t : "");
            *expires_at = sqlite3_column_int64(q, 6);
        } else if (!rc) {
            rc = error_set(err, ERR_UNAUTHORIZED, "no such session");
        }
        q_done(q);
    }
    conn_put(s, cn);
    return rc;
}

static int sq_session_delete(struct store *store, const char *id_hash, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_SESSION_DELETE, "t", id_hash);
    conn_put(s, cn);
    return rc;
}

static int sq_conversation_status_counts(struct store *store, const char *const *statuses,
                                         int64_t *counts, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q = NULL;
    bool row = true;
    for (size_t i = 0; statuses[i]; i++) counts[i] = 0;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_STATUS_COUNTS, &q, err, "");
    while (!rc && row) {
        rc = q_step(cn, q, &row, err);
        if (rc || !row) break;
        const char *status = (const char *)sqlite3_column_text(q, 0);
        for (size_t i = 0; status && statuses[i]; i++)
            if (strcmp(statuses[i], status) == 0) counts[i] = sqlite3_column_int64(q, 1);
    }
    if (q) q_done(q);
    conn_put(s, cn);
    return rc;
}

/* ---- nodes ---- */

static int sq_node_seen(struct store *store, const char *id, const char *url, int64_t alive_until,
                        struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_NODE_SEEN, "ttl", id, url, alive_until);
    conn_put(s, cn);
    return rc;
}

static void row_node(sqlite3_stmt *q, void *elem)
{
    struct node *n = elem;
    n->id = col_str(q, 0);
    n->url = col_str(q, 1);
    n->alive_until = sqlite3_column_int64(q, 2);
    if (sqlite3_column_count(q) > 3) n->workspaces = sqlite3_column_int64(q, 3);
}

static int sq_node_get(struct store *store, const char *id, struct node *out, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_NODE_GET, &q, err, "t", id);
    if (!rc) rc = q_one(cn, q, row_node, out, "node not found", err);
    conn_put(s, cn);
    return rc;
}

static int sq_node_list(struct store *store, struct node **out, size_t *n, struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_node, free_nodes, (void **)out, n, err,
                  ST_NODE_LIST, "");
}

static int sq_cluster_value(struct store *store, const char *name, const char *value, char **stored,
                            struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    *stored = NULL;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_CLUSTER_PUT, "tt", name, value);
    if (!rc) rc = q_prep(cn, ST_CLUSTER_GET, &q, err, "t", name);
    if (!rc) rc = q_one(cn, q, row_text, stored, "cluster value not found", err);
    conn_put(s, cn);
    return rc;
}

/* ---- webhooks ---- */

/* The body of webhook_create, inside its transaction. */
static int webhook_create_in_tx(struct conn *cn, const struct webhook *w, int max,
                                struct error *err)
{
    int64_t count;
    int rc = q_int64(cn, err, &count, ST_WEBHOOK_COUNT, "l", w->account_id);
    if (rc) return rc;
    if (max > 0 && count >= max)
        return error_set(err, ERR_LIMIT, "The account has %lld webhooks; the limit is %d",
                         (long long)count, max);
    rc = q_exec(cn, err, ST_WEBHOOK_INSERT, "tlttttl", w->id, w->account_id, w->url, w->events,
                w->description, w->secret_sealed, w->created_at);
    if (is_unique_violation(cn, rc))
        return error_set(err, ERR_CONFLICT, "webhook %s already exists", w->id);
    if (rc && cn->rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return error_set(err, ERR_NOT_FOUND, "account not found");
    return rc;
}

static int sq_webhook_create(struct store *store, const struct webhook *w, int max,
                             struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, webhook_create_in_tx(cn, w, max, err), err);
    conn_put(s, cn);
    return rc;
}

static int sq_webhook_list(struct store *store, int64_t account_id, struct webhook **out, size_t *n,
                           struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_webhook, free_webhooks, (void **)out, n, err,
                  ST_WEBHOOK_LIST, "l", account_id);
}

static int sq_webhook_get(struct store *store, int64_t account_id, const char *id,
                          struct webhook *out, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    sqlite3_stmt *q;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = q_prep(cn, ST_WEBHOOK_GET, &q, err, "tl", id, account_id);
    if (!rc) rc = q_one(cn, q, row_webhook, out, "webhook not found", err);
    conn_put(s, cn);
    return rc;
}

static int sq_webhook_delete(struct store *store, int64_t account_id, const char *id,
                             struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_WEBHOOK_DELETE, "tl", id, account_id);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_NOT_FOUND, "webhook not found");
    conn_put(s, cn);
    return rc;
}

static int delivery_create_in_tx(struct conn *cn, const struct webhook_delivery *d, size_t n,
                                 int64_t purge_before, struct error *err)
{
    int rc = purge_before > 0 ? q_exec(cn, err, ST_DELIVERY_PURGE, "l", purge_before) : 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = q_exec(cn, err, ST_DELIVERY_INSERT, "tttttll", d[i].id, d[i].webhook_id, d[i].event,
                    d[i].conversation_id, d[i].body, d[i].created_at, d[i].next_attempt_at);
        if (is_unique_violation(cn, rc))
            rc = error_set(err, ERR_CONFLICT, "delivery %s already exists", d[i].id);
    }
    return rc;
}

static int sq_webhook_delivery_create(struct store *store, const struct webhook_delivery *d,
                                      size_t n, int64_t purge_before, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, delivery_create_in_tx(cn, d, n, purge_before, err), err);
    conn_put(s, cn);
    return rc;
}

static int sq_webhook_delivery_list(struct store *store, int64_t account_id, const char *webhook_id,
                                    int limit, struct webhook_delivery **out, size_t *n,
                                    struct error *err)
{
    return q_list(store->impl, sizeof(**out), row_delivery, free_deliveries, (void **)out, n, err,
                  ST_DELIVERY_LIST, "tli", webhook_id, account_id, limit > 0 ? limit : -1);
}

/* The body of webhook_delivery_claim, inside its transaction. */
static int delivery_claim_in_tx(struct conn *cn, const char *worker, int64_t now,
                                int64_t lease_until, struct webhook_delivery *out,
                                struct error *err)
{
    sqlite3_stmt *q;
    bool row;
    char *id = NULL;
    int rc = q_prep(cn, ST_DELIVERY_PICK, &q, err, "l", now);
    if (rc) return rc;
    rc = q_step(cn, q, &row, err);
    if (!rc && row) id = col_str(q, 0);
    q_done(q);
    if (!rc && !row) rc = ERR_NOT_FOUND;
    if (!rc) rc = q_exec(cn, err, ST_DELIVERY_TAKE, "ttl", id, worker, lease_until);
    if (!rc) rc = q_prep(cn, ST_DELIVERY_CLAIMED, &q, err, "t", id);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        if (!rc && row) {
            read_delivery(q, out);
            out->body = col_str(q, 11);
            out->url = col_str(q, 12);
            out->secret_sealed = col_str(q, 13);
        } else if (!rc) {
            rc = ERR_NOT_FOUND;
        }
        q_done(q);
    }
    free(id);
    return rc;
}

static int sq_webhook_delivery_claim(struct store *store, const char *worker, int64_t now,
                                     int64_t lease_until, struct webhook_delivery *out,
                                     struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    memset(out, 0, sizeof(*out));
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    /* Most calls find nothing: look without the write lock first. */
    sqlite3_stmt *q;
    bool row = false;
    rc = q_prep(cn, ST_DELIVERY_PICK, &q, err, "l", now);
    if (!rc) {
        rc = q_step(cn, q, &row, err);
        q_done(q);
    }
    if (!rc && !row) rc = ERR_NOT_FOUND;
    if (!rc) rc = tx_begin(s, cn, err);
    if (!rc) rc = tx_end(s, cn, delivery_claim_in_tx(cn, worker, now, lease_until, out, err), err);
    conn_put(s, cn);
    if (rc) webhook_delivery_free(out);
    return rc;
}

static int sq_webhook_delivery_finish(struct store *store, const char *id, const char *worker,
                                      const struct webhook_attempt *a, struct error *err)
{
    struct sqlite_store *s = store->impl;
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) return rc;
    rc = write_one(s, cn, err, ST_DELIVERY_FINISH, "tttztzz", id, worker, a->status,
                   (int64_t)a->status_code, a->error, a->delivered_at, a->next_attempt_at);
    if (!rc && sqlite3_changes(cn->db) == 0)
        rc = error_set(err, ERR_CONFLICT, "the delivery is no longer this worker's");
    conn_put(s, cn);
    return rc;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate,
    .account_create = sq_account_create,
    .account_get_by_name = sq_account_get_by_name,
    .account_list = sq_account_list,
    .account_count = sq_account_count,
    .key_create = sq_key_create,
    .key_authenticate = sq_key_authenticate,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_revoke = sq_key_revoke,
    .conversation_create = sq_conversation_create,
    .conversation_get = sq_conversation_get,
    .conversation_list = sq_conversation_list,
    .conversation_set_title = sq_conversation_set_title,
    .conversation_set_status = sq_conversation_set_status,
    .conversation_delete = sq_conversation_delete,
    .event_list = sq_event_list,
    .event_append = sq_event_append,
    .conversation_update = sq_conversation_update,
    .conversation_message = sq_conversation_message,
    .conversation_claim = sq_conversation_claim,
    .conversation_renew = sq_conversation_renew,
    .settings_get = sq_settings_get,
    .settings_put = sq_settings_put,
    .secret_list = sq_secret_list,
    .secret_put = sq_secret_put,
    .secret_delete = sq_secret_delete,
    .account_set_password = sq_account_set_password,
    .account_login_info = sq_account_login_info,
    .account_login_update = sq_account_login_update,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .conversation_status_counts = sq_conversation_status_counts,
    .webhook_create = sq_webhook_create,
    .webhook_list = sq_webhook_list,
    .webhook_get = sq_webhook_get,
    .webhook_delete = sq_webhook_delete,
    .webhook_delivery_create = sq_webhook_delivery_create,
    .webhook_delivery_list = sq_webhook_delivery_list,
    .webhook_delivery_claim = sq_webhook_delivery_claim,
    .webhook_delivery_finish = sq_webhook_delivery_finish,
    .node_seen = sq_node_seen,
    .node_get = sq_node_get,
    .node_list = sq_node_list,
    .cluster_value = sq_cluster_value,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
};

/* Process-wide settings, applied once before SQLite's first use. Memory statistics are
 * off: they take a global mutex on every SQLite allocation, which showed up as contention
 * between HTTP threads in bench/ (docs/PERFORMANCE.md). The key's destructor gives a thread's
 * own connection back when the thread exits. */
static void sqlite_configure_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (pthread_key_create(&slot_key, slot_release) != 0) {
        fprintf(stderr, "cloudhands: cannot create a thread-specific key\n");
        abort();
    }
}

/* Opens the database at `path` (created if missing) and one first connection, so a bad path
 * fails here rather than on the first request. Does not migrate. */
int store_sqlite_open(const char *path, struct store **out, struct error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_configure_once);
    *out = NULL;
    if (!sqlite3_threadsafe())
        return error_set(err, ERR_INTERNAL, "the SQLite library was built without threads");
    if (strcmp(path, ":memory:") == 0)
        return error_set(err, ERR_INTERNAL,
                         "an in-memory SQLite database cannot be shared; give a file path");
    struct sqlite_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    s->base.impl = s;
    s->path = xstrdup(path);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_lock(&live_mu);
    s->id = ++last_store_id;
    s->live_next = live_stores;
    live_stores = s;
    pthread_mutex_unlock(&live_mu);
    struct conn *cn;
    int rc = conn_get(s, &cn, err);
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    conn_put(s, cn);
    *out = &s->base;
    return 0;
}
