/* Sockets: listen, accept, connect, shutdown, close. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/backend.h"
#include "sched/sched.h"

/* Sockets follow the backend: non-blocking for epoll (readiness), blocking
 * for io_uring (the ring waits in the kernel; an O_NONBLOCK socket would
 * make it answer -EAGAIN instead). Outside a worker: non-blocking. */
static int sock_type_flags(void)
{
    struct ringo_worker *w = ringo__self;
    int nb = !w || w->be->nonblocking_fds;
    return SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0);
}

int ringo_tcp_listen(const ringo_addr *addr, int backlog, int flags)
{
    if (!addr)
        return -EINVAL;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | sock_type_flags(), IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    if ((flags & RINGO_LISTEN_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (addr->ss.ss_family == AF_INET6) {
        int v6only = (flags & RINGO_LISTEN_V6ONLY) ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero, sizeof(int)) < 0)
            goto fail;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux,
     * which saves a setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
        goto fail;
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

int ringo_accept(int lfd, ringo_addr *peer, int64_t deadline)
{
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = RINGO_OP_ACCEPT;
    op.fd = lfd;
    op.deadline = deadline;
    if (peer) {
        op.addr = (struct sockaddr *)&peer->ss;
        op.addrlen = sizeof(peer->ss);
    }
    int r = ringo__io(&op);
    if (r >= 0 && peer)
        peer->len = op.addrlen;
    return r;
}

int ringo_tcp_connect(const ringo_addr *addr, int64_t deadline)
{
    if (!addr)
        return -EINVAL;
    if (!ringo__self || !ringo__self->current)
        return RINGO_ENOTINCORO;
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | sock_type_flags(), IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = RINGO_OP_CONNECT;
    op.fd = fd;
    op.addr = (struct sockaddr *)&addr->ss;
    op.addrlen = addr->len;
    op.deadline = deadline;
    int r = ringo__io(&op);
    if (r < 0) {
        /* through the backend: epoll must forget its registration, or the
         * next socket with this number would never be added */
        ringo_close(fd);
        return r;
    }
    return fd;
}

int ringo_shutdown(int fd, int how)
{
    return shutdown(fd, how) < 0 ? -errno : 0;
}

int ringo_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    if (!ringo__self || !ringo__self->current)
        return close(fd) < 0 ? -errno : 0;
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = RINGO_OP_CLOSE;
    op.fd = fd;
    op.deadline = RINGO_FOREVER;
    return ringo__io(&op);
}

int ringo_fd_prepare(int fd)
{
    struct ringo_worker *w = ringo__self;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    int want = (!w || w->be->nonblocking_fds) ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (want != fl && fcntl(fd, F_SETFL, want) < 0)
        return -errno;
    return 0;
}
