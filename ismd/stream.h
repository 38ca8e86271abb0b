/* SPDX-License-Identifier: MIT */
/*
 * stream - ismd as the out-of-band witness for ism streams (stream.c).
 */
#ifndef ISMD_STREAM_H
#define ISMD_STREAM_H

#include "util/list.h"
#include "util/map.h"

#include <stdint.h>

struct daemon;
struct peer;

/* What ismd knows of streams (stream.c's). */
struct stream_set {
	struct ism_list all; /* every record, in id order */
	struct ism_map by_id;
	struct ism_map intents;		  /* (netns, folded address): a chain */
	struct ism_map listeners_by_port; /* (netns, port): a chain */
	struct ism_map listeners_by_cookie; /* socket cookie -> listener */
	/* Across network namespaces (stream.c): */
	struct ism_map xns_listeners; /* (port, 0): listeners with a nsfd */
	struct ism_map xns_intents;   /* (folded address, 0): any netns */
	struct ism_list proving;      /* server OPENs awaiting proofs */
	uint32_t n_xns_intents;	      /* pending ones */
	uint64_t next_id;
	uint32_t n;
};

void stream_init(struct daemon *d);
void stream_fini(struct daemon *d);
void stream_release_peer(struct daemon *d, struct peer *p);
/* Periodic: answer servers whose proofs across namespaces took too long
 * (TCP). */
void stream_tick(struct daemon *d, uint64_t now);

#endif
