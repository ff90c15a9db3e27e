/* A spinlock for the short critical sections of objects shared between
 * workers (channels, mutexes, wait queues): a handful of pointer moves,
 * never a syscall or a park while held. Cheaper than a pthread mutex when
 * uncontended (one xchg, no call), and a worker that loses the race spins
 * only for as long as the owner needs to move those pointers; after a
 * while it yields the CPU in case the owner was preempted. */
#ifndef RINGO_BASE_SPIN_H
#define RINGO_BASE_SPIN_H

#include <sched.h>
#include <stdatomic.h>

typedef struct {
    _Atomic int locked;
} ringo__spin;

#define RINGO__SPIN_INIT                                                                           \
    {                                                                                              \
        0                                                                                          \
    }

static inline void ringo__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* One step of waiting for an owner: pause, and after a while yield the
 * CPU in case the owner was preempted. */
static inline void ringo__spin_backoff(unsigned *spins)
{
    if (++*spins < 1000)
        ringo__cpu_relax();
    else
        sched_yield();
}

static inline void ringo__spin_lock(ringo__spin *l)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&l->locked, memory_order_relaxed))
            ringo__spin_backoff(&spins);
    }
}

/* Wait until l is seen free, without taking it. The acquire load that
 * sees it free orders the last owner's critical section, unlock included,
 * before what follows. */
static inline void ringo__spin_await_free(ringo__spin *l)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&l->locked, memory_order_acquire))
        ringo__spin_backoff(&spins);
}

static inline void ringo__spin_unlock(ringo__spin *l)
{
    atomic_store_explicit(&l->locked, 0, memory_order_release);
}

#endif
