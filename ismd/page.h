/* SPDX-License-Identifier: MIT */
/*
 * page - one page of a LIST reply: the smallest ids above a cursor.
 *
 * A list request costs what the requester may see, not what ismd holds:
 * a peer's own records are offered one by one and a bounded heap keeps
 * the page's max+1 smallest ids (O(k log max)); an administrator's pages
 * walk lists kept in id order from the cursor on (page_resume).
 */
#ifndef ISMD_PAGE_H
#define ISMD_PAGE_H

#include "util/list.h"
#include "util/map.h"

#include <stdbool.h>
#include <stdint.h>

struct page {
	uint64_t *ids;
	uint32_t n, cap; /* cap = max + 1: one more tells "more" */
	uint64_t cursor;
};

int page_init(struct page *pg, uint64_t cursor, uint32_t max);
/* Consider @id (ignored unless > cursor). */
void page_offer(struct page *pg, uint64_t id);
/* Sort; the number of entries for the reply (<= max), *@next the cursor
 * for the next page or 0. */
uint32_t page_finish(struct page *pg, uint64_t *next);
void page_free(struct page *pg);

/*
 * Where to start walking @head (a list in id order, nodes at @off in
 * their structs, ids at @id_off) for ids > @cursor: the node after the
 * cursor's own if it still exists in @by_id (keys (id, 0)), else found by
 * walking.  Returns the first node to visit (may be @head: none).
 */
struct ism_list *page_resume(struct ism_list *head, const struct ism_map *by_id,
			     uint64_t cursor, size_t off, size_t id_off);

#endif
