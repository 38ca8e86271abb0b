/* SPDX-License-Identifier: MIT */
/*
 * ism/ring.h - a single-producer, single-consumer ring of variable-size
 * messages over memory that each side owns separately.
 *
 * Concepts: the *producer area* (header, producer index and flags, data)
 * is written only by the producer and may be mapped read-only by the
 * consumer; the *consumer area* (consumer index and flags, two cache lines)
 * is written only by the consumer and may be mapped read-only by the
 * producer.  So nothing the consumer can write lies in the producer's
 * memory: a producer can build, sign or checksum a message in place.
 *
 * The consumer treats the producer area as hostile: the header is copied
 * and validated once at init; every index and record header is read once
 * into a local and checked (lengths, bounds, monotonic positions) before
 * use.  A corrupt or malicious producer makes the ring fail with -EPROTO;
 * it can never make the consumer touch memory outside the two areas or
 * loop without bound.  (A peeked payload lives in the producer's memory
 * and may change under you: copy it before validating it.)
 *
 * Notification is the caller's: publishing returns whether the other side
 * asked to be woken (it armed before sleeping), and arming returns whether
 * sleeping is still justified.  No syscalls happen in this module.
 *
 * Thread safety: one thread (at a time) per handle; the two handles of a
 * ring may run concurrently in different threads or processes.
 */
#ifndef ISM_RING_H
#define ISM_RING_H

#include <ism/common.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_ring_tx;
struct ism_ring_rx;

/* Bytes of the consumer area. */
#define ISM_RING_CONS_AREA 128u
/* Smallest and largest data size (a power of two). */
#define ISM_RING_DATA_MIN 4096u
#define ISM_RING_DATA_MAX (1u << 30)

/* Bytes of the producer area for @data_size bytes of data, or 0 if
 * @data_size is not a power of two in range. */
ISM_EXPORT size_t ism_ring_prod_area(uint32_t data_size);

/* Largest message a ring of @data_size can carry (data_size/2 - 8). */
ISM_EXPORT size_t ism_ring_max_msg(uint32_t data_size);

/*
 * Producer side.  Formats @prod (ism_ring_prod_area(data_size) bytes,
 * 64-byte aligned, writable).  @cons is the consumer area as the producer
 * sees it (read-only is fine), or NULL if the consumer is not there yet
 * (then see ism_ring_tx_set_peer()); the consumer zeroes it.  Returns 0
 * and a handle, or -EINVAL / -ENOMEM.
 */
ISM_EXPORT int ism_ring_tx_init(void *prod, size_t prod_len, uint32_t data_size,
				const void *cons, size_t cons_len,
				struct ism_ring_tx **out);

/* Give a producer created with @cons NULL its consumer area.  Returns 0 or
 * -EINVAL (already set, misaligned or short). */
ISM_EXPORT int ism_ring_tx_set_peer(struct ism_ring_tx *tx, const void *cons,
				    size_t cons_len);

/*
 * Consumer side.  @prod is the producer area (read-only is fine), @cons
 * the consumer area (writable; zeroed here).  The producer area must be
 * formatted already.  Returns 0, or -EPROTO if its header is not valid
 * for @prod_len, -EINVAL, -ENOMEM.
 */
ISM_EXPORT int ism_ring_rx_init(const void *prod, size_t prod_len, void *cons,
				size_t cons_len, struct ism_ring_rx **out);

/* Free a handle (NULL is allowed).  The areas stay as they are and stay
 * the caller's: a producer that means to end the ring calls
 * ism_ring_tx_shutdown() first. */
ISM_EXPORT void ism_ring_tx_close(struct ism_ring_tx *tx);
ISM_EXPORT void ism_ring_rx_close(struct ism_ring_rx *rx);

/*
 * Reserve room for a @len-byte message and get where to write it.
 * Returns 0, -EAGAIN (no room now), -EMSGSIZE (larger than the maximum),
 * -EPROTO (the consumer's index is impossible), or -EPIPE (shut down).
 * Then write the payload and ism_ring_commit().
 */
ISM_EXPORT int ism_ring_reserve(struct ism_ring_tx *tx, size_t len, void **p);
/* Make the reserved message part of the next publication. */
ISM_EXPORT void ism_ring_commit(struct ism_ring_tx *tx);
/*
 * Make every committed message visible to the consumer.  Returns 1 if the
 * consumer is asleep and should be woken (once per sleep), else 0.
 */
ISM_EXPORT int ism_ring_publish(struct ism_ring_tx *tx);

/* Copy a message in (reserve, copy, commit; not published).  Returns 0 or
 * what ism_ring_reserve() returns. */
ISM_EXPORT int ism_ring_send(struct ism_ring_tx *tx, const void *buf,
			     size_t len);
ISM_EXPORT int ism_ring_sendv(struct ism_ring_tx *tx, const struct iovec *iov,
			      int iovcnt);

/* Free bytes in the ring as last seen (refreshes from the consumer). */
ISM_EXPORT size_t ism_ring_space(struct ism_ring_tx *tx);

/*
 * Before sleeping for room: returns 1 if room for @len appeared (do not
 * sleep), 0 once armed: the consumer will report (ism_ring_consumed() == 1)
 * that it freed some.  Call ism_ring_tx_disarm() after waking.
 */
ISM_EXPORT int ism_ring_tx_arm(struct ism_ring_tx *tx, size_t len);
ISM_EXPORT void ism_ring_tx_disarm(struct ism_ring_tx *tx);

/* Publish and mark the ring shut down: the consumer drains it, then sees
 * -EPIPE.  Returns 1 if the consumer sleeps and should be woken. */
ISM_EXPORT int ism_ring_tx_shutdown(struct ism_ring_tx *tx);

/*
 * The next message, in place: 1 with *@p and *@len set, 0 if the ring is
 * empty, -EPIPE if it is empty and the producer shut it down, -EPROTO if
 * the producer's memory is corrupt (the ring is unusable from then on).
 * Peeking again without releasing returns the same message.
 */
ISM_EXPORT int ism_ring_peek(struct ism_ring_rx *rx, const void **p,
			     size_t *len);
/* Consume the peeked message.  Returns 1 if this published our position
 * (every 1/8 of the ring) and found the producer waiting for room: wake
 * it.  Else 0. */
ISM_EXPORT int ism_ring_release(struct ism_ring_rx *rx);
/*
 * Publish what was released.  Returns 1 if the producer is waiting for
 * room and should be woken, else 0.  (ism_ring_peek() also publishes when
 * it finds the ring empty, and release does every 1/8 of the ring.)
 */
ISM_EXPORT int ism_ring_consumed(struct ism_ring_rx *rx);

/*
 * Copy the next message out: its length (>= 0), -EMSGSIZE if it is longer
 * than @cap (not consumed), or what ism_ring_peek() returns when there is
 * none (-EAGAIN for 0).
 */
ISM_EXPORT ssize_t ism_ring_recv(struct ism_ring_rx *rx, void *buf, size_t cap);

/*
 * Before sleeping for data: returns 1 if data arrived (do not sleep), 0
 * once armed: the producer's next ism_ring_publish() returns 1.  Call
 * ism_ring_rx_disarm() after waking.  Negative: as ism_ring_peek().
 */
ISM_EXPORT int ism_ring_rx_arm(struct ism_ring_rx *rx);
ISM_EXPORT void ism_ring_rx_disarm(struct ism_ring_rx *rx);

/* Bytes of unread messages as last seen, or -EPROTO. */
ISM_EXPORT ssize_t ism_ring_pending(struct ism_ring_rx *rx);

#ifdef __cplusplus
}
#endif

#endif
