/*
 * bash: the `execute_bash` tool (see bash.h and ../shared/TOOLS.md).
 *
 * One interactive bash per session runs on a pseudo-terminal of its own (its own session and
 * process group, job control on), reading commands line by line from the terminal with the
 * kernel's echo on, as the shell in OpenHands' tmux pane does. A PS1 that prints a marker
 * carrying a random nonce, the exit code, `which python` and the working directory tells when
 * a command has finished. An I/O thread per session drains the terminal all the time (so a
 * command left running keeps running) and turns the byte stream into what tmux would show:
 * escape sequences dropped, carriage returns and backspaces overwrite the line, tabs become
 * spaces, every line right-stripped. Only the head and the tail of long output are kept.
 *
 * bash_run then applies OpenHands 0.55-0.62 `BashSession.execute` to that text: the output since
 * the last observation (`prev_output` removed when it is still a prefix), the echoed command
 * removed, the suffixes and the metadata lines of `CmdOutputObservation.to_agent_observation`,
 * and the two 30000-character head+tail cuts (observation content, then the whole message, as
 * `conversation_memory` does with max_message_chars).
 */
#include "agent/bash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* OpenHands' runtime/utils/bash_constants.py TIMEOUT_MESSAGE_TEMPLATE. */
static const char TIMEOUT_TEMPLATE[] =
    "You may wait longer to see additional output by sending empty command '', send other "
    "commands to interact with the current process, send keys (\"C-c\", \"C-z\", \"C-d\") to "
    "interrupt/kill the previous command before sending your new command, or use the timeout "
    "parameter in execute_bash for future commands.";
static const char CONTINUE_PREFIX[] = "[Below is the output of the previous command.]\n";
static const char TRUNC_NOTICE[] = "\n[... Observation truncated due to length ...]\n";

#define HALF_OUTPUT        (BASH_MAX_OUTPUT / 2)
#define LINE_CAP           8192         /* code points in the line being drawn */
#define KEEP_BYTES         (128 * 1024) /* head and tail of the output that are kept */
#define MARKER_BODY_MAX    16384
#define LONG_LINE          4000 /* a canonical-mode terminal keeps at most 4095 bytes a line */
#define START_WAIT_SECONDS 20.0

enum status { ST_COMPLETED, ST_NO_CHANGE_TIMEOUT, ST_HARD_TIMEOUT };

/* The append-only text of the "pane" since it was last cleared (after each completed command):
 * its head, a ring with its tail, and the head of what came after the last observation. */
struct textstore {
    char *head;
    size_t head_len, head_cap;
    char *ring;
    size_t total, total_chars;
    bool non_newline; /* holds a byte other than '\n' */
    char *shead;      /* the text from s_start on */
    size_t shead_len, s_start, s_start_chars;
};

struct bash_session {
    /* configuration, kept for restarts */
    char *start_cwd;
    char **envp;
    int no_change_timeout, hard_timeout;
    char begin[32], end[32];
    size_t begin_len, end_len;

    /* mu guards everything below; the I/O thread renders under it and signals cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;

    /* the shell */
    pid_t pid;
    int master, wake_fd;
    pthread_t thread;
    bool thread_started, stopping, dead, reaped;
    int wait_status;

    /* bytes to type, written by the I/O thread */
    struct buf wbuf;
    size_t wpos;

    /* a long command is typed as a short line that sources a file; its echo is swapped for the
     * command's */
    struct buf skip_expect, skip_inject;
    size_t skip_pos;

    /* PS1 marker scanner */
    int mstate;
    size_t mmatch;
    struct buf mbody;

    /* terminal rendering */
    uint32_t u_cp;
    int u_need, u_len;
    int esc;
    char csi[32];
    size_t csi_len;
    uint32_t *line;
    size_t line_len, cursor;
    struct buf scratch;
    bool after_marker_nonblank;

    struct textstore ts;

    /* state seen by bash_run */
    double last_change;
    bool running;
    enum status status;
    int last_exit;
    char *cwd, *py;
    /* OpenHands' prev_output: whether it is non-empty, and its last, still mutable line */
    bool prev_nonempty;
    struct buf prev_line;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 and Python's notion of whitespace (str.strip, str.isspace)                            */

static bool py_space(uint32_t c)
{
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Decodes one code point of valid UTF-8 at p (< e); returns its length. */
static size_t u8_dec(const char *p, const char *e, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t avail = (size_t)(e - p);
    if (u[0] < 0x80 || avail < 2) {
        *cp = u[0];
        return 1;
    }
    if ((u[0] & 0xe0) == 0xc0) {
        *cp = ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
        return 2;
    }
    if ((u[0] & 0xf0) == 0xe0 && avail >= 3) {
        *cp = ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
        return 3;
    }
    if (avail >= 4) {
        *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
              ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
        return 4;
    }
    *cp = u[0];
    return 1;
}

static size_t u8_enc(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static size_t u8_count(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xc0) != 0x80) c++;
    return c;
}

/* Byte offset of the first code point after skipping `chars` of them. */
static size_t u8_skip(const char *p, size_t n, size_t chars)
{
    size_t i = 0;
    while (i < n && chars) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xc0) == 0x80) i++;
        chars--;
    }
    return i;
}

/* Byte offset where the last `chars` code points start. */
static size_t u8_last(const char *p, size_t n, size_t chars)
{
    size_t i = n;
    while (i > 0 && chars) {
        i--;
        while (i > 0 && ((unsigned char)p[i] & 0xc0) == 0x80) i--;
        chars--;
    }
    return i;
}

static size_t py_lstrip_off(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        size_t l = u8_dec(p + i, p + n, &c);
        if (!py_space(c)) break;
        i += l;
    }
    return i;
}

static size_t py_rstrip_len(const char *p, size_t n)
{
    while (n > 0) {
        size_t s = u8_last(p, n, 1);
        uint32_t c;
        u8_dec(p + s, p + n, &c);
        if (!py_space(c)) break;
        n = s;
    }
    return n;
}

/* Python's `text[:half] + notice + text[-half:]` when len(text) > max (in code points). */
static void py_truncate(struct buf *b)
{
    size_t chars = u8_count(b->data, b->len);
    if (chars <= BASH_MAX_OUTPUT) return;
    size_t h = u8_skip(b->data, b->len, HALF_OUTPUT);
    size_t t = u8_last(b->data, b->len, HALF_OUTPUT);
    struct buf o = BUF_INIT;
    buf_grow(&o, h + sizeof(TRUNC_NOTICE) + (b->len - t));
    buf_add(&o, b->data, h);
    buf_adds(&o, TRUNC_NOTICE);
    buf_add(&o, b->data + t, b->len - t);
    buf_release(b);
    *b = o;
}

/* ------------------------------------------------------------------------------------------ */
/* Python float(): parse and repr                                                              */

static bool digit_run(const char **pp, const char *e, struct buf *o)
{
    /* one or more digits, single underscores allowed between digits (PEP 515) */
    const char *p = *pp;
    if (p >= e || *p < '0' || *p > '9') return false;
    while (p < e) {
        if (*p >= '0' && *p <= '9') {
            buf_addch(o, *p++);
        } else if (*p == '_' && p + 1 < e && p[1] >= '0' && p[1] <= '9') {
            p++;
        } else {
            break;
        }
    }
    *pp = p;
    return true;
}

bool bash_parse_py_float(const char *s, double *out)
{
    size_t n = strlen(s);
    size_t a = py_lstrip_off(s, n);
    size_t z = py_rstrip_len(s, n);
    if (z <= a) return false;
    const char *p = s + a, *e = s + z;
    struct buf o = BUF_INIT;
    bool ok = false;
    if (*p == '+' || *p == '-') buf_addch(&o, *p++);
    size_t rest = (size_t)(e - p);
    if ((rest == 3 && !strncasecmp(p, "inf", 3)) || (rest == 8 && !strncasecmp(p, "infinity", 8))) {
        *out = (o.len && o.data[0] == '-') ? -INFINITY : INFINITY;
        buf_release(&o);
        return true;
    }
    if (rest == 3 && !strncasecmp(p, "nan", 3)) {
        *out = (o.len && o.data[0] == '-') ? -NAN : NAN;
        buf_release(&o);
        return true;
    }
    bool int_digits = digit_run(&p, e, &o);
    bool frac_digits = false;
    if (p < e && *p == '.') {
        buf_addch(&o, *p++);
        frac_digits = digit_run(&p, e, &o);
    }
    if (!int_digits && !frac_digits) goto done;
    if (p < e && (*p == 'e' || *p == 'E')) {
        buf_addch(&o, *p++);
        if (p < e && (*p == '+' || *p == '-')) buf_addch(&o, *p++);
        if (!digit_run(&p, e, &o)) goto done;
    }
    if (p != e) goto done;
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c) goto done;
    char *end;
    *out = strtod_l(o.data, &end, c);
    freelocale(c);
    ok = *end == '\0';
done:
    buf_release(&o);
    return ok;
}

/* repr(float): the shortest digits that round-trip, fixed notation for 1e-4 <= |v| < 1e16. */
void bash_py_float_repr(double v, struct buf *out)
{
    if (isnan(v)) {
        buf_adds(out, "nan");
        return;
    }
    if (isinf(v)) {
        buf_adds(out, v < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp is [-]d[.ddd]e[+-]xx */
    const char *p = tmp;
    if (*p == '-') {
        buf_addch(out, '-');
        p++;
    }
    char digits[32];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1;
    if (decpt > 16 || decpt < -3) {
        buf_addch(out, digits[0]);
        if (nd > 1) {
            buf_addch(out, '.');
            buf_add(out, digits + 1, nd - 1);
        }
        buf_addf(out, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (decpt <= 0) {
        buf_adds(out, "0.");
        for (int i = 0; i < -decpt; i++) buf_addch(out, '0');
        buf_add(out, digits, nd);
    } else if ((size_t)decpt >= nd) {
        buf_add(out, digits, nd);
        for (size_t i = nd; i < (size_t)decpt; i++) buf_addch(out, '0');
        buf_adds(out, ".0");
    } else {
        buf_add(out, digits, (size_t)decpt);
        buf_addch(out, '.');
        buf_add(out, digits + decpt, nd - (size_t)decpt);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Splitting a command into top-level commands, as OpenHands' split_bash_commands (bashlex).   */
/*                                                                                             */
/* A top-level command ends at a newline outside quotes, substitutions, heredoc bodies and     */
/* compound commands, and not right after && || | |&. Each item runs from the start of its    */
/* first token to the start of the next one (comments and blank lines go with the preceding   */
/* item), right-stripped; text before the first command is an item of its own. Input that     */
/* bashlex cannot parse (syntax errors, an unterminated quote or heredoc) or does not          */
/* implement ([[ ]], (( )), for ((;;)), select, coproc, time, $[ ]) is one single command.    */

enum { K_FI = 1, K_DONE, K_ESAC, K_BRACE, K_PAREN };
enum { CS_NONE, CS_SUBJECT, CS_IN, CS_PAT, CS_BODY };
enum { TK_EOF, TK_NEWLINE, TK_WORD, TK_OP };

struct heredoc {
    char *delim;
    bool strip_tabs;
};

struct splitter {
    const char *s;
    size_t n, i;
    bool err;
    int depth;
    struct heredoc hd[32];
    int nhd;
    size_t *starts;
    size_t nstarts, cap;
};

struct token {
    int type;
    size_t start, end;
    bool quoted;
    char op[4];
};

static void sp_parse(struct splitter *sp, bool toplevel);
static void sp_dollar(struct splitter *sp, bool in_dq);

static void sp_dq(struct splitter *sp)
{
    sp->i++; /* the opening quote */
    while (!sp->err) {
        if (sp->i >= sp->n) {
            sp->err = true;
            return;
        }
        char c = sp->s[sp->i];
        if (c == '\\') {
            sp->i += 2;
        } else if (c == '"') {
            sp->i++;
            return;
        } else if (c == '$') {
            sp_dollar(sp, true);
        } else if (c == '`') {
            sp->i++;
            while (sp->i < sp->n && sp->s[sp->i] != '`') sp->i += sp->s[sp->i] == '\\' ? 2 : 1;
            if (sp->i >= sp->n) sp->err = true;
            sp->i++;
        } else {
            sp->i++;
        }
    }
}

static void sp_squote(struct splitter *sp)
{
    const char *q = memchr(sp->s + sp->i + 1, '\'', sp->n - sp->i - 1);
    if (!q) {
        sp->err = true;
        return;
    }
    sp->i = (size_t)(q - sp->s) + 1;
}

static void sp_backquote(struct splitter *sp)
{
    sp->i++;
    while (sp->i < sp->n && sp->s[sp->i] != '`') sp->i += sp->s[sp->i] == '\\' ? 2 : 1;
    if (sp->i >= sp->n) {
        sp->err = true;
        return;
    }
    sp->i++;
}

/* A command substitution body: parsed as commands up to its closing parenthesis. */
static void sp_subst(struct splitter *sp)
{
    if (++sp->depth > 64) {
        sp->err = true;
        return;
    }
    sp_parse(sp, false);
    sp->depth--;
}

/* Steps over one unit inside parentheses: an escaped character, a quoted string, a
 * substitution, or a plain character. */
static void sp_skip_token(struct splitter *sp)
{
    char c = sp->s[sp->i];
    if (c == '\\')
        sp->i += 2;
    else if (c == '\'')
        sp_squote(sp);
    else if (c == '"')
        sp_dq(sp);
    else if (c == '`')
        sp_backquote(sp);
    else if (c == '$')
        sp_dollar(sp, false);
    else
        sp->i++;
}

static void sp_dollar(struct splitter *sp, bool in_dq)
{
    char c1 = sp->i + 1 < sp->n ? sp->s[sp->i + 1] : 0;
    if (c1 == '(' && sp->i + 2 < sp->n && sp->s[sp->i + 2] == '(') {
        /* $(( arithmetic )) */
        int depth = 0;
        sp->i += 3;
        while (!sp->err) {
            if (sp->i >= sp->n) {
                sp->err = true;
                return;
            }
            char c = sp->s[sp->i];
            if (c == '(') {
                depth++;
                sp->i++;
            } else if (c == ')') {
                if (depth == 0) {
                    if (sp->i + 1 < sp->n && sp->s[sp->i + 1] == ')') {
                        sp->i += 2;
                        return;
                    }
                    sp->err = true;
                    return;
                }
                depth--;
                sp->i++;
            } else {
                sp_skip_token(sp);
            }
        }
    } else if (c1 == '(') {
        sp->i += 2;
        sp_subst(sp);
    } else if (c1 == '{') {
        int depth = 1;
        sp->i += 2;
        while (!sp->err) {
            if (sp->i >= sp->n) {
                sp->err = true;
                return;
            }
            char c = sp->s[sp->i];
            if (c == '}') {
                sp->i++;
                if (--depth == 0) return;
            } else if (c == '{') {
                depth++;
                sp->i++;
            } else if (c == '\\') {
                sp->i += 2;
            } else if (c == '\'' && !in_dq) {
                sp_squote(sp);
            } else if (c == '"') {
                sp_dq(sp);
            } else if (c == '`') {
                sp_backquote(sp);
            } else if (c == '$') {
                sp_dollar(sp, in_dq);
            } else {
                sp->i++;
            }
        }
    } else if (c1 == '\'' && !in_dq) {
        sp->i += 2;
        while (sp->i < sp->n && sp->s[sp->i] != '\'') sp->i += sp->s[sp->i] == '\\' ? 2 : 1;
        if (sp->i >= sp->n) {
            sp->err = true;
            return;
        }
        sp->i++;
    } else if (c1 == '"' && !in_dq) {
        sp->i++;
        sp_dq(sp);
    } else if (c1 == '[') {
        sp->err = true; /* bashlex: NotImplementedError('arithmetic substitution') */
    } else {
        sp->i++;
    }
}

static bool is_meta(char c)
{
    return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' || c == '>';
}

/* `name=`, `name+=` or `name[...]=` so far: a following '(' opens an array assignment. */
static bool word_is_assignment(const char *w, size_t n)
{
    if (n < 2 || w[n - 1] != '=') return false;
    size_t e = n - 1;
    if (e > 0 && w[e - 1] == '+') e--;
    if (e > 0 && w[e - 1] == ']') {
        const char *lb = memchr(w, '[', e);
        if (!lb) return false;
        e = (size_t)(lb - w);
    }
    if (e == 0 || !(w[0] == '_' || (w[0] >= 'A' && w[0] <= 'Z') || (w[0] >= 'a' && w[0] <= 'z')))
        return false;
    for (size_t i = 1; i < e; i++) {
        char c = w[i];
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static void sp_word(struct splitter *sp, struct token *t)
{
    t->type = TK_WORD;
    t->start = sp->i;
    t->quoted = false;
    while (!sp->err && sp->i < sp->n) {
        char c = sp->s[sp->i];
        if (c == ' ' || c == '\t' || c == '\n') break;
        if (is_meta(c)) {
            if ((c == '<' || c == '>') && sp->i + 1 < sp->n && sp->s[sp->i + 1] == '(') {
                sp->i += 2; /* process substitution */
                sp_subst(sp);
                continue;
            }
            if (c == '(' && word_is_assignment(sp->s + t->start, sp->i - t->start)) {
                int depth = 0;
                while (!sp->err) {
                    if (sp->i >= sp->n) {
                        sp->err = true;
                        break;
                    }
                    char d = sp->s[sp->i];
                    if (d == '(') {
                        depth++;
                        sp->i++;
                    } else if (d == ')') {
                        sp->i++;
                        if (--depth == 0) break;
                    } else {
                        sp_skip_token(sp);
                    }
                }
                continue;
            }
            break;
        }
        if (c == '\\') {
            sp->i = sp->i + 2 > sp->n ? sp->n : sp->i + 2;
            t->quoted = true;
        } else if (c == '\'') {
            sp_squote(sp);
            t->quoted = true;
        } else if (c == '"') {
            sp_dq(sp);
            t->quoted = true;
        } else if (c == '`') {
            sp_backquote(sp);
        } else if (c == '$') {
            sp_dollar(sp, false);
        } else {
            sp->i++;
        }
    }
    if (sp->i > sp->n) sp->i = sp->n;
    t->end = sp->i;
}

/* Reads the bodies of the heredocs opened on the line that just ended. */
static void sp_heredocs(struct splitter *sp)
{
    for (int h = 0; h < sp->nhd && !sp->err; h++) {
        const char *delim = sp->hd[h].delim;
        size_t dl = strlen(delim);
        for (;;) {
            if (sp->i >= sp->n) {
                sp->err = true; /* unterminated heredoc */
                break;
            }
            const char *ls = sp->s + sp->i;
            const char *nl = memchr(ls, '\n', sp->n - sp->i);
            size_t ll = nl ? (size_t)(nl - ls) : sp->n - sp->i;
            const char *cmp = ls;
            size_t cl = ll;
            if (sp->hd[h].strip_tabs)
                while (cl > 0 && *cmp == '\t') cmp++, cl--;
            sp->i += ll + (nl ? 1 : 0);
            if (cl == dl && !memcmp(cmp, delim, dl)) break;
        }
    }
    for (int h = 0; h < sp->nhd; h++) free(sp->hd[h].delim);
    sp->nhd = 0;
}

static void sp_next(struct splitter *sp, struct token *t)
{
    static const char *const ops[] = {";;&", ";;", ";&", ";",  "&&", "&>>", "&>",  "&",
                                      "||",  "|&", "|",  "(",  ")",  "<<<", "<<-", "<<",
                                      "<&",  "<>", "<",  ">>", ">&", ">|",  ">"};
    for (;;) {
        while (sp->i < sp->n) {
            char c = sp->s[sp->i];
            if (c == ' ' || c == '\t') {
                sp->i++;
            } else if (c == '\\' && sp->i + 1 < sp->n && sp->s[sp->i + 1] == '\n') {
                sp->i += 2;
            } else {
                break;
            }
        }
        if (sp->i >= sp->n) {
            t->type = TK_EOF;
            t->start = t->end = sp->n;
            return;
        }
        char c = sp->s[sp->i];
        if (c == '#') {
            while (sp->i < sp->n && sp->s[sp->i] != '\n') sp->i++;
            continue;
        }
        if (c == '\n') {
            t->type = TK_NEWLINE;
            t->start = sp->i;
            t->end = ++sp->i;
            sp_heredocs(sp);
            return;
        }
        if (is_meta(c) &&
            !((c == '<' || c == '>') && sp->i + 1 < sp->n && sp->s[sp->i + 1] == '(')) {
            for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
                size_t l = strlen(ops[k]);
                if (sp->i + l <= sp->n && !memcmp(sp->s + sp->i, ops[k], l)) {
                    t->type = TK_OP;
                    t->start = sp->i;
                    t->end = sp->i + l;
                    memcpy(t->op, ops[k], l + 1);
                    sp->i += l;
                    return;
                }
            }
        }
        sp_word(sp, t);
        return;
    }
}

static bool tok_is(const struct splitter *sp, const struct token *t, const char *w)
{
    size_t l = strlen(w);
    return t->type == TK_WORD && !t->quoted && t->end - t->start == l &&
           !memcmp(sp->s + t->start, w, l);
}

static bool op_is(const struct token *t, const char *op)
{
    return t->type == TK_OP && !strcmp(t->op, op);
}

/* The heredoc delimiter: the word with quotes and backslashes removed. */
static char *unquote(const char *w, size_t n)
{
    struct buf o = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (c == '\\' && i + 1 < n) {
            buf_addch(&o, w[++i]);
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && w[j] != c) {
                if (c == '"' && w[j] == '\\' && j + 1 < n) j++;
                buf_addch(&o, w[j++]);
            }
            i = j;
        } else if (c == '$' && i + 1 < n && (w[i + 1] == '\'' || w[i + 1] == '"')) {
            continue;
        } else {
            buf_addch(&o, c);
        }
    }
    return buf_detach(&o, NULL);
}

static void sp_parse(struct splitter *sp, bool toplevel)
{
    unsigned char stack[128];
    unsigned char cs[128];
    int top = 0;
    bool cmdpos = true, cont = false, fn_await = false, fn_name = false, just_name = false;
    bool unit_open = false;
    struct token t;

#define PUSH(k)                                                                                    \
    do {                                                                                           \
        if (top >= 128) {                                                                          \
            sp->err = true;                                                                        \
            return;                                                                                \
        }                                                                                          \
        cs[top] = CS_NONE;                                                                         \
        stack[top++] = (k);                                                                        \
        fn_await = false;                                                                          \
    } while (0)
#define FAIL()                                                                                     \
    do {                                                                                           \
        sp->err = true;                                                                            \
        return;                                                                                    \
    } while (0)

    for (;;) {
        sp_next(sp, &t);
        if (sp->err) return;
        if (t.type == TK_EOF) {
            if (!toplevel || top || cont || fn_await || fn_name || sp->nhd) FAIL();
            return;
        }
        if (t.type == TK_NEWLINE) {
            if (toplevel && !top && !cont && !fn_await && !fn_name) unit_open = false;
            cmdpos = true;
            just_name = false;
            continue;
        }
        if (toplevel && !unit_open) {
            if (sp->nstarts == sp->cap) {
                sp->cap = sp->cap ? sp->cap * 2 : 8;
                sp->starts = xrealloc(sp->starts, sp->cap * sizeof(*sp->starts));
            }
            sp->starts[sp->nstarts++] = t.start;
            unit_open = true;
        }
        /* the head of a case command: subject, `in`, patterns */
        if (top && stack[top - 1] == K_ESAC && cs[top - 1] != CS_BODY) {
            unsigned char *st = &cs[top - 1];
            if (*st == CS_SUBJECT) {
                if (t.type != TK_WORD) FAIL();
                *st = CS_IN;
            } else if (*st == CS_IN) {
                if (!tok_is(sp, &t, "in")) FAIL();
                *st = CS_PAT;
            } else if (tok_is(sp, &t, "esac")) {
                top--;
                cmdpos = false;
            } else if (op_is(&t, ")")) {
                *st = CS_BODY;
                cmdpos = true;
            } else if (t.type != TK_WORD && !op_is(&t, "|") && !op_is(&t, "(")) {
                FAIL();
            }
            continue;
        }
        if (t.type == TK_OP) {
            bool was_name = just_name;
            just_name = false;
            cont = false;
            if (op_is(&t, ";") || op_is(&t, "&")) {
                if (fn_await || fn_name) FAIL();
                cmdpos = true;
            } else if (op_is(&t, "&&") || op_is(&t, "||") || op_is(&t, "|") || op_is(&t, "|&")) {
                if (fn_await || fn_name) FAIL();
                cmdpos = true;
                cont = true;
            } else if (op_is(&t, ";;") || op_is(&t, ";&") || op_is(&t, ";;&")) {
                if (!top || stack[top - 1] != K_ESAC) FAIL();
                cs[top - 1] = CS_PAT;
            } else if (op_is(&t, "(")) {
                if (was_name) {
                    /* name ( ) compound-command: a function definition */
                    sp_next(sp, &t);
                    if (sp->err || !op_is(&t, ")")) FAIL();
                    fn_await = true;
                    cmdpos = true;
                } else if (cmdpos) {
                    if (sp->i < sp->n && sp->s[sp->i] == '(')
                        FAIL(); /* bashlex: NotImplementedError('arithmetic command') */
                    PUSH(K_PAREN);
                    cmdpos = true;
                } else {
                    FAIL();
                }
            } else if (op_is(&t, ")")) {
                if (top && stack[top - 1] == K_PAREN) {
                    top--;
                    cmdpos = false;
                } else if (!top && !toplevel) {
                    return; /* the end of a command substitution */
                } else {
                    FAIL();
                }
            } else {
                /* a redirection and its target */
                bool heredoc = op_is(&t, "<<") || op_is(&t, "<<-");
                bool strip = op_is(&t, "<<-");
                sp_next(sp, &t);
                if (sp->err || t.type != TK_WORD) FAIL();
                if (heredoc) {
                    if (sp->nhd >= 32) FAIL();
                    sp->hd[sp->nhd].delim = unquote(sp->s + t.start, t.end - t.start);
                    sp->hd[sp->nhd].strip_tabs = strip;
                    sp->nhd++;
                }
            }
            continue;
        }
        /* a word */
        cont = false;
        if (fn_name) {
            fn_name = false;
            fn_await = true;
            cmdpos = true;
            just_name = true;
            continue;
        }
        just_name = false;
        if (cmdpos && !t.quoted) {
            if (tok_is(sp, &t, "if")) {
                PUSH(K_FI);
                continue;
            }
            if (tok_is(sp, &t, "while") || tok_is(sp, &t, "until")) {
                PUSH(K_DONE);
                continue;
            }
            if (tok_is(sp, &t, "for")) {
                size_t j = sp->i;
                while (j < sp->n && (sp->s[j] == ' ' || sp->s[j] == '\t')) j++;
                if (j + 1 < sp->n && sp->s[j] == '(' && sp->s[j + 1] == '(')
                    FAIL(); /* bashlex: NotImplementedError('arithmetic for') */
                PUSH(K_DONE);
                cmdpos = false;
                continue;
            }
            if (tok_is(sp, &t, "select") || tok_is(sp, &t, "coproc") || tok_is(sp, &t, "time") ||
                tok_is(sp, &t, "[["))
                FAIL(); /* not implemented by bashlex */
            if (tok_is(sp, &t, "case")) {
                PUSH(K_ESAC);
                cs[top - 1] = CS_SUBJECT;
                cmdpos = false;
                continue;
            }
            if (tok_is(sp, &t, "then") || tok_is(sp, &t, "else") || tok_is(sp, &t, "elif") ||
                tok_is(sp, &t, "do") || tok_is(sp, &t, "!")) {
                if (fn_await) FAIL();
                continue;
            }
            if (tok_is(sp, &t, "fi") || tok_is(sp, &t, "done") || tok_is(sp, &t, "esac") ||
                tok_is(sp, &t, "}")) {
                int want = tok_is(sp, &t, "fi")     ? K_FI
                           : tok_is(sp, &t, "done") ? K_DONE
                           : tok_is(sp, &t, "esac") ? K_ESAC
                                                    : K_BRACE;
                if (!top || stack[top - 1] != want) FAIL();
                top--;
                cmdpos = false;
                continue;
            }
            if (tok_is(sp, &t, "{")) {
                PUSH(K_BRACE);
                continue;
            }
            if (tok_is(sp, &t, "function")) {
                fn_name = true;
                cmdpos = false;
                continue;
            }
        }
        if (fn_await) FAIL(); /* a function body must be a compound command */
        just_name = cmdpos;
        cmdpos = false;
    }
#undef PUSH
#undef FAIL
}

int bash_split_commands(const char *cmd, char ***items_out, size_t *n_out)
{
    struct splitter sp;
    memset(&sp, 0, sizeof(sp));
    sp.s = cmd;
    sp.n = strlen(cmd);
    char **items = NULL;
    size_t n = 0;
    size_t len = sp.n;
    if (py_rstrip_len(cmd, len) == 0) {
        /* `if not commands.strip(): return ['']` */
        items = xmalloc(sizeof(*items));
        items[n++] = xstrdup("");
        goto out;
    }
    sp_parse(&sp, true);
    for (int h = 0; h < sp.nhd; h++) free(sp.hd[h].delim);
    if (sp.err || sp.nstarts == 0) {
        items = xmalloc(sizeof(*items));
        items[n++] = xstrdup(cmd);
        goto out;
    }
    items = xmalloc((sp.nstarts + 1) * sizeof(*items));
    if (sp.starts[0] > 0) {
        size_t l = py_rstrip_len(cmd, sp.starts[0]);
        if (py_lstrip_off(cmd, l) < l) {
            char *it = xmalloc(l + 1);
            memcpy(it, cmd, l);
            it[l] = '\0';
            items[n++] = it;
        }
    }
    for (size_t k = 0; k < sp.nstarts; k++) {
        size_t a = sp.starts[k];
        size_t b = k + 1 < sp.nstarts ? sp.starts[k + 1] : len;
        size_t l = py_rstrip_len(cmd + a, b - a);
        char *it = xmalloc(l + 1);
        memcpy(it, cmd + a, l);
        it[l] = '\0';
        items[n++] = it;
    }
out:
    free(sp.starts);
    *items_out = items;
    *n_out = n;
    return 0;
}

void bash_split_free(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

/* ------------------------------------------------------------------------------------------ */
/* The pane text store                                                                         */

static void ts_reset(struct textstore *ts)
{
    ts->head_len = 0;
    ts->head_cap = KEEP_BYTES;
    ts->total = ts->total_chars = 0;
    ts->non_newline = false;
    ts->shead_len = 0;
    ts->s_start = ts->s_start_chars = 0;
}

static void ts_append(struct textstore *ts, const char *p, size_t n)
{
    if (!n) return;
    if (ts->head_len < ts->head_cap && ts->head_len == ts->total) {
        size_t k = ts->head_cap - ts->head_len < n ? ts->head_cap - ts->head_len : n;
        ts->head = xrealloc(ts->head, ts->head_len + k);
        memcpy(ts->head + ts->head_len, p, k);
        ts->head_len += k;
    }
    if (ts->shead_len < KEEP_BYTES && ts->s_start + ts->shead_len == ts->total) {
        size_t k = KEEP_BYTES - ts->shead_len < n ? KEEP_BYTES - ts->shead_len : n;
        memcpy(ts->shead + ts->shead_len, p, k);
        ts->shead_len += k;
    }
    /* the ring keeps the last KEEP_BYTES bytes */
    const char *q = p;
    size_t m = n;
    size_t pos = ts->total;
    if (m > KEEP_BYTES) {
        q += m - KEEP_BYTES;
        pos += m - KEEP_BYTES;
        m = KEEP_BYTES;
    }
    while (m) {
        size_t off = pos % KEEP_BYTES;
        size_t k = KEEP_BYTES - off < m ? KEEP_BYTES - off : m;
        memcpy(ts->ring + off, q, k);
        q += k;
        pos += k;
        m -= k;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c & 0xc0) != 0x80) ts->total_chars++;
        if (c != '\n') ts->non_newline = true;
    }
    ts->total += n;
}

/* Copies E[a, total) out of the ring (the caller makes sure it is still there). */
static void ts_ring_copy(const struct textstore *ts, size_t a, struct buf *o)
{
    while (a < ts->total) {
        size_t off = a % KEEP_BYTES;
        size_t k = KEEP_BYTES - off < ts->total - a ? KEEP_BYTES - off : ts->total - a;
        buf_add(o, ts->ring + off, k);
        a += k;
    }
}

/* A long text known by its head and its tail. When gap_bytes is 0 the head is all of it. */
struct vtext {
    struct buf head, tail;
    size_t gap_chars, gap_bytes;
};

/* The text E[start:] + line, where hbuf holds E[start, start + hlen). */
static void ts_region(const struct textstore *ts, size_t start, size_t start_chars,
                      const char *hbuf, size_t hlen, const char *line, size_t line_len,
                      struct vtext *v)
{
    buf_init(&v->head, 0);
    buf_init(&v->tail, 0);
    v->gap_chars = v->gap_bytes = 0;
    size_t region = ts->total - start;
    size_t ring_avail = ts->total < KEEP_BYTES ? ts->total : KEEP_BYTES;
    size_t tail_start = ts->total - ring_avail;
    if (tail_start < start + hlen) tail_start = start + hlen;
    if (hlen == region || tail_start == start + hlen) {
        if (hlen) buf_add(&v->head, hbuf, hlen);
        ts_ring_copy(ts, start + hlen, &v->head);
        buf_add(&v->head, line, line_len);
        return;
    }
    /* cut both at code point boundaries; the partial characters belong to the gap */
    size_t h = hlen;
    size_t lead = u8_last(hbuf, h, 1);
    if (h - lead < 4) {
        uint32_t cp;
        size_t l = u8_dec(hbuf + lead, hbuf + h, &cp);
        if (lead + l > h || (l == 1 && (unsigned char)hbuf[lead] >= 0x80)) h = lead;
    }
    buf_add(&v->head, hbuf, h);
    ts_ring_copy(ts, tail_start, &v->tail);
    size_t skip = 0;
    while (skip < v->tail.len && ((unsigned char)v->tail.data[skip] & 0xc0) == 0x80) skip++;
    if (skip) {
        memmove(v->tail.data, v->tail.data + skip, v->tail.len - skip);
        v->tail.len -= skip;
        v->tail.data[v->tail.len] = '\0';
    }
    size_t region_chars = ts->total_chars - start_chars;
    size_t hc = u8_count(v->head.data, v->head.len), tc = u8_count(v->tail.data, v->tail.len);
    v->gap_chars = region_chars > hc + tc ? region_chars - hc - tc : 0;
    v->gap_bytes = (tail_start + skip) - (start + h);
    buf_add(&v->tail, line, line_len);
}

static void vtext_release(struct vtext *v)
{
    buf_release(&v->head);
    buf_release(&v->tail);
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering the terminal stream into lines (what `tmux capture-pane -J` shows, each line      */
/* right-stripped as OpenHands' _get_pane_content does)                                         */

enum { ESC_NONE, ESC_ESC, ESC_CSI, ESC_STR, ESC_STR_ESC, ESC_SKIP1 };

static void line_utf8(const struct bash_session *s, bool rstrip, struct buf *o)
{
    size_t n = s->line_len;
    if (rstrip)
        while (n > 0 && py_space(s->line[n - 1])) n--;
    buf_grow(o, n * 4 + 1);
    char *w = o->data + o->len;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s->line[i];
        if (c < 0x80)
            *w++ = (char)c;
        else
            w += u8_enc(c, w);
    }
    o->len = (size_t)(w - o->data);
    o->data[o->len] = '\0';
}

static void commit_line(struct bash_session *s, bool newline)
{
    struct buf *o = &s->scratch;
    buf_reset(o);
    line_utf8(s, newline, o);
    if (o->len) s->after_marker_nonblank = true;
    if (newline) buf_addch(o, '\n');
    ts_append(&s->ts, o->data, o->len);
    s->line_len = 0;
    s->cursor = 0;
}

static void put_cp(struct bash_session *s, uint32_t cp)
{
    if (s->cursor >= LINE_CAP) {
        /* a very long line: hand over what is drawn so far (\r can no longer reach it) */
        commit_line(s, false);
    }
    while (s->line_len < s->cursor) s->line[s->line_len++] = ' ';
    if (s->cursor < s->line_len) {
        s->line[s->cursor] = cp;
    } else {
        s->line[s->line_len++] = cp;
    }
    s->cursor++;
    if (!py_space(cp)) s->after_marker_nonblank = true;
}

static void csi_apply(struct bash_session *s, char final)
{
    if (s->csi_len && (s->csi[0] == '?' || s->csi[0] == '>' || s->csi[0] == '=')) return;
    s->csi[s->csi_len < sizeof(s->csi) ? s->csi_len : sizeof(s->csi) - 1] = '\0';
    long n = atol(s->csi);
    switch (final) {
    case 'K': /* erase in line */
        if (n == 0) {
            if (s->line_len > s->cursor) s->line_len = s->cursor;
        } else if (n == 1) {
            for (size_t i = 0; i <= s->cursor && i < s->line_len; i++) s->line[i] = ' ';
        } else {
            s->line_len = 0;
        }
        break;
    case 'G': /* cursor to column */
        s->cursor = n > 1 ? (size_t)(n - 1) : 0;
        if (s->cursor >= LINE_CAP) s->cursor = LINE_CAP - 1;
        break;
    case 'C': /* cursor forward */
        s->cursor += n > 1 ? (size_t)n : 1;
        if (s->cursor >= LINE_CAP) s->cursor = LINE_CAP - 1;
        break;
    case 'D': /* cursor back */
        n = n > 1 ? n : 1;
        s->cursor = s->cursor > (size_t)n ? s->cursor - (size_t)n : 0;
        break;
    default:
        break;
    }
}

static void render_cp(struct bash_session *s, uint32_t cp)
{
    switch (s->esc) {
    case ESC_ESC:
        if (cp == '[') {
            s->esc = ESC_CSI;
            s->csi_len = 0;
        } else if (cp == ']' || cp == 'P' || cp == 'X' || cp == '^' || cp == '_') {
            s->esc = ESC_STR;
        } else if (cp == '(' || cp == ')' || cp == '*' || cp == '+' || cp == '-' || cp == '.' ||
                   cp == '/' || cp == '#' || cp == '%') {
            s->esc = ESC_SKIP1;
        } else {
            s->esc = ESC_NONE;
        }
        return;
    case ESC_SKIP1:
        s->esc = ESC_NONE;
        return;
    case ESC_CSI:
        if (cp >= 0x30 && cp <= 0x3f) {
            if (s->csi_len < sizeof(s->csi) - 1) s->csi[s->csi_len++] = (char)cp;
            return;
        }
        if (cp >= 0x20 && cp <= 0x2f) return;
        s->esc = ESC_NONE;
        if (cp >= 0x40 && cp <= 0x7e) {
            s->csi[s->csi_len] = '\0';
            csi_apply(s, (char)cp);
            return;
        }
        break; /* a control character aborts the sequence and is executed */
    case ESC_STR:
        if (cp == 7) s->esc = ESC_NONE;
        if (cp == 0x1b) s->esc = ESC_STR_ESC;
        return;
    case ESC_STR_ESC:
        s->esc = cp == 0x1b ? ESC_STR_ESC : (cp == '\\' ? ESC_NONE : ESC_STR);
        return;
    default:
        break;
    }
    if (cp == 0x1b) {
        s->esc = ESC_ESC;
    } else if (cp == '\n' || cp == 0x0b || cp == 0x0c) {
        commit_line(s, true);
    } else if (cp == '\r') {
        s->cursor = 0;
    } else if (cp == '\b') {
        if (s->cursor > 0) s->cursor--;
    } else if (cp == '\t') {
        s->cursor = (s->cursor / 8 + 1) * 8;
        if (s->cursor >= LINE_CAP) s->cursor = LINE_CAP - 1;
    } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
        /* other control characters draw nothing */
    } else {
        put_cp(s, cp);
    }
}

/* Raw terminal bytes to code points; invalid UTF-8 becomes U+FFFD. */
static void render_byte(struct bash_session *s, unsigned char b)
{
    if (s->u_need) {
        if ((b & 0xc0) == 0x80) {
            s->u_cp = (s->u_cp << 6) | (b & 0x3f);
            if (--s->u_need) return;
            uint32_t cp = s->u_cp;
            bool bad = (s->u_len == 3 && cp < 0x800) || (s->u_len == 4 && cp < 0x10000) ||
                       cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff);
            render_cp(s, bad ? 0xfffd : cp);
            return;
        }
        s->u_need = 0;
        render_cp(s, 0xfffd);
    }
    if (b < 0x80) {
        render_cp(s, b);
    } else if (b >= 0xc2 && b <= 0xdf) {
        s->u_cp = b & 0x1f;
        s->u_need = 1;
        s->u_len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        s->u_cp = b & 0x0f;
        s->u_need = 2;
        s->u_len = 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
        s->u_cp = b & 0x07;
        s->u_need = 3;
        s->u_len = 4;
    } else {
        render_cp(s, 0xfffd);
    }
}

static void render_bytes(struct bash_session *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) render_byte(s, (unsigned char)p[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* The PS1 marker: "\n" BEGIN exit "|" python "|" cwd END "\n"                                 */

enum { M_SCAN, M_BODY, M_AFTER };

static void marker_seen(struct bash_session *s, const char *body, size_t n)
{
    if (s->line_len) commit_line(s, true);
    /* _combine_outputs_between_matches joins the segments between prompts with "\n" */
    ts_append(&s->ts, "\n", 1);
    const char *bar1 = memchr(body, '|', n);
    const char *bar2 = memchr(bar1 + 1, '|', n - (size_t)(bar1 + 1 - body));
    s->last_exit = atoi(body);
    free(s->py);
    s->py = strndup(bar1 + 1, (size_t)(bar2 - bar1 - 1));
    free(s->cwd);
    s->cwd = strndup(bar2 + 1, n - (size_t)(bar2 + 1 - body));
    if (!s->py || !s->cwd) abort();
    s->running = false;
    s->after_marker_nonblank = false;
}

static bool marker_valid(const char *body, size_t n)
{
    size_t i = 0;
    while (i < n && body[i] >= '0' && body[i] <= '9') i++;
    if (i == 0 || i > 5 || i >= n || body[i] != '|') return false;
    const char *bar2 = memchr(body + i + 1, '|', n - i - 1);
    return bar2 != NULL && memchr(body, '\n', n) == NULL;
}

static void scan_byte(struct bash_session *s, unsigned char b)
{
    switch (s->mstate) {
    case M_BODY:
        buf_addch(&s->mbody, (char)b);
        if (s->mbody.len >= s->end_len &&
            !memcmp(s->mbody.data + s->mbody.len - s->end_len, s->end, s->end_len)) {
            size_t bl = s->mbody.len - s->end_len;
            if (marker_valid(s->mbody.data, bl)) {
                marker_seen(s, s->mbody.data, bl);
                s->mstate = M_AFTER;
            } else {
                render_bytes(s, s->begin, s->begin_len);
                render_bytes(s, s->mbody.data, s->mbody.len);
                s->mstate = M_SCAN;
            }
            buf_reset(&s->mbody);
        } else if (s->mbody.len > MARKER_BODY_MAX) {
            render_bytes(s, s->begin, s->begin_len);
            render_bytes(s, s->mbody.data, s->mbody.len);
            buf_reset(&s->mbody);
            s->mstate = M_SCAN;
        }
        return;
    case M_AFTER:
        if (b == '\r') return;
        s->mstate = M_SCAN;
        if (b == '\n') return;
        break;
    default:
        break;
    }
    /* BEGIN's first character does not occur again in it, so a mismatch restarts cleanly */
    if (b == (unsigned char)s->begin[s->mmatch]) {
        if (++s->mmatch == s->begin_len) {
            s->mmatch = 0;
            s->mstate = M_BODY;
            buf_reset(&s->mbody);
        }
        return;
    }
    if (s->mmatch) {
        render_bytes(s, s->begin, s->mmatch);
        s->mmatch = 0;
        if (b == (unsigned char)s->begin[0]) {
            s->mmatch = 1;
            return;
        }
    }
    render_byte(s, b);
}

static void feed(struct bash_session *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        if (s->skip_expect.len) {
            if (s->skip_pos < s->skip_expect.len &&
                b == (unsigned char)s->skip_expect.data[s->skip_pos]) {
                if (++s->skip_pos == s->skip_expect.len) {
                    render_bytes(s, s->skip_inject.data, s->skip_inject.len);
                    buf_reset(&s->skip_expect);
                    buf_reset(&s->skip_inject);
                }
                continue;
            }
            render_bytes(s, s->skip_inject.data, s->skip_inject.len);
            buf_reset(&s->skip_expect);
            buf_reset(&s->skip_inject);
        }
        scan_byte(s, b);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The shell process and its I/O thread                                                         */

/* SIGKILL for every process of the shell's session (jobs run in process groups of their own). */
static void kill_session(pid_t sid)
{
    kill(-sid, SIGKILL);
    DIR *d = opendir("/proc");
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char path[64], stat[512];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t r = read(fd, stat, sizeof(stat) - 1);
        close(fd);
        if (r <= 0) continue;
        stat[r] = '\0';
        char *rp = strrchr(stat, ')');
        if (!rp) continue;
        char state;
        int ppid, pgrp, session;
        if (sscanf(rp + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) == 4 && session == sid)
            kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
}

static void wake(struct bash_session *s)
{
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is full: the thread is awake anyway */
    }
}

static void *io_thread(void *arg)
{
    struct bash_session *s = arg;
    char *rb = xmalloc(65536);
    bool eof = false;
    double eof_at = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        bool want_write = s->wpos < s->wbuf.len;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;

        struct pollfd pf[2] = {
            {s->master, (short)(eof ? 0 : POLLIN | (want_write ? POLLOUT : 0)), 0},
            {s->wake_fd, POLLIN, 0}};
        if (poll(pf, 2, eof ? 50 : 250) < 0) continue;
        if (pf[1].revents & POLLIN) {
            uint64_t v;
            if (read(s->wake_fd, &v, sizeof(v)) < 0) {
                /* nothing pending */
            }
        }
        if (!eof && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = read(s->master, rb, 65536);
            if (r > 0) {
                pthread_mutex_lock(&s->mu);
                feed(s, rb, (size_t)r);
                s->last_change = now_mono();
                pthread_cond_broadcast(&s->cv);
                pthread_mutex_unlock(&s->mu);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = true; /* EIO: nothing holds the terminal any more */
                eof_at = now_mono();
            }
        }
        if (!eof && (pf[0].revents & POLLOUT)) {
            pthread_mutex_lock(&s->mu);
            if (s->wpos < s->wbuf.len) {
                ssize_t w = write(s->master, s->wbuf.data + s->wpos, s->wbuf.len - s->wpos);
                if (w > 0) s->wpos += (size_t)w;
                if (s->wpos == s->wbuf.len) {
                    buf_reset(&s->wbuf);
                    s->wpos = 0;
                }
            }
            pthread_mutex_unlock(&s->mu);
        }
        /* has the shell exited? (WNOWAIT: its session is ended before the pid can be reused) */
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        int wr = waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        bool exited = wr == 0 && si.si_pid == s->pid;
        bool lost = wr < 0 && errno == ECHILD; /* reaped elsewhere (SIGCHLD ignored) */
        if (!exited && !lost && eof && now_mono() - eof_at > 0.5) {
            /* the shell closed the terminal but lingers: end it */
            kill_session(s->pid);
            exited = true;
        }
        if (exited || lost) {
            /* what the shell wrote before it went is still in the terminal */
            for (int k = 0; k < 64 && !eof; k++) {
                ssize_t r = read(s->master, rb, 65536);
                if (r <= 0) break;
                pthread_mutex_lock(&s->mu);
                feed(s, rb, (size_t)r);
                pthread_mutex_unlock(&s->mu);
            }
            int st = 0;
            kill_session(s->pid);
            if (!lost)
                while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {}
            pthread_mutex_lock(&s->mu);
            s->reaped = true;
            s->wait_status = st;
            s->dead = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            break;
        }
    }
    free(rb);
    return NULL;
}

static void build_env(struct bash_session *s, char *const *envp)
{
    char hex[17];
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t x = (uint64_t)now_mono() * 2654435761u ^ (uint64_t)getpid() ^ (uintptr_t)s;
        memcpy(rnd, &x, sizeof(rnd));
    }
    for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    /* '#' starts BEGIN and appears nowhere else in it (see scan_byte) */
    snprintf(s->begin, sizeof(s->begin), "#CHPS1-%s-", hex);
    snprintf(s->end, sizeof(s->end), "~CHEND-%s", hex);
    s->begin_len = strlen(s->begin);
    s->end_len = strlen(s->end);

    /* OpenHands exports PROMPT_COMMAND='export PS1="..."' and PS2="" so that a command that
     * changes PS1 gets it back at the next prompt. */
    struct buf ps1 = BUF_INIT, pc = BUF_INIT;
    buf_addf(&ps1, "\n%s$?|$(which python 2>/dev/null)|$(pwd)%s\n", s->begin, s->end);
    buf_addf(&pc, "PROMPT_COMMAND=export PS1='%s'", ps1.data);

    size_t n = 0;
    while (envp && envp[n]) n++;
    s->envp = xcalloc(n + 4, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(envp[i], "PS1=", 4) || !strncmp(envp[i], "PS2=", 4) ||
            !strncmp(envp[i], "PROMPT_COMMAND=", 15))
            continue;
        s->envp[k++] = xstrdup(envp[i]);
    }
    struct buf e = BUF_INIT;
    buf_addf(&e, "PS1=%s", ps1.data);
    s->envp[k++] = buf_detach(&e, NULL);
    s->envp[k++] = xstrdup("PS2=");
    s->envp[k++] = buf_detach(&pc, NULL);
    s->envp[k] = NULL;
    buf_release(&ps1);
}

static void state_reset_terminal(struct bash_session *s)
{
    buf_reset(&s->wbuf);
    s->wpos = 0;
    buf_reset(&s->skip_expect);
    buf_reset(&s->skip_inject);
    s->skip_pos = 0;
    s->mstate = M_SCAN;
    s->mmatch = 0;
    buf_reset(&s->mbody);
    s->u_need = 0;
    s->esc = ESC_NONE;
    s->line_len = s->cursor = 0;
    s->after_marker_nonblank = false;
}

/* OpenHands clears the pane after each completed command: a new epoch starts. */
static void epoch_reset(struct bash_session *s)
{
    ts_reset(&s->ts);
    s->line_len = s->cursor = 0;
    s->prev_nonempty = false;
    buf_reset(&s->prev_line);
    s->status = ST_COMPLETED;
}

static void teardown(struct bash_session *s)
{
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_mutex_unlock(&s->mu);
        wake(s);
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    if (s->pid > 0) {
        if (!s->reaped) {
            kill_session(s->pid);
            while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {}
            s->reaped = true;
        }
        s->pid = 0;
    }
    if (s->master >= 0) close(s->master);
    if (s->wake_fd >= 0) close(s->wake_fd);
    s->master = s->wake_fd = -1;
}

static int spawn(struct bash_session *s, const char *cwd, struct error *err)
{
    struct stat st;
    if (stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode))
        return error_set(err, ERR_INTERNAL, "bash: working directory %s: %s", cwd,
                         stat(cwd, &st) < 0 ? strerror(errno) : "not a directory");
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return error_set(err, ERR_INTERNAL, "bash: posix_openpt: %s", strerror(errno));
    char name[128];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        close(m);
        return error_set(err, ERR_INTERNAL, "bash: pseudo-terminal: %s", strerror(errno));
    }
    int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sl < 0) {
        close(m);
        return error_set(err, ERR_INTERNAL, "bash: open %s: %s", name, strerror(errno));
    }
    struct termios tio;
    if (tcgetattr(sl, &tio) == 0) {
        tio.c_iflag |= ICRNL | IUTF8;
        tio.c_oflag |= OPOST | ONLCR;
        tio.c_lflag |= ECHO | ICANON | ISIG | IEXTEN | ECHOE | ECHOK | ECHOCTL | ECHOKE;
        tcsetattr(sl, TCSANOW, &tio);
    }
    /* the size of OpenHands' tmux window */
    struct winsize ws = {.ws_row = 1000, .ws_col = 1000};
    ioctl(sl, TIOCSWINSZ, &ws);
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    int wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wfd < 0) {
        close(sl);
        close(m);
        return error_set(err, ERR_INTERNAL, "bash: eventfd: %s", strerror(errno));
    }
    struct rlimit rl;
    int maxfd =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    static char *const argv[] = {"/bin/bash", "--norc", "--noprofile", "--noediting", "-i", NULL};

    pid_t pid = fork();
    if (pid < 0) {
        close(sl);
        close(m);
        close(wfd);
        return error_set(err, ERR_INTERNAL, "bash: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* only async-signal-safe calls from here on */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
        setsid();
        ioctl(sl, TIOCSCTTY, 0);
        dup2(sl, 0);
        dup2(sl, 1);
        dup2(sl, 2);
        if (close_range(3, ~0U, 0) < 0)
            for (int fd = 3; fd < maxfd; fd++) close(fd);
        if (chdir(cwd) < 0) _exit(126);
        execve(argv[0], argv, s->envp);
        _exit(127);
    }
    close(sl);
    s->pid = pid;
    s->master = m;
    s->wake_fd = wfd;
    s->reaped = s->dead = s->stopping = false;
    s->wait_status = 0;
    state_reset_terminal(s);
    ts_reset(&s->ts);
    s->running = true; /* until the first prompt */
    s->last_change = now_mono();
    if (pthread_create(&s->thread, NULL, io_thread, s) != 0) {
        teardown(s);
        return error_set(err, ERR_INTERNAL, "bash: cannot start the I/O thread");
    }
    s->thread_started = true;

    /* wait for the first prompt */
    double deadline = now_mono() + START_WAIT_SECONDS;
    pthread_mutex_lock(&s->mu);
    while (s->running && !s->dead && now_mono() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    bool ok = !s->running && !s->dead;
    if (ok) epoch_reset(s);
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        teardown(s);
        return error_set(err, ERR_INTERNAL, "bash: the shell did not start");
    }
    return 0;
}

int bash_start(const struct bash_options *opts, struct bash_session **out, struct error *err)
{
    struct bash_session *s = xcalloc(1, sizeof(*s));
    s->master = s->wake_fd = -1;
    s->start_cwd = xstrdup(opts->cwd ? opts->cwd : "/");
    s->no_change_timeout =
        opts->no_change_timeout > 0 ? opts->no_change_timeout : BASH_DEFAULT_NO_CHANGE_TIMEOUT;
    s->hard_timeout = opts->hard_timeout > 0 ? opts->hard_timeout : BASH_DEFAULT_HARD_TIMEOUT;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->line = xmalloc(LINE_CAP * sizeof(*s->line));
    s->ts.ring = xmalloc(KEEP_BYTES);
    s->ts.shead = xmalloc(KEEP_BYTES);
    ts_reset(&s->ts);
    build_env(s, opts->envp);
    int rc = spawn(s, s->start_cwd, err);
    if (rc) {
        bash_close(s);
        *out = NULL;
        return rc;
    }
    *out = s;
    return 0;
}

void bash_close(struct bash_session *s)
{
    if (!s) return;
    teardown(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    for (size_t i = 0; s->envp && s->envp[i]; i++) free(s->envp[i]);
    free(s->envp);
    free(s->start_cwd);
    free(s->cwd);
    free(s->py);
    free(s->line);
    free(s->ts.head);
    free(s->ts.ring);
    free(s->ts.shead);
    buf_release(&s->wbuf);
    buf_release(&s->skip_expect);
    buf_release(&s->skip_inject);
    buf_release(&s->mbody);
    buf_release(&s->prev_line);
    buf_release(&s->scratch);
    free(s);
}

void bash_result_free(struct bash_result *res)
{
    if (!res) return;
    free(res->working_dir);
    free(res->command);
    res->working_dir = res->command = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* One tool call                                                                               */

/* Queues bytes for the I/O thread to write (the caller wakes it). */
static void type_bytes(struct bash_session *s, const char *p, size_t n)
{
    buf_add(&s->wbuf, p, n);
}

/* tmux send-keys "C-x": the control character of x. */
static char ctrl_key(char c)
{
    if (c >= 'a' && c <= 'z') return (char)(c - 'a' + 1);
    if (c >= 'A' && c <= 'Z') return (char)(c - 'A' + 1);
    switch (c) {
    case '@':
    case ' ':
        return 0;
    case '[':
        return 0x1b;
    case '\\':
        return 0x1c;
    case ']':
        return 0x1d;
    case '^':
        return 0x1e;
    case '_':
        return 0x1f;
    case '?':
        return 0x7f;
    default:
        return c;
    }
}

/* `_is_special_key`: "C-" and one more character. */
static bool is_special_key(const char *cmd)
{
    size_t n = strlen(cmd);
    return n >= 3 && cmd[0] == 'C' && cmd[1] == '-' && u8_count(cmd, n) == 3;
}

static void send_keys(struct bash_session *s, const char *text, bool special)
{
    if (special) {
        if ((unsigned char)text[2] >= 0x80) {
            type_bytes(s, text + 2, strlen(text + 2));
        } else {
            char c = ctrl_key(text[2]);
            type_bytes(s, &c, 1);
        }
        wake(s);
        return;
    }
    /* Control characters are typed literally (^V first): the terminal would otherwise act on
     * them (^C interrupts, ^D ends the input, ^U erases the line...). */
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            type_bytes(s, "\x16", 1);
        type_bytes(s, p, 1);
    }
    type_bytes(s, "\n", 1);
    wake(s);
}

static bool has_long_line(const char *cmd)
{
    size_t run = 0;
    for (const char *p = cmd; *p; p++) {
        run = *p == '\n' ? 0 : run + 1;
        if (run >= LONG_LINE) return true;
    }
    return false;
}

/* A new command for the shell. A line too long for the terminal's canonical mode goes through
 * a file that the shell sources, as later OpenHands versions do for long commands; the echo of
 * that short line is replaced by the command's own. */
static void send_command(struct bash_session *s, const char *cmd, bool special)
{
    size_t cl = strlen(cmd);
    if (s->ts.head_len == s->ts.total && s->ts.head_cap < s->ts.total + KEEP_BYTES + cl)
        s->ts.head_cap = s->ts.total + KEEP_BYTES + cl;
    s->running = true;
    if (!special && has_long_line(cmd)) {
        char path[] = "/tmp/ch-bash-cmd-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0) {
            size_t off = 0;
            bool ok = true;
            while (off < cl && ok) {
                ssize_t w = write(fd, cmd + off, cl - off);
                if (w < 0 && errno == EINTR) continue;
                ok = w > 0;
                if (ok) off += (size_t)w;
            }
            ok = ok && write(fd, "\n", 1) == 1;
            close(fd);
            if (ok) {
                struct buf line = BUF_INIT;
                buf_addf(&line, ". %s; _ch_rc=$?; rm -f %s; (exit $_ch_rc)", path, path);
                buf_reset(&s->skip_expect);
                buf_addf(&s->skip_expect, "%s\r\n", line.data);
                s->skip_pos = 0;
                buf_reset(&s->skip_inject);
                buf_addf(&s->skip_inject, "%s\n", cmd);
                buf_addch(&line, '\n');
                type_bytes(s, line.data, line.len);
                wake(s);
                buf_release(&line);
                return;
            }
            unlink(path);
        }
    }
    send_keys(s, cmd, special);
}

/* `_get_command_output`: the output since the last observation when the previous output is
 * still its prefix (else all of it, from the last clear), with the echoed command removed,
 * stripped, and cut to 30000 characters (CmdOutputObservation._maybe_truncate). Then the
 * observation state moves on (prev_output = the raw output). */
static void command_output(struct bash_session *s, const char *cmd, bool completed,
                           struct buf *content)
{
    struct textstore *ts = &s->ts;
    struct buf line = BUF_INIT;
    line_utf8(s, true, &line);
    struct vtext v;
    bool whole = true;
    if (s->prev_nonempty) {
        ts_region(ts, ts->s_start, ts->s_start_chars, ts->shead, ts->shead_len, line.data, line.len,
                  &v);
        if (v.head.len >= s->prev_line.len &&
            !memcmp(v.head.data, s->prev_line.data, s->prev_line.len)) {
            memmove(v.head.data, v.head.data + s->prev_line.len, v.head.len - s->prev_line.len);
            v.head.len -= s->prev_line.len;
            v.head.data[v.head.len] = '\0';
            whole = false;
        } else {
            vtext_release(&v);
        }
    }
    if (whole) ts_region(ts, 0, 0, ts->head, ts->head_len, line.data, line.len, &v);

    /* _remove_command_prefix: lstrip, removeprefix(command.lstrip()), lstrip; then rstrip */
    size_t a = py_lstrip_off(v.head.data, v.head.len);
    size_t cl = strlen(cmd);
    if (cl && v.head.len - a >= cl && !memcmp(v.head.data + a, cmd, cl)) a += cl;
    a += py_lstrip_off(v.head.data + a, v.head.len - a);
    const char *h = v.head.data + a;
    size_t hl = v.head.len - a;
    const char *t = v.tail.data;
    size_t tl = v.tail.len;
    if (v.gap_bytes)
        tl = py_rstrip_len(t, tl);
    else
        hl = py_rstrip_len(h, hl);
    size_t hc = u8_count(h, hl), tc = u8_count(t, tl);
    size_t chars = hc + v.gap_chars + tc;
    if (chars <= BASH_MAX_OUTPUT) {
        buf_add(content, h, hl);
        buf_add(content, t, tl);
    } else if (!v.gap_bytes) {
        buf_add(content, h, u8_skip(h, hl, HALF_OUTPUT));
        buf_adds(content, TRUNC_NOTICE);
        size_t ls = u8_last(h, hl, HALF_OUTPUT);
        buf_add(content, h + ls, hl - ls);
    } else {
        buf_add(content, h, u8_skip(h, hl, HALF_OUTPUT));
        buf_adds(content, TRUNC_NOTICE);
        size_t ls = u8_last(t, tl, HALF_OUTPUT);
        buf_add(content, t + ls, tl - ls);
    }
    vtext_release(&v);

    if (!completed) {
        /* prev_output = the raw output now: the pane's trailing empty lines do not count */
        s->prev_nonempty = ts->non_newline || line.len > 0;
        buf_reset(&s->prev_line);
        buf_add(&s->prev_line, line.data, line.len);
        ts->s_start = ts->total;
        ts->s_start_chars = ts->total_chars;
        ts->shead_len = 0;
    }
    buf_release(&line);
}

static void finish_text(struct buf *text, struct buf *out)
{
    /* conversation_memory: truncate_content(obs.to_agent_observation(), max_message_chars) */
    py_truncate(text);
    buf_add(out, text->data, text->len);
}

/* A call OpenHands refuses before running it (an ErrorObservation): `out` gets the message, cut
 * like truncate_content; the caller appends "\n[Error occurred in processing last action]". */
static void refuse(struct buf *out, struct bash_result *res, const char *msg)
{
    struct buf t = BUF_INIT;
    buf_adds(&t, msg);
    py_truncate(&t);
    buf_add(out, t.data, t.len);
    buf_release(&t);
    res->refused = true;
    res->exit_code = -1;
}

int bash_parse_timeout(json_t *v, double *seconds, struct buf *repr)
{
    double d;
    if (json_is_integer(v)) {
        d = (double)json_integer_value(v);
    } else if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (json_is_boolean(v)) {
        d = json_is_true(v) ? 1.0 : 0.0;
    } else if (json_is_string(v)) {
        if (!bash_parse_py_float(json_string_value(v), &d)) return -1;
    } else {
        return -1;
    }
    *seconds = d;
    if (repr) bash_py_float_repr(d, repr);
    return 0;
}

/* Python's str() of a JSON value, for the error message. */
static void py_str(json_t *v, struct buf *o)
{
    if (json_is_string(v)) {
        buf_adds(o, json_string_value(v));
    } else if (json_is_null(v)) {
        buf_adds(o, "None");
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (d) buf_adds(o, d);
        free(d);
    }
}

/* Python str.strip() */
static char *py_strip(const char *s)
{
    size_t n = strlen(s);
    size_t z = py_rstrip_len(s, n);
    size_t a = py_lstrip_off(s, z);
    return strndup(s + a, z - a);
}

static void cond_wait_until(struct bash_session *s, double deadline)
{
    double now = now_mono();
    if (deadline <= now) return;
    double d = deadline - now;
    if (d > 1.0) d = 1.0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(d * 1e9);
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

static int exit_code_of(int wait_status)
{
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return -1;
}

void bash_run(struct bash_session *s, json_t *args, struct buf *out, struct bash_result *res)
{
    memset(res, 0, sizeof(*res));
    res->exit_code = -1;

    /* function_calling.py: the tool-call glue */
    json_t *jc = json_is_object(args) ? json_object_get(args, "command") : NULL;
    if (!jc || !json_is_string(jc)) {
        refuse(out, res, "Missing required argument \"command\" in tool call execute_bash");
        return;
    }
    /* `arguments.get('is_input', 'false') == 'true'`: only the string "true" */
    json_t *ji = json_object_get(args, "is_input");
    bool is_input = ji && json_is_string(ji) && !strcmp(json_string_value(ji), "true");
    json_t *jt = json_object_get(args, "timeout");
    bool blocking = false;
    double timeout = 0;
    struct buf trepr = BUF_INIT;
    if (jt) {
        if (bash_parse_timeout(jt, &timeout, &trepr) < 0) {
            struct buf m = BUF_INIT;
            buf_adds(&m, "Invalid float passed to 'timeout' argument: ");
            py_str(jt, &m);
            refuse(out, res, m.data);
            buf_release(&m);
            buf_release(&trepr);
            return;
        }
        blocking = true; /* set_hard_timeout(..., blocking=True) */
    }
    char *cmd = py_strip(json_string_value(jc));
    if (!cmd) abort();
    res->command = xstrdup(cmd);

    pthread_mutex_lock(&s->mu);
    if (s->dead && (s->status == ST_COMPLETED || (cmd[0] && !is_input))) {
        /* the shell exited (`exit`, C-d, killed): start a new one where the old one was. (An
         * empty command or input after a timeout first reports how the old one ended.) */
        const char *where = s->cwd ? s->cwd : s->start_cwd;
        struct stat st;
        char *dir = xstrdup(stat(where, &st) == 0 && S_ISDIR(st.st_mode) ? where : s->start_cwd);
        pthread_mutex_unlock(&s->mu);
        teardown(s);
        struct error e = {0};
        int rc = spawn(s, dir, &e);
        free(dir);
        pthread_mutex_lock(&s->mu);
        if (rc) {
            pthread_mutex_unlock(&s->mu);
            buf_addf(out, "ERROR: The bash shell could not be restarted: %s", e.message);
            free(cmd);
            buf_release(&trepr);
            return;
        }
    }

    struct buf text = BUF_INIT;
    struct buf content = BUF_INIT;
    if (s->status == ST_COMPLETED) {
        if (!cmd[0]) {
            buf_adds(out, "ERROR: No previous running command to retrieve logs from.");
            goto done;
        }
        if (is_input) {
            buf_adds(out, "ERROR: No previous running command to interact with.");
            goto done;
        }
    }

    char **items;
    size_t nitems;
    bash_split_commands(cmd, &items, &nitems);
    if (nitems > 1) {
        struct buf m = BUF_INIT;
        buf_adds(&m, "ERROR: Cannot execute multiple commands at once.\nPlease run each command "
                     "separately OR chain them into a single command via && or ;\nProvided "
                     "commands:");
        for (size_t i = 0; i < nitems; i++) buf_addf(&m, "\n(%zu) %s", i + 1, items[i]);
        bash_split_free(items, nitems);
        refuse(out, res, m.data);
        buf_release(&m);
        goto done;
    }
    bash_split_free(items, nitems);

    bool special = is_special_key(cmd);
    bool idle = !s->running && !s->after_marker_nonblank;
    if (s->status != ST_COMPLETED && !idle && !is_input && cmd[0]) {
        /* a new command while the previous one still runs: not typed */
        bool had = s->prev_nonempty;
        command_output(s, cmd, false, &content);
        if (had) buf_adds(&text, CONTINUE_PREFIX);
        buf_add(&text, content.data, content.len);
        buf_addf(&text,
                 "\n[Your command \"%s\" is NOT executed. The previous command is still running - "
                 "You CANNOT send new commands until the previous command is completed. By "
                 "setting `is_input` to `true`, you can interact with the current process: %s]",
                 cmd, TIMEOUT_TEMPLATE);
        finish_text(&text, out);
        goto done;
    }

    if (cmd[0]) {
        if (is_input) {
            /* When the command finished unobserved, OpenHands would type this into the idle shell
             * as a new command; it is not typed here (see the report). */
            if (s->running) send_keys(s, cmd, special);
        } else {
            send_command(s, cmd, special);
        }
    }

    double start = now_mono();
    double hard = blocking ? timeout : (double)s->hard_timeout;
    /* OpenHands: `if action.timeout and elapsed >= action.timeout` — 0 (and NaN) never times
     * out there; a bound is kept here so that a call always returns. */
    if (blocking && (timeout == 0 || isnan(timeout) || isinf(timeout))) hard = s->hard_timeout;
    enum { R_DONE, R_DEAD, R_SOFT, R_HARD } outcome;
    for (;;) {
        if (!s->running) {
            outcome = R_DONE;
            break;
        }
        if (s->dead) {
            outcome = R_DEAD;
            break;
        }
        double now = now_mono();
        double changed = s->last_change > start ? s->last_change : start;
        if (!blocking && now - changed >= s->no_change_timeout) {
            outcome = R_SOFT;
            break;
        }
        if (now - start >= hard) {
            outcome = R_HARD;
            break;
        }
        double deadline = start + hard;
        if (!blocking && changed + s->no_change_timeout < deadline)
            deadline = changed + s->no_change_timeout;
        cond_wait_until(s, deadline);
    }

    bool had_prev = s->prev_nonempty;
    if (outcome == R_DONE || outcome == R_DEAD) {
        /* _handle_completed_command: no prefix, even after a timeout */
        int code = s->last_exit;
        if (outcome == R_DEAD) {
            if (s->line_len) commit_line(s, true);
            code = exit_code_of(s->wait_status);
        }
        command_output(s, cmd, true, &content);
        buf_add(&text, content.data, content.len);
        if (special) {
            /* `CTRL+{command[-1].upper()}` */
            char key[8];
            snprintf(key, sizeof(key), "%s", cmd + 2);
            if (key[0] >= 'a' && key[0] <= 'z') key[0] = (char)(key[0] - 'a' + 'A');
            buf_addf(&text, "\n[The command completed with exit code %d. CTRL+%s was sent.]", code,
                     key);
        } else {
            buf_addf(&text, "\n[The command completed with exit code %d.]", code);
        }
        if (s->cwd && s->cwd[0]) buf_addf(&text, "\n[Current working directory: %s]", s->cwd);
        if (s->py && s->py[0]) buf_addf(&text, "\n[Python interpreter: %s]", s->py);
        if (code != -1) buf_addf(&text, "\n[Command finished with exit code %d]", code);
        res->exit_code = code;
        epoch_reset(s);
        if (outcome == R_DEAD) s->status = ST_COMPLETED;
    } else {
        command_output(s, cmd, false, &content);
        if (had_prev) buf_adds(&text, CONTINUE_PREFIX);
        buf_add(&text, content.data, content.len);
        if (outcome == R_SOFT) {
            buf_addf(&text, "\n[The command has no new output after %d seconds. %s]",
                     s->no_change_timeout, TIMEOUT_TEMPLATE);
            s->status = ST_NO_CHANGE_TIMEOUT;
        } else {
            struct buf tr = BUF_INIT;
            if (blocking)
                buf_add(&tr, trepr.data, trepr.len);
            else
                buf_addf(&tr, "%d", s->hard_timeout); /* sandbox.timeout is an int */
            buf_addf(&text, "\n[The command timed out after %s seconds. %s]", tr.data,
                     TIMEOUT_TEMPLATE);
            buf_release(&tr);
            s->status = ST_HARD_TIMEOUT;
        }
    }
    finish_text(&text, out);

done:
    if (s->cwd) res->working_dir = xstrdup(s->cwd);
    pthread_mutex_unlock(&s->mu);
    buf_release(&text);
    buf_release(&content);
    buf_release(&trepr);
    free(cmd);
}
