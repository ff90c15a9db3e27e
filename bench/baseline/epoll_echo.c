/*
 * baseline-epoll-echo: a hand-written, single-threaded epoll echo server.
 *
 * This is the "no runtime" reference point for the epoll side of the echo
 * benchmark: the classic best-practice readiness loop, written the way a
 * careful C programmer would, so that any cost ringo adds on top of epoll
 * shows up as a difference against this program.
 *
 *   usage: baseline-epoll-echo PORT
 *
 * Listens on [::]:PORT dual-stack (0.0.0.0:PORT if IPv6 is unavailable).
 * Exits cleanly on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { READ_CHUNK = 64 * 1024, MAX_EVENTS = 512 };

struct conn {
    int fd;
    /* Bytes read but not yet written back (only after a short write).
     * While this is non-empty we stop reading: that is the backpressure
     * that keeps one slow reader from making us buffer without bound. */
    char *pend;
    size_t pend_off, pend_len;
    /* Doubly linked so shutdown can free every connection. */
    struct conn *prev, *next;
};

static volatile sig_atomic_t stop_flag;
static struct conn *conns;
static char rbuf[READ_CHUNK];

static void on_stop(int sig)
{
    stop_flag = 1;
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
    /* No IPv6 (disabled kernel or sysctl): fall back to IPv4 only. */
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
    /* TCP_NODELAY on the listener is inherited by accepted sockets on
     * Linux; we still set it per connection below to not depend on it. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_close(struct conn *c)
{
    /* close() also drops the fd from the epoll set (we never dup it). */
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->pend);
    free(c);
}

/* Write out the pending bytes. Returns 1 when drained, 0 on EAGAIN (wait
 * for EPOLLOUT), -1 on a fatal error. */
static int flush_pending(struct conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->pend_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 0;
        } else {
            return -1;
        }
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
    return 1;
}

/* Keep what the socket would not take; reading stops until it is sent. */
static int keep_pending(struct conn *c, const char *p, size_t len)
{
    c->pend = malloc(len);
    if (!c->pend)
        return -1;
    memcpy(c->pend, p, len);
    c->pend_off = 0;
    c->pend_len = len;
    return 0;
}

/* Echo whatever is readable. Returns -1 when the connection is done. */
static int conn_io(struct conn *c, uint32_t ev)
{
    if (ev & (EPOLLERR | EPOLLHUP))
        return -1;
    if (c->pend) {
        int r = flush_pending(c);
        if (r <= 0)
            return r;
        /* Drained: fall through and read again, since edge-triggered
         * epoll will not report the input we left unread. */
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
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t w = send(c->fd, rbuf + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && errno == EAGAIN) {
                /* Short write: buffer the rest and wait for
                 * EPOLLOUT (already in our interest set). */
                return keep_pending(c, rbuf + off, (size_t)n - off);
            } else {
                return -1;
            }
        }
        /* A short read on a stream socket means the receive queue was
         * empty at that moment; any later data raises a new edge, so
         * skip the read that would only return EAGAIN (nginx does the
         * same). A pending FIN (EPOLLRDHUP) produces no further edge,
         * so in that case keep reading until we see the 0. */
        if ((size_t)n < sizeof(rbuf) && !(ev & EPOLLRDHUP))
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
            /* EAGAIN: done. EMFILE and friends: the listener is
             * level-triggered, so we will simply be told again. */
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
        /* Register for both directions once, edge-triggered, so the
         * steady state needs no epoll_ctl at all: EPOLLOUT only fires
         * after a send hit EAGAIN. */
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
    /* No SA_RESTART: epoll_wait must return EINTR so we notice. */
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

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
    /* The listener stays level-triggered: if accept4 fails with EMFILE we
     * want to be reminded rather than lose the pending connections. A
     * NULL data.ptr tells it apart from connections. */
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
        /* Each fd appears at most once per batch, so closing a
         * connection here cannot leave a dangling pointer in evs. */
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
