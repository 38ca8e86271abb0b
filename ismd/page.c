/* SPDX-License-Identifier: MIT */
/* page - see page.h. */
#include "page.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int page_init(struct page *pg, uint64_t cursor, uint32_t max)
{
	pg->cap = max + 1;
	pg->n = 0;
	pg->cursor = cursor;
	pg->ids = malloc(pg->cap * sizeof(*pg->ids));
	return pg->ids ? 0 : -ENOMEM;
}

static void swap(uint64_t *a, uint64_t *b)
{
	uint64_t t = *a;

	*a = *b;
	*b = t;
}

/* A max-heap of the cap smallest ids seen. */
void page_offer(struct page *pg, uint64_t id)
{
	uint32_t i;

	if (id <= pg->cursor)
		return;
	if (pg->n < pg->cap) {
		i = pg->n++;
		pg->ids[i] = id;
		while (i && pg->ids[(i - 1) / 2] < pg->ids[i]) {
			swap(&pg->ids[(i - 1) / 2], &pg->ids[i]);
			i = (i - 1) / 2;
		}
		return;
	}
	if (id >= pg->ids[0])
		return;
	pg->ids[0] = id;
	for (i = 0;;) {
		uint32_t l = 2 * i + 1, r = l + 1, big = i;

		if (l < pg->n && pg->ids[l] > pg->ids[big])
			big = l;
		if (r < pg->n && pg->ids[r] > pg->ids[big])
			big = r;
		if (big == i)
			break;
		swap(&pg->ids[i], &pg->ids[big]);
		i = big;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint32_t page_finish(struct page *pg, uint64_t *next)
{
	uint32_t k;

	qsort(pg->ids, pg->n, sizeof(*pg->ids), cmp_u64);
	k = pg->n < pg->cap ? pg->n : pg->cap - 1;
	*next = pg->n > k && k ? pg->ids[k - 1] : 0;
	return k;
}

void page_free(struct page *pg)
{
	free(pg->ids);
	pg->ids = NULL;
}

struct ism_list *page_resume(struct ism_list *head, const struct ism_map *by_id,
			     uint64_t cursor, size_t off, size_t id_off)
{
	struct ism_list *pos;
	void *at;

	if (cursor && (at = ism_map_get(by_id, cursor, 0))) {
		pos = (struct ism_list *)(void *)((char *)at + off);
		/* Only if that node is on this very list. */
		if (pos->next != pos)
			return pos->next;
	}
	for (pos = head->next; pos != head; pos = pos->next) {
		uint64_t id;

		memcpy(&id, (char *)pos - off + id_off, sizeof(id));
		if (id > cursor)
			break;
	}
	return pos;
}
