/* SPDX-License-Identifier: MIT */
/*
 * sockdiag - ask the kernel which TCP socket would accept a connection.
 *
 * Concepts: a record of "an ism listener on port P" is only a peer's
 * claim; the socket may since have been closed, or may never take the
 * connections ismd cares about (an IPV6_V6ONLY wildcard for an IPv4
 * client, a more specific bind elsewhere on the port).  The kernel knows:
 * a NETLINK_SOCK_DIAG request for one socket (SOCK_DIAG_BY_FAMILY without
 * NLM_F_DUMP) names a connection's addresses and a socket cookie, and the
 * kernel looks the connection up as if its first packet had arrived
 * (established sockets first, then the listener that would take it; the
 * same scoring, dual-stack and V6ONLY rules as a real SYN).  It answers
 * with that socket if its cookie is the one asked about, and ENOENT
 * otherwise: Linux 6.18 says ENOENT both when another socket would take
 * the connection and when none would (older kernels said ESTALE for the
 * first).  Either is "no" here; the two cannot be told apart.
 *
 * What the answer covers: a connection from the unspecified address and
 * port 0 (so no established socket matches and only listeners do), on no
 * particular interface unless an IPv6 @dst names one (sin6_scope_id).  A
 * listener bound with SO_BINDTODEVICE is then not found (0), though a
 * local connection, which arrives on the device holding the address (lo
 * for 127.0.0.1, eth0 for eth0's address), would reach it.  Sockets
 * are looked up in the network namespace the netlink socket was opened
 * in (at first use: ismd's own).  A socket in another namespace always
 * gets 0 (cookies are unique across namespaces, so the lookup in ours
 * never finds it), even where it would accept the connection in its own:
 * that 0 means nothing.  Callers must compare namespace cookies
 * (SO_NETNS_COOKIE) with ismd's first, and not ask about sockets of other
 * namespaces.  In a SO_REUSEPORT group the kernel picks one member by a
 * hash of the connection's addresses: only that member answers 1.
 * A BPF sk_lookup program, if attached, is consulted as for a real SYN.
 *
 * A listener in another namespace is asked through a NETLINK_SOCK_DIAG
 * socket made in its namespace (xns_would_accept(), with
 * sockdiag_would_accept_on()): the same question, answered there.
 *
 * Not thread-safe (but sockdiag_would_accept_on()): one netlink socket,
 * opened on first use, shared by all calls (ismd's loop is
 * single-threaded).
 */
#ifndef ISMD_SOCKDIAG_H
#define ISMD_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Largest reply accepted (the kernel's answer is well under 1 KiB). */
#define SOCKDIAG_REPLY_MAX 8192u

/* The cookie of socket @fd (SO_COOKIE, never 0 for a socket), or 0. */
uint64_t sockdiag_cookie(int fd);

/*
 * Is the socket with @cookie the one that would accept a TCP connection
 * to @dst (a struct sockaddr_in or sockaddr_in6 of @len bytes; an
 * IPv4-mapped IPv6 address is asked as IPv4, as such a connection is) in
 * this process's network namespace (the one it was in at the first call)?
 *
 * Returns 1 yes, 0 no (another socket or none would: the kernel said
 * ENOENT, or ESTALE), or -errno: -EINVAL for a bad @dst, port 0 or cookie
 * 0 (or ~0, which the kernel reads as "any socket"); -EAFNOSUPPORT for
 * another family; the netlink socket's errors (-EPROTONOSUPPORT without
 * sock_diag, -EPERM, ...); the kernel's other refusals; -EAGAIN if no
 * reply came within the receive timeout (100 ms; the kernel answers
 * during the send, so this only bounds the unexpected); -EBADMSG for a
 * reply that does not parse, -EMSGSIZE for one too long.  One round trip;
 * never blocks longer than the timeout.
 */
int sockdiag_would_accept(const struct sockaddr *dst, socklen_t len,
			  uint64_t cookie);

/*
 * Is the socket with @cookie the connected one whose own end is @self and
 * whose other end is @other (struct sockaddr_in or sockaddr_in6, both of
 * one family once IPv4-mapped addresses are read as IPv4), in this
 * process's network namespace?  The kernel looks the pair up as it would
 * an arriving segment's (established sockets, then listeners), so a
 * listener on @self is "no" for its own cookie unless nothing established
 * matches: callers ask about sockets they know to be connected.  Unlike
 * getsockname()/getpeername(), which take the socket's lock, this never
 * waits on the socket's owner.  Returns and errors as
 * sockdiag_would_accept(); -EINVAL also for ports 0 or mixed families.
 */
int sockdiag_is_connection(const struct sockaddr *self, socklen_t slen,
			   const struct sockaddr *other, socklen_t olen,
			   uint64_t cookie);

/*
 * The same question through netlink socket @nl (NETLINK_SOCK_DIAG, made
 * in the namespace to ask about: a listener's in another namespace, by
 * xns_would_accept()).  Same answers, and -EBADF for a negative @nl.
 * Unlike the calls above, safe from any thread (its own buffer).
 */
int sockdiag_would_accept_on(int nl, const struct sockaddr *dst, socklen_t len,
			     uint64_t cookie);

/* Close the netlink socket (the next call opens a new one). */
void sockdiag_close(void);

/*
 * Decode a netlink datagram of @len bytes received in answer to request
 * @seq about @cookie.  Messages of other sequence numbers (a late answer
 * to an earlier request) are skipped.  Returns 1 (the kernel returned the
 * socket with @cookie), 0 (it answered ESTALE or ENOENT), -errno (another
 * error the kernel answered; its EAGAIN as -EBUSY), -EAGAIN (no message
 * for @seq: receive again), -EMSGSIZE (@len over SOCKDIAG_REPLY_MAX) or
 * -EBADMSG (truncated, malformed or unexpected: an ack we did not ask
 * for, a socket with another cookie).  Reads only the @len bytes at @buf,
 * any alignment.
 */
int sockdiag_parse_reply(const uint8_t *buf, size_t len, uint32_t seq,
			 uint64_t cookie);

#endif
