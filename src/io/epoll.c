/* epoll backend (the netpoll design): try the non-blocking syscall first;
 * on EAGAIN register the fd once, edge-triggered for both directions, and
 * park until an event for that direction arrives; then retry. Deadlines
 * live in the worker's timer heap. Nothing is in the kernel's hands while
 * a coroutine is parked, so timeouts and cancels resume it at once. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/fdvec.h"
#include "io/backend.h"
#include "io/bufpool.h"
#include "ringo/net.h"
#include "sched/sched.h"

struct fd_waiters {
    struct ringo_op *rd; /* parked reader (read, recv, accept, poll in) */
    struct ringo_op *wr; /* parked writer (write, send, connect, poll out) */
    uint8_t registered;  /* in the epoll set (EPOLLIN|EPOLLOUT|EPOLLET) */
    uint8_t stream;      /* a TCP socket from ringo_accept/ringo_tcp_connect */
    uint8_t drained;     /* stream only: the last read came back short or
                            EAGAIN and no EPOLLIN arrived since, so a read
                            now would only say EAGAIN: park first */
    uint8_t hup;         /* EPOLLRDHUP/HUP/ERR seen: end of stream or an
                            error is waiting, which brings no new edge */
    uint32_t gen;        /* ringo_close count of this number: a waiter
                            woken before a close (and a reopen under the
                            same number) must not retry on the new fd */
};

/* Start the record of fd over, keeping its close count. */
static void reset(struct fd_waiters *f)
{
    uint32_t gen = f->gen;
    memset(f, 0, sizeof(*f));
    f->gen = gen;
}

struct ep {
    int epfd;
    int wake_fd;
    int have_pwait2;
    struct fd_waiters *fds;
    size_t nfds;
    struct bufpool pool; /* buffers for ringo_recv_borrow */
    struct epoll_event events[256];
};

static int is_write_op(int opcode)
{
    return opcode == RINGO_OP_WRITE || opcode == RINGO_OP_SEND || opcode == RINGO_OP_WRITEV ||
           opcode == RINGO_OP_CONNECT || opcode == RINGO_OP_SENDFILE;
}

static int is_read_op(int opcode)
{
    return opcode == RINGO_OP_READ || opcode == RINGO_OP_RECV || opcode == RINGO_OP_READV;
}

static size_t op_len(const struct ringo_op *op)
{
    if (op->opcode != RINGO_OP_READV)
        return op->len;
    size_t n = 0;
    for (int i = 0; i < op->iovcnt; i++)
        n += op->iov[i].iov_len;
    return n;
}

static struct fd_waiters *slot(struct ep *e, int fd)
{
    if (fdvec_reserve((void **)&e->fds, &e->nfds, sizeof(*e->fds), fd) < 0)
        return NULL;
    return &e->fds[fd];
}

/* A fresh TCP socket: the per-fd record starts clean (the number may have
 * belonged to something else) and may use the short-read rule. */
static void mark_stream(struct ep *e, int fd)
{
    struct fd_waiters *f = slot(e, fd);
    if (!f)
        return;
    if (!f->rd && !f->wr)
        reset(f);
    f->stream = 1;
}

static ssize_t attempt(struct ringo_worker *w, struct ringo_op *op)
{
    ssize_t r;
    STAT_INC(w, io_syscalls);
    STAT_INC(w, syscalls);
    switch ((enum ringo_opcode)op->opcode) {
    case RINGO_OP_READ:
        r = read(op->fd, op->buf, op->len);
        break;
    case RINGO_OP_WRITE:
        r = write(op->fd, op->buf, op->len);
        break;
    case RINGO_OP_RECV:
        r = recv(op->fd, op->buf, op->len, op->flags | MSG_DONTWAIT);
        break;
    case RINGO_OP_SEND:
        r = send(op->fd, op->buf, op->len, op->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    case RINGO_OP_READV:
        r = readv(op->fd, op->iov, op->iovcnt);
        break;
    case RINGO_OP_WRITEV:
        r = writev(op->fd, op->iov, op->iovcnt);
        break;
    case RINGO_OP_ACCEPT: {
        socklen_t *lenp = op->addr ? &op->addrlen : NULL;
        r = accept4(op->fd, op->addr, lenp, SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
    }
    case RINGO_OP_CONNECT:
        r = connect(op->fd, op->addr, op->addrlen);
        if (r < 0 && errno == EINPROGRESS)
            errno = EAGAIN; /* wait for writability, then read SO_ERROR */
        break;
    case RINGO_OP_SENDFILE: {
        /* the socket is O_NONBLOCK (epoll's rule): EAGAIN parks on POLLOUT */
        off_t off = (off_t)op->offset;
        r = sendfile(op->fd, op->in_fd, &off, op->len);
        break;
    }
    default:
        errno = EINVAL;
        r = -1;
    }
    return r < 0 ? -errno : r;
}

static void ep_interrupt(struct ringo_coro *c, int reason)
{
    struct ep *e = c->w->be_state;
    struct ringo_op *op = c->interrupt_arg;
    struct fd_waiters *f = (size_t)op->fd < e->nfds ? &e->fds[op->fd] : NULL;
    if (f && f->rd == op)
        f->rd = NULL;
    if (f && f->wr == op)
        f->wr = NULL;
    ringo__ready(c, reason);
}

static int ep_register(struct ringo_worker *w, struct ep *e, int fd, struct fd_waiters *f)
{
    if (f->registered)
        return 0;
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    STAT_INC(w, epoll_ctl);
    STAT_INC(w, syscalls);
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        /* EEXIST: registered through a dup or before a foreign close */
        if (errno != EEXIST)
            return -errno;
    }
    f->registered = 1;
    return 0;
}

/* Park the calling coroutine until fd is ready in op's direction. */
static int wait_ready(struct ringo_worker *w, struct ep *e, struct ringo_op *op, int out)
{
    struct fd_waiters *f = slot(e, op->fd);
    if (!f)
        return op->fd < 0 ? -EBADF : -ENOMEM;
    int r = ep_register(w, e, op->fd, f);
    if (r < 0)
        return r;
    struct ringo_op **waiter = out ? &f->wr : &f->rd;
    if (*waiter)
        return -EBUSY; /* another coroutine already waits in that direction */
    *waiter = op;
    op->coro = w->current;
    uint32_t gen = f->gen;
    STAT_INC(w, eagain);
    r = ringo__park(op->deadline, ep_interrupt, op);
    /* the table may have moved while parked */
    f = &e->fds[op->fd];
    if (f->rd == op)
        f->rd = NULL;
    if (f->wr == op)
        f->wr = NULL;
    /* Woken by readiness, then another coroutine closed the fd before
     * this one ran: the number may name a new socket by now. */
    if (r == 0 && f->gen != gen)
        r = -ECANCELED;
    return r;
}

static int ep_close(struct ringo_worker *w, struct ep *e, int fd)
{
    if (fd >= 0 && (size_t)fd < e->nfds) {
        struct fd_waiters *f = &e->fds[fd];
        if (f->rd) {
            STAT_INC(w, cancels);
            ringo__ready(f->rd->coro, -ECANCELED);
        }
        if (f->wr) {
            STAT_INC(w, cancels);
            ringo__ready(f->wr->coro, -ECANCELED);
        }
        reset(f);
        f->gen++;
    }
    /* close removes the fd from the epoll set unless it was dup'd; a
     * stale event after that only causes a harmless retry */
    STAT_INC(w, io_syscalls);
    STAT_INC(w, syscalls);
    return close(fd) < 0 ? -errno : 0;
}

static int ep_io(struct ringo_worker *w, struct ringo_op *op);

/* ringo_recv_borrow: a read into a pool buffer, but no buffer is held
 * while parked (10k idle connections would otherwise hold 10k buffers):
 * try the read with a buffer, and when there is nothing, give the buffer
 * back and wait for readiness without one. */
static int ep_borrow(struct ringo_worker *w, struct ep *e, struct ringo_op *op)
{
    for (;;) {
        struct fd_waiters *f = (size_t)op->fd < e->nfds ? &e->fds[op->fd] : NULL;
        if (f && f->stream && f->drained && !f->hup) {
            /* the last read came back short: wait first (short-read rule) */
            struct ringo_op p = *op;
            p.opcode = RINGO_OP_POLL;
            p.flags = POLLIN;
            int r = ep_io(w, &p);
            if (r < 0)
                return r; /* EPOLLIN cleared drained (dispatch) */
        }
        struct ringo_op once = *op;
        once.deadline = RINGO_NOWAIT;
        int r = ringo__borrow_single(w, &e->pool, &once, ep_io);
        if (r != -ETIMEDOUT)
            return r;
        if (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now())
            return -ETIMEDOUT;
        /* nothing to read: the attempt marked the socket drained, or it
         * is not a stream socket of ours; either way wait for input */
        if (!((size_t)op->fd < e->nfds && e->fds[op->fd].stream)) {
            struct ringo_op p = *op;
            p.opcode = RINGO_OP_POLL;
            p.flags = POLLIN;
            int pr = ep_io(w, &p);
            if (pr < 0)
                return pr;
        }
    }
}

static int ep_io(struct ringo_worker *w, struct ringo_op *op)
{
    struct ep *e = w->be_state;
    struct ringo_coro *c = w->current;
    /* files never enter the epoll set: they run on the offload pool */
    if (ringo__op_is_file(op->opcode))
        return ringo__file_offload(w, op);
    if (op->opcode == RINGO_OP_CLOSE)
        return ep_close(w, e, op->fd);
    if (op->opcode == RINGO_OP_BORROW)
        return ep_borrow(w, e, op);
    if (c->cancelled)
        return -ECANCELED;
    STAT_INC(w, ops);
    if (op->opcode == RINGO_OP_POLL)
        return wait_ready(w, e, op, op->flags & POLLOUT ? 1 : 0);
    int connecting = 0;
    struct fd_waiters *f = (size_t)op->fd < e->nfds ? &e->fds[op->fd] : NULL;
    /* A stream socket whose last read came back short has nothing to read
     * until the next EPOLLIN (edge-triggered epoll reports every arrival):
     * skip the read that would only say EAGAIN, the way nginx does. Not for
     * datagram or foreign fds, where a short read says nothing. */
    int skip_attempt = is_read_op(op->opcode) && f && f->stream && f->drained && !f->hup &&
                       !(op->opcode == RINGO_OP_RECV && (op->flags & MSG_DONTWAIT)) &&
                       (op->deadline == RINGO_FOREVER || op->deadline > ringo_now());
    for (;;) {
        ssize_t r;
        if (skip_attempt) {
            skip_attempt = 0;
            r = -EAGAIN;
        } else if (connecting) {
            int err = 0;
            socklen_t len = sizeof(err);
            STAT_INC(w, io_syscalls);
            STAT_INC(w, syscalls);
            if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return -errno;
            if (err == 0) {
                mark_stream(e, op->fd);
                return 0;
            }
            if (err != EINPROGRESS && err != EALREADY)
                return -err;
            r = -EAGAIN;
        } else {
            r = attempt(w, op);
            if (op->opcode == RINGO_OP_CONNECT && r == -EAGAIN)
                connecting = 1;
            if (is_read_op(op->opcode) && (size_t)op->fd < e->nfds && e->fds[op->fd].stream)
                e->fds[op->fd].drained = r == -EAGAIN || (r > 0 && (size_t)r < op_len(op));
        }
        if (r != -EAGAIN && r != -EWOULDBLOCK) {
            if (r >= 0 && (op->opcode == RINGO_OP_ACCEPT || op->opcode == RINGO_OP_CONNECT))
                mark_stream(e, op->opcode == RINGO_OP_ACCEPT ? (int)r : op->fd);
            return (int)r;
        }
        /* MSG_DONTWAIT: the caller asked not to be parked */
        if ((op->opcode == RINGO_OP_RECV || op->opcode == RINGO_OP_SEND) &&
            (op->flags & MSG_DONTWAIT))
            return -EAGAIN;
        if (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now()) {
            STAT_INC(w, timeouts);
            return -ETIMEDOUT;
        }
        int wr = wait_ready(w, e, op, is_write_op(op->opcode));
        if (wr == -ECANCELED)
            STAT_INC(w, cancels);
        if (wr < 0)
            return wr;
    }
}

static void dispatch(struct ringo_worker *w, struct ep *e, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = e->events[i].data.fd;
        uint32_t ev = e->events[i].events;
        if (fd == e->wake_fd) {
            uint64_t v;
            STAT_INC(w, io_syscalls);
            STAT_INC(w, syscalls);
            ssize_t rr = read(e->wake_fd, &v, sizeof(v));
            (void)rr;
            continue;
        }
        if ((size_t)fd >= e->nfds)
            continue;
        struct fd_waiters *f = &e->fds[fd];
        if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            f->drained = 0;
        if (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            f->hup = 1;
        if (f->rd && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
            struct ringo_op *op = f->rd;
            f->rd = NULL;
            ringo__ready(op->coro, 0);
        }
        if (f->wr && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            struct ringo_op *op = f->wr;
            f->wr = NULL;
            ringo__ready(op->coro, 0);
        }
    }
}

static void ep_poll(struct ringo_worker *w, int64_t timeout_ns)
{
    struct ep *e = w->be_state;
    int max = (int)(sizeof(e->events) / sizeof(e->events[0]));
    int n;
    STAT_INC(w, epoll_wait);
    STAT_INC(w, syscalls);
    if (e->have_pwait2) {
        struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
        n = epoll_pwait2(e->epfd, e->events, max, timeout_ns < 0 ? NULL : &ts, NULL);
        if (n < 0 && errno == ENOSYS) {
            e->have_pwait2 = 0;
            n = 0;
        }
    } else {
        /* milliseconds, rounded up so a timer is never early */
        int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
        n = epoll_wait(e->epfd, e->events, max, ms);
    }
    if (n > 0)
        dispatch(w, e, n);
}

static void ep_wake(struct ringo_worker *w)
{
    struct ep *e = w->be_state;
    uint64_t one = 1;
    ssize_t n = write(e->wake_fd, &one, sizeof(one));
    (void)n;
}

static int ep_init(struct ringo_worker *w, const ringo_config *cfg)
{
    struct ep *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    int r = ringo__bufpool_init(&e->pool, cfg->recv_buffers ? cfg->recv_buffers : 1024,
                                cfg->recv_buffer_size ? cfg->recv_buffer_size : 16 * 1024);
    if (r < 0) {
        free(e);
        return r;
    }
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = -errno;
        ringo__bufpool_fini(&e->pool);
        free(e);
        return err;
    }
    e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->wake_fd < 0) {
        int err = -errno;
        close(e->epfd);
        ringo__bufpool_fini(&e->pool);
        free(e);
        return err;
    }
    struct epoll_event ev;
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    ev.data.fd = e->wake_fd;
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wake_fd, &ev);
    e->have_pwait2 = 1;
    w->be_state = e;
    return 0;
}

static void ep_fini(struct ringo_worker *w)
{
    struct ep *e = w->be_state;
    if (!e)
        return;
    close(e->wake_fd);
    close(e->epfd);
    free(e->fds);
    ringo__bufpool_fini(&e->pool);
    free(e);
    w->be_state = NULL;
}

static void ep_release(struct ringo_worker *w, ringo_buf *b)
{
    struct ep *e = w->be_state;
    ringo__bufpool_put(&e->pool, b->data, b->id_);
}

static const char *ep_features(struct ringo_worker *w)
{
    struct ep *e = w->be_state;
    return e && e->have_pwait2 ? "edge_triggered epoll_pwait2" : "edge_triggered";
}

const struct ringo_backend ringo__epoll_backend = {
    .name = "epoll",
    .nonblocking_fds = 1,
    .init = ep_init,
    .fini = ep_fini,
    .io = ep_io,
    .poll = ep_poll,
    .wake = ep_wake,
    .release = ep_release,
    .features = ep_features,
};
