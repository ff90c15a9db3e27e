/* The static file handler: unit tables for the path normaliser, the
 * Range parser, HTTP dates (strict RFC 9110 5.6.7: impossible, malformed
 * and future dates), If-None-Match / If-Match and MIME types (no I/O);
 * then end to end on both backends through a server started in-process
 * over a scratch tree: bodies and headers, HEAD, 304 by ETag and by date,
 * 412, 206 and 416, If-Range, directories (301, index.html, 403), 405,
 * the error answers' text bodies, traversal attempts (raw "..", %2e%2e,
 * %2f, NUL, symlinks out of the root, a FIFO) answered with 4xx while the
 * server keeps serving, and the open-file cache replacing entries under
 * concurrent load without leaking a descriptor or a byte. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/httpdate.h"
#include "http/static.h"
#include "http_client.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define T_LEAK_CHECK() T_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define T_LEAK_CHECK() ((void)0)
#endif

/* ---- the normaliser ---- */

struct norm_case {
    const char *in;
    size_t len; /* 0: strlen */
    int res;    /* length, or -errno */
    const char *out;
    int dir;
};

static const struct norm_case norm_cases[] = {
    {"", 0, 0, "", 0},
    {"/", 0, 0, "", 1},
    {"/a", 0, 1, "a", 0},
    {"/a/", 0, 1, "a", 1},
    {"//x", 0, 1, "x", 0},
    {"/a//b///c", 0, 5, "a/b/c", 0},
    {"/a/./b", 0, 3, "a/b", 0},
    {"/a/.", 0, 1, "a", 1},
    {"/a/b/..", 0, 1, "a", 1},
    {"/a/b/../c", 0, 3, "a/c", 0},
    {"/a/../..", 0, -EXDEV, NULL, 0},
    {"/../etc/passwd", 0, -EXDEV, NULL, 0},
    {"/..", 0, -EXDEV, NULL, 0},
    {"/%2e%2e/", 0, -EXDEV, NULL, 0},
    {"/%2E%2e/%2e%2E/etc/passwd", 0, -EXDEV, NULL, 0},
    {"/a/%2E%2e/b", 0, 1, "b", 0},
    {"/a/%2e/b", 0, 3, "a/b", 0},
    {"/..%2f", 0, -ENOENT, NULL, 0},
    {"/a%2fb", 0, -ENOENT, NULL, 0},
    {"/a%2Fb", 0, -ENOENT, NULL, 0},
    {"/.../x", 0, 5, ".../x", 0},
    {"/..a/b..", 0, 7, "..a/b..", 0},
    {"/%41%62c", 0, 3, "Abc", 0},
    {"/a%20b", 0, 3, "a b", 0},
    {"/%C3%A9", 0, 2, "\xc3\xa9", 0},
    {"/a%00b", 0, -EINVAL, NULL, 0},
    {"/a\0b", 4, -EINVAL, NULL, 0},
    {"/%", 0, -EINVAL, NULL, 0},
    {"/%4", 0, -EINVAL, NULL, 0},
    {"/%4/", 0, -EINVAL, NULL, 0},
    {"/%zz", 0, -EINVAL, NULL, 0},
    {"/%g0", 0, -EINVAL, NULL, 0},
    {"/a/b/../../..", 0, -EXDEV, NULL, 0},
    {"/a/b/../../", 0, 0, "", 1},
};

T_CASE(static_norm_table, 0)
{
    char out[RINGO_STATIC_PATH_MAX + 1];
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const struct norm_case *c = &norm_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        int dir = -1;
        int r = ringo__static_norm(c->in, len, out, sizeof(out), &dir);
        if (r != c->res)
            T_FAIL("norm(\"%s\") = %d, wanted %d", c->in, r, c->res);
        if (r >= 0 && (strcmp(out, c->out) != 0 || dir != c->dir))
            T_FAIL("norm(\"%s\") = \"%s\" dir %d, wanted \"%s\" dir %d", c->in, out, dir, c->out,
                   c->dir);
    }
}

T_CASE(static_norm_long, 0)
{
    /* over-long results: the buffer and the hard limit */
    size_t n = 3 * RINGO_STATIC_PATH_MAX;
    char *in = malloc(n + 1);
    T_ASSERT(in);
    for (size_t i = 0; i < n; i++)
        in[i] = i % 2 ? 'a' : '/';
    char small[16], out[RINGO_STATIC_PATH_MAX + 100];
    T_EQ(ringo__static_norm(in, n, small, sizeof(small), NULL), -ENAMETOOLONG);
    T_EQ(ringo__static_norm(in, n, out, sizeof(out), NULL), -ENAMETOOLONG);
    T_EQ(ringo__static_norm("/abc", 4, small, 4, NULL), 3);
    T_EQ(ringo__static_norm("/abcd", 5, small, 4, NULL), -ENAMETOOLONG);
    T_EQ(ringo__static_norm("/a", 2, small, 0, NULL), -ENAMETOOLONG);
    /* "a/" + ".." pairs never grow the result */
    size_t m = 0;
    for (int i = 0; i < 2000; i++)
        m += (size_t)sprintf(in + m, "/a/..");
    T_EQ(ringo__static_norm(in, m, small, sizeof(small), NULL), 0);
    free(in);
}

/* ---- ranges ---- */

struct range_case {
    const char *v;
    uint64_t size;
    int res;
    uint64_t first, last;
};

static const struct range_case range_cases[] = {
    {"bytes=0-0", 100, 1, 0, 0},
    {"bytes=0-99", 100, 1, 0, 99},
    {"bytes=0-", 100, 1, 0, 99},
    {"bytes=10-1000", 100, 1, 10, 99},
    {"bytes=99-", 100, 1, 99, 99},
    {"bytes=-1", 100, 1, 99, 99},
    {"bytes=-100", 100, 1, 0, 99},
    {"bytes=-1000", 100, 1, 0, 99},
    {"Bytes=5-6", 100, 1, 5, 6},
    {" bytes= 5-6 ", 100, 1, 5, 6},
    {"bytes=100-", 100, -1, 0, 0},
    {"bytes=100-200", 100, -1, 0, 0},
    {"bytes=-0", 100, -1, 0, 0},
    {"bytes=0-", 0, -1, 0, 0},
    {"bytes=-5", 0, -1, 0, 0},
    {"bytes=99999999999999999999999-", 100, -1, 0, 0},
    {"bytes=0-99999999999999999999999", 100, 1, 0, 99},
    {"bytes=-99999999999999999999999", 100, 1, 0, 99},
    {"bytes=18446744073709551615-", 100, -1, 0, 0},
    {"bytes=5-4", 100, 0, 0, 0},
    {"bytes=0-1,5-6", 100, 0, 0, 0},
    {"bytes=-1,-2", 100, 0, 0, 0},
    {"bytes=0-1,", 100, 0, 0, 0},
    {"bytes=", 100, 0, 0, 0},
    {"bytes=-", 100, 0, 0, 0},
    {"bytes=a-b", 100, 0, 0, 0},
    {"bytes=1", 100, 0, 0, 0},
    {"bytes=1-2x", 100, 0, 0, 0},
    {"bytes=+1-2", 100, 0, 0, 0},
    {"items=0-1", 100, 0, 0, 0},
    {"bytes 0-1", 100, 0, 0, 0},
    {"", 100, 0, 0, 0},
};

T_CASE(static_range_table, 0)
{
    for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const struct range_case *c = &range_cases[i];
        uint64_t f = 77, l = 77;
        int r = ringo__static_range(c->v, strlen(c->v), c->size, &f, &l);
        if (r != c->res)
            T_FAIL("range(\"%s\", %llu) = %d, wanted %d", c->v, (unsigned long long)c->size, r,
                   c->res);
        if (r == 1 && (f != c->first || l != c->last))
            T_FAIL("range(\"%s\") = %llu-%llu, wanted %llu-%llu", c->v, (unsigned long long)f,
                   (unsigned long long)l, (unsigned long long)c->first,
                   (unsigned long long)c->last);
    }
}

/* ---- HTTP dates ---- */

#define NOW_2026 1780000000LL /* Thu, 28 May 2026 20:26:40 GMT */

struct date_case {
    const char *v;
    int ok;
    int64_t t;
};

static const struct date_case date_cases[] = {
    /* the three forms (RFC 9110 5.6.7) */
    {"Sun, 06 Nov 1994 08:49:37 GMT", 1, 784111777},
    {"Sunday, 06-Nov-94 08:49:37 GMT", 1, 784111777},
    {"Sun Nov  6 08:49:37 1994", 1, 784111777},
    {"Sun Nov 06 08:49:37 1994", 1, 784111777}, /* date3 allows 2DIGIT too */
    {"Thu, 01 Jan 1970 00:00:00 GMT", 1, 0},
    {"Wed, 31 Dec 1969 23:59:59 GMT", 1, -1},
    {"Fri, 31 Dec 1999 23:59:59 GMT", 1, 946684799},
    {"Thu, 29 Feb 2024 00:00:00 GMT", 1, 1709164800},
    {"Tue, 29 Feb 2000 00:00:00 GMT", 1, 951782400},
    {"Sat, 31 Dec 2016 23:59:60 GMT", 1, 1483228800}, /* leap second: the next 00 */
    {"Thu, 28 May 2026 20:26:40 GMT", 1, NOW_2026},
    {"Fri, 01 Jan 2094 00:00:00 GMT", 1, 3913142400}, /* valid; "future" is the caller's */
    {"Thursday, 29-Feb-24 00:00:00 GMT", 1, 1709164800},
    /* RFC 850 years: within 50 years ahead of 2026 as is, beyond a century back */
    {"Wednesday, 01-Jan-70 00:00:00 GMT", 1, 3155760000},
    {"Friday, 06-Nov-76 00:00:00 GMT", 1, 3371846400},
    {"Sunday, 06-Nov-77 00:00:00 GMT", 1, 247622400},
    /* impossible dates */
    {"Sat, 31 Feb 2026 00:00:00 GMT", 0, 0},
    {"Mon, 30 Feb 2026 00:00:00 GMT", 0, 0},
    {"Wed, 29 Feb 2023 00:00:00 GMT", 0, 0},
    {"Mon, 29 Feb 2100 00:00:00 GMT", 0, 0}, /* a century, not a leap year */
    {"Thu, 31 Apr 2026 00:00:00 GMT", 0, 0},
    {"Sun, 00 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 32 Dec 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 24:00:00 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:60:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:61 GMT", 0, 0},
    {"Mon, 06 Nov 1994 08:49:37 GMT", 0, 0}, /* 6 Nov 1994 was a Sunday */
    {"Monday, 06-Nov-94 08:49:37 GMT", 0, 0},
    {"Mon Nov  6 08:49:37 1994", 0, 0},
    {"Sunday, 31-Feb-94 08:49:37 GMT", 0, 0},
    {"Sun Feb 30 08:49:37 1994", 0, 0},
    {"Sun Nov  0 08:49:37 1994", 0, 0},
    /* not the grammar: spacing, case, widths, zones, extra text */
    {"", 0, 0},
    {"yesterday", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37", 0, 0},
    {"Sun, 06 Foo 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT junk", 0, 0},
    {"Sun,  06 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06  Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994  08:49:37 GMT", 0, 0},
    {"Sun,06 Nov 1994 08:49:37 GMT", 0, 0},
    {" Sun, 06 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT ", 0, 0},
    {"Sun, 06\tNov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 6 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 94 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 01994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 8:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08-49-37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:3a GMT", 0, 0},
    {"Sun, 06 Nov +994 08:49:37 GMT", 0, 0},
    {"Sun, -6 Nov 1994 08:49:37 GMT", 0, 0},
    {"sun, 06 Nov 1994 08:49:37 GMT", 0, 0},
    {"SUN, 06 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 gmt", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 UTC", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 +0000", 0, 0},
    {"Sunday, 06 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06-Nov-94 08:49:37 GMT", 0, 0},
    {"Sunday, 06-Nov-1994 08:49:37 GMT", 0, 0},
    {"Sunday, 6-Nov-94 08:49:37 GMT", 0, 0},
    {"Sunday,  06-Nov-94 08:49:37 GMT", 0, 0},
    {"Sunday 06-Nov-94 08:49:37 GMT", 0, 0},
    {"sunday, 06-Nov-94 08:49:37 GMT", 0, 0},
    {"Sunday, 06-Nov-94 08:49:37", 0, 0},
    {"Sun Nov 6 08:49:37 1994", 0, 0},
    {"Sun Nov  6 08:49:37 94", 0, 0},
    {"Sun Nov  6 08:49:37 1994 GMT", 0, 0},
    {"Sun  Nov  6 08:49:37 1994", 0, 0},
    {"Sunday Nov  6 08:49:37 1994", 0, 0},
    {"Sun nov  6 08:49:37 1994", 0, 0},
    {"Sun Nov  6 08:49:37 1994\n", 0, 0},
};

T_CASE(static_date_table, 0)
{
    for (size_t i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
        const struct date_case *c = &date_cases[i];
        int64_t t = 12345;
        int r = ringo__http_date_parse(c->v, strlen(c->v), NOW_2026, &t);
        if (c->ok && (r != 0 || t != c->t))
            T_FAIL("parse(\"%s\") = %d, t %lld; wanted t %lld", c->v, r, (long long)t,
                   (long long)c->t);
        if (!c->ok && r != -EINVAL)
            T_FAIL("parse(\"%s\") = %d, t %lld; wanted -EINVAL", c->v, r, (long long)t);
    }
    /* a NUL inside is not the end */
    int64_t t;
    T_EQ(ringo__http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT\0", 30, NOW_2026, &t), -EINVAL);
    T_EQ(ringo__http_date_parse("Sun, 06 Nov 1994 08:49:37 G\0T", 29, NOW_2026, &t), -EINVAL);

    /* a date later than now is refused as a validator, now itself is not */
    const char *at_now = "Thu, 28 May 2026 20:26:40 GMT";
    T_EQ(ringo__static_date_before(at_now, 29, NOW_2026, &t), 0);
    T_EQ(t, NOW_2026);
    T_EQ(ringo__static_date_before(at_now, 29, NOW_2026 - 1, &t), -ERANGE);
    T_EQ(ringo__static_date_before("Fri, 01 Jan 2094 00:00:00 GMT", 29, NOW_2026, &t), -ERANGE);
    T_EQ(ringo__static_date_before("Sat, 31 Feb 2026 00:00:00 GMT", 29, NOW_2026, &t), -EINVAL);
}

T_CASE(static_date_format, 0)
{
    char d[30];
    ringo__http_date_fmt(784111777, d);
    T_ASSERT(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    ringo__http_date_fmt(0, d);
    T_ASSERT(strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
    ringo__http_date_fmt(-1, d);
    T_ASSERT(strcmp(d, "Wed, 31 Dec 1969 23:59:59 GMT") == 0);
    ringo__http_date_fmt(951782400 + 43200, d);
    T_ASSERT(strcmp(d, "Tue, 29 Feb 2000 12:00:00 GMT") == 0);
    ringo__http_date_fmt(INT64_MAX, d);
    T_ASSERT(strcmp(d, "Fri, 31 Dec 9999 23:59:59 GMT") == 0);
    ringo__http_date_fmt(INT64_MIN, d);
    T_ASSERT(strcmp(d, "Sat, 01 Jan 0000 00:00:00 GMT") == 0);
    /* against libc's calendar, and back through the parser */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        int64_t t = (int64_t)(t_rand(&seed) % 253402300800ULL); /* 1970..9999 */
        if (i < 4)
            t = (int64_t[]){68169600, 951868799, 4107542400, 253402300799}[i];
        struct tm tm;
        time_t tt = (time_t)t;
        T_ASSERT(gmtime_r(&tt, &tm));
        char want[64];
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        ringo__http_date_fmt(t, d);
        if (strcmp(d, want) != 0)
            T_FAIL("fmt(%lld) = \"%s\", libc says \"%s\"", (long long)t, d, want);
        int64_t back = -1;
        T_OK(ringo__http_date_parse(d, strlen(d), NOW_2026, &back));
        T_EQ(back, t);
    }
}

T_CASE(static_etags_mime, 0)
{
    const char *tag = "\"1-2-3\"";
    size_t tl = strlen(tag);
#define INM(s) ringo__static_inm_match(s, strlen(s), tag, tl)
    T_EQ(INM("\"1-2-3\""), 1);
    T_EQ(INM("W/\"1-2-3\""), 1);
    T_EQ(INM("\"x\", \"1-2-3\""), 1);
    T_EQ(INM("\"x\",W/\"1-2-3\" , \"y\""), 1);
    T_EQ(INM("*"), 1);
    T_EQ(INM("\"1-2-4\""), 0);
    T_EQ(INM("\"1-2-3"), 0);
    T_EQ(INM("1-2-3"), 0);
    T_EQ(INM(""), 0);
#undef INM
    /* If-Match compares strongly: a weak tag never matches */
#define IM(s) ringo__static_im_match(s, strlen(s), tag, tl)
    T_EQ(IM("\"1-2-3\""), 1);
    T_EQ(IM("\"x\", \"1-2-3\""), 1);
    T_EQ(IM("*"), 1);
    T_EQ(IM("W/\"1-2-3\""), 0);
    T_EQ(IM("\"x\", W/\"1-2-3\""), 0);
    T_EQ(IM("\"1-2-4\""), 0);
    T_EQ(IM(""), 0);
#undef IM

#define MIME(s) ringo__mime_type(s, strlen(s))
    T_ASSERT(strcmp(MIME("index.html"), "text/html; charset=utf-8") == 0);
    T_ASSERT(strcmp(MIME("a/b/STYLE.CSS"), "text/css; charset=utf-8") == 0);
    T_ASSERT(strcmp(MIME("x.tar.gz"), "application/gzip") == 0);
    T_ASSERT(strcmp(MIME("p.png"), "image/png") == 0);
    T_ASSERT(strcmp(MIME("f.woff2"), "font/woff2") == 0);
    T_ASSERT(strcmp(MIME("a.7z"), "application/x-7z-compressed") == 0);
    T_ASSERT(strcmp(MIME("z.zst"), "application/zstd") == 0);
    T_ASSERT(strcmp(MIME("noext"), "application/octet-stream") == 0);
    T_ASSERT(strcmp(MIME(".bashrc"), "application/octet-stream") == 0);
    T_ASSERT(strcmp(MIME("dir.d/file"), "application/octet-stream") == 0);
    T_ASSERT(strcmp(MIME("a/.hidden"), "application/octet-stream") == 0);
    T_ASSERT(strcmp(MIME("trailing."), "application/octet-stream") == 0);
    T_ASSERT(strcmp(MIME("x.unknownextension"), "application/octet-stream") == 0);
#undef MIME
}

/* ---- end to end ---- */

static char tmpdir[64];

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(p) < 0 ? -1 : 0;
}

static void put(const char *name, const void *data, size_t len)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    T_ASSERT(f);
    T_EQ(fwrite(data, 1, len, f), len);
    T_ASSERT(fclose(f) == 0);
}

static void make_tree(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/ringo-test-static-XXXXXX");
    T_ASSERT(mkdtemp(tmpdir));
    char p[PATH_MAX], q[PATH_MAX];
#define P(name) (snprintf(p, sizeof(p), "%s/%s", tmpdir, name), p)
    T_ASSERT(mkdir(P("www"), 0755) == 0);
    T_ASSERT(mkdir(P("www/sub"), 0755) == 0);
    T_ASSERT(mkdir(P("www/empty"), 0755) == 0);
    T_ASSERT(mkdir(P("www/a b"), 0755) == 0);
    put("www/hello.txt", "Hello, static world!\n", 21);
    put("www/sub/index.html", "<p>index</p>", 12);
    put("www/a b/c.css", "p{}", 3);
    put("secret.txt", "top secret", 10);
    size_t big = 1 << 20;
    char *b = malloc(big);
    T_ASSERT(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)(i * 131 + (i >> 9));
    put("www/big.bin", b, big);
    free(b);
    T_ASSERT(symlink("hello.txt", P("www/link_in")) == 0);
    T_ASSERT(symlink("/etc/passwd", P("www/link_out")) == 0);
    T_ASSERT(symlink("../secret.txt", P("www/link_up")) == 0);
    T_ASSERT(symlink("..", P("www/sub/dotdot")) == 0);
    T_ASSERT(symlink("../..", P("www/sub/up2")) == 0);
    T_ASSERT(mkfifo(P("www/fifo"), 0644) == 0);
    (void)q;
#undef P
}

struct fx {
    ringo_http_server *s;
    ringo_http_static *st;
    int port;
};

static void fx_start(struct fx *f, const char *prefix)
{
    char root[PATH_MAX];
    snprintf(root, sizeof(root), "%s/www", tmpdir);
    T_OK(ringo_http_static_new(root, prefix, &f->st));
    T_OK(ringo_http_server_new(NULL, &f->s));
    T_OK(ringo_http_route(f->s, NULL, prefix, RINGO_HTTP_PREFIX, ringo_http_static_handler, f->st));
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    T_OK(ringo_http_start(f->s, &a, &f->port));
}

static void fx_stop(struct fx *f)
{
    T_OK(ringo_http_shutdown(f->s, ringo_deadline_in(5LL * 1000000000)));
    ringo_http_server_free(f->s);
    ringo_http_static_free(f->st);
}

/* One request on a fresh connection. */
static struct tc_resp get(int port, const char *req)
{
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, port);
    tc_send(c, req, strlen(req));
    struct tc_resp r;
    int e = tc_read(c, &r, !strncmp(req, "HEAD ", 5));
    if (e < 0)
        T_FAIL("reading the response to %.60s: %s", req, ringo_strerror(e));
    tc_close(c);
    free(c);
    return r;
}

static void expect(int port, const char *req, int status)
{
    struct tc_resp r = get(port, req);
    if (r.status != status)
        T_FAIL("%.70s: status %d, wanted %d", req, r.status, status);
    tc_resp_free(&r);
}

static void expect_4xx(int port, const char *req)
{
    struct tc_resp r = get(port, req);
    if (r.status < 400 || r.status > 499)
        T_FAIL("%.70s: status %d, wanted 4xx", req, r.status);
    if (r.body_len)
        T_ASSERT(!strstr(r.body, "root:") && !strstr(r.body, "top secret"));
    tc_resp_free(&r);
}

static void hdr_is(const struct tc_resp *r, const char *name, const char *want)
{
    char v[512];
    if (!tc_header(r, name, v, sizeof(v)))
        T_FAIL("no %s header in:\n%s", name, r->head);
    if (strcmp(v, want) != 0)
        T_FAIL("%s: \"%s\", wanted \"%s\"", name, v, want);
}

#define REQ(path, extra) "GET " path " HTTP/1.1\r\nHost: x\r\n" extra "\r\n"

static void t_basic(void *arg)
{
    (void)arg;
    struct fx f;
    fx_start(&f, "/");
    struct tc_resp r = get(f.port, REQ("/hello.txt", ""));
    T_EQ(r.status, 200);
    T_EQ(r.body_len, 21);
    T_ASSERT(memcmp(r.body, "Hello, static world!\n", 21) == 0);
    hdr_is(&r, "Content-Type", "text/plain; charset=utf-8");
    hdr_is(&r, "Content-Length", "21");
    hdr_is(&r, "Accept-Ranges", "bytes");
    char etag[128], lm[64];
    T_ASSERT(tc_header(&r, "ETag", etag, sizeof(etag)) && etag[0] == '"');
    T_ASSERT(tc_header(&r, "Last-Modified", lm, sizeof(lm)) && strlen(lm) == 29);
    tc_resp_free(&r);

    /* HEAD: the same headers, no body */
    r = get(f.port, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    T_EQ(r.status, 200);
    T_EQ(r.body_len, 0);
    hdr_is(&r, "Content-Length", "21");
    hdr_is(&r, "ETag", etag);
    tc_resp_free(&r);

    /* 1 MiB byte for byte */
    r = get(f.port, REQ("/big.bin", ""));
    T_EQ(r.status, 200);
    T_EQ(r.body_len, 1 << 20);
    for (size_t i = 0; i < r.body_len; i++)
        if (r.body[i] != (char)(i * 131 + (i >> 9)))
            T_FAIL("big.bin differs at %zu", i);
    hdr_is(&r, "Content-Type", "application/octet-stream");
    tc_resp_free(&r);

    /* directories, index.html, symlinks inside, encoded names */
    r = get(f.port, REQ("/sub", ""));
    T_EQ(r.status, 301);
    hdr_is(&r, "Location", "/sub/");
    tc_resp_free(&r);
    r = get(f.port, REQ("/a%20b?x=1", ""));
    T_EQ(r.status, 301);
    hdr_is(&r, "Location", "/a%20b/?x=1");
    tc_resp_free(&r);
    r = get(f.port, REQ("//evil.example", ""));
    T_EQ(r.status, 404);
    tc_resp_free(&r);
    r = get(f.port, REQ("/sub/", ""));
    T_EQ(r.status, 200);
    hdr_is(&r, "Content-Type", "text/html; charset=utf-8");
    T_ASSERT(r.body_len == 12 && memcmp(r.body, "<p>index</p>", 12) == 0);
    tc_resp_free(&r);
    expect(f.port, REQ("/empty/", ""), 403);
    expect(f.port, REQ("/", ""), 403);
    expect(f.port, REQ("/link_in", ""), 200);
    expect(f.port, REQ("/a%20b/c.css", ""), 200);
    expect(f.port, REQ("/a%20b/./c.css", ""), 200);
    expect(f.port, REQ("/sub/../hello.txt", ""), 200);
    expect(f.port, REQ("/hello.txt/", ""), 404);
    expect(f.port, REQ("/nope", ""), 404);
    expect(f.port, "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405);
    r = get(f.port, "DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    T_EQ(r.status, 405);
    hdr_is(&r, "Allow", "GET, HEAD");
    tc_resp_free(&r);
    fx_stop(&f);
}

T_CASE(static_basic, T_IO)
{
    make_tree();
    t_run(1, t_basic, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static void t_conditional(void *arg)
{
    (void)arg;
    struct fx f;
    fx_start(&f, "/");
    struct tc_resp r = get(f.port, REQ("/hello.txt", ""));
    char etag[128], lm[64], req[512];
    T_ASSERT(tc_header(&r, "ETag", etag, sizeof(etag)));
    T_ASSERT(tc_header(&r, "Last-Modified", lm, sizeof(lm)));
    tc_resp_free(&r);

    snprintf(req, sizeof(req), REQ("/hello.txt", "If-None-Match: %s\r\n"), etag);
    r = get(f.port, req);
    T_EQ(r.status, 304);
    T_EQ(r.body_len, 0);
    hdr_is(&r, "ETag", etag);
    tc_resp_free(&r);
    snprintf(req, sizeof(req), REQ("/hello.txt", "If-None-Match: \"zz\", W/%s\r\n"), etag);
    expect(f.port, req, 304);
    expect(f.port, REQ("/hello.txt", "If-None-Match: *\r\n"), 304);
    expect(f.port, REQ("/hello.txt", "If-None-Match: \"other\"\r\n"), 200);
    /* If-None-Match wins over If-Modified-Since */
    snprintf(req, sizeof(req),
             REQ("/hello.txt", "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n"), lm);
    expect(f.port, req, 200);
    snprintf(req, sizeof(req), REQ("/hello.txt", "If-Modified-Since: %s\r\n"), lm);
    expect(f.port, req, 304);
    expect(f.port, REQ("/hello.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), 200);
    expect(f.port, REQ("/hello.txt", "If-Modified-Since: garbage\r\n"), 200);

    /* ranges */
    r = get(f.port, REQ("/hello.txt", "Range: bytes=7-12\r\n"));
    T_EQ(r.status, 206);
    T_ASSERT(r.body_len == 6 && memcmp(r.body, "static", 6) == 0);
    hdr_is(&r, "Content-Range", "bytes 7-12/21");
    tc_resp_free(&r);
    r = get(f.port, REQ("/hello.txt", "Range: bytes=-7\r\n"));
    T_EQ(r.status, 206);
    T_ASSERT(r.body_len == 7 && memcmp(r.body, "world!\n", 7) == 0);
    hdr_is(&r, "Content-Range", "bytes 14-20/21");
    tc_resp_free(&r);
    r = get(f.port, REQ("/big.bin", "Range: bytes=1000-\r\n"));
    T_EQ(r.status, 206);
    T_EQ(r.body_len, (1 << 20) - 1000);
    for (size_t i = 0; i < r.body_len; i++)
        if (r.body[i] != (char)((i + 1000) * 131 + ((i + 1000) >> 9)))
            T_FAIL("range of big.bin differs at %zu", i);
    tc_resp_free(&r);
    r = get(f.port, REQ("/hello.txt", "Range: bytes=21-\r\n"));
    T_EQ(r.status, 416);
    hdr_is(&r, "Content-Range", "bytes */21");
    tc_resp_free(&r);
    r = get(f.port, REQ("/hello.txt", "Range: bytes=0-1,5-6\r\n"));
    T_EQ(r.status, 200);
    T_EQ(r.body_len, 21);
    tc_resp_free(&r);
    expect(f.port, REQ("/hello.txt", "Range: bytes=5-1\r\n"), 200);
    /* If-Range: the range only for the current version */
    snprintf(req, sizeof(req), REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: %s\r\n"), etag);
    expect(f.port, req, 206);
    expect(f.port, REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n"), 200);
    snprintf(req, sizeof(req), REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: W/%s\r\n"), etag);
    expect(f.port, req, 200);
    snprintf(req, sizeof(req), REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: %s\r\n"), lm);
    expect(f.port, req, 206);
    expect(f.port,
           REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
           200);
    /* a changed file gets a new ETag */
    put("www/hello.txt", "Hello, static world?\n", 21);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/www/hello.txt", tmpdir);
    /* a Wednesday (1970-01-07 00:16:40 UTC): If-Range must not take its
     * date, "Wed, ...", for a weak ETag */
    struct timespec ts[2] = {{0, UTIME_OMIT}, {6 * 86400 + 1000, 0}};
    T_ASSERT(utimensat(AT_FDCWD, p, ts, 0) == 0);
    /* the open-file cache trusts an entry for 1 s (like nginx's
     * open_file_cache_valid): after that the change is seen */
    ringo_sleep(1100 * 1000000LL);
    snprintf(req, sizeof(req), REQ("/hello.txt", "If-None-Match: %s\r\n"), etag);
    expect(f.port, req, 200);
    r = get(f.port, REQ("/hello.txt", ""));
    hdr_is(&r, "Last-Modified", "Wed, 07 Jan 1970 00:16:40 GMT");
    tc_resp_free(&r);
    expect(f.port,
           REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: Wed, 07 Jan 1970 00:16:40 GMT\r\n"),
           206);
    fx_stop(&f);
}

T_CASE(static_conditional_range, T_IO)
{
    make_tree();
    t_run(1, t_conditional, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static void t_traversal(void *arg)
{
    (void)arg;
    struct fx f;
    fx_start(&f, "/");
    const char *attacks[] = {
        REQ("/../secret.txt", ""),
        REQ("/../../../../etc/passwd", ""),
        REQ("/%2e%2e/%2e%2e/etc/passwd", ""),
        REQ("/%2E%2E/secret.txt", ""),
        REQ("/sub/../../secret.txt", ""),
        REQ("/..%2fsecret.txt", ""),
        REQ("/%2e%2e%2fsecret.txt", ""),
        REQ("/sub%2f..%2f..%2fsecret.txt", ""),
        REQ("/hello.txt%00.html", ""),
        REQ("/%", ""),
        REQ("/%zz", ""),
        REQ("/link_out", ""),
        REQ("/link_up", ""),
        REQ("/sub/dotdot/secret.txt", ""),
        REQ("/sub/up2/etc/passwd", ""),
        REQ("/fifo", ""),
        "GET /..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        expect_4xx(f.port, attacks[i]);
        /* and the server keeps serving */
        expect(f.port, REQ("/hello.txt", ""), 200);
    }
    /* "sub/dotdot" is a symlink to the root itself: inside, allowed */
    expect(f.port, REQ("/sub/dotdot/hello.txt", ""), 200);
    fx_stop(&f);

    /* a url_prefix: stripped, and paths outside it are not served */
    fx_start(&f, "/static/");
    expect(f.port, REQ("/static/hello.txt", ""), 200);
    expect(f.port, REQ("/static/sub/", ""), 200);
    struct tc_resp r = get(f.port, REQ("/static", ""));
    T_ASSERT(r.status == 301 || r.status == 404);
    if (r.status == 301)
        hdr_is(&r, "Location", "/static/");
    tc_resp_free(&r);
    r = get(f.port, REQ("/static/sub", ""));
    T_EQ(r.status, 301);
    hdr_is(&r, "Location", "/static/sub/");
    tc_resp_free(&r);
    expect_4xx(f.port, REQ("/hello.txt", ""));
    expect_4xx(f.port, REQ("/static/../secret.txt", ""));
    expect_4xx(f.port, REQ("/static/%2e%2e/secret.txt", ""));
    fx_stop(&f);
}

T_CASE(static_traversal, T_IO)
{
    make_tree();
    t_run(1, t_traversal, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* ---- error bodies and strict dates, end to end ---- */

/* status, Content-Type and body of an error answer: the router's form */
static void expect_error(int port, const char *req, int status, const char *body)
{
    struct tc_resp r = get(port, req);
    if (r.status != status)
        T_FAIL("%.70s: status %d, wanted %d", req, r.status, status);
    hdr_is(&r, "Content-Type", "text/plain; charset=utf-8");
    int head = !strncmp(req, "HEAD ", 5);
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", strlen(body));
    hdr_is(&r, "Content-Length", cl);
    if (head)
        T_EQ(r.body_len, 0);
    else if (r.body_len != strlen(body) || memcmp(r.body, body, r.body_len) != 0)
        T_FAIL("%.70s: body \"%.*s\", wanted \"%s\"", req, (int)r.body_len, r.body, body);
    tc_resp_free(&r);
}

static void t_errors(void *arg)
{
    (void)arg;
    struct fx f;
    fx_start(&f, "/static/");
    expect_error(f.port, REQ("/static/%zz", ""), 400, "400 Bad Request\n");
    expect_error(f.port, REQ("/static/a%00b", ""), 400, "400 Bad Request\n");
    expect_error(f.port, REQ("/static/../secret.txt", ""), 403, "403 Forbidden\n");
    expect_error(f.port, REQ("/static/link_out", ""), 403, "403 Forbidden\n");
    expect_error(f.port, REQ("/static/empty/", ""), 403, "403 Forbidden\n");
    expect_error(f.port, REQ("/static/fifo", ""), 403, "403 Forbidden\n");
    expect_error(f.port, REQ("/static/nope", ""), 404, "404 Not Found\n");
    expect_error(f.port, REQ("/static/a%2fb", ""), 404, "404 Not Found\n");
    expect_error(f.port, REQ("/static/hello.txt/", ""), 404, "404 Not Found\n");
    expect_error(f.port, "HEAD /static/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "404 Not Found\n");
    expect_error(f.port, "DELETE /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 405,
                 "405 Method Not Allowed\n");
    struct tc_resp r = get(f.port, "PUT /static/hello.txt HTTP/1.1\r\nHost: x\r\n"
                                   "Content-Length: 0\r\n\r\n");
    T_EQ(r.status, 405);
    hdr_is(&r, "Allow", "GET, HEAD");
    tc_resp_free(&r);
    /* a decoded path over RINGO_STATIC_PATH_MAX, within the server's
     * request-target limit (8192) */
    size_t n = RINGO_STATIC_PATH_MAX + 100;
    char *req = malloc(n + 64);
    T_ASSERT(req);
    size_t o = (size_t)sprintf(req, "GET /static/");
    for (size_t i = 0; i < n; i++)
        req[o++] = i % 8 == 7 ? '/' : 'a';
    o += (size_t)sprintf(req + o, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(f.port, req, 414, "414 URI Too Long\n");
    free(req);
    /* and it still serves */
    expect(f.port, REQ("/static/hello.txt", ""), 200);
    fx_stop(&f);
}

T_CASE(static_error_bodies, T_IO)
{
    make_tree();
    t_run(1, t_errors, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static void set_mtime(const char *name, int64_t t)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {(time_t)t, 0}};
    T_ASSERT(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

#define IMS(d)   REQ("/hello.txt", "If-Modified-Since: " d "\r\n")
#define IUS(d)   REQ("/hello.txt", "If-Unmodified-Since: " d "\r\n")
#define RANGE(d) REQ("/hello.txt", "Range: bytes=0-4\r\nIf-Range: " d "\r\n")

static void t_dates(void *arg)
{
    (void)arg;
    /* hello.txt last changed on Sun, 06 Nov 1994 08:49:37 GMT; future.txt
     * carries a date in 2095 (a clock set wrong, an archive unpacked) */
    set_mtime("www/hello.txt", 784111777);
    put("www/future.txt", "from the future\n", 16);
    set_mtime("www/future.txt", 3958934400); /* Wed, 15 Jun 2095 */
    struct fx f;
    fx_start(&f, "/");
    struct tc_resp r = get(f.port, REQ("/hello.txt", ""));
    hdr_is(&r, "Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
    char etag[128], req[512];
    T_ASSERT(tc_header(&r, "ETag", etag, sizeof(etag)));
    tc_resp_free(&r);

    /* If-Modified-Since: the three forms, OWS around the value */
    expect(f.port, IMS("Sun, 06 Nov 1994 08:49:37 GMT"), 304);
    expect(f.port, IMS("Sunday, 06-Nov-94 08:49:37 GMT"), 304);
    expect(f.port, IMS("Sun Nov  6 08:49:37 1994"), 304);
    expect(f.port, IMS("  Sun, 06 Nov 1994 08:49:37 GMT \t"), 304);
    expect(f.port, IMS("Sun, 06 Nov 1994 08:49:36 GMT"), 200);
    expect(f.port, IMS("Wed, 01 Jan 2025 00:00:00 GMT"), 304);
    /* impossible or malformed dates are ignored: the full answer */
    expect(f.port, IMS("Fri, 31 Feb 2025 00:00:00 GMT"), 200);
    expect(f.port, IMS("Mon, 06 Nov 1994 08:49:37 GMT"), 200);
    expect(f.port, IMS("Sun,  06 Nov 1994 08:49:37 GMT"), 200);
    expect(f.port, IMS("Sun, 06 Nov 1994 08:49:37 gmt"), 200);
    expect(f.port, IMS("Sun, 06 Nov 1994 25:49:37 GMT"), 200);
    expect(f.port, IMS("Sun Nov 6 08:49:37 1994"), 200);
    /* a date in the future is ignored (it would hide every later change) */
    expect(f.port, IMS("Fri, 01 Jan 2094 00:00:00 GMT"), 200);
    expect(f.port, REQ("/future.txt", "If-Modified-Since: Sun, 01 Jan 2096 00:00:00 GMT\r\n"), 200);

    /* If-Unmodified-Since: 412 when the file changed after the date */
    expect(f.port, IUS("Sun, 06 Nov 1994 08:49:37 GMT"), 200);
    expect(f.port, IUS("Sunday, 06-Nov-94 08:49:37 GMT"), 200);
    expect_error(f.port, IUS("Sun, 06 Nov 1994 08:49:36 GMT"), 412, "412 Precondition Failed\n");
    expect_error(f.port, IUS("Sat Nov  5 08:49:37 1994"), 412, "412 Precondition Failed\n");
    expect(f.port, IUS("Sat, 31 Feb 1990 00:00:00 GMT"), 200); /* not a date: ignored */
    expect(f.port, IUS("garbage"), 200);
    /* a future date is ignored; taken, 2094 would be before the 2095 file */
    expect(f.port, REQ("/future.txt", "If-Unmodified-Since: Fri, 01 Jan 2094 00:00:00 GMT\r\n"),
           200);
    /* If-Match (strong) comes first and makes If-Unmodified-Since ignored */
    snprintf(req, sizeof(req), REQ("/hello.txt", "If-Match: %s\r\n"), etag);
    expect(f.port, req, 200);
    snprintf(req, sizeof(req),
             REQ("/hello.txt", "If-Match: %s\r\nIf-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 "
                               "GMT\r\n"),
             etag);
    expect(f.port, req, 200);
    expect(f.port, REQ("/hello.txt", "If-Match: *\r\n"), 200);
    expect_error(f.port, REQ("/hello.txt", "If-Match: \"other\"\r\n"), 412,
                 "412 Precondition Failed\n");
    snprintf(req, sizeof(req), REQ("/hello.txt", "If-Match: W/%s\r\n"), etag);
    expect(f.port, req, 412);

    /* If-Range: the exact date in any form; anything else the whole file */
    expect(f.port, RANGE("Sun, 06 Nov 1994 08:49:37 GMT"), 206);
    expect(f.port, RANGE("Sunday, 06-Nov-94 08:49:37 GMT"), 206);
    expect(f.port, RANGE("Sun Nov  6 08:49:37 1994"), 206);
    expect(f.port, RANGE("Sun, 06 Nov 1994 08:49:38 GMT"), 200);
    expect(f.port, RANGE("Sun, 06 Nov 1994  08:49:37 GMT"), 200);
    expect(f.port, RANGE("Mon, 06 Nov 1994 08:49:37 GMT"), 200);
    /* and it is not sent: Last-Modified is never after the answer's Date
     * (RFC 9110 8.8.2.1) */
    r = get(f.port, REQ("/future.txt", ""));
    char lm[64], date[64];
    T_ASSERT(tc_header(&r, "Last-Modified", lm, sizeof(lm)));
    T_ASSERT(tc_header(&r, "Date", date, sizeof(date)));
    int64_t tlm, tdate;
    T_OK(ringo__http_date_parse(lm, strlen(lm), (int64_t)time(NULL), &tlm));
    T_OK(ringo__http_date_parse(date, strlen(date), (int64_t)time(NULL), &tdate));
    if (tlm > tdate)
        T_FAIL("Last-Modified %s is after Date %s", lm, date);
    tc_resp_free(&r);
    /* the 2095 file's own Last-Modified is a future date: not a validator */
    expect(f.port,
           REQ("/future.txt", "Range: bytes=0-4\r\nIf-Range: Wed, 15 Jun 2095 00:00:00 GMT\r\n"),
           200);
    fx_stop(&f);
}

T_CASE(static_conditional_dates, T_IO)
{
    make_tree();
    t_run(1, t_dates, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* ---- the open-file cache under churn ---- */

/* Open descriptors of this process; with `under`, only those whose target
 * starts with it. */
static int count_fds(const char *under)
{
    DIR *d = opendir("/proc/self/fd");
    T_ASSERT(d);
    int n = 0, self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == self)
            continue;
        if (under) {
            char p[300], t[PATH_MAX];
            snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
            ssize_t l = readlink(p, t, sizeof(t) - 1);
            if (l < 0)
                continue;
            t[l] = 0;
            if (strncmp(t, under, strlen(under)) != 0)
                continue;
        }
        n++;
    }
    closedir(d);
    return n;
}

#define CHURN_FILES   4
#define CHURN_CLIENTS 32
#define CHURN_REQS    150

struct churn {
    int port;
    char body[CHURN_FILES][3000];
    int bad, ok, next;
};

static void churn_client(void *arg)
{
    struct churn *ch = arg;
    int f = ch->next++ % CHURN_FILES;
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, ch->port);
    char req[128];
    int n = snprintf(req, sizeof(req), "GET /f%d.txt HTTP/1.1\r\nHost: x\r\n\r\n", f);
    for (int i = 0; i < CHURN_REQS; i++) {
        tc_send(c, req, (size_t)n);
        struct tc_resp r;
        if (tc_read(c, &r, false) < 0 || r.status != 200 || r.body_len != sizeof(ch->body[f]) ||
            memcmp(r.body, ch->body[f], sizeof(ch->body[f])))
            ch->bad++;
        else
            ch->ok++;
        bool again = r.close;
        tc_resp_free(&r);
        if (again) {
            tc_close(c);
            tc_connect(c, ch->port);
        }
    }
    tc_close(c);
    free(c);
}

/* Many concurrent requests for a few small files on one worker while the
 * cache replaces its entries all the time (validity 0: every request
 * resolves again and publishes). Replacing an entry closes the old fd,
 * which parks on io_uring; a request that claimed the slot before that
 * close and filled it after used to overwrite the entry another request
 * had published meanwhile, leaking its fd, key and bytes (issue 13,
 * defect 10). Afterwards only the root and one entry per file may hold a
 * descriptor below the tree, and freeing everything brings the process
 * back to its starting count; under ASan, LeakSanitizer finds nothing. */
static void t_churn(void *arg)
{
    (void)arg;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/churn", tmpdir);
    T_ASSERT(mkdir(dir, 0755) == 0);
    struct churn *ch = calloc(1, sizeof(*ch));
    T_ASSERT(ch);
    for (int f = 0; f < CHURN_FILES; f++) {
        for (size_t i = 0; i < sizeof(ch->body[f]); i++)
            ch->body[f][i] = (char)('a' + (i * 7 + (size_t)f) % 26);
        char name[32];
        snprintf(name, sizeof(name), "churn/f%d.txt", f);
        put(name, ch->body[f], sizeof(ch->body[f]));
    }
    int base = count_fds(NULL);

    ringo_http_server *s;
    ringo_http_static *st;
    T_OK(ringo_http_static_new(dir, "/", &st));
    ringo__static_cache_valid(st, 0);
    T_OK(ringo_http_server_new(NULL, &s));
    T_OK(ringo_http_route(s, NULL, "/", RINGO_HTTP_PREFIX, ringo_http_static_handler, st));
    ringo_addr a;
    T_OK(ringo_addr_parse(&a, "127.0.0.1:0"));
    T_OK(ringo_http_start(s, &a, &ch->port));

    ringo_coro *cl[CHURN_CLIENTS];
    for (int i = 0; i < CHURN_CLIENTS; i++)
        T_OK(ringo_go(churn_client, ch, &cl[i]));
    for (int i = 0; i < CHURN_CLIENTS; i++)
        T_OK(ringo_join(cl[i], ringo_deadline_in(60LL * 1000000000)));
    T_EQ(ch->bad, 0);
    T_EQ(ch->ok, CHURN_CLIENTS * CHURN_REQS);
    int held = count_fds(dir);
    if (held > CHURN_FILES + 1)
        T_FAIL("%d descriptors below the tree after the load; at most %d are the root and "
               "the cache's entries",
               held, CHURN_FILES + 1);

    /* the cache at its normal validity still serves, from the entries left */
    ringo__static_cache_valid(st, 1000LL * 1000000000);
    struct tc_resp r = get(ch->port, "GET /f1.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    T_EQ(r.status, 200);
    T_ASSERT(r.body_len == sizeof(ch->body[1]) && !memcmp(r.body, ch->body[1], r.body_len));
    tc_resp_free(&r);

    T_OK(ringo_http_shutdown(s, ringo_deadline_in(5LL * 1000000000)));
    ringo_http_server_free(s);
    ringo_http_static_free(st);
    T_EQ(count_fds(dir), 0);
    T_EQ(count_fds(NULL), base);
    free(ch);
}

T_CASE(static_cache_churn_no_leak, T_IO)
{
    make_tree();
    t_run(1, t_churn, NULL);
    T_LEAK_CHECK();
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* Out of descriptors: 503 with Retry-After (the request is fine, the
 * server is busy), the connection and the server go on, and the file is
 * served once descriptors are free again. */
static void t_no_fds(void *arg)
{
    (void)arg;
    struct fx f;
    fx_start(&f, "/");
    struct tc_conn *c = malloc(sizeof(*c));
    T_ASSERT(c);
    tc_connect(c, f.port);
    struct tc_resp r;
    tc_send(c, REQ("/hello.txt", ""), strlen(REQ("/hello.txt", "")));
    T_OK(tc_read(c, &r, false));
    T_EQ(r.status, 200);
    tc_resp_free(&r);
    /* every descriptor taken: the next open of an uncached file fails */
    static int held[1 << 16];
    int n = 0;
    for (; n < (int)(sizeof(held) / sizeof(held[0])); n++) {
        held[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (held[n] < 0)
            break;
    }
    T_ASSERT(n > 0 && errno == EMFILE);
    const char *q = REQ("/sub/index.html", "");
    tc_send(c, q, strlen(q));
    int e = tc_read(c, &r, false);
    for (int i = 0; i < n; i++)
        close(held[i]);
    T_OK(e);
    if (r.status != 503)
        T_FAIL("out of descriptors: status %d, expected 503", r.status);
    hdr_is(&r, "Retry-After", "1");
    T_ASSERT(strcmp(r.body, "503 Service Unavailable\n") == 0);
    tc_resp_free(&r);
    /* descriptors free again: the same request succeeds on the same connection */
    tc_send(c, q, strlen(q));
    T_OK(tc_read(c, &r, false));
    T_EQ(r.status, 200);
    T_ASSERT(strcmp(r.body, "<p>index</p>") == 0);
    tc_resp_free(&r);
    tc_close(c);
    free(c);
    fx_stop(&f);
}

T_CASE(static_out_of_fds_503, T_IO)
{
    make_tree();
    /* a low limit, so taking every descriptor is quick */
    struct rlimit rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = 256;
    T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    t_run(1, t_no_fds, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}
