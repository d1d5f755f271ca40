/*
 * test_store: the contract of store.h, checked through `struct store` only, so the same
 * suite runs against every back end. The database is the URL in CLOUDHANDS_TEST_DB when set
 * (it may be shared: every name and id made here is unique to the run), else a fresh SQLite
 * file in a temporary directory. On PostgreSQL, the migration race also makes (and drops) a
 * database of its own, with libpq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/timeutil.h"

static char tmpdir[64]; /* our own SQLite directory; empty when using CLOUDHANDS_TEST_DB */
static char db_url[PATH_MAX + 16]; /* what store_open gets */
static char sqlite_path[PATH_MAX]; /* the SQLite file behind db_url; empty for other back ends */
static char run_tag[40];           /* makes names unique to this run */
static unsigned long long run_nonce;
static atomic_uint id_counter;

/* ---- helpers ---- */

/* A conversation id (32 lowercase hex) no other run or test uses. */
static void new_conv_id(char id[33])
{
    snprintf(id, 33, "%016llx%016x", run_nonce, atomic_fetch_add(&id_counter, 1) + 1);
}

/* A 64-hex key hash unique to this run. */
static void new_hash(char hash[65])
{
    snprintf(hash, 65, "%016llx%016x%032x", run_nonce, atomic_fetch_add(&id_counter, 1) + 1, 0);
}

static int64_t new_account(struct store *s, const char *what, bool admin, int max)
{
    char name[128];
    snprintf(name, sizeof(name), "%s%s", run_tag, what);
    int64_t id = 0;
    struct error err = {0};
    int rc = s->ops->account_create(s, name, admin, max, time_now_us(), &id, &err);
    if (rc) fail_msg("account_create %s: %s", name, err.message);
    assert_true(id > 0);
    return id;
}

/* The fields of a conversation the tests make; everything else stays NULL. */
struct conv_spec {
    const char *repo;
    const char *trigger;
    const char *key; /* idempotency key */
    const char *response;
    int64_t since;
    int64_t created_at;
    int limit;
};

/* Calls conversation_create with a fresh id (returned in id) and a first event naming it. */
static int create_conv(struct store *s, int64_t acct, const struct conv_spec *spec, char id[33],
                       struct conversation_create_result *res, struct error *err)
{
    struct conversation c = {0};
    char event[128];
    new_conv_id(c.id);
    memcpy(id, c.id, 33);
    c.account_id = acct;
    c.title = "a title";
    c.status = CONV_STARTING;
    c.agent_state = "loading";
    c.trigger = (char *)(spec->trigger ? spec->trigger : "openhands_api");
    c.selected_repository = (char *)spec->repo;
    c.selected_branch = spec->repo ? "main" : NULL;
    c.git_provider = spec->repo ? "github" : NULL;
    c.created_at = spec->created_at ? spec->created_at : time_now_us();
    c.updated_at = c.created_at;
    snprintf(event, sizeof(event), "{\"id\":0,\"conversation\":\"%s\"}", c.id);
    struct conversation_create_opts opts = {
        .limit = spec->limit ? spec->limit : 100,
        .first_event = event,
        .idempotency_key = spec->key,
        .response = spec->response,
        .idempotency_since = spec->since,
    };
    memset(res, 0, sizeof(*res));
    return s->ops->conversation_create(s, &c, &opts, res, err);
}

/* Creates a conversation that must succeed. */
static void must_create(struct store *s, int64_t acct, const struct conv_spec *spec, char id[33])
{
    struct conversation_create_result res;
    struct error err = {0};
    int rc = create_conv(s, acct, spec, id, &res, &err);
    if (rc) fail_msg("conversation_create: %s", err.message);
    assert_false(res.replayed);
    assert_null(res.response);
}

static void assert_status(struct store *s, int64_t acct, const char *id, const char *status,
                          const char *agent_state)
{
    struct conversation c;
    struct error err = {0};
    assert_int_equal(s->ops->conversation_get(s, acct, id, &c, &err), 0);
    assert_string_equal(c.status, status);
    if (agent_state) assert_string_equal(c.agent_state, agent_state);
    conversation_free(&c);
}

static size_t count_events(struct store *s, const char *conv)
{
    char **ev;
    size_t n;
    struct error err = {0};
    assert_int_equal(s->ops->event_list(s, conv, 0, -1, false, 1000, &ev, &n, &err), 0);
    event_list_free(ev, n);
    return n;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PATH_MAX + 300];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int group_setup(void **state)
{
    const char *env = getenv("CLOUDHANDS_TEST_DB");
    run_nonce = (unsigned long long)time_now_us() ^ ((unsigned long long)getpid() << 40);
    snprintf(run_tag, sizeof(run_tag), "t%llx-", run_nonce);
    if (env && *env) {
        snprintf(db_url, sizeof(db_url), "%s", env);
        const char *p = env;
        if (strncmp(p, "postgres", 8) != 0) {
            if (strncmp(p, "sqlite:", 7) == 0) p += 7;
            if (strncmp(p, "//", 2) == 0) p += 2;
            snprintf(sqlite_path, sizeof(sqlite_path), "%s", p);
        }
    } else {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/ch-store-test-XXXXXX");
        if (!mkdtemp(tmpdir)) return -1;
        snprintf(sqlite_path, sizeof(sqlite_path), "%s/store.db", tmpdir);
        snprintf(db_url, sizeof(db_url), "sqlite:%s", sqlite_path);
    }
    struct store *s;
    struct error err = {0};
    int version = 0;
    if (store_open(db_url, &s, &err) || s->ops->migrate(s, &version, &err)) {
        fprintf(stderr, "cannot open the test database: %s\n", err.message);
        return -1;
    }
    *state = s;
    return 0;
}

static int group_teardown(void **state)
{
    store_close(*state);
    if (tmpdir[0]) remove_tree(tmpdir);
    return 0;
}

/* ---- migrations ---- */

static bool is_postgres(void)
{
    return strncmp(db_url, "postgres://", 11) == 0 || strncmp(db_url, "postgresql://", 13) == 0;
}

/* Runs one statement (printf-style) on the PostgreSQL database of db_url, with libpq. */
static void pg_admin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pg_admin(const char *fmt, ...)
{
    char sql[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    PGconn *pg = PQconnectdb(db_url);
    if (PQstatus(pg) != CONNECTION_OK) fail_msg("cannot connect: %s", PQerrorMessage(pg));
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

/* db_url with its database name replaced by `name`. */
static void pg_url_of(const char *name, char *out, size_t size)
{
    const char *auth = strstr(db_url, "://") + 3;
    const char *path = auth + strcspn(auth, "/?");
    const char *rest = path + strcspn(path, "?");
    snprintf(out, size, "%.*s/%s%s", (int)(path - db_url), db_url, name, rest);
}

struct migrate_job {
    struct store *s;
    int rc;
    int version;
};

static void *migrate_thread(void *arg)
{
    struct migrate_job *j = arg;
    struct error err = {0};
    j->rc = j->s->ops->migrate(j->s, &j->version, &err);
    return NULL;
}

static void test_migrate_twice(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int v1 = -1, v2 = -1;
    assert_int_equal(s->ops->migrate(s, &v1, &err), 0);
    assert_int_equal(s->ops->migrate(s, &v2, &err), 0);
    assert_true(v1 >= 1);
    assert_int_equal(v1, v2);

    /* Stores (as processes would) migrating a fresh database at the same time: a SQLite file
     * of our own, or on PostgreSQL a database made for it. */
    char url[PATH_MAX + 16], pg_name[64] = "";
    if (is_postgres()) {
        snprintf(pg_name, sizeof(pg_name), "chtest_migrate_%llx", run_nonce);
        pg_admin("CREATE DATABASE %s", pg_name);
        pg_url_of(pg_name, url, sizeof(url));
    } else if (tmpdir[0]) {
        snprintf(url, sizeof(url), "sqlite:%s/race.db", tmpdir);
    } else {
        return;
    }
    enum { RACERS = 4 };
    struct migrate_job jobs[RACERS] = {{0}};
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) assert_int_equal(store_open(url, &jobs[i].s, &err), 0);
    for (int i = 0; i < RACERS; i++) pthread_create(&th[i], NULL, migrate_thread, &jobs[i]);
    for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(jobs[i].version, v1);
    }
    int64_t n = -1;
    assert_int_equal(jobs[0].s->ops->account_count(jobs[0].s, &n, &err), 0);
    assert_int_equal(n, 0);
    for (int i = 0; i < RACERS; i++) store_close(jobs[i].s);
    if (pg_name[0]) pg_admin("DROP DATABASE %s", pg_name);
}

/* ---- accounts ---- */

static void test_accounts(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int64_t before = -1, after = -1;
    assert_int_equal(s->ops->account_count(s, &before, &err), 0);

    char name_a[128], name_b[128];
    snprintf(name_a, sizeof(name_a), "%salice", run_tag);
    snprintf(name_b, sizeof(name_b), "%sbob", run_tag);
    int64_t t = time_now_us();
    int64_t a = 0, b = 0, dup = 0;
    assert_int_equal(s->ops->account_create(s, name_a, true, 3, t, &a, &err), 0);
    assert_int_equal(s->ops->account_create(s, name_b, false, 0, t + 1, &b, &err), 0);
    assert_true(a > 0);
    assert_true(b > a);

    assert_int_equal(s->ops->account_create(s, name_a, false, 0, t, &dup, &err), ERR_CONFLICT);
    assert_int_equal(err.code, ERR_CONFLICT);
    assert_non_null(strstr(err.message, name_a));

    struct account acc;
    assert_int_equal(s->ops->account_get_by_name(s, name_a, &acc, &err), 0);
    assert_int_equal(acc.id, a);
    assert_string_equal(acc.name, name_a);
    assert_true(acc.is_admin);
    assert_int_equal(acc.max_concurrent, 3);
    assert_int_equal(acc.created_at, t);
    account_free(&acc);
    assert_int_equal(s->ops->account_get_by_name(s, name_b, &acc, &err), 0);
    assert_int_equal(acc.id, b);
    assert_false(acc.is_admin);
    assert_int_equal(acc.max_concurrent, 0);
    assert_int_equal(acc.created_at, t + 1);
    account_free(&acc);

    char missing[128];
    snprintf(missing, sizeof(missing), "%snobody", run_tag);
    assert_int_equal(s->ops->account_get_by_name(s, missing, &acc, &err), ERR_NOT_FOUND);

    assert_int_equal(s->ops->account_count(s, &after, &err), 0);
    assert_int_equal(after, before + 2);

    struct account *list;
    size_t n;
    assert_int_equal(s->ops->account_list(s, &list, &n, &err), 0);
    assert_int_equal(n, after);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) assert_true(list[i].id > list[i - 1].id);
        if (list[i].id == a) {
            assert_string_equal(list[i].name, name_a);
            assert_true(list[i].is_admin);
            assert_int_equal(list[i].max_concurrent, 3);
            found++;
        }
        if (list[i].id == b) {
            assert_string_equal(list[i].name, name_b);
            assert_false(list[i].is_admin);
            found++;
        }
    }
    assert_int_equal(found, 2);
    account_list_free(list, n);
}

/* ---- API keys ---- */

static void test_keys(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int64_t a = new_account(s, "keys-a", true, 0);
    int64_t b = new_account(s, "keys-b", false, 0);
    char h1[65], h2[65], unknown[65];
    new_hash(h1);
    new_hash(h2);
    new_hash(unknown);
    int64_t t = time_now_us();
    int64_t k1 = 0, k2 = 0, kdup = 0;
    assert_int_equal(s->ops->key_create(s, a, "laptop", h1, t, 0, &k1, &err), 0);
    assert_int_equal(s->ops->key_create(s, a, "ci", h2, t + 1, t + 1000000, &k2, &err), 0);
    assert_true(k1 > 0);
    assert_true(k2 > k1);
    assert_int_equal(s->ops->key_create(s, b, "again", h1, t, 0, &kdup, &err), ERR_CONFLICT);

    /* Never used: the first authentication touches it. */
    struct api_key key;
    struct account acct;
    char stored[65];
    assert_int_equal(s->ops->key_authenticate(s, h1, t + 10, t + 5, &key, &acct, stored, &err), 0);
    assert_int_equal(key.id, k1);
    assert_int_equal(key.account_id, a);
    assert_string_equal(key.name, "laptop");
    assert_int_equal(key.created_at, t);
    assert_int_equal(key.expires_at, 0);
    assert_int_equal(key.last_used_at, t + 10);
    assert_int_equal(acct.id, a);
    assert_true(acct.is_admin);
    assert_non_null(strstr(acct.name, "keys-a"));
    assert_string_equal(stored, h1);
    api_key_free(&key);
    account_free(&acct);

    /* Used at t+10, which is not older than touch_before t+5: no write. */
    assert_int_equal(s->ops->key_authenticate(s, h1, t + 20, t + 5, &key, &acct, stored, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);
    account_free(&acct);
    assert_int_equal(s->ops->key_get(s, a, k1, &key, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);

    /* Older than touch_before t+15: touched, and the write is persisted. */
    assert_int_equal(s->ops->key_authenticate(s, h1, t + 30, t + 15, &key, &acct, stored, &err), 0);
    assert_int_equal(key.last_used_at, t + 30);
    api_key_free(&key);
    account_free(&acct);
    assert_int_equal(s->ops->key_get(s, a, k1, &key, &err), 0);
    assert_int_equal(key.id, k1);
    assert_string_equal(key.name, "laptop");
    assert_int_equal(key.last_used_at, t + 30);
    api_key_free(&key);

    assert_int_equal(s->ops->key_authenticate(s, unknown, t, t, &key, &acct, stored, &err),
                     ERR_UNAUTHORIZED);
    assert_int_equal(s->ops->key_get(s, b, k1, &key, &err), ERR_NOT_FOUND);
    assert_int_equal(s->ops->key_get(s, a, k2 + 1000000, &key, &err), ERR_NOT_FOUND);

    struct api_key *list;
    size_t n;
    assert_int_equal(s->ops->key_list(s, a, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, k1);
    assert_int_equal(list[1].id, k2);
    assert_string_equal(list[1].name, "ci");
    assert_int_equal(list[1].expires_at, t + 1000000);
    assert_int_equal(list[1].last_used_at, 0);
    api_key_list_free(list, n);
    assert_int_equal(s->ops->key_list(s, b, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    api_key_list_free(list, n);

    /* Revoking: only the owner (or account 0, the operator), only once. */
    assert_int_equal(s->ops->key_revoke(s, b, k1, t + 40, &err), ERR_NOT_FOUND);
    assert_int_equal(s->ops->key_revoke(s, a, k1, t + 40, &err), 0);
    assert_int_equal(s->ops->key_revoke(s, a, k1, t + 41, &err), ERR_NOT_FOUND);
    assert_int_equal(s->ops->key_authenticate(s, h1, t + 50, t + 50, &key, &acct, stored, &err),
                     ERR_UNAUTHORIZED);
    assert_int_equal(s->ops->key_get(s, a, k1, &key, &err), ERR_NOT_FOUND);
    assert_int_equal(s->ops->key_list(s, a, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, k2);
    api_key_list_free(list, n);

    assert_int_equal(s->ops->key_authenticate(s, h2, t + 50, t + 50, &key, &acct, stored, &err), 0);
    assert_int_equal(key.id, k2);
    assert_int_equal(key.expires_at, t + 1000000);
    api_key_free(&key);
    account_free(&acct);
    assert_int_equal(s->ops->key_revoke(s, 0, k2, t + 60, &err), 0);
    assert_int_equal(s->ops->key_authenticate(s, h2, t + 70, t + 70, &key, &acct, stored, &err),
                     ERR_UNAUTHORIZED);
    assert_int_equal(s->ops->key_list(s, a, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    api_key_list_free(list, n);
}

/* ---- conversations ---- */

static void test_conversation_create_and_limit(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct conversation_create_result res;
    int64_t a = new_account(s, "limit", false, 2);
    char c1[33], c2[33], c3[33], c4[33];
    int64_t t = time_now_us();
    struct conv_spec spec = {.repo = "octo/repo", .trigger = "gui", .limit = 2, .created_at = t};
    must_create(s, a, &spec, c1);
    spec.repo = NULL;
    spec.trigger = NULL;
    spec.created_at = t + 1;
    must_create(s, a, &spec, c2);

    struct conversation c;
    assert_int_equal(s->ops->conversation_get(s, a, c1, &c, &err), 0);
    assert_string_equal(c.id, c1);
    assert_int_equal(c.account_id, a);
    assert_true(c.seq > 0);
    assert_string_equal(c.title, "a title");
    assert_string_equal(c.status, CONV_STARTING);
    assert_string_equal(c.agent_state, "loading");
    assert_string_equal(c.trigger, "gui");
    assert_string_equal(c.selected_repository, "octo/repo");
    assert_string_equal(c.selected_branch, "main");
    assert_string_equal(c.git_provider, "github");
    assert_null(c.conversation_instructions);
    assert_null(c.error);
    assert_string_equal(c.pull_requests, "[]");
    assert_string_equal(c.metrics, "{}");
    assert_int_equal(c.created_at, t);
    assert_int_equal(c.updated_at, t);
    conversation_free(&c);

    char **ev;
    size_t n;
    char want[128];
    snprintf(want, sizeof(want), "{\"id\":0,\"conversation\":\"%s\"}", c1);
    assert_int_equal(s->ops->event_list(s, c1, 0, -1, false, 10, &ev, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0], want);
    event_list_free(ev, n);

    /* Two active of two: the third is refused and nothing is written. */
    assert_int_equal(create_conv(s, a, &spec, c3, &res, &err), ERR_LIMIT);
    assert_int_equal(err.code, ERR_LIMIT);
    assert_int_equal(res.current, 2);
    assert_false(res.replayed);
    assert_non_null(strstr(err.message, "limit is 2"));
    assert_int_equal(s->ops->conversation_get(s, a, c3, &c, &err), ERR_NOT_FOUND);
    assert_int_equal(count_events(s, c3), 0);

    /* Stopping one frees a slot. */
    int current = -1;
    int64_t t2 = t + 100;
    assert_int_equal(
        s->ops->conversation_set_status(s, a, c1, CONV_STOPPED, "stopped", 2, t2, &current, &err),
        0);
    assert_status(s, a, c1, CONV_STOPPED, "stopped");
    must_create(s, a, &spec, c3);

    /* Restarting the stopped one would make three: refused, unchanged. */
    current = -1;
    assert_int_equal(s->ops->conversation_set_status(s, a, c1, CONV_STARTING, "loading", 2, t2 + 1,
                                                     &current, &err),
                     ERR_LIMIT);
    assert_int_equal(current, 2);
    assert_non_null(strstr(err.message, "limit is 2"));
    assert_status(s, a, c1, CONV_STOPPED, "stopped");

    /* STARTING -> RUNNING is not a new active conversation: no check. */
    assert_int_equal(s->ops->conversation_set_status(s, a, c2, CONV_RUNNING, "running", 2, t2 + 2,
                                                     &current, &err),
                     0);
    assert_int_equal(s->ops->conversation_get(s, a, c2, &c, &err), 0);
    assert_string_equal(c.status, CONV_RUNNING);
    assert_string_equal(c.agent_state, "running");
    assert_int_equal(c.updated_at, t2 + 2);
    assert_int_equal(c.created_at, t + 1);
    conversation_free(&c);

    /* Archive one, then the restart fits. */
    assert_int_equal(s->ops->conversation_set_status(s, a, c3, CONV_ARCHIVED, "stopped", 2, t2 + 3,
                                                     &current, &err),
                     0);
    assert_int_equal(s->ops->conversation_set_status(s, a, c1, CONV_STARTING, "loading", 2, t2 + 4,
                                                     &current, &err),
                     0);
    assert_status(s, a, c1, CONV_STARTING, "loading");
    assert_status(s, a, c3, CONV_ARCHIVED, "stopped");

    /* limit 0: no check at all (the operator's override). */
    assert_int_equal(s->ops->conversation_set_status(s, a, c3, CONV_STARTING, "loading", 0, t2 + 5,
                                                     &current, &err),
                     0);
    assert_status(s, a, c3, CONV_STARTING, "loading");
    /* Now three are active, so a create with limit 3 is refused with current 3. */
    spec.limit = 3;
    assert_int_equal(create_conv(s, a, &spec, c4, &res, &err), ERR_LIMIT);
    assert_int_equal(res.current, 3);

    /* ERROR is not active either. */
    assert_int_equal(
        s->ops->conversation_set_status(s, a, c3, CONV_ERROR, "error", 3, t2 + 6, &current, &err),
        0);
    must_create(s, a, &spec, c4);

    /* Not found: an unknown id, or another account's conversation. */
    int64_t b = new_account(s, "limit-other", false, 0);
    char nobody[33];
    new_conv_id(nobody);
    assert_int_equal(s->ops->conversation_set_status(s, a, nobody, CONV_STOPPED, "stopped", 0, t2,
                                                     &current, &err),
                     ERR_NOT_FOUND);
    assert_int_equal(
        s->ops->conversation_set_status(s, b, c1, CONV_STOPPED, "stopped", 0, t2, &current, &err),
        ERR_NOT_FOUND);
    assert_status(s, a, c1, CONV_STARTING, "loading");
}

static void test_idempotency(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct conversation_create_result res;
    struct conversation c;
    int64_t a = new_account(s, "idem-a", false, 0);
    int64_t b = new_account(s, "idem-b", false, 0);
    int64_t t = time_now_us();
    char c1[33], c2[33], c3[33], c4[33], c5[33], c6[33];

    struct conv_spec spec = {.key = "key-1",
                             .response = "{\"id\":\"first\"}",
                             .since = t - 100,
                             .created_at = t,
                             .limit = 1};
    must_create(s, a, &spec, c1);

    /* The retry within the window replays the first answer, even at the limit. */
    spec.response = "{\"id\":\"second\"}";
    spec.since = t - 50;
    spec.created_at = t + 10;
    assert_int_equal(create_conv(s, a, &spec, c2, &res, &err), 0);
    assert_true(res.replayed);
    assert_string_equal(res.response, "{\"id\":\"first\"}");
    free(res.response);
    assert_int_equal(s->ops->conversation_get(s, a, c2, &c, &err), ERR_NOT_FOUND);
    assert_int_equal(count_events(s, c2), 0);

    /* Keys belong to their account. */
    must_create(s, b, &spec, c3);
    assert_int_equal(s->ops->conversation_get(s, b, c3, &c, &err), 0);
    conversation_free(&c);

    /* A different key is a different request: here it meets the limit. */
    spec.key = "key-2";
    assert_int_equal(create_conv(s, a, &spec, c4, &res, &err), ERR_LIMIT);
    assert_false(res.replayed);
    assert_int_equal(res.current, 1);

    /* Once the key is older than `since`, it is forgotten: a new conversation is made and
     * the key now remembers the new answer. */
    spec.key = "key-1";
    spec.limit = 5;
    spec.since = t + 1;
    spec.created_at = t + 20;
    spec.response = "{\"id\":\"third\"}";
    must_create(s, a, &spec, c5);
    assert_int_equal(s->ops->conversation_get(s, a, c5, &c, &err), 0);
    assert_int_equal(c.created_at, t + 20);
    conversation_free(&c);
    spec.since = t + 15;
    spec.created_at = t + 30;
    assert_int_equal(create_conv(s, a, &spec, c6, &res, &err), 0);
    assert_true(res.replayed);
    assert_string_equal(res.response, "{\"id\":\"third\"}");
    free(res.response);
    assert_int_equal(s->ops->conversation_get(s, a, c6, &c, &err), ERR_NOT_FOUND);

    /* Without a key, nothing is replayed. */
    spec.key = NULL;
    spec.response = NULL;
    must_create(s, a, &spec, c6);
    assert_int_equal(s->ops->conversation_get(s, a, c6, &c, &err), 0);
    conversation_free(&c);
}

static void test_other_account(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct conversation c;
    int64_t a = new_account(s, "owner", false, 0);
    int64_t b = new_account(s, "intruder", false, 0);
    char id[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);
    int64_t t = time_now_us();

    assert_int_equal(s->ops->conversation_get(s, b, id, &c, &err), ERR_NOT_FOUND);
    assert_int_equal(err.code, ERR_NOT_FOUND);
    assert_int_equal(s->ops->conversation_set_title(s, b, id, "mine now", t, &err), ERR_NOT_FOUND);
    assert_int_equal(s->ops->conversation_delete(s, b, id, &err), ERR_NOT_FOUND);
    struct conversation *list;
    size_t n;
    assert_int_equal(s->ops->conversation_list(s, b, NULL, 0, 100, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    conversation_list_free(list, n);

    /* Untouched for its owner. */
    assert_int_equal(s->ops->conversation_get(s, a, id, &c, &err), 0);
    assert_string_equal(c.title, "a title");
    conversation_free(&c);
    assert_int_equal(count_events(s, id), 1);
}

/* Lists `acct`'s conversations and checks their ids are exactly `want` (newest first). */
static void assert_list(struct store *s, int64_t acct, const struct conversation_filter *f,
                        int64_t before, int limit, const char *const *want, size_t nwant,
                        int64_t *last_seq)
{
    struct conversation *list;
    size_t n;
    struct error err = {0};
    assert_int_equal(s->ops->conversation_list(s, acct, f, before, limit, &list, &n, &err), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].id, want[i]);
        assert_int_equal(list[i].account_id, acct);
        assert_true(list[i].seq > 0);
        if (i > 0) assert_true(list[i].seq < list[i - 1].seq);
        if (before > 0) assert_true(list[i].seq < before);
        assert_non_null(list[i].status);
    }
    if (last_seq) *last_seq = n ? list[n - 1].seq : 0;
    conversation_list_free(list, n);
}

static void test_list_paging_and_filters(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int64_t a = new_account(s, "lister", false, 0);
    char id[5][33];
    struct conv_spec specs[5] = {
        {.repo = "octo/a", .trigger = "gui"},           {.repo = "octo/b", .trigger = "gui"},
        {.repo = "octo/a", .trigger = "openhands_api"}, {.repo = NULL, .trigger = "openhands_api"},
        {.repo = "octo/a", .trigger = "gui"},
    };
    for (int i = 0; i < 5; i++) must_create(s, a, &specs[i], id[i]);
    int current;
    assert_int_equal(s->ops->conversation_set_status(s, a, id[1], CONV_STOPPED, "stopped", 0,
                                                     time_now_us(), &current, &err),
                     0);

    const char *all[] = {id[4], id[3], id[2], id[1], id[0]};
    int64_t seq;
    assert_list(s, a, NULL, 0, 100, all, 5, NULL);
    struct conversation_filter none = {0};
    assert_list(s, a, &none, 0, 0, all, 5, NULL); /* limit 0: no limit */

    /* Pages of two, each starting below the last seq of the previous one. */
    assert_list(s, a, NULL, 0, 2, all, 2, &seq);
    assert_list(s, a, NULL, seq, 2, all + 2, 2, &seq);
    assert_list(s, a, NULL, seq, 2, all + 4, 1, &seq);
    assert_list(s, a, NULL, seq, 2, NULL, 0, NULL);

    struct conversation_filter f = {.selected_repository = "octo/a"};
    const char *repo_a[] = {id[4], id[2], id[0]};
    assert_list(s, a, &f, 0, 100, repo_a, 3, NULL);
    assert_list(s, a, &f, 0, 1, repo_a, 1, &seq);
    assert_list(s, a, &f, seq, 100, repo_a + 1, 2, NULL);

    struct conversation_filter tf = {.trigger = "openhands_api"};
    const char *api[] = {id[3], id[2]};
    assert_list(s, a, &tf, 0, 100, api, 2, NULL);

    struct conversation_filter sf = {.status = CONV_STOPPED};
    const char *stopped[] = {id[1]};
    assert_list(s, a, &sf, 0, 100, stopped, 1, NULL);
    sf.status = CONV_STARTING;
    const char *starting[] = {id[4], id[3], id[2], id[0]};
    assert_list(s, a, &sf, 0, 100, starting, 4, NULL);

    struct conversation_filter both = {.selected_repository = "octo/a", .trigger = "gui"};
    const char *a_gui[] = {id[4], id[0]};
    assert_list(s, a, &both, 0, 100, a_gui, 2, NULL);
    both.status = CONV_STOPPED;
    assert_list(s, a, &both, 0, 100, NULL, 0, NULL);
    struct conversation_filter nomatch = {.selected_repository = "octo/none"};
    assert_list(s, a, &nomatch, 0, 100, NULL, 0, NULL);
}

static void test_set_title(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct conversation c;
    int64_t a = new_account(s, "titler", false, 0);
    char id[33], nobody[33];
    struct conv_spec spec = {.created_at = 1000};
    must_create(s, a, &spec, id);
    new_conv_id(nobody);
    int64_t t = time_now_us();
    assert_int_equal(s->ops->conversation_set_title(s, a, id, "Fix the parser", t, &err), 0);
    assert_int_equal(s->ops->conversation_get(s, a, id, &c, &err), 0);
    assert_string_equal(c.title, "Fix the parser");
    assert_int_equal(c.updated_at, t);
    assert_int_equal(c.created_at, 1000);
    assert_string_equal(c.status, CONV_STARTING);
    conversation_free(&c);
    assert_int_equal(s->ops->conversation_set_title(s, a, nobody, "x", t, &err), ERR_NOT_FOUND);
}

static void test_delete(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct conversation c;
    int64_t a = new_account(s, "deleter", false, 0);
    char id[33], keep[33], next[33];
    struct conv_spec spec = {.limit = 2};
    must_create(s, a, &spec, keep);
    must_create(s, a, &spec, id);
    assert_int_equal(count_events(s, id), 1);

    assert_int_equal(s->ops->conversation_delete(s, a, id, &err), 0);
    assert_int_equal(s->ops->conversation_get(s, a, id, &c, &err), ERR_NOT_FOUND);
    assert_int_equal(count_events(s, id), 0);
    assert_int_equal(s->ops->conversation_delete(s, a, id, &err), ERR_NOT_FOUND);
    const char *left[] = {keep};
    assert_list(s, a, NULL, 0, 100, left, 1, NULL);
    assert_int_equal(count_events(s, keep), 1);

    /* The deleted one no longer counts toward the limit. */
    must_create(s, a, &spec, next);
}

/* Appends events 1..n to a conversation through event_append (no runner), each with the same
 * timestamp, so their bodies are {"id":N,"timestamp":"T"}. */
static void seed_events(struct store *s, const char *conv, int n)
{
    for (int i = 1; i <= n; i++) {
        json_t *ev = json_pack("{s:i, s:s}", "id", 0, "timestamp", "T");
        int64_t id = -1;
        struct error err = {0};
        int rc = s->ops->event_append(s, conv, NULL, ev, NULL, time_now_us(), &id, &err);
        json_decref(ev);
        if (rc) fail_msg("event_append: %s", err.message);
        assert_int_equal(id, i);
    }
}

/* Checks event_list returns exactly the events with ids `want` (seed_events' bodies; event 0
 * is the first message). */
static void assert_events(struct store *s, const char *conv, int64_t start, int64_t end,
                          bool reverse, int limit, const int *want, size_t nwant)
{
    char **ev;
    size_t n;
    struct error err = {0};
    assert_int_equal(s->ops->event_list(s, conv, start, end, reverse, limit, &ev, &n, &err), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        char body[64];
        if (want[i] == 0) {
            assert_non_null(strstr(ev[i], "\"id\":0"));
            continue;
        }
        snprintf(body, sizeof(body), "{\"id\":%d,\"timestamp\":\"T\"}", want[i]);
        assert_string_equal(ev[i], body);
    }
    event_list_free(ev, n);
}

static void test_event_list(void **state)
{
    struct store *s = *state;
    int64_t a = new_account(s, "events", false, 0);
    char id[33], nobody[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);
    new_conv_id(nobody);

    static const int zero[] = {0};
    assert_events(s, id, 0, -1, false, 10, zero, 1);
    assert_events(s, id, 0, 0, true, 10, zero, 1);
    assert_events(s, id, 1, -1, false, 10, NULL, 0);
    assert_events(s, nobody, 0, -1, false, 10, NULL, 0);

    seed_events(s, id, 9);
    static const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const int mid[] = {3, 4, 5, 6};
    static const int mid_rev[] = {6, 5, 4, 3};
    static const int from3[] = {3, 4};
    static const int newest[] = {9, 8, 7};
    static const int upto[] = {2, 1, 0};
    assert_events(s, id, 0, -1, false, 100, all, 10);
    assert_events(s, id, 0, -1, false, 0, all, 10); /* limit 0: no limit */
    assert_events(s, id, 3, 6, false, 100, mid, 4);
    assert_events(s, id, 3, 6, true, 100, mid_rev, 4);
    assert_events(s, id, 3, -1, false, 2, from3, 2);
    assert_events(s, id, 0, -1, true, 3, newest, 3);
    assert_events(s, id, 0, 2, true, 100, upto, 3);
    assert_events(s, id, 6, 6, false, 100, mid + 3, 1);
    assert_events(s, id, 7, 5, false, 100, NULL, 0);
    assert_events(s, id, 10, -1, false, 100, NULL, 0);

    /* Deleting the conversation takes every event with it. */
    struct error err = {0};
    assert_int_equal(s->ops->conversation_delete(s, a, id, &err), 0);
    assert_events(s, id, 0, -1, false, 100, NULL, 0);
}

/* ---- read scopes ---- */

/* The title of conversation `id` as `s` reads it now. */
static void assert_title(struct store *s, int64_t acct, const char *id, const char *title)
{
    struct conversation c;
    struct error err = {0};
    int rc = s->ops->conversation_get(s, acct, id, &c, &err);
    if (rc) fail_msg("conversation_get: %s", err.message);
    assert_string_equal(c.title, title);
    conversation_free(&c);
}

static void set_title(struct store *s, int64_t acct, const char *id, const char *title)
{
    struct error err = {0};
    int rc = s->ops->conversation_set_title(s, acct, id, title, time_now_us(), &err);
    if (rc) fail_msg("conversation_set_title: %s", err.message);
}

static size_t count_conversations(struct store *s, int64_t acct)
{
    struct conversation *list;
    size_t n;
    struct error err = {0};
    int rc = s->ops->conversation_list(s, acct, NULL, 0, 0, &list, &n, &err);
    if (rc) fail_msg("conversation_list: %s", err.message);
    conversation_list_free(list, n);
    return n;
}

static void scope_begin(struct store *s)
{
    struct error err = {0};
    int rc = store_read_begin(s, &err);
    if (rc) fail_msg("read_begin: %s", err.message);
}

/* One snapshot from the scope's first read to read_end, whatever another connection (a second
 * store stands for another process) commits meanwhile; never a snapshot older than the first
 * read, so a key revoked before it is seen revoked. */
static void test_read_scope_snapshot(void **state)
{
    struct store *s = *state, *other;
    struct error err = {0};
    if (!s->ops->read_begin) skip(); /* a back end without scopes: nothing to check */
    assert_int_equal(store_open(db_url, &other, &err), 0);
    int64_t a = new_account(s, "scope-snap", false, 0);
    char id[33], id2[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);

    scope_begin(s);
    assert_title(s, a, id, "a title");
    assert_int_equal(count_conversations(s, a), 1);
    set_title(other, a, id, "changed");
    must_create(other, a, &spec, id2);
    assert_title(other, a, id, "changed");
    assert_title(s, a, id, "a title");
    assert_int_equal(count_conversations(s, a), 1);
    assert_int_equal(s->ops->conversation_get(s, a, id2, &(struct conversation){0}, &err),
                     ERR_NOT_FOUND);
    store_read_end(s);
    assert_title(s, a, id, "changed");
    assert_int_equal(count_conversations(s, a), 2);

    /* The snapshot is taken at the first read, not at read_begin. */
    scope_begin(s);
    set_title(other, a, id, "before the first read");
    assert_title(s, a, id, "before the first read");
    store_read_end(s);

    /* Revocation committed before the scope's first read: the key is refused. */
    char h[65];
    new_hash(h);
    int64_t t = time_now_us(), k = 0;
    struct api_key key;
    struct account acct;
    char stored[65];
    assert_int_equal(s->ops->key_create(s, a, "scoped", h, t, 0, &k, &err), 0);
    scope_begin(s);
    assert_int_equal(other->ops->key_revoke(other, a, k, t + 1, &err), 0);
    assert_int_equal(s->ops->key_authenticate(s, h, t + 2, t + 2, &key, &acct, stored, &err),
                     ERR_UNAUTHORIZED);
    store_read_end(s);
    store_close(other);
}

/* Scopes nest; a write inside a scope works, ends the snapshot, and the reads after it see it
 * (key_authenticate's last_used_at write-back included). */
static void test_read_scope_nested_and_writes(void **state)
{
    struct store *s = *state, *other;
    struct error err = {0};
    if (!s->ops->read_begin) skip();
    assert_int_equal(store_open(db_url, &other, &err), 0);
    int64_t a = new_account(s, "scope-nest", false, 0);
    char id[33], id2[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);

    scope_begin(s);
    assert_title(s, a, id, "a title");
    scope_begin(s);
    set_title(other, a, id, "t1");
    assert_title(s, a, id, "a title");
    store_read_end(s); /* the inner end: still the outer scope's snapshot */
    assert_title(s, a, id, "a title");
    store_read_end(s);
    assert_title(s, a, id, "t1");

    /* Writes of this thread inside the scope: single statement, and a transaction. */
    scope_begin(s);
    assert_title(s, a, id, "t1");
    set_title(s, a, id, "t2");
    assert_title(s, a, id, "t2");
    set_title(other, a, id, "t3");
    assert_title(s, a, id, "t2"); /* the new snapshot began at the read after the write */
    must_create(s, a, &spec, id2);
    assert_title(s, a, id2, "a title");
    assert_title(s, a, id, "t3");
    assert_int_equal(count_conversations(s, a), 2);
    store_read_end(s);
    assert_title(other, a, id2, "a title");

    /* The once-a-minute last_used_at write-back inside a scope. */
    char h[65];
    new_hash(h);
    int64_t t = time_now_us(), k = 0;
    struct api_key key;
    struct account acct;
    char stored[65];
    assert_int_equal(s->ops->key_create(s, a, "touched", h, t, 0, &k, &err), 0);
    scope_begin(s);
    assert_int_equal(s->ops->key_authenticate(s, h, t + 10, t + 5, &key, &acct, stored, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);
    account_free(&acct);
    assert_int_equal(s->ops->key_get(s, a, k, &key, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);
    assert_title(s, a, id, "t3");
    /* Not older than touch_before: no write, and the snapshot goes on. */
    set_title(other, a, id, "t4");
    assert_int_equal(s->ops->key_authenticate(s, h, t + 20, t + 5, &key, &acct, stored, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);
    account_free(&acct);
    assert_title(s, a, id, "t3");
    store_read_end(s);
    assert_int_equal(other->ops->key_get(other, a, k, &key, &err), 0);
    assert_int_equal(key.last_used_at, t + 10);
    api_key_free(&key);
    store_close(other);
}

/* After read_end nothing of the scope is left open: this thread writes at once (a transaction
 * left open would refuse BEGIN IMMEDIATE or keep the write uncommitted), and another
 * connection sees the write. */
static void test_read_scope_write_after_end(void **state)
{
    struct store *s = *state, *other;
    struct error err = {0};
    assert_int_equal(store_open(db_url, &other, &err), 0);
    int64_t a = new_account(s, "scope-after", false, 0);
    char id[33], id2[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);
    for (int i = 0; i < 3; i++) {
        scope_begin(s);
        assert_title(s, a, id, i ? "after" : "a title");
        assert_int_equal(count_conversations(s, a), (size_t)(i + 1));
        store_read_end(s);
        set_title(s, a, id, "after");
        assert_title(other, a, id, "after");
        must_create(s, a, &spec, id2);
        assert_title(other, a, id2, "a title");
    }
    /* An empty scope, and one whose only operation failed. */
    scope_begin(s);
    store_read_end(s);
    scope_begin(s);
    assert_int_equal(s->ops->conversation_get(s, a + 1000000, id, &(struct conversation){0}, &err),
                     ERR_NOT_FOUND);
    store_read_end(s);
    set_title(s, a, id, "last");
    assert_title(other, a, id, "last");
    store_close(other);
}

/* Scopes belong to their thread: another thread's write on the same store does not end this
 * thread's snapshot, and neither thread's scope leaks into the other. The second thread only
 * records what it read (cmocka asserts belong to the main thread). */
struct scope_pair {
    struct store *s;
    int64_t account;
    char id[33];
    pthread_barrier_t step;
    int rc;
    char *seen[3]; /* the titles the thread read: first read, after the write, after read_end */
};

static char *read_title(struct store *s, int64_t acct, const char *id, int *rc)
{
    struct conversation c;
    struct error err = {0};
    int r = s->ops->conversation_get(s, acct, id, &c, &err);
    if (r) {
        if (!*rc) *rc = r;
        return NULL;
    }
    char *t = c.title; /* owned: taken from the record */
    c.title = NULL;
    conversation_free(&c);
    return t;
}

static void *scope_pair_thread(void *arg)
{
    struct scope_pair *p = arg;
    struct error err = {0};
    p->rc = store_read_begin(p->s, &err);
    p->seen[0] = read_title(p->s, p->account, p->id, &p->rc);
    pthread_barrier_wait(&p->step); /* 1: the snapshot is taken */
    pthread_barrier_wait(&p->step); /* 2: the main thread wrote, in its own scope */
    p->seen[1] = read_title(p->s, p->account, p->id, &p->rc);
    store_read_end(p->s);
    p->seen[2] = read_title(p->s, p->account, p->id, &p->rc);
    pthread_barrier_wait(&p->step); /* 3 */
    return NULL;
}

static void test_read_scope_two_threads(void **state)
{
    struct store *s = *state;
    if (!s->ops->read_begin) skip();
    struct scope_pair p = {.s = s};
    p.account = new_account(s, "scope-pair", false, 0);
    struct conv_spec spec = {0};
    must_create(s, p.account, &spec, p.id);
    assert_int_equal(pthread_barrier_init(&p.step, NULL, 2), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, scope_pair_thread, &p), 0);
    pthread_barrier_wait(&p.step); /* 1 */
    scope_begin(s);
    assert_title(s, p.account, p.id, "a title");
    set_title(s, p.account, p.id, "other thread");
    assert_title(s, p.account, p.id, "other thread");
    pthread_barrier_wait(&p.step); /* 2 */
    assert_title(s, p.account, p.id, "other thread");
    store_read_end(s);
    pthread_barrier_wait(&p.step); /* 3 */
    pthread_join(th, NULL);
    pthread_barrier_destroy(&p.step);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.seen[0], "a title");
    assert_string_equal(p.seen[1], "a title");
    assert_string_equal(p.seen[2], "other thread");
    for (int i = 0; i < 3; i++) free(p.seen[i]);
}

/* Many threads, more than any pool, each running request-like scopes (authenticate, list,
 * get, list again) while a writer keeps adding conversations: both lists of a scope agree,
 * nothing fails, and the threads' connections outlive neither the threads nor the store. */
#define SCOPE_READERS 6
#define SCOPE_ROUNDS  200

struct scope_race {
    struct store *s;
    int64_t account;
    char hash[65];
    char id[33];
    atomic_bool stop;
    atomic_int failures, mismatches, scopes;
};

/* Renames the conversation over and over and adds a conversation every tenth time (400 at
 * most, so the lists stay short). */
static void *scope_writer(void *arg)
{
    struct scope_race *r = arg;
    struct conv_spec spec = {.limit = 1000000};
    for (int i = 0; !atomic_load(&r->stop); i++) {
        char id[33], title[32];
        struct conversation_create_result res;
        struct error err = {0};
        int rc;
        if (i % 10 == 0 && i < 4000) {
            rc = create_conv(r->s, r->account, &spec, id, &res, &err);
            free(res.response);
        } else {
            snprintf(title, sizeof(title), "w%d", i);
            rc = r->s->ops->conversation_set_title(r->s, r->account, r->id, title, time_now_us(),
                                                   &err);
        }
        if (rc && rc != ERR_UNAVAILABLE) atomic_fetch_add(&r->failures, 1);
    }
    return NULL;
}

/* Two reads of the same things in one scope, with the key check (and its write-back) first. */
static void *scope_reader(void *arg)
{
    struct scope_race *r = arg;
    struct store *s = r->s;
    for (int i = 0; i < SCOPE_ROUNDS; i++) {
        struct error err = {0};
        struct api_key key;
        struct account acct;
        struct conversation c1 = {0}, c2 = {0}, *list;
        size_t n1 = 0, n2 = 0;
        char stored[65];
        bool scoped = i % 4 != 3; /* some plain reads in between */
        int64_t now = time_now_us();
        if (scoped && store_read_begin(s, &err)) {
            atomic_fetch_add(&r->failures, 1);
            continue;
        }
        /* touch_before = now: every call writes last_used_at, inside the scope */
        int rc = s->ops->key_authenticate(s, r->hash, now, now, &key, &acct, stored, &err);
        if (!rc) {
            api_key_free(&key);
            account_free(&acct);
            rc = s->ops->conversation_list(s, r->account, NULL, 0, 0, &list, &n1, &err);
        }
        if (!rc) {
            conversation_list_free(list, n1);
            rc = s->ops->conversation_get(s, r->account, r->id, &c1, &err);
        }
        if (!rc) rc = s->ops->conversation_list(s, r->account, NULL, 0, 0, &list, &n2, &err);
        if (!rc) {
            conversation_list_free(list, n2);
            rc = s->ops->conversation_get(s, r->account, r->id, &c2, &err);
        }
        if (scoped) {
            store_read_end(s);
            atomic_fetch_add(&r->scopes, 1);
        }
        if (rc && rc != ERR_UNAVAILABLE) {
            fprintf(stderr, "scope reader: %s: %s\n", err_code_name(rc), err.message);
            atomic_fetch_add(&r->failures, 1);
        } else if (!rc && scoped && (n1 != n2 || strcmp(c1.title, c2.title) != 0)) {
            atomic_fetch_add(&r->mismatches, 1);
        }
        conversation_free(&c1);
        conversation_free(&c2);
    }
    return NULL;
}

static void test_read_scope_threads(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    struct scope_race r = {.s = s};
    r.account = new_account(s, "scope-race", false, 0);
    struct conv_spec spec = {0};
    must_create(s, r.account, &spec, r.id);
    new_hash(r.hash);
    int64_t k;
    assert_int_equal(s->ops->key_create(s, r.account, "race", r.hash, time_now_us(), 0, &k, &err),
                     0);
    pthread_t writer, readers[SCOPE_READERS];
    assert_int_equal(pthread_create(&writer, NULL, scope_writer, &r), 0);
    /* Three waves of readers: threads that exit hand their connections back. */
    for (int wave = 0; wave < 3; wave++) {
        for (int i = 0; i < SCOPE_READERS; i++)
            assert_int_equal(pthread_create(&readers[i], NULL, scope_reader, &r), 0);
        for (int i = 0; i < SCOPE_READERS; i++) pthread_join(readers[i], NULL);
    }
    atomic_store(&r.stop, true);
    pthread_join(writer, NULL);
    assert_int_equal(atomic_load(&r.failures), 0);
    if (s->ops->read_begin) assert_int_equal(atomic_load(&r.mismatches), 0);
    assert_int_equal(atomic_load(&r.scopes), 3 * SCOPE_READERS * (SCOPE_ROUNDS * 3 / 4));
}

/* ---- concurrency ---- */

#define RACE_THREADS 8
#define RACE_CALLS   10
#define RACE_LIMIT   10

struct race {
    struct store *stores[2];
    int nstores;
    int64_t account;
    atomic_int ok, limited, other;
    atomic_int wrong_current;
    pthread_barrier_t start; /* all threads begin at once, so their transactions overlap */
};

struct racer {
    struct race *race;
    int index;
};

static void *race_thread(void *arg)
{
    struct racer *r = arg;
    struct store *s = r->race->stores[r->index % r->race->nstores];
    pthread_barrier_wait(&r->race->start);
    for (int i = 0; i < RACE_CALLS; i++) {
        char id[33];
        struct conversation_create_result res;
        struct error err = {0};
        struct conv_spec spec = {.limit = RACE_LIMIT};
        int rc = create_conv(s, r->race->account, &spec, id, &res, &err);
        if (rc == 0) {
            atomic_fetch_add(&r->race->ok, 1);
        } else if (rc == ERR_LIMIT) {
            atomic_fetch_add(&r->race->limited, 1);
            if (res.current != RACE_LIMIT) atomic_fetch_add(&r->race->wrong_current, 1);
        } else {
            fprintf(stderr, "race: unexpected %s: %s\n", err_code_name(rc), err.message);
            atomic_fetch_add(&r->race->other, 1);
        }
    }
    return NULL;
}

/* 8 threads x 10 creates for one account with limit 10, over `nstores` stores. */
static void run_race(struct store *s, struct store *second, const char *what)
{
    struct race race = {.stores = {s, second}, .nstores = second ? 2 : 1};
    race.account = new_account(s, what, false, RACE_LIMIT);
    assert_int_equal(pthread_barrier_init(&race.start, NULL, RACE_THREADS), 0);
    pthread_t th[RACE_THREADS];
    struct racer racers[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        racers[i] = (struct racer){&race, i};
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &racers[i]), 0);
    }
    for (int i = 0; i < RACE_THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&race.start);
    assert_int_equal(atomic_load(&race.other), 0);
    assert_int_equal(atomic_load(&race.ok), RACE_LIMIT);
    assert_int_equal(atomic_load(&race.limited), RACE_THREADS * RACE_CALLS - RACE_LIMIT);
    assert_int_equal(atomic_load(&race.wrong_current), 0);

    struct conversation *list;
    size_t n;
    struct error err = {0};
    struct conversation_filter f = {.status = CONV_STARTING};
    assert_int_equal(s->ops->conversation_list(s, race.account, &f, 0, 1000, &list, &n, &err), 0);
    assert_int_equal(n, RACE_LIMIT);
    conversation_list_free(list, n);
}

static void test_concurrent_create(void **state)
{
    run_race(*state, NULL, "race-one-store");
}

/* Two stores with their own pools stand in for two server processes. */
static void test_concurrent_create_two_stores(void **state)
{
    struct store *second;
    struct error err = {0};
    char what[32];
    assert_int_equal(store_open(db_url, &second, &err), 0);
    for (int round = 0; round < 5; round++) { /* the interleavings vary: give them chances */
        snprintf(what, sizeof(what), "race-two-stores-%d", round);
        run_race(*state, second, what);
    }
    store_close(second);
}

/* Web sign-in: passwords (as hashes), the failure count and lock, sessions. */
static void test_passwords_and_sessions(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    char name[128], csrf[65], hash[65], other[65];
    struct account a;
    char *pw;
    int failures;
    int64_t locked, expires;
    snprintf(name, sizeof(name), "%sweb", run_tag);
    int64_t id = new_account(s, "web", false, 0);

    assert_int_equal(s->ops->account_login_info(s, name, &a, &pw, &failures, &locked, &err), 0);
    assert_int_equal(a.id, id);
    assert_null(pw); /* no password yet */
    assert_int_equal(failures, 0);
    assert_int_equal(locked, 0);
    account_free(&a);
    assert_int_equal(s->ops->account_set_password(s, name, "$argon2id$fake", &err), 0);
    assert_int_equal(s->ops->account_login_update(s, id, 6, 12345, &err), 0);
    assert_int_equal(s->ops->account_login_info(s, name, &a, &pw, &failures, &locked, &err), 0);
    assert_string_equal(pw, "$argon2id$fake");
    assert_int_equal(failures, 6);
    assert_int_equal(locked, 12345);
    free(pw);
    account_free(&a);
    /* a new password lifts the lock */
    assert_int_equal(s->ops->account_set_password(s, name, "$argon2id$new", &err), 0);
    assert_int_equal(s->ops->account_login_info(s, name, &a, &pw, &failures, &locked, &err), 0);
    assert_int_equal(failures, 0);
    assert_int_equal(locked, 0);
    free(pw);
    account_free(&a);
    assert_int_equal(s->ops->account_set_password(s, name, NULL, &err), 0);
    assert_int_equal(s->ops->account_set_password(s, "no-such-account-here", "x", &err),
                     ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(
        s->ops->account_login_info(s, "no-such-account-here", &a, &pw, &failures, &locked, &err),
        ERR_NOT_FOUND);
    error_clear(&err);

    int64_t now = time_now_us();
    new_hash(hash);
    new_hash(other);
    assert_int_equal(s->ops->session_create(s, hash, id, "c0ffee", now, now + 1000000, &err), 0);
    assert_int_equal(s->ops->session_get(s, hash, &a, csrf, &expires, &err), 0);
    assert_int_equal(a.id, id);
    assert_string_equal(a.name, name);
    assert_string_equal(csrf, "c0ffee");
    assert_int_equal(expires, now + 1000000);
    account_free(&a);
    assert_int_equal(s->ops->session_get(s, other, &a, csrf, &expires, &err), ERR_UNAUTHORIZED);
    error_clear(&err);
    /* a session created later purges the ones that expired before it */
    assert_int_equal(
        s->ops->session_create(s, other, id, "beef", now + 2000000, now + 3000000, &err), 0);
    assert_int_equal(s->ops->session_get(s, hash, &a, csrf, &expires, &err), ERR_UNAUTHORIZED);
    error_clear(&err);
    assert_int_equal(s->ops->session_delete(s, other, &err), 0);
    assert_int_equal(s->ops->session_get(s, other, &a, csrf, &expires, &err), ERR_UNAUTHORIZED);
    error_clear(&err);
}

/* Webhooks: the per-account maximum, isolation, and deliveries: enqueue (skipping a webhook that
 * is gone), list, claim with a lease (a lapsed lease is claimed again), finish only by the
 * holder, purge of finished ones, and deletion with the webhook. Deliveries here are due at
 * times near 0, so claims with such a `now` see no one else's. */
static void test_webhooks(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int64_t a = new_account(s, "hooks", false, 0), b = new_account(s, "hooks-other", false, 0);
    char ids[3][33], gone[33], did[4][33];
    for (int i = 0; i < 3; i++) {
        new_conv_id(ids[i]);
        struct webhook w = {.account_id = a,
                            .url = "https://example.com/hook",
                            .events = "[\"conversation.status\"]",
                            .description = i == 0 ? "first" : NULL,
                            .secret_sealed = "v1:sealed",
                            .created_at = 100 + i};
        memcpy(w.id, ids[i], 33);
        assert_int_equal(s->ops->webhook_create(s, &w, 2, &err), i < 2 ? 0 : ERR_LIMIT);
        error_clear(&err);
        if (i == 0) assert_int_equal(s->ops->webhook_create(s, &w, 10, &err), ERR_CONFLICT);
        error_clear(&err);
    }
    struct webhook *list, one;
    size_t n;
    assert_int_equal(s->ops->webhook_list(s, a, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ids[0]);
    assert_string_equal(list[1].id, ids[1]);
    assert_string_equal(list[0].description, "first");
    assert_string_equal(list[1].description, "");
    assert_string_equal(list[0].events, "[\"conversation.status\"]");
    assert_string_equal(list[0].secret_sealed, "v1:sealed");
    assert_int_equal(list[0].account_id, a);
    assert_int_equal(list[1].created_at, 101);
    webhook_list_free(list, n);
    assert_int_equal(s->ops->webhook_list(s, b, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    webhook_list_free(list, n);
    assert_int_equal(s->ops->webhook_get(s, b, ids[0], &one, &err), ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_delete(s, b, ids[0], &err), ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_get(s, a, ids[0], &one, &err), 0);
    assert_string_equal(one.url, "https://example.com/hook");
    webhook_free(&one);

    /* Deliveries: two to the first webhook, one to the second, one to a webhook that is gone. */
    new_conv_id(gone);
    struct webhook_delivery d[4];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 4; i++) {
        new_conv_id(did[i]);
        memcpy(d[i].id, did[i], 33);
        memcpy(d[i].webhook_id, i == 3 ? gone : i == 2 ? ids[1] : ids[0], 33);
        d[i].event = "conversation.status";
        d[i].conversation_id = "c0ffee";
        d[i].body = "{\"event\":\"conversation.status\"}";
        d[i].created_at = 1 + i;
        d[i].next_attempt_at = 1;
    }
    assert_int_equal(s->ops->webhook_delivery_create(s, d, 4, 0, &err), 0);
    struct webhook_delivery *ds, c1, c2, c3;
    assert_int_equal(s->ops->webhook_delivery_list(s, a, ids[0], 10, &ds, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ds[0].id, did[1]); /* newest first */
    assert_string_equal(ds[1].id, did[0]);
    assert_string_equal(ds[0].status, DELIVERY_PENDING);
    assert_string_equal(ds[0].conversation_id, "c0ffee");
    assert_int_equal(ds[0].attempts, 0);
    assert_null(ds[0].body);
    assert_null(ds[0].last_error);
    webhook_delivery_list_free(ds, n);
    assert_int_equal(s->ops->webhook_delivery_list(s, a, ids[0], 1, &ds, &n, &err), 0);
    assert_int_equal(n, 1);
    webhook_delivery_list_free(ds, n);
    assert_int_equal(s->ops->webhook_delivery_list(s, b, ids[0], 10, &ds, &n, &err), 0);
    assert_int_equal(n, 0); /* not the caller's */
    webhook_delivery_list_free(ds, n);

    /* Claims: each due delivery once; the lease moves next_attempt_at. */
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w1", 2, 1000, &c1, &err), 0);
    assert_int_equal(c1.attempts, 1);
    assert_int_equal(c1.next_attempt_at, 1000);
    assert_string_equal(c1.body, "{\"event\":\"conversation.status\"}");
    assert_string_equal(c1.url, "https://example.com/hook");
    assert_string_equal(c1.secret_sealed, "v1:sealed");
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w2", 2, 3, &c2, &err), 0);
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w3", 2, 1000, &c3, &err), 0);
    assert_string_not_equal(c1.id, c2.id);
    assert_string_not_equal(c2.id, c3.id);
    assert_string_not_equal(c1.id, c3.id);
    struct webhook_delivery none;
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w4", 2, 1000, &none, &err), ERR_NOT_FOUND);
    error_clear(&err);

    /* Only the holder records an outcome, once. */
    struct webhook_attempt retry = {.status = DELIVERY_PENDING,
                                    .status_code = 500,
                                    .error = "the receiver answered 500",
                                    .next_attempt_at = 5};
    assert_int_equal(s->ops->webhook_delivery_finish(s, c1.id, "w2", &retry, &err), ERR_CONFLICT);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_delivery_finish(s, c1.id, "w1", &retry, &err), 0);
    assert_int_equal(s->ops->webhook_delivery_finish(s, c1.id, "w1", &retry, &err), ERR_CONFLICT);
    error_clear(&err);
    /* c2's lease (until 3) lapses: at 4 another worker takes it, and the first may not finish. */
    struct webhook_delivery again;
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w5", 4, 1000, &again, &err), 0);
    assert_string_equal(again.id, c2.id);
    assert_int_equal(again.attempts, 2);
    struct webhook_attempt ok = {
        .status = DELIVERY_DELIVERED, .status_code = 200, .delivered_at = 9};
    assert_int_equal(s->ops->webhook_delivery_finish(s, c2.id, "w2", &ok, &err), ERR_CONFLICT);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_delivery_finish(s, c2.id, "w5", &ok, &err), 0);
    struct webhook_attempt failed = {.status = DELIVERY_FAILED, .error = "gave up"};
    assert_int_equal(s->ops->webhook_delivery_finish(s, c3.id, "w3", &failed, &err), 0);
    /* c1 is due again at 5. */
    struct webhook_delivery third;
    assert_int_equal(s->ops->webhook_delivery_claim(s, "w6", 5, 1000, &third, &err), 0);
    assert_string_equal(third.id, c1.id);
    assert_int_equal(third.attempts, 2);
    assert_string_equal(third.last_error, "the receiver answered 500");
    assert_int_equal(third.last_status_code, 500);
    webhook_delivery_free(&third);

    struct webhook_delivery *all[2];
    size_t counts[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(s->ops->webhook_delivery_list(s, a, ids[i], 10, &all[i], &counts[i], &err),
                         0);
    int delivered = 0, failed_n = 0, pending = 0;
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < counts[i]; j++) {
            struct webhook_delivery *x = &all[i][j];
            if (strcmp(x->status, DELIVERY_DELIVERED) == 0) {
                delivered++;
                assert_int_equal(x->last_status_code, 200);
                assert_int_equal(x->delivered_at, 9);
                assert_int_equal(x->next_attempt_at, 0);
                assert_null(x->last_error);
            } else if (strcmp(x->status, DELIVERY_FAILED) == 0) {
                failed_n++;
                assert_string_equal(x->last_error, "gave up");
                assert_int_equal(x->last_status_code, 0);
            } else {
                pending++;
            }
        }
        webhook_delivery_list_free(all[i], counts[i]);
    }
    assert_int_equal(delivered, 1);
    assert_int_equal(failed_n, 1);
    assert_int_equal(pending, 1);

    /* A later enqueue purges finished deliveries made before `purge_before`; pending ones stay. */
    struct webhook_delivery later = d[0];
    new_conv_id(later.id);
    later.created_at = 50;
    later.next_attempt_at = 2000000000000000LL;
    assert_int_equal(s->ops->webhook_delivery_create(s, &later, 1, 10, &err), 0);
    size_t total = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s->ops->webhook_delivery_list(s, a, ids[i], 10, &ds, &n, &err), 0);
        for (size_t j = 0; j < n; j++) assert_string_not_equal(ds[j].status, DELIVERY_DELIVERED);
        for (size_t j = 0; j < n; j++) assert_string_not_equal(ds[j].status, DELIVERY_FAILED);
        total += n;
        webhook_delivery_list_free(ds, n);
    }
    assert_int_equal(total, 2); /* c1 (pending) and `later` */

    /* Deleting a webhook deletes its deliveries; a finish for one of them is refused. */
    assert_int_equal(s->ops->webhook_delete(s, a, ids[0], &err), 0);
    assert_int_equal(s->ops->webhook_get(s, a, ids[0], &one, &err), ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_delivery_finish(s, c1.id, "w6", &ok, &err), ERR_CONFLICT);
    error_clear(&err);
    assert_int_equal(s->ops->webhook_delivery_list(s, a, ids[0], 10, &ds, &n, &err), 0);
    assert_int_equal(n, 0);
    webhook_delivery_list_free(ds, n);
    webhook_delivery_free(&c1);
    webhook_delivery_free(&c2);
    webhook_delivery_free(&c3);
    webhook_delivery_free(&again);
    assert_int_equal(s->ops->webhook_delete(s, a, ids[1], &err), 0);
}

/* ---- the runtime: claims, leases, the runner rule, follow-ups ---- */

/* Claims for `runner` of `node` until the claim is one of `account`'s conversations (returned in
 * *out). Anyone else's claimed on the way (the database may be shared) is held until then and
 * handed back afterwards. ERR_NOT_FOUND when nothing of the account's is waiting (for `node`:
 * conversations homed elsewhere wait for their node unless queued before `stale_before`). */
static int claim_as(struct store *s, const char *runner, const char *node, int64_t account,
                    int64_t now, int64_t lease_until, int64_t stale_before,
                    struct conversation *out)
{
    char(*others)[33] = NULL;
    size_t n = 0;
    int rc;
    struct error err = {0};
    for (;;) {
        rc = s->ops->conversation_claim(s, runner, node, now, lease_until, stale_before, out, &err);
        if (rc || out->account_id == account) break;
        others = realloc(others, (n + 1) * sizeof(*others));
        memcpy(others[n++], out->id, 33);
        conversation_free(out);
    }
    for (size_t i = 0; i < n; i++) {
        struct conversation_update release = {.release = true};
        (void)s->ops->conversation_update(s, others[i], runner, &release, now, &err);
    }
    free(others);
    return rc;
}

/* claim_as on one node, where nothing waits for another. */
static int claim_own(struct store *s, const char *runner, int64_t account, int64_t now,
                     int64_t lease_until, struct conversation *out)
{
    return claim_as(s, runner, "node-a", account, now, lease_until, now, out);
}

static int append(struct store *s, const char *conv, const char *runner,
                  const struct conversation_update *upd, int64_t *id)
{
    json_t *ev = json_pack("{s:s}", "kind", "test");
    struct error err = {0};
    int rc = s->ops->event_append(s, conv, runner, ev, upd, time_now_us(), id, &err);
    if (!rc) assert_int_equal(json_integer_value(json_object_get(ev, "id")), *id);
    if (!rc) assert_non_null(json_object_get(ev, "timestamp"));
    json_decref(ev);
    return rc;
}

/* A runner claims a queued conversation, writes while it holds it, renews its lease; once the
 * lease runs out another runner takes over and the first one's writes are refused; stopping
 * lets go of the runner; a follow-up queues it again within the limit. */
static void test_runner_lifecycle(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    int64_t a = new_account(s, "runner", false, 0);
    char id[33], other[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);
    const char *ra = "runner-a", *rb = "runner-b";

    /* A claims with a lease that is over at once (its process "dies"). */
    struct conversation c;
    int64_t t = time_now_us();
    assert_int_equal(claim_own(s, ra, a, t, t + 1, &c), 0);
    assert_string_equal(c.id, id);
    assert_string_equal(c.status, CONV_STARTING);
    conversation_free(&c);
    int64_t eid = -1;
    assert_int_equal(append(s, id, ra, NULL, &eid), 0);
    assert_int_equal(eid, 1);
    struct conversation_update running = {.status = CONV_RUNNING, .agent_state = "running"};
    assert_int_equal(append(s, id, ra, &running, &eid), 0);
    assert_int_equal(eid, 2);
    assert_status(s, a, id, CONV_RUNNING, "running");
    assert_int_equal(s->ops->conversation_renew(s, id, rb, t + 2, &err), ERR_CONFLICT);
    assert_int_equal(append(s, id, rb, NULL, &eid), ERR_CONFLICT);
    assert_int_equal(append(s, id, NULL, NULL, &eid), 0); /* the API's own writes: no runner */
    assert_int_equal(eid, 3);

    /* The lease ran out: B takes it over (RUNNING, not queued, but abandoned) and holds it. */
    usleep(1000);
    t = time_now_us();
    assert_int_equal(claim_own(s, rb, a, t, t + 3600000000LL, &c), 0);
    assert_string_equal(c.id, id);
    assert_string_equal(c.status, CONV_RUNNING);
    conversation_free(&c);
    assert_int_equal(append(s, id, ra, NULL, &eid), ERR_CONFLICT);
    assert_int_equal(s->ops->conversation_renew(s, id, ra, t + 10, &err), ERR_CONFLICT);
    assert_int_equal(s->ops->conversation_update(s, id, ra, &running, t, &err), ERR_CONFLICT);
    assert_int_equal(s->ops->conversation_renew(s, id, rb, t + 7200000000LL, &err), 0);
    assert_int_equal(append(s, id, rb, NULL, &eid), 0);
    assert_int_equal(eid, 4);
    /* Held under a live lease: nobody else can claim it. */
    assert_int_equal(claim_own(s, ra, a, t, t + 10, &c), ERR_NOT_FOUND);
    assert_int_equal(count_events(s, id), 5);

    /* B stops it: the conversation lets go of its runner. */
    struct conversation_update stopped = {.status = CONV_STOPPED, .agent_state = "stopped"};
    assert_int_equal(s->ops->conversation_update(s, id, rb, &stopped, t, &err), 0);
    assert_status(s, a, id, CONV_STOPPED, "stopped");
    assert_int_equal(append(s, id, rb, NULL, &eid), ERR_CONFLICT);
    assert_int_equal(s->ops->conversation_renew(s, id, rb, t + 10, &err), ERR_CONFLICT);

    /* A follow-up queues it again, within the limit. */
    must_create(s, a, &spec, other);
    json_t *msg = json_pack("{s:s}", "kind", "message");
    bool queued = true;
    int current = 0;
    eid = -1;
    assert_int_equal(
        s->ops->conversation_message(s, a, id, msg, 1, t, &eid, &queued, &current, &err),
        ERR_LIMIT);
    assert_false(queued);
    assert_int_equal(current, 1);
    assert_int_equal(count_events(s, id), 5);
    assert_int_equal(
        s->ops->conversation_message(s, a, id, msg, 2, t, &eid, &queued, &current, &err), 0);
    assert_true(queued);
    assert_int_equal(eid, 5);
    assert_status(s, a, id, CONV_STARTING, "loading");
    /* ... and an active one is not queued again. */
    assert_int_equal(
        s->ops->conversation_message(s, a, id, msg, 2, t, &eid, &queued, &current, &err), 0);
    assert_false(queued);
    assert_int_equal(eid, 6);
    /* Another account's conversation, an unknown one. */
    int64_t b = new_account(s, "runner-other", false, 0);
    assert_int_equal(
        s->ops->conversation_message(s, b, id, msg, 2, t, &eid, &queued, &current, &err),
        ERR_NOT_FOUND);
    json_decref(msg);
    char nobody[33];
    new_conv_id(nobody);
    assert_int_equal(s->ops->conversation_update(s, nobody, NULL, &running, t, &err),
                     ERR_NOT_FOUND);
    assert_int_equal(append(s, nobody, NULL, NULL, &eid), ERR_NOT_FOUND);

    /* The queued conversation is claimed again, from its events. */
    assert_int_equal(claim_own(s, ra, a, t, t + 3600000000LL, &c), 0);
    conversation_free(&c);
    struct conversation_update done = {.status = CONV_STOPPED, .agent_state = "stopped"};
    assert_int_equal(claim_own(s, ra, a, t, t + 3600000000LL, &c), 0);
    conversation_free(&c);
    assert_int_equal(s->ops->conversation_update(s, id, ra, &done, t, &err), 0);
    assert_int_equal(s->ops->conversation_update(s, other, ra, &done, t, &err), 0);
}

/* Claims as node `node` (runner "<node>-r") at `now`; see claim_as. */
static int claim_on(struct store *s, const char *node, int64_t account, int64_t now,
                    int64_t stale_before, struct conversation *out)
{
    char runner[80];
    snprintf(runner, sizeof(runner), "%s-r", node);
    return claim_as(s, runner, node, account, now, now + 3600000000LL, stale_before, out);
}

/* Hands a claimed conversation back to the queue at `t`, as a runner does on shutdown. */
static void requeue(struct store *s, const char *id, const char *node, int64_t t)
{
    char runner[64];
    struct error err = {0};
    snprintf(runner, sizeof(runner), "%s-r", node);
    struct conversation_update release = {.release = true};
    assert_int_equal(s->ops->conversation_update(s, id, runner, &release, t, &err), 0);
}

/* Several nodes: the nodes table, the values all nodes agree on, and where a conversation runs
 * again — on the node holding its workspace while that node lives (unless it waited too long),
 * elsewhere once it is dead; a claim tells the node it came from. */
static void test_nodes_and_workspace_homes(void **state)
{
    struct store *s = *state;
    struct error err = {0};
    char node1[64], node2[64], *stored = NULL;
    snprintf(node1, sizeof(node1), "%sn1", run_tag);
    snprintf(node2, sizeof(node2), "%sn2", run_tag);
    int64_t t = time_now_us(), hour = 3600000000LL;
    struct node nd;

    /* nodes */
    assert_int_equal(s->ops->node_get(s, node1, &nd, &err), ERR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(s->ops->node_seen(s, node1, "http://a:3001", t + hour, &err), 0);
    assert_int_equal(s->ops->node_seen(s, node2, NULL, t + hour, &err), 0);
    assert_int_equal(s->ops->node_get(s, node1, &nd, &err), 0);
    assert_string_equal(nd.id, node1);
    assert_string_equal(nd.url, "http://a:3001");
    assert_int_equal(nd.alive_until, t + hour);
    node_free(&nd);
    assert_int_equal(s->ops->node_seen(s, node1, NULL, t + 2 * hour, &err), 0); /* keeps url */
    assert_int_equal(s->ops->node_get(s, node1, &nd, &err), 0);
    assert_string_equal(nd.url, "http://a:3001");
    assert_int_equal(nd.alive_until, t + 2 * hour);
    node_free(&nd);
    assert_int_equal(s->ops->node_get(s, node2, &nd, &err), 0);
    assert_null(nd.url);
    node_free(&nd);

    /* cluster values: the first one stays */
    char name[64];
    snprintf(name, sizeof(name), "%scheck", run_tag);
    assert_int_equal(s->ops->cluster_value(s, name, "one", &stored, &err), 0);
    assert_string_equal(stored, "one");
    free(stored);
    assert_int_equal(s->ops->cluster_value(s, name, "two", &stored, &err), 0);
    assert_string_equal(stored, "one");
    free(stored);

    /* homes */
    int64_t a = new_account(s, "homes", false, 0);
    char id[33];
    struct conv_spec spec = {0};
    must_create(s, a, &spec, id);
    struct conversation c;
    assert_int_equal(claim_on(s, node1, a, t, t - hour, &c), 0);
    assert_string_equal(c.id, id);
    assert_null(c.node); /* it had none */
    conversation_free(&c);
    /* published: the branch and its base stay with the conversation */
    struct conversation_update pushed = {.branch = "openhands-workspace-abc", .base_commit = "f00"};
    assert_int_equal(s->ops->conversation_update(s, id, "homes-none", &pushed, t, &err),
                     ERR_CONFLICT); /* not that runner's */
    error_clear(&err);
    char runner1[80];
    snprintf(runner1, sizeof(runner1), "%s-r", node1);
    assert_int_equal(s->ops->conversation_update(s, id, runner1, &pushed, t, &err), 0);
    assert_int_equal(s->ops->conversation_get(s, 0, id, &c, &err), 0); /* any account's */
    assert_string_equal(c.node, node1);
    assert_string_equal(c.branch, "openhands-workspace-abc");
    assert_string_equal(c.base_commit, "f00");
    conversation_free(&c);

    /* Back in the queue: node 2 leaves it to the live node 1 ... */
    requeue(s, id, node1, t);
    assert_int_equal(claim_on(s, node2, a, t + 1, t - hour, &c), ERR_NOT_FOUND);
    /* ... node 1 takes it, knowing it was its own ... */
    assert_int_equal(claim_on(s, node1, a, t + 1, t - hour, &c), 0);
    assert_string_equal(c.node, node1);
    conversation_free(&c);
    /* ... and once it has waited longer than stale_before allows, anyone may. */
    requeue(s, id, node1, t + 2);
    assert_int_equal(claim_on(s, node2, a, t + 3, t + 3, &c), 0);
    assert_string_equal(c.id, id);
    assert_string_equal(c.node, node1); /* where it was: node 2 rebuilds the workspace */
    conversation_free(&c);
    /* Node 2 dies (alive until t + 4): node 1 takes it over at once, without waiting. */
    requeue(s, id, node2, t + 4);
    assert_int_equal(s->ops->node_seen(s, node2, NULL, t + 4, &err), 0);
    assert_int_equal(claim_on(s, node1, a, t + 5, t - hour, &c), 0);
    assert_string_equal(c.node, node2);
    conversation_free(&c);
    assert_int_equal(s->ops->conversation_get(s, a, id, &c, &err), 0);
    assert_string_equal(c.node, node1);
    conversation_free(&c);

    /* The list: both nodes (the database may hold others), node 1 holding the workspace (and
     * those of other tests' conversations that claim_as took and handed back on the way). */
    struct node *list;
    size_t n = 0, seen = 0;
    assert_int_equal(s->ops->node_list(s, &list, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) assert_true(strcmp(list[i - 1].id, list[i].id) < 0);
        if (strcmp(list[i].id, node1) == 0) {
            assert_string_equal(list[i].url, "http://a:3001");
            assert_true(list[i].workspaces >= 1);
            seen++;
        } else if (strcmp(list[i].id, node2) == 0) {
            assert_null(list[i].url);
            assert_int_equal(list[i].alive_until, t + 4);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    node_list_free(list, n);
}

/* Many claimers on two stores (two processes) take every queued conversation exactly once. */
#define CLAIM_CONVS   24
#define CLAIM_THREADS 6

struct claim_race {
    struct store *stores[2];
    int64_t account;
    char ids[CLAIM_CONVS][33];
    atomic_int claims[CLAIM_CONVS];
    atomic_int taken, failures;
    pthread_barrier_t start;
};

struct claimer {
    struct claim_race *race;
    int index;
};

static void *claim_thread(void *arg)
{
    struct claimer *me = arg;
    struct claim_race *r = me->race;
    struct store *s = r->stores[me->index % 2];
    char runner[32];
    snprintf(runner, sizeof(runner), "claimer-%d", me->index);
    pthread_barrier_wait(&r->start);
    while (atomic_load(&r->taken) < CLAIM_CONVS) {
        struct conversation c;
        struct error err = {0};
        int64_t t = time_now_us();
        int rc = s->ops->conversation_claim(s, runner, "node-a", t, t + 3600000000LL, t, &c, &err);
        if (rc == ERR_NOT_FOUND) break;
        if (rc == ERR_UNAVAILABLE) continue; /* SQLite busy: try again */
        if (rc) {
            atomic_fetch_add(&r->failures, 1);
            break;
        }
        bool ours = false;
        for (int i = 0; i < CLAIM_CONVS; i++) {
            if (strcmp(c.id, r->ids[i]) == 0) {
                atomic_fetch_add(&r->claims[i], 1);
                atomic_fetch_add(&r->taken, 1);
                ours = true;
            }
        }
        if (!ours) { /* someone else's (a shared database): hand it back */
            struct conversation_update release = {.release = true};
            (void)s->ops->conversation_update(s, c.id, runner, &release, t, &err);
        }
        conversation_free(&c);
    }
    return NULL;
}

static void test_claims_race(void **state)
{
    struct store *s = *state, *second;
    struct error err = {0};
    assert_int_equal(store_open(db_url, &second, &err), 0);
    struct claim_race r = {.stores = {s, second}};
    r.account = new_account(s, "claims", false, 0);
    struct conv_spec spec = {0};
    for (int i = 0; i < CLAIM_CONVS; i++) must_create(s, r.account, &spec, r.ids[i]);
    assert_int_equal(pthread_barrier_init(&r.start, NULL, CLAIM_THREADS), 0);
    pthread_t th[CLAIM_THREADS];
    struct claimer who[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++) {
        who[i] = (struct claimer){&r, i};
        assert_int_equal(pthread_create(&th[i], NULL, claim_thread, &who[i]), 0);
    }
    for (int i = 0; i < CLAIM_THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.start);
    assert_int_equal(atomic_load(&r.failures), 0);
    for (int i = 0; i < CLAIM_CONVS; i++) assert_int_equal(atomic_load(&r.claims[i]), 1);
    /* Stop them, so later claims elsewhere do not meet them. */
    for (int i = 0; i < CLAIM_CONVS; i++)
        assert_int_equal(s->ops->conversation_set_status(s, r.account, r.ids[i], CONV_STOPPED,
                                                         "stopped", 0, time_now_us(), NULL, &err),
                         0);
    store_close(second);
}

/* PostgreSQL URLs: the password never shows in an error (nothing listens on port 1). */
static void test_postgres_url_password_hidden(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "postgres://u:s3cretpw@127.0.0.1:1/db",
        "postgresql://u:s3cret%40pw@127.0.0.1:1/db?password=s3cretQ&connect_timeout=2",
        "postgres://u:s3cretpw@127.0.0.1:1/db?bogus=1",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct store *s = NULL;
        struct error err = {0};
        int rc = store_open(urls[i], &s, &err);
        assert_true(rc == ERR_UNAVAILABLE || rc == ERR_INTERNAL);
        assert_null(s);
        assert_null(strstr(err.message, "s3cret"));
        assert_non_null(strstr(err.message, "u@127.0.0.1:1/db"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_conversation_create_and_limit),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_other_account),
        cmocka_unit_test(test_list_paging_and_filters),
        cmocka_unit_test(test_set_title),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_event_list),
        cmocka_unit_test(test_concurrent_create),
        cmocka_unit_test(test_concurrent_create_two_stores),
        cmocka_unit_test(test_read_scope_snapshot),
        cmocka_unit_test(test_read_scope_nested_and_writes),
        cmocka_unit_test(test_read_scope_write_after_end),
        cmocka_unit_test(test_read_scope_two_threads),
        cmocka_unit_test(test_read_scope_threads),
        cmocka_unit_test(test_passwords_and_sessions),
        cmocka_unit_test(test_runner_lifecycle),
        cmocka_unit_test(test_claims_race),
        cmocka_unit_test(test_nodes_and_workspace_homes),
        cmocka_unit_test(test_postgres_url_password_hidden),
        cmocka_unit_test(test_webhooks),
    };
    return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
