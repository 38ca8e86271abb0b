/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server: one device, one client at a time, driven from the
 * caller's thread through an epoll fd (ism/vfio_user.h).
 *
 * Concepts: the epoll set holds the listening socket, the client's
 * socket, the twin socket (server->client DMA), an eventfd (stop, and
 * work deferred by a DMA wait) and a timer (a client that does not send
 * VERSION in time is dropped).  Each ready client message is decoded
 * (vfu_wire), served, and answered in arrival order; replies the socket
 * cannot take are queued, and a client whose queue grows past a cap is
 * not read until it drains (and dropped past a harder cap).  DMA to a
 * window without a usable fd sends DMA_READ/WRITE and waits for the reply
 * on the twin socket, or on the main one, where commands that arrive
 * meanwhile are kept (bounded) and served afterwards, in order.
 *
 * Everything the client gives is checked before use: see the contract in
 * ism/vfio_user.h and docs/vfio-user.md.
 */
#include "vfio_user.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

enum { T_LISTEN = 1, T_CLIENT, T_TWIN, T_WAKE, T_TIMER };

#define DEF_MAX_DMA_MAPS  4096u
#define DEF_MAX_DMA_BYTES (1ull << 40)
#define DEF_TIMEOUT_MS	  10000
#define BUDGET		  64	     /* messages per process() */
#define MAX_DEFERRED	  64u	     /* commands kept during a DMA wait */
#define MAX_DEFERRED_B	  (8u << 20) /* ... and their bytes */
#define QUEUE_SOFT	  (1u << 20) /* stop reading a client above */
#define DMA_CHUNK_MAX	  VDEV_DMA_CHUNK_MAX
#define SPIN_GAP_NS	  20000u  /* dma_msg(): ask again this long ... */
#define SPIN_MAX_NS	  250000u /* ... and this long per message at most */

void vdev_log(struct ism_vfu_dev *d, int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!d->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->o.log(d->o.priv, level, line);
}

static uint64_t deadline(const struct ism_vfu_dev *d)
{
	return ism_now_ns() + (uint64_t)d->o.dma_timeout_ms * 1000000u;
}

/* The largest message a client may send us. */
static uint32_t max_in(const struct ism_vfu_dev *d)
{
	uint32_t m = VFU_REGION_RW_SIZE + d->o.max_data_xfer;

	m = ISM_MAX(m, VFU_DMA_RW_SIZE + DMA_CHUNK_MAX);
	m = ISM_MAX(m, 8 + VFU_MAX_MULTI * VFU_MULTI_ENTRY_SIZE);
	m = ISM_MAX(m, 8 + VFU_MAX_FEATURE);
	m = ISM_MAX(m, 4 + VFU_MAX_JSON);
	m = ISM_MAX(m, VFU_SET_IRQS_SIZE + VFU_MAX_IRQS_DATA);
	return VFU_HDR_SIZE + m;
}

/* ---- creation ------------------------------------------------------------ */

static int epoll_add(struct ism_vfu_dev *d, int fd, uint32_t tag, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.u32 = tag };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

int ism_vfu_dev_create(const struct ism_vfu_dev_opts *opts,
		       struct ism_vfu_dev **out)
{
	struct ism_vfu_dev *d;
	struct ism_vfu_dev_opts o;
	int err;

	*out = NULL;
	err = ism_opts_copy(&o, sizeof(o),
			    ISM_OPTS_SIZE_VER0(struct ism_vfu_dev_opts, log),
			    opts);
	if (err)
		return err;
	if (!opts || o.n_intx > 1 || o.n_msix > ISM_VFU_MAX_MSIX ||
	    (o.n_msi && (o.n_msi > 32 || !power_of_two(o.n_msi))) ||
	    o.max_dma_maps > 65535 || o.dma_timeout_ms < 0 ||
	    (o.max_data_xfer && (o.max_data_xfer < VFU_MIN_XFER ||
				 o.max_data_xfer > VFU_MAX_XFER)) ||
	    (o.flags & ~(ISM_VFU_DEV_PCIE | ISM_VFU_DEV_NO_TWIN |
			 ISM_VFU_DEV_MAP_UNSEALED | ISM_VFU_DEV_NO_DMA_FDS)) ||
	    o.class_code > 0xffffff)
		return -EINVAL;
	if (!o.max_dma_maps)
		o.max_dma_maps = DEF_MAX_DMA_MAPS;
	if (!o.max_dma_bytes)
		o.max_dma_bytes = DEF_MAX_DMA_BYTES;
	if (!o.max_data_xfer)
		o.max_data_xfer = VFU_DEF_MAX_XFER;
	if (!o.dma_timeout_ms)
		o.dma_timeout_ms = DEF_TIMEOUT_MS;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->o = o;
	d->epfd = d->wake = d->timer = d->listen_fd = -1;
	d->ep.fd = d->twin.fd = -1;
	d->dqtail = &d->dq;
	for (unsigned i = 0; i < N_REGS; i++)
		d->reg[i].fd = -1;
	d->irq[ISM_VFU_IRQ_INTX].count = o.n_intx;
	d->irq[ISM_VFU_IRQ_MSI].count = o.n_msi;
	d->irq[ISM_VFU_IRQ_MSIX].count = o.n_msix;
	d->irq[ISM_VFU_IRQ_ERR].count = 1;
	d->irq[ISM_VFU_IRQ_REQ].count = 1;
	err = -ENOMEM;
	for (unsigned i = 0; i < ISM_VFU_NUM_IRQS; i++) {
		struct virq *q = &d->irq[i];

		if (!q->count)
			continue;
		q->v = calloc(q->count, sizeof(*q->v));
		if (!q->v)
			goto fail;
		for (uint32_t k = 0; k < q->count; k++)
			q->v[k].efd = q->v[k].mask_efd = q->v[k].unmask_efd =
				-1;
	}
	if (o.n_msix) {
		d->msix_table = calloc(o.n_msix, 16);
		d->msix_written = calloc(o.n_msix, 1);
		if (!d->msix_table || !d->msix_written)
			goto fail;
		for (uint32_t k = 0; k < o.n_msix; k++)
			d->msix_table[16 * k + 12] = 1; /* masked at reset */
	}
	d->outcap = VFU_MSG_OVERHEAD + o.max_data_xfer;
	d->out = malloc(d->outcap);
	d->dmacap = VFU_HDR_SIZE + VFU_DMA_RW_SIZE; /* the data is not copied */
	d->dmabuf = malloc(d->dmacap);
	if (!d->out || !d->dmabuf)
		goto fail;
	pci_init(d);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->epfd < 0 || d->wake < 0 || d->timer < 0) {
		err = -errno;
		goto fail;
	}
	err = epoll_add(d, d->wake, T_WAKE, EPOLLIN);
	if (!err)
		err = epoll_add(d, d->timer, T_TIMER, EPOLLIN);
	if (err)
		goto fail;
	*out = d;
	return 0;
fail:
	ism_vfu_dev_destroy(d);
	return err;
}

static void free_region(struct vreg *r)
{
	if (r->map)
		munmap(r->map, r->len);
	ism_close_fd(&r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static bool areas_ok(const struct ism_vfu_region *r, uint64_t pg)
{
	uint64_t prev_end = 0;

	if (r->n_areas > ISM_VFU_MAX_AREAS || (r->n_areas && !r->areas))
		return false;
	for (uint32_t i = 0; i < r->n_areas; i++) {
		const struct ism_vfu_area *a = &r->areas[i];

		/* Page aligned, inside, in order, apart. */
		if (!a->len || (a->offset | a->len) & (pg - 1) ||
		    a->offset > r->len || a->len > r->len - a->offset ||
		    (i && a->offset < prev_end))
			return false;
		prev_end = a->offset + a->len;
	}
	return true;
}

int ism_vfu_dev_set_region(struct ism_vfu_dev *d, uint32_t index,
			   const struct ism_vfu_region *ropts)
{
	struct ism_vfu_region r;
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	struct vreg v = { .fd = -1 };
	int err, seals;

	err = ism_opts_copy(&r, sizeof(r),
			    ISM_OPTS_SIZE_VER0(struct ism_vfu_region, areas),
			    ropts);
	if (err)
		return err;
	if (d->have_client)
		return -EBUSY;
	if (!ropts || index >= N_REGS ||
	    (r.flags &
	     ~(ISM_VFU_REGION_READ | ISM_VFU_REGION_WRITE | ISM_VFU_REGION_IO |
	       ISM_VFU_REGION_MEM64 | ISM_VFU_REGION_PREFETCH)) ||
	    !power_of_two(r.len) || (!r.access && r.fd < 0) ||
	    (r.n_areas && r.fd < 0) || !areas_ok(&r, pg))
		return -EINVAL;
	if (r.flags & ISM_VFU_REGION_IO) {
		if (r.len < 4 || r.len > 256 || index == ISM_VFU_ROM ||
		    (r.flags &
		     (ISM_VFU_REGION_MEM64 | ISM_VFU_REGION_PREFETCH)))
			return -EINVAL;
	} else if (index == ISM_VFU_ROM) {
		if (r.len < 2048 || r.len > (1u << 31) ||
		    (r.flags & (ISM_VFU_REGION_MEM64 | ISM_VFU_REGION_WRITE |
				ISM_VFU_REGION_PREFETCH)))
			return -EINVAL;
	} else if (r.len < 16 ||
		   (!(r.flags & ISM_VFU_REGION_MEM64) && r.len > (1u << 31))) {
		return -EINVAL;
	}
	if (r.flags & ISM_VFU_REGION_MEM64) {
		/* It takes the next BAR's register too. */
		if (index + 1 >= N_BARS || d->reg[index + 1].set)
			return -EINVAL;
	}
	if (index > 0 && index < N_BARS && d->reg[index - 1].set &&
	    (d->reg[index - 1].flags & ISM_VFU_REGION_MEM64))
		return -EINVAL;
	if (r.fd >= 0) {
		if (r.fd_offset & (pg - 1) || !r.len ||
		    r.fd_offset > UINT64_MAX - r.len)
			return -EINVAL;
		if (vfu_fd_check_mem(r.fd, r.fd_offset + r.len, false))
			return -EBADF;
		/* The client gets this file: it must not shrink under our
		 * mapping (or grow, which costs us memory). */
		seals = fcntl(r.fd, F_GET_SEALS);
		if (!(seals & F_SEAL_SHRINK) &&
		    fcntl(r.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			return -EBADF;
		v.fd = fcntl(r.fd, F_DUPFD_CLOEXEC, 3);
		if (v.fd < 0)
			return -errno;
		v.map = mmap(NULL, r.len,
			     PROT_READ | ((r.flags & ISM_VFU_REGION_WRITE)
						  ? PROT_WRITE
						  : 0),
			     MAP_SHARED, v.fd, (off_t)r.fd_offset);
		if (v.map == MAP_FAILED) {
			err = -errno;
			close(v.fd);
			return err;
		}
	}
	v.set = true;
	v.flags = r.flags;
	v.len = r.len;
	v.access = r.access;
	v.fd_offset = r.fd_offset;
	v.n_areas = r.n_areas;
	if (r.n_areas)
		memcpy(v.areas, r.areas, r.n_areas * sizeof(r.areas[0]));
	free_region(&d->reg[index]);
	d->reg[index] = v;
	d->bar_addr[index] = 0;
	return 0;
}

/* ---- sockets --------------------------------------------------------------- */

static int set_listen(struct ism_vfu_dev *d, int fd)
{
	int err;

	if (!d->realized) {
		err = pci_realize(d);
		if (err)
			return err;
		d->realized = true;
	}
	if (d->listen_fd >= 0 || d->have_client)
		return -EBUSY;
	err = epoll_add(d, fd, T_LISTEN, EPOLLIN);
	if (err)
		return err;
	d->listen_fd = fd;
	return 0;
}

int ism_vfu_dev_listen(struct ism_vfu_dev *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	if (d->listen_fd >= 0 || d->have_client)
		return -EBUSY;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int c;

		err = -errno;
		/* A socket nobody answers on is a leftover: replace it.
		 * Anything else there is not ours to remove. */
		if (err != -EADDRINUSE || lstat(path, &st) < 0 ||
		    !S_ISSOCK(st.st_mode))
			goto fail;
		c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			   0);
		if (c < 0)
			goto fail;
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno != ECONNREFUSED) {
			close(c);
			goto fail;
		}
		close(c);
		if (unlink(path) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			err = -errno;
			goto fail;
		}
	}
	/* Nobody can connect before listen(): restrict first. */
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 ||
	    listen(fd, 4) < 0) {
		err = -errno;
		unlink(path);
		goto fail;
	}
	err = set_listen(d, fd);
	if (err) {
		unlink(path);
		goto fail;
	}
	memcpy(d->path, path, strlen(path) + 1);
	d->path_ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return err;
}

static void start_client(struct ism_vfu_dev *d, int fd);

int ism_vfu_dev_attach_fd(struct ism_vfu_dev *d, int fd)
{
	int v = 0, err;
	socklen_t len = sizeof(v);

	if (fd < 0)
		return -EBADF;
	if (d->listen_fd >= 0 || d->have_client) {
		close(fd);
		return -EBUSY;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0) {
		err = errno == ENOTSOCK ? -ENOTSOCK : -errno;
		close(fd);
		return err;
	}
	if (v != AF_UNIX) {
		close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	err = ism_set_nonblock(fd);
	if (err) {
		close(fd);
		return err;
	}
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v) {
		err = set_listen(d, fd);
		if (err)
			close(fd);
		return err;
	}
	if (!vfu_fd_is_unix_stream(fd)) {
		close(fd);
		return -EINVAL;
	}
	if (!d->realized) {
		err = pci_realize(d);
		if (err) {
			close(fd);
			return err;
		}
		d->realized = true;
	}
	d->single = true;
	start_client(d, fd);
	return d->have_client ? 0 : -ENOMEM;
}

int ism_vfu_dev_fd(struct ism_vfu_dev *d)
{
	return d->epfd;
}

static void watch(struct ism_vfu_dev *d)
{
	struct epoll_event e = { .data.u32 = T_CLIENT };

	if (!d->have_client)
		return;
	/* A client that does not read its replies is not read either. */
	e.events = d->ep.qbytes > QUEUE_SOFT ? 0 : EPOLLIN;
	if (vfu_ep_queued(&d->ep))
		e.events |= EPOLLOUT;
	if (e.events == d->watched)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->ep.fd, &e) == 0)
		d->watched = e.events;
}

static void arm_timer(struct ism_vfu_dev *d, int ms)
{
	struct itimerspec t = { .it_value = { .tv_sec = ms / 1000,
					      .tv_nsec = (ms % 1000) *
							 1000000L } };

	timerfd_settime(d->timer, 0, &t, NULL);
}

static void start_client(struct ism_vfu_dev *d, int fd)
{
	vfu_ep_init(&d->ep, fd, max_in(d), 4 * QUEUE_SOFT + d->outcap);
	if (epoll_add(d, fd, T_CLIENT, EPOLLIN)) {
		vfu_ep_close(&d->ep);
		return;
	}
	d->watched = EPOLLIN;
	d->have_client = true;
	d->negotiated = d->dead = d->has_twin = d->write_multi = false;
	d->cl_max_fds = VFU_DEF_MAX_MSG_FDS;
	d->cl_max_xfer = VFU_DEF_MAX_XFER;
	/* VERSION within the DMA timeout, or the next client's turn. */
	arm_timer(d, d->o.dma_timeout_ms);
	vdev_log(d, ISM_VFU_LOG_DEBUG, "client connected");
}

/* ---- interrupts -------------------------------------------------------------- */

/* Signal an eventfd the client gave us.  Its file description is shared
 * with the client, who may have left it blocking: only write when the
 * counter has room (a saturated counter is as good as signalled). */
static void signal_efd(int efd)
{
	uint64_t one = 1;
	int fl = fcntl(efd, F_GETFL);

	if (fl < 0)
		return;
	if (!(fl & O_NONBLOCK)) {
		struct pollfd p = { .fd = efd, .events = POLLOUT };

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
			return;
	}
	if (write(efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: saturated; nothing else is possible. */
	}
}

static bool vec_masked(struct ism_vfu_dev *d, uint32_t index, uint32_t v)
{
	return d->irq[index].v[v].masked ||
	       (index == ISM_VFU_IRQ_MSIX && pci_msix_masked(d, v));
}

static int fire(struct ism_vfu_dev *d, uint32_t index, uint32_t v)
{
	struct vec *x = &d->irq[index].v[v];

	if (x->efd < 0 || vec_masked(d, index, v)) {
		x->pending = true;
		return 0;
	}
	x->pending = false;
	signal_efd(x->efd);
	d->st.irqs++;
	return 1;
}

void vdev_irq_recheck(struct ism_vfu_dev *d, uint32_t index)
{
	struct virq *q = &d->irq[index];

	for (uint32_t v = 0; v < q->count; v++)
		if (q->v[v].pending)
			fire(d, index, v);
}

int ism_vfu_irq_trigger(struct ism_vfu_dev *d, uint32_t index, uint32_t vector)
{
	if (index >= ISM_VFU_NUM_IRQS || vector >= d->irq[index].count)
		return -EINVAL;
	return fire(d, index, vector);
}

static void close_irq_fds(struct ism_vfu_dev *d)
{
	for (unsigned i = 0; i < ISM_VFU_NUM_IRQS; i++)
		for (uint32_t k = 0; k < d->irq[i].count; k++) {
			struct vec *x = &d->irq[i].v[k];

			/* Checked eventfds: closing cannot wait. */
			ism_close_fd(&x->efd);
			ism_close_fd(&x->mask_efd);
			ism_close_fd(&x->unmask_efd);
			x->masked = false;
		}
}

/* ---- DMA windows ------------------------------------------------------------- */

/* The first window ending after @addr (windows are sorted, apart). */
static uint32_t win_lower(const struct ism_vfu_dev *d, uint64_t addr)
{
	uint32_t lo = 0, hi = d->nwin;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct win *w = &d->win[mid];

		if (w->addr + w->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void win_drop(struct ism_vfu_dev *d, uint32_t i)
{
	struct win *w = &d->win[i];

	if (d->o.dma_unmap)
		d->o.dma_unmap(d->o.priv, w->addr, w->len);
	if (w->map) {
		munmap(w->map, w->map_len);
		d->mapped_bytes -= w->len;
		d->nmapped--;
	}
	memmove(w, w + 1, (d->nwin - i - 1) * sizeof(*w));
	d->nwin--;
}

static void win_drop_all(struct ism_vfu_dev *d)
{
	while (d->nwin)
		win_drop(d, d->nwin - 1);
	free(d->win);
	d->win = NULL;
	d->capwin = 0;
}

static int dma_msg(struct ism_vfu_dev *d, uint16_t cmd, uint64_t addr,
		   uint8_t *buf, size_t n);

static int dma_rw(struct ism_vfu_dev *d, uint64_t addr, uint8_t *buf,
		  size_t len, bool is_write)
{
	uint32_t need = is_write ? ISM_VFU_DMA_WRITE : ISM_VFU_DMA_READ;

	if (!d->negotiated || d->dead)
		return -ENOTCONN;
	if (len && addr > UINT64_MAX - (len - 1))
		return -EFAULT;
	while (len) {
		uint32_t i = win_lower(d, addr);
		struct win *w = i < d->nwin ? &d->win[i] : NULL;
		size_t n;

		if (!w || w->addr > addr || !(w->prot & need))
			return -EFAULT;
		n = (size_t)ISM_MIN((uint64_t)len, w->addr + w->len - addr);
		if (w->p) {
			if (is_write)
				memcpy(w->p + (addr - w->addr), buf, n);
			else
				memcpy(buf, w->p + (addr - w->addr), n);
		} else {
			size_t chunk = (size_t)ISM_MIN(d->cl_max_xfer,
						       (uint64_t)DMA_CHUNK_MAX);

			for (size_t k = 0; k < n; k += chunk) {
				size_t c = ISM_MIN(chunk, n - k);
				int err = dma_msg(d,
						  is_write ? VFU_DMA_WRITE
							   : VFU_DMA_READ,
						  addr + k, buf + k, c);

				if (err)
					return err;
			}
		}
		d->st.dma_bytes += n;
		addr += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int ism_vfu_dma_read(struct ism_vfu_dev *d, uint64_t addr, void *buf,
		     size_t len)
{
	return dma_rw(d, addr, buf, len, false);
}

int ism_vfu_dma_write(struct ism_vfu_dev *d, uint64_t addr, const void *buf,
		      size_t len)
{
	return dma_rw(d, addr, (uint8_t *)buf, len, true);
}

/* Keep a command that arrived during a DMA wait, to serve it after. */
static int defer(struct ism_vfu_dev *d, struct vfu_rx *rx)
{
	struct deferred *q;

	if (d->ndq >= MAX_DEFERRED || d->dq_bytes + rx->n > MAX_DEFERRED_B)
		return -ENOBUFS;
	q = malloc(sizeof(*q) + rx->n);
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	q->rx = *rx;
	memcpy(q->data, rx->p, rx->n);
	q->rx.p = q->data;
	rx->nfds = 0; /* they are the queue's now */
	*d->dqtail = q;
	d->dqtail = &q->next;
	d->ndq++;
	d->dq_bytes += rx->n;
	return 0;
}

static int dma_msg(struct ism_vfu_dev *d, uint16_t cmd, uint64_t addr,
		   uint8_t *buf, size_t n)
{
	struct vfu_ep *ep = d->has_twin ? &d->twin : &d->ep;
	uint64_t dl = deadline(d);
	uint16_t id = d->next_id++;
	size_t data = cmd == VFU_DMA_WRITE ? n : 0;
	struct vfu_hdr h = { .id = id,
			     .cmd = cmd,
			     .size = (uint32_t)(VFU_HDR_SIZE + VFU_DMA_RW_SIZE +
						data),
			     .flags = VFU_F_COMMAND };
	struct vfu_msg *m = &d->dm;
	uint64_t t_in = 0, t_spin = 0;
	size_t in = 0;
	struct iovec iov[2];
	struct ism_wbuf b;
	struct vfu_rx rx;
	int r;

	/* The fixed part here (a DMA_READ is nothing else); a DMA_WRITE's
	 * data goes from @buf as the socket takes it (n is at most
	 * DMA_CHUNK_MAX: no overflow). */
	ism_wbuf_init(&b, d->dmabuf, d->dmacap);
	vfu_hdr_put(&b, &h);
	ism_wbuf_le64(&b, addr);
	ism_wbuf_le64(&b, n);
	if (b.err)
		return -EINVAL;
	iov[0] = (struct iovec){ d->dmabuf, b.len };
	iov[1] = (struct iovec){ buf, data };
	d->st.dma_msgs++;
	/* A DMA_READ reply's data goes from the socket straight to @buf. */
	if (cmd == VFU_DMA_READ)
		vfu_ep_steer(ep, cmd, id, VFU_DMA_RW_SIZE, buf, n);
	r = vfu_ep_sendv_wait(ep, iov, 2, NULL, 0, dl);
	if (r)
		goto dead;
	/* Wait first: the reply cannot be there before the request left. */
	for (r = 0;; r = vfu_ep_recv(ep, &rx)) {
		if (r == 0 && vfu_ep_progress(ep)) {
			/* Part of a reply is in, the rest on its way (a large
			 * one comes in the kernel's pieces, a few microseconds
			 * apart): while it keeps coming, ask again rather than
			 * sleep and be woken for each piece, which costs more
			 * (and, on a busy CPU, a wait for it each time).  Only
			 * while bytes came in the last SPIN_GAP_NS, and for
			 * SPIN_MAX_NS per message at most: a client that
			 * trickles bytes costs no more CPU than that. */
			uint64_t t = ism_now_ns();

			if (!t_spin)
				t_spin = t;
			if (vfu_ep_progress(ep) != in) {
				in = vfu_ep_progress(ep);
				t_in = t;
			}
			if (t - t_in < SPIN_GAP_NS && t - t_spin < SPIN_MAX_NS)
				continue;
		}
		if (r == 0) {
			r = vfu_wait_fd(ep->fd, POLLIN, dl);
			if (r == 0)
				r = -ETIMEDOUT;
			if (r < 0)
				goto dead;
			continue;
		}
		if (r < 0)
			goto dead;
		if ((rx.h.flags & VFU_F_TYPE_MASK) == VFU_F_COMMAND) {
			/* Main socket: a command pipelined meanwhile, served
			 * after this.  Twin socket: nothing but replies. */
			r = ep == &d->twin ? -EPROTO : defer(d, &rx);
			if (r) {
				vfu_rx_close_fds(&rx);
				r = -EPROTO;
				goto dead;
			}
			continue;
		}
		if (rx.h.cmd != cmd || rx.h.id != id) {
			/* A reply to nothing we asked: ignored. */
			vfu_rx_close_fds(&rx);
			continue;
		}
		if (rx.nfds) {
			vfu_rx_close_fds(&rx);
			r = -EPROTO;
			goto dead;
		}
		vfu_ep_unsteer(ep);
		if (rx.h.flags & VFU_F_ERROR) {
			vdev_log(d, ISM_VFU_LOG_DEBUG,
				 "%s at 0x%llx: client error %u",
				 vfu_cmd_name(cmd), (unsigned long long)addr,
				 rx.h.error);
			return rx.n ? -EPROTO : -EIO;
		}
		if (rx.steered) {
			/* The data is in @buf already; the size was exact. */
			struct ism_rbuf rb;

			ism_rbuf_init(&rb, rx.p, rx.n);
			if (ism_rbuf_le64(&rb) != addr ||
			    ism_rbuf_le64(&rb) != n || rb.err ||
			    ism_rbuf_left(&rb)) {
				r = -EPROTO;
				goto dead;
			}
			return 0;
		}
		m->h = rx.h;
		if (vfu_msg_decode(m, rx.p, rx.n, 0) < 0 ||
		    m->u.dma_rw.addr != addr || m->u.dma_rw.count != n) {
			r = -EPROTO;
			goto dead;
		}
		if (cmd == VFU_DMA_READ)
			memcpy(buf, m->u.dma_rw.data, n);
		return 0;
	}
dead:
	vfu_ep_unsteer(ep);
	/* No reply in time, a bad one, or no client: the stream cannot be
	 * trusted any more. */
	vdev_log(d, ISM_VFU_LOG_ERR, "%s at 0x%llx: %s; dropping the client",
		 vfu_cmd_name(cmd), (unsigned long long)addr, strerror(-r));
	d->dead = true;
	return r == -ETIMEDOUT || r == -EPROTO ? r : -ENOTCONN;
}

/* ---- serving ------------------------------------------------------------------- */

/* Where a handler builds its reply. */
struct reply {
	size_t len;
	int fds[1];
	unsigned nfds;
};

static ssize_t encode_reply(struct ism_vfu_dev *d, struct vfu_msg *r)
{
	r->h.flags = VFU_F_REPLY;
	return vfu_msg_encode(r, d->out, d->outcap);
}

static int h_version(struct ism_vfu_dev *d, struct vfu_msg *m,
		     struct reply *rep)
{
	const struct vfu_caps *c = &m->u.version.caps;
	struct vfu_msg *r = &d->dm;
	struct vfu_caps *rc = &r->u.version.caps;
	int sv[2] = { -1, -1 };
	ssize_t len;

	if (d->negotiated)
		return -EINVAL;
	if (m->u.version.major != VFU_MAJOR)
		return -ENOTSUP;
	if (c->present & VFU_CAP_MAX_MSG_FDS)
		d->cl_max_fds = ISM_MIN(c->max_msg_fds, (uint64_t)VFU_MAX_FDS);
	if (c->present & VFU_CAP_MAX_XFER) {
		if (c->max_data_xfer < VFU_MIN_PEER_XFER)
			return -EINVAL;
		d->cl_max_xfer = c->max_data_xfer;
	}
	d->write_multi =
		(c->present & VFU_CAP_WRITE_MULTI) && c->write_multiple;

	/* The reply's capabilities: a subset of those proposed, each with
	 * our value. */
	memset(r, 0, sizeof(r->h) + sizeof(r->u.version));
	r->h = (struct vfu_hdr){ .id = m->h.id, .cmd = VFU_VERSION };
	r->u.version.major = VFU_MAJOR;
	r->u.version.minor = VFU_MINOR;
	r->u.version.has_json = m->u.version.has_json;
	rc->present = c->present & (VFU_CAP_OBJECT | VFU_CAP_MAX_MSG_FDS |
				    VFU_CAP_MAX_XFER | VFU_CAP_MAX_DMA_MAPS |
				    VFU_CAP_PGSIZES | VFU_CAP_WRITE_MULTI);
	rc->max_msg_fds = VFU_MAX_FDS;
	rc->max_data_xfer = d->o.max_data_xfer;
	rc->max_dma_maps = d->o.max_dma_maps;
	rc->pgsizes = 4096;
	rc->write_multiple = d->write_multi;
	if (c->present & VFU_CAP_TWIN) {
		rc->present |= VFU_CAP_TWIN | VFU_CAP_TWIN_SUP;
		if (c->twin_supported && d->cl_max_fds >= 1 &&
		    !(d->o.flags & ISM_VFU_DEV_NO_TWIN) &&
		    socketpair(AF_UNIX,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			       sv) == 0) {
			rc->twin_supported = true;
			rc->present |= VFU_CAP_TWIN_INDEX;
			rc->twin_fd_index = 0;
		}
	}
	len = encode_reply(d, r);
	if (len < 0) {
		ism_close_fd(&sv[0]);
		ism_close_fd(&sv[1]);
		return (int)len;
	}
	rep->len = (size_t)len;
	if (sv[0] >= 0) {
		/* Room for a whole DMA message each way: a 1 MiB reply
		 * leaves in one send and is read as it comes, rather than
		 * in pieces that wake each side in turn.  Best effort (the
		 * twin works with the default size, and net.core.wmem_max
		 * and rmem_max may cap it). */
		for (int i = 0; i < 2; i++)
			(void)vfu_sock_fit(sv[i], VDEV_TWIN_MSG_MAX);
		vfu_ep_init(&d->twin, sv[0], VDEV_TWIN_MSG_MAX,
			    QUEUE_SOFT + VFU_MSG_OVERHEAD + DMA_CHUNK_MAX);
		if (epoll_add(d, sv[0], T_TWIN, EPOLLIN)) {
			vfu_ep_close(&d->twin);
			close(sv[1]);
			return -ENOMEM;
		}
		d->has_twin = true;
		rep->fds[0] = sv[1];
		rep->nfds = 1;
	}
	return 0;
}

static int h_dma_map(struct ism_vfu_dev *d, struct vfu_msg *m,
		     struct vfu_rx *rx)
{
	const struct vfu_dma_map *dm = &m->u.dma_map;
	struct win w = { .addr = dm->addr, .len = dm->len, .prot = dm->flags };
	uint32_t i = win_lower(d, dm->addr);
	int fd = rx->nfds ? rx->fds[0] : -1;

	if (d->nwin >= d->o.max_dma_maps)
		return -ENOSPC;
	/* The first window ending after addr must start at or after the
	 * new window's end. */
	if (i < d->nwin && d->win[i].addr < dm->addr + dm->len)
		return -EEXIST;
	if (fd >= 0 && !(d->o.flags & ISM_VFU_DEV_NO_DMA_FDS)) {
		int err = vfu_fd_check_mem(
			fd, dm->offset + dm->len,
			!(d->o.flags & ISM_VFU_DEV_MAP_UNSEALED));
		int prot = ((dm->flags & ISM_VFU_DMA_READ) ? PROT_READ : 0) |
			   ((dm->flags & ISM_VFU_DMA_WRITE) ? PROT_WRITE : 0);

		if (err == -ENOSPC)
			return -EINVAL; /* the file is smaller than the window */
		if (!err && prot) {
			uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
			uint64_t base = dm->offset & ~(pg - 1);
			uint64_t delta = dm->offset - base, mlen;

			if (d->mapped_bytes + dm->len > d->o.max_dma_bytes)
				return -ENOSPC;
			if (!ism_round_up(delta + dm->len, pg, &mlen) ||
			    mlen > SIZE_MAX)
				return -EINVAL;
			w.map = mmap(NULL, (size_t)mlen, prot, MAP_SHARED, fd,
				     (off_t)base);
			if (w.map == MAP_FAILED)
				return -errno;
			w.map_len = (size_t)mlen;
			w.p = (uint8_t *)w.map + delta;
		}
		if (err != -EBADF) {
			/* A shmem file, mapped or not: closing cannot wait.
			 * The mapping keeps what it needs. */
			close(fd);
			rx->fds[0] = -1;
		}
		if (err && err != -ENOSPC)
			vdev_log(d, ISM_VFU_LOG_DEBUG,
				 "DMA window 0x%llx: fd not mapped (%s), "
				 "messages instead",
				 (unsigned long long)dm->addr, strerror(-err));
	}
	if (d->nwin == d->capwin) {
		uint32_t cap = d->capwin ? 2 * d->capwin : 16;
		struct win *nw = realloc(d->win, cap * sizeof(*nw));

		if (!nw) {
			if (w.map)
				munmap(w.map, w.map_len);
			return -ENOMEM;
		}
		d->win = nw;
		d->capwin = cap;
	}
	memmove(&d->win[i + 1], &d->win[i], (d->nwin - i) * sizeof(w));
	d->win[i] = w;
	d->nwin++;
	if (w.map) {
		d->nmapped++;
		d->mapped_bytes += w.len;
	}
	d->st.dma_maps++;
	return 0;
}

static int h_dma_unmap(struct ism_vfu_dev *d, struct vfu_msg *m)
{
	const struct vfu_dma_unmap *u = &m->u.dma_unmap;
	uint32_t i;

	if (u->flags & VFU_DMA_UNMAP_FLAG_ALL) {
		while (d->nwin)
			win_drop(d, d->nwin - 1);
		return 0;
	}
	i = win_lower(d, u->addr);
	if (i < d->nwin && d->win[i].addr == u->addr &&
	    d->win[i].len == u->len) {
		win_drop(d, i);
		return 0;
	}
	/* Not exactly one window: part of one (or more), or none at all. */
	if (i < d->nwin && d->win[i].addr < u->addr + u->len)
		return -EINVAL;
	return -ENOENT;
}

static void region_desc(struct ism_vfu_dev *d, uint32_t idx, uint32_t *flags,
			uint64_t *len, struct vreg **r)
{
	*r = NULL;
	*flags = 0;
	*len = 0;
	if (idx == ISM_VFU_CONFIG) {
		*flags = ISM_VFU_REGION_INFO_READ | ISM_VFU_REGION_INFO_WRITE;
		*len = d->cfg_size;
	} else if (idx < N_REGS && d->reg[idx].set) {
		*r = &d->reg[idx];
		*len = (*r)->len;
		if ((*r)->flags & ISM_VFU_REGION_READ)
			*flags |= ISM_VFU_REGION_INFO_READ;
		if ((*r)->flags & ISM_VFU_REGION_WRITE)
			*flags |= ISM_VFU_REGION_INFO_WRITE;
		if ((*r)->fd >= 0 && d->cl_max_fds >= 1)
			*flags |= ISM_VFU_REGION_INFO_MMAP;
	}
}

static int h_region_info(struct ism_vfu_dev *d, struct vfu_msg *m,
			 struct reply *rep)
{
	uint32_t idx = m->u.region_info.index, flags;
	struct vfu_msg *r = &d->dm;
	struct vfu_region_info_reply *ri = &r->u.region_info_rep;
	uint32_t need = VFU_REGION_INFO_SIZE;
	struct vreg *v;
	uint64_t len;
	ssize_t n;

	if (idx >= ISM_VFU_NUM_REGIONS)
		return -EINVAL;
	region_desc(d, idx, &flags, &len, &v);
	memset(ri, 0, sizeof(*ri));
	r->h = (struct vfu_hdr){ .id = m->h.id, .cmd = VFU_GET_REGION_INFO };
	ri->ri.flags = flags;
	ri->ri.index = idx;
	ri->ri.len = len;
	if (flags & ISM_VFU_REGION_INFO_MMAP) {
		ri->ri.offset = v->fd_offset;
		ri->n_areas = v->n_areas;
		memcpy(ri->areas, v->areas, v->n_areas * sizeof(v->areas[0]));
		if (v->n_areas)
			need += VFU_SPARSE_AREAS_OFFSET + 16 * v->n_areas;
	}
	ri->ri.argsz = need;
	/* Too little room: the fixed part and the argsz it needs; no caps,
	 * no fd (the client asks again). */
	ri->full = m->u.region_info.argsz >= need;
	n = encode_reply(d, r);
	if (n < 0)
		return (int)n;
	rep->len = (size_t)n;
	if (ri->full && (flags & ISM_VFU_REGION_INFO_MMAP)) {
		char path[64];
		int fd;

		/* Its own open file description: flags it sets stay its. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", v->fd);
		fd = open(path, ((v->flags & ISM_VFU_REGION_WRITE) ? O_RDWR
								   : O_RDONLY) |
					O_CLOEXEC);
		if (fd < 0)
			return -errno;
		rep->fds[0] = fd;
		rep->nfds = 1;
	}
	return 0;
}

static int h_irq_info(struct ism_vfu_dev *d, struct vfu_msg *m,
		      struct reply *rep)
{
	uint32_t idx = m->u.irq_info.index, flags = ISM_VFU_IRQ_INFO_EVENTFD;
	struct vfu_msg *r = &d->dm;
	ssize_t n;

	if (idx >= ISM_VFU_NUM_IRQS)
		return -EINVAL;
	if (idx == ISM_VFU_IRQ_INTX || idx == ISM_VFU_IRQ_MSI ||
	    idx == ISM_VFU_IRQ_MSIX)
		flags |= ISM_VFU_IRQ_INFO_MASKABLE;
	if (idx == ISM_VFU_IRQ_MSI)
		flags |= ISM_VFU_IRQ_INFO_NORESIZE;
	r->h = (struct vfu_hdr){ .id = m->h.id, .cmd = VFU_GET_IRQ_INFO };
	r->u.irq_info =
		(struct vfu_irq_info){ 16, flags, idx, d->irq[idx].count };
	n = encode_reply(d, r);
	if (n < 0)
		return (int)n;
	rep->len = (size_t)n;
	return 0;
}

static int h_set_irqs(struct ism_vfu_dev *d, struct vfu_msg *m,
		      struct vfu_rx *rx)
{
	const struct vfu_set_irqs *s = &m->u.set_irqs;
	uint32_t data = s->flags &
			(ISM_VFU_IRQ_SET_DATA_NONE | ISM_VFU_IRQ_SET_DATA_BOOL |
			 ISM_VFU_IRQ_SET_DATA_EVENTFD);
	uint32_t act = s->flags & ~data;
	struct virq *q;

	if (s->index >= ISM_VFU_NUM_IRQS)
		return -EINVAL;
	q = &d->irq[s->index];
	if (!s->count) {
		/* DATA_NONE, count 0: TRIGGER disables the whole index. */
		if (act == ISM_VFU_IRQ_SET_ACTION_TRIGGER)
			for (uint32_t k = 0; k < q->count; k++)
				ism_close_fd(&q->v[k].efd);
		return 0;
	}
	if (s->start > q->count || s->count > q->count - s->start)
		return -EINVAL;
	if (data == ISM_VFU_IRQ_SET_DATA_EVENTFD) {
		for (unsigned i = 0; i < rx->nfds; i++)
			if (!vfu_fd_is_eventfd(rx->fds[i]))
				return -EINVAL;
		for (uint32_t i = 0; i < s->count; i++) {
			struct vec *x = &q->v[s->start + i];
			int *slot = act == ISM_VFU_IRQ_SET_ACTION_TRIGGER
					    ? &x->efd
				    : act == ISM_VFU_IRQ_SET_ACTION_MASK
					    ? &x->mask_efd
					    : &x->unmask_efd;

			ism_close_fd(slot);
			if (rx->nfds) {
				*slot = rx->fds[i];
				rx->fds[i] = -1;
			}
		}
		if (act == ISM_VFU_IRQ_SET_ACTION_TRIGGER && rx->nfds)
			for (uint32_t i = 0; i < s->count; i++)
				if (q->v[s->start + i].pending)
					fire(d, s->index, s->start + i);
		return 0;
	}
	for (uint32_t i = 0; i < s->count; i++) {
		uint32_t v = s->start + i;

		if (data == ISM_VFU_IRQ_SET_DATA_BOOL && !s->data[i])
			continue;
		if (act == ISM_VFU_IRQ_SET_ACTION_TRIGGER) {
			fire(d, s->index, v);
		} else if (act == ISM_VFU_IRQ_SET_ACTION_MASK) {
			q->v[v].masked = true;
		} else {
			q->v[v].masked = false;
			if (q->v[v].pending)
				fire(d, s->index, v);
		}
	}
	return 0;
}

/* Can the client access @count bytes at @off of region @idx this way? */
static int region_check(struct ism_vfu_dev *d, uint32_t idx, uint64_t off,
			uint32_t count, bool is_write)
{
	uint32_t flags;
	uint64_t len;
	struct vreg *v;

	if (idx >= ISM_VFU_NUM_REGIONS || count > d->o.max_data_xfer)
		return -EINVAL;
	region_desc(d, idx, &flags, &len, &v);
	if (!(flags & (is_write ? ISM_VFU_REGION_INFO_WRITE
				: ISM_VFU_REGION_INFO_READ)))
		return -EINVAL;
	if (off > len || count > len - off)
		return -EINVAL;
	/* I/O BARs take 1-, 2- and 4-byte accesses only. */
	if (v && (v->flags & ISM_VFU_REGION_IO) && count != 1 && count != 2 &&
	    count != 4)
		return -EINVAL;
	return 0;
}

static int region_access(struct ism_vfu_dev *d, uint32_t idx, uint64_t off,
			 uint8_t *buf, uint32_t count, bool is_write)
{
	int err = region_check(d, idx, off, count, is_write);

	if (err)
		return err;
	if (idx == ISM_VFU_CONFIG)
		return pci_cfg_access(d, off, buf, count, is_write);
	return pci_bar_access(d, idx, off, buf, count, is_write);
}

static int h_region_read(struct ism_vfu_dev *d, struct vfu_msg *m,
			 struct reply *rep)
{
	const struct vfu_region_rw *r = &m->u.region_rw;
	struct vfu_hdr h = { .id = m->h.id,
			     .cmd = VFU_REGION_READ,
			     .size = VFU_HDR_SIZE + VFU_REGION_RW_SIZE +
				     r->count,
			     .flags = VFU_F_REPLY };
	struct ism_wbuf b;
	uint8_t *data;
	int err;

	if (r->count > d->o.max_data_xfer)
		return -EINVAL;
	/* Built in place: the data goes straight into the reply. */
	ism_wbuf_init(&b, d->out, d->outcap);
	vfu_hdr_put(&b, &h);
	ism_wbuf_le64(&b, r->offset);
	ism_wbuf_le32(&b, r->region);
	ism_wbuf_le32(&b, r->count);
	data = ism_wbuf_reserve(&b, r->count);
	if (b.err)
		return -EINVAL;
	err = region_access(d, r->region, r->offset, data, r->count, false);
	if (err)
		return err;
	rep->len = b.len;
	return 0;
}

static int h_region_write(struct ism_vfu_dev *d, struct vfu_msg *m,
			  struct reply *rep)
{
	struct vfu_region_rw *r = &m->u.region_rw;
	struct vfu_msg *o = &d->dm;
	ssize_t n;
	int err;

	err = region_access(d, r->region, r->offset, (uint8_t *)r->data,
			    r->count, true);
	if (err)
		return err;
	o->h = (struct vfu_hdr){ .id = m->h.id, .cmd = VFU_REGION_WRITE };
	o->u.region_rw =
		(struct vfu_region_rw){ r->offset, r->region, r->count, NULL };
	n = encode_reply(d, o);
	if (n < 0)
		return (int)n;
	rep->len = (size_t)n;
	return 0;
}

static int h_write_multi(struct ism_vfu_dev *d, struct vfu_msg *m,
			 struct reply *rep)
{
	struct vfu_write_multi *w = &m->u.multi;
	struct vfu_msg *o = &d->dm;
	uint64_t done = 0;
	ssize_t n;

	if (!d->write_multi)
		return -EINVAL;
	/* In order; the reply says how many were done. */
	for (; done < w->wr_cnt; done++)
		if (region_access(d, w->wr[done].region, w->wr[done].offset,
				  w->wr[done].data, w->wr[done].count, true))
			break;
	o->h = (struct vfu_hdr){ .id = m->h.id, .cmd = VFU_REGION_WRITE_MULTI };
	o->u.wr_cnt = done;
	n = encode_reply(d, o);
	if (n < 0)
		return (int)n;
	rep->len = (size_t)n;
	return 0;
}

static void reset_irq_state(struct ism_vfu_dev *d)
{
	for (unsigned i = 0; i < ISM_VFU_NUM_IRQS; i++)
		for (uint32_t k = 0; k < d->irq[i].count; k++) {
			d->irq[i].v[k].pending = false;
			d->irq[i].v[k].masked = false;
		}
	for (uint32_t k = 0; k < d->o.n_msix; k++) {
		memset(d->msix_table + 16 * k, 0, 16);
		d->msix_table[16 * k + 12] = 1;
		d->msix_written[k] = 0;
	}
	d->msix_ctl_written = false;
}

static int h_reset(struct ism_vfu_dev *d)
{
	uint8_t zero[2] = { 0, 0 };
	int err = 0;

	if (d->o.reset)
		err = d->o.reset(d->o.priv, ISM_VFU_RESET_DEVICE);
	/* What a function reset clears: command, interrupt state. */
	pci_cfg_access(d, 0x04, zero, 2, true);
	if (d->msix_cap)
		d->cfg[d->msix_cap + 3] &= 0x3f;
	if (d->msi_cap)
		d->cfg[d->msi_cap + 2] &= 0x8e;
	reset_irq_state(d);
	return err > 0 ? -err : err;
}

/* Send a reply (or an error reply) on the main socket. */
static void send_reply(struct ism_vfu_dev *d, const uint8_t *buf, size_t len,
		       const int *fds, unsigned nfds)
{
	int err;

	if (d->dead)
		return;
	err = vfu_ep_send(&d->ep, buf, len, fds, nfds);
	if (err) {
		/* The client does not read (the queue is full), or left. */
		vdev_log(d, ISM_VFU_LOG_ERR, "reply: %s; dropping the client",
			 strerror(-err));
		d->dead = true;
	}
}

/* Serve one command; its fds are ours to take or close. */
static void serve(struct ism_vfu_dev *d, struct vfu_rx *rx)
{
	struct vfu_msg *m = &d->m;
	struct reply rep = { 0 };
	bool noreply = rx->h.flags & VFU_F_NO_REPLY, fatal = false;
	int err;

	if ((rx->h.flags & VFU_F_TYPE_MASK) == VFU_F_REPLY) {
		/* A reply on the main socket outside any DMA wait: to a DMA
		 * that timed out, or to nothing.  Ignored. */
		vfu_rx_close_fds(rx);
		return;
	}
	d->st.requests++;
	m->h = rx->h;
	if (!d->negotiated && rx->h.cmd != VFU_VERSION) {
		err = -EINVAL;
		fatal = true;
	} else if (rx->fds_over) {
		err = -EINVAL;
	} else {
		err = vfu_msg_decode(m, rx->p, rx->n, rx->nfds);
		if (err)
			err = -EINVAL;
		if (err && rx->h.cmd == VFU_VERSION && !d->negotiated)
			fatal = true;
	}
	if (!err) {
		switch (rx->h.cmd) {
		case VFU_VERSION:
			err = h_version(d, m, &rep);
			if (err && !d->negotiated)
				fatal = true;
			break;
		case VFU_DMA_MAP: err = h_dma_map(d, m, rx); break;
		case VFU_DMA_UNMAP:
			err = h_dma_unmap(d, m);
			if (!err) {
				/* The reply echoes the request. */
				m->h.flags = VFU_F_REPLY;
				ssize_t n =
					vfu_msg_encode(m, d->out, d->outcap);

				err = n < 0 ? (int)n : 0;
				rep.len = n < 0 ? 0 : (size_t)n;
			}
			break;
		case VFU_GET_INFO: {
			struct vfu_msg *r = &d->dm;
			ssize_t n;

			r->h = (struct vfu_hdr){ .id = m->h.id,
						 .cmd = VFU_GET_INFO };
			r->u.dev_info = (struct vfu_dev_info){
				16,
				ISM_VFU_DEVICE_FLAGS_RESET |
					ISM_VFU_DEVICE_FLAGS_PCI,
				ISM_VFU_NUM_REGIONS, ISM_VFU_NUM_IRQS
			};
			n = encode_reply(d, r);
			err = n < 0 ? (int)n : 0;
			rep.len = n < 0 ? 0 : (size_t)n;
			break;
		}
		case VFU_GET_REGION_INFO:
			err = h_region_info(d, m, &rep);
			break;
		case VFU_GET_REGION_IO_FDS: {
			struct vfu_msg *r = &d->dm;
			ssize_t n;

			/* No ioeventfds: every region answers count 0. */
			if (m->u.io_fds.index >= ISM_VFU_NUM_REGIONS) {
				err = -EINVAL;
				break;
			}
			r->h = (struct vfu_hdr){ .id = m->h.id,
						 .cmd = VFU_GET_REGION_IO_FDS };
			r->u.io_fds.argsz = 16;
			r->u.io_fds.flags = 0;
			r->u.io_fds.index = m->u.io_fds.index;
			r->u.io_fds.count = 0;
			r->u.io_fds.full = true;
			n = encode_reply(d, r);
			err = n < 0 ? (int)n : 0;
			rep.len = n < 0 ? 0 : (size_t)n;
			break;
		}
		case VFU_GET_IRQ_INFO: err = h_irq_info(d, m, &rep); break;
		case VFU_SET_IRQS: err = h_set_irqs(d, m, rx); break;
		case VFU_REGION_READ: err = h_region_read(d, m, &rep); break;
		case VFU_REGION_WRITE: err = h_region_write(d, m, &rep); break;
		case VFU_DEVICE_RESET: err = h_reset(d); break;
		case VFU_REGION_WRITE_MULTI:
			err = h_write_multi(d, m, &rep);
			break;
		case VFU_DEVICE_FEATURE:
		case VFU_MIG_DATA_READ:
		case VFU_MIG_DATA_WRITE:
			/* No migration, no features. */
			err = -ENOTSUP;
			break;
		default:
			/* DMA_READ/WRITE go the other way. */
			err = -EINVAL;
		}
	}
	vfu_rx_close_fds(rx);
	if (err) {
		uint8_t e[VFU_HDR_SIZE];

		d->st.errors++;
		vdev_log(d, ISM_VFU_LOG_DEBUG, "%s (id %u): %s",
			 vfu_cmd_name(rx->h.cmd), rx->h.id, strerror(-err));
		ism_close_fds(rep.fds, rep.nfds);
		if (!noreply)
			send_reply(d, e,
				   vfu_error_reply(e, rx->h.id, rx->h.cmd, err),
				   NULL, 0);
		if (fatal) {
			vfu_ep_flush(&d->ep);
			d->dead = true;
		}
		return;
	}
	if (!noreply) {
		if (!rep.len) {
			struct vfu_hdr h = { .id = rx->h.id,
					     .cmd = rx->h.cmd,
					     .size = VFU_HDR_SIZE,
					     .flags = VFU_F_REPLY };
			struct ism_wbuf b;

			ism_wbuf_init(&b, d->out, d->outcap);
			vfu_hdr_put(&b, &h);
			rep.len = VFU_HDR_SIZE;
		}
		send_reply(d, d->out, rep.len, rep.fds, rep.nfds);
	}
	ism_close_fds(rep.fds, rep.nfds);
	if (rx->h.cmd == VFU_VERSION && !d->dead) {
		d->negotiated = true;
		d->st.clients++;
		arm_timer(d, 0);
		vdev_log(d, ISM_VFU_LOG_INFO,
			 "client: max_msg_fds %llu, max_data_xfer_size %llu%s",
			 (unsigned long long)d->cl_max_fds,
			 (unsigned long long)d->cl_max_xfer,
			 d->has_twin ? ", twin socket" : "");
		if (d->o.client)
			d->o.client(d->o.priv, 1);
	}
}

static void free_deferred(struct ism_vfu_dev *d)
{
	struct deferred *q, *n;

	for (q = d->dq; q; q = n) {
		n = q->next;
		vfu_rx_close_fds(&q->rx);
		free(q);
	}
	d->dq = NULL;
	d->dqtail = &d->dq;
	d->ndq = 0;
	d->dq_bytes = 0;
}

static void drop_client(struct ism_vfu_dev *d)
{
	bool was = d->negotiated;

	if (!d->have_client)
		return;
	win_drop_all(d);
	close_irq_fds(d);
	if (was && d->o.reset)
		d->o.reset(d->o.priv, ISM_VFU_RESET_LOST_CONN);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->ep.fd, NULL);
	vfu_ep_close(&d->ep);
	if (d->has_twin) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->twin.fd, NULL);
		vfu_ep_close(&d->twin);
	}
	free_deferred(d);
	d->have_client = d->negotiated = d->dead = d->has_twin = false;
	arm_timer(d, 0);
	if (d->single)
		d->gone = true;
	vdev_log(d, ISM_VFU_LOG_INFO, "client gone");
	if (was && d->o.client)
		d->o.client(d->o.priv, 0);
}

int ism_vfu_dev_disconnect(struct ism_vfu_dev *d)
{
	if (!d->have_client)
		return -ENOTCONN;
	drop_client(d);
	return 0;
}

static bool hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void accept_clients(struct ism_vfu_dev *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				vdev_log(d, ISM_VFU_LOG_ERR, "accept: %s",
					 strerror(errno));
			return;
		}
		/* One client at a time; a new one may mean the old one
		 * just went away. */
		if (d->have_client && hung_up(d->ep.fd))
			drop_client(d);
		if (d->have_client) {
			d->st.refused++;
			vdev_log(d, ISM_VFU_LOG_INFO,
				 "refused a connection: a client is attached");
			/* It may have queued fds already: off-thread. */
			ism_bgclose(fd);
			continue;
		}
		start_client(d, fd);
	}
}

/* Read the twin socket outside a DMA wait: only late replies may come. */
static void drain_twin(struct ism_vfu_dev *d)
{
	struct vfu_rx rx;
	int r;

	while ((r = vfu_ep_recv(&d->twin, &rx)) == 1) {
		vfu_rx_close_fds(&rx);
		if ((rx.h.flags & VFU_F_TYPE_MASK) == VFU_F_COMMAND) {
			d->dead = true;
			return;
		}
	}
	if (r < 0)
		d->dead = true;
}

static void serve_client(struct ism_vfu_dev *d)
{
	int budget = BUDGET;

	if (vfu_ep_queued(&d->ep)) {
		int r = vfu_ep_flush(&d->ep);

		if (r && r != -EAGAIN)
			d->dead = true;
	}
	while (!d->dead && budget-- > 0 && d->ep.qbytes <= QUEUE_SOFT) {
		struct vfu_rx rx;
		int r;

		if (d->dq) {
			struct deferred *q = d->dq;

			d->dq = q->next;
			if (!d->dq)
				d->dqtail = &d->dq;
			d->ndq--;
			d->dq_bytes -= q->rx.n;
			serve(d, &q->rx);
			free(q);
			continue;
		}
		r = vfu_ep_recv(&d->ep, &rx);
		if (r == 0)
			break;
		if (r < 0) {
			if (r != -ENOTCONN)
				vdev_log(d, ISM_VFU_LOG_ERR,
					 "client stream: %s", strerror(-r));
			d->dead = true;
			break;
		}
		serve(d, &rx);
	}
}

static int handle(struct ism_vfu_dev *d, const struct epoll_event *ev, int n)
{
	uint64_t v;
	bool timer = false, twin = false, wake = false, listen = false;

	/* Only what epoll reported (level-triggered: the rest comes back). */
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == T_TIMER)
			timer = true;
		else if (ev[i].data.u32 == T_TWIN)
			twin = true;
		else if (ev[i].data.u32 == T_WAKE)
			wake = true;
		else if (ev[i].data.u32 == T_LISTEN)
			listen = true;
	}
	if (wake && read(d->wake, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
	if (timer) {
		if (read(d->timer, &v, sizeof(v)) > 0 && d->have_client &&
		    !d->negotiated) {
			vdev_log(d, ISM_VFU_LOG_INFO, "no VERSION in time");
			d->dead = true;
		}
	}
	if (d->dead)
		drop_client(d);
	if (listen && d->listen_fd >= 0)
		accept_clients(d);
	if (d->have_client) {
		if (twin && d->has_twin)
			drain_twin(d);
		serve_client(d);
		if (d->dead)
			drop_client(d);
	}
	watch(d);
	/* Commands deferred by a DMA wait: come back for them. */
	if (d->dq) {
		v = 1;
		if (write(d->wake, &v, sizeof(v)) < 0) {
			/* saturated: already readable */
		}
	}
	if (d->single && d->gone)
		return -ENOTCONN;
	return 0;
}

int ism_vfu_dev_process(struct ism_vfu_dev *d)
{
	struct epoll_event ev[8];
	int n;

	if (d->single && d->gone)
		return -ENOTCONN;
	n = epoll_wait(d->epfd, ev, 8, 0);
	if (n < 0)
		n = 0;
	return handle(d, ev, n);
}

int ism_vfu_dev_run(struct ism_vfu_dev *d)
{
	struct epoll_event ev[8];

	for (;;) {
		int n, r;

		if (atomic_exchange(&d->stop, 0))
			return 0;
		n = epoll_wait(d->epfd, ev, 8, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (atomic_exchange(&d->stop, 0))
			return 0;
		r = handle(d, ev, n < 0 ? 0 : n);
		if (r)
			return r;
	}
}

void ism_vfu_dev_stop(struct ism_vfu_dev *d)
{
	uint64_t one = 1;

	atomic_store(&d->stop, 1);
	if (write(d->wake, &one, sizeof(one)) < 0) {
		/* saturated: already readable */
	}
}

int ism_vfu_dev_connected(struct ism_vfu_dev *d)
{
	return d->negotiated && !d->dead;
}

int ism_vfu_dev_stats(struct ism_vfu_dev *d, struct ism_vfu_dev_stats *st)
{
	*st = d->st;
	st->windows = d->nwin;
	st->windows_mapped = d->nmapped;
	st->mapped_bytes = d->mapped_bytes;
	memset(st->reserved, 0, sizeof(st->reserved));
	return 0;
}

void ism_vfu_dev_destroy(struct ism_vfu_dev *d)
{
	struct stat st;

	if (!d)
		return;
	drop_client(d);
	if (d->listen_fd >= 0) {
		/* Pending connections may hold fds: off-thread. */
		ism_bgclose(d->listen_fd);
		if (d->path[0] && lstat(d->path, &st) == 0 &&
		    st.st_ino == d->path_ino)
			unlink(d->path);
	}
	for (unsigned i = 0; i < N_REGS; i++)
		free_region(&d->reg[i]);
	for (unsigned i = 0; i < ISM_VFU_NUM_IRQS; i++)
		free(d->irq[i].v);
	free(d->msix_table);
	free(d->msix_written);
	free(d->out);
	free(d->dmabuf);
	ism_close_fd(&d->epfd);
	ism_close_fd(&d->wake);
	ism_close_fd(&d->timer);
	free(d);
}
