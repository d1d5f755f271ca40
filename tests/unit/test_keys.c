/*
 * test_keys: API keys and the crypto primitives behind them (core/keys.h, util/crypto.h).
 * api_key_generate's format ("oh_" + 64 lowercase hex, fresh every time), the strictness of
 * api_key_well_formed, api_key_hash and crypto_keyed_hash_hex (keyed BLAKE2b-256, checked
 * against known vectors; deterministic, different with another secret or input),
 * crypto_uuid_hex (uuid4 version and variant nibbles, uniqueness), crypto_hex, crypto_equal
 * and crypto_wipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/app.h"
#include "core/keys.h"
#include "util/crypto.h"

static int setup(void **state)
{
    return crypto_init() == 0 ? 0 : -1;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static const char GOOD_KEY[] =
    "oh_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void test_generate_format(void **state)
{
    char buf[API_KEY_LEN + 1 + 8];
    memset(buf, '#', sizeof(buf));
    api_key_generate(buf);
    assert_int_equal(strlen(buf), API_KEY_LEN);
    assert_int_equal(API_KEY_LEN, 67);
    assert_memory_equal(buf, "oh_", 3);
    assert_true(is_lower_hex(buf + 3, 64));
    assert_true(api_key_well_formed(buf));
    for (size_t i = API_KEY_LEN + 1; i < sizeof(buf); i++) assert_int_equal(buf[i], '#');
}

static void test_generate_differs(void **state)
{
    char a[API_KEY_LEN + 1], b[API_KEY_LEN + 1];
    api_key_generate(a);
    api_key_generate(b);
    assert_string_not_equal(a, b);
    assert_true(api_key_well_formed(a));
    assert_true(api_key_well_formed(b));
}

static void test_well_formed_good(void **state)
{
    assert_int_equal(strlen(GOOD_KEY), 67);
    assert_true(api_key_well_formed(GOOD_KEY));
    assert_true(
        api_key_well_formed("oh_0000000000000000000000000000000000000000000000000000000000000000"));
    assert_true(
        api_key_well_formed("oh_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"));
}

static void test_well_formed_rejects(void **state)
{
    char k[API_KEY_LEN + 2];

    assert_false(api_key_well_formed(NULL));
    assert_false(api_key_well_formed(""));
    assert_false(api_key_well_formed("oh_"));

    /* Wrong prefix. */
    strcpy(k, GOOD_KEY);
    memcpy(k, "OH_", 3);
    assert_false(api_key_well_formed(k));
    memcpy(k, "ok_", 3);
    assert_false(api_key_well_formed(k));
    memcpy(k, "oh-", 3);
    assert_false(api_key_well_formed(k));
    assert_false(
        api_key_well_formed("xx0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));

    /* Uppercase hex. */
    strcpy(k, GOOD_KEY);
    k[3 + 10] = 'A';
    assert_false(api_key_well_formed(k));
    strcpy(k, GOOD_KEY);
    k[API_KEY_LEN - 1] = 'F';
    assert_false(api_key_well_formed(k));

    /* Non-hex characters. */
    const char bad[] = {'g', 'z', ' ', '-', '_', '\n', '\x80'};
    for (size_t i = 0; i < sizeof(bad); i++) {
        strcpy(k, GOOD_KEY);
        k[3 + (i * 9) % 64] = bad[i];
        assert_false(api_key_well_formed(k));
    }

    /* Too short and too long. */
    strcpy(k, GOOD_KEY);
    k[API_KEY_LEN - 1] = '\0';
    assert_false(api_key_well_formed(k));
    strcpy(k, GOOD_KEY);
    k[API_KEY_LEN] = 'a';
    k[API_KEY_LEN + 1] = '\0';
    assert_false(api_key_well_formed(k));
    assert_false(api_key_well_formed("oh_abc"));
}

/* Keyed BLAKE2b-256 test vectors (computed independently with Python's hashlib.blake2b). */
static void test_keyed_hash_known_vectors(void **state)
{
    uint8_t secret[SERVER_SECRET_LEN];
    for (int i = 0; i < SERVER_SECRET_LEN; i++) secret[i] = (uint8_t)i;
    char out[KEYED_HASH_HEX];

    crypto_keyed_hash_hex(secret, "oh_test", 7, out);
    assert_string_equal(out, "457d63d88f557e0ca9e57b8d8ef34312358231cfa8d7f9181277a600e3093b2c");
    crypto_keyed_hash_hex(secret, "", 0, out);
    assert_string_equal(out, "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d");

    memset(secret, 0xff, sizeof(secret));
    crypto_keyed_hash_hex(secret, "abc", 3, out);
    assert_string_equal(out, "91c21dc9ddaee6ca811152c3d72defb4c529a037b8e8b38342debcab81eabf9c");
}

static void test_keyed_hash_properties(void **state)
{
    uint8_t s1[SERVER_SECRET_LEN], s2[SERVER_SECRET_LEN];
    memset(s1, 1, sizeof(s1));
    memcpy(s2, s1, sizeof(s2));
    s2[31] ^= 0x01; /* one bit of difference */
    char a[KEYED_HASH_HEX], b[KEYED_HASH_HEX], c[KEYED_HASH_HEX], d[KEYED_HASH_HEX];

    crypto_keyed_hash_hex(s1, GOOD_KEY, strlen(GOOD_KEY), a);
    crypto_keyed_hash_hex(s1, GOOD_KEY, strlen(GOOD_KEY), b);
    crypto_keyed_hash_hex(s2, GOOD_KEY, strlen(GOOD_KEY), c);
    crypto_keyed_hash_hex(s1, GOOD_KEY, strlen(GOOD_KEY) - 1, d);

    assert_int_equal(KEYED_HASH_HEX, 65);
    assert_int_equal(strlen(a), 64);
    assert_true(is_lower_hex(a, 64));
    assert_string_equal(a, b);     /* deterministic */
    assert_string_not_equal(a, c); /* another secret */
    assert_string_not_equal(a, d); /* another input */
    assert_string_not_equal(a, GOOD_KEY + 3);
}

static void test_api_key_hash(void **state)
{
    struct app app1, app2;
    memset(&app1, 0, sizeof(app1));
    memset(&app2, 0, sizeof(app2));
    for (int i = 0; i < SERVER_SECRET_LEN; i++) {
        app1.secret[i] = (uint8_t)i;
        app2.secret[i] = (uint8_t)(i + 1);
    }
    char h1[KEYED_HASH_HEX], h1b[KEYED_HASH_HEX], h2[KEYED_HASH_HEX], direct[KEYED_HASH_HEX];

    api_key_hash(&app1, "oh_test", h1);
    assert_string_equal(h1, "457d63d88f557e0ca9e57b8d8ef34312358231cfa8d7f9181277a600e3093b2c");

    char key[API_KEY_LEN + 1];
    api_key_generate(key);
    api_key_hash(&app1, key, h1);
    api_key_hash(&app1, key, h1b);
    api_key_hash(&app2, key, h2);
    crypto_keyed_hash_hex(app1.secret, key, strlen(key), direct);
    assert_int_equal(strlen(h1), 64);
    assert_true(is_lower_hex(h1, 64));
    assert_string_equal(h1, h1b);
    assert_string_equal(h1, direct);
    assert_string_not_equal(h1, h2);
    /* The hash never contains the key's hex. */
    assert_null(strstr(h1, key + 3));

    char other[API_KEY_LEN + 1];
    api_key_generate(other);
    api_key_hash(&app1, other, h2);
    assert_string_not_equal(h1, h2);
}

static void test_hex(void **state)
{
    const uint8_t in[] = {0x00, 0xff, 0x10, 0xab, 0x09};
    char out[2 * sizeof(in) + 1];
    crypto_hex(in, sizeof(in), out);
    assert_string_equal(out, "00ff10ab09");
    char empty[1] = {'x'};
    crypto_hex(in, 0, empty);
    assert_string_equal(empty, "");
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_uuid_shape(void **state)
{
    for (int i = 0; i < 200; i++) {
        char id[CONVERSATION_ID_LEN + 1 + 4];
        memset(id, '#', sizeof(id));
        crypto_uuid_hex(id);
        assert_int_equal(strlen(id), 32);
        assert_true(is_lower_hex(id, 32));
        assert_int_equal(id[12], '4');
        assert_non_null(strchr("89ab", id[16]));
        for (size_t j = CONVERSATION_ID_LEN + 1; j < sizeof(id); j++) assert_int_equal(id[j], '#');
    }
}

static void test_uuid_unique(void **state)
{
    enum { N = 1000 };
    char(*ids)[CONVERSATION_ID_LEN + 1] = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++) crypto_uuid_hex(ids[i]);
    qsort(ids, N, sizeof(*ids), cmp_ids);
    for (int i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_equal(void **state)
{
    const char a[] = "0123456789abcdef";
    char b[sizeof(a)];
    memcpy(b, a, sizeof(a));
    assert_true(crypto_equal(a, b, sizeof(a)));
    b[0] ^= 1;
    assert_false(crypto_equal(a, b, sizeof(a)));
    b[0] ^= 1;
    b[sizeof(a) - 2] = 'X';
    assert_false(crypto_equal(a, b, sizeof(a)));
    /* Only `len` bytes are compared. */
    assert_true(crypto_equal(a, b, sizeof(a) - 2));
    assert_true(crypto_equal(a, "xyz", 0));
}

static void test_wipe_and_random(void **state)
{
    uint8_t buf[64];
    memset(buf, 0xaa, sizeof(buf));
    crypto_wipe(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) assert_int_equal(buf[i], 0);

    uint8_t r1[32] = {0}, r2[32] = {0};
    crypto_random(r1, sizeof(r1));
    crypto_random(r2, sizeof(r2));
    assert_memory_not_equal(r1, r2, sizeof(r1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format),
        cmocka_unit_test(test_generate_differs),
        cmocka_unit_test(test_well_formed_good),
        cmocka_unit_test(test_well_formed_rejects),
        cmocka_unit_test(test_keyed_hash_known_vectors),
        cmocka_unit_test(test_keyed_hash_properties),
        cmocka_unit_test(test_api_key_hash),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_uuid_shape),
        cmocka_unit_test(test_uuid_unique),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_wipe_and_random),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
