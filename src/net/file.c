/* File I/O (ringo/file.h): each call is one backend operation, except
 * reads and writes beyond RINGO_FILE_MAX_OP, which are several. The
 * backends split large ones into chunks in flight together. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "io/backend.h"
#include "sched/sched.h"

/* Checks every file call makes the same way on both backends, before
 * anything reaches the kernel: a deadline already passed (RINGO_NOWAIT
 * too) fails at once, as nothing about a file can be had without
 * waiting on epoll's pool, and an io_uring op that completes inline would
 * otherwise outrun its linked timeout. */
static int file_io(struct ringo_op *op)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    if (w->current->cancelled)
        return -ECANCELED;
    if (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now()) {
        STAT_INC(w, timeouts);
        return -ETIMEDOUT;
    }
    return ringo__io(op);
}

static void op_init(struct ringo_op *op, int opcode, int fd, int64_t deadline)
{
    memset(op, 0, sizeof(*op));
    op->opcode = (uint8_t)opcode;
    op->fd = fd;
    op->deadline = deadline;
}

int ringo_open(const char *path, int flags, mode_t mode, int64_t deadline)
{
    struct ringo_op op;
    op_init(&op, RINGO_OP_OPENAT, AT_FDCWD, deadline);
    op.buf = (void *)path;
    op.flags = flags | O_CLOEXEC;
    op.mode = mode;
    return file_io(&op);
}

static ssize_t rw(int opcode, int fd, void *buf, size_t len, int64_t offset, int64_t deadline)
{
    if (offset < -1 || len > SSIZE_MAX)
        return -EINVAL;
    struct ringo_op op;
    op_init(&op, opcode, fd, deadline);
    size_t done = 0;
    do {
        size_t n = len - done < RINGO_FILE_MAX_OP ? len - done : RINGO_FILE_MAX_OP;
        op.buf = (char *)buf + done;
        op.len = n;
        op.offset = offset < 0 ? -1 : offset + (int64_t)done;
        int r = file_io(&op);
        if (r < 0)
            return done ? (ssize_t)done : r;
        done += (size_t)r;
        if ((size_t)r < n)
            break;
    } while (done < len);
    return (ssize_t)done;
}

ssize_t ringo_pread(int fd, void *buf, size_t len, int64_t offset, int64_t deadline)
{
    return rw(RINGO_OP_PREAD, fd, buf, len, offset, deadline);
}

ssize_t ringo_pwrite(int fd, const void *buf, size_t len, int64_t offset, int64_t deadline)
{
    return rw(RINGO_OP_PWRITE, fd, (void *)buf, len, offset, deadline);
}

int ringo_fsync(int fd, int datasync, int64_t deadline)
{
    struct ringo_op op;
    op_init(&op, RINGO_OP_FSYNC, fd, deadline);
    op.flags = datasync ? 1 : 0;
    return file_io(&op);
}

int ringo_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out,
                int64_t deadline)
{
    struct ringo_op op;
    op_init(&op, RINGO_OP_STATX, dirfd, deadline);
    op.buf = (void *)path;
    op.flags = flags;
    op.len = mask;
    op.statx = out;
    return file_io(&op);
}

int ringo_unlink(const char *path, int flags, int64_t deadline)
{
    struct ringo_op op;
    op_init(&op, RINGO_OP_UNLINKAT, AT_FDCWD, deadline);
    op.buf = (void *)path;
    op.flags = flags;
    return file_io(&op);
}

int ringo_rename(const char *from, const char *to, int64_t deadline)
{
    struct ringo_op op;
    op_init(&op, RINGO_OP_RENAMEAT, AT_FDCWD, deadline);
    op.buf = (void *)from;
    op.path2 = to;
    return file_io(&op);
}

int ringo_open_beneath(int dirfd, const char *path, int flags, int64_t deadline)
{
    /* The open_how lives in this frame: on io_uring the kernel reads it
     * when the op is issued (maybe on io-wq), and ->io() returns only
     * after the CQE. */
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? 0666 : 0;
    /* Not RESOLVE_NO_SYMLINKS: a site may link inside its root (e.g.
     * latest -> v2/); BENEATH already refuses links that leave it. Not
     * RESOLVE_NO_XDEV: mounts below the root are part of it. */
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    struct ringo_op op;
    op_init(&op, RINGO_OP_OPENAT2, dirfd, deadline);
    op.buf = (void *)path;
    op.how = &how;
    return file_io(&op);
}
