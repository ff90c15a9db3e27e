/* src/http/server.c - the HTTP server object: configuration, listeners and
 * accept loops (one SO_REUSEPORT listener per worker), connection caps,
 * counters, graceful shutdown and its trigger on SIGINT/SIGTERM (a
 * coroutine in ringo_stop_wait). The per-connection work is in conn.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "http/http_int.h"
#include "sync/waitq.h"

void ringo_http_config_init(ringo_http_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server_name = "ringo";
    cfg->max_header_bytes = 8192;
    cfg->max_headers = 100;
    cfg->max_target = 8192;
    cfg->max_body = 4u << 20;
    cfg->header_timeout_ns = 10 * 1000000000LL;
    cfg->read_timeout_ns = 5 * 1000000000LL;
    cfg->idle_timeout_ns = 60 * 1000000000LL;
    cfg->write_timeout_ns = 30 * 1000000000LL;
    cfg->max_requests_per_conn = 1000;
    cfg->max_conns = 100000;
    cfg->max_conns_per_ip = 0;
    cfg->max_queued_response = 64 * 1024;
    cfg->shutdown_grace_ns = 10 * 1000000000LL;
    cfg->listen_backlog = 4096;
    cfg->drain_on_stop = 1;
}

int ringo_http_server_new(const ringo_http_config *cfg, ringo_http_server **out)
{
    ringo_http_config c;
    if (cfg)
        c = *cfg;
    else
        ringo_http_config_init(&c);
    if (!c.server_name)
        c.server_name = "ringo";
    /* The head must hold at least a request line; the header array lives
     * on the connection's stack, so its size is bounded too. */
    if (c.max_header_bytes < 64 || c.max_header_bytes > (1u << 20) || c.max_headers < 1 ||
        c.max_headers > 1000 || c.max_target < 1 || c.max_target > c.max_header_bytes ||
        c.header_timeout_ns <= 0 || c.read_timeout_ns <= 0 || c.idle_timeout_ns <= 0 ||
        c.write_timeout_ns <= 0 || c.max_queued_response < 1024 || c.listen_backlog < 1 ||
        strlen(c.server_name) > 64 || strpbrk(c.server_name, "\r\n"))
        return -EINVAL;
    if (c.max_requests_per_conn == 0)
        c.max_requests_per_conn = UINT32_MAX;
    ringo_http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = c;
    s->name_len = strlen(c.server_name);
    s->lim.max_head = (uint32_t)c.max_header_bytes;
    s->lim.max_headers = c.max_headers;
    s->lim.max_target = (uint32_t)c.max_target;
    s->lim.max_body = c.max_body;
    ringo_wg_init(&s->conns_wg);
    ringo_wg_init(&s->accept_wg);
    ringo_wg_init(&s->shutdown_wg);
    ringo_wg_init(&s->sweep_wg);
    ringo_wg_init(&s->watch_wg);
    *out = s;
    return 0;
}

void ringo_http_server_free(ringo_http_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s->routes);
    free(s->workers);
    free(s->ip_table);
    ringo_tls_ctx_free(s->tls);
    free(s);
}

void rh_stat_add(struct rh_worker *w, size_t idx, uint64_t n)
{
    atomic_store_explicit(&w->st[idx], atomic_load_explicit(&w->st[idx], memory_order_relaxed) + n,
                          memory_order_relaxed);
}

int ringo_http_server_stats(ringo_http_server *s, ringo_http_stats *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t *o = (uint64_t *)out;
    struct rh_worker *ws = s->workers;
    for (int i = 0; ws && i < s->nworkers; i++)
        for (size_t k = 0; k < RH_NSTATS; k++)
            o[k] += atomic_load_explicit(&ws[i].st[k], memory_order_relaxed);
    out->conns_open = atomic_load_explicit(&s->open, memory_order_relaxed);
    return 0;
}

/* ---- per-IP connection counts (accept and close only, never per request) ---- */
struct rh_ipcount {
    struct rh_ipcount *next;
    unsigned count;
    uint8_t len;
    uint8_t key[16];
};

static size_t ip_key(const ringo_addr *a, uint8_t key[16])
{
    if (a->ss.ss_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
        return 4;
    }
    if (a->ss.ss_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, v4mapped, 12)) {
            memcpy(key, b + 12, 4);
            return 4;
        }
        memcpy(key, b, 16);
        return 16;
    }
    return 0;
}

static uint64_t ip_hash(const uint8_t *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    return h;
}

/* Count a connection from peer; returns its entry, or NULL when over the
 * cap (or out of memory: refusing is the safe answer to both). */
static struct rh_ipcount *ip_acquire(ringo_http_server *s, const ringo_addr *peer)
{
    uint8_t key[16];
    size_t len = ip_key(peer, key);
    uint64_t h = ip_hash(key, len);
    ringo__spin_lock(&s->ip_lock);
    struct rh_ipcount **slot = &s->ip_table[h % s->ip_buckets], *e;
    for (e = *slot; e; e = e->next)
        if (e->len == len && !memcmp(e->key, key, len))
            break;
    if (!e && (e = calloc(1, sizeof(*e)))) {
        e->len = (uint8_t)len;
        memcpy(e->key, key, len);
        e->next = *slot;
        *slot = e;
    }
    if (e && e->count >= s->cfg.max_conns_per_ip)
        e = NULL;
    else if (e)
        e->count++;
    ringo__spin_unlock(&s->ip_lock);
    return e;
}

static void ip_release(ringo_http_server *s, struct rh_ipcount *e)
{
    ringo__spin_lock(&s->ip_lock);
    /* the last connection of an address takes its entry along: a table
     * that kept every address ever seen would grow without bound */
    if (--e->count == 0) {
        uint64_t h = ip_hash(e->key, e->len);
        struct rh_ipcount **p = &s->ip_table[h % s->ip_buckets];
        while (*p && *p != e)
            p = &(*p)->next;
        if (*p)
            *p = e->next;
        free(e);
    }
    ringo__spin_unlock(&s->ip_lock);
}

static void ip_table_free(ringo_http_server *s)
{
    for (size_t i = 0; s->ip_table && i < s->ip_buckets; i++)
        for (struct rh_ipcount *e = s->ip_table[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
}

/* ---- accept loops ---- */
struct rh_newconn {
    ringo_http_server *s;
    int fd;
    ringo_addr peer;
    struct rh_ipcount *ip;
};

static void refuse(ringo_http_server *s, struct rh_worker *w, int fd)
{
    rh_stat_add(w, RH_STAT(conns_refused), 1);
    /* A reset tells the client at once instead of leaving it waiting. */
    ringo_close(fd);
}

static void accept_loop(void *arg)
{
    ringo_http_server *s = arg;
    struct rh_worker *w = &s->workers[ringo_worker_id()];
    w->acceptor = ringo_self();
    int64_t last_log = 0;
    while (!atomic_load_explicit(&s->draining, memory_order_relaxed)) {
        ringo_addr peer;
        int fd = ringo_accept(w->lfd, &peer, RINGO_FOREVER);
        if (fd == -ECANCELED || fd == RINGO_ESTOPPED)
            break;
        if (fd < 0) {
            /* Out of descriptors or memory: say so at most once a second,
             * back off, keep serving the open connections. */
            if (fd != -ECONNABORTED && fd != -EINTR) {
                if (ringo_now() - last_log > 1000000000LL) {
                    fprintf(stderr, "ringo-http: accept: %s; retrying\n", ringo_strerror(fd));
                    last_log = ringo_now();
                }
                if (ringo_sleep(10 * 1000 * 1000) < 0)
                    break;
            }
            continue;
        }
        rh_stat_add(w, RH_STAT(conns_accepted), 1);
        uint64_t open = atomic_fetch_add_explicit(&s->open, 1, memory_order_relaxed);
        if (s->cfg.max_conns && open >= s->cfg.max_conns) {
            atomic_fetch_sub_explicit(&s->open, 1, memory_order_relaxed);
            refuse(s, w, fd);
            continue;
        }
        struct rh_ipcount *ip = NULL;
        if (s->cfg.max_conns_per_ip && !(ip = ip_acquire(s, &peer))) {
            atomic_fetch_sub_explicit(&s->open, 1, memory_order_relaxed);
            refuse(s, w, fd);
            continue;
        }
        struct rh_newconn *nc = malloc(sizeof(*nc));
        int r = nc ? 0 : -ENOMEM;
        if (nc) {
            *nc = (struct rh_newconn){s, fd, peer, ip};
            ringo_wg_add(&s->conns_wg, 1);
            r = ringo_go(rh_conn_main, nc, NULL);
            if (r < 0) {
                ringo_wg_done(&s->conns_wg);
                free(nc);
            }
        }
        if (r < 0) {
            if (ip)
                ip_release(s, ip);
            atomic_fetch_sub_explicit(&s->open, 1, memory_order_relaxed);
            refuse(s, w, fd);
        }
    }
    ringo_close(w->lfd);
    w->lfd = -1;
    w->acceptor = NULL;
    ringo_wg_done(&s->accept_wg);
}

/* Called by each connection coroutine as it starts and ends. */
void rh_conn_register(struct rh_conn *c, void *newconn)
{
    struct rh_newconn *nc = newconn;
    c->s = nc->s;
    c->fd = nc->fd;
    c->peer = nc->peer;
    c->ip = nc->ip;
    c->w = &c->s->workers[ringo_worker_id()];
    c->coro = ringo_self();
    free(nc);
    list_push_back(&c->w->conns, &c->link);
}

void rh_conn_unregister(struct rh_conn *c)
{
    ringo_http_server *s = c->s;
    list_remove(&c->link);
    if (c->ip)
        ip_release(s, c->ip);
    atomic_fetch_sub_explicit(&s->open, 1, memory_order_relaxed);
    ringo_wg_done(&s->conns_wg);
}

static void stop_watch(void *arg);
static int rh_shutdown(ringo_http_server *s, int64_t deadline, bool from_watcher);

/* Worker i's listener. The first decides who may share the port: nobody
 * (one worker: no SO_REUSEPORT at all; several: a group that refuses a
 * port another process listens on), or anyone of the same user with
 * share_port. The others join the first's group. */
static int listen_one(ringo_http_server *s, int i, const ringo_addr *a)
{
    int backlog = s->cfg.listen_backlog;
    if (i > 0)
        return ringo_tcp_listen_join(s->workers[0].lfd, backlog);
    int flags = 0;
    if (s->cfg.share_port)
        flags = RINGO_LISTEN_SHARED;
    else if (s->nworkers > 1)
        flags = RINGO_LISTEN_REUSEPORT;
    return ringo_tcp_listen(a, backlog, flags);
}

static int start(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls, int *port_out)
{
    if (ringo_worker_id() < 0)
        return RINGO_ENOTINCORO;
    if (tls && !ringo__tls_ctx_is_server(tls))
        return -EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&s->serving, &expect, 1))
        return -EBUSY;
    /* the connections of an earlier run are gone: serving was 0 */
    ringo_tls_ctx_free(s->tls);
    s->tls = tls ? ringo__tls_ctx_ref(tls) : NULL;
    int n = ringo_workers();
    free(s->workers);
    s->workers = aligned_alloc(64, sizeof(*s->workers) * (size_t)n);
    if (s->cfg.max_conns_per_ip && !s->ip_table) {
        s->ip_buckets = 4096;
        s->ip_table = calloc(s->ip_buckets, sizeof(*s->ip_table));
    }
    if (!s->workers || (s->cfg.max_conns_per_ip && !s->ip_table)) {
        atomic_store(&s->serving, 0);
        return -ENOMEM;
    }
    memset(s->workers, 0, sizeof(*s->workers) * (size_t)n);
    s->nworkers = n;
    atomic_store(&s->draining, 0);
    atomic_store(&s->shutting, 0);
    s->shutdown_rc = 0;
    ringo_wg_add(&s->shutdown_wg, 1);
    ringo_addr a = *addr;
    int r = 0, i;
    for (i = 0; i < n; i++) {
        struct rh_worker *w = &s->workers[i];
        list_init(&w->conns);
        w->date_sec = -1;
        w->lfd = listen_one(s, i, &a);
        if (w->lfd < 0) {
            r = w->lfd;
            break;
        }
    }
    if (r < 0) {
        for (int k = 0; k < i; k++)
            ringo_close(s->workers[k].lfd);
        ringo_wg_done(&s->shutdown_wg);
        atomic_store(&s->serving, 0);
        return r;
    }
    /* the port the kernel picked for port 0 */
    socklen_t len = sizeof(a.ss);
    if (getsockname(s->workers[0].lfd, (struct sockaddr *)&a.ss, &len) == 0)
        a.len = len;
    for (i = 0; i < n; i++) {
        ringo_wg_add(&s->accept_wg, 1);
        r = ringo_go_on(i, accept_loop, s, NULL);
        if (r < 0) {
            ringo_wg_done(&s->accept_wg);
            ringo_close(s->workers[i].lfd);
        }
    }
    s->watcher = NULL;
    s->watcher_worker = ringo_worker_id();
    if (s->cfg.drain_on_stop) {
        ringo_wg_add(&s->watch_wg, 1);
        if (ringo_go(stop_watch, s, NULL) < 0) {
            ringo_wg_done(&s->watch_wg);
            fprintf(stderr, "ringo-http: no coroutine to watch for SIGINT/SIGTERM: "
                            "they will stop the runtime without draining\n");
        }
    }
    if (port_out)
        *port_out = ringo_addr_port(&a);
    return 0;
}

int ringo_http_start(ringo_http_server *s, const ringo_addr *addr, int *port_out)
{
    return start(s, addr, NULL, port_out);
}

int ringo_http_start_tls(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls,
                         int *port_out)
{
    return tls ? start(s, addr, tls, port_out) : -EINVAL;
}

int ringo_http_wait(ringo_http_server *s)
{
    /* the accept loops end at ringo_http_shutdown or when the runtime
     * stops; the connections follow; the watcher may be running the
     * shutdown */
    int r = ringo_wg_wait(&s->accept_wg, RINGO_FOREVER);
    if (r == 0)
        r = ringo_wg_wait(&s->conns_wg, RINGO_FOREVER);
    if (r == 0)
        r = ringo_wg_wait(&s->watch_wg, RINGO_FOREVER);
    if (r == 0)
        return 0;
    /* Cancelled (ringo_stop, or ringo_cancel of the caller): the caller
     * frees the server next, so no coroutine of it may be left; end them
     * now instead of serving on unattended. */
    rh_shutdown(s, RINGO_NOWAIT, false);
    ringo__wg_wait_uninterruptible(&s->accept_wg);
    ringo__wg_wait_uninterruptible(&s->conns_wg);
    ringo__wg_wait_uninterruptible(&s->watch_wg);
    return -ECANCELED;
}

static int serve(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls)
{
    int r = start(s, addr, tls, NULL);
    if (r < 0)
        return r;
    r = ringo_http_wait(s);
    atomic_store(&s->serving, 0);
    return r;
}

int ringo_http_serve(ringo_http_server *s, const ringo_addr *addr)
{
    return serve(s, addr, NULL);
}

int ringo_http_serve_tls(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls)
{
    return tls ? serve(s, addr, tls) : -EINVAL;
}

/* On one worker: cancel its accept loop, its stop watcher and its idle
 * connections, tell the busy ones to close after their response; with
 * `every`, cancel the busy ones too. */
static void sweep_worker(ringo_http_server *s, bool every)
{
    struct rh_worker *w = &s->workers[ringo_worker_id()];
    if (w->acceptor)
        ringo_cancel(w->acceptor);
    /* only the watcher's own worker touches s->watcher */
    if (ringo_worker_id() == s->watcher_worker && s->watcher)
        ringo_cancel(s->watcher);
    for (struct list_node *n = w->conns.next; n != &w->conns; n = n->next) {
        struct rh_conn *c = LIST_ENTRY(n, struct rh_conn, link);
        c->closing = true;
        if (c->idle || every)
            ringo_cancel(c->coro);
    }
}

static void sweep(void *arg)
{
    ringo_http_server *s = arg;
    sweep_worker(s, s->sweep_every);
    ringo_wg_done(&s->sweep_wg);
}

/* Sweep every worker and wait until all have been swept. The sweeps get
 * nothing from the caller's frame, and the wait ignores cancellation: a
 * cancelled caller still must not leave them behind. */
static void sweep_all(ringo_http_server *s, bool every)
{
    s->sweep_every = every;
    int self = ringo_worker_id();
    for (int i = 0; i < s->nworkers; i++) {
        ringo_wg_add(&s->sweep_wg, 1);
        if (ringo_go_on(i, sweep, s, NULL) < 0) {
            /* stopping or out of memory: do our own worker in place; the
             * others are being cancelled by the stop (or stay swept by the
             * first round) */
            ringo_wg_done(&s->sweep_wg);
            if (i == self)
                sweep_worker(s, every);
        }
    }
    ringo__wg_wait_uninterruptible(&s->sweep_wg);
}

/* One shutdown at a time: the first caller (a user's ringo_http_shutdown,
 * or the watcher on a stop request) does it, later ones wait for its end.
 * The watcher never waits for itself: a user shutdown that won waits for
 * the watcher (swept, or losing here), so the server may be freed after
 * either returns. */
static int rh_shutdown(ringo_http_server *s, int64_t deadline, bool from_watcher)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&s->shutting, &expect, 1)) {
        if (from_watcher)
            return 0;
        ringo__wg_wait_uninterruptible(&s->shutdown_wg);
        ringo__wg_wait_uninterruptible(&s->watch_wg);
        return s->shutdown_rc;
    }
    atomic_store(&s->draining, 1);
    int64_t grace = ringo_deadline_in(s->cfg.shutdown_grace_ns);
    if (deadline < 0 || (grace >= 0 && grace < deadline))
        deadline = grace;
    sweep_all(s, false);
    ringo__wg_wait_uninterruptible(&s->accept_wg);
    int r = ringo_wg_wait(&s->conns_wg, deadline);
    if (r < 0) {
        /* the deadline passed, or the caller was cancelled: cancel them */
        sweep_all(s, true);
        ringo__wg_wait_uninterruptible(&s->conns_wg);
        if (r != -ECANCELED)
            r = -ETIMEDOUT;
    }
    if (!from_watcher)
        ringo__wg_wait_uninterruptible(&s->watch_wg);
    /* every connection released its per-IP entry; what is left is empty */
    ip_table_free(s);
    if (s->ip_table)
        memset(s->ip_table, 0, s->ip_buckets * sizeof(*s->ip_table));
    s->shutdown_rc = r;
    atomic_store(&s->serving, 0);
    ringo_wg_done(&s->shutdown_wg);
    return r;
}

int ringo_http_shutdown(ringo_http_server *s, int64_t deadline)
{
    if (!atomic_load(&s->serving)) {
        /* a watcher that just finished the shutdown may still be leaving */
        ringo__wg_wait_uninterruptible(&s->watch_wg);
        return 0;
    }
    return rh_shutdown(s, deadline, false);
}

/* The server's part in a graceful stop (SIGINT/SIGTERM, ringo_stop_graceful):
 * parked in ringo_stop_wait, it makes the signal drain instead of stop. */
static void stop_watch(void *arg)
{
    ringo_http_server *s = arg;
    s->watcher = ringo_self();
    /* a shutdown that started before we first ran found no watcher to
     * cancel (its sweep of this worker ran first, or runs after we park) */
    int why = atomic_load(&s->shutting) ? -ECANCELED : ringo_stop_wait(RINGO_FOREVER);
    s->watcher = NULL;
    if (why >= 0)
        rh_shutdown(s, RINGO_FOREVER, true);
    ringo_wg_done(&s->watch_wg);
}
