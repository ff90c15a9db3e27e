/* src/http/metrics.c - the /metrics handler: runtime and HTTP counters in
 * the Prometheus text exposition format (version 0.0.4). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/http_int.h"

struct sb {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *q = realloc(b->p, b->cap * 2 + (size_t)n);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

static void counter(struct sb *b, const char *name, const char *help, uint64_t v)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
              (unsigned long long)v);
}

static void gauge(struct sb *b, const char *name, const char *help, uint64_t v)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
              (unsigned long long)v);
}

/* HTTPS: the handshakes of the server's TLS context. */
static void tls_metrics(struct sb *b, const ringo_tls_ctx *ctx)
{
    ringo_tls_stats t;
    ringo_tls_ctx_stats(ctx, &t);
    counter(b, "ringo_tls_handshakes_total", "TLS handshakes completed (full and resumed).",
            t.handshakes);
    counter(b, "ringo_tls_resumed_total", "TLS handshakes that resumed a session.", t.resumed);
    gauge(b, "ringo_tls_handshakes_in_progress", "TLS handshakes running now.", t.in_progress);
    sb_printf(b, "# HELP ringo_tls_handshake_failures_total Failed TLS handshakes by reason.\n"
                 "# TYPE ringo_tls_handshake_failures_total counter\n");
    const struct {
        const char *reason;
        uint64_t v;
    } fails[] = {{"timeout", t.fail_timeout},
                 {"protocol", t.fail_protocol},
                 {"verify", t.fail_verify},
                 {"closed", t.fail_closed},
                 {"other", t.fail_other}};
    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++)
        sb_printf(b, "ringo_tls_handshake_failures_total{reason=\"%s\"} %llu\n", fails[i].reason,
                  (unsigned long long)fails[i].v);
    counter(b, "ringo_tls_truncated_total", "TLS connections ended without close_notify.",
            t.truncated);
    counter(b, "ringo_tls_reloads_total", "Certificate reloads.", t.reloads);
}

int ringo_http_metrics_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    (void)req;
    ringo_http_server *s = arg;
    struct sb b = {malloc(8192), 0, 8192, false};
    if (!b.p)
        return -ENOMEM;
    ringo_http_stats h;
    ringo_http_server_stats(s, &h);
    counter(&b, "ringo_http_requests_total", "HTTP requests answered.", h.requests);
    sb_printf(&b, "# HELP ringo_http_responses_total Responses by status class.\n"
                  "# TYPE ringo_http_responses_total counter\n");
    for (int k = 1; k <= 5; k++)
        sb_printf(&b, "ringo_http_responses_total{class=\"%dxx\"} %llu\n", k,
                  (unsigned long long)h.by_class[k]);
    sb_printf(&b, "# HELP ringo_http_errors_total Error responses by status code.\n"
                  "# TYPE ringo_http_errors_total counter\n");
    const struct {
        int code;
        uint64_t v;
    } codes[] = {{400, h.status_400}, {404, h.status_404}, {408, h.status_408},
                 {413, h.status_413}, {414, h.status_414}, {431, h.status_431},
                 {501, h.status_501}, {505, h.status_505}};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        sb_printf(&b, "ringo_http_errors_total{code=\"%d\"} %llu\n", codes[i].code,
                  (unsigned long long)codes[i].v);
    counter(&b, "ringo_http_received_bytes_total", "Bytes received from clients.", h.bytes_in);
    counter(&b, "ringo_http_sent_bytes_total", "Bytes sent to clients.", h.bytes_out);
    gauge(&b, "ringo_http_connections_open", "Open client connections.", h.conns_open);
    counter(&b, "ringo_http_connections_accepted_total", "Connections accepted.", h.conns_accepted);
    counter(&b, "ringo_http_connections_refused_total",
            "Connections closed at once by the connection caps.", h.conns_refused);
    counter(&b, "ringo_http_parse_errors_total", "Requests rejected by the parser.",
            h.parse_errors);
    counter(&b, "ringo_http_timeouts_total", "Header, read and write timeouts.", h.timeouts);
    counter(&b, "ringo_http_idle_timeouts_total",
            "Keep-alive connections closed after the idle timeout.", h.idle_timeouts);
    counter(&b, "ringo_http_connection_errors_total",
            "Connections ended by a failed read or write (reset, broken pipe, ...).",
            h.conn_errors);
    sb_printf(&b, "# HELP ringo_http_request_duration_seconds From the read that completed the "
                  "request to its response being queued.\n"
                  "# TYPE ringo_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < RINGO_HTTP_LATENCY_BUCKETS; k++) {
        cum += h.latency[k];
        sb_printf(&b, "ringo_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  8e-6 * (double)(1u << k), (unsigned long long)cum);
    }
    cum += h.latency[RINGO_HTTP_LATENCY_BUCKETS];
    sb_printf(&b,
              "ringo_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
              "ringo_http_request_duration_seconds_sum %.9f\n"
              "ringo_http_request_duration_seconds_count %llu\n",
              (unsigned long long)cum, (double)h.latency_sum_ns / 1e9, (unsigned long long)cum);
    if (s->tls)
        tls_metrics(&b, s->tls);
    ringo_counters rc;
    if (ringo_stats(&rc) == 0) {
#define RINGO_METRIC(name, desc) counter(&b, "ringo_" #name "_total", desc, rc.name);
        RINGO_STATS_MAP(RINGO_METRIC)
#undef RINGO_METRIC
        gauge(&b, "ringo_coroutines_alive", "Coroutines alive.", rc.coros_alive);
        gauge(&b, "ringo_workers", "Worker threads.", (uint64_t)rc.workers);
    }
    int r = b.oom ? -ENOMEM : 0;
    if (!r)
        r = ringo_http_header_add(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    if (!r)
        r = ringo_http_body(resp, b.p, b.len);
    free(b.p);
    return r;
}
