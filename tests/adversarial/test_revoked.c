/* SPDX-License-Identifier: MIT */
/*
 * Administrator revocations across restarts, at the edges of the revoked
 * list (the state directory's file "revoked": 8-byte little-endian region
 * ids, appended).  White-box: the tests write that file while ismd is
 * stopped, as many revocations over a long life would have.
 *
 * - Past 65,536 recorded revocations, the last one still holds: the
 *   owner's re-registration after a restart fails (REGION_GONE), while
 *   its unrevoked region comes back.
 * - A torn last record (a crash mid-append) is dropped, and a revocation
 *   recorded after it, at run time, is read back whole at the next start:
 *   its owner, replaying its proof, cannot re-register it.
 * - A list too large to hold fails closed: no region of an earlier epoch
 *   is re-registered, and new regions still work.
 */
#include "t_daemon.h"
#include "client/client.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const args[] = { "--recovery-window", "30000", NULL };
static uint8_t msg[ISM_WIRE_MAX_MSG];

static void append_ids(struct ism_private *D, const uint64_t *ids, size_t n,
		       size_t torn)
{
	char path[200];
	size_t len = n * 8 + torn;
	uint8_t *b = calloc(1, len + 8);
	int fd;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++)
			b[i * 8 + k] = (uint8_t)(ids[i] >> (8 * k));
	/* A torn record: the first bytes of an id that never landed. */
	memset(b + n * 8, 0x5a, torn);
	snprintf(path, sizeof(path), "%s/revoked", D->state);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
	free(b);
}

static bool log_says(struct ism_private *D, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(D->log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static bool gone(struct ism_region *r)
{
	struct ism_region_info info;

	assert_int_equal(ism_region_info(r, &info), 0);
	return info.gone;
}

/* After a restart: @lost must be reported gone to its owner @a, @kept
 * must have been re-registered. */
static void expect_lost_and_kept(struct ism_conn *a, struct ism_region *lost,
				 struct ism_region *kept)
{
	struct ism_event ev;

	/* The owner reconnects by itself; a refused re-registration is
	 * reported (before RECONNECTED) as REGION_GONE. */
	assert_int_equal(t_wait_event(a, ISM_EV_REGION_GONE, &ev, 10000), 1);
	assert_int_equal(ev.region, ism_region_id(lost));
	assert_int_equal(ev.reason, ISM_GONE_LOST);
	assert_true(gone(lost));
	assert_int_equal(ism_region_notify(lost, 1), -ENOENT);
	if (kept) {
		assert_false(gone(kept));
		assert_int_equal(ism_region_notify(kept, 1), 0);
	}
}

static void test_past_65536(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *keep;
	struct ism_private D;
	struct ism_conn *a;
	uint64_t *ids;
	size_t n = 65536;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "owner", ISM_CONN_RECONNECT);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), 0);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &keep), 0);
	assert_int_equal(t_daemon_stop(&D), 0);

	/* 65,536 revocations of other (never issued) regions of epoch 1,
	 * then this one's. */
	ids = calloc(n + 1, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (ism_region_id(r) & ~0xffffffffull) | (0x40000000 + i);
	ids[n] = ism_region_id(r);
	append_ids(&D, ids, n + 1, 0);
	free(ids);

	assert_int_equal(t_daemon_restart(&D), 0);
	expect_lost_and_kept(a, r, keep);
	ism_region_close(r);
	ism_region_close(keep);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&D));
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

/* What a hostile owner keeps to replay a registration later. */
struct stolen {
	uint64_t peer_id;
	uint8_t resume[ISM_PROOF_SIZE];
	uint64_t region, size;
	struct ism_token token;
	uint8_t proof[ISM_PROOF_SIZE];
	int fd;
};

static void steal(struct ism_conn *c, struct ism_region *r, struct stolen *s)
{
	s->peer_id = c->peer_id;
	memcpy(s->resume, c->resume_proof, ISM_PROOF_SIZE);
	s->region = r->id;
	s->size = r->size;
	s->token = r->token;
	memcpy(s->proof, r->proof, ISM_PROOF_SIZE);
	s->fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
	assert_true(s->fd >= 0);
}

/* A raw connection resuming @s's peer id (must be granted); returns fd. */
static int raw_resume(const char *sock, const struct stolen *s)
{
	struct ism_hello_req h = { .min_version = 1,
				   .max_version = 1,
				   .flags = ISM_HELLO_F_RESUME,
				   .resume_id = s->peer_id };
	struct ism_hello_rep rep;
	struct ism_wire_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int fd = t_raw_connect(sock), n;

	assert_true(fd >= 0);
	memcpy(h.resume_proof, s->resume, ISM_PROOF_SIZE);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &h);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, NULL, 0, 0), 0);
	n = (int)t_raw_recv(fd, msg, sizeof(msg), 5000, NULL, NULL);
	assert_true(n > 0);
	ism_rbuf_init(&rb, msg, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hdr), 0);
	assert_int_equal(hdr.status, 0);
	assert_int_equal(ism_proto_get_hello_rep(&rb, &rep), 0);
	assert_true(rep.flags & ISM_HELLO_R_RESUMED);
	assert_int_equal(rep.peer_id, s->peer_id);
	return fd;
}

/* REGISTER @s's region as its owner would; returns the entry's status
 * (positive errno, 0 = accepted) or the request's (negative). */
static int raw_register(int fd, const struct stolen *s)
{
	static struct ism_register_req rq;
	struct ism_register_ent *e = &rq.ent[0];
	struct ism_batch_rep br;
	struct ism_wire_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int n;

	memset(&rq, 0, sizeof(rq));
	rq.n = 1;
	e->region = s->region;
	e->size = s->size;
	memcpy(e->token, s->token.b, ISM_TOKEN_SIZE);
	memcpy(e->proof, s->proof, ISM_PROOF_SIZE);
	e->max_access = ISM_ACCESS_RO;
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_REGISTER, 0, 2, 0);
	ism_proto_put_register_req(&b, &rq);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, &s->fd, 1, 0), 0);
	n = (int)t_raw_recv(fd, msg, sizeof(msg), 5000, NULL, NULL);
	assert_true(n > 0);
	ism_rbuf_init(&rb, msg, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hdr), 0);
	if (hdr.status)
		return -(int)hdr.status;
	assert_int_equal(ism_proto_get_batch_rep(&rb, &br), 0);
	return (int)br.status[0];
}

static void test_torn_record(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *keep, *rb, *rc;
	struct ism_conn *a, *b, *admin;
	struct stolen sb, sc;
	struct ism_event ev;
	struct ism_private D;
	uint64_t id;
	int fd;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "owner", ISM_CONN_RECONNECT);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), 0);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &keep), 0);
	t_daemon_kill9(&D);

	/* r's revocation, then 3 bytes of one torn by the crash. */
	id = ism_region_id(r);
	append_ids(&D, &id, 1, 3);
	assert_int_equal(t_daemon_restart(&D), 0);
	expect_lost_and_kept(a, r, keep);

	/* At run time, an administrator revokes one of b's regions and
	 * leaves another; b keeps what it needs to claim both later. */
	b = t_connect(&D, "hostile", 0);
	admin = t_connect(&D, "admin", 0);
	assert_int_equal(ism_region_alloc(b, 4096, &o, &rb), 0);
	assert_int_equal(ism_region_alloc(b, 4096, &o, &rc), 0);
	steal(b, rb, &sb);
	steal(b, rc, &sc);
	/* Recorded before the reply: a crash right after loses nothing.
	 * The owner is told. */
	assert_int_equal(ism_admin_destroy(admin, sb.region), 1);
	t_daemon_kill9(&D);

	/* That record, appended after the torn one, must read back whole. */
	assert_int_equal(t_daemon_restart(&D), 0);
	fd = raw_resume(D.sock, &sb);
	assert_int_equal(raw_register(fd, &sb), EACCES);
	assert_int_equal(raw_register(fd, &sc), 0);
	/* And the first revocation still holds: a stays without r. */
	assert_int_equal(t_wait_event(a, ISM_EV_RECONNECTED, &ev, 10000), 1);
	assert_true(gone(r));
	assert_false(gone(keep));
	assert_int_equal(ism_region_notify(keep, 1), 0);
	assert_true(log_says(&D, "torn"));
	close(fd);
	close(sb.fd);
	close(sc.fd);
	ism_region_close(rb);
	ism_region_close(rc);
	ism_region_close(r);
	ism_region_close(keep);
	ism_conn_close(b);
	ism_conn_close(admin);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&D));
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

static void test_too_many_fail_closed(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *fresh;
	struct ism_private D;
	struct ism_conn *a;
	char path[200];
	int fd;

	(void)state;
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = t_connect(&D, "owner", ISM_CONN_RECONNECT);
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), 0);
	assert_int_equal(t_daemon_stop(&D), 0);

	/* One record over ismd's bound of 16 Mi (a sparse file: which ids
	 * it holds does not matter, that it cannot all be held does). */
	snprintf(path, sizeof(path), "%s/revoked", D.state);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ((16 << 20) + 1) * (off_t)8), 0);
	close(fd);

	assert_int_equal(t_daemon_restart(&D), 0);
	expect_lost_and_kept(a, r, NULL);
	assert_true(log_says(&D, "failing closed"));
	/* This epoch's regions are unaffected. */
	assert_int_equal(ism_region_alloc(a, 4096, &o, &fresh), 0);
	assert_int_equal(ism_region_notify(fresh, 1), 0);
	ism_region_close(fresh);
	ism_region_close(r);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&D));
	assert_int_equal(t_daemon_cleanup(&D), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_past_65536),
		cmocka_unit_test(test_torn_record),
		cmocka_unit_test(test_too_many_fail_closed),
	};

	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
