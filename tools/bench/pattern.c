/* pattern.c - deterministic, position-verifiable payloads; see pattern.h. */
#include "pattern.h"

#include <string.h>

/* Words are stored with memcpy in host byte order, by writer and checker
 * alike, so the pattern is the same on both ends of an in-process echo. */

void pattern_fill(uint64_t key, uint8_t *dst, size_t len)
{
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = pattern_word(key, i);
        memcpy(dst + 8 * i, &w, 8);
    }
    size_t tail = len % 8;
    if (tail) {
        uint64_t w = pattern_word(key, words);
        memcpy(dst + 8 * words, &w, tail);
    }
}

uint8_t pattern_byte(uint64_t key, size_t offset)
{
    uint64_t w = pattern_word(key, offset / 8);
    uint8_t bytes[8];
    memcpy(bytes, &w, 8);
    return bytes[offset % 8];
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
    /* Whole words: one load and compare per 8 bytes. */
    while (len - i >= 8) {
        uint64_t got;
        memcpy(&got, p + i, 8);
        if (got != pattern_word(key, (offset + i) / 8)) {
            size_t j = i;
            while (p[j] == pattern_byte(key, offset + j))
                j++;
            return j;
        }
        i += 8;
    }
    for (; i < len; i++)
        if (p[i] != pattern_byte(key, offset + i))
            return i;
    return len;
}
