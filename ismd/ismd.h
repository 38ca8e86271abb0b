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
 * are guarded by a timer (see peer.c).
 *
 * Lifetime: peers and regions are freed only from daemon_reap(), at the
 * end of a loop iteration, so a fan-out loop never sees a freed peer.
 */
#ifndef ISMD_H
#define ISMD_H

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

/* Every epoll registration starts with one of these. */
enum ep_kind {
	EP_LISTEN = 1, EP_SIGNAL, EP_TIMER, EP_PEER,
	EP_IVSH_LISTEN, EP_IVSH_PEER, /* ivshmem.c */
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

struct peer {
	enum ep_kind kind; /* EP_PEER; first member */
	uint64_t id;	   /* 0 until HELLO */
	int sock;
	int doorbell;
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
	/* log rate limit */
	uint64_t rl_stamp;
	uint32_t rl_tokens, rl_suppressed;
	const char *dead_reason;
};

#define REF_OWNER 0x1u
#define REF_NOFD 0x2u

struct ref {
	struct peer *peer;
	struct region *region;
	uint32_t access, flags;
	struct ism_list peer_link;   /* peer.refs */
	struct ism_list region_link; /* region.refs */
};

struct region {
	uint64_t id;
	uint64_t owner_id;
	struct peer *owner;
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
};

/* A reference awaiting its region's re-registration after a restart. */
struct pending {
	struct peer *peer;
	uint64_t region;
	uint8_t token[ISM_TOKEN_SIZE];
	uint32_t access, flags;
	struct ism_list peer_link;
	struct ism_list all_link; /* daemon.pending */
};

struct ismd_state; /* state.c */

struct daemon {
	struct ismd_config cfg;
	struct ismd_state *st;
	int epfd, listen_fd, signal_fd, timer_fd;
	enum ep_kind listen_kind, signal_kind, timer_kind;
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
	bool noreply; /* the request being handled wants no reply */

	struct ism_list peers; /* every connected peer */
	uint32_t n_peers;      /* greeted or not */
	struct ism_map peer_by_id;
	struct ism_map region_by_id;
	struct ism_map region_by_token;
	struct ism_map ref_by_pr; /* (peer id, region id) -> struct ref */
	uint64_t bytes_used;
	uint32_t n_regions, n_refs;
	struct ism_list pending;
	uint32_t n_pending;
	struct ism_list reap; /* dead peers, via peer.link */

	/* ivshmem.c */
	struct ism_list ivsh_domains, ivsh_reap;

	/* stream.c */
	struct ism_list streams, listeners;
	struct ism_map stream_by_id;
	struct ism_map intent_by_addr; /* (netns, folded local address) */
	uint64_t next_stream;
	uint32_t n_streams;

	uint64_t ops, notifies, events_coalesced, events_lost, evictions;

	uint8_t *rx, *tx; /* ISM_WIRE_MAX_MSG each */
};

/* log.c */
void ismd_log_init(int level);
void ismd_log(int level, const char *fmt, ...) ISM_PRINTF(2, 3);
/* Rate-limited per peer. */
void ismd_plog(struct peer *p, int level, const char *fmt, ...)
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
void peer_send_error(struct daemon *d, struct peer *p, uint16_t type,
		     uint32_t seq, int err);
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
void peer_ring(struct daemon *d, struct peer *p);

/* doorbell.c: start the watchdog (once); ring an eventfd, -ETIMEDOUT if
 * the write blocked and was cut off. */
int doorbell_guard_install(void);
int doorbell_ring(int fd);
bool peer_is_admin(struct daemon *d, const struct peer *p);
void peer_housekeeping(struct daemon *d, uint64_t now);

/* region.c: request handlers.  Each returns 0 after replying itself, or
 * -errno for the caller to send as an error reply. */
int op_alloc(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, int *fds, unsigned nfds);
int op_attach(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds);
int op_detach(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds);
int op_destroy(struct daemon *d, struct peer *p, uint32_t seq,
	       struct ism_rbuf *rb, unsigned nfds);
int op_notify(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds);
int op_read(struct daemon *d, struct peer *p, uint32_t seq,
	    struct ism_rbuf *rb, unsigned nfds);
int op_write(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, unsigned nfds);
int op_register(struct daemon *d, struct peer *p, uint32_t seq,
		struct ism_rbuf *rb, int *fds, unsigned nfds);
int op_reattach(struct daemon *d, struct peer *p, uint32_t seq,
		struct ism_rbuf *rb, unsigned nfds);
/* A fresh open file description of @fd (through /proc/self/fd), so a
 * peer never shares one with ismd: an fd or -errno. */
int ismd_reopen(int fd, int flags);
/* Release everything @p holds (it is going away). */
void region_release_peer(struct daemon *d, struct peer *p);
void region_destroy(struct daemon *d, struct region *r, uint32_t reason,
		    struct peer *except);
void pending_expire_all(struct daemon *d);
void region_free_all(struct daemon *d);

/* admin.c */
int op_status(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds);
int op_list(struct daemon *d, struct peer *p, uint16_t type, uint32_t seq,
	    struct ism_rbuf *rb, unsigned nfds);
int op_watch(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, unsigned nfds);

/* stream.c */
void stream_init(struct daemon *d);
void stream_fini(struct daemon *d);
void stream_release_peer(struct daemon *d, struct peer *p);
int op_stream_open(struct daemon *d, struct peer *p, uint32_t seq,
		   struct ism_rbuf *rb, int *fds, unsigned nfds);
int op_stream_resolve(struct daemon *d, struct peer *p, uint32_t seq,
		      struct ism_rbuf *rb, unsigned nfds);
int op_stream_update(struct daemon *d, struct peer *p, uint32_t seq,
		     struct ism_rbuf *rb, unsigned nfds);
int op_stream_close(struct daemon *d, struct peer *p, uint32_t seq,
		    struct ism_rbuf *rb, unsigned nfds);
int op_list_streams(struct daemon *d, struct peer *p, uint32_t seq,
		    struct ism_rbuf *rb, unsigned nfds);

/* ivshmem.c: QEMU's ivshmem server protocol.  Parse "PATH,size=..."
 * (0, or -errno with a one-line reason in @err); open the configured
 * domains; events on their sockets; free dropped peers (at reap). */
struct ivsh_domain;
struct ivsh_peer;
int ivsh_parse(const char *arg, struct ivsh_spec *s, char *err, size_t errlen);
int ivsh_init(struct daemon *d);
void ivsh_fini(struct daemon *d);
void ivsh_accept(struct daemon *d, struct ivsh_domain *dom);
void ivsh_event(struct daemon *d, struct ivsh_peer *p, uint32_t events);
void ivsh_reap(struct daemon *d);
/* Leave every domain @p joined (it is going away). */
void ivsh_release_peer(struct daemon *d, struct peer *p);
int op_ivsh(struct daemon *d, struct peer *p, uint16_t type, uint32_t seq,
	    struct ism_rbuf *rb, unsigned nfds);

/* hello.c */
int op_hello(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, int *fds, unsigned nfds);

#endif
