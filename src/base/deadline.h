/* src/base/deadline.h - combining absolute deadlines (ringo_now()
 * nanoseconds, RINGO_FOREVER = -1 for none). */
#ifndef RINGO_BASE_DEADLINE_H
#define RINGO_BASE_DEADLINE_H

#include <stdint.h>

/* The earlier of two deadlines; RINGO_FOREVER (any negative) loses. */
static inline int64_t ringo__deadline_min(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

#endif
