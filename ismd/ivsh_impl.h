/* SPDX-License-Identifier: MIT */
/*
 * ivsh_impl - ivshmem domains, inside: ismd serves QEMU's ivshmem-doorbell devices
 * (QEMU's ivshmem server protocol, docs/ivshmem.md), and ism peers join
 * the same domains as members.
 *
 * Three files: ivsh_spec.c parses --ivshmem; ivsh_qemu.c holds the
 * domains, their peers and QEMU's server protocol; ivsh_member.c serves
 * the IVSH_* requests of ism peers.  This header is shared by those three
 * only: the rest of ismd sees ivsh.h.
 *
 * The v2 state table is one _Atomic uint32_t per peer, written only by
 * ismd: a new value is stored (release) before the ring that announces
 * it is queued, and the ringer's eventfd write is a full barrier, so a
 * peer woken by it and loading the entry (acquire) reads at least that
 * value.  A departed peer's entry is set to 0 the same way.
 *
 * channels=on (docs/vm.md): the memory's first page holds the ivchan
 * domain header and a presence table, one serial per peer id (ids are
 * below max_peers, as for v2), stored by ismd (release) at each join and
 * departure before vector 0 of every other peer is rung.  Guests can
 * write that page too (v1 devices map all memory read-write): members
 * treat it as hostile input, and ismd never reads it back.
 */
#ifndef ISMD_IVSH_IMPL_H
#define ISMD_IVSH_IMPL_H

#include "ismd.h"
#include "listen.h"
#include "ivchan/ivchan.h"
#include "ivsh_guest.h"

#include <stdatomic.h>

#define IVSH_ID_SPACE 65536u

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

struct ivsh_msg {
	int64_t v;
	struct doorbell *db; /* a reference to the eventfd's owner, or NULL */
	bool mem;	     /* with a fresh fd of the domain's memory */
};

struct ivsh_peer {
	struct ep_source src;
	struct ivsh_domain *dom;
	struct acct *acct; /* the connecting uid's, or the ism member's */
	uint16_t id;
	bool dead, want_out;
	const char *doom; /* to be dropped (by sweep()), and why */
	int sock;
	struct doorbell *db[ISM_IVSHMEM_MAX_VECTORS];
	struct ivsh_msg *q; /* ring of dom->qcap: a newcomer's whole setup */
	uint32_t qhead, qlen;
	struct ism_list link; /* dom->peers, then d->ivsh_reap */
	int outfd;	      /* v2, ism member: its output section, or -1 */
	struct peer *owner;   /* an ism member's ismd peer; NULL for QEMU */
	struct ism_list owner_link; /* owner->ivsh */
	uint64_t joined_ns;
};

struct ivsh_domain {
	struct ep_source src;
	struct daemon *d;
	struct ivsh_spec spec;
	struct ismd_bound bound; /* its socket (listen.h) */
	int listen_fd, memfd;
	int statefd;		 /* v2: the state table, or -1 */
	_Atomic uint32_t *state; /* v2: ismd's mapping of it */
	size_t state_size;
	/* channels=on: ismd's mapping of the memory's header page (the
	 * ivchan domain header and presence table; only ismd's stores are
	 * trusted in it), and the last presence serial handed out. */
	struct ivc_hdr *ivc;
	uint32_t serial;
	struct ivsh_gsrv *gsrv; /* control=on: ivsh_guest.c's */
	uint32_t id; /* 1..IVSH_MAX_DOMAINS, in the order configured */
	uint32_t next_id, n_peers, qcap;
	struct ism_list peers;
	struct ism_list link; /* d->ivsh_domains */
};

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the state table is lock-free");

/* ivsh_qemu.c, for ivsh_member.c */
struct ivsh_peer *ipeer_new(struct daemon *d, struct ivsh_domain *dom, int sock,
			    struct acct *acct, struct peer *owner, int *err);
void ipeer_drop(struct daemon *d, struct ivsh_peer *p, const char *why);
void ivsh_sweep(struct daemon *d, struct ivsh_domain *dom);
void ivsh_ring_state_change(struct ivsh_domain *dom, struct ivsh_peer *p);

#endif
