/* SPDX-License-Identifier: MIT */
/*
 * proto - streams: STREAM_OPEN, RESOLVE, UPDATE, CLOSE, LIST_STREAMS.
 */
#include "proto_internal.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
	case 6: a->family = AF_INET6; break;
	default: *bad = 1;
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
	return proto_finish(b, bad);
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
	return proto_finish(
		b, m->id == 0 || !((m->path == ISM_STREAM_SHM && !m->reason) ||
				   (m->path == ISM_STREAM_TCP && m->reason &&
				    m->reason <= ISM_SR_MAX)));
}

/* TCP has a reason, shared memory none; pending has none, or OTHER_HOST
 * for a client that is to send STREAM_CHECK once connected. */
static bool path_reason_valid(uint32_t path, uint32_t reason)
{
	return path <= ISM_STREAM_TCP && reason <= ISM_SR_MAX &&
	       (path == ISM_STREAM_TCP || reason == 0 ||
		(path == ISM_STREAM_PENDING && reason == ISM_SR_OTHER_HOST));
}

void ism_proto_put_stream_rep(struct ism_wbuf *b,
			      const struct ism_stream_rep *m)
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
	return proto_finish(
		b, m->id == 0 || !path_reason_valid(m->path, m->reason) ||
			   (m->path == ISM_STREAM_SHM && !m->partner));
}

void ism_proto_put_streams_rep(struct ism_wbuf *b, uint64_t next,
			       const struct ism_stream_info *e, uint32_t n)
{
	proto_put_list_head(b, next, n);
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
	int bad = 0, r = proto_get_list_head(b, next, cap, n, &bad);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < *n; i++) {
		e[i].id = ism_rbuf_le64(b);
		e[i].peer = ism_rbuf_le64(b);
		e[i].partner = ism_rbuf_le64(b);
		e[i].role = ism_rbuf_le32(b);
		e[i].path = ism_rbuf_le32(b);
		e[i].reason = ism_rbuf_le32(b);
		proto_reserved32(b, &bad);
		e[i].age_ns = ism_rbuf_le64(b);
		get_saddr(b, &e[i].local, &bad);
		get_saddr(b, &e[i].remote, &bad);
		if (!role_valid(e[i].role) ||
		    !path_reason_valid(e[i].path, e[i].reason))
			bad = 1;
	}
	return proto_finish(b, bad);
}
