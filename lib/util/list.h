/* SPDX-License-Identifier: MIT */
/*
 * list - an intrusive circular doubly linked list (the kernel's shape).
 * A struct ism_list is both the head and the link embedded in members.
 */
#ifndef ISM_LIST_H
#define ISM_LIST_H

#include <stddef.h>

struct ism_list {
	struct ism_list *prev, *next;
};

#define ism_container_of(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void ism_list_init(struct ism_list *h)
{
	h->prev = h->next = h;
}

static inline int ism_list_empty(const struct ism_list *h)
{
	return h->next == h;
}

static inline void ism_list_add_tail(struct ism_list *h, struct ism_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void ism_list_del(struct ism_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define ism_list_for_each_safe(pos, tmp, head)                                 \
	for (pos = (head)->next, tmp = pos->next; pos != (head);               \
	     pos = tmp, tmp = pos->next)

#endif
