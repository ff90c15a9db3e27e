#include "base/heap.h"

#include <errno.h>
#include <stdlib.h>

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

static void place(struct heap *h, size_t i, struct heap_node *n)
{
    h->items[i] = n;
    n->index = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct heap_node *n = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->key <= n->key)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(struct heap *h, size_t i)
{
    struct heap_node *n = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->key < h->items[child]->key)
            child++;
        if (n->key <= h->items[child]->key)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, n);
}

int heap_push(struct heap *h, struct heap_node *n)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct heap_node **items = realloc(h->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    place(h, h->len++, n);
    sift_up(h, n->index);
    return 0;
}

void heap_remove(struct heap *h, struct heap_node *n)
{
    size_t i = n->index;
    if (i == HEAP_NONE)
        return;
    n->index = HEAP_NONE;
    struct heap_node *last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->key > last->key)
        sift_up(h, i);
    else
        sift_down(h, i);
}
