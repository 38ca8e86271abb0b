/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the ctnetlink reply decoder: any datagram on a ct_lookup() socket.
 * The input starts with the question asked, 41 bytes, host-endian: the
 * sequence number (4), a family byte (0: AF_INET, else AF_INET6), the
 * source and destination ports (2 + 2), the source and destination
 * addresses (16 + 16; IPv4 in the first 4), so answers that match the
 * request in flight are reachable; then the datagram.  The seeds
 * (fuzz/corpus/conntrack) are this prefix and answers captured from Linux
 * 6.18: a DNATed IPv4 entry, an IPv6 one, ENOENT.  The verdict must be
 * one the contract allows, and a decoded reply must be of the question's
 * family with its addresses taken from the datagram.
 */
#include "conntrack.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PREFIX 41

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Do the @n bytes at @needle occur in the @len bytes at @hay? */
static int occurs(const uint8_t *hay, size_t len, const uint8_t *needle,
		  size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(hay + i, needle, n))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_tuple orig = { 0 }, reply, before;
	uint16_t family;
	uint32_t seq;
	uint8_t *copy;
	size_t alen;
	int r;

	if (size < PREFIX)
		return 0;
	family = data[4] ? AF_INET6 : AF_INET;
	alen = family == AF_INET ? 4 : 16;
	memcpy(&seq, data, 4);
	orig.src.family = orig.dst.family = family;
	memcpy(&orig.src.port, data + 5, 2);
	memcpy(&orig.dst.port, data + 7, 2);
	memcpy(orig.src.addr, data + 9, alen);
	memcpy(orig.dst.addr, data + 25, alen);
	/* A heap copy of exactly the datagram, so ASan sees any overread. */
	size -= PREFIX;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + PREFIX, size);
	memset(&reply, 0x5a, sizeof(reply));
	before = reply;
	r = ct_parse_reply(copy, size, seq, &orig, &reply);
	if (r > 0 || r < -4095)
		abort();
	if (r < 0 && memcmp(&reply, &before, sizeof(reply)))
		abort(); /* written on failure */
	if (r == 0) {
		/* An IPv4-mapped question is answered as IPv4. */
		uint16_t want = family;
		size_t rlen;

		if (family == AF_INET6 && orig.src.addr[10] == 0xff &&
		    orig.src.addr[11] == 0xff &&
		    !memcmp(orig.src.addr, "\0\0\0\0\0\0\0\0\0\0", 10))
			want = AF_INET;
		rlen = want == AF_INET ? 4 : 16;
		if (reply.src.family != want || reply.dst.family != want ||
		    !occurs(copy, size, reply.src.addr, rlen) ||
		    !occurs(copy, size, reply.dst.addr, rlen))
			abort();
	}
	free(copy);
	return 0;
}
