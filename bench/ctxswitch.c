/* Micro-benchmarks of the scheduler: ns per raw context switch (the
 * assembly primitive alone), per ringo_yield (coroutine -> scheduler ->
 * coroutine: two switches plus the run queue), and per spawn+join.
 * Run pinned: taskset -c 0 build/bench/ctxswitch. Medians of 5 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringo.h>

#include "sched/context.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- raw switch: ping-pong between the main stack and one context ---- */

static void *main_sp, *co_sp;
static volatile long raw_left;

static void raw_entry(void *arg)
{
    (void)arg;
    for (;;)
        ringo__switch(&co_sp, main_sp);
}

static double bench_raw(long n)
{
    size_t sz = 64 * 1024;
    char *stack = malloc(sz);
    co_sp = ringo__context_init(stack + sz, raw_entry, NULL);
    int64_t t0 = ringo_now();
    for (long i = 0; i < n; i++)
        ringo__switch(&main_sp, co_sp);
    int64_t t1 = ringo_now();
    free(stack);
    return (double)(t1 - t0) / (double)(2 * n); /* two switches per loop */
}

/* ---- yield and spawn+join through the runtime ---- */

static long yields;
static double yield_ns, spawn_ns, remote_ns;

static void yielder(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        ringo_yield();
}

static void nothing(void *arg)
{
    (void)arg;
}

/* Spawn on the other worker and join from here: two cross-worker
 * wake-ups per iteration (the hand-over, and the join wake coming back). */
static void remote_main(void *arg)
{
    (void)arg;
    long n = 50000;
    int64_t t0 = ringo_now();
    for (long i = 0; i < n; i++) {
        ringo_coro *h;
        ringo_go_on(1, nothing, NULL, &h);
        ringo_join(h, RINGO_FOREVER);
    }
    remote_ns = (double)(ringo_now() - t0) / (double)n;
}

static void bench_main(void *arg)
{
    (void)arg;
    ringo_coro *a, *b;
    int64_t t0 = ringo_now();
    ringo_go(yielder, (void *)(intptr_t)yields, &a);
    ringo_go(yielder, (void *)(intptr_t)yields, &b);
    ringo_join(a, RINGO_FOREVER);
    ringo_join(b, RINGO_FOREVER);
    int64_t t1 = ringo_now();
    yield_ns = (double)(t1 - t0) / (double)(2 * yields);

    long spawns = 200000;
    t0 = ringo_now();
    for (long i = 0; i < spawns; i++) {
        ringo_coro *h;
        ringo_go(nothing, NULL, &h);
        ringo_join(h, RINGO_FOREVER);
    }
    t1 = ringo_now();
    spawn_ns = (double)(t1 - t0) / (double)spawns;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    yields = n / 4;
    enum { RUNS = 5 };
    double raw[RUNS], y[RUNS], s[RUNS], rm[RUNS];
    for (int r = 0; r < RUNS; r++) {
        raw[r] = bench_raw(n);
        ringo_config cfg;
        ringo_config_init(&cfg);
        cfg.workers = 1;
        cfg.handle_signals = 0;
        if (ringo_main(&cfg, bench_main, NULL) < 0)
            return 1;
        y[r] = yield_ns;
        s[r] = spawn_ns;
        cfg.workers = 2;
        if (ringo_main(&cfg, remote_main, NULL) < 0)
            return 1;
        rm[r] = remote_ns;
    }
    qsort(raw, RUNS, sizeof(double), cmp_double);
    qsort(y, RUNS, sizeof(double), cmp_double);
    qsort(s, RUNS, sizeof(double), cmp_double);
    qsort(rm, RUNS, sizeof(double), cmp_double);
    printf("%-34s %8s  %s\n", "micro-benchmark (5 runs)", "median", "[min-max] ns");
    printf("%-34s %8.2f  [%.2f-%.2f]\n", "raw context switch", raw[2], raw[0], raw[4]);
    printf("%-34s %8.2f  [%.2f-%.2f]\n", "ringo_yield (2 switches + queue)", y[2], y[0], y[4]);
    printf("%-34s %8.2f  [%.2f-%.2f]\n", "ringo_go + ringo_join", s[2], s[0], s[4]);
    printf("%-34s %8.2f  [%.2f-%.2f]\n", "ringo_go_on(other) + join", rm[2], rm[0], rm[4]);
    return 0;
}
