/*
 * test_router: the HTTP glue that needs no connection. router_match on a route table of our
 * own (literal rows, {param} captures, trailing slashes, extra and empty segments, 405 with
 * the Allow list vs 404, the path copy restored after a failed match) and a few rows of the
 * real api_routes; http_status_for for every error code; response_error's bodies ({"error"}
 * for 401, pydantic's detail list for 422 with body/query/header locations, {"detail": msg}
 * otherwise, a preset err.detail), parsed back with json_loads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/conversations.h"
#include "http/http.h"
#include "util/json.h"

/* Dummy handlers: only their identity matters. */
static int h_list(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_create(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_get(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_delete(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_stop(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_event(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_root(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}
static int h_current(struct http_request *req, struct http_response *res, struct error *err)
{
    return 0;
}

static const struct route table[] = {
    {"GET", "/", h_root, ROUTE_PUBLIC, 0},
    {"GET", "/things", h_list, ROUTE_ACCOUNT, 0},
    {"POST", "/things", h_create, ROUTE_ACCOUNT, 0},
    {"GET", "/things/current", h_current, ROUTE_ACCOUNT, 0},
    {"GET", "/things/{id}", h_get, ROUTE_ACCOUNT, 0},
    {"DELETE", "/things/{id}", h_delete, ROUTE_ACCOUNT, 0},
    {"POST", "/things/{id}/stop", h_stop, ROUTE_ACCOUNT, 0},
    {"GET", "/things/{id}/events/{event}", h_event, ROUTE_ACCOUNT, 0},
    {NULL, NULL, NULL, ROUTE_PUBLIC, 0},
};

struct match {
    struct http_request req;
    struct buf allow;
    bool path_matched;
    const struct route *route;
};

static void do_match(struct match *m, const struct route *tbl, const char *method, const char *path)
{
    memset(m, 0, sizeof(*m));
    m->req.method = method;
    m->req.path = path;
    m->req.path_copy = strdup(path);
    assert_non_null(m->req.path_copy);
    m->req.body = (struct buf)BUF_INIT;
    m->req.allow = (struct buf)BUF_INIT;
    m->allow = (struct buf)BUF_INIT;
    m->path_matched = true; /* router_match must set it */
    m->route = router_match(tbl, &m->req, &m->path_matched, &m->allow);
}

static void match_free(struct match *m)
{
    free(m->req.path_copy);
    buf_release(&m->allow);
}

static void test_literal_match(void **state)
{
    struct match m;
    do_match(&m, table, "GET", "/things");
    assert_non_null(m.route);
    assert_ptr_equal(m.route, &table[1]);
    assert_ptr_equal(m.route->handler, h_list);
    assert_int_equal(m.allow.len, 0);
    match_free(&m);

    do_match(&m, table, "POST", "/things");
    assert_ptr_equal(m.route, &table[2]);
    match_free(&m);

    do_match(&m, table, "GET", "/");
    assert_ptr_equal(m.route, &table[0]);
    match_free(&m);

    /* A literal row wins over a capture row listed after it. */
    do_match(&m, table, "GET", "/things/current");
    assert_ptr_equal(m.route, &table[3]);
    match_free(&m);
}

static void test_capture(void **state)
{
    struct match m;
    do_match(&m, table, "GET", "/things/abc123");
    assert_ptr_equal(m.route, &table[4]);
    assert_non_null(m.req.params[0]);
    assert_string_equal(m.req.params[0], "abc123");
    match_free(&m);

    do_match(&m, table, "POST", "/things/x-y.z/stop");
    assert_ptr_equal(m.route, &table[6]);
    assert_string_equal(m.req.params[0], "x-y.z"); /* terminated in place */
    match_free(&m);

    /* With another method, the literal row is skipped and the capture row takes the path. */
    do_match(&m, table, "DELETE", "/things/current");
    assert_ptr_equal(m.route, &table[5]);
    assert_string_equal(m.req.params[0], "current");
    match_free(&m);
}

static void test_two_captures(void **state)
{
    struct match m;
    do_match(&m, table, "GET", "/things/t1/events/42");
    assert_ptr_equal(m.route, &table[7]);
    assert_string_equal(m.req.params[0], "t1");
    assert_string_equal(m.req.params[1], "42");
    /* Both point into the copy, not into the caller's path. */
    assert_true(m.req.params[0] >= m.req.path_copy &&
                m.req.params[0] < m.req.path_copy + strlen(m.req.path));
    assert_true(m.req.params[1] > m.req.params[0]);
    assert_string_equal(m.req.path, "/things/t1/events/42");
    match_free(&m);
}

static void check_not_found(const char *method, const char *path)
{
    struct match m;
    do_match(&m, table, method, path);
    if (m.route) fail_msg("%s %s matched %s", method, path, m.route->pattern);
    assert_false(m.path_matched);
    assert_int_equal(m.allow.len, 0);
    assert_string_equal(m.req.path_copy, path);
    match_free(&m);
}

static void test_no_match(void **state)
{
    check_not_found("GET", "/things/");         /* trailing slash */
    check_not_found("GET", "/things/a/");       /* trailing slash after a capture */
    check_not_found("POST", "/things/a/stop/"); /* trailing slash after a literal */
    check_not_found("GET", "/things/a/b");      /* extra segment */
    check_not_found("POST", "/things/a/stop/now");
    check_not_found("GET", "/things//stop"); /* empty capture */
    check_not_found("POST", "/things//stop");
    check_not_found("GET", "/things/t1/events/"); /* empty last capture */
    check_not_found("GET", "/things//events/1");
    check_not_found("GET", "/unknown");
    check_not_found("GET", "/thing");
    check_not_found("GET", "/thingsx");
    check_not_found("GET", "/Things");
    check_not_found("GET", "");
    check_not_found("GET", "//");
    check_not_found("GET", "things");
}

static void test_wrong_method(void **state)
{
    struct match m;
    do_match(&m, table, "PUT", "/things");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "GET, POST");
    assert_string_equal(m.req.path_copy, "/things");
    match_free(&m);

    do_match(&m, table, "PATCH", "/things/abc");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "GET, DELETE");
    /* The captures terminated in the copy have been undone. */
    assert_string_equal(m.req.path_copy, "/things/abc");
    assert_memory_equal(m.req.path_copy, "/things/abc", sizeof("/things/abc"));
    match_free(&m);

    /* Literal and capture rows both count (GET comes from both; see the report). */
    do_match(&m, table, "POST", "/things/current");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_memory_equal(m.allow.data, "GET, ", 5);
    assert_non_null(strstr(m.allow.data, ", DELETE"));
    assert_null(strstr(m.allow.data, "POST"));
    assert_string_equal(m.req.path_copy, "/things/current");
    match_free(&m);

    do_match(&m, table, "GET", "/things/a/stop");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "POST");
    assert_string_equal(m.req.path_copy, "/things/a/stop");
    match_free(&m);

    do_match(&m, table, "DELETE", "/things/a/events/b");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "GET");
    assert_string_equal(m.req.path_copy, "/things/a/events/b");
    match_free(&m);

    /* Methods are case-sensitive. */
    do_match(&m, table, "get", "/things");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "GET, POST");
    match_free(&m);
}

static void test_empty_table(void **state)
{
    const struct route empty[] = {{NULL, NULL, NULL, ROUTE_PUBLIC, 0}};
    struct match m;
    do_match(&m, empty, "GET", "/things");
    assert_null(m.route);
    assert_false(m.path_matched);
    assert_string_equal(m.allow.data, "");
    match_free(&m);
}

static void test_api_routes(void **state)
{
    struct match m;
    do_match(&m, api_routes, "GET", "/api/keys/current");
    assert_non_null(m.route);
    assert_string_equal(m.route->pattern, "/api/keys/current");
    assert_string_equal(m.route->method, "GET");
    match_free(&m);

    do_match(&m, api_routes, "DELETE", "/api/keys/17");
    assert_non_null(m.route);
    assert_string_equal(m.route->pattern, "/api/keys/{id}");
    assert_string_equal(m.req.params[0], "17");
    match_free(&m);

    do_match(&m, api_routes, "POST", "/api/conversations/0123456789abcdef0123456789abcdef/stop");
    assert_non_null(m.route);
    assert_string_equal(m.route->pattern, "/api/conversations/{id}/stop");
    assert_string_equal(m.req.params[0], "0123456789abcdef0123456789abcdef");
    match_free(&m);

    do_match(&m, api_routes, "PUT", "/api/conversations/abc");
    assert_null(m.route);
    assert_true(m.path_matched);
    assert_string_equal(m.allow.data, "GET, PATCH, DELETE");
    assert_string_equal(m.req.path_copy, "/api/conversations/abc");
    match_free(&m);

    do_match(&m, api_routes, "GET", "/api/nothing");
    assert_null(m.route);
    assert_false(m.path_matched);
    match_free(&m);
}

/* ---- http_status_for ---- */

static void test_status_for(void **state)
{
    assert_int_equal(http_status_for(ERR_OK), 200);
    assert_int_equal(http_status_for(ERR_BAD_REQUEST), 400);
    assert_int_equal(http_status_for(ERR_INVALID), 422);
    assert_int_equal(http_status_for(ERR_UNAUTHORIZED), 401);
    assert_int_equal(http_status_for(ERR_FORBIDDEN), 403);
    assert_int_equal(http_status_for(ERR_NOT_FOUND), 404);
    assert_int_equal(http_status_for(ERR_METHOD), 405);
    assert_int_equal(http_status_for(ERR_CONFLICT), 409);
    assert_int_equal(http_status_for(ERR_LIMIT), 429);
    assert_int_equal(http_status_for(ERR_TOO_LARGE), 413);
    assert_int_equal(http_status_for(ERR_UNSUPPORTED), 415);
    assert_int_equal(http_status_for(ERR_UNAVAILABLE), 503);
    assert_int_equal(http_status_for(ERR_INTERNAL), 500);
    assert_int_equal(http_status_for((enum err_code)999), 500);
}

/* ---- response_error ---- */

/* Runs response_error over a non-empty body, checks the status, returns the parsed body. */
static json_t *respond(const struct error *e, unsigned expect_status, struct http_response *res)
{
    memset(res, 0, sizeof(*res));
    res->body = (struct buf)BUF_INIT;
    buf_adds(&res->body, "previous body");
    response_error(res, e);
    assert_int_equal(res->status, expect_status);
    json_error_t jerr;
    json_t *v = json_loads(res->body.data, 0, &jerr);
    if (!v) fail_msg("body is not JSON: [%s]: %s", res->body.data, jerr.text);
    buf_release(&res->body);
    return v;
}

/* Checks body == {"detail": [{"type": kind, "loc": [loc0, loc1?], "msg": msg}]}. */
static void check_validation_body(json_t *body, const char *kind, const char *loc0,
                                  const char *loc1, const char *msg)
{
    assert_int_equal(json_object_size(body), 1);
    json_t *detail = json_object_get(body, "detail");
    assert_true(json_is_array(detail));
    assert_int_equal(json_array_size(detail), 1);
    json_t *item = json_array_get(detail, 0);
    assert_int_equal(json_object_size(item), 3);
    assert_string_equal(json_get_str(item, "type"), kind);
    assert_string_equal(json_get_str(item, "msg"), msg);
    json_t *loc = json_object_get(item, "loc");
    assert_true(json_is_array(loc));
    assert_int_equal(json_array_size(loc), loc1 ? 2 : 1);
    assert_string_equal(json_string_value(json_array_get(loc, 0)), loc0);
    if (loc1) assert_string_equal(json_string_value(json_array_get(loc, 1)), loc1);
}

static void test_error_unauthorized(void **state)
{
    struct error e = {0};
    struct http_response res;
    error_set(&e, ERR_UNAUTHORIZED, "Invalid API key");
    json_t *body = respond(&e, 401, &res);
    assert_int_equal(json_object_size(body), 1);
    assert_string_equal(json_get_str(body, "error"), "Invalid API key");
    assert_null(json_object_get(body, "detail"));
    assert_int_equal(res.retry_after, 0);
    json_decref(body);
}

static void test_error_invalid_body_field(void **state)
{
    struct error e = {0};
    struct http_response res;
    error_invalid(&e, "initial_user_msg", "missing", "Field required");
    json_t *body = respond(&e, 422, &res);
    check_validation_body(body, "missing", "body", "initial_user_msg", "Field required");
    json_decref(body);
}

static void test_error_invalid_locations(void **state)
{
    struct error e = {0};
    struct http_response res;
    json_t *body;

    error_invalid(&e, "query.limit", "less_than_equal", "Input should be at most 100");
    body = respond(&e, 422, &res);
    check_validation_body(body, "less_than_equal", "query", "limit", "Input should be at most 100");
    json_decref(body);

    error_clear(&e);
    error_invalid(&e, "header.Idempotency-Key", "string_too_long", "too long");
    body = respond(&e, 422, &res);
    check_validation_body(body, "string_too_long", "header", "Idempotency-Key", "too long");
    json_decref(body);

    error_clear(&e);
    error_invalid(&e, "path.id", "uuid_parsing", "bad id");
    body = respond(&e, 422, &res);
    check_validation_body(body, "uuid_parsing", "path", "id", "bad id");
    json_decref(body);

    /* "body" alone is the whole body. */
    error_clear(&e);
    error_invalid(&e, "body", "model_attributes_type", "Input should be a valid dictionary");
    body = respond(&e, 422, &res);
    check_validation_body(body, "model_attributes_type", "body", NULL,
                          "Input should be a valid dictionary");
    json_decref(body);

    /* A dotted name that is not a location prefix stays a body field. */
    error_clear(&e);
    error_invalid(&e, "a.b", "x", "m");
    body = respond(&e, 422, &res);
    check_validation_body(body, "x", "body", "a.b", "m");
    json_decref(body);

    /* No kind: pydantic's generic value_error. */
    error_clear(&e);
    error_invalid(&e, "name", "", "bad name");
    body = respond(&e, 422, &res);
    check_validation_body(body, "value_error", "body", "name", "bad name");
    json_decref(body);
}

static void test_error_detail_string(void **state)
{
    struct error e = {0};
    struct http_response res;
    json_t *body;

    error_set(&e, ERR_NOT_FOUND, "Conversation not found");
    body = respond(&e, 404, &res);
    assert_int_equal(json_object_size(body), 1);
    assert_string_equal(json_get_str(body, "detail"), "Conversation not found");
    json_decref(body);

    const struct {
        enum err_code code;
        unsigned status;
    } cases[] = {
        {ERR_BAD_REQUEST, 400}, {ERR_FORBIDDEN, 403},   {ERR_METHOD, 405},
        {ERR_CONFLICT, 409},    {ERR_TOO_LARGE, 413},   {ERR_UNSUPPORTED, 415},
        {ERR_LIMIT, 429},       {ERR_UNAVAILABLE, 503}, {ERR_INTERNAL, 500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        error_clear(&e);
        error_set(&e, cases[i].code, "message %zu", i);
        body = respond(&e, cases[i].status, &res);
        char expect[32];
        snprintf(expect, sizeof(expect), "message %zu", i);
        assert_int_equal(json_object_size(body), 1);
        assert_string_equal(json_get_str(body, "detail"), expect);
        json_decref(body);
    }

    /* Without a message, the code's name. */
    error_clear(&e);
    e.code = ERR_NOT_FOUND;
    body = respond(&e, 404, &res);
    assert_string_equal(json_get_str(body, "detail"), "not_found");
    json_decref(body);

    error_clear(&e);
    e.code = ERR_UNAUTHORIZED;
    body = respond(&e, 401, &res);
    assert_string_equal(json_get_str(body, "error"), "unauthorized");
    json_decref(body);
}

static void test_error_preset_detail(void **state)
{
    struct error e = {0};
    struct http_response res;
    error_set(&e, ERR_LIMIT, "limit reached");
    e.detail = json_pack("{s:s, s:i}", "error", "CONCURRENCY_LIMIT_REACHED", "limit", 3);
    e.retry_after = 30;
    json_t *body = respond(&e, 429, &res);
    assert_int_equal(json_object_size(body), 1);
    assert_true(json_equal(json_object_get(body, "detail"), e.detail));
    assert_int_equal(res.retry_after, 30);
    json_decref(body);
    /* The error still owns its detail. */
    assert_int_equal(e.detail->refcount, 1);
    error_clear(&e);
    assert_null(e.detail);

    /* err.detail wins over the other shapes, even for 401 and 422. */
    error_invalid(&e, "name", "missing", "Field required");
    e.detail = json_string("plain detail");
    body = respond(&e, 422, &res);
    assert_string_equal(json_get_str(body, "detail"), "plain detail");
    json_decref(body);
    error_clear(&e);

    error_set(&e, ERR_UNAUTHORIZED, "nope");
    e.detail = json_pack("[i]", 1);
    body = respond(&e, 401, &res);
    assert_null(json_object_get(body, "error"));
    assert_true(json_equal(json_object_get(body, "detail"), e.detail));
    json_decref(body);
    error_clear(&e);
}

static void test_error_retry_after(void **state)
{
    struct error e = {0};
    struct http_response res;
    error_set(&e, ERR_UNAVAILABLE, "database is busy");
    e.retry_after = 5;
    json_t *body = respond(&e, 503, &res);
    assert_int_equal(res.retry_after, 5);
    assert_string_equal(json_get_str(body, "detail"), "database is busy");
    json_decref(body);
}

/*
 * BUG (src/util/error.c, error_invalid; shows in src/http/response.c, validation_detail):
 * err.field is 64 bytes and error_invalid truncates the field name with snprintf, which can
 * cut a UTF-8 character in half. An unknown body field whose name is 40 x 'é' (80 bytes)
 * leaves 63 bytes ending in half a character; json_string() then rejects the field in
 * validation_detail and the 422 body's "loc" silently becomes ["body"] without the field.
 * Expected: loc ["body", <the field name, or a prefix of it cut on a character boundary>].
 */
static void test_bug_long_utf8_field_name_lost_from_loc(void **state)
{
    char key[100] = "";
    for (int i = 0; i < 40; i++) strcat(key, "\xc3\xa9");
    json_t *obj = json_pack("{s:s, s:i}", "initial_user_msg", "hi", key, 1);
    assert_non_null(obj);
    struct conversation_request rq;
    struct error e = {0};
    assert_int_equal(conversation_request_parse(obj, true, &rq, &e), ERR_INVALID);
    assert_string_equal(e.kind, "extra_forbidden");

    struct http_response res;
    json_t *body = respond(&e, 422, &res);
    json_t *loc = json_object_get(json_array_get(json_object_get(body, "detail"), 0), "loc");
    size_t loc_len = json_array_size(loc);
    char field[100] = "";
    if (json_is_string(json_array_get(loc, 1)))
        snprintf(field, sizeof(field), "%s", json_string_value(json_array_get(loc, 1)));
    json_decref(body); /* before asserting, so a failure leaks nothing */
    json_decref(obj);
    assert_int_equal(loc_len, 2);
    assert_true(strlen(field) > 0);
    assert_memory_equal(field, key, strlen(field));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_two_captures),
        cmocka_unit_test(test_no_match),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_api_routes),
        cmocka_unit_test(test_status_for),
        cmocka_unit_test(test_error_unauthorized),
        cmocka_unit_test(test_error_invalid_body_field),
        cmocka_unit_test(test_error_invalid_locations),
        cmocka_unit_test(test_error_detail_string),
        cmocka_unit_test(test_error_preset_detail),
        cmocka_unit_test(test_error_retry_after),
        cmocka_unit_test(test_bug_long_utf8_field_name_lost_from_loc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
