/* src/http/http_int.h - what the HTTP server's files share: the server
 * object, its per-worker part, the connection and the request/response
 * records (all of which live on the connection coroutine's stack). */
#ifndef RINGO_HTTP_INT_H
#define RINGO_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ringo.h>

#include "base/list.h"
#include "base/spin.h"
#include "http/parse.h"
#include "tls/tls.h"

/* ---- counters: ringo_http_stats viewed as an array of uint64_t ---- */
#define RH_NSTATS     (sizeof(ringo_http_stats) / sizeof(uint64_t))
#define RH_STAT(name) (offsetof(ringo_http_stats, name) / sizeof(uint64_t))

struct rh_route {
    char *method; /* NULL: any */
    char *path;
    size_t path_len;
    int flags;
    ringo_http_handler handler;
    void *arg;
};

/* One per worker, on its own cache lines: only that worker writes it
 * (counters with relaxed load+store, read by any thread). */
struct rh_worker {
    _Atomic uint64_t st[RH_NSTATS];
    int64_t date_sec;    /* the wall-clock second date_line shows */
    char date_line[128]; /* "Server: x\r\nDate: <IMF-fixdate>\r\n" */
    size_t date_len;
    struct list_node conns; /* this worker's connections (shutdown walks it) */
    ringo_coro *acceptor;
    int lfd;
} __attribute__((aligned(64)));

struct rh_ipcount;

struct ringo_http_server {
    ringo_http_config cfg;
    struct rhp_limits lim;
    struct rh_route *routes;
    size_t nroutes, route_cap;
    size_t name_len;

    struct rh_worker *workers; /* ringo_workers() of them while serving */
    int nworkers;
    _Atomic int serving;
    _Atomic int draining;  /* shutdown started: finish and close */
    _Atomic uint64_t open; /* open connections, for max_conns */
    ringo_wg conns_wg;     /* one per connection coroutine */
    ringo_wg accept_wg;    /* one per accept loop */
    ringo__spin ip_lock;   /* per-IP table: touched at accept and close only */
    struct rh_ipcount **ip_table;
    size_t ip_buckets;
    /* shutdown (server.c): one at a time; the watcher drains on SIGINT/SIGTERM */
    _Atomic int shutting; /* a shutdown has started since ringo_http_start */
    int shutdown_rc;      /* its result, for the callers that lost the race */
    ringo_wg shutdown_wg; /* 1 while that shutdown runs */
    ringo_wg sweep_wg;    /* sweep coroutines still running */
    bool sweep_every;     /* this sweep cancels busy connections too */
    ringo_coro *watcher;  /* parked in ringo_stop_wait; NULL once it left */
    int watcher_worker;   /* its worker */
    ringo_wg watch_wg;    /* 1 while the watcher runs */
    ringo_tls_ctx *tls;   /* HTTPS: every connection starts with a handshake */
};

/* The receive window: the bytes of the current read not parsed yet. It is
 * either a buffer lent by ringo_recv_borrow (the fast path: requests are
 * parsed where the kernel put them) or the connection's own buffer, used
 * when a request straddles two reads. own[0, keep) holds the head of the
 * request in progress and never moves while its views are in use. */
struct rh_conn {
    ringo_http_server *s;
    struct rh_worker *w;
    int fd;
    ringo_tls *tls; /* HTTPS: every byte in and out goes through it */
    ringo_addr peer;
    struct list_node link;
    ringo_coro *coro;
    struct rh_ipcount *ip;

    ringo_buf lent;
    bool have_lent;
    char *win; /* lent.data or own */
    size_t start, end;
    size_t keep;
    char *own;
    size_t own_cap;

    /* queued output: out[0, out_len) then iov segments referencing
     * static bodies; flushed with one writev */
    char *out;
    size_t out_len, out_cap;
    char *out_heap;
    char *out_stack; /* the OUT_STACK bytes out starts with */
    struct iovec seg[16];
    size_t seg_off[16]; /* seg[i].iov_base == NULL: out bytes from seg_off[i] */
    int nseg;
    size_t queued; /* total bytes queued */

    unsigned requests;
    bool idle;      /* parked waiting for a new request */
    bool closing;   /* answer this request, then close */
    bool dead;      /* the socket failed: stop */
    bool peer_eof;  /* the client ended its side: nothing to drain at close */
    int64_t t_read; /* ringo_now() when the current batch was read */
};

struct ringo_http_req {
    struct rh_conn *c;
    /* body state */
    uint64_t body_left; /* Content-Length bytes not yet read */
    struct rhp_chunked chunk;
    const char *pend; /* decoded chunk bytes the caller has not taken */
    size_t pend_len;
    bool body_done;
    bool continue_sent;
    bool resp_started;    /* the response head is queued: no 100 any more */
    bool body_dropped;    /* unread chunked body dropped for a complete answer */
    int body_err;         /* status to answer instead (413, 400) */
    struct rhp_request r; /* last: everything before it is zeroed per request */
};

struct ringo_http_resp {
    struct rh_conn *c;
    ringo_http_req *req;
    int status;
    bool head_sent; /* status line and headers queued or sent */
    bool body_set;
    bool streaming;
    bool chunked;
    bool failed;
    bool ended;
    bool hdr_heap;
    char *hdr; /* user header fields, "Name: value\r\n"... */
    size_t hdr_len, hdr_cap;
};

/* server.c */
void rh_stat_add(struct rh_worker *w, size_t idx, uint64_t n);
void rh_conn_main(void *arg);
void rh_conn_register(struct rh_conn *c, void *newconn);
void rh_conn_unregister(struct rh_conn *c);

/* conn.c */
int rh_flush(struct rh_conn *c);
int rh_queue(struct rh_conn *c, const void *p, size_t n);
int rh_queue_ref(struct rh_conn *c, const void *p, size_t n);
int rh_send_error(struct rh_conn *c, int status, const char *why);
/* An unread body is dropped to keep the connection only up to this many
 * bytes (Go's net/http drops 256 KiB) and for RH_DISCARD_NS; beyond, the
 * connection closes after the answer (lingering). */
#define RH_DISCARD_MAX (256 * 1024)
#define RH_DISCARD_NS  (5 * 1000000000LL)
/* Read and drop the rest of req's body (within the bounds above); on
 * failure or past them mark the connection closing. */
void rh_discard_body(ringo_http_req *req);

/* The client sent "Expect: 100-continue" and has not had its 100: it may
 * never send the body. */
static inline bool rh_awaits_continue(const ringo_http_req *req)
{
    return req->r.expect_continue && !req->continue_sent;
}

int rh_write_now(struct rh_conn *c, const struct iovec *iov, int n);
char *rh_out_begin(struct rh_conn *c, size_t n);
void rh_out_commit(struct rh_conn *c, size_t n);
void rh_count_status(struct rh_conn *c, int status);

/* response.c */
void rh_resp_reset(ringo_http_resp *resp);
void rh_resp_free(ringo_http_resp *resp);
int rh_resp_finish(ringo_http_resp *resp);
size_t rh_status_line(int code, char out[64]);
const char *rh_reason(int code);
void rh_format_date(int64_t sec, char out[30]);
void rh_date_refresh(ringo_http_server *s, struct rh_worker *w);

/* router.c */
const struct rh_route *rh_route_find(const ringo_http_server *s, const char *path, size_t len,
                                     const char *method, size_t mlen, bool *path_known, char *allow,
                                     size_t allow_cap);

#endif
