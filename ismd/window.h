/* SPDX-License-Identifier: MIT */
/*
 * window - windows registered by peers, and the mappings of regions other
 * peers ask ismd to make in them (window.c; docs/windows.md).
 */
#ifndef ISMD_WINDOW_H
#define ISMD_WINDOW_H

#include "util/list.h"
#include "util/map.h"

#include <stdint.h>

struct daemon;
struct peer;
struct region;

/* What ismd knows of windows (window.c's). */
struct window_set {
	struct ism_map by_id;	  /* window id -> struct window */
	struct ism_map maps;	  /* mapping id -> struct wmap */
	struct ism_map by_region; /* region id -> struct wregion */
	struct ism_map by_peer;	  /* peer id -> struct wpeer */
	struct ism_list pending;  /* wmaps awaiting their owner, oldest first */
	struct ism_list revokes;  /* revocations whose owners all answered:
				   * completed at reap (window_reap) */
	uint32_t n_windows, n_maps;
	uint64_t next_window, next_map;
};

void window_init(struct daemon *d);
void window_fini(struct daemon *d);
/* End of a loop iteration: finish the revocations whose window owners
 * all answered. */
void window_reap(struct daemon *d);
/* Housekeeping: owners that did not answer in time. */
void window_tick(struct daemon *d, uint64_t now);
/* @p is going away: its windows, its mappings. */
void window_release_peer(struct daemon *d, struct peer *p);
/*
 * Region @r stops being live (destroy, revocation, owner gone): every
 * window mapping of it is unmapped.  Returns 0 if none was waiting, or 1
 * if the owners of the windows must first confirm: @done(@d, @arg) is
 * then called once they all did (or were cut off), at the end of a loop
 * iteration.  With @done NULL, the owners are told and nothing waits.
 */
int window_region_ending(struct daemon *d, struct region *r,
			 void (*done)(struct daemon *d, void *arg), void *arg);

#endif
