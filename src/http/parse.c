/* src/http/parse.c - HTTP/1.1 request parser and chunked decoder.
 *
 * The head parser exists once in source and three times in the object:
 * the template at the bottom of this file (after #else) is included
 * back into this file once per scanner set (scalar, SSE4.2, AVX2), each
 * time with the matching target attribute, so the scanners inline into
 * the parser of their own instruction set while the rest of the file
 * stays baseline x86-64 (or plain C on other architectures).
 *
 * Result semantics, shared by every implementation (see parse.h): the
 * canonical answer for buf[0, len) is computed from
 *   1. the line scan: the first "\r\n\r\n" after the request start (the
 *      head end E), or the first bare CR / bare LF;
 *   2. the early errors, each with the prefix length at which it becomes
 *      certain: bare CR/LF, request-target over max_target, head over
 *      max_head; the one certain first wins;
 *   3. with E and no early error, the full parse of buf[0, E).
 * Because every early error is a function of a prefix, any split of the
 * input into calls gives the same answer as one call with all of it. The
 * one-shot fast path (scanned == 0) parses directly and falls back to the
 * canonical route for anything but a clean success or a clean
 * "incomplete", so errors cost two passes and successes one. */
#ifndef RHP_TEMPLATE

#include "http/parse.h"

#include <limits.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Byte classes. */
#define RHP_C_TCHAR 0x01 /* token (RFC 9110 5.6.2) */
#define RHP_C_VCHAR 0x02 /* request-target: 0x21-0x7E */
#define RHP_C_VALUE 0x04 /* field value: HTAB, SP, VCHAR, obs-text */
#define RHP_C_CRLF  0x08

#define RHP_IS_ALPHA(c) ((((c) | 0x20) >= 'a') && (((c) | 0x20) <= 'z'))
#define RHP_IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define RHP_IS_TCHAR(c)                                                                            \
    (RHP_IS_ALPHA(c) || RHP_IS_DIGIT(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || \
     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||          \
     (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define RHP_CLS(c)                                                                                 \
    ((RHP_IS_TCHAR(c) ? RHP_C_TCHAR : 0) | ((c) >= 0x21 && (c) <= 0x7e ? RHP_C_VCHAR : 0) |        \
     (((c) >= 0x20 && (c) != 0x7f) || (c) == '\t' ? RHP_C_VALUE : 0) |                             \
     ((c) == '\r' || (c) == '\n' ? RHP_C_CRLF : 0))
#define RHP_R4(c)  RHP_CLS(c), RHP_CLS((c) + 1), RHP_CLS((c) + 2), RHP_CLS((c) + 3)
#define RHP_R16(c) RHP_R4(c), RHP_R4((c) + 4), RHP_R4((c) + 8), RHP_R4((c) + 12)
#define RHP_R64(c) RHP_R16(c), RHP_R16((c) + 16), RHP_R16((c) + 32), RHP_R16((c) + 48)
static const uint8_t rhp_cls[256] = {RHP_R64(0), RHP_R64(64), RHP_R64(128), RHP_R64(192)};

/* ASCII-only lower case: no locale. */
static inline unsigned char rhp_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline int rhp_ci_eq(const char *a, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rhp_lower((unsigned char)a[i]) != (unsigned char)lower[i])
            return 0;
    return 1;
}

static inline int rhp_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- scalar scanners: return the first byte at or after p not in the
 * class (or end). Unrolled because the compiler keeps the table in a
 * register and the four tests issue in parallel. */
static inline const char *rhp_scan_cls(const char *p, const char *end, uint8_t bit)
{
    while (end - p >= 4) {
        if (!(rhp_cls[(uint8_t)p[0]] & bit))
            return p;
        if (!(rhp_cls[(uint8_t)p[1]] & bit))
            return p + 1;
        if (!(rhp_cls[(uint8_t)p[2]] & bit))
            return p + 2;
        if (!(rhp_cls[(uint8_t)p[3]] & bit))
            return p + 3;
        p += 4;
    }
    while (p < end && (rhp_cls[(uint8_t)*p] & bit))
        p++;
    return p;
}

static inline const char *rhp_token_scalar(const char *p, const char *end)
{
    return rhp_scan_cls(p, end, RHP_C_TCHAR);
}
static inline const char *rhp_target_scalar(const char *p, const char *end)
{
    return rhp_scan_cls(p, end, RHP_C_VCHAR);
}
static inline const char *rhp_value_scalar(const char *p, const char *end)
{
    return rhp_scan_cls(p, end, RHP_C_VALUE);
}
/* First CR or LF. */
static inline const char *rhp_crlf_scalar(const char *p, const char *end)
{
    while (p < end && !(rhp_cls[(uint8_t)*p] & RHP_C_CRLF))
        p++;
    return p;
}

#if defined(__x86_64__)
/* ---- SSE4.2: PCMPESTRI range matching (as picohttpparser). Full 16-byte
 * blocks only, so no load reaches past end; the tail goes scalar. */
#define RHP_SSE42  __attribute__((target("sse4.2")))
#define RHP_RANGES (_SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_LEAST_SIGNIFICANT)

static inline RHP_SSE42 const char *rhp_token_sse42(const char *p, const char *end)
{
    /* The complement of tchar needs 10 ranges; PCMPESTRI takes 8. These
     * 8 cover it plus '|' and '~' (inside "{\xff"), which are tchars:
     * a stop on one of those just resumes after it. */
    static const char ranges[16] = "\x00 \"\"()"
                                   ",,//:@[]{\xff";
    const __m128i r = _mm_loadu_si128((const __m128i *)ranges);
    for (;;) {
        while (end - p >= 16) {
            __m128i b = _mm_loadu_si128((const __m128i *)p);
            int i = _mm_cmpestri(r, 16, b, 16, RHP_RANGES);
            if (i != 16) {
                p += i;
                goto found;
            }
            p += 16;
        }
        return rhp_token_scalar(p, end);
    found:
        if (*p != '|' && *p != '~')
            return p;
        p++;
    }
}

static inline RHP_SSE42 const char *rhp_target_sse42(const char *p, const char *end)
{
    static const char ranges[16] = "\x00 \x7f\xff";
    const __m128i r = _mm_loadu_si128((const __m128i *)ranges);
    while (end - p >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)p);
        int i = _mm_cmpestri(r, 4, b, 16, RHP_RANGES);
        if (i != 16)
            return p + i;
        p += 16;
    }
    return rhp_target_scalar(p, end);
}

static inline RHP_SSE42 const char *rhp_value_sse42(const char *p, const char *end)
{
    static const char ranges[16] = "\x00\x08\x0a\x1f\x7f\x7f";
    const __m128i r = _mm_loadu_si128((const __m128i *)ranges);
    while (end - p >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)p);
        int i = _mm_cmpestri(r, 6, b, 16, RHP_RANGES);
        if (i != 16)
            return p + i;
        p += 16;
    }
    return rhp_value_scalar(p, end);
}

static inline RHP_SSE42 const char *rhp_crlf_sse42(const char *p, const char *end)
{
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)p);
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, cr), _mm_cmpeq_epi8(b, lf)));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
    return rhp_crlf_scalar(p, end);
}

/* ---- AVX2: 32-byte class tests. */
#define RHP_AVX2 __attribute__((target("avx2")))

static inline RHP_AVX2 const char *rhp_token_avx2(const char *p, const char *end)
{
    /* tchar test by nibble lookup: bit (hi nibble) of lo_tbl[lo nibble]
     * is set iff the byte is a tchar; hi_tbl maps the high nibble to that
     * bit (0 for 0x00-0x1F and 0x80-0xFF, which hold no tchar). */
    const __m256i lo_tbl = _mm256_setr_epi8(
        (char)0xE8, (char)0xFC, (char)0xF8, (char)0xFC, (char)0xFC, (char)0xFC, (char)0xFC,
        (char)0xFC, (char)0xF8, (char)0xF8, (char)0xF4, 0x54, (char)0xD0, 0x54, (char)0xF4, 0x70,
        (char)0xE8, (char)0xFC, (char)0xF8, (char)0xFC, (char)0xFC, (char)0xFC, (char)0xFC,
        (char)0xFC, (char)0xF8, (char)0xF8, (char)0xF4, 0x54, (char)0xD0, 0x54, (char)0xF4, 0x70);
    const __m256i hi_tbl =
        _mm256_setr_epi8(0, 0, 0x04, 0x08, 0x10, 0x20, 0x40, (char)0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                         0, 0x04, 0x08, 0x10, 0x20, 0x40, (char)0x80, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    while (end - p >= 32) {
        __m256i b = _mm256_loadu_si256((const __m256i *)p);
        __m256i lo = _mm256_shuffle_epi8(lo_tbl, _mm256_and_si256(b, nib));
        __m256i hi = _mm256_shuffle_epi8(hi_tbl, _mm256_and_si256(_mm256_srli_epi16(b, 4), nib));
        __m256i bad = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
        unsigned m = (unsigned)_mm256_movemask_epi8(bad);
        if (m)
            return p + __builtin_ctz(m);
        p += 32;
    }
    return rhp_token_scalar(p, end);
}

static inline RHP_AVX2 const char *rhp_target_avx2(const char *p, const char *end)
{
    /* b - 0x21 (mod 256) <= 0x5D (unsigned) iff 0x21 <= b <= 0x7E */
    const __m256i off = _mm256_set1_epi8(0x21), top = _mm256_set1_epi8(0x5d);
    while (end - p >= 32) {
        __m256i b = _mm256_sub_epi8(_mm256_loadu_si256((const __m256i *)p), off);
        __m256i ok = _mm256_cmpeq_epi8(_mm256_min_epu8(b, top), b);
        unsigned m = ~(unsigned)_mm256_movemask_epi8(ok);
        if (m)
            return p + __builtin_ctz(m);
        p += 32;
    }
    return rhp_target_scalar(p, end);
}

static inline RHP_AVX2 const char *rhp_value_avx2(const char *p, const char *end)
{
    /* bad: (b < 0x20 unsigned and b != HTAB) or b == DEL */
    const __m256i c1f = _mm256_set1_epi8(0x1f), tab = _mm256_set1_epi8('\t'),
                  del = _mm256_set1_epi8(0x7f);
    while (end - p >= 32) {
        __m256i b = _mm256_loadu_si256((const __m256i *)p);
        __m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(b, c1f), b);
        __m256i bad = _mm256_or_si256(_mm256_andnot_si256(_mm256_cmpeq_epi8(b, tab), ctl),
                                      _mm256_cmpeq_epi8(b, del));
        unsigned m = (unsigned)_mm256_movemask_epi8(bad);
        if (m)
            return p + __builtin_ctz(m);
        p += 32;
    }
    return rhp_value_scalar(p, end);
}

static inline RHP_AVX2 const char *rhp_crlf_avx2(const char *p, const char *end)
{
    const __m256i cr = _mm256_set1_epi8('\r'), lf = _mm256_set1_epi8('\n');
    while (end - p >= 32) {
        __m256i b = _mm256_loadu_si256((const __m256i *)p);
        unsigned m = (unsigned)_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(b, cr), _mm256_cmpeq_epi8(b, lf)));
        if (m)
            return p + __builtin_ctz(m);
        p += 32;
    }
    return rhp_crlf_scalar(p, end);
}
#endif /* __x86_64__ */

/* ---- shared pieces of the head parser (baseline code, inlined into each
 * instance) */

enum { RHP_MAX_EMPTY_LINES = 4 };

static inline int rhp_fail(struct rhp_request *req, int status, const char *why)
{
    req->error = why;
    return status;
}

/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the
 * request-line. A bounded number keeps the cost of a stream of CRLFs
 * constant per call (the rest count against max_head and fail). */
static inline size_t rhp_skip_empty(const char *buf, size_t len)
{
    size_t i = 0;
    for (int k = 0; k < RHP_MAX_EMPTY_LINES; k++) {
        if (len - i < 2 || buf[i] != '\r' || buf[i + 1] != '\n')
            break;
        i += 2;
    }
    return i;
}

static inline uint32_t rhp_load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t rhp_load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
#define RHP_STR4(a, b, c, d)                                                                       \
    ((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 | (uint32_t)(uint8_t)(c) << 16 |         \
     (uint32_t)(uint8_t)(d) << 24)

/* Methods are case-sensitive (RFC 9110 9.1). */
static inline int rhp_method_id(const char *m, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return RHP_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return RHP_PUT;
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0)
            return RHP_HEAD;
        if (memcmp(m, "POST", 4) == 0)
            return RHP_POST;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0)
            return RHP_PATCH;
        if (memcmp(m, "TRACE", 5) == 0)
            return RHP_TRACE;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return RHP_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return RHP_OPTIONS;
        if (memcmp(m, "CONNECT", 7) == 0)
            return RHP_CONNECT;
        break;
    }
    return RHP_OTHER;
}

/* "HTTP/" DIGIT "." DIGIT CRLF at v. Returns 1 (with *minor and *next),
 * 0 if the bytes so far are a prefix of a valid version, or an error. */
static int rhp_version(const char *v, const char *end, uint8_t *minor, const char **next,
                       struct rhp_request *req)
{
    static const char pat[] = "HTTP/0.0\r\n";
    size_t n = (size_t)(end - v) < 10 ? (size_t)(end - v) : 10;
    for (size_t i = 0; i < n; i++) {
        int ok = (pat[i] == '0') ? RHP_IS_DIGIT(v[i]) : v[i] == pat[i];
        if (!ok) {
            if (i == 8 && v[i] == '\n')
                return rhp_fail(req, RHP_EBAD, "bare LF");
            if (i == 9 && v[8] == '\r')
                return rhp_fail(req, RHP_EBAD, "bare CR");
            return rhp_fail(req, RHP_EBAD, "invalid HTTP version");
        }
    }
    if (n < 10)
        return 0;
    /* RFC 9110 2.5: a higher minor version of a major version we implement
     * is processed as the highest minor we implement (1.1). */
    if (v[5] != '1')
        return rhp_fail(req, RHP_EVERSION, "unsupported HTTP version");
    *minor = v[7] == '0' ? 0 : 1;
    *next = v + 10;
    return 1;
}

/* The request-target once the line is complete (t, n = target). */
static int rhp_target(struct rhp_request *req, int mid, const char *t, size_t n)
{
    req->target = t;
    req->target_len = (uint32_t)n;
    if (t[0] == '/') {
        if (mid == RHP_CONNECT)
            return rhp_fail(req, RHP_EBAD, "CONNECT needs authority-form");
        const char *qm = memchr(t, '?', n);
        req->target_form = RHP_ORIGIN;
        req->path = t;
        if (qm) {
            req->path_len = (uint32_t)(qm - t);
            req->query = qm + 1;
            req->query_len = (uint32_t)(n - (size_t)(qm + 1 - t));
        } else {
            req->path_len = (uint32_t)n;
        }
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (mid != RHP_OPTIONS)
            return rhp_fail(req, RHP_EBAD, "asterisk-form needs OPTIONS");
        req->target_form = RHP_ASTERISK;
        req->path = t;
        req->path_len = 1;
        return 0;
    }
    if (mid == RHP_CONNECT) {
        /* authority-form = uri-host ":" port (RFC 9112 3.2.3) */
        size_t c = n;
        while (c > 0 && t[c - 1] != ':')
            c--;
        if (c < 2 || c == n)
            return rhp_fail(req, RHP_EBAD, "invalid authority-form");
        for (size_t i = c; i < n; i++)
            if (!RHP_IS_DIGIT(t[i]))
                return rhp_fail(req, RHP_EBAD, "invalid authority-form");
        for (size_t i = 0; i < c - 1; i++)
            if (t[i] == '/' || t[i] == '?' || t[i] == '#' || t[i] == '@')
                return rhp_fail(req, RHP_EBAD, "invalid authority-form");
        req->target_form = RHP_AUTHORITY;
        req->host = t;
        req->host_len = (uint32_t)n;
        return 0;
    }
    /* absolute-form: http or https, case-insensitive scheme */
    size_t s;
    if (n >= 7 && rhp_ci_eq(t, "http://", 7))
        s = 7;
    else if (n >= 8 && rhp_ci_eq(t, "https://", 8))
        s = 8;
    else
        return rhp_fail(req, RHP_EBAD, "invalid request-target");
    size_t a = s;
    while (a < n && t[a] != '/' && t[a] != '?') {
        /* RFC 9110 4.2.4: userinfo in an http(s) URI is treated as an error */
        if (t[a] == '@' || t[a] == '#')
            return rhp_fail(req, RHP_EBAD, "invalid absolute-form");
        a++;
    }
    if (a == s)
        return rhp_fail(req, RHP_EBAD, "absolute-form without host");
    req->target_form = RHP_ABSOLUTE;
    req->host = t + s;
    req->host_len = (uint32_t)(a - s);
    const char *qm = memchr(t + a, '?', n - a);
    size_t pe = qm ? (size_t)(qm - t) : n;
    if (pe == a) {
        /* empty path means "/": point at the second slash of "://" so the
         * path still lies inside the caller's buffer */
        req->path = t + s - 1;
        req->path_len = 1;
    } else {
        req->path = t + a;
        req->path_len = (uint32_t)(pe - a);
    }
    if (qm) {
        req->query = qm + 1;
        req->query_len = (uint32_t)(n - pe - 1);
    }
    return 0;
}

/* Per-request state of the semantic field checks. */
struct rhp_sem {
    uint32_t hosts;
    uint8_t cl_seen, te_seen, te_chunked, te_last_chunked, te_other, te_bad;
    uint8_t conn_close, conn_ka, expect;
    const char *host;
    uint32_t host_len;
    uint64_t cl;
};

/* Content-Length = 1*DIGIT; a list of identical values ("5, 5") and
 * repeated identical fields are accepted (RFC 9110 8.6). */
static __attribute__((noinline)) int rhp_content_length(struct rhp_sem *s, const char *v, size_t n,
                                                        struct rhp_request *req)
{
    size_t i = 0;
    for (;;) {
        if (i == n || !RHP_IS_DIGIT(v[i]))
            return rhp_fail(req, RHP_EBAD, "invalid Content-Length");
        uint64_t x = 0;
        while (i < n && RHP_IS_DIGIT(v[i])) {
            unsigned d = (unsigned)(v[i] - '0');
            if (x > (UINT64_MAX - d) / 10)
                return rhp_fail(req, RHP_EBAD, "invalid Content-Length");
            x = x * 10 + d;
            i++;
        }
        if (s->cl_seen && x != s->cl)
            return rhp_fail(req, RHP_EBAD, "conflicting Content-Length");
        s->cl = x;
        s->cl_seen = 1;
        while (i < n && rhp_ows(v[i]))
            i++;
        if (i == n)
            return 0;
        if (v[i] != ',')
            return rhp_fail(req, RHP_EBAD, "invalid Content-Length");
        i++;
        while (i < n && rhp_ows(v[i]))
            i++;
    }
}

/* Skip a quoted-string starting at v[i] == '"'; returns the index after
 * it or 0 if malformed. */
static size_t rhp_skip_quoted(const char *v, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (++i == n)
                return 0;
        }
    }
    return 0;
}

/* #transfer-coding, over any number of fields. Empty list elements are
 * ignored (RFC 9110 5.6.1). Parameters make a coding "other" (chunked
 * has none: "chunked;x=1" is malformed). */
static __attribute__((noinline)) void rhp_transfer_encoding(struct rhp_sem *s, const char *v,
                                                            size_t n)
{
    size_t i = 0;
    s->te_seen = 1;
    for (;;) {
        while (i < n && (rhp_ows(v[i]) || v[i] == ','))
            i++;
        if (i == n)
            return;
        size_t b = i;
        while (i < n && (rhp_cls[(uint8_t)v[i]] & RHP_C_TCHAR))
            i++;
        if (i == b) {
            s->te_bad = 1;
            return;
        }
        int chunked = (i - b == 7 && rhp_ci_eq(v + b, "chunked", 7));
        while (i < n && rhp_ows(v[i]))
            i++;
        if (i < n && v[i] == ';') {
            if (chunked) {
                s->te_bad = 1;
                return;
            }
            /* transfer-parameter = token BWS "=" BWS ( token / quoted-string ) */
            while (i < n && v[i] == ';') {
                i++;
                while (i < n && rhp_ows(v[i]))
                    i++;
                size_t k = i;
                while (i < n && (rhp_cls[(uint8_t)v[i]] & RHP_C_TCHAR))
                    i++;
                while (i < n && rhp_ows(v[i]))
                    i++;
                if (i == k || i == n || v[i] != '=') {
                    s->te_bad = 1;
                    return;
                }
                i++;
                while (i < n && rhp_ows(v[i]))
                    i++;
                if (i < n && v[i] == '"') {
                    i = rhp_skip_quoted(v, i, n);
                    if (!i) {
                        s->te_bad = 1;
                        return;
                    }
                } else {
                    k = i;
                    while (i < n && (rhp_cls[(uint8_t)v[i]] & RHP_C_TCHAR))
                        i++;
                    if (i == k) {
                        s->te_bad = 1;
                        return;
                    }
                }
                while (i < n && rhp_ows(v[i]))
                    i++;
            }
        }
        if (i < n && v[i] != ',') {
            s->te_bad = 1;
            return;
        }
        if (chunked) {
            if (s->te_chunked < 2)
                s->te_chunked++;
        } else {
            s->te_other = 1;
        }
        s->te_last_chunked = (uint8_t)chunked;
    }
}

/* Connection = #connection-option (tokens, case-insensitive). */
static __attribute__((noinline)) int rhp_connection(struct rhp_sem *s, const char *v, size_t n,
                                                    struct rhp_request *req)
{
    size_t i = 0;
    for (;;) {
        while (i < n && (rhp_ows(v[i]) || v[i] == ','))
            i++;
        if (i == n)
            return 0;
        size_t b = i;
        while (i < n && (rhp_cls[(uint8_t)v[i]] & RHP_C_TCHAR))
            i++;
        if (i == b)
            return rhp_fail(req, RHP_EBAD, "invalid Connection");
        if (i - b == 5 && rhp_ci_eq(v + b, "close", 5))
            s->conn_close = 1;
        else if (i - b == 10 && rhp_ci_eq(v + b, "keep-alive", 10))
            s->conn_ka = 1;
        while (i < n && rhp_ows(v[i]))
            i++;
        if (i < n && v[i] != ',')
            return rhp_fail(req, RHP_EBAD, "invalid Connection");
    }
}

static inline uint16_t rhp_load16(const char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* The fields the parser itself interprets, recognised by length first.
 * OR-ing 0x20 lower-cases letters and maps no other byte that can occur
 * in a name or value onto a letter or '-' of these words, so it is an
 * exact case-insensitive compare. */
#define RHP_LC2 0x2020u
#define RHP_LC4 0x20202020u
#define RHP_LC8 0x2020202020202020ull
static inline __attribute__((always_inline)) int rhp_field(struct rhp_sem *s, const char *name,
                                                           size_t nl, const char *v, size_t vl,
                                                           struct rhp_request *req)
{
    switch (nl) {
    case 4:
        if ((rhp_load32(name) | RHP_LC4) != rhp_load32("host"))
            return 0;
        s->hosts++;
        for (size_t i = 0; i < vl; i++)
            if (rhp_ows(v[i]))
                return rhp_fail(req, RHP_EBAD, "invalid Host");
        if (s->hosts == 1) {
            s->host = v;
            s->host_len = (uint32_t)vl;
        }
        return 0;
    case 6:
        if ((rhp_load32(name) | RHP_LC4) != rhp_load32("expe") ||
            (rhp_load16(name + 4) | RHP_LC2) != rhp_load16("ct"))
            return 0;
        if (vl == 12 && rhp_ci_eq(v, "100-continue", 12))
            s->expect = 1;
        return 0;
    case 10:
        if ((rhp_load64(name) | RHP_LC8) != rhp_load64("connecti") ||
            (rhp_load16(name + 8) | RHP_LC2) != rhp_load16("on"))
            return 0;
        /* the two common values without the list parser */
        if (vl == 10 && (rhp_load64(v) | RHP_LC8) == rhp_load64("keep-ali") &&
            (rhp_load16(v + 8) | RHP_LC2) == rhp_load16("ve")) {
            s->conn_ka = 1;
            return 0;
        }
        if (vl == 5 && (rhp_load32(v) | RHP_LC4) == rhp_load32("clos") && (v[4] | 0x20) == 'e') {
            s->conn_close = 1;
            return 0;
        }
        return rhp_connection(s, v, vl, req);
    case 14:
        if ((rhp_load64(name) | RHP_LC8) != rhp_load64("content-") ||
            (rhp_load64(name + 6) | RHP_LC8) != rhp_load64("t-length"))
            return 0;
        return rhp_content_length(s, v, vl, req);
    case 17:
        if ((rhp_load64(name) | RHP_LC8) != rhp_load64("transfer") ||
            (rhp_load64(name + 8) | RHP_LC8) != rhp_load64("-encodin") || (name[16] | 0x20) != 'g')
            return 0;
        rhp_transfer_encoding(s, v, vl);
        return 0;
    }
    return 0;
}

/* Framing and connection rules once all fields are in (RFC 9112 6, 9.3). */
static int rhp_finish(struct rhp_sem *s, const struct rhp_limits *lim, struct rhp_request *req)
{
    if (s->hosts > 1)
        return rhp_fail(req, RHP_EBAD, "duplicate Host");
    if (s->hosts == 0 && req->minor == 1)
        return rhp_fail(req, RHP_EBAD, "missing Host");
    if (req->target_form != RHP_ABSOLUTE && req->target_form != RHP_AUTHORITY) {
        req->host = s->host;
        req->host_len = s->host_len;
    }
    if (s->te_seen) {
        if (req->minor == 0)
            return rhp_fail(req, RHP_EBAD, "Transfer-Encoding in HTTP/1.0");
        if (s->cl_seen)
            return rhp_fail(req, RHP_EBAD, "Content-Length with Transfer-Encoding");
        if (s->te_bad)
            return rhp_fail(req, RHP_EBAD, "invalid Transfer-Encoding");
        if (s->te_chunked > 1)
            return rhp_fail(req, RHP_EBAD, "chunked applied twice");
        if (!s->te_last_chunked)
            return rhp_fail(req, RHP_EBAD, "chunked is not the final coding");
        if (s->te_other)
            return rhp_fail(req, RHP_ENOTIMPL, "unsupported transfer coding");
        req->body = RHP_BODY_CHUNKED;
    } else if (s->cl_seen) {
        if (s->cl > lim->max_body)
            return rhp_fail(req, RHP_ETOOBIG, "Content-Length over max_body");
        req->content_length = s->cl;
        req->body = s->cl ? RHP_BODY_LENGTH : RHP_BODY_NONE;
    }
    if (req->minor == 1) {
        req->keep_alive = !s->conn_close;
        req->expect_continue = s->expect;
    } else {
        req->keep_alive = s->conn_ka && !s->conn_close;
    }
    return 0;
}

static inline void rhp_req_init(struct rhp_request *req, struct rhp_header *hdrs)
{
    memset(req, 0, sizeof(*req));
    req->headers = hdrs;
}

static inline size_t rhp_max_head(const struct rhp_limits *lim)
{
    return lim->max_head < (uint32_t)INT_MAX ? lim->max_head : (uint32_t)INT_MAX;
}

#define RHP_NONE ((size_t)-1)

/* ---- the per-instruction-set instances ---- */
#define RHP_TEMPLATE 1

#define RHP_FN(x)       x##_scalar
#define RHP_ATTR        /* baseline */
#define RHP_SCAN_TOKEN  rhp_token_scalar
#define RHP_SCAN_TARGET rhp_target_scalar
#define RHP_SCAN_VALUE  rhp_value_scalar
#define RHP_SCAN_CRLF   rhp_crlf_scalar
#include "parse.c"
#undef RHP_FN
#undef RHP_ATTR
#undef RHP_SCAN_TOKEN
#undef RHP_SCAN_TARGET
#undef RHP_SCAN_VALUE
#undef RHP_SCAN_CRLF

#if defined(__x86_64__)
#define RHP_FN(x)       x##_sse42
#define RHP_ATTR        RHP_SSE42
#define RHP_SCAN_TOKEN  rhp_token_sse42
#define RHP_SCAN_TARGET rhp_target_sse42
#define RHP_SCAN_VALUE  rhp_value_sse42
#define RHP_SCAN_CRLF   rhp_crlf_sse42
#include "parse.c"
#undef RHP_FN
#undef RHP_ATTR
#undef RHP_SCAN_TOKEN
#undef RHP_SCAN_TARGET
#undef RHP_SCAN_VALUE
#undef RHP_SCAN_CRLF

#define RHP_FN(x)       x##_avx2
#define RHP_ATTR        RHP_AVX2
#define RHP_SCAN_TOKEN  rhp_token_avx2
#define RHP_SCAN_TARGET rhp_target_avx2
#define RHP_SCAN_VALUE  rhp_value_avx2
#define RHP_SCAN_CRLF   rhp_crlf_avx2
#include "parse.c"
#undef RHP_FN
#undef RHP_ATTR
#undef RHP_SCAN_TOKEN
#undef RHP_SCAN_TARGET
#undef RHP_SCAN_VALUE
#undef RHP_SCAN_CRLF
#endif

int rhp_impl_supported(enum rhp_impl impl)
{
    switch (impl) {
    case RHP_IMPL_SCALAR:
        return 1;
#if defined(__x86_64__)
    case RHP_IMPL_SSE42:
        return __builtin_cpu_supports("sse4.2") ? 1 : 0;
    case RHP_IMPL_AVX2:
        return __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    default:
        return 0;
    }
}

int rhp_parse_with(enum rhp_impl impl, const char *buf, size_t len, size_t scanned,
                   const struct rhp_limits *lim, struct rhp_request *req, struct rhp_header *hdrs)
{
#if defined(__x86_64__)
    if (impl == RHP_IMPL_AVX2 && __builtin_cpu_supports("avx2"))
        return rhp_run_avx2(buf, len, scanned, lim, req, hdrs);
    if (impl == RHP_IMPL_SSE42 && __builtin_cpu_supports("sse4.2"))
        return rhp_run_sse42(buf, len, scanned, lim, req, hdrs);
#endif
    (void)impl;
    return rhp_run_scalar(buf, len, scanned, lim, req, hdrs);
}

/* __builtin_cpu_supports reads the CPU model that libgcc's constructor
 * filled in before main: a load and a bit test, no state of our own. */
int rhp_parse(const char *buf, size_t len, size_t scanned, const struct rhp_limits *lim,
              struct rhp_request *req, struct rhp_header *hdrs)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2"))
        return rhp_run_avx2(buf, len, scanned, lim, req, hdrs);
    if (__builtin_cpu_supports("sse4.2"))
        return rhp_run_sse42(buf, len, scanned, lim, req, hdrs);
#endif
    return rhp_run_scalar(buf, len, scanned, lim, req, hdrs);
}

const struct rhp_header *rhp_find(const struct rhp_request *req, const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const struct rhp_header *h = &req->headers[i];
        if (h->name_len != name_len)
            continue;
        size_t k = 0;
        while (k < name_len &&
               rhp_lower((unsigned char)h->name[k]) == rhp_lower((unsigned char)name[k]))
            k++;
        if (k == name_len)
            return h;
    }
    return NULL;
}

/* ---- chunked decoder ---- */

enum {
    CS_SIZE,         /* chunk-size digits */
    CS_EXT_PRE,      /* after the size or a complete extension */
    CS_EXT_BWS,      /* BWS before ";" */
    CS_EXT_NAME_PRE, /* after ";" */
    CS_EXT_NAME,
    CS_EXT_NAME_BWS, /* BWS after a name: "=" or ";" must follow */
    CS_EXT_VAL_PRE,  /* after "=" */
    CS_EXT_TOKVAL,
    CS_EXT_QS, /* inside a quoted-string */
    CS_EXT_QP, /* after a backslash in it */
    CS_SIZE_LF,
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_TR_START, /* start of a trailer line (or the final CRLF) */
    CS_TR_NAME,
    CS_TR_VALUE,
    CS_TR_LF,
    CS_END_LF,
    CS_DONE,
    CS_ERR_BAD,
    CS_ERR_BIG,
    CS_ERR_FIELDS,
};

enum { RHP_CHUNK_LINE_MAX = 4096, RHP_CHUNK_DIGITS_MAX = 16 };

void rhp_chunked_init(struct rhp_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CS_SIZE;
}

static inline int rhp_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int rhp_chunk_err(struct rhp_chunked *c, uint32_t state)
{
    c->state = state;
    return state == CS_ERR_BIG ? RHP_ETOOBIG : state == CS_ERR_FIELDS ? RHP_EFIELDS : RHP_EBAD;
}

static inline int rhp_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

int rhp_chunked_decode(struct rhp_chunked *c, const struct rhp_limits *lim, const char *in,
                       size_t len, size_t *consumed, const char **data, size_t *data_len)
{
    size_t i = 0;
    *data = NULL;
    *data_len = 0;
    for (;;) {
        switch (c->state) {
        case CS_DONE:
            *consumed = i;
            return RHP_CHUNK_DONE;
        case CS_ERR_BAD:
        case CS_ERR_BIG:
        case CS_ERR_FIELDS:
            *consumed = i;
            return rhp_chunk_err(c, c->state);
        case CS_DATA: {
            if (i == len) {
                *consumed = i;
                return RHP_CHUNK_NEED;
            }
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            *data = in + i;
            *data_len = n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            *consumed = i + n;
            return RHP_CHUNK_DATA;
        }
        default:
            break;
        }
        if (i == len) {
            *consumed = i;
            return RHP_CHUNK_NEED;
        }
        unsigned char ch = (unsigned char)in[i++];
        /* the size line (with extensions) is capped; trailers count
         * against max_head */
        if (c->state < CS_SIZE_LF || c->state == CS_SIZE_LF) {
            if (++c->line_len > RHP_CHUNK_LINE_MAX) {
                *consumed = i;
                return rhp_chunk_err(c, CS_ERR_BAD);
            }
        } else if (c->state >= CS_TR_START) {
            if (++c->line_len > lim->max_head) {
                *consumed = i;
                return rhp_chunk_err(c, CS_ERR_FIELDS);
            }
        }
        uint32_t st = c->state, next = CS_ERR_BAD;
        switch (st) {
        case CS_SIZE: {
            int h = rhp_hex(ch);
            if (h >= 0) {
                if (++c->digits > RHP_CHUNK_DIGITS_MAX)
                    break;
                c->remaining = c->remaining << 4 | (uint64_t)h;
                next = CS_SIZE;
                break;
            }
            if (c->digits == 0)
                break;
            /* the size is known: check the total before any data
             * (total <= max_body holds, so the subtraction is safe) */
            if (c->remaining > lim->max_body - c->total) {
                *consumed = i;
                return rhp_chunk_err(c, CS_ERR_BIG);
            }
        }
            /* the byte after the digits is handled as after an extension */
            /* fall through */
        case CS_EXT_PRE:
            if (ch == '\r')
                next = CS_SIZE_LF;
            else if (ch == ';')
                next = CS_EXT_NAME_PRE;
            else if (rhp_ows((char)ch))
                next = CS_EXT_BWS;
            break;
        case CS_EXT_BWS:
            if (rhp_ows((char)ch))
                next = CS_EXT_BWS;
            else if (ch == ';')
                next = CS_EXT_NAME_PRE;
            break;
        case CS_EXT_NAME_PRE:
            if (rhp_ows((char)ch))
                next = CS_EXT_NAME_PRE;
            else if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_EXT_NAME;
            break;
        case CS_EXT_NAME:
            if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_EXT_NAME;
            else if (rhp_ows((char)ch))
                next = CS_EXT_NAME_BWS;
            else if (ch == '=')
                next = CS_EXT_VAL_PRE;
            else if (ch == ';')
                next = CS_EXT_NAME_PRE;
            else if (ch == '\r')
                next = CS_SIZE_LF;
            break;
        case CS_EXT_NAME_BWS:
            if (rhp_ows((char)ch))
                next = CS_EXT_NAME_BWS;
            else if (ch == '=')
                next = CS_EXT_VAL_PRE;
            else if (ch == ';')
                next = CS_EXT_NAME_PRE;
            break;
        case CS_EXT_VAL_PRE:
            if (rhp_ows((char)ch))
                next = CS_EXT_VAL_PRE;
            else if (ch == '"')
                next = CS_EXT_QS;
            else if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_EXT_TOKVAL;
            break;
        case CS_EXT_TOKVAL:
            if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_EXT_TOKVAL;
            else if (rhp_ows((char)ch))
                next = CS_EXT_BWS;
            else if (ch == ';')
                next = CS_EXT_NAME_PRE;
            else if (ch == '\r')
                next = CS_SIZE_LF;
            break;
        case CS_EXT_QS:
            if (ch == '"')
                next = CS_EXT_PRE;
            else if (ch == '\\')
                next = CS_EXT_QP;
            else if (rhp_qdtext(ch))
                next = CS_EXT_QS;
            break;
        case CS_EXT_QP:
            if (ch == '\t' || ch == ' ' || (ch >= 0x21 && ch != 0x7f))
                next = CS_EXT_QS;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                break;
            c->line_len = 0;
            c->digits = 0;
            if (c->remaining == 0) {
                next = CS_TR_START;
            } else {
                c->total += c->remaining;
                next = CS_DATA;
            }
            break;
        case CS_DATA_CR:
            if (ch == '\r')
                next = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (ch == '\n') {
                c->remaining = 0;
                next = CS_SIZE;
            }
            break;
        case CS_TR_START:
            if (ch == '\r')
                next = CS_END_LF;
            else if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_TR_NAME;
            break;
        case CS_TR_NAME:
            if (rhp_cls[ch] & RHP_C_TCHAR)
                next = CS_TR_NAME;
            else if (ch == ':')
                next = CS_TR_VALUE;
            break;
        case CS_TR_VALUE:
            if (ch == '\r')
                next = CS_TR_LF;
            else if (rhp_cls[ch] & RHP_C_VALUE)
                next = CS_TR_VALUE;
            break;
        case CS_TR_LF:
            if (ch == '\n')
                next = CS_TR_START;
            break;
        case CS_END_LF:
            if (ch == '\n')
                next = CS_DONE;
            break;
        }
        if (next == CS_ERR_BAD) {
            *consumed = i;
            return rhp_chunk_err(c, CS_ERR_BAD);
        }
        c->state = next;
    }
}

#else /* RHP_TEMPLATE: one parser instance, see the top of the file */

/* The head at buf[0, len): the head length, 0 if it does not end inside
 * len, or an error. */
static RHP_ATTR int RHP_FN(rhp_head)(const char *buf, size_t len, const struct rhp_limits *lim,
                                     struct rhp_request *req, struct rhp_header *hdrs)
{
    const char *end = buf + len;
    const char *p = buf + rhp_skip_empty(buf, len);
    const char *m = NULL;
    int mid = -1;

    rhp_req_init(req, hdrs);
    if (end - p >= 5) {
        uint32_t w = rhp_load32(p);
        if (w == RHP_STR4('G', 'E', 'T', ' ')) {
            mid = RHP_GET;
            m = p + 3;
        } else if (w == RHP_STR4('P', 'O', 'S', 'T') && p[4] == ' ') {
            mid = RHP_POST;
            m = p + 4;
        } else if (w == RHP_STR4('H', 'E', 'A', 'D') && p[4] == ' ') {
            mid = RHP_HEAD;
            m = p + 4;
        } else if (w == RHP_STR4('P', 'U', 'T', ' ')) {
            mid = RHP_PUT;
            m = p + 3;
        }
    }
    if (mid < 0) {
        m = RHP_SCAN_TOKEN(p, end);
        if (m == end)
            return 0;
        if (*m != ' ' || m == p)
            return rhp_fail(req, RHP_EBAD, "invalid method");
        mid = rhp_method_id(p, (size_t)(m - p));
    }
    req->method = p;
    req->method_len = (uint32_t)(m - p);
    req->method_id = (uint8_t)mid;

    const char *t = m + 1;
    const char *q = RHP_SCAN_TARGET(t, end);
    if ((size_t)(q - t) > lim->max_target)
        return rhp_fail(req, RHP_EURI, "request-target too long");
    if (q == end)
        return 0;
    if (*q != ' ') {
        if (*q == '\r' || *q == '\n')
            return rhp_fail(req, RHP_EBAD, "missing HTTP version");
        return rhp_fail(req, RHP_EBAD, "invalid character in request-target");
    }
    if (q == t)
        return rhp_fail(req, RHP_EBAD, "empty request-target");

    const char *v = q + 1;
    if (end - v >= 10 && rhp_load64(v) == rhp_load64("HTTP/1.1") && v[8] == '\r' && v[9] == '\n') {
        req->minor = 1;
        p = v + 10;
    } else {
        int r = rhp_version(v, end, &req->minor, &p, req);
        if (r <= 0)
            return r;
    }
    if (rhp_target(req, mid, t, (size_t)(q - t)) < 0)
        return RHP_EBAD;

    struct rhp_sem s;
    memset(&s, 0, sizeof(s));
    uint32_t n = 0;
    for (;;) {
        if (p == end)
            return 0;
        if (*p == '\r') {
            if (p + 1 == end)
                return 0;
            if (p[1] != '\n')
                return rhp_fail(req, RHP_EBAD, "bare CR");
            p += 2;
            break;
        }
        if (rhp_ows(*p))
            return rhp_fail(req, RHP_EBAD, "obs-fold");
        const char *ne = RHP_SCAN_TOKEN(p, end);
        if (ne == end)
            return 0;
        if (*ne != ':') {
            if (rhp_ows(*ne))
                return rhp_fail(req, RHP_EBAD, "whitespace before colon");
            if (*ne == '\n')
                return rhp_fail(req, RHP_EBAD, "bare LF");
            return rhp_fail(req, RHP_EBAD, "invalid field name");
        }
        if (ne == p)
            return rhp_fail(req, RHP_EBAD, "empty field name");
        if (n == lim->max_headers)
            return rhp_fail(req, RHP_EFIELDS, "too many header fields");
        const char *vb = ne + 1;
        while (vb < end && rhp_ows(*vb))
            vb++;
        if (vb == end)
            return 0;
        const char *ve = RHP_SCAN_VALUE(vb, end);
        if (ve == end)
            return 0;
        if (*ve != '\r')
            return rhp_fail(req, RHP_EBAD,
                            *ve == '\n' ? "bare LF" : "invalid character in field value");
        if (ve + 1 == end)
            return 0;
        if (ve[1] != '\n')
            return rhp_fail(req, RHP_EBAD, "bare CR");
        const char *next = ve + 2;
        while (ve > vb && rhp_ows(ve[-1]))
            ve--;
        struct rhp_header *h = &hdrs[n++];
        h->name = p;
        h->name_len = (uint32_t)(ne - p);
        h->value = vb;
        h->value_len = (uint32_t)(ve - vb);
        if (rhp_field(&s, p, (size_t)(ne - p), vb, (size_t)(ve - vb), req) < 0)
            return RHP_EBAD;
        p = next;
    }
    req->nheaders = n;
    int r = rhp_finish(&s, lim, req);
    if (r < 0)
        return r;
    req->head_len = (uint32_t)(p - buf);
    return (int)(p - buf);
}

/* Early 414: the prefix length at which the target is certainly too
 * long, or RHP_NONE. Too long is over max_target, or running into
 * max_head: a request-line that cannot fit because of its target is
 * answered 414 rather than 431. Looks at no more than the method and
 * max_target + 1 target bytes. */
static RHP_ATTR size_t RHP_FN(rhp_early414)(const char *buf, size_t start, size_t len,
                                            const struct rhp_limits *lim)
{
    const char *end = buf + len;
    const char *m = RHP_SCAN_TOKEN(buf + start, end);
    if (m == end || *m != ' ')
        return RHP_NONE;
    const char *t = m + 1;
    size_t max_head = rhp_max_head(lim), at = (size_t)(t - buf);
    if (at >= max_head)
        return RHP_NONE;
    size_t cap = (size_t)lim->max_target + 1;
    if (cap > max_head - at)
        cap = max_head - at;
    if ((size_t)(end - t) < cap)
        return RHP_NONE;
    if (RHP_SCAN_TARGET(t, t + cap) != t + cap)
        return RHP_NONE;
    return at + cap;
}

/* The canonical route (see the top of the file). */
static RHP_ATTR int RHP_FN(rhp_canon)(const char *buf, size_t len, size_t scanned,
                                      const struct rhp_limits *lim, struct rhp_request *req,
                                      struct rhp_header *hdrs)
{
    size_t max_head = rhp_max_head(lim);
    size_t start = rhp_skip_empty(buf, len);
    size_t scan_end = len < max_head ? len : max_head;
    size_t from = scanned > 3 ? scanned - 3 : 0;
    if (from < start)
        from = start;
    const char *s = buf + start, *p = buf + from, *end = buf + scan_end;
    size_t head_end = 0, t_line = RHP_NONE;
    const char *why = NULL;
    while (p < end) {
        p = RHP_SCAN_CRLF(p, end);
        if (p == end)
            break;
        if (*p == '\r') {
            if (p + 1 == end)
                break;
            if (p[1] != '\n') {
                t_line = (size_t)(p + 2 - buf);
                why = "bare CR";
                break;
            }
            p++;
        } else if (p == s || p[-1] != '\r') {
            t_line = (size_t)(p + 1 - buf);
            why = "bare LF";
            break;
        }
        /* p is the LF of a CRLF */
        if (p - s >= 3 && p[-2] == '\n' && p[-3] == '\r') {
            head_end = (size_t)(p + 1 - buf);
            break;
        }
        p++;
    }
    size_t t414 = RHP_FN(rhp_early414)(buf, start, head_end ? head_end : len, lim);
    size_t t431 = (!head_end && len >= max_head) ? max_head : RHP_NONE;
    if (t_line != RHP_NONE || t414 != RHP_NONE || t431 != RHP_NONE) {
        rhp_req_init(req, hdrs);
        if (t_line <= t414 && t_line <= t431)
            return rhp_fail(req, RHP_EBAD, why);
        if (t414 <= t431)
            return rhp_fail(req, RHP_EURI, "request-target too long");
        return rhp_fail(req, RHP_EFIELDS, "head too large");
    }
    if (!head_end) {
        rhp_req_init(req, hdrs);
        return RHP_INCOMPLETE;
    }
    int r = RHP_FN(rhp_head)(buf, head_end, lim, req, hdrs);
    if (r == 0) /* cannot happen: the head ends at head_end */
        return rhp_fail(req, RHP_EBAD, "internal: head end mismatch");
    return r;
}

static RHP_ATTR int RHP_FN(rhp_run)(const char *buf, size_t len, size_t scanned,
                                    const struct rhp_limits *lim, struct rhp_request *req,
                                    struct rhp_header *hdrs)
{
    size_t max_head = rhp_max_head(lim);
    if (scanned > len)
        scanned = len;
    if (scanned == 0) {
        int r = RHP_FN(rhp_head)(buf, len < max_head ? len : max_head, lim, req, hdrs);
        if (r > 0 || (r == 0 && len < max_head))
            return r;
    }
    return RHP_FN(rhp_canon)(buf, len, scanned, lim, req, hdrs);
}

#endif /* RHP_TEMPLATE */
