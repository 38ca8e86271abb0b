/* SPDX-License-Identifier: MIT */
/*
 * ism/ivchan.h - channels between the members of an ivshmem domain:
 * guests (libism-guest, ism-guest) and host processes (libism, through
 * ism_ivshmem_ivdom()), over the domain's memory and doorbells.
 *
 * Concepts: a domain served with channels=on (ismd --ivshmem ...,
 * docs/vm.md) gives every member id i a *slot* of the memory that only
 * it writes, and a presence table ismd keeps (who holds id i now, as a
 * serial that changes with each new holder).  A channel is two rings
 * (ism/ring.h) whose producer areas lie in their senders' slots: one
 * side *offers* a channel to a peer on a port, the peer *accepts* it,
 * each in an entry of its own slot.  A kick is a doorbell on the
 * receiver's vector 1 (0 with one vector), sent only when it sleeps
 * (the rings' need-wakeup flags), so a busy flow rings nothing.  ismd
 * rings vector 0 of everyone at each join and departure.
 *
 * Every byte of the memory may have been written by a hostile guest
 * (stock QEMU maps all of it read-write into every guest): entries and
 * the presence table are read once and bounds-checked, the rings check
 * everything they read, and any violation fails that channel (-EPROTO)
 * and nothing else.  A peer that departs (its QEMU killed) leaves its
 * slot as it was: what it committed is still delivered, then -EPIPE.
 *
 * Thread safety: one thread at a time per domain handle and its
 * channels (they share the domain's doorbells).
 */
#ifndef ISM_IVCHAN_H
#define ISM_IVCHAN_H

#include <ism/common.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_ivdom;
struct ism_ivchan;

/* How a member rings a peer and waits for its own doorbells. */
struct ism_ivdom_ops {
	/* Ring vector @vector of peer @peer: 0 or -errno. */
	int (*ring)(void *ctx, uint32_t peer, uint32_t vector);
	/* Sleep until one of our vectors is rung (since the last call) or
	 * @timeout_ms passes (-1: no limit).  0 or -errno; returning early
	 * is allowed (callers re-check). */
	int (*wait)(void *ctx, int timeout_ms);
};

/*
 * The channel layer over a mapped domain memory @mem of @size bytes in
 * which we are peer @id with @vectors vectors.  Formats our slot (the
 * previous holder's channels end there).  @ops and @ctx must outlive the
 * handle.  Returns 0, -EPROTO (the memory has no valid channel header,
 * or @id has no slot or no presence), -EINVAL, -ENOMEM.
 */
ISM_EXPORT int ism_ivdom_open(void *mem, uint64_t size, uint32_t id,
			      uint32_t vectors, const struct ism_ivdom_ops *ops,
			      void *ctx, struct ism_ivdom **out);
/* Close every channel still open, free.  NULL is allowed. */
ISM_EXPORT void ism_ivdom_close(struct ism_ivdom *d);
ISM_EXPORT uint32_t ism_ivdom_id(const struct ism_ivdom *d);
/* How many peer ids (slots) the domain has. */
ISM_EXPORT uint32_t ism_ivdom_slots(const struct ism_ivdom *d);
/* Peer @peer's presence serial (0: nobody holds that id). */
ISM_EXPORT uint32_t ism_ivdom_presence(const struct ism_ivdom *d,
				       uint32_t peer);
/* Wait for any doorbell of ours (see ops.wait): for a caller's loop. */
ISM_EXPORT int ism_ivdom_wait(struct ism_ivdom *d, int timeout_ms);

struct ism_ivchan_opts {
	uint32_t size;	    /* sizeof(struct ism_ivchan_opts) */
	uint32_t data_size; /* ring data each way: 0 = as large as fits */
	int timeout_ms;	    /* blocking calls: -1 (0 here) = no limit */
	uint32_t spin_us;   /* spin before sleeping (0: 20 us) */
};

/*
 * Offer a channel to peer @peer on @port and wait until it accepts:
 * 0, -ECONNREFUSED (nobody holds @peer, or it left), -ETIMEDOUT,
 * -ENOSPC (all our entries in use), -EPROTO (its answer is invalid),
 * -EINVAL.  @o may be NULL.
 */
ISM_EXPORT int ism_ivchan_connect(struct ism_ivdom *d, uint32_t peer,
				  uint32_t port,
				  const struct ism_ivchan_opts *o,
				  struct ism_ivchan **out);
/* Accept the next offer made to us on @port, from anyone: 0,
 * -ETIMEDOUT, -ENOSPC.  Invalid offers are ignored. */
ISM_EXPORT int ism_ivchan_accept(struct ism_ivdom *d, uint32_t port,
				 const struct ism_ivchan_opts *o,
				 struct ism_ivchan **out);

/*
 * Send one message (copied in): 0, -EMSGSIZE (above
 * ism_ivchan_max_msg()), -EAGAIN (ISM_F_DONTWAIT and full),
 * -ETIMEDOUT, -EPIPE (the other side closed or left), -EPROTO (the
 * channel failed: the other side broke the protocol).
 */
ISM_EXPORT int ism_ivchan_send(struct ism_ivchan *ch, const void *buf,
			       size_t len, unsigned flags);
/*
 * Receive one message: its length, -EMSGSIZE (longer than @cap; not
 * consumed), -EAGAIN (ISM_F_DONTWAIT and none), -ETIMEDOUT,
 * -ESHUTDOWN (the other side shut down, everything it sent was read),
 * -EPIPE (it left or closed without shutting down: likewise after
 * everything it committed), -EPROTO (the channel failed).
 */
ISM_EXPORT ssize_t ism_ivchan_recv(struct ism_ivchan *ch, void *buf, size_t cap,
				   unsigned flags);
ISM_EXPORT size_t ism_ivchan_max_msg(const struct ism_ivchan *ch);
ISM_EXPORT uint32_t ism_ivchan_peer(const struct ism_ivchan *ch);
/*
 * A byte pipe: copy @in_fd to the channel (one message per read, up to
 * 32 KiB; its EOF shuts our direction down) and the channel to @out_fd
 * (written whole, in order), until both directions ended.  Never blocks
 * on the channel (two pumps pushing at each other with full rings do
 * not wait on each other); blocks on @out_fd.  @in_fd -1: nothing to
 * send.  Returns 0 (both ends shut down cleanly), -ECONNRESET (the other
 * side died: everything it committed was written first), -EPIPE (it
 * closed while we still had bytes for it), -EPROTO, or a read or write
 * error.  The channel is not closed.
 */
ISM_EXPORT int ism_ivchan_pump(struct ism_ivchan *ch, int in_fd, int out_fd);
/* No more sends: the other side reads what was sent, then -ESHUTDOWN. */
ISM_EXPORT int ism_ivchan_shutdown(struct ism_ivchan *ch);
/* Shut down if not yet, end the channel and free it.  NULL is allowed.
 * The ring memory stays ours until the other side is done with it. */
ISM_EXPORT void ism_ivchan_close(struct ism_ivchan *ch);

#ifdef __cplusplus
}
#endif

#endif
