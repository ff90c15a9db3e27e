/* tests/t.h - the test framework: cases register themselves, t_main.c runs
 * each in a forked child with a timeout, once per backend for I/O cases.
 *
 *   T_CASE(name, T_IO) { ... T_ASSERT(x == 1); T_EQ(n, 5); }
 *
 * A case passes when its body returned and its child then exited 0 (an
 * exit(0) in the middle of the body is a failure); it is skipped on exit 77
 * (T_SKIP), and fails on any other exit, a signal, or its timeout.
 *
 * [uring] runs are skipped, with the reason, when io_uring cannot be set up
 * here (the runner probes io_uring_setup once); with RINGO_TEST_REQUIRE_URING=1
 * (CI) they fail instead. A run in which every case was skipped, or no case
 * matched, fails: it tested nothing. */
#ifndef RINGO_T_H
#define RINGO_T_H

#include <ringo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define T_IO   0x1 /* run under RINGO_BACKEND=uring and RINGO_BACKEND=epoll */
#define T_SLOW 0x2 /* 120 s timeout instead of 30 s */
/* io_uring only (e.g. SQPOLL): runs under RINGO_BACKEND=uring; its epoll
 * run is reported skipped, so the case is not a copy of another under epoll */
#define T_URING 0x4
/* runs only when named exactly on the command line (the runner's self-tests) */
#define T_HIDDEN 0x8

/* T_SCALE(full, tsan): how many coroutines, connections or handshakes a
 * volume case uses. TSan runs every coroutine as a fiber of its own (at
 * most ~8k alive) whose vector clock grows with every fiber it has seen,
 * so a case's time grows with about the square of its count (5000 sleeps
 * took 39 s): under TSan the case checks the same paths for races at a
 * size of tsan; the normal and ASan builds carry the full volume. */
#if defined(__SANITIZE_THREAD__)
#define T_SCALE(full, tsan) (tsan)
#else
#define T_SCALE(full, tsan) (full)
#endif

struct t_case {
    const char *name;
    const char *file;
    void (*fn)(void);
    int flags;
    struct t_case *next;
};
void t_register(struct t_case *c);

#define T_CASE(name_, flags_)                                                                      \
    static void t_fn_##name_(void);                                                                \
    static struct t_case t_case_##name_ = {#name_, __FILE__, t_fn_##name_, (flags_), NULL};        \
    __attribute__((constructor)) static void t_reg_##name_(void)                                   \
    {                                                                                              \
        t_register(&t_case_##name_);                                                               \
    }                                                                                              \
    static void t_fn_##name_(void)

#define T_FAIL(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        fflush(stderr);                                                                            \
        _exit(1);                                                                                  \
    } while (0)

#define T_ASSERT(c)                                                                                \
    do {                                                                                           \
        if (!(c))                                                                                  \
            T_FAIL("assertion failed: %s", #c);                                                    \
    } while (0)

#define T_EQ(a, b)                                                                                 \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_)                                                                          \
            T_FAIL("%s == %s failed: %lld != %lld", #a, #b, t_a_, t_b_);                           \
    } while (0)

/* Assert a ringo return value is >= 0, printing the error name if not. */
#define T_OK(x)                                                                                    \
    do {                                                                                           \
        long long t_r_ = (long long)(x);                                                           \
        if (t_r_ < 0)                                                                              \
            T_FAIL("%s failed: %lld (%s)", #x, t_r_, ringo_err_name((int)t_r_));                   \
    } while (0)

#define T_SKIP(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "  skip: ");                                                               \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        _exit(77);                                                                                 \
    } while (0)

/* Run fn(arg) under ringo_main with `workers` workers (0 = default) and the
 * backend from the environment; fails the case if ringo_main fails, or if
 * it returns without fn having returned (fn cancelled or abandoned in the
 * middle, which ringo_main does not report). */
void t_run(int workers, void (*fn)(void *), void *arg);

/* The backend this case runs under ("uring", "epoll" or "auto"). */
const char *t_backend(void);

/* "It ended on time" without a wall-clock window. t_watch_start spawns, on
 * the calling worker, a watchdog coroutine sleeping until `by` (a deadline
 * well past the one under test, e.g. 20 times as far); t_watch_end, called
 * right after the operation returns, says whether it returned before that
 * watchdog fired (1) or not (0). Both move only when the worker runs, so a
 * loaded machine delays them alike: after a stall, the watchdog first lets
 * the worker reap and run what completed meanwhile (ten 1 ms sleeps of its
 * own) before it calls the operation late. A wall-clock bound fails on any
 * stall that long; this fails only if the operation was really behind a
 * timer set much later than its own deadline. */
struct t_watch {
    ringo_coro *co;
    int64_t by;
    int done, late;
};
void t_watch_start(struct t_watch *w, int64_t by);
int t_watch_end(struct t_watch *w);

/* Whether io_uring_setup works in this process: 0, or -errno with *why (if
 * not NULL) set to a static text naming the cause (ENOSYS, EPERM from
 * kernel.io_uring_disabled or a seccomp filter, ENOMEM from RLIMIT_MEMLOCK). */
int t_uring_probe(const char **why);

/* The path of tests/NAME (a script the tests run): as is when the tests
 * run from the source tree, else next to the binary's build directory
 * (BUILD/ringo-tests -> BUILD/../tests/NAME). Static storage, valid until
 * the next call. */
const char *t_test_file(const char *name);

/* A listener on 127.0.0.1 with an ephemeral port; *addr receives it. */
int t_listen(ringo_addr *addr);

/* A connected TCP pair on 127.0.0.1 (through a listener that is closed
 * again): *client from ringo_tcp_connect, *server from ringo_accept. Fails
 * the case on error. */
void t_tcp_pair(int *client, int *server);

/* Make io_uring_setup fail with EPERM for this process from now on (a
 * seccomp filter; it dies with the process, so call it in a child).
 * Returns 0, -ENOTSUP on an architecture the filter is not written for,
 * or the -errno of prctl/seccomp. */
int t_deny_io_uring_setup(void);

/* Deterministic pseudo-random numbers (xorshift64*), per caller state. */
static inline uint64_t t_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
