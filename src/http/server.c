/* src/http/server.c - the HTTP server object: configuration, listeners and
 * accept loops (one SO_REUSEPORT listener per worker), connection caps,
 * counters and graceful shutdown. The per-connection work is in conn.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "http/http_int.h"

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

int ringo_http_start(ringo_http_server *s, const ringo_addr *addr, int *port_out)
{
    if (ringo_worker_id() < 0)
        return RINGO_ENOTINCORO;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&s->serving, &expect, 1))
        return -EBUSY;
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
    ringo_addr a = *addr;
    int r = 0, i;
    for (i = 0; i < n; i++) {
        struct rh_worker *w = &s->workers[i];
        list_init(&w->conns);
        w->date_sec = -1;
        w->lfd = ringo_tcp_listen(&a, s->cfg.listen_backlog, RINGO_LISTEN_REUSEPORT);
        if (w->lfd < 0) {
            r = w->lfd;
            break;
        }
        if (i == 0) {
            /* port 0: the others join the port the kernel picked */
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            if (getsockname(w->lfd, (struct sockaddr *)&ss, &len) == 0) {
                memcpy(&a.ss, &ss, len);
                a.len = len;
            }
        }
    }
    if (r < 0) {
        for (int k = 0; k < i; k++)
            ringo_close(s->workers[k].lfd);
        atomic_store(&s->serving, 0);
        return r;
    }
    for (i = 0; i < n; i++) {
        ringo_wg_add(&s->accept_wg, 1);
        r = ringo_go_on(i, accept_loop, s, NULL);
        if (r < 0) {
            ringo_wg_done(&s->accept_wg);
            ringo_close(s->workers[i].lfd);
        }
    }
    if (port_out)
        *port_out = ringo_addr_port(&a);
    return 0;
}

int ringo_http_wait(ringo_http_server *s)
{
    /* the accept loops end at ringo_http_shutdown or when the runtime
     * stops; the connections follow */
    ringo_wg_wait(&s->accept_wg, RINGO_FOREVER);
    ringo_wg_wait(&s->conns_wg, RINGO_FOREVER);
    return 0;
}

int ringo_http_serve(ringo_http_server *s, const ringo_addr *addr)
{
    int r = ringo_http_start(s, addr, NULL);
    if (r < 0)
        return r;
    ringo_http_wait(s);
    atomic_store(&s->serving, 0);
    return 0;
}

/* On one worker: cancel its accept loop and its idle connections, tell the
 * busy ones to close after their response; with `all`, cancel everything. */
struct rh_sweep {
    ringo_http_server *s;
    bool all;
};

static void sweep(void *arg)
{
    struct rh_sweep *sw = arg;
    struct rh_worker *w = &sw->s->workers[ringo_worker_id()];
    if (w->acceptor)
        ringo_cancel(w->acceptor);
    for (struct list_node *n = w->conns.next; n != &w->conns; n = n->next) {
        struct rh_conn *c = LIST_ENTRY(n, struct rh_conn, link);
        c->closing = true;
        if (c->idle || sw->all)
            ringo_cancel(c->coro);
    }
}

static int sweep_all(ringo_http_server *s, bool all)
{
    struct rh_sweep sw = {s, all};
    ringo_coro *h[256];
    int n = s->nworkers < 256 ? s->nworkers : 256;
    for (int i = 0; i < n; i++)
        if (ringo_go_on(i, sweep, &sw, &h[i]) < 0)
            h[i] = NULL;
    for (int i = 0; i < n; i++)
        if (h[i])
            ringo_join(h[i], RINGO_FOREVER);
    return 0;
}

int ringo_http_shutdown(ringo_http_server *s, int64_t deadline)
{
    if (!atomic_load(&s->serving))
        return 0;
    atomic_store(&s->draining, 1);
    int64_t grace = ringo_deadline_in(s->cfg.shutdown_grace_ns);
    if (deadline < 0 || (grace >= 0 && grace < deadline))
        deadline = grace;
    sweep_all(s, false);
    ringo_wg_wait(&s->accept_wg, RINGO_FOREVER);
    int r = ringo_wg_wait(&s->conns_wg, deadline);
    if (r == -ETIMEDOUT) {
        sweep_all(s, true);
        ringo_wg_wait(&s->conns_wg, RINGO_FOREVER);
    }
    ip_table_free(s);
    if (s->ip_table)
        memset(s->ip_table, 0, s->ip_buckets * sizeof(*s->ip_table));
    atomic_store(&s->serving, 0);
    return r == -ETIMEDOUT ? -ETIMEDOUT : 0;
}
