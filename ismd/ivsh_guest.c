/* SPDX-License-Identifier: MIT */
/*
 * ivsh_guest - guests as ism peers: virtio-ism's semantics on stock QEMU
 * (--ivshmem ...,channels=on,control=on; docs/vm.md).
 *
 * ismd joins the domain as a member of its own (the first one, id 0 in
 * a fresh domain) and accepts ivchan channels on IVC_CTL_PORT.  Each
 * channel is one ism peer: a struct peer like any other, whose socket is
 * one end of a SOCK_SEQPACKET socketpair; this module holds the other end
 * and moves whole messages between it and the channel, one control
 * message per channel message, in both directions.  So every request a
 * guest makes goes through peer.c's reader and dispatch.c's one table and
 * handlers, with the same decoders, permissions, quotas, revocations and
 * events as on the socket; nothing about a guest is special but:
 *
 *  - no fds: a guest cannot send any (requests that need one fail their
 *    fd count), and requests whose reply would carry fds are refused
 *    (ivsh_guest_check, from dispatch.c) but ALLOC, whose fd is dropped
 *    here, and ATTACH with ISM_ATTACH_NOFD; the guest reads and writes
 *    regions through ismd (READ, WRITE), so it never maps host memory it
 *    could keep after a revocation;
 *  - its uid is the domain's guest_uid (nobody by default), never the
 *    QEMU's, and it is never an administrator by its socket's groups
 *    (PEER_GUEST);
 *  - a reply larger than the channel's largest message is replaced by an
 *    EMSGSIZE error reply (a guest keeps its READs below the size HELLO
 *    and its channel allow).
 *
 * Never waiting on a guest: the channel is used with ISM_F_DONTWAIT only.
 * When the guest's ring is full, the one message in hand waits here and
 * the socketpair is not read, so what ismd has for the guest piles up in
 * the peer's own send queue, capped as for any peer ("not reading its
 * socket": the guest peer is dropped).  Likewise a guest that sends
 * faster than its peer's requests are read waits in its own ring.  A
 * guest that breaks the ring protocol, leaves (its QEMU killed) or ends
 * the channel ends its peer (the socketpair is closed: peer.c sees a
 * disconnection); a peer ismd drops ends its channel.
 *
 * Doorbells: ismd's member eventfds (every QEMU in the domain holds them
 * and writes them) are watched edge-triggered and never read, so a QEMU
 * that reads or blocks them cannot make the loop wait; every edge runs
 * every guest channel of the domain (there are at most IVC_ENTRIES).  ismd
 * rings guests through doorbell.c's ringers, like any ring of a shared
 * eventfd.
 *
 * Everything in the domain memory may have been written by a hostile
 * guest: ivchan and the rings check every value they read (fuzzed:
 * ivchan_fuzz.c, ring_fuzz.c); the memfd is ismd's own, sealed against
 * shrinking and not hugetlb, so a punched hole reads as zeros.
 */
#include "ivsh_impl.h"
#include "ivsh_guest.h"

#include <ism/ivchan.h>
#include <ism/region.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Messages moved per guest and direction per doorbell, before the loop
 * serves others (a self-kick brings us back). */
#define GUEST_BUDGET 64

struct ivsh_gsrv;

struct gpeer {
	struct ep_source src; /* our end of the socketpair */
	struct ivsh_gsrv *s;
	struct ism_ivchan *ch;
	int fd;
	uint32_t guest;	  /* its id in the domain */
	size_t max_msg;	  /* the channel's */
	uint32_t events;  /* what fd is watched for */
	size_t out_len;	  /* a message for the guest, waiting for room */
	uint8_t *out;	  /* ISM_WIRE_MAX_MSG */
	size_t in_len;	  /* a message from the guest, for the socket */
	uint8_t *in;	  /* max_msg */
	const char *doom; /* to be dropped, and why */
};

struct gbell {
	struct ep_source src;
	struct ivsh_gsrv *s;
};

struct ivsh_gsrv {
	struct daemon *d;
	struct ivsh_domain *dom;
	struct ivsh_peer *me;
	uint8_t *mem;
	struct ism_ivdom *ivd;
	struct gbell bell[ISM_IVSHMEM_MAX_VECTORS];
	uint32_t nbell;
	struct gpeer *g[IVC_ENTRIES];
	bool busy; /* in run(): a kick meanwhile only sets again */
	bool again;
};

static const struct ism_ivchan_opts chan_opts = {
	.size = sizeof(struct ism_ivchan_opts),
};

/* ---- the member's doorbells ---- */

static int ops_ring(void *ctx, uint32_t peer, uint32_t vector)
{
	struct ivsh_gsrv *s = ctx;
	struct ivsh_domain *dom = s->dom;

	if (vector >= dom->spec.vectors)
		return -EINVAL;
	for (struct ism_list *pos = dom->peers.next; pos != &dom->peers;
	     pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		if (o->id == peer && !o->dead && o->db[vector]) {
			/* Queued: the ringer writes the QEMU's eventfd. */
			doorbell_ring(o->db[vector]);
			return 0;
		}
	}
	return -ENOENT;
}

/* ismd never waits on a domain: only ISM_F_DONTWAIT calls are made. */
static int ops_wait(void *ctx, int timeout_ms)
{
	(void)ctx;
	(void)timeout_ms;
	return 0;
}

static const struct ism_ivdom_ops gops = { ops_ring, ops_wait };

/* Come back to the domain soon (a budget spent, or work found while
 * arming): ring our own doorbell. */
static void self_kick(struct ivsh_gsrv *s)
{
	if (s->busy)
		s->again = true;
	else if (s->me->db[0])
		doorbell_ring(s->me->db[0]);
}

/* ---- one guest ---- */

static void set_events(struct ivsh_gsrv *s, struct gpeer *gp, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = &gp->src };

	if (gp->events == ev)
		return;
	gp->events = ev;
	epoll_ctl(s->d->epfd, EPOLL_CTL_MOD, gp->fd, &e);
}

static void gpeer_free(struct ivsh_gsrv *s, struct gpeer *gp)
{
	for (uint32_t k = 0; k < IVC_ENTRIES; k++)
		if (s->g[k] == gp)
			s->g[k] = NULL;
	epoll_ctl(s->d->epfd, EPOLL_CTL_DEL, gp->fd, NULL);
	/* What its peer queued in the pair (ismd's own files) goes with
	 * the close; off the loop all the same. */
	closer_put(gp->fd, NULL);
	ism_ivchan_close(gp->ch);
	free(gp->out);
	free(gp->in);
	free(gp);
}

static void gpeer_drop(struct ivsh_gsrv *s, struct gpeer *gp, const char *why)
{
	ismd_log(L_INFO, "ivshmem %s: guest %u's control channel ends: %s",
		 s->dom->spec.name, gp->guest, why);
	gpeer_free(s, gp);
}

/* A message from ismd for the guest into gp->out: 1, 0 (none now), or
 * -1 (the peer is gone). */
static int take_from_peer(struct gpeer *gp)
{
	int fds[ISM_WIRE_SCM_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n = ism_wire_recv_keep(gp->fd, gp->out, ISM_WIRE_MAX_MSG, fds,
				       &nfds, MSG_DONTWAIT);

	if (nfds) {
		/* ALLOC's memfd (a guest takes no fds): ismd's own file,
		 * closed off the loop like any. */
		acct_force(NULL, ACCT_FDS, nfds);
		closer_put_fds(fds, nfds, NULL);
	}
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return 0;
	if (n <= 0) {
		gp->doom = n == 0 ? "its ism peer ended" : "socketpair error";
		return -1;
	}
	gp->out_len = (size_t)n;
	if (gp->out_len > gp->max_msg) {
		/* Too large for the channel: the guest gets EMSGSIZE in
		 * place of a reply, nothing in place of an event. */
		struct ism_rbuf rb;
		struct ism_wire_hdr h;
		struct ism_wbuf b;
		int len;

		ism_rbuf_init(&rb, gp->out, gp->out_len);
		gp->out_len = 0;
		if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0 ||
		    !(h.flags & ISM_WIRE_F_REPLY))
			return 1;
		ism_proto_begin(&b, gp->out, ISM_WIRE_MAX_MSG, h.type,
				ISM_WIRE_F_REPLY, h.seq, EMSGSIZE);
		if ((len = ism_proto_end(&b)) > 0)
			gp->out_len = (size_t)len;
	}
	return 1;
}

/* Move what can move between the socketpair and the channel. */
static void gpeer_run(struct ivsh_gsrv *s, struct gpeer *gp)
{
	int budget = GUEST_BUDGET, r;
	uint32_t ev;

	ism_ivchan_disarm(gp->ch);
	while (budget-- > 0 && !gp->doom) {
		bool moved = false;
		ssize_t n;

		/* ismd -> guest */
		if (!gp->out_len && take_from_peer(gp) < 0)
			break;
		if (gp->out_len) {
			r = ism_ivchan_send(gp->ch, gp->out, gp->out_len,
					    ISM_F_DONTWAIT);
			if (r == 0) {
				gp->out_len = 0;
				moved = true;
			} else if (r != -EAGAIN) {
				gp->doom = r == -EPROTO ? "it broke its ring"
							: "it closed or left";
				break;
			}
		}
		/* guest -> ismd */
		if (!gp->in_len) {
			n = ism_ivchan_recv(gp->ch, gp->in, gp->max_msg,
					    ISM_F_DONTWAIT);
			if (n >= 0) {
				gp->in_len = (size_t)n;
			} else if (n != -EAGAIN) {
				gp->doom = n == -EPROTO ? "it broke its ring"
					   : n == -ESHUTDOWN
						   ? "it closed the channel"
						   : "it left";
				break;
			}
		}
		if (gp->in_len) {
			/* Whatever it is goes to peer.c as it is: a bad
			 * header or payload is its to refuse and count. */
			r = ism_wire_send(gp->fd, gp->in, gp->in_len, NULL, 0,
					  MSG_DONTWAIT);
			if (r == 0) {
				gp->in_len = 0;
				moved = true;
			} else if (r != -EAGAIN) {
				gp->doom = "its ism peer ended";
				break;
			}
		}
		if (!moved)
			break;
	}
	if (gp->doom) {
		gpeer_drop(s, gp, gp->doom);
		return;
	}
	if (budget < 0) {
		self_kick(s);
		return;
	}
	/* Sleep: on the socket for what ismd sends (unless one message
	 * already waits for the guest) and for room (when one waits for
	 * it); on the channel for the guest's messages and for room. */
	ev = (gp->out_len ? 0 : EPOLLIN) | (gp->in_len ? EPOLLOUT : 0);
	set_events(s, gp, ev);
	r = ism_ivchan_arm(gp->ch, !gp->in_len, gp->out_len);
	if (r != 0)
		self_kick(s); /* something to do already, or the end */
}

static void gpeer_event(struct daemon *d, struct ep_source *src,
			uint32_t events)
{
	struct gpeer *gp = ism_container_of(src, struct gpeer, src);

	(void)d;
	/* Its end is closed (the peer was dropped): reported whatever we
	 * watch, so it ends here even with a message in hand. */
	if ((events & (EPOLLHUP | EPOLLERR)) && gp->out_len) {
		gpeer_drop(gp->s, gp, "its ism peer ended");
		return;
	}
	gpeer_run(gp->s, gp);
}

static void accept_guests(struct ivsh_gsrv *s)
{
	for (;;) {
		struct ism_ivchan *ch = NULL;
		struct gpeer *gp;
		struct peer *p;
		int k = -1, sv[2], r;

		for (uint32_t i = 0; i < IVC_ENTRIES && k < 0; i++)
			if (!s->g[i])
				k = (int)i;
		if (k < 0)
			return; /* offers wait for a free entry */
		r = ism_ivchan_try_accept(s->ivd, IVC_CTL_PORT, &chan_opts,
					  &ch);
		if (r <= 0) {
			if (r < 0 && r != -ENOSPC)
				ismd_log(L_WARN, "ivshmem %s: accept: %s",
					 s->dom->spec.name, strerror(-r));
			return;
		}
		gp = calloc(1, sizeof(*gp));
		if (gp) {
			gp->max_msg = ism_ivchan_max_msg(ch);
			gp->out = malloc(ISM_WIRE_MAX_MSG);
			gp->in = malloc(gp->max_msg);
		}
		if (!gp || !gp->out || !gp->in ||
		    socketpair(AF_UNIX,
			       SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			       sv) < 0) {
			ismd_log(L_WARN, "ivshmem %s: a guest's channel: %s",
				 s->dom->spec.name, strerror(ENOMEM));
			if (gp) {
				free(gp->out);
				free(gp->in);
			}
			free(gp);
			ism_ivchan_close(ch);
			return;
		}
		gp->src.fn = gpeer_event;
		gp->s = s;
		gp->ch = ch;
		gp->fd = sv[1];
		gp->guest = ism_ivchan_peer(ch);
		/* Our end is ismd's (charged to nobody); the peer's end is
		 * the peer's socket, charged to its uid by peer_adopt. */
		acct_force(NULL, ACCT_FDS, 1);
		p = peer_adopt(s->d, sv[0], -1, s->dom->spec.guest_uid,
			       (gid_t)s->dom->spec.guest_uid);
		if (!p) {
			close(sv[0]);
			gp->events = 0;
			s->g[k] = gp;
			gpeer_drop(s, gp, "no room for its peer");
			continue;
		}
		s->g[k] = gp;
		{
			struct epoll_event e = { .events = EPOLLIN,
						 .data.ptr = &gp->src };

			gp->events = EPOLLIN;
			epoll_ctl(s->d->epfd, EPOLL_CTL_ADD, gp->fd, &e);
		}
		ismd_log(L_INFO,
			 "ivshmem %s: guest %u opened a control channel "
			 "(ism peer as uid %u)",
			 s->dom->spec.name, gp->guest,
			 (unsigned)s->dom->spec.guest_uid);
		gpeer_run(s, gp);
	}
}

/* Any doorbell of ours: new offers, and every guest's channel. */
static void run(struct ivsh_gsrv *s)
{
	int passes = 4;

	s->busy = true;
	do {
		s->again = false;
		accept_guests(s);
		for (uint32_t k = 0; k < IVC_ENTRIES; k++)
			if (s->g[k])
				gpeer_run(s, s->g[k]);
	} while (s->again && --passes > 0);
	s->busy = false;
	/* Still more: after the rest of the loop's work. */
	if (s->again)
		self_kick(s);
}

static void bell_event(struct daemon *d, struct ep_source *src, uint32_t events)
{
	struct gbell *b = ism_container_of(src, struct gbell, src);

	(void)d;
	(void)events;
	run(b->s);
}

/* ---- the domain ---- */

int ivsh_guest_check(uint16_t type, const void *req)
{
	const struct ism_msg_desc *m = ism_proto_desc(type);

	/* A window's mappings reach its owner as fds in events, which a
	 * guest cannot receive: its windows could never be mapped. */
	if (type == ISM_MSG_WIN_CREATE)
		return -EOPNOTSUPP;
	if (!m || !m->rep_fds || type == ISM_MSG_ALLOC)
		return 0;
	if (type == ISM_MSG_ATTACH &&
	    (((const struct ism_attach_req *)req)->flags & ISM_ATTACH_NOFD))
		return 0;
	return -EOPNOTSUPP;
}

int ivsh_guest_open(struct daemon *d, struct ivsh_domain *dom)
{
	struct ivsh_gsrv *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->d = d;
	s->dom = dom;
	/* A member like an ism peer's, but ismd's own (charged to nobody,
	 * listed as ismd's: no owner, no socket). */
	if (!(s->me = ipeer_new(d, dom, -1, NULL, NULL, &r)))
		goto fail;
	s->mem = mmap(NULL, dom->spec.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      dom->memfd, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		r = -errno;
		goto fail;
	}
	if ((r = ism_ivdom_open(s->mem, dom->spec.size, s->me->id,
				dom->spec.vectors, &gops, s, &s->ivd)) < 0)
		goto fail;
	for (uint32_t v = 0; v < dom->spec.vectors; v++) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLET,
					 .data.ptr = &s->bell[v].src };

		s->bell[v].src.fn = bell_event;
		s->bell[v].s = s;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, doorbell_fd(s->me->db[v]),
			      &e) < 0) {
			r = -errno;
			goto fail;
		}
		s->nbell++;
	}
	dom->gsrv = s;
	ismd_log(L_INFO,
		 "ivshmem %s: serving guests as ism peers: member %u, "
		 "port %u",
		 dom->spec.name, s->me->id, IVC_CTL_PORT);
	return 0;
fail:
	dom->gsrv = s;
	ivsh_guest_close(d, dom);
	return r;
}

void ivsh_guest_close(struct daemon *d, struct ivsh_domain *dom)
{
	struct ivsh_gsrv *s = dom->gsrv;

	if (!s)
		return;
	for (uint32_t k = 0; k < IVC_ENTRIES; k++)
		if (s->g[k])
			gpeer_free(s, s->g[k]);
	for (uint32_t v = 0; v < s->nbell; v++)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, doorbell_fd(s->me->db[v]),
			  NULL);
	ism_ivdom_close(s->ivd);
	if (s->mem)
		munmap(s->mem, dom->spec.size);
	if (s->me) {
		ipeer_drop(d, s->me, "ismd stops serving guests");
		ivsh_sweep(d, dom);
	}
	dom->gsrv = NULL;
	free(s);
}
