/* common.c - the common options, address resolution and runtime start-up
 * shared by the modes of ringo-bench; see bench.h. */
#include "bench.h"

#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *bench_prog = "ringo-bench";

const char bench_common_usage[] =
    "      --workers N        worker threads (default: ringo's, i.e. RINGO_WORKERS or the CPUs)\n"
    "      --backend NAME     auto, uring or epoll (default: RINGO_BACKEND or auto)\n"
    "      --json             print the result as one JSON object line on stdout\n"
    "  -q, --quiet            no progress line on stderr\n"
    "  -v, --verbose          also print the client's own ringo counters on stderr\n"
    "  -h, --help             this text\n";

int bench_common_option(const char *prog, bench_common *common, int id, const char *arg)
{
    static const char *const backends[] = {"auto", "uring", "epoll", NULL};
    int i;
    switch (id) {
    case BENCH_OPT_WORKERS:
        if (flag_int(prog, "--workers", arg, 1, 1024, &common->workers) < 0)
            return -1;
        return 1;
    case BENCH_OPT_BACKEND:
        if (flag_choice(prog, "--backend", arg, backends, &i) < 0)
            return -1;
        common->backend = backends[i];
        return 1;
    case BENCH_OPT_JSON:
        common->json = 1;
        return 1;
    case 'q':
    case BENCH_OPT_QUIET:
        common->quiet = 1;
        return 1;
    case 'v':
    case BENCH_OPT_VERBOSE:
        common->verbose = 1;
        return 1;
    }
    return 0;
}

int bench_resolve(const char *text, ringo_addr *addr)
{
    if (ringo_addr_parse(addr, text) == 0)
        return 0;
    /* Not numeric: split at the last colon and ask the resolver. */
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1]) {
        fprintf(stderr, "%s: bad address '%s': expected HOST:PORT\n", bench_prog, text);
        return -1;
    }
    char host[256];
    size_t host_len = (size_t)(colon - text);
    if (host_len >= sizeof host) {
        fprintf(stderr, "%s: bad address '%s': host name too long\n", bench_prog, text);
        return -1;
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "%s: cannot resolve '%s': %s\n", bench_prog, text,
                rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
    addr->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static atomic_int stop_signals;

/* ringo has already called ringo_stop() for this signal; a second one
 * means the user does not want to wait for the teardown. */
static void on_signal(int signo)
{
    if (signo != SIGINT && signo != SIGTERM)
        return;
    if (atomic_fetch_add(&stop_signals, 1) >= 1) {
        static const char msg[] = "\nringo-bench: second signal, exiting now\n";
        ssize_t unused = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)unused;
        _exit(130);
    }
}

int bench_run(const bench_common *common, void (*fn)(void *arg), void *arg)
{
    ringo_config cfg;
    ringo_config_init(&cfg);
    if (common->workers > 0)
        cfg.workers = common->workers;
    if (common->backend)
        cfg.backend = common->backend;
    cfg.handle_signals = 1;
    cfg.ignore_sigpipe = 1;
    cfg.on_signal = on_signal;
    int rc = ringo_main(&cfg, fn, arg);
    if (rc < 0)
        fprintf(stderr, "%s: cannot start the ringo runtime: %s\n", bench_prog, ringo_strerror(rc));
    return rc;
}
