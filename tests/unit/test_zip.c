/*
 * test_zip: zip_write_tree (util/zip.h). A temporary tree with a text file, an empty file,
 * nested and empty directories, symlinks (one pointing outside), a UTF-8 name, a fifo and a
 * socket (both skipped), 3 MB of random and 3 MB of compressible bytes is zipped and checked
 * by Python's zipfile (testzip, the exact name list, every content and Unix mode, DOS times)
 * and by unzip -t / bsdtar when installed: to a file, with forced ZIP64 fields, and to a
 * non-blocking pipe. Also: identical bytes twice, a name that is not UTF-8, a reader that
 * closes early (EPIPE), max_total_bytes, an unreadable file (not as root) and the depth limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/zip.h"

#define PYTHON "/usr/bin/python3"
#define BIG    (3 * 1024 * 1024)

static char base[64]; /* the temporary directory: tree/ and the archives */
static char tree[96];
static int64_t tree_bytes; /* the regular files' sizes added up */

/* The names the main tree must give, in order, after the prefix. */
static const char *const expected[] = {
    "a.txt",
    "dangling",
    "empty",
    "emptydir/",
    "h\xC3\xA9llo-\xC3\xBC.txt",
    "link",
    "nested/",
    "nested/inner/",
    "nested/inner/deep.txt",
    "random.bin",
    "zeros.txt",
};

/* Checks an archive against the tree: argv = zip, tree, prefix, expected names... */
static const char *verify_py =
    "import os, stat, sys, time, zipfile\n"
    "zpath, root, prefix, expected = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]\n"
    "with zipfile.ZipFile(zpath) as z:\n"
    "    assert z.testzip() is None\n"
    "    names = z.namelist()\n"
    "    assert names == [prefix + n for n in expected], names\n"
    "    for i in z.infolist():\n"
    "        assert i.create_system == 3, i.create_system\n"
    "        assert i.flag_bits & 0x800, i.filename\n"
    "        p = os.path.join(root, i.filename[len(prefix):])\n"
    "        st = os.lstat(p)\n"
    "        mode = i.external_attr >> 16\n"
    "        assert mode == st.st_mode, (i.filename, oct(mode), oct(st.st_mode))\n"
    "        t = time.localtime(st.st_mtime)\n"
    "        assert i.date_time == tuple(t[:5]) + (t[5] // 2 * 2,), (i.filename, i.date_time)\n"
    "        data = z.read(i)\n"
    "        if stat.S_ISLNK(mode):\n"
    "            assert data == os.readlink(p).encode(), data\n"
    "        elif stat.S_ISDIR(mode):\n"
    "            assert i.is_dir() and data == b'' and i.external_attr & 0x10\n"
    "        else:\n"
    "            with open(p, 'rb') as f:\n"
    "                assert data == f.read(), i.filename\n"
    "            assert i.compress_type == zipfile.ZIP_DEFLATED\n"
    "        if i.filename.endswith('zeros.txt'):\n"
    "            assert i.compress_size < i.file_size // 20, i.compress_size\n"
    "        if i.filename.endswith('random.bin'):\n"
    "            assert i.compress_size >= i.file_size, i.compress_size\n";

/* Runs argv (argv[0] a path), with stdout and stderr as ours; returns the exit status. */
static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void verify_with_python(const char *zip, const char *prefix)
{
    char *argv[32] = {PYTHON, "-c", (char *)verify_py, (char *)zip, tree, (char *)prefix};
    size_t n = 6;
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        argv[n++] = (char *)expected[i];
    argv[n] = NULL;
    assert_int_equal(run(argv), 0);
}

/* The other readers, when installed. */
static void verify_with_tools(const char *zip)
{
    if (access("/usr/bin/unzip", X_OK) == 0) {
        char *argv[] = {"/usr/bin/unzip", "-tqq", (char *)zip, NULL};
        assert_int_equal(run(argv), 0);
    }
    if (access("/usr/bin/bsdtar", X_OK) == 0) {
        char *argv[] = {"/usr/bin/bsdtar", "-tf", (char *)zip, NULL};
        assert_int_equal(run(argv), 0);
    }
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    tree_bytes += (int64_t)len;
}

static void make_dir(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    setenv("PYTHONUTF8", "1", 1);
    strcpy(base, "/tmp/test_zip.XXXXXX");
    if (!mkdtemp(base)) return -1;
    snprintf(tree, sizeof(tree), "%s/tree", base);
    if (mkdir(tree, 0755) < 0) return -1;

    write_file("a.txt", "hello, world\n", 13);
    write_file("empty", "", 0);
    make_dir("nested");
    make_dir("nested/inner");
    write_file("nested/inner/deep.txt", "deep\n", 5);
    make_dir("emptydir");
    write_file("h\xC3\xA9llo-\xC3\xBC.txt", "utf-8\n", 6);

    char *big = xmalloc(BIG);
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift64: the same bytes every run */
    for (size_t i = 0; i < BIG; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(big + i, &x, 8);
    }
    write_file("random.bin", big, BIG);
    for (size_t i = 0; i < BIG; i++) big[i] = "compressible line\n"[i % 18];
    write_file("zeros.txt", big, BIG);
    free(big);

    char path[512];
    snprintf(path, sizeof(path), "%s/link", tree);
    if (symlink("a.txt", path) < 0) return -1;
    snprintf(path, sizeof(path), "%s/dangling", tree);
    if (symlink("../../../etc/passwd", path) < 0) return -1; /* stored, never followed */
    snprintf(path, sizeof(path), "%s/fifo", tree);
    if (mkfifo(path, 0644) < 0) return -1;

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", tree);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -1;
    close(s);
    return 0;
}

static int teardown(void **state)
{
    fs_remove_tree(base);
    return 0;
}

static int open_tree(void)
{
    int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* Zips the tree to base/name; returns the zip_write_tree code. */
static int zip_to_file(const char *name, const struct zip_options *opts, struct error *err,
                       char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/%s", base, name);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    int dir = open_tree();
    int rc = zip_write_tree(dir, out, opts, err);
    close(dir);
    close(out);
    return rc;
}

static void read_all(const char *path, struct buf *out)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct error err = {0};
    assert_int_equal(fs_read_fd(fd, 1 << 30, out, &err), 0);
    close(fd);
}

static bool contains(const struct buf *b, uint32_t sig)
{
    unsigned char s[4] = {(unsigned char)sig, (unsigned char)(sig >> 8), (unsigned char)(sig >> 16),
                          (unsigned char)(sig >> 24)};
    return memmem(b->data, b->len, s, 4) != NULL;
}

static void test_tree_to_file(void **state)
{
    char path[256], again[256];
    struct error err = {0};
    struct zip_options opts = {.prefix = "workspace/"};
    assert_int_equal(zip_to_file("plain.zip", &opts, &err, path, sizeof(path)), 0);
    verify_with_python(path, "workspace/");
    verify_with_tools(path);

    /* Small archives stay plain: no ZIP64 end record. */
    struct buf a = BUF_INIT, b = BUF_INIT;
    read_all(path, &a);
    assert_false(contains(&a, 0x06064b50));
    assert_true(a.len > BIG); /* the random file does not shrink */

    /* Deterministic: the same tree gives the same bytes. */
    assert_int_equal(zip_to_file("again.zip", &opts, &err, again, sizeof(again)), 0);
    read_all(again, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_release(&a);
    buf_release(&b);
}

static void test_no_prefix(void **state)
{
    char path[256];
    struct error err = {0};
    assert_int_equal(zip_to_file("noprefix.zip", NULL, &err, path, sizeof(path)), 0);
    verify_with_python(path, "");
}

static void test_forced_zip64(void **state)
{
    char path[256];
    struct error err = {0};
    struct zip_options opts = {.prefix = "w/", .force_zip64 = true};
    assert_int_equal(zip_to_file("zip64.zip", &opts, &err, path, sizeof(path)), 0);
    verify_with_python(path, "w/");
    verify_with_tools(path);
    struct buf a = BUF_INIT;
    read_all(path, &a);
    assert_true(contains(&a, 0x06064b50)); /* ZIP64 end record */
    assert_true(contains(&a, 0x07064b50)); /* and its locator */
    buf_release(&a);
}

struct copier {
    int in, out;
    size_t max; /* stop (and close) after this many bytes; 0 = all */
    size_t copied;
};

static void *copy_thread(void *arg)
{
    struct copier *c = arg;
    char chunk[4096];
    for (;;) {
        size_t want = sizeof(chunk);
        if (c->max && c->max - c->copied < want) want = c->max - c->copied;
        if (want == 0) break;
        ssize_t n = read(c->in, chunk, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (c->out >= 0 && write(c->out, chunk, (size_t)n) != n) break;
        c->copied += (size_t)n;
        if (c->max == 0) usleep(50); /* a slow reader: the writer meets a full pipe */
    }
    close(c->in);
    return NULL;
}

static void test_nonblocking_pipe(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/piped.zip", base);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    struct copier c = {.in = p[0], .out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)};
    assert_true(c.out >= 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, copy_thread, &c), 0);

    struct error err = {0};
    struct zip_options opts = {.prefix = "workspace/"};
    int dir = open_tree();
    int rc = zip_write_tree(dir, p[1], &opts, &err);
    close(p[1]);
    pthread_join(t, NULL);
    close(c.out);
    close(dir);
    assert_int_equal(rc, 0);
    verify_with_python(path, "workspace/");
    verify_with_tools(path);
}

static void test_reader_closes_early(void **state)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct copier c = {.in = p[0], .out = -1, .max = 1000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, copy_thread, &c), 0);
    struct error err = {0};
    int dir = open_tree();
    int rc = zip_write_tree(dir, p[1], NULL, &err);
    close(p[1]);
    pthread_join(t, NULL);
    close(dir);
    assert_int_equal(rc, ERR_INTERNAL);
    assert_int_equal(err.code, ERR_INTERNAL);
    assert_non_null(strstr(err.message, "write failed"));
    assert_non_null(strstr(err.message, strerror(EPIPE)));
}

static void test_max_total_bytes(void **state)
{
    char path[256];
    struct error err = {0};
    struct zip_options opts = {.max_total_bytes = tree_bytes - 1};
    assert_int_equal(zip_to_file("large.zip", &opts, &err, path, sizeof(path)), ERR_TOO_LARGE);
    assert_int_equal(err.code, ERR_TOO_LARGE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0); /* found out before the first byte */

    opts.max_total_bytes = tree_bytes; /* exactly at the limit is fine */
    assert_int_equal(zip_to_file("large.zip", &opts, &err, path, sizeof(path)), 0);
    verify_with_python(path, "");
}

static void test_unreadable_file(void **state)
{
    if (geteuid() == 0) skip(); /* root reads mode 000 files anyway */
    char path[256], zip[256];
    snprintf(path, sizeof(path), "%s/secret", tree);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0000);
    assert_true(fd >= 0);
    close(fd);
    struct error err = {0};
    int rc = zip_to_file("secret.zip", NULL, &err, zip, sizeof(zip));
    unlink(path);
    assert_int_equal(rc, ERR_INTERNAL);
    assert_non_null(strstr(err.message, "'secret'"));
    struct stat st;
    assert_int_equal(stat(zip, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* A name that is not UTF-8 goes in without the UTF-8 flag, so readers still open the archive. */
static void test_name_not_utf8(void **state)
{
    char dir[128], path[256], zip[256];
    snprintf(dir, sizeof(dir), "%s/latin1", base);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/caf\xE9", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);

    snprintf(zip, sizeof(zip), "%s/latin1.zip", base);
    int out = open(zip, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    struct error err = {0};
    assert_int_equal(zip_write_tree(d, out, NULL, &err), 0);
    close(d);
    close(out);
    char *argv[] = {PYTHON, "-c",
                    "import sys, zipfile\n"
                    "z = zipfile.ZipFile(sys.argv[1])\n"
                    "assert z.testzip() is None\n"
                    "[i] = z.infolist()\n"
                    "assert not i.flag_bits & 0x800\n"
                    "assert i.filename.encode('cp437') == b'caf\\xe9', i.filename\n"
                    "assert z.read(i) == b'x'\n",
                    zip, NULL};
    assert_int_equal(run(argv), 0);
}

/* ZIP_MAX_DEPTH directories below the root are fine, one more is an error. */
static void test_depth_limit(void **state)
{
    char dir[128], zip[256];
    snprintf(dir, sizeof(dir), "%s/deep", base);
    assert_int_equal(mkdir(dir, 0755), 0);
    int root = open(dir, O_RDONLY | O_DIRECTORY);
    int fd = dup(root);
    for (int i = 0; i < ZIP_MAX_DEPTH; i++) {
        assert_int_equal(mkdirat(fd, "d", 0755), 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
    }
    snprintf(zip, sizeof(zip), "%s/deep.zip", base);
    int out = open(zip, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct error err = {0};
    assert_int_equal(zip_write_tree(root, out, NULL, &err), 0);
    char *argv[] = {PYTHON, "-c",
                    "import sys, zipfile\n"
                    "n = zipfile.ZipFile(sys.argv[1]).namelist()\n"
                    "assert len(n) == 256 and n[-1] == 'd/' * 256, n[-1]\n",
                    zip, NULL};
    assert_int_equal(run(argv), 0);

    assert_int_equal(mkdirat(fd, "d", 0755), 0);
    close(fd);
    assert_int_equal(ftruncate(out, 0), 0);
    assert_int_equal(zip_write_tree(root, out, NULL, &err), ERR_INTERNAL);
    assert_non_null(strstr(err.message, "deep"));
    struct stat st;
    assert_int_equal(fstat(out, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(out);
    close(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_to_file),        cmocka_unit_test(test_no_prefix),
        cmocka_unit_test(test_forced_zip64),        cmocka_unit_test(test_nonblocking_pipe),
        cmocka_unit_test(test_reader_closes_early), cmocka_unit_test(test_max_total_bytes),
        cmocka_unit_test(test_unreadable_file),     cmocka_unit_test(test_name_not_utf8),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
