/* progress.c - one-line live status on stderr; see progress.h. */
#include "progress.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#define ERASE_LINE "\r\033[K"

static int display_on;
/* Whether a status line is on screen, so a log message knows to erase it.
 * Guarded by stderr's stdio lock (flockfile), which also keeps the erase,
 * the message and a redraw from interleaving between threads. */
static int line_shown;

void progress_init(int quiet)
{
    display_on = !quiet && isatty(STDERR_FILENO);
}

int progress_enabled(void)
{
    return display_on;
}

static void format_ns(char *buf, size_t len, int64_t ns)
{
    if (ns < 10 * 1000 * 1000)
        snprintf(buf, len, "%.1fus", (double)ns / 1e3);
    else
        snprintf(buf, len, "%.1fms", (double)ns / 1e6);
}

void progress_update(const progress_sample *s)
{
    if (!display_on)
        return;
    char p99[32] = "-";
    if (s->p99_ns >= 0)
        format_ns(p99, sizeof p99, s->p99_ns);
    flockfile(stderr);
    fprintf(stderr, ERASE_LINE "%7.1fs  %-10s %10.0f %s  p99 %-9s  conns %llu/%llu  errors %llu",
            s->elapsed_s, s->phase ? s->phase : "", s->rate_per_s,
            s->rate_unit ? s->rate_unit : "/s", p99, (unsigned long long)s->conns_up,
            (unsigned long long)s->conns_total, (unsigned long long)s->errors);
    fflush(stderr);
    line_shown = 1;
    funlockfile(stderr);
}

void progress_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flockfile(stderr);
    if (line_shown) {
        fputs(ERASE_LINE, stderr);
        line_shown = 0;
    }
    vfprintf(stderr, fmt, ap);
    fflush(stderr);
    funlockfile(stderr);
    va_end(ap);
}

void progress_clear(void)
{
    flockfile(stderr);
    if (line_shown) {
        fputs(ERASE_LINE, stderr);
        fflush(stderr);
        line_shown = 0;
    }
    funlockfile(stderr);
}
