/* SPDX-License-Identifier: MIT */
/*
 * sock - the socket calls: which sockets the shim takes, how a listener
 * and a connection become ism streams, and the calls on fds themselves
 * (close, dup, fcntl, ioctl, options).
 *
 * A listener: the application bound its socket; at listen() libism makes
 * a listening socket on the same address and port (both carry
 * SO_REUSEADDR and neither listens yet, which the kernel allows), and
 * dup3() puts it on the application's fd, whose old socket closes.  What
 * cannot be reproduced on the new socket (SO_REUSEPORT, IPV6_V6ONLY on a
 * wildcard, a device binding) keeps the application's own listener.
 *
 * A connection: connect() to an address of this host, from a socket that
 * was not bound, goes through ism_stream_connect(), which returns once the
 * path is decided (TCP connect plus the handshake); the stream's socket
 * then replaces the application's fd.  A non-blocking connect() returns
 * EINPROGRESS with the fd already writable.  When libism fails (a refused
 * port, say) the application's own connect() runs, so errors are the
 * kernel's.
 */
#include "preload.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif

/* ---- objects ---- */

static void ssock_destroy(struct obj *o)
{
	struct ssock *sk = (struct ssock *)o;

	while (sk->nregs) {
		struct nreg *n = sk->nregs;

		sk->nregs = n->next;
		free(n);
	}
	pthread_mutex_destroy(&sk->lock);
	free(sk);
}

struct ssock *ssock_new(int domain, bool nonblock)
{
	struct ssock *sk = calloc(1, sizeof(*sk));

	if (!sk)
		return NULL;
	atomic_init(&sk->o.ref, 0);
	sk->o.kind = SK_SOCK;
	sk->o.destroy = ssock_destroy;
	pthread_mutex_init(&sk->lock, NULL);
	sk->domain = domain;
	sk->nonblock = nonblock;
	sk->reuseaddr = -1;
	return sk;
}

/* This process's listeners' ports: a connection to one of them would
 * wait for its own accept() (and one ism_conn cannot be both ends). */
#define OWN_MAX 64
static struct {
	int family;
	uint16_t port;
} own[OWN_MAX];
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;

static void own_add(int family, uint16_t port)
{
	pthread_mutex_lock(&own_lock);
	for (int i = 0; i < OWN_MAX; i++)
		if (!own[i].port) {
			own[i].family = family;
			own[i].port = port;
			break;
		}
	pthread_mutex_unlock(&own_lock);
}

static void own_del(int family, uint16_t port)
{
	pthread_mutex_lock(&own_lock);
	for (int i = 0; i < OWN_MAX; i++)
		if (own[i].port == port && own[i].family == family) {
			own[i].port = 0;
			break;
		}
	pthread_mutex_unlock(&own_lock);
}

static bool own_has(uint16_t port)
{
	bool r = false;

	pthread_mutex_lock(&own_lock);
	for (int i = 0; i < OWN_MAX; i++)
		if (own[i].port == port)
			r = true;
	pthread_mutex_unlock(&own_lock);
	return r;
}

static void slisten_destroy(struct obj *o)
{
	struct slisten *ls = (struct slisten *)o;

	own_del(ls->family, ls->port);
	if (ls->slot >= 0 && !shim_slot_release(ls->slot)) {
		/* Another process still has it: only our copy goes (ismd's
		 * record stays; it never captures a closed socket). */
		LIB_QUIET_ENTER();
		real.close(ism_stream_listener_fd(ls->l));
		LIB_QUIET_LEAVE();
	} else {
		lib_enter();
		ism_stream_listener_close(ls->l);
		lib_leave();
	}
	free(ls);
}

static bool stream_close_owned(struct sstream *st);

static void sstream_destroy(struct obj *o)
{
	struct sstream *st = (struct sstream *)o;

	st_unpend(st);
	epoll_forget_stream(st, false);
	if (!stream_close_owned(st)) {
		/* Another process owns it since a fork, or may still use
		 * it: closing it here would end it there.  Only this
		 * process's copy goes (fds, mappings, memory), so the
		 * connection ends when the owner closes. */
		lib_enter();
		ism_stream_forget(st->s);
		lib_leave();
		SHIM_LOG(2, "%s: closed in a process that does not own it",
			 st->desc);
	} else {
		SHIM_LOG(2, "%s: closed", st->desc);
		lib_enter();
		ism_stream_close(st->s);
		lib_leave();
	}
	if (st->nudge_fd >= 0)
		real.close(st->nudge_fd);
	pthread_mutex_destroy(&st->rx_lock);
	pthread_mutex_destroy(&st->tx_lock);
	free(st->rxb);
	free(st);
}

struct sstream *sstream_new(struct ism_stream *s, bool nonblock)
{
	struct sstream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->o.kind = SK_STREAM;
	st->o.destroy = sstream_destroy;
	st->s = s;
	st->slot = -1;
	st->wfd = -1;
	st->nudge_fd = -1;
	atomic_init(&st->nonblock, nonblock);
	atomic_init(&st->rx_maybe, true);
	pthread_mutex_init(&st->rx_lock, NULL);
	pthread_mutex_init(&st->tx_lock, NULL);
	return st;
}

/* Whether closing @st here is the stream's real close: not when another
 * process owns it since a fork, nor while it is unclaimed and another
 * process still holds it (a forking server closes its copy of a
 * connection its child serves, before the child's first use).  Drops
 * this process's hold. */
static bool stream_close_owned(struct sstream *st)
{
	int w;

	if (st->slot < 0 ||
	    !atomic_load_explicit(&shim_forked, memory_order_relaxed))
		return true;
	w = shim_claim_word(st->slot);
	if (!shim_slot_release(st->slot + 1))
		return w == (int)shim_pid;
	/* The last holder: whoever owned it closed it already, or nobody
	 * did and this close is the stream's. */
	return w == 0 || w == (int)shim_pid ? shim_claim(st->slot) : false;
}

bool stream_foreign(struct sstream *st)
{
	int w;

	if (st->slot < 0 ||
	    !atomic_load_explicit(&shim_forked, memory_order_relaxed))
		return false;
	w = shim_claim_word(st->slot);
	if (w == (int)shim_pid)
		return false;
	if (!shim_claim(st->slot)) {
		if (!atomic_exchange(&st->said_foreign, true))
			SHIM_LOG(1,
				 "%s: used by pid %d since a fork: reset "
				 "here",
				 st->desc, shim_claim_word(st->slot));
		return true;
	}
	SHIM_LOG(2, "%s: this process uses it after a fork", st->desc);
	return false;
}

void stream_went_native(struct sstream *st)
{
	if (atomic_exchange(&st->native, true))
		return;
	epoll_forget_stream(st, true);
}

int stream_path_refresh(struct sstream *st)
{
	int reason = 0, p;

	LIB_QUIET_ENTER();
	p = ism_stream_path(st->s, &reason);
	LIB_QUIET_LEAVE();
	if (p == ISM_STREAM_TCP && !atomic_load(&st->native)) {
		SHIM_LOG(1, "%s: tcp (%s)", st->desc,
			 ism_stream_reason_name(reason));
		stream_went_native(st);
	} else if (p == ISM_STREAM_SHM && !atomic_exchange(&st->on_shm, true)) {
		SHIM_LOG(1, "%s: shm", st->desc);
	}
	return p;
}

/* ---- helpers ---- */

/* Is the caller libism itself (a program that uses libism directly)?
 * Its own sockets are none of the shim's business. */
static bool caller_is_libism(void *ret)
{
	static void *base;
	Dl_info di;

	if (!base && dladdr((void *)ism_stream_connect, &di))
		base = di.dli_fbase;
	return base && dladdr(ret, &di) && di.dli_fbase == base;
}

static void addr_str(const struct sockaddr *sa, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, n, "%s:%u", a, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, n, "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(buf, n, "?");
	}
}

static void conn_desc(int fd, char *buf, size_t n)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	char ls[64] = "?", rs[64] = "?";

	if (getsockname(fd, (struct sockaddr *)&l, &ll) == 0)
		addr_str((struct sockaddr *)&l, ls, sizeof(ls));
	if (getpeername(fd, (struct sockaddr *)&r, &rl) == 0)
		addr_str((struct sockaddr *)&r, rs, sizeof(rs));
	snprintf(buf, n, "fd %d %s -> %s", fd, ls, rs);
}

/* Numeric host and port of @sa for libism; false if not representable
 * (a scoped IPv6 address). */
static bool host_port(const struct sockaddr *sa, char *host, size_t hn,
		      char *port, size_t pn)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)sa;

		inet_ntop(AF_INET, &s->sin_addr, host, (socklen_t)hn);
		snprintf(port, pn, "%u", ntohs(s->sin_port));
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)sa;

		if (s->sin6_scope_id)
			return false;
		inet_ntop(AF_INET6, &s->sin6_addr, host, (socklen_t)hn);
		snprintf(port, pn, "%u", ntohs(s->sin6_port));
		return true;
	}
	return false;
}

static uint16_t sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)
				     ->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)
				     ->sin6_port);
	return 0;
}

/* Options that cannot be moved to another socket after the fact, or
 * change what the connection is: the application keeps its socket. */
static const char *blocks(int level, int name, const void *val, socklen_t len)
{
	int on = 1;

	if (len >= (socklen_t)sizeof(int))
		memcpy(&on, val, sizeof(int));
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_BINDTODEVICE: return "SO_BINDTODEVICE";
		case SO_MARK: return "SO_MARK";
		case SO_REUSEPORT: return on ? "SO_REUSEPORT" : NULL;
		case SO_ZEROCOPY: return on ? "SO_ZEROCOPY" : NULL;
		case SO_ATTACH_FILTER:
		case SO_ATTACH_BPF:
		case SO_ATTACH_REUSEPORT_CBPF:
		case SO_ATTACH_REUSEPORT_EBPF: return "a socket filter";
		default: return NULL;
		}
	}
	if (level == IPPROTO_IP) {
		switch (name) {
		case IP_TRANSPARENT: return "IP_TRANSPARENT";
		case IP_FREEBIND: return "IP_FREEBIND";
		case IP_BIND_ADDRESS_NO_PORT: return NULL;
		default: return NULL;
		}
	}
	if (level == IPPROTO_IPV6) {
		switch (name) {
		case IPV6_V6ONLY: return NULL; /* checked at listen() */
		case IPV6_TRANSPARENT: return "IPV6_TRANSPARENT";
		case IPV6_FREEBIND: return "IPV6_FREEBIND";
		default: return NULL;
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_FASTOPEN_CONNECT: return "TCP_FASTOPEN_CONNECT";
		case TCP_REPAIR: return "TCP_REPAIR";
		case TCP_ULP: return "TCP_ULP";
		case TCP_MD5SIG:
		case TCP_MD5SIG_EXT: return "TCP_MD5SIG";
		default: return NULL;
		}
	}
	return NULL;
}

static void record_opt(struct ssock *sk, int level, int name, const void *val,
		       socklen_t len)
{
	const char *why = blocks(level, name, val, len);
	unsigned i;

	pthread_mutex_lock(&sk->lock);
	if (why) {
		sk->native_why = why;
		goto out;
	}
	if (level == SOL_SOCKET && name == SO_REUSEADDR &&
	    len >= (socklen_t)sizeof(int)) {
		memcpy(&sk->reuseaddr, val, sizeof(int));
		goto out; /* handled at listen() */
	}
	if (len > (socklen_t)sizeof(sk->opts[0].val)) {
		sk->native_why = "a large socket option";
		goto out;
	}
	for (i = 0; i < sk->nopts; i++)
		if (sk->opts[i].level == level && sk->opts[i].name == name)
			break;
	if (i == SOPT_MAX) {
		sk->native_why = "too many socket options";
		goto out;
	}
	sk->opts[i].level = level;
	sk->opts[i].name = name;
	sk->opts[i].len = len;
	memcpy(sk->opts[i].val, val, len);
	if (i == sk->nopts)
		sk->nopts++;
out:
	pthread_mutex_unlock(&sk->lock);
}

/* The recorded options, on the socket now at @fd. */
static void replay_opts(struct ssock *sk, int fd)
{
	for (unsigned i = 0; i < sk->nopts; i++)
		real.setsockopt(fd, sk->opts[i].level, sk->opts[i].name,
				sk->opts[i].val, sk->opts[i].len);
}

static int fl_cloexec(int fd)
{
	int f = real.fcntl(fd, F_GETFD);

	return f >= 0 && (f & FD_CLOEXEC) ? O_CLOEXEC : 0;
}

static void set_nonblock(int fd, bool on)
{
	int fl = real.fcntl(fd, F_GETFL);

	if (fl < 0)
		return;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	real.fcntl(fd, F_SETFL, fl);
}

static struct ism_stream_opts stream_opts(void)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .flags = ISM_STREAM_NO_NODELAY,
				     .ring_size = cfg.ring,
				     .handshake_ms = cfg.handshake_ms,
				     .name = cfg.name };

	return o;
}

/* ---- socket, bind, listen ---- */

int socket(int domain, int type, int protocol)
{
	int fd;
	struct ssock *sk;
	struct obj *old;

	shim_resolve();
	fd = real.socket(domain, type, protocol);
	if (shim_busy)
		return shim_fd_high(fd);
	if (fd < 0 || cfg.off)
		return fd;
	if ((domain != AF_INET && domain != AF_INET6) ||
	    (type & 0xf) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return fd;
	if (caller_is_libism(__builtin_return_address(0)))
		return fd;
	sk = ssock_new(domain, type & SOCK_NONBLOCK);
	if (!sk)
		return fd;
	old = fd_set_obj(fd, &sk->o);
	if (old == &sk->o) { /* beyond the table */
		ssock_destroy(&sk->o);
		return fd;
	}
	obj_put(old); /* a stale object the kernel's close bypassed */
	return fd;
}

int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	struct obj *o;
	int r;

	shim_resolve();
	r = real.bind(fd, addr.__sockaddr__, len);
	if (r == 0 && !shim_busy && (o = fd_get(fd))) {
		if (o->kind == SK_SOCK)
			((struct ssock *)o)->bound = true;
		obj_put(o);
	}
	return r;
}

/* The listener at @fd becomes ismd's; false (nothing changed) if not. */
static bool promote_listener(int fd, struct ssock *sk, int backlog)
{
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	char host[INET6_ADDRSTRLEN], port[8], desc[80];
	struct ism_stream_opts so = stream_opts();
	struct ism_stream_listener *l = NULL;
	struct ism_conn *c;
	struct slisten *ls;
	const char *why = sk->native_why;
	int one = 1, v = 0, r, lfd, app_reuse;
	socklen_t vl = sizeof(v);
	struct obj *old;

	if (!why && (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
		     (me.ss_family != AF_INET && me.ss_family != AF_INET6)))
		why = "not an IP socket";
	if (!why && !sk->bound)
		why = "not bound before listen";
	if (!why && atomic_load(&sk->o.slots) > 1)
		why = "duplicated before listen";
	if (!why && !host_port((struct sockaddr *)&me, host, sizeof(host), port,
			       sizeof(port)))
		why = "scoped address";
	if (!why &&
	    real.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &vl) == 0 && v)
		why = "SO_REUSEPORT";
	if (!why && me.ss_family == AF_INET6) {
		vl = sizeof(v);
		v = 0;
		if (real.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) ==
			    0 &&
		    v &&
		    IN6_IS_ADDR_UNSPECIFIED(
			    &((struct sockaddr_in6 *)&me)->sin6_addr))
			why = "IPV6_V6ONLY on a wildcard";
	}
	if (why) {
		SHIM_LOG(1, "fd %d: listener stays the kernel's (%s)", fd, why);
		return false;
	}
	addr_str((struct sockaddr *)&me, desc, sizeof(desc));
	if (!(c = shim_conn())) {
		SHIM_LOG(1, "fd %d: listening on %s: tcp (ismd unreachable)",
			 fd, desc);
		return false;
	}
	/* Both sockets with SO_REUSEADDR, neither listening: the new one
	 * may bind the same address and port. */
	app_reuse = sk->reuseaddr;
	real.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	so.backlog = backlog > 0 ? backlog : 1;
	lib_enter();
	r = ism_stream_listen(c, host, port, &so, &l);
	lib_leave();
	if (r < 0) {
		v = app_reuse > 0;
		real.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v));
		SHIM_LOG(1, "fd %d: listening on %s: tcp (ism listener: %s)",
			 fd, desc, strerror(-r));
		return false;
	}
	ls = calloc(1, sizeof(*ls));
	LIB_QUIET_ENTER();
	lfd = ism_stream_listener_fd(l);
	LIB_QUIET_LEAVE();
	if (!ls || real.dup3(lfd, fd, fl_cloexec(fd)) < 0) {
		free(ls);
		lib_enter();
		ism_stream_listener_close(l);
		lib_leave();
		v = app_reuse > 0;
		real.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v));
		return false;
	}
	/* What the application set, on the socket it now has (accepted
	 * sockets inherit TCP_NODELAY and the like from it). */
	replay_opts(sk, fd);
	v = app_reuse > 0;
	real.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v));
	ls->o.kind = SK_LISTEN;
	ls->o.destroy = slisten_destroy;
	ls->l = l;
	ls->slot = -1;
	ls->family = me.ss_family;
	ls->port = sa_port((struct sockaddr *)&me);
	atomic_init(&ls->nonblock, sk->nonblock);
	own_add(ls->family, ls->port);
	old = fd_set_obj(fd, &ls->o);
	epoll_replay_native(sk, fd, &ls->o);
	obj_put(old);
	SHIM_LOG(1, "fd %d: listening on %s through ismd", fd, desc);
	return true;
}

int listen(int fd, int backlog)
{
	struct obj *o;
	bool done = false;

	shim_resolve();
	if (shim_busy || cfg.off || !(o = fd_get(fd)))
		return real.listen(fd, backlog);
	if (o->kind == SK_SOCK)
		done = promote_listener(fd, (struct ssock *)o, backlog);
	obj_put(o);
	return done ? 0 : real.listen(fd, backlog);
}

/* ---- accept ---- */

/* Enough fds left for a stream (about a dozen)?  The kernel's accept()
 * fails with EMFILE and leaves the connection queued; libism would have
 * to drop it, so the shim says EMFILE first. */
static bool fd_headroom(void)
{
	struct rlimit rl;
	int t;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 64 ||
	    rl.rlim_cur > INT32_MAX)
		return true;
	/* The top 32 slots all free means at least 32 are. */
	t = real.fcntl(0, F_DUPFD_CLOEXEC, (int)rl.rlim_cur - 32);
	if (t < 0)
		t = real.fcntl(1, F_DUPFD_CLOEXEC, (int)rl.rlim_cur - 32);
	if (t < 0)
		return errno == EBADF; /* no fd 0 or 1 to test with */
	real.close(t);
	return t == (int)rl.rlim_cur - 32;
}

static int shim_accept(int fd, struct slisten *ls, struct sockaddr *addr,
		       socklen_t *alen, int flags)
{
	struct ism_stream *s = NULL;
	struct sstream *st;
	struct obj *old;
	int r, nfd, sock, tmo = 0;
	socklen_t tl = sizeof(struct timeval);
	struct timeval tv;

	if (!fd_headroom()) {
		errno = EMFILE;
		return -1;
	}
	if (real.getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0)
		tmo = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
	for (;;) {
		lib_enter();
		r = ism_stream_accept(ls->l, &s, ISM_F_DONTWAIT);
		lib_leave();
		if (r != -EAGAIN)
			break;
		if (atomic_load(&ls->nonblock)) {
			errno = EAGAIN;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = real.poll(&p, 1, tmo > 0 ? tmo : -1);

		if (pr == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (pr < 0 && errno == EINTR && shim_eintr(tmo > 0))
			return -1;
	}
	if (r < 0) {
		errno = -r;
		return -1;
	}
	LIB_QUIET_ENTER();
	sock = ism_stream_socket(s);
	LIB_QUIET_LEAVE();
	nfd = real.fcntl(sock,
			 (flags & SOCK_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (nfd < 0 || !(st = sstream_new(s, flags & SOCK_NONBLOCK))) {
		int e = nfd < 0 ? errno : ENOMEM;

		if (nfd >= 0)
			real.close(nfd);
		lib_enter();
		ism_stream_close(s);
		lib_leave();
		errno = e;
		return -1;
	}
	if (flags & SOCK_NONBLOCK)
		set_nonblock(nfd, true);
	conn_desc(nfd, st->desc, sizeof(st->desc));
	if (stream_path_refresh(st) != ISM_STREAM_TCP)
		st_wait_fd_ready(st);
	old = fd_set_obj(nfd, &st->o);
	if (old == &st->o) { /* beyond the table (fd >= 2^20) */
		real.close(nfd);
		obj_hold(&st->o);
		obj_put(&st->o);
		errno = EMFILE;
		return -1;
	}
	obj_put(old);
	if (addr && alen) {
		struct sockaddr_storage pa;
		socklen_t pl = sizeof(pa);

		if (getpeername(nfd, (struct sockaddr *)&pa, &pl) == 0) {
			memcpy(addr, &pa, SHIM_MIN(*alen, pl));
			*alen = pl;
		} else {
			*alen = 0;
		}
	}
	return nfd;
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *alen, int flags)
{
	struct obj *o;
	int r;

	shim_resolve();
	if (shim_busy)
		return shim_fd_high(
			real.accept4(fd, addr.__sockaddr__, alen, flags));
	if (!(o = fd_get(fd)))
		return real.accept4(fd, addr.__sockaddr__, alen, flags);
	if (o->kind != SK_LISTEN) {
		obj_put(o);
		return real.accept4(fd, addr.__sockaddr__, alen, flags);
	}
	r = shim_accept(fd, (struct slisten *)o, addr.__sockaddr__, alen,
			flags);
	obj_put(o);
	return r;
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *alen)
{
	return accept4(fd, addr, alen, 0);
}

/* ---- connect ---- */

/* Try the ism path; 1 if the fd now holds a stream, 0 to let the kernel
 * connect the application's own socket. */
static int ism_connect(int fd, struct ssock *sk, const struct sockaddr *sa,
		       socklen_t len)
{
	struct ism_stream_opts so = stream_opts();
	char host[INET6_ADDRSTRLEN], port[8], dst[80];
	struct ism_stream *s = NULL;
	const char *why = sk->native_why;
	struct ism_conn *c = NULL;
	struct sstream *st;
	struct obj *old;
	int r, sock;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return 0;
	addr_str(sa, dst, sizeof(dst));
	if (!why && sa->sa_family != sk->domain)
		why = "address family";
	if (!why && sa->sa_family == AF_INET6 &&
	    len < (socklen_t)sizeof(struct sockaddr_in6))
		why = "address length"; /* the kernel says EINVAL */
	if (!why && sk->bound)
		why = "bound before connect";
	if (!why && atomic_load(&sk->o.slots) > 1)
		why = "duplicated before connect";
	if (!why && !host_port(sa, host, sizeof(host), port, sizeof(port)))
		why = "scoped address";
	if (!why && own_has(sa_port(sa)))
		why = "own listener";
	if (!why && !(c = shim_conn()))
		why = "ismd unreachable";
	if (why) {
		SHIM_LOG(1, "fd %d -> %s: tcp (%s)", fd, dst, why);
		return 0;
	}
	lib_enter();
	r = ism_stream_connect(c, host, port, &so, &s);
	lib_leave();
	if (r < 0) {
		SHIM_LOG(1, "fd %d -> %s: tcp (ism connect: %s)", fd, dst,
			 strerror(-r));
		return 0;
	}
	LIB_QUIET_ENTER();
	sock = ism_stream_socket(s);
	LIB_QUIET_LEAVE();
	st = sstream_new(s, sk->nonblock);
	if (!st || real.dup3(sock, fd, fl_cloexec(fd)) < 0) {
		free(st);
		lib_enter();
		ism_stream_close(s);
		lib_leave();
		SHIM_LOG(1, "fd %d -> %s: tcp (out of memory or fds)", fd, dst);
		return 0;
	}
	if (sk->nonblock)
		set_nonblock(fd, true);
	replay_opts(sk, fd);
	conn_desc(fd, st->desc, sizeof(st->desc));
	if (stream_path_refresh(st) != ISM_STREAM_TCP)
		st_wait_fd_ready(st);
	old = fd_set_obj(fd, &st->o);
	epoll_replay_native(sk, fd, &st->o);
	obj_put(old);
	return 1;
}

int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	struct obj *o;
	bool nb = false;
	int r = 0;

	shim_resolve();
	if (shim_busy || cfg.off || !(o = fd_get(fd)))
		return real.connect(fd, addr.__sockaddr__, len);
	if (o->kind == SK_SOCK && addr.__sockaddr__ &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		nb = ((struct ssock *)o)->nonblock;
		r = ism_connect(fd, (struct ssock *)o, addr.__sockaddr__, len);
	}
	obj_put(o);
	if (!r)
		return real.connect(fd, addr.__sockaddr__, len);
	if (nb) {
		/* As the kernel says for TCP; the fd is writable at once. */
		errno = EINPROGRESS;
		return -1;
	}
	return 0;
}

/* ---- options ---- */

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct obj *o;
	int r;

	shim_resolve();
	if (shim_busy || !(o = fd_get(fd)))
		return real.setsockopt(fd, level, name, val, len);
	if (o->kind == SK_STREAM &&
	    !atomic_load(&((struct sstream *)o)->native)) {
		struct sstream *st = (struct sstream *)o;

		/* Kernel TLS would encrypt what never goes through the
		 * kernel: refused, so the program keeps TLS to itself. */
		if ((level == IPPROTO_TCP && name == TCP_ULP) ||
		    (level == SOL_SOCKET && name == SO_ZEROCOPY)) {
			obj_put(o);
			errno = ENOPROTOOPT;
			return -1;
		}
		r = real.setsockopt(fd, level, name, val, len);
		if (r == 0 && level == SOL_SOCKET &&
		    (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
		    len >= (socklen_t)sizeof(struct timeval)) {
			struct timeval tv;
			long ms;

			memcpy(&tv, val, sizeof(tv));
			ms = tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
			if (ms > INT32_MAX)
				ms = INT32_MAX;
			atomic_store(name == SO_RCVTIMEO ? &st->rcvtimeo_ms
							 : &st->sndtimeo_ms,
				     (int)ms);
		}
		obj_put(o);
		return r;
	}
	r = real.setsockopt(fd, level, name, val, len);
	if (r == 0 && o->kind == SK_SOCK)
		record_opt((struct ssock *)o, level, name, val, len);
	obj_put(o);
	return r;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct obj *o;
	int r;

	shim_resolve();
	if (shim_busy || !(o = fd_get(fd)))
		return real.getsockopt(fd, level, name, val, len);
	if (o->kind == SK_STREAM && level == SOL_SOCKET && name == SO_ERROR &&
	    !atomic_load(&((struct sstream *)o)->native) && val && len &&
	    *len >= (socklen_t)sizeof(int)) {
		struct sstream *st = (struct sstream *)o;
		int e = atomic_exchange(&st->err, 0);

		if (!e) {
			obj_put(o);
			return real.getsockopt(fd, level, name, val, len);
		}
		memcpy(val, &e, sizeof(int));
		*len = sizeof(int);
		obj_put(o);
		return 0;
	}
	r = real.getsockopt(fd, level, name, val, len);
	obj_put(o);
	return r;
}

/* ---- shutdown ---- */

int shutdown(int fd, int how)
{
	struct obj *o;
	struct sstream *st;
	int r;

	shim_resolve();
	if (shim_busy || !(o = fd_get(fd)))
		return real.shutdown(fd, how);
	st = (struct sstream *)o;
	if (o->kind != SK_STREAM || atomic_load(&st->native)) {
		obj_put(o);
		return real.shutdown(fd, how);
	}
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		obj_put(o);
		errno = EINVAL;
		return -1;
	}
	if (stream_foreign(st)) {
		obj_put(o);
		errno = ENOTCONN;
		return -1;
	}
	lib_enter(); /* settles a pending handshake, which may ask ismd */
	r = ism_stream_shutdown(st->s, how);
	lib_leave();
	if (r == 0) {
		if (how != SHUT_WR)
			atomic_store(&st->rd_shut, true);
		if (how != SHUT_RD)
			atomic_store(&st->wr_shut, true);
	}
	if (stream_path_refresh(st) == ISM_STREAM_TCP && r == 0)
		real.shutdown(fd, how);
	st_touched(st);
	obj_put(o);
	if (r < 0) {
		/* (shutdown(2) never says a connection broke.) */
		errno = r == -EPIPE || r == -EPROTO || r == -ECONNRESET
				? ENOTCONN
				: -r;
		return -1;
	}
	return 0;
}

/* ---- close and dup ---- */

/* @o left the table at an fd: the last fd of a stream takes its epoll
 * registrations along, as the kernel's last close does. */
static void left_table(struct obj *o)
{
	if (!o)
		return;
	if (o->kind == SK_STREAM && atomic_load(&o->slots) == 0)
		epoll_forget_stream((struct sstream *)o, false);
	obj_put(o);
}

int close(int fd)
{
	struct obj *o;
	int r;

	shim_resolve();
	if (shim_busy || !fd_maybe(fd))
		return real.close(fd);
	o = fd_take(fd);
	r = real.close(fd);
	left_table(o);
	return r;
}

int close_range(unsigned first, unsigned last, int flags)
{
	shim_resolve();
	if (!shim_busy && !(flags & CLOSE_RANGE_CLOEXEC)) {
		for (unsigned fd = first; fd <= last && fd < (1u << 20); fd++)
			if (fd_maybe((int)fd))
				left_table(fd_take((int)fd));
	}
	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	return real.close_range(first, last, flags);
}

/* @newfd now names what @oldfd names (the real dup succeeded). */
static void dup_done(int oldfd, int newfd, struct obj *o)
{
	struct obj *prev;

	(void)oldfd;
	if (o) {
		prev = fd_set_obj(newfd, o);
		if (prev == o && atomic_load(&o->slots) == 0) {
			/* beyond the table */
		} else {
			left_table(prev);
		}
	} else {
		left_table(fd_take(newfd));
	}
}

int dup(int fd)
{
	struct obj *o;
	int n;

	shim_resolve();
	if (shim_busy || !fd_maybe(fd))
		return real.dup(fd);
	o = fd_get(fd);
	n = real.dup(fd);
	if (n >= 0)
		dup_done(fd, n, o);
	obj_put(o);
	return n;
}

int dup3(int oldfd, int newfd, int flags)
{
	struct obj *o;
	int n;

	shim_resolve();
	if (shim_busy || (!fd_maybe(oldfd) && !fd_maybe(newfd)))
		return real.dup3(oldfd, newfd, flags);
	o = fd_get(oldfd);
	n = real.dup3(oldfd, newfd, flags);
	if (n >= 0)
		dup_done(oldfd, n, o);
	obj_put(o);
	return n;
}

int dup2(int oldfd, int newfd)
{
	struct obj *o;
	int n;

	shim_resolve();
	if (shim_busy || oldfd == newfd ||
	    (!fd_maybe(oldfd) && !fd_maybe(newfd)))
		return real.dup2(oldfd, newfd);
	o = fd_get(oldfd);
	n = real.dup2(oldfd, newfd);
	if (n >= 0)
		dup_done(oldfd, n, o);
	obj_put(o);
	return n;
}

/* ---- fcntl and ioctl ---- */

static void nonblock_changed(struct obj *o, bool on)
{
	if (o->kind == SK_STREAM)
		atomic_store(&((struct sstream *)o)->nonblock, on);
	else if (o->kind == SK_SOCK)
		((struct ssock *)o)->nonblock = on;
	else if (o->kind == SK_LISTEN)
		atomic_store(&((struct slisten *)o)->nonblock, on);
}

static int shim_fcntl(int fd, int cmd, void *arg)
{
	struct obj *o;
	int r;

	if (shim_busy || !fd_maybe(fd))
		return real.fcntl(fd, cmd, arg);
	o = fd_get(fd);
	if (!o)
		return real.fcntl(fd, cmd, arg);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = real.fcntl(fd, cmd, arg);
		if (r >= 0)
			dup_done(fd, r, o);
		break;
	case F_GETFL:
		r = real.fcntl(fd, cmd);
		if (r >= 0 && o->kind == SK_LISTEN)
			r = atomic_load(&((struct slisten *)o)->nonblock)
				    ? (r | O_NONBLOCK)
				    : (r & ~O_NONBLOCK);
		break;
	case F_SETFL: {
		int fl = (int)(intptr_t)arg;

		/* A listener's file stays non-blocking underneath: libism
		 * accepts with DONTWAIT; blocking is the shim's. */
		r = real.fcntl(fd, cmd,
			       o->kind == SK_LISTEN ? (fl | O_NONBLOCK) : fl);
		if (r == 0)
			nonblock_changed(o, fl & O_NONBLOCK);
		break;
	}
	default: r = real.fcntl(fd, cmd, arg); break;
	}
	obj_put(o);
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	return shim_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	return shim_fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
	struct obj *o;
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_resolve();
	if (shim_busy || !(o = fd_get(fd)))
		return real.ioctl(fd, req, arg);
	if (req == FIONBIO && arg) {
		int on = *(int *)arg;

		if (o->kind == SK_LISTEN) {
			atomic_store(&((struct slisten *)o)->nonblock, on);
			r = 0;
		} else {
			r = real.ioctl(fd, req, arg);
			if (r == 0)
				nonblock_changed(o, on);
		}
	} else if (req == FIONREAD && arg && o->kind == SK_STREAM &&
		   !atomic_load(&((struct sstream *)o)->native)) {
		r = st_inq((struct sstream *)o);
		if (r >= 0) {
			*(int *)arg = r;
			r = 0;
		} else {
			errno = -r;
			r = -1;
		}
	} else {
		r = real.ioctl(fd, req, arg);
	}
	obj_put(o);
	return r;
}
