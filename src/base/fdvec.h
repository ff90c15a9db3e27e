/* Tables indexed by file descriptor (the backends' per-fd state): grown by
 * doubling to cover a given fd, new entries zeroed. Growth is the only
 * allocation, and it happens only for fd numbers never seen before. */
#ifndef RINGO_BASE_FDVEC_H
#define RINGO_BASE_FDVEC_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Make (*items)[fd] valid for an array of *len elements of elem bytes.
 * Returns 0, -EBADF for fd < 0, or -ENOMEM (the table is unchanged). */
static inline int fdvec_reserve(void **items, size_t *len, size_t elem, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd < *len)
        return 0;
    size_t n = *len ? *len : 256;
    while (n <= (size_t)fd)
        n *= 2;
    char *p = realloc(*items, n * elem);
    if (!p)
        return -ENOMEM;
    memset(p + *len * elem, 0, (n - *len) * elem);
    *items = p;
    *len = n;
    return 0;
}

#endif
