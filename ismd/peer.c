/* SPDX-License-Identifier: MIT */
/*
 * peer - one connection: accepting it, reading and dispatching its
 * requests, its bounded send queue, events, doorbells, and its end.
 *
 * Never blocking on a peer:
 *  - sockets are non-blocking; a reply or event that does not fit in the
 *    socket waits in a per-peer queue capped in bytes (--max-queue);
 *  - notify and watch events are droppable: queued ones are coalesced
 *    (same region and sender: latest value, count added), and past the
 *    per-peer event quota they are counted and reported by an OVERFLOW
 *    event once the queue drains;
 *  - a peer whose queue would pass the cap with an event that must not be
 *    lost is disconnected ("not reading its socket"), loudly;
 *  - events others cause are never a reason to drop a peer: notify,
 *    watch, attach and detach events are coalesced or dropped-and-counted;
 *    a region-gone event is owed (at most one per reference the peer
 *    holds) and always queued;
 *  - while a peer's queue is over half full its requests are not read, so
 *    a peer that pipelines requests without reading replies only stalls
 *    itself; the same while its uid is over its fd cap, or while a job
 *    runs for one of its requests (replies stay in order);
 *  - doorbells are rung by ringer threads (doorbell.c), and every fd a
 *    peer sent, and the peer's socket itself, is closed by a worker
 *    (closer.c): close() may wait on what the peer chose.
 */
#include "ismd.h"
#include "page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_MSGS_PER_WAKEUP 32
#define PEER_BAD_MSGS_MAX    64

/* ---- doorbells (see doorbell.c) ---- */

void peer_doorbell_failed(void *ctx, const char *why)
{
	struct peer *p = ctx;

	peer_kill(p->d, p, why);
}

void peer_index(struct daemon *d, struct peer *p)
{
	struct ism_list *pos = d->peers.ordered.prev;

	/* New ids come last; only resumed ones (an earlier epoch's) walk. */
	while (pos != &d->peers.ordered &&
	       ism_container_of(pos, struct peer, id_link)->id > p->id)
		pos = pos->prev;
	/* Insert after pos. */
	p->id_link.prev = pos;
	p->id_link.next = pos->next;
	pos->next->prev = &p->id_link;
	pos->next = &p->id_link;
}

void peer_ring(struct daemon *d, struct peer *p)
{
	(void)d;
	if (p->doorbell && !(p->flags & PEER_DEAD))
		doorbell_ring(p->doorbell);
}

/* ---- lifecycle ---- */

#define PEER_PAUSED (PEER_NOREAD | PEER_BUSY | PEER_STARVED)
/* Refused connections kept only to answer their HELLO with the reason;
 * past this many, further ones are closed at once. */
#define REFUSED_MAX 64u

static int epoll_set(struct daemon *d, struct peer *p, int op)
{
	struct epoll_event ev = { .data.ptr = &p->src };

	if (!(p->flags & PEER_PAUSED))
		ev.events |= EPOLLIN;
	if (p->flags & PEER_EPOLLOUT)
		ev.events |= EPOLLOUT;
	return epoll_ctl(d->epfd, op, p->sock, &ev) < 0 ? -errno : 0;
}

/* Is @p a member (primary or supplementary, per SO_PEERGROUPS) of one of
 * @gids?  The groups are the peer's at connect time. */
static bool in_groups(const struct peer *p, const gid_t *gids, uint32_t n)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *groups = NULL;
	bool found = false;

	if (n == 0)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (gids[i] == p->gid)
			return true;
	if (p->flags & PEER_GUEST)
		return false; /* its socketpair's groups are ismd's */
	for (int tries = 0; tries < 2; tries++) {
		gid_t *g = realloc(groups, len);

		if (!g)
			break;
		groups = g;
		if (getsockopt(p->sock, SOL_SOCKET, SO_PEERGROUPS, groups,
			       &len) == 0) {
			for (size_t k = 0; !found && k < len / sizeof(gid_t);
			     k++)
				for (uint32_t i = 0; !found && i < n; i++)
					found = gids[i] == groups[k];
			break;
		}
		/* ERANGE tells the size needed; anything else: no groups. */
		if (errno != ERANGE || len > 65536 * sizeof(gid_t))
			break;
	}
	free(groups);
	return found;
}

bool peer_is_admin(struct daemon *d, const struct peer *p)
{
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	for (uint32_t i = 0; i < d->cfg.n_admin_uids; i++)
		if (d->cfg.admin_uids[i] == p->uid)
			return true;
	return in_groups(p, d->cfg.admin_gids, d->cfg.n_admin_gids);
}

static int policy_refuses(struct daemon *d, const struct peer *p)
{
	const struct ismd_config *c = &d->cfg;

	if (c->n_allow_uids == 0 && c->n_allow_gids == 0)
		return 0;
	if (p->uid == 0 || p->uid == geteuid())
		return 0;
	for (uint32_t i = 0; i < c->n_allow_uids; i++)
		if (c->allow_uids[i] == p->uid)
			return 0;
	return in_groups(p, c->allow_gids, c->n_allow_gids) ? 0 : EACCES;
}

static void peer_event(struct daemon *d, struct ep_source *src, uint32_t events)
{
	struct peer *p = ism_container_of(src, struct peer, src);

	/* A peer killed earlier in this batch is only on the reap list. */
	if (p->flags & PEER_DEAD)
		return;
	if ((events & (EPOLLHUP | EPOLLERR)) && (p->flags & PEER_PAUSED)) {
		/* Gone while not read (an answer pending, or its uid past
		 * its fd share: then nothing else would ever free what it
		 * holds).  What it sent last no longer matters, and the
		 * level-triggered hang-up would wake the loop for ever. */
		peer_kill(d, p, "disconnected");
		return;
	}
	if (events & EPOLLOUT)
		peer_writable(d, p);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		peer_readable(d, p);
}

struct peer *peer_adopt(struct daemon *d, int fd, pid_t pid, uid_t uid,
			gid_t gid)
{
	struct peer *p = calloc(1, sizeof(*p));
	/* Room for a few maximum-size messages whatever the system's
	 * default (the kernel caps this at net.core.wmem_max, doubled). */
	int sndbuf = 4 * (int)ISM_WIRE_MAX_MSG, r;

	if (!p)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->src.fn = peer_event;
	p->d = d;
	p->sock = fd;
	p->pid = pid;
	p->uid = uid;
	p->gid = gid;
	if (pid < 0) {
		p->flags |= PEER_GUEST;
		p->pid = 0;
	}
	ism_list_init(&p->refs);
	ism_list_init(&p->streams);
	ism_list_init(&p->ivsh);
	ism_list_init(&p->pending);
	ism_list_init(&p->id_link);
	p->connected_ns = ism_now_ns();
	p->hello_deadline_ns = p->connected_ns +
			       (uint64_t)d->cfg.hello_timeout_ms * 1000000ull;
	p->acct = acct_get((uint32_t)uid, peer_is_admin(d, p));
	if (!p->acct || epoll_set(d, p, EPOLL_CTL_ADD) < 0) {
		acct_put(p->acct);
		free(p);
		return NULL;
	}
	/* Its socket and its memory are held for it from now on. */
	acct_force(p->acct, ACCT_FDS, 1);
	acct_force(p->acct, ACCT_HEAP, sizeof(*p));
	ism_list_add_tail(&d->peers.all, &p->link);
	d->peers.n++;
	p->refuse = policy_refuses(d, p);
	if (!p->refuse) {
		r = d->peers.n > d->cfg.max_peers
			    ? -EUSERS
			    : acct_charge(p->acct, ACCT_PEERS, 1);
		if (r == 0)
			p->flags |= PEER_COUNTED;
		else
			p->refuse = -r;
	}
	if (p->refuse)
		d->peers.n_refused++;
	return p;
}

void peer_accept(struct daemon *d)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct peer *p;
		int fd;

		fd = accept4(d->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: the listener stays
				 * readable.  Stop watching it until the next
				 * tick rather than spin. */
				struct epoll_event ev = {
					.events = 0,
					.data.ptr = &d->listen_src,
				};

				ismd_alog(NULL, L_WARN,
					  "accept: %s; new connections wait",
					  strerror(errno));
				epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->listen_fd,
					  &ev);
				d->accept_paused = true;
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    d->peers.n_refused >= REFUSED_MAX ||
		    !(p = peer_adopt(d, fd, cred.pid, cred.uid, cred.gid))) {
			/* Messages (with fds) may already wait in it. */
			acct_force(NULL, ACCT_FDS, 1);
			closer_put(fd, NULL);
			continue;
		}
		ismd_alog(p->acct, L_INFO,
			  "connection from pid %d uid %d gid %d%s", (int)p->pid,
			  (int)p->uid, (int)p->gid,
			  p->refuse ? " (refused)" : "");
	}
}

static void outmsg_free(struct peer *p, struct outmsg *m)
{
	/* Dups of fds ismd hands out; a link socket among them can hold
	 * whatever its creator queued in it. */
	closer_put_fds(m->fds, m->nfds, p->acct);
	acct_uncharge(p->acct, ACCT_HEAP, sizeof(*m) + m->len);
	free(m);
}

static void queue_free(struct peer *p)
{
	struct outmsg *m = p->oq_head, *n;

	for (; m; m = n) {
		n = m->next;
		outmsg_free(p, m);
	}
	p->oq_head = p->oq_tail = NULL;
	p->oq_count = p->oq_events = 0;
	p->oq_bytes = 0;
}

/* Mark @p for disconnection; it is released and freed at reap time. */
void peer_kill(struct daemon *d, struct peer *p, const char *why)
{
	if (p->flags & PEER_DEAD)
		return;
	p->flags |= PEER_DEAD;
	p->dead_reason = why;
	ism_list_del(&p->link);
	ism_list_add_tail(&d->peers.reap, &p->link);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->sock, NULL);
}

void peer_free(struct daemon *d, struct peer *p)
{
	int level =
		p->dead_reason && strcmp(p->dead_reason, "disconnected") != 0
			? L_WARN
			: L_INFO;

	if (p->id)
		ismd_alog(p->acct, level, "peer %llx (pid %d%s%s) gone: %s",
			  (unsigned long long)p->id, (int)p->pid,
			  p->name[0] ? ", " : "", p->name,
			  p->dead_reason ? p->dead_reason : "closed");
	region_release_peer(d, p);
	stream_release_peer(d, p);
	ivsh_release_peer(d, p);
	window_release_peer(d, p);
	if (p->flags & PEER_HELLO)
		peer_watch(d, ISM_WATCH_PEER_DOWN, 0, p, NULL);
	if (p->id)
		ism_map_del(&d->peers.by_id, p->id, 0);
	ism_list_del(&p->id_link);
	queue_free(p);
	ism_list_del(&p->link);
	/* Its socket may hold messages with fds it sent and we never read:
	 * closing it releases them. */
	closer_put(p->sock, p->acct);
	p->sock = -1;
	if (p->doorbell) {
		doorbell_release(p->doorbell);
		acct_uncharge(p->acct, ACCT_FDS, 1);
	}
	if (p->flags & PEER_COUNTED)
		acct_uncharge(p->acct, ACCT_PEERS, 1);
	else if (p->refuse && d->peers.n_refused)
		d->peers.n_refused--;
	acct_uncharge(p->acct, ACCT_HEAP, sizeof(*p));
	acct_put(p->acct);
	d->peers.n--;
	free(p);
}

/* ---- sending ---- */

static void set_epollout(struct daemon *d, struct peer *p, bool on)
{
	bool noread = p->oq_bytes > d->cfg.max_queue_bytes / 2;
	uint32_t want = (on ? PEER_EPOLLOUT : 0) | (noread ? PEER_NOREAD : 0);

	if ((p->flags & (PEER_EPOLLOUT | PEER_NOREAD)) == want)
		return;
	p->flags = (p->flags & ~(PEER_EPOLLOUT | PEER_NOREAD)) | want;
	if (!(p->flags & PEER_DEAD))
		epoll_set(d, p, EPOLL_CTL_MOD);
}

static bool coalesce_notify(struct daemon *d, struct peer *p,
			    const uint8_t *msg)
{
	/* Payload: region(8) sender(8) value(8) count(4) reserved(4). */
	for (struct outmsg *m = p->oq_head; m; m = m->next) {
		uint32_t count;

		if (m->type != ISM_MSG_EV_NOTIFY ||
		    memcmp(m->data + 16, msg + 16, 16) != 0)
			continue;
		memcpy(m->data + 32, msg + 32, 8); /* latest value */
		count = (uint32_t)m->data[40] | (uint32_t)m->data[41] << 8 |
			(uint32_t)m->data[42] << 16 |
			(uint32_t)m->data[43] << 24;
		if (count < UINT32_MAX)
			count++;
		for (int i = 0; i < 4; i++)
			m->data[40 + i] = (uint8_t)(count >> (8 * i));
		d->events_coalesced++;
		return true;
	}
	return false;
}

/* What a message is allowed to cost: see the top of this file. */
enum send_class { SEND_REPLY, SEND_DROP, SEND_OWED };

static int enqueue(struct daemon *d, struct peer *p, const uint8_t *buf,
		   size_t len, const int *fds, unsigned nfds,
		   enum send_class cls)
{
	struct outmsg *m;
	uint16_t type = (uint16_t)(buf[0] | buf[1] << 8);
	size_t cost = sizeof(*m) + len;

	if (cls == SEND_DROP) {
		if (type == ISM_MSG_EV_NOTIFY && coalesce_notify(d, p, buf))
			return 0;
		if (p->oq_events >= d->cfg.q_events ||
		    p->oq_bytes + len > d->cfg.max_queue_bytes ||
		    acct_charge(p->acct, ACCT_HEAP, cost) < 0) {
			p->ev_lost++;
			d->events_lost++;
			return 0;
		}
	} else if (cls == SEND_OWED) {
		/* Bounded by the references the peer holds. */
		acct_force(p->acct, ACCT_HEAP, cost);
	} else if (p->oq_bytes + len > d->cfg.max_queue_bytes ||
		   acct_charge(p->acct, ACCT_HEAP, cost) < 0) {
		return -ENOBUFS;
	}
	m = malloc(cost);
	if (!m) {
		acct_uncharge(p->acct, ACCT_HEAP, cost);
		if (cls == SEND_DROP) {
			p->ev_lost++;
			d->events_lost++;
			return 0;
		}
		return -ENOMEM;
	}
	m->next = NULL;
	m->len = (uint32_t)len;
	m->type = type;
	m->droppable = cls == SEND_DROP;
	m->nfds = 0;
	for (unsigned i = 0; i < nfds && i < ISM_ARRAY_SIZE(m->fds); i++) {
		/* The caller keeps its fds: the queue holds its own. */
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			closer_put_fds(m->fds, m->nfds, p->acct);
			acct_uncharge(p->acct, ACCT_HEAP, cost);
			free(m);
			return -EMFILE;
		}
		acct_force(p->acct, ACCT_FDS, 1);
		m->nfds++;
	}
	memcpy(m->data, buf, len);
	if (p->oq_tail)
		p->oq_tail->next = m;
	else
		p->oq_head = m;
	p->oq_tail = m;
	p->oq_count++;
	p->oq_bytes += len;
	if (m->droppable)
		p->oq_events++;
	set_epollout(d, p, true);
	return 0;
}

static void send_class(struct daemon *d, struct peer *p, const uint8_t *buf,
		       size_t len, const int *fds, unsigned nfds,
		       enum send_class cls)
{
	int r;

	if (p->flags & PEER_DEAD)
		return;
	if (!p->oq_head) {
		r = ism_wire_send(p->sock, buf, len, fds, nfds, MSG_DONTWAIT);
		if (r == 0)
			return;
		if (r != -EAGAIN) {
			peer_kill(d, p, "disconnected");
			return;
		}
	}
	r = enqueue(d, p, buf, len, fds, nfds, cls);
	if (r < 0) {
		d->evictions++;
		peer_kill(d, p,
			  r == -ENOBUFS ? "not reading its socket"
					: "out of memory queueing");
	}
}

void peer_send(struct daemon *d, struct peer *p, size_t len, const int *fds,
	       unsigned nfds, bool droppable)
{
	send_class(d, p, d->tx, len, fds, nfds,
		   droppable ? SEND_DROP : SEND_REPLY);
}

void peer_send_owed(struct daemon *d, struct peer *p, size_t len,
		    const int *fds, unsigned nfds)
{
	send_class(d, p, d->tx, len, fds, nfds, SEND_OWED);
}

void peer_send_reply(struct daemon *d, struct peer *p, const uint8_t *buf,
		     size_t len, const int *fds, unsigned nfds)
{
	send_class(d, p, buf, len, fds, nfds, SEND_REPLY);
}

static void send_overflow(struct daemon *d, struct peer *p)
{
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_EV_OVERFLOW,
			ISM_WIRE_F_EVENT, 0, 0);
	ism_proto_put_ev_overflow(&b, p->ev_lost);
	n = ism_proto_end(&b);
	p->ev_lost = 0;
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
}

void peer_writable(struct daemon *d, struct peer *p)
{
	struct outmsg *m;

	while ((m = p->oq_head)) {
		int r = ism_wire_send(p->sock, m->data, m->len, m->fds, m->nfds,
				      MSG_DONTWAIT);

		if (r == -EAGAIN)
			break;
		if (r < 0) {
			peer_kill(d, p, "disconnected");
			return;
		}
		p->oq_head = m->next;
		if (!p->oq_head)
			p->oq_tail = NULL;
		p->oq_count--;
		p->oq_bytes -= m->len;
		if (m->droppable)
			p->oq_events--;
		outmsg_free(p, m);
	}
	if (!p->oq_head && p->ev_lost)
		send_overflow(d, p);
	set_epollout(d, p, p->oq_head != NULL);
}

void peer_send_error(struct daemon *d, struct peer *p, uint16_t type,
		     uint32_t seq, int err)
{
	struct ism_wbuf b;
	int n;

	if (err < 0)
		err = -err;
	if (err <= 0 || err > 4095)
		err = EIO;
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, (uint32_t)err);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
}

/* ---- events ---- */

static void send_event(struct daemon *d, struct peer *p, struct ism_wbuf *b,
		       enum send_class cls)
{
	int n = ism_proto_end(b);

	if (n > 0)
		send_class(d, p, d->tx, (size_t)n, NULL, 0, cls);
}

#define EV_BEGIN(b, type)                                                      \
	ism_proto_begin(b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_EVENT, 0, \
			0)

void peer_event_notify(struct daemon *d, struct peer *p, uint64_t region,
		       uint64_t sender, uint64_t value)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_NOTIFY);
	ism_proto_put_ev_notify(&b, region, sender, value, 1);
	send_event(d, p, &b, SEND_DROP);
}

void peer_event_gone(struct daemon *d, struct peer *p, uint64_t region,
		     uint32_t reason)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_REGION_GONE);
	ism_proto_put_ev_gone(&b, region, reason);
	send_event(d, p, &b, SEND_OWED);
	/* A region going away is worth waking a sleeper for. */
	peer_ring(d, p);
}

void peer_event_attached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t access)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_PEER_ATTACHED);
	ism_proto_put_ev_attached(&b, region, who, access);
	/* Caused by others, as often as they like: never worth a drop. */
	send_event(d, p, &b, SEND_DROP);
}

void peer_event_detached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t reason)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_PEER_DETACHED);
	ism_proto_put_ev_detached(&b, region, who, reason);
	send_event(d, p, &b, SEND_DROP);
}

static bool watch_sees(struct peer *w, struct peer *about, struct region *r)
{
	if (w->flags & PEER_ADMIN)
		return true;
	if (about == w)
		return true;
	return r && r->owner_id == w->id;
}

void peer_watch(struct daemon *d, uint32_t kind, uint32_t reason,
		struct peer *about, struct region *r)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->peers.all) {
		struct peer *w = ism_container_of(pos, struct peer, link);
		struct ism_wbuf b;

		if (!(w->flags & PEER_WATCH) || !watch_sees(w, about, r))
			continue;
		EV_BEGIN(&b, ISM_MSG_EV_WATCH);
		ism_proto_put_ev_watch(
			&b, kind, reason, about ? about->id : 0, r ? r->id : 0,
			r ? r->size : 0, about ? (uint32_t)about->uid : 0,
			about ? (uint32_t)about->pid : 0,
			r ? r->name : (about ? about->name : ""));
		send_event(d, w, &b, SEND_DROP);
	}
}

/* ---- receiving ---- */

/* A packet whose header cannot be trusted: answered with no sequence
 * number; counted like any malformed request. */
static void malformed(struct daemon *d, struct peer *p, int err)
{
	p->bad_msgs++;
	ismd_plog(p, L_WARN, "malformed packet: %s", strerror(-err));
	peer_send_error(d, p, 0, 0, err);
	if (p->bad_msgs > PEER_BAD_MSGS_MAX)
		peer_kill(d, p, "too many malformed requests");
	else if (!(p->flags & PEER_HELLO))
		peer_kill(d, p, "protocol error before hello");
}

void peer_pause(struct daemon *d, struct peer *p, uint32_t flag, bool on)
{
	if (!!(p->flags & flag) == on)
		return;
	p->flags ^= flag;
	if (!(p->flags & PEER_DEAD))
		epoll_set(d, p, EPOLL_CTL_MOD);
}

/* Pause or resume reading @p for the uid's fd budget: only when fds ismd
 * could not refuse (those a message carried) pushed it past its share.
 * At the share exactly, requests are still read and refused (EDQUOT), and
 * a DESTROY that frees an fd gets through. */
static bool starved(struct daemon *d, struct peer *p)
{
	bool over = acct_beyond(p->acct, ACCT_FDS);

	if (over == !!(p->flags & PEER_STARVED))
		return over;
	p->flags ^= PEER_STARVED;
	if (over)
		ismd_plog(p, L_WARN,
			  "uid %u holds %llu fds (its cap): not "
			  "reading its peers until some are closed",
			  (unsigned)p->uid,
			  (unsigned long long)p->acct->used[ACCT_FDS]);
	if (!(p->flags & PEER_DEAD))
		epoll_set(d, p, EPOLL_CTL_MOD);
	return over;
}

void peer_readable(struct daemon *d, struct peer *p)
{
	for (int i = 0; i < PEER_MSGS_PER_WAKEUP; i++) {
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		int fds[ISM_WIRE_SCM_MAX_FDS];
		unsigned nfds = 0;
		ssize_t n;

		if (p->flags & (PEER_DEAD | PEER_PAUSED))
			return;
		/* Every fd the kernel attached lands in our table (none is
		 * dropped by the kernel in this thread, where its last
		 * close could wait), guarded all the same. */
		guard_enter(d->guard);
		n = ism_wire_recv_keep(p->sock, d->rx, ISM_WIRE_MAX_MSG, fds,
				       &nfds, MSG_DONTWAIT);
		guard_leave(d->guard);
		if (nfds)
			acct_force(p->acct, ACCT_FDS, nfds);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n == 0 || n == -ECONNRESET) {
			closer_put_fds(fds, nfds, p->acct);
			peer_kill(d, p, "disconnected");
			return;
		}
		if (n < 0 || nfds > ISM_WIRE_MAX_FDS) {
			closer_put_fds(fds, nfds, p->acct);
			/* Truncated or malformed packet, or too many fds:
			 * its header cannot be trusted; answer with no
			 * sequence number. */
			if (n > 0 || n == -EMSGSIZE || n == -EBADMSG) {
				malformed(d, p,
					  n == -EMSGSIZE ? -EMSGSIZE
							 : -EBADMSG);
				starved(d, p);
				continue;
			}
			peer_kill(d, p, "socket error");
			return;
		}
		ism_rbuf_init(&rb, d->rx, (size_t)n);
		if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0) {
			closer_put_fds(fds, nfds, p->acct);
			malformed(d, p, -EBADMSG);
			starved(d, p);
			continue;
		}
		dispatch_request(d, p, &h, &rb, fds, nfds);
		/* A handler that keeps an fd sets its slot to -1 (and the
		 * fd stays charged to this uid); every fd still here is
		 * closed, off the loop, on success and error alike. */
		for (unsigned k = 0; k < nfds; k++)
			if (fds[k] >= 0)
				closer_put(fds[k], p->acct);
		if (starved(d, p))
			return;
	}
}

void peer_async_done(struct daemon *d, struct peer *p)
{
	peer_pause(d, p, PEER_BUSY, false);
}

void peer_housekeeping(struct daemon *d, uint64_t now)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->peers.all) {
		struct peer *p = ism_container_of(pos, struct peer, link);

		if (!(p->flags & PEER_HELLO) && now > p->hello_deadline_ns)
			peer_kill(d, p, "no hello in time");
		else if (p->flags & PEER_STARVED)
			starved(d, p); /* its fds may be closed by now */
	}
	if (d->accept_paused) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &d->listen_src };

		d->accept_paused = false;
		epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->listen_fd, &ev);
	}
}

/* ---- LIST_PEERS (administrators: all; anyone else: itself) ---- */

static int list_peers(struct daemon *d, struct peer *p,
		      const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_peer_info *e;
	uint64_t now = ism_now_ns(), next;
	struct page pg;
	uint32_t k;

	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	if (p->flags & PEER_ADMIN) {
		struct ism_list *pos =
			page_resume(&d->peers.ordered, &d->peers.by_id,
				    req->cursor, offsetof(struct peer, id_link),
				    offsetof(struct peer, id));

		for (; pos != &d->peers.ordered && pg.n < pg.cap;
		     pos = pos->next)
			page_offer(&pg,
				   ism_container_of(pos, struct peer, id_link)
					   ->id);
	} else {
		page_offer(&pg, p->id); /* others are none of its business */
	}
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct peer *q = ism_map_get(&d->peers.by_id, pg.ids[i], 0);

		e[i].id = q->id;
		e[i].pid = (uint32_t)q->pid;
		e[i].uid = (uint32_t)q->uid;
		e[i].gid = (uint32_t)q->gid;
		e[i].flags = (q->flags & (PEER_ADMIN | PEER_WATCH)) |
			     (q == p ? ISM_PEER_SELF : 0);
		e[i].regions = q->n_regions;
		e[i].refs = q->n_refs;
		e[i].bytes = q->bytes;
		e[i].queued = q->oq_count;
		e[i].age_ns = now - q->connected_ns;
		e[i].ops = q->ops;
		ism_strlcpy(e[i].name, q->name, sizeof(e[i].name));
	}
	ism_proto_put_peers_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

int op_list_peers(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req = rq->in;

	if (req->region != 0)
		return -EINVAL;
	return list_peers(d, p, req, &rq->out);
}

struct peer *peer_find(struct daemon *d, uint64_t id)
{
	return ism_map_get(&d->peers.by_id, id, 0);
}

void peer_init(struct daemon *d)
{
	ism_list_init(&d->peers.all);
	ism_list_init(&d->peers.ordered);
	ism_list_init(&d->peers.reap);
	ism_map_init(&d->peers.by_id);
}

void peer_reap(struct daemon *d)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->peers.reap) {
		struct peer *p = ism_container_of(pos, struct peer, link);

		/* A job in flight for it still points at it. */
		if (!p->jobs)
			peer_free(d, p);
	}
}

void peer_fini(struct daemon *d)
{
	ism_map_free(&d->peers.by_id);
}

void peer_shutdown_all(struct daemon *d)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &d->peers.all) {
		struct peer *p = ism_container_of(pos, struct peer, link);
		struct ism_wbuf b;
		int n;

		if (!(p->flags & PEER_HELLO) || !d->tx)
			continue;
		ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG,
				ISM_MSG_EV_SHUTDOWN, ISM_WIRE_F_EVENT, 0, 0);
		ism_proto_put_ev_shutdown(&b, 0);
		n = ism_proto_end(&b);
		if (n > 0)
			ism_wire_send(p->sock, d->tx, (size_t)n, NULL, 0,
				      MSG_DONTWAIT);
	}
	ism_list_for_each_safe (pos, tmp, &d->peers.all) {
		struct peer *p = ism_container_of(pos, struct peer, link);

		peer_kill(d, p, "ismd shutting down");
	}
}
