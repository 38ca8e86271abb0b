/* SPDX-License-Identifier: MIT */
/*
 * admin - status, paged lists, watch and revocation for libism.
 */
#include "client.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

int ism_admin_status(struct ism_conn *c, struct ism_status *st)
{
	struct ism_wbuf b;
	struct reply rep;
	int e;

	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_STATUS);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e >= 0) {
		memset(st, 0, sizeof(*st));
		e = ism_proto_get_status_rep(&rep.rb, st) < 0 ? -EPROTO : 0;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* @out holds @max entries of @esize bytes; those not filled, and the
 * reserved tails of those filled, read zero. */
static int list_call(struct ism_conn *c, uint16_t type, uint64_t region,
		     uint64_t cursor, void *out, size_t esize, uint32_t max,
		     uint64_t *next)
{
	struct ism_list_req req = {
		.cursor = cursor,
		.region = region,
		.max = ISM_MIN(max, ISM_LIST_MAX),
	};
	struct ism_wbuf b;
	struct reply rep;
	uint32_t n = 0;
	int e;

	if (max == 0 || !out || !next)
		return -EINVAL;
	memset(out, 0, req.max * esize);
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, type);
	ism_proto_put_list_req(&b, &req);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e >= 0) {
		switch (type) {
		case ISM_MSG_LIST_PEERS:
			e = ism_proto_get_peers_rep(&rep.rb, next, out, req.max,
						    &n);
			break;
		case ISM_MSG_LIST_REGIONS:
			e = ism_proto_get_regions_rep(&rep.rb, next, out,
						      req.max, &n);
			break;
		case ISM_MSG_LIST_STREAMS:
			e = ism_proto_get_streams_rep(&rep.rb, next, out,
						      req.max, &n);
			break;
		default:
			e = ism_proto_get_refs_rep(&rep.rb, next, out, req.max,
						   &n);
			break;
		}
		reply_close_fds(&rep);
		e = e < 0 ? -EPROTO : (int)n;
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_admin_list_peers(struct ism_conn *c, uint64_t cursor,
			 struct ism_peer_info *out, uint32_t max,
			 uint64_t *next)
{
	return list_call(c, ISM_MSG_LIST_PEERS, 0, cursor, out, sizeof(*out),
			 max, next);
}

int ism_admin_list_regions(struct ism_conn *c, uint64_t cursor,
			   struct ism_region_entry *out, uint32_t max,
			   uint64_t *next)
{
	return list_call(c, ISM_MSG_LIST_REGIONS, 0, cursor, out, sizeof(*out),
			 max, next);
}

int ism_admin_list_refs(struct ism_conn *c, uint64_t region, uint64_t cursor,
			struct ism_ref_entry *out, uint32_t max, uint64_t *next)
{
	return list_call(c, ISM_MSG_LIST_REFS, region, cursor, out,
			 sizeof(*out), max, next);
}

int ism_admin_list_streams(struct ism_conn *c, uint64_t cursor,
			   struct ism_stream_info *out, uint32_t max,
			   uint64_t *next)
{
	return list_call(c, ISM_MSG_LIST_STREAMS, 0, cursor, out, sizeof(*out),
			 max, next);
}

int ism_admin_watch(struct ism_conn *c)
{
	struct ism_wbuf b;
	struct reply rep;
	int e;

	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_WATCH);
	ism_proto_put_watch_req(&b, ISM_WATCH_MASK_ALL);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e >= 0) {
		e = ism_proto_get_empty(&rep.rb) < 0 ? -EPROTO : 0;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_admin_destroy(struct ism_conn *c, uint64_t id)
{
	struct ism_wbuf b;
	struct reply rep;
	uint32_t n;
	int e;

	if (id == 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_DESTROY);
	ism_proto_put_region_req(&b, id);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e >= 0) {
		e = ism_proto_get_count_rep(&rep.rb, &n) < 0 ? -EPROTO : (int)n;
		reply_close_fds(&rep);
		if (e >= 0)
			region_mark_gone_locked(c, id);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}
