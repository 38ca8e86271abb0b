/* SPDX-License-Identifier: MIT */
/*
 * Huge pages must not let a peer kill ismd (issue 9, item 6, ismd's side).
 *
 * The weapon: the owner of a hugetlb region has a read-write fd, and the
 * seals let it punch pages out (fallocate PUNCH_HOLE).  A punched page
 * has no reservation any more; once the attacker has taken every free
 * huge page, nothing can fill the hole, and whoever touches it through a
 * mapping gets SIGBUS.  ismd writes hugetlb regions through a mapping
 * (hugetlbfs has no write()): a WRITE there must come back as ENOMEM,
 * with ismd alive and serving.
 *
 * Needs root (it sets vm.nr_hugepages to 8 and restores it) and 2 MiB
 * huge pages; skips, saying so, otherwise.  The teardown frees the
 * drained pages, restores the pool, closes the peer and stops ismd,
 * whatever happened.
 */
#include "t_daemon.h"
#include "t_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NR_HUGE	  "/proc/sys/vm/nr_hugepages"
#define FREE_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
#define RESV_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages"
#define HUGE_SIZE (2ul << 20)
#define POOL	  8
#define MAX_DRAIN 64

static struct {
	struct ism_private d;
	long pool_old; /* >= 0: restore NR_HUGE */
	bool skipped;  /* then the program exits 77: a skip is no pass */
	int drain;     /* the memfd holding every free huge page */
	struct ism_region *r;
	struct ism_conn *c;
} T = { .pool_old = -1, .drain = -1 };

static void pool_restore(void)
{
	if (T.pool_old >= 0 && t_write_long(NR_HUGE, T.pool_old) < 0)
		fprintf(stderr, "could not restore %s to %ld\n", NR_HUGE,
			T.pool_old);
	T.pool_old = -1;
}

static int teardown(void **state)
{
	(void)state;
	/* The peer first (ismd's region goes with it), then the pages. */
	ism_region_close(T.r);
	T.r = NULL;
	ism_conn_close(T.c);
	T.c = NULL;
	if (T.drain >= 0)
		close(T.drain);
	T.drain = -1;
	if (T.d.pid > 0)
		t_daemon_stop_within(&T.d, 10000);
	if (T.d.dir[0])
		t_daemon_cleanup(&T.d);
	memset(&T.d, 0, sizeof(T.d));
	/* Only once ismd, which mapped the region, is gone. */
	pool_restore();
	return 0;
}

/* The default huge page size in KiB (what MFD_HUGETLB uses), or -1. */
static long huge_page_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* POOL huge pages of 2 MiB, at least 2 of them free, or skip. */
static void pool_up(void)
{
	long old = t_read_long(NR_HUGE);

	if (geteuid() != 0 || old < 0 || huge_page_kib() != 2048) {
		fprintf(stderr, "skipped: needs root and 2 MiB huge pages\n");
		T.skipped = true;
		skip();
	}
	if (old != POOL) {
		T.pool_old = old; /* restored at teardown */
		if (t_write_long(NR_HUGE, POOL) < 0) {
			pool_restore();
			fprintf(stderr, "skipped: cannot write %s\n", NR_HUGE);
			T.skipped = true;
			skip();
		}
	}
	if (t_read_long(FREE_HUGE) < 2) {
		pool_restore();
		fprintf(stderr, "skipped: no free huge pages here (%s: %ld)\n",
			FREE_HUGE, t_read_long(FREE_HUGE));
		T.skipped = true;
		skip();
	}
}

/* Take every free huge page that nobody has reserved: how many. */
static int pool_drain(void)
{
	off_t off = 0;

	T.drain = memfd_create("drain", MFD_CLOEXEC | MFD_HUGETLB);
	assert_true(T.drain >= 0);
	assert_int_equal(ftruncate(T.drain, MAX_DRAIN * (off_t)HUGE_SIZE), 0);
	while (off < MAX_DRAIN * (off_t)HUGE_SIZE &&
	       fallocate(T.drain, 0, off, HUGE_SIZE) == 0)
		off += HUGE_SIZE;
	return (int)(off / (off_t)HUGE_SIZE);
}

static void test_punched_page_write(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666", NULL };
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_HUGETLB |
					     ISM_ALLOC_HUGETLB_REQUIRED };
	struct ism_region_info info;
	struct ism_status st;
	char back[8] = "";
	int fd, drained;
	ssize_t w;

	(void)state;
	pool_up();
	assert_int_equal(t_daemon_start(&T.d, args), 0);
	T.c = t_connect(&T.d, "hostile", 0);
	assert_int_equal(ism_region_alloc(T.c, 2 * HUGE_SIZE, &o, &T.r), 0);
	assert_int_equal(ism_region_info(T.r, &info), 0);
	assert_int_equal(info.page_size, HUGE_SIZE);
	/* Once through ismd: its mapping of the region now exists. */
	assert_int_equal(ism_region_write(T.r, 0, "first", 5), 5);
	/* The hole, with the attacker's own fd (the seals allow it). */
	fd = ism_region_fd(T.r);
	assert_true(fd >= 0);
	assert_int_equal(fallocate(fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, HUGE_SIZE),
			 0);
	/* Every free huge page nobody reserved (the second page of the
	 * region keeps its reservation). */
	drained = pool_drain();
	fprintf(stderr, "drained %d huge pages: %ld free, %ld reserved\n",
		drained, t_read_long(FREE_HUGE), t_read_long(RESV_HUGE));
	assert_true(drained >= 1);
	assert_int_equal(t_read_long(FREE_HUGE), t_read_long(RESV_HUGE));

	/* Nothing can fill the hole now: ismd must refuse, not die (an
	 * ismd that died says how: status 135 is SIGBUS). */
	w = ism_region_write(T.r, 0, "again", 5);
	assert_true(t_daemon_alive(&T.d));
	assert_int_equal(w, -ENOMEM);
	/* The hole reads as zeros, the page still reserved works, and
	 * ismd serves. */
	assert_int_equal(ism_region_read(T.r, 0, back, 5), 5);
	assert_memory_equal(back, "\0\0\0\0\0", 5);
	assert_int_equal(ism_region_write(T.r, HUGE_SIZE, "second", 6), 6);
	assert_int_equal(ism_region_read(T.r, HUGE_SIZE, back, 6), 6);
	assert_memory_equal(back, "second", 6);
	assert_int_equal(ism_admin_status(T.c, &st), 0);
	assert_true(t_daemon_alive(&T.d));

	/* With a page back in the pool, the write works again. */
	close(T.drain);
	T.drain = -1;
	assert_int_equal(ism_region_write(T.r, 0, "again", 5), 5);
	assert_int_equal(ism_region_read(T.r, 0, back, 5), 5);
	assert_memory_equal(back, "again", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_punched_page_write, teardown),
	};
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = t_exit(cmocka_run_group_tests(tests, NULL, NULL));
	return r == 0 && T.skipped ? 77 : r;
}
