/* SPDX-License-Identifier: MIT */
/*
 * region - ismd's regions and references: region.c (requests, destroy,
 * orphans, release) and recovery.c (re-registration after a restart).
 */
#ifndef ISMD_REGION_H
#define ISMD_REGION_H

#include "peer.h"
#include "proto/proto.h"

/* What ismd knows of its regions (region.c's, recovery.c's). */
struct region_set {
	struct ism_map by_id;
	struct ism_map by_token;
	struct ism_map refs;	 /* (peer id, region id) -> struct ref */
	struct ism_map pending;	 /* region id -> struct pending_group */
	struct ism_list groups;	 /* every pending_group, oldest first */
	struct ism_list ordered; /* every region, in id order */
	uint32_t n, n_refs, n_pending;
	uint64_t next_id;
};

#define REF_OWNER 0x1u
#define REF_NOFD  0x2u

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
	bool linger; /* keep the pages if the owner leaves (not on destroy) */
	int fd;	     /* ismd's private fd: never sent to a peer */
	int link_fd; /* ISM_ALLOC_LINK socket for the first attacher, or -1 */
	void *wmap;  /* hugetlbfs has no write(): a mapping for no-fd writes */
	uint8_t token[ISM_TOKEN_SIZE];
	uint64_t created_ns;
	struct ism_acl acl;
	char name[ISM_NAME_MAX + 1];
	struct ism_list refs;
	uint32_t nrefs;
	uint32_t n_mappers; /* refs other than the owner's that have an fd */
	struct ism_list all_link; /* region_set.ordered */
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

/* The pending references to one region id (region_set.pending). */
struct pending_group {
	uint64_t region;
	struct ism_list pending;
	struct ism_list link; /* region_set.groups */
};

/* A memfd being made into a region. */
struct newmem {
	int fd;
	uint64_t size;
	uint32_t page_size;
	bool huge;
	int huge_errno; /* why huge pages were not used, or 0 */
};

/* Reserve what a region of @size costs: @owner's per-peer quotas (its
 * count is not taken yet), and its uid's memory, one fd and the record.
 * 0, -EDQUOT (a quota or the uid's share) or -ENOMEM/-ENFILE (global). */
int region_charge(struct daemon *d, struct peer *owner, uint64_t size);
void region_uncharge(struct acct *a, uint64_t size);

/* Insert a region made of @m (charged by region_charge; takes m->fd on
 * success).  NULL on ENOMEM. */
struct region *region_insert(struct daemon *d, struct peer *owner, uint64_t id,
			     const struct newmem *m, const uint8_t *token,
			     uint32_t max_access, const struct ism_acl *acl,
			     const char *name);

struct ref *region_ref_add(struct daemon *d, struct peer *p, struct region *r,
			   uint32_t access, uint32_t flags);
struct ref *region_find_ref(struct daemon *d, struct peer *p, uint64_t id);
/* A live region by token (constant-time compare), or NULL. */
struct region *region_by_token(struct daemon *d, const uint8_t *token);
/* Does a region hold @token (live or not)? */
bool region_token_used(struct daemon *d, const uint8_t *token);
/* 0 or -EACCES: may @p attach @r with @access? */
int region_may_attach(const struct region *r, const struct peer *p,
		      uint32_t access);
/* Tell every referrer of @r but @who that @who attached. */
void region_tell_attached(struct daemon *d, struct region *r, struct peer *who,
			  uint32_t access);

/* Release everything @p holds (it is going away). */
void region_release_peer(struct daemon *d, struct peer *p);
void region_init(struct daemon *d);
void region_fini(struct daemon *d);
/* Shutdown: free what is left, orphans too. */
void region_free_all(struct daemon *d);

/* recovery.c */
/*
 * Housekeeping: once the window is over, the waiting references still
 * there are lost and their peers told, a batch per tick so a million of
 * them never stall the loop.
 */
void recovery_tick(struct daemon *d, uint64_t now);
/* Shutdown: drop them all, telling nobody. */
void pending_expire_all(struct daemon *d);
void recovery_region_added(struct daemon *d, struct region *r);
void recovery_release_peer(struct daemon *d, struct peer *p);

#endif
