/* ringo/sync.h - mutex, condition variable, wait group, once, semaphore
 * for coroutines. User guide: docs/sync.md.
 *
 * These park the calling coroutine (its worker runs others meanwhile);
 * they never block the worker thread. They work between coroutines of
 * different workers. A zero-filled object is ready to use (Go's zero
 * value), e.g. `static ringo_mutex m;`; the *_init functions do the same
 * explicitly. None holds a resource: there is nothing to destroy, but no
 * coroutine may be waiting on an object whose memory is reused or freed.
 *
 * Blocking calls take a deadline (RINGO_FOREVER, RINGO_NOWAIT = try) and
 * return -ETIMEDOUT when it passes and -ECANCELED when the coroutine is
 * cancelled, as everywhere in ringo. Cancellation is sticky: a cancelled
 * coroutine fails every later call that may wait (lock, cond wait, wait
 * group wait, once, acquire) at once with -ECANCELED, even one that could
 * complete without waiting. They return RINGO_ENOTINCORO outside a
 * coroutine, except for a try: RINGO_NOWAIT never parks, so any thread may
 * try-lock a mutex, try-acquire a semaphore or poll a wait group. A wait
 * that a waker has already satisfied (the mutex or a unit was handed
 * over) succeeds even if its deadline passed or a cancel arrived
 * meanwhile.
 *
 * The waking calls (unlock, signal, broadcast, wg add/done, release) work
 * from any thread, including plain pthreads outside the runtime; the
 * woken coroutine resumes on its own worker. Waiters are served in arrival
 * order (FIFO) by every object.
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
 * the lock in arrival order: an unlock hands it directly to the first, so
 * a newcomer never barges in ahead of a waiter. Uncontended lock and
 * unlock are one atomic compare-and-swap each. Not reentrant: locking a
 * mutex you hold waits for the deadline. */
int ringo_mutex_lock(ringo_mutex *m, int64_t deadline);

/* Unlock; any coroutine or thread may unlock (as in Go: the mutex is not
 * tied to its locker). Returns 0 or -EPERM if it was not locked. Never
 * blocks. */
int ringo_mutex_unlock(ringo_mutex *m);

/* ---- condition variable ---- */
typedef struct ringo_cond {
    struct ringo_waitq_ q_;
} ringo_cond;

void ringo_cond_init(ringo_cond *c);

/* Atomically unlock m (which the caller holds) and wait for a signal;
 * m is locked again before returning, whatever the result: after a
 * deadline or cancel the re-lock itself still waits, deaf to both, until
 * m is free. Returns 0 (signalled), -ETIMEDOUT, -ECANCELED, -EPERM (m not
 * locked), RINGO_ENOTINCORO. With RINGO_NOWAIT (any thread), or in a
 * coroutine already cancelled, it fails at once without releasing m.
 * Spurious wake-ups do not happen, but re-check your predicate anyway:
 * another coroutine may take m first. */
int ringo_cond_wait(ringo_cond *c, ringo_mutex *m, int64_t deadline);

/* Wake the longest-waiting waiter / all waiters. Any thread (the
 * signaller need not hold the mutex); never blocks. A signal with no
 * waiter is lost, as in Go. Return 0. */
int ringo_cond_signal(ringo_cond *c);
int ringo_cond_broadcast(ringo_cond *c);

/* ---- wait group ---- */
typedef struct ringo_wg {
    struct ringo_waitq_ q_;
    int64_t count_;
} ringo_wg;

void ringo_wg_init(ringo_wg *wg);

/* Add delta (may be negative) to the counter; at zero every waiter
 * wakes. Returns 0, or -EINVAL if the counter would go negative or
 * overflow (it is left unchanged; Go panics). Any thread; never blocks. */
int ringo_wg_add(ringo_wg *wg, int64_t delta);

/* ringo_wg_add(wg, -1). */
int ringo_wg_done(ringo_wg *wg);

/* Wait until the counter is zero (returns at once if it is). Returns 0,
 * -ETIMEDOUT, -ECANCELED, RINGO_ENOTINCORO. */
int ringo_wg_wait(ringo_wg *wg, int64_t deadline);

/* ---- once ---- */
typedef struct ringo_once {
    struct ringo_waitq_ q_;
    int state_;
} ringo_once;

/* Run fn(arg) exactly once for this object; concurrent callers park until
 * it has returned (no deadline: fn's own calls take those). Returns 1 if
 * this call ran fn, 0 if it had already run (or was run by another caller
 * meanwhile; fn's effects are visible), -ECANCELED if the caller is or
 * gets cancelled (fn does not run in a cancelled caller; if another
 * caller is running it, it runs to completion there), -EINVAL for a NULL
 * fn, RINGO_ENOTINCORO (from any thread: it may have to wait). fn runs in the first caller's
 * coroutine and must return (not ringo_exit, or the waiters wait for
 * ever); it must not call ringo_once_do on the same object. */
int ringo_once_do(ringo_once *o, void (*fn)(void *arg), void *arg);

/* ---- counting semaphore ---- */
typedef struct ringo_sema {
    struct ringo_waitq_ q_;
    int64_t count_;
} ringo_sema;

/* Set the number of free units (>= 0). Returns 0 or -EINVAL. */
int ringo_sema_init(ringo_sema *s, int64_t count);

/* Take one unit, waiting for one if none is free (FIFO: a released unit
 * goes to the longest waiter, never to a newcomer). Returns 0,
 * -ETIMEDOUT, -ECANCELED, RINGO_ENOTINCORO. */
int ringo_sema_acquire(ringo_sema *s, int64_t deadline);

/* Give one unit back (to the first waiter, if any). Any thread; never
 * blocks. Returns 0. */
int ringo_sema_release(ringo_sema *s);

#ifdef __cplusplus
}
#endif
#endif
