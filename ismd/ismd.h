/* SPDX-License-Identifier: MIT */
/*
 * ismd - the shared-memory device manager.
 *
 * Concepts: one epoll loop serves every peer.  A *peer*
 * is one accepted connection (one ISM device).  A *region* is a sealed
 * memfd ismd keeps one private fd to; peers get their own reopened fds
 * (read-only or read-write) so no peer shares an open file description
 * with ismd.  A *ref* links a peer to a region it owns or attached; the
 * owner's ref is flagged REF_OWNER.  Nothing here ever blocks on a peer:
 * sockets are non-blocking with bounded send queues, and doorbell writes
 * are queued for ringer threads (doorbell.h); whatever could wait on a
 * file a peer chose - closing it, populating memory it asked for - runs
 * on worker threads (worker.h, closer.h).  What peers make ismd hold is
 * charged to their uid (acct.h).
 *
 * Lifetime: peers and regions are freed only from daemon_reap(), at the
 * end of a loop iteration, so a fan-out loop never sees a freed peer; a
 * peer with a job in flight is freed once the job is done.
 */
#ifndef ISMD_H
#define ISMD_H

/* Every module's header: a .c file includes this, or just what it uses. */
#include "acct.h"
#include "closer.h"
#include "daemon.h"
#include "dispatch.h"
#include "doorbell.h"
#include "guard.h"
#include "ivsh.h"
#include "listen.h"
#include "log.h"
#include "memfd.h"
#include "peer.h"
#include "region.h"
#include "state.h"
#include "stream.h"
#include "window.h"
#include "worker.h"
#include "proto/proto.h"
#include "util/list.h"
#include "util/map.h"
#include "util/util.h"

#endif
