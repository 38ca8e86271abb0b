/* SPDX-License-Identifier: MIT */
/*
 * ismd restarts (kill -9 and SIGTERM) while peers keep working: mappings
 * stay live, libism reconnects, resumes its peer id, re-registers owned
 * regions and re-attaches references, tokens stay valid and the host id
 * stays the same.  Also: the recovery window closing, a stale socket
 * reclaimed, and a second ismd refused while one answers.
 */
#include "t_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint32_t epoch_of(struct ism_conn *c)
{
	struct ism_status st;

	assert_int_equal(ism_admin_status(c, &st), 0);
	return st.epoch;
}

/*
 * @attacher_first: the attacher reconnects before the owner re-registers
 * (its reference waits in ismd) or after.  @graceful: SIGTERM, not -9.
 */
static void restart_case(bool attacher_first, bool graceful)
{
	static const char *const args[] = { "--recovery-window", "20000",
					    NULL };
	struct ism_private D;
	struct ism_conn *a, *b;
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW,
				    .name = "survivor" };
	struct ism_region *ra, *rb, *rn, *rd;
	struct ism_host_id h1, h2;
	struct ism_token t;
	struct ism_event ev;
	uint64_t ida, idb, region;
	uint32_t epoch;
	char *pa, *pb, buf[16];

	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "owner", ISM_CONN_RECONNECT);
	b = t_connect(&D, "reader", ISM_CONN_RECONNECT);
	ida = ism_conn_peer_id(a);
	idb = ism_conn_peer_id(b);
	ism_conn_host_id(a, &h1);
	epoch = epoch_of(a);
	assert_int_equal(ism_region_alloc(a, 65536, &o, &ra), 0);
	region = ism_region_id(ra);
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	assert_int_equal(
		ism_region_attach(b, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD, &rn),
		-EALREADY);
	assert_int_equal(ism_region_map(ra, (void **)&pa), 0);
	assert_int_equal(ism_region_map(rb, (void **)&pb), 0);
	strcpy(pa, "before");

	if (graceful)
		assert_int_equal(t_daemon_stop(&D), 0);
	else
		t_daemon_kill9(&D);
	/* With ismd gone the data path still works. */
	strcpy(pa, "during");
	assert_string_equal(pb, "during");
	assert_int_equal(t_daemon_restart(&D), 0);

	if (attacher_first) {
		assert_int_equal(
			t_wait_event(b, ISM_EV_RECONNECTED, &ev, 10000), 1);
		assert_int_equal(ev.peer, idb);
	}
	/* The owner's next call reconnects inside the call. */
	int n = ism_region_notify(ra, 77);

	if (n == -ECONNRESET)
		n = ism_region_notify(ra, 77);
	if (!attacher_first) {
		assert_int_equal(n, 0); /* b has not re-attached yet */
		assert_int_equal(
			t_wait_event(b, ISM_EV_RECONNECTED, &ev, 10000), 1);
		assert_int_equal(ism_region_notify(ra, 77), 1);
	} else {
		assert_int_equal(n, 1);
	}
	assert_int_equal(t_wait_event(b, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 77);
	assert_int_equal(ev.peer, ida);
	assert_int_equal(ev.region, region);
	/* Same identities, same host, a new epoch. */
	assert_int_equal(ism_conn_peer_id(a), ida);
	assert_int_equal(ism_conn_peer_id(b), idb);
	ism_conn_host_id(a, &h2);
	assert_true(ism_host_id_equal(&h1, &h2));
	assert_int_equal(epoch_of(a), epoch + 1);
	/* The token still works for a newcomer, with the same grant. */
	struct ism_conn *d = t_connect(&D, "newcomer", 0);

	assert_int_equal(
		ism_region_attach(d, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD, &rd),
		0);
	assert_int_equal(ism_region_id(rd), region);
	assert_int_equal(ism_region_read(rd, 0, buf, 7), 7);
	assert_string_equal(buf, "during");
	assert_int_equal(ism_region_write(rd, 0, "after", 6), 6);
	assert_string_equal(pb, "after");
	/* And destroy still reaches everyone. */
	assert_int_equal(ism_region_destroy(ra), 2);
	assert_int_equal(t_wait_event(b, ISM_EV_REGION_GONE, &ev, 5000), 1);
	ism_region_close(rd);
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(d);
	ism_conn_close(b);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&D));
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

static void test_kill9_attacher_first(void **state)
{
	(void)state;
	restart_case(true, false);
}

static void test_kill9_owner_first(void **state)
{
	(void)state;
	restart_case(false, false);
}

static void test_sigterm_restart(void **state)
{
	(void)state;
	restart_case(true, true);
}

static void test_window_closes(void **state)
{
	static const char *const args[] = { "--recovery-window", "200", NULL };
	struct ism_private D;
	struct ism_conn *a;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r;
	struct ism_event ev;
	uint64_t id;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "late", ISM_CONN_RECONNECT);
	id = ism_conn_peer_id(a);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), 0);
	t_daemon_kill9(&D);
	assert_int_equal(t_daemon_restart(&D), 0);
	t_msleep(600); /* past the window: nothing can be claimed */
	assert_int_equal(t_wait_event(a, ISM_EV_RECONNECTED, &ev, 10000), 1);
	assert_int_not_equal(ism_conn_peer_id(a), id);
	/* The region is reported lost (before the reconnect event). */
	struct ism_region_info info;

	ism_region_info(r, &info);
	assert_true(info.gone);
	assert_int_equal(ism_region_notify(r, 1), -ENOENT);
	ism_region_close(r);
	ism_conn_close(a);
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

static void test_owner_never_returns(void **state)
{
	static const char *const args[] = { "--recovery-window", "500", NULL };
	struct ism_private D;
	struct ism_conn *a, *b;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *ra, *rb;
	struct ism_token t;
	struct ism_event ev;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "owner", 0); /* no reconnect: it will not return */
	b = t_connect(&D, "reader", ISM_CONN_RECONNECT);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &ra), 0);
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	t_daemon_kill9(&D);
	assert_int_equal(t_daemon_restart(&D), 0);
	assert_int_equal(t_wait_event(b, ISM_EV_RECONNECTED, &ev, 10000), 1);
	/* b's reference waits for an owner who never comes back. */
	assert_int_equal(t_wait_event(b, ISM_EV_REGION_GONE, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_GONE_LOST);
	assert_int_equal(ev.region, ism_region_id(rb));
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

static void test_socket_ownership(void **state)
{
	struct ism_private D;
	char state2[200];
	char *argv[6];
	int st;
	pid_t pid;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	/* A second ismd on the same socket (own state) must refuse. */
	snprintf(state2, sizeof(state2), "%s/state2", D.dir);
	argv[0] = (char *)t_prog("ISMD", "ismd/ismd");
	argv[1] = "--socket";
	argv[2] = D.sock;
	argv[3] = "--state-dir";
	argv[4] = state2;
	argv[5] = NULL;
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	st = t_wait(pid);
	assert_int_equal(st, 1);
	/* The first still serves. */
	struct ism_conn *c = t_connect(&D, "still", 0);

	ism_conn_close(c);
	/* After a crash the socket file is stale, and is reclaimed. */
	t_daemon_kill9(&D);
	assert_int_equal(access(D.sock, F_OK), 0);
	assert_int_equal(t_daemon_restart(&D), 0);
	c = t_connect(&D, "again", 0);
	ism_conn_close(c);
	/* A clean stop removes the socket. */
	assert_int_equal(t_daemon_stop(&D), 0);
	assert_int_not_equal(access(D.sock, F_OK), 0);
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_attacher_first),
		cmocka_unit_test(test_kill9_owner_first),
		cmocka_unit_test(test_sigterm_restart),
		cmocka_unit_test(test_window_closes),
		cmocka_unit_test(test_owner_never_returns),
		cmocka_unit_test(test_socket_ownership),
	};

	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
