/* ringo/sync.h - mutex, condition variable, wait group, once, semaphore
 * for coroutines.
 *
 * These park the calling coroutine (its worker runs others meanwhile);
 * they never block the worker thread. They work between coroutines of
 * different workers. A zero-filled object is ready to use (Go's zero
 * value), e.g. `static ringo_mutex m;`; the *_init functions do the same
 * explicitly. None holds a resource: there is nothing to destroy, but no
 * coroutine may be waiting on an object whose memory is reused.
 *
 * Blocking calls take a deadline (RINGO_FOREVER, RINGO_NOWAIT = try) and
 * return -ETIMEDOUT when it passes and -ECANCELED when the coroutine is
 * cancelled, as everywhere in ringo; RINGO_ENOTINCORO outside a coroutine.
 */
#ifndef RINGO_SYNC_H
#define RINGO_SYNC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque storage for the wait queue every object has. */
struct ringo_waitq_ {
    int lock_;
    void *head_[2];
};

/* ---- mutex: FIFO hand-off to waiters, not tied to a coroutine ---- */
typedef struct ringo_mutex {
    struct ringo_waitq_ q_;
    int locked_;
} ringo_mutex;

void ringo_mutex_init(ringo_mutex *m);

/* Lock. Returns 0; -ETIMEDOUT (RINGO_NOWAIT: a trylock that failed);
 * -ECANCELED; RINGO_ENOTINCORO. Parks while another holds it; waiters get
 * the lock in arrival order (an unlock hands it to the first). Not
 * reentrant: locking a mutex you hold waits for the deadline. */
int ringo_mutex_lock(ringo_mutex *m, int64_t deadline);

/* Unlock; any coroutine or thread may unlock (as in Go). Returns 0 or
 * -EPERM if it was not locked. Never blocks. */
int ringo_mutex_unlock(ringo_mutex *m);

/* ---- condition variable ---- */
typedef struct ringo_cond {
    struct ringo_waitq_ q_;
} ringo_cond;

void ringo_cond_init(ringo_cond *c);

/* Atomically unlock m (which the caller holds) and wait for a signal;
 * m is locked again before returning, whatever the result. Returns 0
 * (signalled), -ETIMEDOUT, -ECANCELED, -EPERM (m not locked),
 * RINGO_ENOTINCORO. Spurious wake-ups do not happen, but re-check your
 * predicate anyway: another coroutine may take m first. */
int ringo_cond_wait(ringo_cond *c, ringo_mutex *m, int64_t deadline);

/* Wake one waiter / all waiters. Any thread; never blocks. Return 0. */
int ringo_cond_signal(ringo_cond *c);
int ringo_cond_broadcast(ringo_cond *c);

/* ---- wait group ---- */
typedef struct ringo_wg {
    struct ringo_waitq_ q_;
    int64_t count_;
} ringo_wg;

void ringo_wg_init(ringo_wg *wg);

/* Add delta (may be negative) to the counter; at zero every waiter
 * wakes. Returns 0, or -EINVAL if the counter would go negative (it is
 * left unchanged). Any thread; never blocks. */
int ringo_wg_add(ringo_wg *wg, int64_t delta);

/* ringo_wg_add(wg, -1). */
int ringo_wg_done(ringo_wg *wg);

/* Wait until the counter is zero. Returns 0, -ETIMEDOUT, -ECANCELED,
 * RINGO_ENOTINCORO. */
int ringo_wg_wait(ringo_wg *wg, int64_t deadline);

/* ---- once ---- */
typedef struct ringo_once {
    struct ringo_waitq_ q_;
    int state_;
} ringo_once;

/* Run fn(arg) exactly once for this object; concurrent callers park until
 * it has returned. Returns 1 if this call ran fn, 0 if it had already run
 * (or was run by another caller meanwhile), -ECANCELED if the caller was
 * cancelled while waiting (fn still runs to completion in its caller),
 * RINGO_ENOTINCORO. fn must not call ringo_once on the same object. */
int ringo_once_do(ringo_once *o, void (*fn)(void *arg), void *arg);

/* ---- counting semaphore ---- */
typedef struct ringo_sema {
    struct ringo_waitq_ q_;
    int64_t count_;
} ringo_sema;

/* Set the number of free units (>= 0). Returns 0 or -EINVAL. */
int ringo_sema_init(ringo_sema *s, int64_t count);

/* Take one unit, waiting for one if none is free (FIFO). Returns 0,
 * -ETIMEDOUT, -ECANCELED, RINGO_ENOTINCORO. */
int ringo_sema_acquire(ringo_sema *s, int64_t deadline);

/* Give one unit back (to the first waiter, if any). Any thread; never
 * blocks. Returns 0. */
int ringo_sema_release(ringo_sema *s);

#ifdef __cplusplus
}
#endif
#endif
