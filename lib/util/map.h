/* SPDX-License-Identifier: MIT */
/*
 * map - an open-addressing hash map from a pair of u64 keys to a pointer.
 *
 * Linear probing with backward-shift deletion (no tombstones), so lookups
 * stay short however many inserts and removes happen.  The hash is seeded
 * per map from getrandom, so keys chosen by a peer cannot force collisions.
 * Not thread-safe.
 */
#ifndef ISM_MAP_H
#define ISM_MAP_H

#include <stddef.h>
#include <stdint.h>

struct ism_map_slot {
	uint64_t a, b;
	void *val; /* NULL marks an empty slot */
};

struct ism_map {
	struct ism_map_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t count;
	uint64_t seed;
};

void ism_map_init(struct ism_map *m);
void ism_map_free(struct ism_map *m);

/* The value for (a, b), or NULL. */
void *ism_map_get(const struct ism_map *m, uint64_t a, uint64_t b);

/*
 * Insert (a, b) -> @val (non-NULL).  Returns 0, -EEXIST if the key is
 * present (the map is unchanged), or -ENOMEM.
 */
int ism_map_put(struct ism_map *m, uint64_t a, uint64_t b, void *val);

/* Remove (a, b); returns its value or NULL if absent. */
void *ism_map_del(struct ism_map *m, uint64_t a, uint64_t b);

/*
 * Iterate: start with *@pos = 0; returns the next value and advances
 * *@pos, or NULL at the end.  The map must not change during iteration
 * except by ism_map_del() of the key just returned... which may move a
 * later entry into an earlier slot, so callers that delete while iterating
 * must restart.  Order is unspecified.
 */
void *ism_map_next(const struct ism_map *m, size_t *pos, uint64_t *a,
		   uint64_t *b);

#endif
