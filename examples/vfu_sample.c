/* SPDX-License-Identifier: MIT */
/*
 * ism-vfu-sample: a small vfio-user PCI device, the template for writing
 * your own with ism/vfio_user.h.
 *
 *   BAR0  4 KiB of memory (a sealed memfd) the VMM may map: plain
 *         registers the guest reads and writes at memory speed.
 *   BAR1  control registers (served by a callback, never mapped):
 *           0x00 ID        RO  0x5a3b1e01
 *           0x04 DOORBELL  WO  any write raises MSI-X vector 0 (or INTx)
 *           0x08 SRC       RW  64-bit guest address
 *           0x10 DST       RW  64-bit guest address
 *           0x18 LEN       RW  bytes (up to 1 MiB)
 *           0x1c GO        WO  copy LEN bytes from SRC to DST by DMA,
 *                              then raise vector 1
 *           0x20 STATUS    RO  0, or the errno of the last copy
 *   BAR2  the MSI-X table (2 vectors) and PBA, served by the library.
 *
 *   ism-vfu-sample (--socket-path=PATH | --fd=FDNUM) [-v]
 *
 * QEMU 10.1+: -device '{"driver":"vfio-user-pci","socket":{"type":"unix",
 * "path":"PATH"}}'.  Foreground; SIGTERM or SIGINT end it (exit 0).
 */
#include <ism/vfio_user.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ID	 0x5a3b1e01u
#define MAX_COPY (1u << 20)

struct sample {
	struct ism_vfu_dev *dev;
	uint64_t src, dst;
	uint32_t len, status;
	uint8_t *buf;
	int verbose;
};

static struct ism_vfu_dev *stop_me;

static void on_signal(int sig)
{
	(void)sig;
	/* Documented async-signal-safe (an atomic store and an eventfd
	 * write), which clang-tidy cannot see. */
	/* NOLINTNEXTLINE(bugprone-signal-handler,cert-sig30-c) */
	ism_vfu_dev_stop(stop_me);
}

static void raise_irq(struct sample *s, uint32_t vector)
{
	/* MSI-X when the VMM gave it an eventfd (else it stays pending in
	 * the PBA until it does); INTx as well, for a guest without MSI-X. */
	if (ism_vfu_irq_trigger(s->dev, ISM_VFU_IRQ_MSIX, vector) == 0)
		ism_vfu_irq_trigger(s->dev, ISM_VFU_IRQ_INTX, 0);
}

/* BAR1: 32-bit registers only.  The library checked the range. */
static int control(void *priv, uint32_t index, uint64_t off, void *data,
		   uint32_t count, int is_write)
{
	struct sample *s = priv;
	uint32_t v = 0;

	(void)index;
	if (count != 4 || off % 4)
		return -EINVAL;
	if (!is_write) {
		switch (off) {
		case 0x00: v = ID; break;
		case 0x08: v = (uint32_t)s->src; break;
		case 0x0c: v = (uint32_t)(s->src >> 32); break;
		case 0x10: v = (uint32_t)s->dst; break;
		case 0x14: v = (uint32_t)(s->dst >> 32); break;
		case 0x18: v = s->len; break;
		case 0x20: v = s->status; break;
		}
		memcpy(data, &v, 4);
		return 0;
	}
	memcpy(&v, data, 4);
	switch (off) {
	case 0x04: raise_irq(s, 0); break;
	case 0x08: s->src = (s->src & ~0xffffffffull) | v; break;
	case 0x0c: s->src = (s->src & 0xffffffffull) | (uint64_t)v << 32; break;
	case 0x10: s->dst = (s->dst & ~0xffffffffull) | v; break;
	case 0x14: s->dst = (s->dst & 0xffffffffull) | (uint64_t)v << 32; break;
	case 0x18:
		if (v > MAX_COPY)
			return -EINVAL;
		s->len = v;
		break;
	case 0x1c: {
		/* DMA: through the VMM's memory when it shared an fd, by
		 * messages otherwise; the library decides. */
		int err = ism_vfu_dma_read(s->dev, s->src, s->buf, s->len);

		if (!err)
			err = ism_vfu_dma_write(s->dev, s->dst, s->buf, s->len);
		s->status = (uint32_t)-err;
		raise_irq(s, 1);
		break;
	}
	default: return -EINVAL;
	}
	return 0;
}

/* BAR2 outside the MSI-X table and PBA: reads as zeros. */
static int nothing(void *priv, uint32_t index, uint64_t off, void *data,
		   uint32_t count, int is_write)
{
	(void)priv;
	(void)index;
	(void)off;
	if (!is_write)
		memset(data, 0, count);
	return 0;
}

static int reset(void *priv, int type)
{
	struct sample *s = priv;

	/* A lost VMM leaves the device as it was (the next one may carry
	 * on); DEVICE_RESET clears it. */
	if (type == ISM_VFU_RESET_DEVICE) {
		s->src = s->dst = 0;
		s->len = s->status = 0;
	}
	return 0;
}

static void log_line(void *priv, int level, const char *msg)
{
	struct sample *s = priv;

	if (level <= ISM_VFU_LOG_INFO || s->verbose)
		fprintf(stderr, "ism-vfu-sample: %s\n", msg);
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "ism-vfu-sample: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sample s;
	const char *path = NULL;
	int fd = -1, c, err, mem;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'f': fd = atoi(optarg); break;
		case 'v': s.verbose = 1; break;
		case 'h':
			printf("usage: ism-vfu-sample (--socket-path=PATH | "
			       "--fd=FDNUM) [-v]\n");
			return 0;
		default: return 2;
		}
	}
	if (!path == (fd < 0) || optind != argc) {
		fprintf(stderr, "ism-vfu-sample: give one of --socket-path "
				"and --fd\n");
		return 2;
	}

	struct ism_vfu_dev_opts o = {
		.size = sizeof(o),
		.vendor_id = 0x1234,
		.device_id = 0x5a3b,
		.class_code = 0xff0000, /* unclassified */
		.n_intx = 1,
		.n_msix = 2,
		.msix_bar = 2,
		.msix_table_offset = 0,
		.msix_pba_offset = 2048,
		.priv = &s,
		.reset = reset,
		.log = log_line,
	};
	/* BAR0: memory the VMM maps; the library seals the memfd. */
	struct ism_vfu_region bar0 = { .size = sizeof(bar0),
				       .flags = ISM_VFU_REGION_READ |
						ISM_VFU_REGION_WRITE,
				       .len = 4096 };
	struct ism_vfu_region bar1 = { .size = sizeof(bar1),
				       .flags = ISM_VFU_REGION_READ |
						ISM_VFU_REGION_WRITE,
				       .len = 4096,
				       .access = control,
				       .fd = -1 };
	/* BAR2: only the MSI-X table and PBA live there. */
	struct ism_vfu_region bar2 = { .size = sizeof(bar2),
				       .flags = ISM_VFU_REGION_READ |
						ISM_VFU_REGION_WRITE,
				       .len = 4096,
				       .access = nothing,
				       .fd = -1 };

	s.buf = malloc(MAX_COPY);
	mem = memfd_create("ism-vfu-sample-bar0",
			   MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!s.buf || mem < 0 || ftruncate(mem, 4096) < 0)
		return fail("memory", -errno);
	bar0.fd = mem;
	err = ism_vfu_dev_create(&o, &s.dev);
	if (!err)
		err = ism_vfu_dev_set_region(s.dev, 0, &bar0);
	if (!err)
		err = ism_vfu_dev_set_region(s.dev, 1, &bar1);
	if (!err)
		err = ism_vfu_dev_set_region(s.dev, 2, &bar2);
	if (err)
		return fail("device", err);
	close(mem); /* the device keeps its own */
	err = path ? ism_vfu_dev_listen(s.dev, path)
		   : ism_vfu_dev_attach_fd(s.dev, fd);
	if (err)
		return fail(path ? path : "--fd", err);

	stop_me = s.dev;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	err = ism_vfu_dev_run(s.dev); /* until a signal, or --fd's end */
	ism_vfu_dev_destroy(s.dev);
	free(s.buf);
	if (err && err != -ENOTCONN)
		return fail("serve", err);
	return 0;
}
