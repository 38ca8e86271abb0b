/* SPDX-License-Identifier: MIT */
#include "proto.h"
#include "util/util.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>

void ism_proto_begin(struct ism_wbuf *b, void *buf, size_t cap, uint16_t type,
		     uint16_t flags, uint32_t seq, uint32_t status)
{
	struct ism_wire_hdr h = {
		.type = type, .flags = flags, .seq = seq, .len = 0,
		.status = status,
	};

	ism_wbuf_init(b, buf, cap < ISM_WIRE_MAX_MSG ? cap : ISM_WIRE_MAX_MSG);
	ism_wire_hdr_put(b, &h);
}

int ism_proto_end(struct ism_wbuf *b)
{
	if (b->err)
		return b->err;
	ism_wire_set_len(b);
	return (int)b->len;
}

const char *ism_proto_type_name(uint16_t type)
{
	switch (type) {
	case ISM_MSG_HELLO: return "hello";
	case ISM_MSG_ALLOC: return "alloc";
	case ISM_MSG_ATTACH: return "attach";
	case ISM_MSG_DETACH: return "detach";
	case ISM_MSG_DESTROY: return "destroy";
	case ISM_MSG_NOTIFY: return "notify";
	case ISM_MSG_READ: return "read";
	case ISM_MSG_WRITE: return "write";
	case ISM_MSG_STATUS: return "status";
	case ISM_MSG_LIST_PEERS: return "list-peers";
	case ISM_MSG_LIST_REGIONS: return "list-regions";
	case ISM_MSG_LIST_REFS: return "list-refs";
	case ISM_MSG_WATCH: return "watch";
	case ISM_MSG_REGISTER: return "register";
	case ISM_MSG_REATTACH: return "reattach";
	case ISM_MSG_STREAM_OPEN: return "stream-open";
	case ISM_MSG_STREAM_RESOLVE: return "stream-resolve";
	case ISM_MSG_STREAM_UPDATE: return "stream-update";
	case ISM_MSG_STREAM_CLOSE: return "stream-close";
	case ISM_MSG_LIST_STREAMS: return "list-streams";
	case ISM_MSG_IVSH_LIST: return "ivshmem-list";
	case ISM_MSG_IVSH_PEERS: return "ivshmem-peers";
	case ISM_MSG_IVSH_JOIN: return "ivshmem-join";
	case ISM_MSG_IVSH_VECTORS: return "ivshmem-vectors";
	case ISM_MSG_IVSH_RING: return "ivshmem-ring";
	case ISM_MSG_IVSH_LEAVE: return "ivshmem-leave";
	case ISM_MSG_IVSH_LAYOUT: return "ivshmem-layout";
	case ISM_MSG_IVSH_SECTIONS: return "ivshmem-sections";
	case ISM_MSG_IVSH_STATE: return "ivshmem-state";
	case ISM_MSG_EV_NOTIFY: return "ev-notify";
	case ISM_MSG_EV_REGION_GONE: return "ev-region-gone";
	case ISM_MSG_EV_PEER_ATTACHED: return "ev-peer-attached";
	case ISM_MSG_EV_PEER_DETACHED: return "ev-peer-detached";
	case ISM_MSG_EV_OVERFLOW: return "ev-overflow";
	case ISM_MSG_EV_WATCH: return "ev-watch";
	case ISM_MSG_EV_SHUTDOWN: return "ev-shutdown";
	default: return "unknown";
	}
}

/* Reserved fields are sent as zero and must be zero: a later protocol
 * version that gives them meaning negotiates it in HELLO first. */
static void reserved32(struct ism_rbuf *b, int *bad)
{
	if (ism_rbuf_le32(b) != 0)
		*bad = 1;
}

static int finish(struct ism_rbuf *b, int bad)
{
	int r = ism_rbuf_end(b);

	if (r < 0)
		return r;
	return bad ? -EINVAL : 0;
}

static int access_valid(uint32_t a)
{
	return a == ISM_ACCESS_RO || a == ISM_ACCESS_RW;
}

static void put_acl(struct ism_wbuf *b, const struct ism_acl *acl)
{
	ism_wbuf_le32(b, acl->n_peers);
	ism_wbuf_le32(b, acl->n_uids);
	for (uint32_t i = 0; i < acl->n_peers && i < ISM_ACL_MAX; i++)
		ism_wbuf_le64(b, acl->peers[i]);
	for (uint32_t i = 0; i < acl->n_uids && i < ISM_ACL_MAX; i++)
		ism_wbuf_le32(b, acl->uids[i]);
}

static void get_acl(struct ism_rbuf *b, struct ism_acl *acl, int *bad)
{
	acl->n_peers = ism_rbuf_le32(b);
	acl->n_uids = ism_rbuf_le32(b);
	if (acl->n_peers > ISM_ACL_MAX || acl->n_uids > ISM_ACL_MAX) {
		/* Do not read the arrays: the counts are not to be trusted. */
		*bad = 1;
		acl->n_peers = acl->n_uids = 0;
		if (!b->err)
			b->err = -EINVAL;
		return;
	}
	for (uint32_t i = 0; i < acl->n_peers; i++)
		acl->peers[i] = ism_rbuf_le64(b);
	for (uint32_t i = 0; i < acl->n_uids; i++)
		acl->uids[i] = ism_rbuf_le32(b);
}

/* ---- HELLO ---- */

void ism_proto_put_hello_req(struct ism_wbuf *b, const struct ism_hello_req *m)
{
	ism_wbuf_le32(b, m->min_version);
	ism_wbuf_le32(b, m->max_version);
	ism_wbuf_le32(b, m->caps);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le64(b, m->resume_id);
	ism_wbuf_bytes(b, m->resume_proof, ISM_PROOF_SIZE);
	ism_wbuf_str(b, m->name);
}

int ism_proto_get_hello_req(struct ism_rbuf *b, struct ism_hello_req *m)
{
	int bad = 0;

	m->min_version = ism_rbuf_le32(b);
	m->max_version = ism_rbuf_le32(b);
	m->caps = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	m->resume_id = ism_rbuf_le64(b);
	ism_rbuf_bytes(b, m->resume_proof, ISM_PROOF_SIZE);
	ism_rbuf_str(b, m->name, sizeof(m->name), ISM_NAME_MAX);
	if (m->min_version == 0 || m->min_version > m->max_version)
		bad = 1;
	if (m->flags & ~ISM_HELLO_F_KNOWN)
		bad = 1;
	if (!(m->flags & ISM_HELLO_F_RESUME) && m->resume_id != 0)
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_hello_rep(struct ism_wbuf *b, const struct ism_hello_rep *m)
{
	ism_wbuf_le32(b, m->version);
	ism_wbuf_le32(b, m->caps);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le32(b, m->max_msg);
	ism_wbuf_le64(b, m->peer_id);
	ism_wbuf_bytes(b, m->host_id, ISM_HOST_ID_SIZE);
	ism_wbuf_bytes(b, m->resume_proof, ISM_PROOF_SIZE);
	ism_wbuf_le32(b, m->max_rw);
	ism_wbuf_le32(b, m->q_regions);
	ism_wbuf_le32(b, m->q_refs);
	ism_wbuf_le32(b, m->q_events);
	ism_wbuf_le64(b, m->q_bytes);
	ism_wbuf_le32(b, m->recovery_ms);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_hello_rep(struct ism_rbuf *b, struct ism_hello_rep *m)
{
	int bad = 0;

	m->version = ism_rbuf_le32(b);
	m->caps = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	m->max_msg = ism_rbuf_le32(b);
	m->peer_id = ism_rbuf_le64(b);
	ism_rbuf_bytes(b, m->host_id, ISM_HOST_ID_SIZE);
	ism_rbuf_bytes(b, m->resume_proof, ISM_PROOF_SIZE);
	m->max_rw = ism_rbuf_le32(b);
	m->q_regions = ism_rbuf_le32(b);
	m->q_refs = ism_rbuf_le32(b);
	m->q_events = ism_rbuf_le32(b);
	m->q_bytes = ism_rbuf_le64(b);
	m->recovery_ms = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (m->peer_id == 0 || m->version == 0)
		bad = 1;
	if (m->max_rw == 0 || m->max_rw > ISM_RW_MAX)
		bad = 1;
	if (m->max_msg < ISM_WIRE_HDR_SIZE || m->max_msg > ISM_WIRE_MAX_MSG)
		bad = 1;
	return finish(b, bad);
}

/* ---- ALLOC ---- */

void ism_proto_put_alloc_req(struct ism_wbuf *b, const struct ism_alloc_req *m)
{
	ism_wbuf_le64(b, m->size);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le32(b, m->max_access);
	put_acl(b, &m->acl);
	ism_wbuf_str(b, m->name);
}

static int alloc_fields_bad(uint64_t size, uint32_t flags, uint32_t known,
			    uint32_t max_access)
{
	if (size == 0 || size > ISM_REGION_SIZE_MAX)
		return 1;
	if (flags & ~known)
		return 1;
	return !access_valid(max_access);
}

int ism_proto_get_alloc_req(struct ism_rbuf *b, struct ism_alloc_req *m)
{
	int bad = 0;

	m->size = ism_rbuf_le64(b);
	m->flags = ism_rbuf_le32(b);
	m->max_access = ism_rbuf_le32(b);
	get_acl(b, &m->acl, &bad);
	ism_rbuf_str(b, m->name, sizeof(m->name), ISM_NAME_MAX);
	if (alloc_fields_bad(m->size, m->flags, ISM_ALLOC_F_KNOWN,
			     m->max_access))
		bad = 1;
	if ((m->flags & ISM_ALLOC_HUGETLB_REQUIRED) &&
	    !(m->flags & ISM_ALLOC_HUGETLB))
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_alloc_rep(struct ism_wbuf *b, const struct ism_alloc_rep *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->size);
	ism_wbuf_le32(b, m->page_size);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le32(b, m->huge_errno);
	ism_wbuf_le32(b, m->max_access);
	ism_wbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	ism_wbuf_bytes(b, m->proof, ISM_PROOF_SIZE);
}

static int page_size_bad(uint32_t ps, uint64_t size)
{
	/* A power of two from 4 KiB to 1 GiB that divides the size. */
	if (ps < 4096 || ps > (1u << 30) || (ps & (ps - 1)))
		return 1;
	return (size & (ps - 1)) != 0;
}

int ism_proto_get_alloc_rep(struct ism_rbuf *b, struct ism_alloc_rep *m)
{
	int bad = 0;

	m->region = ism_rbuf_le64(b);
	m->size = ism_rbuf_le64(b);
	m->page_size = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	m->huge_errno = ism_rbuf_le32(b);
	m->max_access = ism_rbuf_le32(b);
	ism_rbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	ism_rbuf_bytes(b, m->proof, ISM_PROOF_SIZE);
	if (m->region == 0 || alloc_fields_bad(m->size, m->flags,
					       ISM_RFLAG_KNOWN, m->max_access))
		bad = 1;
	if (page_size_bad(m->page_size, m->size) || m->huge_errno > 4095)
		bad = 1;
	return finish(b, bad);
}

/* ---- ATTACH ---- */

void ism_proto_put_attach_req(struct ism_wbuf *b, const struct ism_attach_req *m)
{
	ism_wbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	ism_wbuf_le32(b, m->access);
	ism_wbuf_le32(b, m->flags);
}

int ism_proto_get_attach_req(struct ism_rbuf *b, struct ism_attach_req *m)
{
	int bad = 0;

	ism_rbuf_bytes(b, m->token, ISM_TOKEN_SIZE);
	m->access = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	if (!access_valid(m->access) || (m->flags & ~ISM_ATTACH_F_KNOWN))
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_attach_rep(struct ism_wbuf *b, const struct ism_attach_rep *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->size);
	ism_wbuf_le64(b, m->owner);
	ism_wbuf_le32(b, m->page_size);
	ism_wbuf_le32(b, m->access);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_attach_rep(struct ism_rbuf *b, struct ism_attach_rep *m)
{
	int bad = 0;

	m->region = ism_rbuf_le64(b);
	m->size = ism_rbuf_le64(b);
	m->owner = ism_rbuf_le64(b);
	m->page_size = ism_rbuf_le32(b);
	m->access = ism_rbuf_le32(b);
	m->flags = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (m->region == 0 || m->owner == 0 || !access_valid(m->access))
		bad = 1;
	if (m->size == 0 || m->size > ISM_REGION_SIZE_MAX ||
	    page_size_bad(m->page_size, m->size))
		bad = 1;
	if (m->flags &
	    ~(ISM_ATTACH_R_NOFD | ISM_ATTACH_R_HUGE | ISM_ATTACH_R_LINK))
		bad = 1;
	if ((m->flags & ISM_ATTACH_R_LINK) && (m->flags & ISM_ATTACH_R_NOFD))
		bad = 1;
	return finish(b, bad);
}

/* ---- DETACH / DESTROY / NOTIFY / READ / WRITE ---- */

void ism_proto_put_region_req(struct ism_wbuf *b, uint64_t region)
{
	ism_wbuf_le64(b, region);
}

int ism_proto_get_region_req(struct ism_rbuf *b, uint64_t *region)
{
	*region = ism_rbuf_le64(b);
	return finish(b, *region == 0);
}

void ism_proto_put_notify_req(struct ism_wbuf *b, const struct ism_notify_req *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->value);
}

int ism_proto_get_notify_req(struct ism_rbuf *b, struct ism_notify_req *m)
{
	m->region = ism_rbuf_le64(b);
	m->value = ism_rbuf_le64(b);
	return finish(b, m->region == 0);
}

void ism_proto_put_read_req(struct ism_wbuf *b, const struct ism_read_req *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->offset);
	ism_wbuf_le32(b, m->len);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_read_req(struct ism_rbuf *b, struct ism_read_req *m)
{
	int bad = 0;

	m->region = ism_rbuf_le64(b);
	m->offset = ism_rbuf_le64(b);
	m->len = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (m->region == 0 || m->len == 0 || m->len > ISM_RW_MAX)
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_write_req(struct ism_wbuf *b, const struct ism_write_req *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->offset);
	ism_wbuf_bytes(b, m->data, m->len);
}

int ism_proto_get_write_req(struct ism_rbuf *b, struct ism_write_req *m)
{
	size_t n;

	m->region = ism_rbuf_le64(b);
	m->offset = ism_rbuf_le64(b);
	n = ism_rbuf_left(b);
	m->len = (uint32_t)(n > ISM_RW_MAX ? 0 : n);
	m->data = ism_rbuf_ptr(b, n);
	if (b->err)
		return b->err;
	if (m->region == 0 || n == 0 || n > ISM_RW_MAX)
		return -EINVAL;
	return 0;
}

int ism_proto_get_empty(struct ism_rbuf *b)
{
	return ism_rbuf_end(b);
}

void ism_proto_put_count_rep(struct ism_wbuf *b, uint32_t count)
{
	ism_wbuf_le32(b, count);
}

int ism_proto_get_count_rep(struct ism_rbuf *b, uint32_t *count)
{
	*count = ism_rbuf_le32(b);
	return finish(b, *count > INT32_MAX);
}

int ism_proto_get_read_rep(struct ism_rbuf *b, const uint8_t **data,
			   uint32_t *len)
{
	size_t n = ism_rbuf_left(b);

	if (n == 0 || n > ISM_RW_MAX)
		return -EBADMSG;
	*data = ism_rbuf_ptr(b, n);
	*len = (uint32_t)n;
	return ism_rbuf_end(b);
}

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
	reserved32(b, &bad);
	if (m->max == 0 || m->max > ISM_LIST_MAX)
		bad = 1;
	return finish(b, bad);
}

static void put_list_head(struct ism_wbuf *b, uint64_t next, uint32_t n)
{
	ism_wbuf_le64(b, next);
	ism_wbuf_le32(b, n);
	ism_wbuf_le32(b, 0);
}

static int get_list_head(struct ism_rbuf *b, uint64_t *next, uint32_t cap,
			 uint32_t *n, int *bad)
{
	*next = ism_rbuf_le64(b);
	*n = ism_rbuf_le32(b);
	reserved32(b, bad);
	if (b->err)
		return b->err;
	if (*n > cap || *n > ISM_LIST_MAX) {
		*n = 0;
		return -EBADMSG;
	}
	return 0;
}

void ism_proto_put_peers_rep(struct ism_wbuf *b, uint64_t next,
			     const struct ism_peer_info *e, uint32_t n)
{
	put_list_head(b, next, n);
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
	int bad = 0, r = get_list_head(b, next, cap, n, &bad);

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
		reserved32(b, &bad);
		e[i].age_ns = ism_rbuf_le64(b);
		e[i].ops = ism_rbuf_le64(b);
		ism_rbuf_str(b, e[i].name, sizeof(e[i].name), ISM_NAME_MAX);
	}
	return finish(b, bad);
}

void ism_proto_put_regions_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_region_entry *e, uint32_t n)
{
	put_list_head(b, next, n);
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
	int bad = 0, r = get_list_head(b, next, cap, n, &bad);

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
	return finish(b, bad);
}

void ism_proto_put_refs_rep(struct ism_wbuf *b, uint64_t next,
			    const struct ism_ref_entry *e, uint32_t n)
{
	put_list_head(b, next, n);
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
	int bad = 0, r = get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].region = ism_rbuf_le64(b);
		e[i].peer = ism_rbuf_le64(b);
		e[i].access = ism_rbuf_le32(b);
		e[i].flags = ism_rbuf_le32(b);
	}
	return finish(b, bad);
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
	reserved32(b, &bad);
	if (*mask & ~ISM_WATCH_MASK_ALL)
		bad = 1;
	return finish(b, bad);
}

/* ---- REGISTER / REATTACH (recovery after an ismd restart) ---- */

void ism_proto_put_register_req(struct ism_wbuf *b,
				const struct ism_register_req *m)
{
	ism_wbuf_le32(b, m->n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < m->n && i < ISM_REGISTER_MAX; i++) {
		const struct ism_register_ent *e = &m->ent[i];

		ism_wbuf_le64(b, e->region);
		ism_wbuf_le64(b, e->size);
		ism_wbuf_bytes(b, e->token, ISM_TOKEN_SIZE);
		ism_wbuf_bytes(b, e->proof, ISM_PROOF_SIZE);
		ism_wbuf_le32(b, e->flags);
		ism_wbuf_le32(b, e->max_access);
		put_acl(b, &e->acl);
		ism_wbuf_str(b, e->name);
	}
}

int ism_proto_get_register_req(struct ism_rbuf *b, struct ism_register_req *m)
{
	int bad = 0;

	m->n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (b->err)
		return b->err;
	if (m->n == 0 || m->n > ISM_REGISTER_MAX) {
		m->n = 0;
		return -EINVAL;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		struct ism_register_ent *e = &m->ent[i];

		e->region = ism_rbuf_le64(b);
		e->size = ism_rbuf_le64(b);
		ism_rbuf_bytes(b, e->token, ISM_TOKEN_SIZE);
		ism_rbuf_bytes(b, e->proof, ISM_PROOF_SIZE);
		e->flags = ism_rbuf_le32(b);
		e->max_access = ism_rbuf_le32(b);
		get_acl(b, &e->acl, &bad);
		ism_rbuf_str(b, e->name, sizeof(e->name), ISM_NAME_MAX);
		if (b->err)
			return b->err;
		if (e->region == 0 || alloc_fields_bad(e->size, e->flags,
						       ISM_RFLAG_KNOWN,
						       e->max_access))
			bad = 1;
	}
	return finish(b, bad);
}

void ism_proto_put_reattach_req(struct ism_wbuf *b,
				const struct ism_reattach_req *m)
{
	ism_wbuf_le32(b, m->n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < m->n && i < ISM_REATTACH_MAX; i++) {
		ism_wbuf_le64(b, m->ent[i].region);
		ism_wbuf_bytes(b, m->ent[i].token, ISM_TOKEN_SIZE);
		ism_wbuf_le32(b, m->ent[i].access);
		ism_wbuf_le32(b, m->ent[i].flags);
	}
}

int ism_proto_get_reattach_req(struct ism_rbuf *b, struct ism_reattach_req *m)
{
	int bad = 0;

	m->n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (b->err)
		return b->err;
	if (m->n == 0 || m->n > ISM_REATTACH_MAX) {
		m->n = 0;
		return -EINVAL;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		struct ism_reattach_ent *e = &m->ent[i];

		e->region = ism_rbuf_le64(b);
		ism_rbuf_bytes(b, e->token, ISM_TOKEN_SIZE);
		e->access = ism_rbuf_le32(b);
		e->flags = ism_rbuf_le32(b);
		if (e->region == 0 || !access_valid(e->access) ||
		    (e->flags & ~ISM_ATTACH_F_KNOWN))
			bad = 1;
	}
	return finish(b, bad);
}

void ism_proto_put_batch_rep(struct ism_wbuf *b, const struct ism_batch_rep *m)
{
	ism_wbuf_le32(b, m->n);
	for (uint32_t i = 0; i < m->n && i < ISM_REATTACH_MAX; i++)
		ism_wbuf_le32(b, m->status[i]);
}

int ism_proto_get_batch_rep(struct ism_rbuf *b, struct ism_batch_rep *m)
{
	int bad = 0;

	m->n = ism_rbuf_le32(b);
	if (b->err)
		return b->err;
	if (m->n == 0 || m->n > ISM_REATTACH_MAX) {
		m->n = 0;
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		m->status[i] = ism_rbuf_le32(b);
		if (m->status[i] > 4095)
			bad = 1;
	}
	return finish(b, bad);
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
		reserved32(b, &bad);
		if (ev->region == 0 || ev->count == 0)
			bad = 1;
		break;
	case ISM_MSG_EV_REGION_GONE:
		ev->type = ISM_EV_REGION_GONE;
		ev->region = ism_rbuf_le64(b);
		ev->reason = ism_rbuf_le32(b);
		reserved32(b, &bad);
		if (ev->region == 0 || ev->reason < ISM_GONE_DESTROYED ||
		    ev->reason > ISM_GONE_LOST)
			bad = 1;
		break;
	case ISM_MSG_EV_PEER_ATTACHED:
		ev->type = ISM_EV_PEER_ATTACHED;
		ev->region = ism_rbuf_le64(b);
		ev->peer = ism_rbuf_le64(b);
		ev->access = ism_rbuf_le32(b);
		reserved32(b, &bad);
		if (ev->region == 0 || !access_valid(ev->access))
			bad = 1;
		break;
	case ISM_MSG_EV_PEER_DETACHED:
		ev->type = ISM_EV_PEER_DETACHED;
		ev->region = ism_rbuf_le64(b);
		ev->peer = ism_rbuf_le64(b);
		ev->reason = ism_rbuf_le32(b);
		reserved32(b, &bad);
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
		reserved32(b, &bad);
		break;
	default:
		return -EBADMSG;
	}
	return finish(b, bad);
}

/* ---- STREAM ---- */

/* An address: family code (0 none, 4, 6), reserved byte, port, scope,
 * 16 address bytes (IPv4 in the first 4, the rest zero). */
static void put_saddr(struct ism_wbuf *b, const struct ism_stream_addr *a)
{
	uint8_t code = a->family == AF_INET ? 4 : a->family == AF_INET6 ? 6 : 0;

	ism_wbuf_u8(b, code);
	ism_wbuf_u8(b, 0);
	ism_wbuf_le16(b, code ? a->port : 0);
	ism_wbuf_le32(b, code == 6 ? a->scope_id : 0);
	if (code)
		ism_wbuf_bytes(b, a->addr, 16);
	else
		for (int i = 0; i < 4; i++)
			ism_wbuf_le32(b, 0);
}

static void get_saddr(struct ism_rbuf *b, struct ism_stream_addr *a, int *bad)
{
	uint8_t code = ism_rbuf_u8(b);
	bool zero_tail = true;

	memset(a, 0, sizeof(*a));
	if (ism_rbuf_u8(b) != 0)
		*bad = 1;
	a->port = ism_rbuf_le16(b);
	a->scope_id = ism_rbuf_le32(b);
	ism_rbuf_bytes(b, a->addr, 16);
	for (int i = 4; i < 16; i++)
		zero_tail = zero_tail && a->addr[i] == 0;
	switch (code) {
	case 0:
		if (a->port || a->scope_id || !zero_tail || a->addr[0] ||
		    a->addr[1] || a->addr[2] || a->addr[3])
			*bad = 1;
		break;
	case 4:
		a->family = AF_INET;
		if (a->scope_id || !zero_tail)
			*bad = 1;
		break;
	case 6:
		a->family = AF_INET6;
		break;
	default:
		*bad = 1;
	}
}

void ism_proto_addr_from(struct ism_stream_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		a->family = AF_INET;
		a->port = ntohs(s4->sin_port);
		memcpy(a->addr, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		a->port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a->family = AF_INET;
			memcpy(a->addr, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			a->family = AF_INET6;
			a->scope_id = s6->sin6_scope_id;
			memcpy(a->addr, &s6->sin6_addr, 16);
		}
	}
}

static bool role_valid(uint32_t r)
{
	return r >= ISM_STREAM_LISTENER && r <= ISM_STREAM_SERVER;
}

void ism_proto_put_stream_open_req(struct ism_wbuf *b,
				   const struct ism_stream_open_req *m)
{
	ism_wbuf_le32(b, m->role);
	ism_wbuf_le32(b, m->reason);
	put_saddr(b, &m->dst);
}

int ism_proto_get_stream_open_req(struct ism_rbuf *b,
				  struct ism_stream_open_req *m)
{
	int bad = 0;

	m->role = ism_rbuf_le32(b);
	m->reason = ism_rbuf_le32(b);
	get_saddr(b, &m->dst, &bad);
	if (!role_valid(m->role) || m->reason > ISM_SR_MAX)
		bad = 1;
	/* Only a client names a destination, and only a client may have
	 * chosen TCP already; one that did not needs a destination. */
	if (m->role != ISM_STREAM_CLIENT && (m->reason || m->dst.family))
		bad = 1;
	if (m->role == ISM_STREAM_CLIENT && !m->reason &&
	    (!m->dst.family || !m->dst.port))
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_stream_update_req(struct ism_wbuf *b,
				     const struct ism_stream_update_req *m)
{
	ism_wbuf_le64(b, m->id);
	ism_wbuf_le32(b, m->path);
	ism_wbuf_le32(b, m->reason);
}

int ism_proto_get_stream_update_req(struct ism_rbuf *b,
				    struct ism_stream_update_req *m)
{
	m->id = ism_rbuf_le64(b);
	m->path = ism_rbuf_le32(b);
	m->reason = ism_rbuf_le32(b);
	/* A settled path: shared memory with no reason, or TCP with one. */
	return finish(b, m->id == 0 ||
				 !((m->path == ISM_STREAM_SHM && !m->reason) ||
				   (m->path == ISM_STREAM_TCP && m->reason &&
				    m->reason <= ISM_SR_MAX)));
}

static bool path_reason_valid(uint32_t path, uint32_t reason)
{
	return path <= ISM_STREAM_TCP && reason <= ISM_SR_MAX &&
	       (path == ISM_STREAM_TCP || reason == 0);
}

void ism_proto_put_stream_rep(struct ism_wbuf *b, const struct ism_stream_rep *m)
{
	ism_wbuf_le64(b, m->id);
	ism_wbuf_le64(b, m->partner);
	ism_wbuf_le32(b, m->path);
	ism_wbuf_le32(b, m->reason);
}

int ism_proto_get_stream_rep(struct ism_rbuf *b, struct ism_stream_rep *m)
{
	m->id = ism_rbuf_le64(b);
	m->partner = ism_rbuf_le64(b);
	m->path = ism_rbuf_le32(b);
	m->reason = ism_rbuf_le32(b);
	return finish(b, m->id == 0 || !path_reason_valid(m->path, m->reason) ||
				 (m->path == ISM_STREAM_SHM && !m->partner));
}

void ism_proto_put_streams_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_stream_info *e, uint32_t n)
{
	put_list_head(b, next, n);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le64(b, e[i].id);
		ism_wbuf_le64(b, e[i].peer);
		ism_wbuf_le64(b, e[i].partner);
		ism_wbuf_le32(b, e[i].role);
		ism_wbuf_le32(b, e[i].path);
		ism_wbuf_le32(b, e[i].reason);
		ism_wbuf_le32(b, 0);
		ism_wbuf_le64(b, e[i].age_ns);
		put_saddr(b, &e[i].local);
		put_saddr(b, &e[i].remote);
	}
}

int ism_proto_get_streams_rep(struct ism_rbuf *b, uint64_t *next,
			      struct ism_stream_info *e, uint32_t cap,
			      uint32_t *n)
{
	int bad = 0, r = get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le64(b);
		e[i].peer = ism_rbuf_le64(b);
		e[i].partner = ism_rbuf_le64(b);
		e[i].role = ism_rbuf_le32(b);
		e[i].path = ism_rbuf_le32(b);
		e[i].reason = ism_rbuf_le32(b);
		reserved32(b, &bad);
		e[i].age_ns = ism_rbuf_le64(b);
		get_saddr(b, &e[i].local, &bad);
		get_saddr(b, &e[i].remote, &bad);
		if (!role_valid(e[i].role) ||
		    !path_reason_valid(e[i].path, e[i].reason))
			bad = 1;
	}
	return finish(b, bad);
}

/* ---- IVSH ---- */

/* Every ivshmem request but JOIN and LIST: 16 bytes, the fields a type
 * does not use are reserved (zero). */
void ism_proto_put_ivsh_req(struct ism_wbuf *b, uint16_t type,
			    const struct ism_ivsh_req *m)
{
	(void)type;
	ism_wbuf_le32(b, m->domain);
	ism_wbuf_le32(b, m->a);
	ism_wbuf_le32(b, m->b);
	ism_wbuf_le32(b, 0);
}

int ism_proto_get_ivsh_req(struct ism_rbuf *b, uint16_t type,
			   struct ism_ivsh_req *m)
{
	int bad = 0;

	m->domain = ism_rbuf_le32(b);
	m->a = ism_rbuf_le32(b);
	m->b = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (m->domain == 0 || m->domain > ISM_IVSH_DOMAINS_MAX)
		bad = 1;
	switch (type) {
	case ISM_MSG_IVSH_PEERS:
	case ISM_MSG_IVSH_LEAVE:
	case ISM_MSG_IVSH_LAYOUT:
		bad |= m->a != 0 || m->b != 0;
		break;
	case ISM_MSG_IVSH_SECTIONS:
		bad |= m->a > 0xffff || m->b != 0;
		break;
	case ISM_MSG_IVSH_STATE:
		bad |= m->b != 0;
		break;
	case ISM_MSG_IVSH_VECTORS:
		bad |= m->a >= ISM_IVSHMEM_MAX_VECTORS || m->b != 0;
		break;
	case ISM_MSG_IVSH_RING:
		bad |= m->a > 0xffff || m->b >= ISM_IVSHMEM_MAX_VECTORS;
		break;
	default:
		bad = 1;
	}
	return finish(b, bad);
}

void ism_proto_put_ivsh_join_req(struct ism_wbuf *b, const char *name)
{
	ism_wbuf_str(b, name);
}

int ism_proto_get_ivsh_join_req(struct ism_rbuf *b, char *name, size_t cap)
{
	ism_rbuf_str(b, name, cap, ISM_NAME_MAX);
	return finish(b, b->err == 0 && name[0] == '\0');
}

void ism_proto_put_ivsh_list_rep(struct ism_wbuf *b,
				 const struct ism_ivshmem_domain *e, uint32_t n)
{
	ism_wbuf_le32(b, n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le32(b, e[i].id);
		ism_wbuf_le32(b, e[i].vectors);
		ism_wbuf_le32(b, e[i].peers);
		ism_wbuf_le32(b, e[i].max_peers);
		ism_wbuf_le32(b, e[i].flags);
		ism_wbuf_le32(b, 0);
		ism_wbuf_le64(b, e[i].size);
		ism_wbuf_str(b, e[i].name);
	}
}

int ism_proto_get_ivsh_list_rep(struct ism_rbuf *b, struct ism_ivshmem_domain *e,
				uint32_t cap, uint32_t *n)
{
	int bad = 0;

	*n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (b->err)
		return b->err;
	if (*n > cap || *n > ISM_IVSH_DOMAINS_MAX) {
		*n = 0;
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le32(b);
		e[i].vectors = ism_rbuf_le32(b);
		e[i].peers = ism_rbuf_le32(b);
		e[i].max_peers = ism_rbuf_le32(b);
		e[i].flags = ism_rbuf_le32(b);
		reserved32(b, &bad);
		e[i].size = ism_rbuf_le64(b);
		ism_rbuf_str(b, e[i].name, sizeof(e[i].name), ISM_NAME_MAX);
		if (e[i].id == 0 || e[i].vectors == 0 ||
		    e[i].vectors > ISM_IVSHMEM_MAX_VECTORS ||
		    e[i].peers > e[i].max_peers ||
		    (e[i].flags & ~(ISM_IVSHMEM_MAY_JOIN | ISM_IVSHMEM_V2)))
			bad = 1;
	}
	return finish(b, bad);
}

void ism_proto_put_ivsh_peers_rep(struct ism_wbuf *b,
				  const struct ism_ivshmem_peer *e, uint32_t n)
{
	ism_wbuf_le32(b, n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < n; i++) {
		ism_wbuf_le32(b, e[i].id);
		ism_wbuf_le32(b, e[i].kind);
		ism_wbuf_le64(b, e[i].ism_peer);
		ism_wbuf_le64(b, e[i].age_ns);
	}
}

int ism_proto_get_ivsh_peers_rep(struct ism_rbuf *b, struct ism_ivshmem_peer *e,
				 uint32_t cap, uint32_t *n)
{
	int bad = 0;

	*n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (b->err)
		return b->err;
	if (*n > cap || *n > ISM_IVSH_PEERS_MAX) {
		*n = 0;
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le32(b);
		e[i].kind = ism_rbuf_le32(b);
		e[i].ism_peer = ism_rbuf_le64(b);
		e[i].age_ns = ism_rbuf_le64(b);
		if (e[i].id > 0xffff ||
		    (e[i].kind != ISM_IVSHMEM_QEMU &&
		     e[i].kind != ISM_IVSHMEM_ISM) ||
		    (e[i].kind == ISM_IVSHMEM_QEMU) != (e[i].ism_peer == 0))
			bad = 1;
	}
	return finish(b, bad);
}

void ism_proto_put_ivsh_join_rep(struct ism_wbuf *b,
				 const struct ism_ivsh_join_rep *m)
{
	ism_wbuf_le32(b, m->domain);
	ism_wbuf_le32(b, m->id);
	ism_wbuf_le32(b, m->vectors);
	ism_wbuf_le32(b, m->first);
	ism_wbuf_le32(b, m->n);
	ism_wbuf_le32(b, 0);
	ism_wbuf_le64(b, m->size);
}

int ism_proto_get_ivsh_join_rep(struct ism_rbuf *b, struct ism_ivsh_join_rep *m)
{
	int bad = 0;

	m->domain = ism_rbuf_le32(b);
	m->id = ism_rbuf_le32(b);
	m->vectors = ism_rbuf_le32(b);
	m->first = ism_rbuf_le32(b);
	m->n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	m->size = ism_rbuf_le64(b);
	if (m->id > 0xffff || m->vectors > ISM_IVSHMEM_MAX_VECTORS ||
	    m->n > ISM_IVSH_FDS_PER_MSG || m->first > ISM_IVSHMEM_MAX_VECTORS ||
	    m->first + m->n > ISM_IVSHMEM_MAX_VECTORS)
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_ivsh_layout_rep(struct ism_wbuf *b,
				   const struct ism_ivsh_layout_rep *m)
{
	ism_wbuf_le32(b, m->layout);
	ism_wbuf_le32(b, 0);
	ism_wbuf_le64(b, m->state_size);
	ism_wbuf_le64(b, m->output_size);
}

int ism_proto_get_ivsh_layout_rep(struct ism_rbuf *b,
				  struct ism_ivsh_layout_rep *m)
{
	int bad = 0;

	m->layout = ism_rbuf_le32(b);
	reserved32(b, &bad);
	m->state_size = ism_rbuf_le64(b);
	m->output_size = ism_rbuf_le64(b);
	if (m->layout == 1)
		bad |= m->state_size != 0 || m->output_size != 0;
	else if (m->layout == 2)
		bad |= m->state_size == 0 || m->state_size > (1u << 20) ||
		       m->output_size == 0 || m->output_size > (1ull << 30);
	else
		bad = 1;
	return finish(b, bad);
}

void ism_proto_put_ivsh_sections_rep(struct ism_wbuf *b, const uint32_t *ids,
				     uint32_t n)
{
	ism_wbuf_le32(b, n);
	ism_wbuf_le32(b, 0);
	for (uint32_t i = 0; i < n; i++)
		ism_wbuf_le32(b, ids[i]);
}

/* @ids has room for ISM_IVSH_FDS_PER_MSG; ascending, each <= 0xffff. */
int ism_proto_get_ivsh_sections_rep(struct ism_rbuf *b, uint32_t *ids,
				    uint32_t *n)
{
	int bad = 0;

	*n = ism_rbuf_le32(b);
	reserved32(b, &bad);
	if (b->err)
		return b->err;
	if (*n > ISM_IVSH_FDS_PER_MSG) {
		*n = 0;
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < *n; i++) {
		ids[i] = ism_rbuf_le32(b);
		if (ids[i] > 0xffff || (i && ids[i] <= ids[i - 1]))
			bad = 1;
	}
	return finish(b, bad);
}
