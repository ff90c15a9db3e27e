/* Coroutines, sleep and join: prints its arguments in ascending order.
 *   build/examples/sleepsort 5 3 9 1 */
#include <ringo.h>
#include <stdio.h>
#include <stdlib.h>

static void sleeper(void *arg)
{
    long v = (long)(intptr_t)arg;
    ringo_sleep(v * 10 * 1000000); /* v * 10 ms */
    printf("%ld\n", v);
}

struct args {
    int n;
    char **v;
};

static void start(void *p)
{
    struct args *a = p;
    ringo_coro **h = calloc((size_t)a->n, sizeof *h);
    for (int i = 0; i < a->n; i++)
        ringo_go(sleeper, (void *)(intptr_t)atol(a->v[i]), &h[i]);
    for (int i = 0; i < a->n; i++)
        ringo_join(h[i], RINGO_FOREVER);
    free(h);
}

int main(int argc, char **argv)
{
    struct args a = {argc - 1, argv + 1};
    ringo_config cfg;
    ringo_config_init(&cfg);
    cfg.workers = 1;
    return ringo_main(&cfg, start, &a) < 0;
}
