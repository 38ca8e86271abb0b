/* SPDX-License-Identifier: MIT */
/*
 * conn - libism's connection: handshake, request/reply, the event queue,
 * and reconnection with resumption after an ismd restart.
 */
#include "client.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS   10000
#define DEFAULT_RECONNECT_MS 30000
#define BACKOFF_MIN_MS	     10u
#define BACKOFF_MAX_MS	     1000u

static void conn_lost_locked(struct ism_conn *c, int err);
static int reconnect_locked(struct ism_conn *c);
static int reconnect_once_locked(struct ism_conn *c);
static void give_up_locked(struct ism_conn *c);

static int connect_path(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	int sndbuf = 4 * (int)ISM_WIRE_MAX_MSG; /* capped by wmem_max */
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	/* Blocking I/O bounded by the request timeout: one syscall per
	 * send and per receive on the request path, no poll. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return fd;
}

void reply_close_fds(struct reply *rep)
{
	ism_close_fds(rep->fds, rep->nfds);
	rep->nfds = 0;
}

static uint32_t next_seq(struct ism_conn *c);

void conn_begin_locked(struct ism_conn *c, struct ism_wbuf *b, uint16_t type)
{
	conn_begin_flags_locked(c, b, type, 0);
}

void conn_begin_flags_locked(struct ism_conn *c, struct ism_wbuf *b,
			     uint16_t type, uint16_t flags)
{
	ism_proto_begin(b, c->tx, ISM_WIRE_MAX_MSG, type, flags, next_seq(c),
			0);
}

void conn_push_event_locked(struct ism_conn *c, const struct ism_event *ev)
{
	if (c->evq_len == c->evq_cap) {
		size_t ncap = c->evq_cap ? c->evq_cap * 2 : 64;
		struct ism_event *n;

		if (c->evq_cap >= CONN_EVQ_MAX ||
		    !(n = calloc(ncap, sizeof(*n)))) {
			c->evq_lost++;
			return;
		}
		for (size_t i = 0; i < c->evq_len; i++)
			n[i] = c->evq[(c->evq_head + i) % c->evq_cap];
		free(c->evq);
		c->evq = n;
		c->evq_cap = ncap;
		c->evq_head = 0;
	}
	c->evq[(c->evq_head + c->evq_len) % c->evq_cap] = *ev;
	c->evq_len++;
	if (!c->pend_signalled) {
		uint64_t one = 1;

		if (write(c->pendfd, &one, sizeof(one)) == sizeof(one))
			c->pend_signalled = true;
	}
}

static int pop_event_locked(struct ism_conn *c, struct ism_event *ev)
{
	if (c->evq_lost) {
		/* Report local loss in order, as the next event. */
		memset(ev, 0, sizeof(*ev));
		ev->type = ISM_EV_OVERFLOW;
		ev->count = c->evq_lost;
		c->evq_lost = 0;
		return 1;
	}
	if (c->evq_len == 0)
		return 0;
	*ev = c->evq[c->evq_head];
	c->evq_head = (c->evq_head + 1) % c->evq_cap;
	c->evq_len--;
	if (c->evq_len == 0 && c->pend_signalled) {
		uint64_t v;

		if (read(c->pendfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return 1;
		c->pend_signalled = false;
	}
	return 1;
}

static void handle_event_locked(struct ism_conn *c, uint16_t type,
				struct ism_rbuf *rb)
{
	struct ism_event ev;

	if (ism_proto_get_event(rb, type, &ev) < 0)
		return; /* a malformed event is dropped, never half-used */
	if (ev.type == ISM_EV_REGION_GONE)
		region_mark_gone_locked(c, ev.region);
	conn_push_event_locked(c, &ev);
}

/*
 * Receive one message.  Events are queued here.  Returns 1 and fills @rep
 * for a reply, 0 after consuming an event or a stale reply, or -errno
 * (-EAGAIN, or a loss: -ECONNRESET, -EPROTO).
 */
static int recv_one_locked(struct ism_conn *c, int flags, struct reply *rep,
			   uint32_t want_seq)
{
	struct ism_wire_hdr h;
	struct ism_rbuf rb;
	int fds[ISM_WIRE_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n;

	n = ism_wire_recv(c->sock, c->rx, ISM_WIRE_MAX_MSG, fds, &nfds, flags);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0) {
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -EAGAIN;
		if (n == -EMSGSIZE || n == -EBADMSG)
			return -EPROTO;
		return -ECONNRESET;
	}
	ism_rbuf_init(&rb, c->rx, (size_t)n);
	if (ism_wire_hdr_get(&rb, (size_t)n, &h) < 0) {
		ism_close_fds(fds, nfds);
		return -EPROTO;
	}
	if (h.flags & ISM_WIRE_F_EVENT) {
		if (h.type == ISM_MSG_EV_WIN_MAP ||
		    h.type == ISM_MSG_EV_WIN_UNMAP) {
			/* A window's mapping (window.c): its fd is ismd's
			 * reopen of a region. */
			conn_window_event_locked(c, h.type, &rb, fds, nfds);
			return 0;
		}
		ism_close_fds(fds, nfds); /* other events carry no fds */
		handle_event_locked(c, h.type, &rb);
		return 0;
	}
	if (!(h.flags & ISM_WIRE_F_REPLY) || !rep || h.seq != want_seq) {
		/* Stale (timed out) or unexpected: a late ATTACH reply may
		 * carry an owner's link, whose close must not hold us. */
		ism_bgclose_fds(fds, nfds);
		return 0;
	}
	rep->hdr = h;
	rep->rb = rb;
	memcpy(rep->fds, fds, nfds * sizeof(int));
	rep->nfds = nfds;
	return 1;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Send the request in @msg and, unless @rep is NULL, wait for the reply
 * to its sequence number on the current socket. */
static int raw_call_locked(struct ism_conn *c, const uint8_t *msg, size_t len,
			   const int *fds, unsigned nfds, struct reply *rep,
			   bool *sent)
{
	uint64_t deadline = ism_now_ns() + (uint64_t)c->timeout_ms * 1000000ull;
	uint16_t type = (uint16_t)(msg[0] | msg[1] << 8);
	uint32_t seq = rd32(msg + 4);
	int r;

	*sent = false;
	if (rep)
		rep->nfds = 0;
	r = ism_wire_send(c->sock, msg, len, fds, nfds, 0);
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	*sent = true;
	if (!rep)
		return 0; /* a NOREPLY request */
	for (;;) {
		r = recv_one_locked(c, 0, rep, seq);
		if (r == 1)
			break;
		if (r == -EAGAIN) {
			if (ism_now_ns() >= deadline)
				return -ETIMEDOUT;
			continue;
		}
		if (r < 0)
			return r;
	}
	if (rep->hdr.type != type) {
		reply_close_fds(rep);
		return -EPROTO;
	}
	if (rep->hdr.status) {
		reply_close_fds(rep);
		return rep->hdr.status > 4095 ? -EPROTO : -(int)rep->hdr.status;
	}
	return 0;
}

static uint32_t next_seq(struct ism_conn *c)
{
	if (++c->seq == 0)
		c->seq = 1;
	return c->seq;
}

/* Reconnection builds its messages in c->rtx so that c->tx keeps the
 * request that may be sent again afterwards. */
static void begin_rtx_locked(struct ism_conn *c, struct ism_wbuf *b,
			     uint16_t type)
{
	ism_proto_begin(b, c->rtx, ISM_WIRE_MAX_MSG, type, 0, next_seq(c), 0);
}

static bool is_loss(int r)
{
	return r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN ||
	       r == -EPROTO || r == -ECONNREFUSED;
}

/* Send c->tx and, with @rep, wait for its reply; reconnect first if a
 * reconnection is due, and once more if the loss came before the send. */
static int transact_locked(struct ism_conn *c, size_t len, const int *fds,
			   unsigned nfds, struct reply *rep)
{
	bool sent;
	int r;

	for (int attempt = 0;; attempt++) {
		if (c->state == CONN_RECONNECTING) {
			uint32_t seq;

			r = reconnect_locked(c);
			if (r < 0)
				return r;
			/* A fresh sequence number for the new connection. */
			seq = next_seq(c);
			for (int i = 0; i < 4; i++)
				c->tx[4 + i] = (uint8_t)(seq >> (8 * i));
		}
		if (c->state != CONN_UP)
			return -EPIPE;
		r = raw_call_locked(c, c->tx, len, fds, nfds, rep, &sent);
		if (r >= 0 || !is_loss(r))
			return r;
		conn_lost_locked(c, r);
		/* Nothing reached ismd: safe to send again once reconnected. */
		if (sent || attempt > 0 || c->state != CONN_RECONNECTING)
			return r == -EPROTO ? -EPROTO : -ECONNRESET;
	}
}

int conn_call_nowait_locked(struct ism_conn *c, size_t len, const int *fds,
			    unsigned nfds, struct reply *rep)
{
	bool sent;
	int r;

	if (c->state == CONN_RECONNECTING) {
		uint32_t seq;

		r = reconnect_once_locked(c);
		if (r < 0) {
			if (r != -EAGAIN ||
			    ism_now_ns() >= c->reconnect_deadline)
				give_up_locked(c);
			return -ENOTCONN;
		}
		seq = next_seq(c);
		for (int i = 0; i < 4; i++)
			c->tx[4 + i] = (uint8_t)(seq >> (8 * i));
	}
	if (c->state != CONN_UP)
		return -ENOTCONN;
	r = raw_call_locked(c, c->tx, len, fds, nfds, rep, &sent);
	if (r < 0 && is_loss(r)) {
		conn_lost_locked(c, r);
		return -ECONNRESET;
	}
	return r;
}

int conn_call_locked(struct ism_conn *c, size_t len, const int *fds,
		     unsigned nfds, struct reply *rep)
{
	return transact_locked(c, len, fds, nfds, rep);
}

int conn_send_locked(struct ism_conn *c, size_t len)
{
	return transact_locked(c, len, NULL, 0, NULL);
}

static int hello_locked(struct ism_conn *c, bool resume, uint64_t *old_id,
			bool *resumed)
{
	struct ism_hello_req req = {
		.min_version = ISM_PROTO_VERSION,
		.max_version = ISM_PROTO_VERSION,
		.caps = ISM_CAPQ_CHECK, /* lib/stream sends STREAM_CHECK */
	};
	struct ism_hello_rep hr;
	struct ism_wbuf b;
	struct reply rep;
	int fds[1], nfds = 0, r;
	bool sent;

	ism_strlcpy(req.name, c->name, sizeof(req.name));
	if (c->doorbell >= 0) {
		req.flags |= ISM_HELLO_F_DOORBELL;
		fds[nfds++] = c->doorbell;
	}
	if (resume && c->peer_id) {
		req.flags |= ISM_HELLO_F_RESUME;
		req.resume_id = c->peer_id;
		memcpy(req.resume_proof, c->resume_proof, ISM_PROOF_SIZE);
	}
	begin_rtx_locked(c, &b, ISM_MSG_HELLO);
	ism_proto_put_hello_req(&b, &req);
	r = ism_proto_end(&b);
	if (r < 0)
		return r;
	r = raw_call_locked(c, c->rtx, (size_t)r, fds, (unsigned)nfds, &rep,
			    &sent);
	if (r < 0)
		return r;
	r = ism_proto_get_hello_rep(&rep.rb, &hr);
	reply_close_fds(&rep);
	if (r < 0)
		return -EPROTO;
	if (hr.version != ISM_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (old_id)
		*old_id = c->peer_id;
	if (resumed)
		*resumed = (hr.flags & ISM_HELLO_R_RESUMED) &&
			   hr.peer_id == c->peer_id;
	c->peer_id = hr.peer_id;
	memcpy(c->host_id, hr.host_id, ISM_HOST_ID_SIZE);
	memcpy(c->resume_proof, hr.resume_proof, ISM_PROOF_SIZE);
	c->hello_flags = hr.flags;
	c->hello_caps = hr.caps;
	c->max_rw = hr.max_rw;
	return 0;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void arm_timer(struct ism_conn *c, unsigned ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L + 1 },
	};

	timerfd_settime(c->timerfd, 0, &its, NULL);
}

static void conn_lost_locked(struct ism_conn *c, int err)
{
	struct ism_event ev = { 0 };
	struct ism_list *pos, *tmp;

	(void)err;
	if (c->sock >= 0) {
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->sock, NULL);
		ism_close_fd(&c->sock);
	}
	/* Window mappings ismd made: no revocation can reach them now. */
	conn_windows_lost_locked(c);
	if ((c->flags & ISM_CONN_RECONNECT) && c->state == CONN_UP) {
		c->state = CONN_RECONNECTING;
		c->reconnect_deadline =
			ism_now_ns() + (uint64_t)c->reconnect_ms * 1000000ull;
		c->backoff_ms = BACKOFF_MIN_MS;
		arm_timer(c, 0);
		return;
	}
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	/* ismd (or its successor) has destroyed what we owned and dropped
	 * what we referenced: say so on every handle. */
	ism_list_for_each_safe (pos, tmp, &c->regions) {
		struct ism_region *r =
			ism_container_of(pos, struct ism_region, link_node);

		r->gone = true;
	}
	ev.type = ISM_EV_DISCONNECTED;
	conn_push_event_locked(c, &ev);
}

static void lose_region_locked(struct ism_conn *c, struct ism_region *r)
{
	struct ism_event ev = { .type = ISM_EV_REGION_GONE,
				.reason = ISM_GONE_LOST,
				.region = r->id };

	if (r->gone)
		return;
	r->gone = true;
	conn_push_event_locked(c, &ev);
}

/* Re-register owned regions, up to ISM_REGISTER_MAX (one fd each) a call. */
static int reregister_locked(struct ism_conn *c)
{
	struct ism_region *batch[ISM_REGISTER_MAX];
	struct ism_register_req *req = calloc(1, sizeof(*req));
	struct ism_list *pos = c->regions.next;
	int r = 0;

	if (!req)
		return -ENOMEM;
	while (pos != &c->regions) {
		int fds[ISM_REGISTER_MAX];
		struct ism_batch_rep br;
		struct ism_wbuf b;
		struct reply rep;
		bool sent;

		req->n = 0;
		for (; pos != &c->regions && req->n < ISM_REGISTER_MAX;
		     pos = pos->next) {
			struct ism_region *g = ism_container_of(
				pos, struct ism_region, link_node);
			struct ism_register_ent *e = &req->ent[req->n];

			if (!g->is_owner || g->gone || g->fd < 0)
				continue;
			e->region = g->id;
			e->size = g->size;
			memcpy(e->token, g->token.b, ISM_TOKEN_SIZE);
			memcpy(e->proof, g->proof, ISM_PROOF_SIZE);
			e->flags = (g->huge ? ISM_RFLAG_HUGE : 0) |
				   (g->linger ? ISM_RFLAG_LINGER : 0);
			e->max_access = g->max_access;
			if (g->acl)
				e->acl = *g->acl;
			else
				e->acl.n_peers = e->acl.n_uids = 0;
			ism_strlcpy(e->name, g->name, sizeof(e->name));
			fds[req->n] = g->fd;
			batch[req->n++] = g;
		}
		if (req->n == 0)
			break;
		begin_rtx_locked(c, &b, ISM_MSG_REGISTER);
		ism_proto_put_register_req(&b, req);
		r = ism_proto_end(&b);
		if (r < 0)
			break;
		r = raw_call_locked(c, c->rtx, (size_t)r, fds, req->n, &rep,
				    &sent);
		if (r < 0) {
			if (is_loss(r) || r == -ETIMEDOUT)
				break;
			/* ismd refused the whole batch (e.g. outside its
			 * recovery window): those regions are lost. */
			for (uint32_t i = 0; i < req->n; i++)
				lose_region_locked(c, batch[i]);
			r = 0;
			continue;
		}
		r = ism_proto_get_batch_rep(&rep.rb, &br);
		reply_close_fds(&rep);
		if (r < 0 || br.n != req->n) {
			r = -EPROTO;
			break;
		}
		for (uint32_t i = 0; i < req->n; i++)
			if (br.status[i])
				lose_region_locked(c, batch[i]);
	}
	free(req);
	return r;
}

static int reattach_all_locked(struct ism_conn *c)
{
	struct ism_region *batch[ISM_REATTACH_MAX];
	struct ism_reattach_req *req = calloc(1, sizeof(*req));
	struct ism_list *pos = c->regions.next;
	int r = 0;

	if (!req)
		return -ENOMEM;
	while (pos != &c->regions) {
		struct ism_batch_rep br;
		struct ism_wbuf b;
		struct reply rep;
		bool sent;

		req->n = 0;
		for (; pos != &c->regions && req->n < ISM_REATTACH_MAX;
		     pos = pos->next) {
			struct ism_region *g = ism_container_of(
				pos, struct ism_region, link_node);
			struct ism_reattach_ent *e = &req->ent[req->n];

			if (g->is_owner || g->gone)
				continue;
			e->region = g->id;
			memcpy(e->token, g->token.b, ISM_TOKEN_SIZE);
			e->access = g->access;
			e->flags = g->nofd ? ISM_ATTACH_NOFD : 0;
			batch[req->n++] = g;
		}
		if (req->n == 0)
			break;
		begin_rtx_locked(c, &b, ISM_MSG_REATTACH);
		ism_proto_put_reattach_req(&b, req);
		r = ism_proto_end(&b);
		if (r < 0)
			break;
		r = raw_call_locked(c, c->rtx, (size_t)r, NULL, 0, &rep, &sent);
		if (r < 0) {
			if (is_loss(r) || r == -ETIMEDOUT)
				break;
			for (uint32_t i = 0; i < req->n; i++)
				lose_region_locked(c, batch[i]);
			r = 0;
			continue;
		}
		r = ism_proto_get_batch_rep(&rep.rb, &br);
		reply_close_fds(&rep);
		if (r < 0 || br.n != req->n) {
			r = -EPROTO;
			break;
		}
		/* EINPROGRESS: ismd holds the reference until the owner
		 * re-registers, or reports REGION_GONE when its window ends. */
		for (uint32_t i = 0; i < req->n; i++)
			if (br.status[i] && br.status[i] != EINPROGRESS)
				lose_region_locked(c, batch[i]);
	}
	free(req);
	return r;
}

/* One reconnection attempt.  Returns 0 when up again, -EAGAIN to retry. */
static int reconnect_once_locked(struct ism_conn *c)
{
	struct ism_list *pos, *tmp;
	struct ism_event ev = { 0 };
	bool resumed = false;
	uint64_t old;
	int r;

	r = connect_path(c->path, c->timeout_ms);
	if (r < 0)
		return -EAGAIN;
	c->sock = r;
	r = hello_locked(c, true, &old, &resumed);
	if (r < 0) {
		ism_close_fd(&c->sock);
		return r == -EACCES || r == -EPROTONOSUPPORT ? r : -EAGAIN;
	}
	if (!resumed) {
		/* A new identity: ismd could not vouch for the old one, so
		 * nothing we held can be claimed again. */
		ism_list_for_each_safe (pos, tmp, &c->regions) {
			lose_region_locked(
				c, ism_container_of(pos, struct ism_region,
						    link_node));
		}
	} else {
		r = reregister_locked(c);
		if (r == 0)
			r = reattach_all_locked(c);
		if (r < 0) {
			ism_close_fd(&c->sock);
			return -EAGAIN;
		}
	}
	if (epoll_add(c->epfd, c->sock) < 0) {
		ism_close_fd(&c->sock);
		return -EAGAIN;
	}
	c->state = CONN_UP;
	c->gen++;
	ev.type = ISM_EV_RECONNECTED;
	ev.peer = c->peer_id;
	ev.value = old;
	conn_push_event_locked(c, &ev);
	return 0;
}

static void give_up_locked(struct ism_conn *c)
{
	c->state = CONN_UP; /* let conn_lost_locked() take the DEAD path */
	c->flags &= ~(uint32_t)ISM_CONN_RECONNECT;
	conn_lost_locked(c, -EPIPE);
}

/* Blocking: retry with backoff until up again or the deadline passes. */
static int reconnect_locked(struct ism_conn *c)
{
	for (;;) {
		int r = reconnect_once_locked(c);

		if (r == 0)
			return 0;
		if (r != -EAGAIN || ism_now_ns() >= c->reconnect_deadline) {
			give_up_locked(c);
			return -EPIPE;
		}
		struct timespec ts = { .tv_sec = 0,
				       .tv_nsec =
					       (long)c->backoff_ms * 1000000L };

		nanosleep(&ts, NULL);
		c->backoff_ms = ISM_MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
	}
}

int ism_conn_open(const char *path, const struct ism_conn_opts *opts,
		  struct ism_conn **out)
{
	struct ism_conn_opts o;
	struct ism_conn *c;
	int r;

	*out = NULL;
	r = ism_opts_copy(
		&o, sizeof(o),
		ISM_OPTS_SIZE_VER0(struct ism_conn_opts, reconnect_ms), opts);
	if (r < 0)
		return r;
	if (o.name && strlen(o.name) > ISM_NAME_MAX)
		return -ENAMETOOLONG;
	if (o.name && !ism_name_valid(o.name, strlen(o.name), ISM_NAME_MAX))
		return -EINVAL;
	if (o.flags & ~(uint32_t)(ISM_CONN_RECONNECT | ISM_CONN_NO_DOORBELL))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->sock = c->epfd = c->timerfd = c->pendfd = c->doorbell = -1;
	c->flags = o.flags;
	c->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
	c->reconnect_ms =
		o.reconnect_ms > 0 ? o.reconnect_ms : DEFAULT_RECONNECT_MS;
	ism_strlcpy(c->name, o.name ? o.name : "", sizeof(c->name));
	ism_list_init(&c->regions);
	ism_map_init(&c->by_id);
	ism_map_init(&c->windows);
	c->state = CONN_DEAD;
	if (path) {
		if (strlen(path) >= sizeof(c->path)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		ism_strlcpy(c->path, path, sizeof(c->path));
	} else if ((r = ism_default_socket(c->path, sizeof(c->path))) < 0) {
		goto fail;
	}
	c->rx = malloc(ISM_WIRE_MAX_MSG);
	c->tx = malloc(ISM_WIRE_MAX_MSG);
	c->rtx = malloc(ISM_WIRE_MAX_MSG);
	if (!c->rx || !c->tx || !c->rtx) {
		r = -ENOMEM;
		goto fail;
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->timerfd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	c->pendfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->epfd < 0 || c->timerfd < 0 || c->pendfd < 0) {
		r = -errno;
		goto fail;
	}
	if (!(o.flags & ISM_CONN_NO_DOORBELL)) {
		c->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->doorbell < 0) {
			r = -errno;
			goto fail;
		}
	}
	if ((r = epoll_add(c->epfd, c->timerfd)) < 0 ||
	    (r = epoll_add(c->epfd, c->pendfd)) < 0)
		goto fail;
	r = connect_path(c->path, c->timeout_ms);
	if (r < 0)
		goto fail;
	c->sock = r;
	r = hello_locked(c, false, NULL, NULL);
	if (r < 0)
		goto fail;
	if ((r = epoll_add(c->epfd, c->sock)) < 0)
		goto fail;
	c->state = CONN_UP;
	*out = c;
	return 0;
fail:
	c->state = CONN_DEAD;
	ism_conn_close(c);
	return r;
}

void ism_conn_close(struct ism_conn *c)
{
	struct ism_list *pos, *tmp;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	/* Closing the socket is the release: ismd destroys what we own and
	 * drops our references when it sees the hang-up. */
	ism_close_fd(&c->sock);
	c->state = CONN_DEAD;
	conn_windows_close_locked(c);
	ism_list_for_each_safe (pos, tmp, &c->regions) {
		int link = region_free_locked(
			ism_container_of(pos, struct ism_region, link_node));

		/* An owner's link: never closed under the lock. */
		if (link >= 0) {
			pthread_mutex_unlock(&c->lock);
			ism_bgclose(link);
			pthread_mutex_lock(&c->lock);
		}
	}
	ism_map_free(&c->by_id);
	ism_close_fd(&c->epfd);
	ism_close_fd(&c->timerfd);
	ism_close_fd(&c->pendfd);
	ism_close_fd(&c->doorbell);
	free(c->evq);
	free(c->rx);
	free(c->tx);
	free(c->rtx);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int ism_conn_fd(struct ism_conn *c)
{
	return c->epfd;
}

int ism_conn_doorbell_fd(struct ism_conn *c)
{
	return c->doorbell;
}

static int process_locked(struct ism_conn *c)
{
	size_t before = c->evq_len;
	int r;

	if (c->state == CONN_RECONNECTING) {
		uint64_t exp;

		if (read(c->timerfd, &exp, sizeof(exp)) != sizeof(exp))
			return 0; /* not due yet */
		r = reconnect_once_locked(c);
		if (r == -EAGAIN && ism_now_ns() < c->reconnect_deadline) {
			arm_timer(c, c->backoff_ms);
			c->backoff_ms =
				ISM_MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
		} else if (r < 0) {
			give_up_locked(c);
		}
	}
	/* Bounded: a flood of events cannot keep us here forever. */
	for (int i = 0; c->state == CONN_UP && i < 4096; i++) {
		r = recv_one_locked(c, MSG_DONTWAIT, NULL, 0);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			conn_lost_locked(c, r);
			break;
		}
	}
	if (c->state == CONN_DEAD && c->evq_len == before && !c->evq_lost)
		return -EPIPE;
	return (int)(c->evq_len > before ? c->evq_len - before : 0);
}

int ism_conn_process(struct ism_conn *c)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = process_locked(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

uint64_t ism_conn_peer_id(struct ism_conn *c)
{
	uint64_t id;

	pthread_mutex_lock(&c->lock);
	id = c->peer_id;
	pthread_mutex_unlock(&c->lock);
	return id;
}

void ism_conn_host_id(struct ism_conn *c, struct ism_host_id *out)
{
	pthread_mutex_lock(&c->lock);
	memcpy(out->b, c->host_id, ISM_HOST_ID_SIZE);
	pthread_mutex_unlock(&c->lock);
}

uint32_t conn_caps(struct ism_conn *c)
{
	uint32_t caps;

	pthread_mutex_lock(&c->lock);
	caps = c->hello_caps;
	pthread_mutex_unlock(&c->lock);
	return caps;
}

int ism_conn_is_admin(struct ism_conn *c)
{
	int a;

	pthread_mutex_lock(&c->lock);
	a = !!(c->hello_flags & ISM_HELLO_R_ADMIN);
	pthread_mutex_unlock(&c->lock);
	return a;
}

/* 0.2: struct ism_event grew its reserved tail (0.1: compat.c). */
int ism_conn_next_event(struct ism_conn *c, struct ism_event *ev)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = pop_event_locked(c, ev);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int ism_conn_wait_event(struct ism_conn *c, struct ism_event *ev,
			int timeout_ms)
{
	uint64_t deadline =
		timeout_ms < 0
			? UINT64_MAX
			: ism_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd p = { .fd = c->epfd, .events = POLLIN };
		int r, wait_ms;
		uint64_t now;

		pthread_mutex_lock(&c->lock);
		r = pop_event_locked(c, ev);
		if (r == 0) {
			r = process_locked(c);
			if (r >= 0 || c->evq_lost)
				r = pop_event_locked(c, ev);
		}
		pthread_mutex_unlock(&c->lock);
		if (r != 0)
			return r;
		now = ism_now_ns();
		if (now >= deadline)
			return 0;
		wait_ms = deadline == UINT64_MAX
				  ? -1
				  : (int)ISM_MIN((deadline - now + 999999) /
							 1000000,
						 (uint64_t)INT32_MAX);
		/* Sleep without the lock so other threads keep working. */
		r = poll(&p, 1, wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

const char *ism_event_name(uint32_t type)
{
	switch (type) {
	case ISM_EV_NOTIFY: return "notify";
	case ISM_EV_REGION_GONE: return "region-gone";
	case ISM_EV_PEER_ATTACHED: return "peer-attached";
	case ISM_EV_PEER_DETACHED: return "peer-detached";
	case ISM_EV_OVERFLOW: return "overflow";
	case ISM_EV_WATCH: return "watch";
	case ISM_EV_SHUTDOWN: return "shutdown";
	case ISM_EV_RECONNECTED: return "reconnected";
	case ISM_EV_DISCONNECTED: return "disconnected";
	case ISM_EV_WINDOW_MAP: return "window-map";
	case ISM_EV_WINDOW_UNMAP: return "window-unmap";
	default: return "unknown";
	}
}
