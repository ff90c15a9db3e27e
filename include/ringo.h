/* ringo.h - Go-style coroutines driven by io_uring completions (epoll
 * fallback) for Linux servers. Include this one header.
 *
 *   ringo/error.h    error conventions, ringo_strerror
 *   ringo/runtime.h  ringo_main, workers, coroutines, sleep, time
 *   ringo/net.h      sockets, read/write with deadlines, close
 *   ringo/stats.h    runtime counters
 *   ringo/chan.h     channels and select
 *   ringo/sync.h     mutex, condition variable, wait group, once, semaphore
 *   ringo/offload.h  run blocking code on a thread pool
 *   ringo/file.h     file I/O (io_uring, or the offload pool on epoll)
 *   ringo/http.h     HTTP/1.1 server, router, static files, metrics
 *   ringo/tls.h      TLS streams (OpenSSL 3): server and client
 */
#ifndef RINGO_H
#define RINGO_H

#define RINGO_VERSION_MAJOR  0
#define RINGO_VERSION_MINOR  1
#define RINGO_VERSION_PATCH  0
#define RINGO_VERSION_STRING "0.1.0"

/* Every call returns >= 0 or -errno: the E* names come with the header. */
#include <errno.h>

#include "ringo/error.h"
#include "ringo/runtime.h"
#include "ringo/net.h"
#include "ringo/stats.h"
#include "ringo/chan.h"
#include "ringo/sync.h"
#include "ringo/offload.h"
#include "ringo/file.h"
#include "ringo/http.h"
#include "ringo/tls.h"

#endif
