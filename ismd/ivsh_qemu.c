/* SPDX-License-Identifier: MIT */
/*
 * ivsh_qemu - ismd serves QEMU's ivshmem-doorbell devices (QEMU's ivshmem
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
 * that peer alone (and its socket refuses fds where the kernel can:
 * SO_PASSRIGHTS).  Nothing blocks: each peer has a queue of messages
 * flushed with MSG_DONTWAIT; a queued eventfd is a reference to the
 * doorbell that owns it, not a dup, so a client that never reads costs
 * no fds; a peer whose queue overflows is dropped.  Every QEMU receives
 * every other peer's eventfds and can make any of them block, so ismd
 * never writes one itself: rings go through doorbell.c, which blames
 * nobody for a shared eventfd (it just rings a tampered one on its slow
 * lane).  A connection's socket is closed by a worker (closer.h), and
 * its fds and memory are charged to the connecting uid (acct.h).  Ids count up and wrap at 65536, skipping
 * ids in use, so a departed id is not handed out again while a notice
 * about it could still be queued.
 */
#include "ivsh_impl.h"

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

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

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
				  .data.ptr = &p->src };

	if (p->want_out == on)
		return;
	p->want_out = on;
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, p->sock, &ev);
}

static void flush(struct daemon *d, struct ivsh_peer *p)
{
	if (p->sock < 0)
		return;
	while (p->qlen && !p->dead && !p->doom) {
		struct ivsh_msg *m = &p->q[p->qhead];
		int fd = m->db ? doorbell_fd(m->db) : -1, r;

		/* The memory as a fresh open file description, never ours. */
		if (m->mem && (fd = ismd_reopen(p->dom->memfd, O_RDWR)) < 0) {
			p->doom = "out of file descriptors";
			return;
		}
		r = send_one(p->sock, m->v, fd);
		if (m->mem)
			close(fd);

		if (r == -EAGAIN) {
			set_out(d, p, true);
			return;
		}
		if (r < 0) {
			p->doom = "send failed";
			return;
		}
		doorbell_put(m->db);
		m->db = NULL;
		p->qhead = (p->qhead + 1) % p->dom->qcap;
		p->qlen--;
	}
	set_out(d, p, false);
}

/* Queue @v with @db's eventfd (or none).  False if the peer is doomed. */
static bool queue(struct ivsh_peer *p, int64_t v, struct doorbell *db)
{
	struct ivsh_msg *m;

	if (p->dead || p->doom)
		return false;
	if (p->sock < 0)
		return true; /* an ism member learns nothing through ismd */
	if (p->qlen >= p->dom->qcap) {
		p->doom = "too slow to read its messages";
		return false;
	}
	m = &p->q[(p->qhead + p->qlen) % p->dom->qcap];
	m->v = v;
	m->db = db ? doorbell_ref(db) : NULL;
	m->mem = false;
	p->qlen++;
	return true;
}

/* ---- peers ---- */

/* ivshmem 2.0: a state change raises vector 0 on every other peer (the
 * ism members also re-read the output sections then). */
void ivsh_ring_state_change(struct ivsh_domain *dom, struct ivsh_peer *p)
{
	for (struct ism_list *pos = dom->peers.next; pos != &dom->peers;
	     pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		if (o != p && o->db[0])
			doorbell_ring(o->db[0]);
	}
}

/* Drop @p and tell the others.  Never drops anyone else: a peer that
 * cannot take the notice is only doomed, for sweep(). */
void ipeer_drop(struct daemon *d, struct ivsh_peer *p, const char *why)
{
	struct ivsh_domain *dom = p->dom;
	struct ism_list *pos;

	if (p->dead)
		return;
	p->dead = true;
	ismd_alog(p->acct, L_INFO, "ivshmem %s: peer %u gone: %s",
		  dom->spec.name, p->id, why);
	if (p->sock >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->sock, NULL);
	if (p->owner) {
		ism_list_del(&p->owner_link);
		p->owner = NULL;
	}
	ism_list_del(&p->link);
	dom->n_peers--;
	ism_list_add_tail(&d->ivsh.reap, &p->link);
	/* The others close its eventfds on this notice. */
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		if (queue(o, p->id, NULL))
			flush(d, o);
	}
	if (dom->spec.v2)
		/* ivshmem 2.0: a departed peer's state reads 0. */
		atomic_store_explicit(&dom->state[p->id], 0,
				      memory_order_release);
	if (dom->ivc)
		/* channels: its slot is nobody's now. */
		__atomic_store_n(&dom->ivc->presence[p->id], 0,
				 __ATOMIC_RELEASE);
	if (dom->spec.v2 || dom->ivc)
		ivsh_ring_state_change(dom, p);
}

/* Drop the doomed peers, one at a time: each drop notifies the rest,
 * which may doom more. */
void ivsh_sweep(struct daemon *d, struct ivsh_domain *dom)
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

static size_t ipeer_cost(const struct ivsh_domain *dom, bool qemu)
{
	return sizeof(struct ivsh_peer) +
	       (qemu ? dom->qcap * sizeof(struct ivsh_msg) : 0);
}

static void ipeer_free(struct ivsh_peer *p)
{
	unsigned nfds = 0;

	while (p->qlen) {
		doorbell_put(p->q[p->qhead].db);
		p->qhead = (p->qhead + 1) % p->dom->qcap;
		p->qlen--;
	}
	for (int v = 0; v < ISM_IVSHMEM_MAX_VECTORS; v++)
		if (p->db[v]) {
			/* Closed once no queue holds it any more. */
			doorbell_release(p->db[v]);
			nfds++;
		}
	if (p->outfd >= 0) {
		close(p->outfd); /* our own memfd */
		nfds++;
	}
	acct_uncharge(p->acct, ACCT_FDS, nfds);
	if (p->sock >= 0)
		/* What the client queued in it is released by its close. */
		closer_put(p->sock, p->acct);
	acct_uncharge(p->acct, ACCT_HEAP, ipeer_cost(p->dom, p->q != NULL));
	acct_put(p->acct);
	free(p->q);
	free(p);
}

void ivsh_reap(struct daemon *d)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->ivsh.reap) {
		struct ivsh_peer *p =
			ism_container_of(pos, struct ivsh_peer, link);

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

/*
 * A new peer with its eventfds: a QEMU on @sock (its setup queued), or an
 * ism member of @owner (sock -1: it gets its fds in ismd's reply).  The
 * others learn its eventfds.  Takes @sock.  NULL if refused (-errno in
 * *@err).
 */
static void ivsh_event(struct daemon *d, struct ep_source *src,
		       uint32_t events);

struct ivsh_peer *ipeer_new(struct daemon *d, struct ivsh_domain *dom, int sock,
			    struct acct *acct, struct peer *owner, int *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t nv = dom->spec.vectors, id = dom->next_id;
	unsigned nfds = nv + (dom->spec.v2 && owner ? 1 : 0);
	size_t cost = ipeer_cost(dom, sock >= 0);
	const char *kind;
	struct ivsh_peer *p;
	struct ism_list *pos;

	*err = -ENOMEM;
	if (dom->n_peers >= dom->spec.max_peers) {
		ismd_alog(acct, L_WARN,
			  "ivshmem %s: refusing a peer: %u peers already",
			  dom->spec.name, dom->n_peers);
		*err = -EUSERS;
		goto fail;
	}
	/* Its eventfds (and output section) and its record and queue are
	 * held for the connecting uid. */
	if ((*err = acct_charge(acct, ACCT_FDS, nfds)) < 0)
		goto fail;
	if ((*err = acct_charge(acct, ACCT_HEAP, cost)) < 0) {
		acct_uncharge(acct, ACCT_FDS, nfds);
		goto fail;
	}
	/* v2 ids index the state table, channel ids the slots: below
	 * max_peers (still round robin, so a departed id comes back as late
	 * as possible). */
	if (dom->spec.v2 || dom->spec.chan)
		id %= dom->spec.max_peers;
	while (id_in_use(dom, id))
		id = (id + 1) % (dom->spec.v2 || dom->spec.chan
					 ? dom->spec.max_peers
					 : IVSH_ID_SPACE);
	p = calloc(1, sizeof(*p));
	if (!p || (sock >= 0 && !(p->q = calloc(dom->qcap, sizeof(*p->q))))) {
		free(p);
		acct_uncharge(acct, ACCT_FDS, nfds);
		acct_uncharge(acct, ACCT_HEAP, cost);
		*err = -ENOMEM;
		goto fail;
	}
	p->src.fn = ivsh_event;
	p->dom = dom;
	p->acct = acct_ref(acct);
	p->id = (uint16_t)id;
	p->sock = sock;
	p->joined_ns = ism_now_ns();
	p->outfd = -1;
	/* From here ipeer_free() releases what is charged: count what it
	 * will not find as already released. */
	acct_uncharge(acct, ACCT_FDS, nfds);
	if (dom->spec.v2 && owner) {
		char name[ISM_NAME_MAX + 8];

		snprintf(name, sizeof(name), "%s:out%u", dom->spec.name, id);
		if ((p->outfd = ismd_memfd_new(name, dom->spec.output, 0)) <
		    0) {
			*err = p->outfd;
			p->outfd = -1;
			ipeer_free(p);
			return NULL;
		}
		acct_force(acct, ACCT_FDS, 1);
	}
	for (uint32_t v = 0; v < nv; v++) {
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (efd < 0 ||
		    !(p->db[v] = doorbell_new(efd, false, NULL, NULL))) {
			*err = efd < 0 ? -errno : -ENOMEM;
			ipeer_free(p);
			return NULL;
		}
		acct_force(acct, ACCT_FDS, 1);
	}
	ev.data.ptr = &p->src;
	if (sock >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		*err = -errno;
		ipeer_free(p);
		return NULL;
	}
	dom->next_id = (id + 1) % IVSH_ID_SPACE;
	if (dom->spec.v2)
		atomic_store_explicit(&dom->state[id], 0, memory_order_release);
	if (dom->ivc) {
		/* Its presence serial, before anyone (itself included) can
		 * look: a new holder of a reused id never looks like the old
		 * one. */
		if (!++dom->serial)
			dom->serial = 1;
		__atomic_store_n(&dom->ivc->presence[id], dom->serial,
				 __ATOMIC_RELEASE);
	}
	/* The newcomer: version, id, memory, the others', its own (the
	 * queue holds exactly this much; nothing for an ism member). */
	queue(p, 0, NULL);
	queue(p, p->id, NULL);
	if (queue(p, -1, NULL) && p->qlen)
		p->q[(p->qhead + p->qlen - 1) % dom->qcap].mem = true;
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		for (uint32_t v = 0; v < nv; v++)
			queue(p, o->id, o->db[v]);
	}
	for (uint32_t v = 0; v < nv; v++)
		queue(p, p->id, p->db[v]);
	/* The others: the newcomer's eventfds. */
	for (pos = dom->peers.next; pos != &dom->peers; pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		for (uint32_t v = 0; v < nv; v++)
			queue(o, p->id, p->db[v]);
		flush(d, o);
	}
	ism_list_add_tail(&dom->peers, &p->link);
	dom->n_peers++;
	if (owner) {
		p->owner = owner;
		ism_list_add_tail(&owner->ivsh, &p->owner_link);
	}
	kind = owner ? "ism" : sock >= 0 ? "QEMU" : "ismd's own";
	ismd_alog(acct, L_INFO, "ivshmem %s: %s peer %u joined (%u present)",
		  dom->spec.name, kind, p->id, dom->n_peers);
	flush(d, p);
	if (dom->spec.v2 || dom->ivc)
		ivsh_ring_state_change(dom, p);
	ivsh_sweep(d, dom);
	return p->dead ? NULL : p;
fail:
	if (sock >= 0)
		closer_put(sock, acct); /* charged by the caller */
	return NULL;
}

static void ivsh_listen_event(struct daemon *d, struct ep_source *src,
			      uint32_t events)
{
	struct ivsh_domain *dom =
		ism_container_of(src, struct ivsh_domain, src);

	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(dom->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC),
		    err, off = 0;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct acct *a;

		if (fd < 0)
			return;
		/* QEMU never sends fds: where the kernel can, refuse them
		 * outright (Linux 6.16+), so nothing can wait in this
		 * socket for our close. */
		setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off));
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    !(a = acct_get((uint32_t)cred.uid,
				   cred.uid == 0 || cred.uid == geteuid()))) {
			acct_force(NULL, ACCT_FDS, 1);
			closer_put(fd, NULL);
			continue;
		}
		acct_force(a, ACCT_FDS, 1); /* the socket, until closed */
		ipeer_new(d, dom, fd, a, NULL, &err);
		acct_put(a);
	}
}

static void ivsh_event(struct daemon *d, struct ep_source *src, uint32_t events)
{
	struct ivsh_peer *p = ism_container_of(src, struct ivsh_peer, src);

	if (p->dead)
		return;
	if (events & EPOLLOUT)
		flush(d, p);
	if (!p->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		char c;
		ssize_t n = recv(p->sock, &c, 1, MSG_DONTWAIT | MSG_PEEK);

		/* QEMU never writes: bytes are a violation, EOF a leave. */
		ipeer_drop(d, p,
			   n > 0 ? "sent data (protocol violation)"
				 : "disconnected");
	}
	ivsh_sweep(d, p->dom);
}

/* ---- domains ---- */

/* channels=on: the ivchan domain header in the (fresh, zeroed) memory's
 * first page, which ismd keeps mapped to store presence serials.  The
 * memfd is ismd's own and sealed against shrinking, and not hugetlb: a
 * member's punched hole reads back as zeros, never SIGBUS. */
static int ivc_format(struct ivsh_domain *dom)
{
	void *m = mmap(NULL, IVC_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       dom->memfd, 0);

	if (m == MAP_FAILED)
		return -errno;
	dom->ivc = m;
	dom->ivc->version = IVC_VERSION;
	dom->ivc->nslots = dom->spec.max_peers;
	dom->ivc->slot0 = IVC_HDR_SIZE;
	dom->ivc->slot_size =
		ivc_slot_size(dom->spec.size, dom->spec.max_peers);
	__atomic_store_n(&dom->ivc->magic, IVC_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

static int domain_open(struct daemon *d, const struct ivsh_spec *spec,
		       uint32_t id)
{
	struct ivsh_domain *dom = calloc(1, sizeof(*dom));
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if (!dom)
		return -ENOMEM;
	/* ismd's own (configured) memory: charged to nobody's uid. */
	if (acct_charge(NULL, ACCT_MEM, spec->size) < 0) {
		free(dom);
		ismd_log(L_ERR,
			 "ivshmem domain %s: %llu bytes exceed "
			 "--max-memory",
			 spec->name, (unsigned long long)spec->size);
		return -ENOMEM;
	}
	dom->src.fn = ivsh_listen_event;
	dom->d = d;
	dom->id = id;
	dom->spec = *spec;
	dom->statefd = -1;
	if (spec->v2) {
		void *m;

		dom->state_size =
			((size_t)spec->max_peers * 4 + 4095) & ~(size_t)4095;
		if ((dom->statefd = ismd_memfd_new("ivshmem-state",
						   dom->state_size, 0)) < 0) {
			r = dom->statefd;
			goto fail;
		}
		m = mmap(NULL, dom->state_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, dom->statefd, 0);
		if (m == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
		dom->state = m;
	}
	dom->qcap = 3 + spec->vectors * (spec->max_peers + 1);
	dom->listen_fd = -1;
	ism_list_init(&dom->peers);
	dom->memfd = ismd_memfd_new(spec->name, spec->size, 0);
	if (dom->memfd < 0) {
		r = dom->memfd;
		goto fail;
	}
	if (spec->chan && (r = ivc_format(dom)) < 0)
		goto fail;
	/* The control socket's mode and group: QEMU connects as a user
	 * the administrator lets in, like any peer. */
	if ((r = ismd_bind_unix(
		     spec->path, SOCK_STREAM, (mode_t)d->cfg.socket_mode,
		     d->cfg.socket_gid_set ? d->cfg.socket_gid : (gid_t)-1, 64,
		     &dom->bound)) < 0)
		goto fail;
	dom->listen_fd = dom->bound.fd;
	ev.data.ptr = &dom->src;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, dom->listen_fd, &ev) < 0) {
		r = -errno;
		ismd_unbind_unix(spec->path, &dom->bound);
		dom->listen_fd = -1;
		goto fail;
	}
	ism_list_add_tail(&d->ivsh.domains, &dom->link);
	ismd_log(L_INFO,
		 "ivshmem domain %s: %llu bytes, %u vectors, up to %u "
		 "peers, layout v%d%s, on %s",
		 spec->name, (unsigned long long)spec->size, spec->vectors,
		 spec->max_peers, spec->v2 ? 2 : 1,
		 spec->chan ? " with channels" : "", spec->path);
	/* Listed already: ivsh_fini undoes it if this fails. */
	if (spec->control)
		return ivsh_guest_open(d, dom);
	return 0;
fail:
	ismd_log(L_ERR, "ivshmem domain %s on %s: %s", spec->name, spec->path,
		 strerror(-r));
	if (dom->ivc)
		munmap(dom->ivc, IVC_HDR_SIZE);
	if (dom->state)
		munmap((void *)dom->state, dom->state_size);
	ism_close_fd(&dom->statefd);
	ism_close_fd(&dom->memfd);
	acct_uncharge(NULL, ACCT_MEM, spec->size);
	free(dom);
	return r;
}

void ivsh_setup(struct daemon *d)
{
	ism_list_init(&d->ivsh.domains);
	ism_list_init(&d->ivsh.reap);
}

int ivsh_init(struct daemon *d)
{
	for (uint32_t i = 0; i < d->cfg.n_ivshmem; i++) {
		int r = domain_open(d, &d->cfg.ivshmem[i], i + 1);

		if (r < 0)
			return r;
	}
	return 0;
}

void ivsh_fini(struct daemon *d)
{
	struct ism_list *dpos, *dtmp, *pos, *tmp;

	ism_list_for_each_safe (dpos, dtmp, &d->ivsh.domains) {
		struct ivsh_domain *dom =
			ism_container_of(dpos, struct ivsh_domain, link);

		ivsh_guest_close(d, dom);
		ism_list_for_each_safe (pos, tmp, &dom->peers) {
			struct ivsh_peer *p =
				ism_container_of(pos, struct ivsh_peer, link);

			ism_list_del(&p->link);
			if (p->owner)
				ism_list_del(&p->owner_link);
			ipeer_free(p);
		}
		ism_list_del(&dom->link);
		/* Removed only if still our socket. */
		ismd_unbind_unix(dom->spec.path, &dom->bound);
		dom->listen_fd = -1;
		ism_close_fd(&dom->memfd);
		if (dom->ivc)
			munmap(dom->ivc, IVC_HDR_SIZE);
		if (dom->state)
			munmap((void *)dom->state, dom->state_size);
		ism_close_fd(&dom->statefd);
		acct_uncharge(NULL, ACCT_MEM, dom->spec.size);
		free(dom);
	}
	ivsh_reap(d);
}
