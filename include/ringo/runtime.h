/* ringo/runtime.h - workers, coroutines, time.
 *
 * A ringo program calls ringo_main() once from an ordinary thread. It starts
 * N worker threads; each owns one I/O backend instance (an io_uring ring or
 * an epoll fd), a run queue, a timer heap and a stack pool. Coroutines are
 * stackful and run on the worker that spawned them (they never migrate), so
 * a coroutine may keep pointers to thread-locals of its worker across parks.
 *
 * Conventions (all of ringo):
 *   - return >= 0 on success, -errno on failure; errno is never touched;
 *   - every call that may block ends with `int64_t deadline`: absolute
 *     nanoseconds on ringo_now()'s monotonic clock, RINGO_FOREVER or
 *     RINGO_NOWAIT. Expiry returns -ETIMEDOUT, cancellation -ECANCELED;
 *   - blocking calls must be made from a coroutine (else RINGO_ENOTINCORO).
 *
 * fork(): a process with a running ringo runtime must only fork() to
 * exec() at once; rings, epoll sets and worker threads do not survive it.
 */
#ifndef RINGO_RUNTIME_H
#define RINGO_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGO_FOREVER ((int64_t)-1)
#define RINGO_NOWAIT  ((int64_t)0)

typedef struct ringo_coro ringo_coro;

/* Runtime configuration. Fill with ringo_config_init() (defaults, then the
 * environment), then change what you need. */
typedef struct ringo_config {
    int workers;                  /* worker threads; 0 = CPUs in our affinity mask.
                                     env RINGO_WORKERS */
    const char *backend;          /* "auto", "uring" or "epoll"; NULL = "auto".
                                     env RINGO_BACKEND */
    size_t stack_size;            /* usable bytes per coroutine stack (rounded up to
                                     pages); default 64 KiB, committed lazily.
                                     env RINGO_STACK_SIZE */
    unsigned ring_entries;        /* io_uring SQ entries per worker; default 1024 */
    int pin_workers;              /* 1: pin worker i to the i-th CPU of the mask.
                                     env RINGO_PIN=1 */
    int handle_signals;           /* 1 (default): SIGINT/SIGTERM ask for a graceful
                                     stop (ringo_stop_graceful: a running HTTP
                                     server drains) when a coroutine waits in
                                     ringo_stop_wait, else, and on a second one,
                                     call ringo_stop(); SIGUSR1 calls on_signal.
                                     Signals are blocked in workers and taken by
                                     one signal thread. */
    void (*on_signal)(int signo); /* called on the signal thread for SIGUSR1
                                     and SIGHUP (taken only when this is set,
                                     e.g. to reload certificates), and for
                                     SIGINT/SIGTERM after the drain request
                                     or stop */
    int ignore_sigpipe;           /* 1 (default): SIGPIPE is ignored process-wide so
                                     a write to a closed peer returns -EPIPE */
    int verbose;                  /* 1: log backend choice and features to stderr.
                                     env RINGO_VERBOSE=1 */
    int sqpoll;                   /* 1: io_uring SQPOLL (a kernel thread polls the
                                     submission queues; one thread shared by all
                                     workers). Off by default: it spends a CPU
                                     to save syscalls. env RINGO_SQPOLL=1 */
    unsigned sqpoll_idle_ms;      /* the SQPOLL thread sleeps after this much
                                     idle time (default 50).
                                     env RINGO_SQPOLL_IDLE_MS */
    unsigned recv_buffers;        /* receive buffers per worker (power of two, at
                                     most 32768), shared by all its connections:
                                     the provided-buffer ring of multishot recv and
                                     the pool of ringo_recv_borrow. Default 1024.
                                     env RINGO_RECV_BUFFERS */
    unsigned recv_buffer_size;    /* bytes per receive buffer; default 16 KiB
                                     (pages are committed when first written).
                                     env RINGO_RECV_BUFFER_SIZE */
    int multishot_recv;           /* 1 (default where the kernel has it): stream
                                     sockets read through one multishot recv into
                                     the buffer ring. env RINGO_MULTISHOT_RECV=0 */
    size_t zc_threshold;          /* io_uring: sends of at least this many bytes
                                     go zero-copy (SEND_ZC); 0 = never.
                                     env RINGO_ZC_THRESHOLD */
    int offload_threads;          /* most threads of the blocking-offload pool
                                     (ringo_offload, file I/O on epoll,
                                     ringo_dial); started on demand. 0 = the
                                     default, 16; at most 1024.
                                     env RINGO_OFFLOAD_THREADS */
} ringo_config;

/* Fill *cfg with defaults, then apply RINGO_WORKERS, RINGO_BACKEND,
 * RINGO_STACK_SIZE, RINGO_PIN and RINGO_VERBOSE from the environment.
 * Never blocks. */
void ringo_config_init(ringo_config *cfg);

/* Start the runtime (cfg NULL = ringo_config_init defaults) and run
 * fn(arg) as the first coroutine, on worker 0. Returns when fn returns or
 * ringo_stop() is called, after every coroutine has been cancelled and has
 * exited (bounded by a 2 s grace period) and every worker has torn down its
 * backend. Blocks the calling thread. One runtime per process at a time.
 * Returns, in this order of precedence:
 *   - -errno / RINGO_ENOBACKEND if start-up failed (-EINVAL for a bad
 *     config, -EBUSY if a runtime is already running in this process);
 *   - the last value given to ringo_set_exit_status(), if any (so main can
 *     report its own failure, e.g. the -EADDRINUSE of a listen);
 *   - 128 + signo (130 for SIGINT, 143 for SIGTERM, as a shell reports a
 *     killed process) when SIGINT/SIGTERM stopped the runtime hard (see
 *     handle_signals) - a graceful drain that let fn return is not that;
 *   - else 0.
 * So `int r = ringo_main(...); return r < 0 ? 1 : r;` is a fitting exit
 * code. A coroutine that crashes (a fault, its stack's guard page, abort)
 * takes the whole process down: ringo_main does not return then. */
int ringo_main(const ringo_config *cfg, void (*fn)(void *arg), void *arg);

/* Set what ringo_main returns once the runtime has stopped (see there);
 * the last call wins. Does not stop anything by itself. Returns 0, or
 * -ESRCH when no runtime runs. Any thread; never blocks. */
int ringo_set_exit_status(int status);

/* Ask the runtime to stop: every coroutine is cancelled (blocking calls
 * return -ECANCELED, new ones too), and ringo_main returns once they have
 * all exited. Safe from any thread and from signal context. Never blocks. */
void ringo_stop(void);

/* Ask for a graceful stop, as SIGINT/SIGTERM do under handle_signals:
 * every coroutine parked in ringo_stop_wait() wakes (ringo_http_serve /
 * ringo_http_start servers then run ringo_http_shutdown), and every later
 * ringo_stop_wait returns at once; the program decides when to return
 * from main. When no coroutine is parked in ringo_stop_wait, nobody would
 * drain, so this calls ringo_stop(). Returns 1 if a graceful stop was
 * started (or already had been), 0 if it called ringo_stop() (or the
 * runtime was stopping already), -ESRCH when no runtime runs. Any thread,
 * but not a signal handler (it takes a lock: use ringo_stop() there, or
 * leave the signals to handle_signals). Never blocks. */
int ringo_stop_graceful(void);

/* Park until a graceful stop is asked for (SIGINT/SIGTERM under
 * handle_signals, or ringo_stop_graceful()); then finish the work in
 * flight and return from main. While at least one coroutine is parked
 * here, the first SIGINT/SIGTERM only wakes the waiters; a second one, or
 * one that finds no waiter (also between two calls of a loop that waits
 * with a deadline: keep one coroutine waiting with RINGO_FOREVER to be
 * sure), calls ringo_stop(). Returns the reason, >= 0: the signal number,
 * or 0 for ringo_stop_graceful(); once a stop was asked for it returns the
 * reason at once. -ETIMEDOUT at the deadline (RINGO_NOWAIT polls, also
 * from a thread that is not a coroutine), -ECANCELED if cancelled (also by
 * ringo_stop()), RINGO_ENOTINCORO outside a coroutine, -ESRCH when no
 * runtime runs. */
int ringo_stop_wait(int64_t deadline);

/* 1 once ringo_stop() has been called (or main's coroutine returned). */
int ringo_stopping(void);

/* Number of workers of the running runtime (0 if none). */
int ringo_workers(void);

/* Index of the calling worker, 0..ringo_workers()-1, or -1 outside one. */
int ringo_worker_id(void);

/* Name of the backend in use: "uring" or "epoll" (NULL if not running). */
const char *ringo_backend_name(void);

/* What the backend found and uses (strings are owned by the runtime and
 * valid until ringo_main returns). */
struct ringo_backend_info {
    const char *name;            /* "uring" or "epoll" */
    const char *features;        /* space-separated, e.g. "single_issuer
                                    defer_taskrun ... msg_ring" */
    const char *fallback_reason; /* why "auto" fell back to epoll, or NULL */
    int workers;
};

/* Fill *out for the running runtime. Returns 0, or -ESRCH when none runs
 * (or it has not finished starting). Any thread; never blocks. */
int ringo_backend_info(struct ringo_backend_info *out);

/* Spawn fn(arg) as a new coroutine on the calling worker. It first runs
 * when the caller next parks or yields. If handle is NULL the coroutine is
 * detached (its resources are freed when it returns); otherwise *handle
 * receives a handle that must be passed to ringo_join() exactly once.
 * Returns 0, -ENOMEM (no stack memory: see vm.max_map_count in
 * docs/errors.md), RINGO_ENOTINCORO outside a worker, RINGO_ESTOPPED while
 * stopping. Never blocks. */
int ringo_go(void (*fn)(void *arg), void *arg, ringo_coro **handle);

/* Like ringo_go but on worker `worker` (0..ringo_workers()-1). May be called
 * from any coroutine; the new coroutine is handed over through the target's
 * inbox and its worker is woken. Returns 0, -EINVAL (bad worker), -ENOMEM,
 * RINGO_ENOTINCORO, RINGO_ESTOPPED. Never blocks. */
int ringo_go_on(int worker, void (*fn)(void *arg), void *arg, ringo_coro **handle);

/* Like ringo_go but on the least loaded worker: the one with the fewest
 * live coroutines (counting those handed over and not yet started), the
 * calling worker on a tie. Use it to spread CPU-heavy or long-lived
 * coroutines; coroutines never migrate afterwards (no work stealing: see
 * docs/design.md). Same returns as ringo_go_on. Never blocks. */
int ringo_go_balanced(void (*fn)(void *arg), void *arg, ringo_coro **handle);

/* Wait until the coroutine behind handle has returned, then free it.
 * Works across workers. Returns 0; -ETIMEDOUT (the handle stays valid,
 * join again later); -ECANCELED if the caller was cancelled (handle stays
 * valid); -EINVAL for a NULL handle or joining oneself. */
int ringo_join(ringo_coro *handle, int64_t deadline);

/* Cancel a coroutine of the calling worker: its current blocking call
 * returns -ECANCELED (after the kernel has let go of its buffers) and so
 * does every later one. Returns 0, -EXDEV if it lives on another worker,
 * -EINVAL for NULL. Never blocks. The handle must not have been joined. */
int ringo_cancel(ringo_coro *handle);

/* Returns 1 if the calling coroutine has been cancelled, else 0. */
int ringo_cancelled(void);

/* The calling coroutine (NULL outside one). */
ringo_coro *ringo_self(void);

/* Let the other runnable coroutines of this worker run, then continue.
 * Returns 0, or -ECANCELED if the caller has been cancelled. */
int ringo_yield(void);

/* End the calling coroutine now (as if its function returned). Does not
 * return. Objects on its stack are abandoned, not destroyed. */
#ifdef __cplusplus
[[noreturn]] void ringo_exit(void); /* C++ has no _Noreturn */
#else
_Noreturn void ringo_exit(void);
#endif

/* Park until the deadline (absolute, ringo_now() clock). Returns 0 when
 * the deadline passed, -ECANCELED if cancelled first. RINGO_FOREVER
 * sleeps until cancelled. */
int ringo_sleep_until(int64_t deadline);

/* Park for ns nanoseconds (relative). Same returns as ringo_sleep_until. */
int ringo_sleep(int64_t ns);

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC; the clock of every
 * deadline). Never fails, never blocks. */
int64_t ringo_now(void);

/* Convenience: ringo_now() + ns, saturating; ns < 0 gives RINGO_FOREVER. */
int64_t ringo_deadline_in(int64_t ns);

#ifdef __cplusplus
}
#endif
#endif
