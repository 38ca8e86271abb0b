/* SPDX-License-Identifier: MIT */
/*
 * A small vfio-user device for the tests (ism's server against ism's
 * client): registers in BAR0 with a DMA engine and an interrupt
 * register, memory in BAR1 (a sealed memfd, two sparse mmap areas), the
 * MSI-X table and PBA in BAR3 (BAR1 is 64-bit: it takes BAR2's register
 * too), an I/O BAR4 and a ROM.  Run in a thread
 * (tdev_start) or in a child process (tdev_fork).
 */
#ifndef VFU_TESTDEV_H
#define VFU_TESTDEV_H

#include <ism/vfio_user.h>
#include <ism/vfio_user_client.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* BAR0 registers. */
#define R_ID	     0x00 /* RO: TDEV_ID */
#define R_SCRATCH    0x04
#define R_IRQ	     0x08 /* W: index << 16 | vector: trigger */
#define R_IRQ_RESULT 0x0c
#define R_DMA_ADDR   0x10 /* 64 bits */
#define R_DMA_LEN    0x18
#define R_DMA_CMD                                                              \
	0x1c		  /* W: 1 read into the buffer, 2 write it out,
			   * 3 fill with a pattern and write it out */
#define R_DMA_STATUS 0x20 /* RO: 0 or errno */
#define R_DMA_SUM    0x24 /* RO: byte sum of the buffer's first len bytes */
#define R_RESETS     0x28 /* RO: resets seen */
#define R_LOST	     0x2c /* RO: lost clients seen */
#define TDEV_ID	     0x15a1b0b0u
#define TDEV_BUF     (8u << 20)
#define TDEV_BAR1    (64u << 10)

struct tdev {
	struct ism_vfu_dev *dev;
	pthread_t thread;
	atomic_int run_err;
	uint32_t scratch, irq_result, dma_len, dma_status;
	uint64_t dma_addr;
	atomic_uint resets, lost, unmaps, clients;
	uint8_t *buf;
	uint8_t io[16];
	int bar1_fd;
	char path[128];
};

static inline uint32_t tdev_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static int tdev_bar0(void *priv, uint32_t index, uint64_t off, void *buf,
		     uint32_t count, int is_write)
{
	struct tdev *t = priv;
	uint32_t v = 0;

	(void)index;
	if (count != 4 || (off & 3))
		return -EINVAL;
	if (is_write) {
		memcpy(&v, buf, 4);
		switch (off) {
		case R_SCRATCH: t->scratch = v; return 0;
		case R_IRQ:
			t->irq_result = (uint32_t)ism_vfu_irq_trigger(
				t->dev, v >> 16, v & 0xffff);
			return 0;
		case R_DMA_ADDR:
			t->dma_addr = (t->dma_addr & ~0xffffffffull) | v;
			return 0;
		case R_DMA_ADDR + 4:
			t->dma_addr = (t->dma_addr & 0xffffffffull) |
				      (uint64_t)v << 32;
			return 0;
		case R_DMA_LEN:
			if (v > TDEV_BUF)
				return -EINVAL;
			t->dma_len = v;
			return 0;
		case R_DMA_CMD: {
			int e = -EINVAL;

			if (v == 1)
				e = ism_vfu_dma_read(t->dev, t->dma_addr,
						     t->buf, t->dma_len);
			if (v == 3)
				for (uint32_t i = 0; i < t->dma_len; i++)
					t->buf[i] = (uint8_t)(i * 7 + 3);
			if (v == 2 || v == 3)
				e = ism_vfu_dma_write(t->dev, t->dma_addr,
						      t->buf, t->dma_len);
			t->dma_status = (uint32_t)-e;
			return 0;
		}
		default: return -EINVAL;
		}
	}
	switch (off) {
	case R_ID: v = TDEV_ID; break;
	case R_SCRATCH: v = t->scratch; break;
	case R_IRQ_RESULT: v = t->irq_result; break;
	case R_DMA_LEN: v = t->dma_len; break;
	case R_DMA_STATUS: v = t->dma_status; break;
	case R_DMA_SUM: v = tdev_sum(t->buf, t->dma_len); break;
	case R_RESETS: v = atomic_load(&t->resets); break;
	case R_LOST: v = atomic_load(&t->lost); break;
	default: v = 0;
	}
	memcpy(buf, &v, 4);
	return 0;
}

/* BAR3 (around the MSI-X table and PBA, which the library serves) and
 * the I/O BAR: plain bytes; the ROM: a pattern. */
static int tdev_misc(void *priv, uint32_t index, uint64_t off, void *buf,
		     uint32_t count, int is_write)
{
	struct tdev *t = priv;

	if (index == ISM_VFU_BAR0 + 4) {
		if (is_write)
			memcpy(t->io + off, buf, count);
		else
			memcpy(buf, t->io + off, count);
		return 0;
	}
	if (index == ISM_VFU_ROM) {
		for (uint32_t i = 0; i < count; i++)
			((uint8_t *)buf)[i] = (uint8_t)(off + i);
		return 0;
	}
	if (!is_write)
		memset(buf, 0x5a, count);
	return 0;
}

static int tdev_reset(void *priv, int type)
{
	struct tdev *t = priv;

	if (type == ISM_VFU_RESET_DEVICE)
		atomic_fetch_add(&t->resets, 1);
	else
		atomic_fetch_add(&t->lost, 1);
	return 0;
}

static void tdev_unmap(void *priv, uint64_t addr, uint64_t len)
{
	struct tdev *t = priv;

	(void)addr;
	(void)len;
	atomic_fetch_add(&t->unmaps, 1);
}

static void tdev_client(void *priv, int connected)
{
	struct tdev *t = priv;

	if (connected)
		atomic_fetch_add(&t->clients, 1);
}

static void tdev_log(void *priv, int level, const char *msg)
{
	(void)priv;
	if (level <= ISM_VFU_LOG_INFO && getenv("TDEV_LOG"))
		fprintf(stderr, "tdev: %s\n", msg);
}

/* Create the device (not yet serving).  @flags: ISM_VFU_DEV_*. */
static inline int tdev_create(struct tdev *t, uint32_t flags, uint32_t max_maps,
			      uint64_t max_bytes)
{
	struct ism_vfu_dev_opts o = {
		.size = sizeof(o),
		.flags = flags | ISM_VFU_DEV_PCIE,
		.vendor_id = 0x1af4,
		.device_id = 0x10ff,
		.subsys_vendor_id = 0x1af4,
		.subsys_id = 0x0001,
		.class_code = 0x058000,
		.revision = 1,
		.n_intx = 1,
		.n_msi = 4,
		.n_msix = 4,
		.msix_bar = 3,
		.msix_table_offset = 0,
		.msix_pba_offset = 4096,
		.max_dma_maps = max_maps,
		.max_dma_bytes = max_bytes,
		.dma_timeout_ms = 5000,
		.priv = t,
		.reset = tdev_reset,
		.dma_unmap = tdev_unmap,
		.client = tdev_client,
		.log = tdev_log,
	};
	static const struct ism_vfu_area areas[] = { { 0, 16384 },
						     { 32768, 16384 } };
	struct ism_vfu_region r0 = { .size = sizeof(r0),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = 4096,
				     .access = tdev_bar0,
				     .fd = -1 };
	struct ism_vfu_region r1 = { .size = sizeof(r1),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE |
					      ISM_VFU_REGION_MEM64,
				     .len = TDEV_BAR1,
				     .n_areas = 2,
				     .areas = areas };
	struct ism_vfu_region r3 = { .size = sizeof(r3),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = 8192,
				     .access = tdev_misc,
				     .fd = -1 };
	struct ism_vfu_region r4 = { .size = sizeof(r4),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE |
					      ISM_VFU_REGION_IO,
				     .len = 16,
				     .access = tdev_misc,
				     .fd = -1 };
	struct ism_vfu_region rom = { .size = sizeof(rom),
				      .flags = ISM_VFU_REGION_READ,
				      .len = 4096,
				      .access = tdev_misc,
				      .fd = -1 };
	int err;

	memset(t, 0, sizeof(*t));
	t->buf = malloc(TDEV_BUF);
	t->bar1_fd = memfd_create("tdev-bar1", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!t->buf || t->bar1_fd < 0 || ftruncate(t->bar1_fd, TDEV_BAR1) < 0)
		return -ENOMEM;
	r1.fd = t->bar1_fd;
	err = ism_vfu_dev_create(&o, &t->dev);
	if (!err)
		err = ism_vfu_dev_set_region(t->dev, 0, &r0);
	if (!err)
		err = ism_vfu_dev_set_region(t->dev, 1, &r1);
	if (!err)
		err = ism_vfu_dev_set_region(t->dev, 3, &r3);
	if (!err)
		err = ism_vfu_dev_set_region(t->dev, 4, &r4);
	if (!err)
		err = ism_vfu_dev_set_region(t->dev, ISM_VFU_ROM, &rom);
	return err;
}

static void *tdev_thread(void *arg)
{
	struct tdev *t = arg;

	atomic_store(&t->run_err, ism_vfu_dev_run(t->dev));
	return NULL;
}

/* Create, listen on @path and serve from a thread. */
static inline int tdev_start(struct tdev *t, const char *path, uint32_t flags,
			     uint32_t max_maps, uint64_t max_bytes)
{
	int err = tdev_create(t, flags, max_maps, max_bytes);

	if (!err)
		err = ism_vfu_dev_listen(t->dev, path);
	if (err)
		return err;
	snprintf(t->path, sizeof(t->path), "%s", path);
	return pthread_create(&t->thread, NULL, tdev_thread, t) ? -EAGAIN : 0;
}

static inline void tdev_stop(struct tdev *t)
{
	ism_vfu_dev_stop(t->dev);
	pthread_join(t->thread, NULL);
	ism_vfu_dev_destroy(t->dev);
	close(t->bar1_fd);
	free(t->buf);
}

/* Serve @path from a child process (killed if we die). */
static inline pid_t tdev_fork(const char *path, uint32_t flags)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct tdev t;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (tdev_create(&t, flags, 0, 0) ||
		    ism_vfu_dev_listen(t.dev, path))
			_exit(1);
		/* Ready: the socket listens. */
		_exit(ism_vfu_dev_run(t.dev) ? 2 : 0);
	}
	return pid;
}

#endif
