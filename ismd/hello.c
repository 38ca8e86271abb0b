/* SPDX-License-Identifier: MIT */
/*
 * hello - the handshake: version, the doorbell eventfd, the peer id, and
 * resumption of a peer id issued by an earlier ismd.
 */
#include "ismd.h"
#include "xns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The doorbell must be an eventfd: ismd writes 8-byte counts to it and
 * nothing else may stand in (a pipe or a file would change what a write
 * does).  Anonymous inodes name their kind in /proc. */
static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static bool may_resume(struct daemon *d, const struct ism_hello_req *req)
{
	uint8_t proof[ISM_PROOF_SIZE];

	/* Only ids of an earlier ismd, only while it is being replaced, and
	 * only with ismd's own proof: a peer dropped by this ismd starts
	 * afresh, and nobody can take over another peer's identity. */
	if ((req->resume_id >> 32) >= d->epoch || !daemon_recovering(d))
		return false;
	ismd_proof_peer(d, req->resume_id, proof);
	if (!ism_ct_equal(proof, req->resume_proof, ISM_PROOF_SIZE))
		return false;
	return ism_map_get(&d->peers.by_id, req->resume_id, 0) == NULL;
}

int op_hello(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_hello_req *req = rq->in;
	struct ism_hello_rep rep = { 0 };
	int *fds = rq->fds;
	unsigned want;
	uint64_t left;
	int r;

	if (p->refuse) {
		rq->kill_after = p->refuse == EUSERS ? "too many peers"
						     : "refused by policy";
		return -p->refuse;
	}
	if (req->min_version > ISM_PROTO_VERSION ||
	    req->max_version < ISM_PROTO_VERSION) {
		rq->kill_after = "no common protocol version";
		return -EPROTONOSUPPORT;
	}
	want = (req->flags & ISM_HELLO_F_DOORBELL) ? 1 : 0;
	if (rq->nfds != want)
		return -EBADMSG;
	if (want) {
		if (!is_eventfd(fds[0])) {
			ismd_plog(p, L_WARN, "doorbell is not an eventfd");
			return -EBADMSG;
		}
		/* The peer shares this open file description and may clear
		 * O_NONBLOCK again: the ringer checks before each write. */
		ism_set_nonblock(fds[0]);
		p->doorbell =
			doorbell_new(fds[0], true, peer_doorbell_failed, p);
		fds[0] = -1; /* taken (still charged to this uid) */
		if (!p->doorbell) {
			acct_uncharge(p->acct, ACCT_FDS, 1);
			return -ENOMEM;
		}
	}
	if ((req->flags & ISM_HELLO_F_RESUME) && may_resume(d, req)) {
		p->id = req->resume_id;
		p->flags |= PEER_RESUMED;
	} else {
		if (d->peers.next_id >= UINT32_MAX)
			return -ENOSPC;
		p->id = (uint64_t)d->epoch << 32 | ++d->peers.next_id;
	}
	if ((r = ism_map_put(&d->peers.by_id, p->id, 0, p)) < 0) {
		p->id = 0;
		return r;
	}
	peer_index(d, p);
	p->flags |= PEER_HELLO;
	if (peer_is_admin(d, p))
		p->flags |= PEER_ADMIN;
	ism_strlcpy(p->name, req->name, sizeof(p->name));
	p->caps = req->caps & ISM_CAPS_KNOWN;

	rep.version = ISM_PROTO_VERSION;
	rep.caps = xns_capable() ? ISM_CAP_XNS : 0;
	rep.flags = (p->flags & PEER_ADMIN ? ISM_HELLO_R_ADMIN : 0) |
		    (p->flags & PEER_RESUMED ? ISM_HELLO_R_RESUMED : 0) |
		    (daemon_recovering(d) ? ISM_HELLO_R_RECOVERING : 0);
	rep.max_msg = ISM_WIRE_MAX_MSG;
	rep.peer_id = p->id;
	memcpy(rep.host_id, d->host_id, ISM_HOST_ID_SIZE);
	ismd_proof_peer(d, p->id, rep.resume_proof);
	rep.max_rw = ISM_RW_MAX;
	rep.q_regions = d->cfg.q_regions;
	rep.q_refs = d->cfg.q_refs;
	rep.q_events = d->cfg.q_events;
	rep.q_bytes = d->cfg.q_bytes;
	left = daemon_recovering(d)
		       ? (d->recovery_end_ns - ism_now_ns()) / 1000000
		       : 0;
	rep.recovery_ms = (uint32_t)ISM_MIN(left, (uint64_t)UINT32_MAX);
	ism_proto_put_hello_rep(&rq->out, &rep);
	ismd_alog(p->acct, L_INFO,
		  "peer %llx: pid %d uid %d gid %d name \"%s\"%s%s",
		  (unsigned long long)p->id, (int)p->pid, (int)p->uid,
		  (int)p->gid, p->name, p->flags & PEER_ADMIN ? " admin" : "",
		  p->flags & PEER_RESUMED ? " (resumed)" : "");
	peer_watch(d, ISM_WATCH_PEER_UP, 0, p, NULL);
	return 0;
}
