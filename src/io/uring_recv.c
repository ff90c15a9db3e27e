/* io_uring receive path: one provided-buffer ring per worker and one
 * multishot recv per stream socket.
 *
 * A socket's first read arms a multishot recv with buffer selection; from
 * then on the kernel receives into buffers of the ring as data arrives,
 * one CQE per buffer, with no SQE per read. The buffers queue on the
 * socket (struct mrecv) in stream order; ringo_read copies out of them,
 * ringo_recv_borrow hands them over as they are. The multishot ends when
 * the ring runs dry (-ENOBUFS), the CQ overflows, or on error/EOF; the
 * next read re-arms it, or, while the ring is still dry, reads with one
 * single-shot recv into the caller's buffer: nothing is lost either way.
 *
 * Once a socket has a queue, every read of it must come through here,
 * or bytes would be taken out of order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/fdvec.h"
#include "io/uring_int.h"
#include "ringo/net.h"
#include "sched/sched.h"

/* IORING_RECV_MULTISHOT (Linux 6.0) is in liburing 2.3's header; keep the
 * build working with older ones. */
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1U << 1)
#endif

#define GEN_MASK 0xffffffu /* SPECIAL() keeps 56 payload bits: fd 32, gen 24 */

/* Buffers one socket may hold unread before its multishot is stopped.
 * The ring is shared by every connection of the worker: without a cap, a
 * socket whose reader is slow (or busy writing) takes a buffer per
 * arriving segment until the ring is dry, and then every other socket's
 * multishot ends with -ENOBUFS and its reads go single-shot (a soak run
 * with 10,000 connections saw millions of those). Past the cap the bytes
 * wait in the socket (TCP flow control), and the next read that empties
 * the queue arms again. 4 x 16 KiB keeps a fast stream flowing. */
#define QUEUE_MAX 4

static void *buf_addr(struct uring *u, uint32_t bid)
{
    return ringo__bufpool_addr(&u->pool, bid);
}

/* Hand buffer bid back to the kernel. */
static void recycle(struct uring *u, uint32_t bid)
{
    io_uring_buf_ring_add(u->br, buf_addr(u, bid), (unsigned)u->pool.size, (unsigned short)bid,
                          io_uring_buf_ring_mask(u->pool.count), 0);
    io_uring_buf_ring_advance(u->br, 1);
    u->br_out--;
}

int ringo__urecv_init(struct uring *u, const ringo_config *cfg)
{
    unsigned count = cfg->recv_buffers ? cfg->recv_buffers : 1024;
    size_t size = cfg->recv_buffer_size ? cfg->recv_buffer_size : 16 * 1024;
    int r = ringo__bufpool_init(&u->pool, count, size);
    if (r < 0)
        return r;
    if (u->zc_threshold) {
        /* The pool as registered buffer 0: a SEND_ZC of bytes inside it
         * (a borrowed buffer sent back out) skips pinning the pages each
         * time. Registration pins the whole pool in memory, which is why
         * it is only done when zero-copy sends are asked for. */
        struct iovec iov = {.iov_base = u->pool.mem, .iov_len = (size_t)count * size};
        u->zc_fixed = io_uring_register_buffers(&u->ring, &iov, 1) == 0;
    }
    if (!cfg->multishot_recv || ringo__uring_env_disabled("RINGO_MULTISHOT_RECV"))
        return 0;
    size_t ring_sz = (size_t)count * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) {
        u->br_err = -ENOMEM;
        return 0; /* run without: plain recv */
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uintptr_t)br;
    reg.ring_entries = count;
    reg.bgid = RECV_BGID;
    /* -EINVAL before Linux 5.19: no buffer rings, plain recv. -ENOMEM:
     * its pages are pinned and charged to RLIMIT_MEMLOCK (without
     * CAP_IPC_LOCK); plain recv too, and ring_init says so. */
    r = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (r != 0) {
        munmap(br, ring_sz);
        if (r != -EINVAL)
            u->br_err = r;
        return 0;
    }
    u->br = br;
    io_uring_buf_ring_init(u->br);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(u->br, buf_addr(u, i), (unsigned)size, (unsigned short)i,
                              io_uring_buf_ring_mask(count), (int)i);
    io_uring_buf_ring_advance(u->br, (int)count);
    /* the kernel owns every buffer now; borrows that find the ring dry
     * take a spare, not one of these */
    u->pool.nfree = 0;
    return 0;
}

void ringo__urecv_unused(struct uring *u)
{
    /* the buffer ring stays registered (the allow-list forbids taking it
     * back) but no SQE selects from it */
    u->pool.nfree = 0;
    for (unsigned i = u->pool.count; i-- > 0;)
        u->pool.free[u->pool.nfree++] = i;
}

void ringo__urecv_fini(struct uring *u)
{
    for (size_t i = 0; i < u->nconns; i++) {
        if (u->conns[i]) {
            free(u->conns[i]->q);
            free(u->conns[i]);
        }
    }
    free(u->conns);
    while (u->free_conns) {
        struct mrecv *m = u->free_conns;
        u->free_conns = m->next_free;
        free(m->q);
        free(m);
    }
    if (u->br)
        munmap(u->br, (size_t)u->pool.count * sizeof(struct io_uring_buf));
    ringo__bufpool_fini(&u->pool);
}

static struct mrecv *conn_get(struct uring *u, int fd, int create)
{
    if (fd < 0 || (!create && (size_t)fd >= u->nconns))
        return NULL;
    if (!create)
        return u->conns[fd];
    if (fdvec_reserve((void **)&u->conns, &u->nconns, sizeof(*u->conns), fd) < 0)
        return NULL;
    struct mrecv *m = u->conns[fd];
    if (m)
        return m;
    /* records of closed sockets are reused: no allocation per connection
     * once the worker has seen its peak */
    if (u->free_conns) {
        m = u->free_conns;
        u->free_conns = m->next_free;
    } else {
        m = calloc(1, sizeof(*m));
        if (!m)
            return NULL;
        m->cap = 8;
        m->q = malloc(m->cap * sizeof(*m->q));
        if (!m->q) {
            free(m);
            return NULL;
        }
    }
    m->gen = u->next_recv_gen = (u->next_recv_gen + 1) & GEN_MASK;
    m->armed = m->eof = m->stopping = m->backlog = 0;
    m->err = 0;
    m->waiter = NULL;
    m->head = m->count = 0;
    m->next_free = NULL;
    u->conns[fd] = m;
    return m;
}

static int queue_push(struct mrecv *m, uint32_t bid, uint32_t len)
{
    if (m->count == m->cap) {
        uint32_t cap = m->cap * 2;
        struct rq_ent *q = malloc(cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        for (uint32_t i = 0; i < m->count; i++)
            q[i] = m->q[(m->head + i) & (m->cap - 1)];
        free(m->q);
        m->q = q;
        m->cap = cap;
        m->head = 0;
    }
    struct rq_ent *e = &m->q[(m->head + m->count) & (m->cap - 1)];
    e->bid = bid;
    e->len = len;
    e->off = 0;
    m->count++;
    return 0;
}

static void queue_pop(struct mrecv *m)
{
    m->head = (m->head + 1) & (m->cap - 1);
    m->count--;
}

void ringo__urecv_cqe(struct ringo_worker *w, struct uring *u, uint64_t payload, int res,
                      unsigned flags)
{
    int fd = (int)(payload & 0xffffffffu);
    uint32_t gen = (uint32_t)(payload >> 32);
    int has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
    uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (has_buf)
        u->br_out++;
    struct mrecv *m = conn_get(u, fd, 0);
    if (!m || m->gen != gen) {
        /* the socket was closed: its bytes have no reader */
        if (has_buf)
            recycle(u, bid);
        return;
    }
    if (!(flags & IORING_CQE_F_MORE))
        m->armed = m->stopping = 0;
    if (res > 0 && has_buf) {
        if (queue_push(m, bid, (uint32_t)res) < 0) {
            /* cannot keep the bytes in order: fail the stream loudly */
            recycle(u, bid);
            m->err = -ENOMEM;
        } else if (m->armed && !m->stopping && m->count >= QUEUE_MAX) {
            /* the multishot ends with -ECANCELED (buffers it took before
             * that still arrive, in order); user_data 0: no one waits
             * for the cancel's own CQE */
            struct io_uring_sqe *sqe = ringo__uring_sqe(w, u, 1);
            io_uring_prep_cancel64(sqe, SPECIAL(SP_RECV, payload), 0);
            io_uring_sqe_set_data64(sqe, 0);
            STAT_INC(w, sqes);
            STAT_INC(w, recv_queue_stops);
            m->stopping = 1;
            m->backlog = 1;
        }
    } else if (has_buf) {
        recycle(u, bid); /* a buffer with no bytes for us */
    }
    if (res > 0) {
        /* queued above */
    } else if (res == 0) {
        m->eof = 1;
    } else if (res == -ENOBUFS) {
        STAT_INC(w, recv_enobufs);
    } else if (res < 0 && res != -ECANCELED) {
        m->err = res;
    }
    if (m->waiter) {
        m->waiter = NULL;
        ringo__ready(m->wcoro, 0);
    }
}

static void arm(struct ringo_worker *w, struct uring *u, struct mrecv *m, int fd)
{
    if ((unsigned)fd < u->nfixed && !(u->fdflags[fd] & FD_FIXED))
        ringo__uring_fix(w, u, fd);
    struct io_uring_sqe *sqe = ringo__uring_sqe(w, u, 1);
    io_uring_prep_recv(sqe, fd, NULL, 0, 0);
    sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    if (u->fdflags[fd] & FD_FIXED)
        sqe->flags |= IOSQE_FIXED_FILE;
    sqe->buf_group = RECV_BGID;
    io_uring_sqe_set_data64(sqe, SPECIAL(SP_RECV, (uint64_t)m->gen << 32 | (uint32_t)fd));
    STAT_INC(w, sqes);
    STAT_INC(w, recv_arms);
    m->armed = 1;
}

/* Copy queued bytes into iov (consuming them unless peek). Returns the
 * byte count. */
static size_t copy_out(struct uring *u, struct mrecv *m, const struct iovec *iov, int iovcnt,
                       int peek)
{
    size_t done = 0, ioff = 0;
    uint32_t idx = m->head, n = m->count;
    uint32_t off = n ? m->q[idx].off : 0;
    int i = 0;
    while (n && i < iovcnt) {
        struct rq_ent *e = &m->q[idx];
        size_t avail = e->len - off, room = iov[i].iov_len - ioff;
        size_t k = avail < room ? avail : room;
        memcpy((char *)iov[i].iov_base + ioff, (char *)buf_addr(u, e->bid) + off, k);
        done += k;
        off += (uint32_t)k;
        ioff += k;
        if (ioff == iov[i].iov_len) {
            i++;
            ioff = 0;
        }
        if (off == e->len) {
            if (!peek)
                recycle(u, e->bid);
            idx = (idx + 1) & (m->cap - 1);
            n--;
            off = n ? m->q[idx].off : 0;
        }
    }
    if (!peek) {
        m->head = idx;
        m->count = n;
        if (n)
            m->q[idx].off = off;
    }
    return done;
}

static void recv_interrupt(struct ringo_coro *c, int reason)
{
    struct ringo_op *op = c->interrupt_arg;
    struct mrecv *m = conn_get(c->w->be_state, op->fd, 0);
    ringo__uring_unwait(c, reason, m ? &m->waiter : NULL);
}

/* One single-shot read, straight into the caller's buffer (a borrow:
 * into a pool buffer), after the got bytes already copied. */
static int read_direct(struct ringo_worker *w, struct uring *u, struct ringo_op *op, size_t got)
{
    if (op->opcode == RINGO_OP_BORROW)
        return ringo__borrow_single(w, &u->pool, op, ringo__uring_single);
    struct ringo_op s = *op;
    s.single = 1;
    if (op->opcode != RINGO_OP_READV) {
        s.buf = (char *)op->buf + got;
        s.len = op->len - got;
    }
    int r = ringo__uring_single(w, &s);
    if (r < 0)
        return got ? (int)got : r;
    return (int)(got + (size_t)r);
}

/* The ring is dry and nothing is queued or armed: the kernel holds every
 * unread byte, so one single-shot read keeps the stream in order. */
static int read_single(struct ringo_worker *w, struct uring *u, struct ringo_op *op, size_t got)
{
    STAT_INC(w, recv_fallbacks);
    return read_direct(w, u, op, got);
}

#define SUPPORTED_FLAGS (MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL)

int ringo__urecv_io(struct ringo_worker *w, struct uring *u, struct ringo_op *op, int *res)
{
    int opc = op->opcode;
    uint32_t fl = (size_t)op->fd < u->nfd ? u->fdflags[op->fd] : 0;
    /* a socket with a receive record has bytes or a multishot in flight
     * whatever its hints say: those must come first */
    if (!u->recv_ms_ok || op->single || (!(fl & FD_STREAM) && !conn_get(u, op->fd, 0))) {
        if (opc != RINGO_OP_BORROW)
            return 0;
        *res = ringo__borrow_single(w, &u->pool, op, ringo__uring_single);
        return 1;
    }
    int flags = opc == RINGO_OP_RECV ? op->flags : 0;
    struct mrecv *m = conn_get(u, op->fd, 0);
    if (flags & ~SUPPORTED_FLAGS) {
        /* MSG_OOB, MSG_TRUNC...: fine while nothing is queued */
        if (!m || (!m->count && !m->armed))
            return 0;
        *res = -EOPNOTSUPP;
        return 1;
    }
    if (!m && !(m = conn_get(u, op->fd, 1)))
        return 0; /* out of memory: the single-shot path still works */
    size_t want = op->len;
    struct iovec one;
    const struct iovec *iov = &one;
    int iovcnt = 1;
    if (opc == RINGO_OP_READV) {
        iov = op->iov;
        iovcnt = op->iovcnt;
        want = 0;
        for (int i = 0; i < iovcnt; i++)
            want += iov[i].iov_len;
        flags = 0;
    }
    if (want == 0 && opc != RINGO_OP_BORROW) {
        *res = 0;
        return 1;
    }
    if (want > 0x7fffffff)
        want = 0x7fffffff;
    struct ringo_coro *c = w->current;
    if (c->cancelled) {
        *res = -ECANCELED; /* sticky, as on every other path */
        return 1;
    }
    size_t got = 0;
    int flushed = 0;
    for (;;) {
        if (m->count) {
            if (opc == RINGO_OP_BORROW) {
                struct rq_ent *e = &m->q[m->head];
                ringo_buf *b = op->buf;
                b->data = (char *)buf_addr(u, e->bid) + e->off;
                b->len = e->len - e->off;
                b->id_ = e->bid;
                b->owner_ = (uint32_t)w->id + 1;
                queue_pop(m);
                *res = (int)b->len;
                return 1;
            }
            if (iov == &one) {
                one.iov_base = (char *)op->buf + got;
                one.iov_len = want - got;
            }
            got += copy_out(u, m, iov, iovcnt, flags & MSG_PEEK);
            if (!(flags & MSG_WAITALL) || got == want || (flags & MSG_PEEK)) {
                *res = (int)got;
                return 1;
            }
            continue;
        }
        if (m->err) {
            *res = got ? (int)got : m->err;
            if (!got)
                m->err = 0;
            return 1;
        }
        if (m->eof) {
            *res = (int)got;
            return 1;
        }
        if (!m->armed && m->backlog && !c->cancelled) {
            /* the socket was stopped with bytes waiting: arming now would
             * take a ring buffer per 16 KiB of them at once, so read
             * straight into the caller's buffer until one read comes back
             * short (the socket is drained) or asks for less than a ring
             * buffer, then multishot again */
            size_t asked = opc == RINGO_OP_BORROW ? u->pool.size : want - got;
            int r = read_direct(w, u, op, got); /* got is 0 for a borrow */
            if (r <= 0 || (size_t)r - got < asked || asked < u->pool.size)
                m->backlog = 0; /* drained, or small reads: the queue suits them */
            *res = r;
            return 1;
        }
        /* A caller that will not wait (MSG_DONTWAIT, or a deadline
         * already due) must still get bytes the socket holds: arm if need
         * be and let the kernel run the recv now (one enter), then look
         * again before giving up. */
        int nowait = (flags & MSG_DONTWAIT) ||
                     (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now());
        if (nowait && !flushed && !m->waiter && !c->cancelled) {
            if (!m->armed && u->br_out < u->pool.count)
                arm(w, u, m, op->fd);
            flushed = 1;
            ringo__uring_flush(w, u);
            continue;
        }
        if (flags & MSG_DONTWAIT) {
            *res = got ? (int)got : -EAGAIN;
            return 1;
        }
        if (m->waiter) {
            *res = -EBUSY;
            return 1;
        }
        if (c->cancelled) {
            *res = got ? (int)got : -ECANCELED;
            return 1;
        }
        if (!m->armed) {
            if (u->br_out >= u->pool.count) {
                *res = read_single(w, u, op, got);
                return 1;
            }
            arm(w, u, m, op->fd);
        }
        m->waiter = op;
        m->wcoro = c;
        op->coro = c;
        uint32_t gen = m->gen;
        int r = ringo__uring_park_waiter(w, op, recv_interrupt);
        if (r < 0) {
            *res = got ? (int)got : r;
            return 1;
        }
        /* Woken by a CQE, then another coroutine closed the fd before
         * this one ran (a close while parked wakes it with -ECANCELED,
         * handled above): m went to the free list and may serve a new
         * socket with the same number by now. */
        if (conn_get(u, op->fd, 0) != m || m->gen != gen) {
            *res = got ? (int)got : -ECANCELED;
            return 1;
        }
    }
}

uint64_t ringo__urecv_armed_ud(struct uring *u, int fd)
{
    struct mrecv *m = conn_get(u, fd, 0);
    if (!m || !m->armed)
        return 0;
    return SPECIAL(SP_RECV, (uint64_t)m->gen << 32 | (uint32_t)fd);
}

void ringo__urecv_forget(struct uring *u, int fd)
{
    struct mrecv *m = conn_get(u, fd, 0);
    if (!m)
        return;
    ringo__uring_wake_waiter(&m->waiter, -ECANCELED);
    while (m->count) {
        recycle(u, m->q[m->head].bid);
        queue_pop(m);
    }
    u->conns[fd] = NULL;
    m->next_free = u->free_conns;
    u->free_conns = m;
}

void ringo__urecv_release(struct ringo_worker *w, ringo_buf *b)
{
    struct uring *u = w->be_state;
    if (b->id_ != BUFPOOL_SPARE && u->recv_ms_ok)
        recycle(u, b->id_);
    else
        ringo__bufpool_put(&u->pool, b->data, b->id_);
}
