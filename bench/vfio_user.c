/* SPDX-License-Identifier: MIT */
/*
 * ism-bench vfio-user: ism's vfio-user server and client, each against a
 * baseline in the same round.
 *
 * A device process (CPU 1) serves a device over a stream socket pair;
 * this process (CPU 0) is its client.
 * 1. REGION_READ of a 4-byte register, round trip, against a request/
 *    response of the same sizes (32 bytes, 36 back) over an AF_UNIX
 *    stream pair to a plain echo process (region_rtt_vs_unix: time /
 *    time, lower is better).
 * 2. DMA_READ by messages (a window without fd: the client answers from
 *    its memory, over the twin socket) of 4 KiB and 1 MiB, timed inside
 *    the device, against the same exchange over AF_UNIX (a 32-byte
 *    request answered with 32 bytes and the data) (dma_msg_vs_unix_bulk:
 *    GB/s / GB/s); DMA_WRITE by messages of 1 MiB.  The baseline's
 *    sockets get the socket buffers the server gives the twin socket
 *    (each holds one whole 1 MiB DMA message), so that the ratio is the
 *    protocol's cost, not the buffers'.
 * 3. DMA through a mapped window (the client's memfd) of 4 KiB and 1 MiB
 *    against memcpy of the same size in the device process
 *    (dma_mapped_vs_memcpy).
 * 4. ism-pci with a private ismd: a guest READ command copying a 16 MiB
 *    region into guest memory (mapped by fd) by DMA, ring round trip
 *    included, against a host process reading the same region through
 *    its own mapping (pci_read_vs_host_read).
 * Each figure is the median over rounds; each ratio the median of the
 * rounds' own ratios.
 */
#include "bench.h"
#include "util/spawn.h"
#include "util/util.h"
#include "../pci/ism_pci.h"
#include "vfio_user/vfio_user.h"

#include <ism.h>
#include <ism/vfio_user.h>
#include <ism/vfio_user_client.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define RTT_ITERS 20000u
#define MAXLEN	  (1u << 20)
#define W_MSG	  (1ull << 32)
#define W_MAP	  (2ull << 32)
#define PCI_LEN	  (16u << 20)
#define PCI_RAM	  (64u << 20)
#define PCI_GPA	  (4ull << 32)

enum {
	F_RTT,
	F_UX_RTT,
	F_MSG4,
	F_UX4,
	F_MSG1M,
	F_UX1M,
	F_MSGW1M,
	F_MAP4,
	F_CPY4,
	F_MAP1M,
	F_CPY1M,
	F_PCI,
	F_HOST,
	NFIG
};

static const struct bench_fig figs[NFIG] = {
	[F_RTT] = { "region_read_rtt", "us" },
	[F_UX_RTT] = { "unix_rtt", "us" },
	[F_MSG4] = { "dma_msg_read_4k", "GB/s" },
	[F_UX4] = { "unix_bulk_4k", "GB/s" },
	[F_MSG1M] = { "dma_msg_read_1m", "GB/s" },
	[F_UX1M] = { "unix_bulk_1m", "GB/s" },
	[F_MSGW1M] = { "dma_msg_write_1m", "GB/s" },
	[F_MAP4] = { "dma_mapped_read_4k", "GB/s" },
	[F_CPY4] = { "memcpy_4k", "GB/s" },
	[F_MAP1M] = { "dma_mapped_read_1m", "GB/s" },
	[F_CPY1M] = { "memcpy_1m", "GB/s" },
	[F_PCI] = { "ism_pci_read_16m", "GB/s" },
	[F_HOST] = { "host_read_16m", "GB/s" },
};

static const struct bench_ratio rats[] = {
	{ "region_rtt_vs_unix", F_RTT, F_UX_RTT,
	  "REGION_READ round trip / AF_UNIX round trip (target <= 1.3)" },
	{ "dma_msg_vs_unix_bulk", F_MSG1M, F_UX1M,
	  "DMA_READ by messages / AF_UNIX request-response, 1 MiB "
	  "(target >= 0.8)" },
	{ "dma_msg_vs_unix_bulk_4k", F_MSG4, F_UX4, "the same, 4 KiB" },
	{ "dma_mapped_vs_memcpy", F_MAP1M, F_CPY1M,
	  "DMA through a mapped window / memcpy, 1 MiB (target >= 0.5)" },
	{ "dma_mapped_vs_memcpy_4k", F_MAP4, F_CPY4, "the same, 4 KiB" },
	{ "pci_read_vs_host_read", F_PCI, F_HOST,
	  "ism-pci READ into guest memory / a host process reading the "
	  "region" },
};

/* ---- the device (child process) ------------------------------------------- */

enum { R_ADDR = 0x08, R_LEN = 0x10, R_ITERS = 0x14, R_CMD = 0x18, R_NS = 0x20 };

struct bdev {
	struct ism_vfu_dev *dev;
	uint64_t addr, ns;
	uint32_t len, iters;
	uint8_t *dst, *src;
};

static int bdev_bar0(void *priv, uint32_t index, uint64_t off, void *buf,
		     uint32_t count, int is_write)
{
	struct bdev *b = priv;
	uint32_t v = 0;
	uint64_t t0;

	(void)index;
	if (count != 4)
		return -EINVAL;
	if (!is_write) {
		if (off == R_NS)
			v = (uint32_t)b->ns;
		else if (off == R_NS + 4)
			v = (uint32_t)(b->ns >> 32);
		else
			v = 0x15a1b0b0u;
		memcpy(buf, &v, 4);
		return 0;
	}
	memcpy(&v, buf, 4);
	switch (off) {
	case R_ADDR: b->addr = (b->addr & ~0xffffffffull) | v; return 0;
	case R_ADDR + 4:
		b->addr = (b->addr & 0xffffffffull) | (uint64_t)v << 32;
		return 0;
	case R_LEN: b->len = v > MAXLEN ? MAXLEN : v; return 0;
	case R_ITERS: b->iters = v; return 0;
	case R_CMD:
		t0 = bench_now();
		for (uint32_t i = 0; i < b->iters; i++) {
			int e = 0;

			if (v == 1)
				e = ism_vfu_dma_read(b->dev, b->addr, b->dst,
						     b->len);
			else if (v == 2)
				e = ism_vfu_dma_write(b->dev, b->addr, b->src,
						      b->len);
			else
				memcpy(b->dst, b->src, b->len);
			if (e)
				return e;
		}
		b->ns = bench_now() - t0;
		return 0;
	default: return -EINVAL;
	}
}

/* Which end a child serves, and the parent's ends it must not hold (or
 * the other side would never see the end). */
struct ends {
	int fd, other[2];
};

static void close_others(const struct ends *e)
{
	for (int i = 0; i < 2; i++)
		if (e->other[i] >= 0)
			close(e->other[i]);
}

static int dev_child(int ctl, void *arg)
{
	struct bdev b = { .dst = bench_buffer(MAXLEN),
			  .src = bench_buffer(MAXLEN) };
	struct ism_vfu_dev_opts o = { .size = sizeof(o),
				      .vendor_id = 0x1234,
				      .device_id = 0x1,
				      .priv = &b };
	struct ism_vfu_region r0 = { .size = sizeof(r0),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = 4096,
				     .access = bdev_bar0,
				     .fd = -1 };
	const struct ends *e = arg;
	int fd = e->fd, r;

	(void)ctl;
	close_others(e);
	if (!b.dst || !b.src || ism_vfu_dev_create(&o, &b.dev) ||
	    ism_vfu_dev_set_region(b.dev, 0, &r0) ||
	    ism_vfu_dev_attach_fd(b.dev, fd))
		return 1;
	r = ism_vfu_dev_run(b.dev); /* until the client goes */
	ism_vfu_dev_destroy(b.dev);
	return r == -ENOTCONN ? 0 : 1;
}

/* The buffers the server gives both ends of a twin socket (vfu_sock_fit(),
 * which libism does not export): SO_SNDBUF and SO_RCVBUF of a whole DMA
 * message, doubled by the kernel, capped by net.core.[wr]mem_max.  The
 * size the kernel took, or -1. */
static int ux_fit(int fd)
{
	int v = VDEV_TWIN_MSG_MAX, got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) ||
	    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len))
		return -1;
	return got;
}

/* ---- the AF_UNIX baseline (child process): answer each 32-byte request
 * with 32 bytes and as many bytes of data as it asks. */

static int ux_child(int ctl, void *arg)
{
	uint8_t *data = bench_buffer(MAXLEN), hdr[32];
	const struct ends *e = arg;
	int fd = e->fd;

	(void)ctl;
	close_others(e);
	if (!data)
		return 1;
	for (;;) {
		uint32_t n;
		struct iovec iov[2];

		if (bench_read_full(fd, hdr, sizeof(hdr)))
			return 0; /* the end */
		memcpy(&n, hdr, 4);
		if (n > MAXLEN)
			return 1;
		iov[0] = (struct iovec){ hdr, sizeof(hdr) };
		iov[1] = (struct iovec){ data, n };
		for (size_t done = 0, total = sizeof(hdr) + n; done < total;) {
			ssize_t w = writev(fd, iov, 2);

			if (w <= 0)
				return 1;
			done += (size_t)w;
			/* (rarely short on a local stream socket) */
			while (w > 0) {
				size_t k = ISM_MIN((size_t)w, iov[0].iov_len);

				iov[0].iov_base =
					(uint8_t *)iov[0].iov_base + k;
				iov[0].iov_len -= k;
				w -= (ssize_t)k;
				if (!iov[0].iov_len) {
					iov[0] = iov[1];
					iov[1].iov_len = 0;
				}
			}
		}
	}
}

static double ux_rtt(int fd, uint8_t *buf)
{
	uint8_t req[32] = { 4 };
	uint64_t t0 = bench_now();

	for (unsigned i = 0; i < RTT_ITERS; i++)
		if (bench_write_full(fd, req, sizeof(req)) ||
		    bench_read_full(fd, buf, 36))
			return -1;
	return (double)(bench_now() - t0) / RTT_ITERS / 1000.0;
}

static double ux_bulk(int fd, uint32_t len, unsigned iters, uint8_t *buf)
{
	uint8_t req[32] = { 0 }, hdr[32];
	uint64_t t0 = bench_now();

	memcpy(req, &len, 4);
	for (unsigned i = 0; i < iters; i++)
		if (bench_write_full(fd, req, sizeof(req)) ||
		    bench_read_full(fd, hdr, sizeof(hdr)) ||
		    bench_read_full(fd, buf, len))
			return -1;
	return (double)len * iters / (double)(bench_now() - t0);
}

/* ---- this process: the client ------------------------------------------------ */

static int wr(struct ism_vfu_client *c, uint32_t off, uint32_t v)
{
	return ism_vfu_client_region_write(c, 0, off, &v, 4) == 4 ? 0 : -1;
}

static double vfu_rtt(struct ism_vfu_client *c)
{
	uint32_t v;
	uint64_t t0 = bench_now();

	for (unsigned i = 0; i < RTT_ITERS; i++)
		if (ism_vfu_client_region_read(c, 0, 0, &v, 4) != 4)
			return -1;
	return (double)(bench_now() - t0) / RTT_ITERS / 1000.0;
}

/* The device runs @cmd (1 DMA read, 2 DMA write, 3 memcpy) @iters times
 * over @len bytes at @addr; GB/s from its own clock. */
static double dev_loop(struct ism_vfu_client *c, uint32_t cmd, uint64_t addr,
		       uint32_t len, uint32_t iters)
{
	uint32_t lo, hi;

	if (wr(c, R_ADDR, (uint32_t)addr) ||
	    wr(c, R_ADDR + 4, (uint32_t)(addr >> 32)) || wr(c, R_LEN, len) ||
	    wr(c, R_ITERS, iters) || wr(c, R_CMD, cmd) ||
	    ism_vfu_client_region_read(c, 0, R_NS, &lo, 4) != 4 ||
	    ism_vfu_client_region_read(c, 0, R_NS + 4, &hi, 4) != 4)
		return -1;
	return (double)len * iters / (double)((uint64_t)hi << 32 | lo);
}

/* ---- ism-pci ------------------------------------------------------------------ */

static const char *find_pci(char *buf, size_t n)
{
	const char *e = getenv("ISM_PCI");
	char self[PATH_MAX];
	ssize_t k;

	if (e && *e)
		return e;
	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k > 0) {
		self[k] = '\0';
		snprintf(buf, n, "%s/../pci/ism-pci", dirname(self));
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return "ism-pci";
}

struct pci_run {
	struct ism_private ismd;
	bool ismd_up;
	pid_t pid;
	char sock[128];
	struct ism_vfu_client *c;
	struct ism_conn *host;
	uint8_t *ram;
	int ram_fd, efd;
	uint32_t tail, handle;
	struct ism_region *hr;
	uint8_t *hmap, *out;
};

static int reg_wr(struct pci_run *p, uint32_t off, uint32_t v)
{
	return ism_vfu_client_region_write(p->c, 0, off, &v, 4) == 4 ? 0 : -1;
}

static uint32_t reg_rd(struct pci_run *p, uint32_t off)
{
	uint32_t v = 0;

	ism_vfu_client_region_read(p->c, 0, off, &v, 4);
	return v;
}

/* One command: put it in the ring, ring, wait for the head. */
static int pci_cmd(struct pci_run *p, uint16_t op, uint32_t access, uint64_t a0,
		   uint64_t a1, uint64_t a2, uint32_t *status)
{
	uint8_t *e = p->ram + (p->tail % 16) * ISM_PCI_CMD_SIZE;
	uint64_t x;

	memset(e, 0, ISM_PCI_CMD_SIZE);
	memcpy(e + ISM_PCI_C_OPCODE, &op, 2);
	memcpy(e + ISM_PCI_C_HANDLE, &p->handle, 4);
	memcpy(e + ISM_PCI_C_ACCESS, &access, 4);
	memcpy(e + ISM_PCI_C_ARG0, &a0, 8);
	memcpy(e + ISM_PCI_C_ARG1, &a1, 8);
	memcpy(e + ISM_PCI_C_ARG2, &a2, 8);
	if (reg_wr(p, ISM_PCI_R_CQ_TAIL, ++p->tail))
		return -1;
	for (int i = 0; i < 20000 && reg_rd(p, ISM_PCI_R_CQ_HEAD) != p->tail;
	     i++) {
		struct pollfd pf = { .fd = p->efd, .events = POLLIN };

		poll(&pf, 1, 1);
		if (read(p->efd, &x, 8) < 0) {
			/* nothing yet */
		}
	}
	memcpy(status, e + ISM_PCI_C_STATUS, 4);
	memcpy(&p->handle, e + ISM_PCI_C_HANDLE, 4);
	return reg_rd(p, ISM_PCI_R_CQ_HEAD) == p->tail ? 0 : -1;
}

static void pci_stop(struct pci_run *p)
{
	ism_region_close(p->hr);
	ism_conn_close(p->host);
	ism_vfu_client_close(p->c);
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
	if (p->ram)
		munmap(p->ram, PCI_RAM);
	if (p->ram_fd >= 0)
		close(p->ram_fd);
	if (p->efd >= 0)
		close(p->efd);
	free(p->out);
	if (p->ismd_up)
		ism_private_stop(&p->ismd, 1);
}

static int pci_start(struct pci_run *p, const char *ismd_path)
{
	struct ism_vfu_client_opts co = { .size = sizeof(co),
					  .timeout_ms = 20000 };
	char path[PATH_MAX], a1[200], a2[200];
	const char *bin = find_pci(path, sizeof(path));
	uint32_t st;

	memset(p, 0, sizeof(*p));
	p->ram_fd = p->efd = -1;
	p->pid = -1;
	if (ism_private_start(&p->ismd, ismd_path, NULL))
		return -1;
	p->ismd_up = true;
	snprintf(p->sock, sizeof(p->sock), "%s/pci.sock", p->ismd.dir);
	snprintf(a1, sizeof(a1), "--socket-path=%s", p->sock);
	snprintf(a2, sizeof(a2), "--ism-socket=%s", p->ismd.sock);
	p->pid = fork();
	if (p->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 2);
		bench_pin(1);
		execl(bin, "ism-pci", a1, a2, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && ism_vfu_client_connect(p->sock, &co, &p->c);
	     i++)
		usleep(5000);
	p->ram_fd = memfd_create("bench-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->out = bench_buffer(PCI_LEN);
	if (!p->c || p->ram_fd < 0 || p->efd < 0 || !p->out ||
	    ftruncate(p->ram_fd, PCI_RAM) ||
	    fcntl(p->ram_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return -1;
	p->ram = mmap(NULL, PCI_RAM, PROT_READ | PROT_WRITE, MAP_SHARED,
		      p->ram_fd, 0);
	if (p->ram == MAP_FAILED) {
		p->ram = NULL;
		return -1;
	}
	struct ism_vfu_dma_map m = { .size = sizeof(m),
				     .prot = ISM_VFU_DMA_READ |
					     ISM_VFU_DMA_WRITE,
				     .addr = PCI_GPA,
				     .len = PCI_RAM,
				     .fd = p->ram_fd,
				     .vaddr = p->ram };
	if (ism_vfu_client_dma_map(p->c, &m) ||
	    ism_vfu_client_irq_eventfds(p->c, ISM_VFU_IRQ_MSIX, 0, 1,
					&p->efd) ||
	    reg_wr(p, ISM_PCI_R_RESET, 1) ||
	    reg_wr(p, ISM_PCI_R_CQ_BASE, (uint32_t)PCI_GPA) ||
	    reg_wr(p, ISM_PCI_R_CQ_BASE + 4, (uint32_t)(PCI_GPA >> 32)) ||
	    reg_wr(p, ISM_PCI_R_CQ_SIZE, 16) ||
	    pci_cmd(p, ISM_PCI_OP_ALLOC, ISM_ACCESS_RO, PCI_LEN, 0, 0, &st) ||
	    st)
		return -1;
	/* The host side: attached to the guest's region, through libism. */
	{
		struct ism_token tok;
		void *map;

		memcpy(tok.b, p->ram + ISM_PCI_C_TOKEN, 16);
		if (ism_conn_open(p->ismd.sock, NULL, &p->host) ||
		    ism_region_attach(p->host, &tok, ISM_ACCESS_RO, 0,
				      &p->hr) ||
		    ism_region_map(p->hr, &map))
			return -1;
		p->hmap = map;
	}
	/* Fill the region once (guest -> region), so both read real pages. */
	memset(p->ram + (1u << 20), 0x5a, PCI_LEN);
	return pci_cmd(p, ISM_PCI_OP_WRITE, 0, 0, PCI_GPA + (1u << 20), PCI_LEN,
		       &st) || st
		       ? -1
		       : 0;
}

static double pci_read(struct pci_run *p)
{
	uint64_t t0 = bench_now();
	uint32_t st;

	if (pci_cmd(p, ISM_PCI_OP_READ, 0, 0, PCI_GPA + (1u << 20), PCI_LEN,
		    &st) ||
	    st)
		return -1;
	return (double)PCI_LEN / (double)(bench_now() - t0);
}

static double host_read(struct pci_run *p)
{
	uint64_t t0 = bench_now();

	memcpy(p->out, p->hmap, PCI_LEN);
	return (double)PCI_LEN / (double)(bench_now() - t0);
}

int bench_vfio_user(const struct bench_opts *o)
{
	static double v[NFIG][BENCH_MAX_ROUNDS];
	unsigned rounds = bench_rounds(o, 5);
	struct ism_vfu_client_opts co = { .size = sizeof(co),
					  .timeout_ms = 60000 };
	struct bench_child dc = { .pid = -1 }, uc = { .pid = -1 };
	struct ism_vfu_client *c = NULL;
	uint8_t *msg = bench_buffer(MAXLEN), *buf = bench_buffer(MAXLEN), *map;
	int dsv[2] = { -1, -1 }, usv[2] = { -1, -1 }, mfd = -1, rc = 1, sbuf;
	struct pci_run pr;
	struct ends ue, de;
	bool pci = false;

	mfd = memfd_create("bench-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (!msg || !buf || mfd < 0 || ftruncate(mfd, MAXLEN) ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		goto out;
	map = mmap(NULL, MAXLEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED)
		goto out;
	memset(map, 0x33, MAXLEN);
	/* The echo first (it never sees the device's socket), then the
	 * device (which must not hold the echo's other end). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, usv) ||
	    (sbuf = ux_fit(usv[0])) < 0 || ux_fit(usv[1]) < 0)
		goto out;
	ue = (struct ends){ usv[1], { usv[0], -1 } };
	if (bench_spawn(&uc, ux_child, &ue))
		goto out;
	close(usv[1]);
	usv[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dsv))
		goto out;
	de = (struct ends){ dsv[1], { dsv[0], usv[0] } };
	if (bench_spawn(&dc, dev_child, &de))
		goto out;
	close(dsv[1]);
	dsv[1] = -1;
	if (ism_vfu_client_open_fd(dsv[0], &co, &c)) {
		dsv[0] = -1;
		goto out;
	}
	dsv[0] = -1;
	struct ism_vfu_dma_map wm = { .size = sizeof(wm),
				      .prot = ISM_VFU_DMA_READ |
					      ISM_VFU_DMA_WRITE,
				      .addr = W_MSG,
				      .len = MAXLEN,
				      .fd = -1,
				      .vaddr = msg };
	if (ism_vfu_client_dma_map(c, &wm))
		goto out;
	wm.addr = W_MAP;
	wm.fd = mfd;
	wm.vaddr = map;
	if (ism_vfu_client_dma_map(c, &wm))
		goto out;
	pci = true;
	if (pci_start(&pr, o->ismd)) {
		fprintf(stderr, "ism-bench: ism-pci did not start\n");
		goto out;
	}

	for (unsigned r = 0; r < rounds; r++) {
		v[F_RTT][r] = vfu_rtt(c);
		v[F_UX_RTT][r] = ux_rtt(usv[0], buf);
		v[F_MSG4][r] = dev_loop(c, 1, W_MSG, 4096, 2000);
		v[F_UX4][r] = ux_bulk(usv[0], 4096, 2000, buf);
		v[F_MSG1M][r] = dev_loop(c, 1, W_MSG, MAXLEN, 64);
		v[F_UX1M][r] = ux_bulk(usv[0], MAXLEN, 64, buf);
		v[F_MSGW1M][r] = dev_loop(c, 2, W_MSG, MAXLEN, 64);
		v[F_MAP4][r] = dev_loop(c, 1, W_MAP, 4096, 20000);
		v[F_CPY4][r] = dev_loop(c, 3, W_MAP, 4096, 20000);
		v[F_MAP1M][r] = dev_loop(c, 1, W_MAP, MAXLEN, 200);
		v[F_CPY1M][r] = dev_loop(c, 3, W_MAP, MAXLEN, 200);
		v[F_PCI][r] = pci_read(&pr);
		v[F_HOST][r] = host_read(&pr);
	}
	if (bench_report("vfio-user", v, figs, NFIG, rats,
			 sizeof(rats) / sizeof(rats[0]), rounds) == 0) {
		result_note("%u rounds; device and echo processes on CPU 1, "
			    "client on CPU 0; ism-pci on CPU 1",
			    rounds);
		result_note("DMA by messages goes over the twin socket, in "
			    "chunks of the client's max_data_xfer_size "
			    "(1 MiB)");
		result_note("socket buffers of the twin and of the AF_UNIX "
			    "baseline alike: %d bytes (SO_SNDBUF as the "
			    "kernel took it)",
			    sbuf);
		result_end(o->json);
		rc = 0;
	}
out:
	ism_vfu_client_close(c);
	if (dc.pid > 0 && bench_reap(&dc))
		rc = 1;
	for (int i = 0; i < 2; i++) {
		if (dsv[i] >= 0)
			close(dsv[i]);
		if (usv[i] >= 0)
			close(usv[i]);
	}
	if (uc.pid > 0 && bench_reap(&uc))
		rc = 1;
	if (pci)
		pci_stop(&pr);
	if (mfd >= 0)
		close(mfd);
	return rc;
}
