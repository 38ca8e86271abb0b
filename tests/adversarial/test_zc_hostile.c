/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy streams against a hostile peer.  The peer is an ism stream
 * whose owner scribbles over its own channel region (which the honest
 * end maps read-only): the payload under a peeked pointer, the producer
 * index, record headers, and the consumer position it keeps for the
 * honest end's ring.  The honest end, in a child process, peeks,
 * touches every byte it was handed, releases, reserves and commits, all
 * non-blocking with a deadline: every call must return one of the
 * contract's answers, no length may reach outside what was handed out,
 * and nothing may crash or hang (ASan build: nothing read out of bounds
 * of the heap either).
 */
#include "t_daemon.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING (64u << 10)

enum scribble {
	S_DATA,	   /* the bytes of messages, while being read */
	S_INDEX,   /* the producer index */
	S_HEADERS, /* record headers: lengths, tags */
	S_CONS,	   /* our consumer position of the honest end's ring */
	S_ALL,	   /* anything anywhere */
	S_COUNT
};

struct honest {
	const char *sock;
	char port[16];
};

static uint64_t now_ms(void)
{
	return ism_now_ns() / 1000000;
}

/* Every answer the zero-copy calls may give a hostile peer's stream. */
static bool allowed(ssize_t r)
{
	return r >= 0 || r == -EAGAIN || r == -EPROTO || r == -ECONNRESET ||
	       r == -EPIPE;
}

/* The honest end: connect, then use the zero-copy calls until the stream
 * breaks, ends, or the deadline passes.  0 if every answer was one the
 * contract allows. */
static int honest_main(void *arg)
{
	struct honest *h = arg;
	struct ism_stream_opts o = { .size = sizeof(o), .ring_size = RING };
	struct ism_conn *c = NULL;
	struct ism_stream *s;
	uint64_t deadline, sum = 0;
	int broken = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(60); /* a hang is a failure, never a stuck test */
	if (ism_conn_open(h->sock, NULL, &c) < 0 ||
	    ism_stream_connect(c, "127.0.0.1", h->port, &o, &s) < 0)
		return 2;
	if (ism_stream_path(s, NULL) != ISM_STREAM_SHM)
		return 3;
	deadline = now_ms() + 3000;
	while (now_ms() < deadline && broken < 3) {
		struct pollfd pf = { ism_stream_fd(s), POLLIN, 0 };
		const void *q;
		void *w;
		ssize_t n = ism_stream_peek(s, &q, ISM_F_DONTWAIT);

		if (!allowed(n))
			return 10;
		if (n > 0) {
			/* Every byte it handed out must be readable. */
			if ((size_t)n > RING)
				return 11;
			for (ssize_t i = 0; i < n; i++)
				sum += ((const volatile uint8_t *)q)[i];
			if (ism_stream_release(s, (size_t)n) != 0)
				return 12;
			/* Nothing peeked now: nothing more to release. */
			if (ism_stream_release(s, 1) != -EINVAL)
				return 16;
		} else if (n < 0 && n != -EAGAIN) {
			broken++;
		} else if (n == 0) {
			broken++; /* EOF: the peer may have shut down */
		}
		n = ism_stream_reserve(s, &w, 3000, ISM_F_DONTWAIT);
		if (!allowed(n))
			return 13;
		if (n > 0) {
			if ((size_t)n > 3000)
				return 14;
			memset(w, 0x5a, (size_t)n);
			n = ism_stream_commit(s, (size_t)n, ISM_F_DONTWAIT);
			if (!allowed(n))
				return 15;
		} else if (n < 0 && n != -EAGAIN) {
			broken++;
		}
		poll(&pf, 1, 5);
	}
	/* Closing never waits on it either. */
	ism_stream_close(s);
	ism_conn_close(c);
	__asm__ __volatile__("" : : "r"(sum));
	return 0;
}

/* Our own channel region, as libism mapped it for us (read-write): the
 * only writable ism memfd mapping in this process while one stream is
 * up. */
static uint8_t *own_region(size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint8_t *found = NULL;
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (!strstr(line, "/memfd:ism:") ||
		    sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[1] != 'w')
			continue;
		found = (uint8_t *)lo;
		*len = hi - lo;
		n++;
	}
	fclose(f);
	assert_int_equal(n, 1);
	return found;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Offsets in a channel region (lib/chan/chan.c, lib/ring/ring.c). */
#define PROD_AREA 256u
#define PROD_IDX  (PROD_AREA + 64u)
#define DATA	  (PROD_AREA + 192u)
#define CONS_IDX  64u

static void scribble(uint8_t *m, size_t len, enum scribble how, uint64_t *seed)
{
	uint64_t r = rnd(seed), v = rnd(seed);
	size_t off;

	switch (how) {
	case S_DATA:
		off = DATA + (size_t)(r % RING);
		m[off] = (uint8_t)v;
		break;
	case S_INDEX:
		/* Back, far ahead, a little ahead, unaligned. */
		off = PROD_IDX;
		switch (r % 4) {
		case 0: v = 0; break;
		case 1: v = ~0ull - (v & 0xffff); break;
		case 2:
			memcpy(&v, m + off, 8);
			v += RING + 8;
			break;
		default:
			memcpy(&v, m + off, 8);
			v += 3;
			break;
		}
		memcpy(m + off, &v, 8);
		break;
	case S_HEADERS: {
		/* A message header with a length that cannot be, just
		 * behind what we published (where the reader is, often),
		 * or anywhere. */
		static const uint32_t lens[] = { RING, RING / 2, 0xffffffffu,
						 0x80000000u, RING / 2 - 7 };
		uint64_t prod, h = (uint64_t)0x2147534du << 32 | /* "MSG!" */
				   lens[v % 5];

		memcpy(&prod, m + PROD_IDX, 8);
		if (r & 1)
			off = DATA + ((size_t)(prod - 8 * (1 + (r >> 1) % 64)) &
				      (RING - 1) & ~(size_t)7);
		else
			off = DATA + ((size_t)(r % RING) & ~(size_t)7);
		memcpy(m + off, &h, 8);
		break;
	}
	case S_CONS: memcpy(m + CONS_IDX, &v, 8); break;
	default: m[r % len] = (uint8_t)v; break;
	}
}

static void hostile_round(enum scribble how)
{
	struct ism_conn *c = t_connect(&t_group, "zc-evil", 0);
	struct ism_stream_opts o = { .size = sizeof(o), .ring_size = RING };
	struct ism_stream_listener *l;
	struct honest h = { .sock = t_group.sock };
	struct ism_stream *s;
	uint64_t seed = 0x9e3779b97f4a7c15ull + (uint64_t)how, t0;
	uint8_t buf[4096], *m;
	size_t len = 0;
	pid_t pid;
	int st;

	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	snprintf(h.port, sizeof(h.port), "%d", ism_stream_listener_port(l));
	pid = t_fork(honest_main, &h);
	assert_true(pid > 0);
	assert_int_equal(ism_stream_accept(l, &s, 0), 0);
	if (ism_stream_path(s, NULL) != ISM_STREAM_SHM) {
		t_kill(pid, SIGKILL);
		t_wait(pid);
		fail_msg("not on shared memory");
	}
	m = own_region(&len);
	assert_true(len >= DATA + RING);
	memset(buf, 0xa5, sizeof(buf));
	t0 = now_ms();
	/* Honest messages to peek at, and scribbles among them. */
	while (now_ms() - t0 < 1500) {
		const void *q;
		ssize_t n;

		n = ism_stream_send(s, buf, 1 + rnd(&seed) % sizeof(buf),
				    ISM_F_DONTWAIT);
		(void)n;
		/* Read what it sends, so its commits have room. */
		while ((n = ism_stream_peek(s, &q, ISM_F_DONTWAIT)) > 0)
			ism_stream_release(s, (size_t)n);
		for (int i = 0; i < 4; i++)
			scribble(m, len, how, &seed);
	}
	st = t_wait(pid);
	ism_stream_close(s);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	if (st != 0)
		fail_msg("scribble %d: the honest end exited with %d", how, st);
}

static void test_hostile_data(void **state)
{
	(void)state;
	hostile_round(S_DATA);
}

static void test_hostile_index(void **state)
{
	(void)state;
	hostile_round(S_INDEX);
}

static void test_hostile_headers(void **state)
{
	(void)state;
	hostile_round(S_HEADERS);
}

static void test_hostile_cons(void **state)
{
	(void)state;
	hostile_round(S_CONS);
}

static void test_hostile_all(void **state)
{
	(void)state;
	hostile_round(S_ALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_data),
		cmocka_unit_test(test_hostile_index),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_hostile_cons),
		cmocka_unit_test(test_hostile_all),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
