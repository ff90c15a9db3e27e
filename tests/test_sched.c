/* Scheduler and coroutine tests: context switch correctness, spawn/join at
 * scale, sleep, cancel, cross-worker join, stop, stack overflow. */
#include "t.h"

#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- callee-saved registers survive a switch ---- */

#if defined(__x86_64__)
void t_yield_thunk(void);
void t_yield_thunk(void)
{
    ringo_yield();
}

/* Load rbx, rbp, r12-r15 with values derived from seed, yield (from
 * assembly, so the compiler cannot save anything for us), then count the
 * registers that changed. Skips the red zone and realigns the stack. */
static long regs_across_yield(long seed)
{
    long bad;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t" /* step over the red zone */
                     "push %%rbp\n\t"
                     "mov %%rsp, %%rax\n\t"
                     "sub $256, %%rsp\n\t"
                     "and $-16, %%rsp\n\t"
                     "push %%rax\n\t"
                     "push %%rdi\n\t"
                     "mov %%rdi, %%rbx\n\t"
                     "lea 1(%%rdi), %%r12\n\t"
                     "lea 2(%%rdi), %%r13\n\t"
                     "lea 3(%%rdi), %%r14\n\t"
                     "lea 4(%%rdi), %%r15\n\t"
                     "lea 5(%%rdi), %%rbp\n\t"
                     "call t_yield_thunk\n\t"
                     "pop %%rdi\n\t"
                     "xor %%eax, %%eax\n\t"
                     "cmp %%rdi, %%rbx\n\t"
                     "setne %%cl\n\t"
                     "movzbl %%cl, %%ecx\n\t"
                     "add %%rcx, %%rax\n\t"
                     "lea 1(%%rdi), %%rdx\n\t"
                     "cmp %%rdx, %%r12\n\t"
                     "setne %%cl\n\t"
                     "add %%rcx, %%rax\n\t"
                     "lea 2(%%rdi), %%rdx\n\t"
                     "cmp %%rdx, %%r13\n\t"
                     "setne %%cl\n\t"
                     "add %%rcx, %%rax\n\t"
                     "lea 3(%%rdi), %%rdx\n\t"
                     "cmp %%rdx, %%r14\n\t"
                     "setne %%cl\n\t"
                     "add %%rcx, %%rax\n\t"
                     "lea 4(%%rdi), %%rdx\n\t"
                     "cmp %%rdx, %%r15\n\t"
                     "setne %%cl\n\t"
                     "add %%rcx, %%rax\n\t"
                     "lea 5(%%rdi), %%rdx\n\t"
                     "cmp %%rdx, %%rbp\n\t"
                     "setne %%cl\n\t"
                     "add %%rcx, %%rax\n\t"
                     "pop %%rcx\n\t"
                     "mov %%rcx, %%rsp\n\t"
                     "pop %%rbp\n\t"
                     "lea 128(%%rsp), %%rsp\n\t"
                     : "=a"(bad), "+D"(seed)
                     :
                     : "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                       "r15", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
                       "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
    return bad;
}
#endif

static _Atomic long reg_failures;

static void reg_coro(void *arg)
{
#if defined(__x86_64__)
    long seed = (long)(intptr_t)arg;
    for (int i = 0; i < 1000; i++)
        reg_failures += regs_across_yield(seed * 1000003 + i);
#else
    (void)arg;
#endif
}

static void reg_main(void *arg)
{
    (void)arg;
    ringo_coro *h[4];
    for (int i = 0; i < 4; i++)
        T_OK(ringo_go(reg_coro, (void *)(intptr_t)(i + 1), &h[i]));
    for (int i = 0; i < 4; i++)
        T_OK(ringo_join(h[i], RINGO_FOREVER));
}

T_CASE(switch_preserves_callee_saved_registers, 0)
{
#if !defined(__x86_64__)
    T_SKIP("register test written for x86_64");
#endif
    t_run(1, reg_main, NULL);
    T_EQ(reg_failures, 0);
}

/* ---- FPU control state is per coroutine ---- */

static _Atomic int fpu_bad;

static void fpu_coro(void *arg)
{
    int mode = (int)(intptr_t)arg;
    fesetround(mode);
    for (int i = 0; i < 200; i++) {
        ringo_yield();
        if (fegetround() != mode)
            fpu_bad++;
        /* the rounding mode must really be in force, not just reported */
        volatile double one = 1.0, three = 3.0;
        double q = one / three;
        fesetround(FE_TONEAREST);
        double nearest = one / three;
        fesetround(mode);
        if (mode == FE_UPWARD && !(q > nearest))
            fpu_bad++;
        if (mode == FE_DOWNWARD && !(q <= nearest))
            fpu_bad++;
    }
}

static void fpu_main(void *arg)
{
    (void)arg;
    ringo_coro *a, *b;
    T_OK(ringo_go(fpu_coro, (void *)(intptr_t)FE_UPWARD, &a));
    T_OK(ringo_go(fpu_coro, (void *)(intptr_t)FE_DOWNWARD, &b));
    T_OK(ringo_join(a, RINGO_FOREVER));
    T_OK(ringo_join(b, RINGO_FOREVER));
    /* the spawner's own mode was never touched */
    if (fegetround() != FE_TONEAREST)
        fpu_bad++;
}

T_CASE(switch_preserves_fpu_control_state, 0)
{
    t_run(1, fpu_main, NULL);
    T_EQ(fpu_bad, 0);
}

/* ---- 100k coroutines spawned and joined ---- */

#define MANY T_SCALE(100000, 1000)
static _Atomic long many_ran;
static ringo_coro **many_h;

static void many_coro(void *arg)
{
    (void)arg;
    ringo_yield(); /* everyone is alive at once */
    many_ran++;
}

static void many_main(void *arg)
{
    (void)arg;
    many_h = calloc(MANY, sizeof(*many_h));
    for (int i = 0; i < MANY; i++)
        T_OK(ringo_go(many_coro, NULL, &many_h[i]));
    ringo_counters st;
    T_OK(ringo_stats(&st));
    T_ASSERT(st.coros_alive >= MANY);
    for (int i = 0; i < MANY; i++)
        T_OK(ringo_join(many_h[i], RINGO_FOREVER));
    T_EQ(many_ran, MANY);
    free(many_h);
}

T_CASE(spawn_join_100k, T_SLOW)
{
    t_run(1, many_main, NULL);
    ringo_counters st;
    T_OK(ringo_stats(&st)); /* final counters of the finished run */
    T_EQ(st.spawned, MANY + 1);
    T_EQ(st.exited, MANY + 1);
}

/* ---- detached coroutines across workers, exact counts ---- */

static _Atomic long on_count[4];
#define GO_ON_N T_SCALE(10000, 1000)

static void count_coro(void *arg)
{
    int expect = (int)(intptr_t)arg;
    if (ringo_worker_id() == expect)
        on_count[expect]++;
}

static void go_on_main(void *arg)
{
    (void)arg;
    int n = ringo_workers();
    T_EQ(n, 2);
    T_EQ(ringo_go_on(2, count_coro, NULL, NULL), -EINVAL);
    for (int i = 0; i < GO_ON_N; i++)
        T_OK(ringo_go_on(i % 2, count_coro, (void *)(intptr_t)(i % 2), NULL));
    ringo_sleep(100 * 1000 * 1000);
}

T_CASE(go_on_places_coroutines, 0)
{
    t_run(2, go_on_main, NULL);
    T_EQ(on_count[0], GO_ON_N / 2);
    T_EQ(on_count[1], GO_ON_N / 2);
}

/* ---- join across workers, with and without timeouts ---- */

static void sleeper(void *arg)
{
    ringo_sleep((int64_t)(intptr_t)arg);
}

static _Atomic int xjoin_ok;

static void xjoin_main(void *arg)
{
    (void)arg;
    /* many short joins racing their deadlines on both sides */
    for (int i = 0; i < 300; i++) {
        ringo_coro *h;
        T_OK(ringo_go_on(1, sleeper, (void *)(intptr_t)(i % 3 * 1000000), &h));
        int r;
        while ((r = ringo_join(h, ringo_deadline_in(500000))) == -ETIMEDOUT)
            ;
        T_OK(r);
    }
    /* a long one times out, then joins */
    ringo_coro *h;
    T_OK(ringo_go_on(1, sleeper, (void *)(intptr_t)(200 * 1000000), &h));
    int64_t t0 = ringo_now();
    T_EQ(ringo_join(h, ringo_deadline_in(20 * 1000000)), -ETIMEDOUT);
    T_ASSERT(ringo_now() - t0 >= 20 * 1000000);
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_ASSERT(ringo_now() - t0 >= 150 * 1000000);
    xjoin_ok = 1;
}

T_CASE(join_across_workers, 0)
{
    t_run(2, xjoin_main, NULL);
    T_EQ(xjoin_ok, 1);
}

/* ---- sleep, cancel, exit, errors ---- */

static _Atomic int misc_ok;
static int exit_reached_end;

static void exits_early(void *arg)
{
    (void)arg;
    ringo_exit();
    exit_reached_end = 1;
}

static void cancel_target(void *arg)
{
    int *res = arg;
    *res = ringo_sleep(10LL * 1000000000);
    /* cancellation is sticky */
    if (ringo_sleep(1000) != -ECANCELED || !ringo_cancelled())
        *res = 12345;
}

static void misc_main(void *arg)
{
    (void)arg;
    /* sleep lasts at least its duration */
    int64_t t0 = ringo_now();
    T_OK(ringo_sleep(10 * 1000000));
    T_ASSERT(ringo_now() - t0 >= 10 * 1000000);
    T_EQ(ringo_sleep_until(RINGO_NOWAIT), 0);

    ringo_coro *h;
    T_OK(ringo_go(exits_early, NULL, &h));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_EQ(exit_reached_end, 0);

    int res = 0;
    T_OK(ringo_go(cancel_target, &res, &h));
    ringo_yield(); /* let it park */
    struct t_watch wd;
    t_watch_start(&wd, ringo_deadline_in(1000000000));
    T_OK(ringo_cancel(h));
    T_OK(ringo_join(h, RINGO_FOREVER));
    T_ASSERT(t_watch_end(&wd)); /* the cancel ended its 10 s sleep */
    T_EQ(res, -ECANCELED);

    T_EQ(ringo_join(NULL, RINGO_FOREVER), -EINVAL);
    T_EQ(ringo_join(ringo_self(), RINGO_FOREVER), -EINVAL);
    T_EQ(ringo_cancel(NULL), -EINVAL);
    T_EQ(ringo_main(NULL, exits_early, NULL), -EBUSY);
    misc_ok = 1;
}

T_CASE(sleep_cancel_exit_errors, 0)
{
    /* outside a coroutine */
    T_EQ(ringo_go(exits_early, NULL, NULL), RINGO_ENOTINCORO);
    T_EQ(ringo_sleep(1), RINGO_ENOTINCORO);
    T_EQ(ringo_yield(), RINGO_ENOTINCORO);
    T_ASSERT(ringo_self() == NULL);
    T_EQ(ringo_worker_id(), -1);
    T_ASSERT(strcmp(ringo_strerror(RINGO_ENOTINCORO),
                    "call must be made from inside a ringo coroutine") == 0);
    T_ASSERT(strcmp(ringo_err_name(-ETIMEDOUT), "ETIMEDOUT") == 0);
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.backend = "nonsense";
    T_EQ(ringo_main(&cfg, exits_early, NULL), -EINVAL);
    t_run(1, misc_main, NULL);
    T_EQ(misc_ok, 1);
}

/* ---- ringo_stop cancels every coroutine and waits for them ---- */

static _Atomic int unwound;

static void blocker(void *arg)
{
    (void)arg;
    if (ringo_sleep(60LL * 1000000000) == -ECANCELED)
        unwound++;
}

static void stop_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        T_OK(ringo_go_on(i % 2, blocker, NULL, NULL));
    ringo_sleep(20 * 1000000);
    ringo_stop();
    T_ASSERT(ringo_stopping());
    T_EQ(ringo_go(blocker, NULL, NULL), RINGO_ESTOPPED);
}

T_CASE(stop_cancels_and_waits, 0)
{
    /* the runtime's log into a file: a stop that had to wait out its 2 s
     * grace period says so there (a clock bound would fail on a slow
     * machine instead) */
    int logfd = memfd_create("ringo-log", MFD_CLOEXEC);
    T_ASSERT(logfd >= 0);
    int saved = dup(2);
    T_ASSERT(saved >= 0 && dup2(logfd, 2) == 2);
    t_run(2, stop_main, NULL);
    T_ASSERT(dup2(saved, 2) == 2);
    close(saved);
    T_EQ(unwound, 100);
    char log[4096];
    ssize_t n = pread(logfd, log, sizeof(log) - 1, 0);
    T_ASSERT(n >= 0);
    log[n] = 0;
    close(logfd);
    if (strstr(log, "grace"))
        T_FAIL("the stop waited out the grace period although every coroutine unwound:\n%s", log);
}

/* ---- stack overflow dies on the guard page with a message ---- */

static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : recurse(n - 1) + pad[0];
}

static void overflow_main(void *arg)
{
    (void)arg;
    recurse(1 << 20);
}

T_CASE(stack_overflow_is_reported, 0)
{
    int pipefd[2];
    T_ASSERT(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        /* a core dump of a deliberate crash is noise */
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        ringo_config cfg;
        ringo_config_init(&cfg);
        cfg.workers = 1;
        cfg.handle_signals = 0;
        ringo_main(&cfg, overflow_main, NULL);
        _exit(0);
    }
    close(pipefd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(pipefd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    int status;
    waitpid(pid, &status, 0);
    T_ASSERT(WIFSIGNALED(status));
    if (!strstr(buf, "overflowed its stack") && strstr(buf, "AddressSanitizer"))
        T_SKIP("ASan reports the overflow itself: %.200s", buf);
    T_ASSERT(strstr(buf, "overflowed its stack (64 KiB)") != NULL);
    T_EQ(WTERMSIG(status), SIGABRT);
}
