/* tests/test_https.c - the HTTP server over TLS (ringo_http_start_tls)
 * against real clients: curl (keep-alive, chunked upload, a 4 MiB body,
 * static files and ranges), Node's https and tls modules
 * (tests/https_node_client.js: keep-alive, a large POST, 16 pipelined
 * requests), openssl s_client (TLS 1.3, ALPN, resumption); the TLS
 * counters on /metrics; bad input (plain HTTP on the TLS port, truncated
 * records, a record over 16 KiB, a client that stops mid-handshake, an
 * end without close_notify), 1000 concurrent handshakes from ringo's own
 * TLS client, and a graceful shutdown with a keep-alive connection and a
 * half-done handshake open.
 *
 * As in test_http_clients.c, each case forks a child that runs the
 * server and writes its ports into a pipe: the HTTPS port, and a plain
 * HTTP port whose /metrics reports the HTTPS server's counters (so a
 * scrape is not itself a TLS connection of the server under test). The
 * case process has no ringo runtime: it runs the clients (each under
 * `timeout`) and raw sockets, and speaks TLS itself through OpenSSL where
 * it must misbehave on purpose. Counters are waited for (they move when
 * the server has seen the client's end, which may be after the client
 * returned), then compared exactly. Closing the stop pipe ends the
 * server, which must then shut down cleanly (and, under ASan, without a
 * leak). curl, node and openssl are required: scripts/deps.sh build
 * installs them; a missing one fails the case. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "t.h"
#include "tls_certs.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() T_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define T_LEAK_CHECK() ((void)0)
#endif

extern char **environ;

#define CURL_BIN    "/usr/bin/curl"
#define NODE_BIN    "/usr/bin/node"
#define OPENSSL_BIN "/usr/bin/openssl"

#define SEC 1000000000LL

#define BIG_SIZE    (4u << 20)         /* /big: spans 256 records */
#define DATA_SIZE   (1u << 20)         /* www/data.bin */
#define UPLOAD_SIZE 300000             /* the chunked upload */
#define MANY        T_SCALE(1000, 250) /* concurrent handshakes */
#define METRIC_WAIT (20 * SEC)         /* how long a counter may take to move */

/* The byte at offset i of /big, data.bin and the upload. */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131u + (i >> 9));
}

static void need(const char *bin)
{
    if (access(bin, X_OK) != 0)
        T_FAIL("%s is not installed (scripts/deps.sh build installs it): this case needs it", bin);
}

/* ==== the server (in the child process) ==== */

struct srv_opts {
    int64_t handshake_timeout_ns; /* 0: the default (10 s) */
    int64_t shutdown_grace_ns;    /* 0: the default (10 s) */
    int watch_shutdown;           /* the shutdown must return 0 within 5 s */
};

struct srv_arg {
    struct srv_opts o;
    const char *cert, *key, *root;
    int port_fd, stop_fd;
};

static unsigned char *g_big;

static void remove_files(void);

static int hello(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    ringo_http_header_add(resp, "Content-Type", "text/plain");
    return ringo_http_body_static(resp, "Hello, World!", 13);
}

static int big(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    ringo_http_header_add(resp, "Content-Type", "application/octet-stream");
    return ringo_http_body_static(resp, g_big, BIG_SIZE);
}

/* Read the whole body and send it back, saying how it was framed
 * (X-Framing: length / chunked / none) and how long it was. */
static int echo(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = ringo_http_body_read(req, buf + n, cap - n, ringo_deadline_in(15 * SEC));
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    char v[32];
    snprintf(v, sizeof(v), "%zu", n);
    ringo_http_header_add(resp, "X-Body-Bytes", v);
    int64_t cl = ringo_http_content_length(req);
    ringo_http_header_add(resp, "X-Framing", cl < 0 ? "chunked" : cl > 0 ? "length" : "none");
    ringo_http_header_add(resp, "Content-Type", "application/octet-stream");
    int r = ringo_http_body(resp, buf, n);
    free(buf);
    return r;
}

static void server_main(void *arg)
{
    struct srv_arg *a = arg;
    ringo_tls_config tc;
    ringo_tls_config_init(&tc);
    tc.cert_file = a->cert;
    tc.key_file = a->key;
    if (a->o.handshake_timeout_ns)
        tc.handshake_timeout_ns = a->o.handshake_timeout_ns;
    ringo_tls_ctx *tls;
    char err[256] = "";
    if (ringo_tls_server_new(&tc, &tls, err, sizeof(err)) < 0)
        T_FAIL("server: ringo_tls_server_new: %s", err);

    ringo_http_config hc;
    ringo_http_config_init(&hc);
    if (a->o.shutdown_grace_ns)
        hc.shutdown_grace_ns = a->o.shutdown_grace_ns;
    ringo_http_server *s, *m;
    ringo_http_static *st;
    T_OK(ringo_http_server_new(&hc, &s));
    T_OK(ringo_http_server_new(NULL, &m));
    T_OK(ringo_http_static_new(a->root, "/static/", &st));
    T_OK(ringo_http_route(s, "GET", "/plaintext", 0, hello, NULL));
    T_OK(ringo_http_route(s, "GET", "/big", 0, big, NULL));
    T_OK(ringo_http_route(s, "POST", "/echo", 0, echo, NULL));
    T_OK(ringo_http_route(s, "PUT", "/echo", 0, echo, NULL));
    T_OK(ringo_http_route(s, "GET", "/metrics", 0, ringo_http_metrics_handler, s));
    T_OK(ringo_http_route(s, NULL, "/static/", RINGO_HTTP_PREFIX, ringo_http_static_handler, st));
    /* the plain port: the HTTPS server's counters */
    T_OK(ringo_http_route(m, "GET", "/metrics", 0, ringo_http_metrics_handler, s));

    ringo_addr addr;
    T_OK(ringo_addr_parse(&addr, "127.0.0.1:0"));
    int ports[2] = {0, 0};
    T_OK(ringo_http_start_tls(s, &addr, tls, &ports[0]));
    T_OK(ringo_http_start(m, &addr, &ports[1]));
    T_EQ(write(a->port_fd, ports, sizeof(ports)), sizeof(ports));
    close(a->port_fd);

    T_OK(ringo_fd_prepare(a->stop_fd));
    char b;
    ssize_t n = ringo_read(a->stop_fd, &b, 1, ringo_deadline_in(100 * SEC));
    if (n != 1) {
        /* the case process died (a failed check, or hung): clean up
         * after it */
        remove_files();
        _exit(1);
    }
    struct t_watch w;
    if (a->o.watch_shutdown)
        t_watch_start(&w, ringo_deadline_in(5 * SEC));
    int r = ringo_http_shutdown(s, ringo_deadline_in(60 * SEC));
    if (a->o.watch_shutdown && !t_watch_end(&w))
        T_FAIL("server: ringo_http_shutdown took longer than 5 s (grace %lld s)",
               (long long)(a->o.shutdown_grace_ns / SEC));
    if (r != 0)
        T_FAIL("server: ringo_http_shutdown: %d (%s): connections had to be cancelled", r,
               ringo_err_name(r));
    T_OK(ringo_http_shutdown(m, ringo_deadline_in(10 * SEC)));
    ringo_http_server_free(s);
    ringo_http_server_free(m);
    ringo_http_static_free(st);
    ringo_tls_ctx_free(tls);
}

/* ==== the case process: certificates, files, server control ==== */

static char g_dir[64], g_www[128], g_out[128];
static char g_ca[160], g_cert[160], g_key[160];
static int g_port, g_mport, g_stop_w = -1;
static pid_t g_srv;

static void put_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    T_ASSERT(fd >= 0);
    T_EQ(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static unsigned char *pattern_bytes(size_t n)
{
    unsigned char *d = malloc(n);
    T_ASSERT(d);
    for (size_t i = 0; i < n; i++)
        d[i] = pattern(i);
    return d;
}

/* A CA and a leaf it signed for 127.0.0.1 and localhost; www/ with
 * data.bin; out/ for the clients' output; the upload. tls_certs_dir_remove
 * does not recurse, so stop_server removes the two subdirectories. */
static void make_files(void)
{
    T_OK(tls_certs_dir_new(g_dir, sizeof(g_dir)));
    const char *sans[] = {"127.0.0.1", "localhost"};
    T_OK(tls_certs_make_ca(g_dir, "ca"));
    T_OK(tls_certs_make_signed(g_dir, "srv", "ca", sans, 2));
    tls_certs_path(g_ca, sizeof(g_ca), g_dir, "ca", "crt");
    tls_certs_path(g_cert, sizeof(g_cert), g_dir, "srv", "crt");
    tls_certs_path(g_key, sizeof(g_key), g_dir, "srv", "key");
    snprintf(g_www, sizeof(g_www), "%s/www", g_dir);
    snprintf(g_out, sizeof(g_out), "%s/out", g_dir);
    T_ASSERT(mkdir(g_www, 0755) == 0 && mkdir(g_out, 0755) == 0);
    char p[200];
    unsigned char *d = pattern_bytes(DATA_SIZE);
    snprintf(p, sizeof(p), "%s/data.bin", g_www);
    put_file(p, d, DATA_SIZE);
    snprintf(p, sizeof(p), "%s/upload.bin", g_out);
    put_file(p, d, UPLOAD_SIZE);
    free(d);
}

static void remove_files(void)
{
    tls_certs_dir_remove(g_www);
    tls_certs_dir_remove(g_out);
    tls_certs_dir_remove(g_dir);
}

static void start_server_opts(const struct srv_opts *o)
{
    make_files();
    int pp[2], sp[2];
    T_ASSERT(pipe2(pp, O_CLOEXEC) == 0 && pipe2(sp, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pp[0]);
        close(sp[1]);
        g_big = pattern_bytes(BIG_SIZE);
        struct srv_arg a = {*o, g_cert, g_key, g_www, pp[1], sp[0]};
        t_run(1, server_main, &a);
        free(g_big);
        T_LEAK_CHECK();
        fflush(NULL);
        _exit(0);
    }
    close(pp[1]);
    close(sp[0]);
    g_srv = pid;
    g_stop_w = sp[1];
    int ports[2];
    /* EOF here (0 bytes) means the server died before listening */
    T_EQ(read(pp[0], ports, sizeof(ports)), sizeof(ports));
    close(pp[0]);
    g_port = ports[0];
    g_mport = ports[1];
    T_ASSERT(g_port > 0 && g_mport > 0);
}

static void start_server(void)
{
    struct srv_opts o = {0};
    start_server_opts(&o);
}

static void stop_server(void)
{
    T_EQ(write(g_stop_w, "x", 1), 1);
    close(g_stop_w);
    int status = 0;
    for (int i = 0;; i++) {
        pid_t r = waitpid(g_srv, &status, WNOHANG);
        if (r == g_srv)
            break;
        if (i > 2000) {
            kill(g_srv, SIGKILL);
            waitpid(g_srv, &status, 0);
            remove_files();
            T_FAIL("the server did not shut down within 20 s");
        }
        usleep(10000);
    }
    remove_files();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        T_FAIL("the server process failed (status 0x%x)", status);
}

/* ==== running clients ==== */

struct buf {
    char *p; /* NUL-terminated (not counted in n) */
    size_t n;
};

static void slurp(const char *path, struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
    size_t cap = 4096;
    b->p = malloc(cap);
    T_ASSERT(b->p);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        for (;;) {
            if (b->n + 1 >= cap) {
                cap *= 2;
                b->p = realloc(b->p, cap);
                T_ASSERT(b->p);
            }
            ssize_t r = read(fd, b->p + b->n, cap - 1 - b->n);
            if (r <= 0)
                break;
            b->n += (size_t)r;
        }
        close(fd);
    }
    b->p[b->n] = 0;
}

struct run {
    int status; /* exit code (124: timeout killed it), 128+sig */
    struct buf out, err;
};

/* Run argv with stdin from in (NULL: /dev/null), stdout and stderr into
 * files under out/, and wait for it. */
static void run_cmd(struct run *r, const char *in, const char *const *argv)
{
    char op[200], ep[200];
    snprintf(op, sizeof(op), "%s/stdout", g_out);
    snprintf(ep, sizeof(ep), "%s/stderr", g_out);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        T_FAIL("spawn %s: %s", argv[0], strerror(e));
    int st;
    T_EQ(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    slurp(op, &r->out);
    slurp(ep, &r->err);
}

/* curl over HTTPS, verifying the server against our CA; the heads of all
 * URLs into a file (head), the bodies on stdout (body). Fails the case
 * unless curl exits 0. */
struct cres {
    struct run run;
    struct buf head, body; /* body: a view of run.out */
};

static void curl_argv(struct cres *c, const char *const *args)
{
    char head[200];
    snprintf(head, sizeof(head), "%s/head", g_out);
    const char *argv[64];
    size_t n = 0;
    const char *pre[] = {"timeout", "30",       CURL_BIN, "-sS", "--max-time",
                         "25",      "--cacert", g_ca,     "-D",  head};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        argv[n++] = pre[i];
    for (size_t i = 0; args[i]; i++) {
        T_ASSERT(n < 62);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    unlink(head);
    run_cmd(&c->run, NULL, argv);
    slurp(head, &c->head);
    c->body = c->run.out;
    if (c->run.status != 0)
        T_FAIL("curl exited %d:\n%s", c->run.status, c->run.err.p);
}

#define CURL(c, ...) curl_argv((c), (const char *const[]){__VA_ARGS__, NULL})

static void free_cres(struct cres *c)
{
    free(c->run.out.p);
    free(c->run.err.p);
    free(c->head.p);
}

/* An HTTPS URL on the server (8 rotating buffers). */
static const char *url(const char *path)
{
    static char b[8][256];
    static int i;
    char *u = b[i++ % 8];
    snprintf(u, 256, "https://127.0.0.1:%d%s", g_port, path);
    return u;
}

#define EXPECT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            T_FAIL("\"%s\" not found in:\n%s", (needle), (hay));                                   \
    } while (0)

static void expect_bytes(const char *what, const char *got, size_t n, const void *want, size_t len)
{
    if (n != len)
        T_FAIL("%s: %zu bytes, wanted %zu (got \"%.80s\")", what, n, len, got);
    const unsigned char *g = (const unsigned char *)got, *w = want;
    for (size_t i = 0; i < len; i++)
        if (g[i] != w[i])
            T_FAIL("%s: byte %zu is 0x%02x, wanted 0x%02x", what, i, g[i], w[i]);
}

/* A normal request after bad input: it must succeed. */
static void curl_hello(void)
{
    struct cres c = {0};
    CURL(&c, url("/plaintext"));
    expect_bytes("GET /plaintext", c.body.p, c.body.n, "Hello, World!", 13);
    free_cres(&c);
}

/* ==== /metrics of the HTTPS server, from the plain port ==== */

/* Connect to 127.0.0.1:port with 20 s send/receive timeouts. */
static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(fd >= 0);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        T_FAIL("connect to port %d: %s", port, strerror(errno));
    return fd;
}

static char g_metrics[256 * 1024];

static const char *scrape(void)
{
    int fd = tcp_connect(g_mport);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    T_EQ(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(g_metrics) - 1 &&
           (r = recv(fd, g_metrics + got, sizeof(g_metrics) - 1 - got, 0)) > 0)
        got += (size_t)r;
    close(fd);
    g_metrics[got] = 0;
    if (strncmp(g_metrics, "HTTP/1.1 200", 12))
        T_FAIL("GET /metrics on the plain port:\n%.300s", g_metrics);
    return g_metrics;
}

/* The value of the line "name value" (name with its labels, if any), or
 * -1 when absent. */
static long long metric_in(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; (p = strstr(p, name)); p += nl)
        if ((p == body || p[-1] == '\n') && p[nl] == ' ')
            return atoll(p + nl + 1);
    return -1;
}

static long long metric(const char *name)
{
    return metric_in(scrape(), name);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Wait until the counter reaches want (it moves once the server has seen
 * the client's end); fail, with the scrape, if it is not exactly that
 * within METRIC_WAIT. */
static void expect_metric(const char *name, long long want)
{
    int64_t end = mono_ns() + METRIC_WAIT;
    long long v;
    while ((v = metric(name)) < want && mono_ns() < end)
        usleep(10000);
    if (v != want)
        T_FAIL("%s is %lld, wanted %lld:\n%s", name, v, want, g_metrics);
}

#define FAILS(reason) "ringo_tls_handshake_failures_total{reason=\"" reason "\"}"

/* Every failure counter but the one named is 0; that one is want. */
static void expect_failures(const char *reason, long long want)
{
    static const char *const all[] = {"timeout", "protocol", "verify", "closed", "other"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        char name[128];
        snprintf(name, sizeof(name), "ringo_tls_handshake_failures_total{reason=\"%s\"}", all[i]);
        expect_metric(name, reason && !strcmp(reason, all[i]) ? want : 0);
    }
}

/* ==== TLS from the case process (OpenSSL, blocking sockets) ==== */

/* Read until the peer ends the connection: 0 at EOF or a reset, -1 if
 * the 20 s receive timeout passed first. */
static int wait_closed(int fd)
{
    char b[4096];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof(b), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* A real ClientHello (TLS 1.3 and 1.2, ALPN http/1.1), made by OpenSSL
 * into a memory BIO. Returns its length. */
static size_t client_hello(unsigned char *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    T_ASSERT(ctx);
    SSL *ssl = SSL_new(ctx);
    T_ASSERT(ssl);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    T_ASSERT(rb && wb);
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1);
    T_EQ(SSL_do_handshake(ssl), -1); /* waits for the ServerHello */
    int n = BIO_read(wb, out, (int)cap);
    T_ASSERT(n > 5 && out[0] == 0x16);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return (size_t)n;
}

/* A TCP connection that sent a ClientHello and read the server's first
 * flight, then stops: the server waits for the client's Finished. */
static int half_handshake(void)
{
    unsigned char hello[4096];
    size_t n = client_hello(hello, sizeof(hello));
    int fd = tcp_connect(g_port);
    T_EQ(send(fd, hello, n, MSG_NOSIGNAL), (ssize_t)n);
    unsigned char hdr[5];
    /* the ServerHello's record: the server is in the handshake now */
    T_EQ(recv(fd, hdr, sizeof(hdr), MSG_WAITALL), 5);
    T_EQ(hdr[0], 0x16);
    return fd;
}

struct oconn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

/* A verified TLS connection (our CA, name 127.0.0.1). */
static void oc_open(struct oconn *c)
{
    c->fd = tcp_connect(g_port);
    c->ctx = SSL_CTX_new(TLS_client_method());
    T_ASSERT(c->ctx);
    T_EQ(SSL_CTX_load_verify_locations(c->ctx, g_ca, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    T_ASSERT(c->ssl);
    T_EQ(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1"), 1);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        T_FAIL("SSL_connect: %s", e);
    }
}

/* GET path on c and read the whole answer (Content-Length framing).
 * Returns the status; the body into body (cap bytes), *blen. */
static int oc_get(struct oconn *c, const char *path, char *body, size_t cap, size_t *blen)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    T_EQ(SSL_write(c->ssl, req, n), n);
    static char buf[64 * 1024];
    size_t got = 0;
    char *he = NULL;
    while (!(he = strstr(buf, "\r\n\r\n"))) {
        int r = SSL_read(c->ssl, buf + got, (int)(sizeof(buf) - 1 - got));
        if (r <= 0)
            T_FAIL("SSL_read of the head: %d after %zu bytes", SSL_get_error(c->ssl, r), got);
        got += (size_t)r;
        buf[got] = 0;
    }
    int status = 0;
    T_EQ(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    char *cl = strcasestr(buf, "\r\nContent-Length:");
    T_ASSERT(cl && cl < he);
    size_t len = (size_t)atoll(cl + 17);
    T_ASSERT(len <= cap);
    size_t have = got - (size_t)(he + 4 - buf);
    T_ASSERT(have <= len);
    memcpy(body, he + 4, have);
    while (have < len) {
        int r = SSL_read(c->ssl, body + have, (int)(len - have));
        if (r <= 0)
            T_FAIL("SSL_read of the body: %d", SSL_get_error(c->ssl, r));
        have += (size_t)r;
    }
    memset(buf, 0, got);
    *blen = len;
    return status;
}

static void oc_hello(struct oconn *c)
{
    char body[64];
    size_t n;
    T_EQ(oc_get(c, "/plaintext", body, sizeof(body), &n), 200);
    expect_bytes("GET /plaintext over OpenSSL", body, n, "Hello, World!", 13);
}

/* Free the OpenSSL objects and close the socket, without close_notify. */
static void oc_drop(struct oconn *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    ERR_clear_error();
}

/* ==== curl ==== */

T_CASE(https_curl, T_IO)
{
    need(CURL_BIN);
    start_server();
    struct cres c = {0};

    /* keep-alive: three URLs, one TLS connection */
    CURL(&c, "-v", url("/plaintext"), url("/plaintext"), url("/plaintext"));
    expect_bytes("three GETs", c.body.p, c.body.n, "Hello, World!Hello, World!Hello, World!", 39);
    EXPECT_CONTAINS(c.run.err.p, "SSL connection using TLSv1.3");
    EXPECT_CONTAINS(c.run.err.p, "ALPN: server accepted http/1.1");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    expect_metric("ringo_http_connections_accepted_total", 1);
    expect_metric("ringo_tls_handshakes_total", 1);

    /* a chunked upload, echoed back: the body spans many records */
    char up[200];
    snprintf(up, sizeof(up), "%s/upload.bin", g_out);
    CURL(&c, "-T", up, "-H", "Transfer-Encoding: chunked", url("/echo"));
    EXPECT_CONTAINS(c.head.p, "HTTP/1.1 200");
    EXPECT_CONTAINS(c.head.p, "X-Framing: chunked\r\n");
    EXPECT_CONTAINS(c.head.p, "X-Body-Bytes: 300000\r\n");
    unsigned char *d = pattern_bytes(BIG_SIZE);
    expect_bytes("chunked upload echo", c.body.p, c.body.n, d, UPLOAD_SIZE);

    /* 4 MiB: 256 records and more, byte-exact */
    CURL(&c, url("/big"));
    EXPECT_CONTAINS(c.head.p, "Content-Length: 4194304\r\n");
    expect_bytes("GET /big", c.body.p, c.body.n, d, BIG_SIZE);

    /* a static file: read and encrypted (no sendfile under TLS), whole and
     * a range of it */
    CURL(&c, url("/static/data.bin"));
    EXPECT_CONTAINS(c.head.p, "HTTP/1.1 200");
    expect_bytes("GET /static/data.bin", c.body.p, c.body.n, d, DATA_SIZE);
    CURL(&c, "-r", "100000-299999", url("/static/data.bin"));
    EXPECT_CONTAINS(c.head.p, "HTTP/1.1 206");
    EXPECT_CONTAINS(c.head.p, "Content-Range: bytes 100000-299999/1048576\r\n");
    expect_bytes("range of /static/data.bin", c.body.p, c.body.n, d + 100000, 200000);
    free(d);

    /* five connections, five full handshakes; nothing failed or cut */
    expect_metric("ringo_http_connections_accepted_total", 5);
    expect_metric("ringo_tls_handshakes_total", 5);
    expect_metric("ringo_http_connections_open", 0);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_metric("ringo_tls_truncated_total", 0);
    expect_failures(NULL, 0);
    free_cres(&c);
    stop_server();
}

/* /metrics served over HTTPS itself has the TLS counters, and they move
 * with each handshake. */
T_CASE(https_metrics_tls_counters, T_IO)
{
    need(CURL_BIN);
    start_server();
    struct cres c = {0};
    CURL(&c, url("/metrics"));
    static const char *const names[] = {
        "ringo_tls_handshakes_total 1\n",
        "ringo_tls_resumed_total 0\n",
        "ringo_tls_handshakes_in_progress 0\n",
        FAILS("timeout") " 0\n",
        FAILS("protocol") " 0\n",
        FAILS("verify") " 0\n",
        FAILS("closed") " 0\n",
        FAILS("other") " 0\n",
        "ringo_tls_truncated_total 0\n",
        "ringo_tls_reloads_total 0\n",
        "# TYPE ringo_tls_handshake_failures_total counter\n",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        EXPECT_CONTAINS(c.body.p, names[i]);
    CURL(&c, url("/metrics"), url("/metrics"));
    EXPECT_CONTAINS(c.body.p, "ringo_tls_handshakes_total 2\n");
    CURL(&c, url("/metrics"));
    EXPECT_CONTAINS(c.body.p, "ringo_tls_handshakes_total 3\n");
    free_cres(&c);
    stop_server();
}

/* ==== Node ==== */

T_CASE(https_node, T_IO)
{
    need(NODE_BIN);
    start_server();
    const char *script = t_test_file("https_node_client.js");
    T_ASSERT(access(script, R_OK) == 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", g_port);
    struct run r = {0};
    run_cmd(&r, NULL, (const char *const[]){"timeout", "50", NODE_BIN, script, port, g_ca, NULL});
    static const char *const checks[] = {
        "get_0",
        "negotiated",
        "get_1_reused",
        "get_4_reused",
        "keepalive_one_socket",
        "post_large",
        "post_large_reused",
        "pipeline_alpn",
        "pipeline_count",
        "pipeline_in_order",
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "ok %s\n", checks[i]);
        if (!strstr(r.out.p, line))
            T_FAIL("node: no \"ok %s\" (exit %d)\nstdout:\n%s\nstderr:\n%s", checks[i], r.status,
                   r.out.p, r.err.p);
    }
    if (r.status != 0 || strstr(r.out.p, "FAIL"))
        T_FAIL("node exited %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out.p, r.err.p);
    /* the agent's connection and the pipelining one */
    expect_metric("ringo_http_connections_accepted_total", 2);
    expect_metric("ringo_http_requests_total", 5 + 1 + 16);
    expect_metric("ringo_http_connections_open", 0);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_failures(NULL, 0);
    free(r.out.p);
    free(r.err.p);
    stop_server();
}

/* ==== openssl s_client: TLS 1.3, ALPN, resumption ==== */

static void s_client(struct run *r, const char *sess_opt, const char *sess_file)
{
    char req[200], hp[64];
    snprintf(req, sizeof(req), "%s/request", g_out);
    static const char get[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    put_file(req, get, sizeof(get) - 1);
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", g_port);
    /* -ign_eof: the end of the request file does not end the session; the
     * server's close after its answer does (the ticket comes before it) */
    run_cmd(r, req,
            (const char *const[]){"timeout", "30", OPENSSL_BIN, "s_client", "-connect", hp, "-alpn",
                                  "http/1.1", "-tls1_3", "-CAfile", g_ca, "-verify_return_error",
                                  "-verify_ip", "127.0.0.1", "-ign_eof", sess_opt, sess_file,
                                  NULL});
    if (r->status != 0)
        T_FAIL("openssl s_client %s exited %d\nstdout:\n%s\nstderr:\n%s", sess_opt, r->status,
               r->out.p, r->err.p);
}

T_CASE(https_openssl_s_client, T_IO)
{
    need(OPENSSL_BIN);
    start_server();
    char sess[200];
    snprintf(sess, sizeof(sess), "%s/session.pem", g_out);
    struct run r = {0};
    s_client(&r, "-sess_out", sess);
    EXPECT_CONTAINS(r.out.p, "New, TLSv1.3, Cipher is ");
    EXPECT_CONTAINS(r.out.p, "ALPN protocol: http/1.1\n");
    EXPECT_CONTAINS(r.out.p, "Verify return code: 0 (ok)");
    EXPECT_CONTAINS(r.out.p, "\r\n\r\nHello, World!");
    struct stat sb;
    T_ASSERT(stat(sess, &sb) == 0 && sb.st_size > 0);
    expect_metric("ringo_tls_handshakes_total", 1);
    expect_metric("ringo_tls_resumed_total", 0);

    s_client(&r, "-sess_in", sess);
    EXPECT_CONTAINS(r.out.p, "Reused, TLSv1.3, Cipher is ");
    EXPECT_CONTAINS(r.out.p, "ALPN protocol: http/1.1\n");
    EXPECT_CONTAINS(r.out.p, "\r\n\r\nHello, World!");
    expect_metric("ringo_tls_handshakes_total", 2);
    expect_metric("ringo_tls_resumed_total", 1);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_failures(NULL, 0);
    free(r.out.p);
    free(r.err.p);
    stop_server();
}

/* ==== bad input ==== */

/* Plain HTTP on the TLS port: not a ClientHello. The server closes. */
T_CASE(https_bad_plain_http, T_IO)
{
    need(CURL_BIN);
    start_server();
    int fd = tcp_connect(g_port);
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    T_EQ(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    if (wait_closed(fd) < 0)
        T_FAIL("plain HTTP on the TLS port: the server did not close within 20 s");
    close(fd);
    expect_failures("protocol", 1);
    curl_hello();
    expect_metric("ringo_tls_handshakes_total", 1);
    expect_metric("ringo_http_requests_total", 1);
    expect_failures("protocol", 1);
    expect_metric("ringo_http_connections_open", 0);
    stop_server();
}

/* A record cut short, then the end of the stream: in the handshake (a
 * failure, "closed") and in an established session (truncated). */
T_CASE(https_bad_truncated_record, T_IO)
{
    need(CURL_BIN);
    start_server();
    unsigned char hello[4096];
    size_t n = client_hello(hello, sizeof(hello));
    int fd = tcp_connect(g_port);
    T_EQ(send(fd, hello, n / 2, MSG_NOSIGNAL), (ssize_t)(n / 2));
    shutdown(fd, SHUT_WR);
    if (wait_closed(fd) < 0)
        T_FAIL("half a ClientHello: the server did not close within 20 s");
    close(fd);
    expect_failures("closed", 1);
    curl_hello();

    /* after a request: 10 bytes of an application-data record announcing
     * 64, then FIN */
    struct oconn c;
    oc_open(&c);
    oc_hello(&c);
    static const unsigned char part[] = {0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3,
                                         4,    5,    6,    7,    8,    9, 10};
    T_EQ(send(c.fd, part, sizeof(part), MSG_NOSIGNAL), (ssize_t)sizeof(part));
    shutdown(c.fd, SHUT_WR);
    if (wait_closed(c.fd) < 0)
        T_FAIL("a truncated record: the server did not close within 20 s");
    oc_drop(&c);
    expect_metric("ringo_tls_truncated_total", 1);
    curl_hello();
    expect_metric("ringo_tls_handshakes_total", 3);
    expect_metric("ringo_http_requests_total", 3);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_failures("closed", 1);
    expect_metric("ringo_http_connections_open", 0);
    stop_server();
}

/* A handshake record announcing more than 16 KiB of plaintext
 * (RFC 8446 5.1: at most 2^14): refused with a record_overflow alert,
 * without waiting for the rest. */
T_CASE(https_bad_record_over_16k, T_IO)
{
    need(CURL_BIN);
    start_server();
    int fd = tcp_connect(g_port);
    unsigned char rec[5 + 16385];
    memset(rec, 0, sizeof(rec));
    rec[0] = 0x16; /* handshake */
    rec[1] = 0x03;
    rec[2] = 0x01;
    rec[3] = 0x40; /* 16385 */
    rec[4] = 0x01;
    rec[5] = 0x01; /* ClientHello */
    /* the server may close before it read it all: a send may fail */
    send(fd, rec, sizeof(rec), MSG_NOSIGNAL);
    unsigned char alert[7] = {0};
    ssize_t got = recv(fd, alert, sizeof(alert), MSG_WAITALL);
    if (got != 7 || alert[0] != 0x15 || alert[5] != 2 || alert[6] != 22)
        T_FAIL("record over 16 KiB: %zd bytes back (%02x %02x %02x %02x %02x %02x %02x), "
               "wanted a fatal record_overflow alert",
               got, alert[0], alert[1], alert[2], alert[3], alert[4], alert[5], alert[6]);
    if (wait_closed(fd) < 0)
        T_FAIL("record over 16 KiB: the server did not close within 20 s");
    close(fd);
    expect_failures("protocol", 1);
    curl_hello();
    expect_metric("ringo_tls_handshakes_total", 1);
    expect_failures("protocol", 1);
    expect_metric("ringo_http_connections_open", 0);
    stop_server();
}

/* A client that sent its ClientHello and stops: the handshake timeout
 * (3 s here) closes it; another client is served meanwhile. */
T_CASE(https_bad_stalled_handshake, T_IO)
{
    need(CURL_BIN);
    struct srv_opts o = {.handshake_timeout_ns = 3 * SEC};
    start_server_opts(&o);
    int64_t t0 = mono_ns(); /* before the connection: its timer starts later */
    int fd = half_handshake();
    curl_hello();
    if (wait_closed(fd) < 0)
        T_FAIL("a stalled handshake was not closed within 20 s (timeout 3 s)");
    int64_t took = mono_ns() - t0;
    close(fd);
    /* not before its timeout (the bound above is the generous one) */
    if (took < 3 * SEC - 100000000LL)
        T_FAIL("the stalled handshake was closed after %lld ms, before its 3 s timeout",
               (long long)(took / 1000000));
    expect_failures("timeout", 1);
    expect_metric("ringo_tls_handshakes_total", 1);
    expect_metric("ringo_tls_handshakes_in_progress", 0);
    curl_hello();
    expect_metric("ringo_tls_handshakes_total", 2);
    expect_metric("ringo_http_connections_open", 0);
    stop_server();
}

/* An end without close_notify after a request (the socket just closed):
 * counted as truncated, not as a connection error. */
T_CASE(https_bad_abrupt_close, T_IO)
{
    need(CURL_BIN);
    start_server();
    for (int i = 0; i < 3; i++) {
        struct oconn c;
        oc_open(&c);
        oc_hello(&c);
        oc_hello(&c);
        oc_drop(&c);
    }
    expect_metric("ringo_tls_truncated_total", 3);
    expect_metric("ringo_http_connections_open", 0);
    curl_hello();
    expect_metric("ringo_tls_handshakes_total", 4);
    expect_metric("ringo_http_requests_total", 7);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_metric("ringo_tls_truncated_total", 3);
    expect_failures(NULL, 0);
    stop_server();
}

/* ==== 1000 concurrent handshakes from ringo's TLS client ==== */

struct many {
    const char *hostport;
    ringo_tls_ctx *ctx;
    ringo_wg shook, done;
    int ok, failed;
    char why[256];
};

static void many_one(void *arg)
{
    struct many *m = arg;
    ringo_tls *t = NULL;
    char err[256];
    int64_t dl = ringo_deadline_in(90 * SEC);
    int r = ringo_tls_dial(m->ctx, m->hostport, dl, &t, err, sizeof(err));
    ringo_wg_done(&m->shook);
    if (r < 0) {
        m->failed++;
        snprintf(m->why, sizeof(m->why), "%s", err);
        ringo_wg_done(&m->done);
        return;
    }
    /* every handshake first, then the requests */
    ringo_wg_wait(&m->shook, dl);
    static const char req[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char buf[1024];
    size_t got = 0;
    if (ringo_tls_write(t, req, sizeof(req) - 1, dl) == (ssize_t)(sizeof(req) - 1)) {
        ssize_t n;
        while (got < sizeof(buf) - 1 &&
               (n = ringo_tls_read(t, buf + got, sizeof(buf) - 1 - got, dl)) > 0)
            got += (size_t)n;
    }
    buf[got] = 0;
    if (!strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "\r\n\r\nHello, World!")) {
        m->ok++;
    } else {
        m->failed++;
        snprintf(m->why, sizeof(m->why), "answer: %.200s (%s)", buf, ringo_tls_error_text(t));
    }
    ringo_tls_close(t);
    ringo_wg_done(&m->done);
}

static void many_main(void *arg)
{
    struct many *m = arg;
    ringo_tls_config tc;
    ringo_tls_config_init(&tc);
    tc.verify_peer = 0;
    tc.resume = 0; /* full handshakes, every one */
    char err[256] = "";
    if (ringo_tls_client_new(&tc, &m->ctx, err, sizeof(err)) < 0)
        T_FAIL("ringo_tls_client_new: %s", err);
    ringo_wg_init(&m->shook);
    ringo_wg_init(&m->done);
    T_OK(ringo_wg_add(&m->shook, MANY));
    T_OK(ringo_wg_add(&m->done, MANY));
    for (int i = 0; i < MANY; i++)
        T_OK(ringo_go(many_one, m, NULL));
    T_OK(ringo_wg_wait(&m->done, ringo_deadline_in(100 * SEC)));
    ringo_tls_stats st;
    T_OK(ringo_tls_ctx_stats(m->ctx, &st));
    T_EQ(st.handshakes, MANY);
    ringo_tls_ctx_free(m->ctx);
}

T_CASE(https_many_handshakes, T_IO | T_SLOW)
{
    struct rlimit rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_max < MANY + 200)
        T_SKIP("RLIMIT_NOFILE hard limit %llu < %d", (unsigned long long)rl.rlim_max, MANY + 200);
    if (rl.rlim_cur < MANY + 200) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    /* the case is about concurrency: the handshakes queue on one worker
     * (and under ASan on a loaded machine the last one finishes many
     * seconds after it began), so the timeout must not end them */
    struct srv_opts o = {.handshake_timeout_ns = 100 * SEC};
    start_server_opts(&o);
    char hp[64];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", g_port);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        struct many m = {.hostport = hp};
        t_run(1, many_main, &m);
        if (m.ok != MANY)
            T_FAIL("%d of %d answered; %d failed, the last: %s", m.ok, MANY, m.failed, m.why);
        T_LEAK_CHECK();
        fflush(NULL);
        _exit(0);
    }
    int st;
    T_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        T_FAIL("the client process failed (status 0x%x); the server's counters:\n%s", st, scrape());
    expect_metric("ringo_tls_handshakes_total", MANY);
    expect_metric("ringo_http_requests_total", MANY);
    expect_metric("ringo_http_connections_open", 0);
    expect_metric("ringo_http_connection_errors_total", 0);
    expect_metric("ringo_tls_truncated_total", 0);
    expect_failures(NULL, 0);
    stop_server();
}

/* ==== graceful shutdown ==== */

/* A keep-alive connection between requests and a handshake half done:
 * ringo_http_shutdown closes both at once (the grace period is 30 s and
 * the handshake timeout 60 s, so waiting for either would show), returns
 * 0 within 5 s (checked in the server), and both clients see the end. */
T_CASE(https_shutdown_idle_and_handshaking, T_IO | T_SLOW)
{
    struct srv_opts o = {
        .handshake_timeout_ns = 60 * SEC, .shutdown_grace_ns = 30 * SEC, .watch_shutdown = 1};
    start_server_opts(&o);
    struct oconn c;
    oc_open(&c);
    oc_hello(&c);
    int hs = half_handshake();
    expect_metric("ringo_tls_handshakes_in_progress", 1);
    expect_metric("ringo_http_connections_open", 2);
    T_EQ(write(g_stop_w, "x", 1), 1);
    /* the keep-alive client gets the end of the stream (close_notify, or
     * the connection's end) */
    char b[64];
    int r = SSL_read(c.ssl, b, sizeof(b));
    if (r > 0)
        T_FAIL("the keep-alive connection got %d bytes after the shutdown: %.*s", r, r, b);
    int e = SSL_get_error(c.ssl, r);
    if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL && e != SSL_ERROR_SSL)
        T_FAIL("the keep-alive connection: SSL_get_error %d after the shutdown", e);
    if (e == SSL_ERROR_SYSCALL && errno == EAGAIN)
        T_FAIL("the keep-alive connection was not closed within 20 s of the shutdown");
    if (wait_closed(hs) < 0)
        T_FAIL("the half-done handshake was not closed within 20 s of the shutdown");
    close(hs);
    oc_drop(&c);
    close(g_stop_w);
    int status = 0;
    for (int i = 0; waitpid(g_srv, &status, WNOHANG) != g_srv; i++) {
        if (i > 2000) {
            kill(g_srv, SIGKILL);
            waitpid(g_srv, &status, 0);
            remove_files();
            T_FAIL("the server did not exit within 20 s of its shutdown");
        }
        usleep(10000);
    }
    remove_files();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        T_FAIL("the server process failed (status 0x%x)", status);
}
