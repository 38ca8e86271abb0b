/* SPDX-License-Identifier: MIT */
/*
 * ctl - the guest as an ism peer (include/ism-guest.h, docs/vm.md "Guests
 * as ism peers"): ism's control protocol over an ivchan channel to
 * ismd's member of the domain, one message per channel message, with the
 * protocol's own codecs (lib/proto).  Replies and events come from ismd,
 * through memory every guest of the domain can write: each is decoded by
 * the same checked decoders as libism's.
 */
#include <ism-guest.h>
#include <ism/conn.h>
#include <ism/ivchan.h>
#include <ism/region.h>

#include "ivchan/ivchan.h"
#include "proto/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CTL_EVENTS 32 /* kept while a call waits for its reply */

struct ism_guest_ctl {
	struct ism_ivdom *d;
	struct ism_ivchan *ch;
	int timeout_ms;
	uint32_t seq, max_rw;
	uint64_t peer_id;
	size_t max_msg;
	uint8_t *tx, *rx; /* max_msg each */
	struct ism_event ev[CTL_EVENTS];
	uint32_t ev_head, ev_n;
	uint64_t ev_lost;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One message from ismd, waiting up to @timeout_ms (-1: no limit): its
 * length, -ETIMEDOUT, or the channel's error. */
static ssize_t recv_msg(struct ism_guest_ctl *c, int timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		ssize_t n = ism_ivchan_recv(c->ch, c->rx, c->max_msg,
					    ISM_F_DONTWAIT);
		uint64_t now;
		int r, left;

		if (n != -EAGAIN)
			return n;
		/* Ask ismd to ring (an interrupt), then sleep on it. */
		r = ism_ivchan_arm(c->ch, true, 0);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		now = now_ms();
		if (end && now >= end) {
			ism_ivchan_disarm(c->ch);
			return -ETIMEDOUT;
		}
		/* The whole time: the interrupt is what wakes us (armed
		 * above, so none is lost); polling only without one. */
		left = end ? (int)(end - now) : -1;
		r = ism_ivdom_wait(c->d, left);
		ism_ivchan_disarm(c->ch);
		if (r < 0)
			return r;
	}
}

static void keep_event(struct ism_guest_ctl *c, const struct ism_event *ev)
{
	if (c->ev_n == CTL_EVENTS) {
		c->ev_lost++;
		return;
	}
	c->ev[(c->ev_head + c->ev_n++) % CTL_EVENTS] = *ev;
}

/* An event message in c->rx (@n bytes, header @h, payload in @rb). */
static int take_event(struct ism_guest_ctl *c, const struct ism_wire_hdr *h,
		      struct ism_rbuf *rb)
{
	struct ism_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	if ((r = ism_proto_get_event(rb, h->type, &ev)) < 0)
		return r;
	keep_event(c, &ev);
	return 0;
}

/*
 * Send the request built in @b and wait for its reply: 0 with the reply's
 * payload in @rb, or -errno (ismd's status, or the channel's).
 */
static int call(struct ism_guest_ctl *c, struct ism_wbuf *b, uint16_t type,
		struct ism_rbuf *rb)
{
	uint32_t seq = c->seq;
	int n = ism_proto_end(b), r;

	if (n < 0)
		return n;
	if ((r = ism_ivchan_send(c->ch, c->tx, (size_t)n, 0)) < 0)
		return r;
	for (;;) {
		struct ism_wire_hdr h;
		ssize_t len = recv_msg(c, c->timeout_ms);

		if (len < 0)
			return (int)len;
		ism_rbuf_init(rb, c->rx, (size_t)len);
		if ((r = ism_wire_hdr_get(rb, (size_t)len, &h)) < 0)
			return r;
		if (h.flags & ISM_WIRE_F_EVENT) {
			if ((r = take_event(c, &h, rb)) < 0)
				return r;
			continue;
		}
		if (!(h.flags & ISM_WIRE_F_REPLY) || h.seq != seq)
			continue; /* a reply to nothing we wait for */
		if (h.type != type && h.type != 0)
			return -EPROTO;
		if (h.status)
			return h.status > 4095 ? -EPROTO : -(int)h.status;
		return 0;
	}
}

static void begin(struct ism_guest_ctl *c, struct ism_wbuf *b, uint16_t type)
{
	if (!++c->seq)
		c->seq = 1;
	ism_proto_begin(b, c->tx, c->max_msg, type, 0, c->seq, 0);
}

int ism_guest_ctl_open(struct ism_ivdom *d, uint32_t ismd, const char *name,
		       int timeout_ms, struct ism_guest_ctl **out)
{
	struct ism_ivchan_opts o = { .size = sizeof(o),
				     .timeout_ms =
					     timeout_ms ? timeout_ms : -1 };
	struct ism_hello_req req;
	struct ism_hello_rep rep;
	struct ism_guest_ctl *c;
	struct ism_rbuf rb;
	struct ism_wbuf b;
	int r;

	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->d = d;
	c->timeout_ms = timeout_ms ? timeout_ms : -1;
	if ((r = ism_ivchan_connect(d, ismd, IVC_CTL_PORT, &o, &c->ch)) < 0)
		goto fail;
	c->max_msg = ism_ivchan_max_msg(c->ch);
	c->tx = malloc(c->max_msg);
	c->rx = malloc(c->max_msg);
	r = -ENOMEM;
	if (!c->tx || !c->rx)
		goto fail;
	memset(&req, 0, sizeof(req));
	req.min_version = ISM_PROTO_VERSION;
	req.max_version = ISM_PROTO_VERSION;
	if (name) {
		size_t l = strlen(name);

		if (l > ISM_NAME_MAX)
			l = ISM_NAME_MAX;
		memcpy(req.name, name, l);
	}
	begin(c, &b, ISM_MSG_HELLO);
	ism_proto_put_hello_req(&b, &req);
	if ((r = call(c, &b, ISM_MSG_HELLO, &rb)) < 0)
		goto fail;
	memset(&rep, 0, sizeof(rep));
	if ((r = ism_proto_get_hello_rep(&rb, &rep)) < 0)
		goto fail;
	c->peer_id = rep.peer_id;
	/* A READ reply is its header and the data: what the channel's
	 * largest message leaves, within what ismd allows. */
	c->max_rw = rep.max_rw;
	if (c->max_msg - ISM_WIRE_HDR_SIZE < c->max_rw)
		c->max_rw = (uint32_t)(c->max_msg - ISM_WIRE_HDR_SIZE - 64);
	*out = c;
	return 0;
fail:
	ism_guest_ctl_close(c);
	return r;
}

void ism_guest_ctl_close(struct ism_guest_ctl *c)
{
	if (!c)
		return;
	ism_ivchan_close(c->ch);
	free(c->tx);
	free(c->rx);
	free(c);
}

uint64_t ism_guest_ctl_peer_id(const struct ism_guest_ctl *c)
{
	return c->peer_id;
}

uint32_t ism_guest_ctl_max_rw(const struct ism_guest_ctl *c)
{
	return c->max_rw;
}

int ism_guest_ctl_alloc(struct ism_guest_ctl *c, uint64_t size,
			uint32_t max_access, const char *name, uint64_t *region,
			uint8_t *token)
{
	struct ism_alloc_req req;
	struct ism_alloc_rep rep;
	struct ism_rbuf rb;
	struct ism_wbuf b;
	int r;

	memset(&req, 0, sizeof(req));
	req.size = size;
	req.max_access = max_access;
	if (name) {
		size_t l = strlen(name);

		memcpy(req.name, name, l > ISM_NAME_MAX ? ISM_NAME_MAX : l);
	}
	begin(c, &b, ISM_MSG_ALLOC);
	ism_proto_put_alloc_req(&b, &req);
	if ((r = call(c, &b, ISM_MSG_ALLOC, &rb)) < 0)
		return r;
	memset(&rep, 0, sizeof(rep));
	if ((r = ism_proto_get_alloc_rep(&rb, &rep)) < 0)
		return r;
	*region = rep.region;
	memcpy(token, rep.token, ISM_TOKEN_SIZE);
	return 0;
}

int ism_guest_ctl_attach(struct ism_guest_ctl *c, const uint8_t *token,
			 uint32_t access, uint64_t *region, uint64_t *size)
{
	struct ism_attach_req req;
	struct ism_attach_rep rep;
	struct ism_rbuf rb;
	struct ism_wbuf b;
	int r;

	memset(&req, 0, sizeof(req));
	memcpy(req.token, token, ISM_TOKEN_SIZE);
	req.access = access;
	req.flags = ISM_ATTACH_NOFD; /* the only attach a guest has */
	begin(c, &b, ISM_MSG_ATTACH);
	ism_proto_put_attach_req(&b, &req);
	if ((r = call(c, &b, ISM_MSG_ATTACH, &rb)) < 0)
		return r;
	memset(&rep, 0, sizeof(rep));
	if ((r = ism_proto_get_attach_rep(&rb, &rep)) < 0)
		return r;
	*region = rep.region;
	*size = rep.size;
	return 0;
}

ssize_t ism_guest_ctl_read(struct ism_guest_ctl *c, uint64_t region,
			   uint64_t off, void *buf, uint32_t len)
{
	struct ism_read_req req = { region, off, len };
	const uint8_t *data = NULL;
	struct ism_rbuf rb;
	struct ism_wbuf b;
	uint32_t n = 0;
	int r;

	if (len > c->max_rw)
		return -EMSGSIZE;
	begin(c, &b, ISM_MSG_READ);
	ism_proto_put_read_req(&b, &req);
	if ((r = call(c, &b, ISM_MSG_READ, &rb)) < 0)
		return r;
	if ((r = ism_proto_get_read_rep(&rb, &data, &n)) < 0)
		return r;
	if (n > len)
		return -EPROTO;
	memcpy(buf, data, n);
	return (ssize_t)n;
}

/* A request answered by a count (WRITE, NOTIFY, DESTROY). */
static int call_count(struct ism_guest_ctl *c, struct ism_wbuf *b,
		      uint16_t type)
{
	struct ism_rbuf rb;
	uint32_t count = 0;
	int r;

	if ((r = call(c, b, type, &rb)) < 0)
		return r;
	if ((r = ism_proto_get_count_rep(&rb, &count)) < 0)
		return r;
	return count > INT32_MAX ? INT32_MAX : (int)count;
}

int ism_guest_ctl_write(struct ism_guest_ctl *c, uint64_t region, uint64_t off,
			const void *buf, uint32_t len)
{
	struct ism_write_req req = { region, off, len, buf };
	struct ism_wbuf b;
	int r;

	if (len > c->max_rw)
		return -EMSGSIZE;
	begin(c, &b, ISM_MSG_WRITE);
	ism_proto_put_write_req(&b, &req);
	r = call_count(c, &b, ISM_MSG_WRITE);
	return r < 0 ? r : 0;
}

int ism_guest_ctl_notify(struct ism_guest_ctl *c, uint64_t region,
			 uint64_t value)
{
	struct ism_notify_req req = { region, value };
	struct ism_wbuf b;

	begin(c, &b, ISM_MSG_NOTIFY);
	ism_proto_put_notify_req(&b, &req);
	return call_count(c, &b, ISM_MSG_NOTIFY);
}

int ism_guest_ctl_destroy(struct ism_guest_ctl *c, uint64_t region)
{
	struct ism_wbuf b;
	int r;

	begin(c, &b, ISM_MSG_DESTROY);
	ism_proto_put_region_req(&b, region);
	r = call_count(c, &b, ISM_MSG_DESTROY);
	return r < 0 ? r : 0;
}

int ism_guest_ctl_detach(struct ism_guest_ctl *c, uint64_t region)
{
	struct ism_rbuf rb;
	struct ism_wbuf b;
	int r;

	begin(c, &b, ISM_MSG_DETACH);
	ism_proto_put_region_req(&b, region);
	if ((r = call(c, &b, ISM_MSG_DETACH, &rb)) < 0)
		return r;
	return ism_proto_get_empty(&rb);
}

int ism_guest_ctl_event(struct ism_guest_ctl *c, int timeout_ms,
			struct ism_event *ev)
{
	uint64_t end = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t len;
		uint64_t now;
		int r;

		if (c->ev_lost) {
			memset(ev, 0, sizeof(*ev));
			ev->type = ISM_EV_OVERFLOW;
			ev->count = c->ev_lost;
			c->ev_lost = 0;
			return 1;
		}
		if (c->ev_n) {
			*ev = c->ev[c->ev_head];
			c->ev_head = (c->ev_head + 1) % CTL_EVENTS;
			c->ev_n--;
			return 1;
		}
		now = now_ms();
		if (end && now >= end)
			return 0;
		len = recv_msg(c, end ? (int)(end - now) : -1);
		if (len == -ETIMEDOUT)
			return 0;
		if (len < 0)
			return (int)len;
		ism_rbuf_init(&rb, c->rx, (size_t)len);
		if ((r = ism_wire_hdr_get(&rb, (size_t)len, &h)) < 0)
			return r;
		if ((h.flags & ISM_WIRE_F_EVENT) &&
		    (r = take_event(c, &h, &rb)) < 0)
			return r;
	}
}
