/* Accept paths: on io_uring one multishot accept per listener serves many
 * ringo_accept calls (connections nobody waits for yet are queued); on
 * epoll the same calls go through accept4. Same results on both. */
#include "t.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define SEC   1000000000LL
#define BURST 200

static ringo_addr acc_addr;
static int acc_lfd;

/* Clients: plain blocking sockets in the test's own coroutine would block
 * the worker, so connect through ringo and keep the fds. */
static int connect_n(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = ringo_tcp_connect(&acc_addr, ringo_deadline_in(5 * SEC));
        if (fds[i] < 0)
            return fds[i];
    }
    return 0;
}

static ringo_counters acc_stats;
static int acc_multishot; /* the backend reported multishot_accept */

static void burst_main(void *arg)
{
    (void)arg;
    acc_lfd = t_listen(&acc_addr);
    static int cli[BURST];
    /* all connect before anyone accepts: the backlog holds them, the
     * multishot (once armed) takes them in one go and queues past 64 */
    T_OK(connect_n(cli, BURST));
    static int srv[BURST];
    for (int i = 0; i < BURST; i++) {
        srv[i] = ringo_accept(acc_lfd, NULL, ringo_deadline_in(5 * SEC));
        T_OK(srv[i]);
    }
    /* every accepted socket is a distinct, working connection */
    for (int i = 0; i < BURST; i++) {
        char b = (char)i;
        T_EQ(ringo_write_all(cli[i], &b, 1, NULL, ringo_deadline_in(5 * SEC)), 1);
    }
    long sum = 0, want = 0;
    for (int i = 0; i < BURST; i++) {
        unsigned char b;
        T_EQ(ringo_read(srv[i], &b, 1, ringo_deadline_in(5 * SEC)), 1);
        sum += b;
        want += (unsigned char)i;
    }
    T_EQ(sum, want);
    /* nothing more is pending: the next accept times out, then works */
    T_EQ(ringo_accept(acc_lfd, NULL, ringo_deadline_in(50 * 1000000)), -ETIMEDOUT);
    int late;
    T_OK(connect_n(&late, 1));
    int s = ringo_accept(acc_lfd, NULL, ringo_deadline_in(5 * SEC));
    T_OK(s);
    T_OK(ringo_close(s));
    T_OK(ringo_close(late));
    for (int i = 0; i < BURST; i++) {
        T_OK(ringo_close(cli[i]));
        T_OK(ringo_close(srv[i]));
    }
    T_OK(ringo_stats(&acc_stats));
    struct ringo_backend_info info;
    T_OK(ringo_backend_info(&info));
    acc_multishot = strstr(info.features, "multishot_accept") != NULL;
    T_OK(ringo_close(acc_lfd));
}

T_CASE(accept_burst_nothing_lost, T_IO)
{
    t_run(1, burst_main, NULL);
    if (strcmp(t_backend(), "uring") == 0 && acc_multishot)
        /* one arm, plus re-arms after the queue ran past its high mark
         * and after the timed-out wait; far fewer than one per accept */
        T_ASSERT(acc_stats.accept_arms >= 1 && acc_stats.accept_arms < BURST / 4);
    else /* epoll, or io_uring without it (SQPOLL, RINGO_MULTISHOT_ACCEPT=0) */
        T_EQ(acc_stats.accept_arms, 0);
}

/* Closing a listener: a parked ringo_accept returns -ECANCELED, and the
 * connections queued but never taken are closed (their clients see the
 * end of the stream), not leaked. */
static int closer_lfd;
static void closer(void *arg)
{
    (void)arg;
    ringo_sleep(30 * 1000000);
    T_OK(ringo_close(closer_lfd));
}

static void close_main(void *arg)
{
    (void)arg;
    closer_lfd = t_listen(&acc_addr);
    /* a first accept arms the multishot (io_uring) */
    int c0;
    T_OK(connect_n(&c0, 1));
    int s0 = ringo_accept(closer_lfd, NULL, ringo_deadline_in(5 * SEC));
    T_OK(s0);
    /* two more connect and are queued by the kernel or by ringo */
    int c[2];
    T_OK(connect_n(c, 2));
    ringo_sleep(20 * 1000000);
    ringo_coro *h;
    T_OK(ringo_go(closer, NULL, &h));
    /* drain the two, then park: the close must end the wait */
    for (int i = 0; i < 2; i++) {
        int s = ringo_accept(closer_lfd, NULL, ringo_deadline_in(5 * SEC));
        T_OK(s);
        T_OK(ringo_close(s));
    }
    /* no deadline: only the close can end it (or the runner's timeout) */
    int r = ringo_accept(closer_lfd, NULL, RINGO_FOREVER);
    T_ASSERT(r == -ECANCELED || r == -EBADF);
    T_OK(ringo_join(h, RINGO_FOREVER));
    char b;
    for (int i = 0; i < 2; i++)
        T_EQ(ringo_read(c[i], &b, 1, ringo_deadline_in(5 * SEC)), 0);
    T_OK(ringo_close(s0));
    T_OK(ringo_close(c0));
    T_OK(ringo_close(c[0]));
    T_OK(ringo_close(c[1]));
}

T_CASE(accept_close_listener_cancels_waiter, T_IO)
{
    t_run(1, close_main, NULL);
}

/* Connections queued by ringo (accepted by the multishot, not yet taken)
 * when the listener is closed are closed too: the client reads EOF. */
static void queued_close_main(void *arg)
{
    (void)arg;
    int lfd = t_listen(&acc_addr);
    int c0, c1;
    T_OK(connect_n(&c0, 1));
    int s0 = ringo_accept(lfd, NULL, ringo_deadline_in(5 * SEC));
    T_OK(s0);
    T_OK(connect_n(&c1, 1));
    ringo_sleep(30 * 1000000); /* the multishot takes c1 into the queue */
    T_OK(ringo_close(lfd));
    char b;
    ssize_t r = ringo_read(c1, &b, 1, ringo_deadline_in(5 * SEC));
    T_ASSERT(r == 0 || r == -ECONNRESET);
    T_OK(ringo_close(c1));
    T_OK(ringo_close(s0));
    T_OK(ringo_close(c0));
}

T_CASE(accept_queued_connections_closed_with_listener, T_IO)
{
    t_run(1, queued_close_main, NULL);
}

/* An accept loop that keeps up with a stream of connections from another
 * worker: thousands of sequential connects, each accepted and counted.
 * (A multishot that stopped posting CQEs showed up only like this.) */
#define STREAM 3000
static _Atomic int stream_accepted;
static int stream_fds[STREAM];

static void stream_acceptor(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (int i = 0; i < STREAM; i++) {
        int fd = ringo_accept(lfd, NULL, ringo_deadline_in(10 * SEC));
        T_OK(fd);
        stream_fds[i] = fd;
        stream_accepted++;
    }
}

static void stream_main(void *arg)
{
    (void)arg;
    struct rlimit rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_max < 2 * STREAM + 100)
        T_SKIP("RLIMIT_NOFILE hard limit %llu too low", (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max;
    T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int lfd = t_listen(&acc_addr);
    ringo_coro *h;
    T_OK(ringo_go_on(1, stream_acceptor, (void *)(intptr_t)lfd, &h));
    static int cli[STREAM];
    T_OK(connect_n(cli, STREAM));
    T_OK(ringo_join(h, ringo_deadline_in(20 * SEC)));
    T_EQ(stream_accepted, STREAM);
    for (int i = 0; i < STREAM; i++)
        T_OK(ringo_close(cli[i]));
    T_OK(ringo_close(lfd));
}

T_CASE(accept_loop_keeps_up_with_connect_stream, T_IO | T_SLOW)
{
    t_run(2, stream_main, NULL);
}
