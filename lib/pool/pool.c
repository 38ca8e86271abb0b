/* SPDX-License-Identifier: MIT */
/*
 * pool - buffers inside one memory range, with private bookkeeping
 * (include/ism/pool.h).
 *
 * Concepts: two sorted arrays in this process's own memory: the free runs
 * (offset, length; adjacent runs always merged) and the live buffers
 * (offset, length).  Allocation is first fit over the free runs; freeing
 * looks the buffer up by binary search (so only a live buffer's exact
 * start is accepted) and merges its run with its neighbours.  Nothing is
 * ever read from the range itself: a peer writing there cannot confuse
 * the allocator.
 */
#include "util/util.h"

#include <ism/pool.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct run {
	uint64_t off, len;
};

struct ism_pool {
	pthread_mutex_t lock;
	uint8_t *base;
	uint64_t size, used;
	uint32_t align, max_buffers;
	struct run *free; /* sorted by offset, never adjacent */
	uint32_t n_free, cap_free;
	struct run *live; /* sorted by offset */
	uint32_t n_live, cap_live;
};

static int grow(struct run **a, uint32_t *cap, uint32_t need)
{
	uint32_t ncap;
	struct run *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*a, (size_t)ncap * sizeof(**a));
	if (!n)
		return -ENOMEM;
	*a = n;
	*cap = ncap;
	return 0;
}

int ism_pool_create(void *base, uint64_t size, const struct ism_pool_opts *opts,
		    struct ism_pool **out)
{
	struct ism_pool_opts o;
	struct ism_pool *p;
	uintptr_t end;
	int e;

	*out = NULL;
	e = ism_opts_copy(&o, sizeof(o),
			  ISM_OPTS_SIZE_VER0(struct ism_pool_opts, max_buffers),
			  opts);
	if (e < 0)
		return e;
	if (!o.align)
		o.align = 64;
	if (!o.max_buffers)
		o.max_buffers = ISM_POOL_BUFFERS_DEFAULT;
	if (!base || size == 0 || size > (uint64_t)UINTPTR_MAX ||
	    __builtin_add_overflow((uintptr_t)base, (uintptr_t)size, &end) ||
	    o.align < 8 || o.align > 4096 || (o.align & (o.align - 1)) ||
	    o.max_buffers > ISM_POOL_BUFFERS_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->base = base;
	p->size = size;
	p->align = o.align;
	p->max_buffers = o.max_buffers;
	/* The first aligned address inside the range starts the one run. */
	{
		uint64_t skip = (o.align - ((uintptr_t)base & (o.align - 1))) &
				(o.align - 1);

		if (skip < size && grow(&p->free, &p->cap_free, 1) == 0) {
			p->free[0].off = skip;
			p->free[0].len =
				(size - skip) & ~(uint64_t)(o.align - 1);
			p->n_free = p->free[0].len ? 1 : 0;
		} else if (skip < size) {
			free(p);
			return -ENOMEM;
		}
	}
	*out = p;
	return 0;
}

void ism_pool_destroy(struct ism_pool *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->free);
	free(p->live);
	free(p);
}

/* The live buffer starting at or before @off: its index, or n_live. */
static uint32_t live_floor(const struct ism_pool *p, uint64_t off)
{
	uint32_t lo = 0, hi = p->n_live;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->live[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : p->n_live;
}

int ism_pool_alloc(struct ism_pool *p, uint64_t len, void **buf)
{
	uint64_t want;
	uint32_t i, j;
	int e = -ENOMEM;

	*buf = NULL;
	if (len == 0 || len > p->size || !ism_round_up(len, p->align, &want))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->n_live >= p->max_buffers) {
		e = -ENOSPC;
		goto out;
	}
	for (i = 0; i < p->n_free && p->free[i].len < want; i++)
		;
	if (i == p->n_free || grow(&p->live, &p->cap_live, p->n_live + 1) < 0)
		goto out;
	j = live_floor(p, p->free[i].off);
	j = j == p->n_live ? 0 : j + 1;
	memmove(&p->live[j + 1], &p->live[j],
		(size_t)(p->n_live - j) * sizeof(*p->live));
	p->live[j].off = p->free[i].off;
	p->live[j].len = want;
	p->n_live++;
	*buf = p->base + p->free[i].off;
	p->free[i].off += want;
	p->free[i].len -= want;
	if (p->free[i].len == 0) {
		memmove(&p->free[i], &p->free[i + 1],
			(size_t)(p->n_free - i - 1) * sizeof(*p->free));
		p->n_free--;
	}
	p->used += want;
	e = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return e;
}

/* The live buffer @buf starts: its index, or -1. */
static int64_t live_at(const struct ism_pool *p, const void *buf)
{
	uint64_t off;
	uint32_t i;

	if ((const uint8_t *)buf < p->base ||
	    (uint64_t)((const uint8_t *)buf - p->base) >= p->size)
		return -1;
	off = (uint64_t)((const uint8_t *)buf - p->base);
	i = live_floor(p, off);
	return i < p->n_live && p->live[i].off == off ? (int64_t)i : -1;
}

int ism_pool_free(struct ism_pool *p, void *buf)
{
	struct run r;
	uint32_t i, k;
	int64_t at;
	int e = 0;

	pthread_mutex_lock(&p->lock);
	at = live_at(p, buf);
	if (at < 0) {
		e = -EINVAL;
		goto out;
	}
	k = (uint32_t)at;
	r = p->live[k];
	/* The free run goes in first (it may need room); then the buffer
	 * is forgotten. */
	for (i = 0; i < p->n_free && p->free[i].off < r.off; i++)
		;
	if (i > 0 && p->free[i - 1].off + p->free[i - 1].len == r.off) {
		p->free[i - 1].len += r.len;
		if (i < p->n_free && r.off + r.len == p->free[i].off) {
			p->free[i - 1].len += p->free[i].len;
			memmove(&p->free[i], &p->free[i + 1],
				(size_t)(p->n_free - i - 1) * sizeof(*p->free));
			p->n_free--;
		}
	} else if (i < p->n_free && r.off + r.len == p->free[i].off) {
		p->free[i].off = r.off;
		p->free[i].len += r.len;
	} else {
		if (grow(&p->free, &p->cap_free, p->n_free + 1) < 0) {
			e = -ENOMEM;
			goto out;
		}
		memmove(&p->free[i + 1], &p->free[i],
			(size_t)(p->n_free - i) * sizeof(*p->free));
		p->free[i] = r;
		p->n_free++;
	}
	memmove(&p->live[k], &p->live[k + 1],
		(size_t)(p->n_live - k - 1) * sizeof(*p->live));
	p->n_live--;
	p->used -= r.len;
out:
	pthread_mutex_unlock(&p->lock);
	return e;
}

int ism_pool_offset(struct ism_pool *p, const void *buf, uint64_t *off)
{
	int e = -EINVAL;

	pthread_mutex_lock(&p->lock);
	if (live_at(p, buf) >= 0) {
		*off = (uint64_t)((const uint8_t *)buf - p->base);
		e = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return e;
}

int ism_pool_buffer(struct ism_pool *p, uint64_t off, uint64_t len, void **buf)
{
	uint64_t end;
	uint32_t i;
	int e = -EINVAL;

	*buf = NULL;
	if (__builtin_add_overflow(off, len, &end) || end > p->size)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	i = live_floor(p, off);
	if (i < p->n_live && end <= p->live[i].off + p->live[i].len) {
		*buf = p->base + p->live[i].off;
		e = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return e;
}

/* [@at, @at+@len) inside live buffer @buf: its address there, or NULL. */
static uint8_t *span(struct ism_pool *p, const void *buf, uint64_t at,
		     uint64_t len)
{
	int64_t k = live_at(p, buf);
	uint64_t end;

	if (k < 0 || __builtin_add_overflow(at, len, &end) ||
	    end > p->live[k].len)
		return NULL;
	return p->base + p->live[k].off + at;
}

int ism_pool_bounce_in(struct ism_pool *p, void *buf, uint64_t at,
		       const void *src, uint64_t len)
{
	uint8_t *dst;

	pthread_mutex_lock(&p->lock);
	dst = span(p, buf, at, len);
	pthread_mutex_unlock(&p->lock);
	/* Copied without the lock: the caller owns the buffer until it
	 * frees it (freeing it meanwhile is the caller's bug). */
	if (!dst)
		return -EINVAL;
	memcpy(dst, src, len);
	return 0;
}

int ism_pool_bounce_out(struct ism_pool *p, const void *buf, uint64_t at,
			void *dst, uint64_t len)
{
	uint8_t *src;

	pthread_mutex_lock(&p->lock);
	src = span(p, buf, at, len);
	pthread_mutex_unlock(&p->lock);
	if (!src)
		return -EINVAL;
	memcpy(dst, src, len);
	return 0;
}

int ism_pool_stats(struct ism_pool *p, struct ism_pool_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->lock);
	st->size = p->size;
	st->used = p->used;
	st->buffers = p->n_live;
	st->free_runs = p->n_free;
	for (uint32_t i = 0; i < p->n_free; i++)
		if (p->free[i].len > st->largest_free)
			st->largest_free = p->free[i].len;
	pthread_mutex_unlock(&p->lock);
	return 0;
}
