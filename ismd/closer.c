/* SPDX-License-Identifier: MIT */
/* closer - see closer.h. */
#include "closer.h"
#include "acct.h"
#include "guard.h"
#include "worker.h"

#include <stdlib.h>
#include <unistd.h>

struct close_job {
	struct job job;
	int fd;
	struct acct *acct;
};

static struct guard_slot *loop_slot;

void closer_init(struct guard_slot *slot)
{
	loop_slot = slot;
}

static void run_close(struct job *j)
{
	struct close_job *c = (struct close_job *)j;

	/* Linux releases the fd whatever close() returns, EINTR included. */
	close(c->fd);
}

static void close_done(struct job *j)
{
	struct close_job *c = (struct close_job *)j;

	/* j->cut: the watchdog ended a wait (a lingering socket, most
	 * likely); the fd is gone all the same. */
	acct_uncharge(c->acct, ACCT_FDS, 1);
	acct_put(c->acct);
	free(c);
}

void closer_put(int fd, struct acct *a)
{
	struct close_job *c;

	if (fd < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c) {
		/* Out of memory: close here, guarded, rather than leak. */
		guard_enter(loop_slot);
		close(fd);
		guard_leave(loop_slot);
		acct_uncharge(a, ACCT_FDS, 1);
		return;
	}
	c->job.run = run_close;
	c->job.done = close_done;
	c->job.limit_ms = CLOSER_LIMIT_MS;
	c->job.uid = a ? a->uid : (uint32_t)-1;
	c->fd = fd;
	c->acct = acct_ref(a);
	worker_submit(&c->job);
}

void closer_put_fds(const int *fds, unsigned n, struct acct *a)
{
	for (unsigned i = 0; i < n; i++)
		closer_put(fds[i], a);
}
