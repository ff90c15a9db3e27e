/* Per-worker pool of equal-sized receive buffers for ringo_recv_borrow.
 *
 * One mmap'd region of count x size bytes, committed as pages are first
 * written. On io_uring with multishot recv the region is the provided
 * buffer ring's memory and the kernel picks buffers; otherwise the free
 * stack below hands them out. When none is free a spare is malloc'd
 * (counted: it is the slow path) so a borrow never waits for a release. */
#ifndef RINGO_IO_BUFPOOL_H
#define RINGO_IO_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#define BUFPOOL_SPARE 0xffffffffu /* id of a malloc'd spare buffer */

struct bufpool {
    char *mem;
    size_t size;    /* bytes per buffer */
    unsigned count; /* buffers in mem */
    uint32_t *free; /* free-stack of ids (not used while the kernel owns them) */
    unsigned nfree;
};

/* Map count buffers of size bytes; all free. Returns 0 or -errno. */
int ringo__bufpool_init(struct bufpool *p, unsigned count, size_t size);
void ringo__bufpool_fini(struct bufpool *p);

static inline void *ringo__bufpool_addr(const struct bufpool *p, uint32_t id)
{
    return p->mem + (size_t)id * p->size;
}

/* A free buffer (or a spare; *id = BUFPOOL_SPARE), NULL if out of memory. */
void *ringo__bufpool_get(struct bufpool *p, uint32_t *id);

/* Give back a buffer from ringo__bufpool_get. */
void ringo__bufpool_put(struct bufpool *p, void *data, uint32_t id);

#endif
