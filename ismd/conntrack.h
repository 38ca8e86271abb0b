/* SPDX-License-Identifier: MIT */
/*
 * conntrack - where a TCP connection really went, after destination NAT.
 *
 * Concepts: a client may connect to a service address that no socket
 * holds (a Kubernetes ClusterIP: kube-proxy's iptables or nftables rules
 * DNAT it to one pod's address).  The client's socket still names the
 * service address (getpeername), the server's socket names its own; to
 * match the two ends of one connection ismd needs the address the
 * connection was rewritten to.  The kernel's connection tracker knows: it
 * keeps each connection as two tuples, ORIGINAL (the first packet as the
 * client sent it: client -> service) and REPLY (the answers as the
 * server sends them, after NAT: server -> client, or -> the masquerade
 * address if SNAT applied too).  ctnetlink (NETLINK_NETFILTER,
 * IPCTNL_MSG_CT_GET) returns the entry whose ORIGINAL tuple is the one
 * asked about, with both tuples.
 *
 * What the answer covers: TCP only, conntrack zone 0 (the default: an
 * entry in another zone is not found), the network namespace of the
 * calling thread at the time of the call (each call opens its own
 * netlink socket).  An entry exists only while conntrack tracks the
 * connection: a namespace with no NAT or conntrack rule tracks nothing,
 * so -ENOENT there means "no NAT seen", not "no connection".  The entry
 * is a claim about addresses only: it says nothing about which socket
 * holds either end (sockdiag.h says that).
 *
 * Needs CAP_NET_ADMIN over the namespace (nfnetlink checks it on every
 * request); the kernel loads nf_conntrack_netlink on first use.
 *
 * Thread-safe: no shared state; every call has its own socket and
 * buffer.  Waits for the answer at most NL_REPLY_TIMEOUT_MS, but the
 * first call may wait while the kernel loads nf_conntrack_netlink:
 * call it from a job, not from ismd's loop.
 */
#ifndef ISMD_CONNTRACK_H
#define ISMD_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include <ism/stream.h>

/* Largest answer accepted (one entry is a few hundred bytes). */
#define CT_REPLY_MAX 8192u
/* Largest request ct_build_get() writes (an IPv6 tuple). */
#define CT_REQUEST_MAX 96u
/* Most attributes read at one nesting level of an answer. */
#define CT_ATTR_MAX 64u

/*
 * One direction of a connection: @src sends to @dst.  family is AF_INET
 * or AF_INET6 in both, port in host order; scope_id is not part of a
 * conntrack tuple: ignored in what is asked, 0 in what is answered.
 */
struct ct_tuple {
	struct ism_stream_addr src, dst;
};

/*
 * Look up the TCP connection whose ORIGINAL direction is @orig (src = the
 * client's own address, dst = the address it connected to) in the calling
 * thread's network namespace.  An @orig whose two ends are both
 * IPv4-mapped IPv6 addresses is asked as IPv4 (as such a connection is
 * tracked), and *@reply is then IPv4 (AF_INET).  On success *@reply gets
 * the REPLY direction: reply->src is where the connection really went
 * (the DNAT target; @orig's dst if no DNAT), reply->dst where the
 * answers go (@orig's src unless SNAT/masquerade applied too).
 *
 * Returns 0; -EINVAL for a bad @orig (families not both AF_INET or both
 * AF_INET6, a port 0); -ENOENT no such entry; -EPERM without
 * CAP_NET_ADMIN; -ETIMEDOUT no answer within 100 ms; -EBADMSG an answer
 * that does not decode or is not about @orig (or one over CT_REPLY_MAX);
 * another -errno from socket(), sendto(), recvmsg() or the kernel
 * (-EPROTONOSUPPORT without nfnetlink).
 */
int ct_lookup(const struct ct_tuple *orig, struct ct_tuple *reply);

/*
 * The request ct_lookup() sends, for tests and fuzzing: writes the
 * netlink message asking about @orig (an IPv4-mapped pair as IPv4, as
 * ct_lookup() asks) with sequence number @seq into @buf.  Returns its
 * length (at most CT_REQUEST_MAX), or 0 if @cap is too small or @orig is
 * bad (as for -EINVAL above).
 */
size_t ct_build_get(void *buf, size_t cap, uint32_t seq,
		    const struct ct_tuple *orig);

/*
 * Decode the datagram of @len bytes at @buf (any alignment) received in
 * answer to request @seq about @orig.  Every message must carry @seq (a
 * fresh socket gets nothing else).  Returns 0 with *@reply filled from
 * the entry (type IPCTNL_MSG_CT_NEW, @orig's family, a CTA_TUPLE_ORIG
 * equal to @orig and a CTA_TUPLE_REPLY, each with its addresses, TCP and
 * both ports), which may be followed by an ack (NLMSG_ERROR 0) or
 * NLMSG_NOOPs (of any sequence number); the kernel's error if the first
 * message is an NLMSG_ERROR (-ENOENT: no such entry; -EPERM, ...);
 * -EINVAL for a bad @orig (as ct_lookup(), IPv4-mapped pairs read as
 * IPv4) or a NULL @reply; -EBADMSG for anything else: @len over
 * CT_REPLY_MAX, truncated, a length past its parent, nla_len < 4, bytes
 * after the last message, another
 * sequence number or message type, an ack before the entry, a second
 * entry, a tuple or field missing or of the wrong size, the other
 * family's addresses, a protocol other than TCP, an ORIGINAL tuple that
 * is not @orig, more than CT_ATTR_MAX attributes at one level, or a
 * second copy of an attribute this decoder reads (duplicates are
 * refused, not resolved; unknown attributes are skipped).  *@reply is
 * written only on success.
 */
int ct_parse_reply(const void *buf, size_t len, uint32_t seq,
		   const struct ct_tuple *orig, struct ct_tuple *reply);

#endif
