/* main.c - ringo-bench: a load generator built on ringo. The first argument
 * names the mode; each mode parses the rest itself. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

typedef struct bench_mode {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} bench_mode;

static const bench_mode modes[] = {
    {"echo", echo_main, "TCP echo load: pipelined, verified messages; msgs/s and latency"},
    {"http", http_main, "HTTP/1.1 keep-alive load: pipelined GETs, checked responses; req/s"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s MODE [options]\n"
            "\n"
            "Load generator built on ringo (coroutines over io_uring, epoll fallback).\n"
            "\n"
            "modes:\n",
            bench_prog);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        fprintf(out, "  %-8s %s\n", modes[i].name, modes[i].summary);
    fprintf(out, "\n'%s MODE --help' lists the options of a mode.\n", bench_prog);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return BENCH_EXIT_USAGE;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "-h") || !strcmp(mode, "--help") || !strcmp(mode, "help")) {
        usage(stdout);
        return BENCH_EXIT_OK;
    }
    if (!strcmp(mode, "--version")) {
        printf("%s (ringo %s)\n", bench_prog, RINGO_VERSION_STRING);
        return BENCH_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(mode, modes[i].name))
            return modes[i].main(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown mode '%s'\n\n", bench_prog, mode);
    usage(stderr);
    return BENCH_EXIT_USAGE;
}
