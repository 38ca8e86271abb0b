/* SPDX-License-Identifier: MIT */
/*
 * Heavy and light wake words (ring.h): a producer thread publishing with
 * light barriers, a consumer thread that arms with a process-wide barrier
 * (membarrier), alternating request/response turns (the consumer sleeps
 * after every message: it must go heavy and stop paying the barrier) and
 * bursts of thousands of messages between sleeps (it must go light
 * again); and never heavy against a producer that does not say it
 * honours the bit (an older libism).  Every message arrives in order; a
 * sleep that times out with messages waiting is a lost wake-up and fails
 * the test.
 */
#include "ring.h"

#include <errno.h>
#include <linux/membarrier.h>
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
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#define DATA   65536u
#define PHASES 8u
#define TURNS  300u  /* request/response turns per even phase */
#define BURSTS 12u   /* bursts per odd phase */
#define BURST  3000u /* messages per burst, published at once */

static atomic_uint fences;

static void fence(void)
{
	atomic_fetch_add(&fences, 1);
	(void)syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
}

struct run {
	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
	int kick, ack; /* eventfds: wake the consumer; answer the producer */
	atomic_bool failed;
};

static void put(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/* The producer waits for the consumer's answer (10 s: a hang is a
 * failure, not a wait). */
static bool take_ack(struct run *r)
{
	struct pollfd pf = { .fd = r->ack, .events = POLLIN };
	uint64_t v;

	if (poll(&pf, 1, 10000) != 1 || read(r->ack, &v, sizeof(v)) < 0) {
		atomic_store(&r->failed, true);
		return false;
	}
	return true;
}

static void send_one(struct run *r, uint32_t seq, bool publish)
{
	while (ism_ring_send(r->tx, &seq, sizeof(seq)) == -EAGAIN)
		abort(); /* sized never to fill */
	if (publish && ism_ring_publish(r->tx))
		put(r->kick);
}

static void *producer(void *arg)
{
	struct run *r = arg;
	uint32_t seq = 0;

	for (uint32_t ph = 0; ph < PHASES && !atomic_load(&r->failed); ph++) {
		if (ph % 2 == 0) {
			for (uint32_t t = 0; t < TURNS; t++) {
				send_one(r, seq++, true);
				if (!take_ack(r))
					return NULL;
			}
			continue;
		}
		for (uint32_t b = 0; b < BURSTS; b++) {
			for (uint32_t i = 0; i < BURST; i++)
				send_one(r, seq++, i == BURST - 1);
			if (!take_ack(r))
				return NULL;
		}
	}
	if (ism_ring_tx_shutdown(r->tx))
		put(r->kick);
	return NULL;
}

/* @heavy_ok: the producer says it honours the heavy bit (an older one
 * does not: then the consumer must never go heavy). */
static void weights(bool heavy_ok)
{
	size_t plen = ism_ring_prod_area(DATA);
	void *prod = aligned_alloc(4096, (plen + 4095) & ~(size_t)4095),
	     *cons = aligned_alloc(4096, 4096);
	struct run r = { 0 };
	bool saw_heavy = false, light_again = false, ack_on_arm = false;
	uint32_t next = 0, arms = 0, heavy_arms = 0, heavy_fences = 0;
	pthread_t t;

	atomic_store(&fences, 0);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0,
		    0) != 0)
		skip(); /* no process-wide barrier: no light mode at all */
	assert_non_null(prod);
	assert_non_null(cons);
	memset(prod, 0, plen);
	memset(cons, 0, 4096);
	assert_int_equal(ism_ring_tx_init(prod, plen, DATA, cons,
					  ISM_RING_CONS_AREA, &r.tx),
			 0);
	assert_int_equal(
		ism_ring_rx_init(prod, plen, cons, ISM_RING_CONS_AREA, &r.rx),
		0);
	ism_ring_tx_set_light(r.tx, true);
	ism_ring_rx_set_light(r.rx, true);
	ism_ring_rx_set_heavy_ok(r.rx, heavy_ok);
	r.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r.ack = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(r.kick >= 0 && r.ack >= 0);
	assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
	for (;;) {
		uint32_t v;
		ssize_t n = ism_ring_recv(r.rx, &v, sizeof(v));

		if (n == -EAGAIN) {
			struct pollfd pf = { .fd = r.kick, .events = POLLIN };
			uint32_t before = atomic_load(&fences);
			bool was = r.rx->heavy;
			uint64_t c;
			int a = ism_ring_rx_arm_fenced(r.rx, fence);

			arms++;
			if (r.rx->heavy && was) {
				heavy_arms++;
				heavy_fences += atomic_load(&fences) - before;
			}
			saw_heavy |= r.rx->heavy;
			light_again |= saw_heavy && !r.rx->heavy;
			/* A burst is answered once we sleep after it, so
			 * that each one is one arm with many records. */
			if (ack_on_arm) {
				ack_on_arm = false;
				put(r.ack);
			}
			if (a == 0 && poll(&pf, 1, 3000) == 0 &&
			    ism_ring_pending(r.rx) > 0) {
				atomic_store(&r.failed, true); /* lost */
				put(r.ack);
				break;
			}
			(void)!read(r.kick, &c, sizeof(c));
			ism_ring_rx_disarm(r.rx);
			continue;
		}
		if (n == -EPIPE)
			break;
		assert_int_equal(n, sizeof(v));
		assert_int_equal(v, next);
		next++;
		/* Answer every turn of a request/response phase, and the
		 * last message of each burst. */
		{
			uint32_t per = TURNS + BURSTS * BURST, k = v % per;

			if (k < TURNS)
				put(r.ack);
			else if ((k - TURNS) % BURST == BURST - 1)
				ack_on_arm = true;
		}
	}
	pthread_join(t, NULL);
	assert_false(atomic_load(&r.failed));
	assert_int_equal(next, (PHASES / 2) * (TURNS + BURSTS * BURST));
	if (!heavy_ok) {
		/* Light throughout: a barrier on every arm. */
		assert_false(saw_heavy);
		assert_int_equal(atomic_load(&fences), arms);
	} else {
		/* It went heavy, stopped paying the barrier there, and
		 * came back. */
		assert_true(saw_heavy);
		assert_true(heavy_arms > 0);
		assert_int_equal(heavy_fences, 0);
		assert_true(light_again);
		assert_true(atomic_load(&fences) < arms);
	}
	close(r.kick);
	close(r.ack);
	ism_ring_tx_close(r.tx);
	ism_ring_rx_close(r.rx);
	free(prod);
	free(cons);
}

static void test_weights(void **state)
{
	(void)state;
	weights(true);
}

static void test_older_producer(void **state)
{
	(void)state;
	weights(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_older_producer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
