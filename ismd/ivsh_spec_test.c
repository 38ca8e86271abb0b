/* SPDX-License-Identifier: MIT */
/*
 * The --ivshmem option parser: what it accepts, its defaults, and a
 * one-line reason for everything it refuses.
 */
#include "ismd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

static struct ivsh_spec s;
static char err[160];

static int parse(const char *arg)
{
	err[0] = '\0';
	return ivsh_parse(arg, &s, err, sizeof(err));
}

static void test_minimal(void **state)
{
	(void)state;
	assert_int_equal(parse("/run/ism/vm.sock,size=4M"), 0);
	assert_string_equal(s.path, "/run/ism/vm.sock");
	assert_int_equal(s.size, 4u << 20);
	assert_int_equal(s.vectors, 1);
	assert_int_equal(s.max_peers, IVSH_DEFAULT_PEERS);
	assert_string_equal(s.name, "vm.sock"); /* the socket's file name */
	assert_false(s.v2);
	assert_int_equal(s.output, 0);
	assert_int_equal(s.n_uids, 0);
}

static void test_everything(void **state)
{
	(void)state;
	assert_int_equal(parse("x.sock,size=1G,vectors=64,name=net,peers=256,"
			       "uid=1000,uid=1001,layout=v2,output=8K"),
			 0);
	assert_int_equal(s.size, 1u << 30);
	assert_int_equal(s.vectors, 64);
	assert_string_equal(s.name, "net");
	assert_int_equal(s.max_peers, 256);
	assert_int_equal(s.n_uids, 2);
	assert_int_equal(s.uids[1], 1001);
	assert_true(s.v2);
	assert_int_equal(s.output, 8192);
	/* v2 alone gets the default output section. */
	assert_int_equal(parse("x.sock,size=64K,layout=v2"), 0);
	assert_int_equal(s.output, 65536);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",		  /* no path */
		"size=4M",	  /* no path first */
		"x.sock",	  /* no size */
		"x.sock,size=3M", /* not a power of two */
		"x.sock,size=2K", /* too small */
		"x.sock,size=2T", /* too large */
		"x.sock,size=4M,vectors=0",
		"x.sock,size=4M,vectors=65",
		"x.sock,size=4M,peers=1",
		"x.sock,size=4M,peers=257",
		"x.sock,size=4M,uid=abc",
		"x.sock,size=4M,layout=v3",
		"x.sock,size=4M,output=4K", /* output without v2 */
		"x.sock,size=4M,layout=v2,output=5000",
		"x.sock,size=4M,name=",
		"x.sock,size=4M,bogus=1",
		"x.sock,size=4M,novalue",
		"x.sock,size=4M,channels=yes",
		/* channels: 68K per peer at least (32 peers by default) */
		"x.sock,size=1M,channels=on",
		"x.sock,size=64K,peers=2,channels=on",
		/* control: on or off, and only with channels */
		"x.sock,size=4M,control=on",
		"x.sock,size=4M,channels=on,control=1",
		"x.sock,size=4M,channels=on,control=on,guest_uid=x",
		"x.sock,size=4M,channels=on,guest_uid=-1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i]);

		if (r == 0)
			fail_msg("accepted: '%s'", bad[i]);
		assert_true(r < 0);
		/* A reason, on one line. */
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
	/* Nine uid= keys: at most eight. */
	assert_true(parse("x.sock,size=4M,uid=1,uid=2,uid=3,uid=4,uid=5,"
			  "uid=6,uid=7,uid=8,uid=9") < 0);
	/* A path too long for a socket address. */
	{
		char arg[256];

		memset(arg, 'a', 120);
		strcpy(arg + 120, ",size=4M");
		assert_int_equal(parse(arg), -ENAMETOOLONG);
	}
	/* An option string too long to be one. */
	{
		char arg[600];

		memset(arg, 'a', sizeof(arg) - 1);
		arg[sizeof(arg) - 1] = '\0';
		assert_true(parse(arg) < 0);
	}
}

static void test_channels(void **state)
{
	(void)state;
	assert_int_equal(parse("x.sock,size=4M"), 0);
	assert_false(s.chan);
	assert_int_equal(parse("x.sock,size=4M,channels=on"), 0);
	assert_true(s.chan);
	assert_int_equal(parse("x.sock,size=1M,peers=8,channels=on"), 0);
	assert_true(s.chan);
	assert_int_equal(parse("x.sock,size=4M,channels=off"), 0);
	assert_false(s.chan);
	assert_int_equal(parse("x.sock,size=4M,layout=v2,channels=on"), 0);
	assert_true(s.chan && s.v2);
}

static void test_control(void **state)
{
	(void)state;
	assert_int_equal(parse("x.sock,size=4M,channels=on"), 0);
	assert_false(s.control);
	assert_int_equal(s.guest_uid, IVSH_GUEST_UID);
	assert_int_equal(parse("x.sock,size=4M,channels=on,control=on"), 0);
	assert_true(s.control);
	assert_int_equal(s.guest_uid, 65534);
	assert_int_equal(
		parse("x.sock,size=4M,channels=on,control=on,guest_uid=1234"),
		0);
	assert_true(s.control);
	assert_int_equal(s.guest_uid, 1234);
	assert_int_equal(parse("x.sock,size=4M,channels=on,control=off"), 0);
	assert_false(s.control);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
