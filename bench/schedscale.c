/* Scheduler at scale and placement across workers:
 *   yield_ns timers=0|100000   ringo_yield with that many coroutines parked
 *                              on deadlines (the round must not degrade);
 *   timer_churn                100k coroutines sleeping 100-1000 ms in a loop:
 *                              timers fired per second, server CPU per timer,
 *                              wake-up lateness p50/p99;
 *   cpu_spread go|balanced     2 workers, 8 CPU-bound coroutines of 25 ms:
 *                              wall time when all are spawned on one worker
 *                              (no stealing moves them) vs ringo_go_balanced.
 * Output: one "name key=value ..." line per measurement.
 * Run: taskset -c 0 build/bench/schedscale   (cpu_spread needs 2 CPUs:
 *      taskset -c 0,1 build/bench/schedscale spread) */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ringo.h>

#define MS 1000000LL

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- yield with N parked deadlines ---- */

static void far_sleeper(void *arg)
{
    (void)arg;
    ringo_sleep(3600LL * 1000 * MS);
}

static void yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        ringo_yield();
}

static double yield_ns(void)
{
    long n = 2000000;
    ringo_coro *a, *b;
    int64_t t0 = ringo_now();
    ringo_go(yielder, &n, &a);
    ringo_go(yielder, &n, &b);
    ringo_join(a, RINGO_FOREVER);
    ringo_join(b, RINGO_FOREVER);
    return (double)(ringo_now() - t0) / (double)(2 * n);
}

/* ---- timer churn ---- */

#define CHURN 100000
static int64_t churn_end;
static _Atomic long fired;
static int64_t *late; /* lateness samples, one slot per fire (ring) */
static _Atomic long nlate;
#define LATE_CAP (1 << 22)

static void churner(void *arg)
{
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    while (ringo_now() < churn_end) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int64_t d = ringo_now() + (int64_t)(100 + s % 901) * MS;
        if (ringo_sleep_until(d) != 0)
            return;
        long k = nlate++;
        if (k < LATE_CAP)
            late[k] = ringo_now() - d;
        fired++;
    }
}

static void churn(void)
{
    late = malloc(sizeof(int64_t) * LATE_CAP);
    ringo_coro **h = malloc(sizeof(*h) * CHURN);
    churn_end = ringo_now() + 60LL * 1000 * MS; /* reset below */
    for (long i = 0; i < CHURN; i++)
        ringo_go(churner, (void *)(uintptr_t)i, &h[i]);
    ringo_yield();          /* all parked once: stacks exist */
    ringo_sleep(2000 * MS); /* past the first, synchronised wave */
    fired = 0;
    nlate = 0;
    double c0 = cpu_s();
    int64_t t0 = ringo_now();
    ringo_sleep(5000 * MS);
    long f = fired;
    double c1 = cpu_s();
    int64_t t1 = ringo_now();
    long n = nlate < LATE_CAP ? nlate : LATE_CAP;
    churn_end = 0;
    for (long i = 0; i < CHURN; i++)
        ringo_join(h[i], RINGO_FOREVER);
    qsort(late, (size_t)n, sizeof(int64_t), cmp_i64);
    printf("timer_churn coroutines=%d fired_per_s=%.0f cpu_ns_per_timer=%.0f late_p50_us=%.1f "
           "late_p99_us=%.1f\n",
           CHURN, (double)f / ((double)(t1 - t0) / 1e9), (c1 - c0) * 1e9 / (double)f,
           n ? (double)late[n / 2] / 1e3 : 0, n ? (double)late[n * 99 / 100] / 1e3 : 0);
    free(late);
    free(h);
}

static void scale_main(void *arg)
{
    (void)arg;
    printf("yield_ns timers=0 ns=%.1f\n", yield_ns());
    ringo_coro **h = malloc(sizeof(*h) * 100000);
    ringo_go(far_sleeper, NULL, &h[0]);
    ringo_yield();
    printf("yield_ns timers=1 ns=%.1f\n", yield_ns());
    for (int i = 1; i < 100000; i++)
        ringo_go(far_sleeper, NULL, &h[i]);
    ringo_yield();
    printf("yield_ns timers=100000 ns=%.1f\n", yield_ns());
    for (int i = 0; i < 100000; i++)
        ringo_cancel(h[i]);
    for (int i = 0; i < 100000; i++)
        ringo_join(h[i], RINGO_FOREVER);
    free(h);
    churn();
    fflush(stdout);
}

/* ---- CPU-bound work spread over workers ---- */

static void burn(void *arg)
{
    (void)arg;
    /* 25 ms of CPU in 1 ms slices, yielding between them as a well-behaved
     * coroutine does */
    for (int slice = 0; slice < 25; slice++) {
        int64_t end = ringo_now() + MS;
        volatile unsigned long x = 0;
        while (ringo_now() < end)
            for (int i = 0; i < 1000; i++)
                x += (unsigned long)i;
        ringo_yield();
    }
}

static void spread_main(void *arg)
{
    int balanced = *(int *)arg;
    ringo_coro *h[8];
    int64_t t0 = ringo_now();
    for (int i = 0; i < 8; i++) {
        if (balanced)
            ringo_go_balanced(burn, NULL, &h[i]);
        else
            ringo_go(burn, NULL, &h[i]);
    }
    for (int i = 0; i < 8; i++)
        ringo_join(h[i], RINGO_FOREVER);
    printf("cpu_spread mode=%s workers=%d wall_ms=%.1f\n", balanced ? "balanced" : "go",
           ringo_workers(), (double)(ringo_now() - t0) / 1e6);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    if (argc > 1 && strcmp(argv[1], "spread") == 0) {
        cfg.workers = 2;
        for (int rep = 0; rep < 3; rep++)
            for (int balanced = 0; balanced < 2; balanced++)
                if (ringo_main(&cfg, spread_main, &balanced) != 0)
                    return 1;
        return 0;
    }
    cfg.workers = 1;
    return ringo_main(&cfg, scale_main, NULL) != 0;
}
