/* Sockets: listen, accept, connect, shutdown, close. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* The listening socket itself, with the options flags ask for. */
static int listen_socket(const ringo_addr *addr, int backlog, int flags)
{
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

/* Bind a socket to addr as the listener would, but without SO_REUSEPORT,
 * and let it go again. The kernel refuses it (-EADDRINUSE) exactly when
 * something listens on the address, a SO_REUSEPORT listener of any
 * process included (a socket without the option may share with none);
 * TIME_WAIT and open connections of an earlier server do not count
 * (SO_REUSEADDR on both sides, neither listening). Other errors
 * (-EACCES, -EADDRNOTAVAIL) are the ones the real bind would meet. */
static int bind_probe(const ringo_addr *addr, int flags)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0, r = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        r = -errno;
    /* dual-stack like the listener: a v4 listener on the port counts */
    if (!r && addr->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & RINGO_LISTEN_V6ONLY) ? &one : &zero,
                   sizeof(int)) < 0)
        r = -errno;
    if (!r && bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
        r = -errno;
    close(fd);
    return r;
}

static bool same_addr(const struct sockaddr_storage *ss, const ringo_addr *addr)
{
    if (ss->ss_family != addr->ss.ss_family)
        return false;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss, *b = (const void *)&addr->ss;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)&addr->ss;
        return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
               !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
    }
    return false;
}

/* fd is a listening TCP socket with SO_REUSEPORT bound to exactly addr. */
static bool reuseport_listener_on(int fd, const ringo_addr *addr)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    int v = 0;
    socklen_t len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v)
        return false;
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) < 0 || v != IPPROTO_TCP)
        return false;
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &len) < 0 || !v)
        return false;
    struct sockaddr_storage ss;
    len = sizeof(ss);
    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && same_addr(&ss, addr);
}

/* Whether the SO_REUSEPORT group on addr is ours: one of this process's
 * own descriptors is a member. The kernel cannot tell (it groups by user,
 * not process), so look through /proc/self/fd - once per listen, and only
 * when the probe found the port taken. */
static bool own_group_on(const ringo_addr *addr)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false; /* cannot tell: refuse rather than share */
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || fd == dirfd(d))
            continue;
        found = reuseport_listener_on((int)fd, addr);
    }
    closedir(d);
    return found;
}

int ringo_tcp_listen(const ringo_addr *addr, int backlog, int flags)
{
    if (!addr || (flags & ~(RINGO_LISTEN_REUSEPORT | RINGO_LISTEN_V6ONLY | RINGO_LISTEN_SHARED)))
        return -EINVAL;
    if (flags & RINGO_LISTEN_SHARED)
        flags |= RINGO_LISTEN_REUSEPORT;
    else if ((flags & RINGO_LISTEN_REUSEPORT) && ringo_addr_port(addr) != 0) {
        /* Port 0 needs no look: the kernel never picks a port in use. */
        int r = bind_probe(addr, flags);
        if (r < 0 && (r != -EADDRINUSE || !own_group_on(addr)))
            return r;
    }
    return listen_socket(addr, backlog, flags);
}

int ringo_tcp_listen_join(int lfd, int backlog)
{
    int v = 0;
    socklen_t len = sizeof(v);
    if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
        return -errno;
    if (!v)
        return -EINVAL;
    len = sizeof(v);
    if (getsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &v, &len) < 0)
        return -errno;
    if (!v)
        return -EINVAL;
    ringo_addr a;
    len = sizeof(a.ss);
    if (getsockname(lfd, (struct sockaddr *)&a.ss, &len) < 0)
        return -errno;
    a.len = len;
    int flags = RINGO_LISTEN_REUSEPORT;
    if (a.ss.ss_family == AF_INET6) {
        len = sizeof(v);
        if (getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0 && v)
            flags |= RINGO_LISTEN_V6ONLY;
    }
    return listen_socket(&a, backlog, flags);
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
