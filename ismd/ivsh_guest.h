/* SPDX-License-Identifier: MIT */
/*
 * ivsh_guest - guests as ism peers (--ivshmem ...,control=on; docs/vm.md,
 * "Guests as ism peers"): ismd is a member of the domain and serves its
 * control protocol to each guest over an ivchan channel.
 */
#ifndef ISMD_IVSH_GUEST_H
#define ISMD_IVSH_GUEST_H

#include <stdint.h>

struct daemon;
struct ivsh_domain;

/* Join @dom as a member and accept guests' control channels: 0 or
 * -errno.  Called once the domain is up (control=on). */
int ivsh_guest_open(struct daemon *d, struct ivsh_domain *dom);
/* End every guest's channel, leave (before the domain's peers go). */
void ivsh_guest_close(struct daemon *d, struct ivsh_domain *dom);
/* dispatch.c, for a guest's decoded request (PEER_GUEST): 0, or
 * -EOPNOTSUPP for what would hand it fds, which it cannot receive: every
 * request whose reply carries fds but ALLOC (its fd is dropped: the
 * guest reads and writes through ismd) and ATTACH with ISM_ATTACH_NOFD. */
int ivsh_guest_check(uint16_t type, const void *req);

#endif
