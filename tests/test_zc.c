/* Zero-copy sends (io_uring SEND_ZC above ringo_config.zc_threshold): the
 * kernel owns the buffer until its notification CQE, so a ringo send may
 * return only after that CQE. The test checks it from the counters after
 * every send, then scribbles over and frees the buffer at once (ASan sees
 * any later touch by ringo), and the peer must still read the original
 * bytes. On epoll the same program runs as a control. */
#include "t.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEC   1000000000LL
#define SENDS 40

static size_t zc_sizes[] = {16 * 1024, 256 * 1024, 1000, 64 * 1024 + 1};
static _Atomic long zc_checked;

static unsigned char pattern_byte(size_t msg, size_t i)
{
    return (unsigned char)(msg * 131 + i * 7 + (i >> 9));
}

static void zc_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t nsizes = sizeof(zc_sizes) / sizeof(zc_sizes[0]);
    unsigned char *in = malloc(256 * 1024);
    T_ASSERT(in);
    for (size_t m = 0; m < SENDS; m++) {
        size_t len = zc_sizes[m % nsizes];
        T_EQ(ringo_read_full(fd, in, len, NULL, ringo_deadline_in(20 * SEC)), (ssize_t)len);
        for (size_t i = 0; i < len; i++)
            if (in[i] != pattern_byte(m, i))
                T_FAIL("message %zu byte %zu: got %u, sent %u", m, i, in[i], pattern_byte(m, i));
        zc_checked++;
    }
    free(in);
    ringo_close(fd);
}

static void zc_main(void *arg)
{
    (void)arg;
    int cfd, sfd;
    t_tcp_pair(&cfd, &sfd);
    ringo_coro *r;
    T_OK(ringo_go(zc_reader, (void *)(intptr_t)cfd, &r));
    int uring = strcmp(t_backend(), "uring") == 0;
    size_t nsizes = sizeof(zc_sizes) / sizeof(zc_sizes[0]);
    long zc_expected = 0;
    for (size_t m = 0; m < SENDS; m++) {
        size_t len = zc_sizes[m % nsizes];
        unsigned char *out = malloc(len);
        T_ASSERT(out);
        for (size_t i = 0; i < len; i++)
            out[i] = pattern_byte(m, i);
        T_EQ(ringo_write_all(sfd, out, len, NULL, ringo_deadline_in(20 * SEC)), (ssize_t)len);
        ringo_counters st;
        T_OK(ringo_stats(&st));
        if (uring) {
            /* every zero-copy send has had its notification by now */
            T_EQ(st.zc_notifs, st.zc_sends);
            if (len >= 4096)
                zc_expected++;
        }
        memset(out, 0xEE, len);
        free(out);
    }
    T_OK(ringo_join(r, ringo_deadline_in(30 * SEC)));
    T_EQ(zc_checked, SENDS);
    ringo_counters st;
    T_OK(ringo_stats(&st));
    if (uring) {
        struct ringo_backend_info info;
        T_OK(ringo_backend_info(&info));
        if (!strstr(info.features, "send_zc"))
            T_SKIP("no SEND_ZC on this kernel: %s", info.features);
        /* at least one SEND_ZC per large message (short sends add more) */
        T_ASSERT((long)st.zc_sends >= zc_expected);
        T_EQ(st.zc_notifs, st.zc_sends);
    } else {
        T_EQ(st.zc_sends, 0);
    }
    ringo_close(sfd);
}

T_CASE(zc_send_buffer_owned_until_notification, T_IO)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0;
    cfg.zc_threshold = 4096;
    T_OK(ringo_main(&cfg, zc_main, NULL));
}

/* A zero-copy send whose deadline passes while the peer does not read.
 * The kernel keeps the pages until the data is consumed (loopback) or
 * acknowledged (a real network), so the deadline cannot hand the buffer
 * back early: the call returns only after the notification, which here
 * needs the peer to start reading. docs/ownership.md says so. */
static _Atomic int64_t zc_drain_start;

static void zc_drainer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    ringo_sleep(SEC / 3);
    zc_drain_start = ringo_now();
    static char buf[64 * 1024];
    while (ringo_read(fd, buf, sizeof(buf), ringo_deadline_in(SEC)) > 0)
        ;
}

static void zc_deadline_main(void *arg)
{
    (void)arg;
    int cfd, sfd;
    t_tcp_pair(&cfd, &sfd);
    ringo_coro *d;
    T_OK(ringo_go(zc_drainer, (void *)(intptr_t)cfd, &d));
    size_t len = 64 << 20; /* far more than the socket buffers hold */
    unsigned char *out = malloc(len);
    T_ASSERT(out);
    memset(out, 0x5A, len);
    size_t written = 0;
    ssize_t r = ringo_write_all(sfd, out, len, &written, ringo_deadline_in(SEC / 10));
    int64_t returned = ringo_now();
    ringo_counters st;
    T_OK(ringo_stats(&st));
    T_EQ(st.zc_notifs, st.zc_sends);
    if (strcmp(t_backend(), "uring") == 0) {
        T_ASSERT(st.zc_sends > 0);
        /* it waited for the kernel to let go, deadline or not */
        T_ASSERT(zc_drain_start != 0 && returned >= zc_drain_start);
        T_ASSERT(r == (ssize_t)len || r == -ETIMEDOUT);
    } else {
        /* copying sends: the deadline ends it while the peer sleeps */
        T_EQ(r, -ETIMEDOUT);
        T_ASSERT(written < len);
    }
    memset(out, 0, len);
    free(out);
    ringo_close(sfd);
    T_OK(ringo_join(d, ringo_deadline_in(10 * SEC)));
    ringo_close(cfd);
}

T_CASE(zc_send_deadline_waits_for_notification, T_IO)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0;
    cfg.zc_threshold = 4096;
    T_OK(ringo_main(&cfg, zc_deadline_main, NULL));
}
