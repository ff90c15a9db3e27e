/* Who may listen on a port: RINGO_LISTEN_REUSEPORT groups take only this
 * process's own listeners (the kernel would let any process of the same
 * user join), RINGO_LISTEN_SHARED and ringo_http_config.share_port opt
 * into sharing, ringo_tcp_listen_join adds listeners to our own group, and
 * the HTTP server's group still spreads connections over the workers. The
 * other process is forked before this one starts its runtime. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "http_client.h"
#include "t.h"

#define SEC (1000000000LL)

static void addr_of_port(ringo_addr *a, int port)
{
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    T_OK(ringo_addr_parse(a, text));
}

/* ---- another process: a plain SO_REUSEPORT listener, or a ringo server ---- */

struct other {
    pid_t pid;
    int port;
    int quit_w; /* closing it ends the other process */
};

/* A foreign process of the same user with its own SO_REUSEPORT listener
 * on an ephemeral port (plain syscalls: what nginx's reuseport or a second
 * copy of any server does). */
static void other_raw_start(struct other *o)
{
    int ready[2], quit[2];
    T_ASSERT(pipe(ready) == 0 && pipe(quit) == 0);
    o->pid = fork();
    T_ASSERT(o->pid >= 0);
    if (o->pid == 0) {
        close(ready[0]);
        close(quit[1]);
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sin);
        int port = -1;
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
            bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 16) == 0 &&
            getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
            port = ntohs(sin.sin_port);
        if (write(ready[1], &port, sizeof(port)) != sizeof(port))
            _exit(2);
        char b;
        while (read(quit[0], &b, 1) > 0) {
        }
        _exit(0);
    }
    close(ready[1]);
    close(quit[0]);
    T_EQ(read(ready[0], &o->port, sizeof(o->port)), (ssize_t)sizeof(o->port));
    close(ready[0]);
    T_ASSERT(o->port > 0);
    o->quit_w = quit[1];
}

/* A second ringo process running ringo_http_start with share_port. */
static struct {
    int share;
    int port; /* 0: pick one */
    int ready_w, quit_r;
} oth;

static int ok_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    return ringo_http_body_static(resp, "other", 5);
}

static void other_ringo_main(void *arg)
{
    (void)arg;
    ringo_http_config hc;
    ringo_http_config_init(&hc);
    hc.share_port = oth.share;
    ringo_http_server *s;
    int port = -1, r = ringo_http_server_new(&hc, &s);
    if (r == 0)
        ringo_http_route(s, "GET", "/", 0, ok_handler, NULL);
    ringo_addr a;
    addr_of_port(&a, oth.port);
    if (r == 0 && (r = ringo_http_start(s, &a, &port)) < 0)
        port = r;
    if (write(oth.ready_w, &port, sizeof(port)) != sizeof(port))
        ringo_set_exit_status(3);
    char b;
    ringo_fd_prepare(oth.quit_r);
    while (ringo_read(oth.quit_r, &b, 1, RINGO_FOREVER) > 0) {
    }
    if (port > 0) {
        ringo_http_shutdown(s, RINGO_FOREVER);
    }
    if (r == 0)
        ringo_http_server_free(s);
}

/* Start it; returns the port it listens on, or the -errno it got. */
static int other_ringo_start(struct other *o, int share, int port)
{
    int ready[2], quit[2];
    T_ASSERT(pipe(ready) == 0 && pipe(quit) == 0);
    o->pid = fork();
    T_ASSERT(o->pid >= 0);
    if (o->pid == 0) {
        close(ready[0]);
        close(quit[1]);
        oth.share = share;
        oth.port = port;
        oth.ready_w = ready[1];
        oth.quit_r = quit[0];
        ringo_config cfg;
        ringo_config_init(&cfg);
        cfg.workers = 2;
        cfg.handle_signals = 0;
        int rc = ringo_main(&cfg, other_ringo_main, NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    close(ready[1]);
    close(quit[0]);
    int got = 0;
    T_EQ(read(ready[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    close(ready[0]);
    o->port = got;
    o->quit_w = quit[1];
    return got;
}

static void other_stop(struct other *o)
{
    close(o->quit_w);
    int status;
    T_EQ(waitpid(o->pid, &status, 0), o->pid);
    T_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- our side ---- */

struct trial {
    int port;
    int listen_reuseport, listen_plain, listen_shared; /* results */
    int http_default, http_shared;
};

static int http_try(int port, int share)
{
    ringo_http_config hc;
    ringo_http_config_init(&hc);
    hc.share_port = share;
    ringo_http_server *s;
    T_OK(ringo_http_server_new(&hc, &s));
    ringo_addr a;
    addr_of_port(&a, port);
    int got = 0, r = ringo_http_start(s, &a, &got);
    if (r == 0) {
        T_EQ(got, port);
        T_OK(ringo_http_shutdown(s, ringo_deadline_in(10 * SEC)));
    }
    ringo_http_server_free(s);
    return r;
}

static int listen_try(int port, int flags)
{
    ringo_addr a;
    addr_of_port(&a, port);
    int fd = ringo_tcp_listen(&a, 16, flags);
    if (fd >= 0) {
        ringo_close(fd);
        return 0;
    }
    return fd;
}

static void trial_main(void *arg)
{
    struct trial *t = arg;
    t->listen_reuseport = listen_try(t->port, RINGO_LISTEN_REUSEPORT);
    t->listen_plain = listen_try(t->port, 0);
    t->listen_shared = listen_try(t->port, RINGO_LISTEN_SHARED);
    t->http_default = http_try(t->port, 0);
    t->http_shared = http_try(t->port, 1);
}

static void run_trial(struct trial *t, int workers)
{
    t_run(workers, trial_main, t);
}

T_CASE(listen_refuses_foreign_reuseport_group, T_IO)
{
    struct other o;
    other_raw_start(&o);
    struct trial t = {.port = o.port};
    run_trial(&t, 2);
    T_EQ(t.listen_reuseport, -EADDRINUSE);
    T_EQ(t.listen_plain, -EADDRINUSE);
    T_EQ(t.listen_shared, 0); /* the opt-in */
    T_EQ(t.http_default, -EADDRINUSE);
    T_EQ(t.http_shared, 0);
    /* one worker: a listener without SO_REUSEPORT, refused by the kernel */
    struct trial one = {.port = o.port};
    run_trial(&one, 1);
    T_EQ(one.http_default, -EADDRINUSE);
    T_EQ(one.http_shared, 0);
    other_stop(&o);
}

/* A second ringo server on the port of a first: refused unless both opt
 * in; sharing ones both serve. */
T_CASE(listen_second_ringo_process_refused, T_IO)
{
    struct other o;
    int port = other_ringo_start(&o, 0, 0);
    T_ASSERT(port > 0);
    struct trial t = {.port = port};
    run_trial(&t, 2);
    T_EQ(t.http_default, -EADDRINUSE);
    T_EQ(t.listen_reuseport, -EADDRINUSE);
    other_stop(&o);

    /* both opt in: the second starts and both are in one group */
    port = other_ringo_start(&o, 1, 0);
    T_ASSERT(port > 0);
    struct other o2;
    T_EQ(other_ringo_start(&o2, 1, port), port);
    /* the one that did not opt in is still refused */
    struct trial t2 = {.port = port};
    run_trial(&t2, 2);
    T_EQ(t2.http_default, -EADDRINUSE);
    other_stop(&o2);
    other_stop(&o);
}

/* Our own group: more REUSEPORT listeners of this process join it, by
 * address (found among our descriptors) or by ringo_tcp_listen_join. */
static void own_group_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    int l1 = ringo_tcp_listen(&a, 16, RINGO_LISTEN_REUSEPORT);
    T_OK(l1);
    a.len = sizeof(a.ss);
    T_ASSERT(getsockname(l1, (struct sockaddr *)&a.ss, &a.len) == 0);
    int l2 = ringo_tcp_listen(&a, 16, RINGO_LISTEN_REUSEPORT);
    T_OK(l2);
    int l3 = ringo_tcp_listen_join(l1, 16);
    T_OK(l3);
    ringo_addr b;
    b.len = sizeof(b.ss);
    T_ASSERT(getsockname(l3, (struct sockaddr *)&b.ss, &b.len) == 0);
    T_EQ(ringo_addr_port(&b), ringo_addr_port(&a));
    /* a plain listener cannot join a group */
    T_EQ(ringo_tcp_listen(&a, 16, 0), -EADDRINUSE);

    /* bad input */
    T_EQ(ringo_tcp_listen(&a, 16, 0x100), -EINVAL);
    T_EQ(ringo_tcp_listen_join(-1, 16), -EBADF);
    int p[2];
    T_ASSERT(pipe(p) == 0);
    T_EQ(ringo_tcp_listen_join(p[0], 16), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
    ringo_addr c;
    int plain = t_listen(&c);
    T_EQ(ringo_tcp_listen_join(plain, 16), -EINVAL); /* no SO_REUSEPORT */
    ringo_close(plain);

    /* every member takes connections: connect until each has one */
    int lfds[3] = {l1, l2, l3};
    int got[3] = {0, 0, 0};
    for (int k = 0; k < 200 && !(got[0] && got[1] && got[2]); k++) {
        int fd = ringo_tcp_connect(&a, ringo_deadline_in(10 * SEC));
        T_OK(fd);
        for (int i = 0; i < 3; i++) {
            int s = ringo_accept(lfds[i], NULL, RINGO_NOWAIT);
            if (s >= 0) {
                got[i]++;
                ringo_close(s);
            }
        }
        ringo_close(fd);
    }
    /* (a connection not yet in any queue at the look is missed: harmless,
     * the next ones fill the gaps) */
    T_ASSERT(got[0] && got[1] && got[2]);

    ringo_close(l1);
    ringo_close(l2);
    ringo_close(l3);
    /* the port is free again */
    int l4 = ringo_tcp_listen(&a, 16, RINGO_LISTEN_REUSEPORT);
    T_OK(l4);
    ringo_close(l4);
}

T_CASE(listen_own_reuseport_group, T_IO)
{
    t_run(1, own_group_main, NULL);
}

/* A restart: connections of the earlier server in TIME_WAIT on the port
 * do not make the check refuse it (SO_REUSEADDR on the probe). */
static void time_wait_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    int l = ringo_tcp_listen(&a, 16, RINGO_LISTEN_REUSEPORT);
    T_OK(l);
    a.len = sizeof(a.ss);
    T_ASSERT(getsockname(l, (struct sockaddr *)&a.ss, &a.len) == 0);
    int c = ringo_tcp_connect(&a, ringo_deadline_in(10 * SEC));
    T_OK(c);
    int s = ringo_accept(l, NULL, ringo_deadline_in(10 * SEC));
    T_OK(s);
    /* the server side closes first: its end goes to TIME_WAIT */
    T_OK(ringo_close(s));
    char b;
    T_EQ(ringo_read(c, &b, 1, ringo_deadline_in(10 * SEC)), 0);
    T_OK(ringo_close(c));
    T_OK(ringo_close(l));
    l = ringo_tcp_listen(&a, 16, RINGO_LISTEN_REUSEPORT);
    T_OK(l);
    T_OK(ringo_close(l));
    T_EQ(http_try(ringo_addr_port(&a), 0), 0);
}

T_CASE(listen_after_time_wait, T_IO)
{
    t_run(2, time_wait_main, NULL);
}

/* The HTTP server's per-worker group spreads fresh connections over the
 * workers (the kernel hashes each connection's addresses and ports). */
#define SPREAD_WORKERS 2
#define SPREAD_CONNS   64

static int worker_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    char b[16];
    int n = snprintf(b, sizeof(b), "%d", ringo_worker_id());
    return ringo_http_body(resp, b, (size_t)n);
}

static void spread_main(void *arg)
{
    (void)arg;
    ringo_http_server *s;
    T_OK(ringo_http_server_new(NULL, &s));
    T_OK(ringo_http_route(s, "GET", "/w", 0, worker_handler, NULL));
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    int port;
    T_OK(ringo_http_start(s, &a, &port));
    int per[SPREAD_WORKERS] = {0};
    struct tc_conn *c = malloc(sizeof(*c));
    for (int i = 0; i < SPREAD_CONNS; i++) {
        tc_connect(c, port);
        tc_send(c, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", 29);
        struct tc_resp r;
        T_OK(tc_read(c, &r, false));
        T_EQ(r.status, 200);
        int w = atoi(r.body);
        T_ASSERT(w >= 0 && w < SPREAD_WORKERS);
        per[w]++;
        tc_resp_free(&r);
        tc_close(c);
    }
    free(c);
    /* all 64 on one worker: 2 in 2^64 if the kernel spreads at all */
    for (int i = 0; i < SPREAD_WORKERS; i++)
        T_ASSERT(per[i] > 0);
    T_OK(ringo_http_shutdown(s, ringo_deadline_in(10 * SEC)));
    ringo_http_server_free(s);
}

T_CASE(listen_http_group_spreads_over_workers, T_IO)
{
    t_run(SPREAD_WORKERS, spread_main, NULL);
}
