/* Channel micro-benchmarks, the peer of `go-conc chan` (bench/go_conc/chan.go).
 *
 *   chan_pingpong_*: two coroutines, two unbuffered channels of 8-byte
 *     elements; A sends on c1, B receives and sends it back on c2, A
 *     receives. ns_per_op = elapsed / (2 * round trips): the cost of one
 *     message handed over one way (Go's usual definition).
 *   chan_buffered128_*: one producer, one consumer, a channel of capacity
 *     128; ns_per_op = elapsed / messages.
 *   *_1worker: both coroutines on worker 0. *_2workers (printed when the
 *     runtime has 2+ workers): one coroutine on worker 0, the other on
 *     worker 1, so every hand-over that finds the peer parked is a
 *     cross-worker wake-up.
 *
 * Usage: chanbench [-c] [round_trips]   (default 1000000; the 2-worker runs
 * use a fifth of it; -c adds comment lines with the runtime counters per
 * message: switches, hand-offs, cross-worker wake-ups, syscalls). Workers come from RINGO_WORKERS
 * (default: the CPUs of the affinity mask), e.g. taskset -c 0 build/bench/chanbench RINGO_WORKERS=2
 * taskset -c 0,1 build/bench/chanbench Each line is "name ns_per_op value", the median of 5 runs
 * after a warm-up; lines starting with '#' are comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringo.h>

enum { RUNS = 5 };

static long round_trips = 1000000;

struct pp {
    ringo_chan *c1, *c2;
    long n;
    int64_t t0;      /* set by the sending side when it starts */
    int64_t elapsed; /* set by the side that sees the last message */
};

static void ponger(void *arg)
{
    struct pp *p = arg;
    long v;
    while (ringo_chan_recv(p->c1, &v, RINGO_FOREVER) == 0)
        if (ringo_chan_send(p->c2, &v, RINGO_FOREVER) != 0)
            break;
}

static void pinger(void *arg)
{
    struct pp *p = arg;
    p->t0 = ringo_now();
    for (long i = 0; i < p->n; i++) {
        long v = i;
        if (ringo_chan_send(p->c1, &v, RINGO_FOREVER) != 0 ||
            ringo_chan_recv(p->c2, &v, RINGO_FOREVER) != 0 || v != i) {
            fprintf(stderr, "chanbench: ping-pong broke at %ld\n", i);
            exit(1);
        }
    }
    p->elapsed = ringo_now() - p->t0;
    ringo_chan_close(p->c1);
}

static void producer(void *arg)
{
    struct pp *p = arg;
    p->t0 = ringo_now();
    for (long i = 0; i < p->n; i++)
        if (ringo_chan_send(p->c1, &i, RINGO_FOREVER) != 0)
            exit(1);
    ringo_chan_close(p->c1);
}

static void consumer(void *arg)
{
    struct pp *p = arg;
    long v, expect = 0;
    while (ringo_chan_recv(p->c1, &v, RINGO_FOREVER) == 0)
        if (v != expect++) {
            fprintf(stderr, "chanbench: buffered channel out of order\n");
            exit(1);
        }
    /* p->t0 was written before the first send: the channel orders it */
    p->elapsed = ringo_now() - p->t0;
    if (expect != p->n)
        exit(1);
}

/* One run: a on worker wa, b on worker wb; returns ns per op. */
static double run(void (*a)(void *), int wa, void (*b)(void *), int wb, size_t cap, long n,
                  long ops_per_n)
{
    struct pp p = {.n = n};
    if (ringo_chan_new(&p.c1, sizeof(long), cap) < 0 ||
        ringo_chan_new(&p.c2, sizeof(long), cap) < 0)
        exit(1);
    ringo_coro *ha, *hb;
    /* the receiving side first, so it is parked when the first message
     * arrives in every configuration */
    if (ringo_go_on(wb, b, &p, &hb) < 0 || ringo_go_on(wa, a, &p, &ha) < 0)
        exit(1);
    ringo_join(ha, RINGO_FOREVER);
    ringo_join(hb, RINGO_FOREVER);
    ringo_chan_free(p.c1);
    ringo_chan_free(p.c2);
    return (double)p.elapsed / (double)(n * ops_per_n);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int show_counters;

/* Runtime counters per message over the measured runs (chanbench -c):
 * what each message cost the scheduler and the kernel. */
static void print_counters(const char *name, const ringo_counters *a, const ringo_counters *b,
                           double msgs)
{
#define PER(f) ((double)(b->f - a->f) / msgs)
    printf("# %s per message: switches %.3f handoffs %.3f parks %.3f rounds %.3f remote_wakes "
           "%.3f msg_ring_wakes %.4f wake_syscalls %.4f syscalls %.4f idle_spins_vain %.4f\n",
           name, PER(switches), PER(handoffs), PER(parks), PER(rounds), PER(remote_wakes),
           PER(msg_ring_wakes), PER(wake_syscalls), PER(syscalls), PER(idle_spins_vain));
#undef PER
}

static void measure(const char *name, void (*a)(void *), int wa, void (*b)(void *), int wb,
                    size_t cap, long n, long ops_per_n)
{
    double r[RUNS];
    ringo_counters c0, c1;
    run(a, wa, b, wb, cap, n / 10 + 1, ops_per_n); /* warm-up: stacks, caches */
    ringo_stats(&c0);
    for (int i = 0; i < RUNS; i++)
        r[i] = run(a, wa, b, wb, cap, n, ops_per_n);
    ringo_stats(&c1);
    qsort(r, RUNS, sizeof(double), cmp_double);
    printf("%s ns_per_op %.1f\n", name, r[RUNS / 2]);
    if (show_counters)
        print_counters(name, &c0, &c1, (double)RUNS * (double)n * (double)ops_per_n);
    fflush(stdout);
}

static void bench_main(void *arg)
{
    (void)arg;
    long n = round_trips;
    printf("# ringo channels, %d worker(s), backend %s; median of %d runs\n", ringo_workers(),
           ringo_backend_name(), RUNS);
    printf("# pingpong: ns per one-way message = elapsed / (2 * round trips)\n");
    printf("# buffered128: one producer -> one consumer, ns per message\n");
    measure("chan_pingpong_1worker", pinger, 0, ponger, 0, 0, n, 2);
    measure("chan_buffered128_1worker", producer, 0, consumer, 0, 128, n, 1);
    if (ringo_workers() >= 2) {
        measure("chan_pingpong_2workers", pinger, 0, ponger, 1, 0, n / 5, 2);
        measure("chan_buffered128_2workers", producer, 0, consumer, 1, 128, n / 5, 1);
    }
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "-c") == 0) {
        show_counters = 1;
        i++;
    }
    if (i < argc)
        round_trips = atol(argv[i]);
    if (round_trips < 10) {
        fprintf(stderr, "usage: chanbench [-c] [round_trips >= 10]\n");
        return 2;
    }
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.handle_signals = 0;
    int r = ringo_main(&cfg, bench_main, NULL);
    if (r < 0) {
        fprintf(stderr, "chanbench: ringo_main: %s\n", ringo_strerror(r));
        return 1;
    }
    return 0;
}
