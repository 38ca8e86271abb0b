/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: every protocol decoder, through the table (messages.def).
 * The input is a whole message as it would arrive (header and payload);
 * the header's type picks the row, the flags pick the request, reply or
 * event codec.  A payload that decodes must encode back to one that
 * decodes again, to the same bytes where the codec is exact.  A few
 * decoders have contracts of their own, checked on the side: list
 * decoders never fill more than the capacity asked, and pointers into the
 * message stay inside it.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[ISM_WIRE_MAX_MSG];
/* The largest host struct of any codec (list pages, REGISTER). */
#define HOST_MAX (1u << 20)
static uint8_t m1[HOST_MAX], m2[HOST_MAX];

static void roundtrip(uint16_t type, const struct ism_codec *c)
{
	struct ism_wbuf w;
	struct ism_rbuf r;
	struct ism_wire_hdr h;
	int n;

	ism_proto_begin(&w, out, sizeof(out), type, 0, 1, 0);
	c->put(&w, m1);
	n = ism_proto_end(&w);
	if (n < 0)
		__builtin_trap();
	ism_rbuf_init(&r, out, (size_t)n);
	memset(m2, 0, c->size);
	if (ism_wire_hdr_get(&r, (size_t)n, &h) || c->get(&r, m2) != 0)
		__builtin_trap();
	if (c->exact && memcmp(m1, m2, c->size))
		__builtin_trap();
}

/* The contracts beyond a round trip. */
static void extra(uint16_t type, bool reply, struct ism_rbuf *b)
{
	static struct ism_peer_info peers[3];
	static struct ism_stream_info streams[2];
	const uint8_t *p;
	uint64_t next;
	uint32_t n;

	if (!reply && type == ISM_MSG_WRITE) {
		struct ism_write_req w;

		if (ism_proto_get_write_req(b, &w) == 0 &&
		    (w.data < b->p || w.data + w.len > b->p + b->len))
			__builtin_trap();
	} else if (reply && type == ISM_MSG_READ) {
		if (ism_proto_get_read_rep(b, &p, &n) == 0 &&
		    (p < b->p || p + n > b->p + b->len))
			__builtin_trap();
	} else if (reply && type == ISM_MSG_LIST_PEERS) {
		if (ism_proto_get_peers_rep(b, &next, peers, 3, &n) == 0 &&
		    n > 3)
			__builtin_trap();
	} else if (reply && type == ISM_MSG_LIST_STREAMS) {
		if (ism_proto_get_streams_rep(b, &next, streams, 2, &n) == 0 &&
		    n > 2)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ism_msg_desc *d;
	const struct ism_codec *c;
	struct ism_wire_hdr h;
	struct ism_rbuf b;
	bool reply;

	ism_rbuf_init(&b, data, size);
	if (ism_wire_hdr_get(&b, size, &h) < 0)
		return 0;
	d = ism_proto_desc(h.type);
	if (!d || d->event != !!(h.flags & ISM_WIRE_F_EVENT))
		return 0;
	reply = h.flags & ISM_WIRE_F_REPLY;
	c = reply ? d->rep : d->req;
	if (!c || c->size > HOST_MAX)
		__builtin_trap(); /* the table names a codec for each */
	{
		struct ism_rbuf b2 = b;

		extra(h.type, reply, &b2);
	}
	memset(m1, 0, c->size);
	if (c->get(&b, m1) == 0)
		roundtrip(h.type, c);
	return 0;
}
