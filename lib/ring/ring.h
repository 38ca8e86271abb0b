/* SPDX-License-Identifier: MIT */
/*
 * ring - the ring's layout and fast paths, for libism's own modules
 * (include/ism/ring.h is the public contract; ring.c has the layout
 * description and the barrier pairing).  Hidden from the library's users.
 *
 * The fast paths (reserve, publish, peek, release) are inline here so a
 * channel's send and receive are one function each, not a chain of calls
 * through the library's symbol table; what they leave (refreshing the
 * other side's index, PAD records, the end, a broken ring) is out of line
 * in ring.c.  Every check of the public calls happens here too.
 *
 * Light publication.  Sleeping is a store-then-load on both sides, so
 * each publication pays a full barrier that waits for every store before
 * it (the message just written included) to leave the CPU: most of the
 * cost of a small message.  When the other side instead puts a
 * process-wide barrier (membarrier(2), MEMBARRIER_CMD_GLOBAL_EXPEDITED)
 * between its arming store and its re-check, and this process is
 * registered for it, a publication needs no barrier of its own: either
 * our store was visible before its barrier ended, or our later load of its
 * flag comes after its store.  ism_ring_*_set_light() turn that on; the
 * *_arm_fenced() calls put the caller's barrier in the middle of arming.
 * A peer that claims to use such a barrier and does not only delays its
 * own wake-ups: nothing it can do makes us read out of bounds or block.
 *
 * Heavy wake words.  The barrier costs the sleeper microseconds (an
 * interrupt to every CPU running the other side), which a consumer that
 * sleeps after nearly every message - a request/response connection -
 * pays on its critical path, for a few nanoseconds saved per message.
 * Such a consumer sets ISM_RING_WAKE_HEAVY in its wake word, runs the
 * barrier once, and then arms without it; a light producer that reads
 * the bit after its release store stores again with a full barrier
 * before reading the word again.  Sound: the barrier splits each producer's program at some
 * point; a publication whose store comes before it is visible to the
 * consumer's later re-checks, and one whose store comes after reads the
 * bit (loaded after the store) and fences.  The consumer goes back to
 * barriers when many messages come between its sleeps (ring.c).
 */
#ifndef ISM_LIB_RING_H
#define ISM_LIB_RING_H

#include <ism/ring.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ISM_RING_MAGIC	 0x31474e4952534d49ull /* "ISMRING1" */
#define ISM_RING_VERSION 1u
#define ISM_RING_REC_HDR 8u
#define ISM_RING_TAG_MSG 0x2147534du /* "MSG!" */
#define ISM_RING_TAG_PAD 0x21444150u /* "PAD!" */
/* In the consumer's wake_seq: publish with a full fence (see above). */
#define ISM_RING_WAKE_HEAVY 0x80000000u
/* How far ahead of the record being read its consumer asks for lines. */
#define ISM_RING_PREFETCH 1024u

struct ism_ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t data_size;
	uint32_t max_msg;
	uint8_t pad[40];
};

struct ism_ring_prod {
	struct ism_ring_hdr hdr;
	struct {
		_Atomic uint64_t prod;
		uint8_t pad[56];
	} idx;
	struct {
		_Atomic uint32_t need_space_seq;
		_Atomic uint32_t state; /* 1: closed */
		uint8_t pad[56];
	} ctl;
	uint8_t data[];
};

struct ism_ring_cons {
	struct {
		_Atomic uint64_t cons;
		uint8_t pad[56];
	} idx;
	struct {
		_Atomic uint32_t wake_seq;
		_Atomic uint32_t state;
		uint8_t pad[56];
	} ctl;
};

_Static_assert(sizeof(struct ism_ring_hdr) == 64, "header is one cache line");
_Static_assert(offsetof(struct ism_ring_hdr, version) == 8, "layout");
_Static_assert(offsetof(struct ism_ring_hdr, hdr_size) == 12, "layout");
_Static_assert(offsetof(struct ism_ring_hdr, data_size) == 16, "layout");
_Static_assert(offsetof(struct ism_ring_hdr, max_msg) == 20, "layout");
_Static_assert(offsetof(struct ism_ring_prod, idx.prod) == 64, "layout");
_Static_assert(offsetof(struct ism_ring_prod, ctl.need_space_seq) == 128,
	       "layout");
_Static_assert(offsetof(struct ism_ring_prod, ctl.state) == 132, "layout");
_Static_assert(offsetof(struct ism_ring_prod, data) == 192, "layout");
_Static_assert(offsetof(struct ism_ring_cons, idx.cons) == 0, "layout");
_Static_assert(offsetof(struct ism_ring_cons, ctl.wake_seq) == 64, "layout");
_Static_assert(offsetof(struct ism_ring_cons, ctl.state) == 68, "layout");
_Static_assert(sizeof(struct ism_ring_cons) == ISM_RING_CONS_AREA, "layout");
/* Lock-free atomics are address-free: they work across processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");

#define ISM_RING_HDR_SIZE ((uint32_t)offsetof(struct ism_ring_prod, data))

struct ism_ring_tx {
	struct ism_ring_prod *a;
	const struct ism_ring_cons *c;
	uint8_t *data;
	uint32_t size, mask, max_msg;
	uint64_t prod;	    /* committed, ours */
	uint64_t published; /* last stored in a->idx.prod */
	uint64_t cons;	    /* last consumer position seen */
	uint32_t resv_need; /* reserved record, 0 if none */
	uint32_t resv_pos;  /* where its header is */
	uint32_t arm_seq;   /* our need_space_seq */
	uint32_t last_kick; /* consumer wake_seq already reported */
	int broken;
	bool closed;
	bool light; /* the consumer fences when it arms */
};

struct ism_ring_rx {
	const struct ism_ring_prod *a;
	struct ism_ring_cons *c;
	const uint8_t *data;
	uint32_t size, mask, max_msg;
	uint64_t cons;	    /* ours */
	uint64_t published; /* last stored in c->idx.cons */
	uint64_t prod;	    /* last producer position seen */
	uint32_t peek_need; /* bytes of the peeked record, 0 if none */
	const void *peek_p;
	uint32_t peek_len;
	uint32_t wake_seq;  /* ours, without ISM_RING_WAKE_HEAVY */
	uint32_t last_kick; /* producer need_space_seq already reported */
	uint32_t taken;	    /* records released since the last arm */
	uint8_t close, far; /* arms in a row with few / many records */
	bool kick_due;	    /* a publication found the producer waiting */
	bool light;	    /* the producer fences when it arms */
	bool heavy;	    /* ISM_RING_WAKE_HEAVY is set: we arm unfenced */
	bool heavy_ok;	    /* the producer honours ISM_RING_WAKE_HEAVY */
	int broken;
};

/* ---- out of line (ring.c) ---- */

/* Read the other side's index once and check it (latching -EPROTO). */
void ism_ring_refresh_cons(struct ism_ring_tx *tx, memory_order mo);
void ism_ring_refresh_prod(struct ism_ring_rx *rx, memory_order mo);
/* Store our consumer position; note a producer waiting for room. */
void ism_ring_publish_cons(struct ism_ring_rx *rx);
/* The producer closed its end (shut down or gone). */
bool ism_ring_peer_closed(struct ism_ring_rx *rx);
int ism_ring_peek_slow(struct ism_ring_rx *rx, const void **p, size_t *len);

/* Publish without a full barrier (see above). */
void ism_ring_tx_set_light(struct ism_ring_tx *tx, bool light);
void ism_ring_rx_set_light(struct ism_ring_rx *rx, bool light);
/* The producer says it honours ISM_RING_WAKE_HEAVY (an older one does
 * not, and then we never go heavy). */
void ism_ring_rx_set_heavy_ok(struct ism_ring_rx *rx, bool ok);

/* ism_ring_rx_arm() / ism_ring_tx_arm() with @fence called between the
 * arming store and the re-check (NULL: none beyond their own). */
int ism_ring_rx_arm_fenced(struct ism_ring_rx *rx, void (*fence)(void));
int ism_ring_tx_arm_fenced(struct ism_ring_tx *tx, size_t len,
			   void (*fence)(void));

/*
 * Commit only the first @len bytes of the reserved message (@len at most
 * what was reserved; 0 drops the reservation).  For writers that learn
 * the length after writing in place (zero-copy streams).
 */
void ism_ring_commit_len(struct ism_ring_tx *tx, size_t len);

/* The largest message, at most @want, that fits now without waiting
 * (refreshing the consumer's position if needed); 0 if none. */
size_t ism_ring_room(struct ism_ring_tx *tx, size_t want);

/* ---- inline ---- */

static inline uint32_t ism_ring_rec_size(size_t len)
{
	return (uint32_t)((ISM_RING_REC_HDR + len + 7) & ~(size_t)7);
}

/* Copy @n bytes, inline for the small ones (messages of a few words cost
 * less than the call to memcpy); peer memory is copied as bytes, never
 * interpreted, whatever it does meanwhile. */
static inline void ism_ring_copy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n > 64) {
		memcpy(d, s, n);
	} else if (n >= 32) {
		/* Two overlapping halves. */
		memcpy(d, s, 32);
		memcpy(d + n - 32, s + n - 32, 32);
	} else if (n >= 16) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* ism_ring_reserve(). */
static inline int ism_ring_fast_reserve(struct ism_ring_tx *tx, size_t len,
					void **p)
{
	uint32_t need, pos, skip;
	uint64_t h;

	if (__builtin_expect(tx->broken < 0 || tx->closed, 0))
		return tx->broken < 0 ? tx->broken : -EPIPE;
	if (len > tx->max_msg)
		return -EMSGSIZE;
	need = ism_ring_rec_size(len);
	pos = (uint32_t)(tx->prod & tx->mask);
	skip = pos + need > tx->size ? tx->size - pos : 0;
	if (tx->prod + skip + need - tx->cons > tx->size) {
		ism_ring_refresh_cons(tx, memory_order_acquire);
		if (tx->broken < 0)
			return tx->broken;
		if (tx->prod + skip + need - tx->cons > tx->size)
			return -EAGAIN;
	}
	if (skip) {
		/* The rest of the data area is padding; start over at 0. */
		uint64_t pad = (uint64_t)ISM_RING_TAG_PAD << 32;

		memcpy(tx->data + pos, &pad, sizeof(pad));
		tx->prod += skip;
		pos = 0;
	}
	h = (uint64_t)ISM_RING_TAG_MSG << 32 | (uint32_t)len;
	memcpy(tx->data + pos, &h, sizeof(h));
	tx->resv_need = need;
	tx->resv_pos = pos;
	*p = tx->data + pos + ISM_RING_REC_HDR;
	return 0;
}

/* ism_ring_commit(). */
static inline void ism_ring_fast_commit(struct ism_ring_tx *tx)
{
	tx->prod += tx->resv_need;
	tx->resv_need = 0;
}

/* ism_ring_publish(): (B) then (W); light: (B) a release store, then (W)
 * after a compiler fence only, against a consumer that fences with
 * membarrier when it arms. */
static inline int ism_ring_fast_publish(struct ism_ring_tx *tx)
{
	uint32_t w;

	if (tx->prod == tx->published)
		return 0;
	if (tx->light) {
		atomic_store_explicit(&tx->a->idx.prod, tx->prod,
				      memory_order_release);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		atomic_store_explicit(&tx->a->idx.prod, tx->prod,
				      memory_order_seq_cst);
	}
	tx->published = tx->prod;
	if (__builtin_expect(!tx->c, 0))
		return 0;
	w = atomic_load_explicit(
		&((struct ism_ring_cons *)(uintptr_t)tx->c)->ctl.wake_seq,
		tx->light ? memory_order_relaxed : memory_order_seq_cst);
	if (tx->light && (w & ISM_RING_WAKE_HEAVY)) {
		/* It arms without a barrier: the store again, as a full
		 * one (the same value), then its word again. */
		atomic_store_explicit(&tx->a->idx.prod, tx->prod,
				      memory_order_seq_cst);
		w = atomic_load_explicit(
			&((struct ism_ring_cons *)(uintptr_t)tx->c)
				 ->ctl.wake_seq,
			memory_order_seq_cst);
	}
	if (__builtin_expect((w & 1) && w != tx->last_kick, 0)) {
		tx->last_kick = w; /* one kick per sleep */
		return 1;
	}
	return 0;
}

/*
 * The message record at @pos with header (@tag, @l), @avail bytes
 * published from there: checked, then handed out.  1, or -EPROTO
 * latched.
 */
static inline int ism_ring_take(struct ism_ring_rx *rx, uint32_t pos,
				uint32_t tag, uint32_t l, uint64_t avail,
				const void **p, size_t *len)
{
	uint32_t need;

	if (tag != ISM_RING_TAG_MSG || l > rx->max_msg)
		return rx->broken = -EPROTO;
	need = ism_ring_rec_size(l);
	if (pos + need > rx->size || need > avail)
		return rx->broken = -EPROTO;
	/* Each record's header says where the next one starts, so walking
	 * them waits for one line at a time: ask for the lines ahead now,
	 * if published (a hint: it cannot fault). */
	if (avail > need + ISM_RING_PREFETCH + 64) {
		uint32_t ahead = pos + need + ISM_RING_PREFETCH;

		__builtin_prefetch(rx->data + (ahead & rx->mask));
		__builtin_prefetch(rx->data + ((ahead + 64) & rx->mask));
	}
	rx->peek_need = need;
	rx->peek_p = rx->data + pos + ISM_RING_REC_HDR;
	rx->peek_len = l;
	*p = rx->peek_p;
	*len = l;
	return 1;
}

/* ism_ring_peek(): the common case here (a message already published and
 * not yet peeked), the rest in ism_ring_peek_slow(). */
static inline int ism_ring_fast_peek(struct ism_ring_rx *rx, const void **p,
				     size_t *len)
{
	uint64_t avail = rx->prod - rx->cons, h;
	uint32_t pos, tag;

	if (__builtin_expect(rx->broken < 0 || rx->peek_need ||
				     avail < ISM_RING_REC_HDR ||
				     (avail % ISM_RING_REC_HDR),
			     0))
		return ism_ring_peek_slow(rx, p, len);
	pos = (uint32_t)(rx->cons & rx->mask);
	/* One load of the whole header: no double fetch. */
	h = *(const volatile uint64_t *)(const void *)(rx->data + pos);
	tag = (uint32_t)(h >> 32);
	if (__builtin_expect(tag == ISM_RING_TAG_PAD, 0))
		return ism_ring_peek_slow(rx, p, len);
	return ism_ring_take(rx, pos, tag, (uint32_t)h, avail, p, len);
}

/* ism_ring_release(): 1 if a publication found the producer waiting. */
static inline int ism_ring_fast_release(struct ism_ring_rx *rx)
{
	if (!rx->peek_need)
		return 0;
	rx->cons += rx->peek_need;
	rx->peek_need = 0;
	rx->taken++;
	/* Publish in steps of 1/8 of the ring: the producer sees room soon
	 * enough, the shared line moves rarely. */
	if (rx->cons - rx->published >= rx->size / 8) {
		ism_ring_publish_cons(rx);
		if (rx->kick_due) {
			rx->kick_due = false;
			return 1;
		}
	}
	return 0;
}

#endif
