/* http_client: outgoing HTTP requests over libcurl; see http_client.h. */
#include "util/http_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/crypto.h"

#define DEFAULT_TIMEOUT_S    30
#define DEFAULT_MAX_RESPONSE (8u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;
static pthread_key_t kept_handle; /* the thread's handle for keep_alive requests */

static void free_kept_handle(void *h)
{
    curl_easy_cleanup(h);
}

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_key_create(&kept_handle, free_kept_handle) != 0) abort();
}

/* A handle for a request: a fresh one, or the thread's kept one with its options reset (its
 * connections stay). */
static CURL *handle_for(const struct http_client_request *rq)
{
    if (!rq->keep_alive) return curl_easy_init();
    CURL *h = pthread_getspecific(kept_handle);
    if (h) {
        curl_easy_reset(h);
    } else if ((h = curl_easy_init())) {
        pthread_setspecific(kept_handle, h);
    }
    return h;
}

int http_client_init(struct error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return error_set(err, ERR_INTERNAL, "libcurl failed to initialise: %s",
                         curl_easy_strerror(curl_init_rc));
    return 0;
}

/* curl_slist_append that aborts on allocation failure, like the rest of the code. */
static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l) {
        fprintf(stderr, "cloudhands: out of memory building request headers\n");
        abort();
    }
    return l;
}

long http_client_parse_retry_after(const char *v)
{
    char *end;
    errno = 0;
    double secs = strtod(v, &end);
    if (end != v && errno == 0) {
        while (*end == ' ') end++;
        if (*end == '\0') return secs <= 0 ? 0 : secs > 86400 ? 86400000L : (long)(secs * 1000);
    }
    time_t when = curl_getdate(v, NULL);
    if (when == -1) return -1;
    time_t now = time(NULL);
    return when <= now ? 0 : when - now > 86400 ? 86400000L : (long)(when - now) * 1000;
}

struct exchange {
    const struct http_client_request *rq;
    struct http_client_response *resp;
    CURL *handle;
    size_t max;
    bool too_large;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct exchange *x = ud;
    size_t len = size * n;
    if (x->rq->on_data) {
        long status = 0;
        curl_easy_getinfo(x->handle, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            return x->rq->on_data(data, len, x->rq->on_data_ctx) ? len : 0;
    }
    if (x->resp->body.len + len > x->max) {
        x->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    buf_add(&x->resp->body, data, len);
    return len;
}

static void clear_captured(struct http_client_response *resp)
{
    for (int i = 0; i < HTTP_CLIENT_MAX_CAPTURE; i++) {
        free(resp->captured[i]);
        resp->captured[i] = NULL;
    }
    resp->retry_after_ms = -1;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct exchange *x = ud;
    size_t len = size * n;
    char line[512];
    if (len >= sizeof(line)) return len; /* none of the headers read here is that long */
    memcpy(line, data, len);
    line[len] = '\0';
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        line[--len] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) { /* a new response (e.g. after a 100 Continue) */
        clear_captured(x->resp);
        return size * n;
    }
    char *colon = strchr(line, ':');
    if (!colon) return size * n;
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t') value++;
    if (strcasecmp(line, "retry-after-ms") == 0) {
        char *end;
        double ms = strtod(value, &end);
        if (end != value && ms >= 0)
            x->resp->retry_after_ms = ms > 86400000.0 ? 86400000L : (long)ms;
    } else if (strcasecmp(line, "retry-after") == 0 && x->resp->retry_after_ms < 0) {
        x->resp->retry_after_ms = http_client_parse_retry_after(value);
    }
    for (int i = 0; i < HTTP_CLIENT_MAX_CAPTURE && x->rq->capture[i]; i++)
        if (strcasecmp(line, x->rq->capture[i]) == 0) {
            free(x->resp->captured[i]);
            x->resp->captured[i] = xstrdup(value);
        }
    return size * n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct exchange *x = ud;
    return x->rq->cancel && atomic_load(x->rq->cancel) ? 1 : 0;
}

int http_client_request(const struct http_client_request *rq, struct http_client_response *resp,
                        struct error *err)
{
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    int rc = http_client_init(err);
    if (rc) return rc;
    CURL *h = handle_for(rq);
    if (!h) return error_set(err, ERR_INTERNAL, "libcurl could not create a handle");
    struct exchange x = {.rq = rq,
                         .resp = resp,
                         .handle = h,
                         .max = rq->max_response ? rq->max_response : DEFAULT_MAX_RESPONSE};
    struct curl_slist *headers = NULL;
    for (const char *const *l = rq->headers; l && *l; l++) headers = slist_add(headers, *l);
    headers = slist_add(headers, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    if (strcmp(rq->method, "HEAD") == 0) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (rq->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cloudhands/" CH_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (rq->on_data) { /* a stream: no end in sight, but not a silent one */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                         rq->timeout_s > 0 ? rq->timeout_s : DEFAULT_TIMEOUT_S);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s > 0 ? rq->timeout_s : DEFAULT_TIMEOUT_S);
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    struct curl_slist *resolve = NULL;
    for (const char *const *l = rq->resolve; l && *l; l++) resolve = slist_add(resolve, *l);
    if (resolve) {
        curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    }
    if (rq->cancel) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = curl_easy_perform(h);
    resp->curl_code = (int)cc;
    resp->too_large = x.too_large;
    if (cc != CURLE_OK)
        snprintf(resp->transport_error, sizeof(resp->transport_error), "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    } else if (x.too_large) {
        rc = error_set(err, ERR_INTERNAL, "the answer from %s is larger than %zu bytes", rq->url,
                       x.max);
    } else {
        rc = error_set(err, ERR_UNAVAILABLE, "no answer from %s: %s", rq->url,
                       resp->transport_error);
    }
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    if (!rq->keep_alive) curl_easy_cleanup(h);
    return rc;
}

void http_client_response_release(struct http_client_response *resp)
{
    buf_release(&resp->body);
    clear_captured(resp);
}

void url_encode(const char *s, struct buf *out)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            buf_addch(out, (char)*p);
        else
            buf_addf(out, "%%%02X", *p);
    }
}
