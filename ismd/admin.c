/* SPDX-License-Identifier: MIT */
/*
 * admin - status, paged lists and watch.
 *
 * Visibility: administrators see everything.  Other peers see themselves,
 * the regions they own or reference, and the references to those regions:
 * enough to debug their own sharing, nothing about strangers.  Tokens are
 * never listed.
 */
#include "ismd.h"
#include "page.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int op_status(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ism_status st = { 0 };
	uint64_t now = ism_now_ns();

	ism_strlcpy(st.version, ISM_VERSION_STRING, sizeof(st.version));
	memcpy(st.host_id.b, d->host_id, ISM_HOST_ID_SIZE);
	st.pid = (uint32_t)getpid();
	st.epoch = d->epoch;
	st.uptime_ns = now - d->start_ns;
	st.peers = d->n_peers;
	st.regions = d->n_regions;
	st.refs = d->n_refs;
	st.max_peers = d->cfg.max_peers;
	st.bytes_used = d->bytes_used;
	st.max_memory = d->cfg.max_memory;
	st.quota_regions = d->cfg.q_regions;
	st.quota_refs = d->cfg.q_refs;
	st.quota_events = d->cfg.q_events;
	st.quota_bytes = d->cfg.q_bytes;
	st.ops = d->ops;
	st.notifies = d->notifies;
	st.events_coalesced = d->events_coalesced;
	st.events_lost = d->events_lost;
	st.evictions = d->evictions;
	st.recovery_ms_left = daemon_recovering(d)
				      ? (uint32_t)((d->recovery_end_ns - now) /
						   1000000)
				      : 0;
	if (!(p->flags & PEER_ADMIN)) {
		/* Counts of others' activity are not secrets, but a
		 * non-administrator has no use for the pid. */
		st.pid = 0;
	}
	ism_proto_put_status_rep(&rq->out, &st);
	return 0;
}

static bool sees_region(struct daemon *d, struct peer *p, struct region *r)
{
	return (p->flags & PEER_ADMIN) ||
	       ism_map_get(&d->ref_by_pr, p->id, r->id) != NULL;
}

static int list_peers(struct daemon *d, struct peer *p,
		      const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_peer_info *e;
	uint64_t now = ism_now_ns(), next;
	struct page pg;
	uint32_t k;

	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	if (p->flags & PEER_ADMIN) {
		struct ism_list *pos = page_resume(
			&d->peers_by_id, &d->peer_by_id, req->cursor,
			offsetof(struct peer, id_link), offsetof(struct peer, id));

		for (; pos != &d->peers_by_id && pg.n < pg.cap;
		     pos = pos->next)
			page_offer(&pg, ism_container_of(pos, struct peer,
							 id_link)->id);
	} else {
		page_offer(&pg, p->id); /* others are none of its business */
	}
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct peer *q = ism_map_get(&d->peer_by_id, pg.ids[i], 0);

		e[i].id = q->id;
		e[i].pid = (uint32_t)q->pid;
		e[i].uid = (uint32_t)q->uid;
		e[i].gid = (uint32_t)q->gid;
		e[i].flags = (q->flags & PEER_ADMIN ? ISM_PEER_ADMIN : 0) |
			     (q->flags & PEER_WATCH ? ISM_PEER_WATCHER : 0) |
			     (q == p ? ISM_PEER_SELF : 0);
		e[i].regions = q->n_regions;
		e[i].refs = q->n_refs;
		e[i].bytes = q->bytes;
		e[i].queued = q->oq_count;
		e[i].age_ns = now - q->connected_ns;
		e[i].ops = q->ops;
		ism_strlcpy(e[i].name, q->name, sizeof(e[i].name));
	}
	ism_proto_put_peers_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

static int list_regions(struct daemon *d, struct peer *p,
			const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_region_entry *e;
	uint64_t now = ism_now_ns(), next;
	struct page pg;
	uint32_t k;

	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	if (p->flags & PEER_ADMIN) {
		struct ism_list *pos = page_resume(
			&d->regions, &d->region_by_id, req->cursor,
			offsetof(struct region, all_link),
			offsetof(struct region, id));

		for (; pos != &d->regions && pg.n < pg.cap; pos = pos->next) {
			struct region *r = ism_container_of(pos, struct region,
							    all_link);

			if (r->state != REGION_DYING)
				page_offer(&pg, r->id);
		}
	} else {
		/* What it owns or references, and nothing else. */
		for (struct ism_list *pos = p->refs.next; pos != &p->refs;
		     pos = pos->next) {
			struct ref *f = ism_container_of(pos, struct ref,
							 peer_link);

			page_offer(&pg, f->region->id);
		}
	}
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct region *r = ism_map_get(&d->region_by_id, pg.ids[i], 0);

		e[i].id = r->id;
		e[i].owner = r->owner_id;
		e[i].size = r->size;
		e[i].page_size = r->page_size;
		e[i].max_access = r->max_access;
		e[i].flags = (r->huge ? ISM_REGION_HUGE : 0) |
			     (r->linger ? ISM_REGION_LINGER : 0);
		e[i].refs = r->nrefs;
		e[i].age_ns = now - r->created_ns;
		ism_strlcpy(e[i].name, r->name, sizeof(e[i].name));
	}
	ism_proto_put_regions_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

static int list_refs(struct daemon *d, struct peer *p,
		     const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_ref_entry *e;
	struct region *r;
	uint64_t next;
	struct page pg;
	uint32_t k;

	/* Paged by peer id within one region. */
	r = ism_map_get(&d->region_by_id, req->region, 0);
	if (!r || r->state == REGION_DYING || !sees_region(d, p, r))
		return -ENOENT;
	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	for (struct ism_list *pos = r->refs.next; pos != &r->refs;
	     pos = pos->next)
		page_offer(&pg, ism_container_of(pos, struct ref, region_link)
					->peer_id);
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct ref *f = ism_map_get(&d->ref_by_pr, pg.ids[i], r->id);

		e[i].region = r->id;
		e[i].peer = f->peer_id;
		e[i].access = f->access;
		e[i].flags = (f->flags & REF_OWNER ? ISM_REF_OWNER : 0) |
			     (f->flags & REF_NOFD ? ISM_REF_NOFD : 0);
	}
	ism_proto_put_refs_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

static int list_req(const struct req *rq, bool region,
		    const struct ism_list_req **out)
{
	const struct ism_list_req *req = rq->in;

	if (!region && req->region != 0)
		return -EINVAL;
	*out = req;
	return 0;
}

int op_list_peers(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req;
	int e = list_req(rq, false, &req);

	return e < 0 ? e : list_peers(d, p, req, &rq->out);
}

int op_list_regions(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req;
	int e = list_req(rq, false, &req);

	return e < 0 ? e : list_regions(d, p, req, &rq->out);
}

int op_list_refs(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req;
	int e = list_req(rq, true, &req);

	return e < 0 ? e : list_refs(d, p, req, &rq->out);
}

int op_watch(struct daemon *d, struct peer *p, struct req *rq)
{
	uint32_t mask = *(const uint32_t *)rq->in;

	(void)d;
	if (mask == 0)
		p->flags &= ~PEER_WATCH;
	else
		p->flags |= PEER_WATCH;
	return 0;
}
