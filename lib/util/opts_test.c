/* SPDX-License-Identifier: MIT */
/*
 * ism_opts_copy(): the openat2(2) rule for size-versioned options, seen
 * from three versions of one struct: v1 (ours' first version), v2 (ours)
 * and v3 (a newer caller's).
 */
#include "util.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

struct v1 {
	uint32_t size;
	uint32_t flags;
	uint64_t a;
};

struct v2 {
	uint32_t size;
	uint32_t flags;
	uint64_t a;
	uint32_t b;
	uint32_t c;
};

struct v3 {
	uint32_t size;
	uint32_t flags;
	uint64_t a;
	uint32_t b;
	uint32_t c;
	uint64_t d;
	uint8_t e[40];
};

#define MIN ISM_OPTS_SIZE_VER0(struct v2, a)

/* What a failed copy must leave: nothing of the caller's. */
static void assert_zero(const struct v2 *o)
{
	static const struct v2 zero;

	assert_memory_equal(o, &zero, sizeof(zero));
}

static void test_null_is_defaults(void **state)
{
	struct v2 o;

	(void)state;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, NULL), 0);
	assert_int_equal(o.size, sizeof(o));
	assert_int_equal(o.flags, 0);
	assert_int_equal(o.a, 0);
	assert_int_equal(o.b, 0);
	assert_int_equal(o.c, 0);
}

static void test_too_small(void **state)
{
	struct v2 in = { .flags = 1, .a = 2 }, o;

	(void)state;
	assert_int_equal(MIN, sizeof(struct v1));
	/* .size 0: a caller that forgot it, not a request for defaults. */
	for (uint32_t size = 0; size < MIN; size++) {
		in.size = size;
		memset(&o, 0xa5, sizeof(o));
		assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in),
				 -EINVAL);
		assert_zero(&o);
	}
}

static void test_older_caller(void **state)
{
	struct v1 in = { .size = sizeof(in), .flags = 3, .a = 7 };
	struct v2 o;

	(void)state;
	memset(&o, 0xa5, sizeof(o));
	assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in), 0);
	assert_int_equal(o.size, sizeof(o));
	assert_int_equal(o.flags, 3);
	assert_int_equal(o.a, 7);
	/* What v1 does not have: the defaults. */
	assert_int_equal(o.b, 0);
	assert_int_equal(o.c, 0);
}

static void test_same_version(void **state)
{
	struct v2 in = {
		.size = sizeof(in), .flags = 1, .a = 2, .b = 3, .c = 0x01020304
	};
	struct v2 o;

	(void)state;
	assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in), 0);
	in.size = sizeof(o);
	assert_memory_equal(&o, &in, sizeof(o));
	/* Between versions (a field cut short): copied as far as given. */
	in.size = sizeof(struct v2) - 2;
	assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in), 0);
	assert_int_equal(o.size, sizeof(o));
	assert_memory_equal((uint8_t *)&o + 4, (uint8_t *)&in + 4,
			    sizeof(o) - 6);
	assert_int_equal(((uint8_t *)&o)[sizeof(o) - 2], 0);
	assert_int_equal(((uint8_t *)&o)[sizeof(o) - 1], 0);
}

static void test_newer_caller_zero_tail(void **state)
{
	struct v3 in = {
		.size = sizeof(in), .flags = 1, .a = 2, .b = 3, .c = 4
	};
	struct v2 o;

	(void)state;
	assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in), 0);
	assert_int_equal(o.size, sizeof(o));
	assert_int_equal(o.flags, 1);
	assert_int_equal(o.a, 2);
	assert_int_equal(o.b, 3);
	assert_int_equal(o.c, 4);
}

static void test_newer_caller_nonzero_tail(void **state)
{
	struct v2 o;

	(void)state;
	/* Any one non-zero byte past ours, wherever it is, refuses. */
	for (size_t i = sizeof(struct v2); i < sizeof(struct v3); i++) {
		struct v3 in = { .size = sizeof(in), .flags = 1, .a = 2 };

		((uint8_t *)&in)[i] = 1;
		memset(&o, 0xa5, sizeof(o));
		assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in),
				 -E2BIG);
		assert_zero(&o);
		/* ... unless the caller's size stops before it. */
		in.size = (uint32_t)i;
		assert_int_equal(ism_opts_copy(&o, sizeof(o), MIN, &in), 0);
		assert_int_equal(o.a, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_is_defaults),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_older_caller),
		cmocka_unit_test(test_same_version),
		cmocka_unit_test(test_newer_caller_zero_tail),
		cmocka_unit_test(test_newer_caller_nonzero_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
