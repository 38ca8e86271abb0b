/* SPDX-License-Identifier: MIT */
/*
 * vhost_be - a vhost-user back-end's side: answering the front-end's
 * handshake, and sending SHMEM_MAP, SHMEM_UNMAP, MEM_READ and MEM_WRITE on
 * the back-end request channel (include/ism/vhost_user.h).
 *
 * The front-end is hostile input too: every reply is read with a bound
 * on the wait, its header and size checked exactly, its status clamped.
 * One request at a time per channel (a lock), as the spec has it.
 */
#include "vhost.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ism_vhost_be {
	int sock;
	uint64_t pf;
	int timeout_ms;
	pthread_mutex_t lock;
	uint8_t *buf; /* a request or a reply */
};

#define BUF_MAX (ISM_VHOST_USER_HDR_SIZE + VHOST_PAYLOAD_MAX)

static bool has(uint64_t features, int bit)
{
	return features & (1ull << bit);
}

int ism_vhost_be_create(int sock, uint64_t protocol_features, int timeout_ms,
			struct ism_vhost_be **out)
{
	struct ism_vhost_be *be;
	int type = 0;
	socklen_t len = sizeof(type);

	*out = NULL;
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return -ENOTSOCK;
	be = calloc(1, sizeof(*be));
	if (!be || !(be->buf = malloc(BUF_MAX))) {
		free(be);
		return -ENOMEM;
	}
	be->sock = sock;
	be->pf = protocol_features;
	be->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	pthread_mutex_init(&be->lock, NULL);
	*out = be;
	return 0;
}

void ism_vhost_be_destroy(struct ism_vhost_be *be)
{
	if (!be)
		return;
	pthread_mutex_destroy(&be->lock);
	free(be->buf);
	free(be);
}

/* A front-end's non-zero status: its errno if it sent one, -EIO for
 * QEMU's 1 (any failure) or anything out of range. */
static int status_errno(uint64_t v)
{
	if (v == 0)
		return 0;
	return v > 1 && v < 4096 ? -(int)v : -EIO;
}

/* Read the reply to @request: its payload (at most BUF_MAX) into be->buf,
 * its size in *@size. */
static int read_reply(struct ism_vhost_be *be, uint32_t request, uint32_t *size)
{
	uint8_t h[ISM_VHOST_USER_HDR_SIZE];
	struct vhost_hdr hdr;
	struct ism_rbuf rb;
	int e;

	e = vhost_recv_all(be->sock, h, sizeof(h), be->timeout_ms, NULL);
	if (e < 0)
		return e;
	ism_rbuf_init(&rb, h, sizeof(h));
	if (vhost_get_hdr(&rb, &hdr) < 0 || hdr.request != request ||
	    !(hdr.flags & ISM_VHOST_USER_FLAG_REPLY))
		return -EPROTO;
	*size = hdr.size;
	return vhost_recv_all(be->sock, be->buf, hdr.size, be->timeout_ms,
			      NULL);
}

/* Send the message in be->buf (@len bytes, @fd if >= 0) and, if a reply
 * comes, its u64 status. */
static int call_locked(struct ism_vhost_be *be, size_t len, int fd, bool reply)
{
	struct ism_rbuf rb;
	uint32_t size;
	uint64_t v;
	int e;

	e = vhost_send_all(be->sock, be->buf, len, fd, be->timeout_ms);
	if (e < 0 || !reply)
		return e;
	if ((e = read_reply(be, be->buf[0], &size)) < 0)
		return e;
	ism_rbuf_init(&rb, be->buf, size);
	if (vhost_get_u64(&rb, &v) < 0)
		return -EPROTO;
	return status_errno(v);
}

static int mmap_msg(struct ism_vhost_be *be, uint32_t request, uint32_t shmid,
		    int fd, uint64_t fd_offset, uint64_t shm_offset,
		    uint64_t len, uint32_t access)
{
	struct vhost_mmap m = { .shmid = (uint8_t)shmid,
				.fd_offset = fd_offset,
				.shm_offset = shm_offset,
				.len = len,
				.flags = access == ISM_ACCESS_RW
						 ? ISM_VHOST_USER_SHMEM_MAP_RW
						 : 0 };
	bool ack = has(be->pf, ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct ism_wbuf b;
	uint64_t end;
	int n, e;

	if (shmid >= ISM_VHOST_USER_MAX_SHMEM || len == 0 ||
	    (access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) ||
	    __builtin_add_overflow(fd_offset, len, &end) ||
	    __builtin_add_overflow(shm_offset, len, &end))
		return -EINVAL;
	pthread_mutex_lock(&be->lock);
	vhost_msg_begin(&b, be->buf, BUF_MAX, request,
			ISM_VHOST_USER_VERSION |
				(ack ? ISM_VHOST_USER_FLAG_NEED_REPLY : 0));
	vhost_put_mmap(&b, &m);
	n = vhost_msg_end(&b);
	e = n < 0 ? n : call_locked(be, (size_t)n, fd, ack);
	pthread_mutex_unlock(&be->lock);
	return e;
}

int ism_vhost_be_shmem_map(struct ism_vhost_be *be, uint32_t shmid, int fd,
			   uint64_t fd_offset, uint64_t shm_offset,
			   uint64_t len, uint32_t access)
{
	if (fd < 0)
		return -EBADF;
	return mmap_msg(be, ISM_VHOST_USER_BACKEND_SHMEM_MAP, shmid, fd,
			fd_offset, shm_offset, len, access);
}

int ism_vhost_be_shmem_unmap(struct ism_vhost_be *be, uint32_t shmid,
			     uint64_t shm_offset, uint64_t len)
{
	return mmap_msg(be, ISM_VHOST_USER_BACKEND_SHMEM_UNMAP, shmid, -1, 0,
			shm_offset, len, ISM_ACCESS_RO);
}

ssize_t ism_vhost_be_mem_read(struct ism_vhost_be *be, uint64_t addr, void *buf,
			      uint32_t len)
{
	struct vhost_mem_rw m = { .addr = addr, .size = len }, r;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	uint32_t size;
	uint64_t v;
	int n, e;

	if (len == 0 || len > ISM_VHOST_USER_MEM_RW_MAX)
		return -EINVAL;
	pthread_mutex_lock(&be->lock);
	vhost_msg_begin(&b, be->buf, BUF_MAX, ISM_VHOST_USER_BACKEND_MEM_READ,
			ISM_VHOST_USER_VERSION);
	vhost_put_mem_rw(&b, &m, false);
	n = vhost_msg_end(&b);
	e = n < 0 ? n
		  : vhost_send_all(be->sock, be->buf, (size_t)n, -1,
				   be->timeout_ms);
	if (e == 0)
		e = read_reply(be, ISM_VHOST_USER_BACKEND_MEM_READ, &size);
	if (e == 0) {
		ism_rbuf_init(&rb, be->buf, size);
		if (size == 8) {
			/* Refused: a status instead of the data. */
			e = vhost_get_u64(&rb, &v) < 0 ? -EPROTO
						       : status_errno(v);
			if (e == 0)
				e = -EPROTO;
		} else if (vhost_get_mem_rw(&rb, &r, true) < 0 ||
			   r.addr != addr || r.size != len) {
			e = -EPROTO;
		} else {
			memcpy(buf, r.data, len);
			e = (int)len;
		}
	}
	pthread_mutex_unlock(&be->lock);
	return e;
}

ssize_t ism_vhost_be_mem_write(struct ism_vhost_be *be, uint64_t addr,
			       const void *buf, uint32_t len)
{
	struct vhost_mem_rw m = { .addr = addr, .size = len, .data = buf };
	bool ack = has(be->pf, ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct ism_wbuf b;
	int n, e;

	if (len == 0 || len > ISM_VHOST_USER_MEM_RW_MAX)
		return -EINVAL;
	pthread_mutex_lock(&be->lock);
	vhost_msg_begin(&b, be->buf, BUF_MAX, ISM_VHOST_USER_BACKEND_MEM_WRITE,
			ISM_VHOST_USER_VERSION |
				(ack ? ISM_VHOST_USER_FLAG_NEED_REPLY : 0));
	vhost_put_mem_rw(&b, &m, true);
	n = vhost_msg_end(&b);
	e = n < 0 ? n : call_locked(be, (size_t)n, -1, ack);
	pthread_mutex_unlock(&be->lock);
	return e < 0 ? e : (ssize_t)len;
}

/* ---- the back-end's side of the handshake ---- */

/* Reply to @request with @len payload bytes of @p. */
static int be_reply(int sock, uint32_t request, const void *p, size_t len,
		    int timeout_ms)
{
	uint8_t *msg = malloc(ISM_VHOST_USER_HDR_SIZE + len);
	struct ism_wbuf b;
	int n, e;

	if (!msg)
		return -ENOMEM;
	vhost_msg_begin(&b, msg, ISM_VHOST_USER_HDR_SIZE + len, request,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	ism_wbuf_bytes(&b, p, len);
	n = vhost_msg_end(&b);
	e = n < 0 ? n : vhost_send_all(sock, msg, (size_t)n, -1, timeout_ms);
	free(msg);
	return e;
}

static int be_reply_u64(int sock, uint32_t request, uint64_t v, int timeout_ms)
{
	uint8_t p[8];
	struct ism_wbuf b;

	ism_wbuf_init(&b, p, sizeof(p));
	vhost_put_u64(&b, v);
	return be_reply(sock, request, p, sizeof(p), timeout_ms);
}

/* Is @fd a connected AF_UNIX stream socket?  (Socket calls only.) */
static bool is_channel(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(int);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	       domain == AF_UNIX && type == SOCK_STREAM;
}

int ism_vhost_be_serve_one(int sock, const struct ism_vhost_be_dev *devp,
			   struct ism_vhost_be_state *st, int timeout_ms)
{
	struct ism_vhost_be_dev devc, *dev = &devc;
	uint8_t h[ISM_VHOST_USER_HDR_SIZE], *p = NULL;
	struct vhost_hdr hdr;
	struct ism_rbuf rb;
	uint64_t v = 0, offered;
	bool ack;
	int fd = -1, e, ret;

	if (!devp)
		return -EINVAL;
	e = ism_opts_copy(
		&devc, sizeof(devc),
		ISM_OPTS_SIZE_VER0(struct ism_vhost_be_dev, shmem_size), devp);
	if (e < 0)
		return e;
	if (dev->n_shmem > ISM_VHOST_USER_MAX_SHMEM ||
	    (dev->n_shmem && !dev->shmem_size))
		return -EINVAL;
	if (timeout_ms <= 0)
		timeout_ms = 5000;
	e = vhost_recv_all(sock, h, sizeof(h), timeout_ms, &fd);
	if (e < 0)
		return e;
	ism_rbuf_init(&rb, h, sizeof(h));
	if (vhost_get_hdr(&rb, &hdr) < 0 ||
	    (hdr.flags & ISM_VHOST_USER_FLAG_REPLY)) {
		ism_bgclose(fd);
		return -EPROTO;
	}
	if (hdr.size && !(p = malloc(hdr.size))) {
		ism_bgclose(fd);
		return -ENOMEM;
	}
	if (hdr.size &&
	    (e = vhost_recv_all(sock, p, hdr.size, timeout_ms, NULL)) < 0)
		goto out_close;
	ism_rbuf_init(&rb, p, hdr.size);
	ack = (st->protocol_features &
	       (1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
	      (hdr.flags & ISM_VHOST_USER_FLAG_NEED_REPLY);
	offered = dev->features | (1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES);
	ret = (int)hdr.request;
	switch (hdr.request) {
	case ISM_VHOST_USER_GET_FEATURES:
		e = hdr.size ? -EPROTO
			     : be_reply_u64(sock, hdr.request, offered,
					    timeout_ms);
		ack = false;
		break;
	case ISM_VHOST_USER_GET_PROTOCOL_FEATURES:
		e = hdr.size ? -EPROTO
			     : be_reply_u64(sock, hdr.request,
					    dev->protocol_features, timeout_ms);
		ack = false;
		break;
	case ISM_VHOST_USER_SET_FEATURES:
	case ISM_VHOST_USER_SET_PROTOCOL_FEATURES:
		if (vhost_get_u64(&rb, &v) < 0) {
			e = -EPROTO;
			break;
		}
		/* Only what was offered can be acknowledged. */
		e = hdr.request == ISM_VHOST_USER_SET_FEATURES
			    ? (v & ~offered ? -EINVAL : 0)
			    : (v & ~dev->protocol_features ? -EINVAL : 0);
		if (e == 0 && hdr.request == ISM_VHOST_USER_SET_FEATURES)
			st->features = v;
		else if (e == 0)
			st->protocol_features = v;
		break;
	case ISM_VHOST_USER_SET_BACKEND_REQ_FD:
		if (hdr.size || fd < 0 || !is_channel(fd)) {
			e = -EINVAL;
			break;
		}
		ism_close_fd(&st->backend_fd);
		st->backend_fd = fd;
		fd = -1;
		e = 0;
		break;
	case ISM_VHOST_USER_GET_SHMEM_CONFIG: {
		struct vhost_shmem_cfg *cfg = calloc(1, sizeof(*cfg));
		uint8_t *out = malloc(VHOST_SHMEM_CFG_SIZE);
		struct ism_wbuf b;

		e = hdr.size ? -EPROTO : cfg && out ? 0 : -ENOMEM;
		for (uint32_t i = 0; e == 0 && i < dev->n_shmem; i++) {
			if (dev->shmem_size[i] & 4095)
				e = -EINVAL;
			cfg->size[i] = dev->shmem_size[i];
			cfg->n += dev->shmem_size[i] != 0;
		}
		if (e == 0) {
			ism_wbuf_init(&b, out, VHOST_SHMEM_CFG_SIZE);
			vhost_put_shmem_cfg(&b, cfg);
			e = be_reply(sock, hdr.request, out,
				     VHOST_SHMEM_CFG_SIZE, timeout_ms);
		}
		free(cfg);
		free(out);
		ack = false;
		break;
	}
	default:
		e = 0;
		ret = -ENOSYS;
		break;
	}
	if (e == -EPROTO)
		goto out_close;
	if (ack && be_reply_u64(sock, hdr.request,
				ret == -ENOSYS ? ENOSYS
				: e < 0	       ? (uint64_t)-e
					       : 0,
				timeout_ms) < 0)
		e = -EPIPE;
	else if (ret == -ENOSYS)
		e = -ENOSYS;
	else if (e == 0)
		e = ret;
out_close:
	ism_bgclose(fd);
	free(p);
	return e;
}
