/* Timers at scale: 100k coroutines parked with deadlines at once. Every
 * one wakes at or after its deadline, none is lost, and the run queue
 * keeps moving while they wait. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "t.h"

#define MS       1000000LL
#define SLEEPERS T_SCALE(100000, 1000)

struct sleeper {
    int64_t deadline;
    int64_t woke;
    int res;
};

static struct sleeper *sl;
static _Atomic long woken;
static int64_t base; /* set once every sleeper exists: spawning 100k fresh
                        stacks takes seconds on a VM (page faults) */

static void sleep_one(void *arg)
{
    struct sleeper *s = arg;
    if (base)
        s->deadline += base;
    s->res = ringo_sleep_until(s->deadline);
    s->woke = ringo_now();
    woken++;
}

/* CPU time of the calling thread (the worker: every coroutine here runs
 * on it). Unlike ringo_now(), it does not advance while the machine runs
 * someone else, so a bound on it holds on loaded cores too. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__SANITIZE_THREAD__)
#define TICKS 50 /* TSan: a switch costs ~10 ms with 5000 parked fibers */
#else
#define TICKS 20000
#endif

struct ticking {
    int64_t cpu;       /* CPU time the TICKS yields took */
    int64_t end;       /* ringo_now() after the last yield */
    long woken_at_end; /* sleepers woken by then */
};

static void ticker(void *arg)
{
    struct ticking *t = arg;
    int64_t cpu0 = thread_cpu_ns();
    for (int i = 0; i < TICKS; i++)
        T_OK(ringo_yield());
    t->cpu = thread_cpu_ns() - cpu0;
    /* one worker: no sleeper runs between these two reads */
    t->woken_at_end = woken;
    t->end = ringo_now();
}

static void timers_main(void *arg)
{
    (void)arg;
    sl = calloc(SLEEPERS, sizeof(*sl));
    T_ASSERT(sl);
    uint64_t seed = 42;
    ringo_coro **h = calloc(SLEEPERS, sizeof(*h));
    for (int i = 0; i < SLEEPERS; i++) {
        /* deadlines spread over 1 s, many of them equal */
        sl[i].deadline = (int64_t)(t_rand(&seed) % 1000) * MS;
        T_OK(ringo_go(sleep_one, &sl[i], &h[i]));
    }
    base = ringo_now() + 1000 * MS;
    ringo_yield(); /* they all run once and park on their deadlines */
    /* the scheduler round stays cheap with 100k armed timers: a yielding
     * coroutine keeps getting turns while they wait */
    struct ticking tk;
    ringo_coro *t;
    T_OK(ringo_go(ticker, &tk, &t));
    T_OK(ringo_join(t, RINGO_FOREVER));
#if !defined(__SANITIZE_THREAD__)
    /* 20000 yields take ~2 ms of CPU here (more under ASan); a round that
     * walked the 100k timers would take seconds. CPU time, so a loaded
     * machine does not count (TSan is too slow for any bound; it checks
     * the rest) */
    if (tk.cpu >= 2000 * MS)
        T_FAIL("%d yields with %d armed timers took %lld ms of CPU", TICKS, SLEEPERS,
               (long long)(tk.cpu / MS));
#endif
    /* Nobody woke early, whatever the speed: by the ticker's last look at
     * the clock at most the sleepers due by then had woken (on a fast
     * machine that is none: every deadline is >= base, 1 s away). */
    long due = 0;
    for (int i = 0; i < SLEEPERS; i++)
        if (sl[i].deadline <= tk.end) /* base included since its first run */
            due++;
    T_ASSERT(tk.woken_at_end <= due);

    for (int i = 0; i < SLEEPERS; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(woken, SLEEPERS);
    /* a lost timer shows as a join that never returns (the runner's
     * timeout); how late one fires depends on the machine's load, so it
     * is not bounded here */
    for (int i = 0; i < SLEEPERS; i++) {
        T_EQ(sl[i].res, 0);
        T_ASSERT(sl[i].woke >= sl[i].deadline);
    }
    free(h);
    free(sl);
}

T_CASE(timers_100k_sleeps, T_IO | T_SLOW)
{
    t_run(1, timers_main, NULL);
}

/* Deadlines that are cancelled before they fire leave nothing behind: a
 * coroutine cancelled while sleeping returns -ECANCELED at once, and the
 * heap does not fire for it later. The deadlines are an hour away, so a
 * cancel that waited for them would hang the joins (the runner's timeout)
 * and no clock bound is needed. */
static void cancel_main(void *arg)
{
    (void)arg;
    enum { N = T_SCALE(10000, 1000) };
    static struct sleeper s[N];
    static ringo_coro *h[N];
    for (int i = 0; i < N; i++) {
        s[i].deadline = ringo_now() + 3600 * 1000 * MS;
        T_OK(ringo_go(sleep_one, &s[i], &h[i]));
    }
    ringo_yield(); /* all parked */
    for (int i = 0; i < N; i += 2)
        T_OK(ringo_cancel(h[i]));
    for (int i = 0; i < N; i += 2) {
        T_OK(ringo_join(h[i], RINGO_FOREVER));
        T_EQ(s[i].res, -ECANCELED);
    }
    /* the other half still sleeps */
    T_EQ(woken, N / 2);
    for (int i = 1; i < N; i += 2)
        T_OK(ringo_cancel(h[i]));
    for (int i = 1; i < N; i += 2)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
}

T_CASE(timers_cancelled_sleeps_leave_nothing, T_IO)
{
    woken = 0;
    base = 0;
    t_run(1, cancel_main, NULL);
    T_EQ(woken, T_SCALE(10000, 1000));
}
