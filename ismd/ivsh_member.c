/* SPDX-License-Identifier: MIT */
/*
 * ivsh_member - ism peers as members of ivshmem domains: the IVSH_*
 * requests (join, vectors, layout, sections, state, ring, leave, the
 * lists), and leaving every domain when the peer goes.
 */
#include "ivsh_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ivsh_release_peer(struct daemon *d, struct peer *p)
{
	struct ism_list *pos, *tmp;

	ism_list_for_each_safe (pos, tmp, &p->ivsh) {
		struct ivsh_peer *m =
			ism_container_of(pos, struct ivsh_peer, owner_link);
		struct ivsh_domain *dom = m->dom;

		ipeer_drop(d, m, "its ism peer left");
		ivsh_sweep(d, dom);
	}
}

static struct ivsh_domain *domain_by_id(struct daemon *d, uint32_t id)
{
	for (struct ism_list *pos = d->ivsh.domains.next;
	     pos != &d->ivsh.domains; pos = pos->next) {
		struct ivsh_domain *dom =
			ism_container_of(pos, struct ivsh_domain, link);

		if (dom->id == id)
			return dom;
	}
	return NULL;
}

static bool may_join(struct ivsh_domain *dom, struct peer *p)
{
	if (p->flags & PEER_ADMIN)
		return true;
	for (uint32_t i = 0; i < dom->spec.n_uids; i++)
		if (dom->spec.uids[i] == p->uid)
			return true;
	return false;
}

static struct ivsh_peer *find_peer(struct ivsh_domain *dom, uint32_t id)
{
	for (struct ism_list *pos = dom->peers.next; pos != &dom->peers;
	     pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		if (o->id == id)
			return o;
	}
	return NULL;
}

static struct ivsh_peer *membership(struct ivsh_domain *dom, struct peer *p)
{
	for (struct ism_list *pos = p->ivsh.next; pos != &p->ivsh;
	     pos = pos->next) {
		struct ivsh_peer *m =
			ism_container_of(pos, struct ivsh_peer, owner_link);

		if (m->dom == dom)
			return m;
	}
	return NULL;
}

/* The domain a request names, and the requester's membership of it
 * (NULL if none). */
static struct ivsh_domain *req_domain(struct daemon *d, struct peer *p,
				      const struct req *rq,
				      struct ivsh_peer **m)
{
	const struct ism_ivsh_req *req = rq->in;
	struct ivsh_domain *dom = domain_by_id(d, req->domain);

	*m = dom ? membership(dom, p) : NULL;
	return dom;
}

int op_ivsh_list(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ism_ivshmem_domain e[IVSH_MAX_DOMAINS];
	uint32_t n = 0;

	memset(e, 0, sizeof(e));
	for (struct ism_list *pos = d->ivsh.domains.next;
	     pos != &d->ivsh.domains && n < IVSH_MAX_DOMAINS; pos = pos->next) {
		struct ivsh_domain *dom =
			ism_container_of(pos, struct ivsh_domain, link);

		e[n].id = dom->id;
		e[n].vectors = dom->spec.vectors;
		e[n].peers = dom->n_peers;
		e[n].max_peers = dom->spec.max_peers;
		e[n].flags = (may_join(dom, p) ? ISM_IVSHMEM_MAY_JOIN : 0) |
			     (dom->spec.v2 ? ISM_IVSHMEM_V2 : 0);
		e[n].size = dom->spec.size;
		ism_strlcpy(e[n].name, dom->spec.name, sizeof(e[n].name));
		n++;
	}
	ism_proto_put_ivsh_list_rep(&rq->out, e, n);
	return 0;
}

int op_ivsh_peers(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ism_ivshmem_peer *e;
	struct ivsh_peer *m;
	struct ivsh_domain *dom = req_domain(d, p, rq, &m);
	/* Which ism peer is a member is for members and administrators to
	 * know, not for strangers. */
	bool sees_members = (p->flags & PEER_ADMIN) || m;
	uint64_t now = ism_now_ns();
	uint32_t n = 0;

	if (!dom)
		return -ENOENT;
	e = calloc(IVSH_MAX_PEERS, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (struct ism_list *pos = dom->peers.next;
	     pos != &dom->peers && n < IVSH_MAX_PEERS; pos = pos->next) {
		struct ivsh_peer *o =
			ism_container_of(pos, struct ivsh_peer, link);

		e[n].id = o->id;
		/* ismd's own member (control=on): an ism one, of peer 0. */
		e[n].kind = o->owner || o->sock < 0 ? ISM_IVSHMEM_ISM
						    : ISM_IVSHMEM_QEMU;
		e[n].ism_peer = o->owner && sees_members ? o->owner->id : 0;
		e[n].age_ns = now - o->joined_ns;
		n++;
	}
	ism_proto_put_ivsh_peers_rep(&rq->out, e, n);
	free(e);
	return 0;
}

/* JOIN and VECTORS: eventfds [first, first + 15) and, for JOIN, the
 * memory (a fresh open file description, read-write). */
static int put_vectors(struct req *rq, bool join, struct ivsh_peer *m,
		       uint32_t first)
{
	struct ism_ivsh_join_rep rep = { .first = first };

	if (first >= m->dom->spec.vectors)
		return -EINVAL;
	if (join) {
		int fd = ismd_reopen(m->dom->memfd, O_RDWR);

		if (fd < 0)
			return fd;
		req_add_fd(rq, fd, REQ_FD_OURS);
		rep.domain = m->dom->id;
		rep.id = m->id;
		rep.vectors = m->dom->spec.vectors;
		rep.size = m->dom->spec.size;
	}
	/* The eventfds are the member's doorbells' own: lent, not closed. */
	while (rep.n < ISM_IVSH_FDS_PER_MSG &&
	       first + rep.n < m->dom->spec.vectors)
		req_add_fd(rq, doorbell_fd(m->db[first + rep.n++]),
			   REQ_FD_BORROWED);
	ism_proto_put_ivsh_join_rep(&rq->out, &rep);
	return 0;
}

int op_ivsh_join(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_ivsh_join_req *req = rq->in;
	struct ivsh_domain *dom = NULL;
	struct ivsh_peer *m;
	int r;

	for (struct ism_list *pos = d->ivsh.domains.next;
	     pos != &d->ivsh.domains; pos = pos->next) {
		struct ivsh_domain *x =
			ism_container_of(pos, struct ivsh_domain, link);

		if (!strcmp(x->spec.name, req->name))
			dom = x;
	}
	if (!dom)
		return -ENOENT;
	if (!may_join(dom, p))
		return -EPERM;
	if (membership(dom, p))
		return -EALREADY;
	if (!(m = ipeer_new(d, dom, -1, p->acct, p, &r)))
		return r;
	return put_vectors(rq, true, m, 0);
}

int op_ivsh_vectors(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_ivsh_req *req = rq->in;
	struct ivsh_peer *m;

	if (!req_domain(d, p, rq, &m) || !m)
		return -ENOENT;
	return put_vectors(rq, false, m, req->a);
}

/* v2: the state table (read-only) and our output section. */
int op_ivsh_layout(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ism_ivsh_layout_rep rep = { .layout = 1 };
	struct ivsh_peer *m;

	if (!req_domain(d, p, rq, &m) || !m)
		return -ENOENT;
	if (m->dom->spec.v2) {
		int fd = ismd_reopen(m->dom->statefd, O_RDONLY);

		if (fd < 0)
			return fd;
		rep.layout = 2;
		rep.state_size = m->dom->state_size;
		rep.output_size = m->dom->spec.output;
		req_add_fd(rq, fd, REQ_FD_OURS);
		req_add_fd(rq, m->outfd, REQ_FD_BORROWED);
	}
	ism_proto_put_ivsh_layout_rep(&rq->out, &rep);
	return 0;
}

/* v2: the other members' output sections, read-only, ids >= first. */
int op_ivsh_sections(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_ivsh_req *req = rq->in;
	uint32_t ids[ISM_IVSH_FDS_PER_MSG], n = 0;
	struct ivsh_peer *m;

	if (!req_domain(d, p, rq, &m) || !m)
		return -ENOENT;
	if (!m->dom->spec.v2)
		return -EOPNOTSUPP;
	/* Ascending ids: peers are few (<= 256), scan for each next one. */
	for (uint32_t want = req->a; n < ISM_IVSH_FDS_PER_MSG;) {
		struct ivsh_peer *best = NULL;
		int fd;

		for (struct ism_list *pos = m->dom->peers.next;
		     pos != &m->dom->peers; pos = pos->next) {
			struct ivsh_peer *o =
				ism_container_of(pos, struct ivsh_peer, link);

			if (o != m && o->outfd >= 0 && o->id >= want &&
			    (!best || o->id < best->id))
				best = o;
		}
		if (!best)
			break;
		if ((fd = ismd_reopen(best->outfd, O_RDONLY)) < 0)
			return fd; /* those reopened so far: closed */
		req_add_fd(rq, fd, REQ_FD_OURS);
		ids[n++] = best->id;
		want = best->id + 1u;
	}
	ism_proto_put_ivsh_sections_rep(&rq->out, ids, n);
	return 0;
}

int op_ivsh_state(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_ivsh_req *req = rq->in;
	struct ivsh_domain *dom;
	struct ivsh_peer *m;

	if (!(dom = req_domain(d, p, rq, &m)) || !m)
		return -ENOENT;
	if (!dom->spec.v2)
		return -EOPNOTSUPP;
	/* ivshmem 2.0: a different value is published (release: see
	 * ivsh.h) and raises vector 0 on every other peer. */
	if (atomic_load_explicit(&dom->state[m->id], memory_order_relaxed) !=
	    req->a) {
		atomic_store_explicit(&dom->state[m->id], req->a,
				      memory_order_release);
		ivsh_ring_state_change(dom, m);
		ivsh_sweep(d, dom);
	}
	return 0;
}

int op_ivsh_ring(struct daemon *d, struct peer *p, struct req *rq)
{
	const struct ism_ivsh_req *req = rq->in;
	struct ivsh_domain *dom;
	struct ivsh_peer *m, *t;

	if (!(dom = req_domain(d, p, rq, &m)))
		return -ENOENT;
	/* Interrupting guests is for members and administrators. */
	if (!m && !(p->flags & PEER_ADMIN))
		return -EPERM;
	if (!(t = find_peer(dom, req->a)))
		return -ENOENT;
	if (req->b >= dom->spec.vectors)
		return -EINVAL;
	/* Queued for a ringer: whoever shares that eventfd may have made it
	 * block. */
	doorbell_ring(t->db[req->b]);
	return 0;
}

int op_ivsh_leave(struct daemon *d, struct peer *p, struct req *rq)
{
	struct ivsh_domain *dom;
	struct ivsh_peer *m;

	if (!(dom = req_domain(d, p, rq, &m)) || !m)
		return -ENOENT;
	ipeer_drop(d, m, "left");
	ivsh_sweep(d, dom);
	return 0;
}
