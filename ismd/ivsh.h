/* SPDX-License-Identifier: MIT */
/*
 * ivsh - ivshmem domains: QEMU's ivshmem-doorbell devices and ism peers
 * sharing memory and doorbells (docs/ivshmem.md; ivsh_*.c).
 */
#ifndef ISMD_IVSH_H
#define ISMD_IVSH_H

#include "util/list.h"

#include <ism/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

struct daemon;
struct peer;

#define IVSH_MAX_DOMAINS   16
#define IVSH_MAX_PEERS	   256
#define IVSH_DEFAULT_PEERS 32
#define IVSH_GUEST_UID	   65534u /* guests' uid by default: nobody */

struct ivsh_spec {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[ISM_NAME_MAX + 1];
	uint64_t size; /* a power of two */
	uint32_t vectors, max_peers;
	uint32_t n_uids; /* besides administrators, these uids may join */
	uid_t uids[8];
	bool v2;	 /* layout=v2: a state table and output sections */
	bool chan;	 /* channels=on: the ivchan rendezvous (docs/vm.md) */
	bool control;	 /* control=on: ismd serves guests as peers */
	uid_t guest_uid; /* ... as this uid (ivsh_guest.c) */
	uint64_t output; /* v2: each peer's output section */
};
/* The domains (ivsh_qemu.c's). */
struct ivsh_set {
	struct ism_list domains, reap;
};

/* ivshmem domains.  Parse "PATH,size=..." (0, or
 * -errno with a one-line reason in @err); open the configured domains;
 * free dropped peers (at reap). */
struct ivsh_domain;
struct ivsh_peer;
int ivsh_parse(const char *arg, struct ivsh_spec *s, char *err, size_t errlen);
/* The empty set (before anything can fail: ivsh_fini is then safe). */
void ivsh_setup(struct daemon *d);
int ivsh_init(struct daemon *d);
void ivsh_fini(struct daemon *d);
void ivsh_reap(struct daemon *d);
/* Leave every domain @p joined (it is going away). */
void ivsh_release_peer(struct daemon *d, struct peer *p);

#endif
