/* Running out of descriptors during an accept storm: ringo_accept reports
 * -EMFILE, the listener stays usable, and the server keeps serving. Once
 * in-process (server under a low RLIMIT_NOFILE, clients in a forked
 * process with its own limit) and once with the real ringo-echo binary. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define SEC 1000000000LL
#define MS  1000000LL

#define STORM         100
#define STORM_MSG     1000
#define SERVER_NOFILE 64

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Failure inside the plain (non-ringo) client process. */
static _Noreturn void cfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  client: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    _exit(3);
}

static unsigned char storm_byte(int conn, int j)
{
    return (unsigned char)(conn * 7 + j * 13 + 1);
}

/* Blocking connect to 127.0.0.1:port with receive/send timeouts. */
static int plain_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* One blocking echo round trip on a fresh connection. 0 or an error. */
static int plain_echo(int port, const char *msg)
{
    int fd = plain_connect(port);
    if (fd < 0)
        return fd;
    size_t len = strlen(msg);
    if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -EIO;
    }
    char buf[256];
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0) {
            close(fd);
            return n == 0 ? -EPIPE : -errno;
        }
        got += (size_t)n;
    }
    close(fd);
    return memcmp(buf, msg, len) == 0 ? 0 : -EBADMSG;
}

/* The client process: STORM connections at once, a message on each, a
 * pause so the server runs out of descriptors while holding the first
 * ones, then every echo is checked and its connection closed as soon as
 * it is complete (which frees the server's descriptors). */
static _Noreturn void storm_clients(int port)
{
    int fds[STORM];
    size_t got[STORM];
    unsigned char msg[STORM_MSG];
    for (int i = 0; i < STORM; i++) {
        fds[i] = plain_connect(port);
        if (fds[i] < 0)
            cfail("connect %d: %s", i, strerror(-fds[i]));
        got[i] = 0;
    }
    for (int i = 0; i < STORM; i++) {
        for (int j = 0; j < STORM_MSG; j++)
            msg[j] = storm_byte(i, j);
        if (send(fds[i], msg, STORM_MSG, MSG_NOSIGNAL) != STORM_MSG)
            cfail("send %d: %s", i, strerror(errno));
    }
    msleep(300);
    int open_left = STORM;
    int64_t end = mono_ns() + 20 * SEC;
    while (open_left > 0) {
        if (mono_ns() > end)
            cfail("%d connections still without their echo after 20 s", open_left);
        struct pollfd p[STORM];
        int idx[STORM], n = 0;
        for (int i = 0; i < STORM; i++)
            if (fds[i] >= 0) {
                p[n].fd = fds[i];
                p[n].events = POLLIN;
                p[n].revents = 0;
                idx[n++] = i;
            }
        if (poll(p, (nfds_t)n, 100) < 0)
            cfail("poll: %s", strerror(errno));
        for (int k = 0; k < n; k++) {
            if (!p[k].revents)
                continue;
            int i = idx[k];
            unsigned char buf[STORM_MSG];
            ssize_t r = recv(fds[i], buf, STORM_MSG - got[i], 0);
            if (r <= 0)
                cfail("conn %d: recv after %zu bytes: %zd (%s)", i, got[i], r,
                      r < 0 ? strerror(errno) : "end of stream");
            for (ssize_t j = 0; j < r; j++)
                if (buf[j] != storm_byte(i, (int)got[i] + (int)j))
                    cfail("conn %d: wrong byte at %zu", i, got[i] + (size_t)j);
            got[i] += (size_t)r;
            if (got[i] == STORM_MSG) {
                close(fds[i]);
                fds[i] = -1;
                open_left--;
            }
        }
    }
    /* after the storm: a fresh connection is served */
    int r = plain_echo(port, "after the storm");
    if (r != 0)
        cfail("fresh connection after the storm: %s", strerror(-r));
    _exit(0);
}

static struct {
    int lfd;
    int port_pipe;
    pid_t clients;
    ringo_coro *accepter;
    long emfile, accepted, conns_done, bytes;
} st;

static void storm_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = ringo_read(fd, buf, sizeof(buf), ringo_deadline_in(20 * SEC))) > 0) {
        st.bytes += n;
        if (ringo_write_all(fd, buf, (size_t)n, NULL, ringo_deadline_in(20 * SEC)) < 0)
            break;
    }
    ringo_close(fd);
    st.conns_done++;
}

/* Like tools/echo: back off on -EMFILE and keep going. */
static void storm_accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = ringo_accept(st.lfd, NULL, RINGO_FOREVER);
        if (fd == -EMFILE || fd == -ENFILE) {
            st.emfile++;
            if (ringo_sleep(10 * MS) < 0)
                break;
            continue;
        }
        if (fd == -ECANCELED)
            break;
        T_OK(fd);
        st.accepted++;
        if (ringo_go(storm_conn, (void *)(intptr_t)fd, NULL) < 0)
            T_FAIL("spawn failed");
    }
}

static void storm_main(void *arg)
{
    (void)arg;
    ringo_addr a;
    st.lfd = t_listen(&a);
    int port = ringo_addr_port(&a);
    T_EQ(write(st.port_pipe, &port, sizeof(port)), sizeof(port));
    close(st.port_pipe);
    T_OK(ringo_go(storm_accept_loop, NULL, &st.accepter));

    /* wait for the client process (no blocking waitpid on a worker) */
    int status = 0;
    int64_t end = ringo_deadline_in(25 * SEC);
    for (;;) {
        pid_t r = waitpid(st.clients, &status, WNOHANG);
        T_ASSERT(r >= 0);
        if (r == st.clients)
            break;
        if (ringo_now() > end) {
            kill(st.clients, SIGKILL);
            waitpid(st.clients, &status, 0);
            T_FAIL("client process did not finish (accepted %ld, EMFILE %ld)", st.accepted,
                   st.emfile);
        }
        ringo_sleep(10 * MS);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        T_FAIL("client process failed (status 0x%x; accepted %ld, EMFILE %ld)", status, st.accepted,
               st.emfile);
    if (st.emfile == 0)
        T_FAIL("the server never saw -EMFILE (accepted %ld with RLIMIT_NOFILE %d)", st.accepted,
               SERVER_NOFILE);
    T_EQ(st.accepted, STORM + 1);

    /* and the server still serves, also its own process's connections */
    int64_t dend = ringo_deadline_in(5 * SEC);
    while (st.conns_done < STORM + 1 && ringo_now() < dend)
        ringo_sleep(MS);
    T_EQ(st.conns_done, STORM + 1);
    T_EQ(st.bytes, STORM * STORM_MSG + (long)strlen("after the storm"));
    int fd = ringo_tcp_connect(&a, ringo_deadline_in(5 * SEC));
    T_OK(fd);
    char buf[8];
    T_EQ(ringo_write_all(fd, "again", 5, NULL, ringo_deadline_in(5 * SEC)), 5);
    T_EQ(ringo_read_full(fd, buf, 5, NULL, ringo_deadline_in(5 * SEC)), 5);
    T_ASSERT(memcmp(buf, "again", 5) == 0);
    T_OK(ringo_close(fd));
    T_OK(ringo_cancel(st.accepter));
    T_OK(ringo_join(st.accepter, ringo_deadline_in(5 * SEC)));
    T_OK(ringo_close(st.lfd));
}

T_CASE(emfile_accept_storm_in_process, T_IO)
{
    struct rlimit rl;
    T_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < 2 * STORM + 50) {
        rlim_t want = 2 * STORM + 50;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            T_SKIP("RLIMIT_NOFILE hard limit too low for the clients");
        rl.rlim_cur = want;
        T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    int pp[2];
    T_ASSERT(pipe2(pp, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        close(pp[1]);
        int port = 0;
        if (read(pp[0], &port, sizeof(port)) != sizeof(port))
            _exit(2); /* the server failed before listening */
        close(pp[0]);
        storm_clients(port);
    }
    close(pp[0]);
    st.port_pipe = pp[1];
    st.clients = pid;
    /* the server process: few descriptors */
    rl.rlim_cur = SERVER_NOFILE;
    T_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    t_run(1, storm_main, NULL);
}

/* ---- the real ringo-echo under a low descriptor limit ---- */

/* utime + stime of process pid, in clock ticks; -1 if unreadable. */
static long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after the ")" that ends the command name: state is 3,
     * utime 14, stime 15 */
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static char echo_log[65536];
static size_t echo_log_len;

/* Append what the server wrote to stderr so far; wait up to ms. */
static void drain_log(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, ms) > 0) {
        ssize_t n = read(fd, echo_log + echo_log_len, sizeof(echo_log) - 1 - echo_log_len);
        if (n <= 0)
            break;
        echo_log_len += (size_t)n;
        echo_log[echo_log_len] = 0;
        ms = 0;
    }
}

static int wait_log(int fd, const char *needle, int ms)
{
    int64_t end = mono_ns() + (int64_t)ms * MS;
    while (!strstr(echo_log, needle)) {
        if (mono_ns() > end)
            return 0;
        drain_log(fd, 20);
    }
    return 1;
}

T_CASE(emfile_ringo_echo_binary, T_IO)
{
    char exe[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    T_ASSERT(n > 0);
    exe[n] = 0;
    snprintf(path, sizeof(path), "%s/ringo-echo", dirname(exe));
    struct stat sb;
    if (stat(path, &sb) != 0)
        T_SKIP("%s not built (make %s)", path, path);

    /* a free port (small race with other processes; loopback only) */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_ASSERT(bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    socklen_t sl = sizeof(sa);
    T_ASSERT(getsockname(probe, (struct sockaddr *)&sa, &sl) == 0);
    int port = ntohs(sa.sin_port);
    close(probe);
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);

    int ep[2];
    T_ASSERT(pipe2(ep, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        /* hard limit too: ringo-echo raises its soft limit to the hard one */
        rl.rlim_cur = rl.rlim_max = 32;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        dup2(ep[1], 2);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execl(path, "ringo-echo", "--port", port_s, "--host", "127.0.0.1", "--workers", "1",
              "--backend", t_backend(), (char *)NULL);
        _exit(127);
    }
    close(ep[1]);
    if (!wait_log(ep[0], "listening on", 10000)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_FAIL("ringo-echo did not start; its stderr:\n%s", echo_log);
    }
    if (!strstr(echo_log, t_backend()))
        T_FAIL("ringo-echo is not using backend %s:\n%s", t_backend(), echo_log);

    /* "listening on" is printed by the main coroutine, possibly before
     * the accept loop has bound: wait for a first echo */
    int ready = -1;
    for (int tries = 0; tries < 250 && ready != 0; tries++) {
        ready = plain_echo(port, "ready?");
        if (ready != 0)
            msleep(20);
    }
    if (ready != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_FAIL("ringo-echo does not echo: %s; stderr:\n%s", strerror(-ready), echo_log);
    }

    /* flood: more connections than the server has descriptors, all held
     * open, one message each */
    enum { FLOOD = 60 };
    int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = plain_connect(port);
        if (fds[i] < 0)
            T_FAIL("connect %d: %s", i, strerror(-fds[i]));
        T_EQ(send(fds[i], "flood", 5, MSG_NOSIGNAL), 5);
    }
    int saw = wait_log(ep[0], "accept: Too many open files", 5000);
    /* the ones it did accept were echoed (the first one surely was
     * accepted: give its echo time to arrive, then count) */
    int echoed = 0, first_echoed = -1;
    for (int i = 0; i < FLOOD; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        if (poll(&p, 1, i == 0 ? 5000 : 0) == 1) {
            char buf[8];
            if (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) == 5 && memcmp(buf, "flood", 5) == 0) {
                echoed++;
                if (first_echoed < 0)
                    first_echoed = i;
            }
        }
    }
    /* Out of descriptors with connections still waiting in the backlog:
     * the accept loop backs off instead of spinning. Its CPU time over a
     * second of wall time stays well below one core (a busy loop takes
     * all of it; a load on the machine only lowers what it gets). */
    if (saw) {
        int64_t t0 = mono_ns();
        long c0 = proc_cpu_ticks(pid);
        msleep(1000);
        long c1 = proc_cpu_ticks(pid);
        int64_t wall = mono_ns() - t0;
        T_ASSERT(c0 >= 0 && c1 >= c0);
        double cpu = (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK);
        if (cpu > 0.2 * (double)wall / SEC) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            T_FAIL("ringo-echo used %.2f s of CPU in %.2f s at EMFILE (busy accept loop?)", cpu,
                   (double)wall / SEC);
        }
        /* a connection it holds still echoes meanwhile */
        if (first_echoed >= 0) {
            char buf[8];
            T_EQ(send(fds[first_echoed], "still", 5, MSG_NOSIGNAL), 5);
            T_EQ(recv(fds[first_echoed], buf, 5, MSG_WAITALL), 5);
            T_ASSERT(memcmp(buf, "still", 5) == 0);
        }
    }
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    if (!saw) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_FAIL("ringo-echo never reported the accept error (%d echoed); stderr:\n%s", echoed,
               echo_log);
    }
    if (echoed < 1 || echoed >= FLOOD)
        T_FAIL("%d of %d flood connections echoed with RLIMIT_NOFILE 32; stderr:\n%s", echoed,
               FLOOD, echo_log);

    /* after the flood it serves new connections */
    int r = -1;
    for (int tries = 0; tries < 50 && r != 0; tries++) {
        r = plain_echo(port, "still alive after the flood");
        if (r != 0)
            msleep(20);
    }
    if (r != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_FAIL("no echo after the flood: %s; stderr:\n%s", strerror(-r), echo_log);
    }
    T_ASSERT(waitpid(pid, NULL, WNOHANG) == 0); /* still running */

    /* and stops cleanly on SIGTERM */
    kill(pid, SIGTERM);
    int status = 0;
    int64_t end = mono_ns() + 10 * SEC;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && mono_ns() < end)
        drain_log(ep[0], 10);
    if (w != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_FAIL("ringo-echo did not exit after SIGTERM; stderr:\n%s", echo_log);
    }
    drain_log(ep[0], 0);
    close(ep[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        T_FAIL("ringo-echo exit status 0x%x; stderr:\n%s", status, echo_log);
}
