/* File ops on the offload pool: the epoll backend's way. epoll cannot wait
 * for a regular file (it is always "ready", and a read that must go to
 * the disk blocks the thread), so each op runs as a plain syscall on a
 * pool thread while the coroutine parks (ringo_offload). A large read or
 * write is split into chunks run by several helper coroutines at once,
 * each with its own ringo_offload, so several pool threads work on it.
 * Deadline and cancel follow ringo_offload: a chunk still queued is
 * dropped, one running is waited for, so the caller's buffer is never
 * touched after the call returns. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/backend.h"
#include "sched/coro.h"
#include "sched/sched.h"

/* One syscall's worth, on the caller's stack while it waits. */
struct fjob {
    const struct ringo_op *op;
    void *buf; /* PREAD/PWRITE: this chunk */
    size_t len;
    int64_t off;
    ssize_t res;
};

/* On a pool thread: errno is that thread's own, read right after the
 * call. */
static void run_job(void *arg)
{
    struct fjob *j = arg;
    const struct ringo_op *op = j->op;
    ssize_t r;
    switch ((enum ringo_opcode)op->opcode) {
    case RINGO_OP_OPENAT:
        r = openat(op->fd, op->buf, op->flags, op->mode);
        break;
    case RINGO_OP_PREAD:
        r = j->off < 0 ? read(op->fd, j->buf, j->len) : pread(op->fd, j->buf, j->len, j->off);
        break;
    case RINGO_OP_PWRITE:
        r = j->off < 0 ? write(op->fd, j->buf, j->len) : pwrite(op->fd, j->buf, j->len, j->off);
        break;
    case RINGO_OP_FSYNC:
        r = op->flags ? fdatasync(op->fd) : fsync(op->fd);
        break;
    case RINGO_OP_STATX:
        r = statx(op->fd, op->buf, op->flags, (unsigned)op->len, op->statx);
        break;
    case RINGO_OP_UNLINKAT:
        r = unlinkat(op->fd, op->buf, op->flags);
        break;
    case RINGO_OP_RENAMEAT:
        r = renameat(op->fd, op->buf, op->fd, op->path2);
        break;
    case RINGO_OP_OPENAT2: /* no glibc wrapper (2.36) */
        r = syscall(SYS_openat2, op->fd, op->buf, op->how, sizeof(*op->how));
        break;
    default:
        r = -1;
        errno = EINVAL;
    }
    j->res = r < 0 ? -errno : r;
}

static ssize_t offload_one(const struct ringo_op *op, void *buf, size_t len, int64_t off)
{
    struct fjob j = {.op = op, .buf = buf, .len = len, .off = off, .res = 0};
    int r = ringo_offload(run_job, &j, op->deadline);
    return r < 0 ? r : j.res;
}

/* ---- large reads and writes: chunks on several pool threads ---- */

struct chunks {
    const struct ringo_op *op;
    size_t n;    /* chunks in all */
    size_t next; /* next chunk to take */
    size_t bad;  /* first short or failed chunk (n: none yet) */
    ssize_t bad_res;
    int stop;   /* take no more chunks */
    int reason; /* -ECANCELED / -ETIMEDOUT when that stopped it */
    int cancel_sent;
    int running; /* helpers still alive */
    int started;
    struct ringo_coro *parent;
    struct ringo_coro *helper[RINGO_FILE_DEPTH_OFFLOAD]; /* NULL once gone */
};

/* Stop taking chunks; on a cancel also cancel the helpers, so chunks they
 * have queued are dropped (running ones are waited for by each helper's
 * ringo_offload). All on the caller's worker: no locking. */
static void chunks_stop(struct chunks *g, int reason)
{
    g->stop = 1;
    if (!g->reason)
        g->reason = reason;
    if (reason != -ECANCELED || g->cancel_sent)
        return;
    g->cancel_sent = 1;
    struct ringo_coro *self = ringo_self();
    for (int i = 0; i < RINGO_FILE_DEPTH_OFFLOAD; i++)
        if (g->helper[i] && g->helper[i] != self)
            ringo__cancel_local(g->helper[i]);
}

static void chunks_work(struct chunks *g)
{
    const struct ringo_op *op = g->op;
    while (!g->stop && g->next < g->bad && g->next < g->n) {
        if (g->parent->cancelled || ringo_cancelled()) {
            chunks_stop(g, -ECANCELED);
            break;
        }
        if (op->deadline != RINGO_FOREVER && op->deadline <= ringo_now()) {
            chunks_stop(g, -ETIMEDOUT);
            break;
        }
        size_t i = g->next++;
        size_t off = i * RINGO_FILE_CHUNK;
        size_t len = op->len - off < RINGO_FILE_CHUNK ? op->len - off : RINGO_FILE_CHUNK;
        ssize_t r = offload_one(op, (char *)op->buf + off, len,
                                op->offset < 0 ? -1 : op->offset + (int64_t)off);
        if (r != (ssize_t)len && i < g->bad) {
            g->bad = i;
            g->bad_res = r;
        }
    }
}

static void chunks_helper(void *arg)
{
    struct chunks *g = arg;
    int me = g->started++;
    g->helper[me] = ringo_self();
    chunks_work(g);
    g->helper[me] = NULL;
    if (--g->running == 0)
        ringo__ready(g->parent, 0);
}

/* The caller parks while the helpers work; a cancel reaching it goes on
 * to them. It stays parked until the last helper is gone: they use its
 * frame. */
static void chunks_interrupt(struct ringo_coro *c, int reason)
{
    chunks_stop(c->interrupt_arg, reason);
}

/* O_APPEND makes the kernel ignore each chunk's offset: chunks written at
 * once could land out of order. */
static int appending(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_APPEND);
}

static int chunked(struct ringo_worker *w, struct ringo_op *op)
{
    struct ringo_coro *c = w->current;
    if (c->cancelled)
        return -ECANCELED;
    struct chunks g;
    memset(&g, 0, sizeof(g));
    g.op = op;
    g.n = (op->len + RINGO_FILE_CHUNK - 1) / RINGO_FILE_CHUNK;
    g.bad = g.n;
    g.parent = c;
    int depth = RINGO_FILE_DEPTH_OFFLOAD;
    if (op->offset < 0 || (op->opcode == RINGO_OP_PWRITE && appending(op->fd)))
        depth = 1; /* in order, one at a time */
    for (int i = 0; depth > 1 && i < depth && (size_t)i < g.n; i++)
        if (ringo_go(chunks_helper, &g, NULL) == 0)
            g.running++;
    if (g.running == 0) {
        chunks_work(&g); /* in order, or no helper could be had */
    } else {
        while (g.running) {
            if (c->cancelled && !g.cancel_sent) {
                chunks_stop(&g, -ECANCELED);
                continue;
            }
            ringo__park(RINGO_FOREVER, chunks_interrupt, &g);
        }
    }
    if (g.next < g.bad && g.next < g.n) { /* stopped early: the rest never ran */
        g.bad = g.next;
        g.bad_res = g.reason;
    }
    if (g.bad == g.n)
        return (int)op->len;
    size_t done = g.bad * RINGO_FILE_CHUNK + (g.bad_res > 0 ? (size_t)g.bad_res : 0);
    if (done > 0)
        return (int)done;
    if (g.bad_res == -ETIMEDOUT)
        STAT_INC(w, timeouts);
    else if (g.bad_res == -ECANCELED)
        STAT_INC(w, cancels);
    return (int)g.bad_res;
}

int ringo__file_offload(struct ringo_worker *w, struct ringo_op *op)
{
    STAT_INC(w, ops);
    int rw = op->opcode == RINGO_OP_PREAD || op->opcode == RINGO_OP_PWRITE;
    if (rw && op->len > RINGO_FILE_SPLIT)
        return chunked(w, op);
    ssize_t r = offload_one(op, op->buf, op->len, rw ? op->offset : 0);
    if (r == -ETIMEDOUT)
        STAT_INC(w, timeouts);
    else if (r == -ECANCELED)
        STAT_INC(w, cancels);
    return (int)r;
}
