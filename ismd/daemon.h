/* SPDX-License-Identifier: MIT */
/*
 * daemon - ismd's configuration, its event loop and the state every module
 * keeps in it (daemon.c).
 *
 * One epoll loop serves everything; every registration is a struct
 * ep_source carrying its own handler.  Each module owns a part of struct
 * daemon (peers, regions, streams, ivsh) and is the only one to touch it;
 * the others go through its functions.
 */
#ifndef ISMD_DAEMON_H
#define ISMD_DAEMON_H

#include "acct.h"
#include "ep.h"
#include "ivsh.h"
#include "peer.h"
#include "region.h"
#include "stream.h"
#include "window.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#define ISMD_POLICY_MAX 64

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

struct daemon {
	struct ismd_config cfg;
	struct ismd_state *st;
	int epfd, listen_fd, signal_fd, timer_fd;
	struct ep_source listen_src, signal_src, timer_src, worker_src,
		doorbell_src;
	struct guard_slot *guard; /* the loop's own guarded calls */
	bool accept_paused;	  /* out of fds: until the next tick */
	bool listen_owned;	  /* we bound the path: unlink on exit */
	dev_t sock_dev;
	ino_t sock_ino;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lock_fd;
	uint32_t epoch;
	uint8_t host_id[ISM_HOST_ID_SIZE];
	uint64_t start_ns, recovery_end_ns;
	uint32_t page_size, huge_page_size;
	bool stopping;

	/* Each module's own. */
	struct peer_set peers;
	struct region_set regions;
	struct stream_set streams;
	struct ivsh_set ivsh;
	struct window_set windows;

	uint64_t ops, notifies, events_coalesced, events_lost, evictions;
	uint64_t budget_refusals;

	/* ISM_WIRE_MAX_MSG each: what is received, events and errors being
	 * sent, and the reply being built (dispatch.c) */
	uint8_t *rx, *tx, *rep;
	void *req_buf; /* the decoded request (ism_proto_req_max_size()) */
};

/* main.c's defaults, and the global caps acct_init() needs. */
void ismd_config_defaults(struct ismd_config *cfg);

int daemon_init(struct daemon *d, const struct ismd_config *cfg);
int daemon_run(struct daemon *d);
/* Free the peers killed since the last call. */
void daemon_reap(struct daemon *d);
void daemon_fini(struct daemon *d);
bool daemon_recovering(struct daemon *d);
/* The global caps acct_init() needs, from the config and real limits. */
void daemon_caps(const struct ismd_config *cfg, uint64_t caps[ACCT_KINDS]);

#endif
