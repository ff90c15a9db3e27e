/* Micro-benchmarks of coroutine spawn and the sync primitives, the peer of
 * `go-conc spawnjoin|mutex|wg` (bench/go_conc/sync.go).
 *
 *   spawn_join: ringo_go of an empty coroutine + ringo_join; ns per pair.
 *   mutex_uncontended: ringo_mutex_lock + ringo_mutex_unlock by one
 *     coroutine (the fast path: one CAS each); ns per pair.
 *   mutex_handoff: two coroutines each loop { lock; ringo_yield; unlock },
 *     so every lock finds the mutex held, parks, and is handed the mutex
 *     by the other's unlock; ns per lock/unlock pair (both coroutines'
 *     pairs counted).
 *   wg_round: ringo_wg_add(1) + ringo_wg_done + ringo_wg_wait by one
 *     coroutine (never parks); ns per round.
 *   wg_pingpong: two coroutines and two wait groups at 1; A waits on a,
 *     re-arms it and releases B's; B the mirror image. ns per round trip
 *     (two parks and two wakes).
 *   *_1worker: everything on worker 0. *_2workers (printed when the
 *     runtime has 2+ workers): the two coroutines on workers 0 and 1, so
 *     every wake is a cross-worker wake-up.
 *
 * Usage: syncbench [scale]   (default 1; iteration counts are multiplied
 * by it). Workers come from RINGO_WORKERS (default: the CPUs of the
 * affinity mask), e.g.
 *   RINGO_WORKERS=1 taskset -c 0 build/bench/syncbench
 * Each line is "name ns_per_op value", the median of 5 runs after a
 * warm-up; lines starting with '#' are comments. */
#include <stdio.h>
#include <stdlib.h>

#include <ringo.h>

enum { RUNS = 5 };

static double scale = 1.0;

static long iters(long base)
{
    long n = (long)((double)base * scale);
    return n < 10 ? 10 : n;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "syncbench: %s: %s\n", what, ringo_strerror(r));
    exit(1);
}

static void check(const char *what, int r)
{
    if (r < 0)
        die(what, r);
}

/* ---- spawn + join ---- */

static void nothing(void *arg)
{
    (void)arg;
}

static double spawn_join(long n, int peer_worker)
{
    (void)peer_worker;
    int64_t t0 = ringo_now();
    for (long i = 0; i < n; i++) {
        ringo_coro *h;
        check("ringo_go", ringo_go(nothing, NULL, &h));
        check("ringo_join", ringo_join(h, RINGO_FOREVER));
    }
    return (double)(ringo_now() - t0) / (double)n;
}

/* ---- mutex ---- */

static double mutex_uncontended(long n, int peer_worker)
{
    (void)peer_worker;
    ringo_mutex m;
    ringo_mutex_init(&m);
    int64_t t0 = ringo_now();
    for (long i = 0; i < n; i++) {
        check("lock", ringo_mutex_lock(&m, RINGO_FOREVER));
        check("unlock", ringo_mutex_unlock(&m));
    }
    return (double)(ringo_now() - t0) / (double)n;
}

struct handoff {
    ringo_mutex m;
    long n;
    long alternations; /* ownership changed hands (under m) */
    int last;
};

static void handoff_loop(struct handoff *h, int me)
{
    for (long i = 0; i < h->n; i++) {
        check("lock", ringo_mutex_lock(&h->m, RINGO_FOREVER));
        h->alternations += h->last != me;
        h->last = me;
        check("yield", ringo_yield());
        check("unlock", ringo_mutex_unlock(&h->m));
    }
}

static void handoff_b(void *arg)
{
    handoff_loop(arg, 2);
}

static double mutex_handoff(long n, int peer_worker)
{
    struct handoff h = {.n = n};
    ringo_mutex_init(&h.m);
    ringo_coro *b;
    int64_t t0 = ringo_now();
    check("ringo_go_on", ringo_go_on(peer_worker, handoff_b, &h, &b));
    handoff_loop(&h, 1);
    check("ringo_join", ringo_join(b, RINGO_FOREVER));
    double ns = (double)(ringo_now() - t0) / (double)(2 * n);
    /* FIFO hand-off on one worker: the two must take turns (a barging
     * mutex would let the unlocker re-take it before the other runs) */
    if (peer_worker == 0 && h.alternations < 2 * n - 1) {
        fprintf(stderr, "syncbench: mutex hand-off did not alternate (%ld of %ld)\n",
                h.alternations, 2 * n);
        exit(1);
    }
    return ns;
}

/* ---- wait group ---- */

static double wg_round(long n, int peer_worker)
{
    (void)peer_worker;
    ringo_wg wg;
    ringo_wg_init(&wg);
    int64_t t0 = ringo_now();
    for (long i = 0; i < n; i++) {
        check("wg_add", ringo_wg_add(&wg, 1));
        check("wg_done", ringo_wg_done(&wg));
        check("wg_wait", ringo_wg_wait(&wg, RINGO_FOREVER));
    }
    return (double)(ringo_now() - t0) / (double)n;
}

struct wgpp {
    ringo_wg a, b;
    long n;
};

static void wgpp_b(void *arg)
{
    struct wgpp *p = arg;
    for (long i = 0; i < p->n; i++) {
        /* re-arm ours before releasing A, which releases us next */
        check("wg_done", ringo_wg_done(&p->a));
        check("wg_wait", ringo_wg_wait(&p->b, RINGO_FOREVER));
        check("wg_add", ringo_wg_add(&p->b, 1));
    }
}

static double wg_pingpong(long n, int peer_worker)
{
    struct wgpp p = {.n = n};
    ringo_wg_init(&p.a);
    ringo_wg_init(&p.b);
    check("wg_add", ringo_wg_add(&p.a, 1));
    check("wg_add", ringo_wg_add(&p.b, 1));
    ringo_coro *b;
    int64_t t0 = ringo_now();
    check("ringo_go_on", ringo_go_on(peer_worker, wgpp_b, &p, &b));
    for (long i = 0; i < n; i++) {
        check("wg_wait", ringo_wg_wait(&p.a, RINGO_FOREVER));
        check("wg_add", ringo_wg_add(&p.a, 1));
        check("wg_done", ringo_wg_done(&p.b));
    }
    check("ringo_join", ringo_join(b, RINGO_FOREVER));
    return (double)(ringo_now() - t0) / (double)n;
}

/* ---- driver ---- */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void measure(const char *name, double (*f)(long, int), long n, int peer_worker)
{
    double r[RUNS];
    f(n / 10 + 1, peer_worker); /* warm-up: stacks, caches */
    for (int i = 0; i < RUNS; i++)
        r[i] = f(n, peer_worker);
    qsort(r, RUNS, sizeof(double), cmp_double);
    printf("%s ns_per_op %.1f\n", name, r[RUNS / 2]);
    fflush(stdout);
}

static void bench_main(void *arg)
{
    (void)arg;
    printf("# ringo sync, %d worker(s), backend %s; median of %d runs\n", ringo_workers(),
           ringo_backend_name(), RUNS);
    printf("# spawn_join: ringo_go(empty) + ringo_join\n");
    printf("# mutex_handoff: ns per lock/unlock pair, 2 coroutines, yield inside\n");
    printf("# wg_pingpong: ns per round trip (2 parks + 2 wakes)\n");
    measure("spawn_join_1worker", spawn_join, iters(200000), 0);
    measure("mutex_uncontended_1worker", mutex_uncontended, iters(10000000), 0);
    measure("mutex_handoff_1worker", mutex_handoff, iters(200000), 0);
    measure("wg_round_1worker", wg_round, iters(10000000), 0);
    measure("wg_pingpong_1worker", wg_pingpong, iters(200000), 0);
    if (ringo_workers() >= 2) {
        measure("mutex_handoff_2workers", mutex_handoff, iters(50000), 1);
        measure("wg_pingpong_2workers", wg_pingpong, iters(50000), 1);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scale = atof(argv[1]);
    if (!(scale > 0)) {
        fprintf(stderr, "usage: syncbench [scale > 0]\n");
        return 2;
    }
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.handle_signals = 0;
    int r = ringo_main(&cfg, bench_main, NULL);
    if (r < 0)
        die("ringo_main", r);
    return 0;
}
