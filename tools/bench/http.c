/* http.c - `ringo-bench http`: keep-alive HTTP/1.1 load with pipelined GETs
 * and a strict response reader of its own.
 *
 * Shape of a run (the same as echo mode's; see echo.c):
 *   1. connect: one coroutine per connection, spread round-robin over the
 *      workers, connects and sends one probe request, paced so at most
 *      --connect-concurrency are in flight. The probe's answer proves the
 *      server accepted the connection (not left it in SYN-RECV on a full
 *      accept queue), so no connect stall ends up in the latencies.
 *   2. load: once every connect has finished, one load coroutine per
 *      connection, on the worker that opened it. Each round writes DEPTH
 *      requests in one write (from one buffer built at start-up and shared
 *      read-only by every connection) and reads DEPTH responses. Warmup
 *      first, then the measured window; "MEASURE START" / "MEASURE END" on
 *      stdout bracket it.
 *   3. drain: no new rounds; the round in flight is read back (bounded by
 *      the I/O timeout), then the connections close and ringo stops.
 *
 * A response counts if its round was written inside the window and it
 * arrived complete inside it; its latency runs from just before the write
 * of its round to the read that brought its last byte.
 *
 * The reader does not depend on ringo's HTTP server: it frames responses by
 * Content-Length, chunked coding, or (only for a response that says the
 * connection closes) the end of the stream, and rejects what it cannot
 * frame. A framing error closes the connection (what follows in the stream
 * is garbage) and a fresh one takes its place; a wrong status or body is
 * counted and the connection goes on, as its framing is intact.
 * "Connection: close" from the server is not an error: the requests
 * pipelined behind that response are dropped (the server will not answer
 * them) and the connection is replaced.
 *
 * --tls: each connection runs a TLS handshake (ringo/tls.h) right after
 * its TCP connect, and a round is one ringo_tls_queue + one flush, so the
 * socket sees one write per round as in plain mode. Closes send
 * close_notify. --new-conn: every request gets a connection of its own
 * (connect, handshake, one request, close_notify, close); its latency
 * runs from just before the connect, it counts if its connect began
 * inside the window and its response arrived inside it, and its
 * handshake counts with it. --tls-resume gives each connection a client
 * context of its own, which offers the newest session that connection
 * was given: with TLS 1.3 the ticket comes after the handshake and is
 * read with the first response, so the connect phase's handshakes are
 * full, and OpenSSL's client uses a TLS 1.3 ticket once, so one shared
 * context would send a connection that starts between another's
 * handshake and its response into a full handshake.
 */
#include "bench.h"
#include "hist.h"
#include "progress.h"

#define MODE_PROG "ringo-bench http"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

#define DEFAULT_TIMEOUT_S 10.0
/* Refused/reset connects are retried (see echo.c for why). */
#define CONNECT_ATTEMPTS   5
#define CONNECT_BACKOFF_NS (50 * NS_PER_MS)
/* After a failed reconnect during the load: not a tight loop of errors
 * against a server that is down. */
#define RECONNECT_PAUSE_NS (100 * NS_PER_MS)
#define DEFAULT_CONNECTING 64
#define ERRORS_SHOWN       10
#define MAIN_POLL_NS       (5 * NS_PER_MS)

/* Receive buffer per connection. A header block or chunk-size line must
 * fit in HEAD_MAX / CHUNK_LINE_MAX; bodies stream through and may be any size. */
#define RECV_BUF_SIZE  (64 * 1024)
#define HEAD_MAX       (32 * 1024)
#define CHUNK_LINE_MAX 4096

#define MAX_CONNS    1000000
#define MAX_PIPELINE 4096
/* One round's requests are written before any response is read, so they
 * must fit in the socket buffers even if the server stops reading until we
 * read (a server that blocks on its writes to us): the default send buffer
 * alone holds 16 KiB, and the kernel's receive buffer on the other side as
 * much again. */
#define MAX_ROUND_BYTES (32 * 1024)
#define MAX_REQUEST     (16 * 1024)

enum err_kind {
    ERR_CONNECT,
    ERR_READ,
    ERR_WRITE,
    ERR_TIMEOUT,
    ERR_STATUS,
    ERR_FRAMING,
    ERR_BODY,
    ERR_CLOSED,
    ERR_HANDSHAKE,
    ERR_KINDS
};

static const char *const err_names[ERR_KINDS] = {
    "connect", "read", "write", "timeout", "status", "framing", "body", "closed", "handshake",
};

typedef struct http_opts {
    const char *host;
    unsigned port;
    const char *path;
    char addr_text[300]; /* host:port as resolved and shown */
    ringo_addr addr;
    uint64_t conns;
    unsigned pipeline;
    double duration_s;
    double warmup_s;
    double timeout_s;
    int64_t timeout_ns;
    unsigned connect_concurrency;
    const char **headers; /* "Name: value", from argv */
    size_t nheaders;
    int expect_status;
    const char *expect_body; /* NULL: any body */
    size_t expect_body_len;
    int tls;               /* --tls */
    int tls_verify;        /* --tls-verify */
    const char *tls_ca;    /* --tls-ca; NULL = the system store */
    int tls_resume;        /* --tls-resume */
    int new_conn;          /* --new-conn */
    char server_name[256]; /* SNI and the name to verify: --host without brackets */
    bench_common common;
} http_opts;

/* Per worker, written only by that worker's coroutines (no locks; relaxed
 * load+store counters), read by the main coroutine for the progress line. */
typedef struct worker_state {
    hist latency;                    /* measured responses */
    _Atomic uint64_t measured_bytes; /* of measured responses, head included */
    _Atomic uint64_t completed;      /* valid responses, warmup and drain too */
    /* Connections opened in the window (see conn_opened), their TLS
     * handshakes, and the time from connect to ready of each. */
    hist open_latency;
    _Atomic uint64_t opened;
    _Atomic uint64_t resumed;
    /* every handshake of the run, set-up and drain too */
    _Atomic uint64_t handshakes_total;
    _Atomic uint64_t resumed_total;
} __attribute__((aligned(64))) worker_state;

/* Where the reader is in the current response. */
enum read_state {
    RS_HEAD,       /* waiting for the whole status line + header block */
    RS_BODY,       /* Content-Length body: remain bytes to go */
    RS_CHUNK_SIZE, /* waiting for a chunk-size line */
    RS_CHUNK_DATA, /* remain bytes of chunk data to go */
    RS_CHUNK_END,  /* the CRLF after chunk data */
    RS_TRAILER,    /* trailer fields after the last chunk, up to an empty line */
    RS_EOF_BODY,   /* body delimited by the end of the stream */
};

typedef struct http_conn {
    uint32_t id;
    int fd;
    ringo_tls *tls;     /* --tls: the connection's TLS stream over fd */
    ringo_tls_ctx *ctx; /* --tls-resume: its own client context (its sessions) */
    worker_state *ws;
    int64_t open_ns;  /* just before the connect */
    int64_t ready_ns; /* connected (and the handshake done) */
    int recorded;     /* the round's last response was measured */
    char *rbuf;
    size_t rpos, rend; /* unparsed bytes are rbuf[rpos, rend) */
    size_t scanned;    /* of them, searched for the end of the head already */
    unsigned round_n;  /* requests in the current round */
    unsigned inflight; /* of them, not yet answered */
    /* the response being read */
    enum read_state state;
    uint64_t remain;
    uint64_t body_len;
    uint64_t resp_bytes;
    uint64_t body_diff_at; /* first byte unlike --expect-body; UINT64_MAX: none */
    int status;
    int close_after; /* the server closes the connection after this response */
} http_conn;

static struct {
    const http_opts *opt;
    ringo_tls_config tls_cfg;
    ringo_tls_ctx *tls_ctx; /* --tls: the client context (without --tls-resume, of
                               every connection) */
    _Atomic int tls_named;  /* tls_version/tls_cipher written (by the first handshake) */
    char tls_version[32];
    char tls_cipher[64];
    char *round;    /* opt->pipeline copies of the request */
    size_t req_len; /* bytes of one request */
    worker_state *workers;
    int nworkers;
    http_conn *conns;
    _Atomic int64_t measure_start_ns; /* INT64_MAX while unknown */
    _Atomic int64_t measure_end_ns;
    _Atomic int64_t drain_deadline_ns;
    _Atomic int done;        /* start no new round */
    _Atomic int forced_stop; /* main gave up on the drain and stopped ringo */
    _Atomic uint64_t errors;
    _Atomic uint64_t errors_by_kind[ERR_KINDS];
    _Atomic uint64_t reconnects;        /* connections replaced during the load */
    _Atomic uint64_t closes_announced;  /* responses with Connection: close */
    _Atomic uint64_t dropped;           /* requests pipelined behind those */
    _Atomic uint64_t connects_finished; /* connect phase: attempts ended */
    _Atomic uint64_t conns_ok;          /* connect phase: answered the probe */
    _Atomic uint64_t conns_up;          /* connections open now */
    _Atomic uint64_t conns_live;        /* load coroutines alive */
} run;

typedef struct http_result {
    int setup_failed;
    int started;
    int interrupted;
    int64_t window_ns;
    char backend[16];
    int workers;
    int have_stats;
    int stats_whole_run;
    ringo_counters stats_start, stats_end;
} http_result;

#define LOAD(p) atomic_load_explicit((p), memory_order_relaxed)

static inline void add_relaxed(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, LOAD(p) + v, memory_order_relaxed);
}

static void store_min(_Atomic int64_t *p, int64_t v)
{
    int64_t cur = LOAD(p);
    while (v < cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

/* ---- errors ------------------------------------------------------------ */

static void conn_error(const http_conn *c, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_error(const http_conn *c, enum err_kind kind, const char *fmt, ...)
{
    atomic_fetch_add(&run.errors_by_kind[kind], 1);
    uint64_t n = atomic_fetch_add(&run.errors, 1);
    if (n > ERRORS_SHOWN)
        return;
    if (n == ERRORS_SHOWN) {
        progress_log("%s: more errors: counting them, not showing them\n", bench_prog);
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    progress_log("%s: conn %u: %s error: %s\n", bench_prog, c->id, err_names[kind], msg);
}

/* OpenSSL's reason for a TLS error of c, as ": reason" (or ""). */
static const char *tls_why(const http_conn *c, int rc)
{
    int tls_err = rc == RINGO_ETLS || rc == RINGO_ETLSVERIFY;
    return tls_err && c->tls && *ringo_tls_error_text(c->tls) ? ": " : "";
}

static const char *tls_text(const http_conn *c, int rc)
{
    return *tls_why(c, rc) ? ringo_tls_error_text(c->tls) : "";
}

/* A cancellation is the user's ^C (quiet) unless main ran out of patience
 * with the drain: then the server owes us responses. */
static int quiet_cancel(long rc)
{
    return (rc == -ECANCELED || rc == RINGO_ESTOPPED) && !LOAD(&run.forced_stop);
}

static void report_io_error(const http_conn *c, const char *op, long rc)
{
    if (quiet_cancel(rc))
        return;
    const char *s = c->inflight == 1 ? "" : "s";
    if (rc == -ECANCELED || rc == RINGO_ESTOPPED)
        conn_error(c, ERR_TIMEOUT, "%u response%s still missing %.3g s after the window ended",
                   c->inflight, s, run.opt->timeout_s);
    else if (rc == -ETIMEDOUT)
        conn_error(c, ERR_TIMEOUT, "%s timed out after %.3g s with %u response%s missing", op,
                   run.opt->timeout_s, c->inflight, s);
    else if (rc == 0 || rc == RINGO_ETLSEOF)
        conn_error(c, ERR_CLOSED, "server closed the connection%s with %u response%s missing%s",
                   rc ? " without TLS close_notify" : "", c->inflight, s,
                   c->state != RS_HEAD || c->rpos < c->rend ? " (mid-response)" : "");
    else
        conn_error(c, op[0] == 'w' ? ERR_WRITE : ERR_READ,
                   "%s: %s (%s)%s%s with %u response%s missing", op, ringo_strerror((int)rc),
                   ringo_err_name((int)rc), tls_why(c, (int)rc), tls_text(c, (int)rc), c->inflight,
                   s);
}

/* ---- the response reader ----------------------------------------------- */

/* RFC 9110 tchar. */
static int is_tchar(unsigned char ch)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr(extra, ch));
}

/* Field-value and reason-phrase bytes: VCHAR, obs-text, SP, HTAB. */
static int is_text(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Case-insensitive: does [p, p+len) equal the lowercase literal? */
static int token_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(p, lit, len) == 0;
}

/* Parse the head rbuf[rpos, rpos+len), which ends with CRLF CRLF, and set
 * up the reading of the body. Returns 0, 1 for an interim (1xx) response
 * to skip, or -1 with *why set. */
static int parse_head(http_conn *c, const char *p, size_t len, const char **why)
{
    const char *end = p + len;
    /* status-line = HTTP-version SP 3DIGIT SP [reason] CRLF; the SP before
     * an empty reason is often left out, and harmless. */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t sl = (size_t)(eol - p);
    if (sl < 13 || eol[-1] != '\r' || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || (unsigned)(p[9] - '1') > 4 || (unsigned)(p[10] - '0') > 9 ||
        (unsigned)(p[11] - '0') > 9 || (sl > 13 && p[12] != ' ')) {
        *why = "malformed status line";
        return -1;
    }
    for (const char *q = p + 13; q < eol - 1; q++)
        if (!is_text((unsigned char)*q)) {
            *why = "control character in the status line";
            return -1;
        }
    int minor = p[7] - '0';
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    uint64_t content_length = 0;
    int have_cl = 0, chunked = 0, have_te = 0, conn_close = 0, conn_keep = 0;
    for (p = eol + 1;; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == p || eol[-1] != '\r') {
            *why = "bare LF in the header block";
            return -1;
        }
        if (eol == p + 1)
            break; /* the empty line */
        const char *colon = p;
        while (is_tchar((unsigned char)*colon))
            colon++;
        if (colon == p || *colon != ':') {
            *why = is_ows(*p) ? "obsolete line folding" : "malformed header field name";
            return -1;
        }
        const char *v = colon + 1, *ve = eol - 1;
        while (v < ve && is_ows(*v))
            v++;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        for (const char *q = v; q < ve; q++)
            if (!is_text((unsigned char)*q)) {
                *why = "control character in a header field value";
                return -1;
            }
        size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
        if (token_is(p, nl, "content-length")) {
            uint64_t n = 0;
            if (vl == 0 || vl > 18) {
                *why = "bad Content-Length";
                return -1;
            }
            for (size_t i = 0; i < vl; i++) {
                if ((unsigned)(v[i] - '0') > 9) {
                    *why = "bad Content-Length";
                    return -1;
                }
                n = n * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_cl && n != content_length) {
                *why = "conflicting Content-Length fields";
                return -1;
            }
            have_cl = 1;
            content_length = n;
        } else if (token_is(p, nl, "transfer-encoding")) {
            /* We send no TE, so chunked is the only coding a server may
             * use, and only once. */
            if (have_te || !token_is(v, vl, "chunked")) {
                *why = "Transfer-Encoding other than a single 'chunked'";
                return -1;
            }
            have_te = chunked = 1;
        } else if (token_is(p, nl, "connection")) {
            for (const char *t = v; t < ve;) {
                const char *te = memchr(t, ',', (size_t)(ve - t));
                if (!te)
                    te = ve;
                const char *a = t, *b = te;
                while (a < b && is_ows(*a))
                    a++;
                while (b > a && is_ows(b[-1]))
                    b--;
                if (token_is(a, (size_t)(b - a), "close"))
                    conn_close = 1;
                else if (token_is(a, (size_t)(b - a), "keep-alive"))
                    conn_keep = 1;
                t = te + 1;
            }
        }
    }

    if (status < 200) {
        if (status == 101) {
            *why = "101 Switching Protocols, which was not asked for";
            return -1;
        }
        return 1;
    }
    c->status = status;
    c->close_after = conn_close || (minor == 0 && !conn_keep);
    c->body_len = 0;
    c->body_diff_at = UINT64_MAX;
    if (status == 204 || status == 304) {
        c->state = RS_BODY;
        c->remain = 0;
    } else if (chunked && have_cl) {
        /* A smuggling sign in a request; in a response just as unframeable. */
        *why = "both Content-Length and Transfer-Encoding";
        return -1;
    } else if (chunked) {
        c->state = RS_CHUNK_SIZE;
    } else if (have_cl) {
        c->state = RS_BODY;
        c->remain = content_length;
    } else if (c->close_after) {
        c->state = RS_EOF_BODY;
    } else {
        *why = "keep-alive response with neither Content-Length nor chunked coding";
        return -1;
    }
    return 0;
}

/* Body bytes, after any chunked coding is taken off. */
static void body_bytes(http_conn *c, const char *p, size_t n)
{
    const http_opts *o = run.opt;
    if (o->expect_body && c->body_diff_at == UINT64_MAX) {
        uint64_t off = c->body_len;
        size_t cmp = off >= o->expect_body_len ? 0 : o->expect_body_len - (size_t)off;
        if (cmp > n)
            cmp = n;
        for (size_t i = 0; i < cmp; i++)
            if (p[i] != o->expect_body[off + i]) {
                c->body_diff_at = off + i;
                break;
            }
        if (c->body_diff_at == UINT64_MAX && cmp < n)
            c->body_diff_at = off + cmp; /* longer than expected */
    }
    c->body_len += n;
}

/* The response is complete: judge it and account for it. */
static void complete_response(http_conn *c, int64_t now, int64_t sent_ns, int counted)
{
    const http_opts *o = run.opt;
    c->inflight--;
    if (c->status != o->expect_status) {
        conn_error(c, ERR_STATUS, "status %d, expected %d", c->status, o->expect_status);
    } else if (o->expect_body &&
               (c->body_diff_at != UINT64_MAX || c->body_len != o->expect_body_len)) {
        if (c->body_diff_at < c->body_len && c->body_diff_at < o->expect_body_len)
            conn_error(c, ERR_BODY, "body differs from --expect-body at byte %llu (%llu bytes)",
                       (unsigned long long)c->body_diff_at, (unsigned long long)c->body_len);
        else
            conn_error(c, ERR_BODY, "body of %llu bytes, --expect-body has %zu",
                       (unsigned long long)c->body_len, o->expect_body_len);
    } else {
        worker_state *ws = c->ws;
        add_relaxed(&ws->completed, 1);
        if (counted && now <= LOAD(&run.measure_end_ns)) {
            hist_record(&ws->latency, (uint64_t)(now - sent_ns));
            add_relaxed(&ws->measured_bytes, c->resp_bytes);
            c->recorded = 1;
        }
    }
    c->state = RS_HEAD;
    c->resp_bytes = 0;
}

enum parse_result { P_MORE, P_CLOSE, P_BAD };

/* A CRLF-terminated line at rbuf[rpos...]: returns its length without the
 * CRLF, -1 if it is not all here yet, -2 if malformed (*why set). */
static long take_line(http_conn *c, const char **why)
{
    const char *p = c->rbuf + c->rpos;
    size_t avail = c->rend - c->rpos;
    const char *nl = memchr(p, '\n', avail);
    if (!nl) {
        if (avail > CHUNK_LINE_MAX) {
            *why = "chunk line too long";
            return -2;
        }
        return -1;
    }
    if (nl == p || nl[-1] != '\r') {
        *why = "bare LF in chunked coding";
        return -2;
    }
    return (long)(nl - p) - 1;
}

/* Read responses out of rbuf[rpos, rend) until the round is answered or
 * the bytes run out. now: when the last of these bytes arrived. */
static enum parse_result parse(http_conn *c, int64_t now, int64_t sent_ns, int counted)
{
    const char *why = NULL;
    while (c->inflight > 0) {
        char *p = c->rbuf + c->rpos;
        size_t avail = c->rend - c->rpos;
        switch (c->state) {
        case RS_HEAD: {
            if (avail == 0)
                return P_MORE;
            size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
            char *e = memmem(p + from, avail - from, "\r\n\r\n", 4);
            if (!e) {
                /* A bare LF would never make the CRLF CRLF we wait for:
                 * say so now rather than time out. Only partial heads get
                 * here, so whole ones are not scanned twice. */
                for (const char *q = memchr(p + from, '\n', avail - from); q;
                     q = memchr(q + 1, '\n', (size_t)(p + avail - q - 1)))
                    if (q == p || q[-1] != '\r') {
                        why = "bare LF in the response head";
                        goto bad;
                    }
                c->scanned = avail;
                if (avail > HEAD_MAX) {
                    why = "response head larger than 32 KiB (or not CRLF-terminated)";
                    goto bad;
                }
                return P_MORE;
            }
            size_t len = (size_t)(e - p) + 4;
            int r = parse_head(c, p, len, &why);
            if (r < 0)
                goto bad;
            c->rpos += len;
            c->scanned = 0;
            c->resp_bytes += len;
            break; /* 1xx: state stays RS_HEAD for the final response */
        }
        case RS_BODY:
        case RS_CHUNK_DATA:
        case RS_EOF_BODY: {
            size_t n = avail;
            if (c->state != RS_EOF_BODY && n > c->remain)
                n = (size_t)c->remain;
            body_bytes(c, p, n);
            c->rpos += n;
            c->resp_bytes += n;
            if (c->state == RS_EOF_BODY)
                return P_MORE; /* complete only at the end of the stream */
            c->remain -= n;
            if (c->remain > 0)
                return P_MORE;
            if (c->state == RS_CHUNK_DATA) {
                c->state = RS_CHUNK_END;
                break;
            }
            complete_response(c, now, sent_ns, counted);
            if (c->close_after)
                return P_CLOSE;
            break;
        }
        case RS_CHUNK_SIZE: {
            long len = take_line(c, &why);
            if (len == -1)
                return P_MORE;
            if (len < 0)
                goto bad;
            /* chunk-size [ BWS ; chunk-ext ] */
            uint64_t size = 0;
            long i = 0;
            for (; i < len && i < 16; i++) {
                int ch = p[i], d;
                if (ch >= '0' && ch <= '9')
                    d = ch - '0';
                else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
                    d = (ch | 0x20) - 'a' + 10;
                else
                    break;
                size = size << 4 | (uint64_t)d;
            }
            long j = i;
            while (j < len && is_ows(p[j]))
                j++;
            if (i == 0 || (j < len && p[j] != ';')) {
                why = "malformed chunk size";
                goto bad;
            }
            for (; j < len; j++)
                if (!is_text((unsigned char)p[j])) {
                    why = "control character in a chunk extension";
                    goto bad;
                }
            c->rpos += (size_t)len + 2;
            c->resp_bytes += (size_t)len + 2;
            c->remain = size;
            c->state = size ? RS_CHUNK_DATA : RS_TRAILER;
            break;
        }
        case RS_CHUNK_END:
            if (avail < 2)
                return P_MORE;
            if (p[0] != '\r' || p[1] != '\n') {
                why = "chunk data longer than its size";
                goto bad;
            }
            c->rpos += 2;
            c->resp_bytes += 2;
            c->state = RS_CHUNK_SIZE;
            break;
        case RS_TRAILER: {
            long len = take_line(c, &why);
            if (len == -1)
                return P_MORE;
            if (len < 0)
                goto bad;
            for (long i = 0; i < len; i++)
                if (!is_text((unsigned char)p[i])) {
                    why = "control character in a trailer field";
                    goto bad;
                }
            c->rpos += (size_t)len + 2;
            c->resp_bytes += (size_t)len + 2;
            if (len == 0) {
                complete_response(c, now, sent_ns, counted);
                if (c->close_after)
                    return P_CLOSE;
            }
            break;
        }
        }
    }
    return P_MORE;
bad:
    conn_error(c, ERR_FRAMING, "%s (response %u of %u in the round)", why,
               c->round_n - c->inflight + 1, c->round_n);
    return P_BAD;
}

static void reader_reset(http_conn *c)
{
    c->rpos = c->rend = c->scanned = 0;
    c->state = RS_HEAD;
    c->resp_bytes = 0;
    c->inflight = 0;
}

/* ---- one connection ---------------------------------------------------- */

static int64_t io_deadline(void)
{
    int64_t d = ringo_deadline_in(run.opt->timeout_ns);
    int64_t drain = LOAD(&run.drain_deadline_ns);
    return drain < d ? drain : d;
}

/* The first n requests of the shared round in one write: with TLS one
 * queue (it encrypts into the connection's buffer; a round is far below
 * the size that would send early) and one flush. */
static ssize_t send_requests(http_conn *c, unsigned n)
{
    size_t len = n * run.req_len;
    int64_t deadline = io_deadline();
    if (!c->tls)
        return ringo_write_all(c->fd, run.round, len, NULL, deadline);
    int rc = ringo_tls_queue(c->tls, run.round, len, deadline);
    if (rc == 0)
        rc = ringo_tls_flush(c->tls, deadline);
    return rc < 0 ? rc : (ssize_t)len;
}

/* Bytes from the server: > 0, 0 at the end of the stream (with TLS: the
 * server's close_notify), or an error (RINGO_ETLSEOF: TLS ended without
 * close_notify, which is an error even for an EOF-delimited body, as it
 * may be truncated). */
static ssize_t recv_bytes(http_conn *c, char *buf, size_t len)
{
    if (c->tls)
        return ringo_tls_read(c->tls, buf, len, io_deadline());
    return ringo_read(c->fd, buf, len, io_deadline());
}

/* One round: n pipelined requests in one write, then their n responses.
 * Latencies run from start_ns (just before the write, or with --new-conn
 * the connect), and measure says whether the round may count at all.
 * Returns 0 when all are answered and the connection can go on, 1 when the
 * server said it closes the connection (not an error), -1 after an error
 * (reported): either way the connection must then be replaced. */
static int run_round(http_conn *c, unsigned n, int measure, int64_t start_ns)
{
    int64_t sent = start_ns;
    int counted =
        measure && sent >= LOAD(&run.measure_start_ns) && sent < LOAD(&run.measure_end_ns);
    c->round_n = c->inflight = n;
    c->recorded = 0;
    ssize_t rc = send_requests(c, n);
    if (rc < 0) {
        report_io_error(c, "write", (long)rc);
        return -1;
    }
    int64_t now = sent;
    for (;;) {
        enum parse_result r = parse(c, now, sent, counted);
        if (r == P_BAD)
            return -1;
        if (r == P_CLOSE) {
            atomic_fetch_add(&run.closes_announced, 1);
            atomic_fetch_add(&run.dropped, c->inflight);
            return 1;
        }
        if (c->inflight == 0) {
            if (c->rpos != c->rend) {
                conn_error(c, ERR_FRAMING, "%zu bytes after the last response of the round",
                           c->rend - c->rpos);
                return -1;
            }
            c->rpos = c->rend = 0;
            return 0;
        }
        /* Make room: a partial head or line moves to the front. */
        if (c->rpos == c->rend) {
            c->rpos = c->rend = 0;
        } else if (RECV_BUF_SIZE - c->rend < HEAD_MAX) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
            c->rend -= c->rpos;
            c->rpos = 0;
        }
        ssize_t got = recv_bytes(c, c->rbuf + c->rend, RECV_BUF_SIZE - c->rend);
        now = ringo_now();
        if (got == 0 && c->state == RS_EOF_BODY) {
            complete_response(c, now, sent, counted);
            atomic_fetch_add(&run.closes_announced, 1);
            atomic_fetch_add(&run.dropped, c->inflight);
            return 1;
        }
        if (got <= 0) {
            report_io_error(c, "read", (long)got);
            return -1;
        }
        c->rend += (size_t)got;
    }
}

static int connect_retryable(int rc)
{
    return rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ECONNABORTED || rc == -EAGAIN ||
           rc == -EADDRNOTAVAIL;
}

/* A pseudo-random jitter from the connection and attempt: spreads retries
 * of a burst refused together. */
static uint64_t jitter_of(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static int connect_with_retry(http_conn *c, int *attempts)
{
    int64_t backoff = CONNECT_BACKOFF_NS;
    for (int attempt = 1;; attempt++) {
        *attempts = attempt;
        int fd = ringo_tcp_connect(&run.opt->addr, ringo_deadline_in(run.opt->timeout_ns));
        if (fd >= 0 || attempt >= CONNECT_ATTEMPTS || !connect_retryable(fd))
            return fd;
        int64_t jitter =
            (int64_t)(jitter_of(((uint64_t)c->id << 8) + (uint64_t)attempt) % (uint64_t)backoff);
        if (ringo_sleep(backoff + jitter) < 0)
            return -ECANCELED;
        backoff *= 2;
    }
}

static void report_connect_error(const http_conn *c, int rc, int attempts)
{
    if (!quiet_cancel(rc))
        conn_error(c, ERR_CONNECT, "connect to %s: %s (%s) after %d attempt%s", run.opt->addr_text,
                   ringo_strerror(rc), ringo_err_name(rc), attempts, attempts == 1 ? "" : "s");
}

/* With TLS, close_notify first (a server counts a stream that ends
 * without one as truncated); after a failure it is not sent. */
static void conn_close(http_conn *c)
{
    if (c->tls) {
        ringo_tls_shutdown(c->tls, io_deadline());
        ringo_tls_free(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0) {
        ringo_close(c->fd);
        c->fd = -1;
        atomic_fetch_sub(&run.conns_up, 1);
    }
    reader_reset(c);
}

static void note_tls_names(const ringo_tls *t)
{
    int zero = 0;
    if (LOAD(&run.tls_named) || !atomic_compare_exchange_strong(&run.tls_named, &zero, 1))
        return;
    /* main reads these once every coroutine has ended */
    snprintf(run.tls_version, sizeof run.tls_version, "%s", ringo_tls_version(t));
    snprintf(run.tls_cipher, sizeof run.tls_cipher, "%s", ringo_tls_cipher(t));
}

/* The connection c just opened (and, with --new-conn, its one request)
 * counts in the window. */
static void conn_opened(http_conn *c)
{
    worker_state *ws = c->ws;
    hist_record(&ws->open_latency, (uint64_t)(c->ready_ns - c->open_ns));
    add_relaxed(&ws->opened, 1);
    if (c->tls && ringo_tls_resumed(c->tls))
        add_relaxed(&ws->resumed, 1);
}

/* Connect (with retries) and, with --tls, run the handshake. Returns 0
 * with c->fd (and c->tls) set, or the error after reporting it. */
static int conn_open(http_conn *c)
{
    c->open_ns = ringo_now();
    int attempts = 0;
    int fd = connect_with_retry(c, &attempts);
    if (fd < 0) {
        report_connect_error(c, fd, attempts);
        return fd;
    }
    c->fd = fd;
    atomic_fetch_add(&run.conns_up, 1);
    if (run.tls_ctx) {
        int rc = ringo_tls_client(c->ctx ? c->ctx : run.tls_ctx, fd, run.opt->server_name, &c->tls);
        if (rc == 0)
            rc = ringo_tls_handshake(c->tls, io_deadline());
        if (rc < 0) {
            int timeout = rc == -ETIMEDOUT || rc == -ECANCELED || rc == RINGO_ESTOPPED;
            if (!quiet_cancel(rc))
                conn_error(c, timeout ? ERR_TIMEOUT : ERR_HANDSHAKE,
                           "TLS handshake with %s: %s (%s)%s%s", run.opt->addr_text,
                           ringo_strerror(rc), ringo_err_name(rc),
                           c->tls && *ringo_tls_error_text(c->tls) ? ": " : "",
                           c->tls ? ringo_tls_error_text(c->tls) : "");
            if (c->tls) {
                ringo_tls_free(c->tls); /* a failed handshake: no close_notify */
                c->tls = NULL;
            }
            conn_close(c);
            return rc;
        }
        add_relaxed(&c->ws->handshakes_total, 1);
        if (ringo_tls_resumed(c->tls))
            add_relaxed(&c->ws->resumed_total, 1);
        note_tls_names(c->tls);
    }
    c->ready_ns = ringo_now();
    /* --new-conn counts the connection with its request (conn_load_main) */
    if (!run.opt->new_conn && c->open_ns >= LOAD(&run.measure_start_ns) &&
        c->ready_ns <= LOAD(&run.measure_end_ns))
        conn_opened(c);
    return 0;
}

static int worker_of(const http_conn *c)
{
    return (int)(c->id % (uint32_t)run.nworkers);
}

/* Phase 1: connect and get one valid-framed answer (the probe), then leave
 * the fd in c for the load coroutine on the same worker. */
static void conn_connect_main(void *arg)
{
    http_conn *c = arg;
    c->ws = &run.workers[ringo_worker_id()];
    int rc = 0;
    if (run.opt->tls_resume) {
        /* the same settings as run.tls_ctx, which read the CA file already */
        char err[512];
        rc = ringo_tls_client_new(&run.tls_cfg, &c->ctx, err, sizeof err);
        if (rc < 0)
            conn_error(c, ERR_HANDSHAKE, "TLS client context: %s", err);
    }
    if (rc == 0 && conn_open(c) == 0) {
        c->rbuf = malloc(RECV_BUF_SIZE);
        int r = -1;
        if (!c->rbuf)
            conn_error(c, ERR_CONNECT, "out of memory for its buffer");
        else
            r = run_round(c, 1, 0, ringo_now());
        if (r >= 0)
            atomic_fetch_add(&run.conns_ok, 1);
        if (r != 0 || run.opt->new_conn)
            conn_close(c); /* the load coroutine reconnects after a close */
        if (r < 0) {
            free(c->rbuf);
            c->rbuf = NULL;
        }
    }
    /* seq_cst, after c's fields: main reads them once every connect ended */
    atomic_fetch_add(&run.connects_finished, 1);
}

static int window_over(void)
{
    return LOAD(&run.done) || ringo_now() >= LOAD(&run.measure_end_ns);
}

/* Phase 2: rounds until the window is over, replacing the connection
 * whenever it ends; with --new-conn, a connection per round. */
static void conn_load_main(void *arg)
{
    http_conn *c = arg;
    int new_conn = run.opt->new_conn;
    while (!window_over() && !ringo_stopping()) {
        if (c->fd < 0) {
            int rc = conn_open(c);
            if (rc < 0) {
                if (quiet_cancel(rc) || ringo_sleep(RECONNECT_PAUSE_NS) < 0)
                    break;
                continue;
            }
            if (!new_conn)
                atomic_fetch_add(&run.reconnects, 1);
        }
        int r = run_round(c, run.opt->pipeline, 1, new_conn ? c->open_ns : ringo_now());
        if (new_conn && c->recorded)
            conn_opened(c);
        if (r != 0 || new_conn)
            conn_close(c);
    }
    conn_close(c);
    free(c->rbuf);
    c->rbuf = NULL;
    atomic_fetch_sub(&run.conns_live, 1);
}

/* ---- the main coroutine ------------------------------------------------ */

typedef struct ticker {
    int64_t begin_ns;
    int64_t next_ns;
    int64_t last_ns;
    uint64_t last_completed;
    hist *scratch;
} ticker;

static void tick(ticker *t, int64_t now, const char *phase)
{
    uint64_t completed = 0;
    int64_t p99 = -1;
    if (t->scratch)
        hist_reset(t->scratch);
    for (int i = 0; i < run.nworkers; i++) {
        completed += LOAD(&run.workers[i].completed);
        if (t->scratch)
            hist_merge(t->scratch, &run.workers[i].latency);
    }
    if (t->scratch && hist_total(t->scratch))
        p99 = (int64_t)hist_percentile(t->scratch, 99.0);
    double dt = (double)(now - t->last_ns) / NS_PER_S;
    progress_sample s = {
        .elapsed_s = (double)(now - t->begin_ns) / NS_PER_S,
        .phase = phase,
        .rate_per_s = dt > 0 ? (double)(completed - t->last_completed) / dt : 0,
        .rate_unit = "req/s",
        .p99_ns = p99,
        .errors = LOAD(&run.errors),
        .conns_up = LOAD(&run.conns_up),
        .conns_total = run.opt->conns,
    };
    progress_update(&s);
    t->last_ns = now;
    t->last_completed = completed;
    t->next_ns += NS_PER_S;
    if (t->next_ns <= now)
        t->next_ns = now + NS_PER_S;
}

static void spawn_connect(uint64_t i)
{
    http_conn *c = &run.conns[i];
    c->id = (uint32_t)i;
    c->fd = -1;
    int rc = ringo_go_on(worker_of(c), conn_connect_main, c, NULL);
    if (rc < 0) {
        if (!quiet_cancel(rc))
            conn_error(c, ERR_CONNECT, "cannot start its coroutine: %s", ringo_strerror(rc));
        atomic_fetch_add(&run.connects_finished, 1);
    }
}

static void spawn_load(http_conn *c)
{
    atomic_fetch_add(&run.conns_live, 1);
    int rc = ringo_go_on(worker_of(c), conn_load_main, c, NULL);
    if (rc < 0) {
        if (!quiet_cancel(rc))
            conn_error(c, ERR_CONNECT, "cannot start its coroutine: %s", ringo_strerror(rc));
        atomic_fetch_sub(&run.conns_live, 1);
        /* Its fd belongs to another worker: leave it to the process exit. */
    }
}

static void print_marker(const char *line)
{
    progress_clear();
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void http_coro_main(void *arg)
{
    http_result *res = arg;
    const http_opts *o = run.opt;
    res->workers = run.nworkers = ringo_workers();
    snprintf(res->backend, sizeof res->backend, "%s",
             ringo_backend_name() ? ringo_backend_name() : "?");
    size_t ws_bytes = (size_t)run.nworkers * sizeof(worker_state);
    run.workers = aligned_alloc(_Alignof(worker_state), ws_bytes);
    run.conns = calloc(o->conns, sizeof *run.conns);
    if (!run.workers || !run.conns) {
        fprintf(stderr, "%s: out of memory for %llu connections\n", bench_prog,
                (unsigned long long)o->conns);
        res->setup_failed = 1;
        ringo_stop();
        return;
    }
    memset(run.workers, 0, ws_bytes);
    for (int i = 0; i < run.nworkers; i++) {
        hist_reset(&run.workers[i].latency);
        hist_reset(&run.workers[i].open_latency);
    }

    int64_t begin = ringo_now();
    ticker tk = {.begin_ns = begin, .next_ns = begin + NS_PER_S, .last_ns = begin};
    if (progress_enabled())
        tk.scratch = malloc(sizeof *tk.scratch);
    int cancelled = 0;

    uint64_t spawned = 0;
    while (atomic_load(&run.connects_finished) < o->conns) {
        while (spawned < o->conns &&
               spawned - LOAD(&run.connects_finished) < o->connect_concurrency)
            spawn_connect(spawned++);
        if (atomic_load(&run.connects_finished) >= o->conns)
            break;
        int64_t now = ringo_now();
        if (now >= tk.next_ns)
            tick(&tk, now, "connecting");
        if (ringo_sleep(NS_PER_MS) < 0) {
            cancelled = 1;
            break;
        }
    }

    int64_t start = INT64_MAX;
    const char *ended_early = NULL;
    if (!cancelled && LOAD(&run.conns_ok) == 0) {
        ended_early = "no connection could be opened and answer its first request (see the errors "
                      "above)";
    } else if (!cancelled) {
        start = ringo_now() + (int64_t)(o->warmup_s * NS_PER_S);
        atomic_store(&run.measure_end_ns, start + (int64_t)(o->duration_s * NS_PER_S));
        atomic_store(&run.measure_start_ns, start);
        /* Connections that failed the probe stay out: their error is
         * counted, and a run is about a server that accepts its load. */
        for (uint64_t i = 0; i < o->conns; i++)
            if (run.conns[i].rbuf)
                spawn_load(&run.conns[i]);
    }
    while (!cancelled && !ended_early) {
        uint64_t live = atomic_load(&run.conns_live);
        int64_t end = LOAD(&run.measure_end_ns);
        int64_t now = ringo_now();
        if (!res->started && now >= start) {
            res->started = 1;
            if (o->common.verbose)
                res->have_stats = ringo_stats(&res->stats_start) == 0;
            print_marker("MEASURE START");
        }
        if (res->started && now >= end)
            break;
        if (live == 0) {
            ended_early = "every connection has ended";
            break;
        }
        if (now >= tk.next_ns)
            tick(&tk, now, res->started ? "measuring" : "warmup");
        int64_t wake = now + MAIN_POLL_NS;
        if (tk.next_ns < wake)
            wake = tk.next_ns;
        int64_t bound = res->started ? end : start;
        if (bound < wake)
            wake = bound;
        if (ringo_sleep_until(wake) < 0)
            cancelled = 1;
    }

    int64_t now = ringo_now();
    store_min(&run.measure_end_ns, now);
    atomic_store(&run.done, 1);
    if (res->started) {
        res->window_ns = LOAD(&run.measure_end_ns) - start;
        if (res->have_stats)
            res->have_stats = ringo_stats(&res->stats_end) == 0;
        print_marker("MEASURE END");
    }
    res->interrupted = cancelled;
    if (ended_early)
        progress_log("%s: %s; ending the run early\n", bench_prog, ended_early);

    if (!cancelled) {
        int64_t drain_deadline = now + o->timeout_ns;
        atomic_store(&run.drain_deadline_ns, drain_deadline);
        /* A connection parked in a write or a read that started before the
         * store does not see the drain deadline; past this, ringo_stop()
         * cancels it and it reports a timeout. */
        int64_t give_up = drain_deadline + NS_PER_S / 2;
        for (int64_t t = ringo_now(); LOAD(&run.conns_live) > 0 && t < give_up; t = ringo_now()) {
            if (t >= tk.next_ns)
                tick(&tk, t, "draining");
            if (ringo_sleep(NS_PER_MS) < 0)
                break;
        }
        if (LOAD(&run.conns_live) > 0)
            atomic_store(&run.forced_stop, 1);
    }
    if (o->common.verbose && !res->have_stats) {
        memset(&res->stats_start, 0, sizeof res->stats_start);
        res->have_stats = ringo_stats(&res->stats_end) == 0;
        res->stats_whole_run = 1;
    }
    free(tk.scratch);
    ringo_stop();
}

/* ---- results ----------------------------------------------------------- */

static void print_verbose_stats(const http_result *res, uint64_t reqs)
{
    ringo_counters d = res->stats_end;
    const ringo_counters *a = &res->stats_start;
#define RINGO_BENCH_DELTA(name, desc) d.name -= a->name;
    RINGO_STATS_MAP(RINGO_BENCH_DELTA)
#undef RINGO_BENCH_DELTA
    fprintf(stderr, "ringo counters of this client over %s (%s, %d workers):\n",
            res->stats_whole_run ? "the whole run" : "the measured window", res->backend,
            res->workers);
    ringo_stats_print(&d, 2);
    if (reqs) {
        double m = (double)reqs;
        fprintf(stderr,
                "per measured request: %.3f syscalls, %.3f SQEs, %.3f CQEs, %.3f switches, "
                "%.3f parks\n",
                (double)d.syscalls / m, (double)d.sqes / m, (double)d.cqes / m,
                (double)d.switches / m, (double)d.parks / m);
    }
    ringo_tls_stats ts = {0}, one;
    for (uint64_t i = 0; run.tls_ctx && i <= run.opt->conns; i++) {
        ringo_tls_ctx *ctx = i ? run.conns[i - 1].ctx : run.tls_ctx;
        if (!ctx || ringo_tls_ctx_stats(ctx, &one) < 0)
            continue;
        ts.handshakes += one.handshakes;
        ts.resumed += one.resumed;
        ts.fail_timeout += one.fail_timeout;
        ts.fail_protocol += one.fail_protocol;
        ts.fail_verify += one.fail_verify;
        ts.fail_closed += one.fail_closed;
        ts.fail_other += one.fail_other;
        ts.truncated += one.truncated;
    }
    if (run.tls_ctx)
        fprintf(stderr,
                "TLS client context over the whole run: %llu handshakes (%llu resumed); failed: "
                "%llu timeout, %llu protocol, %llu verify, %llu closed, %llu other; %llu streams "
                "truncated\n",
                (unsigned long long)ts.handshakes, (unsigned long long)ts.resumed,
                (unsigned long long)ts.fail_timeout, (unsigned long long)ts.fail_protocol,
                (unsigned long long)ts.fail_verify, (unsigned long long)ts.fail_closed,
                (unsigned long long)ts.fail_other, (unsigned long long)ts.truncated);
}

/* Connections opened (and TLS handshakes), summed over the workers. */
typedef struct open_figures {
    hist *latency;     /* connect to ready, of those opened in the window */
    uint64_t opened;   /* in the window */
    uint64_t resumed;  /* of those, resumed TLS sessions */
    uint64_t hs_total; /* TLS handshakes over the whole run */
    uint64_t resumed_total;
} open_figures;

static void report_opens_json(const http_opts *o, const open_figures *of, double secs)
{
    const hist *h = of->latency;
    double per_s = secs > 0 ? (double)of->opened / secs : 0;
    printf(",\"tls\":%s,\"new_conn\":%s,\"connections_opened\":%llu,\"connections_per_s\":%.1f,"
           "\"connect_p50_us\":%.3f,\"connect_p99_us\":%.3f,\"connect_max_us\":%.3f",
           o->tls ? "true" : "false", o->new_conn ? "true" : "false",
           (unsigned long long)of->opened, per_s, (double)hist_percentile(h, 50) / 1e3,
           (double)hist_percentile(h, 99) / 1e3, (double)hist_max(h) / 1e3);
    if (o->tls)
        printf(",\"handshakes\":%llu,\"handshakes_per_s\":%.1f,\"resumed\":%llu,"
               "\"resumed_share\":%.4f,\"handshakes_total\":%llu,\"resumed_total\":%llu,"
               "\"tls_version\":\"%s\",\"tls_cipher\":\"%s\"",
               (unsigned long long)of->opened, per_s, (unsigned long long)of->resumed,
               of->opened ? (double)of->resumed / (double)of->opened : 0.0,
               (unsigned long long)of->hs_total, (unsigned long long)of->resumed_total,
               run.tls_version, run.tls_cipher);
}

static void report_opens_text(const http_opts *o, const open_figures *of, double secs)
{
    const hist *h = of->latency;
    double per_s = secs > 0 ? (double)of->opened / secs : 0;
    const char *what = o->tls ? "handshakes" : "connections";
    printf("  %-11s %llu in the window (%.0f/s)", what, (unsigned long long)of->opened, per_s);
    if (o->tls)
        printf(", %llu resumed (%.1f %%); %llu over the run, %llu resumed",
               (unsigned long long)of->resumed,
               of->opened ? 100.0 * (double)of->resumed / (double)of->opened : 0.0,
               (unsigned long long)of->hs_total, (unsigned long long)of->resumed_total);
    printf("\n");
    if (of->opened)
        printf("  %-11s p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  mean %.1f  (TCP connect%s)\n",
               o->tls ? "handshake us" : "connect us", (double)hist_percentile(h, 50) / 1e3,
               (double)hist_percentile(h, 90) / 1e3, (double)hist_percentile(h, 99) / 1e3,
               (double)hist_max(h) / 1e3, hist_mean(h) / 1e3, o->tls ? " + TLS handshake" : "");
    if (o->tls)
        printf("  tls         %s%s%s, certificate %s, resumption %s\n",
               run.tls_version[0] ? run.tls_version : "no handshake completed",
               run.tls_version[0] ? " " : "", run.tls_cipher,
               o->tls_verify ? "verified" : "not verified", o->tls_resume ? "on" : "off");
}

static void report(const http_opts *o, const http_result *res, const hist *lat, uint64_t bytes,
                   uint64_t errors, const open_figures *of)
{
    uint64_t reqs = hist_total(lat);
    double secs = res->started ? (double)res->window_ns / NS_PER_S : 0;
    double rate = secs > 0 ? (double)reqs / secs : 0;
    double mbps = secs > 0 ? (double)bytes / 1e6 / secs : 0;
    double p50 = (double)hist_percentile(lat, 50) / 1e3;
    double p90 = (double)hist_percentile(lat, 90) / 1e3;
    double p99 = (double)hist_percentile(lat, 99) / 1e3;
    double p999 = (double)hist_percentile(lat, 99.9) / 1e3;
    double max = (double)hist_max(lat) / 1e3;
    unsigned long long kinds[ERR_KINDS];
    for (int k = 0; k < ERR_KINDS; k++)
        kinds[k] = LOAD(&run.errors_by_kind[k]);
    unsigned long long reconnects = LOAD(&run.reconnects);
    unsigned long long closes = LOAD(&run.closes_announced);
    unsigned long long dropped = LOAD(&run.dropped);
    if (o->common.json) {
        printf("{\"requests\":%llu,\"duration_s\":%.6f,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
               "\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
               "\"max_us\":%.3f,\"mean_us\":%.3f,\"errors\":%llu,\"errors_by_kind\":{",
               (unsigned long long)reqs, secs, rate, mbps, p50, p90, p99, p999, max,
               hist_mean(lat) / 1e3, (unsigned long long)errors);
        for (int k = 0; k < ERR_KINDS; k++)
            printf("%s\"%s\":%llu", k ? "," : "", err_names[k], kinds[k]);
        printf("},\"reconnects\":%llu,\"closes_announced\":%llu,\"dropped\":%llu,"
               "\"conns\":%llu,\"pipeline\":%u,\"workers\":%d",
               reconnects, closes, dropped, (unsigned long long)o->conns, o->pipeline,
               res->workers);
        report_opens_json(o, of, secs);
        printf("}\n");
    } else {
        char shape[32];
        if (o->new_conn)
            snprintf(shape, sizeof shape, "a new connection per request");
        else
            snprintf(shape, sizeof shape, "pipeline %u", o->pipeline);
        printf("http %s%s%s: %llu conns, %s, %d workers (%s)%s\n", o->addr_text, o->path,
               o->tls ? " over TLS" : "", (unsigned long long)o->conns, shape, res->workers,
               res->backend, res->interrupted ? ", interrupted" : "");
        printf("  window      %.3f s (warmup %.3g s)\n", secs, o->warmup_s);
        printf("  requests    %llu  (%.0f req/s)\n", (unsigned long long)reqs, rate);
        printf("  transfer    %.2f MB/s  (whole responses: status line, headers, body)\n", mbps);
        printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f%s\n",
               p50, p90, p99, p999, max, hist_mean(lat) / 1e3,
               o->new_conn ? "  (from the connect)" : "");
        if (o->tls || o->new_conn)
            report_opens_text(o, of, secs);
        printf("  reconnects  %llu  (server said Connection: close %llu times; %llu pipelined "
               "requests dropped behind it)\n",
               reconnects, closes, dropped);
        printf("  errors      %llu", (unsigned long long)errors);
        if (errors) {
            const char *sep = "  (";
            for (int k = 0; k < ERR_KINDS; k++)
                if (kinds[k]) {
                    printf("%s%s %llu", sep, err_names[k], kinds[k]);
                    sep = ", ";
                }
            printf(")");
        }
        printf("\n");
    }
    fflush(stdout);
    if (o->common.verbose && res->have_stats)
        print_verbose_stats(res, reqs);
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s http [--host H] [--port P] [--path /x] [options]\n"
            "\n"
            "Keep-alive HTTP/1.1 load: CONNS connections, each writing DEPTH pipelined GET\n"
            "requests at a time and reading their DEPTH responses, which are checked\n"
            "(framing, status, optionally body). Prints requests/s, MB/s and latency\n"
            "percentiles; 'MEASURE START' / 'MEASURE END' on stdout bracket the window.\n"
            "\n"
            "      --host HOST        server name or address (default 127.0.0.1)\n"
            "      --port PORT        (default 8080)\n"
            "      --path PATH        request target (default /plaintext)\n"
            "  -c, --conns N          connections (default 10)\n"
            "  -p, --pipeline DEPTH   requests per write, answered before the next (default 1)\n"
            "  -d, --duration SECS    length of the measured window (default 5)\n"
            "      --warmup SECS      unmeasured time before the window (default 0)\n"
            "  -H, --header 'N: V'    extra request header (repeatable; a Host header\n"
            "                         replaces the default one)\n"
            "      --expect-status N  status every response must have (default 200)\n"
            "      --expect-body STR  body every response must have, byte for byte\n"
            "      --timeout SECS     per connect, read and write (default %.0f)\n"
            "      --connect-concurrency N  connects in flight at once (default %d)\n"
            "      --tls              speak TLS (HTTPS) on every connection (default off);\n"
            "                         SNI and the name checked are --host; ALPN http/1.1\n"
            "      --tls-verify       check the server's certificate chain and name\n"
            "                         (default off: any certificate is accepted)\n"
            "      --tls-ca FILE      trust anchors (PEM) for --tls-verify (default the\n"
            "                         system store, /etc/ssl/certs)\n"
            "      --tls-resume       resume TLS sessions: each connection's handshake\n"
            "                         offers the newest session (TLS 1.3 ticket) the server\n"
            "                         gave that connection (default off: every handshake\n"
            "                         is full)\n"
            "      --new-conn         a new connection per request (connect, handshake with\n"
            "                         --tls, one request, close) instead of keep-alive\n"
            "                         (default off; needs --pipeline 1): measures\n"
            "                         connections or handshakes per second; latency runs\n"
            "                         from the connect\n"
            "%s"
            "\n"
            "With --tls or --new-conn the report adds the connections opened in the window\n"
            "(with --new-conn, one per measured request) per second, their connect (+ TLS\n"
            "handshake) time, and with --tls how many handshakes resumed a session (JSON:\n"
            "handshakes, handshakes_per_s, resumed, resumed_share).\n"
            "\n"
            "Errors are counted by kind: connect, read, write, timeout, status, framing,\n"
            "body, closed (the server closed without saying Connection: close; over TLS\n"
            "also without close_notify), handshake (TLS refused or failed). A\n"
            "framing error or a closed connection is replaced by a new one (counted in\n"
            "reconnects), as is one the server announced it closes (not an error).\n"
            "\n"
            "Exit status: 0 no errors, 1 errors (or nothing measured), 2 usage.\n",
            bench_prog, DEFAULT_TIMEOUT_S, DEFAULT_CONNECTING, bench_common_usage);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, MODE_PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    flag_hint(MODE_PROG);
    return BENCH_EXIT_USAGE;
}

/* A bad option value: the parser has said what is wrong; add the hint. */
static int value_error(void)
{
    flag_hint(MODE_PROG);
    return BENCH_EXIT_USAGE;
}

enum {
    OPT_HOST = BENCH_OPT_MODE_FIRST,
    OPT_PORT,
    OPT_PATH,
    OPT_WARMUP,
    OPT_EXPECT_STATUS,
    OPT_EXPECT_BODY,
    OPT_TIMEOUT,
    OPT_CONNECT_CONCURRENCY,
    OPT_TLS,
    OPT_TLS_VERIFY,
    OPT_TLS_CA,
    OPT_TLS_RESUME,
    OPT_NEW_CONN,
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"path", required_argument, NULL, OPT_PATH},
    {"conns", required_argument, NULL, 'c'},
    {"connections", required_argument, NULL, 'c'},
    {"pipeline", required_argument, NULL, 'p'},
    {"duration", required_argument, NULL, 'd'},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"header", required_argument, NULL, 'H'},
    {"expect-status", required_argument, NULL, OPT_EXPECT_STATUS},
    {"expect-body", required_argument, NULL, OPT_EXPECT_BODY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-concurrency", required_argument, NULL, OPT_CONNECT_CONCURRENCY},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-verify", no_argument, NULL, OPT_TLS_VERIFY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-resume", no_argument, NULL, OPT_TLS_RESUME},
    {"new-conn", no_argument, NULL, OPT_NEW_CONN},
    {"workers", required_argument, NULL, BENCH_OPT_WORKERS},
    {"backend", required_argument, NULL, BENCH_OPT_BACKEND},
    {"json", no_argument, NULL, BENCH_OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* "Name: value" with a token name and no CR, LF or other control bytes. */
static int header_ok(const char *h)
{
    const char *p = h;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == h || *p != ':')
        return 0;
    for (p++; *p; p++)
        if (!is_text((unsigned char)*p))
            return 0;
    return 1;
}

static int is_host_header(const char *h)
{
    return strncasecmp(h, "host:", 5) == 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(http_opts *o, int argc, char **argv)
{
    uint64_t v;
    *o = (http_opts){.host = "127.0.0.1",
                     .port = 8080,
                     .path = "/plaintext",
                     .conns = 10,
                     .pipeline = 1,
                     .duration_s = 5,
                     .timeout_s = DEFAULT_TIMEOUT_S,
                     .expect_status = 200,
                     .connect_concurrency = DEFAULT_CONNECTING};
    o->headers = calloc((size_t)argc, sizeof *o->headers);
    if (!o->headers) {
        fprintf(stderr, "%s: out of memory\n", bench_prog);
        return BENCH_EXIT_ERRORS;
    }
    optind = 1;
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, ":c:p:d:H:qvh", long_options, NULL);
        if (opt == -1)
            break;
        int common = bench_common_option(MODE_PROG, &o->common, opt, optarg);
        if (common < 0)
            return value_error();
        if (common > 0)
            continue;
        switch (opt) {
        case OPT_HOST:
            if (!*optarg)
                return usage_error("--host must not be empty");
            o->host = optarg;
            break;
        case OPT_PORT:
            if (flag_uint(MODE_PROG, "--port", optarg, 1, 65535, &v) < 0)
                return value_error();
            o->port = (unsigned)v;
            break;
        case OPT_PATH:
            if (optarg[0] != '/' && strcmp(optarg, "*"))
                return usage_error("--path must start with '/'");
            for (const char *q = optarg; *q; q++)
                if ((unsigned char)*q <= ' ' || *q == 0x7f)
                    return usage_error("--path must not contain spaces or control characters");
            o->path = optarg;
            break;
        case 'c':
            if (flag_count(MODE_PROG, "--conns", optarg, 1, MAX_CONNS, &v) < 0)
                return value_error();
            o->conns = v;
            break;
        case 'p':
            if (flag_count(MODE_PROG, "--pipeline", optarg, 1, MAX_PIPELINE, &v) < 0)
                return value_error();
            o->pipeline = (unsigned)v;
            break;
        case 'd':
            if (flag_seconds(MODE_PROG, "--duration", optarg, 0.001, 1e7, &o->duration_s) < 0)
                return value_error();
            break;
        case OPT_WARMUP:
            if (flag_seconds(MODE_PROG, "--warmup", optarg, 0, 1e7, &o->warmup_s) < 0)
                return value_error();
            break;
        case 'H':
            if (!header_ok(optarg))
                return usage_error("bad --header '%s': expected 'Name: value'", optarg);
            o->headers[o->nheaders++] = optarg;
            break;
        case OPT_EXPECT_STATUS:
            if (flag_uint(MODE_PROG, "--expect-status", optarg, 200, 599, &v) < 0)
                return value_error();
            o->expect_status = (int)v;
            break;
        case OPT_EXPECT_BODY:
            o->expect_body = optarg;
            o->expect_body_len = strlen(optarg);
            break;
        case OPT_TIMEOUT:
            if (flag_seconds(MODE_PROG, "--timeout", optarg, 0.001, 1e6, &o->timeout_s) < 0)
                return value_error();
            break;
        case OPT_CONNECT_CONCURRENCY:
            if (flag_count(MODE_PROG, "--connect-concurrency", optarg, 1, 100000, &v) < 0)
                return value_error();
            o->connect_concurrency = (unsigned)v;
            break;
        case OPT_TLS:
            o->tls = 1;
            break;
        case OPT_TLS_VERIFY:
            o->tls_verify = 1;
            break;
        case OPT_TLS_CA:
            if (!*optarg)
                return usage_error("--tls-ca must not be empty");
            o->tls_ca = optarg;
            break;
        case OPT_TLS_RESUME:
            o->tls_resume = 1;
            break;
        case OPT_NEW_CONN:
            o->new_conn = 1;
            break;
        case 'h':
            usage(stdout);
            return BENCH_EXIT_OK;
        default: /* '?' or ':' */
            return flag_getopt_error(MODE_PROG, opt, argv, long_options);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->tls && (o->tls_verify || o->tls_resume || o->tls_ca))
        return usage_error("%s needs --tls", o->tls_verify   ? "--tls-verify"
                                             : o->tls_resume ? "--tls-resume"
                                                             : "--tls-ca");
    if (o->tls_ca && !o->tls_verify)
        return usage_error("--tls-ca needs --tls-verify (without it no certificate is checked)");
    if (o->new_conn && o->pipeline > 1)
        return usage_error("--new-conn sends one request per connection: --pipeline must be 1");
    /* SNI and the name to verify: the host without an IPv6 literal's brackets */
    size_t hl = strlen(o->host);
    const char *h = o->host;
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof o->server_name)
        return usage_error("--host is longer than %zu bytes", sizeof o->server_name - 1);
    memcpy(o->server_name, h, hl);
    o->server_name[hl] = 0;
    o->timeout_ns = (int64_t)(o->timeout_s * NS_PER_S);
    /* An IPv6 literal needs brackets both to resolve and in Host. */
    int v6 = strchr(o->host, ':') && o->host[0] != '[';
    snprintf(o->addr_text, sizeof o->addr_text, "%s%s%s:%u", v6 ? "[" : "", o->host, v6 ? "]" : "",
             o->port);
    return -1;
}

/* The request, o->pipeline times over, in one buffer every connection
 * writes from. */
static int build_round(const http_opts *o)
{
    char *req = malloc(MAX_REQUEST + 1);
    if (!req)
        return -1;
    size_t len = 0;
    int host_given = 0;
    for (size_t i = 0; i < o->nheaders; i++)
        host_given |= is_host_header(o->headers[i]);
    len += (size_t)snprintf(req + len, MAX_REQUEST + 1 - len, "GET %s HTTP/1.1\r\n", o->path);
    if (!host_given && len < MAX_REQUEST) {
        /* addr_text is host:port as the URL authority would have it; the
         * default port is left out, as a browser would. */
        if (o->port == 80)
            len += (size_t)snprintf(req + len, MAX_REQUEST + 1 - len, "Host: %.*s\r\n",
                                    (int)(strrchr(o->addr_text, ':') - o->addr_text), o->addr_text);
        else
            len += (size_t)snprintf(req + len, MAX_REQUEST + 1 - len, "Host: %s\r\n", o->addr_text);
    }
    for (size_t i = 0; i < o->nheaders && len < MAX_REQUEST; i++)
        len += (size_t)snprintf(req + len, MAX_REQUEST + 1 - len, "%s\r\n", o->headers[i]);
    if (len < MAX_REQUEST)
        len += (size_t)snprintf(req + len, MAX_REQUEST + 1 - len, "\r\n");
    if (len >= MAX_REQUEST) {
        free(req);
        fprintf(stderr, "%s http: the request is over %d bytes\n", bench_prog, MAX_REQUEST);
        return -2;
    }
    if (len * o->pipeline > MAX_ROUND_BYTES) {
        fprintf(stderr,
                "%s http: %u pipelined requests of %zu bytes exceed %d bytes per write; use a "
                "pipeline of at most %zu\n",
                bench_prog, o->pipeline, len, MAX_ROUND_BYTES, MAX_ROUND_BYTES / len);
        free(req);
        return -2;
    }
    run.round = malloc(len * o->pipeline);
    if (!run.round) {
        free(req);
        return -1;
    }
    for (unsigned i = 0; i < o->pipeline; i++)
        memcpy(run.round + i * len, req, len);
    run.req_len = len;
    free(req);
    return 0;
}

/* --tls: the client context (reads the CA file; before the runtime).
 * Returns 0 or -1 after saying why. */
static int tls_setup(const http_opts *o)
{
    if (!o->tls)
        return 0;
    ringo_tls_config *cfg = &run.tls_cfg;
    ringo_tls_config_init(cfg);
    cfg->verify_peer = o->tls_verify;
    cfg->ca_file = o->tls_ca;
    cfg->resume = o->tls_resume;
    char err[512];
    int rc = ringo_tls_client_new(cfg, &run.tls_ctx, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, MODE_PROG ": --tls: %s (%s)\n", err[0] ? err : ringo_strerror(rc),
                ringo_err_name(rc));
        return -1;
    }
    return 0;
}

int http_main(int argc, char **argv)
{
    http_opts opts;
    int status = parse_args(&opts, argc, argv);
    if (status >= 0) {
        free(opts.headers);
        return status;
    }
    int rc = build_round(&opts);
    if (rc < 0) {
        if (rc == -1)
            fprintf(stderr, "%s: out of memory\n", bench_prog);
        free(opts.headers);
        return rc == -1 ? BENCH_EXIT_ERRORS : BENCH_EXIT_USAGE;
    }
    if (bench_resolve(opts.addr_text, &opts.addr) < 0 || tls_setup(&opts) < 0) {
        free(opts.headers);
        free(run.round);
        return BENCH_EXIT_USAGE;
    }
    progress_init(opts.common.quiet);

    run.opt = &opts;
    atomic_store(&run.measure_start_ns, INT64_MAX);
    atomic_store(&run.measure_end_ns, INT64_MAX);
    atomic_store(&run.drain_deadline_ns, INT64_MAX);

    http_result res = {0};
    int exit_status = BENCH_EXIT_ERRORS;
    hist *latency = NULL;
    open_figures opens = {0};
    rc = bench_run(&opts.common, http_coro_main, &res);
    progress_clear();
    if (rc < 0 || res.setup_failed)
        goto out;

    /* Every coroutine has exited: the per-worker state is final. */
    latency = malloc(sizeof *latency);
    opens.latency = malloc(sizeof *opens.latency);
    if (!latency || !opens.latency) {
        fprintf(stderr, "%s: out of memory\n", bench_prog);
        goto out;
    }
    hist_reset(latency);
    hist_reset(opens.latency);
    uint64_t bytes = 0;
    for (int i = 0; i < run.nworkers; i++) {
        worker_state *ws = &run.workers[i];
        hist_merge(latency, &ws->latency);
        bytes += LOAD(&ws->measured_bytes);
        hist_merge(opens.latency, &ws->open_latency);
        opens.opened += LOAD(&ws->opened);
        opens.resumed += LOAD(&ws->resumed);
        opens.hs_total += LOAD(&ws->handshakes_total);
        opens.resumed_total += LOAD(&ws->resumed_total);
    }
    uint64_t errors = LOAD(&run.errors);
    report(&opts, &res, latency, bytes, errors, &opens);
    uint64_t reqs = hist_total(latency);
    if (reqs == 0 && !errors)
        fprintf(stderr, "%s: no request was measured%s\n", bench_prog,
                res.started ? "" : " (the run ended before the window began)");
    exit_status = errors || reqs == 0 ? BENCH_EXIT_ERRORS : BENCH_EXIT_OK;
out:
    /* Buffers of connections whose load never started (^C, spawn failure). */
    for (uint64_t i = 0; run.conns && i < opts.conns; i++) {
        free(run.conns[i].rbuf);
        ringo_tls_free(run.conns[i].tls);
        ringo_tls_ctx_free(run.conns[i].ctx);
    }
    ringo_tls_ctx_free(run.tls_ctx);
    free(opens.latency);
    free(latency);
    free(run.workers);
    free(run.conns);
    free(run.round);
    free(opts.headers);
    return exit_status;
}
