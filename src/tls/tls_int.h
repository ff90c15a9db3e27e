/* src/tls/tls_int.h - what the TLS layer's files share: the context
 * (with its certificate generations and ticket keys), the connection,
 * the socket BIO. */
#ifndef RINGO_TLS_INT_H
#define RINGO_TLS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <ringo.h>

#include "base/spin.h"
#include "tls/tls.h"

/* ---- counters: ringo_tls_stats's uint64_t fields as an array ---- */
#define TLS_NSTATS     (offsetof(ringo_tls_stats, ktls_available) / sizeof(uint64_t))
#define TLS_STAT(name) (offsetof(ringo_tls_stats, name) / sizeof(uint64_t))

/* The certificates of one load (ringo_tls_server_new or a reload). A
 * connection keeps the generation it started with, so a reload never
 * changes the certificate under a handshake. */
struct tls_gen {
    _Atomic int refs;
    SSL_CTX *main; /* the default pair; every connection starts here */
    SSL_CTX **sni; /* more pairs, picked by the SNI callback */
    size_t nsni;
};

/* A session ticket key: name (sent in the ticket), AES-256-CBC key and
 * HMAC-SHA256 key (RFC 5077's layout, which OpenSSL's callback expects). */
struct tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

struct ringo_tls_ctx {
    _Atomic int refs;
    bool server;
    ringo_tls_config cfg; /* file names point into strs */
    char **strs;          /* copies of the config's strings */
    size_t nstrs;
    unsigned char alpn[256]; /* ALPN protocol list in wire form */
    size_t alpn_len;
    char alpn_text[257]; /* the same with each length byte a NUL */
    BIO_METHOD *bio;     /* the socket BIO (tls/bio.c) */
    int ktls;            /* the kernel offers TCP_ULP "tls" */

    ringo__spin lock; /* gen, keys, client session: a few pointer moves */
    struct tls_gen *gen;
    SSL_CTX *client;               /* client contexts */
    struct tls_ticket_key keys[2]; /* [0] issues, [1] the one before */
    int nkeys;
    int64_t rotate_at;      /* ringo_now() when keys[0] retires */
    SSL_SESSION *last_sess; /* client: the newest session, for host */
    char last_host[256];

    ringo_sema slots; /* max_handshakes */
    _Atomic uint64_t st[TLS_NSTATS];
};

struct ringo_tls {
    ringo_tls_ctx *ctx;
    struct tls_gen *gen; /* server: the certificates it started with */
    SSL *ssl;
    int fd;
    bool server;
    bool hs_done;
    bool owns_fd;      /* from ringo_tls_dial */
    _Atomic bool busy; /* a call is in progress (conn.c: enter/leave) */
    int fatal;         /* a fatal error: the only answer from now on */
    int werr;          /* a failed send: writes answer it */
    int io_err;        /* what the BIO's last socket call returned (< 0) */
    int64_t deadline;  /* of the call in progress (the BIO reads it) */
    char *wbuf;        /* encrypted records not sent yet: [woff, wlen) */
    size_t woff, wlen, wcap;
    char name[256]; /* SNI: sent (client) or received (server) */
    char err[256];  /* OpenSSL's reason for the last failure */
};

/* ctx.c */
void ringo__tls_stat_add(ringo_tls_ctx *ctx, size_t idx, uint64_t n);
struct tls_gen *ringo__tls_gen_get(ringo_tls_ctx *ctx);
void ringo__tls_gen_put(struct tls_gen *g);
/* Client: the saved session for host (a reference the caller frees), or NULL. */
SSL_SESSION *ringo__tls_session_for(ringo_tls_ctx *ctx, const char *host);
/* Write OpenSSL's queued errors as one line into buf (emptying the
 * queue); what is the prefix ("" for none). */
void ringo__tls_errors_text(char *buf, size_t len, const char *what);

/* bio.c */
BIO_METHOD *ringo__tls_bio_method_new(void);
/* Give t->ssl its BIOs. Returns 0 or -ENOMEM. */
int ringo__tls_bio_attach(ringo_tls *t);
/* Send t's buffered records (deadline t->deadline). 0 or -errno. */
int ringo__tls_flush_out(ringo_tls *t);
#ifdef RINGO_TLS_MEMBIO
/* After an SSL call returned r: 1 when more input was fed (call again),
 * 0 when r is the answer, < 0 when the socket failed. */
int ringo__tls_retry(ringo_tls *t, int r);
#else
/* The socket BIO reads for itself: an SSL call's result is final. */
static inline int ringo__tls_retry(ringo_tls *t, int r)
{
    (void)t;
    (void)r;
    return 0;
}
#endif

#endif
