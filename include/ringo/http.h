/* ringo/http.h - an HTTP/1.1 server: one coroutine per connection,
 * keep-alive, pipelining with batched responses, strict RFC 9112 framing.
 *
 *   static int hello(ringo_http_req *req, ringo_http_resp *resp, void *arg)
 *   {
 *       ringo_http_header_add(resp, "Content-Type", "text/plain");
 *       return ringo_http_body(resp, "Hello, World!", 13);
 *   }
 *   ...
 *   ringo_http_server *s;
 *   ringo_http_server_new(NULL, &s);
 *   ringo_http_route(s, "GET", "/", 0, hello, NULL);
 *   ringo_http_serve(s, &addr);            // inside ringo_main
 *
 * Lifetimes: a ringo_http_req and everything it returns (method, path,
 * header views) point into the connection's read buffer and are valid only
 * until the handler returns. A ringo_http_resp is valid only inside the
 * handler. Handlers run on the connection's coroutine and may block
 * (ringo I/O, channels, sleeps); other connections keep being served.
 *
 * Errors are -errno as everywhere in ringo. The server answers malformed
 * requests itself (400, 408, 413, 414, 431, 501, 505) and then closes the
 * connection; see docs/http.md.
 */
#ifndef RINGO_HTTP_H
#define RINGO_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view of bytes owned by someone else (not NUL-terminated). */
typedef struct ringo_str {
    const char *ptr;
    size_t len;
} ringo_str;

typedef struct ringo_http_server ringo_http_server;
typedef struct ringo_http_req ringo_http_req;
typedef struct ringo_http_resp ringo_http_resp;

/* A handler answers one request. Return 0 when done (a handler that set
 * nothing sends "200" with an empty body). A negative return closes the
 * connection after the response; if no byte of the response was sent yet
 * the client gets a 500 first. */
typedef int (*ringo_http_handler)(ringo_http_req *req, ringo_http_resp *resp, void *arg);

/* Server limits and behaviour. Fill with ringo_http_config_init(). */
typedef struct ringo_http_config {
    const char *server_name;        /* Server header value; default "ringo" */
    size_t max_header_bytes;        /* request line + headers; 8 KiB (431, 414) */
    unsigned max_headers;           /* header fields per request; 100 (431) */
    size_t max_target;              /* request-target bytes; 8 KiB (414) */
    uint64_t max_body;              /* request body bytes; 4 MiB (413) */
    int64_t header_timeout_ns;      /* whole head, from its first byte; 10 s (408) */
    int64_t read_timeout_ns;        /* any one read of a started request; 5 s (408) */
    int64_t idle_timeout_ns;        /* keep-alive idle between requests; 60 s */
    int64_t write_timeout_ns;       /* any one write to the client; 30 s */
    unsigned max_requests_per_conn; /* then "Connection: close"; 1000 */
    unsigned max_conns;             /* open connections in all; 0 = no cap; default 100000 */
    unsigned max_conns_per_ip;      /* open connections per client address; 0 = no cap
                                       (the default) */
    size_t max_queued_response;     /* backpressure: stop parsing pipelined requests
                                       and flush once this many response bytes are
                                       queued; 64 KiB */
    int64_t shutdown_grace_ns;      /* ringo_http_shutdown: how long in-flight
                                       requests may run; 10 s */
    int listen_backlog;             /* 4096 */
    int drain_on_stop;              /* 1 (default): a graceful stop request
                                       (SIGINT/SIGTERM under handle_signals,
                                       ringo_stop_graceful) runs
                                       ringo_http_shutdown; 0: the program calls
                                       it itself (after ringo_stop_wait) */
    int share_port;                 /* 0 (default): -EADDRINUSE if another process
                                       listens on the port, even with SO_REUSEPORT;
                                       1: share it with such processes of the same
                                       user (RINGO_LISTEN_SHARED) */
} ringo_http_config;

/* Defaults as documented above. Never fails. */
void ringo_http_config_init(ringo_http_config *cfg);

/* Create a server (cfg NULL = defaults; the config is copied). Returns 0
 * and *out, or -EINVAL (a limit out of range), -ENOMEM. Can be called
 * outside the runtime. */
int ringo_http_server_new(const ringo_http_config *cfg, ringo_http_server **out);

/* Free a server that is not serving. Never blocks. */
void ringo_http_server_free(ringo_http_server *s);

#define RINGO_HTTP_PREFIX 0x1 /* route matches path and everything below it */

/* Route requests: method NULL matches any method ("GET" also answers
 * HEAD: the server sends the headers and drops the body). path must start
 * with '/'. An exact route beats a prefix route; the longest prefix wins;
 * the first route added wins a tie. Unrouted paths get 404; a path routed
 * for other methods gets 405 with Allow. Returns 0, -EINVAL (bad path or
 * flags), -ENOMEM, -EBUSY (already serving). The strings are copied. */
int ringo_http_route(ringo_http_server *s, const char *method, const char *path, int flags,
                     ringo_http_handler handler, void *arg);

/* Serve on addr: a listener and accept loop per worker (one SO_REUSEPORT
 * group, see share_port), one coroutine per connection. Call from a
 * coroutine; blocks until the server has shut down: ringo_http_shutdown()
 * from another coroutine, or a graceful stop request (SIGINT/SIGTERM
 * under the default handle_signals, ringo_stop_graceful()), which drains
 * like ringo_http_shutdown(s, RINGO_FOREVER) with drain_on_stop. The
 * server may be freed once it returns. Returns 0 after a shutdown;
 * -errno from listen (-EADDRINUSE when another process listens on the
 * port, -EACCES, ...); -EBUSY if already serving; -ECANCELED if the
 * caller was cancelled (ringo_stop(), a second SIGINT/SIGTERM during the
 * drain): then every connection was cancelled, not drained. */
int ringo_http_serve(ringo_http_server *s, const ringo_addr *addr);

/* Like ringo_http_serve but returns once listening: *port_out (may be
 * NULL) receives the bound port (useful with port 0). The server runs on
 * in its own coroutines until ringo_http_shutdown() or a graceful stop
 * request. Same errors as ringo_http_serve. */
int ringo_http_start(ringo_http_server *s, const ringo_addr *addr, int *port_out);

/* ringo_http_serve / ringo_http_start over TLS: every connection begins
 * with a handshake with tls (a server context, ringo/tls.h; the server
 * takes a reference until it has shut down), bounded by the context's
 * handshake_timeout_ns and max_handshakes; a failed handshake closes the
 * connection and is counted (ringo_tls_ctx_stats, /metrics). Responses
 * are encrypted into records and sent with one write per batch, as in
 * plain HTTP; file bodies are read and encrypted (no sendfile). Same
 * errors as the plain calls, and -EINVAL for a client context. */
int ringo_http_serve_tls(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls);
int ringo_http_start_tls(ringo_http_server *s, const ringo_addr *addr, ringo_tls_ctx *tls,
                         int *port_out);

/* After ringo_http_start: park until the server has shut down (every
 * accept loop and connection coroutine ended, a shutdown begun by a
 * stop request included). Returns 0; or -ECANCELED if the caller was
 * cancelled: the server is then shut down at once (connections
 * cancelled) before it returns. After a return the server may be freed,
 * unless a ringo_http_shutdown of another coroutine has yet to return. */
int ringo_http_wait(ringo_http_server *s);

/* Graceful shutdown: stop accepting, let requests in flight finish (until
 * the deadline or shutdown_grace_ns; then they are cancelled), close idle
 * keep-alive connections, and wait for every connection coroutine to end.
 * From any coroutine; concurrent calls (and a stop request's drain) share
 * one shutdown and all return once it is done. Returns 0; -ETIMEDOUT if
 * connections had to be cancelled; -ECANCELED if the caller was cancelled
 * (connections are cancelled at once rather than waited for). */
int ringo_http_shutdown(ringo_http_server *s, int64_t deadline);

/* ---- requests ---- */

ringo_str ringo_http_method(const ringo_http_req *req);
/* The path as sent (percent-encoding kept; "/" for asterisk-form "*" is
 * reported as "*"), without the query. For absolute-form targets the path
 * part after the authority. */
ringo_str ringo_http_path(const ringo_http_req *req);
/* The query without the leading '?' (len 0 when absent). */
ringo_str ringo_http_query(const ringo_http_req *req);
/* The whole request-target as sent. */
ringo_str ringo_http_target(const ringo_http_req *req);
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
int ringo_http_version(const ringo_http_req *req);
/* The first header field named `name` (case-insensitive). Returns 1 and
 * *value, or 0 (value {NULL, 0}) when absent. */
int ringo_http_header(const ringo_http_req *req, const char *name, ringo_str *value);
/* Number of header fields, and the i-th (0-based) in arrival order.
 * ringo_http_header_at returns 0, or -ERANGE. */
unsigned ringo_http_header_count(const ringo_http_req *req);
int ringo_http_header_at(const ringo_http_req *req, unsigned i, ringo_str *name, ringo_str *value);
/* The declared body length, or -1 for a chunked body (0: no body). */
int64_t ringo_http_content_length(const ringo_http_req *req);
/* The client's address (valid for the connection's life). */
const ringo_addr *ringo_http_peer(const ringo_http_req *req);

/* Read the request body (Content-Length or chunked, decoded). The first
 * read of a request that sent "Expect: 100-continue" sends the interim
 * 100 response. Returns bytes read (> 0), 0 at the end of the body, or
 * -errno: -EMSGSIZE when the body exceeds max_body (the server answers
 * 413 if the handler has not started its response), -EPROTO for bad
 * chunked framing (400), -ETIMEDOUT (read timeout or deadline),
 * -ECONNRESET (the client ended or reset the connection). After
 * -ETIMEDOUT or the client's end of stream the handler's own answer is
 * still sent, then the connection closes. Answers to earlier pipelined
 * requests are written before the read waits. Parks until data arrives.
 * A body the handler does not read is read and dropped by the server
 * after the answer, up to 256 KiB and 5 s; beyond that (a larger
 * Content-Length makes the answer say Connection: close), or on bad
 * framing, the connection is closed, lingering.
 * Read the body before giving a complete answer (ringo_http_body*): for
 * a chunked body that the handler has not finished, that call drops the
 * rest first (the answer's head must say whether the connection stays
 * open), and later reads return -EALREADY. After ringo_http_stream the
 * body can still be read (the answer then says Connection: close if the
 * chunked body was not finished). */
ssize_t ringo_http_body_read(ringo_http_req *req, void *buf, size_t len, int64_t deadline);

/* ---- responses ----
 * A response is buffered: status and headers go out together with the
 * body, and responses to pipelined requests are sent in one write. The
 * server adds Date, Server, Content-Length (or Transfer-Encoding:
 * chunked), and Connection: close when the connection will close. */

/* Set the status (100..599 except 101; default 200). -EINVAL on a bad
 * code, -EALREADY once headers were sent. */
int ringo_http_status(ringo_http_resp *resp, int code);
/* Add a header field (copied). Rejects names that are not tokens and
 * values with CR, LF or NUL (-EINVAL: no header injection), the fields
 * the server writes itself (Content-Length, Transfer-Encoding, Date,
 * Connection: -EPERM), and more than 8 KiB of headers (-ENOSPC).
 * -EALREADY once headers were sent. */
int ringo_http_header_add(ringo_http_resp *resp, const char *name, const char *value);
int ringo_http_header_addn(ringo_http_resp *resp, const char *name, size_t name_len,
                           const char *value, size_t value_len);

/* The whole body from memory. Copied (small bodies go into the
 * connection's output buffer; large ones are written out before the call
 * returns), so buf is free again on return. Once per response.
 * Returns 0 or -errno (-EALREADY: a body was already given). */
int ringo_http_body(ringo_http_resp *resp, const void *buf, size_t len);
/* Like ringo_http_body, but buf is not copied: it must stay valid and
 * unchanged for the server's life (string literals, static tables). */
int ringo_http_body_static(ringo_http_resp *resp, const void *buf, size_t len);
/* The body from len bytes of file fd at offset (sent with zero-copy
 * where the backend allows, else read and written). The fd stays the
 * caller's; it must stay open until the call returns (it returns after
 * the bytes were handed to the socket). Returns 0 or -errno (-EIO if the
 * file was shorter than len: the connection is closed, since the
 * Content-Length already promised len). */
int ringo_http_body_file(ringo_http_resp *resp, int fd, int64_t offset, size_t len);

/* Streaming: send the status and headers now with Transfer-Encoding:
 * chunked (HTTP/1.1) or no length and a close at the end (HTTP/1.0);
 * then ringo_http_write any number of times (each non-empty write is one
 * chunk, written before it returns); ringo_http_end finishes (also done
 * when the handler returns). Return 0 or -errno (-EPIPE, -ETIMEDOUT...). */
int ringo_http_stream(ringo_http_resp *resp);
int ringo_http_write(ringo_http_resp *resp, const void *buf, size_t len);
int ringo_http_end(ringo_http_resp *resp);

/* The request being answered (for handlers given only the response). */
ringo_http_req *ringo_http_resp_req(ringo_http_resp *resp);

/* ---- counters ----
 * Per worker, summed on read; the metrics endpoint prints them. */
#define RINGO_HTTP_LATENCY_BUCKETS 16 /* upper bounds 2^k * 8 µs, k = 0..15, then +Inf */

typedef struct ringo_http_stats {
    uint64_t requests;    /* requests answered (any status) */
    uint64_t by_class[6]; /* [1]..[5]: 1xx..5xx */
    uint64_t status_400, status_404, status_408, status_413, status_414, status_431, status_501,
        status_505;
    uint64_t bytes_in, bytes_out;
    uint64_t conns_open;     /* currently open */
    uint64_t conns_accepted; /* in all */
    uint64_t conns_refused;  /* closed at once by max_conns / max_conns_per_ip */
    uint64_t parse_errors;   /* requests rejected by the parser */
    uint64_t timeouts;       /* header, read, write timeouts */
    uint64_t idle_timeouts;  /* keep-alive connections closed after idle_timeout_ns */
    uint64_t conn_errors;    /* connections ended by a failed read or write (reset,
                                broken pipe, out of memory; not end of stream) */
    uint64_t latency[RINGO_HTTP_LATENCY_BUCKETS + 1]; /* head parsed -> response queued */
    uint64_t latency_sum_ns;
} ringo_http_stats;

/* Sum the server's counters. Thread-safe; never blocks. Returns 0. */
int ringo_http_server_stats(ringo_http_server *s, ringo_http_stats *out);

/* A handler that answers with the runtime counters (ringo_stats) and the
 * server's HTTP counters in Prometheus text format (version 0.0.4). arg
 * is the ringo_http_server. Route it at "/metrics". */
int ringo_http_metrics_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg);

/* ---- static files ---- */
typedef struct ringo_http_static ringo_http_static;

/* Serve the files below directory root (see docs/http.md): GET and HEAD,
 * index.html for directories, MIME types by extension, ETag and
 * Last-Modified with 304, single byte ranges (206, 416). Paths are
 * decoded and normalised; nothing outside root is ever opened (also not
 * through symlinks or %2e%2e). url_prefix (e.g. "/" or "/static/") is
 * stripped from the path. Returns 0 and *out, or -errno (-ENOENT,
 * -ENOTDIR for root, -ENOMEM). */
int ringo_http_static_new(const char *root, const char *url_prefix, ringo_http_static **out);
void ringo_http_static_free(ringo_http_static *st);
/* The handler; arg is the ringo_http_static. */
int ringo_http_static_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg);

#ifdef __cplusplus
}
#endif

#endif
