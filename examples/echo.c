/* The smallest ringo echo server: one coroutine per connection.
 *   build/examples/echo 7000   then   nc localhost 7000 */
#include <errno.h>
#include <ringo.h>
#include <stdio.h>
#include <stdlib.h>

static void serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    /* a client idle for 60 s is dropped: the read returns -ETIMEDOUT */
    while ((n = ringo_read(fd, buf, sizeof buf, ringo_deadline_in(60LL * 1000000000))) > 0)
        if (ringo_write_all(fd, buf, (size_t)n, NULL, RINGO_FOREVER) < 0)
            break;
    ringo_close(fd);
}

static void server(void *arg)
{
    ringo_addr addr;
    ringo_addr_parse(&addr, arg);
    int lfd = ringo_tcp_listen(&addr, 128, 0);
    if (lfd < 0) {
        fprintf(stderr, "listen: %s\n", ringo_strerror(lfd));
        return;
    }
    for (;;) {
        int fd = ringo_accept(lfd, NULL, RINGO_FOREVER);
        if (fd == -ECANCELED) /* Ctrl-C: ringo_stop() cancelled us */
            break;
        if (fd >= 0)
            ringo_go(serve, (void *)(intptr_t)fd, NULL);
    }
    ringo_close(lfd);
}

int main(int argc, char **argv)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "7000");
    int r = ringo_main(NULL, server, addr);
    if (r < 0)
        fprintf(stderr, "ringo: %s\n", ringo_strerror(r));
    return r < 0;
}
