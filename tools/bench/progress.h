/* progress.h - one-line live status on stderr, redrawn in place with \r.
 *
 * Enabled only when stderr is a terminal and the user did not ask for
 * --quiet, so logs and pipes never receive carriage returns. Any thread
 * that writes a message to stderr while the line may be showing calls
 * progress_log(), which erases the line first; the next update redraws
 * it.
 */
#ifndef RINGO_BENCH_PROGRESS_H
#define RINGO_BENCH_PROGRESS_H

#include <stdint.h>

/* Decide once whether the display is on: stderr is a tty and !quiet. */
void progress_init(int quiet);

int progress_enabled(void);

/* What one status line shows. Negative fields are left out. */
typedef struct progress_sample {
    double elapsed_s;      /* since the run started (connections up) */
    const char *phase;     /* "connecting", "warmup", "measuring", ... */
    double rate_per_s;     /* units of the last interval per second */
    const char *rate_unit; /* "msgs/s", "req/s" */
    int64_t p99_ns;        /* p99 of the measured window so far */
    uint64_t errors;
    uint64_t conns_up; /* connections currently open */
    uint64_t conns_total;
} progress_sample;

/* Redraw the status line. No-op when disabled. */
void progress_update(const progress_sample *s);

/* printf-style message on stderr that first erases the status line.
 * Safe from any thread. */
void progress_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Erase the status line, e.g. before writing to stdout when stdout is the
 * same terminal; the next progress_update() draws it again. */
void progress_clear(void);

#endif
