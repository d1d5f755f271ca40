/*
 * http_client: outgoing HTTP requests over libcurl (the git providers' REST APIs; the LLM client
 * shares its process-wide setup and header helpers). One blocking request per call, with a
 * timeout, an optional cancel flag, a cap on the answer's size, and the answer's headers that
 * the caller asked for; or, for a long-lived answer (the CLI client's event stream), its body
 * handed to a callback as it arrives. Retry policies are the caller's (the LLM client retries;
 * providers do not). Redirects are not followed: an API that redirects is misconfigured, and
 * following would carry credentials to another host.
 */
#ifndef CH_HTTP_CLIENT_H
#define CH_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "util/buf.h"
#include "util/error.h"

#define HTTP_CLIENT_MAX_CAPTURE 4

struct http_client_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;           /* sent as is (NULL: none) */
    long timeout_s;             /* whole request; 0 = 30 */
    size_t max_response;        /* bytes of body kept before failing; 0 = 8 MiB */
    const atomic_int *cancel;   /* non-zero stops the request; may be NULL */
    const char *capture[HTTP_CLIENT_MAX_CAPTURE]; /* answer headers to keep (case-insensitive) */
    /* Pinned addresses, CURLOPT_RESOLVE lines ("host:port:addr[,addr...]", NULL-terminated; may
     * be NULL): the request connects only there (the caller checked them: webhooks), and goes
     * direct, never through a proxy from the environment. */
    const char *const *resolve;
    /* Streaming (Server-Sent Events): when set, the body of a 2xx answer goes to on_data as it
     * arrives instead of into response.body (other answers are kept as usual); on_data returns
     * false to end the transfer. timeout_s then bounds a silence, not the whole request. */
    bool (*on_data)(const char *data, size_t len, void *ctx);
    void *on_data_ctx;
    /* Keeps the connection for the calling thread's next keep_alive request to the same server
     * (one curl handle per thread, freed when the thread ends). For requests from a long-lived
     * thread pool to servers of our own (api/forward.c): never with `resolve`. */
    bool keep_alive;
};

struct http_client_response {
    long status; /* 0 when no answer came */
    struct buf body;
    char *captured[HTTP_CLIENT_MAX_CAPTURE]; /* values of request.capture, NULL when absent */
    long retry_after_ms;                     /* Retry-After(-Ms) as ms from now, -1: none */
    int curl_code;             /* CURLE_OK, or why no (whole) answer came: for retry policies */
    bool too_large;            /* the body went over max_response (the transfer was cut) */
    char transport_error[256]; /* curl's words for curl_code, "" when none */
};

/* Performs the request. 0 when an answer (any status) came back; ERR_UNAVAILABLE when none did
 * (the message names the transport failure); ERR_INTERNAL for an answer over max_response. */
int http_client_request(const struct http_client_request *rq, struct http_client_response *resp,
                        struct error *err);
void http_client_response_release(struct http_client_response *resp);

/* curl_global_init, once per process (thread-safe). 0 or ERR_INTERNAL. */
int http_client_init(struct error *err);
/* A Retry-After value, seconds ("120", "1.5") or an HTTP date, as milliseconds from now (at most
 * a day); -1 when it is neither. */
long http_client_parse_retry_after(const char *value);

/* Percent-encodes everything but unreserved characters (URL path segments and query values). */
void url_encode(const char *s, struct buf *out);

#endif
