/* src/http/response.c - the response writer: status line, header fields,
 * bodies from memory, files and streams, the cached Date line. Heads and
 * small bodies are written straight into the connection's output batch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"

#define COPY_LIMIT    (16 * 1024) /* bodies up to this size are copied into the batch */
#define REF_MIN       256         /* static bodies from this size are referenced, not copied */
#define MAX_RESP_HDRS (8 * 1024)

static const char *reason(int code)
{
    switch (code) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

size_t rh_status_line(int code, char out[64])
{
    if (code == 200) {
        memcpy(out, "HTTP/1.1 200 OK\r\n", 17);
        return 17;
    }
    int n = snprintf(out, 64, "HTTP/1.1 %03d %s\r\n", code, reason(code));
    return (size_t)n;
}

const char *rh_reason(int code)
{
    return reason(code);
}

/* IMF-fixdate by hand: strftime would follow the process locale. */
void rh_format_date(int64_t sec, char out[30])
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct tm tm;
    time_t t = (time_t)sec;
    gmtime_r(&t, &tm);
    unsigned year = (unsigned)(tm.tm_year + 1900) % 10000;
    memcpy(out, days + 3 * tm.tm_wday, 3);
    memcpy(out + 3, ", ", 2);
    out[5] = (char)('0' + tm.tm_mday / 10);
    out[6] = (char)('0' + tm.tm_mday % 10);
    out[7] = ' ';
    memcpy(out + 8, months + 3 * tm.tm_mon, 3);
    out[11] = ' ';
    out[12] = (char)('0' + year / 1000);
    out[13] = (char)('0' + year / 100 % 10);
    out[14] = (char)('0' + year / 10 % 10);
    out[15] = (char)('0' + year % 10);
    out[16] = ' ';
    out[17] = (char)('0' + tm.tm_hour / 10);
    out[18] = (char)('0' + tm.tm_hour % 10);
    out[19] = ':';
    out[20] = (char)('0' + tm.tm_min / 10);
    out[21] = (char)('0' + tm.tm_min % 10);
    out[22] = ':';
    out[23] = (char)('0' + tm.tm_sec / 10);
    out[24] = (char)('0' + tm.tm_sec % 10);
    memcpy(out + 25, " GMT", 5); /* with the NUL */
}

void rh_date_refresh(ringo_http_server *s, struct rh_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == w->date_sec)
        return;
    char d[30];
    rh_format_date(ts.tv_sec, d);
    int n = snprintf(w->date_line, sizeof(w->date_line), "Server: %s\r\nDate: %s\r\n",
                     s->cfg.server_name, d);
    w->date_len = (size_t)n;
    w->date_sec = ts.tv_sec;
}

/* ---- header fields ---- */

static bool is_tchar(unsigned char ch)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr(extra, ch));
}

static bool name_is(const char *n, size_t len, const char *lit)
{
    return strlen(lit) == len && !strncasecmp(n, lit, len);
}

int ringo_http_header_addn(ringo_http_resp *resp, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    if (resp->head_sent)
        return -EALREADY;
    if (!name_len)
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return -EINVAL;
    for (size_t i = 0; i < value_len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -EINVAL;
    }
    if (name_is(name, name_len, "content-length") || name_is(name, name_len, "transfer-encoding") ||
        name_is(name, name_len, "date") || name_is(name, name_len, "connection") ||
        name_is(name, name_len, "server"))
        return -EPERM;
    size_t need = name_len + value_len + 4;
    if (resp->hdr_len + need > resp->hdr_cap) {
        if (resp->hdr_len + need > MAX_RESP_HDRS)
            return -ENOSPC;
        char *p = malloc(MAX_RESP_HDRS);
        if (!p)
            return -ENOMEM;
        memcpy(p, resp->hdr, resp->hdr_len);
        if (resp->hdr_heap)
            free(resp->hdr);
        resp->hdr = p;
        resp->hdr_cap = MAX_RESP_HDRS;
        resp->hdr_heap = true;
    }
    char *d = resp->hdr + resp->hdr_len;
    memcpy(d, name, name_len);
    d += name_len;
    *d++ = ':';
    *d++ = ' ';
    memcpy(d, value, value_len);
    d += value_len;
    *d++ = '\r';
    *d++ = '\n';
    resp->hdr_len += need;
    return 0;
}

int ringo_http_header_add(ringo_http_resp *resp, const char *name, const char *value)
{
    if (!name || !value)
        return -EINVAL;
    return ringo_http_header_addn(resp, name, strlen(name), value, strlen(value));
}

int ringo_http_status(ringo_http_resp *resp, int code)
{
    if (resp->head_sent)
        return -EALREADY;
    if (code < 100 || code > 599 || code == 101)
        return -EINVAL;
    resp->status = code;
    return 0;
}

void rh_resp_reset(ringo_http_resp *resp)
{
    resp->status = 200;
    resp->hdr_len = 0;
    resp->body_set = false;
}

void rh_resp_free(ringo_http_resp *resp)
{
    if (resp->hdr_heap)
        free(resp->hdr);
    resp->hdr_heap = false;
}

ringo_http_req *ringo_http_resp_req(ringo_http_resp *resp)
{
    return resp->req;
}

/* ---- the head ---- */

#define LEN_CHUNKED (-1)
#define LEN_NONE    (-2) /* close-delimited (HTTP/1.0 stream) */

static bool bodiless_status(int st)
{
    return st < 200 || st == 204 || st == 304;
}

static bool is_head(const ringo_http_resp *resp)
{
    return resp->req->r.method_id == RHP_HEAD;
}

/* The decimal digits of v at the end of buf; returns where they start. */
static char *u64_dec(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static int emit_head(ringo_http_resp *resp, int64_t clen)
{
    struct rh_conn *c = resp->c;
    if (c->dead)
        return -EPIPE;
    ringo_http_req *req = resp->req;
    if (!req->body_done && !c->closing) {
        /* Answering before the body is read: a Content-Length body of at
         * most RH_DISCARD_MAX is read and dropped after the response; a
         * larger one is not worth reading, a client waiting for 100
         * Continue may never send it, and a chunked one that a streaming
         * handler may still read (body_common drops the others first) can
         * break a rule later, so those connections close - and the head
         * must say so (RFC 9112 9.6). */
        if (rh_awaits_continue(req) || req->r.body == RHP_BODY_CHUNKED ||
            req->body_left > RH_DISCARD_MAX)
            c->closing = true;
    }
    rh_date_refresh(c->s, c->w);
    char line[64];
    size_t sl = rh_status_line(resp->status, line);
    size_t need = sl + c->w->date_len + resp->hdr_len + 96;
    char *p = rh_out_begin(c, need), *start = p;
    if (!p)
        return c->dead ? -EPIPE : -ENOMEM;
    memcpy(p, line, sl);
    p += sl;
    memcpy(p, c->w->date_line, c->w->date_len);
    p += c->w->date_len;
    memcpy(p, resp->hdr, resp->hdr_len);
    p += resp->hdr_len;
    if (clen == LEN_CHUNKED) {
        memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
        p += 28;
    } else if (clen >= 0 && !bodiless_status(resp->status)) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        char num[24], *d = u64_dec(num + sizeof(num), (uint64_t)clen);
        size_t dl = (size_t)(num + sizeof(num) - d);
        memcpy(p, d, dl);
        p += dl;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (c->closing) {
        memcpy(p, "Connection: close\r\n", 19);
        p += 19;
    } else if (resp->req->r.minor == 0) {
        memcpy(p, "Connection: keep-alive\r\n", 24);
        p += 24;
    }
    *p++ = '\r';
    *p++ = '\n';
    rh_out_commit(c, (size_t)(p - start));
    resp->head_sent = true;
    resp->req->resp_started = true;
    return 0;
}

/* ---- bodies ---- */

static int body_common(ringo_http_resp *resp, size_t len)
{
    if (resp->body_set || resp->head_sent)
        return -EALREADY;
    resp->body_set = true;
    /* A complete answer to a request whose chunked body was not read:
     * drop the body now, before the head, because only then is it known
     * whether the connection can stay open (the head must say). Reading
     * after the answer is given is then refused (like Go's net/http, the
     * body belongs before the response; ringo_http_stream keeps it). */
    ringo_http_req *req = resp->req;
    if (req->r.body == RHP_BODY_CHUNKED && !req->body_done && !resp->c->closing &&
        !rh_awaits_continue(req)) {
        rh_discard_body(req);
        req->body_dropped = true;
    }
    return emit_head(resp, (int64_t)len);
}

static bool drop_body(const ringo_http_resp *resp)
{
    return is_head(resp) || bodiless_status(resp->status);
}

int ringo_http_body(ringo_http_resp *resp, const void *buf, size_t len)
{
    int r = body_common(resp, len);
    if (r < 0 || drop_body(resp) || !len)
        return r;
    if (len <= COPY_LIMIT)
        return rh_queue(resp->c, buf, len);
    struct iovec v = {(void *)buf, len};
    return rh_write_now(resp->c, &v, 1);
}

int ringo_http_body_static(ringo_http_resp *resp, const void *buf, size_t len)
{
    int r = body_common(resp, len);
    if (r < 0 || drop_body(resp) || !len)
        return r;
    return len < REF_MIN ? rh_queue(resp->c, buf, len) : rh_queue_ref(resp->c, buf, len);
}

#define TLS_FILE_CHUNK 16384 /* one TLS record's worth */

/* HTTPS: the bytes must pass through user space to be encrypted (no
 * kernel TLS here: docs/tls.md). Each record's worth is read into the
 * output behind the head; once 16 KiB are queued they are sealed and sent
 * (one write per record of a large file; a small file's bytes wait for
 * the batch's flush like any body). */
static int tls_body_file(ringo_http_resp *resp, int fd, int64_t offset, size_t len)
{
    struct rh_conn *c = resp->c;
    while (len) {
        size_t want = len < TLS_FILE_CHUNK ? len : TLS_FILE_CHUNK;
        char *dst = rh_out_begin(c, want); /* read straight into the output */
        if (!dst) {
            resp->failed = true;
            return c->dead ? -EPIPE : -ENOMEM;
        }
        ssize_t n = ringo_pread(fd, dst, want, offset, RINGO_FOREVER);
        if (n <= 0) {
            /* the Content-Length is promised: the connection cannot go on */
            c->dead = true;
            resp->failed = true;
            return n == 0 ? -EIO : (int)n;
        }
        rh_out_commit(c, (size_t)n);
        int r = c->queued >= TLS_FILE_CHUNK ? rh_flush(c) : 0;
        if (r < 0) {
            resp->failed = true;
            return r;
        }
        offset += n;
        len -= (size_t)n;
    }
    return 0;
}

int ringo_http_body_file(ringo_http_resp *resp, int fd, int64_t offset, size_t len)
{
    if (fd < 0 || offset < 0)
        return -EINVAL;
    int r = body_common(resp, len);
    if (r < 0 || drop_body(resp) || !len)
        return r;
    struct rh_conn *c = resp->c;
    if (c->tls)
        return tls_body_file(resp, fd, offset, len);
    /* the head goes out first, then the file's bytes straight from the
     * page cache to the socket */
    if ((r = rh_flush(c)) < 0)
        return r;
    int64_t dl = ringo_deadline_in(c->s->cfg.write_timeout_ns);
    while (len) {
        ssize_t n = ringo_sendfile(c->fd, fd, offset, len, dl);
        if (n <= 0) {
            /* the Content-Length is promised: the connection cannot go on */
            c->dead = true;
            resp->failed = true;
            return n == 0 ? -EIO : (int)n;
        }
        rh_stat_add(c->w, RH_STAT(bytes_out), (uint64_t)n);
        offset += n;
        len -= (size_t)n;
        dl = ringo_deadline_in(c->s->cfg.write_timeout_ns);
    }
    return 0;
}

/* ---- streams ---- */

int ringo_http_stream(ringo_http_resp *resp)
{
    if (resp->head_sent || resp->body_set)
        return -EALREADY;
    struct rh_conn *c = resp->c;
    resp->streaming = true;
    resp->body_set = true;
    if (bodiless_status(resp->status)) {
        resp->chunked = false;
    } else if (resp->req->r.minor == 0) {
        /* HTTP/1.0 has no chunked coding: the end of the body is the close */
        c->closing = true;
        resp->chunked = false;
    } else {
        resp->chunked = true;
    }
    int r = emit_head(resp, resp->chunked ? LEN_CHUNKED : LEN_NONE);
    return r < 0 ? r : rh_flush(c);
}

int ringo_http_write(ringo_http_resp *resp, const void *buf, size_t len)
{
    if (!resp->streaming || resp->ended)
        return -EINVAL;
    if (!len || drop_body(resp))
        return 0;
    if (!resp->chunked) {
        struct iovec v = {(void *)buf, len};
        return rh_write_now(resp->c, &v, 1);
    }
    char size[20];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    struct iovec v[3] = {{size, (size_t)n}, {(void *)buf, len}, {(void *)"\r\n", 2}};
    return rh_write_now(resp->c, v, 3);
}

int ringo_http_end(ringo_http_resp *resp)
{
    if (!resp->streaming)
        return -EINVAL;
    if (resp->ended)
        return 0;
    resp->ended = true;
    if (resp->chunked && !drop_body(resp))
        return rh_queue(resp->c, "0\r\n\r\n", 5);
    return 0;
}

int rh_resp_finish(ringo_http_resp *resp)
{
    if (!resp->head_sent && !resp->body_set)
        return ringo_http_body_static(resp, "", 0);
    if (resp->streaming && !resp->ended)
        return ringo_http_end(resp);
    return 0;
}
