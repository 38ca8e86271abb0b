/* SPDX-License-Identifier: MIT */
/*
 * client - libism's internals shared by conn.c, region.c and admin.c.
 *
 * Locking: struct ism_conn.lock guards everything in the connection and in
 * its region handles.  Public entry points take it; functions named
 * *_locked expect it held.
 */
#ifndef ISM_CLIENT_H
#define ISM_CLIENT_H

#include "proto/proto.h"
#include "util/list.h"
#include "util/map.h"
#include "util/util.h"

#include <ism.h>
#include <pthread.h>
#include <stdbool.h>

enum conn_state {
	CONN_UP,	   /* connected and greeted */
	CONN_RECONNECTING, /* lost; retrying until reconnect_deadline */
	CONN_DEAD,	   /* lost for good, or closed */
};

/* Local event queue bound: beyond it events are counted as lost. */
#define CONN_EVQ_MAX 65536u

struct ism_region {
	struct ism_conn *c;
	struct ism_list link_node; /* c->regions */
	uint64_t id, owner, size;
	uint32_t page_size, access, max_access;
	bool is_owner, nofd, huge, gone, linger;
	int huge_errno;
	int fd;
	int link; /* the owner's link socket, until taken; or -1 */
	void *map;
	struct ism_token token;
	uint8_t proof[ISM_PROOF_SIZE]; /* owner proof, for re-registration */
	struct ism_acl *acl;	       /* owner's grant, for re-registration */
	char name[ISM_NAME_MAX + 1];
};

struct ism_conn {
	pthread_mutex_t lock;
	char path[ISM_SUN_PATH_MAX];
	char name[ISM_NAME_MAX + 1];
	uint32_t flags;
	int timeout_ms, reconnect_ms;

	enum conn_state state;
	int sock;     /* -1 unless CONN_UP */
	int epfd;     /* what ism_conn_fd() returns */
	int timerfd;  /* reconnect backoff, in epfd */
	int pendfd;   /* eventfd in epfd: readable while events are queued */
	int doorbell; /* eventfd handed to ismd */
	uint64_t reconnect_deadline;
	uint32_t gen; /* counts reconnections */
	unsigned backoff_ms;

	uint32_t seq;
	uint64_t peer_id;
	uint8_t host_id[ISM_HOST_ID_SIZE];
	uint8_t resume_proof[ISM_PROOF_SIZE];
	uint32_t hello_flags, hello_caps, max_rw;

	struct ism_event *evq;
	size_t evq_head, evq_len, evq_cap;
	uint64_t evq_lost;
	bool pend_signalled;

	struct ism_list regions;
	struct ism_map by_id;
	struct ism_map windows; /* ismd's window id -> struct ism_window */

	uint8_t *rx;  /* ISM_WIRE_MAX_MSG */
	uint8_t *tx;  /* ISM_WIRE_MAX_MSG: the request being made */
	uint8_t *rtx; /* ISM_WIRE_MAX_MSG: reconnection's own requests */
};

/* A reply: a cursor on its payload and the fds that came with it. */
struct reply {
	struct ism_wire_hdr hdr;
	struct ism_rbuf rb;
	int fds[ISM_WIRE_MAX_FDS];
	unsigned nfds;
};

/*
 * Send the message built in c->tx (@len bytes, @nfds fds) and wait for its
 * reply.  Returns 0 with *@rep filled (the caller owns rep->fds and must
 * close them), or -errno: the reply's status as -errno (no fds then), or
 * -ECONNRESET/-EPIPE/-ETIMEDOUT.  Waits for a reconnect first if one is
 * under way.  Lock held.
 */
int conn_call_locked(struct ism_conn *c, size_t len, const int *fds,
		     unsigned nfds, struct reply *rep);

/*
 * Like conn_call_locked(), but never waits for ismd to come back: while
 * reconnecting it tries once, then fails with -ENOTCONN; a loss during
 * the call is -ECONNRESET.  For callers with a fallback (streams).
 */
int conn_call_nowait_locked(struct ism_conn *c, size_t len, const int *fds,
			    unsigned nfds, struct reply *rep);

/*
 * Send the message in c->tx without waiting for anything (NOREPLY
 * requests).  Returns 0 or -errno; reconnects first if needed.  Lock held.
 */
int conn_send_locked(struct ism_conn *c, size_t len);

/* Start a request in c->tx; returns the write cursor. */
void conn_begin_locked(struct ism_conn *c, struct ism_wbuf *b, uint16_t type);
void conn_begin_flags_locked(struct ism_conn *c, struct ism_wbuf *b,
			     uint16_t type, uint16_t flags);

/* Close every fd in @rep. */
void reply_close_fds(struct reply *rep);

/*
 * Region handle bookkeeping (region.c).  region_free_locked() returns the
 * owner's link socket if the handle still held it (else -1): the caller
 * passes it to ism_bgclose() once the lock is dropped.
 */
int region_free_locked(struct ism_region *r);
void region_mark_gone_locked(struct ism_conn *c, uint64_t id);

/*
 * Stream records in ismd (streamctl.c); each returns 0 or -errno and
 * never waits for a reconnect.  @fd (OPEN) is sent, not consumed.  A
 * record belongs to the ismd connection it was made on: OPEN returns
 * that connection's generation, the others do nothing (-ENOTCONN) on a
 * later one.
 */
/* ISM_CAP_* of the last HELLO's reply (0 before the first). */
uint32_t conn_caps(struct ism_conn *c);
int conn_stream_open(struct ism_conn *c, const struct ism_stream_open_req *req,
		     int fd, struct ism_stream_rep *rep, uint32_t *gen);
int conn_stream_resolve(struct ism_conn *c, uint64_t id, uint32_t gen,
			struct ism_stream_rep *rep);
/* After connect(), for an OPEN answered PENDING with reason OTHER_HOST:
 * where the connection went (destination NAT) decides; the reply is
 * PENDING (wait for the offer as usual), SHM (claimed) or TCP. */
int conn_stream_check(struct ism_conn *c, uint64_t id, uint32_t gen,
		      struct ism_stream_rep *rep);
/* Fire and forget (NOREPLY). */
int conn_stream_update(struct ism_conn *c, uint64_t id, uint32_t gen,
		       uint32_t path, uint32_t reason);
int conn_stream_close(struct ism_conn *c, uint64_t id, uint32_t gen);

/*
 * Windows registered on this connection (window.c): serve an
 * EV_WIN_MAP or EV_WIN_UNMAP (takes @fds); the connection is lost (every
 * mapping ismd made is unmapped, the windows unregistered); it closes.
 */
void conn_window_event_locked(struct ism_conn *c, uint16_t type,
			      struct ism_rbuf *rb, int *fds, unsigned nfds);
void conn_windows_lost_locked(struct ism_conn *c);
void conn_windows_close_locked(struct ism_conn *c);

/* Push an event to the local queue (conn.c). */
void conn_push_event_locked(struct ism_conn *c, const struct ism_event *ev);

#endif
