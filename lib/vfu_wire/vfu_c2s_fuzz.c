/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what a client sends a server: every client->server command and
 * the replies to the server's DMA_READ/WRITE, with 0-3 fds.  Input: one
 * control byte (command index, reply or not, fds), then the message.
 * Also the capabilities JSON alone, which must format and parse back to
 * the same thing.
 */
#include "vfu_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t cmds[] = {
	VFU_VERSION,
	VFU_DMA_MAP,
	VFU_DMA_UNMAP,
	VFU_GET_INFO,
	VFU_GET_REGION_INFO,
	VFU_GET_REGION_IO_FDS,
	VFU_GET_IRQ_INFO,
	VFU_SET_IRQS,
	VFU_REGION_READ,
	VFU_REGION_WRITE,
	VFU_DEVICE_RESET,
	VFU_REGION_WRITE_MULTI,
	VFU_DEVICE_FEATURE,
	VFU_MIG_DATA_READ,
	VFU_MIG_DATA_WRITE,
	14,
	0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	if ((ctl & 0xc0) == 0xc0) {
		struct vfu_caps c, c2;
		char a[VFU_MAX_JSON], b[VFU_MAX_JSON];
		int n;

		if (size > VFU_MAX_JSON)
			return 0;
		if (vfu_caps_parse((const char *)data, size, &c) < 0)
			return 0;
		n = vfu_caps_format(a, sizeof(a), &c);
		if (n < 0 || vfu_caps_parse(a, (size_t)n, &c2) < 0)
			abort();
		if (vfu_caps_format(b, sizeof(b), &c2) != n || strcmp(a, b))
			abort();
		return 0;
	}
	if (ctl & 0x20) /* a reply to DMA_READ or DMA_WRITE */
		vfu_fuzz_message((ctl & 1) ? VFU_DMA_WRITE : VFU_DMA_READ,
				 VFU_F_REPLY, data, size, (ctl >> 2) & 3);
	else
		vfu_fuzz_message(
			cmds[(ctl & 0x1f) % (sizeof(cmds) / sizeof(cmds[0]))],
			VFU_F_COMMAND, data, size, (ctl >> 6) & 1);
	return 0;
}
