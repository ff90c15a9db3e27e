/* ringo/tls.h - TLS streams over ringo sockets (OpenSSL 3).
 *
 * A ringo_tls is one TLS connection on a socket fd. OpenSSL does the
 * protocol and the crypto; its reads and writes go through ringo's own
 * socket calls, so a TLS read parks only the calling coroutine (on
 * io_uring it wakes from the multishot receive's completion) and a write
 * is encrypted into the connection's buffer and sent with one ringo
 * write per flush. See docs/tls.md.
 *
 *   ringo_tls_config cfg;
 *   ringo_tls_config_init(&cfg);
 *   cfg.cert_file = "cert.pem";
 *   cfg.key_file = "key.pem";
 *   ringo_tls_ctx *ctx;
 *   ringo_tls_server_new(&cfg, &ctx, NULL, 0);
 *   ...
 *   int fd = ringo_accept(lfd, NULL, RINGO_FOREVER);
 *   ringo_tls *t;
 *   if (ringo_tls_accept(ctx, fd, ringo_deadline_in(10000000000LL), &t) == 0) {
 *       char buf[4096];
 *       ssize_t n = ringo_tls_read(t, buf, sizeof(buf), RINGO_FOREVER);
 *       ...
 *       ringo_tls_write(t, buf, (size_t)n, RINGO_FOREVER);
 *       ringo_tls_shutdown(t, ringo_deadline_in(1000000000LL));
 *       ringo_tls_free(t);
 *   }
 *   ringo_close(fd);
 *
 * Deadlines and cancellation are those of ringo/net.h: every call that
 * may park takes an absolute deadline (RINGO_FOREVER for none) and
 * returns -ETIMEDOUT or -ECANCELED without losing the connection's state
 * (a timed-out read or flush may be called again).
 *
 * Errors: -errno for I/O (-ECONNRESET, -EPIPE, -ETIMEDOUT, ...) and
 * RINGO_ETLS (the peer broke the protocol or sent an alert, or the local
 * side refused something), RINGO_ETLSVERIFY (the peer's certificate
 * failed verification), RINGO_ETLSEOF (the stream ended without
 * close_notify: the data may be truncated). OpenSSL's reason text for the
 * last such error is ringo_tls_error_text(); set-up calls write theirs
 * into a buffer the caller passes. ringo never leaves errors on
 * OpenSSL's per-thread error queue.
 *
 * Threads: a context is shared by every worker. A ringo_tls is used by
 * one coroutine at a time: a call made while another call on the same
 * connection is in progress (e.g. a write while a reader waits) returns
 * -EBUSY at once and changes nothing (OpenSSL cannot be entered again
 * while one of its calls is parked). Unlike Go's crypto/tls there is no
 * concurrent reader and writer; see docs/tls.md.
 */
#ifndef RINGO_TLS_H
#define RINGO_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_tls_ctx ringo_tls_ctx;
typedef struct ringo_tls ringo_tls;

#define RINGO_TLS_1_2 0x0303
#define RINGO_TLS_1_3 0x0304

/* An extra certificate for SNI: served to clients that ask for one of
 * the DNS names (or IP addresses) the certificate itself names. */
typedef struct ringo_tls_cert {
    const char *cert_file; /* PEM: the certificate, then its chain */
    const char *key_file;  /* PEM: its private key */
} ringo_tls_cert;

/* Fill with ringo_tls_config_init(), then set what you need. The strings
 * and arrays are read during ringo_tls_*_new and ringo_tls_ctx_reload
 * (file names are kept: reload reads the same files again). */
typedef struct ringo_tls_config {
    /* server: the default certificate chain and key (PEM); required */
    const char *cert_file;
    const char *key_file;
    const ringo_tls_cert *sni_certs; /* more pairs, chosen by SNI; may be NULL */
    size_t n_sni_certs;
    int min_version;                /* RINGO_TLS_1_2 (default) or RINGO_TLS_1_3 */
    const char *alpn;               /* comma-separated protocols in preference order;
                                       default "http/1.1"; "" = no ALPN. A server
                                       refuses clients that offer ALPN but none of
                                       these (no_application_protocol alert) */
    const char *ciphers;            /* TLS 1.2 cipher list (OpenSSL syntax); NULL = the
                                       library's secure default */
    int64_t handshake_timeout_ns;   /* ringo_tls_accept's own limit, on top of
                                       its deadline; default 10 s */
    unsigned max_handshakes;        /* server handshakes in progress at once;
                                       more wait for a slot within their
                                       deadline; default 1024; 0 = no cap */
    int64_t ticket_key_lifetime_ns; /* session ticket keys rotate this often
                                       (the previous key still decrypts);
                                       default 1 h; 0 = no tickets */
    unsigned num_tickets;           /* TLS 1.3 tickets sent per full handshake;
                                       default 1 */
    size_t session_cache_size;      /* server-side session cache (TLS 1.2 clients
                                       without tickets); default 20480; 0 = off */
    /* client */
    const char *ca_file; /* PEM trust anchors; NULL = the system store
                            (/etc/ssl/certs, Debian's ca-certificates) */
    int verify_peer;     /* 1 (default): check the server's certificate chain
                            and host name; 0 = accept any certificate
                            (tests, self-signed peers you pinned otherwise) */
    int resume;          /* client: 1 (default) = keep the last session per
                            context and offer it to the same host */
} ringo_tls_config;

/* Defaults as documented above. Never fails. */
void ringo_tls_config_init(ringo_tls_config *cfg);

/* A server context: loads the certificate chain and key (and the SNI
 * pairs), checks each key matches its certificate, sets up versions,
 * ALPN, tickets and the session cache. Renegotiation and compression are
 * off. Returns 0 and *out, or -EINVAL (bad field), -ENOENT/-EACCES (a
 * file), RINGO_ETLS (OpenSSL refused a file or a setting), -ENOMEM. On
 * failure err (if not NULL) receives a NUL-terminated message naming the
 * file and OpenSSL's reason, truncated to errlen. Reads files, never the
 * network; may be called outside the runtime. */
int ringo_tls_server_new(const ringo_tls_config *cfg, ringo_tls_ctx **out, char *err,
                         size_t errlen);

/* A client context: trust store, verification, ALPN, versions, session
 * reuse. Returns as ringo_tls_server_new. */
int ringo_tls_client_new(const ringo_tls_config *cfg, ringo_tls_ctx **out, char *err,
                         size_t errlen);

/* Read the server's certificate and key files again and use the new
 * pairs for connections accepted from now on; open connections keep the
 * pairs they started with. Session ticket keys survive a reload. Returns
 * 0, or the errors of ringo_tls_server_new (then nothing changed, and err
 * says why). Any thread, also outside the runtime; reads files. */
int ringo_tls_ctx_reload(ringo_tls_ctx *ctx, char *err, size_t errlen);

/* Drop the caller's reference; the context goes once its last
 * connection is freed too. NULL is ignored. Never blocks. */
void ringo_tls_ctx_free(ringo_tls_ctx *ctx);

/* A TLS connection object for a connected socket fd, server or client
 * side, before its handshake. The fd stays the caller's (close it with
 * ringo_close after ringo_tls_free). server_name (client only; may be
 * NULL) is sent as SNI (unless it is an IP address) and, with
 * verify_peer, is the name the certificate must carry. Returns 0 and
 * *out, -EINVAL (a server context for a client or the reverse), -ENOMEM.
 * Never blocks. */
int ringo_tls_server(ringo_tls_ctx *ctx, int fd, ringo_tls **out);
int ringo_tls_client(ringo_tls_ctx *ctx, int fd, const char *server_name, ringo_tls **out);

/* Run the handshake. A server first waits for a handshake slot
 * (max_handshakes) and bounds the whole handshake by
 * min(deadline, now + handshake_timeout_ns). Returns 0, or -ETIMEDOUT,
 * -ECANCELED, -ECONNRESET, RINGO_ETLSEOF (the peer closed during the
 * handshake), RINGO_ETLS (not TLS, a protocol error or alert, no shared
 * version/cipher/ALPN protocol), RINGO_ETLSVERIFY (client: the chain or
 * the name did not verify), -ENOMEM; ringo_tls_error_text(t) says why.
 * Counted in the context's stats either way. After a failure only
 * ringo_tls_free is allowed. Coroutine only. */
int ringo_tls_handshake(ringo_tls *t, int64_t deadline);

/* ringo_tls_server + ringo_tls_handshake; on failure the object is freed
 * (the reason is then only in the stats: use the two calls to log it). */
int ringo_tls_accept(ringo_tls_ctx *ctx, int fd, int64_t deadline, ringo_tls **out);

/* ringo_dial(hostport), ringo_tls_client with the host part as server
 * name, and the handshake, within one deadline. On success *out owns the
 * fd (ringo_tls_close closes both); on failure nothing is left open and
 * err (if not NULL) receives the reason. Returns the errors of
 * ringo_dial and ringo_tls_handshake. */
int ringo_tls_dial(ringo_tls_ctx *ctx, const char *hostport, int64_t deadline, ringo_tls **out,
                   char *err, size_t errlen);

/* Read up to len decrypted bytes. Returns bytes (> 0), 0 when the peer
 * sent close_notify, or -errno / RINGO_ETLS / RINGO_ETLSEOF. Sends what
 * ringo_tls_queue left buffered before it waits. Parks until data. */
ssize_t ringo_tls_read(ringo_tls *t, void *buf, size_t len, int64_t deadline);

/* Encrypt len bytes into the connection's output buffer (records of up
 * to 16 KiB). Sends only when more than 64 KiB are buffered; call
 * ringo_tls_flush to send. buf is free again on return. Returns 0 or
 * -errno (-ENOMEM; a send error of that automatic flush; -EPIPE after a
 * failed write). */
int ringo_tls_queue(ringo_tls *t, const void *buf, size_t len, int64_t deadline);
/* The same for several buffers, packed into as few records as fit. */
int ringo_tls_queuev(ringo_tls *t, const struct iovec *iov, int iovcnt, int64_t deadline);

/* Send everything buffered with one write (more if the socket takes it
 * in parts). Returns 0 or -errno (-ETIMEDOUT: call again to send the
 * rest; -EPIPE, -ECONNRESET: the connection is broken). */
int ringo_tls_flush(ringo_tls *t, int64_t deadline);

/* ringo_tls_queue + ringo_tls_flush: returns len or -errno. */
ssize_t ringo_tls_write(ringo_tls *t, const void *buf, size_t len, int64_t deadline);

/* Send close_notify (and what is buffered). Does not wait for the
 * peer's. Returns 0 or -errno. Reads after it return 0. */
int ringo_tls_shutdown(ringo_tls *t, int64_t deadline);

/* Free the connection (without close_notify: call ringo_tls_shutdown
 * first for an orderly end). The fd is not closed, also not one from
 * ringo_tls_dial (use ringo_tls_close). NULL is ignored. Never blocks. */
void ringo_tls_free(ringo_tls *t);

/* ringo_tls_free, and ringo_close of the fd (for ringo_tls_dial). */
int ringo_tls_close(ringo_tls *t);

/* The socket fd. */
int ringo_tls_fd(const ringo_tls *t);

/* OpenSSL's reason text for the last RINGO_ETLS / RINGO_ETLSVERIFY of
 * this connection, e.g. "certificate verify failed (self-signed
 * certificate)"; "" if none. Valid until the next call on t. */
const char *ringo_tls_error_text(const ringo_tls *t);

/* What was negotiated. Strings are static or live as long as t. */
const char *ringo_tls_version(const ringo_tls *t); /* "TLSv1.3", ... */
const char *ringo_tls_cipher(const ringo_tls *t);
const char *ringo_tls_alpn(const ringo_tls *t); /* "" if none */
/* SNI sent (client) or received (server; on a resumed TLS 1.2 session the
 * name the session was made with); "" if none. */
const char *ringo_tls_server_name(const ringo_tls *t);
int ringo_tls_resumed(const ringo_tls *t); /* 1 if the session was resumed */
/* Bytes already decrypted or received and not yet returned by
 * ringo_tls_read (a read would not park for them). */
int ringo_tls_pending(const ringo_tls *t);

/* Context counters (all workers). */
typedef struct ringo_tls_stats {
    uint64_t handshakes;    /* completed (full + resumed) */
    uint64_t resumed;       /* of those, resumed sessions */
    uint64_t in_progress;   /* handshakes running now */
    uint64_t fail_timeout;  /* handshake deadline passed */
    uint64_t fail_protocol; /* not TLS, bad record, alert, no shared cipher... */
    uint64_t fail_verify;   /* peer certificate refused */
    uint64_t fail_closed;   /* peer closed or reset during the handshake */
    uint64_t fail_other;    /* out of memory, cancelled, ... */
    uint64_t reloads;       /* successful ringo_tls_ctx_reload calls */
    uint64_t truncated;     /* connections that ended without close_notify */
    int ktls_available;     /* the kernel offers TCP_ULP "tls" (see docs/tls.md) */
} ringo_tls_stats;

/* Sum the counters. Thread-safe; never blocks. Returns 0. */
int ringo_tls_ctx_stats(const ringo_tls_ctx *ctx, ringo_tls_stats *out);

#ifdef __cplusplus
}
#endif
#endif
