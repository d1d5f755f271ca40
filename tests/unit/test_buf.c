/*
 * test_buf: the invariants of struct buf (util/buf.h). BUF_INIT and buf_init point at the
 * shared empty string, data is NUL-terminated after every operation, growth starts at 64
 * bytes and doubles, buf_addf handles output longer than the buffer and exactly at its
 * boundaries, buf_detach hands over an owned string, buf_reset keeps storage, buf_release
 * frees it. Also the small allocation helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Every buf, whatever was done to it, must satisfy these. */
static void check_invariants(const struct buf *b)
{
    assert_non_null(b->data);
    assert_int_equal(b->data[b->len], '\0');
    if (b->alloc == 0) {
        assert_ptr_equal(b->data, buf_empty);
        assert_int_equal(b->len, 0);
    } else {
        assert_true(b->len < b->alloc);
    }
    assert_int_equal(buf_empty[0], '\0');
}

static void test_init_is_empty_string(void **state)
{
    struct buf b = BUF_INIT;
    assert_ptr_equal(b.data, buf_empty);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    check_invariants(&b);

    struct buf z;
    memset(&z, 0x5a, sizeof(z));
    buf_init(&z, 0);
    assert_ptr_equal(z.data, buf_empty);
    assert_int_equal(z.len, 0);
    assert_int_equal(z.alloc, 0);
    check_invariants(&z);
}

static void test_init_with_hint_allocates(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    assert_ptr_not_equal(b.data, buf_empty);
    assert_int_equal(b.alloc, 128); /* 64 doubled once to hold 100 + NUL */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    check_invariants(&b);
    buf_release(&b);
    check_invariants(&b);
}

static void test_add_terminates(void **state)
{
    struct buf b = BUF_INIT;
    buf_add(&b, "abc", 3);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.alloc, 64);
    check_invariants(&b);

    buf_adds(&b, "def");
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(b.len, 6);
    check_invariants(&b);

    buf_addch(&b, 'g');
    assert_string_equal(b.data, "abcdefg");
    assert_int_equal(b.len, 7);
    check_invariants(&b);

    buf_add(&b, "xyz", 0);
    assert_string_equal(b.data, "abcdefg");
    assert_int_equal(b.len, 7);
    check_invariants(&b);
    buf_release(&b);
}

static void test_add_zero_bytes_to_init_allocates(void **state)
{
    struct buf b = BUF_INIT;
    buf_add(&b, "", 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 64);
    assert_ptr_not_equal(b.data, buf_empty);
    assert_string_equal(b.data, "");
    check_invariants(&b);
    buf_release(&b);
}

static void test_add_embedded_nul(void **state)
{
    struct buf b = BUF_INIT;
    buf_add(&b, "a\0b", 3);
    buf_addch(&b, '\0');
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a\0b\0", 5);
    check_invariants(&b);
    buf_release(&b);
}

static void test_growth_boundaries(void **state)
{
    struct buf b = BUF_INIT;
    char chunk[200];
    memset(chunk, 'x', sizeof(chunk));

    /* 63 bytes + NUL fill the first 64-byte block exactly. */
    buf_add(&b, chunk, 63);
    assert_int_equal(b.alloc, 64);
    assert_int_equal(b.len, 63);
    check_invariants(&b);

    /* The 64th byte needs 65: the block doubles. */
    buf_addch(&b, 'y');
    assert_int_equal(b.alloc, 128);
    assert_int_equal(b.len, 64);
    assert_int_equal(b.data[63], 'y');
    check_invariants(&b);

    /* Up to 127 bytes stay in 128. */
    buf_add(&b, chunk, 63);
    assert_int_equal(b.alloc, 128);
    assert_int_equal(b.len, 127);
    check_invariants(&b);

    buf_addch(&b, 'z');
    assert_int_equal(b.alloc, 256);
    assert_int_equal(b.len, 128);
    check_invariants(&b);

    /* A single large append jumps as many doublings as needed. */
    struct buf c = BUF_INIT;
    char big[1000];
    memset(big, 'q', sizeof(big));
    buf_add(&c, big, sizeof(big));
    assert_int_equal(c.alloc, 1024);
    assert_int_equal(c.len, 1000);
    check_invariants(&c);

    buf_release(&b);
    buf_release(&c);
}

static void test_grow_reserves_without_changing_content(void **state)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "keep");
    buf_grow(&b, 500);
    assert_true(b.alloc >= 4 + 500 + 1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    char *before = b.data;
    for (int i = 0; i < 500; i++) buf_addch(&b, 'a');
    assert_ptr_equal(b.data, before); /* no reallocation after reserving */
    assert_int_equal(b.len, 504);
    check_invariants(&b);
    buf_release(&b);
}

static void test_many_appends(void **state)
{
    struct buf b = BUF_INIT;
    const size_t n = 100000;
    for (size_t i = 0; i < n; i++) {
        buf_addch(&b, (char)('a' + i % 26));
        assert_int_equal(b.len, i + 1);
        assert_int_equal(b.data[b.len], '\0');
    }
    check_invariants(&b);
    assert_int_equal(strlen(b.data), n);
    for (size_t i = 0; i < n; i++) assert_int_equal(b.data[i], 'a' + i % 26);
    /* alloc is a power of two >= n + 1 */
    assert_int_equal(b.alloc, 131072);
    buf_release(&b);
}

static void test_many_string_appends(void **state)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 5000; i++) {
        buf_adds(&b, "0123456789");
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_int_equal(b.len, 50000);
    for (size_t i = 0; i < b.len; i++) assert_int_equal(b.data[i], '0' + i % 10);
    check_invariants(&b);
    buf_release(&b);
}

static void test_addf_simple(void **state)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%d-%s-%c", 42, "x", 'y');
    assert_string_equal(b.data, "42-x-y");
    assert_int_equal(b.len, 6);
    check_invariants(&b);
    buf_addf(&b, "|%05.1f|", 2.5);
    assert_string_equal(b.data, "42-x-y|002.5|");
    check_invariants(&b);
    buf_release(&b);
}

static void test_addf_empty_output(void **state)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s", "");
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    check_invariants(&b);
    buf_release(&b);
}

static void test_addf_long_output(void **state)
{
    struct buf b = BUF_INIT;
    char expect[301];
    memset(expect, 'L', 300);
    expect[300] = '\0';
    buf_addf(&b, "%s", expect);
    assert_int_equal(b.len, 300);
    assert_string_equal(b.data, expect);
    assert_int_equal(b.alloc, 512);
    check_invariants(&b);

    /* Appending formatted output longer than the free space keeps the earlier content. */
    buf_addf(&b, "[%0400d]", 7);
    assert_int_equal(b.len, 300 + 402);
    assert_memory_equal(b.data, expect, 300);
    assert_int_equal(b.data[300], '[');
    for (int i = 301; i < 300 + 400; i++) assert_int_equal(b.data[i], '0');
    assert_int_equal(b.data[700], '7');
    assert_int_equal(b.data[701], ']');
    check_invariants(&b);
    buf_release(&b);

    /* Over 64 bytes into a fresh buffer. */
    struct buf c = BUF_INIT;
    buf_addf(&c, "%-100s|", "left");
    assert_int_equal(c.len, 101);
    assert_int_equal(c.data[100], '|');
    assert_memory_equal(c.data, "left    ", 8);
    check_invariants(&c);
    buf_release(&c);
}

static void test_addf_exact_boundaries(void **state)
{
    /* 63 characters fit the first block exactly (with the NUL). */
    struct buf b = BUF_INIT;
    buf_addf(&b, "%063d", 1);
    assert_int_equal(b.len, 63);
    assert_int_equal(b.alloc, 64);
    assert_int_equal(b.data[62], '1');
    assert_int_equal(strlen(b.data), 63);
    check_invariants(&b);
    buf_release(&b);

    /* 64 characters need 65 bytes. */
    struct buf c = BUF_INIT;
    buf_addf(&c, "%064d", 2);
    assert_int_equal(c.len, 64);
    assert_int_equal(c.alloc, 128);
    assert_int_equal(c.data[63], '2');
    assert_int_equal(strlen(c.data), 64);
    check_invariants(&c);
    buf_release(&c);

    /* With content already there: 10 + 53 = 63 fits without reallocation... */
    struct buf d = BUF_INIT;
    buf_adds(&d, "0123456789");
    char *before = d.data;
    buf_addf(&d, "%053d", 3);
    assert_ptr_equal(d.data, before);
    assert_int_equal(d.alloc, 64);
    assert_int_equal(d.len, 63);
    assert_memory_equal(d.data, "0123456789000", 13);
    assert_int_equal(d.data[62], '3');
    check_invariants(&d);
    /* ...and one more character through addf crosses into 128. */
    buf_addf(&d, "%c", '!');
    assert_int_equal(d.alloc, 128);
    assert_int_equal(d.len, 64);
    assert_int_equal(d.data[63], '!');
    assert_memory_equal(d.data, "0123456789", 10);
    check_invariants(&d);
    buf_release(&d);

    /* 10 + 54 = 64 does not fit 64: the truncated first attempt is redone in full. */
    struct buf e = BUF_INIT;
    buf_adds(&e, "0123456789");
    buf_addf(&e, "%054d", 4);
    assert_int_equal(e.alloc, 128);
    assert_int_equal(e.len, 64);
    assert_memory_equal(e.data, "0123456789", 10);
    assert_int_equal(e.data[63], '4');
    assert_int_equal(strlen(e.data), 64);
    check_invariants(&e);
    buf_release(&e);
}

static void vaddf_helper(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vaddf_helper(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(b, fmt, ap);
    va_end(ap);
}

static void test_vaddf(void **state)
{
    struct buf b = BUF_INIT;
    vaddf_helper(&b, "%s=%d;", "a", 1);
    /* Long enough to take the grow-and-retry path with the same va_list. */
    vaddf_helper(&b, "%s=%0100d;", "b", 2);
    assert_int_equal(b.len, 4 + 2 + 100 + 1);
    assert_memory_equal(b.data, "a=1;b=", 6);
    assert_int_equal(b.data[105], '2');
    assert_int_equal(b.data[106], ';');
    check_invariants(&b);
    buf_release(&b);
}

static void test_detach(void **state)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "hello");
    size_t len = 0;
    char *s = buf_detach(&b, &len);
    assert_non_null(s);
    assert_ptr_not_equal(s, buf_empty);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    /* The buf is BUF_INIT again and usable. */
    assert_ptr_equal(b.data, buf_empty);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    check_invariants(&b);
    buf_adds(&b, "again");
    assert_string_equal(b.data, "again");
    assert_string_equal(s, "hello"); /* the detached string is not shared */
    free(s);
    buf_release(&b);
}

static void test_detach_empty_returns_owned_string(void **state)
{
    struct buf b = BUF_INIT;
    size_t len = 99;
    char *s = buf_detach(&b, &len);
    assert_non_null(s);
    assert_ptr_not_equal(s, buf_empty); /* must be free()-able */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    check_invariants(&b);

    /* NULL len is allowed. */
    buf_adds(&b, "x");
    s = buf_detach(&b, NULL);
    assert_string_equal(s, "x");
    free(s);
    check_invariants(&b);
}

static void test_reset(void **state)
{
    struct buf b = BUF_INIT;
    /* Resetting BUF_INIT must not write to the shared empty string or allocate. */
    buf_reset(&b);
    assert_ptr_equal(b.data, buf_empty);
    assert_int_equal(b.alloc, 0);
    check_invariants(&b);

    buf_adds(&b, "some content that is here");
    size_t alloc = b.alloc;
    char *data = b.data;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(b.alloc, alloc); /* storage is kept */
    assert_ptr_equal(b.data, data);
    check_invariants(&b);

    buf_adds(&b, "new");
    assert_string_equal(b.data, "new");
    assert_int_equal(b.len, 3);
    check_invariants(&b);
    buf_release(&b);
}

static void test_release(void **state)
{
    struct buf b = BUF_INIT;
    buf_release(&b); /* releasing an unused buf is fine */
    check_invariants(&b);

    buf_adds(&b, "to be freed");
    buf_release(&b);
    assert_ptr_equal(b.data, buf_empty);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    check_invariants(&b);
    buf_release(&b); /* twice is fine too */
    check_invariants(&b);

    buf_addf(&b, "%s", "reused");
    assert_string_equal(b.data, "reused");
    buf_release(&b);
}

static void test_alloc_helpers(void **state)
{
    char *s = xstrdup("dup me");
    assert_string_equal(s, "dup me");
    free(s);
    assert_null(xstrdup_or_null(NULL));
    s = xstrdup_or_null("");
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);

    int *zeros = xcalloc(16, sizeof(int));
    for (int i = 0; i < 16; i++) assert_int_equal(zeros[i], 0);
    zeros = xrealloc(zeros, 32 * sizeof(int));
    for (int i = 0; i < 16; i++) assert_int_equal(zeros[i], 0);
    free(zeros);

    void *p = xmalloc(0); /* zero-size requests still return a pointer */
    assert_non_null(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty_string),
        cmocka_unit_test(test_init_with_hint_allocates),
        cmocka_unit_test(test_add_terminates),
        cmocka_unit_test(test_add_zero_bytes_to_init_allocates),
        cmocka_unit_test(test_add_embedded_nul),
        cmocka_unit_test(test_growth_boundaries),
        cmocka_unit_test(test_grow_reserves_without_changing_content),
        cmocka_unit_test(test_many_appends),
        cmocka_unit_test(test_many_string_appends),
        cmocka_unit_test(test_addf_simple),
        cmocka_unit_test(test_addf_empty_output),
        cmocka_unit_test(test_addf_long_output),
        cmocka_unit_test(test_addf_exact_boundaries),
        cmocka_unit_test(test_vaddf),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_detach_empty_returns_owned_string),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_alloc_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
