/* SPDX-License-Identifier: MIT */
/*
 * A hostile peer against a channel's doorbell (lib/chan/chan.c): the
 * links, the sleep flags in its memory, and the flags in its header.
 *
 *  - It shares the open file description of the link we kick it on (it
 *    made that socket), turns O_NONBLOCK off, never reads, and claims to
 *    fall asleep again after every message: each of our publications
 *    kicks, into a full socket, and none may block.
 *  - It floods the link we sleep on with kicks (and fds, where the
 *    kernel still lets it) while we sleep in recv: we wake, look, sleep
 *    again, receive its real message when it comes, and keep no fd of
 *    its.
 *  - It claims to fence when it arms (CHAN_F_FENCE) and does not: that
 *    can only delay its own wake-ups; our calls still return.
 *
 * Every wait here is bounded (alarm): a block is a failure, not a hang.
 */
#include "t_daemon.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING 4096u
/* Offsets in a channel region (lib/chan/chan.c, lib/ring/ring.c). */
#define HDR_FLAGS     36u
#define CONS_AREA     64u
#define CONS_IDX      (CONS_AREA + 0u)
#define CONS_WAKE_SEQ (CONS_AREA + 64u)
#define PROD_IDX      (256u + 64u)

static struct ism_chan_opts opts(void)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = RING,
				   .spin_us = ISM_CHAN_NO_SPIN };

	return o;
}

/* A writable view of a region we were handed read-only: what its owner
 * can do to it. */
static uint8_t *writable(int ro_fd, size_t len)
{
	char path[64];
	uint8_t *m;
	int rw;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", ro_fd);
	rw = open(path, O_RDWR | O_CLOEXEC);
	assert_true(rw >= 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	close(rw);
	return m;
}

static void on_alarm(int sig)
{
	(void)sig;
	/* Only async-signal-safe calls: a blocked call is the failure. */
	static const char msg[] = "doorbell_hostile: blocked (alarm)\n";

	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

/*
 * a is the hostile side (a real channel end we never drive, so it never
 * reads its link), b the honest one.  *@evil: a's region, writable;
 * *@bview: b's region as a sees it; *@a_link: a copy of the link end a
 * gave b (b kicks a on it); *@b_link: a copy of the end b gave a (a
 * kicks b on it).
 */
struct hostile {
	struct ism_chan *a, *b;
	uint8_t *evil;
	const uint8_t *bview;
	int a_link, b_link;
};

static void hostile_pair(struct hostile *h, bool claim_fence)
{
	struct ism_chan_opts o = opts();
	int fa[2], fb[2];
	void *m;

	assert_int_equal(ism_chan_local_create(&o, &h->a), 0);
	assert_int_equal(ism_chan_local_create(&o, &h->b), 0);
	assert_int_equal(ism_chan_local_export(h->a, fa), 0);
	assert_int_equal(ism_chan_local_export(h->b, fb), 0);
	h->evil = writable(fa[0], 4096 + RING);
	m = mmap(NULL, 4096 + RING, PROT_READ, MAP_SHARED, fb[0], 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	h->bview = m;
	/* Before b reads a's header: the word b decides by. */
	if (claim_fence)
		h->evil[HDR_FLAGS] |= 1;
	else
		h->evil[HDR_FLAGS] &= (uint8_t)~1u;
	h->a_link = dup(fa[1]);
	h->b_link = dup(fb[1]);
	assert_true(h->a_link >= 0 && h->b_link >= 0);
	assert_int_equal(ism_chan_local_connect(h->b, fa[0], fa[1]), 0);
	assert_int_equal(ism_chan_local_connect(h->a, fb[0], fb[1]), 0);
}

static void hostile_free(struct hostile *h)
{
	ism_chan_close(h->a);
	ism_chan_close(h->b);
	close(h->a_link);
	close(h->b_link);
	munmap(h->evil, 4096 + RING);
	munmap((void *)(uintptr_t)h->bview, 4096 + RING);
}

/* Our kicks go into a socket whose file description the peer shares
 * with O_NONBLOCK off, and that it never reads: each send must return,
 * blocking or not. */
static void kicks_never_block(bool claim_fence, int flags)
{
	struct hostile h;
	uint8_t msg[64] = { 0 };
	uint32_t seq = 1;
	int fl, kicks_refused = 0;

	hostile_pair(&h, claim_fence);
	fl = fcntl(h.a_link, F_GETFL);
	assert_int_equal(fcntl(h.a_link, F_SETFL, fl & ~O_NONBLOCK), 0);
	alarm(60);
	for (int i = 0; i < 100000; i++) {
		uint64_t prod;
		int r;

		/* "Asleep again": a new odd sequence for every message,
		 * and everything consumed, so b publishes (and kicks)
		 * every time and never runs out of room. */
		seq += 2;
		memcpy(h.evil + CONS_WAKE_SEQ, &seq, sizeof(seq));
		memcpy(&prod, h.bview + PROD_IDX, sizeof(prod));
		memcpy(h.evil + CONS_IDX, &prod, sizeof(prod));
		r = ism_chan_send(h.b, msg, sizeof(msg), flags);
		if (r == -EAGAIN)
			kicks_refused++;
		else
			assert_int_equal(r, 0);
	}
	alarm(0);
	/* Its link was full after a few hundred: the rest of the kicks
	 * were refused at once, not waited for. */
	(void)kicks_refused;
	hostile_free(&h);
}

static void test_kicks_never_block(void **state)
{
	(void)state;
	kicks_never_block(false, 0);
	kicks_never_block(false, ISM_F_DONTWAIT);
}

static void test_false_fence_claim(void **state)
{
	(void)state;
	kicks_never_block(true, 0);
}

/* ---- a flood of kicks (and fds) while we sleep ---- */

struct flood {
	int link;
	atomic_bool stop;
	unsigned tries, sent, fds_sent;
};

static void *flooder(void *arg)
{
	struct flood *f = arg;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	while (!atomic_load(&f->stop)) {
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = "k", .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

		if (f->tries++ % 16 == 0 && devnull >= 0) {
			/* An fd along: refused where the kernel can. */
			struct cmsghdr *c;

			m.msg_control = u.b;
			m.msg_controllen = sizeof(u.b);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &devnull, sizeof(int));
		}
		if (sendmsg(f->link, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) {
			f->sent++;
			f->fds_sent += m.msg_control != NULL;
		} else if (errno == EAGAIN) {
			t_msleep(1); /* full: let it drain some */
		}
	}
	if (devnull >= 0)
		close(devnull);
	return NULL;
}

static void test_kick_flood(void **state)
{
	struct hostile h;
	struct flood f = { 0 };
	pthread_t th;
	uint8_t buf[64];
	int fds0;

	(void)state;
	hostile_pair(&h, false);
	fds0 = t_count_fds(getpid());
	f.link = h.b_link;
	atomic_init(&f.stop, false);
	assert_int_equal(pthread_create(&th, NULL, flooder, &f), 0);
	alarm(60);
	for (int round = 0; round < 20; round++) {
		/* b sleeps (no spinning) while the flood goes on; a's real
		 * message comes after a while. */
		t_msleep(round % 3 == 0 ? 50 : 5);
		assert_int_equal(ism_chan_send(h.a, "real", 4, 0), 0);
		assert_int_equal(ism_chan_recv(h.b, buf, sizeof(buf), 0), 4);
		assert_memory_equal(buf, "real", 4);
		/* And with nothing to receive, DONTWAIT says so. */
		assert_int_equal(
			ism_chan_recv(h.b, buf, sizeof(buf), ISM_F_DONTWAIT),
			-EAGAIN);
	}
	atomic_store(&f.stop, true);
	pthread_join(th, NULL);
	alarm(0);
	assert_true(f.sent > 0);
	/* None of its fds stayed with us (closed at once, or refused). */
	assert_true(T_WAIT_FOR(t_count_fds(getpid()) <= fds0, 5000));
	hostile_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kicks_never_block),
		cmocka_unit_test(test_false_fence_claim),
		cmocka_unit_test(test_kick_flood),
	};

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
