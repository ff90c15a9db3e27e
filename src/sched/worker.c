/* Workers: threads, the scheduler round, inboxes, start-up and stop. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/spin.h"
#include "io/backend.h"
#include "sched/coro.h"
#include "sched/offload.h"
#include "sched/sched.h"
#include "sched/wait.h"

struct ringo_runtime *ringo__rt;

/* One runtime per process: its counters outlive it so that a tool can
 * print them after ringo_main returns. */
static _Atomic int runtime_active;
static ringo_counters last_counters;

/* ---------------- configuration ---------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 0);
    if (*end == 'k' || *end == 'K')
        n *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        n *= 1024 * 1024, end++;
    if (*end) {
        ringo__log("ignoring %s=%s: not a number", name, v);
        return dflt;
    }
    return n;
}

void ringo_config_init(ringo_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->workers = (int)env_long("RINGO_WORKERS", 0);
    cfg->backend = getenv("RINGO_BACKEND");
    if (!cfg->backend || !*cfg->backend)
        cfg->backend = "auto";
    cfg->stack_size = (size_t)env_long("RINGO_STACK_SIZE", 64 * 1024);
    cfg->ring_entries = 1024;
    cfg->pin_workers = (int)env_long("RINGO_PIN", 0);
    cfg->handle_signals = 1;
    cfg->ignore_sigpipe = 1;
    cfg->verbose = (int)env_long("RINGO_VERBOSE", 0);
    cfg->sqpoll = (int)env_long("RINGO_SQPOLL", 0);
    cfg->sqpoll_idle_ms = (unsigned)env_long("RINGO_SQPOLL_IDLE_MS", 50);
    cfg->recv_buffers = (unsigned)env_long("RINGO_RECV_BUFFERS", 1024);
    cfg->recv_buffer_size = (unsigned)env_long("RINGO_RECV_BUFFER_SIZE", 16 * 1024);
    cfg->multishot_recv = (int)env_long("RINGO_MULTISHOT_RECV", 1);
    cfg->zc_threshold = (size_t)env_long("RINGO_ZC_THRESHOLD", 0);
    cfg->offload_threads = (int)env_long("RINGO_OFFLOAD_THREADS", 16);
}

static int cpus_in_mask(cpu_set_t *set)
{
    if (sched_getaffinity(0, sizeof(*set), set) != 0)
        return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(set);
}

/* ---------------- inboxes ---------------- */

void ringo__wake_direct(struct ringo_worker *self, struct ringo_worker *target)
{
    if (self) {
        STAT_INC(self, wake_syscalls);
        STAT_INC(self, syscalls);
    }
    target->be->wake(target);
}

static void signal_worker(struct ringo_worker *w)
{
    struct ringo_worker *self = ringo__self;
    if (self)
        STAT_INC(self, remote_wakes);
    /* Look before the exchange: while the target is busy or spinning the
     * flag stays set, and a plain load keeps its cache line shared instead
     * of pulling it over for a read-modify-write on every hand-over. */
    if (!atomic_load(&w->wake_pending) && !atomic_exchange(&w->wake_pending, 1)) {
        if (self && self->be->wake_from)
            self->be->wake_from(self, w);
        else
            ringo__wake_direct(self, w);
    }
}

void ringo__inbox_spawn(struct ringo_worker *w, struct ringo_coro *c)
{
    pthread_mutex_lock(&w->inbox_lock);
    list_push_back(&w->spawn_inbox, &c->run);
    atomic_store(&w->inbox_nonempty, 1);
    pthread_mutex_unlock(&w->inbox_lock);
    if (atomic_load(&w->started))
        signal_worker(w);
}

void ringo__inbox_wake(struct ringo_worker *w, struct ringo_coro *c)
{
    pthread_mutex_lock(&w->inbox_lock);
    list_push_back(&w->wake_inbox, &c->wake);
    atomic_store(&w->inbox_nonempty, 1);
    pthread_mutex_unlock(&w->inbox_lock);
    signal_worker(w);
}

static void drain_inbox(struct ringo_worker *w)
{
    struct list_node spawns, wakes;
    list_init(&spawns);
    list_init(&wakes);
    pthread_mutex_lock(&w->inbox_lock);
    atomic_store(&w->inbox_nonempty, 0);
    list_splice_back(&spawns, &w->spawn_inbox);
    list_splice_back(&wakes, &w->wake_inbox);
    pthread_mutex_unlock(&w->inbox_lock);
    /* another worker talks to us: idle spins may catch its next message */
    w->spin_ok = true;
    struct list_node *n;
    while ((n = list_pop_front(&spawns)))
        ringo__coro_start(w, LIST_ENTRY(n, struct ringo_coro, run));
    while ((n = list_pop_front(&wakes))) {
        struct ringo_coro *c = LIST_ENTRY(n, struct ringo_coro, wake);
        if (c->join_waiting)
            ringo__join_wake(c);
        else
            ringo__wait_deliver(c);
    }
}

/* ---------------- the scheduler loop ---------------- */

static void cancel_everything(struct ringo_worker *w)
{
    struct list_node *n, *next;
    for (n = w->all.next; n != &w->all; n = next) {
        next = n->next;
        ringo__cancel_local(LIST_ENTRY(n, struct ringo_coro, all));
    }
}

/* Direct coroutine-to-coroutine hand-offs per round (see runnext). */
#define DIRECT_HANDOFFS 16

/* Rounds with runnable coroutines between two non-waiting polls. */
#define BUSY_POLL_ROUNDS 16

/* Grace period for coroutines to unwind after ringo_stop(). */
#define STOP_GRACE_NS (2 * 1000000000LL)

/* Before sleeping in the kernel, a worker that recently received work
 * from other workers watches its inbox for a moment. wake_pending is still
 * set, so senders skip the wake-up syscall / MSG_RING, and a cross-worker
 * hand-off costs a few cache-line transfers instead of a thread wake-up
 * (tens of µs on a VM). Like Go's spinning Ms. A spin that finds nothing
 * turns spinning off until the next inbox delivery, so a worker that is
 * only idle, or only serves its own sockets, never burns CPU here.
 * Returns true if work arrived. */
static bool idle_spin(struct ringo_worker *w)
{
    int64_t until = ringo_now() + w->spin_ns;
    unsigned i = 0;
    for (;;) {
        if (atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire))
            return true;
        /* pause first; then give the CPU away between looks, in case the
         * peer we wait for shares this CPU (more threads than CPUs):
         * spinning on would keep it from running until the budget ends */
        if (++i < 1024)
            ringo__cpu_relax();
        else
            sched_yield();
        if ((i & 15) == 0 && ringo_now() >= until)
            break;
    }
    STAT_INC(w, idle_spins_vain);
    w->spin_ok = false;
    return false;
}

static void worker_loop(struct ringo_worker *w)
{
    struct ringo_runtime *rt = w->rt;
    struct list_node batch;
    list_init(&batch);
    for (;;) {
        if (atomic_load_explicit(&w->inbox_nonempty, memory_order_acquire))
            drain_inbox(w);

        /* Run what is runnable now; what becomes runnable meanwhile waits
         * for the next round, so I/O is polled between rounds. */
        list_splice_back(&batch, &w->runq);
        w->direct_left = DIRECT_HANDOFFS;
        struct list_node *n;
        while ((n = list_pop_front(&batch))) {
            struct ringo_coro *c = ringo__run(w, LIST_ENTRY(n, struct ringo_coro, run));
            if (c->state == CORO_DONE)
                ringo__coro_finish(w, c);
        }
        STAT_INC(w, rounds);

        int64_t next = ringo__next_timer(w);
        int64_t now = 0;
        if (next != RINGO_FOREVER) {
            now = ringo_now();
            if (next <= now) {
                ringo__fire_timers(w, now);
                next = ringo__next_timer(w);
            }
        }

        if (atomic_load_explicit(&rt->stopping, memory_order_acquire)) {
            if (!now)
                now = ringo_now();
            if (!w->cancel_all_done) {
                w->cancel_all_done = true;
                w->stop_deadline = now + STOP_GRACE_NS;
                cancel_everything(w);
                continue;
            }
            if (w->alive == 0 && !atomic_load(&w->inbox_nonempty))
                break;
            if (now > w->stop_deadline) {
                ringo__log("worker %d: %zu coroutine(s) did not exit within the grace "
                           "period after stop; abandoning them",
                           w->id, w->alive);
                break;
            }
            if (next == RINGO_FOREVER || next > now + 50000000)
                next = now + 50000000;
        }

        int64_t timeout;
        if (!list_empty(&w->runq) || atomic_load(&w->inbox_nonempty)) {
            /* Runnable work left: a poll that cannot wait is a syscall that
             * rarely finds anything, so take one only every few rounds.
             * Queued SQEs wait at most that long. */
            if (++w->busy_rounds < BUSY_POLL_ROUNDS && !w->urgent_submit)
                continue;
            timeout = 0;
        } else if (next == RINGO_FOREVER)
            timeout = -1;
        else {
            if (!now)
                now = ringo_now();
            timeout = next > now ? next - now : 0;
        }
        if (timeout != 0 && w->spin_ok && w->spin_ns > 0) {
            /* a MSG_RING wake-up we queued must leave before we spin, or
             * the peer we wait for is still asleep */
            if (w->urgent_submit) {
                w->urgent_submit = false;
                w->be->poll(w, 0);
            }
            if (idle_spin(w) || !list_empty(&w->runq))
                continue;
        }
        if (timeout != 0) {
            /* About to sleep: from here on a sender must signal us. Clear
             * the flag, then look again (both seq_cst): either we see the
             * sender's inbox item / stop, or it sees the cleared flag and
             * writes the wake-up. */
            atomic_store(&w->wake_pending, 0);
            if (atomic_load(&w->inbox_nonempty) ||
                (atomic_load(&rt->stopping) && !w->cancel_all_done))
                timeout = 0;
        }
        w->busy_rounds = 0;
        w->urgent_submit = false;
        w->be->poll(w, timeout);
    }
}

/* ---------------- stack overflow reporting ---------------- */

static struct sigaction prev_segv;

static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w ? w->current : NULL;
    if (c && stack_in_guard(&c->stack, si->si_addr)) {
        /* async-signal-safe formatting only */
        char msg[200];
        size_t n = 0;
        const char *a = "ringo: coroutine ";
        memcpy(msg + n, a, strlen(a)), n += strlen(a);
        n += fmt_u64(msg + n, c->id);
        a = " overflowed its stack (";
        memcpy(msg + n, a, strlen(a)), n += strlen(a);
        n += fmt_u64(msg + n, c->stack.size / 1024);
        a = " KiB) and hit the guard page; raise ringo_config.stack_size or "
            "RINGO_STACK_SIZE\n";
        memcpy(msg + n, a, strlen(a)), n += strlen(a);
        ssize_t wr = write(2, msg, n);
        (void)wr;
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    if (prev_segv.sa_flags & SA_SIGINFO && prev_segv.sa_sigaction) {
        prev_segv.sa_sigaction(sig, si, uc);
        return;
    }
    if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN &&
        prev_segv.sa_handler) {
        prev_segv.sa_handler(sig);
        return;
    }
    /* not ours: let the fault happen again with the default action */
    signal(SIGSEGV, SIG_DFL);
}

static void install_segv_handler(void)
{
    static _Atomic int installed;
    if (atomic_exchange(&installed, 1))
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
}

/* ---------------- worker threads ---------------- */

static void report_init(struct ringo_runtime *rt, int err)
{
    pthread_mutex_lock(&rt->init_lock);
    rt->init_count++;
    if (err && !rt->init_err)
        rt->init_err = err;
    pthread_cond_broadcast(&rt->init_cond);
    pthread_mutex_unlock(&rt->init_lock);
}

/* Start w's backend: worker 0 chooses (probe.c), the others use its
 * choice. Waits for every worker, so that no coroutine runs on a
 * half-started runtime. Under "auto", a later worker that cannot set up
 * io_uring after worker 0 did (the rings so far used up RLIMIT_MEMLOCK)
 * moves every worker to epoll: nothing has run yet. Returns 0 when the
 * whole runtime is up, else the first error (also in rt->init_err). */
static int start_backend(struct ringo_worker *w, struct ringo_runtime *rt)
{
    int rc;
    if (w->id == 0)
        rc = ringo__backend_select(w, &rt->cfg, &rt->be, &rt->fallback_reason);
    else
        rc = rt->be->init(w, &rt->cfg);
    if (rc == 0)
        w->be = rt->be;
    if (rc == 0)
        atomic_store(&w->started, 1);
    pthread_mutex_lock(&rt->init_lock);
    if (rc < 0 && w->id > 0 && rt->be == &ringo__uring_backend &&
        strcmp(rt->cfg.backend, "auto") == 0 && !rt->init_fallback) {
        rt->init_fallback = w->id;
        rt->init_fallback_err = rc;
    }
    pthread_mutex_unlock(&rt->init_lock);
    if (rc < 0 && w->id > 0 && !rt->init_fallback)
        ringo__log("worker %d: %s backend failed to start (%s: %s)", w->id, rt->be->name,
                   ringo_err_name(rc), ringo_strerror(rc));
    report_init(rt, rc);
    pthread_mutex_lock(&rt->init_lock);
    while (rt->init_count < rt->nworkers)
        pthread_cond_wait(&rt->init_cond, &rt->init_lock);
    /* every thread reported (or ringo_main gave up starting them: then
     * init_threads_failed and no fallback) */
    int redo = rt->init_fallback && !rt->init_threads_failed;
    pthread_mutex_unlock(&rt->init_lock);
    if (redo) {
        atomic_store(&w->started, 0);
        rc = ringo__backend_fall_back(w, &rt->cfg, rt->init_fallback, rt->init_fallback_err,
                                      &rt->fallback_reason);
        pthread_mutex_lock(&rt->init_lock);
        rt->be = &ringo__epoll_backend;
        if (rc == 0) {
            w->be = rt->be;
            atomic_store(&w->started, 1);
        } else if (!rt->init_redo_err) {
            rt->init_redo_err = rc;
        }
        rt->init_redo_count++;
        pthread_cond_broadcast(&rt->init_cond);
        while (rt->init_redo_count < rt->nworkers)
            pthread_cond_wait(&rt->init_cond, &rt->init_lock);
        rt->init_err = rt->init_redo_err;
        pthread_mutex_unlock(&rt->init_lock);
    }
    pthread_mutex_lock(&rt->init_lock);
    int bad = rt->init_err;
    pthread_mutex_unlock(&rt->init_lock);
    return rc < 0 ? rc : bad;
}

static void *worker_main(void *arg)
{
    struct ringo_worker *w = arg;
    struct ringo_runtime *rt = w->rt;
    ringo__self = w;

    /* the overflow handler needs a stack that is not the overflowed one */
    stack_t ss;
    size_t alt = 64 * 1024;
    ss.ss_sp = malloc(alt);
    ss.ss_size = alt;
    ss.ss_flags = 0;
    if (ss.ss_sp)
        sigaltstack(&ss, NULL);

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WORKER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(WORKER_TSAN)
    {
        extern void *__tsan_get_current_fiber(void);
        w->tsan_sched_fiber = __tsan_get_current_fiber();
    }
#endif

    /* a start-up that failed on any worker runs nothing (ringo_main
     * returns the error) */
    if (start_backend(w, rt) == 0) {
        worker_loop(w);
        /* The backend is torn down by ringo_main once every thread that
         * might still wake this worker (other workers, the signal thread)
         * has been joined: tearing it down here raced with a late
         * ringo_stop() writing to our eventfd (found by TSan). */
    }
    ringo__self = NULL;
    if (ss.ss_sp) {
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        free(ss.ss_sp);
    }
    return NULL;
}

/* ---------------- signals ---------------- */

struct sigthread {
    pthread_t thread;
    sigset_t set;
    _Atomic int done;
    void (*on_signal)(int);
};

/* The first graceful-stop request (reason: a signal number, or 0 for
 * ringo_stop_graceful) wakes every coroutine in ringo_stop_wait, the way
 * the offload pool's threads wake their callers: claim under the lock,
 * wake after it (a wake takes the worker's inbox lock and writes its
 * eventfd). Returns how many were woken, or -1 when a request had been
 * made before (the caller escalates to ringo_stop). */
static int request_drain(struct ringo_runtime *rt, int reason)
{
    struct list_node woken;
    list_init(&woken);
    int n = 0;
    ringo__spin_lock(&rt->drain_lock);
    bool first = atomic_load(&rt->drain_req) == 0;
    if (first) {
        atomic_store(&rt->drain_req, reason + 1);
        struct ringo__waiter *wr;
        while ((wr = ringo__waitq_claim_first(&rt->drain_q))) {
            list_push_back(&woken, &wr->link);
            n++;
        }
    }
    ringo__spin_unlock(&rt->drain_lock);
    /* Each node is unlinked before its wake: once woken, its frame may
     * be gone. */
    struct list_node *node;
    while ((node = list_pop_front(&woken)))
        ringo__waiter_wake(LIST_ENTRY(node, struct ringo__waiter, link), reason);
    return first ? n : -1;
}

/* SIGINT/SIGTERM: drain when some coroutine waits in ringo_stop_wait and
 * this is the first request; otherwise (nobody would drain, or a second
 * signal during the drain) stop hard, and ringo_main reports the signal. */
static void stop_on_signal(int sig)
{
    struct ringo_runtime *rt = ringo__rt;
    if (request_drain(rt, sig) > 0)
        return;
    int expect = 0;
    if (!atomic_load(&rt->stopping))
        atomic_compare_exchange_strong(&rt->stop_signal, &expect, sig);
    ringo_stop();
}

static void *signal_main(void *arg)
{
    struct sigthread *st = arg;
    /* Blocks with no timeout (no periodic wake-ups of an idle process);
     * ringo_main ends it by setting done and sending this thread one of
     * its own signals. */
    for (;;) {
        int sig = sigwaitinfo(&st->set, NULL);
        if (atomic_load(&st->done))
            break;
        if (sig < 0)
            continue;
        if (sig == SIGINT || sig == SIGTERM)
            stop_on_signal(sig);
        if (st->on_signal)
            st->on_signal(sig);
    }
    return NULL;
}

/* ---------------- public API ---------------- */

void ringo_stop(void)
{
    struct ringo_runtime *rt = ringo__rt;
    if (!rt)
        return;
    if (atomic_exchange(&rt->stopping, 1))
        return;
    for (int i = 0; i < rt->nworkers; i++) {
        struct ringo_worker *w = &rt->workers[i];
        if (atomic_load(&w->started) && !atomic_exchange(&w->wake_pending, 1))
            w->be->wake(w);
    }
}

int ringo_stop_graceful(void)
{
    struct ringo_runtime *rt = ringo__rt;
    if (!rt)
        return -ESRCH;
    if (atomic_load(&rt->stopping))
        return 0;
    if (request_drain(rt, 0) != 0)
        return 1; /* woke the drainers now, or a drain is under way */
    ringo_stop();
    return 0;
}

int ringo_stop_wait(int64_t deadline)
{
    struct ringo_runtime *rt = ringo__rt;
    if (!rt)
        return -ESRCH;
    struct ringo_worker *w = ringo__self;
    struct ringo_coro *c = w ? w->current : NULL;
    /* a stop cancels every coroutine: this one, if not yet, soon */
    if (c && (c->cancelled || atomic_load(&rt->stopping)))
        return -ECANCELED;
    int req = atomic_load(&rt->drain_req);
    if (req)
        return req - 1;
    if (deadline == RINGO_NOWAIT)
        return -ETIMEDOUT;
    if (!c)
        return RINGO_ENOTINCORO;
    ringo__spin_lock(&rt->drain_lock);
    req = atomic_load(&rt->drain_req);
    if (req) {
        ringo__spin_unlock(&rt->drain_lock);
        return req - 1;
    }
    /* the requester's wake result is the reason */
    return ringo__wait_on(&rt->drain_lock, &rt->drain_q, NULL, deadline);
}

int ringo_set_exit_status(int status)
{
    struct ringo_runtime *rt = ringo__rt;
    if (!rt)
        return -ESRCH;
    atomic_store(&rt->exit_status, status);
    return 0;
}

int ringo_stopping(void)
{
    struct ringo_runtime *rt = ringo__rt;
    return rt ? atomic_load(&rt->stopping) : 0;
}

int ringo_workers(void)
{
    struct ringo_runtime *rt = ringo__rt;
    return rt ? rt->nworkers : 0;
}

int ringo_worker_id(void)
{
    return ringo__self ? ringo__self->id : -1;
}

int ringo_backend_info(struct ringo_backend_info *out)
{
    struct ringo_runtime *rt = ringo__rt;
    memset(out, 0, sizeof(*out));
    if (!rt || !rt->be || !atomic_load(&rt->workers[0].started))
        return -ESRCH;
    out->name = rt->be->name;
    out->features = rt->be->features(&rt->workers[0]);
    out->fallback_reason = rt->fallback_reason;
    out->workers = rt->nworkers;
    return 0;
}

const char *ringo_backend_name(void)
{
    struct ringo_runtime *rt = ringo__rt;
    return rt && rt->be ? rt->be->name : NULL;
}

static void sum_counters(struct ringo_runtime *rt, ringo_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < rt->nworkers; i++) {
        struct ringo_worker *w = &rt->workers[i];
#define RINGO_SUM(name, desc)                                                                      \
    out->name += atomic_load_explicit(&w->stats.name, memory_order_relaxed);
        RINGO_STATS_MAP(RINGO_SUM)
#undef RINGO_SUM
    }
    out->coros_alive = out->spawned - out->exited;
    out->workers = rt->nworkers;
}

int ringo_stats(ringo_counters *out)
{
    struct ringo_runtime *rt = ringo__rt;
    if (!rt) {
        *out = last_counters;
        return out->workers ? 0 : -ESRCH;
    }
    sum_counters(rt, out);
    return 0;
}

int ringo_stats_print(const ringo_counters *st, int fd)
{
    char buf[4096];
    size_t n = 0;
#define RINGO_PRINT(name, desc)                                                                    \
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %llu\n", #name,                            \
                          (unsigned long long)st->name);
    RINGO_STATS_MAP(RINGO_PRINT)
#undef RINGO_PRINT
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "coros_alive %llu\nworkers %d\n",
                          (unsigned long long)st->coros_alive, st->workers);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)w;
    }
    return 0;
}

static int validate(const ringo_config *cfg)
{
    if (cfg->workers < 0 || cfg->workers > 1024)
        return -EINVAL;
    if (cfg->backend && strcmp(cfg->backend, "auto") && strcmp(cfg->backend, "uring") &&
        strcmp(cfg->backend, "epoll"))
        return -EINVAL;
    if (cfg->stack_size > (size_t)1 << 30)
        return -EINVAL;
    /* the kernel's buffer rings: a power of two of at most 32768 entries */
    if (cfg->recv_buffers > 32768 || (cfg->recv_buffers & (cfg->recv_buffers - 1)))
        return -EINVAL;
    if (cfg->recv_buffer_size > (1u << 24))
        return -EINVAL;
    if (cfg->offload_threads < 0 || cfg->offload_threads > 1024)
        return -EINVAL;
    return 0;
}

int ringo_main(const ringo_config *cfg_in, void (*fn)(void *), void *arg)
{
    ringo_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        ringo_config_init(&cfg);
    if (!fn)
        return -EINVAL;
    int rc = validate(&cfg);
    if (rc < 0)
        return rc;
    if (atomic_exchange(&runtime_active, 1))
        return -EBUSY;

    cpu_set_t mask;
    int ncpu = cpus_in_mask(&mask);
    if (cfg.workers == 0)
        cfg.workers = ncpu > 0 ? ncpu : 1;
    if (!cfg.backend)
        cfg.backend = "auto";
    if (cfg.ring_entries == 0)
        cfg.ring_entries = 1024;
    if (cfg.offload_threads == 0)
        cfg.offload_threads = 16;

    struct ringo_runtime *rt = calloc(1, sizeof(*rt));
    struct ringo_worker *ws = aligned_alloc(64, sizeof(*ws) * (size_t)cfg.workers);
    if (!rt || !ws) {
        free(rt);
        free(ws);
        atomic_store(&runtime_active, 0);
        return -ENOMEM;
    }
    memset(ws, 0, sizeof(*ws) * (size_t)cfg.workers);
    rt->cfg = cfg;
    rt->nworkers = cfg.workers;
    rt->workers = ws;
    pthread_mutex_init(&rt->init_lock, NULL);
    pthread_mutex_init(&rt->offload_lock, NULL);
    pthread_cond_init(&rt->init_cond, NULL);
    list_init(&rt->drain_q);
    atomic_init(&rt->exit_status, EXIT_STATUS_UNSET);
    for (int i = 0; i < cfg.workers; i++) {
        struct ringo_worker *w = &ws[i];
        w->id = i;
        w->rt = rt;
        list_init(&w->runq);
        list_init(&w->all);
        heap_init(&w->timers);
        stack_pool_init(&w->stacks, cfg.stack_size);
        pthread_mutex_init(&w->inbox_lock, NULL);
        w->spin_ns = (int64_t)env_long("RINGO_SPIN_US", 20) * 1000;
        list_init(&w->spawn_inbox);
        list_init(&w->wake_inbox);
    }

    if (cfg.ignore_sigpipe)
        signal(SIGPIPE, SIG_IGN);
    install_segv_handler();

    /* Workers inherit this mask: the signals go to the signal thread only. */
    sigset_t old_mask;
    struct sigthread st;
    memset(&st, 0, sizeof(st));
    sigemptyset(&st.set);
    if (cfg.handle_signals) {
        sigaddset(&st.set, SIGINT);
        sigaddset(&st.set, SIGTERM);
        sigaddset(&st.set, SIGUSR1);
        if (cfg.on_signal) /* else SIGHUP keeps its default: end the process */
            sigaddset(&st.set, SIGHUP);
    }
    pthread_sigmask(SIG_BLOCK, &st.set, &old_mask);
    st.on_signal = cfg.on_signal;

    /* The first coroutine waits in worker 0's inbox before any thread. */
    int err = 0;
    struct ringo_coro *main_c = ringo__coro_new(&ws[0], &ws[0], fn, arg, &err);
    if (!main_c) {
        rc = err;
        goto out_free;
    }
    main_c->detached = true;
    main_c->is_main = true;
    atomic_store(&ws[0].load, 1);
    list_push_back(&ws[0].spawn_inbox, &main_c->run);
    atomic_store(&ws[0].inbox_nonempty, 1);

    ringo__rt = rt;
    int started = 0;
    for (int i = 0; i < cfg.workers; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (cfg.pin_workers) {
            /* the i-th CPU of our mask */
            cpu_set_t one;
            CPU_ZERO(&one);
            for (int cpu = 0, k = 0; cpu < CPU_SETSIZE; cpu++) {
                if (!CPU_ISSET(cpu, &mask))
                    continue;
                if (k++ == i % ncpu) {
                    CPU_SET(cpu, &one);
                    break;
                }
            }
            pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
        }
        int e = pthread_create(&ws[i].thread, &attr, worker_main, &ws[i]);
        pthread_attr_destroy(&attr);
        if (e != 0) {
            rc = -e;
            report_init(rt, rc);
            break;
        }
        started++;
        if (i == 0) {
            /* worker 0 chooses the backend; the rest use the same */
            pthread_mutex_lock(&rt->init_lock);
            while (rt->init_count < 1)
                pthread_cond_wait(&rt->init_cond, &rt->init_lock);
            int bad = rt->init_err;
            pthread_mutex_unlock(&rt->init_lock);
            if (bad) {
                rc = bad;
                break;
            }
        }
    }
    if (started < cfg.workers) {
        /* release the workers that did start */
        pthread_mutex_lock(&rt->init_lock);
        if (!rt->init_err)
            rt->init_err = rc ? rc : -EAGAIN;
        rt->init_threads_failed = 1;
        rt->init_count = cfg.workers;
        pthread_cond_broadcast(&rt->init_cond);
        pthread_mutex_unlock(&rt->init_lock);
    }

    if (cfg.handle_signals && started)
        pthread_create(&st.thread, NULL, signal_main, &st);

    for (int i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    if (!rc)
        rc = rt->init_err;
    if (!rc) {
        /* what the program said, else how a signal ended it (a shell's
         * 128 + signo) */
        int64_t status = atomic_load(&rt->exit_status);
        int sig = atomic_load(&rt->stop_signal);
        if (status != EXIT_STATUS_UNSET)
            rc = (int)status;
        else if (sig)
            rc = 128 + sig;
    }

    if (cfg.handle_signals && started) {
        atomic_store(&st.done, 1);
        pthread_kill(st.thread, SIGTERM); /* blocked here: it only ends the wait */
        pthread_join(st.thread, NULL);
    }
    /* Pool threads may still wake workers (a call abandoned at the stop
     * grace period): join them while the backends can take a wake. */
    ringo__offload_fini(rt);
    sum_counters(rt, &last_counters);
    ringo__rt = NULL;
    /* Every thread is gone: tear down the backends (the kernel lets go of
     * every buffer), and only then free the stacks of coroutines that did
     * not finish within the grace period. */
    for (int i = 0; i < started; i++) {
        struct ringo_worker *w = &ws[i];
        atomic_store(&w->started, 0);
        if (w->be_state)
            rt->be->fini(w);
        struct list_node *n;
        while ((n = list_pop_front(&w->all)))
            ringo__coro_free(w, LIST_ENTRY(n, struct ringo_coro, all));
        heap_fini(&w->timers);
    }
    /* coroutines handed over but never started (failed start-up, or a
     * spawn racing the stop) */
    for (int i = 0; i < cfg.workers; i++) {
        struct list_node *n;
        while ((n = list_pop_front(&ws[i].spawn_inbox)))
            ringo__coro_free(&ws[i], LIST_ENTRY(n, struct ringo_coro, run));
    }
out_free:
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    for (int i = 0; i < cfg.workers; i++) {
        stack_pool_fini(&ws[i].stacks);
        pthread_mutex_destroy(&ws[i].inbox_lock);
    }
    pthread_mutex_destroy(&rt->init_lock);
    pthread_mutex_destroy(&rt->offload_lock);
    pthread_cond_destroy(&rt->init_cond);
    free(ws);
    free(rt);
    atomic_store(&runtime_active, 0);
    return rc;
}
