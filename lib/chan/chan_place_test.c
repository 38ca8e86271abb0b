/* SPDX-License-Identifier: MIT */
/*
 * Placed channels (ism_chan_create_at / _connect_at): a driver's ring and
 * its buffer pool in one memfd, a device's ring in another, only offsets
 * crossing and no byte outside the parts touched; a placed side and a
 * plain local side together; and the refusals: a placement that is
 * misaligned, too small, read-only, past its file, overflowing,
 * overlapping our own part, not a sealed memfd, or whose header claims
 * rings larger than the range it was given (reaching into the pool);
 * and a second connect refused without breaking the first.
 */
#include <ism/chan.h>
#include <ism/pool.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define RING	 8192u
#define POOL_LEN (64u << 10)
#define PAT	 0xa5
/* The first 8 bytes of a part (lib/chan/chan.c), as a number. */
#define CHAN_MAGIC 0x314e414843534d49ull

/* What crosses the channel: a buffer, by offset in the pool. */
struct req {
	uint64_t off, len;
};

static struct ism_chan_opts opts(uint32_t ring)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = ring,
				   .spin_us = ISM_CHAN_NO_SPIN };

	return o;
}

static struct ism_chan_place place_fd(int fd, uint64_t off, uint64_t len)
{
	struct ism_chan_place p = { .size = sizeof(p),
				    .kind = ISM_CHAN_PLACE_FD,
				    .fd = fd,
				    .offset = off,
				    .len = len };

	return p;
}

/* A memfd of @len bytes filled with PAT, sealed against resizing. */
static int t_memfd(size_t len)
{
	int fd = memfd_create("chan-place", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *m;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	memset(m, PAT, len);
	munmap(m, len);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			 0);
	return fd;
}

static int seqpacket_end(void)
{
	int sv[2];

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[0]);
	return sv[1];
}

/* True if [@from, @to) of @fd is all PAT. */
static int untouched(int fd, size_t from, size_t to)
{
	static uint8_t b[1 << 16];

	while (from < to) {
		size_t n = to - from < sizeof(b) ? to - from : sizeof(b);

		assert_int_equal(pread(fd, b, n, (off_t)from), (ssize_t)n);
		for (size_t i = 0; i < n; i++)
			if (b[i] != PAT)
				return 0;
		from += n;
	}
	return 1;
}

static void test_place_len(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);

	(void)state;
	assert_int_equal(ism_chan_place_len(0),
			 ism_chan_place_len(ISM_CHAN_RING_DEFAULT));
	assert_true(ism_chan_place_len(RING) >= RING + 256);
	assert_int_equal(ism_chan_place_len(RING) % (size_t)pg, 0);
	assert_int_equal(ism_chan_place_len(5000), 0);
	assert_int_equal(ism_chan_place_len(2048), 0);
}

/*
 * The driver's region: [its ring part][pool]; the device's: [its ring
 * part] at a page offset, garbage around it.  The device maps the
 * driver's pool (its own view) and works on buffers in place; everything
 * outside the parts and the buffers stays as it was.
 */
static void test_device_in_one_region(void **state)
{
	struct ism_chan_opts o = opts(RING);
	size_t part = ism_chan_place_len(RING);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int drv_fd = t_memfd(part + POOL_LEN);
	int dev_fd = t_memfd(pg + part + pg);
	struct ism_chan_place at = place_fd(drv_fd, 0, 0);
	struct ism_chan *drv, *dev;
	struct ism_pool *pool;
	uint8_t *drv_map, *dev_view;
	void *bufs[16];
	uint64_t magic;
	int drv_link, dev_link;

	(void)state;
	assert_int_equal(ism_chan_create_at(&at, &o, &drv), 0);
	at = place_fd(dev_fd, pg, part);
	assert_int_equal(ism_chan_create_at(&at, &o, &dev), 0);
	/* The parts are where they were asked to be, and nothing else
	 * changed. */
	assert_int_equal(pread(drv_fd, &magic, 8, 0), 8);
	assert_int_equal(magic, CHAN_MAGIC);
	assert_int_equal(pread(dev_fd, &magic, 8, (off_t)pg), 8);
	assert_int_equal(magic, CHAN_MAGIC);
	assert_true(untouched(dev_fd, 0, pg));
	assert_true(untouched(drv_fd, part, part + POOL_LEN));

	drv_link = ism_chan_export_link(drv);
	dev_link = ism_chan_export_link(dev);
	assert_true(drv_link >= 0 && dev_link >= 0);
	assert_int_equal(ism_chan_export_link(drv), -EINVAL);
	/* Each tells the other where its part is: fd, offset, length. */
	at = place_fd(dev_fd, pg, part);
	assert_int_equal(ism_chan_connect_at(drv, &at, dev_link), 0);
	at = place_fd(drv_fd, 0, part);
	assert_int_equal(ism_chan_connect_at(dev, &at, drv_link), 0);

	drv_map = mmap(NULL, part + POOL_LEN, PROT_READ | PROT_WRITE,
		       MAP_SHARED, drv_fd, 0);
	dev_view = mmap(NULL, POOL_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			drv_fd, (off_t)part);
	assert_true(drv_map != MAP_FAILED && dev_view != MAP_FAILED);
	assert_int_equal(ism_pool_create(drv_map + part, POOL_LEN, NULL, &pool),
			 0);

	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 16; i++) {
			char text[64];
			struct req q;
			int n = snprintf(text, sizeof(text),
					 "request %d of round %d", i, round);

			assert_int_equal(
				ism_pool_alloc(pool, (uint64_t)n, &bufs[i]), 0);
			assert_int_equal(ism_pool_bounce_in(pool, bufs[i], 0,
							    text, (uint64_t)n),
					 0);
			assert_int_equal(ism_pool_offset(pool, bufs[i], &q.off),
					 0);
			q.len = (uint64_t)n;
			assert_int_equal(ism_chan_send(drv, &q, sizeof(q), 0),
					 0);
		}
		/* The device: offsets only, checked against the pool's
		 * range, the work done in place. */
		for (int i = 0; i < 16; i++) {
			struct req q;

			assert_int_equal(ism_chan_recv(dev, &q, sizeof(q), 0),
					 (ssize_t)sizeof(q));
			assert_true(q.off <= POOL_LEN &&
				    q.len <= POOL_LEN - q.off);
			for (uint64_t k = 0; k < q.len; k++)
				if (dev_view[q.off + k] >= 'a' &&
				    dev_view[q.off + k] <= 'z')
					dev_view[q.off + k] -= 'a' - 'A';
			assert_int_equal(ism_chan_send(dev, &q, sizeof(q), 0),
					 0);
		}
		for (int i = 0; i < 16; i++) {
			char back[64], want[64];
			struct req q;
			void *b;

			assert_int_equal(ism_chan_recv(drv, &q, sizeof(q), 0),
					 (ssize_t)sizeof(q));
			assert_int_equal(
				ism_pool_buffer(pool, q.off, q.len, &b), 0);
			assert_ptr_equal(b, bufs[i]);
			assert_true(q.len < sizeof(back));
			assert_int_equal(
				ism_pool_bounce_out(pool, b, 0, back, q.len),
				0);
			back[q.len] = 0;
			snprintf(want, sizeof(want), "REQUEST %d OF ROUND %d",
				 i, round);
			assert_string_equal(back, want);
			assert_int_equal(ism_pool_free(pool, b), 0);
		}
	}
	/* The device's region outside its part: as it was. */
	assert_true(untouched(dev_fd, 0, pg));
	assert_true(untouched(dev_fd, pg + part, pg + part + pg));
	ism_chan_shutdown(drv);
	{
		uint8_t b[8];

		assert_int_equal(ism_chan_recv(dev, b, sizeof(b), 0),
				 -ESHUTDOWN);
	}
	ism_pool_destroy(pool);
	munmap(dev_view, POOL_LEN);
	munmap(drv_map, part + POOL_LEN);
	ism_chan_close(drv);
	ism_chan_close(dev);
	close(drv_fd);
	close(dev_fd);
}

/* A placed side and a plain local side, each connecting the other. */
static void test_placed_and_local(void **state)
{
	struct ism_chan_opts o = opts(RING);
	size_t part = ism_chan_place_len(RING);
	int fd = t_memfd(part);
	struct ism_chan_place at = place_fd(fd, 0, 0);
	struct ism_chan *a, *b;
	int fb[2];
	char buf[16];

	(void)state;
	assert_int_equal(ism_chan_create_at(&at, &o, &a), 0);
	assert_int_equal(ism_chan_local_create(&o, &b), 0);
	assert_int_equal(ism_chan_local_export(b, fb), 0);
	/* Not a local channel: its part is not ours to export. */
	{
		int f[2];

		assert_int_equal(ism_chan_local_export(a, f), -EINVAL);
	}
	/* b's exported region: a read-only fd of a sealed memfd. */
	at = place_fd(fb[0], 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, fb[1]), 0);
	close(fb[0]);
	at = place_fd(fd, 0, 0);
	assert_int_equal(ism_chan_connect_at(b, &at, ism_chan_export_link(a)),
			 0);
	assert_int_equal(ism_chan_send(a, "to b", 5, 0), 0);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "to b");
	assert_int_equal(ism_chan_send(b, "to a", 5, 0), 0);
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "to a");
	ism_chan_close(a);
	ism_chan_close(b);
	close(fd);
}

static void test_create_at_refuses(void **state)
{
	struct ism_chan_opts o = opts(RING);
	size_t part = ism_chan_place_len(RING);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	int fd = t_memfd(part + pg), ro, p[2];
	struct ism_chan_place at = place_fd(fd, 0, 0);
	struct ism_chan *ch;
	char path[64];

	(void)state;
	at.offset = 64; /* misaligned */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	assert_null(ch);
	at = place_fd(fd, 0, part - 1); /* would spill past its length */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -ENOSPC);
	at = place_fd(fd, 2 * pg, 0); /* the file ends first */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -ENOSPC);
	at = place_fd(fd, UINT64_MAX & ~(uint64_t)(pg - 1), 0); /* wraps */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -ENOSPC);
	at = place_fd(-1, 0, 0);
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EBADF);
	at = place_fd(fd, 0, 0);
	at.kind = 0;
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	at.kind = ISM_CHAN_PLACE_REGION; /* and no region */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	at = place_fd(fd, 0, 0);
	at.flags = 1;
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	at = place_fd(fd, 0, 0);
	o.peer = 7; /* the region's grant decides, not the channel */
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	o = opts(5000);
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	o = opts(RING);
	/* Read-only: this side must be able to write its part. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	at = place_fd(ro, 0, 0);
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EACCES);
	close(ro);
	/* Not a file. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	at = place_fd(p[0], 0, 0);
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), -EINVAL);
	close(p[0]);
	close(p[1]);
	/* Nothing was written by any refusal. */
	assert_true(untouched(fd, 0, part + pg));
	/* The last page: fits exactly. */
	at = place_fd(fd, pg, part);
	assert_int_equal(ism_chan_create_at(&at, &o, &ch), 0);
	assert_true(untouched(fd, 0, pg));
	ism_chan_close(ch);
	close(fd);
}

/*
 * What the other side says about where its part is, hostile: every lie
 * is refused before anything is mapped or used, the link is taken either
 * way, and the channel still connects properly afterwards.
 */
static void test_connect_at_refuses(void **state)
{
	struct ism_chan_opts o = opts(RING), big = opts(65536);
	size_t part = ism_chan_place_len(RING);
	size_t big_part = ism_chan_place_len(65536);
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	/* The peer's region: its part (a 64 KiB ring), then a pool. */
	int peer_fd = t_memfd(big_part + POOL_LEN);
	int own_fd = t_memfd(2 * part), tiny, plain, p[2];
	struct ism_chan_place at;
	struct ism_chan *a, *b;
	char buf[8];

	(void)state;
	at = place_fd(own_fd, 0, 0);
	assert_int_equal(ism_chan_create_at(&at, &o, &a), 0);
	at = place_fd(peer_fd, 0, 0);
	assert_int_equal(ism_chan_create_at(&at, &big, &b), 0);

	/* Misaligned; past the file; a length past the file; wrapping. */
	at = place_fd(peer_fd, 8, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	at = place_fd(peer_fd, big_part + POOL_LEN + pg, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	at = place_fd(peer_fd, 0, big_part + POOL_LEN + 1);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	at = place_fd(peer_fd, pg, UINT64_MAX - pg / 2);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	at = place_fd(peer_fd, UINT64_MAX & ~(uint64_t)(pg - 1), pg);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	/* Too small for a channel header. */
	at = place_fd(peer_fd, 0, 100);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	tiny = t_memfd(100);
	at = place_fd(tiny, 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	close(tiny);
	/* Its header claims a ring larger than the range it named: the
	 * rest would be read from its pool. */
	at = place_fd(peer_fd, 0, part);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	at = place_fd(peer_fd, 0, big_part - pg);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	/* No channel there: its pool, garbage. */
	at = place_fd(peer_fd, big_part, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	/* Our own part, handed back as its own (same file, overlapping). */
	at = place_fd(own_fd, 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	/* Not a memfd; a memfd not sealed against shrinking. */
	plain = memfd_create("unsealed", MFD_CLOEXEC);
	assert_true(plain >= 0);
	assert_int_equal(ftruncate(plain, (off_t)big_part), 0);
	at = place_fd(plain, 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	close(plain);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	at = place_fd(p[0], 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EPROTO);
	/* The right range, with a pipe for its link. */
	at = place_fd(peer_fd, 0, big_part);
	assert_int_equal(ism_chan_connect_at(a, &at, p[1]), -EPROTO);
	close(p[0]);
	/* Options. */
	at = place_fd(peer_fd, 0, 0);
	at.size = 4;
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EINVAL);
	at = place_fd(-1, 0, 0);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()), -EBADF);

	/* After all that, the truth connects, once. */
	at = place_fd(peer_fd, 0, big_part);
	assert_int_equal(ism_chan_connect_at(a, &at, ism_chan_export_link(b)),
			 0);
	at = place_fd(own_fd, 0, part);
	assert_int_equal(ism_chan_connect_at(b, &at, ism_chan_export_link(a)),
			 0);
	at = place_fd(peer_fd, 0, big_part);
	assert_int_equal(ism_chan_connect_at(a, &at, seqpacket_end()),
			 -EALREADY);
	/* ... and the refused second connect left the first working. */
	assert_int_equal(ism_chan_send(b, "hello", 6, 0), 0);
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), 0), 6);
	assert_string_equal(buf, "hello");
	assert_int_equal(ism_chan_send(a, "back", 5, 0), 0);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), 5);
	assert_string_equal(buf, "back");
	/* Its pool, past its part, was never written by either side. */
	assert_true(untouched(peer_fd, big_part, big_part + POOL_LEN));
	assert_true(untouched(own_fd, part, 2 * part));
	ism_chan_close(a);
	ism_chan_close(b);
	close(peer_fd);
	close(own_fd);
}

/* A second connect is refused and leaves the first one working (it
 * used to drop the channel's receiving ring on the way out). */
static void test_local_connect_twice(void **state)
{
	struct ism_chan_opts o = opts(RING);
	struct ism_chan *a, *b;
	int fa[2], fb[2];
	char buf[8];

	(void)state;
	assert_int_equal(ism_chan_local_create(&o, &a), 0);
	assert_int_equal(ism_chan_local_create(&o, &b), 0);
	assert_int_equal(ism_chan_local_export(a, fa), 0);
	assert_int_equal(ism_chan_local_export(b, fb), 0);
	assert_int_equal(ism_chan_local_connect(a, dup(fb[0]), fb[1]), 0);
	assert_int_equal(ism_chan_local_connect(b, fa[0], fa[1]), 0);
	assert_int_equal(ism_chan_local_connect(a, fb[0], seqpacket_end()),
			 -EALREADY);
	assert_int_equal(ism_chan_send(b, "still", 6, 0), 0);
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), 0), 6);
	assert_string_equal(buf, "still");
	ism_chan_close(a);
	ism_chan_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_place_len),
		cmocka_unit_test(test_device_in_one_region),
		cmocka_unit_test(test_placed_and_local),
		cmocka_unit_test(test_create_at_refuses),
		cmocka_unit_test(test_connect_at_refuses),
		cmocka_unit_test(test_local_connect_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
