/* SPDX-License-Identifier: MIT */
/*
 * vhost - the vhost-user messages' codecs (vhost.h).  The layouts are the
 * spec's (QEMU docs/interop/vhost-user.rst), byte for byte:
 *
 *   header        request u32 | flags u32 | size u32         (12 bytes)
 *   u64           value                                      (8)
 *   MMAP request  shmid u8 | padding 7 | fd_offset u64 |
 *                 shm_offset u64 | len u64 | flags u64        (40)
 *   shmem config  num regions u32 | padding u32 |
 *                 mem size u64 x 256                         (2056)
 *   mem rw        guest address u64 | size u32 | data[size]  (12 + size)
 */
#include "vhost.h"

#include "util/bgclose.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

void vhost_msg_begin(struct ism_wbuf *b, void *buf, size_t cap,
		     uint32_t request, uint32_t flags)
{
	ism_wbuf_init(b, buf, cap);
	ism_wbuf_le32(b, request);
	ism_wbuf_le32(b, flags);
	ism_wbuf_le32(b, 0);
}

int vhost_msg_end(struct ism_wbuf *b)
{
	uint32_t size;

	if (b->err)
		return b->err;
	if (b->len < ISM_VHOST_USER_HDR_SIZE ||
	    b->len - ISM_VHOST_USER_HDR_SIZE > VHOST_PAYLOAD_MAX)
		return -EMSGSIZE;
	size = (uint32_t)(b->len - ISM_VHOST_USER_HDR_SIZE);
	for (int i = 0; i < 4; i++)
		b->p[8 + i] = (uint8_t)(size >> (8 * i));
	return (int)b->len;
}

void vhost_put_hdr(struct ism_wbuf *b, const struct vhost_hdr *h)
{
	ism_wbuf_le32(b, h->request);
	ism_wbuf_le32(b, h->flags);
	ism_wbuf_le32(b, h->size);
}

int vhost_get_hdr(struct ism_rbuf *b, struct vhost_hdr *h)
{
	h->request = ism_rbuf_le32(b);
	h->flags = ism_rbuf_le32(b);
	h->size = ism_rbuf_le32(b);
	if (b->err)
		return b->err;
	if ((h->flags & 3u) != ISM_VHOST_USER_VERSION ||
	    (h->flags & ~(3u | ISM_VHOST_USER_FLAG_REPLY |
			  ISM_VHOST_USER_FLAG_NEED_REPLY)))
		return -EPROTO;
	if (h->size > VHOST_PAYLOAD_MAX)
		return -EMSGSIZE;
	return 0;
}

/* Everything consumed, no error on the way: 0, -EBADMSG or -EINVAL. */
static int finish(struct ism_rbuf *b, bool bad)
{
	if (b->err)
		return b->err;
	if (ism_rbuf_left(b))
		return -EBADMSG;
	return bad ? -EINVAL : 0;
}

void vhost_put_u64(struct ism_wbuf *b, uint64_t v)
{
	ism_wbuf_le64(b, v);
}

int vhost_get_u64(struct ism_rbuf *b, uint64_t *v)
{
	*v = ism_rbuf_le64(b);
	return finish(b, false);
}

void vhost_put_mmap(struct ism_wbuf *b, const struct vhost_mmap *m)
{
	static const uint8_t pad[7];

	ism_wbuf_u8(b, m->shmid);
	ism_wbuf_bytes(b, pad, sizeof(pad));
	ism_wbuf_le64(b, m->fd_offset);
	ism_wbuf_le64(b, m->shm_offset);
	ism_wbuf_le64(b, m->len);
	ism_wbuf_le64(b, m->flags);
}

int vhost_get_mmap(struct ism_rbuf *b, struct vhost_mmap *m)
{
	uint8_t pad[7];
	uint64_t end;

	m->shmid = ism_rbuf_u8(b);
	ism_rbuf_bytes(b, pad, sizeof(pad));
	m->fd_offset = ism_rbuf_le64(b);
	m->shm_offset = ism_rbuf_le64(b);
	m->len = ism_rbuf_le64(b);
	m->flags = ism_rbuf_le64(b);
	return finish(
		b, m->len == 0 || (m->flags & ~ISM_VHOST_USER_SHMEM_MAP_RW) ||
			   __builtin_add_overflow(m->fd_offset, m->len, &end) ||
			   __builtin_add_overflow(m->shm_offset, m->len, &end));
}

void vhost_put_shmem_cfg(struct ism_wbuf *b, const struct vhost_shmem_cfg *c)
{
	ism_wbuf_le32(b, c->n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < ISM_VHOST_USER_MAX_SHMEM; i++)
		ism_wbuf_le64(b, c->size[i]);
}

int vhost_get_shmem_cfg(struct ism_rbuf *b, struct vhost_shmem_cfg *c)
{
	uint32_t used = 0;
	bool bad;

	c->n = ism_rbuf_le32(b);
	(void)ism_rbuf_le32(b); /* padding */
	for (uint32_t i = 0; i < ISM_VHOST_USER_MAX_SHMEM; i++) {
		c->size[i] = ism_rbuf_le64(b);
		used += c->size[i] != 0;
		if (c->size[i] & 4095)
			used = UINT32_MAX / 2; /* not a page multiple */
	}
	/* A real front-end asserts on more than 256: refused here. */
	bad = c->n > ISM_VHOST_USER_MAX_SHMEM || c->n != used;
	return finish(b, bad);
}

void vhost_put_mem_rw(struct ism_wbuf *b, const struct vhost_mem_rw *m,
		      bool data)
{
	ism_wbuf_le64(b, m->addr);
	ism_wbuf_le32(b, m->size);
	if (data)
		ism_wbuf_bytes(b, m->data, m->size);
}

int vhost_get_mem_rw(struct ism_rbuf *b, struct vhost_mem_rw *m, bool data)
{
	uint64_t end;

	m->addr = ism_rbuf_le64(b);
	m->size = ism_rbuf_le32(b);
	m->data = NULL;
	if (b->err)
		return b->err;
	if (m->size == 0 || m->size > ISM_VHOST_USER_MEM_RW_MAX ||
	    __builtin_add_overflow(m->addr, (uint64_t)m->size, &end)) {
		/* Do not trust the size to walk the buffer. */
		return ism_rbuf_left(b) == (data ? m->size : 0) ? -EINVAL
								: -EBADMSG;
	}
	if (data)
		m->data = ism_rbuf_ptr(b, m->size);
	return finish(b, false);
}

/* ---- blocking I/O for the handshakes and the back-end ---- */

/* Write all of @buf (with @fd, if >= 0, on its first byte) within
 * @timeout_ms. */
int vhost_send_all(int sock, const uint8_t *buf, size_t len, int fd,
		   int timeout_ms)
{
	size_t off = 0;

	while (off < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (void *)(buf + off), len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		ssize_t n;

		if (off == 0 && fd >= 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Read exactly @len bytes within @timeout_ms each wait; fds that come
 * along are closed (unless @fds collects one). */
int vhost_recv_all(int sock, uint8_t *buf, size_t len, int timeout_ms, int *fd)
{
	size_t off = 0;

	while (off < len) {
		union {
			char buf[CMSG_SPACE(VHOST_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf + off, len - off };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n > 0) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
			     c = CMSG_NXTHDR(&mh, c)) {
				size_t k;

				if (c->cmsg_level != SOL_SOCKET ||
				    c->cmsg_type != SCM_RIGHTS)
					continue;
				k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t i = 0; i < k; i++) {
					int f;

					memcpy(&f,
					       CMSG_DATA(c) + i * sizeof(int),
					       sizeof(f));
					if (fd && *fd < 0 && off == 0)
						*fd = f;
					else
						ism_bgclose(f);
				}
			}
			off += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}
