/* A deliberately tiny ring under a flood: with 2 SQ entries and a 32-entry
 * CQ, 400 connections echoing at once overflow the CQ and fill the SQ
 * constantly. Nothing may be lost: every byte comes back, every
 * connection finishes. (On epoll the same load runs as a control; the
 * SQPOLL variant is io_uring only.) */
#include "t.h"

#include <errno.h>
#include <string.h>

#define CONNS  400
#define ROUNDS 20
#define MSG    512

static ringo_addr ov_addr;
static _Atomic long ov_bytes, ov_clients_done;

static void ov_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = ringo_read(fd, buf, sizeof(buf), ringo_deadline_in(20LL * 1000000000))) > 0)
        if (ringo_write_all(fd, buf, (size_t)n, NULL, ringo_deadline_in(20LL * 1000000000)) < 0)
            break;
    ringo_close(fd);
}

static void ov_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (int i = 0; i < CONNS; i++) {
        int fd = ringo_accept(lfd, NULL, ringo_deadline_in(20LL * 1000000000));
        T_OK(fd);
        T_OK(ringo_go(ov_conn, (void *)(intptr_t)fd, NULL));
    }
}

static void ov_client(void *arg)
{
    long id = (long)(intptr_t)arg;
    int fd = ringo_tcp_connect(&ov_addr, ringo_deadline_in(20LL * 1000000000));
    T_OK(fd);
    char out[MSG], in[MSG];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < MSG; i++)
            out[i] = (char)(id * 31 + r * 7 + i);
        T_EQ(ringo_write_all(fd, out, MSG, NULL, ringo_deadline_in(20LL * 1000000000)), MSG);
        T_EQ(ringo_read_full(fd, in, MSG, NULL, ringo_deadline_in(20LL * 1000000000)), MSG);
        T_ASSERT(memcmp(in, out, MSG) == 0);
        ov_bytes += MSG;
    }
    T_OK(ringo_close(fd));
    ov_clients_done++;
}

static ringo_counters ov_stats;
static char ov_features[256], ov_backend[16];

static void ov_main(void *arg)
{
    (void)arg;
    int lfd = t_listen(&ov_addr);
    ringo_coro *srv;
    T_OK(ringo_go(ov_server, (void *)(intptr_t)lfd, &srv));
    static ringo_coro *h[CONNS];
    for (long i = 0; i < CONNS; i++)
        T_OK(ringo_go(ov_client, (void *)(intptr_t)i, &h[i]));
    for (int i = 0; i < CONNS; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_OK(ringo_join(srv, RINGO_FOREVER));
    T_OK(ringo_stats(&ov_stats));
    struct ringo_backend_info info;
    T_OK(ringo_backend_info(&info));
    snprintf(ov_features, sizeof(ov_features), "%s", info.features);
    snprintf(ov_backend, sizeof(ov_backend), "%s", ringo_backend_name());
    ringo_close(lfd);
}

T_CASE(tiny_ring_flood_loses_nothing, T_IO | T_SLOW)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0;
    cfg.ring_entries = 2; /* SQ 2, CQ 32 */
    cfg.sqpoll = 0;       /* the slow paths of the normal ring */
    T_OK(ringo_main(&cfg, ov_main, NULL));
    T_EQ(ov_clients_done, CONNS);
    T_EQ(ov_bytes, (long)CONNS * ROUNDS * MSG);
    if (strcmp(t_backend(), "uring") == 0) {
        /* the flood really went through both slow paths */
        T_ASSERT(ov_stats.sq_full_flushes > 0);
        T_ASSERT(ov_stats.cq_overflows > 0);
    }
}

/* SQPOLL gives the same results: the same flood on a ring whose kernel
 * thread does the submitting. SQPOLL is an io_uring feature, so this case
 * has no epoll run (it would repeat tiny_ring_flood_loses_nothing). */
T_CASE(sqpoll_flood_same_results, T_URING | T_SLOW)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0;
    cfg.sqpoll = 1;
    ov_bytes = ov_clients_done = 0;
    T_OK(ringo_main(&cfg, ov_main, NULL));
    T_EQ(ov_clients_done, CONNS);
    T_EQ(ov_bytes, (long)CONNS * ROUNDS * MSG);
    T_ASSERT(strcmp(ov_backend, "uring") == 0);
    if (!strstr(ov_features, "sqpoll"))
        T_SKIP("SQPOLL refused by this kernel: %s", ov_features);
    /* How few io_uring_enter calls SQPOLL needs depends on whether the SQ
     * thread gets a CPU (2 shared cores in CI): a timing figure, measured
     * in bench/ (RESULTS.md), not asserted here. */
}
