/* Placement across workers: ringo_go_balanced spreads coroutines by live
 * count, counting placements not yet started; coroutines stay put. */
#include <errno.h>
#include <stdatomic.h>

#include "t.h"

#define WORKERS 4
#define SPAWNS  40

static _Atomic int per_worker[WORKERS];
static _Atomic int moved;
static _Atomic int release_all;

static void resident(void *arg)
{
    (void)arg;
    int home = ringo_worker_id();
    per_worker[home]++;
    /* stay alive so every placement counts, and check we never migrate */
    while (!release_all) {
        ringo_sleep(1000000);
        if (ringo_worker_id() != home)
            moved++;
    }
}

static void balanced_main(void *arg)
{
    (void)arg;
    ringo_coro *h[SPAWNS];
    /* a burst from one worker: the placements must see each other */
    for (int i = 0; i < SPAWNS; i++)
        T_OK(ringo_go_balanced(resident, NULL, &h[i]));
    int64_t end = ringo_deadline_in(5LL * 1000000000);
    int started = 0;
    while (ringo_now() < end) {
        started = 0;
        for (int i = 0; i < WORKERS; i++)
            started += per_worker[i];
        if (started == SPAWNS)
            break;
        ringo_sleep(1000000);
    }
    T_EQ(started, SPAWNS);
    /* 41 live coroutines with this one: 10 or 11 per worker, this worker
     * (which also runs main) gets one fewer */
    for (int i = 0; i < WORKERS; i++)
        T_ASSERT(per_worker[i] >= 9 && per_worker[i] <= 11);
    release_all = 1;
    for (int i = 0; i < SPAWNS; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(moved, 0);

    /* they have exited: only this coroutine is left, on worker 0, so the
     * next placement goes elsewhere */
    ringo_coro *one;
    for (int i = 0; i < WORKERS; i++)
        atomic_store(&per_worker[i], 0);
    T_OK(ringo_go_balanced(resident, NULL, &one));
    T_OK(ringo_join(one, RINGO_FOREVER));
    T_EQ(per_worker[0], 0);
    T_EQ(per_worker[1] + per_worker[2] + per_worker[3], 1);
}

T_CASE(go_balanced_spreads_a_burst, T_IO)
{
    t_run(WORKERS, balanced_main, NULL);
}

static void noop(void *arg)
{
    (void)arg;
}

T_CASE(go_balanced_outside_coroutine, 0)
{
    T_EQ(ringo_go_balanced(noop, NULL, NULL), RINGO_ENOTINCORO);
}
