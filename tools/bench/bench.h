/* bench.h - what the modes of ringo-bench share: exit codes, the options
 * every mode takes, address resolution and the runtime start-up. Values
 * are parsed with the tools' flag helpers (tools/common/flags.h).
 *
 * A mode is a function `int mode_main(int argc, char **argv)` (argv[0] is
 * the mode's name) returning the process exit status; main.c dispatches on
 * the first argument.
 */
#ifndef RINGO_BENCH_H
#define RINGO_BENCH_H

#include <ringo.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/flags.h"

#define BENCH_EXIT_OK     TOOL_EXIT_OK
#define BENCH_EXIT_ERRORS TOOL_EXIT_FAIL /* errors, or it could not start */
#define BENCH_EXIT_USAGE  TOOL_EXIT_USAGE

/* Options common to every mode. */
typedef struct bench_common {
    int workers;         /* 0 = ringo's default */
    const char *backend; /* NULL = ringo's default (env or "auto") */
    int json;
    int quiet;
    int verbose;
} bench_common;

/* Long-option ids shared by the modes' getopt_long tables, above any
 * short option character. */
enum {
    BENCH_OPT_WORKERS = 0x100,
    BENCH_OPT_BACKEND,
    BENCH_OPT_JSON,
    BENCH_OPT_QUIET,
    BENCH_OPT_VERBOSE,
    BENCH_OPT_MODE_FIRST /* modes number their own long options from here */
};

/* Handle a common option (id from getopt_long, its argument). Returns 1 if
 * it was one, 0 if not, -1 on a bad value (message printed, as prog). */
int bench_common_option(const char *prog, bench_common *common, int id, const char *arg);

/* Usage text for the common options, for a mode's --help. */
extern const char bench_common_usage[];

/* Program name for messages ("ringo-bench"). */
extern const char *bench_prog;

/* Resolve "host:port" / "[v6]:port" into *addr: numeric hosts directly,
 * names through getaddrinfo (blocking: call before the runtime starts).
 * Returns 0 or -1 after printing why. */
int bench_resolve(const char *text, ringo_addr *addr);

/* Start ringo with the common options (ringo_config_init, then workers and
 * backend from the flags) and run fn(arg) as the main coroutine. SIGINT and
 * SIGTERM stop the runtime (ringo's own handling, so every blocking call
 * returns -ECANCELED and fn can still report); a second one exits at once.
 * Returns ringo_main's result (message printed if it failed). */
int bench_run(const bench_common *common, void (*fn)(void *arg), void *arg);

/* Mode entry points. */
int echo_main(int argc, char **argv);
int http_main(int argc, char **argv);

#endif
