#include "sched/stack.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

/* Linux 6.13 added lightweight guard regions: they fault like PROT_NONE
 * but do not split the VMA, so 100k coroutine stacks do not need 200k
 * mappings (vm.max_map_count defaults to 65530). Older kernels say EINVAL
 * and we fall back to mprotect. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A freed stack keeps its free-list node in its top bytes (it is ours). */
struct ringo_stack_free {
    struct ringo_stack s;
};

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

void stack_pool_init(struct stack_pool *p, size_t stack_size)
{
    size_t pg = page_size();
    if (stack_size < 16 * 1024)
        stack_size = 16 * 1024;
    p->stack_size = (stack_size + pg - 1) & ~(pg - 1);
    /* 64 KiB of guard: a frame larger than one page can jump a single
     * guard page into the neighbouring stack; address space is cheap */
    p->guard = 64 * 1024 > pg ? 64 * 1024 : pg;
    p->free = NULL;
    p->nfree = 0;
    /* Warm stacks make spawn cheap; beyond this many, give memory back. */
    p->max_free = 1024;
}

static void unmap(struct ringo_stack *s)
{
#ifdef HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->base, s->guard + s->size);
}

void stack_pool_fini(struct stack_pool *p)
{
    while (p->free) {
        struct ringo_stack_free *f = p->free;
        p->free = f->s.next_free;
        struct ringo_stack s = f->s;
        unmap(&s);
    }
    p->nfree = 0;
}

int stack_get(struct stack_pool *p, struct ringo_stack *s, int *mapped)
{
    *mapped = 0;
    if (p->free) {
        struct ringo_stack_free *f = p->free;
        p->free = f->s.next_free;
        p->nfree--;
        *s = f->s;
        return 0;
    }
    size_t total = p->guard + p->stack_size;
    char *base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -ENOMEM;
    if (madvise(base, p->guard, MADV_GUARD_INSTALL) != 0 &&
        mprotect(base, p->guard, PROT_NONE) != 0) {
        munmap(base, total);
        return -ENOMEM;
    }
    s->base = base;
    s->guard = p->guard;
    s->size = p->stack_size;
    s->next_free = NULL;
    s->vg_id = 0;
#ifdef HAVE_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(base + p->guard, base + total);
#endif
    *mapped = 1;
    return 0;
}

void stack_put(struct stack_pool *p, struct ringo_stack *s)
{
    if (p->nfree >= p->max_free || s->size != p->stack_size) {
        unmap(s);
        return;
    }
    struct ringo_stack_free *f =
        (struct ringo_stack_free *)(ringo_stack_top(s) - sizeof(struct ringo_stack_free));
    f->s = *s;
    f->s.next_free = p->free;
    p->free = f;
    p->nfree++;
}

int stack_in_guard(const struct ringo_stack *s, const void *addr)
{
    const char *a = addr;
    return a >= s->base && a < s->base + s->guard;
}
