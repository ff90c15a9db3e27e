/* Coroutine lifecycle, used by the worker loop. */
#ifndef RINGO_SCHED_CORO_H
#define RINGO_SCHED_CORO_H

struct ringo_worker;
struct ringo_coro;

/* Allocate a coroutine (stack from alloc_from's pool) owned by owner.
 * Returns NULL with *err = -ENOMEM when no stack can be had. */
struct ringo_coro *ringo__coro_new(struct ringo_worker *alloc_from, struct ringo_worker *owner,
                                   void (*fn)(void *), void *arg, int *err);
void ringo__coro_free(struct ringo_worker *w, struct ringo_coro *c);
/* Link c into its owner w (the calling worker) and make it runnable. */
void ringo__coro_start(struct ringo_worker *w, struct ringo_coro *c);
/* Switch to c until a coroutine switches back to the scheduler (c, or
 * one c handed over to when it parked); returns that coroutine. */
struct ringo_coro *ringo__run(struct ringo_worker *w, struct ringo_coro *c);
/* Recycle or hand to the joiner a coroutine that has returned. */
void ringo__coro_finish(struct ringo_worker *w, struct ringo_coro *c);
void ringo__join_wake(struct ringo_coro *joiner);
void ringo__cancel_local(struct ringo_coro *c);

#endif
