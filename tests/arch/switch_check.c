/* Standalone check of the context switch for any architecture, without
 * the runtime (no liburing): ping-pong between the main stack and a
 * context built by ringo__context_init; the compiler keeps live values in
 * callee-saved registers across ringo__switch, and the FP rounding mode is
 * set differently on each side. Used by scripts/check-aarch64.sh under
 * qemu-user; prints "switch_check: ok" and exits 0 on success. */
#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>

#include "sched/context.h"

static void *main_sp, *co_sp;
static volatile int failures;

static void co_entry(void *arg)
{
    long base = (long)(intptr_t)arg;
    fesetround(FE_UPWARD);
    for (long i = 0;; i++) {
        /* many live values: they end up in callee-saved registers */
        long a = base + i, b = a * 3, c = b ^ 0x5555, d = c + 7, e = d * 11, f = e - 1;
        double x = (double)a + 0.5;
        ringo__switch(&co_sp, main_sp);
        if (fegetround() != FE_UPWARD)
            failures++;
        if (b != a * 3 || c != (b ^ 0x5555) || d != c + 7 || e != d * 11 || f != e - 1 ||
            x != (double)a + 0.5)
            failures++;
    }
}

int main(void)
{
    size_t sz = 64 * 1024;
    char *stack = malloc(sz);
    co_sp = ringo__context_init(stack + sz, co_entry, (void *)(intptr_t)1000);
    fesetround(FE_DOWNWARD);
    for (long i = 0; i < 100000; i++) {
        long a = i * 7, b = a + 13, c = b * b, d = c - a;
        double y = (double)i * 0.25;
        ringo__switch(&main_sp, co_sp);
        if (fegetround() != FE_DOWNWARD)
            failures++;
        if (b != a + 13 || c != b * b || d != c - a || y != (double)i * 0.25)
            failures++;
    }
    free(stack);
    if (failures) {
        printf("switch_check: %d failures\n", failures);
        return 1;
    }
    printf("switch_check: ok\n");
    return 0;
}
