/* SPDX-License-Identifier: MIT */
/*
 * proto - administration and events: STATUS, the lists, WATCH, and the
 * events ismd sends unasked.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>

/* ---- STATUS ---- */

void ism_proto_put_status_rep(struct ism_wbuf *b, const struct ism_status *m)
{
	ism_wbuf_str(b, m->version);
	ism_wbuf_bytes(b, m->host_id.b, ISM_HOST_ID_SIZE);
	ism_wbuf_le32(b, m->pid);
	ism_wbuf_le32(b, m->epoch);
	ism_wbuf_le64(b, m->uptime_ns);
	ism_wbuf_le32(b, m->peers);
	ism_wbuf_le32(b, m->regions);
	ism_wbuf_le32(b, m->refs);
	ism_wbuf_le32(b, m->max_peers);
	ism_wbuf_le64(b, m->bytes_used);
	ism_wbuf_le64(b, m->max_memory);
	ism_wbuf_le32(b, m->quota_regions);
	ism_wbuf_le32(b, m->quota_refs);
	ism_wbuf_le32(b, m->quota_events);
	ism_wbuf_le32(b, m->recovery_ms_left);
	ism_wbuf_le64(b, m->quota_bytes);
	ism_wbuf_le64(b, m->ops);
	ism_wbuf_le64(b, m->notifies);
	ism_wbuf_le64(b, m->events_coalesced);
	ism_wbuf_le64(b, m->events_lost);
	ism_wbuf_le64(b, m->evictions);
}

int ism_proto_get_status_rep(struct ism_rbuf *b, struct ism_status *m)
{
	ism_rbuf_str(b, m->version, sizeof(m->version), sizeof(m->version) - 1);
	ism_rbuf_bytes(b, m->host_id.b, ISM_HOST_ID_SIZE);
	m->pid = ism_rbuf_le32(b);
	m->epoch = ism_rbuf_le32(b);
	m->uptime_ns = ism_rbuf_le64(b);
	m->peers = ism_rbuf_le32(b);
	m->regions = ism_rbuf_le32(b);
	m->refs = ism_rbuf_le32(b);
	m->max_peers = ism_rbuf_le32(b);
	m->bytes_used = ism_rbuf_le64(b);
	m->max_memory = ism_rbuf_le64(b);
	m->quota_regions = ism_rbuf_le32(b);
	m->quota_refs = ism_rbuf_le32(b);
	m->quota_events = ism_rbuf_le32(b);
	m->recovery_ms_left = ism_rbuf_le32(b);
	m->quota_bytes = ism_rbuf_le64(b);
	m->ops = ism_rbuf_le64(b);
	m->notifies = ism_rbuf_le64(b);
	m->events_coalesced = ism_rbuf_le64(b);
	m->events_lost = ism_rbuf_le64(b);
	m->evictions = ism_rbuf_le64(b);
	return ism_rbuf_end(b);
}

/* ---- LIST ---- */

void ism_proto_put_list_req(struct ism_wbuf *b, const struct ism_list_req *m)
{
	ism_wbuf_le64(b, m->cursor);
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le32(b, m->max);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_list_req(struct ism_rbuf *b, struct ism_list_req *m)
{
	int bad = 0;

	m->cursor = ism_rbuf_le64(b);
	m->region = ism_rbuf_le64(b);
	m->max = ism_rbuf_le32(b);
	proto_reserved32(b, &bad);
	if (m->max == 0 || m->max > ISM_LIST_MAX)
		bad = 1;
	return proto_finish(b, bad);
}

void ism_proto_put_peers_rep(struct ism_wbuf *b, uint64_t next,
			     const struct ism_peer_info *e, uint32_t n)
{
	proto_put_list_head(b, next, n);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le64(b, e[i].id);
		ism_wbuf_le32(b, e[i].pid);
		ism_wbuf_le32(b, e[i].uid);
		ism_wbuf_le32(b, e[i].gid);
		ism_wbuf_le32(b, e[i].flags);
		ism_wbuf_le32(b, e[i].regions);
		ism_wbuf_le32(b, e[i].refs);
		ism_wbuf_le64(b, e[i].bytes);
		ism_wbuf_le32(b, e[i].queued);
		ism_wbuf_le32(b, 0);
		ism_wbuf_le64(b, e[i].age_ns);
		ism_wbuf_le64(b, e[i].ops);
		ism_wbuf_str(b, e[i].name);
	}
}

int ism_proto_get_peers_rep(struct ism_rbuf *b, uint64_t *next,
			    struct ism_peer_info *e, uint32_t cap, uint32_t *n)
{
	int bad = 0, r = proto_get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le64(b);
		e[i].pid = ism_rbuf_le32(b);
		e[i].uid = ism_rbuf_le32(b);
		e[i].gid = ism_rbuf_le32(b);
		e[i].flags = ism_rbuf_le32(b);
		e[i].regions = ism_rbuf_le32(b);
		e[i].refs = ism_rbuf_le32(b);
		e[i].bytes = ism_rbuf_le64(b);
		e[i].queued = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		e[i].age_ns = ism_rbuf_le64(b);
		e[i].ops = ism_rbuf_le64(b);
		ism_rbuf_str(b, e[i].name, sizeof(e[i].name), ISM_NAME_MAX);
	}
	return proto_finish(b, bad);
}

void ism_proto_put_regions_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_region_entry *e, uint32_t n)
{
	proto_put_list_head(b, next, n);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le64(b, e[i].id);
		ism_wbuf_le64(b, e[i].owner);
		ism_wbuf_le64(b, e[i].size);
		ism_wbuf_le32(b, e[i].page_size);
		ism_wbuf_le32(b, e[i].max_access);
		ism_wbuf_le32(b, e[i].flags);
		ism_wbuf_le32(b, e[i].refs);
		ism_wbuf_le64(b, e[i].age_ns);
		ism_wbuf_str(b, e[i].name);
	}
}

int ism_proto_get_regions_rep(struct ism_rbuf *b, uint64_t *next,
			      struct ism_region_entry *e, uint32_t cap,
			      uint32_t *n)
{
	int bad = 0, r = proto_get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le64(b);
		e[i].owner = ism_rbuf_le64(b);
		e[i].size = ism_rbuf_le64(b);
		e[i].page_size = ism_rbuf_le32(b);
		e[i].max_access = ism_rbuf_le32(b);
		e[i].flags = ism_rbuf_le32(b);
		e[i].refs = ism_rbuf_le32(b);
		e[i].age_ns = ism_rbuf_le64(b);
		ism_rbuf_str(b, e[i].name, sizeof(e[i].name), ISM_NAME_MAX);
	}
	return proto_finish(b, bad);
}

void ism_proto_put_refs_rep(struct ism_wbuf *b, uint64_t next,
			    const struct ism_ref_entry *e, uint32_t n)
{
	proto_put_list_head(b, next, n);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le64(b, e[i].region);
		ism_wbuf_le64(b, e[i].peer);
		ism_wbuf_le32(b, e[i].access);
		ism_wbuf_le32(b, e[i].flags);
	}
}

int ism_proto_get_refs_rep(struct ism_rbuf *b, uint64_t *next,
			   struct ism_ref_entry *e, uint32_t cap, uint32_t *n)
{
	int bad = 0, r = proto_get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].region = ism_rbuf_le64(b);
		e[i].peer = ism_rbuf_le64(b);
		e[i].access = ism_rbuf_le32(b);
		e[i].flags = ism_rbuf_le32(b);
	}
	return proto_finish(b, bad);
}

/* ---- WATCH ---- */

void ism_proto_put_watch_req(struct ism_wbuf *b, uint32_t mask)
{
	ism_wbuf_le32(b, mask);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_watch_req(struct ism_rbuf *b, uint32_t *mask)
{
	int bad = 0;

	*mask = ism_rbuf_le32(b);
	proto_reserved32(b, &bad);
	if (*mask & ~ISM_WATCH_MASK_ALL)
		bad = 1;
	return proto_finish(b, bad);
}

/* ---- Events ---- */

void ism_proto_put_ev_notify(struct ism_wbuf *b, uint64_t region,
			     uint64_t sender, uint64_t value, uint32_t count)
{
	ism_wbuf_le64(b, region);
	ism_wbuf_le64(b, sender);
	ism_wbuf_le64(b, value);
	ism_wbuf_le32(b, count);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_ev_gone(struct ism_wbuf *b, uint64_t region, uint32_t reason)
{
	ism_wbuf_le64(b, region);
	ism_wbuf_le32(b, reason);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_ev_attached(struct ism_wbuf *b, uint64_t region,
			       uint64_t peer, uint32_t access)
{
	ism_wbuf_le64(b, region);
	ism_wbuf_le64(b, peer);
	ism_wbuf_le32(b, access);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_ev_detached(struct ism_wbuf *b, uint64_t region,
			       uint64_t peer, uint32_t reason)
{
	ism_wbuf_le64(b, region);
	ism_wbuf_le64(b, peer);
	ism_wbuf_le32(b, reason);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_ev_overflow(struct ism_wbuf *b, uint64_t lost)
{
	ism_wbuf_le64(b, lost);
}

void ism_proto_put_ev_watch(struct ism_wbuf *b, uint32_t kind, uint32_t reason,
			    uint64_t peer, uint64_t region, uint64_t size,
			    uint32_t uid, uint32_t pid, const char *name)
{
	ism_wbuf_le32(b, kind);
	ism_wbuf_le32(b, reason);
	ism_wbuf_le64(b, peer);
	ism_wbuf_le64(b, region);
	ism_wbuf_le64(b, size);
	ism_wbuf_le32(b, uid);
	ism_wbuf_le32(b, pid);
	ism_wbuf_str(b, name);
}

void ism_proto_put_ev_shutdown(struct ism_wbuf *b, uint32_t reason)
{
	ism_wbuf_le32(b, reason);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_event(struct ism_wbuf *b, const struct ism_event *ev)
{
	switch (ev->type) {
	case ISM_EV_NOTIFY:
		ism_proto_put_ev_notify(b, ev->region, ev->peer, ev->value,
					(uint32_t)ev->count);
		break;
	case ISM_EV_REGION_GONE:
		ism_proto_put_ev_gone(b, ev->region, ev->reason);
		break;
	case ISM_EV_PEER_ATTACHED:
		ism_proto_put_ev_attached(b, ev->region, ev->peer, ev->access);
		break;
	case ISM_EV_PEER_DETACHED:
		ism_proto_put_ev_detached(b, ev->region, ev->peer, ev->reason);
		break;
	case ISM_EV_OVERFLOW: ism_proto_put_ev_overflow(b, ev->count); break;
	case ISM_EV_WATCH:
		ism_proto_put_ev_watch(b, ev->watch.kind, ev->reason, ev->peer,
				       ev->region, ev->watch.size,
				       ev->watch.uid, ev->watch.pid,
				       ev->watch.name);
		break;
	case ISM_EV_SHUTDOWN: ism_proto_put_ev_shutdown(b, ev->reason); break;
	case ISM_EV_WINDOW_MAP: ism_proto_put_ev_win_map(b, ev); break;
	case ISM_EV_WINDOW_UNMAP: ism_proto_put_ev_win_unmap(b, ev); break;
	default: b->err = -EINVAL; break;
	}
}

int ism_proto_get_event(struct ism_rbuf *b, uint16_t type, struct ism_event *ev)
{
	int bad = 0;

	memset(ev, 0, sizeof(*ev));
	switch (type) {
	case ISM_MSG_EV_NOTIFY:
		ev->type = ISM_EV_NOTIFY;
		ev->region = ism_rbuf_le64(b);
		ev->peer = ism_rbuf_le64(b);
		ev->value = ism_rbuf_le64(b);
		ev->count = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->region == 0 || ev->count == 0)
			bad = 1;
		break;
	case ISM_MSG_EV_REGION_GONE:
		ev->type = ISM_EV_REGION_GONE;
		ev->region = ism_rbuf_le64(b);
		ev->reason = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->region == 0 || ev->reason < ISM_GONE_DESTROYED ||
		    ev->reason > ISM_GONE_LOST)
			bad = 1;
		break;
	case ISM_MSG_EV_PEER_ATTACHED:
		ev->type = ISM_EV_PEER_ATTACHED;
		ev->region = ism_rbuf_le64(b);
		ev->peer = ism_rbuf_le64(b);
		ev->access = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->region == 0 || !proto_access_valid(ev->access))
			bad = 1;
		break;
	case ISM_MSG_EV_PEER_DETACHED:
		ev->type = ISM_EV_PEER_DETACHED;
		ev->region = ism_rbuf_le64(b);
		ev->peer = ism_rbuf_le64(b);
		ev->reason = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->region == 0 || ev->reason < ISM_DETACH_REQUESTED ||
		    ev->reason > ISM_DETACH_DISCONNECTED)
			bad = 1;
		break;
	case ISM_MSG_EV_OVERFLOW:
		ev->type = ISM_EV_OVERFLOW;
		ev->count = ism_rbuf_le64(b);
		break;
	case ISM_MSG_EV_WATCH:
		ev->type = ISM_EV_WATCH;
		ev->watch.kind = ism_rbuf_le32(b);
		ev->reason = ism_rbuf_le32(b);
		ev->peer = ism_rbuf_le64(b);
		ev->region = ism_rbuf_le64(b);
		ev->watch.size = ism_rbuf_le64(b);
		ev->watch.uid = ism_rbuf_le32(b);
		ev->watch.pid = ism_rbuf_le32(b);
		ism_rbuf_str(b, ev->watch.name, sizeof(ev->watch.name),
			     ISM_NAME_MAX);
		if (ev->watch.kind < ISM_WATCH_PEER_UP ||
		    ev->watch.kind > ISM_WATCH_DETACH)
			bad = 1;
		break;
	case ISM_MSG_EV_SHUTDOWN:
		ev->type = ISM_EV_SHUTDOWN;
		ev->reason = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		break;
	case ISM_MSG_EV_WIN_MAP:
	case ISM_MSG_EV_WIN_UNMAP: return ism_proto_get_ev_window(b, type, ev);
	default: return -EBADMSG;
	}
	return proto_finish(b, bad);
}
