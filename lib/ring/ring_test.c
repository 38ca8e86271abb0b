/* SPDX-License-Identifier: MIT */
/*
 * The ring: semantics in one thread; a producer and a consumer thread over
 * separate mappings of two memfds (the producer area read-only to the
 * consumer, the consumer area read-only to the producer), sleeping on
 * eventfds when empty or full (also run under ThreadSanitizer); and
 * hostile peers that scribble over their own area while the other side
 * runs, with guard pages around every mapping.
 */
#include <ism/ring.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#define DATA 4096u

/* Memory for one area, with an inaccessible page on each side. */
struct area {
	int fd;
	uint8_t *base; /* the guarded reservation */
	size_t len;    /* of the area itself */
	uint8_t *rw;   /* the owner's mapping */
	uint8_t *ro;   /* the other side's mapping */
};

static void area_make(struct area *a, size_t len)
{
	size_t pg = 4096, span = (len + pg - 1) & ~(pg - 1);

	a->len = len;
	a->fd = memfd_create("ring-test", MFD_CLOEXEC);
	assert_true(a->fd >= 0);
	assert_int_equal(ftruncate(a->fd, (off_t)span), 0);
	/* Two guarded windows: [guard][area][guard] each. */
	a->base = mmap(NULL, 2 * (span + 2 * pg), PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(a->base, MAP_FAILED);
	a->rw = mmap(a->base + pg, span, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_FIXED, a->fd, 0);
	a->ro = mmap(a->base + span + 3 * pg, span, PROT_READ,
		     MAP_SHARED | MAP_FIXED, a->fd, 0);
	assert_ptr_not_equal(a->rw, MAP_FAILED);
	assert_ptr_not_equal(a->ro, MAP_FAILED);
}

static void area_free(struct area *a)
{
	size_t pg = 4096, span = (a->len + pg - 1) & ~(pg - 1);

	munmap(a->base, 2 * (span + 2 * pg));
	close(a->fd);
}

struct pair {
	struct area prod, cons;
	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
};

static void pair_make(struct pair *p, uint32_t data)
{
	area_make(&p->prod, ism_ring_prod_area(data));
	area_make(&p->cons, ISM_RING_CONS_AREA);
	assert_int_equal(ism_ring_tx_init(p->prod.rw, p->prod.len, data,
					  p->cons.ro, p->cons.len, &p->tx),
			 0);
	assert_int_equal(ism_ring_rx_init(p->prod.ro, p->prod.len, p->cons.rw,
					  p->cons.len, &p->rx),
			 0);
}

static void pair_free(struct pair *p)
{
	ism_ring_tx_close(p->tx);
	ism_ring_rx_close(p->rx);
	area_free(&p->prod);
	area_free(&p->cons);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(ism_ring_prod_area(4096), 192 + 4096);
	assert_int_equal(ism_ring_prod_area(4095), 0);
	assert_int_equal(ism_ring_prod_area(2048), 0);
	assert_int_equal(ism_ring_prod_area(1u << 31), 0);
	assert_int_equal(ism_ring_max_msg(4096), 2040);
}

static void test_basic(void **state)
{
	struct pair p;
	char buf[4096];
	const void *ptr;
	size_t len;

	(void)state;
	pair_make(&p, DATA);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(ism_ring_send(p.tx, "hello", 5), 0);
	/* Not visible until published. */
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(ism_ring_publish(p.tx), 0);
	assert_int_equal(ism_ring_pending(p.rx), 16);
	assert_int_equal(ism_ring_peek(p.rx, &ptr, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(ptr, "hello", 5);
	/* Peeking again gives the same message. */
	assert_int_equal(ism_ring_peek(p.rx, &ptr, &len), 1);
	assert_int_equal(ism_ring_recv(p.rx, buf, 3), -EMSGSIZE);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), 5);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), -EAGAIN);
	/* Empty and zero-length messages, and iovecs. */
	{
		struct iovec iov[3] = { { "ab", 2 },
					{ NULL, 0 },
					{ "cde", 3 } };

		assert_int_equal(ism_ring_send(p.tx, NULL, 0), 0);
		assert_int_equal(ism_ring_sendv(p.tx, iov, 3), 0);
		ism_ring_publish(p.tx);
		assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), 0);
		assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), 5);
		assert_memory_equal(buf, "abcde", 5);
	}
	/* Too big for the ring. */
	assert_int_equal(ism_ring_send(p.tx, buf, ism_ring_max_msg(DATA) + 1),
			 -EMSGSIZE);
	assert_int_equal(ism_ring_send(p.tx, buf, ism_ring_max_msg(DATA)), 0);
	ism_ring_publish(p.tx);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)),
			 (ssize_t)ism_ring_max_msg(DATA));
	pair_free(&p);
}

/* Fill, wrap (PAD records), drain, many times; contents checked. */
static void test_wrap_and_full(void **state)
{
	struct pair p;
	uint8_t out[2048], in[2048];
	unsigned seed = 3;
	uint64_t sent = 0, got = 0;

	(void)state;
	pair_make(&p, DATA);
	for (int round = 0; round < 2000; round++) {
		/* Send until full. */
		for (;;) {
			size_t len = (size_t)(rand_r(&seed) % 600);

			for (size_t i = 0; i < len; i++)
				out[i] = (uint8_t)(sent + i);
			int r = ism_ring_send(p.tx, out, len);

			if (r == -EAGAIN)
				break;
			assert_int_equal(r, 0);
			sent++;
		}
		ism_ring_publish(p.tx);
		/* Receive a random part of it. */
		for (int k = rand_r(&seed) % 8; k >= 0; k--) {
			ssize_t n = ism_ring_recv(p.rx, in, sizeof(in));

			if (n == -EAGAIN)
				break;
			assert_true(n >= 0);
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(in[i],
						 (uint8_t)(got + (uint64_t)i));
			got++;
		}
		ism_ring_consumed(p.rx);
	}
	while (ism_ring_recv(p.rx, in, sizeof(in)) >= 0)
		got++;
	assert_int_equal(got, sent);
	assert_true(sent > 4000);
	pair_free(&p);
}

static void test_close(void **state)
{
	struct pair p;
	char buf[16];

	(void)state;
	pair_make(&p, DATA);
	assert_int_equal(ism_ring_send(p.tx, "last", 4), 0);
	ism_ring_tx_shutdown(p.tx);
	assert_int_equal(ism_ring_send(p.tx, "x", 1), -EPIPE);
	/* Drained first, then the close. */
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), 4);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), -EPIPE);
	assert_int_equal(ism_ring_rx_arm(p.rx), 1); /* never sleep on it */
	pair_free(&p);
}

static void test_arming(void **state)
{
	struct pair p;
	char buf[2048];

	(void)state;
	pair_make(&p, DATA);
	/* Empty: the consumer arms; the next publication asks for a kick,
	 * once per sleep. */
	assert_int_equal(ism_ring_rx_arm(p.rx), 0);
	assert_int_equal(ism_ring_send(p.tx, "a", 1), 0);
	assert_int_equal(ism_ring_publish(p.tx), 1);
	assert_int_equal(ism_ring_send(p.tx, "b", 1), 0);
	assert_int_equal(ism_ring_publish(p.tx), 0);
	ism_ring_rx_disarm(p.rx);
	assert_int_equal(ism_ring_rx_arm(p.rx), 1); /* data: do not sleep */
	while (ism_ring_recv(p.rx, buf, sizeof(buf)) >= 0)
		;
	ism_ring_consumed(p.rx);
	/* Full: the producer arms; the consumer's release asks for a kick. */
	while (ism_ring_send(p.tx, buf, 1000) == 0)
		;
	ism_ring_publish(p.tx);
	assert_int_equal(ism_ring_tx_arm(p.tx, 1000), 0);
	assert_int_equal(ism_ring_recv(p.rx, buf, sizeof(buf)), 1000);
	assert_int_equal(ism_ring_consumed(p.rx), 1);
	assert_int_equal(ism_ring_consumed(p.rx), 0);
	ism_ring_tx_disarm(p.tx);
	assert_int_equal(ism_ring_tx_arm(p.tx, 1000), 1); /* room now */
	pair_free(&p);
}

/* ---- two threads ---- */

#define MSGS 200000

struct run {
	struct pair *p;
	int kick_rx, kick_tx; /* eventfds: wake the consumer / producer */
};

static void wait_fd(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	uint64_t v;

	poll(&pf, 1, 1000);
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		abort();
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static void *producer(void *arg)
{
	struct run *r = arg;
	uint8_t msg[300];

	for (uint32_t i = 0; i < MSGS; i++) {
		size_t len = 4 + (i * 7919u) % 290;

		memcpy(msg, &i, 4);
		for (size_t k = 4; k < len; k++)
			msg[k] = (uint8_t)(i + k);
		while (ism_ring_send(r->p->tx, msg, len) == -EAGAIN) {
			if (ism_ring_publish(r->p->tx))
				kick(r->kick_rx);
			if (ism_ring_tx_arm(r->p->tx, len) == 0)
				wait_fd(r->kick_tx);
			ism_ring_tx_disarm(r->p->tx);
		}
		if (i % 16 == 15 && ism_ring_publish(r->p->tx))
			kick(r->kick_rx);
	}
	if (ism_ring_tx_shutdown(r->p->tx))
		kick(r->kick_rx);
	return NULL;
}

static void test_threads(void **state)
{
	struct pair p;
	struct run r = { .p = &p };
	pthread_t t;
	uint8_t buf[512];
	uint32_t next = 0;

	(void)state;
	pair_make(&p, 8192);
	r.kick_rx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r.kick_tx = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	for (;;) {
		ssize_t n = ism_ring_recv(p.rx, buf, sizeof(buf));

		if (n == -EAGAIN) {
			if (ism_ring_consumed(p.rx))
				kick(r.kick_tx);
			if (ism_ring_rx_arm(p.rx) == 0)
				wait_fd(r.kick_rx);
			ism_ring_rx_disarm(p.rx);
			continue;
		}
		if (n == -EPIPE)
			break;
		assert_true(n >= 4);
		{
			uint32_t id;

			memcpy(&id, buf, 4);
			assert_int_equal(id, next);
			assert_int_equal((size_t)n, 4 + (next * 7919u) % 290);
			for (ssize_t k = 4; k < n; k++)
				assert_int_equal(buf[k],
						 (uint8_t)(next + (uint32_t)k));
		}
		next++;
		if (next % 32 == 0 && ism_ring_consumed(p.rx))
			kick(r.kick_tx);
	}
	pthread_join(t, NULL);
	assert_int_equal(next, MSGS);
	close(r.kick_rx);
	close(r.kick_tx);
	pair_free(&p);
}

/* ---- hostile peers (intentional races: not under TSan) ---- */
#ifndef UNDER_TSAN

struct scribble {
	uint8_t *mem;
	size_t len;
	atomic_bool stop;
	unsigned seed;
};

static void *scribbler(void *arg)
{
	struct scribble *s = arg;

	while (!atomic_load(&s->stop)) {
		size_t off = (size_t)rand_r(&s->seed) % s->len;
		size_t n = 1 + (size_t)rand_r(&s->seed) % 16;

		if (off + n > s->len)
			n = s->len - off;
		/* Often the sensitive spots: indices and record headers. */
		if (rand_r(&s->seed) % 4 == 0)
			off = (size_t)(rand_r(&s->seed) % 3) * 64;
		for (size_t i = 0; i < n && off + i < s->len; i++)
			((volatile uint8_t *)s->mem)[off + i] =
				(uint8_t)rand_r(&s->seed);
	}
	return NULL;
}

static void test_hostile_producer(void **state)
{
	struct pair p;
	struct scribble s = { .seed = 11 };
	pthread_t t;
	uint8_t buf[4096];
	uint64_t t0;
	int protos = 0, msgs = 0;

	(void)state;
	for (int round = 0; round < 200; round++) {
		pair_make(&p, DATA);
		/* Some honest traffic first. */
		for (int i = 0; i < 20; i++)
			ism_ring_send(p.tx, buf, (size_t)(i * 37 % 500));
		ism_ring_publish(p.tx);
		s.mem = p.prod.rw;
		s.len = p.prod.len;
		atomic_store(&s.stop, false);
		pthread_create(&t, NULL, scribbler, &s);
		t0 = (uint64_t)time(NULL);
		/* The consumer must end in bounded time, in bounds. */
		for (int i = 0; i < 20000; i++) {
			const void *ptr;
			size_t len;
			int r = ism_ring_peek(p.rx, &ptr, &len);

			if (r < 0) {
				assert_true(r == -EPROTO || r == -EPIPE);
				protos++;
				break;
			}
			if (r == 1) {
				assert_true(len <= ism_ring_max_msg(DATA));
				/* Reading it must stay inside the mapping. */
				memcpy(buf, ptr, len);
				ism_ring_release(p.rx);
				msgs++;
			}
			ism_ring_rx_arm(p.rx);
			ism_ring_rx_disarm(p.rx);
			ism_ring_pending(p.rx);
		}
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		assert_true((uint64_t)time(NULL) - t0 < 30);
		pair_free(&p);
	}
	assert_true(protos > 0); /* the scribbling was noticed */
	(void)msgs;
}

static void test_hostile_consumer(void **state)
{
	struct pair p;
	struct scribble s = { .seed = 5 };
	pthread_t t;
	uint8_t buf[1024] = { 0 };
	int protos = 0;

	(void)state;
	for (int round = 0; round < 200; round++) {
		pair_make(&p, DATA);
		s.mem = p.cons.rw;
		s.len = p.cons.len;
		atomic_store(&s.stop, false);
		pthread_create(&t, NULL, scribbler, &s);
		for (int i = 0; i < 20000; i++) {
			int r = ism_ring_send(p.tx, buf, (size_t)(i % 700));

			if (r == -EPROTO) {
				protos++;
				break;
			}
			assert_true(r == 0 || r == -EAGAIN);
			ism_ring_publish(p.tx);
			ism_ring_space(p.tx);
			if (ism_ring_tx_arm(p.tx, 100) < 0) {
				protos++;
				break;
			}
			ism_ring_tx_disarm(p.tx);
		}
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		pair_free(&p);
	}
	assert_true(protos > 0);
}

#endif

/* A header that lies about the data size is refused at init. */
static void test_bad_header(void **state)
{
	struct pair p;
	struct ism_ring_rx *rx;

	(void)state;
	pair_make(&p, DATA);
	/* data_size at offset 16: claim more than the area holds. */
	((uint32_t *)(void *)p.prod.rw)[4] = 1u << 20;
	assert_int_equal(ism_ring_rx_init(p.prod.ro, p.prod.len, p.cons.rw,
					  p.cons.len, &rx),
			 -EPROTO);
	((uint32_t *)(void *)p.prod.rw)[4] = 3000;
	assert_int_equal(ism_ring_rx_init(p.prod.ro, p.prod.len, p.cons.rw,
					  p.cons.len, &rx),
			 -EPROTO);
	((uint32_t *)(void *)p.prod.rw)[0] ^= 1; /* magic */
	((uint32_t *)(void *)p.prod.rw)[4] = DATA;
	assert_int_equal(ism_ring_rx_init(p.prod.ro, p.prod.len, p.cons.rw,
					  p.cons.len, &rx),
			 -EPROTO);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_wrap_and_full),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_arming),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_bad_header),
#ifndef UNDER_TSAN /* races on purpose: the other builds run these */
		cmocka_unit_test(test_hostile_producer),
		cmocka_unit_test(test_hostile_consumer),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
