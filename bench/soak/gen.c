/* soak-gen: the load generator of the HTTP soak run (bench/soak.py).
 *
 *   soak-gen --addr HOST:PORT --root DIR [--conns N] [--duration S]
 *            [--mix K=W,...] [--timeout S] [--seed N] [--backend B]
 *
 * N connection slots run at once, one coroutine each, for S seconds. Each
 * slot opens a connection, picks a kind for it (weights from --mix), runs
 * it to its end, and opens the next:
 *
 *   keepalive  one request, its answer, a think time (mostly 50..500 ms), again (50 to
 *              1550 requests, so some pass the server's cap of 1000)
 *   pipeline   bursts of 2..32 requests in one write, the answers read and
 *              matched in order; one burst in 20 has a "Connection: close"
 *              in the middle (the requests behind it must stay unanswered)
 *   slowread   a pipeline with large files, then no reading for 1..8 s,
 *              then reading in small pieces with gaps and a second stop in
 *              the middle of a body, then everything else at full speed
 *   slowwrite  request heads written a byte (or a third) at a time with
 *              pauses, 0.5..5 s per head (the server's limits: 10 s per
 *              head, 5 s per read)
 *   reset      a connection ended by RST (SO_LINGER 0 + close): in the
 *              middle of a request head, in the middle of a response body,
 *              or right after a pipeline is written, before any answer
 *
 * Every answer is verified: status, Content-Length, and every body byte
 * against the file under --root it must come from. Consecutive requests
 * on a connection never ask for the same thing and every file has its own
 * size, so an answer lost, duplicated or out of order shows up as the
 * wrong answer to the next request (and a missing last one as a
 * connection that ended with requests outstanding). Every request carries
 * a unique id (query "?id=N" and header X-Soak-Id) for the log; ringo-httpd
 * has no route that echoes it.
 *
 * Accounting, per request written completely:
 *   answered      a verified answer arrived
 *   after_close   behind an answer that said "Connection: close": the
 *                 server may leave it unanswered (RFC 9112 9.6)
 *   abandoned     outstanding when this generator reset the connection or
 *                 gave up on it after a failure
 *   lost          the server closed or reset the connection without an
 *                 answer and without announcing the close       (failure)
 *   timeout       no complete answer within --timeout            (failure)
 *   bad           a wrong answer                                 (failure)
 * plus extra (bytes after "Connection: close" or with nothing asked) and
 * connect errors as failures. The summary is one JSON line on stdout; the
 * exit status is 1 when any failure was counted.
 *
 * One worker: the driver pins this process to one CPU. */
#include <ringo.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S  1000000000LL

#define RBUF_SIZE     (8 * 1024) /* per connection; a response head must fit */
#define WBUF_SIZE     (8 * 1024) /* one burst of requests */
#define QMAX          40         /* outstanding requests per connection */
#define REQ_MAX       200        /* bytes of one request head */
#define MAX_FILES     4096
#define MAX_BIG       16
#define FAILS_SHOWN   40
#define CONNECT_SLOTS 128 /* connects in flight at once */
/* A slow writer whose head took this long may get the server's 408. */
#define HEAD_LIMIT_NS (9 * NS_PER_S)

enum kind { K_KEEPALIVE, K_PIPELINE, K_SLOWREAD, K_SLOWWRITE, K_RESET, K_N };
static const char *const kind_name[K_N] = {"keepalive", "pipeline", "slowread", "slowwrite",
                                           "reset"};

enum counter {
    C_CONNS,
    C_CONNECT_ERR,
    C_SENT,
    C_ANSWERED,
    C_AFTER_CLOSE,
    C_ABANDONED,
    C_LOST,
    C_TIMEOUT,
    C_BAD,
    C_EXTRA,
    C_SERVER_CLOSE, /* answers that said Connection: close */
    C_RST_AFTER_CLOSE,
    C_RESETS, /* connections this generator reset on purpose */
    C_LEGIT_408,
    C_BODY_BYTES,
    C_N
};
static const char *const counter_name[C_N] = {
    "conns",  "connect_errors", "sent",      "answered", "after_close",  "abandoned",
    "lost",   "timeout",        "bad",       "extra",    "server_close", "rst_after_close",
    "resets", "legit_408",      "body_bytes"};

/* What a request asked for: a file index, or one of these. */
#define T_PLAIN   (-1)
#define T_MISSING (-2)

typedef struct file {
    char name[24];
    char *data;
    size_t len;
} file;

typedef struct req {
    uint64_t id;
    int target;
    uint8_t head;   /* HEAD instead of GET */
    uint8_t close;  /* sent with Connection: close */
    uint8_t may408; /* a slow head that took about the server's limit */
    size_t wend;    /* end of this request in the write buffer */
    int64_t sent_at;
} req;

typedef struct slot {
    int idx;
    uint64_t rng;
    int fd;
    enum kind kind;
    char *rbuf;
    size_t rbeg, rend;
    char wbuf[WBUF_SIZE];
    size_t wlen;
    req q[QMAX]; /* outstanding, q[qh .. qh+qn) mod QMAX */
    unsigned qh, qn;
    int last_target;
    int closing; /* an answer said Connection: close */
    /* slow reading: at most pace_chunk bytes per read, pace_gap before each,
     * until pace_until bytes were read on the connection; one stop of
     * stop_ns once stop_at bytes were read */
    size_t pace_chunk;
    int64_t pace_gap;
    uint64_t rtotal, pace_until, stop_at;
    int64_t stop_ns;
    int64_t last_rx; /* when the last bytes arrived (for failure reports) */
} slot;

/* Everything runs on the one worker: plain counters, no atomics. */
static struct {
    ringo_addr addr;
    const char *addr_text;
    const char *root;
    const char *backend;
    int conns;
    double duration;
    int64_t timeout_ns;
    unsigned weight[K_N];
    unsigned weight_sum;
    uint64_t seed;
    file small[MAX_FILES];
    int nsmall;
    file big[MAX_BIG];
    int nbig;
    int64_t t0, stop_at;
    uint64_t next_id;
    int connecting;
    int live_slots;
    int open_conns;
    uint64_t c[K_N][C_N];
    int64_t lat_max_ns[K_N];
    uint64_t lat_over_1s[K_N];
    unsigned fails_shown;
    int exit_code;
} g;

static uint64_t rnd(slot *s)
{
    /* xorshift64* */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd_below(slot *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

static double since_start(void)
{
    return (double)(ringo_now() - g.t0) / 1e9;
}

static int load_stopping(void)
{
    return ringo_now() >= g.stop_at || ringo_stopping();
}

static void count(slot *s, enum counter c, uint64_t n)
{
    g.c[s->kind][c] += n;
}

static const char *target_name(int t, char *buf, size_t len)
{
    if (t == T_PLAIN)
        snprintf(buf, len, "/plaintext");
    else if (t == T_MISSING)
        snprintf(buf, len, "/missing");
    else if (t >= MAX_FILES)
        snprintf(buf, len, "/%s", g.big[t - MAX_FILES].name);
    else
        snprintf(buf, len, "/%s", g.small[t].name);
    return buf;
}

static const file *target_file(int t)
{
    if (t >= MAX_FILES)
        return &g.big[t - MAX_FILES];
    return t >= 0 ? &g.small[t] : NULL;
}

/* A failure is counted by the caller; the first FAILS_SHOWN are described
 * on stderr so a soak run names what went wrong. */
static void report(slot *s, const req *rq, const char *fmt, ...)
{
    if (g.fails_shown >= FAILS_SHOWN)
        return;
    g.fails_shown++;
    char t[80] = "-", name[32], msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (rq)
        snprintf(t, sizeof(t), "id %llu %s %s", (unsigned long long)rq->id,
                 rq->head ? "HEAD" : "GET", target_name(rq->target, name, sizeof(name)));
    fprintf(stderr, "soak-gen: FAIL t=%.1fs slot %d %s %s: %s\n", since_start(), s->idx,
            kind_name[s->kind], t, msg);
}

/* ---- the read side ---- */

enum rres { A_OK, A_EOF, A_RESET, A_TIMEOUT, A_ERR, A_BAD, A_CUT, A_408 };

/* Read more into the buffer. Returns bytes read, 0 at end of stream, or
 * -errno. Slow-reading pace and the stop in the middle apply here. */
static ssize_t fill(slot *s, int64_t deadline)
{
    if (s->rbeg == s->rend)
        s->rbeg = s->rend = 0;
    else if (s->rend == RBUF_SIZE) {
        memmove(s->rbuf, s->rbuf + s->rbeg, s->rend - s->rbeg);
        s->rend -= s->rbeg;
        s->rbeg = 0;
    }
    size_t room = RBUF_SIZE - s->rend;
    int paced = s->pace_chunk && s->rtotal < s->pace_until;
    if (paced && room > s->pace_chunk)
        room = s->pace_chunk;
    if (s->stop_at && s->rtotal >= s->stop_at) {
        s->stop_at = 0;
        ringo_sleep(s->stop_ns);
    }
    if (paced)
        ringo_sleep(s->pace_gap);
    ssize_t n = ringo_read(s->fd, s->rbuf + s->rend, room, deadline);
    if (n > 0) {
        s->rend += (size_t)n;
        s->rtotal += (uint64_t)n;
        s->last_rx = ringo_now();
    }
    return n;
}

static enum rres read_error(ssize_t n)
{
    if (n == 0)
        return A_EOF;
    if (n == -ECONNRESET)
        return A_RESET;
    return n == -ETIMEDOUT ? A_TIMEOUT : A_ERR;
}

typedef struct rhead {
    int status;
    long long clen; /* -1: none */
    int close;
    int chunked;
} rhead;

static int token_has(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (!strncasecmp(v + i, tok, tl) && (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
            (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' '))
            return 1;
    return 0;
}

/* Parse a response head p[0, n) (ends with CRLF CRLF). Returns 0 or -1. */
static int parse_head(const char *p, size_t n, rhead *h)
{
    h->status = 0;
    h->clen = -1;
    h->close = h->chunked = 0;
    if (n < 16 || memcmp(p, "HTTP/1.1 ", 9) || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
        p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    const char *line = memchr(p, '\n', n);
    const char *end = p + n - 2; /* the empty line */
    while (line && line + 1 < end) {
        const char *ls = line + 1;
        const char *le = memchr(ls, '\n', (size_t)(end - ls) + 1);
        if (!le || le == ls || le[-1] != '\r')
            return -1;
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (!colon || colon == ls)
            return -1;
        const char *v = colon + 1, *ve = le - 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nl = (size_t)(colon - ls), vl = (size_t)(ve - v);
        if (nl == 14 && !strncasecmp(ls, "Content-Length", 14)) {
            long long x = 0;
            if (vl == 0 || vl > 15)
                return -1;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                x = x * 10 + (v[i] - '0');
            }
            if (h->clen >= 0 && h->clen != x)
                return -1;
            h->clen = x;
        } else if (nl == 10 && !strncasecmp(ls, "Connection", 10)) {
            h->close |= token_has(v, vl, "close");
        } else if (nl == 17 && !strncasecmp(ls, "Transfer-Encoding", 17)) {
            h->chunked = 1;
        }
        line = le;
    }
    return 0;
}

/* Body bytes that must be discarded (404 bodies, whatever they say). */
static enum rres skip_body(slot *s, size_t len, int64_t dl)
{
    while (len) {
        if (s->rbeg == s->rend) {
            ssize_t n = fill(s, dl);
            if (n <= 0)
                return read_error(n);
        }
        size_t k = s->rend - s->rbeg < len ? s->rend - s->rbeg : len;
        s->rbeg += k;
        len -= k;
    }
    return A_OK;
}

/* Compare the body with want[0, len) as it streams in; cut > 0 stops after
 * that many bytes (the reset kind). */
static enum rres check_body(slot *s, const req *rq, const char *want, size_t len, size_t cut,
                            int64_t dl)
{
    size_t off = 0;
    while (off < len) {
        if (cut && off >= cut)
            return A_CUT;
        if (s->rbeg == s->rend) {
            ssize_t n = fill(s, dl);
            if (n <= 0) {
                if (n == 0 || n == -ECONNRESET)
                    report(s, rq, "body cut at %zu of %zu bytes (%s)", off, len,
                           n ? "reset" : "EOF");
                return read_error(n);
            }
        }
        size_t k = s->rend - s->rbeg < len - off ? s->rend - s->rbeg : len - off;
        if (cut && k > cut - off)
            k = cut - off;
        if (memcmp(s->rbuf + s->rbeg, want + off, k)) {
            size_t i = 0;
            while (s->rbuf[s->rbeg + i] == want[off + i])
                i++;
            report(s, rq, "body differs at byte %zu of %zu", off + i, len);
            return A_BAD;
        }
        s->rbeg += k;
        off += k;
        g.c[s->kind][C_BODY_BYTES] += k;
    }
    return A_OK;
}

/* Read the answer to rq and verify it. */
static enum rres read_one(slot *s, const req *rq, size_t cut)
{
    int64_t dl = ringo_deadline_in(g.timeout_ns);
    size_t hl;
    for (;;) {
        char *p = s->rbuf + s->rbeg;
        size_t n = s->rend - s->rbeg;
        char *e = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
        if (e) {
            hl = (size_t)(e + 4 - p);
            break;
        }
        if (n == RBUF_SIZE) {
            report(s, rq, "response head over %d bytes", RBUF_SIZE);
            return A_BAD;
        }
        ssize_t r = fill(s, dl);
        if (r <= 0) {
            if (n && (r == 0 || r == -ECONNRESET)) {
                report(s, rq, "stream ended inside a response head (%zu bytes)", n);
                return A_BAD;
            }
            return read_error(r);
        }
    }
    rhead h;
    if (parse_head(s->rbuf + s->rbeg, hl, &h) < 0) {
        report(s, rq, "unparsable head: %.60s", s->rbuf + s->rbeg);
        return A_BAD;
    }
    s->rbeg += hl;
    if (h.close) {
        s->closing = 1;
        count(s, C_SERVER_CLOSE, 1);
    }
    if (rq->close)
        s->closing = 1;
    if (h.chunked || h.clen < 0) {
        report(s, rq, "status %d without Content-Length", h.status);
        return A_BAD;
    }
    if (h.status == 408 && rq->may408 && h.close) {
        enum rres r = skip_body(s, (size_t)h.clen, dl);
        return r == A_OK ? A_408 : r;
    }
    const file *f = target_file(rq->target);
    int want_status = rq->target == T_MISSING ? 404 : 200;
    if (h.status != want_status) {
        report(s, rq, "status %d, expected %d", h.status, want_status);
        return A_BAD;
    }
    if (rq->target == T_MISSING)
        return skip_body(s, (size_t)h.clen, dl);
    const char *want = f ? f->data : "Hello, World!";
    size_t wlen = f ? f->len : 13;
    if ((size_t)h.clen != wlen) {
        report(s, rq, "Content-Length %lld, expected %zu", h.clen, wlen);
        return A_BAD;
    }
    if (rq->head)
        return A_OK;
    return check_body(s, rq, want, wlen, cut, dl);
}

/* ---- the write side ---- */

static void pick_target(slot *s, req *rq, int big_pct)
{
    int t;
    if (!g.nbig)
        big_pct = 0;
    do {
        unsigned r = rnd_below(s, 100);
        rq->head = 0;
        if (g.nbig && r < (unsigned)big_pct)
            t = MAX_FILES + (int)rnd_below(s, (unsigned)g.nbig);
        else if (r < (unsigned)big_pct + 8)
            t = T_PLAIN;
        else if (r < (unsigned)big_pct + 12)
            t = T_MISSING;
        else {
            t = (int)rnd_below(s, (unsigned)g.nsmall);
            rq->head = r < (unsigned)big_pct + 17;
        }
    } while (t == s->last_target);
    s->last_target = t;
    rq->target = t;
}

/* Append one request to the write buffer and to the outstanding queue
 * (it counts as sent once written). Returns its length. */
static size_t add_req(slot *s, int big_pct, int close)
{
    req *rq = &s->q[(s->qh + s->qn) % QMAX];
    pick_target(s, rq, big_pct);
    rq->id = ++g.next_id;
    rq->close = (uint8_t)close;
    rq->may408 = 0;
    char path[40];
    if (rq->target == T_MISSING)
        snprintf(path, sizeof(path), "/missing%llu", (unsigned long long)rq->id);
    else
        target_name(rq->target, path, sizeof(path));
    int n = snprintf(s->wbuf + s->wlen, WBUF_SIZE - s->wlen,
                     "%s %s?id=%llu HTTP/1.1\r\nHost: soak\r\nUser-Agent: soak-gen\r\n"
                     "X-Soak-Id: %llu\r\n%s\r\n",
                     rq->head ? "HEAD" : "GET", path, (unsigned long long)rq->id,
                     (unsigned long long)rq->id, close ? "Connection: close\r\n" : "");
    s->wlen += (size_t)n;
    rq->wend = s->wlen;
    s->qn++;
    return (size_t)n;
}

/* Write the buffer; requests written completely count as sent, the rest
 * leave the queue. Returns 0, or -errno (the written ones stay queued: the
 * server may still answer them). */
static int send_all(slot *s)
{
    size_t done = 0;
    int64_t now = ringo_now();
    ssize_t r = ringo_write_all(s->fd, s->wbuf, s->wlen, &done, ringo_deadline_in(g.timeout_ns));
    if (r >= 0)
        done = s->wlen;
    unsigned keep = 0;
    for (unsigned i = 0; i < s->qn; i++) {
        req *rq = &s->q[(s->qh + i) % QMAX];
        if (rq->wend <= done && (i == keep)) {
            rq->sent_at = now;
            keep++;
        }
    }
    s->qn = keep;
    count(s, C_SENT, keep);
    s->wlen = 0;
    return r < 0 ? (int)r : 0;
}

/* ---- connections ---- */

static void rst_close(slot *s)
{
    struct linger l = {1, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    ringo_close(s->fd);
    s->fd = -1;
    g.open_conns--;
}

/* Close a connection that is in sync: nothing may be left to read. */
static void plain_close(slot *s)
{
    char b[64];
    if (s->rbeg != s->rend) {
        report(s, NULL, "%zu bytes nobody asked for", s->rend - s->rbeg);
        count(s, C_EXTRA, 1);
    } else if (!s->closing) {
        ssize_t n = ringo_recv(s->fd, b, sizeof(b), MSG_DONTWAIT, RINGO_NOWAIT);
        if (n > 0) {
            report(s, NULL, "%zd bytes nobody asked for", n);
            count(s, C_EXTRA, 1);
        }
    }
    ringo_close(s->fd);
    s->fd = -1;
    g.open_conns--;
}

static int open_conn(slot *s)
{
    while (g.connecting >= CONNECT_SLOTS && !load_stopping())
        ringo_sleep(NS_PER_MS);
    if (load_stopping())
        return -1;
    g.connecting++;
    int fd = ringo_tcp_connect(&g.addr, ringo_deadline_in(10 * NS_PER_S));
    g.connecting--;
    if (fd < 0) {
        report(s, NULL, "connect: %s", ringo_strerror(fd));
        count(s, C_CONNECT_ERR, 1);
        ringo_sleep(100 * NS_PER_MS);
        return -1;
    }
    s->fd = fd;
    s->rbeg = s->rend = 0;
    s->qh = s->qn = 0;
    s->wlen = 0;
    s->closing = 0;
    s->last_target = T_MISSING - 1;
    s->pace_chunk = 0;
    s->pace_gap = 0;
    s->rtotal = s->pace_until = s->stop_at = 0;
    s->last_rx = 0;
    g.open_conns++;
    count(s, C_CONNS, 1);
    return 0;
}

static void note_latency(slot *s, const req *rq)
{
    int64_t lat = ringo_now() - rq->sent_at;
    if (lat > g.lat_max_ns[s->kind])
        g.lat_max_ns[s->kind] = lat;
    if (lat > NS_PER_S)
        g.lat_over_1s[s->kind]++;
}

/* After an answer that said close: the requests behind it may go
 * unanswered, and the server must end the stream with nothing more. */
static void expect_close(slot *s)
{
    count(s, C_AFTER_CLOSE, s->qn);
    s->qn = 0;
    ssize_t n = s->rend - s->rbeg ? 1 : fill(s, ringo_deadline_in(g.timeout_ns));
    if (n > 0) {
        report(s, NULL, "bytes after a Connection: close answer: %.40s", s->rbuf + s->rbeg);
        count(s, C_EXTRA, 1);
        rst_close(s);
        return;
    }
    if (n == -ECONNRESET)
        count(s, C_RST_AFTER_CLOSE, 1);
    else if (n < 0) {
        report(s, NULL, "no end of stream after Connection: close: %s", ringo_strerror((int)n));
        count(s, C_TIMEOUT, 1);
        rst_close(s);
        return;
    }
    ringo_close(s->fd);
    s->fd = -1;
    g.open_conns--;
}

/* Read the answers to up to `n` outstanding requests (cut: stop inside the
 * first one's body after that many bytes; 0 = read it all). Returns 0 while
 * the connection is usable, -1 once it is closed (the slot's fd is gone,
 * everything outstanding accounted for). */
static int read_answers(slot *s, unsigned n, size_t cut)
{
    for (unsigned i = 0; i < n && s->qn; i++) {
        req *rq = &s->q[s->qh];
        enum rres r = read_one(s, rq, i == 0 ? cut : 0);
        if (r == A_OK || r == A_408) {
            count(s, r == A_OK ? C_ANSWERED : C_LEGIT_408, 1);
            if (s->kind == K_KEEPALIVE || s->kind == K_PIPELINE)
                note_latency(s, rq);
            s->qh = (s->qh + 1) % QMAX;
            s->qn--;
            if (s->closing) {
                expect_close(s);
                return -1;
            }
            continue;
        }
        if (r == A_CUT)
            return 0;
        if (r == A_EOF || r == A_RESET || r == A_ERR) {
            int64_t now = ringo_now();
            report(s, rq,
                   "%s with %u request(s) unanswered (sent %.1f s ago, %llu bytes "
                   "read on the connection, the last %.1f s ago)",
                   r == A_EOF     ? "server closed"
                   : r == A_RESET ? "server reset"
                                  : "read error",
                   s->qn, (double)(now - rq->sent_at) / 1e9, (unsigned long long)s->rtotal,
                   s->last_rx ? (double)(now - s->last_rx) / 1e9 : -1.0);
            count(s, C_LOST, s->qn);
        } else if (r == A_TIMEOUT) {
            report(s, rq, "no answer in %.0f s", (double)g.timeout_ns / 1e9);
            count(s, C_TIMEOUT, 1);
            count(s, C_ABANDONED, s->qn - 1);
        } else {
            count(s, C_BAD, 1);
            count(s, C_ABANDONED, s->qn - 1);
        }
        s->qn = 0;
        rst_close(s);
        return -1;
    }
    return 0;
}

/* Write the burst in the buffer and read every answer. */
static int round_trip(slot *s)
{
    int w = send_all(s);
    if (read_answers(s, QMAX, 0) < 0)
        return -1;
    if (w < 0) {
        /* answered everything written, yet the write failed: the server
         * went away without saying so */
        report(s, NULL, "write: %s", ringo_strerror(w));
        count(s, C_LOST, 1);
        rst_close(s);
        return -1;
    }
    return 0;
}

static void run_keepalive(slot *s)
{
    unsigned n = 50 + rnd_below(s, 1500);
    for (unsigned i = 0; i < n && !load_stopping(); i++) {
        add_req(s, 1, i + 1 == n && rnd_below(s, 4) == 0);
        if (round_trip(s) < 0)
            return;
        /* a think time keeps 10,000 of these from saturating either CPU:
         * a soak at the edge of overload measures queueing (latencies of
         * tens of seconds, slow writers' pauses stretched into 408s,
         * keep-alive idle timeouts racing the next request), not the
         * server's bookkeeping */
        unsigned think = rnd_below(s, 4) ? 50 + rnd_below(s, 450) : 0;
        if (think)
            ringo_sleep(think * NS_PER_MS);
    }
    plain_close(s);
}

static void run_pipeline(slot *s)
{
    unsigned bursts = 5 + rnd_below(s, 100);
    for (unsigned b = 0; b < bursts && !load_stopping(); b++) {
        unsigned depth = 2 + rnd_below(s, 31);
        int close_at = rnd_below(s, 20) == 0 ? (int)rnd_below(s, depth) : -1;
        for (unsigned i = 0; i < depth; i++)
            add_req(s, 1, (int)i == close_at);
        if (round_trip(s) < 0)
            return;
        ringo_sleep((200 + rnd_below(s, 1800)) * NS_PER_MS);
    }
    plain_close(s);
}

static void run_slowread(slot *s)
{
    unsigned cycles = 1 + rnd_below(s, 4);
    for (unsigned c = 0; c < cycles && !load_stopping(); c++) {
        unsigned depth = 2 + rnd_below(s, 7);
        for (unsigned i = 0; i < depth; i++)
            add_req(s, 60, 0);
        int w = send_all(s);
        /* stop reading: the server's writes block on a full socket */
        ringo_sleep((1000 + rnd_below(s, 7000)) * NS_PER_MS);
        /* slow for at most 256 KiB: 2.6 s at the slowest pace */
        s->pace_chunk = 1024 + rnd_below(s, 3072);
        s->pace_gap = (2 + rnd_below(s, 8)) * NS_PER_MS;
        s->pace_until = s->rtotal + 65536 + rnd_below(s, 196608);
        s->stop_at = s->rtotal + 1 + rnd_below(s, 200000);
        s->stop_ns = (500 + rnd_below(s, 4500)) * NS_PER_MS;
        if (read_answers(s, QMAX, 0) < 0)
            return;
        s->stop_at = 0;
        if (w < 0) {
            report(s, NULL, "write: %s", ringo_strerror(w));
            count(s, C_LOST, 1);
            rst_close(s);
            return;
        }
    }
    plain_close(s);
}

static void run_slowwrite(slot *s)
{
    unsigned n = 1 + rnd_below(s, 4);
    for (unsigned i = 0; i < n && !load_stopping(); i++) {
        size_t len = add_req(s, 5, 0);
        req *rq = &s->q[s->qh];
        unsigned pieces = rnd_below(s, 5) == 0 ? 3 : (unsigned)len;
        int64_t total = (500 + rnd_below(s, 4500)) * NS_PER_MS;
        int64_t start = ringo_now();
        size_t off = 0;
        for (unsigned p = 0; p < pieces; p++) {
            size_t end = p + 1 == pieces ? len : len * (p + 1) / pieces;
            if (end == off)
                continue;
            ssize_t w = ringo_write_all(s->fd, s->wbuf + off, end - off, NULL,
                                        ringo_deadline_in(g.timeout_ns));
            if (w < 0) {
                /* the head is incomplete: the server may drop it */
                report(s, rq, "slow write: %s", ringo_strerror((int)w));
                count(s, C_LOST, 1);
                s->qn = 0;
                s->wlen = 0;
                rst_close(s);
                return;
            }
            off = end;
            if (p + 1 < pieces)
                ringo_sleep(total / pieces);
        }
        rq->may408 = ringo_now() - start >= HEAD_LIMIT_NS;
        rq->sent_at = ringo_now();
        s->wlen = 0;
        count(s, C_SENT, 1);
        if (read_answers(s, 1, 0) < 0)
            return;
    }
    plain_close(s);
}

static void run_reset(slot *s)
{
    unsigned how = rnd_below(s, 3);
    if (how == 0) {
        /* a few whole requests, then part of a head, then RST */
        unsigned whole = rnd_below(s, 4);
        for (unsigned i = 0; i < whole; i++)
            add_req(s, 1, 0);
        if (whole && round_trip(s) < 0)
            return;
        size_t len = add_req(s, 1, 0);
        size_t part = 1 + rnd_below(s, (unsigned)len - 1);
        ringo_write_all(s->fd, s->wbuf, part, NULL, ringo_deadline_in(g.timeout_ns));
        s->qn = 0;
        s->wlen = 0;
        ringo_sleep(rnd_below(s, 300) * NS_PER_MS);
    } else if (how == 1) {
        /* a pipeline led by a large file; RST inside its body */
        unsigned depth = 1 + rnd_below(s, 4);
        for (unsigned i = 0; i < depth; i++)
            add_req(s, i == 0 ? 100 : 30, 0);
        send_all(s);
        const file *f = target_file(s->q[s->qh].target);
        size_t cut = f && f->len > 1 ? 1 + rnd_below(s, (unsigned)f->len - 1) : 1;
        if (read_answers(s, 1, cut) < 0)
            return;
        count(s, C_ABANDONED, s->qn);
        s->qn = 0;
    } else {
        /* a pipeline, RST before reading anything */
        unsigned depth = 1 + rnd_below(s, 8);
        for (unsigned i = 0; i < depth; i++)
            add_req(s, 20, 0);
        send_all(s);
        ringo_sleep(rnd_below(s, 50) * NS_PER_MS);
        count(s, C_ABANDONED, s->qn);
        s->qn = 0;
    }
    count(s, C_RESETS, 1);
    rst_close(s);
}

static enum kind pick_kind(slot *s)
{
    unsigned r = rnd_below(s, g.weight_sum);
    for (int k = 0; k < K_N; k++) {
        if (r < g.weight[k])
            return (enum kind)k;
        r -= g.weight[k];
    }
    return K_KEEPALIVE;
}

static void slot_main(void *arg)
{
    slot *s = arg;
    while (!load_stopping()) {
        s->kind = pick_kind(s);
        if (open_conn(s) < 0)
            continue;
        switch (s->kind) {
        case K_KEEPALIVE:
            run_keepalive(s);
            break;
        case K_PIPELINE:
            run_pipeline(s);
            break;
        case K_SLOWREAD:
            run_slowread(s);
            break;
        case K_SLOWWRITE:
            run_slowwrite(s);
            break;
        default:
            run_reset(s);
            break;
        }
    }
    g.live_slots--;
}

/* ---- start-up, summary ---- */

static int load_file(file *f, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", g.root, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    f->len = (size_t)st.st_size;
    f->data = malloc(f->len ? f->len : 1);
    size_t got = 0;
    while (f->data && got < f->len) {
        ssize_t n = read(fd, f->data + got, f->len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!f->data || got != f->len)
        return -EIO;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 0;
}

/* The root written by soak.py: f0000, f0001, ... (small, each its own
 * size) and big0, big1, ... (larger than the server's in-memory cache). */
static int load_root(void)
{
    char name[24];
    for (g.nsmall = 0; g.nsmall < MAX_FILES; g.nsmall++) {
        snprintf(name, sizeof(name), "f%04d", g.nsmall);
        if (load_file(&g.small[g.nsmall], name) < 0)
            break;
    }
    for (g.nbig = 0; g.nbig < MAX_BIG; g.nbig++) {
        snprintf(name, sizeof(name), "big%d", g.nbig);
        if (load_file(&g.big[g.nbig], name) < 0)
            break;
    }
    /* two of each at least: consecutive requests differ */
    if (g.nsmall < 2 || g.nbig == 1) {
        fprintf(stderr,
                "soak-gen: --root %s: expected files f0000, f0001, ... and none or "
                "at least two big0, big1, ...\n",
                g.root);
        return -1;
    }
    return 0;
}

static uint64_t total(enum counter c)
{
    uint64_t t = 0;
    for (int k = 0; k < K_N; k++)
        t += g.c[k][c];
    return t;
}

static uint64_t failures(void)
{
    return total(C_LOST) + total(C_TIMEOUT) + total(C_BAD) + total(C_EXTRA) + total(C_CONNECT_ERR);
}

static void progress(void)
{
    fprintf(stderr,
            "soak-gen: t=%.0fs open=%d sent=%llu answered=%llu after_close=%llu "
            "abandoned=%llu failures=%llu\n",
            since_start(), g.open_conns, (unsigned long long)total(C_SENT),
            (unsigned long long)total(C_ANSWERED), (unsigned long long)total(C_AFTER_CLOSE),
            (unsigned long long)total(C_ABANDONED), (unsigned long long)failures());
}

static void summary(int hung)
{
    printf("{\"addr\":\"%s\",\"conns\":%d,\"duration_s\":%.1f,\"elapsed_s\":%.1f,"
           "\"hung_slots\":%d,\"failures\":%llu,\"kinds\":{",
           g.addr_text, g.conns, g.duration, since_start(), hung, (unsigned long long)failures());
    for (int k = 0; k < K_N; k++) {
        printf("%s\"%s\":{", k ? "," : "", kind_name[k]);
        for (int c = 0; c < C_N; c++)
            printf("\"%s\":%llu,", counter_name[c], (unsigned long long)g.c[k][c]);
        printf("\"lat_max_ms\":%.1f,\"lat_over_1s\":%llu}", (double)g.lat_max_ns[k] / 1e6,
               (unsigned long long)g.lat_over_1s[k]);
    }
    printf("},\"total\":{");
    for (int c = 0; c < C_N; c++)
        printf("%s\"%s\":%llu", c ? "," : "", counter_name[c], (unsigned long long)total(c));
    printf("}}\n");
    fflush(stdout);
}

static void main_coro(void *arg)
{
    (void)arg;
    slot *slots = calloc((size_t)g.conns, sizeof(slot));
    char *rbufs = malloc((size_t)g.conns * RBUF_SIZE);
    if (!slots || !rbufs) {
        fprintf(stderr, "soak-gen: out of memory\n");
        g.exit_code = 2;
        return;
    }
    g.t0 = ringo_now();
    g.stop_at = g.t0 + (int64_t)(g.duration * 1e9);
    for (int i = 0; i < g.conns; i++) {
        slots[i].idx = i;
        slots[i].rng =
            (g.seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL;
        slots[i].fd = -1;
        slots[i].rbuf = rbufs + (size_t)i * RBUF_SIZE;
        if (ringo_go(slot_main, &slots[i], NULL) < 0) {
            fprintf(stderr, "soak-gen: cannot start slot %d\n", i);
            g.exit_code = 2;
            break;
        }
        g.live_slots++;
    }
    int64_t next = g.t0 + 10 * NS_PER_S;
    while (!ringo_stopping() && ringo_now() < g.stop_at) {
        ringo_sleep(100 * NS_PER_MS);
        if (ringo_now() >= next) {
            progress();
            next += 10 * NS_PER_S;
        }
    }
    /* each slot finishes the connection it is on; the slowest case is a
     * slow reader's stop plus its slow reading, bounded by the timeout */
    int64_t bound = ringo_now() + g.timeout_ns + 30 * NS_PER_S;
    while (g.live_slots > 0 && ringo_now() < bound && !ringo_stopping())
        ringo_sleep(100 * NS_PER_MS);
    progress();
    summary(g.live_slots);
    if (failures() || g.live_slots)
        g.exit_code = 1;
    /* returning stops the runtime, which cancels any slot still running;
     * the slots' memory stays allocated until exit for that reason */
}

static int parse_mix(const char *text)
{
    memset(g.weight, 0, sizeof(g.weight));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int k;
        if (!eq)
            return -1;
        *eq = 0;
        for (k = 0; k < K_N && strcmp(tok, kind_name[k]); k++)
            ;
        char *end;
        long w = strtol(eq + 1, &end, 10);
        if (k == K_N || *end || w < 0 || w > 1000)
            return -1;
        g.weight[k] = (unsigned)w;
    }
    g.weight_sum = 0;
    for (int k = 0; k < K_N; k++)
        g.weight_sum += g.weight[k];
    return g.weight_sum ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: soak-gen --addr HOST:PORT --root DIR [--conns N] [--duration S]\n"
               "                [--mix keepalive=40,pipeline=25,slowread=10,slowwrite=10,"
               "reset=15]\n"
               "                [--timeout S] [--seed N] [--backend auto|uring|epoll]\n");
}

static int parse_num(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "soak-gen: %s %s: expected a number in [%g, %g]\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"addr", required_argument, 0, 'a'},  {"root", required_argument, 0, 'r'},
        {"conns", required_argument, 0, 'c'}, {"duration", required_argument, 0, 'd'},
        {"mix", required_argument, 0, 'm'},   {"timeout", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},  {"backend", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    double v;
    g.conns = 1000;
    g.duration = 60;
    g.timeout_ns = 60 * NS_PER_S;
    parse_mix("keepalive=40,pipeline=25,slowread=10,slowwrite=10,reset=15");
    for (int c; (c = getopt_long(argc, argv, "a:r:c:d:m:t:s:b:h", opts, NULL)) != -1;) {
        switch (c) {
        case 'a':
            g.addr_text = optarg;
            if (ringo_addr_parse(&g.addr, optarg) < 0) {
                fprintf(stderr, "soak-gen: --addr %s: expected HOST:PORT (numeric)\n", optarg);
                return 2;
            }
            break;
        case 'r':
            g.root = optarg;
            break;
        case 'c':
            if (parse_num("--conns", optarg, 1, 200000, &v) < 0)
                return 2;
            g.conns = (int)v;
            break;
        case 'd':
            if (parse_num("--duration", optarg, 1, 86400, &g.duration) < 0)
                return 2;
            break;
        case 'm':
            if (parse_mix(optarg) < 0) {
                fprintf(stderr,
                        "soak-gen: --mix %s: expected KIND=WEIGHT,... with kinds "
                        "keepalive, pipeline, slowread, slowwrite, reset\n",
                        optarg);
                return 2;
            }
            break;
        case 't':
            if (parse_num("--timeout", optarg, 1, 3600, &v) < 0)
                return 2;
            g.timeout_ns = (int64_t)(v * 1e9);
            break;
        case 's':
            if (parse_num("--seed", optarg, 0, 1e15, &v) < 0)
                return 2;
            g.seed = (uint64_t)v;
            break;
        case 'b':
            g.backend = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!g.addr_text || !g.root) {
        usage(stderr);
        return 2;
    }
    if (load_root() < 0)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g.conns + 64)
        fprintf(stderr, "soak-gen: warning: RLIMIT_NOFILE %llu < --conns %d + 64\n",
                (unsigned long long)rl.rlim_cur, g.conns);
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    if (g.backend)
        cfg.backend = g.backend;
    int r = ringo_main(&cfg, main_coro, NULL);
    if (r < 0) {
        fprintf(stderr, "soak-gen: %s\n", ringo_strerror(r));
        return 2;
    }
    return g.exit_code;
}
