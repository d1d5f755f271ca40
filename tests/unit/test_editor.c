/*
 * test_editor: the str_replace_editor tool (agent/editor.h) against the exact texts of
 * OpenHands 0.55-0.62 (shared/TOOLS.md): one test per command and per error, each comparing
 * the whole text the model reads, byte for byte. Everything happens in a mkdtemp directory
 * with absolute paths; "{D}" in the templates below stands for that directory ("{R}" for it
 * without the leading slash, as the diff headers print it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/editor.h"
#include "util/buf.h"

static char D[64];
static struct editor *ed;
static char *allocs[4096];
static size_t nallocs;

static char *track(char *p)
{
    assert_true(nallocs < sizeof(allocs) / sizeof(allocs[0]));
    allocs[nallocs++] = p;
    return p;
}

/* The template with {D} and {R} expanded. */
static const char *X(const char *t)
{
    struct buf b = BUF_INIT;
    while (*t) {
        if (strncmp(t, "{D}", 3) == 0) {
            buf_adds(&b, D);
            t += 3;
        } else if (strncmp(t, "{R}", 3) == 0) {
            buf_adds(&b, D + 1);
            t += 3;
        } else {
            buf_addch(&b, *t++);
        }
    }
    return track(buf_detach(&b, NULL));
}

static const char *P(const char *rel)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s/%s", D, rel);
    return track(buf_detach(&b, NULL));
}

static void put(const char *rel, const char *content, size_t len)
{
    FILE *f = fopen(P(rel), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
}

static void puts_(const char *rel, const char *content)
{
    put(rel, content, strlen(content));
}

static const char *get(const char *rel)
{
    FILE *f = fopen(P(rel), "rb");
    assert_non_null(f);
    struct buf b = BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) buf_add(&b, tmp, n);
    fclose(f);
    return track(buf_detach(&b, NULL));
}

static void mkdir_(const char *rel)
{
    assert_int_equal(mkdir(P(rel), 0755), 0);
}

/* Runs one call given as a JSON template; returns the text the model reads. */
static const char *call_on(struct editor *e, const char *json, struct editor_result *res)
{
    json_error_t jerr;
    json_t *args = json_loads(X(json), 0, &jerr);
    if (!args) fail_msg("bad test JSON: %s", jerr.text);
    struct buf out = BUF_INIT;
    editor_run(e, args, &out, res);
    json_decref(args);
    return track(buf_detach(&out, NULL));
}

static const char *call(const char *json, struct editor_result *res)
{
    return call_on(ed, json, res);
}

/* The call must answer exactly `expected`; *_error tells whether it is an error. */
static void expect_on(struct editor *e, const char *json, const char *expected, bool error)
{
    struct editor_result res;
    const char *out = call_on(e, json, &res);
    assert_string_equal(out, X(expected));
    assert_int_equal(res.error, error);
    editor_result_free(&res);
}

static void expect(const char *json, const char *expected)
{
    expect_on(ed, json, expected, strncmp(expected, "ERROR:\n", 7) == 0);
}

static void expect_refused(const char *json, const char *expected)
{
    struct editor_result res;
    const char *out = call(json, &res);
    assert_string_equal(out, X(expected));
    assert_true(res.error);
    assert_true(res.refused);
    editor_result_free(&res);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    chmod(p, 0755);
    return remove(p);
}

static int setup(void **state)
{
    strcpy(D, "/tmp/test_editor.XXXXXX");
    if (!mkdtemp(D)) return -1;
    ed = editor_new(D);
    return 0;
}

static int teardown(void **state)
{
    editor_free(ed);
    ed = NULL;
    nftw(D, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < nallocs; i++) free(allocs[i]);
    nallocs = 0;
    return 0;
}

static const char GREEK[] = "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\neta\ntheta\niota\nkappa\n";

/* ------------------------------------------------------------------------------------------ */
/* view (files)                                                                                 */

static void test_view_file_trailing_newline(void **state)
{
    puts_("f.txt", "line1\nline2\nline3\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n"
           "     1\tline1\n     2\tline2\n     3\tline3\n     4\t\n");
}

static void test_view_file_no_trailing_newline(void **state)
{
    puts_("f.txt", "a\n\tb");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\ta\n     2\t\tb\n");
}

static void test_view_empty_file(void **state)
{
    puts_("f.txt", "");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\t\n");
}

static void test_view_crlf_reads_as_lf(void **state)
{
    /* Python's text mode: "\r\n" and "\r" read as "\n". */
    puts_("f.txt", "a\r\nb\rc\r\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n"
           "     1\ta\n     2\tb\n     3\tc\n     4\t\n");
}

static void test_view_normalizes_path(void **state)
{
    puts_("f.txt", "x");
    expect("{\"command\":\"view\",\"path\":\"{D}//./f.txt/\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\tx\n");
}

static void test_view_range(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[2,3]}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     2\tl2\n     3\tl3\n");
}

static void test_view_range_to_end(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[2,-1]}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n"
           "     2\tl2\n     3\tl3\n     4\tl4\n");
}

static void test_view_range_past_eof_note(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[3,10]}",
           "NOTE: We only show up to 4 since there're only 4 lines in this file.\n"
           "Here's the result of running `cat -n` on {D}/f.txt:\n     3\tl3\n     4\tl4\n");
}

static void test_view_range_empty_list_is_full_view(void **state)
{
    puts_("f.txt", "l1\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[]}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\tl1\n     2\t\n");
}

static void test_view_range_splitlines_quirk(void **state)
{
    /* A ranged view joins content.splitlines(), which also splits at form feeds. */
    puts_("f.txt", "a\fb\nc\nd\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[1,2]}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\ta\n     2\tb\n"
           "     3\tc\n");
}

static void test_view_range_first_below_one(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[0,2]}",
           "ERROR:\nInvalid `view_range` parameter: [0, 2]. Its first element `0` should be "
           "within the range of lines of the file: [1, 4].");
}

static void test_view_range_first_past_end(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[5,6]}",
           "ERROR:\nInvalid `view_range` parameter: [5, 6]. Its first element `5` should be "
           "within the range of lines of the file: [1, 4].");
}

static void test_view_range_empty_file(void **state)
{
    puts_("f.txt", "");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[1,1]}",
           "ERROR:\nInvalid `view_range` parameter: [1, 1]. Its first element `1` should be "
           "within the range of lines of the file: [1, 0].");
}

static void test_view_range_second_before_first(void **state)
{
    puts_("f.txt", "l1\nl2\nl3\nl4\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[3,2]}",
           "ERROR:\nInvalid `view_range` parameter: [3, 2]. Its second element `2` should be "
           "greater than or equal to the first element `3`.");
}

static void test_view_range_not_two_integers(void **state)
{
    puts_("f.txt", "l1\nl2\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[1]}",
           "ERROR:\nInvalid `view_range` parameter: [1]. It should be a list of two integers.");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[1.0,2]}",
           "ERROR:\nInvalid `view_range` parameter: [1.0, 2]. It should be a list of two "
           "integers.");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":[\"1\",\"2\"]}",
           "ERROR:\nInvalid `view_range` parameter: ['1', '2']. It should be a list of two "
           "integers.");
}

static void test_view_range_as_string(void **state)
{
    /* No parsing in OpenHands: the string's len() is not 2. */
    puts_("f.txt", "l1\nl2\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":\"[1, 2]\"}",
           "ERROR:\nInvalid `view_range` parameter: [1, 2]. It should be a list of two "
           "integers.");
}

static void test_view_range_as_number(void **state)
{
    puts_("f.txt", "l1\nl2\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"view_range\":5}",
           "ERROR:\nobject of type 'int' has no len()");
}

static void test_view_range_on_directory(void **state)
{
    mkdir_("d");
    expect("{\"command\":\"view\",\"path\":\"{D}/d\",\"view_range\":[1,2]}",
           "ERROR:\nInvalid `view_range` parameter: [1, 2]. The `view_range` parameter is not "
           "allowed when `path` points to a directory.");
}

static void test_view_missing_path(void **state)
{
    expect("{\"command\":\"view\",\"path\":\"{D}/missing.txt\"}",
           "ERROR:\nInvalid `path` parameter: {D}/missing.txt. The path {D}/missing.txt does not "
           "exist. Please provide a valid path.");
}

static void test_view_truncated_at_16000_chars(void **state)
{
    /* 1800 lines of 9 characters: the cut at 16000 falls after 1777 lines and 7 characters,
     * and the notice is glued to the cut line. */
    struct buf content = BUF_INIT;
    for (int i = 0; i < 1800; i++) buf_adds(&content, "abcdefgh\n");
    put("big.txt", content.data, content.len);
    buf_release(&content);
    struct buf want = BUF_INIT;
    buf_adds(&want, "Here's the result of running `cat -n` on {D}/big.txt:\n");
    for (int i = 1; i <= 1777; i++) buf_addf(&want, "%6d\tabcdefgh\n", i);
    buf_adds(&want, "  1778\tabcdefg<response clipped><NOTE>Due to the max output limit, only part "
                    "of this file has been shown to you. You should retry this tool after you "
                    "have searched inside the file with `grep -n` in order to find the line "
                    "numbers of what you are looking for.</NOTE>\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/big.txt\"}", track(buf_detach(&want, NULL)));
}

static void test_view_too_large(void **state)
{
    /* 10.5 MB of text: past the binary check, stopped by the size check. */
    size_t n = 11010048;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'a', n);
    put("big.txt", big, n);
    free(big);
    expect("{\"command\":\"view\",\"path\":\"{D}/big.txt\"}",
           "ERROR:\nFile validation failed for {D}/big.txt: File is too large (10.5MB). Maximum "
           "allowed size is 10MB.");
}

static void test_view_binary_file_refused(void **state)
{
    char bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i;
    put("bin.dat", bytes, sizeof(bytes));
    expect_refused("{\"command\":\"view\",\"path\":\"{D}/bin.dat\"}",
                   "ERROR_BINARY_FILE\n[Error occurred in processing last action]");
}

static void test_edit_binary_file(void **state)
{
    char bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i;
    put("bin.dat", bytes, sizeof(bytes));
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/bin.dat\",\"old_str\":\"a\",\"new_str\":"
           "\"b\"}",
           "ERROR:\nFile validation failed for {D}/bin.dat: File appears to be binary and this "
           "file type cannot be read or edited by this tool.");
}

static void test_view_utf8_text_is_not_binary(void **state)
{
    puts_("u.txt", "héllo wörld ñ ü\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/u.txt\"}",
           "Here's the result of running `cat -n` on {D}/u.txt:\n     1\théllo wörld ñ ü\n"
           "     2\t\n");
}

/* ------------------------------------------------------------------------------------------ */
/* view (directories)                                                                           */

static void test_view_dir_nested_hidden_symlink_sorted(void **state)
{
    mkdir_("proj");
    mkdir_("proj/a");
    mkdir_("proj/a/sub");
    mkdir_("proj/.git");
    mkdir_("other");
    puts_("proj/b.txt", "");
    puts_("proj/A.md", "");
    puts_("proj/a-b.txt", "");
    puts_("proj/a/x.py", "");
    puts_("proj/a/.hidden_in_a", "");
    puts_("proj/a/sub/deep.txt", ""); /* depth 3: not listed */
    puts_("proj/.git/config", "");
    puts_("proj/.env", "");
    puts_("other/o.txt", "");
    assert_int_equal(symlink(P("other"), P("proj/link")), 0);
    expect("{\"command\":\"view\",\"path\":\"{D}/proj\"}",
           "Here's the files and directories up to 2 levels deep in {D}/proj, excluding hidden "
           "items:\n"
           "{D}/proj/\n"
           "{D}/proj/A.md\n"
           "{D}/proj/a/\n"
           "{D}/proj/a-b.txt\n"
           "{D}/proj/a/sub/\n"
           "{D}/proj/a/x.py\n"
           "{D}/proj/b.txt\n"
           "{D}/proj/link/\n"
           "{D}/proj/link/o.txt\n"
           "\n"
           "2 hidden files/directories in this directory are excluded. You can use 'ls -la "
           "{D}/proj' to see them.");
}

static void test_view_dir_without_hidden(void **state)
{
    mkdir_("e");
    puts_("e/f", "");
    expect("{\"command\":\"view\",\"path\":\"{D}/e/\"}",
           "Here's the files and directories up to 2 levels deep in {D}/e, excluding hidden "
           "items:\n{D}/e/\n{D}/e/f");
}

static void test_view_empty_dir(void **state)
{
    mkdir_("e");
    expect("{\"command\":\"view\",\"path\":\"{D}/e\"}",
           "Here's the files and directories up to 2 levels deep in {D}/e, excluding hidden "
           "items:\n{D}/e/");
}

static void test_view_dir_symlink_loop(void **state)
{
    /* find -L reports the loop on stderr, and OHEditor answers with that stderr. */
    mkdir_("loop");
    assert_int_equal(symlink(".", P("loop/self")), 0);
    expect("{\"command\":\"view\",\"path\":\"{D}/loop\"}",
           "ERROR:\nfind: File system loop detected; \xe2\x80\x98{D}/loop/self\xe2\x80\x99 is "
           "part of the same file system loop as \xe2\x80\x98{D}/loop\xe2\x80\x99.\n");
}

static void test_view_dir_matches_find_sort(void **state)
{
    /* The listing must be what `find -L p -maxdepth 2 ... | sort` prints (C collation). */
    const char *dirs[] = {"t", "t/B", "t/b", "t/b.d", "t/b_", "t/z z", "t/.h", "t/b/c", NULL};
    const char *files[] = {"t/1",    "t/a.b",   "t/b-", "t/b/x",      "t/b/.y", "t/B/~",
                           "t/.h/q", "t/b.d/k", "t/Z",  "t/b/c/deep", NULL};
    for (int i = 0; dirs[i]; i++) mkdir_(dirs[i]);
    for (int i = 0; files[i]; i++) puts_(files[i], "");
    struct buf cmd = BUF_INIT;
    buf_addf(&cmd,
             "cd / && LC_ALL=C find -L %s/t -maxdepth 2 -not \\( -path '%s/t/\\.*' -o -path "
             "'%s/t/*/\\.*' \\) | LC_ALL=C sort",
             D, D, D);
    FILE *p = popen(cmd.data, "r");
    buf_release(&cmd);
    assert_non_null(p);
    struct buf want = BUF_INIT;
    buf_addf(&want,
             "Here's the files and directories up to 2 levels deep in %s/t, excluding hidden "
             "items:\n",
             D);
    char line[4096];
    bool first = true;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        struct stat st;
        if (!first) buf_addch(&want, '\n');
        first = false;
        buf_adds(&want, line);
        if (stat(line, &st) == 0 && S_ISDIR(st.st_mode)) buf_addch(&want, '/');
    }
    pclose(p);
    buf_addf(&want,
             "\n\n1 hidden files/directories in this directory are excluded. You can use 'ls -la "
             "%s/t' to see them.",
             D);
    struct editor_result res;
    const char *out = call("{\"command\":\"view\",\"path\":\"{D}/t\"}", &res);
    assert_string_equal(out, want.data);
    editor_result_free(&res);
    buf_release(&want);
}

static void test_view_dir_truncated_at_16000_chars(void **state)
{
    /* The sorted find output is cut at 16000 characters and the notice glued to the cut; the
     * trailing slashes are added after the cut. */
    mkdir_("many");
    struct buf raw = BUF_INIT;
    buf_addf(&raw, "%s/many\n", D);
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many/file_%04d.txt", i);
        puts_(name, "");
        buf_addf(&raw, "%s/%s\n", D, name);
    }
    assert_true(raw.len > 16000);
    struct buf want = BUF_INIT;
    buf_addf(&want,
             "Here's the files and directories up to 2 levels deep in %s/many, excluding hidden "
             "items:\n%s/many/",
             D, D);
    size_t first_nl = strlen(D) + strlen("/many\n");
    buf_add(&want, raw.data + first_nl - 1, 16000 - (first_nl - 1));
    buf_adds(&want, "<response clipped><NOTE>Due to the max output limit, only part of this "
                    "directory has been shown to you. You should use `ls -la` instead to view "
                    "large directories incrementally.</NOTE>");
    expect("{\"command\":\"view\",\"path\":\"{D}/many\"}", track(buf_detach(&want, NULL)));
    buf_release(&raw);
}

static void test_directory_with_edit_command(void **state)
{
    mkdir_("d");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/d\",\"old_str\":\"a\"}",
           "ERROR:\nInvalid `path` parameter: {D}/d. The path {D}/d is a directory and only the "
           "`view` command can be used on directories.");
}

/* ------------------------------------------------------------------------------------------ */
/* create                                                                                       */

static void test_create(void **state)
{
    struct editor_result res;
    const char *out = call("{\"command\":\"create\",\"path\":\"{D}/new.txt\",\"file_text\":"
                           "\"hello\\nworld\",\"security_risk\":\"LOW\"}",
                           &res);
    assert_string_equal(out, X("File created successfully at: {D}/new.txt"));
    assert_false(res.error);
    assert_string_equal(res.path, X("{D}/new.txt"));
    assert_null(res.old_text);
    assert_string_equal(res.new_text, "hello\nworld");
    assert_string_equal(res.diff, X("--- a/{R}/new.txt\n+++ b/{R}/new.txt\n@@ -0,0 +1,2 @@\n"
                                    "+hello\n+world\n\\ No newline at end of file\n"));
    editor_result_free(&res);
    assert_string_equal(get("new.txt"), "hello\nworld");
}

static void test_create_existing(void **state)
{
    puts_("f.txt", "x");
    expect("{\"command\":\"create\",\"path\":\"{D}/f.txt\",\"file_text\":\"y\"}",
           "ERROR:\nInvalid `path` parameter: {D}/f.txt. File already exists at: {D}/f.txt. "
           "Cannot overwrite files using command `create`.");
    assert_string_equal(get("f.txt"), "x");
}

static void test_create_parent_missing(void **state)
{
    expect("{\"command\":\"create\",\"path\":\"{D}/nope/x.txt\",\"file_text\":\"y\"}",
           "ERROR:\nRan into [Errno 2] No such file or directory: '{D}/nope/x.txt' while trying "
           "to write to {D}/nope/x.txt");
}

static void test_create_missing_file_text(void **state)
{
    expect("{\"command\":\"create\",\"path\":\"{D}/new.txt\"}",
           "ERROR:\nParameter `file_text` is required for command: create.");
}

static void test_create_markdown_type(void **state)
{
    expect("{\"command\":\"create\",\"path\":\"{D}/doc.PDF\",\"file_text\":\"y\"}",
           "ERROR:\nInvalid `path` parameter: {D}/doc.PDF. The path {D}/doc.PDF points to a "
           "binary file (.PDF) and only the `view` command can be used on supported binary "
           "files.");
}

/* ------------------------------------------------------------------------------------------ */
/* str_replace                                                                                  */

static void test_str_replace_middle(void **state)
{
    puts_("f.txt", GREEK);
    struct editor_result res;
    const char *out = call("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":"
                           "\"epsilon\",\"new_str\":\"EPS\"}",
                           &res);
    assert_string_equal(
        out, X("The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
               "snippet of {D}/f.txt:\n"
               "     2\tbeta\n     3\tgamma\n     4\tdelta\n     5\tEPS\n     6\tzeta\n"
               "     7\teta\n     8\ttheta\n     9\tiota\n    10\t\n"
               "Review the changes and make sure they are as expected. Edit the file again if "
               "necessary."));
    assert_false(res.error);
    assert_string_equal(res.old_text, GREEK);
    assert_string_equal(res.new_text,
                        "alpha\nbeta\ngamma\ndelta\nEPS\nzeta\neta\ntheta\niota\nkappa\n");
    assert_string_equal(res.diff, X("--- a/{R}/f.txt\n+++ b/{R}/f.txt\n@@ -2,7 +2,7 @@\n"
                                    " beta\n gamma\n delta\n-epsilon\n+EPS\n zeta\n eta\n"
                                    " theta\n"));
    editor_result_free(&res);
    assert_string_equal(get("f.txt"),
                        "alpha\nbeta\ngamma\ndelta\nEPS\nzeta\neta\ntheta\niota\nkappa\n");
}

static void test_str_replace_start(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"alpha\","
           "\"new_str\":\"ALPHA\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n"
           "     1\tALPHA\n     2\tbeta\n     3\tgamma\n     4\tdelta\n     5\tepsilon\n"
           "     6\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
}

static void test_str_replace_end(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"kappa\","
           "\"new_str\":\"KAPPA\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n"
           "     7\teta\n     8\ttheta\n     9\tiota\n    10\tKAPPA\n    11\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
}

static void test_str_replace_multiline_new_str(void **state)
{
    /* The snippet grows by the number of newlines in new_str. */
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"gamma\","
           "\"new_str\":\"g1\\ng2\\ng3\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n"
           "     1\talpha\n     2\tbeta\n     3\tg1\n     4\tg2\n     5\tg3\n     6\tdelta\n"
           "     7\tepsilon\n     8\tzeta\n     9\teta\n    10\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
}

static void test_str_replace_no_match(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"omega\","
           "\"new_str\":\"x\"}",
           "ERROR:\nNo replacement was performed, old_str `omega` did not appear verbatim in "
           "{D}/f.txt.");
}

static void test_str_replace_no_match_quotes_stripped(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"  omega \\n\","
           "\"new_str\":\"x\"}",
           "ERROR:\nNo replacement was performed, old_str `omega` did not appear verbatim in "
           "{D}/f.txt.");
}

static void test_str_replace_strip_retry(void **state)
{
    /* Not found verbatim; found once stripped, and new_str is stripped too. */
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"  delta  \","
           "\"new_str\":\"  DELTA  \"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n"
           "     1\talpha\n     2\tbeta\n     3\tgamma\n     4\tDELTA\n     5\tepsilon\n"
           "     6\tzeta\n     7\teta\n     8\ttheta\n     9\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
    assert_string_equal(get("f.txt"),
                        "alpha\nbeta\ngamma\nDELTA\nepsilon\nzeta\neta\ntheta\niota\nkappa\n");
}

static void test_str_replace_multiple(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"eta\","
           "\"new_str\":\"ETA\"}",
           "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `eta` in lines "
           "[2, 6, 7, 8]. Please ensure it is unique.");
    assert_string_equal(get("f.txt"), GREEK);
}

static void test_str_replace_multiple_same_line_deduplicated(void **state)
{
    puts_("f.txt", "ab ab\ncd\nab\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"ab\","
           "\"new_str\":\"x\"}",
           "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `ab` in lines "
           "[1, 3]. Please ensure it is unique.");
}

static void test_str_replace_non_overlapping(void **state)
{
    /* re.finditer: "aa" occurs once in "aaa" (matches do not overlap). */
    puts_("f.txt", "aaa\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"aa\","
           "\"new_str\":\"b\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n     1\tba\n     2\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
}

static void test_str_replace_empty_old_str(void **state)
{
    puts_("f.txt", "a\nb\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"\","
           "\"new_str\":\"x\"}",
           "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `` in lines "
           "[1, 2, 3]. Please ensure it is unique.");
}

static void test_str_replace_new_str_equal(void **state)
{
    puts_("f.txt", GREEK);
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"alpha\","
           "\"new_str\":\"alpha\"}",
           "ERROR:\nInvalid `new_str` parameter: alpha. No replacement was performed. `new_str` "
           "and `old_str` must be different.");
}

static void test_str_replace_missing_new_str_deletes(void **state)
{
    puts_("f.txt", "a\nb\nc\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"b\\n\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n     1\ta\n     2\tc\n     3\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
    assert_string_equal(get("f.txt"), "a\nc\n");
}

static void test_str_replace_missing_old_str(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"new_str\":\"b\"}",
           "ERROR:\nParameter `old_str` is required for command: str_replace.");
}

static void test_str_replace_regex_chars_literal(void **state)
{
    puts_("f.txt", "x = a[0] + b.*c\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"a[0] + b.*c\","
           "\"new_str\":\"y\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n     1\tx = y\n     2\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
}

static void test_str_replace_crlf_file_becomes_lf(void **state)
{
    /* Python reads "\r\n" as "\n" and writes "\n": an edit converts the whole file. */
    puts_("f.txt", "a\r\nb\r\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"b\","
           "\"new_str\":\"B\"}",
           "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
           "snippet of {D}/f.txt:\n     1\ta\n     2\tB\n     3\t\n"
           "Review the changes and make sure they are as expected. Edit the file again if "
           "necessary.");
    assert_string_equal(get("f.txt"), "a\nB\n");
}

static void test_latin1_file_round_trip(void **state)
{
    /* Not UTF-8: read as Latin-1 (chardet's ISO-8859-1) and written back in it. */
    puts_("f.txt", "caf\xe9\n");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\tcaf\xc3\xa9\n     2\t\n");
    struct editor_result res;
    call("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"caf\xc3\xa9\","
         "\"new_str\":\"th\xc3\xa9\"}",
         &res);
    assert_false(res.error);
    editor_result_free(&res);
    assert_string_equal(get("f.txt"), "th\xe9\n");
    expect("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"th\xc3\xa9\","
           "\"new_str\":\"\xe2\x82\xac\"}",
           "ERROR:\nRan into 'latin-1' codec can't encode character '\\u20ac' in position 0: "
           "ordinal not in range(256) while trying to write to {D}/f.txt");
}

static void test_str_replace_diff_two_hunks(void **state)
{
    struct buf old = BUF_INIT, neu = BUF_INIT;
    for (int i = 1; i <= 30; i++) {
        buf_addf(&old, "line %d\n", i);
        buf_addf(&neu, i == 5 ? "LINE %d\n" : "line %d\n", i);
    }
    put("f.txt", old.data, old.len);
    struct editor_result res;
    call("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"line 5\\n\","
         "\"new_str\":\"LINE 5\\n\"}",
         &res);
    assert_false(res.error);
    assert_string_equal(res.diff, X("--- a/{R}/f.txt\n+++ b/{R}/f.txt\n@@ -2,7 +2,7 @@\n"
                                    " line 2\n line 3\n line 4\n-line 5\n+LINE 5\n line 6\n"
                                    " line 7\n line 8\n"));
    editor_result_free(&res);
    call("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"line 25\\nline 26\","
         "\"new_str\":\"x\"}",
         &res);
    assert_string_equal(res.diff, X("--- a/{R}/f.txt\n+++ b/{R}/f.txt\n@@ -22,8 +22,7 @@\n"
                                    " line 22\n line 23\n line 24\n-line 25\n-line 26\n+x\n"
                                    " line 27\n line 28\n line 29\n"));
    editor_result_free(&res);
    buf_release(&old);
    buf_release(&neu);
}

/* ------------------------------------------------------------------------------------------ */
/* insert                                                                                       */

static const char INSERT_REVIEW[] =
    "Review the changes and make sure they are as expected (correct indentation, no duplicate "
    "lines, etc). Edit the file again if necessary.";

static void expect_insert(const char *json, const char *snippet)
{
    struct buf want = BUF_INIT;
    buf_addf(&want,
             "The file {D}/f.txt has been edited. Here's the result of running `cat -n` on a "
             "snippet of the edited file:\n%s%s",
             snippet, INSERT_REVIEW);
    expect(json, track(buf_detach(&want, NULL)));
}

static void test_insert_at_zero(void **state)
{
    puts_("f.txt", "a\nb\nc\n");
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":0,"
                  "\"new_str\":\"x\"}",
                  "     1\tx\n     2\ta\n     3\tb\n     4\tc\n     5\t\n");
    assert_string_equal(get("f.txt"), "x\na\nb\nc\n");
}

static void test_insert_middle(void **state)
{
    puts_("f.txt", GREEK);
    struct editor_result res;
    call("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":6,"
         "\"new_str\":\"new1\\nnew2\"}",
         &res);
    editor_result_free(&res);
    assert_string_equal(get("f.txt"), "alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\nnew1\nnew2\neta\n"
                                      "theta\niota\nkappa\n");
    puts_("f.txt", GREEK);
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":6,"
                  "\"new_str\":\"new1\\nnew2\"}",
                  "     3\tgamma\n     4\tdelta\n     5\tepsilon\n     6\tzeta\n     7\tnew1\n"
                  "     8\tnew2\n     9\teta\n    10\ttheta\n    11\tiota\n    12\tkappa\n"
                  "    13\t\n");
}

static void test_insert_at_end(void **state)
{
    puts_("f.txt", "a\nb\nc\n");
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":3,"
                  "\"new_str\":\"d\"}",
                  "     1\ta\n     2\tb\n     3\tc\n     4\td\n     5\t\n");
    assert_string_equal(get("f.txt"), "a\nb\nc\nd\n");
}

static void test_insert_past_end(void **state)
{
    puts_("f.txt", "a\nb\nc\n");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":4,\"new_str\":\"d\"}",
           "ERROR:\nInvalid `insert_line` parameter: 4. It should be within the range of allowed "
           "values: [0, 3]");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":-1,\"new_str\":\"d\"}",
           "ERROR:\nInvalid `insert_line` parameter: -1. It should be within the range of allowed "
           "values: [0, 3]");
}

static void test_insert_without_final_newline(void **state)
{
    /* After a last line without '\n' the inserted text is glued to it. */
    puts_("f.txt", "a\nb");
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":2,"
                  "\"new_str\":\"c\"}",
                  "     1\ta\n     2\tbc\n     3\t\n");
    assert_string_equal(get("f.txt"), "a\nbc\n");
}

static void test_insert_into_empty_file(void **state)
{
    puts_("f.txt", "");
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":0,"
                  "\"new_str\":\"hello\"}",
                  "     1\thello\n     2\t\n");
}

static void test_insert_line_as_string(void **state)
{
    /* The V0 runtime converts a string insert_line with int(). */
    puts_("f.txt", "a\nb\nc\n");
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":\" 1 \","
                  "\"new_str\":\"x\"}",
                  "     1\ta\n     2\tx\n     3\tb\n     4\tc\n     5\t\n");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":\"two\","
           "\"new_str\":\"x\"}",
           "ERROR:\nInvalid insert_line value: 'two'. Expected an integer.");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":\"+0_9\","
           "\"new_str\":\"x\"}",
           "ERROR:\nInvalid `insert_line` parameter: 9. It should be within the range of allowed "
           "values: [0, 4]");
}

static void test_insert_line_as_float(void **state)
{
    /* Python keeps a float a float: the snippet is numbered 3.0, 4.0, ... */
    puts_("f.txt", GREEK);
    expect_insert("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":6.0,"
                  "\"new_str\":\"x\"}",
                  "   3.0\tgamma\n   4.0\tdelta\n   5.0\tepsilon\n   6.0\tzeta\n   7.0\tx\n"
                  "   8.0\teta\n   9.0\ttheta\n  10.0\tiota\n  11.0\tkappa\n  12.0\t\n");
}

static void test_insert_line_not_comparable(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":[1],"
           "\"new_str\":\"x\"}",
           "ERROR:\n'<' not supported between instances of 'list' and 'int'");
}

static void test_insert_missing_parameters(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"new_str\":\"x\"}",
           "ERROR:\nParameter `insert_line` is required for command: insert.");
    expect("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":1}",
           "ERROR:\nParameter `new_str` is required for command: insert.");
}

/* ------------------------------------------------------------------------------------------ */
/* undo_edit                                                                                    */

static void test_undo_after_edit(void **state)
{
    puts_("f.txt", "a\nb\n");
    struct editor_result res;
    call("{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"b\",\"new_str\":"
         "\"B\"}",
         &res);
    editor_result_free(&res);
    const char *out = call("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}", &res);
    assert_string_equal(out, X("Last edit to {D}/f.txt undone successfully. Here's the result "
                               "of running `cat -n` on {D}/f.txt:\n     1\ta\n     2\tb\n"
                               "     3\t\n"));
    assert_string_equal(res.old_text, "a\nB\n");
    assert_string_equal(res.new_text, "a\nb\n");
    editor_result_free(&res);
    assert_string_equal(get("f.txt"), "a\nb\n");
    expect("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}",
           "ERROR:\nNo edit history found for {D}/f.txt.");
}

static void test_undo_after_create(void **state)
{
    /* create pushes the new text itself: undoing it keeps the file as created. */
    struct editor_result res;
    call("{\"command\":\"create\",\"path\":\"{D}/c.txt\",\"file_text\":\"hello\\n\"}", &res);
    editor_result_free(&res);
    expect("{\"command\":\"undo_edit\",\"path\":\"{D}/c.txt\"}",
           "Last edit to {D}/c.txt undone successfully. Here's the result of running `cat -n` "
           "on {D}/c.txt:\n     1\thello\n     2\t\n");
    assert_string_equal(get("c.txt"), "hello\n");
    expect("{\"command\":\"undo_edit\",\"path\":\"{D}/c.txt\"}",
           "ERROR:\nNo edit history found for {D}/c.txt.");
}

static void test_undo_nothing(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}",
           "ERROR:\nNo edit history found for {D}/f.txt.");
}

static void test_undo_history_depth_10(void **state)
{
    puts_("f.txt", "v0\n");
    struct editor_result res;
    char json[256];
    for (int i = 0; i < 12; i++) {
        snprintf(json, sizeof(json),
                 "{\"command\":\"str_replace\",\"path\":\"{D}/f.txt\",\"old_str\":\"v%d\","
                 "\"new_str\":\"v%d\"}",
                 i, i + 1);
        call(json, &res);
        assert_false(res.error);
        editor_result_free(&res);
    }
    assert_string_equal(get("f.txt"), "v12\n");
    for (int i = 11; i >= 2; i--) {
        call("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}", &res);
        assert_false(res.error);
        editor_result_free(&res);
        char want[16];
        snprintf(want, sizeof(want), "v%d\n", i);
        assert_string_equal(get("f.txt"), want);
    }
    expect("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}",
           "ERROR:\nNo edit history found for {D}/f.txt.");
}

static void test_undo_long_output_cut_at_30000(void **state)
{
    /* 5000 short lines: the numbered text passes 30000 characters, and the conversation
     * memory keeps its first and last 15000. */
    struct buf content = BUF_INIT;
    for (int i = 0; i < 5000; i++) buf_adds(&content, "xx\n");
    put("f.txt", content.data, content.len);
    struct editor_result res;
    call("{\"command\":\"insert\",\"path\":\"{D}/f.txt\",\"insert_line\":0,\"new_str\":\"y\"}",
         &res);
    assert_false(res.error);
    editor_result_free(&res);
    struct buf full = BUF_INIT;
    buf_adds(&full, X("Last edit to {D}/f.txt undone successfully. Here's the result of running "
                      "`cat -n` on {D}/f.txt:\n"));
    for (int i = 1; i <= 5000; i++) buf_addf(&full, "%6d\txx\n", i);
    buf_addf(&full, "%6d\t\n", 5001);
    struct buf want = BUF_INIT;
    buf_add(&want, full.data, 15000);
    buf_adds(&want, "\n[... Observation truncated due to length ...]\n");
    buf_add(&want, full.data + full.len - 15000, 15000);
    const char *out = call("{\"command\":\"undo_edit\",\"path\":\"{D}/f.txt\"}", &res);
    assert_false(res.error);
    assert_string_equal(out, want.data);
    editor_result_free(&res);
    buf_release(&full);
    buf_release(&want);
    buf_release(&content);
}

/* ------------------------------------------------------------------------------------------ */
/* paths, commands, tool-call glue                                                              */

static void test_relative_path_with_hint(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"view\",\"path\":\"f.txt\"}",
           "ERROR:\nInvalid `path` parameter: f.txt. The path should be an absolute path, "
           "starting with `/`. Maybe you meant {D}/f.txt?");
}

static void test_relative_path_without_hint(void **state)
{
    expect("{\"command\":\"view\",\"path\":\"./sub/nothere.txt\"}",
           "ERROR:\nInvalid `path` parameter: sub/nothere.txt. The path should be an absolute "
           "path, starting with `/`.");
    puts_("f.txt", "a\n");
    struct editor *plain = editor_new(NULL);
    expect_on(plain, "{\"command\":\"view\",\"path\":\"f.txt\"}",
              "ERROR:\nInvalid `path` parameter: f.txt. The path should be an absolute path, "
              "starting with `/`.",
              true);
    editor_free(plain);
}

static void test_unknown_command(void **state)
{
    puts_("f.txt", "a\n");
    expect("{\"command\":\"delete\",\"path\":\"{D}/f.txt\"}",
           "ERROR:\nUnrecognized command delete. The allowed commands for the oh_editor tool "
           "are: view, create, str_replace, insert, undo_edit");
}

static void test_missing_command_or_path(void **state)
{
    expect_refused("{\"path\":\"{D}/f.txt\"}",
                   "Missing required argument \"command\" in tool call str_replace_editor\n"
                   "[Error occurred in processing last action]");
    expect_refused("{\"command\":\"view\"}",
                   "Missing required argument \"path\" in tool call str_replace_editor\n"
                   "[Error occurred in processing last action]");
}

static void test_unexpected_argument(void **state)
{
    expect_refused("{\"command\":\"create\",\"path\":\"{D}/n.txt\",\"file_text\":\"x\","
                   "\"security_risk\":\"LOW\",\"mode\":\"w\"}",
                   "Unexpected argument mode in tool call str_replace_editor. Allowed arguments "
                   "are: {'command', 'path', 'file_text', 'old_str', 'new_str', 'insert_line', "
                   "'view_range', 'security_risk'}\n[Error occurred in processing last action]");
    assert_int_equal(access(P("n.txt"), F_OK), -1);
    /* view ignores what it does not use */
    puts_("f.txt", "a");
    expect("{\"command\":\"view\",\"path\":\"{D}/f.txt\",\"mode\":\"w\"}",
           "Here's the result of running `cat -n` on {D}/f.txt:\n     1\ta\n");
}

static void test_path_not_a_string(void **state)
{
    expect("{\"command\":\"create\",\"path\":5,\"file_text\":\"x\"}",
           "ERROR:\nargument should be a str or an os.PathLike object where __fspath__ returns "
           "a str, not 'int'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_view_file_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_file_no_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_crlf_reads_as_lf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_normalizes_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_past_eof_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_empty_list_is_full_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_splitlines_quirk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_first_below_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_first_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_second_before_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_not_two_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_as_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_as_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_range_on_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_missing_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_truncated_at_16000_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_binary_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_binary_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_utf8_text_is_not_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_dir_nested_hidden_symlink_sorted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_view_dir_without_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_dir_symlink_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_dir_matches_find_sort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_dir_truncated_at_16000_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_with_edit_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_parent_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_missing_file_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_markdown_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_multiline_new_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_no_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_no_match_quotes_stripped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_strip_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_multiple, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_multiple_same_line_deduplicated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_non_overlapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_empty_old_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_new_str_equal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_missing_new_str_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_missing_old_str, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_regex_chars_literal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_crlf_file_becomes_lf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latin1_file_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_str_replace_diff_two_hunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_at_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_at_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_past_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_without_final_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_into_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_line_as_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_line_as_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_line_not_comparable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_missing_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_after_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_after_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_history_depth_10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_long_output_cut_at_30000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_path_with_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_path_without_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_command_or_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unexpected_argument, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_not_a_string, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
