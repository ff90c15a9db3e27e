/* ringo-httpd: an HTTP/1.1 server on ringo's HTTP library.
 *
 *   ringo-httpd [--port N] [--host ADDR] [--workers N] [--backend B]
 *               [--root DIR] [--metrics] [--metrics-listen ADDR:PORT]
 *               [--quiet] [--max-conns N] [--max-conns-per-ip N]
 *               [--stats-file PATH] [--tls-cert FILE --tls-key FILE]
 *               [--tls-min-version V] [--help] [--version]
 *
 * Routes: GET /plaintext answers "Hello, World!" as text/plain (the
 * TechEmpower plaintext test); --root serves the files below DIR at "/"
 * (without --root, "/" is a short page naming the routes). /metrics
 * (Prometheus text) is served on the main port with --metrics, and with
 * --metrics-listen by a second server on that address alone, so the
 * counters can stay on a private interface. With --tls-cert and
 * --tls-key the main port serves HTTPS (TLS 1.2/1.3, ALPN http/1.1);
 * SIGHUP reloads the certificate and key for new connections. SIGINT/SIGTERM shut down
 * gracefully: stop accepting, finish the requests in flight, close idle
 * connections.
 *
 * Exit status: 0 after a clean shutdown, 1 if it could not start (bad
 * --root, cannot listen, ...), 2 for a bad command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringo.h>

#include "../common/flags.h"
#include "../common/rlimit.h"

#define PROG "ringo-httpd"

static struct {
    const char *host;
    int port;
    const char *root;
    int metrics;                /* --metrics: /metrics on the main port */
    const char *metrics_listen; /* --metrics-listen ADDR:PORT, or NULL */
    ringo_addr metrics_addr;
    int quiet;
    const char *stats_file;
    const char *tls_cert, *tls_key;
    int tls_min; /* RINGO_TLS_1_2 or RINGO_TLS_1_3 */
    ringo_tls_ctx *tls;
    ringo_addr addr;
    ringo_http_config http;
    int status; /* exit status, set by the main coroutine (ringo_main's
                   result says only whether the runtime started) */
} opt = {.host = "*", .port = 8080, .tls_min = RINGO_TLS_1_2};

static void usage(FILE *f)
{
    ringo_http_config d;
    ringo_http_config_init(&d);
    fprintf(f,
            "usage: " PROG " [flags]\n"
            "\n"
            "HTTP/1.1 server: GET /plaintext answers \"Hello, World!\"; --root DIR serves\n"
            "the files below DIR at /; /metrics answers the counters in Prometheus text.\n"
            "\n"
            "  -p, --port N             TCP port, 0-65535; 0 picks a free one (default 8080)\n"
            "  -H, --host ADDR          numeric IPv4 or IPv6 address to listen on; * = every\n"
            "                           IPv6 and IPv4 address (default *)\n"
            "  -w, --workers N          worker threads, 0-1024; 0 = one per CPU (default 0,\n"
            "                           or RINGO_WORKERS)\n"
            "  -b, --backend B          auto, uring or epoll (default auto, or RINGO_BACKEND)\n"
            "  -r, --root DIR           serve the files below DIR at / (default: none; / is\n"
            "                           a page naming the routes)\n"
            "  -m, --metrics            serve /metrics on the main port (default off)\n"
            "      --metrics-listen ADDR:PORT\n"
            "                           serve /metrics from a second server on this address\n"
            "                           only, e.g. 127.0.0.1:9090 (default: none). The main\n"
            "                           port then has no /metrics unless --metrics is given\n"
            "                           too. The counters are the main server's.\n"
            "  -C, --max-conns N        open connections in all, 0 = no cap (default %u)\n"
            "  -I, --max-conns-per-ip N open connections per client address, 0 = no cap\n"
            "                           (default %u)\n"
            "      --max-requests-per-conn N\n"
            "                           requests per keep-alive connection, then\n"
            "                           \"Connection: close\"; 0 = no cap (default %u)\n"
            "  -s, --stats-file PATH    write the runtime counters to PATH on SIGUSR1 and at\n"
            "                           exit (default: none)\n"
            "      --tls-cert FILE      serve HTTPS on --port with this PEM certificate chain\n"
            "                           (with --tls-key; default: plain HTTP). SIGHUP reads\n"
            "                           both files again for new connections\n"
            "      --tls-key FILE       the PEM private key of --tls-cert\n"
            "      --tls-min-version V  1.2 or 1.3: the oldest TLS version accepted\n"
            "                           (default 1.2; 1.3 is preferred when both can)\n"
            "  -q, --quiet              no start-up and shutdown lines on stderr (default off)\n"
            "  -h, --help               this text\n"
            "      --version            print the version\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 if it could not start (bad --root,\n"
            "cannot listen, ...), 2 for a bad command line.\n",
            d.max_conns, d.max_conns_per_ip, d.max_requests_per_conn);
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

/* SIGHUP: the certificate and key again, for new connections; a bad
 * pair leaves the old one serving. */
static void reload_tls(void)
{
    if (!opt.tls)
        return;
    char err[512];
    int r = ringo_tls_ctx_reload(opt.tls, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, PROG ": SIGHUP: certificate not reloaded: %s\n", err);
    else if (!opt.quiet)
        fprintf(stderr, PROG ": SIGHUP: certificate reloaded from %s\n", opt.tls_cert);
}

/* --tls-cert/--tls-key: the server context, or -1 after saying why. */
static int make_tls(void)
{
    if (!opt.tls_cert)
        return 0;
    ringo_tls_config tc;
    ringo_tls_config_init(&tc);
    tc.cert_file = opt.tls_cert;
    tc.key_file = opt.tls_key;
    tc.min_version = opt.tls_min;
    char err[512];
    int r = ringo_tls_server_new(&tc, &opt.tls, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, PROG ": TLS: %s\n", err);
        return -1;
    }
    return 0;
}

/* The runtime's signal thread takes SIGINT/SIGTERM (the servers drain:
 * drain_on_stop; a second one stops at once) and calls this after each,
 * and for SIGUSR1. */
static void on_signal(int signo)
{
    if (signo == SIGUSR1) {
        write_stats();
        return;
    }
    if (signo == SIGHUP) {
        reload_tls();
        return;
    }
    if (!opt.quiet)
        fprintf(stderr, PROG ": signal %d: %s\n", signo,
                ringo_stopping() ? "stopping now" : "shutting down (again to stop now)");
}

/* A URL host for a listen address as given: "*" and "" (every address)
 * are reached at 127.0.0.1. */
static const char *url_host(const char *host, int len, char *buf, size_t size)
{
    if (len == 0 || (len == 1 && host[0] == '*'))
        return "127.0.0.1";
    snprintf(buf, size, "%.*s", len, host);
    return buf;
}

/* --metrics-listen: a second server with the same limits, answering
 * /metrics alone, with the counters of the main server main_s. Returns 0
 * (and *out, started) or -1 after saying why. */
static int start_metrics_server(ringo_http_server *main_s, ringo_http_server **out)
{
    ringo_http_server *m;
    int r = ringo_http_server_new(&opt.http, &m);
    if (r == 0)
        r = ringo_http_route(m, "GET", "/metrics", 0, ringo_http_metrics_handler, main_s);
    int port = 0;
    if (r == 0)
        r = ringo_http_start(m, &opt.metrics_addr, &port);
    if (r < 0) {
        char a[128];
        ringo_addr_format(&opt.metrics_addr, a, sizeof(a));
        fprintf(stderr, PROG ": --metrics-listen: listen on %s: %s\n", a, ringo_strerror(r));
        if (m)
            ringo_http_server_free(m);
        return -1;
    }
    if (!opt.quiet) {
        const char *colon = strrchr(opt.metrics_listen, ':');
        char buf[128];
        fprintf(stderr, PROG ": metrics on http://%s:%d/metrics\n",
                url_host(opt.metrics_listen, (int)(colon - opt.metrics_listen), buf, sizeof(buf)),
                port);
    }
    *out = m;
    return 0;
}

static void main_coro(void *arg)
{
    (void)arg;
    ringo_http_server *s, *ms = NULL;
    ringo_http_static *st = NULL;
    opt.status = TOOL_EXIT_FAIL; /* until it serves */
    int r = ringo_http_server_new(&opt.http, &s);
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", ringo_strerror(r));
        return;
    }
    ringo_http_route(s, "GET", "/plaintext", 0, plaintext, NULL);
    if (opt.metrics)
        ringo_http_route(s, "GET", "/metrics", 0, ringo_http_metrics_handler, s);
    if (opt.root) {
        r = ringo_http_static_new(opt.root, "/", &st);
        if (r < 0) {
            fprintf(stderr, PROG ": --root %s: %s\n", opt.root, ringo_strerror(r));
            ringo_http_server_free(s);
            return;
        }
        ringo_http_route(s, NULL, "/", RINGO_HTTP_PREFIX, ringo_http_static_handler, st);
    } else {
        ringo_http_route(s, "GET", "/", 0, index_handler, NULL);
    }
    int port = 0;
    r = opt.tls ? ringo_http_start_tls(s, &opt.addr, opt.tls, &port)
                : ringo_http_start(s, &opt.addr, &port);
    if (r < 0) {
        char a[128];
        ringo_addr_format(&opt.addr, a, sizeof(a));
        fprintf(stderr, PROG ": listen on %s: %s\n", a, ringo_strerror(r));
        ringo_http_static_free(st);
        ringo_http_server_free(s);
        return;
    }
    if (opt.metrics_listen && start_metrics_server(s, &ms) < 0) {
        ringo_http_shutdown(s, RINGO_FOREVER);
        ringo_http_static_free(st);
        ringo_http_server_free(s);
        return;
    }
    opt.status = TOOL_EXIT_OK;
    if (!opt.quiet) {
        char buf[128];
        fprintf(stderr, PROG ": listening on %s://%s:%d/ (%d worker(s), backend %s)\n",
                opt.tls ? "https" : "http",
                url_host(opt.host, (int)strlen(opt.host), buf, sizeof(buf)), port, ringo_workers(),
                ringo_backend_name());
    }
    r = ringo_http_wait(s);
    if (r < 0 && !opt.quiet)
        fprintf(stderr, PROG ": stopped before the drain finished: %s\n", ringo_strerror(r));
    if (ms) {
        /* the main server is done: let a scrape in flight finish, then stop */
        ringo_http_shutdown(ms, RINGO_FOREVER);
        ringo_http_server_free(ms);
    }
    write_stats();
    ringo_http_static_free(st);
    ringo_http_server_free(s);
}

static int is_wildcard(const ringo_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

/* Whether b would bind where a does: same fixed port, and the same
 * address or a wildcard on either side. */
static int same_listener(const ringo_addr *a, const ringo_addr *b)
{
    int port = ringo_addr_port(a);
    if (port <= 0 || port != ringo_addr_port(b))
        return 0;
    if (is_wildcard(a) || is_wildcard(b))
        return 1;
    char ta[128], tb[128];
    ringo_addr_format(a, ta, sizeof(ta));
    ringo_addr_format(b, tb, sizeof(tb));
    return strcmp(ta, tb) == 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, ringo_config *cfg)
{
    enum {
        OPT_METRICS_LISTEN = 0x100,
        OPT_VERSION,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_TLS_MIN,
        OPT_MAX_REQS
    };
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"workers", required_argument, 0, 'w'},
        {"backend", required_argument, 0, 'b'},
        {"root", required_argument, 0, 'r'},
        {"metrics", no_argument, 0, 'm'},
        {"metrics-listen", required_argument, 0, OPT_METRICS_LISTEN},
        {"quiet", no_argument, 0, 'q'},
        {"max-conns", required_argument, 0, 'C'},
        {"max-conns-per-ip", required_argument, 0, 'I'},
        {"stats-file", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {"max-requests-per-conn", required_argument, 0, OPT_MAX_REQS},
        {"tls-cert", required_argument, 0, OPT_TLS_CERT},
        {"tls-key", required_argument, 0, OPT_TLS_KEY},
        {"tls-min-version", required_argument, 0, OPT_TLS_MIN},
        {0, 0, 0, 0},
    };
    static const char *const backends[] = {"auto", "uring", "epoll", NULL};
    static const char *const versions[] = {"1.2", "1.3", NULL};
    int c, i;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:H:w:b:r:mqC:I:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (flag_int(PROG, "--port", optarg, 0, 65535, &opt.port) < 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'H':
            opt.host = optarg;
            break;
        case 'w':
            if (flag_int(PROG, "--workers", optarg, 0, 1024, &cfg->workers) < 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'b':
            if (flag_choice(PROG, "--backend", optarg, backends, &i) < 0)
                return TOOL_EXIT_USAGE;
            cfg->backend = backends[i];
            break;
        case 'r':
            opt.root = optarg;
            break;
        case 'm':
            opt.metrics = 1;
            break;
        case OPT_METRICS_LISTEN:
            if (flag_hostport(PROG, "--metrics-listen", optarg, &opt.metrics_addr) < 0)
                return TOOL_EXIT_USAGE;
            opt.metrics_listen = optarg;
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'C':
            if (flag_int(PROG, "--max-conns", optarg, 0, INT_MAX, &i) < 0)
                return TOOL_EXIT_USAGE;
            opt.http.max_conns = (unsigned)i;
            break;
        case 'I':
            if (flag_int(PROG, "--max-conns-per-ip", optarg, 0, INT_MAX, &i) < 0)
                return TOOL_EXIT_USAGE;
            opt.http.max_conns_per_ip = (unsigned)i;
            break;
        case 's':
            opt.stats_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        case OPT_VERSION:
            printf(PROG " %s\n", RINGO_VERSION_STRING);
            return TOOL_EXIT_OK;
        case OPT_MAX_REQS:
            if (flag_int(PROG, "--max-requests-per-conn", optarg, 0, INT_MAX, &i) < 0)
                return TOOL_EXIT_USAGE;
            opt.http.max_requests_per_conn = (unsigned)i;
            break;
        case OPT_TLS_CERT:
            opt.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            opt.tls_key = optarg;
            break;
        case OPT_TLS_MIN:
            if (flag_choice(PROG, "--tls-min-version", optarg, versions, &i) < 0)
                return TOOL_EXIT_USAGE;
            opt.tls_min = i == 0 ? RINGO_TLS_1_2 : RINGO_TLS_1_3;
            break;
        default:
            return flag_getopt_error(PROG, c, argv, longopts);
        }
    }
    int r = flag_no_operands(PROG, argc, argv);
    if (r >= 0)
        return r;
    if (flag_host_and_port(PROG, "--host", opt.host, opt.port, &opt.addr) < 0)
        return TOOL_EXIT_USAGE;
    if (!opt.tls_cert != !opt.tls_key) {
        fprintf(stderr, PROG ": %s needs %s too\n", opt.tls_cert ? "--tls-cert" : "--tls-key",
                opt.tls_cert ? "--tls-key" : "--tls-cert");
        return TOOL_EXIT_USAGE;
    }
    if (opt.metrics_listen && same_listener(&opt.addr, &opt.metrics_addr)) {
        fprintf(stderr, PROG ": --metrics-listen %s: the main server listens there already\n",
                opt.metrics_listen);
        return TOOL_EXIT_USAGE;
    }
    return -1;
}

/* --root must name a directory: said before anything starts. */
static int check_root(void)
{
    struct stat sb;
    if (!opt.root)
        return 0;
    if (stat(opt.root, &sb) < 0) {
        fprintf(stderr, PROG ": --root %s: %s\n", opt.root, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, PROG ": --root %s: not a directory\n", opt.root);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    tool_raise_fd_limit();
    ringo_config cfg;
    ringo_config_init(&cfg);
    ringo_http_config_init(&opt.http);
    int status = parse_args(argc, argv, &cfg);
    if (status >= 0)
        return status;
    if (check_root() < 0 || make_tls() < 0)
        return TOOL_EXIT_FAIL;
    cfg.on_signal = on_signal;
    if (!opt.quiet)
        cfg.verbose = 1;
    int r = ringo_main(&cfg, main_coro, NULL);
    ringo_tls_ctx_free(opt.tls);
    if (r < 0) {
        fprintf(stderr, PROG ": cannot start the ringo runtime: %s\n", ringo_strerror(r));
        return TOOL_EXIT_FAIL;
    }
    /* 130/143: a second SIGINT/SIGTERM cut the drain short */
    return r > 0 ? r : opt.status;
}
