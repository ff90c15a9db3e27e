/* ringo-httpd: an HTTP/1.1 server on ringo's HTTP library.
 *
 *   ringo-httpd [--port N] [--host ADDR] [--workers N] [--backend B]
 *               [--root DIR] [--metrics] [--quiet] [--max-conns N]
 *               [--max-conns-per-ip N] [--stats-file PATH]
 *
 * Routes: GET /plaintext answers "Hello, World!" as text/plain (the
 * TechEmpower plaintext test); --metrics adds /metrics (Prometheus text);
 * --root serves the files below DIR at "/" (without --root, "/" is a
 * short page naming the routes). SIGINT/SIGTERM shut down gracefully:
 * stop accepting, finish the requests in flight, close idle connections. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <ringo.h>

static struct {
    const char *host;
    int port;
    const char *root;
    int metrics;
    int quiet;
    const char *stats_file;
    ringo_addr addr;
    ringo_http_config http;
} opt = {.host = "*", .port = 8080};

static void usage(FILE *f)
{
    fprintf(f, "usage: ringo-httpd [--port N] [--host ADDR] [--workers N] "
               "[--backend auto|uring|epoll]\n"
               "                   [--root DIR] [--metrics] [--quiet] [--max-conns N] "
               "[--max-conns-per-ip N]\n"
               "                   [--stats-file PATH]\n");
}

static int plaintext(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    ringo_http_header_addn(resp, "Content-Type", 12, "text/plain", 10);
    return ringo_http_body_static(resp, "Hello, World!", 13);
}

static const char index_page[] =
    "<!doctype html><title>ringo-httpd</title><h1>ringo-httpd</h1>\n"
    "<p>Routes: <a href=\"/plaintext\">/plaintext</a>, <a href=\"/metrics\">/metrics</a> "
    "(with --metrics); start with --root DIR to serve files.</p>\n";

static int index_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    ringo_http_header_add(resp, "Content-Type", "text/html; charset=utf-8");
    return ringo_http_body_static(resp, index_page, sizeof(index_page) - 1);
}

static void write_stats(void)
{
    ringo_counters st;
    if (!opt.stats_file || ringo_stats(&st) < 0)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", opt.stats_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ringo_stats_print(&st, fd);
        close(fd);
        rename(tmp, opt.stats_file);
    }
}

/* Signals arrive on a signalfd read by a coroutine, so the shutdown runs
 * inside the runtime like any other code. */
struct sigwatch {
    int fd;
    ringo_http_server *s;
    int shutting; /* the watcher is running the shutdown: join, do not cancel */
};

static void signal_watch(void *arg)
{
    struct sigwatch *sw = arg;
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = ringo_read(sw->fd, &si, sizeof(si), RINGO_FOREVER);
        if (n != (ssize_t)sizeof(si))
            return;
        if (si.ssi_signo == SIGUSR1) {
            write_stats();
            continue;
        }
        if (!opt.quiet)
            fprintf(stderr, "ringo-httpd: signal %u: shutting down\n", si.ssi_signo);
        sw->shutting = 1;
        int r = ringo_http_shutdown(sw->s, RINGO_FOREVER);
        if (r < 0 && !opt.quiet)
            fprintf(stderr, "ringo-httpd: shutdown: %s\n", ringo_strerror(r));
        return;
    }
}

static void main_coro(void *arg)
{
    int sfd = *(int *)arg;
    ringo_http_server *s;
    int r = ringo_http_server_new(&opt.http, &s);
    ringo_http_static *st = NULL;
    if (r < 0) {
        fprintf(stderr, "ringo-httpd: %s\n", ringo_strerror(r));
        return;
    }
    ringo_http_route(s, "GET", "/plaintext", 0, plaintext, NULL);
    if (opt.metrics)
        ringo_http_route(s, "GET", "/metrics", 0, ringo_http_metrics_handler, s);
    if (opt.root) {
        r = ringo_http_static_new(opt.root, "/", &st);
        if (r < 0) {
            fprintf(stderr, "ringo-httpd: --root %s: %s\n", opt.root, ringo_strerror(r));
            ringo_http_server_free(s);
            return;
        }
        ringo_http_route(s, NULL, "/", RINGO_HTTP_PREFIX, ringo_http_static_handler, st);
    } else {
        ringo_http_route(s, "GET", "/", 0, index_handler, NULL);
    }
    int port = 0;
    r = ringo_http_start(s, &opt.addr, &port);
    if (r < 0) {
        fprintf(stderr, "ringo-httpd: listen on %s:%d: %s\n", opt.host, opt.port,
                ringo_strerror(r));
        ringo_http_static_free(st);
        ringo_http_server_free(s);
        return;
    }
    if (!opt.quiet)
        fprintf(stderr, "ringo-httpd: listening on http://%s:%d/ (%d worker(s), backend %s)\n",
                strcmp(opt.host, "*") ? opt.host : "127.0.0.1", port, ringo_workers(),
                ringo_backend_name());
    struct sigwatch sw = {sfd, s, 0};
    ringo_coro *watch = NULL;
    if (ringo_fd_prepare(sfd) == 0)
        ringo_go(signal_watch, &sw, &watch);
    ringo_http_wait(s);
    if (watch) {
        /* the server may be freed only once ringo_http_shutdown returned */
        if (!sw.shutting)
            ringo_cancel(watch);
        ringo_join(watch, RINGO_FOREVER);
    }
    write_stats();
    ringo_http_static_free(st);
    ringo_http_server_free(s);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ringo_config cfg;
    ringo_config_init(&cfg);
    ringo_http_config_init(&opt.http);
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"workers", required_argument, 0, 'w'},
        {"backend", required_argument, 0, 'b'},
        {"root", required_argument, 0, 'r'},
        {"metrics", no_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},
        {"max-conns", required_argument, 0, 'C'},
        {"max-conns-per-ip", required_argument, 0, 'I'},
        {"stats-file", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:H:w:b:r:mqC:I:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'H':
            opt.host = optarg;
            break;
        case 'w':
            cfg.workers = atoi(optarg);
            break;
        case 'b':
            cfg.backend = optarg;
            break;
        case 'r':
            opt.root = optarg;
            break;
        case 'm':
            opt.metrics = 1;
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'C':
            opt.http.max_conns = (unsigned)atol(optarg);
            break;
        case 'I':
            opt.http.max_conns_per_ip = (unsigned)atol(optarg);
            break;
        case 's':
            opt.stats_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char text[300];
    if (strchr(opt.host, ':') && opt.host[0] != '[')
        snprintf(text, sizeof(text), "[%s]:%d", opt.host, opt.port);
    else
        snprintf(text, sizeof(text), "%s:%d", opt.host, opt.port);
    if (ringo_addr_parse(&opt.addr, text) < 0) {
        fprintf(stderr, "ringo-httpd: bad address %s\n", text);
        return 2;
    }
    /* The signals go to the signalfd: blocked here, before any thread
     * exists, so every worker inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        perror("ringo-httpd: signalfd");
        return 1;
    }
    cfg.handle_signals = 0;
    if (!opt.quiet)
        cfg.verbose = 1;
    int r = ringo_main(&cfg, main_coro, &sfd);
    if (r < 0) {
        fprintf(stderr, "ringo-httpd: %s\n", ringo_strerror(r));
        return 1;
    }
    return 0;
}
