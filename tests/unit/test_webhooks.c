/*
 * test_webhooks: the pure rules of core/webhooks.c — which addresses are refused as targets
 * (every IPv4 and IPv6 range, and IPv6 forms that carry an IPv4 address), the URL check on
 * address literals (no DNS needed) with and without --webhook-allow-private, the event names,
 * the retry backoff, and the signature (HMAC-SHA256 checked against RFC 4231).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/webhooks.h"
#include "util/crypto.h"

static int setup(void **state)
{
    return crypto_init() == 0 ? 0 : -1;
}

/* The refusal for a textual address (IPv4 or IPv6). */
static const char *refusal(const char *text)
{
    static struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
    }
    return webhook_address_refusal((struct sockaddr *)&ss);
}

static void test_refused_addresses(void **state)
{
    static const char *const refused[] = {
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "fc00::1",
        "fdff:ffff::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:c0a8:101::1",
        "2002:7f00:1::",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (!refusal(refused[i])) fail_msg("%s should be refused", refused[i]);
    }
}

static void test_public_addresses(void **state)
{
    static const char *const allowed[] = {
        "1.1.1.1",         "8.8.8.8",     "93.184.215.14",  "172.15.255.255",
        "172.32.0.1",      "192.167.1.1", "192.169.1.1",    "100.63.255.255",
        "100.128.0.1",     "169.253.1.1", "11.0.0.1",       "223.255.255.255",
        "2606:4700::1111", "2001:db8::1", "::ffff:8.8.8.8", "64:ff9b::808:808",
        "2002:808:808::1",
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        const char *why = refusal(allowed[i]);
        if (why) fail_msg("%s should be allowed, not refused as %s", allowed[i], why);
    }
    assert_string_equal(refusal("127.0.0.1"), "loopback");
    assert_string_equal(refusal("::1"), "loopback");
    assert_string_equal(refusal("10.1.2.3"), "private");
    assert_string_equal(refusal("fe80::1"), "link-local");
}

static int check(bool allow_private, const char *url, char **resolve, struct error *err)
{
    struct config cfg = {.webhook_allow_private = allow_private};
    return webhook_url_check(&cfg, url, true, resolve, err);
}

static void test_url_check(void **state)
{
    struct error err = {0};
    char *resolve = (char *)"untouched";
    assert_int_equal(check(false, "https://93.184.215.14:8443/hook?x=1", &resolve, &err), 0);
    assert_null(resolve); /* an address literal needs no pin */
    assert_int_equal(check(false, "http://[2606:4700::1111]/", &resolve, &err), 0);
    assert_null(resolve);

    static const char *const bad[] = {
        "",
        "hook",
        "example.com/hook",
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "http://",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://[::ffff:169.254.169.254]/",
        "http://exa mple.com/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = check(false, bad[i], &resolve, &err);
        if (rc != ERR_INVALID) fail_msg("%s: %d, expected ERR_INVALID", bad[i], rc);
        assert_string_equal(err.field, "url");
        assert_null(resolve);
        error_clear(&err);
    }
    assert_int_equal(check(false, "http://127.0.0.1:8080/", NULL, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "loopback"));
    assert_non_null(strstr(err.message, "--webhook-allow-private"));
    error_clear(&err);

    /* The operator's switch allows private targets; the scheme rule stays. */
    assert_int_equal(check(true, "http://127.0.0.1:8080/", &resolve, &err), 0);
    assert_int_equal(check(true, "http://[::1]:9/", &resolve, &err), 0);
    assert_int_equal(check(true, "ftp://127.0.0.1/", &resolve, &err), ERR_INVALID);
    error_clear(&err);

    /* A name is pinned to what it resolved to: localhost is in /etc/hosts. */
    assert_int_equal(check(true, "http://LocalHost:8080/x", &resolve, &err), 0);
    assert_non_null(resolve);
    assert_int_equal(strncmp(resolve, "localhost:8080:", 15), 0);
    assert_non_null(strstr(resolve, "127.0.0.1"));
    assert_null(strchr(resolve, '\n'));
    free(resolve);
    /* With a trailing dot: resolved as written (where "localhost." resolves at all), and
     * pinned with and without the dot. */
    int rc = check(true, "http://localhost.:81/", &resolve, &err);
    if (rc == 0) {
        assert_int_equal(strncmp(resolve, "localhost.:81:", 14), 0);
        assert_non_null(strstr(resolve, "\nlocalhost:81:"));
        free(resolve);
    } else {
        assert_int_equal(rc, ERR_INVALID);
        assert_non_null(strstr(err.message, "does not resolve"));
        assert_null(resolve);
        error_clear(&err);
    }
    assert_int_equal(check(false, "https://localhost/", &resolve, &err), ERR_INVALID);
    assert_non_null(strstr(err.message, "resolves to"));
    error_clear(&err);
    assert_null(resolve);

    /* Too long. */
    char *longurl = malloc(WEBHOOK_URL_MAX + 32);
    strcpy(longurl, "https://93.184.215.14/");
    memset(longurl + strlen(longurl), 'a', WEBHOOK_URL_MAX);
    longurl[WEBHOOK_URL_MAX + 1] = '\0';
    assert_int_equal(check(false, longurl, &resolve, &err), ERR_INVALID);
    error_clear(&err);
    free(longurl);
}

static void test_events(void **state)
{
    assert_true(webhook_event_valid("conversation.finished"));
    assert_true(webhook_event_valid("conversation.error"));
    assert_true(webhook_event_valid("conversation.awaiting_input"));
    assert_true(webhook_event_valid("conversation.status"));
    assert_false(webhook_event_valid("conversation.started"));
    assert_false(webhook_event_valid(""));
    assert_false(webhook_event_valid(NULL));
}

static void test_backoff(void **state)
{
    assert_int_equal(webhook_retry_delay_ms(1, 10000), 10000);
    assert_int_equal(webhook_retry_delay_ms(2, 10000), 20000);
    assert_int_equal(webhook_retry_delay_ms(3, 10000), 40000);
    assert_int_equal(webhook_retry_delay_ms(9, 10000), 2560000);
    assert_int_equal(webhook_retry_delay_ms(10, 10000), WEBHOOK_RETRY_MAX_MS);
    assert_int_equal(webhook_retry_delay_ms(1000, 10000), WEBHOOK_RETRY_MAX_MS);
    assert_int_equal(webhook_retry_delay_ms(0, 100), 100);
}

static void test_signature(void **state)
{
    /* RFC 4231, test case 2. */
    char hex[HMAC_SHA256_HEX];
    const char *data = "what do ya want for nothing?";
    crypto_hmac_sha256_hex("Jefe", 4, data, strlen(data), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    char sig[WEBHOOK_SIGNATURE_LEN + 1];
    webhook_signature("Jefe", data, strlen(data), sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_addresses), cmocka_unit_test(test_public_addresses),
        cmocka_unit_test(test_url_check),         cmocka_unit_test(test_events),
        cmocka_unit_test(test_backoff),           cmocka_unit_test(test_signature),
    };
    return cmocka_run_group_tests_name("webhooks", tests, setup, NULL);
}
