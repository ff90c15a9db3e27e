/* Network tests: echo integrity at 1000 connections, peer reset,
 * half-close, writes to a closed peer, IPv6, addresses, vectored I/O,
 * TCP_NODELAY on accepted sockets. */
#include "t.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SEC 1000000000LL
#define MS  1000000LL

/* Deadline for operations that must not hang: a failure instead of the
 * runner's timeout. */
static int64_t io_deadline(void)
{
    return ringo_deadline_in(20 * SEC);
}

/* ---- a small echo server used by several cases ---- */

static struct {
    int lfd;
    ringo_addr addr;
    ringo_coro *accepter;
    _Atomic long accepted;
    _Atomic long conns_done;
    _Atomic long long bytes_in;
    _Atomic long long bytes_out;
} srv;

static void srv_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16 * 1024];
    for (;;) {
        ssize_t n = ringo_read(fd, buf, sizeof(buf), RINGO_FOREVER);
        if (n <= 0)
            break;
        atomic_fetch_add(&srv.bytes_in, n);
        ssize_t w = ringo_write_all(fd, buf, (size_t)n, NULL, RINGO_FOREVER);
        if (w < 0)
            break;
        atomic_fetch_add(&srv.bytes_out, w);
    }
    ringo_close(fd);
    atomic_fetch_add(&srv.conns_done, 1);
}

static void srv_accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = ringo_accept(srv.lfd, NULL, RINGO_FOREVER);
        if (fd == -ECANCELED)
            break;
        T_OK(fd);
        atomic_fetch_add(&srv.accepted, 1);
        T_OK(ringo_go(srv_conn, (void *)(intptr_t)fd, NULL));
    }
}

/* Listener on 127.0.0.1 and an accept loop on the calling worker. */
static void srv_start(void)
{
    srv.lfd = t_listen(&srv.addr);
    T_OK(ringo_go(srv_accept_loop, NULL, &srv.accepter));
}

static void srv_stop(void)
{
    T_OK(ringo_cancel(srv.accepter));
    T_OK(ringo_join(srv.accepter, io_deadline()));
    T_OK(ringo_close(srv.lfd));
}

/* One message round trip through the echo server on fd. */
static void echo_check(int fd, const char *msg)
{
    size_t len = strlen(msg);
    char buf[256];
    T_EQ(ringo_write_all(fd, msg, len, NULL, io_deadline()), len);
    T_EQ(ringo_read_full(fd, buf, len, NULL, io_deadline()), len);
    T_ASSERT(memcmp(buf, msg, len) == 0);
}

/* ---- echo integrity: 1000 connections, random sizes ---- */

#define E_CLIENTS T_SCALE(1000, 250)
#define E_MAXMSG  (64 * 1024)
static unsigned char e_pattern[2 * E_MAXMSG];
static _Atomic long long e_sent, e_recv;
static _Atomic int e_ok;

static void e_client(void *arg)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)arg;
    t_rand(&seed);
    int fd = ringo_tcp_connect(&srv.addr, io_deadline());
    T_OK(fd);
    int nmsg = 2 + (int)(t_rand(&seed) % 3);
    for (int m = 0; m < nmsg; m++) {
        size_t len = 1 + (size_t)(t_rand(&seed) % E_MAXMSG);
        size_t off = (size_t)(t_rand(&seed) % E_MAXMSG);
        size_t wr = 0;
        T_EQ(ringo_write_all(fd, e_pattern + off, len, &wr, io_deadline()), len);
        T_EQ(wr, len);
        atomic_fetch_add(&e_sent, (long long)len);
        size_t got = 0;
        unsigned char buf[4096];
        while (got < len) {
            size_t want = len - got < sizeof(buf) ? len - got : sizeof(buf);
            ssize_t n = ringo_read(fd, buf, want, io_deadline());
            if (n <= 0)
                T_FAIL("client %ld msg %d: read at %zu/%zu returned %zd (%s)", (long)(uintptr_t)arg,
                       m, got, len, n, ringo_err_name((int)n));
            if (memcmp(buf, e_pattern + off + got, (size_t)n) != 0)
                T_FAIL("client %ld msg %d: echoed bytes differ in [%zu, %zu)", (long)(uintptr_t)arg,
                       m, got, got + (size_t)n);
            got += (size_t)n;
        }
        atomic_fetch_add(&e_recv, (long long)got);
    }
    /* the server closes after our close: it must not send anything more */
    T_OK(ringo_shutdown(fd, SHUT_WR));
    char extra;
    T_EQ(ringo_read(fd, &extra, 1, io_deadline()), 0);
    T_OK(ringo_close(fd));
    atomic_fetch_add(&e_ok, 1);
}

static void echo_integrity_main(void *arg)
{
    (void)arg;
    T_EQ(ringo_workers(), 2);
    srv_start();
    ringo_coro **h = calloc(E_CLIENTS, sizeof(*h));
    T_ASSERT(h);
    for (int i = 0; i < E_CLIENTS; i++)
        T_OK(ringo_go_on(i % 2, e_client, (void *)(intptr_t)i, &h[i]));
    for (int i = 0; i < E_CLIENTS; i++)
        T_OK(ringo_join(h[i], io_deadline()));
    free(h);
    T_EQ(atomic_load(&e_ok), E_CLIENTS);
    /* the server side finishes each connection after the client's FIN */
    int64_t end = ringo_deadline_in(10 * SEC);
    while (atomic_load(&srv.conns_done) < E_CLIENTS && ringo_now() < end)
        ringo_sleep(MS);
    T_EQ(atomic_load(&srv.accepted), E_CLIENTS);
    T_EQ(atomic_load(&srv.conns_done), E_CLIENTS);
    long long sent = atomic_load(&e_sent);
    T_ASSERT(sent > 0);
    T_EQ(atomic_load(&e_recv), sent);
    T_EQ(atomic_load(&srv.bytes_in), sent);
    T_EQ(atomic_load(&srv.bytes_out), sent);
    srv_stop();
}

T_CASE(net_echo_integrity_1000_conns, T_IO)
{
    struct rlimit rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t need = 2 * E_CLIENTS + 100;
    if (rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
            T_SKIP("RLIMIT_NOFILE hard limit %llu < %llu", (unsigned long long)rl.rlim_max,
                   (unsigned long long)need);
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            T_SKIP("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
    /* the expected totals are known in advance from the seeds */
    uint64_t s = 12345;
    for (size_t i = 0; i < sizeof(e_pattern); i++)
        e_pattern[i] = (unsigned char)(t_rand(&s) >> 56);
    t_run(2, echo_integrity_main, NULL);
}

/* ---- peer reset ---- */

static int reset_phase;

static void reset_reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    reset_phase = 1; /* about to park in the read */
    ssize_t n = ringo_read(fd, buf, sizeof(buf), io_deadline());
    T_EQ(n, -ECONNRESET);
    /* the error is reported once; then the stream is simply over */
    T_EQ(ringo_read(fd, buf, sizeof(buf), io_deadline()), 0);
    reset_phase = 2;
}

static void linger_close(int fd)
{
    struct linger lg = {1, 0};
    T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    T_OK(ringo_close(fd));
}

static void peer_reset_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);

    /* 1: the client is parked in a read when the RST arrives */
    static int cfd;
    cfd = ringo_tcp_connect(&a, io_deadline());
    T_OK(cfd);
    int sfd = ringo_accept(lfd, NULL, io_deadline());
    T_OK(sfd);
    ringo_coro *h;
    T_OK(ringo_go(reset_reader, &cfd, &h));
    ringo_sleep(20 * MS);
    T_EQ(reset_phase, 1);
    linger_close(sfd);
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(reset_phase, 2);
    T_OK(ringo_close(cfd));

    /* 2: the RST is already there when the client reads; a write after
     * the reset fails too */
    cfd = ringo_tcp_connect(&a, io_deadline());
    T_OK(cfd);
    sfd = ringo_accept(lfd, NULL, io_deadline());
    T_OK(sfd);
    linger_close(sfd);
    ringo_sleep(20 * MS);
    char buf[64];
    T_EQ(ringo_read(cfd, buf, sizeof(buf), io_deadline()), -ECONNRESET);
    T_EQ(ringo_read(cfd, buf, sizeof(buf), io_deadline()), 0);
    ssize_t w = ringo_write(cfd, "x", 1, io_deadline());
    T_ASSERT(w == -EPIPE || w == -ECONNRESET);
    T_OK(ringo_close(cfd));

    /* 3: the listener keeps serving */
    srv.lfd = lfd;
    srv.addr = a;
    T_OK(ringo_go(srv_accept_loop, NULL, &srv.accepter));
    cfd = ringo_tcp_connect(&a, io_deadline());
    T_OK(cfd);
    echo_check(cfd, "still serving after a reset");
    T_OK(ringo_close(cfd));
    srv_stop();
}

T_CASE(net_peer_reset, T_IO)
{
    t_run(1, peer_reset_main, NULL);
}

/* ---- half-close ---- */

#define HC_LEN (200 * 1000)
static const char hc_reply[] = "got it all";

static void half_close_server(void *arg)
{
    int lfd = *(int *)arg;
    int fd = ringo_accept(lfd, NULL, io_deadline());
    T_OK(fd);
    size_t total = 0;
    uint64_t sum = 0;
    unsigned char buf[8192];
    for (;;) {
        ssize_t n = ringo_read(fd, buf, sizeof(buf), io_deadline());
        T_OK(n);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum += (uint64_t)buf[i] * (total + (size_t)i + 1);
        total += (size_t)n;
    }
    T_EQ(total, HC_LEN);
    uint64_t want = 0;
    for (size_t i = 0; i < HC_LEN; i++)
        want += (uint64_t)(unsigned char)(i * 7) * (i + 1);
    T_EQ(sum, want);
    /* our side is still open for writing */
    T_EQ(ringo_write_all(fd, hc_reply, sizeof(hc_reply), NULL, io_deadline()), sizeof(hc_reply));
    T_OK(ringo_close(fd));
}

static void half_close_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    static int lfd;
    lfd = t_listen(&a);
    ringo_coro *h;
    T_OK(ringo_go(half_close_server, &lfd, &h));
    int fd = ringo_tcp_connect(&a, io_deadline());
    T_OK(fd);
    unsigned char *data = malloc(HC_LEN);
    T_ASSERT(data);
    for (size_t i = 0; i < HC_LEN; i++)
        data[i] = (unsigned char)(i * 7);
    T_EQ(ringo_write_all(fd, data, HC_LEN, NULL, io_deadline()), HC_LEN);
    free(data);
    T_OK(ringo_shutdown(fd, SHUT_WR));
    char buf[64];
    size_t got = 0;
    T_EQ(ringo_read_full(fd, buf, sizeof(hc_reply), &got, io_deadline()), sizeof(hc_reply));
    T_ASSERT(memcmp(buf, hc_reply, sizeof(hc_reply)) == 0);
    T_EQ(ringo_read(fd, buf, sizeof(buf), io_deadline()), 0);
    /* writing after our own SHUT_WR fails with EPIPE */
    T_EQ(ringo_write(fd, "x", 1, io_deadline()), -EPIPE);
    T_OK(ringo_join(h, io_deadline()));
    T_OK(ringo_close(fd));
    T_OK(ringo_close(lfd));
}

T_CASE(net_half_close, T_IO)
{
    t_run(1, half_close_main, NULL);
}

/* ---- writes to a closed peer ---- */

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

enum { W_WRITE_ALL, W_WRITE, W_SEND, W_WRITEV, W_KINDS };
static const char *w_names[] = {"ringo_write_all", "ringo_write", "ringo_send", "ringo_writev"};

static ssize_t write_kind(int kind, int fd, const char *buf, size_t len)
{
    switch (kind) {
    case W_WRITE_ALL:
        return ringo_write_all(fd, buf, len, NULL, io_deadline());
    case W_WRITE:
        return ringo_write(fd, buf, len, io_deadline());
    case W_SEND:
        return ringo_send(fd, buf, len, 0, io_deadline());
    default: {
        struct iovec iov[2] = {{(void *)buf, len / 2}, {(void *)(buf + len / 2), len - len / 2}};
        return ringo_writev(fd, iov, 2, io_deadline());
    }
    }
}

/* Connect, let the server close, write until the kernel reports the peer
 * gone. Returns the error. */
static ssize_t write_until_error(int lfd, const ringo_addr *a, int kind)
{
    int fd = ringo_tcp_connect(a, io_deadline());
    T_OK(fd);
    int sfd = ringo_accept(lfd, NULL, io_deadline());
    T_OK(sfd);
    T_OK(ringo_close(sfd));
    static char buf[4096];
    ssize_t r = 0;
    for (int i = 0; i < 200; i++) {
        r = write_kind(kind, fd, buf, sizeof(buf));
        if (r < 0)
            break;
        T_EQ(r, sizeof(buf));
        ringo_sleep(2 * MS);
    }
    T_OK(ringo_close(fd));
    return r;
}

static void closed_peer_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);
    for (int k = 0; k < W_KINDS; k++) {
        ssize_t r = write_until_error(lfd, &a, k);
        if (r != -EPIPE && r != -ECONNRESET)
            T_FAIL("%s to a closed peer returned %zd (%s), want EPIPE or ECONNRESET", w_names[k], r,
                   ringo_err_name((int)r));
    }
    T_OK(ringo_close(lfd));
}

T_CASE(net_write_to_closed_peer, T_IO)
{
    /* default config: SIGPIPE ignored by ringo; a SIGPIPE would kill us */
    signal(SIGPIPE, SIG_DFL);
    t_run(1, closed_peer_main, NULL);
}

/* The calls documented as never raising SIGPIPE must not, even when the
 * application keeps SIGPIPE (ignore_sigpipe = 0). */
static void nosigpipe_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);
    /* ringo_write is write(2): on a broken socket it raises SIGPIPE unless
     * SIGPIPE is ignored (net.h); send and write_all use MSG_NOSIGNAL */
    static const int kinds[] = {W_WRITE_ALL, W_SEND};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        int before = sigpipes;
        ssize_t r = write_until_error(lfd, &a, kinds[i]);
        if (r != -EPIPE && r != -ECONNRESET)
            T_FAIL("%s returned %zd (%s)", w_names[kinds[i]], r, ringo_err_name((int)r));
        if (sigpipes != before)
            T_FAIL("%s raised SIGPIPE (%d) with ignore_sigpipe = 0 [%s]", w_names[kinds[i]],
                   (int)(sigpipes - before), ringo_backend_name());
    }
    T_OK(ringo_close(lfd));
}

T_CASE(net_no_sigpipe_without_ignore, T_IO)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    T_ASSERT(sigaction(SIGPIPE, &sa, NULL) == 0);
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0;
    cfg.ignore_sigpipe = 0;
    T_OK(ringo_main(&cfg, nosigpipe_main, NULL));
    /* ringo left our handler alone */
    T_ASSERT(sigaction(SIGPIPE, NULL, &sa) == 0);
    T_ASSERT(sa.sa_handler == on_sigpipe);
}

/* ---- IPv6 loopback ---- */

static void ipv6_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "[::1]:0"));
    int lfd = ringo_tcp_listen(&a, 16, RINGO_LISTEN_V6ONLY);
    if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)
        T_SKIP("no IPv6 loopback: %s", ringo_err_name(lfd));
    T_OK(lfd);
    a.len = sizeof(a.ss);
    T_ASSERT(getsockname(lfd, (struct sockaddr *)&a.ss, &a.len) == 0);
    T_EQ(a.ss.ss_family, AF_INET6);
    int port = ringo_addr_port(&a);
    T_ASSERT(port > 0);
    char text[64], want[64];
    snprintf(want, sizeof(want), "[::1]:%d", port);
    T_EQ(ringo_addr_format(&a, text, sizeof(text)), strlen(want));
    T_ASSERT(strcmp(text, want) == 0);

    int cfd = ringo_tcp_connect(&a, io_deadline());
    T_OK(cfd);
    ringo_addr peer;
    memset(&peer, 0, sizeof(peer));
    int sfd = ringo_accept(lfd, &peer, io_deadline());
    T_OK(sfd);
    T_EQ(peer.ss.ss_family, AF_INET6);
    T_EQ(peer.len, sizeof(struct sockaddr_in6));
    T_ASSERT(ringo_addr_format(&peer, text, sizeof(text)) > 0);
    T_ASSERT(strncmp(text, "[::1]:", 6) == 0);
    T_EQ(ringo_write_all(cfd, "ping6", 5, NULL, io_deadline()), 5);
    char buf[8];
    T_EQ(ringo_read_full(sfd, buf, 5, NULL, io_deadline()), 5);
    T_ASSERT(memcmp(buf, "ping6", 5) == 0);
    T_EQ(ringo_write_all(sfd, "pong6", 5, NULL, io_deadline()), 5);
    T_EQ(ringo_read_full(cfd, buf, 5, NULL, io_deadline()), 5);
    T_ASSERT(memcmp(buf, "pong6", 5) == 0);
    T_OK(ringo_close(cfd));
    T_OK(ringo_close(sfd));
    T_OK(ringo_close(lfd));
}

T_CASE(net_ipv6_loopback, T_IO)
{
    t_run(1, ipv6_main, NULL);
}

/* ---- addresses (no I/O) ---- */

static void parse_ok(const char *in, int family, int port, const char *out)
{
    ringo_addr a;
    int r = ringo_addr_parse(&a, in);
    if (r != 0)
        T_FAIL("ringo_addr_parse(\"%s\") = %d (%s)", in, r, ringo_err_name(r));
    T_EQ(a.ss.ss_family, family);
    T_EQ(a.len, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    T_EQ(ringo_addr_port(&a), port);
    char buf[80];
    int n = ringo_addr_format(&a, buf, sizeof(buf));
    if (n != (int)strlen(out) || strcmp(buf, out) != 0)
        T_FAIL("format(parse(\"%s\")) = \"%s\" (%d), want \"%s\"", in, buf, n, out);
    /* and the formatted text parses back to the same address */
    ringo_addr b;
    T_EQ(ringo_addr_parse(&b, buf), 0);
    T_EQ(b.len, a.len);
    T_ASSERT(memcmp(&a.ss, &b.ss, a.len) == 0);
}

static void parse_bad(const char *in)
{
    ringo_addr a;
    int r = ringo_addr_parse(&a, in);
    if (r != -EINVAL)
        T_FAIL("ringo_addr_parse(\"%s\") = %d (%s), want -EINVAL", in ? in : "(null)", r,
               ringo_err_name(r));
}

T_CASE(net_addr_parse_format, 0)
{
    parse_ok("127.0.0.1:80", AF_INET, 80, "127.0.0.1:80");
    parse_ok("0.0.0.0:0", AF_INET, 0, "0.0.0.0:0");
    parse_ok("255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535");
    parse_ok("10.1.2.3:007", AF_INET, 7, "10.1.2.3:7");
    parse_ok("[::1]:8080", AF_INET6, 8080, "[::1]:8080");
    parse_ok("[::]:1", AF_INET6, 1, "[::]:1");
    parse_ok("[fe80::1:2]:443", AF_INET6, 443, "[fe80::1:2]:443");
    parse_ok("[2001:DB8:0:0:0:0:0:1]:53", AF_INET6, 53, "[2001:db8::1]:53");
    parse_ok("[::ffff:1.2.3.4]:5", AF_INET6, 5, "[::ffff:1.2.3.4]:5");
    parse_ok(":7000", AF_INET6, 7000, "[::]:7000");
    parse_ok("*:7001", AF_INET6, 7001, "[::]:7001");

    parse_bad(NULL);
    parse_bad("");
    parse_bad(":");
    parse_bad("127.0.0.1");
    parse_bad("127.0.0.1:");
    parse_bad("127.0.0.1:65536");
    parse_bad("127.0.0.1:-1");
    parse_bad("127.0.0.1:80x");
    parse_bad("127.0.0.1:0x50");
    parse_bad("127.0.0.1:99999999999999999999");
    parse_bad("256.0.0.1:80");
    parse_bad("1.2.3:80");
    parse_bad("localhost:80");
    parse_bad("::1:80");
    parse_bad("[::1]");
    parse_bad("[::1:80");
    parse_bad("::1]:80");
    parse_bad("[]:80");
    parse_bad("[1.2.3.4]:80");
    parse_bad("[::1]x:80");
    parse_bad("[fe80::1%lo]:80");
    parse_bad("[0123:4567:89ab:cdef:0123:4567:89ab:cdef:1]:80");
    parse_bad("[aaaa:bbbb:cccc:dddd:eeee:ffff:1111:2222:3333:4444]:80");
    parse_bad("**:80");
    T_EQ(ringo_addr_parse(NULL, "1.2.3.4:5"), -EINVAL);

    /* formatting: snprintf-style truncation and unknown families */
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "192.168.100.200:12345"));
    char small[8];
    memset(small, 'Z', sizeof(small));
    T_EQ(ringo_addr_format(&a, small, sizeof(small)), strlen("192.168.100.200:12345"));
    T_ASSERT(strcmp(small, "192.168") == 0);
    T_EQ(ringo_addr_format(&a, NULL, 0), strlen("192.168.100.200:12345"));
    ringo_addr none;
    memset(&none, 0, sizeof(none));
    none.ss.ss_family = AF_UNIX;
    char buf[16] = "junk";
    T_EQ(ringo_addr_format(&none, buf, sizeof(buf)), -EAFNOSUPPORT);
    T_EQ(buf[0], 0);
    T_EQ(ringo_addr_port(&none), -EAFNOSUPPORT);
}

/* Port text must be plain digits: strtol alone would accept leading
 * blanks and signs. */
T_CASE(net_addr_parse_rejects_signs_and_blanks, 0)
{
    parse_bad("127.0.0.1: 80");
    parse_bad("127.0.0.1:+80");
    parse_bad("127.0.0.1:-0");
    parse_bad("[::1]:\t80");
}

/* ---- readv / writev ---- */

static void vec_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);
    int cfd = ringo_tcp_connect(&a, io_deadline());
    T_OK(cfd);
    int sfd = ringo_accept(lfd, NULL, io_deadline());
    T_OK(sfd);

    static unsigned char src[9404], dst[9404];
    uint64_t s = 77;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)t_rand(&s);
    /* out: 1 + 7 + 300 + 4096 + 5000 bytes in five pieces */
    static const size_t out_split[] = {1, 7, 300, 4096, 5000};
    struct iovec out[5];
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        out[i].iov_base = src + off;
        out[i].iov_len = out_split[i];
        off += out_split[i];
    }
    T_EQ(off, sizeof(src));
    T_EQ(ringo_writev(cfd, out, 5, io_deadline()), sizeof(src));

    /* in: a different split, looping over short reads */
    static const size_t in_split[] = {10, 3990, 5404};
    size_t got = 0;
    while (got < sizeof(dst)) {
        struct iovec in[3];
        int cnt = 0;
        size_t base = 0;
        for (int i = 0; i < 3; i++) {
            size_t lo = base, hi = base + in_split[i];
            base = hi;
            if (hi <= got)
                continue;
            size_t from = got > lo ? got : lo;
            in[cnt].iov_base = dst + from;
            in[cnt].iov_len = hi - from;
            cnt++;
        }
        ssize_t n = ringo_readv(sfd, in, cnt, io_deadline());
        T_ASSERT(n > 0);
        got += (size_t)n;
    }
    T_EQ(got, sizeof(dst));
    T_ASSERT(memcmp(src, dst, sizeof(src)) == 0);

    /* back the other way: three pieces, read into two (the first may be
     * empty near the end: a zero-length iovec is fine) */
    struct iovec back[3] = {{dst, 1}, {dst + 1, 9000}, {dst + 9001, 403}};
    T_EQ(ringo_writev(sfd, back, 3, io_deadline()), sizeof(dst));
    memset(src, 0, sizeof(src));
    got = 0;
    while (got < sizeof(src)) {
        size_t left = sizeof(src) - got;
        struct iovec in[2] = {{src + got, left / 2}, {src + got + left / 2, left - left / 2}};
        ssize_t n = ringo_readv(cfd, in, 2, io_deadline());
        T_ASSERT(n > 0);
        got += (size_t)n;
    }
    T_ASSERT(memcmp(src, dst, sizeof(src)) == 0);

    /* the iovec count is checked */
    T_EQ(ringo_readv(cfd, back, -1, io_deadline()), -EINVAL);
    T_EQ(ringo_writev(cfd, back, 1 << 20, io_deadline()), -EINVAL);

    /* end of stream through readv */
    T_OK(ringo_close(sfd));
    struct iovec one = {dst, sizeof(dst)};
    T_EQ(ringo_readv(cfd, &one, 1, io_deadline()), 0);
    T_OK(ringo_close(cfd));
    T_OK(ringo_close(lfd));
}

T_CASE(net_readv_writev, T_IO)
{
    t_run(1, vec_main, NULL);
}

/* ---- TCP_NODELAY ---- */

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof(v);
    T_ASSERT(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    return v;
}

static void nodelay_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    int lfd = t_listen(&a);
    T_ASSERT(nodelay(lfd) != 0);
    for (int i = 0; i < 3; i++) {
        int cfd = ringo_tcp_connect(&a, io_deadline());
        T_OK(cfd);
        int sfd = ringo_accept(lfd, NULL, io_deadline());
        T_OK(sfd);
        T_ASSERT(nodelay(cfd) != 0);
        T_ASSERT(nodelay(sfd) != 0);
        T_OK(ringo_close(cfd));
        T_OK(ringo_close(sfd));
    }
    /* also over IPv6 when there is an IPv6 loopback */
    ringo_addr a6;
    T_OK(ringo_addr_parse(&a6, "[::1]:0"));
    int l6 = ringo_tcp_listen(&a6, 16, 0);
    if (l6 >= 0) {
        a6.len = sizeof(a6.ss);
        T_ASSERT(getsockname(l6, (struct sockaddr *)&a6.ss, &a6.len) == 0);
        int cfd = ringo_tcp_connect(&a6, io_deadline());
        T_OK(cfd);
        int sfd = ringo_accept(l6, NULL, io_deadline());
        T_OK(sfd);
        T_ASSERT(nodelay(sfd) != 0);
        T_OK(ringo_close(cfd));
        T_OK(ringo_close(sfd));
        T_OK(ringo_close(l6));
    }
    T_OK(ringo_close(lfd));
}

T_CASE(net_accepted_sockets_have_nodelay, T_IO)
{
    t_run(1, nodelay_main, NULL);
}

/* ---- plain errors: refused connects, bad descriptors ---- */

static void errors_main(void *arg)
{
    (void)arg;
    /* a port nobody listens on: bind one, never listen */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(probe >= 0);
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    T_ASSERT(bind(probe, (struct sockaddr *)&a.ss, a.len) == 0);
    a.len = sizeof(a.ss);
    T_ASSERT(getsockname(probe, (struct sockaddr *)&a.ss, &a.len) == 0);
    int lowest = dup(0);
    close(lowest);
    for (int i = 0; i < 3; i++) {
        int r = ringo_tcp_connect(&a, ringo_deadline_in(2 * SEC));
        if (r != -ECONNREFUSED)
            T_FAIL("connect #%d to a closed port: %d (%s), want -ECONNREFUSED [%s]", i + 1, r,
                   ringo_err_name(r), ringo_backend_name());
    }
    /* no descriptor left behind */
    int now = dup(0);
    close(now);
    T_EQ(now, lowest);
    close(probe);

    char buf[4];
    int closed_fd = lowest; /* not open */
    T_EQ(ringo_read(closed_fd, buf, sizeof(buf), io_deadline()), -EBADF);
    T_EQ(ringo_write(closed_fd, "x", 1, io_deadline()), -EBADF);
    T_EQ(ringo_accept(closed_fd, NULL, io_deadline()), -EBADF);
    T_EQ(ringo_close(closed_fd), -EBADF);
    T_EQ(ringo_close(-1), -EBADF);
    T_EQ(ringo_tcp_connect(NULL, io_deadline()), -EINVAL);
    T_EQ(ringo_tcp_listen(NULL, 1, 0), -EINVAL);

    /* accept on a socket that is not listening */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(s >= 0);
    T_OK(ringo_fd_prepare(s));
    T_EQ(ringo_accept(s, NULL, ringo_deadline_in(SEC)), -EINVAL);
    T_OK(ringo_close(s));

    /* a second listener on the same address: SO_REUSEADDR does not allow
     * two listeners */
    ringo_addr l;
    int lfd = t_listen(&l);
    T_EQ(ringo_tcp_listen(&l, 1, 0), -EADDRINUSE);
    T_OK(ringo_close(lfd));
}

T_CASE(net_errors, T_IO)
{
    t_run(1, errors_main, NULL);
}

/* Outside a coroutine the blocking calls say so instead of blocking. */
T_CASE(net_calls_outside_coroutine, 0)
{
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:1"));
    char buf[4];
    T_EQ(ringo_read(0, buf, sizeof(buf), RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_write(1, "x", 1, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_accept(0, NULL, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_tcp_connect(&a, RINGO_FOREVER), RINGO_ENOTINCORO);
    size_t w = 77;
    T_EQ(ringo_write_all(1, "x", 1, &w, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(w, 0);
}

/* A client retrying: a refused connect, then a connect to a live
 * listener (the new socket reuses the failed one's descriptor number). */
static void retry_main(void *arg)
{
    (void)arg;
    ringo_addr live;
    int lfd = t_listen(&live);
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ringo_addr dead;
    T_OK(ringo_addr_parse(&dead, "127.0.0.1:0"));
    T_ASSERT(bind(probe, (struct sockaddr *)&dead.ss, dead.len) == 0);
    dead.len = sizeof(dead.ss);
    T_ASSERT(getsockname(probe, (struct sockaddr *)&dead.ss, &dead.len) == 0);
    for (int i = 0; i < 3; i++) {
        T_EQ(ringo_tcp_connect(&dead, ringo_deadline_in(2 * SEC)), -ECONNREFUSED);
        int64_t t0 = ringo_now();
        int fd = ringo_tcp_connect(&live, ringo_deadline_in(2 * SEC));
        if (fd < 0)
            T_FAIL("connect to a live listener after a refused one: %d (%s) after %lld ms [%s]", fd,
                   ringo_err_name(fd), (long long)((ringo_now() - t0) / MS), ringo_backend_name());
        int s = ringo_accept(lfd, NULL, io_deadline());
        T_OK(s);
        T_EQ(ringo_write_all(fd, "ok", 2, NULL, io_deadline()), 2);
        char b[2];
        T_EQ(ringo_read_full(s, b, 2, NULL, io_deadline()), 2);
        T_OK(ringo_close(fd));
        T_OK(ringo_close(s));
    }
    close(probe);
    T_OK(ringo_close(lfd));
}

T_CASE(net_connect_after_refused_connect, T_IO)
{
    t_run(1, retry_main, NULL);
}
