/* SPDX-License-Identifier: MIT */
/*
 * A vfio-user endpoint: one non-blocking AF_UNIX stream socket, framed.
 *
 * Receiving reads the 16-byte header, then exactly the payload it
 * announces.  fds may come only with the first bytes of a header (the
 * sender attaches them to the sendmsg() carrying it, and the kernel hands
 * them to the read that first touches those bytes); any that come with
 * other bytes mean the stream cannot be trusted.  The control buffer has
 * room for every fd the kernel can attach, so none is dropped (closed) in
 * our thread; fds we do not keep are closed off-thread (bgclose), since
 * the peer chose the files.
 *
 * Sending tries the socket at once and queues the rest (with duplicates
 * of the fds if none of the message left yet), up to max_queue bytes plus
 * the message in flight.  A piece the caller lends is queued by reference
 * (no copy of a large DMA reply) until it leaves or vfu_ep_keep().
 */
#include "vfu_wire.h"
#include "util/bgclose.h"
#include "util/util.h"
#include "wire/wire.h"

#include <linux/magic.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct vfu_out {
	struct vfu_out *next;
	size_t len, off;
	int fds[VFU_MAX_FDS]; /* sent with the first byte, then closed */
	unsigned nfds;
	const uint8_t *lent; /* the bytes, the caller's; NULL: in data */
	uint8_t data[];
};

static const uint8_t *out_bytes(const struct vfu_out *o)
{
	return o->lent ? o->lent : o->data;
}

void vfu_ep_init(struct vfu_ep *ep, int fd, uint32_t max_in, size_t max_queue)
{
	memset(ep, 0, sizeof(*ep));
	ep->fd = fd;
	ep->max_in = max_in;
	ep->max_fds = VFU_MAX_FDS;
	ep->max_queue = max_queue;
	ep->qtail = &ep->q;
}

static void free_out(struct vfu_out *o)
{
	ism_close_fds(o->fds, o->nfds);
	free(o);
}

void vfu_ep_close(struct vfu_ep *ep)
{
	struct vfu_out *o, *n;

	for (o = ep->q; o; o = n) {
		n = o->next;
		free_out(o);
	}
	ep->q = NULL;
	ep->qtail = &ep->q;
	ep->qbytes = 0;
	/* fds that came with a header whose payload never arrived. */
	ism_bgclose_fds(ep->fds, ep->nfds);
	ep->nfds = 0;
	free(ep->buf);
	ep->buf = NULL;
	ep->bufcap = ep->got = ep->hgot = 0;
	if (ep->fd >= 0) {
		/* The peer sees the end now; the close itself may wait on
		 * files the peer queued in the socket. */
		shutdown(ep->fd, SHUT_RDWR);
		ism_bgclose(ep->fd);
	}
	ep->fd = -1;
}

/*
 * One recvmsg() into @iov.  @fds_ok: this read starts a
 * header, so fds may come; they go to ep->fds (the ones past max_fds
 * are closed and flagged).  Returns the bytes read, 0 at EOF, -EAGAIN,
 * -EBADMSG (fds or other control data where none may come), or -errno.
 */
static ssize_t recv_iov(struct vfu_ep *ep, struct iovec *iov, unsigned niov,
			bool fds_ok)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * ISM_WIRE_SCM_MAX_FDS) +
			 CMSG_SPACE(64)];
	} ctl;
	struct msghdr msg = {
		.msg_iov = iov,
		.msg_iovlen = niov,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	int extra[ISM_WIRE_SCM_MAX_FDS];
	unsigned nextra = 0;
	bool bad = false;
	struct cmsghdr *c;
	ssize_t r;

	do {
		r = recvmsg(ep->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && errno == ECONNRESET)
		return 0; /* the peer closed with our data unread: the end */
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0)) {
			bad = true;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (fds_ok && ep->nfds < ep->max_fds)
				ep->fds[ep->nfds++] = fd;
			else if (nextra < ISM_WIRE_SCM_MAX_FDS)
				extra[nextra++] = fd;
			if (fds_ok && nextra)
				ep->fds_over = true;
			else if (!fds_ok)
				bad = true;
		}
	}
	if (nextra)
		ism_bgclose_fds(extra, nextra);
	if (bad || (msg.msg_flags & MSG_CTRUNC))
		return -EBADMSG;
	return r;
}

static ssize_t recv_some(struct vfu_ep *ep, void *dst, size_t n, bool fds_ok)
{
	struct iovec iov = { .iov_base = dst, .iov_len = n };

	return recv_iov(ep, &iov, 1, fds_ok);
}

void vfu_ep_steer(struct vfu_ep *ep, uint16_t cmd, uint16_t id, uint32_t head,
		  void *dst, size_t len)
{
	ep->steer = (struct vfu_steer){ .armed = true,
					.id = id,
					.cmd = cmd,
					.head = head,
					.dst = dst,
					.len = len };
}

void vfu_ep_unsteer(struct vfu_ep *ep)
{
	if (ep->steering)
		ep->lost = true;
	ep->steering = false;
	ep->steer.armed = false;
}

/* Is the header just read (ep->h, decoded once) the steered reply? */
static bool steer_match(const struct vfu_ep *ep)
{
	const struct vfu_steer *s = &ep->steer;
	uint64_t want = (uint64_t)VFU_HDR_SIZE + s->head;

	if (!s->armed || ep->h.id != s->id || ep->h.cmd != s->cmd ||
	    ep->h.flags != VFU_F_REPLY || s->len > UINT32_MAX)
		return false;
	return want + s->len == ep->h.size;
}

/* The steered payload's next bytes: the rest of the head to our buffer,
 * then the rest of the data to the caller's. */
static ssize_t recv_steered(struct vfu_ep *ep)
{
	const struct vfu_steer *s = &ep->steer;
	size_t at = ep->got > s->head ? ep->got - s->head : 0;
	struct iovec iov[2];
	unsigned n = 0;

	if (ep->got < s->head)
		iov[n++] =
			(struct iovec){ ep->buf + ep->got, s->head - ep->got };
	iov[n++] = (struct iovec){ s->dst + at, s->len - at };
	return recv_iov(ep, iov, n, false);
}

int vfu_ep_recv(struct vfu_ep *ep, struct vfu_rx *m)
{
	uint32_t len;
	ssize_t r;

	if (ep->fd < 0)
		return -ENOTCONN;
	if (ep->lost)
		return -EBADMSG;
	while (ep->hgot < VFU_HDR_SIZE) {
		r = recv_some(ep, ep->hb + ep->hgot, VFU_HDR_SIZE - ep->hgot,
			      ep->hgot == 0);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ENOTCONN;
		ep->hgot += (uint32_t)r;
		if (ep->hgot < VFU_HDR_SIZE)
			continue;
		if (vfu_hdr_get(ep->hb, &ep->h) < 0)
			return -EBADMSG;
		if (ep->h.size > ep->max_in)
			return -EMSGSIZE;
		ep->steering = steer_match(ep);
		/* What goes to our buffer: all of it, or the steered head. */
		len = ep->steering ? ep->steer.head : ep->h.size - VFU_HDR_SIZE;
		if (len > ep->bufcap) {
			uint32_t cap = len < 4096 ? 4096 : len;
			uint8_t *nb = realloc(ep->buf, cap);

			if (!nb)
				return -ENOMEM;
			ep->buf = nb;
			ep->bufcap = cap;
		}
		ep->got = 0;
	}
	len = ep->h.size - VFU_HDR_SIZE;
	while (ep->got < len) {
		uint32_t want = len - ep->got;

		r = ep->steering
			    ? recv_steered(ep)
			    : recv_some(ep, ep->buf + ep->got, want, false);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ENOTCONN;
		ep->got += (uint32_t)r;
		/* Short: the socket is empty (the kernel stops early only
		 * at fds, which a payload never has), so wait for it
		 * rather than spend a read on -EAGAIN. */
		if ((uint32_t)r < want)
			return 0;
	}
	m->h = ep->h;
	m->p = ep->buf;
	m->n = ep->steering ? ep->steer.head : len;
	m->steered = ep->steering;
	if (ep->steering) {
		ep->steering = false;
		ep->steer.armed = false;
	}
	memcpy(m->fds, ep->fds, ep->nfds * sizeof(int));
	m->nfds = ep->nfds;
	m->fds_over = ep->fds_over;
	ep->nfds = 0;
	ep->fds_over = false;
	ep->hgot = 0;
	ep->got = 0;
	return 1;
}

void vfu_rx_close_fds(struct vfu_rx *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			ism_bgclose(m->fds[i]);
	m->nfds = 0;
}

/* sendmsg() of @iov, with @nfds fds, never waiting.  Returns bytes sent
 * or -errno (-EAGAIN when the socket is full, -ENOTCONN when the peer is
 * gone: EPIPE or ECONNRESET, depending on whether it left our last bytes
 * unread, is a race and not the caller's business). */
static ssize_t send_iov(int fd, const struct iovec *iov, unsigned niov,
			const int *fds, unsigned nfds)
{
	ssize_t r;

	_Static_assert(VFU_MAX_FDS <= ISM_WIRE_MAX_FDS, "fds per message");
	r = ism_wire_sendv(fd, iov, niov, fds, nfds, MSG_DONTWAIT);
	return r == -EPIPE || r == -ECONNRESET ? -ENOTCONN : r;
}

static ssize_t send_some(int fd, const uint8_t *p, size_t len, const int *fds,
			 unsigned nfds)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };

	return send_iov(fd, &iov, 1, fds, nfds);
}

static void append(struct vfu_ep *ep, struct vfu_out *o)
{
	*ep->qtail = o;
	ep->qtail = &o->next;
	ep->qbytes += o->len;
}

/* Duplicates of @fds into @o (sent with its first byte). */
static int dup_fds(struct vfu_out *o, const int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++) {
		int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

		if (d < 0)
			return -errno;
		o->fds[o->nfds++] = d;
	}
	return 0;
}

/*
 * Queue what is left of @iov after its first @skip bytes:
 * the first niov - @nlent pieces copied into one entry, each lent piece
 * as an entry of its own that points to it.  All or nothing.
 */
static int enqueue(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		   size_t skip, const int *fds, unsigned nfds, unsigned nlent)
{
	struct vfu_out *e[1 + VFU_EP_MAX_IOV], *o;
	unsigned ne = 0, own = niov - nlent;
	size_t at = 0, owned = 0;
	int err = -ENOMEM;

	for (unsigned i = 0; i < own; i++)
		owned += iov[i].iov_len;
	owned = owned > skip ? owned - skip : 0;
	o = owned || !nlent ? malloc(sizeof(*o) + owned) : NULL;
	if (o) {
		*o = (struct vfu_out){ .len = owned };
		e[ne++] = o;
	} else if (owned || !nlent) {
		goto fail;
	}
	for (unsigned i = 0; i < own; i++) {
		size_t n = iov[i].iov_len, k = ISM_MIN(skip, n);

		if (n > k)
			memcpy(o->data + at,
			       (const uint8_t *)iov[i].iov_base + k, n - k);
		at += n - k;
		skip -= k;
	}
	for (unsigned i = own; i < niov; i++) {
		size_t n = iov[i].iov_len, k = ISM_MIN(skip, n);

		skip -= k;
		if (n == k)
			continue;
		o = malloc(sizeof(*o));
		if (!o)
			goto fail;
		*o = (struct vfu_out){
			.len = n - k,
			.lent = (const uint8_t *)iov[i].iov_base + k
		};
		e[ne++] = o;
	}
	if (ne && (err = dup_fds(e[0], fds, nfds)) < 0)
		goto fail;
	for (unsigned i = 0; i < ne; i++)
		append(ep, e[i]);
	return 0;
fail:
	for (unsigned i = 0; i < ne; i++)
		free_out(e[i]);
	return err;
}

int vfu_ep_keep(struct vfu_ep *ep)
{
	for (struct vfu_out **pp = &ep->q; *pp; pp = &(*pp)->next) {
		struct vfu_out *o = *pp, *c;

		if (!o->lent)
			continue;
		c = malloc(sizeof(*c) + o->len);
		if (!c)
			return -ENOMEM;
		*c = *o;
		c->lent = NULL;
		memcpy(c->data, o->lent, o->len);
		*pp = c;
		if (ep->qtail == &o->next)
			ep->qtail = &c->next;
		free(o); /* its fds are c's now */
	}
	return 0;
}

int vfu_ep_sendv_lent(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		      const int *fds, unsigned nfds, unsigned nlent)
{
	size_t len = 0;
	ssize_t r;

	if (ep->fd < 0)
		return -ENOTCONN;
	if (niov > VFU_EP_MAX_IOV || nlent > niov)
		return -EINVAL;
	for (unsigned i = 0; i < niov; i++)
		if (__builtin_add_overflow(len, iov[i].iov_len, &len))
			return -EINVAL;
	if (nfds > VFU_MAX_FDS || !len)
		return -EINVAL;
	if (ep->q) {
		if (ep->qbytes + len > ep->max_queue)
			return -ENOBUFS;
		r = enqueue(ep, iov, niov, 0, fds, nfds, nlent);
		if (r)
			return (int)r;
		r = vfu_ep_flush(ep);
		return r == -EAGAIN ? 0 : (int)r;
	}
	r = send_iov(ep->fd, iov, niov, fds, nfds);
	if (r == -EAGAIN)
		return enqueue(ep, iov, niov, 0, fds, nfds, nlent);
	if (r < 0)
		return (int)r;
	if ((size_t)r < len)
		return enqueue(ep, iov, niov, (size_t)r, NULL, 0, nlent);
	return 0;
}

int vfu_ep_sendv(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		 const int *fds, unsigned nfds)
{
	return vfu_ep_sendv_lent(ep, iov, niov, fds, nfds, 0);
}

int vfu_ep_send(struct vfu_ep *ep, const void *msg, size_t len, const int *fds,
		unsigned nfds)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };

	return vfu_ep_sendv(ep, &iov, 1, fds, nfds);
}

int vfu_ep_flush(struct vfu_ep *ep)
{
	while (ep->q) {
		struct vfu_out *o = ep->q;
		ssize_t r;

		if (ep->fd < 0)
			return -ENOTCONN;
		r = send_some(ep->fd, out_bytes(o) + o->off, o->len - o->off,
			      o->off ? NULL : o->fds, o->off ? 0 : o->nfds);
		if (r < 0)
			return (int)r;
		if (r > 0 && !o->off) {
			/* The fds went with the first byte. */
			ism_close_fds(o->fds, o->nfds);
			o->nfds = 0;
		}
		o->off += (size_t)r;
		ep->qbytes -= (size_t)r;
		if (o->off < o->len)
			return -EAGAIN;
		ep->q = o->next;
		if (!ep->q)
			ep->qtail = &ep->q;
		free_out(o);
	}
	return 0;
}

int vfu_wait_fd(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		uint64_t now = ism_now_ns();
		int ms, r;

		if (now >= deadline_ns)
			ms = 0;
		else
			ms = (int)ISM_MIN((deadline_ns - now + 999999) /
						  1000000,
					  (uint64_t)60000);
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return r;
		if (ism_now_ns() >= deadline_ns)
			return 0;
	}
}

/* Nothing queued, no fds: straight from @iov as the socket takes it. */
static int sendv_direct(struct vfu_ep *ep, const struct iovec *iov,
			unsigned niov, uint64_t deadline_ns)
{
	struct iovec v[VFU_EP_MAX_IOV];
	unsigned i = 0;

	memcpy(v, iov, niov * sizeof(*v));
	while (i < niov) {
		ssize_t r = send_iov(ep->fd, v + i, niov - i, NULL, 0);
		size_t k;

		if (r == -EAGAIN) {
			int w = vfu_wait_fd(ep->fd, POLLOUT, deadline_ns);

			if (w <= 0)
				return w ? w : -ETIMEDOUT;
			continue;
		}
		if (r < 0)
			return (int)r;
		/* Skip what left: whole pieces, then part of one. */
		k = (size_t)r;
		while (i < niov && k >= v[i].iov_len)
			k -= v[i++].iov_len;
		if (i < niov) {
			v[i].iov_base = (uint8_t *)v[i].iov_base + k;
			v[i].iov_len -= k;
		}
	}
	return 0;
}

int vfu_ep_sendv_wait(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		      const int *fds, unsigned nfds, uint64_t deadline_ns)
{
	int r;

	if (ep->fd < 0)
		return -ENOTCONN;
	if (niov > VFU_EP_MAX_IOV)
		return -EINVAL;
	if (!ep->q && !nfds)
		return sendv_direct(ep, iov, niov, deadline_ns);
	for (;;) {
		r = vfu_ep_sendv(ep, iov, niov, fds, nfds);
		if (r != -ENOBUFS)
			break;
		/* Full queue: drain some, then try again. */
		r = vfu_ep_flush(ep);
		if (r == -EAGAIN) {
			r = vfu_wait_fd(ep->fd, POLLOUT, deadline_ns);
			if (r <= 0)
				return r ? r : -ETIMEDOUT;
		} else if (r < 0) {
			return r;
		}
	}
	if (r)
		return r;
	while ((r = vfu_ep_flush(ep)) == -EAGAIN) {
		r = vfu_wait_fd(ep->fd, POLLOUT, deadline_ns);
		if (r <= 0)
			return r ? r : -ETIMEDOUT;
	}
	return r;
}

int vfu_ep_send_wait(struct vfu_ep *ep, const void *msg, size_t len,
		     const int *fds, unsigned nfds, uint64_t deadline_ns)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };

	return vfu_ep_sendv_wait(ep, &iov, 1, fds, nfds, deadline_ns);
}

int vfu_ep_recv_wait(struct vfu_ep *ep, struct vfu_rx *m, uint64_t deadline_ns)
{
	for (;;) {
		int r = vfu_ep_recv(ep, m);

		if (r)
			return r;
		r = vfu_wait_fd(ep->fd, POLLIN, deadline_ns);
		if (r < 0)
			return r;
		if (!r)
			return -ETIMEDOUT;
	}
}

int vfu_sock_fit(int fd, size_t msg)
{
	static const int opt[2] = { SO_SNDBUF, SO_RCVBUF };
	int want = (int)ISM_MIN(msg, (size_t)INT_MAX / 2);

	for (int i = 0; i < 2; i++) {
		socklen_t len = sizeof(int);
		int have = 0;

		/* getsockopt says the doubled size the kernel uses. */
		if (getsockopt(fd, SOL_SOCKET, opt[i], &have, &len) < 0)
			return -errno;
		if (have / 2 >= want)
			continue;
		if (setsockopt(fd, SOL_SOCKET, opt[i], &want, sizeof(want)) < 0)
			return -errno;
	}
	return 0;
}

bool vfu_fd_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

int vfu_fd_check_mem(int fd, uint64_t min_size, bool need_seal)
{
	struct statfs sf;
	struct stat st;
	int seals;

	/* F_GET_SEALS answers for shmem and hugetlbfs files only: after
	 * that, fstat cannot reach a file system the peer controls. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EBADF;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EBADF;
	if (st.st_size < 0 || (uint64_t)st.st_size < min_size)
		return -ENOSPC;
	if (need_seal && !(seals & F_SEAL_SHRINK))
		return -EPERM;
	/* A hole punched into a hugetlbfs file faults once the pool is
	 * empty, seals or not: not safe to map either. */
	if (need_seal && (fstatfs(fd, &sf) < 0 || sf.f_type == HUGETLBFS_MAGIC))
		return -EPERM;
	return 0;
}

bool vfu_fd_is_unix_stream(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int), slen = sizeof(ss);
	int dom = 0, type = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0 ||
	    dom != AF_UNIX)
		return false;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	return getpeername(fd, (struct sockaddr *)&ss, &slen) == 0;
}
