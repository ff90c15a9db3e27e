/* The blocking-offload pool: a bounded set of plain threads taking jobs
 * from one FIFO. Not a hot path of the I/O loop (a job costs a thread
 * hand-off and a wake-up either way), so a pthread mutex and condition
 * variable serve; the coroutine side parks through ringo__wait.
 *
 * Who owns a job: the caller, except between the pool thread's pop and its
 * final state change (it reads fn/arg), and - for an abandoned job - from
 * the moment the caller leaves (job->abandoned frees it). Every state
 * change and every look at the state by the other side happens under
 * p->lock; the one thing done outside it is the wake of a claimed waiter,
 * which the caller cannot outrun (a lost claim leaves it parked until the
 * wake is delivered). */
#include "sched/offload.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "base/log.h"
#include "sched/sched.h"

struct ringo__offload {
    struct ringo_runtime *rt;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct list_node queue;
    int nqueued;  /* length of queue */
    int max;      /* ringo_config.offload_threads */
    int nthreads; /* started, <= max */
    int idle;     /* in pthread_cond_wait (signalled or not) */
    bool stopping;
    pthread_attr_t attr; /* affinity for a pinned runtime */
    bool have_attr;
    pthread_t *threads;
};

static void *pool_main(void *arg)
{
    struct ringo__offload *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (list_empty(&p->queue) && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cond, &p->lock);
            p->idle--;
        }
        if (p->stopping)
            break;
        struct ringo__offload_job *job =
            LIST_ENTRY(list_pop_front(&p->queue), struct ringo__offload_job, link);
        p->nqueued--;
        job->state = OFFLOAD_RUNNING;
        pthread_mutex_unlock(&p->lock);

        job->fn(job->arg);

        pthread_mutex_lock(&p->lock);
        job->state = OFFLOAD_DONE;
        bool left = job->caller_left;
        struct ringo__waiter *wake = NULL;
        if (!left && ringo__waiter_claim(job->waiter))
            wake = job->waiter;
        /* else: the caller was interrupted first and will find
         * OFFLOAD_DONE when it takes the lock; the job is its again */
        pthread_mutex_unlock(&p->lock);

        /* Outside the lock: the wake takes the worker's inbox lock and may
         * write an eventfd. The claimed waiter stays valid until the wake
         * is delivered; an abandoned job is ours alone. */
        if (left)
            job->abandoned(job);
        else if (wake)
            ringo__waiter_wake(wake, 0);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* A pinned worker's threads inherit its one CPU: give the pool threads
 * the union of the workers' CPUs instead, or blocking work started from
 * worker 0 would all compete with worker 0. */
static void pool_affinity(struct ringo__offload *p, struct ringo_runtime *rt)
{
    if (!rt->cfg.pin_workers)
        return;
    cpu_set_t all, one;
    CPU_ZERO(&all);
    for (int i = 0; i < rt->nworkers; i++) {
        if (pthread_getaffinity_np(rt->workers[i].thread, sizeof(one), &one) == 0)
            CPU_OR(&all, &all, &one);
    }
    if (CPU_COUNT(&all) == 0 || pthread_attr_init(&p->attr) != 0)
        return;
    if (pthread_attr_setaffinity_np(&p->attr, sizeof(all), &all) != 0) {
        pthread_attr_destroy(&p->attr);
        return;
    }
    p->have_attr = true;
}

static struct ringo__offload *pool_get(struct ringo_runtime *rt)
{
    struct ringo__offload *p = atomic_load_explicit(&rt->offload, memory_order_acquire);
    if (p)
        return p;
    pthread_mutex_lock(&rt->offload_lock);
    p = atomic_load_explicit(&rt->offload, memory_order_relaxed);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (p)
            p->threads = calloc((size_t)rt->cfg.offload_threads, sizeof(pthread_t));
        if (p && p->threads) {
            p->rt = rt;
            p->max = rt->cfg.offload_threads;
            pthread_mutex_init(&p->lock, NULL);
            pthread_cond_init(&p->cond, NULL);
            list_init(&p->queue);
            pool_affinity(p, rt);
            atomic_store_explicit(&rt->offload, p, memory_order_release);
        } else if (p) {
            free(p);
            p = NULL;
        }
    }
    pthread_mutex_unlock(&rt->offload_lock);
    return p;
}

/* Under p->lock, after queueing a job: make sure a thread will take it.
 * A signalled thread counts as idle until it wakes, so compare the idle
 * threads with the queued jobs, not with zero: a burst of calls must not
 * all signal the one idle thread while the pool could still grow. */
static int pool_grow(struct ringo__offload *p)
{
    if (p->idle > 0)
        pthread_cond_signal(&p->cond);
    if (p->idle >= p->nqueued || p->nthreads >= p->max)
        return 0; /* a thread is on its way, or the job waits its turn */
    int e = pthread_create(&p->threads[p->nthreads], p->have_attr ? &p->attr : NULL, pool_main, p);
    if (e) {
        if (p->nthreads > 0)
            return 0; /* the running threads will get to it */
        ringo__log("offload: cannot start a pool thread: error %d", e);
        return -EAGAIN;
    }
    pthread_setname_np(p->threads[p->nthreads], "ringo-offload");
    p->nthreads++;
    return 0;
}

/* A may_abandon caller that gives up before fn started hands the job to
 * its abandoned callback here, so every failure has one owner rule. */
static int give_up(struct ringo__offload_job *job, bool may_abandon, int rc)
{
    if (may_abandon)
        job->abandoned(job);
    return rc;
}

int ringo__offload_run(struct ringo__offload_job *job, int64_t deadline, bool may_abandon)
{
    if (!job || !job->fn || (may_abandon && !job->abandoned))
        return -EINVAL;
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return give_up(job, may_abandon, RINGO_ENOTINCORO);
    struct ringo_runtime *rt = w->rt;
    if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
        return give_up(job, may_abandon, RINGO_ESTOPPED);
    if (w->current->cancelled)
        return give_up(job, may_abandon, -ECANCELED);
    struct ringo__offload *p = pool_get(rt);
    if (!p)
        return give_up(job, may_abandon, -ENOMEM);

    struct ringo__wait wt;
    struct ringo__waiter waiter;
    ringo__wait_init(&wt);
    ringo__waiter_init(&waiter, &wt, 0, NULL);
    job->waiter = &waiter;
    job->state = OFFLOAD_QUEUED;
    job->caller_left = false;

    pthread_mutex_lock(&p->lock);
    int rc = p->stopping ? RINGO_ESTOPPED : 0;
    if (rc == 0) {
        list_init(&job->link);
        list_push_back(&p->queue, &job->link);
        p->nqueued++;
        rc = pool_grow(p);
        if (rc < 0) {
            list_remove(&job->link);
            p->nqueued--;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        return give_up(job, may_abandon, rc);

    int r = ringo__wait(&wt, deadline);
    if (wt.fired == 0)
        return 0; /* the pool thread claimed us: fn has run */

    /* Interrupted (r is -ETIMEDOUT or -ECANCELED): what became of it? */
    pthread_mutex_lock(&p->lock);
    switch (job->state) {
    case OFFLOAD_QUEUED:
        list_remove(&job->link);
        p->nqueued--;
        pthread_mutex_unlock(&p->lock);
        return give_up(job, may_abandon, r);
    case OFFLOAD_DONE:
        /* fn returned while the interrupt won the claim: a success */
        pthread_mutex_unlock(&p->lock);
        return 0;
    case OFFLOAD_RUNNING:
        break;
    }
    if (may_abandon) {
        /* the pool thread reads this under the lock once fn returns, and
         * from then on the job is its (and job->abandoned's) */
        job->caller_left = true;
        job->waiter = NULL;
        pthread_mutex_unlock(&p->lock);
        return r;
    }
    /* fn may be using memory of our frame: wait for it, deaf to deadline
     * and cancel (both have been spent on the claim above). The re-armed
     * wait is claimable again from here, under the lock the pool thread
     * claims under. */
    ringo__wait_init(&wt);
    pthread_mutex_unlock(&p->lock);
    ringo__wait_uninterruptible(&wt);
    return 0;
}

int ringo_offload(void (*fn)(void *), void *arg, int64_t deadline)
{
    if (!fn)
        return -EINVAL;
    struct ringo__offload_job job = {.fn = fn, .arg = arg};
    return ringo__offload_run(&job, deadline, false);
}

void ringo__offload_fini(struct ringo_runtime *rt)
{
    struct ringo__offload *p = atomic_load(&rt->offload);
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    /* A thread inside fn finishes it first: ringo_main's return waits for
     * every started offload call. */
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    if (p->have_attr)
        pthread_attr_destroy(&p->attr);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->threads);
    free(p);
    atomic_store(&rt->offload, NULL);
}
