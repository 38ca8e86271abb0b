/* SPDX-License-Identifier: MIT */
/*
 * Channels: in one process and between processes, over ismd and without
 * it; both copy and zero-copy APIs, batches, blocking and non-blocking
 * (with the channel's fd in a poll loop), full duplex with a sending and a
 * receiving thread per side, orderly close, a peer killed with messages
 * in flight (every committed message arrives, then -EPIPE), a peer
 * scribbling over its own region while we receive, and channels placed
 * in regions their callers hold.
 */
#include "t_daemon.h"
#include "util/util.h"
#include "wire/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#endif

static struct ism_chan_opts opts(uint32_t ring)
{
	struct ism_chan_opts o = { .size = sizeof(o), .ring_size = ring };

	return o;
}

/* Two local channel ends in this process. */
static void local_pair(uint32_t ring, struct ism_chan **a, struct ism_chan **b)
{
	struct ism_chan_opts o = opts(ring);
	int fa[2], fb[2];

	assert_int_equal(ism_chan_local_create(&o, a), 0);
	assert_int_equal(ism_chan_local_create(&o, b), 0);
	assert_int_equal(ism_chan_local_export(*a, fa), 0);
	assert_int_equal(ism_chan_local_export(*b, fb), 0);
	assert_int_equal(ism_chan_local_connect(*a, fb[0], fb[1]), 0);
	assert_int_equal(ism_chan_local_connect(*b, fa[0], fa[1]), 0);
}

/* A message's content is a function of its sequence number. */
static size_t fill(uint8_t *buf, uint64_t seq, size_t max)
{
	size_t len = 8 + (size_t)((seq * 2654435761u) % (max - 8));

	memcpy(buf, &seq, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i);
	return len;
}

static void check(const uint8_t *buf, size_t len, uint64_t seq, size_t max)
{
	uint64_t got;
	uint8_t want[4096];

	assert_true(len >= 8);
	memcpy(&got, buf, 8);
	assert_int_equal(got, seq);
	assert_int_equal(len, fill(want, seq, max));
	assert_memory_equal(buf, want, len);
}

static void test_local_basics(void **state)
{
	struct ism_chan *a, *b;
	char buf[8192];
	const void *p;
	void *w;
	size_t len;

	(void)state;
	local_pair(4096, &a, &b);
	assert_int_equal(ism_chan_max_msg(a), 2040);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	assert_int_equal(ism_chan_send(a, "ping", 4, 0), 0);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(ism_chan_send(b, "pong", 4, 0), 0);
	assert_int_equal(ism_chan_recv(a, buf, 2, 0), -EMSGSIZE);
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), 0), 4);
	/* Zero-copy both ways. */
	assert_int_equal(ism_chan_reserve(a, 5, &w, 0), 0);
	memcpy(w, "in-pl", 5);
	assert_int_equal(ism_chan_commit(a, 0), 0);
	assert_int_equal(ism_chan_peek(b, &p, &len, 0), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "in-pl", 5);
	assert_int_equal(ism_chan_release(b), 0);
	/* MORE defers publication until flush. */
	assert_int_equal(ism_chan_send(a, "x", 1, ISM_F_MORE), 0);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	assert_int_equal(ism_chan_flush(a), 0);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT), 1);
	/* Batches. */
	{
		struct iovec out[4] = {
			{ "1", 1 }, { "22", 2 }, { "333", 3 }, { "4444", 4 }
		};
		char r[4][8];
		struct iovec in[4] = {
			{ r[0], 8 }, { r[1], 8 }, { r[2], 8 }, { r[3], 8 }
		};

		assert_int_equal(ism_chan_send_batch(a, out, 4, 0), 4);
		assert_int_equal(ism_chan_recv_batch(b, in, 4, 0), 4);
		assert_int_equal(in[3].iov_len, 4);
		assert_memory_equal(r[3], "4444", 4);
	}
	/* Too large. */
	assert_int_equal(ism_chan_send(a, buf, 2041, 0), -EMSGSIZE);
	/* Orderly close: drained, then -ESHUTDOWN; b may still send. */
	assert_int_equal(ism_chan_send(a, "bye", 3, 0), 0);
	assert_int_equal(ism_chan_shutdown(a), 0);
	assert_int_equal(ism_chan_send(a, "no", 2, 0), -EPIPE);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), 3);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), -ESHUTDOWN);
	assert_int_equal(ism_chan_send(b, "late", 4, 0), 0);
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), 0), 4);
	ism_chan_close(a);
	/* a is gone entirely now: b's sends fail. */
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), -ESHUTDOWN);
	ism_chan_close(b);
}

/* The poll loop: DONTWAIT, then the fd says when to try again. */
static void test_poll_loop(void **state)
{
	struct ism_chan *a, *b;
	struct pollfd p;
	char buf[64];

	(void)state;
	local_pair(4096, &a, &b);
	p.fd = ism_chan_fd(b);
	p.events = POLLIN;
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	assert_int_equal(poll(&p, 1, 0), 0); /* quiet */
	assert_int_equal(ism_chan_send(a, "wake", 4, 0), 0);
	assert_int_equal(poll(&p, 1, 5000), 1); /* kicked: b was armed */
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT), 4);
	assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	assert_int_equal(poll(&p, 1, 0), 0); /* quiet again */
	/* Full ring: the sender is told when room appears. */
	p.fd = ism_chan_fd(a);
	while (ism_chan_send(a, buf, 64, ISM_F_DONTWAIT) == 0)
		;
	assert_int_equal(ism_chan_send(a, buf, 64, ISM_F_DONTWAIT), -EAGAIN);
	for (int i = 0; i < 20; i++)
		assert_int_equal(ism_chan_recv(b, buf, sizeof(buf), 0), 64);
	/* The receiver also publishes when it runs dry. */
	while (ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT) == 64)
		;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(ism_chan_send(a, buf, 64, ISM_F_DONTWAIT), 0);
	ism_chan_close(a);
	ism_chan_close(b);
}

/* ---- between processes, over ismd ---- */

struct peer_args {
	int up, down; /* pipes: tokens and signals */
	uint64_t count;
	uint32_t ring;
	int mode;
};

/* Child: create, exchange tokens, then per mode: echo, send, or die. */
static int chan_child(void *arg)
{
	struct peer_args *a = arg;
	struct ism_conn *c;
	struct ism_chan *ch;
	struct ism_chan_opts o = opts(a->ring);
	struct ism_token mine, theirs;
	static uint8_t buf[4096];

	if (ism_conn_open(t_group.sock, NULL, &c) < 0 ||
	    ism_chan_create(c, &o, &ch) < 0)
		return 10;
	ism_chan_token(ch, &mine);
	if (write(a->up, &mine, sizeof(mine)) != sizeof(mine) ||
	    read(a->down, &theirs, sizeof(theirs)) != sizeof(theirs) ||
	    ism_chan_connect(ch, &theirs) < 0)
		return 11;
	if (a->mode == 0) { /* echo until shutdown */
		for (;;) {
			ssize_t n = ism_chan_recv(ch, buf, sizeof(buf), 0);

			if (n == -ESHUTDOWN)
				break;
			if (n < 0)
				return 12;
			if (ism_chan_send(ch, buf, (size_t)n, 0) < 0)
				return 13;
		}
		ism_chan_shutdown(ch);
	} else { /* send @count messages, report, then wait to be killed */
		for (uint64_t i = 0; i < a->count; i++) {
			size_t len = fill(buf, i, 1000);

			if (ism_chan_send(ch, buf, len, 0) < 0)
				return 14;
		}
		if (write(a->up, "y", 1) != 1)
			return 15;
		pause();
	}
	ism_chan_close(ch);
	ism_conn_close(c);
	return 0;
}

static pid_t spawn_peer(struct peer_args *a, struct ism_conn *c,
			struct ism_chan **ch)
{
	struct ism_chan_opts o = opts(a->ring);
	struct ism_token mine, theirs;
	int up[2], down[2];
	pid_t pid;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	a->up = up[1];
	a->down = down[0];
	pid = t_fork(chan_child, a);
	assert_int_equal(ism_chan_create(c, &o, ch), 0);
	ism_chan_token(*ch, &mine);
	assert_int_equal(read(up[0], &theirs, sizeof(theirs)), sizeof(theirs));
	assert_int_equal(write(down[1], &mine, sizeof(mine)), sizeof(mine));
	assert_int_equal(ism_chan_connect(*ch, &theirs), 0);
	a->up = up[0]; /* now ours to read */
	close(up[1]);
	close(down[0]);
	close(down[1]);
	return pid;
}

static void test_echo_over_ismd(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "echo-parent", 0);
	struct peer_args a = { .ring = 8192, .mode = 0 };
	struct ism_chan *ch;
	static uint8_t buf[4096], in[4096];
	pid_t pid = spawn_peer(&a, c, &ch);

	(void)state;
	/* A small ring: plenty of full and empty moments, both ways. */
	for (uint64_t i = 0; i < 20000; i++) {
		size_t len = fill(buf, i, 1500);
		ssize_t n;

		assert_int_equal(ism_chan_send(ch, buf, len, 0), 0);
		n = ism_chan_recv(ch, in, sizeof(in), 0);
		assert_int_equal(n, (ssize_t)len);
		check(in, (size_t)n, i, 1500);
	}
	ism_chan_shutdown(ch);
	assert_int_equal(ism_chan_recv(ch, in, sizeof(in), 0), -ESHUTDOWN);
	assert_int_equal(t_wait(pid), 0);
	ism_chan_close(ch);
	close(a.up);
	ism_conn_close(c);
}

static void test_peer_killed(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "survivor", 0);
	/* A ring large enough to hold everything the child sends. */
	struct peer_args a = { .ring = 4u << 20, .mode = 1, .count = 3000 };
	struct ism_chan *ch;
	static uint8_t in[4096];
	char y;
	pid_t pid = spawn_peer(&a, c, &ch);
	uint64_t got = 0;
	ssize_t n;

	(void)state;
	/* All committed: kill it before we read a single one. */
	assert_int_equal(read(a.up, &y, 1), 1);
	t_kill(pid, SIGKILL);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	while ((n = ism_chan_recv(ch, in, sizeof(in), 0)) >= 0) {
		check(in, (size_t)n, got, 1000);
		got++;
	}
	assert_int_equal(n, -EPIPE);
	assert_int_equal(got, a.count); /* every one, intact */
	assert_int_equal(ism_chan_send(ch, "x", 1, 0), -EPIPE);
	ism_chan_close(ch);
	close(a.up);
	ism_conn_close(c);
}

/* ---- full duplex: a sending and a receiving thread on each side ---- */

struct duplex {
	struct ism_chan *ch;
	uint64_t count;
	int failures;
};

static void *dx_send(void *arg)
{
	struct duplex *d = arg;
	uint8_t buf[1024];

	for (uint64_t i = 0; i < d->count; i++) {
		size_t len = fill(buf, i, 1024);

		if (ism_chan_send(d->ch, buf, len, 0) < 0) {
			d->failures++;
			break;
		}
	}
	return NULL;
}

static void *dx_recv(void *arg)
{
	struct duplex *d = arg;
	uint8_t buf[1024], want[1024];

	for (uint64_t i = 0; i < d->count; i++) {
		ssize_t n = ism_chan_recv(d->ch, buf, sizeof(buf), 0);

		if (n < 0 || (size_t)n != fill(want, i, 1024) ||
		    memcmp(buf, want, (size_t)n)) {
			d->failures++;
			break;
		}
	}
	return NULL;
}

static int duplex_child(void *arg)
{
	int *sock = arg;
	struct ism_chan_opts o = opts(4096);
	struct ism_chan *ch;
	int fds[ISM_WIRE_MAX_FDS], mine[2];
	unsigned nfds;
	uint8_t b[8];
	struct duplex d = { .count = 100000 };
	pthread_t s, r;

	/* No spinning: every wait is a sleep on the shared link. */
	o.spin_us = ISM_CHAN_NO_SPIN;
	if (ism_chan_local_create(&o, &ch) < 0 ||
	    ism_chan_local_export(ch, mine) < 0 ||
	    ism_wire_send(*sock, "f", 1, mine, 2, 0) < 0 ||
	    ism_wire_recv(*sock, b, sizeof(b), fds, &nfds, 0) != 1 ||
	    nfds != 2 || ism_chan_local_connect(ch, fds[0], fds[1]) < 0)
		return 20;
	close(mine[0]);
	close(mine[1]);
	d.ch = ch;
	pthread_create(&s, NULL, dx_send, &d);
	pthread_create(&r, NULL, dx_recv, &d);
	pthread_join(s, NULL);
	pthread_join(r, NULL);
	ism_chan_close(ch);
	return d.failures ? 21 : 0;
}

static void test_duplex_threads_local(void **state)
{
	struct ism_chan_opts o = opts(4096);
	struct ism_chan *ch;
	int sv[2], fds[ISM_WIRE_MAX_FDS], mine[2];
	unsigned nfds;
	uint8_t b[8];
	struct duplex d = { .count = 100000 };
	pthread_t s, r;
	pid_t pid;

	(void)state;
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = t_fork(duplex_child, &sv[1]);
	o.spin_us = ISM_CHAN_NO_SPIN;
	assert_int_equal(ism_chan_local_create(&o, &ch), 0);
	assert_int_equal(ism_chan_local_export(ch, mine), 0);
	assert_int_equal(ism_wire_recv(sv[0], b, sizeof(b), fds, &nfds, 0), 1);
	assert_int_equal(nfds, 2);
	assert_int_equal(ism_wire_send(sv[0], "f", 1, mine, 2, 0), 0);
	close(mine[0]);
	close(mine[1]);
	assert_int_equal(ism_chan_local_connect(ch, fds[0], fds[1]), 0);
	d.ch = ch;
	pthread_create(&s, NULL, dx_send, &d);
	pthread_create(&r, NULL, dx_recv, &d);
	pthread_join(s, NULL);
	pthread_join(r, NULL);
	assert_int_equal(d.failures, 0);
	assert_int_equal(t_wait(pid), 0);
	ism_chan_close(ch);
	close(sv[0]);
	close(sv[1]);
}

/* ---- a hostile peer scribbling over its own region ---- */
/* A writable view of a region we were given read-only: what its owner
 * (or a hostile one) can do to it. */
static uint8_t *hostile_view(int ro_fd, size_t len)
{
	char path[64];
	uint8_t *m;
	int rw;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", ro_fd);
	rw = open(path, O_RDWR);
	assert_true(rw >= 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	close(rw); /* the mapping stays */
	return m;
}

/* A sealed memfd of @len bytes holding @len bytes of @byte. */
static int sealed_memfd(size_t len, uint8_t byte, bool seal)
{
	uint8_t page[4096];
	int fd = memfd_create("not-a-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	memset(page, byte, sizeof(page));
	for (size_t off = 0; off < len; off += sizeof(page))
		assert_true(pwrite(fd, page, ISM_MIN(sizeof(page), len - off),
				   (off_t)off) >= 0);
	if (seal)
		assert_int_equal(
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
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

/* Whatever the other side hands over is checked before it is used; a
 * refused connect leaves the channel able to connect properly. */
static void test_connect_refuses_bad_regions(void **state)
{
	struct ism_chan_opts o = opts(8192);
	struct ism_chan *a, *b;
	int fb[2], p[2];
	uint8_t *evil;

	(void)state;
	assert_int_equal(ism_chan_local_create(&o, &a), 0);
	/* Too small, unsealed, garbage, a pipe for a link. */
	assert_int_equal(ism_chan_local_connect(a, sealed_memfd(100, 0, true),
						seqpacket_end()),
			 -EPROTO);
	assert_int_equal(ism_chan_local_connect(a,
						sealed_memfd(16384, 0, false),
						seqpacket_end()),
			 -EPROTO);
	assert_int_equal(ism_chan_local_connect(a,
						sealed_memfd(16384, 0xa5, true),
						seqpacket_end()),
			 -EPROTO);
	assert_int_equal(ism_chan_local_create(&o, &b), 0);
	assert_int_equal(ism_chan_local_export(b, fb), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(ism_chan_local_connect(a, dup(fb[0]), p[0]), -EPROTO);
	close(p[1]);
	/* A ring size the header does not agree with. */
	evil = hostile_view(fb[0], 4096);
	evil[32] ^= 1; /* chan_hdr.ring_size */
	assert_int_equal(ism_chan_local_connect(a, dup(fb[0]), dup(fb[1])),
			 -EPROTO);
	evil[32] ^= 1;
	munmap(evil, 4096);
	assert_int_equal(ism_chan_local_connect(a, fb[0], fb[1]), 0);
	ism_chan_close(a);
	ism_chan_close(b);
}

static void test_connect_refuses_plain_region(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "chan-vs-region", 0);
	struct ism_conn *owner = t_connect(&t_group, "plain-owner", 0);
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .max_access = ISM_ACCESS_RO };
	struct ism_region *r;
	struct ism_chan *ch;
	struct ism_token tok;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 65536, &ao, &r), 0);
	ism_region_token(r, &tok);
	assert_int_equal(ism_chan_create(c, NULL, &ch), 0);
	assert_int_equal(ism_chan_connect(ch, &tok), -EPROTO);
	memset(&tok, 0x5a, sizeof(tok));
	assert_int_equal(ism_chan_connect(ch, &tok), -ENOENT);
	ism_chan_close(ch);
	ism_region_close(r);
	ism_conn_close(owner);
	ism_conn_close(c);
}

/*
 * Placed channels over ismd: a driver's ring part and its buffers in the
 * one region it grants a device, the device's part in a region of its
 * own; each side connects with the other's region handle and offset.
 * Handles that cannot serve are refused: a read-only one for our own
 * part, a no-fd one, a range outside the region.
 */
static void test_placed_regions(void **state)
{
	struct ism_conn *cd = t_connect(&t_group, "placed-driver", 0);
	struct ism_conn *cv = t_connect(&t_group, "placed-device", 0);
	struct ism_chan_opts o = opts(8192);
	size_t part = ism_chan_place_len(8192), pool_len = 65536;
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .max_access = ISM_ACCESS_RW };
	struct ism_region *drv_r, *dev_r, *drv_at_dev, *dev_at_drv, *nofd;
	struct ism_chan_place at = { .size = sizeof(at),
				     .kind = ISM_CHAN_PLACE_REGION };
	struct ism_chan *drv, *dev;
	struct ism_token tok;
	uint8_t *drv_map, *dev_map;
	char buf[64];

	(void)state;
	assert_int_equal(ism_region_alloc(cd, part + pool_len, &ao, &drv_r), 0);
	ao.max_access = ISM_ACCESS_RO;
	assert_int_equal(ism_region_alloc(cv, part, &ao, &dev_r), 0);
	at.region = drv_r;
	assert_int_equal(ism_chan_create_at(&at, &o, &drv), 0);
	at.region = dev_r;
	assert_int_equal(ism_chan_create_at(&at, &o, &dev), 0);

	/* The device: the driver's region read-write (for the buffers). */
	ism_region_token(drv_r, &tok);
	assert_int_equal(
		ism_region_attach(cv, &tok, ISM_ACCESS_RW, 0, &dev_at_drv), 0);
	ism_region_token(dev_r, &tok);
	assert_int_equal(
		ism_region_attach(cd, &tok, ISM_ACCESS_RO, 0, &drv_at_dev), 0);
	{
		struct ism_chan_opts big = opts(65536);
		struct ism_chan *no;

		at.region = drv_at_dev; /* read-only: not for our own part */
		assert_int_equal(ism_chan_create_at(&at, &o, &no), -EACCES);
		at.region = dev_at_drv;
		at.offset = part; /* its pool, too short for a part */
		assert_int_equal(ism_chan_create_at(&at, &big, &no), -ENOSPC);
		at.offset = 0;
	}
	at.region = drv_at_dev;
	at.offset = 1ull << 30; /* outside its region */
	assert_int_equal(
		ism_chan_connect_at(drv, &at, ism_chan_export_link(dev)),
		-EINVAL);
	at.offset = 0;
	/* That took the link: the device hands over a fresh one (a new
	 * channel). */
	ism_chan_close(dev);
	at.region = dev_r;
	assert_int_equal(ism_chan_create_at(&at, &o, &dev), 0);
	/* No fd, nothing to map. */
	{
		struct ism_conn *c3 = t_connect(&t_group, "placed-nofd", 0);
		int sv[2];

		ism_region_token(dev_r, &tok);
		assert_int_equal(ism_region_attach(c3, &tok, ISM_ACCESS_RO,
						   ISM_ATTACH_NOFD, &nofd),
				 0);
		assert_int_equal(socketpair(AF_UNIX,
					    SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
					    sv),
				 0);
		close(sv[0]);
		at.region = nofd;
		assert_int_equal(ism_chan_connect_at(drv, &at, sv[1]), -EBADF);
		ism_region_close(nofd);
		ism_conn_close(c3);
	}
	at.region = drv_at_dev;
	at.len = part;
	assert_int_equal(
		ism_chan_connect_at(drv, &at, ism_chan_export_link(dev)), 0);
	at.region = dev_at_drv;
	assert_int_equal(
		ism_chan_connect_at(dev, &at, ism_chan_export_link(drv)), 0);

	/* A buffer in the driver's region after its part, by offset. */
	assert_int_equal(ism_region_map(drv_r, (void **)&drv_map), 0);
	assert_int_equal(ism_region_map(dev_at_drv, (void **)&dev_map), 0);
	for (int i = 0; i < 100; i++) {
		uint64_t off = part + (uint64_t)(i % 64) * 1024, got;
		int n = snprintf((char *)drv_map + off, 64, "job %d", i);

		assert_int_equal(ism_chan_send(drv, &off, sizeof(off), 0), 0);
		assert_int_equal(ism_chan_recv(dev, &got, sizeof(got), 0),
				 (ssize_t)sizeof(got));
		assert_true(got >= part && got < part + pool_len - 64);
		dev_map[got] = 'J';
		assert_int_equal(ism_chan_send(dev, &got, sizeof(got), 0), 0);
		assert_int_equal(ism_chan_recv(drv, &got, sizeof(got), 0),
				 (ssize_t)sizeof(got));
		assert_int_equal(got, off);
		memcpy(buf, drv_map + off, (size_t)n + 1);
		assert_memory_equal(buf, "Job ", 4);
	}
	ism_chan_close(drv);
	assert_int_equal(ism_chan_recv(dev, buf, sizeof(buf), 0), -ESHUTDOWN);
	ism_chan_close(dev);
	ism_region_close(drv_at_dev);
	ism_region_close(dev_at_drv);
	ism_region_close(drv_r);
	ism_region_close(dev_r);
	ism_conn_close(cd);
	ism_conn_close(cv);
}

#ifndef UNDER_TSAN

/* A connected local pair, and a writable view of a's region: what a
 * hostile a can scribble on while b receives. */
static uint8_t *hostile_pair(const struct ism_chan_opts *o, struct ism_chan **a,
			     struct ism_chan **b, size_t len)
{
	int fa[2], fb[2];
	uint8_t *evil;

	assert_int_equal(ism_chan_local_create(o, a), 0);
	assert_int_equal(ism_chan_local_create(o, b), 0);
	assert_int_equal(ism_chan_local_export(*a, fa), 0);
	assert_int_equal(ism_chan_local_export(*b, fb), 0);
	evil = hostile_view(fa[0], len);
	assert_int_equal(ism_chan_local_connect(*a, fb[0], fb[1]), 0);
	assert_int_equal(ism_chan_local_connect(*b, fa[0], fa[1]), 0);
	return evil;
}

static void test_hostile_peer_region(void **state)
{
	struct ism_chan_opts o = opts(8192);
	struct ism_chan *a, *b;
	uint8_t *evil, buf[8192];
	unsigned seed = 17;
	int protos = 0;

	(void)state;
	for (int round = 0; round < 100; round++) {
		evil = hostile_pair(&o, &a, &b, 4096 * 4);
		for (int i = 0; i < 2000; i++) {
			ssize_t n;

			if (i % 3 == 0)
				ism_chan_send(a, buf, (size_t)(i % 900),
					      ISM_F_DONTWAIT);
			/* Scribble: indices, headers, data. */
			evil[256 + 64 + (rand_r(&seed) % 8)] =
				(uint8_t)rand_r(&seed);
			evil[256 + 192 + (size_t)(rand_r(&seed) % 8192)] =
				(uint8_t)rand_r(&seed);
			n = ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT);
			if (n == -EPROTO) {
				protos++;
				break;
			}
			assert_true(n >= 0 || n == -EAGAIN);
			assert_true(n <= (ssize_t)ism_chan_max_msg(b));
		}
		munmap(evil, 4096 * 4);
		ism_chan_close(a);
		ism_chan_close(b);
	}
	assert_true(protos > 0);
}

/* The same, with the scribbling in another thread while we receive: what
 * the consumer reads may change between any two of its loads. */
struct scribbler {
	uint8_t *evil;
	size_t len;
	atomic_bool stop;
};

static void *scribble(void *arg)
{
	struct scribbler *sc = arg;
	unsigned seed = 99;

	while (!atomic_load_explicit(&sc->stop, memory_order_relaxed)) {
		size_t at = (size_t)rand_r(&seed) % sc->len;

		/* Mostly the indices and record headers, sometimes anywhere. */
		if (rand_r(&seed) % 4)
			at = 256 + (size_t)(rand_r(&seed) % 512);
		((volatile uint8_t *)sc->evil)[at] = (uint8_t)rand_r(&seed);
	}
	return NULL;
}

static void test_hostile_peer_concurrent(void **state)
{
	struct ism_chan_opts o = opts(8192);
	struct ism_chan *a, *b;
	struct scribbler sc = { .len = 4096 * 3 };
	pthread_t th;
	int protos = 0;
	uint8_t buf[8192];

	(void)state;
	for (int round = 0; round < 20; round++) {
		sc.evil = hostile_pair(&o, &a, &b, sc.len);
		atomic_store(&sc.stop, false);
		assert_int_equal(pthread_create(&th, NULL, scribble, &sc), 0);
		for (int i = 0; i < 20000; i++) {
			const void *p;
			size_t len;
			ssize_t n;

			ism_chan_send(a, buf, (size_t)(i % 1000),
				      ISM_F_DONTWAIT);
			if (i & 1) {
				n = ism_chan_recv(b, buf, sizeof(buf),
						  ISM_F_DONTWAIT);
			} else {
				n = ism_chan_peek(b, &p, &len, ISM_F_DONTWAIT);
				if (n == 1) {
					/* In place: inside the peer's ring. */
					assert_true(len <= ism_chan_max_msg(b));
					memcpy(buf, p, len);
					assert_int_equal(ism_chan_release(b),
							 0);
					n = (ssize_t)len;
				}
			}
			if (n == -EPROTO) {
				protos++;
				/* Broken for good, and says so again. */
				assert_int_equal(ism_chan_recv(b, buf,
							       sizeof(buf),
							       ISM_F_DONTWAIT),
						 -EPROTO);
				break;
			}
			assert_true(n >= 0 || n == -EAGAIN);
			assert_true(n <= (ssize_t)ism_chan_max_msg(b));
		}
		atomic_store(&sc.stop, true);
		pthread_join(th, NULL);
		munmap(sc.evil, sc.len);
		ism_chan_close(a);
		ism_chan_close(b);
	}
	assert_true(protos > 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_basics),
		cmocka_unit_test(test_poll_loop),
		cmocka_unit_test(test_echo_over_ismd),
		cmocka_unit_test(test_peer_killed),
		cmocka_unit_test(test_duplex_threads_local),
		cmocka_unit_test(test_connect_refuses_bad_regions),
		cmocka_unit_test(test_connect_refuses_plain_region),
		cmocka_unit_test(test_placed_regions),
#ifndef UNDER_TSAN /* scribbles on purpose; the other builds run it */
		cmocka_unit_test(test_hostile_peer_region),
		cmocka_unit_test(test_hostile_peer_concurrent),
#endif
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
