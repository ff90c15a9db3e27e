/* Parking on shared objects: see wait.h. */
#include "sched/wait.h"

#include <errno.h>

#include "sched/sched.h"

struct ringo__waiter *ringo__waitq_claim_first(struct list_node *q)
{
    struct list_node *n;
    while ((n = list_pop_front(q))) {
        struct ringo__waiter *w = LIST_ENTRY(n, struct ringo__waiter, link);
        if (ringo__waiter_claim(w))
            return w;
    }
    return NULL;
}

/* A deadline or cancel reached the parked coroutine: it wins only if no
 * waker has claimed the wait; otherwise the waker's wake is owed and the
 * coroutine keeps waiting for it. */
static void wait_interrupt(struct ringo_coro *c, int reason)
{
    struct ringo__wait *wt = c->interrupt_arg;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&wt->claimed, &expect, 1))
        return;
    wt->fired = -1;
    wt->res = reason;
    ringo__wait_deliver(c);
}

int ringo__wait(struct ringo__wait *wt, int64_t deadline)
{
    struct ringo_coro *c = wt->coro;
    if (c->cancelled) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&wt->claimed, &expect, 1)) {
            wt->fired = -1;
            wt->res = -ECANCELED;
            return wt->res;
        }
    }
    if (deadline == RINGO_NOWAIT) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&wt->claimed, &expect, 1)) {
            wt->fired = -1;
            wt->res = -ETIMEDOUT;
            return wt->res;
        }
    }
    while (!c->wait_woken) {
        if (ringo__park(deadline, wait_interrupt, wt) == -ENOMEM) {
            /* the timer heap could not grow: give up if nobody has claimed
             * us yet, else the owed wake needs no timer */
            int expect = 0;
            if (atomic_compare_exchange_strong(&wt->claimed, &expect, 1)) {
                wt->fired = -1;
                wt->res = -ENOMEM;
                return wt->res;
            }
            deadline = RINGO_FOREVER;
        }
    }
    return wt->res;
}

void ringo__wait_uninterruptible(struct ringo__wait *wt)
{
    struct ringo_coro *c = wt->coro;
    bool was = c->uninterruptible;
    c->uninterruptible = true;
    while (!c->wait_woken)
        ringo__park(RINGO_FOREVER, NULL, NULL);
    c->uninterruptible = was;
}
