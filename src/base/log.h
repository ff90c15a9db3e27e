#ifndef RINGO_BASE_LOG_H
#define RINGO_BASE_LOG_H

/* One line to stderr, prefixed "ringo: ", written with a single write(2)
 * so lines from several workers do not interleave. */
void ringo__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
