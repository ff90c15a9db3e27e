/* pattern.c - deterministic, position-verifiable payloads; see pattern.h. */
#include "pattern.h"

#include <string.h>

/* Words are stored with memcpy in host byte order, by writer and checker
 * alike, so the pattern is the same on both ends of an in-process echo. */

void pattern_fill(uint64_t key, uint8_t *dst, size_t len)
{
    size_t words = len / 8;
    uint64_t w = key;
    for (size_t i = 0; i < words; i++, w += PATTERN_STEP)
        memcpy(dst + 8 * i, &w, 8);
    if (len % 8)
        memcpy(dst + 8 * words, &w, len % 8);
}

uint8_t pattern_byte(uint64_t key, size_t offset)
{
    uint64_t w = pattern_word(key, offset / 8);
    uint8_t bytes[8];
    memcpy(bytes, &w, 8);
    return bytes[offset % 8];
}

/* Index of the first byte of p[0..len) that differs from the message at
 * offset; len if none. The slow path, once a difference is known. */
static size_t first_difference(uint64_t key, size_t offset, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(key, offset + i))
            return i;
    return len;
}

size_t pattern_check(uint64_t key, size_t offset, const uint8_t *p, size_t len)
{
    size_t i = 0;
    /* Bytes up to the next word boundary of the message. */
    while (i < len && (offset + i) % 8 != 0) {
        if (p[i] != pattern_byte(key, offset + i))
            return i;
        i++;
    }
    uint64_t w = pattern_word(key, (offset + i) / 8);
    /* Blocks of 8 words OR-ed together without a branch per word: this is
     * the hot loop of the echo client, so it must cost less than the
     * kernel's copy of the same bytes. */
    while (len - i >= 64) {
        uint64_t diff = 0;
        for (unsigned k = 0; k < 8; k++) {
            uint64_t got;
            memcpy(&got, p + i + 8 * k, 8);
            diff |= got ^ (w + k * PATTERN_STEP);
        }
        if (diff)
            return i + first_difference(key, offset + i, p + i, 64);
        w += 8 * PATTERN_STEP;
        i += 64;
    }
    while (len - i >= 8) {
        uint64_t got;
        memcpy(&got, p + i, 8);
        if (got != w)
            return i + first_difference(key, offset + i, p + i, 8);
        w += PATTERN_STEP;
        i += 8;
    }
    return i + first_difference(key, offset + i, p + i, len - i);
}
