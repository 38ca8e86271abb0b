/* SPDX-License-Identifier: MIT */
/*
 * ivshmem - ismd serves QEMU's ivshmem-doorbell devices (QEMU's ivshmem
 * server protocol, docs/ivshmem.md).
 *
 * A *domain* is one shared memory (a sealed memfd of a power-of-two size)
 * served on its own UNIX stream socket.  Every message is one signed
 * 64-bit little-endian integer, maybe with one fd: to a newcomer, the
 * version (0), its id, -1 with the memory, then every present peer's id
 * once per vector with that peer's eventfds, then its own id once per
 * vector with its own; to everyone else, the newcomer's id with its
 * eventfds; when a peer leaves, its id without an fd.
 *
 * QEMU reads its setup synchronously while starting, so ismd sends it at
 * once; it never sends anything, so any byte or hang-up from a peer ends
 * that peer alone.  Nothing blocks: each peer has a queue of messages
 * (each owning a dup of its fd) flushed with MSG_DONTWAIT; a peer whose
 * queue overflows is dropped.  Ids count up and wrap at 65536, skipping
 * ids in use, so a departed id is not handed out again while a notice
 * about it could still be queued.
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define IVSH_ID_SPACE 65536u

struct ivsh_msg {
	int64_t v;
	int fd; /* owned (a dup), or -1 */
};

struct ivsh_peer {
	enum ep_kind kind; /* EP_IVSH_PEER; first member */
	struct ivsh_domain *dom;
	uint16_t id;
	bool dead, want_out;
	const char *doom; /* to be dropped (by sweep()), and why */
	int sock;
	int efd[IVSH_MAX_VECTORS];
	struct ivsh_msg *q; /* ring of dom->qcap: a newcomer's whole setup */
	uint32_t qhead, qlen;
	struct ism_list link; /* dom->peers, then d->ivsh_reap */
};

struct ivsh_domain {
	enum ep_kind kind; /* EP_IVSH_LISTEN; first member */
	struct ivsh_spec spec;
	int listen_fd, memfd;
	uint32_t next_id, n_peers, qcap;
	struct ism_list peers;
	struct ism_list link; /* d->ivsh_domains */
};

/* ---- the option: PATH,size=SIZE[,vectors=N][,name=NAME][,peers=N] ---- */

int ivsh_parse(const char *arg, struct ivsh_spec *s, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	bool have_size = false;

	memset(s, 0, sizeof(*s));
	s->vectors = 1;
	s->max_peers = IVSH_DEFAULT_PEERS;
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "too long");
		return -EINVAL;
	}
	memcpy(buf, arg, strlen(arg) + 1);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strchr(tok, '=')) {
		snprintf(err, errlen, "the first item must be the socket path");
		return -EINVAL;
	}
	if (strlen(tok) >= sizeof(s->path)) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(s->path, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		uint64_t v;

		if (!eq) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", tok);
			return -EINVAL;
		}
		*eq++ = '\0';
		if (!strcmp(tok, "size")) {
			if (ism_parse_size(eq, &v) < 0 || v < 4096 ||
			    v > (1ull << 40) || (v & (v - 1))) {
				snprintf(err, errlen,
					 "size %s is not a power of two from 4K "
					 "to 1T (QEMU's ivshmem aborts on "
					 "other sizes)",
					 eq);
				return -EINVAL;
			}
			s->size = v;
			have_size = true;
		} else if (!strcmp(tok, "vectors")) {
			if (ism_parse_u64(eq, IVSH_MAX_VECTORS, &v) < 0 || !v) {
				snprintf(err, errlen, "vectors must be 1 to %u",
					 IVSH_MAX_VECTORS);
				return -EINVAL;
			}
			s->vectors = (uint32_t)v;
		} else if (!strcmp(tok, "peers")) {
			if (ism_parse_u64(eq, IVSH_MAX_PEERS, &v) < 0 || v < 2) {
				snprintf(err, errlen, "peers must be 2 to %u",
					 IVSH_MAX_PEERS);
				return -EINVAL;
			}
			s->max_peers = (uint32_t)v;
		} else if (!strcmp(tok, "name")) {
			if (!*eq || strlen(eq) > ISM_NAME_MAX) {
				snprintf(err, errlen, "name must be 1 to %d bytes",
					 ISM_NAME_MAX);
				return -EINVAL;
			}
			memcpy(s->name, eq, strlen(eq) + 1);
		} else {
			snprintf(err, errlen, "unknown key '%s'", tok);
			return -EINVAL;
		}
	}
	if (!have_size) {
		snprintf(err, errlen, "size=SIZE is required");
		return -EINVAL;
	}
	if (!s->name[0]) {
		const char *base = strrchr(s->path, '/');

		/* The socket's file name, cut to fit. */
		ism_strlcpy(s->name, base ? base + 1 : s->path, sizeof(s->name));
	}
	return 0;
}

/* ---- sending ---- */

static int send_one(int sock, int64_t v, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint8_t le[8];
	struct iovec iov = { le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)((uint64_t)v >> (8 * i));
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* Eight bytes go whole or not at all on an empty-enough queue; a
	 * short write would desynchronise QEMU: treat it as fatal. */
	ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n == 8)
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	return n < 0 ? -errno : -EIO;
}

static void set_out(struct daemon *d, struct ivsh_peer *p, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = &p->kind };

	if (p->want_out == on)
		return;
	p->want_out = on;
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, p->sock, &ev);
}

static void flush(struct daemon *d, struct ivsh_peer *p)
{
	while (p->qlen && !p->dead && !p->doom) {
		struct ivsh_msg *m = &p->q[p->qhead];
		int r = send_one(p->sock, m->v, m->fd);

		if (r == -EAGAIN) {
			set_out(d, p, true);
			return;
		}
		if (r < 0) {
			p->doom = "send failed";
			return;
		}
		ism_close_fd(&m->fd);
		p->qhead = (p->qhead + 1) % p->dom->qcap;
		p->qlen--;
	}
	set_out(d, p, false);
}

/* Queue @v with a dup of @fd (or none).  False if the peer is doomed. */
static bool queue(struct ivsh_peer *p, int64_t v, int fd)
{
	struct ivsh_msg *m;
	int dfd = -1;

	if (p->dead || p->doom)
		return false;
	if (p->qlen >= p->dom->qcap) {
		p->doom = "too slow to read its messages";
		return false;
	}
	if (fd >= 0 && (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		p->doom = "out of file descriptors";
		return false;
	}
	m = &p->q[(p->qhead + p->qlen) % p->dom->qcap];
	m->v = v;
	m->fd = dfd;
	p->qlen++;
	return true;
}

/* ---- peers ---- */

/* Drop @p and tell the others.  Never drops anyone else: a peer that
 * cannot take the notice is only doomed, for sweep(). */
static void ipeer_drop(struct daemon *d, struct ivsh_peer *p, const char *why)
{
	struct ivsh_domain *dom = p->dom;
	struct ism_list *pos;

	if (p->dead)
		return;
	p->dead = true;
	ismd_log(L_INFO, "ivshmem %s: peer %u gone: %s", dom->spec.name,
		 p->id, why);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->sock, NULL);
	ism_list_del(&p->link);
	dom->n_peers--;
	ism_list_add_tail(&d->ivsh_reap, &p->link);
	/* The others close its eventfds on this notice. */
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o = ism_container_of(pos, struct ivsh_peer, link);

		if (queue(o, p->id, -1))
			flush(d, o);
	}
}

/* Drop the doomed peers, one at a time: each drop notifies the rest,
 * which may doom more. */
static void sweep(struct daemon *d, struct ivsh_domain *dom)
{
	for (;;) {
		struct ivsh_peer *doomed = NULL;

		for (struct ism_list *pos = dom->peers.next; pos != &dom->peers;
		     pos = pos->next) {
			struct ivsh_peer *o =
				ism_container_of(pos, struct ivsh_peer, link);

			if (o->doom) {
				doomed = o;
				break;
			}
		}
		if (!doomed)
			return;
		ipeer_drop(d, doomed, doomed->doom);
	}
}

static void ipeer_free(struct ivsh_peer *p)
{
	while (p->qlen) {
		ism_close_fd(&p->q[p->qhead].fd);
		p->qhead = (p->qhead + 1) % p->dom->qcap;
		p->qlen--;
	}
	for (int v = 0; v < IVSH_MAX_VECTORS; v++)
		ism_close_fd(&p->efd[v]);
	ism_close_fd(&p->sock);
	free(p->q);
	free(p);
}

void ivsh_reap(struct daemon *d)
{
	while (!ism_list_empty(&d->ivsh_reap)) {
		struct ivsh_peer *p =
			ism_container_of(d->ivsh_reap.next, struct ivsh_peer, link);

		ism_list_del(&p->link);
		ipeer_free(p);
	}
}

static bool id_in_use(struct ivsh_domain *dom, uint32_t id)
{
	for (struct ism_list *pos = dom->peers.next; pos != &dom->peers;
	     pos = pos->next)
		if (ism_container_of(pos, struct ivsh_peer, link)->id == id)
			return true;
	return false;
}

static void ipeer_new(struct daemon *d, struct ivsh_domain *dom, int sock)
{
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t nv = dom->spec.vectors, id = dom->next_id;
	struct ivsh_peer *p;
	struct ism_list *pos;

	if (dom->n_peers >= dom->spec.max_peers) {
		ismd_log(L_WARN, "ivshmem %s: refusing a peer: %u peers already",
			 dom->spec.name, dom->n_peers);
		close(sock);
		return;
	}
	while (id_in_use(dom, id))
		id = (id + 1) % IVSH_ID_SPACE;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->q = calloc(dom->qcap, sizeof(*p->q)))) {
		free(p);
		close(sock);
		return;
	}
	p->kind = EP_IVSH_PEER;
	p->dom = dom;
	p->id = (uint16_t)id;
	p->sock = sock;
	for (int v = 0; v < IVSH_MAX_VECTORS; v++)
		p->efd[v] = -1;
	for (uint32_t v = 0; v < nv; v++)
		if ((p->efd[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
			ipeer_free(p);
			return;
		}
	ev.data.ptr = &p->kind;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		ipeer_free(p);
		return;
	}
	dom->next_id = (id + 1) % IVSH_ID_SPACE;
	/* The newcomer: version, id, memory, the others', its own (the
	 * queue holds exactly this much). */
	queue(p, 0, -1);
	queue(p, p->id, -1);
	queue(p, -1, dom->memfd);
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o = ism_container_of(pos, struct ivsh_peer, link);

		for (uint32_t v = 0; v < nv; v++)
			queue(p, o->id, o->efd[v]);
	}
	for (uint32_t v = 0; v < nv; v++)
		queue(p, p->id, p->efd[v]);
	/* The others: the newcomer's eventfds. */
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o = ism_container_of(pos, struct ivsh_peer, link);

		for (uint32_t v = 0; v < nv; v++)
			queue(o, p->id, p->efd[v]);
		flush(d, o);
	}
	ism_list_add_tail(&dom->peers, &p->link);
	dom->n_peers++;
	ismd_log(L_INFO, "ivshmem %s: peer %u joined (%u present)",
		 dom->spec.name, p->id, dom->n_peers);
	flush(d, p);
	sweep(d, dom);
}

void ivsh_accept(struct daemon *d, struct ivsh_domain *dom)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(dom->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		ipeer_new(d, dom, fd);
	}
}

void ivsh_event(struct daemon *d, struct ivsh_peer *p, uint32_t events)
{
	if (p->dead)
		return;
	if (events & EPOLLOUT)
		flush(d, p);
	if (!p->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		char c;
		ssize_t n = recv(p->sock, &c, 1, MSG_DONTWAIT | MSG_PEEK);

		/* QEMU never writes: bytes are a violation, EOF a leave. */
		ipeer_drop(d, p, n > 0 ? "sent data (protocol violation)"
				      : "disconnected");
	}
	sweep(d, p->dom);
}

/* ---- domains ---- */

/* Bind @path, taking over a stale socket nobody answers on. */
static int bind_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;

	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 &&
		    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int domain_open(struct daemon *d, const struct ivsh_spec *spec)
{
	struct ivsh_domain *dom = calloc(1, sizeof(*dom));
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if (!dom)
		return -ENOMEM;
	if (spec->size > d->cfg.max_memory - ISM_MIN(d->bytes_used,
						     d->cfg.max_memory)) {
		free(dom);
		ismd_log(L_ERR, "ivshmem domain %s: %llu bytes exceed "
				"--max-memory", spec->name,
			 (unsigned long long)spec->size);
		return -ENOMEM;
	}
	dom->kind = EP_IVSH_LISTEN;
	dom->spec = *spec;
	dom->qcap = 3 + spec->vectors * (spec->max_peers + 1);
	dom->listen_fd = -1;
	ism_list_init(&dom->peers);
	dom->memfd = memfd_create(spec->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (dom->memfd < 0 || ftruncate(dom->memfd, (off_t)spec->size) < 0 ||
	    fcntl(dom->memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto fail;
	}
	if ((dom->listen_fd = bind_path(spec->path)) < 0) {
		r = dom->listen_fd;
		goto fail;
	}
	ev.data.ptr = &dom->kind;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, dom->listen_fd, &ev) < 0) {
		r = -errno;
		unlink(spec->path);
		goto fail;
	}
	ism_list_add_tail(&d->ivsh_domains, &dom->link);
	d->bytes_used += spec->size;
	ismd_log(L_INFO, "ivshmem domain %s: %llu bytes, %u vectors, up to %u "
			 "peers, on %s",
		 spec->name, (unsigned long long)spec->size, spec->vectors,
		 spec->max_peers, spec->path);
	return 0;
fail:
	ismd_log(L_ERR, "ivshmem domain %s on %s: %s", spec->name, spec->path,
		 strerror(-r));
	ism_close_fd(&dom->memfd);
	ism_close_fd(&dom->listen_fd);
	free(dom);
	return r;
}

int ivsh_init(struct daemon *d)
{
	for (uint32_t i = 0; i < d->cfg.n_ivshmem; i++) {
		int r = domain_open(d, &d->cfg.ivshmem[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

void ivsh_fini(struct daemon *d)
{
	while (!ism_list_empty(&d->ivsh_domains)) {
		struct ivsh_domain *dom = ism_container_of(
			d->ivsh_domains.next, struct ivsh_domain, link);

		while (!ism_list_empty(&dom->peers)) {
			struct ivsh_peer *p = ism_container_of(
				dom->peers.next, struct ivsh_peer, link);

			ism_list_del(&p->link);
			ipeer_free(p);
		}
		ism_list_del(&dom->link);
		if (dom->listen_fd >= 0)
			unlink(dom->spec.path);
		ism_close_fd(&dom->listen_fd);
		ism_close_fd(&dom->memfd);
		d->bytes_used -= dom->spec.size;
		free(dom);
	}
	ivsh_reap(d);
}
