/* src/http/fcache.h - the static handler's open-file cache: one per
 * worker (no locks), keyed by the request's normalised path, holding the
 * open fd, its statx, the validators and, for small files, the bytes.
 * An entry is trusted for FC_VALID_NS, then resolved again, like nginx's
 * open_file_cache with open_file_cache_valid. */
#ifndef RINGO_HTTP_FCACHE_H
#define RINGO_HTTP_FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FC_SLOTS    256                /* per worker, direct-mapped */
#define FC_DATA_MAX (64 * 1024)        /* files up to this size are kept in memory */
#define FC_VALID_NS (1000LL * 1000000) /* re-resolve after 1 s */
#define FC_WORKERS  256                /* workers with a cache; more serve uncached */

struct fc_entry {
    char *key; /* normalised request path (NULL: empty slot) */
    size_t key_len;
    uint64_t hash;
    int64_t checked; /* ringo_now() of the resolution */
    unsigned busy;   /* requests using it now: not replaced meanwhile */
    int fd;
    struct statx stx;
    const char *type; /* MIME type (static string) */
    char etag[64];
    size_t etag_len;
    char lastmod[30];
    char *data; /* the whole file when size <= FC_DATA_MAX, else NULL */
};

struct fcache {
    struct fc_entry e[FC_SLOTS];
};

uint64_t fc_hash(const char *p, size_t n);
/* The valid entry for key on this cache, or NULL. */
struct fc_entry *fc_find(struct fcache *fc, const char *key, size_t n, uint64_t h, int64_t now);
/* The slot key would go to if it can be replaced now (not busy), emptied,
 * or NULL. */
struct fc_entry *fc_claim(struct fcache *fc, uint64_t h);
/* Empty an entry (closes its fd, frees its bytes). */
void fc_clear(struct fc_entry *e);
void fc_free(struct fcache *fc);

#endif
