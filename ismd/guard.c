/* SPDX-License-Identifier: MIT */
/* guard - see guard.h. */
#include "guard.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define GUARD_SLOTS   64
#define GUARD_TICK_MS 25

struct guard_slot {
	atomic_bool used;
	pthread_t thread;
	_Atomic uint64_t seq;	   /* odd while inside a section */
	_Atomic uint64_t start_ns; /* when the current section began */
	_Atomic uint32_t limit_ms;
	_Atomic uint64_t fired; /* the seq the watchdog last cut off */
	uint64_t last_kick_ns;	/* watchdog-private */
};

static struct guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool started;

static void on_alarm(int sig)
{
	(void)sig; /* interrupting the call was the point */
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, GUARD_TICK_MS * 1000000L };
		uint64_t now;

		nanosleep(&ts, NULL);
		now = ism_now_ns();
		for (int i = 0; i < GUARD_SLOTS; i++) {
			struct guard_slot *s = &slots[i];
			uint64_t seq, start, lim;

			if (!atomic_load(&s->used))
				continue;
			seq = atomic_load(&s->seq);
			lim = (uint64_t)atomic_load(&s->limit_ms) * 1000000ull;
			if (!(seq & 1) || lim == 0)
				continue;
			start = atomic_load(&s->start_ns);
			/* A section still open a limit after it began, or
			 * after our last kick (a call the signal did not
			 * end is kicked again, one limit apart). */
			if (now - start < lim || now - s->last_kick_ns < lim ||
			    atomic_load(&s->seq) != seq)
				continue;
			atomic_store(&s->fired, seq);
			s->last_kick_ns = now;
			pthread_kill(s->thread, SIGALRM);
		}
	}
	return NULL;
}

int guard_init(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	sigset_t all, old;
	pthread_t t;
	int r = 0;

	pthread_mutex_lock(&init_lock);
	if (started)
		goto out;
	/* No SA_RESTART: the signal must end a blocked call. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0) {
		r = -errno;
		goto out;
	}
	/* The watchdog takes no signals: SIGALRM is for the guarded
	 * threads, and the signalfd's signals stay with the signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&t, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0) {
		pthread_detach(t);
		started = true;
	}
out:
	pthread_mutex_unlock(&init_lock);
	return r;
}

struct guard_slot *guard_register(uint32_t limit_ms)
{
	for (int i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *s = &slots[i];
		bool expect = false;

		if (atomic_load(&s->used) ||
		    !atomic_compare_exchange_strong(&s->used, &expect, true))
			continue;
		/* used is set last-but-published first: the watchdog skips
		 * a slot whose seq is even, which it is until guard_enter. */
		s->thread = pthread_self();
		atomic_store(&s->limit_ms, limit_ms);
		return s;
	}
	return NULL;
}

void guard_set_limit(struct guard_slot *s, uint32_t limit_ms)
{
	if (s)
		atomic_store(&s->limit_ms, limit_ms);
}

void guard_enter(struct guard_slot *s)
{
	if (!s)
		return;
	atomic_store(&s->start_ns, ism_now_ns());
	atomic_fetch_add(&s->seq, 1); /* odd: inside */
}

bool guard_leave(struct guard_slot *s)
{
	uint64_t seq;

	if (!s)
		return false;
	seq = atomic_fetch_add(&s->seq, 1); /* the section's (odd) seq */
	/* Only a kick aimed at this very section counts: a late signal
	 * may still interrupt some later call, which then just retries. */
	return atomic_load(&s->fired) == seq;
}

uint64_t guard_busy_ns(const struct guard_slot *s, uint64_t now)
{
	uint64_t seq, start;

	if (!s)
		return 0;
	seq = atomic_load(&s->seq);
	if (!(seq & 1))
		return 0;
	start = atomic_load(&s->start_ns);
	return now > start ? now - start : 0;
}
