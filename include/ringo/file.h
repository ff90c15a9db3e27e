/* ringo/file.h - file I/O that does not block the worker.
 *
 * On io_uring these are ring operations (OPENAT, OPENAT2, READ, WRITE,
 * FSYNC, STATX, UNLINKAT, RENAMEAT); on epoll, where a regular file never reports
 * "not ready", they run on the offload pool (ringo/offload.h). The
 * deadline bounds the wait: on io_uring the kernel request is cancelled
 * and the call returns -ETIMEDOUT once the kernel has let go of the
 * buffer; on epoll a call still queued for a pool thread is dropped, one
 * already running is waited for. Paths are relative to the current
 * directory. fds are plain fds: ringo_close() closes them.
 */
#ifndef RINGO_FILE_H
#define RINGO_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct statx; /* <sys/stat.h> declares it only with _GNU_SOURCE */

#ifdef __cplusplus
extern "C" {
#endif

/* open(2): flags O_RDONLY/O_WRONLY/O_RDWR|O_CREAT|O_TRUNC|O_APPEND|...,
 * O_CLOEXEC is always added. Returns the fd or -errno (-ENOENT, -EACCES,
 * -EISDIR, -ENOTDIR, -ENAMETOOLONG, -ELOOP, -EEXIST, ...), -ETIMEDOUT,
 * -ECANCELED, RINGO_ENOTINCORO. path is read only before the call
 * returns. */
int ringo_open(const char *path, int flags, mode_t mode, int64_t deadline);

/* pread(2)/pwrite(2) at offset (offset -1: at the file position, which
 * then advances, like read/write). Returns bytes moved: a short count at
 * end of file, on a full disk, or when a deadline or cancel stopped a split
 * request after some chunks completed (the next call then fails); test for
 * end of file with 0. Else -errno, -ETIMEDOUT, -ECANCELED. On io_uring a
 * pipe or socket fd ignores the offset and reads the stream (no -ESPIPE).
 * Requests larger than 1 MiB are split into chunks kept several in flight
 * at once (io_uring) or on several pool threads (epoll); the result then
 * counts the bytes up to the first short or failed chunk (whose error is
 * returned only if no byte was moved). buf belongs to the caller again
 * when the call returns. */
ssize_t ringo_pread(int fd, void *buf, size_t len, int64_t offset, int64_t deadline);
ssize_t ringo_pwrite(int fd, const void *buf, size_t len, int64_t offset, int64_t deadline);

/* fsync(2) (datasync = 1: fdatasync). Returns 0 or -errno. */
int ringo_fsync(int fd, int datasync, int64_t deadline);

/* statx(2) of path relative to dirfd (AT_FDCWD) with flags
 * (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH with path "" for an fd) and mask
 * (STATX_BASIC_STATS...). Returns 0 or -errno. */
int ringo_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out,
                int64_t deadline);

/* unlink(2) / rmdir with AT_REMOVEDIR in flags (unlinkat). Returns 0 or
 * -errno. */
int ringo_unlink(const char *path, int flags, int64_t deadline);

/* rename(2). Returns 0 or -errno. */
int ringo_rename(const char *from, const char *to, int64_t deadline);

/* Send len bytes of file_fd from offset to socket sock without copying
 * them through user space (sendfile(2)); the file position is neither
 * used nor moved. Parks while the socket buffer is full; the deadline
 * bounds the whole call. Returns the bytes sent: len, a short count when
 * the file ends before offset + len (0 at or past its end), or the count
 * sent before an error or the deadline stopped a call that had sent
 * some (the next call then reports the error). Else -errno: -EPIPE or
 * -ECONNRESET (peer gone), -ETIMEDOUT, -ECANCELED, -EBADF, -EINVAL
 * (offset < 0 or offset + len overflows), RINGO_ENOTINCORO.
 * On io_uring, sock is switched to O_NONBLOCK on first use (ringo's own
 * calls on it behave the same; a plain blocking write(2) from outside
 * would not). Reading a page not in the page cache blocks the worker
 * while the disk answers, as in nginx without aio threads. Like
 * ringo_write, a peer that is gone raises SIGPIPE unless it is ignored
 * (the default, ringo_config.ignore_sigpipe). A file sendfile refuses
 * (-EINVAL) is sent by pread + send instead. Both fds stay the caller's;
 * the kernel holds nothing of the caller's when the call returns. */
ssize_t ringo_sendfile(int sock, int file_fd, int64_t offset, size_t len, int64_t deadline);

/* Open path below directory dirfd and never outside it: openat2(2) with
 * RESOLVE_BENEATH (an absolute path, a ".." above dirfd, or a symlink
 * whose target leaves dirfd's tree fails; symlinks that stay inside are
 * followed) and RESOLVE_NO_MAGICLINKS (no /proc/<pid>/fd style links).
 * O_CLOEXEC is always added; O_CREAT or O_TMPFILE create with mode 0666
 * less the umask. dirfd may be an O_PATH fd. Returns the fd, or -errno:
 * -EXDEV (the path escapes dirfd), -ELOOP (a magic link, or too many
 * symlinks), -ENOENT, -EACCES, -ENOTDIR, -ENAMETOOLONG, -EAGAIN (the
 * tree was renamed while the path was resolved: retry), -ENOSYS (no
 * openat2: Linux < 5.6), -ETIMEDOUT, -ECANCELED, RINGO_ENOTINCORO. path
 * is read only before the call returns. On io_uring an OPENAT2 op; on
 * epoll it runs on the offload pool. */
int ringo_open_beneath(int dirfd, const char *path, int flags, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
