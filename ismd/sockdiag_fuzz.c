/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the sock_diag reply decoder: any datagram on ismd's netlink
 * socket.  The input is the sequence number (4 bytes) and the cookie
 * (8 bytes) asked about, host-endian, then the datagram, so answers for
 * the request in flight are reachable.  The seeds (fuzz/corpus/sockdiag)
 * are this prefix and replies captured from Linux 6.18: the socket, ENOENT,
 * and a late ENOENT before the socket in one datagram.  The verdict must
 * be one the contract allows, and a "yes" must name the cookie asked
 * about.
 */
#include "sockdiag.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t cookie;
	uint32_t seq;
	uint8_t *copy;
	int r;

	if (size < 12)
		return 0;
	memcpy(&seq, data, 4);
	memcpy(&cookie, data + 4, 8);
	/* A heap copy of exactly the datagram, so ASan sees any overread. */
	size -= 12;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 12, size);
	r = sockdiag_parse_reply(copy, size, seq, cookie);
	if (r > 1 || r < -4095)
		abort();
	if (r == 1) {
		uint32_t lo = (uint32_t)cookie, hi = (uint32_t)(cookie >> 32);
		bool found = false;

		for (size_t i = 0; i + 8 <= size && !found; i++)
			found = !memcmp(copy + i, &lo, 4) &&
				!memcmp(copy + i + 4, &hi, 4);
		if (!found)
			abort();
	}
	free(copy);
	return 0;
}
