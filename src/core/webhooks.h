/*
 * webhooks: the rules of webhooks, independent of HTTP, and their delivery.
 * - Creating one: the events (a non-empty subset of WEBHOOK_EVENT_*), the URL (http or https,
 *   at most WEBHOOK_URL_MAX characters, and a target the operator allows: see
 *   webhook_url_check), at most WEBHOOKS_MAX per account; the signing secret ("whsec_" + 64
 *   hex) is made here, stored sealed and shown once.
 * - Emission: when a conversation's state changes, one delivery per matching webhook of its
 *   account is enqueued in the store, with its body ({"event", "delivery_id", "conversation"})
 *   fixed then, so a redelivery sends the same bytes.
 * - Delivery: the worker threads of `cloudhands serve` claim due deliveries (a lease, as
 *   runners claim conversations), check the target again (its DNS may have changed) and
 *   connect to the checked addresses only, POST the body signed with HMAC-SHA256, and record
 *   the outcome: delivered on a 2xx within WEBHOOK_TIMEOUT_S, else a retry with exponential
 *   backoff (10 s, 20 s, 40 s, ... at most an hour apart) until a day after the delivery was
 *   made, then failed. A delivery is sent at least once; a worker that dies mid-send leaves it
 *   to be sent again after its lease, so receivers deduplicate by X-Cloudhands-Delivery.
 */
#ifndef CH_WEBHOOKS_H
#define CH_WEBHOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/app.h"

#define WEBHOOK_EVENT_FINISHED       "conversation.finished"
#define WEBHOOK_EVENT_ERROR          "conversation.error"
#define WEBHOOK_EVENT_AWAITING_INPUT "conversation.awaiting_input"
#define WEBHOOK_EVENT_STATUS         "conversation.status"

#define WEBHOOKS_MAX            20   /* per account */
#define WEBHOOK_URL_MAX         2000 /* characters */
#define WEBHOOK_DESCRIPTION_MAX 1000
#define WEBHOOK_SECRET_PREFIX   "whsec_"
#define WEBHOOK_SECRET_LEN      70 /* "whsec_" + 64 hex chars */
#define WEBHOOK_TIMEOUT_S       10
#define WEBHOOK_RETRY_BASE_MS   10000   /* first retry; CLOUDHANDS_WEBHOOK_RETRY_MS (tests) */
#define WEBHOOK_RETRY_MAX_MS    3600000 /* retries at most an hour apart */
#define WEBHOOK_GIVE_UP_MS      (24LL * 3600 * 1000) /* CLOUDHANDS_WEBHOOK_GIVE_UP_MS (tests) */
#define WEBHOOK_KEEP_DAYS       7                    /* finished deliveries are listed this long */
#define WEBHOOK_WORKERS         4                    /* delivery threads per server process */

/* The event names a webhook may subscribe to, NULL-terminated. */
extern const char *const webhook_events[];
bool webhook_event_valid(const char *name);

/* Why an address is not a webhook target ("loopback", "private", "link-local", ...), or NULL
 * when it is a public address. */
const char *webhook_address_refusal(const struct sockaddr *sa);

/* Checks a webhook URL: http or https with a host, and unless the operator allows private
 * targets (--webhook-allow-private), every address the host resolves to is public. ERR_INVALID
 * naming "url" with a message that says what is wrong. A name that does not resolve passes
 * when a webhook is created (its DNS may come later; nothing is refused that could be called)
 * and fails when `delivering`. With `resolve`, *resolve receives the CURLOPT_RESOLVE line that
 * pins the checked addresses, so the request connects to nothing else, or two lines separated
 * by a newline for a name with a trailing dot (malloc'd; NULL for an address literal, which
 * needs no pin). */
int webhook_url_check(const struct config *cfg, const char *url, bool delivering, char **resolve,
                      struct error *err);

/* Creates a webhook for the account: `events` is a JSON array of strings (checked here). On
 * success *out is the stored record (free with webhook_free) and secret[] the signing secret,
 * which is not stored in clear and cannot be shown again (wipe it after use). */
int webhooks_create(struct app *app, int64_t account_id, const char *url, json_t *events,
                    const char *description, struct webhook *out,
                    char secret[WEBHOOK_SECRET_LEN + 1], struct error *err);

/* Enqueues `event` for the conversation to every webhook of the account that subscribed to it,
 * with the conversation as it is now. Best effort: a failure is logged, never returned (the
 * state change it reports has happened). */
void webhooks_emit(struct app *app, int64_t account_id, const char *conversation_id,
                   const char *event);
/* A run made the conversation RUNNING: conversation.status, unless `claimed` (the conversation
 * as the runner claimed it) was RUNNING already (a run resumed after a restart). */
void webhooks_emit_started(struct app *app, const struct conversation *claimed);
/* A run ended with `agent_state` (finished, awaiting_user_input or error) and STOPPED: the
 * matching conversation.finished / .awaiting_input / .error, and conversation.status. */
void webhooks_emit_run_end(struct app *app, const struct conversation *claimed,
                           const char *agent_state);

/* The X-Cloudhands-Signature value of a body: "sha256=" + hex HMAC-SHA256 with the secret. */
#define WEBHOOK_SIGNATURE_LEN (7 + 64)
void webhook_signature(const char *secret, const char *body, size_t len,
                       char out[WEBHOOK_SIGNATURE_LEN + 1]);
/* The wait before the next attempt after `attempts` failed ones: base, 2 base, 4 base, ...
 * at most WEBHOOK_RETRY_MAX_MS. */
int64_t webhook_retry_delay_ms(int attempts, int64_t base_ms);

/* The delivery workers (WEBHOOK_WORKERS threads). webhook_workers_stop interrupts requests in
 * flight (those deliveries are due again at once, for the next start) and joins the threads. */
struct webhook_workers;
int webhook_workers_start(struct app *app, struct webhook_workers **out, struct error *err);
void webhook_workers_stop(struct webhook_workers *w);

#endif
