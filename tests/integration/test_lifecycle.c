/* SPDX-License-Identifier: MIT */
/*
 * Lifetimes: peers crashing (kill -9) with regions and references, fd
 * counts over a connect/disconnect loop in ismd and in the client, scale
 * (1000 peers, 10,000 regions), and every quota.
 */
#include "t_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ism_private D;

static int setup(void **state)
{
	struct rlimit rl;

	(void)state;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return t_daemon_start(&D, NULL);
}

static int teardown(void **state)
{
	(void)state;
	return t_daemon_cleanup(&D);
}

static uint32_t regions_now(struct ism_conn *c)
{
	struct ism_status st;

	assert_int_equal(ism_admin_status(c, &st), 0);
	return st.regions;
}

/* Child: allocate, send the token up the pipe, then wait to be killed. */
struct child_args {
	int pipe;
	const char *sock;
	bool attach; /* attach to the token read from the pipe instead */
	int ctl;
};

static int owner_child(void *arg)
{
	struct child_args *a = arg;
	struct ism_conn *c;
	struct ism_region *r;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_token t;

	if (ism_conn_open(a->sock, NULL, &c) < 0 ||
	    ism_region_alloc(c, 65536, &o, &r) < 0)
		return 1;
	ism_region_token(r, &t);
	if (write(a->pipe, &t, sizeof(t)) != sizeof(t))
		return 1;
	pause();
	return 0;
}

static int attacher_child(void *arg)
{
	struct child_args *a = arg;
	struct ism_conn *c;
	struct ism_region *r;
	struct ism_token t;
	char ok = 1;

	if (read(a->ctl, &t, sizeof(t)) != sizeof(t) ||
	    ism_conn_open(a->sock, NULL, &c) < 0 ||
	    ism_region_attach(c, &t, ISM_ACCESS_RO, 0, &r) < 0)
		return 1;
	if (write(a->pipe, &ok, 1) != 1)
		return 1;
	pause();
	return 0;
}

static void test_owner_killed(void **state)
{
	struct ism_conn *c = t_connect(&D, "survivor", 0);
	struct child_args a = { .sock = D.sock };
	struct ism_region *r;
	struct ism_event ev;
	struct ism_token t;
	int p[2];
	pid_t pid;
	void *m;

	(void)state;
	assert_int_equal(pipe(p), 0);
	a.pipe = p[1];
	pid = t_fork(owner_child, &a);
	assert_int_equal(read(p[0], &t, sizeof(t)), sizeof(t));
	assert_int_equal(ism_region_attach(c, &t, ISM_ACCESS_RO, 0, &r), 0);
	assert_int_equal(ism_region_map(r, &m), 0);
	t_kill(pid, SIGKILL);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	assert_int_equal(t_wait_event(c, ISM_EV_REGION_GONE, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_GONE_OWNER_LEFT);
	assert_int_equal(ev.region, ism_region_id(r));
	/* The memory was reclaimed: the stale mapping reads zeros, and the
	 * region no longer counts. */
	assert_int_equal(((volatile char *)m)[0], 0);
	assert_int_equal(regions_now(c), 0);
	ism_region_close(r);
	ism_conn_close(c);
	close(p[0]);
	close(p[1]);
}

static void test_attacher_killed(void **state)
{
	struct ism_conn *c = t_connect(&D, "owner", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct child_args a = { .sock = D.sock, .attach = true };
	struct ism_region *r;
	struct ism_event ev;
	struct ism_token t;
	int up[2], down[2];
	uint64_t child_id;
	char ok;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	a.pipe = up[1];
	a.ctl = down[0];
	assert_int_equal(ism_region_alloc(c, 4096, &o, &r), 0);
	ism_region_token(r, &t);
	pid = t_fork(attacher_child, &a);
	assert_int_equal(write(down[1], &t, sizeof(t)), sizeof(t));
	assert_int_equal(read(up[0], &ok, 1), 1);
	assert_int_equal(t_wait_event(c, ISM_EV_PEER_ATTACHED, &ev, 5000), 1);
	child_id = ev.peer;
	t_kill(pid, SIGKILL);
	t_wait(pid);
	assert_int_equal(t_wait_event(c, ISM_EV_PEER_DETACHED, &ev, 5000), 1);
	assert_int_equal(ev.peer, child_id);
	assert_int_equal(ev.reason, ISM_DETACH_DISCONNECTED);
	ism_region_close(r);
	ism_conn_close(c);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

/* A child that hammers ismd until killed at a random moment. */
static int busy_child(void *arg)
{
	const char *sock = arg;
	struct ism_conn *c, *d;
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW };

	if (ism_conn_open(sock, NULL, &c) < 0 ||
	    ism_conn_open(sock, NULL, &d) < 0)
		return 1;
	for (uint64_t i = 0;; i++) {
		struct ism_region *r, *s;
		struct ism_token t;
		char buf[256];

		if (ism_region_alloc(c, 4096 * (1 + i % 8), &o, &r) < 0)
			return 2;
		ism_region_token(r, &t);
		if (ism_region_attach(d, &t, ISM_ACCESS_RW,
				      i % 2 ? ISM_ATTACH_NOFD : 0, &s) < 0)
			return 3;
		ism_region_write(s, 0, buf, sizeof(buf));
		ism_region_notify(s, i);
		ism_region_read(s, 0, buf, sizeof(buf));
		if (i % 3)
			ism_region_close(s);
		if (i % 5)
			ism_region_close(r);
		ism_conn_process(c);
		ism_conn_process(d);
	}
}

static void test_kill_mid_operation(void **state)
{
	struct ism_conn *c = t_connect(&D, "observer", 0);
	unsigned seed = 42;
	int base = t_count_fds(D.pid);

	(void)state;
	for (int round = 0; round < 20; round++) {
		pid_t pid = t_fork(busy_child, D.sock);

		t_msleep(5 + (int)(rand_r(&seed) % 40));
		t_kill(pid, SIGKILL);
		assert_int_equal(t_wait(pid), 128 + SIGKILL);
	}
	assert_true(t_daemon_alive(&D));
	/* Everything the children held is released. */
	assert_true(T_WAIT_FOR(regions_now(c) == 0, 5000));
	assert_true(T_WAIT_FOR(t_count_fds(D.pid) <= base, 5000));
	ism_conn_close(c);
}

static void test_fd_leak_loop(void **state)
{
	int d_before, c_before, d_after, c_after;

	(void)state;
	/* Warm up allocator caches and lazily opened files. */
	ism_conn_close(t_connect(&D, "warmup", 0));
	t_msleep(50);
	d_before = t_count_fds(D.pid);
	c_before = t_count_fds(getpid());
	for (int i = 0; i < 300; i++) {
		struct ism_conn *a = t_connect(&D, "loop-a", 0);
		struct ism_conn *b = t_connect(&D, "loop-b", 0);
		struct ism_alloc_opts o = { .size = sizeof(o) };
		struct ism_region *r, *s;
		struct ism_token t;
		void *m;

		assert_int_equal(ism_region_alloc(a, 8192, &o, &r), 0);
		ism_region_token(r, &t);
		assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO,
						   i % 2 ? ISM_ATTACH_NOFD : 0,
						   &s),
				 0);
		if (!(i % 2))
			assert_int_equal(ism_region_map(s, &m), 0);
		assert_int_equal(ism_region_notify(r, 1), 1);
		if (i % 3 == 0) {
			/* Leave the handles to ism_conn_close(). */
		} else {
			ism_region_close(s);
			ism_region_close(r);
		}
		ism_conn_close(b);
		ism_conn_close(a);
	}
	c_after = t_count_fds(getpid());
	assert_true(
		T_WAIT_FOR((d_after = t_count_fds(D.pid)) <= d_before, 5000));
	fprintf(stderr, "fds: ismd %d -> %d, client %d -> %d\n", d_before,
		d_after, c_before, c_after);
	assert_int_equal(c_after, c_before);
}

static void test_many_peers(void **state)
{
	enum { N = 1000 };
	static struct ism_conn *c[N];
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *s;
	struct ism_token t;
	struct ism_status st;
	struct rlimit rl;

	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 6 * N + 100) {
		fprintf(stderr, "RLIMIT_NOFILE %llu too low for %d peers\n",
			(unsigned long long)rl.rlim_cur, N);
		skip();
	}
	for (int i = 0; i < N; i++)
		c[i] = t_connect(&D, "many", 0);
	assert_int_equal(ism_admin_status(c[0], &st), 0);
	assert_true(st.peers >= N);
	/* The last one can still do real work. */
	assert_int_equal(ism_region_alloc(c[N - 1], 4096, &o, &r), 0);
	ism_region_token(r, &t);
	assert_int_equal(ism_region_attach(c[0], &t, ISM_ACCESS_RO, 0, &s), 0);
	assert_int_equal(ism_region_notify(s, 9), 1);
	ism_region_close(s);
	ism_region_close(r);
	for (int i = 0; i < N; i++)
		ism_conn_close(c[i]);
}

static void test_many_regions(void **state)
{
	enum { N = 10000 };
	static struct ism_region *r[N];
	struct ism_conn *a = t_connect(&D, "big-owner", 0);
	struct ism_conn *b = t_connect(&D, "big-reader", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region_entry e[256];
	struct rlimit rl;
	uint64_t cursor = 0, next;
	int listed = 0;

	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < N + 1000) {
		fprintf(stderr, "RLIMIT_NOFILE %llu too low for %d regions\n",
			(unsigned long long)rl.rlim_cur, N);
		skip();
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(ism_region_alloc(a, 4096, &o, &r[i]), 0);
	/* A reader attaches to a slice of them without fds. */
	for (int i = 0; i < N; i += 10) {
		struct ism_region *s;
		struct ism_token t;

		ism_region_token(r[i], &t);
		assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO,
						   ISM_ATTACH_NOFD, &s),
				 0);
	}
	do {
		int n = ism_admin_list_regions(a, cursor, e, 256, &next);

		assert_true(n >= 0);
		listed += n;
		cursor = next;
	} while (cursor);
	assert_int_equal(listed, N);
	assert_int_equal(regions_now(b), N);
	ism_conn_close(a); /* destroys all 10,000; b hears of each */
	assert_true(T_WAIT_FOR(regions_now(b) == 0, 10000));
	ism_conn_close(b);
}

static void test_quotas(void **state)
{
	static const char *const args[] = {
		"--quota-regions",
		"3",
		"--quota-bytes",
		"64K",
		"--quota-attachments",
		"2",
		"--max-memory",
		"96K",
		"--max-peers",
		"4",
		"--quota-events",
		"8",
		NULL,
	};
	struct ism_private q;
	struct ism_conn *a, *b, *c;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r[4], *s[3];
	struct ism_token t;

	(void)state;
	assert_int_equal(t_daemon_start(&q, args), 0);
	a = t_connect(&q, "a", 0);
	b = t_connect(&q, "b", 0);
	/* Regions per peer. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ism_region_alloc(a, 4096, &o, &r[i]), 0);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r[3]), -EDQUOT);
	ism_region_close(r[2]);
	/* Bytes per peer: 2 x 4K held, 64K more would pass 64K. */
	assert_int_equal(ism_region_alloc(a, 64 * 1024, &o, &r[2]), -EDQUOT);
	assert_int_equal(ism_region_alloc(a, 56 * 1024, &o, &r[2]), 0);
	/* The host cap: 64K held by a, b may have 32K more, not 36K. */
	assert_int_equal(ism_region_alloc(b, 36 * 1024, &o, &r[3]), -ENOMEM);
	assert_int_equal(ism_region_alloc(b, 32 * 1024, &o, &r[3]), 0);
	ism_region_close(r[3]);
	/* Attachments per peer. */
	for (int i = 0; i < 2; i++) {
		ism_region_token(r[i], &t);
		assert_int_equal(
			ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &s[i]), 0);
	}
	ism_region_token(r[2], &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &s[2]),
			 -EDQUOT);
	ism_region_close(s[0]);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &s[2]), 0);
	/* Peers: a, b and c connected; a fourth fits, a fifth is refused. */
	c = t_connect(&q, "c", 0);
	struct ism_conn *x1, *x2;

	assert_int_equal(ism_conn_open(q.sock, NULL, &x1), 0);
	assert_int_equal(ism_conn_open(q.sock, NULL, &x2), -EUSERS);
	ism_conn_close(x1);
	ism_conn_close(c);
	ism_conn_close(b);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&q));
	assert_int_equal(t_daemon_cleanup(&q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_killed),
		cmocka_unit_test(test_attacher_killed),
		cmocka_unit_test(test_kill_mid_operation),
		cmocka_unit_test(test_fd_leak_loop),
		cmocka_unit_test(test_many_peers),
		cmocka_unit_test(test_many_regions),
		cmocka_unit_test(test_quotas),
	};

	return t_exit(cmocka_run_group_tests(tests, setup, teardown));
}
