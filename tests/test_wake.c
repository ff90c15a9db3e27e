/* Cross-worker wake-ups (MSG_RING on io_uring, eventfd on epoll) under
 * load, with exact counts, and ringo_backend_info. */
#include "t.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
/* TSan: every cross-worker hand-off costs ~10 ms of its bookkeeping here */
#define CHAIN  500
#define FANOUT 750
#else
#define CHAIN  2000
#define FANOUT 3000
#endif

static _Atomic long chain_hops, fan_done;
static _Atomic int chain_finished;

/* Each hop spawns the next one on the other worker: every spawn is a
 * cross-worker hand-over that must wake a worker. */
static void hop(void *arg)
{
    long left = (long)(intptr_t)arg;
    chain_hops++;
    if (left == 0) {
        chain_finished = 1;
        return;
    }
    int other = 1 - ringo_worker_id();
    T_OK(ringo_go_on(other, hop, (void *)(intptr_t)(left - 1), NULL));
}

static void fan_child(void *arg)
{
    (void)arg;
    ringo_sleep(ringo_now() % 3 * 100000); /* 0-0.2 ms: joins race exits */
    fan_done++;
}

static ringo_counters wake_stats;

static void wake_main(void *arg)
{
    (void)arg;
    T_EQ(ringo_workers(), 2);
    T_OK(ringo_go_on(1, hop, (void *)(intptr_t)CHAIN, NULL));
    /* meanwhile: many coroutines on worker 1, each joined from worker 0,
     * so every exit sends a join wake-up back across */
    static ringo_coro *h[FANOUT];
    for (int i = 0; i < FANOUT; i++)
        T_OK(ringo_go_on(1, fan_child, NULL, &h[i]));
    for (int i = 0; i < FANOUT; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(fan_done, FANOUT);
    int64_t give_up = ringo_deadline_in(10LL * 1000000000);
    while (!chain_finished && ringo_now() < give_up)
        ringo_sleep(1000000);
    T_EQ(chain_hops, CHAIN + 1);
    T_OK(ringo_stats(&wake_stats));
}

T_CASE(cross_worker_wakeups_exact, T_IO)
{
    t_run(2, wake_main, NULL);
    T_ASSERT(wake_stats.remote_wakes > 0);
    if (strcmp(t_backend(), "uring") == 0) {
        /* worker-to-worker wake-ups ride on the sender's submit */
        T_ASSERT(wake_stats.msg_ring_wakes > 0);
        T_EQ(wake_stats.wake_syscalls, 0);
    } else {
        T_EQ(wake_stats.msg_ring_wakes, 0);
        T_ASSERT(wake_stats.wake_syscalls > 0);
    }
}

T_CASE(cross_worker_wakeups_eventfd_fallback, 0)
{
    /* io_uring with MSG_RING turned off must give the same results */
    setenv("RINGO_BACKEND", "uring", 1);
    setenv("RINGO_MSG_RING", "0", 1);
    t_run(2, wake_main, NULL);
    T_EQ(wake_stats.msg_ring_wakes, 0);
    T_ASSERT(wake_stats.wake_syscalls > 0);
}

static struct ringo_backend_info info;
static int info_rc;
static char info_name[16], info_features[256];

static void info_main(void *arg)
{
    (void)arg;
    info_rc = ringo_backend_info(&info);
    /* the strings live only as long as the runtime */
    if (info_rc == 0) {
        snprintf(info_name, sizeof(info_name), "%s", info.name);
        snprintf(info_features, sizeof(info_features), "%s", info.features);
    }
}

T_CASE(backend_info_reports_backend, T_IO)
{
    struct ringo_backend_info none;
    T_EQ(ringo_backend_info(&none), -ESRCH);
    t_run(1, info_main, NULL);
    T_OK(info_rc);
    T_ASSERT(strcmp(info_name, t_backend()) == 0);
    T_ASSERT(info.fallback_reason == NULL);
    T_EQ(info.workers, 1);
    if (strcmp(t_backend(), "uring") == 0) {
        T_ASSERT(strstr(info_features, "single_issuer") != NULL);
        /* the whole suite runs under the opcode allow-list */
        T_ASSERT(strstr(info_features, "restricted") != NULL);
    }
}
