/* ringo_sendfile (ringo/file.h): file bytes to a socket without a trip
 * through user space. Each step is one RINGO_OP_SENDFILE: sendfile(2) on
 * the (non-blocking) socket, parking on POLLOUT when the socket buffer is
 * full. The alternatives were measured (docs/files.md): IORING_OP_SPLICE
 * through a pipe costs an io-wq hop per splice from a regular file, and
 * pread + send copies the bytes twice; sendfile was the cheapest at 4 KiB
 * and at 1 MiB. The copy path stays as the fallback for files sendfile
 * refuses (-EINVAL: no splice_read, e.g. some FUSE or proc files) and for
 * measuring (RINGO_SENDFILE=copy). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "io/backend.h"
#include "ringo/file.h"
#include "ringo/net.h"
#include "sched/sched.h"

/* One op moves at most this much, so its result fits ->io()'s int
 * (sendfile(2) itself stops at 0x7ffff000). */
#define SENDFILE_MAX_OP (1u << 30)
/* The copy path's buffer: big enough to fill a loopback socket buffer in
 * a few steps, small enough to malloc per call. */
#define COPY_BUF (64u * 1024)

/* RINGO_SENDFILE=copy forces the pread + send path (for measuring). Read
 * once; the race on first use writes the same value. */
static int copy_forced(void)
{
    static int v = -1;
    int x = __atomic_load_n(&v, __ATOMIC_RELAXED);
    if (x < 0) {
        const char *e = getenv("RINGO_SENDFILE");
        x = e && strcmp(e, "copy") == 0;
        __atomic_store_n(&v, x, __ATOMIC_RELAXED);
    }
    return x;
}

/* pread into a buffer, send it all; the same result rules as sendfile. */
static ssize_t copy_send(int sock, int fd, int64_t offset, size_t len, int64_t deadline)
{
    size_t cap = len < COPY_BUF ? len : COPY_BUF;
    char *buf = malloc(cap ? cap : 1);
    if (!buf)
        return -ENOMEM;
    size_t done = 0;
    ssize_t err = 0;
    while (done < len) {
        size_t n = len - done < cap ? len - done : cap;
        ssize_t r = ringo_pread(fd, buf, n, offset + (int64_t)done, deadline);
        if (r <= 0) {
            err = r;
            break;
        }
        size_t sent = 0;
        ssize_t s = ringo_write_all(sock, buf, (size_t)r, &sent, deadline);
        /* ringo_write_all goes through send (MSG_NOSIGNAL) on sockets */
        done += s < 0 ? sent : (size_t)s;
        if (s < 0) {
            err = s;
            break;
        }
        if ((size_t)r < n)
            break; /* end of file */
    }
    free(buf);
    return done ? (ssize_t)done : err;
}

ssize_t ringo_sendfile(int sock, int file_fd, int64_t offset, size_t len, int64_t deadline)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    if (offset < 0 || len > SSIZE_MAX || (uint64_t)offset > (uint64_t)INT64_MAX - len)
        return -EINVAL;
    if (copy_forced())
        return copy_send(sock, file_fd, offset, len, deadline);
    size_t done = 0;
    while (done < len) {
        struct ringo_op op;
        memset(&op, 0, sizeof(op));
        op.opcode = RINGO_OP_SENDFILE;
        op.fd = sock;
        op.in_fd = file_fd;
        op.offset = offset + (int64_t)done;
        op.len = len - done < SENDFILE_MAX_OP ? len - done : SENDFILE_MAX_OP;
        op.deadline = deadline;
        int r = ringo__io(&op);
        if (r == -EINVAL && done == 0 && file_fd >= 0 && sock >= 0)
            return copy_send(sock, file_fd, offset, len, deadline);
        if (r < 0)
            return done ? (ssize_t)done : r;
        if (r == 0)
            break; /* end of file */
        done += (size_t)r;
    }
    return (ssize_t)done;
}
