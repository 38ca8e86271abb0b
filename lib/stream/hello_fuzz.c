/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the stream hello decoder: any 64 bytes from the other end of a
 * claimed connection.  The first bytes of the input choose the expected
 * kind and the host/peer the decoder checks against, so matching hellos
 * are reachable; accepted hellos must re-encode to the same bytes.
 */
#include "hello.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HELLO_SIZE] = { 0 }, again[HELLO_SIZE];
	struct ism_host_id host;
	struct hello h;
	uint32_t kind;
	uint64_t peer;

	if (size < 1 + HELLO_SIZE)
		return 0;
	kind = data[0] & 3; /* 0 is never valid: rejected */
	memcpy(buf, data + 1, HELLO_SIZE);
	/* Expect whatever host and peer the input carries, half the time. */
	memcpy(host.b, buf + 16, sizeof(host.b));
	memcpy(&peer, buf + 48, sizeof(peer));
	if (data[0] & 4)
		host.b[0] ^= 1;
	if (hello_decode(buf, &h, kind, &host, peer) == 0) {
		hello_encode(again, &h);
		if (memcmp(again, buf, HELLO_SIZE) != 0)
			abort();
	}
	return 0;
}
