/* hist.c - log-bucketed latency histogram; see hist.h. */
#include "hist.h"

#include <math.h>

/* Single-writer increment: a relaxed load and store compile to plain moves,
 * where atomic_fetch_add would cost a locked instruction per sample. Safe
 * only because each histogram has one writer. */
static inline void add_relaxed(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline uint64_t load_relaxed(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

unsigned hist_bucket_of(uint64_t value)
{
    if (value < HIST_SUB_COUNT)
        return (unsigned)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = msb - HIST_SUB_BITS;
    /* value >> shift lies in [SUB_COUNT, 2*SUB_COUNT): the buckets of one
     * power of two follow those of the previous one without a gap. */
    return shift * HIST_SUB_COUNT + (unsigned)(value >> shift);
}

uint64_t hist_bucket_low(unsigned bucket)
{
    if (bucket < 2 * HIST_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HIST_SUB_COUNT - 1;
    uint64_t top = HIST_SUB_COUNT + bucket % HIST_SUB_COUNT;
    return top << shift;
}

uint64_t hist_bucket_high(unsigned bucket)
{
    if (bucket < 2 * HIST_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HIST_SUB_COUNT - 1;
    return hist_bucket_low(bucket) + ((uint64_t)1 << shift) - 1;
}

void hist_reset(hist *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->total, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
}

void hist_record(hist *h, uint64_t value)
{
    add_relaxed(&h->counts[hist_bucket_of(value)], 1);
    add_relaxed(&h->sum, value);
    if (value < load_relaxed(&h->min))
        atomic_store_explicit(&h->min, value, memory_order_relaxed);
    if (value > load_relaxed(&h->max))
        atomic_store_explicit(&h->max, value, memory_order_relaxed);
    /* total last, so a concurrent reader rarely sees more samples counted
     * in total than in the buckets (percentile search tolerates either). */
    add_relaxed(&h->total, 1);
}

void hist_merge(hist *dst, const hist *src)
{
    uint64_t total = load_relaxed(&src->total);
    if (total == 0)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        uint64_t c = load_relaxed(&src->counts[i]);
        if (c)
            add_relaxed(&dst->counts[i], c);
    }
    add_relaxed(&dst->sum, load_relaxed(&src->sum));
    uint64_t mn = load_relaxed(&src->min), mx = load_relaxed(&src->max);
    if (mn < load_relaxed(&dst->min))
        atomic_store_explicit(&dst->min, mn, memory_order_relaxed);
    if (mx > load_relaxed(&dst->max))
        atomic_store_explicit(&dst->max, mx, memory_order_relaxed);
    add_relaxed(&dst->total, total);
}

uint64_t hist_total(const hist *h)
{
    return load_relaxed(&h->total);
}

uint64_t hist_min(const hist *h)
{
    return hist_total(h) ? load_relaxed(&h->min) : 0;
}

uint64_t hist_max(const hist *h)
{
    return hist_total(h) ? load_relaxed(&h->max) : 0;
}

double hist_mean(const hist *h)
{
    uint64_t n = hist_total(h);
    return n ? (double)load_relaxed(&h->sum) / (double)n : 0.0;
}

uint64_t hist_percentile(const hist *h, double percent)
{
    uint64_t total = hist_total(h);
    if (total == 0)
        return 0;
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    /* Rank of the wanted sample, 1-based: ceil(p% of n), at least 1. */
    uint64_t rank = (uint64_t)ceil(percent / 100.0 * (double)total);
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    uint64_t max = load_relaxed(&h->max);
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += load_relaxed(&h->counts[i]);
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            return v < max ? v : max;
        }
    }
    /* Only reachable while a writer runs (total ahead of the buckets). */
    return max;
}
