/* SPDX-License-Identifier: MIT */
/*
 * ring - single-producer, single-consumer ring of variable-size records
 * (see include/ism/ring.h for the contract).
 *
 * Layout.  Producer area (written by the producer only):
 *
 *     0   header: magic, version, header size, data size, max message
 *    64   prod: the producer's free-running byte position
 *   128   need_space_seq (odd: the producer sleeps for room), state
 *   192   data: data_size bytes of records
 *
 * Consumer area (written by the consumer only):
 *
 *     0   cons: the consumer's free-running byte position
 *    64   wake_seq (odd: the consumer sleeps for data; bit 31: it arms
 *         without a process-wide barrier, ring.h), state
 *
 * Each index has its own cache line, and the sleep flags have lines of
 * their own, so the hot lines bounce between the cores only when indices
 * move and a busy side reads the other's flag line from its cache.
 *
 * Records are 8-byte aligned: an 8-byte header (u32 length, u32 tag) then
 * the payload.  A record never wraps: when one does not fit before the
 * end, the producer writes a PAD header and starts again at 0.  A message
 * is at most data_size/2 - 8 bytes, so it always fits after a wrap.
 *
 * Barrier pairing:
 *
 *   producer                          consumer
 *   STORE data, header                LOAD  prod (acquire)          (C)
 *   STORE prod (seq_cst)        (B)   LOAD  header, data
 *   LOAD  wake_seq (seq_cst)    (W)   STORE cons (seq_cst)          (D)
 *   LOAD  cons (acquire)        (A)   LOAD  need_space_seq (seq_cst) (N)
 *   STORE need_space_seq (s.c.) (S)   STORE wake_seq (seq_cst)      (Z)
 *                                     LOAD  prod (seq_cst)          (P)
 *
 *   B pairs with C (data is visible before the index that covers it);
 *   D pairs with A (the producer reuses room only after the consumer is
 *   done with it).  Sleeping is the store-then-load pattern on both sides:
 *   Z before P against B before W, and S before A against D before N.
 *   All four are seq_cst, so at least one side of each pair sees the
 *   other: a sleeper is always woken, or never sleeps.
 *
 *   Light mode (ring.h): B and D become release stores followed by a
 *   compiler-only fence before W and N, and the sleeper puts a
 *   process-wide barrier (membarrier) between Z and P (S and A): that
 *   barrier runs a full fence on every CPU running the other side, so
 *   either B (D) is visible to P (A), or W (N) runs after it and sees Z
 *   (S).  The publication then costs a plain store, not a fence that
 *   waits for the message's own stores to drain.
 */
#include "ring.h"
#include "util/util.h"

#include <ism/ring.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

size_t ism_ring_prod_area(uint32_t data_size)
{
	if (data_size < ISM_RING_DATA_MIN || data_size > ISM_RING_DATA_MAX ||
	    (data_size & (data_size - 1)))
		return 0;
	return ISM_RING_HDR_SIZE + (size_t)data_size;
}

size_t ism_ring_max_msg(uint32_t data_size)
{
	return data_size / 2 - ISM_RING_REC_HDR;
}

int ism_ring_tx_init(void *prod, size_t prod_len, uint32_t data_size,
		     const void *cons, size_t cons_len,
		     struct ism_ring_tx **out)
{
	size_t need = ism_ring_prod_area(data_size);
	struct ism_ring_tx *tx;
	struct ism_ring_prod *a = prod;

	*out = NULL;
	if (!need || prod_len < need || ((uintptr_t)prod & 63) ||
	    (cons && (cons_len < ISM_RING_CONS_AREA || ((uintptr_t)cons & 63))))
		return -EINVAL;
	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return -ENOMEM;
	memset(a, 0, ISM_RING_HDR_SIZE);
	a->hdr.magic = ISM_RING_MAGIC;
	a->hdr.version = ISM_RING_VERSION;
	a->hdr.hdr_size = ISM_RING_HDR_SIZE;
	a->hdr.data_size = data_size;
	a->hdr.max_msg = (uint32_t)ism_ring_max_msg(data_size);
	atomic_store_explicit(&a->idx.prod, 0, memory_order_release);
	tx->a = a;
	tx->c = cons;
	tx->data = a->data;
	tx->size = data_size;
	tx->mask = data_size - 1;
	tx->max_msg = a->hdr.max_msg;
	*out = tx;
	return 0;
}

int ism_ring_tx_set_peer(struct ism_ring_tx *tx, const void *cons,
			 size_t cons_len)
{
	if (tx->c || !cons || cons_len < ISM_RING_CONS_AREA ||
	    ((uintptr_t)cons & 63))
		return -EINVAL;
	tx->c = cons;
	return 0;
}

/* 0.2: close frees (0.1's close, now shutdown, and free: compat.c). */
void ism_ring_tx_close(struct ism_ring_tx *tx)
{
	free(tx);
}

/* Read the consumer's position once and check it: it never goes back and
 * never passes what we published.  (A) */
void ism_ring_refresh_cons(struct ism_ring_tx *tx, memory_order mo)
{
	uint64_t c;

	if (!tx->c)
		return; /* no consumer yet: it starts at 0 */
	c = atomic_load_explicit(&((struct ism_ring_cons *)tx->c)->idx.cons,
				 mo);

	if (c - tx->cons > tx->published - tx->cons) {
		tx->broken = -EPROTO;
		return;
	}
	tx->cons = c;
}

int ism_ring_reserve(struct ism_ring_tx *tx, size_t len, void **p)
{
	return ism_ring_fast_reserve(tx, len, p);
}

void ism_ring_commit(struct ism_ring_tx *tx)
{
	tx->prod += tx->resv_need;
	tx->resv_need = 0;
}

void ism_ring_commit_len(struct ism_ring_tx *tx, size_t len)
{
	uint64_t h = (uint64_t)ISM_RING_TAG_MSG << 32 | (uint32_t)len;

	if (!tx->resv_need)
		return;
	if (len == 0 || ism_ring_rec_size(len) > tx->resv_need) {
		/* Nothing (or nonsense): drop it; a PAD it needed stays,
		 * which the consumer skips. */
		tx->resv_need = 0;
		return;
	}
	memcpy(tx->data + tx->resv_pos, &h, sizeof(h));
	tx->prod += ism_ring_rec_size(len);
	tx->resv_need = 0;
}

size_t ism_ring_room(struct ism_ring_tx *tx, size_t want)
{
	uint32_t pos = (uint32_t)(tx->prod & tx->mask), tail;
	uint64_t free_;
	size_t flat, wrapped;

	if (tx->broken < 0 || tx->closed)
		return 0;
	if (want > tx->max_msg)
		want = tx->max_msg;
	tail = tx->size - pos;
	free_ = tx->size - (tx->prod - tx->cons);
	if (free_ < (uint64_t)ism_ring_rec_size(want) +
			    (tail < ism_ring_rec_size(want) ? tail : 0)) {
		ism_ring_refresh_cons(tx, memory_order_acquire);
		if (tx->broken < 0)
			return 0;
		free_ = tx->size - (tx->prod - tx->cons);
	}
	/* Up to the end of the data area, or after padding to its end. */
	flat = (size_t)ISM_MIN((uint64_t)tail, free_);
	wrapped = free_ > tail ? (size_t)(free_ - tail) : 0;
	flat = ISM_MAX(flat, wrapped);
	if (flat < ISM_RING_REC_HDR + 1)
		return 0;
	flat = (flat - ISM_RING_REC_HDR) & ~(size_t)7;
	return ISM_MIN(ISM_MIN(flat, want), (size_t)tx->max_msg);
}

int ism_ring_publish(struct ism_ring_tx *tx)
{
	return ism_ring_fast_publish(tx);
}

void ism_ring_tx_set_light(struct ism_ring_tx *tx, bool light)
{
	tx->light = light;
}

int ism_ring_send(struct ism_ring_tx *tx, const void *buf, size_t len)
{
	void *p = NULL;
	int r = ism_ring_fast_reserve(tx, len, &p);

	if (r < 0)
		return r;
	if (len)
		memcpy(p, buf, len);
	ism_ring_commit(tx);
	return 0;
}

int ism_ring_sendv(struct ism_ring_tx *tx, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	uint8_t *p;
	void *v = NULL;
	int r;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return -EMSGSIZE;
	r = ism_ring_fast_reserve(tx, total, &v);
	if (r < 0)
		return r;
	p = v;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	ism_ring_commit(tx);
	return 0;
}

size_t ism_ring_space(struct ism_ring_tx *tx)
{
	ism_ring_refresh_cons(tx, memory_order_acquire);
	if (tx->broken < 0)
		return 0;
	return tx->size - (size_t)(tx->prod - tx->cons);
}

static bool room_for(struct ism_ring_tx *tx, size_t len)
{
	uint32_t need = ism_ring_rec_size(len),
		 pos = (uint32_t)(tx->prod & tx->mask);
	uint32_t skip = pos + need > tx->size ? tx->size - pos : 0;

	return tx->prod + skip + need - tx->cons <= tx->size;
}

int ism_ring_tx_arm_fenced(struct ism_ring_tx *tx, size_t len,
			   void (*fence)(void))
{
	if (tx->broken < 0)
		return tx->broken;
	if (!(tx->arm_seq & 1))
		tx->arm_seq++;
	/* (S) then (A), against the consumer's (D) then (N). */
	atomic_store_explicit(&tx->a->ctl.need_space_seq, tx->arm_seq,
			      memory_order_seq_cst);
	if (fence)
		fence();
	ism_ring_refresh_cons(tx, memory_order_seq_cst);
	if (tx->broken < 0)
		return tx->broken;
	if (room_for(tx, len > tx->max_msg ? tx->max_msg : len)) {
		ism_ring_tx_disarm(tx);
		return 1;
	}
	return 0;
}

int ism_ring_tx_arm(struct ism_ring_tx *tx, size_t len)
{
	return ism_ring_tx_arm_fenced(tx, len, NULL);
}

void ism_ring_tx_disarm(struct ism_ring_tx *tx)
{
	if (tx->arm_seq & 1) {
		tx->arm_seq++;
		atomic_store_explicit(&tx->a->ctl.need_space_seq, tx->arm_seq,
				      memory_order_release);
	}
}

int ism_ring_tx_shutdown(struct ism_ring_tx *tx)
{
	int kick = ism_ring_fast_publish(tx);

	tx->closed = true;
	/* Like a publication, but always with a full barrier (rare): a
	 * sleeping consumer must learn of it. */
	atomic_store_explicit(&tx->a->ctl.state, 1, memory_order_seq_cst);
	if (!tx->c)
		return 0;
	return kick || (atomic_load_explicit(
				&((struct ism_ring_cons *)tx->c)->ctl.wake_seq,
				memory_order_seq_cst) &
			1);
}

/* ---- consumer ---- */

int ism_ring_rx_init(const void *prod, size_t prod_len, void *cons,
		     size_t cons_len, struct ism_ring_rx **out)
{
	const struct ism_ring_prod *a = prod;
	struct ism_ring_hdr h;
	struct ism_ring_rx *rx;
	size_t need;

	*out = NULL;
	if (prod_len < ISM_RING_HDR_SIZE || cons_len < ISM_RING_CONS_AREA ||
	    ((uintptr_t)prod & 63) || ((uintptr_t)cons & 63))
		return -EINVAL;
	/* One copy of the header, validated, is all we ever use of it. */
	memcpy(&h, (const void *)&a->hdr, sizeof(h));
	need = ism_ring_prod_area(h.data_size);
	if (h.magic != ISM_RING_MAGIC || h.version != ISM_RING_VERSION ||
	    h.hdr_size != ISM_RING_HDR_SIZE || !need || need > prod_len ||
	    h.max_msg != ism_ring_max_msg(h.data_size))
		return -EPROTO;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	memset(cons, 0, ISM_RING_CONS_AREA);
	rx->a = a;
	rx->c = cons;
	rx->data = a->data;
	rx->size = h.data_size;
	rx->mask = h.data_size - 1;
	rx->max_msg = h.max_msg;
	*out = rx;
	return 0;
}

void ism_ring_rx_close(struct ism_ring_rx *rx)
{
	free(rx);
}

/* Read the producer's position once and check it: it never goes back
 * and never runs more than a ring ahead of us.  (C) */
void ism_ring_refresh_prod(struct ism_ring_rx *rx, memory_order mo)
{
	uint64_t p = atomic_load_explicit(
		&((struct ism_ring_prod *)rx->a)->idx.prod, mo);

	if (p - rx->cons > rx->size || (int64_t)(p - rx->prod) < 0) {
		rx->broken = -EPROTO;
		return;
	}
	rx->prod = p;
}

static bool peer_closed(struct ism_ring_rx *rx)
{
	return atomic_load_explicit(&((struct ism_ring_prod *)rx->a)->ctl.state,
				    memory_order_acquire) != 0;
}

bool ism_ring_peer_closed(struct ism_ring_rx *rx)
{
	return peer_closed(rx);
}

void ism_ring_publish_cons(struct ism_ring_rx *rx)
{
	uint32_t w;

	if (rx->cons == rx->published)
		return;
	/* (D) then (N); light: as publish() on the producer's side. */
	if (rx->light) {
		atomic_store_explicit(&rx->c->idx.cons, rx->cons,
				      memory_order_release);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		atomic_store_explicit(&rx->c->idx.cons, rx->cons,
				      memory_order_seq_cst);
	}
	rx->published = rx->cons;
	w = atomic_load_explicit(
		&((struct ism_ring_prod *)rx->a)->ctl.need_space_seq,
		rx->light ? memory_order_relaxed : memory_order_seq_cst);
	if ((w & 1) && w != rx->last_kick) {
		rx->last_kick = w;
		rx->kick_due = true;
	}
}

/* Everything ism_ring_fast_peek() leaves: the first look, refreshing the
 * producer's position, PAD records, the end, a broken ring. */
int ism_ring_peek_slow(struct ism_ring_rx *rx, const void **p, size_t *len)
{
	if (rx->broken < 0)
		return rx->broken;
	if (rx->peek_need) {
		*p = rx->peek_p;
		*len = rx->peek_len;
		return 1;
	}
	/* At most: one PAD to the end, then a record at 0.  A loop bound
	 * a hostile producer cannot stretch. */
	for (int i = 0; i < 4; i++) {
		uint64_t avail = rx->prod - rx->cons, h;
		uint32_t pos, tag, l;

		if (avail < ISM_RING_REC_HDR) {
			ism_ring_refresh_prod(rx, memory_order_acquire);
			if (rx->broken < 0)
				return rx->broken;
			avail = rx->prod - rx->cons;
			if (avail == 0) {
				ism_ring_publish_cons(rx);
				if (peer_closed(rx)) {
					/* Closed: one last look at prod. */
					ism_ring_refresh_prod(
						rx, memory_order_acquire);
					if (rx->broken < 0)
						return rx->broken;
					if (rx->prod == rx->cons)
						return -EPIPE;
					continue;
				}
				return 0;
			}
		}
		if (avail % ISM_RING_REC_HDR)
			return rx->broken = -EPROTO;
		pos = (uint32_t)(rx->cons & rx->mask);
		/* One load of the whole header: no double fetch. */
		h = *(const volatile uint64_t *)(const void *)(rx->data + pos);
		l = (uint32_t)h;
		tag = (uint32_t)(h >> 32);
		if (tag == ISM_RING_TAG_PAD) {
			uint32_t skip = rx->size - pos;

			if (skip > avail)
				return rx->broken = -EPROTO;
			rx->cons += skip;
			continue;
		}
		return ism_ring_take(rx, pos, tag, l, avail, p, len);
	}
	return rx->broken = -EPROTO;
}

int ism_ring_peek(struct ism_ring_rx *rx, const void **p, size_t *len)
{
	return ism_ring_fast_peek(rx, p, len);
}

int ism_ring_release(struct ism_ring_rx *rx)
{
	return ism_ring_fast_release(rx);
}

int ism_ring_consumed(struct ism_ring_rx *rx)
{
	ism_ring_publish_cons(rx);
	if (rx->kick_due) {
		rx->kick_due = false;
		return 1;
	}
	return 0;
}

ssize_t ism_ring_recv(struct ism_ring_rx *rx, void *buf, size_t cap)
{
	const void *p = NULL;
	size_t len = 0;
	int r = ism_ring_fast_peek(rx, &p, &len);

	if (r <= 0)
		return r == 0 ? -EAGAIN : r;
	if (len > cap)
		return -EMSGSIZE;
	if (len)
		memcpy(buf, p, len);
	/* A kick due now stays due: ism_ring_consumed() reports it. */
	if (ism_ring_fast_release(rx))
		rx->kick_due = true;
	return (ssize_t)len;
}

/* Our wake word as the producer reads it. */
static uint32_t wake_word(const struct ism_ring_rx *rx)
{
	return rx->wake_seq | (rx->heavy ? ISM_RING_WAKE_HEAVY : 0);
}

/* Heavy or light (ring.h): heavy after ARM_CLOSE arms in a row with fewer
 * than FEW_RECORDS records released between them, light again after
 * ARM_FAR arms in a row with MANY_RECORDS or more.  A full fence costs a
 * producer tens of nanoseconds per publication, the barrier costs us
 * microseconds per arm. */
#define FEW_RECORDS  256u
#define MANY_RECORDS 1024u
#define ARM_CLOSE    2u
#define ARM_FAR	     8u

static void choose_weight(struct ism_ring_rx *rx)
{
	/* Nothing since the last arm (a wake-up for nothing, a re-arm):
	 * no news of the traffic. */
	if (!rx->taken)
		return;
	if (rx->taken < FEW_RECORDS) {
		rx->far = 0;
		if (rx->close < ARM_CLOSE)
			rx->close++;
	} else {
		rx->close = 0;
		if (rx->taken >= MANY_RECORDS && rx->far < ARM_FAR)
			rx->far++;
	}
	rx->taken = 0;
	/* Either switch is followed by this arm's barrier: going heavy, it
	 * is the one that makes the bit binding (ring.h); going light, every
	 * arm has one again. */
	if (!rx->heavy && rx->close >= ARM_CLOSE)
		rx->heavy = true;
	else if (rx->heavy && rx->far >= ARM_FAR)
		rx->heavy = false;
}

int ism_ring_rx_arm_fenced(struct ism_ring_rx *rx, void (*fence)(void))
{
	bool was_heavy = rx->heavy;

	if (rx->broken < 0)
		return rx->broken;
	if (rx->peek_need)
		return 1;
	ism_ring_publish_cons(rx);
	if (!(rx->wake_seq & 1))
		rx->wake_seq = (rx->wake_seq + 1) & ~ISM_RING_WAKE_HEAVY;
	if (fence && rx->light && rx->heavy_ok)
		choose_weight(rx);
	/* (Z) then (P), against the producer's (B) then (W). */
	atomic_store_explicit(&rx->c->ctl.wake_seq, wake_word(rx),
			      memory_order_seq_cst);
	/* Heavy, and already before this arm: no barrier needed. */
	if (fence && !(rx->heavy && was_heavy))
		fence();
	ism_ring_refresh_prod(rx, memory_order_seq_cst);
	if (rx->broken < 0)
		return rx->broken;
	if (rx->prod != rx->cons || peer_closed(rx)) {
		ism_ring_rx_disarm(rx);
		return 1;
	}
	return 0;
}

int ism_ring_rx_arm(struct ism_ring_rx *rx)
{
	return ism_ring_rx_arm_fenced(rx, NULL);
}

void ism_ring_rx_set_light(struct ism_ring_rx *rx, bool light)
{
	rx->light = light;
}

void ism_ring_rx_set_heavy_ok(struct ism_ring_rx *rx, bool ok)
{
	rx->heavy_ok = ok;
}

void ism_ring_rx_disarm(struct ism_ring_rx *rx)
{
	if (rx->wake_seq & 1) {
		rx->wake_seq = (rx->wake_seq + 1) & ~ISM_RING_WAKE_HEAVY;
		atomic_store_explicit(&rx->c->ctl.wake_seq, wake_word(rx),
				      memory_order_release);
	}
}

ssize_t ism_ring_pending(struct ism_ring_rx *rx)
{
	if (rx->broken < 0)
		return rx->broken;
	ism_ring_refresh_prod(rx, memory_order_acquire);
	if (rx->broken < 0)
		return rx->broken;
	return (ssize_t)(rx->prod - rx->cons);
}
