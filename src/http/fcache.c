/* src/http/fcache.c - see fcache.h. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringo.h>

#include "http/fcache.h"

uint64_t fc_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

struct fc_entry *fc_find(struct fcache *fc, const char *key, size_t n, uint64_t h, int64_t now)
{
    struct fc_entry *e = &fc->e[h % FC_SLOTS];
    if (!e->key || e->hash != h || e->key_len != n || memcmp(e->key, key, n))
        return NULL;
    return now - e->checked < FC_VALID_NS ? e : NULL;
}

void fc_clear(struct fc_entry *e)
{
    if (!e->key)
        return;
    /* Empty the slot before closing: ringo_close may park, and a request
     * that finds the slot meanwhile must not close the fd a second time
     * (by then its number may be someone else's open file). */
    int fd = e->fd;
    free(e->key);
    free(e->data);
    memset(e, 0, sizeof(*e));
    /* no ringo operation is in flight on it (busy was 0); inside the
     * runtime ringo_close also resets the backend's per-fd state */
    if (ringo_worker_id() >= 0)
        ringo_close(fd);
    else
        close(fd);
}

struct fc_entry *fc_claim(struct fcache *fc, uint64_t h)
{
    struct fc_entry *e = &fc->e[h % FC_SLOTS];
    if (e->busy)
        return NULL;
    fc_clear(e);
    return e;
}

void fc_free(struct fcache *fc)
{
    if (!fc)
        return;
    for (size_t i = 0; i < FC_SLOTS; i++)
        fc_clear(&fc->e[i]);
    free(fc);
}
