/* src/tls/conn.c - one TLS connection: handshake, read, buffered
 * writes flushed once per batch, close_notify, errors with OpenSSL's
 * reason text. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/deadline.h"
#include "tls/tls_int.h"

#define RECORD_MAX 16384       /* TLS plaintext record limit */
#define QUEUE_MAX  (64 * 1024) /* ringo_tls_queue sends beyond this much */

static int conn_new(ringo_tls_ctx *ctx, int fd, bool server, ringo_tls **out)
{
    if (!ctx || !out || fd < 0 || ctx->server != server)
        return -EINVAL;
    ringo_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->ctx = ctx;
    t->fd = fd;
    t->server = server;
    t->deadline = RINGO_FOREVER;
    if (server)
        t->gen = ringo__tls_gen_get(ctx);
    t->ssl = SSL_new(server ? t->gen->main : ctx->client);
    if (!t->ssl || ringo__tls_bio_attach(t) < 0) {
        SSL_free(t->ssl);
        ringo__tls_gen_put(t->gen);
        free(t);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_app_data(t->ssl, t);
    ringo__tls_ctx_ref(ctx);
    *out = t;
    return 0;
}

int ringo_tls_server(ringo_tls_ctx *ctx, int fd, ringo_tls **out)
{
    int r = conn_new(ctx, fd, true, out);
    if (r == 0)
        SSL_set_accept_state((*out)->ssl);
    return r;
}

int ringo_tls_client(ringo_tls_ctx *ctx, int fd, const char *server_name, ringo_tls **out)
{
    if (server_name && strlen(server_name) >= sizeof((*out)->name))
        return -EINVAL;
    int r = conn_new(ctx, fd, false, out);
    if (r < 0)
        return r;
    ringo_tls *t = *out;
    SSL *ssl = t->ssl;
    SSL_set_connect_state(ssl);
    if (server_name && *server_name) {
        snprintf(t->name, sizeof(t->name), "%s", server_name);
        unsigned char ip[16];
        bool is_ip =
            inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1;
        int ok = 1;
        if (!is_ip) /* RFC 6066: SNI carries host names only */
            ok = SSL_set_tlsext_host_name(ssl, server_name) == 1;
        if (ok && ctx->cfg.verify_peer)
            ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name) == 1
                       : SSL_set1_host(ssl, server_name) == 1;
        if (!ok) {
            ERR_clear_error();
            ringo_tls_free(t);
            *out = NULL;
            return -EINVAL;
        }
    }
    SSL_SESSION *sess = ringo__tls_session_for(ctx, t->name);
    if (sess) {
        SSL_set_session(ssl, sess);
        SSL_SESSION_free(sess);
    }
    return 0;
}

/* ---- errors ---- */

static const char *err_reason_name(int e)
{
    return e == RINGO_ETLSEOF ? "the peer closed the connection without close_notify"
                              : ringo_strerror(e);
}

/* Turn the result r of an SSL_* call into ringo's error, with the reason
 * text in t->err; fatal ones stick. 0 means close_notify was received. */
static int fail(ringo_tls *t, int r)
{
    int e = SSL_get_error(t->ssl, r);
    int rc;
    switch (e) {
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        /* only a deadline or a cancel says "retry" (tls/bio.c): the
         * connection stays usable */
        ERR_clear_error();
        return t->io_err ? t->io_err : -EAGAIN;
    case SSL_ERROR_SYSCALL:
        rc = t->io_err ? t->io_err : RINGO_ETLSEOF;
        ringo__tls_errors_text(t->err, sizeof(t->err), err_reason_name(rc));
        break;
    default: {
        unsigned long first = ERR_peek_error();
        long vr = SSL_get_verify_result(t->ssl);
        if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
            ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            rc = RINGO_ETLSEOF;
            ERR_clear_error();
            snprintf(t->err, sizeof(t->err), "%s", err_reason_name(rc));
        } else if (t->io_err) {
            rc = t->io_err; /* the socket failed under OpenSSL */
            ringo__tls_errors_text(t->err, sizeof(t->err), ringo_strerror(rc));
        } else if (!t->server && !t->hs_done && t->ctx->cfg.verify_peer && vr != X509_V_OK) {
            /* only a client that checks the peer, and only in its
             * handshake: with verify_peer = 0 OpenSSL still records why
             * the chain would fail, which must not relabel a later
             * protocol error or alert as a verification failure */
            rc = RINGO_ETLSVERIFY;
            char what[200];
            snprintf(what, sizeof(what), "certificate verify failed (%s)",
                     X509_verify_cert_error_string(vr));
            ERR_clear_error();
            snprintf(t->err, sizeof(t->err), "%s", what);
        } else {
            rc = RINGO_ETLS;
            ringo__tls_errors_text(t->err, sizeof(t->err), "");
            if (!t->err[0])
                snprintf(t->err, sizeof(t->err), "TLS protocol error");
        }
    }
    }
    t->fatal = rc;
    return rc;
}

const char *ringo_tls_error_text(const ringo_tls *t)
{
    return t->err;
}

/* ---- one coroutine at a time ----
 * A call may park inside OpenSSL (a read waits in the BIO; a flush sends
 * from the output buffer). Another call on the same SSL object then would
 * run OpenSSL re-entrantly and move the buffer under the send, so it is
 * refused instead of corrupting the stream. */

static bool enter(ringo_tls *t)
{
    return !atomic_exchange_explicit(&t->busy, true, memory_order_acquire);
}

static void leave(ringo_tls *t)
{
    atomic_store_explicit(&t->busy, false, memory_order_release);
}

/* ---- handshake ---- */

static size_t fail_stat(int rc)
{
    switch (rc) {
    case -ETIMEDOUT:
        return TLS_STAT(fail_timeout);
    case RINGO_ETLS:
        return TLS_STAT(fail_protocol);
    case RINGO_ETLSVERIFY:
        return TLS_STAT(fail_verify);
    case RINGO_ETLSEOF:
    case -ECONNRESET:
    case -EPIPE:
        return TLS_STAT(fail_closed);
    default:
        return TLS_STAT(fail_other);
    }
}

static int handshake(ringo_tls *t, int64_t deadline)
{
    if (t->fatal)
        return t->fatal;
    if (t->hs_done)
        return 0;
    ringo_tls_ctx *ctx = t->ctx;
    int64_t dl = deadline;
    if (t->server)
        dl = ringo__deadline_min(deadline, ringo_deadline_in(ctx->cfg.handshake_timeout_ns));
    int rc = 0;
    bool slot = t->server && ctx->cfg.max_handshakes;
    if (slot && (rc = ringo_sema_acquire(&ctx->slots, dl)) < 0) {
        snprintf(t->err, sizeof(t->err), "waiting for a handshake slot: %s", ringo_strerror(rc));
        t->fatal = rc;
        ringo__tls_stat_add(ctx, fail_stat(rc), 1);
        return rc;
    }
    ringo__tls_stat_add(ctx, TLS_STAT(in_progress), 1);
    t->deadline = dl;
    t->io_err = 0;
    ERR_clear_error();
    int r;
    while ((r = SSL_do_handshake(t->ssl)) != 1 && ringo__tls_retry(t, r) > 0)
        ;
    if (r == 1 && !t->server)
        rc = ringo__tls_flush_out(t); /* the client's Finished: the server waits for it */
    else if (r != 1)
        rc = fail(t, r);
    if (r != 1 && rc == 0)
        rc = RINGO_ETLSEOF; /* close_notify in the middle of a handshake */
    if (rc < 0) {
        t->fatal = rc;
        if (!t->err[0])
            snprintf(t->err, sizeof(t->err), "%s", err_reason_name(rc));
        /* the fatal alert OpenSSL buffered (record_overflow,
         * no_application_protocol, bad_certificate...) tells the peer why;
         * best effort: the connection is failed either way */
        if (rc == RINGO_ETLS || rc == RINGO_ETLSVERIFY)
            ringo__tls_flush_out(t);
    }
    atomic_fetch_sub_explicit(&ctx->st[TLS_STAT(in_progress)], 1, memory_order_relaxed);
    if (slot)
        ringo_sema_release(&ctx->slots);
    if (rc < 0) {
        ringo__tls_stat_add(ctx, fail_stat(rc), 1);
        return rc;
    }
    t->hs_done = true;
    ringo__tls_stat_add(ctx, TLS_STAT(handshakes), 1);
    if (SSL_session_reused(t->ssl))
        ringo__tls_stat_add(ctx, TLS_STAT(resumed), 1);
    return 0;
}

int ringo_tls_accept(ringo_tls_ctx *ctx, int fd, int64_t deadline, ringo_tls **out)
{
    ringo_tls *t;
    int r = ringo_tls_server(ctx, fd, &t);
    if (r < 0)
        return r;
    if ((r = ringo_tls_handshake(t, deadline)) < 0) {
        ringo_tls_free(t);
        return r;
    }
    *out = t;
    return 0;
}

/* "host:port" -> host ("[::1]:443" -> "::1"). */
static int host_part(const char *hostport, char *host, size_t cap)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon)
        return -EINVAL;
    const char *b = hostport, *e = colon;
    if (*b == '[' && e > b && e[-1] == ']') {
        b++;
        e--;
    }
    if ((size_t)(e - b) >= cap)
        return -EINVAL;
    memcpy(host, b, (size_t)(e - b));
    host[e - b] = 0;
    return 0;
}

int ringo_tls_dial(ringo_tls_ctx *ctx, const char *hostport, int64_t deadline, ringo_tls **out,
                   char *err, size_t errlen)
{
    char host[256];
    int r = hostport ? host_part(hostport, host, sizeof(host)) : -EINVAL;
    if (r < 0 || !ctx || ctx->server) {
        if (err && errlen)
            snprintf(err, errlen, "bad host:port or not a client context");
        return -EINVAL;
    }
    int fd = ringo_dial(hostport, deadline);
    if (fd < 0) {
        if (err && errlen)
            snprintf(err, errlen, "dial %s: %s", hostport, ringo_strerror(fd));
        return fd;
    }
    ringo_tls *t;
    if ((r = ringo_tls_client(ctx, fd, host, &t)) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", hostport, ringo_strerror(r));
        ringo_close(fd);
        return r;
    }
    if ((r = ringo_tls_handshake(t, deadline)) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "TLS handshake with %s: %s", hostport, t->err);
        ringo_tls_free(t);
        ringo_close(fd);
        return r;
    }
    t->owns_fd = true;
    *out = t;
    return 0;
}

/* ---- data ---- */

static ssize_t tls_read(ringo_tls *t, void *buf, size_t len, int64_t deadline)
{
    if (t->fatal)
        return t->fatal;
    if (!len || (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
        return 0; /* after ringo_tls_shutdown: the header promises 0, not a wait */
    t->deadline = deadline;
    t->io_err = 0;
    ERR_clear_error();
    size_t got = 0;
    int r;
    while ((r = SSL_read_ex(t->ssl, buf, len > INT_MAX ? INT_MAX : len, &got)) != 1 &&
           ringo__tls_retry(t, r) > 0)
        ;
    if (r == 1)
        return (ssize_t)got;
    int rc = fail(t, r);
    if (rc == RINGO_ETLSEOF)
        ringo__tls_stat_add(t->ctx, TLS_STAT(truncated), 1);
    return rc;
}

int ringo_tls_pending(const ringo_tls *t)
{
    return SSL_has_pending(t->ssl) ? SSL_pending(t->ssl) > 0 ? SSL_pending(t->ssl) : 1 : 0;
}

static int flush(ringo_tls *t, int64_t deadline)
{
    t->deadline = deadline;
    return ringo__tls_flush_out(t);
}

static int encrypt(ringo_tls *t, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n = len - done > INT_MAX ? INT_MAX : len - done, w = 0;
        t->io_err = 0;
        ERR_clear_error();
        int r = SSL_write_ex(t->ssl, (const char *)buf + done, n, &w);
        if (r != 1) {
            int rc = fail(t, r);
            return rc ? rc : -EPIPE;
        }
        done += w;
    }
    return 0;
}

static int queuev(ringo_tls *t, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (t->fatal)
        return t->fatal;
    if (t->werr)
        return -EPIPE;
    t->deadline = deadline;
    /* small pieces are packed into one record: a record per piece would
     * cost a seal and 22 bytes each */
    char stage[RECORD_MAX];
    size_t staged = 0;
    int r = 0;
    for (int i = 0; i < iovcnt && r == 0; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n && r == 0) {
            if (!staged && (n >= RECORD_MAX || iovcnt == 1)) {
                size_t take = iovcnt == 1 ? n : n - n % RECORD_MAX;
                r = encrypt(t, p, take);
                p += take;
                n -= take;
                continue;
            }
            size_t take = n < RECORD_MAX - staged ? n : RECORD_MAX - staged;
            memcpy(stage + staged, p, take);
            staged += take;
            p += take;
            n -= take;
            if (staged == RECORD_MAX) {
                r = encrypt(t, stage, staged);
                staged = 0;
            }
        }
    }
    if (r == 0 && staged)
        r = encrypt(t, stage, staged);
    if (r == 0 && t->wlen - t->woff > QUEUE_MAX)
        r = ringo__tls_flush_out(t);
    return r;
}

int ringo_tls_queue(ringo_tls *t, const void *buf, size_t len, int64_t deadline)
{
    struct iovec v = {(void *)buf, len};
    return ringo_tls_queuev(t, &v, 1, deadline);
}

ssize_t ringo_tls_write(ringo_tls *t, const void *buf, size_t len, int64_t deadline)
{
    int r = ringo_tls_queue(t, buf, len, deadline);
    if (r == 0)
        r = ringo_tls_flush(t, deadline);
    return r < 0 ? r : (ssize_t)len;
}

static int shutdown_tls(ringo_tls *t, int64_t deadline)
{
    if (t->fatal)
        return t->fatal;
    t->deadline = deadline;
    t->io_err = 0;
    ERR_clear_error();
    int r = SSL_shutdown(t->ssl); /* 0: ours sent, the peer's not awaited */
    if (r < 0) {
        int rc = fail(t, r);
        if (rc < 0)
            return rc;
    }
    ERR_clear_error();
    return ringo__tls_flush_out(t);
}

/* ---- the public calls: the guard, then the work ---- */

int ringo_tls_handshake(ringo_tls *t, int64_t deadline)
{
    if (!enter(t))
        return -EBUSY;
    int r = handshake(t, deadline);
    leave(t);
    return r;
}

ssize_t ringo_tls_read(ringo_tls *t, void *buf, size_t len, int64_t deadline)
{
    if (!enter(t))
        return -EBUSY;
    ssize_t r = tls_read(t, buf, len, deadline);
    leave(t);
    return r;
}

int ringo_tls_queuev(ringo_tls *t, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (!enter(t))
        return -EBUSY;
    int r = queuev(t, iov, iovcnt, deadline);
    leave(t);
    return r;
}

int ringo_tls_flush(ringo_tls *t, int64_t deadline)
{
    if (!enter(t))
        return -EBUSY;
    int r = flush(t, deadline);
    leave(t);
    return r;
}

int ringo_tls_shutdown(ringo_tls *t, int64_t deadline)
{
    if (!enter(t))
        return -EBUSY;
    int r = shutdown_tls(t, deadline);
    leave(t);
    return r;
}

void ringo_tls_free(ringo_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    ringo__tls_gen_put(t->gen);
    ringo_tls_ctx_free(t->ctx);
    free(t->wbuf);
    free(t);
}

int ringo_tls_close(ringo_tls *t)
{
    if (!t)
        return 0;
    int fd = t->fd;
    bool owns = t->owns_fd;
    ringo_tls_free(t);
    return owns ? ringo_close(fd) : 0;
}

/* ---- what was negotiated ---- */

int ringo_tls_fd(const ringo_tls *t)
{
    return t->fd;
}

const char *ringo_tls_version(const ringo_tls *t)
{
    return SSL_get_version(t->ssl);
}

const char *ringo_tls_cipher(const ringo_tls *t)
{
    const char *c = SSL_get_cipher_name(t->ssl);
    return c ? c : "";
}

const char *ringo_tls_alpn(const ringo_tls *t)
{
    /* the protocol's bytes are not NUL-terminated; they are one of the
     * names in our own list, kept NUL-terminated in alpn_text */
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    const unsigned char *w = t->ctx->alpn;
    for (size_t i = 0; n && i < t->ctx->alpn_len; i += 1 + w[i])
        if (w[i] == n && memcmp(w + i + 1, p, n) == 0)
            return t->ctx->alpn_text + i + 1;
    return "";
}

const char *ringo_tls_server_name(const ringo_tls *t)
{
    if (t->server && !t->name[0]) { /* sni_cb, which copies it, is set only with sni_certs */
        const char *n = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
        return n ? n : "";
    }
    return t->name;
}

int ringo_tls_resumed(const ringo_tls *t)
{
    return SSL_session_reused(t->ssl) ? 1 : 0;
}
