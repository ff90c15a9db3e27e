/* 4-ary min-heap of deadlines (the per-worker timer structure). Nodes are
 * embedded in their owners (a coroutine's record, at the top of its
 * stack); each node knows its index so removal of an arbitrary node (a
 * wake before the deadline) is O(log n).
 *
 * The array holds each key next to its node pointer: with 100k parked
 * coroutines every node sits on a different, cold stack, and a sift that
 * compared through the pointers missed the cache at every level. Now a
 * sift reads only the array and writes back the index of the nodes it
 * moves; four children per level halve the levels (and those writes). */
#ifndef RINGO_BASE_HEAP_H
#define RINGO_BASE_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap_node {
    int64_t key;  /* deadline, ns on ringo_now() */
    size_t index; /* position in the heap array; HEAP_NONE when not queued */
};

#define HEAP_NONE ((size_t)-1)

struct heap_slot {
    int64_t key;
    struct heap_node *node;
};

struct heap {
    struct heap_slot *items;
    size_t len, cap;
};

void heap_init(struct heap *h);
void heap_fini(struct heap *h);
/* Returns 0 or -ENOMEM (growth is the only allocation). */
int heap_push(struct heap *h, struct heap_node *n);
void heap_remove_queued(struct heap *h, struct heap_node *n);

/* Remove n if it is queued (the common wake has no deadline: one test). */
static inline void heap_remove(struct heap *h, struct heap_node *n)
{
    if (n->index != HEAP_NONE)
        heap_remove_queued(h, n);
}

static inline struct heap_node *heap_min(const struct heap *h)
{
    return h->len ? h->items[0].node : NULL;
}

static inline void heap_node_init(struct heap_node *n)
{
    n->index = HEAP_NONE;
}

#endif
