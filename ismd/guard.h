/* SPDX-License-Identifier: MIT */
/*
 * guard - cutting off a system call that a peer made block.
 *
 * Some waits in the kernel belong to files a peer chose: the last close
 * of a TCP socket with SO_LINGER waits for its data to drain, a write to
 * an eventfd whose O_NONBLOCK the peer cleared waits for the peer to read.
 * Such waits are interruptible, so ismd runs them inside a guarded
 * section: a watchdog thread that finds a thread in the same section for
 * longer than its limit sends it SIGALRM (installed without SA_RESTART),
 * the call returns (EINTR, or done early), and the caller learns that it
 * was cut off.  Waits that no signal ends (a FUSE flush the file system
 * never answers) are the worker pool's business (worker.h): it notices a
 * thread that stays busy and starts another.
 *
 * A section costs two atomic stores; the watchdog wakes every 25 ms.
 */
#ifndef ISMD_GUARD_H
#define ISMD_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct guard_slot;

/* Install the SIGALRM handler and start the watchdog (once). 0 or -errno. */
int guard_init(void);

/*
 * A slot for the calling thread, whose sections are cut off after
 * @limit_ms (0: never; the slot then only reports how long a section
 * runs).  Slots live until the process exits; NULL if none is left.
 */
struct guard_slot *guard_register(uint32_t limit_ms);
void guard_set_limit(struct guard_slot *s, uint32_t limit_ms);

/* Enter a section (before the call that may block). */
void guard_enter(struct guard_slot *s);
/* Leave it: true if the watchdog interrupted this section. */
bool guard_leave(struct guard_slot *s);

/* How long the slot's current section has run, in ns (0 when idle). */
uint64_t guard_busy_ns(const struct guard_slot *s, uint64_t now);

#endif
