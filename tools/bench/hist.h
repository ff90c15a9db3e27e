/* hist.h - log-bucketed latency histogram (HdrHistogram-like).
 *
 * Values are unsigned 64-bit (nanoseconds here). Values below 64 are
 * counted exactly; above, each power of two is split into 64 linear
 * sub-buckets, so a reported value is within 1/64 (1.6 %) of the true one
 * over the whole 64-bit range. Recording is a shift, a count-leading-zeros
 * and an add: no allocation, no branch on the value's magnitude beyond one.
 *
 * Concurrency: one writer per histogram, any number of readers on other
 * threads. Every field is an atomic updated with relaxed load+store (no
 * locked instruction on the hot path), so a reader sees each counter
 * exactly but not the set at one instant - good enough for a progress
 * line, exact once the writer has stopped.
 */
#ifndef RINGO_BENCH_HIST_H
#define RINGO_BENCH_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS  6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
/* Index of UINT64_MAX plus one: (63 - SUB_BITS) shifts of SUB_COUNT
 * buckets above the exact range, plus the exact range itself. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB_COUNT + HIST_SUB_COUNT)

typedef struct hist {
    _Atomic uint64_t counts[HIST_BUCKETS];
    _Atomic uint64_t total;
    _Atomic uint64_t sum; /* wraps after 584 years of nanoseconds */
    _Atomic uint64_t min;
    _Atomic uint64_t max;
} hist;

/* Empty the histogram. Not concurrent with a writer. */
void hist_reset(hist *h);

/* Record one value. Only the histogram's single writer may call it. */
void hist_record(hist *h, uint64_t value);

/* Add every count of src into dst. The caller must be dst's only writer;
 * src may be written concurrently (its counts are then a snapshot). */
void hist_merge(hist *dst, const hist *src);

uint64_t hist_total(const hist *h);
uint64_t hist_min(const hist *h); /* 0 when empty */
uint64_t hist_max(const hist *h); /* 0 when empty */
double hist_mean(const hist *h);  /* 0 when empty */

/* Smallest recorded value v such that at least `percent` % of the values
 * are <= v, reported as the upper edge of v's bucket (never above the
 * maximum recorded). percent in [0, 100]; 0 when empty. */
uint64_t hist_percentile(const hist *h, double percent);

/* Bucket arithmetic, exposed for tests. */
unsigned hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(unsigned bucket);
uint64_t hist_bucket_high(unsigned bucket); /* inclusive */

#endif
