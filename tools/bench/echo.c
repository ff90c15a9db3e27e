/* echo.c - `ringo-bench echo`: TCP echo load with verified, pipelined
 * messages.
 *
 * Shape of a run (all of it inside ringo, main coroutine on worker 0):
 *   1. connect: one coroutine per connection, spread round-robin over the
 *      workers with ringo_go_on, connects and waits for one echo (the
 *      probe); the main coroutine paces the spawns so at most
 *      --connect-concurrency of them are in flight.
 *   2. load: once every connect has finished, one load coroutine per open
 *      connection, on the worker that opened it, runs until the drain is
 *      over. All connections start together, on an unloaded machine.
 *      Warmup (--warmup s) first, then the measured window: -d seconds, or
 *      until -n messages sent inside the window have been echoed.
 *      "MEASURE START" and "MEASURE END" on stdout bracket the window for
 *      an external harness.
 *   3. drain: connections stop sending and read back what is in flight
 *      (bounded by DRAIN_GRACE_NS), then close; ringo_stop() ends the
 *      runtime and the result is printed from the plain thread.
 *
 * A message counts if it was sent inside the window and its echo completed
 * inside it; its latency runs from just before the write that carried it
 * to the read that brought its last byte back.
 *
 * Hot path: per message a pattern fill, a pattern check and a histogram
 * add, into buffers allocated once per connection; no locks, and atomics
 * only as plain loads/stores (one writer per counter). Shared state that
 * changes during the window (the window's bounds, the -n budget) is read
 * with relaxed loads and written rarely.
 */
#include "bench.h"
#include "hist.h"
#include "pattern.h"
#include "progress.h"

#define MODE_PROG "ringo-bench echo"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

/* Per read/write/connect: a dead or stuck server ends that connection with
 * an error instead of hanging the run. */
#define IO_TIMEOUT_NS      (10 * NS_PER_S)
#define CONNECT_TIMEOUT_NS (10 * NS_PER_S)
/* How long a write may stall while echoes are owed before we go and read
 * them (see conn_run). Long enough not to churn on a merely busy server. */
#define WRITE_SLICE_NS (2 * NS_PER_MS)
/* Bytes written but not yet echoed back, at most: a write then rarely
 * stalls at all (the echoes fit in the socket buffers on the way back),
 * and the slice above is only the safety net. */
#define WRITE_AHEAD_MAX (512 * 1024)
/* Refused/reset connects are retried: a listener whose accept queue is
 * momentarily full (or a server still starting) refuses or resets. */
#define CONNECT_ATTEMPTS   5
#define CONNECT_BACKOFF_NS (50 * NS_PER_MS)
/* Default connects in flight at once (each until its first echo is back).
 * Listen backlogs are often small (128 on older kernels, 5 in Python's
 * socketserver); a SYN dropped on a full queue costs a 1 s retransmit, so
 * a burst of 10k connects must be metered. */
#define DEFAULT_CONNECTING 64
/* After the window, how long in-flight echoes may take to come back
 * before the unanswered ones are reported as errors: as long as during the
 * window, so a slow server is not judged more harshly at the end (and a
 * server that died near the end is not let off). */
#define DRAIN_GRACE_NS IO_TIMEOUT_NS
/* Errors printed in full; later ones are only counted. */
#define ERRORS_SHOWN 10
/* -n mode: messages a worker claims from the shared budget at once, so the
 * shared counter is touched once per batch, not once per message. */
#define TICKET_BATCH 16
#define RECV_BUF_MAX (256 * 1024)
/* How often the main coroutine looks at the run while waiting (the -n end
 * and "every connection failed" are discovered this way). */
#define MAIN_POLL_NS (5 * NS_PER_MS)

#define MAX_CONNS       1000000
#define MAX_PIPELINE    4096
#define MAX_MESSAGE     (64ull << 20)
#define MAX_CONN_BUFFER (1ull << 30)

typedef struct echo_opts {
    const char *addr_text;
    ringo_addr addr;
    uint64_t conns;
    size_t size_min;
    size_t size_max;
    double duration_s; /* window length when messages == 0 */
    uint64_t messages; /* -n; 0 = the window is timed */
    unsigned pipeline;
    double warmup_s;
    unsigned connect_concurrency;
    bench_common common;
} echo_opts;

/* Counters and histogram of one worker. Written only by coroutines of that
 * worker (they never run in parallel and never migrate), read by the main
 * coroutine for the progress line. */
typedef struct worker_state {
    hist latency;                    /* measured messages */
    _Atomic uint64_t measured_bytes; /* payload of measured messages */
    _Atomic uint64_t completed_msgs; /* every echo, warmup included */
    /* -n budget, this worker's share; plain fields, worker-private. */
    uint64_t ticket_pool;         /* claimed, not yet given to a message */
    uint64_t tickets_outstanding; /* claimed and not finished (pool too) */
    uint64_t tickets_unflushed;   /* finished, not yet added to the total */
    unsigned conns_live;          /* connection coroutines of this worker */
} __attribute__((aligned(64))) worker_state;

typedef struct inflight_msg {
    int64_t sent_ns;
    size_t size;
    uint8_t counted;  /* sent inside the window */
    uint8_t ticketed; /* holds one unit of the -n budget */
} inflight_msg;

typedef struct echo_conn {
    uint32_t id;
    int fd;
    worker_state *ws;
    uint64_t next_seq; /* sequence number of the next message to send */
    uint64_t recv_seq; /* message whose echo is being read */
    uint64_t recv_key; /* its pattern key and size, valid when recv_off > 0 */
    size_t recv_size;
    size_t recv_off;      /* bytes of it read so far */
    unsigned inflight;    /* next_seq - recv_seq */
    size_t pending_bytes; /* of messages in flight, not yet echoed back */
    size_t unsent;        /* of those, still in send_buf, from send_off */
    size_t send_off;
    uint64_t stamp_seq; /* first message of the batch not yet given a send time */
    size_t stamp_off;   /* its offset in send_buf */
    inflight_msg *ring; /* indexed by seq % pipeline */
    uint8_t *send_buf;  /* size_max * pipeline: one write per batch */
    size_t send_cap;
    uint8_t *recv_buf;
    size_t recv_cap;
} echo_conn;

/* State of the one run of this process, shared by all workers. */
static struct {
    const echo_opts *opt;
    worker_state *workers;
    int nworkers;
    echo_conn *conns;
    /* Window bounds on ringo_now()'s clock; INT64_MAX while unknown. The
     * end only ever moves earlier (store_min). */
    _Atomic int64_t measure_start_ns;
    _Atomic int64_t measure_end_ns;
    _Atomic int64_t drain_deadline_ns;
    _Atomic int done;        /* stop sending new messages */
    _Atomic int forced_stop; /* main gave up on the drain and stopped ringo */
    _Atomic uint64_t errors;
    _Atomic uint64_t connects_finished; /* connect attempts ended, up or failed */
    _Atomic uint64_t conns_up;          /* connections open now */
    _Atomic uint64_t conns_live;        /* connection coroutines alive */
    _Atomic int64_t tickets_left;       /* -n budget not yet claimed */
    _Atomic uint64_t tickets_finished;  /* -n budget echoed back */
} run;

/* What the main coroutine hands back to the plain thread. */
typedef struct echo_result {
    int setup_failed;
    int started;     /* the window began */
    int interrupted; /* SIGINT/SIGTERM */
    int64_t window_ns;
    char backend[16];
    int workers;
    int have_stats;
    int stats_whole_run; /* the window never began: counters since start-up */
    ringo_counters stats_start, stats_end;
} echo_result;

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

static void conn_error(const echo_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void conn_error(const echo_conn *c, const char *fmt, ...)
{
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
    progress_log("%s: conn %u: %s\n", bench_prog, c->id, msg);
}

/* A cancellation is the user's ^C (quiet) unless main has run out of
 * patience with the drain, in which case the server owes us echoes. */
static int quiet_cancel(long rc)
{
    return (rc == -ECANCELED || rc == RINGO_ESTOPPED) && !LOAD(&run.forced_stop);
}

static void report_io_error(const echo_conn *c, const char *op, long rc, int64_t deadline)
{
    if (quiet_cancel(rc))
        return;
    const char *s = c->inflight == 1 ? "" : "s";
    if (rc == -ECANCELED || rc == RINGO_ESTOPPED ||
        (rc == -ETIMEDOUT && deadline == LOAD(&run.drain_deadline_ns))) {
        /* forced stop: the drain grace ran out while this one was parked */
        conn_error(c, "%u message%s (%zu bytes) still unanswered %.0f s after the window ended",
                   c->inflight, s, c->pending_bytes, (double)DRAIN_GRACE_NS / NS_PER_S);
    } else if (rc == -ETIMEDOUT) {
        conn_error(c, "%s timed out after %.0f s with %u message%s (%zu bytes) unanswered", op,
                   (double)IO_TIMEOUT_NS / NS_PER_S, c->inflight, s, c->pending_bytes);
    } else if (rc == 0) {
        conn_error(c,
                   "server closed the connection with %u message%s (%zu bytes) unanswered, "
                   "after echoing %llu",
                   c->inflight, s, c->pending_bytes, (unsigned long long)c->recv_seq);
    } else {
        conn_error(c, "%s: %s (%s) with %u message%s (%zu bytes) unanswered", op,
                   ringo_strerror((int)rc), ringo_err_name((int)rc), c->inflight, s,
                   c->pending_bytes);
    }
}

static void report_mismatch(const echo_conn *c, uint64_t seq, uint64_t key, size_t size, size_t at,
                            uint8_t got)
{
    conn_error(c,
               "echo mismatch in message %llu (%zu bytes) at byte %zu: expected 0x%02x, got "
               "0x%02x (server reordered, dropped or corrupted data)",
               (unsigned long long)seq, size, at, pattern_byte(key, at), got);
}

/* ---- the -n budget ----------------------------------------------------- */

/* Exactly opt->messages sends inside the window get a ticket; the window
 * ends when the last ticket's echo is back. Workers claim tickets in
 * batches and report finished ones in batches; a worker flushes whenever
 * it holds no tickets at all, so the final finish is never held back. */

static int take_ticket(worker_state *ws)
{
    if (ws->ticket_pool == 0) {
        int64_t left = LOAD(&run.tickets_left);
        while (left > 0) {
            int64_t take = left < TICKET_BATCH ? left : TICKET_BATCH;
            if (atomic_compare_exchange_weak_explicit(&run.tickets_left, &left, left - take,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                ws->ticket_pool += (uint64_t)take;
                ws->tickets_outstanding += (uint64_t)take;
                break;
            }
        }
        if (ws->ticket_pool == 0)
            return 0;
    }
    ws->ticket_pool--;
    return 1;
}

static void flush_tickets(worker_state *ws, int64_t now)
{
    uint64_t n = ws->tickets_unflushed;
    if (n == 0)
        return;
    ws->tickets_unflushed = 0;
    uint64_t total = atomic_fetch_add(&run.tickets_finished, n) + n;
    if (total >= run.opt->messages) {
        store_min(&run.measure_end_ns, now);
        atomic_store(&run.done, 1);
    }
}

static void finish_ticket(worker_state *ws, int64_t now)
{
    ws->tickets_outstanding--;
    ws->tickets_unflushed++;
    if (ws->tickets_unflushed >= TICKET_BATCH || ws->tickets_outstanding == 0)
        flush_tickets(ws, now);
}

/* A connection died with ticketed messages unanswered: their tickets go
 * back to its worker for another connection to use. */
static void return_unanswered_tickets(echo_conn *c)
{
    unsigned depth = run.opt->pipeline;
    for (uint64_t seq = c->recv_seq; seq < c->next_seq; seq++) {
        inflight_msg *m = &c->ring[seq % depth];
        if (m->ticketed) {
            m->ticketed = 0;
            c->ws->ticket_pool++;
        }
    }
}

/* The worker's last connection is gone: give its unused tickets back to
 * the other workers. */
static void release_worker_tickets(worker_state *ws, int64_t now)
{
    if (ws->ticket_pool) {
        atomic_fetch_add(&run.tickets_left, (int64_t)ws->ticket_pool);
        ws->tickets_outstanding -= ws->ticket_pool;
        ws->ticket_pool = 0;
    }
    if (ws->tickets_outstanding == 0)
        flush_tickets(ws, now);
}

/* ---- one connection ---------------------------------------------------- */

static int connect_retryable(int rc)
{
    return rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ECONNABORTED || rc == -EAGAIN ||
           rc == -EADDRNOTAVAIL;
}

static int connect_with_retry(echo_conn *c, int *attempts)
{
    int64_t backoff = CONNECT_BACKOFF_NS;
    for (int attempt = 1;; attempt++) {
        *attempts = attempt;
        int fd = ringo_tcp_connect(&run.opt->addr, ringo_deadline_in(CONNECT_TIMEOUT_NS));
        if (fd >= 0 || attempt >= CONNECT_ATTEMPTS || !connect_retryable(fd))
            return fd;
        /* Jitter, so a burst refused together does not come back together. */
        int64_t jitter =
            (int64_t)(pattern_mix(((uint64_t)c->id << 8) + (uint64_t)attempt) % (uint64_t)backoff);
        if (ringo_sleep(backoff + jitter) < 0)
            return -ECANCELED;
        backoff *= 2;
    }
}

static int conn_alloc(echo_conn *c)
{
    const echo_opts *o = run.opt;
    c->send_cap = o->size_max * o->pipeline;
    c->recv_cap = c->send_cap < RECV_BUF_MAX ? c->send_cap : RECV_BUF_MAX;
    c->send_buf = malloc(c->send_cap);
    c->recv_buf = malloc(c->recv_cap);
    c->ring = calloc(o->pipeline, sizeof *c->ring);
    return c->send_buf && c->recv_buf && c->ring ? 0 : -ENOMEM;
}

static void conn_free(echo_conn *c)
{
    free(c->send_buf);
    free(c->recv_buf);
    free(c->ring);
    c->send_buf = c->recv_buf = NULL;
    c->ring = NULL;
}

/* Fill the pipeline: generate as many messages as there is room for into
 * the send buffer, to go out with one write. Sends nothing once the window
 * is over. */
static void prepare_batch(echo_conn *c)
{
    const echo_opts *o = run.opt;
    unsigned room = o->pipeline - c->inflight;
    if (room == 0)
        return;
    int64_t now = ringo_now();
    if (LOAD(&run.done) || now >= LOAD(&run.measure_end_ns))
        return;
    int in_window = now >= LOAD(&run.measure_start_ns);
    size_t len = 0;
    for (unsigned k = 0; k < room; k++) {
        uint64_t seq = c->next_seq + k;
        uint64_t key = pattern_key(c->id, seq);
        size_t size = pattern_size(key, o->size_min, o->size_max);
        pattern_fill(key, c->send_buf + len, size);
        len += size;
        inflight_msg *m = &c->ring[seq % o->pipeline];
        m->size = size;
        m->ticketed = in_window && o->messages && take_ticket(c->ws);
        m->counted = in_window && (!o->messages || m->ticketed);
    }
    c->stamp_seq = c->next_seq;
    c->stamp_off = 0;
    c->next_seq += room;
    c->inflight += room;
    c->pending_bytes += len;
    c->send_off = 0;
    c->unsent = len;
}

static void complete_message(echo_conn *c, int64_t now, int64_t window_end)
{
    const echo_opts *o = run.opt;
    worker_state *ws = c->ws;
    inflight_msg *m = &c->ring[c->recv_seq % o->pipeline];
    add_relaxed(&ws->completed_msgs, 1);
    if (m->counted && (o->messages || now <= window_end)) {
        hist_record(&ws->latency, (uint64_t)(now - m->sent_ns));
        add_relaxed(&ws->measured_bytes, c->recv_size);
    }
    if (m->ticketed) {
        m->ticketed = 0;
        finish_ticket(ws, now);
    }
    c->recv_seq++;
    c->recv_off = 0;
    c->inflight--;
}

/* Verify n echoed bytes against the messages in flight, completing those
 * whose last byte arrived. Returns 0, or -1 on a mismatch (reported). */
static int consume(echo_conn *c, const uint8_t *p, size_t n, int64_t now)
{
    const echo_opts *o = run.opt;
    int64_t window_end = LOAD(&run.measure_end_ns);
    while (n > 0) {
        if (c->recv_off == 0) {
            c->recv_key = pattern_key(c->id, c->recv_seq);
            c->recv_size = pattern_size(c->recv_key, o->size_min, o->size_max);
        }
        size_t take = c->recv_size - c->recv_off;
        if (take > n)
            take = n;
        size_t ok = pattern_check(c->recv_key, c->recv_off, p, take);
        if (ok < take) {
            report_mismatch(c, c->recv_seq, c->recv_key, c->recv_size, c->recv_off + ok, p[ok]);
            return -1;
        }
        c->recv_off += take;
        c->pending_bytes -= take;
        p += take;
        n -= take;
        if (c->recv_off == c->recv_size)
            complete_message(c, now, window_end);
    }
    return 0;
}

/* A message is sent when the write that carries its first byte starts
 * (after generating it, so latency does not include our own fill). */
static void stamp_messages(echo_conn *c, size_t chunk, int64_t now)
{
    size_t end = c->send_off + chunk;
    while (c->stamp_seq < c->next_seq && c->stamp_off < end) {
        inflight_msg *m = &c->ring[c->stamp_seq % run.opt->pipeline];
        m->sent_ns = now;
        c->stamp_off += m->size;
        c->stamp_seq++;
    }
}

/* One coroutine both writes and reads, so a write must never wait for
 * long while the server owes us echoes: a server that echoes with
 * back-pressure stops reading while its writes to us are blocked, and they
 * stay blocked until we read. With more bytes in flight than the socket
 * buffers hold (large messages, deep pipelines), waiting in the write
 * would deadlock. So at most WRITE_AHEAD_MAX bytes are owed at a time,
 * and a write gets WRITE_SLICE_NS; if it stalls, what went out is kept,
 * the echoes owed so far are read, and the write resumes. A write that
 * moves nothing for IO_TIMEOUT_NS is an error. */
static void conn_run(echo_conn *c)
{
    int64_t write_stalled_since = 0; /* 0: the last write made progress */
    for (;;) {
        if (c->unsent == 0)
            prepare_batch(c);
        size_t owed = c->pending_bytes - c->unsent; /* written, echo not yet read */
        if (c->unsent > 0 && owed < WRITE_AHEAD_MAX) {
            size_t chunk = WRITE_AHEAD_MAX - owed;
            if (chunk > c->unsent)
                chunk = c->unsent;
            int64_t now = ringo_now();
            stamp_messages(c, chunk, now);
            size_t written = 0;
            ssize_t rc = ringo_write_all(c->fd, c->send_buf + c->send_off, chunk, &written,
                                         now + WRITE_SLICE_NS);
            if (rc >= 0 || written > chunk)
                written = chunk;
            c->send_off += written;
            c->unsent -= written;
            owed += written;
            if (rc < 0 && rc != -ETIMEDOUT) {
                report_io_error(c, "write", (long)rc, 0);
                return;
            }
            if (written > 0) {
                write_stalled_since = 0;
            } else if (write_stalled_since == 0) {
                write_stalled_since = ringo_now();
            } else if (ringo_now() - write_stalled_since >= IO_TIMEOUT_NS) {
                report_io_error(c, "write", -ETIMEDOUT, 0);
                return;
            }
        }
        if (owed == 0) {
            if (c->unsent == 0)
                return; /* the window is over and every echo is back */
            continue;   /* the server is not reading yet and owes nothing */
        }
        int64_t deadline = ringo_deadline_in(IO_TIMEOUT_NS);
        int64_t drain_deadline = LOAD(&run.drain_deadline_ns);
        if (drain_deadline < deadline)
            deadline = drain_deadline;
        /* Never ask for more than is owed: anything beyond it would be the
         * server's invention and is caught by the next message's check. */
        size_t want = owed < c->recv_cap ? owed : c->recv_cap;
        ssize_t n = ringo_read(c->fd, c->recv_buf, want, deadline);
        if (n <= 0) {
            report_io_error(c, "read", (long)n, deadline);
            return;
        }
        if (consume(c, c->recv_buf, (size_t)n, ringo_now()) < 0)
            return;
    }
}

/* One echo round trip before a connection counts as up. connect()
 * returning is not yet an accepted connection: when the server's accept
 * queue is full, Linux drops the client's final handshake ACK, and the
 * connection sits in SYN-RECV until a SYN-ACK retransmit (1 s, 3 s, ...)
 * while the client believes it is established. Loading it then would put
 * those seconds into the latencies. Message 0 of the connection is the
 * probe. Returns 0, or -1 after reporting the error. */
static int probe_echo(echo_conn *c)
{
    const echo_opts *o = run.opt;
    uint64_t key = pattern_key(c->id, 0);
    size_t size = pattern_size(key, o->size_min, o->size_max);
    pattern_fill(key, c->send_buf, size);
    int64_t deadline = ringo_deadline_in(IO_TIMEOUT_NS);
    c->inflight = 1; /* for the error messages */
    c->pending_bytes = size;
    ssize_t rc = ringo_write_all(c->fd, c->send_buf, size, NULL, deadline);
    if (rc < 0) {
        report_io_error(c, "first write", (long)rc, deadline);
        return -1;
    }
    for (size_t got = 0; got < size;) {
        size_t want = size - got < c->recv_cap ? size - got : c->recv_cap;
        ssize_t n = ringo_read(c->fd, c->recv_buf, want, deadline);
        if (n <= 0) {
            report_io_error(c, "first echo: read", (long)n, deadline);
            return -1;
        }
        size_t ok = pattern_check(key, got, c->recv_buf, (size_t)n);
        if (ok < (size_t)n) {
            report_mismatch(c, 0, key, size, got + ok, c->recv_buf[ok]);
            return -1;
        }
        got += (size_t)n;
        c->pending_bytes -= (size_t)n;
    }
    c->inflight = 0;
    c->next_seq = c->recv_seq = 1;
    return 0;
}

static int worker_of(const echo_conn *c)
{
    return (int)(c->id % (uint32_t)run.nworkers);
}

/* Phase 1 of a connection: connect (with retries), allocate its buffers,
 * leave the fd in c and exit. The load coroutine that follows runs on the
 * same worker, so the fd stays with the worker that made it, and no
 * connection loads the server before all are up (a loaded machine would
 * slow the remaining connects down and skew their order). */
static void conn_connect_main(void *arg)
{
    echo_conn *c = arg;
    int attempts = 0;
    int fd = connect_with_retry(c, &attempts);
    if (fd >= 0) {
        c->fd = fd;
        int ok = conn_alloc(c) == 0;
        if (!ok)
            conn_error(c, "out of memory for %zu bytes of buffers", c->send_cap + c->recv_cap);
        else
            ok = probe_echo(c) == 0;
        if (ok) {
            atomic_fetch_add(&run.conns_up, 1);
        } else {
            conn_free(c);
            ringo_close(fd);
            c->fd = -1;
        }
    } else if (!quiet_cancel(fd)) {
        conn_error(c, "connect to %s: %s (%s) after %d attempt%s", run.opt->addr_text,
                   ringo_strerror(fd), ringo_err_name(fd), attempts, attempts == 1 ? "" : "s");
    }
    /* seq_cst, after the store of c->fd: main reads the fd once it has
     * seen every connect finish. */
    atomic_fetch_add(&run.connects_finished, 1);
}

/* Phase 2: load the connection until the window is over and the drain
 * done, then close it. */
static void conn_load_main(void *arg)
{
    echo_conn *c = arg;
    worker_state *ws = &run.workers[ringo_worker_id()];
    c->ws = ws;
    ws->conns_live++;
    conn_run(c);
    return_unanswered_tickets(c);
    ringo_close(c->fd);
    c->fd = -1;
    atomic_fetch_sub(&run.conns_up, 1);
    conn_free(c);
    if (--ws->conns_live == 0)
        release_worker_tickets(ws, ringo_now());
    atomic_fetch_sub(&run.conns_live, 1);
}

/* ---- the main coroutine ------------------------------------------------ */

typedef struct ticker {
    int64_t begin_ns;
    int64_t next_ns;
    int64_t last_ns;
    uint64_t last_completed;
    hist *scratch; /* merged worker histograms; reused every second */
} ticker;

static void tick(ticker *t, int64_t now, const char *phase)
{
    uint64_t completed = 0;
    int64_t p99 = -1;
    if (t->scratch)
        hist_reset(t->scratch);
    for (int i = 0; i < run.nworkers; i++) {
        completed += LOAD(&run.workers[i].completed_msgs);
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
        .rate_unit = "msgs/s",
        .p99_ns = p99,
        .errors = LOAD(&run.errors),
        .conns_up = LOAD(&run.conns_up),
        .conns_total = run.opt->conns,
    };
    progress_update(&s);
    t->last_ns = now;
    t->last_completed = completed;
    t->next_ns += NS_PER_S;
    if (t->next_ns <= now) /* we fell behind (a long stall): do not burst */
        t->next_ns = now + NS_PER_S;
}

static void spawn_connect(uint64_t i)
{
    echo_conn *c = &run.conns[i];
    c->id = (uint32_t)i;
    c->fd = -1;
    int rc = ringo_go_on(worker_of(c), conn_connect_main, c, NULL);
    if (rc < 0) {
        if (!quiet_cancel(rc))
            conn_error(c, "cannot start its coroutine: %s", ringo_strerror(rc));
        atomic_fetch_add(&run.connects_finished, 1);
    }
}

static void spawn_load(echo_conn *c)
{
    atomic_fetch_add(&run.conns_live, 1);
    int rc = ringo_go_on(worker_of(c), conn_load_main, c, NULL);
    if (rc < 0) {
        if (!quiet_cancel(rc))
            conn_error(c, "cannot start its coroutine: %s", ringo_strerror(rc));
        atomic_fetch_sub(&run.conns_live, 1);
        atomic_fetch_sub(&run.conns_up, 1);
        conn_free(c);
        ringo_close(c->fd);
        c->fd = -1;
    }
}

static void print_marker(const char *line)
{
    progress_clear();
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void echo_coro_main(void *arg)
{
    echo_result *res = arg;
    const echo_opts *o = run.opt;
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
    for (int i = 0; i < run.nworkers; i++)
        hist_reset(&run.workers[i].latency);

    int64_t begin = ringo_now();
    ticker tk = {.begin_ns = begin, .next_ns = begin + NS_PER_S, .last_ns = begin};
    if (progress_enabled())
        tk.scratch = malloc(sizeof *tk.scratch);
    int cancelled = 0;

    /* Connect phase: keep connect_concurrency connects in flight until every
     * connection is up or has failed. */
    uint64_t spawned = 0;
    /* seq_cst loads: once every connect has finished, its c->fd is visible */
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
    if (!cancelled && LOAD(&run.conns_up) == 0) {
        ended_early = "no connection could be established (see the errors above)";
    } else if (!cancelled) {
        start = ringo_now() + (int64_t)(o->warmup_s * NS_PER_S);
        if (!o->messages)
            atomic_store(&run.measure_end_ns, start + (int64_t)(o->duration_s * NS_PER_S));
        atomic_store(&run.measure_start_ns, start);
        for (uint64_t i = 0; i < o->conns; i++)
            if (run.conns[i].fd >= 0)
                spawn_load(&run.conns[i]);
    }
    while (!cancelled && !ended_early) {
        /* Loaded in this order so that a window closed by the -n finish,
         * whose connections may all be gone already, is seen as closed:
         * the seq_cst load orders after their exits, which come after the
         * finisher's store of the end, which reads the clock before ours. */
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

    /* Close the window: it ends at its planned end, at the -n finish, or
     * now if cut short - whichever came first. */
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

    /* Drain: connections read back what is in flight, then exit. */
    if (!cancelled) {
        int64_t drain_deadline = now + DRAIN_GRACE_NS;
        atomic_store(&run.drain_deadline_ns, drain_deadline);
        /* A connection blocked in a write does not see the drain deadline;
         * past this, ringo_stop() cancels it and it reports an error. */
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
        /* No window to frame the counters: show the whole run instead. */
        memset(&res->stats_start, 0, sizeof res->stats_start);
        res->have_stats = ringo_stats(&res->stats_end) == 0;
        res->stats_whole_run = 1;
    }
    free(tk.scratch);
    ringo_stop();
}

/* ---- results ----------------------------------------------------------- */

static void print_verbose_stats(const echo_result *res, uint64_t msgs)
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
    if (msgs) {
        double m = (double)msgs;
        fprintf(stderr,
                "per measured message: %.3f syscalls, %.3f SQEs, %.3f CQEs, %.3f switches, "
                "%.3f parks\n",
                (double)d.syscalls / m, (double)d.sqes / m, (double)d.cqes / m,
                (double)d.switches / m, (double)d.parks / m);
    }
}

static void report(const echo_opts *o, const echo_result *res, const hist *lat, uint64_t bytes,
                   uint64_t errors)
{
    uint64_t msgs = hist_total(lat);
    double secs = res->started ? (double)res->window_ns / NS_PER_S : 0;
    double rate = secs > 0 ? (double)msgs / secs : 0;
    double mbps = secs > 0 ? (double)bytes / 1e6 / secs : 0;
    double p50 = (double)hist_percentile(lat, 50) / 1e3;
    double p90 = (double)hist_percentile(lat, 90) / 1e3;
    double p99 = (double)hist_percentile(lat, 99) / 1e3;
    double p999 = (double)hist_percentile(lat, 99.9) / 1e3;
    double max = (double)hist_max(lat) / 1e3;
    if (o->common.json) {
        printf("{\"msgs\":%llu,\"duration_s\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,"
               "\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f,"
               "\"max_us\":%.3f,\"errors\":%llu,\"conns\":%llu,\"size\":%zu,\"pipeline\":%u}\n",
               (unsigned long long)msgs, secs, rate, mbps, p50, p90, p99, p999, max,
               (unsigned long long)errors, (unsigned long long)o->conns, o->size_min, o->pipeline);
    } else {
        char size[64];
        if (o->size_max > o->size_min)
            snprintf(size, sizeof size, "%zu..%zu B (uniform)", o->size_min, o->size_max);
        else
            snprintf(size, sizeof size, "%zu B", o->size_min);
        printf("echo %s: %llu conns, %s messages, pipeline %u, %d workers (%s)%s\n", o->addr_text,
               (unsigned long long)o->conns, size, o->pipeline, res->workers, res->backend,
               res->interrupted ? ", interrupted" : "");
        printf("  window      %.3f s (warmup %.3g s)\n", secs, o->warmup_s);
        printf("  messages    %llu  (%.0f msgs/s)\n", (unsigned long long)msgs, rate);
        printf("  payload     %.2f MB/s  (echoed bytes, counted once)\n", mbps);
        printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", p50,
               p90, p99, p999, max, hist_mean(lat) / 1e3);
        printf("  errors      %llu\n", (unsigned long long)errors);
    }
    fflush(stdout);
    if (o->common.verbose && res->have_stats)
        print_verbose_stats(res, msgs);
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s echo --addr HOST:PORT [options]\n"
            "\n"
            "Opens CONNS connections to an echo server; each sends messages of a\n"
            "deterministic pattern and verifies every echoed byte, with up to DEPTH\n"
            "messages in flight. Prints messages/s, MB/s and latency percentiles.\n"
            "'MEASURE START' / 'MEASURE END' lines on stdout bracket the measured window.\n"
            "\n"
            "  -a, --addr HOST:PORT   echo server to load (required)\n"
            "  -c, --conns N          connections (default 10)\n"
            "  -s, --size BYTES       message size (default 1024; suffixes k, m)\n"
            "      --size-max BYTES   random sizes, uniform in [size, size-max] per message\n"
            "  -d, --duration SECS    length of the measured window (default 5)\n"
            "  -n, --messages N       instead: end after N measured messages in total\n"
            "  -p, --pipeline DEPTH   messages in flight per connection (default 1; at most\n"
            "                         %d KiB of unanswered bytes per connection at a time)\n"
            "      --warmup SECS      unmeasured time before the window (default 0)\n"
            "      --connect-concurrency N  connects in flight at once (default %d; lower it\n"
            "                         for servers with a tiny listen backlog)\n"
            "%s"
            "\n"
            "Exit status: 0 no errors, 1 errors (or nothing measured), 2 usage.\n",
            bench_prog, WRITE_AHEAD_MAX / 1024, DEFAULT_CONNECTING, bench_common_usage);
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

enum { OPT_SIZE_MAX = BENCH_OPT_MODE_FIRST, OPT_WARMUP, OPT_CONNECT_CONCURRENCY };

static const struct option long_options[] = {
    {"addr", required_argument, NULL, 'a'},
    {"conns", required_argument, NULL, 'c'},
    {"connections", required_argument, NULL, 'c'},
    {"size", required_argument, NULL, 's'},
    {"size-max", required_argument, NULL, OPT_SIZE_MAX},
    {"duration", required_argument, NULL, 'd'},
    {"messages", required_argument, NULL, 'n'},
    {"pipeline", required_argument, NULL, 'p'},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"connect-concurrency", required_argument, NULL, OPT_CONNECT_CONCURRENCY},
    {"workers", required_argument, NULL, BENCH_OPT_WORKERS},
    {"backend", required_argument, NULL, BENCH_OPT_BACKEND},
    {"json", no_argument, NULL, BENCH_OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, else the exit status. */
static int parse_args(echo_opts *o, int argc, char **argv)
{
    uint64_t v;
    int have_duration = 0, have_size_max = 0;
    *o = (echo_opts){.conns = 10,
                     .size_min = 1024,
                     .duration_s = 5,
                     .pipeline = 1,
                     .connect_concurrency = DEFAULT_CONNECTING};
    optind = 1;
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, ":a:c:s:d:n:p:qvh", long_options, NULL);
        if (opt == -1)
            break;
        int common = bench_common_option(MODE_PROG, &o->common, opt, optarg);
        if (common < 0)
            return value_error();
        if (common > 0)
            continue;
        switch (opt) {
        case 'a':
            o->addr_text = optarg;
            break;
        case 'c':
            if (flag_count(MODE_PROG, "--conns", optarg, 1, MAX_CONNS, &v) < 0)
                return value_error();
            o->conns = v;
            break;
        case 's':
            if (flag_bytes(MODE_PROG, "--size", optarg, 1, MAX_MESSAGE, &v) < 0)
                return value_error();
            o->size_min = (size_t)v;
            break;
        case OPT_SIZE_MAX:
            if (flag_bytes(MODE_PROG, "--size-max", optarg, 1, MAX_MESSAGE, &v) < 0)
                return value_error();
            o->size_max = (size_t)v;
            have_size_max = 1;
            break;
        case 'd':
            if (flag_seconds(MODE_PROG, "--duration", optarg, 0.001, 1e7, &o->duration_s) < 0)
                return value_error();
            have_duration = 1;
            break;
        case 'n':
            if (flag_count(MODE_PROG, "--messages", optarg, 1, INT64_MAX / 2, &o->messages) < 0)
                return value_error();
            break;
        case 'p':
            if (flag_count(MODE_PROG, "--pipeline", optarg, 1, MAX_PIPELINE, &v) < 0)
                return value_error();
            o->pipeline = (unsigned)v;
            break;
        case OPT_WARMUP:
            if (flag_seconds(MODE_PROG, "--warmup", optarg, 0, 1e7, &o->warmup_s) < 0)
                return value_error();
            break;
        case OPT_CONNECT_CONCURRENCY:
            if (flag_count(MODE_PROG, "--connect-concurrency", optarg, 1, 100000, &v) < 0)
                return value_error();
            o->connect_concurrency = (unsigned)v;
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
    if (!o->addr_text)
        return usage_error("--addr HOST:PORT is required");
    if (have_duration && o->messages)
        return usage_error("-d and -n are exclusive: the window is timed or counted");
    if (!have_size_max)
        o->size_max = o->size_min;
    if (o->size_max < o->size_min)
        return usage_error("--size-max (%zu) is below --size (%zu)", o->size_max, o->size_min);
    if ((uint64_t)o->size_max * o->pipeline > MAX_CONN_BUFFER)
        return usage_error("size-max x pipeline = %llu bytes per connection; the limit is %llu",
                           (unsigned long long)o->size_max * o->pipeline,
                           (unsigned long long)MAX_CONN_BUFFER);
    return -1;
}

int echo_main(int argc, char **argv)
{
    echo_opts opts;
    int status = parse_args(&opts, argc, argv);
    if (status >= 0)
        return status;
    if (bench_resolve(opts.addr_text, &opts.addr) < 0)
        return BENCH_EXIT_USAGE;
    progress_init(opts.common.quiet);

    run.opt = &opts;
    atomic_store(&run.measure_start_ns, INT64_MAX);
    atomic_store(&run.measure_end_ns, INT64_MAX);
    atomic_store(&run.drain_deadline_ns, INT64_MAX);
    atomic_store(&run.tickets_left, (int64_t)opts.messages);

    echo_result res = {0};
    int rc = bench_run(&opts.common, echo_coro_main, &res);
    progress_clear();
    if (rc < 0 || res.setup_failed) {
        free(run.workers);
        free(run.conns);
        return BENCH_EXIT_ERRORS;
    }

    /* Every coroutine has exited: the per-worker state is final. */
    hist *latency = malloc(sizeof *latency);
    if (!latency) {
        fprintf(stderr, "%s: out of memory\n", bench_prog);
        return BENCH_EXIT_ERRORS;
    }
    hist_reset(latency);
    uint64_t bytes = 0;
    for (int i = 0; i < run.nworkers; i++) {
        hist_merge(latency, &run.workers[i].latency);
        bytes += LOAD(&run.workers[i].measured_bytes);
    }
    uint64_t errors = LOAD(&run.errors);
    report(&opts, &res, latency, bytes, errors);
    uint64_t msgs = hist_total(latency);
    if (msgs == 0 && !errors)
        fprintf(stderr, "%s: no message was measured%s\n", bench_prog,
                res.started ? "" : " (the run ended before the window began)");
    free(latency);
    free(run.workers);
    free(run.conns);
    return errors || msgs == 0 ? BENCH_EXIT_ERRORS : BENCH_EXIT_OK;
}
