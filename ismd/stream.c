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
 */
#include "ismd.h"

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

#define STREAM_PER_PEER_MAX 65536u
#define INTENT_PER_PEER_MAX 4096u
#define LISTENER_PER_PEER_MAX 256u

struct stream {
	uint64_t id;
	struct peer *owner;
	uint64_t partner;
	uint32_t role, path, reason;
	uint64_t netns;
	struct ism_stream_addr local, remote;
	int held; /* a pending client intent: its socket, or -1 */
	uint64_t created_ns;
	struct ism_list peer_link; /* peer.streams */
	struct ism_list all_link;  /* daemon.streams or daemon.listeners */
};

void stream_init(struct daemon *d)
{
	ism_list_init(&d->streams);
	ism_list_init(&d->listeners);
	ism_map_init(&d->stream_by_id);
	ism_map_init(&d->intent_by_addr);
}

void stream_fini(struct daemon *d)
{
	ism_map_free(&d->stream_by_id);
	ism_map_free(&d->intent_by_addr);
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

/* The fd must be a TCP socket; its namespace cookie in *@netns. */
static int check_tcp(int fd, uint64_t *netns)
{
	struct stat st;
	int dom = 0, type = 0, proto = 0;
	socklen_t l1 = sizeof(dom), l2 = sizeof(type), l3 = sizeof(proto),
		  l4 = sizeof(*netns);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
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

/* The intent map key: the namespace, and the address folded to 64 bits
 * (the map's hash is keyed; collisions are caught by a full compare). */
static uint64_t addr_key(const struct ism_stream_addr *a)
{
	uint64_t x = (uint64_t)a->family << 48 | (uint64_t)a->port << 32;
	uint64_t w[2];

	memcpy(w, a->addr, 16);
	return x ^ w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ a->scope_id;
}

/* ---- records ---- */

static struct stream *stream_new(struct daemon *d, struct peer *p,
				 uint32_t role)
{
	struct stream *s;

	if (p->n_streams >= STREAM_PER_PEER_MAX ||
	    (role == ISM_STREAM_LISTENER &&
	     p->n_listeners >= LISTENER_PER_PEER_MAX))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = ++d->next_stream;
	s->owner = p;
	s->role = role;
	s->held = -1;
	s->created_ns = ism_now_ns();
	if (ism_map_put(&d->stream_by_id, s->id, 0, s) < 0) {
		free(s);
		return NULL;
	}
	ism_list_add_tail(&p->streams, &s->peer_link);
	if (role == ISM_STREAM_LISTENER) {
		ism_list_add_tail(&d->listeners, &s->all_link);
		p->n_listeners++;
	} else {
		ism_list_add_tail(&d->streams, &s->all_link);
	}
	p->n_streams++;
	d->n_streams++;
	return s;
}

/* Drop a pending intent: the kept socket is closed, the key freed. */
static void intent_drop(struct daemon *d, struct stream *s)
{
	if (s->held < 0)
		return;
	ism_map_del(&d->intent_by_addr, s->netns, addr_key(&s->local));
	ism_close_fd(&s->held);
	s->owner->n_intents--;
}

static void stream_free(struct daemon *d, struct stream *s)
{
	intent_drop(d, s);
	ism_map_del(&d->stream_by_id, s->id, 0);
	ism_list_del(&s->peer_link);
	ism_list_del(&s->all_link);
	s->owner->n_streams--;
	if (s->role == ISM_STREAM_LISTENER)
		s->owner->n_listeners--;
	d->n_streams--;
	free(s);
}

void stream_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &p->streams)
		stream_free(d, ism_container_of(pos, struct stream, peer_link));
}

static struct stream *own_stream(struct daemon *d, struct peer *p, uint64_t id)
{
	struct stream *s = ism_map_get(&d->stream_by_id, id, 0);

	return s && s->owner == p ? s : NULL;
}

static int reply(struct daemon *d, struct peer *p, uint16_t type, uint32_t seq,
		 const struct stream *s)
{
	struct ism_stream_rep rep = {
		.id = s->id, .partner = s->partner,
		.path = s->path, .reason = s->reason,
	};
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, 0);
	ism_proto_put_stream_rep(&b, &rep);
	n = ism_proto_end(&b);
	if (n < 0)
		return n;
	peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

static int reply_empty(struct daemon *d, struct peer *p, uint16_t type,
		       uint32_t seq)
{
	struct ism_wbuf b;
	int n;

	if (d->noreply)
		return 0;
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, 0);
	n = ism_proto_end(&b);
	if (n < 0)
		return n;
	peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

/* ---- OPEN ---- */

static bool listener_serves(struct daemon *d, uint64_t netns,
			    const struct ism_stream_addr *dst)
{
	for (struct ism_list *pos = d->listeners.next; pos != &d->listeners;
	     pos = pos->next) {
		struct stream *l = ism_container_of(pos, struct stream, all_link);

		if (l->netns != netns || l->local.port != dst->port)
			continue;
		/* An exact address, or a wildcard: a v6 wildcard also takes
		 * IPv4 unless IPV6_V6ONLY (then the client just times out). */
		if (addr_eq(&l->local, dst) ||
		    (addr_any(&l->local) &&
		     (l->local.family == dst->family ||
		      l->local.family == AF_INET6)))
			return true;
	}
	return false;
}

static int open_listener(struct stream *s, int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		return -EINVAL;
	s->path = ISM_STREAM_PENDING; /* "not applicable" for a listener */
	return sock_name(fd, false, &s->local);
}

static int open_client(struct daemon *d, struct peer *p, struct stream *s,
		       const struct ism_stream_open_req *req, int *fd)
{
	struct ism_stream_addr dst = req->dst;
	int r;

	s->remote = dst;
	s->path = ISM_STREAM_TCP;
	if (req->reason) {
		/* Already on TCP (another host, say): a record to list. */
		s->reason = req->reason;
		(void)sock_name(*fd, false, &s->local);
		return 0;
	}
	if ((r = sock_name(*fd, false, &s->local)) < 0)
		return r;
	if (s->local.port == 0)
		return -EINVAL; /* must be bound: its port is the key */
	if (dst.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)dst.addr)) {
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
	if (ism_map_put(&d->intent_by_addr, s->netns, addr_key(&s->local),
			s) < 0) {
		/* Another pending socket with this local address (or a
		 * fold collision): this one stays on TCP. */
		s->reason = ISM_SR_ERROR;
		return 0;
	}
	s->path = ISM_STREAM_PENDING;
	s->held = *fd;
	*fd = -1;
	p->n_intents++;
	return 0;
}

static void open_server(struct daemon *d, struct peer *p, struct stream *s)
{
	struct stream *c;
	struct ism_stream_addr mine;

	s->path = ISM_STREAM_TCP;
	s->reason = ISM_SR_PEER_NOT_ISM;
	c = ism_map_get(&d->intent_by_addr, s->netns, addr_key(&s->remote));
	if (!c || c->held < 0 || !addr_eq(&c->local, &s->remote))
		return;
	/* The kept client socket must be connected to this very socket. */
	if (sock_name(c->held, true, &mine) < 0 || !addr_eq(&mine, &s->local))
		return;
	intent_drop(d, c);
	c->path = ISM_STREAM_SHM;
	c->partner = p->id;
	s->path = ISM_STREAM_SHM;
	s->reason = ISM_SR_NONE;
	s->partner = c->owner->id;
}

int op_stream_open(struct daemon *d, struct peer *p, uint32_t seq,
		   struct ism_rbuf *rb, int *fds, unsigned nfds)
{
	struct ism_stream_open_req req;
	struct stream *s;
	uint64_t netns;
	int r;

	if ((r = ism_proto_get_stream_open_req(rb, &req)) < 0)
		return r;
	if (nfds != 1)
		return -EBADMSG;
	if ((r = check_tcp(fds[0], &netns)) < 0)
		return r;
	s = stream_new(d, p, req.role);
	if (!s)
		return -EDQUOT;
	s->netns = netns;
	switch (req.role) {
	case ISM_STREAM_LISTENER:
		r = open_listener(s, fds[0]);
		break;
	case ISM_STREAM_CLIENT:
		r = open_client(d, p, s, &req, &fds[0]);
		break;
	default:
		if ((r = sock_name(fds[0], false, &s->local)) < 0 ||
		    (r = sock_name(fds[0], true, &s->remote)) < 0)
			break;
		open_server(d, p, s);
		break;
	}
	if (r < 0) {
		stream_free(d, s);
		return r;
	}
	return reply(d, p, ISM_MSG_STREAM_OPEN, seq, s);
}

/* ---- RESOLVE / UPDATE / CLOSE ---- */

/* A request naming one of @p's records by id. */
static int get_own(struct daemon *d, struct peer *p, struct ism_rbuf *rb,
		   struct stream **s)
{
	uint64_t id;
	int r = ism_proto_get_region_req(rb, &id);

	if (r < 0)
		return r;
	return (*s = own_stream(d, p, id)) ? 0 : -ENOENT;
}

int op_stream_resolve(struct daemon *d, struct peer *p, uint32_t seq,
		      struct ism_rbuf *rb, unsigned nfds)
{
	struct stream *s;
	int r;

	(void)nfds;
	if ((r = get_own(d, p, rb, &s)) < 0)
		return r;
	if (s->role != ISM_STREAM_CLIENT)
		return -ENOENT;
	if (s->held >= 0) {
		/* Not claimed in time: TCP for good.  The server's claim
		 * cannot succeed from now on. */
		intent_drop(d, s);
		s->path = ISM_STREAM_TCP;
		s->reason = ISM_SR_TIMEOUT;
	}
	return reply(d, p, ISM_MSG_STREAM_RESOLVE, seq, s);
}

int op_stream_update(struct daemon *d, struct peer *p, uint32_t seq,
		     struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_stream_update_req req;
	struct stream *s;
	int r;

	(void)nfds;
	if ((r = ism_proto_get_stream_update_req(rb, &req)) < 0)
		return r;
	if (!(s = own_stream(d, p, req.id)) || s->role == ISM_STREAM_LISTENER)
		return -ENOENT;
	/* A peer may only give up shared memory, never claim it. */
	if (req.path == ISM_STREAM_SHM && s->path != ISM_STREAM_SHM)
		return -EPERM;
	intent_drop(d, s);
	s->path = req.path;
	s->reason = req.reason;
	return reply_empty(d, p, ISM_MSG_STREAM_UPDATE, seq);
}

int op_stream_close(struct daemon *d, struct peer *p, uint32_t seq,
		    struct ism_rbuf *rb, unsigned nfds)
{
	struct stream *s;
	int r;

	(void)nfds;
	if ((r = get_own(d, p, rb, &s)) < 0)
		return r;
	stream_free(d, s);
	return reply_empty(d, p, ISM_MSG_STREAM_CLOSE, seq);
}

/* ---- LIST ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void collect(struct ism_list *head, struct peer *p, uint64_t cursor,
		    uint64_t *ids, size_t *n)
{
	for (struct ism_list *pos = head->next; pos != head; pos = pos->next) {
		struct stream *s = ism_container_of(pos, struct stream, all_link);

		if (s->id > cursor &&
		    ((p->flags & PEER_ADMIN) || s->owner == p ||
		     s->partner == p->id))
			ids[(*n)++] = s->id;
	}
}

int op_list_streams(struct daemon *d, struct peer *p, uint32_t seq,
		    struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_list_req req;
	struct ism_stream_info *e;
	struct ism_wbuf b;
	uint64_t *ids, now = ism_now_ns();
	size_t n = 0;
	uint32_t k;
	int r;

	(void)nfds;
	if ((r = ism_proto_get_list_req(rb, &req)) < 0)
		return r;
	if (req.region)
		return -EINVAL;
	ids = calloc(d->n_streams + 1, sizeof(*ids));
	e = calloc(req.max, sizeof(*e));
	if (!ids || !e) {
		free(ids);
		free(e);
		return -ENOMEM;
	}
	collect(&d->listeners, p, req.cursor, ids, &n);
	collect(&d->streams, p, req.cursor, ids, &n);
	qsort(ids, n, sizeof(*ids), cmp_u64);
	k = (uint32_t)ISM_MIN(n, (size_t)req.max);
	for (uint32_t i = 0; i < k; i++) {
		struct stream *s = ism_map_get(&d->stream_by_id, ids[i], 0);

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
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_LIST_STREAMS,
			ISM_WIRE_F_REPLY, seq, 0);
	ism_proto_put_streams_rep(&b, n > k ? ids[k - 1] : 0, e, k);
	free(ids);
	free(e);
	if ((r = ism_proto_end(&b)) < 0)
		return r;
	peer_send(d, p, (size_t)r, NULL, 0, false);
	return 0;
}
