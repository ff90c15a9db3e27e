/* src/base/fault.c - fault injection for tests (see fault.h). Built only
 * with -DRINGO_FAULT; in a release build this file is empty.
 *
 * The plan lives in a thread-local, not in struct ringo_worker: the
 * allocator hook below must reach it from any malloc call, including
 * ones made by libc on the worker's thread, where no worker pointer is at
 * hand. It is still owned by exactly one thread (each worker its own), so
 * the house rule's reason - no state shared between workers - holds, and
 * no release build carries it. */
#include "base/fault.h"

#ifdef RINGO_FAULT

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/log.h"
#include "io/backend.h"
#include "sched/sched.h"

#define MAX_EXEMPT 64
#define CUT_IOV    16 /* iovecs copied to cut inside an entry */

struct fault_state {
    bool inited; /* RINGO_FAULT consulted (or a plan set) */
    bool armed;
    struct ringo_fault_plan plan;
    bool random_cut[RINGO_FAULT_RULES]; /* from the environment: 1..cut at random */
    unsigned long events[RINGO_FAULT_RULES];
    unsigned long hits[RINGO_FAULT_RULES];
    uint64_t rng;
    uint64_t exempt[MAX_EXEMPT]; /* current_id() of each */
    int nexempt;
};

static _Thread_local struct fault_state fs __attribute__((tls_model("initial-exec")));

static uint64_t next_rand(void)
{
    uint64_t x = fs.rng ? fs.rng : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fs.rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The running coroutine's id + 1 (ids start at 0); 0 in the scheduler. */
static uint64_t current_id(void)
{
    struct ringo_worker *w = ringo__self;
    return w && w->current ? w->current->id + 1 : 0;
}

static bool exempt_now(void)
{
    uint64_t id = current_id();
    if (!id)
        return false; /* the scheduler itself is never exempt */
    for (int i = 0; i < fs.nexempt; i++)
        if (fs.exempt[i] == id)
            return true;
    return false;
}

/* Count a matching event for rule i; true if it fires. */
static bool fire(int i)
{
    const struct ringo_fault_rule *r = &fs.plan.rule[i];
    unsigned long n = ++fs.events[i];
    bool f;
    if (r->nth)
        f = n == r->nth;
    else if (r->every > 1)
        f = next_rand() % r->every == 0;
    else
        f = true;
    if (f)
        fs.hits[i]++;
    return f;
}

void ringo__fault_set(const struct ringo_fault_plan *plan)
{
    memset(&fs, 0, sizeof(fs));
    fs.inited = true;
    if (!plan)
        return;
    fs.plan = *plan;
    fs.rng = plan->seed ? plan->seed : 1;
    for (int i = 0; i < RINGO_FAULT_RULES; i++)
        fs.armed |= plan->rule[i].kind != 0;
    ringo__fault_exempt();
}

void ringo__fault_exempt(void)
{
    uint64_t id = current_id();
    if (id && fs.nexempt < MAX_EXEMPT)
        fs.exempt[fs.nexempt++] = id;
}

unsigned long ringo__fault_events(int rule)
{
    return rule >= 0 && rule < RINGO_FAULT_RULES ? fs.events[rule] : 0;
}

unsigned long ringo__fault_hits(int rule)
{
    return rule >= 0 && rule < RINGO_FAULT_RULES ? fs.hits[rule] : 0;
}

/* ---- RINGO_FAULT=spec ---- */

static void add_rule(int kind, unsigned ops, unsigned long n, bool random_cut)
{
    for (int i = 0; i < RINGO_FAULT_RULES; i++) {
        struct ringo_fault_rule *r = &fs.plan.rule[i];
        if (r->kind)
            continue;
        r->kind = kind;
        r->ops = ops;
        if (kind == RINGO_FAULT_SHORT)
            r->cut = n;
        else
            r->every = n;
        fs.random_cut[i] = random_cut;
        fs.armed = true;
        return;
    }
    ringo__log("RINGO_FAULT: more than %d rules, the rest ignored", RINGO_FAULT_RULES);
}

static void init_from_env(struct ringo_worker *w)
{
    fs.inited = true;
    const char *spec = getenv("RINGO_FAULT");
    if (!spec || !*spec)
        return;
    uint64_t seed = 1;
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        char *num_end;
        unsigned long n = eq && eq < end ? strtoul(eq + 1, &num_end, 10) : 0;
        size_t key = eq && eq < end ? (size_t)(eq - p) : (size_t)(end - p);
        if (!eq || eq > end || num_end != end || n == 0)
            ringo__log("RINGO_FAULT: '%.*s' ignored (want key=N, N > 0)", (int)(end - p), p);
        else if (key == 5 && memcmp(p, "short", 5) == 0)
            add_rule(RINGO_FAULT_SHORT, RINGO_FAULT_READ | RINGO_FAULT_WRITE, n, true);
        else if (key == 9 && memcmp(p, "shortread", 9) == 0)
            add_rule(RINGO_FAULT_SHORT, RINGO_FAULT_READ, n, true);
        else if (key == 10 && memcmp(p, "shortwrite", 10) == 0)
            add_rule(RINGO_FAULT_SHORT, RINGO_FAULT_WRITE, n, true);
        else if (key == 5 && memcmp(p, "reset", 5) == 0)
            add_rule(RINGO_FAULT_RESET, RINGO_FAULT_READ | RINGO_FAULT_WRITE, n, false);
        else if (key == 5 && memcmp(p, "nomem", 5) == 0)
            add_rule(RINGO_FAULT_NOMEM, 0, n, false);
        else if (key == 4 && memcmp(p, "seed", 4) == 0)
            seed = n;
        else
            ringo__log("RINGO_FAULT: unknown entry '%.*s' ignored", (int)(end - p), p);
        p = *end ? end + 1 : end;
    }
    fs.rng = seed + (uint64_t)w->id * 0x9E3779B97F4A7C15ULL;
    if (fs.armed && w->id == 0)
        ringo__log("fault injection armed: RINGO_FAULT=%s", spec);
}

/* ---- the I/O hook ---- */

static unsigned op_dir(int opcode)
{
    switch (opcode) {
    case RINGO_OP_READ:
    case RINGO_OP_RECV:
    case RINGO_OP_READV:
    case RINGO_OP_BORROW:
        return RINGO_FAULT_READ;
    case RINGO_OP_WRITE:
    case RINGO_OP_SEND:
    case RINGO_OP_WRITEV:
    case RINGO_OP_SENDFILE:
        return RINGO_FAULT_WRITE;
    default:
        return 0;
    }
}

/* SO_TYPE of fd, 0 if it is not a socket. */
static int sock_type(int fd)
{
    int t = 0;
    socklen_t len = sizeof(t);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) < 0)
        return 0;
    return t;
}

/* Shrink op to move at most cut bytes. iov: room for CUT_IOV entries. */
static void cut_op(struct ringo_op *op, size_t cut, struct iovec *iov)
{
    if (op->opcode == RINGO_OP_BORROW) {
        op->len = cut; /* ringo__borrow_single reads at most len bytes */
        return;
    }
    if (op->opcode != RINGO_OP_READV && op->opcode != RINGO_OP_WRITEV) {
        if (op->len > cut)
            op->len = cut;
        return;
    }
    size_t before = 0;
    for (int i = 0; i < op->iovcnt; i++) {
        size_t l = op->iov[i].iov_len;
        if (before + l < cut) {
            before += l;
            continue;
        }
        if (before + l == cut) {
            op->iovcnt = i + 1;
        } else if (i < CUT_IOV) {
            memcpy(iov, op->iov, (size_t)(i + 1) * sizeof(*iov));
            iov[i].iov_len = cut - before;
            op->iov = iov;
            op->iovcnt = i + 1;
        } else {
            op->iovcnt = i; /* far out: cut at the entry boundary before */
        }
        return;
    }
}

int ringo__fault_io(struct ringo_worker *w, struct ringo_op *op,
                    int (*io)(struct ringo_worker *, struct ringo_op *))
{
    if (!fs.inited)
        init_from_env(w);
    unsigned dir = fs.armed ? op_dir(op->opcode) : 0;
    if (!dir || exempt_now())
        return io(w, op);
    int type = sock_type(op->fd);
    size_t cut = 0;
    for (int i = 0; i < RINGO_FAULT_RULES; i++) {
        const struct ringo_fault_rule *r = &fs.plan.rule[i];
        if (!(r->ops & dir))
            continue;
        if (r->kind == RINGO_FAULT_RESET && type == SOCK_STREAM && fire(i))
            return -ECONNRESET;
        if (r->kind != RINGO_FAULT_SHORT || r->cut == 0)
            continue;
        if (type != SOCK_STREAM)
            continue; /* a datagram, a signalfd or eventfd read must stay whole */
        if (dir == RINGO_FAULT_READ)
            op->single = 1; /* see fault.h: never the multishot queue */
        bool waitall = op->opcode == RINGO_OP_RECV && (op->flags & MSG_WAITALL);
        if (waitall || !fire(i))
            continue;
        size_t k = fs.random_cut[i] ? 1 + next_rand() % r->cut : r->cut;
        if (!cut || k < cut)
            cut = k;
    }
    if (!cut)
        return io(w, op);
    size_t len = op->len;
    const struct iovec *iov = op->iov;
    int iovcnt = op->iovcnt;
    struct iovec cut_iov[CUT_IOV];
    cut_op(op, cut, cut_iov);
    int r = io(w, op);
    op->len = len;
    op->iov = iov;
    op->iovcnt = iovcnt;
    return r;
}

/* ---- the allocation hook ----
 *
 * malloc, calloc and realloc are replaced (free is not: every block still
 * comes from the real allocator). Under a sanitizer the real one is its
 * interceptor, so ASan/LSan still track every block; otherwise glibc's. */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__interceptor_malloc(size_t) __attribute__((weak));
extern void *__interceptor_calloc(size_t, size_t) __attribute__((weak));
extern void *__interceptor_realloc(void *, size_t) __attribute__((weak));

static bool alloc_fails(void)
{
    if (!fs.armed)
        return false;
    bool exempt = exempt_now();
    for (int i = 0; i < RINGO_FAULT_RULES; i++)
        if (fs.plan.rule[i].kind == RINGO_FAULT_NOMEM && !exempt && fire(i))
            return true;
    return false;
}

void *malloc(size_t n)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return __interceptor_calloc ? __interceptor_calloc(n, size) : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    /* realloc(p, 0) frees p: failing it would leak p */
    if (n && alloc_fails()) {
        errno = ENOMEM;
        return NULL;
    }
    return __interceptor_realloc ? __interceptor_realloc(p, n) : __libc_realloc(p, n);
}

#endif
