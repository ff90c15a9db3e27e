/* Go channels and select (see ringo/chan.h), after Go's runtime/chan.go
 * and runtime/select.go.
 *
 * A channel is a spinlock, a closed flag, a ring buffer of capacity
 * elements and two FIFO queues of parked coroutines (struct ringo__waiter,
 * on the waiters' stacks): receivers waiting for an element, senders
 * waiting for a receiver or for room. Invariants, under the lock:
 *   - recvq holds live waiters only while the buffer is empty, sendq only
 *     while it is full (for capacity 0: always "full" and "empty"), so a
 *     waiter on the opposite queue is always served first;
 *   - once closed, both queues are empty and stay so (nobody links after
 *     seeing the flag).
 * Queues may also hold dead waiters: the other cases of a select that has
 * already been claimed elsewhere. ringo__waitq_claim_first drops those.
 *
 * Elements are copied straight between the two parties' memory when one
 * of them is parked (no trip through the buffer), as in Go. A waiter that
 * was claimed stays parked until its wake arrives, so its element pointer
 * stays valid after we drop the channel lock: the copy to or from a
 * parked peer and the wake itself (which may take an inbox lock and make
 * a syscall) are done after unlocking, to keep the spinlock's critical
 * section to a few pointer moves. Copies into the ring buffer stay under
 * the lock. Nothing here allocates after ringo_chan_new. */
#include <ringo.h>

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/spin.h"
#include "sched/sched.h"
#include "sched/wait.h"

struct ringo_chan {
    ringo__spin lock;
    bool closed;
    size_t elem_size; /* fixed at creation */
    size_t cap;       /* fixed at creation */
    size_t len;       /* buffered elements, 0..cap */
    size_t head;      /* index of the oldest buffered element */
    struct list_node recvq;
    struct list_node sendq;
    alignas(16) unsigned char buf[]; /* cap * elem_size bytes */
};

/* Channels are shared between workers: give each its own cache lines so
 * two busy channels never bounce one line between CPUs. */
#define CHAN_ALIGN 64

/* ---- ring buffer (under the lock) ---- */

static unsigned char *slot(ringo_chan *ch, size_t i)
{
    return ch->buf + i * ch->elem_size;
}

static void copy_elem(ringo_chan *ch, void *dst, const void *src)
{
    /* memcpy with a NULL pointer is undefined even for 0 bytes */
    if (!dst)
        return;
    if (ch->elem_size == sizeof(uint64_t))
        memcpy(dst, src, sizeof(uint64_t)); /* the common word: one move, no call */
    else if (ch->elem_size)
        memcpy(dst, src, ch->elem_size);
}

static void zero_elem(size_t elem_size, void *dst)
{
    if (elem_size && dst)
        memset(dst, 0, elem_size);
}

static void buf_push(ringo_chan *ch, const void *elem)
{
    size_t tail = ch->head + ch->len;
    if (tail >= ch->cap)
        tail -= ch->cap;
    copy_elem(ch, slot(ch, tail), elem);
    ch->len++;
}

static void buf_pop(ringo_chan *ch, void *elem)
{
    copy_elem(ch, elem, slot(ch, ch->head));
    if (++ch->head == ch->cap)
        ch->head = 0;
    ch->len--;
}

/* ---- the immediate paths, shared by send, recv and select ----
 *
 * Each is called with ch locked and returns with it still locked; *peer
 * receives a claimed waiter that the caller must finish after unlocking
 * (finish_send / finish_recv), or stays NULL. */

enum { NOT_READY = 1 };

/* Forced inline: send and recv each use one of these on every call, and
 * the calls measured 5-10% of a same-worker message. */
#define HOT static inline __attribute__((always_inline))

/* Returns 0 (done), -EPIPE (closed) or NOT_READY. */
HOT int try_send(ringo_chan *ch, const void *elem, struct ringo__waiter **peer)
{
    if (ch->closed)
        return -EPIPE;
    struct ringo__waiter *w = list_empty(&ch->recvq) ? NULL : ringo__waitq_claim_first(&ch->recvq);
    if (w) {
        /* a parked receiver: the buffer is empty, hand it over directly */
        *peer = w;
        return 0;
    }
    if (ch->len < ch->cap) {
        buf_push(ch, elem);
        return 0;
    }
    return NOT_READY;
}

/* Returns 0 (done), -EPIPE (closed and drained; elem zeroed) or
 * NOT_READY. */
HOT int try_recv(ringo_chan *ch, void *elem, struct ringo__waiter **peer)
{
    struct ringo__waiter *w = list_empty(&ch->sendq) ? NULL : ringo__waitq_claim_first(&ch->sendq);
    if (w) {
        if (ch->cap == 0) {
            *peer = w; /* copied from the parked sender after unlocking */
            return 0;
        }
        /* The buffer is full: take its head and put the sender's element
         * at the tail, which is the same slot, so FIFO order holds. */
        copy_elem(ch, elem, slot(ch, ch->head));
        copy_elem(ch, slot(ch, ch->head), w->elem);
        if (++ch->head == ch->cap)
            ch->head = 0;
        w->elem = NULL; /* moved already: finish_recv only wakes */
        *peer = w;
        return 0;
    }
    if (ch->len) {
        buf_pop(ch, elem);
        return 0;
    }
    if (ch->closed) {
        zero_elem(ch->elem_size, elem);
        return -EPIPE;
    }
    return NOT_READY;
}

/* Wake the claimed peer of a send (copy our element into the receiver) or
 * of a recv on an unbuffered channel (copy the sender's element to us).
 * Runs unlocked: the peer is parked until this wake, see the top. */
static void finish_send(ringo_chan *ch, struct ringo__waiter *w, const void *elem)
{
    copy_elem(ch, w->elem, elem);
    ringo__waiter_wake(w, 0);
}

static void finish_recv(ringo_chan *ch, struct ringo__waiter *w, void *elem)
{
    if (w->elem)
        copy_elem(ch, elem, w->elem);
    ringo__waiter_wake(w, 0);
}

/* ---- entry checks ---- */

/* 0, or the error with which a call must fail before touching the
 * channel. A try (RINGO_NOWAIT) never parks, so it is allowed on any
 * thread. A cancelled coroutine fails every later blocking call at once,
 * even one that could complete, as everywhere in ringo. */
static int entry(int64_t deadline)
{
    struct ringo_worker *wk = ringo__self;
    struct ringo_coro *c = wk ? wk->current : NULL;
    if (!c)
        return deadline == RINGO_NOWAIT ? 0 : RINGO_ENOTINCORO;
    return c->cancelled ? -ECANCELED : 0;
}

/* Park on nothing: a nil channel, an empty select. */
static int park_nil(int64_t deadline)
{
    if (deadline == RINGO_NOWAIT)
        return -ETIMEDOUT;
    struct ringo__wait wt;
    ringo__wait_init(&wt);
    return ringo__wait(&wt, deadline);
}

/* ---- public API ---- */

int ringo_chan_new(ringo_chan **out, size_t elem_size, size_t capacity)
{
    if (!out || elem_size > RINGO_CHAN_MAX_ELEM)
        return -EINVAL;
    size_t bytes = 0;
    if (__builtin_mul_overflow(elem_size, capacity, &bytes) ||
        __builtin_add_overflow(bytes, sizeof(ringo_chan) + CHAN_ALIGN - 1, &bytes))
        return -EINVAL;
    bytes &= ~(size_t)(CHAN_ALIGN - 1);
    ringo_chan *ch = aligned_alloc(CHAN_ALIGN, bytes);
    if (!ch)
        return -ENOMEM;
    memset(ch, 0, sizeof(*ch));
    atomic_init(&ch->lock.locked, 0);
    ch->elem_size = elem_size;
    ch->cap = capacity;
    list_init(&ch->recvq);
    list_init(&ch->sendq);
    *out = ch;
    return 0;
}

void ringo_chan_free(ringo_chan *ch)
{
    free(ch);
}

int ringo_chan_send(ringo_chan *ch, const void *elem, int64_t deadline)
{
    int err = entry(deadline);
    if (err)
        return err;
    if (!ch)
        return park_nil(deadline);
    if (!elem && ch->elem_size)
        return -EINVAL;

    struct ringo__waiter *peer = NULL;
    ringo__spin_lock(&ch->lock);
    int r = try_send(ch, elem, &peer);
    if (r != NOT_READY) {
        ringo__spin_unlock(&ch->lock);
        if (peer)
            finish_send(ch, peer, elem);
        return r;
    }
    if (deadline == RINGO_NOWAIT) {
        ringo__spin_unlock(&ch->lock);
        return -ETIMEDOUT;
    }
    /* the element is read by the receiver that claims us */
    return ringo__wait_on(&ch->lock, &ch->sendq, (void *)elem, deadline);
}

int ringo_chan_recv(ringo_chan *ch, void *elem, int64_t deadline)
{
    int err = entry(deadline);
    if (err)
        return err;
    if (!ch)
        return park_nil(deadline);

    struct ringo__waiter *peer = NULL;
    ringo__spin_lock(&ch->lock);
    int r = try_recv(ch, elem, &peer);
    if (r != NOT_READY) {
        ringo__spin_unlock(&ch->lock);
        if (peer)
            finish_recv(ch, peer, elem);
        return r;
    }
    if (deadline == RINGO_NOWAIT) {
        ringo__spin_unlock(&ch->lock);
        return -ETIMEDOUT;
    }
    return ringo__wait_on(&ch->lock, &ch->recvq, elem, deadline);
}

/* Claim every live waiter of q onto `out` (dead select cases are dropped
 * by the claim). */
static void claim_all(struct list_node *q, struct list_node *out)
{
    struct ringo__waiter *w;
    while ((w = ringo__waitq_claim_first(q)))
        list_push_back(out, &w->link);
}

int ringo_chan_close(ringo_chan *ch)
{
    if (!ch)
        return -EINVAL;
    struct list_node recvs, sends;
    list_init(&recvs);
    list_init(&sends);
    ringo__spin_lock(&ch->lock);
    if (ch->closed) {
        ringo__spin_unlock(&ch->lock);
        return -EPIPE;
    }
    ch->closed = true;
    claim_all(&ch->recvq, &recvs);
    claim_all(&ch->sendq, &sends);
    size_t elem_size = ch->elem_size;
    ringo__spin_unlock(&ch->lock);

    /* From the first wake on, a woken coroutine may free the channel (the
     * last receiver often does), so ch is not touched below. Each node is
     * unlinked before its wake: the woken coroutine may return, and its
     * stack with the node go, as soon as the wake is delivered. */
    struct list_node *n;
    while ((n = list_pop_front(&recvs))) {
        struct ringo__waiter *w = LIST_ENTRY(n, struct ringo__waiter, link);
        zero_elem(elem_size, w->elem);
        ringo__waiter_wake(w, -EPIPE);
    }
    while ((n = list_pop_front(&sends)))
        ringo__waiter_wake(LIST_ENTRY(n, struct ringo__waiter, link), -EPIPE);
    return 0;
}

size_t ringo_chan_len(ringo_chan *ch)
{
    if (!ch)
        return 0;
    ringo__spin_lock(&ch->lock);
    size_t n = ch->len;
    ringo__spin_unlock(&ch->lock);
    return n;
}

size_t ringo_chan_cap(ringo_chan *ch)
{
    return ch ? ch->cap : 0;
}

/* ---- select ---- */

/* The random case order of select comes from a per-thread xorshift64*
 * generator: each worker is one thread, so this is per-worker state with
 * no sharing and no atomics, seeded lazily from the clock and the
 * state's own address (distinct per thread). Go uses a per-M fastrand the
 * same way. Quality needs are modest: no case may be starved. */
static _Thread_local uint64_t select_rng;

static uint32_t rand32(void)
{
    uint64_t x = select_rng;
    if (!x)
        x = ((uint64_t)ringo_now() ^ (uint64_t)(uintptr_t)&select_rng) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    select_rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, n) by multiply-shift (Lemire); the bias for n <= 64 is
 * below 2^-26. */
static unsigned rand_below(unsigned n)
{
    return (unsigned)(((uint64_t)rand32() * n) >> 32);
}

static void lock_all(ringo_chan **locks, int n)
{
    for (int i = 0; i < n; i++)
        ringo__spin_lock(&locks[i]->lock);
}

static void unlock_all(ringo_chan **locks, int n)
{
    for (int i = n - 1; i >= 0; i--)
        ringo__spin_unlock(&locks[i]->lock);
}

int ringo_select(ringo_select_case *cases, int n, int64_t deadline)
{
    if (n < 0 || n > RINGO_SELECT_MAX || (n > 0 && !cases))
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        ringo_select_case *k = &cases[i];
        if (k->op != RINGO_SELECT_SEND && k->op != RINGO_SELECT_RECV)
            return -EINVAL;
        if (k->op == RINGO_SELECT_SEND && k->ch && k->ch->elem_size && !k->elem)
            return -EINVAL;
    }
    int err = entry(deadline);
    if (err)
        return err;

    /* Poll order: a fresh random permutation (Fisher-Yates). Lock order:
     * the distinct channels by address, so two selects (or a select and a
     * send) over the same channels can never lock in opposite orders. */
    unsigned char order[RINGO_SELECT_MAX];
    ringo_chan *locks[RINGO_SELECT_MAX];
    int nlocks = 0;
    for (int i = 0; i < n; i++) {
        unsigned j = rand_below((unsigned)i + 1);
        if (j != (unsigned)i)
            order[i] = order[j];
        order[j] = (unsigned char)i;

        ringo_chan *ch = cases[i].ch;
        if (!ch)
            continue;
        int p = nlocks;
        while (p > 0 && (uintptr_t)locks[p - 1] > (uintptr_t)ch)
            p--;
        if (p > 0 && locks[p - 1] == ch)
            continue;
        memmove(&locks[p + 1], &locks[p], (size_t)(nlocks - p) * sizeof(locks[0]));
        locks[p] = ch;
        nlocks++;
    }
    if (nlocks == 0)
        return park_nil(deadline);

    lock_all(locks, nlocks);
    for (int i = 0; i < n; i++) {
        int idx = order[i];
        ringo_select_case *k = &cases[idx];
        if (!k->ch)
            continue;
        struct ringo__waiter *peer = NULL;
        int r = k->op == RINGO_SELECT_SEND ? try_send(k->ch, k->elem, &peer)
                                           : try_recv(k->ch, k->elem, &peer);
        if (r == NOT_READY)
            continue;
        unlock_all(locks, nlocks);
        if (peer) {
            if (k->op == RINGO_SELECT_SEND)
                finish_send(k->ch, peer, k->elem);
            else
                finish_recv(k->ch, peer, k->elem);
        }
        k->res = r;
        return idx;
    }
    if (deadline == RINGO_NOWAIT) {
        unlock_all(locks, nlocks);
        return -ETIMEDOUT;
    }

    /* Nothing ready: one waiter per case, all sharing one wait, so the
     * first claimer wins and the others become dead entries. Our waiters
     * enter the queues only now, after the scan, so a send case can never
     * be matched with a receive case of this same select. */
    struct ringo__wait wt;
    struct ringo__waiter ws[RINGO_SELECT_MAX];
    ringo__wait_init(&wt);
    for (int i = 0; i < n; i++) {
        ringo_select_case *k = &cases[i];
        if (!k->ch) {
            list_init(&ws[i].link); /* never queued; not counted as a waiter */
            continue;
        }
        /* wt.nwaiters counts the queues the wait sits in: with more than
         * one, claimers on any worker must use the CAS (see wait.h) */
        ringo__waiter_init(&ws[i], &wt, i, k->elem);
        list_push_back(k->op == RINGO_SELECT_SEND ? &k->ch->sendq : &k->ch->recvq, &ws[i].link);
    }
    unlock_all(locks, nlocks);

    int r = ringo__wait(&wt, deadline);

    /* Whoever won, the other waiters may still be queued (claimers that
     * lost unlink them lazily); they must be gone before we return. */
    lock_all(locks, nlocks);
    for (int i = 0; i < n; i++)
        if (ringo__waiter_queued(&ws[i]))
            list_remove(&ws[i].link);
    unlock_all(locks, nlocks);

    if (wt.fired < 0)
        return r;
    cases[wt.fired].res = wt.res;
    return wt.fired;
}
