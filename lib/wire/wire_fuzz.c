/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the header decoder and the cursor primitives on arbitrary
 * bytes.  Nothing may read outside the input, and a decoded header must
 * re-encode to the same bytes.
 */
#include "wire.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ism_wire_hdr h;
	struct ism_rbuf b;
	uint8_t out[ISM_WIRE_HDR_SIZE];
	struct ism_wbuf w;
	char s[64];

	ism_rbuf_init(&b, data, size);
	if (ism_wire_hdr_get(&b, size, &h) == 0) {
		ism_wbuf_init(&w, out, sizeof(out));
		ism_wire_hdr_put(&w, &h);
		if (w.err || memcmp(out, data, sizeof(out)) != 0)
			__builtin_trap();
		if (h.len != size)
			__builtin_trap();
	}
	/* Walk the rest with every primitive, strings included. */
	while (!b.err && ism_rbuf_left(&b)) {
		switch (ism_rbuf_u8(&b) % 6) {
		case 0: ism_rbuf_le16(&b); break;
		case 1: ism_rbuf_le32(&b); break;
		case 2: ism_rbuf_le64(&b); break;
		case 3: ism_rbuf_str(&b, s, sizeof(s), 63); break;
		case 4: ism_rbuf_ptr(&b, ism_rbuf_u8(&b)); break;
		default: ism_rbuf_bytes(&b, s, ism_rbuf_u8(&b) % sizeof(s));
		}
	}
	(void)ism_rbuf_end(&b);
	return 0;
}
