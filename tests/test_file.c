/* File I/O (ringo/file.h) on both backends: a 1 GiB byte-exact round trip
 * through the disk, small reads and writes at offsets and at the file
 * position, short reads at end of file, statx, rename, unlink, fsync,
 * the errno of bad paths and fds, past deadlines, cancelling and timing
 * out a large read (buffer ownership), concurrent reads on 2 workers. */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MS  1000000LL
#define MiB (1024LL * 1024)
#define GiB (1024 * MiB)

static int64_t dl(void)
{
    return ringo_deadline_in(60 * SEC);
}

/* ---- a scratch directory per case ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/ringo-test-file-XXXXXX");
    if (!mkdtemp(tmpdir))
        T_FAIL("mkdtemp %s: %s", tmpdir, strerror(errno));
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    chmod(p, 0700);
    return remove(p) < 0 ? -1 : 0;
}

static void remove_tmpdir(void)
{
    T_ASSERT(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
    return buf;
}

/* Run fn in a fresh scratch directory; it is removed afterwards. */
static void run_in_tmpdir(int workers, void (*fn)(void *))
{
    make_tmpdir();
    t_run(workers, fn, NULL);
    remove_tmpdir();
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = ringo_open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644, dl());
    T_OK(fd);
    T_EQ(ringo_pwrite(fd, data, len, 0, dl()), len);
    T_OK(ringo_close(fd));
}

/* ---- 1 GiB round trip ---- */

/* The pattern: 64 MiB of pseudo-random bytes repeated, each 4 KiB page
 * stamped with its page number in its first 16 bytes, so a chunk landing
 * at the wrong offset shows. */
#define BLOCK   (64 * MiB)
#define PAGE    4096
#define STAMP_K 0x5DEECE66DULL

static unsigned char *pattern_base(void)
{
    unsigned char *b = malloc(BLOCK);
    T_ASSERT(b);
    uint64_t s = 0x1234567;
    for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t v = t_rand(&s);
        memcpy(b + i, &v, 8);
    }
    return b;
}

static void stamp(unsigned char *page, uint64_t pageno)
{
    uint64_t w[2] = {pageno ^ STAMP_K, ~pageno};
    memcpy(page, w, sizeof(w));
}

/* Fill buf (len a multiple of PAGE) with the pattern of file offset off. */
static void pattern_fill(unsigned char *buf, const unsigned char *base, int64_t off, size_t len)
{
    for (size_t i = 0; i < len; i += PAGE) {
        uint64_t p = (uint64_t)(off + (int64_t)i) / PAGE;
        memcpy(buf + i, base + (p * PAGE) % BLOCK, PAGE);
        stamp(buf + i, p);
    }
}

static void pattern_check(const unsigned char *buf, const unsigned char *base, int64_t off,
                          size_t len)
{
    for (size_t i = 0; i < len; i += PAGE) {
        uint64_t p = (uint64_t)(off + (int64_t)i) / PAGE;
        unsigned char st[16];
        stamp(st, p);
        if (memcmp(buf + i, st, 16) != 0 ||
            memcmp(buf + i + 16, base + (p * PAGE) % BLOCK + 16, PAGE - 16) != 0)
            T_FAIL("page %llu (file offset %lld) differs", (unsigned long long)p,
                   (long long)(off + (int64_t)i));
    }
}

/* len bytes (a multiple of BLOCK) of address space backed by one BLOCK
 * of memory, mapped over and over. */
static unsigned char *alias_buffer(size_t len)
{
    int mfd = memfd_create("ringo-test-alias", MFD_CLOEXEC);
    T_ASSERT(mfd >= 0);
    T_ASSERT(ftruncate(mfd, BLOCK) == 0);
    unsigned char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(p != MAP_FAILED);
    for (size_t off = 0; off < len; off += BLOCK)
        T_ASSERT(mmap(p + off, BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0) ==
                 p + off);
    close(mfd);
    return p;
}

static void roundtrip_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    int fd = ringo_open(tpath(path, "big"), O_CREAT | O_RDWR | O_TRUNC, 0600, dl());
    T_OK(fd);
    /* unlinked at once: the space comes back when the case ends, even
     * when it fails half-way */
    T_OK(ringo_unlink(path, 0, dl()));
    unsigned char *base = pattern_base();
    unsigned char *wbuf = malloc(BLOCK);
    T_ASSERT(wbuf);
    for (int64_t off = 0; off < GiB; off += BLOCK) {
        pattern_fill(wbuf, base, off, BLOCK);
        T_EQ(ringo_pwrite(fd, wbuf, BLOCK, off, dl()), BLOCK);
    }
    free(wbuf);
    T_OK(ringo_fsync(fd, 0, dl()));
    struct statx stx;
    T_OK(ringo_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx, dl()));
    T_EQ(stx.stx_size, GiB);
    /* one call for all of it and a little more: two ops (the 1 GiB
     * limit of one op), each split into chunks in flight, and a short
     * count at the end of the file. Fresh memory is slow to fault in on
     * some VMs (~100 MB/s), so the 1 GiB buffer is one 64 MiB memfd
     * mapped 17 times over: this checks the count, the pass below the
     * bytes. */
    size_t rlen = GiB + BLOCK;
    unsigned char *alias = alias_buffer(rlen);
#if !defined(__SANITIZE_THREAD__)
    /* (not under TSan: its shadow of 1 GiB of address space written by
     * the pool threads' pread costs ~40 s here) */
    T_EQ(ringo_pread(fd, alias, GiB + MiB, 0, dl()), GiB);
#endif
    /* part of it out of the page cache, so those reads go to the disk */
    T_EQ(posix_fadvise(fd, 5 * BLOCK, 2 * BLOCK, POSIX_FADV_DONTNEED), 0);
    unsigned char *rbuf = alias; /* its first 64 MiB */
    for (int64_t off = 0; off < GiB; off += BLOCK) {
        T_EQ(ringo_pread(fd, rbuf, BLOCK, off, dl()), BLOCK);
        pattern_check(rbuf, base, off, BLOCK);
    }
    /* at an offset that is not a multiple of the chunk */
    T_EQ(ringo_pread(fd, rbuf, BLOCK, GiB - BLOCK - 3 * PAGE, dl()), BLOCK);
    pattern_check(rbuf, base, GiB - BLOCK - 3 * PAGE, BLOCK);
    munmap(alias, rlen);
    free(base);
    T_OK(ringo_close(fd));
}

T_CASE(file_roundtrip_1gib, T_IO | T_SLOW)
{
    struct statvfs sv;
    T_ASSERT(statvfs("/var/tmp", &sv) == 0);
    unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (avail < 2ULL * GiB)
        T_SKIP("file_roundtrip_1gib needs 2 GiB free in /var/tmp, has %llu MiB",
               avail / (unsigned long long)MiB);
    run_in_tmpdir(1, roundtrip_main);
}

/* ---- small reads and writes, at offsets and at the file position ---- */

static void small_rw_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    int fd = ringo_open(tpath(path, "small"), O_CREAT | O_RDWR | O_TRUNC, 0644, dl());
    T_OK(fd);
    /* at the file position: it starts at 0 and advances */
    T_EQ(ringo_pwrite(fd, "abc", 3, -1, dl()), 3);
    T_EQ(ringo_pwrite(fd, "de", 2, -1, dl()), 2);
    T_EQ(lseek(fd, 0, SEEK_CUR), 5);
    /* at an offset: a hole before it, the position stays */
    T_EQ(ringo_pwrite(fd, "XYZ", 3, 10, dl()), 3);
    T_EQ(lseek(fd, 0, SEEK_CUR), 5);
    char buf[32];
    memset(buf, '?', sizeof(buf));
    T_EQ(ringo_pread(fd, buf, sizeof(buf), 0, dl()), 13);
    T_ASSERT(memcmp(buf, "abcde\0\0\0\0\0XYZ", 13) == 0);
    T_EQ(buf[13], '?'); /* nothing beyond the count was written */
    /* overwrite in the middle, read at an offset */
    T_EQ(ringo_pwrite(fd, "Q", 1, 2, dl()), 1);
    T_EQ(ringo_pread(fd, buf, 4, 1, dl()), 4);
    T_ASSERT(memcmp(buf, "bQde", 4) == 0);
    /* read at the position: from 5 on, advancing */
    T_EQ(ringo_pread(fd, buf, 6, -1, dl()), 6);
    T_ASSERT(memcmp(buf, "\0\0\0\0\0X", 6) == 0);
    T_EQ(lseek(fd, 0, SEEK_CUR), 11);
    T_EQ(ringo_pread(fd, buf, sizeof(buf), -1, dl()), 2);
    T_EQ(ringo_pread(fd, buf, sizeof(buf), -1, dl()), 0);
    /* zero bytes */
    T_EQ(ringo_pread(fd, buf, 0, 0, dl()), 0);
    T_EQ(ringo_pwrite(fd, buf, 0, 0, dl()), 0);
    /* offsets below -1 */
    T_EQ(ringo_pread(fd, buf, 1, -2, dl()), -EINVAL);
    T_EQ(ringo_pwrite(fd, buf, 1, -5, dl()), -EINVAL);

    /* a large write and read at the file position: chunks one after the
     * other, the position ends after them */
    size_t big = 3 * MiB + 5;
    unsigned char *w = malloc(big), *r = malloc(big + MiB);
    T_ASSERT(w && r);
    for (size_t i = 0; i < big; i++)
        w[i] = (unsigned char)(i * 7 + i / 4096);
    T_EQ(lseek(fd, 0, SEEK_SET), 0);
    T_EQ(ringo_pwrite(fd, w, big, -1, dl()), big);
    T_EQ(lseek(fd, 0, SEEK_CUR), big);
    T_EQ(lseek(fd, 0, SEEK_SET), 0);
    T_EQ(ringo_pread(fd, r, big + MiB, -1, dl()), big);
    T_EQ(lseek(fd, 0, SEEK_CUR), big);
    T_ASSERT(memcmp(w, r, big) == 0);
    /* unaligned offset, larger than one chunk */
    memset(r, 0, big);
    T_EQ(ringo_pread(fd, r, 2 * MiB + 3, 777, dl()), 2 * MiB + 3);
    T_ASSERT(memcmp(w + 777, r, 2 * MiB + 3) == 0);
    T_OK(ringo_close(fd));

    /* O_APPEND: the offset is ignored by the kernel, so a large write
     * must go out in order */
    fd = ringo_open(path, O_WRONLY | O_APPEND, 0, dl());
    T_OK(fd);
    T_EQ(ringo_pwrite(fd, w, big, 0, dl()), big);
    T_OK(ringo_close(fd));
    fd = ringo_open(path, O_RDONLY, 0, dl());
    T_OK(fd);
    unsigned char *r2 = malloc(2 * big);
    T_ASSERT(r2);
    T_EQ(ringo_pread(fd, r2, 2 * big, 0, dl()), 2 * big);
    T_ASSERT(memcmp(r2, w, big) == 0 && memcmp(r2 + big, w, big) == 0);
    T_OK(ringo_close(fd));
    free(r2);
    free(w);
    free(r);
}

T_CASE(file_small_rw_offsets, T_IO)
{
    run_in_tmpdir(1, small_rw_main);
}

/* ---- short reads at end of file ---- */

static void eof_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    size_t size = 5 * MiB / 2; /* 2.5 MiB: the third 1 MiB chunk is short */
    unsigned char *d = malloc(size), *b = malloc(8 * MiB);
    T_ASSERT(d && b);
    for (size_t i = 0; i < size; i++)
        d[i] = (unsigned char)(i ^ (i >> 9));
    write_file(tpath(path, "eof"), d, size);
    int fd = ringo_open(path, O_RDONLY, 0, dl());
    T_OK(fd);
    T_EQ(ringo_pread(fd, b, 8192, (int64_t)size - 5000, dl()), 5000);
    T_ASSERT(memcmp(b, d + size - 5000, 5000) == 0);
    T_EQ(ringo_pread(fd, b, 8192, (int64_t)size, dl()), 0);
    T_EQ(ringo_pread(fd, b, 8192, 1LL << 40, dl()), 0);
    /* large reads: the short chunk ends the count, the chunks after it
     * (wholly past the end) add nothing */
    memset(b, 0xEE, 8 * MiB);
    T_EQ(ringo_pread(fd, b, 8 * MiB, 0, dl()), size);
    T_ASSERT(memcmp(b, d, size) == 0);
    T_EQ(b[size], 0xEE);
    T_EQ(ringo_pread(fd, b, 8 * MiB, MiB + 1, dl()), size - MiB - 1);
    T_ASSERT(memcmp(b, d + MiB + 1, size - MiB - 1) == 0);
    T_EQ(ringo_pread(fd, b, 8 * MiB, (int64_t)size, dl()), 0);
    T_OK(ringo_close(fd));
    free(d);
    free(b);
}

T_CASE(file_short_read_eof, T_IO)
{
    run_in_tmpdir(1, eof_main);
}

/* ---- statx ---- */

static void statx_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX], lpath[PATH_MAX];
    char data[1234];
    memset(data, 'x', sizeof(data));
    write_file(tpath(path, "s"), data, sizeof(data));
    T_ASSERT(chmod(path, 0640) == 0);
    struct statx st;
    memset(&st, 0, sizeof(st));
    T_OK(ringo_statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &st, dl()));
    T_ASSERT(st.stx_mask & STATX_SIZE);
    T_EQ(st.stx_size, sizeof(data));
    T_ASSERT(S_ISREG(st.stx_mode));
    T_EQ(st.stx_mode & 07777, 0640);
    /* through the fd */
    int fd = ringo_open(path, O_RDONLY, 0, dl());
    T_OK(fd);
    memset(&st, 0, sizeof(st));
    T_OK(ringo_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &st, dl()));
    T_EQ(st.stx_size, sizeof(data));
    T_OK(ringo_close(fd));
    /* a directory; a symlink with and without following it */
    T_OK(ringo_statx(AT_FDCWD, tmpdir, 0, STATX_TYPE, &st, dl()));
    T_ASSERT(S_ISDIR(st.stx_mode));
    T_ASSERT(symlink(path, tpath(lpath, "link")) == 0);
    T_OK(ringo_statx(AT_FDCWD, lpath, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &st, dl()));
    T_ASSERT(S_ISLNK(st.stx_mode));
    T_OK(ringo_statx(AT_FDCWD, lpath, 0, STATX_TYPE | STATX_SIZE, &st, dl()));
    T_ASSERT(S_ISREG(st.stx_mode));
    T_EQ(st.stx_size, sizeof(data));
    T_EQ(ringo_statx(AT_FDCWD, tpath(path, "missing"), 0, STATX_SIZE, &st, dl()), -ENOENT);
}

T_CASE(file_statx, T_IO)
{
    run_in_tmpdir(1, statx_main);
}

/* ---- rename and unlink ---- */

static void rename_main(void *arg)
{
    (void)arg;
    char a[PATH_MAX], b[PATH_MAX], d[PATH_MAX], m[PATH_MAX];
    struct statx st;
    write_file(tpath(a, "a"), "AAAA", 4);
    write_file(tpath(b, "b"), "BB", 2);
    /* rename over an existing file replaces it */
    T_OK(ringo_rename(a, b, dl()));
    T_EQ(ringo_statx(AT_FDCWD, a, 0, STATX_SIZE, &st, dl()), -ENOENT);
    T_OK(ringo_statx(AT_FDCWD, b, 0, STATX_SIZE, &st, dl()));
    T_EQ(st.stx_size, 4);
    T_OK(ringo_unlink(b, 0, dl()));
    T_EQ(ringo_statx(AT_FDCWD, b, 0, STATX_SIZE, &st, dl()), -ENOENT);
    /* missing paths */
    T_EQ(ringo_unlink(b, 0, dl()), -ENOENT);
    T_EQ(ringo_rename(a, tpath(m, "m"), dl()), -ENOENT);
    T_EQ(ringo_rename(tpath(m, "no/such"), a, dl()), -ENOENT);
    /* directories: unlink says EISDIR, AT_REMOVEDIR removes an empty one
     * and refuses a full one */
    T_ASSERT(mkdir(tpath(d, "dir"), 0755) == 0);
    T_EQ(ringo_unlink(d, 0, dl()), -EISDIR);
    write_file(tpath(m, "dir/f"), "f", 1);
    T_EQ(ringo_unlink(d, AT_REMOVEDIR, dl()), -ENOTEMPTY);
    T_OK(ringo_unlink(m, 0, dl()));
    T_OK(ringo_unlink(d, AT_REMOVEDIR, dl()));
    T_EQ(ringo_unlink(d, AT_REMOVEDIR, dl()), -ENOENT);
}

T_CASE(file_rename_unlink, T_IO)
{
    run_in_tmpdir(1, rename_main);
}

/* ---- fsync ---- */

static void fsync_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    int fd = ringo_open(tpath(path, "f"), O_CREAT | O_RDWR | O_TRUNC, 0644, dl());
    T_OK(fd);
    T_EQ(ringo_pwrite(fd, "data", 4, 0, dl()), 4);
    T_OK(ringo_fsync(fd, 0, dl()));
    T_EQ(ringo_pwrite(fd, "more", 4, 4, dl()), 4);
    T_OK(ringo_fsync(fd, 1, dl()));
    T_OK(ringo_close(fd));
    /* a closed fd, and a pipe (fsync has nothing to do there) */
    T_EQ(ringo_fsync(fd, 0, dl()), -EBADF);
    T_EQ(ringo_fsync(fd, 1, dl()), -EBADF);
    int p[2];
    T_ASSERT(pipe(p) == 0);
    T_EQ(ringo_fsync(p[0], 0, dl()), -EINVAL);
    close(p[0]);
    close(p[1]);
}

T_CASE(file_fsync, T_IO)
{
    run_in_tmpdir(1, fsync_main);
}

/* ---- bad paths and fds give the errno ---- */

static void badpath_main(void *arg)
{
    (void)arg;
    char f[PATH_MAX], p[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX];
    write_file(tpath(f, "file"), "x", 1);
    T_EQ(ringo_open(tpath(p, "missing"), O_RDONLY, 0, dl()), -ENOENT);
    T_EQ(ringo_open(tpath(p, "nodir/x"), O_CREAT | O_WRONLY, 0644, dl()), -ENOENT);
    /* a file used as a directory component */
    T_EQ(ringo_open(tpath(p, "file/x"), O_RDONLY, 0, dl()), -ENOTDIR);
    T_EQ(ringo_open(f, O_RDONLY | O_DIRECTORY, 0, dl()), -ENOTDIR);
    /* a directory opened for writing */
    T_EQ(ringo_open(tmpdir, O_WRONLY, 0, dl()), -EISDIR);
    T_EQ(ringo_open(tmpdir, O_RDWR, 0, dl()), -EISDIR);
    T_EQ(ringo_open(f, O_CREAT | O_EXCL | O_WRONLY, 0644, dl()), -EEXIST);
    /* a name component longer than NAME_MAX */
    char longname[PATH_MAX];
    int n = snprintf(longname, sizeof(longname), "%s/", tmpdir);
    memset(longname + n, 'n', 300);
    longname[n + 300] = 0;
    T_EQ(ringo_open(longname, O_CREAT | O_WRONLY, 0644, dl()), -ENAMETOOLONG);
    /* a symlink loop */
    T_ASSERT(symlink(tpath(l2, "l2"), tpath(l1, "l1")) == 0);
    T_ASSERT(symlink(l1, l2) == 0);
    T_EQ(ringo_open(l1, O_RDONLY, 0, dl()), -ELOOP);
    /* permissions: DAC does not stop root */
    T_ASSERT(chmod(f, 0) == 0);
    if (geteuid() != 0)
        T_EQ(ringo_open(f, O_RDONLY, 0, dl()), -EACCES);
    T_ASSERT(chmod(f, 0644) == 0);
    /* the fd of a successful open is close-on-exec */
    int fd = ringo_open(f, O_RDONLY, 0, dl());
    T_OK(fd);
    T_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* the wrong direction, a directory, a closed fd */
    char b[8];
    T_EQ(ringo_pwrite(fd, "y", 1, 0, dl()), -EBADF);
    int dfd = ringo_open(tmpdir, O_RDONLY | O_DIRECTORY, 0, dl());
    T_OK(dfd);
    T_EQ(ringo_pread(dfd, b, sizeof(b), 0, dl()), -EISDIR);
    T_OK(ringo_close(dfd));
    T_OK(ringo_close(fd));
    T_EQ(ringo_pread(fd, b, sizeof(b), 0, dl()), -EBADF);
    T_EQ(ringo_pread(fd, b, sizeof(b), -1, dl()), -EBADF);
    T_EQ(ringo_pwrite(fd, b, sizeof(b), 0, dl()), -EBADF);
    T_EQ(ringo_pread(-1, b, sizeof(b), 0, dl()), -EBADF);
    /* a large read on a closed fd: every chunk fails, its error comes
     * back */
    char *big = malloc(4 * MiB);
    T_ASSERT(big);
    T_EQ(ringo_pread(fd, big, 4 * MiB, 0, dl()), -EBADF);
    T_EQ(ringo_pwrite(fd, big, 4 * MiB, 0, dl()), -EBADF);
    free(big);
}

T_CASE(file_bad_paths_errno, T_IO)
{
    run_in_tmpdir(1, badpath_main);
}

/* ---- a deadline already past ---- */

static void past_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX], p2[PATH_MAX];
    int64_t past = ringo_now() - SEC;
    struct statx st;
    char b[16];
    write_file(tpath(path, "f"), "0123456789", 10);
    int fd = ringo_open(path, O_RDWR, 0, dl());
    T_OK(fd);
    int64_t ds[2] = {past, RINGO_NOWAIT};
    for (int i = 0; i < 2; i++) {
        int64_t d = ds[i];
        T_EQ(ringo_open(tpath(p2, "new"), O_CREAT | O_WRONLY, 0644, d), -ETIMEDOUT);
        T_EQ(ringo_pread(fd, b, sizeof(b), 0, d), -ETIMEDOUT);
        T_EQ(ringo_pwrite(fd, "zz", 2, 0, d), -ETIMEDOUT);
        T_EQ(ringo_pread(fd, b, 4 * MiB, 0, d), -ETIMEDOUT); /* not touched */
        T_EQ(ringo_fsync(fd, 0, d), -ETIMEDOUT);
        T_EQ(ringo_statx(AT_FDCWD, path, 0, STATX_SIZE, &st, d), -ETIMEDOUT);
        T_EQ(ringo_rename(path, p2, d), -ETIMEDOUT);
        T_EQ(ringo_unlink(path, 0, d), -ETIMEDOUT);
    }
    /* and nothing happened */
    T_EQ(ringo_statx(AT_FDCWD, p2, 0, STATX_SIZE, &st, dl()), -ENOENT);
    T_EQ(ringo_pread(fd, b, sizeof(b), 0, dl()), 10);
    T_ASSERT(memcmp(b, "0123456789", 10) == 0);
    T_OK(ringo_close(fd));
}

T_CASE(file_deadline_past, T_IO)
{
    run_in_tmpdir(1, past_main);
}

/* ---- cancel and deadline during a large read ---- */

#define BIGREAD (32 * MiB)

static struct {
    int fd;
    ssize_t res, res2;
    int done;
    unsigned char *keep;
} cr;

/* Reads into a heap buffer and frees it as soon as the read returns: on
 * epoll, ASan's interceptor of the pool thread's pread reports a write
 * into it after that. */
static void reader_free(void *arg)
{
    (void)arg;
    unsigned char *buf = malloc(BIGREAD);
    T_ASSERT(buf);
    cr.res = ringo_pread(cr.fd, buf, BIGREAD, 0, RINGO_FOREVER);
    free(buf);
    char one;
    cr.res2 = ringo_pread(cr.fd, &one, 1, 0, RINGO_FOREVER);
    cr.done = 1;
}

/* Reads into a buffer that stays mapped and fills it with a sentinel the
 * moment the read returns; the kernel writing into it later (io_uring)
 * would show as zeros (the file is a hole). */
static void reader_keep(void *arg)
{
    (void)arg;
    cr.res = ringo_pread(cr.fd, cr.keep, BIGREAD, 0, RINGO_FOREVER);
    memset(cr.keep, 0xA5, BIGREAD);
    char one;
    cr.res2 = ringo_pread(cr.fd, &one, 1, 0, RINGO_FOREVER);
    cr.done = 1;
}

static void cancel_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    int fd = ringo_open(tpath(path, "sparse"), O_CREAT | O_RDWR | O_TRUNC, 0600, dl());
    T_OK(fd);
    T_ASSERT(ftruncate(fd, 4 * BIGREAD) == 0);
    cr.fd = fd;
    cr.keep = mmap(NULL, BIGREAD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(cr.keep != MAP_FAILED);
    void (*readers[2])(void *) = {reader_free, reader_keep};
    int cancelled_outright = 0;
    for (int round = 0; round < 6; round++) {
        cr.done = 0;
        cr.res = cr.res2 = 1;
        ringo_coro *h;
        T_OK(ringo_go(readers[round % 2], NULL, &h));
        /* let it start the read (and park), then cancel it */
        T_OK(ringo_yield());
        T_EQ(cr.done, 0);
        T_OK(ringo_cancel(h));
        T_OK(ringo_join(h, dl()));
        T_EQ(cr.done, 1);
        /* -ECANCELED, or the bytes of the chunks done before the cancel
         * got to them; never the whole read */
        if (cr.res != -ECANCELED && !(cr.res >= 0 && cr.res < BIGREAD))
            T_FAIL("round %d: cancelled 32 MiB read returned %zd", round, cr.res);
        cancelled_outright += cr.res == -ECANCELED;
        T_EQ(cr.res2, -ECANCELED); /* the cancel sticks */
        if (round % 2 == 1) {
            ringo_sleep(50 * MS);
            for (size_t i = 0; i < BIGREAD; i += 512)
                if (cr.keep[i] != 0xA5)
                    T_FAIL("byte %zu of the cancelled read's buffer was overwritten", i);
        }
    }
    if (strcmp(t_backend(), "epoll") == 0)
        T_EQ(cancelled_outright, 6); /* the helpers had not started */
    munmap(cr.keep, BIGREAD);
    T_OK(ringo_close(fd));
}

T_CASE(file_cancel_large_read, T_IO)
{
    run_in_tmpdir(1, cancel_main);
}

static void timeout_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    int fd = ringo_open(tpath(path, "sparse"), O_CREAT | O_RDWR | O_TRUNC, 0600, dl());
    T_OK(fd);
    size_t len = 4 * BIGREAD;
    T_ASSERT(ftruncate(fd, (off_t)len) == 0);
    unsigned char *buf =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(buf != MAP_FAILED);
    for (int round = 0; round < 3; round++) {
        memset(buf, 0x5A, len);
        int64_t d = ringo_now() + MS;
        ssize_t r = ringo_pread(fd, buf, len, 0, d);
        /* 128 MiB in 1 ms would be 128 GB/s: the deadline cut it (how soon
         * it returned after that depends on the machine's load) */
        if (r != -ETIMEDOUT && !(r >= 0 && (size_t)r < len))
            T_FAIL("128 MiB read with a 1 ms deadline returned %zd", r);
        for (ssize_t i = 0; i < r; i += 512)
            T_EQ(buf[i], 0); /* the count covers bytes really read */
        /* nothing lands after the return: a late read of the hole would
         * write zeros over the sentinel */
        memset(buf, 0xA5, len);
        /* the same deadline again: at once */
        T_EQ(ringo_pread(fd, buf, len, r > 0 ? r : 0, d), -ETIMEDOUT);
        ringo_sleep(30 * MS);
        for (size_t i = 0; i < len; i += 512)
            if (buf[i] != 0xA5)
                T_FAIL("byte %zu of the timed-out read's buffer was overwritten", i);
    }
    munmap(buf, len);
    T_OK(ringo_close(fd));
}

T_CASE(file_deadline_large_read, T_IO)
{
    run_in_tmpdir(1, timeout_main);
}

/* ---- concurrent reads from many coroutines on 2 workers ---- */

#define CFILE (16 * MiB)
#define NCORO 32

static uint64_t word_at(uint64_t off)
{
    return (off / 8) * 0x9E3779B97F4A7C15ULL ^ 0xC0FFEE;
}

struct creader {
    int fd;
    uint64_t seed;
    int worker, errors;
    size_t bytes;
};

static void creader_main(void *arg)
{
    struct creader *c = arg;
    c->worker = ringo_worker_id();
    uint64_t *buf = malloc(5 * MiB / 2 + 8);
    T_ASSERT(buf);
    for (int i = 0; i < 4; i++) {
        uint64_t r = t_rand(&c->seed);
        /* small, medium and larger than a chunk, some past the end */
        size_t len = (i % 2 == 0) ? 8 * (1 + r % 512) : 8 * (r % (5 * MiB / 16) + 1);
        uint64_t off = 8 * ((r >> 24) % (CFILE / 8 + 1000));
        ssize_t got = ringo_pread(c->fd, buf, len, (int64_t)off, dl());
        size_t want = off >= CFILE ? 0 : (CFILE - off < len ? CFILE - off : len);
        if (got != (ssize_t)want) {
            fprintf(stderr, "  read %zu at %llu: %zd, want %zu\n", len, (unsigned long long)off,
                    got, want);
            c->errors++;
            continue;
        }
        for (size_t k = 0; k < want / 8; k++)
            if (buf[k] != word_at(off + 8 * k)) {
                c->errors++;
                break;
            }
        c->bytes += want;
    }
    free(buf);
}

static void concurrent_main(void *arg)
{
    (void)arg;
    char path[PATH_MAX];
    uint64_t *d = malloc(CFILE);
    T_ASSERT(d);
    for (size_t k = 0; k < CFILE / 8; k++)
        d[k] = word_at(8 * k);
    write_file(tpath(path, "c"), d, CFILE);
    free(d);
    int fd = ringo_open(path, O_RDONLY, 0, dl());
    T_OK(fd);
    static struct creader cs[NCORO];
    ringo_coro *h[NCORO];
    for (int i = 0; i < NCORO; i++) {
        cs[i] = (struct creader){.fd = fd, .seed = 0x9876 + (uint64_t)i * 7919};
        T_OK(ringo_go_on(i % 2, creader_main, &cs[i], &h[i]));
    }
    int workers_seen[2] = {0, 0}, errors = 0;
    for (int i = 0; i < NCORO; i++) {
        T_OK(ringo_join(h[i], dl()));
        errors += cs[i].errors;
        T_ASSERT(cs[i].worker == i % 2);
        workers_seen[cs[i].worker]++;
    }
    T_EQ(errors, 0);
    T_EQ(workers_seen[0], NCORO / 2);
    T_EQ(workers_seen[1], NCORO / 2);
    T_OK(ringo_close(fd));
}

T_CASE(file_concurrent_reads_two_workers, T_IO)
{
    run_in_tmpdir(2, concurrent_main);
}

/* ---- outside a coroutine ---- */

T_CASE(file_not_in_coro, T_IO)
{
    char b[4];
    struct statx st;
    T_EQ(ringo_open("/", O_RDONLY, 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_pread(0, b, sizeof(b), 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_pwrite(1, b, 0, 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_fsync(0, 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_statx(AT_FDCWD, "/", 0, STATX_SIZE, &st, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_unlink("/nonexistent", 0, RINGO_FOREVER), RINGO_ENOTINCORO);
    T_EQ(ringo_rename("/a", "/b", RINGO_FOREVER), RINGO_ENOTINCORO);
}
