/* Stopping on signals with the default handle_signals: SIGINT/SIGTERM drain
 * a server (ringo_stop_wait and the HTTP server's watcher) instead of
 * cancelling everything, a second one forces the stop, and ringo_main
 * returns what the program reported (ringo_set_exit_status) or 128 + signo
 * after a forced stop. Each case runs its own ringo_main with the signal
 * thread on, and signals itself with kill(getpid(), ...). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "http_client.h"
#include "t.h"

#define SEC (1000000000LL)

#define TC_SEND(c, lit) tc_send((c), (lit), sizeof(lit) - 1)

static ringo_config signal_cfg(int workers)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = workers;
    cfg.handle_signals = 1; /* the default, said out loud */
    return cfg;
}

/* ---- a server whose /slow handler waits until the test opens a gate ---- */

struct gated {
    ringo_http_server *s;
    int port;
    ringo_chan *inflight; /* the handler says it has started */
    ringo_chan *gate;     /* the test lets it answer */
    _Atomic int handler_result;
};

static struct gated g;

static int fast(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    return ringo_http_body_static(resp, "fast", 4);
}

static int slow(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    int one = 1;
    ringo_chan_send(g.inflight, &one, ringo_deadline_in(10 * SEC));
    int r = ringo_chan_recv(g.gate, &one, RINGO_FOREVER);
    atomic_store(&g.handler_result, r);
    if (r < 0)
        return r;
    return ringo_http_body_static(resp, "slow done", 9);
}

static void gated_start(int64_t grace_ns)
{
    ringo_http_config hc;
    ringo_http_config_init(&hc);
    hc.shutdown_grace_ns = grace_ns;
    T_OK(ringo_http_server_new(&hc, &g.s));
    T_OK(ringo_http_route(g.s, "GET", "/fast", 0, fast, NULL));
    T_OK(ringo_http_route(g.s, "GET", "/slow", 0, slow, NULL));
    T_OK(ringo_chan_new(&g.inflight, sizeof(int), 1));
    T_OK(ringo_chan_new(&g.gate, sizeof(int), 1));
    atomic_store(&g.handler_result, 1);
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    T_OK(ringo_http_start(g.s, &a, &g.port));
}

/* Read until EOF (the server closed), within a deadline long enough for a
 * loaded machine. Returns 1 at EOF or reset, 0 if data came, -errno. */
static int wait_eof(struct tc_conn *c)
{
    char b[256];
    ssize_t n = ringo_read(c->fd, b, sizeof(b), ringo_deadline_in(20 * SEC));
    if (n == 0 || n == -ECONNRESET)
        return 1;
    return n > 0 ? 0 : (int)n;
}

/* An idle keep-alive connection that has had one answer, and a request in
 * flight in the gated handler. */
static void idle_and_inflight(struct tc_conn *idle, struct tc_conn *busy)
{
    tc_connect(idle, g.port);
    TC_SEND(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    struct tc_resp r;
    T_OK(tc_read(idle, &r, false));
    T_EQ(r.status, 200);
    T_ASSERT(!r.close);
    tc_resp_free(&r);
    tc_connect(busy, g.port);
    TC_SEND(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    int one;
    T_OK(ringo_chan_recv(g.inflight, &one, ringo_deadline_in(20 * SEC)));
}

/* ---- SIGINT drains: the request in flight is answered ---- */

static _Atomic int drain_checked;

static void drain_client(void *arg)
{
    (void)arg;
    struct tc_conn *idle = malloc(sizeof(*idle)), *busy = malloc(sizeof(*busy));
    idle_and_inflight(idle, busy);

    T_EQ(ringo_stop_wait(RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(kill(getpid(), SIGINT), 0);

    /* the drain closes the idle connection ... */
    T_EQ(wait_eof(idle), 1);
    T_EQ(ringo_stop_wait(RINGO_NOWAIT), SIGINT);
    T_ASSERT(!ringo_stopping()); /* a drain, not a stop */
    /* ... and stops accepting, while the request is still held */
    ringo_addr a;
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", g.port);
    T_OK(ringo_addr_parse(&a, text));
    int64_t end = ringo_deadline_in(20 * SEC);
    int fd;
    while (((fd = ringo_tcp_connect(&a, end)) >= 0 || fd == -ECONNRESET) && ringo_now() < end) {
        /* a listener not closed yet (another worker's), or one closed
         * with our connection in its backlog (a reset): look again soon */
        if (fd >= 0)
            ringo_close(fd);
        ringo_sleep(2 * 1000000);
    }
    T_EQ(fd, -ECONNREFUSED);
    T_EQ(atomic_load(&g.handler_result), 1); /* still waiting */

    /* the request in flight gets its whole answer, then the close */
    int one = 1;
    T_OK(ringo_chan_send(g.gate, &one, ringo_deadline_in(10 * SEC)));
    struct tc_resp r;
    T_OK(tc_read(busy, &r, false));
    T_EQ(r.status, 200);
    T_ASSERT(!strcmp(r.body, "slow done"));
    T_ASSERT(r.close);
    tc_resp_free(&r);
    T_EQ(wait_eof(busy), 1);
    tc_close(idle);
    tc_close(busy);
    free(idle);
    free(busy);
    atomic_store(&drain_checked, 1);
}

static void drain_main(void *arg)
{
    (void)arg;
    gated_start(60 * SEC); /* only the test may end the drain */
    ringo_coro *h;
    T_OK(ringo_go(drain_client, NULL, &h));
    /* the README's shape: wait until the server has shut down */
    T_EQ(ringo_http_wait(g.s), 0);
    T_OK(ringo_join(h, ringo_deadline_in(20 * SEC)));
    T_EQ(ringo_http_shutdown(g.s, RINGO_FOREVER), 0); /* already done: at once */
    ringo_http_server_free(g.s);
    ringo_chan_free(g.inflight);
    ringo_chan_free(g.gate);
}

T_CASE(signal_sigint_drains_http_server, T_IO)
{
    ringo_config cfg = signal_cfg(2);
    T_EQ(ringo_main(&cfg, drain_main, NULL), 0); /* drained, main returned: 0 */
    T_EQ(atomic_load(&drain_checked), 1);
}

/* ---- ringo_http_serve (the README's call) returns after the drain ---- */

static _Atomic int serve_result = 1;

static void serve_client(void *arg)
{
    (void)arg;
    struct tc_conn *idle = malloc(sizeof(*idle)), *busy = malloc(sizeof(*busy));
    idle_and_inflight(idle, busy);
    T_EQ(kill(getpid(), SIGTERM), 0);
    T_EQ(wait_eof(idle), 1);
    int one = 1;
    T_OK(ringo_chan_send(g.gate, &one, ringo_deadline_in(10 * SEC)));
    struct tc_resp r;
    T_OK(tc_read(busy, &r, false));
    T_EQ(r.status, 200);
    T_ASSERT(!strcmp(r.body, "slow done"));
    tc_resp_free(&r);
    tc_close(idle);
    tc_close(busy);
    free(idle);
    free(busy);
}

static void serve_main(void *arg)
{
    (void)arg;
    ringo_http_config hc;
    ringo_http_config_init(&hc);
    T_OK(ringo_http_server_new(&hc, &g.s));
    T_OK(ringo_http_route(g.s, "GET", "/fast", 0, fast, NULL));
    T_OK(ringo_http_route(g.s, "GET", "/slow", 0, slow, NULL));
    T_OK(ringo_chan_new(&g.inflight, sizeof(int), 1));
    T_OK(ringo_chan_new(&g.gate, sizeof(int), 1));
    atomic_store(&g.handler_result, 1);
    /* find a free port first: ringo_http_serve does not tell its port */
    ringo_addr a;
    int lfd = t_listen(&a);
    g.port = ringo_addr_port(&a);
    T_OK(ringo_close(lfd));
    ringo_coro *h;
    T_OK(ringo_go(serve_client, NULL, &h));
    atomic_store(&serve_result, ringo_http_serve(g.s, &a));
    T_OK(ringo_join(h, ringo_deadline_in(20 * SEC)));
    ringo_http_server_free(g.s);
    ringo_chan_free(g.inflight);
    ringo_chan_free(g.gate);
}

T_CASE(signal_sigterm_ends_http_serve_after_drain, T_IO)
{
    ringo_config cfg = signal_cfg(2);
    T_EQ(ringo_main(&cfg, serve_main, NULL), 0);
    T_EQ(atomic_load(&serve_result), 0);
}

/* ---- a second SIGINT during a stuck drain forces the stop ---- */

static _Atomic int forced_wait_result = 1;

static void stuck_client(void *arg)
{
    (void)arg;
    static struct tc_conn idle, busy;
    idle_and_inflight(&idle, &busy);
    T_EQ(kill(getpid(), SIGINT), 0);
    /* the first signal has been taken: the drain closed the idle one */
    T_EQ(wait_eof(&idle), 1);
    T_ASSERT(!ringo_stopping());
    T_EQ(kill(getpid(), SIGINT), 0);
    /* the stop cancels us too */
    T_EQ(ringo_sleep_until(RINGO_FOREVER), -ECANCELED);
}

static void stuck_main(void *arg)
{
    (void)arg;
    gated_start(60 * SEC); /* the handler never finishes by itself */
    T_OK(ringo_go(stuck_client, NULL, NULL));
    /* cancelled by the forced stop, it returns once every coroutine of
     * the server has ended, so the server may be freed at once (ASan
     * checks that none touches it later) */
    atomic_store(&forced_wait_result, ringo_http_wait(g.s));
    ringo_http_server_free(g.s);
    ringo_chan_free(g.inflight);
    ringo_chan_free(g.gate);
}

T_CASE(signal_second_sigint_forces_stop, T_IO)
{
    ringo_config cfg = signal_cfg(2);
    int64_t t0 = ringo_now();
    T_EQ(ringo_main(&cfg, stuck_main, NULL), 128 + SIGINT);
    /* -ECANCELED, or 0 when the cancelled connection ended the drain
     * before the stop reached main's worker: either way all had ended */
    int r = atomic_load(&forced_wait_result);
    T_ASSERT(r == -ECANCELED || r == 0);
    T_EQ(atomic_load(&g.handler_result), -ECANCELED); /* cancelled, not released */
    T_ASSERT(ringo_now() - t0 < 50 * SEC);            /* well before the 60 s grace */
}

/* ---- ringo_stop_wait and ringo_stop_graceful without a server ---- */

static _Atomic int waiter_got = 1;

static void waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiter_got, ringo_stop_wait(RINGO_FOREVER));
}

static void stop_wait_main(void *arg)
{
    int sig = (int)(intptr_t)arg;
    T_EQ(ringo_stop_wait(ringo_deadline_in(1000000)), -ETIMEDOUT);
    ringo_coro *h, *other;
    T_OK(ringo_go(waiter, NULL, &h));
    /* a second waiter on another worker, woken through its inbox */
    T_OK(ringo_go_on(1, waiter, NULL, &other));
    ringo_yield(); /* the local waiter runs and parks: a drain, not a stop */
    int64_t end = ringo_deadline_in(20 * SEC);
    /* the other one is woken, or finds the request when it first waits */
    if (sig)
        T_EQ(kill(getpid(), sig), 0);
    else
        T_EQ(ringo_stop_graceful(), 1);
    T_OK(ringo_join(h, end));
    T_OK(ringo_join(other, end));
    T_EQ(atomic_load(&waiter_got), sig);
    /* the request is sticky: later waits return at once */
    T_EQ(ringo_stop_wait(RINGO_FOREVER), sig);
    T_EQ(ringo_stop_graceful(), 1); /* one under way */
    T_ASSERT(!ringo_stopping());
}

T_CASE(signal_stop_wait_reports_sigterm, T_IO)
{
    ringo_config cfg = signal_cfg(2);
    T_EQ(ringo_main(&cfg, stop_wait_main, (void *)(intptr_t)SIGTERM), 0);
    T_EQ(atomic_load(&waiter_got), SIGTERM);
}

T_CASE(signal_stop_graceful_wakes_waiters, T_IO)
{
    ringo_config cfg = signal_cfg(2);
    T_EQ(ringo_main(&cfg, stop_wait_main, (void *)(intptr_t)0), 0);
    T_EQ(atomic_load(&waiter_got), 0);
}

/* Nobody waits in ringo_stop_wait: SIGTERM stops hard, as before. */
static _Atomic int hard_sleep = 1;

static void hard_main(void *arg)
{
    (void)arg;
    T_EQ(kill(getpid(), SIGTERM), 0);
    atomic_store(&hard_sleep, ringo_sleep_until(ringo_deadline_in(60 * SEC)));
}

T_CASE(signal_without_drainer_stops_hard, T_IO)
{
    ringo_config cfg = signal_cfg(1);
    T_EQ(ringo_main(&cfg, hard_main, NULL), 128 + SIGTERM);
    T_EQ(atomic_load(&hard_sleep), -ECANCELED);
}

/* ringo_stop_graceful with nobody to drain is ringo_stop(); no signal, so
 * ringo_main returns 0. */
static void graceful_alone_main(void *arg)
{
    (void)arg;
    T_EQ(ringo_stop_graceful(), 0);
    T_ASSERT(ringo_stopping());
    T_EQ(ringo_stop_wait(RINGO_FOREVER), -ECANCELED);
}

T_CASE(signal_stop_graceful_without_drainer_stops, T_IO)
{
    ringo_config cfg = signal_cfg(1);
    T_EQ(ringo_main(&cfg, graceful_alone_main, NULL), 0);
}

/* ---- ringo_main's result ---- */

static void fail_main(void *arg)
{
    (void)arg;
    T_OK(ringo_set_exit_status(7));
    T_OK(ringo_set_exit_status(-EADDRINUSE)); /* the last one wins */
}

static void set_on_other(void *arg)
{
    (void)arg;
    T_OK(ringo_set_exit_status(3));
}

static void fail_other_main(void *arg)
{
    (void)arg;
    ringo_coro *h;
    T_OK(ringo_go_on(1, set_on_other, NULL, &h));
    T_OK(ringo_join(h, RINGO_FOREVER));
}

/* a status set during a forced stop beats 128 + signo */
static void status_on_stop_main(void *arg)
{
    (void)arg;
    T_EQ(kill(getpid(), SIGINT), 0);
    if (ringo_sleep_until(ringo_deadline_in(60 * SEC)) == -ECANCELED)
        ringo_set_exit_status(9);
}

static void plain_main(void *arg)
{
    (void)arg;
}

static void exit_main(void *arg)
{
    (void)arg;
    ringo_set_exit_status(5);
    ringo_exit();
}

T_CASE(signal_main_result, T_IO)
{
    T_EQ(ringo_set_exit_status(1), -ESRCH); /* no runtime */
    T_EQ(ringo_stop_wait(RINGO_NOWAIT), -ESRCH);
    T_EQ(ringo_stop_graceful(), -ESRCH);
    ringo_config cfg = signal_cfg(2);
    T_EQ(ringo_main(&cfg, plain_main, NULL), 0);
    T_EQ(ringo_main(&cfg, fail_main, NULL), -EADDRINUSE);
    T_EQ(ringo_main(&cfg, fail_other_main, NULL), 3);
    T_EQ(ringo_main(&cfg, exit_main, NULL), 5);
    T_EQ(ringo_main(&cfg, status_on_stop_main, NULL), 9);
    /* one runtime's result does not leak into the next */
    T_EQ(ringo_main(&cfg, plain_main, NULL), 0);
}
