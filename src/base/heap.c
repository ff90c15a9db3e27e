#include "base/heap.h"

#include <errno.h>
#include <stdlib.h>

#define ARITY 4

void heap_init(struct heap *h)
{
    h->items = NULL;
    h->len = h->cap = 0;
}

void heap_fini(struct heap *h)
{
    free(h->items);
    heap_init(h);
}

static void place(struct heap *h, size_t i, struct heap_slot s)
{
    h->items[i] = s;
    s.node->index = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct heap_slot s = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (h->items[parent].key <= s.key)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, s);
}

static void sift_down(struct heap *h, size_t i)
{
    struct heap_slot s = h->items[i];
    for (;;) {
        size_t first = ARITY * i + 1;
        if (first >= h->len)
            break;
        size_t end = first + ARITY < h->len ? first + ARITY : h->len;
        size_t min = first;
        for (size_t c = first + 1; c < end; c++)
            if (h->items[c].key < h->items[min].key)
                min = c;
        if (s.key <= h->items[min].key)
            break;
        place(h, i, h->items[min]);
        i = min;
    }
    place(h, i, s);
}

int heap_push(struct heap *h, struct heap_node *n)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct heap_slot *items = realloc(h->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->len++;
    place(h, i, (struct heap_slot){n->key, n});
    sift_up(h, i);
    return 0;
}

void heap_remove_queued(struct heap *h, struct heap_node *n)
{
    size_t i = n->index;
    n->index = HEAP_NONE;
    struct heap_slot last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / ARITY].key > last.key)
        sift_up(h, i);
    else
        sift_down(h, i);
}
