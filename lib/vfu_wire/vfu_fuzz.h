/* SPDX-License-Identifier: MIT */
/*
 * What both vfio-user fuzz targets check: a message the decoder accepts
 * encodes to bytes the decoder accepts again, and encoding is then a
 * fixed point (decode . encode is a projection: nothing the decoder let
 * through is lost or invented on the way back).
 */
#ifndef ISM_VFU_FUZZ_H
#define ISM_VFU_FUZZ_H

#include "vfu_wire.h"

#include <stdlib.h>
#include <string.h>

static uint8_t fuzz_out1[(1u << 20) + 4096], fuzz_out2[(1u << 20) + 4096];

static inline void vfu_fuzz_message(uint16_t cmd, uint32_t flags,
				    const uint8_t *data, size_t size,
				    unsigned nfds)
{
	uint8_t hb[VFU_HDR_SIZE];
	struct vfu_msg m, m2;
	ssize_t n1, n2;

	if (size < VFU_HDR_SIZE || size > (1u << 20))
		return;
	memcpy(hb, data, sizeof(hb));
	/* The direction's command and type, and a size that matches, so
	 * that the payload decoders are reached. */
	hb[2] = (uint8_t)cmd;
	hb[3] = (uint8_t)(cmd >> 8);
	hb[4] = (uint8_t)size;
	hb[5] = (uint8_t)(size >> 8);
	hb[6] = (uint8_t)(size >> 16);
	hb[7] = (uint8_t)(size >> 24);
	hb[8] = (uint8_t)((hb[8] & ~VFU_F_TYPE_MASK) | flags);
	if (vfu_hdr_get(hb, &m.h) < 0)
		return;
	if (vfu_msg_decode(&m, data + VFU_HDR_SIZE, size - VFU_HDR_SIZE, nfds) <
	    0)
		return;
	n1 = vfu_msg_encode(&m, fuzz_out1, sizeof(fuzz_out1));
	if (n1 < (ssize_t)VFU_HDR_SIZE)
		abort();
	if (vfu_hdr_get(fuzz_out1, &m2.h) < 0 || m2.h.size != (uint32_t)n1)
		abort();
	if (vfu_msg_decode(&m2, fuzz_out1 + VFU_HDR_SIZE,
			   (size_t)n1 - VFU_HDR_SIZE, nfds) < 0)
		abort();
	n2 = vfu_msg_encode(&m2, fuzz_out2, sizeof(fuzz_out2));
	if (n2 != n1 || memcmp(fuzz_out1, fuzz_out2, (size_t)n1))
		abort();
}

#endif
