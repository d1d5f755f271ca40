/* webhooks: creation rules, the target check, emission and the delivery workers; see
 * webhooks.h. */
#include "core/webhooks.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conversations.h"
#include "core/notify.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/http_client.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define WORKER_POLL_MS     1000                /* look for due deliveries at least this often */
#define WORKER_LEASE_US    (60 * USEC_PER_SEC) /* a claim; well over a request's timeout */
#define MAX_ANSWER         (1u << 20)          /* bytes of a receiver's answer read (and dropped) */
#define MAX_PINNED_ADDRS   16
#define ALLOW_PRIVATE_HINT "the server's operator can allow them with --webhook-allow-private"

const char *const webhook_events[] = {WEBHOOK_EVENT_FINISHED, WEBHOOK_EVENT_ERROR,
                                      WEBHOOK_EVENT_AWAITING_INPUT, WEBHOOK_EVENT_STATUS, NULL};

bool webhook_event_valid(const char *name)
{
    for (const char *const *e = webhook_events; name && *e; e++)
        if (strcmp(*e, name) == 0) return true;
    return false;
}

/* ---- the target check --------------------------------------------------------------------- */

static const char *ipv4_refusal(uint32_t a) /* host byte order */
{
    if ((a >> 24) == 0) return "unspecified (0.0.0.0/8)";
    if ((a >> 24) == 127) return "loopback";
    if ((a >> 24) == 10 || (a & 0xFFF00000u) == 0xAC100000u || (a >> 16) == 0xC0A8)
        return "private";
    if ((a & 0xFFC00000u) == 0x64400000u) return "shared (CGNAT, 100.64.0.0/10)";
    if ((a >> 16) == 0xA9FE) return "link-local";
    if ((a >> 28) == 0xE) return "multicast";
    if ((a >> 28) == 0xF) return "reserved (240.0.0.0/4)";
    return NULL;
}

static uint32_t v4_at(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

const char *webhook_address_refusal(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_refusal(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6) return "not an IP address";
    const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    static const unsigned char zeros[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    /* Addresses that carry an IPv4 address are judged by it: ::a.b.c.d (which covers :: and
     * ::1), ::ffff:a.b.c.d, 64:ff9b::a.b.c.d and 6to4 2002:AABB:CCDD::. */
    if (memcmp(b, zeros, 12) == 0 || memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        if (memcmp(b, zeros, 15) == 0 && b[15] == 1) return "loopback";
        return ipv4_refusal(v4_at(b + 12));
    }
    if (b[0] == 0x20 && b[1] == 0x02) return ipv4_refusal(v4_at(b + 2));
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local";
    if ((b[0] & 0xfe) == 0xfc) return "unique-local (private)";
    if (b[0] == 0xff) return "multicast";
    return NULL;
}

/* A host curl and the resolver read alike: a DNS name of letters, digits, '-', '_' and '.'
 * (internationalized names in their xn-- form). */
static bool host_plain(const char *host)
{
    if (!*host) return false;
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) return false;
    return true;
}

static int url_invalid(struct error *err, const char *message, const char *arg)
{
    return error_invalid(err, "url", "url_parsing", "%s%s", message, arg ? arg : "");
}

/* Whether `item` is one of the comma-separated addresses in `pin`. */
static bool pinned(const struct buf *pin, const char *item)
{
    size_t len = strlen(item);
    for (const char *p = pin->data; (p = strstr(p, item)) != NULL; p++)
        if ((p == pin->data || p[-1] == ',') && (p[len] == ',' || p[len] == '\0')) return true;
    return false;
}

/* Resolves `host` and checks every address (unless private ones are allowed); appends the
 * addresses to `pin` as CURLOPT_RESOLVE wants them ("a,b,[v6]"). A name that does not resolve
 * is refused only when `must_resolve`; otherwise there is nothing to refuse yet. */
static int resolve_and_check(const struct config *cfg, const char *host, bool literal,
                             bool must_resolve, struct buf *pin, struct error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (literal) hints.ai_flags = AI_NUMERICHOST;
    int grc = getaddrinfo(host, NULL, &hints, &res);
    if (grc != 0 && !must_resolve) return 0;
    if (grc != 0)
        return error_invalid(err, "url", "url_host", "The URL's host %s does not resolve: %s", host,
                             gai_strerror(grc));
    int rc = 0, n = 0;
    for (struct addrinfo *ai = res; ai && !rc; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN] = "";
        const void *addr =
            ai->ai_family == AF_INET6
                ? (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr
                : (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        inet_ntop(ai->ai_family, addr, text, sizeof(text));
        const char *why = webhook_address_refusal(ai->ai_addr);
        if (why && !cfg->webhook_allow_private) {
            if (literal)
                rc = error_invalid(err, "url", "url_host",
                                   "The URL's host %s is not a public address (%s): webhooks may "
                                   "not target loopback, private or link-local addresses; %s",
                                   text, why, ALLOW_PRIVATE_HINT);
            else
                rc = error_invalid(err, "url", "url_host",
                                   "The URL's host %s resolves to %s, not a public address (%s): "
                                   "webhooks may not target loopback, private or link-local "
                                   "addresses; %s",
                                   host, text, why, ALLOW_PRIVATE_HINT);
            break;
        }
        char item[INET6_ADDRSTRLEN + 2];
        snprintf(item, sizeof(item), ai->ai_family == AF_INET6 ? "[%s]" : "%s", text);
        if (n >= MAX_PINNED_ADDRS || pinned(pin, item)) continue;
        n++;
        if (pin->len) buf_addch(pin, ',');
        buf_adds(pin, item);
    }
    freeaddrinfo(res);
    if (!rc && !pin->len && must_resolve)
        rc = error_invalid(err, "url", "url_host", "The URL's host %s has no IP address", host);
    return rc;
}

int webhook_url_check(const struct config *cfg, const char *url, bool delivering, char **resolve,
                      struct error *err)
{
    if (resolve) *resolve = NULL;
    if (!url || !*url) return url_invalid(err, "The URL is empty", NULL);
    if (utf8_length(url) > WEBHOOK_URL_MAX)
        return error_invalid(err, "url", "string_too_long",
                             "String should have at most %d characters", WEBHOOK_URL_MAX);
    CURLU *u = curl_url();
    if (!u) return error_set(err, ERR_INTERNAL, "out of memory parsing a URL");
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        rc = url_invalid(err, "Input should be a valid URL, e.g. https://example.com/hook", NULL);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = url_invalid(err, "The URL's scheme must be http or https, not ", scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rc = url_invalid(err, "The URL has no host", NULL);
        goto out;
    }
    /* The host as the resolver reads it: an IPv6 literal without its brackets, a name in lower
     * case (curl's DNS cache, which the pin fills, ignores case). */
    size_t hl = strlen(host);
    bool v6 = host[0] == '[' && hl > 2 && host[hl - 1] == ']';
    if (v6) {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
    }
    unsigned char probe[sizeof(struct in6_addr)];
    bool literal =
        v6 ? inet_pton(AF_INET6, host, probe) == 1 : inet_pton(AF_INET, host, probe) == 1;
    if (v6 && !literal) {
        rc = url_invalid(err, "The URL's host is not an IPv6 address: ", host);
        goto out;
    }
    if (!literal && !host_plain(host)) {
        rc = url_invalid(err, "The URL's host is not a DNS name or an IP address: ", host);
        goto out;
    }
    struct buf pin = BUF_INIT;
    rc = resolve_and_check(cfg, host, literal, delivering, &pin, err);
    if (!rc && resolve && !literal && pin.len) {
        /* A name with a trailing dot is pinned with and without it: curl versions differ in
         * which of the two they look up. */
        struct buf lines = BUF_INIT;
        buf_addf(&lines, "%s:%s:%s", host, port, pin.data);
        if (hl > 1 && host[hl - 1] == '.')
            buf_addf(&lines, "\n%.*s:%s:%s", (int)(hl - 1), host, port, pin.data);
        *resolve = buf_detach(&lines, NULL);
    }
    buf_release(&pin);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* ---- creation ----------------------------------------------------------------------------- */

/* The events as a JSON array text without duplicates, or ERR_INVALID naming "events". */
static int events_normalize(json_t *events, char **out, struct error *err)
{
    *out = NULL;
    if (!json_is_array(events) || json_array_size(events) == 0)
        return error_invalid(err, "events", "too_short",
                             "Name at least one event: conversation.finished, conversation.error, "
                             "conversation.awaiting_input or conversation.status");
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(events, i, v)
    {
        const char *name = json_string_value(v);
        if (!webhook_event_valid(name)) {
            json_decref(list);
            return error_invalid(err, "events", "enum",
                                 "Unknown event at position %zu: the events are "
                                 "conversation.finished, conversation.error, "
                                 "conversation.awaiting_input and conversation.status",
                                 i);
        }
        bool seen = false;
        size_t j;
        json_t *w;
        json_array_foreach(list, j, w) seen = seen || strcmp(json_string_value(w), name) == 0;
        if (!seen) json_array_append_new(list, json_string(name));
    }
    *out = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return *out ? 0 : error_set(err, ERR_INTERNAL, "the events could not be serialized");
}

int webhooks_create(struct app *app, int64_t account_id, const char *url, json_t *events,
                    const char *description, struct webhook *out,
                    char secret[WEBHOOK_SECRET_LEN + 1], struct error *err)
{
    char *events_text = NULL;
    memset(out, 0, sizeof(*out));
    secret[0] = '\0';
    int rc = events_normalize(events, &events_text, err);
    if (!rc) rc = webhook_url_check(&app->cfg, url, false, NULL, err);
    if (rc) {
        free(events_text);
        return rc;
    }
    uint8_t raw[32];
    crypto_random(raw, sizeof(raw));
    memcpy(secret, WEBHOOK_SECRET_PREFIX, strlen(WEBHOOK_SECRET_PREFIX));
    crypto_hex(raw, sizeof(raw), secret + strlen(WEBHOOK_SECRET_PREFIX));
    crypto_wipe(raw, sizeof(raw));

    crypto_uuid_hex(out->id);
    out->account_id = account_id;
    out->url = xstrdup(url);
    out->events = events_text;
    out->description = xstrdup(description ? description : "");
    out->secret_sealed = crypto_seal(app->secret, secret);
    out->created_at = time_now_us();
    rc = app->store->ops->webhook_create(app->store, out, WEBHOOKS_MAX, err);
    if (rc == ERR_LIMIT)
        rc = error_invalid(err, "body", "too_many",
                           "An account has at most %d webhooks: delete one before adding another",
                           WEBHOOKS_MAX);
    if (rc) {
        crypto_wipe(secret, WEBHOOK_SECRET_LEN + 1);
        webhook_free(out);
    }
    return rc;
}

/* ---- emission ----------------------------------------------------------------------------- */

static bool subscribed(const struct webhook *w, const char *event)
{
    json_t *list = json_loads(w->events ? w->events : "[]", 0, NULL);
    bool yes = false;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) yes = yes || strcmp(json_string_value(v), event) == 0;
    json_decref(list);
    return yes;
}

/* The body of a delivery: {"event", "delivery_id", "conversation"} (malloc'd). */
static char *delivery_body(const char *event, const char *delivery_id, const struct conversation *c)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "{\"event\":");
    buf_add_json_str(&b, event);
    buf_adds(&b, ",\"delivery_id\":");
    buf_add_json_str(&b, delivery_id);
    buf_adds(&b, ",\"conversation\":");
    conversation_write_json(&b, c);
    buf_addch(&b, '}');
    return buf_detach(&b, NULL);
}

/* Enqueues each of `events` (NULL-terminated) to the webhooks of the account subscribed to it,
 * in one store operation. */
static void emit(struct app *app, int64_t account_id, const char *conversation_id,
                 const char *const *events)
{
    struct store *s = app->store;
    struct webhook *hooks = NULL;
    struct webhook_delivery *ds = NULL;
    struct conversation c = {0};
    size_t nhooks = 0, n = 0, nevents = 0;
    struct error err = {0};
    bool have_conv = false;
    while (events[nevents]) nevents++;
    int rc = s->ops->webhook_list(s, account_id, &hooks, &nhooks, &err);
    if (rc || nhooks == 0) goto out;
    ds = xcalloc(nhooks * nevents, sizeof(*ds));
    int64_t now = time_now_us();
    for (size_t e = 0; e < nevents; e++) {
        for (size_t i = 0; i < nhooks; i++) {
            if (!subscribed(&hooks[i], events[e])) continue;
            if (!have_conv) {
                rc = s->ops->conversation_get(s, account_id, conversation_id, &c, &err);
                if (rc) goto out;
                have_conv = true;
            }
            struct webhook_delivery *d = &ds[n++];
            crypto_uuid_hex(d->id);
            memcpy(d->webhook_id, hooks[i].id, sizeof(d->webhook_id));
            d->event = (char *)events[e];
            d->conversation_id = (char *)conversation_id;
            d->body = delivery_body(events[e], d->id, &c);
            d->created_at = d->next_attempt_at = now;
        }
    }
    if (n == 0) goto out;
    rc = s->ops->webhook_delivery_create(s, ds, n, now - WEBHOOK_KEEP_DAYS * 86400LL * USEC_PER_SEC,
                                         &err);
    if (!rc) notify_publish(NOTIFY_WEBHOOKS, NULL);
out:
    if (rc && rc != ERR_NOT_FOUND)
        log_error("cannot enqueue webhook deliveries", "conversation=%s event=%s error=\"%s\"",
                  conversation_id, events[0], err.message);
    for (size_t i = 0; i < n; i++) free(ds[i].body);
    free(ds);
    webhook_list_free(hooks, nhooks);
    conversation_free(&c);
    error_clear(&err);
}

void webhooks_emit(struct app *app, int64_t account_id, const char *conversation_id,
                   const char *event)
{
    const char *events[] = {event, NULL};
    emit(app, account_id, conversation_id, events);
}

void webhooks_emit_started(struct app *app, const struct conversation *claimed)
{
    if (claimed->status && strcmp(claimed->status, CONV_RUNNING) == 0) return;
    webhooks_emit(app, claimed->account_id, claimed->id, WEBHOOK_EVENT_STATUS);
}

void webhooks_emit_run_end(struct app *app, const struct conversation *claimed,
                           const char *agent_state)
{
    const char *events[] = {NULL, WEBHOOK_EVENT_STATUS, NULL};
    if (strcmp(agent_state, "finished") == 0)
        events[0] = WEBHOOK_EVENT_FINISHED;
    else if (strcmp(agent_state, "awaiting_user_input") == 0)
        events[0] = WEBHOOK_EVENT_AWAITING_INPUT;
    else if (strcmp(agent_state, "error") == 0)
        events[0] = WEBHOOK_EVENT_ERROR;
    emit(app, claimed->account_id, claimed->id, events[0] ? events : events + 1);
}

/* ---- delivery ----------------------------------------------------------------------------- */

void webhook_signature(const char *secret, const char *body, size_t len,
                       char out[WEBHOOK_SIGNATURE_LEN + 1])
{
    memcpy(out, "sha256=", 7);
    crypto_hmac_sha256_hex(secret, strlen(secret), body, len, out + 7);
}

int64_t webhook_retry_delay_ms(int attempts, int64_t base_ms)
{
    int64_t d = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < attempts && d < WEBHOOK_RETRY_MAX_MS; i++) d *= 2;
    return d < WEBHOOK_RETRY_MAX_MS ? d : WEBHOOK_RETRY_MAX_MS;
}

struct webhook_workers {
    struct app *app;
    int n;
    pthread_t threads[WEBHOOK_WORKERS];
    atomic_int stopping; /* also the cancel flag of requests in flight */
    int64_t retry_base_ms;
    int64_t give_up_ms;
    int poll_ms;
    char id[48]; /* this process's worker id prefix */
};

struct worker_arg {
    struct webhook_workers *w;
    int index;
};

/* Sends one claimed delivery and records what came of it. */
static void deliver(struct webhook_workers *w, const char *worker, struct webhook_delivery *d)
{
    struct app *app = w->app;
    struct error err = {0};
    struct http_client_response resp = {0};
    struct webhook_attempt a = {.status = DELIVERY_PENDING};
    struct buf error_text = BUF_INIT;
    char *resolve = NULL;
    char *secret = crypto_open(app->secret, d->secret_sealed);
    int rc;

    if (!secret) {
        /* Not sealed with this server's secret.key: no attempt can ever sign it. */
        a.status = DELIVERY_FAILED;
        a.error = "The webhook's secret cannot be decrypted with this server's secret.key: "
                  "delete the webhook and create it again";
        metrics_add(METRIC_WEBHOOK_GAVE_UP, 1);
        goto record;
    }
    rc = webhook_url_check(&app->cfg, d->url, true, &resolve, &err);
    if (!rc) {
        char signature[WEBHOOK_SIGNATURE_LEN + 1];
        struct buf h_event = BUF_INIT, h_delivery = BUF_INIT, h_signature = BUF_INIT;
        webhook_signature(secret, d->body, strlen(d->body), signature);
        buf_addf(&h_event, "X-Cloudhands-Event: %s", d->event);
        buf_addf(&h_delivery, "X-Cloudhands-Delivery: %s", d->id);
        buf_addf(&h_signature, "X-Cloudhands-Signature: %s", signature);
        const char *headers[] = {"Content-Type: application/json", h_event.data, h_delivery.data,
                                 h_signature.data, NULL};
        const char *pins[] = {resolve, NULL, NULL};
        char *second = resolve ? strchr(resolve, '\n') : NULL;
        if (second) {
            *second = '\0';
            pins[1] = second + 1;
        }
        struct http_client_request rq = {
            .method = "POST",
            .url = d->url,
            .headers = headers,
            .body = d->body,
            .timeout_s = WEBHOOK_TIMEOUT_S,
            .max_response = MAX_ANSWER,
            .cancel = &w->stopping,
            .resolve = resolve ? pins : NULL,
        };
        rc = http_client_request(&rq, &resp, &err);
        buf_release(&h_event);
        buf_release(&h_delivery);
        buf_release(&h_signature);
        if (atomic_load(&w->stopping) && rc) {
            /* Interrupted by the shutdown: due again at once, for the next start. */
            a.error = "Interrupted: the server stopped during the attempt";
            a.next_attempt_at = time_now_us();
            goto record;
        }
    }
    a.status_code = rc ? 0 : (int)resp.status;
    if (!rc && resp.status >= 200 && resp.status < 300) {
        a.status = DELIVERY_DELIVERED;
        a.delivered_at = time_now_us();
        metrics_add(METRIC_WEBHOOK_DELIVERED, 1);
        goto record;
    }
    if (rc)
        buf_adds(&error_text, err.message);
    else
        buf_addf(&error_text, "The receiver answered %ld; a delivery needs a 2xx answer",
                 resp.status);
    a.error = error_text.data;
    int64_t now = time_now_us();
    a.next_attempt_at = now + webhook_retry_delay_ms(d->attempts, w->retry_base_ms) * 1000;
    if (a.next_attempt_at > d->created_at + w->give_up_ms * 1000) {
        a.status = DELIVERY_FAILED;
        a.next_attempt_at = 0;
        metrics_add(METRIC_WEBHOOK_GAVE_UP, 1);
    } else {
        metrics_add(METRIC_WEBHOOK_ATTEMPT_FAILED, 1);
    }

record:;
    struct error ferr = {0};
    int frc = app->store->ops->webhook_delivery_finish(app->store, d->id, worker, &a, &ferr);
    if (frc && frc != ERR_CONFLICT)
        log_error("cannot record a webhook delivery", "delivery=%s error=\"%s\"", d->id,
                  ferr.message);
    log_info(strcmp(a.status, DELIVERY_DELIVERED) == 0 ? "webhook delivered"
                                                       : "webhook delivery attempt failed",
             "webhook=%s delivery=%s event=%s attempt=%d status_code=%d outcome=%s", d->webhook_id,
             d->id, d->event, d->attempts, a.status_code, a.status);
    error_clear(&ferr);
    if (secret) {
        crypto_wipe(secret, strlen(secret));
        free(secret);
    }
    free(resolve);
    buf_release(&error_text);
    http_client_response_release(&resp);
    error_clear(&err);
}

static void *worker_thread(void *p)
{
    struct worker_arg *arg = p;
    struct webhook_workers *w = arg->w;
    char worker[64];
    snprintf(worker, sizeof(worker), "%s-wh%d", w->id, arg->index);
    free(arg);
    struct store *s = w->app->store;
    while (!atomic_load(&w->stopping)) {
        uint64_t seen = notify_seq(NOTIFY_WEBHOOKS);
        struct webhook_delivery d;
        struct error err = {0};
        int64_t now = time_now_us();
        int rc = s->ops->webhook_delivery_claim(s, worker, now, now + WORKER_LEASE_US, &d, &err);
        if (rc == 0) {
            deliver(w, worker, &d);
            webhook_delivery_free(&d);
        } else {
            if (rc != ERR_NOT_FOUND)
                log_error("cannot claim webhook deliveries", "worker=%s error=\"%s\"", worker,
                          err.message);
            notify_wait(NOTIFY_WEBHOOKS, seen, w->poll_ms);
        }
        error_clear(&err);
    }
    return NULL;
}

/* A positive whole number of milliseconds from the environment, else `dflt`. */
static int64_t env_ms(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end || n <= 0 ? dflt : n;
}

int webhook_workers_start(struct app *app, struct webhook_workers **out, struct error *err)
{
    struct webhook_workers *w = xcalloc(1, sizeof(*w));
    char host[32] = "";
    w->app = app;
    atomic_init(&w->stopping, 0);
    /* Tests make retries and the day of retries short. */
    w->retry_base_ms = env_ms("CLOUDHANDS_WEBHOOK_RETRY_MS", WEBHOOK_RETRY_BASE_MS);
    w->give_up_ms = env_ms("CLOUDHANDS_WEBHOOK_GIVE_UP_MS", WEBHOOK_GIVE_UP_MS);
    w->poll_ms = w->retry_base_ms < WORKER_POLL_MS ? (int)w->retry_base_ms : WORKER_POLL_MS;
    if (w->poll_ms < 20) w->poll_ms = 20;
    gethostname(host, sizeof(host) - 1);
    uint8_t rnd[4];
    char hex[9];
    crypto_random(rnd, sizeof(rnd));
    crypto_hex(rnd, sizeof(rnd), hex);
    snprintf(w->id, sizeof(w->id), "%.20s-%d-%s", host, (int)getpid(), hex);
    *out = w;
    int rc = http_client_init(err);
    for (int i = 0; !rc && i < WEBHOOK_WORKERS; i++) {
        struct worker_arg *arg = xmalloc(sizeof(*arg));
        *arg = (struct worker_arg){w, i};
        if (pthread_create(&w->threads[i], NULL, worker_thread, arg) != 0) {
            free(arg);
            rc = error_set(err, ERR_INTERNAL, "cannot start webhook delivery threads");
            break;
        }
        w->n++;
    }
    if (rc) {
        webhook_workers_stop(w);
        *out = NULL;
    }
    return rc;
}

void webhook_workers_stop(struct webhook_workers *w)
{
    if (!w) return;
    atomic_store(&w->stopping, 1);
    notify_publish(NOTIFY_WEBHOOKS, NULL); /* wake idle workers */
    for (int i = 0; i < w->n; i++) pthread_join(w->threads[i], NULL);
    free(w);
}
