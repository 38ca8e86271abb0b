/* SPDX-License-Identifier: MIT */
/*
 * region - libism's region handles: alloc, attach, map, read/write through
 * ismd, notify, detach, destroy.
 *
 * A link socket an attacher gets came from the region's owner, who may
 * have queued fds in it whose last close blocks (see util/bgclose.h): it
 * is closed with ism_bgclose(), and never under the connection's lock.
 */
#include "client.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int region_free_locked(struct ism_region *r)
{
	int link = r->link;

	if (r->map)
		munmap(r->map, r->size);
	ism_close_fd(&r->fd);
	ism_list_del(&r->link_node);
	ism_map_del(&r->c->by_id, r->id, 0);
	free(r->acl);
	free(r);
	return link;
}

void region_mark_gone_locked(struct ism_conn *c, uint64_t id)
{
	struct ism_region *r = ism_map_get(&c->by_id, id, 0);

	if (r)
		r->gone = true;
}

/* The fd ismd handed us must really back @size bytes, or mapping it
 * would SIGBUS on first touch. */
static int check_fd(int fd, uint64_t size, bool writable)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < size)
		return -EPROTO;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (writable && (fl & O_ACCMODE) != O_RDWR)
		return -EPROTO;
	return 0;
}

static int add_region_locked(struct ism_conn *c, struct ism_region *r)
{
	int e = ism_map_put(&c->by_id, r->id, 0, r);

	if (e == -EEXIST) {
		/* ismd never hands out the same region twice per peer. */
		return -EPROTO;
	}
	if (e < 0)
		return e;
	ism_list_add_tail(&c->regions, &r->link_node);
	return 0;
}

static struct ism_region *new_region(struct ism_conn *c)
{
	struct ism_region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->c = c;
	r->fd = -1;
	r->link = -1;
	ism_list_init(&r->link_node);
	return r;
}

int ism_region_alloc(struct ism_conn *c, uint64_t size,
		     const struct ism_alloc_opts *opts, struct ism_region **out)
{
	struct ism_alloc_opts o;
	struct ism_alloc_req req = { 0 };
	struct ism_alloc_rep ar;
	struct ism_region *r = NULL;
	struct ism_wbuf b;
	struct reply rep;
	int e;

	*out = NULL;
	e = ism_opts_copy(&o, sizeof(o),
			  ISM_OPTS_SIZE_VER0(struct ism_alloc_opts, link_fd),
			  opts);
	if (e < 0)
		return e;
	if (size == 0 || size > ISM_REGION_SIZE_MAX)
		return -EINVAL;
	if (o.n_peers > ISM_ACL_MAX || o.n_uids > ISM_ACL_MAX ||
	    (o.n_peers && !o.peers) || (o.n_uids && !o.uids))
		return -EINVAL;
	if (o.name && (strlen(o.name) > ISM_NAME_MAX ||
		       !ism_name_valid(o.name, strlen(o.name), ISM_NAME_MAX)))
		return -EINVAL;
	if ((o.flags & ISM_ALLOC_LINK) && o.link_fd < 0)
		return -EBADF;
	req.size = size;
	req.flags = o.flags;
	req.max_access = o.max_access ? o.max_access : ISM_ACCESS_RO;
	req.acl.n_peers = o.n_peers;
	req.acl.n_uids = o.n_uids;
	if (o.n_peers)
		memcpy(req.acl.peers, o.peers, o.n_peers * sizeof(uint64_t));
	if (o.n_uids)
		memcpy(req.acl.uids, o.uids, o.n_uids * sizeof(uint32_t));
	if (o.name)
		ism_strlcpy(req.name, o.name, sizeof(req.name));

	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_ALLOC);
	ism_proto_put_alloc_req(&b, &req);
	e = ism_proto_end(&b);
	if (e < 0)
		goto out;
	e = conn_call_locked(c, (size_t)e, &o.link_fd,
			     (o.flags & ISM_ALLOC_LINK) ? 1 : 0, &rep);
	if (e < 0)
		goto out;
	e = ism_proto_get_alloc_rep(&rep.rb, &ar);
	if (e < 0 || rep.nfds != 1 || ar.size < size) {
		reply_close_fds(&rep);
		e = -EPROTO;
		goto out;
	}
	r = new_region(c);
	if (!r) {
		reply_close_fds(&rep);
		e = -ENOMEM;
		goto out;
	}
	r->fd = rep.fds[0];
	r->id = ar.region;
	r->owner = c->peer_id;
	r->size = ar.size;
	r->page_size = ar.page_size;
	r->access = ISM_ACCESS_RW;
	r->max_access = ar.max_access;
	r->is_owner = true;
	r->huge = ar.flags & ISM_RFLAG_HUGE;
	r->linger = ar.flags & ISM_RFLAG_LINGER;
	r->huge_errno = (int)ar.huge_errno;
	memcpy(r->token.b, ar.token, ISM_TOKEN_SIZE);
	memcpy(r->proof, ar.proof, ISM_PROOF_SIZE);
	ism_strlcpy(r->name, req.name, sizeof(r->name));
	e = 0;
	if (req.acl.n_peers || req.acl.n_uids) {
		/* Kept to re-register the same grant after an ismd restart. */
		r->acl = malloc(sizeof(*r->acl));
		if (r->acl)
			*r->acl = req.acl;
		else
			e = -ENOMEM;
	}
	if (e == 0)
		e = check_fd(r->fd, r->size, true);
	if (e == 0)
		e = add_region_locked(c, r);
	if (e < 0) {
		ism_close_fd(&r->fd);
		free(r->acl);
		free(r);
		goto out;
	}
	*out = r;
	e = 0;
out:
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_region_attach(struct ism_conn *c, const struct ism_token *tok,
		      uint32_t access, uint32_t flags, struct ism_region **out)
{
	struct ism_attach_req req = { .access = access, .flags = flags };
	struct ism_attach_rep ar;
	struct ism_region *r;
	struct ism_wbuf b;
	struct reply rep;
	unsigned want_fds = (flags & ISM_ATTACH_NOFD) ? 0 : 1;
	int stray[ISM_WIRE_MAX_FDS]; /* refused: closed after the unlock */
	unsigned nstray = 0;
	int e;

	*out = NULL;
	if ((access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) ||
	    (flags & ~(uint32_t)ISM_ATTACH_NOFD))
		return -EINVAL;
	memcpy(req.token, tok->b, ISM_TOKEN_SIZE);

	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_ATTACH);
	ism_proto_put_attach_req(&b, &req);
	e = ism_proto_end(&b);
	if (e < 0)
		goto out;
	e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e < 0)
		goto out;
	e = ism_proto_get_attach_rep(&rep.rb, &ar);
	if (e == 0 && (ar.flags & ISM_ATTACH_R_LINK))
		want_fds = 2;
	if (want_fds == 2 && rep.nfds == 2) {
		/* Our end of the owner's link: from now on it cannot put
		 * fds in flight to us on it (where the kernel can say so).
		 * Defence in depth only: what it queued before is there,
		 * and if it kept a descriptor of this end it can turn the
		 * option back on, so the link still goes to ism_bgclose(). */
		ism_refuse_fds(rep.fds[1]);
	}
	if (e < 0 || rep.nfds != want_fds || ar.access != access ||
	    !!(ar.flags & ISM_ATTACH_R_NOFD) != !want_fds) {
		e = -EPROTO;
		goto refuse;
	}
	r = new_region(c);
	if (!r) {
		e = -ENOMEM;
		goto refuse;
	}
	r->fd = want_fds ? rep.fds[0] : -1;
	r->link = want_fds == 2 ? rep.fds[1] : -1;
	r->id = ar.region;
	r->owner = ar.owner;
	r->size = ar.size;
	r->page_size = ar.page_size;
	r->access = ar.access;
	r->nofd = !want_fds;
	r->huge = ar.flags & ISM_ATTACH_R_HUGE;
	r->token = *tok;
	if ((want_fds &&
	     (e = check_fd(r->fd, r->size, access == ISM_ACCESS_RW)) < 0) ||
	    (e = add_region_locked(c, r)) < 0) {
		free(r);
		goto refuse;
	}
	*out = r;
	e = 0;
	goto out;
refuse:
	/* Whatever came, the owner's link among them, goes without us
	 * waiting on it. */
	memcpy(stray, rep.fds, rep.nfds * sizeof(int));
	nstray = rep.nfds;
	rep.nfds = 0;
out:
	pthread_mutex_unlock(&c->lock);
	ism_bgclose_fds(stray, nstray);
	return e;
}

int ism_region_take_link(struct ism_region *r)
{
	int fd;

	pthread_mutex_lock(&r->c->lock);
	fd = r->link;
	r->link = -1;
	pthread_mutex_unlock(&r->c->lock);
	return fd;
}

int ism_region_map(struct ism_region *r, void **addr)
{
	struct ism_conn *c = r->c;
	int e = 0;

	pthread_mutex_lock(&c->lock);
	if (r->fd < 0) {
		e = -EBADF;
	} else if (!r->map) {
		int prot = PROT_READ |
			   (r->access == ISM_ACCESS_RW ? PROT_WRITE : 0);
		void *p = mmap(NULL, r->size, prot, MAP_SHARED, r->fd, 0);

		if (p == MAP_FAILED)
			e = -errno;
		else
			r->map = p;
	}
	if (e == 0)
		*addr = r->map;
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_region_fd(struct ism_region *r)
{
	return r->fd;
}

/* 0.2: struct ism_region_info grew its reserved tail (0.1: compat.c). */
int ism_region_info(struct ism_region *r, struct ism_region_info *info)
{
	pthread_mutex_lock(&r->c->lock);
	memset(info, 0, sizeof(*info));
	info->id = r->id;
	info->owner = r->owner;
	info->size = r->size;
	info->page_size = r->page_size;
	info->access = r->access;
	info->max_access = r->is_owner ? r->max_access : 0;
	info->is_owner = r->is_owner;
	info->nofd = r->nofd;
	info->huge = r->huge;
	info->huge_errno = r->huge_errno;
	info->gone = r->gone;
	info->linger = r->linger;
	info->token = r->token;
	pthread_mutex_unlock(&r->c->lock);
	return 0;
}

uint64_t ism_region_id(struct ism_region *r)
{
	return r->id;
}

uint64_t ism_region_size(struct ism_region *r)
{
	return r->size;
}

void ism_region_token(struct ism_region *r, struct ism_token *tok)
{
	*tok = r->token;
}

static int range_ok(const struct ism_region *r, uint64_t off, size_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, (uint64_t)len, &end) &&
	       end <= r->size;
}

ssize_t ism_region_read(struct ism_region *r, uint64_t off, void *buf,
			size_t len)
{
	struct ism_conn *c = r->c;
	uint8_t *dst = buf;
	size_t done = 0;
	int e = 0;

	if (!range_ok(r, off, len) || len > SSIZE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	while (done < len) {
		struct ism_read_req req = {
			.region = r->id,
			.offset = off + done,
			.len = (uint32_t)ISM_MIN(len - done, (size_t)c->max_rw),
		};
		const uint8_t *data;
		uint32_t n;
		struct ism_wbuf b;
		struct reply rep;

		conn_begin_locked(c, &b, ISM_MSG_READ);
		ism_proto_put_read_req(&b, &req);
		e = ism_proto_end(&b);
		if (e < 0)
			break;
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
		if (e < 0)
			break;
		e = ism_proto_get_read_rep(&rep.rb, &data, &n);
		if (e < 0 || rep.nfds || n != req.len) {
			reply_close_fds(&rep);
			e = -EPROTO;
			break;
		}
		memcpy(dst + done, data, n);
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	return e < 0 ? e : (ssize_t)done;
}

ssize_t ism_region_write(struct ism_region *r, uint64_t off, const void *buf,
			 size_t len)
{
	struct ism_conn *c = r->c;
	const uint8_t *src = buf;
	size_t done = 0;
	int e = 0;

	if (!range_ok(r, off, len) || len > SSIZE_MAX)
		return -EINVAL;
	if (r->access != ISM_ACCESS_RW)
		return -EACCES;
	pthread_mutex_lock(&c->lock);
	while (done < len) {
		struct ism_write_req req = {
			.region = r->id,
			.offset = off + done,
			.len = (uint32_t)ISM_MIN(len - done, (size_t)c->max_rw),
			.data = src + done,
		};
		uint32_t n;
		struct ism_wbuf b;
		struct reply rep;

		conn_begin_locked(c, &b, ISM_MSG_WRITE);
		ism_proto_put_write_req(&b, &req);
		e = ism_proto_end(&b);
		if (e < 0)
			break;
		e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
		if (e < 0)
			break;
		e = ism_proto_get_count_rep(&rep.rb, &n);
		reply_close_fds(&rep);
		if (e < 0 || n != req.len) {
			e = -EPROTO;
			break;
		}
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	return e < 0 ? e : (ssize_t)done;
}

/* A request carrying one region id (or id + value) with a count reply. */
static int count_call_locked(struct ism_conn *c, uint16_t type, uint64_t id,
			     const uint64_t *value)
{
	struct ism_wbuf b;
	struct reply rep;
	uint32_t n;
	int e;

	conn_begin_locked(c, &b, type);
	if (value) {
		struct ism_notify_req nr = { .region = id, .value = *value };

		ism_proto_put_notify_req(&b, &nr);
	} else {
		ism_proto_put_region_req(&b, id);
	}
	e = ism_proto_end(&b);
	if (e < 0)
		return e;
	e = conn_call_locked(c, (size_t)e, NULL, 0, &rep);
	if (e < 0)
		return e;
	if (type == ISM_MSG_DETACH) {
		e = ism_proto_get_empty(&rep.rb);
		n = 0;
	} else {
		e = ism_proto_get_count_rep(&rep.rb, &n);
	}
	reply_close_fds(&rep);
	return e < 0 ? -EPROTO : (int)n;
}

int ism_region_notify(struct ism_region *r, uint64_t value)
{
	int e;

	pthread_mutex_lock(&r->c->lock);
	e = r->gone ? -ENOENT
		    : count_call_locked(r->c, ISM_MSG_NOTIFY, r->id, &value);
	pthread_mutex_unlock(&r->c->lock);
	return e;
}

int ism_region_notify_nowait(struct ism_region *r, uint64_t value)
{
	struct ism_conn *c = r->c;
	struct ism_notify_req nr = { .region = r->id, .value = value };
	struct ism_wbuf b;
	int e;

	pthread_mutex_lock(&c->lock);
	if (r->gone) {
		e = -ENOENT;
	} else {
		conn_begin_flags_locked(c, &b, ISM_MSG_NOTIFY,
					ISM_WIRE_F_NOREPLY);
		ism_proto_put_notify_req(&b, &nr);
		e = ism_proto_end(&b);
		if (e > 0)
			e = conn_send_locked(c, (size_t)e);
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

int ism_region_detach(struct ism_region *r)
{
	int e = 0;

	pthread_mutex_lock(&r->c->lock);
	if (r->is_owner) {
		e = -EPERM;
	} else if (!r->gone) {
		e = count_call_locked(r->c, ISM_MSG_DETACH, r->id, NULL);
		if (e == 0 || e == -ENOENT)
			r->gone = true;
	}
	pthread_mutex_unlock(&r->c->lock);
	return e;
}

int ism_region_destroy(struct ism_region *r)
{
	int e;

	pthread_mutex_lock(&r->c->lock);
	if (!r->is_owner) {
		e = -EPERM;
	} else if (r->gone) {
		e = -ENOENT;
	} else {
		e = count_call_locked(r->c, ISM_MSG_DESTROY, r->id, NULL);
		if (e >= 0 || e == -ENOENT)
			r->gone = true;
	}
	pthread_mutex_unlock(&r->c->lock);
	return e;
}

int ism_region_close(struct ism_region *r)
{
	struct ism_conn *c;
	int e = 0, link;

	if (!r)
		return 0;
	c = r->c;
	pthread_mutex_lock(&c->lock);
	if (!r->gone && c->state == CONN_UP) {
		e = count_call_locked(
			c, r->is_owner ? ISM_MSG_DESTROY : ISM_MSG_DETACH,
			r->id, NULL);
		if (e > 0)
			e = 0;
	} else if (r->gone && !r->is_owner && r->fd >= 0 &&
		   c->state == CONN_UP) {
		/* A lingering region its owner destroyed stays alive (and
		 * charged to the owner) while we may still read it: say
		 * we are done, so ismd can free it now. */
		(void)count_call_locked(c, ISM_MSG_DETACH, r->id, NULL);
	}
	link = region_free_locked(r);
	pthread_mutex_unlock(&c->lock);
	ism_bgclose(link);
	return e;
}

void ism_region_forget(struct ism_region *r)
{
	struct ism_conn *c;
	int link;

	if (!r)
		return;
	c = r->c;
	pthread_mutex_lock(&c->lock);
	link = region_free_locked(r);
	pthread_mutex_unlock(&c->lock);
	ism_bgclose(link);
}

struct ism_region *ism_region_find(struct ism_conn *c, uint64_t id)
{
	struct ism_region *r;

	pthread_mutex_lock(&c->lock);
	r = ism_map_get(&c->by_id, id, 0);
	pthread_mutex_unlock(&c->lock);
	return r;
}
