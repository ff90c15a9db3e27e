/* src/tls/ctx.c - TLS contexts: certificates (default and by SNI) and
 * their reload, versions, ALPN, session tickets with rotating keys, the
 * TLS 1.2 session cache, a client's trust store and saved session, the
 * counters. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/tls_int.h"

#define SEC ((int64_t)1000000000)

void ringo_tls_config_init(ringo_tls_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_version = RINGO_TLS_1_2;
    cfg->alpn = "http/1.1";
    cfg->handshake_timeout_ns = 10 * SEC;
    cfg->max_handshakes = 1024;
    cfg->ticket_key_lifetime_ns = 3600 * SEC;
    cfg->num_tickets = 1;
    cfg->session_cache_size = 20480;
    cfg->verify_peer = 1;
    cfg->resume = 1;
}

void ringo__tls_stat_add(ringo_tls_ctx *ctx, size_t idx, uint64_t n)
{
    atomic_fetch_add_explicit(&ctx->st[idx], n, memory_order_relaxed);
}

int ringo_tls_ctx_stats(const ringo_tls_ctx *ctx, ringo_tls_stats *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t *v = (uint64_t *)out;
    for (size_t i = 0; i < TLS_NSTATS; i++)
        v[i] = atomic_load_explicit(&ctx->st[i], memory_order_relaxed);
    out->ktls_available = ctx->ktls;
    return 0;
}

/* ---- error text ---- */

static void put_text(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void ringo__tls_errors_text(char *buf, size_t len, const char *what)
{
    size_t used = 0;
    if (buf && len) {
        buf[0] = 0;
        if (what && *what)
            used = (size_t)snprintf(buf, len, "%s", what);
    }
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (!buf || used + 3 >= len)
            continue; /* keep emptying the queue */
        const char *reason = ERR_reason_error_string(e);
        char tmp[128];
        if (!reason) {
            ERR_error_string_n(e, tmp, sizeof(tmp));
            reason = tmp;
        }
        int n = snprintf(buf + used, len - used, "%s%s", used ? ": " : "", reason);
        if (n > 0)
            used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
}

/* ---- the kernel's TLS (probe only: docs/tls.md) ---- */

static int ktls_probe(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
    if (!f)
        return 0;
    char line[256] = "";
    int found = 0;
    if (fgets(line, sizeof(line), f))
        for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n"))
            found |= strcmp(tok, "tls") == 0;
    fclose(f);
    return found;
}

/* ---- session tickets: two keys, the newest issues, both decrypt ---- */

static int new_key(struct tls_ticket_key *k)
{
    return RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
                   RAND_bytes(k->hmac, sizeof(k->hmac)) == 1
               ? 0
               : -EIO;
}

/* The key to issue with (rotating when due) or, for dec, the one named
 * name: 0 none, 1 the current one, 2 the previous one (the ticket is then
 * renewed). Copied out under the lock. */
static int pick_key(ringo_tls_ctx *ctx, const unsigned char *name, struct tls_ticket_key *out)
{
    int found = 0;
    ringo__spin_lock(&ctx->lock);
    if (!name) {
        int64_t now = ringo_now();
        if (now >= ctx->rotate_at) {
            struct tls_ticket_key k;
            if (new_key(&k) == 0) {
                ctx->keys[1] = ctx->keys[0];
                ctx->keys[0] = k;
                ctx->nkeys = ctx->nkeys ? 2 : 1;
                ctx->rotate_at = now + ctx->cfg.ticket_key_lifetime_ns;
            }
        }
        if (ctx->nkeys) {
            *out = ctx->keys[0];
            found = 1;
        }
    } else {
        for (int i = 0; i < ctx->nkeys && !found; i++)
            if (memcmp(ctx->keys[i].name, name, sizeof(ctx->keys[i].name)) == 0) {
                *out = ctx->keys[i];
                found = i + 1;
            }
    }
    ringo__spin_unlock(&ctx->lock);
    return found;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    ringo_tls *t = SSL_get_app_data(ssl);
    struct tls_ticket_key k;
    int which = pick_key(t->ctx, enc ? NULL : key_name, &k);
    if (!which)
        return enc ? -1 : 0; /* unknown key: a full handshake */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok;
    if (enc) {
        memcpy(key_name, k.name, sizeof(k.name));
        ok = RAND_bytes(iv, 16) == 1 &&
             EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    } else {
        ok = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
    }
    ok = ok && EVP_MAC_CTX_set_params(hctx, params) == 1;
    OPENSSL_cleanse(&k, sizeof(k));
    if (!ok)
        return -1;
    /* TLS 1.3: 2 = renew, so a resumed handshake gets a new ticket too;
     * OpenSSL's client uses a TLS 1.3 ticket once (RFC 8446 C.4) and
     * would otherwise fall back to a full handshake every other time */
    return enc ? 1 : SSL_version(ssl) >= TLS1_3_VERSION ? 2 : which;
}

/* ---- ALPN and SNI ---- */

/* "h2,http/1.1" -> length-prefixed wire form. */
static int alpn_wire(const char *list, unsigned char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (!list)
        return 0;
    while (*list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        if (n == 0 || n > 255 || *len + 1 + n > cap)
            return -EINVAL;
        out[(*len)++] = (unsigned char)n;
        memcpy(out + *len, list, n);
        *len += n;
        list += n + (end ? 1 : 0);
        if (end && !*list)
            return -EINVAL; /* trailing comma */
    }
    return 0;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    ringo_tls_ctx *ctx = arg;
    unsigned char *sel;
    /* server preference order: the first of ours the client offers */
    if (SSL_select_next_proto(&sel, outlen, ctx->alpn, (unsigned)ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301) */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    ringo_tls *t = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK;
    snprintf(t->name, sizeof(t->name), "%s", name);
    for (size_t i = 0; i < t->gen->nsni; i++) {
        X509 *x = SSL_CTX_get0_certificate(t->gen->sni[i]);
        if (x && X509_check_host(x, name, 0, 0, NULL) == 1) {
            SSL_set_SSL_CTX(ssl, t->gen->sni[i]);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown names get the default pair, as nginx does */
}

/* ---- server contexts ---- */

static int file_readable(const char *path, const char *what, char *err, size_t errlen)
{
    if (!path || !*path) {
        put_text(err, errlen, "%s: no file given", what);
        return -EINVAL;
    }
    if (access(path, R_OK) < 0) {
        int e = errno;
        put_text(err, errlen, "%s %s: %s", what, path, strerror(e));
        return -e;
    }
    return 0;
}

static void common_options(SSL_CTX *c, const ringo_tls_config *cfg)
{
    SSL_CTX_set_min_proto_version(c, cfg->min_version);
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* the record buffers go back to the heap while a connection has
     * nothing in them: 10,000 idle connections would hold ~340 MB */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    /* read whole socket reads, not a 5-byte header then the record */
    SSL_CTX_set_read_ahead(c, 1);
}

/* One SSL_CTX with a certificate chain and key. */
static SSL_CTX *pair_ctx(ringo_tls_ctx *ctx, const char *cert, const char *key, int *rc, char *err,
                         size_t errlen)
{
    if ((*rc = file_readable(cert, "certificate", err, errlen)) < 0 ||
        (*rc = file_readable(key, "key", err, errlen)) < 0)
        return NULL;
    *rc = RINGO_ETLS;
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        ringo__tls_errors_text(err, errlen, "SSL_CTX_new");
        *rc = -ENOMEM;
        return NULL;
    }
    char what[300];
    const ringo_tls_config *cfg = &ctx->cfg;
    common_options(c, cfg);
    if (cfg->ciphers && SSL_CTX_set_cipher_list(c, cfg->ciphers) != 1) {
        ringo__tls_errors_text(err, errlen, "ciphers");
        *rc = -EINVAL;
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        snprintf(what, sizeof(what), "certificate %s", cert);
        goto openssl_fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "key %s", key);
        goto openssl_fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        snprintf(what, sizeof(what), "key %s does not match certificate %s", key, cert);
        goto openssl_fail;
    }
    SSL_CTX_set_num_tickets(c, cfg->ticket_key_lifetime_ns ? cfg->num_tickets : 0);
    if (cfg->ticket_key_lifetime_ns) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
        /* a ticket is honoured while its key exists: up to two lifetimes */
        SSL_CTX_set_timeout(c, (long)(2 * cfg->ticket_key_lifetime_ns / SEC));
    } else {
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_session_id_context(c, (const unsigned char *)"ringo", 5);
    if (cfg->session_cache_size) {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(c, (long)cfg->session_cache_size);
    } else {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    }
    if (ctx->alpn_len)
        SSL_CTX_set_alpn_select_cb(c, alpn_select_cb, ctx);
    *rc = 0;
    return c;
openssl_fail:
    ringo__tls_errors_text(err, errlen, what);
fail:
    SSL_CTX_free(c);
    return NULL;
}

void ringo__tls_gen_put(struct tls_gen *g)
{
    if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    SSL_CTX_free(g->main);
    for (size_t i = 0; i < g->nsni; i++)
        SSL_CTX_free(g->sni[i]);
    free(g->sni);
    free(g);
}

struct tls_gen *ringo__tls_gen_get(ringo_tls_ctx *ctx)
{
    ringo__spin_lock(&ctx->lock);
    struct tls_gen *g = ctx->gen;
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    ringo__spin_unlock(&ctx->lock);
    return g;
}

static int gen_load(ringo_tls_ctx *ctx, struct tls_gen **out, char *err, size_t errlen)
{
    struct tls_gen *g = calloc(1, sizeof(*g));
    if (!g || (ctx->cfg.n_sni_certs && !(g->sni = calloc(ctx->cfg.n_sni_certs, sizeof(*g->sni))))) {
        free(g);
        put_text(err, errlen, "out of memory");
        return -ENOMEM;
    }
    atomic_init(&g->refs, 1);
    int rc = 0;
    g->main = pair_ctx(ctx, ctx->cfg.cert_file, ctx->cfg.key_file, &rc, err, errlen);
    for (size_t i = 0; g->main && i < ctx->cfg.n_sni_certs; i++) {
        const ringo_tls_cert *p = &ctx->cfg.sni_certs[i];
        if (!(g->sni[i] = pair_ctx(ctx, p->cert_file, p->key_file, &rc, err, errlen)))
            break;
        g->nsni++;
    }
    if (rc < 0) {
        ringo__tls_gen_put(g);
        return rc;
    }
    if (ctx->cfg.n_sni_certs)
        SSL_CTX_set_tlsext_servername_callback(g->main, sni_cb);
    *out = g;
    return 0;
}

/* ---- contexts: set-up shared by both sides ---- */

static const char *keep_str(ringo_tls_ctx *ctx, const char *s)
{
    if (!s)
        return NULL;
    char *c = strdup(s);
    if (c)
        ctx->strs[ctx->nstrs++] = c;
    return c;
}

static void ctx_destroy(ringo_tls_ctx *ctx)
{
    ringo__tls_gen_put(ctx->gen);
    SSL_CTX_free(ctx->client);
    SSL_SESSION_free(ctx->last_sess);
    BIO_meth_free(ctx->bio);
    for (size_t i = 0; i < ctx->nstrs; i++)
        free(ctx->strs[i]);
    free(ctx->strs);
    free((void *)ctx->cfg.sni_certs);
    OPENSSL_cleanse(ctx->keys, sizeof(ctx->keys));
    free(ctx);
}

static int ctx_new(const ringo_tls_config *cfg, bool server, ringo_tls_ctx **out, char *err,
                   size_t errlen)
{
    if (!cfg || !out) {
        put_text(err, errlen, "no config");
        return -EINVAL;
    }
    if (cfg->min_version != RINGO_TLS_1_2 && cfg->min_version != RINGO_TLS_1_3) {
        put_text(err, errlen, "min_version must be RINGO_TLS_1_2 or RINGO_TLS_1_3");
        return -EINVAL;
    }
    if (cfg->handshake_timeout_ns <= 0 || cfg->ticket_key_lifetime_ns < 0 ||
        (cfg->n_sni_certs && !cfg->sni_certs)) {
        put_text(err, errlen, "handshake_timeout_ns, ticket_key_lifetime_ns or sni_certs");
        return -EINVAL;
    }
    ringo_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    atomic_init(&ctx->refs, 1);
    ctx->server = server;
    ctx->cfg = *cfg;
    ctx->cfg.sni_certs = NULL;
    size_t nstr = 4 + 2 * cfg->n_sni_certs;
    ringo_tls_cert *sni = cfg->n_sni_certs ? calloc(cfg->n_sni_certs, sizeof(*sni)) : NULL;
    if (!(ctx->strs = calloc(nstr, sizeof(char *))) || (cfg->n_sni_certs && !sni)) {
        free(sni);
        ctx_destroy(ctx);
        return -ENOMEM;
    }
    ctx->cfg.sni_certs = sni;
    ctx->cfg.cert_file = keep_str(ctx, cfg->cert_file);
    ctx->cfg.key_file = keep_str(ctx, cfg->key_file);
    ctx->cfg.ca_file = keep_str(ctx, cfg->ca_file);
    ctx->cfg.ciphers = keep_str(ctx, cfg->ciphers);
    ctx->cfg.alpn = NULL; /* only its wire form is kept */
    for (size_t i = 0; i < cfg->n_sni_certs; i++) {
        sni[i].cert_file = keep_str(ctx, cfg->sni_certs[i].cert_file);
        sni[i].key_file = keep_str(ctx, cfg->sni_certs[i].key_file);
    }
    int rc = alpn_wire(cfg->alpn, ctx->alpn, sizeof(ctx->alpn), &ctx->alpn_len);
    if (rc < 0) {
        put_text(err, errlen, "alpn list \"%s\": empty or over-long protocol name", cfg->alpn);
        ctx_destroy(ctx);
        return rc;
    }
    for (size_t i = 0; i < ctx->alpn_len; i++)
        ctx->alpn_text[i] = (char)ctx->alpn[i];
    for (size_t i = 0; i < ctx->alpn_len; i += 1 + ctx->alpn[i])
        ctx->alpn_text[i] = 0;
    ringo_sema_init(&ctx->slots, cfg->max_handshakes);
    ctx->ktls = ktls_probe();
    if (!(ctx->bio = ringo__tls_bio_method_new())) {
        ringo__tls_errors_text(err, errlen, "BIO_meth_new");
        ctx_destroy(ctx);
        return -ENOMEM;
    }
    *out = ctx;
    return 0;
}

int ringo_tls_server_new(const ringo_tls_config *cfg, ringo_tls_ctx **out, char *err, size_t errlen)
{
    ringo_tls_ctx *ctx;
    int rc = ctx_new(cfg, true, &ctx, err, errlen);
    if (rc < 0)
        return rc;
    if (cfg->ticket_key_lifetime_ns && new_key(&ctx->keys[0]) == 0) {
        ctx->nkeys = 1;
        ctx->rotate_at = ringo_now() + cfg->ticket_key_lifetime_ns;
    }
    if ((rc = gen_load(ctx, &ctx->gen, err, errlen)) < 0) {
        ERR_clear_error();
        ctx_destroy(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

int ringo_tls_ctx_reload(ringo_tls_ctx *ctx, char *err, size_t errlen)
{
    if (!ctx || !ctx->server) {
        put_text(err, errlen, "not a server context");
        return -EINVAL;
    }
    struct tls_gen *g;
    int rc = gen_load(ctx, &g, err, errlen);
    if (rc < 0) {
        ERR_clear_error();
        return rc;
    }
    ringo__spin_lock(&ctx->lock);
    struct tls_gen *old = ctx->gen;
    ctx->gen = g;
    ringo__spin_unlock(&ctx->lock);
    ringo__tls_gen_put(old); /* freed once its last connection is */
    ringo__tls_stat_add(ctx, TLS_STAT(reloads), 1);
    return 0;
}

/* ---- client contexts ---- */

/* OpenSSL hands over each new session (TLS 1.3: when a ticket arrives,
 * after the handshake); the newest one is kept for the next connection
 * to the same host. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    ringo_tls *t = SSL_get_app_data(ssl);
    ringo_tls_ctx *ctx = t->ctx;
    ringo__spin_lock(&ctx->lock);
    SSL_SESSION *old = ctx->last_sess;
    ctx->last_sess = sess;
    snprintf(ctx->last_host, sizeof(ctx->last_host), "%s", t->name);
    ringo__spin_unlock(&ctx->lock);
    SSL_SESSION_free(old);
    return 1; /* we keep the reference */
}

SSL_SESSION *ringo__tls_session_for(ringo_tls_ctx *ctx, const char *host)
{
    if (!ctx->cfg.resume)
        return NULL;
    SSL_SESSION *s = NULL;
    ringo__spin_lock(&ctx->lock);
    if (ctx->last_sess && strcmp(ctx->last_host, host ? host : "") == 0 &&
        SSL_SESSION_is_resumable(ctx->last_sess)) {
        s = ctx->last_sess;
        SSL_SESSION_up_ref(s);
    }
    ringo__spin_unlock(&ctx->lock);
    return s;
}

int ringo_tls_client_new(const ringo_tls_config *cfg, ringo_tls_ctx **out, char *err, size_t errlen)
{
    ringo_tls_ctx *ctx;
    int rc = ctx_new(cfg, false, &ctx, err, errlen);
    if (rc < 0)
        return rc;
    SSL_CTX *c = ctx->client = SSL_CTX_new(TLS_client_method());
    rc = RINGO_ETLS;
    if (!c) {
        ringo__tls_errors_text(err, errlen, "SSL_CTX_new");
        goto fail;
    }
    common_options(c, cfg);
    if (cfg->ciphers && SSL_CTX_set_cipher_list(c, cfg->ciphers) != 1) {
        ringo__tls_errors_text(err, errlen, "ciphers");
        rc = -EINVAL;
        goto fail;
    }
    /* The system store only with verify_peer: nothing consults it
     * otherwise, and loading it (Debian's bundle) costs ~0.9 MB per
     * context. */
    if (cfg->ca_file) {
        if ((rc = file_readable(cfg->ca_file, "CA file", err, errlen)) < 0)
            goto fail;
        rc = RINGO_ETLS;
        if (SSL_CTX_load_verify_locations(c, cfg->ca_file, NULL) != 1) {
            char what[300];
            snprintf(what, sizeof(what), "CA file %s", cfg->ca_file);
            ringo__tls_errors_text(err, errlen, what);
            goto fail;
        }
    } else if (cfg->verify_peer && SSL_CTX_set_default_verify_paths(c) != 1) {
        ringo__tls_errors_text(err, errlen, "system trust store");
        goto fail;
    }
    SSL_CTX_set_verify(c, cfg->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (ctx->alpn_len && SSL_CTX_set_alpn_protos(c, ctx->alpn, (unsigned)ctx->alpn_len) != 0) {
        ringo__tls_errors_text(err, errlen, "alpn");
        goto fail;
    }
    if (cfg->resume) {
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c, new_session_cb);
    }
    *out = ctx;
    return 0;
fail:
    ERR_clear_error();
    ctx_destroy(ctx);
    return rc;
}

ringo_tls_ctx *ringo__tls_ctx_ref(ringo_tls_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return ctx;
}

bool ringo__tls_ctx_is_server(const ringo_tls_ctx *ctx)
{
    return ctx->server;
}

void ringo_tls_ctx_free(ringo_tls_ctx *ctx)
{
    if (ctx && atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1)
        ctx_destroy(ctx);
}
