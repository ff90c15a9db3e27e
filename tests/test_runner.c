/* The runner's own rules, checked by running this binary again on hidden
 * cases (T_HIDDEN: they run only when named) and reading its report:
 *   - a body that exits 0 in the middle fails;
 *   - a t_run whose main coroutine did not return (ringo_exit) fails;
 *   - [uring] runs are skipped with the reason where io_uring_setup is
 *     denied (a seccomp filter here), fail instead with
 *     RINGO_TEST_REQUIRE_URING=1, and a run that skipped everything fails. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* ---- hidden cases: what the runner is run on ---- */

T_CASE(runner_hidden_exits_midway, T_HIDDEN)
{
    exit(0); /* as a library calling exit() would */
}

static void exits_coroutine(void *arg)
{
    (void)arg;
    /* main's coroutine ends here: ringo_main returns 0 without fn having
     * returned, so the rest of a body would silently not run */
    ringo_exit();
}

T_CASE(runner_hidden_main_not_returned, T_HIDDEN)
{
    t_run(1, exits_coroutine, NULL);
}

static void backend_matches(void *arg)
{
    (void)arg;
    const char *name = ringo_backend_name();
    T_ASSERT(name && strcmp(name, t_backend()) == 0);
}

T_CASE(runner_hidden_io_case, T_IO | T_HIDDEN)
{
    t_run(1, backend_matches, NULL);
}

T_CASE(runner_hidden_uring_only_case, T_URING | T_HIDDEN)
{
    t_run(1, backend_matches, NULL);
}

/* ---- running the runner ---- */

struct report {
    int status; /* from waitpid */
    char out[8192];
};

enum { PLAIN, DENY_URING };

/* Runs this binary on the case `name` with RINGO_TEST_REQUIRE_URING=require
 * (NULL: unset), under a filter denying io_uring_setup if asked; *r gets
 * its output (stdout and stderr) and exit status. Returns 0, or -1 if the filter cannot be set
 * up here (the caller skips). */
static int run_runner(const char *name, const char *require, int deny, struct report *r)
{
    int out[2];
    T_ASSERT(pipe2(out, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        if (deny == DENY_URING && t_deny_io_uring_setup() < 0)
            _exit(99);
        if (require)
            setenv("RINGO_TEST_REQUIRE_URING", require, 1);
        else
            unsetenv("RINGO_TEST_REQUIRE_URING");
        unsetenv("RINGO_BACKEND");
        dup2(out[1], 1);
        dup2(out[1], 2);
        /* exit 99: no filter here (the caller skips); 98: no exec */
        execl("/proc/self/exe", "ringo-tests", name, (char *)NULL);
        _exit(98);
    }
    close(out[1]);
    size_t n = 0;
    ssize_t k;
    while (n < sizeof(r->out) - 1 && (k = read(out[0], r->out + n, sizeof(r->out) - 1 - n)) > 0)
        n += (size_t)k;
    r->out[n] = 0;
    close(out[0]);
    T_EQ(waitpid(pid, &r->status, 0), pid);
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 99)
        return -1;
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 98)
        T_FAIL("exec /proc/self/exe failed");
    return 0;
}

static int exit_code(const struct report *r)
{
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

#define EXPECT_OUT(r, text)                                                                        \
    do {                                                                                           \
        if (!strstr((r)->out, (text)))                                                             \
            T_FAIL("runner output lacks \"%s\"; got:\n%s", (text), (r)->out);                      \
    } while (0)

#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if (exit_code(r) != (code))                                                                \
            T_FAIL("runner exited %d, want %d; output:\n%s", exit_code(r), (code), (r)->out);      \
    } while (0)

T_CASE(runner_exit_midway_fails, 0)
{
    static struct report r;
    T_OK(run_runner("runner_hidden_exits_midway", NULL, PLAIN, &r));
    EXPECT_OUT(&r,
               "FAIL runner_hidden_exits_midway [auto]: exited 0 before the test body returned");
    EXPECT_OUT(&r, "0 passed, 1 failed, 0 skipped");
    EXPECT_EXIT(&r, 1);
}

T_CASE(runner_main_not_returned_fails, 0)
{
    static struct report r;
    T_OK(run_runner("runner_hidden_main_not_returned", NULL, PLAIN, &r));
    EXPECT_OUT(&r, "main coroutine had not returned");
    EXPECT_OUT(&r, "FAIL runner_hidden_main_not_returned [auto]: exit 1");
    EXPECT_OUT(&r, "0 passed, 1 failed, 0 skipped");
    EXPECT_EXIT(&r, 1);
}

/* Control for the cases below: without a filter the runner sees what a
 * direct io_uring_setup here sees. */
T_CASE(runner_io_case_runs_where_uring_works, 0)
{
    static struct report r;
    const char *why;
    int err = t_uring_probe(&why);
    T_OK(run_runner("runner_hidden_io_case", NULL, PLAIN, &r));
    EXPECT_OUT(&r, "ok   runner_hidden_io_case [epoll]");
    if (err) {
        EXPECT_OUT(&r, "skip runner_hidden_io_case [uring] (io_uring unavailable: ");
        EXPECT_OUT(&r, why);
        EXPECT_OUT(&r, "1 passed, 0 failed, 1 skipped");
    } else {
        EXPECT_OUT(&r, "ok   runner_hidden_io_case [uring]");
        EXPECT_OUT(&r, "2 passed, 0 failed, 0 skipped");
    }
    EXPECT_EXIT(&r, 0);
    /* a hidden case runs only by its exact name */
    T_OK(run_runner("runner_hidden_io", NULL, PLAIN, &r));
    EXPECT_OUT(&r, "0 passed, 0 failed, 0 skipped");
    EXPECT_OUT(&r, "no case matched");
    EXPECT_EXIT(&r, 1);
}

T_CASE(runner_skips_uring_when_denied, 0)
{
    static struct report r;
    if (run_runner("runner_hidden_io_case", NULL, DENY_URING, &r) < 0)
        T_SKIP("no seccomp filter here (x86_64 and aarch64 only)");
    EXPECT_OUT(&r, "skip runner_hidden_io_case [uring] (io_uring unavailable: EPERM: ");
    EXPECT_OUT(&r, "ok   runner_hidden_io_case [epoll]");
    EXPECT_OUT(&r, "1 passed, 0 failed, 1 skipped");
    EXPECT_EXIT(&r, 0);

    /* CI: a machine that should have io_uring fails instead */
    T_OK(run_runner("runner_hidden_io_case", "1", DENY_URING, &r));
    EXPECT_OUT(&r, "FAIL runner_hidden_io_case [uring]: io_uring unavailable: EPERM: ");
    EXPECT_OUT(&r, "RINGO_TEST_REQUIRE_URING=1");
    EXPECT_OUT(&r, "ok   runner_hidden_io_case [epoll]");
    EXPECT_OUT(&r, "1 passed, 1 failed, 0 skipped");
    EXPECT_EXIT(&r, 1);

    /* an io_uring-only case skips under epoll; with io_uring denied too,
     * nothing ran at all: a failure */
    T_OK(run_runner("runner_hidden_uring_only_case", NULL, DENY_URING, &r));
    EXPECT_OUT(&r, "skip runner_hidden_uring_only_case [uring] (io_uring unavailable: EPERM: ");
    EXPECT_OUT(&r, "skip runner_hidden_uring_only_case [epoll] (io_uring-only case)");
    EXPECT_OUT(&r, "0 passed, 0 failed, 2 skipped");
    EXPECT_OUT(&r, "every case was skipped");
    EXPECT_EXIT(&r, 1);
}

T_CASE(runner_uring_only_case_skips_epoll, 0)
{
    static struct report r;
    const char *why;
    if (t_uring_probe(&why) != 0)
        T_SKIP("io_uring unavailable here: %s", why);
    T_OK(run_runner("runner_hidden_uring_only_case", NULL, PLAIN, &r));
    EXPECT_OUT(&r, "ok   runner_hidden_uring_only_case [uring]");
    EXPECT_OUT(&r, "skip runner_hidden_uring_only_case [epoll] (io_uring-only case)");
    EXPECT_OUT(&r, "1 passed, 0 failed, 1 skipped");
    EXPECT_EXIT(&r, 0);
}

/* t_watch itself: an operation behind its watchdog is reported late, one
 * ahead of it on time (ordering of two timers: no clock window either). */
static void watch_main(void *arg)
{
    (void)arg;
    struct t_watch wd;
    /* "the operation" ends only once the watchdog has called it late */
    t_watch_start(&wd, ringo_deadline_in(10 * 1000000LL));
    while (!wd.late)
        T_OK(ringo_sleep(1000000));
    T_EQ(t_watch_end(&wd), 0);
    /* a sleep shorter than the watchdog's: its timer fires first, on any
     * machine */
    t_watch_start(&wd, ringo_deadline_in(200 * 1000000LL));
    T_OK(ringo_sleep(10 * 1000000LL));
    T_EQ(t_watch_end(&wd), 1);
}

T_CASE(runner_watch_tells_late_from_on_time, T_IO)
{
    t_run(1, watch_main, NULL);
}
