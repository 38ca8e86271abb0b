/* SPDX-License-Identifier: MIT */
/*
 * ism/chan.h - a bidirectional message channel between two peers, made
 * of two unidirectional rings (ism/ring.h).
 *
 * Concepts: each side owns one region holding its transmit ring and its
 * consumer position for the other direction, and maps the other side's
 * region read-only.  Nothing the receiver can write lies in the sender's
 * memory: a sender can build, sign or checksum a message in place.  Each
 * side treats the other's region as hostile (see ism/ring.h).
 *
 * Doorbells and liveness use a pair of AF_UNIX SOCK_SEQPACKET links, one
 * per direction, handed over with the regions: a kick is a one-byte
 * packet sent only when the other side said it sleeps (so a busy channel
 * makes no syscalls), and a link's hang-up tells that the other process
 * is gone.  (Not eventfds: a peer sharing an eventfd can make the other's
 * write() block; non-blocking socket calls cannot be made to block.)
 *
 * Setting up over ismd: both sides ism_chan_create(), exchange tokens by
 * any means (a socket, ismctl output, ...), and ism_chan_connect() with the
 * other's token, in either order.  The regions linger: whatever a side
 * sent is delivered even after it closed, exited or crashed.  Without
 * ismd: ism_chan_local_create(), ism_chan_local_export() the two fds to
 * the other side (SCM_RIGHTS, or fork), ism_chan_local_connect() with the
 * other's two.
 *
 * Blocking calls spin for opts.spin_us, then sleep on the link.  With
 * ISM_F_DONTWAIT (ism/common.h) they return -EAGAIN instead, and arrange
 * for ism_chan_fd() to become readable when it is worth calling again.
 *
 * Errors: -EPIPE once the other side is gone (crashed or exited without
 * closing) and everything it sent was received; -ESHUTDOWN the same after
 * an orderly ism_chan_shutdown(); -EPROTO if its memory is corrupt; -EMSGSIZE
 * for a message larger than ism_chan_max_msg().
 *
 * Nothing the other side does makes a call wait on it beyond what the
 * call is documented to wait for: fds it puts in flight on the links are
 * refused where the kernel can (SO_PASSRIGHTS, Linux 6.16), else received
 * and closed on a short-lived thread, as are the links themselves (the
 * last close of such an fd can block for as long as its maker chose).
 * Its region is never mapped if it is backed by huge pages (hugetlb): its
 * owner could punch the pages out, and touching them could then raise
 * SIGBUS in this process; connecting fails with -EOPNOTSUPP instead.
 *
 * Thread safety: one thread may send while another receives; two threads
 * sending (or two receiving) need the caller's lock.
 */
#ifndef ISM_CHAN_H
#define ISM_CHAN_H

#include <ism/common.h>
#include <ism/conn.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_chan;

/* Options; zero-initialise and set .size = sizeof(struct ism_chan_opts). */
struct ism_chan_opts {
	uint32_t size;
	uint32_t ring_size; /* data bytes per direction, a power of two from
			     * 4 KiB to 1 GiB; 0 means ISM_CHAN_RING_DEFAULT */
	uint32_t spin_us;   /* busy-poll this long before sleeping; 0 means
			     * ISM_SPIN_US_DEFAULT; ISM_CHAN_NO_SPIN: never */
	uint32_t flags;	    /* reserved, 0 */
	uint64_t peer;	    /* over ismd: if non-zero, only this peer id may
			     * attach our region */
	const char *name;   /* a label for ismctl */
};
#define ISM_CHAN_NO_SPIN 0xffffffffu
/* The defaults a zero option stands for. */
#define ISM_CHAN_RING_DEFAULT (256u << 10)
#define ISM_SPIN_US_DEFAULT   50u

/* Over ismd.  The channel uses @c for its setup only. */
ISM_EXPORT int ism_chan_create(struct ism_conn *c,
			       const struct ism_chan_opts *opts,
			       struct ism_chan **out);
/* The token to give the other side. */
ISM_EXPORT void ism_chan_token(struct ism_chan *ch, struct ism_token *tok);
/*
 * Attach the other side's region (read-only) and check it.  Returns 0,
 * or -ENOENT/-EACCES (its token), -EPROTO (not a channel, or a malformed
 * one), -EOPNOTSUPP (its region is hugetlb, see above), -EALREADY.
 */
ISM_EXPORT int ism_chan_connect(struct ism_chan *ch,
				const struct ism_token *peer);

/* Without ismd. */
ISM_EXPORT int ism_chan_local_create(const struct ism_chan_opts *opts,
				     struct ism_chan **out);
/*
 * Two fds for the other side: fds[0] our region (read-only), fds[1] its
 * end of our link.  The caller owns and passes them, then closes them.
 */
ISM_EXPORT int ism_chan_local_export(struct ism_chan *ch, int fds[2]);
/*
 * Connect with the other side's exported fds; takes ownership of both on
 * success and on failure.  Returns 0, or -EPROTO (@region_fd is not a
 * sealed memfd holding a channel, or @link_fd not an AF_UNIX
 * SOCK_SEQPACKET socket), -EOPNOTSUPP (@region_fd is hugetlb), -EALREADY,
 * -EINVAL (not a local channel).
 */
ISM_EXPORT int ism_chan_local_connect(struct ism_chan *ch, int region_fd,
				      int link_fd);

/* Largest message: ring_size/2 - 8. */
ISM_EXPORT size_t ism_chan_max_msg(struct ism_chan *ch);

/* Copy API.  send returns 0, recv the message length.  @flags: enum
 * ism_io_flags, ISM_F_DONTWAIT (both) and ISM_F_MORE (send). */
ISM_EXPORT int ism_chan_send(struct ism_chan *ch, const void *buf, size_t len,
			     int flags);
ISM_EXPORT int ism_chan_sendv(struct ism_chan *ch, const struct iovec *iov,
			      int iovcnt, int flags);
/* Publish messages sent with ISM_F_MORE (waking the other side if it
 * sleeps).  Returns 0 or -EPIPE. */
ISM_EXPORT int ism_chan_flush(struct ism_chan *ch);
/* -EMSGSIZE if the next message is longer than @cap (it stays queued). */
ISM_EXPORT ssize_t ism_chan_recv(struct ism_chan *ch, void *buf, size_t cap,
				 int flags);

/*
 * Batches: send @n messages (each an iovec), publishing once; returns how
 * many were queued (>= 1), or -errno if none.  Receive up to @n messages
 * into @msgs (each iov_len is the capacity in, the length out); blocks
 * (unless DONTWAIT) only for the first; returns the count or -errno.
 */
ISM_EXPORT int ism_chan_send_batch(struct ism_chan *ch,
				   const struct iovec *msgs, unsigned n,
				   int flags);
ISM_EXPORT int ism_chan_recv_batch(struct ism_chan *ch, struct iovec *msgs,
				   unsigned n, int flags);

/*
 * Zero-copy.  Reserve @len bytes in the ring and write the message there,
 * then commit (ISM_F_MORE defers publication to flush).  Peek the next
 * message in place (it lies in the other side's memory: it may change
 * under you, copy before validating), then release it.
 */
ISM_EXPORT int ism_chan_reserve(struct ism_chan *ch, size_t len, void **p,
				int flags);
ISM_EXPORT int ism_chan_commit(struct ism_chan *ch, int flags);
ISM_EXPORT int ism_chan_peek(struct ism_chan *ch, const void **p, size_t *len,
			     int flags);
ISM_EXPORT int ism_chan_release(struct ism_chan *ch);

/* Pollable (POLLIN): data, room or a hang-up may be there.  Owned by the
 * channel. */
ISM_EXPORT int ism_chan_fd(struct ism_chan *ch);

/* Half-close: an orderly end of our direction.  The other side receives
 * everything we sent, then -ESHUTDOWN.  We may still receive.  Returns 0
 * (also when already shut down). */
ISM_EXPORT int ism_chan_shutdown(struct ism_chan *ch);

/* Shut down our direction (if not yet), release the regions and links,
 * free.  What we sent stays readable by the other side.  Never waits on
 * the other side (the links are closed on a short-lived thread).  NULL
 * is allowed. */
ISM_EXPORT void ism_chan_close(struct ism_chan *ch);

#ifdef __cplusplus
}
#endif

#endif
