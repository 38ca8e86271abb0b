/* SPDX-License-Identifier: MIT */
/*
 * Guests as ism peers (ismd --ivshmem ...,control=on; ismd/ivsh_guest.c)
 * without a VM: a host process joins the domain as a member and speaks
 * the guest's side (guest/ctl.c, what ism-guest runs in a real guest,
 * tests/vm/test_vm_peer.py) over a channel to ismd's member.  Checked:
 * attach by token and read, a read-only grant refuses writes, a guest's
 * region read by a host process, a revocation seen by the guest, a guest
 * listed as a peer with the domain's guest uid, what needs fds refused,
 * garbage refused without harm, the guest's peer and regions ending with
 * its channel, a guest that never reads stalling only itself, and a guest
 * that breaks its ring dropped.
 */
#include "t_daemon.h"

#include <ism-guest.h>
#include <ism/ivchan.h>

#include "ivchan/ivchan.h"
#include "proto/proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_UID 4242u

static char dom_path[128];

/* A "guest": a member of domain vm, and its control channel to ismd. */
struct tguest {
	struct ism_conn *c;
	struct ism_ivshmem *m;
	struct ism_ivdom *d;
	struct ism_guest_ctl *ctl;
};

static void guest_open(struct tguest *g)
{
	memset(g, 0, sizeof(*g));
	g->c = t_connect(&t_group, "member", 0);
	assert_int_equal(ism_ivshmem_join(g->c, "vm", &g->m), 0);
	assert_int_equal(ism_ivshmem_ivdom(g->m, &g->d), 0);
	/* ismd joined its own domain first: member 0. */
	assert_int_equal(ism_guest_ctl_open(g->d, 0, "t-guest", 20000, &g->ctl),
			 0);
}

static void guest_close(struct tguest *g)
{
	ism_guest_ctl_close(g->ctl);
	ism_ivdom_close(g->d);
	ism_ivshmem_leave(g->m);
	ism_conn_close(g->c);
}

static struct ism_region *host_alloc(struct ism_conn *c, uint32_t max_access,
				     const char *text)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = max_access };
	struct ism_region *r;
	void *p;

	assert_int_equal(ism_region_alloc(c, 4096, &o, &r), 0);
	assert_int_equal(ism_region_map(r, &p), 0);
	memcpy(p, text, strlen(text));
	return r;
}

/* Attach by token and read; a read-only grant refuses writes and a
 * read-write attach. */
static void test_attach_read(void **state)
{
	struct ism_conn *h = t_connect(&t_group, "host", 0);
	struct ism_region *r = host_alloc(h, ISM_ACCESS_RO, "from the host");
	struct ism_token tok;
	struct tguest g;
	uint64_t region, size;
	char buf[64];

	(void)state;
	guest_open(&g);
	ism_region_token(r, &tok);
	assert_int_equal(ism_guest_ctl_attach(g.ctl, tok.b, ISM_ACCESS_RW,
					      &region, &size),
			 -EACCES);
	assert_int_equal(ism_guest_ctl_attach(g.ctl, tok.b, ISM_ACCESS_RO,
					      &region, &size),
			 0);
	assert_int_equal(region, ism_region_id(r));
	assert_int_equal(size, 4096);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(ism_guest_ctl_read(g.ctl, region, 0, buf, 13), 13);
	assert_string_equal(buf, "from the host");
	assert_int_equal(ism_guest_ctl_write(g.ctl, region, 0, "x", 1),
			 -EACCES);
	/* Out of range and unknown regions: ismd's own checks. */
	assert_int_equal(ism_guest_ctl_read(g.ctl, region, 4090, buf, 10),
			 -EINVAL);
	assert_int_equal(ism_guest_ctl_read(g.ctl, region + 99, 0, buf, 1),
			 -ENOENT);
	/* What a read-write grant allows, the guest writes. */
	{
		struct ism_region *w = host_alloc(h, ISM_ACCESS_RW, "");
		char *p;

		ism_region_token(w, &tok);
		assert_int_equal(ism_guest_ctl_attach(g.ctl, tok.b,
						      ISM_ACCESS_RW, &region,
						      &size),
				 0);
		assert_int_equal(
			ism_guest_ctl_write(g.ctl, region, 100, "guest!", 6),
			0);
		assert_int_equal(ism_region_map(w, (void **)&p), 0);
		assert_memory_equal(p + 100, "guest!", 6);
		ism_region_close(w);
	}
	guest_close(&g);
	ism_region_close(r);
	ism_conn_close(h);
}

/* The guest allocates and writes; a host process attaches by token and
 * reads it from its own mapping.  The guest is a peer (its uid is the
 * domain's guest_uid); its region ends with its channel. */
static void test_guest_alloc(void **state)
{
	struct ism_conn *h = t_connect(&t_group, "host", 0);
	struct ism_peer_info pi[32];
	struct ism_region *r;
	struct ism_token tok;
	struct tguest g;
	uint64_t region, next;
	char *p;
	int n, found = 0;

	(void)state;
	guest_open(&g);
	assert_int_equal(ism_guest_ctl_alloc(g.ctl, 8192, ISM_ACCESS_RO,
					     "guest-region", &region, tok.b),
			 0);
	assert_int_equal(ism_guest_ctl_write(g.ctl, region, 4000,
					     "written by a guest", 18),
			 0);
	assert_int_equal(ism_region_attach(h, &tok, ISM_ACCESS_RO, 0, &r), 0);
	assert_int_equal(ism_region_map(r, (void **)&p), 0);
	assert_memory_equal(p + 4000, "written by a guest", 18);
	assert_int_equal(ism_region_size(r), 8192);
	/* The host reader holds a read-only grant. */
	assert_int_equal(ism_region_write(r, 0, "x", 1), -EACCES);

	n = ism_admin_list_peers(h, 0, pi, 32, &next);
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		if (pi[i].id == ism_guest_ctl_peer_id(g.ctl)) {
			found = 1;
			assert_int_equal(pi[i].uid, GUEST_UID);
			assert_int_equal(pi[i].flags & ISM_PEER_ADMIN, 0);
			assert_string_equal(pi[i].name, "t-guest");
			assert_int_equal(pi[i].regions, 1);
		}
	assert_true(found);

	/* The channel ends: so does the peer, and its region. */
	ism_guest_ctl_close(g.ctl);
	g.ctl = NULL;
	{
		struct ism_event ev;
		int got = 0;

		for (int i = 0; i < 100 && !got; i++) {
			int e = ism_conn_wait_event(h, &ev, 100);

			if (e == 1 && ev.type == ISM_EV_REGION_GONE &&
			    ev.region == region)
				got = 1;
		}
		assert_true(got);
	}
	ism_region_close(r);
	guest_close(&g);
	ism_conn_close(h);
}

/* The host revokes (destroys) a region the guest attached: the guest gets
 * the event, and reads fail from then on.  A notification reaches it
 * too. */
static void test_revoke(void **state)
{
	struct ism_conn *h = t_connect(&t_group, "host", 0);
	struct ism_region *r = host_alloc(h, ISM_ACCESS_RO, "soon gone");
	struct ism_token tok;
	struct ism_event ev;
	struct tguest g;
	uint64_t region, size;
	char buf[16];
	int e;

	(void)state;
	guest_open(&g);
	ism_region_token(r, &tok);
	assert_int_equal(ism_guest_ctl_attach(g.ctl, tok.b, ISM_ACCESS_RO,
					      &region, &size),
			 0);
	assert_int_equal(ism_region_notify(r, 77), 1);
	do {
		e = ism_guest_ctl_event(g.ctl, 20000, &ev);
		assert_int_equal(e, 1);
	} while (ev.type == ISM_EV_PEER_ATTACHED);
	assert_int_equal(ev.type, ISM_EV_NOTIFY);
	assert_int_equal(ev.value, 77);
	assert_int_equal(ev.region, region);

	assert_int_equal(ism_region_destroy(r), 1); /* the guest told */
	e = ism_guest_ctl_event(g.ctl, 20000, &ev);
	assert_int_equal(e, 1);
	assert_int_equal(ev.type, ISM_EV_REGION_GONE);
	assert_int_equal(ev.region, region);
	assert_true(ism_guest_ctl_read(g.ctl, region, 0, buf, 4) < 0);
	guest_close(&g);
	ism_region_close(r);
	ism_conn_close(h);
}

/* A raw channel to ismd's member: what a hostile guest can send. */
static ssize_t raw_call(struct ism_ivchan *ch, const void *msg, size_t len,
			uint8_t *rep, size_t cap)
{
	assert_int_equal(ism_ivchan_send(ch, msg, len, 0), 0);
	return ism_ivchan_recv(ch, rep, cap, 0);
}

static void test_hostile(void **state)
{
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 20000 };
	struct ism_conn *c = t_connect(&t_group, "member", 0);
	static uint8_t rep[1 << 16], msg[256];
	struct ism_hello_req hello = { .min_version = ISM_PROTO_VERSION,
				       .max_version = ISM_PROTO_VERSION };
	struct ism_ivshmem *m;
	struct ism_ivchan *ch;
	struct ism_ivdom *d;
	struct ism_wire_hdr hd;
	struct ism_rbuf rb;
	struct ism_wbuf b;
	ssize_t n;
	int len;

	(void)state;
	assert_int_equal(ism_ivshmem_join(c, "vm", &m), 0);
	assert_int_equal(ism_ivshmem_ivdom(m, &d), 0);
	assert_int_equal(ism_ivchan_connect(d, 0, IVC_CTL_PORT, &o, &ch), 0);
	/* Garbage before HELLO: an error reply, and the peer is dropped
	 * (as on the socket): the channel ends. */
	memset(msg, 0xee, 40);
	n = raw_call(ch, msg, 40, rep, sizeof(rep));
	assert_true(n >= (ssize_t)ISM_WIRE_HDR_SIZE);
	ism_rbuf_init(&rb, rep, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hd), 0);
	assert_true(hd.status != 0);
	n = ism_ivchan_recv(ch, rep, sizeof(rep), 0);
	assert_true(n == -ESHUTDOWN || n == -EPIPE);
	ism_ivchan_close(ch);

	/* HELLO, then a request that would hand out fds: refused. */
	assert_int_equal(ism_ivchan_connect(d, 0, IVC_CTL_PORT, &o, &ch), 0);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &hello);
	len = ism_proto_end(&b);
	assert_true(len > 0);
	n = raw_call(ch, msg, (size_t)len, rep, sizeof(rep));
	ism_rbuf_init(&rb, rep, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hd), 0);
	assert_int_equal(hd.status, 0);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_IVSH_JOIN, 0, 2, 0);
	ism_proto_put_ivsh_join_req(&b, "vm");
	len = ism_proto_end(&b);
	n = raw_call(ch, msg, (size_t)len, rep, sizeof(rep));
	ism_rbuf_init(&rb, rep, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hd), 0);
	assert_int_equal(hd.seq, 2);
	assert_int_equal(hd.status, EOPNOTSUPP);
	/* A window: its mappings would come as fds; refused. */
	{
		struct ism_win_create_req wc = { .size = 16 * 4096,
						 .max_access = ISM_ACCESS_RW,
						 .max_maps = 4 };

		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_WIN_CREATE, 0, 4,
				0);
		ism_proto_put_win_create_req(&b, &wc);
		len = ism_proto_end(&b);
		n = raw_call(ch, msg, (size_t)len, rep, sizeof(rep));
		ism_rbuf_init(&rb, rep, (size_t)n);
		assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hd), 0);
		assert_int_equal(hd.seq, 4);
		assert_int_equal(hd.status, EOPNOTSUPP);
	}
	/* A truncated request: refused, the peer stays. */
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_READ, 0, 3, 0);
	len = ism_proto_end(&b);
	n = raw_call(ch, msg, (size_t)len, rep, sizeof(rep));
	ism_rbuf_init(&rb, rep, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &hd), 0);
	assert_int_equal(hd.seq, 3);
	assert_int_equal(hd.status, EBADMSG);

	/* A guest that never reads its replies: they fill its ring, then
	 * its peer's queue, and then ismd stops reading its requests (as
	 * for a socket peer that pipelines without reading): the guest
	 * stalls itself only.  ismd answers others meanwhile. */
	{
		struct ism_read_req rd = { 0, 0, 1 };
		int sent = 0, full = 0;

		for (int i = 0; i < 100000 && full < 100; i++) {
			ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_READ, 0,
					(uint32_t)(10 + i), 0);
			ism_proto_put_read_req(&b, &rd);
			len = ism_proto_end(&b);
			n = ism_ivchan_send(ch, msg, (size_t)len,
					    ISM_F_DONTWAIT);
			if (n == -EAGAIN) {
				full++;
				usleep(2000);
				continue;
			}
			assert_int_equal(n, 0);
			full = 0;
			sent++;
		}
		assert_int_equal(full, 100);
		assert_true(sent > 100);
	}
	{
		struct tguest g;
		uint64_t region;
		uint8_t tok[ISM_TOKEN_SIZE];

		guest_open(&g);
		assert_int_equal(ism_guest_ctl_alloc(g.ctl, 4096, ISM_ACCESS_RO,
						     NULL, &region, tok),
				 0);
		guest_close(&g);
	}
	ism_ivchan_close(ch);
	{
		struct ism_status st;

		assert_int_equal(ism_admin_status(c, &st), 0);
	}
	ism_ivdom_close(d);
	ism_ivshmem_leave(m);
	ism_conn_close(c);
}

/* A guest that breaks its ring (scribbles over its own slot): ismd fails
 * that channel, drops its peer and serves the next guest. */
static void test_broken_ring(void **state)
{
	struct ism_conn *h = t_connect(&t_group, "host", 0);
	struct ism_peer_info pi[32];
	struct tguest g, g2;
	uint64_t id, next, slot_size, region;
	uint8_t tok[ISM_TOKEN_SIZE], *mem, *slot;
	int gone = 0;

	(void)state;
	guest_open(&g);
	id = ism_guest_ctl_peer_id(g.ctl);
	assert_int_equal(ism_ivshmem_map(g.m, (void **)&mem), 0);
	slot_size = ((struct ivc_hdr *)mem)->slot_size;
	slot = mem + IVC_HDR_SIZE + ism_ivshmem_id(g.m) * slot_size;
	/* Every channel area of ours: ring headers and indices. */
	memset(slot + IVC_SLOT_META, 0xa5, slot_size - IVC_SLOT_META);
	assert_int_equal(ism_ivshmem_ring(h, ism_ivshmem_domain_id(g.m), 0, 1),
			 0);
	for (int i = 0; i < 200 && !gone; i++) {
		int n = ism_admin_list_peers(h, 0, pi, 32, &next);

		assert_true(n > 0);
		gone = 1;
		for (int k = 0; k < n; k++)
			if (pi[k].id == id)
				gone = 0;
		if (!gone)
			usleep(50000);
	}
	assert_true(gone);
	guest_close(&g);
	guest_open(&g2);
	assert_int_equal(ism_guest_ctl_alloc(g2.ctl, 4096, ISM_ACCESS_RO, NULL,
					     &region, tok),
			 0);
	guest_close(&g2);
	ism_conn_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_read),
		cmocka_unit_test(test_guest_alloc),
		cmocka_unit_test(test_revoke),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_broken_ring),
	};
	static char spec[256];
	static const char *args[4];
	char tmpl[64]; /* short: sun_path */

	snprintf(tmpl, sizeof(tmpl), "%s/ism-gpeer-XXXXXX", t_tmpdir());
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(dom_path, sizeof(dom_path), "%s/vm.sock", tmpl);
	snprintf(spec, sizeof(spec),
		 "%s,size=4M,vectors=2,peers=8,name=vm,channels=on,"
		 "control=on,guest_uid=%u",
		 dom_path, GUEST_UID);
	args[0] = "--ivshmem";
	args[1] = spec;
	args[2] = NULL;
	t_group_args = args;
	{
		int r = t_exit(cmocka_run_group_tests(tests, t_group_setup,
						      t_group_teardown));

		unlink(dom_path);
		rmdir(tmpl);
		return r;
	}
}
