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
struct ism_region; /* ism/region.h */

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

/*
 * Placed channels: each side's part (its header, its consumer area for
 * the incoming ring, the producer area of its outgoing ring) lies at an
 * offset in memory the caller already holds, a file (a memfd, the file
 * behind a window mapping) or an ism region, instead of a region the
 * channel allocates.  So a device's rings and its buffers (ism/pool.h)
 * can share one region, the only memory its peer ever maps.  The layout
 * at that offset is the usual one; each side still writes only its own
 * part and maps the other's read-only (give the peer read-only access to
 * the ring's range if you can: a peer that can write there cannot hurt
 * this side, which keeps its positions in private memory, but a message
 * is then no longer safe from it while it is built in place).
 *
 * Setting up: lay the region out with ism_chan_place_len() (the ring's
 * part at a page-aligned offset, buffers after it), ism_chan_create_at(),
 * hand the other side what names the part (a token or an fd, and the
 * offset and length) by any means, plus our link from
 * ism_chan_export_link(); it calls ism_chan_connect_at() with them.  The
 * other side may be any kind of channel: ism_chan_connect_at() connects
 * any unconnected channel, placed or not.
 */
enum ism_chan_place_kind {
	ISM_CHAN_PLACE_FD = 1,	   /* .fd: a file (for the other side's
				    * part: a memfd sealed against
				    * shrinking) */
	ISM_CHAN_PLACE_REGION = 2, /* .region: an ism region handle */
};

/* Where a part lies; zero-initialise and set .size = sizeof(struct
 * ism_chan_place).  The fd or handle stays the caller's: the channel maps
 * the range itself, and its mapping lives until ism_chan_close(). */
struct ism_chan_place {
	uint32_t size;
	uint32_t kind;		   /* enum ism_chan_place_kind */
	int fd;			   /* ISM_CHAN_PLACE_FD */
	uint32_t flags;		   /* reserved, 0 */
	struct ism_region *region; /* ISM_CHAN_PLACE_REGION */
	uint64_t offset;	   /* a multiple of the page size */
	uint64_t len;		   /* bytes the part may span from .offset;
				    * 0: as the call says */
};

/*
 * Bytes one side's part takes for data rings of @ring_size bytes (0
 * means ISM_CHAN_RING_DEFAULT), a multiple of the page size: where the
 * next thing in the region (a pool) may begin.  0 if @ring_size is not a
 * valid ring size.
 */
ISM_EXPORT size_t ism_chan_place_len(uint32_t ring_size);

/*
 * A channel whose own part lies at @at: writable memory this side holds
 * (an fd opened read-write, a region handle with read-write access).  It
 * uses [offset, offset + ism_chan_place_len(opts->ring_size)) and no byte
 * more; @at->len, if not 0, is the most it may use.  @opts->peer must be
 * 0 (the region's own grant says who may map it).  Returns 0, or -EINVAL
 * (options, kind, an offset not page-aligned), -ENOSPC (@at->len or the
 * file or region from @at->offset is shorter than the part), -EACCES
 * (read-only), -EBADF (no fd, or a no-fd region handle), -ENOMEM.
 */
ISM_EXPORT int ism_chan_create_at(const struct ism_chan_place *at,
				  const struct ism_chan_opts *opts,
				  struct ism_chan **out);

/*
 * Our end of the link for the other side (placed or local channels; for
 * local ones ism_chan_local_export() hands it too): the caller owns the
 * fd, passes it (SCM_RIGHTS, fork) and closes it.  Once; then -EINVAL.
 */
ISM_EXPORT int ism_chan_export_link(struct ism_chan *ch);

/*
 * Connect with the other side's part at @peer, as it told us where (so
 * hostile: checked before anything is mapped), and its end of its link
 * (@link_fd, taken over on success and on failure).  The range
 * [offset, offset + len) (len 0: to the end of the file or region) must
 * lie in the file or region, start on a page boundary, and, if it is the
 * file our own part lies in, not overlap our part; the channel header
 * found there must describe rings that fit inside that range (so a part
 * cannot spill into buffers after it).  An fd must be a memfd sealed
 * against shrinking (F_SEAL_SHRINK); a region handle may be read-only.
 * Only the range is mapped, read-only.  Returns 0, or -EINVAL (options,
 * kind, range outside, misaligned, overflowing, overlapping ours),
 * -EPROTO (not a sealed memfd, no channel there or a malformed one, one
 * larger than the range, @link_fd not an AF_UNIX SOCK_SEQPACKET socket),
 * -EOPNOTSUPP (hugetlb), -EBADF, -EALREADY.
 */
ISM_EXPORT int ism_chan_connect_at(struct ism_chan *ch,
				   const struct ism_chan_place *peer,
				   int link_fd);

/*
 * Free what this process holds for @ch (mappings, fds, memory) without
 * closing the channel: nothing is written to the rings and nothing said to
 * ismd.  For a process that shares @ch with another since a fork and will
 * never use it again: the other process's copy keeps working, and its
 * ism_chan_close() ends the channel.  NULL is allowed.
 */
ISM_EXPORT void ism_chan_forget(struct ism_chan *ch);

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
