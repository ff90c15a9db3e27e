/* Coroutine sync primitives: mutex (FIFO hand-off, deadlines, cancel,
 * stress across workers, timeouts racing hand-offs), condition variable,
 * wait group, once, semaphore, wakes from foreign threads, zero values. */
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "sync/waitq.h"

#define MS (1000 * 1000LL)

/* White box: how many waiters sit in an object's queue. Lets a test
 * sequence waiters on other workers and threads without timing guesses. */
static int queued(struct ringo_waitq_ *pub)
{
    struct ringo__waitq *q = ringo__waitq_lock(pub);
    int n = 0;
    for (struct list_node *p = q->head.next; p != &q->head; p = p->next)
        n++;
    ringo__waitq_unlock(q);
    return n;
}

/* Park (coroutine) until at least n waiters are queued on pub. */
static void await_queued(struct ringo_waitq_ *pub, int n)
{
    while (queued(pub) < n)
        T_OK(ringo_sleep(100 * 1000));
}

static ringo_coro *go_on(int worker, void (*fn)(void *), void *arg)
{
    ringo_coro *h;
    T_OK(ringo_go_on(worker, fn, arg, &h));
    return h;
}

/* The caller holds m: a trylock fails, and the unlock succeeds. */
static void assert_held_then_unlock(ringo_mutex *m)
{
    T_EQ(ringo_mutex_lock(m, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_mutex_unlock(m), 0);
}

static _Atomic int case_ok;

/* ---- mutex basics: trylock, deadline, cancel, -EPERM ---- */

static ringo_mutex bm;
static int waiter_res;

static void lock_forever(void *arg)
{
    (void)arg;
    waiter_res = ringo_mutex_lock(&bm, RINGO_FOREVER);
}

static void lock_when_cancelled(void *arg)
{
    ringo_mutex *free_m = arg;
    /* cancelled before it runs: sticky, every lock fails at once, even of
     * a free mutex and even a try */
    T_EQ(ringo_mutex_lock(free_m, RINGO_FOREVER), -ECANCELED);
    T_EQ(ringo_mutex_lock(free_m, RINGO_NOWAIT), -ECANCELED);
    T_EQ(ringo_mutex_lock(&bm, RINGO_FOREVER), -ECANCELED);
    T_EQ(ringo_mutex_unlock(free_m), -EPERM); /* it was not taken */
}

static void mutex_basic_main(void *arg)
{
    (void)arg;
    ringo_mutex_init(&bm);
    T_EQ(ringo_mutex_unlock(&bm), -EPERM);
    T_EQ(ringo_mutex_lock(&bm, RINGO_NOWAIT), 0);
    T_EQ(ringo_mutex_lock(&bm, RINGO_NOWAIT), -ETIMEDOUT);

    /* not reentrant: locking it again waits for the deadline */
    int64_t d = ringo_deadline_in(20 * MS);
    T_EQ(ringo_mutex_lock(&bm, d), -ETIMEDOUT);
    T_ASSERT(ringo_now() >= d);
    T_EQ(ringo_mutex_unlock(&bm), 0);
    T_EQ(ringo_mutex_unlock(&bm), -EPERM);

    /* a deadline already in the past behaves like a failed trylock */
    T_OK(ringo_mutex_lock(&bm, RINGO_FOREVER));
    T_EQ(ringo_mutex_lock(&bm, ringo_now() - 1), -ETIMEDOUT);

    /* cancel while waiting: -ECANCELED, and the lock is not taken */
    ringo_coro *h;
    waiter_res = 1;
    T_OK(ringo_go(lock_forever, NULL, &h));
    ringo_yield(); /* one worker: it runs and parks before we continue */
    T_EQ(queued(&bm.q_), 1);
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(waiter_res, -ECANCELED);
    T_EQ(queued(&bm.q_), 0);
    T_EQ(ringo_mutex_unlock(&bm), 0);
    T_EQ(ringo_mutex_unlock(&bm), -EPERM); /* nobody got it behind our back */

    /* already cancelled */
    ringo_mutex other;
    ringo_mutex_init(&other);
    T_OK(ringo_mutex_lock(&bm, RINGO_FOREVER));
    T_OK(ringo_go(lock_when_cancelled, &other, &h));
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(ringo_mutex_unlock(&bm), 0);
    T_EQ(ringo_mutex_lock(&other, RINGO_NOWAIT), 0);
    case_ok = 1;
}

T_CASE(sync_mutex_basic, T_IO)
{
    ringo_mutex m;
    ringo_mutex_init(&m);
    T_EQ(ringo_mutex_lock(&m, RINGO_FOREVER), RINGO_ENOTINCORO);
    /* a try never parks: any thread may */
    T_EQ(ringo_mutex_lock(&m, RINGO_NOWAIT), 0);
    T_EQ(ringo_mutex_lock(&m, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_mutex_lock(&m, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_mutex_unlock(&m), 0);
    t_run(1, mutex_basic_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- mutex stress across workers: exclusion, exact counts, ordering ---- */

#if defined(__SANITIZE_THREAD__)
#define STRESS_COROS 16 /* per worker */
#define STRESS_ITERS 40
#else
#define STRESS_COROS 50
#define STRESS_ITERS 60
#endif
#define STRESS_WORKERS 4

static ringo_mutex sm, sa, sb;
static _Atomic int inside_m, inside_ab;
static long count_m, count_a, count_b; /* plain: only the mutexes order them */
static _Atomic int overlaps;

static void stress_coro(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    for (int i = 0; i < STRESS_ITERS; i++) {
        T_OK(ringo_mutex_lock(&sm, RINGO_FOREVER));
        if (atomic_fetch_add(&inside_m, 1) != 0)
            overlaps++;
        long v = count_m;
        uint64_t r = t_rand(&seed) % 16;
        if (r < 4)
            T_OK(ringo_yield()); /* others run and queue up behind us */
        else if (r == 4)
            T_OK(ringo_sleep(20 * 1000));
        count_m = v + 1;
        atomic_fetch_sub(&inside_m, 1);
        T_OK(ringo_mutex_unlock(&sm));

        /* two mutexes, always a then b: no deadlock however they queue */
        T_OK(ringo_mutex_lock(&sa, RINGO_FOREVER));
        if (t_rand(&seed) % 4 == 0)
            T_OK(ringo_yield());
        T_OK(ringo_mutex_lock(&sb, RINGO_FOREVER));
        if (atomic_fetch_add(&inside_ab, 1) != 0)
            overlaps++;
        count_a++;
        if (t_rand(&seed) % 4 == 0)
            T_OK(ringo_yield());
        count_b += 2;
        atomic_fetch_sub(&inside_ab, 1);
        T_OK(ringo_mutex_unlock(&sb));
        T_OK(ringo_mutex_unlock(&sa));
    }
}

static void mutex_stress_main(void *arg)
{
    (void)arg;
    int n = STRESS_WORKERS * STRESS_COROS;
    ringo_coro **h = calloc((size_t)n, sizeof(*h));
    for (int i = 0; i < n; i++)
        h[i] = go_on(i % STRESS_WORKERS, stress_coro, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < n; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    free(h);
    T_EQ(overlaps, 0);
    T_EQ(count_m, (long)n * STRESS_ITERS);
    T_EQ(count_a, (long)n * STRESS_ITERS);
    T_EQ(count_b, 2L * n * STRESS_ITERS);
    /* everything was released */
    T_EQ(ringo_mutex_lock(&sm, RINGO_NOWAIT), 0);
    T_EQ(ringo_mutex_lock(&sa, RINGO_NOWAIT), 0);
    T_EQ(ringo_mutex_lock(&sb, RINGO_NOWAIT), 0);
    case_ok = 1;
}

T_CASE(sync_mutex_stress_workers, T_IO)
{
    t_run(STRESS_WORKERS, mutex_stress_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- FIFO hand-off: waiters get the mutex in arrival order ---- */

static ringo_mutex fm;
static int fifo_order[8], fifo_n;

static void fifo_waiter(void *arg)
{
    T_OK(ringo_mutex_lock(&fm, RINGO_FOREVER));
    fifo_order[fifo_n++] = (int)(intptr_t)arg; /* under fm */
    T_OK(ringo_yield());
    T_OK(ringo_mutex_unlock(&fm));
}

static void mutex_fifo_main(void *arg)
{
    (void)arg;
    ringo_coro *h[8];
    T_OK(ringo_mutex_lock(&fm, RINGO_FOREVER));
    /* waiters on the other worker, queued one by one, in order */
    for (int i = 0; i < 4; i++) {
        h[i] = go_on(1, fifo_waiter, (void *)(intptr_t)i);
        await_queued(&fm.q_, i + 1);
    }
    /* and on ours */
    for (int i = 4; i < 8; i++) {
        T_OK(ringo_go(fifo_waiter, (void *)(intptr_t)i, &h[i]));
        await_queued(&fm.q_, i + 1);
    }
    T_OK(ringo_mutex_unlock(&fm));
    /* handed to waiter 0 directly: no barging in, even before it ran */
    T_EQ(ringo_mutex_lock(&fm, RINGO_NOWAIT), -ETIMEDOUT);
    for (int i = 0; i < 8; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(fifo_n, 8);
    for (int i = 0; i < 8; i++)
        T_EQ(fifo_order[i], i);
    T_EQ(ringo_mutex_lock(&fm, RINGO_NOWAIT), 0);
    case_ok = 1;
}

T_CASE(sync_mutex_fifo_handoff, T_IO)
{
    t_run(2, mutex_fifo_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- timeouts racing hand-offs: ownership is never lost or doubled ---- */

#if defined(__SANITIZE_THREAD__)
#define RACE_ITERS 600
#else
#define RACE_ITERS 3000
#endif

static ringo_mutex rm;
static _Atomic long race_acquired, race_unlocked, race_timeouts, race_inside, race_won;
static _Atomic int race_bad, race_stop;

static void race_owned(void)
{
    if (atomic_fetch_add(&race_inside, 1) != 0)
        race_bad++;
    race_acquired++;
}

static void race_release(void)
{
    atomic_fetch_sub(&race_inside, 1);
    if (ringo_mutex_unlock(&rm) != 0)
        race_bad++;
    else
        race_unlocked++;
}

/* Takes the mutex for good and holds it a little, so the contenders'
 * tiny deadlines expire around the hand-offs. */
static void race_holder(void *arg)
{
    (void)arg;
    uint64_t seed = 77;
    while (!race_stop) {
        T_OK(ringo_mutex_lock(&rm, RINGO_FOREVER));
        race_owned();
        if (t_rand(&seed) % 2)
            T_OK(ringo_sleep(5 * 1000));
        else
            T_OK(ringo_yield());
        race_release();
        T_OK(ringo_yield());
    }
}

static void race_contender(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < RACE_ITERS; i++) {
        int64_t d = ringo_deadline_in((int64_t)(t_rand(&seed) % 20000));
        int r = ringo_mutex_lock(&rm, d);
        if (r == 0) {
            race_won++;
            race_owned();
            if (t_rand(&seed) % 4 == 0)
                T_OK(ringo_yield());
            race_release();
        } else {
            T_EQ(r, -ETIMEDOUT);
            race_timeouts++;
        }
    }
}

static void mutex_race_main(void *arg)
{
    (void)arg;
    ringo_coro *holder = go_on(0, race_holder, NULL);
    ringo_coro *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = go_on(i % 2, race_contender, (void *)(intptr_t)(i + 11));
    for (int i = 0; i < 4; i++)
        T_OK(ringo_join(c[i], RINGO_FOREVER));
    race_stop = 1;
    T_OK(ringo_join(holder, RINGO_FOREVER));
    T_EQ(race_bad, 0);
    T_EQ(race_acquired, race_unlocked);
    T_EQ(race_inside, 0);
    T_ASSERT(race_timeouts > 0);
    T_EQ(race_won + race_timeouts, 4 * RACE_ITERS);
    T_ASSERT(race_won > 0);
    /* free again: a lost hand-off would leave it locked for ever */
    T_EQ(ringo_mutex_lock(&rm, RINGO_NOWAIT), 0);
    T_EQ(queued(&rm.q_), 0);
    case_ok = 1;
}

T_CASE(sync_mutex_timeout_races_handoff, T_IO)
{
    t_run(2, mutex_race_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- cond: signal, broadcast, timeout, cancel; m held on every return ---- */

static ringo_mutex cm;
static ringo_cond cc;
static int cond_flag, cond_woken; /* under cm */
static int cond_res[8];
static _Atomic int main_released;

static void cond_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    int r = 0;
    while (!cond_flag && r == 0)
        r = ringo_cond_wait(&cc, &cm, ringo_deadline_in(10000 * MS));
    cond_res[i] = r;
    cond_woken++;
    assert_held_then_unlock(&cm);
}

static void cond_timed(void *arg)
{
    int i = (int)(intptr_t)arg;
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    int64_t d = ringo_deadline_in(20 * MS);
    cond_res[i] = ringo_cond_wait(&cc, &cm, d);
    T_ASSERT(ringo_now() >= d);
    cond_woken++;
    assert_held_then_unlock(&cm);
}

static void cond_cancelled(void *arg)
{
    int i = (int)(intptr_t)arg;
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    cond_res[i] = ringo_cond_wait(&cc, &cm, RINGO_FOREVER);
    /* main held cm when it cancelled us: we got it only after its unlock */
    T_EQ(main_released, 1);
    cond_woken++;
    /* held (a try would fail: we are cancelled), so the unlock works */
    T_EQ(ringo_mutex_unlock(&cm), 0);
}

static void cond_main(void *arg)
{
    (void)arg;
    ringo_coro *h[8];

    /* errors: m not locked; a wait that cannot start keeps m */
    T_EQ(ringo_cond_wait(&cc, &cm, RINGO_FOREVER), -EPERM);
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    T_EQ(ringo_cond_wait(&cc, &cm, RINGO_NOWAIT), -ETIMEDOUT);
    assert_held_then_unlock(&cm);

    /* signal wakes exactly one (waiters on both workers) */
    for (int i = 0; i < 3; i++) {
        h[i] = go_on(i % 2, cond_waiter, (void *)(intptr_t)i);
        await_queued(&cc.q_, i + 1);
    }
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    cond_flag = 0; /* a signal without the predicate: one wakes, waits again */
    T_OK(ringo_cond_signal(&cc));
    T_OK(ringo_mutex_unlock(&cm));
    T_EQ(queued(&cc.q_), 2);
    await_queued(&cc.q_, 3); /* it went back to waiting */
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    T_EQ(cond_woken, 0);
    cond_flag = 1;
    T_OK(ringo_cond_signal(&cc));
    T_OK(ringo_mutex_unlock(&cm));
    /* waiter 0 went to the back when it waited again: 1 is first now */
    T_OK(ringo_join(h[1], RINGO_FOREVER));
    T_EQ(cond_res[1], 0);
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    T_EQ(cond_woken, 1);
    T_OK(ringo_mutex_unlock(&cm));
    T_EQ(queued(&cc.q_), 2);
    /* broadcast wakes the rest */
    T_OK(ringo_cond_broadcast(&cc));
    T_OK(ringo_join(h[0], RINGO_FOREVER));
    T_OK(ringo_join(h[2], RINGO_FOREVER));
    T_EQ(cond_woken, 3);
    T_EQ(cond_res[0], 0);
    T_EQ(cond_res[2], 0);
    T_EQ(queued(&cc.q_), 0);
    T_OK(ringo_cond_signal(&cc)); /* nobody waits: a no-op */

    /* broadcast to many across workers */
    cond_flag = 0;
    cond_woken = 0;
    for (int i = 0; i < 8; i++)
        h[i] = go_on(i % 2, cond_waiter, (void *)(intptr_t)i);
    await_queued(&cc.q_, 8);
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    cond_flag = 1;
    T_OK(ringo_cond_broadcast(&cc));
    T_OK(ringo_mutex_unlock(&cm));
    for (int i = 0; i < 8; i++) {
        T_OK(ringo_join(h[i], RINGO_FOREVER));
        T_EQ(cond_res[i], 0);
    }
    T_EQ(cond_woken, 8);

    /* timeout on the other worker, with cm free */
    cond_woken = 0;
    h[0] = go_on(1, cond_timed, (void *)(intptr_t)0);
    T_OK(ringo_join(h[0], RINGO_FOREVER));
    T_EQ(cond_res[0], -ETIMEDOUT);
    T_EQ(cond_woken, 1);
    /* timeout expiring while we hold cm (our worker: it is queued once
     * our yield returns, and its timer fires before our sleep ends) */
    T_OK(ringo_go(cond_timed, (void *)(intptr_t)1, &h[1]));
    T_OK(ringo_yield());
    T_EQ(queued(&cc.q_), 1);
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    ringo_sleep(40 * MS);
    T_EQ(cond_woken, 1); /* it cannot return without cm */
    T_OK(ringo_mutex_unlock(&cm));
    T_OK(ringo_join(h[1], RINGO_FOREVER));
    T_EQ(cond_res[1], -ETIMEDOUT);
    T_EQ(cond_woken, 2);
    T_EQ(queued(&cc.q_), 0);

    /* cancel while waiting, with cm held by us: -ECANCELED once cm is
     * free, and cm held */
    cond_woken = 0;
    T_OK(ringo_go(cond_cancelled, (void *)(intptr_t)0, &h[0]));
    await_queued(&cc.q_, 1);
    T_OK(ringo_mutex_lock(&cm, RINGO_FOREVER));
    T_OK(ringo_cancel(h[0]));
    ringo_sleep(20 * MS);
    T_EQ(cond_woken, 0);
    main_released = 1;
    T_OK(ringo_mutex_unlock(&cm));
    T_OK(ringo_join(h[0], RINGO_FOREVER));
    T_EQ(cond_res[0], -ECANCELED);
    T_EQ(cond_woken, 1);
    T_EQ(queued(&cc.q_), 0);
    T_EQ(ringo_mutex_lock(&cm, RINGO_NOWAIT), 0);
    case_ok = 1;
}

T_CASE(sync_cond_signal_broadcast_timeout_cancel, T_IO)
{
    t_run(2, cond_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- producer/consumer over a bounded buffer with two conds ---- */

#define PC_CAP   8
#define PC_ITEMS 3000
static ringo_mutex pm;
static ringo_cond not_full, not_empty;
static long pc_buf[PC_CAP];
static int pc_head, pc_len, pc_producers_left;
static long pc_sum[4], pc_got[4];

static void producer(void *arg)
{
    long base = (long)(intptr_t)arg * PC_ITEMS;
    for (long i = 1; i <= PC_ITEMS; i++) {
        T_OK(ringo_mutex_lock(&pm, RINGO_FOREVER));
        while (pc_len == PC_CAP)
            T_OK(ringo_cond_wait(&not_full, &pm, RINGO_FOREVER));
        pc_buf[(pc_head + pc_len++) % PC_CAP] = base + i;
        T_OK(ringo_cond_signal(&not_empty));
        T_OK(ringo_mutex_unlock(&pm));
    }
    T_OK(ringo_mutex_lock(&pm, RINGO_FOREVER));
    if (--pc_producers_left == 0)
        T_OK(ringo_cond_broadcast(&not_empty));
    T_OK(ringo_mutex_unlock(&pm));
}

static void consumer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (;;) {
        T_OK(ringo_mutex_lock(&pm, RINGO_FOREVER));
        while (pc_len == 0 && pc_producers_left > 0)
            T_OK(ringo_cond_wait(&not_empty, &pm, RINGO_FOREVER));
        if (pc_len == 0) {
            T_OK(ringo_mutex_unlock(&pm));
            return;
        }
        long v = pc_buf[pc_head];
        pc_head = (pc_head + 1) % PC_CAP;
        pc_len--;
        T_OK(ringo_cond_signal(&not_full));
        T_OK(ringo_mutex_unlock(&pm));
        pc_sum[id] += v;
        pc_got[id]++;
    }
}

static void pc_main(void *arg)
{
    (void)arg;
    pc_producers_left = 3;
    ringo_coro *h[6];
    for (int i = 0; i < 3; i++)
        h[i] = go_on(i % 3, producer, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++)
        h[3 + i] = go_on((i + 1) % 3, consumer, (void *)(intptr_t)i);
    for (int i = 0; i < 6; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    long n = 3L * PC_ITEMS, got = 0, sum = 0;
    for (int i = 0; i < 3; i++) {
        got += pc_got[i];
        sum += pc_sum[i];
    }
    T_EQ(got, n);
    T_EQ(sum, n * (n + 1) / 2);
    T_EQ(pc_len, 0);
    case_ok = 1;
}

T_CASE(sync_cond_producer_consumer, T_IO)
{
    t_run(3, pc_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- wait group across workers ---- */

static ringo_wg wg;
static _Atomic int wg_done_count, wg_waiters_ok;

static void wg_worker(void *arg)
{
    ringo_sleep((int64_t)(intptr_t)arg * 1000);
    wg_done_count++;
    T_OK(ringo_wg_done(&wg));
}

static void wg_waiter(void *arg)
{
    (void)arg;
    T_OK(ringo_wg_wait(&wg, ringo_deadline_in(10000 * MS)));
    if (wg_done_count == 40)
        wg_waiters_ok++;
}

static void gated(void *arg)
{
    ringo_sema *gate = arg;
    T_OK(ringo_sema_acquire(gate, RINGO_FOREVER));
    T_OK(ringo_wg_done(&wg));
}

static void wg_main(void *arg)
{
    (void)arg;
    T_EQ(ringo_wg_wait(&wg, RINGO_NOWAIT), 0); /* zero: nothing to wait for */
    T_EQ(ringo_wg_done(&wg), -EINVAL);         /* would go negative */
    T_OK(ringo_wg_add(&wg, 2));
    T_EQ(ringo_wg_add(&wg, -3), -EINVAL);
    T_EQ(ringo_wg_wait(&wg, RINGO_NOWAIT), -ETIMEDOUT); /* unchanged: 2 */
    T_OK(ringo_wg_add(&wg, -2));
    T_EQ(ringo_wg_wait(&wg, RINGO_NOWAIT), 0);

    /* added here, done on the other workers, waited for from all three */
    T_OK(ringo_wg_add(&wg, 40));
    ringo_coro *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = go_on(i, wg_waiter, NULL);
    for (int i = 0; i < 40; i++)
        T_OK(ringo_go_on(1 + i % 2, wg_worker, (void *)(intptr_t)(i * 50), NULL));
    T_OK(ringo_wg_wait(&wg, RINGO_FOREVER));
    T_EQ(wg_done_count, 40);
    for (int i = 0; i < 3; i++)
        T_OK(ringo_join(w[i], RINGO_FOREVER));
    T_EQ(wg_waiters_ok, 3);

    /* wait with a deadline while one is still out, then finish it */
    ringo_sema gate;
    T_OK(ringo_sema_init(&gate, 0));
    T_OK(ringo_wg_add(&wg, 1));
    ringo_coro *g = go_on(1, gated, &gate);
    int64_t d = ringo_deadline_in(20 * MS);
    T_EQ(ringo_wg_wait(&wg, d), -ETIMEDOUT);
    T_ASSERT(ringo_now() >= d);
    T_EQ(queued(&wg.q_), 0);
    T_OK(ringo_sema_release(&gate));
    T_OK(ringo_wg_wait(&wg, ringo_deadline_in(10000 * MS)));
    T_OK(ringo_join(g, RINGO_FOREVER));
    case_ok = 1;
}

T_CASE(sync_wg_across_workers, T_IO)
{
    ringo_wg_init(&wg);
    T_EQ(ringo_wg_wait(&wg, RINGO_FOREVER), RINGO_ENOTINCORO);
    t_run(3, wg_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- once with many concurrent callers across workers ---- */

static ringo_once once;
static _Atomic int once_runs, once_finished, once_ones, once_bad, once_release;

#define ONCE_CALLERS 100

static void once_fn(void *arg)
{
    T_ASSERT(arg == &once);
    once_runs++;
    /* park inside until main has seen every other caller wait for us */
    while (!once_release)
        T_OK(ringo_sleep(100 * 1000));
    once_finished = 1;
}

static void once_caller(void *arg)
{
    (void)arg;
    int r = ringo_once_do(&once, once_fn, &once);
    T_ASSERT(r == 0 || r == 1);
    once_ones += r;
    if (!once_finished)
        once_bad++;
}

static void once_cancelled(void *arg)
{
    int *res = arg;
    *res = ringo_once_do(&once, once_fn, &once);
}

static void once_main(void *arg)
{
    (void)arg;
    ringo_coro *h[ONCE_CALLERS];
    for (int i = 0; i < ONCE_CALLERS; i++)
        h[i] = go_on(i % 4, once_caller, NULL);
    /* one caller runs fn, all the others wait for it */
    await_queued(&once.q_, ONCE_CALLERS - 1);
    /* one more waits and is cancelled: it leaves, fn goes on */
    int cres = 1;
    ringo_coro *hc;
    T_OK(ringo_go(once_cancelled, &cres, &hc));
    await_queued(&once.q_, ONCE_CALLERS);
    T_OK(ringo_cancel(hc));
    T_OK(ringo_join(hc, RINGO_FOREVER));
    T_EQ(cres, -ECANCELED);
    T_EQ(queued(&once.q_), ONCE_CALLERS - 1);
    T_EQ(once_finished, 0);
    once_release = 1;
    for (int i = 0; i < ONCE_CALLERS; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(once_runs, 1);
    T_EQ(once_ones, 1);
    T_EQ(once_bad, 0);
    T_EQ(queued(&once.q_), 0);
    T_EQ(ringo_once_do(&once, NULL, NULL), -EINVAL);
    /* done: later calls return 0 at once */
    T_EQ(ringo_once_do(&once, once_fn, &once), 0);
    T_EQ(once_runs, 1);
    T_OK(ringo_go(once_cancelled, &cres, &hc));
    T_OK(ringo_cancel(hc)); /* before it runs: fails even though done */
    T_OK(ringo_join(hc, RINGO_FOREVER));
    T_EQ(cres, -ECANCELED);
    case_ok = 1;
}

T_CASE(sync_once_concurrent, T_IO)
{
    t_run(4, once_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- semaphore: concurrency limit, timeout, FIFO ---- */

#define SEMA_N 3
static ringo_sema sem;
static _Atomic int sem_inside, sem_max, sem_bad;

static void sem_user(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 20; i++) {
        T_OK(ringo_sema_acquire(&sem, RINGO_FOREVER));
        int now = atomic_fetch_add(&sem_inside, 1) + 1;
        if (now > SEMA_N)
            sem_bad++;
        int m = sem_max;
        while (now > m && !atomic_compare_exchange_weak(&sem_max, &m, now))
            ;
        if (t_rand(&seed) % 2)
            T_OK(ringo_sleep(50 * 1000));
        else
            T_OK(ringo_yield());
        atomic_fetch_sub(&sem_inside, 1);
        T_OK(ringo_sema_release(&sem));
    }
}

static int sem_order[6], sem_order_n;

static void sem_fifo_waiter(void *arg)
{
    T_OK(ringo_sema_acquire(&sem, RINGO_FOREVER));
    sem_order[sem_order_n++] = (int)(intptr_t)arg; /* one worker: no race */
}

static void sema_main(void *arg)
{
    (void)arg;
    T_OK(ringo_sema_init(&sem, SEMA_N));
    enum { N = 64 };
    ringo_coro *h[N];
    for (int i = 0; i < N; i++)
        h[i] = go_on(i % 4, sem_user, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < N; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(sem_bad, 0);
    T_EQ(sem_max, SEMA_N);
    /* all units back */
    for (int i = 0; i < SEMA_N; i++)
        T_EQ(ringo_sema_acquire(&sem, RINGO_NOWAIT), 0);
    T_EQ(ringo_sema_acquire(&sem, RINGO_NOWAIT), -ETIMEDOUT);

    int64_t d = ringo_deadline_in(20 * MS);
    T_EQ(ringo_sema_acquire(&sem, d), -ETIMEDOUT);
    T_ASSERT(ringo_now() >= d);
    T_EQ(queued(&sem.q_), 0);

    /* FIFO: waiters queued in order get the units in order, and a unit
     * released to a waiter is not up for grabs */
    for (int i = 0; i < 6; i++) {
        T_OK(ringo_go(sem_fifo_waiter, (void *)(intptr_t)i, &h[i]));
        await_queued(&sem.q_, i + 1);
    }
    for (int i = 0; i < 6; i++) {
        T_OK(ringo_sema_release(&sem));
        T_EQ(ringo_sema_acquire(&sem, RINGO_NOWAIT), -ETIMEDOUT);
    }
    for (int i = 0; i < 6; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    for (int i = 0; i < 6; i++)
        T_EQ(sem_order[i], i);
    T_EQ(ringo_sema_init(&sem, -1), -EINVAL);
    case_ok = 1;
}

T_CASE(sync_sema_limit_timeout_fifo, T_IO)
{
    t_run(4, sema_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- wakes from a plain pthread ---- */

static ringo_mutex tm;
static ringo_cond tc;
static ringo_wg twg;
static ringo_sema tsem;
static _Atomic int t_flag;

static void *foreign(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 100 * 1000};
    /* cond: signal once the waiter is queued (no mutex on this side) */
    while (queued(&tc.q_) < 1)
        nanosleep(&ts, NULL);
    t_flag = 1;
    ringo_cond_signal(&tc);
    /* mutex: unlock what the coroutine locked, handing it to its waiter */
    while (queued(&tm.q_) < 1)
        nanosleep(&ts, NULL);
    if (ringo_mutex_unlock(&tm) != 0)
        t_flag = -100;
    /* semaphore */
    while (queued(&tsem.q_) < 1)
        nanosleep(&ts, NULL);
    ringo_sema_release(&tsem);
    /* wait group */
    while (queued(&twg.q_) < 1)
        nanosleep(&ts, NULL);
    ringo_wg_done(&twg);
    return NULL;
}

static void foreign_main(void *arg)
{
    (void)arg;
    /* armed deadlines that never come: each wait must be ended by the
     * thread (a result of 0), however slowly it gets a CPU */
    int64_t d = ringo_deadline_in(3600 * 1000 * MS);
    T_OK(ringo_sema_init(&tsem, 0)); /* before the thread looks at it */
    pthread_t th;
    T_ASSERT(pthread_create(&th, NULL, foreign, NULL) == 0);

    T_OK(ringo_mutex_lock(&tm, RINGO_FOREVER));
    while (!t_flag)
        T_EQ(ringo_cond_wait(&tc, &tm, d), 0); /* woken, not timed out */
    /* tm is held again; the thread unlocks it while we wait for it */
    T_EQ(ringo_mutex_lock(&tm, d), 0);
    T_EQ(t_flag, 1);
    T_OK(ringo_mutex_unlock(&tm));

    T_EQ(ringo_sema_acquire(&tsem, d), 0);
    T_OK(ringo_wg_add(&twg, 1));
    T_EQ(ringo_wg_wait(&twg, d), 0);
    pthread_join(th, NULL); /* it has returned from its last call */
    case_ok = 1;
}

T_CASE(sync_wake_from_foreign_thread, T_IO)
{
    /* nothing blocking works outside a coroutine; the wakes do */
    ringo_mutex m;
    ringo_cond c;
    ringo_sema s;
    ringo_wg w;
    ringo_once o;
    ringo_mutex_init(&m);
    ringo_cond_init(&c);
    ringo_wg_init(&w);
    memset(&o, 0, sizeof(o));
    T_OK(ringo_sema_init(&s, 0));
    T_EQ(ringo_cond_wait(&c, &m, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_sema_acquire(&s, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_sema_acquire(&s, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_wg_wait(&w, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_once_do(&o, NULL, NULL), RINGO_ENOTINCORO);
    T_EQ(ringo_cond_signal(&c), 0);
    T_EQ(ringo_cond_broadcast(&c), 0);
    T_EQ(ringo_sema_release(&s), 0);
    T_EQ(ringo_sema_acquire(&s, RINGO_NOWAIT), 0); /* tries work anywhere */
    T_EQ(ringo_wg_add(&w, 1), 0);
    T_EQ(ringo_wg_wait(&w, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_wg_done(&w), 0);
    T_EQ(ringo_wg_wait(&w, RINGO_NOWAIT), 0);
    T_EQ(ringo_mutex_unlock(&m), -EPERM);
    t_run(2, foreign_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- zero-filled objects are ready to use ---- */

static struct {
    ringo_mutex m;
    ringo_cond c;
    ringo_wg wg;
    ringo_once o;
    ringo_sema s;
    int ready, once_runs;
} z; /* static: all zero */

static void zero_once(void *arg)
{
    (void)arg;
    z.once_runs++;
}

static void zero_peer(void *arg)
{
    (void)arg;
    T_OK(ringo_once_do(&z.o, zero_once, NULL) >= 0 ? 0 : -1);
    T_OK(ringo_mutex_lock(&z.m, RINGO_FOREVER)); /* contended: first queue use */
    z.ready = 1;
    T_OK(ringo_cond_signal(&z.c));
    T_OK(ringo_mutex_unlock(&z.m));
    T_OK(ringo_sema_release(&z.s));
    T_OK(ringo_wg_done(&z.wg));
}

static void zero_main(void *arg)
{
    (void)arg;
    /* a heap object filled with zeros, not just a static one */
    ringo_mutex *hm = calloc(1, sizeof(*hm));
    T_OK(ringo_mutex_lock(hm, RINGO_FOREVER));
    T_EQ(ringo_mutex_lock(hm, ringo_deadline_in(1 * MS)), -ETIMEDOUT);
    T_OK(ringo_mutex_unlock(hm));
    free(hm);

    T_OK(ringo_wg_add(&z.wg, 1));
    T_OK(ringo_mutex_lock(&z.m, RINGO_FOREVER));
    ringo_coro *h = go_on(1, zero_peer, NULL);
    T_OK(ringo_once_do(&z.o, zero_once, NULL) >= 0 ? 0 : -1);
    while (!z.ready)
        T_OK(ringo_cond_wait(&z.c, &z.m, RINGO_FOREVER));
    T_OK(ringo_mutex_unlock(&z.m));
    T_OK(ringo_sema_acquire(&z.s, RINGO_FOREVER));
    T_OK(ringo_wg_wait(&z.wg, RINGO_FOREVER));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(z.once_runs, 1);
    case_ok = 1;
}

T_CASE(sync_zero_value_objects, T_IO)
{
    t_run(2, zero_main, NULL);
    T_EQ(case_ok, 1);
}

/* ---- ringo_stop cancels coroutines parked on sync objects ---- */

static struct {
    ringo_mutex held, cm;
    ringo_cond c;
    ringo_wg wg;
    ringo_sema s;
} st;
static _Atomic int stop_cancelled, stop_cond_relocked;

static void stop_waiter(void *arg)
{
    int r = -1;
    switch ((int)(intptr_t)arg) {
    case 0:
        r = ringo_mutex_lock(&st.held, RINGO_FOREVER);
        break;
    case 1:
        T_OK(ringo_mutex_lock(&st.cm, RINGO_FOREVER));
        r = ringo_cond_wait(&st.c, &st.cm, RINGO_FOREVER);
        if (ringo_mutex_unlock(&st.cm) == 0)
            stop_cond_relocked++;
        break;
    case 2:
        r = ringo_wg_wait(&st.wg, RINGO_FOREVER);
        break;
    case 3:
        r = ringo_sema_acquire(&st.s, RINGO_FOREVER);
        break;
    }
    if (r == -ECANCELED)
        stop_cancelled++;
}

static void stop_main(void *arg)
{
    (void)arg;
    T_OK(ringo_mutex_lock(&st.held, RINGO_FOREVER));
    T_OK(ringo_wg_add(&st.wg, 1));
    for (int i = 0; i < 8; i++)
        T_OK(ringo_go_on(i % 2, stop_waiter, (void *)(intptr_t)(i % 4), NULL));
    await_queued(&st.held.q_, 2);
    await_queued(&st.c.q_, 2);
    await_queued(&st.wg.q_, 2);
    await_queued(&st.s.q_, 2);
    /* returning stops the runtime: every waiter is cancelled */
}

T_CASE(sync_stop_cancels_waiters, T_IO)
{
    t_run(2, stop_main, NULL);
    T_EQ(stop_cancelled, 8);
    T_EQ(stop_cond_relocked, 2);
}

/* ---- freeing an object as soon as a fast path returns ----
 *
 * The usual pattern: wait for a wait group (or take a semaphore unit, or
 * the mutex), then free the object. The worker that released it must not
 * write to it after the other side can see the release: it publishes the
 * state under the queue lock and unlocks afterwards, so the fast paths
 * wait for that unlock (ringo__waitq_settle). Without it, the unlock
 * writes to memory the other side may have freed: TSan (CI) reports the
 * race with free() every time; ASan and the plain build cannot see a
 * window that short. */

enum { FREE_ROUNDS = 6000 };
enum { FREE_WG, FREE_SEMA, FREE_MUTEX };

struct freed {
    ringo_wg wg;
    ringo_sema s;
    ringo_mutex m;
    int kind;
    _Atomic int timed_out;
};

/* Worker 1: release the object main polls (wait group, semaphore), or,
 * for the mutex, be the side that polls and frees: time out waiting for
 * the mutex main holds (which leaves the word saying "waiters"), so that
 * main's unlock takes the slow path that stores "free" under the queue
 * lock; then poll until the mutex is ours, and free it at once. */
static void releaser(void *arg)
{
    ringo_chan *ch = arg;
    struct freed *f;
    while (ringo_chan_recv(ch, &f, RINGO_FOREVER) == 0) {
        switch (f->kind) {
        case FREE_WG:
            T_OK(ringo_wg_done(&f->wg));
            break;
        case FREE_SEMA:
            T_OK(ringo_sema_release(&f->s));
            break;
        case FREE_MUTEX:
            T_EQ(ringo_mutex_lock(&f->m, ringo_deadline_in(1000)), -ETIMEDOUT);
            f->timed_out = 1;
            while (ringo_mutex_lock(&f->m, RINGO_NOWAIT) == -ETIMEDOUT)
                T_OK(ringo_yield());
            T_OK(ringo_mutex_unlock(&f->m));
            free(f);
            break;
        }
    }
}

static void free_main(void *arg)
{
    (void)arg;
    ringo_chan *ch;
    T_OK(ringo_chan_new(&ch, sizeof(struct freed *), 1));
    ringo_coro *r = go_on(1, releaser, ch);
    for (int i = 0; i < FREE_ROUNDS; i++) {
        struct freed *f = calloc(1, sizeof(*f));
        T_ASSERT(f);
        ringo_wg_init(&f->wg);
        T_OK(ringo_sema_init(&f->s, 0));
        ringo_mutex_init(&f->m);
        f->kind = i % 3;
        if (f->kind == FREE_WG)
            T_OK(ringo_wg_add(&f->wg, 1));
        if (f->kind == FREE_MUTEX)
            T_OK(ringo_mutex_lock(&f->m, RINGO_NOWAIT));
        T_OK(ringo_chan_send(ch, &f, RINGO_FOREVER));
        /* poll, so the fast path runs while the release is in flight; the
         * yield lets this worker submit the wake-up it batched (io_uring) */
        switch (f->kind) {
        case FREE_WG:
            while (ringo_wg_wait(&f->wg, RINGO_NOWAIT) == -ETIMEDOUT)
                T_OK(ringo_yield());
            free(f);
            break;
        case FREE_SEMA:
            while (ringo_sema_acquire(&f->s, RINGO_NOWAIT) == -ETIMEDOUT)
                T_OK(ringo_yield());
            free(f);
            break;
        case FREE_MUTEX:
            while (!f->timed_out)
                T_OK(ringo_yield());
            T_OK(ringo_mutex_unlock(&f->m)); /* the releaser frees f */
            break;
        }
    }
    T_OK(ringo_chan_close(ch));
    T_OK(ringo_join(r, RINGO_FOREVER));
    ringo_chan_free(ch);
    case_ok = 1;
}

T_CASE(sync_free_after_fast_path, T_IO)
{
    case_ok = 0;
    t_run(2, free_main, NULL);
    T_EQ(case_ok, 1);
}
