/* SPDX-License-Identifier: MIT */
/*
 * stream - ismd as the out-of-band witness for ism streams (ism/stream.h).
 *
 * A stream record is a listener, a client or a server end.  Everything ismd
 * believes about a connection comes from the kernel, through the socket fd
 * the peer hands over: its type, its addresses, its network namespace.  A
 * peer's own words (the destination a client names, the path it reports)
 * only ever describe that peer's record.
 *
 * The match: a client hands over its socket, bound but not yet connected,
 * with the destination.  If an ism listener serves it, ismd keeps a dup of
 * the socket as a pending *intent*, keyed by the socket's own (netns,
 * local address).  The server hands over an accepted socket; its peer
 * address is the client's local address, which finds the intent, and the
 * kept socket's peer address must be the accepted socket's local address
 * - the two fds are the two ends of one connection.  Only then is the
 * intent claimed (the server may speak first, in-band).  A client that
 * waited long enough resolves its intent: claimed, or abandoned for good,
 * atomically, so both ends always agree on the path.
 *
 * Which listener serves a destination is the kernel's to say: in ismd's
 * own network namespace, sock_diag names the socket that would accept a
 * connection to it (sockdiag.h), and only if that socket is a registered
 * listener (by its socket cookie) is the client kept as an intent; so a
 * record whose socket was closed, an IPV6_V6ONLY wildcard, or a listener
 * on another address never captures someone else's connections.  Intents
 * are keyed by the full address (a chain per hashed key, compared in
 * full).  ismd never closes a socket a peer handed it on its loop
 * (closer.h), never fstat()s one (getsockopt answers for sockets only,
 * at once for anything else), and never asks its addresses there either:
 * getsockname() and getpeername() wait for the socket's lock, which its
 * owner can hold indefinitely.  The opener's own socket is asked on a
 * worker (struct open_job); a pending client's, when a server claims it,
 * is matched through sock_diag, which needs no lock (held_is_peer_of).
 *
 * Across network namespaces (containers on one host) addresses repeat, so
 * a listener there is asked through its namespace (xns.h), and a server
 * end that mirrors a client intent of another namespace must also show
 * that connection's TCP sequence numbers before the claim.  Both
 * namespaces must be owned by ismd's own user namespace (a namespace
 * anyone can own could fake addresses and numbers: xns.h).  Everything
 * that looks into another namespace or takes a socket's lock runs in a
 * job; the loop only reads the answers (struct open_job).
 *
 * A destination no listener has may be a service address that a NAT
 * rewrites: a client whose libism will CHECK once connected is kept as an
 * intent across namespaces anyway, claimed only by a proof, and its CHECK
 * reads conntrack to tell whether it should wait for an offer at all
 * (struct check_job).
 */
#include "ismd.h"
#include "conntrack.h"
#include "page.h"
#include "sockdiag.h"
#include "xns.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define STREAM_PER_PEER_MAX   65536u
#define INTENT_PER_PEER_MAX   4096u
#define LISTENER_PER_PEER_MAX 256u
/* Listeners in other namespaces one client OPEN may ask about (each a
 * short thread, on a worker): beyond it, not matched across namespaces. */
#define XNS_ASKS_MAX 16u
/* Sequence-number proofs one server OPEN may try across namespaces:
 * decoys beyond it push that server to TCP, never to someone else's
 * connection. */
#define XNS_PROOFS_MAX 16u
/* Failed proofs one intent may take: the last abandons it (TCP, for good,
 * as STREAM_RESOLVE does), so decoys cannot keep it pending forever. */
#define XNS_FAILS_MAX 4u
/* How long a server's claim may wait for its proofs (the client's socket
 * lock is its owner's to hold): then TCP. */
#define XNS_PROOF_MS 1000u
#define STREAM_COST  (sizeof(struct stream) + 128u)

/* A record's place in a chain of records under one map key, doubly
 * linked: a chain may hold every record with one port or address (a peer
 * can make tens of thousands), and each must leave it without a walk. */
struct link {
	struct stream *next, *prev; /* prev: NULL at the head, in the map */
	bool keyed;		    /* in the chain */
};

struct stream {
	uint64_t id;
	struct peer *owner;
	uint64_t partner;
	struct stream *counterpart; /* the other end's record, once claimed */
	uint32_t role, path, reason;
	uint64_t netns;
	uint64_t cookie; /* a listener's socket cookie, or a held intent's */
	bool v6only;	 /* a listener's IPV6_V6ONLY */
	struct ism_stream_addr local, remote;
	int held;	   /* a pending client intent: its socket, or -1 */
	struct link chain; /* same intent key, or same listener port */
	/* Across namespaces: a listener's namespace (owned by ismd's user
	 * namespace), or -1; a client served from another one; the index. */
	int nsfd;
	bool xns;
	/* A client toward a destination no listener has, that will send
	 * CHECK once connected (a service address a NAT may rewrite): an
	 * intent across namespaces, claimed only by a proof; checked once. */
	bool nat, checking, checked;
	struct check_job *check_wait; /* its CHECK, answered after proofs */
	uint32_t proof_fails;	      /* failed proofs against this intent */
	uint32_t proofs_on;	      /* proof jobs looking at its socket now */
	bool resolve_waiting;	      /* its RESOLVE, answered when they end */
	uint32_t resolve_seq;
	struct link xchain; /* same port, or same address, any netns */
	uint64_t created_ns;
	struct ism_list peer_link; /* peer.streams (id order) */
	struct ism_list all_link;  /* daemon.streams (id order) */
};

static uint64_t own_netns;

struct check_job;
static void check_free(struct check_job *k);

void stream_init(struct daemon *d)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(own_netns);

	ism_list_init(&d->streams.all);
	ism_map_init(&d->streams.by_id);
	ism_map_init(&d->streams.intents);
	ism_map_init(&d->streams.listeners_by_port);
	ism_map_init(&d->streams.listeners_by_cookie);
	ism_map_init(&d->streams.xns_listeners);
	ism_map_init(&d->streams.xns_intents);
	ism_list_init(&d->streams.proving);
	d->streams.n_xns_intents = 0;
	if (xns_init() < 0)
		ismd_log(L_DEBUG, "stream: own user namespace unknown: "
				  "no streams across namespaces");
	/* Our own namespace's cookie: sock_diag answers for it alone. */
	own_netns = 0;
	if (fd >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &own_netns,
			       &len) < 0)
			own_netns = 0;
		close(fd);
	}
}

void stream_fini(struct daemon *d)
{
	ism_map_free(&d->streams.by_id);
	ism_map_free(&d->streams.intents);
	ism_map_free(&d->streams.listeners_by_port);
	ism_map_free(&d->streams.listeners_by_cookie);
	ism_map_free(&d->streams.xns_listeners);
	ism_map_free(&d->streams.xns_intents);
	sockdiag_close();
}

/* ---- addresses, from the kernel ---- */

static bool addr_eq(const struct ism_stream_addr *a,
		    const struct ism_stream_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->scope_id == b->scope_id && !memcmp(a->addr, b->addr, 16);
}

/* The same IP address, an IPv4-mapped IPv6 one and IPv4 alike. */
static bool same_addr(const struct ism_stream_addr *a,
		      const struct ism_stream_addr *b)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	uint8_t x[16] = { 0 }, y[16] = { 0 };

	memcpy(x, a->addr, 16);
	memcpy(y, b->addr, 16);
	if (a->family == AF_INET) {
		memcpy(x, mapped, 12);
		memcpy(x + 12, a->addr, 4);
	}
	if (b->family == AF_INET) {
		memcpy(y, mapped, 12);
		memcpy(y + 12, b->addr, 4);
	}
	return !memcmp(x, y, 16);
}

static bool addr_any(const struct ism_stream_addr *a)
{
	static const uint8_t zero[16];

	return !memcmp(a->addr, zero, 16);
}

static int sock_name(int fd, bool peer, struct ism_stream_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		     : getsockname(fd, (struct sockaddr *)&ss, &len);

	/* Not connected (or bound) as the role needs: the peer's mistake,
	 * and never an errno a client could take for a lost connection. */
	if (r < 0)
		return -EINVAL;
	ism_proto_addr_from(a, (const struct sockaddr *)&ss);
	return a->family ? 0 : -EAFNOSUPPORT;
}

/* The fd must be a TCP socket; its namespace cookie in *@netns.  Only
 * getsockopt: it fails at once (ENOTSOCK) on anything but a socket,
 * where fstat could wait on the file's file system (FUSE). */
static int check_tcp(int fd, uint64_t *netns)
{
	int dom = 0, type = 0, proto = 0;
	socklen_t l1 = sizeof(dom), l2 = sizeof(type), l3 = sizeof(proto),
		  l4 = sizeof(*netns);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -EPROTOTYPE;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l3) < 0)
		return -EPROTOTYPE;
	if ((dom != AF_INET && dom != AF_INET6) || type != SOCK_STREAM ||
	    proto != IPPROTO_TCP)
		return -EPROTOTYPE;
	/* Kernels before 5.14 have no cookie: one namespace is assumed
	 * (documented in docs/security.md). */
	*netns = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, netns, &l4) < 0)
		*netns = 0;
	return 0;
}

/* The intent map key: the namespace, and the address folded to 64 bits.
 * Only a bucket: each entry is a chain of intents compared in full, so
 * addresses that fold alike never hide one another. */
static uint64_t addr_key(const struct ism_stream_addr *a)
{
	uint64_t x = (uint64_t)a->family << 48 | (uint64_t)a->port << 32;
	uint64_t w[2];

	memcpy(w, a->addr, 16);
	return x ^ w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ a->scope_id;
}

static struct stream *intent_find(struct daemon *d, uint64_t netns,
				  const struct ism_stream_addr *local)
{
	struct stream *c =
		ism_map_get(&d->streams.intents, netns, addr_key(local));

	while (c && !(c->netns == netns && addr_eq(&c->local, local)))
		c = c->chain.next;
	return c;
}

#define CHAIN  offsetof(struct stream, chain)
#define XCHAIN offsetof(struct stream, xchain)

static struct link *link_at(struct stream *s, size_t off)
{
	return (struct link *)(void *)((char *)s + off);
}

/* Chain @s into map @m under (@a, @b), through its link at @off. */
static int chain_add(struct ism_map *m, uint64_t a, uint64_t b,
		     struct stream *s, size_t off)
{
	struct stream *head = ism_map_get(m, a, b);
	struct link *l = link_at(s, off);

	l->prev = l->next = NULL;
	if (head) {
		struct link *h = link_at(head, off);

		l->prev = head;
		l->next = h->next;
		if (l->next)
			link_at(l->next, off)->prev = s;
		h->next = s;
	} else if (ism_map_put(m, a, b, s) < 0) {
		return -ENOMEM;
	}
	l->keyed = true;
	return 0;
}

/* Out of its chain, if it is in one. */
static void chain_del(struct ism_map *m, uint64_t a, uint64_t b,
		      struct stream *s, size_t off)
{
	struct link *l = link_at(s, off);

	if (!l->keyed)
		return;
	if (l->prev) {
		link_at(l->prev, off)->next = l->next;
	} else {
		ism_map_del(m, a, b);
		if (l->next)
			ism_map_put(m, a, b, l->next); /* a slot just freed */
	}
	if (l->next)
		link_at(l->next, off)->prev = l->prev;
	l->next = l->prev = NULL;
	l->keyed = false;
}

/* ---- records ---- */

static struct stream *stream_new(struct daemon *d, struct peer *p,
				 uint32_t role)
{
	struct stream *s;

	if (p->n_streams >= STREAM_PER_PEER_MAX ||
	    (role == ISM_STREAM_LISTENER &&
	     p->n_listeners >= LISTENER_PER_PEER_MAX) ||
	    acct_charge(p->acct, ACCT_HEAP, STREAM_COST) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto fail;
	s->id = ++d->streams.next_id;
	s->owner = p;
	s->role = role;
	s->held = -1;
	s->nsfd = -1;
	s->created_ns = ism_now_ns();
	if (ism_map_put(&d->streams.by_id, s->id, 0, s) < 0) {
		free(s);
		goto fail;
	}
	ism_list_add_tail(&p->streams, &s->peer_link);
	ism_list_add_tail(&d->streams.all, &s->all_link);
	if (role == ISM_STREAM_LISTENER)
		p->n_listeners++;
	p->n_streams++;
	d->streams.n++;
	return s;
fail:
	acct_uncharge(p->acct, ACCT_HEAP, STREAM_COST);
	return NULL;
}

/* Drop a pending intent: the kept socket is closed (off the loop: it is
 * the client's, lingering perhaps), the key freed. */
static void intent_drop(struct daemon *d, struct stream *s)
{
	if (s->held < 0)
		return;
	chain_del(&d->streams.intents, s->netns, addr_key(&s->local), s, CHAIN);
	closer_put(s->held, s->owner->acct);
	s->held = -1;
	s->owner->n_intents--;
	if (s->xns)
		d->streams.n_xns_intents--;
	/* An intent across namespaces stays in xns_intents (not pending)
	 * until its record goes: a server that claims it later learns the
	 * reason it settled on TCP with (open_server). */
}

static void listener_unindex(struct daemon *d, struct stream *s)
{
	if (s->nsfd >= 0) {
		close(s->nsfd); /* a namespace fd: ismd's own file */
		s->nsfd = -1;
		acct_uncharge(s->owner->acct, ACCT_FDS, 1);
	}
	chain_del(&d->streams.xns_listeners, s->local.port, 0, s, XCHAIN);
	if (s->role != ISM_STREAM_LISTENER || !s->cookie)
		return;
	chain_del(&d->streams.listeners_by_port, s->netns, s->local.port, s,
		  CHAIN);
	if (ism_map_get(&d->streams.listeners_by_cookie, s->cookie, 0) == s)
		ism_map_del(&d->streams.listeners_by_cookie, s->cookie, 0);
	s->cookie = 0;
}

static void stream_free(struct daemon *d, struct stream *s)
{
	if (s->resolve_waiting) {
		/* Its peer is gone (nothing else frees a paused peer's
		 * records): no answer, the pause's count returned. */
		s->resolve_waiting = false;
		s->owner->jobs--;
	}
	if (s->check_wait) {
		check_free(s->check_wait); /* the same, for a CHECK */
		s->check_wait = NULL;
		s->owner->jobs--;
	}
	intent_drop(d, s);
	if (s->role == ISM_STREAM_CLIENT)
		chain_del(&d->streams.xns_intents, addr_key(&s->local), 0, s,
			  XCHAIN);
	listener_unindex(d, s);
	if (s->counterpart)
		s->counterpart->counterpart = NULL;
	ism_map_del(&d->streams.by_id, s->id, 0);
	ism_list_del(&s->peer_link);
	ism_list_del(&s->all_link);
	s->owner->n_streams--;
	if (s->role == ISM_STREAM_LISTENER)
		s->owner->n_listeners--;
	d->streams.n--;
	acct_uncharge(s->owner->acct, ACCT_HEAP, STREAM_COST);
	free(s);
}

void stream_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &p->streams)
		stream_free(d, ism_container_of(pos, struct stream, peer_link));
}

static struct stream *own_stream(struct daemon *d, struct peer *p, uint64_t id)
{
	struct stream *s = ism_map_get(&d->streams.by_id, id, 0);

	return s && s->owner == p ? s : NULL;
}

static void put_rep(struct ism_wbuf *b, const struct stream *s)
{
	struct ism_stream_rep rep = {
		.id = s->id,
		.partner = s->partner,
		.path = s->path,
		.reason = s->reason,
	};

	ism_proto_put_stream_rep(b, &rep);
}

/* ---- OPEN ---- */

/* Without the kernel's word (another namespace, or no sock_diag): the
 * records of that port, an exact address or a wildcard that takes this
 * family (a v6 wildcard takes IPv4 too unless IPV6_V6ONLY). */
static bool listener_serves_by_record(struct daemon *d, uint64_t netns,
				      const struct ism_stream_addr *dst)
{
	for (struct stream *l = ism_map_get(&d->streams.listeners_by_port,
					    netns, dst->port);
	     l; l = l->chain.next) {
		if (l->netns != netns || l->local.port != dst->port)
			continue;
		if (addr_eq(&l->local, dst) ||
		    (addr_any(&l->local) &&
		     (l->local.family == dst->family ||
		      (l->local.family == AF_INET6 && !l->v6only))))
			return true;
	}
	return false;
}

static socklen_t to_sockaddr(const struct ism_stream_addr *a,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->addr, 4);
		return sizeof(*s4);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		s6->sin6_scope_id = a->scope_id;
		memcpy(&s6->sin6_addr, a->addr, 16);
		return sizeof(*s6);
	}
	return 0;
}

static bool listener_serves(struct daemon *d, uint64_t netns,
			    const struct ism_stream_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int unsure = 0;

	if (!ism_map_get(&d->streams.listeners_by_port, netns, dst->port))
		return false; /* no ism listener on that port at all */
	if (netns != own_netns || !own_netns)
		return listener_serves_by_record(d, netns, dst);
	len = to_sockaddr(dst, &ss);
	if (!len)
		return false;
	/* Ask, for each record on that port, whether its socket is the one
	 * the kernel would hand this connection to. */
	for (struct stream *l = ism_map_get(&d->streams.listeners_by_port,
					    netns, dst->port);
	     l; l = l->chain.next) {
		int r;

		if (l->netns != netns)
			continue;
		r = sockdiag_would_accept((struct sockaddr *)&ss, len,
					  l->cookie);
		if (r == 1)
			return true;
		if (r < 0)
			unsure = r;
	}
	if (unsure) {
		ismd_log(L_DEBUG, "sock_diag: %s: matching by records",
			 strerror(-unsure));
		return listener_serves_by_record(d, netns, dst);
	}
	return false;
}

/*
 * Questions to the ism listeners of other namespaces on one port: is the
 * destination an address there, and would that listener take it
 * (xns_would_accept(), a short thread each, on a worker)?  Their
 * namespace fds are dup'ed on the loop (charged to the asker) so none can
 * go away meanwhile.  At most XNS_ASKS_MAX, and XNS_ASKS_PER_NS of one
 * namespace, one per socket: one peer's many records (the same socket
 * registered again, or many of its own) must not crowd out the others.
 */
#define XNS_ASKS_PER_NS 4u

struct asks {
	unsigned n;
	int nsfd[XNS_ASKS_MAX];
	uint64_t cookie[XNS_ASKS_MAX], netns[XNS_ASKS_MAX];
	/* From the worker: */
	int err;	/* the last question that failed, or 0 */
	uint64_t found; /* the listener that would take it, or 0 */
};

/* Listeners on @port of namespaces other than @skip's, into @a. */
static void asks_snapshot(struct daemon *d, struct peer *p, struct asks *a,
			  uint16_t port, uint64_t skip)
{
	for (struct stream *l = ism_map_get(&d->streams.xns_listeners, port, 0);
	     l && a->n < XNS_ASKS_MAX; l = l->xchain.next) {
		unsigned in_ns = 0;
		bool again = false;
		int fd;

		if (l->nsfd < 0 || l->netns == skip || l->local.port != port)
			continue;
		for (unsigned i = 0; i < a->n; i++) {
			again = again || a->cookie[i] == l->cookie;
			in_ns += a->netns[i] == l->netns;
		}
		if (again || in_ns >= XNS_ASKS_PER_NS)
			continue;
		if (acct_charge(p->acct, ACCT_FDS, 1) < 0)
			break;
		fd = fcntl(l->nsfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			acct_uncharge(p->acct, ACCT_FDS, 1);
			break;
		}
		a->nsfd[a->n] = fd;
		a->cookie[a->n] = l->cookie;
		a->netns[a->n++] = l->netns;
	}
}

/* On a worker: ask until one would take @dst. */
static void asks_run(struct asks *a, const struct ism_stream_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(dst, &ss);

	for (unsigned i = 0; sl && i < a->n && !a->found; i++) {
		int r = xns_would_accept(a->nsfd[i],
					 (const struct sockaddr *)&ss, sl,
					 a->cookie[i]);

		if (r == 1)
			a->found = a->cookie[i];
		else if (r < 0)
			a->err = r;
	}
}

/* On the loop: the namespace fds closed (ismd's own files), uncharged. */
static void asks_free(struct asks *a, struct peer *p)
{
	for (unsigned i = 0; i < a->n; i++)
		close(a->nsfd[i]);
	acct_uncharge(p->acct, ACCT_FDS, a->n);
	a->n = 0;
}

/*
 * What the kernel says of an opener's socket.  getsockname() and
 * getpeername() take the socket's lock, which its owner can hold for as
 * long as it likes (a send() copying from a page that never arrives), so
 * they are asked on a worker thread: a peer that blocks them stalls only
 * its own request (and, once its job counts as stuck, its uid's other
 * jobs: worker.h), never the loop.  The rest runs on the loop when the
 * answer is in.
 *
 * Across namespaces the job does more, still on the worker: a listener's
 * namespace fd (kept if that namespace is owned by ismd's user
 * namespace); a client's questions to the listeners of other namespaces
 * on its destination's port (their namespace fds dup'ed on the loop at
 * submit, so none can go away meanwhile); who owns a server's namespace.
 * A server that mirrors intents of other namespaces then runs a job that
 * reads its own sequence numbers (seq_run, as its uid: TCP_REPAIR takes
 * its socket's lock) and one proof job per candidate (proof_run, as the
 * candidate's uid: the client's socket lock is the client's to hold).
 * The loop answers the server when a proof succeeds, when none is left,
 * or after XNS_PROOF_MS (stream_tick), whichever comes first.
 */
struct open_job {
	struct job job;
	struct daemon *d;
	struct peer *p;
	uint32_t seq;
	int fd;
	uint64_t netns;
	struct ism_stream_open_req req;
	bool xns_want;	  /* look across namespaces (set at submit) */
	bool nat_want;	  /* a client that will CHECK (set at submit) */
	struct asks asks; /* a client's (listeners on its port) */
	/* From the worker: */
	bool ran;
	int err_local, err_remote;
	struct ism_stream_addr local, remote;
	bool listening, v6only;
	bool trust_known; /* trust asked: */
	int trust;	  /* the opener's netns: 1 ours to trust, 0, -errno */
	int nsfd;	  /* a listener's namespace, or -1 */
	int seq_err;	  /* a server's sequence numbers: 0 or -errno */
	uint32_t snd, rcv;
	/* A server's proofs (on the loop, and pfd/presult on the worker): */
	uint64_t sid; /* the server's record */
	uint64_t cand[XNS_PROOFS_MAX];
	unsigned n_cand, next;
	uint64_t pcand; /* the candidate being proven */
	/* (its socket's peer address) */
	struct ism_stream_addr pexpect;
	int pfd;     /* a dup of its kept socket */
	int presult; /* 1, 0 or -errno */
	bool pran, answered;
	uint64_t deadline_ns;
	struct ism_list link; /* stream_set.proving, while unanswered */
};

#define OPEN_LIMIT_MS 200u

static const char *trust_why(int t)
{
	return t == 0	     ? "its network namespace is owned by another user "
			       "namespace"
	       : t == -EPERM ? "ismd lacks CAP_NET_ADMIN over its namespace"
			     : strerror(-t);
}

/* Is the network namespace of @o's socket owned by ismd's user namespace?
 * 1, 0 or -errno; *@keep (if given) gets the namespace fd when 1. */
static int netns_trust(struct open_job *o, int *keep)
{
	int ns = xns_netns_of(o->fd), r;

	o->trust_known = true;
	if (ns < 0)
		return ns;
	r = xns_trusted(ns);
	if (r == 1 && keep)
		*keep = ns;
	else
		close(ns);
	return r;
}

static void open_run(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	int on = 0, v6only = 0;
	socklen_t len = sizeof(on), l2 = sizeof(v6only);

	o->ran = true;
	o->err_local = sock_name(o->fd, false, &o->local);
	if (o->req.role == ISM_STREAM_SERVER)
		o->err_remote = sock_name(o->fd, true, &o->remote);
	if (o->req.role == ISM_STREAM_SERVER && o->xns_want &&
	    o->err_local == 0 && o->err_remote == 0) {
		/* No lock taken: whether it could be proven at all.  Its
		 * numbers are read only if an intent elsewhere mirrors it
		 * (seq_run). */
		o->trust = netns_trust(o, NULL);
	}
	if (o->req.role == ISM_STREAM_CLIENT && (o->asks.n || o->nat_want) &&
	    o->err_local == 0) {
		struct ism_stream_addr dst = o->req.dst;

		/* Bound to its destination's address: a local destination,
		 * its own namespace's business. */
		if (!same_addr(&o->local, &dst)) {
			if (dst.family == AF_INET6 &&
			    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)dst.addr)) {
				dst.family = AF_INET;
				memmove(dst.addr, dst.addr + 12, 4);
				memset(dst.addr + 4, 0, 12);
			}
			o->trust = netns_trust(o, NULL);
			if (o->trust == 1)
				asks_run(&o->asks, &dst);
		}
	}
	if (o->req.role != ISM_STREAM_LISTENER)
		return;
	o->listening =
		getsockopt(o->fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
		on;
	if (o->local.family == AF_INET6 &&
	    getsockopt(o->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l2) == 0)
		o->v6only = v6only != 0;
	if (o->listening && o->xns_want)
		o->trust = netns_trust(o, &o->nsfd);
}

static int open_listener(struct daemon *d, struct stream *s, struct open_job *o)
{
	if (!o->listening)
		return -EINVAL;
	s->path = ISM_STREAM_PENDING; /* "not applicable" for a listener */
	if (o->err_local < 0)
		return o->err_local;
	s->local = o->local;
	s->v6only = o->v6only;
	s->cookie = sockdiag_cookie(o->fd);
	if (!s->cookie)
		return -EINVAL;
	/* In another namespace owned by ismd's user namespace: keep it (one
	 * fd, charged) to ask the kernel there for other namespaces'
	 * clients.  Otherwise only its own namespace's clients match. */
	if (o->trust_known && o->trust != 1)
		ismd_log(L_DEBUG,
			 "stream %llu: listener not matched across "
			 "namespaces: %s",
			 (unsigned long long)s->id, trust_why(o->trust));
	if (o->nsfd >= 0 && acct_charge(s->owner->acct, ACCT_FDS, 1) == 0) {
		if (chain_add(&d->streams.xns_listeners, s->local.port, 0, s,
			      XCHAIN) < 0) {
			acct_uncharge(s->owner->acct, ACCT_FDS, 1);
		} else {
			s->nsfd = o->nsfd;
			o->nsfd = -1;
		}
	}
	/* Another record for the same socket (registered twice): one in
	 * the cookie map is enough to find the socket. */
	if (!ism_map_get(&d->streams.listeners_by_cookie, s->cookie, 0) &&
	    ism_map_put(&d->streams.listeners_by_cookie, s->cookie, 0, s) < 0)
		return -ENOMEM;
	if (chain_add(&d->streams.listeners_by_port, s->netns, s->local.port, s,
		      CHAIN) < 0) {
		if (ism_map_get(&d->streams.listeners_by_cookie, s->cookie,
				0) == s)
			ism_map_del(&d->streams.listeners_by_cookie, s->cookie,
				    0);
		s->cookie = 0;
		return -ENOMEM;
	}
	return 0;
}

/* Did the worker find, for client @s, a listener of another namespace
 * that is still registered? */
static bool served_across(struct daemon *d, struct stream *s,
			  const struct open_job *o)
{
	struct stream *l;

	if (!o->trust_known)
		return false; /* nothing to ask, or a local destination */
	if (o->trust != 1) {
		ismd_log(L_DEBUG,
			 "stream %llu: not matched across namespaces: %s",
			 (unsigned long long)s->id, trust_why(o->trust));
		return false;
	}
	if (!o->asks.found) {
		if (o->asks.err)
			ismd_log(L_DEBUG,
				 "stream %llu: a listener in another netns: "
				 "cannot ask: %s",
				 (unsigned long long)s->id,
				 strerror(-o->asks.err));
		return false;
	}
	l = ism_map_get(&d->streams.listeners_by_cookie, o->asks.found, 0);
	return l && l->nsfd >= 0 && l->netns != s->netns;
}

static int open_client(struct daemon *d, struct peer *p, struct stream *s,
		       struct open_job *o)
{
	struct ism_stream_addr dst = o->req.dst;
	bool cross = false, nat = false;

	s->remote = dst;
	s->path = ISM_STREAM_TCP;
	if (o->req.reason) {
		/* Already on TCP (another host, say): a record to list. */
		s->reason = o->req.reason;
		if (o->err_local == 0)
			s->local = o->local;
		return 0;
	}
	if (o->err_local < 0)
		return o->err_local;
	s->local = o->local;
	if (s->local.port == 0)
		return -EINVAL; /* must be bound: its port is the key */
	if (dst.family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)dst.addr)) {
		dst.family = AF_INET;
		memmove(dst.addr, dst.addr + 12, 4);
		memset(dst.addr + 4, 0, 12);
	}
	/* Its own namespace's listeners serve it only if it is bound to its
	 * destination's address (libism binds so when that is one of its
	 * namespace's): a wildcard listener on the port says nothing of a
	 * destination elsewhere, which could keep it waiting for nothing. */
	if (!same_addr(&s->local, &dst) ||
	    !listener_serves(d, s->netns, &dst)) {
		if (!(cross = served_across(d, s, o))) {
			/* A client bound to another address than its
			 * destination's (libism binds to the route's source
			 * when the destination is not one of its
			 * namespace's) is toward another host or
			 * namespace. */
			s->reason = same_addr(&s->local, &dst)
					    ? ISM_SR_PEER_NOT_ISM
					    : ISM_SR_OTHER_HOST;
			/* Unless a NAT sends it to a listener: the client
			 * says where it went once connected (CHECK). */
			if (s->reason != ISM_SR_OTHER_HOST || !o->nat_want ||
			    !o->trust_known || o->trust != 1)
				return 0;
			cross = nat = true;
			s->remote = dst;
		}
	}
	if (p->n_intents >= INTENT_PER_PEER_MAX) {
		/* (A NAT's client: most likely another host's.) */
		s->reason = nat ? ISM_SR_OTHER_HOST : ISM_SR_QUOTA;
		return 0;
	}
	s->cookie = sockdiag_cookie(o->fd);
	if (!s->cookie || intent_find(d, s->netns, &s->local) ||
	    chain_add(&d->streams.intents, s->netns, addr_key(&s->local), s,
		      CHAIN) < 0) {
		/* Another pending socket with this very address (the
		 * kernel allows it only with SO_REUSEPORT, for the same
		 * uid): this one stays on TCP. */
		s->cookie = 0;
		s->reason = ISM_SR_ERROR;
		return 0;
	}
	if (cross) {
		if (chain_add(&d->streams.xns_intents, addr_key(&s->local), 0,
			      s, XCHAIN) < 0) {
			chain_del(&d->streams.intents, s->netns,
				  addr_key(&s->local), s, CHAIN);
			s->cookie = 0;
			s->reason = ISM_SR_ERROR;
			return 0;
		}
		s->xns = true;
		s->nat = nat;
		d->streams.n_xns_intents++;
		ismd_log(L_DEBUG,
			 nat ? "stream %llu: no listener has its destination: "
			       "pending on its CHECK"
			     : "stream %llu: a listener in another netns "
			       "serves it: pending",
			 (unsigned long long)s->id);
	}
	if (!nat)
		s->reason = ISM_SR_NONE;
	s->path = ISM_STREAM_PENDING;
	s->held = o->fd;
	o->fd = -1;
	p->n_intents++;
	return 0;
}

/* Does some socket other than @fd's own share its address (or could)? */
static bool address_shared(int fd)
{
	int reuse = 0, reuseport = 0;
	socklen_t l1 = sizeof(reuse), l2 = sizeof(reuseport);

	if (getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &l2) < 0)
		return true;
	return reuse || reuseport;
}

/*
 * Is intent @c's kept socket the other end of the connection whose server
 * end is @server (its own address)?  Never by getpeername() on it: that
 * waits on the client's socket lock.  In ismd's namespace the kernel says
 * (sockdiag.h: found by both addresses and its cookie, lock-free).
 * Elsewhere, or if sock_diag cannot answer: the accepted connection comes
 * from c->local, and no socket but c's can be bound there while ismd
 * keeps it - unless c's socket allows sharing its address (SO_REUSEADDR,
 * SO_REUSEPORT; getsockopt reads those without the lock), which then
 * keeps the client on TCP.
 */
static bool held_is_peer_of(const struct stream *c,
			    const struct ism_stream_addr *server)
{
	if (c->netns == own_netns && own_netns) {
		struct sockaddr_storage a, b;
		socklen_t la = to_sockaddr(&c->local, &a),
			  lb = to_sockaddr(server, &b);
		int r;

		if (!la || !lb)
			return false;
		r = sockdiag_is_connection((struct sockaddr *)&a, la,
					   (struct sockaddr *)&b, lb,
					   c->cookie);
		if (r >= 0)
			return r == 1;
		ismd_log(L_DEBUG, "sock_diag: %s: matching by address",
			 strerror(-r));
	}
	return !address_shared(c->held);
}

/* Claim intent @c for server record @s of @p: both on shared memory. */
static void claim(struct daemon *d, struct peer *p, struct stream *s,
		  struct stream *c)
{
	intent_drop(d, c);
	c->path = ISM_STREAM_SHM;
	c->reason = ISM_SR_NONE; /* (a NAT'd one's "other host" too) */
	c->partner = p->id;
	s->path = ISM_STREAM_SHM;
	s->reason = ISM_SR_NONE;
	s->partner = c->owner->id;
	c->counterpart = s;
	s->counterpart = c;
}

/* Is @c (by id) still an intent across namespaces that a proof may
 * claim? */
static struct stream *provable(struct daemon *d, uint64_t id)
{
	struct stream *c = ism_map_get(&d->streams.by_id, id, 0);

	return c && c->role == ISM_STREAM_CLIENT && c->xns && c->held >= 0 &&
			       c->proof_fails < XNS_FAILS_MAX
		       ? c
		       : NULL;
}

/*
 * Server @s's peer address is no intent of its own namespace: intents of
 * other namespaces with that address are candidates (into @o) for the
 * sequence-number proof.  Both namespaces must be owned by ismd's user
 * namespace (xns.h).  s->reason says why not, when there is none.
 */
static void candidates_across(struct daemon *d, struct stream *s,
			      struct open_job *o)
{
	uint32_t settled = 0;

	for (struct stream *c = ism_map_get(&d->streams.xns_intents,
					    addr_key(&s->remote), 0);
	     c; c = c->xchain.next) {
		if ((c->netns == s->netns && !c->nat) ||
		    !addr_eq(&c->local, &s->remote))
			continue;
		if (provable(d, c->id)) {
			if (o->n_cand < XNS_PROOFS_MAX)
				o->cand[o->n_cand++] = c->id;
			else
				ismd_plog(s->owner, L_INFO,
					  "stream %llu: over %u candidates in "
					  "other netns: the rest unproven",
					  (unsigned long long)s->id,
					  XNS_PROOFS_MAX);
		} else if (c->path == ISM_STREAM_TCP && c->reason) {
			settled = c->reason; /* what its client was told */
		}
	}
	if (!o->n_cand) {
		if (settled)
			s->reason = settled;
		return;
	}
	s->reason = ISM_SR_OTHER_HOST; /* unless proven */
	if (!o->trust_known || o->trust != 1) {
		ismd_log(L_DEBUG,
			 "stream %llu: mirrors an intent of another netns, "
			 "unproven: %s",
			 (unsigned long long)s->id,
			 !o->trust_known ? "not looked at (no intent across "
					   "namespaces when it came)"
					 : trust_why(o->trust));
		o->n_cand = 0;
	}
}

static void open_server(struct daemon *d, struct peer *p, struct stream *s,
			struct open_job *o)
{
	struct stream *c;

	s->path = ISM_STREAM_TCP;
	s->reason = ISM_SR_PEER_NOT_ISM;
	c = intent_find(d, s->netns, &s->remote);
	if (!c || c->nat) {
		/* (A NAT'd client of this namespace: proven as one of
		 * another's, its socket being connected elsewhere.) */
		candidates_across(d, s, o);
		return;
	}
	if (c->held < 0)
		return;
	/* The kept client socket must be connected to this very socket. */
	if (!held_is_peer_of(c, &s->local))
		return;
	claim(d, p, s, c);
}

/* On the loop, with the kernel's answers: the record, or -errno. */
static int open_finish(struct daemon *d, struct peer *p, struct open_job *o,
		       struct stream **out)
{
	struct stream *s = stream_new(d, p, o->req.role);
	int r;

	if (!s)
		return acct_over(p->acct, ACCT_HEAP) || p->n_streams ? -EDQUOT
								     : -ENOMEM;
	s->netns = o->netns;
	switch (o->req.role) {
	case ISM_STREAM_LISTENER: r = open_listener(d, s, o); break;
	case ISM_STREAM_CLIENT: r = open_client(d, p, s, o); break;
	default:
		if ((r = o->err_local) < 0 || (r = o->err_remote) < 0)
			break;
		s->local = o->local;
		s->remote = o->remote;
		open_server(d, p, s, o);
		break;
	}
	if (r < 0) {
		stream_free(d, s);
		return r;
	}
	*out = s;
	return 0;
}

/* The reply to the OPEN (@s, or error @r), and the peer reads again. */
static void open_answer(struct daemon *d, struct peer *p, struct open_job *o,
			int r, const struct stream *s)
{
	if (r == 0 && s && !(p->flags & PEER_DEAD)) {
		struct ism_wbuf b;

		req_begin_later(d, &b, ISM_MSG_STREAM_OPEN, o->seq);
		put_rep(&b, s);
		req_send_later(d, p, &b, NULL, 0);
	} else if (!(p->flags & PEER_DEAD)) {
		peer_send_error(d, p, ISM_MSG_STREAM_OPEN, o->seq,
				r < 0 ? r : -ECONNRESET);
	}
	if (o->deadline_ns)
		ism_list_del(&o->link);
	o->deadline_ns = 0;
	o->answered = true;
	peer_async_done(d, p);
}

static void proof_run(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	struct ism_stream_addr peer;
	uint32_t snd = 0, rcv = 0;

	o->pran = true;
	/* The candidate's socket must be connected to the server's address,
	 * and its numbers mirror the server's: each side's next to send is
	 * the other's next to receive.  Bytes in flight make it "no". */
	if ((o->presult = sock_name(o->pfd, true, &peer)) < 0)
		return;
	if (!addr_eq(&peer, &o->pexpect)) {
		o->presult = 0;
		return;
	}
	if ((o->presult = xns_tcp_seq(o->pfd, &snd, &rcv)) < 0)
		return;
	o->presult = snd == o->rcv && o->snd == rcv;
}

static void proof_done(struct job *j);

/* Start the proof of @o's next candidate: true if a job runs. */
static bool proof_next(struct daemon *d, struct peer *p, struct open_job *o)
{
	while (o->next < o->n_cand) {
		struct stream *c = provable(d, o->cand[o->next++]);

		if (!c || acct_charge(p->acct, ACCT_FDS, 1) < 0)
			continue;
		o->pfd = fcntl(c->held, F_DUPFD_CLOEXEC, 0);
		if (o->pfd < 0) {
			acct_uncharge(p->acct, ACCT_FDS, 1);
			continue;
		}
		o->pcand = c->id;
		/* A NAT'd client is connected to the address it named. */
		o->pexpect = c->nat ? c->remote : o->local;
		c->proofs_on++;
		o->pran = false;
		o->presult = -EIO;
		memset(&o->job, 0, sizeof(o->job));
		o->job.run = proof_run;
		o->job.done = proof_done;
		/* The client's socket lock is the client's to hold: a stall
		 * there is its uid's. */
		o->job.uid = c->owner->uid;
		o->job.limit_ms = OPEN_LIMIT_MS;
		p->jobs++;
		worker_submit(&o->job);
		return true;
	}
	return false;
}

/* A failed proof against intent @c; the last one it may take abandons it
 * for good, as STREAM_RESOLVE does. */
static void proof_failed(struct daemon *d, struct stream *c)
{
	if (++c->proof_fails < XNS_FAILS_MAX)
		return;
	ismd_plog(c->owner, L_INFO,
		  "stream %llu: %u failed proofs across namespaces: TCP",
		  (unsigned long long)c->id, XNS_FAILS_MAX);
	intent_drop(d, c);
	c->path = ISM_STREAM_TCP;
	c->reason = ISM_SR_OTHER_HOST;
}

/* A RESOLVE of client @c that waited for proofs: answered now, as
 * op_stream_resolve() would have. */
static void resolve_finish(struct daemon *d, struct stream *c)
{
	struct peer *q = c->owner;

	c->resolve_waiting = false;
	if (c->held >= 0) {
		intent_drop(d, c);
		c->path = ISM_STREAM_TCP;
		c->reason = ISM_SR_TIMEOUT;
	}
	if (!(q->flags & PEER_DEAD)) {
		struct ism_wbuf b;

		req_begin_later(d, &b, ISM_MSG_STREAM_RESOLVE, c->resolve_seq);
		put_rep(&b, c);
		req_send_later(d, q, &b, NULL, 0);
	}
	q->jobs--;
	peer_async_done(d, q);
}

static void check_resume(struct daemon *d, struct stream *c);

/* A proof no longer looks at client @id's socket. */
static void proof_release(struct daemon *d, uint64_t id)
{
	struct stream *c = ism_map_get(&d->streams.by_id, id, 0);

	if (!c || c->role != ISM_STREAM_CLIENT || !c->proofs_on)
		return;
	if (--c->proofs_on)
		return;
	if (c->resolve_waiting)
		resolve_finish(d, c);
	else if (c->check_wait)
		check_resume(d, c);
}

static void proof_done(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	struct daemon *d = o->d;
	struct peer *p = o->p;
	struct stream *c = provable(d, o->pcand), *s = NULL;
	int r = o->pran ? o->presult : -EINTR;
	bool claimed = false;

	p->jobs--;
	closer_put(o->pfd, p->acct);
	o->pfd = -1;
	if (c && r == 0)
		proof_failed(d, c);
	c = provable(d, o->pcand);
	if (!o->answered && !(p->flags & PEER_DEAD))
		s = own_stream(d, p, o->sid);
	if (s && r == 1 && c) {
		claim(d, p, s, c);
		claimed = true;
	}
	/* Then the client's waiting RESOLVE, if any, says what happened. */
	proof_release(d, o->pcand);
	if (o->answered) {
		/* Answered at the deadline already: only the count above. */
		free(o);
		return;
	}
	if (!s) {
		open_answer(d, p, o, -ECONNRESET, NULL);
		free(o);
		return;
	}
	if (!claimed) {
		ismd_plog(p, L_INFO,
			  "stream %llu: client %llu in another netns mirrors "
			  "its addresses but %s",
			  (unsigned long long)s->id,
			  (unsigned long long)o->pcand,
			  r == 1	? "is no longer pending"
			  : r == 0	? "not its sequence numbers"
			  : r == -EPERM ? "ismd lacks CAP_NET_ADMIN there"
					: strerror(-r));
		if (o->pran && proof_next(d, p, o))
			return;
		s->reason = ISM_SR_OTHER_HOST;
	}
	open_answer(d, p, o, 0, s);
	free(o);
}

void stream_tick(struct daemon *d, uint64_t now)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->streams.proving) {
		struct open_job *o =
			ism_container_of(pos, struct open_job, link);
		struct stream *s;

		if (now < o->deadline_ns)
			continue;
		/* A proof still waits (on the client's socket lock, say):
		 * the server goes on TCP; the job, when it comes back, only
		 * counts. */
		s = own_stream(d, o->p, o->sid);
		if (s) {
			ismd_plog(o->p, L_INFO,
				  "stream %llu: proof across namespaces not "
				  "done in %u ms: TCP",
				  (unsigned long long)s->id, XNS_PROOF_MS);
			s->reason = ISM_SR_OTHER_HOST;
		}
		open_answer(d, o->p, o, s ? 0 : -ECONNRESET, s);
	}
}

/* A server to prove: its own sequence numbers first (TCP_REPAIR takes its
 * socket's lock: on a worker, as its uid). */
static void seq_run(struct job *j)
{
	struct open_job *o = (struct open_job *)j;

	o->pran = true;
	o->seq_err = xns_tcp_seq(o->fd, &o->snd, &o->rcv);
}

static void seq_done(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	struct daemon *d = o->d;
	struct peer *p = o->p;
	struct stream *s = NULL;

	p->jobs--;
	closer_put(o->fd, p->acct);
	o->fd = -1;
	if (o->answered) {
		free(o);
		return;
	}
	if (!(p->flags & PEER_DEAD))
		s = own_stream(d, p, o->sid);
	if (!s) {
		open_answer(d, p, o, -ECONNRESET, NULL);
		free(o);
		return;
	}
	if (o->pran && o->seq_err == 0) {
		if (proof_next(d, p, o))
			return;
	} else {
		ismd_log(L_DEBUG, "stream %llu: its sequence numbers: %s",
			 (unsigned long long)s->id,
			 !o->pran		? strerror(EINTR)
			 : o->seq_err == -EPERM ? "ismd lacks CAP_NET_ADMIN "
						  "over its namespace"
						: strerror(-o->seq_err));
	}
	s->reason = ISM_SR_OTHER_HOST;
	open_answer(d, p, o, 0, s);
	free(o);
}

static void open_done(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	struct daemon *d = o->d;
	struct peer *p = o->p;
	struct stream *s = NULL;
	int r;

	p->jobs--;
	if (p->flags & PEER_DEAD)
		r = -ECONNRESET;
	else if (!o->ran)
		r = -EINTR; /* shutting down */
	else
		r = open_finish(d, p, o, &s);
	if (o->nsfd >= 0)
		close(o->nsfd); /* ismd's own file */
	o->nsfd = -1;
	asks_free(&o->asks, p);
	if (r == 0 && o->n_cand && o->fd >= 0) {
		/* A server to prove across namespaces: answered later, by
		 * seq_done() and proof_done(), or stream_tick(). */
		o->sid = s->id;
		o->deadline_ns = ism_now_ns() + XNS_PROOF_MS * 1000000ull;
		ism_list_add_tail(&d->streams.proving, &o->link);
		memset(&o->job, 0, sizeof(o->job));
		o->pran = false;
		o->job.run = seq_run;
		o->job.done = seq_done;
		o->job.uid = p->uid;
		o->job.limit_ms = OPEN_LIMIT_MS;
		p->jobs++;
		worker_submit(&o->job);
		return;
	}
	if (o->fd >= 0)
		closer_put(o->fd, p->acct);
	o->fd = -1;
	open_answer(d, p, o, r, s);
	free(o);
}

int op_stream_open(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_stream_open_req *req = rq->in;
	struct open_job *o;
	uint64_t netns;
	int r;

	if (rq->nfds != 1)
		return -EBADMSG;
	/* getsockopt only, on the loop: none of these takes the lock. */
	if ((r = check_tcp(rq->fds[0], &netns)) < 0)
		return r;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->d = d;
	o->p = p;
	o->seq = rq->hdr.seq;
	o->netns = netns;
	o->req = *req;
	o->fd = rq->fds[0];
	o->nsfd = -1;
	o->pfd = -1;
	rq->fds[0] = -1; /* ours now, still charged to the peer */
	/* What to look at across namespaces (nothing without namespace
	 * cookies: one namespace). */
	if (own_netns && netns) {
		if (req->role == ISM_STREAM_LISTENER)
			o->xns_want = true; /* any namespace's clients */
		else if (req->role == ISM_STREAM_SERVER)
			o->xns_want = d->streams.n_xns_intents > 0;
		else if (!req->reason) {
			asks_snapshot(d, p, &o->asks, req->dst.port, netns);
			o->nat_want =
				(p->caps & ISM_CAPQ_CHECK) && xns_capable();
		}
	}
	o->job.run = open_run;
	o->job.done = open_done;
	o->job.uid = p->uid;
	o->job.limit_ms = OPEN_LIMIT_MS;
	p->jobs++;
	worker_submit(&o->job);
	return ISMD_ASYNC;
}

/* ---- RESOLVE / UPDATE / CLOSE ---- */

/* A request naming one of @p's records by id. */
static struct stream *get_own(struct daemon *d, struct peer *p,
			      const struct req *rq)
{
	return own_stream(d, p, *(const uint64_t *)rq->in);
}

int op_stream_resolve(struct daemon *d, struct peer *p, struct req *rq)
{
	struct stream *s = get_own(d, p, rq);

	if (!s || s->role != ISM_STREAM_CLIENT)
		return -ENOENT;
	if (s->held >= 0 && s->proofs_on) {
		/* A proof across namespaces is looking at the socket
		 * (TCP_REPAIR: the owner's own send or recv could fail or
		 * go astray meanwhile), so the client must not take it as
		 * TCP yet: answered when the proofs end (resolve_finish). */
		if (s->resolve_waiting)
			return -EBUSY;
		s->resolve_waiting = true;
		s->resolve_seq = rq->hdr.seq;
		p->jobs++; /* held paused, and kept, until then */
		return ISMD_ASYNC;
	}
	if (s->held >= 0) {
		/* Not claimed in time: TCP for good.  The server's claim
		 * cannot succeed from now on. */
		intent_drop(d, s);
		s->path = ISM_STREAM_TCP;
		s->reason = ISM_SR_TIMEOUT;
	}
	put_rep(&rq->out, s);
	return 0;
}

/* ---- CHECK ---- */

/*
 * A client toward an address no ism listener has (OPEN answered pending,
 * OTHER_HOST) asks once connected.  A NAT on the way (a service address
 * that kube-proxy's rules rewrite to a pod's) recorded where the
 * connection really went in the conntrack table of the namespace that
 * translated it: the client's own (an output-chain rule) or ismd's (a
 * node's prerouting, with ismd in the node's namespace).  If an ism
 * listener has that address, the client waits for the offer as usual;
 * otherwise it goes TCP now.  Only a server's proof (sequence numbers,
 * open_server) ever claims the intent: the answer only decides whether
 * the client waits.  Two jobs: the lookups (one of them in the client's
 * namespace), then, if the address is another namespace's, the questions
 * to that namespace's listeners (as a client OPEN asks them).
 */
struct check_job {
	struct job job;
	struct daemon *d;
	struct peer *p;
	uint32_t seq;
	uint64_t sid;
	int nsfd; /* the client's namespace, if not ismd's; or -1 */
	int hfd;  /* a dup of the client's socket */
	struct ct_tuple orig;
	struct asks asks; /* the second job's */
	/* From the worker: */
	bool ran;
	int err; /* the lookup: 0 (translated) or -errno */
	struct ct_tuple reply;
};

/* One end of a connection as conntrack knows it: address and port (no
 * IPv6 scope there; a v4-mapped address is IPv4's). */
static bool same_end(const struct ism_stream_addr *a,
		     const struct ism_stream_addr *b)
{
	return a->port == b->port && same_addr(a, b);
}

/* Did a NAT change either end of @o (conntrack's @r)? */
static bool translated(const struct ct_tuple *o, const struct ct_tuple *r)
{
	return !same_end(&r->src, &o->dst) || !same_end(&r->dst, &o->src);
}

static void check_lookup_run(struct job *j)
{
	struct check_job *k = (struct check_job *)j;
	struct ism_stream_addr peer;
	int r = -ENOENT;

	k->ran = true;
	/* Only a connection of its own: an unconnected socket bound (say,
	 * IP_FREEBIND) to someone else's address and port would otherwise
	 * learn whether their connection exists.  getpeername() takes the
	 * socket's lock: the client's own to hold, on a worker. */
	if (sock_name(k->hfd, true, &peer) < 0 ||
	    !same_end(&peer, &k->orig.dst)) {
		k->err = -ENOTCONN;
		return;
	}
	if (k->nsfd >= 0) {
		r = xns_ct_lookup(k->nsfd, &k->orig, &k->reply);
		if (r == 0 && !translated(&k->orig, &k->reply))
			r = -ENOENT;
	}
	if (r < 0) {
		r = ct_lookup(&k->orig, &k->reply);
		if (r == 0 && !translated(&k->orig, &k->reply))
			r = -ENOENT;
	}
	k->err = r;
}

/* The translated address's listeners in other namespaces. */
static void check_ask_run(struct job *j)
{
	struct check_job *k = (struct check_job *)j;

	k->ran = true;
	asks_run(&k->asks, &k->reply.src);
}

static void check_done(struct job *j);

static void check_submit(struct check_job *k, void (*run)(struct job *))
{
	memset(&k->job, 0, sizeof(k->job));
	k->ran = false;
	k->job.run = run;
	k->job.done = check_done;
	k->job.uid = k->p->uid;
	k->job.limit_ms = OPEN_LIMIT_MS;
	k->p->jobs++;
	worker_submit(&k->job);
}

static void check_free(struct check_job *k)
{
	asks_free(&k->asks, k->p);
	if (k->hfd >= 0)
		closer_put(k->hfd, k->p->acct); /* the client's: off the loop */
	if (k->nsfd >= 0) {
		close(k->nsfd); /* ismd's own file */
		acct_uncharge(k->p->acct, ACCT_FDS, 1);
	}
	free(k);
}

/* The answer to the CHECK (@s, or error @r), and the peer reads again. */
static void check_answer(struct daemon *d, struct check_job *k, int r,
			 struct stream *s)
{
	struct peer *p = k->p;

	if (s)
		s->checking = false;
	if (!(p->flags & PEER_DEAD)) {
		if (r == 0 && s) {
			struct ism_wbuf b;

			req_begin_later(d, &b, ISM_MSG_STREAM_CHECK, k->seq);
			put_rep(&b, s);
			req_send_later(d, p, &b, NULL, 0);
		} else {
			peer_send_error(d, p, ISM_MSG_STREAM_CHECK, k->seq,
					r < 0 ? r : -ECONNRESET);
		}
	}
	check_free(k);
	peer_async_done(d, p);
}

/* Does an ism listener of ismd's own namespace have @dst, one of its
 * addresses? */
static bool served_here(struct daemon *d, const struct ism_stream_addr *dst)
{
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(dst, &ss);

	return sl && own_netns &&
	       ism_map_get(&d->streams.listeners_by_port, own_netns,
			   dst->port) &&
	       xns_is_local((const struct sockaddr *)&ss, sl) == 1 &&
	       listener_serves(d, own_netns, dst);
}

/* NAT intent @s that no listener is known to serve: TCP for good (as a
 * RESOLVE makes it), unless claimed already. */
static void nat_settle(struct daemon *d, struct stream *s)
{
	if (s->held < 0)
		return;
	intent_drop(d, s);
	s->path = ISM_STREAM_TCP;
	s->reason = ISM_SR_OTHER_HOST;
}

static void check_done(struct job *j)
{
	struct check_job *k = (struct check_job *)j;
	struct daemon *d = k->d;
	struct peer *p = k->p;
	struct stream *s = NULL, *l;
	bool served = false, asked = k->job.run == check_ask_run;
	char why[96];

	p->jobs--;
	if (!(p->flags & PEER_DEAD))
		s = own_stream(d, p, k->sid);
	if (!s || !k->ran) {
		check_answer(d, k, k->ran ? -ECONNRESET : -EINTR, NULL);
		return;
	}
	if (!s->nat || s->held < 0) {
		/* Claimed by a proof meanwhile, or settled. */
		check_answer(d, k, 0, s);
		return;
	}
	if (!asked) {
		if (k->err < 0) {
			snprintf(why, sizeof(why), "no destination NAT: %s",
				 strerror(-k->err));
		} else if (!same_end(&k->reply.dst, &s->local)) {
			/* Its server sees another address than the one
			 * keyed (a source NAT too): nothing to match. */
			snprintf(why, sizeof(why), "a source NAT too");
		} else if (served_here(d, &k->reply.src)) {
			served = true;
		} else {
			asks_snapshot(d, p, &k->asks, k->reply.src.port,
				      own_netns);
			if (k->asks.n) {
				check_submit(k, check_ask_run);
				return;
			}
			snprintf(why, sizeof(why),
				 "no ism listener on its NAT's target");
		}
	} else {
		l = k->asks.found ? ism_map_get(&d->streams.listeners_by_cookie,
						k->asks.found, 0)
				  : NULL;
		served = l && l->nsfd >= 0;
		snprintf(why, sizeof(why),
			 "no ism listener on its NAT's target%s%s",
			 k->asks.err ? ": " : "",
			 k->asks.err ? strerror(-k->asks.err) : "");
	}
	s->checked = true;
	if (served) {
		s->reason = ISM_SR_NONE;
		ismd_log(L_DEBUG,
			 "stream %llu: destination NAT to a listener's "
			 "address: pending",
			 (unsigned long long)s->id);
	} else if (s->proofs_on) {
		/* A proof reads its socket now (TCP_REPAIR): the answer
		 * waits for the proofs to end (check_resume), as a RESOLVE
		 * would. */
		ismd_log(L_DEBUG, "stream %llu: %s: after its proofs",
			 (unsigned long long)s->id, why);
		s->check_wait = k;
		p->jobs++; /* paused, and kept, until then */
		return;
	} else {
		ismd_log(L_DEBUG, "stream %llu: %s: TCP",
			 (unsigned long long)s->id, why);
		nat_settle(d, s);
	}
	check_answer(d, k, 0, s);
}

/* The proofs that held NAT intent @c's CHECK answer ended: claimed, or
 * TCP for good. */
static void check_resume(struct daemon *d, struct stream *c)
{
	struct check_job *k = c->check_wait;

	c->check_wait = NULL;
	c->owner->jobs--;
	nat_settle(d, c);
	check_answer(d, k, 0, c);
}

int op_stream_check(struct daemon *d, struct peer *p, struct req *rq)
{
	struct stream *s = get_own(d, p, rq);
	struct check_job *k;

	if (!s || s->role != ISM_STREAM_CLIENT)
		return -ENOENT;
	if (!s->nat || s->held < 0 || s->checked) {
		put_rep(&rq->out, s); /* nothing to look at (again) */
		return 0;
	}
	if (s->checking)
		return -EBUSY;
	k = calloc(1, sizeof(*k));
	if (k && acct_charge(p->acct, ACCT_FDS, 1) == 0) {
		k->hfd = fcntl(s->held, F_DUPFD_CLOEXEC, 0);
		if (k->hfd < 0)
			acct_uncharge(p->acct, ACCT_FDS, 1);
	} else if (k) {
		k->hfd = -1;
	}
	if (k && k->hfd < 0) {
		free(k);
		k = NULL;
	}
	if (!k) {
		/* Never an error for a live record (its client would take
		 * it for a lost ismd): TCP, unless a proof is reading its
		 * socket (then pending: the RESOLVE settles).  (No memory,
		 * or no fd left in its uid's share.) */
		if (!s->proofs_on)
			nat_settle(d, s);
		put_rep(&rq->out, s);
		return 0;
	}
	k->d = d;
	k->p = p;
	k->seq = rq->hdr.seq;
	k->sid = s->id;
	k->nsfd = -1;
	k->orig.src = s->local;
	k->orig.dst = s->remote;
	/* SIOCGSKNS takes no socket lock: on the loop. */
	if (s->netns != own_netns && acct_charge(p->acct, ACCT_FDS, 1) == 0 &&
	    (k->nsfd = xns_netns_of(s->held)) < 0) {
		acct_uncharge(p->acct, ACCT_FDS, 1);
		k->nsfd = -1;
	}
	s->checking = true;
	check_submit(k, check_lookup_run);
	return ISMD_ASYNC;
}

int op_stream_update(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_stream_update_req *req = rq->in;
	struct stream *s;

	if (!(s = own_stream(d, p, req->id)) || s->role == ISM_STREAM_LISTENER)
		return -ENOENT;
	/* A peer may only give up shared memory, never claim it. */
	if (req->path == ISM_STREAM_SHM && s->path != ISM_STREAM_SHM)
		return -EPERM;
	intent_drop(d, s);
	s->path = req->path;
	s->reason = req->reason;
	return 0;
}

int op_stream_close(struct daemon *d, struct peer *p, struct req *rq)
{
	struct stream *s = get_own(d, p, rq);

	if (!s)
		return -ENOENT;
	stream_free(d, s);
	return 0;
}

/* ---- LIST ---- */

/* A page of what @p may see: an administrator everything (walked in id
 * order from the cursor), anyone else its own records and their claimed
 * counterparts - whatever else ismd holds costs it nothing. */
static int collect(struct daemon *d, struct peer *p, struct page *pg)
{
	if (p->flags & PEER_ADMIN) {
		struct ism_list *pos = page_resume(
			&d->streams.all, &d->streams.by_id, pg->cursor,
			offsetof(struct stream, all_link),
			offsetof(struct stream, id));

		for (; pos != &d->streams.all && pg->n < pg->cap;
		     pos = pos->next)
			page_offer(pg, ism_container_of(pos, struct stream,
							all_link)
					       ->id);
		return 0;
	}
	for (struct ism_list *pos = p->streams.next; pos != &p->streams;
	     pos = pos->next) {
		struct stream *s =
			ism_container_of(pos, struct stream, peer_link);

		page_offer(pg, s->id);
		if (s->counterpart)
			page_offer(pg, s->counterpart->id);
	}
	return 0;
}

int op_list_streams(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req = rq->in;
	struct ism_stream_info *e;
	struct page pg;
	uint64_t now = ism_now_ns(), next;
	uint32_t k;

	if (req->region)
		return -EINVAL;
	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	collect(d, p, &pg);
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct stream *s = ism_map_get(&d->streams.by_id, pg.ids[i], 0);

		e[i].id = s->id;
		e[i].peer = s->owner->id;
		e[i].partner = s->partner;
		e[i].role = s->role;
		e[i].path = s->path;
		e[i].reason = s->reason;
		e[i].age_ns = now - s->created_ns;
		e[i].local = s->local;
		e[i].remote = s->remote;
	}
	ism_proto_put_streams_rep(&rq->out, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}
