/* common.c - option parsing, address resolution and runtime start-up shared
 * by the modes of ringo-bench; see bench.h. */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *bench_prog = "ringo-bench";

const char bench_common_usage[] =
    "      --workers N        worker threads (default: ringo's, i.e. RINGO_WORKERS or the CPUs)\n"
    "      --backend NAME     auto, uring or epoll (default: RINGO_BACKEND or auto)\n"
    "      --json             print the result as one JSON object line on stdout\n"
    "  -q, --quiet            no progress line on stderr\n"
    "  -v, --verbose          also print the client's own ringo counters on stderr\n"
    "  -h, --help             this text\n";

static int bad_value(const char *what, const char *text, const char *why)
{
    fprintf(stderr, "%s: bad %s '%s': %s\n", bench_prog, what, text, why);
    return -1;
}

int bench_common_option(bench_common *common, int id, const char *arg)
{
    uint64_t n;
    switch (id) {
    case BENCH_OPT_WORKERS:
        if (bench_parse_count("--workers", arg, 1, 4096, &n) < 0)
            return -1;
        common->workers = (int)n;
        return 1;
    case BENCH_OPT_BACKEND:
        if (strcmp(arg, "auto") && strcmp(arg, "uring") && strcmp(arg, "epoll"))
            return bad_value("--backend", arg, "expected auto, uring or epoll");
        common->backend = arg;
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

/* A multiplier suffix and its value; tables end with a NULL suffix. */
typedef struct unit_suffix {
    const char *suffix;
    double scale;
} unit_suffix;

static const unit_suffix byte_units[] = {
    {"", 1},        {"b", 1},        {"k", 1024},      {"kb", 1024},
    {"kib", 1024},  {"m", 1 << 20},  {"mb", 1 << 20},  {"mib", 1 << 20},
    {"g", 1 << 30}, {"gb", 1 << 30}, {"gib", 1 << 30}, {NULL, 0},
};
static const unit_suffix count_units[] = {
    {"", 1}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {NULL, 0},
};
static const unit_suffix second_units[] = {
    {"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"m", 60}, {"min", 60}, {"h", 3600}, {NULL, 0},
};

/* A number with an optional multiplier suffix, as a double so "2.5k" and
 * "1e6" work; the callers check range and integrality. */
static int parse_scaled(const char *text, const unit_suffix *units, double *out)
{
    if (!text || !*text || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
        return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v))
        return -1;
    for (const unit_suffix *u = units; u->suffix; u++) {
        if (strcasecmp(end, u->suffix) == 0) {
            *out = v * u->scale;
            return 0;
        }
    }
    return -1;
}

static int parse_integer(const char *what, const char *text, uint64_t min, uint64_t max,
                         const unit_suffix *units, uint64_t *out)
{
    double v;
    if (parse_scaled(text, units, &v) < 0)
        return bad_value(what, text, "not a number");
    if (v != floor(v))
        return bad_value(what, text, "not a whole number");
    if (v < (double)min || v > (double)max) {
        fprintf(stderr, "%s: bad %s '%s': must be in [%llu, %llu]\n", bench_prog, what, text,
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int bench_parse_bytes(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return parse_integer(what, text, min, max, byte_units, out);
}

int bench_parse_count(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    return parse_integer(what, text, min, max, count_units, out);
}

int bench_parse_seconds(const char *what, const char *text, double min, double max, double *out)
{
    double v;
    if (parse_scaled(text, second_units, &v) < 0)
        return bad_value(what, text, "expected seconds like 5, 2.5s, 500ms or 1m");
    if (v < min || v > max) {
        fprintf(stderr, "%s: bad %s '%s': must be in [%g, %g] seconds\n", bench_prog, what, text,
                min, max);
        return -1;
    }
    *out = v;
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
