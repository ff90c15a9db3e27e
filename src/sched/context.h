/* Stack switching: the assembly primitive and the initial frame of a new
 * coroutine, per architecture. */
#ifndef RINGO_SCHED_CONTEXT_H
#define RINGO_SCHED_CONTEXT_H

#include <stdint.h>
#include <string.h>

void ringo__switch(void **save_sp, void *load_sp);
void ringo__trampoline(void);

/* Build the frame ringo__switch expects at the top of a fresh stack so
 * that switching to it calls entry(arg). Returns the stack pointer. */
static inline void *ringo__context_init(char *top, void (*entry)(void *), void *arg)
{
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
    uint64_t *sp = (uint64_t *)t - 8;
    /* MXCSR default (all exceptions masked, round to nearest) and the x87
     * control word default (64-bit precision, exceptions masked). */
    sp[0] = 0x1F80u | ((uint64_t)0x037F << 32);
    sp[1] = 0;                          /* r15 */
    sp[2] = 0;                          /* r14 */
    sp[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    sp[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    sp[5] = 0;                          /* rbx */
    sp[6] = 0;                          /* rbp */
    sp[7] = (uint64_t)(uintptr_t)ringo__trampoline;
    return sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(t - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)arg;                /* x19 */
    sp[1] = (uint64_t)(uintptr_t)entry;              /* x20 */
    sp[11] = (uint64_t)(uintptr_t)ringo__trampoline; /* x30 */
    return sp;
#else
#error "ringo: no context switch for this architecture"
#endif
}

#endif
