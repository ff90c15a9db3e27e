/* src/base/fault.h - fault injection for tests, compiled in only with
 * -DRINGO_FAULT (`make FAULT=1`, build-fault/). A release build has none
 * of it: RINGO_FAULT_IO below is a plain call of the backend.
 *
 * Faults come from a plan held per thread (a worker's own thread-local
 * state, set by the test on that worker, or parsed from the environment
 * variable RINGO_FAULT on a worker's first I/O op):
 *   SHORT  a read or write op is cut to at most `cut` bytes before it is
 *          submitted: the kernel really moves fewer bytes, nothing is lost.
 *          Only stream sockets are cut (a datagram would be truncated, a
 *          signalfd or eventfd read refused), and never a MSG_WAITALL recv. While a SHORT rule
 * covers reads, every read is a plain single-shot op (never the io_uring multishot queue): a borrow
 * cut to k bytes must read the socket itself, and mixing both paths on one fd would reorder bytes.
 *          Arm such a plan before the connections it affects exist.
 *   RESET  a read or write op on a stream socket fails with -ECONNRESET
 *          without being done.
 *   NOMEM  malloc/calloc/realloc on the thread fails (returns NULL).
 * A rule fires on its nth matching event after ringo__fault_set (once),
 * or on every matching event (nth 0, every 0 or 1), or at random with
 * probability 1/every (seeded: the same plan replays the same faults).
 *
 * Ops and allocations made by exempt coroutines (the one that set the
 * plan, and any that called ringo__fault_exempt: a test's clients running
 * on the same worker) are never faulted nor counted.
 *
 * RINGO_FAULT=spec for any program of a fault build, comma-separated:
 *   short=N       cut every read and write to a random 1..N bytes
 *   shortread=N, shortwrite=N   the same for one direction
 *   reset=N       each socket read/write fails with probability 1/N
 *   nomem=N       each allocation on a worker fails with probability 1/N
 *   seed=S        the random seed (default 1); each worker adds its id
 */
#ifndef RINGO_BASE_FAULT_H
#define RINGO_BASE_FAULT_H

#include <stddef.h>
#include <stdint.h>

struct ringo_worker;
struct ringo_op;

#ifdef RINGO_FAULT

enum ringo_fault_kind {
    RINGO_FAULT_SHORT = 1,
    RINGO_FAULT_RESET,
    RINGO_FAULT_NOMEM,
};

#define RINGO_FAULT_READ  0x1 /* READ, RECV, READV, BORROW */
#define RINGO_FAULT_WRITE 0x2 /* WRITE, SEND, WRITEV, SENDFILE */

#define RINGO_FAULT_RULES 4

struct ringo_fault_rule {
    int kind;            /* enum ringo_fault_kind; 0 = unused */
    unsigned ops;        /* SHORT, RESET: RINGO_FAULT_READ | RINGO_FAULT_WRITE */
    size_t cut;          /* SHORT: at most this many bytes (>= 1; RINGO_FAULT's
                            short=N: a random 1..N each time) */
    unsigned long nth;   /* > 0: fire on the nth matching event only */
    unsigned long every; /* nth 0: fire with probability 1/every (0, 1: always) */
};

struct ringo_fault_plan {
    struct ringo_fault_rule rule[RINGO_FAULT_RULES];
    uint64_t seed;
};

/* Arm plan on the calling thread (copied; NULL disarms), resetting the
 * counters. The calling coroutine becomes exempt. */
void ringo__fault_set(const struct ringo_fault_plan *plan);

/* Exempt the calling coroutine from the thread's plan (at most 64). */
void ringo__fault_exempt(void);

/* Events rule i matched and faults it injected since ringo__fault_set. */
unsigned long ringo__fault_events(int rule);
unsigned long ringo__fault_hits(int rule);

/* Apply the thread's plan to op, then run io(w, op). */
int ringo__fault_io(struct ringo_worker *w, struct ringo_op *op,
                    int (*io)(struct ringo_worker *, struct ringo_op *));

#define RINGO_FAULT_IO(w, op, io) ringo__fault_io((w), (op), (io))

#else

#define RINGO_FAULT_IO(w, op, io) (io)((w), (op))

#endif
#endif
