/* The tools' command lines and start-up, run as the real binaries
 * (ringo-httpd, ringo-echo, ringo-bench next to ringo-tests): a bad flag
 * exits 2 naming the flag and the value; a start-up failure (--root
 * missing, a port it may not bind, a port in use) exits 1 saying why;
 * --help lists the flags with their defaults; --version; and
 * ringo-httpd --metrics-listen serves /metrics on that address only. The
 * children inherit RINGO_BACKEND, so the I/O cases run on each backend. */
#include "t.h"
#include "tls_certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define MS  1000000LL
#define SEC 1000000000LL

/* How long a tool may take to exit or start: generous, the machine may be
 * loaded; a correct tool takes milliseconds. */
#define TOOL_WAIT_MS 20000

#define NOBODY 65534

/* A child's exit codes for "could not become nobody", never a tool's. */
#define CHILD_NO_SETUID 125
#define CHILD_NO_ACCESS 124

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* The binary `name` built next to ringo-tests; skips the case if absent. */
static void tool_path(const char *name, char *path, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    T_ASSERT(n > 0);
    exe[n] = 0;
    snprintf(path, len, "%s/%s", dirname(exe), name);
    struct stat sb;
    if (stat(path, &sb) != 0)
        T_SKIP("%s not built (make %s)", path, path);
}

/* A running tool with its stdout and stderr collected. */
typedef struct proc {
    pid_t pid;
    int out_fd, err_fd; /* -1 once at EOF */
    char out[16384], err[32768];
    size_t out_len, err_len;
    int status; /* waitpid status once reaped */
    int reaped;
} proc;

static void spawn(proc *p, const char *path, const char *const *argv, int as_nobody)
{
    int o[2], e[2];
    T_ASSERT(pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0);
    memset(p, 0, sizeof(*p));
    fflush(NULL);
    p->pid = fork();
    T_ASSERT(p->pid >= 0);
    if (p->pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        if (as_nobody) {
            if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
                _exit(CHILD_NO_SETUID);
            if (access(path, X_OK) != 0)
                _exit(CHILD_NO_ACCESS);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    p->out_fd = o[0];
    p->err_fd = e[0];
}

/* Read what is there (waiting up to ms for the first bytes). */
static void pump(proc *p, int ms)
{
    struct pollfd fds[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
    if (p->out_fd < 0 && p->err_fd < 0)
        return;
    if (poll(fds, 2, ms) <= 0)
        return;
    int *fdp[2] = {&p->out_fd, &p->err_fd};
    char *buf[2] = {p->out, p->err};
    size_t *len[2] = {&p->out_len, &p->err_len};
    size_t cap[2] = {sizeof(p->out), sizeof(p->err)};
    for (int i = 0; i < 2; i++) {
        if (*fdp[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char tmp[4096];
        ssize_t n = read(*fdp[i], tmp, sizeof(tmp));
        if (n <= 0) {
            close(*fdp[i]);
            *fdp[i] = -1;
            continue;
        }
        size_t room = cap[i] - 1 - *len[i];
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(buf[i] + *len[i], tmp, take);
        *len[i] += take;
        buf[i][*len[i]] = 0;
    }
}

static void kill_proc(proc *p)
{
    if (!p->reaped) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &p->status, 0);
        p->reaped = 1;
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
}

/* Wait until stderr holds needle (1) or ms passed or the tool exited
 * without printing it (0). */
static int wait_err(proc *p, const char *needle, int ms)
{
    int64_t end = mono_ns() + ms * MS;
    while (!strstr(p->err, needle)) {
        if (mono_ns() > end || p->err_fd < 0)
            return 0;
        pump(p, 50);
    }
    return 1;
}

/* Collect everything until the tool exits; its exit status, or -1 for a
 * signal. Fails the case if it does not exit within ms. */
static int finish(proc *p, int ms)
{
    int64_t end = mono_ns() + ms * MS;
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        if (mono_ns() > end) {
            kill_proc(p);
            T_FAIL("the tool did not exit within %d ms; stderr:\n%s", ms, p->err);
        }
        pump(p, 50);
    }
    while (!p->reaped) {
        pid_t w = waitpid(p->pid, &p->status, WNOHANG);
        if (w == p->pid) {
            p->reaped = 1;
        } else {
            if (mono_ns() > end) {
                kill_proc(p);
                T_FAIL("the tool closed its output but did not exit");
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

static int run(proc *p, const char *path, const char *const *argv, int as_nobody)
{
    spawn(p, path, argv, as_nobody);
    return finish(p, TOOL_WAIT_MS);
}

static void describe(const char *const *argv, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; argv[i] && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "", argv[i]);
}

/* ---- bad command lines: exit 2, the flag and the value named ---------- */

typedef struct usage_case {
    const char *tool;
    const char *args[6];
    const char *expect[3]; /* substrings of stderr */
} usage_case;

static const usage_case usage_cases[] = {
    {"ringo-httpd", {"--port", "abc"}, {"--port", "'abc'", "not a number (0-65535)"}},
    {"ringo-httpd", {"--port", "70000"}, {"--port", "'70000'", "out of range (0-65535)"}},
    {"ringo-httpd", {"--port", "12x"}, {"--port", "'12x'", "not a number"}},
    {"ringo-httpd", {"--port", ""}, {"--port", "''", "not a number"}},
    {"ringo-httpd", {"--workers", "-1"}, {"--workers", "'-1'", "out of range"}},
    {"ringo-httpd", {"--max-conns", "lots"}, {"--max-conns", "'lots'", "not a number"}},
    {"ringo-httpd", {"--backend", "kqueue"}, {"--backend", "'kqueue'", "auto, uring, epoll"}},
    {"ringo-httpd", {"--host", "nowhere"}, {"--host", "'nowhere'", "numeric"}},
    {"ringo-httpd", {"--metrics-listen", "9090"}, {"--metrics-listen", "'9090'", "ADDR:PORT"}},
    {"ringo-httpd",
     {"--metrics-listen", "127.0.0.1:99999"},
     {"--metrics-listen", "'99999'", "0-65535"}},
    {"ringo-httpd",
     {"--port", "8080", "--metrics-listen", "127.0.0.1:8080"},
     {"--metrics-listen", "listens there already"}},
    {"ringo-httpd", {"--bogus"}, {"unknown flag '--bogus'", "--help"}},
    {"ringo-httpd", {"-x"}, {"unknown flag '-x'"}},
    {"ringo-httpd", {"--port"}, {"--port", "missing value"}},
    {"ringo-httpd", {"--quiet=yes"}, {"--quiet", "takes no value"}},
    {"ringo-httpd", {"stray"}, {"unexpected argument 'stray'"}},
    {"ringo-echo", {"--port", "abc"}, {"--port", "'abc'", "not a number (0-65535)"}},
    {"ringo-echo", {"--port", "70000"}, {"--port", "'70000'", "out of range"}},
    {"ringo-echo", {"--workers", "-1"}, {"--workers", "'-1'", "out of range"}},
    {"ringo-echo", {"--buffer", "0"}, {"--buffer", "'0'", "out of range"}},
    {"ringo-echo", {"--buffer", "lots"}, {"--buffer", "'lots'", "not a size"}},
    {"ringo-echo", {"--bogus"}, {"unknown flag '--bogus'"}},
    {"ringo-echo", {"--port"}, {"--port", "missing value"}},
    {"ringo-bench", {"http", "--port", "abc"}, {"--port", "'abc'", "not a number (1-65535)"}},
    {"ringo-bench", {"http", "--port", "70000"}, {"--port", "'70000'", "out of range"}},
    {"ringo-bench", {"http", "--workers", "-1"}, {"--workers", "'-1'", "out of range"}},
    {"ringo-bench", {"http", "-d", "soon"}, {"--duration", "'soon'", "not a duration"}},
    {"ringo-bench", {"http", "--bogus"}, {"unknown flag '--bogus'"}},
    {"ringo-bench", {"http", "--port"}, {"--port", "missing value"}},
    {"ringo-bench", {"echo", "--addr", "127.0.0.1:1", "-c", "0"}, {"--conns", "'0'"}},
    {"ringo-bench", {"echo", "--size", "1q"}, {"--size", "'1q'", "not a size"}},
    {"ringo-bench", {"echo", "--pipeline"}, {"--pipeline", "missing value"}},
    {"ringo-bench", {"nomode"}, {"unknown mode 'nomode'"}},
};

T_CASE(tools_bad_flags_exit_2, 0)
{
    for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
        const usage_case *u = &usage_cases[i];
        char path[PATH_MAX + 32];
        tool_path(u->tool, path, sizeof(path));
        const char *argv[8] = {u->tool};
        for (int a = 0; a < 6 && u->args[a]; a++)
            argv[a + 1] = u->args[a];
        char what[256];
        describe(argv, what, sizeof(what));
        proc p;
        int st = run(&p, path, argv, 0);
        if (st != 2)
            T_FAIL("%s: exit %d, expected 2; stderr:\n%s", what, st, p.err);
        for (int k = 0; k < 3 && u->expect[k]; k++)
            if (!strstr(p.err, u->expect[k]))
                T_FAIL("%s: stderr lacks \"%s\":\n%s", what, u->expect[k], p.err);
        if (strstr(p.err, "listening") || strstr(p.err, "Invalid argument"))
            T_FAIL("%s: started or gave a bare errno:\n%s", what, p.err);
        if (p.out_len)
            T_FAIL("%s: printed on stdout:\n%s", what, p.out);
    }
}

/* ---- --root: exit 1 before anything starts ----------------------------- */

T_CASE(httpd_bad_root_exit_1, 0)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    proc p;
    const char *missing[] = {"ringo-httpd", "--root", "/nonexistent/ringo-www",
                             "--port",      "0",      NULL};
    int st = run(&p, path, missing, 0);
    if (st != 1 || !strstr(p.err, "--root /nonexistent/ringo-www") ||
        !strstr(p.err, "No such file or directory") || strstr(p.err, "listening"))
        T_FAIL("--root missing: exit %d; stderr:\n%s", st, p.err);

    char file[] = "/tmp/ringo-tools-root-XXXXXX";
    int fd = mkstemp(file);
    T_ASSERT(fd >= 0);
    close(fd);
    const char *notdir[] = {"ringo-httpd", "--root", file, "--port", "0", NULL};
    st = run(&p, path, notdir, 0);
    unlink(file);
    if (st != 1 || !strstr(p.err, file) || !strstr(p.err, "not a directory"))
        T_FAIL("--root a file: exit %d; stderr:\n%s", st, p.err);
}

/* ---- --help and --version ---------------------------------------------- */

static void check_help(const char *tool, const char *mode, const char *const *flags,
                       const char *const *defaults)
{
    char path[PATH_MAX + 32];
    tool_path(tool, path, sizeof(path));
    const char *argv[] = {tool, mode ? mode : "--help", mode ? "--help" : NULL, NULL};
    proc p;
    int st = run(&p, path, argv, 0);
    if (st != 0)
        T_FAIL("%s %s --help: exit %d; stderr:\n%s", tool, mode ? mode : "", st, p.err);
    for (int i = 0; flags[i]; i++) {
        /* the flag as a word of its own, not a prefix of a longer one */
        char word[64];
        snprintf(word, sizeof(word), "%s ", flags[i]);
        char word_nl[64];
        snprintf(word_nl, sizeof(word_nl), "%s\n", flags[i]);
        if (!strstr(p.out, word) && !strstr(p.out, word_nl))
            T_FAIL("%s --help does not list %s:\n%s", tool, flags[i], p.out);
    }
    for (int i = 0; defaults[i]; i++)
        if (!strstr(p.out, defaults[i]))
            T_FAIL("%s --help lacks \"%s\":\n%s", tool, defaults[i], p.out);
}

T_CASE(tools_help_lists_flags_and_defaults, 0)
{
    static const char *const httpd_flags[] = {"--port",
                                              "--host",
                                              "--workers",
                                              "--backend",
                                              "--root",
                                              "--metrics",
                                              "--metrics-listen ADDR:PORT",
                                              "--max-conns",
                                              "--max-conns-per-ip",
                                              "--stats-file",
                                              "--quiet",
                                              "--help",
                                              "--version",
                                              NULL};
    static const char *const httpd_defaults[] = {
        "(default 8080)", "(default *)", "(default 100000)", "(default auto", "(default 0", NULL};
    check_help("ringo-httpd", NULL, httpd_flags, httpd_defaults);

    static const char *const echo_flags[] = {"--port",       "--host",    "--workers", "--backend",
                                             "--stats-file", "--quiet",   "--copy",    "--buffer",
                                             "--help",       "--version", NULL};
    static const char *const echo_defaults[] = {"(default 7000)", "(default *)", "16k", NULL};
    check_help("ringo-echo", NULL, echo_flags, echo_defaults);

    static const char *const bench_http_flags[] = {
        "--host", "--port", "--path", "--conns", "--duration", "--workers", "--backend", NULL};
    static const char *const bench_http_defaults[] = {"(default 8080)", "(default /plaintext)",
                                                      NULL};
    check_help("ringo-bench", "http", bench_http_flags, bench_http_defaults);
}

T_CASE(tools_version, 0)
{
    static const char *const tools[] = {"ringo-httpd", "ringo-echo", "ringo-bench"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX + 32];
        tool_path(tools[i], path, sizeof(path));
        const char *argv[] = {tools[i], "--version", NULL};
        proc p;
        int st = run(&p, path, argv, 0);
        if (st != 0 || !strstr(p.out, tools[i]) || !strstr(p.out, RINGO_VERSION_STRING))
            T_FAIL("%s --version: exit %d; stdout:\n%s\nstderr:\n%s", tools[i], st, p.out, p.err);
    }
}

/* ---- start-up failures of the servers: exit 1 with the reason ---------- */

static int read_int_file(const char *file, int fallback)
{
    FILE *f = fopen(file, "r");
    int v = fallback;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = fallback;
        fclose(f);
    }
    return v;
}

T_CASE(tools_privileged_port_exit_1, T_IO)
{
    if (read_int_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", 1024) <= 80)
        T_SKIP("net.ipv4.ip_unprivileged_port_start <= 80: anyone may bind port 80 here");
    static const char *const tools[] = {"ringo-httpd", "ringo-echo"};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 32];
        tool_path(tools[i], path, sizeof(path));
        const char *argv[] = {tools[i],    "--port",    "80", "--host",
                              "127.0.0.1", "--workers", "1",  NULL};
        proc p;
        int st = run(&p, path, argv, 1);
        if (st == CHILD_NO_SETUID)
            T_SKIP("cannot become uid %d here", NOBODY);
        if (st == CHILD_NO_ACCESS)
            T_SKIP("uid %d cannot execute %s", NOBODY, path);
        if (st != 1 || !strstr(p.err, "listen on 127.0.0.1:80: Permission denied"))
            T_FAIL("%s --port 80 as uid %d: exit %d; stderr:\n%s", tools[i], NOBODY, st, p.err);
        if (strstr(p.err, "listening"))
            T_FAIL("%s claims to listen:\n%s", tools[i], p.err);
    }
}

/* A listener of the test's own on 127.0.0.1 (no SO_REUSEPORT): nobody
 * else can bind its port. */
static int hold_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    T_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    T_ASSERT(listen(fd, 1) == 0);
    socklen_t sl = sizeof(sa);
    T_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

T_CASE(tools_port_in_use_exit_1, T_IO)
{
    int port;
    int held = hold_port(&port);
    char port_s[16], where[64];
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    char path[PATH_MAX + 32], expect[128];
    proc p;

    tool_path("ringo-echo", path, sizeof(path));
    const char *echo[] = {"ringo-echo", "--port",    port_s, "--host",
                          "127.0.0.1",  "--workers", "1",    NULL};
    int st = run(&p, path, echo, 0);
    snprintf(expect, sizeof(expect), "listen on %s: Address already in use", where);
    if (st != 1 || !strstr(p.err, expect))
        T_FAIL("ringo-echo on a port in use: exit %d; stderr:\n%s", st, p.err);

    tool_path("ringo-httpd", path, sizeof(path));
    const char *httpd[] = {"ringo-httpd", "--port",    port_s, "--host",
                           "127.0.0.1",   "--workers", "1",    NULL};
    st = run(&p, path, httpd, 0);
    if (st != 1 || !strstr(p.err, expect))
        T_FAIL("ringo-httpd on a port in use: exit %d; stderr:\n%s", st, p.err);

    /* the second server failing takes the first one down too */
    const char *metrics[] = {"ringo-httpd", "--port",    "0", "--host",
                             "127.0.0.1",   "--workers", "1", "--metrics-listen",
                             where,         NULL};
    st = run(&p, path, metrics, 0);
    snprintf(expect, sizeof(expect), "--metrics-listen: listen on %s: Address already in use",
             where);
    if (st != 1 || !strstr(p.err, expect) || strstr(p.err, "listening on"))
        T_FAIL("ringo-httpd --metrics-listen on a port in use: exit %d; stderr:\n%s", st, p.err);
    close(held);
}

/* ---- --metrics-listen -------------------------------------------------- */

/* GET path from 127.0.0.1:port with Connection: close; *body points into
 * buf. Returns the status code, or -1. */
static int http_get(int port, const char *path, char *buf, size_t len, const char **body)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got < len - 1 && (r = recv(fd, buf + got, len - 1 - got, 0)) > 0)
        got += (size_t)r;
    close(fd);
    buf[got] = 0;
    int status;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return -1;
    char *b = strstr(buf, "\r\n\r\n");
    *body = b ? b + 4 : buf + got;
    return status;
}

/* The value of a counter line "name value" in a Prometheus text body. */
static long long metric(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; (p = strstr(p, name)); p += nl)
        if ((p == body || p[-1] == '\n') && p[nl] == ' ')
            return atoll(p + nl + 1);
    return -1;
}

/* The port in the line "<prefix>N" of stderr. */
static int port_after(const proc *p, const char *prefix)
{
    const char *s = strstr(p->err, prefix);
    return s ? atoi(s + strlen(prefix)) : -1;
}

static void start_httpd(proc *p, const char *path, const char *const *argv)
{
    spawn(p, path, argv, 0);
    if (!wait_err(p, "ringo-httpd: listening on http://127.0.0.1:", TOOL_WAIT_MS)) {
        kill_proc(p);
        T_FAIL("ringo-httpd did not start; stderr:\n%s", p->err);
    }
    if (strcmp(t_backend(), "auto") && !strstr(p->err, t_backend())) {
        kill_proc(p);
        T_FAIL("ringo-httpd is not on backend %s:\n%s", t_backend(), p->err);
    }
}

static void stop_httpd(proc *p)
{
    kill(p->pid, SIGTERM);
    int st = finish(p, TOOL_WAIT_MS);
    if (st != 0)
        T_FAIL("ringo-httpd after SIGTERM: exit %d; stderr:\n%s", st, p->err);
}

T_CASE(httpd_metrics_listen_only_there, T_IO | T_SLOW)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {"ringo-httpd", "--port",    "0", "--host",
                          "127.0.0.1",   "--workers", "1", "--metrics-listen",
                          "127.0.0.1:0", NULL};
    proc p;
    start_httpd(&p, path, argv);
    int port = port_after(&p, "listening on http://127.0.0.1:");
    int mport = port_after(&p, "metrics on http://127.0.0.1:");
    if (port <= 0 || mport <= 0 || port == mport) {
        kill_proc(&p);
        T_FAIL("ports %d and %d from stderr:\n%s", port, mport, p.err);
    }
    static char buf[256 * 1024];
    const char *body;

    /* the main port: the routes, but no /metrics */
    int st = http_get(port, "/plaintext", buf, sizeof(buf), &body);
    if (st != 200 || strcmp(body, "Hello, World!") != 0) {
        kill_proc(&p);
        T_FAIL("main port /plaintext: %d\n%s", st, buf);
    }
    st = http_get(port, "/metrics", buf, sizeof(buf), &body);
    if (st != 404) {
        kill_proc(&p);
        T_FAIL("main port /metrics: %d, expected 404\n%.300s", st, buf);
    }

    /* the metrics address: /metrics with the main server's counters (the
     * two requests above; a scrape is not one of them), nothing else */
    long long reqs = -1;
    int64_t end = mono_ns() + 10 * SEC;
    do {
        st = http_get(mport, "/metrics", buf, sizeof(buf), &body);
        if (st != 200) {
            kill_proc(&p);
            T_FAIL("metrics port /metrics: %d\n%.300s", st, buf);
        }
        reqs = metric(body, "ringo_http_requests_total");
    } while (reqs < 2 && mono_ns() < end);
    if (reqs != 2) {
        kill_proc(&p);
        T_FAIL("ringo_http_requests_total %lld after 2 requests on the main port:\n%.2000s", reqs,
               body);
    }
    st = http_get(mport, "/metrics", buf, sizeof(buf), &body);
    if (st != 200 || metric(body, "ringo_http_requests_total") != 2) {
        kill_proc(&p);
        T_FAIL("a scrape counted as a main-server request:\n%.2000s", body);
    }
    st = http_get(mport, "/plaintext", buf, sizeof(buf), &body);
    if (st != 404) {
        kill_proc(&p);
        T_FAIL("metrics port /plaintext: %d, expected 404", st);
    }

    /* ringo-bench against it: its flags still parse, it exits 0 */
    char bench[PATH_MAX + 32], port_s[16];
    tool_path("ringo-bench", bench, sizeof(bench));
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *bargv[] = {"ringo-bench", "http",      "--port", port_s, "-c",     "2", "-d",
                           "1s",          "--workers", "1",      "-q",   "--json", NULL};
    proc b;
    int bst = run(&b, bench, bargv, 0);
    if (bst != 0) {
        kill_proc(&p);
        T_FAIL("ringo-bench http: exit %d\nstdout:\n%s\nstderr:\n%s", bst, b.out, b.err);
    }
    stop_httpd(&p);
}

T_CASE(httpd_metrics_and_metrics_listen, T_IO | T_SLOW)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {"ringo-httpd",      "--port",      "0", "--host",
                          "127.0.0.1",        "--workers",   "1", "--metrics",
                          "--metrics-listen", "127.0.0.1:0", NULL};
    proc p;
    start_httpd(&p, path, argv);
    int port = port_after(&p, "listening on http://127.0.0.1:");
    int mport = port_after(&p, "metrics on http://127.0.0.1:");
    static char buf[256 * 1024];
    const char *body;
    int a = http_get(port, "/metrics", buf, sizeof(buf), &body);
    int b = http_get(mport, "/metrics", buf, sizeof(buf), &body);
    if (a != 200 || b != 200) {
        kill_proc(&p);
        T_FAIL("--metrics with --metrics-listen: main %d, metrics %d; stderr:\n%s", a, b, p.err);
    }
    stop_httpd(&p);
}

/* Wait until the server's end of the loopback connection `fd` has nothing
 * unread (/proc/net/tcp rx_queue 0): what the client wrote is in the
 * server's hands. Returns 0, or -1 after 5 s. */
static int server_took_input(int fd)
{
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    if (getsockname(fd, (struct sockaddr *)&me, &ml) != 0)
        return -1;
    unsigned want = ntohs(me.sin_port);
    for (int tries = 0; tries < 500; tries++) {
        FILE *f = fopen("/proc/net/tcp", "r");
        if (!f)
            return -1;
        char line[512];
        int seen = 0, empty = 0;
        while (fgets(line, sizeof(line), f)) {
            unsigned lport, rport, txq, rxq;
            if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %x:%x", &lport, &rport, &txq, &rxq) == 4 &&
                rport == want) {
                seen = 1;
                empty = rxq == 0;
            }
        }
        fclose(f);
        if (seen && empty)
            return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* SIGTERM drains: a request still arriving keeps the server up (its head
 * is not idle), a request completed during the drain is answered, and a
 * second SIGTERM cuts the drain short with 128 + SIGTERM. The signals are
 * the runtime's: the tool once read them from its own signalfd and
 * ignored the second one. */
T_CASE(httpd_sigterm_drains_second_stops, T_IO | T_SLOW)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {"ringo-httpd", "--port",    "0", "--host",
                          "127.0.0.1",   "--workers", "2", NULL};
    proc p;
    start_httpd(&p, path, argv);
    int port = port_after(&p, "listening on http://127.0.0.1:");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int done = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_ASSERT(slow >= 0 && done >= 0);
    if (connect(slow, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        connect(done, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        kill_proc(&p);
        T_FAIL("connect to ringo-httpd: %s", strerror(errno));
    }
    static const char part[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\n";
    T_ASSERT(write(slow, part, sizeof(part) - 1) == (ssize_t)(sizeof(part) - 1));
    T_ASSERT(write(done, part, sizeof(part) - 1) == (ssize_t)(sizeof(part) - 1));
    /* a drain closes a connection whose next request the server has not
     * begun to read (docs/http.md, "Shutdown"): so wait until it has */
    if (server_took_input(slow) < 0 || server_took_input(done) < 0) {
        kill_proc(&p);
        T_FAIL("ringo-httpd did not read the partial heads within 5 s");
    }
    kill(p.pid, SIGTERM);
    if (!wait_err(&p, "signal 15: shutting down", TOOL_WAIT_MS)) {
        kill_proc(&p);
        T_FAIL("no drain message after SIGTERM; stderr:\n%s", p.err);
    }
    /* the started request is finished and answered, then the connection
     * ends (the message comes before the drain has begun, so the answer
     * may or may not say "Connection: close") */
    T_ASSERT(write(done, "\r\n", 2) == 2);
    char buf[1024];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 && (n = read(done, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(done);
    if (!strstr(buf, "HTTP/1.1 200") || !strstr(buf, "Hello, World!")) {
        kill_proc(&p);
        T_FAIL("request finished during the drain got:\n%s", buf);
    }
    /* the slow head still holds the drain */
    pump(&p, 200);
    if (waitpid(p.pid, &p.status, WNOHANG) == p.pid) {
        p.reaped = 1;
        kill_proc(&p);
        T_FAIL("ringo-httpd exited with a request head still arriving; stderr:\n%s", p.err);
    }
    /* a drain that ended by itself (the head's 10 s limit) exits 0: only
     * the second signal gives 143 */
    kill(p.pid, SIGTERM);
    int st = finish(&p, TOOL_WAIT_MS);
    close(slow);
    if (st != 128 + SIGTERM)
        T_FAIL("exit %d after the second SIGTERM, expected %d; stderr:\n%s", st, 128 + SIGTERM,
               p.err);
    T_ASSERT(strstr(p.err, "signal 15: stopping now") != NULL);
}

/* ---- ringo-httpd over TLS: --tls-cert, --tls-key, --tls-min-version ---- */

#define CURL_BIN "/usr/bin/curl"

static void need_curl(void)
{
    if (access(CURL_BIN, X_OK) != 0)
        T_FAIL("%s is not installed (scripts/deps.sh build installs it): this case needs it",
               CURL_BIN);
}

/* A CA and a certificate for 127.0.0.1 it signed: dir/srv.crt, srv.key. */
static void tls_files(char *dir, size_t cap, char *ca, char *crt, char *key, size_t len)
{
    T_OK(tls_certs_dir_new(dir, cap));
    const char *sans[] = {"127.0.0.1", "localhost"};
    T_OK(tls_certs_make_ca(dir, "ca"));
    T_OK(tls_certs_make_signed(dir, "srv", "ca", sans, 2));
    tls_certs_path(ca, len, dir, "ca", "crt");
    tls_certs_path(crt, len, dir, "srv", "crt");
    tls_certs_path(key, len, dir, "srv", "key");
}

static void start_httpsd(proc *p, const char *path, const char *const *argv)
{
    spawn(p, path, argv, 0);
    if (!wait_err(p, "ringo-httpd: listening on https://127.0.0.1:", TOOL_WAIT_MS)) {
        kill_proc(p);
        T_FAIL("ringo-httpd did not start on HTTPS; stderr:\n%s", p->err);
    }
    if (strcmp(t_backend(), "auto") && !strstr(p->err, t_backend())) {
        kill_proc(p);
        T_FAIL("ringo-httpd is not on backend %s:\n%s", t_backend(), p->err);
    }
}

/* curl https://127.0.0.1:port/plaintext verified against ca, with extra
 * flags; its exit status, stdout (the body, then the -w text) in c->out. */
static int curl_https(proc *c, int port, const char *ca, const char *const *extra)
{
    char u[64];
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/plaintext", port);
    const char *argv[24] = {"curl", "-sS", "--max-time", "15", "--cacert", ca};
    int n = 6;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n++] = u;
    argv[n] = NULL;
    return run(c, CURL_BIN, argv, 0);
}

/* The certificate in a PEM file, without trailing white space. */
static void read_pem(const char *file, char *buf, size_t cap)
{
    FILE *f = fopen(file, "r");
    T_ASSERT(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    T_ASSERT(strstr(buf, "-----BEGIN CERTIFICATE-----") == buf);
}

/* Which of two certificates a new connection gets: 1 or 2 (0: neither).
 * curl -w %{certs} prints the chain the server sent, as PEM. */
static int served_cert(int port, const char *ca, const char *pem1, const char *pem2, proc *c)
{
    const char *w[] = {"-w", "%{certs}", NULL};
    int st = curl_https(c, port, ca, w);
    if (st != 0 || strncmp(c->out, "Hello, World!", 13))
        T_FAIL("curl -w %%{certs}: exit %d\nstdout:\n%s\nstderr:\n%s", st, c->out, c->err);
    return strstr(c->out, pem1) ? 1 : strstr(c->out, pem2) ? 2 : 0;
}

/* --tls-cert/--tls-key serve HTTPS on --port; SIGHUP with a new pair in
 * the same files gives new connections the new certificate. */
T_CASE(httpd_tls_serves_https_and_reloads, T_IO | T_SLOW)
{
    need_curl();
    char dir[64], ca[128], crt[128], key[128];
    tls_files(dir, sizeof(dir), ca, crt, key, sizeof(ca));
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {"ringo-httpd", "--port",     "0", "--host",    "127.0.0.1", "--workers",
                          "1",           "--tls-cert", crt, "--tls-key", key,         NULL};
    proc p, c;
    start_httpsd(&p, path, argv);
    int port = port_after(&p, "listening on https://127.0.0.1:");
    T_ASSERT(port > 0);
    int st = curl_https(&c, port, ca, NULL);
    if (st != 0 || strcmp(c.out, "Hello, World!")) {
        kill_proc(&p);
        T_FAIL("curl https /plaintext: exit %d, body \"%s\"; stderr:\n%s", st, c.out, c.err);
    }
    /* plain HTTP on the HTTPS port is refused */
    static char buf[4096];
    const char *body;
    if (http_get(port, "/plaintext", buf, sizeof(buf), &body) == 200) {
        kill_proc(&p);
        T_FAIL("plain HTTP was answered on the HTTPS port");
    }

    static char old_pem[8192], new_pem[8192];
    read_pem(crt, old_pem, sizeof(old_pem));
    if (served_cert(port, ca, old_pem, "\x01", &c) != 1) {
        kill_proc(&p);
        T_FAIL("the server did not send %s:\n%s", crt, c.out);
    }
    /* a new key and certificate in the same files */
    const char *sans[] = {"127.0.0.1", "localhost"};
    T_OK(tls_certs_make_signed(dir, "srv", "ca", sans, 2));
    read_pem(crt, new_pem, sizeof(new_pem));
    T_ASSERT(strcmp(old_pem, new_pem) != 0);
    /* before the signal the old one is still served */
    if (served_cert(port, ca, old_pem, new_pem, &c) != 1) {
        kill_proc(&p);
        T_FAIL("the certificate changed before SIGHUP:\n%s", c.out);
    }
    kill(p.pid, SIGHUP);
    if (!wait_err(&p, "SIGHUP: certificate reloaded from", TOOL_WAIT_MS)) {
        kill_proc(&p);
        T_FAIL("no reload message after SIGHUP; stderr:\n%s", p.err);
    }
    int which = served_cert(port, ca, old_pem, new_pem, &c);
    if (which != 2) {
        kill_proc(&p);
        T_FAIL("after SIGHUP a new connection got certificate %d, wanted the new one:\n%s", which,
               c.out);
    }
    stop_httpd(&p);
    tls_certs_dir_remove(dir);
}

/* A certificate file that is not there: exit 1 naming the file, before
 * anything listens. */
T_CASE(httpd_tls_missing_cert_exit_1, 0)
{
    char dir[64], ca[128], crt[128], key[128];
    tls_files(dir, sizeof(dir), ca, crt, key, sizeof(ca));
    char path[PATH_MAX + 32], missing[160];
    tool_path("ringo-httpd", path, sizeof(path));
    snprintf(missing, sizeof(missing), "%s/nonexistent.crt", dir);
    const char *argv[] = {"ringo-httpd", "--port", "0",         "--host", "127.0.0.1",
                          "--tls-cert",  missing,  "--tls-key", key,      NULL};
    proc p;
    int st = run(&p, path, argv, 0);
    if (st != 1 || !strstr(p.err, missing) || !strstr(p.err, "No such file or directory") ||
        strstr(p.err, "listening"))
        T_FAIL("--tls-cert %s: exit %d; stderr:\n%s", missing, st, p.err);
    /* a key that is not the certificate's: refused too, naming the file */
    char other[128];
    tls_certs_path(other, sizeof(other), dir, "ca", "key");
    const char *mism[] = {"ringo-httpd", "--port", "0",         "--host", "127.0.0.1",
                          "--tls-cert",  crt,      "--tls-key", other,    NULL};
    st = run(&p, path, mism, 0);
    if (st != 1 || !strstr(p.err, "TLS") || strstr(p.err, "listening"))
        T_FAIL("--tls-key of another certificate: exit %d; stderr:\n%s", st, p.err);
    tls_certs_dir_remove(dir);
}

/* One of --tls-cert and --tls-key alone, or a bad --tls-min-version: a
 * usage error. */
T_CASE(httpd_tls_flag_errors_exit_2, 0)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    static const struct {
        const char *args[4];
        const char *expect[2];
    } cases[] = {
        {{"--tls-cert", "cert.pem"}, {"--tls-cert needs --tls-key"}},
        {{"--tls-key", "key.pem"}, {"--tls-key needs --tls-cert"}},
        {{"--tls-min-version", "1.1"}, {"--tls-min-version", "'1.1'"}},
        {{"--tls-cert"}, {"--tls-cert", "missing value"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[8] = {"ringo-httpd", "--port", "0"};
        int n = 3;
        for (int a = 0; a < 4 && cases[i].args[a]; a++)
            argv[n++] = cases[i].args[a];
        char what[256];
        describe(argv, what, sizeof(what));
        proc p;
        int st = run(&p, path, argv, 0);
        if (st != 2)
            T_FAIL("%s: exit %d, expected 2; stderr:\n%s", what, st, p.err);
        for (int k = 0; k < 2 && cases[i].expect[k]; k++)
            if (!strstr(p.err, cases[i].expect[k]))
                T_FAIL("%s: stderr lacks \"%s\":\n%s", what, cases[i].expect[k], p.err);
        if (strstr(p.err, "listening"))
            T_FAIL("%s: started:\n%s", what, p.err);
    }
}

/* --tls-min-version 1.3 refuses a TLS 1.2 client, serves a TLS 1.3 one. */
T_CASE(httpd_tls_min_version_13, T_IO | T_SLOW)
{
    need_curl();
    char dir[64], ca[128], crt[128], key[128];
    tls_files(dir, sizeof(dir), ca, crt, key, sizeof(ca));
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {
        "ringo-httpd", "--port", "0",         "--host", "127.0.0.1",         "--workers", "1",
        "--tls-cert",  crt,      "--tls-key", key,      "--tls-min-version", "1.3",       NULL};
    proc p, c;
    start_httpsd(&p, path, argv);
    int port = port_after(&p, "listening on https://127.0.0.1:");
    const char *old[] = {"--tls-max", "1.2", NULL};
    int st = curl_https(&c, port, ca, old);
    /* 35: CURLE_SSL_CONNECT_ERROR, the handshake failed */
    if (st != 35 || c.out_len) {
        kill_proc(&p);
        T_FAIL("curl --tls-max 1.2 against --tls-min-version 1.3: exit %d (wanted 35), body "
               "\"%s\"; stderr:\n%s",
               st, c.out, c.err);
    }
    const char *v13[] = {"--tlsv1.3", NULL};
    st = curl_https(&c, port, ca, v13);
    if (st != 0 || strcmp(c.out, "Hello, World!")) {
        kill_proc(&p);
        T_FAIL("curl --tlsv1.3: exit %d, body \"%s\"; stderr:\n%s", st, c.out, c.err);
    }
    stop_httpd(&p);
    tls_certs_dir_remove(dir);
}

/* ---- ringo-bench http over TLS: --tls, --new-conn, --tls-resume ------ */

#include "tls_certs.h"

/* A CA and a certificate for 127.0.0.1 it signed, in a new directory:
 * dir/bca.crt, dir/bsrv.crt, dir/bsrv.key. */
static void bench_tls_files(char *dir, size_t cap, char *ca, char *crt, char *key, size_t len)
{
    T_OK(tls_certs_dir_new(dir, cap));
    const char *sans[] = {"127.0.0.1"};
    T_OK(tls_certs_make_ca(dir, "bca"));
    T_OK(tls_certs_make_signed(dir, "bsrv", "bca", sans, 1));
    tls_certs_path(ca, len, dir, "bca", "crt");
    tls_certs_path(crt, len, dir, "bsrv", "crt");
    tls_certs_path(key, len, dir, "bsrv", "key");
}

/* ringo-httpd --tls-cert/--tls-key on 127.0.0.1, a free port: returns it. */
static int bench_tls_httpd(proc *p, const char *crt, const char *key)
{
    char path[PATH_MAX + 32];
    tool_path("ringo-httpd", path, sizeof(path));
    const char *argv[] = {"ringo-httpd", "--port",     "0", "--host",    "127.0.0.1", "--workers",
                          "1",           "--tls-cert", crt, "--tls-key", key,         NULL};
    static const char ready[] = "ringo-httpd: listening on https://127.0.0.1:";
    spawn(p, path, argv, 0);
    if (!wait_err(p, ready, TOOL_WAIT_MS)) {
        kill_proc(p);
        T_FAIL("ringo-httpd --tls-cert did not start; stderr:\n%s", p->err);
    }
    int port = port_after(p, ready);
    if (port <= 0) {
        kill_proc(p);
        T_FAIL("no port in:\n%s", p->err);
    }
    return port;
}

/* ringo-bench http --port port --workers 1 -q --json, then args. */
static int bench_tls_run(proc *b, int port, const char *const *args)
{
    char bench[PATH_MAX + 32], port_s[16];
    tool_path("ringo-bench", bench, sizeof(bench));
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *argv[32] = {"ringo-bench", "http", "--port", port_s,
                            "--workers",   "1",    "-q",     "--json"};
    int n = 8;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run(b, bench, argv, 0);
}

/* The number after "name": in ringo-bench's JSON line; -1 if absent. */
static long long bench_json_num(const char *json, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *s = strstr(json, key);
    return s ? strtoll(s + strlen(key), NULL, 10) : -1;
}

/* Bad combinations of the TLS flags exit 2 naming what is wrong, before
 * any connection; --help lists the flags. */
T_CASE(bench_http_tls_flags, 0)
{
    static const usage_case cases[] = {
        {"ringo-bench", {"http", "--tls-resume"}, {"--tls-resume needs --tls"}},
        {"ringo-bench", {"http", "--tls-verify"}, {"--tls-verify needs --tls"}},
        {"ringo-bench", {"http", "--tls", "--tls-ca", "ca.pem"}, {"--tls-ca needs --tls-verify"}},
        {"ringo-bench", {"http", "--new-conn", "-p", "2"}, {"--new-conn", "--pipeline must be 1"}},
        {"ringo-bench",
         {"http", "--tls", "--tls-verify", "--tls-ca", "/nonexistent/ca.pem"},
         {"--tls", "/nonexistent/ca.pem", "No such file"}},
        {"ringo-bench", {"http", "--tls", "--tls-ca"}, {"--tls-ca", "missing value"}},
    };
    char path[PATH_MAX + 32];
    tool_path("ringo-bench", path, sizeof(path));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const usage_case *u = &cases[i];
        const char *argv[8] = {u->tool};
        for (int k = 0; k < 6 && u->args[k]; k++)
            argv[k + 1] = u->args[k];
        char cmd[256];
        describe(argv, cmd, sizeof(cmd));
        proc p;
        int st = run(&p, path, argv, 0);
        if (st != 2)
            T_FAIL("%s: exit %d, expected 2; stderr:\n%s", cmd, st, p.err);
        for (int k = 0; k < 3 && u->expect[k]; k++)
            if (!strstr(p.err, u->expect[k]))
                T_FAIL("%s: stderr lacks \"%s\":\n%s", cmd, u->expect[k], p.err);
        if (strstr(p.out, "MEASURE START"))
            T_FAIL("%s: a run started:\n%s", cmd, p.out);
    }
    static const char *const flags[] = {"--tls",        "--tls-verify", "--tls-ca",
                                        "--tls-resume", "--new-conn",   NULL};
    static const char *const defaults[] = {"(default off", NULL};
    check_help("ringo-bench", "http", flags, defaults);
}

/* Keep-alive over TLS with pipelining against ringo-httpd --tls-cert:
 * answered requests and no errors; with --tls-verify the certificate is
 * checked (against its CA: accepted; against the system store: every
 * handshake fails, and the run says why and exits 1). */
T_CASE(bench_http_tls_keepalive, T_IO | T_SLOW)
{
    char dir[64], ca[128], crt[128], key[128];
    bench_tls_files(dir, sizeof(dir), ca, crt, key, sizeof(crt));
    proc p;
    int port = bench_tls_httpd(&p, crt, key);
    static proc b;
    const char *ka[] = {"--tls",         "-c", "3", "-p", "4", "-d", "1", "--expect-body",
                        "Hello, World!", NULL};
    int st = bench_tls_run(&b, port, ka);
    if (st != 0 || bench_json_num(b.out, "requests") <= 0 || bench_json_num(b.out, "errors") != 0 ||
        bench_json_num(b.out, "handshakes_total") < 3 || !strstr(b.out, "\"tls\":true")) {
        kill_proc(&p);
        T_FAIL("ringo-bench http --tls: exit %d\nstdout:\n%s\nstderr:\n%s", st, b.out, b.err);
    }
    const char *verified[] = {"--tls", "--tls-verify", "--tls-ca", ca, "-c", "2", "-d", "1", NULL};
    st = bench_tls_run(&b, port, verified);
    if (st != 0 || bench_json_num(b.out, "requests") <= 0 || bench_json_num(b.out, "errors") != 0) {
        kill_proc(&p);
        T_FAIL("ringo-bench http --tls --tls-verify --tls-ca: exit %d\nstdout:\n%s\nstderr:\n%s",
               st, b.out, b.err);
    }
    const char *untrusted[] = {"--tls", "--tls-verify", "-c", "2", "-d", "1", NULL};
    st = bench_tls_run(&b, port, untrusted);
    if (st != 1 || bench_json_num(b.out, "requests") != 0 ||
        bench_json_num(b.out, "handshake") != 2 || !strstr(b.err, "handshake error") ||
        !strstr(b.err, "certificate verify failed")) {
        kill_proc(&p);
        T_FAIL("ringo-bench http --tls --tls-verify (system store, a private CA): exit %d, "
               "expected 1\nstdout:\n%s\nstderr:\n%s",
               st, b.out, b.err);
    }
    stop_httpd(&p);
    tls_certs_dir_remove(dir);
}

/* A connection per request: every measured request has its handshake;
 * without --tls-resume none is resumed, with it all of them are: each
 * connection's first (unmeasured) handshake is full, and every later one
 * offers the ticket the one before it was given (ringo-httpd renews a
 * TLS 1.3 ticket on resumption; OpenSSL's client uses each one once). */
T_CASE(bench_http_tls_new_conn, T_IO | T_SLOW)
{
    char dir[64], ca[128], crt[128], key[128];
    bench_tls_files(dir, sizeof(dir), ca, crt, key, sizeof(crt));
    proc p;
    int port = bench_tls_httpd(&p, crt, key);
    static proc b;
    for (int resume = 0; resume < 2; resume++) {
        const char *args[] = {
            "--tls", "--new-conn", "-c", "2", "-d", "1", resume ? "--tls-resume" : NULL, NULL};
        int st = bench_tls_run(&b, port, args);
        long long reqs = bench_json_num(b.out, "requests");
        long long hs = bench_json_num(b.out, "handshakes");
        long long resumed = bench_json_num(b.out, "resumed");
        if (st != 0 || reqs <= 0 || hs != reqs || bench_json_num(b.out, "errors") != 0 ||
            resumed != (resume ? hs : 0) || !strstr(b.out, "\"new_conn\":true")) {
            kill_proc(&p);
            T_FAIL("ringo-bench http --tls --new-conn%s: exit %d, %lld requests, %lld handshakes, "
                   "%lld resumed\nstdout:\n%s\nstderr:\n%s",
                   resume ? " --tls-resume" : "", st, reqs, hs, resumed, b.out, b.err);
        }
    }
    stop_httpd(&p);
    tls_certs_dir_remove(dir);
}
