/* tests/test_http_clients.c - the HTTP server against real clients: curl
 * (keep-alive, HEAD, uploads with Content-Length, chunked and
 * 100-continue, ranges, conditional requests, HTTP/1.0, streamed
 * responses), Node's http module (tests/http_node_client.js), and a raw
 * socket that pipelines.
 *
 * Each case forks a child that runs the server (routes below, static files
 * from a temporary directory) and writes its port into a pipe; the case
 * process itself has no ringo runtime: it runs the clients (each under
 * `timeout`, so a hung server fails the case) and compares their output
 * byte for byte. Closing the stop pipe ends the server.
 * T_HTTP_CLIENTS_TRACE=1 prints each curl run and its time. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

extern char **environ;

#define CURL_BIN "/usr/bin/curl"
#define NODE_BIN "/usr/bin/node"

#define DATA_SIZE  102400     /* www/data.bin */
#define DATA_MTIME 1577934245 /* Thu, 02 Jan 2020 03:04:05 GMT */
#define DATA_DATE  "Thu, 02 Jan 2020 03:04:05 GMT"
#define STREAM_BIG 10000 /* the big chunk of /stream */
#define UPLOAD_2K  2000  /* out/small.txt: the 100-continue upload */

static const char index_html[] = "<!doctype html>\n<title>ringo</title>\n<p>static index</p>\n";
static const char sub_index[] = "sub index\n";
static const char hello_txt[] = "hello, static\n";
static const char secret_txt[] = "outside the root\n";

/* The byte at offset i of data.bin (the same formula is in the node
 * script). */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131u + (i >> 9));
}

/* ==== the server (in the child process) ==== */

/* Set before the fork: the parse errors the case provokes on purpose. */
static unsigned long long g_parse_errors;

struct srv_arg {
    const char *root, *dir;
    int port_fd, stop_fd;
};

static int hello(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    ringo_http_header_add(resp, "Content-Type", "text/plain");
    return ringo_http_body_static(resp, "Hello, World!", 13);
}

/* Read the whole body and send it back, with what the request looked
 * like: X-Method, X-Body-Bytes, X-Framing (length / chunked / none),
 * X-Expect. */
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
        ssize_t r = ringo_http_body_read(req, buf + n, cap - n, ringo_deadline_in(10000000000LL));
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    char v[64];
    ringo_str m = ringo_http_method(req);
    ringo_http_header_addn(resp, "X-Method", 8, m.ptr, m.len);
    snprintf(v, sizeof(v), "%zu", n);
    ringo_http_header_add(resp, "X-Body-Bytes", v);
    int64_t cl = ringo_http_content_length(req);
    ringo_http_header_add(resp, "X-Framing", cl < 0 ? "chunked" : cl > 0 ? "length" : "none");
    ringo_str e;
    if (ringo_http_header(req, "Expect", &e))
        ringo_http_header_addn(resp, "X-Expect", 8, e.ptr, e.len);
    ringo_http_header_add(resp, "Content-Type", "application/octet-stream");
    int r = ringo_http_body(resp, buf, n);
    free(buf);
    return r;
}

/* "part 0\n" .. "part 4\n" (2 ms apart), STREAM_BIG letters, "end\n". */
static int stream(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    ringo_http_header_add(resp, "Content-Type", "text/plain");
    int r = ringo_http_stream(resp);
    if (r < 0)
        return r;
    char part[32];
    for (int i = 0; i < 5; i++) {
        int n = snprintf(part, sizeof(part), "part %d\n", i);
        if ((r = ringo_http_write(resp, part, (size_t)n)) < 0)
            return r;
        ringo_sleep(2000000);
    }
    char *big = malloc(STREAM_BIG);
    if (!big)
        return -ENOMEM;
    for (size_t i = 0; i < STREAM_BIG; i++)
        big[i] = (char)('a' + i % 26);
    r = ringo_http_write(resp, big, STREAM_BIG);
    free(big);
    if (r < 0 || (r = ringo_http_write(resp, "end\n", 4)) < 0)
        return r;
    return ringo_http_end(resp);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(p);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void server_main(void *arg)
{
    struct srv_arg *a = arg;
    ringo_http_server *s;
    ringo_http_static *st;
    T_OK(ringo_http_server_new(NULL, &s));
    T_OK(ringo_http_static_new(a->root, "/static/", &st));
    T_OK(ringo_http_route(s, "GET", "/plaintext", 0, hello, NULL));
    T_OK(ringo_http_route(s, "POST", "/echo", 0, echo, NULL));
    T_OK(ringo_http_route(s, "PUT", "/echo", 0, echo, NULL));
    T_OK(ringo_http_route(s, "GET", "/stream", 0, stream, NULL));
    T_OK(ringo_http_route(s, NULL, "/static/", RINGO_HTTP_PREFIX, ringo_http_static_handler, st));
    ringo_addr addr;
    T_OK(ringo_addr_parse(&addr, "127.0.0.1:0"));
    int port = 0;
    T_OK(ringo_http_start(s, &addr, &port));
    T_EQ(write(a->port_fd, &port, sizeof(port)), sizeof(port));
    close(a->port_fd);
    T_OK(ringo_fd_prepare(a->stop_fd));
    char b;
    ssize_t n = ringo_read(a->stop_fd, &b, 1, ringo_deadline_in(100LL * 1000000000));
    if (n != 1) {
        /* the case process died (or hung): clean up after it */
        rm_tree(a->dir);
        _exit(1);
    }
    ringo_http_stats sts;
    T_OK(ringo_http_server_stats(s, &sts));
    if (sts.parse_errors != g_parse_errors || sts.timeouts)
        T_FAIL("server: %llu parse errors (wanted %llu), %llu timeouts",
               (unsigned long long)sts.parse_errors, g_parse_errors,
               (unsigned long long)sts.timeouts);
    T_OK(ringo_http_shutdown(s, ringo_deadline_in(5LL * 1000000000)));
    ringo_http_server_free(s);
    ringo_http_static_free(st);
}

/* ==== the case process: files, server control ==== */

static char g_dir[64], g_www[128], g_out[160], g_head[192];
static int g_port, g_stop_w = -1;
static pid_t g_srv;

struct buf {
    char *p; /* NUL-terminated (not counted in n) */
    size_t n;
};

static void slurp(const char *path, struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096;
    b->p = malloc(cap);
    T_ASSERT(b->p);
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

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    T_ASSERT(fd >= 0);
    T_EQ(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void make_files(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/ringo-http-clients-XXXXXX");
    T_ASSERT(mkdtemp(g_dir));
    snprintf(g_www, sizeof(g_www), "%s/www", g_dir);
    snprintf(g_out, sizeof(g_out), "%s/out", g_dir);
    snprintf(g_head, sizeof(g_head), "%s/head", g_out);
    T_ASSERT(mkdir(g_www, 0755) == 0 && mkdir(g_out, 0755) == 0);
    char sub[160];
    snprintf(sub, sizeof(sub), "%s/sub", g_www);
    T_ASSERT(mkdir(sub, 0755) == 0);
    put_file(g_www, "index.html", index_html, strlen(index_html));
    put_file(sub, "index.html", sub_index, strlen(sub_index));
    put_file(g_www, "hello.txt", hello_txt, strlen(hello_txt));
    put_file(g_dir, "secret.txt", secret_txt, strlen(secret_txt));
    char lp[160];
    snprintf(lp, sizeof(lp), "%s/link.txt", g_www);
    T_ASSERT(symlink("../secret.txt", lp) == 0);
    unsigned char *d = malloc(DATA_SIZE);
    for (size_t i = 0; i < DATA_SIZE; i++)
        d[i] = pattern(i);
    put_file(g_www, "data.bin", d, DATA_SIZE);
    put_file(g_out, "data.bin", d, DATA_SIZE); /* the upload copy */
    free(d);
    char s[UPLOAD_2K];
    for (size_t i = 0; i < sizeof(s); i++)
        s[i] = (char)('A' + i % 23);
    put_file(g_out, "small.txt", s, sizeof(s));
    char dp[160];
    snprintf(dp, sizeof(dp), "%s/data.bin", g_www);
    struct timespec ts[2] = {{DATA_MTIME, 0}, {DATA_MTIME, 0}};
    T_ASSERT(utimensat(AT_FDCWD, dp, ts, 0) == 0);
}

static void start_server(unsigned long long parse_errors)
{
    g_parse_errors = parse_errors;
    if (access(CURL_BIN, X_OK) != 0)
        T_SKIP("%s is not installed", CURL_BIN);
    make_files();
    int pp[2], sp[2];
    T_ASSERT(pipe2(pp, O_CLOEXEC) == 0 && pipe2(sp, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pp[0]);
        close(sp[1]);
        struct srv_arg a = {g_www, g_dir, pp[1], sp[0]};
        t_run(1, server_main, &a);
        fflush(NULL);
        _exit(0);
    }
    close(pp[1]);
    close(sp[0]);
    g_srv = pid;
    g_stop_w = sp[1];
    /* EOF here (0 bytes) means the server died before listening */
    T_EQ(read(pp[0], &g_port, sizeof(g_port)), sizeof(g_port));
    close(pp[0]);
    T_ASSERT(g_port > 0);
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
        if (i > 1000) {
            kill(g_srv, SIGKILL);
            waitpid(g_srv, &status, 0);
            rm_tree(g_dir);
            T_FAIL("the server did not shut down within 10 s");
        }
        usleep(10000);
    }
    rm_tree(g_dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        T_FAIL("the server process failed (status 0x%x)", status);
}

/* ==== running clients ==== */

struct run {
    int status; /* exit code (124: timeout killed it), 128+sig */
    double secs;
    struct buf out, err;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run_cmd(struct run *r, const char *const *argv)
{
    char op[200], ep[200];
    snprintf(op, sizeof(op), "%s/stdout", g_out);
    snprintf(ep, sizeof(ep), "%s/stderr", g_out);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    double t0 = now_s();
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        T_FAIL("spawn %s: %s", argv[0], strerror(e));
    int st;
    T_EQ(waitpid(pid, &st, 0), pid);
    r->secs = now_s() - t0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    slurp(op, &r->out);
    slurp(ep, &r->err);
}

/* curl with -D into a file (heads of all URLs) and the bodies on stdout;
 * fails the case unless curl exits 0. */
struct cres {
    struct run run;
    struct buf head, body; /* body: a view of run.out */
};

static void curl_argv(struct cres *c, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    /* the bodies of all URLs go to stdout, one after another */
    const char *pre[] = {"timeout", "20", CURL_BIN, "-sS", "--max-time", "15", "-D", g_head};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        argv[n++] = pre[i];
    for (size_t i = 0; args[i]; i++) {
        T_ASSERT(n < 62);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    unlink(g_head);
    run_cmd(&c->run, argv);
    slurp(g_head, &c->head);
    c->body = c->run.out;
    if (getenv("T_HTTP_CLIENTS_TRACE"))
        fprintf(stderr, "  %.3fs curl ... %s\n", c->run.secs, argv[n - 1]);
    if (c->run.status != 0)
        T_FAIL("curl exited %d:\n%s", c->run.status, c->run.err.p);
}

#define CURL(c, ...) curl_argv((c), (const char *const[]){__VA_ARGS__, NULL})

/* A URL on the server (8 rotating buffers). */
static const char *url(const char *path)
{
    static char b[8][256];
    static int i;
    char *u = b[i++ % 8];
    snprintf(u, 256, "http://127.0.0.1:%d%s", g_port, path);
    return u;
}

/* ==== checks ==== */

/* The last response head in s (curl -D writes 1xx heads and the heads of
 * every URL one after another). */
static const char *last_head(const char *s)
{
    const char *last = s;
    for (const char *p = s; (p = strstr(p, "HTTP/")); p++)
        if (p == s || p[-1] == '\n')
            last = p;
    return last;
}

static int status_of(const char *head)
{
    int st = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &st) != 1)
        return -1;
    return st;
}

/* The value of the first field `name` in the head starting at h (up to
 * its empty line), OWS stripped. Returns 1 if found. */
static int hval(const char *h, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(h, "\r\n");
    while (p && p[2] != '\r' && p[2] != 0) {
        p += 2;
        const char *e = strstr(p, "\r\n");
        if (!e)
            break;
        if ((size_t)(e - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = e;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            snprintf(out, cap, "%.*s", (int)(ve - v), v);
            return 1;
        }
        p = e;
    }
    return 0;
}

#define EXPECT_STATUS(head, want)                                                                  \
    do {                                                                                           \
        int st_ = status_of(last_head(head));                                                      \
        if (st_ != (want))                                                                         \
            T_FAIL("status %d, wanted %d; head:\n%s", st_, (want), (head));                        \
    } while (0)

#define EXPECT_HDR(head, name, want)                                                               \
    do {                                                                                           \
        char v_[512];                                                                              \
        if (!hval(last_head(head), (name), v_, sizeof(v_)))                                        \
            T_FAIL("no %s header; head:\n%s", (name), (head));                                     \
        if (strcmp(v_, (want)))                                                                    \
            T_FAIL("%s: \"%s\", wanted \"%s\"", (name), v_, (want));                               \
    } while (0)

#define EXPECT_NO_HDR(head, name)                                                                  \
    do {                                                                                           \
        char v_[512];                                                                              \
        if (hval(last_head(head), (name), v_, sizeof(v_)))                                         \
            T_FAIL("unexpected %s: %s", (name), v_);                                               \
    } while (0)

#define EXPECT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            T_FAIL("\"%s\" not found in:\n%s", (needle), (hay));                                   \
    } while (0)

#define EXPECT_NOT_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        if (strstr((hay), (needle)))                                                               \
            T_FAIL("\"%s\" unexpectedly found in:\n%s", (needle), (hay));                          \
    } while (0)

static void expect_bytes(const char *what, const struct buf *got, const void *want, size_t len)
{
    if (got->n != len)
        T_FAIL("%s: %zu bytes, wanted %zu (got \"%.80s\")", what, got->n, len, got->p);
    const unsigned char *g = (const unsigned char *)got->p, *w = want;
    for (size_t i = 0; i < len; i++)
        if (g[i] != w[i])
            T_FAIL("%s: byte %zu is 0x%02x, wanted 0x%02x", what, i, g[i], w[i]);
}

#define EXPECT_BODY(what, got, lit) expect_bytes((what), (got), (lit), strlen(lit))

static unsigned char *data_bytes(void)
{
    static unsigned char d[DATA_SIZE];
    for (size_t i = 0; i < DATA_SIZE; i++)
        d[i] = pattern(i);
    return d;
}

/* The decoded body of /stream. */
static size_t stream_body(char *out)
{
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += (size_t)sprintf(out + n, "part %d\n", i);
    for (size_t i = 0; i < STREAM_BIG; i++)
        out[n++] = (char)('a' + i % 26);
    memcpy(out + n, "end\n", 4);
    return n + 4;
}

/* The same, in its chunked framing (one chunk per ringo_http_write). */
static size_t stream_raw(char *out)
{
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += (size_t)sprintf(out + n, "7\r\npart %d\n\r\n", i);
    n += (size_t)sprintf(out + n, "%x\r\n", STREAM_BIG);
    for (size_t i = 0; i < STREAM_BIG; i++)
        out[n++] = (char)('a' + i % 26);
    memcpy(out + n, "\r\n4\r\nend\n\r\n0\r\n\r\n", 16);
    return n + 16;
}

/* Replace the Date value in a head by "<date>" (checked separately). */
static void mask_date(char *head)
{
    char *d = strstr(head, "\r\nDate: ");
    T_ASSERT(d);
    d += 8;
    char *e = strstr(d, "\r\n");
    T_EQ(e - d, 29);
    T_ASSERT(!memcmp(e - 4, " GMT", 4));
    memmove(d + 6, e, strlen(e) + 1);
    memcpy(d, "<date>", 6);
}

/* ==== curl ==== */

T_CASE(http_clients_curl_basic, T_IO)
{
    start_server(0);
    struct cres c = {0};

    /* a plain GET: the head exactly (but the date) */
    CURL(&c, url("/plaintext"));
    EXPECT_BODY("GET /plaintext", &c.body, "Hello, World!");
    mask_date(c.head.p);
    if (strcmp(c.head.p, "HTTP/1.1 200 OK\r\nServer: ringo\r\nDate: <date>\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"))
        T_FAIL("GET /plaintext head:\n%s", c.head.p);

    /* keep-alive: two URLs, one connection */
    CURL(&c, "-v", url("/plaintext"), url("/plaintext"));
    EXPECT_BODY("two GETs", &c.body, "Hello, World!Hello, World!");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    EXPECT_NOT_CONTAINS(c.run.err.p, "Connection #1");
    EXPECT_NOT_CONTAINS(c.run.err.p, "Closing connection");

    /* HEAD: the GET's length, no body; then the connection is reused, so
     * no stray body bytes were sent after the head */
    CURL(&c, "-v", "-I", url("/plaintext"), url("/static/data.bin"), url("/stream"));
    /* -I prints the heads on stdout: nothing but them */
    if (c.body.n != c.head.n || memcmp(c.body.p, c.head.p, c.head.n))
        T_FAIL("HEAD output is not just the heads:\n%s", c.body.p);
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    EXPECT_NOT_CONTAINS(c.run.err.p, "Connection #1");
    {
        const char *h1 = c.head.p, *h2 = strstr(h1 + 1, "\r\n\r\nHTTP/1.1 ");
        T_ASSERT(h2);
        const char *h3 = strstr(h2 + 1, "\r\n\r\nHTTP/1.1 ");
        T_ASSERT(h3);
        char v[128];
        T_EQ(status_of(h1), 200);
        T_ASSERT(hval(h1, "Content-Length", v, sizeof(v)) && !strcmp(v, "13"));
        T_EQ(status_of(h2 + 4), 200);
        T_ASSERT(hval(h2 + 4, "Content-Length", v, sizeof(v)) && !strcmp(v, "102400"));
        T_ASSERT(hval(h2 + 4, "Accept-Ranges", v, sizeof(v)) && !strcmp(v, "bytes"));
        T_ASSERT(hval(h2 + 4, "Last-Modified", v, sizeof(v)) && !strcmp(v, DATA_DATE));
        T_ASSERT(hval(h2 + 4, "Content-Type", v, sizeof(v)) &&
                 !strcmp(v, "application/octet-stream"));
        T_ASSERT(hval(h2 + 4, "ETag", v, sizeof(v)) && v[0] == '"' && v[strlen(v) - 1] == '"');
        T_EQ(status_of(h3 + 4), 200);
        T_ASSERT(hval(h3 + 4, "Transfer-Encoding", v, sizeof(v)) && !strcmp(v, "chunked"));
    }

    /* HTTP/1.0: answered, then closed */
    CURL(&c, "-v", "-0", url("/plaintext"));
    EXPECT_BODY("HTTP/1.0 GET", &c.body, "Hello, World!");
    EXPECT_CONTAINS(c.run.err.p, "> GET /plaintext HTTP/1.0\r\n");
    EXPECT_STATUS(c.head.p, 200);
    EXPECT_HDR(c.head.p, "Content-Length", "13");
    EXPECT_HDR(c.head.p, "Connection", "close");
    EXPECT_CONTAINS(c.run.err.p, "Closing connection");
    /* HTTP/1.0 with keep-alive asked for: kept */
    CURL(&c, "-v", "-0", "-H", "Connection: keep-alive", url("/plaintext"), url("/plaintext"));
    EXPECT_BODY("HTTP/1.0 keep-alive", &c.body, "Hello, World!Hello, World!");
    EXPECT_HDR(c.head.p, "Connection", "keep-alive");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");

    /* a streamed response: decoded, and its framing exactly */
    static char want[STREAM_BIG + 256];
    size_t wn = stream_body(want);
    CURL(&c, url("/stream"));
    expect_bytes("GET /stream", &c.body, want, wn);
    EXPECT_HDR(c.head.p, "Transfer-Encoding", "chunked");
    EXPECT_NO_HDR(c.head.p, "Content-Length");
    wn = stream_raw(want);
    CURL(&c, "--raw", url("/stream"));
    expect_bytes("GET /stream --raw", &c.body, want, wn);
    /* HTTP/1.0 has no chunked coding: the close ends the body */
    wn = stream_body(want);
    CURL(&c, "-0", url("/stream"));
    expect_bytes("HTTP/1.0 GET /stream", &c.body, want, wn);
    EXPECT_NO_HDR(c.head.p, "Transfer-Encoding");
    EXPECT_NO_HDR(c.head.p, "Content-Length");
    EXPECT_HDR(c.head.p, "Connection", "close");

    /* unrouted: 404; wrong method: 405 with Allow */
    CURL(&c, url("/nope"));
    EXPECT_STATUS(c.head.p, 404);
    CURL(&c, "-X", "DELETE", url("/plaintext"));
    EXPECT_STATUS(c.head.p, 405);
    EXPECT_HDR(c.head.p, "Allow", "GET, HEAD");
    stop_server();
}

T_CASE(http_clients_curl_uploads, T_IO)
{
    start_server(1); /* the 413 */
    struct cres c = {0};
    unsigned char *data = data_bytes();
    char file[256], small[256];
    snprintf(file, sizeof(file), "@%s/data.bin", g_out);
    snprintf(small, sizeof(small), "@%s/small.txt", g_out);
    char smallb[UPLOAD_2K];
    for (size_t i = 0; i < sizeof(smallb); i++)
        smallb[i] = (char)('A' + i % 23);

    /* Content-Length (curl sends Expect: 100-continue by itself over 1 KiB
     * or not, depending on its version: either way must work) */
    CURL(&c, "--data-binary", "hello world", url("/echo"));
    EXPECT_BODY("POST small", &c.body, "hello world");
    EXPECT_HDR(c.head.p, "X-Body-Bytes", "11");
    EXPECT_HDR(c.head.p, "X-Framing", "length");
    EXPECT_HDR(c.head.p, "Content-Length", "11");
    CURL(&c, "--data-binary", file, url("/echo"));
    expect_bytes("POST 100 KiB", &c.body, data, DATA_SIZE);
    EXPECT_HDR(c.head.p, "X-Body-Bytes", "102400");
    EXPECT_HDR(c.head.p, "X-Framing", "length");

    /* chunked upload */
    CURL(&c, "-v", "-H", "Transfer-Encoding: chunked", "--data-binary", file, url("/echo"));
    expect_bytes("POST chunked", &c.body, data, DATA_SIZE);
    EXPECT_HDR(c.head.p, "X-Body-Bytes", "102400");
    EXPECT_HDR(c.head.p, "X-Framing", "chunked");
    EXPECT_CONTAINS(c.run.err.p, "> Transfer-Encoding: chunked");

    /* 100-continue: curl would wait 10 s for the interim answer before
     * sending anyway, so a quick answer proves the server sent it */
    CURL(&c, "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
         small, url("/echo"));
    expect_bytes("POST 100-continue", &c.body, smallb, sizeof(smallb));
    EXPECT_CONTAINS(c.run.err.p, "< HTTP/1.1 100 Continue");
    if (strncmp(c.head.p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42))
        T_FAIL("100-continue heads:\n%s", c.head.p);
    EXPECT_HDR(c.head.p, "X-Expect", "100-continue");
    EXPECT_HDR(c.head.p, "X-Body-Bytes", "2000");
    if (c.run.secs > 5)
        T_FAIL("100-continue took %.1f s: no interim answer?", c.run.secs);
    /* ... also with a chunked body, and as PUT (-T) */
    CURL(&c, "-v", "-H", "Expect: 100-continue", "-H", "Transfer-Encoding: chunked",
         "--expect100-timeout", "10", "--data-binary", file, url("/echo"));
    expect_bytes("POST chunked 100-continue", &c.body, data, DATA_SIZE);
    EXPECT_CONTAINS(c.run.err.p, "< HTTP/1.1 100 Continue");
    EXPECT_HDR(c.head.p, "X-Framing", "chunked");
    T_ASSERT(c.run.secs < 5);
    CURL(&c, "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "10", "-T", file + 1,
         url("/echo"));
    expect_bytes("PUT -T", &c.body, data, DATA_SIZE);
    EXPECT_HDR(c.head.p, "X-Method", "PUT");
    EXPECT_CONTAINS(c.run.err.p, "< HTTP/1.1 100 Continue");
    T_ASSERT(c.run.secs < 5);

    /* a handler that answers without reading: no 100, the final answer at
     * once (the body is never sent), then the close */
    CURL(&c, "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
         small, url("/plaintext"));
    EXPECT_STATUS(c.head.p, 405);
    EXPECT_NOT_CONTAINS(c.head.p, "100 Continue");
    T_ASSERT(c.run.secs < 5); /* its Connection: close: http_clients_close_announced */

    /* over max_body (4 MiB): 413 from the head alone, then the close;
     * with 100-continue the body is never sent */
    char big[256], bigat[260];
    snprintf(big, sizeof(big), "%s/big.bin", g_out);
    snprintf(bigat, sizeof(bigat), "@%s", big);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    T_ASSERT(fd >= 0 && ftruncate(fd, 5 << 20) == 0);
    close(fd);
    CURL(&c, "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
         bigat, url("/echo"));
    EXPECT_STATUS(c.head.p, 413);
    EXPECT_NOT_CONTAINS(c.head.p, "100 Continue");
    EXPECT_HDR(c.head.p, "Connection", "close");
    EXPECT_BODY("413 body", &c.body, "413 Content Too Large: Content-Length over max_body\n");
    T_ASSERT(c.run.secs < 5);
    /* (without 100-continue: http_clients_lingering_close) */

    /* a body the handler leaves unread (the static handler's 405) is
     * skipped, and the connection goes on */
    CURL(&c, "-v", "-H", "Expect:", "--data-binary", small, url("/static/hello.txt"), "--next",
         url("/plaintext"));
    EXPECT_STATUS(c.head.p, 405);
    EXPECT_HDR(c.head.p, "Allow", "GET, HEAD");
    EXPECT_CONTAINS(c.body.p, "Hello, World!");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    EXPECT_NOT_CONTAINS(c.run.err.p, "Connection #1");
    /* a large one still arriving: the answer goes out before the server
     * waits for the rest (issue 13: a ready answer never waits behind a
     * read), and curl, seeing an error before the end of its upload,
     * stops sending and opens a new connection for the next request */
    CURL(&c, "-v", "-H", "Expect:", "--data-binary", file, url("/static/hello.txt"), "--next",
         url("/plaintext"));
    EXPECT_STATUS(c.head.p, 405);
    EXPECT_CONTAINS(c.body.p, "Hello, World!");

    /* uploads back to back on one connection */
    CURL(&c, "-v", "--data-binary", "one", url("/echo"), "--next", "--data-binary", "two",
         url("/echo"), "--next", url("/plaintext"));
    EXPECT_BODY("three on one connection", &c.body, "onetwoHello, World!");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    EXPECT_NOT_CONTAINS(c.run.err.p, "Connection #1");
    stop_server();
}

T_CASE(http_clients_curl_static, T_IO)
{
    start_server(0);
    struct cres c = {0};
    unsigned char *data = data_bytes();
    char v[256];

    CURL(&c, url("/static/"));
    EXPECT_BODY("GET /static/", &c.body, index_html);
    EXPECT_HDR(c.head.p, "Content-Type", "text/html; charset=utf-8");
    CURL(&c, url("/static/index.html"));
    EXPECT_BODY("GET /static/index.html", &c.body, index_html);
    CURL(&c, url("/static/hello.txt"));
    EXPECT_BODY("GET /static/hello.txt", &c.body, hello_txt);
    EXPECT_HDR(c.head.p, "Content-Type", "text/plain; charset=utf-8");
    CURL(&c, url("/static/sub"));
    EXPECT_STATUS(c.head.p, 301);
    EXPECT_HDR(c.head.p, "Location", "/static/sub/");
    CURL(&c, "-L", url("/static/sub"));
    EXPECT_BODY("GET -L /static/sub", &c.body, sub_index);
    CURL(&c, url("/static/missing"));
    EXPECT_STATUS(c.head.p, 404);

    /* nothing outside the root */
    CURL(&c, "--path-as-is", url("/static/../secret.txt"));
    EXPECT_STATUS(c.head.p, 403);
    EXPECT_NOT_CONTAINS(c.body.p, "outside");
    CURL(&c, url("/static/%2e%2e/secret.txt"));
    EXPECT_STATUS(c.head.p, 403);
    EXPECT_NOT_CONTAINS(c.body.p, "outside");
    CURL(&c, url("/static/link.txt"));
    EXPECT_STATUS(c.head.p, 403);
    EXPECT_NOT_CONTAINS(c.body.p, "outside");

    /* the whole file */
    CURL(&c, url("/static/data.bin"));
    expect_bytes("GET data.bin", &c.body, data, DATA_SIZE);
    EXPECT_STATUS(c.head.p, 200);
    EXPECT_HDR(c.head.p, "Content-Length", "102400");
    EXPECT_HDR(c.head.p, "Last-Modified", DATA_DATE);
    char etag[128];
    T_ASSERT(hval(c.head.p, "ETag", etag, sizeof(etag)));
    T_ASSERT(etag[0] == '"' && etag[strlen(etag) - 1] == '"');

    /* ranges */
    CURL(&c, "-r", "10-19", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 206);
    EXPECT_HDR(c.head.p, "Content-Range", "bytes 10-19/102400");
    EXPECT_HDR(c.head.p, "Content-Length", "10");
    expect_bytes("range 10-19", &c.body, data + 10, 10);
    CURL(&c, "-r", "-5", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 206);
    EXPECT_HDR(c.head.p, "Content-Range", "bytes 102395-102399/102400");
    expect_bytes("range -5", &c.body, data + DATA_SIZE - 5, 5);
    CURL(&c, "-r", "100000-", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 206);
    EXPECT_HDR(c.head.p, "Content-Range", "bytes 100000-102399/102400");
    expect_bytes("range 100000-", &c.body, data + 100000, DATA_SIZE - 100000);
    CURL(&c, "-r", "102000-999999", url("/static/data.bin"));
    EXPECT_HDR(c.head.p, "Content-Range", "bytes 102000-102399/102400");
    expect_bytes("range 102000-999999", &c.body, data + 102000, DATA_SIZE - 102000);
    CURL(&c, "-r", "200000-", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 416);
    EXPECT_HDR(c.head.p, "Content-Range", "bytes */102400");
    T_EQ(c.body.n, 0);
    /* several ranges: the whole file (RFC 9110 allows it) */
    CURL(&c, "-r", "0-1,5-6", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 200);
    expect_bytes("range 0-1,5-6", &c.body, data, DATA_SIZE);
    /* If-Range: the range only for the current validator */
    snprintf(v, sizeof(v), "If-Range: %s", etag);
    CURL(&c, "-r", "0-3", "-H", v, url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 206);
    expect_bytes("If-Range match", &c.body, data, 4);
    CURL(&c, "-r", "0-3", "-H", "If-Range: \"stale\"", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 200);
    expect_bytes("If-Range stale", &c.body, data, DATA_SIZE);

    /* conditional requests: the ETag from a HEAD, then 304 without a
     * body, on a connection that stays usable */
    CURL(&c, "-I", url("/static/data.bin"));
    EXPECT_HDR(c.head.p, "ETag", etag);
    snprintf(v, sizeof(v), "If-None-Match: %s", etag);
    CURL(&c, "-v", "-H", v, url("/static/data.bin"), url("/plaintext"));
    {
        const char *h2 = strstr(c.head.p, "\r\n\r\nHTTP/1.1 ");
        T_ASSERT(h2);
        T_EQ(status_of(c.head.p), 304);
        char e2[128];
        T_ASSERT(hval(c.head.p, "ETag", e2, sizeof(e2)) && !strcmp(e2, etag));
        T_ASSERT(hval(c.head.p, "Last-Modified", e2, sizeof(e2)) && !strcmp(e2, DATA_DATE));
        T_ASSERT(!hval(c.head.p, "Transfer-Encoding", e2, sizeof(e2)));
        T_EQ(status_of(h2 + 4), 200);
    }
    EXPECT_BODY("304 then GET", &c.body, "Hello, World!");
    EXPECT_CONTAINS(c.run.err.p, "Re-using existing connection");
    snprintf(v, sizeof(v), "If-None-Match: \"other\", %s", etag);
    CURL(&c, "-H", v, url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 304);
    T_EQ(c.body.n, 0);
    CURL(&c, "-H", "If-None-Match: \"other\"", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 200);
    expect_bytes("If-None-Match other", &c.body, data, DATA_SIZE);
    CURL(&c, "-H", "If-Modified-Since: " DATA_DATE, url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 304);
    T_EQ(c.body.n, 0);
    CURL(&c, "-H", "If-Modified-Since: Wed, 01 Jan 2020 03:04:05 GMT", url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 200);
    expect_bytes("If-Modified-Since older", &c.body, data, DATA_SIZE);
    /* If-None-Match wins over If-Modified-Since */
    CURL(&c, "-H", "If-None-Match: \"other\"", "-H", "If-Modified-Since: " DATA_DATE,
         url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 200);
    /* curl's own -z sends If-Modified-Since */
    CURL(&c, "-z", DATA_DATE, url("/static/data.bin"));
    EXPECT_STATUS(c.head.p, 304);
    T_EQ(c.body.n, 0);
    stop_server();
}

/* ==== pipelining over a raw socket ==== */

struct rconn {
    int fd;
    char buf[1 << 18];
    size_t start, end;
};

/* Read more into c->buf; returns the bytes read, 0 at EOF. Fails the case
 * on an error or after 10 s without data. */
static size_t rc_fill(struct rconn *c)
{
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == sizeof(c->buf)) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    T_ASSERT(c->end < sizeof(c->buf));
    ssize_t n = read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end);
    if (n < 0)
        T_FAIL("read: %s", strerror(errno));
    c->end += (size_t)n;
    return (size_t)n;
}

/* Take a line (without CRLF) from the buffer into out. */
static void rc_line(struct rconn *c, char *out, size_t cap)
{
    for (;;) {
        char *p = memmem(c->buf + c->start, c->end - c->start, "\r\n", 2);
        if (p) {
            size_t l = (size_t)(p - (c->buf + c->start));
            T_ASSERT(l < cap);
            memcpy(out, c->buf + c->start, l);
            out[l] = 0;
            c->start += l + 2;
            return;
        }
        if (!rc_fill(c))
            T_FAIL("EOF in a line");
    }
}

static void rc_take(struct rconn *c, struct buf *b, size_t len)
{
    b->p = realloc(b->p, b->n + len + 1);
    T_ASSERT(b->p);
    while (len) {
        if (c->start == c->end && !rc_fill(c))
            T_FAIL("EOF in a body");
        size_t k = c->end - c->start < len ? c->end - c->start : len;
        memcpy(b->p + b->n, c->buf + c->start, k);
        b->n += k;
        c->start += k;
        len -= k;
    }
    b->p[b->n] = 0;
}

struct rresp {
    int status;
    char head[8192];
    struct buf body;
};

/* One response: Content-Length, chunked, or (HEAD, 1xx, 204, 304) none. */
static void rc_read(struct rconn *c, struct rresp *r, int head_req)
{
    free(r->body.p);
    memset(r, 0, sizeof(*r));
    size_t hn = 0;
    char line[8192];
    rc_line(c, line, sizeof(line));
    T_ASSERT(sscanf(line, "HTTP/1.1 %d ", &r->status) == 1);
    hn += (size_t)snprintf(r->head, sizeof(r->head), "%s\r\n", line);
    for (;;) {
        rc_line(c, line, sizeof(line));
        size_t l = strlen(line);
        T_ASSERT(hn + l + 3 < sizeof(r->head));
        memcpy(r->head + hn, line, l);
        memcpy(r->head + hn + l, "\r\n", 3);
        hn += l + 2;
        if (!line[0])
            break;
    }
    char v[64];
    r->body.p = calloc(1, 1);
    if (head_req || r->status < 200 || r->status == 204 || r->status == 304)
        return;
    if (hval(r->head, "Transfer-Encoding", v, sizeof(v))) {
        T_ASSERT(!strcmp(v, "chunked"));
        T_ASSERT(!hval(r->head, "Content-Length", v, sizeof(v)));
        for (;;) {
            rc_line(c, line, sizeof(line));
            char *e;
            unsigned long n = strtoul(line, &e, 16);
            T_ASSERT(e != line && *e == 0);
            if (n == 0)
                break;
            rc_take(c, &r->body, n);
            rc_line(c, line, sizeof(line));
            T_ASSERT(line[0] == 0);
        }
        do
            rc_line(c, line, sizeof(line));
        while (line[0]);
        return;
    }
    T_ASSERT(hval(r->head, "Content-Length", v, sizeof(v)));
    rc_take(c, &r->body, strtoul(v, NULL, 10));
}

/* A blocking socket to the server; reads time out after 10 s. */
static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    return fd;
}

T_CASE(http_clients_pipelining_raw, T_IO)
{
    start_server(0);
    struct rconn *c = calloc(1, sizeof(*c));
    c->fd = raw_connect();

    /* ten requests of every kind in one send() */
    const char *reqs[10] = {
        "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nbody-1",
        "GET /static/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199\r\n\r\n",
        "HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n",
        "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nbody-\r\n1\r\n5\r\n0\r\n\r\n",
        "GET /static/index.html HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /static/data.bin HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " DATA_DATE "\r\n\r\n",
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    };
    char all[4096];
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        size_t l = strlen(reqs[i]);
        memcpy(all + n, reqs[i], l);
        n += l;
    }
    T_EQ(send(c->fd, all, n, MSG_NOSIGNAL), (ssize_t)n);

    unsigned char *data = data_bytes();
    static char want[STREAM_BIG + 256];
    size_t wn = stream_body(want);
    struct rresp r = {0};
    char v[128];
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("pipelined 0", &r.body, "Hello, World!");
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("pipelined 1", &r.body, "body-1");
    EXPECT_HDR(r.head, "X-Method", "POST");
    rc_read(c, &r, 0);
    T_EQ(r.status, 206);
    EXPECT_HDR(r.head, "Content-Range", "bytes 100-199/102400");
    expect_bytes("pipelined 2", &r.body, data + 100, 100);
    rc_read(c, &r, 1);
    T_EQ(r.status, 200);
    EXPECT_HDR(r.head, "Content-Length", "13");
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_HDR(r.head, "Transfer-Encoding", "chunked");
    expect_bytes("pipelined 4", &r.body, want, wn);
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("pipelined 5", &r.body, "body-5");
    EXPECT_HDR(r.head, "X-Method", "PUT");
    EXPECT_HDR(r.head, "X-Framing", "chunked");
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("pipelined 6", &r.body, index_html);
    rc_read(c, &r, 0);
    T_EQ(r.status, 404);
    T_ASSERT(!hval(r.head, "Connection", v, sizeof(v))); /* a 404 keeps the connection */
    rc_read(c, &r, 0);
    T_EQ(r.status, 304);
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("pipelined 9", &r.body, "Hello, World!");
    EXPECT_HDR(r.head, "Connection", "close");
    /* and then the close, with nothing else sent */
    if (c->start != c->end)
        T_FAIL("%zu stray bytes after the last response: %.40s", c->end - c->start,
               c->buf + c->start);
    T_EQ(rc_fill(c), 0);
    close(c->fd);

    /* HTTP/1.0 has no 100 Continue (RFC 9110 10.1.1: the expectation is
     * ignored): nothing comes before the body is sent */
    c->fd = raw_connect();
    c->start = c->end = 0;
    const char *h10 = "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    T_EQ(send(c->fd, h10, strlen(h10), MSG_NOSIGNAL), (ssize_t)strlen(h10));
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, 300) != 0) {
        char early[128] = "";
        ssize_t k = read(c->fd, early, sizeof(early) - 1);
        T_FAIL("HTTP/1.0 request with Expect got %zd bytes before its body: %s", k, early);
    }
    T_EQ(send(c->fd, "abcd", 4, MSG_NOSIGNAL), 4);
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("HTTP/1.0 Expect", &r.body, "abcd");
    EXPECT_HDR(r.head, "Connection", "close");
    T_EQ(rc_fill(c), 0);
    close(c->fd);

    /* HTTP/1.1 100-continue by hand: the interim answer exactly, then the
     * final one */
    c->fd = raw_connect();
    c->start = c->end = 0;
    const char *h11 = "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                      "Content-Length: 4\r\n\r\n";
    T_EQ(send(c->fd, h11, strlen(h11), MSG_NOSIGNAL), (ssize_t)strlen(h11));
    rc_read(c, &r, 0);
    T_EQ(r.status, 100);
    if (strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n"))
        T_FAIL("interim answer: %s", r.head);
    T_EQ(send(c->fd, "wxyz", 4, MSG_NOSIGNAL), 4);
    rc_read(c, &r, 0);
    T_EQ(r.status, 200);
    EXPECT_BODY("HTTP/1.1 Expect", &r.body, "wxyz");
    close(c->fd);
    free(c);
    stop_server();
}

/* ==== Node's http client ==== */

T_CASE(http_clients_node, T_IO)
{
    if (access(NODE_BIN, X_OK) != 0)
        T_SKIP("%s is not installed", NODE_BIN);
    start_server(0);
    const char *script = t_test_file("http_node_client.js");
    T_ASSERT(access(script, R_OK) == 0);
    char port[16];
    snprintf(port, sizeof(port), "%d", g_port);
    struct run r = {0};
    run_cmd(&r, (const char *const[]){"timeout", "20", NODE_BIN, script, port, NULL});
    static const char *const checks[] = {
        "get_first",       "get_reused", "get_reused_again", "post_chunked",
        "expect_continue", "range",      "range_suffix",     "range_unsatisfiable",
        "full_file",       "etag_304",   "ims_304",          "head",
        "after_head",      "stream",     "static_index",     "one_socket",
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
    stop_server();
}

/* A response after which the server closes the connection must say
 * "Connection: close" (RFC 9112 9.6; RFC 9110 10.1.1: a server answering
 * before reading the content SHOULD say whether it will close), else a
 * keep-alive client sends its next request into a closing socket. Two
 * ways the server decides to close only after the head went out: */
static void expect_close_announced(const char *what, const char *req, size_t len, int status)
{
    struct rconn *c = calloc(1, sizeof(*c));
    c->fd = raw_connect();
    T_EQ(send(c->fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    struct rresp r = {0};
    rc_read(c, &r, 0);
    if (r.status != status)
        T_FAIL("%s: status %d, wanted %d", what, r.status, status);
    int closed = rc_fill(c) == 0;
    char v[64];
    int said = hval(r.head, "Connection", v, sizeof(v)) && !strcasecmp(v, "close");
    if (closed && !said)
        T_FAIL("%s: the server closed the connection after a response without "
               "\"Connection: close\":\n%s",
               what, r.head);
    if (!closed)
        T_FAIL("%s: the connection stayed open (expected a close)", what);
    close(c->fd);
    free(c);
    free(r.body.p);
}

T_CASE(http_clients_close_announced, T_IO)
{
    start_server(0);
    /* 1. Expect: 100-continue and a final answer without reading the body
     * (the router's 405, as for curl -H 'Expect: 100-continue'
     * --data-binary @f to a GET-only path) */
    static const char e1[] = "POST /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                             "Content-Length: 4\r\n\r\n";
    expect_close_announced("unread 100-continue body", e1, sizeof(e1) - 1, 405);
    /* the same through a handler (the static handler's 405) */
    static const char e2[] = "POST /static/hello.txt HTTP/1.1\r\nHost: t\r\n"
                             "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    expect_close_announced("unread 100-continue body (handler)", e2, sizeof(e2) - 1, 405);
    /* 2. an unread chunked body too big to skip (a chunk over max_body):
     * skipping it before the 405's head fails, so the head says close */
    static const char e3[] = "POST /static/hello.txt HTTP/1.1\r\nHost: t\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n500000\r\n";
    expect_close_announced("unread chunked body over max_body", e3, sizeof(e3) - 1, 405);
    stop_server();
}

/* A server that answers before reading the whole request and closes must
 * close in stages (RFC 9112 9.6: shut down its write side, then read and
 * drop what the client still sends for a while), else the client's
 * pending data makes the server's kernel answer with a reset, and the
 * client's send fails before it has read the answer: curl then reports
 * "(55) Send failure: Connection reset by peer" instead of the 413. */
T_CASE(http_clients_lingering_close, T_IO)
{
    start_server(6); /* six 413s */
    /* by hand: an 8 MiB body (over max_body, so 413 from the head alone)
     * is written in full, then the answer read: every send must succeed,
     * as when the server drains after its answer (nginx: lingering_close) */
    size_t len = 8u << 20; /* more than the kernel buffers take in */
    char head[128];
    int hl = snprintf(head, sizeof(head),
                      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
    struct rconn *c = calloc(1, sizeof(*c));
    c->fd = raw_connect();
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    T_EQ(send(c->fd, head, (size_t)hl, MSG_NOSIGNAL), hl);
    static char zeros[65536];
    size_t sent = 0;
    while (sent < len) {
        size_t k = len - sent < sizeof(zeros) ? len - sent : sizeof(zeros);
        ssize_t n = send(c->fd, zeros, k, MSG_NOSIGNAL);
        if (n < 0)
            T_FAIL("send failed after %zu of %zu body bytes (%s): the server closed "
                   "without draining, the client cannot deliver its request",
                   sent, len, strerror(errno));
        sent += (size_t)n;
    }
    struct rresp r = {0};
    rc_read(c, &r, 0);
    T_EQ(r.status, 413);
    EXPECT_HDR(r.head, "Connection", "close");
    close(c->fd);
    free(c);
    free(r.body.p);
    /* curl without 100-continue: the 413, every time */
    char big[256], bigat[260];
    snprintf(big, sizeof(big), "%s/big.bin", g_out);
    snprintf(bigat, sizeof(bigat), "@%s", big);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    T_ASSERT(fd >= 0 && ftruncate(fd, 5 << 20) == 0);
    close(fd);
    struct cres cr = {0};
    for (int i = 0; i < 5; i++) {
        CURL(&cr, "-H", "Expect:", "--data-binary", bigat, url("/echo"));
        EXPECT_STATUS(cr.head.p, 413);
        EXPECT_HDR(cr.head.p, "Connection", "close");
    }
    stop_server();
}
