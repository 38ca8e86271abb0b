/* SPDX-License-Identifier: MIT */
/*
 * ivshmem - membership of ismd's ivshmem domains (include/ism/ivshmem.h).
 */
#include "client.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ism_ivshmem {
	struct ism_conn *c;
	uint32_t domain, id, vectors;
	uint64_t size;
	int memfd;
	void *map;
	int efd[ISM_IVSHMEM_MAX_VECTORS];
	/* layout v2, fetched on first use */
	struct ism_ivsh_layout_rep lay;
	bool have_layout;
	void *state, *out;
	struct peer_out {
		uint32_t id;
		ino_t ino;
		void *map;
	} * others;
	uint32_t n_others;
};

/* A request with the ism_ivsh_req layout; the reply in *@rep. */
static int call(struct ism_conn *c, uint16_t type,
		const struct ism_ivsh_req *req, struct reply *rep)
{
	struct ism_wbuf b;
	int e;

	conn_begin_locked(c, &b, type);
	ism_proto_put_ivsh_req(&b, type, req);
	e = ism_proto_end(&b);
	return e < 0 ? e : conn_call_locked(c, (size_t)e, NULL, 0, rep);
}

/* 0.2: the structs filled below grew reserved tails (0.1: compat.c). */
int ism_ivshmem_list(struct ism_conn *c, struct ism_ivshmem_domain *out,
		     uint32_t max)
{
	struct ism_ivshmem_domain all[ISM_IVSH_DOMAINS_MAX];
	struct ism_wbuf b;
	struct reply rep;
	uint32_t n = 0;
	int e;

	if (!out && max)
		return -EINVAL;
	memset(all, 0, sizeof(all)); /* reserved tails included */
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_IVSH_LIST);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e >= 0) {
		e = ism_proto_get_ivsh_list_rep(&rep.rb, all,
						ISM_IVSH_DOMAINS_MAX, &n) < 0
			    ? -EPROTO
			    : (int)n;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&c->lock);
	if (e > 0 && out)
		memcpy(out, all, ISM_MIN((uint32_t)e, max) * sizeof(*out));
	return e < 0 ? e : (int)ISM_MIN((uint32_t)e, max);
}

int ism_ivshmem_peers(struct ism_conn *c, uint32_t domain,
		      struct ism_ivshmem_peer *out, uint32_t max)
{
	struct ism_ivsh_req req = { .domain = domain };
	struct ism_ivshmem_peer *all = calloc(ISM_IVSH_PEERS_MAX, sizeof(*all));
	struct reply rep;
	uint32_t n = 0;
	int e;

	if (!all)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	e = call(c, ISM_MSG_IVSH_PEERS, &req, &rep);
	if (e >= 0) {
		e = ism_proto_get_ivsh_peers_rep(&rep.rb, all,
						 ISM_IVSH_PEERS_MAX, &n) < 0
			    ? -EPROTO
			    : (int)n;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&c->lock);
	if (e > 0 && out)
		memcpy(out, all, ISM_MIN((uint32_t)e, max) * sizeof(*out));
	free(all);
	return e < 0 ? e : (int)ISM_MIN((uint32_t)e, max);
}

int ism_ivshmem_ring(struct ism_conn *c, uint32_t domain, uint32_t peer,
		     uint32_t vector)
{
	struct ism_ivsh_req req = { .domain = domain, .a = peer, .b = vector };
	struct reply rep;
	int e;

	if (peer > 0xffff || vector >= ISM_IVSHMEM_MAX_VECTORS || domain == 0 ||
	    domain > ISM_IVSH_DOMAINS_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	e = call(c, ISM_MSG_IVSH_RING, &req, &rep);
	if (e >= 0) {
		e = ism_proto_get_empty(&rep.rb) < 0 ? -EPROTO : 0;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* Take the eventfds of a JOIN or VECTORS reply (fds after @skip). */
static int take_vectors(struct ism_ivshmem *m,
			const struct ism_ivsh_join_rep *r, struct reply *rep,
			unsigned skip)
{
	if (rep->nfds != skip + r->n || r->first + r->n > m->vectors)
		return -EPROTO;
	for (uint32_t i = 0; i < r->n; i++) {
		int fd = rep->fds[skip + i];

		rep->fds[skip + i] = -1;
		if (m->efd[r->first + i] >= 0 || fd < 0)
			return -EPROTO;
		m->efd[r->first + i] = fd;
	}
	return 0;
}

int ism_ivshmem_join(struct ism_conn *c, const char *name,
		     struct ism_ivshmem **out)
{
	struct ism_ivsh_join_rep jr;
	struct ism_ivshmem *m;
	struct ism_wbuf b;
	struct reply rep;
	struct stat st;
	int e;

	if (!c || !name || !out || !*name || strlen(name) > ISM_NAME_MAX)
		return -EINVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->c = c;
	m->memfd = -1;
	for (int v = 0; v < ISM_IVSHMEM_MAX_VECTORS; v++)
		m->efd[v] = -1;
	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_IVSH_JOIN);
	ism_proto_put_ivsh_join_req(&b, name);
	e = ism_proto_end(&b);
	if (e >= 0)
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e < 0)
		goto out;
	/* ismd's reply is checked like any input: sizes, counts, the fd. */
	if (ism_proto_get_ivsh_join_rep(&rep.rb, &jr) < 0 || jr.first != 0 ||
	    jr.vectors == 0 || rep.nfds < 1 || jr.size == 0 ||
	    (jr.size & (jr.size - 1)) || fstat(rep.fds[0], &st) < 0 ||
	    (uint64_t)st.st_size != jr.size) {
		e = -EPROTO;
		goto done;
	}
	m->domain = jr.domain;
	m->id = jr.id;
	m->vectors = jr.vectors;
	m->size = jr.size;
	m->memfd = rep.fds[0];
	rep.fds[0] = -1;
	if ((e = take_vectors(m, &jr, &rep, 1)) < 0)
		goto done;
	/* The rest of our eventfds, 15 at a time. */
	while (e == 0 && jr.first + jr.n < m->vectors) {
		struct ism_ivsh_req req = { .domain = m->domain,
					    .a = jr.first + jr.n };

		reply_close_fds(&rep);
		if ((e = call(c, ISM_MSG_IVSH_VECTORS, &req, &rep)) < 0)
			goto out;
		if (ism_proto_get_ivsh_join_rep(&rep.rb, &jr) < 0 ||
		    jr.first != req.a || jr.n == 0)
			e = -EPROTO;
		else
			e = take_vectors(m, &jr, &rep, 0);
	}
done:
	reply_close_fds(&rep);
out:
	pthread_mutex_unlock(&c->lock);
	if (e < 0) {
		if (m->domain && e != -EPROTO)
			ism_ivshmem_leave(m);
		else {
			ism_close_fd(&m->memfd);
			for (int v = 0; v < ISM_IVSHMEM_MAX_VECTORS; v++)
				ism_close_fd(&m->efd[v]);
			free(m);
		}
		return e;
	}
	*out = m;
	return 0;
}

uint32_t ism_ivshmem_domain_id(struct ism_ivshmem *m)
{
	return m->domain;
}

uint32_t ism_ivshmem_id(struct ism_ivshmem *m)
{
	return m->id;
}

uint32_t ism_ivshmem_vectors(struct ism_ivshmem *m)
{
	return m->vectors;
}

uint64_t ism_ivshmem_size(struct ism_ivshmem *m)
{
	return m->size;
}

int ism_ivshmem_map(struct ism_ivshmem *m, void **addr)
{
	if (!m->map) {
		void *p = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, m->memfd, 0);

		if (p == MAP_FAILED)
			return -errno;
		m->map = p;
	}
	*addr = m->map;
	return 0;
}

int ism_ivshmem_vector_fd(struct ism_ivshmem *m, uint32_t v)
{
	return v < m->vectors ? m->efd[v] : -EINVAL;
}

/* IVSH_LAYOUT once: the sizes, the state table and our output mapped. */
static int layout_locked(struct ism_ivshmem *m)
{
	struct ism_ivsh_req req = { .domain = m->domain };
	struct reply rep;
	int e;

	if (m->have_layout)
		return 0;
	if ((e = call(m->c, ISM_MSG_IVSH_LAYOUT, &req, &rep)) < 0)
		return e;
	if (ism_proto_get_ivsh_layout_rep(&rep.rb, &m->lay) < 0 ||
	    rep.nfds != (m->lay.layout == 2 ? 2u : 0u)) {
		e = -EPROTO;
	} else if (m->lay.layout == 2) {
		struct stat s0, s1;

		/* Sizes as announced, or the mappings could run past them. */
		if (fstat(rep.fds[0], &s0) < 0 || fstat(rep.fds[1], &s1) < 0 ||
		    (uint64_t)s0.st_size != m->lay.state_size ||
		    (uint64_t)s1.st_size != m->lay.output_size) {
			e = -EPROTO;
		} else {
			m->state = mmap(NULL, m->lay.state_size, PROT_READ,
					MAP_SHARED, rep.fds[0], 0);
			m->out = mmap(NULL, m->lay.output_size,
				      PROT_READ | PROT_WRITE, MAP_SHARED,
				      rep.fds[1], 0);
			if (m->state == MAP_FAILED || m->out == MAP_FAILED) {
				e = -errno;
				if (m->state != MAP_FAILED)
					munmap(m->state, m->lay.state_size);
				if (m->out != MAP_FAILED)
					munmap(m->out, m->lay.output_size);
				m->state = m->out = NULL;
			}
		}
	}
	reply_close_fds(&rep);
	if (e == 0)
		m->have_layout = true;
	return e;
}

int ism_ivshmem_layout(struct ism_ivshmem *m, struct ism_ivshmem_layout *out)
{
	int e;

	pthread_mutex_lock(&m->c->lock);
	e = layout_locked(m);
	pthread_mutex_unlock(&m->c->lock);
	if (e == 0) {
		memset(out, 0, sizeof(*out));
		out->layout = m->lay.layout;
		out->state_size = m->lay.state_size;
		out->output_size = m->lay.output_size;
	}
	return e;
}

/* The v2 layout, or -EOPNOTSUPP. */
static int v2(struct ism_ivshmem *m)
{
	struct ism_ivshmem_layout l = { 0 };
	int e = ism_ivshmem_layout(m, &l);

	return e < 0 ? e : l.layout == 2 ? 0 : -EOPNOTSUPP;
}

/* The table is ismd's _Atomic uint32_t array, stored with release (see
 * the barrier table in ism/ivshmem.h): its entries are plain 32-bit words
 * to every process that maps it, as they must be for C++ readers and
 * guests. */
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "table entry");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free, hence address-free");

int ism_ivshmem_state_table(struct ism_ivshmem *m,
			    const _Atomic uint32_t **table)
{
	int e = v2(m);

	if (e == 0)
		*table = m->state;
	return e;
}

int ism_ivshmem_output(struct ism_ivshmem *m, void **addr)
{
	int e = v2(m);

	if (e == 0)
		*addr = m->out;
	return e;
}

int ism_ivshmem_set_state(struct ism_ivshmem *m, uint32_t value)
{
	struct ism_ivsh_req req = { .domain = m->domain, .a = value };
	struct reply rep;
	int e = v2(m);

	if (e < 0)
		return e;
	pthread_mutex_lock(&m->c->lock);
	e = call(m->c, ISM_MSG_IVSH_STATE, &req, &rep);
	if (e >= 0) {
		e = ism_proto_get_empty(&rep.rb) < 0 ? -EPROTO : 0;
		reply_close_fds(&rep);
	}
	pthread_mutex_unlock(&m->c->lock);
	return e;
}

/* The cache entry for @peer's section, added if new; NULL if no memory. */
static struct peer_out *slot_for(struct ism_ivshmem *m, uint32_t peer)
{
	struct peer_out *o;

	for (uint32_t i = 0; i < m->n_others; i++)
		if (m->others[i].id == peer)
			return &m->others[i];
	o = realloc(m->others, (m->n_others + 1) * sizeof(*o));
	if (!o)
		return NULL;
	m->others = o;
	o += m->n_others++;
	o->id = peer;
	o->ino = 0;
	o->map = NULL;
	return o;
}

int ism_ivshmem_peer_output(struct ism_ivshmem *m, uint32_t peer,
			    const void **addr)
{
	struct ism_ivsh_req req = { .domain = m->domain, .a = peer };
	uint32_t ids[ISM_IVSH_FDS_PER_MSG], n = 0;
	struct peer_out *slot;
	struct reply rep;
	struct stat st;
	int e = v2(m), fd;

	if (e < 0)
		return e;
	if (peer > 0xffff)
		return -EINVAL;
	pthread_mutex_lock(&m->c->lock);
	e = call(m->c, ISM_MSG_IVSH_SECTIONS, &req, &rep);
	if (e < 0)
		goto out;
	if (ism_proto_get_ivsh_sections_rep(&rep.rb, ids, &n) < 0 ||
	    rep.nfds != n) {
		e = -EPROTO;
		goto done;
	}
	if (n == 0 || ids[0] != peer) {
		e = -ENOENT;
		goto done;
	}
	fd = rep.fds[0];
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != m->lay.output_size) {
		e = -EPROTO;
		goto done;
	}
	if (!(slot = slot_for(m, peer))) {
		e = -ENOMEM;
		goto done;
	}
	if (slot->map && slot->ino != st.st_ino) {
		/* A new member under a reused id: a new section. */
		munmap(slot->map, m->lay.output_size);
		slot->map = NULL;
	}
	if (!slot->map) {
		void *p = mmap(NULL, m->lay.output_size, PROT_READ, MAP_SHARED,
			       fd, 0);

		if (p == MAP_FAILED) {
			e = -errno; /* the slot stays empty: tried again */
			goto done;
		}
		slot->map = p;
		slot->ino = st.st_ino;
	}
	*addr = slot->map;
done:
	reply_close_fds(&rep);
out:
	pthread_mutex_unlock(&m->c->lock);
	return e;
}

void ism_ivshmem_leave(struct ism_ivshmem *m)
{
	struct ism_ivsh_req req;
	struct reply rep;

	if (!m)
		return;
	req = (struct ism_ivsh_req){ .domain = m->domain };
	pthread_mutex_lock(&m->c->lock);
	if (call(m->c, ISM_MSG_IVSH_LEAVE, &req, &rep) >= 0)
		reply_close_fds(&rep);
	pthread_mutex_unlock(&m->c->lock);
	if (m->map)
		munmap(m->map, m->size);
	if (m->state)
		munmap(m->state, m->lay.state_size);
	if (m->out)
		munmap(m->out, m->lay.output_size);
	for (uint32_t i = 0; i < m->n_others; i++)
		if (m->others[i].map)
			munmap(m->others[i].map, m->lay.output_size);
	free(m->others);
	ism_close_fd(&m->memfd);
	for (int v = 0; v < ISM_IVSHMEM_MAX_VECTORS; v++)
		ism_close_fd(&m->efd[v]);
	free(m);
}

/* ---- channels over the domain (ism/ivchan.h) ---- */

/* A kick: one IVSH_RING round trip (ismd writes the eventfd: it may be
 * a QEMU's, which could make a write block). */
static int host_ring(void *ctx, uint32_t peer, uint32_t vector)
{
	struct ism_ivshmem *m = ctx;

	return ism_ivshmem_ring(m->c, m->domain, peer, vector);
}

/* Sleep on our vectors' eventfds; drain the ones rung. */
static int host_wait(void *ctx, int timeout_ms)
{
	struct ism_ivshmem *m = ctx;
	struct pollfd p[ISM_IVSHMEM_MAX_VECTORS];
	uint64_t v;
	int n;

	for (uint32_t i = 0; i < m->vectors; i++)
		p[i] = (struct pollfd){ .fd = m->efd[i], .events = POLLIN };
	n = poll(p, m->vectors, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (uint32_t i = 0; i < m->vectors && n; i++)
		if (p[i].revents & POLLIN)
			(void)!read(p[i].fd, &v, sizeof(v));
	return 0;
}

static const struct ism_ivdom_ops host_ops = { host_ring, host_wait };

int ism_ivshmem_ivdom(struct ism_ivshmem *m, struct ism_ivdom **out)
{
	void *mem = NULL;
	int e;

	*out = NULL;
	if ((e = ism_ivshmem_map(m, &mem)) < 0)
		return e;
	return ism_ivdom_open(mem, m->size, m->id, m->vectors, &host_ops, m,
			      out);
}
