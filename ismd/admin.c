/* SPDX-License-Identifier: MIT */
/*
 * admin - status and watch.  The lists are each module's own (peer.c:
 * LIST_PEERS, region.c: LIST_REGIONS and LIST_REFS, stream.c:
 * LIST_STREAMS), with the same rule: administrators see everything; other
 * peers see themselves, the regions they own or reference and the
 * references to those, their stream records and their counterparts -
 * enough to debug their own sharing, nothing about strangers.  Tokens are
 * never listed.
 */
#include "ismd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int op_status(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ism_status st = { 0 };
	uint64_t now = ism_now_ns();

	ism_strlcpy(st.version, ISM_VERSION_STRING, sizeof(st.version));
	memcpy(st.host_id.b, d->host_id, ISM_HOST_ID_SIZE);
	st.pid = (uint32_t)getpid();
	st.epoch = d->epoch;
	st.uptime_ns = now - d->start_ns;
	st.peers = d->peers.n;
	st.regions = d->regions.n;
	st.refs = d->regions.n_refs;
	st.max_peers = d->cfg.max_peers;
	st.bytes_used = acct_total(ACCT_MEM);
	st.max_memory = d->cfg.max_memory;
	st.quota_regions = d->cfg.q_regions;
	st.quota_refs = d->cfg.q_refs;
	st.quota_events = d->cfg.q_events;
	st.quota_bytes = d->cfg.q_bytes;
	st.ops = d->ops;
	st.notifies = d->notifies;
	st.events_coalesced = d->events_coalesced;
	st.events_lost = d->events_lost;
	st.evictions = d->evictions;
	st.recovery_ms_left =
		daemon_recovering(d)
			? (uint32_t)((d->recovery_end_ns - now) / 1000000)
			: 0;
	if (!(p->flags & PEER_ADMIN)) {
		/* Counts of others' activity are not secrets, but a
		 * non-administrator has no use for the pid. */
		st.pid = 0;
	}
	ism_proto_put_status_rep(&rq->out, &st);
	return 0;
}

int op_watch(struct daemon *d, struct peer *p, struct req *rq)
{
	uint32_t mask = *(const uint32_t *)rq->in;

	(void)d;
	if (mask == 0)
		p->flags &= ~PEER_WATCH;
	else
		p->flags |= PEER_WATCH;
	return 0;
}
