/* SPDX-License-Identifier: MIT */
/*
 * proto - message framing, the checks every decoder shares, and HELLO.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>

void ism_proto_begin(struct ism_wbuf *b, void *buf, size_t cap, uint16_t type,
		     uint16_t flags, uint32_t seq, uint32_t status)
{
	struct ism_wire_hdr h = {
		.type = type,
		.flags = flags,
		.seq = seq,
		.len = 0,
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

/* Reserved fields are sent as zero and must be zero: a later protocol
 * version that gives them meaning negotiates it in HELLO first. */
void proto_reserved32(struct ism_rbuf *b, int *bad)
{
	if (ism_rbuf_le32(b) != 0)
		*bad = 1;
}

int proto_finish(struct ism_rbuf *b, int bad)
{
	int r = ism_rbuf_end(b);

	if (r < 0)
		return r;
	return bad ? -EINVAL : 0;
}

int proto_access_valid(uint32_t a)
{
	return a == ISM_ACCESS_RO || a == ISM_ACCESS_RW;
}

void proto_put_acl(struct ism_wbuf *b, const struct ism_acl *acl)
{
	ism_wbuf_le32(b, acl->n_peers);
	ism_wbuf_le32(b, acl->n_uids);
	for (uint32_t i = 0; i < acl->n_peers && i < ISM_ACL_MAX; i++)
		ism_wbuf_le64(b, acl->peers[i]);
	for (uint32_t i = 0; i < acl->n_uids && i < ISM_ACL_MAX; i++)
		ism_wbuf_le32(b, acl->uids[i]);
}

void proto_get_acl(struct ism_rbuf *b, struct ism_acl *acl, int *bad)
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

void proto_put_list_head(struct ism_wbuf *b, uint64_t next, uint32_t n)
{
	ism_wbuf_le64(b, next);
	ism_wbuf_le32(b, n);
	ism_wbuf_le32(b, 0);
}

int proto_get_list_head(struct ism_rbuf *b, uint64_t *next, uint32_t cap,
			uint32_t *n, int *bad)
{
	*next = ism_rbuf_le64(b);
	*n = ism_rbuf_le32(b);
	proto_reserved32(b, bad);
	if (b->err)
		return b->err;
	if (*n > cap || *n > ISM_LIST_MAX) {
		*n = 0;
		return -EBADMSG;
	}
	return 0;
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
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
	if (m->peer_id == 0 || m->version == 0)
		bad = 1;
	if (m->max_rw == 0 || m->max_rw > ISM_RW_MAX)
		bad = 1;
	if (m->max_msg < ISM_WIRE_HDR_SIZE || m->max_msg > ISM_WIRE_MAX_MSG)
		bad = 1;
	return proto_finish(b, bad);
}
