#include "io/bufpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io/backend.h"
#include "ringo/net.h"
#include "sched/sched.h"

int ringo__bufpool_init(struct bufpool *p, unsigned count, size_t size)
{
    p->size = size;
    p->count = count;
    p->nfree = 0;
    p->mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->mem == MAP_FAILED) {
        p->mem = NULL;
        return -ENOMEM;
    }
    p->free = malloc(count * sizeof(*p->free));
    if (!p->free) {
        munmap(p->mem, (size_t)count * size);
        p->mem = NULL;
        return -ENOMEM;
    }
    /* hand out low ids first: fewer pages touched under light load */
    for (unsigned i = count; i-- > 0;)
        p->free[p->nfree++] = i;
    return 0;
}

void ringo__bufpool_fini(struct bufpool *p)
{
    if (p->mem)
        munmap(p->mem, (size_t)p->count * p->size);
    free(p->free);
    p->mem = NULL;
    p->free = NULL;
}

void *ringo__bufpool_get(struct bufpool *p, uint32_t *id)
{
    if (p->nfree) {
        *id = p->free[--p->nfree];
        return ringo__bufpool_addr(p, *id);
    }
    *id = BUFPOOL_SPARE;
    return malloc(p->size);
}

void ringo__bufpool_put(struct bufpool *p, void *data, uint32_t id)
{
    if (id == BUFPOOL_SPARE)
        free(data);
    else
        p->free[p->nfree++] = id;
}

int ringo__borrow_single(struct ringo_worker *w, struct bufpool *pool, struct ringo_op *op,
                         int (*io)(struct ringo_worker *, struct ringo_op *))
{
    ringo_buf *b = op->buf;
    uint32_t id;
    void *data = ringo__bufpool_get(pool, &id);
    if (!data)
        return -ENOMEM;
    if (id == BUFPOOL_SPARE)
        STAT_INC(w, bufs_spare);
    struct ringo_op rd;
    memset(&rd, 0, sizeof(rd));
    rd.opcode = RINGO_OP_READ;
    rd.fd = op->fd;
    rd.buf = data;
    /* len 0: a whole buffer; else at most len (fault injection cuts it) */
    rd.len = op->len && op->len < pool->size ? op->len : pool->size;
    rd.deadline = op->deadline;
    rd.single = 1;
    int r = io(w, &rd);
    if (r <= 0) {
        ringo__bufpool_put(pool, data, id);
        return r;
    }
    b->data = data;
    b->len = (size_t)r;
    b->id_ = id;
    b->owner_ = (uint32_t)w->id + 1;
    return r;
}
