/* Backend fallback: with io_uring_setup denied by a seccomp filter, "auto"
 * must fall back to epoll (and say why), and "uring" must fail cleanly.
 * Each case runs in its own forked child, so the filter dies with it. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>

#define SEC 1000000000LL

/* io_uring_setup fails with EPERM for this process from now on. */
static void deny_io_uring_setup(void)
{
    int e = t_deny_io_uring_setup();
    if (e == -ENOTSUP)
        T_SKIP("seccomp test written for x86_64 and aarch64 only");
    if (e < 0)
        T_SKIP("seccomp filter unavailable: %s", strerror(-e));
    /* the filter works */
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long r = syscall(__NR_io_uring_setup, 4, &p);
    T_ASSERT(r == -1 && errno == EPERM);
}

/* fd 2 into a pipe while the runtime runs (its log goes there). The
 * coroutines below record failures instead of asserting, since an
 * assertion message would vanish into the pipe. */
static int cap_pipe[2] = {-1, -1}, cap_saved = -1;

static void capture_start(void)
{
    fflush(stderr);
    T_ASSERT(pipe2(cap_pipe, O_CLOEXEC) == 0);
    cap_saved = dup(2);
    T_ASSERT(cap_saved >= 0);
    T_ASSERT(dup2(cap_pipe[1], 2) == 2);
    close(cap_pipe[1]);
}

/* Restores fd 2; returns what was written to it (static buffer). */
static const char *capture_end(void)
{
    static char log[16384];
    fflush(stderr);
    T_ASSERT(dup2(cap_saved, 2) == 2);
    close(cap_saved);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(cap_pipe[0], log + n, sizeof(log) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(cap_pipe[0]);
    log[n] = 0;
    if (getenv("T_SHOW_LOG")) /* to see what a passing case logged */
        fprintf(stderr, "%s", log);
    return log;
}

static struct {
    const char *backend;
    const char *fallback_reason; /* from ringo_backend_info */
    int fail_line;
    long fail_val;
    int echoed;
} fb;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fb.fail_line = __LINE__;                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long fb_a_ = (long)(a);                                                                    \
        if (fb_a_ != (long)(b)) {                                                                  \
            fb.fail_line = __LINE__;                                                               \
            fb.fail_val = fb_a_;                                                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static int fb_lfd;

static void fb_server(void *arg)
{
    (void)arg;
    int fd = ringo_accept(fb_lfd, NULL, ringo_deadline_in(5 * SEC));
    if (fd < 0)
        return;
    char buf[256];
    ssize_t n;
    while ((n = ringo_read(fd, buf, sizeof(buf), ringo_deadline_in(5 * SEC))) > 0)
        if (ringo_write_all(fd, buf, (size_t)n, NULL, ringo_deadline_in(5 * SEC)) < 0)
            break;
    ringo_close(fd);
}

static void fb_main(void *arg)
{
    (void)arg;
    const char *name = ringo_backend_name();
    fb.backend = name ? name : "(null)";
    struct ringo_backend_info info;
    CHECK(ringo_backend_info(&info) == 0);
    fb.fallback_reason = info.fallback_reason;
    ringo_addr a;
    CHECK(ringo_addr_parse(&a, "127.0.0.1:0") == 0);
    fb_lfd = ringo_tcp_listen(&a, 16, 0);
    CHECK(fb_lfd >= 0);
    a.len = sizeof(a.ss);
    CHECK(getsockname(fb_lfd, (struct sockaddr *)&a.ss, &a.len) == 0);
    /* the server on the other worker, when there is one */
    ringo_coro *h;
    CHECK_EQ(ringo_go_on(ringo_workers() - 1, fb_server, NULL, &h), 0);
    int fd = ringo_tcp_connect(&a, ringo_deadline_in(5 * SEC));
    CHECK(fd >= 0);
    static const char msg[] = "hello over the fallback backend";
    CHECK_EQ(ringo_write_all(fd, msg, sizeof(msg), NULL, ringo_deadline_in(5 * SEC)), sizeof(msg));
    char buf[sizeof(msg)];
    CHECK_EQ(ringo_read_full(fd, buf, sizeof(buf), NULL, ringo_deadline_in(5 * SEC)), sizeof(msg));
    CHECK(memcmp(buf, msg, sizeof(msg)) == 0);
    ringo_close(fd);
    CHECK_EQ(ringo_join(h, ringo_deadline_in(5 * SEC)), 0);
    ringo_close(fb_lfd);
    fb.echoed = 1;
}

static int run_backend(const char *backend, int workers)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.backend = backend;
    cfg.workers = workers;
    cfg.handle_signals = 0;
    cfg.verbose = 0;
    memset(&fb, 0, sizeof(fb));
    return ringo_main(&cfg, fb_main, NULL);
}

static void check_ran(int rc, const char *log, const char *want_backend)
{
    if (rc != 0)
        T_FAIL("ringo_main: %d (%s); log:\n%s", rc, ringo_err_name(rc), log);
    if (fb.fail_line)
        T_FAIL("check at %s:%d failed (value %ld); log:\n%s", __FILE__, fb.fail_line, fb.fail_val,
               log);
    T_ASSERT(fb.echoed);
    if (strcmp(fb.backend, want_backend) != 0)
        T_FAIL("backend %s, want %s; log:\n%s", fb.backend, want_backend, log);
    /* ringo_backend_info says why, exactly when auto fell back */
    if (strcmp(want_backend, "epoll") == 0 && strstr(log, "falling back"))
        T_ASSERT(fb.fallback_reason && strstr(fb.fallback_reason, "denied"));
    if (strcmp(want_backend, "uring") == 0)
        T_ASSERT(fb.fallback_reason == NULL);
}

T_CASE(fallback_auto_uses_epoll_when_uring_denied, 0)
{
    unsetenv("RINGO_BACKEND");
    deny_io_uring_setup();
    capture_start();
    int rc = run_backend("auto", 2);
    const char *log = capture_end();
    check_ran(rc, log, "epoll");
    /* the log says that it fell back and why */
    if (!strstr(log, "falling back to epoll") || !strstr(log, "EPERM") || !strstr(log, "io_uring"))
        T_FAIL("fallback log lacks the reason; got:\n%s", log);
    /* said once, by the worker that chose */
    const char *first = strstr(log, "falling back");
    T_ASSERT(strstr(first + 1, "falling back") == NULL);
    /* and the counters confirm: no ring was ever entered */
    ringo_counters st;
    T_OK(ringo_stats(&st));
    T_EQ(st.uring_enter, 0);
    T_ASSERT(st.epoll_wait > 0);

    /* RINGO_BACKEND=auto from the environment behaves the same */
    setenv("RINGO_BACKEND", "auto", 1);
    ringo_config cfg;
    ringo_config_init(&cfg);
    T_ASSERT(strcmp(cfg.backend, "auto") == 0);
    capture_start();
    rc = run_backend(cfg.backend, 1);
    log = capture_end();
    check_ran(rc, log, "epoll");
    T_ASSERT(strstr(log, "falling back to epoll") != NULL);
}

T_CASE(fallback_uring_required_fails_with_eperm, 0)
{
    deny_io_uring_setup();
    for (int workers = 1; workers <= 2; workers++) {
        capture_start();
        int rc = run_backend("uring", workers);
        const char *log = capture_end();
        if (rc != -EPERM)
            T_FAIL("ringo_main with backend uring under the filter: %d (%s), want -EPERM; "
                   "log:\n%s",
                   rc, ringo_err_name(rc), log);
        T_ASSERT(fb.backend == NULL); /* fn never ran */
        if (!strstr(log, "EPERM") || !strstr(log, "uring"))
            T_FAIL("error log lacks the reason; got:\n%s", log);
        T_ASSERT(strstr(log, "falling back") == NULL);
        T_ASSERT(ringo_backend_name() == NULL);
    }
    /* from the environment too */
    setenv("RINGO_BACKEND", "uring", 1);
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.handle_signals = 0;
    cfg.workers = 1;
    capture_start();
    int rc = ringo_main(&cfg, fb_main, NULL);
    const char *log = capture_end();
    if (rc != -EPERM)
        T_FAIL("RINGO_BACKEND=uring: %d (%s); log:\n%s", rc, ringo_err_name(rc), log);
    /* the failed start left nothing behind: epoll starts fine afterwards */
    capture_start();
    rc = run_backend("epoll", 2);
    log = capture_end();
    check_ran(rc, log, "epoll");
    T_ASSERT(log[0] == 0); /* an explicit, working backend logs nothing */
}

/* Control: without the filter, "auto" picks io_uring and logs nothing
 * (so the cases above really see the filter's effect). */
T_CASE(fallback_auto_prefers_uring, 0)
{
    unsetenv("RINGO_BACKEND");
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0)
        T_SKIP("io_uring unavailable here: %s", strerror(errno));
    close((int)fd);
    capture_start();
    int rc = run_backend("auto", 1);
    const char *log = capture_end();
    check_ran(rc, log, "uring");
    if (log[0])
        T_FAIL("unexpected log without fallback:\n%s", log);
}

/* ---- locked memory: rings are charged to RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK (root has it, so drop it first) ---- */

#include <linux/capability.h>
#include <sys/resource.h>

static void limit_memlock(rlim_t bytes)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    T_ASSERT(syscall(SYS_capget, &h, d) == 0);
    d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
    d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
    d[CAP_IPC_LOCK / 32].inheritable &= ~(1u << (CAP_IPC_LOCK % 32));
    if (syscall(SYS_capset, &h, d) != 0)
        T_SKIP("capset: %s", strerror(errno));
    struct rlimit rl = {bytes, bytes};
    T_ASSERT(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* `ulimit -l 64` with eight workers and with one: auto never aborts and
 * never half-runs. It runs io_uring on a smaller ring, or (when even that
 * cannot be had, or a later worker's ring does not fit after worker 0's)
 * every worker on epoll; the log says what was refused and what runs. */
T_CASE(fallback_auto_low_memlock, 0)
{
    unsetenv("RINGO_BACKEND");
    const char *why = NULL;
    if (t_uring_probe(&why) < 0)
        T_SKIP("io_uring unavailable here: %s", why);
    limit_memlock(64 * 1024);
    /* eight first: a ring torn down is uncharged later, in the kernel's
     * own time, so the second run may find less room (either outcome is
     * checked) */
    static const int nworkers[] = {8, 1};
    for (size_t i = 0; i < sizeof(nworkers) / sizeof(nworkers[0]); i++) {
        capture_start();
        int rc = run_backend("auto", nworkers[i]);
        const char *log = capture_end();
        if (rc != 0 || fb.fail_line || !fb.echoed)
            T_FAIL("%d worker(s): rc %d (%s), check line %d; log:\n%s", nworkers[i], rc,
                   ringo_err_name(rc), fb.fail_line, log);
        int shrunk = count(log, "entries refused (ENOMEM"), fell = count(log, "falling back");
        if (strcmp(fb.backend, "uring") == 0) {
            /* 1024 entries need more than 64 KiB: it got a smaller ring */
            if (shrunk != 1 || fell != 0 || !strstr(log, "RLIMIT_MEMLOCK 64 KiB"))
                T_FAIL("%d worker(s) on uring; log:\n%s", nworkers[i], log);
            T_ASSERT(fb.fallback_reason == NULL);
        } else {
            T_ASSERT(strcmp(fb.backend, "epoll") == 0);
            if (fell != 1 || !strstr(log, "ENOMEM") || shrunk > 1)
                T_FAIL("%d worker(s) on epoll; log:\n%s", nworkers[i], log);
            T_ASSERT(fb.fallback_reason && strstr(fb.fallback_reason, "RLIMIT_MEMLOCK"));
        }
        /* the ring worker 0 let go of is not left running */
        ringo_counters st;
        T_OK(ringo_stats(&st));
        if (strcmp(fb.backend, "epoll") == 0)
            T_EQ(st.uring_enter, 0);
    }
}

/* RINGO_BACKEND=uring with no locked memory at all: a start-up error
 * (-ENOMEM from ringo_main, the reason in the log), fn never runs, and
 * epoll starts fine afterwards. With eight workers, whichever worker's ring
 * is refused first, the same. */
T_CASE(fallback_uring_required_low_memlock_fails, 0)
{
    const char *why = NULL;
    if (t_uring_probe(&why) < 0)
        T_SKIP("io_uring unavailable here: %s", why);
    limit_memlock(0);
    static const int nworkers[] = {1, 8};
    for (size_t i = 0; i < sizeof(nworkers) / sizeof(nworkers[0]); i++) {
        capture_start();
        int rc = run_backend("uring", nworkers[i]);
        const char *log = capture_end();
        if (rc != -ENOMEM)
            T_FAIL("%d worker(s): rc %d (%s), want -ENOMEM; log:\n%s", nworkers[i], rc,
                   ringo_err_name(rc), log);
        T_ASSERT(fb.backend == NULL); /* fn never ran */
        if (!strstr(log, "ENOMEM") || strstr(log, "falling back"))
            T_FAIL("log:\n%s", log);
    }
    capture_start();
    int rc = run_backend("epoll", 2);
    const char *log = capture_end();
    check_ran(rc, log, "epoll");
}

/* A later worker refused after worker 0 got its ring, made certain: each
 * ring needs two descriptors (the ring, its wake-up eventfd), and the
 * descriptor limit leaves room for worker 0's and one more. With
 * RINGO_BACKEND=uring that is a start-up error naming the worker, and fn
 * never runs (no half-started runtime). */
T_CASE(fallback_uring_second_worker_refused, 0)
{
    const char *why = NULL;
    if (t_uring_probe(&why) < 0)
        T_SKIP("io_uring unavailable here: %s", why);
    capture_start();
    /* no free numbers below the highest open one: the rings' descriptors
     * are the next ones */
    int top = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            top = fd;
    for (int fd = 0; fd < top; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            T_ASSERT(open("/dev/null", O_RDONLY | O_CLOEXEC) == fd);
    struct rlimit old, rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0);
    rl = old;
    rl.rlim_cur = (rlim_t)top + 1 + 3;
    T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int rc = run_backend("uring", 2);
    T_ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0);
    const char *log = capture_end();
    if (rc != -EMFILE)
        T_FAIL("rc %d (%s), want -EMFILE; log:\n%s", rc, ringo_err_name(rc), log);
    T_ASSERT(fb.backend == NULL);
    if (!strstr(log, "worker 1") || !strstr(log, "EMFILE"))
        T_FAIL("the log does not name worker 1 and EMFILE:\n%s", log);
}
