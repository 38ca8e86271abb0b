/* SPDX-License-Identifier: MIT */
/*
 * Windows without ismd: the reservation, mappings, overlap, the two ways
 * of unmapping, faults after unmap (in a child, by its signal), read-only
 * mappings that cannot be made writable, the caps (before the kernel's
 * limit), the address space left as it was, no stranger's mmap ever
 * landing inside a window, and others' hugetlbfs files refused unless the
 * window accepts them.
 */
#include "window/window.h"
#include "util/util.h"

#include <ism/window.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define PG 4096u

static int memfd(size_t size, bool seal)
{
	int fd = memfd_create("window-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seal)
		assert_int_equal(
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

static struct ism_window *window(uint64_t size, uint32_t max_maps)
{
	struct ism_window_opts o = { .size = sizeof(o), .max_maps = max_maps };
	struct ism_window *w;

	assert_int_equal(ism_window_create(size, &o, &w), 0);
	return w;
}

/* Run @fn(@arg) in a child; its exit status, or 128 + the signal. */
static int in_child(void (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* No core dumps for the faults we expect. */
		prctl(PR_SET_DUMPABLE, 0);
		/* cmocka's own handlers would catch the fault. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void touch_read(void *p)
{
	volatile uint8_t v = *(volatile uint8_t *)p;

	(void)v;
}

static void touch_write(void *p)
{
	*(volatile uint8_t *)p = 1;
}

static void test_create(void **state)
{
	struct ism_window_opts o = { .size = sizeof(o) };
	struct ism_window *w;

	(void)state;
	assert_int_equal(ism_window_create(0, NULL, &w), -EINVAL);
	assert_int_equal(ism_window_create(PG + 1, NULL, &w), -EINVAL);
	assert_int_equal(ism_window_create(ISM_WINDOW_SIZE_MAX + PG, NULL, &w),
			 -EINVAL);
	o.align = 3 * PG;
	assert_int_equal(ism_window_create(PG, &o, &w), -EINVAL);
	o.align = 0;
	o.flags = 0x80;
	assert_int_equal(ism_window_create(PG, &o, &w), -EINVAL);
	o.flags = ISM_WINDOW_HUGE_ALIGN;
	assert_int_equal(ism_window_create(4u << 20, &o, &w), 0);
	assert_int_equal(
		(uintptr_t)ism_window_base(w) % window_huge_page_size(), 0);
	assert_int_equal(ism_window_size(w), 4u << 20);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	assert_int_equal(ism_window_destroy(w), 0);
	assert_int_equal(ism_window_destroy(NULL), 0);
}

static void test_map_and_overlap(void **state)
{
	struct ism_window *w = window(16 * PG, 0);
	struct ism_window_mapping m[4];
	uint8_t *base = ism_window_base(w);
	int fd = memfd(8 * PG, false);
	uint64_t id1, id2;
	char c;

	(void)state;
	assert_int_equal(ism_window_map(w, 2 * PG, 2 * PG, fd, PG,
					ISM_ACCESS_RW, 0, &id1),
			 0);
	memcpy(base + 2 * PG, "hello", 5);
	assert_int_equal(pread(fd, &c, 1, PG), 1);
	assert_int_equal(c, 'h');
	/* Overlap, from either side and inside. */
	assert_int_equal(
		ism_window_map(w, PG, 2 * PG, fd, 0, ISM_ACCESS_RW, 0, NULL),
		-EEXIST);
	assert_int_equal(ism_window_map(w, 3 * PG, 2 * PG, fd, 0, ISM_ACCESS_RW,
					0, NULL),
			 -EEXIST);
	assert_int_equal(
		ism_window_map(w, 0, 16 * PG, fd, 0, ISM_ACCESS_RW, 0, NULL),
		-EEXIST);
	/* Adjacent is fine. */
	assert_int_equal(
		ism_window_map(w, 4 * PG, PG, fd, 0, ISM_ACCESS_RO, 0, &id2),
		0);
	assert_true(id2 != id1);
	/* Ranges: unaligned, outside the window, outside the file,
	 * overflowing, bad access or flags. */
	assert_int_equal(ism_window_map(w, 8 * PG + 1, PG, fd, 0, ISM_ACCESS_RW,
					0, NULL),
			 -EINVAL);
	assert_int_equal(
		ism_window_map(w, 8 * PG, PG, fd, 1, ISM_ACCESS_RW, 0, NULL),
		-EINVAL);
	assert_int_equal(ism_window_map(w, 15 * PG, 2 * PG, fd, 0,
					ISM_ACCESS_RW, 0, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map(w, 8 * PG, 2 * PG, fd, 7 * PG,
					ISM_ACCESS_RW, 0, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map(w, 8 * PG, PG, fd, UINT64_MAX - PG + 1,
					ISM_ACCESS_RW, 0, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map(w, UINT64_MAX - PG + 1, PG, fd, 0,
					ISM_ACCESS_RW, 0, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map(w, 8 * PG, PG, fd, 0, 3, 0, NULL),
			 -EINVAL);
	assert_int_equal(
		ism_window_map(w, 8 * PG, PG, fd, 0, ISM_ACCESS_RW, 0x10, NULL),
		-EINVAL);
	assert_int_equal(
		ism_window_map(w, 8 * PG, PG, -1, 0, ISM_ACCESS_RW, 0, NULL),
		-EBADF);
	assert_int_equal(ism_window_list(w, m, 4), 2);
	assert_int_equal(m[0].offset, 2 * PG);
	assert_int_equal(m[0].len, 2 * PG);
	assert_int_equal(m[0].fd_offset, PG);
	assert_int_equal(m[0].access, ISM_ACCESS_RW);
	assert_int_equal(m[0].remote, 0);
	assert_int_equal(m[1].offset, 4 * PG);
	assert_int_equal(m[1].access, ISM_ACCESS_RO);
	assert_int_equal(ism_window_list(w, m, 1), 2);
	close(fd); /* the mappings keep the file */
	assert_int_equal(base[2 * PG], 'h');
	assert_int_equal(ism_window_destroy(w), 0);
}

static void test_unmap(void **state)
{
	struct ism_window *w = window(16 * PG, 0);
	int fd = memfd(16 * PG, false);

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ism_window_map(w, 2 * i * PG, PG, fd, 0,
						ISM_ACCESS_RW, 0, NULL),
				 0);
	/* Exact: the whole mapping, nothing else. */
	assert_int_equal(ism_window_unmap(w, 0, 2 * PG, ISM_WINDOW_UNMAP_EXACT),
			 -ENOENT);
	assert_int_equal(ism_window_unmap(w, PG, PG, ISM_WINDOW_UNMAP_EXACT),
			 -ENOENT);
	assert_int_equal(ism_window_unmap(w, 0, PG, ISM_WINDOW_UNMAP_EXACT), 1);
	assert_int_equal(ism_window_unmap(w, 0, PG, ISM_WINDOW_UNMAP_EXACT),
			 -ENOENT);
	/* Range: whatever lies wholly inside; a straddler refuses all. */
	assert_int_equal(ism_window_map(w, 8 * PG, 3 * PG, fd, 0, ISM_ACCESS_RW,
					0, NULL),
			 0);
	assert_int_equal(ism_window_unmap(w, 0, 9 * PG, ISM_WINDOW_UNMAP_RANGE),
			 -EBUSY);
	assert_int_equal(ism_window_list(w, NULL, 0), 4);
	assert_int_equal(
		ism_window_unmap(w, 9 * PG, 2 * PG, ISM_WINDOW_UNMAP_RANGE),
		-EBUSY);
	assert_int_equal(ism_window_unmap(w, 0, 8 * PG, ISM_WINDOW_UNMAP_RANGE),
			 3);
	assert_int_equal(ism_window_unmap(w, 0, 8 * PG, ISM_WINDOW_UNMAP_RANGE),
			 0);
	assert_int_equal(
		ism_window_unmap(w, 0, 16 * PG, ISM_WINDOW_UNMAP_RANGE), 1);
	assert_int_equal(
		ism_window_unmap(w, 0, 17 * PG, ISM_WINDOW_UNMAP_RANGE),
		-EINVAL);
	assert_int_equal(ism_window_unmap(w, 0, PG, 7), -EINVAL);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	close(fd);
	ism_window_destroy(w);
}

static void test_fault_after_unmap(void **state)
{
	struct ism_window *w = window(4 * PG, 0);
	uint8_t *base = ism_window_base(w);
	int fd = memfd(PG, false);

	(void)state;
	/* Never mapped: reserved, so it faults. */
	assert_int_equal(in_child(touch_read, base), 128 + SIGSEGV);
	assert_int_equal(
		ism_window_map(w, PG, PG, fd, 0, ISM_ACCESS_RW, 0, NULL), 0);
	base[PG] = 42;
	assert_int_equal(in_child(touch_read, base + PG), 0);
	assert_int_equal(ism_window_unmap(w, PG, PG, ISM_WINDOW_UNMAP_EXACT),
			 1);
	/* Unmapped: faults (it would read zeros or old data if the range
	 * had been left to anything but PROT_NONE). */
	assert_int_equal(in_child(touch_read, base + PG), 128 + SIGSEGV);
	assert_int_equal(in_child(touch_write, base + PG), 128 + SIGSEGV);
	close(fd);
	ism_window_destroy(w);
}

static void test_read_only(void **state)
{
	struct ism_window *w = window(4 * PG, 0);
	uint8_t *base = ism_window_base(w);
	int fd = memfd(PG, false), ro;
	char path[64];

	(void)state;
	assert_int_equal(pwrite(fd, "x", 1, 0), 1);
	/* A read-only mapping from a writable fd: made from a read-only
	 * reopen, so mprotect cannot make it writable. */
	assert_int_equal(
		ism_window_map(w, 0, PG, fd, 0, ISM_ACCESS_RO, 0, NULL), 0);
	assert_int_equal(base[0], 'x');
	assert_int_equal(mprotect(base, PG, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(in_child(touch_write, base), 128 + SIGSEGV);
	/* Read-write needs a writable fd. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	assert_int_equal(
		ism_window_map(w, PG, PG, ro, 0, ISM_ACCESS_RW, 0, NULL),
		-EACCES);
	assert_int_equal(
		ism_window_map(w, PG, PG, ro, 0, ISM_ACCESS_RO, 0, NULL), 0);
	assert_int_equal(mprotect(base + PG, PG, PROT_READ | PROT_WRITE), -1);
	close(ro);
	close(fd);
	ism_window_destroy(w);
}

static void test_sealed_and_types(void **state)
{
	struct ism_window *w = window(4 * PG, 0);
	int loose = memfd(PG, false), sealed = memfd(PG, true), sp[2];

	(void)state;
	assert_int_equal(ism_window_map(w, 0, PG, loose, 0, ISM_ACCESS_RW,
					ISM_WINDOW_MAP_SEALED, NULL),
			 -EPERM);
	assert_int_equal(ism_window_map(w, 0, PG, sealed, 0, ISM_ACCESS_RW,
					ISM_WINDOW_MAP_SEALED, NULL),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(ism_window_map(w, PG, PG, sp[0], 0, ISM_ACCESS_RW,
					ISM_WINDOW_MAP_SEALED, NULL),
			 -EPERM);
	assert_int_equal(
		ism_window_map(w, PG, PG, sp[0], 0, ISM_ACCESS_RW, 0, NULL),
		-EBADF);
	close(sp[0]);
	close(sp[1]);
	close(loose);
	close(sealed);
	ism_window_destroy(w);
}

/* A hugetlbfs memfd from someone else: any read-write holder can punch
 * it, and with the huge page pool empty the hole SIGBUSes whoever touches
 * it.  Refused from others (MAP_SEALED) unless the window accepts that;
 * the window's owner may map its own. */
static void test_hugetlb_from_others(void **state)
{
	struct ism_window_opts o = { .size = sizeof(o),
				     .flags = ISM_WINDOW_HUGE_ALIGN };
	uint64_t hp = window_huge_page_size();
	struct ism_window *w, *ok;
	int fd, e;

	(void)state;
	fd = memfd_create("window-test-huge",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
	if (fd < 0 || hp == 0) {
		fprintf(stderr, "no hugetlbfs memfd here: part skipped\n");
		if (fd >= 0)
			close(fd);
		return;
	}
	assert_int_equal(ftruncate(fd, (off_t)hp), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			 0);
	assert_int_equal(ism_window_create(2 * hp, &o, &w), 0);
	assert_int_equal(ism_window_map(w, 0, hp, fd, 0, ISM_ACCESS_RW,
					ISM_WINDOW_MAP_SEALED, NULL),
			 -EOPNOTSUPP);
	o.flags |= ISM_WINDOW_HUGETLB_OK;
	assert_int_equal(ism_window_create(2 * hp, &o, &ok), 0);
	/* Accepted; the kernel may still refuse (an empty pool: -ENOMEM). */
	e = ism_window_map(ok, 0, hp, fd, 0, ISM_ACCESS_RW,
			   ISM_WINDOW_MAP_SEALED, NULL);
	assert_true(e == 0 || e == -ENOMEM);
	/* The caller's own file, unsealed mode: its own choice. */
	e = ism_window_map(w, 0, hp, fd, 0, ISM_ACCESS_RW, 0, NULL);
	assert_true(e == 0 || e == -ENOMEM);
	ism_window_destroy(ok);
	ism_window_destroy(w);
	close(fd);
}

static void test_window_cap(void **state)
{
	struct ism_window *w = window(16 * PG, 3);
	int fd = memfd(PG, false);

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ism_window_map(w, 2 * i * PG, PG, fd, 0,
						ISM_ACCESS_RW, 0, NULL),
				 0);
	assert_int_equal(
		ism_window_map(w, 8 * PG, PG, fd, 0, ISM_ACCESS_RW, 0, NULL),
		-ENOSPC);
	assert_int_equal(ism_window_unmap(w, 0, PG, ISM_WINDOW_UNMAP_EXACT), 1);
	assert_int_equal(
		ism_window_map(w, 8 * PG, PG, fd, 0, ISM_ACCESS_RW, 0, NULL),
		0);
	close(fd);
	ism_window_destroy(w);
}

/* Map single pages, one page apart (each splits the reservation), until
 * refused: the process cap must refuse (-EDQUOT) before the kernel's
 * vm.max_map_count would (-ENOMEM). */
static void fill_to_cap(void *arg)
{
	uint32_t cap = ism_window_process_cap(), n = 0;
	uint64_t slots = 2ull * cap + 2;
	struct ism_window *w[16];
	uint32_t per = ISM_WINDOW_MAPS_MAX;
	int fd = memfd(PG, false), e = 0;
	unsigned nw = 0;

	(void)arg;
	for (;;) {
		struct ism_window_opts o = { .size = sizeof(o),
					     .max_maps = per };
		uint64_t off;

		if (nw == 16)
			_exit(3);
		if (ism_window_create(ISM_MIN(slots, 2ull * per) * PG, &o,
				      &w[nw]) < 0)
			_exit(4);
		for (off = 0; off < ism_window_size(w[nw]); off += 2 * PG) {
			e = ism_window_map(w[nw], off, PG, fd, 0, ISM_ACCESS_RW,
					   0, NULL);
			if (e < 0)
				break;
			n++;
		}
		nw++;
		if (e < 0)
			break;
	}
	/* Refused by our cap, exactly at it, and the kernel still has
	 * room: an unrelated mapping still works. */
	if (e != -EDQUOT || n != cap) {
		fprintf(stderr, "refused with %d after %u of %u\n", e, n, cap);
		_exit(5);
	}
	if (mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
	    MAP_FAILED)
		_exit(6);
	for (unsigned i = 0; i < nw; i++)
		ism_window_destroy(w[i]);
	/* All given back. */
	if (ism_window_create(4 * PG, NULL, &w[0]) < 0 ||
	    ism_window_map(w[0], 0, PG, fd, 0, ISM_ACCESS_RW, 0, NULL) < 0)
		_exit(7);
	_exit(0);
}

static void test_process_cap(void **state)
{
	(void)state;
	assert_true(ism_window_process_cap() >= 16);
	/* In a child: the cap is the whole process's. */
	assert_int_equal(in_child(fill_to_cap, NULL), 0);
}

/* The lines of /proc/self/maps that touch [lo, hi). */
static char *maps_of(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], *out = calloc(1, 65536);
	size_t n = 0;

	assert_non_null(f);
	assert_non_null(out);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) != 2 || b <= lo || a >= hi)
			continue;
		n += (size_t)snprintf(out + n, 65536 - n, "%s", line);
	}
	fclose(f);
	return out;
}

/* The records of /proc/self/maps inside [lo, hi): how many, how many of
 * them holes; each must be inaccessible (---) and either the anonymous
 * reservation or the window's hole file. */
static unsigned records_inside(uintptr_t lo, uintptr_t hi, unsigned *holes)
{
	char *all = maps_of(lo, hi), *line, *save = NULL;
	unsigned n = 0;

	*holes = 0;
	for (line = strtok_r(all, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long a, b, ino;
		char perms[8];

		assert_int_equal(sscanf(line, "%lx-%lx %7s %*s %*s %lu", &a, &b,
					perms, &ino),
				 4);
		assert_true(a >= lo && b <= hi);
		assert_memory_equal(perms, "---", 3);
		if (strstr(line, "ism-window-hole"))
			(*holes)++;
		else
			assert_int_equal(ino, 0);
		n++;
	}
	free(all);
	return n;
}

/* Unmapped ranges become holes or the reservation again; either way
 * nothing in the window is reachable, the number of the kernel's records
 * stays bounded however many maps come and go, and destroy leaves none. */
static void test_maps_bounded(void **state)
{
	struct ism_window *w = window(256 * PG, 0);
	uintptr_t base = (uintptr_t)ism_window_base(w);
	unsigned holes, n;
	char *after;
	int fd = memfd(4 * PG, true);

	(void)state;
	for (unsigned i = 0; i < 10000; i++) {
		/* Overlapping ranges at 250 offsets: holes split by later
		 * maps, and more distinct holes than a window keeps. */
		uint64_t off = (uint64_t)(i * 7 % 250) * PG;

		assert_int_equal(
			ism_window_map(w, off, 4 * PG, fd, 0,
				       i & 1 ? ISM_ACCESS_RO : ISM_ACCESS_RW,
				       ISM_WINDOW_MAP_SEALED, NULL),
			0);
		assert_int_equal(ism_window_unmap(w, off, 4 * PG,
						  ISM_WINDOW_UNMAP_EXACT),
				 1);
		if (i % 997 == 0) {
			n = records_inside(base, base + 256 * PG, &holes);
			/* Every boundary is a kept hole's (at most 64):
			 * released ones merge into the reservation. */
			assert_true(n <= 2 * 64 + 1);
			assert_true(holes >= 1);
		}
	}
	n = records_inside(base, base + 256 * PG, &holes);
	assert_true(n <= 2 * 64 + 1);
	assert_true(holes >= 1 && holes <= 64);
	/* A hole cannot be made writable: its file is write-sealed. */
	assert_int_equal(ism_window_map(w, 0, 4 * PG, fd, 0, ISM_ACCESS_RW,
					ISM_WINDOW_MAP_SEALED, NULL),
			 0);
	assert_int_equal(ism_window_unmap(w, 0, 4 * PG, ISM_WINDOW_UNMAP_EXACT),
			 1);
	assert_int_equal(mprotect((void *)base, PG, PROT_READ | PROT_WRITE),
			 -1);
	assert_int_equal(in_child(touch_read, (uint8_t *)base), 128 + SIGSEGV);
	close(fd);
	ism_window_destroy(w);
	after = maps_of(base, base + 256 * PG);
	assert_string_equal(after, "");
	free(after);
}

/* Another thread keeps asking the kernel for memory anywhere. */
struct stranger {
	uintptr_t lo, hi;
	atomic_bool stop;
	atomic_ulong inside, calls;
};

static void *stranger_run(void *arg)
{
	struct stranger *s = arg;

	while (!atomic_load(&s->stop)) {
		size_t len = PG * (1 + (atomic_load(&s->calls) & 15));
		uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			continue;
		if ((uintptr_t)p < s->hi && (uintptr_t)p + len > s->lo)
			atomic_fetch_add(&s->inside, 1);
		munmap(p, len);
		atomic_fetch_add(&s->calls, 1);
	}
	return NULL;
}

static void test_no_stranger_inside(void **state)
{
	struct ism_window *w = window(64 * PG, 0);
	struct stranger s = { 0 };
	int fd = memfd(8 * PG, true);
	pthread_t t;

	(void)state;
	s.lo = (uintptr_t)ism_window_base(w);
	s.hi = s.lo + 64 * PG;
	assert_int_equal(pthread_create(&t, NULL, stranger_run, &s), 0);
	for (unsigned i = 0; i < 100000; i++) {
		uint64_t off = (uint64_t)(i % 56) * PG;

		assert_int_equal(ism_window_map(w, off, 8 * PG, fd, 0,
						ISM_ACCESS_RW,
						ISM_WINDOW_MAP_SEALED, NULL),
				 0);
		assert_int_equal(ism_window_unmap(w, off, 8 * PG,
						  ISM_WINDOW_UNMAP_EXACT),
				 1);
	}
	atomic_store(&s.stop, true);
	pthread_join(t, NULL);
	assert_true(atomic_load(&s.calls) > 0);
	assert_int_equal(atomic_load(&s.inside), 0);
	close(fd);
	ism_window_destroy(w);
}

/* Threads mapping and unmapping their own slots of one window. */
struct mt {
	struct ism_window *w;
	int fd;
	unsigned slot;
	int err;
};

static void *mt_run(void *arg)
{
	struct mt *m = arg;

	for (unsigned i = 0; i < 2000 && !m->err; i++) {
		uint64_t off = (uint64_t)m->slot * 2 * PG;

		if (ism_window_map(m->w, off, PG, m->fd, 0, ISM_ACCESS_RW, 0,
				   NULL) < 0 ||
		    ism_window_list(m->w, NULL, 0) < 0 ||
		    ism_window_unmap(m->w, off, PG, ISM_WINDOW_UNMAP_EXACT) !=
			    1)
			m->err = 1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct ism_window *w = window(8 * PG, 0);
	struct mt m[4];
	pthread_t t[4];
	int fd = memfd(2 * PG, false);

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		m[i] = (struct mt){ .w = w, .fd = fd, .slot = i };
		assert_int_equal(pthread_create(&t[i], NULL, mt_run, &m[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(m[i].err, 0);
	}
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	close(fd);
	ism_window_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_map_and_overlap),
		cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_fault_after_unmap),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_sealed_and_types),
		cmocka_unit_test(test_hugetlb_from_others),
		cmocka_unit_test(test_window_cap),
		cmocka_unit_test(test_process_cap),
		cmocka_unit_test(test_maps_bounded),
		cmocka_unit_test(test_no_stranger_inside),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
