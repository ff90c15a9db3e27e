/* ringo.h - Go-style coroutines driven by io_uring completions (epoll
 * fallback) for Linux servers. Include this one header.
 *
 *   ringo/error.h    error conventions, ringo_strerror
 *   ringo/runtime.h  ringo_main, workers, coroutines, sleep, time
 *   ringo/net.h      sockets, read/write with deadlines, close
 *   ringo/stats.h    runtime counters
 */
#ifndef RINGO_H
#define RINGO_H

#define RINGO_VERSION_MAJOR  0
#define RINGO_VERSION_MINOR  1
#define RINGO_VERSION_PATCH  0
#define RINGO_VERSION_STRING "0.1.0"

#include "ringo/error.h"
#include "ringo/runtime.h"
#include "ringo/net.h"
#include "ringo/stats.h"

#endif
