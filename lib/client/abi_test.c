/* SPDX-License-Identifier: MIT */
/*
 * The public structs' sizes, pinned: a change here breaks every binary
 * built against an earlier libism, so it must be noticed.  Structs libism
 * fills end in a reserved tail that later fields come out of; it starts
 * where the 0.1 struct ended, which lib/client/compat.c relies on to hand
 * 0.1 binaries their part.  Options structs may grow (size-versioned);
 * their first version's size is the smallest libism accepts.
 *
 * Sizes are those of LP64 Linux (x86_64, aarch64, ...); on other ABIs
 * only the layout rules are checked.
 */
#include "util/util.h"

#include <ism.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* The reserved tail ends the struct, and the 0.1 struct ended where it
 * starts (@v01: the 0.1 size on LP64). */
#define OUT_STRUCT(type, bytes, v01)                                           \
	_Static_assert(offsetof(struct type, reserved) +                       \
				       sizeof(((struct type *)0)->reserved) == \
			       sizeof(struct type),                            \
		       #type ": the reserved tail ends it");                   \
	_Static_assert(!LP64 || sizeof(struct type) == (bytes),                \
		       #type ": size changed");                                \
	_Static_assert(!LP64 || offsetof(struct type, reserved) == (v01),      \
		       #type ": the 0.1 part changed")

#define LP64 (UINTPTR_MAX == UINT64_MAX && __SIZEOF_LONG__ == 8)

OUT_STRUCT(ism_event, 200, 136);
OUT_STRUCT(ism_status, 232, 168);
OUT_STRUCT(ism_peer_info, 160, 128);
OUT_STRUCT(ism_region_entry, 144, 112);
OUT_STRUCT(ism_ref_entry, 56, 24);
OUT_STRUCT(ism_stream_info, 128, 96);
OUT_STRUCT(ism_region_info, 112, 80);
OUT_STRUCT(ism_ivshmem_domain, 128, 96);
OUT_STRUCT(ism_ivshmem_peer, 56, 24);
OUT_STRUCT(ism_ivshmem_layout, 56, 24);
/* New in 0.2 (no 0.1 part: the "0.1" size is where the tail starts). */
OUT_STRUCT(ism_window_mapping, 88, 56);
OUT_STRUCT(ism_pool_stats, 64, 32);
OUT_STRUCT(ism_vhost_handshake, 2104, 2072);
OUT_STRUCT(ism_vhost_be_state, 56, 24);

/* Options: size first; the first version (what libism requires at least)
 * and today's size. */
#define OPTS_STRUCT(type, last, ver0, bytes)                                   \
	_Static_assert(offsetof(struct type, size) == 0,                       \
		       #type ": size first");                                  \
	_Static_assert(!LP64 || ISM_OPTS_SIZE_VER0(struct type, last) ==       \
					(ver0),                                \
		       #type ": first version changed");                       \
	_Static_assert(!LP64 || sizeof(struct type) == (bytes),                \
		       #type ": size changed")

OPTS_STRUCT(ism_conn_opts, reconnect_ms, 24, 24);
OPTS_STRUCT(ism_alloc_opts, link_fd, 52, 56);
OPTS_STRUCT(ism_chan_opts, name, 32, 32);
OPTS_STRUCT(ism_chan_place, len, 40, 40);
OPTS_STRUCT(ism_stream_opts, name, 32, 32);
OPTS_STRUCT(ism_window_opts, max_maps, 20, 24);
OPTS_STRUCT(ism_window_grant, max_maps, 44, 48);
OPTS_STRUCT(ism_pool_opts, max_buffers, 12, 12);
OPTS_STRUCT(ism_vhost_fe_opts, protocol_features, 16, 16);
OPTS_STRUCT(ism_vhost_be_dev, shmem_size, 32, 32);

/* Fixed forever: in structs above and on the wire. */
_Static_assert(sizeof(struct ism_token) == 16, "token");
_Static_assert(sizeof(struct ism_host_id) == 16, "host id");
_Static_assert(sizeof(struct ism_stream_addr) == 24, "stream address");

/* The flags kept the values the 0.1 ISM_MSG_* names had. */
_Static_assert(ISM_F_DONTWAIT == 0x1 && ISM_F_MORE == 0x2 &&
		       ISM_F_WAITALL == 0x4,
	       "I/O flag values");

/* Each options struct as libism takes it (ism_opts_copy()): the first
 * version and today's accepted, .size 0 refused, a newer caller's
 * non-zero unknown field refused. */
#define OPTS_RULES(type, last)                                                 \
	do {                                                                   \
		struct {                                                       \
			struct type o;                                         \
			uint64_t newer;                                        \
		} in = { .o = { .size = 0 } };                                 \
		struct type out;                                               \
		size_t ver0 = ISM_OPTS_SIZE_VER0(struct type, last);           \
                                                                               \
		assert_int_equal(ism_opts_copy(&out, sizeof(out), ver0, &in),  \
				 -EINVAL);                                     \
		in.o.size = (uint32_t)ver0;                                    \
		assert_int_equal(ism_opts_copy(&out, sizeof(out), ver0, &in),  \
				 0);                                           \
		in.o.size = sizeof(in.o);                                      \
		assert_int_equal(ism_opts_copy(&out, sizeof(out), ver0, &in),  \
				 0);                                           \
		in.o.size = sizeof(in);                                        \
		assert_int_equal(ism_opts_copy(&out, sizeof(out), ver0, &in),  \
				 0);                                           \
		in.newer = 1;                                                  \
		assert_int_equal(ism_opts_copy(&out, sizeof(out), ver0, &in),  \
				 -E2BIG);                                      \
	} while (0)

static void test_opts(void **state)
{
	(void)state;
	OPTS_RULES(ism_conn_opts, reconnect_ms);
	OPTS_RULES(ism_alloc_opts, link_fd);
	OPTS_RULES(ism_chan_opts, name);
	OPTS_RULES(ism_chan_place, len);
	OPTS_RULES(ism_stream_opts, name);
	OPTS_RULES(ism_window_opts, max_maps);
	OPTS_RULES(ism_window_grant, max_maps);
	OPTS_RULES(ism_pool_opts, max_buffers);
	OPTS_RULES(ism_vhost_fe_opts, protocol_features);
	OPTS_RULES(ism_vhost_be_dev, shmem_size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
