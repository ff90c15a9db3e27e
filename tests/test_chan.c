/* Channel and select tests: the Go semantics table (one case per row of
 * docs/channels.md), cancellation, argument errors, a producer/consumer
 * stress across all workers, select fairness and a deadline race. */
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MS (1000 * 1000LL)

static int64_t in_ms(int64_t ms)
{
    return ringo_deadline_in(ms * MS);
}

static ringo_chan *mk(size_t elem, size_t cap)
{
    ringo_chan *ch = NULL;
    T_OK(ringo_chan_new(&ch, elem, cap));
    T_ASSERT(ch != NULL);
    return ch;
}

/* Let the coroutines spawned on this worker run until they park. */
static void settle(void)
{
    for (int i = 0; i < 8; i++)
        ringo_yield();
}

/* ---- unbuffered: a send completes only when a receiver has the value ---- */

struct rdv {
    ringo_chan *ch;
    _Atomic int sent;   /* the sender's call has returned */
    _Atomic int got;    /* the receiver's call has returned */
    _Atomic int sres;   /* the sender's result */
    _Atomic long value; /* what the receiver got */
};

static void rdv_sender(void *arg)
{
    struct rdv *r = arg;
    long v = 42;
    r->sres = ringo_chan_send(r->ch, &v, RINGO_FOREVER);
    r->sent = 1;
}

static void rdv_receiver(void *arg)
{
    struct rdv *r = arg;
    long v = 0;
    T_OK(ringo_chan_recv(r->ch, &v, RINGO_FOREVER));
    r->value = v;
    r->got = 1;
}

static void rdv_main(void *arg)
{
    int remote = ringo_workers() > 1;
    (void)arg;
    /* sender first: it parks until we receive */
    struct rdv r = {.ch = mk(sizeof(long), 0)};
    ringo_coro *h;
    T_OK(ringo_go_on(remote, rdv_sender, &r, &h));
    settle();
    ringo_sleep(20 * MS);
    T_EQ(r.sent, 0);
    T_EQ(ringo_chan_len(r.ch), 0);
    T_EQ(ringo_chan_cap(r.ch), 0);
    long v = 0;
    T_OK(ringo_chan_recv(r.ch, &v, in_ms(5000)));
    T_EQ(v, 42);
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(r.sent, 1);
    T_EQ(r.sres, 0);

    /* receiver first: it parks until we send */
    struct rdv q = {.ch = r.ch};
    T_OK(ringo_go_on(remote, rdv_receiver, &q, &h));
    settle();
    ringo_sleep(20 * MS);
    T_EQ(q.got, 0);
    v = 7;
    T_OK(ringo_chan_send(q.ch, &v, in_ms(5000)));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(q.got, 1);
    T_EQ(q.value, 7);
    ringo_chan_free(r.ch);
}

T_CASE(chan_unbuffered_rendezvous, T_IO)
{
    t_run(1, rdv_main, NULL);
    t_run(2, rdv_main, NULL);
}

/* ---- buffered: FIFO up to capacity, then the sender blocks ---- */

static void buf_sender(void *arg)
{
    struct rdv *r = arg;
    long v = 4;
    r->sres = ringo_chan_send(r->ch, &v, RINGO_FOREVER);
    r->sent = 1;
}

static void buffered_main(void *arg)
{
    (void)arg;
    ringo_chan *ch = mk(sizeof(long), 3);
    T_EQ(ringo_chan_cap(ch), 3);
    for (long i = 1; i <= 3; i++) {
        T_OK(ringo_chan_send(ch, &i, RINGO_FOREVER));
        T_EQ(ringo_chan_len(ch), (size_t)i);
    }
    long x = 99;
    T_EQ(ringo_chan_send(ch, &x, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_send(ch, &x, in_ms(10)), -ETIMEDOUT);
    T_EQ(ringo_chan_len(ch), 3);

    struct rdv r = {.ch = ch};
    ringo_coro *h;
    T_OK(ringo_go_on(ringo_workers() - 1, buf_sender, &r, &h));
    settle();
    ringo_sleep(20 * MS);
    T_EQ(r.sent, 0); /* full: blocked */
    for (long i = 1; i <= 4; i++) {
        long v = 0;
        T_OK(ringo_chan_recv(ch, &v, in_ms(5000)));
        T_EQ(v, i); /* the parked sender's 4 went in behind 3 */
    }
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(r.sres, 0);
    T_EQ(ringo_chan_len(ch), 0);
    long v = 0;
    T_EQ(ringo_chan_recv(ch, &v, RINGO_NOWAIT), -ETIMEDOUT);

    /* wrap the ring many times at every fill level */
    long next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; round++) {
        int k = round % 4;
        for (int i = 0; i < k; i++, next_in++)
            T_OK(ringo_chan_send(ch, &next_in, RINGO_NOWAIT));
        for (int i = 0; i < k; i++) {
            T_OK(ringo_chan_recv(ch, &v, RINGO_NOWAIT));
            T_EQ(v, next_out++);
        }
    }
    ringo_chan_free(ch);
}

T_CASE(chan_buffered_fifo_len_cap, T_IO)
{
    t_run(1, buffered_main, NULL);
    t_run(2, buffered_main, NULL);
}

/* ---- closed: drain, then -EPIPE with the element zeroed ---- */

static void closed_main(void *arg)
{
    (void)arg;
    ringo_chan *ch = mk(sizeof(long), 4);
    long a = 1, b = 2;
    T_OK(ringo_chan_send(ch, &a, RINGO_NOWAIT));
    T_OK(ringo_chan_send(ch, &b, RINGO_NOWAIT));
    T_OK(ringo_chan_close(ch));
    T_EQ(ringo_chan_close(ch), -EPIPE);
    T_EQ(ringo_chan_send(ch, &a, RINGO_FOREVER), -EPIPE);
    T_EQ(ringo_chan_send(ch, &a, RINGO_NOWAIT), -EPIPE);
    T_EQ(ringo_chan_len(ch), 2);
    long v = -1;
    T_OK(ringo_chan_recv(ch, &v, RINGO_FOREVER));
    T_EQ(v, 1);
    T_OK(ringo_chan_recv(ch, &v, RINGO_NOWAIT));
    T_EQ(v, 2);
    for (int i = 0; i < 3; i++) {
        v = -1;
        T_EQ(ringo_chan_recv(ch, &v, RINGO_FOREVER), -EPIPE);
        T_EQ(v, 0);
        v = -1;
        T_EQ(ringo_chan_recv(ch, &v, RINGO_NOWAIT), -EPIPE); /* ready, not a timeout */
        T_EQ(v, 0);
    }
    T_EQ(ringo_chan_recv(ch, NULL, RINGO_FOREVER), -EPIPE);
    ringo_chan_free(ch);

    /* unbuffered: same */
    ch = mk(sizeof(long), 0);
    T_OK(ringo_chan_close(ch));
    v = -1;
    T_EQ(ringo_chan_recv(ch, &v, RINGO_FOREVER), -EPIPE);
    T_EQ(v, 0);
    T_EQ(ringo_chan_send(ch, &a, RINGO_FOREVER), -EPIPE);
    ringo_chan_free(ch);
}

T_CASE(chan_closed_drains_then_epipe, T_IO)
{
    t_run(1, closed_main, NULL);
}

/* ---- close wakes every parked receiver and sender, on any worker ---- */

enum { CW_N = 8 };

struct cw {
    ringo_chan *rch, *sch;
    _Atomic int recv_epipe, send_epipe, zeroed;
};

static void cw_receiver(void *arg)
{
    struct cw *c = arg;
    long v = -1;
    if (ringo_chan_recv(c->rch, &v, in_ms(10000)) == -EPIPE)
        c->recv_epipe++;
    if (v == 0)
        c->zeroed++;
}

static void cw_sender(void *arg)
{
    struct cw *c = arg;
    long v = 5;
    if (ringo_chan_send(c->sch, &v, in_ms(10000)) == -EPIPE)
        c->send_epipe++;
}

static void cw_select_receiver(void *arg)
{
    struct cw *c = arg;
    long v = -1;
    ringo_select_case k[2] = {{NULL, RINGO_SELECT_RECV, NULL, 0},
                              {c->rch, RINGO_SELECT_RECV, &v, 99}};
    int r = ringo_select(k, 2, in_ms(10000));
    if (r == 1 && k[1].res == -EPIPE)
        c->recv_epipe++;
    if (v == 0)
        c->zeroed++;
}

static void *close_thread(void *arg)
{
    struct cw *c = arg;
    intptr_t r = ringo_chan_close(c->sch);
    return (void *)r;
}

static void close_wakes_main(void *arg)
{
    (void)arg;
    struct cw c = {.rch = mk(sizeof(long), 0), .sch = mk(sizeof(long), 1)};
    long fill = 1;
    T_OK(ringo_chan_send(c.sch, &fill, RINGO_NOWAIT)); /* full: senders park */
    ringo_coro *h[3 * CW_N];
    int nw = ringo_workers();
    for (int i = 0; i < CW_N; i++) {
        T_OK(ringo_go_on(i % nw, cw_receiver, &c, &h[3 * i]));
        T_OK(ringo_go_on(i % nw, cw_sender, &c, &h[3 * i + 1]));
        T_OK(ringo_go_on(i % nw, cw_select_receiver, &c, &h[3 * i + 2]));
    }
    settle();
    ringo_sleep(30 * MS);
    T_EQ(c.recv_epipe + c.send_epipe, 0);
    T_OK(ringo_chan_close(c.rch));
    /* close is callable from a plain thread too */
    pthread_t t;
    void *tr;
    T_EQ(pthread_create(&t, NULL, close_thread, &c), 0);
    T_EQ(pthread_join(t, &tr), 0);
    T_EQ((intptr_t)tr, 0);
    for (int i = 0; i < 3 * CW_N; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
    T_EQ(c.recv_epipe, 2 * CW_N);
    T_EQ(c.zeroed, 2 * CW_N);
    T_EQ(c.send_epipe, CW_N);
    /* the buffered element survives the close */
    long v = 0;
    T_OK(ringo_chan_recv(c.sch, &v, RINGO_NOWAIT));
    T_EQ(v, 1);
    T_EQ(ringo_chan_recv(c.sch, &v, RINGO_NOWAIT), -EPIPE);
    ringo_chan_free(c.rch);
    ringo_chan_free(c.sch);
}

T_CASE(chan_close_wakes_waiters, T_IO)
{
    t_run(1, close_wakes_main, NULL);
    t_run(2, close_wakes_main, NULL);
}

/* ---- nil channel: blocks until the deadline; never chosen in select ---- */

static void nil_main(void *arg)
{
    (void)arg;
    long v = 1;
    T_EQ(ringo_chan_send(NULL, &v, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_recv(NULL, &v, RINGO_NOWAIT), -ETIMEDOUT);
    int64_t t0 = ringo_now();
    T_EQ(ringo_chan_send(NULL, &v, in_ms(20)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    t0 = ringo_now();
    T_EQ(ringo_chan_recv(NULL, &v, in_ms(20)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    T_EQ(ringo_chan_len(NULL), 0);
    T_EQ(ringo_chan_cap(NULL), 0);

    /* in select: a nil case is never ready, a real one always wins */
    ringo_chan *ch = mk(sizeof(long), 1);
    for (int i = 0; i < 200; i++) {
        long out = i, in = -1;
        ringo_select_case k[4] = {{NULL, RINGO_SELECT_SEND, &out, 0},
                                  {NULL, RINGO_SELECT_RECV, &in, 0},
                                  {ch, i % 2 ? RINGO_SELECT_RECV : RINGO_SELECT_SEND,
                                   i % 2 ? (void *)&in : (void *)&out, -1},
                                  {NULL, RINGO_SELECT_RECV, NULL, 0}};
        T_EQ(ringo_select(k, 4, RINGO_FOREVER), 2);
        T_EQ(k[2].res, 0);
        if (i % 2)
            T_EQ(in, i - 1);
    }
    /* only nil cases: waits for the deadline like an empty select */
    ringo_select_case k[2] = {{NULL, RINGO_SELECT_SEND, &v, 0}, {NULL, RINGO_SELECT_RECV, &v, 0}};
    T_EQ(ringo_select(k, 2, RINGO_NOWAIT), -ETIMEDOUT);
    t0 = ringo_now();
    T_EQ(ringo_select(k, 2, in_ms(20)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    ringo_chan_free(ch);
}

T_CASE(chan_nil_blocks_until_deadline, T_IO)
{
    t_run(1, nil_main, NULL);
}

/* ---- RINGO_NOWAIT: try-send / try-recv ---- */

static void try_parked_recv(void *arg)
{
    struct rdv *r = arg;
    long v = 0;
    r->sres = ringo_chan_recv(r->ch, &v, in_ms(10000));
    r->value = v;
    r->got = 1;
}

static void try_main(void *arg)
{
    (void)arg;
    ringo_chan *ub = mk(sizeof(long), 0), *b = mk(sizeof(long), 2);
    long v = 3;
    T_EQ(ringo_chan_send(ub, &v, RINGO_NOWAIT), -ETIMEDOUT); /* nobody receiving */
    T_EQ(ringo_chan_recv(ub, &v, RINGO_NOWAIT), -ETIMEDOUT); /* nobody sending */
    T_EQ(ringo_chan_recv(b, &v, RINGO_NOWAIT), -ETIMEDOUT);  /* empty */
    T_OK(ringo_chan_send(b, &v, RINGO_NOWAIT));
    T_OK(ringo_chan_send(b, &v, RINGO_NOWAIT));
    T_EQ(ringo_chan_send(b, &v, RINGO_NOWAIT), -ETIMEDOUT); /* full */
    T_EQ(ringo_chan_len(b), 2);

    /* a parked receiver makes a try-send succeed */
    struct rdv r = {.ch = ub};
    ringo_coro *h;
    T_OK(ringo_go_on(ringo_workers() - 1, try_parked_recv, &r, &h));
    settle();
    ringo_sleep(20 * MS);
    v = 11;
    T_OK(ringo_chan_send(ub, &v, RINGO_NOWAIT));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(r.sres, 0);
    T_EQ(r.value, 11);

    /* a parked sender makes a try-recv succeed */
    struct rdv s = {.ch = ub};
    T_OK(ringo_go_on(ringo_workers() - 1, rdv_sender, &s, &h));
    settle();
    ringo_sleep(20 * MS);
    v = 0;
    T_OK(ringo_chan_recv(ub, &v, RINGO_NOWAIT));
    T_EQ(v, 42);
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(s.sres, 0);
    ringo_chan_free(ub);
    ringo_chan_free(b);
}

T_CASE(chan_nowait_try_ops, T_IO)
{
    t_run(1, try_main, NULL);
    t_run(2, try_main, NULL);
}

/* ---- zero capacity and zero element size ---- */

static void zsig(void *arg)
{
    ringo_chan *ch = arg;
    for (int i = 0; i < 100; i++)
        T_OK(ringo_chan_send(ch, NULL, RINGO_FOREVER));
    T_OK(ringo_chan_close(ch));
}

static void zero_main(void *arg)
{
    (void)arg;
    /* elem_size 0, buffered: a counting semaphore of sorts */
    ringo_chan *ch = mk(0, 5);
    T_EQ(ringo_chan_cap(ch), 5);
    for (int i = 0; i < 5; i++)
        T_OK(ringo_chan_send(ch, NULL, RINGO_NOWAIT));
    T_EQ(ringo_chan_send(ch, NULL, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_len(ch), 5);
    char junk = 'x';
    T_OK(ringo_chan_recv(ch, &junk, RINGO_NOWAIT)); /* nothing is written */
    T_EQ(junk, 'x');
    T_EQ(ringo_chan_len(ch), 4);
    ringo_chan_free(ch);

    /* elem_size 0, unbuffered: pure signals across workers */
    ch = mk(0, 0);
    ringo_coro *h;
    T_OK(ringo_go_on(ringo_workers() - 1, zsig, ch, &h));
    int n = 0;
    while (ringo_chan_recv(ch, NULL, in_ms(10000)) == 0)
        n++;
    T_EQ(n, 100);
    T_OK(ringo_join(h, RINGO_FOREVER));
    ringo_chan_free(ch);

    /* huge capacity of empty elements allocates no buffer */
    T_OK(ringo_chan_new(&ch, 0, (size_t)1 << 60));
    T_EQ(ringo_chan_cap(ch), (size_t)1 << 60);
    ringo_chan_free(ch);
}

T_CASE(chan_zero_capacity_and_elem_size, T_IO)
{
    t_run(2, zero_main, NULL);
}

/* ---- large elements, copied whole across workers ---- */

enum { BIG = 4096, BIG_N = 200 };

struct big {
    ringo_chan *ch;
    _Atomic int bad;
};

static void big_sender(void *arg)
{
    struct big *b = arg;
    unsigned char *e = malloc(BIG);
    for (int i = 0; i < BIG_N; i++) {
        memset(e, i & 0xff, BIG);
        e[0] = (unsigned char)(i >> 8);
        T_OK(ringo_chan_send(b->ch, e, RINGO_FOREVER));
    }
    free(e);
}

static void big_main(void *arg)
{
    (void)arg;
    for (size_t cap = 0; cap <= 2; cap += 2) {
        struct big b = {.ch = mk(BIG, cap)};
        ringo_coro *h;
        T_OK(ringo_go_on(ringo_workers() - 1, big_sender, &b, &h));
        unsigned char *e = malloc(BIG);
        for (int i = 0; i < BIG_N; i++) {
            T_OK(ringo_chan_recv(b.ch, e, in_ms(10000)));
            T_EQ(e[0], (unsigned char)(i >> 8));
            for (int j = 1; j < BIG; j++)
                if (e[j] != (unsigned char)(i & 0xff))
                    T_FAIL("element %d byte %d: %d", i, j, e[j]);
        }
        free(e);
        T_OK(ringo_join(h, RINGO_FOREVER));
        ringo_chan_free(b.ch);
    }
}

T_CASE(chan_large_elements, T_IO)
{
    t_run(2, big_main, NULL);
}

/* ---- select: a ready case; none ready (default); deadline; empty ---- */

static void select_main(void *arg)
{
    (void)arg;
    ringo_chan *a = mk(sizeof(long), 1), *b = mk(sizeof(long), 1), *c = mk(sizeof(long), 0);
    long x = 5, ra = -1, rb = -1;
    ringo_select_case k[3] = {{a, RINGO_SELECT_RECV, &ra, -1},
                              {b, RINGO_SELECT_RECV, &rb, -1},
                              {c, RINGO_SELECT_SEND, &x, -1}};
    /* none ready: default, then a deadline */
    T_EQ(ringo_select(k, 3, RINGO_NOWAIT), -ETIMEDOUT);
    int64_t t0 = ringo_now();
    T_EQ(ringo_select(k, 3, in_ms(20)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    T_EQ(ringo_chan_len(a) + ringo_chan_len(b), 0);
    /* one ready */
    long v = 77;
    T_OK(ringo_chan_send(b, &v, RINGO_NOWAIT));
    T_EQ(ringo_select(k, 3, RINGO_FOREVER), 1);
    T_EQ(k[1].res, 0);
    T_EQ(rb, 77);
    T_EQ(ra, -1);
    /* a ready send case */
    ringo_select_case s[2] = {{c, RINGO_SELECT_SEND, &x, -1}, {a, RINGO_SELECT_SEND, &x, -1}};
    T_EQ(ringo_select(s, 2, RINGO_NOWAIT), 1);
    T_EQ(s[1].res, 0);
    T_EQ(ringo_chan_len(a), 1);
    /* a closed channel: recv is ready (-EPIPE), send reports -EPIPE */
    T_OK(ringo_chan_close(b));
    rb = -1;
    ringo_select_case cl[2] = {{c, RINGO_SELECT_RECV, NULL, -1}, {b, RINGO_SELECT_RECV, &rb, -1}};
    T_EQ(ringo_select(cl, 2, RINGO_FOREVER), 1);
    T_EQ(cl[1].res, -EPIPE);
    T_EQ(rb, 0);
    ringo_select_case cs[1] = {{b, RINGO_SELECT_SEND, &x, -1}};
    T_EQ(ringo_select(cs, 1, RINGO_FOREVER), 0);
    T_EQ(cs[0].res, -EPIPE);
    /* empty select: the deadline, like Go's select {} */
    T_EQ(ringo_select(NULL, 0, RINGO_NOWAIT), -ETIMEDOUT);
    t0 = ringo_now();
    T_EQ(ringo_select(NULL, 0, in_ms(20)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * MS);
    ringo_chan_free(a);
    ringo_chan_free(b);
    ringo_chan_free(c);
}

T_CASE(select_ready_default_deadline_empty, T_IO)
{
    t_run(1, select_main, NULL);
}

/* ---- select with a send and a recv case on the same channel ---- */

struct same {
    ringo_chan *ch;
    _Atomic long got;
    _Atomic int done;
};

static void same_partner_recv(void *arg)
{
    struct same *s = arg;
    long v = 0;
    T_OK(ringo_chan_recv(s->ch, &v, in_ms(10000)));
    s->got = v;
}

static void same_partner_send(void *arg)
{
    struct same *s = arg;
    long v = 123;
    T_OK(ringo_chan_send(s->ch, &v, in_ms(10000)));
}

/* Two selects, each with both directions on one channel, must pair up
 * with each other (never with themselves). */
enum { PAIR_N = 2000 };
static _Atomic long pair_sent, pair_recvd, pair_sum_sent, pair_sum_recvd;

static void pair_selecter(void *arg)
{
    ringo_chan *ch = arg;
    for (long i = 1; i <= PAIR_N; i++) {
        long out = i, in = 0;
        ringo_select_case k[2] = {{ch, RINGO_SELECT_SEND, &out, -1},
                                  {ch, RINGO_SELECT_RECV, &in, -1}};
        int r = ringo_select(k, 2, in_ms(10000));
        T_ASSERT(r == 0 || r == 1);
        T_EQ(k[r].res, 0);
        if (r == 0) {
            pair_sent++;
            pair_sum_sent += out;
        } else {
            pair_recvd++;
            pair_sum_recvd += in;
        }
    }
}

static void same_main(void *arg)
{
    (void)arg;
    ringo_chan *ch = mk(sizeof(long), 0);
    long out = 9, in = -1;
    ringo_select_case k[2] = {{ch, RINGO_SELECT_SEND, &out, -1}, {ch, RINGO_SELECT_RECV, &in, -1}};
    /* alone: neither case may match the other */
    T_EQ(ringo_select(k, 2, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_select(k, 2, in_ms(20)), -ETIMEDOUT);
    T_EQ(in, -1);

    struct same s = {.ch = ch};
    ringo_coro *h;
    int other = ringo_workers() - 1;
    T_OK(ringo_go_on(other, same_partner_recv, &s, &h));
    T_EQ(ringo_select(k, 2, in_ms(10000)), 0);
    T_EQ(k[0].res, 0);
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(s.got, 9);
    T_OK(ringo_go_on(other, same_partner_send, &s, &h));
    T_EQ(ringo_select(k, 2, in_ms(10000)), 1);
    T_EQ(k[1].res, 0);
    T_EQ(in, 123);
    T_OK(ringo_join(h, RINGO_FOREVER));

    /* two such selects against each other */
    pair_sent = pair_recvd = pair_sum_sent = pair_sum_recvd = 0;
    ringo_coro *p[2];
    T_OK(ringo_go_on(0, pair_selecter, ch, &p[0]));
    T_OK(ringo_go_on(other, pair_selecter, ch, &p[1]));
    T_OK(ringo_join(p[0], RINGO_FOREVER));
    T_OK(ringo_join(p[1], RINGO_FOREVER));
    T_EQ(pair_sent, PAIR_N);
    T_EQ(pair_recvd, PAIR_N);
    T_EQ(pair_sum_sent, pair_sum_recvd);
    ringo_chan_free(ch);
}

T_CASE(select_send_and_recv_same_channel, T_IO)
{
    t_run(1, same_main, NULL);
    t_run(2, same_main, NULL);
}

/* ---- cancel: -ECANCELED, and nothing delivered or consumed ---- */

struct cn {
    ringo_chan *ch, *ch2;
    _Atomic int res;
    _Atomic int started;
};

static void cn_send(void *arg)
{
    struct cn *c = arg;
    long v = 1;
    c->started = 1;
    c->res = ringo_chan_send(c->ch, &v, RINGO_FOREVER);
}

static void cn_recv(void *arg)
{
    struct cn *c = arg;
    long v = -1;
    c->started = 1;
    c->res = ringo_chan_recv(c->ch, &v, RINGO_FOREVER);
    if (v != -1)
        c->res = 1000; /* the element must be untouched */
}

static void cn_select(void *arg)
{
    struct cn *c = arg;
    long out = 1, in = -1;
    ringo_select_case k[3] = {{c->ch, RINGO_SELECT_SEND, &out, 0},
                              {c->ch, RINGO_SELECT_RECV, &in, 0},
                              {c->ch2, RINGO_SELECT_RECV, &in, 0}};
    c->started = 1;
    c->res = ringo_select(k, 3, RINGO_FOREVER);
}

static int cancel_one(void (*fn)(void *), struct cn *c)
{
    ringo_coro *h;
    c->res = 1;
    c->started = 0;
    T_OK(ringo_go(fn, c, &h));
    settle();
    T_EQ(c->started, 1);
    T_EQ(c->res, 1); /* still parked */
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, RINGO_FOREVER));
    return c->res;
}

static void cn_already(void *arg)
{
    struct cn *c = arg;
    /* a cancelled coroutine fails even a call that could complete */
    c->started = 1;
    ringo_sleep(RINGO_FOREVER);
    long v = 3;
    c->res = ringo_chan_send(c->ch2, &v, RINGO_NOWAIT);
}

static void cancel_main(void *arg)
{
    (void)arg;
    struct cn c = {.ch = mk(sizeof(long), 0), .ch2 = mk(sizeof(long), 1)};
    /* send: the element is not delivered */
    T_EQ(cancel_one(cn_send, &c), -ECANCELED);
    long v = -1;
    T_EQ(ringo_chan_recv(c.ch, &v, RINGO_NOWAIT), -ETIMEDOUT);
    /* recv on a buffered channel: a later element is not consumed */
    struct cn b = {.ch = c.ch2};
    T_EQ(cancel_one(cn_recv, &b), -ECANCELED);
    v = 8;
    T_OK(ringo_chan_send(c.ch2, &v, RINGO_NOWAIT));
    T_EQ(ringo_chan_len(c.ch2), 1);
    v = 0;
    T_OK(ringo_chan_recv(c.ch2, &v, RINGO_NOWAIT));
    T_EQ(v, 8);
    /* recv on an unbuffered channel: a later try-send finds nobody */
    T_EQ(cancel_one(cn_recv, &c), -ECANCELED);
    T_EQ(ringo_chan_send(c.ch, &v, RINGO_NOWAIT), -ETIMEDOUT);
    /* select: every case withdrawn */
    T_EQ(cancel_one(cn_select, &c), -ECANCELED);
    T_EQ(ringo_chan_send(c.ch, &v, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_recv(c.ch, &v, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_send(c.ch2, &v, RINGO_NOWAIT), 0);
    T_EQ(ringo_chan_len(c.ch2), 1);
    T_OK(ringo_chan_recv(c.ch2, &v, RINGO_NOWAIT));
    /* already cancelled: fails at once, even when it could complete */
    T_EQ(cancel_one(cn_already, &c), -ECANCELED);
    T_EQ(ringo_chan_len(c.ch2), 0);
    ringo_chan_free(c.ch);
    ringo_chan_free(c.ch2);
}

T_CASE(chan_cancel_blocked_send_recv_select, T_IO)
{
    t_run(1, cancel_main, NULL);
    t_run(2, cancel_main, NULL);
}

/* ---- -EINVAL and RINGO_ENOTINCORO ---- */

static void einval_main(void *arg)
{
    (void)arg;
    ringo_chan *ch = NULL;
    T_EQ(ringo_chan_new(NULL, 8, 1), -EINVAL);
    T_EQ(ringo_chan_new(&ch, RINGO_CHAN_MAX_ELEM + 1, 1), -EINVAL);
    T_EQ(ringo_chan_new(&ch, 16, SIZE_MAX / 8), -EINVAL); /* size overflows */
    T_ASSERT(ch == NULL);
    T_OK(ringo_chan_new(&ch, RINGO_CHAN_MAX_ELEM, 1));
    ringo_chan_free(ch);
    ringo_chan_free(NULL);
    T_EQ(ringo_chan_close(NULL), -EINVAL);

    ch = mk(sizeof(long), 1);
    T_EQ(ringo_chan_send(ch, NULL, RINGO_NOWAIT), -EINVAL); /* elem_size > 0 */
    long v = 0;
    ringo_select_case k[RINGO_SELECT_MAX + 1];
    for (int i = 0; i <= RINGO_SELECT_MAX; i++)
        k[i] = (ringo_select_case){ch, RINGO_SELECT_RECV, &v, 0};
    T_EQ(ringo_select(k, -1, RINGO_NOWAIT), -EINVAL);
    T_EQ(ringo_select(k, RINGO_SELECT_MAX + 1, RINGO_NOWAIT), -EINVAL);
    T_EQ(ringo_select(NULL, 1, RINGO_NOWAIT), -EINVAL);
    T_EQ(ringo_select(k, RINGO_SELECT_MAX, RINGO_NOWAIT), -ETIMEDOUT); /* the limit works */
    k[3].op = 0;
    T_EQ(ringo_select(k, 4, RINGO_NOWAIT), -EINVAL);
    k[3].op = 3;
    T_EQ(ringo_select(k, 4, RINGO_FOREVER), -EINVAL);
    k[3] = (ringo_select_case){ch, RINGO_SELECT_SEND, NULL, 0};
    T_EQ(ringo_select(k, 4, RINGO_NOWAIT), -EINVAL);
    T_EQ(ringo_chan_len(ch), 0); /* nothing happened */
    ringo_chan_free(ch);
}

T_CASE(chan_einval, T_IO)
{
    t_run(1, einval_main, NULL);
}

T_CASE(chan_enotincoro_from_plain_thread, 0)
{
    /* no runtime at all: blocking calls refuse, tries and close work */
    ringo_chan *ch = mk(sizeof(long), 1);
    long v = 1;
    T_EQ(ringo_chan_send(ch, &v, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_chan_recv(ch, &v, ringo_deadline_in(MS)), RINGO_ENOTINCORO);
    ringo_select_case k[1] = {{ch, RINGO_SELECT_RECV, &v, 0}};
    T_EQ(ringo_select(k, 1, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_select(NULL, 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_chan_send(NULL, &v, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_OK(ringo_chan_send(ch, &v, RINGO_NOWAIT));
    T_EQ(ringo_chan_send(ch, &v, RINGO_NOWAIT), -ETIMEDOUT);
    T_EQ(ringo_chan_len(ch), 1);
    v = 0;
    T_EQ(ringo_select(k, 1, RINGO_NOWAIT), 0);
    T_EQ(v, 1);
    T_OK(ringo_chan_close(ch));
    T_EQ(ringo_chan_recv(ch, &v, RINGO_NOWAIT), -EPIPE);
    ringo_chan_free(ch);
}

/* ---- producers and consumers on every worker ---- */

enum { PC_WORKERS = 4, PC_PROD_PER_W = 3, PC_CONS_PER_W = 3 };
#define PC_PROD (PC_WORKERS * PC_PROD_PER_W)
#define PC_CONS (PC_WORKERS * PC_CONS_PER_W)
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define PC_ITEMS 1500
#else
#define PC_ITEMS 20000
#endif

struct item {
    uint32_t producer;
    uint32_t seq;
};

struct pc {
    ringo_chan *ub, *buf;
    _Atomic unsigned char seen[PC_PROD][PC_ITEMS]; /* receptions per item */
    _Atomic long received, via_select, bad_order;
};

struct pc_arg {
    struct pc *pc;
    int id;
};

static void producer(void *arg)
{
    struct pc_arg *a = arg;
    struct pc *pc = a->pc;
    for (uint32_t s = 0; s < PC_ITEMS; s++) {
        struct item it = {(uint32_t)a->id, s};
        switch (s % 3) {
        case 0:
            T_OK(ringo_chan_send(pc->ub, &it, RINGO_FOREVER));
            break;
        case 1:
            T_OK(ringo_chan_send(pc->buf, &it, RINGO_FOREVER));
            break;
        default: {
            ringo_select_case k[2] = {{pc->ub, RINGO_SELECT_SEND, &it, -1},
                                      {pc->buf, RINGO_SELECT_SEND, &it, -1}};
            int r = ringo_select(k, 2, RINGO_FOREVER);
            T_ASSERT(r == 0 || r == 1);
            T_EQ(k[r].res, 0);
        }
        }
    }
}

static void consumer(void *arg)
{
    struct pc_arg *a = arg;
    struct pc *pc = a->pc;
    /* Per channel, a producer's items leave in the order it sent them, so
     * each consumer sees them in increasing order per (producer, channel).
     * (Across channels it need not: an item parked in the buffer may be
     * overtaken by a later one handed over on the unbuffered channel.) */
    int64_t last[2][PC_PROD];
    for (int i = 0; i < PC_PROD; i++)
        last[0][i] = last[1][i] = -1;
    ringo_chan *chs[2] = {pc->ub, pc->buf};
    long n = 0;
    /* Go's idiom: a closed channel's case is set to nil so it is never
     * chosen again; done when both are nil. */
    while (chs[0] || chs[1]) {
        struct item it = {UINT32_MAX, UINT32_MAX};
        int r, which;
        if (a->id % 2 == 0 || !chs[0] || !chs[1]) {
            ringo_select_case k[2] = {{chs[0], RINGO_SELECT_RECV, &it, -1},
                                      {chs[1], RINGO_SELECT_RECV, &it, -1}};
            which = ringo_select(k, 2, RINGO_FOREVER);
            T_ASSERT(which == 0 || which == 1);
            r = k[which].res;
            if (r == 0)
                pc->via_select++;
        } else {
            which = (int)(n % 2);
            r = ringo_chan_recv(chs[which], &it, RINGO_FOREVER);
        }
        if (r == -EPIPE) {
            T_EQ(it.producer, 0); /* zeroed */
            chs[which] = NULL;
            continue;
        }
        T_EQ(r, 0);
        T_ASSERT(it.producer < PC_PROD && it.seq < PC_ITEMS);
        if ((int64_t)it.seq <= last[which][it.producer])
            pc->bad_order++;
        last[which][it.producer] = it.seq;
        pc->seen[it.producer][it.seq]++;
        n++;
    }
    pc->received += n;
}

static void pc_main(void *arg)
{
    struct pc *pc = arg;
    T_EQ(ringo_workers(), PC_WORKERS);
    pc->ub = mk(sizeof(struct item), 0);
    pc->buf = mk(sizeof(struct item), 16);
    struct pc_arg pa[PC_PROD], ca[PC_CONS];
    ringo_coro *ph[PC_PROD], *jh[PC_CONS];
    for (int i = 0; i < PC_CONS; i++) {
        ca[i] = (struct pc_arg){pc, i};
        T_OK(ringo_go_on(i % PC_WORKERS, consumer, &ca[i], &jh[i]));
    }
    for (int i = 0; i < PC_PROD; i++) {
        pa[i] = (struct pc_arg){pc, i};
        T_OK(ringo_go_on(i % PC_WORKERS, producer, &pa[i], &ph[i]));
    }
    for (int i = 0; i < PC_PROD; i++)
        T_OK(ringo_join(ph[i], RINGO_FOREVER));
    T_OK(ringo_chan_close(pc->ub));
    T_OK(ringo_chan_close(pc->buf));
    for (int i = 0; i < PC_CONS; i++)
        T_OK(ringo_join(jh[i], RINGO_FOREVER));
    T_EQ(ringo_chan_len(pc->buf), 0);
    ringo_chan_free(pc->ub);
    ringo_chan_free(pc->buf);
}

T_CASE(chan_stress_producers_consumers, T_IO)
{
    struct pc *pc = calloc(1, sizeof(*pc));
    t_run(PC_WORKERS, pc_main, pc);
    T_EQ(pc->received, (long)PC_PROD * PC_ITEMS);
    T_EQ(pc->bad_order, 0);
    T_ASSERT(pc->via_select > 0);
    for (int p = 0; p < PC_PROD; p++)
        for (int s = 0; s < PC_ITEMS; s++)
            if (pc->seen[p][s] != 1)
                T_FAIL("producer %d item %d received %d times", p, s, pc->seen[p][s]);
    free(pc);
}

/* ---- select fairness: always-ready cases are chosen uniformly ---- */

enum { FAIR_CASES = 4 };
#define FAIR_N 1000000

static long fair_count[FAIR_CASES];

static void fair_main(void *arg)
{
    (void)arg;
    ringo_chan *ch[FAIR_CASES];
    ringo_select_case k[FAIR_CASES];
    /* two closed channels (recv always ready) and two empty-element
     * channels with room forever (send always ready) */
    for (int i = 0; i < FAIR_CASES; i++) {
        if (i < 2) {
            ch[i] = mk(sizeof(long), 0);
            T_OK(ringo_chan_close(ch[i]));
            k[i] = (ringo_select_case){ch[i], RINGO_SELECT_RECV, NULL, 0};
        } else {
            ch[i] = mk(0, SIZE_MAX);
            k[i] = (ringo_select_case){ch[i], RINGO_SELECT_SEND, NULL, 0};
        }
    }
    for (long i = 0; i < FAIR_N; i++) {
        int r = ringo_select(k, FAIR_CASES, RINGO_FOREVER);
        T_ASSERT(r >= 0 && r < FAIR_CASES);
        fair_count[r]++;
    }
    T_EQ(ringo_chan_len(ch[2]) + ringo_chan_len(ch[3]), fair_count[2] + fair_count[3]);
    for (int i = 0; i < FAIR_CASES; i++)
        ringo_chan_free(ch[i]);
}

T_CASE(select_fairness, T_IO)
{
    t_run(1, fair_main, NULL);
    long total = 0;
    for (int i = 0; i < FAIR_CASES; i++) {
        total += fair_count[i];
        /* expected 25% with a standard deviation of 0.04%: 20-30% */
        if (fair_count[i] < FAIR_N / 5 || fair_count[i] > FAIR_N * 3 / 10)
            T_FAIL("case %d chosen %ld times of %d", i, fair_count[i], FAIR_N);
    }
    T_EQ(total, FAIR_N);
}

/* ---- deadlines racing transfers: nothing lost, nothing duplicated ---- */

enum { DR_SENDERS = 4, DR_RECEIVERS = 4 };
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DR_PER_SENDER 1500
#else
#define DR_PER_SENDER 20000
#endif
#define DR_VALUES (DR_SENDERS * DR_PER_SENDER)

struct dr {
    ringo_chan *ch[2]; /* unbuffered and buffered(2) */
    _Atomic unsigned char sent[DR_VALUES];
    _Atomic unsigned char recvd[DR_VALUES];
    _Atomic long timeouts;
};

struct dr_arg {
    struct dr *d;
    int id;
};

/* Deadlines from 0 (try) to ~30 us: many expire just as a peer arrives. */
static int64_t short_deadline(uint64_t *rng)
{
    uint64_t r = t_rand(rng) % 8;
    return r == 0 ? RINGO_NOWAIT : ringo_deadline_in((int64_t)(r * 4000));
}

static void dr_sender(void *arg)
{
    struct dr_arg *a = arg;
    struct dr *d = a->d;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(a->id + 1);
    for (int i = 0; i < DR_PER_SENDER; i++) {
        long v = (long)a->id * DR_PER_SENDER + i;
        int r;
        if (i % 2) {
            ringo_select_case k[2] = {{d->ch[0], RINGO_SELECT_SEND, &v, -1},
                                      {d->ch[1], RINGO_SELECT_SEND, &v, -1}};
            int idx = ringo_select(k, 2, short_deadline(&rng));
            r = idx >= 0 ? k[idx].res : idx;
        } else
            r = ringo_chan_send(d->ch[i / 2 % 2], &v, short_deadline(&rng));
        if (r == 0)
            d->sent[v]++;
        else if (r == -ETIMEDOUT)
            d->timeouts++;
        else
            T_FAIL("send: %d", r);
    }
}

static void dr_receiver(void *arg)
{
    struct dr_arg *a = arg;
    struct dr *d = a->d;
    uint64_t rng = 0xD1B54A32D192ED03ULL * (uint64_t)(a->id + 1);
    ringo_chan *ch[2] = {d->ch[0], d->ch[1]};
    for (unsigned i = 0; ch[0] || ch[1]; i++) {
        long v = -1;
        int idx, r;
        if (i % 2 && ch[i / 2 % 2]) {
            /* plain receives too: a timed-out waiter left in the queue
             * would be linked again at the same stack address next time */
            idx = (int)(i / 2 % 2);
            r = ringo_chan_recv(ch[idx], &v, short_deadline(&rng));
        } else {
            ringo_select_case k[2] = {{ch[0], RINGO_SELECT_RECV, &v, -1},
                                      {ch[1], RINGO_SELECT_RECV, &v, -1}};
            idx = ringo_select(k, 2, short_deadline(&rng));
            r = idx >= 0 ? k[idx].res : idx;
        }
        if (r == -ETIMEDOUT) {
            T_EQ(v, -1); /* a timed-out receive wrote nothing */
            continue;
        }
        T_ASSERT(idx == 0 || idx == 1);
        if (r == -EPIPE) {
            T_EQ(v, 0);
            ch[idx] = NULL;
            continue;
        }
        T_EQ(r, 0);
        T_ASSERT(v >= 0 && v < DR_VALUES);
        d->recvd[v]++;
    }
}

static void dr_main(void *arg)
{
    struct dr *d = arg;
    d->ch[0] = mk(sizeof(long), 0);
    d->ch[1] = mk(sizeof(long), 2);
    int nw = ringo_workers();
    struct dr_arg sa[DR_SENDERS], ra[DR_RECEIVERS];
    ringo_coro *sh[DR_SENDERS], *rh[DR_RECEIVERS];
    for (int i = 0; i < DR_RECEIVERS; i++) {
        ra[i] = (struct dr_arg){d, i};
        T_OK(ringo_go_on(i % nw, dr_receiver, &ra[i], &rh[i]));
    }
    for (int i = 0; i < DR_SENDERS; i++) {
        sa[i] = (struct dr_arg){d, i};
        T_OK(ringo_go_on((i + 1) % nw, dr_sender, &sa[i], &sh[i]));
    }
    for (int i = 0; i < DR_SENDERS; i++)
        T_OK(ringo_join(sh[i], RINGO_FOREVER));
    T_OK(ringo_chan_close(d->ch[0]));
    T_OK(ringo_chan_close(d->ch[1]));
    for (int i = 0; i < DR_RECEIVERS; i++)
        T_OK(ringo_join(rh[i], RINGO_FOREVER));
    ringo_chan_free(d->ch[0]);
    ringo_chan_free(d->ch[1]);
}

T_CASE(select_deadline_race, T_IO)
{
    struct dr *d = calloc(1, sizeof(*d));
    t_run(2, dr_main, d);
    long sent = 0;
    for (int v = 0; v < DR_VALUES; v++) {
        if (d->sent[v] > 1 || d->recvd[v] != d->sent[v])
            T_FAIL("value %d: sent %d times, received %d times", v, d->sent[v], d->recvd[v]);
        sent += d->sent[v];
    }
    T_EQ(sent + d->timeouts, DR_VALUES);
    /* the race must actually have happened both ways */
    T_ASSERT(d->timeouts > 0);
    T_ASSERT(sent > 0);
    free(d);
}
