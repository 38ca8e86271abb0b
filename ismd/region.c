/* SPDX-License-Identifier: MIT */
/*
 * region - regions and references: alloc, attach, detach, destroy,
 * notify, read/write through ismd, and recovery after a restart.
 *
 * A region is a memfd created here, sized, chmod 0600 (so a peer holding
 * a read-only fd cannot reopen it read-write through /proc unless it runs
 * as ismd's own user or root) and sealed against shrinking, growing and
 * further sealing (so nobody can truncate it under another peer's
 * mapping, and nobody can add a write seal that would stop reclamation).
 * ismd keeps one private fd; every fd it hands out is a fresh open of the
 * memfd (O_RDONLY or O_RDWR), so no peer shares an open file description
 * with ismd or with another peer.
 *
 * Destroying a region punches out all its pages at once: memory returns
 * to the host immediately, and a stale mapping left in a peer reads zeros
 * from then on, never another region's data (docs/security.md).
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define REGION_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define PENDING_MAX (1u << 20)

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

int ismd_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

static struct ref *find_ref(struct daemon *d, struct peer *p, uint64_t region)
{
	return ism_map_get(&d->ref_by_pr, p->id, region);
}

static struct ref *ref_add(struct daemon *d, struct peer *p, struct region *r,
			   uint32_t access, uint32_t flags)
{
	struct ref *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	if (ism_map_put(&d->ref_by_pr, p->id, r->id, f) < 0) {
		free(f);
		return NULL;
	}
	f->peer = p;
	f->region = r;
	f->access = access;
	f->flags = flags;
	ism_list_add_tail(&p->refs, &f->peer_link);
	ism_list_add_tail(&r->refs, &f->region_link);
	r->nrefs++;
	d->n_refs++;
	if (!(flags & REF_OWNER))
		p->n_refs++;
	return f;
}

static void ref_del(struct daemon *d, struct ref *f)
{
	ism_map_del(&d->ref_by_pr, f->peer->id, f->region->id);
	ism_list_del(&f->peer_link);
	ism_list_del(&f->region_link);
	f->region->nrefs--;
	d->n_refs--;
	if (!(f->flags & REF_OWNER))
		f->peer->n_refs--;
	free(f);
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

static int may_attach(const struct region *r, const struct peer *p,
		      uint32_t access)
{
	if (access == ISM_ACCESS_RW && r->max_access != ISM_ACCESS_RW)
		return -EACCES;
	return acl_allows(r, p) ? 0 : -EACCES;
}

/* Tell every referrer of @r but @except (and the dead) about @who. */
static void tell_others_attached(struct daemon *d, struct region *r,
				 struct peer *who, uint32_t access)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &r->refs)
	{
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		if (f->peer != who)
			peer_event_attached(d, f->peer, r->id, who->id, access);
	}
}

static void tell_others_detached(struct daemon *d, struct region *r,
				 struct peer *who, uint32_t reason)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &r->refs)
	{
		struct ref *f = ism_container_of(pos, struct ref, region_link);

		if (f->peer != who)
			peer_event_detached(d, f->peer, r->id, who->id, reason);
	}
}

/* ---- creation ---- */

struct newmem {
	int fd;
	uint64_t size;
	uint32_t page_size;
	bool huge;
	int huge_errno;
};

static int make_memfd(struct daemon *d, uint64_t id, uint64_t want,
		      uint32_t flags, struct newmem *m)
{
	char name[32];
	unsigned base = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd = -1, e;

	snprintf(name, sizeof(name), "ism:%llx", (unsigned long long)id);
	m->fd = -1;
	m->size = 0;
	m->page_size = 0;
	m->huge = false;
	m->huge_errno = 0;
	if (flags & ISM_ALLOC_HUGETLB) {
		uint64_t size;

		if (!d->huge_page_size) {
			m->huge_errno = EOPNOTSUPP;
		} else if (!ism_round_up(want, d->huge_page_size, &size)) {
			return -EINVAL;
		} else if ((fd = memfd_create(name, base | MFD_HUGETLB)) < 0) {
			m->huge_errno = errno;
		} else if (ftruncate(fd, (off_t)size) < 0) {
			m->huge_errno = errno;
			ism_close_fd(&fd);
		} else {
			/* A shared mapping reserves the huge pages in the
			 * file, so no later first touch can SIGBUS; without
			 * free huge pages it fails here instead. */
			void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

			if (p == MAP_FAILED) {
				m->huge_errno = errno;
				ism_close_fd(&fd);
			} else {
				munmap(p, size);
				m->size = size;
				m->page_size = d->huge_page_size;
				m->huge = true;
			}
		}
		if (fd < 0 && (flags & ISM_ALLOC_HUGETLB_REQUIRED))
			return -(m->huge_errno ? m->huge_errno : ENOMEM);
	}
	if (fd < 0) {
		if (!ism_round_up(want, d->page_size, &m->size))
			return -EINVAL;
		m->page_size = d->page_size;
		fd = memfd_create(name, base | MFD_NOEXEC_SEAL);
		if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
			fd = memfd_create(name, base);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)m->size) < 0) {
			e = -errno;
			close(fd);
			return e;
		}
	}
	if ((flags & ISM_ALLOC_POPULATE) &&
	    fallocate(fd, 0, 0, (off_t)m->size) < 0) {
		e = -errno;
		close(fd);
		return e == -ENOSPC ? -ENOMEM : e;
	}
	if (fchmod(fd, 0600) < 0 || fcntl(fd, F_ADD_SEALS, REGION_SEALS) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	m->fd = fd;
	return 0;
}

static int quota_check(struct daemon *d, struct peer *p, uint64_t size)
{
	if (p->n_regions >= d->cfg.q_regions || p->bytes > d->cfg.q_bytes ||
	    size > d->cfg.q_bytes - p->bytes)
		return -EDQUOT;
	if (d->bytes_used > d->cfg.max_memory ||
	    size > d->cfg.max_memory - d->bytes_used)
		return -ENOMEM;
	return 0;
}

static struct region *region_insert(struct daemon *d, struct peer *owner,
				    uint64_t id, const struct newmem *m,
				    const uint8_t *token, uint32_t max_access,
				    const struct ism_acl *acl, const char *name)
{
	struct region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->id = id;
	r->owner = owner;
	r->owner_id = owner->id;
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
	if (ism_map_put(&d->region_by_id, id, 0, r) < 0)
		goto fail;
	if (ism_map_put(&d->region_by_token, tok_a(token), tok_b(token), r) < 0)
		goto fail_id;
	if (!ref_add(d, owner, r, ISM_ACCESS_RW, REF_OWNER))
		goto fail_tok;
	owner->n_regions++;
	owner->bytes += r->size;
	d->bytes_used += r->size;
	d->n_regions++;
	return r;
fail_tok:
	ism_map_del(&d->region_by_token, tok_a(token), tok_b(token));
fail_id:
	ism_map_del(&d->region_by_id, id, 0);
fail:
	free(r);
	return NULL;
}

/* A link must be a connected AF_UNIX SOCK_SEQPACKET socket: attachers
 * only ever send and receive with MSG_DONTWAIT on it. */
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

int op_alloc(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, int *fds, unsigned nfds)
{
	struct ism_alloc_req req;
	struct ism_alloc_rep rep = { 0 };
	struct newmem m;
	struct region *r;
	struct ism_wbuf b;
	struct stat st;
	uint8_t token[ISM_TOKEN_SIZE];
	uint64_t id, rounded;
	int e, ofd, n;

	if ((e = ism_proto_get_alloc_req(rb, &req)) < 0)
		return e;
	if (nfds != ((req.flags & ISM_ALLOC_LINK) ? 1u : 0u))
		return -EBADMSG;
	if (nfds && !is_link_socket(fds[0]))
		return -EBADMSG;
	/* Check quotas on the smallest size this could become before any
	 * memory exists, then again on the real size. */
	if (!ism_round_up(req.size, d->page_size, &rounded))
		return -EINVAL;
	if ((e = quota_check(d, p, rounded)) < 0)
		return e;
	if (d->next_region >= UINT32_MAX)
		return -ENOSPC;
	id = (uint64_t)d->epoch << 32 | (d->next_region + 1);
	if ((e = make_memfd(d, id, req.size, req.flags, &m)) < 0) {
		ismd_plog(p, L_INFO, "alloc of %llu bytes failed: %s",
			  (unsigned long long)req.size, strerror(-e));
		return e;
	}
	if ((e = quota_check(d, p, m.size)) < 0)
		goto fail_fd;
	do {
		if ((e = ism_random(token, sizeof(token))) < 0)
			goto fail_fd;
	} while (ism_map_get(&d->region_by_token, tok_a(token), tok_b(token)));
	if (fstat(m.fd, &st) < 0) {
		e = -errno;
		goto fail_fd;
	}
	ofd = ismd_reopen(m.fd, O_RDWR);
	if (ofd < 0) {
		e = ofd;
		goto fail_fd;
	}
	r = region_insert(d, p, id, &m, token, req.max_access, &req.acl,
			  req.name);
	if (!r) {
		close(ofd);
		e = -ENOMEM;
		goto fail_fd;
	}
	d->next_region++;
	r->linger = req.flags & ISM_ALLOC_LINGER;
	if (nfds) {
		r->link_fd = fds[0]; /* ours now, until the first attacher */
		fds[0] = -1;
	}
	rep.region = id;
	rep.size = m.size;
	rep.page_size = m.page_size;
	rep.flags = (m.huge ? ISM_RFLAG_HUGE : 0) |
		    (r->linger ? ISM_RFLAG_LINGER : 0);
	rep.huge_errno = (uint32_t)m.huge_errno;
	rep.max_access = req.max_access;
	memcpy(rep.token, token, ISM_TOKEN_SIZE);
	ismd_proof_owner(d, id, p->id, m.size, (uint64_t)st.st_ino, token,
			 rep.proof);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_ALLOC,
			ISM_WIRE_F_REPLY, seq, 0);
	ism_proto_put_alloc_rep(&b, &rep);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, &ofd, 1, false);
	close(ofd);
	ismd_plog(p, L_DEBUG, "region %llx: %llu bytes%s",
		  (unsigned long long)id, (unsigned long long)m.size,
		  m.huge ? " (huge pages)" : "");
	peer_watch(d, ISM_WATCH_REGION_NEW, 0, p, r);
	return 0;
fail_fd:
	close(m.fd);
	return e;
}

/* ---- attach / detach ---- */

static struct region *by_token(struct daemon *d, const uint8_t *token)
{
	struct region *r =
		ism_map_get(&d->region_by_token, tok_a(token), tok_b(token));

	/* The map keys are the token's bytes; compare all of them anyway,
	 * in constant time. */
	if (r && !ism_ct_equal(r->token, token, ISM_TOKEN_SIZE))
		return NULL;
	return r;
}

int op_attach(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_attach_req req;
	struct ism_attach_rep rep = { 0 };
	struct region *r;
	struct ism_wbuf b;
	bool nofd;
	int e, fd[2] = { -1, -1 }, n;
	unsigned nsend;

	(void)nfds;
	if ((e = ism_proto_get_attach_req(rb, &req)) < 0)
		return e;
	nofd = req.flags & ISM_ATTACH_NOFD;
	r = by_token(d, req.token);
	if (!r) {
		/* Wrong guesses and stale tokens look the same. */
		p->failed_attaches++;
		ismd_plog(p, L_INFO, "attach: unknown token (%llu failures)",
			  (unsigned long long)p->failed_attaches);
		return -ENOENT;
	}
	if ((e = may_attach(r, p, req.access)) < 0)
		return e;
	if (find_ref(d, p, r->id))
		return -EALREADY;
	if (p->n_refs >= d->cfg.q_refs)
		return -EDQUOT;
	if (!nofd) {
		fd[0] = ismd_reopen(r->fd, req.access == ISM_ACCESS_RW ? O_RDWR
								  : O_RDONLY);
		if (fd[0] < 0)
			return fd[0];
	}
	if (!ref_add(d, p, r, req.access, nofd ? REF_NOFD : 0)) {
		ism_close_fd(&fd[0]);
		return -ENOMEM;
	}
	/* The first attacher with fds takes the owner's link along. */
	nsend = nofd ? 0 : 1;
	if (!nofd && r->link_fd >= 0) {
		fd[1] = r->link_fd;
		r->link_fd = -1;
		nsend = 2;
	}
	rep.region = r->id;
	rep.size = r->size;
	rep.owner = r->owner_id;
	rep.page_size = r->page_size;
	rep.access = req.access;
	rep.flags = (nofd ? ISM_ATTACH_R_NOFD : 0) |
		    (r->huge ? ISM_ATTACH_R_HUGE : 0) |
		    (nsend == 2 ? ISM_ATTACH_R_LINK : 0);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_ATTACH,
			ISM_WIRE_F_REPLY, seq, 0);
	ism_proto_put_attach_rep(&b, &rep);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, fd, nsend, false);
	ism_close_fds(fd, 2);
	tell_others_attached(d, r, p, req.access);
	peer_watch(d, ISM_WATCH_ATTACH, req.access, p, r);
	return 0;
}

static int reply_empty(struct daemon *d, struct peer *p, uint16_t type,
		       uint32_t seq)
{
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, 0);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

static int reply_count(struct daemon *d, struct peer *p, uint16_t type,
		       uint32_t seq, uint32_t count)
{
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, type, ISM_WIRE_F_REPLY,
			seq, 0);
	ism_proto_put_count_rep(&b, count);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

int op_detach(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds)
{
	struct region *r;
	struct ref *f;
	uint64_t id;
	int e;

	(void)nfds;
	if ((e = ism_proto_get_region_req(rb, &id)) < 0)
		return e;
	f = find_ref(d, p, id);
	if (!f)
		return -ENOENT;
	if (f->flags & REF_OWNER)
		return -EPERM; /* the owner destroys */
	r = f->region;
	ref_del(d, f);
	reply_empty(d, p, ISM_MSG_DETACH, seq);
	tell_others_detached(d, r, p, ISM_DETACH_REQUESTED);
	peer_watch(d, ISM_WATCH_DETACH, ISM_DETACH_REQUESTED, p, r);
	return 0;
}

/* ---- destroy ---- */

void region_destroy(struct daemon *d, struct region *r, uint32_t reason,
		    struct peer *except)
{
	struct ism_list *pos, *tmp;
	struct peer *owner = r->owner;

	/* Free the pages first, whoever still maps them (see the top), so
	 * that a referrer woken by the event below already reads zeros.
	 * Not when ismd itself is stopping: peers keep their mappings across
	 * a restart and re-register the regions with the next ismd. */
	if (!d->stopping && !(r->linger && reason != ISM_GONE_REVOKED) &&
	    fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)r->size) < 0)
		ismd_log(L_WARN, "region %llx: cannot free pages: %s",
			 (unsigned long long)r->id, strerror(errno));
	ism_list_for_each_safe(pos, tmp, &r->refs)
	{
		struct ref *f = ism_container_of(pos, struct ref, region_link);
		struct peer *q = f->peer;

		ref_del(d, f);
		if (q != except)
			peer_event_gone(d, q, r->id, reason);
	}
	if (r->wmap)
		munmap(r->wmap, r->size);
	ism_close_fd(&r->fd);
	ism_close_fd(&r->link_fd);
	ism_map_del(&d->region_by_id, r->id, 0);
	ism_map_del(&d->region_by_token, tok_a(r->token), tok_b(r->token));
	owner->n_regions--;
	owner->bytes -= r->size;
	d->bytes_used -= r->size;
	d->n_regions--;
	peer_watch(d, ISM_WATCH_REGION_GONE, reason, owner, r);
	free(r);
}

int op_destroy(struct daemon *d, struct peer *p, uint32_t seq,
	       struct ism_rbuf *rb, unsigned nfds)
{
	struct region *r;
	uint32_t told, reason;
	uint64_t id;
	int e;

	(void)nfds;
	if ((e = ism_proto_get_region_req(rb, &id)) < 0)
		return e;
	r = ism_map_get(&d->region_by_id, id, 0);
	if (!r)
		return -ENOENT;
	if (r->owner != p && !(p->flags & PEER_ADMIN))
		/* Do not confirm the region exists to those not in it. */
		return find_ref(d, p, id) ? -EPERM : -ENOENT;
	reason = r->owner == p ? ISM_GONE_DESTROYED : ISM_GONE_REVOKED;
	if (reason == ISM_GONE_REVOKED) {
		if ((e = ismd_revoke_record(d, id)) < 0)
			ismd_log(L_WARN, "region %llx: revocation not recorded "
					 "on disk: %s",
				 (unsigned long long)id, strerror(-e));
		ismd_plog(p, L_INFO, "revoked region %llx of peer %llx",
			  (unsigned long long)id,
			  (unsigned long long)r->owner_id);
	}
	told = r->nrefs - (find_ref(d, p, id) ? 1 : 0);
	region_destroy(d, r, reason, p);
	return reply_count(d, p, ISM_MSG_DESTROY, seq, told);
}

/* ---- notify ---- */

int op_notify(struct daemon *d, struct peer *p, uint32_t seq,
	      struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_notify_req req;
	struct ism_list *pos, *tmp;
	struct ref *f;
	uint32_t n = 0;
	int e;

	(void)nfds;
	if ((e = ism_proto_get_notify_req(rb, &req)) < 0)
		return e;
	f = find_ref(d, p, req.region);
	if (!f)
		return -ENOENT;
	d->notifies++;
	ism_list_for_each_safe(pos, tmp, &f->region->refs)
	{
		struct ref *g = ism_container_of(pos, struct ref, region_link);

		if (g->peer == p || (g->peer->flags & PEER_DEAD))
			continue;
		/* Event first, then the doorbell: a woken peer finds it. */
		peer_event_notify(d, g->peer, req.region, p->id, req.value);
		peer_ring(d, g->peer);
		n++;
	}
	if (d->noreply)
		return 0;
	return reply_count(d, p, ISM_MSG_NOTIFY, seq, n);
}

/* ---- read / write through ismd ---- */

static int range_ok(const struct region *r, uint64_t off, uint32_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, (uint64_t)len, &end) &&
	       end <= r->size;
}

int op_read(struct daemon *d, struct peer *p, uint32_t seq,
	    struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_read_req req;
	struct ism_wbuf b;
	struct ref *f;
	size_t done = 0;
	int e;

	(void)nfds;
	if ((e = ism_proto_get_read_req(rb, &req)) < 0)
		return e;
	f = find_ref(d, p, req.region);
	if (!f)
		return -ENOENT;
	if (!range_ok(f->region, req.offset, req.len))
		return -EINVAL;
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_READ,
			ISM_WIRE_F_REPLY, seq, 0);
	while (done < req.len) {
		ssize_t n = pread(f->region->fd, d->tx + ISM_WIRE_HDR_SIZE + done,
				  req.len - done, (off_t)(req.offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	b.len += req.len;
	e = ism_proto_end(&b);
	if (e > 0)
		peer_send(d, p, (size_t)e, NULL, 0, false);
	return 0;
}

int op_write(struct daemon *d, struct peer *p, uint32_t seq,
	     struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_write_req req;
	struct region *r;
	struct ref *f;
	size_t done = 0;
	int e;

	(void)nfds;
	if ((e = ism_proto_get_write_req(rb, &req)) < 0)
		return e;
	f = find_ref(d, p, req.region);
	if (!f)
		return -ENOENT;
	if (f->access != ISM_ACCESS_RW)
		return -EACCES;
	r = f->region;
	if (!range_ok(r, req.offset, req.len))
		return -EINVAL;
	if (r->huge) {
		/* hugetlbfs has no write(); its pages were reserved at
		 * allocation, so touching this mapping cannot fault. */
		if (!r->wmap) {
			void *m = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
				       MAP_SHARED, r->fd, 0);

			if (m == MAP_FAILED)
				return -errno;
			r->wmap = m;
		}
		memcpy((uint8_t *)r->wmap + req.offset, req.data, req.len);
		return reply_count(d, p, ISM_MSG_WRITE, seq, req.len);
	}
	while (done < req.len) {
		ssize_t n = pwrite(r->fd, req.data + done, req.len - done,
				   (off_t)(req.offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (errno == ENOSPC ? -ENOMEM : -errno)
				     : -EIO;
		done += (size_t)n;
	}
	return reply_count(d, p, ISM_MSG_WRITE, seq, req.len);
}

/* ---- a peer leaving ---- */

void region_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &p->refs)
	{
		struct ref *f = ism_container_of(pos, struct ref, peer_link);
		struct region *r = f->region;

		if (f->flags & REF_OWNER) {
			region_destroy(d, r, ISM_GONE_OWNER_LEFT, p);
		} else {
			ref_del(d, f);
			tell_others_detached(d, r, p, ISM_DETACH_DISCONNECTED);
			peer_watch(d, ISM_WATCH_DETACH, ISM_DETACH_DISCONNECTED,
				   p, r);
		}
	}
	ism_list_for_each_safe(pos, tmp, &p->pending)
	{
		struct pending *q =
			ism_container_of(pos, struct pending, peer_link);

		ism_list_del(&q->peer_link);
		ism_list_del(&q->all_link);
		d->n_pending--;
		p->n_pending--;
		free(q);
	}
}

void region_free_all(struct daemon *d)
{
	size_t pos = 0;
	struct region *r;

	/* Shutdown: peers are gone; just free what is left. */
	while ((r = ism_map_next(&d->region_by_id, &pos, NULL, NULL))) {
		ism_close_fd(&r->fd);
		ism_close_fd(&r->link_fd);
		if (r->wmap)
			munmap(r->wmap, r->size);
		free(r);
	}
}

/* ---- recovery after an ismd restart ---- */

static int validate_memfd(struct daemon *d, int fd,
			  const struct ism_register_ent *e, struct stat *st,
			  uint32_t *page_size)
{
	struct statfs sf;
	int seals, fl;
	bool huge;

	if (fstat(fd, st) < 0 || fstatfs(fd, &sf) < 0)
		return EBADF;
	seals = fcntl(fd, F_GET_SEALS);
	fl = fcntl(fd, F_GETFL);
	/* Only a memfd ismd made has these seals, this owner and mode. */
	if (!S_ISREG(st->st_mode) || seals < 0 ||
	    (seals & REGION_SEALS) != REGION_SEALS || fl < 0 ||
	    (fl & O_ACCMODE) != O_RDWR)
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

static void resolve_pending(struct daemon *d, struct region *r)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &d->pending)
	{
		struct pending *q =
			ism_container_of(pos, struct pending, all_link);
		struct peer *p = q->peer;
		bool ok;

		if (q->region != r->id)
			continue;
		ism_list_del(&q->peer_link);
		ism_list_del(&q->all_link);
		d->n_pending--;
		p->n_pending--;
		ok = !(p->flags & PEER_DEAD) &&
		     ism_ct_equal(q->token, r->token, ISM_TOKEN_SIZE) &&
		     may_attach(r, p, q->access) == 0 && !find_ref(d, p, r->id) &&
		     p->n_refs < d->cfg.q_refs &&
		     ref_add(d, p, r, q->access,
			     (q->flags & ISM_ATTACH_NOFD) ? REF_NOFD : 0);
		if (ok)
			tell_others_attached(d, r, p, q->access);
		else if (!(p->flags & PEER_DEAD))
			peer_event_gone(d, p, q->region, ISM_GONE_LOST);
		free(q);
	}
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
	if (ism_map_get(&d->region_by_id, e->region, 0) ||
	    ism_map_get(&d->region_by_token, tok_a(e->token), tok_b(e->token)))
		return EEXIST;
	if (ismd_revoked(d, e->region))
		return EACCES;
	if ((err = validate_memfd(d, fd, e, &st, &ps)) != 0)
		return (uint32_t)err;
	ismd_proof_owner(d, e->region, p->id, e->size, (uint64_t)st.st_ino,
			 e->token, proof);
	if (!ism_ct_equal(proof, e->proof, ISM_PROOF_SIZE))
		return EACCES;
	if ((err = quota_check(d, p, e->size)) < 0)
		return (uint32_t)-err;
	m.fd = ismd_reopen(fd, O_RDWR);
	if (m.fd < 0)
		return (uint32_t)-m.fd;
	m.size = e->size;
	m.page_size = ps;
	m.huge = e->flags & ISM_RFLAG_HUGE;
	r = region_insert(d, p, e->region, &m, e->token, e->max_access,
			  &e->acl, e->name);
	if (!r) {
		close(m.fd);
		return ENOMEM;
	}
	r->linger = e->flags & ISM_RFLAG_LINGER;
	ismd_plog(p, L_INFO, "region %llx re-registered",
		  (unsigned long long)r->id);
	peer_watch(d, ISM_WATCH_REGION_NEW, 0, p, r);
	resolve_pending(d, r);
	return 0;
}

int op_register(struct daemon *d, struct peer *p, uint32_t seq,
		struct ism_rbuf *rb, int *fds, unsigned nfds)
{
	struct ism_register_req *req = malloc(sizeof(*req));
	struct ism_batch_rep rep = { 0 };
	struct ism_wbuf b;
	int e, n;

	if (!req)
		return -ENOMEM;
	e = ism_proto_get_register_req(rb, req);
	if (e == 0 && nfds != req->n)
		e = -EBADMSG;
	if (e == 0 && (!(p->flags & PEER_RESUMED) || !daemon_recovering(d)))
		e = -EPERM;
	if (e < 0) {
		free(req);
		return e; /* the caller closes the fds */
	}
	rep.n = req->n;
	for (uint32_t i = 0; i < req->n; i++)
		rep.status[i] = register_one(d, p, &req->ent[i], fds[i]);
	free(req);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_REGISTER,
			ISM_WIRE_F_REPLY, seq, 0);
	ism_proto_put_batch_rep(&b, &rep);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

static uint32_t reattach_one(struct daemon *d, struct peer *p,
			     const struct ism_reattach_ent *e)
{
	struct region *r = ism_map_get(&d->region_by_id, e->region, 0);
	struct pending *q;

	if (r) {
		if (!ism_ct_equal(r->token, e->token, ISM_TOKEN_SIZE))
			return ENOENT;
		if (find_ref(d, p, r->id))
			return EALREADY;
		if (may_attach(r, p, e->access) < 0)
			return EACCES;
		if (p->n_refs >= d->cfg.q_refs)
			return EDQUOT;
		if (!ref_add(d, p, r, e->access,
			     (e->flags & ISM_ATTACH_NOFD) ? REF_NOFD : 0))
			return ENOMEM;
		tell_others_attached(d, r, p, e->access);
		return 0;
	}
	if ((e->region >> 32) >= d->epoch || ismd_revoked(d, e->region))
		return ENOENT;
	if (d->n_pending >= PENDING_MAX ||
	    p->n_refs + p->n_pending >= d->cfg.q_refs)
		return EDQUOT;
	q = calloc(1, sizeof(*q));
	if (!q)
		return ENOMEM;
	q->peer = p;
	q->region = e->region;
	memcpy(q->token, e->token, ISM_TOKEN_SIZE);
	q->access = e->access;
	q->flags = e->flags;
	ism_list_add_tail(&p->pending, &q->peer_link);
	ism_list_add_tail(&d->pending, &q->all_link);
	d->n_pending++;
	p->n_pending++;
	return EINPROGRESS; /* held until the owner re-registers */
}

int op_reattach(struct daemon *d, struct peer *p, uint32_t seq,
		struct ism_rbuf *rb, unsigned nfds)
{
	struct ism_reattach_req *req = malloc(sizeof(*req));
	struct ism_batch_rep rep = { 0 };
	struct ism_wbuf b;
	int e, n;

	(void)nfds;
	if (!req)
		return -ENOMEM;
	e = ism_proto_get_reattach_req(rb, req);
	if (e == 0 && (!(p->flags & PEER_RESUMED) || !daemon_recovering(d)))
		e = -EPERM;
	if (e < 0) {
		free(req);
		return e;
	}
	rep.n = req->n;
	for (uint32_t i = 0; i < req->n; i++)
		rep.status[i] = reattach_one(d, p, &req->ent[i]);
	free(req);
	ism_proto_begin(&b, d->tx, ISM_WIRE_MAX_MSG, ISM_MSG_REATTACH,
			ISM_WIRE_F_REPLY, seq, 0);
	ism_proto_put_batch_rep(&b, &rep);
	n = ism_proto_end(&b);
	if (n > 0)
		peer_send(d, p, (size_t)n, NULL, 0, false);
	return 0;
}

void pending_expire_all(struct daemon *d)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe(pos, tmp, &d->pending)
	{
		struct pending *q =
			ism_container_of(pos, struct pending, all_link);

		ism_list_del(&q->peer_link);
		ism_list_del(&q->all_link);
		d->n_pending--;
		q->peer->n_pending--;
		peer_event_gone(d, q->peer, q->region, ISM_GONE_LOST);
		free(q);
	}
}
