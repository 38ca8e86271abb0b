/* SPDX-License-Identifier: MIT */
/*
 * dispatch - one request, one handler, one reply.
 *
 * Every request type has a row in lib/proto/messages.def, which names its
 * handler, op_<handler>(), its codecs and how many fds it may carry.  The
 * dispatcher (dispatch.c) checks the header against the row (fds, NOREPLY,
 * before-HELLO, administrators), decodes the payload into the row's host
 * struct, calls the handler, and sends the reply the handler built - or
 * an error reply, or nothing when the requester asked for none.  Handlers
 * never send their own replies; only jobs that answer later do
 * (req_reply_later).
 */
#ifndef ISMD_DISPATCH_H
#define ISMD_DISPATCH_H

#include "proto/proto.h"

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct peer;
struct acct;

/* What happens to an fd the reply carries once it is sent. */
enum req_fd {
	REQ_FD_BORROWED, /* someone else's (a doorbell's eventfd): left open */
	REQ_FD_OURS,	 /* made for this reply (a reopen): closed */
	REQ_FD_PEERS,	 /* a peer's file (a link): closed by a worker */
};

struct req {
	const struct ism_msg_desc *desc;
	struct ism_wire_hdr hdr;
	const void *in; /* the decoded request: desc->req's host struct */
	int *fds;	/* received; a handler keeps one by setting it to -1 */
	unsigned nfds;
	bool noreply; /* the requester wants no reply, success or failure */
	struct ism_wbuf out; /* the reply's payload goes here */
	int out_fds[ISM_WIRE_MAX_FDS];
	uint8_t out_kind[ISM_WIRE_MAX_FDS]; /* enum req_fd */
	unsigned out_nfds;
	struct acct *peers_acct; /* charged for the REQ_FD_PEERS fds */
	const char *kill_after;	 /* drop the peer once the reply is out */
};

/* A handler's "the reply comes later" (a job is running). */
#define ISMD_ASYNC 1

/* Attach @fd to the reply. */
void req_add_fd(struct req *rq, int fd, enum req_fd kind);

/*
 * Handle one received request.  Returns after the reply (if any) is sent
 * or queued; the fds still in @fds afterwards are the caller's to close.
 */
void dispatch_request(struct daemon *d, struct peer *p,
		      const struct ism_wire_hdr *h, struct ism_rbuf *rb,
		      int *fds, unsigned nfds);

/*
 * For jobs answering a request that returned ISMD_ASYNC: begin a reply
 * (type, seq) in d->tx, to be finished with req_send_later(); or send an
 * error reply.
 */
void req_begin_later(struct daemon *d, struct ism_wbuf *b, uint16_t type,
		     uint32_t seq);
void req_send_later(struct daemon *d, struct peer *p, struct ism_wbuf *b,
		    const int *fds, unsigned nfds);

/* The handlers, one per row of messages.def. */
#define ISM_REQ(NAME, t, nm, handler, ...)                                     \
	int op_##handler(struct daemon *d, struct peer *p, struct req *rq);
#define ISM_EVENT(...)
#include "proto/messages.def"
#undef ISM_REQ
#undef ISM_EVENT

#endif
