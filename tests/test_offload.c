/* Blocking-offload pool tests: fn runs on another thread while the worker
 * keeps going, the pool's bound under saturation, deadline and cancel of
 * queued vs running calls, growth after idling, calls from several
 * workers, a stop with calls queued and running, pool threads of a pinned
 * runtime, the abandon path of the internal ringo__offload_run, argument
 * errors. */
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "sched/offload.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() T_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define T_LEAK_CHECK() ((void)0)
#endif

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t io_deadline(void)
{
    return ringo_deadline_in(20 * SEC);
}

/* Run fn under ringo_main with a pool of `threads` threads. */
static void run_pool(int workers, int threads, void (*fn)(void *), void *arg)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    if (workers > 0)
        cfg.workers = workers;
    cfg.offload_threads = threads;
    cfg.handle_signals = 0;
    int rc = ringo_main(&cfg, fn, arg);
    if (rc < 0)
        T_FAIL("ringo_main: %s", ringo_strerror(rc));
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Monotonic time for plain threads (ringo_now works there too, but this
 * keeps the pool side free of ringo calls). */
static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Park the calling coroutine until *v >= want; fails the case after 10 s. */
static void wait_at_least(_Atomic int *v, int want)
{
    int64_t end = ringo_deadline_in(10 * SEC);
    while (atomic_load(v) < want) {
        if (ringo_now() > end)
            T_FAIL("waited 10 s for a counter to reach %d (it is %d)", want, atomic_load(v));
        ringo_sleep(MS);
    }
}

/* A gate that offloaded functions block on (in nanosleep steps) until the
 * test opens it; 10 s bound so a bug cannot hang the pool forever. */
struct gate {
    _Atomic int open;
    _Atomic int running; /* inside fn now */
    _Atomic int started; /* ever entered */
    _Atomic int finished;
};

static void gate_wait(struct gate *g)
{
    int64_t end = mono_ns() + 10 * SEC;
    while (!atomic_load(&g->open) && mono_ns() < end)
        sleep_ns(MS);
}

static void gated_fn(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->started, 1);
    atomic_fetch_add(&g->running, 1);
    gate_wait(g);
    atomic_fetch_sub(&g->running, 1);
    atomic_fetch_add(&g->finished, 1);
}

/* ---- fn runs on another thread; the worker keeps running ---- */

struct other_thread {
    pid_t worker_tid, fn_tid;
    _Atomic int ticks;
    _Atomic int stop;
    int ticks_at_start, ticks_seen;
    int result;
};

static void ticker(void *arg)
{
    struct other_thread *o = arg;
    while (!atomic_load(&o->stop)) {
        atomic_fetch_add(&o->ticks, 1);
        ringo_sleep(MS);
    }
}

/* Blocks (nanosleep) until the ticker coroutine has advanced by 5: only
 * possible if the worker runs while this thread blocks. */
static void blocking_fn(void *arg)
{
    struct other_thread *o = arg;
    o->fn_tid = gettid();
    o->ticks_at_start = atomic_load(&o->ticks);
    int64_t end = mono_ns() + 10 * SEC;
    while (atomic_load(&o->ticks) < o->ticks_at_start + 5 && mono_ns() < end)
        sleep_ns(MS);
    o->ticks_seen = atomic_load(&o->ticks);
    o->result = 42;
}

static void other_thread_main(void *arg)
{
    struct other_thread *o = arg;
    o->worker_tid = gettid();
    ringo_coro *tk;
    T_OK(ringo_go(ticker, o, &tk));
    T_EQ(ringo_offload(blocking_fn, o, io_deadline()), 0);
    T_EQ(o->result, 42); /* written by the pool thread, visible now */
    T_ASSERT(o->fn_tid != 0 && o->fn_tid != o->worker_tid);
    T_ASSERT(o->ticks_seen >= o->ticks_at_start + 5);
    atomic_store(&o->stop, 1);
    T_OK(ringo_join(tk, io_deadline()));
}

T_CASE(offload_runs_on_other_thread, T_IO)
{
    struct other_thread o;
    memset(&o, 0, sizeof(o));
    t_run(1, other_thread_main, &o);
}

/* ---- saturation: 40 calls on 4 threads, some with short deadlines ----
 *
 * The first calls to reach the pool stay in fn, behind a gate, until every
 * short-deadline call still queued has timed out: so which calls time out
 * is decided by the queue, not by how fast this machine is. */

#define SAT_CALLS   40
#define SAT_THREADS 4

struct sat;
struct sat_call {
    struct sat *s;
    int index;
    int64_t deadline;
    _Atomic int ran;      /* fn entered */
    _Atomic int finished; /* fn returned */
    _Atomic int returned; /* ringo_offload returned */
    int finished_at_return;
    int rc;
};

struct sat {
    struct gate g; /* only its open flag and hang guard are used */
    _Atomic int running, max_running, total_runs;
    struct sat_call calls[SAT_CALLS];
};

static void sat_fn(void *arg)
{
    struct sat_call *c = arg;
    struct sat *s = c->s;
    atomic_fetch_add(&c->ran, 1);
    atomic_fetch_add(&s->total_runs, 1);
    int now = atomic_fetch_add(&s->running, 1) + 1;
    int max = atomic_load(&s->max_running);
    while (now > max && !atomic_compare_exchange_weak(&s->max_running, &max, now))
        ;
    gate_wait(&s->g);
    sleep_ns(20 * MS);
    atomic_fetch_sub(&s->running, 1);
    atomic_store(&c->finished, 1);
}

static void sat_caller(void *arg)
{
    struct sat_call *c = arg;
    c->rc = ringo_offload(sat_fn, c, c->deadline);
    c->finished_at_return = atomic_load(&c->finished);
    atomic_store(&c->returned, 1);
}

/* Every short-deadline call has either reached fn or returned. */
static int sat_short_calls_settled(struct sat *s)
{
    for (int i = 3; i < SAT_CALLS; i += 4)
        if (!atomic_load(&s->calls[i].ran) && !atomic_load(&s->calls[i].returned))
            return 0;
    return 1;
}

static void sat_main(void *arg)
{
    struct sat *s = arg;
    /* every 4th call may wait 30 ms; the others wait as long as it takes */
    int64_t short_deadline = ringo_deadline_in(30 * MS);
    int64_t t0 = ringo_now();
    ringo_coro *h[SAT_CALLS];
    for (int i = 0; i < SAT_CALLS; i++) {
        struct sat_call *c = &s->calls[i];
        c->s = s;
        c->index = i;
        c->deadline = i % 4 == 3 ? short_deadline : RINGO_FOREVER;
        T_OK(ringo_go(sat_caller, c, &h[i]));
    }
    /* the pool fills, and with every thread held in fn no queued call can
     * start: each short one still queued must time out */
    wait_at_least(&s->running, SAT_THREADS);
    int64_t end = ringo_deadline_in(10 * SEC);
    while (!sat_short_calls_settled(s)) {
        if (ringo_now() > end)
            T_FAIL("short-deadline calls neither ran nor timed out in 10 s");
        ringo_sleep(MS);
    }
    T_ASSERT(ringo_now() >= short_deadline);
    atomic_store(&s->g.open, 1);
    for (int i = 0; i < SAT_CALLS; i++)
        T_OK(ringo_join(h[i], io_deadline()));
    int64_t elapsed = ringo_now() - t0;

    int ok = 0, timed_out = 0;
    for (int i = 0; i < SAT_CALLS; i++) {
        struct sat_call *c = &s->calls[i];
        if (c->rc == 0) {
            /* 0 only once fn has returned */
            T_EQ(c->finished_at_return, 1);
            T_EQ(atomic_load(&c->ran), 1);
            ok++;
        } else {
            /* -ETIMEDOUT only for a call still queued: its fn never runs */
            T_EQ(c->rc, -ETIMEDOUT);
            T_ASSERT(c->deadline != RINGO_FOREVER);
            T_EQ(atomic_load(&c->ran), 0);
            timed_out++;
        }
    }
    T_EQ(ok + timed_out, SAT_CALLS);
    T_ASSERT(ok >= SAT_CALLS * 3 / 4); /* every call without a deadline */
    /* at most SAT_THREADS short calls can have reached fn before the gate
     * opened; the rest were queued behind held threads */
    T_ASSERT(timed_out >= SAT_CALLS / 4 - SAT_THREADS);
    T_EQ(atomic_load(&s->total_runs), ok);
    T_EQ(atomic_load(&s->max_running), SAT_THREADS); /* filled, never more */
    /* at most 4 at a time: the calls that ran need >= ok/4 rounds of 20 ms */
    T_ASSERT(elapsed >= (int64_t)(ok / SAT_THREADS) * 20 * MS);

    /* nothing timed out runs late: the queue is empty once every caller
     * has returned (one more call goes through it to make sure) */
    struct sat_call extra = {.s = s};
    T_EQ(ringo_offload(sat_fn, &extra, io_deadline()), 0);
    for (int i = 0; i < SAT_CALLS; i++)
        if (s->calls[i].rc != 0)
            T_EQ(atomic_load(&s->calls[i].ran), 0);
}

T_CASE(offload_saturation, T_IO)
{
    static struct sat s;
    run_pool(1, SAT_THREADS, sat_main, &s);
}

/* ---- deadline and cancel: queued calls never run ---- */

struct dq {
    struct gate blockers; /* hold every pool thread */
    struct gate queued;   /* fns that must never run */
    int cancel_rc;
    _Atomic int cancel_started;
};

static void dq_blocker(void *arg)
{
    struct dq *d = arg;
    T_EQ(ringo_offload(gated_fn, &d->blockers, RINGO_FOREVER), 0);
}

static void dq_cancelled(void *arg)
{
    struct dq *d = arg;
    atomic_store(&d->cancel_started, 1);
    d->cancel_rc = ringo_offload(gated_fn, &d->queued, RINGO_FOREVER);
}

static void dq_main(void *arg)
{
    struct dq *d = arg;
    ringo_coro *hb[2], *hc;
    for (int i = 0; i < 2; i++)
        T_OK(ringo_go(dq_blocker, d, &hb[i]));
    wait_at_least(&d->blockers.running, 2); /* both pool threads busy */

    /* queued past its deadline: -ETIMEDOUT, and it never runs */
    int64_t t0 = ringo_now();
    T_EQ(ringo_offload(gated_fn, &d->queued, ringo_deadline_in(20 * MS)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    /* RINGO_NOWAIT with no free thread: at once */
    T_EQ(ringo_offload(gated_fn, &d->queued, RINGO_NOWAIT), -ETIMEDOUT);

    /* a queued call cancelled: -ECANCELED, never runs */
    T_OK(ringo_go(dq_cancelled, d, &hc));
    ringo_sleep(5 * MS); /* let it queue */
    T_EQ(atomic_load(&d->cancel_started), 1);
    T_OK(ringo_cancel(hc));
    T_OK(ringo_join(hc, io_deadline()));
    T_EQ(d->cancel_rc, -ECANCELED);

    atomic_store(&d->blockers.open, 1);
    for (int i = 0; i < 2; i++)
        T_OK(ringo_join(hb[i], io_deadline()));
    T_EQ(atomic_load(&d->blockers.finished), 2);

    /* FIFO: had a dropped call stayed queued, it would run before this */
    atomic_store(&d->queued.open, 1);
    struct gate probe = {.open = 1};
    T_EQ(ringo_offload(gated_fn, &probe, io_deadline()), 0);
    T_EQ(atomic_load(&probe.finished), 1);
    T_EQ(atomic_load(&d->queued.started), 0);
}

T_CASE(offload_deadline_and_cancel_queued, T_IO)
{
    static struct dq d;
    run_pool(1, 2, dq_main, &d);
}

/* ---- a deadline that passes while fn runs: the call waits for fn ---- */

struct dr {
    struct gate g;
    int64_t deadline;
    int rc;
    int finished_at_return;
    _Atomic int returned;
};

static void dr_caller(void *arg)
{
    struct dr *r = arg;
    r->rc = ringo_offload(gated_fn, &r->g, r->deadline);
    r->finished_at_return = atomic_load(&r->g.finished);
    atomic_store(&r->returned, 1);
}

static void dr_main(void *arg)
{
    (void)arg;
    /* fn must start before the deadline for this to test anything; on a
     * slow machine it may not, so retry with longer deadlines (such a
     * call times out queued and never runs: checked too) */
    for (int64_t wait = 20 * MS;; wait *= 2) {
        T_ASSERT(wait < 20 * SEC);
        struct dr r;
        memset(&r, 0, sizeof(r));
        r.deadline = ringo_deadline_in(wait);
        ringo_coro *h;
        T_OK(ringo_go(dr_caller, &r, &h));
        while (!atomic_load(&r.returned) && atomic_load(&r.g.running) == 0)
            ringo_sleep(MS);
        if (atomic_load(&r.returned)) {
            T_OK(ringo_join(h, io_deadline()));
            T_EQ(r.rc, -ETIMEDOUT);
            T_EQ(atomic_load(&r.g.started), 0);
            continue;
        }
        /* fn runs: let the deadline pass well behind us */
        ringo_sleep_until(r.deadline + 20 * MS);
        T_EQ(atomic_load(&r.returned), 0);
        atomic_store(&r.g.open, 1);
        T_OK(ringo_join(h, io_deadline()));
        T_EQ(r.rc, 0);
        T_EQ(r.finished_at_return, 1);
        break;
    }
}

T_CASE(offload_deadline_while_running_waits, T_IO)
{
    run_pool(1, 1, dr_main, NULL);
}

/* A cancel of a call whose fn is running does not interrupt the wait. */
struct cr {
    struct gate g;
    int rc;
    int finished_at_return;
};

static void cr_caller(void *arg)
{
    struct cr *c = arg;
    c->rc = ringo_offload(gated_fn, &c->g, RINGO_FOREVER);
    c->finished_at_return = atomic_load(&c->g.finished);
}

static void cr_main(void *arg)
{
    struct cr *c = arg;
    ringo_coro *h;
    T_OK(ringo_go(cr_caller, c, &h));
    wait_at_least(&c->g.running, 1);
    T_OK(ringo_cancel(h));
    ringo_sleep(20 * MS);
    T_EQ(atomic_load(&c->g.finished), 0);
    atomic_store(&c->g.open, 1);
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(c->rc, 0);
    T_EQ(c->finished_at_return, 1);
}

T_CASE(offload_cancel_running_waits, T_IO)
{
    static struct cr c;
    run_pool(1, 1, cr_main, &c);
}

/* ---- the pool grows for a burst that arrives while one thread idles ---- */

struct grow {
    _Atomic int running, max_running;
    int rc[8];
};

/* Stays until 4 calls are inside at once (or 10 s pass: the failure, a
 * pool that did not grow; a bound only against a hang). */
static void grow_fn(void *arg)
{
    struct grow *g = arg;
    int now = atomic_fetch_add(&g->running, 1) + 1;
    int max = atomic_load(&g->max_running);
    while (now > max && !atomic_compare_exchange_weak(&g->max_running, &max, now))
        ;
    int64_t end = mono_ns() + 10 * SEC;
    while (atomic_load(&g->max_running) < 4 && mono_ns() < end)
        sleep_ns(MS);
    atomic_fetch_sub(&g->running, 1);
}

static void noop_fn(void *arg)
{
    (void)arg;
}

struct grow_call {
    struct grow *g;
    int i;
};

static void grow_caller(void *arg)
{
    struct grow_call *c = arg;
    c->g->rc[c->i] = ringo_offload(grow_fn, c->g, io_deadline());
}

static void grow_main(void *arg)
{
    struct grow *g = arg;
    /* one thread started, now idle */
    T_EQ(ringo_offload(noop_fn, NULL, io_deadline()), 0);
    ringo_sleep(10 * MS);
    struct grow_call c[8];
    ringo_coro *h[8];
    for (int i = 0; i < 8; i++) {
        c[i] = (struct grow_call){g, i};
        T_OK(ringo_go(grow_caller, &c[i], &h[i]));
    }
    for (int i = 0; i < 8; i++)
        T_OK(ringo_join(h[i], io_deadline()));
    for (int i = 0; i < 8; i++)
        T_EQ(g->rc[i], 0);
    T_EQ(atomic_load(&g->max_running), 4);
}

T_CASE(offload_grows_after_idle, T_IO)
{
    static struct grow g;
    run_pool(1, 4, grow_main, &g);
}

/* ---- calls from several workers at once ---- */

#define MW_WORKERS 4
#define MW_CALLERS 8 /* per worker */
#define MW_ROUNDS  25

struct mw_arg {
    int in;
    int out; /* written by the pool thread */
};

static void square_fn(void *arg)
{
    struct mw_arg *a = arg;
    a->out = a->in * a->in;
}

struct mw {
    _Atomic int calls_ok;
    _Atomic int wrong;
    _Atomic int workers_seen[MW_WORKERS];
};

static void mw_caller(void *arg)
{
    struct mw *m = arg;
    atomic_store(&m->workers_seen[ringo_worker_id()], 1);
    for (int r = 0; r < MW_ROUNDS; r++) {
        /* on the caller's stack: the pool thread writes into it */
        struct mw_arg a = {.in = r + ringo_worker_id() * 1000, .out = -1};
        int rc = ringo_offload(square_fn, &a, io_deadline());
        if (rc == 0 && a.out == a.in * a.in)
            atomic_fetch_add(&m->calls_ok, 1);
        else
            atomic_fetch_add(&m->wrong, 1);
    }
}

static void mw_main(void *arg)
{
    struct mw *m = arg;
    T_EQ(ringo_workers(), MW_WORKERS);
    ringo_coro *h[MW_WORKERS * MW_CALLERS];
    for (int i = 0; i < MW_WORKERS * MW_CALLERS; i++)
        T_OK(ringo_go_on(i % MW_WORKERS, mw_caller, m, &h[i]));
    for (int i = 0; i < MW_WORKERS * MW_CALLERS; i++)
        T_OK(ringo_join(h[i], io_deadline()));
    T_EQ(atomic_load(&m->wrong), 0);
    T_EQ(atomic_load(&m->calls_ok), MW_WORKERS * MW_CALLERS * MW_ROUNDS);
    for (int i = 0; i < MW_WORKERS; i++)
        T_EQ(atomic_load(&m->workers_seen[i]), 1);
}

T_CASE(offload_many_workers, T_IO)
{
    static struct mw m;
    run_pool(MW_WORKERS, 3, mw_main, &m);
}

/* ---- ringo_stop with calls queued and running ---- */

#define ST_CALLS 10

struct st {
    struct gate g;
    int rc[ST_CALLS];
    _Atomic int returned;
    _Atomic int late_rc;          /* a call made after the stop */
    _Atomic int opened_on_answer; /* the opener saw every queued answer */
};

struct st_call {
    struct st *s;
    int i;
};

static void st_caller(void *arg)
{
    struct st_call *c = arg;
    c->s->rc[c->i] = ringo_offload(gated_fn, &c->s->g, RINGO_FOREVER);
    atomic_fetch_add(&c->s->returned, 1);
}

/* Keeps the running calls busy until every queued caller has had its
 * answer (so no queued call could have slipped into a freed thread), then
 * lets them finish. */
static void *st_opener(void *arg)
{
    struct st *s = arg;
    int64_t end = mono_ns() + 10 * SEC;
    while (atomic_load(&s->returned) < ST_CALLS - 2 && mono_ns() < end)
        sleep_ns(MS);
    atomic_store(&s->opened_on_answer, atomic_load(&s->returned) >= ST_CALLS - 2);
    atomic_store(&s->g.open, 1);
    return NULL;
}

static void st_main(void *arg)
{
    struct st *s = arg;
    static struct st_call calls[ST_CALLS];
    for (int i = 0; i < ST_CALLS; i++) {
        calls[i] = (struct st_call){s, i};
        T_OK(ringo_go(st_caller, &calls[i], NULL));
    }
    wait_at_least(&s->g.running, 2);
    /* a plain thread opens the gate once the stop has dealt with the
     * queued calls */
    pthread_t opener;
    T_EQ(pthread_create(&opener, NULL, st_opener, s), 0);
    pthread_detach(opener);
    ringo_stop();
    atomic_store(&s->late_rc, ringo_offload(noop_fn, NULL, RINGO_FOREVER));
}

T_CASE(offload_stop_with_calls_queued_and_running, T_IO)
{
    static struct st s;
    atomic_store(&s.late_rc, 1);
    run_pool(1, 2, st_main, &s);
    /* every caller got its answer; the queued ones theirs while the two
     * running calls were still held in fn (not after the opener gave up) */
    T_EQ(atomic_load(&s.returned), ST_CALLS);
    T_EQ(atomic_load(&s.opened_on_answer), 1);
    int ran = 0, dropped = 0;
    for (int i = 0; i < ST_CALLS; i++) {
        if (s.rc[i] == 0)
            ran++;
        else {
            T_ASSERT(s.rc[i] == -ECANCELED || s.rc[i] == RINGO_ESTOPPED);
            dropped++;
        }
    }
    /* the two running calls waited for fn; the queued ones never ran */
    T_EQ(ran, 2);
    T_EQ(dropped, ST_CALLS - 2);
    T_EQ(atomic_load(&s.g.started), 2);
    T_EQ(atomic_load(&s.g.finished), 2);
    T_EQ(atomic_load(&s.late_rc), RINGO_ESTOPPED);
    T_LEAK_CHECK();
}

/* ringo_main's return waits for an offloaded function that is running
 * when the runtime stops. */
struct ms {
    _Atomic int started, done;
};

static void slow_fn(void *arg)
{
    struct ms *m = arg;
    atomic_store(&m->started, 1);
    sleep_ns(200 * MS);
    atomic_store(&m->done, 1);
}

static void stop_slow_caller(void *arg)
{
    T_EQ(ringo_offload(slow_fn, arg, RINGO_FOREVER), 0);
}

static void stop_slow_main(void *arg)
{
    struct ms *m = arg;
    T_OK(ringo_go(stop_slow_caller, m, NULL));
    wait_at_least(&m->started, 1);
    /* main returns: the runtime stops with the call in fn */
}

T_CASE(offload_main_returns_while_fn_runs, T_IO)
{
    static struct ms m;
    run_pool(1, 1, stop_slow_main, &m);
    T_EQ(atomic_load(&m.done), 1);
    T_LEAK_CHECK();
}

/* ---- a pinned runtime: pool threads are not tied to one worker's CPU ---- */

struct pin {
    int cpus_fn, cpus_worker;
};

static void cpus_fn(void *arg)
{
    struct pin *p = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        p->cpus_fn = CPU_COUNT(&set);
}

static void pin_main(void *arg)
{
    struct pin *p = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    T_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    p->cpus_worker = CPU_COUNT(&set);
    T_EQ(ringo_offload(cpus_fn, p, io_deadline()), 0);
}

T_CASE(offload_pinned_runtime_spreads_pool, T_IO)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    T_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    int cpus = CPU_COUNT(&set);
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = cpus;
    cfg.pin_workers = 1;
    cfg.handle_signals = 0;
    struct pin p = {0, 0};
    T_OK(ringo_main(&cfg, pin_main, &p));
    T_EQ(p.cpus_worker, 1); /* worker 0 is pinned... */
    T_EQ(p.cpus_fn, cpus);  /* ...its pool thread runs on every worker's CPU */
}

/* ---- argument errors and where ringo_offload may be called ---- */

struct nested {
    int rc_offload, rc_sleep;
};

static void nested_fn(void *arg)
{
    struct nested *n = arg;
    /* a pool thread is not a coroutine */
    n->rc_offload = ringo_offload(noop_fn, NULL, RINGO_FOREVER);
    n->rc_sleep = ringo_sleep(MS);
}

static void errors_main(void *arg)
{
    (void)arg;
    T_EQ(ringo_offload(NULL, NULL, RINGO_FOREVER), -EINVAL);
    struct nested n = {1, 1};
    T_EQ(ringo_offload(nested_fn, &n, io_deadline()), 0);
    T_EQ(n.rc_offload, RINGO_ENOTINCORO);
    T_EQ(n.rc_sleep, RINGO_ENOTINCORO);
    struct ringo__offload_job job = {.fn = noop_fn};
    T_EQ(ringo__offload_run(&job, RINGO_FOREVER, true), -EINVAL); /* no abandoned */
    T_EQ(ringo__offload_run(NULL, RINGO_FOREVER, false), -EINVAL);
}

T_CASE(offload_errors, T_IO)
{
    T_EQ(ringo_offload(noop_fn, NULL, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_offload(NULL, NULL, RINGO_FOREVER), -EINVAL);
    t_run(1, errors_main, NULL);
}

/* ---- ringo__offload_run with may_abandon ---- */

struct ab_job {
    struct ringo__offload_job job;
    struct gate *g;
    _Atomic int *abandoned_calls;
    _Atomic int *freed_on_pool; /* abandoned ran off the caller's thread */
    pid_t caller_tid;
};

static void ab_fn(void *arg)
{
    struct ab_job *j = arg;
    gated_fn(j->g);
}

static void ab_abandoned(struct ringo__offload_job *job)
{
    struct ab_job *j = (struct ab_job *)job;
    /* freed_on_pool first: the test waits on abandoned_calls */
    if (gettid() != j->caller_tid)
        atomic_fetch_add(j->freed_on_pool, 1);
    _Atomic int *calls = j->abandoned_calls;
    free(j);
    atomic_fetch_add(calls, 1);
}

struct ab {
    struct gate running_g, queued_g, ok_g, cancel_g;
    _Atomic int abandoned_calls, freed_on_pool;
    int cancel_rc;
    _Atomic int cancel_finished_at_return;
};

static struct ab_job *ab_new(struct ab *a, struct gate *g)
{
    struct ab_job *j = calloc(1, sizeof(*j));
    T_ASSERT(j);
    j->job.fn = ab_fn;
    j->job.arg = j;
    j->job.abandoned = ab_abandoned;
    j->g = g;
    j->abandoned_calls = &a->abandoned_calls;
    j->freed_on_pool = &a->freed_on_pool;
    j->caller_tid = gettid();
    return j;
}

static void ab_cancel_caller(void *arg)
{
    struct ab *a = arg;
    a->cancel_rc = ringo__offload_run(&ab_new(a, &a->cancel_g)->job, RINGO_FOREVER, true);
    atomic_store(&a->cancel_finished_at_return, atomic_load(&a->cancel_g.finished));
}

static void ab_main(void *arg)
{
    struct ab *a = arg;

    /* finishes in time: 0, the caller keeps the job */
    atomic_store(&a->ok_g.open, 1);
    struct ab_job *ok = ab_new(a, &a->ok_g);
    T_EQ(ringo__offload_run(&ok->job, io_deadline(), true), 0);
    T_EQ(atomic_load(&a->ok_g.finished), 1);
    T_EQ(atomic_load(&a->abandoned_calls), 0);
    free(ok);

    /* deadline while fn runs: the call returns at once, fn goes on. fn
     * must have started by the deadline: retry with longer ones on a slow
     * machine (a call still queued at its deadline is handed to abandoned
     * before the return, and never runs) */
    int abandoned = 0;
    for (int64_t wait = 20 * MS;; wait *= 2) {
        T_ASSERT(wait < 20 * SEC);
        /* that it returned without waiting for fn is told by the gate:
         * still closed, fn still in it (checked below) */
        T_EQ(ringo__offload_run(&ab_new(a, &a->running_g)->job, ringo_deadline_in(wait), true),
             -ETIMEDOUT);
        if (atomic_load(&a->abandoned_calls) == abandoned)
            break; /* left running: abandoned comes after fn */
        /* queued at the deadline: abandoned ran before the return */
        T_EQ(atomic_load(&a->abandoned_calls), ++abandoned);
        T_EQ(atomic_load(&a->freed_on_pool), 0);
        T_EQ(atomic_load(&a->running_g.started), 0);
    }
    wait_at_least(&a->running_g.started, 1);
    T_EQ(atomic_load(&a->running_g.finished), 0); /* did not wait for fn */
    T_EQ(atomic_load(&a->abandoned_calls), abandoned);

    /* the one pool thread is busy: a second call queues, times out, and
     * its job goes to abandoned before the return, never run */
    T_EQ(ringo__offload_run(&ab_new(a, &a->queued_g)->job, ringo_deadline_in(20 * MS), true),
         -ETIMEDOUT);
    T_EQ(atomic_load(&a->abandoned_calls), ++abandoned);
    T_EQ(atomic_load(&a->freed_on_pool), 0);
    T_EQ(atomic_load(&a->queued_g.started), 0);

    /* the abandoned running job: freed by the pool thread after fn */
    atomic_store(&a->running_g.open, 1);
    wait_at_least(&a->abandoned_calls, ++abandoned);
    T_EQ(atomic_load(&a->freed_on_pool), 1);
    T_EQ(atomic_load(&a->running_g.finished), 1);

    /* cancel while fn runs: -ECANCELED at once */
    ringo_coro *h;
    T_OK(ringo_go(ab_cancel_caller, a, &h));
    wait_at_least(&a->cancel_g.running, 1);
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, io_deadline()));
    T_EQ(a->cancel_rc, -ECANCELED);
    T_EQ(atomic_load(&a->cancel_finished_at_return), 0);
    atomic_store(&a->cancel_g.open, 1);
    wait_at_least(&a->abandoned_calls, ++abandoned);
    T_EQ(atomic_load(&a->freed_on_pool), 2);

    /* a cancelled caller: refused, the job handed to abandoned */
    ringo_cancel(ringo_self());
    T_EQ(ringo__offload_run(&ab_new(a, &a->queued_g)->job, RINGO_FOREVER, true), -ECANCELED);
    T_EQ(atomic_load(&a->abandoned_calls), ++abandoned);
    T_EQ(atomic_load(&a->queued_g.started), 0);
}

T_CASE(offload_abandon, T_IO)
{
    static struct ab a;
    run_pool(1, 1, ab_main, &a);
    T_LEAK_CHECK();
}
