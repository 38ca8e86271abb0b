/* SPDX-License-Identifier: MIT */
#include "util.h"
#include "map.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(ism_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(ism_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(ism_parse_size("1MiB", &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(ism_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(ism_parse_size("3GB", &v), 0);
	assert_int_equal(v, 3ull << 30);
	assert_int_equal(ism_parse_size("10B", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(ism_parse_size("", &v), -EINVAL);
	assert_int_equal(ism_parse_size("K", &v), -EINVAL);
	assert_int_equal(ism_parse_size("1X", &v), -EINVAL);
	assert_int_equal(ism_parse_size("1KK", &v), -EINVAL);
	assert_int_equal(ism_parse_size("-1", &v), -EINVAL);
	assert_int_equal(ism_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(ism_parse_size("17179869184T", &v), -ERANGE);
}

static void test_parse_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(ism_parse_u64("0x10", 100, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(ism_parse_u64("18446744073709551615", UINT64_MAX, &v),
			 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ism_parse_u64("18446744073709551616", UINT64_MAX, &v),
			 -ERANGE);
	assert_int_equal(ism_parse_u64("101", 100, &v), -ERANGE);
	assert_int_equal(ism_parse_u64("0x", 100, &v), -EINVAL);
	assert_int_equal(ism_parse_u64("12a", 1000, &v), -EINVAL);
}

static void test_hex(void **state)
{
	uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char s[9];

	(void)state;
	ism_hex_encode(in, 4, s);
	assert_string_equal(s, "00ab7fff");
	assert_int_equal(ism_hex_decode("00AB7fff", out, 4), 0);
	assert_memory_equal(in, out, 4);
	assert_int_equal(ism_hex_decode("00ab7ff", out, 4), -EINVAL);
	assert_int_equal(ism_hex_decode("00ab7ffg", out, 4), -EINVAL);
	assert_int_equal(ism_hex_decode("00ab7fff0", out, 4), -EINVAL);
}

static void test_misc(void **state)
{
	uint64_t r;
	char b[8];

	(void)state;
	assert_true(ism_round_up(1, 4096, &r));
	assert_int_equal(r, 4096);
	assert_true(ism_round_up(8192, 4096, &r));
	assert_int_equal(r, 8192);
	assert_false(ism_round_up(UINT64_MAX - 10, 4096, &r));
	assert_true(ism_name_valid("ok name", 7, 63));
	assert_false(ism_name_valid("bad\n", 4, 63));
	assert_false(ism_name_valid("\x80", 1, 63));
	assert_false(ism_name_valid("long", 4, 3));
	assert_true(ism_ct_equal("abc", "abc", 3));
	assert_false(ism_ct_equal("abc", "abd", 3));
	assert_int_equal(ism_strlcpy(b, "truncate me", sizeof(b)), 11);
	assert_string_equal(b, "truncat");
}

/* The map against a plain array model, through random inserts, lookups
 * and deletes (backward-shift deletion is the subtle part). */
static void test_map_model(void **state)
{
	enum { N = 4000 };
	static uint64_t keys[N];
	static char present[N];
	struct ism_map m;
	unsigned seed = 12345;

	(void)state;
	ism_map_init(&m);
	for (int i = 0; i < N; i++)
		keys[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
	for (int step = 0; step < 200000; step++) {
		int i = rand_r(&seed) % N, op = rand_r(&seed) % 3;

		if (op == 0) {
			int r = ism_map_put(&m, keys[i], (uint64_t)i,
					    &present[i]);

			assert_int_equal(r, present[i] ? -EEXIST : 0);
			present[i] = 1;
		} else if (op == 1) {
			void *v = ism_map_del(&m, keys[i], (uint64_t)i);

			assert_ptr_equal(v, present[i] ? &present[i] : NULL);
			present[i] = 0;
		} else {
			void *v = ism_map_get(&m, keys[i], (uint64_t)i);

			assert_ptr_equal(v, present[i] ? &present[i] : NULL);
			/* Same a, other b: must not alias. */
			assert_null(ism_map_get(&m, keys[i], (uint64_t)i + N));
		}
	}
	size_t count = 0, pos = 0;

	while (ism_map_next(&m, &pos, NULL, NULL))
		count++;
	size_t want = 0;

	for (int i = 0; i < N; i++)
		want += present[i];
	assert_int_equal(count, want);
	assert_int_equal(m.count, want);
	ism_map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_map_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
