/* SPDX-License-Identifier: MIT */
/*
 * region - regions and references: alloc, attach, detach, destroy,
 * notify, and read/write through ismd.  Recovery after a restart is in
 * recovery.c.
 *
 * A region is a memfd made by memfd.c (mode 0600, sealed).  ismd keeps
 * one private fd; every fd it hands out is a fresh open of the memfd
 * (O_RDONLY or O_RDWR), so no peer shares an open file description with
 * ismd or with another peer.
 *
 * Ending a region punches out all its pages (on a worker: its length is
 * the peer's choice), then tells the referrers: memory returns to the host
 * immediately, and a stale mapping reads zeros from then on, never another
 * region's data (docs/security.md).  A lingering region (ISM_ALLOC_LINGER)
 * whose owner destroys it or leaves while others still map it becomes an
 * orphan instead: no token, no owner, its pages kept for those readers
 * and still charged to the owner's uid, until the last of them detaches
 * or leaves; then it ends like any other.
 *
 * Populating (ISM_ALLOC_POPULATE) runs on a worker too; the peer's other
 * requests wait for its reply (peer.c).
 */
#include "ismd.h"
#include "page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* Charged to the uid per record, besides the struct: the map slots and
 * allocator overhead, roughly. */
#define RECORD_OVERHEAD 64u
#define REGION_COST	(sizeof(struct region) + RECORD_OVERHEAD)
#define REF_COST	(sizeof(struct ref) + 2 * RECORD_OVERHEAD)

static uint64_t tok_a(const uint8_t *t)
{
	uint64_t v;

	memcpy(&v, t, 8);
	return v;
}

static uint64_t tok_b(const uint8_t *t)
{
	uint64_t v;

	memcpy(&v, t + 8, 8);
	return v;
}

void region_init(struct daemon *d)
{
	ism_list_init(&d->regions.ordered);
	ism_map_init(&d->regions.by_id);
	ism_map_init(&d->regions.by_token);
	ism_map_init(&d->regions.refs);
	ism_map_init(&d->regions.pending);
	ism_list_init(&d->regions.groups);
}

struct ref *region_find_ref(struct daemon *d, struct peer *p, uint64_t region)
{
	return ism_map_get(&d->regions.refs, p->id, region);
}

/* A reference to a live region (orphans only answer DETACH). */
static struct ref *live_ref(struct daemon *d, struct peer *p, uint64_t region)
{
	struct ref *f = region_find_ref(d, p, region);

	return f && f->region->state == REGION_LIVE ? f : NULL;
}

static bool is_mapper(const struct ref *f)
{
	return !(f->flags & (REF_OWNER | REF_NOFD));
}

struct ref *region_ref_add(struct daemon *d, struct peer *p, struct region *r,
			   uint32_t access, uint32_t flags)
{
	struct ref *f;

	if (!(flags & REF_OWNER) &&
	    acct_charge(p->acct, ACCT_HEAP, REF_COST) < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto fail;
	if (ism_map_put(&d->regions.refs, p->id, r->id, f) < 0) {
		free(f);
		goto fail;
	}
	f->peer = p;
	f->peer_id = p->id;
	f->region = r;
	f->access = access;
	f->flags = flags;
	ism_list_add_tail(&p->refs, &f->peer_link);
	ism_list_add_tail(&r->refs, &f->region_link);
	r->nrefs++;
	d->regions.n_refs++;
	if (!(flags & REF_OWNER))
		p->n_refs++;
	if (is_mapper(f))
		r->n_mappers++;
	return f;
fail:
	if (!(flags & REF_OWNER))
		acct_uncharge(p->acct, ACCT_HEAP, REF_COST);
	return NULL;
}

static void region_end(struct daemon *d, struct region *r, uint32_t reason,
		       struct peer *except, struct peer *replyto, uint32_t seq);

static void ref_del(struct daemon *d, struct ref *f)
{
	struct region *r = f->region;
	struct peer *p = f->peer;

	ism_map_del(&d->regions.refs, f->peer_id, r->id);
	ism_list_del(&f->peer_link);
	ism_list_del(&f->region_link);
	r->nrefs--;
	d->regions.n_refs--;
	if (is_mapper(f))
		r->n_mappers--;
	if (!(f->flags & REF_OWNER)) {
		p->n_refs--;
		acct_uncharge(p->acct, ACCT_HEAP, REF_COST);
	}
	free(f);
	/* The last reader of an orphan let go: its pages can go now. */
	if (r->state == REGION_ORPHAN && r->n_mappers == 0)
		region_end(d, r, ISM_GONE_DESTROYED, NULL, NULL, 0);
}

static bool acl_allows(const struct region *r, const struct peer *p)
{
	bool ok;

	if (r->acl.n_peers) {
		ok = false;
		for (uint32_t i = 0; i < r->acl.n_peers && !ok; i++)
			ok = r->acl.peers[i] == p->id;
		if (!ok)
			return false;
	}
	if (r->acl.n_uids) {
		ok = false;
		for (uint32_t i = 0; i < r->acl.n_uids && !ok; i++)
			ok = r->acl.uids[i] == (uint32_t)p->uid;
		if (!ok)
			return false;
	}
	return true;
}

int region_may_attach(const struct region *r, const struct peer *p,
		      uint32_t access)
{
	if (access == ISM_ACCESS_RW && r->max_access != ISM_ACCESS_RW)
		return -EACCES;
	return acl_allows(r, p) ? 0 : -EACCES;
}

void region_tell_attached(struct daemon *d, struct region *r, struct peer *who,
			  uint32_t access)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &r->refs) {
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		if (f->peer != who)
			peer_event_attached(d, f->peer, r->id, who->id, access);
	}
}

static void tell_others_detached(struct daemon *d, struct region *r,
				 struct peer *who, uint32_t reason)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &r->refs) {
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		if (f->peer != who)
			peer_event_detached(d, f->peer, r->id, who->id, reason);
	}
}

/* ---- creation ---- */

static int make_memfd(struct daemon *d, uint64_t id, uint64_t want,
		      uint32_t flags, struct newmem *m)
{
	char name[32];
	int fd = -1;

	snprintf(name, sizeof(name), "ism:%llx", (unsigned long long)id);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (flags & ISM_ALLOC_HUGETLB) {
		uint64_t size;

		if (!d->huge_page_size) {
			m->huge_errno = EOPNOTSUPP;
		} else if (!ism_round_up(want, d->huge_page_size, &size)) {
			return -EINVAL;
		} else if ((fd = ismd_memfd_new(name, size,
						d->huge_page_size)) < 0) {
			m->huge_errno = -fd;
		} else {
			m->size = size;
			m->page_size = d->huge_page_size;
			m->huge = true;
		}
		if (fd < 0 && (flags & ISM_ALLOC_HUGETLB_REQUIRED))
			return -(m->huge_errno ? m->huge_errno : ENOMEM);
	}
	if (fd < 0) {
		if (!ism_round_up(want, d->page_size, &m->size))
			return -EINVAL;
		m->page_size = d->page_size;
		fd = ismd_memfd_new(name, m->size, 0);
		if (fd < 0)
			return fd;
	}
	m->fd = fd;
	return 0;
}

int region_charge(struct daemon *d, struct peer *p, uint64_t size)
{
	int e;

	if (p->n_regions >= d->cfg.q_regions || p->bytes > d->cfg.q_bytes ||
	    size > d->cfg.q_bytes - p->bytes)
		return -EDQUOT;
	if ((e = acct_charge(p->acct, ACCT_MEM, size)) < 0)
		return e;
	if ((e = acct_charge(p->acct, ACCT_FDS, 1)) < 0) {
		acct_uncharge(p->acct, ACCT_MEM, size);
		return e;
	}
	if ((e = acct_charge(p->acct, ACCT_HEAP, REGION_COST)) < 0) {
		acct_uncharge(p->acct, ACCT_FDS, 1);
		acct_uncharge(p->acct, ACCT_MEM, size);
		return e;
	}
	return 0;
}

void region_uncharge(struct acct *a, uint64_t size)
{
	acct_uncharge(a, ACCT_HEAP, REGION_COST);
	acct_uncharge(a, ACCT_FDS, 1);
	acct_uncharge(a, ACCT_MEM, size);
}

/* Keep d->regions.ordered in id order (new ids come last; re-registered ones
 * of an earlier epoch walk back). */
static void index_region(struct daemon *d, struct region *r)
{
	struct ism_list *pos = d->regions.ordered.prev;

	while (pos != &d->regions.ordered &&
	       ism_container_of(pos, struct region, all_link)->id > r->id)
		pos = pos->prev;
	r->all_link.prev = pos;
	r->all_link.next = pos->next;
	pos->next->prev = &r->all_link;
	pos->next = &r->all_link;
}

struct region *region_insert(struct daemon *d, struct peer *owner, uint64_t id,
			     const struct newmem *m, const uint8_t *token,
			     uint32_t max_access, const struct ism_acl *acl,
			     const char *name)
{
	struct region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->id = id;
	r->owner = owner;
	r->owner_id = owner->id;
	r->acct = acct_ref(owner->acct);
	r->state = REGION_LIVE;
	r->size = m->size;
	r->page_size = m->page_size;
	r->huge = m->huge;
	r->fd = m->fd;
	r->link_fd = -1;
	r->max_access = max_access;
	r->acl = *acl;
	r->created_ns = ism_now_ns();
	memcpy(r->token, token, ISM_TOKEN_SIZE);
	ism_strlcpy(r->name, name, sizeof(r->name));
	ism_list_init(&r->refs);
	if (ism_map_put(&d->regions.by_id, id, 0, r) < 0)
		goto fail;
	if (ism_map_put(&d->regions.by_token, tok_a(token), tok_b(token), r) <
	    0)
		goto fail_id;
	if (!region_ref_add(d, owner, r, ISM_ACCESS_RW, REF_OWNER))
		goto fail_tok;
	index_region(d, r);
	owner->n_regions++;
	owner->bytes += r->size;
	d->regions.n++;
	return r;
fail_tok:
	ism_map_del(&d->regions.by_token, tok_a(token), tok_b(token));
fail_id:
	ism_map_del(&d->regions.by_id, id, 0);
fail:
	acct_put(r->acct);
	free(r);
	return NULL;
}

/* A link must be a connected AF_UNIX SOCK_SEQPACKET socket: attachers
 * only ever send and receive with MSG_DONTWAIT on it.  Only socket calls:
 * getsockopt on anything else fails at once, without touching its file. */
static bool is_link_socket(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(int);
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return false;
	return domain == AF_UNIX && type == SOCK_SEQPACKET &&
	       getpeername(fd, (struct sockaddr *)&peer, &plen) == 0;
}

/* ALLOC, after the memory is ready (populated or not). */
struct alloc_ctx {
	struct job job;
	struct daemon *d;
	struct peer *p;
	uint32_t seq;
	uint64_t id;
	struct ism_alloc_req req;
	struct newmem m;
	int link_fd;
	int err;
};

static void alloc_fail(struct alloc_ctx *a)
{
	region_uncharge(a->p->acct, a->m.size);
	close(a->m.fd); /* our own memfd: nothing of it can wait */
	closer_put(a->link_fd, a->p->acct);
}

/* Make the region and write ALLOC's reply into @b; *@ofd gets the
 * owner's fd of it (a fresh reopen, the caller's to close once sent). */
static int alloc_finish(struct alloc_ctx *a, struct ism_wbuf *b, int *ofd_out)
{
	struct daemon *d = a->d;
	struct peer *p = a->p;
	struct ism_alloc_rep rep = { 0 };
	uint8_t token[ISM_TOKEN_SIZE];
	struct region *r;
	struct stat st;
	int e, ofd;

	do {
		if ((e = ism_random(token, sizeof(token))) < 0)
			goto fail;
	} while (ism_map_get(&d->regions.by_token, tok_a(token), tok_b(token)));
	/* Our own memfd: fstat cannot wait. */
	if (fstat(a->m.fd, &st) < 0) {
		e = -errno;
		goto fail;
	}
	ofd = ismd_reopen(a->m.fd, O_RDWR);
	if (ofd < 0) {
		e = ofd;
		goto fail;
	}
	r = region_insert(d, p, a->id, &a->m, token, a->req.max_access,
			  &a->req.acl, a->req.name);
	if (!r) {
		close(ofd);
		e = -ENOMEM;
		goto fail;
	}
	r->linger = a->req.flags & ISM_ALLOC_LINGER;
	r->link_fd = a->link_fd; /* until the first attacher */
	rep.region = a->id;
	rep.size = a->m.size;
	rep.page_size = a->m.page_size;
	rep.flags = (a->m.huge ? ISM_RFLAG_HUGE : 0) |
		    (r->linger ? ISM_RFLAG_LINGER : 0);
	rep.huge_errno = (uint32_t)a->m.huge_errno;
	rep.max_access = a->req.max_access;
	memcpy(rep.token, token, ISM_TOKEN_SIZE);
	ismd_proof_owner(d, a->id, p->id, a->m.size, (uint64_t)st.st_ino, token,
			 rep.proof);
	ism_proto_put_alloc_rep(b, &rep);
	*ofd_out = ofd;
	ismd_plog(p, L_DEBUG, "region %llx: %llu bytes%s",
		  (unsigned long long)a->id, (unsigned long long)a->m.size,
		  a->m.huge ? " (huge pages)" : "");
	peer_watch(d, ISM_WATCH_REGION_NEW, 0, p, r);
	return 0;
fail:
	alloc_fail(a);
	return e;
}

static void populate_run(struct job *j)
{
	struct alloc_ctx *a = (struct alloc_ctx *)j;

	/* Our own memfd; as long as the size asked, hence off the loop. */
	if (fallocate(a->m.fd, 0, 0, (off_t)a->m.size) < 0)
		a->err = errno == ENOSPC ? -ENOMEM : -errno;
}

static void populate_done(struct job *j)
{
	struct alloc_ctx *a = (struct alloc_ctx *)j;
	struct daemon *d = a->d;
	struct peer *p = a->p;
	int e = a->err;

	p->jobs--;
	if (j->cut && !e)
		e = -EINTR; /* shutting down */
	if (e == 0 && (p->flags & PEER_DEAD))
		e = -ECONNRESET;
	if (e < 0) {
		alloc_fail(a);
	} else {
		struct ism_wbuf b;
		int ofd = -1;

		req_begin_later(d, &b, ISM_MSG_ALLOC, a->seq);
		if ((e = alloc_finish(a, &b, &ofd)) == 0) {
			req_send_later(d, p, &b, &ofd, 1);
			close(ofd); /* a reopen of our memfd */
		}
	}
	if (e < 0 && !(p->flags & PEER_DEAD)) {
		ismd_plog(p, L_INFO, "alloc of %llu bytes failed: %s",
			  (unsigned long long)a->req.size, strerror(-e));
		peer_send_error(d, p, ISM_MSG_ALLOC, a->seq, e);
	}
	peer_async_done(d, p);
	free(a);
}

int op_alloc(struct daemon *d, struct peer *p, struct req *rq)
{
	struct alloc_ctx *a;
	uint64_t rounded;
	int e, ofd = -1;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	a->p = p;
	a->seq = rq->hdr.seq;
	a->link_fd = -1;
	a->m.fd = -1;
	a->req = *(const struct ism_alloc_req *)rq->in;
	e = -EBADMSG;
	if (rq->nfds != ((a->req.flags & ISM_ALLOC_LINK) ? 1u : 0u) ||
	    (rq->nfds && !is_link_socket(rq->fds[0])))
		goto out;
	/* Check quotas on the smallest size this could become before any
	 * memory exists, then charge the real size. */
	e = -EINVAL;
	if (!ism_round_up(a->req.size, d->page_size, &rounded))
		goto out;
	e = -EDQUOT;
	if (p->n_regions >= d->cfg.q_regions || rounded > d->cfg.q_bytes ||
	    p->bytes > d->cfg.q_bytes - rounded)
		goto out;
	e = -ENOSPC;
	if (d->regions.next_id >= UINT32_MAX)
		goto out;
	a->id = (uint64_t)d->epoch << 32 | (d->regions.next_id + 1);
	if ((e = make_memfd(d, a->id, a->req.size, a->req.flags, &a->m)) < 0) {
		ismd_plog(p, L_INFO, "alloc of %llu bytes failed: %s",
			  (unsigned long long)a->req.size, strerror(-e));
		goto out;
	}
	if ((e = region_charge(d, p, a->m.size)) < 0) {
		close(a->m.fd);
		if (e != -EDQUOT)
			d->budget_refusals++;
		goto out;
	}
	d->regions.next_id++;
	if (rq->nfds) {
		/* Ours now (still charged to this uid), until the first
		 * attacher takes it. */
		a->link_fd = rq->fds[0];
		rq->fds[0] = -1;
	}
	if (a->req.flags & ISM_ALLOC_POPULATE) {
		a->job.run = populate_run;
		a->job.done = populate_done;
		a->job.uid = p->uid;
		p->jobs++;
		worker_submit(&a->job);
		return ISMD_ASYNC;
	}
	if ((e = alloc_finish(a, &rq->out, &ofd)) == 0)
		req_add_fd(rq, ofd, REQ_FD_OURS);
out:
	free(a);
	return e;
}

/* ---- attach / detach ---- */

struct region *region_by_token(struct daemon *d, const uint8_t *token)
{
	struct region *r =
		ism_map_get(&d->regions.by_token, tok_a(token), tok_b(token));

	/* The map keys are the token's bytes; compare all of them anyway,
	 * in constant time. */
	if (r && !ism_ct_equal(r->token, token, ISM_TOKEN_SIZE))
		return NULL;
	return r && r->state == REGION_LIVE ? r : NULL;
}

bool region_token_used(struct daemon *d, const uint8_t *token)
{
	return ism_map_get(&d->regions.by_token, tok_a(token), tok_b(token)) !=
	       NULL;
}

int op_attach(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_attach_req *req = rq->in;
	struct ism_attach_rep rep = { 0 };
	struct region *r;
	bool nofd = req->flags & ISM_ATTACH_NOFD;
	int e, fd = -1, link = -1;

	r = region_by_token(d, req->token);
	if (!r) {
		/* Wrong guesses and stale tokens look the same. */
		p->failed_attaches++;
		ismd_plog(p, L_INFO, "attach: unknown token (%llu failures)",
			  (unsigned long long)p->failed_attaches);
		return -ENOENT;
	}
	if ((e = region_may_attach(r, p, req->access)) < 0)
		return e;
	if (region_find_ref(d, p, r->id))
		return -EALREADY;
	if (p->n_refs >= d->cfg.q_refs)
		return -EDQUOT;
	if (!nofd) {
		fd = ismd_reopen(r->fd, req->access == ISM_ACCESS_RW
						? O_RDWR
						: O_RDONLY);
		if (fd < 0)
			return fd;
	}
	if (!region_ref_add(d, p, r, req->access, nofd ? REF_NOFD : 0)) {
		ism_close_fd(&fd);
		return acct_over(p->acct, ACCT_HEAP) ? -EDQUOT : -ENOMEM;
	}
	if (!nofd) {
		req_add_fd(rq, fd, REQ_FD_OURS);
		/* The first attacher with fds takes the owner's link along.
		 * It is the owner's socket: whatever it queued in it is
		 * released by the last close, which must not be ours. */
		if (r->link_fd >= 0) {
			link = r->link_fd;
			r->link_fd = -1;
			rq->peers_acct = r->acct;
			req_add_fd(rq, link, REQ_FD_PEERS);
		}
	}
	rep.region = r->id;
	rep.size = r->size;
	rep.owner = r->owner_id;
	rep.page_size = r->page_size;
	rep.access = req->access;
	rep.flags = (nofd ? ISM_ATTACH_R_NOFD : 0) |
		    (r->huge ? ISM_ATTACH_R_HUGE : 0) |
		    (link >= 0 ? ISM_ATTACH_R_LINK : 0);
	ism_proto_put_attach_rep(&rq->out, &rep);
	region_tell_attached(d, r, p, req->access);
	peer_watch(d, ISM_WATCH_ATTACH, req->access, p, r);
	return 0;
}

/* DESTROY's reply, for the job that answers it. */
static void reply_count_later(struct daemon *d, struct peer *p, uint32_t seq,
			      uint32_t count)
{
	struct ism_wbuf b;

	req_begin_later(d, &b, ISM_MSG_DESTROY, seq);
	ism_proto_put_count_rep(&b, count);
	req_send_later(d, p, &b, NULL, 0);
}

int op_detach(struct daemon *d, struct peer *p, struct req *rq)
{
	uint64_t id = *(const uint64_t *)rq->in;
	struct region *r;
	struct ref *f;
	bool live;

	f = region_find_ref(d, p, id);
	if (!f)
		return -ENOENT;
	if (f->flags & REF_OWNER)
		return -EPERM; /* the owner destroys */
	r = f->region;
	live = r->state == REGION_LIVE;
	if (live) {
		tell_others_detached(d, r, p, ISM_DETACH_REQUESTED);
		peer_watch(d, ISM_WATCH_DETACH, ISM_DETACH_REQUESTED, p, r);
	}
	ref_del(d, f); /* last, it may end an orphan */
	return 0;
}

/* ---- the end of a region ---- */

/* Ending a region: pages punched out on a worker, then the referrers
 * told, the destroyer answered, and the region freed. */
struct end_ctx {
	struct job job;
	struct daemon *d;
	struct region *r;
	uint32_t reason;
	uint64_t replyto; /* the destroyer's peer id, or 0 */
	uint32_t seq, told;
	uint32_t n_tell;
	uint64_t tell[]; /* peer ids to send REGION_GONE */
};

static void region_free(struct daemon *d, struct region *r)
{
	if (r->wmap)
		munmap(r->wmap, r->size);
	close(r->fd); /* ours, and punched: nothing to wait for */
	closer_put(r->link_fd, r->acct);
	ism_map_del(&d->regions.by_id, r->id, 0);
	ism_list_del(&r->all_link);
	d->regions.n--;
	region_uncharge(r->acct, r->size);
	acct_put(r->acct);
	free(r);
}

static void punch_run(struct job *j)
{
	struct end_ctx *e = (struct end_ctx *)j;
	struct region *r = e->r;

	/* Whoever still maps it reads zeros from now on. */
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)r->size) < 0)
		ismd_log(L_WARN, "region %llx: cannot free pages: %s",
			 (unsigned long long)r->id, strerror(errno));
}

static void punch_done(struct job *j)
{
	struct end_ctx *e = (struct end_ctx *)j;
	struct daemon *d = e->d;
	struct peer *p;

	for (uint32_t i = 0; i < e->n_tell; i++) {
		p = peer_find(d, e->tell[i]);
		if (p && !(p->flags & PEER_DEAD))
			peer_event_gone(d, p, e->r->id, e->reason);
	}
	if (e->replyto && (p = peer_find(d, e->replyto))) {
		p->jobs--;
		if (!(p->flags & PEER_DEAD))
			reply_count_later(d, p, e->seq, e->told);
		peer_async_done(d, p);
	}
	region_free(d, e->r);
	free(e);
}

/*
 * End @r now: every reference goes, and once its pages are punched out
 * the referrers but @except hear @reason; @replyto (may be NULL) then gets
 * DESTROY's reply (its request returned ISMD_ASYNC).  The region must
 * already be out of the token map and ownerless.
 */
static void region_end(struct daemon *d, struct region *r, uint32_t reason,
		       struct peer *except, struct peer *replyto, uint32_t seq)
{
	struct ism_list *pos, *tmp;
	struct end_ctx *e;
	uint32_t n = 0;

	r->state = REGION_DYING;
	e = calloc(1, sizeof(*e) + r->nrefs * sizeof(uint64_t));
	ism_list_for_each_safe (pos, tmp, &r->refs) {
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		if (e && f->peer != except && !(f->peer->flags & PEER_DEAD))
			e->tell[n++] = f->peer_id;
		ref_del(d, f);
	}
	if (!e) {
		/* Out of memory: end it here, nobody told (their refs are
		 * gone; their next request says ENOENT). */
		if (!d->stopping)
			fallocate(r->fd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				  (off_t)r->size);
		if (replyto)
			reply_count_later(d, replyto, seq, 0);
		region_free(d, r);
		return;
	}
	e->d = d;
	e->r = r;
	e->reason = reason;
	e->n_tell = n;
	e->told = n;
	e->seq = seq;
	if (replyto) {
		e->replyto = replyto->id;
		replyto->jobs++;
	}
	if (d->stopping) {
		/* Peers keep their mappings across a restart and
		 * re-register the regions with the next ismd: no punch. */
		e->job.cut = false;
		punch_done(&e->job);
		return;
	}
	e->job.run = punch_run;
	e->job.done = punch_done;
	e->job.uid = r->acct ? r->acct->uid : 0;
	worker_submit(&e->job);
}

/* Count the referrers @r would tell, but @except. */
static uint32_t count_told(struct region *r, struct peer *except)
{
	uint32_t n = 0;

	for (struct ism_list *pos = r->refs.next; pos != &r->refs;
	     pos = pos->next) {
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		n += f->peer != except && !(f->peer->flags & PEER_DEAD);
	}
	return n;
}

/*
 * The owner destroys @r, leaves, or an administrator revokes it.  Returns
 * ISMD_ASYNC if @replyto's reply comes later (from the job ending it), or
 * 0 with *@told, the referrers told, for the reply.
 */
static int region_destroy(struct daemon *d, struct region *r, uint32_t reason,
			  struct peer *except, struct peer *replyto,
			  uint32_t seq, uint32_t *told)
{
	struct ism_list *pos, *tmp;
	struct peer *owner = r->owner;

	*told = 0;
	/* Window mappings of it go first (owners told; op_destroy has
	 * already waited for them where someone awaits the reply). */
	window_region_ending(d, r, NULL, NULL);
	ism_map_del(&d->regions.by_token, tok_a(r->token), tok_b(r->token));
	if (owner) {
		/* Its quota is free again; its reference goes with the
		 * others below (it hears of a revocation like them). */
		owner->n_regions--;
		owner->bytes -= r->size;
		r->owner = NULL;
	}
	peer_watch(d, ISM_WATCH_REGION_GONE, reason, owner, r);
	if (r->state == REGION_LIVE && r->linger && r->n_mappers &&
	    reason != ISM_GONE_REVOKED && !d->stopping) {
		/* An orphan: its readers keep what was committed.  They
		 * hear now; those without a mapping (the owner, no-fd
		 * referrers) let go now. */
		*told = count_told(r, except);
		r->state = REGION_ORPHAN;
		ism_list_for_each_safe (pos, tmp, &r->refs) {
			struct ref *f =
				ism_container_of(pos, struct ref, region_link);

			if (f->peer != except && !(f->peer->flags & PEER_DEAD))
				peer_event_gone(d, f->peer, r->id, reason);
			if (!is_mapper(f))
				ref_del(d, f);
		}
		return 0;
	}
	region_end(d, r, reason, except, replyto, seq);
	return replyto ? ISMD_ASYNC : 0;
}

/* A DESTROY waiting for window owners to unmap the region. */
struct destroy_wait {
	uint64_t region, peer;
	uint32_t seq, reason;
};

static void destroy_resume(struct daemon *d, void *arg)
{
	struct destroy_wait *w = arg;
	struct region *r = ism_map_get(&d->regions.by_id, w->region, 0);
	struct peer *p = peer_find(d, w->peer);
	uint32_t told = 0;

	if (p && (p->flags & PEER_DEAD))
		p = NULL;
	if (!r || r->state != REGION_LIVE) {
		/* Ended meanwhile (its owner left, another destroy). */
		if (p)
			reply_count_later(d, p, w->seq, 0);
	} else if (region_destroy(d, r, w->reason, p, p, w->seq, &told) == 0 &&
		   p) {
		reply_count_later(d, p, w->seq, told);
	}
	free(w);
}

int op_destroy(struct daemon *d, struct peer *p, struct req *rq)
{
	uint64_t id = *(const uint64_t *)rq->in;
	struct region *r;
	uint32_t reason, told;
	int e;

	r = ism_map_get(&d->regions.by_id, id, 0);
	if (!r || r->state == REGION_DYING)
		return -ENOENT;
	if (r->owner != p && !(p->flags & PEER_ADMIN))
		/* Do not confirm the region exists to those not in it. */
		return region_find_ref(d, p, id) ? -EPERM : -ENOENT;
	reason = r->owner == p ? ISM_GONE_DESTROYED : ISM_GONE_REVOKED;
	if (reason == ISM_GONE_REVOKED) {
		if ((e = ismd_revoke_record(d, id)) < 0)
			ismd_log(L_WARN,
				 "region %llx: revocation not recorded "
				 "on disk: %s",
				 (unsigned long long)id, strerror(-e));
		ismd_plog(p, L_INFO, "revoked region %llx of peer %llx",
			  (unsigned long long)id,
			  (unsigned long long)r->owner_id);
	}
	if (r->state == REGION_LIVE) {
		/* Mapped in windows: answered once their owners unmapped it
		 * (docs/windows.md), without pausing this peer, which may
		 * own one of those windows. */
		struct destroy_wait *w = calloc(1, sizeof(*w));

		if (w) {
			w->region = r->id;
			w->peer = p->id;
			w->seq = rq->hdr.seq;
			w->reason = reason;
			if (window_region_ending(d, r, destroy_resume, w) > 0)
				return ISMD_ASYNC;
			free(w);
		}
	}
	e = region_destroy(d, r, reason, p, p, rq->hdr.seq, &told);
	if (e == 0)
		ism_proto_put_count_rep(&rq->out, told);
	return e;
}

/* ---- notify ---- */

int op_notify(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_notify_req *req = rq->in;
	struct ism_list *pos, *tmp;
	struct ref *f;
	uint32_t n = 0;

	f = live_ref(d, p, req->region);
	if (!f)
		return -ENOENT;
	d->notifies++;
	ism_list_for_each_safe (pos, tmp, &f->region->refs) {
		struct ref *g = ism_container_of(pos, struct ref, region_link);

		if (g->peer == p || (g->peer->flags & PEER_DEAD))
			continue;
		/* Event first, then the doorbell: a woken peer finds it. */
		peer_event_notify(d, g->peer, req->region, p->id, req->value);
		peer_ring(d, g->peer);
		n++;
	}
	ism_proto_put_count_rep(&rq->out, n);
	return 0;
}

/* ---- read / write through ismd ---- */

static int range_ok(const struct region *r, uint64_t off, uint32_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, (uint64_t)len, &end) &&
	       end <= r->size;
}

int op_read(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_read_req *req = rq->in;
	struct ref *f;
	uint8_t *dst;
	size_t done = 0;

	f = live_ref(d, p, req->region);
	if (!f)
		return -ENOENT;
	if (!range_ok(f->region, req->offset, req->len))
		return -EINVAL;
	dst = ism_wbuf_reserve(&rq->out, req->len);
	if (!dst)
		return -EMSGSIZE;
	/* pread copies in the kernel: a hole reads as zeros (hugetlbfs
	 * included), never a signal here. */
	while (done < req->len) {
		ssize_t n = pread(f->region->fd, dst + done, req->len - done,
				  (off_t)(req->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/*
 * hugetlbfs has no write(), so ismd writes through a mapping.  Any
 * read-write holder can punch a huge page out; once the pool is drained,
 * touching that hole would raise SIGBUS in ismd.  So the copy is done by
 * the kernel (process_vm_writev to ourselves: a fault it cannot satisfy is
 * EFAULT, not a signal).
 */
static int write_huge(struct region *r, uint64_t off, const uint8_t *data,
		      uint32_t len)
{
	struct iovec local = { (void *)data, len }, remote;
	ssize_t n;

	if (!r->wmap) {
		void *m = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, r->fd, 0);

		if (m == MAP_FAILED)
			return -errno;
		r->wmap = m;
	}
	remote.iov_base = (uint8_t *)r->wmap + off;
	remote.iov_len = len;
	do {
		n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return 0;
	/* A page the peer punched out, and no free huge page to refill it. */
	return n < 0 && errno != EFAULT ? -errno : -ENOMEM;
}

int op_write(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_write_req *req = rq->in;
	struct region *r;
	struct ref *f;
	size_t done = 0;
	int e;

	f = live_ref(d, p, req->region);
	if (!f)
		return -ENOENT;
	if (f->access != ISM_ACCESS_RW)
		return -EACCES;
	r = f->region;
	if (!range_ok(r, req->offset, req->len))
		return -EINVAL;
	if (r->huge) {
		if ((e = write_huge(r, req->offset, req->data, req->len)) < 0)
			return e;
		ism_proto_put_count_rep(&rq->out, req->len);
		return 0;
	}
	while (done < req->len) {
		ssize_t n = pwrite(r->fd, req->data + done, req->len - done,
				   (off_t)(req->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (errno == ENOSPC ? -ENOMEM : -errno)
				     : -EIO;
		done += (size_t)n;
	}
	ism_proto_put_count_rep(&rq->out, req->len);
	return 0;
}

/* ---- a peer leaving ---- */

void region_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	/* Detaches first: the owned regions they hold may end with them,
	 * and an orphan whose last reader is @p ends as @p goes. */
	ism_list_for_each_safe (pos, tmp, &p->refs) {
		struct ref *f = ism_container_of(pos, struct ref, peer_link);
		struct region *r = f->region;

		if (f->flags & REF_OWNER)
			continue;
		if (r->state == REGION_LIVE) {
			tell_others_detached(d, r, p, ISM_DETACH_DISCONNECTED);
			peer_watch(d, ISM_WATCH_DETACH, ISM_DETACH_DISCONNECTED,
				   p, r);
		}
		ref_del(d, f);
	}
	while (!ism_list_empty(&p->refs)) {
		struct ref *f =
			ism_container_of(p->refs.next, struct ref, peer_link);

		uint32_t told;

		region_destroy(d, f->region, ISM_GONE_OWNER_LEFT, p, NULL, 0,
			       &told);
	}
	recovery_release_peer(d, p);
}

void region_free_all(struct daemon *d)
{
	/* Shutdown: peers are gone; just free what is left, orphans too. */
	while (!ism_list_empty(&d->regions.ordered)) {
		struct region *r = ism_container_of(d->regions.ordered.next,
						    struct region, all_link);
		struct ism_list *pos, *tmp;

		ism_list_for_each_safe (pos, tmp, &r->refs) {
			struct ref *f =
				ism_container_of(pos, struct ref, region_link);

			ism_map_del(&d->regions.refs, f->peer_id, r->id);
			ism_list_del(&f->peer_link);
			ism_list_del(&f->region_link);
			free(f);
		}
		if (r->state == REGION_LIVE)
			ism_map_del(&d->regions.by_token, tok_a(r->token),
				    tok_b(r->token));
		region_free(d, r);
	}
}

/* ---- LIST_REGIONS, LIST_REFS (administrators: all; anyone else: what it
 * owns or references) ---- */

static bool sees_region(struct daemon *d, struct peer *p, struct region *r)
{
	return (p->flags & PEER_ADMIN) ||
	       ism_map_get(&d->regions.refs, p->id, r->id) != NULL;
}

static int list_regions(struct daemon *d, struct peer *p,
			const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_region_entry *e;
	uint64_t now = ism_now_ns(), next;
	struct page pg;
	uint32_t k;

	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	if (p->flags & PEER_ADMIN) {
		struct ism_list *pos = page_resume(
			&d->regions.ordered, &d->regions.by_id, req->cursor,
			offsetof(struct region, all_link),
			offsetof(struct region, id));

		for (; pos != &d->regions.ordered && pg.n < pg.cap;
		     pos = pos->next) {
			struct region *r =
				ism_container_of(pos, struct region, all_link);

			if (r->state != REGION_DYING)
				page_offer(&pg, r->id);
		}
	} else {
		/* What it owns or references, and nothing else. */
		for (struct ism_list *pos = p->refs.next; pos != &p->refs;
		     pos = pos->next) {
			struct ref *f =
				ism_container_of(pos, struct ref, peer_link);

			page_offer(&pg, f->region->id);
		}
	}
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct region *r = ism_map_get(&d->regions.by_id, pg.ids[i], 0);

		e[i].id = r->id;
		e[i].owner = r->owner_id;
		e[i].size = r->size;
		e[i].page_size = r->page_size;
		e[i].max_access = r->max_access;
		e[i].flags = (r->huge ? ISM_REGION_HUGE : 0) |
			     (r->linger ? ISM_REGION_LINGER : 0);
		e[i].refs = r->nrefs;
		e[i].age_ns = now - r->created_ns;
		ism_strlcpy(e[i].name, r->name, sizeof(e[i].name));
	}
	ism_proto_put_regions_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

static int list_refs(struct daemon *d, struct peer *p,
		     const struct ism_list_req *req, struct ism_wbuf *b)
{
	struct ism_ref_entry *e;
	struct region *r;
	uint64_t next;
	struct page pg;
	uint32_t k;

	/* Paged by peer id within one region. */
	r = ism_map_get(&d->regions.by_id, req->region, 0);
	if (!r || r->state == REGION_DYING || !sees_region(d, p, r))
		return -ENOENT;
	e = calloc(req->max, sizeof(*e));
	if (!e || page_init(&pg, req->cursor, req->max) < 0) {
		free(e);
		return -ENOMEM;
	}
	for (struct ism_list *pos = r->refs.next; pos != &r->refs;
	     pos = pos->next)
		page_offer(&pg, ism_container_of(pos, struct ref, region_link)
					->peer_id);
	k = page_finish(&pg, &next);
	for (uint32_t i = 0; i < k; i++) {
		struct ref *f = ism_map_get(&d->regions.refs, pg.ids[i], r->id);

		e[i].region = r->id;
		e[i].peer = f->peer_id;
		e[i].access = f->access;
		e[i].flags = (f->flags & REF_OWNER ? ISM_REF_OWNER : 0) |
			     (f->flags & REF_NOFD ? ISM_REF_NOFD : 0);
	}
	ism_proto_put_refs_rep(b, next, e, k);
	page_free(&pg);
	free(e);
	return 0;
}

int op_list_regions(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_list_req *req = rq->in;

	if (req->region != 0)
		return -EINVAL;
	return list_regions(d, p, req, &rq->out);
}

int op_list_refs(struct daemon *d, struct peer *p, struct req *rq)
{
	return list_refs(d, p, rq->in, &rq->out);
}

void region_fini(struct daemon *d)
{
	ism_map_free(&d->regions.by_id);
	ism_map_free(&d->regions.by_token);
	ism_map_free(&d->regions.refs);
	ism_map_free(&d->regions.pending);
}
