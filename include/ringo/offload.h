/* ringo/offload.h - run blocking code without blocking a worker.
 *
 * A worker thread must never block: every coroutine on it would stop.
 * ringo_offload() runs a function on a bounded pool of helper threads
 * (ringo_config.offload_threads, default 16, env RINGO_OFFLOAD_THREADS;
 * started on first use) and parks the calling coroutine until it returns.
 * Use it for getaddrinfo, blocking libraries, CPU-heavy work.
 */
#ifndef RINGO_OFFLOAD_H
#define RINGO_OFFLOAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Run fn(arg) on a pool thread and wait for it. Calls beyond the pool's
 * size queue (FIFO) until a thread is free.
 * Returns 0 once fn has returned; -ETIMEDOUT if the deadline passed before
 * a thread picked the call up (fn never runs); -ECANCELED likewise for a
 * cancel; RINGO_ENOTINCORO; RINGO_ESTOPPED while the runtime stops;
 * -EAGAIN if no pool thread could be started at all.
 * Once fn has started the call waits for it to return, whatever the
 * deadline: a blocking function cannot be interrupted safely, and fn may
 * use arg (often on the caller's stack) until it returns. Results travel
 * in *arg. fn runs on a plain thread: it must not call ringo's blocking
 * functions. -EINVAL for a NULL fn; -ENOMEM if the pool could not be
 * allocated. RINGO_NOWAIT times out unless a thread takes the call at
 * once. ringo_main waits for every running fn before it returns. */
int ringo_offload(void (*fn)(void *arg), void *arg, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
