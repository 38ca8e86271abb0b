/* SPDX-License-Identifier: MIT */
/*
 * The stream handshake messages: golden layout, a round trip, and every refusal -
 * magic, version, kind, reserved bytes, a status beyond the known
 * reasons, another host, another peer.
 */
#include "handshake.h"

#include <ism/stream.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static const struct ism_host_id host = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
					   12, 13, 14, 15, 16 } };

static void encode(uint8_t *b, uint32_t kind, uint32_t status, uint64_t peer)
{
	struct hs_msg h = { .kind = kind,
			    .status = status,
			    .peer = peer,
			    .ring_size = 1u << 20,
			    .host = host };

	memset(h.token.b, 0xab, sizeof(h.token.b));
	hs_encode(b, &h);
}

static void test_round_trip(void **state)
{
	uint8_t b[HS_SIZE];
	struct hs_msg h;

	(void)state;
	encode(b, HS_OFFER, 0, 42);
	assert_memory_equal(b, "ISMSTRM1\1\0\1\0", 12);
	assert_int_equal(b[48], 42);
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &host, 42), 0);
	assert_int_equal(h.ring_size, 1u << 20);
	assert_int_equal(h.token.b[0], 0xab);
	encode(b, HS_ANSWER, ISM_SR_QUOTA, 7);
	assert_int_equal(hs_decode(b, &h, HS_ANSWER, &host, 7), 0);
	assert_int_equal(h.status, ISM_SR_QUOTA);
}

static void test_refusals(void **state)
{
	uint8_t b[HS_SIZE];
	struct hs_msg h;
	struct ism_host_id other = host;

	(void)state;
	other.b[15] ^= 1;
	encode(b, HS_OFFER, 0, 42);
	assert_int_equal(hs_decode(b, &h, HS_ANSWER, &host, 42), -EPROTO);
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &other, 42), -EPROTO);
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &host, 43), -EPROTO);
	b[0] = 'X'; /* magic */
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &host, 42), -EPROTO);
	encode(b, HS_OFFER, 0, 42);
	b[8] = 2; /* version */
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &host, 42), -EPROTO);
	encode(b, HS_OFFER, 0, 42);
	b[63] = 1; /* reserved */
	assert_int_equal(hs_decode(b, &h, HS_OFFER, &host, 42), -EPROTO);
	encode(b, HS_CONFIRM, ISM_SR_MAX + 1, 42); /* unknown reason */
	assert_int_equal(hs_decode(b, &h, HS_CONFIRM, &host, 42), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
