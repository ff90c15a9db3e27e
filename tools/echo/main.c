/* ringo-echo: a TCP echo server, one coroutine per connection, one
 * SO_REUSEPORT listener per worker.
 *
 *   ringo-echo [--port N] [--host ADDR] [--workers N] [--backend B]
 *              [--stats-file PATH] [--quiet] [--copy] [--buffer BYTES]
 *              [--help] [--version]
 *
 * By default it echoes with ringo_recv_borrow/ringo_buf_release: the
 * bytes go back out of the buffer the kernel received them into, no copy
 * (as the hand-written liburing baseline does). --copy echoes with
 * ringo_read into a buffer of the connection's own and ringo_write_all;
 * --buffer sets that buffer's size (default 16 KiB, on the coroutine's
 * stack; larger ones are malloc'd per connection).
 *
 * SIGUSR1 prints the runtime counters to stderr (and rewrites
 * --stats-file); SIGINT/SIGTERM stop it, printing the counters.
 *
 * Exit status: 0 after SIGINT/SIGTERM, 1 if it could not start (cannot
 * listen, ...), 2 for a bad command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ringo.h>

#include "../common/flags.h"
#include "../common/rlimit.h"

#define PROG "ringo-echo"

static struct {
    const char *host;
    int port;
    const char *stats_file;
    int quiet;
    int copy;
    size_t buffer;
    ringo_addr addr;
    int status; /* exit status, set by the main coroutine (ringo_main's
                   result says only whether the runtime started) */
} opt = {.host = "*", .port = 7000, .buffer = 16 * 1024};

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [flags]\n"
               "\n"
               "TCP echo server: one coroutine per connection, one SO_REUSEPORT listener per\n"
               "worker; echoes from the buffer the kernel received into (no copy).\n"
               "\n"
               "  -p, --port N          TCP port, 0-65535 (default 7000)\n"
               "  -H, --host ADDR       numeric IPv4 or IPv6 address to listen on; * = every\n"
               "                        IPv6 and IPv4 address (default *)\n"
               "  -w, --workers N       worker threads, 0-1024; 0 = one per CPU (default 0, or\n"
               "                        RINGO_WORKERS)\n"
               "  -b, --backend B       auto, uring or epoll (default auto, or RINGO_BACKEND)\n"
               "  -s, --stats-file PATH rewrite the runtime counters to PATH on SIGUSR1 and at\n"
               "                        exit (default: none)\n"
               "  -q, --quiet           no start-up line and no counters on stderr (default off)\n"
               "  -C, --copy            echo through ringo_read into a buffer of the\n"
               "                        connection's own and ringo_write_all (default off)\n"
               "  -L, --buffer BYTES    that buffer's size, 1 to 64m; suffixes k, m (default\n"
               "                        16k, on the coroutine's stack; larger ones malloc'd)\n"
               "  -h, --help            this text\n"
               "      --version         print the version\n"
               "\n"
               "Exit status: 0 after SIGINT/SIGTERM, 1 if it could not start (cannot listen,\n"
               "...), 2 for a bad command line.\n");
}

/* Counters as "name value" lines; written to a temporary file and renamed
 * so a reader never sees half a file. */
static void dump_stats(void)
{
    ringo_counters st;
    if (ringo_stats(&st) < 0)
        return;
    if (!opt.quiet)
        ringo_stats_print(&st, 2);
    if (opt.stats_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", opt.stats_file);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ringo_stats_print(&st, fd);
            close(fd);
            rename(tmp, opt.stats_file);
        }
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        dump_stats();
}

static void serve_conn_borrow(int fd)
{
    ringo_buf b;
    while (ringo_recv_borrow(fd, &b, RINGO_FOREVER) > 0) {
        ssize_t w = ringo_write_all(fd, b.data, b.len, NULL, RINGO_FOREVER);
        ringo_buf_release(&b);
        if (w < 0)
            break;
    }
    ringo_close(fd);
}

static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (!opt.copy) {
        serve_conn_borrow(fd);
        return;
    }
    char stackbuf[16 * 1024];
    char *buf = stackbuf;
    if (opt.buffer > sizeof(stackbuf) && !(buf = malloc(opt.buffer))) {
        ringo_close(fd);
        return;
    }
    for (;;) {
        ssize_t n = ringo_read(fd, buf, opt.buffer, RINGO_FOREVER);
        if (n <= 0)
            break;
        if (ringo_write_all(fd, buf, (size_t)n, NULL, RINGO_FOREVER) < 0)
            break;
    }
    if (buf != stackbuf)
        free(buf);
    ringo_close(fd);
}

static void accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int64_t last_emfile_log = 0;
    uint64_t emfile = 0;
    for (;;) {
        int fd = ringo_accept(lfd, NULL, RINGO_FOREVER);
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            /* Out of descriptors: report (at most once a second), back off
             * so the loop does not spin, and keep serving the others. */
            emfile++;
            if (ringo_now() - last_emfile_log > 1000000000) {
                fprintf(stderr, "ringo-echo: accept: %s (%llu times); retrying\n",
                        ringo_strerror(fd), (unsigned long long)emfile);
                last_emfile_log = ringo_now();
            }
            ringo_sleep(10 * 1000 * 1000);
            continue;
        }
        if (fd == -ECANCELED || fd == RINGO_ESTOPPED)
            break;
        if (fd < 0) {
            if (fd == -ECONNABORTED || fd == -EINTR)
                continue;
            fprintf(stderr, "ringo-echo: accept: %s\n", ringo_strerror(fd));
            ringo_sleep(10 * 1000 * 1000);
            continue;
        }
        if (ringo_go(serve_conn, (void *)(intptr_t)fd, NULL) < 0)
            ringo_close(fd);
    }
    ringo_close(lfd);
}

static void main_coro(void *arg)
{
    (void)arg;
    int n = ringo_workers();
    ringo_coro **h = calloc((size_t)n, sizeof(*h));
    opt.status = TOOL_EXIT_FAIL; /* until every listener is up */
    if (!h) {
        fprintf(stderr, PROG ": out of memory\n");
        return;
    }
    /* All listeners are bound before "listening" is printed, so a client
     * that waits for that line can connect at once. */
    /* The first listener checks that no other process has the port; the
     * others join its SO_REUSEPORT group, so with --port 0 every worker
     * listens on the one port the kernel picked. */
    int first = -1;
    for (int i = 0; i < n; i++) {
        int lfd = i == 0 ? ringo_tcp_listen(&opt.addr, 4096, RINGO_LISTEN_REUSEPORT)
                         : ringo_tcp_listen_join(first, 4096);
        if (i == 0)
            first = lfd;
        if (lfd < 0) {
            char a[128];
            ringo_addr_format(&opt.addr, a, sizeof(a));
            fprintf(stderr, PROG ": listen on %s: %s\n", a, ringo_strerror(lfd));
            ringo_stop();
            break;
        }
        int r = ringo_go_on(i, accept_loop, (void *)(intptr_t)lfd, &h[i]);
        if (r < 0) {
            fprintf(stderr, PROG ": spawn: %s\n", ringo_strerror(r));
            ringo_close(lfd);
            ringo_stop();
            break;
        }
    }
    if (!ringo_stopping()) {
        opt.status = TOOL_EXIT_OK;
        if (!opt.quiet) {
            char a[128];
            ringo_addr bound = opt.addr;
            socklen_t blen = sizeof(bound.ss);
            if (getsockname(first, (struct sockaddr *)&bound.ss, &blen) == 0)
                bound.len = blen;
            ringo_addr_format(&bound, a, sizeof(a));
            fprintf(stderr, PROG ": listening on %s, %d worker(s), backend %s\n", a, n,
                    ringo_backend_name());
        }
    }
    for (int i = 0; i < n; i++)
        if (h[i])
            ringo_join(h[i], RINGO_FOREVER);
    free(h);
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, ringo_config *cfg)
{
    enum { OPT_VERSION = 0x100 };
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"workers", required_argument, 0, 'w'},
        {"backend", required_argument, 0, 'b'},
        {"stats-file", required_argument, 0, 's'},
        {"quiet", no_argument, 0, 'q'},
        {"copy", no_argument, 0, 'C'},
        {"buffer", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    static const char *const backends[] = {"auto", "uring", "epoll", NULL};
    int c, i;
    uint64_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:H:w:b:s:qCL:h", longopts, NULL)) != -1) {
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
        case 's':
            opt.stats_file = optarg;
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'C':
            opt.copy = 1;
            break;
        case 'L':
            if (flag_bytes(PROG, "--buffer", optarg, 1, 64u << 20, &v) < 0)
                return TOOL_EXIT_USAGE;
            opt.buffer = (size_t)v;
            break;
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        case OPT_VERSION:
            printf(PROG " %s\n", RINGO_VERSION_STRING);
            return TOOL_EXIT_OK;
        default:
            return flag_getopt_error(PROG, c, argv, longopts);
        }
    }
    int r = flag_no_operands(PROG, argc, argv);
    if (r >= 0)
        return r;
    if (flag_host_and_port(PROG, "--host", opt.host, opt.port, &opt.addr) < 0)
        return TOOL_EXIT_USAGE;
    return -1;
}

int main(int argc, char **argv)
{
    tool_raise_fd_limit();
    ringo_config cfg;
    ringo_config_init(&cfg);
    int status = parse_args(argc, argv, &cfg);
    if (status >= 0)
        return status;
    cfg.on_signal = on_signal;
    if (!opt.quiet)
        cfg.verbose = 1;
    int r = ringo_main(&cfg, main_coro, NULL);
    if (r < 0) {
        fprintf(stderr, PROG ": cannot start the ringo runtime: %s\n", ringo_strerror(r));
        return TOOL_EXIT_FAIL;
    }
    if (opt.status == TOOL_EXIT_OK)
        dump_stats();
    return opt.status;
}
