/* SPDX-License-Identifier: MIT */
/*
 * closer - closing what a peer chose, never on the event loop.
 *
 * close() can wait on the file behind an fd: the last close of a TCP
 * socket with SO_LINGER waits for its data to drain; every close of a
 * FUSE file sends FLUSH and waits for the file system's answer; closing a
 * socket releases the files queued in it, which may be such files.  So
 * every fd ismd received from a peer, and every socket a peer can send
 * into, is closed by a worker thread (worker.h), guarded: an interruptible
 * wait is cut off after CLOSER_LIMIT_MS, an uninterruptible one strands
 * that thread and parks the uid's later closes.  Until it is closed the
 * fd stays charged to the uid that sent it.
 *
 * Files ismd made itself (its memfds, eventfds, timerfds) are closed
 * directly: nothing of theirs can wait.
 */
#ifndef ISMD_CLOSER_H
#define ISMD_CLOSER_H

struct acct;
struct guard_slot;

#define CLOSER_LIMIT_MS 200u

/* @loop_slot: the event loop's guard slot, for the inline fallback. */
void closer_init(struct guard_slot *loop_slot);
/* Close @fd off the loop; @a (may be NULL) holds one fd charge for it,
 * released once closed.  Never blocks. */
void closer_put(int fd, struct acct *a);
/* The same for each of @fds[0..n) that is >= 0. */
void closer_put_fds(const int *fds, unsigned n, struct acct *a);

#endif
