/* fuzz/http_parse.c - libFuzzer target for src/http/parse.c.
 *
 * The first input byte picks the limits and a split point; the rest is
 * the request. Aborts when the implementations disagree, when a split
 * changes the answer, when a result breaks an invariant (head length
 * within the input, pointers inside the head, known status), or when the
 * chunked decoder answers differently for different splits of the bytes
 * after the head. */
#include "http/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 16

static void die(const char *what, int a, int b)
{
    fprintf(stderr, "http_parse fuzz: %s (%d vs %d)\n", what, a, b);
    abort();
}

static int same(const char *buf, int ra, const struct rhp_request *a, int rb,
                const struct rhp_request *b)
{
    if (ra != rb)
        return 0;
    if (ra < 0)
        return strcmp(a->error, b->error) == 0;
    if (ra == 0)
        return 1;
    if (a->method != b->method || a->target != b->target || a->path != b->path ||
        a->query != b->query || a->host != b->host || a->method_len != b->method_len ||
        a->target_len != b->target_len || a->path_len != b->path_len ||
        a->query_len != b->query_len || a->host_len != b->host_len ||
        a->method_id != b->method_id || a->target_form != b->target_form || a->minor != b->minor ||
        a->keep_alive != b->keep_alive || a->expect_continue != b->expect_continue ||
        a->body != b->body || a->content_length != b->content_length ||
        a->nheaders != b->nheaders || a->head_len != b->head_len)
        return 0;
    for (uint32_t i = 0; i < a->nheaders; i++)
        if (a->headers[i].name != b->headers[i].name ||
            a->headers[i].value != b->headers[i].value ||
            a->headers[i].name_len != b->headers[i].name_len ||
            a->headers[i].value_len != b->headers[i].value_len)
            return 0;
    (void)buf;
    return 1;
}

static void in_head(const char *buf, int r, const char *p, uint32_t n)
{
    if (!p) {
        if (n)
            die("length without pointer", (int)n, 0);
        return;
    }
    if (p < buf || p + n > buf + r)
        die("pointer outside the head", (int)(p - buf), r);
}

static void check_result(const char *buf, size_t len, int r, const struct rhp_request *q,
                         const struct rhp_limits *lim)
{
    if (r > 0) {
        if ((size_t)r > len || (uint32_t)r != q->head_len || (uint32_t)r > lim->max_head)
            die("head length", r, (int)q->head_len);
        if (q->nheaders > lim->max_headers || q->target_len > lim->max_target)
            die("limits", (int)q->nheaders, (int)q->target_len);
        in_head(buf, r, q->method, q->method_len);
        in_head(buf, r, q->target, q->target_len);
        in_head(buf, r, q->path, q->path_len);
        in_head(buf, r, q->query, q->query_len);
        in_head(buf, r, q->host, q->host_len);
        for (uint32_t i = 0; i < q->nheaders; i++) {
            in_head(buf, r, q->headers[i].name, q->headers[i].name_len);
            in_head(buf, r, q->headers[i].value, q->headers[i].value_len);
        }
        if (q->body == RHP_BODY_LENGTH && q->content_length > lim->max_body)
            die("max_body", 0, 0);
        return;
    }
    if (r == 0)
        return;
    if (r != RHP_EBAD && r != RHP_ETOOBIG && r != RHP_EURI && r != RHP_EFIELDS &&
        r != RHP_ENOTIMPL && r != RHP_EVERSION)
        die("unknown status", r, 0);
    if (!q->error || strncmp(q->error, "internal", 8) == 0)
        die(q->error ? q->error : "no error string", r, 0);
}

/* Decode in pieces of sizes drawn from `seed`; returns the status, data
 * hash and bytes consumed. */
static int decode(const char *in, size_t n, uint64_t seed, const struct rhp_limits *lim,
                  uint64_t *hash, size_t *consumed, uint64_t *total)
{
    struct rhp_chunked c;
    rhp_chunked_init(&c);
    size_t off = 0, avail = 0;
    uint64_t h = 1469598103934665603ull;
    int r;
    for (;;) {
        if (seed) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            avail += 1 + (size_t)(seed >> 59);
        } else {
            avail = n;
        }
        if (avail > n)
            avail = n;
        size_t used;
        const char *d;
        size_t dl;
        r = rhp_chunked_decode(&c, lim, in + off, avail - off, &used, &d, &dl);
        if (used > avail - off)
            die("chunked consumed too much", (int)used, (int)(avail - off));
        off += used;
        if (r == RHP_CHUNK_DATA) {
            if (!dl || d < in || d + dl > in + off)
                die("chunked data span", (int)dl, 0);
            for (size_t i = 0; i < dl; i++)
                h = (h ^ (uint8_t)d[i]) * 1099511628211ull;
            continue;
        }
        if (r == RHP_CHUNK_NEED) {
            if (off != avail)
                die("NEED left input", (int)off, (int)avail);
            if (avail == n)
                break;
            continue;
        }
        break;
    }
    *hash = h;
    *consumed = off;
    *total = c.total;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    static const struct rhp_limits lims[4] = {
        {.max_head = 8192, .max_headers = MAXH, .max_target = 2048, .max_body = 1 << 20},
        {.max_head = 64, .max_headers = 3, .max_target = 16, .max_body = 8},
        {.max_head = 300, .max_headers = 8, .max_target = 300, .max_body = 100},
        {.max_head = 1, .max_headers = 0, .max_target = 0, .max_body = 0},
    };
    const struct rhp_limits *lim = &lims[ctl & 3];
    struct rhp_header h0[MAXH], h1[MAXH];
    struct rhp_request q0, q1;

    int r0 = rhp_parse_with(RHP_IMPL_SCALAR, buf, len, 0, lim, &q0, h0);
    check_result(buf, len, r0, &q0, lim);
    int rd = rhp_parse(buf, len, 0, lim, &q1, h1);
    if (!same(buf, rd, &q1, r0, &q0))
        die("rhp_parse differs from scalar", rd, r0);
    size_t split = len ? (size_t)(ctl >> 2) * len / 63 : 0;
    for (int k = 0; k < RHP_IMPL_COUNT; k++) {
        if (!rhp_impl_supported((enum rhp_impl)k))
            continue;
        int r = rhp_parse_with((enum rhp_impl)k, buf, len, 0, lim, &q1, h1);
        if (!same(buf, r, &q1, r0, &q0))
            die("implementations differ", r, r0);
        /* split feeding: a prefix answers incomplete or the final error */
        int rp = rhp_parse_with((enum rhp_impl)k, buf, split, 0, lim, &q1, h1);
        check_result(buf, split, rp, &q1, lim);
        if (rp != 0 && !same(buf, rp, &q1, r0, &q0))
            die("prefix error differs", rp, r0);
        if (rp == 0) {
            r = rhp_parse_with((enum rhp_impl)k, buf, len, split, lim, &q1, h1);
            if (!same(buf, r, &q1, r0, &q0))
                die("split differs", r, r0);
        }
    }

    /* the bytes after a complete head, as a chunked body */
    const char *body = r0 > 0 ? buf + r0 : buf;
    size_t blen = r0 > 0 ? len - (size_t)r0 : len;
    uint64_t ha, hb, ta, tb;
    size_t ca, cb;
    int da = decode(body, blen, 0, lim, &ha, &ca, &ta);
    int db =
        decode(body, blen, 0x9e3779b97f4a7c15ull ^ ctl ^ (uint64_t)len << 8, lim, &hb, &cb, &tb);
    if (da != db)
        die("chunked status depends on the split", da, db);
    if (da != RHP_CHUNK_NEED && da != RHP_CHUNK_DONE && da != RHP_EBAD && da != RHP_ETOOBIG &&
        da != RHP_EFIELDS)
        die("chunked status", da, 0);
    if (da != RHP_EBAD && da != RHP_ETOOBIG && da != RHP_EFIELDS && (ha != hb || ca != cb))
        die("chunked data depends on the split", (int)ca, (int)cb);
    if (ta > lim->max_body || tb > lim->max_body)
        die("chunked total over max_body", (int)ta, (int)tb);
    return 0;
}
