/* fuzz/tls_server.c - libFuzzer target for the server side of ringo's TLS
 * layer (src/tls): the handshake and an established session.
 *
 * The server is the real thing: ringo_main runs on a background thread
 * (one worker, RINGO_BACKEND from the environment, default uring) with a
 * coroutine that accepts on 127.0.0.1 and gives each connection to a
 * coroutine that does ringo_tls_server + ringo_tls_handshake, then echoes
 * what it reads until close_notify or an error. Its socket BIO parks on
 * ringo_read, so this needs the runtime; a memory-BIO harness would skip
 * the code that most differs from plain OpenSSL (tls/bio.c).
 *
 * The client is OpenSSL with memory BIOs on the fuzzer's thread, over a
 * plain blocking socket, so it can stop anywhere and put the input on the
 * wire instead. The first input byte says how:
 *   bits 0-1  0: the rest as raw bytes instead of a ClientHello
 *             1: a real ClientHello, the server's answer, then the rest
 *                instead of the client's second flight (TLS 1.3: its
 *                Finished; 1.2 full: ClientKeyExchange..Finished)
 *             2: a full handshake, then the rest raw (records no one can
 *                have sealed)
 *             3: a full handshake, the first part of the rest (the
 *                second byte says how much) as application data, which
 *                must come back unchanged, then the remainder raw, or
 *                close_notify when there is none
 *   bit 2     TLS 1.2 instead of 1.3
 *   bit 3     offer the last session of that version (resumption)
 *   bits 4-5  SNI: none, localhost, sni.test (the second certificate),
 *             unknown.test (the default one)
 *   bit 6     offer ALPN http/1.1
 * Then the client shuts its write side and reads until the server closes,
 * so inputs never overlap.
 *
 * Besides ASan/UBSan/LSan it aborts when the server: does not close
 * within HANG_SEC of the client's end of input; completes a handshake the
 * client could not have finished (modes 0, 1) or fails one it did (2, 3);
 * hands over data nobody sealed, or other data than was sent; leaves a
 * handshake counted as in progress or a connection uncounted; answers
 * with the wrong certificate for the SNI or the wrong ALPN protocol.
 *
 * OpenSSL itself is not instrumented, so the server's outcome (stage,
 * error code and OpenSSL's reason text) is hashed into libFuzzer's extra
 * counters: an input that makes OpenSSL fail for a new reason is kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <ringo.h>

#define SEC      1000000000LL
#define HANG_SEC 10 /* the server must close this soon after the client's EOF */

static const char *const SNI_NAMES[4] = {NULL, "localhost", "sni.test", "unknown.test"};

/* What the server saw on the last connection; written by its coroutine
 * before it closes the socket, read by the fuzzer thread after EOF. */
struct result {
    int hs;        /* ringo_tls_handshake */
    long rd;       /* the read (or echo write) that ended the session */
    size_t echoed; /* plaintext bytes read and written back */
    char sni[64];  /* ringo_tls_server_name */
    char alpn[16]; /* ringo_tls_alpn */
};

/* Harness state. The server side is one detached runtime; everything it
 * shares with the fuzzer thread is here. */
static ringo_tls_ctx *g_ctx;
static pthread_t g_rt;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_port;     /* > 0 once listening; < 0: the runtime failed */
static int g_lfd = -1; /* listener (runtime thread only) */
static struct result g_res;
static _Atomic unsigned long g_served; /* connections the server finished */
static _Atomic int g_quit;             /* the next connection stops the runtime */
static unsigned long g_conns;          /* connections the client made */
static SSL_CTX *g_cli[2];              /* TLS 1.3, TLS 1.2 */
static SSL_SESSION *g_sess[2];         /* the last resumable session of each */

/* libFuzzer treats this section as coverage (FuzzerExtraCounters). */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t g_extra[1024];

static _Noreturn void die(const char *what, long a, long b)
{
    fprintf(stderr, "tls_server fuzz: %s (%ld, %ld)\n", what, a, b);
    abort();
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* ---- certificates (OpenSSL's API: no openssl command needed) ---- */

static void write_pair(const char *dir, const char *cn, const char *san, char *crt, char *key)
{
    snprintf(crt, 128, "%s/%s.crt", dir, cn);
    snprintf(key, 128, "%s/%s.key", dir, cn);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x)
        die("key generation", 0, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, san);
    if (!e || !X509_add_ext(x, e, -1) || !X509_sign(x, k, EVP_sha256()))
        die("certificate", 0, 0);
    X509_EXTENSION_free(e);
    FILE *fc = fopen(crt, "w"), *fk = fopen(key, "w");
    if (!fc || !fk || !PEM_write_X509(fc, x) ||
        !PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL))
        die("writing the certificate", 0, 0);
    fclose(fc);
    fclose(fk);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void make_server_ctx(void)
{
    char dir[] = "/tmp/ringo-tlsfuzz-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", 0, 0);
    char crt[128], key[128], scrt[128], skey[128];
    write_pair(dir, "localhost", "DNS:localhost,IP:127.0.0.1", crt, key);
    write_pair(dir, "sni.test", "DNS:sni.test", scrt, skey);
    ringo_tls_cert sni = {.cert_file = scrt, .key_file = skey};
    ringo_tls_config cfg;
    ringo_tls_config_init(&cfg);
    cfg.cert_file = crt;
    cfg.key_file = key;
    cfg.sni_certs = &sni;
    cfg.n_sni_certs = 1;
    /* longer than HANG_SEC: a handshake that hangs must be reported, not
     * cut short by its own timeout */
    cfg.handshake_timeout_ns = 6 * HANG_SEC * SEC;
    char err[256];
    int r = ringo_tls_server_new(&cfg, &g_ctx, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "tls_server fuzz: ringo_tls_server_new: %s\n", err);
        die("server context", r, 0);
    }
    /* the context has read the files (it keeps only their names, for a
     * reload this harness never does) */
    unlink(crt);
    unlink(key);
    unlink(scrt);
    unlink(skey);
    rmdir(dir);
}

/* ---- the server: coroutines on the ringo runtime ---- */

static void feedback(int stage, long rc, const char *text)
{
    uint32_t h = fnv(2166136261u, &stage, sizeof(stage));
    h = fnv(h, &rc, sizeof(rc));
    h = fnv(h, text, strlen(text));
    g_extra[h % sizeof(g_extra)]++;
}

/* Odd lengths go back with ringo_tls_write, even ones as three pieces
 * (some empty) through ringo_tls_queuev, which packs them into records. */
static long echo(ringo_tls *t, const char *buf, size_t n)
{
    if (n & 1)
        return ringo_tls_write(t, buf, n, RINGO_FOREVER);
    struct iovec v[3] = {
        {(void *)buf, n / 3},
        {(void *)(buf + n / 3), n / 2 - n / 3},
        {(void *)(buf + n / 2), n - n / 2},
    };
    int r = ringo_tls_queuev(t, v, 3, RINGO_FOREVER);
    return r < 0 ? r : ringo_tls_flush(t, RINGO_FOREVER);
}

static void serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct result res = {0};
    ringo_tls *t;
    int r = ringo_tls_server(g_ctx, fd, &t);
    if (r < 0)
        die("ringo_tls_server", r, 0);
    res.hs = ringo_tls_handshake(t, RINGO_FOREVER);
    feedback(0, res.hs, ringo_tls_error_text(t));
    if (res.hs == 0) {
        snprintf(res.sni, sizeof(res.sni), "%s", ringo_tls_server_name(t));
        snprintf(res.alpn, sizeof(res.alpn), "%s", ringo_tls_alpn(t));
        char buf[4096];
        ssize_t n;
        while ((n = ringo_tls_read(t, buf, sizeof(buf), RINGO_FOREVER)) > 0) {
            res.echoed += (size_t)n;
            long w = echo(t, buf, (size_t)n);
            if (w < 0) {
                n = w;
                break;
            }
        }
        res.rd = n;
        feedback(1, n, ringo_tls_error_text(t));
        /* answer close_notify with ours; after an error send the alert
         * OpenSSL queued. The client is still reading, so this is quick. */
        if (n == 0)
            ringo_tls_shutdown(t, ringo_deadline_in(SEC));
        else
            ringo_tls_flush(t, ringo_deadline_in(SEC));
    }
    ringo_tls_free(t);
    g_res = res;
    atomic_fetch_add_explicit(&g_served, 1, memory_order_release);
    ringo_close(fd); /* the client's EOF: this connection is done */
}

static void publish_port(int port)
{
    pthread_mutex_lock(&g_mu);
    g_port = port;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void server_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    if (ringo_addr_parse(&a, "127.0.0.1:0") < 0 || (g_lfd = ringo_tcp_listen(&a, 64, 0)) < 0)
        die("listen", g_lfd, 0);
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    if (getsockname(g_lfd, (struct sockaddr *)&sin, &sl) < 0)
        die("getsockname", 0, 0);
    fprintf(stderr, "tls_server fuzz: backend %s, port %d\n", ringo_backend_name(),
            ntohs(sin.sin_port));
    publish_port(ntohs(sin.sin_port));
    for (;;) {
        int fd = ringo_accept(g_lfd, NULL, RINGO_FOREVER);
        if (fd < 0)
            die("accept", fd, 0);
        if (atomic_load(&g_quit)) {
            /* from a coroutine: ringo_stop on another thread races the
             * runtime's teardown (see the report on src/sched) */
            ringo_close(fd);
            ringo_stop();
            break;
        }
        int r = ringo_go(serve, (void *)(intptr_t)fd, NULL);
        if (r < 0)
            die("ringo_go", r, 0);
    }
    ringo_close(g_lfd);
}

static void *runtime_thread(void *arg)
{
    (void)arg;
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    cfg.handle_signals = 0; /* libFuzzer's own handlers stay in charge */
    if (!getenv("RINGO_BACKEND"))
        cfg.backend = "uring";
    int r = ringo_main(&cfg, server_main, NULL);
    pthread_mutex_lock(&g_mu);
    if (g_port <= 0) {
        g_port = r < 0 ? r : -1;
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* ---- the client: OpenSSL over memory BIOs, on the fuzzer's thread ---- */

struct cli {
    int fd;
    SSL *ssl;
    BIO *rb, *wb;
    int peer_closed; /* the server stopped taking bytes: EPIPE/ECONNRESET */
};

static void put(struct cli *c, const void *p, size_t n)
{
    const char *s = p;
    while (n && !c->peer_closed) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue; /* libFuzzer's SIGALRM (-timeout) */
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            c->peer_closed = 1; /* it may close on the first bad byte */
            return;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            die("server stopped reading: hang", HANG_SEC, 0);
        if (w < 0)
            die("send", errno, 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Send what the client's SSL wrote. Returns the byte count. */
static size_t flush_client(struct cli *c)
{
    char buf[4096];
    size_t total = 0;
    int n;
    while ((n = BIO_read(c->wb, buf, sizeof(buf))) > 0) {
        put(c, buf, (size_t)n);
        total += (size_t)n;
    }
    return total;
}

/* One read from the server into the client's SSL. Returns bytes, 0 at
 * EOF or reset. */
static ssize_t feed(struct cli *c)
{
    char buf[16384];
    ssize_t n;
    do /* EINTR: libFuzzer's SIGALRM (-timeout); SO_RCVTIMEO calls are not restarted */
        n = recv(c->fd, buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        die("server neither answered nor closed: hang", HANG_SEC, 0);
    if (n < 0 && errno == ECONNRESET)
        return 0;
    if (n < 0)
        die("recv", errno, 0);
    if (n > 0 && BIO_write(c->rb, buf, (int)n) != (int)n)
        die("BIO_write", n, 0);
    return n;
}

/* Run the client's handshake. With stop_flight, the client's flight of
 * that number is dropped instead of sent and 1 is returned. Returns 0
 * when done, -1 when the server ended it. */
static int handshake(struct cli *c, int stop_flight)
{
    int flights = 0;
    for (;;) {
        int r = SSL_do_handshake(c->ssl);
        if (BIO_pending(c->wb) > 0) {
            if (++flights == stop_flight) {
                (void)BIO_reset(c->wb);
                return 1;
            }
            flush_client(c);
        }
        if (r == 1)
            return 0;
        if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
            return -1;
        if (feed(c) <= 0)
            return -1;
    }
}

/* Read n bytes of application data back and compare. */
static void expect_echo(struct cli *c, const uint8_t *want, size_t n)
{
    uint8_t got[8192];
    size_t have = 0;
    while (have < n) {
        size_t k = 0;
        int r = SSL_read_ex(c->ssl, got + have, n - have, &k);
        if (r == 1) {
            have += k;
            continue;
        }
        if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
            die("client read failed before the echo was back", (long)have, (long)n);
        flush_client(c); /* e.g. a KeyUpdate answer */
        if (feed(c) <= 0)
            die("server closed before the echo was back", (long)have, (long)n);
    }
    if (memcmp(got, want, n) != 0)
        die("echo differs from what was sent", (long)n, 0);
}

/* Wait for the server to close: it is then done with the connection. */
static void drain(struct cli *c)
{
    shutdown(c->fd, SHUT_WR);
    char buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            die("server did not close after the client's EOF: hang", HANG_SEC, 0);
        if (n < 0)
            die("recv", errno, 0);
    }
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", errno, 0);
    struct timeval tv = {.tv_sec = HANG_SEC};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        /* interrupted: the connect goes on; wait for it */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = errno, err = 0;
        socklen_t el = sizeof(err);
        if (e != EINTR)
            die("connect", e, 0);
        while (poll(&p, 1, HANG_SEC * 1000) < 0 && errno == EINTR)
            ;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err || !(p.revents & POLLOUT))
            die("connect", err, p.revents);
    }
    return fd;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c || !SSL_CTX_set_min_proto_version(c, version) ||
        !SSL_CTX_set_max_proto_version(c, version))
        die("client context", version, 0);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    return c;
}

/* The certificate the server sent has the CN we expect for this SNI. */
static void check_cert(struct cli *c, const char *sni)
{
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    char cn[64] = "";
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    const char *want = sni && strcmp(sni, "sni.test") == 0 ? "sni.test" : "localhost";
    if (strcmp(cn, want) != 0)
        die("server sent the wrong certificate for the SNI", 0, 0);
}

static void check_stats(void)
{
    ringo_tls_stats st;
    ringo_tls_ctx_stats(g_ctx, &st);
    uint64_t ended = st.handshakes + st.fail_timeout + st.fail_protocol + st.fail_verify +
                     st.fail_closed + st.fail_other;
    if (st.in_progress != 0)
        die("a finished handshake still counts as in progress", (long)st.in_progress, 0);
    if (ended != g_conns)
        die("handshakes counted differ from connections", (long)ended, (long)g_conns);
    if (st.fail_timeout)
        die("a handshake timed out", (long)st.fail_timeout, 0);
}

static void run(const uint8_t *data, size_t size)
{
    uint8_t ctl = data[0];
    int mode = ctl & 3, v12 = (ctl >> 2) & 1, resume = (ctl >> 3) & 1;
    const char *sni = SNI_NAMES[(ctl >> 4) & 3];
    int alpn = (ctl >> 6) & 1;
    data++;
    size--;

    struct cli c = {.fd = connect_server()};
    g_conns++;
    int hs = -1, reused = 0;
    size_t sent_app = 0;
    if (mode == 0) {
        put(&c, data, size);
    } else {
        c.ssl = SSL_new(g_cli[v12]);
        c.rb = BIO_new(BIO_s_mem());
        c.wb = BIO_new(BIO_s_mem());
        if (!c.ssl || !c.rb || !c.wb)
            die("client SSL", 0, 0);
        SSL_set_bio(c.ssl, c.rb, c.wb);
        SSL_set_connect_state(c.ssl);
        if (sni)
            SSL_set_tlsext_host_name(c.ssl, sni);
        if (alpn)
            SSL_set_alpn_protos(c.ssl, (const unsigned char *)"\x08http/1.1", 9);
        if (resume && g_sess[v12])
            SSL_set_session(c.ssl, g_sess[v12]);
        hs = handshake(&c, mode == 1 ? 2 : 0);
        if (hs < 0)
            die("a valid client's handshake failed", mode, v12);
        if (mode == 1) {
            put(&c, data, size);
        } else {
            reused = SSL_session_reused(c.ssl);
            if (!reused)
                check_cert(&c, sni);
            const unsigned char *p;
            unsigned n;
            SSL_get0_alpn_selected(c.ssl, &p, &n);
            if (alpn != (n == 8 && memcmp(p, "http/1.1", 8) == 0))
                die("ALPN answer", alpn, n);
        }
        if (mode == 2) {
            put(&c, data, size);
        } else if (mode == 3) {
            size_t split = size ? (size_t)data[0] * size / 255 : 0;
            if (split > 8192)
                split = 8192;
            if (split && SSL_write_ex(c.ssl, data, split, &sent_app) != 1)
                die("client write", (long)split, 0);
            flush_client(&c);
            expect_echo(&c, data, split);
            if (split == size) {
                SSL_shutdown(c.ssl);
                flush_client(&c);
            } else {
                put(&c, data + split, size - split);
            }
            SSL_SESSION *s = SSL_get1_session(c.ssl);
            if (s && SSL_SESSION_is_resumable(s)) {
                SSL_SESSION_free(g_sess[v12]);
                g_sess[v12] = s;
            } else {
                SSL_SESSION_free(s);
            }
        }
    }
    drain(&c);
    SSL_free(c.ssl); /* frees the BIOs */
    close(c.fd);
    ERR_clear_error();

    if (atomic_load_explicit(&g_served, memory_order_acquire) != g_conns)
        die("server closed before it finished the connection", (long)atomic_load(&g_served),
            (long)g_conns);
    struct result res = g_res;
    if (mode <= 1 && res.hs == 0)
        die("server completed a handshake the client never finished", mode, 0);
    if (mode >= 2 && res.hs != 0)
        die("server failed a handshake the client completed", mode, res.hs);
    if (mode >= 2) {
        if (res.echoed != sent_app)
            die("server read other data than was sealed", (long)res.echoed, (long)sent_app);
        /* a resumed TLS 1.2 session reports the name it was made with */
        if (!reused && strcmp(res.sni, sni ? sni : "") != 0) {
            fprintf(stderr, "tls_server fuzz: sent SNI \"%s\", server saw \"%s\"\n", sni ? sni : "",
                    res.sni);
            die("server name differs from the SNI sent", resume, v12);
        }
        if (strcmp(res.alpn, alpn ? "http/1.1" : "") != 0)
            die("server ALPN differs from the client's", alpn, 0);
        /* unsealed bytes can never be close_notify; ours always is */
        if (mode == 2 && size && res.rd == 0)
            die("raw bytes ended the session as close_notify", 0, 0);
        if (mode == 3 && sent_app == size && res.rd != 0)
            die("close_notify did not end the session", res.rd, 0);
    }
    check_stats();
}

/* ---- libFuzzer ---- */

/* At exit, so LSan's report covers the runtime's teardown too: the
 * accept loop stops the runtime when it sees g_quit. */
static void stop_runtime(void)
{
    atomic_store(&g_quit, 1);
    close(connect_server());
    pthread_join(g_rt, NULL);
    ringo_tls_ctx_free(g_ctx);
    for (int i = 0; i < 2; i++) {
        SSL_SESSION_free(g_sess[i]);
        SSL_CTX_free(g_cli[i]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_server_ctx();
    g_cli[0] = client_ctx(TLS1_3_VERSION);
    g_cli[1] = client_ctx(TLS1_2_VERSION);
    if (pthread_create(&g_rt, NULL, runtime_thread, NULL) != 0)
        die("pthread_create", 0, 0);
    pthread_mutex_lock(&g_mu);
    while (g_port == 0)
        pthread_cond_wait(&g_cv, &g_mu);
    int port = g_port;
    pthread_mutex_unlock(&g_mu);
    if (port < 0) {
        fprintf(stderr, "tls_server fuzz: the ringo runtime did not start: %s\n",
                ringo_strerror(port));
        exit(1);
    }
    atexit(stop_runtime);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    run(data, size);
    return 0;
}
