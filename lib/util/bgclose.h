/* SPDX-License-Identifier: MIT */
/*
 * bgclose - closing what a peer may control without waiting on it
 * (libism only).
 *
 * The last close of a file can take as long as whoever made it wishes: a
 * TCP socket with SO_LINGER and a send queue that cannot drain sleeps in
 * the kernel for the linger time, a FUSE file waits for its daemon.  An
 * AF_UNIX socket can carry such files in its receive queue (SCM_RIGHTS
 * in flight, put there by whoever can send to it): closing the socket,
 * or receiving without room for the fds, makes us drop the last
 * reference to them.  Such fds are closed on a short-lived thread so
 * that the caller, and any lock it holds, never waits.
 */
#ifndef ISM_BGCLOSE_H
#define ISM_BGCLOSE_H

#include <stddef.h>

/*
 * Close @fd (ignored if < 0) on a detached thread that has every signal
 * blocked; the caller must not use @fd afterwards.  Never blocks, unless
 * no thread can be created: then it closes inline.  Thread-safe.
 */
void ism_bgclose(int fd);

/* The same for @n fds, all on one thread. */
void ism_bgclose_fds(const int *fds, size_t n);

/*
 * Make the AF_UNIX socket @fd refuse SCM_RIGHTS (SO_PASSRIGHTS off, Linux
 * 6.16 and later): a sendmsg() with fds to it fails with EPERM in the
 * sender.  Does nothing on older kernels or on something else than a
 * socket.  Defence in depth: fds queued before, or sent after a holder
 * of another descriptor of this socket turned the option back on, can
 * still arrive, so whatever closes or drains the socket uses ism_bgclose
 * anyway.
 */
void ism_refuse_fds(int fd);

#endif
