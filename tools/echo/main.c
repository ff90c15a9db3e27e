/* ringo-echo: a TCP echo server, one coroutine per connection, one
 * SO_REUSEPORT listener per worker.
 *
 *   ringo-echo [--port N] [--host ADDR] [--workers N] [--backend B]
 *              [--stats-file PATH] [--quiet] [--copy] [--buffer BYTES]
 *
 * By default it echoes with ringo_recv_borrow/ringo_buf_release: the
 * bytes go back out of the buffer the kernel received them into, no copy
 * (as the hand-written liburing baseline does). --copy echoes with
 * ringo_read into a buffer of the connection's own and ringo_write_all;
 * --buffer sets that buffer's size (default 16 KiB, on the coroutine's
 * stack; larger ones are malloc'd per connection).
 *
 * SIGUSR1 prints the runtime counters to stderr (and rewrites
 * --stats-file); SIGINT/SIGTERM stop it, printing the counters. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ringo.h>

static struct {
    const char *host;
    int port;
    const char *stats_file;
    int quiet;
    int copy;
    size_t buffer;
    ringo_addr addr;
} opt = {.host = "*", .port = 7000, .buffer = 16 * 1024};

static void usage(FILE *f)
{
    fprintf(f, "usage: ringo-echo [--port N] [--host ADDR] [--workers N] "
               "[--backend auto|uring|epoll] [--stats-file PATH] [--quiet] [--copy]\n"
               "                  [--buffer BYTES]\n");
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
    /* All listeners are bound before "listening" is printed, so a client
     * that waits for that line can connect at once. */
    for (int i = 0; i < n; i++) {
        int lfd = ringo_tcp_listen(&opt.addr, 4096, RINGO_LISTEN_REUSEPORT);
        if (lfd < 0) {
            fprintf(stderr, "ringo-echo: listen on %s:%d: %s\n", opt.host, opt.port,
                    ringo_strerror(lfd));
            ringo_stop();
            break;
        }
        int r = ringo_go_on(i, accept_loop, (void *)(intptr_t)lfd, &h[i]);
        if (r < 0) {
            fprintf(stderr, "ringo-echo: spawn: %s\n", ringo_strerror(r));
            ringo_close(lfd);
            ringo_stop();
            break;
        }
    }
    if (!opt.quiet && !ringo_stopping()) {
        char a[128];
        ringo_addr_format(&opt.addr, a, sizeof(a));
        fprintf(stderr, "ringo-echo: listening on %s, %d worker(s), backend %s\n", a, n,
                ringo_backend_name());
    }
    for (int i = 0; i < n; i++)
        if (h[i])
            ringo_join(h[i], RINGO_FOREVER);
    free(h);
}

int main(int argc, char **argv)
{
    /* A server holds one fd per connection: take the hard limit, as Go's
     * runtime does at start-up. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ringo_config cfg;
    ringo_config_init(&cfg);
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
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:H:w:b:s:qCL:h", longopts, NULL)) != -1) {
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
            opt.buffer = (size_t)atol(optarg);
            if (opt.buffer < 1 || opt.buffer > (64u << 20)) {
                fprintf(stderr, "ringo-echo: --buffer must be 1..64 MiB\n");
                return 2;
            }
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
        fprintf(stderr, "ringo-echo: bad address %s\n", text);
        return 2;
    }
    cfg.on_signal = on_signal;
    if (!opt.quiet)
        cfg.verbose = 1;
    int r = ringo_main(&cfg, main_coro, NULL);
    if (r < 0) {
        fprintf(stderr, "ringo-echo: %s\n", ringo_strerror(r));
        return 1;
    }
    dump_stats();
    return 0;
}
