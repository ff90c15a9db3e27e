/* ringo/net.h - sockets and byte I/O for coroutines.
 *
 * Every call here is made from a coroutine and parks only that coroutine.
 * On io_uring the call becomes one SQE (plus a linked timeout when a
 * deadline is given) whose completion resumes the coroutine directly; on
 * epoll it tries the non-blocking syscall and parks on EAGAIN until the fd
 * is ready. Both backends return the same values.
 *
 * Buffer ownership: a buffer (or iovec array, or address) passed to a call
 * belongs to the kernel until that call returns, and to the caller again
 * after it returns - also on -ETIMEDOUT and -ECANCELED: ringo cancels the
 * kernel operation and waits for its final completion before returning.
 *
 * Descriptors: ringo sockets are created close-on-exec. An fd should be
 * used from one worker at a time and closed with ringo_close() on the
 * worker that used it last (closing cancels that worker's pending calls on
 * it). Sockets created by ringo are blocking on io_uring and non-blocking
 * on epoll. Pass fds from elsewhere through ringo_fd_prepare() first: a
 * blocking fd would block the whole worker on epoll. (O_NONBLOCK fds also
 * work unprepared: io_uring polls and retries on -EAGAIN.)
 *
 * Common errors of every call: -ETIMEDOUT (deadline passed; nothing was
 * transferred), -ECANCELED (caller cancelled, or the fd was closed by
 * another coroutine; nothing transferred), RINGO_ENOTINCORO, and the
 * kernel's own -errno (-ECONNRESET, -EPIPE, -EBADF, ...).
 */
#ifndef RINGO_NET_H
#define RINGO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An IPv4 or IPv6 socket address with its length. */
typedef struct ringo_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} ringo_addr;

/* Parse "host:port", "[v6]:port" or ":port" (numeric hosts only; ":port"
 * and "*:port" mean all IPv6+IPv4 addresses) into *addr. Returns 0 or
 * -EINVAL. Never blocks. */
int ringo_addr_parse(ringo_addr *addr, const char *text);

/* Format addr as "1.2.3.4:80" or "[::1]:80" into buf (NUL-terminated,
 * truncated to len). Returns the length it needed (like snprintf) or
 * -EAFNOSUPPORT. */
int ringo_addr_format(const ringo_addr *addr, char *buf, size_t len);

/* Port of addr in host order, or -EAFNOSUPPORT. */
int ringo_addr_port(const ringo_addr *addr);

/* Listening TCP socket options for ringo_tcp_listen. */
#define RINGO_LISTEN_REUSEPORT                                                                     \
    0x1                         /* SO_REUSEPORT: one listener per worker, the                      \
                                   kernel spreads connections over the group;                      \
                                   only with this process's own listeners */
#define RINGO_LISTEN_V6ONLY 0x2 /* IPv6 only (default: dual-stack) */
#define RINGO_LISTEN_SHARED                                                                        \
    0x4 /* SO_REUSEPORT with anyone the kernel allows:                                             \
           other processes of the same user too (e.g.                                              \
           to hand a port over to a new binary);                                                   \
           implies RINGO_LISTEN_REUSEPORT */

/* Create a TCP listener bound to addr (SO_REUSEADDR always, so TIME_WAIT
 * connections of an earlier server do not block the port; flags above)
 * with the given backlog (<= 0: SOMAXCONN). Returns the fd or -errno:
 * -EADDRINUSE when something listens on the address already, -EACCES,
 * -EADDRNOTAVAIL, -EINVAL (unknown flags), ...
 * The kernel lets any SO_REUSEPORT socket of the same user join a group,
 * another process's too. With RINGO_LISTEN_REUSEPORT alone ringo refuses
 * that: the address must be free, or listened on by a SO_REUSEPORT socket
 * of this process (found among its descriptors), else -EADDRINUSE. A
 * process that binds in the moment between that check and the bind can
 * still join (docs/design.md); ringo_tcp_listen_join needs no check.
 * Never blocks. */
int ringo_tcp_listen(const ringo_addr *addr, int backlog, int flags);

/* Another listener in the SO_REUSEPORT group of lfd (a listener made with
 * RINGO_LISTEN_REUSEPORT or RINGO_LISTEN_SHARED): same address and port
 * (the one the kernel picked for port 0 included) and V6ONLY setting.
 * The usual way to give each worker its own listener. Returns the fd or
 * -errno (-EINVAL if lfd is not a listening SO_REUSEPORT socket,
 * -ENOTSOCK, -EBADF). Never blocks. */
int ringo_tcp_listen_join(int lfd, int backlog);

/* Accept one connection. If peer is not NULL it receives the peer address.
 * Returns the new fd (close-on-exec, TCP_NODELAY set) or -errno: -EMFILE /
 * -ENFILE when out of descriptors (the listener stays usable; back off and
 * retry), -ETIMEDOUT, -ECANCELED. */
int ringo_accept(int lfd, ringo_addr *peer, int64_t deadline);

/* Connect a new TCP socket to addr. Returns the fd (TCP_NODELAY set) or
 * -errno (-ECONNREFUSED, -ETIMEDOUT, -ECANCELED, ...); on failure no fd is
 * left open. */
int ringo_tcp_connect(const ringo_addr *addr, int64_t deadline);

/* Connect to "host:port" ("example.com:80", "10.0.0.1:80", "[::1]:80";
 * the port may be a service name). The name is resolved with getaddrinfo
 * on the offload pool (ringo/offload.h), then each address is tried in
 * order until one connects, all within the one deadline. Returns the fd
 * (TCP_NODELAY set) or: -EINVAL (no ":port"), RINGO_ENONAME (no such
 * host), RINGO_ERESOLVE (resolver failure), -EAGAIN (temporary resolver
 * failure), the last connect error (-ECONNREFUSED, ...), -ETIMEDOUT,
 * -ECANCELED, RINGO_ENOTINCORO. A resolution still running at the
 * deadline is abandoned to its pool thread (which frees it).
 * -EINVAL also for an empty host, "*", an IPv6 address without brackets,
 * stray brackets, a numeric port above 65535 (checked first, even outside
 * a coroutine); -ENOMEM; RINGO_ESTOPPED; an unknown service name gives
 * RINGO_ERESOLVE; EAI_SYSTEM gives the pool thread's -errno. Numeric hosts
 * skip the resolver. */
int ringo_dial(const char *hostport, int64_t deadline);

/* Read up to len bytes. Returns bytes read (> 0), 0 at end of stream, or
 * -errno; -EBUSY if another coroutine already waits to read this socket.
 * On io_uring, stream sockets are read through a multishot recv into the
 * worker's buffer ring and this copies out of it (ringo_recv_borrow does
 * not copy). */
ssize_t ringo_read(int fd, void *buf, size_t len, int64_t deadline);

/* Write up to len bytes once (may be short), with write(2) semantics.
 * Returns bytes written or -errno (-EPIPE if the peer is gone). Like
 * write(2) it raises SIGPIPE on a broken socket or pipe unless SIGPIPE is
 * ignored, which ringo_main does by default (ringo_config.ignore_sigpipe);
 * ringo_send and ringo_write_all never raise it on sockets. */
ssize_t ringo_write(int fd, const void *buf, size_t len, int64_t deadline);

/* Write all len bytes, looping over short writes. Returns len, or -errno if
 * an error or the deadline stopped it; *written (if not NULL) then says how
 * many bytes went out before. */
ssize_t ringo_write_all(int fd, const void *buf, size_t len, size_t *written, int64_t deadline);

/* Read exactly len bytes unless the stream ends. Returns len, the short
 * count at end of stream, or -errno (bytes read before an error are
 * reported through *got if not NULL). */
ssize_t ringo_read_full(int fd, void *buf, size_t len, size_t *got, int64_t deadline);

/* A receive buffer lent by ringo_recv_borrow: data[0, len) holds the
 * bytes received and stays valid until ringo_buf_release. The other
 * fields are ringo's. */
typedef struct ringo_buf {
    void *data;
    size_t len;
    uint32_t id_;    /* buffer id in the worker's pool */
    uint32_t owner_; /* worker that lent it, + 1 */
} ringo_buf;

/* Receive without copying: on io_uring with multishot recv the bytes are
 * in a buffer the kernel filled from the worker's provided-buffer ring,
 * handed over as is; elsewhere one recv into a pool buffer. Returns the
 * byte count (> 0, also in buf->len), 0 at end of stream (nothing lent),
 * or -errno (nothing lent). At most ringo_config.recv_buffer_size bytes
 * per call. Bytes come in stream order, interleaved correctly with
 * ringo_read/ringo_recv on the same fd. -EBUSY: another coroutine is
 * already waiting to read this fd. Parks until data, end of stream, the
 * deadline or a cancel. The caller owns the buffer until it passes it to
 * ringo_buf_release; holding many starves the pool (reads then fall back
 * to single-shot recv, counted in recv_fallbacks). */
ssize_t ringo_recv_borrow(int fd, ringo_buf *buf, int64_t deadline);

/* Give a borrowed buffer back (to the kernel's buffer ring, or the pool).
 * Must run on the worker that lent it (any coroutine there). Returns 0;
 * -EXDEV on another worker or outside the runtime (the buffer stays
 * lent); -EINVAL for a buffer that is not lent. Never blocks. */
int ringo_buf_release(ringo_buf *buf);

/* recv(2)/send(2) with flags (MSG_NOSIGNAL is always added to send).
 * MSG_DONTWAIT returns -EAGAIN at once instead of parking. On io_uring
 * with bytes of the socket already queued by its multishot recv, recv
 * supports MSG_PEEK, MSG_DONTWAIT and MSG_WAITALL; other flags then give
 * -EOPNOTSUPP. Sends of at least ringo_config.zc_threshold bytes go out
 * zero-copy and return only once the kernel let go of buf (see
 * docs/ownership.md: this can outlast the deadline). */
ssize_t ringo_recv(int fd, void *buf, size_t len, int flags, int64_t deadline);
ssize_t ringo_send(int fd, const void *buf, size_t len, int flags, int64_t deadline);

/* Vectored read/write (iovcnt <= IOV_MAX). The iovec array and the buffers
 * it points to belong to the kernel until the call returns. */
ssize_t ringo_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);
ssize_t ringo_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);

/* shutdown(2): how = SHUT_RD, SHUT_WR or SHUT_RDWR. Returns 0 or -errno.
 * Does not block. */
int ringo_shutdown(int fd, int how);

/* Close fd: first cancels this worker's pending ringo calls on it (they
 * return -ECANCELED after the kernel has released their buffers), then
 * closes. Returns 0 or -errno (-EBADF). May park briefly for the cancel. */
int ringo_close(int fd);

/* Set or clear O_NONBLOCK on fd for the backend in use (sockets from
 * outside ringo). Returns 0 or -errno. */
int ringo_fd_prepare(int fd);

#ifdef __cplusplus
}
#endif
#endif
