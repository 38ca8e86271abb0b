/* SPDX-License-Identifier: MIT */
/*
 * ism/stream.h - TCP-compatible byte streams that move onto shared memory
 * when both ends are ism streams on one host (SMC-style).
 *
 * Concepts: every stream starts as a real TCP connection, addressed by
 * host and port.  Whether the other end is an ism stream on this host is
 * not guessed from bytes on the connection (a plain TCP peer must see
 * none): ismd is the out-of-band witness.  A listener registers its
 * socket with ismd; a client hands ismd its socket before connecting and
 * learns whether an ism listener serves that address; the accepting side
 * hands ismd the accepted socket and ismd matches the two ends of the very
 * same connection (the kernel's addresses of both sockets, in one network
 * namespace).  Only then does the server write an in-band offer (host id
 * and a channel token), the client an answer with its own and the server
 * a confirm; both attach a channel (ism/chan.h) and the bytes move there.  In every other case -
 * the peer is plain TCP, on another host, ismd is unreachable, a quota is
 * hit, the handshake timed out - the stream stays plain TCP, and
 * ism_stream_path() says why.
 *
 * Semantics are TCP's either way: an ordered, reliable byte stream; a full
 * ring blocks, or returns -EAGAIN with ISM_F_DONTWAIT; half-close with
 * ism_stream_shutdown(SHUT_WR) gives the other side EOF (recv returns 0);
 * -ECONNRESET when the other process dies.  On shared memory the TCP
 * connection stays open (idle) until close, as the connection's identity
 * and teardown; liveness comes from the channel's links.
 *
 * Threads: one thread may send while another receives on one stream.
 * Calls on different streams are independent.  ism_stream_connect() and
 * ism_stream_accept() use the ism_conn (serialised by its lock).
 *
 * CPU: a blocking call on the shared-memory path spins up to opts.spin_us
 * (default 50 us) before sleeping, so a quiet stream that is waited on
 * costs up to one core for that long after each message; set spin_us to
 * ISM_CHAN_NO_SPIN to sleep at once (latency then costs one wake-up).
 */
#ifndef ISM_STREAM_H
#define ISM_STREAM_H

#include <ism/chan.h>
#include <ism/common.h>
#include <ism/conn.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_stream;
struct ism_stream_listener;

enum ism_stream_path {
	ISM_STREAM_PENDING = 0, /* server side: the client's answer is due */
	ISM_STREAM_SHM = 1,	/* data moves over a shared-memory channel */
	ISM_STREAM_TCP = 2,	/* plain TCP; see the reason */
};

/* Why a stream is on TCP (ISM_SR_NONE on shared memory). */
enum ism_stream_reason {
	ISM_SR_NONE = 0,
	ISM_SR_PEER_NOT_ISM = 1, /* no ism stream at the other end */
	ISM_SR_OTHER_HOST = 2,	 /* other host or network namespace */
	ISM_SR_NO_ISMD = 3,	 /* ismd unreachable (or no ism_conn given) */
	ISM_SR_QUOTA = 4,	 /* a quota or memory limit refused the rings */
	ISM_SR_TIMEOUT = 5,	 /* the other side did not answer in time */
	ISM_SR_REFUSED = 6,	 /* the other side declined or failed setup */
	ISM_SR_DISABLED = 7,	 /* ISM_STREAM_TCP_ONLY */
	ISM_SR_ERROR = 8,	 /* a local error setting up the channel */
	ISM_SR_SAME_CONN = 9,	 /* both ends on one ism_conn: use two */
	ISM_SR_MAX = 9,
};

enum ism_stream_role {
	ISM_STREAM_LISTENER = 1,
	ISM_STREAM_CLIENT = 2,
	ISM_STREAM_SERVER = 3,
};

/* Options; zero-initialise and set .size = sizeof(struct ism_stream_opts). */
struct ism_stream_opts {
	uint32_t size;
	uint32_t flags;	    /* ISM_STREAM_* below */
	uint32_t ring_size; /* bytes per direction; 0 means
			     * ISM_STREAM_RING_DEFAULT */
	uint32_t spin_us;   /* see ism/chan.h; 0 means ISM_SPIN_US_DEFAULT */
	int handshake_ms;   /* how long a client waits for the server's
			       * offer; 0 means ISM_STREAM_HANDSHAKE_MS_DEFAULT */
	int backlog;	    /* listen(); 0 means ISM_STREAM_BACKLOG_DEFAULT */
	const char *name;   /* a label for ismctl */
};
/* The defaults a zero option stands for. */
#define ISM_STREAM_RING_DEFAULT		(1u << 20)
#define ISM_STREAM_HANDSHAKE_MS_DEFAULT 2000
#define ISM_STREAM_BACKLOG_DEFAULT	1024

/* flags */
#define ISM_STREAM_TCP_ONLY   0x1u /* never leave TCP (ISM_SR_DISABLED) */
#define ISM_STREAM_NO_NODELAY 0x2u /* leave Nagle on (default: TCP_NODELAY) */

/* An address as ismd reports it. */
struct ism_stream_addr {
	uint16_t family;   /* AF_INET, AF_INET6 or 0 (none) */
	uint16_t port;	   /* host byte order */
	uint32_t scope_id; /* IPv6 */
	uint8_t addr[16];  /* IPv4 in the first 4 bytes */
};

/*
 * Listen on @host (NULL: every address) and @port (a number or a service
 * name; "0" picks a free port).  @c may be NULL: the listener then accepts
 * plain TCP only.  Returns 0 or -errno (getaddrinfo failures as -EINVAL).
 */
ISM_EXPORT int ism_stream_listen(struct ism_conn *c, const char *host,
				 const char *port,
				 const struct ism_stream_opts *opts,
				 struct ism_stream_listener **out);
/* Pollable (POLLIN) when a connection waits to be accepted. */
ISM_EXPORT int ism_stream_listener_fd(struct ism_stream_listener *l);
/* The port listened on (host order). */
ISM_EXPORT int ism_stream_listener_port(struct ism_stream_listener *l);
/*
 * Accept one connection (ISM_F_DONTWAIT: -EAGAIN if none waits).  The
 * stream may still be ISM_STREAM_PENDING: its first call finishes the
 * handshake (blocking at most handshake_ms; with DONTWAIT it returns
 * -EAGAIN and ism_stream_fd() becomes readable when the answer arrives).
 */
ISM_EXPORT int ism_stream_accept(struct ism_stream_listener *l,
				 struct ism_stream **out, int flags);
ISM_EXPORT void ism_stream_listener_close(struct ism_stream_listener *l);

/*
 * Connect to @host:@port (tries each address getaddrinfo returns).  Blocks
 * until the path is decided: at most the TCP connect plus handshake_ms.
 * @c may be NULL (plain TCP, reason ISM_SR_NO_ISMD).
 */
ISM_EXPORT int ism_stream_connect(struct ism_conn *c, const char *host,
				  const char *port,
				  const struct ism_stream_opts *opts,
				  struct ism_stream **out);

/*
 * Like send(2)/recv(2): send returns the bytes queued (all of them unless
 * ISM_F_DONTWAIT), recv the bytes received, 0 at EOF.  @flags: enum
 * ism_io_flags, ISM_F_DONTWAIT (all four) and ISM_F_WAITALL (receive).
 * -EAGAIN, -EPIPE (sending after shutdown), -ECONNRESET (the other side
 * died), -EPROTO (a corrupt peer; or, on shared memory, in place of EOF:
 * the other side wrote bytes on the TCP socket, past libism, which can
 * never be ordered with the stream's).
 */
ISM_EXPORT ssize_t ism_stream_send(struct ism_stream *s, const void *buf,
				   size_t len, int flags);
ISM_EXPORT ssize_t ism_stream_recv(struct ism_stream *s, void *buf, size_t cap,
				   int flags);
ISM_EXPORT ssize_t ism_stream_sendmsg(struct ism_stream *s,
				      const struct iovec *iov, int iovcnt,
				      int flags);
ISM_EXPORT ssize_t ism_stream_recvmsg(struct ism_stream *s,
				      const struct iovec *iov, int iovcnt,
				      int flags);

/*
 * Zero-copy receive: the next bytes of the stream, in place.  Returns how
 * many bytes start at *@p (at least 1), 0 at EOF, or -errno as
 * ism_stream_recv() (-EAGAIN with ISM_F_DONTWAIT).  That may be fewer
 * than are queued (one run contiguous in memory: where the other side's
 * writes were cut is not a boundary the stream promises anything about);
 * release them and peek again for more.  Peeking again without releasing
 * returns the same bytes.  On shared memory they lie in the other side's
 * memory, mapped read-only, and a hostile peer can change them while you
 * read: copy what you validate.  On TCP they lie in a buffer of the
 * stream's.  Valid until ism_stream_release() or the next receive call.
 * Bytes peeked and not released do not make ism_stream_fd() readable:
 * use them (or peek until -EAGAIN) before polling.
 */
ISM_EXPORT ssize_t ism_stream_peek(struct ism_stream *s, const void **p,
				   int flags);
/* Consume the first @n bytes of what ism_stream_peek() returned.  0, or
 * -EINVAL if @n is more than that. */
ISM_EXPORT int ism_stream_release(struct ism_stream *s, size_t n);

/*
 * Zero-copy send: room for up to @len bytes, in place.  Returns how many
 * bytes may be written at *@p (1 to @len), or -errno as ism_stream_send()
 * (-EAGAIN with ISM_F_DONTWAIT, -EPIPE after SHUT_WR, -ECONNRESET, -EINVAL
 * for @len 0).  Blocks (unless DONTWAIT) only until some room exists.
 * Write the bytes there, then ism_stream_commit() how many to send.  On
 * shared memory the room is in the channel's ring, which the other side
 * cannot write and sees nothing of before the commit; on TCP it is a
 * buffer of the stream's.  The room lasts until the commit or the next
 * send call on the stream, whichever comes first.  With ISM_F_WAITALL:
 * room for all of @len (at most 64 KiB) or none yet; so a reservation
 * with ISM_F_DONTWAIT | ISM_F_WAITALL committed with 0 asks "is there
 * room for @len bytes now?" without sending, and its -EAGAIN makes
 * ism_stream_fd() readable when room may have grown (a poll loop's
 * POLLOUT).
 */
ISM_EXPORT ssize_t ism_stream_reserve(struct ism_stream *s, void **p,
				      size_t len, int flags);
/*
 * Send the first @n bytes written at the reserved room (0: nothing).
 * Returns @n, -EINVAL if @n is more than was reserved, or -errno.  On TCP
 * with ISM_F_DONTWAIT, bytes the socket does not take at once stay with
 * the stream and go first at the next send call (its -EAGAIN, and
 * ism_stream_fd(), wait for room for them); shutdown and close send them,
 * waiting at most handshake_ms.
 */
ISM_EXPORT ssize_t ism_stream_commit(struct ism_stream *s, size_t n, int flags);

/* SHUT_WR: the other side reads EOF after our bytes.  SHUT_RD: our recv
 * returns 0 from now on.  SHUT_RDWR: both. */
ISM_EXPORT int ism_stream_shutdown(struct ism_stream *s, int how);

/*
 * Pollable (POLLIN) when a call that returned -EAGAIN may progress, on
 * either path; the same fd for the stream's whole life.
 */
ISM_EXPORT int ism_stream_fd(struct ism_stream *s);
/*
 * For event loops: a receive with ISM_F_DONTWAIT | ISM_F_NOARM that finds
 * nothing returns -EAGAIN without arming the fd, so while the loop is
 * busy the other side sends without waking anybody.  Before the loop
 * sleeps on ism_stream_fd() for a receive, it arms: 1 if a receive may
 * progress now (nothing armed: receive), 0 armed (the fd wakes as after
 * an -EAGAIN receive), or -errno.  A receiving thread's call.
 */
ISM_EXPORT int ism_stream_arm(struct ism_stream *s);
/* Whether a receive on shared memory may progress now, arming nothing:
 * 1, 0 (also on TCP and with the handshake pending: ism_stream_fd()
 * watches the socket there), or -errno.  A receiving thread's call. */
ISM_EXPORT int ism_stream_rx_ready(struct ism_stream *s);
/* Undo ism_stream_arm() once the loop is awake again (woken by another
 * fd): the other side's sends stop costing kicks.  Then as
 * ism_stream_rx_ready(). */
ISM_EXPORT int ism_stream_disarm(struct ism_stream *s);
/* The TCP socket (for getpeername and the like; do not read or write:
 * on shared memory, bytes written there turn the other side's EOF into
 * -EPROTO). */
ISM_EXPORT int ism_stream_socket(struct ism_stream *s);

/* enum ism_stream_path; the reason (enum ism_stream_reason) in *@reason
 * if non-NULL. */
ISM_EXPORT int ism_stream_path(struct ism_stream *s, int *reason);
ISM_EXPORT const char *ism_stream_reason_name(int reason);
ISM_EXPORT const char *ism_stream_path_name(int path);

/* Close: an orderly close (the other side reads every byte, then EOF),
 * then free.  NULL is allowed.  Returns 0 or the first error seen. */
ISM_EXPORT int ism_stream_close(struct ism_stream *s);

/*
 * Free what this process holds for @s (the TCP socket's fd here, the
 * channel's mappings and fds, memory) without closing the stream: nothing
 * is sent, on the connection, the channel or to ismd.  For a process that
 * shares @s with another since a fork and will never use it again (a
 * forking server's parent once its child serves the connection): the
 * other process's copy keeps working, and its ism_stream_close() ends the
 * stream.  NULL is allowed.
 */
ISM_EXPORT void ism_stream_forget(struct ism_stream *s);

/* What ismd knows about streams: ism_admin_list_streams() (ism/admin.h). */

#ifdef __cplusplus
}
#endif

#endif
