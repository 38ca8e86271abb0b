/* SPDX-License-Identifier: MIT */
/*
 * bgclose - closing what a peer may control without waiting on it.
 *
 * One detached thread per call, no state shared between calls: a close
 * that sleeps an hour holds only its own thread (with a small stack),
 * and nothing else ever waits for it.  A process that exits meanwhile
 * does not wait either: exiting kills the thread, and a kill ends the
 * kernel's linger wait.
 */
#include "util/bgclose.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16 */
#endif

/* close() needs little; the kernel's wait uses the kernel's stack. */
#define CLOSER_STACK (64u << 10)

struct many {
	size_t n;
	int fds[];
};

static void *close_one(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

static void *close_many(void *arg)
{
	struct many *m = arg;

	for (size_t i = 0; i < m->n; i++)
		close(m->fds[i]);
	free(m);
	return NULL;
}

/* Start @fn(@arg) on a detached thread with every signal blocked (it
 * inherits our mask): no signal meant for the application runs its
 * handler there.  Returns 0 or an error number. */
static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	size_t stack = CLOSER_STACK;
	int e;

	if ((e = pthread_attr_init(&attr)) != 0)
		return e;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
#ifdef PTHREAD_STACK_MIN
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = (size_t)PTHREAD_STACK_MIN;
#endif
	/* Too small for this libc (a sanitizer's, say): keep its default. */
	pthread_attr_setstacksize(&attr, stack);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return e;
}

void ism_bgclose(int fd)
{
	if (fd < 0)
		return;
	/*
	 * No thread (RLIMIT_NPROC, memory): closing inline may block, but
	 * the fd must go; keeping it would leak one per call, and a caller
	 * cannot do better than we can here.
	 */
	if (spawn(close_one, (void *)(intptr_t)fd) != 0)
		close(fd);
}

void ism_bgclose_fds(const int *fds, size_t n)
{
	struct many *m;

	if (n == 0)
		return;
	if (n == 1) {
		ism_bgclose(fds[0]);
		return;
	}
	m = malloc(sizeof(*m) + n * sizeof(int));
	if (m) {
		m->n = n;
		memcpy(m->fds, fds, n * sizeof(int));
		if (spawn(close_many, m) == 0)
			return;
		free(m);
	}
	/* As in ism_bgclose(): inline is the only way left. */
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

void ism_refuse_fds(int fd)
{
	int off = 0;

	/* ENOPROTOOPT/EINVAL before 6.16, ENOTSOCK: nothing to do. */
	(void)setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof(off));
}
