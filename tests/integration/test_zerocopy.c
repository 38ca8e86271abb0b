/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy streams (ism_stream_peek/release, reserve/commit): the same
 * byte stream on shared memory and on TCP (TCP_ONLY, and a plain TCP peer
 * that is not ism at all), mixed freely with the copying calls, with
 * random sizes for everything (reservations, partial commits, partial
 * releases); the contract's refusals; and the non-blocking forms with
 * the stream's fd in poll(), including a TCP commit the socket cannot
 * take at once; and the room probe (reserve with WAITALL).
 */
#include "t_daemon.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Byte i of every stream here is a function of i. */
static uint8_t pat(uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> (8 * (i & 7)));
}

static uint64_t rnd_next(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

/* A connected pair through a listener; @tcp: the client is TCP_ONLY. */
struct pair {
	struct ism_conn *c, *d;
	struct ism_stream_listener *l;
	struct ism_stream *srv, *cli;
};

struct accept_arg {
	struct ism_stream_listener *l;
	struct ism_stream *s;
	int r;
};

static void *accept_main(void *arg)
{
	struct accept_arg *a = arg;

	a->r = ism_stream_accept(a->l, &a->s, 0);
	return NULL;
}

static void pair_open(struct pair *p, uint32_t ring, bool tcp)
{
	struct ism_stream_opts o = { .size = sizeof(o), .ring_size = ring };
	struct accept_arg a;
	pthread_t th;
	char port[16];

	p->c = t_connect(&t_group, "zc-srv", 0);
	p->d = t_connect(&t_group, "zc-cli", 0);
	assert_int_equal(ism_stream_listen(p->c, "127.0.0.1", "0", &o, &p->l),
			 0);
	snprintf(port, sizeof(port), "%d", ism_stream_listener_port(p->l));
	a.l = p->l;
	assert_int_equal(pthread_create(&th, NULL, accept_main, &a), 0);
	if (tcp)
		o.flags = ISM_STREAM_TCP_ONLY;
	assert_int_equal(
		ism_stream_connect(p->d, "127.0.0.1", port, &o, &p->cli), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.r, 0);
	p->srv = a.s;
	assert_int_equal(ism_stream_path(p->cli, NULL),
			 tcp ? ISM_STREAM_TCP : ISM_STREAM_SHM);
	assert_int_equal(ism_stream_path(p->srv, NULL),
			 tcp ? ISM_STREAM_TCP : ISM_STREAM_SHM);
}

static void pair_close(struct pair *p)
{
	ism_stream_close(p->cli);
	ism_stream_close(p->srv);
	ism_stream_listener_close(p->l);
	ism_conn_close(p->c);
	ism_conn_close(p->d);
}

/* ---- the pattern, sent and received every way at random ---- */

struct flow {
	struct ism_stream *s;
	uint64_t total, seed, done;
	int err;
};

/* Send @total bytes: reserve random sizes, fill a random part, commit
 * it (sometimes nothing); now and then a plain send instead. */
static void *zc_sender(void *arg)
{
	struct flow *f = arg;
	uint8_t buf[3000];

	while (f->done < f->total) {
		uint64_t r = rnd_next(&f->seed);
		size_t want = 1 + (size_t)(r % 200000);
		void *p;
		ssize_t n, k;

		if (r % 7 == 0) {
			/* The copying call in between. */
			n = (ssize_t)ISM_MIN((uint64_t)sizeof(buf),
					     f->total - f->done);
			for (ssize_t i = 0; i < n; i++)
				buf[i] = pat(f->done + (uint64_t)i);
			if (ism_stream_send(f->s, buf, (size_t)n, 0) != n) {
				f->err = -EIO;
				return NULL;
			}
			f->done += (uint64_t)n;
			continue;
		}
		want = (size_t)ISM_MIN((uint64_t)want, f->total - f->done);
		n = ism_stream_reserve(f->s, &p, want, 0);
		if (n <= 0 || (size_t)n > want) {
			f->err = n < 0 ? (int)n : -ERANGE;
			return NULL;
		}
		/* Commit all, part, or (rarely) nothing of it. */
		k = r % 5 == 0 ? (ssize_t)(rnd_next(&f->seed) % (uint64_t)n)
			       : n;
		for (ssize_t i = 0; i < k; i++)
			((uint8_t *)p)[i] = pat(f->done + (uint64_t)i);
		if (ism_stream_commit(f->s, (size_t)k, 0) != k) {
			f->err = -EIO;
			return NULL;
		}
		f->done += (uint64_t)k;
	}
	f->err = ism_stream_shutdown(f->s, SHUT_WR);
	return NULL;
}

/* Receive until EOF: peek, check, release random parts; now and then a
 * plain recv instead. */
static void *zc_receiver(void *arg)
{
	struct flow *f = arg;
	uint8_t buf[5000];

	for (;;) {
		uint64_t r = rnd_next(&f->seed);
		const void *p;
		ssize_t n;

		if (r % 6 == 0) {
			n = ism_stream_recv(f->s, buf, 1 + r % sizeof(buf), 0);
			if (n < 0) {
				f->err = (int)n;
				return NULL;
			}
			if (n == 0)
				break;
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pat(f->done + (uint64_t)i)) {
					f->err = -EILSEQ;
					return NULL;
				}
			f->done += (uint64_t)n;
			continue;
		}
		n = ism_stream_peek(f->s, &p, 0);
		if (n < 0) {
			f->err = (int)n;
			return NULL;
		}
		if (n == 0)
			break;
		/* Release all, or a random part (at least 1). */
		if (r % 3 == 0)
			n = 1 + (ssize_t)(rnd_next(&f->seed) % (uint64_t)n);
		for (ssize_t i = 0; i < n; i++)
			if (((const uint8_t *)p)[i] !=
			    pat(f->done + (uint64_t)i)) {
				f->err = -EILSEQ;
				return NULL;
			}
		if (ism_stream_release(f->s, (size_t)n) < 0) {
			f->err = -EIO;
			return NULL;
		}
		f->done += (uint64_t)n;
	}
	/* EOF stays EOF, for both calls. */
	{
		const void *p;

		if (ism_stream_peek(f->s, &p, 0) != 0 ||
		    ism_stream_recv(f->s, buf, 1, 0) != 0)
			f->err = -EPROTO;
	}
	return NULL;
}

static void both_ways(struct ism_stream *a, struct ism_stream *b,
		      uint64_t total)
{
	struct flow fs = { .s = a, .total = total, .seed = 0x1234567 };
	struct flow fr = { .s = b, .seed = 0x89abcdef };
	pthread_t ts, tr;

	assert_int_equal(pthread_create(&tr, NULL, zc_receiver, &fr), 0);
	assert_int_equal(pthread_create(&ts, NULL, zc_sender, &fs), 0);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(fs.err, 0);
	assert_int_equal(fr.err, 0);
	assert_true(fr.done == total);
}

static void test_pattern_shm(void **state)
{
	struct pair p;

	(void)state;
	/* A small ring: reservations come back short, commits wrap. */
	pair_open(&p, 16384, false);
	both_ways(p.cli, p.srv, 24u << 20);
	pair_close(&p);
	/* The default ring, the other way. */
	pair_open(&p, 0, false);
	both_ways(p.srv, p.cli, 48u << 20);
	pair_close(&p);
}

static void test_pattern_tcp(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, 0, true);
	both_ways(p.cli, p.srv, 24u << 20);
	pair_close(&p);
}

/* A plain TCP peer (not ism at all) reads and writes what the zero-copy
 * calls of the other end send and receive. */
static void test_plain_peer(void **state)
{
	struct ism_conn *d = t_connect(&t_group, "zc-plain", 0);
	struct ism_stream_opts o = { .size = sizeof(o) };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct ism_stream *s;
	char port[16], buf[64];
	const void *q;
	void *w;
	int lfd, fd;
	ssize_t n;

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, sizeof(port), "%d", ntohs(sa.sin_port));
	assert_int_equal(ism_stream_connect(d, "127.0.0.1", port, &o, &s), 0);
	assert_int_equal(ism_stream_path(s, NULL), ISM_STREAM_TCP);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	n = ism_stream_reserve(s, &w, 5, 0);
	assert_int_equal(n, 5);
	memcpy(w, "hello", 5);
	assert_int_equal(ism_stream_commit(s, 5, 0), 5);
	assert_int_equal(recv(fd, buf, 5, MSG_WAITALL), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(send(fd, "world!", 6, 0), 6);
	/* Peek what arrived, release part, recv the rest. */
	n = 0;
	while (n < 6) {
		n = ism_stream_peek(s, &q, 0);
		assert_true(n > 0);
		if (n < 6) /* arrived in pieces: take them as they come */
			break;
	}
	assert_memory_equal(q, "world!", (size_t)n);
	assert_int_equal(ism_stream_release(s, 2), 0);
	assert_int_equal(ism_stream_recv(s, buf, 6 - 2, ISM_F_WAITALL), 4);
	assert_memory_equal(buf, "rld!", 4);
	close(fd);
	assert_int_equal(ism_stream_peek(s, &q, 0), 0);
	ism_stream_close(s);
	close(lfd);
	ism_conn_close(d);
}

/* What the contract refuses, on both paths. */
static void test_refusals(void **state)
{
	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		struct pair p;
		const void *q;
		void *w;
		ssize_t n;

		pair_open(&p, 0, tcp);
		assert_int_equal(ism_stream_reserve(p.cli, &w, 0, 0), -EINVAL);
		assert_int_equal(ism_stream_reserve(p.cli, NULL, 8, 0),
				 -EINVAL);
		assert_int_equal(ism_stream_peek(p.srv, NULL, 0), -EINVAL);
		/* Committing with nothing reserved, or more than it. */
		assert_int_equal(ism_stream_commit(p.cli, 1, 0), -EINVAL);
		n = ism_stream_reserve(p.cli, &w, 10, 0);
		assert_int_equal(n, 10);
		assert_int_equal(ism_stream_commit(p.cli, 11, 0), -EINVAL);
		/* A send in between ends the reservation. */
		n = ism_stream_reserve(p.cli, &w, 10, 0);
		assert_int_equal(n, 10);
		memcpy(w, "0123456789", 10);
		assert_int_equal(ism_stream_send(p.cli, "ab", 2, 0), 2);
		assert_int_equal(ism_stream_commit(p.cli, 10, 0), -EINVAL);
		/* Nothing to release; releasing more than was peeked. */
		assert_int_equal(ism_stream_release(p.srv, 0), 0);
		n = ism_stream_peek(p.srv, &q, 0);
		assert_true(n >= 1 && n <= 2);
		assert_int_equal(ism_stream_release(p.srv, (size_t)n + 1),
				 -EINVAL);
		assert_memory_equal(q, "ab", (size_t)n);
		/* Peeking again returns the same bytes. */
		{
			const void *q2;

			assert_int_equal(ism_stream_peek(p.srv, &q2, 0), n);
			assert_ptr_equal(q2, q);
		}
		assert_int_equal(ism_stream_release(p.srv, (size_t)n), 0);
		/* After SHUT_WR, no room; after SHUT_RD, EOF. */
		assert_int_equal(ism_stream_shutdown(p.cli, SHUT_WR), 0);
		assert_int_equal(ism_stream_reserve(p.cli, &w, 8, 0), -EPIPE);
		assert_int_equal(ism_stream_commit(p.cli, 1, 0), -EINVAL);
		assert_int_equal(ism_stream_shutdown(p.cli, SHUT_RD), 0);
		assert_int_equal(ism_stream_peek(p.cli, &q, 0), 0);
		/* The other side reads what remains, then EOF. */
		while ((n = ism_stream_peek(p.srv, &q, 0)) > 0)
			assert_int_equal(ism_stream_release(p.srv, (size_t)n),
					 0);
		assert_int_equal(n, 0);
		pair_close(&p);
	}
}

/* Wait for @s's fd (bounded: the test fails rather than hangs). */
static void wait_fd(struct ism_stream *s)
{
	struct pollfd pf = { ism_stream_fd(s), POLLIN, 0 };

	assert_int_equal(poll(&pf, 1, 10000), 1);
}

/* Non-blocking: a full ring (or socket) says -EAGAIN and the fd wakes
 * the writer when the reader makes room; an empty one the same for the
 * reader.  On TCP a commit the socket cannot take is kept and goes first
 * at the next call. */
static void test_nonblocking(void **state)
{
	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		/* TCP: more than loopback's socket buffers hold. */
		static uint8_t got[32u << 20];
		uint64_t sent = 0, recvd = 0;
		const uint64_t total = tcp ? (32u << 20) : (4u << 20);
		int stuck_w = 0, stuck_r = 0;
		struct pair p;

		pair_open(&p, 16384, tcp);
		{
			const void *q;

			assert_int_equal(
				ism_stream_peek(p.srv, &q, ISM_F_DONTWAIT),
				-EAGAIN);
		}
		/* Fill first: the writer must hit -EAGAIN. */
		while (sent < total) {
			void *w;
			ssize_t n = ism_stream_reserve(p.cli, &w, 100000,
						       ISM_F_DONTWAIT);

			if (n == -EAGAIN) {
				stuck_w++;
				break;
			}
			assert_true(n > 0);
			n = (ssize_t)ISM_MIN((uint64_t)n, total - sent);
			for (ssize_t i = 0; i < n; i++)
				((uint8_t *)w)[i] = pat(sent + (uint64_t)i);
			assert_int_equal(ism_stream_commit(p.cli, (size_t)n,
							   ISM_F_DONTWAIT),
					 n);
			sent += (uint64_t)n;
		}
		assert_true(stuck_w > 0);
		/* Then both, each waiting on its fd when stuck. */
		while (recvd < total) {
			const void *q;
			ssize_t n;

			if (sent < total) {
				void *w;

				n = ism_stream_reserve(p.cli, &w, 50000,
						       ISM_F_DONTWAIT);
				if (n > 0) {
					n = (ssize_t)ISM_MIN((uint64_t)n,
							     total - sent);
					for (ssize_t i = 0; i < n; i++)
						((uint8_t *)w)[i] =
							pat(sent + (uint64_t)i);
					assert_int_equal(
						ism_stream_commit(
							p.cli, (size_t)n,
							ISM_F_DONTWAIT),
						n);
					sent += (uint64_t)n;
				} else {
					assert_int_equal(n, -EAGAIN);
				}
			}
			n = ism_stream_peek(p.srv, &q, ISM_F_DONTWAIT);
			if (n == -EAGAIN) {
				stuck_r++;
				if (sent < total) {
					struct pollfd pf[2] = {
						{ ism_stream_fd(p.cli), POLLIN,
						  0 },
						{ ism_stream_fd(p.srv), POLLIN,
						  0 },
					};

					assert_true(poll(pf, 2, 10000) > 0);
				} else {
					wait_fd(p.srv);
				}
				continue;
			}
			assert_true(n > 0);
			memcpy(got + recvd, q, (size_t)n);
			assert_int_equal(ism_stream_release(p.srv, (size_t)n),
					 0);
			recvd += (uint64_t)n;
		}
		for (uint64_t i = 0; i < total; i++)
			if (got[i] != pat(i))
				fail_msg("byte %llu differs",
					 (unsigned long long)i);
		/* The writer's close sends anything still kept. */
		assert_int_equal(ism_stream_close(p.cli), 0);
		p.cli = NULL;
		{
			const void *q;

			assert_int_equal(ism_stream_peek(p.srv, &q, 0), 0);
		}
		pair_close(&p);
	}
}

/*
 * "Room for this much?": a reservation with DONTWAIT | WAITALL gets all
 * it asks or -EAGAIN, and then the fd wakes the writer when the reader
 * makes room; committed with 0 it sends nothing (an event loop's POLLOUT,
 * as ism-run asks it).
 */
static void test_room_probe(void **state)
{
	const int f = ISM_F_DONTWAIT | ISM_F_WAITALL;

	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		uint8_t buf[1000], got[48000];
		uint64_t sent = 0, recvd = 0;
		struct pair p;
		void *w;
		ssize_t n;

		pair_open(&p, 1u << 18, tcp);
		assert_int_equal(ism_stream_reserve(p.cli, &w, 65536, f),
				 65536);
		assert_int_equal(ism_stream_commit(p.cli, 0, 0), 0);
		if (tcp) {
			/* The stream's own buffer: always all of it. */
			assert_int_equal(ism_stream_send(p.cli, "x", 1, 0), 1);
			assert_int_equal(ism_stream_recv(p.srv, got, 2, 0), 1);
			assert_int_equal(got[0], 'x');
			pair_close(&p);
			continue;
		}
		/* Fill the ring: less than a record of 1000 bytes is left. */
		for (;;) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = pat(sent + i);
			n = ism_stream_send(p.cli, buf, sizeof(buf),
					    ISM_F_DONTWAIT);
			if (n == -EAGAIN)
				break;
			assert_int_equal(n, (ssize_t)sizeof(buf));
			sent += sizeof(buf);
		}
		assert_int_equal(ism_stream_reserve(p.cli, &w, 65536, f),
				 -EAGAIN);
		/* 48 records read: the reader says so in steps of 1/8 of
		 * the ring (32 KiB), which wakes the armed writer, but 64 KiB
		 * are still not free, while some room is. */
		assert_int_equal(
			ism_stream_recv(p.srv, got, sizeof(got), ISM_F_WAITALL),
			(ssize_t)sizeof(got));
		for (size_t i = 0; i < sizeof(got); i++)
			assert_int_equal(got[i], pat(i));
		recvd = sizeof(got);
		wait_fd(p.cli);
		assert_int_equal(ism_stream_reserve(p.cli, &w, 65536, f),
				 -EAGAIN);
		n = ism_stream_reserve(p.cli, &w, 65536, ISM_F_DONTWAIT);
		assert_true(n >= 4096 && n < 65536);
		assert_int_equal(ism_stream_commit(p.cli, 0, 0), 0);
		/* All read: all the room there. */
		while (recvd < sent) {
			n = ism_stream_recv(p.srv, got, sizeof(got), 0);
			assert_true(n > 0);
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(got[i],
						 pat(recvd + (uint64_t)i));
			recvd += (uint64_t)n;
		}
		assert_int_equal(ism_stream_reserve(p.cli, &w, 65536, f),
				 65536);
		assert_int_equal(ism_stream_commit(p.cli, 0, 0), 0);
		/* No probe sent a byte. */
		assert_int_equal(ism_stream_send(p.cli, "x", 1, 0), 1);
		assert_int_equal(ism_stream_shutdown(p.cli, SHUT_WR), 0);
		assert_int_equal(ism_stream_recv(p.srv, got, 2, ISM_F_WAITALL),
				 1);
		assert_int_equal(got[0], 'x');
		pair_close(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_shm),
		cmocka_unit_test(test_pattern_tcp),
		cmocka_unit_test(test_plain_peer),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_nonblocking),
		cmocka_unit_test(test_room_probe),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
