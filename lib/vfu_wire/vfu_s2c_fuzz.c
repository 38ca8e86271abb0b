/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what a server sends a client: the reply to every command (plain
 * and error replies) and the server's DMA_READ/WRITE commands, with 0-3
 * fds.  Input: one control byte (command index, fds), then the message.
 */
#include "vfu_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t cmds[] = {
	VFU_VERSION,	    VFU_DMA_MAP,	 VFU_DMA_UNMAP,
	VFU_GET_INFO,	    VFU_GET_REGION_INFO, VFU_GET_REGION_IO_FDS,
	VFU_GET_IRQ_INFO,   VFU_SET_IRQS,	 VFU_REGION_READ,
	VFU_REGION_WRITE,   VFU_DEVICE_RESET,	 VFU_REGION_WRITE_MULTI,
	VFU_DEVICE_FEATURE, VFU_MIG_DATA_READ,	 VFU_MIG_DATA_WRITE,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	if (ctl & 0x80) /* a command: DMA_READ or DMA_WRITE */
		vfu_fuzz_message((ctl & 1) ? VFU_DMA_WRITE : VFU_DMA_READ,
				 VFU_F_COMMAND, data, size, 0);
	else
		vfu_fuzz_message(
			cmds[(ctl & 0x1f) % (sizeof(cmds) / sizeof(cmds[0]))],
			VFU_F_REPLY, data, size, (ctl >> 5) & 3);
	return 0;
}
