/* Parking on shared objects: the one mechanism under channels, select,
 * mutexes, condition variables, wait groups, semaphores and the offload
 * pool (Go's sudog, in C).
 *
 * A coroutine that must wait fills a struct ringo__wait on its stack and
 * links one struct ringo__waiter per object it waits on (a select waits on
 * several) into those objects' queues, under each object's own lock. Then
 * it calls ringo__wait(). Whoever can satisfy a waiter - on any worker or
 * on a foreign thread - first *claims* the wait (one atomic CAS; a select's
 * waiters share it, so only one case wins), then finishes the transfer
 * (copies the channel element, hands over the mutex...), then calls
 * ringo__waiter_wake(). A deadline or a cancel claims the same way; if it
 * loses, the wake is owed and the coroutine stays parked until it arrives,
 * so a waker never writes into a stack frame that has returned.
 *
 * Lock order: an object's lock may be held while waking (the wake takes the
 * target worker's inbox lock); nothing takes an object lock while holding
 * an inbox lock. */
#ifndef RINGO_SCHED_WAIT_H
#define RINGO_SCHED_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "base/spin.h"
#include "sched/sched.h"

struct ringo_coro;

struct ringo__wait {
    _Atomic int claimed;     /* 0 while waiting; the first CAS to 1 wins */
    int nwaiters;            /* > 1: a select, claimable from several queues */
    int fired;               /* index of the winning waiter; -1: interrupted */
    int res;                 /* the winner's result (0, -EPIPE, -ETIMEDOUT...) */
    struct ringo_coro *coro; /* the parked coroutine */
};

struct ringo__waiter {
    struct list_node link; /* in the object's queue; self-linked when out */
    struct ringo__wait *wait;
    void *elem; /* channel element (send: source, recv: destination) */
    int index;  /* reported in wait->fired when this one wins */
};

/* Prepare a wait for the calling coroutine. */
static inline void ringo__wait_init(struct ringo__wait *wt)
{
    atomic_init(&wt->claimed, 0);
    wt->nwaiters = 0;
    wt->fired = -1;
    wt->res = 0;
    wt->coro = ringo__self->current;
    wt->coro->wait_woken = false;
}

/* Prepare a waiter of wt with the given index and element pointer. */
static inline void ringo__waiter_init(struct ringo__waiter *w, struct ringo__wait *wt, int index,
                                      void *elem)
{
    list_init(&w->link);
    wt->nwaiters++;
    w->wait = wt;
    w->elem = elem;
    w->index = index;
}

/* 1 if the waiter is linked into some queue. */
static inline bool ringo__waiter_queued(const struct ringo__waiter *w)
{
    return w->link.next != &w->link;
}

/* 1 if wt's coroutine belongs to the calling thread's worker. */
static inline bool ringo__wait_is_local(const struct ringo__wait *wt)
{
    return wt->coro->w == ringo__self;
}

/* Claim w's wait for a transfer. Returns true if the caller won: it must
 * then call ringo__waiter_wake() exactly once. Call under the lock of the
 * queue w sits in. */
static inline bool ringo__waiter_claim(struct ringo__waiter *w)
{
    struct ringo__wait *wt = w->wait;
    /* Who else could claim? Holders of this queue's lock (we hold it), the
     * coroutine's own deadline/cancel (only ever on its worker's thread)
     * and, for a select, wakers of its other queues. So a waker on the
     * waiter's own worker claiming a single wait races nobody: a plain
     * load and store do, and the locked CAS (the dearest instruction of a
     * channel hand-off on one worker) is saved. */
    if (wt->nwaiters <= 1 && ringo__wait_is_local(wt)) {
        if (atomic_load_explicit(&wt->claimed, memory_order_relaxed))
            return false;
        atomic_store_explicit(&wt->claimed, 1, memory_order_relaxed);
        return true;
    }
    int expect = 0;
    return atomic_compare_exchange_strong_explicit(&wt->claimed, &expect, 1, memory_order_acq_rel,
                                                   memory_order_acquire);
}

/* Pop the first waiter of queue q whose wait the caller can claim; waiters
 * of waits already claimed elsewhere (the other cases of a select) are
 * unlinked on the way. NULL if none. Call under q's lock. */
struct ringo__waiter *ringo__waitq_claim_first(struct list_node *q);

/* Deliver a claimed wake on the coroutine's own worker (the inbox path). */
static inline void ringo__wait_deliver(struct ringo_coro *c)
{
    c->wait_woken = true;
    ringo__ready(c, 0);
}

/* Make a parked coroutine whose wake was claimed runnable: on its own
 * worker at once, else through its worker's inbox. Any thread. */
static inline void ringo__wake_claimed(struct ringo_coro *c)
{
    if (c->w == ringo__self)
        ringo__wait_deliver(c);
    else
        ringo__inbox_wake(c->w, c);
}

/* Report res for a claimed waiter and make its coroutine runnable, on
 * its own worker (directly, or through that worker's inbox). Any thread. */
static inline void ringo__waiter_wake(struct ringo__waiter *w, int res)
{
    struct ringo__wait *wt = w->wait;
    wt->fired = w->index;
    wt->res = res;
    ringo__wake_claimed(wt->coro);
}

/* Park the calling coroutine until its wait is claimed and the wake has
 * arrived, or the deadline passes / it is cancelled and the interrupt wins
 * the claim (then wt->fired = -1 and the result is -ETIMEDOUT or
 * -ECANCELED). Returns wt->res. The caller must then unlink its waiters
 * that are still queued (ringo__waiter_queued), under their locks.
 * Fails at once with -ECANCELED if the caller is already cancelled and
 * the claim can be taken (nobody has claimed it yet). */
int ringo__wait(struct ringo__wait *wt, int64_t deadline);

/* Like ringo__wait without deadline, deaf to cancellation: for a wait
 * that must end with the claimed wake (a resource is being handed over). */
void ringo__wait_uninterruptible(struct ringo__wait *wt);

/* A wait on one queue and its one waiter, on one cache line (24 + 40
 * bytes): a waker on another worker reads and writes both, and each line
 * it must pull over costs ~230 ns on the 2-vCPU test VM (cross-worker
 * channel ping-pong measured 1.29-1.36 -> 1.16-1.20 us/message). */
struct ringo__single_wait {
    struct ringo__wait wt;
    struct ringo__waiter me;
} __attribute__((aligned(64)));

/* The common wait on one queue q guarded by lock, which the caller holds:
 * link a waiter (elem as its element), unlock, wait (ringo__wait), and if
 * interrupted unlink it under the lock again - a claimer that lost may be
 * walking q, so the frame may go only after that. Returns ringo__wait's
 * result; the lock is not held on return. */
static inline int ringo__wait_on(ringo__spin *lock, struct list_node *q, void *elem,
                                 int64_t deadline)
{
    struct ringo__single_wait sw;
    ringo__wait_init(&sw.wt);
    ringo__waiter_init(&sw.me, &sw.wt, 0, elem);
    list_push_back(q, &sw.me.link);
    ringo__spin_unlock(lock);
    int r = ringo__wait(&sw.wt, deadline);
    if (sw.wt.fired < 0) {
        ringo__spin_lock(lock);
        if (ringo__waiter_queued(&sw.me))
            list_remove(&sw.me.link);
        ringo__spin_unlock(lock);
    }
    return r;
}

#endif
