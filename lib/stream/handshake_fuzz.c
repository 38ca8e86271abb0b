/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the stream handshake decoder: any 64 bytes from the other end of a
 * claimed connection.  The first bytes of the input choose the expected
 * kind and the host/peer the decoder checks against, so matching messages
 * are reachable; accepted messages must re-encode to the same bytes.
 */
#include "handshake.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HS_SIZE] = { 0 }, again[HS_SIZE];
	struct ism_host_id host;
	struct hs_msg h;
	uint32_t kind;
	uint64_t peer;

	if (size < 1 + HS_SIZE)
		return 0;
	kind = data[0] & 3; /* 0 is never valid: rejected */
	memcpy(buf, data + 1, HS_SIZE);
	/* Expect whatever host and peer the input carries, half the time. */
	memcpy(host.b, buf + 16, sizeof(host.b));
	memcpy(&peer, buf + 48, sizeof(peer));
	if (data[0] & 4)
		host.b[0] ^= 1;
	if (hs_decode(buf, &h, kind, &host, peer) == 0) {
		hs_encode(again, &h);
		if (memcmp(again, buf, HS_SIZE) != 0)
			abort();
	}
	return 0;
}
