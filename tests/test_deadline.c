/* Deadlines and cancellation: read/accept/connect/write expiry,
 * RINGO_NOWAIT, cancelling and closing under a parked read (buffer
 * ownership), sleep ordering. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t io_deadline(void)
{
    return ringo_deadline_in(20 * SEC);
}

/* A connected pair over 127.0.0.1: *c client end, *s server end. */
static void tcp_pair(int *lfd, int *c, int *s)
{
    ringo_addr a;
    *lfd = t_listen(&a);
    *c = ringo_tcp_connect(&a, io_deadline());
    T_OK(*c);
    *s = ringo_accept(*lfd, NULL, io_deadline());
    T_OK(*s);
}

/* Lowest free descriptor number: unchanged if nothing leaked. */
static int lowest_free_fd(void)
{
    int fd = dup(0);
    T_ASSERT(fd >= 0);
    close(fd);
    return fd;
}

/* ---- read deadline ---- */

static void read_deadline_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    char buf[64];
    for (int round = 0; round < 3; round++) {
        int64_t t0 = ringo_now();
        struct t_watch wd;
        t_watch_start(&wd, t0 + SEC);
        ssize_t r = ringo_read(c, buf, sizeof(buf), t0 + 50 * MS);
        int on_time = t_watch_end(&wd);
        int64_t dt = ringo_now() - t0;
        T_EQ(r, -ETIMEDOUT);
        if (dt < 50 * MS || !on_time)
            T_FAIL("read deadline of 50 ms expired after %lld us (%s a 1 s timer)",
                   (long long)(dt / 1000), on_time ? "before" : "after");
        /* the connection is still fine: data sent now is read whole */
        char msg[16];
        int n = snprintf(msg, sizeof(msg), "round %d", round);
        T_EQ(ringo_write_all(s, msg, (size_t)n, NULL, io_deadline()), n);
        T_EQ(ringo_read_full(c, buf, (size_t)n, NULL, io_deadline()), n);
        T_ASSERT(memcmp(buf, msg, (size_t)n) == 0);
    }
    /* a deadline that is already in the past works like RINGO_NOWAIT */
    T_EQ(ringo_read(c, buf, sizeof(buf), ringo_now() - SEC), -ETIMEDOUT);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_read_expires, T_IO)
{
    t_run(1, read_deadline_main, NULL);
}

/* ---- accept deadline ---- */

static void accept_deadline_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);
    int64_t t0 = ringo_now();
    struct t_watch wd;
    t_watch_start(&wd, t0 + SEC);
    int r = ringo_accept(lfd, NULL, t0 + 50 * MS);
    int on_time = t_watch_end(&wd);
    int64_t dt = ringo_now() - t0;
    T_EQ(r, -ETIMEDOUT);
    if (dt < 50 * MS || !on_time)
        T_FAIL("accept deadline of 50 ms expired after %lld us (%s a 1 s timer)",
               (long long)(dt / 1000), on_time ? "before" : "after");
    T_EQ(ringo_accept(lfd, NULL, RINGO_NOWAIT), -ETIMEDOUT);
    /* the listener still works, also with RINGO_NOWAIT once a connection
     * is queued */
    int c = ringo_tcp_connect(&a, io_deadline());
    T_OK(c);
    int s = ringo_accept(lfd, NULL, ringo_deadline_in(SEC));
    T_OK(s);
    int c2 = ringo_tcp_connect(&a, io_deadline());
    T_OK(c2);
    ringo_sleep(10 * MS);
    int s2 = ringo_accept(lfd, NULL, RINGO_NOWAIT);
    T_OK(s2);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(c2));
    T_OK(ringo_close(s2));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_accept_expires, T_IO)
{
    t_run(1, accept_deadline_main, NULL);
}

/* ---- RINGO_NOWAIT ---- */

static void nowait_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    char buf[64];
    /* no data: -ETIMEDOUT at once (before a 500 ms timer), many times over */
    for (int i = 0; i < 100; i++) {
        struct t_watch wd;
        t_watch_start(&wd, ringo_deadline_in(500 * MS));
        T_EQ(ringo_read(c, buf, sizeof(buf), RINGO_NOWAIT), -ETIMEDOUT);
        if (!t_watch_end(&wd))
            T_FAIL("RINGO_NOWAIT read %d with no data waited past a 500 ms timer", i);
    }

    /* data already there: RINGO_NOWAIT returns it. Nothing may be lost
     * either way: a read that reports -ETIMEDOUT must leave the data in
     * the socket. */
    int data_returned = 0, timeouts = 0;
    for (int i = 0; i < 200; i++) {
        char msg[16];
        int n = snprintf(msg, sizeof(msg), "msg %03d", i);
        T_EQ(ringo_write_all(s, msg, (size_t)n, NULL, io_deadline()), n);
        /* loopback delivers synchronously, but give it a moment */
        if (i % 50 == 0)
            ringo_sleep(MS);
        ssize_t r = ringo_read(c, buf, (size_t)n, RINGO_NOWAIT);
        if (r == -ETIMEDOUT) {
            timeouts++;
            r = ringo_read(c, buf, (size_t)n, io_deadline());
        } else {
            data_returned++;
        }
        T_EQ(r, n);
        T_ASSERT(memcmp(buf, msg, (size_t)n) == 0);
    }
    if (timeouts)
        T_FAIL("RINGO_NOWAIT read with data available returned -ETIMEDOUT %d/200 times [%s]",
               timeouts, ringo_backend_name());
    T_EQ(data_returned, 200);

    /* RINGO_NOWAIT write with room in the socket buffer succeeds */
    T_EQ(ringo_write(c, "abc", 3, RINGO_NOWAIT), 3);
    T_EQ(ringo_read_full(s, buf, 3, NULL, io_deadline()), 3);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_nowait, T_IO)
{
    t_run(1, nowait_main, NULL);
}

/* ---- connect deadline against a full accept queue ---- */

static void connect_deadline_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    int lfd = ringo_tcp_listen(&a, 1, 0);
    T_OK(lfd);
    a.len = sizeof(a.ss);
    T_ASSERT(getsockname(lfd, (struct sockaddr *)&a.ss, &a.len) == 0);

    /* Never accept; connect plain non-blocking sockets until one does not
     * complete: then the accept queue is full and further SYNs are
     * dropped (the client would retransmit after 1 s). */
    int fill[32], nfill = 0, blocked = 0;
    while (nfill < 32 && !blocked) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        T_ASSERT(fd >= 0);
        fill[nfill++] = fd;
        int r = connect(fd, (struct sockaddr *)&a.ss, a.len);
        T_ASSERT(r == 0 || errno == EINPROGRESS);
        if (r == 0)
            continue;
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 100) == 0)
            blocked = 1;
    }
    if (!blocked)
        T_SKIP("connects to a listener with backlog 1 never block (%d made)", nfill);

    int free_before = lowest_free_fd();
    int64_t t0 = ringo_now();
    struct t_watch wd;
    t_watch_start(&wd, t0 + 2 * SEC);
    int r = ringo_tcp_connect(&a, t0 + 100 * MS);
    int on_time = t_watch_end(&wd);
    int64_t dt = ringo_now() - t0;
    if (r >= 0)
        T_FAIL("connect to a full accept queue succeeded (fd %d) after %lld ms", r,
               (long long)(dt / MS));
    T_EQ(r, -ETIMEDOUT);
    if (dt < 100 * MS || !on_time)
        T_FAIL("connect deadline of 100 ms expired after %lld us (%s a 2 s timer)",
               (long long)(dt / 1000), on_time ? "before" : "after");
    /* "on failure no fd is left open" */
    T_EQ(lowest_free_fd(), free_before);
    /* cancelling an already-expired connect: a past deadline */
    T_EQ(ringo_tcp_connect(&a, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(lowest_free_fd(), free_before);

    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_connect_expires, T_IO)
{
    t_run(1, connect_deadline_main, NULL);
}

/* ---- cancel while a read is in flight ---- */

static struct {
    int fd;
    int res;
    int done;
    unsigned char *keep; /* buffer kept after the cancel (sentinel check) */
} cr;

/* Reads into a heap buffer; frees it as soon as the read returns. ASan
 * (with a plain read(2) on epoll: its interceptor) reports any later
 * write into it. */
static void cancel_reader_free(void *arg)
{
    (void)arg;
    unsigned char *buf = malloc(4096);
    T_ASSERT(buf);
    cr.res = (int)ringo_read(cr.fd, buf, 4096, RINGO_FOREVER);
    free(buf);
    cr.done = 1;
}

/* Reads into a buffer that stays mapped; the test fills it with a
 * sentinel after the cancel and checks nothing overwrote it. Works without
 * ASan and sees kernel writes too. */
static void cancel_reader_keep(void *arg)
{
    (void)arg;
    cr.res = (int)ringo_read(cr.fd, cr.keep, 4096, RINGO_FOREVER);
    memset(cr.keep, 0xA5, 4096);
    cr.done = 1;
}

static void cancel_read_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    cr.fd = c;
    cr.keep = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(cr.keep != MAP_FAILED);
    unsigned char out[4096], in[4096];
    void (*readers[2])(void *) = {cancel_reader_free, cancel_reader_keep};
    for (int round = 0; round < 2; round++) {
        cr.done = 0;
        cr.res = 1;
        ringo_coro *h;
        T_OK(ringo_go(readers[round], NULL, &h));
        ringo_sleep(20 * MS);
        T_EQ(cr.done, 0); /* parked in the read */
        T_OK(ringo_cancel(h));
        T_OK(ringo_join(h, io_deadline()));
        T_EQ(cr.done, 1);
        T_EQ(cr.res, -ECANCELED);

        /* now the peer writes: nothing may land in the released buffer */
        for (size_t i = 0; i < sizeof(out); i++)
            out[i] = (unsigned char)(i * 31 + round);
        T_EQ(ringo_write_all(s, out, sizeof(out), NULL, io_deadline()), sizeof(out));
        ringo_sleep(50 * MS);
        if (round == 1)
            for (size_t i = 0; i < 4096; i++)
                if (cr.keep[i] != 0xA5)
                    T_FAIL("byte %zu of the cancelled read's buffer was overwritten", i);
        /* and every byte is still in the socket */
        T_EQ(ringo_read_full(c, in, sizeof(in), NULL, io_deadline()), sizeof(in));
        T_ASSERT(memcmp(in, out, sizeof(in)) == 0);
        T_EQ(ringo_read(c, in, sizeof(in), RINGO_NOWAIT), -ETIMEDOUT);
    }
    munmap(cr.keep, 4096);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_cancel_inflight_read, T_IO)
{
    t_run(1, cancel_read_main, NULL);
}

/* The same with a deadline racing: a read with a deadline is cancelled
 * before the deadline; the result must be -ECANCELED, not -ETIMEDOUT. */
static void cancel_timed_reader(void *arg)
{
    (void)arg;
    char buf[64];
    cr.res = (int)ringo_read(cr.fd, buf, sizeof(buf), ringo_deadline_in(5 * SEC));
    cr.done = 1;
}

static void cancel_timed_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    cr.fd = c;
    cr.done = 0;
    ringo_coro *h;
    T_OK(ringo_go(cancel_timed_reader, NULL, &h));
    ringo_sleep(20 * MS);
    /* the cancel ends the read, long before its 5 s deadline would: the
     * join returns before a 1 s timer */
    struct t_watch wd;
    t_watch_start(&wd, ringo_deadline_in(SEC));
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, io_deadline()));
    T_ASSERT(t_watch_end(&wd));
    T_EQ(cr.res, -ECANCELED);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_cancel_beats_deadline, T_IO)
{
    t_run(1, cancel_timed_main, NULL);
}

/* ---- close under a parked read ---- */

static void close_reader(void *arg)
{
    (void)arg;
    char buf[64];
    cr.res = (int)ringo_read(cr.fd, buf, sizeof(buf), io_deadline());
    cr.done = 1;
}

static void close_under_read_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    cr.fd = c;
    cr.done = 0;
    cr.res = 1;
    ringo_coro *h;
    T_OK(ringo_go(close_reader, NULL, &h));
    ringo_sleep(20 * MS);
    T_EQ(cr.done, 0);
    struct t_watch wd;
    t_watch_start(&wd, ringo_deadline_in(SEC));
    T_EQ(ringo_close(c), 0);
    T_OK(ringo_join(h, io_deadline()));
    T_ASSERT(t_watch_end(&wd)); /* the close ended it, not its deadline */
    T_EQ(cr.res, -ECANCELED);
    /* the socket is really closed: the peer sees the end of stream */
    char buf[8];
    T_EQ(ringo_read(s, buf, sizeof(buf), ringo_deadline_in(2 * SEC)), 0);
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_close_cancels_parked_read, T_IO)
{
    t_run(1, close_under_read_main, NULL);
}

/* ---- sleep ordering ---- */

#define NSLEEP 100
static int64_t sl_deadline[NSLEEP];
static int64_t sl_woke[NSLEEP];
static int sl_order[NSLEEP], sl_n;

static void sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    T_EQ(ringo_sleep_until(sl_deadline[i]), 0);
    sl_woke[i] = ringo_now();
    sl_order[sl_n++] = i;
}

static int sl_res;
static void long_sleeper(void *arg)
{
    (void)arg;
    sl_res = ringo_sleep(10 * SEC);
}

static void sleep_order_main(void *arg)
{
    (void)arg;
    uint64_t seed = 4242;
    int64_t base = ringo_now();
    ringo_coro *h[NSLEEP];
    for (int i = 0; i < NSLEEP; i++) {
        sl_deadline[i] = base + (int64_t)(t_rand(&seed) % (50 * MS + 1));
        T_OK(ringo_go(sleeper, (void *)(intptr_t)i, &h[i]));
    }
    for (int i = 0; i < NSLEEP; i++)
        T_OK(ringo_join(h[i], io_deadline()));
    T_EQ(sl_n, NSLEEP);
    for (int k = 0; k < NSLEEP; k++) {
        int i = sl_order[k];
        if (sl_woke[i] < sl_deadline[i])
            T_FAIL("sleeper %d woke %lld ns early", i, (long long)(sl_deadline[i] - sl_woke[i]));
        if (k > 0 && sl_deadline[i] < sl_deadline[sl_order[k - 1]])
            T_FAIL("wake %d: sleeper %d (deadline +%lld us) after sleeper %d (+%lld us)", k, i,
                   (long long)((sl_deadline[i] - base) / 1000), sl_order[k - 1],
                   (long long)((sl_deadline[sl_order[k - 1]] - base) / 1000));
    }
    /* zero and negative-relative sleeps */
    T_EQ(ringo_sleep(0), 0);
    T_EQ(ringo_sleep_until(ringo_now() - SEC), 0);

    /* cancelled sleep */
    ringo_coro *lh;
    sl_res = 1;
    T_OK(ringo_go(long_sleeper, NULL, &lh));
    ringo_sleep(10 * MS);
    struct t_watch wd;
    t_watch_start(&wd, ringo_deadline_in(SEC));
    T_OK(ringo_cancel(lh));
    T_OK(ringo_join(lh, io_deadline()));
    T_ASSERT(t_watch_end(&wd));
    T_EQ(sl_res, -ECANCELED);
}

T_CASE(deadline_sleep_order_and_cancel, T_IO)
{
    t_run(1, sleep_order_main, NULL);
}

/* ---- write deadline with a peer that never reads ---- */

#define WBIG (64 * 1024 * 1024)

static void write_deadline_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    unsigned char *big = malloc(WBIG);
    T_ASSERT(big);
    for (size_t i = 0; i < WBIG; i++)
        big[i] = (unsigned char)(i % 251);
    size_t written = (size_t)-1;
    int64_t t0 = ringo_now();
    struct t_watch wd;
    t_watch_start(&wd, t0 + 4 * SEC);
    ssize_t r = ringo_write_all(c, big, WBIG, &written, t0 + 200 * MS);
    int on_time = t_watch_end(&wd);
    int64_t dt = ringo_now() - t0;
    T_EQ(r, -ETIMEDOUT);
    if (dt < 200 * MS || !on_time)
        T_FAIL("write deadline of 200 ms expired after %lld ms (%s a 4 s timer)",
               (long long)(dt / MS), on_time ? "before" : "after");
    if (written == 0 || written >= WBIG)
        T_FAIL("*written = %zu after a partial write_all", written);

    /* single writes on the full socket time out with nothing sent (the
     * kernel may still find a little room now and then: count it) */
    int timed_out = 0;
    for (int i = 0; i < 200 && !timed_out; i++) {
        int nowait = i % 2 == 0;
        int64_t w0 = ringo_now();
        ssize_t n = ringo_write(c, big + written, 4096, nowait ? RINGO_NOWAIT : w0 + 30 * MS);
        if (n == -ETIMEDOUT) {
            if (!nowait && ringo_now() - w0 < 30 * MS)
                T_FAIL("write timed out early");
            timed_out = !nowait;
            continue;
        }
        T_ASSERT(n > 0);
        written += (size_t)n;
    }
    T_ASSERT(timed_out);

    /* the peer receives exactly `written` bytes, in order */
    T_OK(ringo_shutdown(c, SHUT_WR));
    size_t got = 0;
    static unsigned char buf[256 * 1024];
    for (;;) {
        ssize_t n = ringo_read(s, buf, sizeof(buf), io_deadline());
        T_OK(n);
        if (n == 0)
            break;
        if (got + (size_t)n > written)
            T_FAIL("peer received more (%zu) than *written (%zu)", got + (size_t)n, written);
        if (memcmp(buf, big + got, (size_t)n) != 0)
            T_FAIL("peer data differs in [%zu, %zu)", got, got + (size_t)n);
        got += (size_t)n;
    }
    T_EQ(got, written);
    free(big);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_write_all_partial, T_IO)
{
    t_run(1, write_deadline_main, NULL);
}

/* ---- read_full reports what it got before the deadline ---- */

static void read_full_deadline_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    T_EQ(ringo_write_all(s, "abcd", 4, NULL, io_deadline()), 4);
    char buf[10];
    size_t got = 99;
    int64_t t0 = ringo_now();
    T_EQ(ringo_read_full(c, buf, sizeof(buf), &got, t0 + 50 * MS), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 50 * MS);
    T_EQ(got, 4);
    T_ASSERT(memcmp(buf, "abcd", 4) == 0);
    /* the rest arrives later and is read whole; then the short count at
     * end of stream */
    T_EQ(ringo_write_all(s, "efghij", 6, NULL, io_deadline()), 6);
    T_OK(ringo_close(s));
    T_EQ(ringo_read_full(c, buf, sizeof(buf), &got, io_deadline()), 6);
    T_EQ(got, 6);
    T_ASSERT(memcmp(buf, "efghij", 6) == 0);
    T_OK(ringo_close(c));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_read_full_reports_partial, T_IO)
{
    t_run(1, read_full_deadline_main, NULL);
}

/* ---- cancelling a write_all that is stuck on a full socket ---- */

static struct {
    int fd;
    unsigned char *big;
    ssize_t res;
    size_t written;
} cw;

static void cancel_writer(void *arg)
{
    (void)arg;
    cw.res = ringo_write_all(cw.fd, cw.big, WBIG, &cw.written, RINGO_FOREVER);
}

static void cancel_write_main(void *arg)
{
    (void)arg;
    int lfd, c, s;
    tcp_pair(&lfd, &c, &s);
    cw.big = malloc(WBIG);
    T_ASSERT(cw.big);
    for (size_t i = 0; i < WBIG; i++)
        cw.big[i] = (unsigned char)(i % 253);
    cw.fd = c;
    cw.res = 1;
    cw.written = (size_t)-1;
    ringo_coro *h;
    T_OK(ringo_go(cancel_writer, NULL, &h));
    ringo_sleep(150 * MS);
    T_EQ(cw.res, 1); /* still stuck */
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(cw.res, -ECANCELED);
    if (cw.written == 0 || cw.written >= WBIG)
        T_FAIL("*written = %zu after a cancelled write_all", cw.written);
    T_OK(ringo_shutdown(c, SHUT_WR));
    static unsigned char buf[256 * 1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = ringo_read(s, buf, sizeof(buf), io_deadline());
        T_OK(n);
        if (n == 0)
            break;
        if (got + (size_t)n > cw.written)
            T_FAIL("peer received more (%zu) than *written (%zu)", got + (size_t)n, cw.written);
        if (memcmp(buf, cw.big + got, (size_t)n) != 0)
            T_FAIL("peer data differs in [%zu, %zu)", got, got + (size_t)n);
        got += (size_t)n;
    }
    T_EQ(got, cw.written);
    free(cw.big);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(lfd));
}

T_CASE(deadline_cancel_write_all_partial, T_IO)
{
    t_run(1, cancel_write_main, NULL);
}

/* ---- deadlines on descriptors from outside ringo ---- */

/* net.h: fds from elsewhere work on both backends once passed through
 * ringo_fd_prepare (epoll needs O_NONBLOCK); O_NONBLOCK fds work even
 * without it (io_uring polls and retries). A read with a deadline on such
 * an fd must time out. A helper thread writes to the peer after 1.5 s so that a worker
 * stuck in a blocking read(2) ends the case with a message, not a hang. */

static int ff_peer, ff_kick[2];
static void *late_writer(void *arg)
{
    (void)arg;
    /* after 1.5 s, or at once when the test kicks us */
    struct pollfd p = {ff_kick[0], POLLIN, 0};
    poll(&p, 1, 1500);
    ssize_t n = write(ff_peer, "L", 1);
    (void)n;
    return NULL;
}

static int ff_nonblock;
static void foreign_main(void *arg)
{
    (void)arg;
    int sv[2];
    int type = SOCK_STREAM | SOCK_CLOEXEC | (ff_nonblock ? SOCK_NONBLOCK : 0);
    T_ASSERT(socketpair(AF_UNIX, type, 0, sv) == 0);
    ff_peer = sv[1];
    T_ASSERT(pipe2(ff_kick, O_CLOEXEC) == 0);
    pthread_t th;
    T_ASSERT(pthread_create(&th, NULL, late_writer, NULL) == 0);
    char buf[8];
    if (!ff_nonblock)
        T_OK(ringo_fd_prepare(sv[0]));
    int64_t t0 = ringo_now();
    struct t_watch wd;
    t_watch_start(&wd, t0 + SEC);
    ssize_t r = ringo_read(sv[0], buf, sizeof(buf), t0 + 50 * MS);
    int on_time = t_watch_end(&wd);
    int64_t dt = ringo_now() - t0;
    T_EQ(write(ff_kick[1], "k", 1), 1);
    pthread_join(th, NULL);
    close(ff_kick[0]);
    close(ff_kick[1]);
    if (r != -ETIMEDOUT || !on_time)
        T_FAIL("read with a 50 ms deadline on a foreign %s socket returned %zd (%s) after %lld "
               "ms [%s]",
               ff_nonblock ? "O_NONBLOCK" : "blocking", r, ringo_err_name((int)r),
               (long long)(dt / MS), ringo_backend_name());
    /* once prepared for the backend, reads work as for ringo's sockets */
    T_OK(ringo_fd_prepare(sv[0]));
    T_EQ(ringo_read(sv[0], buf, sizeof(buf), io_deadline()), 1);
    T_EQ(buf[0], 'L');
    T_EQ(ringo_read(sv[0], buf, sizeof(buf), ringo_deadline_in(30 * MS)), -ETIMEDOUT);
    T_EQ(write(sv[1], "xy", 2), 2);
    T_EQ(ringo_read_full(sv[0], buf, 2, NULL, io_deadline()), 2);
    T_OK(ringo_close(sv[0]));
    close(sv[1]);
}

T_CASE(deadline_foreign_nonblocking_fd, T_IO)
{
    ff_nonblock = 1;
    t_run(1, foreign_main, NULL);
}

T_CASE(deadline_foreign_blocking_fd, T_IO)
{
    ff_nonblock = 0;
    t_run(1, foreign_main, NULL);
}
