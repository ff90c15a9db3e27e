/*
 * baseline-uring-echo: a hand-written, single-threaded liburing echo server.
 *
 * This marks what the machine can do with io_uring and no runtime at all:
 * multishot accept, multishot recv into a provided-buffer ring, send straight
 * out of the receive buffer (no copy), and one io_uring_submit_and_wait per
 * loop iteration with all completions reaped as a batch.
 *
 *   usage: baseline-uring-echo PORT
 *
 * Listens on [::]:PORT dual-stack (0.0.0.0:PORT if IPv6 is unavailable).
 * Exits cleanly on SIGINT/SIGTERM.
 *
 * Ordering: each connection owns a FIFO of received buffers and has at most
 * one send in flight, so bytes leave in the order they arrived even when
 * sends are short or data arrives while a send is pending. A buffer goes
 * back to the ring only once every byte of it has been sent.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    /* 16 KiB: a 1 KiB echo never notices, but large messages take a
     * quarter of the recv completions (and CPU) that 4 KiB would. */
    BUF_SIZE = 16384,
    NBUFS = 2048, /* power of two, at most 32768; 32 MiB in all */
    BGID = 0,
    SQ_ENTRIES = 4096,
    CQ_ENTRIES = 16384,  /* room for a recv and a send CQE per conn */
    IOV_BATCH = 32,      /* queued buffers sent by one sendmsg */
    CONN_QUEUE_MAX = 16, /* buffers (256 KiB) queued on one conn before
                          * its recv is not re-armed (its peer is slow) */
    NO_BUF = 0xffff,
};

/* user_data = conn pointer | op; conns are malloc'ed, so the low bits are
 * free. The accept SQE carries a NULL conn. */
enum op { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2, OP_MASK = 3 };

struct conn {
    int fd;
    bool recv_armed; /* a multishot recv is live in the kernel */
    bool send_inflight;
    bool eof;                   /* peer closed its side: finish sending, close */
    bool dead;                  /* error: drop queued data, close asap */
    bool starved;               /* recv ended, waiting for free buffers */
    bool paused;                /* recv ended, waiting for its queue to drain */
    uint16_t head, tail;        /* FIFO of buffer ids, linked via buf_next */
    uint32_t nqueued;           /* buffers in that FIFO */
    uint32_t head_off;          /* bytes of the head buffer already sent */
    struct conn *sprev, *snext; /* starved FIFO */
    struct msghdr msg;          /* must outlive the sendmsg SQE */
    struct iovec iov[IOV_BATCH];
};

static volatile sig_atomic_t stop_flag;
static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static uint16_t buf_next[NBUFS];
static uint32_t buf_len[NBUFS];
static int bufs_pending;      /* recycled into br, not yet published */
static int bufs_free = NBUFS; /* owned by the kernel (published or about to be) */
static struct conn *starved_head, *starved_tail;
static int listen_fd;

static void on_stop(int sig)
{
    stop_flag = 1;
}

static char *buf_addr(unsigned bid)
{
    return bufs + (size_t)bid * BUF_SIZE;
}

static void buf_recycle(unsigned bid)
{
    io_uring_buf_ring_add(br, buf_addr(bid), BUF_SIZE, bid, io_uring_buf_ring_mask(NBUFS),
                          bufs_pending++);
    bufs_free++;
}

/* One tail store for all buffers recycled during a batch. */
static void bufs_publish(void)
{
    if (bufs_pending) {
        io_uring_buf_ring_advance(br, bufs_pending);
        bufs_pending = 0;
    }
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe;
    /* SQ full mid-batch: push what we have and carry on. */
    while (!(sqe = io_uring_get_sqe(&ring))) {
        bufs_publish();
        io_uring_submit(&ring);
    }
    return sqe;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_RECV);
    c->recv_armed = true;
}

static void send_head(struct conn *c)
{
    if (c->send_inflight || c->dead || c->head == NO_BUF)
        return;
    struct io_uring_sqe *sqe = sqe_get();
    if (buf_next[c->head] == NO_BUF) {
        /* The common case (one buffer queued): plain send, which is
         * cheaper in the kernel than sendmsg. */
        io_uring_prep_send(sqe, c->fd, buf_addr(c->head) + c->head_off,
                           buf_len[c->head] - c->head_off, MSG_NOSIGNAL);
    } else {
        /* Several buffers queued (pipelining, large messages): send
         * them with one gathered write instead of one SQE each. */
        int n = 0;
        for (unsigned b = c->head; b != NO_BUF && n < IOV_BATCH; b = buf_next[b], n++) {
            uint32_t off = n == 0 ? c->head_off : 0;
            c->iov[n].iov_base = buf_addr(b) + off;
            c->iov[n].iov_len = buf_len[b] - off;
        }
        c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = n};
        io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_SEND);
    c->send_inflight = true;
}

static void queue_drop(struct conn *c)
{
    while (c->head != NO_BUF) {
        unsigned b = c->head;
        c->head = buf_next[b];
        buf_recycle(b);
    }
    c->tail = NO_BUF;
    c->head_off = 0;
    c->nqueued = 0;
}

static void starved_remove(struct conn *c)
{
    if (!c->starved)
        return;
    if (c->sprev)
        c->sprev->snext = c->snext;
    else
        starved_head = c->snext;
    if (c->snext)
        c->snext->sprev = c->sprev;
    else
        starved_tail = c->sprev;
    c->starved = false;
    c->sprev = c->snext = NULL;
}

/* The conn's multishot recv has ended but the conn lives on: decide when
 * to receive again. Re-arming straight into an empty buffer ring would just
 * bounce back ENOBUFS, and a conn whose peer does not read its echo should
 * not take the buffers the other conns need. */
static void recv_resume(struct conn *c)
{
    if (c->nqueued >= CONN_QUEUE_MAX) {
        c->paused = true; /* on_send resumes it */
    } else if (bufs_free == 0 || starved_head) {
        /* Queue behind earlier starved conns, for fairness. */
        c->starved = true;
        c->sprev = starved_tail;
        c->snext = NULL;
        if (starved_tail)
            starved_tail->snext = c;
        else
            starved_head = c;
        starved_tail = c;
    } else {
        arm_recv(c);
    }
}

/* At most one starved conn per free buffer, so a trickle of returned
 * buffers does not turn into a storm of ENOBUFS re-arms. */
static void rearm_starved(void)
{
    for (int budget = bufs_free; starved_head && budget > 0; budget--) {
        struct conn *c = starved_head;
        starved_remove(c);
        arm_recv(c);
    }
}

/* Free the connection once the kernel holds no reference to it. */
static void maybe_free(struct conn *c)
{
    if (c->recv_armed || c->send_inflight)
        return;
    if (!c->dead && !(c->eof && c->head == NO_BUF))
        return;
    starved_remove(c);
    queue_drop(c);
    close(c->fd);
    free(c);
}

static void conn_fail(struct conn *c)
{
    c->dead = true;
    /* Wake the live multishot recv with EOF so its final CQE arrives and
     * we can free the connection (an async cancel would do too, but
     * costs an SQE and a second CQE on an already rare path). */
    if (c->recv_armed)
        shutdown(c->fd, SHUT_RDWR);
    maybe_free(c);
}

static void on_accept(int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    if (res < 0) {
        if (res == -EMFILE || res == -ENFILE)
            fprintf(stderr, "accept: %s\n", strerror(-res));
        return;
    }
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(res);
        return;
    }
    c->fd = res;
    c->head = c->tail = NO_BUF;
    arm_recv(c);
}

static void on_recv(struct conn *c, int res, unsigned flags)
{
    bool more = flags & IORING_CQE_F_MORE;
    if (!more)
        c->recv_armed = false;

    if (res > 0) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        bufs_free--;
        if (c->dead) {
            buf_recycle(bid);
        } else {
            buf_len[bid] = (uint32_t)res;
            buf_next[bid] = NO_BUF;
            if (c->tail == NO_BUF)
                c->head = (uint16_t)bid;
            else
                buf_next[c->tail] = (uint16_t)bid;
            c->tail = (uint16_t)bid;
            c->nqueued++;
            send_head(c);
            /* Multishot can end with data (e.g. CQ overflow). */
            if (!more)
                recv_resume(c);
            return;
        }
    } else if (res == -ENOBUFS && !c->dead) {
        recv_resume(c); /* the buffer ring ran dry */
        return;
    } else if (res == 0) {
        c->eof = true;
    } else {
        /* Queued buffers may be under an in-flight send; maybe_free
         * recycles them once that has completed. */
        c->dead = true;
    }
    maybe_free(c);
}

static void on_send(struct conn *c, int res)
{
    c->send_inflight = false;
    if (res <= 0 || c->dead) {
        /* Zero bytes for a non-empty send would loop forever. */
        if (!c->dead)
            conn_fail(c);
        else
            maybe_free(c);
        return;
    }
    uint32_t sent = (uint32_t)res;
    while (sent > 0) {
        unsigned b = c->head;
        uint32_t left = buf_len[b] - c->head_off;
        if (sent < left) {
            c->head_off += sent; /* short send: resume here */
            break;
        }
        sent -= left;
        c->head = buf_next[b];
        c->head_off = 0;
        c->nqueued--;
        buf_recycle(b);
    }
    if (c->head == NO_BUF)
        c->tail = NO_BUF;
    send_head(c);
    if (c->paused && c->nqueued <= CONN_QUEUE_MAX / 2) {
        c->paused = false;
        recv_resume(c);
    }
    maybe_free(c);
}

static int listen_on(int port)
{
    int one = 1, zero = 0;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_in6 a6 = {
            .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
            goto bound;
        close(fd);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a4 = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) != 0) {
        close(fd);
        return -1;
    }
bound:
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int ring_setup(void)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        .cq_entries = CQ_ENTRIES,
    };
    int r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (r == -EINVAL) {
        /* Kernel older than 6.1: no deferred task work. */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
        r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    }
    if (r < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
        return -1;
    }
    /* Lets io_uring_enter skip the fd table lookup; optional. */
    io_uring_register_ring_fd(&ring);

    size_t ring_sz = NBUFS * sizeof(struct io_uring_buf);
    if (posix_memalign((void **)&br, 4096, ring_sz) ||
        posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUF_SIZE)) {
        fprintf(stderr, "out of memory\n");
        return -1;
    }
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = NBUFS, .bgid = BGID};
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) {
        fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-r));
        return -1;
    }
    io_uring_buf_ring_init(br);
    bufs_free = 0;
    for (unsigned b = 0; b < NBUFS; b++)
        buf_recycle(b);
    bufs_publish();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    /* No SA_RESTART: the wait must return -EINTR so we notice. */
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    listen_fd = listen_on(port);
    if (listen_fd < 0) {
        fprintf(stderr, "listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    if (ring_setup() < 0)
        return 1;
    arm_accept();

    while (!stop_flag) {
        bufs_publish();
        rearm_starved();
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
            break;
        }
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
            switch (cqe->user_data & OP_MASK) {
            case OP_ACCEPT:
                on_accept(cqe->res, cqe->flags);
                break;
            case OP_RECV:
                on_recv(c, cqe->res, cqe->flags);
                break;
            case OP_SEND:
                on_send(c, cqe->res);
                break;
            }
            n++;
        }
        io_uring_cq_advance(&ring, n);
    }

    /* The armed accept holds a reference to the listener, and ring
     * teardown is asynchronous: shut the listener down explicitly so the
     * port is free the moment we exit. Connections are not walked: exit
     * releases them, and the kernel cancels whatever is still armed. */
    shutdown(listen_fd, SHUT_RDWR);
    io_uring_queue_exit(&ring);
    close(listen_fd);
    return 0;
}
