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
 *
 * When errors are reported: bare CR / bare LF in the head, a
 * request-target over max_target, and a head over max_head are reported
 * as soon as the bytes received prove them (each is a property of a
 * prefix, so any split of the input into calls gives the same answer as
 * one call with all of it). Every other rule is checked once the head is
 * complete (until then the answer is RHP_INCOMPLETE). A request-line that
 * cannot fit in max_head because its target runs past it is answered 414,
 * not 431.
 *
 * Decisions (RFC 9110/9112 leave these to the server):
 *  - HTTP/1.x with x > 1 is processed as HTTP/1.1 (RFC 9110 2.5), minor=1;
 *    a major version other than 1 is RHP_EVERSION; anything not exactly
 *    "HTTP/" DIGIT "." DIGIT is RHP_EBAD.
 *  - Up to 4 empty lines (CRLF) before the request-line are skipped (RFC
 *    9112 2.2); they count in head_len and max_head. A fifth is 400.
 *  - Expect: "100-continue" (case-insensitive) sets expect_continue in
 *    HTTP/1.1 and is ignored in HTTP/1.0 (RFC 9110 10.1.1); any other
 *    expectation is accepted and ignored (no 417).
 *  - Host: exactly one in HTTP/1.1, at most one in HTTP/1.0; its value
 *    may be empty but must not contain SP/HTAB (CTLs are rejected for
 *    every field value). For absolute-form and authority-form the target's
 *    authority is req->host (the Host field is still required in 1.1).
 *  - Content-Length: 0 gives body RHP_BODY_NONE. Empty list elements are
 *    ignored in Connection and Transfer-Encoding (RFC 9110 5.6.1), not in
 *    Content-Length. "chunked" with parameters is 400; another coding
 *    with parameters is a coding like any other.
 *  - Request-target characters are checked only as 0x21-0x7E, plus the
 *    form rules; userinfo ("@") in absolute-form authority is 400 (RFC 9110
 *    4.2.4). Fragments are not special.
 *  - max_head is capped at INT_MAX (the return value is an int).
 */
#ifndef RINGO_HTTP_PARSE_H
#define RINGO_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum rhp_status {
    RHP_INCOMPLETE = 0,
    RHP_EBAD = -400,     /* malformed: framing, syntax, bare CR/LF, obs-fold... */
    RHP_ETOOBIG = -413,  /* Content-Length over max_body */
    RHP_EURI = -414,     /* request-target over max_target */
    RHP_EFIELDS = -431,  /* head over max_head, or over max_headers fields */
    RHP_ENOTIMPL = -501, /* a transfer coding other than chunked */
    RHP_EVERSION = -505, /* HTTP major version other than 1 */
};

enum rhp_method {
    RHP_GET,
    RHP_HEAD,
    RHP_POST,
    RHP_PUT,
    RHP_DELETE,
    RHP_OPTIONS,
    RHP_PATCH,
    RHP_CONNECT,
    RHP_TRACE,
    RHP_OTHER,
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

/* Filled on success. After an error only `error` is meaningful; after
 * RHP_INCOMPLETE nothing is. Forms: origin: path (without the query) and
 * query (after '?': NULL when there is no '?', length 0 for a bare '?');
 * absolute: host = the authority, path "" is reported as "/" (pointing at
 * the second slash of "://", so still inside the buffer); asterisk: path
 * "*"; authority (CONNECT only): host = target, path NULL. */
struct rhp_request {
    const char *method, *target, *path, *query, *host;
    uint32_t method_len, target_len, path_len, query_len, host_len;
    uint8_t method_id;       /* enum rhp_method */
    uint8_t target_form;     /* enum rhp_target_form */
    uint8_t minor;           /* HTTP/1.<minor>: 0 or 1 (1.2 and up count as 1) */
    uint8_t keep_alive;      /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
    uint8_t expect_continue; /* "Expect: 100-continue" */
    uint8_t body;            /* enum rhp_body */
    uint64_t content_length; /* RHP_BODY_LENGTH */
    struct rhp_header *headers;
    uint32_t nheaders;
    uint32_t head_len; /* bytes of the head, final CRLF included */
    const char *error; /* why, after a negative return */
};

/* Parse the head at buf[0, len). hdrs has room for lim->max_headers
 * fields. Returns the head length (> 0) with *req filled, RHP_INCOMPLETE
 * (more bytes needed; pass len as `scanned` next time), or an
 * enum rhp_status error. Uses the fastest scanner this CPU has. */
int rhp_parse(const char *buf, size_t len, size_t scanned, const struct rhp_limits *lim,
              struct rhp_request *req, struct rhp_header *hdrs);

/* The scanners, for tests and benchmarks: the result of rhp_parse_with is
 * identical for every implementation the CPU supports (same return, same
 * fields, same error string). An implementation the CPU lacks runs the
 * scalar one. rhp_parse picks AVX2, else SSE4.2, else scalar, with
 * __builtin_cpu_supports on each call (a load and a bit test of the CPU
 * model libgcc records at start-up); on non-x86 only scalar exists. */
enum rhp_impl { RHP_IMPL_SCALAR, RHP_IMPL_SSE42, RHP_IMPL_AVX2, RHP_IMPL_COUNT };
int rhp_impl_supported(enum rhp_impl impl);
int rhp_parse_with(enum rhp_impl impl, const char *buf, size_t len, size_t scanned,
                   const struct rhp_limits *lim, struct rhp_request *req, struct rhp_header *hdrs);

/* Case-insensitive lookup of a field in a parsed request; NULL if absent. */
const struct rhp_header *rhp_find(const struct rhp_request *req, const char *name, size_t name_len);

/* Chunked body decoder (RFC 9112 7.1), a state machine fed any split of
 * the input. Chunk extensions are checked against the grammar and
 * dropped; trailer fields are checked and dropped (counted against
 * max_head). chunk-size is 1 to 16 HEXDIG (leading zeros count); the size
 * line with its extensions is capped at 4 KiB (400); whitespace is only
 * allowed as BWS around ";" and "=" of an extension ("5 \r\n" is 400).
 * A chunk whose size would take the total over max_body is refused as
 * soon as its size is read, before any of its data. Errors and DONE are
 * sticky. */
struct rhp_chunked {
    uint64_t remaining; /* data bytes left in the current chunk */
    uint64_t total;     /* data bytes so far */
    uint32_t state;
    uint32_t line_len; /* bytes of the current size line / trailer section */
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
