/* src/http/conn.c - one coroutine per connection: read, parse, dispatch,
 * queue the responses, flush them in one write per batch of pipelined
 * requests; request bodies; the error answers.
 *
 * Reads go through ringo_recv_borrow, so on io_uring with multishot recv
 * a request is parsed in the buffer the kernel wrote it to, and nothing
 * is copied. Only a request cut in two by a read is copied, once, into the
 * connection's own buffer (allocated at that moment, kept until close). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/deadline.h"
#include "http/http_int.h"

#define OWN_SLACK       (16 * 1024)        /* most room after a head for a chunked body */
#define OWN_MIN         2048               /* first size of own: it grows as a head needs */
#define OWN_IDLE_KEEP   4096               /* an idle connection keeps own up to this size */
#define BODY_ROOM       4096               /* room after a head in own for body bytes */
#define MAX_HEADERS     256                /* bound of the header array on the stack */
#define OUT_STACK       4096               /* output bytes queued on the stack before growing */
#define OUT_IDLE_KEEP   (16 * 1024)        /* an idle connection keeps a grown out up to this */
#define LINGER_NS       (5 * 1000000000LL) /* drain at most this long before closing */
#define LINGER_READ_NS  (1000000000LL)     /* ... and stop after a second of silence */
#define LINGER_DRAIN_NS (100000000LL)      /* ... or 100 ms while the server shuts down */

static void release_lent(struct rh_conn *c)
{
    if (c->have_lent) {
        ringo_buf_release(&c->lent);
        c->have_lent = false;
    }
}

/* ---- output: out[] bytes and static references, in order ---- */

static int out_reserve(struct rh_conn *c, size_t n)
{
    if (c->out_len + n <= c->out_cap)
        return 0;
    size_t cap = c->out_cap * 2;
    while (cap < c->out_len + n)
        cap *= 2;
    char *p = malloc(cap);
    if (!p)
        return -ENOMEM;
    memcpy(p, c->out, c->out_len);
    free(c->out_heap);
    c->out = c->out_heap = p;
    c->out_cap = cap;
    return 0;
}

/* Make room for one more segment (flushing when all 16 are used). */
static int seg_room(struct rh_conn *c)
{
    return c->nseg < 16 ? 0 : rh_flush(c);
}

/* Reserve n bytes at the end of out and return where to write them; the
 * bytes count as queued once rh_commit(n) is called. */
char *rh_out_begin(struct rh_conn *c, size_t n)
{
    if (c->nseg == 16 && c->seg[15].iov_base && rh_flush(c) < 0)
        return NULL;
    if (out_reserve(c, n) < 0)
        return NULL;
    return c->out + c->out_len;
}

void rh_out_commit(struct rh_conn *c, size_t n)
{
    struct iovec *last = c->nseg ? &c->seg[c->nseg - 1] : NULL;
    if (last && !last->iov_base && c->seg_off[c->nseg - 1] + last->iov_len == c->out_len) {
        last->iov_len += n;
    } else {
        c->seg[c->nseg].iov_base = NULL;
        c->seg[c->nseg].iov_len = n;
        c->seg_off[c->nseg] = c->out_len;
        c->nseg++;
    }
    c->out_len += n;
    c->queued += n;
}

int rh_queue(struct rh_conn *c, const void *p, size_t n)
{
    char *dst = rh_out_begin(c, n);
    if (!dst)
        return c->dead ? -EPIPE : -ENOMEM;
    memcpy(dst, p, n);
    rh_out_commit(c, n);
    return 0;
}

int rh_queue_ref(struct rh_conn *c, const void *p, size_t n)
{
    int r = seg_room(c);
    if (r < 0)
        return r;
    c->seg[c->nseg].iov_base = (void *)p;
    c->seg[c->nseg].iov_len = n;
    c->nseg++;
    c->queued += n;
    return 0;
}

static int write_failed(struct rh_conn *c, int w)
{
    rh_stat_add(c->w, w == -ETIMEDOUT ? RH_STAT(timeouts) : RH_STAT(conn_errors), 1);
    c->dead = true;
    return w < 0 ? w : -EPIPE;
}

/* HTTPS: the batch is sealed into as few records as fit and sent with
 * one write, as the plain batch is. */
static int tls_flush(struct rh_conn *c, const struct iovec *iov, int n, size_t total, int64_t dl)
{
    int r = ringo_tls_queuev(c->tls, iov, n, dl);
    if (r == 0)
        r = ringo_tls_flush(c->tls, dl);
    if (r < 0)
        return write_failed(c, r);
    rh_stat_add(c->w, RH_STAT(bytes_out), total);
    return 0;
}

int rh_flush(struct rh_conn *c)
{
    if (c->dead)
        return -EPIPE;
    if (!c->nseg)
        return 0;
    struct iovec iov[16];
    int n = c->nseg;
    for (int i = 0; i < n; i++) {
        iov[i] = c->seg[i];
        if (!iov[i].iov_base)
            iov[i].iov_base = c->out + c->seg_off[i];
    }
    size_t total = c->queued;
    c->nseg = 0;
    c->out_len = 0;
    c->queued = 0;
    int64_t dl = ringo_deadline_in(c->s->cfg.write_timeout_ns);
    if (c->tls)
        return tls_flush(c, iov, n, total, dl);
    struct iovec *v = iov;
    size_t left = total;
    while (left) {
        ssize_t w = n == 1 ? ringo_write(c->fd, v->iov_base, v->iov_len, dl)
                           : ringo_writev(c->fd, v, n, dl);
        if (w <= 0)
            return write_failed(c, (int)w);
        left -= (size_t)w;
        while (n && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    rh_stat_add(c->w, RH_STAT(bytes_out), total);
    return 0;
}

/* Write bytes at once, after what is queued (large bodies, chunks). */
int rh_write_now(struct rh_conn *c, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++) {
        int r = iov[i].iov_len ? rh_queue_ref(c, iov[i].iov_base, iov[i].iov_len) : 0;
        if (r < 0)
            return r;
    }
    return rh_flush(c);
}

/* ---- counting answered requests ---- */

void rh_count_status(struct rh_conn *c, int status)
{
    struct rh_worker *w = c->w;
    rh_stat_add(w, RH_STAT(requests), 1);
    if (status >= 100 && status < 600)
        rh_stat_add(w, RH_STAT(by_class) + (size_t)(status / 100), 1);
    size_t idx = 0;
    switch (status) {
    case 400:
        idx = RH_STAT(status_400);
        break;
    case 404:
        idx = RH_STAT(status_404);
        break;
    case 408:
        idx = RH_STAT(status_408);
        break;
    case 413:
        idx = RH_STAT(status_413);
        break;
    case 414:
        idx = RH_STAT(status_414);
        break;
    case 431:
        idx = RH_STAT(status_431);
        break;
    case 501:
        idx = RH_STAT(status_501);
        break;
    case 505:
        idx = RH_STAT(status_505);
        break;
    default:
        return;
    }
    rh_stat_add(w, idx, 1);
}

int rh_send_error(struct rh_conn *c, int status, const char *why)
{
    char line[64];
    size_t sl = rh_status_line(status, line);
    char body[256];
    int bl = snprintf(body, sizeof(body), "%d %s%s%s\n", status, rh_reason(status), why ? ": " : "",
                      why ? why : "");
    if (bl < 0 || (size_t)bl >= sizeof(body))
        bl = (int)sizeof(body) - 1;
    rh_date_refresh(c->s, c->w);
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "%.*s%.*sContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n",
                      (int)sl, line, (int)c->w->date_len, c->w->date_line, bl);
    c->closing = true;
    rh_count_status(c, status);
    if (hl < 0 || (size_t)hl >= sizeof(head) || rh_queue(c, head, (size_t)hl) < 0 ||
        rh_queue(c, body, (size_t)bl) < 0)
        return -ENOMEM;
    return rh_flush(c);
}

/* ---- input ---- */

/* Make own hold at least `need` bytes (capped at the largest head plus
 * OWN_SLACK), keeping own[0, end). It grows as a head needs, so a
 * connection with a partial head costs about what the head takes, not the
 * largest head allowed. own may move: call only while no view into it is
 * live (keep == 0: no head of a request being handled lives there). */
static int own_reserve(struct rh_conn *c, size_t need)
{
    size_t max = c->s->cfg.max_header_bytes + OWN_SLACK;
    if (need > max)
        need = max;
    if (c->own && need <= c->own_cap)
        return 0;
    size_t cap = c->own_cap ? c->own_cap : OWN_MIN;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    char *p = realloc(c->own, cap);
    if (!p)
        return -ENOMEM;
    if (c->win == c->own)
        c->win = p;
    c->own = p;
    c->own_cap = cap;
    return 0;
}

/* Move the unparsed bytes into own[keep...] so more can be read after
 * them; a lent window is given back (no view into it is live). */
static int window_to_own(struct rh_conn *c, bool release)
{
    size_t n = c->end - c->start;
    if (own_reserve(c, c->keep + 2 * n + OWN_MIN) < 0)
        return -ENOMEM;
    if (c->win != c->own) {
        memcpy(c->own + c->keep, c->win + c->start, n);
        if (release)
            release_lent(c);
        c->win = c->own;
    } else if (c->start != c->keep) {
        memmove(c->own + c->keep, c->own + c->start, n);
    }
    c->start = c->keep;
    c->end = c->keep + n;
    return 0;
}

/* Between requests (no view into the window is live): give a lent
 * receive buffer back before a write that may park, keeping the unparsed
 * bytes in own. The buffers are the worker's shared ring: a connection
 * parked on a slow client must not hold one, or a few hundred of them dry
 * the ring for everyone. */
static int drop_lent(struct rh_conn *c)
{
    if (!c->have_lent)
        return 0;
    if (c->win != c->lent.data) {
        release_lent(c); /* a body was read into own: the head is done with */
        return 0;
    }
    if (c->start == c->end) {
        release_lent(c);
        c->win = NULL;
        c->start = c->end = 0;
        return 0;
    }
    c->keep = 0;
    return window_to_own(c, true);
}

/* Count how a read from the client ended: bytes, end of stream, a
 * timeout (as timeout_stat: a request's read, or the keep-alive idle
 * wait), or an error; a cancel (shutdown) is none of them. */
static void note_read(struct rh_conn *c, ssize_t n, size_t timeout_stat)
{
    if (n > 0)
        rh_stat_add(c->w, RH_STAT(bytes_in), (uint64_t)n);
    else if (n == 0)
        c->peer_eof = true;
    else if (n == -ETIMEDOUT)
        rh_stat_add(c->w, timeout_stat, 1);
    else if (n != -ECANCELED)
        rh_stat_add(c->w, RH_STAT(conn_errors), 1);
}

/* HTTPS: an end without close_notify ends the stream like a plain
 * close (most clients close so; the TLS layer counts it as truncated). */
static ssize_t tls_read(struct rh_conn *c, void *buf, size_t len, int64_t deadline)
{
    ssize_t n = ringo_tls_read(c->tls, buf, len, deadline);
    return n == RINGO_ETLSEOF ? 0 : n;
}

/* Every read from the client: what is queued goes out first (an answer
 * that is ready never waits behind bytes that may never come). */
static ssize_t conn_read(struct rh_conn *c, void *buf, size_t len, int64_t deadline)
{
    int r = rh_flush(c);
    if (r < 0)
        return r;
    ssize_t n = c->tls ? tls_read(c, buf, len, deadline) : ringo_read(c->fd, buf, len, deadline);
    note_read(c, n, RH_STAT(timeouts));
    return n;
}

/* Read more bytes into own after the window (growing own while no head
 * lives in it). 0 at end of stream. */
static ssize_t read_more(struct rh_conn *c, int64_t deadline)
{
    if (c->end >= c->own_cap && !c->keep && own_reserve(c, c->own_cap * 2) < 0)
        return -ENOMEM;
    if (c->end >= c->own_cap)
        return -ENOBUFS;
    ssize_t n = conn_read(c, c->own + c->end, c->own_cap - c->end, deadline);
    if (n > 0)
        c->end += (size_t)n;
    return n;
}

/* ---- request bodies ---- */

static ssize_t body_fail(ringo_http_req *req, int status, ssize_t err)
{
    req->body_err = status;
    req->c->closing = true;
    return err;
}

static int send_continue(ringo_http_req *req)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    req->continue_sent = true;
    if (req->resp_started)
        return 0;
    int r = rh_queue(req->c, cont, sizeof(cont) - 1);
    return r < 0 ? r : rh_flush(req->c);
}

/* A body read that got no bytes. A timeout (the server's read timeout or
 * the handler's own deadline) or the client's end of stream leaves the
 * socket usable: the handler's answer still goes out, then the connection
 * closes, since the body was not consumed. Other errors end it. */
static ssize_t read_failed(ringo_http_req *req, ssize_t n)
{
    struct rh_conn *c = req->c;
    if (n == 0 || n == -ETIMEDOUT) {
        c->closing = true;
        return n == 0 ? -ECONNRESET : n;
    }
    c->dead = true;
    return n;
}

ssize_t ringo_http_body_read(ringo_http_req *req, void *buf, size_t len, int64_t deadline)
{
    struct rh_conn *c = req->c;
    ringo_http_server *s = c->s;
    if (req->body_err)
        return req->body_err == 413 ? -EMSGSIZE : -EPROTO;
    if (req->body_dropped)
        return -EALREADY;
    if (req->body_done || len == 0)
        return 0;
    if (c->dead)
        return -ECONNRESET;
    if (rh_awaits_continue(req) && c->start == c->end) {
        int r = send_continue(req);
        if (r < 0)
            return r;
    }
    if (req->pend_len) {
        size_t n = len < req->pend_len ? len : req->pend_len;
        memcpy(buf, req->pend, n);
        req->pend += n;
        req->pend_len -= n;
        return (ssize_t)n;
    }
    if (req->r.body == RHP_BODY_LENGTH) {
        size_t want = len < req->body_left ? len : (size_t)req->body_left;
        size_t avail = c->end - c->start;
        ssize_t n;
        if (avail) {
            n = (ssize_t)(want < avail ? want : avail);
            memcpy(buf, c->win + c->start, (size_t)n);
            c->start += (size_t)n;
        } else {
            /* straight into the caller's buffer, never past the body */
            int64_t dl = ringo__deadline_min(deadline, ringo_deadline_in(s->cfg.read_timeout_ns));
            n = conn_read(c, buf, want, dl);
            if (n <= 0)
                return read_failed(req, n);
        }
        req->body_left -= (uint64_t)n;
        req->body_done = req->body_left == 0;
        return n;
    }
    /* chunked */
    for (;;) {
        if (c->start < c->end) {
            size_t used;
            const char *data;
            size_t dlen;
            int rc = rhp_chunked_decode(&req->chunk, &s->lim, c->win + c->start, c->end - c->start,
                                        &used, &data, &dlen);
            c->start += used;
            if (rc == RHP_CHUNK_DATA) {
                size_t n = len < dlen ? len : dlen;
                memcpy(buf, data, n);
                /* the rest stays where it is until the caller takes it:
                 * nothing is read into the window before pend is empty */
                req->pend = data + n;
                req->pend_len = dlen - n;
                return (ssize_t)n;
            }
            if (rc == RHP_CHUNK_DONE) {
                req->body_done = true;
                return 0;
            }
            if (rc < 0)
                return body_fail(req, rc == RHP_ETOOBIG ? 413 : 400,
                                 rc == RHP_ETOOBIG ? -EMSGSIZE : -EPROTO);
            continue; /* RHP_CHUNK_NEED: all used */
        }
        /* The head may live in a lent buffer (kept: its views are live)
         * or in own[0, keep); the body's bytes go to own after it. */
        if (c->win != c->own) {
            c->keep = 0;
            if (own_reserve(c, BODY_ROOM) < 0)
                return -ENOMEM;
            c->win = c->own;
        }
        c->start = c->end = c->keep;
        int64_t dl = ringo__deadline_min(deadline, ringo_deadline_in(s->cfg.read_timeout_ns));
        ssize_t n = read_more(c, dl);
        if (n <= 0)
            return read_failed(req, n);
    }
}

/* Read and drop what the handler left of the body, so the next request on
 * the connection starts where it should. Bounded: a body that breaks the
 * rules (chunked over max_body, bad framing), is larger than
 * RH_DISCARD_MAX or takes longer than RH_DISCARD_NS ends the connection
 * instead (after the answer, which body_read flushes before it waits). */
void rh_discard_body(ringo_http_req *req)
{
    struct rh_conn *c = req->c;
    if (req->r.body == RHP_BODY_LENGTH && req->body_left > RH_DISCARD_MAX) {
        c->closing = true;
        return;
    }
    int64_t end = ringo_deadline_in(RH_DISCARD_NS);
    uint64_t dropped = 0;
    char tmp[2048];
    for (;;) {
        ssize_t n = ringo_http_body_read(req, tmp, sizeof(tmp), end);
        if (n == 0)
            return;
        if (n < 0 || (dropped += (uint64_t)n) > RH_DISCARD_MAX) {
            c->closing = true;
            return;
        }
    }
}

/* ---- one request ---- */

static int route_and_run(ringo_http_req *req, ringo_http_resp *resp)
{
    struct rh_conn *c = req->c;
    char allow[128];
    bool known = false;
    const struct rh_route *rt = rh_route_find(c->s, req->r.path, req->r.path_len, req->r.method,
                                              req->r.method_len, &known, allow, sizeof(allow));
    if (rt)
        return rt->handler(req, resp, rt->arg);
    if (known) {
        ringo_http_status(resp, 405);
        ringo_http_header_add(resp, "Allow", allow);
        return ringo_http_body_static(resp, "405 Method Not Allowed\n", 23);
    }
    ringo_http_status(resp, 404);
    ringo_http_header_add(resp, "Content-Type", "text/plain; charset=utf-8");
    return ringo_http_body_static(resp, "404 Not Found\n", 14);
}

/* Run one request; returns ringo_now() at its end. */
static int64_t handle(struct rh_conn *c, ringo_http_req *req, int head_len)
{
    ringo_http_server *s = c->s;
    req->c = c;
    req->body_left = req->r.body == RHP_BODY_LENGTH ? req->r.content_length : 0;
    req->body_done =
        req->r.body == RHP_BODY_NONE || (req->r.body == RHP_BODY_LENGTH && req->body_left == 0);
    if (req->r.body == RHP_BODY_CHUNKED)
        rhp_chunked_init(&req->chunk);
    c->start += (size_t)head_len;
    if (c->win == c->own)
        c->keep = c->start;
    c->requests++;
    if (!req->r.keep_alive || c->requests >= s->cfg.max_requests_per_conn ||
        atomic_load_explicit(&s->draining, memory_order_relaxed))
        c->closing = true;

    char hdrbuf[512];
    ringo_http_resp resp = {
        .c = c, .req = req, .status = 200, .hdr = hdrbuf, .hdr_cap = sizeof(hdrbuf)};
    int hr = route_and_run(req, &resp);
    if (req->body_err && !resp.head_sent) {
        rh_resp_reset(&resp);
        c->closing = true;
        rh_send_error(c, req->body_err,
                      req->body_err == 413 ? "request body over the size limit"
                                           : "bad chunked framing");
    } else {
        if (hr < 0) {
            c->closing = true;
            if (!resp.head_sent) {
                rh_resp_reset(&resp);
                resp.status = 500;
                ringo_http_body_static(&resp, "500 Internal Server Error\n", 26);
            }
        }
        rh_resp_finish(&resp);
        rh_count_status(c, resp.status);
    }
    rh_resp_free(&resp);
    if (!req->body_done && !c->dead) {
        /* emit_head decided: skip a small remainder, or close (the
         * lingering close drains what the client still sends) */
        if (c->closing || rh_awaits_continue(req))
            c->closing = true;
        else
            rh_discard_body(req);
    }
    c->keep = 0;
    if (c->have_lent && c->win != c->lent.data)
        release_lent(c);
    int64_t now = ringo_now();
    int64_t ns = now - c->t_read, units = ns / 8000; /* buckets of 8 us << b */
    size_t b = 0;
    while (b < RINGO_HTTP_LATENCY_BUCKETS && units >= (1 << b))
        b++;
    rh_stat_add(c->w, RH_STAT(latency) + b, 1);
    rh_stat_add(c->w, RH_STAT(latency_sum_ns), (uint64_t)ns);
    return now;
}

/* Wait for the next request's first bytes and make them the window: a
 * lent receive buffer, or (HTTPS: the bytes are decrypted) own. */
static ssize_t idle_read(struct rh_conn *c, int64_t deadline)
{
    if (!c->tls) {
        ssize_t n = ringo_recv_borrow(c->fd, &c->lent, deadline);
        if (n > 0) {
            c->have_lent = true;
            c->win = c->lent.data;
        }
        return n;
    }
    if (own_reserve(c, OWN_MIN) < 0)
        return -ENOMEM;
    c->win = c->own;
    return tls_read(c, c->own, c->own_cap, deadline);
}

static void serve(struct rh_conn *c)
{
    ringo_http_server *s = c->s;
    unsigned nh = s->cfg.max_headers < MAX_HEADERS ? s->cfg.max_headers : MAX_HEADERS;
    struct rhp_header hdrs[MAX_HEADERS];
    struct rhp_limits lim = s->lim;
    lim.max_headers = nh;
    size_t scanned = 0;
    int64_t head_start = 0;
    for (;;) {
        if (c->start == c->end) {
            release_lent(c); /* before the flush, which may park */
            if (rh_flush(c) < 0)
                return;
            c->win = NULL;
            c->start = c->end = 0;
            if (c->own_cap > OWN_IDLE_KEEP) {
                /* an idle connection does not hold a large head's room */
                free(c->own);
                c->own = NULL;
                c->own_cap = 0;
            }
            if (c->out_heap && c->out_cap > OUT_IDLE_KEEP) {
                /* nor the room of a large pipelined batch's answers (a soak
                 * run's 2,500 pipelining clients held 64-128 KiB each) */
                free(c->out_heap);
                c->out_heap = NULL;
                c->out = c->out_stack;
                c->out_cap = OUT_STACK;
            }
            if (c->closing || atomic_load_explicit(&s->draining, memory_order_relaxed))
                return;
            c->idle = true;
            ssize_t n = idle_read(c, ringo_deadline_in(s->cfg.idle_timeout_ns));
            c->idle = false;
            note_read(c, n, RH_STAT(idle_timeouts));
            if (n <= 0)
                return; /* closed, idle timeout, shutdown: nothing to answer */
            c->end = (size_t)n;
            head_start = c->t_read = ringo_now();
            scanned = 0;
        }
        ringo_http_req req;
        memset(&req, 0, offsetof(ringo_http_req, r));
        int rc = rhp_parse(c->win + c->start, c->end - c->start, scanned, &lim, &req.r, hdrs);
        if (rc == RHP_INCOMPLETE) {
            scanned = c->end - c->start;
            if (window_to_own(c, true) < 0) /* read_more flushes what is queued */
                return;
            int64_t dl = ringo__deadline_min(ringo_deadline_in(s->cfg.read_timeout_ns),
                                             head_start + s->cfg.header_timeout_ns);
            ssize_t n = read_more(c, dl);
            if (n == -ETIMEDOUT) {
                rh_send_error(c, 408, "request head not received in time");
                return;
            }
            if (n <= 0)
                return;
            c->t_read = ringo_now();
            continue;
        }
        if (rc < 0) {
            rh_stat_add(c->w, RH_STAT(parse_errors), 1);
            rh_send_error(c, -rc, req.r.error);
            return;
        }
        if (req.r.body == RHP_BODY_CHUNKED && c->win == c->own &&
            c->own_cap < c->start + (size_t)rc + BODY_ROOM) {
            /* the body is read into own after the head: make room now,
             * while own may still move, and find the head's views again */
            if (own_reserve(c, c->start + (size_t)rc + BODY_ROOM) < 0)
                return;
            rc = rhp_parse(c->win + c->start, c->end - c->start, 0, &lim, &req.r, hdrs);
        }
        /* the next head's deadline starts when it is waited for, not when
         * its first bytes came in with this request */
        head_start = handle(c, &req, rc);
        if (c->dead)
            return;
        scanned = 0;
        if (c->closing) {
            rh_flush(c);
            return;
        }
        if (c->queued >= s->cfg.max_queued_response && (drop_lent(c) < 0 || rh_flush(c) < 0))
            return;
    }
}

/* Close in stages (RFC 9112 9.6, nginx's lingering close): closing with
 * unread bytes in the socket (pipelined requests we will not answer, the
 * rest of a body) makes the kernel send a reset, and the client loses the
 * answers it has not read yet. So every close ends our side first, then
 * reads and drops what still comes until the client closes, for a while. */
static void linger(struct rh_conn *c)
{
    ringo_http_server *s = c->s;
    /* HTTPS: close_notify first, so the client knows the answer is whole */
    if (c->tls && ringo_tls_shutdown(c->tls, ringo_deadline_in(LINGER_READ_NS)) < 0)
        return;
    if (ringo_shutdown(c->fd, SHUT_WR) < 0)
        return;
    int64_t end = ringo_deadline_in(LINGER_NS);
    for (;;) {
        /* read each time: a shutdown may start while we linger; and a
         * lingering connection counts as idle, so its sweep cancels it */
        int64_t quiet = atomic_load_explicit(&s->draining, memory_order_relaxed) ? LINGER_DRAIN_NS
                                                                                 : LINGER_READ_NS;
        ringo_buf b;
        c->idle = true;
        ssize_t n =
            ringo_recv_borrow(c->fd, &b, ringo__deadline_min(end, ringo_deadline_in(quiet)));
        c->idle = false;
        if (n <= 0)
            return;
        rh_stat_add(c->w, RH_STAT(bytes_in), (uint64_t)n);
        ringo_buf_release(&b);
    }
}

/* HTTPS: the handshake, bounded by the context's handshake timeout. A
 * connection that has not finished it counts as idle: a shutdown closes
 * it at once. A failure is counted by the context and closes. */
static int handshake(struct rh_conn *c)
{
    int r = ringo_tls_server(c->s->tls, c->fd, &c->tls);
    if (r == 0) {
        c->idle = true;
        r = ringo_tls_handshake(c->tls, RINGO_FOREVER);
        c->idle = false;
    }
    if (r < 0)
        c->dead = true; /* no close_notify, no linger: the peer is not TLS-ready */
    return r;
}

void rh_conn_main(void *arg)
{
    struct rh_conn c;
    memset(&c, 0, sizeof(c));
    char outbuf[OUT_STACK];
    c.out = c.out_stack = outbuf;
    c.out_cap = sizeof(outbuf);
    rh_conn_register(&c, arg);
    if (!c.s->tls || handshake(&c) == 0)
        serve(&c);
    release_lent(&c);
    if (!c.dead && !c.peer_eof)
        linger(&c);
    free(c.own);
    free(c.out_heap);
    ringo_tls_free(c.tls);
    ringo_close(c.fd);
    rh_conn_unregister(&c);
}
