/*
 * baseline-uring-http: a hand-written, single-threaded liburing HTTP/1.1
 * responder, the "practical limit of this machine" for the HTTP benchmark.
 *
 * It does not parse HTTP. Every "\r\n\r\n" in a connection's byte stream
 * ends one request (GET without a body is all it supports), and every
 * request gets the same TechEmpower-plaintext response:
 *
 *   HTTP/1.1 200 OK\r\nServer: X\r\nDate: <IMF-fixdate>\r\n
 *   Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!
 *
 * All requests completed by one receive are answered by one send
 * (pipelining). The io_uring side is as lean as liburing 2.3 allows:
 *
 *   - SINGLE_ISSUER | DEFER_TASKRUN (falls back to a plain ring if refused);
 *   - multishot accept straight into the registered file table (direct
 *     descriptors: no fd table, no fget/fput per operation);
 *   - multishot recv into a provided-buffer ring; a buffer is scanned and
 *     handed back in the same batch (nothing is copied or kept);
 *   - responses are sent straight out of a static buffer holding 64 copies
 *     of the response (the Date is the same length in every second, so the
 *     copies never move); one send in flight per connection;
 *   - one io_uring_submit_and_wait per loop iteration, all completions
 *     reaped as a batch, recycled buffers published with one tail store;
 *   - the Date is refreshed when time(2) (vDSO, no syscall) moves on,
 *     checked once per loop iteration; two response buffers alternate so a
 *     send still queued from the previous second is not rewritten under it.
 *
 *   usage: baseline-uring-http PORT
 *
 * Listens on [::]:PORT dual-stack (0.0.0.0:PORT if IPv6 is unavailable).
 * Exits cleanly on SIGINT/SIGTERM.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    BUF_SIZE = 2048, /* a request is ~50-500 bytes; 16 pipelined fit */
    NBUFS = 4096,    /* power of two; 8 MiB. Buffers come straight back,
                      * so this only has to cover one batch of CQEs. */
    BGID = 0,
    SQ_ENTRIES = 4096,
    CQ_ENTRIES = 16384,
    MAX_CONNS = 32768, /* registered file table = connection table (at
                        * most RLIMIT_NOFILE, which is raised to its max) */
    RESP_COPIES = 64,  /* responses one send can carry */
};

/* user_data = slot << 2 | op */
enum op { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2, OP_OTHER = 3, OP_MASK = 3 };

#define RESP_HEAD "HTTP/1.1 200 OK\r\nServer: X\r\nDate: "
#define RESP_DATE "Thu, 01 Jan 1970 00:00:00 GMT"
#define RESP_TAIL "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
#define RESP_LEN  (sizeof(RESP_HEAD RESP_DATE RESP_TAIL) - 1)
#define DATE_OFF  (sizeof(RESP_HEAD) - 1)
#define DATE_LEN  (sizeof(RESP_DATE) - 1)

struct conn {
    uint64_t owed;     /* response bytes not yet sent (including in flight) */
    uint32_t tail;     /* last four bytes received, for a split "\r\n\r\n" */
    uint32_t phase;    /* offset of the next byte within one response */
    uint32_t inflight; /* bytes of the send in flight; 0: none */
    bool recv_armed;   /* a multishot recv is live in the kernel */
    bool eof;          /* peer closed: send what is owed, then close */
    bool dead;         /* error: close as soon as the kernel lets go */
    bool shut;         /* shutdown submitted to end the multishot recv */
};

static volatile sig_atomic_t stop_flag;
static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static int bufs_pending;
static struct conn conns[MAX_CONNS];
static char resp[2][RESP_COPIES * RESP_LEN];
static int resp_cur;
static time_t resp_time = -1;
static int listen_fd;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void date_refresh(void)
{
    time_t now = time(NULL);
    if (now == resp_time)
        return;
    resp_time = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[DATE_LEN + 1];
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    resp_cur ^= 1;
    for (int i = 0; i < RESP_COPIES; i++)
        memcpy(resp[resp_cur] + i * RESP_LEN + DATE_OFF, date, DATE_LEN);
}

static void buf_recycle(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
                          io_uring_buf_ring_mask(NBUFS), bufs_pending++);
}

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
    while (!(sqe = io_uring_get_sqe(&ring))) {
        bufs_publish();
        io_uring_submit(&ring);
    }
    return sqe;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept_direct(sqe, listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(unsigned slot)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, (int)slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)slot << 2 | OP_RECV);
    conns[slot].recv_armed = true;
}

static void send_owed(unsigned slot)
{
    struct conn *c = &conns[slot];
    if (c->inflight || c->dead || !c->owed)
        return;
    size_t len = sizeof(resp[0]) - c->phase;
    if (len > c->owed)
        len = (size_t)c->owed;
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, (int)slot, resp[resp_cur] + c->phase, len, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, (uint64_t)slot << 2 | OP_SEND);
    c->inflight = (uint32_t)len;
}

/* Close the slot once the kernel holds no operation of ours on it; the
 * slot may then be handed out again by the multishot accept. */
static void maybe_close(unsigned slot)
{
    struct conn *c = &conns[slot];
    if (c->inflight)
        return;
    if (!c->dead && !(c->eof && !c->owed))
        return;
    struct io_uring_sqe *sqe;
    if (c->recv_armed) {
        if (c->shut)
            return;
        c->shut = true;
        /* Wake the multishot recv with EOF; its last CQE calls us again. */
        sqe = sqe_get();
        io_uring_prep_shutdown(sqe, (int)slot, SHUT_RDWR);
        sqe->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, OP_OTHER);
        c->dead = true;
        return;
    }
    sqe = sqe_get();
    io_uring_prep_close_direct(sqe, slot);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, OP_OTHER);
}

/* Number of "\r\n\r\n" in p[0..n), counting one that straddles the
 * previous receive. */
static unsigned count_requests(struct conn *c, const unsigned char *p, size_t n)
{
    unsigned cnt = 0;
    uint32_t w = c->tail;
    size_t head = n < 3 ? n : 3;
    for (size_t i = 0; i < head; i++) {
        w = w << 8 | p[i];
        cnt += w == 0x0d0a0d0a;
    }
    const unsigned char *q = p + head, *end = p + n;
    while (q < end && (q = memchr(q, '\n', (size_t)(end - q)))) {
        cnt += q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r';
        q++;
    }
    if (n >= 4)
        w = (uint32_t)p[n - 4] << 24 | (uint32_t)p[n - 3] << 16 | (uint32_t)p[n - 2] << 8 |
            p[n - 1];
    c->tail = w;
    return cnt;
}

static void on_accept(int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    if (res < 0) {
        if (res == -ENFILE || res == -EMFILE)
            fprintf(stderr, "accept: %s\n", strerror(-res));
        return;
    }
    unsigned slot = (unsigned)res;
    conns[slot] = (struct conn){0};
    arm_recv(slot);
}

static void on_recv(unsigned slot, int res, unsigned flags)
{
    struct conn *c = &conns[slot];
    bool more = flags & IORING_CQE_F_MORE;
    if (!more)
        c->recv_armed = false;
    if (res > 0) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        unsigned n =
            count_requests(c, (const unsigned char *)bufs + (size_t)bid * BUF_SIZE, (size_t)res);
        buf_recycle(bid);
        if (c->dead) {
            maybe_close(slot);
            return;
        }
        c->owed += (uint64_t)n * RESP_LEN;
        send_owed(slot);
        if (!more)
            arm_recv(slot); /* multishot ended with data (CQ overflow) */
        return;
    }
    if (res == -ENOBUFS && !c->dead) {
        arm_recv(slot); /* published before the next submit */
        return;
    }
    if (res == 0)
        c->eof = true;
    else
        c->dead = true;
    maybe_close(slot);
}

static void on_send(unsigned slot, int res)
{
    struct conn *c = &conns[slot];
    c->inflight = 0;
    if (res <= 0) {
        c->dead = true;
        maybe_close(slot);
        return;
    }
    c->owed -= (uint64_t)res;
    c->phase = (uint32_t)((c->phase + (uint32_t)res) % RESP_LEN);
    send_owed(slot);
    maybe_close(slot);
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
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux;
     * direct descriptors cannot be given setsockopt(2) anyway. */
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
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
        r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    }
    if (r < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-r));
        return -1;
    }
    io_uring_register_ring_fd(&ring);
    /* The sparse file table counts against RLIMIT_NOFILE. */
    struct rlimit rl;
    unsigned nfiles = MAX_CONNS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < nfiles + 64)
            nfiles = rl.rlim_cur > 1088 ? (unsigned)rl.rlim_cur - 64 : 1024;
    }
    r = io_uring_register_files_sparse(&ring, nfiles);
    if (r < 0) {
        fprintf(stderr, "io_uring_register_files_sparse: %s\n", strerror(-r));
        return -1;
    }
    if (posix_memalign((void **)&br, 4096, NBUFS * sizeof(struct io_uring_buf)) ||
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
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (int i = 0; i < 2; i++)
        for (int j = 0; j < RESP_COPIES; j++)
            memcpy(resp[i] + j * RESP_LEN, RESP_HEAD RESP_DATE RESP_TAIL, RESP_LEN);
    date_refresh();

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
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
            break;
        }
        date_refresh();
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            unsigned slot = (unsigned)(cqe->user_data >> 2);
            switch (cqe->user_data & OP_MASK) {
            case OP_ACCEPT:
                on_accept(cqe->res, cqe->flags);
                break;
            case OP_RECV:
                on_recv(slot, cqe->res, cqe->flags);
                break;
            case OP_SEND:
                on_send(slot, cqe->res);
                break;
            default: /* a failed shutdown/close: nothing to do */
                break;
            }
            n++;
        }
        io_uring_cq_advance(&ring, n);
    }

    shutdown(listen_fd, SHUT_RDWR);
    io_uring_queue_exit(&ring);
    close(listen_fd);
    return 0;
}
