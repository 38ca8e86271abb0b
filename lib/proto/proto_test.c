/* SPDX-License-Identifier: MIT */
/*
 * Each message: a round trip, golden bytes for representative ones (so an
 * encoding change is a deliberate protocol change), and the decoder's
 * refusals: short, long, out-of-range and reserved-bit input.
 */
#include "proto.h"
#include "util/util.h"

#include <errno.h>
#include <sys/socket.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint8_t buf[ISM_WIRE_MAX_MSG];

/* Encode with @put into buf; returns a read cursor on the payload. */
#define ENCODE(rb, type, put)                                                  \
	do {                                                                   \
		struct ism_wbuf w_;                                            \
		struct ism_wire_hdr h_;                                        \
		int n_;                                                        \
		ism_proto_begin(&w_, buf, sizeof(buf), type, 0, 1, 0);         \
		put;                                                           \
		n_ = ism_proto_end(&w_);                                       \
		assert_true(n_ > 0);                                           \
		ism_rbuf_init(rb, buf, (size_t)n_);                            \
		assert_int_equal(ism_wire_hdr_get(rb, (size_t)n_, &h_), 0);    \
	} while (0)

static void test_hello_golden(void **state)
{
	struct ism_hello_req q = { .min_version = 1,
				   .max_version = 2,
				   .flags = ISM_HELLO_F_DOORBELL },
			     d;
	struct ism_rbuf rb;
	/* clang-format off */
	static const uint8_t gold[] = {
		/* header: type 1, flags 0, seq 1, len 60, status 0 */
		1, 0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 2, 0, 0, 0, /* min 1, max 2 */
		0, 0, 0, 0, 1, 0, 0, 0, /* caps 0, flags DOORBELL */
		0, 0, 0, 0, 0, 0, 0, 0, /* resume id */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* proof */
		2, 0, 'v', 'm', /* name "vm" */
	};
	/* clang-format on */

	(void)state;
	strcpy(q.name, "vm");
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_req(&w_, &q));
	assert_int_equal(rb.len, sizeof(gold));
	assert_memory_equal(buf, gold, sizeof(gold));
	assert_int_equal(ism_proto_get_hello_req(&rb, &d), 0);
	assert_int_equal(d.max_version, 2);
	assert_string_equal(d.name, "vm");

	/* min > max, unknown flag, resume id without the flag. */
	q.min_version = 3;
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_req(&w_, &q));
	assert_int_equal(ism_proto_get_hello_req(&rb, &d), -EINVAL);
	q.min_version = 1;
	q.flags = 0x80;
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_req(&w_, &q));
	assert_int_equal(ism_proto_get_hello_req(&rb, &d), -EINVAL);
	q.flags = 0;
	q.resume_id = 5;
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_req(&w_, &q));
	assert_int_equal(ism_proto_get_hello_req(&rb, &d), -EINVAL);
}

static void test_hello_rep(void **state)
{
	struct ism_hello_rep a = { .version = 1,
				   .max_msg = ISM_WIRE_MAX_MSG,
				   .peer_id = 0x100000001ull,
				   .max_rw = ISM_RW_MAX,
				   .q_bytes = 1 << 20 },
			     b;
	struct ism_rbuf rb;

	(void)state;
	memset(a.host_id, 0xab, sizeof(a.host_id));
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_rep(&w_, &a));
	assert_int_equal(ism_proto_get_hello_rep(&rb, &b), 0);
	assert_true(b.peer_id == a.peer_id);
	assert_memory_equal(a.host_id, b.host_id, 16);
	a.max_rw = ISM_RW_MAX + 1;
	ENCODE(&rb, ISM_MSG_HELLO, ism_proto_put_hello_rep(&w_, &a));
	assert_int_equal(ism_proto_get_hello_rep(&rb, &b), -EINVAL);
}

static void test_alloc(void **state)
{
	struct ism_alloc_req q = { .size = 10000, .max_access = ISM_ACCESS_RW },
			     d;
	struct ism_alloc_rep a = { .region = 7,
				   .size = 12288,
				   .page_size = 4096,
				   .max_access = ISM_ACCESS_RO },
			     e;
	struct ism_rbuf rb;

	(void)state;
	q.acl.n_peers = 2;
	q.acl.peers[0] = 11;
	q.acl.peers[1] = 12;
	q.acl.n_uids = 1;
	q.acl.uids[0] = 1000;
	strcpy(q.name, "ring");
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), 0);
	assert_int_equal(d.acl.n_peers, 2);
	assert_int_equal(d.acl.peers[1], 12);
	assert_int_equal(d.acl.uids[0], 1000);
	assert_string_equal(d.name, "ring");

	/* Size 0, too big, bad access, unknown flag, REQUIRED alone. */
	q.size = 0;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), -EINVAL);
	q.size = ISM_REGION_SIZE_MAX + 1;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), -EINVAL);
	q.size = 1;
	q.max_access = 3;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), -EINVAL);
	q.max_access = ISM_ACCESS_RO;
	q.flags = 1u << 20;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), -EINVAL);
	q.flags = ISM_ALLOC_HUGETLB_REQUIRED;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_req(&w_, &q));
	assert_int_equal(ism_proto_get_alloc_req(&rb, &d), -EINVAL);

	memset(a.token, 0x5a, sizeof(a.token));
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_rep(&w_, &a));
	assert_int_equal(ism_proto_get_alloc_rep(&rb, &e), 0);
	assert_memory_equal(a.token, e.token, 16);
	/* The page size must divide the size. */
	a.page_size = 8192;
	ENCODE(&rb, ISM_MSG_ALLOC, ism_proto_put_alloc_rep(&w_, &a));
	assert_int_equal(ism_proto_get_alloc_rep(&rb, &e), -EINVAL);
}

static void test_acl_count_not_trusted(void **state)
{
	struct ism_alloc_req d;
	struct ism_rbuf rb;
	struct ism_wbuf w;
	struct ism_wire_hdr h;
	int n;

	(void)state;
	/* n_peers claims 2^32-1 entries in a tiny message. */
	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_ALLOC, 0, 1, 0);
	ism_wbuf_le64(&w, 4096);
	ism_wbuf_le32(&w, 0);
	ism_wbuf_le32(&w, ISM_ACCESS_RO);
	ism_wbuf_le32(&w, UINT32_MAX);
	ism_wbuf_le32(&w, 0);
	n = ism_proto_end(&w);
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_true(ism_proto_get_alloc_req(&rb, &d) < 0);
	assert_int_equal(d.acl.n_peers, 0);
}

static void test_small_requests(void **state)
{
	struct ism_attach_req at = { .access = ISM_ACCESS_RO }, at2;
	struct ism_notify_req nq = { .region = 9, .value = 77 }, nq2;
	struct ism_read_req rq = { .region = 9, .offset = 5, .len = 100 }, rq2;
	struct ism_write_req wq = { .region = 9,
				    .offset = 5,
				    .len = 3,
				    .data = (const uint8_t *)"abc" },
			     wq2;
	struct ism_list_req lq = { .cursor = 3, .max = 10 }, lq2;
	struct ism_rbuf rb;
	uint64_t id;
	uint32_t mask;

	(void)state;
	memset(at.token, 1, 16);
	ENCODE(&rb, ISM_MSG_ATTACH, ism_proto_put_attach_req(&w_, &at));
	assert_int_equal(ism_proto_get_attach_req(&rb, &at2), 0);
	at.access = 0;
	ENCODE(&rb, ISM_MSG_ATTACH, ism_proto_put_attach_req(&w_, &at));
	assert_int_equal(ism_proto_get_attach_req(&rb, &at2), -EINVAL);
	at.access = ISM_ACCESS_RW;
	at.flags = 2;
	ENCODE(&rb, ISM_MSG_ATTACH, ism_proto_put_attach_req(&w_, &at));
	assert_int_equal(ism_proto_get_attach_req(&rb, &at2), -EINVAL);

	ENCODE(&rb, ISM_MSG_DETACH, ism_proto_put_region_req(&w_, 42));
	assert_int_equal(ism_proto_get_region_req(&rb, &id), 0);
	assert_int_equal(id, 42);
	ENCODE(&rb, ISM_MSG_DETACH, ism_proto_put_region_req(&w_, 0));
	assert_int_equal(ism_proto_get_region_req(&rb, &id), -EINVAL);

	ENCODE(&rb, ISM_MSG_NOTIFY, ism_proto_put_notify_req(&w_, &nq));
	assert_int_equal(ism_proto_get_notify_req(&rb, &nq2), 0);
	assert_int_equal(nq2.value, 77);

	ENCODE(&rb, ISM_MSG_READ, ism_proto_put_read_req(&w_, &rq));
	assert_int_equal(ism_proto_get_read_req(&rb, &rq2), 0);
	assert_int_equal(rq2.len, 100);
	rq.len = ISM_RW_MAX + 1;
	ENCODE(&rb, ISM_MSG_READ, ism_proto_put_read_req(&w_, &rq));
	assert_int_equal(ism_proto_get_read_req(&rb, &rq2), -EINVAL);
	rq.len = 0;
	ENCODE(&rb, ISM_MSG_READ, ism_proto_put_read_req(&w_, &rq));
	assert_int_equal(ism_proto_get_read_req(&rb, &rq2), -EINVAL);

	ENCODE(&rb, ISM_MSG_WRITE, ism_proto_put_write_req(&w_, &wq));
	assert_int_equal(ism_proto_get_write_req(&rb, &wq2), 0);
	assert_int_equal(wq2.len, 3);
	assert_memory_equal(wq2.data, "abc", 3);
	wq.len = 0;
	ENCODE(&rb, ISM_MSG_WRITE, ism_proto_put_write_req(&w_, &wq));
	assert_int_equal(ism_proto_get_write_req(&rb, &wq2), -EINVAL);

	ENCODE(&rb, ISM_MSG_LIST_PEERS, ism_proto_put_list_req(&w_, &lq));
	assert_int_equal(ism_proto_get_list_req(&rb, &lq2), 0);
	lq.max = ISM_LIST_MAX + 1;
	ENCODE(&rb, ISM_MSG_LIST_PEERS, ism_proto_put_list_req(&w_, &lq));
	assert_int_equal(ism_proto_get_list_req(&rb, &lq2), -EINVAL);

	ENCODE(&rb, ISM_MSG_WATCH, ism_proto_put_watch_req(&w_, 1));
	assert_int_equal(ism_proto_get_watch_req(&rb, &mask), 0);
	ENCODE(&rb, ISM_MSG_WATCH, ism_proto_put_watch_req(&w_, 6));
	assert_int_equal(ism_proto_get_watch_req(&rb, &mask), -EINVAL);

	/* STATUS: the empty request, and one with a stray byte. */
	ENCODE(&rb, ISM_MSG_STATUS, (void)0);
	assert_int_equal(ism_proto_get_empty(&rb), 0);
	ENCODE(&rb, ISM_MSG_STATUS, ism_wbuf_u8(&w_, 0));
	assert_int_equal(ism_proto_get_empty(&rb), -EBADMSG);
}

static void test_trailing_and_reserved(void **state)
{
	struct ism_read_req rq = { .region = 1, .len = 1 }, d;
	struct ism_rbuf rb;

	(void)state;
	/* One byte too many. */
	ENCODE(&rb, ISM_MSG_READ,
	       (ism_proto_put_read_req(&w_, &rq), ism_wbuf_u8(&w_, 0)));
	assert_int_equal(ism_proto_get_read_req(&rb, &d), -EBADMSG);
	/* One byte short. */
	ENCODE(&rb, ISM_MSG_READ, ism_proto_put_read_req(&w_, &rq));
	rb.len--;
	assert_int_equal(ism_proto_get_read_req(&rb, &d), -EBADMSG);
	/* Reserved word set. */
	ENCODE(&rb, ISM_MSG_READ, ism_proto_put_read_req(&w_, &rq));
	buf[rb.len - 1] = 1;
	assert_int_equal(ism_proto_get_read_req(&rb, &d), -EINVAL);
}

static void test_lists(void **state)
{
	struct ism_peer_info p[3] = { { .id = 1, .pid = 10, .name = "a" },
				      { .id = 2, .pid = 20, .name = "b" },
				      { .id = 3, .pid = 30 } },
			     q[3];
	struct ism_region_entry r[2] = { { .id = 5, .size = 4096, .name = "x" },
					 { .id = 6 } },
				s[2];
	struct ism_ref_entry f[1] = { { .region = 5, .peer = 1, .access = 2 } },
			     g[1];
	struct ism_rbuf rb;
	uint64_t next;
	uint32_t n;

	(void)state;
	ENCODE(&rb, ISM_MSG_LIST_PEERS, ism_proto_put_peers_rep(&w_, 3, p, 3));
	assert_int_equal(ism_proto_get_peers_rep(&rb, &next, q, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(next, 3);
	assert_string_equal(q[1].name, "b");
	/* More entries than the caller has room for: refused, not overrun. */
	ENCODE(&rb, ISM_MSG_LIST_PEERS, ism_proto_put_peers_rep(&w_, 0, p, 3));
	assert_int_equal(ism_proto_get_peers_rep(&rb, &next, q, 2, &n),
			 -EBADMSG);
	ENCODE(&rb, ISM_MSG_LIST_REGIONS,
	       ism_proto_put_regions_rep(&w_, 0, r, 2));
	assert_int_equal(ism_proto_get_regions_rep(&rb, &next, s, 2, &n), 0);
	assert_string_equal(s[0].name, "x");
	ENCODE(&rb, ISM_MSG_LIST_REFS, ism_proto_put_refs_rep(&w_, 0, f, 1));
	assert_int_equal(ism_proto_get_refs_rep(&rb, &next, g, 1, &n), 0);
	assert_int_equal(g[0].access, 2);
}

static void test_batches(void **state)
{
	static struct ism_register_req rq, rq2;
	static struct ism_reattach_req aq, aq2;
	struct ism_batch_rep br = { .n = 2, .status = { 0, EINPROGRESS } }, b2;
	struct ism_rbuf rb;

	(void)state;
	rq.n = 2;
	for (int i = 0; i < 2; i++) {
		rq.ent[i].region = (uint64_t)i + 1;
		rq.ent[i].size = 4096;
		rq.ent[i].max_access = ISM_ACCESS_RO;
	}
	rq.ent[1].acl.n_uids = 1;
	rq.ent[1].acl.uids[0] = 7;
	ENCODE(&rb, ISM_MSG_REGISTER, ism_proto_put_register_req(&w_, &rq));
	assert_int_equal(ism_proto_get_register_req(&rb, &rq2), 0);
	assert_int_equal(rq2.n, 2);
	assert_int_equal(rq2.ent[1].acl.uids[0], 7);
	rq.n = 0;
	ENCODE(&rb, ISM_MSG_REGISTER, ism_proto_put_register_req(&w_, &rq));
	assert_int_equal(ism_proto_get_register_req(&rb, &rq2), -EINVAL);

	aq.n = 1;
	aq.ent[0].region = 3;
	aq.ent[0].access = ISM_ACCESS_RW;
	ENCODE(&rb, ISM_MSG_REATTACH, ism_proto_put_reattach_req(&w_, &aq));
	assert_int_equal(ism_proto_get_reattach_req(&rb, &aq2), 0);
	aq.ent[0].access = 9;
	ENCODE(&rb, ISM_MSG_REATTACH, ism_proto_put_reattach_req(&w_, &aq));
	assert_int_equal(ism_proto_get_reattach_req(&rb, &aq2), -EINVAL);

	ENCODE(&rb, ISM_MSG_REATTACH, ism_proto_put_batch_rep(&w_, &br));
	assert_int_equal(ism_proto_get_batch_rep(&rb, &b2), 0);
	assert_int_equal(b2.status[1], EINPROGRESS);
}

static void test_events(void **state)
{
	/* clang-format off */
	static const uint8_t gold[] = {
		/* header: type 0x101, flags EVENT, seq 0, len 48, status 0 */
		0x01, 0x01, 0x02, 0x00, 0, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0,
		5, 0, 0, 0, 0, 0, 0, 0, /* region 5 */
		6, 0, 0, 0, 0, 0, 0, 0, /* sender 6 */
		0x2a, 0, 0, 0, 0, 0, 0, 0, /* value 42 */
		1, 0, 0, 0, 0, 0, 0, 0, /* count 1, reserved */
	};
	/* clang-format on */
	struct ism_event ev;
	struct ism_wbuf w;
	struct ism_rbuf rb;
	struct ism_wire_hdr h;
	int n;

	(void)state;
	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_EV_NOTIFY,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_ev_notify(&w, 5, 6, 42, 1);
	n = ism_proto_end(&w);
	assert_int_equal(n, sizeof(gold));
	assert_memory_equal(buf, gold, sizeof(gold));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_int_equal(ism_proto_get_event(&rb, h.type, &ev), 0);
	assert_int_equal(ev.type, ISM_EV_NOTIFY);
	assert_int_equal(ev.value, 42);

	ENCODE(&rb, ISM_MSG_EV_REGION_GONE, ism_proto_put_ev_gone(&w_, 5, 9));
	assert_int_equal(ism_proto_get_event(&rb, ISM_MSG_EV_REGION_GONE, &ev),
			 -EINVAL);
	ENCODE(&rb, ISM_MSG_EV_WATCH,
	       ism_proto_put_ev_watch(&w_, ISM_WATCH_PEER_UP, 0, 1, 0, 0, 1000,
				      99, "qemu"));
	assert_int_equal(ism_proto_get_event(&rb, ISM_MSG_EV_WATCH, &ev), 0);
	assert_string_equal(ev.watch.name, "qemu");
	ENCODE(&rb, 0x1ff, (void)0);
	assert_int_equal(ism_proto_get_event(&rb, 0x1ff, &ev), -EBADMSG);
}

static void test_windows(void **state)
{
	/* clang-format off */
	static const uint8_t gold_map[] = {
		/* header: type 32, flags 0, seq 1, len 72, status 0 */
		32, 0, 0, 0, 1, 0, 0, 0, 72, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 2, 0, 0, 0, /* window 0x200000001 */
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, /* token */
		0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
		0, 0x10, 0, 0, 0, 0, 0, 0, /* region offset 4096 */
		0, 0x20, 0, 0, 0, 0, 0, 0, /* window offset 8192 */
		0, 0x30, 0, 0, 0, 0, 0, 0, /* length 12288 */
		2, 0, 0, 0, 0, 0, 0, 0, /* access RW, flags 0 */
	};
	static const uint8_t gold_done[] = {
		/* header: type 34, flags NOREPLY, seq 1, len 32 */
		34, 0, 4, 0, 1, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0,
		7, 0, 0, 0, 2, 0, 0, 0, /* map 0x200000007 */
		1, 0, 0, 0, 12, 0, 0, 0, /* op MAP, status ENOMEM */
	};
	static const uint8_t gold_ev_map[] = {
		/* header: type 0x108, flags EVENT, seq 0, len 80 */
		0x08, 0x01, 0x02, 0x00, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 2, 0, 0, 0, /* window */
		7, 0, 0, 0, 2, 0, 0, 0, /* map */
		3, 0, 0, 0, 2, 0, 0, 0, /* region */
		4, 0, 0, 0, 2, 0, 0, 0, /* mapper */
		0, 0x10, 0, 0, 0, 0, 0, 0, /* region offset */
		0, 0x20, 0, 0, 0, 0, 0, 0, /* window offset */
		0, 0x30, 0, 0, 0, 0, 0, 0, /* length */
		1, 0, 0, 0, 0, 0, 0, 0, /* access RO, reserved */
	};
	static const uint8_t gold_ev_unmap[] = {
		/* header: type 0x109, flags EVENT, seq 0, len 56 */
		0x09, 0x01, 0x02, 0x00, 0, 0, 0, 0, 56, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 2, 0, 0, 0, /* window */
		7, 0, 0, 0, 2, 0, 0, 0, /* map */
		3, 0, 0, 0, 2, 0, 0, 0, /* region */
		4, 0, 0, 0, 2, 0, 0, 0, /* mapper */
		2, 0, 0, 0, 0, 0, 0, 0, /* reason REGION_GONE, reserved */
	};
	/* clang-format on */
	struct ism_win_map_req mq = { .window = 0x200000001ull,
				      .region_off = 4096,
				      .window_off = 8192,
				      .len = 12288,
				      .access = ISM_ACCESS_RW },
			       mq2;
	struct ism_win_done_req dq = { .map = 0x200000007ull,
				       .op = ISM_WIN_OP_MAP,
				       .status = ENOMEM },
				dq2;
	struct ism_win_create_req cq = { .size = 1u << 20,
					 .max_access = ISM_ACCESS_RO,
					 .max_maps = 8 },
				  cq2;
	struct ism_win_create_rep cr = { .window = 5 }, cr2;
	struct ism_win_map_rep mr = { .map = 0 }, mr2;
	struct ism_event ev = { .type = ISM_EV_WINDOW_MAP,
				.region = 0x200000003ull,
				.peer = 0x200000004ull,
				.access = ISM_ACCESS_RO },
			 ev2;
	struct ism_wire_hdr h;
	struct ism_wbuf w;
	struct ism_rbuf rb;
	int n;

	(void)state;
	memset(mq.token, 0xaa, sizeof(mq.token));
	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_WIN_MAP, 0, 1, 0);
	ism_proto_put_win_map_req(&w, &mq);
	n = ism_proto_end(&w);
	assert_int_equal(n, sizeof(gold_map));
	assert_memory_equal(buf, gold_map, sizeof(gold_map));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), 0);
	assert_memory_equal(&mq, &mq2, sizeof(mq));
	/* Refused: unaligned, overflowing, past the largest window, no
	 * window, bad access, flags. */
	mq2 = mq;
	mq2.len = 100;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	mq2 = mq;
	mq2.region_off = UINT64_MAX - 4095;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	mq2 = mq;
	mq2.window_off = ISM_WINDOW_SIZE_MAX;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	mq2 = mq;
	mq2.window = 0;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	mq2 = mq;
	mq2.access = 3;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	mq2 = mq;
	mq2.flags = 1;
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq2));
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EINVAL);
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_req(&w_, &mq));
	rb.len--;
	assert_int_equal(ism_proto_get_win_map_req(&rb, &mq2), -EBADMSG);

	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_WIN_DONE,
			ISM_WIRE_F_NOREPLY, 1, 0);
	ism_proto_put_win_done_req(&w, &dq);
	n = ism_proto_end(&w);
	assert_int_equal(n, sizeof(gold_done));
	assert_memory_equal(buf, gold_done, sizeof(gold_done));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_int_equal(ism_proto_get_win_done_req(&rb, &dq2), 0);
	assert_int_equal(dq2.status, ENOMEM);
	dq2 = dq;
	dq2.op = ISM_WIN_OP_UNMAP; /* an unmap cannot fail */
	ENCODE(&rb, ISM_MSG_WIN_DONE, ism_proto_put_win_done_req(&w_, &dq2));
	assert_int_equal(ism_proto_get_win_done_req(&rb, &dq2), -EINVAL);
	dq2 = dq;
	dq2.op = 3;
	ENCODE(&rb, ISM_MSG_WIN_DONE, ism_proto_put_win_done_req(&w_, &dq2));
	assert_int_equal(ism_proto_get_win_done_req(&rb, &dq2), -EINVAL);
	dq2 = dq;
	dq2.status = 5000;
	ENCODE(&rb, ISM_MSG_WIN_DONE, ism_proto_put_win_done_req(&w_, &dq2));
	assert_int_equal(ism_proto_get_win_done_req(&rb, &dq2), -EINVAL);

	ENCODE(&rb, ISM_MSG_WIN_CREATE, ism_proto_put_win_create_req(&w_, &cq));
	assert_int_equal(ism_proto_get_win_create_req(&rb, &cq2), 0);
	assert_int_equal(cq2.size, 1u << 20);
	assert_int_equal(cq2.max_maps, 8);
	cq2 = cq;
	cq2.size = 4097;
	ENCODE(&rb, ISM_MSG_WIN_CREATE,
	       ism_proto_put_win_create_req(&w_, &cq2));
	assert_int_equal(ism_proto_get_win_create_req(&rb, &cq2), -EINVAL);
	cq2 = cq;
	cq2.max_maps = ISM_WINDOW_MAPS_MAX + 1;
	ENCODE(&rb, ISM_MSG_WIN_CREATE,
	       ism_proto_put_win_create_req(&w_, &cq2));
	assert_int_equal(ism_proto_get_win_create_req(&rb, &cq2), -EINVAL);
	cq2 = cq;
	cq2.acl.n_peers = ISM_ACL_MAX + 1;
	ENCODE(&rb, ISM_MSG_WIN_CREATE,
	       ism_proto_put_win_create_req(&w_, &cq2));
	assert_true(ism_proto_get_win_create_req(&rb, &cq2) < 0);
	ENCODE(&rb, ISM_MSG_WIN_CREATE, ism_proto_put_win_create_rep(&w_, &cr));
	assert_int_equal(ism_proto_get_win_create_rep(&rb, &cr2), 0);
	assert_int_equal(cr2.window, 5);
	ENCODE(&rb, ISM_MSG_WIN_MAP, ism_proto_put_win_map_rep(&w_, &mr));
	assert_int_equal(ism_proto_get_win_map_rep(&rb, &mr2), -EINVAL);

	ev.window.id = 0x200000001ull;
	ev.window.map = 0x200000007ull;
	ev.window.region_offset = 4096;
	ev.window.offset = 8192;
	ev.window.len = 12288;
	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_EV_WIN_MAP,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_event(&w, &ev);
	n = ism_proto_end(&w);
	assert_int_equal(n, sizeof(gold_ev_map));
	assert_memory_equal(buf, gold_ev_map, sizeof(gold_ev_map));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_int_equal(ism_proto_get_event(&rb, h.type, &ev2), 0);
	assert_int_equal(ev2.type, ISM_EV_WINDOW_MAP);
	assert_int_equal(ev2.window.len, 12288);
	assert_int_equal(ev2.peer, 0x200000004ull);
	assert_int_equal(ism_proto_event_type(ISM_MSG_EV_WIN_MAP),
			 ISM_EV_WINDOW_MAP);
	assert_int_equal(ism_proto_event_type(ISM_MSG_EV_NOTIFY),
			 ISM_EV_NOTIFY);
	ev.type = ISM_EV_WINDOW_UNMAP;
	ev.reason = ISM_WUNMAP_REGION_GONE;
	ism_proto_begin(&w, buf, sizeof(buf), ISM_MSG_EV_WIN_UNMAP,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_event(&w, &ev);
	n = ism_proto_end(&w);
	assert_int_equal(n, sizeof(gold_ev_unmap));
	assert_memory_equal(buf, gold_ev_unmap, sizeof(gold_ev_unmap));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
	assert_int_equal(ism_proto_get_event(&rb, h.type, &ev2), 0);
	assert_int_equal(ev2.reason, ISM_WUNMAP_REGION_GONE);
	/* A local-only reason never comes from ismd. */
	ev.reason = ISM_WUNMAP_LOST;
	ENCODE(&rb, ISM_MSG_EV_WIN_UNMAP, ism_proto_put_ev_win_unmap(&w_, &ev));
	assert_int_equal(ism_proto_get_event(&rb, ISM_MSG_EV_WIN_UNMAP, &ev2),
			 -EINVAL);
	/* A mapping that would wrap the window. */
	ev.type = ISM_EV_WINDOW_MAP;
	ev.window.offset = ISM_WINDOW_SIZE_MAX - 4096;
	ENCODE(&rb, ISM_MSG_EV_WIN_MAP, ism_proto_put_ev_win_map(&w_, &ev));
	assert_int_equal(ism_proto_get_event(&rb, ISM_MSG_EV_WIN_MAP, &ev2),
			 -EINVAL);
}

static void test_status(void **state)
{
	struct ism_status a = { .version = "0.1.0",
				.pid = 5,
				.peers = 2,
				.bytes_used = 1ull << 40 },
			  b;
	struct ism_rbuf rb;

	(void)state;
	ENCODE(&rb, ISM_MSG_STATUS, ism_proto_put_status_rep(&w_, &a));
	assert_int_equal(ism_proto_get_status_rep(&rb, &b), 0);
	assert_string_equal(b.version, "0.1.0");
	assert_true(b.bytes_used == 1ull << 40);
}

static void test_streams(void **state)
{
	struct ism_stream_open_req q = {
		.role = ISM_STREAM_CLIENT,
		.dst = { .family = AF_INET, .port = 8080,
			 .addr = { 127, 0, 0, 1 } },
	}, d;
	struct ism_stream_update_req u = { .id = 3,
					   .path = ISM_STREAM_TCP,
					   .reason = ISM_SR_QUOTA },
				     ud;
	struct ism_stream_rep r = { .id = 3,
				    .partner = 9,
				    .path = ISM_STREAM_SHM },
			      rd;
	struct ism_stream_info e[2] = { { .id = 1,
					  .peer = 2,
					  .role = ISM_STREAM_LISTENER },
					{ .id = 2,
					  .peer = 2,
					  .partner = 5,
					  .role = ISM_STREAM_SERVER,
					  .path = ISM_STREAM_SHM } },
			       ed[2];
	/* clang-format off */
	static const uint8_t gold[] = {
		/* header: type 16, flags 0, seq 1, len 48, status 0 */
		16, 0, 0, 0, 1, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0, /* role CLIENT, reason 0 */
		4, 0, 0x90, 0x1f, 0, 0, 0, 0, /* IPv4, port 8080, scope */
		127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	/* clang-format on */
	struct ism_rbuf rb;
	uint64_t next;
	uint32_t n;

	(void)state;
	e[1].local = e[1].remote = q.dst;
	memset(ed, 0, sizeof(ed));
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(rb.len, sizeof(gold));
	assert_memory_equal(buf, gold, sizeof(gold));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), 0);
	assert_memory_equal(&d, &q, sizeof(q));
	/* IPv4 with bytes past the fourth. */
	buf[16 + 8 + 8 + 5] = 1;
	ism_rbuf_init(&rb, buf + 16, sizeof(gold) - 16);
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);
	/* Unknown family code. */
	memcpy(buf, gold, sizeof(gold));
	buf[16 + 8] = 5;
	ism_rbuf_init(&rb, buf + 16, sizeof(gold) - 16);
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);
	/* A client that did not choose TCP needs a destination... */
	q.dst.family = 0;
	q.dst.port = 0;
	memset(q.dst.addr, 0, sizeof(q.dst.addr));
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);
	/* ... one that did does not; nobody else names one or a reason. */
	q.reason = ISM_SR_OTHER_HOST;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), 0);
	q.role = ISM_STREAM_SERVER;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);
	q.reason = ISM_SR_MAX + 1;
	q.role = ISM_STREAM_CLIENT;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);
	q.reason = 0;
	q.role = 4;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN,
	       ism_proto_put_stream_open_req(&w_, &q));
	assert_int_equal(ism_proto_get_stream_open_req(&rb, &d), -EINVAL);

	/* UPDATE: TCP needs a reason, shared memory none. */
	ENCODE(&rb, ISM_MSG_STREAM_UPDATE,
	       ism_proto_put_stream_update_req(&w_, &u));
	assert_int_equal(ism_proto_get_stream_update_req(&rb, &ud), 0);
	assert_int_equal(ud.reason, ISM_SR_QUOTA);
	u.reason = 0;
	ENCODE(&rb, ISM_MSG_STREAM_UPDATE,
	       ism_proto_put_stream_update_req(&w_, &u));
	assert_int_equal(ism_proto_get_stream_update_req(&rb, &ud), -EINVAL);
	u.path = ISM_STREAM_SHM;
	ENCODE(&rb, ISM_MSG_STREAM_UPDATE,
	       ism_proto_put_stream_update_req(&w_, &u));
	assert_int_equal(ism_proto_get_stream_update_req(&rb, &ud), 0);
	u.path = ISM_STREAM_PENDING;
	ENCODE(&rb, ISM_MSG_STREAM_UPDATE,
	       ism_proto_put_stream_update_req(&w_, &u));
	assert_int_equal(ism_proto_get_stream_update_req(&rb, &ud), -EINVAL);

	/* Replies: shared memory names a partner; TCP a reason. */
	ENCODE(&rb, ISM_MSG_STREAM_OPEN, ism_proto_put_stream_rep(&w_, &r));
	assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), 0);
	assert_int_equal(rd.partner, 9);
	r.partner = 0;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN, ism_proto_put_stream_rep(&w_, &r));
	assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), -EINVAL);
	r.path = ISM_STREAM_SHM;
	r.partner = 9;
	r.reason = ISM_SR_QUOTA;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN, ism_proto_put_stream_rep(&w_, &r));
	assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), -EINVAL);
	/* Pending names no reason, but "other host" for a client that is to
	 * CHECK; shared memory never that one either. */
	r.reason = ISM_SR_OTHER_HOST;
	ENCODE(&rb, ISM_MSG_STREAM_OPEN, ism_proto_put_stream_rep(&w_, &r));
	assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), -EINVAL);
	r.path = ISM_STREAM_PENDING;
	r.partner = 0;
	ENCODE(&rb, ISM_MSG_STREAM_CHECK, ism_proto_put_stream_rep(&w_, &r));
	assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), 0);
	assert_int_equal(rd.reason, ISM_SR_OTHER_HOST);
	e[0].path = ISM_STREAM_PENDING;
	e[0].reason = ISM_SR_OTHER_HOST;
	ENCODE(&rb, ISM_MSG_LIST_STREAMS,
	       ism_proto_put_streams_rep(&w_, 7, e, 2));
	assert_int_equal(ism_proto_get_streams_rep(&rb, &next, ed, 2, &n), 0);
	assert_int_equal(ed[0].reason, ISM_SR_OTHER_HOST);
	for (uint32_t why = ISM_SR_PEER_NOT_ISM; why <= ISM_SR_MAX; why++) {
		if (why == ISM_SR_OTHER_HOST)
			continue;
		r.reason = e[0].reason = why;
		ENCODE(&rb, ISM_MSG_STREAM_CHECK,
		       ism_proto_put_stream_rep(&w_, &r));
		assert_int_equal(ism_proto_get_stream_rep(&rb, &rd), -EINVAL);
		ENCODE(&rb, ISM_MSG_LIST_STREAMS,
		       ism_proto_put_streams_rep(&w_, 7, e, 2));
		assert_int_equal(
			ism_proto_get_streams_rep(&rb, &next, ed, 2, &n),
			-EINVAL);
	}
	e[0].path = e[0].reason = 0;

	/* The list, and a reply with more entries than the caller's room. */
	ENCODE(&rb, ISM_MSG_LIST_STREAMS,
	       ism_proto_put_streams_rep(&w_, 7, e, 2));
	assert_int_equal(ism_proto_get_streams_rep(&rb, &next, ed, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(next, 7);
	assert_int_equal(ed[1].partner, 5);
	assert_int_equal(ed[1].role, ISM_STREAM_SERVER);
	assert_int_equal(ed[1].path, ISM_STREAM_SHM);
	assert_memory_equal(&ed[1].local, &e[1].local, sizeof(q.dst));
	assert_memory_equal(&ed[1].remote, &e[1].remote, sizeof(q.dst));
	ENCODE(&rb, ISM_MSG_LIST_STREAMS,
	       ism_proto_put_streams_rep(&w_, 7, e, 2));
	assert_int_equal(ism_proto_get_streams_rep(&rb, &next, ed, 1, &n),
			 -EBADMSG);
}

static void test_ivshmem(void **state)
{
	struct ism_ivsh_req q = { .domain = 1, .a = 65535, .b = 63 }, d;
	struct ism_ivsh_join_rep j = { .domain = 1,
				       .id = 7,
				       .vectors = 64,
				       .first = 45,
				       .n = 15,
				       .size = 1 << 20 },
				 jd;
	struct ism_ivshmem_domain dom = { .id = 1,
					  .vectors = 2,
					  .peers = 5,
					  .max_peers = 4,
					  .size = 4096,
					  .name = "x" },
				  dd[2];
	struct ism_ivshmem_peer pe = { .id = 3,
				       .kind = ISM_IVSHMEM_QEMU,
				       .ism_peer = 9 },
				pd[2];
	struct ism_rbuf rb;
	char name[ISM_NAME_MAX + 1];
	uint32_t n;

	(void)state;
	ENCODE(&rb, ISM_MSG_IVSH_RING,
	       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_RING, &q));
	assert_int_equal(ism_proto_get_ivsh_req(&rb, ISM_MSG_IVSH_RING, &d), 0);
	assert_int_equal(d.a, 65535);
	/* A peer id beyond 16 bits, a vector beyond 63, domain 0, and
	 * fields a type does not use. */
	q.a = 65536;
	ENCODE(&rb, ISM_MSG_IVSH_RING,
	       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_RING, &q));
	assert_int_equal(ism_proto_get_ivsh_req(&rb, ISM_MSG_IVSH_RING, &d),
			 -EINVAL);
	q.a = 1;
	q.b = 64;
	ENCODE(&rb, ISM_MSG_IVSH_RING,
	       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_RING, &q));
	assert_int_equal(ism_proto_get_ivsh_req(&rb, ISM_MSG_IVSH_RING, &d),
			 -EINVAL);
	q.b = 0;
	ENCODE(&rb, ISM_MSG_IVSH_LEAVE,
	       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_LEAVE, &q));
	assert_int_equal(ism_proto_get_ivsh_req(&rb, ISM_MSG_IVSH_LEAVE, &d),
			 -EINVAL);
	q.a = 0;
	q.domain = 0;
	ENCODE(&rb, ISM_MSG_IVSH_LEAVE,
	       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_LEAVE, &q));
	assert_int_equal(ism_proto_get_ivsh_req(&rb, ISM_MSG_IVSH_LEAVE, &d),
			 -EINVAL);
	/* JOIN: a name, not an empty one. */
	ENCODE(&rb, ISM_MSG_IVSH_JOIN, ism_proto_put_ivsh_join_req(&w_, "vm"));
	assert_int_equal(ism_proto_get_ivsh_join_req(&rb, name, sizeof(name)),
			 0);
	assert_string_equal(name, "vm");
	ENCODE(&rb, ISM_MSG_IVSH_JOIN, ism_proto_put_ivsh_join_req(&w_, ""));
	assert_int_equal(ism_proto_get_ivsh_join_req(&rb, name, sizeof(name)),
			 -EINVAL);
	/* Replies: eventfd ranges within 64 vectors. */
	ENCODE(&rb, ISM_MSG_IVSH_JOIN, ism_proto_put_ivsh_join_rep(&w_, &j));
	assert_int_equal(ism_proto_get_ivsh_join_rep(&rb, &jd), 0);
	j.first = 50;
	ENCODE(&rb, ISM_MSG_IVSH_JOIN, ism_proto_put_ivsh_join_rep(&w_, &j));
	assert_int_equal(ism_proto_get_ivsh_join_rep(&rb, &jd), -EINVAL);
	/* More peers than the limit, a QEMU with an ism peer id. */
	ENCODE(&rb, ISM_MSG_IVSH_LIST,
	       ism_proto_put_ivsh_list_rep(&w_, &dom, 1));
	assert_int_equal(ism_proto_get_ivsh_list_rep(&rb, dd, 2, &n), -EINVAL);
	ENCODE(&rb, ISM_MSG_IVSH_PEERS,
	       ism_proto_put_ivsh_peers_rep(&w_, &pe, 1));
	assert_int_equal(ism_proto_get_ivsh_peers_rep(&rb, pd, 2, &n), -EINVAL);
	pe.ism_peer = 0;
	ENCODE(&rb, ISM_MSG_IVSH_PEERS,
	       ism_proto_put_ivsh_peers_rep(&w_, &pe, 1));
	assert_int_equal(ism_proto_get_ivsh_peers_rep(&rb, pd, 2, &n), 0);
	assert_int_equal(n, 1);
	ENCODE(&rb, ISM_MSG_IVSH_PEERS,
	       ism_proto_put_ivsh_peers_rep(&w_, &pe, 1));
	assert_int_equal(ism_proto_get_ivsh_peers_rep(&rb, pd, 0, &n),
			 -EBADMSG);
	/* v2: a layout's sizes; sections' ids ascending. */
	{
		struct ism_ivsh_layout_rep l = { .layout = 2,
						 .state_size = 4096,
						 .output_size = 8192 },
					   ld;
		uint32_t ids[3] = { 1, 5, 5 }, got[ISM_IVSH_FDS_PER_MSG];

		ENCODE(&rb, ISM_MSG_IVSH_LAYOUT,
		       ism_proto_put_ivsh_layout_rep(&w_, &l));
		assert_int_equal(ism_proto_get_ivsh_layout_rep(&rb, &ld), 0);
		l.layout = 1;
		ENCODE(&rb, ISM_MSG_IVSH_LAYOUT,
		       ism_proto_put_ivsh_layout_rep(&w_, &l));
		assert_int_equal(ism_proto_get_ivsh_layout_rep(&rb, &ld),
				 -EINVAL);
		ENCODE(&rb, ISM_MSG_IVSH_SECTIONS,
		       ism_proto_put_ivsh_sections_rep(&w_, ids, 2));
		assert_int_equal(ism_proto_get_ivsh_sections_rep(&rb, got, &n),
				 0);
		assert_int_equal(n, 2);
		ENCODE(&rb, ISM_MSG_IVSH_SECTIONS,
		       ism_proto_put_ivsh_sections_rep(&w_, ids, 3));
		assert_int_equal(ism_proto_get_ivsh_sections_rep(&rb, got, &n),
				 -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_golden),
		cmocka_unit_test(test_hello_rep),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_acl_count_not_trusted),
		cmocka_unit_test(test_small_requests),
		cmocka_unit_test(test_trailing_and_reserved),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_ivshmem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
