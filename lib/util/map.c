/* SPDX-License-Identifier: MIT */
#include "map.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>

static uint64_t mix(uint64_t x)
{
	/* A 64-bit finaliser with full avalanche (splitmix64's). */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static size_t slot_of(const struct ism_map *m, uint64_t a, uint64_t b)
{
	return (size_t)(mix(a ^ m->seed) ^ mix(b + m->seed)) & (m->cap - 1);
}

void ism_map_init(struct ism_map *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
	if (ism_random(&m->seed, sizeof(m->seed)) < 0)
		m->seed = ism_now_ns() * 0x9e3779b97f4a7c15ull;
}

void ism_map_free(struct ism_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

void *ism_map_get(const struct ism_map *m, uint64_t a, uint64_t b)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = slot_of(m, a, b);; i = (i + 1) & (m->cap - 1)) {
		const struct ism_map_slot *s = &m->slots[i];

		if (!s->val)
			return NULL;
		if (s->a == a && s->b == b)
			return s->val;
	}
}

static void insert_slot(struct ism_map *m, uint64_t a, uint64_t b, void *val)
{
	size_t i = slot_of(m, a, b);

	while (m->slots[i].val)
		i = (i + 1) & (m->cap - 1);
	m->slots[i].a = a;
	m->slots[i].b = b;
	m->slots[i].val = val;
}

static int grow(struct ism_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct ism_map_slot *old = m->slots;
	size_t ocap = m->cap;

	if (ncap < m->cap)
		return -ENOMEM;
	m->slots = calloc(ncap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].val)
			insert_slot(m, old[i].a, old[i].b, old[i].val);
	free(old);
	return 0;
}

int ism_map_put(struct ism_map *m, uint64_t a, uint64_t b, void *val)
{
	if (!val)
		return -EINVAL;
	if (ism_map_get(m, a, b))
		return -EEXIST;
	/* Keep the load factor at or below 1/2 so probes stay short. */
	if ((m->count + 1) * 2 > m->cap) {
		int r = grow(m);

		if (r < 0)
			return r;
	}
	insert_slot(m, a, b, val);
	m->count++;
	return 0;
}

void *ism_map_del(struct ism_map *m, uint64_t a, uint64_t b)
{
	size_t mask = m->cap - 1, i;
	void *val;

	if (m->cap == 0)
		return NULL;
	for (i = slot_of(m, a, b);; i = (i + 1) & mask) {
		if (!m->slots[i].val)
			return NULL;
		if (m->slots[i].a == a && m->slots[i].b == b)
			break;
	}
	val = m->slots[i].val;
	m->slots[i].val = NULL;
	m->count--;
	/* Backward shift: pull later members of the probe run into the hole
	 * when their home slot does not lie cyclically in (hole, j]. */
	for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->slots[j].a, m->slots[j].b);
		int move;

		if (i <= j)
			move = home <= i || home > j;
		else
			move = home <= i && home > j;
		if (move) {
			m->slots[i] = m->slots[j];
			m->slots[j].val = NULL;
			i = j;
		}
	}
	return val;
}

void *ism_map_next(const struct ism_map *m, size_t *pos, uint64_t *a,
		   uint64_t *b)
{
	for (; *pos < m->cap; (*pos)++) {
		const struct ism_map_slot *s = &m->slots[*pos];

		if (s->val) {
			(*pos)++;
			if (a)
				*a = s->a;
			if (b)
				*b = s->b;
			return s->val;
		}
	}
	return NULL;
}
