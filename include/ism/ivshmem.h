/* SPDX-License-Identifier: MIT */
/*
 * ism/ivshmem.h - take part in an ivshmem domain that ismd serves to
 * QEMU's ivshmem-doorbell devices (ismd --ivshmem; docs/ivshmem.md).
 *
 * A member gets a peer id in the domain's id space (the one guests write
 * into their doorbell register), the domain's memory (read-write) and
 * one eventfd per vector that becomes readable when anyone rings that
 * vector of ours.  Guests learn our eventfds as for any peer, and our
 * departure when we leave or our process dies.  Ringing a peer goes
 * through ismd (one round trip): members and administrators may ring.
 *
 * Who may join: administrators, and the uids a domain names (uid=...).
 * The structs filled here end in a reserved tail that libism zero-fills:
 * fields are added there in later versions, so their size never changes.
 * Same thread-safety as ism/conn.h.
 */
#ifndef ISM_IVSHMEM_H
#define ISM_IVSHMEM_H

#include <ism/common.h>
#include <ism/conn.h>
#include <ism/ivchan.h>

#ifndef __cplusplus
#include <stdatomic.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ISM_IVSHMEM_MAX_VECTORS 64

struct ism_ivshmem_domain {
	uint32_t id;	  /* for ism_ivshmem_peers/ring */
	uint32_t vectors; /* per peer */
	uint32_t peers, max_peers;
	uint32_t flags; /* ISM_IVSHMEM_MAY_JOIN, ISM_IVSHMEM_V2 */
	uint64_t size;
	char name[ISM_NAME_MAX + 1];
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
#define ISM_IVSHMEM_MAY_JOIN 1u
#define ISM_IVSHMEM_V2	     2u /* layout=v2 (see below) */

struct ism_ivshmem_peer {
	uint32_t id;
	uint32_t kind;	   /* ISM_IVSHMEM_QEMU or ISM_IVSHMEM_ISM */
	uint64_t ism_peer; /* the ismd peer of an ism member, else 0 (also
			    * 0 unless the asker is a member or admin) */
	uint64_t age_ns;
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
#define ISM_IVSHMEM_QEMU 1u
#define ISM_IVSHMEM_ISM	 2u

/* The domains (at most @max); returns how many, or -errno. */
ISM_EXPORT int ism_ivshmem_list(struct ism_conn *c,
				struct ism_ivshmem_domain *out, uint32_t max);
/* The peers of domain @domain (at most @max, by id); -ENOENT. */
ISM_EXPORT int ism_ivshmem_peers(struct ism_conn *c, uint32_t domain,
				 struct ism_ivshmem_peer *out, uint32_t max);
/* Ring vector @vector of peer @peer in @domain: -ENOENT (no such peer),
 * -EINVAL (vector), -EPERM (neither a member nor an administrator). */
ISM_EXPORT int ism_ivshmem_ring(struct ism_conn *c, uint32_t domain,
				uint32_t peer, uint32_t vector);

struct ism_ivshmem;

/* Join the domain named @name: -ENOENT, -EPERM, -EUSERS (full). */
ISM_EXPORT int ism_ivshmem_join(struct ism_conn *c, const char *name,
				struct ism_ivshmem **out);
ISM_EXPORT uint32_t ism_ivshmem_domain_id(struct ism_ivshmem *m);
/* Our peer id in the domain. */
ISM_EXPORT uint32_t ism_ivshmem_id(struct ism_ivshmem *m);
ISM_EXPORT uint32_t ism_ivshmem_vectors(struct ism_ivshmem *m);
ISM_EXPORT uint64_t ism_ivshmem_size(struct ism_ivshmem *m);
/* The memory, mapped read-write on first call (shared with the guests);
 * 0 or -errno. */
ISM_EXPORT int ism_ivshmem_map(struct ism_ivshmem *m, void **addr);
/* Readable (an eventfd: read 8 bytes) when our vector @v is rung; -EINVAL. */
ISM_EXPORT int ism_ivshmem_vector_fd(struct ism_ivshmem *m, uint32_t v);
/*
 * ivshmem 2.0 layout (a domain with layout=v2): besides the shared
 * memory above (the read-write section, the only part QEMU v1 devices
 * map), a state table of one 32-bit state per peer id, read-only to all,
 * and one output section per ism member, writable by its owner only and
 * read-only to the other members - enforced by the kernel (separate
 * memfds, read-only open file descriptions).  Setting our state to a new
 * value rings vector 0 of every other peer, as do joins and departures.
 */
struct ism_ivshmem_layout {
	uint32_t layout; /* 1 or 2 */
	uint64_t state_size, output_size;
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
/* 0 or -errno; with layout 1 the sizes are 0 and the calls below give
 * -EOPNOTSUPP. */
ISM_EXPORT int ism_ivshmem_layout(struct ism_ivshmem *m,
				  struct ism_ivshmem_layout *out);
/*
 * The state table, mapped read-only: entry i is peer i's state, written
 * by ismd (for us too: ism_ivshmem_set_state() asks it) while we read.
 * Read an entry with one atomic load (acquire, to then read what the
 * state announces):
 *
 *   ismd (a state change)               member
 *   STORE entry (release)         (R)   READ  vector 0 eventfd       (E)
 *   queue vector 0's ring, then         LOAD  entry (acquire)        (A)
 *   a ringer WRITEs each eventfd  (W)   READ  what the state announces
 *
 *   R before W, and W pairs with E: an eventfd write and read are full
 *   barriers, so a member that read the eventfd and then loads an entry
 *   (A) reads at least the value whose ring woke it.  A load without
 *   having read the eventfd (polling) may see an older value; A pairs
 *   with R for whatever that value announces.  Entries change only as
 *   ismd's atomic 32-bit stores: never torn.
 *
 * C++ has no _Atomic qualifier (C++23's <stdatomic.h> spells it
 * _Atomic(T)), so there the entries are declared uint32_t: load one with
 * __atomic_load_n(&table[i], __ATOMIC_ACQUIRE) (GCC, Clang) or a C++20
 * std::atomic_ref, never with a plain read.
 *
 * Returns 0 and the table in *@table (valid until ism_ivshmem_leave()),
 * -EOPNOTSUPP (layout 1) or -errno.
 */
#ifndef __cplusplus
ISM_EXPORT int ism_ivshmem_state_table(struct ism_ivshmem *m,
				       const _Atomic uint32_t **table);
#else
ISM_EXPORT int ism_ivshmem_state_table(struct ism_ivshmem *m,
				       const uint32_t **table);
#endif
ISM_EXPORT int ism_ivshmem_set_state(struct ism_ivshmem *m, uint32_t value);
/* Our output section, mapped read-write. */
ISM_EXPORT int ism_ivshmem_output(struct ism_ivshmem *m, void **addr);
/* Member @peer's output section, mapped read-only (asked of ismd each
 * call; the mapping stays valid until leave or the peer's id is reused
 * by a later member).  -ENOENT if @peer is not a member. */
ISM_EXPORT int ism_ivshmem_peer_output(struct ism_ivshmem *m, uint32_t peer,
				       const void **addr);

/*
 * Channels with the other members (guests running ism-guest, other host
 * members): the domain must be served with channels=on (docs/vm.md).
 * Opens the channel layer over our mapping (formatting our slot); kicks
 * go through ismd (ism_ivshmem_ring), sleeps wait on our vectors'
 * eventfds.  Close the handle (ism_ivdom_close) before leaving.  Returns
 * 0, -EPROTO (no channel layout in this domain) or -errno.
 */
ISM_EXPORT int ism_ivshmem_ivdom(struct ism_ivshmem *m, struct ism_ivdom **out);

/* Leave (the others are told), unmap, close.  NULL is allowed. */
ISM_EXPORT void ism_ivshmem_leave(struct ism_ivshmem *m);

#ifdef __cplusplus
}
#endif

#endif
