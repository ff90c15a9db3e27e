/* io_uring backend: one ring per worker. An operation becomes one SQE whose
 * user_data points at the op record on the parked coroutine's stack (plus
 * a linked timeout SQE for a deadline); the CQE writes the result there
 * and makes the coroutine runnable. SQEs queue up during a scheduler
 * round and go to the kernel in the one io_uring_enter of ring_poll. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fdvec.h"
#include "base/log.h"
#include "io/backend.h"
#include "sched/sched.h"

#include "io/uring_int.h"

/* Newer than liburing 2.3's headers (Linux 6.2): SEND_ZC says in its
 * notification whether the kernel copied the data after all. */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

/* A fresh TCP socket from accept or connect: forget what the number meant
 * before and send its reads as recv. */
static struct io_uring_sqe *get_sqe(struct ringo_worker *w, struct uring *u, unsigned need);

static void mark_stream(struct ringo_worker *w, struct uring *u, int fd)
{
    if (fdvec_reserve((void **)&u->fdflags, &u->nfd, sizeof(*u->fdflags), fd) < 0)
        return;
    u->fdflags[fd] = (u->fdflags[fd] & ~FD_FLAGS) | FD_STREAM;
}

/* Registered file (RINGO_FIXED_FILES=1): put stream socket fd in slot fd
 * of the ring's file table, so its ops can name the slot
 * (IOSQE_FIXED_FILE) and skip the fd lookup and reference count. Done at
 * the socket's first op, not at accept: a connection closed before it is
 * used (queued by a multishot accept) never needs the slot emptied. The
 * update runs inline at submit, before the SQEs after it. */
void ringo__uring_fix(struct ringo_worker *w, struct uring *u, int fd)
{
    struct io_uring_sqe *sqe = get_sqe(w, u, 1);
    io_uring_prep_files_update(sqe, &u->ident[fd], 1, fd);
    io_uring_sqe_set_data(sqe, NULL);
    STAT_INC(w, sqes);
    u->fdflags[fd] |= FD_FIXED;
}

static void reap(struct ringo_worker *w, struct uring *u);

static void count_enter(struct ringo_worker *w)
{
    STAT_INC(w, uring_enter);
    STAT_INC(w, syscalls);
}

/* Submit without waiting. With SQPOLL liburing enters the kernel only to
 * wake a sleeping SQ thread (IORING_SQ_NEED_WAKEUP); count exactly that. */
static int submit_counted(struct ringo_worker *w, struct uring *u)
{
    if (u->sqpoll) {
        if (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_NEED_WAKEUP) {
            count_enter(w);
            STAT_INC(w, sqpoll_wakeups);
        }
        return io_uring_submit(&u->ring);
    }
    int r = io_uring_submit(&u->ring);
    count_enter(w);
    return r;
}

/* An SQE with room for `need` in a row (an op and its linked timeout must
 * not be split by a flush). A full SQ is flushed with one enter; -EBUSY
 * (completions backed up) is cured by reaping first. */
static struct io_uring_sqe *get_sqe(struct ringo_worker *w, struct uring *u, unsigned need)
{
    while (io_uring_sq_space_left(&u->ring) < need) {
        int r = submit_counted(w, u);
        STAT_INC(w, sq_full_flushes);
        if (r == -EBUSY || r == -EAGAIN) {
            io_uring_get_events(&u->ring);
            count_enter(w);
        }
        reap(w, u);
    }
    return io_uring_get_sqe(&u->ring);
}

/* Submit what is queued, run the kernel's pending completion work and
 * reap, without waiting: for callers that must not park. */
void ringo__uring_flush(struct ringo_worker *w, struct uring *u)
{
    io_uring_submit_and_get_events(&u->ring);
    count_enter(w);
    reap(w, u);
}

void ringo__uring_wake_waiter(struct ringo_op **slot, int reason)
{
    struct ringo_op *op = *slot;
    if (op) {
        *slot = NULL;
        ringo__ready(op->coro, reason);
    }
}

void ringo__uring_unwait(struct ringo_coro *c, int reason, struct ringo_op **slot)
{
    if (slot && *slot == c->interrupt_arg)
        *slot = NULL;
    ringo__ready(c, reason);
}

int ringo__uring_park_waiter(struct ringo_worker *w, struct ringo_op *op,
                             void (*interrupt)(struct ringo_coro *, int))
{
    STAT_INC(w, ops);
    int r = ringo__park(op->deadline, interrupt, op);
    if (r == -ETIMEDOUT)
        STAT_INC(w, timeouts);
    else if (r < 0)
        STAT_INC(w, cancels);
    return r;
}

struct io_uring_sqe *ringo__uring_sqe(struct ringo_worker *w, struct uring *u, unsigned need)
{
    return get_sqe(w, u, need);
}

static void arm_wake(struct ringo_worker *w, struct uring *u)
{
    struct io_uring_sqe *sqe = get_sqe(w, u, 1);
    io_uring_prep_read(sqe, u->wake_fd, &u->wake_buf, sizeof(u->wake_buf), 0);
    io_uring_sqe_set_data(sqe, &u->wake_op);
    STAT_INC(w, sqes);
}

static void accept_cqe(struct ringo_worker *w, struct uring *u, uint64_t payload, int res,
                       unsigned flags);

static void complete(struct ringo_worker *w, struct uring *u, struct io_uring_cqe *cqe)
{
    uintptr_t ud = (uintptr_t)cqe->user_data;
    if (ud == 0)
        return;
    if (ud & TAG_SPECIAL) {
        /* SP_WOKEN needs nothing: its arrival ended the wait, and the loop
         * looks at the inbox next. A MSG_RING that failed (the target's CQ
         * was full: -EOVERFLOW) falls back to the eventfd. */
        if (SPECIAL_KIND(ud) == SP_RECV)
            ringo__urecv_cqe(w, u, SPECIAL_PAYLOAD(ud), cqe->res, cqe->flags);
        else if (SPECIAL_KIND(ud) == SP_ACCEPT)
            accept_cqe(w, u, SPECIAL_PAYLOAD(ud), cqe->res, cqe->flags);
        else if (SPECIAL_KIND(ud) == SP_MSG_SENT && cqe->res < 0)
            ringo__wake_direct(w, &w->rt->workers[SPECIAL_PAYLOAD(ud)]);
        return;
    }
    if (ud == (uintptr_t)&u->wake_op) {
        if (cqe->res != -ECANCELED)
            arm_wake(w, u);
        return;
    }
    struct ringo_op *op = (struct ringo_op *)(ud & ~TAG_TIMEOUT);
    if (ud & TAG_TIMEOUT) {
        if (cqe->res == -ETIME)
            op->timed_out = 1;
    } else if (cqe->flags & IORING_CQE_F_NOTIF) {
        /* SEND_ZC let go of the buffer; on loopback it copied after all */
        STAT_INC(w, zc_notifs);
        if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
            STAT_INC(w, zc_copied);
    } else {
        op->res = cqe->res;
        /* a SEND_ZC that failed early posts no notification */
        if (op->zc && !(cqe->flags & IORING_CQE_F_MORE))
            op->pending--;
    }
    /* The coroutine (and the op record on its stack) may continue only
     * once the kernel has posted every CQE it owes for this op. */
    if (--op->pending == 0) {
        if ((size_t)op->fd < u->nfdops)
            u->fdops[op->fd]--;
        ringo__ready(op->coro, 0);
    }
}

/* Touch ahead what handling a CQE will touch: per connection the kernel
 * completes in no particular order, so each CQE's op record (on its
 * coroutine's stack), receive record and coroutine are cache misses at
 * 1000 connections. In levels: the first pointer 4 CQEs ahead, what it
 * points to 2 ahead, the coroutine to wake 1 ahead. */
static void prefetch_cqe(struct uring *u, unsigned ahead)
{
    struct io_uring_cq *cq = &u->ring.cq;
    unsigned head = *cq->khead, tail = io_uring_smp_load_acquire(cq->ktail);
    if (tail - head <= ahead)
        return;
    uintptr_t ud = (uintptr_t)cq->cqes[(head + ahead) & *cq->kring_mask].user_data;
    if (ud == 0)
        return;
    if (ud & TAG_SPECIAL) {
        if (SPECIAL_KIND(ud) != SP_RECV)
            return;
        size_t fd = SPECIAL_PAYLOAD(ud) & 0xffffffffu;
        if (fd >= u->nconns)
            return;
        struct mrecv *m;
        if (ahead >= 3)
            __builtin_prefetch(&u->conns[fd]);
        else if (!(m = u->conns[fd]))
            return;
        else if (ahead == 2)
            __builtin_prefetch(m);
        else if (m->waiter)
            __builtin_prefetch(m->wcoro); /* the reader it will wake */
        return;
    }
    struct ringo_op *op = (struct ringo_op *)(ud & ~TAG_TIMEOUT);
    if (ahead >= 2)
        __builtin_prefetch(op);
    else
        __builtin_prefetch(op->coro);
}

static void reap(struct ringo_worker *w, struct uring *u)
{
    u->last_reaped = 0;
    if (u->prefetch) {
        for (unsigned i = 0; i < 4; i++)
            prefetch_cqe(u, i);
    }
    for (;;) {
        /* Consume each CQE before handling it: a handler may need an SQE,
         * and a full SQ makes get_sqe() submit and reap, re-entering here.
         * The nested reap must not see this CQE again. */
        for (;;) {
            unsigned head;
            struct io_uring_cqe *cqe, copy;
            int got = 0;
            io_uring_for_each_cqe(&u->ring, head, cqe)
            {
                copy = *cqe;
                got = 1;
                break;
            }
            if (!got)
                break;
            if (u->prefetch) {
                prefetch_cqe(u, 4);
                prefetch_cqe(u, 2);
                prefetch_cqe(u, 1);
            }
            io_uring_cq_advance(&u->ring, 1);
            STAT_INC(w, cqes);
            u->last_reaped++;
            complete(w, u, &copy);
        }
        /* With FEAT_NODROP the kernel parks completions that found the CQ
         * full; they come back into the ring on the next enter. */
        if (!io_uring_cq_has_overflow(&u->ring))
            return;
        STAT_INC(w, cq_overflows);
        io_uring_get_events(&u->ring);
        count_enter(w);
    }
}

static void prep(struct uring *u, struct io_uring_sqe *sqe, struct ringo_op *op)
{
    unsigned len = op->len > 0x7fffffffu ? 0x7fffffffu : (unsigned)op->len;
    /* per-fd hints are for sockets; a file op's fd may be a dirfd or a
     * number a socket had before */
    uint8_t fl = (size_t)op->fd < u->nfd && !ringo__op_is_file(op->opcode) ? u->fdflags[op->fd] : 0;
    switch ((enum ringo_opcode)op->opcode) {
    case RINGO_OP_READ:
        /* IORING_RECVSEND_POLL_FIRST after a short read (skip the try
         * that finds nothing) was measured: no difference at 100 or 1000
         * connections (bench/RESULTS.md), so it is not used. */
        if (fl & FD_STREAM) {
            io_uring_prep_recv(sqe, op->fd, op->buf, len, 0);
        } else {
            io_uring_prep_read(sqe, op->fd, op->buf, len, (__u64)-1);
        }
        break;
    case RINGO_OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, len, (__u64)-1);
        break;
    case RINGO_OP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, len, op->flags);
        break;
    case RINGO_OP_SEND:
        if (op->zc) {
            io_uring_prep_send_zc(sqe, op->fd, op->buf, len, op->flags | MSG_NOSIGNAL, u->zc_flags);
            /* bytes inside the registered pool (a borrowed buffer echoed
             * back): no page pinning per send */
            char *p = op->buf, *base = u->pool.mem;
            if (u->zc_fixed && p >= base && p + len <= base + u->pool.size * u->pool.count) {
                sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
                sqe->buf_index = 0;
            }
        } else {
            io_uring_prep_send(sqe, op->fd, op->buf, len, op->flags | MSG_NOSIGNAL);
        }
        break;
    case RINGO_OP_READV:
        io_uring_prep_readv(sqe, op->fd, op->iov, (unsigned)op->iovcnt, (__u64)-1);
        break;
    case RINGO_OP_WRITEV:
        io_uring_prep_writev(sqe, op->fd, op->iov, (unsigned)op->iovcnt, (__u64)-1);
        break;
    case RINGO_OP_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->addr, op->addr ? &op->addrlen : NULL, SOCK_CLOEXEC);
        break;
    case RINGO_OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->addr, op->addrlen);
        break;
    case RINGO_OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case RINGO_OP_POLL:
        io_uring_prep_poll_add(sqe, op->fd, (unsigned)op->flags);
        break;
    case RINGO_OP_BORROW: /* served by uring_recv.c, never an SQE of its own */
        io_uring_prep_nop(sqe);
        break;
    case RINGO_OP_OPENAT:
        io_uring_prep_openat(sqe, op->fd, op->buf, op->flags, op->mode);
        break;
    case RINGO_OP_PREAD:
        /* offset -1: the file position, as read(2) (IORING_FEAT_RW_CUR_POS) */
        io_uring_prep_read(sqe, op->fd, op->buf, len, (__u64)op->offset);
        break;
    case RINGO_OP_PWRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, len, (__u64)op->offset);
        break;
    case RINGO_OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, op->flags ? IORING_FSYNC_DATASYNC : 0);
        break;
    case RINGO_OP_STATX:
        io_uring_prep_statx(sqe, op->fd, op->buf, op->flags, (unsigned)op->len, op->statx);
        break;
    case RINGO_OP_UNLINKAT:
        io_uring_prep_unlinkat(sqe, op->fd, op->buf, op->flags);
        break;
    case RINGO_OP_RENAMEAT:
        io_uring_prep_renameat(sqe, op->fd, op->buf, op->fd, op->path2, 0);
        break;
    case RINGO_OP_OPENAT2:
        io_uring_prep_openat2(sqe, op->fd, op->buf, op->how);
        break;
    case RINGO_OP_SENDFILE: /* a syscall of ours (ring_sendfile), never an SQE */
        io_uring_prep_nop(sqe);
        break;
    }
    if ((fl & FD_FIXED) && op->opcode != RINGO_OP_CLOSE && op->opcode != RINGO_OP_BORROW)
        sqe->flags |= IOSQE_FIXED_FILE;
}

/* A cancel or (on epoll only) a deadline reached a parked coroutine: ask
 * the kernel to give the op back. The coroutine stays parked until the
 * op's final CQE, so its buffers are never touched after it returns. */
static void ring_interrupt(struct ringo_coro *c, int reason)
{
    struct ringo_worker *w = c->w;
    struct uring *u = w->be_state;
    struct ringo_op *op = c->interrupt_arg;
    if (reason == -ETIMEDOUT)
        op->timed_out = 2; /* 2: the worker's timer heap counted it already */
    if (op->cancel_sent)
        return;
    op->cancel_sent = 1;
    struct io_uring_sqe *sqe = get_sqe(w, u, 1);
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data(sqe, NULL);
    STAT_INC(w, sqes);
}

static void arm_op(struct ringo_worker *w, struct uring *u, struct ringo_op *op,
                   struct io_uring_sqe *sqe, int timed);

static int submit_and_park(struct ringo_worker *w, struct uring *u, struct ringo_op *op)
{
    struct ringo_coro *c = w->current;
    int timed = op->deadline != RINGO_FOREVER && op->opcode != RINGO_OP_CLOSE;
    /* A socket op's deadline is a timer in the worker's heap (a cancel is
     * sent when it fires), not a linked timeout: the link costs an SQE, a
     * CQE and a kernel hrtimer armed and disarmed per op, and socket ops
     * almost always finish long before their deadline (an HTTP server
     * puts a write timeout on every response). File ops keep the link:
     * they may sit in io-wq, where the kernel's timer is the one that
     * interrupts them. */
    int linked = timed && ringo__op_is_file(op->opcode);
    int cancel_first = op->opcode == RINGO_OP_CLOSE && u->cancel_fd_ok;
    uint64_t recv_ud = 0;
    if (cancel_first && u->close_quiet) {
        /* nothing in flight on fd but (maybe) its multishot recv */
        cancel_first = 0;
        recv_ud = u->close_recv_ud;
    }
    u->close_quiet = 0;
    u->close_recv_ud = 0;
    if (op->opcode == RINGO_OP_CLOSE && (size_t)op->fd < u->nfd &&
        (u->fdflags[op->fd] & FD_FIXED)) {
        /* ops that name the table slot hold the socket through it: cancel
         * those and empty the slot (both run inline at submit, in order,
         * before the plain close below; a pair, so a 2-entry SQ works) */
        static int no_file = -1;
        struct io_uring_sqe *x = get_sqe(w, u, 2);
        io_uring_prep_cancel_fd(x, op->fd, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
        io_uring_sqe_set_data(x, NULL);
        x->flags |= IOSQE_IO_HARDLINK;
        x = io_uring_get_sqe(&u->ring);
        io_uring_prep_files_update(x, &no_file, 1, op->fd);
        io_uring_sqe_set_data(x, NULL);
        STAT_ADD(w, sqes, 2);
        u->fdflags[op->fd] &= ~FD_FIXED;
    } else if ((unsigned)op->fd < u->nfixed && (size_t)op->fd < u->nfd &&
               op->opcode != RINGO_OP_CLOSE && !ringo__op_is_file(op->opcode) &&
               (u->fdflags[op->fd] & (FD_STREAM | FD_FIXED)) == FD_STREAM) {
        ringo__uring_fix(w, u, op->fd);
    }
    struct io_uring_sqe *sqe =
        get_sqe(w, u, 1u + (unsigned)linked + (unsigned)(cancel_first || recv_ud));
    if (recv_ud) {
        /* found by user_data in the kernel's hash: no walk over all
         * requests; HARDLINK: the close runs even if it already ended */
        io_uring_prep_cancel64(sqe, recv_ud, 0);
        io_uring_sqe_set_data(sqe, NULL);
        sqe->flags |= IOSQE_IO_HARDLINK;
        STAT_INC(w, sqes);
        sqe = io_uring_get_sqe(&u->ring);
    } else if (cancel_first) {
        /* Closing does not cancel ring ops (the ring holds a file
         * reference): cancel this ring's ops on fd first. HARDLINK: the
         * close must run even when there was nothing to cancel. */
        io_uring_prep_cancel_fd(sqe, op->fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data(sqe, NULL);
        sqe->flags |= IOSQE_IO_HARDLINK;
        STAT_INC(w, sqes);
        sqe = io_uring_get_sqe(&u->ring);
    }
    arm_op(w, u, op, sqe, linked);
    if (op->opcode == RINGO_OP_CLOSE) {
        /* From the moment the kernel runs the close, the number is free
         * for the next socket() or accept, which may mark it as theirs
         * before this coroutine runs again: forget what it meant now
         * (clearing it after the close took FD_STREAM from a new socket
         * whose multishot was armed, and its next read skipped the
         * queued bytes) */
        if ((size_t)op->fd < u->nfd)
            u->fdflags[op->fd] = (u->fdflags[op->fd] & ~FD_FLAGS) + FD_CLOSE_ONE;
        /* a close cannot be taken back: wait it out */
        c->uninterruptible = true;
        ringo__park(RINGO_FOREVER, NULL, NULL);
        c->uninterruptible = false;
    } else {
        ringo__park(timed && !linked ? op->deadline : RINGO_FOREVER, ring_interrupt, op);
    }
    return op->res;
}

/* Fill sqe for op, owned by the running coroutine, and with timed the
 * linked timeout of its deadline in the SQE after it (the caller got
 * room for both). */
static void arm_op(struct ringo_worker *w, struct uring *u, struct ringo_op *op,
                   struct io_uring_sqe *sqe, int timed)
{
    op->coro = w->current;
    op->res = 0;
    op->timed_out = 0;
    op->cancel_sent = 0;
    /* SEND_ZC: the kernel holds the buffer until the notification CQE,
     * so the coroutine waits for that one too */
    op->zc = op->opcode == RINGO_OP_SEND && u->zc_threshold && op->len >= u->zc_threshold;
    op->pending = 1 + op->zc;
    if (op->zc)
        STAT_INC(w, zc_sends);
    prep(u, sqe, op);
    io_uring_sqe_set_data(sqe, op);
    if (op->fd >= 0 &&
        ((size_t)op->fd < u->nfdops ||
         fdvec_reserve((void **)&u->fdops, &u->nfdops, sizeof(*u->fdops), op->fd) == 0))
        u->fdops[op->fd]++;
    STAT_INC(w, sqes);
    STAT_INC(w, ops);
    if (timed) {
        int64_t d = op->deadline < 0 ? 0 : op->deadline;
        op->ts.tv_sec = d / 1000000000;
        op->ts.tv_nsec = d % 1000000000;
        sqe->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *t = io_uring_get_sqe(&u->ring);
        io_uring_prep_link_timeout(t, &op->ts, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data(t, (void *)((uintptr_t)op | TAG_TIMEOUT));
        op->pending++;
        STAT_INC(w, sqes);
    }
}

/* Keep the per-fd hints current after a successful op. */
static void note_result(struct ringo_worker *w, struct uring *u, struct ringo_op *op, int res)
{
    switch ((enum ringo_opcode)op->opcode) {
    case RINGO_OP_ACCEPT:
    case RINGO_OP_CONNECT:
        mark_stream(w, u, op->opcode == RINGO_OP_ACCEPT ? res : op->fd);
        break;
    default:
        break;
    }
}

/* ---- multishot accept ---- */

static struct mlisten *listener_get(struct uring *u, int fd, int create)
{
    if (fd < 0 || (!create && (size_t)fd >= u->nlisteners))
        return NULL;
    if (fdvec_reserve((void **)&u->listeners, &u->nlisteners, sizeof(*u->listeners), fd) < 0)
        return NULL;
    if (!u->listeners[fd] && create) {
        struct mlisten *m = calloc(1, sizeof(*m));
        if (!m)
            return NULL;
        m->gen = ++u->next_gen;
        u->listeners[fd] = m;
    }
    return u->listeners[fd];
}

static int queue_push(struct mlisten *m, int fd)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        int *q = malloc(cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < m->count; i++)
            q[i] = m->queue[(m->head + i) % m->cap];
        free(m->queue);
        m->queue = q;
        m->head = 0;
        m->cap = cap;
    }
    m->queue[(m->head + m->count++) % m->cap] = fd;
    return 0;
}

static int queue_pop(struct mlisten *m)
{
    int fd = m->queue[m->head];
    m->head = (m->head + 1) % m->cap;
    m->count--;
    return fd;
}

static void accept_cqe(struct ringo_worker *w, struct uring *u, uint64_t payload, int res,
                       unsigned flags)
{
    int fd = (int)(payload & 0xffffffffu);
    uint32_t gen = (uint32_t)(payload >> 32);
    struct mlisten *m = listener_get(u, fd, 0);
    if (!m || m->gen != gen) {
        /* the listener was closed: nobody will take this connection */
        if (res >= 0)
            close(res);
        return;
    }
    if (!(flags & IORING_CQE_F_MORE))
        m->armed = 0;
    if (res >= 0)
        mark_stream(w, u, res);
    if (m->waiter) {
        struct ringo_op *op = m->waiter;
        m->waiter = NULL;
        op->res = res;
        op->pending = 0;
        ringo__ready(op->coro, 0);
        return;
    }
    if (res < 0) {
        m->err = res;
        return;
    }
    if (queue_push(m, res) < 0) {
        close(res); /* out of memory: the peer sees a reset, we go on */
        return;
    }
}

static void accept_interrupt(struct ringo_coro *c, int reason)
{
    struct ringo_op *op = c->interrupt_arg;
    struct mlisten *m = listener_get(c->w->be_state, op->fd, 0);
    ringo__uring_unwait(c, reason, m ? &m->waiter : NULL);
}

/* ringo_accept through the listener's multishot accept. Nothing of the
 * caller's is in the kernel's hands (no address is asked for), so a
 * deadline or cancel resumes the caller at once. Returns 1 with *res set,
 * or 0 to take the single-shot path (another coroutine already waits). */
static int accept_multishot(struct ringo_worker *w, struct uring *u, struct ringo_op *op, int *res)
{
    struct mlisten *m = listener_get(u, op->fd, 1);
    if (!m)
        return 0;
    for (;;) {
        if (m->count) {
            *res = queue_pop(m);
            return 1;
        }
        if (m->err) {
            *res = m->err;
            m->err = 0;
            return 1;
        }
        if (m->waiter)
            return 0;
        if (!m->armed) {
            struct io_uring_sqe *sqe = get_sqe(w, u, 1);
            io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, SOCK_CLOEXEC);
            io_uring_sqe_set_data64(sqe,
                                    SPECIAL(SP_ACCEPT, (uint64_t)m->gen << 32 | (uint32_t)op->fd));
            STAT_INC(w, sqes);
            STAT_INC(w, accept_arms);
            m->armed = 1;
        }
        m->waiter = op;
        op->coro = w->current;
        op->res = 0;
        op->pending = 1; /* accept_cqe clears it with the result */
        uint32_t gen = m->gen;
        int r = ringo__uring_park_waiter(w, op, accept_interrupt);
        if (r < 0) {
            *res = r;
            return 1;
        }
        /* not op->res != 0: descriptor 0 is a connection too */
        if (op->pending == 0) {
            *res = op->res;
            return 1;
        }
        /* closed and reopened under the same number meanwhile */
        if (listener_get(u, op->fd, 0) != m || m->gen != gen) {
            *res = -ECANCELED;
            return 1;
        }
    }
}

/* ringo_close of a listener: its waiter gets -ECANCELED, queued
 * connections are closed, the record goes (a late CQE sees the gen). */
static void listener_forget(struct uring *u, int fd)
{
    struct mlisten *m = listener_get(u, fd, 0);
    if (!m)
        return;
    ringo__uring_wake_waiter(&m->waiter, -ECANCELED);
    while (m->count)
        close(queue_pop(m));
    free(m->queue);
    free(m);
    u->listeners[fd] = NULL;
}

/* ---- files: a large read or write as chunks kept in flight ---- */

/* One chunk's op record, on the caller's stack with the others. */
struct fslot {
    struct ringo_op op;
    size_t idx; /* chunk number */
    uint8_t busy;
};

struct fgroup {
    struct fslot slot[RINGO_FILE_DEPTH_URING];
    int stopped;   /* no new chunks go out */
    int cancelled; /* the chunks in flight were asked back */
    int reason;    /* why, when it was a cancel or the deadline */
};

/* Stop the group: ask the kernel to give back every chunk in flight. The
 * coroutine keeps waiting for their CQEs, as for a single op. */
static void group_cancel(struct ringo_worker *w, struct uring *u, struct fgroup *g, int reason)
{
    g->stopped = 1;
    g->cancelled = 1;
    if (!g->reason)
        g->reason = reason;
    for (int i = 0; i < RINGO_FILE_DEPTH_URING; i++) {
        struct ringo_op *op = &g->slot[i].op;
        if (!g->slot[i].busy || op->pending == 0 || op->cancel_sent)
            continue;
        op->cancel_sent = 1;
        struct io_uring_sqe *sqe = get_sqe(w, u, 1);
        io_uring_prep_cancel(sqe, op, 0);
        io_uring_sqe_set_data(sqe, NULL);
        STAT_INC(w, sqes);
    }
}

/* Deadlines ride on each chunk's linked timeout, so this is a cancel. */
static void group_interrupt(struct ringo_coro *c, int reason)
{
    group_cancel(c->w, c->w->be_state, c->interrupt_arg, reason);
}

/* O_APPEND makes the kernel ignore the offset of each chunk, so chunks in
 * flight together could land out of order. */
static int appending(struct ringo_worker *w, int fd)
{
    STAT_INC(w, syscalls);
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_APPEND);
}

/* PREAD/PWRITE of more than RINGO_FILE_SPLIT bytes: chunks of
 * RINGO_FILE_CHUNK, a window of RINGO_FILE_DEPTH_URING in flight (one at
 * a time at the file position or on an O_APPEND fd), refilled as they
 * complete. Returns the bytes up to the first short or failed chunk, or
 * that chunk's error when it is the first. Never returns while a chunk
 * is in the kernel's hands. */
static int file_chunked(struct ringo_worker *w, struct uring *u, struct ringo_op *op)
{
    struct ringo_coro *c = w->current;
    if (c->cancelled)
        return -ECANCELED;
    const size_t n = (op->len + RINGO_FILE_CHUNK - 1) / RINGO_FILE_CHUNK;
    int depth = RINGO_FILE_DEPTH_URING;
    if (op->offset < 0 || (op->opcode == RINGO_OP_PWRITE && appending(w, op->fd)))
        depth = 1;
    const int timed = op->deadline != RINGO_FOREVER;
    struct fgroup g;
    memset(&g, 0, sizeof(g));
    size_t next = 0, bad = n; /* next chunk to issue; first short/failed chunk */
    int bad_res = 0, inflight = 0;
    for (;;) {
        while (!g.stopped && next < bad && next < n && inflight < depth) {
            if (c->cancelled) {
                group_cancel(w, u, &g, -ECANCELED);
                break;
            }
            if (timed && op->deadline <= ringo_now()) {
                g.stopped = 1;
                g.reason = -ETIMEDOUT;
                break;
            }
            struct fslot *s = &g.slot[0];
            while (s->busy)
                s++;
            s->op = *op;
            size_t off = next * RINGO_FILE_CHUNK;
            s->op.buf = (char *)op->buf + off;
            s->op.len = op->len - off < RINGO_FILE_CHUNK ? op->len - off : RINGO_FILE_CHUNK;
            s->op.offset = op->offset < 0 ? -1 : op->offset + (int64_t)off;
            s->idx = next++;
            s->busy = 1;
            inflight++;
            /* get_sqe may reap: a chunk can complete right here, and is
             * harvested below before the coroutine parks */
            arm_op(w, u, &s->op, get_sqe(w, u, 1u + (unsigned)timed), timed);
        }
        int progress = 0;
        for (int i = 0; i < RINGO_FILE_DEPTH_URING; i++) {
            struct fslot *s = &g.slot[i];
            if (!s->busy || s->op.pending)
                continue;
            s->busy = 0;
            inflight--;
            progress = 1;
            int res = s->op.res;
            if (res == -ECANCELED || res == -EINTR)
                res = s->op.timed_out ? -ETIMEDOUT : -ECANCELED;
            if (res != (int)s->op.len && s->idx < bad) {
                bad = s->idx;
                bad_res = res;
            }
        }
        if (progress)
            continue;
        if (inflight == 0)
            break;
        /* a cancel that came while we were runnable did not interrupt us;
         * sending it may reap, so harvest again before parking */
        if (c->cancelled && !g.cancelled) {
            group_cancel(w, u, &g, -ECANCELED);
            continue;
        }
        ringo__park(RINGO_FOREVER, group_interrupt, &g);
    }
    if (next < bad && next < n) { /* stopped early: the rest never went */
        bad = next;
        bad_res = g.reason;
    }
    if (bad == n)
        return (int)op->len;
    size_t done = bad * RINGO_FILE_CHUNK + (bad_res > 0 ? (size_t)bad_res : 0);
    if (done > 0)
        return (int)done;
    if (bad_res == -ETIMEDOUT)
        STAT_INC(w, timeouts);
    else if (bad_res == -ECANCELED)
        STAT_INC(w, cancels);
    return bad_res;
}

/* sendfile(2) from the worker: the ring has no sendfile opcode, and
 * IORING_OP_SPLICE through a pipe was measured slower for small files
 * (docs/files.md). Ring sockets are blocking (the ring waits for them in
 * the kernel), and a blocking sendfile would stall every coroutine of the
 * worker until the peer read, so the socket is made O_NONBLOCK once
 * (ringo's ring ops on it behave the same either way: send and recv go
 * with MSG_DONTWAIT and poll internally, a write that says EAGAIN is
 * retried after a poll) and EAGAIN waits for POLLOUT through the ring,
 * with the deadline. The flag is remembered per fd until ringo_close or
 * the number comes back from accept/connect. */
static int ring_sendfile(struct ringo_worker *w, struct uring *u, struct ringo_op *op)
{
    struct ringo_coro *c = w->current;
    int fd = op->fd;
    if (fd < 0)
        return -EBADF;
    if (fdvec_reserve((void **)&u->fdflags, &u->nfd, sizeof(*u->fdflags), fd) < 0)
        return -ENOMEM;
    if (!(u->fdflags[fd] & FD_NONBLOCK)) {
        STAT_ADD(w, syscalls, 2);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        u->fdflags[fd] |= FD_NONBLOCK;
    }
    STAT_INC(w, ops);
    for (;;) {
        if (c->cancelled) {
            STAT_INC(w, cancels);
            return -ECANCELED;
        }
        off_t off = (off_t)op->offset;
        STAT_INC(w, syscalls);
        ssize_t r = sendfile(fd, op->in_fd, &off, op->len);
        if (r >= 0)
            return (int)r;
        if (errno != EAGAIN)
            return -errno;
        if (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now()) {
            STAT_INC(w, timeouts);
            return -ETIMEDOUT;
        }
        struct ringo_op p;
        memset(&p, 0, sizeof(p));
        p.opcode = RINGO_OP_POLL;
        p.fd = fd;
        p.flags = POLLOUT;
        p.deadline = op->deadline;
        int pr = ringo__uring_single(w, &p);
        if (pr < 0)
            return pr;
    }
}

static int ring_io(struct ringo_worker *w, struct ringo_op *op)
{
    struct uring *u = w->be_state;
    struct ringo_coro *c = w->current;
    int res;
    switch ((enum ringo_opcode)op->opcode) {
    case RINGO_OP_ACCEPT:
        if (!op->addr && u->accept_ms_ok && !c->cancelled && accept_multishot(w, u, op, &res))
            return res;
        break;
    case RINGO_OP_READ:
    case RINGO_OP_RECV:
    case RINGO_OP_READV:
    case RINGO_OP_BORROW:
        if (ringo__urecv_io(w, u, op, &res))
            return res;
        break;
    case RINGO_OP_CLOSE:
        u->close_quiet =
            op->fd >= 0 && ((size_t)op->fd >= u->nfd || !(u->fdflags[op->fd] & FD_FIXED)) &&
            ((size_t)op->fd >= u->nfdops || u->fdops[op->fd] == 0) && !listener_get(u, op->fd, 0);
        u->close_recv_ud = u->close_quiet ? ringo__urecv_armed_ud(u, op->fd) : 0;
        listener_forget(u, op->fd);
        ringo__urecv_forget(u, op->fd);
        break;
    case RINGO_OP_PREAD:
    case RINGO_OP_PWRITE:
        if (op->len > RINGO_FILE_SPLIT)
            return file_chunked(w, u, op);
        break;
    case RINGO_OP_SENDFILE:
        return ring_sendfile(w, u, op);
    default:
        break;
    }
    return ringo__uring_single(w, op);
}

/* One plain op: an SQE (and a linked timeout), park until its CQEs. */
int ringo__uring_single(struct ringo_worker *w, struct ringo_op *op)
{
    struct uring *u = w->be_state;
    struct ringo_coro *c = w->current;
    for (;;) {
        if (c->cancelled && op->opcode != RINGO_OP_CLOSE)
            return -ECANCELED;
        /* one reader at a time per stream socket, as on epoll and on the
         * multishot path: a second would take bytes out of order */
        int rd = (op->opcode == RINGO_OP_READ || op->opcode == RINGO_OP_RECV ||
                  op->opcode == RINGO_OP_READV) &&
                 (size_t)op->fd < u->nfd && (u->fdflags[op->fd] & FD_STREAM);
        if (rd && (u->fdflags[op->fd] & FD_READING))
            return -EBUSY;
        uint32_t closes = rd ? u->fdflags[op->fd] & ~FD_FLAGS : 0;
        if (rd)
            u->fdflags[op->fd] |= FD_READING;
        int res = submit_and_park(w, u, op);
        /* unless the fd was closed meanwhile: the flag may be the reader's
         * of a new socket with the number by now */
        if (rd && (u->fdflags[op->fd] & ~FD_FLAGS) == closes)
            u->fdflags[op->fd] &= ~FD_READING;
        if (res == -ECANCELED || res == -EINTR) {
            if (op->timed_out) {
                if (op->timed_out == 1)
                    STAT_INC(w, timeouts);
                return -ETIMEDOUT;
            }
            STAT_INC(w, cancels);
            return -ECANCELED;
        }
        int dontwait = (op->opcode == RINGO_OP_RECV || op->opcode == RINGO_OP_SEND) &&
                       (op->flags & MSG_DONTWAIT);
        if (res == -EAGAIN && !dontwait && op->opcode != RINGO_OP_POLL &&
            op->opcode != RINGO_OP_CLOSE && !ringo__op_is_file(op->opcode)) {
            /* An O_NONBLOCK fd from outside ringo: io_uring honours the
             * flag and will not wait, so wait for readiness and retry. */
            int out = op->opcode == RINGO_OP_WRITE || op->opcode == RINGO_OP_SEND ||
                      op->opcode == RINGO_OP_WRITEV || op->opcode == RINGO_OP_CONNECT;
            struct ringo_op p;
            memset(&p, 0, sizeof(p));
            p.opcode = RINGO_OP_POLL;
            p.fd = op->fd;
            p.flags = out ? POLLOUT : POLLIN;
            p.deadline = op->deadline;
            int r = ringo__uring_single(w, &p);
            if (r < 0)
                return r;
            continue;
        }
        if (res >= 0)
            note_result(w, u, op, res);
        return res;
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Newer than liburing 2.3's headers (Linux 6.15): a wait that is not
 * accounted as iowait, so an idle server does not show 100 % iowait. */
#ifndef IORING_ENTER_NO_IOWAIT
#define IORING_ENTER_NO_IOWAIT (1U << 7)
#endif
#ifndef IORING_FEAT_NO_IOWAIT
#define IORING_FEAT_NO_IOWAIT (1U << 17)
#endif

#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/* Submit what is queued and wait in one io_uring_enter, with
 * IORING_ENTER_NO_IOWAIT. liburing 2.3 cannot pass that flag, so this
 * publishes the SQ tail the way its submit path does (the SQ array is
 * identity-mapped at setup; no SQPOLL here).
 *
 * Batching (RINGO_MIN_WAIT_US, Linux 6.12 min-timeout waits): under load
 * wait for as many CQEs as the last round brought, but never longer than
 * min_wait_us once one has arrived. At light load the last round brought
 * one, so nothing waits for a batch that is not coming. */
static int wait_no_iowait(struct uring *u, int64_t timeout_ns)
{
    struct io_uring_sq *sq = &u->ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    unsigned to_submit = tail - IO_URING_READ_ONCE(*sq->khead);
    struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                   .tv_nsec = timeout_ns % 1000000000};
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = timeout_ns > 0 ? (uint64_t)(uintptr_t)&ts : 0;
    unsigned wait_nr = 1;
    /* a timer due sooner than the bound would be overshot: no batching */
    if (u->min_wait_us && u->last_reaped > 1 &&
        (timeout_ns < 0 || timeout_ns > (int64_t)u->min_wait_us * 1000)) {
        wait_nr = u->last_reaped < 64 ? u->last_reaped : 64;
        arg.pad = u->min_wait_us; /* min_wait_usec in newer headers */
    }
    int r = io_uring_enter2((unsigned)u->ring.ring_fd, to_submit, wait_nr,
                            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | IORING_ENTER_NO_IOWAIT,
                            (sigset_t *)&arg, sizeof(arg));
    return r;
}

/* SQPOLL mode: how long a worker polls its CQ before sleeping. */
#define SQPOLL_SPIN_NS 50000

static void ring_poll(struct ringo_worker *w, int64_t timeout_ns)
{
    struct uring *u = w->be_state;
    int r;
    if (u->sqpoll) {
        /* The SQ thread takes the SQEs and completions land in the CQ
         * without us: enter only to wake it or to sleep when idle. */
        submit_counted(w, u);
        /* Spend a little polling the CQ before sleeping in the kernel: in
         * SQPOLL mode the point is to trade CPU for syscalls, and a
         * completion usually arrives within microseconds under load. */
        if (timeout_ns != 0 && io_uring_cq_ready(&u->ring) == 0) {
            int64_t spin =
                timeout_ns < 0 || timeout_ns > SQPOLL_SPIN_NS ? SQPOLL_SPIN_NS : timeout_ns;
            int64_t end = ringo_now() + spin;
            while (io_uring_cq_ready(&u->ring) == 0 && ringo_now() < end)
                cpu_relax();
        }
        if (timeout_ns == 0 || io_uring_cq_ready(&u->ring) > 0) {
            reap(w, u);
            return;
        }
    }
    if (timeout_ns == 0) {
        r = io_uring_submit_and_get_events(&u->ring);
    } else if (u->no_iowait) {
        r = wait_no_iowait(u, timeout_ns);
    } else if (timeout_ns < 0) {
        r = io_uring_submit_and_wait(&u->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        struct io_uring_cqe *cqe;
        r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    }
    (void)r; /* -ETIME, -EINTR: nothing to do but reap */
    count_enter(w);
    reap(w, u);
}

static void ring_wake(struct ringo_worker *w)
{
    struct uring *u = w->be_state;
    uint64_t one = 1;
    ssize_t n = write(u->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is full, the worker is awake anyway */
}

/* Wake another worker through our own ring: the MSG_RING SQE goes out with
 * our next submit, so the wake-up costs no syscall of its own. */
static void ring_wake_from(struct ringo_worker *self, struct ringo_worker *target)
{
    struct uring *u = self->be_state;
    struct uring *t = target->be_state;
    if (!u->msg_ring_ok) {
        ringo__wake_direct(self, target);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(self, u, 1);
    io_uring_prep_msg_ring(sqe, t->ring.ring_fd, 0, SPECIAL(SP_WOKEN, 0), 0);
    io_uring_sqe_set_data64(sqe, SPECIAL(SP_MSG_SENT, target->id));
    STAT_INC(self, sqes);
    STAT_INC(self, msg_ring_wakes);
    self->urgent_submit = true;
}

/* RINGO_<feature>=0 in the environment turns an optional fast path off
 * (for measuring it against the plain path). */
int ringo__uring_env_disabled(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] == '0' && v[1] == 0;
}

static const int required_ops[] = {
    IORING_OP_READ, IORING_OP_WRITE, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_READV,
    IORING_OP_WRITEV, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_CLOSE, IORING_OP_POLL_ADD,
    IORING_OP_ASYNC_CANCEL, IORING_OP_LINK_TIMEOUT,
    /* ringo/file.h; all there by Linux 5.11, which EXT_ARG needs anyway */
    IORING_OP_OPENAT, IORING_OP_FSYNC, IORING_OP_STATX, IORING_OP_UNLINKAT, IORING_OP_RENAMEAT,
    IORING_OP_OPENAT2, /* ringo_open_beneath; Linux 5.6 */
};

static const char *op_name(int op)
{
    static const char *names[] = {
        [IORING_OP_READ] = "read",
        [IORING_OP_WRITE] = "write",
        [IORING_OP_RECV] = "recv",
        [IORING_OP_SEND] = "send",
        [IORING_OP_READV] = "readv",
        [IORING_OP_WRITEV] = "writev",
        [IORING_OP_ACCEPT] = "accept",
        [IORING_OP_CONNECT] = "connect",
        [IORING_OP_CLOSE] = "close",
        [IORING_OP_POLL_ADD] = "poll_add",
        [IORING_OP_ASYNC_CANCEL] = "async_cancel",
        [IORING_OP_LINK_TIMEOUT] = "link_timeout",
        [IORING_OP_OPENAT] = "openat",
        [IORING_OP_FSYNC] = "fsync",
        [IORING_OP_STATX] = "statx",
        [IORING_OP_UNLINKAT] = "unlinkat",
        [IORING_OP_RENAMEAT] = "renameat",
        [IORING_OP_OPENAT2] = "openat2",
    };
    return names[op];
}

/* Start-up probes of flags the opcode probe cannot see: submit sqe (on a
 * non-socket, the wake eventfd) and wait for its CQE. A kernel that does
 * not know the flag says -EINVAL; one that does fails some other way
 * (-ENOENT: nothing to cancel, -ENOTSOCK). One enter each, at start-up. */
static int probe_flag_known(struct ringo_worker *w, struct uring *u, struct io_uring_sqe *sqe)
{
    io_uring_sqe_set_data64(sqe, SPECIAL(SP_PROBE, 0));
    io_uring_submit_and_wait(&u->ring, 1);
    count_enter(w);
    struct io_uring_cqe *cqe;
    int ok = 0;
    if (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        ok = cqe->res != -EINVAL;
        io_uring_cqe_seen(&u->ring, cqe);
    }
    return ok;
}

/* IORING_ASYNC_CANCEL_FD|ALL (Linux 5.19). */
static int probe_cancel_fd(struct ringo_worker *w, struct uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_cancel_fd(sqe, u->wake_fd, IORING_ASYNC_CANCEL_ALL);
    return probe_flag_known(w, u, sqe);
}

/* Register the allow-list on the still-disabled ring. Returns 0 or -errno
 * (then the ring runs unrestricted, which the feature string shows). */
static int restrict_ring(struct uring *u)
{
    /* the opcodes ringo requires, plus MSG_RING (used when present) */
    enum { NREQ = sizeof(required_ops) / sizeof(required_ops[0]) };
    struct io_uring_restriction res[NREQ + 5];
    memset(res, 0, sizeof(res));
    size_t n = 0;
    for (size_t i = 0; i < NREQ; i++) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n++].sqe_op = (__u8)required_ops[i];
    }
    res[n].opcode = IORING_RESTRICTION_SQE_OP;
    res[n++].sqe_op = IORING_OP_MSG_RING;
    if (u->zc_threshold) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n++].sqe_op = IORING_OP_SEND_ZC;
    }
    if (u->nfixed) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n++].sqe_op = IORING_OP_FILES_UPDATE;
    }
    res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    res[n++].sqe_flags = IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_BUFFER_SELECT |
                         (u->nfixed ? IOSQE_FIXED_FILE : 0);
    /* liburing unregisters the ring fd when the ring is torn down */
    res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
    res[n++].register_op = IORING_UNREGISTER_RING_FDS;
    /* Debian's liburing 2.3 declares io_uring_register_restrictions and
     * io_uring_enable_rings but does not export them: go to the syscall. */
    long r = syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res,
                     (unsigned)n);
    return r < 0 ? -errno : 0;
}

static int enable_ring(struct uring *u)
{
    long r =
        syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return r < 0 ? -errno : 0;
}

/* IORING_ACCEPT_MULTISHOT (Linux 5.19). */
static int probe_multishot_accept(struct ringo_worker *w, struct uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_multishot_accept(sqe, u->wake_fd, NULL, NULL, 0);
    return probe_flag_known(w, u, sqe);
}

/* IORING_RECV_MULTISHOT (Linux 6.0): -ENOTSOCK on the eventfd if known. */
static int probe_multishot_recv(struct ringo_worker *w, struct uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_recv(sqe, u->wake_fd, NULL, 0, 0);
    sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RECV_BGID;
    return probe_flag_known(w, u, sqe);
}

/* IORING_SEND_ZC_REPORT_USAGE (Linux 6.2). */
static int probe_zc_report_usage(struct ringo_worker *w, struct uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_send_zc(sqe, u->wake_fd, NULL, 0, 0, IORING_SEND_ZC_REPORT_USAGE);
    return probe_flag_known(w, u, sqe);
}

/* Smallest ring ringo tries when locked memory is short. */
#define RING_MIN_ENTRIES 16

/* io_uring_queue_init_params with the first setup flags of tries[] the
 * kernel takes. Returns 0 or -errno (the last attempt's). */
static int ring_setup(struct uring *u, const ringo_config *cfg, struct uring *first,
                      const unsigned *tries, size_t ntries, unsigned entries,
                      struct io_uring_params *p)
{
    int r = -EINVAL;
    for (size_t i = 0; i < ntries; i++) {
        memset(p, 0, sizeof(*p));
        /* R_DISABLED: the ring accepts no SQE until the opcode allow-list
         * is registered and the ring enabled (ring_init) */
        p->flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
        /* Every parked op may complete at once, two CQEs each with a
         * deadline: a large CQ keeps the overflow path rare (it is still
         * handled). */
        p->cq_entries = entries * 16;
        if (tries[i] & IORING_SETUP_SQPOLL) {
            p->sq_thread_idle = cfg->sqpoll_idle_ms ? cfg->sqpoll_idle_ms : 50;
            if (first && first->sqpoll) {
                p->flags |= IORING_SETUP_ATTACH_WQ;
                p->wq_fd = (__u32)first->ring.ring_fd;
            }
        }
        r = io_uring_queue_init_params(entries, &u->ring, p);
        if (r == 0)
            break;
        /* SQPOLL may be refused for reasons of its own (EPERM...): go on
         * with the plain list; there only EINVAL means "try less" */
        if (r != -EINVAL && !(tries[i] & IORING_SETUP_SQPOLL))
            break;
    }
    return r;
}

/* One line when memory limits made the set-up smaller than asked for:
 * what was refused and what runs instead. Other workers speak only when
 * they got less than worker 0 did. */
static void log_degraded(struct ringo_worker *w, struct uring *u, struct uring *first,
                         unsigned refused)
{
    if (first && u->entries >= first->entries)
        refused = 0;
    int br_err = first && first->br_err ? 0 : u->br_err;
    if (!refused && !br_err)
        return;
    char who[32] = "", lim[48] = "";
    if (w->id > 0)
        snprintf(who, sizeof(who), "worker %d: ", w->id);
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(lim, sizeof(lim), ", RLIMIT_MEMLOCK %llu KiB",
                 (unsigned long long)rl.rlim_cur / 1024);
    char ring[160] = "", br[160] = "";
    if (refused)
        snprintf(
            ring, sizeof(ring),
            "ring of %u entries refused (ENOMEM: not enough locked memory%s); using %u entries",
            refused, lim, u->entries);
    if (br_err)
        snprintf(br, sizeof(br), "%sbuffer ring refused (%s%s); receiving without multishot recv",
                 refused ? "; " : "", ringo_err_name(br_err),
                 br_err == -ENOMEM && !refused ? lim : "");
    ringo__log("%sio_uring %s%s", who, ring, br);
}

static int ring_init(struct ringo_worker *w, const ringo_config *cfg)
{
    struct uring *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    unsigned entries = cfg->ring_entries ? cfg->ring_entries : 1024;
    unsigned refused = 0; /* the first size refused for lack of memory */
    static const unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    static const unsigned sqpoll_attempts[] = {
        IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL,
    };
    /* One SQ thread for all workers: the others attach to worker 0's. */
    struct uring *first = w->id > 0 ? w->rt->workers[0].be_state : NULL;
    /* SQPOLL first when asked for, then the plain list: one loop, so every
     * ring gets the same feature check. */
    unsigned tries[sizeof(sqpoll_attempts) / sizeof(sqpoll_attempts[0]) +
                   sizeof(attempts) / sizeof(attempts[0])];
    size_t ntries = 0;
    for (size_t i = 0; cfg->sqpoll && i < sizeof(sqpoll_attempts) / sizeof(sqpoll_attempts[0]); i++)
        tries[ntries++] = sqpoll_attempts[i];
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        tries[ntries++] = attempts[i];
    /* Worker 0 sizes the ring; the others start at the size it got. */
    if (first && first->entries < entries)
        entries = first->entries;
    int r = -EINVAL;
    struct io_uring_params p;
    for (;;) {
        r = ring_setup(u, cfg, first, tries, ntries, entries, &p);
        /* Locked memory (RLIMIT_MEMLOCK, charged for rings without
         * CAP_IPC_LOCK) too small: a smaller ring costs less. Correct at
         * any size: a full SQ is flushed, an overflowing CQ is reaped. */
        if (r != -ENOMEM || entries <= RING_MIN_ENTRIES)
            break;
        if (!refused)
            refused = entries;
        entries /= 2;
    }
    if (r == 0)
        u->entries = entries;
    if (r == 0) {
        u->setup_flags = p.flags;
        u->sqpoll = (p.flags & IORING_SETUP_SQPOLL) != 0;
        /* the NO_IOWAIT wait publishes the SQ tail itself: not with SQPOLL */
        u->no_iowait = !u->sqpoll && (p.features & IORING_FEAT_NO_IOWAIT) &&
                       !ringo__uring_env_disabled("RINGO_NO_IOWAIT");
        long mw = getenv("RINGO_MIN_WAIT_US") ? atol(getenv("RINGO_MIN_WAIT_US")) : 0;
        if (u->no_iowait && (p.features & IORING_FEAT_MIN_TIMEOUT) && mw > 0 && mw < 1000000)
            u->min_wait_us = (unsigned)mw;
        if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG)) {
            /* pre-5.11: we rely on both */
            io_uring_queue_exit(&u->ring);
            free(u);
            return -ENOTSUP;
        }
    }
    if (cfg->sqpoll && !u->sqpoll)
        ringo__log("worker %d: SQPOLL refused; running without it", w->id);
    if (r < 0) {
        free(u);
        return r;
    }

    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (!probe) {
        io_uring_queue_exit(&u->ring);
        free(u);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < sizeof(required_ops) / sizeof(required_ops[0]); i++) {
        if (!io_uring_opcode_supported(probe, required_ops[i])) {
            ringo__log("io_uring lacks opcode %s", op_name(required_ops[i]));
            io_uring_free_probe(probe);
            io_uring_queue_exit(&u->ring);
            free(u);
            return -ENOTSUP;
        }
    }
    /* MSG_RING wake-ups: RINGO_MSG_RING=0 keeps the eventfd (to measure) */
    u->msg_ring_ok = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) &&
                     !ringo__uring_env_disabled("RINGO_MSG_RING");
    int send_zc_op = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    io_uring_free_probe(probe);
    if (cfg->zc_threshold && send_zc_op)
        u->zc_threshold = cfg->zc_threshold;

    /* saves an fdget/fdput per enter (Linux 5.18); optional */
    int reg = io_uring_register_ring_fd(&u->ring) == 1;

    /* Bound the kernel's io-wq threads for this ring (blocking work such as
     * regular-file I/O lands there): bounded and unbounded pools. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned iowq[2] = {(unsigned)(ncpu > 0 ? 2 * ncpu : 2), (unsigned)(ncpu > 0 ? 4 * ncpu : 4)};
    int iowq_ok = io_uring_register_iowq_max_workers(&u->ring, iowq) == 0;

    /* Registered files (RINGO_FIXED_FILES=1): a sparse table with a slot
     * per possible fd number, up to 64 Ki. */
    if (getenv("RINGO_FIXED_FILES") && atoi(getenv("RINGO_FIXED_FILES")) == 1) {
        struct rlimit rl;
        unsigned n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                         ? (unsigned)rl.rlim_cur
                         : 65536;
        u->ident = malloc(n * sizeof(*u->ident));
        if (u->ident && io_uring_register_files_sparse(&u->ring, n) == 0) {
            for (unsigned i = 0; i < n; i++)
                u->ident[i] = (int)i;
            u->nfixed = n;
        } else {
            free(u->ident);
            u->ident = NULL;
        }
    }

    /* receive buffers; the buffer ring is registered before the
     * allow-list, which then forbids registering anything */
    r = ringo__urecv_init(u, cfg);
    if (r < 0) {
        io_uring_queue_exit(&u->ring);
        free(u);
        return r;
    }

    /* Only the opcodes and SQE flags ringo uses: a stray or forged SQE
     * cannot do anything else through this ring. */
    int restricted = restrict_ring(u) == 0;
    r = enable_ring(u);
    if (r < 0) {
        io_uring_queue_exit(&u->ring);
        ringo__urecv_fini(u);
        free(u);
        return r;
    }

    /* blocking: io_uring would answer a read on an O_NONBLOCK eventfd with
     * -EAGAIN at once instead of waiting */
    u->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (u->wake_fd < 0) {
        int e = -errno;
        io_uring_queue_exit(&u->ring);
        ringo__urecv_fini(u);
        free(u);
        return e;
    }
    w->be_state = u;
    u->cancel_fd_ok = probe_cancel_fd(w, u);
    if (!u->cancel_fd_ok)
        u->nfixed = 0; /* closing needs the cancel by fixed fd */
    u->prefetch = !ringo__uring_env_disabled("RINGO_PREFETCH");
    /* Not on SQPOLL rings: with two rings sharing the SQ thread, multishot
     * accept was seen (Linux 6.18) to leave connections with data that no
     * recv ever completed, every ring idle (recv_borrow_echo_sqpoll_two_
     * workers; fine with one SQ thread per ring, or single-shot accept). */
    u->accept_ms_ok = !u->sqpoll && !ringo__uring_env_disabled("RINGO_MULTISHOT_ACCEPT") &&
                      probe_multishot_accept(w, u);
    /* closing a socket must be able to cancel its multishot */
    u->recv_ms_ok = u->br && u->cancel_fd_ok && probe_multishot_recv(w, u);
    if (u->zc_threshold && probe_zc_report_usage(w, u))
        u->zc_flags = IORING_SEND_ZC_REPORT_USAGE;
    if (u->br && !u->recv_ms_ok)
        ringo__urecv_unused(u);
    arm_wake(w, u);
    log_degraded(w, u, first, refused);
    snprintf(u->features, sizeof(u->features), "%s%s%s%s%ssq=%u cq=%u%s%s%s%s%s%s%s%s%s%s%s%s",
             u->sqpoll ? (u->setup_flags & IORING_SETUP_ATTACH_WQ ? "sqpoll(shared) " : "sqpoll ")
                       : "",
             u->setup_flags & IORING_SETUP_SINGLE_ISSUER ? "single_issuer " : "",
             u->setup_flags & IORING_SETUP_DEFER_TASKRUN ? "defer_taskrun " : "",
             u->setup_flags & IORING_SETUP_COOP_TASKRUN ? "coop_taskrun " : "",
             u->setup_flags & IORING_SETUP_SUBMIT_ALL ? "submit_all " : "", entries, p.cq_entries,
             reg ? " registered_ring_fd" : "", u->cancel_fd_ok ? " cancel_fd" : "",
             u->msg_ring_ok ? " msg_ring" : "", u->accept_ms_ok ? " multishot_accept" : "",
             restricted ? " restricted" : "", iowq_ok ? " iowq_max" : "",
             u->no_iowait ? " no_iowait" : "", u->recv_ms_ok ? " multishot_recv" : "",
             u->zc_threshold ? " send_zc" : "", u->zc_fixed ? "(fixed)" : "",
             u->min_wait_us ? " min_wait" : "", u->nfixed ? " fixed_files" : "");
    return 0;
}

static void ring_fini(struct ringo_worker *w)
{
    struct uring *u = w->be_state;
    if (!u)
        return;
    /* Waits for the kernel to finish or cancel every request, so the
     * stacks of abandoned coroutines may be freed afterwards. */
    io_uring_queue_exit(&u->ring);
    close(u->wake_fd);
    for (size_t i = 0; i < u->nlisteners; i++)
        if (u->listeners[i])
            listener_forget(u, (int)i);
    free(u->listeners);
    ringo__urecv_fini(u);
    free(u->fdflags);
    free(u->fdops);
    free(u->ident);
    free(u);
    w->be_state = NULL;
}

static const char *ring_features(struct ringo_worker *w)
{
    struct uring *u = w->be_state;
    return u ? u->features : "";
}

const struct ringo_backend ringo__uring_backend = {
    .name = "uring",
    .nonblocking_fds = 0,
    .init = ring_init,
    .fini = ring_fini,
    .io = ring_io,
    .poll = ring_poll,
    .wake = ring_wake,
    .wake_from = ring_wake_from,
    .release = ringo__urecv_release,
    .features = ring_features,
};
