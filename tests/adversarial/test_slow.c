/* SPDX-License-Identifier: MIT */
/*
 * Peers that do not keep up: one that never reads its socket (its
 * notifications are coalesced; attach/detach events others cause are
 * dropped and counted, never a reason to drop it), one that pipelines
 * requests without reading replies (only it stalls), and one that makes
 * its doorbell eventfd block (the ringer finds it and drops that peer).
 * ismd keeps serving everyone else promptly throughout.
 */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t msg[ISM_WIRE_MAX_MSG];

static const char *const daemon_args[] = { "--quota-events", "64", NULL };

/* A raw peer (never reads unless told) attached to @tok. */
static int raw_attach(const struct ism_token *tok, int doorbell)
{
	struct ism_attach_req a = { .access = ISM_ACCESS_RO,
				    .flags = ISM_ATTACH_NOFD };
	struct ism_hello_req h = { .min_version = 1, .max_version = 1 };
	struct ism_wbuf b;
	int fd = t_raw_connect(t_group.sock), n;

	assert_true(fd >= 0);
	if (doorbell >= 0)
		h.flags = ISM_HELLO_F_DOORBELL;
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &h);
	n = ism_proto_end(&b);
	assert_int_equal(
		ism_wire_send(fd, msg, (size_t)n, &doorbell, doorbell >= 0, 0),
		0);
	assert_int_equal(t_raw_reply(fd, NULL, NULL, 5000), 0);
	memcpy(a.token, tok->b, ISM_TOKEN_SIZE);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_ATTACH, 0, 2, 0);
	ism_proto_put_attach_req(&b, &a);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, NULL, 0, 0), 0);
	assert_int_equal(t_raw_reply(fd, NULL, NULL, 5000), 0);
	return fd;
}

static void test_never_reads(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "owner", 0);
	struct ism_conn *other = t_connect(&t_group, "other", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *s;
	struct ism_status st;
	struct ism_token t;
	int slow;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &r), 0);
	ism_region_token(r, &t);
	slow = raw_attach(&t, -1);
	/* Plenty of notifications: none may block the sender. */
	for (int i = 0; i < 20000; i++)
		assert_int_equal(ism_region_notify(r, (uint64_t)i), 1);
	assert_int_equal(ism_admin_status(owner, &st), 0);
	assert_true(st.events_coalesced > 0);
	assert_int_equal(st.evictions, 0);
	/* The slow peer, once it reads, gets the latest value last. */
	{
		uint64_t last = 0, total = 0;
		ssize_t n;

		while ((n = t_raw_recv(slow, msg, sizeof(msg), 200, NULL,
				       NULL)) > 0) {
			struct ism_rbuf rb;
			struct ism_wire_hdr h;
			struct ism_event ev;

			ism_rbuf_init(&rb, msg, (size_t)n);
			assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h),
					 0);
			if (h.type != ISM_MSG_EV_NOTIFY)
				continue;
			assert_int_equal(ism_proto_get_event(&rb, h.type, &ev),
					 0);
			last = ev.value;
			total += ev.count;
		}
		assert_int_equal(last, 19999);
		/* Nothing silently lost: every notification is counted,
		 * delivered or coalesced (the quota of 64 was never hit:
		 * one region, one sender). */
		assert_int_equal(total, 20000);
	}
	/* Now events that cannot be coalesced: attach/detach churn by
	 * another peer on a region the slow peer owns.  Others cause them,
	 * as often as they like: they are dropped and counted, and the slow
	 * owner is never dropped for them (its regions would go with it). */
	{
		struct ism_alloc_req a = { .size = 4096,
					   .max_access = ISM_ACCESS_RO };
		struct ism_alloc_rep ar;
		struct ism_token st_tok;
		struct ism_wbuf b;
		struct ism_rbuf rb;
		struct ism_wire_hdr h;
		int n, fds[ISM_WIRE_MAX_FDS];
		unsigned nfds;

		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_ALLOC, 0, 3, 0);
		ism_proto_put_alloc_req(&b, &a);
		n = ism_proto_end(&b);
		assert_int_equal(
			ism_wire_send(slow, msg, (size_t)n, NULL, 0, 0), 0);
		n = (int)t_raw_recv(slow, msg, sizeof(msg), 5000, fds, &nfds);
		assert_true(n > 0);
		ism_close_fds(fds, nfds);
		ism_rbuf_init(&rb, msg, (size_t)n);
		assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
		assert_int_equal(ism_proto_get_alloc_rep(&rb, &ar), 0);
		memcpy(st_tok.b, ar.token, ISM_TOKEN_SIZE);
		for (int i = 0; i < 20000; i++) {
			assert_int_equal(ism_region_attach(other, &st_tok,
							   ISM_ACCESS_RO,
							   ISM_ATTACH_NOFD, &s),
					 0);
			ism_region_close(s);
		}
	}
	assert_int_equal(ism_admin_status(owner, &st), 0);
	assert_int_equal(st.evictions, 0);
	assert_true(st.events_lost > 0);
	/* The slow peer reads its queue: what was lost is reported by an
	 * OVERFLOW event, and it is still connected and served. */
	{
		uint64_t lost = 0;
		ssize_t n;
		struct ism_wbuf b;
		int k;

		while ((n = t_raw_recv(slow, msg, sizeof(msg), 500, NULL,
				       NULL)) > 0) {
			struct ism_rbuf rb;
			struct ism_wire_hdr h;
			struct ism_event ev;

			ism_rbuf_init(&rb, msg, (size_t)n);
			assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h),
					 0);
			if (h.type != ISM_MSG_EV_OVERFLOW)
				continue;
			assert_int_equal(ism_proto_get_event(&rb, h.type, &ev),
					 0);
			lost += ev.count;
		}
		assert_true(lost > 0);
		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STATUS, 0, 77, 0);
		k = ism_proto_end(&b);
		assert_int_equal(
			ism_wire_send(slow, msg, (size_t)k, NULL, 0, 0), 0);
		assert_int_equal(t_raw_reply(slow, NULL, NULL, 5000), 0);
	}
	close(slow);
	assert_true(T_WAIT_FOR(ism_region_notify(r, 1) == 0, 5000));
	ism_region_close(r);
	ism_conn_close(other);
	ism_conn_close(owner);
}

static void test_pipeline_without_reading(void **state)
{
	struct ism_conn *bystander = t_connect(&t_group, "bystander", 0);
	int fd = t_raw_connect(t_group.sock), sent = 0, got = 0;
	struct ism_status st;

	(void)state;
	assert_int_equal(t_raw_hello(fd, NULL), 0);
	/* Send until the socket refuses: ismd stopped reading us. */
	for (uint32_t seq = 10;; seq++) {
		struct ism_wbuf b;
		int n;

		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STATUS, 0, seq,
				0);
		n = ism_proto_end(&b);
		if (ism_wire_send(fd, msg, (size_t)n, NULL, 0, MSG_DONTWAIT) <
		    0)
			break;
		sent++;
		assert_true(sent < 1000000);
	}
	/* Others are still served. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(ism_admin_status(bystander, &st), 0);
	/* Then every request is answered, none lost. */
	while (got < sent) {
		int r = t_raw_reply(fd, NULL, NULL, 5000);

		assert_int_equal(r, 0);
		got++;
	}
	fprintf(stderr, "%d pipelined requests, all answered\n", sent);
	close(fd);
	ism_conn_close(bystander);
}

static void test_blocking_doorbell(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "owner", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r;
	struct ism_token t;
	uint64_t big = 0xfffffffffffffffeull;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), evil;
	uint64_t t0;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &r), 0);
	ism_region_token(r, &t);
	evil = raw_attach(&t, efd);
	/* Saturate the counter, then make ismd's write block: O_NONBLOCK
	 * lives in the open file description ismd shares with us. */
	assert_int_equal(write(efd, &big, sizeof(big)), sizeof(big));
	assert_int_equal(fcntl(efd, F_SETFL, 0), 0);
	t0 = ism_now_ns();
	assert_int_equal(ism_region_notify(r, 1), 1);
	/* ismd never writes it on its loop: the ringer finds O_NONBLOCK
	 * cleared and the peer is dropped. */
	assert_true(ism_now_ns() - t0 < 5000000000ull);
	assert_true(t_daemon_alive(&t_group));
	assert_true(T_WAIT_FOR(ism_region_notify(r, 2) == 0, 5000));
	close(evil);
	close(efd);
	ism_region_close(r);
	ism_conn_close(owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_reads),
		cmocka_unit_test(test_pipeline_without_reading),
		cmocka_unit_test(test_blocking_doorbell),
	};

	t_group_args = daemon_args;
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
