/* SPDX-License-Identifier: MIT */
/*
 * vhost_fe - a vhost-user front-end's side: the handshake on the main
 * socket, and serving the back-end's requests into windows
 * (include/ism/vhost_user.h).
 *
 * Concepts: the back-end request channel is read without ever blocking,
 * one part at a time - the 12-byte header, then exactly the payload it
 * announces - so fds (which the spec sends with a message's first byte)
 * can only arrive with a header, and never a byte of the next message is
 * consumed early.  A message is served once whole.  A payload of the
 * wrong size for its request is read and refused; one larger than ism
 * ever reads cannot be skipped safely, and ends the channel (-EPROTO).
 * Mappings this helper made are remembered, so SHMEM_UNMAP can only undo
 * those (not the VMM's own, nor ismd's, in the same window).  fds it
 * refuses are closed on a thread of their own (lib/util/bgclose.h): a
 * back-end chose them.
 */
#include "vhost.h"
#include "util/bgclose.h"
#include "util/util.h"
#include "window/window.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX	(ISM_VHOST_USER_HDR_SIZE + VHOST_PAYLOAD_MAX)
#define OUT_MAX (ISM_VHOST_USER_HDR_SIZE + VHOST_PAYLOAD_MAX)

struct fe_shmem {
	struct ism_window *w;
	uint64_t guest_addr;
};

/* A mapping this helper made. */
struct fe_map {
	uint32_t shmid;
	uint64_t offset, len;
};

struct ism_vhost_fe {
	int sock;
	uint32_t flags;
	uint64_t pf;
	struct fe_shmem shm[ISM_VHOST_USER_MAX_SHMEM];
	/* input: header, then payload */
	uint8_t *in;
	size_t in_len;
	struct vhost_hdr hdr;
	bool have_hdr;
	int fds[VHOST_MAX_FDS];
	unsigned nfds;
	/* a reply not yet sent */
	uint8_t *out;
	size_t out_len, out_off;
	struct fe_map *maps;
	uint32_t n_maps, cap_maps;
};

static bool has(uint64_t features, int bit)
{
	return features & (1ull << bit);
}

int ism_vhost_fe_create(int sock, const struct ism_vhost_fe_opts *opts,
			struct ism_vhost_fe **out)
{
	struct ism_vhost_fe_opts o;
	struct ism_vhost_fe *fe;
	int e, type = 0;
	socklen_t len = sizeof(type);

	*out = NULL;
	e = ism_opts_copy(
		&o, sizeof(o),
		ISM_OPTS_SIZE_VER0(struct ism_vhost_fe_opts, protocol_features),
		opts);
	if (e < 0)
		return e;
	if (o.flags & ~(uint32_t)ISM_VHOST_FE_ANY_FILE)
		return -EINVAL;
	/* A stream socket: anything else, and we would not be reading
	 * what we think. */
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return -ENOTSOCK;
	if ((e = ism_set_nonblock(sock)) < 0)
		return e;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->in = malloc(IN_MAX);
	fe->out = malloc(OUT_MAX);
	if (!fe->in || !fe->out) {
		free(fe->in);
		free(fe->out);
		free(fe);
		return -ENOMEM;
	}
	fe->sock = sock;
	fe->flags = o.flags;
	fe->pf = o.protocol_features;
	*out = fe;
	return 0;
}

int ism_vhost_fe_set_shmem(struct ism_vhost_fe *fe, uint32_t shmid,
			   struct ism_window *w, uint64_t guest_addr)
{
	uint64_t end;

	if (shmid >= ISM_VHOST_USER_MAX_SHMEM ||
	    (w && __builtin_add_overflow(guest_addr, ism_window_size(w), &end)))
		return -EINVAL;
	fe->shm[shmid].w = w;
	fe->shm[shmid].guest_addr = guest_addr;
	/* Mappings remembered in a window no longer ours: forgotten. */
	for (uint32_t i = 0; i < fe->n_maps;)
		if (fe->maps[i].shmid == shmid)
			fe->maps[i] = fe->maps[--fe->n_maps];
		else
			i++;
	return 0;
}

void ism_vhost_fe_destroy(struct ism_vhost_fe *fe)
{
	if (!fe)
		return;
	ism_bgclose_fds(fe->fds, fe->nfds);
	free(fe->maps);
	free(fe->in);
	free(fe->out);
	free(fe);
}

int ism_vhost_fe_poll_events(struct ism_vhost_fe *fe)
{
	return fe->out_len > fe->out_off ? POLLIN | POLLOUT : POLLIN;
}

/* Send what is pending without blocking: 0 when all is out, -EAGAIN if
 * some is left, or -errno. */
static int flush(struct ism_vhost_fe *fe)
{
	while (fe->out_off < fe->out_len) {
		ssize_t n = send(fe->sock, fe->out + fe->out_off,
				 fe->out_len - fe->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN
								       : -EPIPE;
		fe->out_off += (size_t)n;
	}
	fe->out_len = fe->out_off = 0;
	return 0;
}

/* Queue a reply: the u64 status (0, or a positive errno). */
static void reply_u64(struct ism_vhost_fe *fe, uint32_t request, uint64_t v)
{
	struct ism_wbuf b;
	int n;

	vhost_msg_begin(&b, fe->out, OUT_MAX, request,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	vhost_put_u64(&b, v);
	n = vhost_msg_end(&b);
	fe->out_len = n > 0 ? (size_t)n : 0;
	fe->out_off = 0;
}

/* Answer when asked (REPLY_ACK negotiated and NEED_REPLY set): 0 or a
 * positive errno - never 1 (EPERM), which is what QEMU sends for any
 * failure: EPERM goes as EACCES. */
static void ack(struct ism_vhost_fe *fe, int err)
{
	if (err == -EPERM)
		err = -EACCES;
	if (has(fe->pf, ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK) &&
	    (fe->hdr.flags & ISM_VHOST_USER_FLAG_NEED_REPLY))
		reply_u64(fe, fe->hdr.request, (uint64_t)(err < 0 ? -err : 0));
}

static int remember(struct ism_vhost_fe *fe, uint32_t shmid, uint64_t off,
		    uint64_t len)
{
	if (fe->n_maps == fe->cap_maps) {
		uint32_t ncap = fe->cap_maps ? fe->cap_maps * 2 : 16;
		struct fe_map *m;

		if (fe->cap_maps >= ISM_WINDOW_MAPS_MAX)
			return -ENOSPC;
		m = realloc(fe->maps, ncap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		fe->maps = m;
		fe->cap_maps = ncap;
	}
	fe->maps[fe->n_maps++] = (struct fe_map){ shmid, off, len };
	return 0;
}

static int shmem_map(struct ism_vhost_fe *fe, const struct vhost_mmap *m)
{
	struct ism_window *w = fe->shm[m->shmid].w;
	int fd, e;

	if (fe->nfds != 1)
		return -EBADF; /* fd-less (or more than one) */
	if (!w)
		return -ENOENT;
	/* Room to remember it first: a mapping we could not undo on the
	 * back-end's request is never made. */
	if ((e = remember(fe, m->shmid, m->shm_offset, m->len)) < 0)
		return e;
	fe->n_maps--;
	fd = fe->fds[0];
	e = ism_window_map(
		w, m->shm_offset, m->len, fd, m->fd_offset,
		(m->flags & ISM_VHOST_USER_SHMEM_MAP_RW) ? ISM_ACCESS_RW
							 : ISM_ACCESS_RO,
		(fe->flags & ISM_VHOST_FE_ANY_FILE) ? 0 : ISM_WINDOW_MAP_SEALED,
		NULL);
	if (e < 0)
		return e;
	fe->n_maps++;
	/* The mapping holds the file: this close cannot be its last. */
	close(fd);
	fe->nfds = 0;
	return 0;
}

static int shmem_unmap(struct ism_vhost_fe *fe, const struct vhost_mmap *m)
{
	struct ism_window *w = fe->shm[m->shmid].w;

	if (!w)
		return -ENOENT;
	for (uint32_t i = 0; i < fe->n_maps; i++) {
		struct fe_map *x = &fe->maps[i];
		int e;

		if (x->shmid != m->shmid || x->offset != m->shm_offset ||
		    x->len != m->len)
			continue;
		e = ism_window_unmap(w, x->offset, x->len,
				     ISM_WINDOW_UNMAP_EXACT);
		/* Gone either way (the VMM may have unmapped it itself). */
		*x = fe->maps[--fe->n_maps];
		return e < 0 && e != -ENOENT ? e : 0;
	}
	return -ENOENT;
}

/* The window and offset a guest address range falls in, wholly. */
static struct ism_window *translate(struct ism_vhost_fe *fe, uint64_t addr,
				    uint32_t size, uint64_t *off)
{
	for (uint32_t i = 0; i < ISM_VHOST_USER_MAX_SHMEM; i++) {
		struct fe_shmem *s = &fe->shm[i];
		uint64_t wsize;

		if (!s->w)
			continue;
		wsize = ism_window_size(s->w);
		if (addr >= s->guest_addr && addr - s->guest_addr < wsize &&
		    size <= wsize - (addr - s->guest_addr)) {
			*off = addr - s->guest_addr;
			return s->w;
		}
	}
	return NULL;
}

static void mem_read(struct ism_vhost_fe *fe, const struct vhost_mem_rw *m)
{
	struct ism_window *w;
	struct ism_wbuf b;
	uint64_t off;
	uint8_t *data;
	int e = -EFAULT, n;

	vhost_msg_begin(&b, fe->out, OUT_MAX, fe->hdr.request,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	ism_wbuf_le64(&b, m->addr);
	ism_wbuf_le32(&b, m->size);
	data = ism_wbuf_reserve(&b, m->size);
	w = translate(fe, m->addr, m->size, &off);
	if (w && data)
		e = window_copy(w, off, data, m->size, false);
	if (e < 0) {
		/* Refused: a u64 status instead of the data. */
		reply_u64(fe, fe->hdr.request,
			  (uint64_t)(e == -EPERM ? EACCES : -e));
		return;
	}
	n = vhost_msg_end(&b);
	fe->out_len = n > 0 ? (size_t)n : 0;
	fe->out_off = 0;
}

static int mem_write(struct ism_vhost_fe *fe, const struct vhost_mem_rw *m)
{
	uint64_t off;
	struct ism_window *w = translate(fe, m->addr, m->size, &off);

	if (!w)
		return -EFAULT;
	return window_copy(w, off, (void *)m->data, m->size, true);
}

/* Serve the whole message in fe->in.  Returns 0, or -EPROTO. */
static int serve(struct ism_vhost_fe *fe)
{
	struct ism_rbuf rb;
	struct vhost_mmap mm;
	struct vhost_mem_rw rw;
	int e;

	ism_rbuf_init(&rb, fe->in, fe->hdr.size);
	if (fe->hdr.flags & ISM_VHOST_USER_FLAG_REPLY)
		return -EPROTO; /* we asked nothing */
	switch (fe->hdr.request) {
	case ISM_VHOST_USER_BACKEND_SHMEM_MAP:
	case ISM_VHOST_USER_BACKEND_SHMEM_UNMAP:
		e = vhost_get_mmap(&rb, &mm);
		if (e == 0 &&
		    fe->hdr.request == ISM_VHOST_USER_BACKEND_SHMEM_MAP)
			e = shmem_map(fe, &mm);
		else if (e == 0)
			e = fe->nfds ? -EBADMSG : shmem_unmap(fe, &mm);
		ack(fe, e == -EBADMSG ? -EINVAL : e);
		break;
	case ISM_VHOST_USER_BACKEND_MEM_READ:
		e = vhost_get_mem_rw(&rb, &rw, false);
		if (e < 0 || fe->nfds)
			reply_u64(fe, fe->hdr.request, EINVAL);
		else
			mem_read(fe, &rw);
		break;
	case ISM_VHOST_USER_BACKEND_MEM_WRITE:
		e = vhost_get_mem_rw(&rb, &rw, true);
		if (e == 0)
			e = fe->nfds ? -EINVAL : mem_write(fe, &rw);
		ack(fe, e == -EBADMSG ? -EINVAL : e);
		break;
	default:
		/* Not ours to serve (or not known): refused. */
		ack(fe, -ENOSYS);
		break;
	}
	return 0;
}

/* Read into @dst up to @want bytes; fds go to fe->fds when @fds_ok.
 * Returns bytes read, 0 at EOF, -EAGAIN, or -EPROTO. */
static ssize_t read_part(struct ism_vhost_fe *fe, uint8_t *dst, size_t want,
			 bool fds_ok)
{
	union {
		char buf[CMSG_SPACE(VHOST_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { dst, want };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	bool bad = false;
	ssize_t n;

	do {
		n = recvmsg(fe->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN
							       : -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		int *p = (int *)CMSG_DATA(c);
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (fds_ok && fe->nfds < VHOST_MAX_FDS)
				fe->fds[fe->nfds++] = fd;
			else {
				ism_bgclose(fd);
				bad = true;
			}
		}
	}
	if ((mh.msg_flags & MSG_CTRUNC) || bad)
		return -EPROTO;
	return n;
}

int ism_vhost_fe_process(struct ism_vhost_fe *fe)
{
	int served = 0, e;

	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n;

		/* A reply still waiting: nothing more is read. */
		e = flush(fe);
		if (e == -EAGAIN)
			return served;
		if (e < 0)
			return e;
		if (!fe->have_hdr) {
			n = read_part(fe, fe->in + fe->in_len,
				      ISM_VHOST_USER_HDR_SIZE - fe->in_len,
				      true);
		} else if (fe->in_len < fe->hdr.size) {
			n = read_part(fe, fe->in + fe->in_len,
				      fe->hdr.size - fe->in_len, false);
		} else {
			n = 0; /* an empty payload: served below */
		}
		if (n == -EAGAIN)
			return served;
		if (n < 0)
			return (int)n;
		if (n == 0 && !(fe->have_hdr && fe->hdr.size == 0))
			return -EPIPE;
		fe->in_len += (size_t)n;
		if (!fe->have_hdr) {
			struct ism_rbuf rb;

			if (fe->in_len < ISM_VHOST_USER_HDR_SIZE)
				continue;
			ism_rbuf_init(&rb, fe->in, ISM_VHOST_USER_HDR_SIZE);
			if (vhost_get_hdr(&rb, &fe->hdr) < 0)
				return -EPROTO; /* cannot be skipped safely */
			fe->have_hdr = true;
			fe->in_len = 0;
		}
		if (fe->in_len < fe->hdr.size)
			continue;
		e = serve(fe);
		/* Whatever fds the request brought and did not use. */
		ism_bgclose_fds(fe->fds, fe->nfds);
		fe->nfds = 0;
		fe->have_hdr = false;
		fe->in_len = 0;
		if (e < 0)
			return e;
		served++;
	}
	e = flush(fe);
	return e < 0 && e != -EAGAIN ? e : served;
}

/* ---- the front-end's handshake ---- */

/* Send a request with an optional u64 (@with_u64) and fd; if @want
 * is non-zero, read a reply of exactly @want payload bytes into @rep. */
static int fe_call(int sock, uint32_t request, uint32_t flags, bool with_u64,
		   uint64_t v, int fd, uint8_t *rep, uint32_t want,
		   int timeout_ms)
{
	uint8_t msg[ISM_VHOST_USER_HDR_SIZE + 8], h[ISM_VHOST_USER_HDR_SIZE];
	struct vhost_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int n, e;

	vhost_msg_begin(&b, msg, sizeof(msg), request,
			ISM_VHOST_USER_VERSION | flags);
	if (with_u64)
		vhost_put_u64(&b, v);
	n = vhost_msg_end(&b);
	if (n < 0)
		return n;
	if ((e = vhost_send_all(sock, msg, (size_t)n, fd, timeout_ms)) < 0)
		return e;
	if (!want)
		return 0;
	if ((e = vhost_recv_all(sock, h, sizeof(h), timeout_ms, NULL)) < 0)
		return e;
	ism_rbuf_init(&rb, h, sizeof(h));
	if (vhost_get_hdr(&rb, &hdr) < 0 || hdr.request != request ||
	    !(hdr.flags & ISM_VHOST_USER_FLAG_REPLY) || hdr.size != want)
		return -EPROTO;
	return vhost_recv_all(sock, rep, want, timeout_ms, NULL);
}

static int fe_call_u64(int sock, uint32_t request, uint32_t flags,
		       bool with_u64, uint64_t v, int fd, uint64_t *out,
		       int timeout_ms)
{
	uint8_t rep[8];
	struct ism_rbuf rb;
	int e = fe_call(sock, request, flags, with_u64, v, fd, rep, 8,
			timeout_ms);

	if (e < 0)
		return e;
	ism_rbuf_init(&rb, rep, sizeof(rep));
	return vhost_get_u64(&rb, out) < 0 ? -EPROTO : 0;
}

int ism_vhost_fe_handshake(int sock, uint64_t features,
			   uint64_t protocol_features, int timeout_ms,
			   struct ism_vhost_handshake *out)
{
	uint64_t offered, pf = 0, status;
	bool ack;
	int e, sp[2] = { -1, -1 };

	memset(out, 0, sizeof(*out));
	out->backend_fd = -1;
	if (timeout_ms <= 0)
		timeout_ms = 5000;
	e = fe_call_u64(sock, ISM_VHOST_USER_GET_FEATURES, 0, false, 0, -1,
			&offered, timeout_ms);
	if (e < 0)
		return e;
	if (has(offered, ISM_VHOST_USER_F_PROTOCOL_FEATURES)) {
		e = fe_call_u64(sock, ISM_VHOST_USER_GET_PROTOCOL_FEATURES, 0,
				false, 0, -1, &pf, timeout_ms);
		if (e < 0)
			return e;
		pf &= protocol_features;
		e = fe_call(sock, ISM_VHOST_USER_SET_PROTOCOL_FEATURES, 0, true,
			    pf, -1, NULL, 0, timeout_ms);
		if (e < 0)
			return e;
		features |= 1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES;
	}
	out->features = offered & features;
	out->protocol_features = pf;
	e = fe_call(sock, ISM_VHOST_USER_SET_FEATURES, 0, true, out->features,
		    -1, NULL, 0, timeout_ms);
	if (e < 0)
		return e;
	ack = has(pf, ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK);
	if (has(pf, ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ)) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return -errno;
		if (ack)
			e = fe_call_u64(sock, ISM_VHOST_USER_SET_BACKEND_REQ_FD,
					ISM_VHOST_USER_FLAG_NEED_REPLY, false,
					0, sp[1], &status, timeout_ms);
		else
			e = fe_call(sock, ISM_VHOST_USER_SET_BACKEND_REQ_FD, 0,
				    false, 0, sp[1], NULL, 0, timeout_ms);
		close(sp[1]);
		if (e == 0 && ack && status)
			e = -EIO;
		if (e < 0) {
			close(sp[0]);
			return e;
		}
		out->backend_fd = sp[0];
	}
	if (has(pf, ISM_VHOST_USER_PROTOCOL_F_SHMEM)) {
		struct vhost_shmem_cfg cfg;
		uint8_t *rep = malloc(VHOST_SHMEM_CFG_SIZE);
		struct ism_rbuf rb;

		e = rep ? fe_call(sock, ISM_VHOST_USER_GET_SHMEM_CONFIG, 0,
				  false, 0, -1, rep, VHOST_SHMEM_CFG_SIZE,
				  timeout_ms)
			: -ENOMEM;
		if (e == 0) {
			ism_rbuf_init(&rb, rep, VHOST_SHMEM_CFG_SIZE);
			e = vhost_get_shmem_cfg(&rb, &cfg) < 0 ? -EPROTO : 0;
		}
		free(rep);
		if (e < 0) {
			ism_close_fd(&out->backend_fd);
			return e;
		}
		out->n_shmem = cfg.n;
		memcpy(out->shmem_size, cfg.size, sizeof(out->shmem_size));
	}
	return 0;
}
