/* SPDX-License-Identifier: MIT */
/*
 * recovery - taking over the regions of an earlier ismd (docs/protocol.md
 * section 7): REGISTER of owned regions, REATTACH of references, and the
 * references waiting for their region's owner to come back.
 *
 * A register proves ownership with ismd's keyed proof over (region, owner,
 * size, token, inode); the memfd must be one ismd made (its seals, owner,
 * mode).  Waiting references are indexed by region id, so each REGISTER
 * finds its own in O(1), however many strangers parked theirs.
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Waiting references in all (each peer also within its attachment
 * quota, each uid within its share of ismd's memory). */
#define PENDING_MAX  (1u << 20)
#define PENDING_COST (sizeof(struct pending) + 64u)
/* Waiting references expired per housekeeping tick (4 s for a million). */
#define EXPIRE_BATCH 65536u

static int validate_memfd(struct daemon *d, int fd,
			  const struct ism_register_ent *e, struct stat *st,
			  uint32_t *page_size)
{
	struct statfs sf;
	int seals, fl;
	bool huge;

	/* Seals first: F_GET_SEALS answers only for shmem and hugetlbfs
	 * files and fails at once for any other, without calling into its
	 * file system; only then may fstat/fstatfs run (on a FUSE file they
	 * could wait for good). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & ismd_memfd_seals()) != ismd_memfd_seals())
		return EBADF;
	if (fstat(fd, st) < 0 || fstatfs(fd, &sf) < 0)
		return EBADF;
	fl = fcntl(fd, F_GETFL);
	/* Only a memfd ismd made has these seals, this owner and mode. */
	if (!S_ISREG(st->st_mode) || fl < 0 || (fl & O_ACCMODE) != O_RDWR)
		return EBADF;
	if (st->st_uid != geteuid() || (st->st_mode & 077))
		return EPERM;
	if (st->st_size < 0 || (uint64_t)st->st_size != e->size)
		return EINVAL;
	huge = sf.f_type == HUGETLBFS_MAGIC;
	if (huge != !!(e->flags & ISM_RFLAG_HUGE))
		return EINVAL;
	*page_size = huge ? (uint32_t)sf.f_bsize : d->page_size;
	if (*page_size == 0 || e->size % *page_size)
		return EINVAL;
	return 0;
}

static struct pending_group *group_get(struct daemon *d, uint64_t region)
{
	struct pending_group *g = ism_map_get(&d->regions.pending, region, 0);

	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g || ism_map_put(&d->regions.pending, region, 0, g)) {
		free(g);
		return NULL;
	}
	g->region = region;
	ism_list_init(&g->pending);
	ism_list_add_tail(&d->regions.groups, &g->link);
	return g;
}

static void group_drop(struct daemon *d, struct pending_group *g)
{
	ism_map_del(&d->regions.pending, g->region, 0);
	ism_list_del(&g->link);
	free(g);
}

static void pending_del(struct daemon *d, struct pending *q,
			struct pending_group *g)
{
	ism_list_del(&q->peer_link);
	ism_list_del(&q->region_link);
	d->regions.n_pending--;
	q->peer->n_pending--;
	acct_uncharge(q->peer->acct, ACCT_HEAP, PENDING_COST);
	free(q);
	if (g && ism_list_empty(&g->pending))
		group_drop(d, g);
}

/* The group of @q (looked up: groups are few per peer). */
static struct pending_group *group_of(struct daemon *d, struct pending *q)
{
	return ism_map_get(&d->regions.pending, q->region, 0);
}

void recovery_region_added(struct daemon *d, struct region *r)
{
	struct pending_group *g = ism_map_get(&d->regions.pending, r->id, 0);
	struct ism_list *pos, *tmp;

	if (!g)
		return;
	ism_map_del(&d->regions.pending, r->id, 0);
	ism_list_del(&g->link);
	ism_list_for_each_safe (pos, tmp, &g->pending) {
		struct pending *q =
			ism_container_of(pos, struct pending, region_link);
		struct peer *p = q->peer;
		uint32_t access = q->access, flags = q->flags;
		bool ok, match = ism_ct_equal(q->token, r->token,
					      ISM_TOKEN_SIZE);

		pending_del(d, q, NULL);
		ok = !(p->flags & PEER_DEAD) && match &&
		     region_may_attach(r, p, access) == 0 &&
		     !region_find_ref(d, p, r->id) &&
		     p->n_refs < d->cfg.q_refs &&
		     region_ref_add(d, p, r, access,
				    (flags & ISM_ATTACH_NOFD) ? REF_NOFD : 0);
		if (ok)
			region_tell_attached(d, r, p, access);
		else if (!(p->flags & PEER_DEAD))
			peer_event_gone(d, p, r->id, ISM_GONE_LOST);
	}
	free(g);
}

static uint32_t register_one(struct daemon *d, struct peer *p,
			     const struct ism_register_ent *e, int fd)
{
	uint8_t proof[ISM_PROOF_SIZE];
	struct newmem m = { 0 };
	struct region *r;
	struct stat st;
	uint32_t ps;
	int err;

	if ((e->region >> 32) >= d->epoch)
		return EINVAL; /* only an earlier ismd's regions */
	if (ism_map_get(&d->regions.by_id, e->region, 0) ||
	    region_token_used(d, e->token))
		return EEXIST;
	if (ismd_revoked(d, e->region))
		return EACCES;
	if ((err = validate_memfd(d, fd, e, &st, &ps)) != 0)
		return (uint32_t)err;
	ismd_proof_owner(d, e->region, p->id, e->size, (uint64_t)st.st_ino,
			 e->token, proof);
	if (!ism_ct_equal(proof, e->proof, ISM_PROOF_SIZE))
		return EACCES;
	if ((err = region_charge(d, p, e->size)) < 0)
		return (uint32_t)-err;
	m.fd = ismd_reopen(fd, O_RDWR);
	if (m.fd < 0) {
		region_uncharge(p->acct, e->size);
		return (uint32_t)-m.fd;
	}
	m.size = e->size;
	m.page_size = ps;
	m.huge = e->flags & ISM_RFLAG_HUGE;
	r = region_insert(d, p, e->region, &m, e->token, e->max_access, &e->acl,
			  e->name);
	if (!r) {
		close(m.fd); /* a reopen of a memfd checked above */
		region_uncharge(p->acct, e->size);
		return ENOMEM;
	}
	r->linger = e->flags & ISM_RFLAG_LINGER;
	ismd_plog(p, L_INFO, "region %llx re-registered",
		  (unsigned long long)r->id);
	peer_watch(d, ISM_WATCH_REGION_NEW, 0, p, r);
	recovery_region_added(d, r);
	return 0;
}

int op_register(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_register_req *req = rq->in;
	struct ism_batch_rep rep = { 0 };

	if (rq->nfds != req->n)
		return -EBADMSG;
	if (!(p->flags & PEER_RESUMED) || !daemon_recovering(d))
		return -EPERM; /* the fds are closed by the dispatcher */
	rep.n = req->n;
	for (uint32_t i = 0; i < req->n; i++)
		rep.status[i] = register_one(d, p, &req->ent[i], rq->fds[i]);
	ism_proto_put_batch_rep(&rq->out, &rep);
	return 0;
}

static uint32_t reattach_one(struct daemon *d, struct peer *p,
			     const struct ism_reattach_ent *e)
{
	struct region *r = ism_map_get(&d->regions.by_id, e->region, 0);
	struct pending_group *g;
	struct pending *q;

	if (r) {
		if (r->state != REGION_LIVE ||
		    !ism_ct_equal(r->token, e->token, ISM_TOKEN_SIZE))
			return ENOENT;
		if (region_find_ref(d, p, r->id))
			return EALREADY;
		if (region_may_attach(r, p, e->access) < 0)
			return EACCES;
		if (p->n_refs >= d->cfg.q_refs)
			return EDQUOT;
		if (!region_ref_add(d, p, r, e->access,
				    (e->flags & ISM_ATTACH_NOFD) ? REF_NOFD
								 : 0))
			return acct_over(p->acct, ACCT_HEAP) ? EDQUOT : ENOMEM;
		region_tell_attached(d, r, p, e->access);
		return 0;
	}
	if ((e->region >> 32) >= d->epoch || ismd_revoked(d, e->region))
		return ENOENT;
	if (d->regions.n_pending >= PENDING_MAX ||
	    p->n_refs + p->n_pending >= d->cfg.q_refs)
		return EDQUOT;
	if (acct_charge(p->acct, ACCT_HEAP, PENDING_COST) < 0)
		return EDQUOT;
	g = group_get(d, e->region);
	q = g ? calloc(1, sizeof(*q)) : NULL;
	if (!q) {
		acct_uncharge(p->acct, ACCT_HEAP, PENDING_COST);
		if (g && ism_list_empty(&g->pending))
			group_drop(d, g);
		return ENOMEM;
	}
	q->peer = p;
	q->region = e->region;
	memcpy(q->token, e->token, ISM_TOKEN_SIZE);
	q->access = e->access;
	q->flags = e->flags;
	ism_list_add_tail(&p->pending, &q->peer_link);
	ism_list_add_tail(&g->pending, &q->region_link);
	d->regions.n_pending++;
	p->n_pending++;
	return EINPROGRESS; /* held until the owner re-registers */
}

int op_reattach(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_reattach_req *req = rq->in;
	struct ism_batch_rep rep = { 0 };

	if (!(p->flags & PEER_RESUMED) || !daemon_recovering(d))
		return -EPERM;
	rep.n = req->n;
	for (uint32_t i = 0; i < req->n; i++)
		rep.status[i] = reattach_one(d, p, &req->ent[i]);
	ism_proto_put_batch_rep(&rq->out, &rep);
	return 0;
}

void recovery_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &p->pending) {
		struct pending *q =
			ism_container_of(pos, struct pending, peer_link);

		pending_del(d, q, group_of(d, q));
	}
}

/* Expire up to @budget waiting references; true when none are left. */
static bool recovery_expire(struct daemon *d, uint32_t budget)
{
	while (budget && !ism_list_empty(&d->regions.groups)) {
		struct pending_group *g = ism_container_of(
			d->regions.groups.next, struct pending_group, link);

		while (budget && !ism_list_empty(&g->pending)) {
			struct pending *q = ism_container_of(
				g->pending.next, struct pending, region_link);
			struct peer *p = q->peer;
			uint64_t region = q->region;

			pending_del(d, q, NULL);
			budget--;
			if (!(p->flags & PEER_DEAD) && !d->stopping)
				peer_event_gone(d, p, region, ISM_GONE_LOST);
		}
		if (ism_list_empty(&g->pending))
			group_drop(d, g);
	}
	return ism_list_empty(&d->regions.groups);
}

void pending_expire_all(struct daemon *d)
{
	while (!recovery_expire(d, UINT32_MAX))
		;
}

void recovery_tick(struct daemon *d, uint64_t now)
{
	if (d->recovery_end_ns && now >= d->recovery_end_ns) {
		d->recovery_end_ns = 0;
		if (d->regions.n_pending)
			ismd_log(L_INFO,
				 "recovery window over: %u references to "
				 "regions nobody re-registered are lost",
				 d->regions.n_pending);
	}
	if (!d->recovery_end_ns && d->regions.n_pending)
		recovery_expire(d, EXPIRE_BATCH);
}
