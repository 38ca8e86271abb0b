/* SPDX-License-Identifier: MIT */
/* doorbell - see doorbell.h. */
#include "doorbell.h"
#include "guard.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A write to a counter with room returns at once; one still blocked
 * after this was made to block. */
#define RING_LIMIT_MS 50u

struct doorbell {
	int fd;
	bool blame;
	atomic_uint refs;
	atomic_bool queued;  /* on a lane */
	atomic_bool suspect; /* rung on the slow lane from now on */
	atomic_bool failing; /* on the failure list */
	const char *_Atomic why;
	struct doorbell *next;	    /* lane queue */
	struct doorbell *fail_next; /* failure list */
	/* The loop's alone: */
	void (*on_fail)(void *ctx, const char *why);
	void *ctx;
};

struct lane {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct doorbell *head, *tail;
	bool waiting, stop, started;
	pthread_t tid;
};

static struct lane lanes[2] = {
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER },
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER },
};
enum { FAST, SLOW };

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct doorbell *fail_head;
static int fail_efd = -1;
static bool sync_mode;
static _Atomic uint64_t st_rung, st_saturated, st_cut, st_hostile, st_suspect;

struct doorbell *doorbell_new(int fd, bool blame,
			      void (*on_fail)(void *ctx, const char *why),
			      void *ctx)
{
	struct doorbell *db = calloc(1, sizeof(*db));

	if (!db) {
		close(fd); /* an eventfd: nothing of it can wait */
		return NULL;
	}
	db->fd = fd;
	db->blame = blame;
	atomic_init(&db->refs, 1);
	db->on_fail = on_fail;
	db->ctx = ctx;
	return db;
}

struct doorbell *doorbell_ref(struct doorbell *db)
{
	atomic_fetch_add(&db->refs, 1);
	return db;
}

void doorbell_put(struct doorbell *db)
{
	if (db && atomic_fetch_sub(&db->refs, 1) == 1) {
		close(db->fd);
		free(db);
	}
}

void doorbell_release(struct doorbell *db)
{
	if (!db)
		return;
	db->on_fail = NULL;
	doorbell_put(db);
}

int doorbell_fd(const struct doorbell *db)
{
	return db->fd;
}

/* Ringer side: report @db hostile (blame) for the loop to act on. */
static void report(struct doorbell *db, const char *why)
{
	uint64_t one = 1;

	atomic_fetch_add(&st_hostile, 1);
	if (atomic_exchange(&db->failing, true))
		return;
	atomic_store(&db->why, why);
	doorbell_ref(db);
	pthread_mutex_lock(&fail_lock);
	db->fail_next = fail_head;
	fail_head = db;
	pthread_mutex_unlock(&fail_lock);
	if (fail_efd >= 0 && write(fail_efd, &one, sizeof(one)) < 0) {
		/* Our own eventfd: cannot fill up in practice. */
	}
}

static void mark_suspect(struct doorbell *db)
{
	if (!atomic_exchange(&db->suspect, true))
		atomic_fetch_add(&st_suspect, 1);
}

/* One ring; @slot NULL in sync mode (then nothing may wait: a cleared
 * O_NONBLOCK is never written to). */
static void ring_now(struct doorbell *db, struct guard_slot *slot)
{
	uint64_t one = 1;
	int fl = fcntl(db->fd, F_GETFL);

	if (fl < 0)
		return;
	if (!(fl & O_NONBLOCK)) {
		if (db->blame) {
			report(db, "doorbell eventfd made blocking "
				   "(hostile peer?)");
			return;
		}
		/* Shared with others: put it back, and keep an eye on it. */
		mark_suspect(db);
		if (fcntl(db->fd, F_SETFL, fl | O_NONBLOCK) < 0 || !slot)
			return;
	}
	for (int tries = 0; tries < 2; tries++) {
		ssize_t r;
		bool cut;

		guard_enter(slot);
		r = write(db->fd, &one, sizeof(one));
		cut = guard_leave(slot);
		if (r == sizeof(one)) {
			atomic_fetch_add(&st_rung, 1);
			return;
		}
		if (r < 0 && errno == EAGAIN) {
			/* The counter is full: its reader is woken already. */
			atomic_fetch_add(&st_saturated, 1);
			return;
		}
		if (r < 0 && errno == EINTR && cut) {
			atomic_fetch_add(&st_cut, 1);
			if (db->blame)
				report(db, "doorbell write blocked "
					   "(hostile peer?)");
			else
				mark_suspect(db);
			return;
		}
		if (!(r < 0 && errno == EINTR))
			break; /* a late signal meant for an earlier write */
	}
	if (db->blame)
		report(db, "doorbell eventfd failed");
}

static void *lane_main(void *arg)
{
	struct lane *l = arg;
	struct guard_slot *slot = guard_register(RING_LIMIT_MS);

	pthread_mutex_lock(&l->lock);
	for (;;) {
		struct doorbell *db;

		while (!l->stop && !l->head) {
			l->waiting = true;
			pthread_cond_wait(&l->cond, &l->lock);
			l->waiting = false;
		}
		if (l->stop)
			break;
		db = l->head;
		l->head = db->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->lock);
		/* Cleared first: a ring that comes while we write queues
		 * again, so no ring is ever lost. */
		atomic_store(&db->queued, false);
		ring_now(db, slot);
		doorbell_put(db);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void doorbell_ring(struct doorbell *db)
{
	struct lane *l;

	if (!db || atomic_load(&db->failing))
		return;
	if (sync_mode) {
		ring_now(db, NULL);
		return;
	}
	if (atomic_exchange(&db->queued, true))
		return; /* a ring is pending already */
	doorbell_ref(db);
	l = &lanes[atomic_load(&db->suspect) ? SLOW : FAST];
	db->next = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->tail)
		l->tail->next = db;
	else
		l->head = db;
	l->tail = db;
	if (l->waiting)
		pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

int doorbell_init(void)
{
	sigset_t set, old;
	int r;

	if ((r = guard_init()) < 0)
		return r;
	fail_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fail_efd < 0)
		return -errno;
	/* Ringers take SIGALRM (the guard) and nothing else. */
	sigfillset(&set);
	sigdelset(&set, SIGALRM);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	for (int i = 0; i < 2 && r == 0; i++) {
		lanes[i].stop = false;
		r = -pthread_create(&lanes[i].tid, NULL, lane_main, &lanes[i]);
		lanes[i].started = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void doorbell_set_sync(bool sync)
{
	sync_mode = sync;
}

int doorbell_event_fd(void)
{
	return sync_mode ? -1 : fail_efd;
}

void doorbell_reap(void)
{
	struct doorbell *db, *next;
	uint64_t v;

	if (fail_efd >= 0 && read(fail_efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new; the list is checked anyway. */
	}
	pthread_mutex_lock(&fail_lock);
	db = fail_head;
	fail_head = NULL;
	pthread_mutex_unlock(&fail_lock);
	for (; db; db = next) {
		next = db->fail_next;
		if (db->on_fail)
			db->on_fail(db->ctx, atomic_load(&db->why));
		doorbell_put(db);
	}
}

void doorbell_fini(void)
{
	for (int i = 0; i < 2; i++) {
		struct lane *l = &lanes[i];
		struct doorbell *db;

		if (!l->started)
			continue;
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		/* A ringer is never stuck for long: its writes are guarded. */
		pthread_join(l->tid, NULL);
		l->started = false;
		while ((db = l->head)) {
			l->head = db->next;
			doorbell_put(db);
		}
		l->tail = NULL;
	}
	doorbell_reap();
	ism_close_fd(&fail_efd);
}

void doorbell_stats(struct doorbell_stats *s)
{
	s->rung = atomic_load(&st_rung);
	s->saturated = atomic_load(&st_saturated);
	s->cut = atomic_load(&st_cut);
	s->hostile = atomic_load(&st_hostile);
	s->suspect = atomic_load(&st_suspect);
}
