/* The backend interface: the only door to io_uring and epoll.
 *
 * An operation record (struct ringo_op) lives in the frame of the ringo
 * call that started it, on the parked coroutine's stack. The backend owns
 * it from ->io() until ->io() returns; ->io() never returns while the
 * kernel still holds the op or the buffers it points to. */
#ifndef RINGO_IO_BACKEND_H
#define RINGO_IO_BACKEND_H

#include <linux/time_types.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct ringo_worker;
struct ringo_coro;
struct ringo_config;
struct ringo_buf;
struct bufpool;
struct statx;
struct open_how;

enum ringo_opcode {
    RINGO_OP_READ,    /* read(fd, buf, len) */
    RINGO_OP_WRITE,   /* write(fd, buf, len) */
    RINGO_OP_RECV,    /* recv(fd, buf, len, flags) */
    RINGO_OP_SEND,    /* send(fd, buf, len, flags | MSG_NOSIGNAL) */
    RINGO_OP_READV,   /* readv(fd, iov, iovcnt) */
    RINGO_OP_WRITEV,  /* writev(fd, iov, iovcnt) */
    RINGO_OP_ACCEPT,  /* accept4(fd, addr, addrlen, CLOEXEC [+NONBLOCK]) */
    RINGO_OP_CONNECT, /* connect(fd, addr, addrlen) to completion */
    RINGO_OP_CLOSE,   /* cancel this worker's ops on fd, then close it */
    RINGO_OP_POLL,    /* wait for poll events `flags` (POLLIN/POLLOUT) */
    RINGO_OP_BORROW,  /* ringo_recv_borrow: buf is the struct ringo_buf */
    /* sendfile(fd, in_fd, &offset, len) on a stream socket: a socket op
     * (readiness, park on POLLOUT), one syscall per attempt on both
     * backends; the io_uring backend first makes fd O_NONBLOCK (once per
     * fd) so the syscall never waits in the kernel on the worker. */
    RINGO_OP_SENDFILE,
    /* Files (ringo/file.h), never through the socket paths (multishot recv,
     * readiness, per-fd hints): epoll runs them on the offload pool. Path
     * ops take the path in buf and the directory fd in fd (AT_FDCWD). */
    RINGO_OP_OPENAT,   /* openat(fd, buf, flags, mode) */
    RINGO_OP_PREAD,    /* pread(fd, buf, len, offset); offset -1: read() */
    RINGO_OP_PWRITE,   /* pwrite(fd, buf, len, offset); offset -1: write() */
    RINGO_OP_FSYNC,    /* fsync(fd); flags 1: fdatasync */
    RINGO_OP_STATX,    /* statx(fd, buf, flags, len as mask, statx) */
    RINGO_OP_UNLINKAT, /* unlinkat(fd, buf, flags) */
    RINGO_OP_RENAMEAT, /* renameat(fd, buf, fd, path2) */
    RINGO_OP_OPENAT2,  /* openat2(fd, buf, how, sizeof *how) */
};

static inline int ringo__op_is_file(int opcode)
{
    return opcode >= RINGO_OP_OPENAT;
}

/* File reads and writes above RINGO_FILE_SPLIT bytes go as chunks of
 * RINGO_FILE_CHUNK, up to RINGO_FILE_DEPTH_URING SQEs in flight on
 * io_uring, RINGO_FILE_DEPTH_OFFLOAD pool jobs at once on epoll (numbers
 * in docs/files.md; -D overrides are for measuring). One op moves at most
 * RINGO_FILE_MAX_OP bytes, so its result fits the int of ->io(); larger
 * calls are several ops. */
#define RINGO_FILE_SPLIT (1u << 20)
#ifndef RINGO_FILE_CHUNK
#define RINGO_FILE_CHUNK (1u << 20)
#endif
#ifndef RINGO_FILE_DEPTH_URING
#define RINGO_FILE_DEPTH_URING 4
#endif
#ifndef RINGO_FILE_DEPTH_OFFLOAD
#define RINGO_FILE_DEPTH_OFFLOAD 4
#endif
#define RINGO_FILE_MAX_OP (1u << 30)

struct ringo_op {
    /* request, filled by the caller */
    uint8_t opcode;
    int fd;
    void *buf;
    size_t len;
    int flags;
    const struct iovec *iov;
    int iovcnt;
    struct sockaddr *addr;
    socklen_t addrlen; /* accept: in/out; connect: in */
    int64_t deadline;
    /* 1: one plain single-shot op, never through a multishot recv queue */
    uint8_t single;
    union {                   /* file ops */
        int64_t offset;       /* PREAD/PWRITE: -1 = the file position */
        unsigned mode;        /* OPENAT */
        struct statx *statx;  /* STATX: the result */
        const char *path2;    /* RENAMEAT: the new name */
        struct open_how *how; /* OPENAT2 (in the caller's frame) */
    };
    int in_fd; /* SENDFILE: the file read from (offset: where, advanced) */

    /* backend state */
    struct ringo_coro *coro;
    int32_t res;
    uint8_t pending;   /* CQEs the kernel still owes (io_uring) */
    uint8_t timed_out; /* its linked timeout fired */
    uint8_t cancel_sent;
    uint8_t zc; /* went out as SEND_ZC: a notification CQE follows */
    struct __kernel_timespec ts;
};

struct ringo_backend {
    const char *name;
    /* 1: fds must be O_NONBLOCK (readiness backend); 0: blocking fds (the
     * ring waits in the kernel). Sockets ringo creates follow this. */
    int nonblocking_fds;
    /* Set up w->be_state. Returns 0 or -errno (then the caller may try
     * the other backend). Logs only a set-up smaller than asked for (a
     * ring shrunk for RLIMIT_MEMLOCK); probe.c reports the choice. */
    int (*init)(struct ringo_worker *w, const struct ringo_config *cfg);
    /* Tear down; the kernel has let go of every op when it returns. */
    void (*fini)(struct ringo_worker *w);
    /* Run op for the calling coroutine; returns the result (>= 0 or
     * -errno). Checks deadline and cancellation itself. */
    int (*io)(struct ringo_worker *w, struct ringo_op *op);
    /* Submit what is queued, wait up to timeout_ns (0: do not wait, -1:
     * until something happens) and make every completed coroutine
     * runnable. */
    void (*poll)(struct ringo_worker *w, int64_t timeout_ns);
    /* From any thread (also a signal handler): make w's poll return. */
    void (*wake)(struct ringo_worker *w);
    /* From worker self's own thread: make target's poll return, possibly
     * through self's queue (io_uring MSG_RING: no syscall of its own, it
     * rides on self's next submit). NULL: use wake(). */
    void (*wake_from)(struct ringo_worker *self, struct ringo_worker *target);
    /* Give back a buffer lent by RINGO_OP_BORROW on this worker. */
    void (*release)(struct ringo_worker *w, struct ringo_buf *buf);
    /* Features in use, for the start-up log ("single_issuer defer_taskrun
     * ..."). */
    const char *(*features)(struct ringo_worker *w);
};

extern const struct ringo_backend ringo__uring_backend;
extern const struct ringo_backend ringo__epoll_backend;

/* Choose the backend for cfg (RINGO_BACKEND / probe) and initialise it on
 * worker w; on "auto" an io_uring failure falls back to epoll. Logs the
 * choice and why when verbose or on fallback. Returns 0 or -errno. */
int ringo__backend_select(struct ringo_worker *w, const struct ringo_config *cfg,
                          const struct ringo_backend **chosen, const char **fallback_reason);

/* Under "auto", worker failed_worker (> 0) could not set up io_uring
 * (err) after worker 0 chose it: before any coroutine runs, every worker
 * calls this to let go of its ring (if any) and start epoll instead;
 * worker 0 logs the one line and sets *fallback_reason. Returns epoll's
 * init result. */
int ringo__backend_fall_back(struct ringo_worker *w, const struct ringo_config *cfg,
                             int failed_worker, int err, const char **fallback_reason);

/* RINGO_OP_BORROW done as one plain read into a pool buffer, through the
 * backend's own io (op->single set): both backends' path when no
 * kernel-filled buffer is at hand. */
int ringo__borrow_single(struct ringo_worker *w, struct bufpool *pool, struct ringo_op *op,
                         int (*io)(struct ringo_worker *, struct ringo_op *));

/* epoll's way to run a file op (any RINGO_OP_OPENAT..RENAMEAT): on the
 * offload pool, a large PREAD/PWRITE as chunks on several pool threads.
 * Returns the result as ->io() does. */
int ringo__file_offload(struct ringo_worker *w, struct ringo_op *op);

/* The I/O entry point for src/net: runs op on the calling coroutine's
 * worker. Returns RINGO_ENOTINCORO outside a coroutine. */
int ringo__io(struct ringo_op *op);

#endif
