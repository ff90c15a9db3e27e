/* Scheduler internals shared by src/sched, src/io and src/net.
 *
 * One worker = one OS thread = one backend instance + one run queue + one
 * timer heap + one stack pool. Everything in struct ringo_worker is touched
 * only by its own thread, except the fields marked [shared], which other
 * threads use to hand over coroutines and wake the worker. */
#ifndef RINGO_SCHED_H
#define RINGO_SCHED_H

#include <ringo.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/heap.h"
#include "base/list.h"
#include "base/spin.h"
#include "sched/stack.h"

struct ringo_worker;
struct ringo_backend;

enum coro_state {
    CORO_RUNNABLE, /* in the run queue (or an inbox on its way to it) */
    CORO_RUNNING,  /* the worker's current coroutine */
    CORO_PARKED,   /* waiting: I/O, timer, join; not in any queue */
    CORO_DONE,     /* returned; stack not yet recycled (waits for join) */
};

/* Values of ringo_coro.join besides a pointer to the joining coroutine. */
#define JOIN_NONE ((uintptr_t)0)
#define JOIN_DONE ((uintptr_t)1)

struct ringo_coro {
    void *sp;               /* saved stack pointer while not running */
    struct ringo_worker *w; /* owner; fixed for life (no migration) */
    void (*fn)(void *);
    void *arg;
    struct ringo_stack stack; /* this struct lives at the top of it */
    struct list_node run;     /* run queue, or spawn inbox before first run */
    struct list_node wake;    /* link in another worker's wake inbox */
    struct list_node all;     /* worker's list of live coroutines */
    struct heap_node timer;   /* armed while parked with a deadline */
    enum coro_state state;
    int wake_res; /* what ringo__park returns: 0, -ETIMEDOUT,
                     -ECANCELED */
    /* Called instead of a plain wake when the deadline passes or a cancel
     * arrives while parked: the backend must first get its operation back
     * from the kernel. NULL = wake at once with the reason. */
    void (*interrupt)(struct ringo_coro *c, int reason);
    void *interrupt_arg;
    bool cancelled;         /* sticky: every later blocking call fails */
    bool detached;          /* no handle: recycle on return */
    bool uninterruptible;   /* parked waiting for a wake that is owed */
    bool is_main;           /* ringo_main's coroutine: returning stops */
    bool join_waiting;      /* parked in ringo_join (wakes are for it) */
    bool join_woken;        /* the finisher's wake has been delivered */
    bool wait_woken;        /* ringo__wait: the claimed wake has arrived */
    _Atomic uintptr_t join; /* JOIN_NONE, JOIN_DONE or joiner pointer */
    uint64_t id;
    void *asan_fake_stack;
    void *tsan_fiber;
};

/* Counters: written only by the owner with relaxed load+store (a plain
 * add in the generated code), read by ringo_stats() from any thread. */
struct ringo_worker_stats {
#define RINGO_WSTAT_FIELD(name, desc) _Atomic uint64_t name;
    RINGO_STATS_MAP(RINGO_WSTAT_FIELD)
#undef RINGO_WSTAT_FIELD
};

#define STAT_ADD(w, field, n)                                                                      \
    atomic_store_explicit(&(w)->stats.field,                                                       \
                          atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n),     \
                          memory_order_relaxed)
#define STAT_INC(w, field) STAT_ADD(w, field, 1)

struct ringo_worker {
    int id;
    pthread_t thread;
    struct ringo_runtime *rt;
    const struct ringo_backend *be;
    void *be_state; /* the backend's own per-worker state */

    void *sched_sp;             /* scheduler context while a coroutine runs */
    struct ringo_coro *current; /* running coroutine or NULL */
    /* Hand-off: the coroutine the running one last made runnable. When the
     * running one then parks, it switches straight to it (Go's runnext),
     * skipping the scheduler - at most direct_left times per round, so the
     * run queue, timers and I/O polling still get their turn. */
    struct ringo_coro *runnext;
    unsigned direct_left;
    struct list_node runq; /* RUNNABLE coroutines, FIFO */
    struct list_node all;  /* every live coroutine of this worker */
    size_t alive;          /* length of `all` */
    struct heap timers;    /* parked coroutines with a deadline */
    struct stack_pool stacks;
    uint64_t next_id;
    unsigned busy_rounds;  /* rounds since the last poll */
    bool urgent_submit;    /* queued SQEs must not wait for the busy-round
                              poll (a MSG_RING wake-up) */
    bool cancel_all_done;  /* stop handled: everything cancelled */
    bool spin_ok;          /* the last idle spin found work: spin again */
    int64_t spin_ns;       /* idle spin budget (0: never spin) */
    int64_t stop_deadline; /* grace period end once stopping */
    _Atomic int started;   /* [shared] backend ready: wake() is safe */
    /* [shared] coroutines placed on this worker and not yet exited,
     * counted when the spawner picks the worker (so a burst of balanced
     * spawns sees its own placements before the inbox is drained) */
    _Atomic long load;

    /* [shared] inboxes: coroutines handed over by other workers - new
     * spawns (linked by .run) and join wake-ups (linked by .wake). A short
     * lock, taken only on the cross-worker path. */
    pthread_mutex_t inbox_lock;
    struct list_node spawn_inbox;
    struct list_node wake_inbox;
    _Atomic int inbox_nonempty;
    _Atomic int wake_pending; /* a wake signal is on its way: skip more */

    void *asan_sched_bottom; /* the thread stack, for ASan fiber calls */
    size_t asan_sched_size;
    void *tsan_sched_fiber;

    struct ringo_worker_stats stats;
} __attribute__((aligned(64)));

struct ringo_runtime {
    ringo_config cfg;
    int nworkers;
    struct ringo_worker *workers;
    const struct ringo_backend *be;
    _Atomic int stopping;
    const char *fallback_reason; /* why auto did not get io_uring */
    /* start-up handshake: workers report their backend init result */
    pthread_mutex_t init_lock;
    pthread_cond_t init_cond;
    int init_count, init_err;
    int init_threads_failed; /* ringo_main could not start every thread */
    /* auto: worker init_fallback (> 0) failed on io_uring with
     * init_fallback_err after worker 0 chose it; all redo on epoll */
    int init_fallback, init_fallback_err;
    int init_redo_count, init_redo_err;
    /* the blocking-offload pool, created by the first ringo_offload */
    pthread_mutex_t offload_lock;
    struct ringo__offload *_Atomic offload;
    /* Graceful stop: coroutines parked in ringo_stop_wait (struct
     * ringo__waiter, see wait.h) are the ones that drain; a request claims
     * and wakes them all, from any thread (the signal thread too). */
    ringo__spin drain_lock;      /* guards drain_q and the first drain_req write */
    struct list_node drain_q;    /* waiters in ringo_stop_wait */
    _Atomic int drain_req;       /* 0; once requested 1 + the reason (signo or 0) */
    _Atomic int stop_signal;     /* the signal that forced a hard stop, or 0 */
    _Atomic int64_t exit_status; /* ringo_set_exit_status, EXIT_STATUS_UNSET */
};

/* ringo_runtime.exit_status before any ringo_set_exit_status (an int can
 * never be it). */
#define EXIT_STATUS_UNSET INT64_MIN

/* The running runtime (NULL when none). The one process-wide variable:
 * ringo_stop() must reach it from signal handlers and foreign threads. */
extern struct ringo_runtime *ringo__rt;

/* The calling thread's worker (NULL outside workers). initial-exec: one
 * %fs-relative load instead of a __tls_get_addr call in libringo.so (the
 * library is linked at start-up, not dlopen'ed late; glibc's static TLS
 * surplus covers a dlopen too). */
extern _Thread_local struct ringo_worker *ringo__self __attribute__((tls_model("initial-exec")));

static inline struct ringo_worker *ringo__worker(void)
{
    return ringo__self;
}

/* Park the running coroutine until woken, the deadline passes (reason
 * -ETIMEDOUT) or it is cancelled (-ECANCELED). interrupt (may be NULL)
 * replaces the immediate wake in those two cases, see struct ringo_coro.
 * Returns the wake result. */
int ringo__park(int64_t deadline, void (*interrupt)(struct ringo_coro *, int), void *arg);

/* Make a PARKED coroutine of the calling worker runnable with result res.
 * No-op for a coroutine that is not parked. */
void ringo__ready(struct ringo_coro *c, int res);

/* Hand a new coroutine to worker w, or deliver a wake-up (a join's, or a
 * claimed ringo__wait's) to a coroutine of w; wakes w if needed. Any
 * thread. */
void ringo__inbox_spawn(struct ringo_worker *w, struct ringo_coro *c);
void ringo__inbox_wake(struct ringo_worker *w, struct ringo_coro *c);

/* Wake target with its backend's thread-safe wake() (an eventfd write),
 * counted as a wake syscall of self (the calling worker; NULL outside). */
void ringo__wake_direct(struct ringo_worker *self, struct ringo_worker *target);

/* Timer expiry and run-queue helpers used by the worker loop. */
int64_t ringo__next_timer(struct ringo_worker *w);
void ringo__fire_timers(struct ringo_worker *w, int64_t now);

#endif
