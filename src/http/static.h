/* src/http/static.h - the pure parts of the static file handler (no I/O),
 * exposed for unit tests: URL path normalisation, Range and date
 * parsing, validators, MIME types by extension (HTTP dates: httpdate.h). */
#ifndef RINGO_HTTP_STATIC_H
#define RINGO_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>

/* The longest relative path the handler opens (bytes, without the NUL). */
#define RINGO_STATIC_PATH_MAX 4095

/* Percent-decode and normalise the URL path in[0..len) (the part after
 * the url_prefix: empty or starting with '/'; no query) into a path
 * relative to the root, NUL-terminated in out[cap]: "" for the root
 * itself, else "a/b" with no leading, trailing or doubled '/' and no "."
 * or ".." segment. Segments are split on the '/' as sent, then decoded,
 * so "%2e%2e" is ".." and climbs; a decoded '/' ("%2f") is not a
 * separator. *dir (may be NULL) is set when the URL names a directory
 * form: it ends in '/' or in a "." or ".." segment.
 * Returns the length of out, or
 *   -EINVAL        a bad escape ("%4", "%zz"), "%00" or a raw NUL (400);
 *   -ENOENT        a decoded '/' in a segment (404: such a name cannot
 *                  exist on Linux, as Apache's AllowEncodedSlashes off);
 *   -EXDEV         a ".." above the root (403; nothing is opened);
 *   -ENAMETOOLONG  the result does not fit out or RINGO_STATIC_PATH_MAX
 *                  (414). */
int ringo__static_norm(const char *in, size_t len, char *out, size_t cap, int *dir);

/* A Range header value against a representation of size bytes (RFC 9110
 * 14.1-14.2). Returns
 *   1   one satisfiable range: bytes [*first, *last] (clamped to size);
 *   0   ignore the header and send the whole file: not "bytes=", bad
 *       syntax, first > last, or several ranges (RFC 9110 lets a server
 *       ignore Range; multipart/byteranges is not produced);
 *  -1   unsatisfiable (416): first >= size, a suffix "-0", or size 0.
 * Numbers too large for 64 bits count as "very large" (so "bytes=
 * 99999999999999999999999-" is unsatisfiable and "-99999999999999999999"
 * is the whole file); whitespace around the range is allowed. */
int ringo__static_range(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last);

/* An HTTP-date validator (If-Modified-Since, If-Unmodified-Since, If-Range)
 * against now (seconds since the epoch, wall clock): parsed strictly by
 * ringo__http_date_parse (httpdate.h) into *out. Returns 0, -EINVAL (not
 * an HTTP-date) or -ERANGE (later than now: RFC 9110 13.1.3 and 13.1.4
 * make such a date invalid); the caller ignores the header on either
 * error. */
int ringo__static_date_before(const char *v, size_t len, int64_t now, int64_t *out);

/* Does an If-None-Match value match etag (a quoted strong tag)? "*"
 * matches anything; list members compare weakly (a W/ prefix on either
 * side is ignored, RFC 9110 13.1.2). Returns 1 or 0. */
int ringo__static_inm_match(const char *v, size_t len, const char *etag, size_t etag_len);
/* Does an If-Match value match etag? "*" matches; list members compare
 * strongly (RFC 9110 13.1.1: a W/ tag never matches). Returns 1 or 0. */
int ringo__static_im_match(const char *v, size_t len, const char *etag, size_t etag_len);

/* The Content-Type for path's extension (case-insensitive): a static
 * string, "application/octet-stream" when unknown; text types carry
 * "; charset=utf-8". */
const char *ringo__mime_type(const char *path, size_t len);

/* Test hook: how long the handler's open-file cache trusts an entry
 * before resolving the path again (FC_VALID_NS, 1 s, by default; 0
 * resolves on every request and replaces the entry each time). Set it
 * before the handler serves. */
struct ringo_http_static;
void ringo__static_cache_valid(struct ringo_http_static *st, int64_t ns);

#endif
