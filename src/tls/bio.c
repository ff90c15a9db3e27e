/* src/tls/bio.c - the BIO OpenSSL reads and writes the socket through.
 *
 * Reads are ringo_read: the coroutine parks on the ring (or epoll) and
 * resumes from the completion, so OpenSSL never sees a would-block except
 * when the caller's deadline passed or it was cancelled; then the BIO says
 * "retry", OpenSSL keeps its state and the caller gets -ETIMEDOUT or
 * -ECANCELED and may call again. On io_uring the bytes come from the
 * multishot receive's buffers, copied once, straight into OpenSSL's
 * record buffer (a memory BIO would copy them twice: docs/tls.md).
 *
 * Writes append the records to the connection's buffer; nothing is sent
 * until a flush (ringo_tls_flush, or a read about to wait for the peer),
 * so a batch of responses, or a handshake flight, is one send. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

#ifndef RINGO_TLS_MEMBIO

#define WBUF_KEEP (16 * 1024) /* a flushed connection keeps a buffer this big */

static int grow(ringo_tls *t, size_t need)
{
    if (t->wlen + need <= t->wcap)
        return 0;
    if (t->woff) { /* the sent front first */
        memmove(t->wbuf, t->wbuf + t->woff, t->wlen - t->woff);
        t->wlen -= t->woff;
        t->woff = 0;
        if (t->wlen + need <= t->wcap)
            return 0;
    }
    size_t cap = t->wcap ? t->wcap : 4096;
    while (cap < t->wlen + need)
        cap *= 2;
    char *p = realloc(t->wbuf, cap);
    if (!p)
        return -ENOMEM;
    t->wbuf = p;
    t->wcap = cap;
    return 0;
}

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    ringo_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (grow(t, len) < 0) {
        t->io_err = -ENOMEM;
        return 0;
    }
    memcpy(t->wbuf + t->wlen, data, len);
    t->wlen += len;
    *written = len;
    return 1;
}

/* A read that would wait sends what is buffered first: the peer may be
 * waiting for exactly that (a handshake flight, a response). */
static ssize_t read_socket(ringo_tls *t, char *buf, size_t len)
{
    if (t->wlen > t->woff) {
        ssize_t n = ringo_recv(t->fd, buf, len, MSG_DONTWAIT, t->deadline);
        if (n != -EAGAIN)
            return n;
        int r = ringo__tls_flush_out(t);
        if (r < 0)
            return r;
    }
    return ringo_read(t->fd, buf, len, t->deadline);
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *readbytes)
{
    ringo_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = read_socket(t, buf, len);
    if (n > 0) {
        *readbytes = (size_t)n;
        return 1;
    }
    if (n == 0)
        return 0; /* end of stream: OpenSSL decides if that was orderly */
    t->io_err = (int)n;
    if (n == -ETIMEDOUT || n == -ECANCELED || n == -EAGAIN)
        BIO_set_retry_read(b); /* nothing was lost: the caller may retry */
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    ringo_tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        /* OpenSSL flushes after each handshake flight; the bytes go out
         * before the next read waits (read_socket) or at the caller's
         * flush, which joins the server's tickets to its first answer */
        return 1;
    case BIO_CTRL_WPENDING:
        return (long)(t->wlen - t->woff);
    case BIO_CTRL_PENDING:
        return 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

BIO_METHOD *ringo__tls_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringo socket");
    if (!m)
        return NULL;
    if (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
        !BIO_meth_set_destroy(m, bio_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

int ringo__tls_bio_attach(ringo_tls *t)
{
    BIO *b = BIO_new(t->ctx->bio);
    if (!b)
        return -ENOMEM;
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    return 0;
}

int ringo__tls_flush_out(ringo_tls *t)
{
    if (t->werr)
        return t->werr;
    while (t->woff < t->wlen) {
        size_t sent = 0;
        ssize_t w =
            ringo_write_all(t->fd, t->wbuf + t->woff, t->wlen - t->woff, &sent, t->deadline);
        t->woff += w >= 0 ? (size_t)w : sent;
        if (w < 0) {
            if (w != -ETIMEDOUT && w != -ECANCELED)
                t->werr = (int)w; /* the stream has a hole now: never write again */
            return (int)w;
        }
    }
    t->woff = t->wlen = 0;
    if (t->wcap > WBUF_KEEP) {
        free(t->wbuf);
        t->wbuf = NULL;
        t->wcap = 0;
    }
    return 0;
}

#else /* RINGO_TLS_MEMBIO: the design not taken, kept to re-run the comparison */

/* OpenSSL reads from and writes to memory BIOs; the coroutine moves the
 * bytes: received buffers are borrowed (ringo_recv_borrow) and written
 * into the input BIO, the output BIO is sent from where it lies. */
BIO_METHOD *ringo__tls_bio_method_new(void)
{
    return BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringo unused");
}

int ringo__tls_bio_attach(ringo_tls *t)
{
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    if (!in || !out) {
        BIO_free(in);
        BIO_free(out);
        return -ENOMEM;
    }
    SSL_set_bio(t->ssl, in, out);
    return 0;
}

int ringo__tls_flush_out(ringo_tls *t)
{
    if (t->werr)
        return t->werr;
    BIO *out = SSL_get_wbio(t->ssl);
    char *p;
    long n = BIO_get_mem_data(out, &p);
    if (n <= 0)
        return 0;
    size_t sent = 0;
    ssize_t w = ringo_write_all(t->fd, p, (size_t)n, &sent, t->deadline);
    if (w < 0) {
        t->werr = (int)w;
        return (int)w;
    }
    (void)BIO_reset(out);
    return 0;
}

int ringo__tls_retry(ringo_tls *t, int r)
{
    if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ)
        return 0;
    int e = ringo__tls_flush_out(t); /* what the peer waits for goes first */
    if (e < 0) {
        t->io_err = e;
        return e;
    }
    ringo_buf b;
    ssize_t n = ringo_recv_borrow(t->fd, &b, t->deadline);
    if (n < 0) {
        t->io_err = (int)n;
        return (int)n;
    }
    BIO *in = SSL_get_rbio(t->ssl);
    if (n == 0) {
        BIO_set_mem_eof_return(in, 0); /* OpenSSL sees the end of stream */
        return 1;
    }
    BIO_write(in, b.data, (int)n);
    ringo_buf_release(&b);
    return 1;
}
#endif
