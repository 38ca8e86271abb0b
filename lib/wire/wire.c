/* SPDX-License-Identifier: MIT */
#include "wire.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t *take(struct ism_rbuf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > b->len - b->off) {
		b->err = -EBADMSG;
		b->off = b->len;
		return NULL;
	}
	const uint8_t *p = b->p + b->off;

	b->off += n;
	return p;
}

uint8_t ism_rbuf_u8(struct ism_rbuf *b)
{
	const uint8_t *p = take(b, 1);

	return p ? p[0] : 0;
}

uint16_t ism_rbuf_le16(struct ism_rbuf *b)
{
	const uint8_t *p = take(b, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t ism_rbuf_le32(struct ism_rbuf *b)
{
	const uint8_t *p = take(b, 4);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24
		 : 0;
}

uint64_t ism_rbuf_le64(struct ism_rbuf *b)
{
	uint64_t lo = ism_rbuf_le32(b);
	uint64_t hi = ism_rbuf_le32(b);

	return lo | hi << 32;
}

void ism_rbuf_bytes(struct ism_rbuf *b, void *dst, size_t n)
{
	const uint8_t *p = take(b, n);

	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

const uint8_t *ism_rbuf_ptr(struct ism_rbuf *b, size_t n)
{
	return take(b, n);
}

void ism_rbuf_str(struct ism_rbuf *b, char *dst, size_t cap, size_t max)
{
	uint16_t n = ism_rbuf_le16(b);
	const uint8_t *p;

	dst[0] = '\0';
	if (b->err)
		return;
	if (n > max || n >= cap) {
		b->err = -EINVAL;
		return;
	}
	p = take(b, n);
	if (!p)
		return;
	if (!ism_name_valid((const char *)p, n, max)) {
		b->err = -EINVAL;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

int ism_rbuf_end(const struct ism_rbuf *b)
{
	if (b->err)
		return b->err;
	return b->off == b->len ? 0 : -EBADMSG;
}

static uint8_t *room(struct ism_wbuf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > b->cap - b->len) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	uint8_t *p = b->p + b->len;

	b->len += n;
	return p;
}

uint8_t *ism_wbuf_reserve(struct ism_wbuf *b, size_t n)
{
	return room(b, n);
}

void ism_wbuf_u8(struct ism_wbuf *b, uint8_t v)
{
	uint8_t *p = room(b, 1);

	if (p)
		p[0] = v;
}

void ism_wbuf_le16(struct ism_wbuf *b, uint16_t v)
{
	uint8_t *p = room(b, 2);

	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

void ism_wbuf_le32(struct ism_wbuf *b, uint32_t v)
{
	uint8_t *p = room(b, 4);

	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		p[3] = (uint8_t)(v >> 24);
	}
}

void ism_wbuf_le64(struct ism_wbuf *b, uint64_t v)
{
	ism_wbuf_le32(b, (uint32_t)v);
	ism_wbuf_le32(b, (uint32_t)(v >> 32));
}

void ism_wbuf_bytes(struct ism_wbuf *b, const void *src, size_t n)
{
	uint8_t *p = room(b, n);

	if (p && n)
		memcpy(p, src, n);
}

void ism_wbuf_str(struct ism_wbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT16_MAX) {
		b->err = -EMSGSIZE;
		return;
	}
	ism_wbuf_le16(b, (uint16_t)n);
	ism_wbuf_bytes(b, s, n);
}

void ism_wire_hdr_put(struct ism_wbuf *b, const struct ism_wire_hdr *h)
{
	ism_wbuf_le16(b, h->type);
	ism_wbuf_le16(b, h->flags);
	ism_wbuf_le32(b, h->seq);
	ism_wbuf_le32(b, h->len);
	ism_wbuf_le32(b, h->status);
}

int ism_wire_hdr_get(struct ism_rbuf *b, size_t msglen, struct ism_wire_hdr *h)
{
	h->type = ism_rbuf_le16(b);
	h->flags = ism_rbuf_le16(b);
	h->seq = ism_rbuf_le32(b);
	h->len = ism_rbuf_le32(b);
	h->status = ism_rbuf_le32(b);
	if (b->err)
		return -EBADMSG;
	if (h->len != msglen || h->len < ISM_WIRE_HDR_SIZE ||
	    h->len > ISM_WIRE_MAX_MSG)
		return -EBADMSG;
	if (h->flags & ~ISM_WIRE_F_KNOWN)
		return -EBADMSG;
	/* One kind only: a reply, an event, or a request (maybe NOREPLY). */
	if (__builtin_popcount(h->flags) > 1)
		return -EBADMSG;
	return 0;
}

void ism_wire_set_len(struct ism_wbuf *b)
{
	if (b->err || b->len < ISM_WIRE_HDR_SIZE)
		return;
	uint32_t n = (uint32_t)b->len;

	b->p[8] = (uint8_t)n;
	b->p[9] = (uint8_t)(n >> 8);
	b->p[10] = (uint8_t)(n >> 16);
	b->p[11] = (uint8_t)(n >> 24);
}

ssize_t ism_wire_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds,
		      int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * ISM_WIRE_MAX_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	unsigned n = 0;
	int bad = 0;
	ssize_t r;

	*nfds = 0;
	do {
		/* MSG_TRUNC makes recvmsg return the packet's real length. */
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC | flags);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;

	/* Collect every fd the kernel installed, whatever else is wrong, so
	 * that each one can be closed on the error paths below. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			const unsigned char *data = CMSG_DATA(c);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, data + i * sizeof(int), sizeof(fd));
				if (n < ISM_WIRE_MAX_FDS)
					fds[n++] = fd;
				else
					ism_close_fd(&fd), bad = 1;
			}
		} else {
			bad = 1;
		}
	}
	if (bad || (msg.msg_flags & MSG_CTRUNC)) {
		ism_close_fds(fds, n);
		return -EBADMSG;
	}
	if ((size_t)r > cap || (msg.msg_flags & MSG_TRUNC)) {
		ism_close_fds(fds, n);
		return -EMSGSIZE;
	}
	if (r == 0 && n == 0)
		return 0;
	if (r == 0) {
		/* An empty packet carrying fds: not a message. */
		ism_close_fds(fds, n);
		return -EBADMSG;
	}
	*nfds = n;
	return r;
}

ssize_t ism_wire_sendv(int sock, const struct iovec *iov, unsigned niov,
		       const int *fds, unsigned nfds, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * ISM_WIRE_MAX_FDS)];
	} ctl;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov,
			      .msg_iovlen = niov };
	ssize_t r;

	if (nfds > ISM_WIRE_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(ctl.buf, 0, sizeof(ctl.buf));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		r = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int ism_wire_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t r;

	if (len > ISM_WIRE_MAX_MSG)
		return -EINVAL;
	r = ism_wire_sendv(sock, &iov, 1, fds, nfds, flags);
	if (r < 0)
		return (int)r;
	/* SOCK_SEQPACKET sends whole packets; anything else is a bug. */
	return (size_t)r == len ? 0 : -EIO;
}

ssize_t ism_wire_recv_keep(int sock, void *buf, size_t cap, int *fds,
			   unsigned *nfds, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * ISM_WIRE_SCM_MAX_FDS) +
			 CMSG_SPACE(64)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	unsigned n = 0;
	int bad = 0;
	ssize_t r;

	*nfds = 0;
	do {
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC | flags);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len >= CMSG_LEN(0)) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			const unsigned char *data = CMSG_DATA(c);

			for (size_t i = 0; i < k && n < ISM_WIRE_SCM_MAX_FDS;
			     i++)
				memcpy(&fds[n++], data + i * sizeof(int),
				       sizeof(int));
		} else {
			bad = 1;
		}
	}
	*nfds = n;
	if (bad || (msg.msg_flags & MSG_CTRUNC))
		return -EBADMSG;
	if ((size_t)r > cap || (msg.msg_flags & MSG_TRUNC))
		return -EMSGSIZE;
	if (r == 0 && n)
		return -EBADMSG; /* an empty packet carrying fds */
	return r;
}
