/* SPDX-License-Identifier: MIT */
/*
 * proto - windows: WIN_CREATE, WIN_DESTROY, WIN_MAP, WIN_UNMAP, WIN_DONE
 * and the EV_WIN_MAP / EV_WIN_UNMAP events (docs/protocol.md 5.16).
 */
#include "proto_internal.h"

#include <ism/window.h>

#include <errno.h>
#include <string.h>

/* Offsets and lengths on the wire are multiples of this (the smallest
 * page any ism host uses; a window owner checks its own page size). */
#define WIN_ALIGN 4096u

static bool win_aligned(uint64_t v)
{
	return (v & (WIN_ALIGN - 1)) == 0;
}

void ism_proto_put_win_create_req(struct ism_wbuf *b,
				  const struct ism_win_create_req *m)
{
	ism_wbuf_le64(b, m->size);
	ism_wbuf_le32(b, m->max_access);
	ism_wbuf_le32(b, m->max_maps);
	proto_put_acl(b, &m->acl);
}

int ism_proto_get_win_create_req(struct ism_rbuf *b,
				 struct ism_win_create_req *m)
{
	int bad = 0;

	m->size = ism_rbuf_le64(b);
	m->max_access = ism_rbuf_le32(b);
	m->max_maps = ism_rbuf_le32(b);
	proto_get_acl(b, &m->acl, &bad);
	if (m->size == 0 || m->size > ISM_WINDOW_SIZE_MAX ||
	    !win_aligned(m->size) || !proto_access_valid(m->max_access) ||
	    m->max_maps == 0 || m->max_maps > ISM_WINDOW_MAPS_MAX)
		bad = 1;
	return proto_finish(b, bad);
}

void ism_proto_put_win_create_rep(struct ism_wbuf *b,
				  const struct ism_win_create_rep *m)
{
	ism_wbuf_le64(b, m->window);
}

int ism_proto_get_win_create_rep(struct ism_rbuf *b,
				 struct ism_win_create_rep *m)
{
	m->window = ism_rbuf_le64(b);
	return proto_finish(b, b->err == 0 && m->window == 0);
}

void ism_proto_put_win_map_req(struct ism_wbuf *b,
			       const struct ism_win_map_req *m)
{
	ism_wbuf_le64(b, m->window);
	ism_wbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	ism_wbuf_le64(b, m->region_off);
	ism_wbuf_le64(b, m->window_off);
	ism_wbuf_le64(b, m->len);
	ism_wbuf_le32(b, m->access);
	ism_wbuf_le32(b, m->flags);
}

int ism_proto_get_win_map_req(struct ism_rbuf *b, struct ism_win_map_req *m)
{
	uint64_t end;
	int bad = 0;

	m->window = ism_rbuf_le64(b);
	ism_rbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	m->region_off = ism_rbuf_le64(b);
	m->window_off = ism_rbuf_le64(b);
	m->len = ism_rbuf_le64(b);
	m->access = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	if (m->window == 0 || m->len == 0 || !win_aligned(m->region_off) ||
	    !win_aligned(m->window_off) || !win_aligned(m->len) ||
	    __builtin_add_overflow(m->region_off, m->len, &end) ||
	    __builtin_add_overflow(m->window_off, m->len, &end) ||
	    end > ISM_WINDOW_SIZE_MAX || !proto_access_valid(m->access) ||
	    m->flags != 0)
		bad = 1;
	return proto_finish(b, bad);
}

void ism_proto_put_win_map_rep(struct ism_wbuf *b,
			       const struct ism_win_map_rep *m)
{
	ism_wbuf_le64(b, m->map);
}

int ism_proto_get_win_map_rep(struct ism_rbuf *b, struct ism_win_map_rep *m)
{
	m->map = ism_rbuf_le64(b);
	return proto_finish(b, b->err == 0 && m->map == 0);
}

void ism_proto_put_win_done_req(struct ism_wbuf *b,
				const struct ism_win_done_req *m)
{
	ism_wbuf_le64(b, m->map);
	ism_wbuf_le32(b, m->op);
	ism_wbuf_le32(b, m->status);
}

int ism_proto_get_win_done_req(struct ism_rbuf *b, struct ism_win_done_req *m)
{
	m->map = ism_rbuf_le64(b);
	m->op = ism_rbuf_le32(b);
	m->status = ism_rbuf_le32(b);
	return proto_finish(
		b, m->map == 0 ||
			   (m->op != ISM_WIN_OP_MAP &&
			    m->op != ISM_WIN_OP_UNMAP) ||
			   m->status > 4095 ||
			   (m->op == ISM_WIN_OP_UNMAP && m->status != 0));
}

/* ---- events ---- */

void ism_proto_put_ev_win_map(struct ism_wbuf *b, const struct ism_event *ev)
{
	ism_wbuf_le64(b, ev->window.id);
	ism_wbuf_le64(b, ev->window.map);
	ism_wbuf_le64(b, ev->region);
	ism_wbuf_le64(b, ev->peer);
	ism_wbuf_le64(b, ev->window.region_offset);
	ism_wbuf_le64(b, ev->window.offset);
	ism_wbuf_le64(b, ev->window.len);
	ism_wbuf_le32(b, ev->access);
	ism_wbuf_le32(b, 0);
}

void ism_proto_put_ev_win_unmap(struct ism_wbuf *b, const struct ism_event *ev)
{
	ism_wbuf_le64(b, ev->window.id);
	ism_wbuf_le64(b, ev->window.map);
	ism_wbuf_le64(b, ev->region);
	ism_wbuf_le64(b, ev->peer);
	ism_wbuf_le32(b, ev->reason);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_ev_window(struct ism_rbuf *b, uint16_t type,
			    struct ism_event *ev)
{
	uint64_t end;
	int bad = 0;

	memset(ev, 0, sizeof(*ev));
	ev->window.id = ism_rbuf_le64(b);
	ev->window.map = ism_rbuf_le64(b);
	ev->region = ism_rbuf_le64(b);
	ev->peer = ism_rbuf_le64(b);
	if (type == ISM_MSG_EV_WIN_MAP) {
		ev->type = ISM_EV_WINDOW_MAP;
		ev->window.region_offset = ism_rbuf_le64(b);
		ev->window.offset = ism_rbuf_le64(b);
		ev->window.len = ism_rbuf_le64(b);
		ev->access = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->window.len == 0 ||
		    !win_aligned(ev->window.region_offset) ||
		    !win_aligned(ev->window.offset) ||
		    !win_aligned(ev->window.len) ||
		    __builtin_add_overflow(ev->window.offset, ev->window.len,
					   &end) ||
		    end > ISM_WINDOW_SIZE_MAX ||
		    __builtin_add_overflow(ev->window.region_offset,
					   ev->window.len, &end) ||
		    !proto_access_valid(ev->access))
			bad = 1;
	} else if (type == ISM_MSG_EV_WIN_UNMAP) {
		ev->type = ISM_EV_WINDOW_UNMAP;
		ev->reason = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		if (ev->reason < ISM_WUNMAP_REQUESTED ||
		    ev->reason > ISM_WUNMAP_TIMEOUT)
			bad = 1;
	} else {
		return -EBADMSG;
	}
	if (ev->window.id == 0 || ev->window.map == 0 || ev->region == 0)
		bad = 1;
	return proto_finish(b, bad);
}
