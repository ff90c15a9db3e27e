/* tools/common/flags.h - strict command-line values for the ringo tools
 * (ringo-httpd, ringo-echo, ringo-bench): numbers, sizes, durations,
 * choices and numeric addresses, each checked whole and against its range,
 * with one message format naming the flag and what is wrong:
 *
 *   ringo-httpd: --port: 'abc' is not a number (0-65535)
 *
 * Every parser returns 0 and fills *out, or -1 after printing such a line
 * on stderr (and leaves *out alone). prog is the program's name, flag the
 * option as the user wrote it ("--port"). Nothing here blocks or keeps
 * state; call before or inside the runtime. */
#ifndef RINGO_TOOLS_FLAGS_H
#define RINGO_TOOLS_FLAGS_H

#include <getopt.h>
#include <stdint.h>

#include <ringo.h>

/* Exit statuses of every tool. */
#define TOOL_EXIT_OK    0
#define TOOL_EXIT_FAIL  1 /* could not start (cannot listen, bad --root) or failed */
#define TOOL_EXIT_USAGE 2 /* bad command line */

/* A plain decimal integer in [min, max]: digits only, no sign, no
 * suffix, no spaces ("-1" is out of range, "12x" is not a number). */
int flag_uint(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
              uint64_t *out);
/* The same into an int; 0 <= min <= max <= INT_MAX. */
int flag_int(const char *prog, const char *flag, const char *text, int min, int max, int *out);

/* A whole number with an optional decimal multiple: 1000, 10k, 2.5m, 1g
 * (k = 1e3, m = 1e6, g = 1e9). */
int flag_count(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
               uint64_t *out);

/* A byte size with an optional binary multiple: 1024, 64k, 1M, 1GiB
 * (k/kb/kib = 1024, m = 2^20, g = 2^30; case-insensitive). */
int flag_bytes(const char *prog, const char *flag, const char *text, uint64_t min, uint64_t max,
               uint64_t *out);

/* A duration in seconds: 5, 2.5, 2.5s, 500ms, 100us, 1m (minutes), 1h. */
int flag_seconds(const char *prog, const char *flag, const char *text, double min, double max,
                 double *out);

/* One of the NULL-terminated choices, exactly; *out = its index. The
 * message lists them. */
int flag_choice(const char *prog, const char *flag, const char *text, const char *const *choices,
                int *out);

/* A numeric listen/connect address "ADDR:PORT", "[v6]:PORT", "*:PORT" or
 * ":PORT" (the last two: every IPv6 and IPv4 address), port 0-65535. */
int flag_hostport(const char *prog, const char *flag, const char *text, ringo_addr *out);

/* The address of --host HOST (numeric, "*" = every address) and a port
 * already checked: "[v6]" brackets are optional. Names host_flag in the
 * message. */
int flag_host_and_port(const char *prog, const char *host_flag, const char *host, int port,
                       ringo_addr *out);

/* After getopt_long returned '?' or ':' (call with opterr = 0 and an
 * optstring starting with ':'): print "<prog>: unknown flag '--x'",
 * "<prog>: --port: missing value" or "<prog>: --quiet: takes no value",
 * then the hint "Run '<prog> --help' for the flags.". Returns
 * TOOL_EXIT_USAGE. */
int flag_getopt_error(const char *prog, int c, char **argv, const struct option *longopts);

/* Positional arguments left after the flags (a tool takes none): prints
 * "<prog>: unexpected argument 'x'" and the hint, returns
 * TOOL_EXIT_USAGE; returns -1 if there are none. */
int flag_no_operands(const char *prog, int argc, char **argv);

/* The hint line alone, for a caller's own usage error. */
void flag_hint(const char *prog);

#endif
