/* SPDX-License-Identifier: MIT */
/*
 * sockdiag - ask the kernel which TCP socket would accept a connection
 * (see sockdiag.h for what the answer means).
 *
 * The request is inet_diag's "one socket" query: SOCK_DIAG_BY_FAMILY
 * without NLM_F_DUMP, the socket's own end (idiag_src/idiag_sport: for a
 * listener, the connection's destination), its other end (the unspecified
 * address and port 0 for a listener) and the cookie.  The kernel finds
 * the socket in its hash tables and fills the answer without the socket's
 * lock, so a peer holding that lock (a send() stuck copying from a page
 * that never arrives) cannot make the question wait.  Netlink handles a request to the kernel
 * during sendmsg(), so the answer is queued before send returns; the
 * receive still has a deadline, and every byte of the answer is checked
 * before use (netlink is host-endian: fields are copied out, never cast).
 */
#include "sockdiag.h"
#include "netlink.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The request as sent: built in a host struct, copied out whole. */
struct request {
	struct nlmsghdr nh;
	struct inet_diag_req_v2 r;
};

_Static_assert(sizeof(struct request) == NLMSG_HDRLEN + 56,
	       "a netlink header and an inet_diag_req_v2, no padding");
_Static_assert(sizeof(struct inet_diag_msg) == 72,
	       "the fixed part of the kernel's answer");
_Static_assert(sizeof(struct nlmsgerr) == 4 + NLMSG_HDRLEN,
	       "an error code and the request's header");
_Static_assert(SOCKDIAG_REPLY_MAX >=
		       NLMSG_SPACE(sizeof(struct nlmsgerr)) + NLMSG_SPACE(1024),
	       "room for any answer this kernel API gives to one request");

static int nl_fd = -1;
static uint32_t nl_seq;

uint64_t sockdiag_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l) < 0 || l != sizeof(c))
		return 0;
	return c;
}

void sockdiag_close(void)
{
	if (nl_fd >= 0)
		close(nl_fd);
	nl_fd = -1;
}

/* One message for @seq: its verdict, or -EAGAIN to look further. */
static int parse_one(uint16_t type, const uint8_t *p, size_t plen,
		     uint64_t cookie)
{
	int32_t err;

	switch (type) {
	case NLMSG_ERROR:
		if (plen < sizeof(struct nlmsgerr))
			return -EBADMSG;
		err = (int32_t)nl_rd32(p + offsetof(struct nlmsgerr, error));
		/* The verdicts about this socket; anything else is the
		 * kernel unable to say (or a positive "error": garbage). */
		if (err == -ESTALE || err == -ENOENT)
			return 0;
		if (err == -EAGAIN)
			return -EBUSY; /* -EAGAIN here means "read on" */
		if (err < 0 && err >= -4095)
			return err;
		return -EBADMSG; /* 0 is an ack: not asked for */
	case SOCK_DIAG_BY_FAMILY: {
		size_t at = offsetof(struct inet_diag_msg, id.idiag_cookie);
		uint8_t family;
		uint64_t c;

		if (plen < sizeof(struct inet_diag_msg))
			return -EBADMSG;
		family = p[offsetof(struct inet_diag_msg, idiag_family)];
		if (family != AF_INET && family != AF_INET6)
			return -EBADMSG;
		/* idiag_cookie[0] is the low half, [1] the high half. */
		c = (uint64_t)nl_rd32(p + at) | (uint64_t)nl_rd32(p + at + 4)
							<< 32;
		/* The kernel returns a socket only if the cookie matched;
		 * another one here means we cannot trust this answer. */
		return c == cookie ? 1 : -EBADMSG;
	}
	case NLMSG_NOOP: return -EAGAIN;
	default: return -EBADMSG;
	}
}

int sockdiag_parse_reply(const uint8_t *buf, size_t len, uint32_t seq,
			 uint64_t cookie)
{
	size_t off = 0;

	if (len > SOCKDIAG_REPLY_MAX)
		return -EMSGSIZE;
	if (len < NLMSG_HDRLEN)
		return -EBADMSG;
	/* Invariant: off <= len. */
	while (len - off >= NLMSG_HDRLEN) {
		const uint8_t *h = buf + off;
		uint32_t mlen =
			nl_rd32(h + offsetof(struct nlmsghdr, nlmsg_len));
		uint16_t type =
			nl_rd16(h + offsetof(struct nlmsghdr, nlmsg_type));
		uint32_t mseq =
			nl_rd32(h + offsetof(struct nlmsghdr, nlmsg_seq));
		size_t step;
		int r;

		if (mlen < NLMSG_HDRLEN || mlen > len - off)
			return -EBADMSG;
		if (mseq == seq) {
			r = parse_one(type, h + NLMSG_HDRLEN,
				      mlen - NLMSG_HDRLEN, cookie);
			if (r != -EAGAIN)
				return r;
		}
		/* mlen <= len <= SOCKDIAG_REPLY_MAX: no overflow. */
		step = NLMSG_ALIGN((size_t)mlen);
		if (step >= len - off)
			return -EAGAIN; /* the last message, padding and all */
		off += step;
	}
	return -EBADMSG; /* bytes after the last message */
}

/* One end of the connection asked about, into inet_diag's form (IPv4 for
 * an IPv4-mapped address, as such a connection is on the wire); port 0 is
 * refused unless @any_port.  -errno if @sa is not an address. */
static int put_end(const struct sockaddr *sa, socklen_t len, uint8_t *family,
		   __be16 *port, __be32 *addr, __u32 *ifindex)
{
	sa_family_t f;

	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	memcpy(&f, sa, sizeof(f));
	if (f == AF_INET) {
		struct sockaddr_in a;

		if (len < (socklen_t)sizeof(a))
			return -EINVAL;
		memcpy(&a, sa, sizeof(a));
		*port = a.sin_port;
		memcpy(addr, &a.sin_addr, 4);
		*family = AF_INET;
	} else if (f == AF_INET6) {
		struct sockaddr_in6 a;

		if (len < (socklen_t)sizeof(a))
			return -EINVAL;
		memcpy(&a, sa, sizeof(a));
		*port = a.sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
			*family = AF_INET;
			memcpy(addr, a.sin6_addr.s6_addr + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, &a.sin6_addr, 16);
			if (ifindex && a.sin6_scope_id)
				*ifindex = a.sin6_scope_id;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	return *port ? 0 : -EINVAL;
}

/* Fill @q for the socket whose own end is @self and whose other end is
 * @other (NULL: the unspecified address, port 0 - only listeners match);
 * -errno if either is not an address of one family. */
static int build(struct request *q, const struct sockaddr *self, socklen_t slen,
		 const struct sockaddr *other, socklen_t olen, uint64_t cookie,
		 uint32_t seq)
{
	struct inet_diag_sockid *id = &q->r.id;
	uint8_t family, ofamily;
	int r;

	memset(q, 0, sizeof(*q));
	/* ~0 is INET_DIAG_NOCOOKIE, which matches any socket. */
	if (cookie == 0 || cookie == ~(uint64_t)0)
		return -EINVAL;
	if ((r = put_end(self, slen, &family, &id->idiag_sport, id->idiag_src,
			 &id->idiag_if)) < 0)
		return r;
	if (other) {
		if ((r = put_end(other, olen, &ofamily, &id->idiag_dport,
				 id->idiag_dst, &id->idiag_if)) < 0)
			return r;
		if (ofamily != family)
			return -EINVAL;
	}
	id->idiag_cookie[0] = (uint32_t)cookie;
	id->idiag_cookie[1] = (uint32_t)(cookie >> 32);
	q->r.sdiag_family = family;
	q->r.sdiag_protocol = IPPROTO_TCP;
	q->r.idiag_states = ~0u;
	q->nh.nlmsg_len = sizeof(*q);
	q->nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q->nh.nlmsg_flags = NLM_F_REQUEST; /* no NLM_F_DUMP: one socket */
	q->nh.nlmsg_seq = seq;
	return 0;
}

/* Datagrams from the kernel on @nl, into @buf (SOCKDIAG_REPLY_MAX bytes),
 * until one answers @seq or the deadline passes. */
static int receive(int nl, uint8_t *buf, uint32_t seq, uint64_t cookie)
{
	int64_t deadline = nl_now_ms() + NL_REPLY_TIMEOUT_MS;

	for (;;) {
		ssize_t n =
			nl_recv_kernel(nl, buf, SOCKDIAG_REPLY_MAX, deadline);
		int r;

		if (n < 0)
			return n == -ETIMEDOUT ? -EAGAIN : (int)n;
		r = sockdiag_parse_reply(buf, (size_t)n, seq, cookie);
		if (r != -EAGAIN)
			return r;
	}
}

static int open_socket(void)
{
	if (nl_fd >= 0)
		return 0;
	nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		       NETLINK_SOCK_DIAG);
	return nl_fd < 0 ? -errno : 0;
}

/* One request on @nl, one answer into @buf. */
static int ask_on(int nl, uint8_t *buf, uint32_t seq,
		  const struct sockaddr *self, socklen_t slen,
		  const struct sockaddr *other, socklen_t olen, uint64_t cookie)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct request q;
	ssize_t n;
	int r;

	if ((r = build(&q, self, slen, other, olen, cookie, seq)) < 0)
		return r;
	n = sendto(nl, &q, sizeof(q), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel));
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(q))
		return -EIO;
	return receive(nl, buf, seq, cookie);
}

/* One request, one answer, on the loop's socket. */
static int ask(const struct sockaddr *self, socklen_t slen,
	       const struct sockaddr *other, socklen_t olen, uint64_t cookie)
{
	static uint8_t buf[SOCKDIAG_REPLY_MAX] __attribute__((aligned(8)));
	int r;

	if ((r = open_socket()) < 0)
		return r;
	return ask_on(nl_fd, buf, ++nl_seq, self, slen, other, olen, cookie);
}

int sockdiag_would_accept(const struct sockaddr *dst, socklen_t len,
			  uint64_t cookie)
{
	return ask(dst, len, NULL, 0, cookie);
}

int sockdiag_would_accept_on(int nl, const struct sockaddr *dst, socklen_t len,
			     uint64_t cookie)
{
	uint8_t *buf;
	int r;

	if (nl < 0)
		return -EBADF;
	/* Its own buffer and sequence: any thread may call this. */
	if (!(buf = aligned_alloc(8, SOCKDIAG_REPLY_MAX)))
		return -ENOMEM;
	r = ask_on(nl, buf, 1, dst, len, NULL, 0, cookie);
	free(buf);
	return r;
}

int sockdiag_is_connection(const struct sockaddr *self, socklen_t slen,
			   const struct sockaddr *other, socklen_t olen,
			   uint64_t cookie)
{
	if (!other)
		return -EINVAL;
	return ask(self, slen, other, olen, cookie);
}
