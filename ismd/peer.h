/* SPDX-License-Identifier: MIT */
/*
 * peer - one connection (one ISM device): accepting it, reading and
 * dispatching its requests, its bounded send queue, events, doorbells, and
 * its end (peer.c; the "never blocking on a peer" rules are there).
 */
#ifndef ISMD_PEER_H
#define ISMD_PEER_H

#include "ep.h"
#include "util/list.h"
#include "util/map.h"
#include "util/util.h"

#include <ism/admin.h>
#include <ism/common.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct region;
struct acct;
struct doorbell;

/* What ismd knows of its peers (peer.c's). */
struct peer_set {
	struct ism_list all;	 /* every connection, greeted or not */
	struct ism_list ordered; /* greeted peers, in id order */
	struct ism_list reap;	 /* killed, freed at the end of the loop */
	struct ism_map by_id;
	uint32_t n;	    /* connections, greeted or not */
	uint32_t n_refused; /* refused connections awaiting their HELLO */
	uint64_t next_id;
};

struct outmsg {
	struct outmsg *next;
	uint32_t len;
	uint16_t type;
	uint8_t nfds;
	bool droppable; /* a notify or watch event: coalesce/count, never evict */
	int fds[2];
	uint8_t data[];
};

/* The first two are what LIST_PEERS reports (include/ism/admin.h). */
#define PEER_ADMIN    ISM_PEER_ADMIN
#define PEER_WATCH    ISM_PEER_WATCHER
#define PEER_HELLO    0x4u /* greeted */
#define PEER_DEAD     0x8u /* disconnecting: awaiting reap */
#define PEER_RESUMED  0x10u
#define PEER_EPOLLOUT 0x20u
#define PEER_NOREAD   0x40u  /* input paused until its queue drains */
#define PEER_BUSY     0x80u  /* a request's job is running: input paused */
#define PEER_STARVED  0x100u /* its uid is over its fd cap: input paused */
#define PEER_COUNTED  0x200u /* charged as a connection (not refused) */
#define PEER_GUEST    0x400u /* a VM's guest (ivsh_guest.c): no creds */

struct peer {
	struct ep_source src;
	uint64_t id; /* 0 until HELLO */
	int sock;
	struct doorbell *doorbell;
	struct acct *acct; /* its uid's */
	uint32_t jobs;	   /* in flight on its behalf: freed after them */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t flags;
	uint32_t caps; /* its HELLO's ISM_CAPQ_* (what its libism does) */
	int refuse;    /* positive errno to answer HELLO with, or 0 */
	char name[ISM_NAME_MAX + 1];
	struct ism_list link;	 /* peer_set.all, or peer_set.reap */
	struct ism_list refs;	 /* struct ref.peer_link */
	struct ism_list pending; /* struct pending.peer_link */
	uint32_t n_regions, n_refs, n_pending;
	struct ism_list streams; /* struct stream.peer_link */
	struct ism_list ivsh;	 /* its ivshmem memberships */
	uint32_t n_streams, n_intents, n_listeners;
	uint64_t bytes;
	uint64_t connected_ns, hello_deadline_ns;
	uint64_t ops, bad_msgs, failed_attaches, failed_noreply;
	/* send queue */
	struct outmsg *oq_head, *oq_tail;
	uint32_t oq_count, oq_events;
	size_t oq_bytes;
	uint64_t ev_lost; /* droppable events lost, not yet reported */
	const char *dead_reason;
	struct ism_list id_link; /* peer_set.ordered */
	struct daemon *d;	 /* for callbacks from other modules */
};

#define REF_OWNER 0x1u
#define REF_NOFD  0x2u

void peer_accept(struct daemon *d);
/* Take over connected socket @fd as a new peer (accept, or the fuzzer;
 * @pid -1: a guest's, ivsh_guest.c, whose socket says nothing). */
struct peer *peer_adopt(struct daemon *d, int fd, pid_t pid, uid_t uid,
			gid_t gid);
void peer_readable(struct daemon *d, struct peer *p);
void peer_writable(struct daemon *d, struct peer *p);
void peer_kill(struct daemon *d, struct peer *p, const char *why);
void peer_free(struct daemon *d, struct peer *p);
/* Send a message built in d->tx; @droppable: see struct outmsg. */
void peer_send(struct daemon *d, struct peer *p, size_t len, const int *fds,
	       unsigned nfds, bool droppable);
/* An event built in d->tx that must not be lost (a window's mapping
 * request or its end): queued past the caps, so its sender must bound
 * how many it can cause (window.c). */
void peer_send_owed(struct daemon *d, struct peer *p, size_t len,
		    const int *fds, unsigned nfds);
/* A reply built in @buf (d->rep, by dispatch.c). */
void peer_send_reply(struct daemon *d, struct peer *p, const uint8_t *buf,
		     size_t len, const int *fds, unsigned nfds);
void peer_send_error(struct daemon *d, struct peer *p, uint16_t type,
		     uint32_t seq, int err);
/* A request of @p that returned ISMD_ASYNC is answered: read on. */
void peer_async_done(struct daemon *d, struct peer *p);
/* Stop (@on) or resume reading @p for reason @flag (PEER_BUSY...). */
void peer_pause(struct daemon *d, struct peer *p, uint32_t flag, bool on);
void peer_event_notify(struct daemon *d, struct peer *p, uint64_t region,
		       uint64_t sender, uint64_t value);
void peer_event_gone(struct daemon *d, struct peer *p, uint64_t region,
		     uint32_t reason);
void peer_event_attached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t access);
void peer_event_detached(struct daemon *d, struct peer *p, uint64_t region,
			 uint64_t who, uint32_t reason);
void peer_watch(struct daemon *d, uint32_t kind, uint32_t reason,
		struct peer *about, struct region *r);
/* Ring @p's doorbell (queued; never blocks). */
void peer_ring(struct daemon *d, struct peer *p);
/* doorbell.h's on_fail for a peer's doorbell (@ctx is the peer). */
void peer_doorbell_failed(void *ctx, const char *why);
/* Put a greeted @p in d->peers.ordered, in id order. */
void peer_index(struct daemon *d, struct peer *p);
bool peer_is_admin(struct daemon *d, const struct peer *p);
/* A greeted peer by id (dead ones included until freed), or NULL. */
struct peer *peer_find(struct daemon *d, uint64_t id);
void peer_init(struct daemon *d);
/* Free the peers killed since the last call (not while a job of theirs
 * runs). */
void peer_reap(struct daemon *d);
void peer_fini(struct daemon *d);
/* ismd is stopping: a shutdown event to each, then every peer killed. */
void peer_shutdown_all(struct daemon *d);
void peer_housekeeping(struct daemon *d, uint64_t now);

#endif
