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
    /* Only for may_abandon calls: the pool thread calls this after fn
     * when the caller has left (deadline or cancel while fn ran); it owns
     * the job from then on (free it). */
    void (*abandoned)(struct ringo__offload_job *job);
    /* pool-owned */
    struct list_node link;
    struct ringo__waiter *waiter; /* the caller's, while it waits */
    enum offload_state state;
    bool caller_left;
};

/* Queue job and park until fn has run. Returns 0 when it ran, or
 * -ETIMEDOUT/-ECANCELED if it was still queued at the deadline / cancel
 * (it never runs), RINGO_ESTOPPED, -EAGAIN (no thread could be started),
 * RINGO_ENOTINCORO. A started fn is waited for, unless may_abandon: then
 * the call returns the interrupt's result at once and the pool thread
 * hands the job to job->abandoned when fn returns. */
int ringo__offload_run(struct ringo__offload_job *job, int64_t deadline, bool may_abandon);

/* Stop and join the pool threads (ringo_main's teardown). Jobs still
 * queued are dropped: their callers are gone. */
void ringo__offload_fini(struct ringo_runtime *rt);

#endif
