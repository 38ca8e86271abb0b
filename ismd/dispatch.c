/* SPDX-License-Identifier: MIT */
/* dispatch - see dispatch.h. */
#include "ismd.h"
#include "ivsh_guest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_BAD_MSGS_MAX 64

typedef int (*op_fn)(struct daemon *d, struct peer *p, struct req *rq);

static const op_fn ops[ISM_MSG_REQ_MAX + 1] = {
#define ISM_REQ(NAME, t, nm, handler, ...) [ISM_MSG_##NAME] = op_##handler,
#define ISM_EVENT(...)
#include "proto/messages.def"
#undef ISM_REQ
#undef ISM_EVENT
};

void req_add_fd(struct req *rq, int fd, enum req_fd kind)
{
	if (rq->out_nfds >= ISM_ARRAY_SIZE(rq->out_fds)) {
		rq->out.err = -EMSGSIZE; /* a handler's bug, not a peer's */
		return;
	}
	rq->out_fds[rq->out_nfds] = fd;
	rq->out_kind[rq->out_nfds++] = (uint8_t)kind;
}

/* The fds the reply carried, once it is out (or never will be). */
static void release_out_fds(struct req *rq)
{
	for (unsigned i = 0; i < rq->out_nfds; i++) {
		if (rq->out_kind[i] == REQ_FD_OURS)
			close(rq->out_fds[i]); /* a reopen of our own memfd */
		else if (rq->out_kind[i] == REQ_FD_PEERS)
			closer_put(rq->out_fds[i], rq->peers_acct);
	}
	rq->out_nfds = 0;
}

static void bad_message(struct daemon *d, struct peer *p, uint16_t type,
			uint32_t seq, int err)
{
	p->bad_msgs++;
	ismd_plog(p, L_WARN, "%s: %s", ism_proto_type_name(type),
		  strerror(-err));
	peer_send_error(d, p, type, seq, err);
	if (p->bad_msgs > PEER_BAD_MSGS_MAX)
		peer_kill(d, p, "too many malformed requests");
	else if (!(p->flags & PEER_HELLO))
		peer_kill(d, p, "protocol error before hello");
}

/* The row's rules, checked before anything is decoded: 0, -EPROTO (a
 * kind of message it may not send now) or -EBADMSG (malformed). */
static int check(const struct peer *p, const struct ism_msg_desc *m,
		 const struct ism_wire_hdr *h, unsigned nfds)
{
	/* Peers send requests only; NOREPLY suits the fire-and-forget
	 * ones. */
	if ((h->flags & ~ISM_WIRE_F_NOREPLY) ||
	    ((h->flags & ISM_WIRE_F_NOREPLY) && !(m->flags & REQ_NOREPLY)))
		return -EPROTO;
	/* HELLO first, and only once. */
	if (!(p->flags & PEER_HELLO) != !!(m->flags & REQ_FIRST))
		return -EPROTO;
	if (nfds > m->req_fds)
		return -EBADMSG;
	return 0;
}

void dispatch_request(struct daemon *d, struct peer *p,
		      const struct ism_wire_hdr *h, struct ism_rbuf *rb,
		      int *fds, unsigned nfds)
{
	const struct ism_msg_desc *m = ism_proto_desc(h->type);
	struct req rq = {
		.hdr = *h,
		.fds = fds,
		.nfds = nfds,
		.in = d->req_buf,
		.noreply = h->flags & ISM_WIRE_F_NOREPLY,
	};
	int r;

	if (!m || m->event || !ops[h->type]) {
		/* Not a request we know: an error reply, or, before HELLO,
		 * the end of this connection. */
		if (h->flags & ~ISM_WIRE_F_NOREPLY || !(p->flags & PEER_HELLO))
			bad_message(d, p, h->type, h->seq, -EPROTO);
		else
			peer_send_error(d, p, h->type, h->seq, ENOSYS);
		return;
	}
	rq.desc = m;
	if ((r = check(p, m, h, nfds)) == 0) {
		memset(d->req_buf, 0, m->req->size);
		r = m->req->get(rb, d->req_buf);
	} else {
		rq.noreply = false; /* a refused NOREPLY is answered */
	}
	if (r == 0 && (m->flags & REQ_ADMIN) && !(p->flags & PEER_ADMIN))
		r = -EPERM;
	if (r == 0 && (p->flags & PEER_GUEST))
		r = ivsh_guest_check(h->type, rq.in); /* no fds for guests */
	if (r == 0) {
		if (p->flags & PEER_HELLO) {
			p->ops++;
			d->ops++;
		}
		/* Built apart from d->tx: the handler may send events. */
		ism_proto_begin(&rq.out, d->rep, ISM_WIRE_MAX_MSG, h->type,
				ISM_WIRE_F_REPLY, h->seq, 0);
		r = ops[h->type](d, p, &rq);
	}
	if (r == ISMD_ASYNC) {
		/* A job answers; nothing more is read from this peer until
		 * then, so its replies stay in order.  (A job run inline, by
		 * the fuzzer, has answered already.) */
		if (p->jobs && !(p->flags & PEER_DEAD))
			peer_pause(d, p, PEER_BUSY, true);
	} else if (r == 0) {
		int n = ism_proto_end(&rq.out);

		if (n < 0) {
			ismd_log(L_ERR, "%s reply: %s", m->name, strerror(-n));
			peer_send_error(d, p, h->type, h->seq, n);
		} else if (!rq.noreply) {
			int send_fds[ISM_WIRE_MAX_FDS];

			for (unsigned i = 0; i < rq.out_nfds; i++)
				send_fds[i] = rq.out_fds[i];
			peer_send_reply(d, p, d->rep, (size_t)n, send_fds,
					rq.out_nfds);
		}
	} else if (rq.noreply) {
		/* Nothing is sent back, failure included (the sender asked
		 * so); the failure is counted and logged. */
		p->failed_noreply++;
		ismd_plog(p, L_DEBUG, "%s (no reply): %s", m->name,
			  strerror(-r));
	} else if (r == -EBADMSG || r == -EPROTO) {
		bad_message(d, p, h->type, h->seq, r);
	} else {
		peer_send_error(d, p, h->type, h->seq, r);
	}
	release_out_fds(&rq);
	if (rq.kill_after)
		peer_kill(d, p, rq.kill_after);
}

void req_begin_later(struct daemon *d, struct ism_wbuf *b, uint16_t type,
		     uint32_t seq)
{
	/* Apart from d->tx, as in dispatch: events may go out meanwhile. */
	ism_proto_begin(b, d->rep, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, 0);
}

void req_send_later(struct daemon *d, struct peer *p, struct ism_wbuf *b,
		    const int *fds, unsigned nfds)
{
	int n = ism_proto_end(b);

	if (n > 0)
		peer_send_reply(d, p, b->p, (size_t)n, fds, nfds);
}
