/* tests/test_fault.c - fault injection (src/base/fault.h), on both
 * backends: short reads and writes at every byte boundary, ECONNRESET,
 * buffer-ring exhaustion (ENOBUFS), ENOMEM at each allocation, a tiny CQ
 * ring; for an echo server and for the HTTP server. Nothing may be lost,
 * nothing leaked, the server keeps serving.
 *
 * The cases need a RINGO_FAULT build (make FAULT=1) and skip otherwise.
 * Server and client run on one worker: the client side (the case's main
 * coroutine and coroutines that call ringo__fault_exempt) is never
 * faulted, so every fault lands on the server. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "http_client.h"
#include "t.h"

#ifdef RINGO_FAULT
#include "base/fault.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() T_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define T_LEAK_CHECK() ((void)0)
#endif

#define SEC      1000000000LL
#define DEADLINE (ringo_deadline_in(20 * SEC))

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    T_ASSERT(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Poll a condition the server reaches by itself (its coroutines ending):
 * an event on the same worker, not a timing window; 20 s is a hang. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        int64_t wf_end_ = ringo_deadline_in(20 * SEC);                                             \
        while (!(cond)) {                                                                          \
            if (ringo_now() > wf_end_)                                                             \
                T_FAIL("timed out waiting for %s", #cond);                                         \
            ringo_sleep(1000000);                                                                  \
        }                                                                                          \
    } while (0)

static void plan_short(size_t cut)
{
    struct ringo_fault_plan p = {0};
    p.rule[0] =
        (struct ringo_fault_rule){.kind = RINGO_FAULT_SHORT, .ops = RINGO_FAULT_READ, .cut = cut};
    p.rule[1] =
        (struct ringo_fault_rule){.kind = RINGO_FAULT_SHORT, .ops = RINGO_FAULT_WRITE, .cut = cut};
    ringo__fault_set(&p);
}

static void plan_one(int kind, unsigned ops, unsigned long nth)
{
    struct ringo_fault_plan p = {0};
    p.rule[0] = (struct ringo_fault_rule){.kind = kind, .ops = ops, .nth = nth};
    ringo__fault_set(&p);
}

static void run_cfg(void (*fn)(void *), void *arg, unsigned ring_entries, unsigned recv_buffers)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1; /* server and clients share the worker (and its plan) */
    cfg.handle_signals = 0;
    cfg.sqpoll = 0;
    if (ring_entries)
        cfg.ring_entries = ring_entries;
    if (recv_buffers)
        cfg.recv_buffers = recv_buffers;
    T_OK(ringo_main(&cfg, fn, arg));
}

/* ================= echo ================= */

enum echo_mode { ECHO_RW, ECHO_BORROW, ECHO_VEC, ECHO_BORROW_HOLD, ECHO_MODES };
static const char *const echo_names[] = {"read/write_all", "recv_borrow", "readv/writev",
                                         "recv_borrow+yield"};

struct echo_srv {
    int lfd;
    enum echo_mode mode;
    _Atomic int open;    /* connection coroutines alive */
    _Atomic int waiting; /* parked (or about to park) in a read */
    ringo_coro *acceptor;
};

struct echo_conn {
    struct echo_srv *s;
    int fd;
};

static int echo_write(int fd, const char *p, size_t n)
{
    return ringo_write_all(fd, p, n, NULL, DEADLINE) < 0 ? -1 : 0;
}

static int echo_writev(int fd, char *p, size_t n)
{
    /* three pieces, so a cut can fall inside any iovec */
    size_t a = n / 3, b = n / 3;
    struct iovec v[3] = {{p, a}, {p + a, b}, {p + a + b, n - a - b}};
    struct iovec *iv = v;
    int cnt = 3;
    while (cnt) {
        ssize_t w = ringo_writev(fd, iv, cnt, DEADLINE);
        if (w <= 0)
            return -1;
        while (cnt && (size_t)w >= iv->iov_len) {
            w -= (ssize_t)iv->iov_len;
            iv++;
            cnt--;
        }
        if (cnt) {
            iv->iov_base = (char *)iv->iov_base + w;
            iv->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static void echo_conn_fn(void *arg)
{
    struct echo_conn c = *(struct echo_conn *)arg;
    free(arg);
    char buf[4096];
    for (;;) {
        c.s->waiting++;
        ssize_t n;
        int w;
        if (c.s->mode == ECHO_BORROW || c.s->mode == ECHO_BORROW_HOLD) {
            ringo_buf b;
            n = ringo_recv_borrow(c.fd, &b, DEADLINE);
            c.s->waiting--;
            if (n <= 0)
                break;
            if (c.s->mode == ECHO_BORROW_HOLD)
                ringo_yield(); /* hold the buffer while others borrow */
            w = echo_write(c.fd, b.data, b.len);
            T_OK(ringo_buf_release(&b));
        } else if (c.s->mode == ECHO_VEC) {
            struct iovec v[2] = {{buf, 7}, {buf + 7, sizeof(buf) - 7}};
            n = ringo_readv(c.fd, v, 2, DEADLINE);
            c.s->waiting--;
            if (n <= 0)
                break;
            w = echo_writev(c.fd, buf, (size_t)n);
        } else {
            n = ringo_read(c.fd, buf, sizeof(buf), DEADLINE);
            c.s->waiting--;
            if (n <= 0)
                break;
            w = echo_write(c.fd, buf, (size_t)n);
        }
        if (w < 0)
            break;
    }
    ringo_close(c.fd);
    c.s->open--;
}

static void echo_accept_fn(void *arg)
{
    struct echo_srv *s = arg;
    for (;;) {
        int fd = ringo_accept(s->lfd, NULL, RINGO_FOREVER);
        if (fd < 0)
            return; /* cancelled at the end of the case */
        struct echo_conn *c = malloc(sizeof(*c));
        if (!c) { /* an injected ENOMEM: refuse this one, keep accepting */
            ringo_close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        s->open++;
        if (ringo_go(echo_conn_fn, c, NULL) < 0) {
            s->open--;
            free(c);
            ringo_close(fd);
        }
    }
}

static ringo_addr echo_addr;

static void echo_start(struct echo_srv *s, enum echo_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->lfd = t_listen(&echo_addr);
    T_OK(ringo_go(echo_accept_fn, s, &s->acceptor));
}

static void echo_stop(struct echo_srv *s)
{
    ringo__fault_set(NULL);
    WAIT_FOR(s->open == 0);
    T_OK(ringo_cancel(s->acceptor));
    T_OK(ringo_join(s->acceptor, RINGO_FOREVER));
    T_OK(ringo_close(s->lfd));
}

static void fill_msg(char *m, size_t n, unsigned seed)
{
    uint64_t r = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++)
        m[i] = (char)t_rand(&r);
}

/* One round trip; returns the bytes echoed back (n when all came). */
static size_t echo_once(int fd, const char *msg, size_t n)
{
    T_EQ(ringo_write_all(fd, msg, n, NULL, DEADLINE), n);
    char in[512];
    size_t got = 0;
    ringo_read_full(fd, in, n, &got, DEADLINE);
    T_ASSERT(memcmp(in, msg, got) == 0); /* whatever came is in order */
    return got;
}

#define ECHO_LEN 97 /* not a multiple of the iovec pieces */

static void echo_short_main(void *arg)
{
    int fds0 = count_fds();
    for (int mode = 0; mode < ECHO_MODES; mode++) {
        struct echo_srv s;
        echo_start(&s, (enum echo_mode)mode);
        char msg[ECHO_LEN];
        for (size_t k = 1; k <= ECHO_LEN; k++) {
            fill_msg(msg, ECHO_LEN, (unsigned)k);
            plan_short(k);
            int fd = ringo_tcp_connect(&echo_addr, DEADLINE);
            T_OK(fd);
            if (echo_once(fd, msg, ECHO_LEN) != ECHO_LEN)
                T_FAIL("%s, cut at %zu: echo lost bytes", echo_names[mode], k);
            /* the server was really cut: at least ceil(len/k) ops each way */
            size_t ops = (ECHO_LEN + k - 1) / k;
            if (ringo__fault_hits(0) < ops || ringo__fault_hits(1) < ops)
                T_FAIL("%s, cut at %zu: %lu reads and %lu writes cut, want >= %zu",
                       echo_names[mode], k, ringo__fault_hits(0), ringo__fault_hits(1), ops);
            T_OK(ringo_close(fd));
            WAIT_FOR(s.open == 0);
        }
        echo_stop(&s);
    }
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_echo_short_every_boundary, T_IO)
{
    run_cfg(echo_short_main, NULL, 0, 0);
    T_LEAK_CHECK();
}

/* The tiny ring of test_overflow.c under the same cuts: every boundary
 * again, now through the SQ-full and CQ-overflow paths on io_uring. */
#define FLOOD 64

struct flood_arg {
    int id;
    _Atomic int *done;
};

static void echo_flood_client(void *arg)
{
    struct flood_arg *a = arg;
    ringo__fault_exempt();
    int fd = ringo_tcp_connect(&echo_addr, DEADLINE);
    T_OK(fd);
    char msg[ECHO_LEN];
    for (int round = 0; round < 4; round++) {
        fill_msg(msg, ECHO_LEN, (unsigned)(a->id * 7 + round));
        T_EQ(echo_once(fd, msg, ECHO_LEN), ECHO_LEN);
    }
    T_OK(ringo_close(fd));
    (*a->done)++;
}

static ringo_counters flood_stats;

static void echo_tiny_ring_main(void *arg)
{
    int fds0 = count_fds();
    for (int mode = 0; mode < ECHO_MODES; mode++) {
        struct echo_srv s;
        echo_start(&s, (enum echo_mode)mode);
        for (size_t k = 1; k <= 16; k *= 2) {
            plan_short(k);
            _Atomic int done = 0;
            static struct flood_arg fa[FLOOD];
            static ringo_coro *h[FLOOD];
            for (int i = 0; i < FLOOD; i++) {
                fa[i] = (struct flood_arg){i, &done};
                T_OK(ringo_go(echo_flood_client, &fa[i], &h[i]));
            }
            for (int i = 0; i < FLOOD; i++)
                T_OK(ringo_join(h[i], RINGO_FOREVER));
            T_EQ(done, FLOOD);
            WAIT_FOR(s.open == 0);
        }
        echo_stop(&s);
    }
    T_OK(ringo_stats(&flood_stats));
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_echo_short_tiny_ring, T_IO | T_SLOW)
{
    run_cfg(echo_tiny_ring_main, NULL, 2, 0);
    if (strcmp(t_backend(), "uring") == 0) {
        /* both slow paths of the ring were really taken */
        T_ASSERT(flood_stats.sq_full_flushes > 0);
        T_ASSERT(flood_stats.cq_overflows > 0);
    }
    T_LEAK_CHECK();
}

/* ECONNRESET on one connection among many, once on a write (mid-answer)
 * and once on a read (between messages): that connection ends, its fd is
 * closed; the others and new connections are served as before. */
#define MANY 8

static void echo_reset_main(void *arg)
{
    int fds0 = count_fds();
    for (int mode = 0; mode < ECHO_MODES; mode++) {
        for (int dir = 0; dir < 2; dir++) {
            struct echo_srv s;
            echo_start(&s, (enum echo_mode)mode);
            int fd[MANY];
            char msg[ECHO_LEN];
            fill_msg(msg, ECHO_LEN, 1);
            for (int i = 0; i < MANY; i++) {
                fd[i] = ringo_tcp_connect(&echo_addr, DEADLINE);
                T_OK(fd[i]);
                T_EQ(echo_once(fd[i], msg, ECHO_LEN), ECHO_LEN);
            }
            const int victim = 3;
            plan_one(RINGO_FAULT_RESET, dir ? RINGO_FAULT_READ : RINGO_FAULT_WRITE, 1);
            size_t got = echo_once(fd[victim], msg, ECHO_LEN);
            T_EQ(ringo__fault_hits(0), 1);
            if (dir == 0) {
                T_EQ(got, 0); /* the answer's write failed: nothing came */
            } else {
                T_EQ(got, ECHO_LEN); /* answered, then the next read failed */
                char b[8];
                T_EQ(ringo_read(fd[victim], b, sizeof(b), DEADLINE), 0);
            }
            WAIT_FOR(s.open == MANY - 1);
            ringo__fault_set(NULL);
            for (int i = 0; i < MANY; i++)
                if (i != victim)
                    T_EQ(echo_once(fd[i], msg, ECHO_LEN), ECHO_LEN);
            int extra = ringo_tcp_connect(&echo_addr, DEADLINE);
            T_OK(extra);
            T_EQ(echo_once(extra, msg, ECHO_LEN), ECHO_LEN);
            T_OK(ringo_close(extra));
            for (int i = 0; i < MANY; i++)
                T_OK(ringo_close(fd[i]));
            echo_stop(&s);
        }
    }
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_echo_reset_one_of_many, T_IO)
{
    run_cfg(echo_reset_main, NULL, 0, 0);
    T_LEAK_CHECK();
}

/* The buffer ring runs dry for real: one receive buffer per worker and
 * FLOOD connections that each hold a borrowed buffer across a yield. On
 * io_uring the multishot recvs get -ENOBUFS and fall back to single-shot
 * reads; on epoll the pool lends malloc'd spares. Every byte comes back. */
static void echo_enobufs_main(void *arg)
{
    int fds0 = count_fds();
    struct echo_srv s;
    echo_start(&s, ECHO_BORROW_HOLD);
    _Atomic int done = 0;
    static struct flood_arg fa[FLOOD];
    static ringo_coro *h[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        fa[i] = (struct flood_arg){i, &done};
        T_OK(ringo_go(echo_flood_client, &fa[i], &h[i]));
    }
    for (int i = 0; i < FLOOD; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(done, FLOOD);
    WAIT_FOR(s.open == 0);
    echo_stop(&s);
    T_OK(ringo_stats(&flood_stats));
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_echo_enobufs_ring_dry, T_IO)
{
    run_cfg(echo_enobufs_main, NULL, 0, 1);
    if (strcmp(t_backend(), "uring") == 0)
        T_ASSERT(flood_stats.recv_enobufs + flood_stats.recv_fallbacks > 0);
    else
        T_ASSERT(flood_stats.bufs_spare > 0);
    T_LEAK_CHECK();
}

/* ENOMEM at each allocation the echo path makes (accept loop, borrow
 * spares on a dry pool, ...): loop N = 1.. until a round trip completes
 * with no fault hit. Each time the connection is served in full or
 * closed, and a new connection is served afterwards. */
static void echo_nomem_main(void *arg)
{
    int fds0 = count_fds();
    struct echo_srv s;
    echo_start(&s, ECHO_BORROW_HOLD);
    char msg[ECHO_LEN];
    fill_msg(msg, ECHO_LEN, 5);
    int hit_any = 0;
    for (unsigned long n = 1;; n++) {
        T_ASSERT(n < 1000);
        plan_one(RINGO_FAULT_NOMEM, 0, n);
        int fd[3];
        size_t got[3];
        for (int i = 0; i < 3; i++) {
            fd[i] = ringo_tcp_connect(&echo_addr, DEADLINE);
            T_OK(fd[i]);
        }
        for (int i = 0; i < 3; i++)
            T_EQ(ringo_write_all(fd[i], msg, ECHO_LEN, NULL, DEADLINE), ECHO_LEN);
        for (int i = 0; i < 3; i++) {
            char in[ECHO_LEN];
            got[i] = 0;
            ringo_read_full(fd[i], in, ECHO_LEN, &got[i], DEADLINE);
            T_ASSERT(memcmp(in, msg, got[i]) == 0);
        }
        unsigned long hits = ringo__fault_hits(0);
        ringo__fault_set(NULL);
        for (int i = 0; i < 3; i++) {
            if (got[i] != ECHO_LEN)
                T_ASSERT(hits == 1); /* only a fault may cost an answer */
            T_OK(ringo_close(fd[i]));
        }
        WAIT_FOR(s.open == 0);
        int extra = ringo_tcp_connect(&echo_addr, DEADLINE);
        T_OK(extra);
        T_EQ(echo_once(extra, msg, ECHO_LEN), ECHO_LEN);
        T_OK(ringo_close(extra));
        WAIT_FOR(s.open == 0);
        if (!hits)
            break;
        hit_any = 1;
    }
    T_ASSERT(hit_any);
    echo_stop(&s);
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_echo_nomem_each_allocation, T_IO)
{
    run_cfg(echo_nomem_main, NULL, 0, 1);
    T_LEAK_CHECK();
}

/* RINGO_FAULT=spec arms a plan on each worker by itself (for ringo-echo
 * and ringo-httpd of a fault build): nothing is exempt, both ends are cut
 * and still every byte comes back. */
static void echo_env_main(void *arg)
{
    struct echo_srv s;
    echo_start(&s, ECHO_BORROW);
    char msg[ECHO_LEN];
    fill_msg(msg, ECHO_LEN, 9);
    for (int i = 0; i < 20; i++) {
        int fd = ringo_tcp_connect(&echo_addr, DEADLINE);
        T_OK(fd);
        T_EQ(echo_once(fd, msg, ECHO_LEN), ECHO_LEN);
        T_OK(ringo_close(fd));
    }
    T_ASSERT(ringo__fault_hits(0) > 40); /* shortread=3: 97 bytes in >= 33 reads */
    T_ASSERT(ringo__fault_hits(1) > 40);
    echo_stop(&s);
}

T_CASE(fault_env_spec, T_IO)
{
    setenv("RINGO_FAULT", "shortread=3,shortwrite=5,seed=7", 1);
    run_cfg(echo_env_main, NULL, 0, 0);
    T_LEAK_CHECK();
}

/* ================= HTTP ================= */

static int h_plain(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    return ringo_http_body_static(resp, "Hello, World!", 13);
}

/* Echo the body, in a malloc'd buffer (an allocation point of its own). */
static int h_echo(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t r = ringo_http_body_read(req, buf + n, cap - n, RINGO_FOREVER);
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        T_ASSERT(n < cap);
    }
    int r = ringo_http_body(resp, buf, n);
    free(buf);
    return r;
}

/* A body larger than the connection's 4 KiB output stack: the output
 * buffer grows (another allocation point). */
static char big_body[10000];

static int h_big(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    return ringo_http_body(resp, big_body, sizeof(big_body));
}

static int h_stream(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    int r = ringo_http_stream(resp);
    for (int i = 0; r == 0 && i < 3; i++)
        r = ringo_http_write(resp, "chunk", 5);
    return r < 0 ? r : ringo_http_end(resp);
}

struct hsrv {
    ringo_http_server *s;
    int port;
};

static void hsrv_start(struct hsrv *h)
{
    for (size_t i = 0; i < sizeof(big_body); i++)
        big_body[i] = (char)('a' + i % 23);
    T_OK(ringo_http_server_new(NULL, &h->s));
    T_OK(ringo_http_route(h->s, "GET", "/plain", 0, h_plain, NULL));
    T_OK(ringo_http_route(h->s, "POST", "/echo", 0, h_echo, NULL));
    T_OK(ringo_http_route(h->s, "GET", "/big", 0, h_big, NULL));
    T_OK(ringo_http_route(h->s, "GET", "/stream", 0, h_stream, NULL));
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    T_OK(ringo_http_start(h->s, &a, &h->port));
}

static uint64_t conns_open(struct hsrv *h)
{
    ringo_http_stats st;
    T_OK(ringo_http_server_stats(h->s, &st));
    return st.conns_open;
}

static void hsrv_stop(struct hsrv *h)
{
    ringo__fault_set(NULL);
    WAIT_FOR(conns_open(h) == 0);
    T_OK(ringo_http_shutdown(h->s, ringo_deadline_in(10 * SEC)));
    ringo_http_server_free(h->s);
}

/* The pipelined batch: five requests in one write, every framing kind. */
static const char batch[] = "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
                            "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n"
                            "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
#define BATCH_N 5

/* Read the batch's answers; returns how many came complete and right
 * (stops at the first that did not: a close). */
static int read_batch(struct tc_conn *c)
{
    static const char *const want[BATCH_N] = {"Hello, World!", "hello", "abcdefg",
                                              "chunkchunkchunk", NULL};
    for (int i = 0; i < BATCH_N; i++) {
        struct tc_resp r;
        int e = tc_read(c, &r, false);
        if (e < 0) {
            tc_resp_free(&r);
            return i;
        }
        if (r.status != 200) {
            /* only an error answer may replace one, and it ends the batch */
            T_ASSERT(r.status == 500 || r.status == 503);
            tc_resp_free(&r);
            return i;
        }
        if (want[i]) {
            T_EQ(r.body_len, strlen(want[i]));
            T_ASSERT(memcmp(r.body, want[i], r.body_len) == 0);
        } else {
            T_EQ(r.body_len, sizeof(big_body));
            T_ASSERT(memcmp(r.body, big_body, sizeof(big_body)) == 0);
        }
        tc_resp_free(&r);
    }
    return BATCH_N;
}

static void one_good_request(struct hsrv *h)
{
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, h->port);
    tc_send(c, batch, sizeof(batch) - 1);
    T_EQ(read_batch(c), BATCH_N);
    tc_close(c);
    free(c);
}

static void http_short_main(void *arg)
{
    int fds0 = count_fds();
    struct hsrv h;
    hsrv_start(&h);
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    for (size_t k = 1; k <= sizeof(batch) - 1; k++) {
        plan_short(k);
        tc_connect(c, h.port);
        tc_send(c, batch, sizeof(batch) - 1);
        int n = read_batch(c);
        if (n != BATCH_N)
            T_FAIL("cut at %zu: %d of %d answers", k, n, BATCH_N);
        size_t reads = (sizeof(batch) - 1 + k - 1) / k;
        if (ringo__fault_hits(0) < reads)
            T_FAIL("cut at %zu: only %lu reads cut", k, ringo__fault_hits(0));
        T_ASSERT(ringo__fault_hits(1) > 0);
        tc_close(c);
        WAIT_FOR(conns_open(&h) == 0);
    }
    free(c);
    ringo__fault_set(NULL);
    one_good_request(&h);
    hsrv_stop(&h);
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_http_pipeline_short_every_boundary, T_IO | T_SLOW)
{
    run_cfg(http_short_main, NULL, 0, 0);
    T_LEAK_CHECK();
}

/* Many clients at once on the tiny ring and a one-buffer pool, every op
 * cut at random (1..16 bytes): SQ-full, CQ overflow, ENOBUFS and short
 * ops together. Every answer complete and in order. */
static struct hsrv *flood_srv;

static void http_flood_client(void *arg)
{
    struct flood_arg *a = arg;
    ringo__fault_exempt();
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, flood_srv->port);
    for (int round = 0; round < 3; round++) {
        tc_send(c, batch, sizeof(batch) - 1);
        T_EQ(read_batch(c), BATCH_N);
    }
    tc_close(c);
    free(c);
    (*a->done)++;
}

static void http_tiny_ring_main(void *arg)
{
    int fds0 = count_fds();
    struct hsrv h;
    hsrv_start(&h);
    flood_srv = &h;
    /* first no cuts (the server's multishot recvs find the one-buffer
     * ring dry), then every op cut at random */
    for (int cuts = 0; cuts < 2; cuts++) {
        struct ringo_fault_plan p = {0};
        p.seed = 42;
        p.rule[0] = (struct ringo_fault_rule){.kind = cuts ? RINGO_FAULT_SHORT : 0,
                                              .ops = RINGO_FAULT_READ | RINGO_FAULT_WRITE,
                                              .cut = 16};
        ringo__fault_set(&p);
        _Atomic int done = 0;
        static struct flood_arg fa[FLOOD];
        static ringo_coro *hd[FLOOD];
        for (int i = 0; i < FLOOD; i++) {
            fa[i] = (struct flood_arg){i, &done};
            T_OK(ringo_go(http_flood_client, &fa[i], &hd[i]));
        }
        for (int i = 0; i < FLOOD; i++)
            T_OK(ringo_join(hd[i], RINGO_FOREVER));
        T_EQ(done, FLOOD);
        T_ASSERT(!cuts || ringo__fault_hits(0) > 0);
        ringo__fault_set(NULL);
        WAIT_FOR(conns_open(&h) == 0);
    }
    one_good_request(&h);
    hsrv_stop(&h);
    T_OK(ringo_stats(&flood_stats));
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_http_tiny_ring_tiny_pool, T_IO | T_SLOW)
{
    run_cfg(http_tiny_ring_main, NULL, 2, 1);
    if (strcmp(t_backend(), "uring") == 0) {
        T_ASSERT(flood_stats.sq_full_flushes > 0);
        T_ASSERT(flood_stats.cq_overflows > 0);
        T_ASSERT(flood_stats.recv_enobufs > 0);
    }
    T_LEAK_CHECK();
}

/* ECONNRESET on one keep-alive connection among many, on a write (the
 * answer is lost: the fault says so) and on a read (after the answer):
 * the others go on, conns_open comes back, fds are closed. */
static void http_reset_main(void *arg)
{
    int fds0 = count_fds();
    struct hsrv h;
    hsrv_start(&h);
    static struct tc_conn cs[MANY];
    for (int dir = 0; dir < 2; dir++) {
        for (int i = 0; i < MANY; i++) {
            tc_connect(&cs[i], h.port);
            tc_send(&cs[i], batch, sizeof(batch) - 1);
            T_EQ(read_batch(&cs[i]), BATCH_N);
        }
        T_EQ(conns_open(&h), MANY);
        const int victim = 5;
        plan_one(RINGO_FAULT_RESET, dir ? RINGO_FAULT_READ : RINGO_FAULT_WRITE, 1);
        tc_send(&cs[victim], batch, sizeof(batch) - 1);
        int n = read_batch(&cs[victim]);
        T_EQ(ringo__fault_hits(0), 1);
        if (dir == 0)
            T_ASSERT(n < BATCH_N); /* the reset write lost answers: no more came */
        else
            T_EQ(n, BATCH_N); /* answered; the reset came on the next read */
        T_ASSERT(tc_closed(&cs[victim]));
        WAIT_FOR(conns_open(&h) == MANY - 1);
        ringo__fault_set(NULL);
        for (int i = 0; i < MANY; i++) {
            if (i == victim)
                continue;
            tc_send(&cs[i], batch, sizeof(batch) - 1);
            T_EQ(read_batch(&cs[i]), BATCH_N);
        }
        one_good_request(&h);
        for (int i = 0; i < MANY; i++)
            tc_close(&cs[i]);
        WAIT_FOR(conns_open(&h) == 0);
    }
    hsrv_stop(&h);
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_http_reset_one_of_many, T_IO)
{
    run_cfg(http_reset_main, NULL, 0, 0);
    T_LEAK_CHECK();
}

/* ENOMEM at each allocation point a request reaches, with reads cut to 7
 * bytes (heads split over reads: the connection's own buffer) and a
 * one-buffer pool (spares): N = 1.. until the batch completes with no
 * fault hit. Each time the answers that came are complete and right, then
 * a 500 or a close; the next connection is served in full. */
static void http_nomem_main(void *arg)
{
    int fds0 = count_fds();
    struct hsrv h;
    hsrv_start(&h);
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    int hit_any = 0;
    for (unsigned long n = 1;; n++) {
        T_ASSERT(n < 2000);
        struct ringo_fault_plan p = {0};
        p.rule[0] = (struct ringo_fault_rule){.kind = RINGO_FAULT_NOMEM, .nth = n};
        p.rule[1] =
            (struct ringo_fault_rule){.kind = RINGO_FAULT_SHORT, .ops = RINGO_FAULT_READ, .cut = 7};
        ringo__fault_set(&p);
        tc_connect(c, h.port);
        tc_send(c, batch, sizeof(batch) - 1);
        int got = read_batch(c);
        unsigned long hits = ringo__fault_hits(0);
        ringo__fault_set(NULL);
        if (got != BATCH_N) {
            if (hits != 1)
                T_FAIL("allocation %lu: %d of %d answers, but no fault was injected", n, got,
                       BATCH_N);
            T_ASSERT(tc_closed(c));
        }
        tc_close(c);
        WAIT_FOR(conns_open(&h) == 0);
        one_good_request(&h);
        WAIT_FOR(conns_open(&h) == 0);
        if (!hits)
            break;
        hit_any = 1;
    }
    T_ASSERT(hit_any);
    free(c);
    hsrv_stop(&h);
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_http_nomem_each_allocation, T_IO | T_SLOW)
{
    run_cfg(http_nomem_main, NULL, 0, 1);
    T_LEAK_CHECK();
}

/* Everything at once, at random (seeded): cuts of 1..32 bytes, a reset
 * in 1 of 200 socket ops, a failed allocation in 1 of 50, on 32 clients
 * that reconnect whenever their connection ends. Whatever answers arrive
 * are right and in order; afterwards the server serves a clean request,
 * holds no connection and no fd, and (under ASan) leaks nothing. */
#define MIX_CLIENTS 32
#define MIX_ROUNDS  12

static _Atomic long mix_answers, mix_lost;

static void http_mix_client(void *arg)
{
    ringo__fault_exempt();
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, flood_srv->port);
    for (int round = 0; round < MIX_ROUNDS; round++) {
        tc_send(c, batch, sizeof(batch) - 1);
        int n = read_batch(c);
        mix_answers += n;
        if (n < BATCH_N) {
            mix_lost++;
            tc_close(c);
            tc_connect(c, flood_srv->port);
        }
    }
    tc_close(c);
    free(c);
}

static void http_mix_main(void *arg)
{
    int fds0 = count_fds();
    struct hsrv h;
    hsrv_start(&h);
    flood_srv = &h;
    struct ringo_fault_plan p = {0};
    p.seed = 1234;
    p.rule[0] = (struct ringo_fault_rule){
        .kind = RINGO_FAULT_RESET, .ops = RINGO_FAULT_READ | RINGO_FAULT_WRITE, .every = 200};
    p.rule[1] = (struct ringo_fault_rule){.kind = RINGO_FAULT_NOMEM, .every = 50};
    p.rule[2] = (struct ringo_fault_rule){
        .kind = RINGO_FAULT_SHORT, .ops = RINGO_FAULT_READ | RINGO_FAULT_WRITE, .cut = 32};
    ringo__fault_set(&p);
    static ringo_coro *hd[MIX_CLIENTS];
    for (int i = 0; i < MIX_CLIENTS; i++)
        T_OK(ringo_go(http_mix_client, NULL, &hd[i]));
    for (int i = 0; i < MIX_CLIENTS; i++)
        T_OK(ringo_join(hd[i], RINGO_FOREVER));
    /* the faults did happen, and most answers still came */
    T_ASSERT(ringo__fault_hits(0) > 0 && ringo__fault_hits(1) > 0);
    T_ASSERT(mix_lost > 0);
    T_ASSERT(mix_answers > (long)MIX_CLIENTS * MIX_ROUNDS * BATCH_N / 2);
    ringo__fault_set(NULL);
    WAIT_FOR(conns_open(&h) == 0);
    one_good_request(&h);
    hsrv_stop(&h);
    T_EQ(count_fds(), fds0);
}

T_CASE(fault_http_random_mix, T_IO | T_SLOW)
{
    run_cfg(http_mix_main, NULL, 0, 4);
    T_LEAK_CHECK();
}

#else /* !RINGO_FAULT */

#define NEEDS T_SKIP("needs a RINGO_FAULT build (make FAULT=1)")
T_CASE(fault_echo_short_every_boundary, T_IO)
{
    NEEDS;
}
T_CASE(fault_echo_short_tiny_ring, T_IO)
{
    NEEDS;
}
T_CASE(fault_echo_reset_one_of_many, T_IO)
{
    NEEDS;
}
T_CASE(fault_echo_enobufs_ring_dry, T_IO)
{
    NEEDS;
}
T_CASE(fault_echo_nomem_each_allocation, T_IO)
{
    NEEDS;
}
T_CASE(fault_http_pipeline_short_every_boundary, T_IO)
{
    NEEDS;
}
T_CASE(fault_http_tiny_ring_tiny_pool, T_IO)
{
    NEEDS;
}
T_CASE(fault_http_reset_one_of_many, T_IO)
{
    NEEDS;
}
T_CASE(fault_http_nomem_each_allocation, T_IO)
{
    NEEDS;
}
T_CASE(fault_env_spec, T_IO)
{
    NEEDS;
}
T_CASE(fault_http_random_mix, T_IO)
{
    NEEDS;
}

#endif
