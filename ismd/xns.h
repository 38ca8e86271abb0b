/* SPDX-License-Identifier: MIT */
/*
 * xns - what ismd may learn about a socket in another network namespace.
 *
 * Concepts: two ends of a stream in two network namespaces (containers
 * joined by a veth pair or a bridge) each hand ismd a socket.  Addresses
 * alone prove nothing across namespaces: every namespace has its own
 * addresses, and two unrelated ones may hold connections with the very
 * same mirrored 4-tuple.  What the two ends of one TCP connection share is
 * its sequence numbers: each side's next sequence to send is the other's
 * next to receive.  The kernel shows them through TCP_REPAIR
 * (TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ); ismd turns repair on, reads, and
 * turns it off again without a window probe.
 *
 * Trust: TCP_REPAIR also lets whoever holds CAP_NET_ADMIN over a
 * namespace build an established socket with any 4-tuple and any
 * sequence numbers, and addresses there are whatever that holder set.
 * Anyone may make a user namespace and a network namespace it owns
 * (unshare -Urn) and hold that capability there; Linux derives initial
 * sequence numbers from a host-wide secret, the 4-tuple and a clock, so
 * such a namespace could even learn the numbers a victim's connection
 * started with.  So only namespaces owned by ismd's own user namespace
 * count (xns_trusted()): there only a process privileged on the host sets
 * addresses or uses repair.  Any other owner: no cross-namespace match.
 *
 * Which ism listener would take a client's connection is the kernel's to
 * say in the listener's namespace: a short-lived thread enters it (the
 * fd SIOCGSKNS gives for the listener's socket, kept by ismd; setns()),
 * checks that the destination is an address of that namespace (a probe
 * socket binds to it, port 0, as libism's client does in its own), and
 * asks sock_diag through a netlink socket made there (a socket belongs to
 * the namespace of the thread that created it).  No thread of ismd but
 * that one ever changes namespace.  Needs CAP_NET_ADMIN over the
 * namespace (SIOCGSKNS, TCP_REPAIR) and CAP_SYS_ADMIN (setns).
 *
 * Waits: setsockopt(TCP_REPAIR*) and getsockopt(TCP_INFO) take the
 * socket's lock (lock_sock, lock_sock_fast), which the socket's owner
 * can hold indefinitely (a send() copying from a page that never
 * arrives), and getpeername() does too; SIOCGSKNS and NS_GET_USERNS do
 * not.  So every call here that touches a peer's socket belongs on a
 * worker thread (stream.c runs them in jobs), never on ismd's loop.
 * Each call is self-contained: safe from any thread.
 */
#ifndef ISMD_XNS_H
#define ISMD_XNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Read ismd's own user namespace (once, at start).  0 or -errno (then no
 * namespace is trusted). */
int xns_init(void);

/* Whether ismd may look into other namespaces at all (the capabilities
 * above, as of xns_init()): what HELLO tells peers (ISM_CAP_XNS), so that
 * libism asks about a destination outside its own namespace only then. */
bool xns_capable(void);

/*
 * The network namespace of socket @fd, as a new fd (close-on-exec; the
 * caller owns it).  Returns it or -errno: -EPERM without CAP_NET_ADMIN
 * over that namespace, -ENOTTY where the kernel lacks SIOCGSKNS.
 * No socket lock.
 */
int xns_netns_of(int fd);

/*
 * Is network namespace @nsfd owned by ismd's own user namespace
 * (NS_GET_USERNS, compared by device and inode)?  1, 0, or -errno (also
 * -ENOENT if xns_init() failed).
 */
int xns_trusted(int nsfd);

/*
 * In the namespace @nsfd: is @dst (a sockaddr_in/in6 of @len bytes, as
 * sockdiag_would_accept() takes it) one of its addresses, and is the
 * socket with @cookie the one that would accept a connection to it?
 * Returns 1, 0 (not a local address there, or the kernel said no) or
 * -errno (the thread, setns - -EPERM without CAP_SYS_ADMIN -, the probe
 * or sock_diag could not answer).  Blocks the caller for one thread's
 * life: no I/O, no socket lock, no peer in the way.
 */
int xns_would_accept(int nsfd, const struct sockaddr *dst, socklen_t len,
		     uint64_t cookie);

/* Is @dst (a sockaddr_in/in6 of @len bytes) one of the addresses of the
 * calling thread's network namespace: can a socket bind to it?  1, 0 or
 * -errno.  No socket of anyone else's is touched. */
int xns_is_local(const struct sockaddr *dst, socklen_t len);

struct ct_tuple;
/* ct_lookup() (conntrack.h) in the namespace @nsfd, from a short-lived
 * thread, as xns_would_accept() asks there: 0 or -errno (also setns's). */
int xns_ct_lookup(int nsfd, const struct ct_tuple *orig,
		  struct ct_tuple *reply);

/*
 * The sequence numbers of established TCP socket @fd: *@snd the next it
 * will send (its write_seq, including bytes still queued), *@rcv the next
 * it expects.  Repair mode is on only during the call; SO_REUSEADDR
 * (which leaving repair clears) is restored.  Returns 0, -EPERM without
 * CAP_NET_ADMIN over its namespace, -EINVAL for a socket not established,
 * or another -errno.  Takes the socket's lock: a worker's call.
 */
int xns_tcp_seq(int fd, uint32_t *snd, uint32_t *rcv);

#endif
