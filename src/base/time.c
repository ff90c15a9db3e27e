#include <ringo/runtime.h>

#include <time.h>

int64_t ringo_now(void)
{
    struct timespec ts;
    /* vDSO: no syscall. The clock of every deadline and of io_uring's
     * IORING_TIMEOUT_ABS (CLOCK_MONOTONIC unless told otherwise). */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ringo_deadline_in(int64_t ns)
{
    if (ns < 0)
        return RINGO_FOREVER;
    int64_t now = ringo_now();
    if (ns > INT64_MAX - now)
        return INT64_MAX;
    /* RINGO_NOWAIT is 0: a deadline "now" must not read as "no wait" by
     * accident, but it is in the past anyway, which means the same. */
    return now + ns;
}
