/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the vfio-user server as a client would: a live device (registers
 * with a DMA engine in BAR0, memory in BAR1, MSI-X in BAR3, an I/O BAR),
 * a VERSION, then the input as the rest of the byte stream on its socket,
 * then the end of it.  Every handler, the config space, the MSI-X table,
 * DMA windows and DMA messages (whose replies the input may carry) run
 * on hostile bytes.  Checked: no crash or leak (the sanitizers), the
 * caps on windows hold, and the client is dropped with everything it
 * held once the stream ends.
 */
#include "vfio_user.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t dmabuf[1 << 16];
static uint64_t dma_addr;
static uint32_t dma_len;

static int bar0(void *priv, uint32_t index, uint64_t off, void *buf,
		uint32_t count, int is_write)
{
	struct ism_vfu_dev **d = priv;
	uint32_t v = 0;

	(void)index;
	if (!is_write) {
		memset(buf, 0x11, count);
		return 0;
	}
	memcpy(&v, buf, count < 4 ? count : 4);
	switch (off) {
	case 0: dma_addr = v; break;
	case 4: dma_len = v % sizeof(dmabuf); break;
	case 8: ism_vfu_dma_read(*d, dma_addr, dmabuf, dma_len); break;
	case 12: ism_vfu_dma_write(*d, dma_addr, dmabuf, dma_len); break;
	case 16: ism_vfu_irq_trigger(*d, v >> 16, v & 0xffff); break;
	default: return -EINVAL;
	}
	return 0;
}

static int plain(void *priv, uint32_t index, uint64_t off, void *buf,
		 uint32_t count, int is_write)
{
	(void)priv;
	(void)index;
	(void)off;
	if (!is_write)
		memset(buf, 0x22, count);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ism_vfu_dev *d;
	struct ism_vfu_dev_opts o = {
		.size = sizeof(o),
		.flags = ISM_VFU_DEV_PCIE | ISM_VFU_DEV_NO_TWIN,
		.vendor_id = 0x1af4,
		.device_id = 0x10ff,
		.n_intx = 1,
		.n_msi = 2,
		.n_msix = 8,
		.msix_bar = 3,
		.msix_table_offset = 0,
		.msix_pba_offset = 2048,
		.max_dma_maps = 16,
		.max_data_xfer = 65536,
		.dma_timeout_ms = 1,
		.priv = &d,
	};
	static const struct ism_vfu_area areas[] = { { 4096, 4096 } };
	struct ism_vfu_region r0 = { .size = sizeof(r0),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = 4096,
				     .access = bar0,
				     .fd = -1 };
	struct ism_vfu_region r1 = { .size = sizeof(r1),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE |
					      ISM_VFU_REGION_MEM64,
				     .len = 16384,
				     .n_areas = 1,
				     .areas = areas };
	struct ism_vfu_region r3 = { .size = sizeof(r3),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = 4096,
				     .access = plain,
				     .fd = -1 };
	struct ism_vfu_region r4 = { .size = sizeof(r4),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE |
					      ISM_VFU_REGION_IO,
				     .len = 32,
				     .access = plain,
				     .fd = -1 };
	struct vfu_msg v = { .h = { .cmd = VFU_VERSION } };
	uint8_t version[256];
	ssize_t vlen;
	struct ism_vfu_dev_stats st;
	uint8_t sink[65536];
	size_t off = 0;
	int sv[2], mfd, r = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		abort();
	mfd = memfd_create("bar1", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, 16384) < 0)
		abort();
	r1.fd = mfd;
	if (ism_vfu_dev_create(&o, &d) || ism_vfu_dev_set_region(d, 0, &r0) ||
	    ism_vfu_dev_set_region(d, 1, &r1) ||
	    ism_vfu_dev_set_region(d, 3, &r3) ||
	    ism_vfu_dev_set_region(d, 4, &r4) ||
	    ism_vfu_dev_attach_fd(d, sv[0]))
		abort();
	close(mfd);
	/* VERSION, write_multiple on: the rest is the input's. */
	v.u.version.has_json = true;
	v.u.version.caps.present =
		VFU_CAP_OBJECT | VFU_CAP_WRITE_MULTI | VFU_CAP_MAX_XFER;
	v.u.version.caps.write_multiple = true;
	v.u.version.caps.max_data_xfer = 4096;
	vlen = vfu_msg_encode(&v, version, sizeof(version));
	if (vlen < 0 || write(sv[1], version, (size_t)vlen) != vlen)
		abort();
	for (int round = 0; round < 10000 && r != -ENOTCONN; round++) {
		ssize_t n;

		if (off < size) {
			n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(sv[1], SHUT_WR);
		} else if (!size) {
			shutdown(sv[1], SHUT_WR);
		}
		r = ism_vfu_dev_process(d);
		while ((n = read(sv[1], sink, sizeof(sink))) > 0)
			;
		ism_vfu_dev_stats(d, &st);
		if (st.windows > 16)
			abort();
	}
	if (r != -ENOTCONN)
		abort(); /* the end of the stream must end the client */
	ism_vfu_dev_stats(d, &st);
	if (st.windows || st.windows_mapped || st.mapped_bytes)
		abort();
	ism_vfu_dev_destroy(d);
	close(sv[1]);
	return 0;
}
