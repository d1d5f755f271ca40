/*
 * test_time: ISO-8601 formatting and parsing (util/timeutil.h). time_format_iso gives exact
 * strings for known instants (the epoch, leap days, before 1970, microsecond padding,
 * negative fractions); time_parse_iso accepts dates, date-times with and without a fraction,
 * "Z" and +HH:MM/-HH:MM offsets, checks calendar validity (leap days), and rejects garbage,
 * trailing junk and the empty string without touching its output; format->parse round trips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/timeutil.h"

#define SEC(x) ((int64_t)(x)*USEC_PER_SEC)

/* Formats into a buffer pre-filled with junk and checks the length and the terminator. */
static void check_format(int64_t us, const char *expect)
{
    char out[ISO_TIME_LEN + 4];
    memset(out, '#', sizeof(out));
    char *r = time_format_iso(us, out);
    assert_ptr_equal(r, out);
    assert_int_equal(strlen(out), ISO_TIME_LEN - 1);
    assert_string_equal(out, expect);
    /* Nothing written past ISO_TIME_LEN. */
    for (size_t i = ISO_TIME_LEN; i < sizeof(out); i++) assert_int_equal(out[i], '#');
}

static void check_parse(const char *s, int64_t expect)
{
    int64_t us = -12345;
    if (!time_parse_iso(s, &us)) fail_msg("time_parse_iso rejected \"%s\"", s);
    assert_int_equal(us, expect);
}

static void check_reject(const char *s)
{
    int64_t us = -12345;
    if (time_parse_iso(s, &us)) fail_msg("time_parse_iso accepted \"%s\"", s);
    assert_int_equal(us, -12345); /* untouched on failure */
}

static void test_format_epoch(void **state)
{
    check_format(0, "1970-01-01T00:00:00.000000Z");
}

static void test_format_known_instants(void **state)
{
    check_format(1745939631370706LL, "2025-04-29T15:13:51.370706Z");
    check_format(SEC(946684800), "2000-01-01T00:00:00.000000Z");
    check_format(SEC(1709208000) + 42, "2024-02-29T12:00:00.000042Z");
    check_format(SEC(1767323045), "2026-01-02T03:04:05.000000Z");
    check_format(SEC(2147483648LL), "2038-01-19T03:14:08.000000Z");
    check_format(SEC(253402300799LL) + 999999, "9999-12-31T23:59:59.999999Z");
}

static void test_format_microsecond_padding(void **state)
{
    check_format(1, "1970-01-01T00:00:00.000001Z");
    check_format(10, "1970-01-01T00:00:00.000010Z");
    check_format(999, "1970-01-01T00:00:00.000999Z");
    check_format(100000, "1970-01-01T00:00:00.100000Z");
    check_format(999999, "1970-01-01T00:00:00.999999Z");
    check_format(1000000, "1970-01-01T00:00:01.000000Z");
}

static void test_format_before_epoch(void **state)
{
    /* Negative instants: the fraction is never printed negative. */
    check_format(-1, "1969-12-31T23:59:59.999999Z");
    check_format(-999999, "1969-12-31T23:59:59.000001Z");
    check_format(-1000000, "1969-12-31T23:59:59.000000Z");
    check_format(-1500000, "1969-12-31T23:59:58.500000Z");
    check_format(SEC(-14182940), "1969-07-20T20:17:40.000000Z");
    check_format(SEC(-2208988800LL) + 5, "1900-01-01T00:00:00.000005Z");
    check_format(SEC(-2208988800LL) - 1, "1899-12-31T23:59:59.999999Z");
}

static void test_parse_dates(void **state)
{
    check_parse("1970-01-01", 0);
    check_parse("2026-01-02", SEC(1767312000));
    check_parse("2000-01-01", SEC(946684800));
    check_parse("1969-12-31", SEC(-86400));
    check_parse("1900-01-01", SEC(-2208988800LL));
    check_parse("2024-12-31", SEC(1735603200));
}

static void test_parse_date_times(void **state)
{
    check_parse("2026-01-02T03:04:05", SEC(1767323045));
    check_parse("2026-01-02T03:04:05Z", SEC(1767323045));
    check_parse("2026-01-02t03:04:05z", SEC(1767323045));
    check_parse("2026-01-02 03:04:05Z", SEC(1767323045));
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("2038-01-19T03:14:08Z", SEC(2147483648LL));
    check_parse("2026-01-02T23:59:59Z", SEC(1767312000) + SEC(86399));
}

static void test_parse_fractions(void **state)
{
    check_parse("2025-04-29T15:13:51.370706Z", 1745939631370706LL);
    check_parse("2025-04-29T15:13:51.370706", 1745939631370706LL);
    check_parse("1970-01-01T00:00:00.5Z", 500000);
    check_parse("1970-01-01T00:00:00.05Z", 50000);
    check_parse("1970-01-01T00:00:00.000001Z", 1);
    check_parse("1970-01-01T00:00:00.000000Z", 0);
    check_parse("1970-01-01T00:00:00.999999Z", 999999);
    /* Digits beyond microseconds are dropped, not rounded. */
    check_parse("1970-01-01T00:00:00.1234567Z", 123456);
    check_parse("1970-01-01T00:00:00.9999999999Z", 999999);
}

static void test_parse_offsets(void **state)
{
    const int64_t base = SEC(1767323045); /* 2026-01-02T03:04:05Z */
    check_parse("2026-01-02T03:04:05+00:00", base);
    check_parse("2026-01-02T03:04:05-00:00", base);
    check_parse("2026-01-02T04:04:05+01:00", base);
    check_parse("2026-01-02T02:04:05-01:00", base);
    check_parse("2026-01-02T08:34:05+05:30", base);
    check_parse("2026-01-01T23:34:05-03:30", base);
    check_parse("2026-01-02T03:04:05.250000+02:00", base - SEC(7200) + 250000);
    /* An offset can move the instant across a date (and year) boundary. */
    check_parse("2026-01-01T23:00:00-02:00", SEC(1767312000) + SEC(3600));
    check_parse("1970-01-01T00:00:00+01:00", SEC(-3600));
    check_parse("2026-01-02T03:04:05+23:59", base - SEC(23 * 3600 + 59 * 60));
}

static void test_parse_leap_days(void **state)
{
    check_parse("2024-02-29", SEC(1709164800));
    check_parse("2024-02-29T12:00:00Z", SEC(1709208000));
    check_parse("2000-02-29", SEC(951782400)); /* divisible by 400 */
    check_parse("1972-02-29", SEC(68169600));
    check_reject("2023-02-29");
    check_reject("1900-02-29"); /* divisible by 100, not 400 */
    check_reject("2100-02-29");
    check_reject("2024-02-30");
    check_reject("2023-02-29T00:00:00Z");
}

static void test_parse_invalid_calendar(void **state)
{
    check_reject("2024-04-31");
    check_reject("2024-06-31");
    check_reject("2024-09-31");
    check_reject("2024-11-31");
    check_reject("2024-01-32");
    check_reject("2024-13-01");
    check_reject("2024-00-10");
    check_reject("2024-01-00");
    check_reject("2024-01-01T24:00:00Z");
    check_reject("2024-01-01T23:60:00Z");
    check_reject("2024-01-01T23:59:61Z");
    check_reject("2024-01-01T00:00:00+24:00");
    check_reject("2024-01-01T00:00:00+05:60");
}

static void test_parse_garbage(void **state)
{
    check_reject("");
    check_reject("hello");
    check_reject("2026");
    check_reject("2026-01");
    check_reject("2026-01-");
    check_reject("2026/01/02");
    check_reject("26-01-02");
    check_reject("2026-1-02");
    check_reject("2026-01-2");
    check_reject(" 2026-01-02");
    check_reject("+2026-01-02");
    check_reject("2026-01-02T");
    check_reject("2026-01-02T3:04:05");
    check_reject("2026-01-02T03");
    check_reject("2026-01-02T03:4:05");
    check_reject("2026-01-02Tab:cd:ef");
    check_reject("2026-01-02T03:04:05.");
    check_reject("2026-01-02T03:04:05.Z");
    check_reject("2026-01-02T03:04:05+05");
    check_reject("2026-01-02T03:04:05+");
    check_reject("2026-01-02T03:04:05+aa:bb");
    check_reject("yyyy-mm-dd");
    check_reject("\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-01-02"); /* fullwidth digits */
}

static void test_parse_trailing_junk(void **state)
{
    check_reject("2026-01-02x");
    check_reject("2026-01-02 ");
    check_reject("2026-01-02\n");
    check_reject("2026-01-02T03:04:05 ");
    check_reject("2026-01-02T03:04:05Zx");
    check_reject("2026-01-02T03:04:05ZZ");
    check_reject("2026-01-02T03:04:05+01:00x");
    check_reject("2026-01-02T03:04:05+01:00Z");
    check_reject("2026-01-02T03:04:05.123abc");
    check_reject("2026-01-02T03:04:05Z\x01");
}

static void check_round_trip(int64_t us)
{
    char iso[ISO_TIME_LEN];
    int64_t back = 0;
    time_format_iso(us, iso);
    if (!time_parse_iso(iso, &back)) fail_msg("could not parse back \"%s\"", iso);
    if (back != us) fail_msg("\"%s\": %lld != %lld", iso, (long long)back, (long long)us);
}

static void test_round_trip(void **state)
{
    const int64_t fixed[] = {0,
                             1,
                             -1,
                             999999,
                             -999999,
                             1000000,
                             -1500000,
                             1745939631370706LL,
                             SEC(1709208000) + 42,
                             SEC(951782400) - 1,
                             SEC(-2208988800LL) + 5,
                             SEC(253402300799LL) + 999999,
                             SEC(-62135596800LL)}; /* 0001-01-01 */
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) check_round_trip(fixed[i]);

    /* A deterministic spread over years 1970..9999. */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    const uint64_t range = (uint64_t)SEC(253402300799LL) + 999999;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        check_round_trip((int64_t)((x >> 1) % range));
    }
}

static void test_now_is_plausible(void **state)
{
    int64_t a = time_now_us();
    int64_t b = time_now_us();
    assert_true(a > SEC(1704067200)); /* after 2024-01-01 */
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_epoch),
        cmocka_unit_test(test_format_known_instants),
        cmocka_unit_test(test_format_microsecond_padding),
        cmocka_unit_test(test_format_before_epoch),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_parse_date_times),
        cmocka_unit_test(test_parse_fractions),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_leap_days),
        cmocka_unit_test(test_parse_invalid_calendar),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_parse_trailing_junk),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_now_is_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
