/* SPDX-License-Identifier: MIT */
/*
 * streamctl - the stream requests to ismd (docs/protocol.md, STREAM_*).
 * Used by lib/stream; none of them waits for a lost ismd to return, since
 * every caller has TCP to fall back on.
 */
#include "client.h"
#include "util/util.h"

#include <errno.h>

/* Send c->tx (@len bytes, @fd if >= 0) and decode a stream reply. */
static int call_locked(struct ism_conn *c, int len, int fd,
		       struct ism_stream_rep *out)
{
	struct reply rep;
	int e;

	if (len < 0)
		return len;
	e = conn_call_nowait_locked(c, (size_t)len, fd >= 0 ? &fd : NULL,
				    fd >= 0 ? 1 : 0, &rep);
	if (e < 0)
		return e;
	e = ism_proto_get_stream_rep(&rep.rb, out) < 0 ? -EPROTO : 0;
	reply_close_fds(&rep);
	return e;
}

int conn_stream_open(struct ism_conn *c, const struct ism_stream_open_req *req,
		     int fd, struct ism_stream_rep *rep, uint32_t *gen)
{
	struct ism_wbuf b;
	int e;

	pthread_mutex_lock(&c->lock);
	conn_begin_locked(c, &b, ISM_MSG_STREAM_OPEN);
	ism_proto_put_stream_open_req(&b, req);
	e = call_locked(c, ism_proto_end(&b), fd, rep);
	*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* A request naming record @id, on the connection it was made on. */
static int call_id(struct ism_conn *c, uint16_t type, uint64_t id, uint32_t gen,
		   struct ism_stream_rep *rep)
{
	struct ism_wbuf b;
	int e;

	pthread_mutex_lock(&c->lock);
	if (c->gen != gen) {
		pthread_mutex_unlock(&c->lock);
		return -ENOTCONN;
	}
	conn_begin_locked(c, &b, type);
	ism_proto_put_region_req(&b, id);
	e = call_locked(c, ism_proto_end(&b), -1, rep);
	pthread_mutex_unlock(&c->lock);
	return e;
}

int conn_stream_resolve(struct ism_conn *c, uint64_t id, uint32_t gen,
			struct ism_stream_rep *rep)
{
	return call_id(c, ISM_MSG_STREAM_RESOLVE, id, gen, rep);
}

int conn_stream_check(struct ism_conn *c, uint64_t id, uint32_t gen,
		      struct ism_stream_rep *rep)
{
	return call_id(c, ISM_MSG_STREAM_CHECK, id, gen, rep);
}

/* NOREPLY requests: sent if the ismd that holds the record is up, dropped
 * otherwise (its records died with it; a new ismd may reuse the id). */
static int send_locked(struct ism_conn *c, int len, uint32_t gen)
{
	if (len < 0)
		return len;
	if (c->state != CONN_UP || c->gen != gen)
		return -ENOTCONN;
	return conn_send_locked(c, (size_t)len);
}

int conn_stream_update(struct ism_conn *c, uint64_t id, uint32_t gen,
		       uint32_t path, uint32_t reason)
{
	struct ism_stream_update_req req = {
		.id = id,
		.path = path,
		.reason = reason,
	};
	struct ism_wbuf b;
	int e;

	pthread_mutex_lock(&c->lock);
	conn_begin_flags_locked(c, &b, ISM_MSG_STREAM_UPDATE,
				ISM_WIRE_F_NOREPLY);
	ism_proto_put_stream_update_req(&b, &req);
	e = send_locked(c, ism_proto_end(&b), gen);
	pthread_mutex_unlock(&c->lock);
	return e;
}

int conn_stream_close(struct ism_conn *c, uint64_t id, uint32_t gen)
{
	struct ism_wbuf b;
	int e;

	pthread_mutex_lock(&c->lock);
	conn_begin_flags_locked(c, &b, ISM_MSG_STREAM_CLOSE,
				ISM_WIRE_F_NOREPLY);
	ism_proto_put_region_req(&b, id);
	e = send_locked(c, ism_proto_end(&b), gen);
	pthread_mutex_unlock(&c->lock);
	return e;
}
