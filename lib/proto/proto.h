/* SPDX-License-Identifier: MIT */
/*
 * proto - the ism control protocol: message types, their host structs, and
 * one encoder and one decoder per message (docs/protocol.md is the spec).
 *
 * Concepts: every message is a wire header (lib/wire) and a payload.  A
 * decoder takes a read cursor positioned after the header, reads every
 * field, checks the cursor's error once, requires that nothing is left
 * over, and validates ranges before returning 0.  It returns -EBADMSG for
 * malformed bytes and -EINVAL for well-formed but out-of-range values.
 * Decoded pointers (write data, read reply data) point into the caller's
 * receive buffer.
 *
 * The messages themselves are listed once, in messages.def; each payload
 * also has a codec of one uniform shape (struct ism_codec), so that the
 * table, ismd's dispatcher, the fuzzers and the tests can drive any
 * message.  The codecs live by family: proto_core.c (framing, HELLO),
 * proto_region.c, proto_admin.c (status, lists, watch, events),
 * proto_stream.c, proto_ivsh.c; the table in proto_table.c.
 */
#ifndef ISM_PROTO_H
#define ISM_PROTO_H

#include "wire/wire.h"

#include <ism/admin.h>
#include <ism/common.h>
#include <ism/conn.h>
#include <ism/region.h>
#include <ism/ivshmem.h>
#include <ism/stream.h>
#include <ism/window.h>

/* Message types: one per row of messages.def. */
enum ism_msg_type {
#define ISM_REQ(NAME, type, ...)   ISM_MSG_##NAME = type,
#define ISM_EVENT(NAME, type, ...) ISM_MSG_##NAME = type,
#include "messages.def"
#undef ISM_REQ
#undef ISM_EVENT
};
/* The highest request type. */
#define ISM_MSG_REQ_MAX ISM_MSG_STREAM_CHECK

/* Largest read or write chunk carried by one message. */
#define ISM_RW_MAX 65536u
/* Most entries in one list reply page. */
#define ISM_LIST_MAX 256u
/* Most regions in one REGISTER (each carries one fd). */
#define ISM_REGISTER_MAX ISM_WIRE_MAX_FDS
/* Most references in one REATTACH. */
#define ISM_REATTACH_MAX 64u

#define ISM_PROOF_SIZE 16

/* WATCH mask: bit 0 subscribes to every lifecycle event; 0 unsubscribes. */
#define ISM_WATCH_MASK_ALL 0x1u

/* HELLO request caps: what the peer's libism does.  ISM_CAPQ_CHECK: a
 * client whose OPEN is answered PENDING with reason OTHER_HOST (a
 * destination no listener has: perhaps a NAT'd service address) sends
 * STREAM_CHECK once connected (docs/protocol.md 5.14). */
#define ISM_CAPQ_CHECK 0x1u
#define ISM_CAPS_KNOWN ISM_CAPQ_CHECK
/* HELLO reply caps: ismd may match streams across network namespaces
 * (it holds CAP_NET_ADMIN and CAP_SYS_ADMIN; docs/containers.md). */
#define ISM_CAP_XNS 0x1u

/* HELLO request flags. */
#define ISM_HELLO_F_DOORBELL 0x1u /* one fd attached: the doorbell eventfd */
#define ISM_HELLO_F_RESUME   0x2u /* resume_id/resume_proof are valid */
#define ISM_HELLO_F_KNOWN    0x3u
/* HELLO reply flags. */
#define ISM_HELLO_R_ADMIN      0x1u
#define ISM_HELLO_R_RESUMED    0x2u
#define ISM_HELLO_R_RECOVERING 0x4u

/* ALLOC flags: enum ism_alloc_flags.  Reply flags: */
#define ISM_ALLOC_F_KNOWN                                                      \
	(ISM_ALLOC_HUGETLB | ISM_ALLOC_HUGETLB_REQUIRED | ISM_ALLOC_POPULATE | \
	 ISM_ALLOC_LINGER | ISM_ALLOC_LINK)
/* ALLOC reply and REGISTER entry flags. */
#define ISM_RFLAG_HUGE	 0x1u
#define ISM_RFLAG_LINGER 0x2u
#define ISM_RFLAG_KNOWN	 (ISM_RFLAG_HUGE | ISM_RFLAG_LINGER)
/* ATTACH flags: enum ism_attach_flags.  Reply flags: */
#define ISM_ATTACH_F_KNOWN ISM_ATTACH_NOFD
#define ISM_ATTACH_R_NOFD  0x1u
#define ISM_ATTACH_R_HUGE  0x2u
#define ISM_ATTACH_R_LINK  0x4u /* a second fd: the owner's link socket */

struct ism_acl {
	uint32_t n_peers, n_uids;
	uint64_t peers[ISM_ACL_MAX];
	uint32_t uids[ISM_ACL_MAX];
};

struct ism_hello_req {
	uint32_t min_version, max_version, caps, flags;
	uint64_t resume_id;
	uint8_t resume_proof[ISM_PROOF_SIZE];
	char name[ISM_NAME_MAX + 1];
};

struct ism_hello_rep {
	uint32_t version, caps, flags, max_msg;
	uint64_t peer_id;
	uint8_t host_id[ISM_HOST_ID_SIZE];
	uint8_t resume_proof[ISM_PROOF_SIZE];
	uint32_t max_rw, q_regions, q_refs, q_events;
	uint64_t q_bytes;
	uint32_t recovery_ms;
};

struct ism_alloc_req {
	uint64_t size;
	uint32_t flags, max_access;
	struct ism_acl acl;
	char name[ISM_NAME_MAX + 1];
};

struct ism_alloc_rep {
	uint64_t region, size;
	uint32_t page_size, flags, huge_errno, max_access;
	uint8_t token[ISM_TOKEN_SIZE];
	uint8_t proof[ISM_PROOF_SIZE];
};

struct ism_attach_req {
	uint8_t token[ISM_TOKEN_SIZE];
	uint32_t access, flags;
};

struct ism_attach_rep {
	uint64_t region, size, owner;
	uint32_t page_size, access, flags;
};

struct ism_notify_req {
	uint64_t region, value;
};

struct ism_read_req {
	uint64_t region, offset;
	uint32_t len;
};

struct ism_write_req {
	uint64_t region, offset;
	uint32_t len;
	const uint8_t *data; /* points into the receive buffer */
};

struct ism_list_req {
	uint64_t cursor, region;
	uint32_t max;
};

struct ism_register_ent {
	uint64_t region, size;
	uint8_t token[ISM_TOKEN_SIZE];
	uint8_t proof[ISM_PROOF_SIZE];
	uint32_t flags, max_access; /* flags: ISM_RFLAG_* */
	struct ism_acl acl;
	char name[ISM_NAME_MAX + 1];
};

struct ism_register_req {
	uint32_t n;
	struct ism_register_ent ent[ISM_REGISTER_MAX];
};

struct ism_reattach_ent {
	uint64_t region;
	uint8_t token[ISM_TOKEN_SIZE];
	uint32_t access, flags;
};

struct ism_reattach_req {
	uint32_t n;
	struct ism_reattach_ent ent[ISM_REATTACH_MAX];
};

/* STREAM_OPEN: one TCP socket fd rides along (see docs/protocol.md). */
struct ism_stream_open_req {
	uint32_t role;	 /* enum ism_stream_role */
	uint32_t reason; /* CLIENT: non-zero if it already chose TCP */
	struct ism_stream_addr dst; /* CLIENT: where it connects */
};

/* STREAM_OPEN, STREAM_RESOLVE and STREAM_CHECK replies. */
struct ism_stream_rep {
	uint64_t id, partner;
	uint32_t path, reason;
};

struct ism_stream_update_req {
	uint64_t id;
	uint32_t path, reason;
};

/* ivshmem domains. */
#define ISM_IVSH_DOMAINS_MAX 16u
#define ISM_IVSH_PEERS_MAX   256u
/* Eventfds in one JOIN or VECTORS reply (JOIN also carries the memory). */
#define ISM_IVSH_FDS_PER_MSG 15u

struct ism_ivsh_join_rep {
	uint32_t domain, id, vectors, first, n; /* eventfds [first, first+n) */
	uint64_t size;
};

/* IVSH_PEERS, IVSH_LEAVE, IVSH_LAYOUT: domain; IVSH_VECTORS: domain,
 * first; IVSH_RING: domain, peer, vector; IVSH_SECTIONS: domain, first
 * peer; IVSH_STATE: domain, value. */
struct ism_ivsh_req {
	uint32_t domain, a, b;
};

/* Status array of a REGISTER or REATTACH reply (0 or positive errno). */
struct ism_batch_rep {
	uint32_t n;
	uint32_t status[ISM_REATTACH_MAX];
};

/* ---- the table ---- */

/* A payload codec of one shape for every message.  put writes the host
 * struct @m, get reads one (0, -EBADMSG or -EINVAL, as the typed
 * decoders below).  @exact: decoding what put wrote gives back the same
 * bytes (no pointers into the buffer), so a round trip can be compared. */
struct ism_codec {
	const char *name;
	size_t size; /* of the host struct */
	bool exact;
	void (*put)(struct ism_wbuf *b, const void *m);
	int (*get)(struct ism_rbuf *b, void *m);
};

enum ism_req_flags {
	REQ_NOREPLY = 1u << 0, /* may carry ISM_WIRE_F_NOREPLY */
	REQ_ADMIN = 1u << 1,   /* administrators only */
	REQ_FIRST = 1u << 2,   /* the one request before HELLO */
};

/* One row of messages.def. */
struct ism_msg_desc {
	uint16_t type;
	bool event;
	const char *name;
	const struct ism_codec *req; /* an event's payload: ism_codec_event */
	const struct ism_codec *rep; /* NULL for events */
	uint8_t req_fds, rep_fds;
	uint8_t flags; /* enum ism_req_flags */
};

/* Every row, in the table's order; ism_proto_n_msgs of them. */
extern const struct ism_msg_desc ism_proto_msgs[];
extern const size_t ism_proto_n_msgs;
/* The row of message @type, or NULL. */
const struct ism_msg_desc *ism_proto_desc(uint16_t type);
/* The largest host struct of any request codec. */
size_t ism_proto_req_max_size(void);

/* Host structs of the codecs that have none above. */
struct ism_read_rep {
	const uint8_t *data; /* points into the receive buffer */
	uint32_t len;
};
struct ism_ivsh_join_req {
	char name[ISM_NAME_MAX + 1];
};
/* A page of a list reply. */
#define ISM_LIST_PAGE(tag, type)                                               \
	struct tag {                                                           \
		uint64_t next;                                                 \
		uint32_t n;                                                    \
		type e[ISM_LIST_MAX];                                          \
	}
ISM_LIST_PAGE(ism_peers_page, struct ism_peer_info);
ISM_LIST_PAGE(ism_regions_page, struct ism_region_entry);
ISM_LIST_PAGE(ism_refs_page, struct ism_ref_entry);
ISM_LIST_PAGE(ism_streams_page, struct ism_stream_info);

/* Start a message: writes the header (len patched by ism_proto_end). */
void ism_proto_begin(struct ism_wbuf *b, void *buf, size_t cap, uint16_t type,
		     uint16_t flags, uint32_t seq, uint32_t status);
/* Patch the length.  Returns the message length or the cursor's error. */
int ism_proto_end(struct ism_wbuf *b);

/* The struct ism_event type an event message @type decodes to (0 for
 * none): 0x101..0x107 are 1..7; 0x108 and 0x109 are the window events
 * (ISM_EV_WINDOW_MAP, _UNMAP), 8 and 9 being libism's own. */
uint32_t ism_proto_event_type(uint16_t type);

/* Name of a message type for logs ("hello", "ev-notify", ...; "unknown"). */
const char *ism_proto_type_name(uint16_t type);

/* Requests. */
void ism_proto_put_hello_req(struct ism_wbuf *b, const struct ism_hello_req *m);
int ism_proto_get_hello_req(struct ism_rbuf *b, struct ism_hello_req *m);
void ism_proto_put_alloc_req(struct ism_wbuf *b, const struct ism_alloc_req *m);
int ism_proto_get_alloc_req(struct ism_rbuf *b, struct ism_alloc_req *m);
void ism_proto_put_attach_req(struct ism_wbuf *b,
			      const struct ism_attach_req *m);
int ism_proto_get_attach_req(struct ism_rbuf *b, struct ism_attach_req *m);
/* DETACH and DESTROY carry one region id. */
void ism_proto_put_region_req(struct ism_wbuf *b, uint64_t region);
int ism_proto_get_region_req(struct ism_rbuf *b, uint64_t *region);
void ism_proto_put_notify_req(struct ism_wbuf *b,
			      const struct ism_notify_req *m);
int ism_proto_get_notify_req(struct ism_rbuf *b, struct ism_notify_req *m);
void ism_proto_put_read_req(struct ism_wbuf *b, const struct ism_read_req *m);
int ism_proto_get_read_req(struct ism_rbuf *b, struct ism_read_req *m);
void ism_proto_put_write_req(struct ism_wbuf *b, const struct ism_write_req *m);
int ism_proto_get_write_req(struct ism_rbuf *b, struct ism_write_req *m);
/* STATUS has an empty request: use ism_proto_get_empty(). */
int ism_proto_get_empty(struct ism_rbuf *b);
void ism_proto_put_list_req(struct ism_wbuf *b, const struct ism_list_req *m);
int ism_proto_get_list_req(struct ism_rbuf *b, struct ism_list_req *m);
void ism_proto_put_watch_req(struct ism_wbuf *b, uint32_t mask);
int ism_proto_get_watch_req(struct ism_rbuf *b, uint32_t *mask);
void ism_proto_put_register_req(struct ism_wbuf *b,
				const struct ism_register_req *m);
int ism_proto_get_register_req(struct ism_rbuf *b, struct ism_register_req *m);
void ism_proto_put_reattach_req(struct ism_wbuf *b,
				const struct ism_reattach_req *m);
int ism_proto_get_reattach_req(struct ism_rbuf *b, struct ism_reattach_req *m);
void ism_proto_put_stream_open_req(struct ism_wbuf *b,
				   const struct ism_stream_open_req *m);
int ism_proto_get_stream_open_req(struct ism_rbuf *b,
				  struct ism_stream_open_req *m);
/* A socket address as the wire carries it (family 0 if neither IPv4 nor
 * IPv6); IPv4-mapped IPv6 addresses become IPv4, so one connection seen
 * from a v4 and from a dual-stack v6 socket compares equal. */
struct sockaddr;
void ism_proto_addr_from(struct ism_stream_addr *a, const struct sockaddr *sa);
/* STREAM_RESOLVE, STREAM_CHECK and STREAM_CLOSE carry one stream id:
 * region_req. */
void ism_proto_put_stream_update_req(struct ism_wbuf *b,
				     const struct ism_stream_update_req *m);
int ism_proto_get_stream_update_req(struct ism_rbuf *b,
				    struct ism_stream_update_req *m);

void ism_proto_put_ivsh_req(struct ism_wbuf *b, uint16_t type,
			    const struct ism_ivsh_req *m);
int ism_proto_get_ivsh_req(struct ism_rbuf *b, uint16_t type,
			   struct ism_ivsh_req *m);
/* IVSH_JOIN: the domain's name. */
void ism_proto_put_ivsh_join_req(struct ism_wbuf *b, const char *name);
int ism_proto_get_ivsh_join_req(struct ism_rbuf *b, char *name, size_t cap);

/* Replies (only sent with status 0; an error reply has no payload). */
void ism_proto_put_hello_rep(struct ism_wbuf *b, const struct ism_hello_rep *m);
int ism_proto_get_hello_rep(struct ism_rbuf *b, struct ism_hello_rep *m);
void ism_proto_put_alloc_rep(struct ism_wbuf *b, const struct ism_alloc_rep *m);
int ism_proto_get_alloc_rep(struct ism_rbuf *b, struct ism_alloc_rep *m);
void ism_proto_put_attach_rep(struct ism_wbuf *b,
			      const struct ism_attach_rep *m);
int ism_proto_get_attach_rep(struct ism_rbuf *b, struct ism_attach_rep *m);
/* DESTROY, NOTIFY and WRITE replies carry one count. */
void ism_proto_put_count_rep(struct ism_wbuf *b, uint32_t count);
int ism_proto_get_count_rep(struct ism_rbuf *b, uint32_t *count);
/* READ reply: the data is the whole payload (1..ISM_RW_MAX bytes). */
int ism_proto_get_read_rep(struct ism_rbuf *b, const uint8_t **data,
			   uint32_t *len);
void ism_proto_put_status_rep(struct ism_wbuf *b, const struct ism_status *m);
int ism_proto_get_status_rep(struct ism_rbuf *b, struct ism_status *m);
/* List replies: @n entries; decoders fill at most @cap entries and fail
 * with -EBADMSG if the reply holds more. */
void ism_proto_put_peers_rep(struct ism_wbuf *b, uint64_t next,
			     const struct ism_peer_info *e, uint32_t n);
int ism_proto_get_peers_rep(struct ism_rbuf *b, uint64_t *next,
			    struct ism_peer_info *e, uint32_t cap, uint32_t *n);
void ism_proto_put_regions_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_region_entry *e, uint32_t n);
int ism_proto_get_regions_rep(struct ism_rbuf *b, uint64_t *next,
			      struct ism_region_entry *e, uint32_t cap,
			      uint32_t *n);
void ism_proto_put_refs_rep(struct ism_wbuf *b, uint64_t next,
			    const struct ism_ref_entry *e, uint32_t n);
int ism_proto_get_refs_rep(struct ism_rbuf *b, uint64_t *next,
			   struct ism_ref_entry *e, uint32_t cap, uint32_t *n);
void ism_proto_put_stream_rep(struct ism_wbuf *b,
			      const struct ism_stream_rep *m);
int ism_proto_get_stream_rep(struct ism_rbuf *b, struct ism_stream_rep *m);
void ism_proto_put_streams_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_stream_info *e, uint32_t n);
int ism_proto_get_streams_rep(struct ism_rbuf *b, uint64_t *next,
			      struct ism_stream_info *e, uint32_t cap,
			      uint32_t *n);
void ism_proto_put_ivsh_list_rep(struct ism_wbuf *b,
				 const struct ism_ivshmem_domain *e,
				 uint32_t n);
int ism_proto_get_ivsh_list_rep(struct ism_rbuf *b,
				struct ism_ivshmem_domain *e, uint32_t cap,
				uint32_t *n);
void ism_proto_put_ivsh_peers_rep(struct ism_wbuf *b,
				  const struct ism_ivshmem_peer *e, uint32_t n);
int ism_proto_get_ivsh_peers_rep(struct ism_rbuf *b, struct ism_ivshmem_peer *e,
				 uint32_t cap, uint32_t *n);
/* IVSH_JOIN and IVSH_VECTORS replies (VECTORS: domain/id/vectors/size 0). */
void ism_proto_put_ivsh_join_rep(struct ism_wbuf *b,
				 const struct ism_ivsh_join_rep *m);
int ism_proto_get_ivsh_join_rep(struct ism_rbuf *b,
				struct ism_ivsh_join_rep *m);
/* IVSH_LAYOUT reply (fds: the state table, our output section). */
struct ism_ivsh_layout_rep {
	uint32_t layout; /* 1 or 2 */
	uint64_t state_size, output_size;
};
void ism_proto_put_ivsh_layout_rep(struct ism_wbuf *b,
				   const struct ism_ivsh_layout_rep *m);
int ism_proto_get_ivsh_layout_rep(struct ism_rbuf *b,
				  struct ism_ivsh_layout_rep *m);
/* IVSH_SECTIONS reply: the peer ids whose output sections ride along. */
void ism_proto_put_ivsh_sections_rep(struct ism_wbuf *b, const uint32_t *ids,
				     uint32_t n);
int ism_proto_get_ivsh_sections_rep(struct ism_rbuf *b, uint32_t *ids,
				    uint32_t *n);
struct ism_ivsh_list_page {
	uint32_t n;
	struct ism_ivshmem_domain e[ISM_IVSH_DOMAINS_MAX];
};
struct ism_ivsh_peers_page {
	uint32_t n;
	struct ism_ivshmem_peer e[ISM_IVSH_PEERS_MAX];
};
struct ism_ivsh_sections_page {
	uint32_t n;
	uint32_t ids[ISM_IVSH_FDS_PER_MSG];
};
void ism_proto_put_batch_rep(struct ism_wbuf *b, const struct ism_batch_rep *m);
int ism_proto_get_batch_rep(struct ism_rbuf *b, struct ism_batch_rep *m);

/* Windows (docs/protocol.md 5.16; proto_window.c). */
#define ISM_WIN_OP_MAP	 1u /* WIN_DONE: a mapping made (or refused) */
#define ISM_WIN_OP_UNMAP 2u /* WIN_DONE: a mapping removed */

struct ism_win_create_req {
	uint64_t size; /* the window's, a multiple of 4096, <= 1 TiB */
	uint32_t max_access, max_maps;
	struct ism_acl acl;
};
struct ism_win_create_rep {
	uint64_t window;
};
struct ism_win_map_req {
	uint64_t window;
	uint8_t token[ISM_TOKEN_SIZE];
	uint64_t region_off, window_off, len;
	uint32_t access, flags; /* flags: none defined, must be 0 */
};
struct ism_win_map_rep {
	uint64_t map;
};
struct ism_win_done_req {
	uint64_t map;
	uint32_t op;	 /* ISM_WIN_OP_* */
	uint32_t status; /* 0 or a positive errno */
};
void ism_proto_put_win_create_req(struct ism_wbuf *b,
				  const struct ism_win_create_req *m);
int ism_proto_get_win_create_req(struct ism_rbuf *b,
				 struct ism_win_create_req *m);
void ism_proto_put_win_create_rep(struct ism_wbuf *b,
				  const struct ism_win_create_rep *m);
int ism_proto_get_win_create_rep(struct ism_rbuf *b,
				 struct ism_win_create_rep *m);
void ism_proto_put_win_map_req(struct ism_wbuf *b,
			       const struct ism_win_map_req *m);
int ism_proto_get_win_map_req(struct ism_rbuf *b, struct ism_win_map_req *m);
void ism_proto_put_win_map_rep(struct ism_wbuf *b,
			       const struct ism_win_map_rep *m);
int ism_proto_get_win_map_rep(struct ism_rbuf *b, struct ism_win_map_rep *m);
void ism_proto_put_win_done_req(struct ism_wbuf *b,
				const struct ism_win_done_req *m);
int ism_proto_get_win_done_req(struct ism_rbuf *b, struct ism_win_done_req *m);
/* The window events, from and into struct ism_event (ISM_EV_WINDOW_MAP:
 * window.*, region, peer, access; ISM_EV_WINDOW_UNMAP: window.id,
 * window.map, region, peer, reason).  EV_WIN_MAP carries one fd. */
void ism_proto_put_ev_win_map(struct ism_wbuf *b, const struct ism_event *ev);
void ism_proto_put_ev_win_unmap(struct ism_wbuf *b, const struct ism_event *ev);
int ism_proto_get_ev_window(struct ism_rbuf *b, uint16_t type,
			    struct ism_event *ev);

/* Events: one decoder for all, into the public struct ism_event, and one
 * encoder from it (its type field picks the message). */
void ism_proto_put_event(struct ism_wbuf *b, const struct ism_event *ev);
void ism_proto_put_ev_notify(struct ism_wbuf *b, uint64_t region,
			     uint64_t sender, uint64_t value, uint32_t count);
void ism_proto_put_ev_gone(struct ism_wbuf *b, uint64_t region,
			   uint32_t reason);
void ism_proto_put_ev_attached(struct ism_wbuf *b, uint64_t region,
			       uint64_t peer, uint32_t access);
void ism_proto_put_ev_detached(struct ism_wbuf *b, uint64_t region,
			       uint64_t peer, uint32_t reason);
void ism_proto_put_ev_overflow(struct ism_wbuf *b, uint64_t lost);
void ism_proto_put_ev_watch(struct ism_wbuf *b, uint32_t kind, uint32_t reason,
			    uint64_t peer, uint64_t region, uint64_t size,
			    uint32_t uid, uint32_t pid, const char *name);
void ism_proto_put_ev_shutdown(struct ism_wbuf *b, uint32_t reason);
int ism_proto_get_event(struct ism_rbuf *b, uint16_t type,
			struct ism_event *ev);

#endif
