/* tests/t_main.c - forking test runner. Usage: ringo-tests [-v] [filter...]
 * A filter selects the cases whose name or file contains it (T_HIDDEN ones
 * only by their exact name). Each case runs in its own child (timeout 30 s,
 * T_SLOW 120 s); I/O cases run once per backend. Exit 77 = skipped. Prints
 * "N passed, N failed, N skipped"; exits 1 if any failed or none passed.
 *
 * Environment: RINGO_TEST_REQUIRE_URING=1 turns "io_uring unavailable"
 * from a skip of every [uring] run into a failure of each (CI sets it: a
 * machine that has io_uring must not pass by skipping half the suite). */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct t_case *cases, **cases_tail = &cases;
static const char *cur_backend = "auto";

void t_register(struct t_case *c)
{
    *cases_tail = c;
    cases_tail = &c->next;
}

const char *t_backend(void)
{
    return cur_backend;
}

struct t_run_main {
    void (*fn)(void *);
    void *arg;
    _Atomic int returned;
};

static void t_run_trampoline(void *arg)
{
    struct t_run_main *m = arg;
    m->fn(m->arg);
    atomic_store(&m->returned, 1);
}

void t_run(int workers, void (*fn)(void *), void *arg)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    if (workers > 0)
        cfg.workers = workers;
    cfg.handle_signals = 0;
    struct t_run_main m = {fn, arg, 0};
    int rc = ringo_main(&cfg, t_run_trampoline, &m);
    if (rc < 0)
        T_FAIL("ringo_main: %s", ringo_strerror(rc));
    /* ringo_main also returns 0 after a stop whose grace period abandoned
     * the main coroutine: the rest of the body never ran */
    if (!atomic_load(&m.returned))
        T_FAIL("ringo_main returned %d, but the case's main coroutine had not returned "
               "(it called ringo_exit, or a stop abandoned it)",
               rc);
}

static void t_watch_fn(void *arg)
{
    struct t_watch *w = arg;
    if (ringo_sleep_until(w->by) != 0)
        return; /* cancelled by t_watch_end: in time */
    for (int i = 0; i < 10 && !w->done; i++)
        if (ringo_sleep(1000000) != 0)
            return;
    if (!w->done)
        w->late = 1;
}

void t_watch_start(struct t_watch *w, int64_t by)
{
    w->by = by;
    w->done = w->late = 0;
    T_OK(ringo_go(t_watch_fn, w, &w->co));
}

int t_watch_end(struct t_watch *w)
{
    w->done = 1;
    T_OK(ringo_cancel(w->co));
    T_OK(ringo_join(w->co, RINGO_FOREVER));
    return !w->late;
}

int t_uring_probe(const char **why)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close((int)fd);
    const char *w = NULL;
    switch (err) {
    case 0:
        w = "available";
        break;
    case ENOSYS:
        w = "ENOSYS: this kernel has no io_uring (CONFIG_IO_URING=n or too old)";
        break;
    case EPERM: {
        char v = '0';
        int sfd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
        if (sfd >= 0) {
            if (read(sfd, &v, 1) != 1)
                v = '0';
            close(sfd);
        }
        w = v == '2'   ? "EPERM: kernel.io_uring_disabled=2"
            : v == '1' ? "EPERM: kernel.io_uring_disabled=1 and not in kernel.io_uring_group"
                       : "EPERM: io_uring_setup denied (a seccomp filter, e.g. a container's)";
        break;
    }
    case EACCES:
        w = "EACCES: io_uring_setup denied by an LSM policy";
        break;
    case ENOMEM:
        w = "ENOMEM: not enough locked memory for a ring (RLIMIT_MEMLOCK)";
        break;
    default:
        w = "io_uring_setup failed with an unexpected error";
        break;
    }
    if (why)
        *why = w;
    return -err;
}

void t_tcp_pair(int *client, int *server)
{
    ringo_addr a;
    int lfd = t_listen(&a);
    int64_t d = ringo_deadline_in(10LL * 1000000000);
    *client = ringo_tcp_connect(&a, d);
    T_OK(*client);
    *server = ringo_accept(lfd, NULL, d);
    T_OK(*server);
    T_OK(ringo_close(lfd));
}

const char *t_test_file(const char *name)
{
    static char p[4096];
    snprintf(p, sizeof(p), "tests/%s", name);
    if (access(p, R_OK) == 0)
        return p;
    ssize_t n = readlink("/proc/self/exe", p, sizeof(p) - 1);
    T_ASSERT(n > 0);
    p[n] = 0;
    char *s = strrchr(p, '/');
    T_ASSERT(s && (size_t)(s - p) + strlen("/../tests/") + strlen(name) < sizeof(p));
    sprintf(s, "/../tests/%s", name);
    return p;
}

int t_listen(ringo_addr *addr)
{
    T_OK(ringo_addr_parse(addr, "127.0.0.1:0"));
    int fd = ringo_tcp_listen(addr, 4096, 0);
    T_OK(fd);
    addr->len = sizeof(addr->ss);
    T_ASSERT(getsockname(fd, (struct sockaddr *)&addr->ss, &addr->len) == 0);
    return fd;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The child's end marker: its pid, written once the body has returned, so
 * an exit(0) in the middle of a body (the case's or a library's) or a
 * forked grandchild's exit cannot pass for a completed case. */
static int body_returned(int rfd, pid_t pid)
{
    pid_t got = 0;
    ssize_t n = read(rfd, &got, sizeof(got));
    return n == (ssize_t)sizeof(got) && got == pid;
}

/* Returns 0 pass, 1 fail, 2 skip. */
static int run_one(struct t_case *c, const char *backend, int verbose)
{
    fflush(stdout);
    int end_pipe[2];
    if (pipe2(end_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        printf("FAIL %s [%s]: pipe: %s\n", c->name, backend, strerror(errno));
        return 1;
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        close(end_pipe[0]);
        cur_backend = backend;
        if (strcmp(backend, "auto") != 0)
            setenv("RINGO_BACKEND", backend, 1);
        if (!verbose) {
            /* keep the runtime's start-up log out of the summary */
            unsetenv("RINGO_VERBOSE");
        }
        c->fn();
        fflush(NULL);
        pid_t self = getpid();
        if (write(end_pipe[1], &self, sizeof(self)) != (ssize_t)sizeof(self))
            _exit(1);
        _exit(0);
    }
    close(end_pipe[1]);
    if (pid < 0) {
        printf("FAIL %s [%s]: fork: %s\n", c->name, backend, strerror(errno));
        close(end_pipe[0]);
        return 1;
    }
    double limit = (c->flags & T_SLOW) ? 120 : 30;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (now_s() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(end_pipe[0]);
            printf("FAIL %s [%s]: timed out after %.0f s\n", c->name, backend, limit);
            return 1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double dt = now_s() - t0;
    int returned = body_returned(end_pipe[0], pid);
    close(end_pipe[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && returned) {
        printf("ok   %s [%s] %.2fs\n", c->name, backend, dt);
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("FAIL %s [%s]: exited 0 before the test body returned (an exit() in the "
               "middle?)\n",
               c->name, backend);
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("skip %s [%s]\n", c->name, backend);
        return 2;
    }
    if (WIFSIGNALED(status))
        printf("FAIL %s [%s]: killed by signal %d (%s)\n", c->name, backend, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
    else
        printf("FAIL %s [%s]: exit %d\n", c->name, backend, WEXITSTATUS(status));
    return 1;
}

static int selected(struct t_case *c, int argc, char **argv)
{
    int any = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = 1;
        if (c->flags & T_HIDDEN) {
            if (strcmp(c->name, argv[i]) == 0)
                return 1;
        } else if (strstr(c->name, argv[i]) || strstr(c->file, argv[i]))
            return 1;
    }
    return !any && !(c->flags & T_HIDDEN);
}

/* What the io_uring probe decided, for every [uring] run. */
struct uring_gate {
    int probed, err, required;
    const char *why;
};

/* Runs c under backend unless the backend cannot run it here; returns
 * 0 pass, 1 fail, 2 skip. */
static int run_case(struct t_case *c, const char *be, struct uring_gate *g, int verbose)
{
    if (strcmp(be, "epoll") == 0 && (c->flags & T_URING)) {
        printf("skip %s [epoll] (io_uring-only case)\n", c->name);
        return 2;
    }
    if (strcmp(be, "uring") == 0) {
        if (!g->probed) {
            g->probed = 1;
            g->err = t_uring_probe(&g->why);
        }
        if (g->err && g->required) {
            printf("FAIL %s [uring]: io_uring unavailable: %s, and RINGO_TEST_REQUIRE_URING=1\n",
                   c->name, g->why);
            return 1;
        }
        if (g->err) {
            printf("skip %s [uring] (io_uring unavailable: %s)\n", c->name, g->why);
            return 2;
        }
    }
    return run_one(c, be, verbose);
}

int main(int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *req = getenv("RINGO_TEST_REQUIRE_URING");
    struct uring_gate gate = {0, 0, req && strcmp(req, "1") == 0, NULL};
    int passed = 0, failed = 0, skipped = 0;
    static const char *io_backends[] = {"uring", "epoll"};
    for (struct t_case *c = cases; c; c = c->next) {
        if (!selected(c, argc, argv))
            continue;
        int per_backend = c->flags & (T_IO | T_URING);
        int n = per_backend ? 2 : 1;
        for (int b = 0; b < n; b++) {
            const char *be = per_backend ? io_backends[b] : "auto";
            int r = run_case(c, be, &gate, verbose);
            if (r == 0)
                passed++;
            else if (r == 1)
                failed++;
            else
                skipped++;
        }
    }
    if (gate.probed && gate.err && !gate.required)
        printf("io_uring unavailable here (%s): its runs were skipped\n", gate.why);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed)
        return 1;
    if (!passed) {
        printf("%s: nothing was tested\n", skipped ? "every case was skipped" : "no case matched");
        return 1;
    }
    return 0;
}
