/* SPDX-License-Identifier: MIT */
/*
 * proto - ivshmem domains: the IVSH_* requests and their replies.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>

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
	proto_reserved32(b, &bad);
	if (m->domain == 0 || m->domain > ISM_IVSH_DOMAINS_MAX)
		bad = 1;
	switch (type) {
	case ISM_MSG_IVSH_PEERS:
	case ISM_MSG_IVSH_LEAVE:
	case ISM_MSG_IVSH_LAYOUT: bad |= m->a != 0 || m->b != 0; break;
	case ISM_MSG_IVSH_SECTIONS: bad |= m->a > 0xffff || m->b != 0; break;
	case ISM_MSG_IVSH_STATE: bad |= m->b != 0; break;
	case ISM_MSG_IVSH_VECTORS:
		bad |= m->a >= ISM_IVSHMEM_MAX_VECTORS || m->b != 0;
		break;
	case ISM_MSG_IVSH_RING:
		bad |= m->a > 0xffff || m->b >= ISM_IVSHMEM_MAX_VECTORS;
		break;
	default: bad = 1;
	}
	return proto_finish(b, bad);
}

void ism_proto_put_ivsh_join_req(struct ism_wbuf *b, const char *name)
{
	ism_wbuf_str(b, name);
}

int ism_proto_get_ivsh_join_req(struct ism_rbuf *b, char *name, size_t cap)
{
	ism_rbuf_str(b, name, cap, ISM_NAME_MAX);
	return proto_finish(b, b->err == 0 && name[0] == '\0');
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

int ism_proto_get_ivsh_list_rep(struct ism_rbuf *b,
				struct ism_ivshmem_domain *e, uint32_t cap,
				uint32_t *n)
{
	int bad = 0;

	*n = ism_rbuf_le32(b);
	proto_reserved32(b, &bad);
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
		proto_reserved32(b, &bad);
		e[i].size = ism_rbuf_le64(b);
		ism_rbuf_str(b, e[i].name, sizeof(e[i].name), ISM_NAME_MAX);
		if (e[i].id == 0 || e[i].vectors == 0 ||
		    e[i].vectors > ISM_IVSHMEM_MAX_VECTORS ||
		    e[i].peers > e[i].max_peers ||
		    (e[i].flags & ~(ISM_IVSHMEM_MAY_JOIN | ISM_IVSHMEM_V2)))
			bad = 1;
	}
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
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
		/* A QEMU has no ism peer id; a member's is shown only to
		 * members and administrators (0 for anyone else). */
		if (e[i].id > 0xffff ||
		    (e[i].kind != ISM_IVSHMEM_QEMU &&
		     e[i].kind != ISM_IVSHMEM_ISM) ||
		    (e[i].kind == ISM_IVSHMEM_QEMU && e[i].ism_peer != 0))
			bad = 1;
	}
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
	m->size = ism_rbuf_le64(b);
	if (m->id > 0xffff || m->vectors > ISM_IVSHMEM_MAX_VECTORS ||
	    m->n > ISM_IVSH_FDS_PER_MSG || m->first > ISM_IVSHMEM_MAX_VECTORS ||
	    m->first + m->n > ISM_IVSHMEM_MAX_VECTORS)
		bad = 1;
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
	m->state_size = ism_rbuf_le64(b);
	m->output_size = ism_rbuf_le64(b);
	if (m->layout == 1)
		bad |= m->state_size != 0 || m->output_size != 0;
	else if (m->layout == 2)
		bad |= m->state_size == 0 || m->state_size > (1u << 20) ||
		       m->output_size == 0 || m->output_size > (1ull << 30);
	else
		bad = 1;
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
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
	return proto_finish(b, bad);
}
