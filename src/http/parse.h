/* src/http/parse.h - the HTTP/1.1 request parser (RFC 9110/9112). Pure:
 * no I/O, no allocation, no global mutable state. Zero-copy: every
 * pointer it returns points into the caller's buffer.
 *
 * Incremental by rescanning: call rhp_parse with everything received so
 * far and, in `scanned`, the length passed to the previous call (0 the
 * first time); bytes already scanned for the end of the head are not
 * scanned again, so a client trickling bytes costs O(n) in all. Errors
 * that can be seen before the head is complete (a bare LF, oversize) are
 * reported as soon as they are seen.
 *
 * Errors are the negated HTTP status the server must answer with, and
 * req->error names the rule broken (a static string).
 */
#ifndef RINGO_HTTP_PARSE_H
#define RINGO_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum rhp_status {
    RHP_INCOMPLETE = 0,
    RHP_EBAD = -400,        /* malformed: framing, syntax, bare CR/LF, obs-fold... */
    RHP_ETOOBIG = -413,     /* Content-Length over max_body */
    RHP_EURI = -414,        /* request-target over max_target */
    RHP_EFIELDS = -431,     /* head over max_head, or over max_headers fields */
    RHP_ENOTIMPL = -501,    /* a transfer coding other than chunked */
    RHP_EVERSION = -505,    /* HTTP major version other than 1 */
};

enum rhp_method {
    RHP_GET, RHP_HEAD, RHP_POST, RHP_PUT, RHP_DELETE, RHP_OPTIONS, RHP_PATCH,
    RHP_CONNECT, RHP_TRACE, RHP_OTHER,
};

enum rhp_target_form { RHP_ORIGIN, RHP_ABSOLUTE, RHP_AUTHORITY, RHP_ASTERISK };

enum rhp_body { RHP_BODY_NONE, RHP_BODY_LENGTH, RHP_BODY_CHUNKED };

struct rhp_header {
    const char *name;
    const char *value; /* leading and trailing whitespace removed */
    uint32_t name_len;
    uint32_t value_len;
};

struct rhp_limits {
    uint32_t max_head;    /* request line + fields + final CRLF */
    uint32_t max_headers; /* header fields (also the capacity of the hdrs array) */
    uint32_t max_target;  /* request-target */
    uint64_t max_body;    /* a larger Content-Length gives RHP_ETOOBIG */
};

struct rhp_request {
    const char *method, *target, *path, *query, *host;
    uint32_t method_len, target_len, path_len, query_len, host_len;
    uint8_t method_id;      /* enum rhp_method */
    uint8_t target_form;    /* enum rhp_target_form */
    uint8_t minor;          /* HTTP/1.<minor>: 0 or 1 */
    uint8_t keep_alive;     /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
    uint8_t expect_continue;/* "Expect: 100-continue" */
    uint8_t body;           /* enum rhp_body */
    uint64_t content_length;/* RHP_BODY_LENGTH */
    struct rhp_header *headers;
    uint32_t nheaders;
    uint32_t head_len;      /* bytes of the head, final CRLF included */
    const char *error;      /* why, after a negative return */
};

/* Parse the head at buf[0, len). hdrs has room for lim->max_headers
 * fields. Returns the head length (> 0) with *req filled, RHP_INCOMPLETE
 * (more bytes needed; pass len as `scanned` next time), or an
 * enum rhp_status error. Uses the fastest scanner this CPU has. */
int rhp_parse(const char *buf, size_t len, size_t scanned, const struct rhp_limits *lim,
              struct rhp_request *req, struct rhp_header *hdrs);

/* The scanners, for tests and benchmarks: the result of rhp_parse_with is
 * identical for every implementation the CPU supports. */
enum rhp_impl { RHP_IMPL_SCALAR, RHP_IMPL_SSE42, RHP_IMPL_AVX2, RHP_IMPL_COUNT };
int rhp_impl_supported(enum rhp_impl impl);
int rhp_parse_with(enum rhp_impl impl, const char *buf, size_t len, size_t scanned,
                   const struct rhp_limits *lim, struct rhp_request *req,
                   struct rhp_header *hdrs);

/* Case-insensitive lookup of a field in a parsed request; NULL if absent. */
const struct rhp_header *rhp_find(const struct rhp_request *req, const char *name,
                                  size_t name_len);

/* Chunked body decoder (RFC 9112 7.1), a state machine fed any split of
 * the input. Chunk extensions are checked against the grammar and
 * dropped; trailer fields are checked and dropped (counted against
 * max_head). */
struct rhp_chunked {
    uint64_t remaining; /* data bytes left in the current chunk */
    uint64_t total;     /* data bytes so far */
    uint32_t state;
    uint32_t line_len;  /* bytes of the current size line / trailer section */
    uint32_t digits;
};
void rhp_chunked_init(struct rhp_chunked *c);

enum { RHP_CHUNK_NEED = 0, RHP_CHUNK_DATA = 1, RHP_CHUNK_DONE = 2 };

/* Decode from in[0, len). *consumed is always set to the input bytes
 * used. Returns RHP_CHUNK_DATA with *data and *data_len a non-empty span of
 * body bytes inside `in` (call again with the rest), RHP_CHUNK_NEED when
 * all of `in` was used and more is needed, RHP_CHUNK_DONE when the last
 * chunk and the trailers ended (bytes after them are not consumed), or
 * RHP_EBAD (bad size, extension, CRLF, trailer), RHP_ETOOBIG (total
 * over lim->max_body), RHP_EFIELDS (trailers over lim->max_head). */
int rhp_chunked_decode(struct rhp_chunked *c, const struct rhp_limits *lim, const char *in,
                       size_t len, size_t *consumed, const char **data, size_t *data_len);

#endif
