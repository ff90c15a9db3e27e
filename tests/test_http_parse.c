/* tests/test_http_parse.c - the HTTP/1.1 request parser and chunked decoder
 * (src/http/parse.h): tables of valid requests and of every rejection
 * rule, incremental feeding, a guard page after the buffer, agreement of
 * the SIMD scanners with the scalar one on a generated corpus. */
#include "t.h"

#include "http/parse.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MAXH 64

static const struct rhp_limits lim_std = {
    .max_head = 8192, .max_headers = MAXH, .max_target = 2048, .max_body = 1 << 20};

static const char *const impl_name[RHP_IMPL_COUNT] = {"scalar", "sse42", "avx2"};

/* Fails the case, naming the request (escaped) and the implementation. */
static void t_show(const char *what, const char *buf, size_t len, int impl)
{
    fprintf(stderr, "  %s [%s] on \"", what, impl >= 0 ? impl_name[impl] : "-");
    for (size_t i = 0; i < len && i < 300; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "%s\"\n", len > 300 ? "..." : "");
}

static int span_eq(const char *p, uint32_t n, const char *want)
{
    if (!want)
        return p == NULL && n == 0;
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* Everything rhp_parse reports, pointers as offsets into the buffer, so
 * results from different calls and copies compare. */
static int same_result(const char *ba, int ra, const struct rhp_request *a, const char *bb, int rb,
                       const struct rhp_request *b)
{
    if (ra != rb)
        return 0;
    if (ra < 0)
        return a->error && b->error && strcmp(a->error, b->error) == 0;
    if (ra == 0)
        return 1;
#define OFF(base, p) ((p) ? (long)((p) - (base)) : -1L)
    if (OFF(ba, a->method) != OFF(bb, b->method) || OFF(ba, a->target) != OFF(bb, b->target) ||
        OFF(ba, a->path) != OFF(bb, b->path) || OFF(ba, a->query) != OFF(bb, b->query) ||
        OFF(ba, a->host) != OFF(bb, b->host))
        return 0;
    if (a->method_len != b->method_len || a->target_len != b->target_len ||
        a->path_len != b->path_len || a->query_len != b->query_len || a->host_len != b->host_len ||
        a->method_id != b->method_id || a->target_form != b->target_form || a->minor != b->minor ||
        a->keep_alive != b->keep_alive || a->expect_continue != b->expect_continue ||
        a->body != b->body || a->content_length != b->content_length ||
        a->nheaders != b->nheaders || a->head_len != b->head_len)
        return 0;
    for (uint32_t i = 0; i < a->nheaders; i++) {
        const struct rhp_header *x = &a->headers[i], *y = &b->headers[i];
        if (OFF(ba, x->name) != OFF(bb, y->name) || OFF(ba, x->value) != OFF(bb, y->value) ||
            x->name_len != y->name_len || x->value_len != y->value_len)
            return 0;
    }
#undef OFF
    return 1;
}

static int nimpls(int *impls)
{
    int n = 0;
    for (int i = 0; i < RHP_IMPL_COUNT; i++)
        if (rhp_impl_supported((enum rhp_impl)i))
            impls[n++] = i;
    return n;
}

/* ---- valid requests ---- */

struct vcase {
    const char *req;
    int head_len; /* 0: strlen(req) */
    int method_id;
    const char *path, *query, *host;
    int form, minor, keep_alive, expect, body;
    uint64_t cl;
    int nheaders;
};

#define TE_PLAIN                                                                                   \
    "GET /plaintext HTTP/1.1\r\nHost: server\r\nAccept: "                                          \
    "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n"   \
    "Connection: keep-alive\r\n\r\n"

static const struct vcase valid[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_GET, "/", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {TE_PLAIN, 0, RHP_GET, "/plaintext", NULL, "server", RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 3},
    {"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", 0, RHP_GET, "/a/b", "x=1&y=2",
     "example.com:8080", RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 1},
    {"GET /? HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_GET, "/", "", "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_GET, "/a", "b?c", "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    /* 1.0: close by default, no Host needed */
    {"HEAD / HTTP/1.0\r\n\r\n", 0, RHP_HEAD, "/", NULL, NULL, RHP_ORIGIN, 0, 0, 0, RHP_BODY_NONE, 0,
     0},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, RHP_GET, "/", NULL, NULL, RHP_ORIGIN, 0,
     1, 0, RHP_BODY_NONE, 0, 1},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, RHP_GET, "/", NULL, NULL, RHP_ORIGIN, 0,
     1, 0, RHP_BODY_NONE, 0, 1},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, RHP_GET, "/", NULL, NULL,
     RHP_ORIGIN, 0, 0, 0, RHP_BODY_NONE, 0, 1},
    {"GET / HTTP/1.0\r\nHost: h\r\nConnection: upgrade\r\n\r\n", 0, RHP_GET, "/", NULL, "h",
     RHP_ORIGIN, 0, 0, 0, RHP_BODY_NONE, 0, 2},
    /* 1.1: keep-alive by default */
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, RHP_GET, "/", NULL, "a",
     RHP_ORIGIN, 1, 0, 0, RHP_BODY_NONE, 0, 2},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", 0, RHP_GET, "/", NULL, "a",
     RHP_ORIGIN, 1, 0, 0, RHP_BODY_NONE, 0, 2},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, keep-alive ,\r\n\r\n", 0, RHP_GET, "/", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 2},
    {"GET / HTTP/1.1\r\nConnection: x\r\nHost: a\r\nconnection: close\r\n\r\n", 0, RHP_GET, "/",
     NULL, "a", RHP_ORIGIN, 1, 0, 0, RHP_BODY_NONE, 0, 3},
    /* 1.x, x > 1: processed as 1.1 (RFC 9110 2.5) */
    {"GET / HTTP/1.9\r\nHost: a\r\n\r\n", 0, RHP_GET, "/", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    /* framing */
    {"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 48, RHP_POST, "/f", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_LENGTH, 5, 2},
    {"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5, 5\r\n\r\n", 0, RHP_POST, "/", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_LENGTH, 5, 2},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nCONTENT-LENGTH: 007\r\n\r\n", 0, RHP_POST,
     "/", NULL, "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_LENGTH, 7, 3},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0, RHP_POST, "/", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 2},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n", 0, RHP_POST, "/", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_LENGTH, 1048576, 2},
    {"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", 0, RHP_POST, "/", NULL, NULL, RHP_ORIGIN, 0, 0,
     0, RHP_BODY_LENGTH, 3, 1},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, RHP_POST, "/", NULL,
     "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_CHUNKED, 0, 2},
    {"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: , CHUNKED \r\n\r\n", 0, RHP_POST, "/", NULL,
     "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_CHUNKED, 0, 2},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     RHP_POST, "/", NULL, "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_CHUNKED, 0, 3},
    /* Expect */
    {"PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", 0, RHP_PUT,
     "/x", NULL, "a", RHP_ORIGIN, 1, 1, 1, RHP_BODY_LENGTH, 1, 3},
    {"PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", 0, RHP_PUT, "/x", NULL, NULL, RHP_ORIGIN, 0,
     0, 0, RHP_BODY_NONE, 0, 1},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n", 0, RHP_GET, "/", NULL, "a",
     RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 2},
    /* target forms */
    {"GET http://Example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 0, RHP_GET, "/p", "q",
     "Example.com:81", RHP_ABSOLUTE, 1, 1, 0, RHP_BODY_NONE, 0, 1},
    {"GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", 0, RHP_GET, "/", NULL, "h", RHP_ABSOLUTE, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n", 0, RHP_GET, "/", "x", "h", RHP_ABSOLUTE, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"GET http://[::1]:8080/a HTTP/1.0\r\n\r\n", 0, RHP_GET, "/a", NULL, "[::1]:8080", RHP_ABSOLUTE,
     0, 0, 0, RHP_BODY_NONE, 0, 0},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_OPTIONS, "*", NULL, "a", RHP_ASTERISK, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_OPTIONS, "/x", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 0, RHP_CONNECT, NULL,
     NULL, "example.com:443", RHP_AUTHORITY, 1, 1, 0, RHP_BODY_NONE, 0, 1},
    {"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", 0, RHP_CONNECT, NULL, NULL, "[::1]:443",
     RHP_AUTHORITY, 1, 1, 0, RHP_BODY_NONE, 0, 1},
    /* methods */
    {"DELETE /r HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_DELETE, "/r", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"PATCH /r HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_PATCH, "/r", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"TRACE /r HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_TRACE, "/r", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"PROPFIND /r HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_OTHER, "/r", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"get /r HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_OTHER, "/r", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    {"M-SEARCH~!#$%&'*+.^_`| /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_OTHER, NULL, NULL, NULL, -1, 1,
     1, 0, RHP_BODY_NONE, 0, 1},
    /* values: OWS stripped, obs-text and inner whitespace kept, empty */
    {"GET / HTTP/1.1\r\nHost: \t a \t \r\nX: caf\xc3\xa9 \xff\r\nY:\r\nZ: a \t b\r\n\r\n", 0,
     RHP_GET, "/", NULL, "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 4},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, RHP_GET, "/", NULL, "", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    /* empty lines before the request-line (RFC 9112 2.2) */
    {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_GET, "/", NULL, "a", RHP_ORIGIN, 1, 1, 0,
     RHP_BODY_NONE, 0, 1},
    /* pipelined: the head of the first only */
    {"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", 28, RHP_GET, "/1",
     NULL, "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 1},
    {"GET /~user/%20x!$&'()*+,;=:@-._ HTTP/1.1\r\nHost: a\r\n\r\n", 0, RHP_GET,
     "/~user/%20x!$&'()*+,;=:@-._", NULL, "a", RHP_ORIGIN, 1, 1, 0, RHP_BODY_NONE, 0, 1},
};

static void check_valid(const struct vcase *c, int impl, int r, const struct rhp_request *q,
                        size_t len)
{
    int want = c->head_len ? c->head_len : (int)len;
    const char *buf = c->req;
#define V(cond)                                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            t_show("valid case", buf, len, impl);                                                  \
            T_FAIL("%s (r=%d, error=%s)", #cond, r, r < 0 ? q->error : "");                        \
        }                                                                                          \
    } while (0)
    V(r == want);
    V((int)q->head_len == want);
    V(q->method_id == c->method_id);
    V(q->method == buf + (buf[0] == '\r' ? 4 : 0));
    if (c->form >= 0) {
        V(span_eq(q->path, q->path_len, c->path));
        V(span_eq(q->query, q->query_len, c->query));
        V(span_eq(q->host, q->host_len, c->host));
        V(q->target_form == c->form);
    }
    V(q->minor == c->minor);
    V(q->keep_alive == c->keep_alive);
    V(q->expect_continue == c->expect);
    V(q->body == c->body);
    V(q->content_length == c->cl);
    V((int)q->nheaders == c->nheaders);
    V(q->target[-1] == ' ' && q->target[q->target_len] == ' ');
    /* every pointer lies inside the buffer */
    V(q->path == NULL || (q->path >= buf && q->path + q->path_len <= buf + want));
    V(q->host == NULL || (q->host >= buf && q->host + q->host_len <= buf + want));
    for (uint32_t i = 0; i < q->nheaders; i++) {
        const struct rhp_header *h = &q->headers[i];
        V(h->name >= buf && h->value + h->value_len <= buf + want);
        V(h->value_len == 0 || (h->value[0] != ' ' && h->value[h->value_len - 1] != ' ' &&
                                h->value[h->value_len - 1] != '\t'));
    }
#undef V
}

T_CASE(http_parse_valid, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct vcase *c = &valid[i];
        size_t len = strlen(c->req);
        for (int k = 0; k < ni; k++) {
            int r = rhp_parse_with((enum rhp_impl)impls[k], c->req, len, 0, &lim_std, &q, hdrs);
            check_valid(c, impls[k], r, &q, len);
        }
        int r = rhp_parse(c->req, len, 0, &lim_std, &q, hdrs);
        check_valid(c, -1, r, &q, len);
    }
}

T_CASE(http_parse_fields, 0)
{
    const char *req = "GET / HTTP/1.1\r\nHost: \t a \t \r\nX-Long: caf\xc3\xa9 \xff\r\nY:\r\n"
                      "Z: a \t b\r\n\r\n";
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    T_EQ(rhp_parse(req, strlen(req), 0, &lim_std, &q, hdrs), (int)strlen(req));
    T_EQ(q.nheaders, 4);
    T_ASSERT(q.headers == hdrs);
    T_ASSERT(span_eq(hdrs[0].name, hdrs[0].name_len, "Host"));
    T_ASSERT(span_eq(hdrs[0].value, hdrs[0].value_len, "a"));
    T_ASSERT(span_eq(hdrs[1].name, hdrs[1].name_len, "X-Long"));
    T_ASSERT(span_eq(hdrs[1].value, hdrs[1].value_len, "caf\xc3\xa9 \xff"));
    T_ASSERT(span_eq(hdrs[2].name, hdrs[2].name_len, "Y"));
    T_EQ(hdrs[2].value_len, 0);
    T_ASSERT(span_eq(hdrs[3].value, hdrs[3].value_len, "a \t b"));
    T_ASSERT(span_eq(q.method, q.method_len, "GET"));
    T_ASSERT(span_eq(q.target, q.target_len, "/"));

    /* rhp_find: case-insensitive, exact length */
    const struct rhp_header *h = rhp_find(&q, "x-LONG", 6);
    T_ASSERT(h == &hdrs[1]);
    T_ASSERT(rhp_find(&q, "host", 4) == &hdrs[0]);
    T_ASSERT(rhp_find(&q, "x-lon", 5) == NULL);
    T_ASSERT(rhp_find(&q, "x-longer", 8) == NULL);
    T_ASSERT(rhp_find(&q, "z", 1) == &hdrs[3]);
    T_ASSERT(rhp_find(&q, "[", 1) == NULL); /* '[' | 0x20 is '{', not a letter */
}

/* ---- rejections ---- */

struct rcase {
    const char *req;
    int status;
    const char *error;
};

#define H11 " HTTP/1.1\r\nHost: a\r\n"
static const struct rcase reject[] = {
    /* request line */
    {"GET  /" H11 "\r\n", RHP_EBAD, "empty request-target"},
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET\t/" H11 "\r\n", RHP_EBAD, "invalid method"},
    {" GET /" H11 "\r\n", RHP_EBAD, "invalid method"},
    {"G(T /" H11 "\r\n", RHP_EBAD, "invalid method"},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET / HTTP/11.1\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", RHP_EBAD, "invalid HTTP version"},
    {"GET /\r\nHost: a\r\n\r\n", RHP_EBAD, "missing HTTP version"},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", RHP_EVERSION, "unsupported HTTP version"},
    {"GET / HTTP/0.9\r\n\r\n", RHP_EVERSION, "unsupported HTTP version"},
    {"GET / HTTP/3.1\r\n\r\n", RHP_EVERSION, "unsupported HTTP version"},
    {"GET /\x01" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"GET /\x7f" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"GET /\x80" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"GET /\xff" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"GET /a\tb" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"GET /a\0b" H11 "\r\n", RHP_EBAD, "invalid character in request-target"},
    {"\r\n\r\n\r\n\r\n\r\nGET /" H11 "\r\n", RHP_EBAD, "invalid method"},
    /* target forms */
    {"GET ftp://h/" H11 "\r\n", RHP_EBAD, "invalid request-target"},
    {"GET h/" H11 "\r\n", RHP_EBAD, "invalid request-target"},
    {"GET h:80" H11 "\r\n", RHP_EBAD, "invalid request-target"},
    {"GET http:///p" H11 "\r\n", RHP_EBAD, "absolute-form without host"},
    {"GET http://" H11 "\r\n", RHP_EBAD, "absolute-form without host"},
    {"GET http://u@h/" H11 "\r\n", RHP_EBAD, "invalid absolute-form"},
    {"GET *" H11 "\r\n", RHP_EBAD, "asterisk-form needs OPTIONS"},
    {"OPTIONS **" H11 "\r\n", RHP_EBAD, "invalid request-target"},
    {"CONNECT /" H11 "\r\n", RHP_EBAD, "CONNECT needs authority-form"},
    {"CONNECT h" H11 "\r\n", RHP_EBAD, "invalid authority-form"},
    {"CONNECT h:" H11 "\r\n", RHP_EBAD, "invalid authority-form"},
    {"CONNECT :80" H11 "\r\n", RHP_EBAD, "invalid authority-form"},
    {"CONNECT h:8x" H11 "\r\n", RHP_EBAD, "invalid authority-form"},
    {"CONNECT u@h:80" H11 "\r\n", RHP_EBAD, "invalid authority-form"},
    {"CONNECT *" H11 "\r\n", RHP_EBAD, "asterisk-form needs OPTIONS"},
    /* line endings */
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", RHP_EBAD, "bare LF"},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", RHP_EBAD, "bare LF"},
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", RHP_EBAD, "bare LF"},
    {"GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "bare LF"},
    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "bare LF"},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", RHP_EBAD, "bare CR"},
    {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", RHP_EBAD, "bare CR"},
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", RHP_EBAD, "bare CR"},
    {"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "bare CR"},
    {"\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", RHP_EBAD, "bare CR"},
    /* field syntax */
    {"GET /" H11 "X : a\r\n\r\n", RHP_EBAD, "whitespace before colon"},
    {"GET /" H11 "X\t: a\r\n\r\n", RHP_EBAD, "whitespace before colon"},
    {"GET /" H11 "X y: a\r\n\r\n", RHP_EBAD, "whitespace before colon"},
    {"GET /" H11 ": a\r\n\r\n", RHP_EBAD, "empty field name"},
    {"GET /" H11 "X\x01: a\r\n\r\n", RHP_EBAD, "invalid field name"},
    {"GET /" H11 "X\x80: a\r\n\r\n", RHP_EBAD, "invalid field name"},
    {"GET /" H11 "X(y): a\r\n\r\n", RHP_EBAD, "invalid field name"},
    {"GET /" H11 "Xy\r\n\r\n", RHP_EBAD, "invalid field name"},
    {"GET /" H11 " folded\r\n\r\n", RHP_EBAD, "obs-fold"},
    {"GET /" H11 "\tfolded\r\n\r\n", RHP_EBAD, "obs-fold"},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", RHP_EBAD, "obs-fold"},
    {"GET /" H11 "X: a\0b\r\n\r\n", RHP_EBAD, "invalid character in field value"},
    {"GET /" H11 "X: a\x01\r\n\r\n", RHP_EBAD, "invalid character in field value"},
    {"GET /" H11 "X: \x1f\r\n\r\n", RHP_EBAD, "invalid character in field value"},
    {"GET /" H11 "X: a\x7f\r\n\r\n", RHP_EBAD, "invalid character in field value"},
    {"GET /" H11 "X: a\x0b\r\n\r\n", RHP_EBAD, "invalid character in field value"},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", RHP_EBAD, "missing Host"},
    {"GET / HTTP/1.1\r\nX: a\r\n\r\n", RHP_EBAD, "missing Host"},
    {"GET /" H11 "Host: a\r\n\r\n", RHP_EBAD, "duplicate Host"},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", RHP_EBAD, "duplicate Host"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", RHP_EBAD, "invalid Host"},
    {"GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n", RHP_EBAD, "invalid Host"},
    {"GET http://h/ HTTP/1.1\r\n\r\n", RHP_EBAD, "missing Host"},
    /* Content-Length */
    {"POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", RHP_EBAD,
     "Content-Length with Transfer-Encoding"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", RHP_EBAD,
     "Content-Length with Transfer-Encoding"},
    {"POST /" H11 "Content-Length: 5, 6\r\n\r\n", RHP_EBAD, "conflicting Content-Length"},
    {"POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", RHP_EBAD,
     "conflicting Content-Length"},
    {"POST /" H11 "Content-Length: abc\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: -1\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: +5\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length:\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 5 5\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 5,\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 0x10\r\n\r\n", RHP_EBAD, "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", RHP_EBAD,
     "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 99999999999999999999999\r\n\r\n", RHP_EBAD,
     "invalid Content-Length"},
    {"POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n", RHP_ETOOBIG,
     "Content-Length over max_body"},
    {"POST /" H11 "Content-Length: 1048577\r\n\r\n", RHP_ETOOBIG, "Content-Length over max_body"},
    /* Transfer-Encoding */
    {"POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", RHP_EBAD, "chunked is not the final coding"},
    {"POST /" H11 "Transfer-Encoding: identity\r\n\r\n", RHP_EBAD,
     "chunked is not the final coding"},
    {"POST /" H11 "Transfer-Encoding:\r\n\r\n", RHP_EBAD, "chunked is not the final coding"},
    {"POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", RHP_EBAD,
     "chunked is not the final coding"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", RHP_EBAD,
     "chunked is not the final coding"},
    {"POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", RHP_ENOTIMPL,
     "unsupported transfer coding"},
    {"POST /" H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", RHP_ENOTIMPL,
     "unsupported transfer coding"},
    {"POST /" H11 "Transfer-Encoding: x;q=\"a,b\", chunked\r\n\r\n", RHP_ENOTIMPL,
     "unsupported transfer coding"},
    {"POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", RHP_EBAD, "chunked applied twice"},
    {"POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: Chunked\r\n\r\n", RHP_EBAD,
     "chunked applied twice"},
    {"POST /" H11 "Transfer-Encoding: chunked;x=1\r\n\r\n", RHP_EBAD, "invalid Transfer-Encoding"},
    {"POST /" H11 "Transfer-Encoding: chunked x\r\n\r\n", RHP_EBAD, "invalid Transfer-Encoding"},
    {"POST /" H11 "Transfer-Encoding: x;=1, chunked\r\n\r\n", RHP_EBAD,
     "invalid Transfer-Encoding"},
    {"POST /" H11 "Transfer-Encoding: x;q=\"a, chunked\r\n\r\n", RHP_EBAD,
     "invalid Transfer-Encoding"},
    {"POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", RHP_EBAD, "invalid Transfer-Encoding"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", RHP_EBAD,
     "Transfer-Encoding in HTTP/1.0"},
    /* Connection */
    {"GET /" H11 "Connection: close keep-alive\r\n\r\n", RHP_EBAD, "invalid Connection"},
    {"GET /" H11 "Connection: \"close\"\r\n\r\n", RHP_EBAD, "invalid Connection"},
    {"GET /" H11 "Connection: caf\xc3\xa9\r\n\r\n", RHP_EBAD, "invalid Connection"},
};

static const struct rcase *reject_case(size_t i, char *tmp, size_t cap, size_t *len)
{
    const struct rcase *c = &reject[i];
    /* the table strings may hold a NUL: the length is up to "\r\n\r\n" */
    const char *e = c->req;
    while (*e == '\r' || *e == '\n')
        e++;
    /* ... or, for rows without one, to the terminating NUL (which follows
     * a '\n' there, unlike the NULs inside some rows) */
    for (;; e++) {
        if (e[0] == '\r' && e[1] == '\n' && e[2] == '\r' && e[3] == '\n') {
            e += 4;
            break;
        }
        if (e[0] == '\0' && e[-1] == '\n')
            break;
    }
    *len = (size_t)(e - c->req);
    T_ASSERT(*len < cap);
    memcpy(tmp, c->req, *len);
    return c;
}

T_CASE(http_parse_reject, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    char tmp[512];
    for (size_t i = 0; i < sizeof(reject) / sizeof(reject[0]); i++) {
        size_t len;
        const struct rcase *c = reject_case(i, tmp, sizeof(tmp), &len);
        for (int k = -1; k < ni; k++) {
            int r = k < 0
                        ? rhp_parse(tmp, len, 0, &lim_std, &q, hdrs)
                        : rhp_parse_with((enum rhp_impl)impls[k], tmp, len, 0, &lim_std, &q, hdrs);
            if (r != c->status || !q.error || strcmp(q.error, c->error) != 0) {
                t_show("reject case", tmp, len, k < 0 ? -1 : impls[k]);
                T_FAIL("got %d (%s), want %d (%s)", r, r < 0 ? q.error : "-", c->status, c->error);
            }
        }
    }
}

/* Limits: 414, 431 (count and size), reported before the head ends. */
T_CASE(http_parse_limits, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    struct rhp_header hdrs[MAXH + 1];
    struct rhp_request q;
    static char buf[20000];
    struct rhp_limits lim = lim_std;
    for (int k = 0; k < ni; k++) {
        enum rhp_impl im = (enum rhp_impl)impls[k];
        /* target of exactly max_target: fine; one more: 414 */
        size_t n = 0;
        n += (size_t)sprintf(buf, "GET /");
        memset(buf + n, 'a', lim.max_target - 1);
        n += lim.max_target - 1;
        n += (size_t)sprintf(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
        T_EQ(rhp_parse_with(im, buf, n, 0, &lim, &q, hdrs), (int)n);
        T_EQ(q.target_len, lim.max_target);
        n = 5;
        memset(buf + n, 'a', lim.max_target);
        n += lim.max_target;
        n += (size_t)sprintf(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
        T_EQ(rhp_parse_with(im, buf, n, 0, &lim, &q, hdrs), RHP_EURI);
        T_ASSERT(strcmp(q.error, "request-target too long") == 0);
        /* early: as soon as the target passes max_target, before the line ends */
        size_t first = 4 + lim.max_target + 1; /* "GET " + max_target + 1 bytes */
        T_EQ(rhp_parse_with(im, buf, first - 1, 0, &lim, &q, hdrs), 0);
        T_EQ(rhp_parse_with(im, buf, first, 0, &lim, &q, hdrs), RHP_EURI);
        T_EQ(rhp_parse_with(im, buf, first, first - 1, &lim, &q, hdrs), RHP_EURI);

        /* a request-line that cannot fit in max_head because of its target: 414 */
        struct rhp_limits wide = lim;
        wide.max_target = lim.max_head;
        n = (size_t)sprintf(buf, "GET /");
        memset(buf + n, 'a', 9000);
        n += 9000;
        n += (size_t)sprintf(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
        T_EQ(rhp_parse_with(im, buf, n, 0, &wide, &q, hdrs), RHP_EURI);
        T_EQ(rhp_parse_with(im, buf, wide.max_head - 1, 0, &wide, &q, hdrs), 0);
        T_EQ(rhp_parse_with(im, buf, wide.max_head, 0, &wide, &q, hdrs), RHP_EURI);
        T_EQ(rhp_parse_with(im, buf, n, 100, &wide, &q, hdrs), RHP_EURI);

        /* max_headers fields: fine; one more: 431 */
        n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int i = 1; i < MAXH; i++)
            n += (size_t)sprintf(buf + n, "X-%d: %d\r\n", i, i);
        size_t n_ok = n + 2;
        memcpy(buf + n, "\r\n", 2);
        T_EQ(rhp_parse_with(im, buf, n_ok, 0, &lim, &q, hdrs), (int)n_ok);
        T_EQ(q.nheaders, MAXH);
        n += (size_t)sprintf(buf + n, "X-last: 1\r\n\r\n");
        T_EQ(rhp_parse_with(im, buf, n, 0, &lim, &q, hdrs), RHP_EFIELDS);
        T_ASSERT(strcmp(q.error, "too many header fields") == 0);

        /* head of exactly max_head: fine; one byte more: 431 */
        n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
        size_t pad = lim.max_head - n - 4;
        memset(buf + n, 'v', pad);
        n += pad;
        memcpy(buf + n, "\r\n\r\n", 4);
        n += 4;
        T_EQ(n, lim.max_head);
        T_EQ(rhp_parse_with(im, buf, n, 0, &lim, &q, hdrs), (int)n);
        memmove(buf + n - 4, "v\r\n\r\n", 5);
        T_EQ(rhp_parse_with(im, buf, n + 1, 0, &lim, &q, hdrs), RHP_EFIELDS);
        T_ASSERT(strcmp(q.error, "head too large") == 0);
        /* early: at max_head bytes without an end, before any end arrives */
        memset(buf + 40, 'v', 12000);
        T_EQ(rhp_parse_with(im, buf, lim.max_head - 1, 0, &lim, &q, hdrs), 0);
        T_EQ(rhp_parse_with(im, buf, lim.max_head, 0, &lim, &q, hdrs), RHP_EFIELDS);
        T_EQ(rhp_parse_with(im, buf, 12000, 8000, &lim, &q, hdrs), RHP_EFIELDS);

        /* a huge pipelined buffer: only the head is looked at */
        n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        memset(buf + n, 'x', sizeof(buf) - n);
        T_EQ(rhp_parse_with(im, buf, sizeof(buf), 0, &lim, &q, hdrs), (int)n);
        T_EQ(rhp_parse_with(im, buf, sizeof(buf), 3, &lim, &q, hdrs), (int)n);
    }
}

/* Bare CR/LF show before the head ends; other syntax errors wait for it. */
T_CASE(http_parse_early, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\n", RHP_EBAD},
        {"GET / HTTP/1.1\r\nX: a\rb", RHP_EBAD},
        {"\n", RHP_EBAD},
        {"GET /\n", RHP_EBAD},
        {"GET / HTTP/1.1\r\nX: \x01", RHP_INCOMPLETE},
        {"GET / HTTP/1.1\r\n\r", RHP_INCOMPLETE},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r", RHP_INCOMPLETE},
        {"GET / HTTP/2.0\r\n", RHP_INCOMPLETE},
        {"\r", RHP_INCOMPLETE},
        {"", RHP_INCOMPLETE},
        {"\r\n", RHP_INCOMPLETE},
        {"GE", RHP_INCOMPLETE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].req);
        for (int k = 0; k < ni; k++) {
            int r = rhp_parse_with((enum rhp_impl)impls[k], cases[i].req, n, 0, &lim_std, &q, hdrs);
            if (r != cases[i].status) {
                t_show("early case", cases[i].req, n, impls[k]);
                T_FAIL("got %d, want %d", r, cases[i].status);
            }
            r = rhp_parse_with((enum rhp_impl)impls[k], cases[i].req, n, n ? n - 1 : 0, &lim_std,
                               &q, hdrs);
            T_EQ(r, cases[i].status);
        }
    }
}

/* ---- incremental feeding ---- */

/* Every split into two calls, three calls, and a 1-byte trickle give the
 * one-shot answer; a prefix may only answer "incomplete" or that same
 * error. */
static void check_splits(enum rhp_impl im, const char *buf, size_t n, const struct rhp_limits *lim)
{
    struct rhp_header h1[MAXH], h2[MAXH];
    struct rhp_request one, q;
    int r1 = rhp_parse_with(im, buf, n, 0, lim, &one, h1);
    for (size_t s = 0; s <= n; s++) {
        int rp = rhp_parse_with(im, buf, s, 0, lim, &q, h2);
        if (rp > 0 && s < n) {
            /* a complete head inside the prefix: only for pipelined input */
            if (!same_result(buf, rp, &q, buf, r1, &one)) {
                t_show("prefix", buf, n, im);
                T_FAIL("prefix %zu gave %d, one-shot %d", s, rp, r1);
            }
            continue;
        }
        if (rp != 0) {
            if (!same_result(buf, rp, &q, buf, r1, &one)) {
                t_show("prefix", buf, n, im);
                T_FAIL("prefix %zu gave %d (%s), one-shot %d (%s)", s, rp, q.error, r1,
                       r1 < 0 ? one.error : "");
            }
            continue;
        }
        int r = rhp_parse_with(im, buf, n, s, lim, &q, h2);
        if (!same_result(buf, r, &q, buf, r1, &one)) {
            t_show("split", buf, n, im);
            T_FAIL("split at %zu gave %d (%s), one-shot %d (%s)", s, r, r < 0 ? q.error : "", r1,
                   r1 < 0 ? one.error : "");
        }
        size_t s2 = s + (n - s) / 2;
        if (rhp_parse_with(im, buf, s2, s, lim, &q, h2) == 0) {
            r = rhp_parse_with(im, buf, n, s2, lim, &q, h2);
            if (!same_result(buf, r, &q, buf, r1, &one)) {
                t_show("3-split", buf, n, im);
                T_FAIL("split at %zu,%zu gave %d, one-shot %d", s, s2, r, r1);
            }
        }
    }
    /* trickle */
    int r = 0;
    size_t len = 0;
    while (len < n) {
        len++;
        r = rhp_parse_with(im, buf, len, len - 1, lim, &q, h2);
        if (r != 0)
            break;
    }
    if (!same_result(buf, r, &q, buf, r1, &one)) {
        t_show("trickle", buf, n, im);
        T_FAIL("trickle gave %d at %zu, one-shot %d", r, len, r1);
    }
}

T_CASE(http_parse_incremental, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    char tmp[512];
    for (int k = 0; k < ni; k++) {
        enum rhp_impl im = (enum rhp_impl)impls[k];
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
            check_splits(im, valid[i].req, strlen(valid[i].req), &lim_std);
        for (size_t i = 0; i < sizeof(reject) / sizeof(reject[0]); i++) {
            size_t len;
            reject_case(i, tmp, sizeof(tmp), &len);
            check_splits(im, tmp, len, &lim_std);
        }
        /* small limits, so 414 and 431 happen within these requests */
        struct rhp_limits small = {
            .max_head = 60, .max_headers = 2, .max_target = 8, .max_body = 10};
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
            check_splits(im, valid[i].req, strlen(valid[i].req), &small);
        for (size_t i = 0; i < sizeof(reject) / sizeof(reject[0]); i++) {
            size_t len;
            reject_case(i, tmp, sizeof(tmp), &len);
            check_splits(im, tmp, len, &small);
        }
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A 1-byte trickle over an 8 KiB head costs O(n): the best of 3 trickles
 * must stay under 200 one-shot parses of the whole head (a rescan from
 * the start on each call would cost about 4000). */
T_CASE(http_parse_trickle_linear, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    static char buf[8192];
    struct rhp_limits lim = lim_std;
    lim.max_head = sizeof(buf);
    lim.max_headers = 256;
    struct rhp_header many[256];
    struct rhp_request q;
    size_t n = (size_t)sprintf(buf, "GET /trickle HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; n < sizeof(buf) - 200; i++)
        n += (size_t)sprintf(buf + n, "X-%d: %0120d\r\n", i, i);
    n += (size_t)sprintf(buf + n, "\r\n");
    for (int k = 0; k < ni; k++) {
        enum rhp_impl im = (enum rhp_impl)impls[k];
        double best = 1e18, oneshot = 1e18;
        for (int run = 0; run < 3; run++) {
            double t0 = now_ns();
            int r = 0;
            for (size_t len = 1; len <= n; len++) {
                r = rhp_parse_with(im, buf, len, len - 1, &lim, &q, many);
                if (r != 0)
                    break;
            }
            double t1 = now_ns();
            T_EQ(r, (int)n);
            for (int i = 0; i < 16; i++)
                T_EQ(rhp_parse_with(im, buf, n, 0, &lim, &q, many), (int)n);
            double t2 = now_ns();
            if (t1 - t0 < best)
                best = t1 - t0;
            if ((t2 - t1) / 16 < oneshot)
                oneshot = (t2 - t1) / 16;
        }
        if (best > 200 * oneshot + 1e6)
            T_FAIL("[%s] trickle %.0f ns vs one-shot %.0f ns: not linear", impl_name[im], best,
                   oneshot);
    }
}

/* ---- a guard page right after the buffer ---- */

T_CASE(http_parse_guard_page, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    long pg = sysconf(_SC_PAGESIZE);
    char *map =
        mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(map != MAP_FAILED);
    T_ASSERT(mprotect(map + pg, (size_t)pg, PROT_NONE) == 0);
    char *edge = map + pg;
    struct rhp_header hdrs[MAXH];
    struct rhp_request q;
    char tmp[512];
    size_t nv = sizeof(valid) / sizeof(valid[0]), nr = sizeof(reject) / sizeof(reject[0]);
    for (size_t i = 0; i < nv + nr; i++) {
        const char *req;
        size_t n;
        if (i < nv) {
            req = valid[i].req;
            n = strlen(req);
        } else {
            reject_case(i - nv, tmp, sizeof(tmp), &n);
            req = tmp;
        }
        /* every prefix ends at the guard: complete and incomplete heads */
        for (size_t len = 0; len <= n; len++) {
            char *b = edge - len;
            memcpy(b, req, len);
            int r0 = rhp_parse_with(RHP_IMPL_SCALAR, b, len, 0, &lim_std, &q, hdrs);
            for (int k = 0; k < ni; k++) {
                struct rhp_request q2;
                struct rhp_header h2[MAXH];
                int r = rhp_parse_with((enum rhp_impl)impls[k], b, len, 0, &lim_std, &q2, h2);
                T_ASSERT(same_result(b, r, &q2, b, r0, &q));
                if (len > 2 && rhp_parse_with((enum rhp_impl)impls[k], b, len - 2, 0, &lim_std, &q2,
                                              h2) == 0) {
                    r = rhp_parse_with((enum rhp_impl)impls[k], b, len, len - 2, &lim_std, &q2, h2);
                    T_ASSERT(same_result(b, r, &q2, b, r0, &q));
                }
            }
        }
    }
    /* long runs of each class so the vector loops reach the guard */
    for (int cls = 0; cls < 4; cls++) {
        for (size_t len = 1; len < 200; len++) {
            char *b = edge - len;
            switch (cls) {
            case 0: /* method */
                memset(b, 'M', len);
                break;
            case 1: /* target */
                memcpy(b, "GET /", len < 5 ? len : 5);
                if (len > 5)
                    memset(b + 5, 'a', len - 5);
                break;
            case 2:   /* field name */
            case 3: { /* field value */
                const char *pre = cls == 2 ? "GET / HTTP/1.1\r\n" : "GET / HTTP/1.1\r\nX:";
                size_t pl = strlen(pre);
                memcpy(b, pre, len < pl ? len : pl);
                if (len > pl)
                    memset(b + pl, 'v', len - pl);
                break;
            }
            }
            for (int k = 0; k < ni; k++) {
                int r = rhp_parse_with((enum rhp_impl)impls[k], b, len, 0, &lim_std, &q, hdrs);
                T_EQ(r, 0);
                r = rhp_parse_with((enum rhp_impl)impls[k], b, len, len / 2, &lim_std, &q, hdrs);
                T_EQ(r, 0);
            }
        }
    }
    /* the chunked decoder too */
    static const char ch[] = "5\r\nhello\r\n0\r\nX: y\r\n\r\n";
    for (size_t len = 0; len < sizeof(ch); len++) {
        char *b = edge - len;
        memcpy(b, ch, len);
        struct rhp_chunked c;
        rhp_chunked_init(&c);
        size_t used, dl;
        const char *d;
        size_t off = 0;
        int r;
        do {
            r = rhp_chunked_decode(&c, &lim_std, b + off, len - off, &used, &d, &dl);
            off += used;
        } while (r == RHP_CHUNK_DATA);
        T_EQ(r, len == sizeof(ch) - 1 ? RHP_CHUNK_DONE : RHP_CHUNK_NEED);
    }
    munmap(map, (size_t)pg * 2);
}

/* ---- SIMD against scalar ---- */

/* Each byte value at each position of a long method, target, field name
 * and field value: every scanner stops where the scalar one does. */
T_CASE(http_parse_byte_classes, 0)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    static const char *const pre[4] = {"", "GET /", "GET / HTTP/1.1\r\nHost: a\r\n",
                                       "GET / HTTP/1.1\r\nHost: a\r\nX: "};
    static const char *const post[4] = {" / HTTP/1.1\r\nHost: a\r\n\r\n",
                                        " HTTP/1.1\r\nHost: a\r\n\r\n", ": v\r\n\r\n", "\r\n\r\n"};
    char buf[256];
    struct rhp_header h0[MAXH], h1[MAXH];
    struct rhp_request q0, q1;
    for (int part = 0; part < 4; part++) {
        for (int b = 0; b < 256; b++) {
            for (int pos = 0; pos < 70; pos++) {
                size_t n = strlen(pre[part]);
                memcpy(buf, pre[part], n);
                memset(buf + n, part == 2 ? 'N' : 'a', 70);
                buf[n + (size_t)pos] = (char)b;
                n += 70;
                memcpy(buf + n, post[part], strlen(post[part]));
                n += strlen(post[part]);
                int r0 = rhp_parse_with(RHP_IMPL_SCALAR, buf, n, 0, &lim_std, &q0, h0);
                /* the scalar classes themselves */
                int ok;
                if (part == 2 && b == ':')
                    ok = pos > 0; /* "N:NNN: v" is a field named N */
                else if (part == 0 || part == 2)
                    ok = (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') ||
                         (b && strchr("!#$%&'*+-.^_`|~", b));
                else if (part == 1)
                    ok = b > 0x20 && b < 0x7f;
                else
                    ok = b == '\t' || (b >= 0x20 && b != 0x7f);
                if (ok != (r0 > 0)) {
                    t_show("byte class", buf, n, 0);
                    T_FAIL("part %d byte 0x%02x pos %d: %d (%s)", part, b, pos, r0,
                           r0 < 0 ? q0.error : "");
                }
                for (int k = 0; k < ni; k++) {
                    int r = rhp_parse_with((enum rhp_impl)impls[k], buf, n, 0, &lim_std, &q1, h1);
                    if (!same_result(buf, r, &q1, buf, r0, &q0)) {
                        t_show("byte class", buf, n, impls[k]);
                        T_FAIL("part %d byte 0x%02x pos %d: %d vs scalar %d", part, b, pos, r, r0);
                    }
                }
            }
        }
    }
}

static const char *const gen_methods[] = {"GET",    "POST",     "HEAD",    "PUT",
                                          "DELETE", "OPTIONS",  "CONNECT", "PATCH",
                                          "TRACE",  "M-SEARCH", "get"};
static const char *const gen_targets[] = {
    "/",
    "/plaintext",
    "/a/b/c?x=1&y=2",
    "*",
    "http://h.example/p?q",
    "HTTPS://h:1",
    "h.example:443",
    "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?q",
    "http://u@h/"};
static const char *const gen_fields[] = {
    "Host: localhost",
    "Host: example.com:8080",
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*",
    "Connection: keep-alive",
    "Connection: close",
    "Connection: Upgrade, keep-alive",
    "Content-Length: 5",
    "Content-Length: 5, 5",
    "Content-Length: 18446744073709551616",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked, chunked",
    "Expect: 100-continue",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "Cookie: a=b; c=d; session=0123456789abcdef0123456789abcdef",
    "X-Empty:",
    "X-Obs: caf\xc3\xa9",
    "X-Tab:\tvalue\t",
    "Accept-Encoding: gzip, deflate, br",
    "Cache-Control: max-age=0",
};
static const char *const gen_versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0"};

static size_t gen_request(uint64_t *rs, char *buf, size_t cap)
{
    size_t n = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t l_ = strlen(s);                                                                     \
        if (n + l_ < cap) {                                                                        \
            memcpy(buf + n, s, l_);                                                                \
            n += l_;                                                                               \
        }                                                                                          \
    } while (0)
    if (t_rand(rs) % 16 == 0)
        PUT("\r\n");
    /* mostly coherent requests (so that many parse), sometimes any mix */
    int mix = t_rand(rs) % 4 == 0;
    size_t mi = t_rand(rs) % (sizeof(gen_methods) / sizeof(gen_methods[0]));
    size_t ti = t_rand(rs) % (sizeof(gen_targets) / sizeof(gen_targets[0]));
    if (!mix) {
        if (mi == 6) /* CONNECT */
            ti = 6;
        else if (ti == 3 || ti == 6 || ti == 8)
            ti = mi == 5 && ti == 3 ? 3 : 7;
    }
    PUT(gen_methods[mi]);
    PUT(" ");
    PUT(gen_targets[ti]);
    PUT(" ");
    PUT(gen_versions[t_rand(rs) % 8 < 6 ? 0 : t_rand(rs) % 4]);
    PUT("\r\n");
    int nf = (int)(t_rand(rs) % 10);
    if (!mix)
        PUT("Host: h\r\n");
    for (int i = 0; i < nf; i++) {
        size_t fi = t_rand(rs) % (sizeof(gen_fields) / sizeof(gen_fields[0]));
        if (!mix && fi < 2)
            fi = 13; /* no second Host */
        if (!mix && fi >= 6 && fi <= 12 && t_rand(rs) % 4)
            fi = 2 + t_rand(rs) % 4; /* framing fields, but not too often */
        PUT(gen_fields[fi]);
        PUT("\r\n");
    }
    PUT("\r\n");
    if (t_rand(rs) % 4 == 0)
        PUT("5\r\nhello\r\n0\r\n\r\n");
#undef PUT
    return n;
}

static size_t mutate(uint64_t *rs, char *buf, size_t n, size_t cap)
{
    static const char special[] = {'\r', '\n', '\0', ' ', '\t', (char)0x80, (char)0xff, ':',
                                   ',',  ';',  '"',  '/', '?',  '@',        0x7f,       0x01};
    int nm = t_rand(rs) % 2 ? 0 : (int)(t_rand(rs) % 4);
    for (int i = 0; i < nm; i++) {
        uint64_t r = t_rand(rs);
        size_t at = n ? (size_t)(r >> 8) % n : 0;
        switch (r % 6) {
        case 0: /* flip a byte */
            if (n)
                buf[at] ^= (char)(1u << (t_rand(rs) % 8));
            break;
        case 1: /* insert a special byte */
        case 2:
            if (n + 1 < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = special[t_rand(rs) % sizeof(special)];
                n++;
            }
            break;
        case 3: /* truncate */
            n = at;
            break;
        case 4: /* delete a byte */
            if (n) {
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            }
            break;
        case 5: /* overwrite with a special byte */
            if (n)
                buf[at] = special[t_rand(rs) % sizeof(special)];
            break;
        }
    }
    return n;
}

T_CASE(http_parse_simd_agree, T_SLOW)
{
    int impls[RHP_IMPL_COUNT], ni = nimpls(impls);
    if (ni < 2)
        T_SKIP("no SIMD implementation on this CPU");
    uint64_t rs = 0x9e3779b97f4a7c15ull;
    static char buf[4096];
    struct rhp_header h0[MAXH], h1[MAXH];
    struct rhp_request q0, q1;
    struct rhp_limits lims[2] = {
        lim_std, {.max_head = 120, .max_headers = 3, .max_target = 20, .max_body = 4}};
    long counts[3] = {0, 0, 0};
    for (int it = 0; it < 200000; it++) {
        size_t n = gen_request(&rs, buf, sizeof(buf));
        n = mutate(&rs, buf, n, sizeof(buf));
        const struct rhp_limits *lim = &lims[it % 8 == 0];
        size_t scanned = t_rand(&rs) % 3 == 0 ? (size_t)(t_rand(&rs) % (n + 1)) : 0;
        /* as a server would: the prefix must have been incomplete */
        if (scanned &&
            rhp_parse_with(RHP_IMPL_SCALAR, buf, scanned, 0, lim, &q0, h0) != RHP_INCOMPLETE)
            scanned = 0;
        int r0 = rhp_parse_with(RHP_IMPL_SCALAR, buf, n, scanned, lim, &q0, h0);
        counts[r0 > 0 ? 0 : r0 == 0 ? 1 : 2]++;
        for (int k = 0; k < ni; k++) {
            int r = rhp_parse_with((enum rhp_impl)impls[k], buf, n, scanned, lim, &q1, h1);
            if (!same_result(buf, r, &q1, buf, r0, &q0)) {
                t_show("agreement", buf, n, impls[k]);
                T_FAIL("iteration %d scanned %zu: %d (%s) vs scalar %d (%s)", it, scanned, r,
                       r < 0 ? q1.error : "", r0, r0 < 0 ? q0.error : "");
            }
            /* and the one-shot answer, whatever the split */
            if (scanned) {
                r = rhp_parse_with((enum rhp_impl)impls[k], buf, n, 0, lim, &q1, h1);
                if (!same_result(buf, r, &q1, buf, r0, &q0)) {
                    t_show("split agreement", buf, n, impls[k]);
                    T_FAIL("iteration %d scanned %zu: one-shot %d vs %d", it, scanned, r, r0);
                }
            }
        }
    }
    /* the corpus must exercise all three outcomes */
    fprintf(stderr, "  complete %ld, incomplete %ld, rejected %ld\n", counts[0], counts[1],
            counts[2]);
    T_ASSERT(counts[0] > 20000 && counts[1] > 5000 && counts[2] > 20000);
}

/* ---- chunked decoder ---- */

struct ccase {
    const char *in;
    int status;        /* final: RHP_CHUNK_DONE, RHP_CHUNK_NEED or an error */
    const char *body;  /* decoded data, for DONE / NEED */
    int consumed_tail; /* bytes after the end not consumed (DONE) */
};

static const struct ccase chunked[] = {
    {"5\r\nhello\r\n0\r\n\r\n", RHP_CHUNK_DONE, "hello", 0},
    {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", RHP_CHUNK_DONE, "hello world", 0},
    {"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", RHP_CHUNK_DONE, "0123456789abcdefghij", 0},
    {"0\r\n\r\n", RHP_CHUNK_DONE, "", 0},
    {"000\r\n\r\n", RHP_CHUNK_DONE, "", 0},
    {"0\r\n\r\nGET / HTTP/1.1\r\n", RHP_CHUNK_DONE, "", 16},
    {"5;a=b;c=\"q\\\"x;\"\r\nhello\r\n0;last\r\n\r\n", RHP_CHUNK_DONE, "hello", 0},
    {"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", RHP_CHUNK_DONE, "hello", 0},
    {"5;a=\"\"\r\nhello\r\n0\r\n\r\n", RHP_CHUNK_DONE, "hello", 0},
    {"5\r\nhello\r\n0\r\nX: y\r\nEmpty:\r\nZ: a \xff b\r\n\r\n", RHP_CHUNK_DONE, "hello", 0},
    {"1\r\n\r\r\n0\r\n\r\n", RHP_CHUNK_DONE, "\r", 0},
    {"0000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n", RHP_CHUNK_DONE, "0123456789abcdef", 0},
    /* incomplete */
    {"5\r\nhel", RHP_CHUNK_NEED, "hel", 0},
    {"5\r\nhello\r\n0\r\n", RHP_CHUNK_NEED, "hello", 0},
    {"5;a=\"x", RHP_CHUNK_NEED, "", 0},
    /* rejected */
    {"\r\n", RHP_EBAD, NULL, 0},
    {" 5\r\nhello\r\n0\r\n\r\n", RHP_EBAD, NULL, 0},
    {"g\r\n", RHP_EBAD, NULL, 0},
    {"-1\r\n", RHP_EBAD, NULL, 0},
    {"0x5\r\n", RHP_EBAD, NULL, 0},
    {"5\n", RHP_EBAD, NULL, 0},
    {"5\r\r\n", RHP_EBAD, NULL, 0},
    {"5\r\nhelloX\r\n", RHP_EBAD, NULL, 0},
    {"5\r\nhello\rX", RHP_EBAD, NULL, 0},
    {"5\r\nhello\n0\r\n\r\n", RHP_EBAD, NULL, 0},
    {"11111111111111111\r\n", RHP_EBAD, NULL, 0},
    {"00000000000000001\r\n", RHP_EBAD, NULL, 0},
    {"5 \r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;\r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;a=\r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;a b\r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;a \r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;a=b c\r\nhello\r\n", RHP_EBAD, NULL, 0},
    {"5;a=\"x\r\n", RHP_EBAD, NULL, 0},
    {"5;a=\"x\"y\r\n", RHP_EBAD, NULL, 0},
    {"5;(\r\n", RHP_EBAD, NULL, 0},
    {"5;a=\"\x01\"\r\n", RHP_EBAD, NULL, 0},
    {"0\r\nX y: z\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\n: v\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\n X: y\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\nX\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\nX: \x01\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\nX: a\nY: b\r\n\r\n", RHP_EBAD, NULL, 0},
    {"0\r\n\r\r", RHP_EBAD, NULL, 0},
    {"0\r\n\n", RHP_EBAD, NULL, 0},
    /* totals over max_body (1 MiB), known from the size line */
    {"100001\r\n", RHP_ETOOBIG, NULL, 0},
    {"ffffffffffffffff\r\n", RHP_ETOOBIG, NULL, 0},
};

/* Decode `in` in pieces cut at `cuts` (ascending, 0-terminated list or
 * NULL) and return the final status, the data and the bytes consumed. */
static int decode_pieces(const char *in, size_t n, const size_t *cuts, size_t ncuts,
                         const struct rhp_limits *lim, char *out, size_t *out_len, size_t *consumed)
{
    struct rhp_chunked c;
    rhp_chunked_init(&c);
    size_t off = 0, k = 0, o = 0;
    int r = RHP_CHUNK_NEED;
    for (;;) {
        size_t stop = k < ncuts ? cuts[k] : n;
        for (;;) {
            size_t used;
            const char *d;
            size_t dl;
            r = rhp_chunked_decode(&c, lim, in + off, stop - off, &used, &d, &dl);
            T_ASSERT(used <= stop - off);
            off += used;
            if (r == RHP_CHUNK_DATA) {
                T_ASSERT(dl > 0 && d >= in && d + dl <= in + off);
                memcpy(out + o, d, dl);
                o += dl;
                continue;
            }
            T_ASSERT(dl == 0);
            break;
        }
        if (r != RHP_CHUNK_NEED || stop == n)
            break;
        T_EQ(off, stop); /* NEED consumes everything */
        k++;
    }
    *out_len = o;
    *consumed = off;
    return r;
}

static void check_chunked(const struct ccase *cc, const size_t *cuts, size_t ncuts)
{
    static char out[4096];
    size_t n = strlen(cc->in), ol, used;
    int r = decode_pieces(cc->in, n, cuts, ncuts, &lim_std, out, &ol, &used);
    if (r != cc->status) {
        t_show("chunked", cc->in, n, -1);
        T_FAIL("got %d, want %d (cuts %zu, first %zu)", r, cc->status, ncuts, ncuts ? cuts[0] : 0);
    }
    if (cc->body) {
        T_ASSERT(ol == strlen(cc->body) && memcmp(out, cc->body, ol) == 0);
        if (r == RHP_CHUNK_DONE)
            T_EQ(used, n - (size_t)cc->consumed_tail);
        else
            T_EQ(used, n);
    }
}

T_CASE(http_chunked, 0)
{
    size_t nc = sizeof(chunked) / sizeof(chunked[0]);
    for (size_t i = 0; i < nc; i++) {
        const struct ccase *cc = &chunked[i];
        size_t n = strlen(cc->in);
        check_chunked(cc, NULL, 0);
        /* every two-way split */
        for (size_t s = 0; s <= n; s++)
            check_chunked(cc, &s, 1);
        /* one byte at a time */
        size_t cuts[256];
        T_ASSERT(n < 256);
        for (size_t s = 0; s < n; s++)
            cuts[s] = s;
        check_chunked(cc, cuts, n);
    }
    struct rhp_chunked c;
    size_t used, dl;
    const char *d;
    /* totals over max_body across chunks */
    struct rhp_limits lim = lim_std;
    lim.max_body = 10;
    rhp_chunked_init(&c);
    const char *in = "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n";
    size_t off = 0;
    int r;
    while ((r = rhp_chunked_decode(&c, &lim, in + off, strlen(in) - off, &used, &d, &dl)) ==
           RHP_CHUNK_DATA)
        off += used;
    T_EQ(r, RHP_ETOOBIG);
    T_EQ(c.total, 6);
    /* exactly max_body is fine */
    rhp_chunked_init(&c);
    in = "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n";
    off = 0;
    while ((r = rhp_chunked_decode(&c, &lim, in + off, strlen(in) - off, &used, &d, &dl)) ==
           RHP_CHUNK_DATA)
        off += used;
    T_EQ(r, RHP_CHUNK_DONE);
    T_EQ(c.total, 10);
    /* errors and DONE are sticky */
    r = rhp_chunked_decode(&c, &lim, "5\r\n", 3, &used, &d, &dl);
    T_EQ(r, RHP_CHUNK_DONE);
    T_EQ(used, 0);
    rhp_chunked_init(&c);
    T_EQ(rhp_chunked_decode(&c, &lim, "x", 1, &used, &d, &dl), RHP_EBAD);
    T_EQ(rhp_chunked_decode(&c, &lim, "0\r\n\r\n", 5, &used, &d, &dl), RHP_EBAD);
    /* the size line is capped at 4 KiB */
    static char big[5000];
    memcpy(big, "5;a=", 4);
    memset(big + 4, 'x', sizeof(big) - 4);
    rhp_chunked_init(&c);
    T_EQ(rhp_chunked_decode(&c, &lim_std, big, 4096, &used, &d, &dl), RHP_CHUNK_NEED);
    T_EQ(rhp_chunked_decode(&c, &lim_std, big + 4096, 1, &used, &d, &dl), RHP_EBAD);
    /* trailers count against max_head */
    lim = lim_std;
    lim.max_head = 17;
    rhp_chunked_init(&c);
    in = "0\r\nX: 0123456789\r\n\r\n"; /* trailer section: 15 + 2 bytes */
    T_EQ(rhp_chunked_decode(&c, &lim, in, strlen(in), &used, &d, &dl), RHP_CHUNK_DONE);
    lim.max_head = 16;
    rhp_chunked_init(&c);
    T_EQ(rhp_chunked_decode(&c, &lim, in, strlen(in), &used, &d, &dl), RHP_EFIELDS);
    /* a zero-length input */
    rhp_chunked_init(&c);
    T_EQ(rhp_chunked_decode(&c, &lim, "", 0, &used, &d, &dl), RHP_CHUNK_NEED);
    T_EQ(used, 0);
}
