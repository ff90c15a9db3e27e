/* ringo/stats.h - runtime counters readable while the runtime runs.
 *
 * Each worker counts into its own structure (no shared cache lines, no
 * atomics with a lock prefix on the hot path); ringo_stats() sums them into a ringo_counters.
 * Values read while workers run are a consistent-enough snapshot: each
 * counter is exact, the set is not taken at one instant.
 */
#ifndef RINGO_STATS_H
#define RINGO_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(field, description): one table gives the struct and the printer. */
#define RINGO_STATS_MAP(X)                                                                         \
    X(syscalls, "syscalls made by the backends (all kinds below)")                                 \
    X(uring_enter, "io_uring_enter calls")                                                         \
    X(epoll_wait, "epoll_wait calls")                                                              \
    X(epoll_ctl, "epoll_ctl calls")                                                                \
    X(io_syscalls, "direct I/O syscalls (read/write/accept/... on epoll)")                         \
    X(wake_syscalls, "cross-worker wake-up syscalls (eventfd writes)")                             \
    X(msg_ring_wakes, "cross-worker wake-ups sent as io_uring MSG_RING SQEs")                      \
    X(accept_arms, "io_uring: multishot accepts armed (first arm and re-arms)")                    \
    X(recv_arms, "io_uring: multishot recvs armed (first arm and re-arms)")                        \
    X(recv_enobufs, "io_uring: multishot recvs stopped because the buffer ring ran dry")           \
    X(recv_fallbacks, "io_uring: reads done single-shot because the buffer ring was dry")          \
    X(recv_queue_stops, "io_uring: multishot recvs stopped because a socket held its share")       \
    X(bufs_spare, "borrowed buffers malloc'd because the pool was empty")                          \
    X(zc_sends, "io_uring: zero-copy sends (SEND_ZC)")                                             \
    X(zc_notifs, "io_uring: zero-copy send notifications (buffer released by the kernel)")         \
    X(zc_copied, "io_uring: zero-copy sends the kernel copied after all (loopback...)")            \
    X(sqes, "SQEs submitted")                                                                      \
    X(cqes, "CQEs reaped")                                                                         \
    X(rounds, "scheduler rounds")                                                                  \
    X(switches, "context switches into coroutines")                                                \
    X(handoffs, "parks that switched straight to the coroutine they had woken")                    \
    X(parks, "coroutine parks (waits for I/O, timers, joins)")                                     \
    X(wakes, "coroutines made runnable by completions/events/timers")                              \
    X(remote_wakes, "wake-ups sent to another worker")                                             \
    X(idle_spins_vain, "idle spins on the inbox that found no work (then slept)")                  \
    X(ops, "I/O operations started")                                                               \
    X(eagain, "epoll: I/O attempts that hit EAGAIN and parked")                                    \
    X(timeouts, "operations or sleeps ended by their deadline")                                    \
    X(cancels, "operations ended by cancellation")                                                 \
    X(cq_overflows, "io_uring: CQ overflow seen and drained (nothing lost)")                       \
    X(sq_full_flushes, "io_uring: SQ full, flushed before the round ended")                        \
    X(sqpoll_wakeups, "io_uring SQPOLL: enters made to wake the sleeping SQ thread")               \
    X(spawned, "coroutines spawned")                                                               \
    X(exited, "coroutines exited")                                                                 \
    X(stacks_mapped, "coroutine stacks mapped (pool misses)")

typedef struct ringo_counters {
#define RINGO_STATS_FIELD(name, desc) uint64_t name;
    RINGO_STATS_MAP(RINGO_STATS_FIELD)
#undef RINGO_STATS_FIELD
    uint64_t coros_alive; /* spawned - exited */
    int workers;
} ringo_counters;

/* Sum every worker's counters into *out. Returns 0, or -ESRCH when no
 * runtime is running (*out zeroed). Thread-safe; never blocks. */
int ringo_stats(ringo_counters *out);

/* Write the counters as "name value" lines to fd (e.g. 2 for stderr);
 * async-signal-safe enough for a signal thread. Returns 0 or -errno. */
int ringo_stats_print(const ringo_counters *st, int fd);

#ifdef __cplusplus
}
#endif
#endif
