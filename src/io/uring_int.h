/* io_uring backend internals shared by uring.c (ring, ops, accept) and
 * uring_recv.c (provided-buffer ring, multishot recv). */
#ifndef RINGO_IO_URING_INT_H
#define RINGO_IO_URING_INT_H

#include <liburing.h>

#include "io/backend.h"
#include "io/bufpool.h"

/* user_data tags: ops are 8-byte aligned, so bit 0 marks the CQE of the
 * op's linked timeout; 0 marks CQEs nobody waits for (cancel requests). */
#define TAG_TIMEOUT ((uintptr_t)1)
/* Bit 1 (never set in an op pointer) marks ringo's own CQEs: kind in bits
 * 2-7, a payload above. */
#define TAG_SPECIAL            ((uintptr_t)2)
#define SPECIAL(kind, payload) (((uint64_t)(payload) << 8) | ((kind) << 2) | TAG_SPECIAL)
#define SPECIAL_KIND(ud)       (((ud) >> 2) & 0x3f)
#define SPECIAL_PAYLOAD(ud)    ((uint64_t)(ud) >> 8)
enum special_kind {
    SP_PROBE = 0,    /* start-up probe */
    SP_WOKEN = 1,    /* a MSG_RING wake-up posted into our CQ */
    SP_MSG_SENT = 2, /* our MSG_RING to worker <payload> completed */
    SP_ACCEPT = 3,   /* multishot accept; payload: listener gen << 32 | fd */
    SP_RECV = 4,     /* multishot recv; payload: connection gen << 32 | fd */
};

/* The provided-buffer ring's group id (one ring per worker). */
#define RECV_BGID 0

/* A received buffer not yet read: bytes [off, len) of buffer bid. */
struct rq_ent {
    uint32_t bid;
    uint32_t len;
    uint32_t off;
};

/* A stream socket read through a multishot recv: the kernel receives into
 * buffers of the worker's ring as data arrives and posts a CQE per
 * buffer; they queue here, in stream order, until read. */
struct mrecv {
    uint32_t gen;              /* tells a late CQE of a closed fd apart */
    uint8_t armed;             /* the multishot SQE is live in the kernel */
    uint8_t stopping;          /* a cancel of it is on its way (queue full) */
    uint8_t backlog;           /* stopped for a full queue: read single-shot
                                  until a read comes back short */
    uint8_t eof;               /* the stream ended (after the queue) */
    int err;                   /* an error to hand over after the queue */
    struct ringo_op *waiter;   /* the reader parked on it, if any */
    struct ringo_coro *wcoro;  /* waiter->coro, kept here: waking it then
                                  touches neither the op nor its stack */
    struct rq_ent *q;          /* FIFO ring of received buffers */
    uint32_t head, count, cap; /* cap: a power of two */
    struct mrecv *next_free;   /* in struct uring's free list */
};

/* A listener with a multishot accept armed on this worker's ring: the
 * kernel keeps accepting and posts one CQE per connection; connections
 * nobody waits for yet queue here until ringo_accept takes them. */
struct mlisten {
    uint32_t gen;            /* tells a late CQE of a closed listener apart */
    int armed;               /* the multishot SQE is live in the kernel */
    int err;                 /* an error to hand to the next ringo_accept */
    struct ringo_op *waiter; /* the ringo_accept parked on it, if any */
    int *queue;              /* accepted fds, FIFO */
    size_t head, count, cap;
};

/* The queue is not capped by cancelling the multishot: an ASYNC_CANCEL of
 * a live multishot accept was seen (Linux 6.18) to stop its CQEs without
 * posting the final one until ring teardown, stalling the listener. The
 * queue holds 4 bytes per connection; the accept loop drains it. */

struct uring {
    struct io_uring ring;
    unsigned setup_flags;
    unsigned entries;           /* SQ size: asked for, or less when memory was short */
    int br_err;                 /* why the buffer ring was refused (no multishot recv) */
    int cancel_fd_ok;           /* IORING_ASYNC_CANCEL_FD|ALL (Linux 5.19) */
    int msg_ring_ok;            /* IORING_OP_MSG_RING (Linux 5.18) in use */
    int accept_ms_ok;           /* IORING_ACCEPT_MULTISHOT (Linux 5.19) in use */
    int sqpoll;                 /* IORING_SETUP_SQPOLL: the kernel thread submits */
    int no_iowait;              /* IORING_ENTER_NO_IOWAIT (Linux 6.15) in use */
    struct mlisten **listeners; /* by fd; NULL when none */
    size_t nlisteners;
    uint32_t next_gen;
    int wake_fd; /* eventfd other threads write to wake us */
    uint64_t wake_buf;
    struct ringo_op wake_op; /* the pending read on wake_fd */
    char features[240];
    /* receive buffers: the provided-buffer ring (recv_ms_ok) or a pool */
    struct bufpool pool;
    struct io_uring_buf_ring *br;
    unsigned br_out;      /* buffers the kernel filled and we hold */
    int recv_ms_ok;       /* multishot recv into br in use */
    struct mrecv **conns; /* by fd; NULL when none */
    struct mrecv *free_conns;
    size_t nconns;
    uint32_t next_recv_gen;
    size_t zc_threshold;  /* SEND_ZC from this many bytes; 0: never */
    unsigned zc_flags;    /* IORING_SEND_ZC_REPORT_USAGE where known */
    int zc_fixed;         /* the buffer pool is registered buffer 0 */
    unsigned min_wait_us; /* batching bound (RINGO_MIN_WAIT_US); 0: off */
    unsigned last_reaped; /* CQEs the last reap handled */
    unsigned nfixed;      /* registered file table slots; 0: not in use */
    int *ident;           /* ident[i] == i: the values FILES_UPDATE reads */
    int prefetch;         /* prefetch ahead in reap (RINGO_PREFETCH=0: off) */
    /* Per-fd hints: FD_STREAM marks TCP sockets ringo made (accept,
     * connect), whose reads go out as IORING_OP_RECV, a shorter path
     * through the kernel than IORING_OP_READ. The bits above FD_FLAGS
     * count the closes of the number (FD_CLOSE_ONE each), so a
     * coroutine that waited across a close can tell the number now
     * names another socket. */
    uint32_t *fdflags;
    size_t nfd;
    /* Ops in flight per fd (SQE armed, final CQE not yet reaped), so a
     * close that has nothing to cancel but the fd's multishot recv can
     * cancel that one by its user_data: a cancel by fd makes the kernel
     * walk every request in flight, O(connections) per close. */
    uint32_t *fdops;
    size_t nfdops;
    uint64_t close_recv_ud; /* set by the close path for submit_and_park */
    int close_quiet;        /* ... and whether nothing else is in flight */
};

#define FD_STREAM    0x1
#define FD_FIXED     0x2 /* also in the registered file table, slot = fd */
#define FD_READING   0x4 /* a single-shot read is in flight */
#define FD_NONBLOCK  0x8 /* ringo_sendfile made it O_NONBLOCK */
#define FD_FLAGS     0xffu
#define FD_CLOSE_ONE 0x100u

/* uring_recv.c: the user_data of fd's live multishot recv, or 0. */
uint64_t ringo__urecv_armed_ud(struct uring *u, int fd);

/* uring.c */
struct io_uring_sqe *ringo__uring_sqe(struct ringo_worker *w, struct uring *u, unsigned need);
int ringo__uring_single(struct ringo_worker *w, struct ringo_op *op);
int ringo__uring_env_disabled(const char *name);
void ringo__uring_fix(struct ringo_worker *w, struct uring *u, int fd);
void ringo__uring_flush(struct ringo_worker *w, struct uring *u);
/* Park the caller, registered as a multishot's waiter, until that
 * multishot's CQE wakes it, its deadline passes or it is cancelled
 * (nothing of the caller's is in the kernel, so those resume it at once).
 * Counts the op and why it ended early. Returns ringo__park's result. */
int ringo__uring_park_waiter(struct ringo_worker *w, struct ringo_op *op,
                             void (*interrupt)(struct ringo_coro *, int));
/* The interrupt side of that: a deadline or cancel reached waiter c; take
 * it out of its multishot's waiter *slot (NULL: the record is gone) and
 * resume it with reason. */
void ringo__uring_unwait(struct ringo_coro *c, int reason, struct ringo_op **slot);
/* Resume the op parked in *slot (if any) with reason and empty the slot:
 * a multishot's record is going away. */
void ringo__uring_wake_waiter(struct ringo_op **slot, int reason);

/* uring_recv.c */
/* Set up the receive buffers (and the buffer ring when multishot recv is
 * wanted and works). Returns 0 or -errno. */
int ringo__urecv_init(struct uring *u, const struct ringo_config *cfg);
void ringo__urecv_fini(struct uring *u);
/* The kernel cannot do multishot recv after all: buffers go to the pool. */
void ringo__urecv_unused(struct uring *u);
/* A CQE of a multishot recv. */
void ringo__urecv_cqe(struct ringo_worker *w, struct uring *u, uint64_t payload, int res,
                      unsigned flags);
/* READ/RECV/READV/BORROW on a stream socket: served from its multishot
 * queue. Returns 1 with *res set, or 0 for the single-shot path. */
int ringo__urecv_io(struct ringo_worker *w, struct uring *u, struct ringo_op *op, int *res);
/* ringo_close of fd: queued buffers back to the ring, the waiter gets
 * -ECANCELED. */
void ringo__urecv_forget(struct uring *u, int fd);
void ringo__urecv_release(struct ringo_worker *w, struct ringo_buf *buf);

#endif
