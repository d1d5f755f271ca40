/*
 * test_bash: the execute_bash tool (agent/bash.h) against a real bash on a pseudo-terminal, in a
 * temporary directory with a small environment. Every observation is compared with the exact
 * text OpenHands 0.55-0.62 gives the model (../shared/TOOLS.md): exit codes, the working
 * directory and environment persisting, the refusal of several commands, soft and hard
 * timeouts, continuing with an empty command or `is_input`, C-c, a command sent while another
 * runs, the two ERROR texts, head+tail truncation, and large output. Also the command splitter
 * and Python float() / repr() on their own, and two sessions used from two threads at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/bash.h"

#define T                                                                                          \
    "You may wait longer to see additional output by sending empty command '', send other "        \
    "commands to interact with the current process, send keys (\"C-c\", \"C-z\", \"C-d\") to "     \
    "interrupt/kill the previous command before sending your new command, or use the timeout "     \
    "parameter in execute_bash for future commands."
#define PATH_VALUE "/usr/bin:/bin"

static char g_dir[256];
static char g_home[300];
static char *g_envp[6];

static int setup_all(void **state)
{
    strcpy(g_dir, "/tmp/ch-test-bash-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    /* the shell reports the physical path (pwd in a temp dir that may be a symlink) */
    char *real = realpath(g_dir, NULL);
    if (!real) return -1;
    snprintf(g_dir, sizeof(g_dir), "%s", real);
    free(real);
    static char path[] = "PATH=" PATH_VALUE;
    snprintf(g_home, sizeof(g_home), "HOME=%s", g_dir);
    g_envp[0] = path;
    g_envp[1] = g_home;
    g_envp[2] = "TERM=dumb";
    g_envp[3] = "LC_ALL=C";
    g_envp[4] = NULL;
    return 0;
}

static int teardown_all(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct bash_session *start(int no_change)
{
    struct bash_options o = {.cwd = g_dir, .envp = g_envp, .no_change_timeout = no_change};
    struct bash_session *s = NULL;
    struct error err = {0};
    int rc = bash_start(&o, &s, &err);
    if (rc) fprintf(stderr, "bash_start: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* `which python` with the test PATH, as the PS1 reports it */
static const char *python_line(void)
{
    static char line[512];
    static bool done;
    if (!done) {
        done = true;
        char dirs[] = PATH_VALUE;
        for (char *d = strtok(dirs, ":"); d; d = strtok(NULL, ":")) {
            char p[300];
            snprintf(p, sizeof(p), "%s/python", d);
            if (access(p, X_OK) == 0) {
                snprintf(line, sizeof(line), "\n[Python interpreter: %s]", p);
                break;
            }
        }
    }
    return line;
}

/* What the model reads for a completed command. */
static char *completed(const char *body, int code, const char *cwd, const char *key)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, body);
    if (key)
        buf_addf(&b, "\n[The command completed with exit code %d. CTRL+%s was sent.]", code, key);
    else
        buf_addf(&b, "\n[The command completed with exit code %d.]", code);
    buf_addf(&b, "\n[Current working directory: %s]", cwd);
    buf_adds(&b, python_line());
    buf_addf(&b, "\n[Command finished with exit code %d]", code);
    return buf_detach(&b, NULL);
}

static char *run_json(struct bash_session *s, json_t *args, struct bash_result *res_out)
{
    struct buf out = BUF_INIT;
    struct bash_result res;
    bash_run(s, args, &out, &res);
    json_decref(args);
    if (res_out) {
        *res_out = res;
    } else {
        bash_result_free(&res);
    }
    return buf_detach(&out, NULL);
}

/* A call with `command` (and `timeout` when not NULL). */
static char *run(struct bash_session *s, const char *cmd, const char *timeout,
                 struct bash_result *res)
{
    json_t *a = json_pack("{s:s}", "command", cmd);
    if (timeout) json_object_set_new(a, "timeout", json_string(timeout));
    return run_json(s, a, res);
}

static char *input(struct bash_session *s, const char *text)
{
    return run_json(s, json_pack("{s:s,s:s}", "command", text, "is_input", "true"), NULL);
}

static void expect_done(struct bash_session *s, const char *cmd, const char *body, int code,
                        const char *cwd)
{
    struct bash_result res;
    char *got = run(s, cmd, NULL, &res);
    char *want = completed(body, code, cwd, NULL);
    assert_string_equal(got, want);
    assert_int_equal(res.exit_code, code);
    assert_false(res.refused);
    assert_string_equal(res.working_dir, cwd);
    /* the command as run: stripped */
    size_t a = strspn(cmd, " \t\n"), z = strlen(cmd);
    while (z > a && strchr(" \t\n", cmd[z - 1])) z--;
    assert_int_equal(strlen(res.command), z - a);
    assert_memory_equal(res.command, cmd + a, z - a);
    bash_result_free(&res);
    free(got);
    free(want);
}

static void expect_text(char *got, const char *want)
{
    assert_string_equal(got, want);
    free(got);
}

/* ------------------------------------------------------------------------------------------ */

static void test_echo_and_exit_codes(void **state)
{
    struct bash_session *s = start(0);
    expect_done(s, "echo hello", "hello", 0, g_dir);
    expect_done(s, "false", "", 1, g_dir);
    expect_done(s, "ls /nonexistent-dir",
                "ls: cannot access '/nonexistent-dir': No such file or directory", 2, g_dir);
    expect_done(s, "bash -c 'exit 7'", "", 7, g_dir);
    /* leading blank lines and trailing spaces go; tabs are drawn as spaces */
    expect_done(s, "printf '\\n\\n  x\\ty  \\nb\\n\\n'", "x     y\nb", 0, g_dir);
    expect_done(s, "printf 'a\\nb\\nc\\n'", "a\nb\nc", 0, g_dir);
    /* a carriage return overwrites the line, escape sequences are not shown */
    expect_done(s, "printf '50%%\\r100%%\\n\\033[1mbold\\033[0m\\n'", "100%\nbold", 0, g_dir);
    /* control characters in a command are typed literally (a ^C here does not interrupt); the
     * terminal echoes them as ^C, so that echo differs from the command and stays */
    expect_done(s, "printf '%s' 'a\003b' | wc -c", "printf '%s' 'a^Cb' | wc -c\n3", 0, g_dir);
    /* the command line is stripped before it runs */
    expect_done(s, "  echo  stripped  \n", "stripped", 0, g_dir);
    bash_close(s);
}

static void test_cwd_and_env_persist(void **state)
{
    struct bash_session *s = start(0);
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/sub", g_dir);
    expect_done(s, "mkdir -p sub && cd sub", "", 0, sub);
    expect_done(s, "pwd", sub, 0, sub);
    expect_done(s, "export FOO=bar", "", 0, sub);
    expect_done(s, "echo $FOO", "bar", 0, sub);
    expect_done(s, "cd ..", "", 0, g_dir);
    bash_close(s);
}

static void test_multiple_commands_refused(void **state)
{
    struct bash_session *s = start(0);
    struct bash_result res;
    char *got = run(s, "echo a\necho b", NULL, &res);
    assert_string_equal(got, "ERROR: Cannot execute multiple commands at once.\nPlease run each "
                             "command separately OR chain them into a single command via && or "
                             ";\nProvided commands:\n(1) echo a\n(2) echo b");
    assert_true(res.refused);
    assert_int_equal(res.exit_code, -1);
    bash_result_free(&res);
    free(got);

    expect_done(s, "echo a && echo b", "a\nb", 0, g_dir);
    expect_done(s, "echo a; echo b | tr b c", "a\nc", 0, g_dir);
    expect_done(s, "for i in 1 2; do\n  echo $i\ndone", "1\n2", 0, g_dir);
    expect_done(s, "cat <<'EOF'\nx\ny\nEOF", "x\ny", 0, g_dir);
    expect_done(s, "echo 'a\nb'", "a\nb", 0, g_dir);
    expect_done(s, "echo one \\\n  two", "one two", 0, g_dir);
    bash_close(s);
}

static void check_split(const char *cmd, int n, ...)
{
    char **items;
    size_t got;
    bash_split_commands(cmd, &items, &got);
    if ((int)got != n) {
        for (size_t i = 0; i < got; i++) fprintf(stderr, "item %zu: [%s]\n", i, items[i]);
    }
    assert_int_equal(got, n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) assert_string_equal(items[i], va_arg(ap, const char *));
    va_end(ap);
    bash_split_free(items, got);
}

static void test_split(void **state)
{
    /* OpenHands' tests/unit/test_bash_parsing.py cases */
    check_split("ls -l", 1, "ls -l");
    check_split("cd /tmp && touch test.txt", 1, "cd /tmp && touch test.txt");
    check_split("grep 'pattern' file.txt | sort | uniq", 1,
                "grep 'pattern' file.txt | sort | uniq");
    check_split("for i in {1..5}; do echo $i; done", 1, "for i in {1..5}; do echo $i; done");
    check_split("echo 'Single quotes don\\'t escape'", 1, "echo 'Single quotes don\\'t escape'");
    check_split("\ncat <<EOF\nmultiline\ntext\nEOF\necho \"Done\"\n", 2,
                "cat <<EOF\nmultiline\ntext\nEOF", "echo \"Done\"");
    check_split("\necho \"Hello\" # This is a comment\n# This is another comment\nls -l\n", 2,
                "echo \"Hello\" # This is a comment\n# This is another comment", "ls -l");
    check_split("\nls -l\n\necho \"Hello\"\n\ncd /tmp\n", 3, "ls -l", "echo \"Hello\"", "cd /tmp");
    check_split("echo \"Unclosed quote", 1, "echo \"Unclosed quote");
    check_split("echo 'Unclosed quote", 1, "echo 'Unclosed quote");
    check_split("cat <<EOF\nUnclosed heredoc", 1, "cat <<EOF\nUnclosed heredoc");
    check_split("echo `unclosed backtick", 1, "echo `unclosed backtick");
    check_split("echo \"Command with a trailing backslash \\\n  and continuation\"", 1,
                "echo \"Command with a trailing backslash \\\n  and continuation\"");
    check_split("ls -l\necho -e \"hello\nworld\"\necho \\\n    -e 'hello' \\\n    -v\n"
                "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nEOF\n"
                "mkdir -p _modules && for month in {01..04}; do\n    for day in {01..05}; do\n"
                "        touch \"_modules/2024-${month}-${day}-sample.md\"\n    done\ndone",
                5, "ls -l", "echo -e \"hello\nworld\"", "echo \\\n    -e 'hello' \\\n    -v",
                "kubectl apply -f - <<EOF\napiVersion: v1\nkind: Pod\nEOF",
                "mkdir -p _modules && for month in {01..04}; do\n    for day in {01..05}; do\n"
                "        touch \"_modules/2024-${month}-${day}-sample.md\"\n    done\ndone");
    /* compound commands and continuations are one command */
    check_split("if true; then\n  echo a\nelse\n  echo b\nfi", 1,
                "if true; then\n  echo a\nelse\n  echo b\nfi");
    check_split("while read l; do\n echo $l\ndone < f", 1, "while read l; do\n echo $l\ndone < f");
    check_split("case $x in\n a) echo a;;\n b|c) echo bc\n ;;\nesac", 1,
                "case $x in\n a) echo a;;\n b|c) echo bc\n ;;\nesac");
    check_split("f() {\n  echo hi\n}\nf", 2, "f() {\n  echo hi\n}", "f");
    check_split("function g\n{\n echo hi\n}", 1, "function g\n{\n echo hi\n}");
    check_split("{\n echo a\n echo b\n} > out", 1, "{\n echo a\n echo b\n} > out");
    check_split("(\n cd /tmp\n ls\n)", 1, "(\n cd /tmp\n ls\n)");
    check_split("echo a &&\n echo b ||\n echo c |\n cat", 1,
                "echo a &&\n echo b ||\n echo c |\n cat");
    check_split("x=$(echo a\necho b)\necho $x", 2, "x=$(echo a\necho b)", "echo $x");
    check_split("python3 - <<'PY'\nprint(1)\nPY\nls", 2, "python3 - <<'PY'\nprint(1)\nPY", "ls");
    check_split("cat <<-EOF\n\tx\n\tEOF\necho y", 2, "cat <<-EOF\n\tx\n\tEOF", "echo y");
    check_split("a=(1\n2)\necho ${a[@]}", 2, "a=(1\n2)", "echo ${a[@]}");
    check_split("sleep 1 &\necho b", 2, "sleep 1 &", "echo b");
    check_split("echo a;\necho b", 2, "echo a;", "echo b");
    /* text before the first command is an item of its own */
    check_split("# list\nls", 2, "# list", "ls");
    check_split("# only a comment", 1, "# only a comment");
    /* what bashlex does not implement makes the whole input one command */
    check_split("[[ -f x ]] && echo y\nls", 1, "[[ -f x ]] && echo y\nls");
    check_split("time make\nls", 1, "time make\nls");
    check_split("for ((i=0;i<2;i++)); do echo $i; done\nls", 1,
                "for ((i=0;i<2;i++)); do echo $i; done\nls");
    check_split("(( x = 1 ))\nls", 1, "(( x = 1 ))\nls");
    check_split("echo $((1+2))\nls", 2, "echo $((1+2))", "ls");
    /* syntax errors too */
    check_split("fi\nls", 1, "fi\nls");
    check_split("echo )\nls", 1, "echo )\nls");
    check_split("", 1, "");
    check_split("  \n ", 1, "");
}

static void test_python_float(void **state)
{
    struct {
        const char *in;
        const char *repr;
    } ok[] = {{"1", "1.0"},          {" 2 ", "2.0"},
              {"2.5", "2.5"},        {"1e3", "1000.0"},
              {"1_000", "1000.0"},   {".5", "0.5"},
              {"5.", "5.0"},         {"-0", "-0.0"},
              {"1e16", "1e+16"},     {"1e15", "1000000000000000.0"},
              {"0.0001", "0.0001"},  {"0.00001", "1e-05"},
              {"0.1", "0.1"},        {"inf", "inf"},
              {"-Infinity", "-inf"}, {"nan", "nan"},
              {"1.5E-7", "1.5e-07"}, {"123456789.125", "123456789.125"},
              {"1e400", "inf"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        double d;
        assert_true(bash_parse_py_float(ok[i].in, &d));
        struct buf b = BUF_INIT;
        bash_py_float_repr(d, &b);
        assert_string_equal(b.data, ok[i].repr);
        buf_release(&b);
    }
    const char *bad[] = {"", "abc", "1_", "_1", "1__0", "0x10", "1e", "--1", "1.2.3", "in f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double d;
        assert_false(bash_parse_py_float(bad[i], &d));
    }
    double d;
    struct buf b = BUF_INIT;
    json_t *v = json_integer(30);
    assert_int_equal(bash_parse_timeout(v, &d, &b), 0);
    assert_string_equal(b.data, "30.0");
    json_decref(v);
    buf_release(&b);
}

static void test_argument_errors(void **state)
{
    struct bash_session *s = start(0);
    struct bash_result res;
    char *got = run_json(s, json_pack("{s:s}", "is_input", "true"), &res);
    assert_string_equal(got, "Missing required argument \"command\" in tool call execute_bash");
    assert_true(res.refused);
    bash_result_free(&res);
    free(got);
    /* refused calls: the caller appends "\n[Error occurred in processing last action]" */
    got = run(s, "echo x", "abc", &res);
    assert_string_equal(got, "Invalid float passed to 'timeout' argument: abc");
    assert_true(res.refused);
    bash_result_free(&res);
    free(got);
    /* an is_input that is not the string "true" is a plain command */
    char *want = completed("x", 0, g_dir, NULL);
    expect_text(run_json(s, json_pack("{s:s,s:b}", "command", "echo x", "is_input", 1), NULL),
                want);
    free(want);
    bash_close(s);
}

static void test_errors_without_running_command(void **state)
{
    struct bash_session *s = start(0);
    struct bash_result res;
    char *got = run(s, "", NULL, &res);
    assert_string_equal(got, "ERROR: No previous running command to retrieve logs from.");
    assert_int_equal(res.exit_code, -1);
    assert_false(res.refused);
    bash_result_free(&res);
    free(got);
    expect_text(input(s, "hello"), "ERROR: No previous running command to interact with.");
    expect_text(input(s, "C-c"), "ERROR: No previous running command to interact with.");
    bash_close(s);
}

static void test_soft_timeout_then_continue(void **state)
{
    struct bash_session *s = start(1);
    struct bash_result res;
    char *got = run(s, "sleep 3; echo done", NULL, &res);
    assert_string_equal(got, "\n[The command has no new output after 1 seconds. " T "]");
    assert_int_equal(res.exit_code, -1);
    bash_result_free(&res);
    free(got);
    /* nothing new for another second: still running */
    expect_text(run(s, "", NULL, NULL), "[Below is the output of the previous command.]\n"
                                        "\n[The command has no new output after 1 seconds. " T "]");
    /* with a timeout the call waits for the end; a completed command has no prefix */
    char *want = completed("done", 0, g_dir, NULL);
    expect_text(run(s, "", "10", NULL), want);
    free(want);
    expect_text(run(s, "", NULL, NULL),
                "ERROR: No previous running command to retrieve logs from.");
    bash_close(s);
}

static void test_hard_timeout(void **state)
{
    struct bash_session *s = start(0);
    struct bash_result res;
    char *got = run(s, "sleep 5", "1", &res);
    assert_string_equal(got, "\n[The command timed out after 1.0 seconds. " T "]");
    assert_int_equal(res.exit_code, -1);
    bash_result_free(&res);
    free(got);
    /* the command was left running: C-c ends it */
    char *want = completed("^C", 130, g_dir, "C");
    expect_text(input(s, "C-c"), want);
    free(want);
    expect_done(s, "echo after", "after", 0, g_dir);
    bash_close(s);
}

static void test_ctrl_c_and_not_executed(void **state)
{
    struct bash_session *s = start(1);
    expect_text(run(s, "sleep 100", NULL, NULL),
                "\n[The command has no new output after 1 seconds. " T "]");
    struct bash_result res;
    char *got = run(s, "echo hi", NULL, &res);
    assert_string_equal(got,
                        "[Below is the output of the previous command.]\n\n[Your command \"echo "
                        "hi\" is NOT executed. The previous command is still running - You CANNOT "
                        "send new commands until the previous command is completed. By setting "
                        "`is_input` to `true`, you can interact with the current process: " T "]");
    assert_int_equal(res.exit_code, -1);
    assert_false(res.refused);
    bash_result_free(&res);
    free(got);
    char *want = completed("^C", 130, g_dir, "C");
    expect_text(input(s, "C-c"), want);
    free(want);
    expect_done(s, "echo hi", "hi", 0, g_dir);
    bash_close(s);
}

static void test_is_input_feeds_running_command(void **state)
{
    struct bash_session *s = start(1);
    expect_text(run(s, "read x; echo got $x", NULL, NULL),
                "\n[The command has no new output after 1 seconds. " T "]");
    char *want = completed("got hello", 0, g_dir, NULL);
    expect_text(input(s, "hello"), want);
    free(want);
    bash_close(s);
}

/* Python's head+tail cut. */
static void py_cut(struct buf *b)
{
    if (b->len <= 30000) return;
    struct buf o = BUF_INIT;
    buf_add(&o, b->data, 15000);
    buf_adds(&o, "\n[... Observation truncated due to length ...]\n");
    buf_add(&o, b->data + b->len - 15000, 15000);
    buf_release(b);
    *b = o;
}

static void test_truncation(void **state)
{
    struct bash_session *s = start(0);
    struct buf full = BUF_INIT;
    for (int i = 1; i <= 20000; i++) buf_addf(&full, i > 1 ? "\n%d" : "%d", i);
    py_cut(&full); /* the observation's content */
    struct buf want = BUF_INIT;
    char *tailtext = completed("", 0, g_dir, NULL);
    buf_add(&want, full.data, full.len);
    buf_adds(&want, tailtext);
    py_cut(&want); /* the whole message */
    expect_text(run(s, "seq 1 20000", NULL, NULL), want.data);
    free(tailtext);
    buf_release(&full);
    buf_release(&want);
    bash_close(s);
}

static void test_large_output(void **state)
{
    struct bash_session *s = start(0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* 30 MB on one line, then 3 MB of short lines */
    struct buf want = BUF_INIT;
    for (int i = 0; i < 15000; i++) buf_addch(&want, 'a');
    buf_adds(&want, "\n[... Observation truncated due to length ...]\n");
    for (int i = 0; i < 15000; i++) buf_addch(&want, 'a');
    char *tailtext = completed("", 0, g_dir, NULL);
    buf_adds(&want, tailtext);
    py_cut(&want);
    expect_text(run(s, "head -c 30000000 /dev/zero | tr '\\0' a", "60", NULL), want.data);
    buf_release(&want);

    struct buf lines = BUF_INIT;
    for (int i = 0; i < 7500; i++) buf_adds(&lines, "y\n");
    buf_adds(&lines, "\n[... Observation truncated due to length ...]\n");
    for (int i = 0; i < 7500; i++) buf_adds(&lines, "\ny");
    buf_adds(&lines, tailtext);
    py_cut(&lines);
    expect_text(run(s, "yes | head -n 300000", "60", NULL), lines.data);
    buf_release(&lines);
    free(tailtext);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(secs < 30);
    bash_close(s);
}

static void test_exit_restarts_shell(void **state)
{
    struct bash_session *s = start(0);
    expect_done(s, "cd /", "", 0, "/");
    expect_done(s, "exit 3", "exit", 3, "/");
    /* a new shell, where the old one was */
    expect_done(s, "echo back; pwd", "back\n/", 0, "/");
    bash_close(s);
}

static void test_long_command_line(void **state)
{
    struct bash_session *s = start(0);
    struct buf cmd = BUF_INIT, body = BUF_INIT;
    buf_adds(&cmd, "echo ");
    for (int i = 0; i < 6000; i++) buf_addch(&body, (char)('a' + i % 26));
    buf_add(&cmd, body.data, body.len);
    expect_done(s, cmd.data, body.data, 0, g_dir);
    buf_release(&cmd);
    buf_release(&body);
    bash_close(s);
}

static void *thread_main(void *arg)
{
    struct bash_session *s = arg;
    for (int i = 0; i < 5; i++) {
        char cmd[64], body[64];
        snprintf(cmd, sizeof(cmd), "echo t%d; sleep 0.1", i);
        snprintf(body, sizeof(body), "t%d", i);
        struct buf out = BUF_INIT;
        struct bash_result res;
        json_t *a = json_pack("{s:s}", "command", cmd);
        bash_run(s, a, &out, &res);
        json_decref(a);
        char *want = completed(body, 0, g_dir, NULL);
        int ok = strcmp(out.data, want) == 0;
        free(want);
        buf_release(&out);
        bash_result_free(&res);
        if (!ok) return (void *)1;
    }
    return NULL;
}

/* the shell gets only its terminal; closing the session ends its jobs, nohup'ed ones too */
static void test_fds_and_close(void **state)
{
    struct bash_session *s = start(0);
    expect_done(s, "ls /proc/$$/fd | sort -n | tr '\\n' ' '", "0 1 2 255", 0, g_dir);
    struct bash_result res;
    char *got = run(s, "nohup sleep 300 >/dev/null 2>&1 & echo $!", NULL, &res);
    assert_int_equal(res.exit_code, 0);
    char *nl = strchr(got, '\n');
    assert_non_null(nl);
    long pid = strtol(nl + 1, NULL, 10);
    assert_true(pid > 0);
    free(got);
    bash_result_free(&res);
    bash_close(s);
    char path[64], stat[256] = "";
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    for (int i = 0; i < 50; i++) {
        FILE *f = fopen(path, "r");
        if (!f) break;
        size_t n = fread(stat, 1, sizeof(stat) - 1, f);
        stat[n] = '\0';
        fclose(f);
        char *rp = strrchr(stat, ')');
        if (rp && rp[2] == 'Z') break; /* killed, waiting for its new parent */
        usleep(20000);
        stat[0] = '\0';
    }
    assert_true(access(path, F_OK) != 0 || strstr(stat, ") Z") != NULL);
}

static void test_sessions_in_threads(void **state)
{
    struct bash_session *a = start(0), *b = start(0);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, thread_main, a);
    pthread_create(&tb, NULL, thread_main, b);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    assert_null(ra);
    assert_null(rb);
    bash_close(a);
    bash_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_python_float),
        cmocka_unit_test(test_echo_and_exit_codes),
        cmocka_unit_test(test_cwd_and_env_persist),
        cmocka_unit_test(test_multiple_commands_refused),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_errors_without_running_command),
        cmocka_unit_test(test_soft_timeout_then_continue),
        cmocka_unit_test(test_hard_timeout),
        cmocka_unit_test(test_ctrl_c_and_not_executed),
        cmocka_unit_test(test_is_input_feeds_running_command),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_large_output),
        cmocka_unit_test(test_exit_restarts_shell),
        cmocka_unit_test(test_long_command_line),
        cmocka_unit_test(test_fds_and_close),
        cmocka_unit_test(test_sessions_in_threads),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
