/* SPDX-License-Identifier: MIT */
/* BLAKE2s against RFC 7693's vectors. */
#include "blake2s.h"
#include "util/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void hex_is(const uint8_t *got, size_t n, const char *want)
{
	char s[65];

	ism_hex_encode(got, n, s);
	assert_string_equal(s, want);
}

static void test_abc(void **state)
{
	uint8_t out[32];

	(void)state;
	/* RFC 7693, Appendix B. */
	assert_int_equal(ism_blake2s(out, 32, NULL, 0, "abc", 3), 0);
	hex_is(out, 32,
	       "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c8667598"
	       "2");
}

static void test_keyed_empty(void **state)
{
	uint8_t key[32], out[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	/* The reference implementation's keyed test vector, input empty. */
	assert_int_equal(ism_blake2s(out, 32, key, 32, "", 0), 0);
	hex_is(out, 32,
	       "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c4"
	       "9");
}

static void seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t t, a = 0xdead4bad * seed, b = 1;

	for (size_t i = 0; i < len; i++) {
		t = a + b;
		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

/* RFC 7693, Appendix E: the self-test over many lengths and keys. */
static void test_selftest(void **state)
{
	static const size_t md[4] = { 16, 20, 28, 32 };
	static const size_t il[6] = { 0, 3, 64, 65, 255, 1024 };
	uint8_t in[1024], key[32], h[32], out[32];
	struct ism_blake2s c;

	(void)state;
	assert_int_equal(ism_blake2s_init(&c, 32, NULL, 0), 0);
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 6; j++) {
			seq(in, il[j], (uint32_t)il[j]);
			ism_blake2s(h, md[i], NULL, 0, in, il[j]);
			ism_blake2s_update(&c, h, md[i]);
			seq(key, md[i], (uint32_t)md[i]);
			ism_blake2s(h, md[i], key, md[i], in, il[j]);
			ism_blake2s_update(&c, h, md[i]);
		}
	}
	ism_blake2s_final(&c, out);
	hex_is(out, 32,
	       "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1df"
	       "e");
}

static void test_streaming_equals_oneshot(void **state)
{
	uint8_t in[300], a[16], b[16];
	struct ism_blake2s c;

	(void)state;
	seq(in, sizeof(in), 7);
	ism_blake2s(a, 16, "k", 1, in, sizeof(in));
	ism_blake2s_init(&c, 16, "k", 1);
	for (size_t i = 0; i < sizeof(in); i += 7)
		ism_blake2s_update(&c, in + i, ISM_MIN(7, sizeof(in) - i));
	ism_blake2s_final(&c, b);
	assert_memory_equal(a, b, 16);
	assert_int_equal(ism_blake2s_init(&c, 0, NULL, 0), -22);
	assert_int_equal(ism_blake2s_init(&c, 33, NULL, 0), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_keyed_empty),
		cmocka_unit_test(test_selftest),
		cmocka_unit_test(test_streaming_equals_oneshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
