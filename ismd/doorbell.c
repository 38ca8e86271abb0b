/* SPDX-License-Identifier: MIT */
/*
 * doorbell - ringing a peer's eventfd without ever hanging ismd.
 *
 * A doorbell is the peer's eventfd, and its open file description is
 * shared with the peer, which can clear O_NONBLOCK and saturate the
 * counter so that ismd's write() would block until the peer reads.  The
 * kernel has no per-call non-blocking write for an eventfd (pwritev2 with
 * RWF_NOWAIT is refused), so ismd guards the write instead: a sequence
 * number is odd while a write is in progress, and a watchdog thread that
 * finds the same odd value twice, a period apart, interrupts the main
 * thread with SIGALRM (installed without SA_RESTART).  The write returns
 * EINTR and the peer is dropped.  The fast path costs two plain stores; a
 * blocked write is cut off after one to two periods.
 */
#include "ismd.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_MS 100

static _Atomic uint64_t ring_seq;
static atomic_bool fired;
static pthread_t main_thread;
static bool installed;

static void on_alarm(int sig)
{
	(void)sig;
}

static void *watchdog(void *arg)
{
	uint64_t last = 0;

	(void)arg;
	for (;;) {
		struct timespec ts = { 0, WATCHDOG_MS * 1000000L };
		uint64_t s;

		nanosleep(&ts, NULL);
		s = atomic_load(&ring_seq);
		if ((s & 1) && s == last) {
			atomic_store(&fired, true);
			pthread_kill(main_thread, SIGALRM);
		}
		last = s;
	}
	return NULL;
}

int doorbell_guard_install(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	sigset_t all, old;
	pthread_t t;
	int r;

	if (installed)
		return 0;
	/* No SA_RESTART: the signal must interrupt a blocked write(). */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -errno;
	main_thread = pthread_self();
	/* The watchdog takes no signals: SIGALRM must reach the main
	 * thread, and the signalfd ones stay with the signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_detach(t);
	installed = true;
	return 0;
}

int doorbell_ring(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_fetch_add(&ring_seq, 1); /* odd: a write is in progress */
	r = write(fd, &one, sizeof(one));
	atomic_fetch_add(&ring_seq, 1);
	if (r == sizeof(one))
		return 0;
	if (r < 0 && errno == EAGAIN)
		return 0; /* counter saturated: the peer is woken already */
	if (r < 0 && errno == EINTR && atomic_exchange(&fired, false))
		return -ETIMEDOUT;
	return r < 0 ? -errno : -EIO;
}
