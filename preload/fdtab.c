/* SPDX-License-Identifier: MIT */
/*
 * fdtab - which application fds the shim manages, and their objects.
 *
 * Two levels of atomic pointers indexed by fd number: a page of PAGE_FDS
 * slots is allocated the first time one of its fds is managed and never
 * freed, so the test "is this fd the shim's?" is two loads and no lock:
 * the common case (an fd the shim has nothing to do with) costs nothing
 * else.  Handing out a reference takes a striped lock, so that a close()
 * on one thread cannot free an object another thread is about to use.
 */
#include "preload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SHIFT 12
#define PAGE_FDS   (1 << PAGE_SHIFT)
#define NPAGES	   256 /* fds up to 2^20; beyond that, the kernel's */
#define FD_LIMIT   (NPAGES * PAGE_FDS)
#define NSTRIPES   64

static _Atomic(struct obj *) *_Atomic pages[NPAGES];
static pthread_mutex_t stripes[NSTRIPES] = { [0 ... NSTRIPES -
					      1] = PTHREAD_MUTEX_INITIALIZER };
static pthread_mutex_t page_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic(struct obj *) *slot_of(int fd, bool create)
{
	_Atomic(struct obj *) *pg;

	if (fd < 0 || fd >= FD_LIMIT)
		return NULL;
	pg = atomic_load_explicit(&pages[fd >> PAGE_SHIFT],
				  memory_order_acquire);
	if (!pg && create) {
		pthread_mutex_lock(&page_lock);
		pg = atomic_load(&pages[fd >> PAGE_SHIFT]);
		if (!pg) {
			pg = calloc(PAGE_FDS, sizeof(*pg));
			if (pg)
				atomic_store_explicit(&pages[fd >> PAGE_SHIFT],
						      pg, memory_order_release);
		}
		pthread_mutex_unlock(&page_lock);
	}
	return pg ? &pg[fd & (PAGE_FDS - 1)] : NULL;
}

bool fd_maybe(int fd)
{
	_Atomic(struct obj *) *s = slot_of(fd, false);

	return s && atomic_load_explicit(s, memory_order_relaxed);
}

void obj_hold(struct obj *o)
{
	atomic_fetch_add(&o->ref, 1);
}

bool obj_tryhold(struct obj *o)
{
	int r = atomic_load(&o->ref);

	while (r > 0)
		if (atomic_compare_exchange_weak(&o->ref, &r, r + 1))
			return true;
	return false;
}

void obj_put(struct obj *o)
{
	if (o && atomic_fetch_sub(&o->ref, 1) == 1)
		o->destroy(o);
}

struct obj *fd_get(int fd)
{
	_Atomic(struct obj *) *s = slot_of(fd, false);
	struct obj *o;

	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&stripes[fd % NSTRIPES]);
	o = atomic_load(s);
	if (o)
		obj_hold(o);
	pthread_mutex_unlock(&stripes[fd % NSTRIPES]);
	return o;
}

struct obj *fd_set_obj(int fd, struct obj *o)
{
	_Atomic(struct obj *) *s = slot_of(fd, true);
	struct obj *old;

	if (!s)
		return o; /* beyond the table: the caller treats it as
			   * unmanaged and drops its object */
	obj_hold(o);
	atomic_fetch_add(&o->slots, 1);
	pthread_mutex_lock(&stripes[fd % NSTRIPES]);
	old = atomic_exchange(s, o);
	pthread_mutex_unlock(&stripes[fd % NSTRIPES]);
	if (old)
		atomic_fetch_sub(&old->slots, 1);
	return old;
}

struct obj *fd_take(int fd)
{
	_Atomic(struct obj *) *s = slot_of(fd, false);
	struct obj *old;

	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&stripes[fd % NSTRIPES]);
	old = atomic_exchange(s, NULL);
	pthread_mutex_unlock(&stripes[fd % NSTRIPES]);
	if (old)
		atomic_fetch_sub(&old->slots, 1);
	return old;
}

void fd_walk(void (*fn)(int fd, struct obj *o, void *arg), void *arg)
{
	for (int p = 0; p < NPAGES; p++) {
		_Atomic(struct obj *) *pg = atomic_load(&pages[p]);

		if (!pg)
			continue;
		for (int i = 0; i < PAGE_FDS; i++) {
			struct obj *o = atomic_load(&pg[i]);

			if (o)
				fn(p * PAGE_FDS + i, o, arg);
		}
	}
}

void fdtab_lock_all(void)
{
	pthread_mutex_lock(&page_lock);
	for (int i = 0; i < NSTRIPES; i++)
		pthread_mutex_lock(&stripes[i]);
}

void fdtab_unlock_all(void)
{
	for (int i = NSTRIPES - 1; i >= 0; i--)
		pthread_mutex_unlock(&stripes[i]);
	pthread_mutex_unlock(&page_lock);
}
