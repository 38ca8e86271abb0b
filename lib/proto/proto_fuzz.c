/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: every protocol decoder.  The input is a whole message as it
 * would arrive (header and payload); the header's type picks the request,
 * reply or event decoder, and the REPLY flag picks request or reply.  A
 * message that decodes must encode back to a message that decodes to the
 * same struct (checked for the fixed-size ones byte for byte).
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[ISM_WIRE_MAX_MSG];

/* Re-encode @m with @put, decode it with @get into @m2, compare. */
#define ROUNDTRIP(type, put, get, m, m2)                                       \
	do {                                                                   \
		struct ism_wbuf w_;                                            \
		struct ism_rbuf r_;                                            \
		struct ism_wire_hdr h_;                                        \
		int n_;                                                        \
		ism_proto_begin(&w_, out, sizeof(out), type, 0, 1, 0);         \
		put(&w_, m);                                                   \
		n_ = ism_proto_end(&w_);                                       \
		if (n_ < 0)                                                    \
			__builtin_trap();                                      \
		ism_rbuf_init(&r_, out, (size_t)n_);                           \
		if (ism_wire_hdr_get(&r_, (size_t)n_, &h_) ||                  \
		    get(&r_, m2) != 0)                                         \
			__builtin_trap();                                      \
	} while (0)

static void requests(uint16_t type, struct ism_rbuf *b)
{
	static struct ism_register_req reg, reg2;
	static struct ism_reattach_req rea, rea2;
	union {
		struct ism_hello_req hello;
		struct ism_alloc_req alloc;
		struct ism_attach_req attach;
		struct ism_notify_req notify;
		struct ism_read_req read;
		struct ism_write_req write;
		struct ism_list_req list;
		struct ism_stream_open_req sopen;
		struct ism_stream_update_req supdate;
		struct ism_ivsh_req ivsh;
	} m, m2;
	char name[ISM_NAME_MAX + 1];
	uint64_t id;
	uint32_t mask;

	memset(&m, 0, sizeof(m));
	memset(&m2, 0, sizeof(m2));
	switch (type) {
	case ISM_MSG_HELLO:
		if (ism_proto_get_hello_req(b, &m.hello) == 0) {
			ROUNDTRIP(type, ism_proto_put_hello_req, ism_proto_get_hello_req,
				  &m.hello, &m2.hello);
			if (memcmp(&m.hello, &m2.hello, sizeof(m.hello)))
				__builtin_trap();
		}
		break;
	case ISM_MSG_ALLOC:
		if (ism_proto_get_alloc_req(b, &m.alloc) == 0)
			ROUNDTRIP(type, ism_proto_put_alloc_req, ism_proto_get_alloc_req,
				  &m.alloc, &m2.alloc);
		break;
	case ISM_MSG_ATTACH:
		if (ism_proto_get_attach_req(b, &m.attach) == 0) {
			ROUNDTRIP(type, ism_proto_put_attach_req,
				  ism_proto_get_attach_req, &m.attach, &m2.attach);
			if (memcmp(&m.attach, &m2.attach, sizeof(m.attach)))
				__builtin_trap();
		}
		break;
	case ISM_MSG_DETACH:
	case ISM_MSG_DESTROY:
		(void)ism_proto_get_region_req(b, &id);
		break;
	case ISM_MSG_NOTIFY:
		(void)ism_proto_get_notify_req(b, &m.notify);
		break;
	case ISM_MSG_READ:
		(void)ism_proto_get_read_req(b, &m.read);
		break;
	case ISM_MSG_WRITE:
		if (ism_proto_get_write_req(b, &m.write) == 0) {
			/* The data pointer lies inside the input. */
			if (m.write.data < b->p ||
			    m.write.data + m.write.len > b->p + b->len)
				__builtin_trap();
		}
		break;
	case ISM_MSG_STATUS:
		(void)ism_proto_get_empty(b);
		break;
	case ISM_MSG_LIST_PEERS:
	case ISM_MSG_LIST_REGIONS:
	case ISM_MSG_LIST_REFS:
		(void)ism_proto_get_list_req(b, &m.list);
		break;
	case ISM_MSG_WATCH:
		(void)ism_proto_get_watch_req(b, &mask);
		break;
	case ISM_MSG_REGISTER:
		if (ism_proto_get_register_req(b, &reg) == 0)
			ROUNDTRIP(type, ism_proto_put_register_req,
				  ism_proto_get_register_req, &reg, &reg2);
		break;
	case ISM_MSG_STREAM_OPEN:
		if (ism_proto_get_stream_open_req(b, &m.sopen) == 0) {
			ROUNDTRIP(type, ism_proto_put_stream_open_req,
				  ism_proto_get_stream_open_req, &m.sopen,
				  &m2.sopen);
			if (memcmp(&m.sopen, &m2.sopen, sizeof(m.sopen)))
				__builtin_trap();
		}
		break;
	case ISM_MSG_STREAM_RESOLVE:
	case ISM_MSG_STREAM_CLOSE:
		(void)ism_proto_get_region_req(b, &id);
		break;
	case ISM_MSG_STREAM_UPDATE:
		if (ism_proto_get_stream_update_req(b, &m.supdate) == 0)
			ROUNDTRIP(type, ism_proto_put_stream_update_req,
				  ism_proto_get_stream_update_req, &m.supdate,
				  &m2.supdate);
		break;
	case ISM_MSG_LIST_STREAMS:
		(void)ism_proto_get_list_req(b, &m.list);
		break;
	case ISM_MSG_IVSH_LIST:
		(void)ism_proto_get_empty(b);
		break;
	case ISM_MSG_IVSH_JOIN:
		(void)ism_proto_get_ivsh_join_req(b, name, sizeof(name));
		break;
	case ISM_MSG_IVSH_PEERS:
	case ISM_MSG_IVSH_VECTORS:
	case ISM_MSG_IVSH_RING:
	case ISM_MSG_IVSH_LEAVE:
	case ISM_MSG_IVSH_LAYOUT:
	case ISM_MSG_IVSH_SECTIONS:
	case ISM_MSG_IVSH_STATE:
		(void)ism_proto_get_ivsh_req(b, type, &m.ivsh);
		break;
	case ISM_MSG_REATTACH:
		if (ism_proto_get_reattach_req(b, &rea) == 0)
			ROUNDTRIP(type, ism_proto_put_reattach_req,
				  ism_proto_get_reattach_req, &rea, &rea2);
		break;
	default:
		break;
	}
}

static void replies(uint16_t type, struct ism_rbuf *b)
{
	static struct ism_peer_info peers[ISM_LIST_MAX];
	static struct ism_region_entry regions[ISM_LIST_MAX];
	static struct ism_ref_entry refs[ISM_LIST_MAX];
	static struct ism_stream_info streams[ISM_LIST_MAX];
	static struct ism_ivshmem_peer ipeers[ISM_IVSH_PEERS_MAX];
	struct ism_ivshmem_domain doms[ISM_IVSH_DOMAINS_MAX];
	struct ism_ivsh_join_rep jr;
	struct ism_ivsh_layout_rep lay;
	uint32_t sect[ISM_IVSH_FDS_PER_MSG];
	union {
		struct ism_hello_rep hello;
		struct ism_alloc_rep alloc;
		struct ism_attach_rep attach;
		struct ism_status status;
		struct ism_batch_rep batch;
		struct ism_stream_rep stream;
	} m;
	const uint8_t *p;
	uint64_t next;
	uint32_t n;

	switch (type) {
	case ISM_MSG_HELLO:
		(void)ism_proto_get_hello_rep(b, &m.hello);
		break;
	case ISM_MSG_ALLOC:
		(void)ism_proto_get_alloc_rep(b, &m.alloc);
		break;
	case ISM_MSG_ATTACH:
		(void)ism_proto_get_attach_rep(b, &m.attach);
		break;
	case ISM_MSG_DETACH:
	case ISM_MSG_WATCH:
		(void)ism_proto_get_empty(b);
		break;
	case ISM_MSG_DESTROY:
	case ISM_MSG_NOTIFY:
	case ISM_MSG_WRITE:
		(void)ism_proto_get_count_rep(b, &n);
		break;
	case ISM_MSG_READ:
		if (ism_proto_get_read_rep(b, &p, &n) == 0 &&
		    (p < b->p || p + n > b->p + b->len))
			__builtin_trap();
		break;
	case ISM_MSG_STATUS:
		(void)ism_proto_get_status_rep(b, &m.status);
		break;
	case ISM_MSG_LIST_PEERS:
		if (ism_proto_get_peers_rep(b, &next, peers, 3, &n) == 0 && n > 3)
			__builtin_trap();
		break;
	case ISM_MSG_LIST_REGIONS:
		(void)ism_proto_get_regions_rep(b, &next, regions, ISM_LIST_MAX,
						&n);
		break;
	case ISM_MSG_LIST_REFS:
		(void)ism_proto_get_refs_rep(b, &next, refs, ISM_LIST_MAX, &n);
		break;
	case ISM_MSG_REGISTER:
	case ISM_MSG_REATTACH:
		(void)ism_proto_get_batch_rep(b, &m.batch);
		break;
	case ISM_MSG_STREAM_OPEN:
	case ISM_MSG_STREAM_RESOLVE:
		(void)ism_proto_get_stream_rep(b, &m.stream);
		break;
	case ISM_MSG_STREAM_UPDATE:
	case ISM_MSG_STREAM_CLOSE:
		(void)ism_proto_get_empty(b);
		break;
	case ISM_MSG_LIST_STREAMS:
		if (ism_proto_get_streams_rep(b, &next, streams, 2, &n) == 0 &&
		    n > 2)
			__builtin_trap();
		break;
	case ISM_MSG_IVSH_LIST:
		(void)ism_proto_get_ivsh_list_rep(b, doms, ISM_IVSH_DOMAINS_MAX,
						  &n);
		break;
	case ISM_MSG_IVSH_PEERS:
		(void)ism_proto_get_ivsh_peers_rep(b, ipeers, ISM_IVSH_PEERS_MAX,
						   &n);
		break;
	case ISM_MSG_IVSH_JOIN:
	case ISM_MSG_IVSH_VECTORS:
		(void)ism_proto_get_ivsh_join_rep(b, &jr);
		break;
	case ISM_MSG_IVSH_RING:
	case ISM_MSG_IVSH_LEAVE:
	case ISM_MSG_IVSH_STATE:
		(void)ism_proto_get_empty(b);
		break;
	case ISM_MSG_IVSH_LAYOUT:
		(void)ism_proto_get_ivsh_layout_rep(b, &lay);
		break;
	case ISM_MSG_IVSH_SECTIONS:
		(void)ism_proto_get_ivsh_sections_rep(b, sect, &n);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ism_wire_hdr h;
	struct ism_rbuf b;
	struct ism_event ev;

	ism_rbuf_init(&b, data, size);
	if (ism_wire_hdr_get(&b, size, &h) < 0)
		return 0;
	if (h.flags & ISM_WIRE_F_EVENT)
		(void)ism_proto_get_event(&b, h.type, &ev);
	else if (h.flags & ISM_WIRE_F_REPLY)
		replies(h.type, &b);
	else
		requests(h.type, &b);
	return 0;
}
