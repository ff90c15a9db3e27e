/* The wait queue inside every sync object (mutex, cond, wait group, once,
 * semaphore): a spinlock and a FIFO of struct ringo__waiter records that
 * live on the parked coroutines' stacks (see sched/wait.h).
 *
 * The public headers expose it as opaque storage (struct ringo_waitq_) so
 * the objects can be embedded and zero-initialised without pulling in
 * internal headers. A zero-filled queue is valid: head.next == NULL means
 * "empty, never initialised" and the first locker links the sentinel to
 * itself. Every access goes through this internal layout; the public
 * fields are never read or written by name. */
#ifndef RINGO_SYNC_WAITQ_H
#define RINGO_SYNC_WAITQ_H

#include <ringo/sync.h>

#include <stdalign.h>
#include <stddef.h>

#include "base/list.h"
#include "base/spin.h"
#include "sched/sched.h"
#include "sched/wait.h"

struct ringo__waitq {
    ringo__spin lock;      /* guards head and the object's slow-path state */
    struct list_node head; /* waiters, FIFO; next == NULL: zero value */
};

_Static_assert(sizeof(struct ringo__waitq) == sizeof(struct ringo_waitq_),
               "ringo_waitq_ must have the size of the internal queue");
_Static_assert(alignof(struct ringo__waitq) == alignof(struct ringo_waitq_),
               "ringo_waitq_ must have the alignment of the internal queue");
_Static_assert(offsetof(struct ringo__waitq, lock) == offsetof(struct ringo_waitq_, lock_),
               "lock_ must overlay the spinlock");
_Static_assert(offsetof(struct ringo__waitq, head) == offsetof(struct ringo_waitq_, head_),
               "head_ must overlay the list sentinel");
_Static_assert(sizeof(ringo__spin) == sizeof(int) && alignof(ringo__spin) == alignof(int),
               "the spinlock must fit in lock_");

/* 0, or the error with which a call that may wait must fail before it
 * touches the object: RINGO_ENOTINCORO outside a coroutine, except for a
 * try (RINGO_NOWAIT never parks, so any thread may try), and -ECANCELED
 * in a cancelled coroutine, even when the call could complete at once:
 * cancellation is sticky everywhere in ringo. */
static inline int ringo__sync_entry(int64_t deadline)
{
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w ? w->current : NULL;
    if (!c)
        return deadline == RINGO_NOWAIT ? 0 : RINGO_ENOTINCORO;
    return c->cancelled ? -ECANCELED : 0;
}

/* Lock the queue (initialising a zero-filled one) and return it. */
static inline struct ringo__waitq *ringo__waitq_lock(struct ringo_waitq_ *pub)
{
    struct ringo__waitq *q = (struct ringo__waitq *)(void *)pub;
    ringo__spin_lock(&q->lock);
    if (!q->head.next)
        list_init(&q->head);
    return q;
}

static inline void ringo__waitq_unlock(struct ringo__waitq *q)
{
    ringo__spin_unlock(&q->lock);
}

/* For lock-free fast paths that return on a state another worker
 * published under q's lock (a wait group at zero, a once done, a
 * semaphore unit, a free mutex). That worker still writes q's lock word
 * to unlock it, and the caller may free the object as soon as we return
 * (ringo_wg_wait, then free: the usual pattern), so wait until the lock is
 * seen free (ringo__spin_await_free orders the publisher's unlock before
 * our return). Uncontended, this is one load of a line just read. */
static inline void ringo__waitq_settle(struct ringo_waitq_ *pub)
{
    ringo__spin_await_free(&((struct ringo__waitq *)(void *)pub)->lock);
}

/* Under q's lock: claim every waiter still waiting and move it to the
 * local list out, so the wakes can be sent after q is unlocked (a wake may
 * take another worker's inbox lock and write an eventfd: not under a
 * spinlock others spin on). Waiters whose wait was already taken by a
 * deadline or cancel are dropped on the way. Returns how many. */
static inline int ringo__waitq_claim_all(struct ringo__waitq *q, struct list_node *out)
{
    int n = 0;
    struct ringo__waiter *w;
    while ((w = ringo__waitq_claim_first(&q->head))) {
        list_push_back(out, &w->link);
        n++;
    }
    return n;
}

/* Wake every claimed waiter of a list filled by ringo__waitq_claim_all.
 * Each node is unlinked before its wake: once woken, the waiter's stack
 * frame may be gone. */
static inline void ringo__waitq_wake_list(struct list_node *list, int res)
{
    struct list_node *n;
    while ((n = list_pop_front(list)))
        ringo__waiter_wake(LIST_ENTRY(n, struct ringo__waiter, link), res);
}

/* Called with q locked by the calling coroutine: queue it at the back,
 * unlock q and park until a waker claims it (returns the waker's result,
 * 0 in this module) or the deadline passes / it is cancelled first
 * (returns -ETIMEDOUT / -ECANCELED, and the waiter is out of q again). A
 * waker that won the claim has already done its transfer (handed over the
 * mutex, a semaphore unit...), so a claimed wait is a success even when
 * the deadline passed meanwhile. */
static inline int ringo__waitq_park(struct ringo__waitq *q, int64_t deadline)
{
    return ringo__wait_on(&q->lock, &q->head, NULL, deadline);
}

/* Like ringo__waitq_park without deadline, deaf to cancellation: for a
 * wait that must end with the resource (the mutex re-lock of a cond
 * wait). The caller must know a waker will come. */
static inline void ringo__waitq_park_uninterruptible(struct ringo__waitq *q)
{
    struct ringo__wait wt;
    struct ringo__waiter w;
    ringo__wait_init(&wt);
    ringo__waiter_init(&w, &wt, 0, NULL);
    list_push_back(&q->head, &w.link);
    ringo__waitq_unlock(q);
    ringo__wait_uninterruptible(&wt);
}

/* ringo_wg_wait without a deadline, deaf to cancellation: for a caller
 * that must not return before the group is done (it frees what the
 * members use next); only a cancelled coroutine needs it. In a
 * coroutine. */
void ringo__wg_wait_uninterruptible(ringo_wg *wg);

#endif
