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
 */
#include "ismd.h"
#include "page.h"
#include "sockdiag.h"

#include <errno.h>
#include <netinet/in.h>
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
#define STREAM_COST	      (sizeof(struct stream) + 128u)

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
	int held;	      /* a pending client intent: its socket, or -1 */
	struct stream *chain; /* same intent key, or same listener port */
	uint64_t created_ns;
	struct ism_list peer_link; /* peer.streams (id order) */
	struct ism_list all_link;  /* daemon.streams (id order) */
};

static uint64_t own_netns;

void stream_init(struct daemon *d)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(own_netns);

	ism_list_init(&d->streams.all);
	ism_map_init(&d->streams.by_id);
	ism_map_init(&d->streams.intents);
	ism_map_init(&d->streams.listeners_by_port);
	ism_map_init(&d->streams.listeners_by_cookie);
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
	sockdiag_close();
}

/* ---- addresses, from the kernel ---- */

static bool addr_eq(const struct ism_stream_addr *a,
		    const struct ism_stream_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->scope_id == b->scope_id && !memcmp(a->addr, b->addr, 16);
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
		c = c->chain;
	return c;
}

/* Chain @s into map @m under (@a, @b). */
static int chain_add(struct ism_map *m, uint64_t a, uint64_t b,
		     struct stream *s)
{
	struct stream *head = ism_map_get(m, a, b);
	int r;

	if (head) {
		s->chain = head->chain;
		head->chain = s;
		return 0;
	}
	s->chain = NULL;
	r = ism_map_put(m, a, b, s);
	return r;
}

static void chain_del(struct ism_map *m, uint64_t a, uint64_t b,
		      struct stream *s)
{
	struct stream *head = ism_map_get(m, a, b), **pp;

	if (head == s) {
		ism_map_del(m, a, b);
		if (s->chain)
			ism_map_put(m, a, b, s->chain); /* a slot just freed */
		s->chain = NULL;
		return;
	}
	for (pp = head ? &head->chain : NULL; pp && *pp; pp = &(*pp)->chain)
		if (*pp == s) {
			*pp = s->chain;
			s->chain = NULL;
			return;
		}
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
	chain_del(&d->streams.intents, s->netns, addr_key(&s->local), s);
	closer_put(s->held, s->owner->acct);
	s->held = -1;
	s->owner->n_intents--;
}

static void listener_unindex(struct daemon *d, struct stream *s)
{
	if (s->role != ISM_STREAM_LISTENER || !s->cookie)
		return;
	chain_del(&d->streams.listeners_by_port, s->netns, s->local.port, s);
	if (ism_map_get(&d->streams.listeners_by_cookie, s->cookie, 0) == s)
		ism_map_del(&d->streams.listeners_by_cookie, s->cookie, 0);
	s->cookie = 0;
}

static void stream_free(struct daemon *d, struct stream *s)
{
	intent_drop(d, s);
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
	     l; l = l->chain) {
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
	     l; l = l->chain) {
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
 * What the kernel says of an opener's socket.  getsockname() and
 * getpeername() take the socket's lock, which its owner can hold for as
 * long as it likes (a send() copying from a page that never arrives), so
 * they are asked on a worker thread: a peer that blocks them stalls only
 * its own request (and, once its job counts as stuck, its uid's other
 * jobs: worker.h), never the loop.  The rest runs on the loop when the
 * answer is in.
 */
struct open_job {
	struct job job;
	struct daemon *d;
	struct peer *p;
	uint32_t seq;
	int fd;
	uint64_t netns;
	struct ism_stream_open_req req;
	/* From the worker: */
	bool ran;
	int err_local, err_remote;
	struct ism_stream_addr local, remote;
	bool listening, v6only;
};

#define OPEN_LIMIT_MS 200u

static void open_run(struct job *j)
{
	struct open_job *o = (struct open_job *)j;
	int on = 0, v6only = 0;
	socklen_t len = sizeof(on), l2 = sizeof(v6only);

	o->ran = true;
	o->err_local = sock_name(o->fd, false, &o->local);
	if (o->req.role == ISM_STREAM_SERVER)
		o->err_remote = sock_name(o->fd, true, &o->remote);
	if (o->req.role != ISM_STREAM_LISTENER)
		return;
	o->listening =
		getsockopt(o->fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
		on;
	if (o->local.family == AF_INET6 &&
	    getsockopt(o->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l2) == 0)
		o->v6only = v6only != 0;
}

static int open_listener(struct daemon *d, struct stream *s,
			 const struct open_job *o)
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
	/* Another record for the same socket (registered twice): one in
	 * the cookie map is enough to find the socket. */
	if (!ism_map_get(&d->streams.listeners_by_cookie, s->cookie, 0) &&
	    ism_map_put(&d->streams.listeners_by_cookie, s->cookie, 0, s) < 0)
		return -ENOMEM;
	if (chain_add(&d->streams.listeners_by_port, s->netns, s->local.port,
		      s) < 0) {
		if (ism_map_get(&d->streams.listeners_by_cookie, s->cookie,
				0) == s)
			ism_map_del(&d->streams.listeners_by_cookie, s->cookie,
				    0);
		s->cookie = 0;
		return -ENOMEM;
	}
	return 0;
}

static int open_client(struct daemon *d, struct peer *p, struct stream *s,
		       struct open_job *o)
{
	struct ism_stream_addr dst = o->req.dst;

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
	if (!listener_serves(d, s->netns, &dst)) {
		s->reason = ISM_SR_PEER_NOT_ISM;
		return 0;
	}
	if (p->n_intents >= INTENT_PER_PEER_MAX) {
		s->reason = ISM_SR_QUOTA;
		return 0;
	}
	s->cookie = sockdiag_cookie(o->fd);
	if (!s->cookie || intent_find(d, s->netns, &s->local) ||
	    chain_add(&d->streams.intents, s->netns, addr_key(&s->local), s) <
		    0) {
		/* Another pending socket with this very address (the
		 * kernel allows it only with SO_REUSEPORT, for the same
		 * uid): this one stays on TCP. */
		s->cookie = 0;
		s->reason = ISM_SR_ERROR;
		return 0;
	}
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

static void open_server(struct daemon *d, struct peer *p, struct stream *s)
{
	struct stream *c;

	s->path = ISM_STREAM_TCP;
	s->reason = ISM_SR_PEER_NOT_ISM;
	c = intent_find(d, s->netns, &s->remote);
	if (!c || c->held < 0)
		return;
	/* The kept client socket must be connected to this very socket. */
	if (!held_is_peer_of(c, &s->local))
		return;
	intent_drop(d, c);
	c->path = ISM_STREAM_SHM;
	c->partner = p->id;
	s->path = ISM_STREAM_SHM;
	s->reason = ISM_SR_NONE;
	s->partner = c->owner->id;
	c->counterpart = s;
	s->counterpart = c;
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
		open_server(d, p, s);
		break;
	}
	if (r < 0) {
		stream_free(d, s);
		return r;
	}
	*out = s;
	return 0;
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
	if (r == 0) {
		struct ism_wbuf b;

		req_begin_later(d, &b, ISM_MSG_STREAM_OPEN, o->seq);
		put_rep(&b, s);
		req_send_later(d, p, &b, NULL, 0);
	} else if (!(p->flags & PEER_DEAD)) {
		peer_send_error(d, p, ISM_MSG_STREAM_OPEN, o->seq, r);
	}
	if (o->fd >= 0)
		closer_put(o->fd, p->acct);
	peer_async_done(d, p);
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
	rq->fds[0] = -1; /* ours now, still charged to the peer */
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
