/* ringo_sendfile and ringo_open_beneath (ringo/file.h) on both backends:
 * 4 KiB and 10 MiB checked byte for byte (also through the pread + send
 * path), offsets, the short count at end of file, a peer that went away,
 * a deadline on a peer that does not read, cancelling, the socket still
 * usable for reads and writes afterwards; opens below a root that follow
 * symlinks inside it and refuse ones out of it, absolute paths and "..". */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MS  1000000LL
#define MiB (1024LL * 1024)

static int64_t dl(void)
{
    return ringo_deadline_in(30 * SEC);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/ringo-test-sendfile-XXXXXX");
    if (!mkdtemp(tmpdir))
        T_FAIL("mkdtemp %s: %s", tmpdir, strerror(errno));
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(p) < 0 ? -1 : 0;
}

static void run_in_tmpdir(void (*fn)(void *))
{
    make_tmpdir();
    t_run(1, fn, NULL);
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
    return buf;
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13 ^ i);
}

/* A file of len pattern bytes, opened for reading. */
static int pattern_file(const char *name, size_t len)
{
    char p[PATH_MAX];
    tpath(p, name);
    unsigned char *b = malloc(len ? len : 1);
    T_ASSERT(b);
    for (size_t i = 0; i < len; i++)
        b[i] = pattern_byte(i);
    int fd = ringo_open(p, O_CREAT | O_RDWR | O_TRUNC, 0644, dl());
    T_OK(fd);
    T_EQ(ringo_pwrite(fd, b, len, 0, dl()), len);
    free(b);
    return fd;
}

/* ---- a reader coroutine: reads want bytes and checks them ---- */

struct reader {
    int fd;
    size_t want;
    size_t first; /* the pattern index of the first byte */
    size_t got;
    int bad; /* bytes that differ */
    ringo_coro *co;
};

static void reader_fn(void *arg)
{
    struct reader *r = arg;
    static unsigned char buf[256 * 1024];
    while (r->got < r->want) {
        ssize_t n = ringo_read(r->fd, buf, sizeof(buf), dl());
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern_byte(r->first + r->got + (size_t)i))
                r->bad++;
        r->got += (size_t)n;
    }
}

static void start_reader(struct reader *r, int fd, size_t first, size_t want)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->first = first;
    r->want = want;
    T_OK(ringo_go(reader_fn, r, &r->co));
}

/* Send [off, off+len) of a fresh pattern file of size fsize; check the
 * count (expect) and every byte that arrives. */
static void send_check(size_t fsize, int64_t off, size_t len, size_t expect)
{
    int fd = pattern_file("f", fsize);
    int c, s;
    t_tcp_pair(&c, &s);
    struct reader r;
    start_reader(&r, c, (size_t)off, expect);
    T_EQ(ringo_sendfile(s, fd, off, len, dl()), expect);
    T_OK(ringo_join(r.co, dl()));
    T_EQ(r.got, expect);
    T_EQ(r.bad, 0);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

static void small_body(void *arg)
{
    (void)arg;
    send_check(4096, 0, 4096, 4096);
    send_check(1, 0, 1, 1);
    send_check(4096, 0, 0, 0);
}

T_CASE(sendfile_4k, T_IO)
{
    run_in_tmpdir(small_body);
}

static void big_body(void *arg)
{
    (void)arg;
    send_check(10 * MiB, 0, 10 * MiB, 10 * MiB);
}

T_CASE(sendfile_10m, T_IO)
{
    run_in_tmpdir(big_body);
}

/* The pread + send path (files sendfile refuses), forced. */
T_CASE(sendfile_copy_path, T_IO)
{
    setenv("RINGO_SENDFILE", "copy", 1);
    run_in_tmpdir(big_body);
    run_in_tmpdir(small_body);
}

static void offset_body(void *arg)
{
    (void)arg;
    send_check(100000, 1000, 500, 500);
    send_check(3 * MiB, MiB + 7, MiB, MiB);
    /* end of file: short count, then 0 */
    send_check(4096, 4000, 1000, 96);
    send_check(4096, 4096, 10, 0);
    send_check(4096, 5000, 10, 0);
    int fd = pattern_file("g", 10);
    int c, s;
    t_tcp_pair(&c, &s);
    T_EQ(ringo_sendfile(s, fd, -1, 10, dl()), -EINVAL);
    T_EQ(ringo_sendfile(s, fd, INT64_MAX, 10, dl()), -EINVAL);
    T_EQ(ringo_sendfile(s, 1000, 0, 10, dl()), -EBADF);
    /* the file position is not used nor moved */
    T_EQ(lseek(fd, 0, SEEK_CUR), 0);
    T_EQ(ringo_sendfile(s, fd, 0, 10, dl()), 10);
    T_EQ(lseek(fd, 0, SEEK_CUR), 0);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

T_CASE(sendfile_offset_eof, T_IO)
{
    run_in_tmpdir(offset_body);
}

/* After a sendfile (which makes the socket O_NONBLOCK on io_uring) the
 * socket's other calls still park and work both ways. */
static void reuse_body(void *arg)
{
    (void)arg;
    int fd = pattern_file("f", 4 * MiB);
    int c, s;
    t_tcp_pair(&c, &s);
    struct reader r;
    start_reader(&r, c, 0, 4 * MiB);
    T_EQ(ringo_sendfile(s, fd, 0, 4 * MiB, dl()), 4 * MiB);
    T_OK(ringo_join(r.co, dl()));
    T_EQ(r.bad, 0);
    /* a read on the sendfile socket parks until the peer writes */
    char buf[16];
    T_EQ(ringo_read(s, buf, sizeof(buf), ringo_deadline_in(50 * MS)), -ETIMEDOUT);
    T_EQ(ringo_write_all(c, "ping", 4, NULL, dl()), 4);
    T_EQ(ringo_read_full(s, buf, 4, NULL, dl()), 4);
    T_ASSERT(memcmp(buf, "ping", 4) == 0);
    /* a large write on it parks while the peer is slow */
    size_t big = 8 * MiB;
    char *w = malloc(big);
    T_ASSERT(w);
    for (size_t i = 0; i < big; i++)
        w[i] = (char)pattern_byte(i);
    start_reader(&r, c, 0, big);
    T_EQ(ringo_write_all(s, w, big, NULL, dl()), big);
    T_OK(ringo_join(r.co, dl()));
    T_EQ(r.bad, 0);
    free(w);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

T_CASE(sendfile_socket_reuse, T_IO)
{
    run_in_tmpdir(reuse_body);
}

/* A peer that closed: -EPIPE or -ECONNRESET (maybe after a short count
 * of what still fit into the buffers). */
static void peer_gone_body(void *arg)
{
    (void)arg;
    int fd = pattern_file("f", 0);
    T_OK(ftruncate(fd, 64 * MiB)); /* sparse: reads as zeros, costs nothing */
    int c, s;
    t_tcp_pair(&c, &s);
    /* unread data in c makes its close send RST */
    T_EQ(ringo_write_all(s, "x", 1, NULL, dl()), 1);
    ringo_sleep(20 * MS);
    T_OK(ringo_close(c));
    ringo_sleep(20 * MS);
    ssize_t r;
    int calls = 0;
    int64_t off = 0;
    while ((r = ringo_sendfile(s, fd, off, 64 * MiB, dl())) > 0 && calls++ < 100)
        off += r;
    T_ASSERT(r == -EPIPE || r == -ECONNRESET);
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

T_CASE(sendfile_peer_gone, T_IO)
{
    run_in_tmpdir(peer_gone_body);
}

/* A peer that does not read: the deadline ends the call with what went
 * out (the buffers' worth), the next call says -ETIMEDOUT. What ended the
 * call is told by its result and the clock's lower bound (a deadline never
 * fires early), not by how soon it returned: on loaded cores that has no
 * bound, and a call that hung would meet the runner's timeout. */
static void deadline_body(void *arg)
{
    (void)arg;
    int fd = pattern_file("f", 0);
    T_OK(ftruncate(fd, 256 * MiB));
    int c, s;
    t_tcp_pair(&c, &s);
    int64_t d = ringo_deadline_in(100 * MS);
    ssize_t r = ringo_sendfile(s, fd, 0, 256 * MiB, d);
    /* a short count: what fit into the buffers of a peer that never read */
    T_ASSERT(r > 0 && r < 256 * MiB);
    /* returned by the deadline, not before it */
    T_ASSERT(ringo_now() >= d);
    /* the receive window may still grow a little: soon nothing fits */
    int64_t off = r;
    for (int i = 0;
         i < 20 && (r = ringo_sendfile(s, fd, off, 256 * MiB, ringo_deadline_in(20 * MS))) > 0; i++)
        off += r;
    T_EQ(r, -ETIMEDOUT);
    /* already past and nothing fits: at once */
    T_EQ(ringo_sendfile(s, fd, off, 4096, RINGO_NOWAIT), -ETIMEDOUT);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

T_CASE(sendfile_deadline, T_IO)
{
    run_in_tmpdir(deadline_body);
}

struct canc {
    int s, fd;
    ssize_t res;
};

static void canc_fn(void *arg)
{
    struct canc *k = arg;
    k->res = ringo_sendfile(k->s, k->fd, 0, 256 * MiB, dl());
    /* a short count: the next call sees the cancel */
    if (k->res > 0)
        k->res = ringo_sendfile(k->s, k->fd, k->res, 256 * MiB, dl());
}

static void cancel_body(void *arg)
{
    (void)arg;
    int fd = pattern_file("f", 0);
    T_OK(ftruncate(fd, 256 * MiB));
    int c, s;
    t_tcp_pair(&c, &s);
    struct canc k = {s, fd, 0};
    ringo_coro *co;
    T_OK(ringo_go(canc_fn, &k, &co));
    ringo_sleep(50 * MS);
    T_OK(ringo_cancel(co));
    T_OK(ringo_join(co, dl()));
    T_EQ(k.res, -ECANCELED);
    T_OK(ringo_close(c));
    T_OK(ringo_close(s));
    T_OK(ringo_close(fd));
}

T_CASE(sendfile_cancel, T_IO)
{
    run_in_tmpdir(cancel_body);
}

/* ---- ringo_open_beneath ---- */

static void beneath_body(void *arg)
{
    (void)arg;
    char p[PATH_MAX], q[PATH_MAX];
    T_ASSERT(mkdir(tpath(p, "root"), 0755) == 0);
    T_ASSERT(mkdir(tpath(p, "root/sub"), 0755) == 0);
    int fd = pattern_file("root/sub/a.txt", 100);
    T_OK(ringo_close(fd));
    fd = pattern_file("outside.txt", 10);
    T_OK(ringo_close(fd));
    T_ASSERT(symlink("sub/a.txt", tpath(p, "root/in")) == 0);
    T_ASSERT(symlink("sub", tpath(p, "root/subdir")) == 0);
    T_ASSERT(symlink("/etc/passwd", tpath(p, "root/etc")) == 0);
    T_ASSERT(symlink("../outside.txt", tpath(p, "root/up")) == 0);
    T_ASSERT(symlink("../../outside.txt", tpath(p, "root/sub/up2")) == 0);
    T_ASSERT(symlink("/proc/self/fd/0", tpath(p, "root/magic")) == 0);
    snprintf(q, sizeof(q), "%s/root", tmpdir);
    int root = ringo_open(q, O_PATH | O_DIRECTORY, 0, dl());
    T_OK(root);

    /* plain, nested, via in-root symlinks, ".." that stays inside */
    fd = ringo_open_beneath(root, "sub/a.txt", O_RDONLY, dl());
    T_OK(fd);
    T_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char b[8];
    T_EQ(ringo_pread(fd, b, 8, 0, dl()), 8);
    T_EQ((unsigned char)b[3], pattern_byte(3));
    T_OK(ringo_close(fd));
    fd = ringo_open_beneath(root, "in", O_RDONLY, dl());
    T_OK(fd);
    T_OK(ringo_close(fd));
    fd = ringo_open_beneath(root, "subdir/a.txt", O_RDONLY, dl());
    T_OK(fd);
    T_OK(ringo_close(fd));
    fd = ringo_open_beneath(root, "sub/../sub/a.txt", O_RDONLY, dl());
    T_OK(fd);
    T_OK(ringo_close(fd));

    /* escapes */
    T_EQ(ringo_open_beneath(root, "etc", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "up", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "sub/up2", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "/etc/passwd", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "../outside.txt", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "sub/../../outside.txt", O_RDONLY, dl()), -EXDEV);
    T_EQ(ringo_open_beneath(root, "..", O_RDONLY, dl()), -EXDEV);
    int m = ringo_open_beneath(root, "magic", O_RDONLY, dl());
    T_ASSERT(m == -EXDEV || m == -ELOOP);
    /* ordinary errors */
    T_EQ(ringo_open_beneath(root, "nope", O_RDONLY, dl()), -ENOENT);
    T_EQ(ringo_open_beneath(root, "sub/a.txt/x", O_RDONLY, dl()), -ENOTDIR);
    T_EQ(ringo_open_beneath(-1, "sub/a.txt", O_RDONLY, dl()), -EBADF);
    T_EQ(ringo_open_beneath(root, "sub/a.txt", O_RDONLY, RINGO_NOWAIT), -ETIMEDOUT);
    /* creating below the root */
    fd = ringo_open_beneath(root, "sub/new", O_CREAT | O_WRONLY | O_EXCL, dl());
    T_OK(fd);
    T_OK(ringo_close(fd));
    struct stat st;
    T_ASSERT(stat(tpath(p, "root/sub/new"), &st) == 0 && S_ISREG(st.st_mode));
    T_OK(ringo_close(root));
}

T_CASE(open_beneath, T_IO)
{
    run_in_tmpdir(beneath_body);
}
