/* SPDX-License-Identifier: MIT */
/*
 * ivchan: channels between members of a domain laid out as ismd lays out
 * channels=on (the header and presence table written here as ismd
 * would), with doorbells as eventfds: offer and accept, both directions,
 * blocking with interrupts between two threads, shutdown and close, a
 * peer that leaves (its presence cleared) after committing messages, a
 * new holder of an id, and hostile memory: garbage in a peer's ring, its
 * entries and the header.
 */
#include "ivchan/ivchan.h"

#include <ism/ivchan.h>
#include <ism/ring.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#define SIZE   (1u << 20)
#define NSLOTS 4u

static uint8_t *mem;
static uint32_t serial;

/* One member: its doorbells are eventfds (one per vector). */
struct member {
	uint32_t id;
	int efd[2];
	struct ism_ivdom *d;
	unsigned rings;
};
static struct member members[NSLOTS];

static int t_ring(void *ctx, uint32_t peer, uint32_t vector)
{
	uint64_t one = 1;

	(void)ctx;
	assert_true(peer < NSLOTS && vector < 2);
	members[peer].rings++;
	return write(members[peer].efd[vector], &one, 8) == 8 ? 0 : -errno;
}

static int t_wait(void *ctx, int timeout_ms)
{
	struct member *m = ctx;
	struct pollfd p[2] = { { m->efd[0], POLLIN, 0 },
			       { m->efd[1], POLLIN, 0 } };
	uint64_t v;

	if (poll(p, 2, timeout_ms) < 0)
		return -errno;
	for (int i = 0; i < 2; i++)
		if (p[i].revents & POLLIN)
			(void)!read(p[i].fd, &v, 8);
	return 0;
}

static const struct ism_ivdom_ops ops = { t_ring, t_wait };

static void join(uint32_t id)
{
	struct member *m = &members[id];

	m->id = id;
	__atomic_store_n(&((struct ivc_hdr *)mem)->presence[id], ++serial,
			 __ATOMIC_RELEASE);
	if (m->efd[0] <= 0) {
		m->efd[0] = eventfd(0, EFD_NONBLOCK);
		m->efd[1] = eventfd(0, EFD_NONBLOCK);
	}
	assert_int_equal(ism_ivdom_open(mem, SIZE, id, 2, &ops, m, &m->d), 0);
}

static void leave(uint32_t id)
{
	/* As ismd does when a QEMU dies: presence 0, vector 0 rung. */
	__atomic_store_n(&((struct ivc_hdr *)mem)->presence[id], 0,
			 __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < NSLOTS; i++)
		if (i != id && members[i].efd[0] > 0)
			t_ring(NULL, i, 0);
}

static int setup(void **state)
{
	struct ivc_hdr *h;

	(void)state;
	mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	h = (struct ivc_hdr *)mem;
	h->version = IVC_VERSION;
	h->nslots = NSLOTS;
	h->slot0 = IVC_HDR_SIZE;
	h->slot_size = ivc_slot_size(SIZE, NSLOTS);
	h->magic = IVC_MAGIC;
	memset(members, 0, sizeof(members));
	return h->slot_size ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < NSLOTS; i++) {
		ism_ivdom_close(members[i].d);
		if (members[i].efd[0] > 0) {
			close(members[i].efd[0]);
			close(members[i].efd[1]);
		}
	}
	munmap(mem, SIZE);
	return 0;
}

/* A connected pair: a offers to b on @port, b accepts (no threads: the
 * offer is made without waiting, accepted, then connect finds it). */
struct pair_arg {
	uint32_t from, to, port;
	struct ism_ivchan *ch;
	int r;
};

static void *connect_thread(void *arg)
{
	struct pair_arg *a = arg;
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 20000 };

	a->r = ism_ivchan_connect(members[a->from].d, a->to, a->port, &o,
				  &a->ch);
	return NULL;
}

static void pair(uint32_t a, uint32_t b, uint32_t port, struct ism_ivchan **ca,
		 struct ism_ivchan **cb)
{
	struct pair_arg arg = { a, b, port, NULL, -1 };
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 20000 };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, connect_thread, &arg), 0);
	assert_int_equal(ism_ivchan_accept(members[b].d, port, &o, cb), 0);
	pthread_join(t, NULL);
	assert_int_equal(arg.r, 0);
	*ca = arg.ch;
	assert_int_equal(ism_ivchan_peer(*ca), b);
	assert_int_equal(ism_ivchan_peer(*cb), a);
}

static void test_basic(void **state)
{
	struct ism_ivchan *a, *b;
	char buf[256];
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 50 };

	(void)state;
	join(0);
	join(1);
	/* Nobody offers: accept times out; nobody at id 3: refused. */
	assert_int_equal(ism_ivchan_accept(members[1].d, 7, &o, &b),
			 -ETIMEDOUT);
	assert_int_equal(ism_ivchan_connect(members[0].d, 3, 7, &o, &a),
			 -ECONNREFUSED);
	pair(0, 1, 7, &a, &b);
	assert_true(ism_ivchan_max_msg(a) >= 4096 / 2 - 8);
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "msg %d", i);
		assert_int_equal(ism_ivchan_send(a, buf, strlen(buf) + 1, 0),
				 0);
		char got[64];
		assert_int_equal(ism_ivchan_recv(b, got, sizeof(got), 0),
				 (ssize_t)strlen(buf) + 1);
		assert_string_equal(got, buf);
		assert_int_equal(ism_ivchan_send(b, got, strlen(got) + 1, 0),
				 0);
		assert_int_equal(ism_ivchan_recv(a, buf, sizeof(buf), 0),
				 (ssize_t)strlen(got) + 1);
	}
	assert_int_equal(ism_ivchan_recv(a, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	/* Too large, too small a buffer. */
	assert_int_equal(ism_ivchan_send(a, buf, ism_ivchan_max_msg(a) + 1, 0),
			 -EMSGSIZE);
	assert_int_equal(ism_ivchan_send(a, "hello", 6, 0), 0);
	assert_int_equal(ism_ivchan_recv(b, buf, 3, 0), -EMSGSIZE);
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), 6);
	/* Shutdown: everything, then -ESHUTDOWN. */
	assert_int_equal(ism_ivchan_send(a, "last", 5, 0), 0);
	ism_ivchan_close(a);
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), 5);
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), -ESHUTDOWN);
	assert_int_equal(ism_ivchan_send(b, "x", 1, 0), -EPIPE);
	ism_ivchan_close(b);
	/* The entries come back: many channels in sequence. */
	for (unsigned i = 0; i < 3 * IVC_ENTRIES; i++) {
		pair(0, 1, 8, &a, &b);
		ism_ivchan_close(a);
		ism_ivchan_close(b);
	}
}

/* Blocking both ways between two threads: interrupts (eventfds) wake
 * the sleepers; every byte checked. */
struct flow {
	struct ism_ivchan *ch;
	int n;
	int r;
};

static void *echo_thread(void *arg)
{
	struct flow *f = arg;
	char buf[2048];
	ssize_t n;

	while ((n = ism_ivchan_recv(f->ch, buf, sizeof(buf), 0)) >= 0)
		if ((f->r = ism_ivchan_send(f->ch, buf, (size_t)n, 0)) < 0)
			return NULL;
	f->r = (int)n;
	return NULL;
}

static void test_threads(void **state)
{
	struct ism_ivchan *a, *b;
	struct flow f;
	pthread_t t;
	uint8_t out[2048], in[2048];
	unsigned before = members[1].rings + members[0].rings;

	(void)state;
	pair(0, 1, 9, &a, &b);
	f.ch = b;
	assert_int_equal(pthread_create(&t, NULL, echo_thread, &f), 0);
	for (int i = 0; i < 3000; i++) {
		size_t len = 1 + (size_t)(i * 37) % sizeof(out);

		for (size_t k = 0; k < len; k++)
			out[k] = (uint8_t)(i + k * 7);
		/* Several in flight, then read them back. */
		assert_int_equal(ism_ivchan_send(a, out, len, 0), 0);
		assert_int_equal(ism_ivchan_recv(a, in, sizeof(in), 0),
				 (ssize_t)len);
		assert_memory_equal(in, out, len);
	}
	ism_ivchan_shutdown(a);
	pthread_join(t, NULL);
	assert_int_equal(f.r, -ESHUTDOWN);
	/* The echo side slept and was woken by doorbells. */
	assert_true(members[1].rings + members[0].rings > before);
	ism_ivchan_close(a);
	ism_ivchan_close(b);
}

/* A peer that leaves (kill -9 of its QEMU): its committed messages are
 * delivered, then -EPIPE; sends fail with -EPIPE; a new holder of its
 * id is a different peer. */
static void test_departure(void **state)
{
	struct ism_ivchan *a, *b, *c;
	char buf[64];
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 50 };

	(void)state;
	join(2);
	pair(2, 1, 10, &a, &b);
	for (int i = 0; i < 10; i++)
		assert_int_equal(ism_ivchan_send(a, &i, sizeof(i), 0), 0);
	leave(2);
	for (int i = 0; i < 10; i++) {
		int v;

		assert_int_equal(ism_ivchan_recv(b, &v, sizeof(v), 0), 4);
		assert_int_equal(v, i);
	}
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), -EPIPE);
	assert_int_equal(ism_ivchan_send(b, "x", 1, 0), -EPIPE);
	ism_ivchan_close(b);
	/* The dead member's handle (its process is gone: freed here before
	 * a new holder formats the slot). */
	ism_ivdom_close(members[2].d);
	(void)a;
	join(2);
	assert_int_equal(ism_ivchan_accept(members[1].d, 10, &o, &c),
			 -ETIMEDOUT);
	pair(2, 1, 10, &a, &c);
	assert_int_equal(ism_ivchan_send(c, "new", 4, 0), 0);
	assert_int_equal(ism_ivchan_recv(a, buf, sizeof(buf), 0), 4);
	ism_ivchan_close(a);
	ism_ivchan_close(c);
}

/* Garbage in a peer's producer area: the receiver's channel fails with
 * -EPROTO, and the domain keeps working. */
static void test_hostile_ring(void **state)
{
	struct ism_ivchan *a, *b;
	struct ivc_slot *s0 =
		(struct ivc_slot *)(mem + IVC_HDR_SIZE +
				    0 * ivc_slot_size(SIZE, NSLOTS));
	uint8_t *prod = NULL;
	char buf[64];
	int r = 0;

	(void)state;
	pair(0, 1, 11, &a, &b);
	assert_int_equal(ism_ivchan_send(a, "ok", 3, 0), 0);
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), 3);
	/* Find a's producer area through its entry and scribble on it. */
	for (uint32_t i = 0; i < IVC_ENTRIES; i++)
		if (s0->ent[i].state == IVC_OFFER && s0->ent[i].port == 11)
			prod = mem + s0->ent[i].prod_off;
	assert_non_null(prod);
	/* The producer index far ahead; then record headers of garbage. */
	memset(prod + 64, 0xff, 8);
	memset(prod + 192, 0xa5, 256);
	for (int i = 0; i < 3 && r != -EPROTO; i++)
		r = (int)ism_ivchan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT);
	assert_int_equal(r, -EPROTO);
	assert_int_equal(ism_ivchan_recv(b, buf, sizeof(buf), 0), -EPROTO);
	ism_ivchan_close(b);
	ism_ivchan_close(a);
	/* The domain still works. */
	pair(0, 1, 12, &a, &b);
	assert_int_equal(ism_ivchan_send(b, "fine", 5, 0), 0);
	assert_int_equal(ism_ivchan_recv(a, buf, sizeof(buf), 0), 5);
	ism_ivchan_close(a);
	ism_ivchan_close(b);
}

/* Offers pointing outside the offerer's slot are ignored; a header
 * rewritten by a guest is refused at open. */
static void test_hostile_entries(void **state)
{
	struct ivc_slot *s0 =
		(struct ivc_slot *)(mem + IVC_HDR_SIZE +
				    0 * ivc_slot_size(SIZE, NSLOTS));
	struct ivc_entry *e = &s0->ent[IVC_ENTRIES - 1];
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 30 };
	struct ism_ivchan *b;
	struct ism_ivdom *d;
	struct ivc_hdr *h = (struct ivc_hdr *)mem;
	uint64_t bad[] = { 0, 64, (uint64_t)SIZE - 64, UINT64_MAX - 63,
			   IVC_HDR_SIZE + ivc_slot_size(SIZE, NSLOTS) + 4096 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e->state = IVC_FREE;
		e->gen++;
		e->peer = 1;
		e->peer_serial =
			__atomic_load_n(&h->presence[1], __ATOMIC_ACQUIRE);
		e->port = 13;
		e->data_size = 4096;
		e->prod_off = bad[i];
		e->cons_off = bad[i];
		__atomic_store_n(&e->state, IVC_OFFER, __ATOMIC_RELEASE);
		assert_int_equal(ism_ivchan_accept(members[1].d, 13, &o, &b),
				 -ETIMEDOUT);
	}
	e->data_size = 3; /* not a power of two */
	e->prod_off = e->cons_off = IVC_HDR_SIZE + IVC_SLOT_META;
	assert_int_equal(ism_ivchan_accept(members[1].d, 13, &o, &b),
			 -ETIMEDOUT);
	e->state = IVC_FREE;
	/* Header: a slot count the memory cannot hold. */
	h->nslots = 200;
	assert_int_equal(ism_ivdom_open(mem, SIZE, 3, 2, &ops, &members[3], &d),
			 -EPROTO);
	h->nslots = NSLOTS;
	h->slot_size = UINT64_MAX & ~4095ull;
	assert_int_equal(ism_ivdom_open(mem, SIZE, 3, 2, &ops, &members[3], &d),
			 -EPROTO);
	h->slot_size = ivc_slot_size(SIZE, NSLOTS);
	/* No presence for id 3 yet. */
	assert_int_equal(ism_ivdom_open(mem, SIZE, 3, 2, &ops, &members[3], &d),
			 -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_departure),
		cmocka_unit_test(test_hostile_ring),
		cmocka_unit_test(test_hostile_entries),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
