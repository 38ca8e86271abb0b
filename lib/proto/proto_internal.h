/* SPDX-License-Identifier: MIT */
/*
 * proto_internal - what the proto_*.c files share: the checks every
 * decoder makes.  Not for use outside lib/proto.
 */
#ifndef ISM_PROTO_INTERNAL_H
#define ISM_PROTO_INTERNAL_H

#include "proto.h"
#include "util/util.h"

/* Reserved fields are sent as zero and must be zero: a later protocol
 * version that gives them meaning negotiates it in HELLO first. */
void proto_reserved32(struct ism_rbuf *b, int *bad);
/* The end of a decoder: the cursor's error, leftover bytes (-EBADMSG),
 * or an out-of-range value seen on the way (@bad: -EINVAL). */
int proto_finish(struct ism_rbuf *b, int bad);
int proto_access_valid(uint32_t a);
void proto_put_acl(struct ism_wbuf *b, const struct ism_acl *acl);
void proto_get_acl(struct ism_rbuf *b, struct ism_acl *acl, int *bad);
/* A list reply's head: the next cursor and the entry count. */
void proto_put_list_head(struct ism_wbuf *b, uint64_t next, uint32_t n);
int proto_get_list_head(struct ism_rbuf *b, uint64_t *next, uint32_t cap,
			uint32_t *n, int *bad);

#endif
