/* The blocking-offload pool (ringo/offload.h), and its internal form for
 * callers that may walk away from a running call (ringo_dial). */
#ifndef RINGO_SCHED_OFFLOAD_H
#define RINGO_SCHED_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "sched/wait.h"

struct ringo_runtime;

enum offload_state { OFFLOAD_QUEUED, OFFLOAD_RUNNING, OFFLOAD_DONE };

struct ringo__offload_job {
    void (*fn)(void *arg);
    void *arg;
    /* Only for may_abandon calls: takes over a job the caller gave up on
     * (see ringo__offload_run); it owns the job from then on (free it).
     * Runs on the pool thread or the caller's, never under a lock. */
    void (*abandoned)(struct ringo__offload_job *job);
    /* pool-owned */
    struct list_node link;
    struct ringo__waiter *waiter; /* the caller's, while it waits */
    enum offload_state state;
    bool caller_left;
};

/* Queue job (fn, arg and, with may_abandon, abandoned filled in; the
 * rest is the pool's) and park until fn has run. Returns 0 once fn has
 * returned (its results are visible to the caller), or -ETIMEDOUT /
 * -ECANCELED if it was still queued at the deadline / cancel (it never
 * runs), RINGO_ESTOPPED, -EAGAIN (no thread could be started), -ENOMEM
 * (no pool), -EINVAL (no fn, or may_abandon without abandoned; the job
 * is untouched), RINGO_ENOTINCORO.
 * Without may_abandon a started fn is waited for, deaf to deadline and
 * cancel, and the job is the caller's again whatever the return.
 * With may_abandon a deadline or cancel returns at once, and on every
 * return but 0 and -EINVAL the job belongs to job->abandoned: called
 * before the return when fn never started, or by the pool thread after
 * fn returns when the caller left while it ran. So the job, and whatever
 * fn writes to, must live on the heap, and the caller must not touch it
 * after such a return. */
int ringo__offload_run(struct ringo__offload_job *job, int64_t deadline, bool may_abandon);

/* Stop and join the pool threads (ringo_main's teardown). Jobs still
 * queued are dropped: their callers are gone. */
void ringo__offload_fini(struct ringo_runtime *rt);

#endif
