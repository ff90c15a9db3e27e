/* Intrusive doubly linked list with a sentinel head (the Linux pattern):
 * no allocation, O(1) insert/remove, an object may sit in several lists
 * through several nodes. */
#ifndef RINGO_BASE_LIST_H
#define RINGO_BASE_LIST_H

#include <stddef.h>

struct list_node {
    struct list_node *next, *prev;
};

#define LIST_ENTRY(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list_node *head)
{
    head->next = head->prev = head;
}

static inline int list_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline struct list_node *list_pop_front(struct list_node *head)
{
    struct list_node *n = head->next;
    if (n == head)
        return NULL;
    list_remove(n);
    return n;
}

/* Move every node of `from` to the back of `to`; `from` becomes empty. */
static inline void list_splice_back(struct list_node *to, struct list_node *from)
{
    if (list_empty(from))
        return;
    struct list_node *first = from->next, *last = from->prev;
    first->prev = to->prev;
    to->prev->next = first;
    last->next = to;
    to->prev = last;
    list_init(from);
}

#endif
