/* SPDX-License-Identifier: MIT */
/*
 * vfio-user wire: golden bytes for every message both ways (written from
 * the spec's tables, not from our encoder), the refusals of each decoder,
 * the capabilities JSON, and the framed endpoint (fds tied to headers,
 * partial reads, the send queue and its cap).
 */
#include "vfu_wire.h"
#include "t_proc.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* Little-endian byte helpers for writing golden messages by hand. */
#define U16(v) (uint8_t)((v)&0xff), (uint8_t)(((v) >> 8) & 0xff)
#define U32(v) U16((v)&0xffff), U16(((v) >> 16) & 0xffff)
#define U64(v) U32((uint64_t)(v)&0xffffffffu), U32((uint64_t)(v) >> 32)
#define HDR(id, cmd, size, flags, err)                                         \
	U16(id), U16(cmd), U32(size), U32(flags), U32(err)

/* Decode a whole message (header and payload). */
static int decode(const uint8_t *b, size_t n, unsigned nfds, struct vfu_msg *m)
{
	int err;

	assert_true(n >= VFU_HDR_SIZE);
	err = vfu_hdr_get(b, &m->h);
	if (err)
		return err;
	return vfu_msg_decode(m, b + VFU_HDR_SIZE, n - VFU_HDR_SIZE, nfds);
}

/* Decode @b, encode what came out, and expect the same bytes back. */
static void round_trip(const uint8_t *b, size_t n, unsigned nfds)
{
	static uint8_t out[1 << 16];
	struct vfu_msg m;
	ssize_t len;

	assert_int_equal(decode(b, n, nfds, &m), 0);
	len = vfu_msg_encode(&m, out, sizeof(out));
	assert_int_equal(len, (ssize_t)n);
	assert_memory_equal(out, b, n);
}

static void test_header(void **state)
{
	const uint8_t h[] = { HDR(0x1234, 5, 48, 0, 0) };
	const uint8_t g[] = { 0x34, 0x12, 5, 0, 48, 0, 0, 0,
			      0,    0,	  0, 0, 0,  0, 0, 0 };
	struct vfu_hdr d;
	uint8_t b[VFU_HDR_SIZE];

	(void)state;
	assert_memory_equal(h, g, sizeof(g));
	assert_int_equal(vfu_hdr_get(h, &d), 0);
	assert_int_equal(d.id, 0x1234);
	assert_int_equal(d.cmd, 5);
	assert_int_equal(d.size, 48);
	/* Error reply: the header alone, flags REPLY|ERROR, the errno. */
	vfu_error_reply(b, 7, VFU_DMA_MAP, -EEXIST);
	const uint8_t e[] = { HDR(7, 2, 16, 0x21, EEXIST) };
	assert_memory_equal(b, e, sizeof(e));
	/* Refusals. */
	const uint8_t small[] = { HDR(1, 1, 15, 0, 0) };
	const uint8_t type2[] = { HDR(1, 1, 16, 2, 0) };
	const uint8_t unknown[] = { HDR(1, 1, 16, 0x40, 0) };
	const uint8_t noreply_reply[] = { HDR(1, 1, 16, 0x11, 0) };
	const uint8_t error_cmd[] = { HDR(1, 1, 16, 0x20, 0) };
	assert_int_equal(vfu_hdr_get(small, &d), -EBADMSG);
	assert_int_equal(vfu_hdr_get(type2, &d), -EBADMSG);
	assert_int_equal(vfu_hdr_get(unknown, &d), -EBADMSG);
	assert_int_equal(vfu_hdr_get(noreply_reply, &d), -EBADMSG);
	assert_int_equal(vfu_hdr_get(error_cmd, &d), -EBADMSG);
	/* An error reply has no payload. */
	const uint8_t errpay[] = { HDR(1, 2, 20, 0x21, 5), 0, 0, 0, 0 };
	struct vfu_msg m;
	assert_int_equal(decode(errpay, sizeof(errpay), 0, &m), -EBADMSG);
	assert_int_equal(decode(e, sizeof(e), 0, &m), 0);
}

/* A message: header for @cmd/@flags then @json with its NUL. */
static size_t version_msg(uint8_t *b, uint32_t flags, const char *json)
{
	size_t n = strlen(json) + 1;
	const uint8_t h[] = { HDR(0, 1, 0, 0, 0), U16(0), U16(2) };

	memcpy(b, h, sizeof(h));
	b[8] = (uint8_t)flags;
	memcpy(b + sizeof(h), json, n);
	n += sizeof(h);
	b[4] = (uint8_t)n;
	b[5] = (uint8_t)(n >> 8);
	return n;
}

static void test_version(void **state)
{
	static const char qemu[] =
		"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "
		"\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
		"\"migration\": {\"pgsize\": 4096, \"max_bitmap_size\": "
		"1048576}, \"write_multiple\": true}}";
	static const char lvu[] =
		"{ \"capabilities\": { \"max_msg_fds\": 8, "
		"\"max_data_xfer_size\": 1048576, \"migration\": { \"pgsize\": "
		"4096 }, \"twin_socket\": { \"supported\": true, \"fd_index\": "
		"0 } } }";
	uint8_t b[8192];
	struct vfu_msg m;
	size_t n;

	(void)state;
	n = version_msg(b, 0, qemu);
	assert_int_equal(decode(b, n, 0, &m), 0);
	assert_int_equal(m.u.version.major, 0);
	assert_int_equal(m.u.version.minor, 2);
	assert_true(m.u.version.has_json);
	assert_int_equal(m.u.version.caps.max_msg_fds, 16);
	assert_int_equal(m.u.version.caps.max_dma_maps, 65535);
	assert_int_equal(m.u.version.caps.max_data_xfer, 1048576);
	assert_int_equal(m.u.version.caps.pgsizes, 4096);
	assert_true(m.u.version.caps.write_multiple);
	assert_true(m.u.version.caps.present & VFU_CAP_MIGRATION);
	assert_false(m.u.version.caps.present & VFU_CAP_TWIN);
	/* A VERSION request carries no fds. */
	assert_int_equal(decode(b, n, 1, &m), -EINVAL);
	/* The reply may (the twin socket). */
	n = version_msg(b, VFU_F_REPLY, lvu);
	assert_int_equal(decode(b, n, 1, &m), 0);
	assert_true(m.u.version.caps.twin_supported);
	assert_int_equal(m.u.version.caps.twin_fd_index, 0);
	assert_int_equal(m.u.version.caps.max_msg_fds, 8);

	/* Our encoding, byte for byte. */
	struct vfu_msg o = {
		.h = { .id = 3, .cmd = VFU_VERSION, .flags = VFU_F_REPLY }
	};
	o.u.version.has_json = true;
	o.u.version.caps.present = VFU_CAP_OBJECT | VFU_CAP_MAX_MSG_FDS |
				   VFU_CAP_TWIN | VFU_CAP_TWIN_SUP |
				   VFU_CAP_TWIN_INDEX;
	o.u.version.caps.max_msg_fds = 16;
	o.u.version.caps.twin_supported = true;
	o.u.version.caps.twin_fd_index = 0;
	static const char want[] = "{\"capabilities\":{\"max_msg_fds\":16,"
				   "\"twin_socket\":{\"supported\":true,"
				   "\"fd_index\":0}}}";
	assert_int_equal(vfu_msg_encode(&o, b, sizeof(b)), 20 + sizeof(want));
	assert_memory_equal(b + 20, want, sizeof(want));
	assert_int_equal(b[4], 20 + sizeof(want));
	round_trip(b, 20 + sizeof(want), 1);

	/* No JSON at all: 4 bytes. */
	const uint8_t bare[] = { HDR(1, 1, 20, 0, 0), U16(0), U16(0) };
	assert_int_equal(decode(bare, sizeof(bare), 0, &m), 0);
	assert_false(m.u.version.has_json);
	round_trip(bare, sizeof(bare), 0);

	/* The NUL: missing, or one inside. */
	n = version_msg(b, 0, "{}");
	b[4]--;
	assert_int_equal(decode(b, n - 1, 0, &m), -EINVAL);
	n = version_msg(b, 0, "{} ");
	b[n - 2] = '\0';
	assert_int_equal(decode(b, n, 0, &m), -EINVAL);
}

static int caps(const char *s, struct vfu_caps *c)
{
	return vfu_caps_parse(s, strlen(s), c);
}

static void test_json(void **state)
{
	struct vfu_caps c;
	char deep[200] = "{\"capabilities\":{\"x\":";
	char buf[512];

	(void)state;
	assert_int_equal(caps("{}", &c), 0);
	assert_int_equal(c.present, 0);
	assert_int_equal(caps(" { \"capabilities\" : { } } ", &c), 0);
	assert_int_equal(c.present, VFU_CAP_OBJECT);
	/* Unknown keys of every type are skipped, at any level. */
	assert_int_equal(
		caps("{\"v\":[1,-2.5e+3,\"s\\\"\\u00e9\",null,true,{\"a\":[]}],"
		     "\"capabilities\":{\"future\":{\"x\":[false]},"
		     "\"max_msg_fds\":3,\"twin_socket\":{\"later\":1.5}}}",
		     &c),
		0);
	assert_int_equal(c.max_msg_fds, 3);
	assert_true(c.present & VFU_CAP_TWIN);
	assert_false(c.present & VFU_CAP_TWIN_SUP);
	/* Escapes in keys are decoded. */
	assert_int_equal(
		caps("{\"capabilities\":{\"max\\u005fmsg_fds\":7}}", &c), 0);
	assert_int_equal(c.max_msg_fds, 7);
	/* Refusals: types, duplicates, numbers, syntax, depth. */
	static const char *const bad[] = {
		"",
		"[]",
		"{\"capabilities\":[]}",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":1.0}}",
		"{\"capabilities\":{\"max_msg_fds\":1e3}}",
		"{\"capabilities\":{\"max_msg_fds\":01}}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":18446744073709551616}}",
		"{\"capabilities\":{\"max_msg_fds\":1,\"max_msg_fds\":2}}",
		"{\"capabilities\":{},\"capabilities\":{}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":{\"twin_socket\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}",
		"{\"capabilities\":{\"migration\":4096}}",
		"{\"a\":1,}",
		"{\"a\" 1}",
		"{\"a\":tru}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}",
		"{} {}",
		"{\"a\":1",
		"{'a':1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(caps(bad[i], &c), -EINVAL);
		assert_int_equal(c.present, 0);
	}
	for (int i = 0; i < 20; i++)
		strcat(deep, "[");
	assert_int_equal(caps(deep, &c), -EINVAL);
	/* The largest value of each kind. */
	assert_int_equal(caps("{\"capabilities\":{\"pgsizes\":"
			      "18446744073709551615}}",
			      &c),
			 0);
	assert_true(c.pgsizes == UINT64_MAX);
	/* Format and parse again. */
	c.present |= VFU_CAP_WRITE_MULTI | VFU_CAP_MIGRATION;
	c.write_multiple = false;
	assert_true(vfu_caps_format(buf, sizeof(buf), &c) > 0);
	assert_string_equal(buf, "{\"capabilities\":{\"pgsizes\":"
				 "18446744073709551615,\"write_multiple\":"
				 "false,\"migration\":{}}}");
	assert_int_equal(caps(buf, &c), 0);
	assert_int_equal(vfu_caps_format(buf, 10, &c), -EMSGSIZE);
}

static void test_dma_map(void **state)
{
	const uint8_t map[] = {
		HDR(9, 2, 48, 0, 0), U32(32),	      U32(3),
		U64(0x1000),	     U64(0x80000000), U64(0x200000)
	};
	const uint8_t rep[] = { HDR(9, 2, 16, 1, 0) };
	struct vfu_msg m;
	uint8_t b[64];

	(void)state;
	assert_int_equal(decode(map, sizeof(map), 1, &m), 0);
	assert_int_equal(m.u.dma_map.flags, 3);
	assert_int_equal(m.u.dma_map.offset, 0x1000);
	assert_int_equal(m.u.dma_map.addr, 0x80000000);
	assert_int_equal(m.u.dma_map.len, 0x200000);
	round_trip(map, sizeof(map), 1);
	round_trip(rep, sizeof(rep), 0);
	assert_int_equal(decode(map, sizeof(map), 2, &m), -EINVAL);
	memcpy(b, map, sizeof(map));
	b[16] = 24; /* argsz */
	assert_int_equal(decode(b, sizeof(map), 0, &m), -EINVAL);
	memcpy(b, map, sizeof(map));
	b[20] = 4; /* flags */
	assert_int_equal(decode(b, sizeof(map), 0, &m), -EINVAL);
	memcpy(b, map, sizeof(map));
	memset(b + 40, 0, 8); /* size 0 */
	assert_int_equal(decode(b, sizeof(map), 0, &m), -EINVAL);
	memcpy(b, map, sizeof(map));
	memset(b + 32, 0xff, 8); /* address + size wraps */
	assert_int_equal(decode(b, sizeof(map), 0, &m), -EINVAL);
	memcpy(b, map, sizeof(map));
	b[4] = 49; /* one byte too many */
	b[48] = 0;
	assert_int_equal(decode(b, 49, 0, &m), -EINVAL);
	b[4] = 47; /* one too few */
	assert_int_equal(decode(b, 47, 0, &m), -EBADMSG);
}

static void test_dma_unmap(void **state)
{
	const uint8_t req[] = { HDR(4, 3, 40, 0, 0), U32(24), U32(0),
				U64(0x80000000), U64(0x200000) };
	const uint8_t rep[] = { HDR(4, 3, 40, 1, 0), U32(24), U32(0),
				U64(0x80000000), U64(0x200000) };
	const uint8_t all[] = { HDR(4, 3, 40, 0, 0), U32(24), U32(2), U64(0),
				U64(0) };
	const uint8_t all_bad[] = { HDR(4, 3, 40, 0, 0), U32(24), U32(2),
				    U64(4096), U64(0) };
	const uint8_t small[] = { HDR(4, 3, 40, 0, 0), U32(16), U32(0),
				  U64(0x80000000), U64(0x200000) };
	const uint8_t dirty[] = { HDR(4, 3, 40, 0, 0), U32(24), U32(1),
				  U64(0x80000000), U64(0x200000) };
	struct vfu_msg m;

	(void)state;
	round_trip(req, sizeof(req), 0);
	round_trip(rep, sizeof(rep), 0);
	round_trip(all, sizeof(all), 0);
	assert_int_equal(decode(all_bad, sizeof(all_bad), 0, &m), -EINVAL);
	assert_int_equal(decode(small, sizeof(small), 0, &m), -EINVAL);
	assert_int_equal(decode(dirty, sizeof(dirty), 0, &m), -EINVAL);
	assert_int_equal(decode(req, sizeof(req), 1, &m), -EINVAL);
}

static void test_info(void **state)
{
	const uint8_t req[] = { HDR(1, 4, 32, 0, 0), U32(16), U32(0), U32(0),
				U32(0) };
	const uint8_t rep[] = { HDR(1, 4, 32, 1, 0), U32(16), U32(3), U32(9),
				U32(5) };
	const uint8_t req_bad[] = { HDR(1, 4, 32, 0, 0), U32(16), U32(0),
				    U32(9), U32(0) };
	const uint8_t req_small[] = { HDR(1, 4, 32, 0, 0), U32(8), U32(0),
				      U32(0), U32(0) };
	const uint8_t irq[] = { HDR(2, 7, 32, 0, 0), U32(16), U32(0), U32(2),
				U32(0) };
	const uint8_t irq_rep[] = { HDR(2, 7, 32, 1, 0), U32(16), U32(3),
				    U32(2), U32(2048) };
	const uint8_t irq_bad[] = { HDR(2, 7, 32, 0, 0), U32(16), U32(0),
				    U32(2), U32(1) };
	struct vfu_msg m;

	(void)state;
	round_trip(req, sizeof(req), 0);
	round_trip(rep, sizeof(rep), 0);
	assert_int_equal(decode(rep, sizeof(rep), 0, &m), 0);
	assert_int_equal(m.u.dev_info.num_regions, 9);
	assert_int_equal(m.u.dev_info.num_irqs, 5);
	assert_int_equal(decode(req_bad, sizeof(req_bad), 0, &m), -EINVAL);
	assert_int_equal(decode(req_small, sizeof(req_small), 0, &m), -EINVAL);
	round_trip(irq, sizeof(irq), 0);
	round_trip(irq_rep, sizeof(irq_rep), 0);
	assert_int_equal(decode(irq_rep, sizeof(irq_rep), 0, &m), 0);
	assert_int_equal(m.u.irq_info.count, 2048);
	assert_int_equal(decode(irq_bad, sizeof(irq_bad), 0, &m), -EINVAL);
}

static void test_region_info(void **state)
{
	const uint8_t req[] = { HDR(5, 5, 48, 0, 0),
				U32(32),
				U32(0),
				U32(1),
				U32(0),
				U64(0),
				U64(0) };
	/* What libvfio-user's sample BAR1 answered (the digest): first the
	 * fixed part with argsz 80, then the full reply with two areas. */
	const uint8_t shortrep[] = {
		HDR(5, 5, 48, 1, 0), U32(80), U32(7), U32(1), U32(0),
		U64(0x4000),	     U64(0)
	};
	const uint8_t full[] = { HDR(5, 5, 96, 1, 0),
				 U32(80),
				 U32(0xf),
				 U32(1),
				 U32(32),
				 U64(0x4000),
				 U64(0x10000),
				 U16(1),
				 U16(1),
				 U32(0),
				 U32(2),
				 U32(0),
				 U64(0),
				 U64(0x1000),
				 U64(0x2000),
				 U64(0x2000) };
	struct vfu_msg m;
	uint8_t b[256];

	(void)state;
	round_trip(req, sizeof(req), 0);
	assert_int_equal(decode(shortrep, sizeof(shortrep), 0, &m), 0);
	assert_false(m.u.region_info_rep.full);
	assert_int_equal(m.u.region_info_rep.ri.argsz, 80);
	round_trip(shortrep, sizeof(shortrep), 0);
	assert_int_equal(decode(full, sizeof(full), 1, &m), 0);
	assert_true(m.u.region_info_rep.full);
	assert_int_equal(m.u.region_info_rep.n_areas, 2);
	assert_int_equal(m.u.region_info_rep.areas[1].offset, 0x2000);
	assert_int_equal(m.u.region_info_rep.areas[1].len, 0x2000);
	round_trip(full, sizeof(full), 1);
	/* An fd without MMAP; two fds. */
	assert_int_equal(decode(shortrep, sizeof(shortrep), 2, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[20] = 0xb;
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	/* Request refusals: a nonzero field beside argsz and index. */
	memcpy(b, req, sizeof(req));
	b[28] = 1;
	assert_int_equal(decode(b, sizeof(req), 0, &m), -EINVAL);
	/* Caps: an area past the region, too many areas, a loop, a
	 * cap_offset inside the fixed part, a header past the end. */
	memcpy(b, full, sizeof(full));
	b[32] = 0x10; /* size 0x10: the second area ends past it */
	b[33] = 0;
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[56] = 3; /* nr_areas 3: not in the payload */
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[52] = 32; /* next = itself */
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[28] = 16; /* cap_offset inside the fixed part */
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[52] = 90; /* next: a header past the end */
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
	memcpy(b, full, sizeof(full));
	b[16] = 96; /* argsz larger than the payload it came with */
	assert_int_equal(decode(b, sizeof(full), 1, &m), -EINVAL);
}

static void test_io_fds(void **state)
{
	const uint8_t req[] = { HDR(6, 6, 32, 0, 0), U32(16), U32(0), U32(0),
				U32(0) };
	const uint8_t none[] = { HDR(6, 6, 32, 1, 0), U32(16), U32(0), U32(0),
				 U32(0) };
	const uint8_t one[] = { HDR(6, 6, 72, 1, 0),
				U32(56),
				U32(0),
				U32(0),
				U32(1),
				U64(0x100),
				U64(4),
				U32(0),
				U32(0),
				U32(1),
				U32(0),
				U64(0xdead) };
	const uint8_t trunc[] = { HDR(6, 6, 32, 1, 0), U32(56), U32(0), U32(0),
				  U32(1) };
	struct vfu_msg m;
	uint8_t b[128];

	(void)state;
	round_trip(req, sizeof(req), 0);
	round_trip(none, sizeof(none), 0);
	round_trip(one, sizeof(one), 1);
	round_trip(trunc, sizeof(trunc), 0);
	assert_int_equal(decode(one, sizeof(one), 1, &m), 0);
	assert_int_equal(m.u.io_fds.sub[0].datamatch, 0xdead);
	assert_int_equal(decode(one, sizeof(one), 0, &m), -EINVAL);
	memcpy(b, one, sizeof(one));
	b[48] = 1; /* fd_index 1 of 1 fd */
	assert_int_equal(decode(b, sizeof(one), 1, &m), -EINVAL);
	memcpy(b, one, sizeof(one));
	b[52] = 2; /* type */
	assert_int_equal(decode(b, sizeof(one), 1, &m), -EINVAL);
}

static void test_set_irqs(void **state)
{
	const uint8_t efd[] = {
		HDR(8, 8, 36, 0, 0), U32(20), U32(0x24), U32(2), U32(0), U32(1)
	};
	const uint8_t bools[] = { HDR(8, 8, 39, 0, 0),
				  U32(23),
				  U32(0x12),
				  U32(2),
				  U32(1),
				  U32(3),
				  1,
				  0,
				  1 };
	const uint8_t all_off[] = {
		HDR(8, 8, 36, 0, 0), U32(20), U32(0x21), U32(0), U32(0), U32(0)
	};
	struct vfu_msg m;
	uint8_t b[64];

	(void)state;
	round_trip(efd, sizeof(efd), 1);
	round_trip(efd, sizeof(efd), 0); /* no fds: de-assign */
	round_trip(bools, sizeof(bools), 0);
	round_trip(all_off, sizeof(all_off), 0);
	assert_int_equal(decode(bools, sizeof(bools), 0, &m), 0);
	assert_int_equal(m.u.set_irqs.data[2], 1);
	/* fds: not count of them; fds with booleans. */
	memcpy(b, efd, sizeof(efd));
	b[32] = 2; /* count 2, one fd */
	assert_int_equal(decode(b, sizeof(efd), 1, &m), -EINVAL);
	assert_int_equal(decode(bools, sizeof(bools), 3, &m), -EINVAL);
	/* Flags: two DATA, two ACTION, none, unknown. */
	static const uint32_t badflags[] = { 0x26, 0x34, 0x04, 0x20, 0x64 };
	for (size_t i = 0; i < 5; i++) {
		memcpy(b, efd, sizeof(efd));
		b[20] = (uint8_t)badflags[i];
		assert_int_equal(decode(b, sizeof(efd), 0, &m), -EINVAL);
	}
	/* argsz must be the request's size. */
	memcpy(b, efd, sizeof(efd));
	b[16] = 24;
	assert_int_equal(decode(b, sizeof(efd), 1, &m), -EINVAL);
	/* Booleans: fewer than count. */
	memcpy(b, bools, sizeof(bools));
	b[32] = 4;
	assert_int_equal(decode(b, sizeof(bools), 0, &m), -EINVAL);
	/* count 0: only DATA_NONE with start 0. */
	memcpy(b, all_off, sizeof(all_off));
	b[20] = 0x24;
	assert_int_equal(decode(b, sizeof(all_off), 0, &m), -EINVAL);
	memcpy(b, all_off, sizeof(all_off));
	b[28] = 1;
	assert_int_equal(decode(b, sizeof(all_off), 0, &m), -EINVAL);
	/* A count beyond any index. */
	memcpy(b, efd, sizeof(efd));
	b[33] = 0xff;
	assert_int_equal(decode(b, sizeof(efd), 0, &m), -EINVAL);
}

static void test_region_rw(void **state)
{
	const uint8_t rd[] = { HDR(10, 9, 32, 0, 0), U64(0x10), U32(0),
			       U32(4) };
	const uint8_t rd_rep[] = {
		HDR(10, 9, 36, 1, 0), U64(0x10), U32(0), U32(4), 1, 2, 3, 4
	};
	const uint8_t wr[] = {
		HDR(11, 10, 34, 0, 0), U64(0x10), U32(7), U32(2), 0xaa, 0xbb
	};
	const uint8_t wr_rep[] = { HDR(11, 10, 32, 1, 0), U64(0x10), U32(7),
				   U32(2) };
	struct vfu_msg m;
	uint8_t b[64];

	(void)state;
	round_trip(rd, sizeof(rd), 0);
	round_trip(rd_rep, sizeof(rd_rep), 0);
	round_trip(wr, sizeof(wr), 0);
	round_trip(wr_rep, sizeof(wr_rep), 0);
	assert_int_equal(decode(wr, sizeof(wr), 0, &m), 0);
	assert_int_equal(m.u.region_rw.data[1], 0xbb);
	/* count and data disagree; count 0; offset + count wraps. */
	memcpy(b, wr, sizeof(wr));
	b[28] = 3;
	assert_int_equal(decode(b, sizeof(wr), 0, &m), -EBADMSG);
	memcpy(b, rd_rep, sizeof(rd_rep));
	b[28] = 5;
	assert_int_equal(decode(b, sizeof(rd_rep), 0, &m), -EINVAL);
	memcpy(b, rd, sizeof(rd));
	b[28] = 0;
	assert_int_equal(decode(b, sizeof(rd), 0, &m), -EINVAL);
	memcpy(b, rd, sizeof(rd));
	memset(b + 16, 0xff, 8);
	assert_int_equal(decode(b, sizeof(rd), 0, &m), -EINVAL);
	assert_int_equal(decode(rd, sizeof(rd), 1, &m), -EINVAL);
}

static void test_dma_rw(void **state)
{
	const uint8_t rd[] = { HDR(1, 11, 32, 0, 0), U64(0x80001000), U64(3) };
	const uint8_t rd_rep[] = {
		HDR(1, 11, 35, 1, 0), U64(0x80001000), U64(3), 7, 8, 9
	};
	const uint8_t wr[] = { HDR(2, 12, 34, 0, 0), U64(0x80001000), U64(2), 5,
			       6 };
	const uint8_t wr_rep[] = { HDR(2, 12, 32, 1, 0), U64(0x80001000),
				   U64(2) };
	const uint8_t wr_rep4[] = { HDR(2, 12, 28, 1, 0), U64(0x80001000),
				    U32(2) };
	struct vfu_msg m;
	uint8_t b[64];

	(void)state;
	round_trip(rd, sizeof(rd), 0);
	round_trip(rd_rep, sizeof(rd_rep), 0);
	round_trip(wr, sizeof(wr), 0);
	round_trip(wr_rep, sizeof(wr_rep), 0);
	round_trip(wr_rep4, sizeof(wr_rep4), 0);
	assert_int_equal(decode(wr_rep4, sizeof(wr_rep4), 0, &m), 0);
	assert_true(m.u.dma_rw.short_count);
	assert_int_equal(m.u.dma_rw.count, 2);
	memcpy(b, rd, sizeof(rd));
	memset(b + 24, 0xff, 8); /* count past the cap */
	assert_int_equal(decode(b, sizeof(rd), 0, &m), -EINVAL);
	memcpy(b, rd_rep, sizeof(rd_rep));
	b[24] = 4;
	assert_int_equal(decode(b, sizeof(rd_rep), 0, &m), -EINVAL);
}

static void test_misc(void **state)
{
	const uint8_t reset[] = { HDR(3, 13, 16, 0, 0) };
	const uint8_t reset_rep[] = { HDR(3, 13, 16, 1, 0) };
	const uint8_t multi[] = { HDR(4, 15, 72, 0, 0),
				  U64(2),
				  U64(0x40),
				  U32(0),
				  U32(4),
				  1,
				  2,
				  3,
				  4,
				  0,
				  0,
				  0,
				  0,
				  U64(0x44),
				  U32(0),
				  U32(1),
				  9,
				  0,
				  0,
				  0,
				  0,
				  0,
				  0,
				  0 };
	const uint8_t multi_rep[] = { HDR(4, 15, 24, 1, 0), U64(2) };
	const uint8_t probe[] = { HDR(5, 16, 24, 0, 0), U32(8),
				  U32((1u << 18) | (1u << 16) | 1) };
	const uint8_t feat_rep[] = { HDR(5, 16, 32, 1, 0), U32(16),
				     U32((1u << 16) | 1), U64(1) };
	const uint8_t feat_bad[] = { HDR(5, 16, 24, 0, 0), U32(8),
				     U32((1u << 17) | (1u << 16) | 1) };
	const uint8_t mig_rd[] = { HDR(6, 17, 24, 0, 0), U32(4104), U32(4096) };
	const uint8_t mig_wr[] = { HDR(6, 18, 26, 0, 0), U32(8), U32(2), 1, 2 };
	const uint8_t unknown[] = { HDR(7, 14, 16, 0, 0) };
	const uint8_t unknown2[] = { HDR(7, 99, 16, 0, 0) };
	struct vfu_msg m;
	uint8_t b[128];

	(void)state;
	round_trip(reset, sizeof(reset), 0);
	round_trip(reset_rep, sizeof(reset_rep), 0);
	round_trip(multi, sizeof(multi), 0);
	round_trip(multi_rep, sizeof(multi_rep), 0);
	round_trip(probe, sizeof(probe), 0);
	round_trip(feat_rep, sizeof(feat_rep), 0);
	round_trip(mig_rd, sizeof(mig_rd), 0);
	round_trip(mig_wr, sizeof(mig_wr), 0);
	assert_int_equal(decode(feat_bad, sizeof(feat_bad), 0, &m), -EINVAL);
	assert_int_equal(decode(unknown, sizeof(unknown), 0, &m), -EOPNOTSUPP);
	assert_int_equal(decode(unknown2, sizeof(unknown2), 0, &m),
			 -EOPNOTSUPP);
	assert_int_equal(decode(reset, sizeof(reset), 1, &m), -EINVAL);
	memcpy(b, multi, sizeof(multi));
	b[36] = 9; /* a write of 9 bytes */
	assert_int_equal(decode(b, sizeof(multi), 0, &m), -EINVAL);
	memcpy(b, multi, sizeof(multi));
	b[16] = 3; /* wr_cnt past the entries */
	assert_int_equal(decode(b, sizeof(multi), 0, &m), -EINVAL);
	assert_string_equal(vfu_cmd_name(VFU_SET_IRQS), "DEVICE_SET_IRQS");
	assert_string_equal(vfu_cmd_name(14), "?");
}

/* ---- the endpoint ------------------------------------------------------- */

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, sv),
			 0);
}

static void test_ep_fds(void **state)
{
	const uint8_t map[] = { HDR(9, 2, 48, 0, 0), U32(32),	 U32(3), U64(0),
				U64(0x80000000),     U64(0x1000) };
	struct vfu_ep a, b;
	struct vfu_rx rx;
	int sv[2], efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	pair(sv);
	vfu_ep_init(&a, sv[0], 1 << 16, 1 << 20);
	vfu_ep_init(&b, sv[1], 1 << 16, 1 << 20);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0); /* nothing yet */
	assert_int_equal(vfu_ep_send(&a, map, sizeof(map), &efd, 1), 0);
	assert_int_equal(vfu_ep_send(&a, map, sizeof(map), NULL, 0), 0);
	assert_int_equal(vfu_ep_recv(&b, &rx), 1);
	assert_int_equal(rx.nfds, 1);
	assert_true(vfu_fd_is_eventfd(rx.fds[0]));
	assert_false(vfu_fd_is_eventfd(sv[0]));
	assert_int_equal(rx.n, 32);
	assert_memory_equal(rx.p, map + 16, 32);
	vfu_rx_close_fds(&rx);
	assert_int_equal(vfu_ep_recv(&b, &rx), 1);
	assert_int_equal(rx.nfds, 0);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0);

	/* A message in pieces, fds on the first. */
	assert_int_equal(send(sv[0], map, 5, 0), 5);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0);
	assert_int_equal(send(sv[0], map + 5, 20, 0), 20);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0);
	assert_int_equal(send(sv[0], map + 25, sizeof(map) - 25, 0),
			 (ssize_t)sizeof(map) - 25);
	assert_int_equal(vfu_ep_recv(&b, &rx), 1);
	assert_int_equal(rx.h.cmd, VFU_DMA_MAP);

	/* fds that come with a payload: the stream is lost. */
	assert_int_equal(send(sv[0], map, 20, 0), 20);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0);
	assert_int_equal(ism_wire_send(sv[0], map + 20, 28, &efd, 1, 0), 0);
	assert_int_equal(vfu_ep_recv(&b, &rx), -EBADMSG);
	vfu_ep_close(&a);
	vfu_ep_close(&b);
	close(efd);
}

static void test_ep_limits(void **state)
{
	const uint8_t big[] = { HDR(1, 10, 0x10010, 0, 0) };
	const uint8_t bad[] = { HDR(1, 10, 16, 0x44, 0) };
	uint8_t msg[4096];
	struct vfu_ep a, b;
	struct vfu_rx rx;
	int sv[2], n = 0, r;

	(void)state;
	/* Larger than max_in. */
	pair(sv);
	vfu_ep_init(&b, sv[1], 0x10000, 1 << 20);
	assert_int_equal(send(sv[0], big, sizeof(big), 0), 16);
	assert_int_equal(vfu_ep_recv(&b, &rx), -EMSGSIZE);
	vfu_ep_close(&b);
	close(sv[0]);
	/* A bad header. */
	pair(sv);
	vfu_ep_init(&b, sv[1], 0x10000, 1 << 20);
	assert_int_equal(send(sv[0], bad, sizeof(bad), 0), 16);
	assert_int_equal(vfu_ep_recv(&b, &rx), -EBADMSG);
	vfu_ep_close(&b);
	/* EOF mid-message, then for good. */
	pair(sv);
	vfu_ep_init(&b, sv[1], 0x10000, 1 << 20);
	assert_int_equal(send(sv[0], bad, 8, 0), 8);
	close(sv[0]);
	assert_int_equal(vfu_ep_recv(&b, &rx), -ENOTCONN);
	vfu_ep_close(&b);
	/* A send to a peer gone, having read all or not: -ENOTCONN (not
	 * EPIPE or ECONNRESET, which a caller would take for a protocol
	 * error). */
	for (int unread = 0; unread < 2; unread++) {
		pair(sv);
		vfu_ep_init(&a, sv[0], 0x10000, 1 << 20);
		if (unread)
			assert_int_equal(send(sv[0], bad, 8, 0), 8);
		close(sv[1]);
		assert_int_equal(vfu_ep_send(&a, bad, sizeof(bad), NULL, 0),
				 -ENOTCONN);
		vfu_ep_close(&a);
	}

	/* A peer that does not read: the queue takes up to its cap, then
	 * -ENOBUFS; never a blocking send. */
	pair(sv);
	vfu_ep_init(&a, sv[0], 0x10000, 64 << 10);
	vfu_ep_init(&b, sv[1], 0x10000, 64 << 10);
	memset(msg, 0, sizeof(msg));
	const uint8_t h[] = { HDR(0, 13, sizeof(msg), 0, 0) };
	memcpy(msg, h, sizeof(h));
	while ((r = vfu_ep_send(&a, msg, sizeof(msg), NULL, 0)) == 0)
		n++;
	assert_int_equal(r, -ENOBUFS);
	assert_true(vfu_ep_queued(&a));
	assert_int_equal(vfu_ep_flush(&a), -EAGAIN);
	/* Read everything: all n messages arrive whole, in order. */
	for (int i = 0; i < n; i++) {
		r = vfu_ep_recv(&b, &rx);
		if (r == 0) {
			vfu_ep_flush(&a);
			i--;
			continue;
		}
		assert_int_equal(r, 1);
		assert_int_equal(rx.n, sizeof(msg) - 16);
	}
	assert_int_equal(vfu_ep_flush(&a), 0);
	assert_false(vfu_ep_queued(&a));
	vfu_ep_close(&a);
	vfu_ep_close(&b);
}

/* A message gathered from pieces, larger than the socket takes at once:
 * the part that did not leave is queued, and the receiver gets every
 * byte in order (the first whole; the second while the first is still
 * queued, so queued behind it). */
static void test_ep_sendv(void **state)
{
	const size_t n = 1u << 20;
	uint8_t h[24], *data = malloc(n);
	struct vfu_hdr hd = { .id = 3,
			      .cmd = VFU_DMA_READ,
			      .size = (uint32_t)(sizeof(h) + n),
			      .flags = VFU_F_REPLY };
	struct ism_wbuf w;
	struct vfu_ep a, b;
	struct vfu_rx rx;
	int sv[2], got = 0, r;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	ism_wbuf_init(&w, h, sizeof(h));
	vfu_hdr_put(&w, &hd);
	ism_wbuf_le64(&w, 0x1000);
	assert_int_equal(w.err, 0);
	struct iovec iov[3] = { { h, 16 }, { h + 16, 8 }, { data, n } };

	pair(sv);
	vfu_ep_init(&a, sv[0], 4u << 20, 4u << 20);
	vfu_ep_init(&b, sv[1], 4u << 20, 4u << 20);
	assert_int_equal(vfu_ep_sendv(&a, iov, 3, NULL, 0), 0);
	assert_true(vfu_ep_queued(&a)); /* 1 MiB does not fit */
	assert_int_equal(vfu_ep_sendv(&a, iov, 3, NULL, 0), 0);
	/* Nothing of the caller's is referenced once sendv returns. */
	memset(data, 0xee, n);
	while (got < 2) {
		r = vfu_ep_recv(&b, &rx);
		if (r == 0) {
			r = vfu_ep_flush(&a);
			assert_true(r == 0 || r == -EAGAIN);
			continue;
		}
		assert_int_equal(r, 1);
		assert_int_equal(rx.h.id, 3);
		assert_int_equal(rx.n, 8 + n);
		for (size_t i = 0; i < n; i++)
			if (rx.p[8 + i] != (uint8_t)(i * 7 + i / 4096))
				fail_msg("byte %zu of message %d", i, got);
		got++;
	}
	assert_false(vfu_ep_queued(&a));
	assert_int_equal(vfu_ep_sendv(&a, iov, VFU_EP_MAX_IOV + 1, NULL, 0),
			 -EINVAL);
	vfu_ep_close(&a);
	vfu_ep_close(&b);
	free(data);
}

/* Fill @n bytes with a pattern of @seed; check them. */
static void t_fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * seed + i / 4096);
}

/* Bytes [@from, @to) of @p hold the pattern of @seed. */
static bool t_check_at(const uint8_t *p, size_t from, size_t to, unsigned seed)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != (uint8_t)(i * seed + i / 4096))
			return false;
	return true;
}

static bool t_check(const uint8_t *p, size_t n, unsigned seed)
{
	return t_check_at(p, 0, n, seed);
}

/* Receive on @b until a whole message, flushing @a meanwhile. */
static int t_recv(struct vfu_ep *a, struct vfu_ep *b, struct vfu_rx *rx)
{
	int r;

	while ((r = vfu_ep_recv(b, rx)) == 0) {
		r = vfu_ep_flush(a);
		if (r && r != -EAGAIN)
			return r;
	}
	return r;
}

/* A steered reply goes straight to the caller's buffer, across many
 * socket-fulls; what does not match exactly (another id, an error, one
 * byte more) is received as usual; unsteering in the middle of the
 * steered message loses the stream. */
static void test_ep_steer(void **state)
{
	const size_t n = 1u << 20;
	uint8_t *data = malloc(n), *dst = malloc(n + 1), h[32];
	struct vfu_hdr hd = { .id = 9,
			      .cmd = VFU_DMA_READ,
			      .size = (uint32_t)(32 + n),
			      .flags = VFU_F_REPLY };
	const uint8_t err[] = { HDR(9, 11, 16, 0x21, 5) };
	const uint8_t other[] = { HDR(8, 11, 32, 1, 0), U64(0x1000), U64(0) };
	struct ism_wbuf w;
	struct vfu_ep a, b;
	struct vfu_rx rx;
	int sv[2];

	(void)state;
	assert_non_null(data);
	assert_non_null(dst);
	t_fill(data, n, 7);
	ism_wbuf_init(&w, h, sizeof(h));
	vfu_hdr_put(&w, &hd);
	ism_wbuf_le64(&w, 0x1000);
	ism_wbuf_le64(&w, n);
	assert_int_equal(w.err, 0);
	struct iovec iov[2] = { { h, 32 }, { data, n } };

	pair(sv);
	vfu_ep_init(&a, sv[0], 4u << 20, 4u << 20);
	vfu_ep_init(&b, sv[1], 4u << 20, 4u << 20);
	/* Another id and an error reply first: received as usual, and the
	 * steer stays. */
	vfu_ep_steer(&b, VFU_DMA_READ, 9, 16, dst, n);
	assert_int_equal(vfu_ep_send(&a, other, sizeof(other), NULL, 0), 0);
	assert_int_equal(vfu_ep_send(&a, err, sizeof(err), NULL, 0), 0);
	assert_int_equal(vfu_ep_sendv(&a, iov, 2, NULL, 0), 0);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_false(rx.steered);
	assert_int_equal(rx.h.id, 8);
	assert_int_equal(rx.n, 16);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_false(rx.steered);
	assert_int_equal(rx.h.flags, 0x21);
	memset(dst, 0, n + 1);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_true(rx.steered);
	assert_int_equal(rx.h.id, 9);
	assert_int_equal(rx.n, 16);
	assert_memory_equal(rx.p, h + 16, 16);
	assert_true(t_check(dst, n, 7));
	assert_int_equal(dst[n], 0);
	/* Once received, the steer is gone: the same reply again is
	 * received as usual, into the endpoint's buffer. */
	memset(dst, 0, n);
	assert_int_equal(vfu_ep_sendv(&a, iov, 2, NULL, 0), 0);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_false(rx.steered);
	assert_int_equal(rx.n, 16 + n);
	assert_true(t_check(rx.p + 16, n, 7));
	assert_int_equal(dst[0], 0);
	/* One byte more than steered for: received as usual. */
	vfu_ep_steer(&b, VFU_DMA_READ, 9, 16, dst, n - 1);
	assert_int_equal(vfu_ep_sendv(&a, iov, 2, NULL, 0), 0);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_false(rx.steered);
	assert_int_equal(rx.n, 16 + n);
	vfu_ep_unsteer(&b);
	/* Unsteered with half of it read: the stream is lost. */
	vfu_ep_steer(&b, VFU_DMA_READ, 9, 16, dst, n);
	assert_int_equal(vfu_ep_sendv(&a, iov, 2, NULL, 0), 0);
	assert_int_equal(vfu_ep_progress(&b), 0);
	assert_int_equal(vfu_ep_recv(&b, &rx), 0); /* part of it */
	assert_true(vfu_ep_progress(&b) > 16 && vfu_ep_progress(&b) < 32 + n);
	vfu_ep_unsteer(&b);
	assert_int_equal(vfu_ep_flush(&a), -EAGAIN);
	assert_int_equal(vfu_ep_recv(&b, &rx), -EBADMSG);
	vfu_ep_close(&a);
	vfu_ep_close(&b);
	free(data);
	free(dst);
}

/* Lent pieces are queued by reference (what leaves is what they hold
 * then: a change after sendv shows in the part that was queued, and only
 * there), and vfu_ep_keep() makes the queue independent of them. */
static void test_ep_lent(void **state)
{
	const size_t n = 1u << 20;
	uint8_t *data = malloc(n), h[32];
	struct vfu_hdr hd = { .id = 4,
			      .cmd = VFU_DMA_READ,
			      .size = (uint32_t)(32 + n),
			      .flags = VFU_F_REPLY };
	struct ism_wbuf w;
	struct vfu_ep a, b;
	struct vfu_rx rx;
	size_t left;
	int sv[2];

	(void)state;
	assert_non_null(data);
	ism_wbuf_init(&w, h, sizeof(h));
	vfu_hdr_put(&w, &hd);
	ism_wbuf_le64(&w, 0x2000);
	ism_wbuf_le64(&w, n);
	struct iovec iov[2] = { { h, 32 }, { data, n } };

	pair(sv);
	vfu_ep_init(&a, sv[0], 4u << 20, 4u << 20);
	vfu_ep_init(&b, sv[1], 4u << 20, 4u << 20);
	/* Lent, then changed before it left: the change is what arrives
	 * (no copy was made); the header, not lent, was copied. */
	t_fill(data, n, 3);
	assert_int_equal(vfu_ep_sendv_lent(&a, iov, 2, NULL, 0, 1), 0);
	assert_true(vfu_ep_queued(&a)); /* 1 MiB does not fit */
	left = a.qbytes;
	assert_true(left > 0 && left < n);
	t_fill(data, n, 5);
	assert_int_equal(t_recv(&a, &b, &rx), 1);
	assert_int_equal(rx.h.id, 4);
	assert_int_equal(rx.n, 16 + n);
	assert_true(t_check_at(rx.p + 16, 0, n - left, 3));
	assert_true(t_check_at(rx.p + 16, n - left, n, 5));
	/* Lent, kept, then overwritten: the original arrives; and a second
	 * message queued behind it stays in order. */
	t_fill(data, n, 11);
	assert_int_equal(vfu_ep_sendv_lent(&a, iov, 2, NULL, 0, 1), 0);
	assert_int_equal(vfu_ep_sendv_lent(&a, iov, 2, NULL, 0, 1), 0);
	assert_int_equal(vfu_ep_keep(&a), 0);
	memset(data, 0xee, n);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(t_recv(&a, &b, &rx), 1);
		assert_int_equal(rx.n, 16 + n);
		assert_true(t_check(rx.p + 16, n, 11));
	}
	assert_false(vfu_ep_queued(&a));
	assert_int_equal(vfu_ep_sendv_lent(&a, iov, 2, NULL, 0, 3), -EINVAL);
	vfu_ep_close(&a);
	vfu_ep_close(&b);
	free(data);
}

/* The waiting form with nothing queued sends straight from the pieces
 * (4 MiB, many socket-fulls) while another process reads, and messages
 * stay whole and in order around it. */
static void test_ep_sendv_wait(void **state)
{
	const size_t n = 4u << 20;
	uint8_t h[16], *data = malloc(n);
	struct vfu_hdr hd = { .id = 5,
			      .cmd = VFU_DMA_WRITE,
			      .size = (uint32_t)(sizeof(h) + n) };
	const uint8_t small[] = { HDR(9, 13, 16, 1, 0) };
	uint64_t dl = ism_now_ns() + 30ull * 1000000000;
	struct ism_wbuf w;
	struct vfu_ep a;
	int sv[2], st;
	pid_t pid;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 13 + i / 65536);
	ism_wbuf_init(&w, h, sizeof(h));
	vfu_hdr_put(&w, &hd);
	struct iovec iov[2] = { { h, sizeof(h) }, { data, n } };

	pair(sv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vfu_ep b;
		struct vfu_rx rx;

		close(sv[0]);
		vfu_ep_init(&b, sv[1], 8u << 20, 1 << 20);
		for (int k = 0; k < 3; k++) {
			size_t want = k == 1 ? 0 : n;

			if (vfu_ep_recv_wait(&b, &rx, dl) != 1 ||
			    rx.n != want || rx.h.id != (k == 1 ? 9 : 5))
				_exit(1);
			for (size_t i = 0; i < want; i++)
				if (rx.p[i] != (uint8_t)(i * 13 + i / 65536))
					_exit(2);
		}
		_exit(0);
	}
	close(sv[1]);
	vfu_ep_init(&a, sv[0], 8u << 20, 8u << 20);
	assert_int_equal(vfu_ep_sendv_wait(&a, iov, 2, NULL, 0, dl), 0);
	assert_false(vfu_ep_queued(&a));
	/* A small one, then the big one again. */
	assert_int_equal(vfu_ep_send(&a, small, sizeof(small), NULL, 0), 0);
	assert_int_equal(vfu_ep_sendv_wait(&a, iov, 2, NULL, 0, dl), 0);
	assert_false(vfu_ep_queued(&a));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	vfu_ep_close(&a);
	free(data);
}

static int t_sockopt(int fd, int opt)
{
	socklen_t len = sizeof(int);
	int v = -1;

	assert_int_equal(getsockopt(fd, SOL_SOCKET, opt, &v, &len), 0);
	return v;
}

/* vfu_sock_fit() raises both buffers so that each holds the message (as
 * far as net.core.wmem_max and rmem_max let it: the kernel doubles what
 * is set, capped there), and never lowers one. */
static void test_sock_fit(void **state)
{
	const int msg = (1 << 20) + 32;
	long wmax = t_read_long("/proc/sys/net/core/wmem_max"),
	     rmax = t_read_long("/proc/sys/net/core/rmem_max");
	int sv[2], small = 65536, before;

	(void)state;
	pair(sv);
	assert_int_equal(vfu_sock_fit(sv[0], (size_t)msg), 0);
	if (wmax > 0 && rmax > 0) {
		assert_int_equal(t_sockopt(sv[0], SO_SNDBUF),
				 2 * (int)ISM_MIN((long)msg, wmax));
		assert_int_equal(t_sockopt(sv[0], SO_RCVBUF),
				 2 * (int)ISM_MIN((long)msg, rmax));
	}
	assert_true(t_sockopt(sv[0], SO_SNDBUF) > t_sockopt(sv[1], SO_SNDBUF) ||
		    wmax * 2 <= t_sockopt(sv[1], SO_SNDBUF));
	/* Bigger already (or as big as it can be): left alone. */
	before = t_sockopt(sv[0], SO_SNDBUF);
	assert_int_equal(vfu_sock_fit(sv[0], (size_t)small), 0);
	assert_int_equal(t_sockopt(sv[0], SO_SNDBUF), before);
	assert_int_equal(vfu_sock_fit(sv[0], (size_t)msg), 0);
	assert_int_equal(t_sockopt(sv[0], SO_SNDBUF), before);
	/* Not a socket. */
	assert_int_equal(vfu_sock_fit(sv[0] + 100, (size_t)msg), -EBADF);
	close(sv[0]);
	close(sv[1]);
}

static void test_fd_checks(void **state)
{
	int m = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int sv[2];

	(void)state;
	assert_true(m >= 0);
	assert_int_equal(ftruncate(m, 8192), 0);
	assert_int_equal(vfu_fd_check_mem(m, 8192, false), 0);
	assert_int_equal(vfu_fd_check_mem(m, 8193, false), -ENOSPC);
	assert_int_equal(vfu_fd_check_mem(m, 4096, true), -EPERM);
	assert_int_equal(fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(vfu_fd_check_mem(m, 4096, true), 0);
	pair(sv);
	assert_int_equal(vfu_fd_check_mem(sv[0], 0, false), -EBADF);
	assert_true(vfu_fd_is_unix_stream(sv[0]));
	assert_false(vfu_fd_is_unix_stream(m));
	close(m);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_dma_map),
		cmocka_unit_test(test_dma_unmap),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_region_info),
		cmocka_unit_test(test_io_fds),
		cmocka_unit_test(test_set_irqs),
		cmocka_unit_test(test_region_rw),
		cmocka_unit_test(test_dma_rw),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_ep_fds),
		cmocka_unit_test(test_ep_limits),
		cmocka_unit_test(test_ep_sendv),
		cmocka_unit_test(test_ep_sendv_wait),
		cmocka_unit_test(test_ep_steer),
		cmocka_unit_test(test_ep_lent),
		cmocka_unit_test(test_sock_fit),
		cmocka_unit_test(test_fd_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
