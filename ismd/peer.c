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
 *  - while a peer's queue is over half full its requests are not read, so
 *    a peer that pipelines requests without reading replies only stalls
 *    itself;
 *  - a doorbell write that would block (the peer's doing) is cut off by
 *    a watchdog and the peer dropped (doorbell.c).
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_MSGS_PER_WAKEUP 32
#define PEER_BAD_MSGS_MAX 64

/* ---- doorbells (see doorbell.c) ---- */

void peer_ring(struct daemon *d, struct peer *p)
{
	int r;

	if (p->doorbell < 0 || (p->flags & PEER_DEAD))
		return;
	r = doorbell_ring(p->doorbell);
	if (r == -ETIMEDOUT)
		/* The write blocked: the peer cleared O_NONBLOCK and
		 * saturated its counter. */
		peer_kill(d, p, "doorbell eventfd blocked (hostile peer?)");
	else if (r < 0)
		peer_kill(d, p, "doorbell eventfd failed");
}

/* ---- lifecycle ---- */

static int epoll_set(struct daemon *d, struct peer *p, int op)
{
	struct epoll_event ev = { .data.ptr = p };

	if (!(p->flags & PEER_NOREAD))
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
	for (int tries = 0; tries < 2; tries++) {
		gid_t *g = realloc(groups, len);

		if (!g)
			break;
		groups = g;
		if (getsockopt(p->sock, SOL_SOCKET, SO_PEERGROUPS, groups,
			       &len) == 0) {
			for (size_t k = 0; !found && k < len / sizeof(gid_t); k++)
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

	if (d->n_peers > c->max_peers)
		return EUSERS;
	if (c->n_allow_uids == 0 && c->n_allow_gids == 0)
		return 0;
	if (p->uid == 0 || p->uid == geteuid())
		return 0;
	for (uint32_t i = 0; i < c->n_allow_uids; i++)
		if (c->allow_uids[i] == p->uid)
			return 0;
	return in_groups(p, c->allow_gids, c->n_allow_gids) ? 0 : EACCES;
}

struct peer *peer_adopt(struct daemon *d, int fd, pid_t pid, uid_t uid,
			gid_t gid)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* Room for a few maximum-size messages whatever the system's
	 * default (the kernel caps this at net.core.wmem_max, doubled). */
	int sndbuf = 4 * (int)ISM_WIRE_MAX_MSG;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->kind = EP_PEER;
	p->sock = fd;
	p->doorbell = -1;
	p->pid = pid;
	p->uid = uid;
	p->gid = gid;
	ism_list_init(&p->refs);
	ism_list_init(&p->streams);
	ism_list_init(&p->ivsh);
	ism_list_init(&p->pending);
	p->connected_ns = ism_now_ns();
	p->hello_deadline_ns =
		p->connected_ns + (uint64_t)d->cfg.hello_timeout_ms * 1000000ull;
	if (epoll_set(d, p, EPOLL_CTL_ADD) < 0) {
		free(p);
		return NULL;
	}
	ism_list_add_tail(&d->peers, &p->link);
	d->n_peers++;
	p->refuse = policy_refuses(d, p);
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
			if (errno == EMFILE || errno == ENFILE)
				ismd_log(L_WARN, "accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    !(p = peer_adopt(d, fd, cred.pid, cred.uid, cred.gid))) {
			close(fd);
			continue;
		}
		ismd_log(L_INFO, "connection from pid %d uid %d gid %d%s",
			 (int)p->pid, (int)p->uid, (int)p->gid,
			 p->refuse ? " (refused by policy)" : "");
	}
}

static void queue_free(struct peer *p)
{
	struct outmsg *m = p->oq_head, *n;

	for (; m; m = n) {
		n = m->next;
		ism_close_fds(m->fds, m->nfds);
		free(m);
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
	ism_list_add_tail(&d->reap, &p->link);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->sock, NULL);
}

void peer_free(struct daemon *d, struct peer *p)
{
	int level = p->dead_reason &&
				    strcmp(p->dead_reason, "disconnected") != 0
			    ? L_WARN
			    : L_INFO;

	if (p->id)
		ismd_log(level, "peer %llx (pid %d%s%s) gone: %s",
			 (unsigned long long)p->id, (int)p->pid,
			 p->name[0] ? ", " : "", p->name,
			 p->dead_reason ? p->dead_reason : "closed");
	region_release_peer(d, p);
	stream_release_peer(d, p);
	ivsh_release_peer(d, p);
	if (p->flags & PEER_HELLO)
		peer_watch(d, ISM_WATCH_PEER_DOWN, 0, p, NULL);
	if (p->id)
		ism_map_del(&d->peer_by_id, p->id, 0);
	queue_free(p);
	ism_list_del(&p->link);
	ism_close_fd(&p->sock);
	ism_close_fd(&p->doorbell);
	d->n_peers--;
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

static int enqueue(struct daemon *d, struct peer *p, const uint8_t *buf,
		   size_t len, const int *fds, unsigned nfds, bool droppable)
{
	struct outmsg *m;
	uint16_t type = (uint16_t)(buf[0] | buf[1] << 8);

	if (droppable) {
		if (type == ISM_MSG_EV_NOTIFY && coalesce_notify(d, p, buf))
			return 0;
		if (p->oq_events >= d->cfg.q_events ||
		    p->oq_bytes + len > d->cfg.max_queue_bytes) {
			p->ev_lost++;
			d->events_lost++;
			return 0;
		}
	} else if (p->oq_bytes + len > d->cfg.max_queue_bytes) {
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = (uint32_t)len;
	m->type = type;
	m->droppable = droppable;
	m->nfds = 0;
	for (unsigned i = 0; i < nfds && i < ISM_ARRAY_SIZE(m->fds); i++) {
		/* The caller keeps its fds: the queue holds its own. */
		m->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (m->fds[i] < 0) {
			ism_close_fds(m->fds, m->nfds);
			free(m);
			return -EMFILE;
		}
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
	if (droppable)
		p->oq_events++;
	set_epollout(d, p, true);
	return 0;
}

void peer_send(struct daemon *d, struct peer *p, size_t len, const int *fds,
	       unsigned nfds, bool droppable)
{
	int r;

	if (p->flags & PEER_DEAD)
		return;
	if (!p->oq_head) {
		r = ism_wire_send(p->sock, d->tx, len, fds, nfds, MSG_DONTWAIT);
		if (r == 0)
			return;
		if (r != -EAGAIN) {
			peer_kill(d, p, "disconnected");
			return;
		}
	}
	r = enqueue(d, p, d->tx, len, fds, nfds, droppable);
	if (r < 0) {
		d->evictions++;
		peer_kill(d, p, r == -ENOBUFS ? "not reading its socket"
					      : "out of memory queueing");
	}
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
		ism_close_fds(m->fds, m->nfds);
		free(m);
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
		       bool droppable)
{
	int n = ism_proto_end(b);

	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, droppable);
}

#define EV_BEGIN(b, type)                                                      \
	ism_proto_begin(b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_EVENT, 0, 0)

void peer_event_notify(struct daemon *d, struct peer *p, uint64_t region,
		       uint64_t sender, uint64_t value)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_NOTIFY);
	ism_proto_put_ev_notify(&b, region, sender, value, 1);
	send_event(d, p, &b, true);
}

void peer_event_gone(struct daemon *d, struct peer *p, uint64_t region,
		     uint32_t reason)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_REGION_GONE);
	ism_proto_put_ev_gone(&b, region, reason);
	send_event(d, p, &b, false);
	/* A region going away is worth waking a sleeper for. */
	peer_ring(d, p);
}

void peer_event_attached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t access)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_PEER_ATTACHED);
	ism_proto_put_ev_attached(&b, region, who, access);
	send_event(d, p, &b, false);
}

void peer_event_detached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t reason)
{
	struct ism_wbuf b;

	EV_BEGIN(&b, ISM_MSG_EV_PEER_DETACHED);
	ism_proto_put_ev_detached(&b, region, who, reason);
	send_event(d, p, &b, false);
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

	ism_list_for_each_safe(pos, tmp, &d->peers)
	{
		struct peer *w = ism_container_of(pos, struct peer, link);
		struct ism_wbuf b;

		if (!(w->flags & PEER_WATCH) || !watch_sees(w, about, r))
			continue;
		EV_BEGIN(&b, ISM_MSG_EV_WATCH);
		ism_proto_put_ev_watch(&b, kind, reason, about ? about->id : 0,
				       r ? r->id : 0, r ? r->size : 0,
				       about ? (uint32_t)about->uid : 0,
				       about ? (uint32_t)about->pid : 0,
				       r ? r->name : (about ? about->name : ""));
		send_event(d, w, &b, true);
	}
}

/* ---- receiving ---- */

static int dispatch(struct daemon *d, struct peer *p, struct ism_wire_hdr *h,
		    struct ism_rbuf *rb, int *fds, unsigned nfds)
{
	/* Peers send requests only; NOREPLY suits the fire-and-forget ones
	 * (NOTIFY, and a stream's updates). */
	if ((h->flags & ~ISM_WIRE_F_NOREPLY) ||
	    ((h->flags & ISM_WIRE_F_NOREPLY) && h->type != ISM_MSG_NOTIFY &&
	     h->type != ISM_MSG_STREAM_UPDATE &&
	     h->type != ISM_MSG_STREAM_CLOSE))
		return -EPROTO;
	d->noreply = h->flags & ISM_WIRE_F_NOREPLY;
	if (!(p->flags & PEER_HELLO))
		return h->type == ISM_MSG_HELLO
			       ? op_hello(d, p, h->seq, rb, fds, nfds)
			       : -EPROTO;
	p->ops++;
	d->ops++;
	/* Only HELLO, ALLOC, REGISTER and STREAM_OPEN carry fds; anything
	 * else with fds is malformed (the caller closes them). */
	if (nfds && h->type != ISM_MSG_REGISTER && h->type != ISM_MSG_ALLOC &&
	    h->type != ISM_MSG_STREAM_OPEN)
		return -EBADMSG;
	switch (h->type) {
	case ISM_MSG_ALLOC:
		return op_alloc(d, p, h->seq, rb, fds, nfds);
	case ISM_MSG_ATTACH:
		return op_attach(d, p, h->seq, rb, nfds);
	case ISM_MSG_DETACH:
		return op_detach(d, p, h->seq, rb, nfds);
	case ISM_MSG_DESTROY:
		return op_destroy(d, p, h->seq, rb, nfds);
	case ISM_MSG_NOTIFY:
		return op_notify(d, p, h->seq, rb, nfds);
	case ISM_MSG_READ:
		return op_read(d, p, h->seq, rb, nfds);
	case ISM_MSG_WRITE:
		return op_write(d, p, h->seq, rb, nfds);
	case ISM_MSG_STATUS:
		return op_status(d, p, h->seq, rb, nfds);
	case ISM_MSG_LIST_PEERS:
	case ISM_MSG_LIST_REGIONS:
	case ISM_MSG_LIST_REFS:
		return op_list(d, p, h->type, h->seq, rb, nfds);
	case ISM_MSG_WATCH:
		return op_watch(d, p, h->seq, rb, nfds);
	case ISM_MSG_REGISTER:
		return op_register(d, p, h->seq, rb, fds, nfds);
	case ISM_MSG_REATTACH:
		return op_reattach(d, p, h->seq, rb, nfds);
	case ISM_MSG_STREAM_OPEN:
		return op_stream_open(d, p, h->seq, rb, fds, nfds);
	case ISM_MSG_STREAM_RESOLVE:
		return op_stream_resolve(d, p, h->seq, rb, nfds);
	case ISM_MSG_STREAM_UPDATE:
		return op_stream_update(d, p, h->seq, rb, nfds);
	case ISM_MSG_STREAM_CLOSE:
		return op_stream_close(d, p, h->seq, rb, nfds);
	case ISM_MSG_LIST_STREAMS:
		return op_list_streams(d, p, h->seq, rb, nfds);
	case ISM_MSG_IVSH_LIST:
	case ISM_MSG_IVSH_PEERS:
	case ISM_MSG_IVSH_JOIN:
	case ISM_MSG_IVSH_VECTORS:
	case ISM_MSG_IVSH_RING:
	case ISM_MSG_IVSH_LEAVE:
	case ISM_MSG_IVSH_LAYOUT:
	case ISM_MSG_IVSH_SECTIONS:
	case ISM_MSG_IVSH_STATE:
		return op_ivsh(d, p, h->type, h->seq, rb, nfds);
	case ISM_MSG_HELLO:
		return -EPROTO; /* only once */
	default:
		return -ENOSYS;
	}
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

void peer_readable(struct daemon *d, struct peer *p)
{
	for (int i = 0; i < PEER_MSGS_PER_WAKEUP; i++) {
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		int fds[ISM_WIRE_MAX_FDS];
		unsigned nfds = 0;
		ssize_t n;
		int r;

		if (p->flags & (PEER_DEAD | PEER_NOREAD))
			return;
		n = ism_wire_recv(p->sock, d->rx, ISM_WIRE_MAX_MSG, fds, &nfds,
				  MSG_DONTWAIT);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n == 0 || n == -ECONNRESET) {
			peer_kill(d, p, "disconnected");
			return;
		}
		if (n < 0) {
			/* Truncated or malformed packet: its fds are closed
			 * and its header cannot be trusted; answer with no
			 * sequence number. */
			if (n == -EMSGSIZE || n == -EBADMSG) {
				bad_message(d, p, 0, 0, (int)n);
				continue;
			}
			peer_kill(d, p, "socket error");
			return;
		}
		ism_rbuf_init(&rb, d->rx, (size_t)n);
		if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0) {
			ism_close_fds(fds, nfds);
			bad_message(d, p, 0, 0, -EBADMSG);
			continue;
		}
		r = dispatch(d, p, &h, &rb, fds, nfds);
		/* A handler that keeps an fd sets its slot to -1; every fd
		 * still here is closed, on success and error alike. */
		ism_close_fds(fds, nfds);
		if (r < 0 && d->noreply) {
			/* Nothing is sent back, failure included (the sender
			 * asked so); the failure is counted and logged. */
			p->failed_noreply++;
			ismd_plog(p, L_DEBUG, "%s (no reply): %s",
				  ism_proto_type_name(h.type), strerror(-r));
		} else if (r < 0) {
			if (r == -EBADMSG || r == -EPROTO)
				bad_message(d, p, h.type, h.seq, r);
			else
				peer_send_error(d, p, h.type, h.seq, r);
		}
		d->noreply = false;
	}
}

void peer_housekeeping(struct daemon *d, uint64_t now)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &d->peers)
	{
		struct peer *p = ism_container_of(pos, struct peer, link);

		if (!(p->flags & PEER_HELLO) && now > p->hello_deadline_ns)
			peer_kill(d, p, "no hello in time");
	}
}
