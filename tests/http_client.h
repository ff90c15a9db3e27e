/* tests/http_client.h - a small, strict HTTP/1.1 client for the server
 * tests (its own response reader: the tests must not trust the server's
 * parser to check the server). */
#ifndef RINGO_TEST_HTTP_CLIENT_H
#define RINGO_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <ringo.h>

struct tc_resp {
    int status;
    char head[8192]; /* the response head, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated; free with tc_resp_free */
    size_t body_len;
    bool chunked;
    bool close; /* "Connection: close" */
};

/* A connection with a read buffer. */
struct tc_conn {
    int fd;
    char buf[65536];
    size_t start, end;
};

/* Connect to 127.0.0.1:port (fails the case on error). */
void tc_connect(struct tc_conn *c, int port);
/* Write all of s (fails the case on error). */
void tc_send(struct tc_conn *c, const char *s, size_t len);
/* Read one response. head_only: a response to HEAD (no body). Returns 0,
 * or -errno / -EPROTO (bad framing), 0 bytes before EOF: -ECONNRESET. */
int tc_read(struct tc_conn *c, struct tc_resp *r, bool head_only);
/* 1 when the server closed the connection (EOF within 2 s), 0 if not. */
int tc_closed(struct tc_conn *c);
void tc_close(struct tc_conn *c);
void tc_resp_free(struct tc_resp *r);
/* The value of header `name` in r->head (case-insensitive) copied into
 * out; returns 1 if found. */
int tc_header(const struct tc_resp *r, const char *name, char *out, size_t cap);

#endif
