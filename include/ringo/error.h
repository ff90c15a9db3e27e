/* ringo/error.h - error conventions and ringo's own error codes.
 *
 * Every ringo call returns >= 0 on success and a negative errno value on
 * failure (-ETIMEDOUT, -ECANCELED, -ECONNRESET, ...). ringo never reads or
 * writes the thread-local `errno`: coroutines switch under it.
 *
 * Codes that have no errno equivalent live in a reserved block starting at
 * RINGO_ERR_BASE (far above any Linux errno). A published code never
 * changes meaning.
 */
#ifndef RINGO_ERROR_H
#define RINGO_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define RINGO_ERR_BASE 10000

/* X(name, value offset, message) */
#define RINGO_ERRNO_MAP(X)                                                                         \
    X(NOTINCORO, 1, "call must be made from inside a ringo coroutine")                             \
    X(NOBACKEND, 2, "no usable I/O backend (io_uring and epoll unavailable)")                      \
    X(STOPPED, 3, "the runtime is stopping")                                                       \
    X(NONAME, 4, "host name not found")                                                            \
    X(RESOLVE, 5, "name resolution failed")                                                        \
    X(TLS, 6, "TLS protocol error")                                                                \
    X(TLSVERIFY, 7, "TLS peer certificate verification failed")                                    \
    X(TLSEOF, 8, "TLS stream ended without close_notify")

enum {
#define RINGO_ERR_ENUM(name, off, msg) RINGO_E##name = -(RINGO_ERR_BASE + (off)),
    RINGO_ERRNO_MAP(RINGO_ERR_ENUM)
#undef RINGO_ERR_ENUM
};

/* Human-readable message for a ringo return value (negative errno or a
 * RINGO_E* code). Never returns NULL; the string is static. Thread-safe. */
const char *ringo_strerror(int err);

/* Symbolic name ("ETIMEDOUT", "RINGO_ENOTINCORO", ...) for an error, or
 * "UNKNOWN". Static string; thread-safe. */
const char *ringo_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
