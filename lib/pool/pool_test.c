/* SPDX-License-Identifier: MIT */
/*
 * The pool: buffers stay inside the range, aligned, never overlapping;
 * free runs merge back; only live buffers are accepted (double free,
 * foreign and interior pointers refused); offsets a peer names are
 * checked; bounces are bounds-checked; a random workload against a model;
 * several threads at once; and a device's rings and buffers in one
 * memfd, only offsets crossing.
 */
#include "util/util.h"

#include <ism/pool.h>
#include <ism/ring.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static uint8_t arena[1 << 20] __attribute__((aligned(4096)));

static void test_basics(void **state)
{
	struct ism_pool_opts o = { .size = sizeof(o), .align = 64 };
	struct ism_pool_stats st;
	struct ism_pool *p;
	void *a, *b, *c, *q;
	uint64_t off;
	char back[8];

	(void)state;
	assert_int_equal(ism_pool_create(NULL, 10, NULL, &p), -EINVAL);
	assert_int_equal(ism_pool_create(arena, 0, NULL, &p), -EINVAL);
	o.align = 48;
	assert_int_equal(ism_pool_create(arena, 4096, &o, &p), -EINVAL);
	o.align = 64;
	assert_int_equal(ism_pool_create(arena, 4096, &o, &p), 0);
	assert_int_equal(ism_pool_alloc(p, 0, &a), -EINVAL);
	assert_int_equal(ism_pool_alloc(p, 8192, &a), -EINVAL);
	assert_int_equal(ism_pool_alloc(p, 100, &a), 0);
	assert_int_equal(ism_pool_alloc(p, 64, &b), 0);
	assert_int_equal(ism_pool_alloc(p, 1, &c), 0);
	assert_int_equal((uintptr_t)a % 64, 0);
	assert_ptr_equal(b, (uint8_t *)a + 128);
	assert_int_equal(ism_pool_offset(p, b, &off), 0);
	assert_int_equal(off, 128);
	assert_int_equal(ism_pool_offset(p, (uint8_t *)b + 1, &off), -EINVAL);
	/* A peer names a range: inside a live buffer, or refused. */
	assert_int_equal(ism_pool_buffer(p, 130, 60, &q), 0);
	assert_ptr_equal(q, b);
	assert_int_equal(ism_pool_buffer(p, 130, 63, &q), -EINVAL);
	assert_int_equal(ism_pool_buffer(p, 4000, 8, &q), -EINVAL);
	assert_int_equal(ism_pool_buffer(p, UINT64_MAX, 2, &q), -EINVAL);
	/* Bounces, within the buffer only. */
	assert_int_equal(ism_pool_bounce_in(p, a, 120, "12345678", 8), 0);
	assert_int_equal(ism_pool_bounce_in(p, a, 121, "12345678", 8), -EINVAL);
	assert_int_equal(ism_pool_bounce_in(p, a, UINT64_MAX, "1", 2), -EINVAL);
	assert_int_equal(ism_pool_bounce_out(p, a, 120, back, 8), 0);
	assert_memory_equal(back, "12345678", 8);
	assert_int_equal(ism_pool_bounce_out(p, arena + 8192, 0, back, 1),
			 -EINVAL);
	/* Frees: only live buffers, once. */
	assert_int_equal(ism_pool_free(p, (uint8_t *)a + 64), -EINVAL);
	assert_int_equal(ism_pool_free(p, b), 0);
	assert_int_equal(ism_pool_free(p, b), -EINVAL);
	assert_int_equal(ism_pool_bounce_in(p, b, 0, "x", 1), -EINVAL);
	assert_int_equal(ism_pool_free(p, a), 0);
	assert_int_equal(ism_pool_free(p, c), 0);
	assert_int_equal(ism_pool_stats(p, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.free_runs, 1); /* merged back */
	assert_int_equal(st.largest_free, 4096);
	/* Exhaustion. */
	assert_int_equal(ism_pool_alloc(p, 4096, &a), 0);
	assert_int_equal(ism_pool_alloc(p, 1, &b), -ENOMEM);
	ism_pool_destroy(p);
	o.max_buffers = 2;
	assert_int_equal(ism_pool_create(arena + 3, 4096, &o, &p), 0);
	assert_int_equal(ism_pool_alloc(p, 1, &a), 0);
	assert_int_equal((uintptr_t)a % 64, 0); /* unaligned base */
	assert_int_equal(ism_pool_alloc(p, 1, &b), 0);
	assert_int_equal(ism_pool_alloc(p, 1, &c), -ENOSPC);
	ism_pool_destroy(p);
}

static void test_model(void **state)
{
	enum { N = 512 };
	static void *bufs[N];
	static uint64_t lens[N];
	struct ism_pool_stats st;
	struct ism_pool *p;
	unsigned seed = 7;
	uint64_t total = 0;

	(void)state;
	assert_int_equal(ism_pool_create(arena, sizeof(arena), NULL, &p), 0);
	for (int round = 0; round < 20000; round++) {
		int i = rand_r(&seed) % N;

		if (bufs[i]) {
			assert_int_equal(ism_pool_free(p, bufs[i]), 0);
			total -= lens[i];
			bufs[i] = NULL;
			continue;
		}
		lens[i] = 1 + (uint64_t)(rand_r(&seed) % 8000);
		if (ism_pool_alloc(p, lens[i], &bufs[i]) < 0) {
			bufs[i] = NULL;
			continue;
		}
		lens[i] = (lens[i] + 63) & ~63ull;
		total += lens[i];
		/* Inside the range, and no overlap with any live one. */
		assert_true((uint8_t *)bufs[i] >= arena &&
			    (uint8_t *)bufs[i] + lens[i] <=
				    arena + sizeof(arena));
		for (int k = 0; k < N; k++)
			if (k != i && bufs[k])
				assert_true((uint8_t *)bufs[k] + lens[k] <=
						    (uint8_t *)bufs[i] ||
					    (uint8_t *)bufs[i] + lens[i] <=
						    (uint8_t *)bufs[k]);
	}
	assert_int_equal(ism_pool_stats(p, &st), 0);
	assert_int_equal(st.used, total);
	for (int i = 0; i < N; i++)
		if (bufs[i])
			assert_int_equal(ism_pool_free(p, bufs[i]), 0);
	assert_int_equal(ism_pool_stats(p, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.free_runs, 1);
	ism_pool_destroy(p);
}

static void *hammer(void *arg)
{
	struct ism_pool *p = arg;
	void *b[16];

	for (int r = 0; r < 2000; r++) {
		for (int i = 0; i < 16; i++)
			if (ism_pool_alloc(p, 200, &b[i]) < 0)
				b[i] = NULL;
		for (int i = 0; i < 16; i++)
			if (b[i] && (ism_pool_bounce_in(p, b[i], 0, "z", 1) ||
				     ism_pool_free(p, b[i])))
				return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct ism_pool_stats st;
	struct ism_pool *p;
	pthread_t t[4];
	void *r;

	(void)state;
	assert_int_equal(ism_pool_create(arena, sizeof(arena), NULL, &p), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, p), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &r);
		assert_null(r);
	}
	ism_pool_stats(p, &st);
	assert_int_equal(st.used, 0);
	ism_pool_destroy(p);
}

/*
 * Seed 002's shape: a device's queues and buffers all inside the one
 * memory it may see.  One memfd holds a request ring, a completion ring
 * and a pool; the driver (this thread) and the device (another, through a
 * mapping of its own) exchange only offsets and lengths.  The driver
 * bounces private data into pool buffers and names them by offset; the
 * device checks each against the pool's range, changes the bytes in
 * place and hands the offset back; the driver accepts only offsets of its
 * live buffers (the device's last answer names one past the pool) and
 * bounces the result out.
 */
#define Q_DATA	 4096u
#define Q_MSGS	 64
#define POOL_LEN (64u * 1024)

struct qlayout {
	size_t prod, req_prod, req_cons, done_cons, done_prod, pool, total;
};

static struct qlayout qlayout(void)
{
	struct qlayout l;

	l.prod = (ism_ring_prod_area(Q_DATA) + 4095) & ~(size_t)4095;
	l.req_prod = 0;
	l.done_prod = l.prod;
	l.req_cons = 2 * l.prod; /* both consumer areas share a page */
	l.done_cons = l.req_cons + ISM_RING_CONS_AREA;
	l.pool = l.req_cons + 4096;
	l.total = l.pool + POOL_LEN;
	return l;
}

struct qmsg {
	uint64_t off, len;
};

struct device {
	uint8_t *map;	  /* the device's own mapping of the memfd */
	atomic_int ready; /* its completion ring is formatted */
	int result;
};

/* Wait (bounded) for the next message on @rx. */
static int next_msg(struct ism_ring_rx *rx, struct qmsg *m)
{
	for (long spins = 0; spins < 100000000L; spins++) {
		ssize_t n = ism_ring_recv(rx, m, sizeof(*m));

		if (n == (ssize_t)sizeof(*m))
			return 0;
		if (n != -EAGAIN)
			return -EPROTO;
		sched_yield();
	}
	return -ETIMEDOUT;
}

static void *device_run(void *arg)
{
	struct device *dv = arg;
	struct qlayout l = qlayout();
	struct ism_ring_rx *rx;
	struct ism_ring_tx *tx;
	struct qmsg m;
	uint64_t end;

	dv->result = -EINVAL;
	if (ism_ring_rx_init(dv->map + l.req_prod, l.prod, dv->map + l.req_cons,
			     ISM_RING_CONS_AREA, &rx) < 0) {
		atomic_store(&dv->ready, -1);
		return NULL;
	}
	if (ism_ring_tx_init(dv->map + l.done_prod, l.prod, Q_DATA,
			     dv->map + l.done_cons, ISM_RING_CONS_AREA,
			     &tx) < 0) {
		ism_ring_rx_close(rx);
		atomic_store(&dv->ready, -1);
		return NULL;
	}
	atomic_store(&dv->ready, 1);
	for (int i = 0; i < Q_MSGS; i++) {
		if ((dv->result = next_msg(rx, &m)) < 0)
			break;
		ism_ring_release(rx);
		/* Hostile input to the device too: inside the pool only. */
		if (m.len == 0 || __builtin_add_overflow(m.off, m.len, &end) ||
		    end > POOL_LEN) {
			dv->result = -ERANGE;
			break;
		}
		for (uint64_t k = 0; k < m.len; k++) {
			uint8_t *c = dv->map + l.pool + m.off + k;

			if (*c >= 'a' && *c <= 'z')
				*c = (uint8_t)(*c - 'a' + 'A');
		}
		if (i == Q_MSGS - 1)
			m.off = POOL_LEN; /* a lie: past the pool */
		if ((dv->result = ism_ring_send(tx, &m, sizeof(m))) < 0)
			break;
		ism_ring_publish(tx);
	}
	ism_ring_consumed(rx);
	ism_ring_tx_close(tx);
	ism_ring_rx_close(rx);
	return NULL;
}

static void test_device_queues(void **state)
{
	struct qlayout l = qlayout();
	int fd = memfd_create("pool-test", MFD_CLOEXEC);
	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
	struct ism_pool *p;
	struct device dv = { .result = -EINVAL };
	static void *bufs[Q_MSGS];
	uint8_t *map;
	pthread_t t;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)l.total), 0);
	map = mmap(NULL, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	dv.map = mmap(NULL, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED && dv.map != MAP_FAILED);
	assert_int_equal(ism_pool_create(map + l.pool, POOL_LEN, NULL, &p), 0);
	/* The driver's rings, formatted before the device starts. */
	assert_int_equal(ism_ring_tx_init(map + l.req_prod, l.prod, Q_DATA,
					  map + l.req_cons, ISM_RING_CONS_AREA,
					  &tx),
			 0);
	assert_int_equal(pthread_create(&t, NULL, device_run, &dv), 0);
	for (int i = 0; i < Q_MSGS; i++) {
		char text[160];
		struct qmsg m;
		int n = snprintf(text, sizeof(text),
				 "request %d, in the memory the device sees",
				 i);

		assert_int_equal(ism_pool_alloc(p, (uint64_t)n, &bufs[i]), 0);
		assert_int_equal(
			ism_pool_bounce_in(p, bufs[i], 0, text, (uint64_t)n),
			0);
		assert_int_equal(ism_pool_offset(p, bufs[i], &m.off), 0);
		m.len = (uint64_t)n;
		assert_true(m.off + m.len <= POOL_LEN);
		while (ism_ring_send(tx, &m, sizeof(m)) == -EAGAIN)
			sched_yield();
		ism_ring_publish(tx);
	}
	/* The completion ring, once the device formatted it. */
	for (long spins = 0; !atomic_load(&dv.ready); spins++) {
		assert_true(spins < 100000000L);
		sched_yield();
	}
	assert_int_equal(ism_ring_rx_init(map + l.done_prod, l.prod,
					  map + l.done_cons, ISM_RING_CONS_AREA,
					  &rx),
			 0);
	for (int i = 0; i < Q_MSGS; i++) {
		char back[160], want[160];
		struct qmsg m;
		void *b;

		assert_int_equal(next_msg(rx, &m), 0);
		ism_ring_release(rx);
		if (i == Q_MSGS - 1) {
			assert_int_equal(ism_pool_buffer(p, m.off, m.len, &b),
					 -EINVAL);
			break;
		}
		assert_int_equal(ism_pool_buffer(p, m.off, m.len, &b), 0);
		assert_ptr_equal(b, bufs[i]);
		assert_true(m.len < sizeof(back));
		assert_int_equal(ism_pool_bounce_out(p, b, 0, back, m.len), 0);
		back[m.len] = 0;
		snprintf(want, sizeof(want),
			 "REQUEST %d, IN THE MEMORY THE DEVICE SEES", i);
		assert_string_equal(back, want);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(dv.result, 0);
	for (int i = 0; i < Q_MSGS; i++)
		assert_int_equal(ism_pool_free(p, bufs[i]), 0);
	ism_ring_rx_close(rx);
	ism_ring_tx_close(tx);
	ism_pool_destroy(p);
	munmap(dv.map, l.total);
	munmap(map, l.total);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_device_queues),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
