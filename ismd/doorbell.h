/* SPDX-License-Identifier: MIT */
/*
 * doorbell - ringing eventfds that others hold, off the event loop.
 *
 * A doorbell is an eventfd whose open file description someone else
 * shares: a peer's own (HELLO), or an ivshmem member's, which every QEMU
 * in the domain receives.  Whoever shares it can clear O_NONBLOCK and
 * saturate the counter, and the kernel has no per-call non-blocking write
 * for an eventfd (pwritev2 RWF_NOWAIT is refused), so a write() could wait
 * for as long as they like.  So the loop never writes one: it queues a
 * ring (coalesced: a doorbell is queued at most once) for a ringer thread,
 * which checks O_NONBLOCK before writing and writes guarded (guard.h).
 *
 * What a hostile doorbell costs depends on who could have made it block.
 * A peer's own doorbell ("blame"): O_NONBLOCK found cleared, or a write
 * that had to be cut off, is reported to the loop (on_fail) and the peer
 * is dropped.  A shared one (an ivshmem eventfd): nobody is blamed,
 * O_NONBLOCK is set again, and the doorbell moves to a second, slow-lane
 * ringer, so rings of honest doorbells never wait behind it.
 */
#ifndef ISMD_DOORBELL_H
#define ISMD_DOORBELL_H

#include <stdbool.h>
#include <stdint.h>

struct doorbell;

/* Start the ringers.  0 or -errno. */
int doorbell_init(void);
/* Ring inline (the fuzzer: one thread). */
void doorbell_set_sync(bool sync);
void doorbell_fini(void);

/*
 * A doorbell for eventfd @fd (taken over).  @blame: its holder alone can
 * make it block; @on_fail then runs on the loop (from doorbell_reap) with
 * @ctx and a reason.  NULL on ENOMEM (@fd is closed then).
 */
struct doorbell *doorbell_new(int fd, bool blame,
			      void (*on_fail)(void *ctx, const char *why),
			      void *ctx);
/* The owner lets go: no more on_fail; the fd is closed once no ring
 * holds it. */
void doorbell_release(struct doorbell *db);
/* Another reference (a queued message holding the fd, say) and its end. */
struct doorbell *doorbell_ref(struct doorbell *db);
void doorbell_put(struct doorbell *db);
int doorbell_fd(const struct doorbell *db);

/* Queue a ring.  Never blocks. */
void doorbell_ring(struct doorbell *db);

/* Readable when doorbell_reap() has failures to report; -1 in sync mode. */
int doorbell_event_fd(void);
void doorbell_reap(void);

struct doorbell_stats {
	uint64_t rung, saturated, cut, hostile, suspect;
};
void doorbell_stats(struct doorbell_stats *s);

#endif
