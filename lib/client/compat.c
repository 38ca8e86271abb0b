/* SPDX-License-Identifier: MIT */
/*
 * compat - the ISM_0.1 versions of the calls whose name or ABI changed in
 * 0.2, for binaries linked against libism 0.1 (see lib/libism.map).  No
 * header declares them: whatever is built from now on links the ISM_0.2
 * versions, and old binaries keep the meaning they were built for.
 *
 *   0.1                        0.2
 *   ism_chan_close (half)      ism_chan_shutdown
 *   ism_chan_free              ism_chan_close (frees)
 *   ism_ring_tx_close (half)   ism_ring_tx_shutdown
 *   ism_ring_tx_free, _rx_free ism_ring_tx_close, _rx_close
 *   ism_status, ism_watch      ism_admin_status, ism_admin_watch
 *   ism_list_peers, _regions,  ism_admin_list_peers, _regions, _refs,
 *     _refs, _streams            _streams
 *   the calls that fill        the same names; the structs end in a
 *     ism_event, ism_region_info, reserved tail
 *     ism_ivshmem_domain, _peer, _layout
 *
 * A 0.1 struct is its 0.2 struct without the reserved tail (that tail
 * starts where the 0.1 struct ended: lib/client/abi_test.c), so each
 * wrapper fills a 0.2 struct and copies back the part the caller has.
 */
#include "proto/proto.h"
#include "util/util.h"

#include <ism.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the 0.1 struct: everything before the reserved tail. */
#define V01_SIZE(type) offsetof(type, reserved)

#define COMPAT(impl, name) ISM_SYMVER_COMPAT(impl, name, "ISM_0.1")

/* A page of at most @cap entries of @size bytes (@*max lowered to fit). */
static void *page_new(uint32_t *max, uint32_t cap, size_t size)
{
	*max = ISM_MIN(*max, cap);
	return calloc(*max, size);
}

/* After a 0.2 call returned @r: copy its first @r entries from @page
 * (@new_size bytes each) into @out as 0.1 entries (@old_size bytes
 * each), free @page, return @r. */
static int page_narrow(int r, void *out, size_t old_size, void *page,
		       size_t new_size)
{
	for (int i = 0; i < r; i++)
		memcpy((char *)out + (size_t)i * old_size,
		       (const char *)page + (size_t)i * new_size, old_size);
	free(page);
	return r;
}

/* ---- renamed, same meaning or same ABI ---- */

ISM_EXPORT int ism_v01_chan_close(struct ism_chan *ch);
COMPAT(ism_v01_chan_close, ism_chan_close);
int ism_v01_chan_close(struct ism_chan *ch)
{
	return ism_chan_shutdown(ch);
}

ISM_EXPORT void ism_v01_chan_free(struct ism_chan *ch);
COMPAT(ism_v01_chan_free, ism_chan_free);
void ism_v01_chan_free(struct ism_chan *ch)
{
	ism_chan_close(ch);
}

ISM_EXPORT int ism_v01_ring_tx_close(struct ism_ring_tx *tx);
COMPAT(ism_v01_ring_tx_close, ism_ring_tx_close);
int ism_v01_ring_tx_close(struct ism_ring_tx *tx)
{
	return ism_ring_tx_shutdown(tx);
}

ISM_EXPORT void ism_v01_ring_tx_free(struct ism_ring_tx *tx);
COMPAT(ism_v01_ring_tx_free, ism_ring_tx_free);
void ism_v01_ring_tx_free(struct ism_ring_tx *tx)
{
	ism_ring_tx_close(tx);
}

ISM_EXPORT void ism_v01_ring_rx_free(struct ism_ring_rx *rx);
COMPAT(ism_v01_ring_rx_free, ism_ring_rx_free);
void ism_v01_ring_rx_free(struct ism_ring_rx *rx)
{
	ism_ring_rx_close(rx);
}

ISM_EXPORT int ism_v01_watch(struct ism_conn *c);
COMPAT(ism_v01_watch, ism_watch);
int ism_v01_watch(struct ism_conn *c)
{
	return ism_admin_watch(c);
}

/* ---- one struct out ---- */

ISM_EXPORT int ism_v01_status(struct ism_conn *c, struct ism_status *st);
COMPAT(ism_v01_status, ism_status);
int ism_v01_status(struct ism_conn *c, struct ism_status *st)
{
	struct ism_status s;
	int r = ism_admin_status(c, &s);

	if (r >= 0)
		memcpy(st, &s, V01_SIZE(struct ism_status));
	return r;
}

ISM_EXPORT int ism_v01_conn_next_event(struct ism_conn *c,
				       struct ism_event *ev);
COMPAT(ism_v01_conn_next_event, ism_conn_next_event);
int ism_v01_conn_next_event(struct ism_conn *c, struct ism_event *ev)
{
	struct ism_event e;
	int r = ism_conn_next_event(c, &e);

	if (r > 0)
		memcpy(ev, &e, V01_SIZE(struct ism_event));
	return r;
}

ISM_EXPORT int ism_v01_conn_wait_event(struct ism_conn *c, struct ism_event *ev,
				       int timeout_ms);
COMPAT(ism_v01_conn_wait_event, ism_conn_wait_event);
int ism_v01_conn_wait_event(struct ism_conn *c, struct ism_event *ev,
			    int timeout_ms)
{
	struct ism_event e;
	int r = ism_conn_wait_event(c, &e, timeout_ms);

	if (r > 0)
		memcpy(ev, &e, V01_SIZE(struct ism_event));
	return r;
}

ISM_EXPORT int ism_v01_region_info(struct ism_region *r,
				   struct ism_region_info *info);
COMPAT(ism_v01_region_info, ism_region_info);
int ism_v01_region_info(struct ism_region *r, struct ism_region_info *info)
{
	struct ism_region_info i;
	int e = ism_region_info(r, &i);

	if (e >= 0)
		memcpy(info, &i, V01_SIZE(struct ism_region_info));
	return e;
}

ISM_EXPORT int ism_v01_ivshmem_layout(struct ism_ivshmem *m,
				      struct ism_ivshmem_layout *out);
COMPAT(ism_v01_ivshmem_layout, ism_ivshmem_layout);
int ism_v01_ivshmem_layout(struct ism_ivshmem *m,
			   struct ism_ivshmem_layout *out)
{
	struct ism_ivshmem_layout l;
	int e = ism_ivshmem_layout(m, &l);

	if (e >= 0)
		memcpy(out, &l, V01_SIZE(struct ism_ivshmem_layout));
	return e;
}

/* ---- arrays out ---- */

/*
 * Each fills a 0.2 page of at most what one call can fill, then narrows
 * its entries.  Bad arguments go through unchanged, for the 0.2 call to
 * refuse without writing anything.
 */

ISM_EXPORT int ism_v01_list_peers(struct ism_conn *c, uint64_t cursor,
				  struct ism_peer_info *out, uint32_t max,
				  uint64_t *next);
COMPAT(ism_v01_list_peers, ism_list_peers);
int ism_v01_list_peers(struct ism_conn *c, uint64_t cursor,
		       struct ism_peer_info *out, uint32_t max, uint64_t *next)
{
	struct ism_peer_info *p;

	if (!out || !next || max == 0)
		return ism_admin_list_peers(c, cursor, out, max, next);
	if (!(p = page_new(&max, ISM_LIST_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_admin_list_peers(c, cursor, p, max, next), out,
			   V01_SIZE(struct ism_peer_info), p, sizeof(*p));
}

ISM_EXPORT int ism_v01_list_regions(struct ism_conn *c, uint64_t cursor,
				    struct ism_region_entry *out, uint32_t max,
				    uint64_t *next);
COMPAT(ism_v01_list_regions, ism_list_regions);
int ism_v01_list_regions(struct ism_conn *c, uint64_t cursor,
			 struct ism_region_entry *out, uint32_t max,
			 uint64_t *next)
{
	struct ism_region_entry *p;

	if (!out || !next || max == 0)
		return ism_admin_list_regions(c, cursor, out, max, next);
	if (!(p = page_new(&max, ISM_LIST_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_admin_list_regions(c, cursor, p, max, next), out,
			   V01_SIZE(struct ism_region_entry), p, sizeof(*p));
}

ISM_EXPORT int ism_v01_list_refs(struct ism_conn *c, uint64_t region,
				 uint64_t cursor, struct ism_ref_entry *out,
				 uint32_t max, uint64_t *next);
COMPAT(ism_v01_list_refs, ism_list_refs);
int ism_v01_list_refs(struct ism_conn *c, uint64_t region, uint64_t cursor,
		      struct ism_ref_entry *out, uint32_t max, uint64_t *next)
{
	struct ism_ref_entry *p;

	if (!out || !next || max == 0)
		return ism_admin_list_refs(c, region, cursor, out, max, next);
	if (!(p = page_new(&max, ISM_LIST_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_admin_list_refs(c, region, cursor, p, max, next),
			   out, V01_SIZE(struct ism_ref_entry), p, sizeof(*p));
}

ISM_EXPORT int ism_v01_list_streams(struct ism_conn *c, uint64_t cursor,
				    struct ism_stream_info *out, uint32_t max,
				    uint64_t *next);
COMPAT(ism_v01_list_streams, ism_list_streams);
int ism_v01_list_streams(struct ism_conn *c, uint64_t cursor,
			 struct ism_stream_info *out, uint32_t max,
			 uint64_t *next)
{
	struct ism_stream_info *p;

	if (!out || !next || max == 0)
		return ism_admin_list_streams(c, cursor, out, max, next);
	if (!(p = page_new(&max, ISM_LIST_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_admin_list_streams(c, cursor, p, max, next), out,
			   V01_SIZE(struct ism_stream_info), p, sizeof(*p));
}

ISM_EXPORT int ism_v01_ivshmem_list(struct ism_conn *c,
				    struct ism_ivshmem_domain *out,
				    uint32_t max);
COMPAT(ism_v01_ivshmem_list, ism_ivshmem_list);
int ism_v01_ivshmem_list(struct ism_conn *c, struct ism_ivshmem_domain *out,
			 uint32_t max)
{
	struct ism_ivshmem_domain *p;

	if (!out || max == 0)
		return ism_ivshmem_list(c, out, max);
	if (!(p = page_new(&max, ISM_IVSH_DOMAINS_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_ivshmem_list(c, p, max), out,
			   V01_SIZE(struct ism_ivshmem_domain), p, sizeof(*p));
}

ISM_EXPORT int ism_v01_ivshmem_peers(struct ism_conn *c, uint32_t domain,
				     struct ism_ivshmem_peer *out,
				     uint32_t max);
COMPAT(ism_v01_ivshmem_peers, ism_ivshmem_peers);
int ism_v01_ivshmem_peers(struct ism_conn *c, uint32_t domain,
			  struct ism_ivshmem_peer *out, uint32_t max)
{
	struct ism_ivshmem_peer *p;

	if (!out || max == 0)
		return ism_ivshmem_peers(c, domain, out, max);
	if (!(p = page_new(&max, ISM_IVSH_PEERS_MAX, sizeof(*p))))
		return -ENOMEM;
	return page_narrow(ism_ivshmem_peers(c, domain, p, max), out,
			   V01_SIZE(struct ism_ivshmem_peer), p, sizeof(*p));
}
