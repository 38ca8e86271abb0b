/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the vfio-user client as a server would: a live client on one end
 * of a socket pair, and on the other a thread that plays the server from
 * the input, a script of steps:
 *
 *   op     u8   bits 0-2 the kind, 3-5 how many fds go with it, 6-7 flags
 *   fds    u8   one per fd: what file (see make_fd())
 *   len    le16
 *   bytes  len
 *
 *   kind 0 REPLY  read the client's next request (its replies to our DMA
 *                 skipped) and answer it with its id and command, the
 *                 bytes as payload; flag 0x40: an error reply (bytes[0]
 *                 the errno, the rest the payload); 0x80: the header's
 *                 size off by the payload's first byte (signed)
 *          1 CMD  a command to the client on the main socket: DMA_READ
 *                 (flag 0x40: DMA_WRITE), the bytes as payload; flag
 *                 0x80: NO_REPLY
 *          2      the same on the twin socket (when we gave one)
 *          3 RAW  the bytes as they are, on the main socket
 *          4      the same on the twin
 *          5-7    nothing but the fds (on the main socket, with one byte)
 *
 * The first socket pair among the fds becomes the twin (we keep our end;
 * the twin stays open after the script, so its end races nothing).
 * Meanwhile the client runs a fixed sequence of calls over everything
 * the server says it has (regions, their maps and I/O fds, interrupts,
 * DMA windows with fd, vaddr and callback, reset, features), serving the
 * server's DMA between.  Every client decoder and state sees hostile
 * input.  Checked beyond the sanitizers: errors are -errno in range,
 * a broken client stays broken with the same error, reads return what
 * was asked, regions map only where the file is, the fds it returns are
 * open, and the client's end of the socket closes with it (else the
 * server thread is never joined).
 */
#include <ism/vfio_user_client.h>

#include "vfu_wire/vfu_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64u << 10)
#define FD_FILE	  (64u << 10) /* our memfds' size */

struct srv {
	const uint8_t *p;
	size_t n, off;
	int ep, twin; /* twin: our end of the socket pair we gave */
	uint16_t next_id;
	uint8_t buf[(1u << 20) + 64];
};

static const uint8_t *take(struct srv *s, size_t n)
{
	const uint8_t *r;

	if (s->n - s->off < n)
		return NULL;
	r = s->p + s->off;
	s->off += n;
	return r;
}

/* One fd of the kind @k (ours to close after sending). */
static int make_fd(struct srv *s, uint8_t k)
{
	int fd = -1, sv[2];

	switch (k % 7) {
	case 0: /* shmem, sealed against shrinking: mappable */
	case 1: /* shmem, not sealed */
		fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, FD_FILE) < 0)
			abort();
		if (k % 7 == 0 &&
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			abort();
		break;
	case 2: /* shmem, too small for anything */
		fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, 100) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
			abort();
		break;
	case 3: fd = eventfd(0, EFD_CLOEXEC); break;
	case 4: /* a stream socket: the twin, when the client takes it */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			abort();
		if (s->twin < 0)
			s->twin = sv[0];
		else
			close(sv[0]);
		fd = sv[1];
		break;
	case 5: fd = open("/dev/null", O_RDWR | O_CLOEXEC); break;
	default: { /* a pipe */
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		close(p[1]);
		fd = p[0];
	}
	}
	if (fd < 0)
		abort();
	return fd;
}

/* Send @n bytes of @p on @fd, the first with @fds (closed after). */
static void put(int fd, const void *p, size_t n, int *fds, unsigned nfds)
{
	size_t done = 0;

	uint8_t zero = 0;

	if (!n && !nfds)
		return;
	if (!n) { /* fds alone: with one byte */
		p = &zero;
		n = 1;
	}
	while (done < n) {
		struct iovec iov = { (uint8_t *)p + done, n - done };
		union {
			struct cmsghdr a;
			char b[CMSG_SPACE(sizeof(int) * 8)];
		} ctl;
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r;

		if (nfds) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			m.msg_control = ctl.b;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		r = sendmsg(fd, &m, MSG_NOSIGNAL);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
		if (r <= 0)
			return; /* the client went */
		done += (size_t)r;
	}
}

/* Read exactly @n bytes into @p (@flags MSG_DONTWAIT: what there is, up
 * to @n), closing any fds.  Returns 0, or -1 at the end (or nothing
 * there). */
static int get(int fd, uint8_t *p, size_t n, int flags)
{
	while (n) {
		union {
			struct cmsghdr a;
			char b[CMSG_SPACE(sizeof(int) * 253)];
		} ctl;
		struct iovec iov = { p, n };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *c;
		ssize_t r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | flags);

		if (r <= 0)
			return -1;
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int x;

				memcpy(&x, CMSG_DATA(c) + i * sizeof(int), 4);
				close(x);
			}
		}
		p += r;
		n -= (size_t)r;
		if (flags)
			break;
	}
	return 0;
}

/* The client's next message on @fd: its header in *@h, payload read. */
static int get_msg(struct srv *s, int fd, struct vfu_hdr *h)
{
	uint8_t hb[VFU_HDR_SIZE];

	if (get(fd, hb, sizeof(hb), 0) || vfu_hdr_get(hb, h) < 0 ||
	    h->size - VFU_HDR_SIZE > sizeof(s->buf))
		return -1;
	return get(fd, s->buf, h->size - VFU_HDR_SIZE, 0);
}

/* Read and drop what the client sent on the twin (its DMA replies). */
static void drain(int fd)
{
	uint8_t b[65536];

	while (fd >= 0 && !get(fd, b, sizeof(b), MSG_DONTWAIT))
		;
}

static void send_msg(struct srv *s, int fd, const struct vfu_hdr *h,
		     const uint8_t *pl, size_t n, int *fds, unsigned nfds)
{
	struct ism_wbuf b;

	ism_wbuf_init(&b, s->buf, sizeof(s->buf));
	vfu_hdr_put(&b, h);
	ism_wbuf_bytes(&b, pl, n);
	if (b.err)
		abort();
	put(fd, s->buf, b.len, fds, nfds);
}

static void *server(void *arg)
{
	struct srv *s = arg;
	const uint8_t *op;
	bool gone = false;

	while (!gone && (op = take(s, 1))) {
		unsigned nfds = (*op >> 3) & 7, kind = *op & 7;
		const uint8_t *ln, *pl;
		int fds[8];
		struct vfu_hdr h;
		uint16_t len;

		for (unsigned i = 0; i < nfds; i++) {
			const uint8_t *k = take(s, 1);

			fds[i] = make_fd(s, k ? *k : 0);
		}
		ln = take(s, 2);
		len = ln ? (uint16_t)(ln[0] | ln[1] << 8) : 0;
		pl = take(s, len);
		if (!pl) {
			len = 0;
			pl = (const uint8_t *)"";
		}
		drain(s->twin);
		switch (kind) {
		case 0: /* REPLY */
			do {
				if (get_msg(s, s->ep, &h)) {
					gone = true;
					break;
				}
			} while ((h.flags & VFU_F_TYPE_MASK) != VFU_F_COMMAND);
			if (gone)
				break;
			h.flags = VFU_F_REPLY;
			h.error = 0;
			if (*op & 0x40) {
				h.flags |= VFU_F_ERROR;
				h.error = len ? pl[0] : 0;
				pl += len ? 1 : 0;
				len -= len ? 1 : 0;
			}
			h.size = VFU_HDR_SIZE + len;
			if (*op & 0x80)
				h.size += len ? (int8_t)pl[0] : 1;
			send_msg(s, s->ep, &h, pl, len, fds, nfds);
			nfds = 0;
			break;
		case 1:
		case 2:
			h = (struct vfu_hdr){
				.id = s->next_id++,
				.cmd = (*op & 0x40) ? VFU_DMA_WRITE
						    : VFU_DMA_READ,
				.size = VFU_HDR_SIZE + len,
				.flags = VFU_F_COMMAND |
					 ((*op & 0x80) ? VFU_F_NO_REPLY : 0)
			};
			if (kind == 2 && s->twin < 0)
				break;
			send_msg(s, kind == 1 ? s->ep : s->twin, &h, pl, len,
				 fds, nfds);
			nfds = 0;
			break;
		case 3:
		case 4:
			if (kind == 4 && s->twin < 0)
				break;
			put(kind == 3 ? s->ep : s->twin, pl, len, fds, nfds);
			nfds = 0;
			break;
		default: put(s->ep, NULL, 0, fds, nfds); nfds = 0;
		}
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
	}
	/* The end of the script is the end of the server: read until the
	 * client goes (it must, once it sees the end).  The twin stays
	 * open, so that its end does not race the last reply. */
	shutdown(s->ep, SHUT_WR);
	for (;;) {
		struct pollfd p[2] = { { .fd = s->ep, .events = POLLIN },
				       { .fd = s->twin, .events = POLLIN } };
		uint8_t b[4096];

		if (poll(p, 2, -1) < 0)
			abort();
		if (p[1].revents && get(s->twin, b, sizeof(b), MSG_DONTWAIT)) {
			close(s->twin);
			s->twin = -1;
		}
		if (p[0].revents && get(s->ep, b, sizeof(b), MSG_DONTWAIT))
			break;
	}
	return NULL;
}

/* ---- the client's side ------------------------------------------------- */

static uint8_t win_mem[1u << 16];

static int dma_cb(void *priv, uint64_t addr, void *buf, size_t len,
		  int is_write)
{
	(void)priv;
	(void)addr;
	if (len > (1u << 20))
		abort(); /* above the max_data_xfer we named */
	if (!is_write)
		memset(buf, 0x5a, len);
	return addr & 1 ? -EIO : 0;
}

static int broken; /* the error the client broke with, or 0 */

/*
 * Check a call's result: -errno in range, and once the client is broken
 * always the same error.  Whether it is broken comes from process()
 * (which only serves and reports), not from the call's error: a server
 * may answer anything with EPROTO itself.  process() also serves what
 * the server sent between calls.
 */
static void res(struct ism_vfu_client *c, long r)
{
	int p;

	if (r < -4095 || (broken && r != broken))
		abort();
	p = ism_vfu_client_process(c);
	if ((p && p != -EPROTO && p != -ENOTCONN) || (broken && p != broken))
		abort();
	broken = p;
}

/* Touch the first and last byte of every area the client mapped. */
static void touch(const struct ism_vfu_region_info *ri, const uint8_t *base)
{
	volatile uint8_t x;
	uint32_t n = ri->n_areas ? ri->n_areas : 1;

	if (ri->n_areas > ISM_VFU_MAX_AREAS)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = ri->n_areas ? ri->areas[i].offset : 0;
		uint64_t len = ri->n_areas ? ri->areas[i].len : ri->len;

		if (!len)
			continue;
		if (off > ri->len || len > ri->len - off)
			abort(); /* mapped past the region */
		x = base[off];
		x = base[off + len - 1];
		(void)x;
	}
}

static void run_client(struct ism_vfu_client *c)
{
	struct ism_vfu_client_info ci;
	uint8_t buf[8192];
	int mfd;

	res(c, ism_vfu_client_process(c));
	if (ism_vfu_client_info(c, &ci))
		abort();
	for (uint32_t i = 0; i < ci.num_regions && i < 10; i++) {
		struct ism_vfu_region_info ri;
		struct ism_vfu_io_fd io[4];
		void *base = NULL;
		int r = ism_vfu_client_region_info(c, i, &ri);
		ssize_t n;

		res(c, r);
		if (r)
			continue;
		if (ri.index != i || ri.n_areas > ISM_VFU_MAX_AREAS)
			abort();
		/* Mapping what region_info took needs no server (so it
		 * may work on a broken client). */
		r = ism_vfu_client_region_map(c, i, &base);
		if (r > 0 || r < -4095)
			abort();
		if (!r) {
			if (!ri.mappable || ri.len > FD_FILE)
				abort(); /* mapped a file we cannot back */
			touch(&ri, base);
			if (ism_vfu_client_region_unmap(c, i))
				abort();
		}
		n = ism_vfu_client_region_read(c, i, 0, buf, 64);

		res(c, (long)n);
		if (n >= 0 && n != 64)
			abort();
		res(c, (long)ism_vfu_client_region_write(c, i, 8, buf, 16));
		res(c, (long)ism_vfu_client_region_read(c, i, 0, buf,
							sizeof(buf)));
		r = ism_vfu_client_region_io_fds(c, i, io, 4);
		res(c, r);
		for (int k = 0; k < r && k < 4; k++) {
			if (io[k].fd < 0 || fcntl(io[k].fd, F_GETFD) < 0)
				abort();
			close(io[k].fd);
		}
	}
	for (uint32_t i = 0; i < ci.num_irqs && i < 6; i++) {
		struct ism_vfu_irq_info ii;
		int efd[2] = { eventfd(0, EFD_CLOEXEC), -1 };
		uint8_t b[2] = { 1, 0 };

		res(c, ism_vfu_client_irq_info(c, i, &ii));
		res(c, ism_vfu_client_irq_eventfds(c, i, 0, 2, efd));
		res(c, ism_vfu_client_irq_set(c, i, ISM_VFU_IRQ_SET_ACTION_MASK,
					      0, 2, b));
		close(efd[0]);
	}
	mfd = memfd_create("win", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, 1u << 16) < 0)
		abort();
	{
		struct ism_vfu_dma_map w = { .size = sizeof(w),
					     .prot = ISM_VFU_DMA_READ |
						     ISM_VFU_DMA_WRITE,
					     .addr = 0x10000,
					     .len = 1u << 16,
					     .fd = mfd,
					     .vaddr = win_mem };

		res(c, ism_vfu_client_dma_map(c, &w));
		w.addr = 0x40000;
		w.fd = -1;
		w.vaddr = NULL; /* the callback answers */
		w.prot = ISM_VFU_DMA_READ;
		res(c, ism_vfu_client_dma_map(c, &w));
	}
	close(mfd);
	res(c, ism_vfu_client_process(c));
	res(c, ism_vfu_client_reset(c));
	{
		uint8_t out[64];

		res(c, ism_vfu_client_feature(c, (1u << 18) | 1, NULL, 0, out,
					      sizeof(out)));
	}
	res(c, ism_vfu_client_process(c));
	res(c, ism_vfu_client_dma_unmap(c, 0x10000, 1u << 16));
	res(c, ism_vfu_client_dma_unmap_all(c));
	res(c, ism_vfu_client_process(c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct srv s;
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .timeout_ms = 50,
					 .max_data_xfer = 4096,
					 .dma = dma_cb };
	struct ism_vfu_client *c = NULL;
	pthread_t t;
	int sv[2], r;

	if (size > MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	s.p = data;
	s.n = size;
	s.off = 0;
	s.ep = sv[1];
	s.twin = -1;
	s.next_id = 0;
	if (pthread_create(&t, NULL, server, &s))
		abort();
	broken = 0;
	r = ism_vfu_client_open_fd(sv[0], &o, &c);
	if (r > 0 || r < -4095 || (!r) != (c != NULL))
		abort();
	if (c) {
		run_client(c);
		ism_vfu_client_close(c);
	}
	/* The client's end is closed: the server sees the end. */
	pthread_join(t, NULL);
	close(s.ep);
	if (s.twin >= 0)
		close(s.twin);
	return 0;
}
