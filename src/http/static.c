/* Static files (ringo_http_static_* in ringo/http.h). A request path is
 * percent-decoded and normalised lexically first (ringo__static_norm: a
 * ".." above the root is refused before anything is opened), then opened
 * with ringo_open_beneath relative to an O_PATH fd of the root, so that
 * whatever the lexical step missed (symlinks out of the root, magic
 * links) the kernel refuses (-EXDEV). The body goes out with
 * ringo_http_body_file (sendfile). Validators: a strong ETag from size,
 * mtime (ns) and inode; Last-Modified. Conditional requests (If-Match,
 * If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range, in RFC
 * 9110 13.2.2's order; dates parsed strictly, a date in the future
 * ignored) and single byte ranges follow RFC 9110 13 and 14; multiple
 * ranges get the whole file (200), which RFC 9110 14.2 allows.
 *
 * Errors carry the router's small text body ("404 Not Found\n").
 * Answers: 400 bad escape or %00; 403 a ".." above the root (never
 * opened), a symlink out of it (-EXDEV), a magic link, no permission, a
 * non-regular file (FIFO, device), a directory without index.html (no
 * listings); 404 missing, "%2f" in a segment, "/file/"; 301 to the slash
 * form for a directory named without one (Location rebuilt from the
 * normalised path, so "//host" cannot become an open redirect); 405 with
 * "Allow: GET, HEAD"; 412 a false If-Match or If-Unmodified-Since; 414 a
 * decoded path over 4095 bytes. Dotfiles are served like any other file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ringo.h>

#include "http/fcache.h"
#include "http/httpdate.h"
#include "http/static.h"

struct ringo_http_static {
    int rootfd;   /* O_PATH | O_DIRECTORY: the tree's anchor */
    char *prefix; /* url_prefix without its trailing '/' ("" for "/") */
    size_t prefix_len;
    /* per-worker open-file caches, each created and used only by its own
     * worker (RINGO_STATIC_CACHE=0 turns them off) */
    struct fcache *cache[FC_WORKERS];
    int no_cache;
    int64_t valid_ns; /* how long an entry is trusted (FC_VALID_NS) */
};

/* Opens and stats are page-cache work or a disk read: bounded anyway so
 * a hung file system cannot hold a connection forever. */
#define FILE_TIMEOUT_NS (10LL * 1000000000)

/* ---- pure helpers (static.h) ---- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ringo__static_norm(const char *in, size_t len, char *out, size_t cap, int *dir)
{
    if (cap == 0)
        return -ENAMETOOLONG;
    size_t lim = cap - 1 < RINGO_STATIC_PATH_MAX ? cap - 1 : RINGO_STATIC_PATH_MAX;
    size_t o = 0, i = 0;
    int isdir = 0;
    while (i < len) {
        if (in[i] == '/') {
            i++;
            isdir = 1;
            continue;
        }
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t mark = o; /* where this segment's '/' goes */
        if (o) {
            if (o >= lim)
                return -ENAMETOOLONG;
            out[o++] = '/';
        }
        size_t seg = o;
        for (size_t j = start; j < i; j++) {
            unsigned char ch = (unsigned char)in[j];
            if (ch == '%') {
                int hi = j + 2 < i ? hexval((unsigned char)in[j + 1]) : -1;
                int lo = j + 2 < i ? hexval((unsigned char)in[j + 2]) : -1;
                if (hi < 0 || lo < 0)
                    return -EINVAL;
                ch = (unsigned char)(hi << 4 | lo);
                j += 2;
                if (ch == '/')
                    return -ENOENT;
            }
            if (ch == 0)
                return -EINVAL;
            if (o >= lim)
                return -ENAMETOOLONG;
            out[o++] = (char)ch;
        }
        size_t sl = o - seg;
        if (sl == 1 && out[seg] == '.') {
            o = mark;
            isdir = 1;
        } else if (sl == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            if (mark == 0)
                return -EXDEV; /* nothing left to climb out of */
            size_t k = mark;
            while (k > 0 && out[k - 1] != '/')
                k--;
            o = k ? k - 1 : 0;
            isdir = 1;
        } else {
            isdir = 0;
        }
    }
    out[o] = 0;
    if (dir)
        *dir = isdir;
    return (int)o;
}

static const char *ows(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Digits at *pp into *v, saturating at UINT64_MAX. Returns the number of
 * digits. */
static size_t digits(const char **pp, const char *e, uint64_t *v)
{
    const char *p = *pp;
    uint64_t x = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        p++;
    }
    size_t n = (size_t)(p - *pp);
    *pp = p;
    *v = x;
    return n;
}

int ringo__static_range(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p = v, *e = v + len;
    p = ows(p, e);
    if (e - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return 0;
    p = ows(p + 6, e);
    uint64_t a, b = 0;
    if (p < e && *p == '-') {
        p++;
        if (!digits(&p, e, &a))
            return 0;
        if (ows(p, e) != e)
            return 0; /* several ranges, or junk */
        if (a == 0 || size == 0)
            return -1;
        *first = a >= size ? 0 : size - a;
        *last = size - 1;
        return 1;
    }
    if (!digits(&p, e, &a) || p >= e || *p != '-')
        return 0;
    p++;
    int has_b = digits(&p, e, &b) > 0;
    if (ows(p, e) != e)
        return 0;
    if (has_b && b < a)
        return 0; /* invalid range-spec: the header is ignored */
    if (a >= size)
        return -1;
    *first = a;
    *last = !has_b || b >= size ? size - 1 : b;
    return 1;
}

/* An entity-tag list against etag (ours: strong, quoted). Strong
 * comparison: a W/ tag never matches; weak: the W/ is ignored. */
static int etag_list_match(const char *v, size_t len, const char *etag, size_t etag_len, int strong)
{
    const char *p = v, *e = v + len;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p >= e)
            break;
        if (*p == '*')
            return 1;
        int weak = e - p >= 2 && p[0] == 'W' && p[1] == '/';
        if (weak)
            p += 2;
        if (p >= e || *p != '"')
            return 0; /* malformed: no match */
        const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
        if (!q)
            return 0;
        size_t tl = (size_t)(q - p + 1);
        if (!(strong && weak) && tl == etag_len && memcmp(p, etag, tl) == 0)
            return 1;
        p = q + 1;
    }
    return 0;
}

int ringo__static_inm_match(const char *v, size_t len, const char *etag, size_t etag_len)
{
    return etag_list_match(v, len, etag, etag_len, 0);
}

int ringo__static_im_match(const char *v, size_t len, const char *etag, size_t etag_len)
{
    return etag_list_match(v, len, etag, etag_len, 1);
}

int ringo__static_date_before(const char *v, size_t len, int64_t now, int64_t *out)
{
    if (ringo__http_date_parse(v, len, now, out) < 0)
        return -EINVAL;
    /* RFC 9110 13.1.3/13.1.4: a date later than the server's clock is not
     * a valid validator (it would hide every later change) */
    return *out > now ? -ERANGE : 0;
}

/* ---- the handler ---- */

int ringo_http_static_new(const char *root, const char *url_prefix, ringo_http_static **out)
{
    if (!root || !out)
        return -EINVAL;
    if (!url_prefix)
        url_prefix = "/";
    if (url_prefix[0] != '/')
        return -EINVAL;
    struct ringo_http_static *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    size_t pl = strlen(url_prefix);
    while (pl > 0 && url_prefix[pl - 1] == '/')
        pl--;
    st->prefix = strndup(url_prefix, pl);
    if (!st->prefix) {
        free(st);
        return -ENOMEM;
    }
    st->prefix_len = pl;
    /* once, at set-up (maybe outside the runtime): a plain open */
    st->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->rootfd < 0) {
        int e = -errno;
        free(st->prefix);
        free(st);
        return e;
    }
    const char *nc = getenv("RINGO_STATIC_CACHE");
    st->no_cache = nc && !strcmp(nc, "0");
    st->valid_ns = FC_VALID_NS;
    *out = st;
    return 0;
}

void ringo__static_cache_valid(ringo_http_static *st, int64_t ns)
{
    st->valid_ns = ns;
}

void ringo_http_static_free(ringo_http_static *st)
{
    if (!st)
        return;
    for (int i = 0; i < FC_WORKERS; i++)
        fc_free(st->cache[i]);
    close(st->rootfd);
    free(st->prefix);
    free(st);
}

/* An error answer with the same small text body as the router's own 404
 * and 405 ("404 Not Found\n"), so a client sees one kind of error page. */
static int simple(ringo_http_resp *resp, int code)
{
    const char *body;
    switch (code) {
    case 400:
        body = "400 Bad Request\n";
        break;
    case 403:
        body = "403 Forbidden\n";
        break;
    case 404:
        body = "404 Not Found\n";
        break;
    case 405:
        body = "405 Method Not Allowed\n";
        break;
    case 412:
        body = "412 Precondition Failed\n";
        break;
    case 414:
        body = "414 URI Too Long\n";
        break;
    case 503:
        body = "503 Service Unavailable\n";
        break;
    default:
        code = 500;
        body = "500 Internal Server Error\n";
        break;
    }
    int r = ringo_http_status(resp, code);
    if (r >= 0)
        r = ringo_http_header_add(resp, "Content-Type", "text/plain; charset=utf-8");
    if (r >= 0 && code == 503)
        r = ringo_http_header_add(resp, "Retry-After", "1");
    if (r >= 0)
        r = ringo_http_body_static(resp, body, strlen(body));
    return r < 0 ? r : 0;
}

static int is_method(ringo_str m, const char *name)
{
    size_t n = strlen(name);
    return m.len == n && memcmp(m.ptr, name, n) == 0;
}

/* The 301 to the slash form of a directory: built from the normalised
 * path, re-encoded, never from the raw target ("//evil.example" must not
 * become a protocol-relative Location). */
static int redirect_dir(ringo_http_req *req, ringo_http_resp *resp,
                        const struct ringo_http_static *st, const char *rel, size_t rl)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = st->prefix_len + 3 * rl + 4;
    ringo_str q = ringo_http_query(req);
    cap += q.len + 1;
    char *loc = malloc(cap);
    if (!loc)
        return -ENOMEM;
    size_t o = 0;
    memcpy(loc, st->prefix, st->prefix_len);
    o = st->prefix_len;
    loc[o++] = '/';
    for (size_t i = 0; i < rl; i++) {
        unsigned char c = (unsigned char)rel[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~!$&'()*+,;=:@/", c)) {
            loc[o++] = (char)c;
        } else {
            loc[o++] = '%';
            loc[o++] = hex[c >> 4];
            loc[o++] = hex[c & 15];
        }
    }
    if (rl)
        loc[o++] = '/';
    if (q.len) {
        loc[o++] = '?';
        memcpy(loc + o, q.ptr, q.len);
        o += q.len;
    }
    int r = ringo_http_status(resp, 301);
    if (r >= 0)
        r = ringo_http_header_addn(resp, "Location", 8, loc, o);
    free(loc);
    return r < 0 ? r : 0;
}

static int open_errno_status(int e)
{
    switch (e) {
    case -ENOENT:
    case -ENOTDIR:
        return 404;
    case -EXDEV: /* out of the root (a symlink) */
    case -ELOOP: /* a magic link or a symlink loop */
    case -EACCES:
    case -EPERM:
        return 403;
    case -ENAMETOOLONG:
        return 414;
    case -EMFILE: /* out of descriptors or memory: the server is busy, the */
    case -ENFILE: /* request is fine; a retry later may well succeed */
    case -ENOMEM:
        return 503;
    default:
        return 500;
    }
}

#define STATX_WANT (STATX_TYPE | STATX_SIZE | STATX_MTIME | STATX_INO)

/* Open rel below the root and stat it. Returns the fd (stx filled), or
 * -errno. */
static int open_stat(const struct ringo_http_static *st, const char *rel, struct statx *stx,
                     int64_t dl)
{
    /* O_NONBLOCK: opening a FIFO someone left in the tree must not wait
     * for a writer (nginx does the same); regular files ignore it */
    int fd =
        ringo_open_beneath(st->rootfd, rel[0] ? rel : ".", O_RDONLY | O_NONBLOCK | O_NOCTTY, dl);
    if (fd < 0)
        return fd;
    int r = ringo_statx(fd, "", AT_EMPTY_PATH, STATX_WANT, stx, dl);
    if (r < 0) {
        ringo_close(fd);
        return r;
    }
    return fd;
}

/* Resolve rel (the normalised request path) to an open regular file:
 * index.html for directories, 301 for a directory named without its
 * slash. Returns the fd (stx filled, rel extended to the file served, *rl
 * its length) or -(HTTP status) after answering nothing. */
static int resolve(const struct ringo_http_static *st, ringo_http_req *req, ringo_http_resp *resp,
                   char *rel, size_t *rl, int dir, struct statx *stx, int *answered)
{
    int64_t dl = ringo_deadline_in(FILE_TIMEOUT_NS);
    int fd = open_stat(st, rel, stx, dl);
    if (fd < 0)
        return -open_errno_status(fd);
    if (S_ISDIR(stx->stx_mode)) {
        ringo_close(fd);
        if (!dir) {
            *answered = 1;
            return redirect_dir(req, resp, st, rel, *rl);
        }
        memcpy(rel + *rl, *rl ? "/index.html" : "index.html", *rl ? 12 : 11);
        fd = open_stat(st, rel, stx, dl);
        if (fd < 0)
            /* a directory without an index: no listings */
            return fd == -ENOENT ? -403 : -open_errno_status(fd);
        *rl += *rl ? 11 : 10;
    } else if (dir) {
        ringo_close(fd); /* "/file.txt/": not a directory */
        return -404;
    }
    if (!S_ISREG(stx->stx_mode)) {
        ringo_close(fd);
        return -403;
    }
    return fd;
}

static void fill_validators(struct fc_entry *e, const char *rel, size_t rl)
{
    int el = snprintf(e->etag, sizeof(e->etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
                      (uint64_t)e->stx.stx_size,
                      (uint64_t)e->stx.stx_mtime.tv_sec * 1000000000u + e->stx.stx_mtime.tv_nsec,
                      (uint64_t)e->stx.stx_ino);
    e->etag_len = (size_t)el;
    /* RFC 9110 8.8.2.1: never a Last-Modified after the answer's Date (a
     * file stamped in the future says "now"); entries live a second, so
     * this "now" is never later than the Date of an answer built from it */
    int64_t lm = e->stx.stx_mtime.tv_sec, now = (int64_t)time(NULL);
    ringo__http_date_fmt(lm > now ? now : lm, e->lastmod);
    e->type = ringo__mime_type(rel, rl);
}

/* Keep a small file's bytes with its entry (read once per validity
 * period instead of once per request). */
static void load_data(struct fc_entry *e)
{
    size_t size = e->stx.stx_size;
    if (size == 0 || size > FC_DATA_MAX)
        return;
    char *d = malloc(size);
    if (!d)
        return;
    /* opened O_NONBLOCK (for FIFOs); io_uring honours that on a regular
     * file too and answers -EAGAIN instead of reading it */
    int fl = fcntl(e->fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        fcntl(e->fd, F_SETFL, fl & ~O_NONBLOCK);
    ssize_t n = ringo_pread(e->fd, d, size, 0, ringo_deadline_in(FILE_TIMEOUT_NS));
    if (n == (ssize_t)size)
        e->data = d;
    else
        free(d);
}

static int serve(ringo_http_req *req, ringo_http_resp *resp, const struct fc_entry *e, int head);

int ringo_http_static_handler(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    struct ringo_http_static *st = arg;
    ringo_str m = ringo_http_method(req);
    int head = is_method(m, "HEAD");
    if (!head && !is_method(m, "GET")) {
        int r = ringo_http_header_add(resp, "Allow", "GET, HEAD");
        return r < 0 ? r : simple(resp, 405);
    }
    ringo_str path = ringo_http_path(req);
    size_t pl = st->prefix_len;
    if (path.len < pl || memcmp(path.ptr, st->prefix, pl) != 0 ||
        (path.len > pl && path.ptr[pl] != '/'))
        return simple(resp, 404);
    char rel[RINGO_STATIC_PATH_MAX + 1 + sizeof("/index.html")];
    int dir = 0;
    int n = ringo__static_norm(path.ptr + pl, path.len - pl, rel, RINGO_STATIC_PATH_MAX + 1, &dir);
    if (n < 0)
        return simple(resp, n == -EINVAL ? 400 : n == -ENOENT ? 404 : n == -EXDEV ? 403 : 414);
    size_t rl = (size_t)n;

    /* the cache: keyed by the normalised path and the trailing slash */
    int w = ringo_worker_id();
    struct fcache *fc = NULL;
    if (!st->no_cache && w >= 0 && w < FC_WORKERS) {
        if (!st->cache[w])
            st->cache[w] = calloc(1, sizeof(struct fcache));
        fc = st->cache[w];
    }
    rel[rl] = dir ? '/' : 0;
    uint64_t h = fc ? fc_hash(rel, rl + (size_t)dir) : 0;
    struct fc_entry *e =
        fc ? fc_find(fc, rel, rl + (size_t)dir, h, ringo_now(), st->valid_ns) : NULL;
    if (e) {
        e->busy++;
        int r = serve(req, resp, e, head);
        e->busy--;
        return r;
    }
    char key[sizeof(rel)];
    size_t key_len = rl + (size_t)dir;
    memcpy(key, rel, key_len);
    rel[rl] = 0;
    struct fc_entry tmp;
    memset(&tmp, 0, sizeof(tmp));
    int64_t resolved = ringo_now(); /* the entry is trusted from here on */
    int answered = 0;
    int fd = resolve(st, req, resp, rel, &rl, dir, &tmp.stx, &answered);
    if (answered)
        return fd;
    if (fd < 0)
        return simple(resp, -fd);
    tmp.fd = fd;
    fill_validators(&tmp, rel, rl);
    if (!fc) {
        int r = serve(req, resp, &tmp, head);
        ringo_close(fd);
        return r;
    }
    /* Resolving parked, and loading parks: another request may have
     * published this key meanwhile, so look again after each. The entry is
     * complete before it is published (nobody finds a half-made one). */
    e = fc_find(fc, key, key_len, h, ringo_now(), st->valid_ns);
    if (!e) {
        load_data(&tmp);
        e = fc_find(fc, key, key_len, h, ringo_now(), st->valid_ns);
    }
    struct fc_entry old = {.fd = -1};
    if (!e) {
        /* nobody published a fresh one: ours goes in, unless the slot is in
         * use by a parked request (then this request serves its own) */
        e = fc_publish(fc, h, key, key_len, &tmp, &old, resolved);
        if (!e)
            e = &tmp;
    }
    e->busy++;
    int r = serve(req, resp, e, head);
    e->busy--;
    /* what was replaced, and our own copy if it did not go in: detached,
     * so closing them may park without touching a slot */
    fc_release(&old);
    fc_release(&tmp);
    return r;
}

/* The wall clock in seconds (dates in requests are on it; ringo_now is
 * monotonic). */
static int64_t realtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static int serve(ringo_http_req *req, ringo_http_resp *resp, const struct fc_entry *e, int head)
{
    uint64_t size = e->stx.stx_size;
    int64_t mtime = e->stx.stx_mtime.tv_sec;
    const char *etag = e->etag;
    size_t el = e->etag_len;

    /* RFC 9110 13.2.2, in its order: If-Match, else If-Unmodified-Since
     * (412 when false); then If-None-Match, else If-Modified-Since (304
     * when false); If-Range below. A date that does not parse or lies in
     * the future is ignored, as is a header that does not apply. */
    ringo_str v;
    int64_t now = realtime_now(), d;
    if (ringo_http_header(req, "If-Match", &v)) {
        if (!ringo__static_im_match(v.ptr, v.len, etag, el))
            return simple(resp, 412);
    } else if (ringo_http_header(req, "If-Unmodified-Since", &v)) {
        if (ringo__static_date_before(v.ptr, v.len, now, &d) == 0 && mtime > d)
            return simple(resp, 412);
    }
    int not_modified = 0;
    if (ringo_http_header(req, "If-None-Match", &v))
        not_modified = ringo__static_inm_match(v.ptr, v.len, etag, el);
    else if (ringo_http_header(req, "If-Modified-Since", &v))
        not_modified = ringo__static_date_before(v.ptr, v.len, now, &d) == 0 && mtime <= d;
    int r;
    if (not_modified) {
        if ((r = ringo_http_status(resp, 304)) < 0 ||
            (r = ringo_http_header_addn(resp, "ETag", 4, etag, el)) < 0 ||
            (r = ringo_http_header_addn(resp, "Last-Modified", 13, e->lastmod, 29)) < 0)
            return r;
        return 0;
    }

    uint64_t first = 0, last = size ? size - 1 : 0;
    int range = 0;
    if (!head && ringo_http_header(req, "Range", &v)) {
        range = ringo__static_range(v.ptr, v.len, size, &first, &last);
        ringo_str ir;
        if (range != 0 && ringo_http_header(req, "If-Range", &ir)) {
            /* the range only if the client's copy is this one: a strong
             * ETag match, or the exact Last-Modified date (which may
             * start with a 'W' too: "Wed, ...", so a weak ETag is "W/") */
            int is_etag = ir.len && (ir.ptr[0] == '"' || (ir.len > 1 && !memcmp(ir.ptr, "W/", 2)));
            int same = is_etag
                           ? ir.len == el && memcmp(ir.ptr, etag, el) == 0
                           : ringo__static_date_before(ir.ptr, ir.len, now, &d) == 0 && d == mtime;
            if (!same) {
                range = 0;
                first = 0;
                last = size ? size - 1 : 0;
            }
        }
    }
    char cr[80];
    if ((r = ringo_http_header_add(resp, "Content-Type", e->type)) < 0 ||
        (r = ringo_http_header_addn(resp, "ETag", 4, etag, el)) < 0 ||
        (r = ringo_http_header_addn(resp, "Last-Modified", 13, e->lastmod, 29)) < 0 ||
        (r = ringo_http_header_addn(resp, "Accept-Ranges", 13, "bytes", 5)) < 0)
        return r;
    if (range < 0) {
        int cl = snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        if ((r = ringo_http_status(resp, 416)) < 0 ||
            (r = ringo_http_header_addn(resp, "Content-Range", 13, cr, (size_t)cl)) < 0)
            return r;
        return 0;
    }
    if (range > 0) {
        int cl =
            snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        if ((r = ringo_http_status(resp, 206)) < 0 ||
            (r = ringo_http_header_addn(resp, "Content-Range", 13, cr, (size_t)cl)) < 0)
            return r;
    }
    size_t len = size ? (size_t)(last - first + 1) : 0;
    if (e->data) /* small file: copied into the response batch, one write */
        r = ringo_http_body(resp, e->data + first, len);
    else
        r = ringo_http_body_file(resp, e->fd, (int64_t)first, len);
    return r < 0 ? r : 0;
}
