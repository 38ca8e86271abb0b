/* SPDX-License-Identifier: MIT */
/*
 * conntrack - one ctnetlink question: the NAT translation of a TCP
 * connection (see conntrack.h for what the answer means).
 *
 * The request is IPCTNL_MSG_CT_GET with an nfgenmsg naming the family and
 * one nested attribute, CTA_TUPLE_ORIG { CTA_TUPLE_IP { src, dst },
 * CTA_TUPLE_PROTO { CTA_PROTO_NUM, src port, dst port } }; the kernel
 * finds the entry in zone 0 and answers, during sendto(), with an
 * IPCTNL_MSG_CT_NEW message holding the whole entry, or an NLMSG_ERROR.
 * Netlink is host-endian in its headers and big-endian in these
 * addresses and ports; every field of the answer is copied out (never a
 * struct cast onto the buffer), every length is checked against its
 * parent's before use, and an answer that could be read two ways (an
 * attribute twice) is refused.
 */
#include "conntrack.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CT_MSG(m) ((uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | (m)))

_Static_assert(sizeof(struct nfgenmsg) == 4, "family, version, res_id");
_Static_assert(NLMSG_ALIGN(sizeof(struct nfgenmsg)) == 4,
	       "attributes follow the nfgenmsg without padding");
_Static_assert(sizeof(struct nlattr) == NLA_HDRLEN, "len, type");
_Static_assert(sizeof(struct nlmsgerr) == 4 + NLMSG_HDRLEN,
	       "an error code and the request's header");
_Static_assert(CT_REQUEST_MAX ==
		       NLMSG_HDRLEN + 4 + NLA_HDRLEN /* ORIG */ + NLA_HDRLEN +
			       2 * (NLA_HDRLEN + 16) /* IP */ + NLA_HDRLEN +
			       3 * (NLA_HDRLEN + 4) /* PROTO */,
	       "the IPv6 request, every attribute padded to 4");
_Static_assert(CT_REPLY_MAX >= 1024 + NLMSG_SPACE(sizeof(struct nlmsgerr)),
	       "room for an entry with every optional attribute, and an ack");

/* The address bytes of one family. */
static size_t addr_len(uint16_t family)
{
	return family == AF_INET ? 4 : 16;
}

static bool v4mapped(const struct ism_stream_addr *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return a->family == AF_INET6 && !memcmp(a->addr, prefix, 12);
}

/* @in as the kernel tracks it: an IPv4-mapped pair as IPv4, the unused
 * bytes and scope_id zeroed.  -EINVAL if it is not a TCP tuple. */
static int normalize(const struct ct_tuple *in, struct ct_tuple *out)
{
	const struct ism_stream_addr *e[2];
	struct ism_stream_addr *o[2] = { &out->src, &out->dst };
	bool mapped;

	if (!in || (in->src.family != AF_INET && in->src.family != AF_INET6) ||
	    in->dst.family != in->src.family || !in->src.port || !in->dst.port)
		return -EINVAL;
	mapped = v4mapped(&in->src);
	if (mapped != v4mapped(&in->dst))
		return -EINVAL; /* an IPv4 end and an IPv6 one */
	e[0] = &in->src;
	e[1] = &in->dst;
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 2; i++) {
		o[i]->port = e[i]->port;
		if (mapped) {
			o[i]->family = AF_INET;
			memcpy(o[i]->addr, e[i]->addr + 12, 4);
		} else {
			o[i]->family = e[i]->family;
			memcpy(o[i]->addr, e[i]->addr, addr_len(e[i]->family));
		}
	}
	return 0;
}

/* ---- the request ---- */

/* An attribute header at @p, its payload (@plen bytes) after it, padded
 * with zeros; returns the bytes written. */
static size_t put_attr(uint8_t *p, uint16_t type, const void *payload,
		       size_t plen)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + plen),
			    .nla_type = type };

	memcpy(p, &a, sizeof(a));
	memset(p + NLA_HDRLEN, 0, NLA_ALIGN(plen));
	if (plen)
		memcpy(p + NLA_HDRLEN, payload, plen);
	return NLA_HDRLEN + NLA_ALIGN(plen);
}

/* Close the nest opened at @start, @end bytes further on. */
static void end_nest(uint8_t *start, size_t len)
{
	uint16_t l = (uint16_t)len;

	memcpy(start + offsetof(struct nlattr, nla_len), &l, sizeof(l));
}

size_t ct_build_get(void *buf, size_t cap, uint32_t seq,
		    const struct ct_tuple *orig)
{
	uint8_t q[CT_REQUEST_MAX], *p = q, *tuple, *nest;
	struct nlmsghdr h = { .nlmsg_type = CT_MSG(IPCTNL_MSG_CT_GET),
			      .nlmsg_flags = NLM_F_REQUEST,
			      .nlmsg_seq = seq };
	struct nfgenmsg g = { .version = NFNETLINK_V0 };
	struct ct_tuple t;
	uint16_t port;
	uint8_t proto = IPPROTO_TCP;
	size_t alen;

	if (!buf || normalize(orig, &t) < 0)
		return 0;
	alen = addr_len(t.src.family);
	g.nfgen_family = (uint8_t)t.src.family;
	p += NLMSG_HDRLEN;
	memcpy(p, &g, sizeof(g));
	p += sizeof(g);

	tuple = p;
	p += put_attr(p, CTA_TUPLE_ORIG | NLA_F_NESTED, NULL, 0);
	nest = p;
	p += put_attr(p, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
	p += put_attr(p, alen == 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, t.src.addr,
		      alen);
	p += put_attr(p, alen == 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, t.dst.addr,
		      alen);
	end_nest(nest, (size_t)(p - nest));
	nest = p;
	p += put_attr(p, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	p += put_attr(p, CTA_PROTO_NUM, &proto, 1);
	port = htons(t.src.port);
	p += put_attr(p, CTA_PROTO_SRC_PORT, &port, 2);
	port = htons(t.dst.port);
	p += put_attr(p, CTA_PROTO_DST_PORT, &port, 2);
	end_nest(nest, (size_t)(p - nest));
	end_nest(tuple, (size_t)(p - tuple));

	h.nlmsg_len = (uint32_t)(p - q);
	memcpy(q, &h, sizeof(h));
	if (cap < h.nlmsg_len)
		return 0;
	memcpy(buf, q, h.nlmsg_len);
	return h.nlmsg_len;
}

/* ---- the answer ---- */

/* Attributes in [p, p + left): a cursor that refuses what overruns, and
 * the attribute it is on. */
struct attrs {
	const uint8_t *p;
	size_t left;
	unsigned n;
	uint16_t type;	   /* flags masked off */
	const uint8_t *pl; /* its payload */
	size_t plen;
};

/* To the next attribute (it->type, it->pl, it->plen): 1, or 0 at the
 * end, or -EBADMSG. */
static int next_attr(struct attrs *it)
{
	uint16_t len;
	size_t step;

	if (it->left == 0)
		return 0;
	if (it->left < NLA_HDRLEN || ++it->n > CT_ATTR_MAX)
		return -EBADMSG;
	len = nl_rd16(it->p + offsetof(struct nlattr, nla_len));
	if (len < NLA_HDRLEN || len > it->left)
		return -EBADMSG;
	it->type = nl_rd16(it->p + offsetof(struct nlattr, nla_type)) &
		   NLA_TYPE_MASK;
	it->pl = it->p + NLA_HDRLEN;
	it->plen = len - NLA_HDRLEN;
	/* The last attribute of its parent may lack its padding. */
	step = NLA_ALIGN((size_t)len);
	if (step >= it->left) {
		it->left = 0;
	} else {
		it->p += step;
		it->left -= step;
	}
	return 1;
}

/* Mark @type (< 32) seen in @seen; -EBADMSG if it already was. */
static int once(uint32_t *seen, uint16_t type)
{
	if (*seen & (1u << type))
		return -EBADMSG;
	*seen |= 1u << type;
	return 0;
}

/* CTA_TUPLE_IP's payload: both addresses of @family. */
static int parse_ip(const uint8_t *p, size_t len, uint16_t family,
		    struct ct_tuple *t)
{
	struct attrs it = { .p = p, .left = len };
	uint32_t seen = 0;
	int r;

	while ((r = next_attr(&it)) > 0) {
		struct ism_stream_addr *a;
		uint16_t fam;

		switch (it.type) {
		case CTA_IP_V4_SRC: fam = AF_INET, a = &t->src; break;
		case CTA_IP_V4_DST: fam = AF_INET, a = &t->dst; break;
		case CTA_IP_V6_SRC: fam = AF_INET6, a = &t->src; break;
		case CTA_IP_V6_DST: fam = AF_INET6, a = &t->dst; break;
		default: continue;
		}
		if (fam != family || it.plen != addr_len(fam) ||
		    once(&seen, it.type))
			return -EBADMSG;
		a->family = fam;
		memcpy(a->addr, it.pl, it.plen);
	}
	if (r < 0)
		return r;
	return t->src.family && t->dst.family ? 0 : -EBADMSG;
}

/* CTA_TUPLE_PROTO's payload: TCP and both ports. */
static int parse_proto(const uint8_t *p, size_t len, struct ct_tuple *t)
{
	struct attrs it = { .p = p, .left = len };
	uint32_t seen = 0;
	int r;

	while ((r = next_attr(&it)) > 0) {
		switch (it.type) {
		case CTA_PROTO_NUM:
			if (it.plen != 1 || once(&seen, it.type) ||
			    it.pl[0] != IPPROTO_TCP)
				return -EBADMSG;
			break;
		case CTA_PROTO_SRC_PORT:
		case CTA_PROTO_DST_PORT:
			if (it.plen != 2 || once(&seen, it.type))
				return -EBADMSG;
			if (it.type == CTA_PROTO_SRC_PORT)
				t->src.port = ntohs(nl_rd16(it.pl));
			else
				t->dst.port = ntohs(nl_rd16(it.pl));
			break;
		default: break;
		}
	}
	if (r < 0)
		return r;
	return seen == (1u << CTA_PROTO_NUM | 1u << CTA_PROTO_SRC_PORT |
			1u << CTA_PROTO_DST_PORT)
		       ? 0
		       : -EBADMSG;
}

/* A CTA_TUPLE_ORIG or CTA_TUPLE_REPLY payload. */
static int parse_tuple(const uint8_t *p, size_t len, uint16_t family,
		       struct ct_tuple *t)
{
	struct attrs it = { .p = p, .left = len };
	uint32_t seen = 0;
	int r;

	memset(t, 0, sizeof(*t));
	while ((r = next_attr(&it)) > 0) {
		if (it.type != CTA_TUPLE_IP && it.type != CTA_TUPLE_PROTO)
			continue; /* CTA_TUPLE_ZONE, ... */
		if (once(&seen, it.type))
			return -EBADMSG;
		r = it.type == CTA_TUPLE_IP
			    ? parse_ip(it.pl, it.plen, family, t)
			    : parse_proto(it.pl, it.plen, t);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return seen == (1u << CTA_TUPLE_IP | 1u << CTA_TUPLE_PROTO) ? 0
								    : -EBADMSG;
}

static bool same_end(const struct ism_stream_addr *a,
		     const struct ism_stream_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, addr_len(a->family));
}

/* An IPCTNL_MSG_CT_NEW payload: the entry for @orig, its reply tuple. */
static int parse_entry(const uint8_t *p, size_t len,
		       const struct ct_tuple *orig, struct ct_tuple *reply)
{
	struct attrs it;
	struct ct_tuple o;
	uint32_t seen = 0;
	uint16_t family = orig->src.family;
	int r;

	if (len < sizeof(struct nfgenmsg))
		return -EBADMSG;
	if (p[offsetof(struct nfgenmsg, nfgen_family)] != family ||
	    p[offsetof(struct nfgenmsg, version)] != NFNETLINK_V0)
		return -EBADMSG;
	it = (struct attrs){ .p = p + sizeof(struct nfgenmsg),
			     .left = len - sizeof(struct nfgenmsg) };
	while ((r = next_attr(&it)) > 0) {
		if (it.type != CTA_TUPLE_ORIG && it.type != CTA_TUPLE_REPLY)
			continue; /* status, timeout, mark, counters, ... */
		if (once(&seen, it.type))
			return -EBADMSG;
		r = parse_tuple(it.pl, it.plen, family,
				it.type == CTA_TUPLE_ORIG ? &o : reply);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (seen != (1u << CTA_TUPLE_ORIG | 1u << CTA_TUPLE_REPLY))
		return -EBADMSG;
	/* The kernel looked up exactly this tuple: anything else is an
	 * answer to another question. */
	if (!same_end(&o.src, &orig->src) || !same_end(&o.dst, &orig->dst))
		return -EBADMSG;
	return 0;
}

int ct_parse_reply(const void *buf, size_t len, uint32_t seq,
		   const struct ct_tuple *orig, struct ct_tuple *reply)
{
	const uint8_t *b = buf;
	struct ct_tuple want, got;
	size_t off = 0;
	int verdict = 1; /* 1: none yet */

	if (normalize(orig, &want) < 0 || !reply)
		return -EINVAL;
	if (!b || len > CT_REPLY_MAX || len < NLMSG_HDRLEN)
		return -EBADMSG;
	/* Invariant: off < len; every message is read and checked. */
	for (;;) {
		const uint8_t *h = b + off, *pl = h + NLMSG_HDRLEN;
		uint32_t mlen, mseq;
		uint16_t type;
		size_t plen, step;
		int32_t err;

		if (len - off < NLMSG_HDRLEN)
			return -EBADMSG; /* bytes that are not a message */
		mlen = nl_rd32(h + offsetof(struct nlmsghdr, nlmsg_len));
		type = nl_rd16(h + offsetof(struct nlmsghdr, nlmsg_type));
		mseq = nl_rd32(h + offsetof(struct nlmsghdr, nlmsg_seq));
		if (mlen < NLMSG_HDRLEN || mlen > len - off)
			return -EBADMSG;
		plen = mlen - NLMSG_HDRLEN;
		if (type == NLMSG_NOOP)
			goto next;
		if (mseq != seq)
			return -EBADMSG;
		if (type == NLMSG_ERROR) {
			if (plen < sizeof(struct nlmsgerr))
				return -EBADMSG;
			err = (int32_t)nl_rd32(
				pl + offsetof(struct nlmsgerr, error));
			if (err == 0 && verdict == 0)
				goto next; /* the ack after the entry */
			/* An ack before any answer, an error after one, a
			 * positive or impossible "errno": not the kernel. */
			if (verdict != 1 || err >= 0 || err < -4095)
				return -EBADMSG;
			verdict = err;
		} else if (type == CT_MSG(IPCTNL_MSG_CT_NEW) && verdict == 1) {
			int r = parse_entry(pl, plen, &want, &got);

			if (r < 0)
				return r;
			verdict = 0;
		} else {
			return -EBADMSG;
		}
	next:
		/* mlen <= len <= CT_REPLY_MAX: no overflow. */
		step = NLMSG_ALIGN((size_t)mlen);
		if (step >= len - off)
			break; /* the last message, padding and all */
		off += step;
	}
	if (verdict == 1)
		return -EBADMSG; /* only no-ops */
	if (verdict == 0)
		*reply = got;
	return verdict;
}

/* ---- the round trip ---- */

/* The kernel's answer on @nl, decoded, or the deadline. */
static int receive(int nl, uint32_t seq, const struct ct_tuple *orig,
		   struct ct_tuple *reply)
{
	uint8_t buf[CT_REPLY_MAX] __attribute__((aligned(8)));
	ssize_t n = nl_recv_kernel(nl, buf, sizeof(buf),
				   nl_now_ms() + NL_REPLY_TIMEOUT_MS);

	if (n < 0)
		return n == -EMSGSIZE ? -EBADMSG : (int)n;
	return ct_parse_reply(buf, (size_t)n, seq, orig, reply);
}

int ct_lookup(const struct ct_tuple *orig, struct ct_tuple *reply)
{
	static _Atomic uint32_t next_seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint8_t q[CT_REQUEST_MAX];
	uint32_t seq = atomic_fetch_add(&next_seq, 1) + 1;
	size_t qlen;
	ssize_t n;
	int nl, r;

	if (!reply || !(qlen = ct_build_get(q, sizeof(q), seq, orig)))
		return -EINVAL;
	/* A socket of this call, in the thread's namespace of this moment. */
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (nl < 0)
		return -errno;
	n = sendto(nl, q, qlen, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != qlen)
		r = -EIO;
	else
		r = receive(nl, seq, orig, reply);
	close(nl);
	return r;
}
