/* SPDX-License-Identifier: MIT */
/*
 * ivchan - the rendezvous layout of channels in an ivshmem domain's
 * memory (docs/vm.md, "The rendezvous protocol").  Shared by libism,
 * libism-guest and ismd (which writes the domain header and the presence
 * table); byte offsets are pinned by the asserts below.
 *
 * Every field lives in memory a guest can write: readers load each field
 * once (ivc_ld32/64) into a local and validate it before use.  Each field
 * has exactly one writer: the domain header and the presence table are
 * ismd's, slot i is peer i's.
 */
#ifndef ISM_LIB_IVCHAN_H
#define ISM_LIB_IVCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IVC_MAGIC      0x31484356494d5349ull /* "ISMIVCH1" */
#define IVC_VERSION    1u
#define IVC_HDR_SIZE   4096u /* the domain header page */
#define IVC_MAX_SLOTS  256u
#define IVC_SLOT_MAGIC 0x544f4c53u /* "SLOT" */
#define IVC_ENTRIES    8u	   /* channel entries per slot */
#define IVC_SLOT_META  4096u	   /* slot header + entries, then areas */
/* The smallest slot: room for a 4K ring each way in every entry. */
#define IVC_MIN_SLOT (IVC_SLOT_META + IVC_ENTRIES * 8192u)
#define IVC_CONS_OFF 0u	  /* in an entry's area: our cons area */
#define IVC_PROD_OFF 128u /* then our prod area */
/* The port on which ismd (control=on) serves the control protocol to
 * guests, one ism peer per channel (docs/vm.md). */
#define IVC_CTL_PORT 0x49534du /* "ISM" */

/* The domain header, at offset 0 (written by ismd before any peer). */
struct ivc_hdr {
	uint64_t magic;
	uint32_t version, nslots;
	uint64_t slot0, slot_size; /* slot i at slot0 + i * slot_size */
	uint32_t pad[8];
	/* @64: presence[nslots]: the serial of the peer holding id i (never
	 * 0), or 0 when nobody does.  ismd stores it (release) before it
	 * rings vector 0 of every other peer. */
	uint32_t presence[];
};
_Static_assert(offsetof(struct ivc_hdr, nslots) == 12, "layout");
_Static_assert(offsetof(struct ivc_hdr, slot0) == 16, "layout");
_Static_assert(offsetof(struct ivc_hdr, slot_size) == 24, "layout");
_Static_assert(offsetof(struct ivc_hdr, presence) == 64, "layout");
_Static_assert(64 + 4 * IVC_MAX_SLOTS <= IVC_HDR_SIZE, "layout");

/* Entry states (written last, release; read first, acquire). */
enum { IVC_FREE = 0, IVC_OFFER = 1, IVC_ACCEPT = 2, IVC_CLOSED = 3 };

/* One channel end in its owner's slot. */
struct ivc_entry {
	uint32_t state, gen;  /* gen: bumped at each reuse, never 0 */
	uint32_t peer;	      /* the other end's id */
	uint32_t peer_serial; /* ... and its presence serial */
	uint32_t port;
	uint32_t ref, ref_gen; /* ACCEPT: the offer's entry index and gen */
	uint32_t data_size;    /* each direction's ring data (power of 2) */
	uint64_t prod_off;     /* domain offsets: our producer area, */
	uint64_t cons_off;     /* our consumer area (of the other's ring) */
	uint32_t pad[4];
};
_Static_assert(sizeof(struct ivc_entry) == 64, "layout");
_Static_assert(offsetof(struct ivc_entry, port) == 16, "layout");
_Static_assert(offsetof(struct ivc_entry, data_size) == 28, "layout");
_Static_assert(offsetof(struct ivc_entry, prod_off) == 32, "layout");
_Static_assert(offsetof(struct ivc_entry, cons_off) == 40, "layout");

/* A slot's header, at its start; the entries follow at 64. */
struct ivc_slot {
	uint32_t magic, version;
	uint32_t serial; /* the owner's presence serial (written last) */
	uint32_t nent;
	uint32_t pad[12];
	struct ivc_entry ent[IVC_ENTRIES];
};
_Static_assert(offsetof(struct ivc_slot, ent) == 64, "layout");
_Static_assert(sizeof(struct ivc_slot) <= IVC_SLOT_META, "layout");

static inline uint32_t ivc_ld32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}
static inline uint64_t ivc_ld64(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline void ivc_st32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE);
}
static inline void ivc_st64(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

/* For a member that never blocks (ismd serving guests, ivsh_guest.c):
 * not in libism's ABI.  ism_ivchan_try_accept: accept one offer on
 * @port if there is one: 1 (in *@out), 0 none, -ENOSPC, -ENOMEM.
 * ism_ivchan_arm: ask the other side to ring us once it sends (@rx) and
 * once it frees @room bytes of our ring (@room > 0): 1 if there is
 * already something to do (data, the end, or room), 0 armed, -errno if
 * the channel failed.  ism_ivchan_disarm undoes it (after a doorbell). */
struct ism_ivdom;
struct ism_ivchan_opts;
struct ism_ivchan;
int ism_ivchan_try_accept(struct ism_ivdom *d, uint32_t port,
			  const struct ism_ivchan_opts *o,
			  struct ism_ivchan **out);
int ism_ivchan_arm(struct ism_ivchan *ch, bool rx, size_t room);
void ism_ivchan_disarm(struct ism_ivchan *ch);

/* The slot size ismd lays out for a domain of @size bytes and @nslots
 * peers, or 0 if the memory is too small for channels. */
static inline uint64_t ivc_slot_size(uint64_t size, uint32_t nslots)
{
	uint64_t s;

	if (!nslots || nslots > IVC_MAX_SLOTS || size <= IVC_HDR_SIZE)
		return 0;
	s = ((size - IVC_HDR_SIZE) / nslots) & ~(uint64_t)4095;
	return s >= IVC_MIN_SLOT ? s : 0;
}

#endif
