/* SPDX-License-Identifier: MIT */
/*
 * xns - what ismd may learn about a socket in another network namespace.
 *
 * Concepts: two ends of a stream in two network namespaces (containers
 * joined by a veth pair or a bridge) each hand ismd a socket.  Addresses
 * alone prove nothing across namespaces: every namespace has its own
 * addresses, and two unrelated ones may hold connections with the very
 * same mirrored 4-tuple.  What only the two ends of one TCP connection
 * share is its sequence numbers: each side's next sequence to send is the
 * other's next to receive.  The kernel shows them through TCP_REPAIR
 * (TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ), which needs CAP_NET_ADMIN in the
 * user namespace owning the socket's network namespace; ismd turns repair
 * on, reads, and turns it off again without a window probe.  A peer
 * cannot make its socket show another connection's numbers unless it
 * knows them, i.e. it sees that connection's packets - the same bar as
 * hijacking the TCP connection itself.
 *
 * Which ism listener would take a client's connection is the kernel's to
 * say in the listener's namespace: a short-lived thread enters it (the
 * fd SIOCGSKNS gives for the listener's socket, kept by ismd; setns()),
 * checks that the destination is an address of that namespace (a probe
 * socket binds to it, port 0, as libism's client does in its own), and
 * asks sock_diag through a netlink socket made there (a socket belongs to
 * the namespace of the thread that created it).  So ismd's loop thread
 * never changes namespace.  Needs CAP_NET_ADMIN over the namespace
 * (SIOCGSKNS) and CAP_SYS_ADMIN (setns): ismd as root has both.
 *
 * Nothing here waits on a peer: getsockopt/setsockopt/ioctl on a socket
 * answer at once (the socket lock is held only briefly by the owner's own
 * calls), and the thread does no I/O.  Each call is self-contained:
 * safe from any thread.
 */
#ifndef ISMD_XNS_H
#define ISMD_XNS_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * The network namespace of socket @fd, as a new fd (close-on-exec; the
 * caller owns it).  Returns it or -errno: -EPERM without CAP_NET_ADMIN
 * over that namespace, -ENOTTY where the kernel lacks SIOCGSKNS.
 */
int xns_netns_of(int fd);

/*
 * In the namespace @nsfd: is @dst (a sockaddr_in/in6 of @len bytes, as
 * sockdiag_would_accept() takes it) one of its addresses, and is the
 * socket with @cookie the one that would accept a connection to it?
 * Returns 1, 0 (not a local address there, or the kernel said no) or
 * -errno (the thread, setns - -EPERM without CAP_SYS_ADMIN -, the probe
 * or sock_diag could not answer).  Blocks the caller for one thread's
 * life: no I/O, no peer in the way.
 */
int xns_would_accept(int nsfd, const struct sockaddr *dst, socklen_t len,
		     uint64_t cookie);

/*
 * The sequence numbers of TCP socket @fd: *@snd the next it will send
 * (its write_seq, including bytes still queued), *@rcv the next it
 * expects.  Repair mode is on only during the call; SO_REUSEADDR (which
 * leaving repair clears) is restored.  Returns 0, -EPERM without
 * CAP_NET_ADMIN over its namespace, -EINVAL for a listening or closed
 * socket, or another -errno.
 */
int xns_tcp_seq(int fd, uint32_t *snd, uint32_t *rcv);

/*
 * Are TCP sockets @a and @b the two ends of one connection, by their
 * sequence numbers (a.snd == b.rcv and b.snd == a.rcv)?  Bytes in flight
 * (sent, not yet received) make it answer 0: a "no" is always safe.
 * Returns 1, 0, or -errno from xns_tcp_seq().  The caller must already
 * have checked that their addresses mirror each other.
 */
int xns_same_connection(int a, int b);

#endif
