/* SPDX-License-Identifier: MIT */
/*
 * chan - what libism's own modules use of a channel beyond its public API
 * (include/ism/chan.h): hidden from the library's users.
 */
#ifndef ISM_LIB_CHAN_H
#define ISM_LIB_CHAN_H

#include <ism/chan.h>

#include <sys/types.h>

/*
 * Reserve room for one message of between @min and @max bytes (both
 * capped at ism_chan_max_msg(); @min at least 1), as much as fits now:
 * the size reserved, with *@p where to write it, or -errno as
 * ism_chan_reserve().  Waits (unless ISM_F_DONTWAIT) only until @min
 * fits.  Then ism_chan_commit_len().
 */
ssize_t ism_chan_reserve_room(struct ism_chan *ch, size_t min, size_t max,
			      void **p, int flags);

/* Commit the first @len bytes of the reserved message (0: nothing);
 * ISM_F_MORE as ism_chan_commit(). */
int ism_chan_commit_len(struct ism_chan *ch, size_t len, int flags);

/*
 * Receiving: ism_chan_peek() with ISM_F_DONTWAIT | ISM_F_NOARM returns
 * -EAGAIN without arming, so a side that is busy costs the other no kick.
 * Before waiting on ism_chan_fd(), arm: 1 if a message (or the other
 * side's end) is there already (nothing armed: take it), 0 armed, or
 * -errno.  The receiving thread's call, as peek is.
 */
int ism_chan_arm_rx(struct ism_chan *ch);
/* Whether a receive would find something, arming nothing: 1, 0, -errno. */
int ism_chan_rx_ready(struct ism_chan *ch);
/* Undo ism_chan_arm_rx() (the loop woke for something else and is busy
 * again), then as ism_chan_rx_ready(). */
int ism_chan_disarm_rx(struct ism_chan *ch);

#endif
