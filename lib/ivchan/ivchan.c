/* SPDX-License-Identifier: MIT */
/*
 * ivchan - channels over an ivshmem domain's memory (include/ism/ivchan.h;
 * the layout in ivchan.h, the protocol in docs/vm.md).
 *
 * Offer: the offerer formats its producer area and zeroes its consumer
 * area in an entry's area of its own slot, fills the entry (peer, the
 * peer's presence serial, port, ring size, offsets) and stores state
 * OFFER last (release).  Accept: the peer finds it (state first,
 * acquire; then the fields; then state and gen again, unchanged),
 * validates every offset against the offerer's slot, formats its own
 * areas the same way and publishes an ACCEPT entry naming the offer's
 * index and gen.  The offerer takes the first ACCEPT that names its
 * offer.  Each side then has: its producer area (its slot), the other's
 * consumer area (the other's slot, read-only use), the other's producer
 * area (read, validated by the ring) and its own consumer area.
 *
 * The end of a channel: CLOSED in an entry, a producer shut down in the
 * ring, or the other's presence serial changing (it left; ismd rings
 * vector 0 of everyone).  A closed entry's areas are reused only once
 * the other side has let go of them (its entry closed or gone).
 */
#include "ivchan.h"
#include "util/util.h"

#include <ism/ivchan.h>
#include <ism/ring.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { E_FREE, E_LIVE, E_LINGER };

struct ent_meta {
	int use;
	uint32_t peer, pserial, pidx, pgen; /* the other end, once known */
	bool known;
};

struct ism_ivdom {
	uint8_t *mem;
	uint64_t size, slot0, slot_size, area;
	uint32_t id, vectors, kick, nslots, serial;
	const struct ism_ivdom_ops *ops;
	void *ctx;
	struct ivc_hdr *hdr;
	struct ivc_slot *mine;
	struct ent_meta meta[IVC_ENTRIES];
	struct ism_ivchan *chan[IVC_ENTRIES];
};

struct ism_ivchan {
	struct ism_ivdom *d;
	uint32_t idx, peer, pserial, pidx, pgen;
	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
	size_t max_msg;
	int timeout_ms;
	uint32_t spin_us;
	int err; /* latched: -EPROTO */
	bool shut;
};

/* An entry as read once from peer-writable memory. */
struct snap {
	uint32_t state, gen, peer, peer_serial, port, ref, ref_gen, data_size;
	uint64_t prod_off, cons_off;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct ivc_slot *slot_of(const struct ism_ivdom *d, uint32_t i)
{
	return (struct ivc_slot *)(d->mem + d->slot0 +
				   (uint64_t)i * d->slot_size);
}

uint32_t ism_ivdom_presence(const struct ism_ivdom *d, uint32_t peer)
{
	return peer < d->nslots ? ivc_ld32(&d->hdr->presence[peer]) : 0;
}

uint32_t ism_ivdom_id(const struct ism_ivdom *d)
{
	return d->id;
}

uint32_t ism_ivdom_slots(const struct ism_ivdom *d)
{
	return d->nslots;
}

int ism_ivdom_wait(struct ism_ivdom *d, int timeout_ms)
{
	return d->ops->wait(d->ctx, timeout_ms);
}

/* Read an entry once; false if it changed while we read (retry later). */
static bool snap_entry(const struct ivc_entry *e, struct snap *s)
{
	s->state = ivc_ld32(&e->state); /* acquire: the fields after it */
	s->gen = ivc_ld32(&e->gen);
	s->peer = ivc_ld32(&e->peer);
	s->peer_serial = ivc_ld32(&e->peer_serial);
	s->port = ivc_ld32(&e->port);
	s->ref = ivc_ld32(&e->ref);
	s->ref_gen = ivc_ld32(&e->ref_gen);
	s->data_size = ivc_ld32(&e->data_size);
	s->prod_off = ivc_ld64(&e->prod_off);
	s->cons_off = ivc_ld64(&e->cons_off);
	/* Every load above is acquire: the re-check cannot move before
	 * them (a seqlock without a fence, which TSan cannot model). */
	return ivc_ld32(&e->state) == s->state && ivc_ld32(&e->gen) == s->gen;
}

/* [off, off + len) inside peer @i's slot, past its metadata, 64-aligned. */
static bool in_slot(const struct ism_ivdom *d, uint32_t i, uint64_t off,
		    uint64_t len)
{
	uint64_t start = d->slot0 + (uint64_t)i * d->slot_size, end;

	if (off % 64 || off < start + IVC_SLOT_META ||
	    __builtin_add_overflow(off, len, &end))
		return false;
	return end <= start + d->slot_size;
}

/* The largest ring data size that fits an entry's area. */
static uint32_t fit_data(const struct ism_ivdom *d)
{
	uint32_t ds = ISM_RING_DATA_MAX;

	while (ds >= ISM_RING_DATA_MIN &&
	       IVC_PROD_OFF + ism_ring_prod_area(ds) > d->area)
		ds >>= 1;
	return ds >= ISM_RING_DATA_MIN ? ds : 0;
}

static bool valid_data_size(const struct ism_ivdom *d, uint32_t ds)
{
	return ds >= ISM_RING_DATA_MIN && ds <= ISM_RING_DATA_MAX &&
	       !(ds & (ds - 1)) &&
	       IVC_PROD_OFF + ism_ring_prod_area(ds) <= d->area;
}

int ism_ivdom_open(void *mem, uint64_t size, uint32_t id, uint32_t vectors,
		   const struct ism_ivdom_ops *ops, void *ctx,
		   struct ism_ivdom **out)
{
	struct ivc_hdr *h = mem;
	struct ism_ivdom *d;
	uint64_t magic, slot0, slot_size, end;
	uint32_t version, nslots, serial;

	*out = NULL;
	if (!mem || !ops || !ops->ring || !ops->wait || !vectors ||
	    size < IVC_HDR_SIZE)
		return -EINVAL;
	/* ismd wrote the header; a guest may have rewritten it.  Read once,
	 * check, and use only our copy. */
	magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	version = ivc_ld32(&h->version);
	nslots = ivc_ld32(&h->nslots);
	slot0 = ivc_ld64(&h->slot0);
	slot_size = ivc_ld64(&h->slot_size);
	if (magic != IVC_MAGIC || version != IVC_VERSION || nslots < 2 ||
	    nslots > IVC_MAX_SLOTS || slot0 != IVC_HDR_SIZE ||
	    slot_size < IVC_MIN_SLOT || slot_size % 4096 ||
	    __builtin_mul_overflow(slot_size, nslots, &end) ||
	    __builtin_add_overflow(end, slot0, &end) || end > size ||
	    id >= nslots)
		return -EPROTO;
	serial = ivc_ld32(&h->presence[id]);
	if (!serial)
		return -EPROTO;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	d->mem = mem;
	d->size = size;
	d->slot0 = slot0;
	d->slot_size = slot_size;
	d->area = ((slot_size - IVC_SLOT_META) / IVC_ENTRIES) & ~(uint64_t)4095;
	d->id = id;
	d->vectors = vectors;
	d->kick = vectors > 1 ? 1 : 0;
	d->nslots = nslots;
	d->serial = serial;
	d->ops = ops;
	d->ctx = ctx;
	d->hdr = h;
	d->mine = slot_of(d, id);
	/* Our slot: whatever the previous holder of our id left ends here.
	 * The serial goes last: a peer trusts entries only under it. */
	ivc_st32(&d->mine->serial, 0);
	for (uint32_t i = 0; i < IVC_ENTRIES; i++) {
		struct ivc_entry *e = &d->mine->ent[i];
		/* Generations go on from the last holder's (a process that
		 * reopens the device keeps its presence serial): a peer
		 * never mistakes a new offer for one it already answered. */
		uint32_t gen = ivc_ld32(&e->gen);

		memset(e, 0, sizeof(*e));
		e->gen = gen;
	}
	d->mine->magic = IVC_SLOT_MAGIC;
	d->mine->version = IVC_VERSION;
	d->mine->nent = IVC_ENTRIES;
	ivc_st32(&d->mine->serial, serial);
	*out = d;
	return 0;
}

static void kick(struct ism_ivdom *d, uint32_t peer)
{
	/* Our stores come before the doorbell in program order (the ring
	 * ops are a syscall or an uncached MMIO write, both ordered after
	 * earlier stores on x86): keep the compiler from moving them. */
	__asm__ __volatile__("" ::: "memory");
	d->ops->ring(d->ctx, peer, d->kick);
}

/* Is the other end of @ch still there?  0, or -EPIPE (closed or gone). */
static int peer_alive(const struct ism_ivchan *ch)
{
	const struct ism_ivdom *d = ch->d;
	const struct ivc_entry *e;
	uint32_t st;

	if (ism_ivdom_presence(d, ch->peer) != ch->pserial)
		return -EPIPE;
	e = &slot_of(d, ch->peer)->ent[ch->pidx];
	st = ivc_ld32(&e->state);
	if (ivc_ld32(&e->gen) != ch->pgen ||
	    (st != IVC_OFFER && st != IVC_ACCEPT))
		return -EPIPE;
	return 0;
}

/* A lingering entry is free once the other end let go of its areas. */
static bool let_go(const struct ism_ivdom *d, const struct ent_meta *m)
{
	const struct ivc_entry *e;
	uint32_t st;

	if (!m->known || ism_ivdom_presence(d, m->peer) != m->pserial)
		return true;
	e = &slot_of(d, m->peer)->ent[m->pidx];
	st = ivc_ld32(&e->state);
	return ivc_ld32(&e->gen) != m->pgen ||
	       (st != IVC_OFFER && st != IVC_ACCEPT);
}

static int alloc_entry(struct ism_ivdom *d)
{
	for (uint32_t i = 0; i < IVC_ENTRIES; i++) {
		struct ent_meta *m = &d->meta[i];

		if (m->use == E_LINGER && let_go(d, m))
			m->use = E_FREE;
		if (m->use == E_FREE) {
			memset(m, 0, sizeof(*m));
			m->use = E_LIVE;
			return (int)i;
		}
	}
	return -ENOSPC;
}

static uint8_t *area_of(const struct ism_ivdom *d, uint32_t idx)
{
	return (uint8_t *)d->mine + IVC_SLOT_META + (uint64_t)idx * d->area;
}

/* Publish entry @idx: FREE first, then the fields, then @state. */
static uint32_t publish_entry(struct ism_ivdom *d, uint32_t idx, uint32_t state,
			      const struct snap *s)
{
	struct ivc_entry *e = &d->mine->ent[idx];
	uint32_t gen = e->gen + 1;

	if (!gen)
		gen = 1;
	ivc_st32(&e->state, IVC_FREE);
	ivc_st32(&e->gen, gen);
	ivc_st32(&e->peer, s->peer);
	ivc_st32(&e->peer_serial, s->peer_serial);
	ivc_st32(&e->port, s->port);
	ivc_st32(&e->ref, s->ref);
	ivc_st32(&e->ref_gen, s->ref_gen);
	ivc_st32(&e->data_size, s->data_size);
	ivc_st64(&e->prod_off, s->prod_off);
	ivc_st64(&e->cons_off, s->cons_off);
	ivc_st32(&e->state, state); /* release: the fields before it */
	return gen;
}

static void opts_of(const struct ism_ivchan_opts *o, struct ism_ivchan_opts *c)
{
	memset(c, 0, sizeof(*c));
	if (o)
		memcpy(c, o,
		       ISM_MIN(o->size ? o->size : sizeof(*c), sizeof(*c)));
	if (!c->timeout_ms)
		c->timeout_ms = -1;
	if (!c->spin_us)
		c->spin_us = 20;
}

/* Milliseconds left until @deadline (0: none left; -1: no deadline). */
static int left_ms(uint64_t deadline)
{
	uint64_t now;

	if (!deadline)
		return -1;
	now = now_ms();
	return now >= deadline ? 0 : (int)ISM_MIN(deadline - now, 1000000u);
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms + 1;
}

/* Our areas of entry @idx: a fresh producer area, a zeroed consumer
 * area; the domain offsets in @s. */
static int make_areas(struct ism_ivdom *d, uint32_t idx, uint32_t ds,
		      const void *peer_cons, struct ism_ring_tx **tx,
		      struct snap *s)
{
	uint8_t *a = area_of(d, idx);

	memset(a + IVC_CONS_OFF, 0, ISM_RING_CONS_AREA);
	s->data_size = ds;
	s->cons_off = (uint64_t)(a + IVC_CONS_OFF - d->mem);
	s->prod_off = (uint64_t)(a + IVC_PROD_OFF - d->mem);
	return ism_ring_tx_init(a + IVC_PROD_OFF, ism_ring_prod_area(ds), ds,
				peer_cons, peer_cons ? ISM_RING_CONS_AREA : 0,
				tx);
}

static struct ism_ivchan *chan_new(struct ism_ivdom *d, uint32_t idx,
				   const struct ism_ivchan_opts *o)
{
	struct ism_ivchan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->d = d;
	ch->idx = idx;
	ch->timeout_ms = o->timeout_ms;
	ch->spin_us = o->spin_us;
	return ch;
}

/* The ACCEPT in @peer's slot that answers our offer @idx/@gen, if any:
 * 1 found (in @s, validated), 0 not yet. */
static int find_accept(struct ism_ivdom *d, uint32_t peer, uint32_t pserial,
		       uint32_t port, uint32_t idx, uint32_t gen, uint32_t ds,
		       struct snap *s, uint32_t *pidx)
{
	struct ivc_slot *ps = slot_of(d, peer);

	if (ivc_ld32(&ps->serial) != pserial)
		return 0;
	for (uint32_t j = 0; j < IVC_ENTRIES; j++) {
		if (!snap_entry(&ps->ent[j], s) || s->state != IVC_ACCEPT ||
		    s->peer != d->id || s->peer_serial != d->serial ||
		    s->ref != idx || s->ref_gen != gen || s->port != port)
			continue;
		if (s->data_size != ds ||
		    !in_slot(d, peer, s->prod_off, ism_ring_prod_area(ds)) ||
		    !in_slot(d, peer, s->cons_off, ISM_RING_CONS_AREA))
			return -EPROTO;
		*pidx = j;
		return 1;
	}
	return 0;
}

int ism_ivchan_connect(struct ism_ivdom *d, uint32_t peer, uint32_t port,
		       const struct ism_ivchan_opts *o, struct ism_ivchan **out)
{
	struct ism_ivchan_opts c;
	struct ism_ivchan *ch = NULL;
	struct snap s = { 0 }, a;
	uint32_t pserial, ds, gen, pidx = 0;
	uint64_t deadline;
	int idx, r;

	*out = NULL;
	opts_of(o, &c);
	if (peer >= d->nslots || peer == d->id)
		return -EINVAL;
	if (!(pserial = ism_ivdom_presence(d, peer)))
		return -ECONNREFUSED;
	ds = fit_data(d);
	if (c.data_size) {
		while (ds > c.data_size && ds > ISM_RING_DATA_MIN)
			ds >>= 1;
	}
	if (!ds)
		return -EINVAL;
	if ((idx = alloc_entry(d)) < 0)
		return idx;
	if (!(ch = chan_new(d, (uint32_t)idx, &c))) {
		d->meta[idx].use = E_FREE;
		return -ENOMEM;
	}
	if ((r = make_areas(d, (uint32_t)idx, ds, NULL, &ch->tx, &s)) < 0)
		goto fail;
	s.peer = peer;
	s.peer_serial = pserial;
	s.port = port;
	gen = publish_entry(d, (uint32_t)idx, IVC_OFFER, &s);
	kick(d, peer);
	deadline = deadline_of(c.timeout_ms);
	for (;;) {
		r = find_accept(d, peer, pserial, port, (uint32_t)idx, gen, ds,
				&a, &pidx);
		if (r)
			break;
		if (ism_ivdom_presence(d, peer) != pserial) {
			r = -ECONNREFUSED;
			goto fail;
		}
		int left = left_ms(deadline);

		if (!left) {
			r = -ETIMEDOUT;
			goto fail;
		}
		if ((r = d->ops->wait(d->ctx,
				      left < 0 || left > 100 ? 100 : left)) < 0)
			goto fail;
	}
	if (r < 0)
		goto fail;
	ch->peer = peer;
	ch->pserial = pserial;
	ch->pidx = pidx;
	ch->pgen = a.gen;
	if ((r = ism_ring_tx_set_peer(ch->tx, d->mem + a.cons_off,
				      ISM_RING_CONS_AREA)) < 0 ||
	    (r = ism_ring_rx_init(d->mem + a.prod_off, ism_ring_prod_area(ds),
				  area_of(d, (uint32_t)idx) + IVC_CONS_OFF,
				  ISM_RING_CONS_AREA, &ch->rx)) < 0)
		goto fail;
	d->meta[idx] = (struct ent_meta){ .use = E_LIVE,
					  .peer = peer,
					  .pserial = pserial,
					  .pidx = pidx,
					  .pgen = a.gen,
					  .known = true };
	ch->max_msg = ism_ring_max_msg(ds);
	d->chan[idx] = ch;
	*out = ch;
	return 0;
fail:
	/* Our offer ends; the areas are ours again (nobody answered, or
	 * the answer is void). */
	ivc_st32(&d->mine->ent[idx].state, IVC_CLOSED);
	if (r == -EPROTO)
		kick(d, peer);
	d->meta[idx].use = E_FREE;
	ism_ring_tx_close(ch->tx);
	ism_ring_rx_close(ch->rx);
	free(ch);
	return r;
}

/* Did we already answer offer (@peer, @j, @gen)? */
static bool taken(const struct ism_ivdom *d, uint32_t peer, uint32_t pserial,
		  uint32_t j, uint32_t gen)
{
	for (uint32_t i = 0; i < IVC_ENTRIES; i++) {
		const struct ent_meta *m = &d->meta[i];

		if (m->use != E_FREE && m->known && m->peer == peer &&
		    m->pserial == pserial && m->pidx == j && m->pgen == gen &&
		    (m->use == E_LIVE || !let_go(d, m)))
			return true;
	}
	return false;
}

/* Try to accept one offer on @port: 1 (in *@out), 0 none, -errno. */
static int try_accept(struct ism_ivdom *d, uint32_t port,
		      const struct ism_ivchan_opts *c, struct ism_ivchan **out)
{
	for (uint32_t p = 0; p < d->nslots; p++) {
		uint32_t pserial = ism_ivdom_presence(d, p);
		struct ivc_slot *ps;

		if (p == d->id || !pserial)
			continue;
		ps = slot_of(d, p);
		if (ivc_ld32(&ps->serial) != pserial)
			continue;
		for (uint32_t j = 0; j < IVC_ENTRIES; j++) {
			struct snap o, s = { 0 };
			struct ism_ivchan *ch;
			int idx, r;

			if (!snap_entry(&ps->ent[j], &o) ||
			    o.state != IVC_OFFER || o.peer != d->id ||
			    o.peer_serial != d->serial || o.port != port ||
			    taken(d, p, pserial, j, o.gen))
				continue;
			/* A hostile offer is skipped, not fatal to us. */
			if (!valid_data_size(d, o.data_size) ||
			    !in_slot(d, p, o.prod_off,
				     ism_ring_prod_area(o.data_size)) ||
			    !in_slot(d, p, o.cons_off, ISM_RING_CONS_AREA))
				continue;
			if ((idx = alloc_entry(d)) < 0)
				return idx;
			if (!(ch = chan_new(d, (uint32_t)idx, c))) {
				d->meta[idx].use = E_FREE;
				return -ENOMEM;
			}
			if ((r = make_areas(d, (uint32_t)idx, o.data_size,
					    d->mem + o.cons_off, &ch->tx, &s)) <
				    0 ||
			    (r = ism_ring_rx_init(
				     d->mem + o.prod_off,
				     ism_ring_prod_area(o.data_size),
				     area_of(d, (uint32_t)idx) + IVC_CONS_OFF,
				     ISM_RING_CONS_AREA, &ch->rx)) < 0) {
				ism_ring_tx_close(ch->tx);
				free(ch);
				d->meta[idx].use = E_FREE;
				if (r == -EPROTO)
					continue;
				return r;
			}
			s.peer = p;
			s.peer_serial = pserial;
			s.port = port;
			s.ref = j;
			s.ref_gen = o.gen;
			publish_entry(d, (uint32_t)idx, IVC_ACCEPT, &s);
			d->meta[idx] = (struct ent_meta){ .use = E_LIVE,
							  .peer = p,
							  .pserial = pserial,
							  .pidx = j,
							  .pgen = o.gen,
							  .known = true };
			ch->peer = p;
			ch->pserial = pserial;
			ch->pidx = j;
			ch->pgen = o.gen;
			ch->max_msg = ism_ring_max_msg(o.data_size);
			d->chan[idx] = ch;
			kick(d, p);
			*out = ch;
			return 1;
		}
	}
	return 0;
}

int ism_ivchan_accept(struct ism_ivdom *d, uint32_t port,
		      const struct ism_ivchan_opts *o, struct ism_ivchan **out)
{
	struct ism_ivchan_opts c;
	uint64_t deadline;
	int r;

	*out = NULL;
	opts_of(o, &c);
	deadline = deadline_of(c.timeout_ms);
	for (;;) {
		int left;

		if ((r = try_accept(d, port, &c, out)) != 0)
			return r < 0 ? r : 0;
		if (!(left = left_ms(deadline)))
			return -ETIMEDOUT;
		if ((r = d->ops->wait(d->ctx,
				      left < 0 || left > 100 ? 100 : left)) < 0)
			return r;
	}
}

static void consumed(struct ism_ivchan *ch);

int ism_ivchan_try_accept(struct ism_ivdom *d, uint32_t port,
			  const struct ism_ivchan_opts *o,
			  struct ism_ivchan **out)
{
	struct ism_ivchan_opts c;

	*out = NULL;
	opts_of(o, &c);
	return try_accept(d, port, &c, out);
}

int ism_ivchan_arm(struct ism_ivchan *ch, bool rx, size_t room)
{
	int r;

	if (ch->err)
		return ch->err;
	if (rx) {
		consumed(ch);
		r = ism_ring_rx_arm(ch->rx);
		if (r == -EPIPE || r == 1)
			return 1; /* data, or the end: recv says which */
		if (r < 0)
			return ch->err = r;
		if (peer_alive(ch) < 0)
			return 1;
	}
	if (room && !ch->shut) {
		r = ism_ring_tx_arm(ch->tx, room);
		if (r < 0)
			return r == -EPROTO ? (ch->err = r) : r;
		if (r == 1)
			return 1;
		if (peer_alive(ch) < 0)
			return 1;
	}
	return 0;
}

void ism_ivchan_disarm(struct ism_ivchan *ch)
{
	ism_ring_rx_disarm(ch->rx);
	ism_ring_tx_disarm(ch->tx);
}

size_t ism_ivchan_max_msg(const struct ism_ivchan *ch)
{
	return ch->max_msg;
}

uint32_t ism_ivchan_peer(const struct ism_ivchan *ch)
{
	return ch->peer;
}

/* Wait for a doorbell with the channel's deadline: 0, -ETIMEDOUT. */
static int sleep_once(struct ism_ivchan *ch, uint64_t deadline)
{
	int left = left_ms(deadline), r;

	if (!left)
		return -ETIMEDOUT;
	/* A bounded sleep: a doorbell lost to a dead peer's QEMU costs a
	 * re-check, never a hang. */
	r = ch->d->ops->wait(ch->d->ctx, left < 0 || left > 200 ? 200 : left);
	return r < 0 ? r : 0;
}

int ism_ivchan_send(struct ism_ivchan *ch, const void *buf, size_t len,
		    unsigned flags)
{
	uint64_t deadline = 0, spin_end = 0;
	int r;

	if (ch->err)
		return ch->err;
	if (ch->shut)
		return -EPIPE;
	if (len > ch->max_msg)
		return -EMSGSIZE;
	for (;;) {
		if ((r = peer_alive(ch)) < 0)
			return r;
		r = ism_ring_send(ch->tx, buf, len);
		if (!r) {
			if (ism_ring_publish(ch->tx) == 1)
				kick(ch->d, ch->peer);
			return 0;
		}
		if (r == -EPROTO)
			return ch->err = r;
		if (r != -EAGAIN)
			return r;
		if (flags & ISM_F_DONTWAIT)
			return -EAGAIN;
		if (!spin_end) {
			spin_end = now_us() + ch->spin_us;
			deadline = deadline_of(ch->timeout_ms);
		}
		if (now_us() < spin_end)
			continue;
		r = ism_ring_tx_arm(ch->tx, len);
		if (r == 1)
			continue;
		if (r < 0)
			return r == -EPROTO ? (ch->err = r) : r;
		if (peer_alive(ch) < 0) {
			ism_ring_tx_disarm(ch->tx);
			return -EPIPE;
		}
		r = sleep_once(ch, deadline);
		ism_ring_tx_disarm(ch->tx);
		if (r < 0)
			return r;
	}
}

/* Tell a producer waiting for room that we consumed. */
static void consumed(struct ism_ivchan *ch)
{
	if (ism_ring_consumed(ch->rx) == 1)
		kick(ch->d, ch->peer);
}

ssize_t ism_ivchan_recv(struct ism_ivchan *ch, void *buf, size_t cap,
			unsigned flags)
{
	uint64_t deadline = 0, spin_end = 0;

	if (ch->err)
		return ch->err;
	for (;;) {
		const void *p;
		size_t len;
		int r = ism_ring_peek(ch->rx, &p, &len);

		if (r == 1) {
			if (len > cap)
				return -EMSGSIZE;
			memcpy(buf, p, len);
			if (ism_ring_release(ch->rx) == 1)
				kick(ch->d, ch->peer);
			return (ssize_t)len;
		}
		if (r == -EPIPE)
			return -ESHUTDOWN;
		if (r < 0)
			return ch->err = r;
		/* Empty.  Gone peers are checked after an empty look, and
		 * looked at once more: what it committed before leaving is
		 * delivered first. */
		if (peer_alive(ch) < 0) {
			r = ism_ring_peek(ch->rx, &p, &len);
			if (r == 1)
				continue;
			if (r == -EPIPE)
				return -ESHUTDOWN;
			return r < 0 ? (ch->err = r) : -EPIPE;
		}
		if (flags & ISM_F_DONTWAIT) {
			consumed(ch);
			return -EAGAIN;
		}
		if (!spin_end) {
			spin_end = now_us() + ch->spin_us;
			deadline = deadline_of(ch->timeout_ms);
		}
		if (now_us() < spin_end)
			continue;
		consumed(ch);
		r = ism_ring_rx_arm(ch->rx);
		if (r == 1)
			continue;
		if (r < 0) {
			if (r == -EPIPE)
				return -ESHUTDOWN;
			return ch->err = r;
		}
		r = sleep_once(ch, deadline);
		ism_ring_rx_disarm(ch->rx);
		if (r < 0)
			return r;
	}
}

int ism_ivchan_shutdown(struct ism_ivchan *ch)
{
	if (ch->shut)
		return 0;
	ch->shut = true;
	/* Always kicked: a sleeping receiver must see the end. */
	ism_ring_tx_shutdown(ch->tx);
	kick(ch->d, ch->peer);
	return 0;
}

void ism_ivchan_close(struct ism_ivchan *ch)
{
	struct ism_ivdom *d;

	if (!ch)
		return;
	d = ch->d;
	if (!ch->shut)
		ism_ring_tx_shutdown(ch->tx);
	consumed(ch);
	ivc_st32(&d->mine->ent[ch->idx].state, IVC_CLOSED);
	kick(d, ch->peer);
	/* Its areas stay until the other side lets go (alloc_entry). */
	d->meta[ch->idx].use = E_LINGER;
	d->chan[ch->idx] = NULL;
	ism_ring_tx_close(ch->tx);
	ism_ring_rx_close(ch->rx);
	free(ch);
}

void ism_ivdom_close(struct ism_ivdom *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < IVC_ENTRIES; i++)
		ism_ivchan_close(d->chan[i]);
	free(d);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ism_ivchan_pump(struct ism_ivchan *ch, int in_fd, int out_fd)
{
	size_t chunk = ISM_MIN(ch->max_msg, (size_t)32768), pend = 0;
	uint8_t *in = malloc(chunk), *out = malloc(ch->max_msg);
	bool in_open = in_fd >= 0, out_open = true, dropped = false;
	int r = 0;

	if (!in || !out) {
		r = -ENOMEM;
		goto done;
	}
	if (!in_open)
		ism_ivchan_shutdown(ch);
	while (in_open || pend || out_open) {
		bool idle = true;
		ssize_t n;

		if (pend) {
			r = ism_ivchan_send(ch, in, pend, ISM_F_DONTWAIT);
			if (!r) {
				pend = 0;
				idle = false;
			} else if (r == -EPIPE) {
				/* It closed: drain what it sent, then say
				 * our bytes were lost. */
				pend = 0;
				in_open = false;
				dropped = true;
			} else if (r != -EAGAIN) {
				goto done;
			}
		}
		if (!pend && in_open) {
			struct pollfd p = { in_fd, POLLIN, 0 };

			if (poll(&p, 1, 0) > 0) {
				idle = false;
				n = read(in_fd, in, chunk);
				if (n == 0) {
					in_open = false;
					ism_ivchan_shutdown(ch);
				} else if (n > 0) {
					pend = (size_t)n;
				} else if (errno != EINTR && errno != EAGAIN) {
					r = -errno;
					goto done;
				}
			}
		}
		if (out_open) {
			n = ism_ivchan_recv(ch, out, ch->max_msg,
					    ISM_F_DONTWAIT);
			if (n >= 0) {
				idle = false;
				if ((r = write_all(out_fd, out, (size_t)n)) < 0)
					goto done;
			} else if (n == -ESHUTDOWN) {
				out_open = false;
			} else if (n == -EPIPE) {
				r = -ECONNRESET;
				goto done;
			} else if (n != -EAGAIN) {
				r = (int)n;
				goto done;
			}
		}
		/* stdin is not a doorbell: look at it every millisecond
		 * while it may bring more. */
		if (idle)
			ism_ivdom_wait(ch->d, in_open && !pend ? 1 : 100);
	}
	r = dropped ? -EPIPE : 0;
done:
	free(in);
	free(out);
	return r;
}
