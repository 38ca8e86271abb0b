/* SPDX-License-Identifier: MIT */
/*
 * window - windows peers register, and the mappings of regions other peers
 * ask ismd to make in them (docs/windows.md, docs/protocol.md 5.16).
 *
 * Concepts: a window's owner reserved an address range in its own process
 * (libism's ism_window) and registered it here with a grant (max access,
 * peer ids, uids).  A mapper that holds a region's token asks WIN_MAP:
 * ismd checks both grants, the ranges and the caps, then hands the owner
 * a fresh fd of the region in an EV_WIN_MAP event; the owner's libism
 * maps it and confirms with WIN_DONE, and only then is the mapper
 * answered.  Unmapping is the same, the other way (EV_WIN_UNMAP, then
 * WIN_DONE).  ismd never waits: a mapping waiting for its owner sits on a
 * list ordered by deadline, and an owner that does not answer in time is
 * disconnected (its process may keep the mapping; its pages are then
 * punched like any stale mapping's).
 *
 * Revocation reaches windows: when a region stops being live, every
 * window mapping of it is unmapped first; a DESTROY waits (without
 * pausing anyone) until the owners confirmed or were cut off
 * (window_region_ending()).
 *
 * Replies that come later are built in d->tx, never d->rep: a handler may
 * be building its own reply there when it answers someone else.
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long an owner has to confirm a mapping or an unmapping. */
#define WIN_CONFIRM_MS 3000u
/* Windows per peer; mappings a peer may hold as mapper. */
#define WIN_PER_PEER	  64u
#define WIN_MAPS_PER_PEER 4096u
/* Mappings awaiting their owner's confirmation, per window and per owner:
 * what others can make ismd queue (fds included) for one owner. */
#define WIN_PENDING_PER_WINDOW 16u
#define WIN_PENDING_PER_OWNER  64u

#define RECORD_OVERHEAD 64u

enum wmap_state {
	WM_PENDING,   /* EV_WIN_MAP sent, not confirmed */
	WM_MAPPED,    /* confirmed */
	WM_UNMAPPING, /* EV_WIN_UNMAP sent, not confirmed */
};

struct wpeer {
	uint64_t id;
	struct ism_list windows; /* window.owner_link */
	struct ism_list maps;	 /* wmap.mapper_link */
	uint32_t n_windows, n_maps, n_pending;
};

struct wregion {
	uint64_t id;
	struct ism_list maps; /* wmap.region_link */
	uint32_t n;
	struct ism_list waits; /* struct rwait.link: revocations waiting */
};

struct rwait {
	struct ism_list link;
	void (*done)(struct daemon *d, void *arg);
	void *arg;
};

struct window {
	uint64_t id;
	struct peer *owner;
	struct wpeer *wp;
	struct acct *acct;
	uint64_t size;
	uint32_t max_access, max_maps, n_maps, n_pending;
	struct ism_acl acl;
	struct ism_list maps;	    /* wmap.window_link */
	struct ism_list owner_link; /* wpeer.windows */
};

struct wmap {
	uint64_t id;
	struct window *w;
	struct wpeer *mapper; /* NULL once the mapper left */
	struct acct *acct;    /* the mapper's uid: charged until freed */
	uint64_t mapper_id, region_id;
	uint64_t roff, woff, len;
	uint32_t access;
	enum wmap_state state;
	uint32_t reason; /* why unmapping: enum ism_window_unmap_reason */
	uint64_t deadline;
	/* who awaits this step's outcome (0: nobody) */
	uint64_t wait_peer;
	uint32_t wait_seq;
	uint16_t wait_type;
	struct ism_list window_link, region_link, mapper_link;
	struct ism_list pending_link; /* window_set.pending, while waiting */
};

#define WINDOW_COST (sizeof(struct window) + 2 * RECORD_OVERHEAD)
#define WMAP_COST   (sizeof(struct wmap) + 3 * RECORD_OVERHEAD)

void window_init(struct daemon *d)
{
	ism_map_init(&d->windows.by_id);
	ism_map_init(&d->windows.maps);
	ism_map_init(&d->windows.by_region);
	ism_map_init(&d->windows.by_peer);
	ism_list_init(&d->windows.pending);
	ism_list_init(&d->windows.revokes);
}

/* ---- bookkeeping ---- */

static struct wpeer *wpeer_get(struct daemon *d, uint64_t id, bool create)
{
	struct wpeer *wp = ism_map_get(&d->windows.by_peer, id, 0);

	if (wp || !create)
		return wp;
	wp = calloc(1, sizeof(*wp));
	if (!wp)
		return NULL;
	wp->id = id;
	ism_list_init(&wp->windows);
	ism_list_init(&wp->maps);
	if (ism_map_put(&d->windows.by_peer, id, 0, wp) < 0) {
		free(wp);
		return NULL;
	}
	return wp;
}

static void wpeer_put(struct daemon *d, struct wpeer *wp)
{
	if (wp && ism_list_empty(&wp->windows) && ism_list_empty(&wp->maps)) {
		ism_map_del(&d->windows.by_peer, wp->id, 0);
		free(wp);
	}
}

static struct wregion *wregion_get(struct daemon *d, uint64_t id, bool create)
{
	struct wregion *wr = ism_map_get(&d->windows.by_region, id, 0);

	if (wr || !create)
		return wr;
	wr = calloc(1, sizeof(*wr));
	if (!wr)
		return NULL;
	wr->id = id;
	ism_list_init(&wr->maps);
	ism_list_init(&wr->waits);
	if (ism_map_put(&d->windows.by_region, id, 0, wr) < 0) {
		free(wr);
		return NULL;
	}
	return wr;
}

/* No mapping of the region left: the revocations waiting are done; they
 * run at the end of the loop iteration (window_reap), never inside a
 * handler building its own reply. */
static void wregion_settle(struct daemon *d, struct wregion *wr)
{
	if (wr->n)
		return;
	ism_map_del(&d->windows.by_region, wr->id, 0);
	while (!ism_list_empty(&wr->waits)) {
		struct ism_list *l = wr->waits.next;

		ism_list_del(l);
		ism_list_add_tail(&d->windows.revokes, l);
	}
	free(wr);
}

void window_reap(struct daemon *d)
{
	while (!ism_list_empty(&d->windows.revokes)) {
		struct rwait *rw = ism_container_of(d->windows.revokes.next,
						    struct rwait, link);

		ism_list_del(&rw->link);
		rw->done(d, rw->arg);
		free(rw);
	}
}

/* Answer whoever awaits @m's step: @err 0 is success. */
static void answer(struct daemon *d, struct wmap *m, int err)
{
	struct ism_wbuf b;
	struct peer *p;
	int n;

	if (!m->wait_peer)
		return;
	p = peer_find(d, m->wait_peer);
	m->wait_peer = 0;
	if (!p || (p->flags & PEER_DEAD))
		return;
	if (err) {
		peer_send_error(d, p, m->wait_type, m->wait_seq, err);
		return;
	}
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, m->wait_type,
			ISM_WIRE_F_REPLY, m->wait_seq, 0);
	if (m->wait_type == ISM_MSG_WIN_MAP) {
		struct ism_win_map_rep rep = { .map = m->id };

		ism_proto_put_win_map_rep(&b, &rep);
	}
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
}

static void event_of(const struct wmap *m, struct ism_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->window.id = m->w->id;
	ev->window.map = m->id;
	ev->window.offset = m->woff;
	ev->window.len = m->len;
	ev->window.region_offset = m->roff;
	ev->region = m->region_id;
	ev->peer = m->mapper_id;
	ev->access = m->access;
	ev->reason = m->reason;
}

/* EV_WIN_UNMAP to @p (owed: bounded by the mappings it is part of). */
static void send_unmap_event(struct daemon *d, struct peer *p,
			     const struct wmap *m)
{
	struct ism_event ev;
	struct ism_wbuf b;
	int n;

	if (!p || (p->flags & PEER_DEAD))
		return;
	event_of(m, &ev);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_EV_WIN_UNMAP,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_ev_win_unmap(&b, &ev);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send_owed(d, p, (size_t)n, NULL, 0);
}

static void set_waiting(struct daemon *d, struct wmap *m, bool on)
{
	ism_list_del(&m->pending_link);
	if (on) {
		m->deadline = ism_now_ns() + WIN_CONFIRM_MS * 1000000ull;
		ism_list_add_tail(&d->windows.pending, &m->pending_link);
	}
}

static void pending_count(struct wmap *m, int delta)
{
	m->w->n_pending += (uint32_t)delta;
	if (m->w->wp)
		m->w->wp->n_pending += (uint32_t)delta;
}

/* Forget @m entirely (its owner no longer maps it, or is gone). */
static void wmap_free(struct daemon *d, struct wmap *m)
{
	struct wregion *wr = wregion_get(d, m->region_id, false);

	if (m->state == WM_PENDING)
		pending_count(m, -1);
	ism_list_del(&m->pending_link);
	ism_list_del(&m->window_link);
	m->w->n_maps--;
	if (m->mapper) {
		ism_list_del(&m->mapper_link);
		m->mapper->n_maps--;
		wpeer_put(d, m->mapper);
	}
	ism_list_del(&m->region_link);
	ism_map_del(&d->windows.maps, m->id, 0);
	d->windows.n_maps--;
	acct_uncharge(m->acct, ACCT_HEAP, WMAP_COST);
	acct_put(m->acct);
	free(m);
	if (wr) {
		wr->n--;
		wregion_settle(d, wr);
	}
}

/* The mapping is gone from the owner's window: tell the mapper, forget. */
static void wmap_gone(struct daemon *d, struct wmap *m)
{
	/* A mapper that asked is answered instead. */
	if (m->mapper_id != m->w->owner->id &&
	    !(m->state == WM_UNMAPPING && m->reason == ISM_WUNMAP_REQUESTED))
		send_unmap_event(d, peer_find(d, m->mapper_id), m);
	wmap_free(d, m);
}

/* Ask the owner to unmap @m (whatever its state), for @reason. */
static void start_unmap(struct daemon *d, struct wmap *m, uint32_t reason)
{
	if (m->state == WM_UNMAPPING)
		return;
	if (m->state == WM_PENDING) {
		/* A mapper still waiting hears it did not happen. */
		answer(d, m, ECANCELED);
		pending_count(m, -1);
	}
	m->state = WM_UNMAPPING;
	m->reason = reason;
	set_waiting(d, m, true);
	send_unmap_event(d, m->w->owner, m);
}

/* ---- requests ---- */

static bool acl_allows(const struct ism_acl *acl, const struct peer *p)
{
	bool ok;

	if (acl->n_peers) {
		ok = false;
		for (uint32_t i = 0; i < acl->n_peers && !ok; i++)
			ok = acl->peers[i] == p->id;
		if (!ok)
			return false;
	}
	if (acl->n_uids) {
		ok = false;
		for (uint32_t i = 0; i < acl->n_uids && !ok; i++)
			ok = acl->uids[i] == (uint32_t)p->uid;
		if (!ok)
			return false;
	}
	return true;
}

int op_win_create(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_win_create_req *req = rq->in;
	struct ism_win_create_rep rep;
	struct window *w;
	struct wpeer *wp;
	int e;

	wp = wpeer_get(d, p->id, true);
	if (!wp)
		return -ENOMEM;
	e = -EDQUOT;
	if (wp->n_windows >= WIN_PER_PEER)
		goto fail;
	e = -ENOSPC;
	if (d->windows.next_window >= UINT32_MAX)
		goto fail;
	if ((e = acct_charge(p->acct, ACCT_HEAP, WINDOW_COST)) < 0)
		goto fail;
	w = calloc(1, sizeof(*w));
	if (!w) {
		acct_uncharge(p->acct, ACCT_HEAP, WINDOW_COST);
		e = -ENOMEM;
		goto fail;
	}
	w->id = (uint64_t)d->epoch << 32 | (d->windows.next_window + 1);
	w->owner = p;
	w->wp = wp;
	w->acct = acct_ref(p->acct);
	w->size = req->size;
	w->max_access = req->max_access;
	w->max_maps = req->max_maps;
	w->acl = req->acl;
	ism_list_init(&w->maps);
	if (ism_map_put(&d->windows.by_id, w->id, 0, w) < 0) {
		acct_uncharge(p->acct, ACCT_HEAP, WINDOW_COST);
		acct_put(w->acct);
		free(w);
		e = -ENOMEM;
		goto fail;
	}
	d->windows.next_window++;
	d->windows.n_windows++;
	wp->n_windows++;
	ism_list_add_tail(&wp->windows, &w->owner_link);
	rep.window = w->id;
	ism_proto_put_win_create_rep(&rq->out, &rep);
	ismd_plog(p, L_DEBUG, "window %llx: %llu bytes",
		  (unsigned long long)w->id, (unsigned long long)w->size);
	return 0;
fail:
	wpeer_put(d, wp);
	return e;
}

/* Free @w and every mapping in it (its owner unmapped them, or left). */
static void window_free(struct daemon *d, struct window *w)
{
	while (!ism_list_empty(&w->maps)) {
		struct wmap *m = ism_container_of(w->maps.next, struct wmap,
						  window_link);

		answer(d, m, m->state == WM_UNMAPPING ? 0 : ECANCELED);
		m->reason = ISM_WUNMAP_OWNER;
		wmap_gone(d, m);
	}
	ism_map_del(&d->windows.by_id, w->id, 0);
	ism_list_del(&w->owner_link);
	w->wp->n_windows--;
	d->windows.n_windows--;
	acct_uncharge(w->acct, ACCT_HEAP, WINDOW_COST);
	acct_put(w->acct);
	free(w);
}

int op_win_destroy(struct daemon *d, struct peer *p, struct req *rq)
{
	uint64_t id = *(const uint64_t *)rq->in;
	struct window *w = ism_map_get(&d->windows.by_id, id, 0);
	struct wpeer *wp;
	uint32_t n;

	if (!w || (w->owner != p && !(p->flags & PEER_ADMIN)))
		return -ENOENT;
	n = w->n_maps;
	if (w->owner != p) {
		/* An administrator: the owner must unmap them itself. */
		struct ism_list *pos, *tmp;

		ism_list_for_each_safe (pos, tmp, &w->maps)
			start_unmap(
				d,
				ism_container_of(pos, struct wmap, window_link),
				ISM_WUNMAP_OWNER);
		ism_proto_put_count_rep(&rq->out, n);
		return 0;
	}
	wp = w->wp;
	window_free(d, w);
	wpeer_put(d, wp);
	ism_proto_put_count_rep(&rq->out, n);
	return 0;
}

/* Does [off, off+len) overlap a mapping ismd made in @w? */
static bool overlaps(const struct window *w, uint64_t off, uint64_t len)
{
	for (const struct ism_list *pos = w->maps.next; pos != &w->maps;
	     pos = pos->next) {
		const struct wmap *m =
			ism_container_of(pos, struct wmap, window_link);

		if (off < m->woff + m->len && m->woff < off + len)
			return true;
	}
	return false;
}

int op_win_map(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_win_map_req *req = rq->in;
	struct window *w = ism_map_get(&d->windows.by_id, req->window, 0);
	struct ism_event ev;
	struct wregion *wr;
	struct wpeer *mp;
	struct region *r;
	struct wmap *m;
	struct ism_wbuf b;
	uint64_t end;
	int e, fd, n;

	if (!w || (w->owner->flags & PEER_DEAD))
		return -ENOENT;
	if ((req->access == ISM_ACCESS_RW && w->max_access != ISM_ACCESS_RW) ||
	    !acl_allows(&w->acl, p))
		return -EACCES;
	r = region_by_token(d, req->token);
	if (!r) {
		p->failed_attaches++;
		return -ENOENT;
	}
	if ((e = region_may_attach(r, p, req->access)) < 0)
		return e;
	/* Ranges: in the region, in the window, on the region's pages. */
	if (__builtin_add_overflow(req->region_off, req->len, &end) ||
	    end > r->size || req->window_off + req->len > w->size ||
	    (req->region_off | req->window_off | req->len) &
		    ((uint64_t)r->page_size - 1))
		return -EINVAL;
	wr = wregion_get(d, r->id, false);
	if (wr && !ism_list_empty(&wr->waits))
		return -ENOENT; /* being revoked */
	if (overlaps(w, req->window_off, req->len))
		return -EEXIST;
	if (w->n_maps >= w->max_maps)
		return -ENOSPC;
	if (w->n_pending >= WIN_PENDING_PER_WINDOW ||
	    w->wp->n_pending >= WIN_PENDING_PER_OWNER)
		return -EAGAIN;
	mp = wpeer_get(d, p->id, true);
	if (!mp)
		return -ENOMEM;
	e = -EDQUOT;
	if (mp->n_maps >= WIN_MAPS_PER_PEER ||
	    (e = acct_charge(p->acct, ACCT_HEAP, WMAP_COST)) < 0) {
		wpeer_put(d, mp);
		return e;
	}
	m = calloc(1, sizeof(*m));
	wr = wregion_get(d, r->id, true);
	if (!m || !wr || d->windows.next_map >= UINT32_MAX) {
		free(m);
		if (wr && !wr->n && ism_list_empty(&wr->waits))
			wregion_settle(d, wr);
		acct_uncharge(p->acct, ACCT_HEAP, WMAP_COST);
		wpeer_put(d, mp);
		return -ENOMEM;
	}
	fd = ismd_reopen(r->fd,
			 req->access == ISM_ACCESS_RW ? O_RDWR : O_RDONLY);
	if (fd < 0 ||
	    ism_map_put(&d->windows.maps,
			(uint64_t)d->epoch << 32 | (d->windows.next_map + 1), 0,
			m) < 0) {
		if (fd >= 0)
			close(fd);
		free(m);
		if (!wr->n)
			wregion_settle(d, wr);
		acct_uncharge(p->acct, ACCT_HEAP, WMAP_COST);
		wpeer_put(d, mp);
		return fd < 0 ? fd : -ENOMEM;
	}
	m->id = (uint64_t)d->epoch << 32 | ++d->windows.next_map;
	m->w = w;
	m->mapper = mp;
	m->acct = acct_ref(p->acct);
	m->mapper_id = p->id;
	m->region_id = r->id;
	m->roff = req->region_off;
	m->woff = req->window_off;
	m->len = req->len;
	m->access = req->access;
	m->state = WM_PENDING;
	m->wait_peer = p->id;
	m->wait_seq = rq->hdr.seq;
	m->wait_type = ISM_MSG_WIN_MAP;
	ism_list_init(&m->pending_link);
	ism_list_add_tail(&w->maps, &m->window_link);
	ism_list_add_tail(&mp->maps, &m->mapper_link);
	ism_list_add_tail(&wr->maps, &m->region_link);
	wr->n++;
	w->n_maps++;
	mp->n_maps++;
	d->windows.n_maps++;
	pending_count(m, 1);
	set_waiting(d, m, true);
	/* The owner gets the fd with the request; its libism maps it and
	 * confirms (WIN_DONE), which answers this request. */
	event_of(m, &ev);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_EV_WIN_MAP,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_ev_win_map(&b, &ev);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send_owed(d, w->owner, (size_t)n, &fd, 1);
	close(fd); /* a reopen of our memfd; the queue holds its own */
	ismd_plog(p, L_DEBUG,
		  "window %llx: map %llx of region %llx (%llu bytes at %llx)",
		  (unsigned long long)w->id, (unsigned long long)m->id,
		  (unsigned long long)r->id, (unsigned long long)m->len,
		  (unsigned long long)m->woff);
	return ISMD_ASYNC;
}

int op_win_unmap(struct daemon *d, struct peer *p, struct req *rq)
{
	uint64_t id = *(const uint64_t *)rq->in;
	struct wmap *m = ism_map_get(&d->windows.maps, id, 0);

	if (!m || (m->mapper_id != p->id && m->w->owner != p))
		return -ENOENT;
	if (m->state == WM_UNMAPPING && m->wait_peer)
		return -EALREADY;
	answer(d, m, ECANCELED); /* a map still awaiting its owner */
	start_unmap(d, m,
		    m->mapper_id == p->id ? ISM_WUNMAP_REQUESTED
					  : ISM_WUNMAP_OWNER);
	m->wait_peer = p->id;
	m->wait_seq = rq->hdr.seq;
	m->wait_type = ISM_MSG_WIN_UNMAP;
	return ISMD_ASYNC;
}

int op_win_done(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_win_done_req *req = rq->in;
	struct wmap *m = ism_map_get(&d->windows.maps, req->map, 0);

	if (!m || m->w->owner != p)
		return -ENOENT;
	if (req->op == ISM_WIN_OP_MAP) {
		if (m->state != WM_PENDING)
			return 0; /* cancelled meanwhile: an unmap follows */
		if (req->status) {
			answer(d, m, (int)req->status);
			wmap_free(d, m);
			return 0;
		}
		pending_count(m, -1);
		m->state = WM_MAPPED;
		set_waiting(d, m, false);
		answer(d, m, 0);
		return 0;
	}
	/* Unmapped: as asked, or on the owner's own initiative. */
	if (m->state != WM_UNMAPPING)
		m->reason = ISM_WUNMAP_OWNER;
	answer(d, m, m->state == WM_UNMAPPING ? 0 : ECANCELED);
	wmap_gone(d, m);
	return 0;
}

/* ---- the rest of the daemon ---- */

int window_region_ending(struct daemon *d, struct region *r,
			 void (*done)(struct daemon *d, void *arg), void *arg)
{
	struct wregion *wr = wregion_get(d, r->id, false);
	struct ism_list *pos, *tmp;
	struct rwait *rw;

	if (!wr)
		return 0;
	ism_list_for_each_safe (pos, tmp, &wr->maps) {
		struct wmap *m =
			ism_container_of(pos, struct wmap, region_link);

		if (m->state == WM_PENDING)
			answer(d, m, ENOENT);
		start_unmap(d, m, ISM_WUNMAP_REGION_GONE);
	}
	if (!done || !wr->n)
		return 0;
	rw = calloc(1, sizeof(*rw));
	if (!rw)
		return 0; /* out of memory: the destroy goes on at once */
	rw->done = done;
	rw->arg = arg;
	ism_list_add_tail(&wr->waits, &rw->link);
	return 1;
}

void window_tick(struct daemon *d, uint64_t now)
{
	while (!ism_list_empty(&d->windows.pending)) {
		struct wmap *m = ism_container_of(d->windows.pending.next,
						  struct wmap, pending_link);

		if (m->deadline > now)
			break;
		if (m->state == WM_PENDING) {
			/* Never confirmed: the mapper hears so, the owner is
			 * told to drop it should it map it late. */
			answer(d, m, ETIMEDOUT);
			start_unmap(d, m, ISM_WUNMAP_TIMEOUT);
			continue;
		}
		/* An owner that does not unmap when told is cut off: its
		 * mappings are forgotten when it is released (reap). */
		set_waiting(d, m, false);
		if (!(m->w->owner->flags & PEER_DEAD)) {
			ismd_plog(m->w->owner, L_WARN,
				  "window %llx: mapping %llx not unmapped in "
				  "time",
				  (unsigned long long)m->w->id,
				  (unsigned long long)m->id);
			peer_kill(d, m->w->owner, "window owner not answering");
		}
	}
}

void window_release_peer(struct daemon *d, struct peer *p)
{
	struct wpeer *wp = wpeer_get(d, p->id, false);

	if (!wp)
		return;
	/* Its windows go with whatever they hold (wp stays: it is not
	 * empty until the last of them is off its list)... */
	while (!ism_list_empty(&wp->windows))
		window_free(d, ism_container_of(wp->windows.next, struct window,
						owner_link));
	/* ...and the owners of the windows it mapped into unmap. */
	while (!ism_list_empty(&wp->maps)) {
		struct wmap *m = ism_container_of(wp->maps.next, struct wmap,
						  mapper_link);

		m->wait_peer = 0;
		ism_list_del(&m->mapper_link);
		m->mapper = NULL;
		wp->n_maps--;
		start_unmap(d, m, ISM_WUNMAP_MAPPER_LEFT);
	}
	wpeer_put(d, wp);
}

void window_fini(struct daemon *d)
{
	size_t pos = 0;
	void *v;

	/* Shutdown: peers were released (window_release_peer), unless a
	 * job of theirs was stuck; free whatever is left, telling nobody. */
	while ((v = ism_map_next(&d->windows.maps, &pos, NULL, NULL))) {
		struct wmap *m = v;

		acct_uncharge(m->acct, ACCT_HEAP, WMAP_COST);
		acct_put(m->acct);
		free(m);
	}
	pos = 0;
	while ((v = ism_map_next(&d->windows.by_id, &pos, NULL, NULL))) {
		struct window *w = v;

		acct_uncharge(w->acct, ACCT_HEAP, WINDOW_COST);
		acct_put(w->acct);
		free(w);
	}
	pos = 0;
	while ((v = ism_map_next(&d->windows.by_region, &pos, NULL, NULL))) {
		struct wregion *wr = v;

		while (!ism_list_empty(&wr->waits)) {
			struct ism_list *l = wr->waits.next;

			ism_list_del(l);
			free(ism_container_of(l, struct rwait, link));
		}
		free(wr);
	}
	pos = 0;
	while ((v = ism_map_next(&d->windows.by_peer, &pos, NULL, NULL)))
		free(v);
	while (!ism_list_empty(&d->windows.revokes)) {
		struct ism_list *l = d->windows.revokes.next;

		ism_list_del(l);
		free(ism_container_of(l, struct rwait, link));
	}
	ism_map_free(&d->windows.by_id);
	ism_map_free(&d->windows.maps);
	ism_map_free(&d->windows.by_region);
	ism_map_free(&d->windows.by_peer);
}
