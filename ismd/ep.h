/* SPDX-License-Identifier: MIT */
/*
 * ep - an epoll registration that carries its own handler (sd-event's
 * shape): the loop (daemon.c) calls src->fn for each ready one, so a new
 * kind of fd is a new handler, not a new case in a switch.
 */
#ifndef ISMD_EP_H
#define ISMD_EP_H

#include <stdint.h>

struct daemon;

struct ep_source {
	void (*fn)(struct daemon *d, struct ep_source *src, uint32_t events);
};

#endif
