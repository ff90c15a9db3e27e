/* Coroutines: creation, switching, parking, join, cancel, sleep. */
#include "sched/coro.h"

#include <errno.h>
#include <string.h>

#include "sched/context.h"
#include "sched/sched.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGO_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define RINGO_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RINGO_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define RINGO_TSAN 1
#endif

#ifdef RINGO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef RINGO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

_Thread_local struct ringo_worker *ringo__self __attribute__((tls_model("initial-exec")));

/* Scheduler -> coroutine. Returns when the coroutine parks, yields or
 * exits. The sanitizer calls tell ASan/TSan that the stack changed, else
 * they report false errors (see DESIGN.md, pitfalls). */
struct ringo_coro *ringo__run(struct ringo_worker *w, struct ringo_coro *c)
{
    w->current = c;
    c->state = CORO_RUNNING;
    STAT_INC(w, switches);
#ifdef RINGO_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, c->stack.base + c->stack.guard, c->stack.size);
#endif
#ifdef RINGO_TSAN
    __tsan_switch_to_fiber(c->tsan_fiber, 0);
#endif
    ringo__switch(&w->sched_sp, c->sp);
#ifdef RINGO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    struct ringo_coro *last = w->current;
    w->current = NULL;
    w->runnext = NULL;
    return last;
}

/* Coroutine -> scheduler. An exiting coroutine passes exiting=1 so ASan
 * drops its fake stack; it is never switched back to. */
static void to_scheduler(struct ringo_worker *w, struct ringo_coro *c, int exiting)
{
#ifdef RINGO_ASAN
    __sanitizer_start_switch_fiber(exiting ? NULL : &c->asan_fake_stack, w->asan_sched_bottom,
                                   w->asan_sched_size);
#else
    (void)exiting;
#endif
#ifdef RINGO_TSAN
    __tsan_switch_to_fiber(w->tsan_sched_fiber, 0);
#endif
    ringo__switch(&c->sp, w->sched_sp);
#ifdef RINGO_ASAN
    __sanitizer_finish_switch_fiber(c->asan_fake_stack, NULL, NULL);
#endif
}

/* Coroutine -> coroutine: c has parked and next (runnable, on this worker)
 * runs at once, without the scheduler's round in between. */
static void to_coroutine(struct ringo_worker *w, struct ringo_coro *c, struct ringo_coro *next)
{
    list_remove(&next->run);
    w->current = next;
    next->state = CORO_RUNNING;
    STAT_INC(w, switches);
    STAT_INC(w, handoffs);
#ifdef RINGO_ASAN
    __sanitizer_start_switch_fiber(&c->asan_fake_stack, next->stack.base + next->stack.guard,
                                   next->stack.size);
#endif
#ifdef RINGO_TSAN
    __tsan_switch_to_fiber(next->tsan_fiber, 0);
#endif
    ringo__switch(&c->sp, next->sp);
#ifdef RINGO_ASAN
    __sanitizer_finish_switch_fiber(c->asan_fake_stack, NULL, NULL);
#endif
}

static _Noreturn void coro_exit(struct ringo_coro *c)
{
    struct ringo_worker *w = c->w;
    c->state = CORO_DONE;
    to_scheduler(w, c, 1);
    __builtin_unreachable();
}

static void coro_entry(void *arg)
{
    struct ringo_coro *c = arg;
#ifdef RINGO_ASAN
    __sanitizer_finish_switch_fiber(NULL, (const void **)&c->w->asan_sched_bottom,
                                    &c->w->asan_sched_size);
#endif
    c->fn(c->arg);
    coro_exit(c);
}

struct ringo_coro *ringo__coro_new(struct ringo_worker *alloc_from, struct ringo_worker *owner,
                                   void (*fn)(void *), void *arg, int *err)
{
    struct ringo_stack st;
    int mapped;
    int rc = stack_get(&alloc_from->stacks, &st, &mapped);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    if (mapped)
        STAT_INC(alloc_from, stacks_mapped);
    /* The coroutine record lives at the top of its own stack: one
     * allocation per coroutine, recycled with the stack. */
    /* Cache colouring: stacks sit 128 KiB apart, so every stack top would
     * map to the same L1/L2 sets and 1000 coroutines would fight over a
     * few ways. Shift each top by a stride taken from its address. */
    char *top = ringo_stack_top(&st) - (((uintptr_t)st.base >> 17) & 63) * 64;
    struct ringo_coro *c =
        (struct ringo_coro *)((uintptr_t)(top - sizeof(struct ringo_coro)) & ~(uintptr_t)63);
    memset(c, 0, sizeof(*c));
    c->stack = st;
    c->w = owner;
    c->fn = fn;
    c->arg = arg;
    c->state = CORO_RUNNABLE;
    list_init(&c->run);
    list_init(&c->wake);
    list_init(&c->all);
    heap_node_init(&c->timer);
    atomic_init(&c->join, JOIN_NONE);
    c->id = (alloc_from->next_id++ << 8) | (uint64_t)(alloc_from->id & 0xff);
    c->sp = ringo__context_init((char *)c, coro_entry, c);
#ifdef RINGO_TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
#endif
    return c;
}

void ringo__coro_free(struct ringo_worker *w, struct ringo_coro *c)
{
#ifdef RINGO_TSAN
    __tsan_destroy_fiber(c->tsan_fiber);
#endif
    struct ringo_stack st = c->stack; /* c lives on that stack */
    stack_put(&w->stacks, &st);
}

/* Link a new coroutine into its (calling) owner and queue it. */
void ringo__coro_start(struct ringo_worker *w, struct ringo_coro *c)
{
    list_push_back(&w->all, &c->all);
    w->alive++;
    STAT_INC(w, spawned);
    if (atomic_load_explicit(&w->rt->stopping, memory_order_relaxed))
        c->cancelled = true;
    c->state = CORO_RUNNABLE;
    list_push_back(&w->runq, &c->run);
}

/* Deliver the finisher's wake to a joiner, on the joiner's own worker. */
void ringo__join_wake(struct ringo_coro *joiner)
{
    joiner->join_woken = true;
    if (joiner->state == CORO_PARKED && joiner->join_waiting)
        ringo__ready(joiner, 0);
}

/* Called by the scheduler once c's stack is no longer in use. */
void ringo__coro_finish(struct ringo_worker *w, struct ringo_coro *c)
{
    list_remove(&c->all);
    w->alive--;
    atomic_fetch_sub_explicit(&w->load, 1, memory_order_relaxed);
    STAT_INC(w, exited);
    if (c->is_main)
        ringo_stop();
    if (c->detached) {
        ringo__coro_free(w, c);
        return;
    }
    uintptr_t j = atomic_exchange(&c->join, JOIN_DONE);
    if (j != JOIN_NONE && j != JOIN_DONE) {
        struct ringo_coro *joiner = (struct ringo_coro *)j;
        if (joiner->w == w)
            ringo__join_wake(joiner);
        else
            ringo__inbox_wake(joiner->w, joiner);
    }
}

int ringo__park(int64_t deadline, void (*interrupt)(struct ringo_coro *, int), void *arg)
{
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w->current;
    if (c->cancelled && !interrupt && !c->uninterruptible)
        return -ECANCELED;
    c->interrupt = interrupt;
    c->interrupt_arg = arg;
    c->wake_res = 0;
    if (deadline != RINGO_FOREVER) {
        c->timer.key = deadline;
        if (heap_push(&w->timers, &c->timer) < 0)
            return -ENOMEM;
    }
    c->state = CORO_PARKED;
    STAT_INC(w, parks);
    struct ringo_coro *next = w->runnext;
    w->runnext = NULL;
    if (next && w->direct_left > 0 && next->state == CORO_RUNNABLE) {
        w->direct_left--;
        to_coroutine(w, c, next);
    } else {
        to_scheduler(w, c, 0);
    }
    heap_remove(&w->timers, &c->timer);
    c->interrupt = NULL;
    c->interrupt_arg = NULL;
    return c->wake_res;
}

void ringo__ready(struct ringo_coro *c, int res)
{
    struct ringo_worker *w = c->w;
    if (c->state != CORO_PARKED)
        return;
    heap_remove(&w->timers, &c->timer);
    c->state = CORO_RUNNABLE;
    c->wake_res = res;
    /* the switch into it pops its registers from there: start the load */
    __builtin_prefetch(c->sp);
    list_push_back(&w->runq, &c->run);
    STAT_INC(w, wakes);
    /* woken by a running coroutine of this worker: if that one parks next,
     * it hands the CPU straight to c. The first one woken keeps the place
     * (Go lets the newest take it): several woken in a row - a semaphore
     * or a broadcast serving its queue - then still run in wake order. */
    if (w->current && ringo__self == w && !w->runnext)
        w->runnext = c;
}

/* A deadline or a cancel reached a parked coroutine. */
static void interrupt(struct ringo_coro *c, int reason)
{
    if (c->state != CORO_PARKED || c->uninterruptible)
        return;
    if (c->interrupt)
        c->interrupt(c, reason);
    else
        ringo__ready(c, reason);
}

int64_t ringo__next_timer(struct ringo_worker *w)
{
    struct heap_node *n = heap_min(&w->timers);
    return n ? n->key : RINGO_FOREVER;
}

void ringo__fire_timers(struct ringo_worker *w, int64_t now)
{
    struct heap_node *n;
    while ((n = heap_min(&w->timers)) && n->key <= now) {
        heap_remove(&w->timers, n);
        struct ringo_coro *c =
            (struct ringo_coro *)((char *)n - offsetof(struct ringo_coro, timer));
        STAT_INC(w, timeouts);
        interrupt(c, -ETIMEDOUT);
    }
}

void ringo__cancel_local(struct ringo_coro *c)
{
    if (c->state == CORO_DONE)
        return;
    c->cancelled = true;
    interrupt(c, -ECANCELED);
}

/* ---- public API ---- */

static struct ringo_coro *current(void)
{
    struct ringo_worker *w = ringo__self;
    return w ? w->current : NULL;
}

ringo_coro *ringo_self(void)
{
    return current();
}

int ringo_cancelled(void)
{
    struct ringo_coro *c = current();
    return c && c->cancelled;
}

static int spawn(struct ringo_worker *target, void (*fn)(void *), void *arg, ringo_coro **handle)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    if (!fn)
        return -EINVAL;
    if (atomic_load_explicit(&w->rt->stopping, memory_order_relaxed))
        return RINGO_ESTOPPED;
    int err = 0;
    struct ringo_coro *c = ringo__coro_new(w, target, fn, arg, &err);
    if (!c)
        return err;
    c->detached = handle == NULL;
    if (handle)
        *handle = c;
    atomic_fetch_add_explicit(&target->load, 1, memory_order_relaxed);
    if (target == w)
        ringo__coro_start(w, c);
    else
        ringo__inbox_spawn(target, c);
    return 0;
}

int ringo_go(void (*fn)(void *), void *arg, ringo_coro **handle)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    return spawn(w, fn, arg, handle);
}

int ringo_go_on(int worker, void (*fn)(void *), void *arg, ringo_coro **handle)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    if (worker < 0 || worker >= w->rt->nworkers)
        return -EINVAL;
    return spawn(&w->rt->workers[worker], fn, arg, handle);
}

int ringo_go_balanced(void (*fn)(void *), void *arg, ringo_coro **handle)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    /* Least loaded by live coroutines; ties stay home, where a spawn costs
     * no hand-off and no wake-up. */
    struct ringo_runtime *rt = w->rt;
    struct ringo_worker *best = w;
    long best_load = atomic_load_explicit(&w->load, memory_order_relaxed);
    for (int i = 0; i < rt->nworkers; i++) {
        long l = atomic_load_explicit(&rt->workers[i].load, memory_order_relaxed);
        if (l < best_load) {
            best = &rt->workers[i];
            best_load = l;
        }
    }
    return spawn(best, fn, arg, handle);
}

int ringo_join(ringo_coro *h, int64_t deadline)
{
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w ? w->current : NULL;
    if (!c)
        return RINGO_ENOTINCORO;
    if (!h || h == c)
        return -EINVAL;
    uintptr_t expect = JOIN_NONE;
    if (atomic_load(&h->join) != JOIN_DONE &&
        atomic_compare_exchange_strong(&h->join, &expect, (uintptr_t)c)) {
        c->join_waiting = true;
        c->join_woken = false;
        int r = 0;
        while (!c->join_woken) {
            r = ringo__park(deadline, NULL, NULL);
            if (r < 0)
                break;
        }
        if (r < 0 && !c->join_woken) {
            expect = (uintptr_t)c;
            if (atomic_compare_exchange_strong(&h->join, &expect, JOIN_NONE)) {
                c->join_waiting = false;
                return r; /* nobody owes us a wake: handle still valid */
            }
            /* The finisher took our pointer: its wake is on the way and
             * must be consumed here, not by some later park. */
            c->uninterruptible = true;
            while (!c->join_woken)
                ringo__park(RINGO_FOREVER, NULL, NULL);
            c->uninterruptible = false;
        }
        c->join_waiting = false;
    }
    ringo__coro_free(w, h);
    return 0;
}

int ringo_cancel(ringo_coro *h)
{
    struct ringo_worker *w = ringo__self;
    if (!h)
        return -EINVAL;
    if (!w || h->w != w)
        return -EXDEV;
    ringo__cancel_local(h);
    return 0;
}

int ringo_yield(void)
{
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w ? w->current : NULL;
    if (!c)
        return RINGO_ENOTINCORO;
    if (c->cancelled)
        return -ECANCELED;
    c->state = CORO_RUNNABLE;
    list_push_back(&w->runq, &c->run);
    to_scheduler(w, c, 0);
    return c->cancelled ? -ECANCELED : 0;
}

_Noreturn void ringo_exit(void)
{
    struct ringo_coro *c = current();
    if (!c) {
        /* not a coroutine: the contract cannot be met */
        __builtin_trap();
    }
    coro_exit(c);
}

int ringo_sleep_until(int64_t deadline)
{
    struct ringo_coro *c = current();
    if (!c)
        return RINGO_ENOTINCORO;
    int r = ringo__park(deadline, NULL, NULL);
    return r == -ETIMEDOUT ? 0 : r;
}

int ringo_sleep(int64_t ns)
{
    return ringo_sleep_until(ns < 0 ? RINGO_FOREVER : ringo_deadline_in(ns));
}
