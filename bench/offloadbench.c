/* Round trip of an empty ringo_offload call: queue the job, wake a pool
 * thread, run fn, wake the coroutine back on its worker. One caller (every
 * call pays a full thread hand-off both ways), then 16 concurrent callers
 * on one worker (hand-offs overlap; per-call cost is wall time / calls).
 * One worker, pool of 16 threads (the default). Medians of 5 runs.
 * Run pinned: taskset -c 0 build/bench/offloadbench [calls] */
#include <stdio.h>
#include <stdlib.h>

#include <ringo.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void empty(void *arg)
{
    (void)arg;
}

static long calls;
static int callers;
static double per_call_ns;

static void caller(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        if (ringo_offload(empty, NULL, RINGO_FOREVER) != 0)
            abort();
}

static void bench_main(void *arg)
{
    (void)arg;
    /* start the pool threads outside the timed part */
    ringo_coro *h[64];
    for (int i = 0; i < callers; i++)
        ringo_go(caller, (void *)(intptr_t)100, &h[i]);
    for (int i = 0; i < callers; i++)
        ringo_join(h[i], RINGO_FOREVER);

    long each = calls / callers;
    int64_t t0 = ringo_now();
    for (int i = 0; i < callers; i++)
        ringo_go(caller, (void *)(intptr_t)each, &h[i]);
    for (int i = 0; i < callers; i++)
        ringo_join(h[i], RINGO_FOREVER);
    per_call_ns = (double)(ringo_now() - t0) / (double)(each * callers);
}

static int run(int ncallers, double out[5])
{
    callers = ncallers;
    for (int r = 0; r < 5; r++) {
        ringo_config cfg;
        ringo_config_init(&cfg);
        cfg.workers = 1;
        cfg.handle_signals = 0;
        cfg.offload_threads = 16;
        if (ringo_main(&cfg, bench_main, NULL) < 0)
            return -1;
        out[r] = per_call_ns;
    }
    qsort(out, 5, sizeof(double), cmp_double);
    return 0;
}

int main(int argc, char **argv)
{
    calls = argc > 1 ? atol(argv[1]) : 100000;
    double one[5], many[5];
    if (run(1, one) < 0 || run(16, many) < 0)
        return 1;
    printf("%-40s %9s  %s\n", "empty ringo_offload (5 runs)", "median", "[min-max] ns/call");
    printf("%-40s %9.0f  [%.0f-%.0f]\n", "1 caller (round trip)", one[2], one[0], one[4]);
    printf("%-40s %9.0f  [%.0f-%.0f]\n", "16 concurrent callers (wall / calls)", many[2], many[0],
           many[4]);
    return 0;
}
