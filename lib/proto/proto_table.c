/* SPDX-License-Identifier: MIT */
/*
 * proto - the table of messages (messages.def) and the uniform codecs it
 * names: thin adapters over the typed encoders and decoders, so that
 * anything that must treat every message alike (ismd's dispatcher, the
 * fuzzers, the corpus generator, the tests) reads one table.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>

/* ---- codecs ---- */

#define CODEC(cname, type, is_exact, putfn, getfn)                             \
	static void put_##cname(struct ism_wbuf *b, const void *m)             \
	{                                                                      \
		putfn(b, (const type *)m);                                     \
	}                                                                      \
	static int get_##cname(struct ism_rbuf *b, void *m)                    \
	{                                                                      \
		return getfn(b, (type *)m);                                    \
	}                                                                      \
	static const struct ism_codec ism_codec_##cname = {                    \
		#cname, sizeof(type), is_exact, put_##cname, get_##cname       \
	}

static void put_empty_fn(struct ism_wbuf *b, const void *m)
{
	(void)b;
	(void)m;
}

static int get_empty_fn(struct ism_rbuf *b, void *m)
{
	(void)m;
	return ism_proto_get_empty(b);
}

static const struct ism_codec ism_codec_empty = {
	"empty", 0, true, put_empty_fn, get_empty_fn,
};

CODEC(hello_req, struct ism_hello_req, true, ism_proto_put_hello_req,
      ism_proto_get_hello_req);
CODEC(hello_rep, struct ism_hello_rep, true, ism_proto_put_hello_rep,
      ism_proto_get_hello_rep);
CODEC(alloc_req, struct ism_alloc_req, true, ism_proto_put_alloc_req,
      ism_proto_get_alloc_req);
CODEC(alloc_rep, struct ism_alloc_rep, true, ism_proto_put_alloc_rep,
      ism_proto_get_alloc_rep);
CODEC(attach_req, struct ism_attach_req, true, ism_proto_put_attach_req,
      ism_proto_get_attach_req);
CODEC(attach_rep, struct ism_attach_rep, true, ism_proto_put_attach_rep,
      ism_proto_get_attach_rep);
CODEC(notify_req, struct ism_notify_req, true, ism_proto_put_notify_req,
      ism_proto_get_notify_req);
CODEC(read_req, struct ism_read_req, true, ism_proto_put_read_req,
      ism_proto_get_read_req);
/* The data points into the message: not comparable byte for byte. */
CODEC(write_req, struct ism_write_req, false, ism_proto_put_write_req,
      ism_proto_get_write_req);
CODEC(status_rep, struct ism_status, true, ism_proto_put_status_rep,
      ism_proto_get_status_rep);
CODEC(list_req, struct ism_list_req, true, ism_proto_put_list_req,
      ism_proto_get_list_req);
CODEC(register_req, struct ism_register_req, true, ism_proto_put_register_req,
      ism_proto_get_register_req);
CODEC(reattach_req, struct ism_reattach_req, true, ism_proto_put_reattach_req,
      ism_proto_get_reattach_req);
CODEC(batch_rep, struct ism_batch_rep, true, ism_proto_put_batch_rep,
      ism_proto_get_batch_rep);
CODEC(stream_open_req, struct ism_stream_open_req, true,
      ism_proto_put_stream_open_req, ism_proto_get_stream_open_req);
CODEC(stream_update_req, struct ism_stream_update_req, true,
      ism_proto_put_stream_update_req, ism_proto_get_stream_update_req);
CODEC(stream_rep, struct ism_stream_rep, true, ism_proto_put_stream_rep,
      ism_proto_get_stream_rep);
CODEC(ivsh_join_rep, struct ism_ivsh_join_rep, true,
      ism_proto_put_ivsh_join_rep, ism_proto_get_ivsh_join_rep);
CODEC(ivsh_layout_rep, struct ism_ivsh_layout_rep, true,
      ism_proto_put_ivsh_layout_rep, ism_proto_get_ivsh_layout_rep);
CODEC(win_create_req, struct ism_win_create_req, true,
      ism_proto_put_win_create_req, ism_proto_get_win_create_req);
CODEC(win_create_rep, struct ism_win_create_rep, true,
      ism_proto_put_win_create_rep, ism_proto_get_win_create_rep);
CODEC(win_map_req, struct ism_win_map_req, true, ism_proto_put_win_map_req,
      ism_proto_get_win_map_req);
CODEC(win_map_rep, struct ism_win_map_rep, true, ism_proto_put_win_map_rep,
      ism_proto_get_win_map_rep);
CODEC(win_done_req, struct ism_win_done_req, true, ism_proto_put_win_done_req,
      ism_proto_get_win_done_req);

/* One scalar each. */
static void put_u64_region(struct ism_wbuf *b, const uint64_t *m)
{
	ism_proto_put_region_req(b, *m);
}
CODEC(region_req, uint64_t, true, put_u64_region, ism_proto_get_region_req);

static void put_u32_count(struct ism_wbuf *b, const uint32_t *m)
{
	ism_proto_put_count_rep(b, *m);
}
CODEC(count_rep, uint32_t, true, put_u32_count, ism_proto_get_count_rep);

static void put_u32_mask(struct ism_wbuf *b, const uint32_t *m)
{
	ism_proto_put_watch_req(b, *m);
}
CODEC(watch_req, uint32_t, true, put_u32_mask, ism_proto_get_watch_req);

/* READ's reply is its data. */
static void put_read(struct ism_wbuf *b, const struct ism_read_rep *m)
{
	ism_wbuf_bytes(b, m->data, m->len);
}
static int get_read(struct ism_rbuf *b, struct ism_read_rep *m)
{
	return ism_proto_get_read_rep(b, &m->data, &m->len);
}
CODEC(read_rep, struct ism_read_rep, false, put_read, get_read);

/* List pages. */
#define PAGE_CODEC(cname, type, what)                                          \
	static void put_page_##cname(struct ism_wbuf *b, const type *m)        \
	{                                                                      \
		ism_proto_put_##what##_rep(b, m->next, m->e, m->n);            \
	}                                                                      \
	static int get_page_##cname(struct ism_rbuf *b, type *m)               \
	{                                                                      \
		return ism_proto_get_##what##_rep(b, &m->next, m->e,           \
						  ISM_LIST_MAX, &m->n);        \
	}                                                                      \
	CODEC(cname, type, true, put_page_##cname, get_page_##cname)

PAGE_CODEC(peers_rep, struct ism_peers_page, peers);
PAGE_CODEC(regions_rep, struct ism_regions_page, regions);
PAGE_CODEC(refs_rep, struct ism_refs_page, refs);
PAGE_CODEC(streams_rep, struct ism_streams_page, streams);

static void put_ivsh_list(struct ism_wbuf *b,
			  const struct ism_ivsh_list_page *m)
{
	ism_proto_put_ivsh_list_rep(b, m->e, m->n);
}
static int get_ivsh_list(struct ism_rbuf *b, struct ism_ivsh_list_page *m)
{
	return ism_proto_get_ivsh_list_rep(b, m->e, ISM_IVSH_DOMAINS_MAX,
					   &m->n);
}
CODEC(ivsh_list_rep, struct ism_ivsh_list_page, true, put_ivsh_list,
      get_ivsh_list);

static void put_ivsh_peers(struct ism_wbuf *b,
			   const struct ism_ivsh_peers_page *m)
{
	ism_proto_put_ivsh_peers_rep(b, m->e, m->n);
}
static int get_ivsh_peers(struct ism_rbuf *b, struct ism_ivsh_peers_page *m)
{
	return ism_proto_get_ivsh_peers_rep(b, m->e, ISM_IVSH_PEERS_MAX, &m->n);
}
CODEC(ivsh_peers_rep, struct ism_ivsh_peers_page, true, put_ivsh_peers,
      get_ivsh_peers);

static void put_ivsh_sections(struct ism_wbuf *b,
			      const struct ism_ivsh_sections_page *m)
{
	ism_proto_put_ivsh_sections_rep(b, m->ids, m->n);
}
static int get_ivsh_sections(struct ism_rbuf *b,
			     struct ism_ivsh_sections_page *m)
{
	return ism_proto_get_ivsh_sections_rep(b, m->ids, &m->n);
}
CODEC(ivsh_sections_rep, struct ism_ivsh_sections_page, true, put_ivsh_sections,
      get_ivsh_sections);

static void put_ivsh_join(struct ism_wbuf *b, const struct ism_ivsh_join_req *m)
{
	ism_proto_put_ivsh_join_req(b, m->name);
}
static int get_ivsh_join(struct ism_rbuf *b, struct ism_ivsh_join_req *m)
{
	return ism_proto_get_ivsh_join_req(b, m->name, sizeof(m->name));
}
CODEC(ivsh_join_req, struct ism_ivsh_join_req, true, put_ivsh_join,
      get_ivsh_join);

/* The 16-byte ivshmem requests: which fields are in use depends on the
 * type, so each type has its codec. */
#define IVSH_CODEC(cname, TYPE)                                                \
	static void put_##cname##_fn(struct ism_wbuf *b,                       \
				     const struct ism_ivsh_req *m)             \
	{                                                                      \
		ism_proto_put_ivsh_req(b, ISM_MSG_##TYPE, m);                  \
	}                                                                      \
	static int get_##cname##_fn(struct ism_rbuf *b,                        \
				    struct ism_ivsh_req *m)                    \
	{                                                                      \
		return ism_proto_get_ivsh_req(b, ISM_MSG_##TYPE, m);           \
	}                                                                      \
	CODEC(cname, struct ism_ivsh_req, true, put_##cname##_fn,              \
	      get_##cname##_fn)

IVSH_CODEC(ivsh_peers_req, IVSH_PEERS);
IVSH_CODEC(ivsh_vectors_req, IVSH_VECTORS);
IVSH_CODEC(ivsh_ring_req, IVSH_RING);
IVSH_CODEC(ivsh_leave_req, IVSH_LEAVE);
IVSH_CODEC(ivsh_layout_req, IVSH_LAYOUT);
IVSH_CODEC(ivsh_sections_req, IVSH_SECTIONS);
IVSH_CODEC(ivsh_state_req, IVSH_STATE);

/* Events: one codec per type over struct ism_event. */
#define EVENT_CODEC(NAME)                                                      \
	static int get_ev_##NAME(struct ism_rbuf *b, struct ism_event *ev)     \
	{                                                                      \
		return ism_proto_get_event(b, ISM_MSG_##NAME, ev);             \
	}                                                                      \
	CODEC(NAME, struct ism_event, true, ism_proto_put_event, get_ev_##NAME)

#define ISM_REQ(...)
#define ISM_EVENT(NAME, type, name) EVENT_CODEC(NAME);
#include "messages.def"
#undef ISM_REQ
#undef ISM_EVENT

/* ---- the table ---- */

const struct ism_msg_desc ism_proto_msgs[] = {
#define ISM_REQ(NAME, t, nm, handler, rq, rp, rqfds, rpfds, fl)                \
	{ .type = (t),                                                         \
	  .name = (nm),                                                        \
	  .req = &ism_codec_##rq,                                              \
	  .rep = &ism_codec_##rp,                                              \
	  .req_fds = (rqfds),                                                  \
	  .rep_fds = (rpfds),                                                  \
	  .flags = (fl) },
#define ISM_EVENT(NAME, t, nm)                                                 \
	{ .type = (t), .event = true, .name = (nm), .req = &ism_codec_##NAME },
#include "messages.def"
#undef ISM_REQ
#undef ISM_EVENT
};

const size_t ism_proto_n_msgs = ISM_ARRAY_SIZE(ism_proto_msgs);

/* Requests are numbered densely from 1, events from 0x101. */
#define ISM_REQ(NAME, t, ...) _Static_assert((t) >= 1 && (t) <= 0xff, #NAME);
#define ISM_EVENT(NAME, t, ...)                                                \
	_Static_assert((t) > 0x100 && (t) <= 0x1ff, #NAME);
#include "messages.def"
#undef ISM_REQ
#undef ISM_EVENT

const struct ism_msg_desc *ism_proto_desc(uint16_t type)
{
	/* The table lists requests 1.. then events 0x101.. in order: the
	 * index is direct; the scan below only covers a table edited out of
	 * order. */
	size_t i = type <= ISM_MSG_REQ_MAX
			   ? (size_t)type - 1
			   : ISM_MSG_REQ_MAX + (size_t)type - 0x101;

	if (type && i < ism_proto_n_msgs && ism_proto_msgs[i].type == type)
		return &ism_proto_msgs[i];
	for (i = 0; i < ism_proto_n_msgs; i++)
		if (ism_proto_msgs[i].type == type)
			return &ism_proto_msgs[i];
	return NULL;
}

uint32_t ism_proto_event_type(uint16_t type)
{
	switch (type) {
	case ISM_MSG_EV_WIN_MAP: return ISM_EV_WINDOW_MAP;
	case ISM_MSG_EV_WIN_UNMAP: return ISM_EV_WINDOW_UNMAP;
	default:
		return type > 0x100 && type <= 0x107 ? (uint32_t)type - 0x100
						     : 0;
	}
}

const char *ism_proto_type_name(uint16_t type)
{
	const struct ism_msg_desc *m = ism_proto_desc(type);

	return m ? m->name : "unknown";
}

size_t ism_proto_req_max_size(void)
{
	size_t max = 0;

	for (size_t i = 0; i < ism_proto_n_msgs; i++)
		if (!ism_proto_msgs[i].event &&
		    ism_proto_msgs[i].req->size > max)
			max = ism_proto_msgs[i].req->size;
	return max;
}
