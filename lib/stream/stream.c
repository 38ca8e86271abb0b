/* SPDX-License-Identifier: MIT */
/*
 * stream - TCP connections that move onto a channel (include/ism/stream.h).
 *
 * The path is decided once per connection:
 *
 *   client                         ismd                    server
 *   bind(dst addr, 0)
 *   OPEN(CLIENT, dst, socket) ---> ism listener there?
 *                                  yes: keep the socket
 *   connect() ---------------------------------------------> accept()
 *                                  the two sockets match <--- OPEN(SERVER,
 *                                  -> claimed                   socket)
 *                            <---------- server offer (TCP) --- create chan
 *   RESOLVE --------------------->  claimed by S
 *   create chan, attach S's
 *   client answer (TCP) -----------------------------------> attach C's
 *                            <--------- confirm (TCP) ----------
 *
 * The server writes first only after ismd proved the client is an ism
 * stream that will read the offer, and the client reads it only after
 * ismd said the server claimed it; a RESOLVE before any claim makes the
 * claim impossible, so a slow server and an impatient client agree on TCP.
 * A destination no listener has (another host, or a service address that
 * a NAT rewrites) is answered "pending, other host": once connected, the
 * client sends CHECK, and ismd looks where the kernel sent the connection
 * (conntrack) before it keeps the client waiting for an offer.
 * Each handshake message carries a status: any side that cannot set up
 * its half says why and both stay on TCP.  Nothing moves on the channel before the
 * server's confirm, so a failure anywhere in the handshake is a clean
 * fallback; only a malformed message or a vanished peer breaks the
 * connection.
 *
 * On shared memory each send is cut into channel messages of at most
 * CHUNK bytes; recv copies out of the message in place (peek), keeping a
 * partly read one for the next call, so bytes are copied once each way.
 */
#include "chan/chan.h"
#include "client/client.h"
#include "handshake.h"
#include "util/util.h"

#include <ism/stream.h>

#include <errno.h>
#include <linux/sockios.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (32u * 1024u)
/* Zero-copy sends: the most one reservation hands out (larger ones fill
 * the ring in fewer, longer steps than the receiver can overlap), and the
 * least it waits for when the ring is fuller than that. */
#define ZC_MAX (64u * 1024u)
#define ZC_MIN (4u * 1024u)
/* The TCP path's buffers behind peek and reserve. */
#define TCP_ZBUF (64u * 1024u)

struct ism_stream_listener {
	struct ism_conn *c;
	int fd;
	uint64_t id;
	uint32_t gen;
	int port;
	struct ism_stream_opts opts;
};

struct ism_stream {
	struct ism_conn *c;
	int sock;
	int ep; /* ism_stream_fd() */
	uint64_t id;
	uint32_t gen;
	uint64_t partner;
	_Atomic int path;
	int reason;
	struct ism_chan *ch;
	struct ism_stream_opts opts;
	uint64_t hs_deadline; /* server: when the client's answer is overdue */
	pthread_mutex_t hs_lock;
	/* receive side (receiving thread) */
	const uint8_t *rx_p;
	size_t rx_len, rx_off;
	bool rx_held, rd_shut, eof;
	int rx_err;
	/* TCP path, zero-copy receive: bytes read, not yet released */
	uint8_t *rbuf;
	size_t rb_off, rb_len;
	/* send side (sending thread) */
	bool wr_shut;
	size_t zc_resv; /* room handed out by ism_stream_reserve(), 0: none */
	/* TCP path, zero-copy send: [wb_off, wb_len) committed, not yet
	 * taken by the socket (ISM_F_DONTWAIT) */
	uint8_t *wbuf;
	size_t wb_off, wb_len;
	/* TCP path: what ep watches; the socket joins ep only when someone
	 * may wait on it (ism_stream_fd(), -EAGAIN): an epoll watch costs
	 * every wake-up of the socket a callback, for blocking users too. */
	_Atomic uint32_t want;
	atomic_bool sock_in_ep;
};

/* ---- small helpers ---- */

/* The caller's options (openat2's rule: ism_opts_copy()), defaults filled
 * in.  Returns 0, -EINVAL or -E2BIG. */
static int opts_fill(struct ism_stream_opts *o,
		     const struct ism_stream_opts *in)
{
	int r = ism_opts_copy(o, sizeof(*o),
			      ISM_OPTS_SIZE_VER0(struct ism_stream_opts, name),
			      in);

	if (r < 0)
		return r;
	if (!o->ring_size)
		o->ring_size = ISM_STREAM_RING_DEFAULT;
	if (o->handshake_ms <= 0)
		o->handshake_ms = ISM_STREAM_HANDSHAKE_MS_DEFAULT;
	if (o->backlog <= 0)
		o->backlog = ISM_STREAM_BACKLOG_DEFAULT;
	return 0;
}

const char *ism_stream_reason_name(int reason)
{
	switch (reason) {
	case ISM_SR_NONE: return "none";
	case ISM_SR_PEER_NOT_ISM: return "peer not ism";
	case ISM_SR_OTHER_HOST: return "other host";
	case ISM_SR_NO_ISMD: return "ismd unreachable";
	case ISM_SR_QUOTA: return "quota";
	case ISM_SR_TIMEOUT: return "handshake timeout";
	case ISM_SR_REFUSED: return "refused by peer";
	case ISM_SR_DISABLED: return "disabled";
	case ISM_SR_ERROR: return "setup error";
	case ISM_SR_SAME_CONN: return "same ism_conn";
	default: return "unknown";
	}
}

const char *ism_stream_path_name(int path)
{
	switch (path) {
	case ISM_STREAM_PENDING: return "pending";
	case ISM_STREAM_SHM: return "shm";
	case ISM_STREAM_TCP: return "tcp";
	default: return "unknown";
	}
}

/*
 * The one errno -> reason mapping: why a side could not set up its half.
 * Limits are "quota", a lost ismd is "ismd unreachable", anything else is
 * @other (ISM_SR_ERROR when making our half, ISM_SR_REFUSED when the
 * other side's half would not attach).
 */
static int reason_of(int err, int other)
{
	switch (err) {
	case -EDQUOT:
	case -ENOSPC:
	case -ENOMEM:
	case -EMFILE:
	case -ENFILE: return ISM_SR_QUOTA;
	case -ENOTCONN:
	case -ECONNRESET:
	case -EPIPE:
	case -ETIMEDOUT: return ISM_SR_NO_ISMD;
	default: return other;
	}
}

static int deadline_left_ms(uint64_t deadline)
{
	uint64_t now = ism_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* Wait for @events on @fd until @deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, deadline_left_ms(deadline));

		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Read exactly @n bytes by @deadline (handshake messages only). */
static int read_exact(int fd, void *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r =
			recv(fd, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* ---- handshake messages ---- */

static int hs_send(struct ism_stream *s, uint32_t kind, uint32_t status)
{
	struct hs_msg h = { .kind = kind,
			    .status = status,
			    .ring_size = s->opts.ring_size,
			    .peer = ism_conn_peer_id(s->c) };
	uint8_t b[HS_SIZE];
	ssize_t n;

	ism_conn_host_id(s->c, &h.host);
	if (!status && kind != HS_CONFIRM)
		ism_chan_token(s->ch, &h.token);
	hs_encode(b, &h);
	/* A fresh connection's send buffer takes 64 bytes at once. */
	n = send(s->sock, b, sizeof(b), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(b))
		return 0;
	return n < 0 ? -errno : -EIO;
}

/* ---- the stream object ---- */

static struct ism_stream *stream_alloc(struct ism_conn *c, int sock,
				       const struct ism_stream_opts *o)
{
	struct ism_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->c = c;
	s->sock = sock;
	s->opts = *o;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	atomic_init(&s->path, ISM_STREAM_TCP);
	atomic_init(&s->want, EPOLLIN);
	atomic_init(&s->sock_in_ep, false);
	if (s->ep < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->hs_lock, NULL);
	if (!(o->flags & ISM_STREAM_NO_NODELAY)) {
		int one = 1;

		setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return s;
}

/* Put the TCP socket into ep (once), watching s->want. */
static void watch_sock(struct ism_stream *s)
{
	struct epoll_event ev = { .events = atomic_load(&s->want),
				  .data.fd = s->sock };

	if (!atomic_exchange(&s->sock_in_ep, true))
		epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sock, &ev);
}

/* Settle on TCP for @reason; tell ismd (its record). */
static void go_tcp(struct ism_stream *s, int reason)
{
	if (s->ch) {
		ism_chan_close(s->ch);
		s->ch = NULL;
	}
	s->reason = reason;
	atomic_store(&s->path, ISM_STREAM_TCP);
	if (s->c && s->id)
		conn_stream_update(s->c, s->id, s->gen, ISM_STREAM_TCP,
				   (uint32_t)reason);
}

/* Settle on shared memory: ism_stream_fd() follows the channel. */
static void go_shm(struct ism_stream *s)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (atomic_exchange(&s->sock_in_ep, false))
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->sock, NULL);
	ev.data.fd = ism_chan_fd(s->ch);
	epoll_ctl(s->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	s->reason = ISM_SR_NONE;
	atomic_store(&s->path, ISM_STREAM_SHM);
}

static int chan_new(struct ism_stream *s, uint64_t peer)
{
	struct ism_chan_opts co = {
		.size = sizeof(co),
		.ring_size = s->opts.ring_size,
		.spin_us = s->opts.spin_us,
		.peer = peer,
		.name = s->opts.name ? s->opts.name : "ism-stream",
	};

	return ism_chan_create(s->c, &co, &s->ch);
}

/* Free @s; @tell: close its channel and ismd's record (else only this
 * process's copy goes: ism_stream_forget()). */
static void stream_free(struct ism_stream *s, bool tell)
{
	if (!tell) {
		ism_chan_forget(s->ch);
	} else {
		ism_chan_close(s->ch);
		if (s->c && s->id)
			conn_stream_close(s->c, s->id, s->gen);
	}
	close(s->sock);
	close(s->ep);
	pthread_mutex_destroy(&s->hs_lock);
	free(s->rbuf);
	free(s->wbuf);
	free(s);
}

static void stream_destroy(struct ism_stream *s)
{
	stream_free(s, true);
}

/* ---- connect ---- */

/* Bind @fd to the source address the kernel's routes would give a
 * connection to @dst (a connected UDP socket learns it, sending nothing),
 * port 0: a destination in another network namespace of this host (a
 * container's veth peer) is not one of ours, yet ismd may find its ism
 * listener there, and it keys the intent by this address.  Returns 0 or
 * -errno (no route: really elsewhere). */
static int bind_route_source(int fd, const struct sockaddr_storage *dst,
			     socklen_t len)
{
	struct sockaddr_storage me = { 0 };
	socklen_t mlen = sizeof(me);
	int u = socket(dst->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (u < 0)
		return -errno;
	if (connect(u, (const struct sockaddr *)dst, len) < 0 ||
	    getsockname(u, (struct sockaddr *)&me, &mlen) < 0)
		r = -errno;
	close(u);
	if (r < 0)
		return r;
	if (me.ss_family == AF_INET)
		((struct sockaddr_in *)&me)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&me)->sin6_port = 0;
	return bind(fd, (struct sockaddr *)&me, mlen) < 0 ? -errno : 0;
}

/* The client's side after connect(): wait for the server's offer or for
 * the handshake time, then ask ismd which it is. */
static int client_handshake(struct ism_stream *s)
{
	uint64_t deadline =
		ism_now_ns() + (uint64_t)s->opts.handshake_ms * 1000000ull;
	struct ism_host_id host;
	struct ism_stream_rep rep;
	struct hs_msg h;
	uint8_t b[HS_SIZE];
	int r, status = 0;

	r = wait_fd(s->sock, POLLIN, deadline);
	if (r < 0)
		return r;
	r = conn_stream_resolve(s->c, s->id, s->gen, &rep);
	if (r < 0) {
		/* ismd went away: whether the server claimed us is unknown,
		 * so this connection cannot be trusted either way. */
		return -ECONNABORTED;
	}
	if (rep.path != ISM_STREAM_SHM) {
		s->reason = (int)rep.reason;
		return 0; /* TCP; ismd already recorded why */
	}
	/* Claimed: the server's offer comes first on the connection. */
	s->partner = rep.partner;
	ism_conn_host_id(s->c, &host);
	if ((r = read_exact(s->sock, b, sizeof(b), deadline)) < 0)
		return r == -ETIMEDOUT ? -ETIMEDOUT : r;
	if (hs_decode(b, &h, HS_OFFER, &host, s->partner) < 0)
		return -EPROTO;
	if (h.status) {
		go_tcp(s, (int)h.status);
		return 0;
	}
	if ((r = chan_new(s, s->partner)) < 0)
		status = reason_of(r, ISM_SR_ERROR);
	else if ((r = ism_chan_connect(s->ch, &h.token)) < 0)
		status = reason_of(r, ISM_SR_REFUSED);
	if ((r = hs_send(s, HS_ANSWER, (uint32_t)status)) < 0)
		return r;
	if (status) {
		go_tcp(s, status);
		return 0;
	}
	/* The server attaches ours, then confirms; until then nothing is
	 * sent on the channel, so a failure there is a clean fallback. */
	deadline = ism_now_ns() + (uint64_t)s->opts.handshake_ms * 1000000ull;
	if ((r = read_exact(s->sock, b, sizeof(b), deadline)) < 0)
		return r;
	if (hs_decode(b, &h, HS_CONFIRM, &host, s->partner) < 0)
		return -EPROTO;
	if (h.status)
		go_tcp(s, (int)h.status);
	else
		go_shm(s);
	return 0;
}

static int connect_one(struct ism_conn *c, const struct addrinfo *ai,
		       const struct ism_stream_opts *o, struct ism_stream **out)
{
	struct ism_stream_open_req req = { .role = ISM_STREAM_CLIENT };
	struct sockaddr_storage dst;
	struct ism_stream_rep rep;
	struct ism_stream *s;
	bool candidate = false, check = false;
	int fd, r;

	if (ai->ai_addrlen > sizeof(dst))
		return -EINVAL;
	memcpy(&dst, ai->ai_addr, ai->ai_addrlen);
	/* Connecting to the wildcard means this host: say so explicitly,
	 * so the source address is the destination's. */
	if (dst.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&dst)->sin_addr.s_addr == htonl(INADDR_ANY))
		((struct sockaddr_in *)&dst)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	if (dst.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&dst)->sin6_addr))
		((struct sockaddr_in6 *)&dst)->sin6_addr = in6addr_loopback;
	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	if (!(s = stream_alloc(c, fd, o))) {
		close(fd);
		return -ENOMEM;
	}
	s->reason = (o->flags & ISM_STREAM_TCP_ONLY) ? ISM_SR_DISABLED
		    : !c			     ? ISM_SR_NO_ISMD
						     : ISM_SR_NONE;
	if (!s->reason) {
		/* Binding to the destination's address succeeds only if
		 * it is one of ours (in this namespace): the same host.
		 * Otherwise ismd says whether an ism listener in another
		 * namespace has it (and OTHER_HOST if none). */
		struct sockaddr_storage me = dst;

		if (me.ss_family == AF_INET)
			((struct sockaddr_in *)&me)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&me)->sin6_port = 0;
		/* (Only an ismd that can look into other namespaces is
		 * asked: otherwise the socket is left to connect()'s own
		 * choice of port, which a bind would take for good.) */
		if (bind(fd, (struct sockaddr *)&me, ai->ai_addrlen) < 0)
			s->reason = errno != EADDRNOTAVAIL ? ISM_SR_ERROR
				    : !c || !(conn_caps(c) & ISM_CAP_XNS) ||
						    bind_route_source(
							    fd, &dst,
							    ai->ai_addrlen) < 0
					    ? ISM_SR_OTHER_HOST
					    : ISM_SR_NONE;
	}
	if (c) {
		req.reason = (uint32_t)s->reason;
		ism_proto_addr_from(&req.dst, (struct sockaddr *)&dst);
		r = conn_stream_open(c, &req, fd, &rep, &s->gen);
		if (r == 0) {
			s->id = rep.id;
			candidate = rep.path == ISM_STREAM_PENDING;
			/* Pending, "other host" unless shown otherwise: no
			 * listener has the destination, which a NAT may
			 * rewrite; ismd looks once connected. */
			check = candidate && rep.reason == ISM_SR_OTHER_HOST;
			if (!s->reason && !check)
				s->reason = (int)rep.reason;
		} else if (!s->reason) {
			s->reason = ISM_SR_NO_ISMD;
		}
	}
	for (;;) {
		r = connect(fd, (struct sockaddr *)&dst, ai->ai_addrlen);
		if (r == 0 || errno != EINTR)
			break;
	}
	if (r < 0) {
		r = -errno;
		stream_destroy(s);
		return r;
	}
	if (check) {
		r = conn_stream_check(c, s->id, s->gen, &rep);
		if (r == -ENOMEM || r == -EBUSY || r == -EDQUOT) {
			/* ismd is there but could not look: the RESOLVE
			 * after the handshake time settles it. */
			rep.path = ISM_STREAM_PENDING;
		} else if (r < 0) {
			/* ismd went away: whether a server claimed us is
			 * unknown (as for RESOLVE in client_handshake). */
			stream_destroy(s);
			return -ECONNABORTED;
		}
		if (rep.path == ISM_STREAM_TCP) {
			candidate = false;
			s->reason = (int)rep.reason;
		}
	}
	if (candidate && (r = client_handshake(s)) < 0) {
		stream_destroy(s);
		return r;
	}
	*out = s;
	return 0;
}

int ism_stream_connect(struct ism_conn *c, const char *host, const char *port,
		       const struct ism_stream_opts *opts,
		       struct ism_stream **out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_protocol = IPPROTO_TCP,
				  .ai_flags = AI_ADDRCONFIG };
	struct ism_stream_opts o;
	struct addrinfo *res, *ai;
	int r;

	if (!out || !port)
		return -EINVAL;
	*out = NULL;
	if ((r = opts_fill(&o, opts)) < 0)
		return r;
	r = -ECONNREFUSED;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EINVAL;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		r = connect_one(c, ai, &o, out);
		/* Another address may answer where this one refused. */
		if (r == 0 || (r != -ECONNREFUSED && r != -ENETUNREACH &&
			       r != -EHOSTUNREACH && r != -EADDRNOTAVAIL))
			break;
	}
	freeaddrinfo(res);
	return r;
}

/* ---- listen / accept ---- */

int ism_stream_listen(struct ism_conn *c, const char *host, const char *port,
		      const struct ism_stream_opts *opts,
		      struct ism_stream_listener **out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_protocol = IPPROTO_TCP,
				  .ai_flags = AI_PASSIVE };
	struct ism_stream_listener *l;
	struct sockaddr_storage me = { 0 };
	socklen_t melen = sizeof(me);
	struct addrinfo *res, *ai;
	int r, one = 1;

	if (!out || !port)
		return -EINVAL;
	*out = NULL;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	if ((r = opts_fill(&l->opts, opts)) < 0) {
		free(l);
		return r;
	}
	r = -EADDRNOTAVAIL;
	l->c = c;
	l->fd = -1;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		free(l);
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		l->fd = socket(ai->ai_family,
			       SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			       IPPROTO_TCP);
		if (l->fd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(l->fd, l->opts.backlog) == 0)
			break;
		r = -errno;
		ism_close_fd(&l->fd);
	}
	freeaddrinfo(res);
	if (l->fd < 0) {
		free(l);
		return r;
	}
	if (getsockname(l->fd, (struct sockaddr *)&me, &melen) == 0) {
		struct ism_stream_addr a;

		ism_proto_addr_from(&a, (struct sockaddr *)&me);
		l->port = a.port;
	}
	if (c && !(l->opts.flags & ISM_STREAM_TCP_ONLY)) {
		struct ism_stream_open_req req = {
			.role = ISM_STREAM_LISTENER
		};
		struct ism_stream_rep rep;

		/* Without ismd the listener still serves plain TCP. */
		if (conn_stream_open(c, &req, l->fd, &rep, &l->gen) == 0)
			l->id = rep.id;
	}
	*out = l;
	return 0;
}

int ism_stream_listener_fd(struct ism_stream_listener *l)
{
	return l->fd;
}

int ism_stream_listener_port(struct ism_stream_listener *l)
{
	return l->port;
}

void ism_stream_listener_close(struct ism_stream_listener *l)
{
	if (!l)
		return;
	if (l->c && l->id)
		conn_stream_close(l->c, l->id, l->gen);
	close(l->fd);
	free(l);
}

/* The server's side of a claimed connection: finish with the client's
 * answer.  Lock held.  0 (settled), -EAGAIN (DONTWAIT, not here yet). */
static int server_finish_locked(struct ism_stream *s, int flags)
{
	struct ism_host_id host;
	uint8_t b[HS_SIZE];
	struct hs_msg h;
	ssize_t n;
	int r;

	if (atomic_load(&s->path) != ISM_STREAM_PENDING)
		return 0;
	if (flags & ISM_F_DONTWAIT) {
		n = recv(s->sock, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
		if (((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
		     (n > 0 && n < HS_SIZE)) &&
		    ism_now_ns() < s->hs_deadline) {
			watch_sock(s); /* the answer's arrival wakes ep */
			return -EAGAIN;
		}
	}
	r = read_exact(s->sock, b, sizeof(b), s->hs_deadline);
	ism_conn_host_id(s->c, &host);
	if (r == 0 && hs_decode(b, &h, HS_ANSWER, &host, s->partner) < 0)
		r = -EPROTO;
	if (r == 0 && h.status) {
		go_tcp(s, (int)h.status);
		return 0;
	}
	if (r == 0) {
		int status = 0;

		if ((r = ism_chan_connect(s->ch, &h.token)) < 0)
			status = reason_of(r, ISM_SR_REFUSED);
		if ((r = hs_send(s, HS_CONFIRM, (uint32_t)status)) == 0) {
			if (status)
				go_tcp(s, status);
			else
				go_shm(s);
			return 0;
		}
	}
	/* A broken or hostile handshake: the connection is unusable. */
	go_tcp(s, ISM_SR_ERROR);
	shutdown(s->sock, SHUT_RDWR);
	return r == -ETIMEDOUT || r == -EPROTO ? r : -ECONNRESET;
}

/* Finish a pending handshake before any data call.  Returns 0 or -errno
 * (latched in rx_err so every later call sees it). */
static int settle(struct ism_stream *s, int flags)
{
	int r;

	if (atomic_load_explicit(&s->path, memory_order_acquire) !=
	    ISM_STREAM_PENDING)
		return s->rx_err;
	pthread_mutex_lock(&s->hs_lock);
	r = server_finish_locked(s, flags);
	if (r < 0 && r != -EAGAIN)
		s->rx_err = r;
	pthread_mutex_unlock(&s->hs_lock);
	return r;
}

int ism_stream_accept(struct ism_stream_listener *l, struct ism_stream **out,
		      int flags)
{
	struct ism_stream_open_req req = { .role = ISM_STREAM_SERVER };
	struct ism_stream_rep rep;
	struct ism_stream *s;
	int fd, r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (flags & ISM_F_DONTWAIT)
			return -EAGAIN;
		if ((r = wait_fd(l->fd, POLLIN, UINT64_MAX)) < 0)
			return r;
	}
	if (!(s = stream_alloc(l->c, fd, &l->opts))) {
		close(fd);
		return -ENOMEM;
	}
	s->reason = (l->opts.flags & ISM_STREAM_TCP_ONLY) ? ISM_SR_DISABLED
		    : !l->c				  ? ISM_SR_NO_ISMD
							  : ISM_SR_NONE;
	if (!s->reason) {
		r = conn_stream_open(l->c, &req, fd, &rep, &s->gen);
		if (r < 0) {
			s->reason = ISM_SR_NO_ISMD;
		} else {
			s->id = rep.id;
			s->reason = (int)rep.reason;
			s->partner = rep.partner;
		}
	}
	if (!s->reason) {
		/* Claimed: the client reads our offer first. */
		int status = 0;

		if (s->partner == ism_conn_peer_id(l->c))
			status = ISM_SR_SAME_CONN; /* cannot attach our own */
		else if ((r = chan_new(s, s->partner)) < 0)
			status = reason_of(r, ISM_SR_ERROR);
		if ((r = hs_send(s, HS_OFFER, (uint32_t)status)) < 0) {
			stream_destroy(s);
			return r;
		}
		if (status) {
			go_tcp(s, status);
		} else {
			s->hs_deadline =
				ism_now_ns() +
				(uint64_t)l->opts.handshake_ms * 1000000ull;
			atomic_store(&s->path, ISM_STREAM_PENDING);
			if (!(flags & ISM_F_DONTWAIT) && settle(s, 0) < 0) {
				r = s->rx_err;
				stream_destroy(s);
				return r;
			}
		}
	}
	*out = s;
	return 0;
}

/* ---- data: TCP ---- */

/* Make ep watch what the last -EAGAIN waited for. */
static void tcp_want(struct ism_stream *s, uint32_t set, uint32_t clear)
{
	uint32_t old = atomic_load(&s->want), nw;

	do {
		nw = (old | set) & ~clear;
		if (!nw)
			nw = EPOLLIN;
	} while (nw != old &&
		 !atomic_compare_exchange_weak(&s->want, &old, nw));
	if (set)
		watch_sock(s); /* someone will wait: from now on */
	if (nw != old && atomic_load(&s->sock_in_ep)) {
		struct epoll_event ev = { .events = nw, .data.fd = s->sock };

		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->sock, &ev);
	}
}

/* Send what a DONTWAIT commit left behind: 0 once all is gone, -EAGAIN
 * (DONTWAIT, ep then watches for room), or -errno. */
static int tcp_flush(struct ism_stream *s, int flags)
{
	while (s->wb_off < s->wb_len) {
		ssize_t n = send(
			s->sock, s->wbuf + s->wb_off, s->wb_len - s->wb_off,
			MSG_NOSIGNAL |
				(flags & ISM_F_DONTWAIT ? MSG_DONTWAIT : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			tcp_want(s, EPOLLOUT, 0);
			return -EAGAIN;
		}
		if (n < 0)
			return -errno;
		s->wb_off += (size_t)n;
		if (s->wb_off == s->wb_len)
			tcp_want(s, 0, EPOLLOUT);
	}
	s->wb_off = s->wb_len = 0;
	return 0;
}

/* The same, waiting at most handshake_ms for room (shutdown, close: a
 * peer that reads nothing must not hold them for ever). */
static int tcp_flush_bounded(struct ism_stream *s)
{
	uint64_t deadline =
		ism_now_ns() + (uint64_t)s->opts.handshake_ms * 1000000ull;
	int r;

	while ((r = tcp_flush(s, ISM_F_DONTWAIT)) == -EAGAIN) {
		r = wait_fd(s->sock, POLLOUT, deadline);
		if (r <= 0)
			return r < 0 ? r : -ETIMEDOUT;
	}
	return r;
}

static ssize_t tcp_send(struct ism_stream *s, const struct iovec *iov,
			int iovcnt, int flags)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = (size_t)iovcnt };
	ssize_t n;
	int r;

	/* Bytes committed earlier go first. */
	if (s->wb_off < s->wb_len && (r = tcp_flush(s, flags)) < 0)
		return r;

	do
		n = sendmsg(
			s->sock, &mh,
			MSG_NOSIGNAL |
				(flags & ISM_F_DONTWAIT ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			tcp_want(s, EPOLLOUT, 0);
			return -EAGAIN;
		}
		return -errno;
	}
	tcp_want(s, 0, EPOLLOUT);
	return n;
}

/* Bytes a zero-copy peek read and nobody released yet come first: copy
 * them out; with WAITALL, read the rest of the buffers straight after
 * (an error or EOF there is the next call's to report). */
static ssize_t tcp_recv_buffered(struct ism_stream *s, const struct iovec *iov,
				 int iovcnt, int flags)
{
	size_t got = 0, off = 0;
	int i = 0;

	while (i < iovcnt && s->rb_off < s->rb_len) {
		size_t n = ISM_MIN(iov[i].iov_len - off, s->rb_len - s->rb_off);

		memcpy((uint8_t *)iov[i].iov_base + off, s->rbuf + s->rb_off,
		       n);
		s->rb_off += n;
		off += n;
		got += n;
		if (off == iov[i].iov_len) {
			i++;
			off = 0;
		}
	}
	if (!(flags & ISM_F_WAITALL) || (flags & ISM_F_DONTWAIT))
		return (ssize_t)got;
	for (; i < iovcnt; i++, off = 0) {
		while (off < iov[i].iov_len) {
			ssize_t n =
				recv(s->sock, (uint8_t *)iov[i].iov_base + off,
				     iov[i].iov_len - off, MSG_WAITALL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return (ssize_t)got;
			off += (size_t)n;
			got += (size_t)n;
		}
	}
	return (ssize_t)got;
}

static ssize_t tcp_recv(struct ism_stream *s, const struct iovec *iov,
			int iovcnt, int flags)
{
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = (size_t)iovcnt };
	int f = (flags & ISM_F_DONTWAIT)  ? MSG_DONTWAIT
		: (flags & ISM_F_WAITALL) ? MSG_WAITALL
					  : 0;
	ssize_t n;

	if (s->rb_off < s->rb_len)
		return tcp_recv_buffered(s, iov, iovcnt, flags);

	do
		n = recvmsg(s->sock, &mh, f);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			tcp_want(s, EPOLLIN, 0);
			return -EAGAIN;
		}
		return -errno;
	}
	return n;
}

/* ---- data: shared memory ---- */

static ssize_t shm_send(struct ism_stream *s, const struct iovec *iov,
			int iovcnt, int flags)
{
	size_t total = 0,
	       chunk = ISM_MIN((size_t)CHUNK, ism_chan_max_msg(s->ch));

	s->zc_resv = 0; /* a send reuses the room a reservation had */

	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			size_t n = left < chunk ? left : chunk;
			int r = ism_chan_send(s->ch, p, n,
					      flags & ISM_F_DONTWAIT);

			if (r < 0) {
				if (total && r == -EAGAIN)
					return (ssize_t)total;
				if (r == -EPIPE)
					return -ECONNRESET;
				return r;
			}
			p += n;
			left -= n;
			total += n;
		}
	}
	return (ssize_t)total;
}

/* Are there bytes in the idle socket of a stream on shared memory?  Every
 * in-band byte was read (the handshake reads exactly), so the other
 * program wrote them past libism (a raw system call, io_uring, a program
 * exec'ed with the fd).  They cannot be ordered with the stream's, and an
 * end of stream now would hide them: an error instead.  Looked at once,
 * at the end. */
static bool tcp_bypassed(struct ism_stream *s)
{
	int n = 0;
	char c;

	/* (SIOCINQ leaves out an urgent byte.) */
	return (ioctl(s->sock, SIOCINQ, &n) == 0 && n > 0) ||
	       recv(s->sock, &c, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Next message into rx_p/rx_len: 1, 0 at EOF, or -errno (-EPROTO: an
 * end after bytes that went past libism, tcp_bypassed()). */
static int shm_next(struct ism_stream *s, int flags)
{
	const void *p;
	size_t len;
	int r;

	do {
		r = ism_chan_peek(s->ch, &p, &len, flags);
		if (r == -ESHUTDOWN) {
			if (tcp_bypassed(s))
				return -EPROTO;
			s->eof = true;
			return 0;
		}
		if (r < 0)
			return r == -EPIPE ? -ECONNRESET : r;
		if (len == 0)
			ism_chan_release(s->ch); /* nothing in it */
	} while (len == 0);
	s->rx_p = p;
	s->rx_len = len;
	s->rx_off = 0;
	s->rx_held = true;
	return 1;
}

static ssize_t shm_recv(struct ism_stream *s, const struct iovec *iov,
			int iovcnt, int flags)
{
	size_t got = 0, cap = 0;
	int i = 0;
	size_t ioff = 0;

	for (int k = 0; k < iovcnt; k++)
		cap += iov[k].iov_len;
	while (got < cap) {
		if (!s->rx_held) {
			/* Block for the first byte; with WAITALL for all. */
			int f = (got && !(flags & ISM_F_WAITALL))
					? ISM_F_DONTWAIT | (flags & ISM_F_NOARM)
					: (flags &
					   (ISM_F_DONTWAIT | ISM_F_NOARM));
			int r;

			if (s->eof)
				break;
			r = shm_next(s, f);
			if (r == 0)
				break;
			if (r < 0) {
				if (got)
					break;
				if (r != -EAGAIN)
					s->rx_err = r;
				return r;
			}
		}
		while (i < iovcnt && ioff == iov[i].iov_len) {
			i++;
			ioff = 0;
		}
		size_t n =
			ISM_MIN(iov[i].iov_len - ioff, s->rx_len - s->rx_off);

		/* Peer memory: copied as bytes, never interpreted. */
		memcpy((uint8_t *)iov[i].iov_base + ioff, s->rx_p + s->rx_off,
		       n);
		ioff += n;
		s->rx_off += n;
		got += n;
		if (s->rx_off == s->rx_len) {
			s->rx_held = false;
			ism_chan_release(s->ch);
		}
	}
	return (ssize_t)got;
}

/* ---- public data calls ---- */

static int iov_check(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		if (__builtin_add_overflow(total, iov[i].iov_len, &total) ||
		    total > SSIZE_MAX)
			return -EINVAL;
	return 0;
}

/* Both directions: check, finish a pending handshake, then the path's. */
static ssize_t xfer(struct ism_stream *s, const struct iovec *iov, int iovcnt,
		    int flags, bool tx)
{
	int r;

	if (!s || iov_check(iov, iovcnt) < 0)
		return -EINVAL;
	if ((r = settle(s, flags)) < 0)
		return r;
	if (tx && s->wr_shut)
		return -EPIPE;
	if (!tx && s->rd_shut)
		return 0;
	if (atomic_load(&s->path) == ISM_STREAM_SHM)
		return tx ? shm_send(s, iov, iovcnt, flags)
			  : shm_recv(s, iov, iovcnt, flags);
	if (tx)
		s->zc_resv = 0;
	return tx ? tcp_send(s, iov, iovcnt, flags)
		  : tcp_recv(s, iov, iovcnt, flags);
}

ssize_t ism_stream_sendmsg(struct ism_stream *s, const struct iovec *iov,
			   int iovcnt, int flags)
{
	return xfer(s, iov, iovcnt, flags, true);
}

ssize_t ism_stream_recvmsg(struct ism_stream *s, const struct iovec *iov,
			   int iovcnt, int flags)
{
	return xfer(s, iov, iovcnt, flags, false);
}

ssize_t ism_stream_send(struct ism_stream *s, const void *buf, size_t len,
			int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return ism_stream_sendmsg(s, &iov, 1, flags);
}

ssize_t ism_stream_recv(struct ism_stream *s, void *buf, size_t cap, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = cap };

	return ism_stream_recvmsg(s, &iov, 1, flags);
}

/* ---- zero-copy ---- */

/* The prologue every data call has: the handshake settled, the path's. */
static int zc_begin(struct ism_stream *s, int flags)
{
	int r;

	if (!s)
		return -EINVAL;
	if ((r = settle(s, flags)) < 0)
		return r;
	return atomic_load(&s->path);
}

ssize_t ism_stream_peek(struct ism_stream *s, const void **p, int flags)
{
	int path = zc_begin(s, flags);
	ssize_t n;

	if (path < 0)
		return path;
	if (!p)
		return -EINVAL;
	if (s->rd_shut)
		return 0;
	if (path == ISM_STREAM_SHM) {
		if (!s->rx_held) {
			int r;

			if (s->eof)
				return 0;
			r = shm_next(s, flags & ISM_F_DONTWAIT);
			if (r <= 0) {
				if (r < 0 && r != -EAGAIN)
					s->rx_err = r;
				return r;
			}
		}
		/* The other side's memory, read-only here: bytes, as it
		 * wrote them, and as it may still change them. */
		*p = s->rx_p + s->rx_off;
		return (ssize_t)(s->rx_len - s->rx_off);
	}
	if (s->rb_off == s->rb_len) {
		if (!s->rbuf && !(s->rbuf = malloc(TCP_ZBUF)))
			return -ENOMEM;
		do
			n = recv(s->sock, s->rbuf, TCP_ZBUF,
				 flags & ISM_F_DONTWAIT ? MSG_DONTWAIT : 0);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			tcp_want(s, EPOLLIN, 0);
			return -EAGAIN;
		}
		if (n <= 0)
			return n < 0 ? -errno : 0;
		s->rb_off = 0;
		s->rb_len = (size_t)n;
	}
	*p = s->rbuf + s->rb_off;
	return (ssize_t)(s->rb_len - s->rb_off);
}

int ism_stream_release(struct ism_stream *s, size_t n)
{
	if (!s)
		return -EINVAL;
	if (atomic_load(&s->path) == ISM_STREAM_SHM) {
		if (!s->rx_held)
			return n ? -EINVAL : 0;
		if (n > s->rx_len - s->rx_off)
			return -EINVAL;
		s->rx_off += n;
		if (s->rx_off == s->rx_len) {
			s->rx_held = false;
			ism_chan_release(s->ch);
		}
		return 0;
	}
	if (n > s->rb_len - s->rb_off)
		return -EINVAL;
	s->rb_off += n;
	return 0;
}

ssize_t ism_stream_reserve(struct ism_stream *s, void **p, size_t len,
			   int flags)
{
	int path = zc_begin(s, flags), r;

	if (path < 0)
		return path;
	if (!p || !len)
		return -EINVAL;
	s->zc_resv = 0;
	if (s->wr_shut)
		return -EPIPE;
	if (path == ISM_STREAM_SHM) {
		size_t max = ISM_MIN(len, (size_t)ZC_MAX);
		/* WAITALL: all of it or nothing yet (an event loop's
		 * "writable?", armed for that much with DONTWAIT). */
		size_t min = flags & ISM_F_WAITALL ? max : ISM_MIN(max, ZC_MIN);
		ssize_t n = ism_chan_reserve_room(s->ch, min, max, p,
						  flags & ISM_F_DONTWAIT);

		if (n < 0)
			return n == -EPIPE ? -ECONNRESET : n;
		s->zc_resv = (size_t)n;
		return n;
	}
	/* TCP: our buffer, once what an earlier commit left is gone. */
	if ((r = tcp_flush(s, flags)) < 0)
		return r;
	if (!s->wbuf && !(s->wbuf = malloc(TCP_ZBUF)))
		return -ENOMEM;
	s->zc_resv = ISM_MIN(len, (size_t)TCP_ZBUF);
	*p = s->wbuf;
	return (ssize_t)s->zc_resv;
}

ssize_t ism_stream_commit(struct ism_stream *s, size_t n, int flags)
{
	int r;

	if (!s || n > s->zc_resv)
		return -EINVAL;
	s->zc_resv = 0;
	if (atomic_load(&s->path) == ISM_STREAM_SHM) {
		/* Nothing else touched the ring since: the reservation
		 * stands.  (0 bytes: dropped, nothing sent.) */
		ism_chan_commit_len(s->ch, n, 0);
		return (ssize_t)n;
	}
	s->wb_off = 0;
	s->wb_len = n;
	r = tcp_flush(s, flags);
	if (r < 0 && r != -EAGAIN)
		return r;
	/* -EAGAIN: the rest goes first at the next send call. */
	return (ssize_t)n;
}

int ism_stream_shutdown(struct ism_stream *s, int how)
{
	int r;

	if (!s || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	/* A settled stream shuts down whatever its receive side found (a
	 * latched error is for the data calls); a handshake that cannot
	 * finish now fails it. */
	if ((r = settle(s, 0)) < 0 &&
	    atomic_load(&s->path) == ISM_STREAM_PENDING)
		return r;
	if (how != SHUT_RD && !s->wr_shut) {
		s->wr_shut = true;
		s->zc_resv = 0;
		if (atomic_load(&s->path) == ISM_STREAM_SHM) {
			ism_chan_shutdown(s->ch);
			/* The idle socket too: a byte written past libism
			 * after our end fails (EPIPE) as on TCP, rather than
			 * landing behind an EOF the other side has read.  A
			 * FIN is no byte to tcp_bypassed(). */
			shutdown(s->sock, SHUT_WR);
		} else {
			/* What a DONTWAIT commit left goes before the end. */
			int f = s->wb_off < s->wb_len ? tcp_flush_bounded(s)
						      : 0;

			if (shutdown(s->sock, SHUT_WR) < 0)
				return -errno;
			if (f < 0)
				return f;
		}
	}
	if (how != SHUT_WR)
		s->rd_shut = true;
	return 0;
}

/* What the stream itself knows before its channel: -EINVAL, 0 (not on
 * shared memory: ep watches the socket there), 1 (a receive may
 * progress), or 2 (the channel's to say). */
static int rx_own_state(struct ism_stream *s)
{
	if (!s)
		return -EINVAL;
	if (atomic_load(&s->path) != ISM_STREAM_SHM)
		return 0;
	if (s->rx_held || s->eof || s->rd_shut || s->rx_err)
		return 1;
	return 2;
}

int ism_stream_arm(struct ism_stream *s)
{
	int r = rx_own_state(s);

	return r == 2 ? ism_chan_arm_rx(s->ch) : r;
}

int ism_stream_disarm(struct ism_stream *s)
{
	int r = rx_own_state(s);

	return r == 2 ? ism_chan_disarm_rx(s->ch) : r;
}

int ism_stream_rx_ready(struct ism_stream *s)
{
	int r = rx_own_state(s);

	return r == 2 ? ism_chan_rx_ready(s->ch) : r;
}

int ism_stream_fd(struct ism_stream *s)
{
	if (atomic_load(&s->path) != ISM_STREAM_SHM) {
		/* Under the handshake lock: not while it moves to the
		 * channel. */
		pthread_mutex_lock(&s->hs_lock);
		if (atomic_load(&s->path) != ISM_STREAM_SHM)
			watch_sock(s);
		pthread_mutex_unlock(&s->hs_lock);
	}
	return s->ep;
}

int ism_stream_socket(struct ism_stream *s)
{
	return s->sock;
}

int ism_stream_path(struct ism_stream *s, int *reason)
{
	int p = atomic_load(&s->path);

	if (reason)
		*reason = p == ISM_STREAM_TCP ? s->reason : ISM_SR_NONE;
	return p;
}

int ism_stream_close(struct ism_stream *s)
{
	int r;

	if (!s)
		return 0;
	r = s->rx_err;
	if (atomic_load(&s->path) == ISM_STREAM_SHM && s->ch) {
		/* Orderly: what we sent stays readable (the ring lingers),
		 * then the other side reads EOF. */
		ism_chan_shutdown(s->ch);
	} else if (s->wb_off < s->wb_len) {
		int f = tcp_flush_bounded(s);

		if (!r)
			r = f;
	}
	stream_destroy(s);
	return r;
}

void ism_stream_forget(struct ism_stream *s)
{
	/* Nothing written, nothing said: the other process's copy is the
	 * stream now (ismd's record and the rings are its too). */
	if (s)
		stream_free(s, false);
}
