/* SPDX-License-Identifier: MIT */
/*
 * region - ismd's regions and references, shared by region.c (requests,
 * destroy, release) and recovery.c (re-registration after a restart).
 */
#ifndef ISMD_REGION_H
#define ISMD_REGION_H

#include "ismd.h"

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
struct region *region_insert(struct daemon *d, struct peer *owner,
			     uint64_t id, const struct newmem *m,
			     const uint8_t *token, uint32_t max_access,
			     const struct ism_acl *acl, const char *name);

struct ref *region_ref_add(struct daemon *d, struct peer *p,
			   struct region *r, uint32_t access, uint32_t flags);
struct ref *region_find_ref(struct daemon *d, struct peer *p, uint64_t id);
/* A live region by token (constant-time compare), or NULL. */
struct region *region_by_token(struct daemon *d, const uint8_t *token);
/* Does a region hold @token (live or not)? */
bool region_token_used(struct daemon *d, const uint8_t *token);
/* 0 or -EACCES: may @p attach @r with @access? */
int region_may_attach(const struct region *r, const struct peer *p,
		      uint32_t access);
/* Tell every referrer of @r but @who that @who attached. */
void region_tell_attached(struct daemon *d, struct region *r,
			  struct peer *who, uint32_t access);

/* recovery.c */
void recovery_region_added(struct daemon *d, struct region *r);
void recovery_release_peer(struct daemon *d, struct peer *p);

#endif
