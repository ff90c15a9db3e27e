/* pattern.h - deterministic message payloads that can be verified without
 * keeping a copy.
 *
 * A message is named by (stream, seq) - for the echo mode, the connection
 * id and the message's sequence number on it. Its key picks its size and
 * every byte: byte i is a byte of a hash of (key, i / 8). Any byte of any
 * message can thus be recomputed on its own, so a reader checks echoed data
 * as it arrives, in whatever chunks the kernel delivers, and a dropped,
 * duplicated, reordered or corrupted byte shows up at the first position
 * where it matters.
 */
#ifndef RINGO_BENCH_PATTERN_H
#define RINGO_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64's finaliser: a cheap bijective 64-bit mix. */
static inline uint64_t pattern_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t pattern_key(uint64_t stream, uint64_t seq)
{
    return pattern_mix(pattern_mix(stream + 0x9e3779b97f4a7c15ull) ^ seq);
}

/* Size of the message with this key, uniform in [min, max]. */
static inline size_t pattern_size(uint64_t key, size_t min, size_t max)
{
    if (max <= min)
        return min;
    /* The key's low bits already went into the contents; rehash so size and
     * contents are independent. Modulo bias is < span / 2^64: irrelevant. */
    return min + (size_t)(pattern_mix(key ^ 0x5851f42d4c957f2dull) % (uint64_t)(max - min + 1));
}

/* Odd, so consecutive words of a message never repeat (period 2^64). */
#define PATTERN_STEP 0x9e3779b97f4a7c15ull

/* The 8 payload bytes at [8*index, 8*index+8): a Weyl sequence started at
 * the key, so a writer or checker walking a message pays one add per word.
 * The key is well mixed; the point is to catch misplaced data, not to be
 * a good PRNG. */
static inline uint64_t pattern_word(uint64_t key, uint64_t index)
{
    return key + index * PATTERN_STEP;
}

/* Write the first len bytes of message `key` to dst. */
void pattern_fill(uint64_t key, uint8_t *dst, size_t len);

/* Expected byte at `offset` of message `key`. */
uint8_t pattern_byte(uint64_t key, size_t offset);

/* Compare p[0..len) with bytes [offset, offset+len) of message `key`.
 * Returns the index in p of the first differing byte, or len if all match. */
size_t pattern_check(uint64_t key, size_t offset, const uint8_t *p, size_t len);

#endif
