/* SPDX-License-Identifier: MIT */
/*
 * window - libism's side of windows through ismd: registering a window,
 * asking ismd to map a region into someone's window, and serving the
 * EV_WIN_MAP / EV_WIN_UNMAP events ismd sends a window's owner.
 *
 * The events are served wherever this connection's messages are read (a
 * call waiting for its reply, ism_conn_process()), under the connection's
 * lock: the mapping is made, and WIN_DONE tells ismd, at once.  WIN_DONE
 * is built in a buffer of its own: c->tx may hold a request that is to be
 * sent again after a reconnection.
 *
 * Locks: the connection's, then a window's (inside lib/window); the unmap
 * hook lib/window calls after a local unmap takes the connection's lock
 * with no window lock held.
 */
#include "client.h"
#include "window/window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Tell ismd a mapping step is done (fire and forget). */
static void send_done_locked(struct ism_conn *c, uint64_t map, uint32_t op,
			     uint32_t status)
{
	struct ism_win_done_req req = { .map = map, .op = op };
	uint8_t buf[64];
	struct ism_wbuf b;
	int n;

	if (c->sock < 0)
		return;
	req.status = status > 4095 ? EIO : status;
	ism_proto_begin(&b, buf, sizeof(buf), ISM_MSG_WIN_DONE,
			ISM_WIRE_F_NOREPLY, 0, 0);
	ism_proto_put_win_done_req(&b, &req);
	n = ism_proto_end(&b);
	if (n > 0)
		ism_wire_send(c->sock, buf, (size_t)n, NULL, 0, 0);
}

void conn_window_event_locked(struct ism_conn *c, uint16_t type,
			      struct ism_rbuf *rb, int *fds, unsigned nfds)
{
	struct ism_window *w;
	struct ism_event ev;
	int e;

	if (ism_proto_get_event(rb, type, &ev) < 0) {
		ism_close_fds(fds, nfds); /* ismd's own reopens */
		return;
	}
	w = ism_map_get(&c->windows, ev.window.id, 0);
	if (ev.type == ISM_EV_WINDOW_MAP) {
		struct window_remote r = { .map = ev.window.map,
					   .region = ev.region,
					   .peer = ev.peer };

		if (nfds != 1)
			e = -EPROTO;
		else if (!w)
			e = -ENOENT;
		else
			e = window_map_remote(
				w, ev.window.offset, ev.window.len, fds[0],
				ev.window.region_offset, ev.access, &r);
		ism_close_fds(fds, nfds);
		send_done_locked(c, ev.window.map, ISM_WIN_OP_MAP,
				 (uint32_t)-e);
		if (w) {
			ev.reason = (uint32_t)-e;
			conn_push_event_locked(c, &ev);
		}
		return;
	}
	ism_close_fds(fds, nfds);
	if (w) {
		/* Ours: unmap (a mapping we never made is unmapped too)
		 * and confirm. */
		window_unmap_remote(w, ev.window.map, NULL);
		send_done_locked(c, ev.window.map, ISM_WIN_OP_UNMAP, 0);
	}
	conn_push_event_locked(c, &ev);
}

/* Drop @w's registration and every mapping ismd made in it; @reason for
 * the events (0: none). */
static void forget_locked(struct ism_conn *c, struct ism_window *w, uint64_t id,
			  uint32_t reason)
{
	struct window_remote gone[64];
	struct window_reg none = { 0 };
	uint32_t n;

	ism_map_del(&c->windows, id, 0);
	window_set_hook(w, NULL, NULL);
	window_reg_write(w, &none);
	n = window_unmap_all_remote(w, gone, ISM_ARRAY_SIZE(gone));
	for (uint32_t i = 0; reason && i < n && i < ISM_ARRAY_SIZE(gone); i++) {
		struct ism_event ev = { .type = ISM_EV_WINDOW_UNMAP,
					.reason = reason,
					.region = gone[i].region,
					.peer = gone[i].peer };

		ev.window.id = id;
		ev.window.map = gone[i].map;
		conn_push_event_locked(c, &ev);
	}
}

void conn_windows_lost_locked(struct ism_conn *c)
{
	struct ism_window *w;
	uint64_t id;
	size_t pos;

	/* No revocation can reach these mappings any more: fail closed. */
	for (pos = 0; (w = ism_map_next(&c->windows, &pos, &id, NULL)); pos = 0)
		forget_locked(c, w, id, ISM_WUNMAP_LOST);
}

/* After a local ism_window_unmap() of mappings ismd made: tell ismd. */
static void unmap_hook(struct ism_window *w, void *ctx, const uint64_t *maps,
		       uint32_t n)
{
	struct ism_conn *c = ctx;
	struct window_reg reg;

	pthread_mutex_lock(&c->lock);
	window_reg_read(w, &reg);
	if (reg.conn == c && c->state == CONN_UP)
		for (uint32_t i = 0; i < n; i++)
			send_done_locked(c, maps[i], ISM_WIN_OP_UNMAP, 0);
	pthread_mutex_unlock(&c->lock);
}

int ism_window_register(struct ism_window *w, struct ism_conn *c,
			const struct ism_window_grant *grant, uint64_t *id)
{
	struct ism_window_grant g;
	struct ism_win_create_req req = { 0 };
	struct ism_win_create_rep rep;
	struct window_reg reg;
	struct ism_wbuf b;
	struct reply r;
	int e;

	if (id)
		*id = 0;
	e = ism_opts_copy(&g, sizeof(g),
			  ISM_OPTS_SIZE_VER0(struct ism_window_grant, max_maps),
			  grant);
	if (e < 0)
		return e;
	if (g.n_peers > ISM_ACL_MAX || g.n_uids > ISM_ACL_MAX ||
	    (g.n_peers && !g.peers) || (g.n_uids && !g.uids) ||
	    (g.max_access && g.max_access != ISM_ACCESS_RO &&
	     g.max_access != ISM_ACCESS_RW) ||
	    g.max_maps > ISM_WINDOW_MAPS_MAX)
		return -EINVAL;
	req.size = ism_window_size(w);
	req.max_access = g.max_access ? g.max_access : ISM_ACCESS_RO;
	req.max_maps = g.max_maps ? ISM_MIN(g.max_maps, window_max_maps(w))
				  : window_max_maps(w);
	req.acl.n_peers = g.n_peers;
	req.acl.n_uids = g.n_uids;
	if (g.n_peers)
		memcpy(req.acl.peers, g.peers, g.n_peers * sizeof(uint64_t));
	if (g.n_uids)
		memcpy(req.acl.uids, g.uids, g.n_uids * sizeof(uint32_t));

	pthread_mutex_lock(&c->lock);
	window_reg_read(w, &reg);
	if (reg.conn) {
		e = -EALREADY;
		goto out;
	}
	conn_begin_locked(c, &b, ISM_MSG_WIN_CREATE);
	ism_proto_put_win_create_req(&b, &req);
	e = ism_proto_end(&b);
	if (e < 0)
		goto out;
	e = conn_call_locked(c, (size_t)e, NULL, 0, &r);
	if (e < 0)
		goto out;
	e = ism_proto_get_win_create_rep(&r.rb, &rep);
	reply_close_fds(&r);
	if (e < 0) {
		e = -EPROTO;
		goto out;
	}
	e = ism_map_put(&c->windows, rep.window, 0, w);
	if (e < 0) {
		/* ismd never gives one id twice; out of memory: drop it. */
		struct ism_wbuf d;
		struct reply dr;
		int n;

		conn_begin_locked(c, &d, ISM_MSG_WIN_DESTROY);
		ism_proto_put_region_req(&d, rep.window);
		n = ism_proto_end(&d);
		if (n > 0 && conn_call_locked(c, (size_t)n, NULL, 0, &dr) == 0)
			reply_close_fds(&dr);
		e = e == -EEXIST ? -EPROTO : e;
		goto out;
	}
	reg.conn = c;
	reg.id = rep.window;
	window_reg_write(w, &reg);
	window_set_hook(w, unmap_hook, c);
	if (id)
		*id = rep.window;
	e = 0;
out:
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_window_unregister(struct ism_window *w)
{
	struct window_reg reg;
	struct ism_conn *c;
	struct ism_wbuf b;
	struct reply r;
	int e;

	window_reg_read(w, &reg);
	c = reg.conn;
	if (!c)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	window_reg_read(w, &reg);
	if (reg.conn != c) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	/* Forgotten here first: whatever ismd still sends for it meanwhile
	 * is refused (a map) or needs nothing (an unmap). */
	forget_locked(c, w, reg.id, 0);
	conn_begin_locked(c, &b, ISM_MSG_WIN_DESTROY);
	ism_proto_put_region_req(&b, reg.id);
	e = ism_proto_end(&b);
	if (e > 0) {
		e = conn_call_locked(c, (size_t)e, NULL, 0, &r);
		if (e == 0)
			reply_close_fds(&r);
	}
	pthread_mutex_unlock(&c->lock);
	return e < 0 ? e : 0;
}

int window_client_release(struct ism_window *w)
{
	struct window_reg reg;

	window_reg_read(w, &reg);
	if (!reg.conn)
		return 0;
	return ism_window_unregister(w);
}

void conn_windows_close_locked(struct ism_conn *c)
{
	conn_windows_lost_locked(c);
	ism_map_free(&c->windows);
}

int ism_window_map_region(struct ism_conn *c, uint64_t window,
			  const struct ism_token *tok, uint64_t region_off,
			  uint64_t window_off, uint64_t len, uint32_t access,
			  uint64_t *map_id)
{
	struct ism_win_map_req req = { .window = window,
				       .region_off = region_off,
				       .window_off = window_off,
				       .len = len,
				       .access = access };
	struct ism_win_map_rep rep;
	struct ism_wbuf b;
	struct reply r;
	uint64_t end;
	int e;

	if (map_id)
		*map_id = 0;
	if (!tok || window == 0 || len == 0 ||
	    (access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) ||
	    ((region_off | window_off | len) & 4095) ||
	    __builtin_add_overflow(window_off, len, &end) ||
	    end > ISM_WINDOW_SIZE_MAX ||
	    __builtin_add_overflow(region_off, len, &end))
		return -EINVAL;
	memcpy(req.token, tok->b, ISM_TOKEN_SIZE);
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_WIN_MAP);
	ism_proto_put_win_map_req(&b, &req);
	e = ism_proto_end(&b);
	if (e > 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &r);
	if (e == 0) {
		e = ism_proto_get_win_map_rep(&r.rb, &rep);
		reply_close_fds(&r);
		if (e < 0)
			e = -EPROTO;
		else if (map_id)
			*map_id = rep.map;
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_window_unmap_region(struct ism_conn *c, uint64_t map_id)
{
	struct ism_wbuf b;
	struct reply r;
	int e;

	if (map_id == 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_WIN_UNMAP);
	ism_proto_put_region_req(&b, map_id);
	e = ism_proto_end(&b);
	if (e > 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &r);
	if (e == 0)
		reply_close_fds(&r);
	pthread_mutex_unlock(&c->lock);
	return e;
}
