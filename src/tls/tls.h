/* src/tls/tls.h - what other layers (HTTP) use of the TLS layer beyond
 * ringo/tls.h; no OpenSSL types. */
#ifndef RINGO_TLS_TLS_H
#define RINGO_TLS_TLS_H

#include <stdbool.h>

#include <ringo/tls.h>

/* Take a reference (ringo_tls_ctx_free drops it); returns ctx. */
ringo_tls_ctx *ringo__tls_ctx_ref(ringo_tls_ctx *ctx);
bool ringo__tls_ctx_is_server(const ringo_tls_ctx *ctx);

#endif
