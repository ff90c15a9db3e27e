/* The blocking-offload pool: a bounded set of plain threads taking jobs
 * from one FIFO. Not a hot path of the I/O loop (a job costs a thread
 * hand-off and a wake-up either way), so a pthread mutex and condition
 * variable serve; the coroutine side parks through ringo__wait. */
#include "sched/offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/log.h"
#include "sched/sched.h"

struct ringo__offload {
    struct ringo_runtime *rt;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct list_node queue;
    int max, nthreads, idle;
    bool stopping;
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
        job->state = OFFLOAD_RUNNING;
        pthread_mutex_unlock(&p->lock);

        job->fn(job->arg);

        pthread_mutex_lock(&p->lock);
        job->state = OFFLOAD_DONE;
        if (job->caller_left) {
            pthread_mutex_unlock(&p->lock);
            job->abandoned(job);
            pthread_mutex_lock(&p->lock);
        } else if (job->waiter && ringo__waiter_claim(job->waiter)) {
            ringo__waiter_wake(job->waiter, 0);
        }
        /* else: the caller was interrupted and will find OFFLOAD_DONE */
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static struct ringo__offload *pool_get(struct ringo_runtime *rt)
{
    struct ringo__offload *p = atomic_load_explicit(&rt->offload, memory_order_acquire);
    if (p)
        return p;
    pthread_mutex_lock(&rt->offload_lock);
    p = atomic_load(&rt->offload);
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
            atomic_store_explicit(&rt->offload, p, memory_order_release);
        } else if (p) {
            free(p);
            p = NULL;
        }
    }
    pthread_mutex_unlock(&rt->offload_lock);
    return p;
}

/* Under p->lock: make sure a thread will take the job just queued. */
static int pool_grow(struct ringo__offload *p)
{
    if (p->idle > 0) {
        pthread_cond_signal(&p->cond);
        return 0;
    }
    if (p->nthreads >= p->max)
        return 0; /* it waits for the next free thread */
    int e = pthread_create(&p->threads[p->nthreads], NULL, pool_main, p);
    if (e) {
        if (p->nthreads > 0)
            return 0;
        ringo__log("offload: cannot start a pool thread: error %d", e);
        return -EAGAIN;
    }
    p->nthreads++;
    return 0;
}

int ringo__offload_run(struct ringo__offload_job *job, int64_t deadline, bool may_abandon)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    struct ringo_runtime *rt = w->rt;
    if (atomic_load_explicit(&rt->stopping, memory_order_relaxed))
        return RINGO_ESTOPPED;
    if (w->current->cancelled)
        return -ECANCELED;
    struct ringo__offload *p = pool_get(rt);
    if (!p)
        return -ENOMEM;

    struct ringo__wait wt;
    struct ringo__waiter waiter;
    ringo__wait_init(&wt);
    ringo__waiter_init(&waiter, &wt, 0, NULL);
    job->waiter = &waiter;
    job->state = OFFLOAD_QUEUED;
    job->caller_left = false;

    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return RINGO_ESTOPPED;
    }
    list_init(&job->link);
    list_push_back(&p->queue, &job->link);
    int rc = pool_grow(p);
    if (rc < 0) {
        list_remove(&job->link);
        pthread_mutex_unlock(&p->lock);
        return rc;
    }
    pthread_mutex_unlock(&p->lock);

    int r = ringo__wait(&wt, deadline);
    if (wt.fired == 0)
        return 0; /* the pool thread claimed us: fn has run */

    /* Interrupted (r is -ETIMEDOUT or -ECANCELED): what became of it? */
    pthread_mutex_lock(&p->lock);
    switch (job->state) {
    case OFFLOAD_QUEUED:
        list_remove(&job->link);
        pthread_mutex_unlock(&p->lock);
        return r;
    case OFFLOAD_DONE:
        pthread_mutex_unlock(&p->lock);
        return 0;
    case OFFLOAD_RUNNING:
        break;
    }
    if (may_abandon) {
        job->caller_left = true;
        job->waiter = NULL;
        pthread_mutex_unlock(&p->lock);
        return r;
    }
    /* fn may be using memory of our frame: wait for it, deaf to deadline
     * and cancel (both have been spent on the claim above). */
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
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->threads);
    free(p);
    atomic_store(&rt->offload, NULL);
}
