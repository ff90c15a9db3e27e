/* Coroutine stacks: mmap'd, a guard page below, committed lazily by the
 * kernel on first touch, recycled through a per-worker free list. */
#ifndef RINGO_SCHED_STACK_H
#define RINGO_SCHED_STACK_H

#include <stddef.h>

struct ringo_stack {
    char *base;   /* start of the mapping: the guard page(s) */
    size_t guard; /* bytes of guard at base */
    size_t size;  /* usable bytes above the guard */
    struct ringo_stack_free *next_free;
    unsigned vg_id; /* valgrind's id for the registered stack */
};

struct stack_pool {
    size_t stack_size;             /* usable bytes per stack (page-rounded) */
    size_t guard;                  /* guard bytes */
    struct ringo_stack_free *free; /* cached stacks, most recently used first */
    size_t nfree, max_free;
};

static inline char *ringo_stack_top(const struct ringo_stack *s)
{
    return s->base + s->guard + s->size;
}

void stack_pool_init(struct stack_pool *p, size_t stack_size);
void stack_pool_fini(struct stack_pool *p);

/* Take a stack from the pool or map a new one. Returns 0, or -ENOMEM.
 * *mapped is set to 1 when a new mapping was made. */
int stack_get(struct stack_pool *p, struct ringo_stack *s, int *mapped);

/* Give a stack back (cached, or unmapped when the pool is full). */
void stack_put(struct stack_pool *p, struct ringo_stack *s);

/* 1 if addr lies in the guard area of a stack of size stack_size whose
 * usable top is top. */
int stack_in_guard(const struct ringo_stack *s, const void *addr);

#endif
