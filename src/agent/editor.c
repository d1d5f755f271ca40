/*
 * editor: the `str_replace_editor` tool, byte for byte as OpenHands 0.55-0.62 answers it.
 *
 * In OpenHands a call goes through three layers, and all three are mirrored here:
 *  1. the tool-call glue (function_calling.py): a missing `command`/`path` or an unexpected
 *     argument (edits only) refuses the call before it runs;
 *  2. the V0 runtime glue (action_execution_server.py): `view` of a binary file is refused
 *     with ERROR_BINARY_FILE, and a string `insert_line` goes through int(). Refused calls are
 *     ErrorObservations, which the model reads + "\n[Error occurred in processing last
 *     action]";
 *  3. openhands-aci's OHEditor: path validation, view/create/str_replace/insert/undo_edit,
 *     their exact texts, the 16000-character truncation and the per-file undo stack of 10.
 * Finally the conversation memory cuts edit observations to 30000 characters (head+tail).
 *
 * This file owns the undo history of one conversation and everything Python did implicitly
 * that shows in the texts: text-mode files (universal newlines, UTF-8 with a Latin-1 fallback
 * for undecodable files), pathlib's path normalization, str()/repr() of argument values,
 * binaryornot's binary test, and the `find -L p -maxdepth 2 ... | sort` directory listing
 * (done here with opendir/stat). It also builds a unified diff of each edit for the events.
 */
#include "agent/editor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RESPONSE_LEN  16000 /* openhands-aci MAX_RESPONSE_LEN_CHAR, in code points */
#define MAX_MESSAGE_CHARS 30000 /* LLMConfig.max_message_chars (conversation memory) */
#define SNIPPET_CONTEXT   4     /* openhands-aci SNIPPET_CONTEXT_WINDOW */
#define HISTORY_DEPTH     10    /* FileHistoryManager(max_history_per_file=10) */
#define MAX_FILE_SIZE     (10LL * 1024 * 1024)
#define BINARY_CHUNK      1024 /* binaryornot reads the first 1024 bytes */
#define DIFF_CONTEXT      3
#define DIFF_MAX_D        1000 /* beyond this many differences the diff replaces the block */

static const char TEXT_FILE_CLIPPED[] =
    "<response clipped><NOTE>Due to the max output limit, only part of this file has been shown "
    "to you. You should retry this tool after you have searched inside the file with `grep -n` "
    "in order to find the line numbers of what you are looking for.</NOTE>";
static const char BINARY_FILE_CLIPPED[] =
    "<response clipped><NOTE>Due to the max output limit, only part of this file has been shown "
    "to you. Please use Python libraries to view the entire file or search for specific content "
    "within the file.</NOTE>";
static const char DIRECTORY_CLIPPED[] =
    "<response clipped><NOTE>Due to the max output limit, only part of this directory has been "
    "shown to you. You should use `ls -la` instead to view large directories "
    "incrementally.</NOTE>";
static const char REFUSED_SUFFIX[] = "\n[Error occurred in processing last action]";
static const char TRUNCATED_MARK[] = "\n[... Observation truncated due to length ...]\n";
/* The properties of the tool's JSON schema, in schema order. function_calling.py prints them as a
 * Python set, whose order depends on the interpreter's string hashing; this is one valid order. */
static const char *const VALID_PARAMS[] = {"command",    "path",          "file_text",
                                           "old_str",    "new_str",       "insert_line",
                                           "view_range", "security_risk", NULL};
/* OHEditor.SUPPORTED_BINARY_EXTENSIONS: converted to Markdown by `view`, refused by edits. */
static const char *const MARKDOWN_EXTENSIONS[] = {".docx", ".xlsx", ".pptx", ".pdf", ".mp3",
                                                  ".wav",  ".m4a",  ".flac", NULL};

struct history {
    char *path; /* normalized */
    char *text[HISTORY_DEPTH];
    size_t len[HISTORY_DEPTH];
    int n;
    struct history *next;
};

struct editor {
    char *workspace; /* normalized, or NULL: no "Maybe you meant" hint */
    struct history *hist;
};

/* How the call ended, which decides the framing of the text the model reads. */
enum outcome {
    OUT_OK,      /* the editor's output */
    OUT_ERROR,   /* "ERROR:\n" + message */
    OUT_REFUSED, /* an ErrorObservation: message + REFUSED_SUFFIX */
};

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 and Python's notion of characters                                                      */

/* Length of the valid (strict, as Python decodes it) UTF-8 sequence at s, or 0. */
static size_t u8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F)) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)) return 0;
        return 4;
    }
    return 0;
}

/* Checks s; *multibyte counts the non-ASCII characters. */
static bool u8_valid(const char *s, size_t n, size_t *multibyte)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, mb = 0;
    while (i < n) {
        size_t l = u8_valid_len(p + i, n - i);
        if (!l) return false;
        if (l > 1) mb++;
        i += l;
    }
    if (multibyte) *multibyte = mb;
    return true;
}

/* Decodes the character at s (valid UTF-8 expected; a stray byte decodes as itself). */
static uint32_t u8_decode(const char *s, size_t n, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t l = u8_valid_len(p, n);
    if (l <= 1) {
        *len = 1;
        return p[0];
    }
    *len = l;
    if (l == 2) return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    if (l == 3)
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
           ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

static void u8_add(struct buf *b, uint32_t cp)
{
    char t[4];
    if (cp < 0x80) {
        buf_addch(b, (char)cp);
        return;
    }
    if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        buf_add(b, t, 4);
    }
}

/* Appends s with every invalid byte replaced by U+FFFD (file names, which Python's
 * subprocess would have had to decode). */
static void add_u8_replacing(struct buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = u8_valid_len((const unsigned char *)s + i, n - i);
        if (l) {
            buf_add(b, s + i, l);
            i += l;
        } else {
            u8_add(b, 0xFFFD);
            i++;
        }
    }
}

/* Number of code points (Python's len()) of valid UTF-8. */
static size_t cp_count(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* Byte offset just after the first k code points. */
static size_t cp_offset(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (i < n && k > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}

/* Byte offset where the last k code points start. */
static size_t cp_offset_from_end(const char *s, size_t n, size_t k)
{
    size_t i = n;
    while (i > 0 && k > 0) {
        i--;
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
        k--;
    }
    return i;
}

/* str.isspace() */
static bool py_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* str.strip(): the [*b, *e) range of s without leading and trailing whitespace. */
static void py_strip(const char *s, size_t n, size_t *b, size_t *e)
{
    size_t i = 0, l;
    while (i < n && py_isspace(u8_decode(s + i, n - i, &l))) i += l;
    size_t j = n;
    while (j > i) {
        size_t k = j - 1;
        while (k > i && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        if (!py_isspace(u8_decode(s + k, j - k, &l))) break;
        j = k;
    }
    *b = i;
    *e = j;
}

/* maybe_truncate(): at most 16000 code points, the notice glued to the cut. */
static void add_truncated(struct buf *out, const char *s, size_t n, const char *notice)
{
    if (cp_count(s, n) <= MAX_RESPONSE_LEN) {
        buf_add(out, s, n);
        return;
    }
    buf_add(out, s, cp_offset(s, n, MAX_RESPONSE_LEN));
    buf_adds(out, notice);
}

/* ------------------------------------------------------------------------------------------ */
/* Python str() and repr() of argument values                                                  */

/* A rough str.isprintable() for characters beyond Latin-1 (no Unicode tables here). */
static bool py_isprintable(uint32_t c)
{
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
        (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
        (c >= 0xD800 && c <= 0xF8FF) || (c >= 0xFFF9 && c <= 0xFFFB) || c >= 0xF0000)
        return false;
    return true;
}

/* repr() of a str. */
static void py_repr_str(struct buf *b, const char *s, size_t n)
{
    char q = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n)) q = '"';
    buf_addch(b, q);
    size_t i = 0, l;
    while (i < n) {
        uint32_t c = u8_decode(s + i, n - i, &l);
        if (c == (uint32_t)q || c == '\\') {
            buf_addch(b, '\\');
            buf_addch(b, (char)c);
        } else if (c == '\t') {
            buf_adds(b, "\\t");
        } else if (c == '\n') {
            buf_adds(b, "\\n");
        } else if (c == '\r') {
            buf_adds(b, "\\r");
        } else if (py_isprintable(c)) {
            buf_add(b, s + i, l);
        } else if (c < 0x100) {
            buf_addf(b, "\\x%02x", c);
        } else if (c < 0x10000) {
            buf_addf(b, "\\u%04x", c);
        } else {
            buf_addf(b, "\\U%08x", c);
        }
        i += l;
    }
    buf_addch(b, q);
}

/* repr() of a float: the shortest digits that read back, positional between 1e-4 and 1e16. */
static void py_float_repr(struct buf *b, double x)
{
    if (isnan(x)) {
        buf_adds(b, "nan");
        return;
    }
    if (isinf(x)) {
        buf_adds(b, x < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    /* tmp is [-]D[.DDD]e[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    if (neg) buf_addch(b, '-');
    if (exp >= -4 && exp < 16) { /* repr() is positional for 1e-4 <= |x| < 1e16 */
        int decpt = exp + 1;
        if (decpt <= 0) {
            buf_adds(b, "0.");
            for (int i = 0; i < -decpt; i++) buf_addch(b, '0');
            buf_add(b, digits, nd);
        } else if ((size_t)decpt >= nd) {
            buf_add(b, digits, nd);
            for (size_t i = nd; i < (size_t)decpt; i++) buf_addch(b, '0');
            buf_adds(b, ".0");
        } else {
            buf_add(b, digits, (size_t)decpt);
            buf_addch(b, '.');
            buf_add(b, digits + decpt, nd - (size_t)decpt);
        }
        return;
    }
    buf_addch(b, digits[0]);
    if (nd > 1) {
        buf_addch(b, '.');
        buf_add(b, digits + 1, nd - 1);
    }
    buf_addf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static void py_repr(struct buf *b, const json_t *v);

/* str() of a JSON value as Python sees it after json.loads. */
static void py_str(struct buf *b, const json_t *v)
{
    if (json_is_string(v))
        buf_add(b, json_string_value(v), json_string_length(v));
    else
        py_repr(b, v);
}

static void py_repr(struct buf *b, const json_t *v)
{
    if (!v || json_is_null(v)) {
        buf_adds(b, "None");
    } else if (json_is_true(v)) {
        buf_adds(b, "True");
    } else if (json_is_false(v)) {
        buf_adds(b, "False");
    } else if (json_is_integer(v)) {
        buf_addf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        py_float_repr(b, json_real_value(v));
    } else if (json_is_string(v)) {
        py_repr_str(b, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        buf_addch(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) buf_adds(b, ", ");
            py_repr(b, json_array_get(v, i));
        }
        buf_addch(b, ']');
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        bool first = true;
        buf_addch(b, '{');
        json_object_foreach((json_t *)v, k, x)
        {
            if (!first) buf_adds(b, ", ");
            first = false;
            py_repr_str(b, k, strlen(k));
            buf_adds(b, ": ");
            py_repr(b, x);
        }
        buf_addch(b, '}');
    }
}

static const char *py_type(const json_t *v)
{
    if (!v || json_is_null(v)) return "NoneType";
    if (json_is_boolean(v)) return "bool";
    if (json_is_integer(v)) return "int";
    if (json_is_real(v)) return "float";
    if (json_is_string(v)) return "str";
    if (json_is_array(v)) return "list";
    return "dict";
}

static bool py_truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v)) return false;
    if (json_is_integer(v)) return json_integer_value(v) != 0;
    if (json_is_real(v)) return json_real_value(v) != 0.0;
    if (json_is_string(v)) return json_string_length(v) != 0;
    if (json_is_array(v)) return json_array_size(v) != 0;
    if (json_is_object(v)) return json_object_size(v) != 0;
    return true;
}

static bool py_is_number(const json_t *v)
{
    return json_is_number(v) || json_is_boolean(v);
}

static double py_number(const json_t *v)
{
    if (json_is_boolean(v)) return json_is_true(v) ? 1 : 0;
    return json_number_value(v);
}

/* `a == b` in Python (None for an absent value). */
static bool py_equal(const json_t *a, const json_t *b)
{
    bool an = !a || json_is_null(a), bn = !b || json_is_null(b);
    if (an || bn) return an && bn;
    if (py_is_number(a) && py_is_number(b)) return py_number(a) == py_number(b);
    return json_equal((json_t *)a, (json_t *)b);
}

/* ------------------------------------------------------------------------------------------ */
/* Paths, as pathlib.Path sees them                                                             */

/* str(Path(p)): repeated slashes collapse (except exactly two leading ones), "." components
 * and a trailing slash go, "" is ".". Every message quotes the path this way. */
static char *path_normalize(const char *p)
{
    struct buf b = BUF_INIT;
    size_t lead = 0;
    while (p[lead] == '/') lead++;
    if (lead == 2)
        buf_adds(&b, "//");
    else if (lead)
        buf_addch(&b, '/');
    size_t root = b.len;
    const char *s = p + lead;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l && !(l == 1 && s[0] == '.')) {
            if (b.len > root) buf_addch(&b, '/');
            buf_add(&b, s, l);
        }
        s += l;
        while (*s == '/') s++;
    }
    if (b.len == 0) buf_addch(&b, '.');
    return buf_detach(&b, NULL);
}

/* Path(dir) / rel, both normalized. */
static char *path_join(const char *dir, const char *rel)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, dir);
    if (strcmp(rel, ".") != 0) {
        if (b.len == 0 || b.data[b.len - 1] != '/') buf_addch(&b, '/');
        buf_adds(&b, rel);
    }
    return buf_detach(&b, NULL);
}

/* How fts (find) names a child: no doubled slash after a root ending in '/'. */
static char *find_join(const char *dir, const char *name)
{
    struct buf b = BUF_INIT;
    buf_adds(&b, dir);
    if (b.len == 0 || b.data[b.len - 1] != '/') buf_addch(&b, '/');
    buf_adds(&b, name);
    return buf_detach(&b, NULL);
}

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static bool path_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Path.suffix: from the last '.' of the last component, unless it leads or ends the name. */
static const char *path_suffix(const char *p)
{
    const char *name = strrchr(p, '/');
    name = name ? name + 1 : p;
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || dot[1] == '\0') return "";
    return dot;
}

static bool is_markdown_file(const char *p)
{
    const char *suf = path_suffix(p);
    for (int i = 0; MARKDOWN_EXTENSIONS[i]; i++)
        if (strcasecmp(suf, MARKDOWN_EXTENSIONS[i]) == 0) return true;
    return false;
}

/* str(OSError): "[Errno 2] No such file or directory: '/x'" (no file name: no suffix). */
static void add_oserror(struct buf *b, int err, const char *path)
{
    buf_addf(b, "[Errno %d] %s", err, strerror(err));
    if (path) {
        buf_adds(b, ": ");
        py_repr_str(b, path, strlen(path));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                        */

/* The encodings the editor distinguishes. OpenHands guesses one with chardet; we read UTF-8 (with
 * or without BOM) and fall back to Latin-1 for anything else, so the text stays valid UTF-8. */
enum encoding { ENC_UTF8, ENC_UTF8_SIG, ENC_LATIN1 };

struct text {
    char *s; /* valid UTF-8, newlines translated as Python's text mode does */
    size_t n;
    enum encoding enc;
};

static void text_free(struct text *t)
{
    free(t->s);
    t->s = NULL;
    t->n = 0;
}

/* Reads up to `max` bytes; -1 with errno set on failure. */
static int read_bytes(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    struct buf b = BUF_INIT;
    char tmp[65536];
    while (b.len < max) {
        size_t want = max - b.len < sizeof(tmp) ? max - b.len : sizeof(tmp);
        ssize_t r = read(fd, tmp, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            int e = errno;
            buf_release(&b);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0) break;
        buf_add(&b, tmp, (size_t)r);
    }
    close(fd);
    *data = buf_detach(&b, len);
    return 0;
}

/* Python's universal newlines: "\r\n" and a lone "\r" read as "\n". Returns a new string. */
static char *translate_newlines(const char *s, size_t n, size_t *out_len)
{
    char *r = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            r[j++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else {
            r[j++] = s[i];
        }
    }
    r[j] = '\0';
    *out_len = j;
    return r;
}

static void decode_text(const char *raw, size_t n, struct text *t)
{
    struct buf b = BUF_INIT;
    t->enc = ENC_UTF8;
    if (n >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0 && u8_valid(raw + 3, n - 3, NULL)) {
        t->enc = ENC_UTF8_SIG; /* chardet says UTF-8-SIG: the BOM is not part of the text */
        buf_add(&b, raw + 3, n - 3);
    } else if (u8_valid(raw, n, NULL)) {
        buf_add(&b, raw, n);
    } else {
        t->enc = ENC_LATIN1;
        for (size_t i = 0; i < n; i++) u8_add(&b, (unsigned char)raw[i]);
    }
    t->s = translate_newlines(b.data, b.len, &t->n);
    buf_release(&b);
}

/* read_file(): "Ran into {OSError} while trying to read {path}" on failure. */
static int read_text(const char *path, struct text *t, struct buf *err)
{
    char *raw;
    size_t n;
    if (read_bytes(path, (size_t)MAX_FILE_SIZE + 1, &raw, &n) != 0) {
        int e = errno;
        buf_adds(err, "Ran into ");
        add_oserror(err, e, path);
        buf_addf(err, " while trying to read %s", path);
        return -1;
    }
    decode_text(raw, n, t);
    free(raw);
    return 0;
}

/* write_file(): open(path, 'w', encoding) then write; the file is truncated even when the
 * text cannot be encoded, as Python's open() does before write() fails. */
static int write_text(const char *path, const char *s, size_t n, enum encoding enc, struct buf *err)
{
    struct buf b = BUF_INIT;
    int enc_err = 0;
    size_t bad_from = 0, bad_to = 0;
    uint32_t bad_cp = 0;
    if (enc == ENC_UTF8_SIG) buf_add(&b, "\xEF\xBB\xBF", 3);
    if (enc == ENC_LATIN1) {
        size_t i = 0, l, idx = 0;
        while (i < n) {
            uint32_t c = u8_decode(s + i, n - i, &l);
            if (c > 0xFF && !enc_err) {
                enc_err = 1;
                bad_from = idx;
                bad_cp = c;
                bad_to = idx + 1;
                size_t k = i + l;
                while (k < n) {
                    size_t l2;
                    if (u8_decode(s + k, n - k, &l2) <= 0xFF) break;
                    k += l2;
                    bad_to++;
                }
            }
            buf_addch(&b, (char)c);
            i += l;
            idx++;
        }
    } else {
        buf_add(&b, s, n);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        buf_release(&b);
        buf_adds(err, "Ran into ");
        add_oserror(err, e, path);
        buf_addf(err, " while trying to write to %s", path);
        return -1;
    }
    if (enc_err) {
        close(fd);
        buf_release(&b);
        buf_adds(err, "Ran into 'latin-1' codec can't encode ");
        if (bad_to == bad_from + 1)
            buf_addf(err, "character '%s%0*x' in position %zu", bad_cp > 0xFFFF ? "\\U" : "\\u",
                     bad_cp > 0xFFFF ? 8 : 4, bad_cp, bad_from);
        else
            buf_addf(err, "characters in position %zu-%zu", bad_from, bad_to - 1);
        buf_addf(err, ": ordinal not in range(256) while trying to write to %s", path);
        return -1;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            buf_release(&b);
            buf_adds(err, "Ran into ");
            add_oserror(err, e, NULL);
            buf_addf(err, " while trying to write to %s", path);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd);
    buf_release(&b);
    return 0;
}

/* binaryornot.check.is_binary() (0.4.4) on the first 1024 bytes. chardet's part is approximated: a
 * chunk "decodes" when it has a UTF-8/16/32 BOM, or is strict UTF-8 with at least four multibyte
 * characters (chardet's UTF-8 confidence passes 0.9 there). */
static bool chunk_is_binary(const unsigned char *b, size_t n)
{
    if (n == 0) return false;
    size_t nonprint = 0, low = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        bool printable =
            (c >= 32 && c <= 126) || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\b';
        if (!printable) nonprint++;
        if (c < 127) low++;
    }
    double r1 = (double)nonprint / (double)n, r2 = (double)low / (double)n;
    bool likely_binary = (r1 > 0.3 && r2 < 0.05) || (r1 > 0.8 && r2 > 0.8);
    bool decodable = false;
    size_t mb = 0;
    if (n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
        decodable = u8_valid((const char *)b + 3, n - 3, NULL);
    else if (n >= 4 && (memcmp(b, "\xFF\xFE\0\0", 4) == 0 || memcmp(b, "\0\0\xFE\xFF", 4) == 0))
        decodable = n % 4 == 0;
    else if (n >= 2 && (memcmp(b, "\xFF\xFE", 2) == 0 || memcmp(b, "\xFE\xFF", 2) == 0))
        decodable = n % 2 == 0;
    else if (u8_valid((const char *)b, n, &mb))
        decodable = mb >= 4;
    if (likely_binary) return !decodable;
    if (decodable) return false;
    return memchr(b, 0x00, n) || memchr(b, 0xFF, n);
}

static bool file_is_binary(const char *path)
{
    char *data;
    size_t n;
    if (read_bytes(path, BINARY_CHUNK, &data, &n) != 0)
        return false; /* binaryornot swallows the IOError: not binary */
    bool r = chunk_is_binary((const unsigned char *)data, n);
    free(data);
    return r;
}

/* validate_file(): regular files only; size first, then the binary test (skipped for the
 * Markdown-convertible extensions). */
static int validate_file(const char *path, struct buf *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if ((long long)st.st_size > MAX_FILE_SIZE) {
        buf_addf(err,
                 "File validation failed for %s: File is too large (%.1fMB). Maximum allowed "
                 "size is 10MB.",
                 path, (double)st.st_size / 1024 / 1024);
        return -1;
    }
    if (is_markdown_file(path)) return 0;
    if (file_is_binary(path)) {
        buf_addf(err,
                 "File validation failed for %s: File appears to be binary and this file type "
                 "cannot be read or edited by this tool.",
                 path);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Lines, numbering                                                                             */

/* Lines as Python iterates a text file: each ends after '\n'; a last line may lack it. */
static long long count_lines(const char *s, size_t n)
{
    long long c = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n') c++;
    if (n && s[n - 1] != '\n') c++;
    return c;
}

/* The bytes of lines first..last (1-based, inclusive, clamped), terminators included. */
static void line_span(const char *s, size_t n, long long first, long long last, size_t *b,
                      size_t *e)
{
    long long line = 1;
    size_t i = 0;
    if (first < 1) first = 1;
    while (i < n && line < first) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) {
            i = n;
            break;
        }
        i = (size_t)(nl - s) + 1;
        line++;
    }
    *b = line < first ? n : i;
    while (i < n && line <= last) {
        const char *nl = memchr(s + i, '\n', n - i);
        i = nl ? (size_t)(nl - s) + 1 : n;
        line++;
    }
    *e = last < first ? *b : (i < *b ? *b : i);
}

/* A line number as Python computed it: an int, or a float when insert_line was one. */
struct pynum {
    bool is_float;
    long long i;
    double f;
};

static void add_lineno(struct buf *out, struct pynum start, long long k)
{
    if (!start.is_float) {
        buf_addf(out, "%6lld", start.i + k);
        return;
    }
    struct buf t = BUF_INIT; /* f'{x:6}' of a float: repr, right-aligned in 6 */
    py_float_repr(&t, start.f + (double)k);
    for (size_t i = t.len; i < 6; i++) buf_addch(out, ' ');
    buf_add(out, t.data, t.len);
    buf_release(&t);
}

/* _make_output(): truncate, then number every piece of text.split('\n'). */
static void make_output(struct buf *out, const char *s, size_t n, const char *desc,
                        struct pynum start)
{
    struct buf t = BUF_INIT;
    add_truncated(&t, s, n, TEXT_FILE_CLIPPED);
    buf_addf(out, "Here's the result of running `cat -n` on %s:\n", desc);
    const char *p = t.data, *end = t.data + t.len;
    for (long long k = 0;; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (k) buf_addch(out, '\n');
        add_lineno(out, start, k);
        buf_addch(out, '\t');
        buf_add(out, p, nl ? (size_t)(nl - p) : (size_t)(end - p));
        if (!nl) break;
        p = nl + 1;
    }
    buf_addch(out, '\n');
    buf_release(&t);
}

static struct pynum int_num(long long i)
{
    struct pynum r = {false, i, (double)i};
    return r;
}

/* Length of a str.splitlines() boundary at s, or 0. */
static size_t splitlines_sep(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (c == '\r') return n >= 2 && s[1] == '\n' ? 2 : 1;
    if (c == '\n' || c == '\v' || c == '\f' || c == 0x1C || c == 0x1D || c == 0x1E) return 1;
    if (c == 0xC2 && n >= 2 && (unsigned char)s[1] == 0x85) return 2;
    if (c == 0xE2 && n >= 3 && (unsigned char)s[1] == 0x80 &&
        ((unsigned char)s[2] == 0xA8 || (unsigned char)s[2] == 0xA9))
        return 3;
    return 0;
}

/* '\n'.join(s.splitlines()) */
static void add_splitlines_joined(struct buf *out, const char *s, size_t n)
{
    size_t i = 0, start = out->len;
    bool ended_with_sep = false;
    while (i < n) {
        size_t l = splitlines_sep(s + i, n - i);
        if (l) {
            buf_addch(out, '\n');
            i += l;
            ended_with_sep = true;
        } else {
            buf_addch(out, s[i]);
            i++;
            ended_with_sep = false;
        }
    }
    if (ended_with_sep && out->len > start) out->len--, out->data[out->len] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* History                                                                                      */

static struct history *history_find(struct editor *ed, const char *path, bool create)
{
    for (struct history *h = ed->hist; h; h = h->next)
        if (strcmp(h->path, path) == 0) return h;
    if (!create) return NULL;
    struct history *h = xcalloc(1, sizeof(*h));
    h->path = xstrdup(path);
    h->next = ed->hist;
    ed->hist = h;
    return h;
}

/* add_history(): push; the oldest of more than 10 entries is dropped. */
static void history_push(struct editor *ed, const char *path, const char *s, size_t n)
{
    struct history *h = history_find(ed, path, true);
    if (h->n == HISTORY_DEPTH) {
        free(h->text[0]);
        memmove(h->text, h->text + 1, (HISTORY_DEPTH - 1) * sizeof(h->text[0]));
        memmove(h->len, h->len + 1, (HISTORY_DEPTH - 1) * sizeof(h->len[0]));
        h->n--;
    }
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    h->text[h->n] = c;
    h->len[h->n] = n;
    h->n++;
}

/* pop_last_history(): the newest entry (caller frees), or NULL. */
static char *history_pop(struct editor *ed, const char *path, size_t *n)
{
    struct history *h = history_find(ed, path, false);
    if (!h || h->n == 0) return NULL;
    h->n--;
    *n = h->len[h->n];
    return h->text[h->n];
}

/* ------------------------------------------------------------------------------------------ */
/* Unified diff (for the events; the model never sees it)                                      */

struct line {
    const char *p;
    size_t n; /* with the '\n', if any */
};

static struct line *split_lines(const char *s, size_t n, size_t *count)
{
    size_t cap = 16, c = 0;
    struct line *v = xmalloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - s) + 1 : n;
        if (c == cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[c].p = s + i;
        v[c].n = e - i;
        c++;
        i = e;
    }
    *count = c;
    return v;
}

static bool line_eq(const struct line *a, const struct line *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* Myers' O(ND) diff of a[0..n) and b[0..m): fills ops ('=', '-', '+') in order and returns
 * their number, or 0 when the edit distance passes DIFF_MAX_D (the caller then replaces). */
static size_t myers(const struct line *a, size_t n, const struct line *b, size_t m, char *ops)
{
    long max = (long)(n + m);
    long dmax = max < DIFF_MAX_D ? max : DIFF_MAX_D;
    int **trace = xcalloc((size_t)dmax + 1, sizeof(*trace)); /* trace[d][k + d], k in -d..d */
    int *v = xcalloc((size_t)(2 * max + 3), sizeof(*v));
    long off = max + 1, dfound = -1;
    for (long d = 0; d <= dmax && dfound < 0; d++) {
        for (long k = -d; k <= d; k += 2) {
            long x;
            if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
                x = v[off + k + 1]; /* down: an insertion */
            else
                x = v[off + k - 1] + 1; /* right: a deletion */
            long y = x - k;
            while (x < (long)n && y < (long)m && line_eq(&a[x], &b[y])) x++, y++;
            v[off + k] = (int)x;
            if (x >= (long)n && y >= (long)m) {
                dfound = d;
                break;
            }
        }
        trace[d] = xmalloc((size_t)(2 * d + 1) * sizeof(int));
        for (long k = -d; k <= d; k++) trace[d][k + d] = v[off + k];
    }
    size_t nops = 0;
    if (dfound >= 0) {
        char *rev = xmalloc(n + m + 1);
        size_t r = 0;
        long x = (long)n, y = (long)m;
        for (long d = dfound; d > 0; d--) {
            const int *pv = trace[d - 1] + (d - 1); /* pv[k] for k in -(d-1)..d-1 */
            long k = x - y, pk;
            if (k == -d || (k != d && pv[k - 1] < pv[k + 1]))
                pk = k + 1;
            else
                pk = k - 1;
            long px = pv[pk], py = px - pk;
            long sx = pk == k + 1 ? px : px + 1, sy = pk == k + 1 ? py + 1 : py;
            while (x > sx && y > sy) { /* the diagonal after the edit step */
                rev[r++] = '=';
                x--, y--;
            }
            if (pk == k + 1) {
                rev[r++] = '+';
                y--;
            } else {
                rev[r++] = '-';
                x--;
            }
        }
        while (x > 0 && y > 0) {
            rev[r++] = '=';
            x--, y--;
        }
        for (size_t i = 0; i < r; i++) ops[i] = rev[r - 1 - i];
        nops = r;
        free(rev);
    }
    for (long d = 0; d <= dmax; d++) free(trace[d]);
    free(trace);
    free(v);
    return nops;
}

static void add_range(struct buf *b, size_t start, size_t count)
{
    if (count == 1)
        buf_addf(b, "%zu", start + 1);
    else if (count == 0)
        buf_addf(b, "%zu,0", start);
    else
        buf_addf(b, "%zu,%zu", start + 1, count);
}

static void add_diff_line(struct buf *b, char tag, const struct line *l)
{
    buf_addch(b, tag == '=' ? ' ' : tag);
    buf_add(b, l->p, l->n);
    if (l->n == 0 || l->p[l->n - 1] != '\n') buf_adds(b, "\n\\ No newline at end of file\n");
}

/* `diff -u` of two texts with a/ and b/ headers and 3 lines of context; "" when equal. */
static char *unified_diff(const char *old, size_t on, const char *new_, size_t nn, const char *path)
{
    size_t n, m;
    struct line *a = split_lines(old, on, &n), *b = split_lines(new_, nn, &m);
    size_t pre = 0;
    while (pre < n && pre < m && line_eq(&a[pre], &b[pre])) pre++;
    size_t suf = 0;
    while (suf < n - pre && suf < m - pre && line_eq(&a[n - 1 - suf], &b[m - 1 - suf])) suf++;
    size_t mn = n - pre - suf, mm = m - pre - suf;
    size_t cap = n + m + 1;
    char *ops = xmalloc(cap);
    size_t nops = 0;
    for (size_t i = 0; i < pre; i++) ops[nops++] = '=';
    size_t mid = mn + mm ? myers(a + pre, mn, b + pre, mm, ops + nops) : 0;
    if (mid == 0 && mn + mm) {
        for (size_t i = 0; i < mn; i++) ops[nops++] = '-';
        for (size_t i = 0; i < mm; i++) ops[nops++] = '+';
    } else {
        nops += mid;
    }
    for (size_t i = 0; i < suf; i++) ops[nops++] = '=';

    struct buf d = BUF_INIT;
    if (mn + mm) {
        const char *shown = path[0] == '/' ? path + 1 : path;
        buf_addf(&d, "--- a/%s\n+++ b/%s\n", shown, shown);
        size_t i = 0, ai = 0, bi = 0;
        while (i < nops) {
            /* Find the next change. */
            size_t c = i;
            size_t ca = ai, cb = bi;
            while (c < nops && ops[c] == '=') c++, ca++, cb++;
            if (c == nops) break;
            size_t ctx = c - i < DIFF_CONTEXT ? c - i : DIFF_CONTEXT;
            size_t hs = c - ctx, ha = ca - ctx, hb = cb - ctx;
            /* Extend over changes separated by at most 2 * context equal lines. */
            size_t e = c;
            for (;;) {
                while (e < nops && ops[e] != '=') e++;
                size_t run = 0;
                while (e + run < nops && ops[e + run] == '=') run++;
                if (e + run < nops && run <= 2 * DIFF_CONTEXT) {
                    e += run;
                    continue;
                }
                e += run < DIFF_CONTEXT ? run : DIFF_CONTEXT;
                break;
            }
            size_t acount = 0, bcount = 0;
            for (size_t k = hs; k < e; k++) {
                if (ops[k] != '+') acount++;
                if (ops[k] != '-') bcount++;
            }
            buf_adds(&d, "@@ -");
            add_range(&d, ha, acount);
            buf_adds(&d, " +");
            add_range(&d, hb, bcount);
            buf_adds(&d, " @@\n");
            size_t x = ha, y = hb;
            for (size_t k = hs; k < e; k++) {
                if (ops[k] == '=') {
                    add_diff_line(&d, '=', &a[x]);
                    x++, y++;
                } else if (ops[k] == '-') {
                    add_diff_line(&d, '-', &a[x++]);
                } else {
                    add_diff_line(&d, '+', &b[y++]);
                }
            }
            i = e;
            ai = x;
            bi = y;
        }
    }
    free(ops);
    free(a);
    free(b);
    if (d.len == 0) return xstrdup("");
    return buf_detach(&d, NULL);
}

static char *dup_bytes(const char *s, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

static void set_edit(struct editor_result *res, const char *path, const char *old, size_t on,
                     bool has_old, const char *new_, size_t nn)
{
    res->old_text = has_old ? dup_bytes(old, on) : NULL;
    res->new_text = dup_bytes(new_, nn);
    res->diff = unified_diff(has_old ? old : "", has_old ? on : 0, new_, nn, path);
}

/* ------------------------------------------------------------------------------------------ */
/* view                                                                                         */

struct strv {
    char **v;
    size_t n, cap;
};

static void strv_push(struct strv *s, char *p)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = p;
}

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct walk {
    char *pat_top, *pat_sub; /* find's two -path patterns (hidden at depth 1, at depth 2) */
    struct strv printed;
    struct buf stderr_text;
};

static void walk_print(struct walk *w, const char *p)
{
    if (fnmatch(w->pat_top, p, 0) == 0 || fnmatch(w->pat_sub, p, 0) == 0) return;
    strv_push(&w->printed, xstrdup(p));
}

/* Visits the entries of dir (depth 1 or 2) like `find -L`: stat follows links, directories
 * that are their own ancestors are loops (a warning, not listed, not entered). */
static void walk_dir(struct walk *w, const char *dir, int depth, const struct stat *anc,
                     const char *const *anc_path, int nanc)
{
    DIR *d = opendir(dir);
    if (!d) {
        buf_addf(&w->stderr_text, "find: \xe2\x80\x98%s\xe2\x80\x99: %s\n", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = find_join(dir, de->d_name);
        struct stat st;
        bool is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        int loop = -1;
        for (int i = 0; is_dir && i < nanc; i++)
            if (anc[i].st_dev == st.st_dev && anc[i].st_ino == st.st_ino) loop = i;
        if (loop >= 0) {
            buf_addf(&w->stderr_text,
                     "find: File system loop detected; \xe2\x80\x98%s\xe2\x80\x99 is part of "
                     "the same file system loop as \xe2\x80\x98%s\xe2\x80\x99.\n",
                     p, anc_path[loop]);
            free(p);
            continue;
        }
        walk_print(w, p);
        if (is_dir && depth < 2) {
            struct stat anc2[2] = {anc[0], st};
            const char *anc2_path[2] = {anc_path[0], p};
            walk_dir(w, p, depth + 1, anc2, anc2_path, 2);
        }
        free(p);
    }
    closedir(d);
}

/* Counts `find -L {path} -mindepth 1 -maxdepth 1 -name '.*'` output lines. */
static long count_hidden(const char *root, const struct stat *rst)
{
    DIR *d = opendir(root);
    if (!d) return 0;
    long c = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = find_join(root, de->d_name);
        struct stat st;
        bool loop = stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == rst->st_dev &&
                    st.st_ino == rst->st_ino;
        free(p);
        if (loop) continue;
        c++;
        for (const char *s = de->d_name; *s; s++)
            if (*s == '\n') c++;
    }
    closedir(d);
    return c;
}

static int view_dir(const char *path, json_t *view_range, struct buf *out, struct buf *err)
{
    if (py_truthy(view_range)) {
        buf_adds(err, "Invalid `view_range` parameter: ");
        py_str(err, view_range);
        buf_adds(err,
                 ". The `view_range` parameter is not allowed when `path` points to a directory.");
        return -1;
    }
    struct stat rst;
    if (stat(path, &rst) != 0) memset(&rst, 0, sizeof(rst));
    long hidden = count_hidden(path, &rst);

    struct walk w = {.stderr_text = BUF_INIT};
    struct buf pat = BUF_INIT;
    buf_addf(&pat, "%s/\\.*", path);
    w.pat_top = buf_detach(&pat, NULL);
    buf_addf(&pat, "%s/*/\\.*", path);
    w.pat_sub = buf_detach(&pat, NULL);
    walk_print(&w, path);
    const char *anc_path[1] = {path};
    walk_dir(&w, path, 1, &rst, anc_path, 1);
    free(w.pat_top);
    free(w.pat_sub);

    int rc = 0;
    if (w.stderr_text.len) {
        /* The find failed somewhere: OHEditor returns its stderr as the error. */
        struct buf t = BUF_INIT;
        add_u8_replacing(&t, w.stderr_text.data, w.stderr_text.len);
        add_truncated(err, t.data, t.len, DIRECTORY_CLIPPED);
        buf_release(&t);
        rc = -1;
        goto done;
    }

    /* `| sort`: the printed paths are lines; sort them bytewise (C.UTF-8 collation). */
    struct buf all = BUF_INIT;
    for (size_t i = 0; i < w.printed.n; i++) {
        buf_adds(&all, w.printed.v[i]);
        buf_addch(&all, '\n');
    }
    struct strv lines = {0};
    for (size_t i = 0; i < all.len;) {
        char *nl = memchr(all.data + i, '\n', all.len - i);
        size_t e = (size_t)(nl - all.data);
        strv_push(&lines, dup_bytes(all.data + i, e - i));
        i = e + 1;
    }
    qsort(lines.v, lines.n, sizeof(*lines.v), cmp_str);
    struct buf sorted = BUF_INIT;
    for (size_t i = 0; i < lines.n; i++) {
        add_u8_replacing(&sorted, lines.v[i], strlen(lines.v[i]));
        buf_addch(&sorted, '\n');
    }
    strv_free(&lines);
    buf_release(&all);

    struct buf stdout_text = BUF_INIT;
    add_truncated(&stdout_text, sorted.data, sorted.len, DIRECTORY_CLIPPED);
    buf_release(&sorted);
    size_t sb, se;
    py_strip(stdout_text.data, stdout_text.len, &sb, &se);

    buf_addf(out,
             "Here's the files and directories up to 2 levels deep in %s, excluding hidden "
             "items:\n",
             path);
    for (size_t i = sb; i < se;) {
        const char *nl = memchr(stdout_text.data + i, '\n', se - i);
        size_t e = nl ? (size_t)(nl - stdout_text.data) : se;
        char *p = dup_bytes(stdout_text.data + i, e - i);
        if (i > sb) buf_addch(out, '\n');
        buf_adds(out, p);
        if (path_is_dir(p)) buf_addch(out, '/');
        free(p);
        i = e + 1;
    }
    buf_release(&stdout_text);
    if (hidden > 0)
        buf_addf(out,
                 "\n\n%ld hidden files/directories in this directory are excluded. You can use "
                 "'ls -la %s' to see them.",
                 hidden, path);
done:
    strv_free(&w.printed);
    buf_release(&w.stderr_text);
    return rc;
}

static int view_file(const char *path, json_t *view_range, struct buf *out, struct buf *err)
{
    if (validate_file(path, err) != 0) return -1;
    struct text t;
    if (read_text(path, &t, err) != 0) return -1;
    if (is_markdown_file(path)) {
        /* OpenHands converts these with markitdown; a text file with such a name is shown
         * as it is in the same frame. */
        buf_addf(out, "Here's the content of the file %s displayed in Markdown format:\n", path);
        add_truncated(out, t.s, t.n, BINARY_FILE_CLIPPED);
        buf_addch(out, '\n');
        text_free(&t);
        return 0;
    }
    long long num_lines = count_lines(t.s, t.n);
    int rc = -1;
    if (!py_truthy(view_range)) {
        make_output(out, t.s, t.n, path, int_num(1));
        rc = 0;
        goto done;
    }
    if (json_is_number(view_range) || json_is_boolean(view_range)) {
        /* len() of a number: the TypeError text reaches the model. */
        buf_addf(err, "object of type '%s' has no len()", py_type(view_range));
        goto done;
    }
    if (!json_is_array(view_range) || json_array_size(view_range) != 2 ||
        !py_is_number(json_array_get(view_range, 0)) ||
        !py_is_number(json_array_get(view_range, 1)) ||
        json_is_real(json_array_get(view_range, 0)) ||
        json_is_real(json_array_get(view_range, 1))) {
        buf_adds(err, "Invalid `view_range` parameter: ");
        py_str(err, view_range);
        buf_adds(err, ". It should be a list of two integers.");
        goto done;
    }
    json_t *js = json_array_get(view_range, 0), *je = json_array_get(view_range, 1);
    long long start = (long long)py_number(js), end = (long long)py_number(je);
    if (json_is_integer(js)) start = json_integer_value(js);
    if (json_is_integer(je)) end = json_integer_value(je);
    if (start < 1 || start > num_lines) {
        buf_adds(err, "Invalid `view_range` parameter: ");
        py_str(err, view_range);
        buf_adds(err, ". Its first element `");
        py_str(err, js);
        buf_addf(err, "` should be within the range of lines of the file: [1, %lld].", num_lines);
        goto done;
    }
    bool warn = false;
    if (end == -1) {
        end = num_lines;
    } else if (end > num_lines) {
        warn = true;
        end = num_lines;
    }
    if (end < start) {
        buf_adds(err, "Invalid `view_range` parameter: ");
        py_str(err, view_range);
        buf_adds(err, ". Its second element `");
        py_str(err, je);
        buf_adds(err, "` should be greater than or equal to the first element `");
        py_str(err, js);
        buf_adds(err, "`.");
        goto done;
    }
    if (warn)
        buf_addf(out,
                 "NOTE: We only show up to %lld since there're only %lld lines in this file.\n",
                 num_lines, num_lines);
    size_t b, e;
    line_span(t.s, t.n, start, end, &b, &e);
    struct buf joined = BUF_INIT; /* '\n'.join(content.splitlines()): no extra last line */
    add_splitlines_joined(&joined, t.s + b, e - b);
    make_output(out, joined.data, joined.len, path, int_num(start));
    buf_release(&joined);
    rc = 0;
done:
    text_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* create, str_replace, insert, undo_edit                                                       */

static int cmd_create(struct editor *ed, const char *path, json_t *file_text, struct buf *out,
                      struct buf *err, struct editor_result *res)
{
    if (!file_text || json_is_null(file_text)) {
        buf_adds(err, "Parameter `file_text` is required for command: create.");
        return -1;
    }
    if (!json_is_string(file_text)) {
        /* open(path, 'w') succeeded, then f.write() refused the value. */
        if (write_text(path, "", 0, ENC_UTF8, err) != 0) return -1;
        buf_addf(err, "Ran into write() argument must be str, not %s while trying to write to %s",
                 py_type(file_text), path);
        return -1;
    }
    const char *s = json_string_value(file_text);
    size_t n = json_string_length(file_text);
    if (write_text(path, s, n, ENC_UTF8, err) != 0) return -1;
    history_push(ed, path, s, n);
    buf_addf(out, "File created successfully at: %s", path);
    set_edit(res, path, NULL, 0, false, s, n);
    return 0;
}

/* Non-overlapping literal matches, as re.finditer(re.escape(old)) finds them. Fills the start
 * line of each (deduplicated, ascending) and the offset of the first. */
static size_t find_matches(const char *s, size_t n, const char *pat, size_t pn, size_t *first,
                           long long **lines_out, size_t *nlines)
{
    size_t count = 0, cap = 0, nl = 0;
    long long *lines = NULL;
    long long line = 1;
    size_t scanned = 0; /* newlines counted up to here */
    size_t i = 0;
    for (;;) {
        const char *m;
        if (pn == 0)
            m = i <= n ? s + i : NULL;
        else
            m = i + pn <= n ? memmem(s + i, n - i, pat, pn) : NULL;
        if (!m) break;
        size_t pos = (size_t)(m - s);
        for (; scanned < pos; scanned++)
            if (s[scanned] == '\n') line++;
        if (count == 0) *first = pos;
        count++;
        if (nl == 0 || lines[nl - 1] != line) {
            if (nl == cap) {
                cap = cap ? 2 * cap : 16;
                lines = xrealloc(lines, cap * sizeof(*lines));
            }
            lines[nl++] = line;
        }
        if (pn == 0) {
            if (pos >= n) break;
            size_t l;
            u8_decode(s + pos, n - pos, &l);
            i = pos + l;
        } else {
            i = pos + pn;
        }
    }
    *lines_out = lines;
    *nlines = nl;
    return count;
}

static int cmd_str_replace(struct editor *ed, const char *path, json_t *old_j, json_t *new_j,
                           struct buf *out, struct buf *err, struct editor_result *res)
{
    if (!old_j || json_is_null(old_j)) {
        buf_adds(err, "Parameter `old_str` is required for command: str_replace.");
        return -1;
    }
    if (py_equal(new_j, old_j)) {
        buf_adds(err, "Invalid `new_str` parameter: ");
        py_str(err, new_j);
        buf_adds(err, ". No replacement was performed. `new_str` and `old_str` must be different.");
        return -1;
    }
    if (validate_file(path, err) != 0) return -1;
    /* new_str = new_str or '' */
    const char *ns = "";
    size_t nn = 0;
    bool new_not_str = false;
    if (py_truthy(new_j)) {
        if (json_is_string(new_j)) {
            ns = json_string_value(new_j);
            nn = json_string_length(new_j);
        } else {
            new_not_str = true;
        }
    }
    struct text t;
    if (read_text(path, &t, err) != 0) return -1;
    int rc = -1;
    long long *lines = NULL;
    size_t nlines = 0, first = 0;
    if (!json_is_string(old_j)) {
        buf_addf(err, "decoding to str: need a bytes-like object, %s found", py_type(old_j));
        goto done;
    }
    const char *os = json_string_value(old_j);
    size_t on = json_string_length(old_j);
    size_t count = find_matches(t.s, t.n, os, on, &first, &lines, &nlines);
    if (count == 0) {
        /* Not found: retry with old_str and new_str stripped of surrounding whitespace. */
        if (new_not_str) {
            buf_addf(err, "'%s' object has no attribute 'strip'", py_type(new_j));
            goto done;
        }
        size_t b, e;
        py_strip(os, on, &b, &e);
        os += b;
        on = e - b;
        py_strip(ns, nn, &b, &e);
        ns += b;
        nn = e - b;
        free(lines);
        lines = NULL;
        count = find_matches(t.s, t.n, os, on, &first, &lines, &nlines);
        if (count == 0) {
            buf_adds(err, "No replacement was performed, old_str `");
            buf_add(err, os, on);
            buf_addf(err, "` did not appear verbatim in %s.", path);
            goto done;
        }
    }
    if (count > 1) {
        buf_adds(err, "No replacement was performed. Multiple occurrences of old_str `");
        buf_add(err, os, on);
        buf_adds(err, "` in lines [");
        for (size_t i = 0; i < nlines; i++) buf_addf(err, "%s%lld", i ? ", " : "", lines[i]);
        buf_adds(err, "]. Please ensure it is unique.");
        goto done;
    }
    if (new_not_str) {
        buf_addf(err, "can only concatenate str (not \"%s\") to str", py_type(new_j));
        goto done;
    }
    long long line = lines[0];
    struct buf nc = BUF_INIT;
    buf_add(&nc, t.s, first);
    buf_add(&nc, ns, nn);
    buf_add(&nc, t.s + first + on, t.n - first - on);
    if (write_text(path, nc.data, nc.len, t.enc, err) != 0) {
        buf_release(&nc);
        goto done;
    }
    history_push(ed, path, t.s, t.n);

    /* The snippet: lines max(1, L-3) .. L+4+newlines(new_str) of the file as read back. */
    long long nl_new = 0;
    for (size_t i = 0; i < nn; i++)
        if (ns[i] == '\n') nl_new++;
    long long start = line - SNIPPET_CONTEXT > 0 ? line - SNIPPET_CONTEXT : 0;
    long long end = line + SNIPPET_CONTEXT + nl_new;
    size_t rn;
    char *reread = translate_newlines(nc.data, nc.len, &rn);
    size_t b, e;
    line_span(reread, rn, start + 1, end, &b, &e);
    struct buf desc = BUF_INIT;
    buf_addf(&desc, "a snippet of %s", path);
    buf_addf(out, "The file %s has been edited. ", path);
    make_output(out, reread + b, e - b, desc.data, int_num(start + 1));
    buf_adds(out, "Review the changes and make sure they are as expected. Edit the file again if "
                  "necessary.");
    buf_release(&desc);
    free(reread);
    set_edit(res, path, t.s, t.n, true, nc.data, nc.len);
    buf_release(&nc);
    rc = 0;
done:
    free(lines);
    text_free(&t);
    return rc;
}

/* insert_line after the V0 glue: absent/None, a number (int, float or bool), or a value that
 * cannot be compared with an int. */
struct lineno_arg {
    enum { LN_NONE, LN_NUMBER, LN_OTHER } kind;
    double v;
    bool is_float;
    struct buf text;  /* str() of the value */
    const char *type; /* LN_OTHER: the Python type name */
};

static int cmd_insert(struct editor *ed, const char *path, const struct lineno_arg *il,
                      json_t *new_j, struct buf *out, struct buf *err, struct editor_result *res)
{
    if (il->kind == LN_NONE) {
        buf_adds(err, "Parameter `insert_line` is required for command: insert.");
        return -1;
    }
    if (!new_j || json_is_null(new_j)) {
        buf_adds(err, "Parameter `new_str` is required for command: insert.");
        return -1;
    }
    if (validate_file(path, err) != 0) return -1;
    struct text t;
    if (read_text(path, &t, err) != 0) return -1;
    int rc = -1;
    long long num_lines = count_lines(t.s, t.n);
    if (il->kind == LN_OTHER) {
        buf_addf(err, "'<' not supported between instances of '%s' and 'int'", il->type);
        goto done;
    }
    double v = il->v;
    if (v < 0 || v > (double)num_lines) {
        buf_addf(err,
                 "Invalid `insert_line` parameter: %s. It should be within the range of allowed "
                 "values: [0, %lld]",
                 il->text.data, num_lines);
        goto done;
    }
    if (!json_is_string(new_j)) {
        buf_addf(err, "'%s' object has no attribute 'split'", py_type(new_j));
        goto done;
    }
    const char *ns = json_string_value(new_j);
    size_t nn = json_string_length(new_j);
    long long k = 1; /* len(new_str.split('\n')) */
    for (size_t i = 0; i < nn; i++)
        if (ns[i] == '\n') k++;

    /* Lines 1..N as they were, each inserted line + '\n' (glued to a last line without one),
     * then the rest. */
    long long before = (long long)v; /* v >= 0 here: truncation is floor() */
    size_t b, e;
    line_span(t.s, t.n, 1, before, &b, &e);
    struct buf nc = BUF_INIT;
    buf_add(&nc, t.s, e);
    for (size_t i = 0; i <= nn; i++) {
        const char *nl = memchr(ns + i, '\n', nn - i);
        size_t le = nl ? (size_t)(nl - ns) : nn;
        buf_add(&nc, ns + i, le - i);
        buf_addch(&nc, '\n');
        i = le;
    }
    buf_add(&nc, t.s + e, t.n - e);
    if (write_text(path, nc.data, nc.len, t.enc, err) != 0) {
        buf_release(&nc);
        goto done;
    }
    history_push(ed, path, t.s, t.n);
    size_t rn;
    char *reread = translate_newlines(nc.data, nc.len, &rn);
    buf_release(&nc);

    /* start = max(0, N-4); end = min(num_lines + k, N + 4 + k); lines start+1..end, numbered
     * from max(1, N-3); Python keeps floats floats. */
    double start = v - SNIPPET_CONTEXT > 0 ? v - SNIPPET_CONTEXT : 0;
    double end = v + SNIPPET_CONTEXT + (double)k < (double)(num_lines + k)
                     ? v + SNIPPET_CONTEXT + (double)k
                     : (double)(num_lines + k);
    long long first = (long long)(start + 1), last = (long long)end; /* both >= 0 */
    if ((double)first < start + 1) first++;                          /* ceil() */
    line_span(reread, rn, first, last, &b, &e);
    struct pynum num;
    if (v - SNIPPET_CONTEXT + 1 > 1) {
        num.is_float = il->is_float;
        num.f = v - SNIPPET_CONTEXT + 1;
        num.i = (long long)num.f;
    } else {
        num = int_num(1);
    }
    buf_addf(out, "The file %s has been edited. ", path);
    make_output(out, reread + b, e - b, "a snippet of the edited file", num);
    buf_adds(out, "Review the changes and make sure they are as expected (correct indentation, no "
                  "duplicate lines, etc). Edit the file again if necessary.");
    set_edit(res, path, t.s, t.n, true, reread, rn);
    free(reread);
    rc = 0;
done:
    text_free(&t);
    return rc;
}

static int cmd_undo(struct editor *ed, const char *path, struct buf *out, struct buf *err,
                    struct editor_result *res)
{
    if (validate_file(path, err) != 0) return -1;
    struct text t;
    if (read_text(path, &t, err) != 0) return -1;
    size_t on;
    char *old = history_pop(ed, path, &on);
    if (!old) {
        buf_addf(err, "No edit history found for %s.", path);
        text_free(&t);
        return -1;
    }
    int rc = -1;
    if (write_text(path, old, on, t.enc, err) != 0) goto done;
    buf_addf(out, "Last edit to %s undone successfully. ", path);
    make_output(out, old, on, path, int_num(1));
    set_edit(res, path, t.s, t.n, true, old, on);
    rc = 0;
done:
    free(old);
    text_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The call                                                                                     */

/* validate_path(): absolute, exists (or not, for create), directories only for view, the
 * Markdown-convertible types only for view. */
static int validate_path(struct editor *ed, const char *command, const char *path, struct buf *err)
{
    if (path[0] != '/') {
        buf_addf(err,
                 "Invalid `path` parameter: %s. The path should be an absolute path, starting "
                 "with `/`.",
                 path);
        if (ed->workspace) {
            char *s = path_join(ed->workspace, path);
            if (path_exists(s)) buf_addf(err, " Maybe you meant %s?", s);
            free(s);
        }
        return -1;
    }
    bool exists = path_exists(path);
    bool create = command && strcmp(command, "create") == 0;
    bool view = command && strcmp(command, "view") == 0;
    if (create && exists) {
        buf_addf(err,
                 "Invalid `path` parameter: %s. File already exists at: %s. Cannot overwrite "
                 "files using command `create`.",
                 path, path);
        return -1;
    }
    if (!create && !exists) {
        buf_addf(err,
                 "Invalid `path` parameter: %s. The path %s does not exist. Please provide a valid "
                 "path.",
                 path, path);
        return -1;
    }
    if (!view) {
        if (path_is_dir(path)) {
            buf_addf(err,
                     "Invalid `path` parameter: %s. The path %s is a directory and only the "
                     "`view` command can be used on directories.",
                     path, path);
            return -1;
        }
        if (is_markdown_file(path)) {
            buf_addf(err,
                     "Invalid `path` parameter: %s. The path %s points to a binary file (%s) and "
                     "only the `view` command can be used on supported binary files.",
                     path, path, path_suffix(path));
            return -1;
        }
    }
    return 0;
}

static bool is_valid_param(const char *k)
{
    for (int i = 0; VALID_PARAMS[i]; i++)
        if (strcmp(k, VALID_PARAMS[i]) == 0) return true;
    return false;
}

/* int(s) for the V0 glue: surrounding whitespace, a sign, digits with single underscores
 * between them. Fills the value (clamped) and str() of the int. */
static bool py_int(const char *s, size_t n, double *v, struct buf *text)
{
    size_t b, e;
    py_strip(s, n, &b, &e);
    bool neg = false;
    if (b < e && (s[b] == '+' || s[b] == '-')) {
        neg = s[b] == '-';
        b++;
    }
    if (b == e || !(s[b] >= '0' && s[b] <= '9') || !(s[e - 1] >= '0' && s[e - 1] <= '9'))
        return false;
    struct buf digits = BUF_INIT;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '_') {
            if (!(s[i + 1] >= '0' && s[i + 1] <= '9')) {
                buf_release(&digits);
                return false;
            }
            continue;
        }
        if (!(s[i] >= '0' && s[i] <= '9')) {
            buf_release(&digits);
            return false;
        }
        if (digits.len == 0 && s[i] == '0') continue;
        buf_addch(&digits, s[i]);
    }
    if (digits.len == 0) {
        buf_addch(text, '0');
        *v = 0;
    } else {
        if (neg) buf_addch(text, '-');
        buf_add(text, digits.data, digits.len);
        *v = strtod(text->data, NULL);
    }
    buf_release(&digits);
    return true;
}

static bool is_command(json_t *c, const char *name)
{
    return json_is_string(c) && strcmp(json_string_value(c), name) == 0;
}

static enum outcome run_call(struct editor *ed, json_t *args, struct buf *msg, bool *is_read,
                             struct editor_result *res)
{
    json_t *empty = NULL;
    if (!json_is_object(args)) args = empty = json_object();
    enum outcome oc = OUT_ERROR;
    char *path = NULL;
    struct lineno_arg il = {.kind = LN_NONE, .text = BUF_INIT};

    /* function_calling.py: `command` and `path` must be there; an edit (not a view) refuses any
     * argument outside the tool's schema, after dropping view_range. */
    json_t *command = json_object_get(args, "command");
    json_t *path_j = json_object_get(args, "path");
    if (!command || !path_j) {
        buf_addf(msg, "Missing required argument \"%s\" in tool call str_replace_editor",
                 command ? "path" : "command");
        oc = OUT_REFUSED;
        goto out;
    }
    bool view = is_command(command, "view");
    *is_read = view;
    if (!view) {
        const char *k;
        json_t *v;
        json_object_foreach(args, k, v)
        {
            if (strcmp(k, "command") == 0 || strcmp(k, "path") == 0 ||
                strcmp(k, "view_range") == 0 || is_valid_param(k))
                continue;
            buf_addf(msg,
                     "Unexpected argument %s in tool call str_replace_editor. Allowed "
                     "arguments are: {",
                     k);
            for (int i = 0; VALID_PARAMS[i]; i++)
                buf_addf(msg, "%s'%s'", i ? ", " : "", VALID_PARAMS[i]);
            buf_addch(msg, '}');
            oc = OUT_REFUSED;
            goto out;
        }
    }
    if (json_is_string(path_j)) res->path = xstrdup(json_string_value(path_j));

    /* action_execution_server.py: read() refuses binary files before the editor runs (the
     * check opens the path, so directories and missing files pass); _execute_file_editor()
     * converts a string insert_line with int(). */
    if (view) {
        if (json_is_string(path_j) && json_string_value(path_j)[0] == '/') {
            struct stat st;
            const char *raw = json_string_value(path_j);
            if (stat(raw, &st) == 0 && S_ISREG(st.st_mode) && file_is_binary(raw)) {
                buf_adds(msg, "ERROR_BINARY_FILE");
                oc = OUT_REFUSED;
                goto out;
            }
        }
    } else {
        json_t *v = json_object_get(args, "insert_line");
        if (json_is_string(v)) {
            if (!py_int(json_string_value(v), json_string_length(v), &il.v, &il.text)) {
                buf_adds(msg, "Invalid insert_line value: '");
                buf_add(msg, json_string_value(v), json_string_length(v));
                buf_adds(msg, "'. Expected an integer.");
                goto out;
            }
            il.kind = LN_NUMBER;
        } else if (v && !json_is_null(v)) {
            if (py_is_number(v)) {
                il.kind = LN_NUMBER;
                il.v = py_number(v);
                il.is_float = json_is_real(v);
                py_str(&il.text, v);
            } else {
                il.kind = LN_OTHER;
                il.type = py_type(v);
            }
        }
    }

    /* OHEditor.__call__: Path(path) (a TypeError's text for a non-string), validate_path(),
     * then the command; errors are ToolErrors whose message follows "ERROR:\n". */
    if (!json_is_string(path_j)) {
        buf_addf(msg,
                 "argument should be a str or an os.PathLike object where __fspath__ returns a "
                 "str, not '%s'",
                 py_type(path_j));
        goto out;
    }
    path = path_normalize(json_string_value(path_j));
    const char *cmd = json_is_string(command) ? json_string_value(command) : NULL;
    if (validate_path(ed, cmd, path, msg) != 0) goto out;
    struct buf body = BUF_INIT;
    int rc;
    if (view) {
        json_t *vr = json_object_get(args, "view_range");
        rc = path_is_dir(path) ? view_dir(path, vr, &body, msg) : view_file(path, vr, &body, msg);
    } else if (is_command(command, "create")) {
        rc = cmd_create(ed, path, json_object_get(args, "file_text"), &body, msg, res);
    } else if (is_command(command, "str_replace")) {
        rc = cmd_str_replace(ed, path, json_object_get(args, "old_str"),
                             json_object_get(args, "new_str"), &body, msg, res);
    } else if (is_command(command, "insert")) {
        rc = cmd_insert(ed, path, &il, json_object_get(args, "new_str"), &body, msg, res);
    } else if (is_command(command, "undo_edit")) {
        rc = cmd_undo(ed, path, &body, msg, res);
    } else {
        buf_adds(msg, "Unrecognized command ");
        py_str(msg, command);
        buf_adds(msg, ". The allowed commands for the oh_editor tool are: view, create, "
                      "str_replace, insert, undo_edit");
        rc = -1;
    }
    if (rc == 0) {
        buf_reset(msg);
        buf_add(msg, body.data, body.len);
        oc = OUT_OK;
    }
    buf_release(&body);
out:
    free(path);
    buf_release(&il.text);
    if (empty) json_decref(empty);
    return oc;
}

/* truncate_content() of the conversation memory: first and last 15000 characters. */
static void add_message_truncated(struct buf *out, const char *s, size_t n)
{
    if (cp_count(s, n) <= MAX_MESSAGE_CHARS) {
        buf_add(out, s, n);
        return;
    }
    buf_add(out, s, cp_offset(s, n, MAX_MESSAGE_CHARS / 2));
    buf_adds(out, TRUNCATED_MARK);
    size_t tail = cp_offset_from_end(s, n, MAX_MESSAGE_CHARS / 2);
    buf_add(out, s + tail, n - tail);
}

void editor_run(struct editor *ed, json_t *args, struct buf *out, struct editor_result *res)
{
    memset(res, 0, sizeof(*res));
    struct buf msg = BUF_INIT;
    bool is_read = false;
    enum outcome oc = run_call(ed, args, &msg, &is_read, res);
    if (oc != OUT_OK) {
        free(res->old_text);
        free(res->new_text);
        free(res->diff);
        res->old_text = res->new_text = res->diff = NULL;
        res->error = true;
    }
    if (oc == OUT_REFUSED) {
        /* An ErrorObservation. */
        res->refused = true;
        add_message_truncated(out, msg.data, msg.len);
        buf_adds(out, REFUSED_SUFFIX);
    } else {
        struct buf text = BUF_INIT;
        if (oc == OUT_ERROR) buf_adds(&text, "ERROR:\n");
        buf_add(&text, msg.data, msg.len);
        if (is_read) /* FileReadObservation: shown as is */
            buf_add(out, text.data, text.len);
        else /* FileEditObservation: cut like any long observation */
            add_message_truncated(out, text.data, text.len);
        buf_release(&text);
    }
    buf_release(&msg);
}

struct editor *editor_new(const char *workspace)
{
    struct editor *ed = xcalloc(1, sizeof(*ed));
    if (workspace && workspace[0] == '/') ed->workspace = path_normalize(workspace);
    return ed;
}

void editor_free(struct editor *ed)
{
    if (!ed) return;
    struct history *h = ed->hist;
    while (h) {
        struct history *next = h->next;
        for (int i = 0; i < h->n; i++) free(h->text[i]);
        free(h->path);
        free(h);
        h = next;
    }
    free(ed->workspace);
    free(ed);
}

void editor_result_free(struct editor_result *res)
{
    if (!res) return;
    free(res->path);
    free(res->old_text);
    free(res->new_text);
    free(res->diff);
    memset(res, 0, sizeof(*res));
}
