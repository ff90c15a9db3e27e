/* ringo_dial tests: IPv4, IPv6 and name dials echo a byte; numeric hosts
 * skip the resolver; strict "host:port" parsing; resolver errors and their
 * mapping; refused ports; the address list tried in order; a resolution
 * queued or running at the deadline / cancel.
 *
 * Resolver seam: this file defines getaddrinfo (and freeaddrinfo), which
 * the test binary's static copy of dial.c binds to. Names under
 * ".ringo.test" get scripted answers (slow, failing, several addresses);
 * every other name goes to the C library's getaddrinfo (dlsym RTLD_NEXT).
 * The scripted lists are the library's own lists spliced together, which
 * glibc's freeaddrinfo frees node by node. */
#include "t.h"

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() T_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define T_LEAK_CHECK() ((void)0)
#endif

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t io_deadline(void)
{
    return ringo_deadline_in(20 * SEC);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void wait_at_least(_Atomic int *v, int want)
{
    int64_t end = ringo_deadline_in(10 * SEC);
    while (atomic_load(v) < want) {
        if (ringo_now() > end)
            T_FAIL("waited 10 s for a counter to reach %d (it is %d)", want, atomic_load(v));
        ringo_sleep(MS);
    }
}

static void run_pool(int threads, void (*fn)(void *), void *arg)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.offload_threads = threads;
    cfg.handle_signals = 0;
    int rc = ringo_main(&cfg, fn, arg);
    if (rc < 0)
        T_FAIL("ringo_main: %s", ringo_strerror(rc));
}

/* ---- the resolver seam ---- */

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef void (*fai_fn)(struct addrinfo *);
static gai_fn real_gai;
static fai_fn real_fai;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
    real_gai = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    real_fai = (fai_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
}

static struct {
    _Atomic int open; /* releases "slow" */
    _Atomic int slow_entered, slow_done;
    _Atomic int freed; /* freeaddrinfo calls */
    _Atomic int last_flags, last_socktype, last_family;
} shim;

static int join_lists(const char *a, const char *b, const char *serv, const struct addrinfo *hints,
                      struct addrinfo **res)
{
    struct addrinfo *ra, *rb;
    int e = real_gai(a, serv, hints, &ra);
    if (e)
        return e;
    e = real_gai(b, serv, hints, &rb);
    if (e) {
        real_fai(ra);
        return e;
    }
    struct addrinfo *last = ra;
    while (last->ai_next)
        last = last->ai_next;
    last->ai_next = rb;
    *res = ra;
    return 0;
}

int getaddrinfo(const char *node, const char *serv, const struct addrinfo *hints,
                struct addrinfo **res)
{
    pthread_once(&real_once, find_real);
    if (hints) {
        atomic_store(&shim.last_flags, hints->ai_flags);
        atomic_store(&shim.last_socktype, hints->ai_socktype);
        atomic_store(&shim.last_family, hints->ai_family);
    }
    if (!node || !strstr(node, ".ringo.test"))
        return real_gai(node, serv, hints, res);
    if (!strcmp(node, "slow.ringo.test")) {
        atomic_fetch_add(&shim.slow_entered, 1);
        int64_t end = mono_ns() + 10 * SEC;
        while (!atomic_load(&shim.open) && mono_ns() < end)
            sleep_ns(MS);
        int e = real_gai("127.0.0.1", serv, hints, res);
        atomic_fetch_add(&shim.slow_done, 1);
        return e;
    }
    if (!strcmp(node, "again.ringo.test"))
        return EAI_AGAIN;
    if (!strcmp(node, "memory.ringo.test"))
        return EAI_MEMORY;
    if (!strcmp(node, "fail.ringo.test"))
        return EAI_FAIL;
    if (!strcmp(node, "nodata.ringo.test"))
        return EAI_NODATA;
    if (!strcmp(node, "system.ringo.test")) {
        errno = ECONNABORTED;
        return EAI_SYSTEM;
    }
    /* 127.0.0.2 has no listener: refused, then the next address */
    if (!strcmp(node, "fallback.ringo.test"))
        return join_lists("127.0.0.2", "127.0.0.1", serv, hints, res);
    if (!strcmp(node, "refused.ringo.test"))
        return join_lists("127.0.0.2", "127.0.0.3", serv, hints, res);
    return EAI_NONAME;
}

void freeaddrinfo(struct addrinfo *ai)
{
    pthread_once(&real_once, find_real);
    atomic_fetch_add(&shim.freed, 1);
    real_fai(ai);
}

/* ---- echo one byte through a dialled connection ---- */

struct acceptor {
    int lfd;
    int rc;
};

static void accept_echo(void *arg)
{
    struct acceptor *a = arg;
    int fd = ringo_accept(a->lfd, NULL, io_deadline());
    if (fd < 0) {
        a->rc = fd;
        return;
    }
    char c;
    ssize_t n = ringo_read(fd, &c, 1, io_deadline());
    if (n == 1)
        n = ringo_write(fd, &c, 1, io_deadline());
    a->rc = n == 1 ? 0 : (int)(n < 0 ? n : -EIO);
    ringo_close(fd);
}

/* Listen on `listen_on` ("127.0.0.1:0"...), dial "<host>:<its port>",
 * echo a byte. Returns 0, or the listen error (for skips). */
static int dial_echo(const char *listen_on, const char *host)
{
    ringo_addr la;
    T_OK(ringo_addr_parse(&la, listen_on));
    int lfd = ringo_tcp_listen(&la, 16, 0);
    if (lfd < 0)
        return lfd;
    la.len = sizeof(la.ss);
    T_ASSERT(getsockname(lfd, (struct sockaddr *)&la.ss, &la.len) == 0);
    struct acceptor a = {lfd, 1};
    ringo_coro *h;
    T_OK(ringo_go(accept_echo, &a, &h));

    char hp[300];
    snprintf(hp, sizeof(hp), "%s:%d", host, ringo_addr_port(&la));
    int fd = ringo_dial(hp, io_deadline());
    T_OK(fd);
    int nodelay = 0;
    socklen_t sl = sizeof(nodelay);
    T_ASSERT(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &sl) == 0);
    T_ASSERT(nodelay);
    char c = 'r';
    T_EQ(ringo_write(fd, &c, 1, io_deadline()), 1);
    c = 0;
    T_EQ(ringo_read(fd, &c, 1, io_deadline()), 1);
    T_EQ(c, 'r');
    T_OK(ringo_close(fd));
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(a.rc, 0);
    T_OK(ringo_close(lfd));
    return 0;
}

static void ipv4_main(void *arg)
{
    (void)arg;
    T_OK(dial_echo("127.0.0.1:0", "127.0.0.1"));
}

T_CASE(dial_ipv4, T_IO)
{
    t_run(1, ipv4_main, NULL);
}

static void ipv6_main(void *arg)
{
    int *skipped = arg;
    int rc = dial_echo("[::1]:0", "[::1]");
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)
        *skipped = 1;
    else
        T_OK(rc);
}

T_CASE(dial_ipv6, T_IO)
{
    int skipped = 0;
    t_run(1, ipv6_main, &skipped);
    if (skipped)
        T_SKIP("no IPv6 loopback");
}

/* "localhost" goes through the resolver; a dual-stack listener takes
 * whichever address family it names first. */
static void localhost_main(void *arg)
{
    (void)arg;
    int freed = atomic_load(&shim.freed);
    T_OK(dial_echo(":0", "localhost"));
    /* resolved with the documented hints, and the list freed */
    T_EQ(atomic_load(&shim.last_flags), AI_ADDRCONFIG);
    T_EQ(atomic_load(&shim.last_socktype), SOCK_STREAM);
    T_EQ(atomic_load(&shim.last_family), AF_UNSPEC);
    T_EQ(atomic_load(&shim.freed), freed + 1);
}

T_CASE(dial_localhost, T_IO)
{
    t_run(1, localhost_main, NULL);
    T_LEAK_CHECK();
}

/* Several addresses: the refused first one is skipped for the next. */
static void fallback_main(void *arg)
{
    (void)arg;
    T_OK(dial_echo("127.0.0.1:0", "fallback.ringo.test"));
}

T_CASE(dial_tries_addresses_in_order, T_IO)
{
    t_run(1, fallback_main, NULL);
}

/* ---- numeric hosts never touch the pool ---- */

struct busy {
    _Atomic int running, open;
};

static void busy_fn(void *arg)
{
    struct busy *b = arg;
    atomic_fetch_add(&b->running, 1);
    int64_t end = mono_ns() + 10 * SEC;
    while (!atomic_load(&b->open) && mono_ns() < end)
        sleep_ns(MS);
}

static void busy_caller(void *arg)
{
    T_EQ(ringo_offload(busy_fn, arg, io_deadline()), 0);
}

static void numeric_main(void *arg)
{
    (void)arg;
    static struct busy b;
    ringo_coro *h;
    T_OK(ringo_go(busy_caller, &b, &h));
    wait_at_least(&b.running, 1); /* the only pool thread is taken */
    T_OK(dial_echo("127.0.0.1:0", "127.0.0.1"));
    int rc = dial_echo("[::1]:0", "[::1]");
    T_ASSERT(rc == 0 || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT);
    /* a name would have to queue: it times out */
    T_EQ(ringo_dial("localhost:80", ringo_deadline_in(20 * MS)), -ETIMEDOUT);
    atomic_store(&b.open, 1);
    T_OK(ringo_join(h, io_deadline()));
}

T_CASE(dial_numeric_skips_resolver, T_IO)
{
    run_pool(1, numeric_main, NULL);
    T_LEAK_CHECK();
}

/* ---- formats ---- */

static const char *const bad_formats[] = {
    "",           "noport",          "host:",
    ":80",        "[::1]80",         "[::1",
    "::1:80",     "[]:80",           "host:99999",
    "host:80:81", "[::1]:",          "a]:80",
    "[a[b]:80",   "[::1]:8]0",       "[::1]]:80",
    "h[x:80",     "127.0.0.1:65536", "localhost:00000000070000",
    "*:80",       "[*]:80",
};

static void formats_main(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof(bad_formats) / sizeof(bad_formats[0]); i++) {
        int rc = ringo_dial(bad_formats[i], io_deadline());
        if (rc != -EINVAL)
            T_FAIL("ringo_dial(\"%s\") = %d (%s), want -EINVAL", bad_formats[i], rc,
                   ringo_err_name(rc));
    }
    T_EQ(ringo_dial(NULL, io_deadline()), -EINVAL);
}

T_CASE(dial_bad_format, T_IO)
{
    /* parsing comes first, even outside a coroutine */
    T_EQ(ringo_dial("noport", RINGO_FOREVER), -EINVAL);
    T_EQ(ringo_dial("127.0.0.1:80", RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_dial("localhost:80", RINGO_FOREVER), RINGO_ENOTINCORO);
    t_run(1, formats_main, NULL);
}

/* ---- resolver errors ---- */

static void resolver_errors_main(void *arg)
{
    (void)arg;
    int64_t d = io_deadline();
    T_EQ(ringo_dial("again.ringo.test:80", d), -EAGAIN);
    T_EQ(ringo_dial("memory.ringo.test:80", d), -ENOMEM);
    T_EQ(ringo_dial("fail.ringo.test:80", d), RINGO_ERESOLVE);
    T_EQ(ringo_dial("nodata.ringo.test:80", d), RINGO_ENONAME);
    T_EQ(ringo_dial("other.ringo.test:80", d), RINGO_ENONAME);
    /* EAI_SYSTEM: the errno of the pool thread that resolved */
    T_EQ(ringo_dial("system.ringo.test:80", d), -ECONNABORTED);
    /* an unknown service name: the C library's EAI_SERVICE */
    T_EQ(ringo_dial("127.0.0.1:no-such-service-ringo", d), RINGO_ERESOLVE);
}

T_CASE(dial_resolver_errors, T_IO)
{
    t_run(1, resolver_errors_main, NULL);
    T_LEAK_CHECK();
}

/* A name under the reserved .invalid TLD, through the real resolver: no
 * such host, or whatever failure a machine without DNS reports - one of
 * the documented codes, and soon. */
static void noname_main(void *arg)
{
    (void)arg;
    /* back by its 5 s deadline at the latest: before a 15 s timer */
    struct t_watch wd;
    t_watch_start(&wd, ringo_deadline_in(15 * SEC));
    int rc = ringo_dial("nonexistent.invalid:80", ringo_deadline_in(5 * SEC));
    T_ASSERT(t_watch_end(&wd));
    if (rc != RINGO_ENONAME && rc != RINGO_ERESOLVE && rc != -EAGAIN && rc != -ETIMEDOUT)
        T_FAIL("ringo_dial(nonexistent.invalid) = %d (%s)", rc, ringo_err_name(rc));
}

T_CASE(dial_no_such_name, T_IO)
{
    t_run(1, noname_main, NULL);
}

/* ---- refused ---- */

static void refused_main(void *arg)
{
    (void)arg;
    /* a port that was just free: nobody listens there now */
    ringo_addr a;
    int lfd = t_listen(&a);
    int port = ringo_addr_port(&a);
    T_OK(ringo_close(lfd));
    char hp[64];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", port);
    T_EQ(ringo_dial(hp, io_deadline()), -ECONNREFUSED);
    snprintf(hp, sizeof(hp), "localhost:%d", port);
    T_EQ(ringo_dial(hp, io_deadline()), -ECONNREFUSED);
    /* every address refused: the last error */
    snprintf(hp, sizeof(hp), "refused.ringo.test:%d", port);
    T_EQ(ringo_dial(hp, io_deadline()), -ECONNREFUSED);
}

T_CASE(dial_refused, T_IO)
{
    t_run(1, refused_main, NULL);
    T_LEAK_CHECK();
}

/* ---- a resolution left behind at the deadline / cancel ---- */

static int cancel_rc;

static void cancel_dialer(void *arg)
{
    (void)arg;
    cancel_rc = ringo_dial("slow.ringo.test:80", RINGO_FOREVER);
}

static void noop_fn(void *arg)
{
    (void)arg;
}

/* One pool thread: FIFO, so a call that gets through it comes after
 * every earlier job, and after the abandoned callbacks those ran. */
static void flush_pool(void)
{
    T_EQ(ringo_offload(noop_fn, NULL, io_deadline()), 0);
}

static void abandon_main(void *arg)
{
    (void)arg;
    int freed = atomic_load(&shim.freed);

    /* deadline while getaddrinfo runs: back at once, it goes on. It must
     * have started by the deadline: retry with longer ones on a slow
     * machine (one still queued then never reaches getaddrinfo) */
    for (int64_t wait = 30 * MS;; wait *= 2) {
        T_ASSERT(wait < 20 * SEC);
        atomic_store(&shim.open, 0);
        T_EQ(ringo_dial("slow.ringo.test:80", ringo_deadline_in(wait)), -ETIMEDOUT);
        T_EQ(atomic_load(&shim.slow_done), 0); /* did not wait for it */
        atomic_store(&shim.open, 1);
        flush_pool();
        if (atomic_load(&shim.slow_entered) == 1)
            break;
    }
    /* it finished after the caller left, and the pool thread freed it */
    T_EQ(atomic_load(&shim.slow_done), 1);
    T_EQ(atomic_load(&shim.freed), freed + 1);

    /* cancel while getaddrinfo runs */
    atomic_store(&shim.open, 0);
    ringo_coro *h;
    T_OK(ringo_go(cancel_dialer, NULL, &h));
    wait_at_least(&shim.slow_entered, 2);
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(cancel_rc, -ECANCELED);
    T_EQ(atomic_load(&shim.slow_done), 1);

    /* the pool thread is busy: another resolution queues, times out, and
     * never reaches getaddrinfo */
    T_EQ(ringo_dial("slow.ringo.test:80", ringo_deadline_in(20 * MS)), -ETIMEDOUT);
    T_EQ(atomic_load(&shim.slow_entered), 2);

    atomic_store(&shim.open, 1);
    flush_pool();
    T_EQ(atomic_load(&shim.slow_done), 2);
    T_EQ(atomic_load(&shim.slow_entered), 2);
    T_EQ(atomic_load(&shim.freed), freed + 2);
}

T_CASE(dial_abandons_running_resolution, T_IO)
{
    run_pool(1, abandon_main, NULL);
    T_LEAK_CHECK();
}
