/* HTTP/1.1 request parser micro-benchmark (src/http/parse.h).
 *
 *   httpparse_<request>_<impl>: ns to parse one complete head in one call
 *     (scanned = 0), for each implementation the CPU supports and for
 *     rhp_parse itself (impl "auto": the run-time dispatch included).
 *   Requests: "plaintext" is the TechEmpower plaintext request (about 170
 *     bytes, long Accept); "browser" a typical 300-byte browser GET.
 *   httpparse_trickle8k_<impl>: ns per call feeding an 8 KiB head one byte
 *     per call (the incremental path).
 *
 * Usage: httpparse [iterations]   (default 2000000). Pin it, e.g.
 * taskset -c 1 build/bench/httpparse. Each line is "name ns_per_op value",
 * the median of 5 runs after a warm-up; lines starting with '#' are comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/parse.h"

enum { RUNS = 5, MAXH = 64 };

static const char plaintext[] =
    "GET /plaintext HTTP/1.1\r\n"
    "Host: server\r\n"
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/"
    "*;q=0.7\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static const char browser[] =
    "GET /images/logo.png?v=3 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: image/avif,image/webp,*/*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static const struct rhp_limits lim = {
    .max_head = 16384, .max_headers = MAXH, .max_target = 8192, .max_body = 1 << 20};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* impl < 0: rhp_parse */
static double run_once(int impl, const char *req, size_t len, long iters)
{
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    const char *volatile vp = req;
    long sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        const char *p = vp; /* keep the call from being hoisted */
        int r = impl < 0 ? rhp_parse(p, len, 0, &lim, &q, hdrs)
                         : rhp_parse_with((enum rhp_impl)impl, p, len, 0, &lim, &q, hdrs);
        sum += r + (long)q.nheaders;
    }
    double dt = now_ns() - t0;
    if (sum != iters * (long)(len + q.nheaders)) {
        fprintf(stderr, "httpparse: unexpected result\n");
        exit(1);
    }
    return dt / (double)iters;
}

static double median(int impl, const char *req, size_t len, long iters)
{
    double v[RUNS];
    run_once(impl, req, len, iters / 10 + 1);
    for (int i = 0; i < RUNS; i++)
        v[i] = run_once(impl, req, len, iters);
    qsort(v, RUNS, sizeof(v[0]), cmp_d);
    return v[RUNS / 2];
}

static double trickle(int impl, const char *req, size_t len)
{
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    double v[RUNS];
    for (int k = 0; k < RUNS; k++) {
        double t0 = now_ns();
        int r = 0;
        for (size_t n = 1; n <= len && r == 0; n++)
            r = rhp_parse_with((enum rhp_impl)impl, req, n, n - 1, &lim, &q, hdrs);
        v[k] = (now_ns() - t0) / (double)len;
        if (r != (int)len) {
            fprintf(stderr, "httpparse: trickle gave %d\n", r);
            exit(1);
        }
    }
    qsort(v, RUNS, sizeof(v[0]), cmp_d);
    return v[RUNS / 2];
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"scalar", "sse42", "avx2"};
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    static char big[8192];
    size_t bn = (size_t)sprintf(big, "GET /trickle HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; bn < sizeof(big) - 200; i++)
        bn += (size_t)sprintf(big + bn, "X-%d: %0120d\r\n", i, i);
    bn += (size_t)sprintf(big + bn, "\r\n");
    printf("# plaintext %zu bytes, browser %zu bytes, %ld iterations\n", sizeof(plaintext) - 1,
           sizeof(browser) - 1, iters);
    for (int impl = -1; impl < RHP_IMPL_COUNT; impl++) {
        if (impl >= 0 && !rhp_impl_supported((enum rhp_impl)impl))
            continue;
        const char *nm = impl < 0 ? "auto" : names[impl];
        printf("httpparse_plaintext_%s ns_per_op %.1f\n", nm,
               median(impl, plaintext, sizeof(plaintext) - 1, iters));
        printf("httpparse_browser_%s ns_per_op %.1f\n", nm,
               median(impl, browser, sizeof(browser) - 1, iters));
        if (impl >= 0)
            printf("httpparse_trickle8k_%s ns_per_op %.1f\n", nm, trickle(impl, big, bn));
    }
    return 0;
}
