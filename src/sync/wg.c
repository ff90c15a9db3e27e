/* Wait group, once and counting semaphore for coroutines (see
 * ringo/sync.h). Each keeps its state word next to its wait queue; the
 * state changes under the queue lock, and the read-only fast paths (a wait
 * group already at zero, a once already done, a free semaphore unit) use
 * atomics so they never take it; they only wait until the releaser has
 * dropped it (ringo__waitq_settle), so the caller may free the object. */
#include <errno.h>
#include <stdbool.h>

#include "sync/waitq.h"

/* ---- wait group ---- */

void ringo_wg_init(ringo_wg *wg)
{
    *wg = (ringo_wg){0};
}

int ringo_wg_add(ringo_wg *wg, int64_t delta)
{
    struct list_node woken;
    list_init(&woken);
    struct ringo__waitq *q = ringo__waitq_lock(&wg->q_);
    int64_t n = __atomic_load_n(&wg->count_, __ATOMIC_RELAXED);
    if ((delta < 0 && n < -delta) || (delta > 0 && n > INT64_MAX - delta)) {
        ringo__waitq_unlock(q);
        return -EINVAL;
    }
    n += delta;
    /* release: what the adders did before reaching zero is visible to a
     * waiter that sees zero on the fast path */
    __atomic_store_n(&wg->count_, n, __ATOMIC_RELEASE);
    if (n == 0)
        ringo__waitq_claim_all(q, &woken);
    ringo__waitq_unlock(q);
    ringo__waitq_wake_list(&woken, 0);
    return 0;
}

int ringo_wg_done(ringo_wg *wg)
{
    return ringo_wg_add(wg, -1);
}

int ringo_wg_wait(ringo_wg *wg, int64_t deadline)
{
    int e = ringo__sync_entry(deadline);
    if (e)
        return e;
    if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0) {
        ringo__waitq_settle(&wg->q_);
        return 0;
    }
    struct ringo__waitq *q = ringo__waitq_lock(&wg->q_);
    if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0) {
        ringo__waitq_unlock(q);
        return 0;
    }
    if (deadline == RINGO_NOWAIT) {
        ringo__waitq_unlock(q);
        return -ETIMEDOUT;
    }
    return ringo__waitq_park(q, deadline);
}

void ringo__wg_wait_uninterruptible(ringo_wg *wg)
{
    if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0) {
        ringo__waitq_settle(&wg->q_);
        return;
    }
    struct ringo__waitq *q = ringo__waitq_lock(&wg->q_);
    if (__atomic_load_n(&wg->count_, __ATOMIC_ACQUIRE) == 0) {
        ringo__waitq_unlock(q);
        return;
    }
    ringo__waitq_park_uninterruptible(q);
}

/* ---- once ---- */

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_DONE = 2 };

int ringo_once_do(ringo_once *o, void (*fn)(void *arg), void *arg)
{
    /* no deadline: it may always wait, so it needs a coroutine */
    int e = ringo__sync_entry(RINGO_FOREVER);
    if (e)
        return e;
    if (!fn)
        return -EINVAL;
    /* acquire: pairs with the release below, so fn's effects are visible */
    if (__atomic_load_n(&o->state_, __ATOMIC_ACQUIRE) == ONCE_DONE) {
        ringo__waitq_settle(&o->q_);
        return 0;
    }
    struct ringo__waitq *q = ringo__waitq_lock(&o->q_);
    int st = __atomic_load_n(&o->state_, __ATOMIC_ACQUIRE);
    if (st == ONCE_DONE) {
        ringo__waitq_unlock(q);
        return 0;
    }
    if (st == ONCE_RUNNING) {
        /* The runner wakes us after fn; only cancellation ends it early. */
        int r = ringo__waitq_park(q, RINGO_FOREVER);
        return r < 0 ? r : 0;
    }
    __atomic_store_n(&o->state_, ONCE_RUNNING, __ATOMIC_RELAXED);
    ringo__waitq_unlock(q);

    fn(arg);

    struct list_node woken;
    list_init(&woken);
    q = ringo__waitq_lock(&o->q_);
    __atomic_store_n(&o->state_, ONCE_DONE, __ATOMIC_RELEASE);
    ringo__waitq_claim_all(q, &woken);
    ringo__waitq_unlock(q);
    ringo__waitq_wake_list(&woken, 0);
    return 1;
}

/* ---- counting semaphore ----
 *
 * Invariant (under the queue lock): count_ > 0 only when nobody is
 * queued, because a release with a waiter hands its unit to that waiter
 * instead of adding it. So the lock-free fast acquire, which takes only
 * units that are counted, cannot jump the queue. */

int ringo_sema_init(ringo_sema *s, int64_t count)
{
    if (count < 0)
        return -EINVAL;
    *s = (ringo_sema){0};
    s->count_ = count;
    return 0;
}

/* Take a counted unit if there is one. */
static bool sema_try(ringo_sema *s)
{
    int64_t v = __atomic_load_n(&s->count_, __ATOMIC_RELAXED);
    while (v > 0) {
        if (__atomic_compare_exchange_n(&s->count_, &v, v - 1, true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

int ringo_sema_acquire(ringo_sema *s, int64_t deadline)
{
    int e = ringo__sync_entry(deadline);
    if (e)
        return e;
    if (sema_try(s)) {
        ringo__waitq_settle(&s->q_);
        return 0;
    }
    if (deadline == RINGO_NOWAIT)
        return -ETIMEDOUT;
    struct ringo__waitq *q = ringo__waitq_lock(&s->q_);
    /* a release may have counted a unit since the try */
    if (sema_try(s)) {
        ringo__waitq_unlock(q);
        return 0;
    }
    /* 0: a release claimed us and handed its unit over (even if the
     * deadline passed while the wake was on the way). */
    return ringo__waitq_park(q, deadline);
}

int ringo_sema_release(ringo_sema *s)
{
    struct ringo__waitq *q = ringo__waitq_lock(&s->q_);
    struct ringo__waiter *w = ringo__waitq_claim_first(&q->head);
    if (!w)
        __atomic_fetch_add(&s->count_, 1, __ATOMIC_RELEASE);
    ringo__waitq_unlock(q);
    if (w)
        ringo__waiter_wake(w, 0);
    return 0;
}
