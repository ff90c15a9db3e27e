/* Mutex and condition variable for coroutines (see ringo/sync.h).
 *
 * The mutex word locked_ works like a futex mutex: 0 free, 1 held, 2 held
 * and waiters may be queued. Lock and unlock of an uncontended mutex are
 * one CAS each and never touch the queue. A locker that finds it held
 * moves the word to 2 under the queue lock before it queues, so the fast
 * unlock (a CAS from 1) fails and the unlocker takes the queue lock and
 * sees it. Every change away from 2 happens under the queue lock; hence
 * "0" implies no waiter is left to serve.
 *
 * Unlock with waiters hands the mutex straight to the first one (the word
 * stays non-zero): no newcomer can barge in between, so waiters are served
 * strictly in arrival order and none starves. The price is a lock convoy
 * under heavy contention (each hand-off waits for the new owner to be
 * scheduled), which Go avoids with spinning and barging; coroutines of one
 * worker cannot spin anyway. */
#include <errno.h>
#include <stdbool.h>

#include "sync/waitq.h"

void ringo_mutex_init(ringo_mutex *m)
{
    *m = (ringo_mutex){0};
}

static bool try_fast(ringo_mutex *m)
{
    int v = 0;
    if (!__atomic_compare_exchange_n(&m->locked_, &v, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    /* a slow unlock frees the word before it unlocks the queue */
    ringo__waitq_settle(&m->q_);
    return true;
}

/* Under the queue lock: take the mutex if it is free, else mark it as
 * having waiters (2). Returns true if taken. */
static bool take_or_mark(ringo_mutex *m)
{
    int v = __atomic_load_n(&m->locked_, __ATOMIC_RELAXED);
    while (v != 2) {
        /* Free implies nobody waits (see top): take it as plain held. */
        int want = v == 0 ? 1 : 2;
        if (__atomic_compare_exchange_n(&m->locked_, &v, want, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return want == 1;
    }
    return false;
}

/* The contended path. uninterruptible: ignore deadline and cancellation
 * (cond_wait's re-lock). Returns 0 with the mutex held, or the
 * interruption with it not held. */
static int lock_slow(ringo_mutex *m, int64_t deadline, bool uninterruptible)
{
    struct ringo__waitq *q = ringo__waitq_lock(&m->q_);
    if (take_or_mark(m)) {
        ringo__waitq_unlock(q);
        return 0;
    }
    if (uninterruptible) {
        ringo__waitq_park_uninterruptible(q);
        return 0;
    }
    /* 0 means an unlocker claimed us and handed the mutex over, even if
     * the deadline passed while its wake was on the way. An interrupted
     * waiter leaves the word at 2: the next unlock takes the slow path
     * once, finds nobody and frees it. */
    return ringo__waitq_park(q, deadline);
}

int ringo_mutex_lock(ringo_mutex *m, int64_t deadline)
{
    int e = ringo__sync_entry(deadline);
    if (e)
        return e;
    if (try_fast(m))
        return 0;
    if (deadline == RINGO_NOWAIT)
        return -ETIMEDOUT;
    return lock_slow(m, deadline, false);
}

int ringo_mutex_unlock(ringo_mutex *m)
{
    int v = 1;
    if (__atomic_compare_exchange_n(&m->locked_, &v, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return 0;
    if (v == 0)
        return -EPERM;

    struct ringo__waitq *q = ringo__waitq_lock(&m->q_);
    v = __atomic_load_n(&m->locked_, __ATOMIC_RELAXED);
    if (v == 0) { /* a racing second unlock won */
        ringo__waitq_unlock(q);
        return -EPERM;
    }
    struct ringo__waiter *w = ringo__waitq_claim_first(&q->head);
    if (w) {
        /* Hand-off: the mutex stays held, now by w. With nobody left
         * behind it, the new owner's unlock can take the fast path. */
        __atomic_store_n(&m->locked_, list_empty(&q->head) ? 1 : 2, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&m->locked_, 0, __ATOMIC_RELEASE);
    }
    ringo__waitq_unlock(q);
    if (w)
        ringo__waiter_wake(w, 0);
    return 0;
}

/* ---- condition variable ---- */

void ringo_cond_init(ringo_cond *c)
{
    *c = (ringo_cond){0};
}

int ringo_cond_wait(ringo_cond *c, ringo_mutex *m, int64_t deadline)
{
    /* Waits that cannot start fail before m is released: the caller keeps
     * m throughout, which is what "locked again" promises anyway. */
    int e = ringo__sync_entry(deadline);
    if (e)
        return e;
    if (__atomic_load_n(&m->locked_, __ATOMIC_RELAXED) == 0)
        return -EPERM;
    if (deadline == RINGO_NOWAIT)
        return -ETIMEDOUT;

    struct ringo__wait wt;
    struct ringo__waiter w;
    ringo__wait_init(&wt);
    ringo__waiter_init(&w, &wt, 0, NULL);
    struct ringo__waitq *q = ringo__waitq_lock(&c->q_);
    list_push_back(&q->head, &w.link);
    ringo__waitq_unlock(q);
    /* Queued before m is released: a signaller that takes m after us
     * finds us, so no signal falls between the unlock and the park. */
    ringo_mutex_unlock(m);

    int r = ringo__wait(&wt, deadline);
    if (wt.fired < 0) {
        ringo__spin_lock(&q->lock);
        if (ringo__waiter_queued(&w))
            list_remove(&w.link);
        ringo__waitq_unlock(q);
    }
    /* Re-lock whatever happened: deadline and cancel are spent. */
    if (!try_fast(m))
        lock_slow(m, RINGO_FOREVER, true);
    return wt.fired >= 0 ? 0 : r;
}

int ringo_cond_signal(ringo_cond *c)
{
    struct ringo__waitq *q = ringo__waitq_lock(&c->q_);
    struct ringo__waiter *w = ringo__waitq_claim_first(&q->head);
    ringo__waitq_unlock(q);
    if (w)
        ringo__waiter_wake(w, 0);
    return 0;
}

int ringo_cond_broadcast(ringo_cond *c)
{
    struct list_node woken;
    list_init(&woken);
    struct ringo__waitq *q = ringo__waitq_lock(&c->q_);
    ringo__waitq_claim_all(q, &woken);
    ringo__waitq_unlock(q);
    ringo__waitq_wake_list(&woken, 0);
    return 0;
}
