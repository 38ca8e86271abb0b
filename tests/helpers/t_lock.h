/* SPDX-License-Identifier: MIT */
/*
 * t_lock - holding a socket's lock from a test, as an attacker would.
 *
 * A send() holds its socket's lock while it copies the caller's bytes; a
 * page that faults into a userfaultfd nobody serves keeps it copying, and
 * the lock held, for as long as the test likes.  Anything that takes that
 * lock (getsockname(), getpeername(), setsockopt(TCP_REPAIR)) then waits,
 * in state D.  Killing the holder ends the userfaultfd and the send.
 */
#ifndef T_LOCK_H
#define T_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* @n pages whose first touch faults into the returned userfaultfd (in
 * *@pages).  Returns the fd, -77 if this kernel or this process may not
 * have one, or -errno. */
int t_uffd_pages(size_t n, char **pages);

/* Wait until @n threads sit in a fault on @uffd (up to @ms each). */
bool t_uffd_faults(int uffd, int n, int ms);

/* A thread body: send(fd, page, 4096) - it stays in the fault. */
struct t_held {
	int fd;
	char *page;
};
void *t_send_from_fault(void *held);

/* Some thread of @pid other than the main one in state D, within @ms. */
bool t_thread_in_d(pid_t pid, int ms);

#endif
