/* SPDX-License-Identifier: MIT */
/*
 * ism/admin.h - inspect and manage ismd: status, lists, watch, revoke.
 *
 * Concepts: every peer may ask; what it sees depends on its rights.  An
 * administrator (root, ismd's own uid, or a uid/gid named by ismd's
 * --admin-uid/--admin-gid) sees every peer and region and may revoke any
 * region.  Other peers see themselves, the regions they own or reference,
 * and the references to those regions.  Tokens are never listed.
 *
 * Lists are paged: pass cursor 0 first, then the returned *next until it
 * is 0.  The structs filled here end in a reserved tail that libism
 * zero-fills: fields are added there in later versions, so their size
 * never changes.  Same thread-safety as ism/conn.h.
 */
#ifndef ISM_ADMIN_H
#define ISM_ADMIN_H

#include <ism/common.h>
#include <ism/conn.h>
#include <ism/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_status {
	char version[32]; /* ismd's version */
	struct ism_host_id host_id;
	uint32_t pid;
	uint32_t epoch; /* increments at every ismd start */
	uint64_t uptime_ns;
	uint32_t peers, regions, refs;
	uint32_t max_peers;
	uint64_t bytes_used, max_memory;
	uint32_t quota_regions, quota_refs, quota_events;
	uint64_t quota_bytes;
	uint64_t ops, notifies, events_coalesced, events_lost, evictions;
	uint32_t recovery_ms_left; /* > 0 while regions may be re-registered */
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[8];
};

struct ism_peer_info {
	uint64_t id;
	uint32_t pid, uid, gid;
	uint32_t flags; /* ISM_PEER_ADMIN | ISM_PEER_WATCHER | ISM_PEER_SELF */
	uint32_t regions, refs;
	uint64_t bytes;
	uint32_t queued; /* messages waiting in ismd for this peer */
	uint64_t age_ns; /* time since connect */
	uint64_t ops;
	char name[ISM_NAME_MAX + 1];
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
#define ISM_PEER_ADMIN	 1u
#define ISM_PEER_WATCHER 2u
#define ISM_PEER_SELF	 4u

struct ism_region_entry {
	uint64_t id, owner, size;
	uint32_t page_size, max_access, flags; /* ISM_REGION_HUGE */
	uint32_t refs; /* references, the owner's included */
	uint64_t age_ns;
	char name[ISM_NAME_MAX + 1];
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
#define ISM_REGION_HUGE	  1u
#define ISM_REGION_LINGER 2u

struct ism_ref_entry {
	uint64_t region, peer;
	uint32_t access; /* enum ism_access */
	uint32_t flags;	 /* ISM_REF_OWNER | ISM_REF_NOFD */
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
#define ISM_REF_OWNER 1u
#define ISM_REF_NOFD  2u

/* What ismd knows about a stream (ism/stream.h; ismctl streams). */
struct ism_stream_info {
	uint64_t id;
	uint64_t peer;	  /* whose record */
	uint64_t partner; /* the peer at the other end, on shared memory */
	uint32_t role;	  /* enum ism_stream_role */
	uint32_t path;	  /* enum ism_stream_path */
	uint32_t reason;  /* enum ism_stream_reason */
	uint64_t age_ns;
	struct ism_stream_addr local, remote;
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};

/* ismd's version, counters and limits.  Returns 0 or -errno. */
ISM_EXPORT int ism_admin_status(struct ism_conn *c, struct ism_status *st);

/*
 * Fill up to @max entries starting at @cursor (0 first).  Returns the
 * number filled (>= 0) and the cursor for the next call in *@next (0 at
 * the end), or -errno (-EINVAL if @max is 0 or @out or @next is NULL).
 */
ISM_EXPORT int ism_admin_list_peers(struct ism_conn *c, uint64_t cursor,
				    struct ism_peer_info *out, uint32_t max,
				    uint64_t *next);
ISM_EXPORT int ism_admin_list_regions(struct ism_conn *c, uint64_t cursor,
				      struct ism_region_entry *out,
				      uint32_t max, uint64_t *next);
/* References to @region (0: every region the caller may see). */
ISM_EXPORT int ism_admin_list_refs(struct ism_conn *c, uint64_t region,
				   uint64_t cursor, struct ism_ref_entry *out,
				   uint32_t max, uint64_t *next);
/* Streams: administrators see all, others their own. */
ISM_EXPORT int ism_admin_list_streams(struct ism_conn *c, uint64_t cursor,
				      struct ism_stream_info *out, uint32_t max,
				      uint64_t *next);

/*
 * Subscribe to lifecycle events (ISM_EV_WATCH): peers coming and going,
 * regions created and destroyed, attaches and detaches.  Administrators
 * see all; others see events about themselves and their regions.
 * Returns 0 or -errno.
 */
ISM_EXPORT int ism_admin_watch(struct ism_conn *c);

/*
 * Destroy region @id as owner or administrator (revocation).  Returns the
 * number of referrers told, or -errno (-EPERM, -ENOENT).
 */
ISM_EXPORT int ism_admin_destroy(struct ism_conn *c, uint64_t id);

#ifdef __cplusplus
}
#endif

#endif
