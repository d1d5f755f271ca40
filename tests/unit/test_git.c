/*
 * test_git: the host-side git layer (git/git.h) and the providers' shared helpers
 * (git/provider.h). git_branch_name_valid against git's own rules (option injection included),
 * git_redact, git_error_summary's choice of line, url_host/url_join/url_encode, repo_dir_name,
 * git_provider_find's answers for unknown and unconfigured providers, and git_run with the real
 * git: the credential reaches git only as an http.extraHeader from the environment, hooks and
 * credential helpers are off, the server's GIT_* variables do not leak in, and a timeout or a
 * cancel kills git.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/repository.h"
#include "git/git.h"
#include "git/provider.h"
#include "util/crypto.h"

static void test_branch_names(void **state)
{
    static const char *const good[] = {"main", "release/1.0", "feature_x",
                                       "a-b",  "v1.2.3",      "openhands-workspace-abcd1234",
                                       "ü",    NULL};
    static const char *const bad[] = {"",       "-x",  "--upload-pack=evil",
                                      "a..b",   "a b", "a~1",
                                      "a^",     "a:b", "a?",
                                      "a*",     "a[",  "a\\b",
                                      "/a",     "a/",  "a//b",
                                      "a.",     ".a",  "a/.b",
                                      "a.lock", "@",   "a@{1}",
                                      "tab\tx", NULL};
    for (const char *const *g = good; *g; g++)
        if (!git_branch_name_valid(*g)) fail_msg("refused good branch '%s'", *g);
    for (const char *const *b = bad; *b; b++)
        if (git_branch_name_valid(*b)) fail_msg("accepted bad branch '%s'", *b);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(git_branch_name_valid(longname));
}

static void test_redact(void **state)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, "token ghp_secret1 and again ghp_secret1.");
    git_redact(&b, "ghp_secret1");
    assert_string_equal(b.data, "token *** and again ***.");
    git_redact(&b, "abc"); /* too short to redact: every text would be garbled */
    assert_string_equal(b.data, "token *** and again ***.");
    git_redact(&b, NULL);
    buf_release(&b);
}

static void test_error_summary(void **state)
{
    struct git_result r = {.exit_code = 128};
    buf_init(&r.err, 0);
    buf_adds(&r.err, "Cloning into 'x'...\nremote: Not Found\nfatal: repository 'u' not found\n");
    struct buf out = BUF_INIT;
    git_error_summary(&r, &out);
    assert_string_equal(out.data, "fatal: repository 'u' not found");
    buf_reset(&out);
    buf_reset(&r.err);
    buf_adds(&r.err, "something odd\n\n");
    git_error_summary(&r, &out);
    assert_string_equal(out.data, "something odd");
    buf_reset(&out);
    buf_reset(&r.err);
    git_error_summary(&r, &out);
    assert_string_equal(out.data, "git exited with status 128");
    buf_release(&out);
    git_result_release(&r);
}

static void test_urls(void **state)
{
    char *h = url_host("https://User:pw@GitHub.example.com:8443/api/v3?x");
    assert_string_equal(h, "github.example.com:8443");
    free(h);
    assert_null(url_host("github.com"));
    assert_null(url_host("https:///x"));
    char *j = url_join("https://api.github.com/", "/repos/a/b");
    assert_string_equal(j, "https://api.github.com/repos/a/b");
    free(j);
    struct buf b = BUF_INIT;
    url_encode("group/sub repo~x", &b);
    assert_string_equal(b.data, "group%2Fsub%20repo~x");
    buf_release(&b);
}

static void test_repo_dir_name(void **state)
{
    char *n = repo_dir_name("acme/demo");
    assert_string_equal(n, "demo");
    free(n);
    n = repo_dir_name("group/sub/app.git");
    assert_string_equal(n, "app");
    free(n);
    assert_null(repo_dir_name(NULL));
    assert_null(repo_dir_name(""));
}

static void test_provider_find(void **state)
{
    struct config cfg = {.default_git_provider = "github",
                         .github_api_url = "https://api.github.com",
                         .github_url = "https://github.com",
                         .gitlab_url = "https://gitlab.com"};
    struct error err = {0};
    assert_ptr_equal(git_provider_find(&cfg, NULL, &err), &provider_github);
    assert_ptr_equal(git_provider_find(&cfg, "gitlab", &err), &provider_gitlab);
    assert_null(git_provider_find(&cfg, "git", &err)); /* no template */
    assert_int_equal(err.code, ERR_INVALID);
    assert_string_equal(err.field, "git_provider");
    assert_non_null(strstr(err.message, "--git-url-template"));
    error_clear(&err);
    assert_null(git_provider_find(&cfg, "bitbucket", &err));
    assert_non_null(strstr(err.message, "github, gitlab and git"));
    error_clear(&err);
    cfg.git_url_template = "file:///srv/{owner}/{repo}.git";
    assert_ptr_equal(git_provider_find(&cfg, "git", &err), &provider_git);
    cfg.github_token = "t1";
    assert_string_equal(git_provider_server_token(&cfg, &provider_github), "t1");
    assert_null(git_provider_server_token(&cfg, &provider_gitlab));
}

static void test_run_passes_the_credential_as_a_header_only(void **state)
{
    setenv("GIT_CONFIG_PARAMETERS", "'core.hookspath'='/evil'", 1); /* must not reach git */
    setenv("GIT_DIR", "/nonexistent", 1);
    struct git_auth auth = {.user = "x-access-token", .token = "tok-123456"};
    const char *args[] = {"config", "--get-all", "http.extraHeader", NULL};
    struct git_result r;
    struct error err = {0};
    assert_int_equal(git_run("/", args, &auth, 10, NULL, &r, &err), 0);
    assert_int_equal(r.exit_code, 0);
    struct buf want = BUF_INIT;
    buf_adds(&want, "Authorization: Basic ");
    crypto_base64("x-access-token:tok-123456", strlen("x-access-token:tok-123456"), &want);
    buf_addch(&want, '\n');
    assert_string_equal(r.out.data, want.data);
    git_result_release(&r);
    buf_release(&want);

    const char *hooks[] = {"config", "--get", "core.hooksPath", NULL};
    assert_int_equal(git_run("/", hooks, NULL, 10, NULL, &r, &err), 0);
    assert_string_equal(r.out.data, "/dev/null\n");
    git_result_release(&r);
    const char *helper[] = {"config", "--get-all", "credential.helper", NULL};
    assert_int_equal(git_run("/", helper, NULL, 10, NULL, &r, &err), 0);
    assert_string_equal(r.out.data, "\n"); /* set, and empty: no helper */
    git_result_release(&r);
    /* USER:PASSWORD tokens of the git provider are split */
    struct git_auth pw = {.user = NULL, .token = "bob:s3cret"};
    assert_int_equal(git_run("/", args, &pw, 10, NULL, &r, &err), 0);
    buf_init(&want, 0);
    buf_adds(&want, "Authorization: Basic ");
    crypto_base64("bob:s3cret", 10, &want);
    buf_addch(&want, '\n');
    assert_string_equal(r.out.data, want.data);
    git_result_release(&r);
    buf_release(&want);
    unsetenv("GIT_CONFIG_PARAMETERS");
    unsetenv("GIT_DIR");
}

static void test_run_timeout_and_cancel(void **state)
{
    /* `git -c alias.x=!sleep 30 x` runs a shell command through git: killed at the timeout */
    const char *args[] = {"-c", "alias.snooze=!sleep 30", "snooze", NULL};
    struct git_result r;
    struct error err = {0};
    time_t t0 = time(NULL);
    assert_int_equal(git_run("/", args, NULL, 1, NULL, &r, &err), ERR_UNAVAILABLE);
    assert_true(time(NULL) - t0 < 5);
    assert_int_equal(r.exit_code, -1);
    git_result_release(&r);
    error_clear(&err);
    atomic_int cancel = 1;
    assert_int_equal(git_run("/", args, NULL, 30, &cancel, &r, &err), ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, "stopped"));
    git_result_release(&r);
    error_clear(&err);
    const char *bad[] = {"no-such-command-xyz", NULL};
    assert_int_equal(git_run("/", bad, NULL, 10, NULL, &r, &err), 0);
    assert_int_not_equal(r.exit_code, 0);
    git_result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_branch_names),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_error_summary),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_repo_dir_name),
        cmocka_unit_test(test_provider_find),
        cmocka_unit_test(test_run_passes_the_credential_as_a_header_only),
        cmocka_unit_test(test_run_timeout_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
