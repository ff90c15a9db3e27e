/* tests/http_client.c - see http_client.h. */
#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "t.h"

#define IO_DEADLINE (10LL * 1000000000)

void tc_connect(struct tc_conn *c, int port)
{
    ringo_addr a;
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    T_OK(ringo_addr_parse(&a, text));
    c->fd = ringo_tcp_connect(&a, ringo_deadline_in(IO_DEADLINE));
    T_OK(c->fd);
    c->start = c->end = 0;
}

void tc_send(struct tc_conn *c, const char *s, size_t len)
{
    T_OK(ringo_write_all(c->fd, s, len, NULL, ringo_deadline_in(IO_DEADLINE)));
}

void tc_close(struct tc_conn *c)
{
    if (c->fd >= 0)
        ringo_close(c->fd);
    c->fd = -1;
}

void tc_resp_free(struct tc_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Make at least one more byte available; 0 at EOF, < 0 on error. */
static ssize_t fill(struct tc_conn *c)
{
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == sizeof(c->buf)) {
        if (c->start == 0)
            return -ENOBUFS;
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    ssize_t n =
        ringo_read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end, ringo_deadline_in(IO_DEADLINE));
    if (n > 0)
        c->end += (size_t)n;
    return n;
}

/* One CRLF-terminated line (without the CRLF) into out. */
static int read_line(struct tc_conn *c, char *out, size_t cap)
{
    for (;;) {
        char *nl = memmem(c->buf + c->start, c->end - c->start, "\r\n", 2);
        if (nl) {
            size_t n = (size_t)(nl - (c->buf + c->start));
            if (n >= cap)
                return -ENOBUFS;
            memcpy(out, c->buf + c->start, n);
            out[n] = 0;
            c->start += n + 2;
            return 0;
        }
        ssize_t n = fill(c);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : (int)n;
    }
}

static int read_exact(struct tc_conn *c, char *out, size_t len)
{
    while (len) {
        if (c->start == c->end) {
            ssize_t n = fill(c);
            if (n <= 0)
                return n == 0 ? -ECONNRESET : (int)n;
        }
        size_t k = c->end - c->start < len ? c->end - c->start : len;
        memcpy(out, c->buf + c->start, k);
        c->start += k;
        out += k;
        len -= k;
    }
    return 0;
}

int tc_header(const struct tc_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

int tc_read(struct tc_conn *c, struct tc_resp *r, bool head_only)
{
    memset(r, 0, sizeof(*r));
    size_t hl = 0;
    char line[8192];
    for (;;) {
        int e = read_line(c, line, sizeof(line));
        if (e < 0)
            return e;
        size_t n = strlen(line);
        if (hl + n + 3 > sizeof(r->head))
            return -ENOBUFS;
        memcpy(r->head + hl, line, n);
        memcpy(r->head + hl + n, "\r\n", 2);
        hl += n + 2;
        r->head[hl] = 0;
        if (n == 0)
            break;
    }
    if (strncmp(r->head, "HTTP/1.1 ", 9) || sscanf(r->head + 9, "%3d", &r->status) != 1)
        return -EPROTO;
    char v[256];
    r->close = tc_header(r, "Connection", v, sizeof(v)) && !strcasecmp(v, "close");
    r->body = calloc(1, 1);
    if (head_only || r->status == 204 || r->status == 304 || r->status < 200)
        return 0;
    if (tc_header(r, "Transfer-Encoding", v, sizeof(v))) {
        if (strcasecmp(v, "chunked"))
            return -EPROTO;
        r->chunked = true;
        for (;;) {
            int e = read_line(c, line, sizeof(line));
            if (e < 0)
                return e;
            char *end;
            unsigned long long sz = strtoull(line, &end, 16);
            if (end == line || *end)
                return -EPROTO;
            if (sz == 0) {
                if ((e = read_line(c, line, sizeof(line))) < 0)
                    return e;
                return line[0] ? -EPROTO : 0;
            }
            char *b = realloc(r->body, r->body_len + sz + 1);
            if (!b)
                return -ENOMEM;
            r->body = b;
            if ((e = read_exact(c, r->body + r->body_len, sz)) < 0)
                return e;
            r->body_len += sz;
            r->body[r->body_len] = 0;
            if ((e = read_line(c, line, sizeof(line))) < 0)
                return e;
            if (line[0])
                return -EPROTO;
        }
    }
    if (!tc_header(r, "Content-Length", v, sizeof(v)))
        return -EPROTO; /* the server always frames its responses */
    char *end;
    unsigned long long len = strtoull(v, &end, 10);
    if (end == v || *end)
        return -EPROTO;
    free(r->body);
    r->body = malloc(len + 1);
    if (!r->body)
        return -ENOMEM;
    r->body_len = len;
    r->body[len] = 0;
    return read_exact(c, r->body, len);
}

int tc_closed(struct tc_conn *c)
{
    if (c->start != c->end)
        return 0;
    char b[64];
    ssize_t n = ringo_read(c->fd, b, sizeof(b), ringo_deadline_in(2LL * 1000000000));
    return n == 0 || n == -ECONNRESET;
}
