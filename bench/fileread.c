/* Sequential file read throughput: ringo_pread against a plain pread loop.
 *
 *   fileread [--chunk BYTES] [--depth N] [--backend uring|epoll] FILE
 *       ringo: N coroutines on one worker take the next CHUNK of the file
 *       in turn (N calls in flight; a call above 1 MiB is itself split by
 *       the backend into chunks in flight together)
 *   fileread --plain [--chunk BYTES] FILE
 *       one thread, pread(CHUNK) after pread(CHUNK): the baseline
 *   fileread --resident FILE
 *       how much of FILE is in the page cache (mincore), to check that a
 *       cache drop worked
 *
 * Prints one line: "mode=... chunk=... depth=... bytes=... secs=...
 * mbps=..." (MB = 10^6 bytes), or for --resident "resident=PCT". Exit 1 on
 * a read error or a byte count that is not the file size. Run pinned:
 * bench/fileread.py does (taskset -c 0). CHUNK accepts K/M/G suffixes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringo.h>

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024;
        break;
    case 'm':
    case 'M':
        v *= 1024 * 1024;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024 * 1024;
        break;
    default:
        break;
    }
    return (size_t)v;
}

static int resident(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        fprintf(stderr, "%s: empty or no stat\n", path);
        return 1;
    }
    size_t len = (size_t)st.st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    long pg = sysconf(_SC_PAGESIZE);
    size_t n = (len + (size_t)pg - 1) / (size_t)pg;
    unsigned char *vec = malloc(n);
    if (!vec || mincore(p, len, vec) < 0) {
        perror("mincore");
        return 1;
    }
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    printf("resident=%.2f\n", 100.0 * (double)in / (double)n);
    return 0;
}

/* A buffer of len bytes, touched: on some VMs a first write to fresh
 * memory runs at ~100 MB/s, which would be timed as file reading. */
static char *buffer(size_t len)
{
    char *b = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
    if (b)
        memset(b, 0, len);
    return b;
}

struct run {
    const char *path;
    size_t chunk;
    int depth;
    int fd;
    off_t size;
    off_t next; /* next offset to hand out (coroutines of one worker) */
    size_t bytes;
    int err;
    int64_t t0, t1;
    const char *backend; /* the one ringo chose */
    char *bufs[256];     /* one per reader */
    int nreaders;
};

static void reader(void *arg)
{
    struct run *r = arg;
    char *buf = r->bufs[r->nreaders++];
    while (!r->err && r->next < r->size) {
        off_t off = r->next;
        r->next += (off_t)r->chunk;
        ssize_t n = ringo_pread(r->fd, buf, r->chunk, off, RINGO_FOREVER);
        if (n < 0) {
            r->err = (int)n;
            break;
        }
        r->bytes += (size_t)n;
    }
}

static void ringo_main_fn(void *arg)
{
    struct run *r = arg;
    r->backend = ringo_backend_name();
    r->fd = ringo_open(r->path, O_RDONLY, 0, RINGO_FOREVER);
    if (r->fd < 0) {
        r->err = r->fd;
        return;
    }
    struct statx stx;
    int e = ringo_statx(r->fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx, RINGO_FOREVER);
    if (e < 0) {
        r->err = e;
        return;
    }
    r->size = (off_t)stx.stx_size;
    ringo_coro *h[256];
    for (int i = 0; i < r->depth; i++)
        if (!(r->bufs[i] = buffer(r->chunk))) {
            r->err = -ENOMEM;
            return;
        }
    r->t0 = ringo_now();
    for (int i = 0; i < r->depth; i++)
        if (ringo_go(reader, r, &h[i]) < 0)
            r->err = -ENOMEM;
    for (int i = 0; i < r->depth; i++)
        ringo_join(h[i], RINGO_FOREVER);
    r->t1 = ringo_now();
    for (int i = 0; i < r->depth; i++)
        free(r->bufs[i]);
    ringo_close(r->fd);
}

static int plain(struct run *r)
{
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(r->path);
        return 1;
    }
    struct stat st;
    fstat(fd, &st);
    r->size = st.st_size;
    char *buf = buffer(r->chunk);
    if (!buf)
        return 1;
    r->t0 = ringo_now();
    for (off_t off = 0;;) {
        ssize_t n = pread(fd, buf, r->chunk, off);
        if (n < 0) {
            r->err = -errno;
            break;
        }
        if (n == 0)
            break;
        off += n;
        r->bytes += (size_t)n;
    }
    r->t1 = ringo_now();
    free(buf);
    close(fd);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: fileread [--plain | --resident] [--chunk BYTES] [--depth N] "
                    "[--backend uring|epoll] FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.chunk = 1 << 20;
    r.depth = 1;
    int use_plain = 0, want_resident = 0;
    const char *backend = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--plain") == 0)
            use_plain = 1;
        else if (strcmp(argv[i], "--resident") == 0)
            want_resident = 1;
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
            r.chunk = parse_size(argv[++i]);
        else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc)
            r.depth = atoi(argv[++i]);
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (argv[i][0] == '-' || r.path)
            usage();
        else
            r.path = argv[i];
    }
    if (!r.path || r.chunk == 0 || r.depth < 1 || r.depth > 256)
        usage();
    if (want_resident)
        return resident(r.path);

    const char *mode = "plain";
    if (use_plain) {
        if (plain(&r))
            return 1;
    } else {
        ringo_config cfg;
        ringo_config_init(&cfg);
        cfg.workers = 1;
        if (backend)
            cfg.backend = backend;
        int rc = ringo_main(&cfg, ringo_main_fn, &r);
        if (rc < 0) {
            fprintf(stderr, "ringo_main: %s\n", ringo_strerror(rc));
            return 1;
        }
        mode = r.backend ? r.backend : "?";
    }
    if (r.err) {
        fprintf(stderr, "read error: %s\n", ringo_strerror(r.err));
        return 1;
    }
    if ((off_t)r.bytes != r.size) {
        fprintf(stderr, "read %zu bytes of %lld\n", r.bytes, (long long)r.size);
        return 1;
    }
    double secs = (double)(r.t1 - r.t0) / 1e9;
    printf("mode=%s%s chunk=%zu depth=%d bytes=%zu secs=%.4f mbps=%.1f\n",
           use_plain ? "" : "ringo-", mode, r.chunk, use_plain ? 1 : r.depth, r.bytes, secs,
           (double)r.bytes / 1e6 / secs);
    return 0;
}
