/*
 * baseline-epoll-http: a hand-written, single-threaded epoll HTTP/1.1
 * responder, the epoll twin of baseline-uring-http (same response, same
 * non-parsing: every "\r\n\r\n" in the stream ends one GET request, all
 * requests completed by one read are answered by one write).
 *
 *   HTTP/1.1 200 OK\r\nServer: X\r\nDate: <IMF-fixdate>\r\n
 *   Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!
 *
 * The loop is the classic edge-triggered one: every connection is
 * registered once for EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, so the steady
 * state is epoll_wait + read + send per ready connection and never an
 * epoll_ctl. A read shorter than the buffer means the receive queue was
 * empty, so the read that would only return EAGAIN is skipped (as nginx
 * does). Responses go out of a static buffer holding 64 copies of the
 * response; what a short send leaves owed waits for EPOLLOUT, and reading
 * stops meanwhile (backpressure). The Date is refreshed when time(2) (vDSO)
 * moves on, checked once per epoll_wait.
 *
 *   usage: baseline-epoll-http PORT
 *
 * Listens on [::]:PORT dual-stack (0.0.0.0:PORT if IPv6 is unavailable).
 * Exits cleanly on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { READ_CHUNK = 16 * 1024, MAX_EVENTS = 512, RESP_COPIES = 64 };

#define RESP_HEAD "HTTP/1.1 200 OK\r\nServer: X\r\nDate: "
#define RESP_DATE "Thu, 01 Jan 1970 00:00:00 GMT"
#define RESP_TAIL "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
#define RESP_LEN  (sizeof(RESP_HEAD RESP_DATE RESP_TAIL) - 1)
#define DATE_OFF  (sizeof(RESP_HEAD) - 1)
#define DATE_LEN  (sizeof(RESP_DATE) - 1)

struct conn {
    int fd;
    uint32_t tail;  /* last four bytes read, for a split "\r\n\r\n" */
    uint32_t phase; /* offset of the next byte within one response */
    uint64_t owed;  /* response bytes a short send left unsent */
    /* Doubly linked so shutdown can free every connection. */
    struct conn *prev, *next;
};

static volatile sig_atomic_t stop_flag;
static struct conn *conns;
static unsigned char rbuf[READ_CHUNK];
static char resp[RESP_COPIES * RESP_LEN];
static time_t resp_time = -1;

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
    for (int i = 0; i < RESP_COPIES; i++)
        memcpy(resp + i * RESP_LEN + DATE_OFF, date, DATE_LEN);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0;
    if (fd >= 0) {
        struct sockaddr_in6 a6 = {
            .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
            goto bound;
        close(fd);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

static void conn_close(struct conn *c)
{
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Number of "\r\n\r\n" in p[0..n), counting one that straddles the
 * previous read. */
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

/* Send what is owed. Returns 1 when all is sent, 0 on EAGAIN, -1 on error. */
static int send_owed(struct conn *c)
{
    while (c->owed) {
        size_t len = sizeof(resp) - c->phase;
        if (len > c->owed)
            len = (size_t)c->owed;
        ssize_t n = send(c->fd, resp + c->phase, len, MSG_NOSIGNAL);
        if (n > 0) {
            c->owed -= (uint64_t)n;
            c->phase = (uint32_t)((c->phase + (size_t)n) % RESP_LEN);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        } else {
            return -1;
        }
    }
    return 1;
}

/* Returns -1 when the connection is done. */
static int conn_io(struct conn *c, uint32_t ev)
{
    if (ev & EPOLLERR)
        return -1;
    if (c->owed) {
        int r = send_owed(c);
        if (r <= 0)
            return r;
        /* Drained: read again, edge-triggered epoll will not repeat
         * the input we left unread. */
    }
    for (;;) {
        ssize_t n = read(c->fd, rbuf, sizeof(rbuf));
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->owed += (uint64_t)count_requests(c, rbuf, (size_t)n) * RESP_LEN;
        int r = send_owed(c);
        if (r <= 0)
            return r; /* EAGAIN: stop reading until EPOLLOUT */
        if ((size_t)n < sizeof(rbuf) && !(ev & (EPOLLRDHUP | EPOLLHUP)))
            return 0;
    }
}

static void accept_all(int lfd, int ep)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
    }
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

    for (int i = 0; i < RESP_COPIES; i++)
        memcpy(resp + i * RESP_LEN, RESP_HEAD RESP_DATE RESP_TAIL, RESP_LEN);
    date_refresh();

    int lfd = listen_on(port);
    if (lfd < 0) {
        fprintf(stderr, "listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_create1");
        return 1;
    }
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le) != 0) {
        perror("epoll_ctl");
        return 1;
    }

    struct epoll_event evs[MAX_EVENTS];
    while (!stop_flag) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            break;
        }
        date_refresh();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c)
                accept_all(lfd, ep);
            else if (conn_io(c, evs[i].events) < 0)
                conn_close(c);
        }
    }

    while (conns)
        conn_close(conns);
    close(ep);
    close(lfd);
    return 0;
}
