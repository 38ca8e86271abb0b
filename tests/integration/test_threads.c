/* SPDX-License-Identifier: MIT */
/*
 * One connection used from several threads at once, as ism/conn.h
 * promises: workers allocate, attach, notify, read and write through the
 * same connection while another thread waits for events.  Built with
 * ThreadSanitizer (libism compiled in, instrumented), so a data race in
 * libism fails the test.
 */
#include "t_daemon.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define WORKERS 4
#define ROUNDS	150

static struct ism_conn *shared_conn, *other;
static atomic_int failures;
static atomic_bool stop;
static atomic_ulong events_seen;

static void *worker(void *arg)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW };
	long id = (long)arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct ism_region *r, *s;
		struct ism_status st;
		struct ism_token t;
		char buf[32];
		int n;

		if (ism_region_alloc(shared_conn, 4096, &o, &r) < 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		ism_region_token(r, &t);
		/* The other connection attaches; this one notifies. */
		if (ism_region_attach(other, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD,
				      &s) < 0) {
			atomic_fetch_add(&failures, 1);
			ism_region_close(r);
			continue;
		}
		n = snprintf(buf, sizeof(buf), "w%ld-%d", id, i);
		if (ism_region_write(s, 0, buf, (size_t)n + 1) != n + 1 ||
		    ism_region_notify(r, (uint64_t)i) != 1 ||
		    ism_admin_status(shared_conn, &st) < 0)
			atomic_fetch_add(&failures, 1);
		{
			char back[32];

			if (ism_region_read(r, 0, back, (size_t)n + 1) !=
				    n + 1 ||
			    strcmp(back, buf) != 0)
				atomic_fetch_add(&failures, 1);
		}
		ism_region_close(s);
		ism_region_close(r);
	}
	return NULL;
}

static void *listener(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct ism_event ev;
		int r = ism_conn_wait_event(other, &ev, 50);

		if (r == 1)
			atomic_fetch_add(&events_seen, 1);
		else if (r < 0)
			atomic_fetch_add(&failures, 1);
		/* And drain the shared one from here too. */
		while (ism_conn_next_event(shared_conn, &ev) == 1)
			;
	}
	return NULL;
}

static void test_shared_connection(void **state)
{
	pthread_t w[WORKERS], l;

	(void)state;
	shared_conn = t_connect(&t_group, "threads", 0);
	other = t_connect(&t_group, "other", 0);
	assert_int_equal(pthread_create(&l, NULL, listener, NULL), 0);
	for (long i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, worker, (void *)i),
				 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, true);
	pthread_join(l, NULL);
	{
		struct ism_event ev;

		while (ism_conn_wait_event(other, &ev, 200) == 1)
			atomic_fetch_add(&events_seen, 1);
	}
	assert_int_equal(atomic_load(&failures), 0);
	/* Every notify produced an event for the other side. */
	assert_true(atomic_load(&events_seen) >= WORKERS * ROUNDS);
	ism_conn_close(other);
	ism_conn_close(shared_conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_connection),
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
