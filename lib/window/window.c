/* SPDX-License-Identifier: MIT */
/*
 * window - an address range reserved PROT_NONE and filled with file
 * mappings at offsets (include/ism/window.h).
 *
 * Concepts: the reservation is one anonymous private PROT_NONE
 * MAP_NORESERVE mapping.  A mapping is mmap(MAP_FIXED) of the file over
 * part of it, which the kernel does as one replacement: no other thread's
 * mmap(NULL, ...) can be given that range in between.  Unmapping is the
 * same replacement the other way, with a *hole*: the window's own empty
 * sealed memfd, mapped PROT_NONE over exactly the range.  A hole never
 * merges with its neighbours (its file offset is always 0), so mapping the
 * same range again replaces one record of the address space instead of
 * splitting the reservation, and unmapping does not merge it back: the
 * pair costs what a bare mmap + munmap does (docs/windows.md).  Touching a
 * hole faults (PROT_NONE); mprotect() can never make it writable (the
 * file is write-sealed) nor readable to any effect (it is empty: SIGBUS).
 * Holes are few: at most HOLES_MAX per window and a process-wide budget;
 * beyond them, the range goes back to the anonymous reservation, which
 * the kernel merges with its neighbours.  munmap() is never called on
 * part of a window.
 *
 * The list of mappings is an array sorted by offset (overlap is a binary
 * search), private to this process: nothing about it lives in memory a
 * peer can write.  Caps: per window (max_maps) and per process (a quarter
 * of vm.max_map_count, since each mapping costs the kernel at most two
 * more records of the address space).
 */
#include "window.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS   1034
#define F_SEAL_SHRINK 0x0002
#endif

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL  0x0001
#define F_SEAL_GROW  0x0004
#define F_SEAL_WRITE 0x0008
#endif

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
#define HOLES_MAX     64u /* per window; then they go back to anonymous */

struct hole {
	uint64_t offset, len;
};

struct wmapping {
	uint64_t id, offset, len, fd_offset;
	uint32_t access;
	bool remote;
	struct window_remote r;
};

struct ism_window {
	pthread_mutex_t lock;
	uint8_t *base;
	uint64_t size;
	uint32_t max_maps;
	uint32_t n, cap;
	struct wmapping *m; /* sorted by offset, never overlapping */
	uint64_t next_id;
	bool broken;	 /* a failed mmap could not restore the reservation */
	bool hugetlb_ok; /* ISM_WINDOW_HUGETLB_OK */
	int hole_fd;	 /* empty, sealed memfd; -1: anonymous only */
	uint32_t nholes; /* ranges unmapped into holes, unordered */
	struct hole holes[HOLES_MAX];
	window_unmap_hook hook;
	void *hook_ctx;
	struct window_reg reg;
};

static uint64_t page_size, huge_size;
static uint32_t process_cap, holes_cap;
static atomic_uint process_maps, process_holes;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint64_t read_huge_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
				break;
		fclose(f);
	}
	if (kb == 0 || kb > (1ull << 30) || (kb & (kb - 1)))
		return 2ull << 20;
	return kb << 10;
}

static void init_once(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	unsigned long long count = 0;
	long ps = sysconf(_SC_PAGESIZE);

	page_size = ps > 0 ? (uint64_t)ps : 4096;
	huge_size = read_huge_size();
	if (f) {
		if (fscanf(f, "%llu", &count) != 1)
			count = 0;
		fclose(f);
	}
	if (count == 0)
		count = 65530; /* the kernel's default */
	count /= 4;
	process_cap = (uint32_t)ISM_MAX(
		ISM_MIN(count, (unsigned long long)UINT32_MAX / 2), 16ull);
	/* A hole keeps up to two records the merge would have removed. */
	holes_cap = process_cap / 8;
}

uint64_t window_page_size(void)
{
	pthread_once(&once, init_once);
	return page_size;
}

uint64_t window_huge_page_size(void)
{
	pthread_once(&once, init_once);
	return huge_size;
}

uint32_t ism_window_process_cap(void)
{
	pthread_once(&once, init_once);
	return process_cap;
}

/* Take one of the process's slots in @count; false at @cap. */
static bool slot_take(atomic_uint *count, uint32_t cap)
{
	unsigned cur = atomic_load(count);

	do {
		if (cur >= cap)
			return false;
	} while (!atomic_compare_exchange_weak(count, &cur, cur + 1));
	return true;
}

static bool process_take(void)
{
	return slot_take(&process_maps, process_cap);
}

static void process_give(uint32_t n)
{
	atomic_fetch_sub(&process_maps, n);
}

/* The window's hole file: empty, and sealed so that it stays so and can
 * never be mapped writable.  -1 if memfds are not to be had (the window
 * then works with the anonymous reservation alone). */
static int hole_create(void)
{
	int fd = memfd_create("ism-window-hole",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE | F_SEAL_SEAL) <
	    0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

int ism_window_create(uint64_t size, const struct ism_window_opts *opts,
		      struct ism_window **out)
{
	struct ism_window_opts o;
	struct ism_window *w;
	uint64_t align, span;
	uint8_t *p, *base;
	int e;

	*out = NULL;
	pthread_once(&once, init_once);
	e = ism_opts_copy(&o, sizeof(o),
			  ISM_OPTS_SIZE_VER0(struct ism_window_opts, max_maps),
			  opts);
	if (e < 0)
		return e;
	if (o.flags &
	    ~(uint32_t)(ISM_WINDOW_HUGE_ALIGN | ISM_WINDOW_HUGETLB_OK))
		return -EINVAL;
	align = o.align				    ? o.align
		: (o.flags & ISM_WINDOW_HUGE_ALIGN) ? huge_size
						    : page_size;
	if ((o.flags & ISM_WINDOW_HUGE_ALIGN) && align < huge_size)
		return -EINVAL;
	if (align < page_size || (align & (align - 1)) || align > (1ull << 30))
		return -EINVAL;
	if (size == 0 || size > ISM_WINDOW_SIZE_MAX ||
	    !aligned(size, page_size) || o.max_maps > ISM_WINDOW_MAPS_MAX)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	/* Reserve enough to find an aligned base, then give back the
	 * slack on both sides. */
	span = size + (align > page_size ? align : 0);
	p = mmap(NULL, span, PROT_NONE, RESERVE_FLAGS, -1, 0);
	if (p == MAP_FAILED) {
		free(w);
		return -ENOMEM;
	}
	base = (uint8_t *)(((uintptr_t)p + (align - 1)) &
			   ~(uintptr_t)(align - 1));
	if (base > p)
		munmap(p, (size_t)(base - p));
	if (p + span > base + size)
		munmap(base + size, (size_t)(p + span - (base + size)));
	pthread_mutex_init(&w->lock, NULL);
	w->hole_fd = hole_create();
	w->base = base;
	w->size = size;
	w->max_maps = o.max_maps ? o.max_maps : ISM_WINDOW_MAPS_DEFAULT;
	w->hugetlb_ok = o.flags & ISM_WINDOW_HUGETLB_OK;
	w->next_id = 1;
	*out = w;
	return 0;
}

void *ism_window_base(struct ism_window *w)
{
	return w->base;
}

uint64_t ism_window_size(struct ism_window *w)
{
	return w->size;
}

void window_reg_read(struct ism_window *w, struct window_reg *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->reg;
	pthread_mutex_unlock(&w->lock);
}

void window_reg_write(struct ism_window *w, const struct window_reg *in)
{
	pthread_mutex_lock(&w->lock);
	w->reg = *in;
	pthread_mutex_unlock(&w->lock);
}

uint32_t window_max_maps(struct ism_window *w)
{
	return w->max_maps;
}

void window_set_hook(struct ism_window *w, window_unmap_hook fn, void *ctx)
{
	pthread_mutex_lock(&w->lock);
	w->hook = fn;
	w->hook_ctx = ctx;
	pthread_mutex_unlock(&w->lock);
}

/* Put the reservation back over [off, off+len).  Returns 0 or -errno. */
static int reserve(struct ism_window *w, uint64_t off, uint64_t len)
{
	void *p = mmap(w->base + off, len, PROT_NONE, RESERVE_FLAGS | MAP_FIXED,
		       -1, 0);

	if (p == MAP_FAILED) {
		/* Out of the kernel's address-space records: the range may
		 * now hold the old mapping or nothing.  Refuse everything
		 * from now on; destroy still releases it all. */
		w->broken = true;
		return -errno;
	}
	return 0;
}

static uint32_t lower_bound(const struct ism_window *w, uint64_t off);

/* Every hole back to the anonymous reservation: each hole's range, less
 * the mappings made over parts of it since. */
static int holes_release(struct ism_window *w)
{
	int e = 0;

	for (uint32_t h = 0; h < w->nholes; h++) {
		uint64_t at = w->holes[h].offset, end = at + w->holes[h].len;

		for (uint32_t i = lower_bound(w, at); at < end; i++) {
			uint64_t stop = i < w->n && w->m[i].offset < end
						? w->m[i].offset
						: end;
			int r = stop > at ? reserve(w, at, stop - at) : 0;

			if (r < 0 && e == 0)
				e = r;
			if (stop == end)
				break;
			at = w->m[i].offset + w->m[i].len;
		}
	}
	atomic_fetch_sub(&process_holes, w->nholes);
	w->nholes = 0;
	return e;
}

/* A mapping now covers [off, off+len): the holes wholly inside it are
 * gone (a hole it covers in part stays recorded, and is released with
 * the mapping's range skipped). */
static void holes_covered(struct ism_window *w, uint64_t off, uint64_t len)
{
	for (uint32_t h = 0; h < w->nholes;) {
		if (w->holes[h].offset >= off &&
		    w->holes[h].offset + w->holes[h].len <= off + len) {
			w->holes[h] = w->holes[--w->nholes];
			atomic_fetch_sub(&process_holes, 1);
		} else {
			h++;
		}
	}
}

/* Unmap [off, off+len), a whole mapping: a hole over exactly it if the
 * caps allow, else the reservation.  Returns 0 or -errno. */
static int unmap_range(struct ism_window *w, uint64_t off, uint64_t len)
{
	if (w->hole_fd >= 0 && w->nholes < HOLES_MAX &&
	    slot_take(&process_holes, holes_cap)) {
		if (mmap(w->base + off, len, PROT_NONE, MAP_SHARED | MAP_FIXED,
			 w->hole_fd, 0) != MAP_FAILED) {
			w->holes[w->nholes].offset = off;
			w->holes[w->nholes].len = len;
			w->nholes++;
			return 0;
		}
		atomic_fetch_sub(&process_holes, 1);
	}
	return reserve(w, off, len);
}

/* The first mapping whose end lies beyond @off (binary search). */
static uint32_t lower_bound(const struct ism_window *w, uint64_t off)
{
	uint32_t lo = 0, hi = w->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (w->m[mid].offset + w->m[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Is [off, off+len) a valid range of the window? */
static bool range_ok(const struct ism_window *w, uint64_t off, uint64_t len)
{
	uint64_t end;

	return len > 0 && aligned(off, page_size) && aligned(len, page_size) &&
	       !__builtin_add_overflow(off, len, &end) && end <= w->size;
}

/*
 * What the file behind @fd allows: a regular file with [fd_off,
 * fd_off+len) inside it, hugetlbfs alignment, the access mode asked and,
 * with @sealed, a memfd sealed against shrinking, and hugetlbfs only if
 * @huge_ok (a holder could punch it: SIGBUS here).  *@ro_fd gets an
 * O_RDONLY description of it to map from when @access is RO and @fd is
 * writable (the caller closes it), else -1.
 */
static int check_fd(int fd, uint64_t fd_off, uint64_t len, uint32_t access,
		    bool sealed, bool huge_ok, int *ro_fd)
{
	struct stat st;
	struct statfs sf;
	uint64_t end;
	int fl, seals;

	*ro_fd = -1;
	if (fd < 0)
		return -EBADF;
	if (sealed) {
		/* Answers for shmem and hugetlbfs only, without calling
		 * into any other file system: checked before fstat. */
		seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0)
			return errno == EBADF ? -EBADF : -EPERM;
		if (!(seals & F_SEAL_SHRINK))
			return -EPERM;
	}
	if (fstat(fd, &st) < 0)
		return errno == EBADF ? -EBADF : -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0)
		return -EBADF;
	if (__builtin_add_overflow(fd_off, len, &end) ||
	    end > (uint64_t)st.st_size || fd_off > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* hugetlbfs reports its page size as the block size: only then is
	 * the file system asked. */
	if ((uint64_t)st.st_blksize > page_size && fstatfs(fd, &sf) == 0 &&
	    (unsigned long)sf.f_type == (unsigned long)HUGETLBFS_MAGIC) {
		/* mmap would round the length up to a huge page and
		 * cover more than asked: refuse anything unaligned. */
		uint64_t hp =
			st.st_blksize > 0 ? (uint64_t)st.st_blksize : huge_size;

		if (sealed && !huge_ok)
			return -EOPNOTSUPP;
		if ((hp & (hp - 1)) || !aligned(fd_off, hp) ||
		    !aligned(len, hp))
			return -EINVAL;
	}
	/* Read-write: mmap itself refuses a description that is not
	 * (EACCES), before it touches the reservation. */
	if (access == ISM_ACCESS_RW)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -EBADF;
	if ((fl & O_ACCMODE) == O_RDONLY)
		return 0;
	/* A writable description would let anything in this process
	 * mprotect() the mapping writable: map from a read-only one. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		*ro_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (*ro_fd < 0)
			return -EACCES;
	}
	return 0;
}

static int map_locked(struct ism_window *w, uint64_t off, uint64_t len, int fd,
		      uint64_t fd_off, uint32_t access, uint32_t flags,
		      const struct window_remote *r, uint64_t *id)
{
	struct stat before, after;
	uint32_t i;
	int ro_fd, e, prot;
	void *p;

	if (w->broken)
		return -EIO;
	if ((access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) ||
	    (flags & ~(uint32_t)ISM_WINDOW_MAP_SEALED) ||
	    !range_ok(w, off, len) || !aligned(fd_off, page_size))
		return -EINVAL;
	i = lower_bound(w, off);
	if (i < w->n && w->m[i].offset < off + len)
		return -EEXIST;
	if (w->n >= w->max_maps)
		return -ENOSPC;
	if (w->n == w->cap) {
		uint32_t ncap = w->cap ? w->cap * 2 : 16;
		struct wmapping *nm;

		if (ncap > w->max_maps)
			ncap = w->max_maps;
		nm = realloc(w->m, (size_t)ncap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		w->m = nm;
		w->cap = ncap;
	}
	e = check_fd(fd, fd_off, len, access, flags & ISM_WINDOW_MAP_SEALED,
		     w->hugetlb_ok, &ro_fd);
	if (e < 0)
		return e;
	if (ro_fd >= 0) {
		/* The reopen must be the same file (not something swapped
		 * in at that number meanwhile). */
		if (fstat(fd, &before) < 0 || fstat(ro_fd, &after) < 0 ||
		    before.st_dev != after.st_dev ||
		    before.st_ino != after.st_ino) {
			close(ro_fd);
			return -EACCES;
		}
	}
	if (!process_take()) {
		ism_close_fd(&ro_fd);
		return -EDQUOT;
	}
	prot = PROT_READ | (access == ISM_ACCESS_RW ? PROT_WRITE : 0);
	p = mmap(w->base + off, len, prot, MAP_SHARED | MAP_FIXED,
		 ro_fd >= 0 ? ro_fd : fd, (off_t)fd_off);
	e = p == MAP_FAILED ? -errno : 0;
	ism_close_fd(&ro_fd);
	if (e < 0) {
		process_give(1);
		/* Older kernels may have removed the reservation before
		 * failing: put it back. */
		reserve(w, off, len);
		return e;
	}
	memmove(&w->m[i + 1], &w->m[i], (size_t)(w->n - i) * sizeof(*w->m));
	memset(&w->m[i], 0, sizeof(w->m[i]));
	w->m[i].id = w->next_id++;
	w->m[i].offset = off;
	w->m[i].len = len;
	w->m[i].fd_offset = fd_off;
	w->m[i].access = access;
	if (r) {
		w->m[i].remote = true;
		w->m[i].r = *r;
	}
	w->n++;
	holes_covered(w, off, len);
	if (id)
		*id = w->m[i].id;
	return 0;
}

int ism_window_map(struct ism_window *w, uint64_t offset, uint64_t len, int fd,
		   uint64_t fd_offset, uint32_t access, uint32_t flags,
		   uint64_t *id)
{
	int e;

	pthread_mutex_lock(&w->lock);
	e = map_locked(w, offset, len, fd, fd_offset, access, flags, NULL, id);
	pthread_mutex_unlock(&w->lock);
	return e;
}

int window_map_remote(struct ism_window *w, uint64_t offset, uint64_t len,
		      int fd, uint64_t fd_offset, uint32_t access,
		      const struct window_remote *r)
{
	int e;

	pthread_mutex_lock(&w->lock);
	e = map_locked(w, offset, len, fd, fd_offset, access,
		       ISM_WINDOW_MAP_SEALED, r, NULL);
	pthread_mutex_unlock(&w->lock);
	return e;
}

/* Remove mappings [i, j): PROT_NONE over each, then out of the array. */
static int remove_locked(struct ism_window *w, uint32_t i, uint32_t j)
{
	int e = 0;

	/* Room for the new holes first, while the mappings going away
	 * still count as mapped (the release must not cover them). */
	if (w->nholes > HOLES_MAX - ISM_MIN(j - i, HOLES_MAX))
		e = holes_release(w);
	for (uint32_t k = i; k < j; k++) {
		int r = unmap_range(w, w->m[k].offset, w->m[k].len);

		if (r < 0 && e == 0)
			e = r;
	}
	memmove(&w->m[i], &w->m[j], (size_t)(w->n - j) * sizeof(*w->m));
	w->n -= j - i;
	process_give(j - i);
	return e;
}

int ism_window_unmap(struct ism_window *w, uint64_t offset, uint64_t len,
		     uint32_t how)
{
	uint64_t stack[16], *remote = stack;
	uint32_t i, j, nremote = 0;
	window_unmap_hook hook;
	void *ctx;
	int e;

	if (how != ISM_WINDOW_UNMAP_EXACT && how != ISM_WINDOW_UNMAP_RANGE)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	if (!range_ok(w, offset, len)) {
		e = -EINVAL;
		goto out;
	}
	i = lower_bound(w, offset);
	if (how == ISM_WINDOW_UNMAP_EXACT) {
		if (i >= w->n || w->m[i].offset != offset ||
		    w->m[i].len != len) {
			e = -ENOENT;
			goto out;
		}
		j = i + 1;
	} else {
		if (i < w->n && w->m[i].offset < offset) {
			e = -EBUSY;
			goto out;
		}
		for (j = i; j < w->n && w->m[j].offset < offset + len; j++)
			if (w->m[j].offset + w->m[j].len > offset + len) {
				e = -EBUSY;
				goto out;
			}
	}
	for (uint32_t k = i; k < j; k++)
		nremote += w->m[k].remote;
	if (nremote > ISM_ARRAY_SIZE(stack)) {
		remote = malloc(nremote * sizeof(*remote));
		if (!remote) {
			e = -ENOMEM;
			goto out;
		}
	}
	nremote = 0;
	for (uint32_t k = i; k < j; k++)
		if (w->m[k].remote)
			remote[nremote++] = w->m[k].r.map;
	e = remove_locked(w, i, j);
	if (e == 0)
		e = (int)(j - i);
	hook = w->hook;
	ctx = w->hook_ctx;
	pthread_mutex_unlock(&w->lock);
	if (nremote && hook)
		hook(w, ctx, remote, nremote);
	if (remote != stack)
		free(remote);
	return e;
out:
	pthread_mutex_unlock(&w->lock);
	return e;
}

int window_unmap_remote(struct ism_window *w, uint64_t map,
			struct window_remote *out)
{
	int e = -ENOENT;

	pthread_mutex_lock(&w->lock);
	for (uint32_t i = 0; i < w->n; i++) {
		if (!w->m[i].remote || w->m[i].r.map != map)
			continue;
		if (out)
			*out = w->m[i].r;
		e = remove_locked(w, i, i + 1);
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return e;
}

uint32_t window_unmap_all_remote(struct ism_window *w,
				 struct window_remote *out, uint32_t cap)
{
	uint32_t n = 0;

	pthread_mutex_lock(&w->lock);
	for (uint32_t i = 0; i < w->n;) {
		if (!w->m[i].remote) {
			i++;
			continue;
		}
		if (n < cap)
			out[n] = w->m[i].r;
		n++;
		remove_locked(w, i, i + 1);
	}
	pthread_mutex_unlock(&w->lock);
	return n;
}

int window_copy(struct ism_window *w, uint64_t off, void *buf, uint64_t len,
		bool write)
{
	struct iovec local = { buf, len }, remote;
	uint64_t end;
	ssize_t n;
	uint32_t i;
	int e = 0;

	if (len == 0 || __builtin_add_overflow(off, len, &end) ||
	    end > w->size || len > SSIZE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	i = lower_bound(w, off);
	if (i >= w->n || w->m[i].offset > off ||
	    end > w->m[i].offset + w->m[i].len) {
		e = -EFAULT; /* not (wholly) inside one mapping */
		goto out;
	}
	if (write && w->m[i].access != ISM_ACCESS_RW) {
		e = -EACCES;
		goto out;
	}
	/* The kernel copies: a page the file cannot provide (a hugetlbfs
	 * hole with the pool empty) is EFAULT here, not SIGBUS.  The lock
	 * keeps the mapping in place meanwhile. */
	remote.iov_base = w->base + off;
	remote.iov_len = len;
	do {
		n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1,
					      0)
			  : process_vm_readv(getpid(), &local, 1, &remote, 1,
					     0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		e = n < 0 && errno != EFAULT ? -errno : -EFAULT;
out:
	pthread_mutex_unlock(&w->lock);
	return e;
}

int ism_window_list(struct ism_window *w, struct ism_window_mapping *out,
		    uint32_t cap)
{
	int n;

	if (cap && !out)
		return -EINVAL;
	pthread_mutex_lock(&w->lock);
	for (uint32_t i = 0; i < w->n && i < cap; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].id = w->m[i].id;
		out[i].offset = w->m[i].offset;
		out[i].len = w->m[i].len;
		out[i].fd_offset = w->m[i].fd_offset;
		out[i].access = w->m[i].access;
		out[i].remote = w->m[i].remote;
		out[i].region = w->m[i].r.region;
		out[i].peer = w->m[i].r.peer;
	}
	n = (int)w->n;
	pthread_mutex_unlock(&w->lock);
	return n;
}

int ism_window_destroy(struct ism_window *w)
{
	int e;

	if (!w)
		return 0;
	/* Unregistering first: ismd stops sending mappings, and each one
	 * it made is unmapped. */
	e = window_client_release(w);
	pthread_mutex_lock(&w->lock);
	process_give(w->n);
	w->n = 0;
	atomic_fetch_sub(&process_holes, w->nholes);
	w->nholes = 0;
	munmap(w->base, w->size);
	ism_close_fd(&w->hole_fd);
	free(w->m);
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return e;
}
