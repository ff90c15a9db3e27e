/* src/http/fcache.h - the static handler's open-file cache: one per
 * worker (no locks), keyed by the request's normalised path, holding the
 * open fd, its statx, the validators and, for small files, the bytes.
 * An entry is trusted for a validity period (FC_VALID_NS by default),
 * then resolved again, like nginx's open_file_cache with
 * open_file_cache_valid.
 *
 * Parking rule: the calls that change a slot (fc_publish, fc_take) never
 * park, so a slot cannot change between the check that it may be
 * replaced and the write that fills it. What leaves a slot is detached
 * first (the slot is empty or holds its new entry) and only then closed
 * and freed (fc_release, which may park on the ring). A coroutine that
 * parks while holding a slot pointer must have pinned it (busy) or must
 * look it up again afterwards. */
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
    int fd;          /* -1 in a detached entry with nothing to close */
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
/* The entry for key on this cache if it was resolved less than valid_ns
 * before now, else NULL. Never parks. */
struct fc_entry *fc_find(struct fcache *fc, const char *key, size_t n, uint64_t h, int64_t now,
                         int64_t valid_ns);
/* Put *ent (fd, stx, validators, data; its key and busy are ignored) into
 * the slot for h under a copy of key, unless that slot is busy. On
 * success the slot takes over ent's fd and data (ent->fd = -1, ent->data
 * = NULL), the slot's previous contents move to *old (close them with
 * fc_release), and the slot is returned. NULL (ent and *old untouched
 * but for old->key = NULL, old->fd = -1) when the slot is busy or the key
 * cannot be allocated. Never parks. */
struct fc_entry *fc_publish(struct fcache *fc, uint64_t h, const char *key, size_t key_len,
                            struct fc_entry *ent, struct fc_entry *old, int64_t now);
/* Move e's contents to *old and leave e empty. Never parks. */
void fc_take(struct fc_entry *e, struct fc_entry *old);
/* Close and free a detached entry (from fc_take or fc_publish, or a
 * request's own uncached one). May park (ringo_close). */
void fc_release(struct fc_entry *old);
/* Empty every slot and free the cache (no request may be using it). */
void fc_free(struct fcache *fc);

#endif
