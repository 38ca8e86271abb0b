/* SPDX-License-Identifier: MIT */
/*
 * vfio-user end to end, ism's server against ism's client: negotiation
 * and device info, regions (by message, mapped, sparse areas), config
 * space (IDs, BAR and ROM sizing, write masks, capabilities), interrupts
 * (eventfds, masking, pending bits in the PBA, the MSI-X table), DMA with
 * and without fds, with and without a twin socket, through the client's
 * callback, every refusal the API can provoke, reset, features, a busy
 * device, disconnects with state kept, and fd counts over 1000
 * connect/disconnect cycles.  The server runs in a thread here; see
 * test_vfio_user_procs.c for separate processes.
 */
#include "t_daemon.h"
#include "vfu_testdev.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

static char sock[128];

static void set_path(const char *name)
{
	snprintf(sock, sizeof(sock), "%s/vfu-%d-%s.sock", t_tmpdir(),
		 (int)getpid(), name);
}

static struct ism_vfu_client *
connect_c(uint32_t flags, uint32_t xfer,
	  int (*dma)(void *, uint64_t, void *, size_t, int), void *priv)
{
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .flags = flags,
					 .max_data_xfer = xfer,
					 .timeout_ms = 20000,
					 .dma = dma,
					 .priv = priv };
	struct ism_vfu_client *c = NULL;

	assert_int_equal(ism_vfu_client_connect(sock, &o, &c), 0);
	return c;
}

static uint32_t rd32(struct ism_vfu_client *c, uint32_t idx, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	assert_int_equal(ism_vfu_client_region_read(c, idx, off, &v, 4), 4);
	return v;
}

static void wr32(struct ism_vfu_client *c, uint32_t idx, uint64_t off,
		 uint32_t v)
{
	assert_int_equal(ism_vfu_client_region_write(c, idx, off, &v, 4), 4);
}

static void test_info(void **state)
{
	struct ism_vfu_client_info ci;
	struct ism_vfu_region_info ri;
	struct ism_vfu_irq_info ii;
	struct ism_vfu_client *c;
	struct tdev t;

	(void)state;
	set_path("info");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	memset(&ci, 0xa5, sizeof(ci));
	assert_int_equal(ism_vfu_client_info(c, &ci), 0);
	assert_int_equal(ci.major, 0);
	assert_int_equal(ci.num_regions, 9);
	assert_int_equal(ci.num_irqs, 5);
	assert_int_equal(ci.flags,
			 ISM_VFU_DEVICE_FLAGS_RESET | ISM_VFU_DEVICE_FLAGS_PCI);
	assert_int_equal(ci.max_msg_fds, 16);
	assert_int_equal(ci.max_data_xfer, 1 << 20);
	assert_int_equal(ci.twin, 1);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ci.reserved[i], 0);

	assert_int_equal(ism_vfu_client_region_info(c, 0, &ri), 0);
	assert_int_equal(ri.len, 4096);
	assert_int_equal(ri.flags,
			 ISM_VFU_REGION_INFO_READ | ISM_VFU_REGION_INFO_WRITE);
	assert_false(ri.mappable);
	/* BAR1: mappable in two areas (the argsz retry happened). */
	assert_int_equal(ism_vfu_client_region_info(c, 1, &ri), 0);
	assert_int_equal(ri.len, TDEV_BAR1);
	assert_true(ri.flags & ISM_VFU_REGION_INFO_MMAP);
	assert_true(ri.flags & ISM_VFU_REGION_INFO_CAPS);
	assert_true(ri.mappable);
	assert_int_equal(ri.n_areas, 2);
	assert_int_equal(ri.areas[1].offset, 32768);
	assert_int_equal(ri.areas[1].len, 16384);
	/* BAR2 (BAR1's upper half), BAR5 and VGA: nothing. */
	assert_int_equal(ism_vfu_client_region_info(c, 2, &ri), 0);
	assert_int_equal(ri.len, 0);
	assert_int_equal(ism_vfu_client_region_info(c, 5, &ri), 0);
	assert_int_equal(ri.len, 0);
	assert_int_equal(ism_vfu_client_region_info(c, ISM_VFU_VGA, &ri), 0);
	assert_int_equal(ri.len, 0);
	assert_int_equal(ism_vfu_client_region_info(c, ISM_VFU_CONFIG, &ri), 0);
	assert_int_equal(ri.len, 4096); /* PCIe */
	assert_int_equal(ism_vfu_client_region_info(c, ISM_VFU_ROM, &ri), 0);
	assert_int_equal(ri.flags, ISM_VFU_REGION_INFO_READ);
	assert_int_equal(ism_vfu_client_region_info(c, 9, &ri), -EINVAL);

	assert_int_equal(ism_vfu_client_irq_info(c, ISM_VFU_IRQ_MSIX, &ii), 0);
	assert_int_equal(ii.count, 4);
	assert_true(ii.flags & ISM_VFU_IRQ_INFO_EVENTFD);
	assert_int_equal(ism_vfu_client_irq_info(c, ISM_VFU_IRQ_INTX, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ism_vfu_client_irq_info(c, ISM_VFU_IRQ_ERR, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ism_vfu_client_irq_info(c, 5, &ii), -EINVAL);
	/* No ioeventfds. */
	assert_int_equal(ism_vfu_client_region_io_fds(c, 0, NULL, 0), 0);
	assert_int_equal(ism_vfu_client_region_io_fds(c, 12, NULL, 0), -EINVAL);
	ism_vfu_client_close(c);
	tdev_stop(&t);
}

static void test_regions(void **state)
{
	struct ism_vfu_client *c;
	uint8_t b[64], *bar1;
	struct tdev t;
	void *p;

	(void)state;
	set_path("regions");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	wr32(c, 0, R_SCRATCH, 0x12345678);
	assert_int_equal(rd32(c, 0, R_SCRATCH), 0x12345678);
	/* The device's own refusal comes back as the error. */
	assert_int_equal(ism_vfu_client_region_read(c, 0, 2, b, 4), -EINVAL);
	/* Out of range, a region without reads or writes, no region. */
	assert_int_equal(ism_vfu_client_region_read(c, 0, 4094, b, 4), -EINVAL);
	assert_int_equal(ism_vfu_client_region_write(c, ISM_VFU_ROM, 0, b, 4),
			 -EINVAL);
	assert_int_equal(ism_vfu_client_region_read(c, 5, 0, b, 4), -EINVAL);
	assert_int_equal(ism_vfu_client_region_read(c, 40, 0, b, 4), -EINVAL);
	/* I/O BAR: 1, 2 and 4 bytes only. */
	assert_int_equal(ism_vfu_client_region_write(c, 4, 2, "ab", 2), 2);
	assert_int_equal(ism_vfu_client_region_read(c, 4, 2, b, 2), 2);
	assert_memory_equal(b, "ab", 2);
	assert_int_equal(ism_vfu_client_region_read(c, 4, 0, b, 8), -EINVAL);
	assert_int_equal(ism_vfu_client_region_read(c, 4, 0, b, 3), -EINVAL);
	/* The ROM. */
	assert_int_equal(ism_vfu_client_region_read(c, ISM_VFU_ROM, 16, b, 4),
			 4);
	assert_int_equal(b[3], 19);

	/* BAR1: the mapping and the messages see the same memory. */
	assert_int_equal(ism_vfu_client_region_map(c, 1, &p), 0);
	bar1 = p;
	memcpy(bar1 + 100, "mapped", 6);
	assert_int_equal(ism_vfu_client_region_read(c, 1, 100, b, 6), 6);
	assert_memory_equal(b, "mapped", 6);
	assert_int_equal(ism_vfu_client_region_write(c, 1, 32768 + 8, "msg", 3),
			 3);
	assert_memory_equal(bar1 + 32768 + 8, "msg", 3);
	/* The hole between the areas: by message only. */
	assert_int_equal(ism_vfu_client_region_write(c, 1, 20000, "hole", 4),
			 4);
	assert_int_equal(ism_vfu_client_region_read(c, 1, 20000, b, 4), 4);
	assert_memory_equal(b, "hole", 4);
	assert_int_equal(ism_vfu_client_region_map(c, 1, &p), 0);
	assert_ptr_equal(p, bar1);
	assert_int_equal(ism_vfu_client_region_unmap(c, 1), 0);
	assert_int_equal(ism_vfu_client_region_unmap(c, 1), -EINVAL);
	assert_int_equal(ism_vfu_client_region_map(c, 0, &p), -EBADF);
	/* A large access is split into the server's chunks. */
	{
		size_t n = TDEV_BAR1;
		uint8_t *big = malloc(n), *back = malloc(n);

		for (size_t i = 0; i < n; i++)
			big[i] = (uint8_t)(i * 13);
		assert_int_equal(ism_vfu_client_region_write(c, 1, 0, big, n),
				 (ssize_t)n);
		assert_int_equal(ism_vfu_client_region_read(c, 1, 0, back, n),
				 (ssize_t)n);
		assert_memory_equal(big, back, n);
		free(big);
		free(back);
	}
	ism_vfu_client_close(c);
	tdev_stop(&t);
}

static void test_config(void **state)
{
	struct ism_vfu_client *c;
	struct tdev t;
	uint32_t v;
	uint8_t cap, id;

	(void)state;
	set_path("config");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0), 0x10ff1af4);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 8), 0x05800001);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x2c), 0x00011af4);
	/* BAR sizing: all ones in, the size mask and type bits out. */
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x10), 0);
	wr32(c, ISM_VFU_CONFIG, 0x10, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x10), 0xfffff000);
	wr32(c, ISM_VFU_CONFIG, 0x10, 0xfe000000);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x10), 0xfe000000);
	/* BAR1: 64-bit, its upper half in BAR2's register... */
	wr32(c, ISM_VFU_CONFIG, 0x14, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x14), 0xffff0004);
	wr32(c, ISM_VFU_CONFIG, 0x18, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x18), 0xffffffff);
	/* BAR3 (8 KiB), BAR4 (16 bytes of I/O), BAR5 (none). */
	wr32(c, ISM_VFU_CONFIG, 0x1c, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x1c), 0xffffe000);
	wr32(c, ISM_VFU_CONFIG, 0x20, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x20), 0xfffffff1);
	wr32(c, ISM_VFU_CONFIG, 0x24, 0xffffffff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x24), 0);
	/* ROM sizing and enable. */
	wr32(c, ISM_VFU_CONFIG, 0x30, 0xfffff7ff);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0x30), 0xfffff001);
	/* Command: only the defined bits; status: W1C. */
	wr32(c, ISM_VFU_CONFIG, 4, 0xffffffff);
	v = rd32(c, ISM_VFU_CONFIG, 4);
	assert_int_equal(v & 0xffff, 0x0547);
	assert_true(v & (0x10u << 16)); /* capability list */
	/* Vendor and device ids are read-only. */
	wr32(c, ISM_VFU_CONFIG, 0, 0);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 0), 0x10ff1af4);
	/* The capability list: MSI-X, MSI, PCIe. */
	assert_int_equal(
		ism_vfu_client_region_read(c, ISM_VFU_CONFIG, 0x34, &cap, 1),
		1);
	assert_int_equal(cap, 0x40);
	assert_int_equal(
		ism_vfu_client_region_read(c, ISM_VFU_CONFIG, cap, &id, 1), 1);
	assert_int_equal(id, 0x11);
	v = rd32(c, ISM_VFU_CONFIG, cap);
	assert_int_equal(v >> 16, 3);			       /* 4 vectors */
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, cap + 4), 3); /* table */
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, cap + 8), 4096 | 3); /* PBA */
	cap = (uint8_t)(v >> 8);
	assert_int_equal(
		ism_vfu_client_region_read(c, ISM_VFU_CONFIG, cap, &id, 1), 1);
	assert_int_equal(id, 0x05);
	cap = (uint8_t)(rd32(c, ISM_VFU_CONFIG, cap) >> 8);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, cap) & 0xff, 0x10);
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, cap) >> 8 & 0xff, 0);
	/* The end of 4 KiB, and past it. */
	assert_int_equal(rd32(c, ISM_VFU_CONFIG, 4092), 0);
	assert_int_equal(
		ism_vfu_client_region_read(c, ISM_VFU_CONFIG, 4094, &v, 4),
		-EINVAL);
	ism_vfu_client_close(c);
	tdev_stop(&t);
}

static bool fired(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, 0) != 1)
		return false;
	assert_int_equal(read(efd, &v, 8), 8);
	return true;
}

static uint32_t pba(struct ism_vfu_client *c)
{
	return rd32(c, 3, 4096);
}

static void test_irqs(void **state)
{
	struct ism_vfu_client *c;
	int efd[4], intx, bad;
	struct tdev t;
	uint8_t all[4] = { 1, 1, 1, 1 }, odd[2] = { 0, 1 };

	(void)state;
	set_path("irqs");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	for (int i = 0; i < 4; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	intx = eventfd(0, EFD_CLOEXEC); /* blocking: the server copes */
	/* No eventfd yet: the trigger is left pending, in the PBA. */
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 1);
	assert_int_equal(rd32(c, 0, R_IRQ_RESULT), 0);
	assert_int_equal(pba(c), 2);
	/* Given an eventfd, the pending vector fires. */
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_MSIX, 0, 4, efd), 0);
	assert_true(fired(efd[1]));
	assert_int_equal(pba(c), 0);
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 3);
	assert_int_equal(rd32(c, 0, R_IRQ_RESULT), 1);
	assert_true(fired(efd[3]));
	assert_false(fired(efd[0]));
	/* Masked by SET_IRQS: pending until unmasked. */
	assert_int_equal(ism_vfu_client_irq_set(c, ISM_VFU_IRQ_MSIX,
						ISM_VFU_IRQ_SET_ACTION_MASK, 0,
						4, NULL),
			 0);
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 0);
	assert_false(fired(efd[0]));
	assert_int_equal(pba(c), 1);
	assert_int_equal(ism_vfu_client_irq_set(c, ISM_VFU_IRQ_MSIX,
						ISM_VFU_IRQ_SET_ACTION_UNMASK,
						0, 4, all),
			 0);
	assert_true(fired(efd[0]));
	/* Booleans pick vectors: trigger 3 of [2, 3] from the client. */
	assert_int_equal(ism_vfu_client_irq_set(c, ISM_VFU_IRQ_MSIX,
						ISM_VFU_IRQ_SET_ACTION_TRIGGER,
						2, 2, odd),
			 0);
	assert_false(fired(efd[2]));
	assert_true(fired(efd[3]));
	/* Vector 2's eventfd taken away (a -1 entry): pending again. */
	{
		int some[2] = { -1, efd[3] };

		assert_int_equal(ism_vfu_client_irq_eventfds(
					 c, ISM_VFU_IRQ_MSIX, 2, 2, some),
				 0);
	}
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 2);
	assert_int_equal(pba(c), 4);
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_MSIX, 2, 1, &efd[2]),
		0);
	assert_true(fired(efd[2]));
	/* A client driving the MSI-X table itself: vectors start masked
	 * (entry control bit 0), the table reads back what was written. */
	{
		uint32_t ctl = 1;

		assert_int_equal(rd32(c, 3, 16 * 1 + 12), 1);
		wr32(c, 3, 16 * 1, 0xfee00000);
		wr32(c, 3, 16 * 1 + 12, ctl);
		assert_int_equal(rd32(c, 3, 16), 0xfee00000);
		wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 1);
		assert_false(fired(efd[1]));
		assert_int_equal(pba(c), 2);
		wr32(c, 3, 16 * 1 + 12, 0);
		assert_true(fired(efd[1]));
		/* The function mask in the capability masks them all. */
		uint32_t cap = rd32(c, ISM_VFU_CONFIG, 0x40);
		wr32(c, ISM_VFU_CONFIG, 0x40, cap | 0xc0000000u);
		wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16 | 0);
		assert_false(fired(efd[0]));
		wr32(c, ISM_VFU_CONFIG, 0x40, (cap & 0xffff) | 0x80000000u);
		assert_true(fired(efd[0]));
	}
	/* INTx with a blocking eventfd; disabled by count 0. */
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_INTX, 0, 1, &intx),
		0);
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_INTX << 16);
	assert_true(fired(intx));
	assert_int_equal(ism_vfu_client_irq_set(c, ISM_VFU_IRQ_INTX,
						ISM_VFU_IRQ_SET_ACTION_TRIGGER,
						0, 0, NULL),
			 0);
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_INTX << 16);
	assert_int_equal(rd32(c, 0, R_IRQ_RESULT), 0);
	assert_false(fired(intx));
	/* Refusals: not an eventfd, out of range, an unknown index. */
	bad = memfd_create("x", MFD_CLOEXEC);
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_MSIX, 0, 1, &bad),
		-EINVAL);
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_MSIX, 3, 2, efd),
		-EINVAL);
	assert_int_equal(ism_vfu_client_irq_eventfds(c, 7, 0, 1, efd), -EINVAL);
	assert_int_equal(ism_vfu_client_irq_set(c, ISM_VFU_IRQ_MSI,
						ISM_VFU_IRQ_SET_ACTION_MASK, 4,
						1, NULL),
			 -EINVAL);
	/* After a reset: pending bits cleared, the table masked again. */
	wr32(c, 3, 12, 1);
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16);
	assert_int_equal(pba(c) & 1, 1);
	assert_int_equal(ism_vfu_client_reset(c), 0);
	assert_int_equal(pba(c), 0);
	assert_int_equal(rd32(c, 0, R_RESETS), 1);
	ism_vfu_client_close(c);
	tdev_stop(&t);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
	close(intx);
	close(bad);
}

/* Guest memory for the DMA tests. */
static uint8_t *guest_mem(int *fd, size_t len, bool seal)
{
	uint8_t *p;

	*fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)len), 0);
	if (seal)
		assert_int_equal(
			fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void dma_cmd(struct ism_vfu_client *c, uint64_t addr, uint32_t len,
		    uint32_t cmd)
{
	wr32(c, 0, R_DMA_ADDR, (uint32_t)addr);
	wr32(c, 0, R_DMA_ADDR + 4, (uint32_t)(addr >> 32));
	wr32(c, 0, R_DMA_LEN, len);
	wr32(c, 0, R_DMA_CMD, cmd);
}

/* Device reads [addr, +len), then writes a pattern there: check both. */
static void dma_round(struct ism_vfu_client *c, uint8_t *mem, uint64_t addr,
		      uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		mem[i] = (uint8_t)(i ^ 0x5c);
	dma_cmd(c, addr, len, 1);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), 0);
	assert_int_equal(rd32(c, 0, R_DMA_SUM), tdev_sum(mem, len));
	dma_cmd(c, addr, len, 3);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), 0);
	for (uint32_t i = 0; i < len; i += 4093)
		assert_int_equal(mem[i], (uint8_t)(i * 7 + 3));
	assert_int_equal(mem[len - 1], (uint8_t)((len - 1) * 7 + 3));
}

static void check_stats(struct tdev *t, uint32_t windows, uint32_t mapped)
{
	struct ism_vfu_dev_stats st;

	/* The server thread owns the device; its counters are read racily
	 * here, after it answered (good enough for these numbers). */
	ism_vfu_dev_stats(t->dev, &st);
	assert_int_equal(st.windows, windows);
	assert_int_equal(st.windows_mapped, mapped);
}

static void test_dma_mapped(void **state)
{
	const size_t len = 4u << 20;
	struct ism_vfu_dev_stats st;
	struct ism_vfu_client *c;
	struct tdev t;
	uint8_t *mem;
	int fd;

	(void)state;
	set_path("dmafd");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	mem = guest_mem(&fd, len, true);
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = 0x100000000ull,
				     .len = len,
				     .fd = fd,
				     .vaddr = mem };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	check_stats(&t, 1, 1);
	dma_round(c, mem, m.addr, (uint32_t)len);
	ism_vfu_dev_stats(t.dev, &st);
	assert_int_equal(st.dma_msgs, 0); /* all through the mapping */
	/* Past the window: -EFAULT, nothing moved. */
	dma_cmd(c, m.addr + len - 8, 16, 1);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), EFAULT);
	assert_int_equal(ism_vfu_client_dma_unmap(c, m.addr, len), 0);
	assert_int_equal(atomic_load(&t.unmaps), 1);
	check_stats(&t, 0, 0);
	dma_cmd(c, m.addr, 16, 1);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), EFAULT);
	ism_vfu_client_close(c);
	tdev_stop(&t);
	munmap(mem, len);
	close(fd);
}

static void run_dma_msg(uint32_t cflags, uint32_t xfer)
{
	const size_t len = 3u << 20;
	struct ism_vfu_dev_stats st;
	struct ism_vfu_client_info ci;
	struct ism_vfu_client *c;
	struct tdev t;
	uint8_t *mem = malloc(len);

	set_path("dmamsg");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(cflags, xfer, NULL, NULL);
	ism_vfu_client_info(c, &ci);
	assert_int_equal(ci.twin, !(cflags & ISM_VFU_CLIENT_NO_TWIN));
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = 0x40000000,
				     .len = len,
				     .fd = -1,
				     .vaddr = mem };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	check_stats(&t, 1, 0);
	/* The device's DMA happens while the client waits for the reply
	 * to its REGION_WRITE: DMA messages interleave with replies. */
	dma_round(c, mem, m.addr, (uint32_t)len);
	ism_vfu_dev_stats(t.dev, &st);
	assert_true(st.dma_msgs >= 2 * ((len + (xfer ? xfer : 1u << 20) - 1) /
					(xfer ? xfer : 1u << 20)));
	ism_vfu_client_close(c);
	tdev_stop(&t);
	free(mem);
}

static void test_dma_msg_twin(void **state)
{
	(void)state;
	run_dma_msg(0, 0);
}

static void test_dma_msg_main(void **state)
{
	(void)state;
	run_dma_msg(ISM_VFU_CLIENT_NO_TWIN, 0);
}

static void test_dma_msg_small(void **state)
{
	(void)state;
	run_dma_msg(0, 4096);
}

struct cbmem {
	uint8_t *mem;
	uint64_t base;
	int calls;
};

static int dma_cb(void *priv, uint64_t addr, void *buf, size_t len,
		  int is_write)
{
	struct cbmem *m = priv;

	m->calls++;
	if (is_write)
		memcpy(m->mem + (addr - m->base), buf, len);
	else
		memcpy(buf, m->mem + (addr - m->base), len);
	return 0;
}

static void test_dma_callback(void **state)
{
	struct cbmem cb = { .mem = malloc(1 << 20), .base = 0x80000 };
	struct ism_vfu_client *c;
	struct tdev t;

	(void)state;
	set_path("dmacb");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, dma_cb, &cb);
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = cb.base,
				     .len = 1 << 20,
				     .fd = -1 };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	dma_round(c, cb.mem, cb.base, 1 << 20);
	assert_true(cb.calls >= 2);
	/* A read-only window: the device's write is refused (by the
	 * server: the window says so), its read works. */
	assert_int_equal(ism_vfu_client_dma_unmap_all(c), 0);
	m.prot = ISM_VFU_DMA_READ;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	dma_cmd(c, cb.base, 64, 1);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), 0);
	dma_cmd(c, cb.base, 64, 2);
	assert_int_equal(rd32(c, 0, R_DMA_STATUS), EFAULT);
	ism_vfu_client_close(c);
	tdev_stop(&t);
	free(cb.mem);
}

static void test_dma_refusals(void **state)
{
	struct ism_vfu_client *c;
	struct tdev t;
	uint8_t *mem, *umem;
	int fd, ufd, pfd[2];

	(void)state;
	set_path("dmaref");
	/* At most 8 windows, 1 MiB mapped. */
	assert_int_equal(tdev_start(&t, sock, 0, 8, 1 << 20), 0);
	c = connect_c(0, 0, NULL, NULL);
	mem = guest_mem(&fd, 2 << 20, true);
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = 0x10000,
				     .len = 0x10000,
				     .fd = fd,
				     .vaddr = mem };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	/* Overlaps: same, inside, straddling either end. */
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EEXIST);
	m.addr = 0x18000;
	m.len = 0x1000;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EEXIST);
	m.addr = 0xf000;
	m.len = 0x2000;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EEXIST);
	m.addr = 0x1f000;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EEXIST);
	/* Adjacent is fine; the device's DMA may span both. */
	m.addr = 0x20000;
	m.len = 0x10000;
	m.fd_offset = 0x10000;
	m.vaddr = mem + 0x10000;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	dma_round(c, mem, 0x10000, 0x20000);
	/* Unmap exactly: part of a window, or nothing there, is refused. */
	assert_int_equal(ism_vfu_client_dma_unmap(c, 0x10000, 0x1000), -EINVAL);
	assert_int_equal(ism_vfu_client_dma_unmap(c, 0x10000, 0x20000),
			 -EINVAL);
	assert_int_equal(ism_vfu_client_dma_unmap(c, 0x90000, 0x1000), -ENOENT);
	/* The mapped-bytes cap (1 MiB): 2 MiB more with an fd is refused. */
	m.addr = 0x1000000;
	m.len = 1 << 20;
	m.fd_offset = 0;
	m.vaddr = mem;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -ENOSPC);
	/* Without an fd it costs no mapping: accepted. */
	m.fd = -1;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	check_stats(&t, 3, 2);
	/* An fd smaller than the window: refused. */
	m.addr = 0x4000000;
	m.fd = fd;
	m.fd_offset = 2 << 20;
	m.len = 4096;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EINVAL);
	/* An unsealed memfd and a pipe: accepted, reached by messages. */
	umem = guest_mem(&ufd, 1 << 16, false);
	m.fd = ufd;
	m.fd_offset = 0;
	m.len = 1 << 16;
	m.vaddr = umem;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	check_stats(&t, 4, 2);
	dma_round(c, umem, m.addr, 1 << 16);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	m.addr = 0x5000000;
	m.fd = pfd[0];
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	check_stats(&t, 5, 2);
	/* The window cap (8). */
	for (int i = 0; i < 3; i++) {
		m.addr = 0x6000000 + (uint64_t)i * 0x100000;
		m.fd = -1;
		assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	}
	m.addr = 0x7000000;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -ENOSPC);
	/* Bad arguments, caught before they leave. */
	m.len = 0;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EINVAL);
	m.len = 2;
	m.addr = UINT64_MAX;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EINVAL);
	m.addr = 0;
	m.prot = 4;
	assert_int_equal(ism_vfu_client_dma_map(c, &m), -EINVAL);
	/* Unmap all: every window dropped, each told to the device. */
	atomic_store(&t.unmaps, 0);
	assert_int_equal(ism_vfu_client_dma_unmap_all(c), 0);
	check_stats(&t, 0, 0);
	assert_int_equal(atomic_load(&t.unmaps), 8);
	ism_vfu_client_close(c);
	tdev_stop(&t);
	munmap(mem, 2 << 20);
	munmap(umem, 1 << 16);
	close(fd);
	close(ufd);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_misc(void **state)
{
	struct ism_vfu_client *c, *c2 = NULL;
	struct tdev t;
	uint8_t out[16];

	(void)state;
	set_path("misc");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	/* Features and migration: not supported, nothing breaks. */
	assert_int_equal(ism_vfu_client_feature(c, (1u << 18) | (1u << 16) | 1,
						NULL, 0, out, sizeof(out)),
			 -ENOTSUP);
	assert_int_equal(ism_vfu_client_feature(c, (1u << 17) | 2, "\2\0\0\0",
						4, out, sizeof(out)),
			 -ENOTSUP);
	/* GET and SET together without PROBE: malformed. */
	assert_int_equal(ism_vfu_client_feature(c, (1u << 16) | (1u << 17) | 2,
						NULL, 0, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	/* A second client while one is attached: refused. */
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .timeout_ms = 5000 };
	assert_int_equal(ism_vfu_client_connect(sock, &o, &c2), -ECONNRESET);
	assert_null(c2);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	/* Reset. */
	assert_int_equal(ism_vfu_client_reset(c), 0);
	assert_int_equal(rd32(c, 0, R_RESETS), 1);
	ism_vfu_client_close(c);
	tdev_stop(&t);
}

/* A client that goes away loses its windows and eventfds; the device's
 * state stays, and the next client gets it. */
static void test_reconnect(void **state)
{
	struct ism_vfu_client *c;
	struct ism_vfu_dev_stats st;
	uint8_t *mem = malloc(1 << 16);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct tdev t;

	(void)state;
	set_path("reconn");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	c = connect_c(0, 0, NULL, NULL);
	wr32(c, 0, R_SCRATCH, 77);
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ,
				     .addr = 0x1000,
				     .len = 1 << 16,
				     .fd = -1,
				     .vaddr = mem };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	assert_int_equal(
		ism_vfu_client_irq_eventfds(c, ISM_VFU_IRQ_MSIX, 0, 1, &efd),
		0);
	ism_vfu_client_close(c);
	c = connect_c(0, 0, NULL, NULL);
	assert_int_equal(rd32(c, 0, R_SCRATCH), 77);
	assert_int_equal(rd32(c, 0, R_LOST), 1);
	check_stats(&t, 0, 0);
	/* The old eventfd is not signalled any more: pending instead. */
	wr32(c, 0, R_IRQ, ISM_VFU_IRQ_MSIX << 16);
	assert_int_equal(rd32(c, 0, R_IRQ_RESULT), 0);
	assert_false(fired(efd));
	ism_vfu_client_close(c);
	ism_vfu_dev_stats(t.dev, &st);
	assert_int_equal(st.clients, 2);
	tdev_stop(&t);
	free(mem);
	close(efd);
}

/* 1000 connect/disconnect cycles (with a window and an eventfd each)
 * leave the process's fd count where it was. */
static void test_fd_stability(void **state)
{
	struct ism_vfu_client *c;
	struct tdev t;
	uint8_t *mem;
	int fd, efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), before, after;

	(void)state;
	set_path("fds");
	mem = guest_mem(&fd, 1 << 16, true);
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	/* Warm up (lazy allocations), then count. */
	c = connect_c(0, 0, NULL, NULL);
	ism_vfu_client_close(c);
	T_WAIT_FOR(atomic_load(&t.lost) == 1, 10000);
	t_msleep(50);
	before = t_count_fds(getpid());
	for (int i = 0; i < 1000; i++) {
		struct ism_vfu_dma_map m = { .size = sizeof(m),
					     .prot = ISM_VFU_DMA_READ |
						     ISM_VFU_DMA_WRITE,
					     .addr = 0x1000,
					     .len = 1 << 16,
					     .fd = fd,
					     .vaddr = mem };
		struct ism_vfu_region_info ri;
		void *p;

		c = connect_c(i & 1 ? ISM_VFU_CLIENT_NO_TWIN : 0, 0, NULL,
			      NULL);
		assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
		assert_int_equal(ism_vfu_client_irq_eventfds(
					 c, ISM_VFU_IRQ_MSIX, 0, 1, &efd),
				 0);
		assert_int_equal(ism_vfu_client_region_info(c, 1, &ri), 0);
		assert_int_equal(ism_vfu_client_region_map(c, 1, &p), 0);
		if (i % 100 == 0)
			dma_round(c, mem, 0x1000, 4096);
		ism_vfu_client_close(c);
	}
	/* The server sees each close in its own time; bgclose threads end
	 * in theirs. */
	assert_true(T_WAIT_FOR(atomic_load(&t.lost) == 1001, 30000));
	assert_true(
		T_WAIT_FOR((after = t_count_fds(getpid())) == before, 10000));
	assert_int_equal(after, before);
	tdev_stop(&t);
	munmap(mem, 1 << 16);
	close(fd);
	close(efd);
}

/* ---- separate processes, and kill -9 mid-DMA ------------------------------ */

static int try_connect(struct ism_vfu_client **c, uint32_t flags,
		       int (*dma)(void *, uint64_t, void *, size_t, int),
		       void *priv)
{
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .flags = flags,
					 .timeout_ms = 20000,
					 .dma = dma,
					 .priv = priv };

	*c = NULL;
	for (int i = 0; i < 2000; i++) {
		if (ism_vfu_client_connect(sock, &o, c) == 0)
			return 0;
		t_msleep(5);
	}
	return -1;
}

struct killer {
	pid_t pid;
	uint8_t *mem;
	int calls;
};

/* The server's first DMA request kills the server. */
static int kill_on_dma(void *priv, uint64_t addr, void *buf, size_t len,
		       int is_write)
{
	struct killer *k = priv;

	(void)addr;
	if (k->calls++ == 0)
		t_kill(k->pid, SIGKILL);
	if (!is_write)
		memset(buf, 1, len);
	return 0;
}

static void test_kill9_server(void **state)
{
	struct killer k = { 0 };
	struct ism_vfu_client *c;
	uint32_t v = 0;
	pid_t pid;

	(void)state;
	set_path("kill-server");
	pid = tdev_fork(sock, 0);
	assert_true(pid > 0);
	k.pid = pid;
	assert_int_equal(try_connect(&c, 0, kill_on_dma, &k), 0);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = 0x100000,
				     .len = 4 << 20,
				     .fd = -1 };
	assert_int_equal(ism_vfu_client_dma_map(c, &m), 0);
	/* The device reads 4 MiB by messages; its first one kills it. */
	wr32(c, 0, R_DMA_ADDR, 0x100000);
	wr32(c, 0, R_DMA_LEN, 4 << 20);
	v = 1;
	assert_int_equal(ism_vfu_client_region_write(c, 0, R_DMA_CMD, &v, 4),
			 -ENOTCONN);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	assert_int_equal(k.calls, 1);
	assert_int_equal(ism_vfu_client_region_read(c, 0, 0, &v, 4), -ENOTCONN);
	assert_int_equal(ism_vfu_client_process(c), -ENOTCONN);
	ism_vfu_client_close(c);
	/* A new server on the same (stale) path; a new client. */
	pid = tdev_fork(sock, 0);
	assert_true(pid > 0);
	assert_int_equal(try_connect(&c, 0, NULL, NULL), 0);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	ism_vfu_client_close(c);
	t_kill(pid, SIGTERM);
	assert_int_equal(t_wait(pid), 128 + SIGTERM);
	unlink(sock);
}

/* A client process doing DMA by messages in a loop, killed -9. */
static int dma_forever(void *arg)
{
	int *pfd = arg;
	struct ism_vfu_client *c;
	uint8_t *mem = malloc(1 << 20);
	uint32_t v;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!mem || try_connect(&c, ISM_VFU_CLIENT_NO_TWIN, NULL, NULL))
		return 1;
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = 0x100000,
				     .len = 1 << 20,
				     .fd = -1,
				     .vaddr = mem };
	if (ism_vfu_client_dma_map(c, &m))
		return 1;
	v = 0x100000;
	ism_vfu_client_region_write(c, 0, R_DMA_ADDR, &v, 4);
	v = 1 << 20;
	ism_vfu_client_region_write(c, 0, R_DMA_LEN, &v, 4);
	if (write(pfd[1], "x", 1) != 1)
		return 1;
	for (;;) {
		v = 3;
		if (ism_vfu_client_region_write(c, 0, R_DMA_CMD, &v, 4) != 4)
			return 1;
	}
}

static void test_kill9_client(void **state)
{
	struct ism_vfu_client *c;
	struct tdev t;
	int pfd[2];
	pid_t pid;
	char x;

	(void)state;
	set_path("kill-client");
	assert_int_equal(tdev_start(&t, sock, 0, 0, 0), 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = t_fork(dma_forever, pfd);
	assert_true(pid > 0);
	assert_int_equal(read(pfd[0], &x, 1), 1);
	t_msleep(30); /* DMA under way */
	t_kill(pid, SIGKILL);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	close(pfd[0]);
	close(pfd[1]);
	/* The server thread survived and takes the next client. */
	assert_int_equal(try_connect(&c, 0, NULL, NULL), 0);
	assert_int_equal(rd32(c, 0, R_ID), TDEV_ID);
	assert_true(rd32(c, 0, R_LOST) >= 1);
	ism_vfu_client_close(c);
	tdev_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_regions),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_irqs),
		cmocka_unit_test(test_dma_mapped),
		cmocka_unit_test(test_dma_msg_twin),
		cmocka_unit_test(test_dma_msg_main),
		cmocka_unit_test(test_dma_msg_small),
		cmocka_unit_test(test_dma_callback),
		cmocka_unit_test(test_dma_refusals),
		cmocka_unit_test(test_misc),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_fd_stability),
		cmocka_unit_test(test_kill9_server),
		cmocka_unit_test(test_kill9_client),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
