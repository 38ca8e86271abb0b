/* SPDX-License-Identifier: MIT */
/*
 * worker - work that must not run on ismd's event loop.
 *
 * The loop never waits on a peer.  What could wait - the last close of a
 * file a peer chose, populating gigabytes a peer asked for - is a job:
 * run() on a pool thread, then done() back on the loop (worker_fd() turns
 * readable; worker_reap() calls them).  Jobs with a limit run guarded
 * (guard.h): an interruptible wait is cut off and the job learns it.
 *
 * A wait nothing interrupts (a FUSE flush nobody answers) keeps its thread
 * forever.  The pool then grows, up to a cap, so other jobs still run; and
 * the uid whose job is stuck gets no other thread until it comes back:
 * its later jobs wait (their fds stay charged to it), so one user cannot
 * use up the pool.
 *
 * Single producer: submit, reap and tick are called from the loop only.
 */
#ifndef ISMD_WORKER_H
#define ISMD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

struct job {
	void (*run)(struct job *j);  /* on a pool thread */
	void (*done)(struct job *j); /* on the loop, after run; may free j */
	uint32_t limit_ms;	     /* cut off after this (0: never) */
	uint32_t uid;		     /* on whose behalf */
	bool cut;		     /* the watchdog interrupted run */
	struct job *next;	     /* the pool's */
};

struct worker_stats {
	uint32_t threads, busy, stuck;
	uint32_t queued,
		parked; /* waiting; of which parked behind a stuck uid */
	uint64_t done;
};

/* Start the pool (up to @max_threads).  0 or -errno. */
int worker_init(unsigned max_threads);
/* Run every job inline at submit (the fuzzer: one thread, no timing). */
void worker_set_sync(bool sync);
/* Readable while finished jobs await worker_reap(); -1 in sync mode. */
int worker_fd(void);
void worker_submit(struct job *j);
/* Call done() of every finished job. */
void worker_reap(void);
/* Periodic: start a thread if work waits and every thread is busy. */
void worker_tick(void);
/* Has @uid a job that stopped answering (see above)? */
bool worker_uid_stuck(uint32_t uid);
void worker_stats(struct worker_stats *s);
/* Let queued and running jobs finish, for up to @ms, reaping as they
 * do (shutdown). */
void worker_drain(unsigned ms);
/*
 * Stop: idle threads exit; threads stuck in a job are left to the
 * process's exit.  Jobs still queued get done() without run() (@cut set).
 */
void worker_fini(void);

#endif
