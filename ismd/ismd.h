/* SPDX-License-Identifier: MIT */
/*
 * ismd - the shared-memory device manager.
 *
 * Concepts: one single-threaded epoll loop serves every peer.  A *peer*
 * is one accepted connection (one ISM device).  A *region* is a sealed
 * memfd ismd keeps one private fd to; peers get their own reopened fds
 * (read-only or read-write) so no peer shares an open file description
 * with ismd.  A *ref* links a peer to a region it owns or attached; the
 * owner's ref is flagged REF_OWNER.  Nothing here ever blocks on a peer:
 * sockets are non-blocking with bounded send queues, and doorbell writes
 * are queued for ringer threads (doorbell.h); whatever could wait on a
 * file a peer chose - closing it, populating memory it asked for - runs
 * on worker threads (worker.h, closer.h).  What peers make ismd hold is
 * charged to their uid (acct.h).
 *
 * Lifetime: peers and regions are freed only from daemon_reap(), at the
 * end of a loop iteration, so a fan-out loop never sees a freed peer; a
 * peer with a job in flight is freed once the job is done.
 */
#ifndef ISMD_H
#define ISMD_H

#include "acct.h"
#include "closer.h"
#include "dispatch.h"
#include "doorbell.h"
#include "guard.h"
#include "memfd.h"
#include "worker.h"
#include "proto/proto.h"
#include "util/list.h"
#include "util/map.h"
#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ISMD_ACL_MAX ISM_ACL_MAX

/* ivshmem domains (ivshmem.c). */
#define IVSH_MAX_DOMAINS 16
#define IVSH_MAX_VECTORS 64
#define IVSH_MAX_PEERS 256
#define IVSH_DEFAULT_PEERS 32

struct ivsh_spec {
	char path[108];
	char name[ISM_NAME_MAX + 1];
	uint64_t size; /* a power of two */
	uint32_t vectors, max_peers;
	uint32_t n_uids; /* besides administrators, these uids may join */
	uid_t uids[8];
	bool v2;	 /* layout=v2: a state table and output sections */
	uint64_t output; /* v2: each peer's output section */
};
#define ISMD_POLICY_MAX 64

enum ismd_log_level { L_ERR = 0, L_WARN, L_INFO, L_DEBUG };

struct ismd_config {
	const char *socket_path; /* NULL: default */
	int socket_mode;	 /* permission bits of the socket */
	gid_t socket_gid;
	bool socket_gid_set;
	const char *state_dir; /* NULL: default */
	uint64_t max_memory;
	uint32_t max_peers;
	uint32_t q_regions, q_refs, q_events;
	uint64_t q_bytes;
	size_t max_queue_bytes; /* per-peer send queue cap */
	uint64_t max_fds;	/* 0: from RLIMIT_NOFILE */
	uint64_t max_heap;	/* ismd's memory for records and queues */
	uint32_t uid_share;	/* percent of each global cap per uid */
	uint32_t recovery_ms;
	uint32_t hello_timeout_ms;
	int log_level;
	bool dumpable;
	uint32_t n_ivshmem;
	struct ivsh_spec ivshmem[IVSH_MAX_DOMAINS];
	uint32_t n_allow_uids, n_allow_gids, n_admin_uids, n_admin_gids;
	uid_t allow_uids[ISMD_POLICY_MAX];
	gid_t allow_gids[ISMD_POLICY_MAX];
	uid_t admin_uids[ISMD_POLICY_MAX];
	gid_t admin_gids[ISMD_POLICY_MAX];
};

struct daemon;

/* Every epoll registration points at one of these: its handler. */
struct ep_source {
	void (*fn)(struct daemon *d, struct ep_source *src, uint32_t events);
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

#define PEER_ADMIN 0x1u
#define PEER_WATCH 0x2u
#define PEER_HELLO 0x4u	  /* greeted */
#define PEER_DEAD 0x8u	  /* disconnecting: awaiting reap */
#define PEER_RESUMED 0x10u
#define PEER_EPOLLOUT 0x20u
#define PEER_NOREAD 0x40u /* input paused until its queue drains */
#define PEER_BUSY 0x80u	  /* a request's job is running: input paused */
#define PEER_STARVED 0x100u /* its uid is over its fd cap: input paused */
#define PEER_COUNTED 0x200u /* charged as a connection (not refused) */

struct peer {
	struct ep_source src;
	uint64_t id;	   /* 0 until HELLO */
	int sock;
	struct doorbell *doorbell;
	struct acct *acct; /* its uid's */
	uint32_t jobs;	   /* in flight on its behalf: freed after them */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t flags;
	int refuse;	   /* positive errno to answer HELLO with, or 0 */
	char name[ISM_NAME_MAX + 1];
	struct ism_list link; /* daemon.peers */
	struct ism_list refs; /* struct ref.peer_link */
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
	struct ism_list id_link; /* daemon.peers_by_id, sorted by id */
	struct daemon *d;	 /* for callbacks from other modules */
};

#define REF_OWNER 0x1u
#define REF_NOFD 0x2u

struct ref {
	struct peer *peer;
	struct region *region;
	uint32_t access, flags;
	uint64_t peer_id; /* the map key, kept for when the peer is gone */
	struct ism_list peer_link;   /* peer.refs */
	struct ism_list region_link; /* region.refs */
};

/*
 * A region's life: LIVE; a lingering region whose owner destroyed it or
 * left while others still map it is an ORPHAN (no token, no owner, still
 * charged to the owner's uid) until the last of them lets go; then DYING
 * while a worker punches its pages out; then freed.
 */
enum region_state { REGION_LIVE, REGION_ORPHAN, REGION_DYING };

struct region {
	uint64_t id;
	uint64_t owner_id;
	struct peer *owner; /* NULL once orphaned */
	struct acct *acct;  /* the owner's uid: charged until freed */
	enum region_state state;
	uint64_t size;
	uint32_t page_size, max_access;
	bool huge;
	bool linger;  /* keep the pages if the owner leaves (not on destroy) */
	int fd;	      /* ismd's private fd: never sent to a peer */
	int link_fd;  /* ISM_ALLOC_LINK socket for the first attacher, or -1 */
	void *wmap; /* hugetlbfs has no write(): a mapping for no-fd writes */
	uint8_t token[ISM_TOKEN_SIZE];
	uint64_t created_ns;
	struct ism_acl acl;
	char name[ISM_NAME_MAX + 1];
	struct ism_list refs;
	uint32_t nrefs;
	uint32_t n_mappers; /* refs other than the owner's that have an fd */
	struct ism_list all_link; /* daemon.regions, sorted by id */
};

/* A reference awaiting its region's re-registration after a restart. */
struct pending {
	struct peer *peer;
	uint64_t region;
	uint8_t token[ISM_TOKEN_SIZE];
	uint32_t access, flags;
	struct ism_list peer_link;
	struct ism_list region_link; /* its pending_group */
};

/* The pending references to one region id (daemon.pending_by_region). */
struct pending_group {
	uint64_t region;
	struct ism_list pending;
};

struct ismd_state; /* state.c */

struct daemon {
	struct ismd_config cfg;
	struct ismd_state *st;
	int epfd, listen_fd, signal_fd, timer_fd;
	struct ep_source listen_src, signal_src, timer_src, worker_src,
		doorbell_src;
	struct guard_slot *guard; /* the loop's own guarded calls */
	bool accept_paused;	  /* out of fds: until the next tick */
	uint32_t n_refused;	  /* refused connections awaiting HELLO */
	bool listen_owned; /* we bound the path: unlink on exit */
	dev_t sock_dev;
	ino_t sock_ino;
	char socket_path[108];
	int lock_fd;
	uint32_t epoch;
	uint8_t host_id[ISM_HOST_ID_SIZE];
	uint64_t next_peer, next_region;
	uint64_t start_ns, recovery_end_ns;
	uint32_t page_size, huge_page_size;
	bool stopping;

	struct ism_list peers; /* every connected peer */
	struct ism_list peers_by_id; /* greeted peers, sorted by id */
	uint32_t n_peers;      /* greeted or not */
	struct ism_list regions; /* every region, sorted by id */
	struct ism_map peer_by_id;
	struct ism_map region_by_id;
	struct ism_map region_by_token;
	struct ism_map ref_by_pr; /* (peer id, region id) -> struct ref */
	uint64_t bytes_used;
	uint32_t n_regions, n_refs;
	struct ism_map pending_by_region; /* region id -> pending_group */
	uint32_t n_pending;
	struct ism_list reap; /* dead peers, via peer.link */

	/* ivshmem.c */
	struct ism_list ivsh_domains, ivsh_reap;

	/* stream.c */
	struct ism_list streams; /* every record, in id order */
	struct ism_map stream_by_id;
	struct ism_map intent_by_addr; /* (netns, folded address): a chain */
	struct ism_map listener_by_port; /* (netns, port): a chain */
	struct ism_map listener_by_cookie; /* socket cookie -> listener */
	uint64_t next_stream;
	uint32_t n_streams;

	uint64_t ops, notifies, events_coalesced, events_lost, evictions;
	uint64_t budget_refusals;

	/* ISM_WIRE_MAX_MSG each: what is received, events and errors being
	 * sent, and the reply being built (dispatch.c) */
	uint8_t *rx, *tx, *rep;
	void *req_buf; /* the decoded request (ism_proto_req_max_size()) */
};

/* log.c */
void ismd_log_init(int level);
void ismd_log(int level, const char *fmt, ...) ISM_PRINTF(2, 3);
/* Rate-limited per uid (all of a uid's connections share one budget). */
void ismd_plog(struct peer *p, int level, const char *fmt, ...)
	ISM_PRINTF(3, 4);
/* Rate-limited per @a's uid (NULL: a global budget), without a peer. */
void ismd_alog(struct acct *a, int level, const char *fmt, ...)
	ISM_PRINTF(3, 4);

/* config / main.c */
void ismd_config_defaults(struct ismd_config *cfg);

/* state.c: host id, key, epoch, proofs, revocations. */
int ismd_state_open(struct daemon *d, const char *dir);
/* A random key and host id held in memory only (the fuzzer). */
int ismd_state_ephemeral(struct daemon *d);
void ismd_state_close(struct daemon *d);
void ismd_proof_owner(struct daemon *d, uint64_t region, uint64_t owner,
		      uint64_t size, uint64_t ino, const uint8_t *token,
		      uint8_t *out);
void ismd_proof_peer(struct daemon *d, uint64_t peer, uint8_t *out);
bool ismd_revoked(struct daemon *d, uint64_t region);
int ismd_revoke_record(struct daemon *d, uint64_t region);

/* listen.c */
int ismd_listen(struct daemon *d);
void ismd_unlisten(struct daemon *d);
void ismd_sd_notify(const char *msg);
int ismd_default_socket_path(char *buf, size_t n);

/* daemon.c */
int daemon_init(struct daemon *d, const struct ismd_config *cfg);
int daemon_run(struct daemon *d);
/* Free the peers killed since the last call. */
void daemon_reap(struct daemon *d);
void daemon_fini(struct daemon *d);
bool daemon_recovering(struct daemon *d);
/* The global caps acct_init() needs, from the config and real limits. */
void daemon_caps(const struct ismd_config *cfg, uint64_t caps[ACCT_KINDS]);

/* peer.c */
void peer_accept(struct daemon *d);
/* Take over connected socket @fd as a new peer (accept, or the fuzzer). */
struct peer *peer_adopt(struct daemon *d, int fd, pid_t pid, uid_t uid,
			gid_t gid);
void peer_readable(struct daemon *d, struct peer *p);
void peer_writable(struct daemon *d, struct peer *p);
void peer_kill(struct daemon *d, struct peer *p, const char *why);
void peer_free(struct daemon *d, struct peer *p);
/* Send a message built in d->tx; @droppable: see struct outmsg. */
void peer_send(struct daemon *d, struct peer *p, size_t len, const int *fds,
	       unsigned nfds, bool droppable);
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
/* Put a greeted @p in d->peers_by_id, in id order. */
void peer_index(struct daemon *d, struct peer *p);
bool peer_is_admin(struct daemon *d, const struct peer *p);
void peer_housekeeping(struct daemon *d, uint64_t now);

/* region.c */
/* Release everything @p holds (it is going away). */
void region_release_peer(struct daemon *d, struct peer *p);
void pending_expire_all(struct daemon *d);
void region_free_all(struct daemon *d);
void region_init(struct daemon *d);

/* stream.c */
void stream_init(struct daemon *d);
void stream_fini(struct daemon *d);
void stream_release_peer(struct daemon *d, struct peer *p);

/* ivsh_*.c (ivsh.h): ivshmem domains.  Parse "PATH,size=..." (0, or
 * -errno with a one-line reason in @err); open the configured domains;
 * free dropped peers (at reap). */
struct ivsh_domain;
struct ivsh_peer;
int ivsh_parse(const char *arg, struct ivsh_spec *s, char *err, size_t errlen);
int ivsh_init(struct daemon *d);
void ivsh_fini(struct daemon *d);
void ivsh_reap(struct daemon *d);
/* Leave every domain @p joined (it is going away). */
void ivsh_release_peer(struct daemon *d, struct peer *p);

#endif
