/* Byte I/O on descriptors: each call is one backend operation. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "io/backend.h"
#include "sched/sched.h"

static ssize_t one_op(int opcode, int fd, void *buf, size_t len, int flags, int64_t deadline)
{
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = (uint8_t)opcode;
    op.fd = fd;
    op.buf = buf;
    op.len = len;
    op.flags = flags;
    op.deadline = deadline;
    return ringo__io(&op);
}

static ssize_t vec_op(int opcode, int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return -EINVAL;
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = (uint8_t)opcode;
    op.fd = fd;
    op.iov = iov;
    op.iovcnt = iovcnt;
    op.deadline = deadline;
    return ringo__io(&op);
}

ssize_t ringo_read(int fd, void *buf, size_t len, int64_t deadline)
{
    return one_op(RINGO_OP_READ, fd, buf, len, 0, deadline);
}

ssize_t ringo_write(int fd, const void *buf, size_t len, int64_t deadline)
{
    return one_op(RINGO_OP_WRITE, fd, (void *)buf, len, 0, deadline);
}

ssize_t ringo_recv(int fd, void *buf, size_t len, int flags, int64_t deadline)
{
    return one_op(RINGO_OP_RECV, fd, buf, len, flags, deadline);
}

ssize_t ringo_send(int fd, const void *buf, size_t len, int flags, int64_t deadline)
{
    return one_op(RINGO_OP_SEND, fd, (void *)buf, len, flags, deadline);
}

ssize_t ringo_readv(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    return vec_op(RINGO_OP_READV, fd, iov, iovcnt, deadline);
}

ssize_t ringo_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    return vec_op(RINGO_OP_WRITEV, fd, iov, iovcnt, deadline);
}

ssize_t ringo_write_all(int fd, const void *buf, size_t len, size_t *written, int64_t deadline)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        /* send, not write: MSG_NOSIGNAL even if SIGPIPE is not ignored.
         * ENOTSOCK (a pipe or file): fall back to write. */
        ssize_t n = one_op(RINGO_OP_SEND, fd, (void *)(p + done), len - done, 0, deadline);
        if (n == -ENOTSOCK)
            n = one_op(RINGO_OP_WRITE, fd, (void *)(p + done), len - done, 0, deadline);
        if (n < 0) {
            if (written)
                *written = done;
            return n;
        }
        done += (size_t)n;
    }
    if (written)
        *written = done;
    return (ssize_t)done;
}

ssize_t ringo_read_full(int fd, void *buf, size_t len, size_t *got, int64_t deadline)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = one_op(RINGO_OP_READ, fd, p + done, len - done, 0, deadline);
        if (n < 0) {
            if (got)
                *got = done;
            return n;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    if (got)
        *got = done;
    return (ssize_t)done;
}

ssize_t ringo_recv_borrow(int fd, ringo_buf *buf, int64_t deadline)
{
    if (!buf)
        return -EINVAL;
    buf->data = NULL;
    buf->len = 0;
    buf->owner_ = 0;
    struct ringo_op op;
    memset(&op, 0, sizeof(op));
    op.opcode = RINGO_OP_BORROW;
    op.fd = fd;
    op.buf = buf;
    op.deadline = deadline;
    return ringo__io(&op);
}

int ringo_buf_release(ringo_buf *buf)
{
    struct ringo_worker *w = ringo__self;
    if (!buf || buf->owner_ == 0)
        return -EINVAL;
    if (!w || buf->owner_ != (uint32_t)w->id + 1)
        return -EXDEV;
    w->be->release(w, buf);
    buf->owner_ = 0;
    buf->data = NULL;
    buf->len = 0;
    return 0;
}
