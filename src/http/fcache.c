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

struct fc_entry *fc_find(struct fcache *fc, const char *key, size_t n, uint64_t h, int64_t now,
                         int64_t valid_ns)
{
    struct fc_entry *e = &fc->e[h % FC_SLOTS];
    if (!e->key || e->hash != h || e->key_len != n || memcmp(e->key, key, n))
        return NULL;
    return now - e->checked < valid_ns ? e : NULL;
}

void fc_take(struct fc_entry *e, struct fc_entry *old)
{
    if (!e->key) {
        memset(old, 0, sizeof(*old));
        old->fd = -1;
        return;
    }
    *old = *e;
    old->busy = 0;
    memset(e, 0, sizeof(*e));
    e->fd = -1;
}

void fc_release(struct fc_entry *old)
{
    free(old->key);
    free(old->data);
    int fd = old->fd;
    old->key = NULL;
    old->data = NULL;
    old->fd = -1;
    if (fd < 0)
        return;
    /* no ringo operation is in flight on it (it was not busy, or it is the
     * request's own); inside the runtime ringo_close also resets the
     * backend's per-fd state, and may park: nothing here is read after */
    if (ringo_worker_id() >= 0)
        ringo_close(fd);
    else
        close(fd);
}

struct fc_entry *fc_publish(struct fcache *fc, uint64_t h, const char *key, size_t key_len,
                            struct fc_entry *ent, struct fc_entry *old, int64_t now)
{
    struct fc_entry *e = &fc->e[h % FC_SLOTS];
    old->key = NULL;
    old->data = NULL;
    old->fd = -1;
    if (e->busy)
        return NULL;
    char *k = malloc(key_len ? key_len : 1);
    if (!k)
        return NULL;
    memcpy(k, key, key_len);
    /* from here to the return nothing parks: the slot checked above is
     * the slot written */
    fc_take(e, old);
    *e = *ent;
    e->key = k;
    e->key_len = key_len;
    e->hash = h;
    e->checked = now;
    e->busy = 0;
    ent->fd = -1;
    ent->data = NULL;
    return e;
}

void fc_free(struct fcache *fc)
{
    if (!fc)
        return;
    for (size_t i = 0; i < FC_SLOTS; i++) {
        struct fc_entry old;
        fc_take(&fc->e[i], &old);
        fc_release(&old);
    }
    free(fc);
}
