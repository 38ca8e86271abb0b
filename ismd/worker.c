/* SPDX-License-Identifier: MIT */
/* worker - see worker.h. */
#include "worker.h"
#include "guard.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WORKER_MAX_THREADS 32
/* A limited job still running this long after its limit gave no signal a
 * chance: its wait is not interruptible (a FUSE flush). */
#define STUCK_MIN_MS 1000u
/* Busy this long: worth another thread when work waits. */
#define SLOW_MS 100u

struct thread {
	pthread_t tid;
	struct guard_slot *slot;
	struct job *cur; /* under the lock */
	uint64_t since;	 /* when cur started */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail; /* queued */
	struct job *parked;	 /* queued behind a stuck uid */
	struct job *done_head, *done_tail;
	struct thread threads[WORKER_MAX_THREADS];
	unsigned n_threads, max_threads, idle;
	uint32_t queued, n_parked;
	uint64_t n_done;
	int efd;
	bool stopping, sync, signalled;
} W = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.efd = -1,
};

static uint64_t stuck_ns(const struct job *j)
{
	uint64_t ms = ISM_MAX(STUCK_MIN_MS, 4u * j->limit_ms);

	return ms * 1000000ull;
}

/* Under the lock: does @uid have a job that stopped answering? */
static bool uid_stuck_locked(uint32_t uid, uint64_t now)
{
	for (unsigned i = 0; i < W.n_threads; i++) {
		struct job *j = W.threads[i].cur;

		if (j && j->uid == uid && j->limit_ms &&
		    now - W.threads[i].since > stuck_ns(j))
			return true;
	}
	return false;
}

/* Under the lock: the next job a thread may run, parking those of stuck
 * uids on the way. */
static struct job *pick_locked(uint64_t now)
{
	struct job *j;

	while ((j = W.head)) {
		W.head = j->next;
		if (!W.head)
			W.tail = NULL;
		W.queued--;
		if (!uid_stuck_locked(j->uid, now))
			return j;
		j->next = W.parked;
		W.parked = j;
		W.n_parked++;
	}
	return NULL;
}

/* Under the lock: give parked jobs whose uid is no longer stuck back to
 * the queue (at its head: they waited longest). */
static void unpark_locked(uint64_t now)
{
	struct job **pp = &W.parked;

	while (*pp) {
		struct job *j = *pp;

		if (uid_stuck_locked(j->uid, now)) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		W.n_parked--;
		j->next = W.head;
		W.head = j;
		if (!W.tail)
			W.tail = j;
		W.queued++;
	}
}

static void finish_locked(struct job *j)
{
	j->next = NULL;
	if (W.done_tail)
		W.done_tail->next = j;
	else
		W.done_head = j;
	W.done_tail = j;
	W.n_done++;
	if (!W.signalled) {
		uint64_t one = 1;

		/* Our own eventfd, never near its limit. */
		if (write(W.efd, &one, sizeof(one)) == sizeof(one))
			W.signalled = true;
	}
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	t->slot = guard_register(0);
	pthread_mutex_lock(&W.lock);
	for (;;) {
		struct job *j = NULL;

		while (!W.stopping && !(j = pick_locked(ism_now_ns()))) {
			W.idle++;
			pthread_cond_wait(&W.cond, &W.lock);
			W.idle--;
		}
		if (W.stopping)
			break;
		t->cur = j;
		t->since = ism_now_ns();
		pthread_mutex_unlock(&W.lock);

		guard_set_limit(t->slot, j->limit_ms);
		guard_enter(t->slot);
		j->run(j);
		j->cut = guard_leave(t->slot);

		pthread_mutex_lock(&W.lock);
		t->cur = NULL;
		finish_locked(j);
		if (W.parked)
			unpark_locked(ism_now_ns());
	}
	pthread_mutex_unlock(&W.lock);
	return NULL;
}

/* Under the lock. */
static int spawn_locked(void)
{
	struct thread *t;
	sigset_t set, old;
	int r;

	if (W.n_threads >= W.max_threads)
		return -EAGAIN;
	t = &W.threads[W.n_threads];
	t->cur = NULL;
	/* Pool threads take SIGALRM (the guard) and nothing else: the
	 * daemon's signals stay with its signalfd. */
	sigfillset(&set);
	sigdelset(&set, SIGALRM);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	r = pthread_create(&t->tid, NULL, thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	W.n_threads++;
	return 0;
}

int worker_init(unsigned max_threads)
{
	int r;

	if ((r = guard_init()) < 0)
		return r;
	W.max_threads = ISM_MAX(1u, ISM_MIN(max_threads, WORKER_MAX_THREADS));
	W.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (W.efd < 0)
		return -errno;
	W.stopping = false;
	pthread_mutex_lock(&W.lock);
	r = spawn_locked();
	pthread_mutex_unlock(&W.lock);
	return r;
}

void worker_set_sync(bool sync)
{
	W.sync = sync;
}

int worker_fd(void)
{
	return W.sync ? -1 : W.efd;
}

void worker_submit(struct job *j)
{
	j->next = NULL;
	j->cut = false;
	if (W.sync) {
		j->run(j);
		j->done(j);
		return;
	}
	if (W.efd < 0 || W.stopping) {
		/* Not running (start-up failed, or shut down): the job is
		 * abandoned; what it held goes with the process. */
		j->cut = true;
		j->done(j);
		return;
	}
	pthread_mutex_lock(&W.lock);
	if (W.tail)
		W.tail->next = j;
	else
		W.head = j;
	W.tail = j;
	W.queued++;
	/* A second thread early; more only when the busy ones stay busy
	 * (worker_tick). */
	if (W.idle == 0 && W.n_threads < 2)
		spawn_locked();
	pthread_cond_signal(&W.cond);
	pthread_mutex_unlock(&W.lock);
}

void worker_reap(void)
{
	struct job *j, *next;
	uint64_t v;

	if (W.sync)
		return;
	pthread_mutex_lock(&W.lock);
	j = W.done_head;
	W.done_head = W.done_tail = NULL;
	if (W.signalled && read(W.efd, &v, sizeof(v)) == sizeof(v))
		W.signalled = false;
	pthread_mutex_unlock(&W.lock);
	for (; j; j = next) {
		next = j->next;
		j->done(j);
	}
}

/* Under the lock: has every thread been in its job for a while? */
static bool all_slow_locked(uint64_t now)
{
	for (unsigned i = 0; i < W.n_threads; i++)
		if (!W.threads[i].cur ||
		    now - W.threads[i].since < SLOW_MS * 1000000ull)
			return false;
	return true;
}

void worker_tick(void)
{
	if (W.sync)
		return;
	pthread_mutex_lock(&W.lock);
	if (W.parked)
		unpark_locked(ism_now_ns());
	/* Work waits and every thread has been busy a while (perhaps for
	 * good): one more thread, if the cap allows. */
	if (W.head && W.idle == 0 && all_slow_locked(ism_now_ns()) &&
	    spawn_locked() == 0)
		pthread_cond_signal(&W.cond);
	pthread_mutex_unlock(&W.lock);
}

bool worker_uid_stuck(uint32_t uid)
{
	bool r;

	if (W.sync)
		return false;
	pthread_mutex_lock(&W.lock);
	r = uid_stuck_locked(uid, ism_now_ns());
	pthread_mutex_unlock(&W.lock);
	return r;
}

void worker_stats(struct worker_stats *s)
{
	uint64_t now = ism_now_ns();

	pthread_mutex_lock(&W.lock);
	s->threads = W.n_threads;
	s->busy = W.n_threads - W.idle;
	s->stuck = 0;
	for (unsigned i = 0; i < W.n_threads; i++) {
		struct job *j = W.threads[i].cur;

		if (j && j->limit_ms && now - W.threads[i].since > stuck_ns(j))
			s->stuck++;
	}
	s->queued = W.queued + W.n_parked;
	s->parked = W.n_parked;
	s->done = W.n_done;
	pthread_mutex_unlock(&W.lock);
}

void worker_drain(unsigned ms)
{
	uint64_t end = ism_now_ns() + (uint64_t)ms * 1000000ull;

	if (W.sync || W.efd < 0)
		return;
	for (;;) {
		bool quiet;

		worker_reap();
		pthread_mutex_lock(&W.lock);
		quiet = !W.head && !W.parked && W.idle == W.n_threads;
		pthread_mutex_unlock(&W.lock);
		if (quiet || ism_now_ns() >= end)
			break;
		usleep(2000);
	}
	worker_reap();
}

void worker_fini(void)
{
	struct job *left;
	bool stranded = false;

	if (W.efd < 0)
		return;
	pthread_mutex_lock(&W.lock);
	W.stopping = true;
	pthread_cond_broadcast(&W.cond);
	/* What never ran: done() without run(). */
	left = W.head;
	W.head = W.tail = NULL;
	while (W.parked) {
		struct job *j = W.parked;

		W.parked = j->next;
		j->next = left;
		left = j;
	}
	W.queued = W.n_parked = 0;
	pthread_mutex_unlock(&W.lock);
	/* Threads in a job leave after it; give them a moment. */
	for (int tries = 0; tries < 50; tries++) {
		unsigned busy = 0;

		pthread_mutex_lock(&W.lock);
		for (unsigned i = 0; i < W.n_threads; i++)
			busy += W.threads[i].cur != NULL;
		pthread_mutex_unlock(&W.lock);
		if (!busy)
			break;
		usleep(10000);
	}
	for (unsigned i = 0; i < W.n_threads; i++) {
		struct thread *t = &W.threads[i];
		bool busy;

		pthread_mutex_lock(&W.lock);
		busy = t->cur != NULL;
		pthread_mutex_unlock(&W.lock);
		/* A thread stuck for good is left behind, with its job and
		 * the eventfd it would signal (so that fd number is never
		 * reused under it). */
		if (busy) {
			pthread_detach(t->tid);
			stranded = true;
		} else {
			pthread_join(t->tid, NULL);
		}
	}
	W.n_threads = 0;
	worker_reap();
	while (left) {
		struct job *j = left;

		left = j->next;
		j->cut = true;
		j->done(j);
	}
	if (!stranded)
		ism_close_fd(&W.efd);
}
