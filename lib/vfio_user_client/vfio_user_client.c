/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client (ism/vfio_user_client.h).
 *
 * Concepts: one request at a time, under one lock: build it, send it,
 * then wait on the main socket (and the twin) until its reply comes,
 * serving the server's DMA_READ/WRITE requests that arrive meanwhile on
 * either; a reply is matched by id and command, anything else on the main
 * socket is a protocol error that breaks the client.  Sends never block:
 * what the socket cannot take is queued and flushed while waiting, so a
 * server that sends DMA while we send a request is always read.
 *
 * What we keep: the server's capabilities, each region's fd and mapping,
 * and our DMA windows (sorted, apart) to check the server's DMA against.
 */
#include "vfu_wire/vfu_wire.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <ism/vfio_user_client.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEF_TIMEOUT_MS 10000
#define MAX_REGIONS    64u	  /* regions we keep track of */
#define REQ_CHUNK_MAX  (1u << 20) /* our cap on one REGION_READ/WRITE */
#define RI_ARGSZ_MAX   4096u	  /* the largest region info we take */

struct creg {
	int fd; /* the server's region fd (checked), or -1 */
	bool have_info;
	struct ism_vfu_region_info info;
	void *map;
	size_t map_len;
};

struct cwin {
	uint64_t addr, len;
	uint32_t prot;
	uint8_t *vaddr;
};

struct ism_vfu_client {
	pthread_mutex_t lock;
	struct ism_vfu_client_opts o;
	struct vfu_ep ep, twin;
	bool has_twin;
	int epfd;
	bool out_armed[2]; /* EPOLLOUT in epfd for ep, twin */
	int broken;	   /* 0, or the -errno every call returns */
	uint16_t next_id;
	struct ism_vfu_client_info info;
	uint64_t srv_max_fds, srv_max_xfer, chunk;
	struct creg reg[MAX_REGIONS];
	struct cwin *win;
	uint32_t nwin, capwin;
	uint8_t *out; /* a request being built */
	size_t outcap;
	uint8_t *dout; /* a DMA reply being built */
	size_t doutcap;
	struct vfu_msg m, dm;
};

static uint64_t deadline(const struct ism_vfu_client *c)
{
	return ism_now_ns() + (uint64_t)c->o.timeout_ms * 1000000u;
}

/* The client is broken for good: every call returns -ENOTCONN (the
 * server went away) or -EPROTO (it broke the protocol).  Returns the error
 * for the call that saw it: those two, or -ETIMEDOUT. */
static int breaks(struct ism_vfu_client *c, int err)
{
	if (!c->broken)
		c->broken = err == -EPROTO ? -EPROTO : -ENOTCONN;
	return err == -ETIMEDOUT ? err : c->broken;
}

/* ---- the server's DMA ------------------------------------------------------- */

static uint32_t win_lower(const struct ism_vfu_client *c, uint64_t addr)
{
	uint32_t lo = 0, hi = c->nwin;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->win[mid].addr + c->win[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Move @n bytes between @buf and our windows at @addr, checking every
 * window holds the access. */
static int dma_local(struct ism_vfu_client *c, uint64_t addr, uint8_t *buf,
		     uint64_t n, bool server_writes)
{
	uint32_t need = server_writes ? ISM_VFU_DMA_WRITE : ISM_VFU_DMA_READ;

	while (n) {
		uint32_t i = win_lower(c, addr);
		struct cwin *w = i < c->nwin ? &c->win[i] : NULL;
		uint64_t k;
		int err;

		if (!w || w->addr > addr || !(w->prot & need))
			return -EFAULT;
		k = ISM_MIN(n, w->addr + w->len - addr);
		if (w->vaddr) {
			if (server_writes)
				memcpy(w->vaddr + (addr - w->addr), buf, k);
			else
				memcpy(buf, w->vaddr + (addr - w->addr), k);
		} else {
			if (!c->o.dma)
				return -EFAULT;
			err = c->o.dma(c->o.priv, addr, buf, (size_t)k,
				       server_writes);
			if (err)
				return err < 0 ? err : -EIO;
		}
		addr += k;
		buf += k;
		n -= k;
	}
	return 0;
}

/* Our memory behind [@addr, @addr + @n) when one window with @vaddr
 * holds it all, readable by the server; else NULL. */
static const uint8_t *dma_direct(struct ism_vfu_client *c, uint64_t addr,
				 uint64_t n)
{
	uint32_t i = win_lower(c, addr);
	const struct cwin *w = i < c->nwin ? &c->win[i] : NULL;

	if (!w || !w->vaddr || w->addr > addr ||
	    !(w->prot & ISM_VFU_DMA_READ) || n > w->addr + w->len - addr)
		return NULL;
	return w->vaddr + (addr - w->addr);
}

/* A command from the server (on @ep): DMA_READ or DMA_WRITE. */
static int serve_command(struct ism_vfu_client *c, struct vfu_ep *ep,
			 struct vfu_rx *rx)
{
	struct vfu_msg *m = &c->dm;
	bool noreply = rx->h.flags & VFU_F_NO_REPLY;
	uint8_t e[VFU_HDR_SIZE];
	int err;

	m->h = rx->h;
	err = rx->nfds || rx->fds_over ? -EINVAL : 0;
	vfu_rx_close_fds(rx);
	if (!err && rx->h.cmd != VFU_DMA_READ && rx->h.cmd != VFU_DMA_WRITE)
		err = -EINVAL;
	if (!err && vfu_msg_decode(m, rx->p, rx->n, 0) < 0)
		err = -EINVAL;
	if (!err && m->u.dma_rw.count > c->o.max_data_xfer)
		err = -EINVAL;
	if (!err && rx->h.cmd == VFU_DMA_WRITE) {
		err = dma_local(c, m->u.dma_rw.addr,
				(uint8_t *)m->u.dma_rw.data, m->u.dma_rw.count,
				true);
		if (!err && !noreply) {
			struct vfu_msg r = { .h = { .id = rx->h.id,
						    .cmd = VFU_DMA_WRITE,
						    .flags = VFU_F_REPLY } };
			ssize_t len;

			r.u.dma_rw.addr = m->u.dma_rw.addr;
			r.u.dma_rw.count = m->u.dma_rw.count;
			len = vfu_msg_encode(&r, c->dout, c->doutcap);
			return len < 0 ? (int)len
				       : vfu_ep_send(ep, c->dout, (size_t)len,
						     NULL, 0);
		}
	} else if (!err) {
		/* DMA_READ: the data straight into the reply. */
		struct vfu_hdr h = { .id = rx->h.id,
				     .cmd = VFU_DMA_READ,
				     .size = (uint32_t)(VFU_HDR_SIZE +
							VFU_DMA_RW_SIZE +
							m->u.dma_rw.count),
				     .flags = VFU_F_REPLY };
		const uint8_t *src = noreply ? NULL
					     : dma_direct(c, m->u.dma_rw.addr,
							  m->u.dma_rw.count);
		struct ism_wbuf b;
		uint8_t *data;

		ism_wbuf_init(&b, c->dout, c->doutcap);
		vfu_hdr_put(&b, &h);
		ism_wbuf_le64(&b, m->u.dma_rw.addr);
		ism_wbuf_le64(&b, m->u.dma_rw.count);
		if (src && !b.err) {
			/* Straight from our memory, never copied: what the
			 * socket cannot take now is queued by reference
			 * (kept by a copy only if the window goes first:
			 * dma_unmap()). */
			struct iovec iov[2] = {
				{ c->dout, b.len },
				{ (void *)src, (size_t)m->u.dma_rw.count },
			};

			return vfu_ep_sendv_lent(ep, iov, 2, NULL, 0, 1);
		}
		data = ism_wbuf_reserve(&b, (size_t)m->u.dma_rw.count);
		err = b.err ? -EINVAL
			    : dma_local(c, m->u.dma_rw.addr, data,
					m->u.dma_rw.count, false);
		if (!err && !noreply)
			return vfu_ep_send(ep, c->dout, b.len, NULL, 0);
	}
	if (err && !noreply)
		return vfu_ep_send(ep, e,
				   vfu_error_reply(e, rx->h.id, rx->h.cmd, err),
				   NULL, 0);
	return 0;
}

/* Serve what is there on the twin socket.  Returns 0 or -errno. */
static int serve_twin(struct ism_vfu_client *c)
{
	/* What was queued before may leave now (the socket said POLLOUT);
	 * what a reply sent here queued just met a full socket, and a
	 * flush at once would meet it again: the caller waits for POLLOUT. */
	bool flush = vfu_ep_queued(&c->twin);
	struct vfu_rx rx;
	int r;

	while ((r = vfu_ep_recv(&c->twin, &rx)) == 1) {
		if ((rx.h.flags & VFU_F_TYPE_MASK) != VFU_F_COMMAND) {
			vfu_rx_close_fds(&rx);
			return -EPROTO;
		}
		r = serve_command(c, &c->twin, &rx);
		if (r)
			return r;
	}
	if (r == 0 && flush)
		r = vfu_ep_flush(&c->twin);
	return r == -EAGAIN ? 0 : r;
}

/*
 * Wait until the reply to (@cmd, @id) is in *@rx, serving the server's
 * commands meanwhile and flushing what we queued.  Returns 0 (*@rx holds
 * the reply, its fds the caller's), or -errno (the client is broken).
 */
static int wait_reply(struct ism_vfu_client *c, uint16_t cmd, uint16_t id,
		      struct vfu_rx *rx, uint64_t dl)
{
	/* Poll first: the reply cannot be there before the request left,
	 * and reading an empty socket costs a system call. */
	short ready[2] = { 0, 0 };

	for (;;) {
		struct pollfd p[2] = { { .fd = c->ep.fd, .events = POLLIN },
				       { .fd = c->twin.fd, .events = POLLIN } };
		uint64_t now;
		int r = 0, ms;

		if (ready[0] & POLLOUT || vfu_ep_queued(&c->ep)) {
			r = vfu_ep_flush(&c->ep);
			if (r && r != -EAGAIN)
				return breaks(c, r);
		}
		/* The main socket first: a DMA that the server sent on the
		 * twin right after its DMA_MAP reply must find the window,
		 * which exists from that reply on. */
		while (ready[0] && (r = vfu_ep_recv(&c->ep, rx)) == 1) {
			if ((rx->h.flags & VFU_F_TYPE_MASK) == VFU_F_COMMAND) {
				r = serve_command(c, &c->ep, rx);
				if (r && r != -EAGAIN)
					return breaks(c, r);
				continue;
			}
			if (rx->h.cmd == cmd && rx->h.id == id)
				return 0;
			/* A reply to nothing we are waiting for. */
			vfu_rx_close_fds(rx);
			return breaks(c, -EPROTO);
		}
		if (ready[0] && r < 0)
			return breaks(c, r == -ENOTCONN ? r : -EPROTO);
		if (c->has_twin && ready[1]) {
			r = serve_twin(c);
			if (r)
				return breaks(c, r);
		}
		/* What serving queued goes out as the socket takes it. */
		if (vfu_ep_queued(&c->ep))
			p[0].events |= POLLOUT;
		if (c->has_twin && vfu_ep_queued(&c->twin))
			p[1].events |= POLLOUT;
		now = ism_now_ns();
		if (now >= dl)
			return breaks(c, -ETIMEDOUT);
		ms = (int)ISM_MIN((dl - now + 999999) / 1000000,
				  (uint64_t)60000);
		r = poll(p, c->has_twin ? 2 : 1, ms);
		if (r < 0 && errno != EINTR)
			return breaks(c, -errno);
		ready[0] = r > 0 ? p[0].revents : 0;
		ready[1] = r > 0 && c->has_twin ? p[1].revents : 0;
	}
}

/*
 * ism_vfu_client_fd() is ready also when a socket can take what is
 * queued for it (a DMA reply larger than the socket): the caller's loop
 * then runs process(), which sends it.  Else a reply left queued outside
 * a call would wait for the server to send something first, and the
 * server is waiting for that reply.
 */
static void arm_out(struct ism_vfu_client *c)
{
	struct vfu_ep *eps[2] = { &c->ep, &c->twin };

	for (int i = 0; i < (c->has_twin ? 2 : 1); i++) {
		bool q = vfu_ep_queued(eps[i]);
		struct epoll_event e = { .events =
						 EPOLLIN | (q ? EPOLLOUT : 0) };

		if (q != c->out_armed[i] && eps[i]->fd >= 0 &&
		    epoll_ctl(c->epfd, EPOLL_CTL_MOD, eps[i]->fd, &e) == 0)
			c->out_armed[i] = q;
	}
}

/*
 * One request: @len bytes already built in c->out (header included),
 * with @nfds fds.  Returns 0 with the decoded reply in c->m (its fds in
 * @fds/@nfds_out when given, else closed), or -errno: the server's error
 * (clamped to 1..4095), or a broken client's.
 */
static int call(struct ism_vfu_client *c, size_t len, const int *fds,
		unsigned nfds, int *rfds, unsigned *rnfds)
{
	struct vfu_hdr h;
	struct vfu_rx rx;
	uint64_t dl = deadline(c);
	int err;

	if (rnfds)
		*rnfds = 0;
	if (c->broken)
		return c->broken;
	vfu_hdr_get(c->out, &h);
	err = vfu_ep_send(&c->ep, c->out, len, fds, nfds);
	if (err)
		return breaks(c, err);
	err = wait_reply(c, h.cmd, h.id, &rx, dl);
	arm_out(c);
	if (err)
		return err;
	if (rx.h.flags & VFU_F_ERROR) {
		uint32_t e = rx.h.error;

		vfu_rx_close_fds(&rx);
		if (rx.n)
			return breaks(c, -EPROTO);
		return e > 0 && e < 4096 ? -(int)e : -EIO;
	}
	c->m.h = rx.h;
	if (rx.fds_over || vfu_msg_decode(&c->m, rx.p, rx.n, rx.nfds) < 0) {
		vfu_rx_close_fds(&rx);
		return breaks(c, -EPROTO);
	}
	if (rfds) {
		memcpy(rfds, rx.fds, rx.nfds * sizeof(int));
		*rnfds = rx.nfds;
	} else {
		vfu_rx_close_fds(&rx);
	}
	return 0;
}

/* Start a request of @cmd in c->out with @m's payload. */
static ssize_t build(struct ism_vfu_client *c, struct vfu_msg *m, uint16_t cmd)
{
	m->h = (struct vfu_hdr){ .id = c->next_id++, .cmd = cmd };
	return vfu_msg_encode(m, c->out, c->outcap);
}

/* ---- connect ------------------------------------------------------------------ */

static int negotiate(struct ism_vfu_client *c)
{
	struct vfu_msg *m = &c->dm;
	const struct vfu_caps *rc;
	struct vfu_caps *pc = &m->u.version.caps;
	int fds[VFU_MAX_FDS];
	unsigned nfds = 0;
	uint32_t proposed;
	ssize_t len;
	int err;

	memset(&m->u.version, 0, sizeof(m->u.version));
	m->u.version.major = VFU_MAJOR;
	m->u.version.minor = VFU_MINOR;
	m->u.version.has_json = true;
	pc->present = VFU_CAP_OBJECT | VFU_CAP_MAX_MSG_FDS | VFU_CAP_MAX_XFER |
		      VFU_CAP_MAX_DMA_MAPS | VFU_CAP_PGSIZES;
	pc->max_msg_fds = VFU_MAX_FDS;
	pc->max_data_xfer = c->o.max_data_xfer;
	pc->max_dma_maps = VFU_DEF_MAX_DMA_MAPS;
	pc->pgsizes = 4096;
	if (!(c->o.flags & ISM_VFU_CLIENT_NO_TWIN)) {
		pc->present |= VFU_CAP_TWIN | VFU_CAP_TWIN_SUP;
		pc->twin_supported = true;
	}
	proposed = pc->present;
	len = build(c, m, VFU_VERSION);
	if (len < 0)
		return (int)len;
	err = call(c, (size_t)len, NULL, 0, fds, &nfds);
	if (err)
		return err == -EINVAL || err == -ENOTSUP ? -ENOTSUP : err;
	rc = &c->m.u.version.caps;
	err = -EPROTO;
	/* Our major, a minor no higher than ours, and capabilities we
	 * proposed only (unknown keys were skipped by the parser). */
	if (c->m.u.version.major != VFU_MAJOR ||
	    c->m.u.version.minor > VFU_MINOR ||
	    (rc->present & ~(proposed | VFU_CAP_TWIN_INDEX)))
		goto out;
	c->srv_max_fds = (rc->present & VFU_CAP_MAX_MSG_FDS)
				 ? rc->max_msg_fds
				 : VFU_DEF_MAX_MSG_FDS;
	c->srv_max_xfer = (rc->present & VFU_CAP_MAX_XFER) ? rc->max_data_xfer
							   : VFU_DEF_MAX_XFER;
	if (c->srv_max_xfer < VFU_MIN_PEER_XFER)
		goto out;
	c->info.major = c->m.u.version.major;
	c->info.minor = c->m.u.version.minor;
	c->info.max_msg_fds = (uint32_t)ISM_MIN(c->srv_max_fds, UINT32_MAX);
	c->info.max_data_xfer = (uint32_t)ISM_MIN(c->srv_max_xfer, UINT32_MAX);
	c->info.max_dma_maps = (uint32_t)ISM_MIN(
		(rc->present & VFU_CAP_MAX_DMA_MAPS) ? rc->max_dma_maps
						     : VFU_DEF_MAX_DMA_MAPS,
		UINT32_MAX);
	c->info.pgsizes =
		(rc->present & VFU_CAP_PGSIZES) ? rc->pgsizes : VFU_DEF_PGSIZES;
	if ((rc->present & VFU_CAP_TWIN_SUP) && rc->twin_supported) {
		int t;

		/* Supported, so a valid fd_index to a socket, or abort. */
		if (!(rc->present & VFU_CAP_TWIN_INDEX) ||
		    rc->twin_fd_index >= nfds ||
		    !vfu_fd_is_unix_stream(fds[rc->twin_fd_index]))
			goto out;
		t = fds[rc->twin_fd_index];
		fds[rc->twin_fd_index] = -1;
		if (ism_set_nonblock(t) < 0) {
			close(t);
			goto out;
		}
		vfu_ep_init(&c->twin, t,
			    VFU_HDR_SIZE + VFU_DMA_RW_SIZE + c->o.max_data_xfer,
			    4u << 20);
		c->has_twin = true;
		c->info.twin = 1;
		{
			struct epoll_event e = { .events = EPOLLIN };

			if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, t, &e) < 0)
				goto out;
		}
	} else if (rc->present & VFU_CAP_TWIN_INDEX) {
		goto out;
	}
	/* No fd may be left unexplained. */
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			goto out;
	c->chunk = ISM_MIN(c->srv_max_xfer, (uint64_t)REQ_CHUNK_MAX);
	err = 0;
out:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			ism_bgclose(fds[i]);
	return err;
}

static int get_info(struct ism_vfu_client *c)
{
	struct vfu_msg *m = &c->dm;
	ssize_t len;
	int err;

	m->u.dev_info = (struct vfu_dev_info){ 16, 0, 0, 0 };
	len = build(c, m, VFU_GET_INFO);
	if (len < 0)
		return (int)len;
	err = call(c, (size_t)len, NULL, 0, NULL, NULL);
	if (err)
		return err;
	c->info.flags = c->m.u.dev_info.flags;
	c->info.num_regions = c->m.u.dev_info.num_regions;
	c->info.num_irqs = c->m.u.dev_info.num_irqs;
	return 0;
}

static int open_client(int fd, const struct ism_vfu_client_opts *opts,
		       struct ism_vfu_client **out)
{
	struct ism_vfu_client *c;
	struct epoll_event e = { .events = EPOLLIN };
	int err;

	c = calloc(1, sizeof(*c));
	if (!c) {
		ism_bgclose(fd);
		return -ENOMEM;
	}
	c->epfd = -1;
	c->twin.fd = -1;
	for (unsigned i = 0; i < MAX_REGIONS; i++)
		c->reg[i].fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	err = ism_opts_copy(&c->o, sizeof(c->o),
			    ISM_OPTS_SIZE_VER0(struct ism_vfu_client_opts, dma),
			    opts);
	if (!err &&
	    (c->o.timeout_ms < 0 ||
	     (c->o.flags &
	      ~(ISM_VFU_CLIENT_NO_TWIN | ISM_VFU_CLIENT_MAP_UNSEALED)) ||
	     (c->o.max_data_xfer && (c->o.max_data_xfer < VFU_MIN_PEER_XFER ||
				     c->o.max_data_xfer > VFU_MAX_XFER))))
		err = -EINVAL;
	if (!c->o.timeout_ms)
		c->o.timeout_ms = DEF_TIMEOUT_MS;
	if (!c->o.max_data_xfer)
		c->o.max_data_xfer = VFU_DEF_MAX_XFER;
	/* Replies: up to a region read chunk; the version's JSON. */
	vfu_ep_init(&c->ep, fd,
		    VFU_HDR_SIZE +
			    ISM_MAX(VFU_REGION_RW_SIZE + REQ_CHUNK_MAX,
				    VFU_DMA_RW_SIZE + c->o.max_data_xfer),
		    16u << 20);
	c->outcap = VFU_MSG_OVERHEAD + REQ_CHUNK_MAX;
	c->doutcap = VFU_MSG_OVERHEAD + c->o.max_data_xfer;
	c->out = malloc(c->outcap);
	c->dout = malloc(c->doutcap);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!err && (!c->out || !c->dout))
		err = -ENOMEM;
	if (!err && (c->epfd < 0 || epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &e)))
		err = -errno;
	if (!err)
		err = ism_set_nonblock(fd);
	if (!err)
		err = negotiate(c);
	if (!err)
		err = get_info(c);
	if (err) {
		ism_vfu_client_close(c);
		/* The server closing on us during VERSION: it refused. */
		return err == -ENOTCONN ? -ECONNRESET : err;
	}
	*out = c;
	return 0;
}

int ism_vfu_client_open_fd(int fd, const struct ism_vfu_client_opts *opts,
			   struct ism_vfu_client **out)
{
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	if (!vfu_fd_is_unix_stream(fd)) {
		close(fd);
		return -EINVAL;
	}
	return open_client(fd, opts, out);
}

int ism_vfu_client_connect(const char *path,
			   const struct ism_vfu_client_opts *opts,
			   struct ism_vfu_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	*out = NULL;
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return open_client(fd, opts, out);
}

static void unmap_region(struct creg *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
	r->map_len = 0;
}

void ism_vfu_client_close(struct ism_vfu_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < MAX_REGIONS; i++) {
		unmap_region(&c->reg[i]);
		ism_close_fd(&c->reg[i].fd);
	}
	/* The server may have queued fds in them: off-thread. */
	vfu_ep_close(&c->ep);
	if (c->has_twin || c->twin.fd >= 0)
		vfu_ep_close(&c->twin);
	ism_close_fd(&c->epfd);
	free(c->win);
	free(c->out);
	free(c->dout);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int ism_vfu_client_fd(struct ism_vfu_client *c)
{
	return c->epfd;
}

int ism_vfu_client_process(struct ism_vfu_client *c)
{
	struct vfu_rx rx;
	int r;

	if (pthread_mutex_trylock(&c->lock))
		return 0; /* a call is running: it serves them */
	if (c->broken) {
		r = c->broken;
		goto out;
	}
	r = vfu_ep_flush(&c->ep);
	if (r && r != -EAGAIN)
		goto fail;
	if (c->has_twin) {
		r = serve_twin(c);
		if (r)
			goto fail;
	}
	while ((r = vfu_ep_recv(&c->ep, &rx)) == 1) {
		if ((rx.h.flags & VFU_F_TYPE_MASK) != VFU_F_COMMAND) {
			vfu_rx_close_fds(&rx);
			r = -EPROTO;
			goto fail;
		}
		r = serve_command(c, &c->ep, &rx);
		if (r && r != -EAGAIN)
			goto fail;
	}
	if (r < 0)
		goto fail;
	r = 0;
	arm_out(c);
	goto out;
fail:
	r = breaks(c, r == -ENOTCONN ? r : -EPROTO);
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int ism_vfu_client_info(struct ism_vfu_client *c,
			struct ism_vfu_client_info *info)
{
	pthread_mutex_lock(&c->lock);
	*info = c->info;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- regions ----------------------------------------------------------------- */

static int region_info(struct ism_vfu_client *c, uint32_t index,
		       struct ism_vfu_region_info *info)
{
	const struct vfu_region_info_reply *ri = &c->m.u.region_info_rep;
	struct vfu_msg *m = &c->dm;
	uint32_t argsz = VFU_REGION_INFO_SIZE;
	struct creg *r;
	int fd = -1, err;
	unsigned nfds;

	if (index >= c->info.num_regions || index >= MAX_REGIONS)
		return -EINVAL;
	r = &c->reg[index];
	/* The fixed part first; when the server needs more room (caps),
	 * again with the argsz it names. */
	for (int round = 0;; round++) {
		ssize_t len;

		m->u.region_info = (struct vfu_region_info){ .argsz = argsz,
							     .index = index };
		len = build(c, m, VFU_GET_REGION_INFO);
		if (len < 0)
			return (int)len;
		err = call(c, (size_t)len, NULL, 0, &fd, &nfds);
		if (err)
			return err;
		if (ri->ri.index != index)
			goto bad;
		if (ri->full)
			break;
		if (nfds)
			ism_bgclose(fd);
		/* Growing once, to a bounded size. */
		if (round || ri->ri.argsz <= argsz ||
		    ri->ri.argsz > RI_ARGSZ_MAX)
			goto bad;
		argsz = ri->ri.argsz;
	}
	memset(info, 0, sizeof(*info));
	info->index = index;
	info->flags = ri->ri.flags;
	info->len = ri->ri.len;
	info->offset = ri->ri.offset;
	info->n_areas = ri->n_areas;
	memcpy(info->areas, ri->areas, ri->n_areas * sizeof(ri->areas[0]));
	ism_close_fd(&r->fd);
	if (nfds) {
		uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);

		/* Map only what cannot hurt us: a shmem file as large as
		 * the region, sealed against shrinking; page-aligned. */
		if (info->offset > UINT64_MAX - info->len ||
		    (info->offset & (pg - 1)) ||
		    vfu_fd_check_mem(
			    fd, info->offset + info->len,
			    !(c->o.flags & ISM_VFU_CLIENT_MAP_UNSEALED))) {
			ism_bgclose(fd);
		} else {
			r->fd = fd;
			info->mappable = 1;
		}
		for (uint32_t i = 0; i < info->n_areas && r->fd >= 0; i++)
			if ((info->areas[i].offset | info->areas[i].len) &
			    (pg - 1)) {
				ism_close_fd(&r->fd);
				info->mappable = 0;
			}
	}
	r->info = *info;
	r->have_info = true;
	return 0;
bad:
	if (nfds)
		ism_bgclose(fd);
	return breaks(c, -EPROTO);
}

int ism_vfu_client_region_info(struct ism_vfu_client *c, uint32_t index,
			       struct ism_vfu_region_info *info)
{
	int err;

	pthread_mutex_lock(&c->lock);
	err = region_info(c, index, info);
	pthread_mutex_unlock(&c->lock);
	return err;
}

int ism_vfu_client_region_map(struct ism_vfu_client *c, uint32_t index,
			      void **addr)
{
	struct ism_vfu_region_info info;
	struct creg *r;
	uint8_t *base;
	int prot, err = 0;

	pthread_mutex_lock(&c->lock);
	if (index >= MAX_REGIONS) {
		err = -EINVAL;
		goto out;
	}
	r = &c->reg[index];
	if (r->map) {
		*addr = r->map;
		goto out;
	}
	if (!r->have_info) {
		err = region_info(c, index, &info);
		if (err)
			goto out;
	}
	if (r->fd < 0 || !(r->info.flags & ISM_VFU_REGION_INFO_MMAP) ||
	    !r->info.len || r->info.len > SIZE_MAX) {
		err = -EBADF;
		goto out;
	}
	prot = PROT_READ |
	       ((r->info.flags & ISM_VFU_REGION_INFO_WRITE) ? PROT_WRITE : 0);
	/* The whole length reserved, the areas mapped over it. */
	base = mmap(NULL, (size_t)r->info.len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	r->map = base;
	r->map_len = (size_t)r->info.len;
	for (uint32_t i = 0; i < (r->info.n_areas ? r->info.n_areas : 1); i++) {
		uint64_t off = r->info.n_areas ? r->info.areas[i].offset : 0;
		uint64_t len =
			r->info.n_areas ? r->info.areas[i].len : r->info.len;

		if (mmap(base + off, (size_t)len, prot, MAP_SHARED | MAP_FIXED,
			 r->fd, (off_t)(r->info.offset + off)) == MAP_FAILED) {
			err = -errno;
			unmap_region(r);
			goto out;
		}
	}
	*addr = base;
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

int ism_vfu_client_region_unmap(struct ism_vfu_client *c, uint32_t index)
{
	int err = 0;

	pthread_mutex_lock(&c->lock);
	if (index >= MAX_REGIONS || !c->reg[index].map)
		err = -EINVAL;
	else
		unmap_region(&c->reg[index]);
	pthread_mutex_unlock(&c->lock);
	return err;
}

static ssize_t region_rw(struct ism_vfu_client *c, uint32_t index, uint64_t off,
			 uint8_t *buf, size_t len, bool is_write)
{
	size_t done = 0;

	if (len && off > UINT64_MAX - len)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	while (done < len) {
		uint32_t n =
			(uint32_t)ISM_MIN((uint64_t)(len - done), c->chunk);
		struct vfu_msg *m = &c->dm;
		const struct vfu_region_rw *r = &c->m.u.region_rw;
		ssize_t l;
		int err;

		m->u.region_rw =
			(struct vfu_region_rw){ off + done, index, n,
						is_write ? buf + done : NULL };
		l = build(c, m, is_write ? VFU_REGION_WRITE : VFU_REGION_READ);
		err = l < 0 ? (int)l : call(c, (size_t)l, NULL, 0, NULL, NULL);
		if (!err && (r->offset != off + done || r->region != index ||
			     r->count != n))
			err = breaks(c, -EPROTO);
		if (err) {
			pthread_mutex_unlock(&c->lock);
			return err;
		}
		if (!is_write)
			memcpy(buf + done, r->data, n);
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	return (ssize_t)len;
}

ssize_t ism_vfu_client_region_read(struct ism_vfu_client *c, uint32_t index,
				   uint64_t off, void *buf, size_t len)
{
	return region_rw(c, index, off, buf, len, false);
}

ssize_t ism_vfu_client_region_write(struct ism_vfu_client *c, uint32_t index,
				    uint64_t off, const void *buf, size_t len)
{
	return region_rw(c, index, off, (uint8_t *)buf, len, true);
}

int ism_vfu_client_region_io_fds(struct ism_vfu_client *c, uint32_t index,
				 struct ism_vfu_io_fd *out, uint32_t cap)
{
	struct vfu_msg *m = &c->dm;
	const struct vfu_io_fds *f = &c->m.u.io_fds;
	uint32_t argsz = 16;
	int fds[VFU_MAX_FDS], err;
	unsigned nfds = 0;

	pthread_mutex_lock(&c->lock);
	for (int round = 0;; round++) {
		ssize_t len;

		m->u.io_fds =
			(struct vfu_io_fds){ .argsz = argsz, .index = index };
		len = build(c, m, VFU_GET_REGION_IO_FDS);
		err = len < 0 ? (int)len
			      : call(c, (size_t)len, NULL, 0, fds, &nfds);
		if (err)
			goto out;
		if (f->index != index) {
			err = breaks(c, -EPROTO);
			goto close;
		}
		if (f->full)
			break;
		ism_bgclose_fds(fds, nfds);
		nfds = 0;
		if (round || f->argsz <= argsz || f->argsz > RI_ARGSZ_MAX) {
			err = breaks(c, -EPROTO);
			goto out;
		}
		argsz = f->argsz;
	}
	err = (int)f->count;
	for (uint32_t i = 0; i < f->count && i < cap; i++) {
		out[i] = (struct ism_vfu_io_fd){
			.offset = f->sub[i].offset,
			.len = f->sub[i].len,
			.fd = fcntl(fds[f->sub[i].fd_index], F_DUPFD_CLOEXEC,
				    3),
			.type = f->sub[i].type,
			.flags = f->sub[i].flags,
			.datamatch = f->sub[i].datamatch,
		};
	}
close:
	ism_bgclose_fds(fds, nfds);
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* ---- interrupts ---------------------------------------------------------------- */

int ism_vfu_client_irq_info(struct ism_vfu_client *c, uint32_t index,
			    struct ism_vfu_irq_info *info)
{
	struct vfu_msg *m = &c->dm;
	ssize_t len;
	int err;

	pthread_mutex_lock(&c->lock);
	m->u.irq_info = (struct vfu_irq_info){ 16, 0, index, 0 };
	len = build(c, m, VFU_GET_IRQ_INFO);
	err = len < 0 ? (int)len : call(c, (size_t)len, NULL, 0, NULL, NULL);
	if (!err && c->m.u.irq_info.index != index)
		err = breaks(c, -EPROTO);
	if (!err) {
		memset(info, 0, sizeof(*info));
		info->index = index;
		info->flags = c->m.u.irq_info.flags;
		info->count = c->m.u.irq_info.count;
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

static int set_irqs(struct ism_vfu_client *c, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const uint8_t *data,
		    const int *fds, unsigned nfds)
{
	struct vfu_msg *m = &c->dm;
	ssize_t len;

	m->u.set_irqs = (struct vfu_set_irqs){ .flags = flags,
					       .index = index,
					       .start = start,
					       .count = count,
					       .data = data };
	len = build(c, m, VFU_SET_IRQS);
	if (len < 0)
		return (int)len;
	return call(c, (size_t)len, fds, nfds, NULL, NULL);
}

int ism_vfu_client_irq_eventfds(struct ism_vfu_client *c, uint32_t index,
				uint32_t start, uint32_t count, const int *fds)
{
	const uint32_t flags =
		ISM_VFU_IRQ_SET_DATA_EVENTFD | ISM_VFU_IRQ_SET_ACTION_TRIGGER;
	uint32_t i = 0;
	int err = 0;

	if (!count || count > VFU_MAX_IRQS_DATA ||
	    start > VFU_MAX_IRQS_DATA - count)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	/* Broken: that, not -EOPNOTSUPP from the server's caps. */
	err = c->broken;
	while (i < count && !err) {
		uint32_t n = 1;

		if (!fds || fds[i] < 0) {
			/* A run of vectors to take away: no fds. */
			while (i + n < count && (!fds || fds[i + n] < 0))
				n++;
			err = set_irqs(c, flags, index, start + i, n, NULL,
				       NULL, 0);
		} else if (!c->srv_max_fds) {
			err = -EOPNOTSUPP;
		} else {
			/* A run of eventfds, as many as the server takes. */
			while (i + n < count && fds[i + n] >= 0 &&
			       n < ISM_MIN(c->srv_max_fds,
					   (uint64_t)VFU_MAX_FDS))
				n++;
			err = set_irqs(c, flags, index, start + i, n, NULL,
				       fds + i, n);
		}
		i += n;
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

int ism_vfu_client_irq_set(struct ism_vfu_client *c, uint32_t index,
			   uint32_t action, uint32_t start, uint32_t count,
			   const uint8_t *bools)
{
	uint32_t data =
		bools ? ISM_VFU_IRQ_SET_DATA_BOOL : ISM_VFU_IRQ_SET_DATA_NONE;
	int err;

	if (action != ISM_VFU_IRQ_SET_ACTION_MASK &&
	    action != ISM_VFU_IRQ_SET_ACTION_UNMASK &&
	    action != ISM_VFU_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (count > VFU_MAX_IRQS_DATA || (!count && (bools || start)))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	err = set_irqs(c, data | action, index, start, count, bools, NULL, 0);
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* ---- DMA windows ---------------------------------------------------------------- */

int ism_vfu_client_dma_map(struct ism_vfu_client *c,
			   const struct ism_vfu_dma_map *map)
{
	struct ism_vfu_dma_map d;
	struct vfu_msg *m = &c->dm;
	uint32_t i;
	ssize_t len;
	int err;

	err = ism_opts_copy(&d, sizeof(d),
			    ISM_OPTS_SIZE_VER0(struct ism_vfu_dma_map, vaddr),
			    map);
	if (err)
		return err;
	if (!map || !d.len || d.addr > UINT64_MAX - d.len ||
	    (d.prot & ~(ISM_VFU_DMA_READ | ISM_VFU_DMA_WRITE)) ||
	    (d.fd >= 0 && d.fd_offset > UINT64_MAX - d.len))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	i = win_lower(c, d.addr);
	if (i < c->nwin && c->win[i].addr < d.addr + d.len) {
		err = -EEXIST;
		goto out;
	}
	if (c->nwin == c->capwin) {
		uint32_t cap = c->capwin ? 2 * c->capwin : 16;
		struct cwin *nw = realloc(c->win, cap * sizeof(*nw));

		if (!nw) {
			err = -ENOMEM;
			goto out;
		}
		c->win = nw;
		c->capwin = cap;
	}
	m->u.dma_map =
		(struct vfu_dma_map){ 32, d.prot, d.fd >= 0 ? d.fd_offset : 0,
				      d.addr, d.len };
	len = build(c, m, VFU_DMA_MAP);
	err = len < 0 ? (int)len
		      : call(c, (size_t)len, d.fd >= 0 ? &d.fd : NULL,
			     d.fd >= 0 ? 1 : 0, NULL, NULL);
	if (err)
		goto out;
	/* The window exists from the reply on (the server may use it
	 * before: only after it sent the reply, which we just read). */
	memmove(&c->win[i + 1], &c->win[i], (c->nwin - i) * sizeof(c->win[0]));
	c->win[i] = (struct cwin){ d.addr, d.len, d.prot, d.vaddr };
	c->nwin++;
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

static int dma_unmap(struct ism_vfu_client *c, uint64_t addr, uint64_t len,
		     uint32_t flags)
{
	struct vfu_msg *m = &c->dm;
	ssize_t l;
	int err;

	/* DMA_READ replies still queued may point into the window: copy
	 * them before its memory may go. */
	err = vfu_ep_keep(&c->ep);
	if (!err && c->has_twin)
		err = vfu_ep_keep(&c->twin);
	if (err)
		return breaks(c, err);
	m->u.dma_unmap = (struct vfu_dma_unmap){ 24, flags, addr, len };
	l = build(c, m, VFU_DMA_UNMAP);
	err = l < 0 ? (int)l : call(c, (size_t)l, NULL, 0, NULL, NULL);
	if (!err &&
	    (c->m.u.dma_unmap.addr != addr || c->m.u.dma_unmap.len != len ||
	     c->m.u.dma_unmap.flags != flags))
		err = breaks(c, -EPROTO);
	return err;
}

int ism_vfu_client_dma_unmap(struct ism_vfu_client *c, uint64_t addr,
			     uint64_t len)
{
	uint32_t i;
	int err;

	if (!len || addr > UINT64_MAX - len)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	err = dma_unmap(c, addr, len, 0);
	if (!err) {
		i = win_lower(c, addr);
		if (i < c->nwin && c->win[i].addr == addr &&
		    c->win[i].len == len) {
			memmove(&c->win[i], &c->win[i + 1],
				(c->nwin - i - 1) * sizeof(c->win[0]));
			c->nwin--;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}

int ism_vfu_client_dma_unmap_all(struct ism_vfu_client *c)
{
	int err;

	pthread_mutex_lock(&c->lock);
	err = dma_unmap(c, 0, 0, VFU_DMA_UNMAP_FLAG_ALL);
	if (!err)
		c->nwin = 0;
	pthread_mutex_unlock(&c->lock);
	return err;
}

/* ---- the rest ------------------------------------------------------------------- */

int ism_vfu_client_reset(struct ism_vfu_client *c)
{
	struct vfu_msg *m = &c->dm;
	ssize_t len;
	int err;

	pthread_mutex_lock(&c->lock);
	len = build(c, m, VFU_DEVICE_RESET);
	err = len < 0 ? (int)len : call(c, (size_t)len, NULL, 0, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
	return err;
}

int ism_vfu_client_feature(struct ism_vfu_client *c, uint32_t flags,
			   const void *in, size_t in_len, void *out,
			   size_t out_cap)
{
	struct vfu_msg *m = &c->dm;
	ssize_t len;
	int err;

	if (in_len > VFU_MAX_FEATURE || out_cap > VFU_MAX_FEATURE)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	m->u.feature = (struct vfu_feature){ (uint32_t)(8 + out_cap), flags, in,
					     (uint32_t)in_len };
	len = build(c, m, VFU_DEVICE_FEATURE);
	err = len < 0 ? (int)len : call(c, (size_t)len, NULL, 0, NULL, NULL);
	if (!err) {
		uint32_t n = c->m.u.feature.data_len;

		if (n > out_cap)
			n = (uint32_t)out_cap;
		if (n)
			memcpy(out, c->m.u.feature.data, n);
		err = (int)c->m.u.feature.data_len;
	}
	pthread_mutex_unlock(&c->lock);
	return err;
}
