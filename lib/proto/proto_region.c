/* SPDX-License-Identifier: MIT */
/*
 * proto - regions: ALLOC, ATTACH, DETACH, DESTROY, NOTIFY, READ, WRITE,
 * and recovery after an ismd restart: REGISTER, REATTACH.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>

/* ---- ALLOC ---- */

void ism_proto_put_alloc_req(struct ism_wbuf *b, const struct ism_alloc_req *m)
{
	ism_wbuf_le64(b, m->size);
	ism_wbuf_le32(b, m->flags);
	ism_wbuf_le32(b, m->max_access);
	proto_put_acl(b, &m->acl);
	ism_wbuf_str(b, m->name);
}

static int alloc_fields_bad(uint64_t size, uint32_t flags, uint32_t known,
			    uint32_t max_access)
{
	if (size == 0 || size > ISM_REGION_SIZE_MAX)
		return 1;
	if (flags & ~known)
		return 1;
	return !proto_access_valid(max_access);
}

int ism_proto_get_alloc_req(struct ism_rbuf *b, struct ism_alloc_req *m)
{
	int bad = 0;

	m->size = ism_rbuf_le64(b);
	m->flags = ism_rbuf_le32(b);
	m->max_access = ism_rbuf_le32(b);
	proto_get_acl(b, &m->acl, &bad);
	ism_rbuf_str(b, m->name, sizeof(m->name), ISM_NAME_MAX);
	if (alloc_fields_bad(m->size, m->flags, ISM_ALLOC_F_KNOWN,
			     m->max_access))
		bad = 1;
	if ((m->flags & ISM_ALLOC_HUGETLB_REQUIRED) &&
	    !(m->flags & ISM_ALLOC_HUGETLB))
		bad = 1;
	return proto_finish(b, bad);
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
	if (m->region == 0 ||
	    alloc_fields_bad(m->size, m->flags, ISM_RFLAG_KNOWN, m->max_access))
		bad = 1;
	if (page_size_bad(m->page_size, m->size) || m->huge_errno > 4095)
		bad = 1;
	return proto_finish(b, bad);
}

/* ---- ATTACH ---- */

void ism_proto_put_attach_req(struct ism_wbuf *b,
			      const struct ism_attach_req *m)
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
	if (!proto_access_valid(m->access) || (m->flags & ~ISM_ATTACH_F_KNOWN))
		bad = 1;
	return proto_finish(b, bad);
}

void ism_proto_put_attach_rep(struct ism_wbuf *b,
			      const struct ism_attach_rep *m)
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
	proto_reserved32(b, &bad);
	if (m->region == 0 || m->owner == 0 || !proto_access_valid(m->access))
		bad = 1;
	if (m->size == 0 || m->size > ISM_REGION_SIZE_MAX ||
	    page_size_bad(m->page_size, m->size))
		bad = 1;
	if (m->flags &
	    ~(ISM_ATTACH_R_NOFD | ISM_ATTACH_R_HUGE | ISM_ATTACH_R_LINK))
		bad = 1;
	if ((m->flags & ISM_ATTACH_R_LINK) && (m->flags & ISM_ATTACH_R_NOFD))
		bad = 1;
	return proto_finish(b, bad);
}

/* ---- DETACH / DESTROY / NOTIFY / READ / WRITE ---- */

void ism_proto_put_region_req(struct ism_wbuf *b, uint64_t region)
{
	ism_wbuf_le64(b, region);
}

int ism_proto_get_region_req(struct ism_rbuf *b, uint64_t *region)
{
	*region = ism_rbuf_le64(b);
	return proto_finish(b, *region == 0);
}

void ism_proto_put_notify_req(struct ism_wbuf *b,
			      const struct ism_notify_req *m)
{
	ism_wbuf_le64(b, m->region);
	ism_wbuf_le64(b, m->value);
}

int ism_proto_get_notify_req(struct ism_rbuf *b, struct ism_notify_req *m)
{
	m->region = ism_rbuf_le64(b);
	m->value = ism_rbuf_le64(b);
	return proto_finish(b, m->region == 0);
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
	proto_reserved32(b, &bad);
	if (m->region == 0 || m->len == 0 || m->len > ISM_RW_MAX)
		bad = 1;
	return proto_finish(b, bad);
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
	return proto_finish(b, *count > INT32_MAX);
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
		proto_put_acl(b, &e->acl);
		ism_wbuf_str(b, e->name);
	}
}

int ism_proto_get_register_req(struct ism_rbuf *b, struct ism_register_req *m)
{
	int bad = 0;

	m->n = ism_rbuf_le32(b);
	proto_reserved32(b, &bad);
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
		proto_get_acl(b, &e->acl, &bad);
		ism_rbuf_str(b, e->name, sizeof(e->name), ISM_NAME_MAX);
		if (b->err)
			return b->err;
		if (e->region == 0 ||
		    alloc_fields_bad(e->size, e->flags, ISM_RFLAG_KNOWN,
				     e->max_access))
			bad = 1;
	}
	return proto_finish(b, bad);
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
	proto_reserved32(b, &bad);
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
		if (e->region == 0 || !proto_access_valid(e->access) ||
		    (e->flags & ~ISM_ATTACH_F_KNOWN))
			bad = 1;
	}
	return proto_finish(b, bad);
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
	return proto_finish(b, bad);
}
