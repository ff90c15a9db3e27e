/* tests/t_main.c - forking test runner. Usage: ringo-tests [-v] [filter...]
 * Each case runs in its own child (timeout 30 s, T_SLOW 120 s); I/O cases
 * run once per backend. Exit 77 = skipped. Prints "N passed, N failed". */
#include "t.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

void t_run(int workers, void (*fn)(void *), void *arg)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    if (workers > 0)
        cfg.workers = workers;
    cfg.handle_signals = 0;
    int rc = ringo_main(&cfg, fn, arg);
    if (rc < 0)
        T_FAIL("ringo_main: %s", ringo_strerror(rc));
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

/* Returns 0 pass, 1 fail, 2 skip. */
static int run_one(struct t_case *c, const char *backend, int verbose)
{
    fflush(stdout);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        cur_backend = backend;
        if (strcmp(backend, "auto") != 0)
            setenv("RINGO_BACKEND", backend, 1);
        if (!verbose) {
            /* keep the runtime's start-up log out of the summary */
            unsetenv("RINGO_VERBOSE");
        }
        c->fn();
        fflush(NULL);
        _exit(0);
    }
    if (pid < 0) {
        printf("FAIL %s [%s]: fork: %s\n", c->name, backend, strerror(errno));
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
            printf("FAIL %s [%s]: timed out after %.0f s\n", c->name, backend, limit);
            return 1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double dt = now_s() - t0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok   %s [%s] %.2fs\n", c->name, backend, dt);
        return 0;
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
        if (strstr(c->name, argv[i]) || strstr(c->file, argv[i]))
            return 1;
    }
    return !any;
}

int main(int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0, skipped = 0;
    static const char *io_backends[] = {"uring", "epoll"};
    for (struct t_case *c = cases; c; c = c->next) {
        if (!selected(c, argc, argv))
            continue;
        int n = (c->flags & T_IO) ? 2 : 1;
        for (int b = 0; b < n; b++) {
            const char *be = (c->flags & T_IO) ? io_backends[b] : "auto";
            int r = run_one(c, be, verbose);
            if (r == 0)
                passed++;
            else if (r == 1)
                failed++;
            else
                skipped++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
