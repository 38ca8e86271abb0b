/* SPDX-License-Identifier: MIT */
/*
 * acct - what ismd holds on each user's behalf, against caps.
 *
 * Every thing a peer can make ismd hold is charged to the peer's uid (a
 * struct acct) and to a global total: connections, file descriptors,
 * ismd's own memory (records and queued messages, "heap"), and shared
 * memory (region bytes, including a destroyed region's pages that live on
 * for someone still mapping them).  Per-peer quotas stay where they are
 * (regions, attachments, ...); these caps stop many peers of one uid from
 * taking everything: each uid gets at most a share (--uid-share, default
 * half) of each global cap.  Administrators are held to the global caps
 * only.  A charge that does not fit fails: -EDQUOT for the uid's share,
 * and -EUSERS, -ENFILE or -ENOMEM for the global cap of peers, fds and
 * memory.
 *
 * Records outlive peers (a lingering region is charged to its owner's uid
 * after the owner is gone), so an acct is reference-counted and freed only
 * when nothing refers to it, nothing is charged, and its log rate limit
 * has refilled (acct_sweep): a uid whose connections come and go one at a
 * time must not get a fresh log burst each time.
 */
#ifndef ISMD_ACCT_H
#define ISMD_ACCT_H

#include <stdbool.h>
#include <stdint.h>

enum acct_kind {
	ACCT_PEERS,
	ACCT_FDS,
	ACCT_HEAP,
	ACCT_MEM,
	ACCT_KINDS,
};

struct acct {
	uint32_t uid;
	bool exempt;   /* an administrator: global caps only */
	uint32_t refs; /* holders of this pointer */
	uint64_t used[ACCT_KINDS];
	uint64_t refused[ACCT_KINDS]; /* charges that did not fit */
	/* one-line log rate limit per uid (log.c) */
	uint64_t rl_stamp;
	uint32_t rl_tokens, rl_suppressed;
};

/* Global caps; a uid's cap is @share_pct percent of each (at least 1). */
void acct_init(const uint64_t caps[ACCT_KINDS], uint32_t share_pct);
void acct_fini(void);

/* The acct of @uid, created if needed, with a reference; NULL on ENOMEM.
 * @exempt is sticky once set (an administrator's uid). */
struct acct *acct_get(uint32_t uid, bool exempt);
struct acct *acct_ref(struct acct *a);
void acct_put(struct acct *a);

/* Charge @n of @k to @a (may be NULL: ismd's own, global only). */
int acct_charge(struct acct *a, enum acct_kind k, uint64_t n);
/* Charge even past the caps (what ismd cannot refuse, such as fds the
 * kernel already installed); acct_over() then tells. */
void acct_force(struct acct *a, enum acct_kind k, uint64_t n);
void acct_uncharge(struct acct *a, enum acct_kind k, uint64_t n);
/* Is @a (or the global total) at or past its cap of @k? */
bool acct_over(const struct acct *a, enum acct_kind k);
/* Past it (only forced charges get there): what ismd cannot refuse
 * outright has to stop coming. */
bool acct_beyond(const struct acct *a, enum acct_kind k);
/* Free the accts nobody refers to once their log budget is whole again
 * (until then a uid that comes and goes keeps its rate limit). */
void acct_sweep(uint64_t now);

uint64_t acct_total(enum acct_kind k);
uint64_t acct_cap(enum acct_kind k);
uint64_t acct_uid_cap(const struct acct *a, enum acct_kind k);
uint32_t acct_count(void); /* uids with an acct */
const char *acct_kind_name(enum acct_kind k);

#endif
