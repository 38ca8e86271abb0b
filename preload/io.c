/* SPDX-License-Identifier: MIT */
/*
 * io - the data calls on a stream the shim carries, and its readiness.
 *
 * Every libism call here is non-blocking (ISM_F_DONTWAIT): blocking is
 * the shim's, a wait on the stream's wait fd in poll(), so a socket
 * timeout (SO_RCVTIMEO, SO_SNDTIMEO) and a signal behave as the kernel
 * makes them behave, and the receive and send locks are only ever held
 * for as long as a non-blocking call takes.
 *
 * Bytes a readiness probe or MSG_PEEK took out of the stream wait in the
 * stream's rx buffer and are read first.  A probe takes one byte, so
 * bulk data is still copied once on each side.
 *
 * Writable means room for TX_ROOM bytes, not just some room: the kernel
 * says POLLOUT only with a good part of the send buffer free, and
 * programs rely on it, writing with blocking calls after POLLOUT (socat
 * does).  Such a write into a ring with a few bytes free would block the
 * program, and with it its reading, which may be what the other side
 * waits for before it reads in turn: both would wait for ever.  So
 * POLLOUT is probed (a reservation of TX_ROOM bytes, committed empty),
 * and a probe that finds less leaves the stream armed to hear of room.
 *
 * The wait fd is shared by both directions, and a wake-up libism hands
 * to a direction stays pending (the fd readable) until that direction is
 * looked at: after a wake-up both are looked at, whatever the caller
 * waits for, or the wait would turn into a busy loop.
 *
 * A receive that finds nothing leaves libism unarmed (ISM_F_NOARM): the
 * other side's next send then wakes nobody, which is what a busy event
 * loop wants - it looks again at its next wait.  The waits arm instead,
 * once counted as waiters and before they sleep: poll() the streams it is
 * given, epoll_wait() every stream in an epoll set left unarmed (the
 * pending list), st_wait() the stream it waits on.  A wait that does not
 * sleep still looks at those streams (arming nothing while they are few),
 * or a loop kept busy by other fds would never hear of them.  And once
 * awake, epoll_wait() disarms again the (few) streams its sleep armed:
 * otherwise every one of them would cost its sender a kick until it is
 * read, though one wake-up was all the loop needed.  The
 * receive marks the stream unarmed (and pending) before it reads the
 * waiter counts, and nudges a waiter it finds, so one of the two arms
 * it.  An arm that finds bytes already there is a wake-up: the stream is
 * looked at, nobody sleeps.
 *
 * Errors are the kernel's: the other side's death (or a corrupt ring) is
 * ECONNRESET once, then EOF; a send after that, or after shutdown(SHUT_WR),
 * is EPIPE with SIGPIPE unless MSG_NOSIGNAL.  MSG_OOB cannot be carried:
 * a receive says EINVAL (no urgent data), a send EOPNOTSUPP.
 */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* Nothing done: the stream turned out to be on TCP, use the kernel. */
#define SHIM_NATIVE (-100000)
#define RXB_MIN	    4096u
#define RXB_MAX	    (256u << 10)
#define IOV_STACK   16
/* POLLOUT: room for a write of this much, or for the largest message on
 * a smaller ring (half of it: 32 KiB on the smallest ism-run makes).  A
 * write of up to that less two record headers after POLLOUT never
 * waits. */
#define TX_ROOM (64u << 10)

extern void __chk_fail(void) __attribute__((noreturn));

/* ---- helpers ---- */

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		if (__builtin_add_overflow(t, iov[i].iov_len, &t))
			return SIZE_MAX;
	return t;
}

/* A writable copy of an iovec array that can be advanced. */
struct cursor {
	struct iovec stack[IOV_STACK];
	struct iovec *heap; /* when more than IOV_STACK */
	struct iovec *v;
	int n;
};

static int cur_init(struct cursor *c, const struct iovec *iov, int n)
{
	c->heap = n <= IOV_STACK ? NULL : malloc((size_t)n * sizeof(*iov));
	c->v = n <= IOV_STACK ? c->stack : c->heap;
	if (!c->v)
		return -ENOMEM;
	memcpy(c->v, iov, (size_t)n * sizeof(*iov));
	c->n = n;
	return 0;
}

static void cur_free(struct cursor *c)
{
	free(c->heap);
}

static void cur_advance(struct cursor *c, size_t k)
{
	while (k && c->n) {
		size_t m = SHIM_MIN(k, c->v->iov_len);

		c->v->iov_base = (uint8_t *)c->v->iov_base + m;
		c->v->iov_len -= m;
		k -= m;
		if (!c->v->iov_len) {
			c->v++;
			c->n--;
		}
	}
	while (c->n && !c->v->iov_len) {
		c->v++;
		c->n--;
	}
}

/* Copy up to @k bytes from @src into the cursor (advancing it). */
static size_t cur_put(struct cursor *c, const uint8_t *src, size_t k)
{
	size_t done = 0;

	while (done < k && c->n) {
		size_t m = SHIM_MIN(k - done, c->v->iov_len);

		memcpy(c->v->iov_base, src + done, m);
		done += m;
		cur_advance(c, m);
	}
	return done;
}

static int rxb_reserve(struct sstream *st, size_t want)
{
	size_t cap = st->rx_cap ? st->rx_cap : RXB_MIN;
	uint8_t *b;

	if (want <= st->rx_cap)
		return 0;
	while (cap < want && cap < RXB_MAX)
		cap *= 2;
	if (cap < want)
		cap = want;
	b = realloc(st->rxb, cap);
	if (!b)
		return -ENOMEM;
	st->rxb = b;
	st->rx_cap = cap;
	return 0;
}

static void rxb_consume(struct sstream *st, size_t k)
{
	st->rx_off += k;
	st->rx_len -= k;
	if (!st->rx_len)
		st->rx_off = 0;
}

/* A libism call that may finish a pending handshake (which can ask
 * ismd), or a plain data call. */
static bool pending(struct sstream *st)
{
	int p;

	LIB_QUIET_ENTER();
	p = ism_stream_path(st->s, NULL);
	LIB_QUIET_LEAVE();
	return p == ISM_STREAM_PENDING;
}

/* Wake whoever waits on the wait fd in another thread. */
static void nudge_waiters(struct sstream *st)
{
	if (atomic_load(&st->waiters) ||
	    (atomic_load_explicit(&st->nregs, memory_order_relaxed) &&
	     atomic_load(&shim_epoll_waiters)))
		st_nudge(st);
}

/*
 * After any data call: libism empties the stream's doorbell whichever
 * direction it was for (a receive may eat the kick that said "room", a
 * send the one that said "data"), so the other direction is looked at
 * again rather than believed; and a thread waiting on the wait fd for it
 * elsewhere is nudged (the kick it waits for may be gone).
 */
static void after_call(struct sstream *st, bool rx, ssize_t r)
{
	if (rx) {
		atomic_store(&st->tx_blocked, false);
		atomic_store(&st->rx_maybe, r != -EAGAIN);
	} else {
		atomic_store(&st->rx_maybe, true);
		atomic_store(&st->tx_blocked, r == -EAGAIN);
		atomic_store(&st->tx_armed, r == -EAGAIN);
	}
	nudge_waiters(st);
}

/* ---- arming before a wait (see atop) ---- */

static pthread_mutex_t pend_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sstream *pend_head;
static atomic_int pend_count; /* read without the lock */

/* Every receive of a stream in an epoll set comes here: one that is on
 * the list already costs no lock.  (Whoever takes it off reads
 * rx_unarmed afterwards, and the receive stored that before looking.) */
static void pend_push(struct sstream *st)
{
	if (atomic_load(&st->in_pend))
		return;
	pthread_mutex_lock(&pend_lock);
	if (!atomic_load(&st->in_pend)) {
		atomic_store(&st->in_pend, true);
		st->pend_prev = NULL;
		st->pend_next = pend_head;
		if (pend_head)
			pend_head->pend_prev = st;
		pend_head = st;
		atomic_fetch_add(&pend_count, 1);
	}
	pthread_mutex_unlock(&pend_lock);
}

static void pend_unlink(struct sstream *st)
{
	if (st->pend_prev)
		st->pend_prev->pend_next = st->pend_next;
	else
		pend_head = st->pend_next;
	if (st->pend_next)
		st->pend_next->pend_prev = st->pend_prev;
	atomic_store(&st->in_pend, false);
	atomic_fetch_sub(&pend_count, 1);
}

void st_unpend(struct sstream *st)
{
	pthread_mutex_lock(&pend_lock);
	if (atomic_load(&st->in_pend))
		pend_unlink(st);
	pthread_mutex_unlock(&pend_lock);
}

void st_pend_if_unarmed(struct sstream *st)
{
	if (!atomic_load(&st->rx_unarmed))
		return;
	pend_push(st);
	if (atomic_load(&shim_epoll_waiters))
		st_nudge(st); /* one may sleep already: let it arm */
}

/* st_arm(): 1 ready, 0 armed, -1 nothing done. */
static int arm_one(struct sstream *st)
{
	int r;

	if (!atomic_load(&st->rx_unarmed))
		return -1;
	pthread_mutex_lock(&st->rx_lock);
	if (!atomic_exchange(&st->rx_unarmed, false) ||
	    atomic_load(&st->native) || stream_foreign(st)) {
		pthread_mutex_unlock(&st->rx_lock);
		return -1;
	}
	LIB_QUIET_ENTER();
	r = ism_stream_arm(st->s);
	LIB_QUIET_LEAVE();
	pthread_mutex_unlock(&st->rx_lock);
	SHIM_LOG(3, "%s: armed: %d", st->desc, r);
	if (r == 0)
		return 0;
	/* Bytes (or an end, or an error) came while nobody was armed: the
	 * wake-up the stream never got. */
	st_activity(st);
	return 1;
}

bool st_arm(struct sstream *st)
{
	return arm_one(st) == 1;
}

bool st_look(struct sstream *st)
{
	int r;

	if (!atomic_load(&st->rx_unarmed) ||
	    pthread_mutex_trylock(&st->rx_lock) != 0)
		return false; /* a reader there reports what it finds */
	if (!atomic_load(&st->rx_unarmed) || atomic_load(&st->native) ||
	    stream_foreign(st)) {
		pthread_mutex_unlock(&st->rx_lock);
		return false;
	}
	LIB_QUIET_ENTER();
	r = ism_stream_rx_ready(st->s);
	LIB_QUIET_LEAVE();
	if (r != 0) {
		/* Off the list before a receive may run: it will put the
		 * stream back if it leaves it unarmed again. */
		atomic_store(&st->rx_unarmed, false);
		st_unpend(st);
	}
	pthread_mutex_unlock(&st->rx_lock);
	if (r == 0)
		return false;
	st_activity(st);
	return true;
}

/* The pending streams looked at, not armed (a wait that does not sleep),
 * while there are few: with many, arming them is the cheaper of the two
 * (one look each, then only kicks). */
#define LOOK_MAX 64

static bool look_pending(void)
{
	struct sstream *batch[LOOK_MAX];
	bool any = false;
	int n = 0;

	pthread_mutex_lock(&pend_lock);
	for (struct sstream *st = pend_head; st && n < LOOK_MAX;
	     st = st->pend_next)
		if (obj_tryhold(&st->o))
			batch[n++] = st;
	pthread_mutex_unlock(&pend_lock);
	for (int i = 0; i < n; i++) {
		if (atomic_load(&batch[i]->nregs) && st_look(batch[i])) {
			epoll_mark_hot(batch[i]);
			any = true;
		}
		obj_put(&batch[i]->o);
	}
	return any;
}

bool st_look_pending_few(void)
{
	int n = atomic_load(&pend_count);

	return n > 0 && n <= LOOK_MAX;
}

bool st_look_pending(void)
{
	int n = atomic_load(&pend_count);

	return n > 0 && n <= LOOK_MAX && look_pending();
}

bool st_arm_pending(bool sleeping, struct st_armed *armed)
{
	struct sstream *batch[64];
	bool any = false;
	int n;

	if (armed)
		armed->n = 0;
	if (!atomic_load(&pend_count))
		return false;
	if (!sleeping && atomic_load(&pend_count) <= LOOK_MAX)
		return look_pending();
	if (armed && atomic_load(&pend_count) > ST_ARMED_MAX)
		armed = NULL; /* many: they stay armed (see atop) */
	do {
		n = 0;
		pthread_mutex_lock(&pend_lock);
		while (pend_head && n < 64) {
			struct sstream *st = pend_head;

			pend_unlink(st);
			if (obj_tryhold(&st->o))
				batch[n++] = st;
		}
		pthread_mutex_unlock(&pend_lock);
		for (int i = 0; i < n; i++) {
			/* Only while it is in an epoll set: a forking
			 * server's parent, which closed its copy, must not
			 * claim its child's stream. */
			int r = atomic_load(&batch[i]->nregs)
					? arm_one(batch[i])
					: -1;

			if (r == 1) {
				epoll_mark_hot(batch[i]);
				any = true;
			}
			if (r == 0 && armed && armed->n < ST_ARMED_MAX) {
				armed->st[armed->n++] = batch[i];
				continue; /* its reference goes with it */
			}
			obj_put(&batch[i]->o);
		}
	} while (n == 64);
	return any;
}

bool st_disarm_woken(struct st_armed *armed)
{
	bool any = false;

	for (int i = 0; i < armed->n; i++) {
		struct sstream *st = armed->st[i];
		int r = 0;

		/* Busy: a reader there (it pends the stream itself), or
		 * it stays armed, which only costs a kick. */
		if (pthread_mutex_trylock(&st->rx_lock) == 0) {
			if (!atomic_load(&st->rx_unarmed) &&
			    !atomic_load(&st->native)) {
				LIB_QUIET_ENTER();
				r = ism_stream_disarm(st->s);
				LIB_QUIET_LEAVE();
				atomic_store(&st->rx_unarmed, true);
				pend_push(st);
			}
			pthread_mutex_unlock(&st->rx_lock);
		}
		if (r != 0) {
			st_activity(st);
			epoll_mark_hot(st);
			any = true;
		}
		obj_put(&st->o);
	}
	armed->n = 0;
	return any;
}

static ssize_t lib_recv(struct sstream *st, const struct iovec *iov, int n)
{
	ssize_t r;

	if (pending(st)) {
		lib_enter();
		r = ism_stream_recvmsg(st->s, iov, n,
				       ISM_F_DONTWAIT | ISM_F_NOARM);
		lib_leave();
	} else {
		LIB_QUIET_ENTER();
		r = ism_stream_recvmsg(st->s, iov, n,
				       ISM_F_DONTWAIT | ISM_F_NOARM);
		LIB_QUIET_LEAVE();
	}
	if (r == -EAGAIN || r > 0) {
		/* Found nothing, or took bytes and looked no further than
		 * an empty ring (unarmed too).  Before after_call() reads
		 * the waiter counts. */
		atomic_store(&st->rx_unarmed, true);
		if (atomic_load(&st->nregs))
			pend_push(st);
	}
	after_call(st, true, r);
	return r;
}

static ssize_t lib_send(struct sstream *st, const struct iovec *iov, int n)
{
	ssize_t r;

	if (pending(st)) {
		lib_enter();
		r = ism_stream_sendmsg(st->s, iov, n, ISM_F_DONTWAIT);
		lib_leave();
	} else {
		LIB_QUIET_ENTER();
		r = ism_stream_sendmsg(st->s, iov, n, ISM_F_DONTWAIT);
		LIB_QUIET_LEAVE();
	}
	/* Full, or a short write (the ring took only part): as over TCP,
	 * room found later is a new edge, however it is found.  Else a
	 * look that finds room after eating the kick that said so (the
	 * wait fd then quiet again) would report nothing new to an
	 * edge-triggered waiter, which waits for ever (nginx after a short
	 * sendfile). */
	if (r == -EAGAIN || (r >= 0 && (size_t)r < iov_total(iov, n)))
		atomic_fetch_and(&st->last_rev, ~(POLLOUT | POLLWRNORM));
	after_call(st, false, r);
	return r;
}

/* A pending server handshake, pushed as far as it goes without waiting:
 * 0 settled (see the path), -EAGAIN not yet, or the error. */
static int settle(struct sstream *st)
{
	uint8_t dummy;
	struct iovec iov = { .iov_base = &dummy, .iov_len = 0 };
	ssize_t r;

	if (!pending(st))
		return 0;
	r = lib_recv(st, &iov, 1);
	if (r == -EAGAIN)
		return -EAGAIN;
	stream_path_refresh(st);
	return r < 0 ? (int)r : 0;
}

/* An error from libism as the application should see it. */
static int app_err(int r)
{
	switch (r) {
	case -EPROTO:	    /* a corrupt ring: the connection is gone */
	case -ECONNABORTED: /* the handshake broke */
	case -EPIPE: return -ECONNRESET;
	default: return r;
	}
}

void st_nudge(struct sstream *st)
{
	uint64_t one = 1;

	if (st->nudge_fd < 0)
		return;
	/* Write, then say so: st_activity() reads after taking the flag,
	 * so a count is never left behind with the flag down. */
	if (real.write(st->nudge_fd, &one, sizeof(one)) == sizeof(one))
		atomic_store(&st->nudged, true);
}

void st_wait_fd_ready(struct sstream *st)
{
	struct epoll_event ev = { .events = EPOLLIN };

	LIB_QUIET_ENTER();
	st->wfd = ism_stream_fd(st->s);
	st->nudge_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* The wait fd is an epoll set (ism_stream_fd()): our eventfd in it
	 * wakes every waiter on it, whatever libism watches there. */
	if (st->nudge_fd >= 0 &&
	    real.epoll_ctl(st->wfd, EPOLL_CTL_ADD, st->nudge_fd, &ev) < 0) {
		real.close(st->nudge_fd);
		st->nudge_fd = -1;
	}
	LIB_QUIET_LEAVE();
}

void st_activity(struct sstream *st)
{
	uint64_t v;

	atomic_store(&st->rx_maybe, true);
	atomic_store(&st->tx_blocked, false);
	atomic_store(&st->woke, true);
	atomic_fetch_add(&st->gen, 1);
	if (atomic_exchange(&st->nudged, false))
		(void)!real.read(st->nudge_fd, &v, sizeof(v));
}

void st_touched(struct sstream *st)
{
	if (atomic_load_explicit(&st->nregs, memory_order_relaxed))
		epoll_mark_hot(st);
}

/* Wait for the wait fd until @deadline (for a receive: @rx arms it):
 * 0 woke, -EAGAIN (timed out), -EINTR, or -errno. */
static int st_wait(struct sstream *st, uint64_t deadline, bool tmo, bool rx)
{
	for (;;) {
		struct pollfd p = { .fd = st->wfd, .events = POLLIN };
		int r;

		shim_busy++;
		atomic_fetch_add(&st->waiters, 1);
		if (rx && st_arm(st)) {
			atomic_fetch_sub(&st->waiters, 1);
			shim_busy--;
			return 0;
		}
		r = real.poll(&p, 1, shim_ms_left(deadline));
		atomic_fetch_sub(&st->waiters, 1);
		shim_busy--;
		if (r > 0) {
			st_activity(st);
			return 0;
		}
		if (r == 0)
			return -EAGAIN;
		if (errno != EINTR)
			return -errno;
		if (shim_eintr(tmo))
			return -EINTR;
	}
}

static uint64_t deadline_of(int ms)
{
	return ms > 0 ? shim_now_ns() + (uint64_t)ms * 1000000ull : 0;
}

static void probe_in(struct sstream *st, bool woke);
static void probe_out(struct sstream *st);

/* A blocking call for one direction woke: look at the other one too
 * (see atop).  A thread busy there looks itself. */
static void look_other(struct sstream *st, bool rx)
{
	pthread_mutex_t *m = rx ? &st->tx_lock : &st->rx_lock;

	if (pthread_mutex_trylock(m) != 0)
		return;
	if (rx)
		probe_out(st);
	else
		probe_in(st, true);
	pthread_mutex_unlock(m);
}

/* ---- receive ---- */

/* Latch what a receive found: 1 data, 0 EOF, or an error. */
static void note_rx(struct sstream *st, ssize_t r)
{
	if (r == 0) {
		atomic_store(&st->eof, true);
	} else if (r < 0 && r != -EAGAIN && !atomic_load(&st->reset)) {
		int e = -app_err((int)r);

		if (r == -EPROTO && !atomic_exchange(&st->err, e))
			SHIM_LOG(1,
				 "%s: broken on shared memory (a corrupt "
				 "ring, or bytes the other program wrote "
				 "past ism on TCP): reset",
				 st->desc);
		atomic_store(&st->err, e);
	}
}

/* The error a read reports now: ECONNRESET once, then EOF. */
static ssize_t rx_error(struct sstream *st, ssize_t r)
{
	r = app_err((int)r);
	if (r == -ECONNRESET) {
		atomic_store(&st->err, 0);
		if (atomic_exchange(&st->reset, 1))
			return 0;
	} else {
		atomic_store(&st->err, 0);
	}
	return r;
}

/* Pull what is there into the rx buffer, up to @want bytes held.
 * Lock held.  Returns what the last libism call said (> 0, 0, -errno). */
static ssize_t rx_fill(struct sstream *st, size_t want)
{
	ssize_t r = 1;

	if (want > RXB_MAX)
		want = RXB_MAX;
	if (rxb_reserve(st, want) < 0)
		return -ENOMEM;
	if (st->rx_off && st->rx_len)
		memmove(st->rxb, st->rxb + st->rx_off, st->rx_len);
	st->rx_off = 0;
	while (st->rx_len < want && !atomic_load(&st->eof)) {
		struct iovec iov = { .iov_base = st->rxb + st->rx_len,
				     .iov_len = want - st->rx_len };

		r = lib_recv(st, &iov, 1);
		note_rx(st, r);
		if (r <= 0)
			break;
		st->rx_len += (size_t)r;
	}
	return r;
}

ssize_t st_recv(struct sstream *st, const struct iovec *iov, int iovcnt,
		int flags)
{
	bool dontwait = (flags & MSG_DONTWAIT) || atomic_load(&st->nonblock);
	bool peek = flags & MSG_PEEK, trunc = flags & MSG_TRUNC;
	bool waitall = (flags & MSG_WAITALL) && !dontwait;
	int tmo = atomic_load(&st->rcvtimeo_ms);
	uint64_t deadline = dontwait ? 0 : deadline_of(tmo);
	size_t want = iov_total(iov, iovcnt), got = 0;
	struct cursor c;
	ssize_t r = 0, res;
	uint8_t *scratch = NULL;

	if (flags & MSG_OOB)
		return -EINVAL;
	if (want == SIZE_MAX || iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (stream_foreign(st))
		return atomic_exchange(&st->reset, 1) ? 0 : -ECONNRESET;
	if (trunc && !peek) {
		/* TCP's MSG_TRUNC: the bytes are dropped, not copied. */
		scratch = malloc(SHIM_MIN(want, (size_t)RXB_MAX));
		if (!scratch)
			return -ENOMEM;
	}
	if (cur_init(&c, iov, iovcnt) < 0) {
		free(scratch);
		return -ENOMEM;
	}
	cur_advance(&c, 0);
	pthread_mutex_lock(&st->rx_lock);
	for (;;) {
		int s = settle(st);

		if (atomic_load(&st->native)) {
			res = got ? (ssize_t)got : SHIM_NATIVE;
			goto out;
		}
		if (s < 0 && s != -EAGAIN) {
			res = got ? (ssize_t)got : rx_error(st, s);
			goto out;
		}
		if (s == 0 && atomic_load(&st->rd_shut)) {
			res = (ssize_t)got;
			goto out;
		}
		if (s == 0 && peek) {
			r = rx_fill(st, want);
			if (st->rx_len) {
				struct cursor pc;

				if (cur_init(&pc, iov, iovcnt) < 0) {
					res = -ENOMEM;
					goto out;
				}
				got = cur_put(&pc, st->rxb + st->rx_off,
					      SHIM_MIN(want, st->rx_len));
				cur_free(&pc);
				if (!waitall || got == want ||
				    atomic_load(&st->eof))
					break;
				got = 0;
			}
		} else if (s == 0) {
			size_t k = SHIM_MIN(st->rx_len, want - got);

			if (k) {
				if (scratch)
					cur_advance(&c, k);
				else
					cur_put(&c, st->rxb + st->rx_off, k);
				rxb_consume(st, k);
				got += k;
			}
			r = 0;
			if (got < want && !atomic_load(&st->eof)) {
				/* One call takes all that is there. */
				if (scratch) {
					struct iovec sv = {
						.iov_base = scratch,
						.iov_len = SHIM_MIN(
							want - got,
							(size_t)RXB_MAX)
					};

					r = lib_recv(st, &sv, 1);
				} else {
					r = lib_recv(st, c.v, c.n);
				}
				note_rx(st, r);
				if (r > 0) {
					cur_advance(&c, (size_t)r);
					got += (size_t)r;
				}
			}
			if (got && (!waitall || got == want))
				break;
			if (r > 0)
				continue; /* WAITALL: more may be there */
			if (r == 0 && !atomic_load(&st->eof))
				r = -EAGAIN; /* nothing asked or nothing came */
		}
		if (atomic_load(&st->eof) && !st->rx_len)
			break; /* got bytes, or 0: EOF */
		if (r < 0 && r != -EAGAIN) {
			res = got ? (ssize_t)got : rx_error(st, r);
			goto out;
		}
		if (dontwait) {
			res = got ? (ssize_t)got : -EAGAIN;
			goto out;
		}
		pthread_mutex_unlock(&st->rx_lock);
		r = st_wait(st, deadline, tmo > 0, true);
		if (r == 0)
			look_other(st, true);
		pthread_mutex_lock(&st->rx_lock);
		if (r < 0) {
			res = got ? (ssize_t)got : r;
			goto out;
		}
	}
	res = (ssize_t)got;
out:
	if (res > 0)
		atomic_store(&st->rx_maybe, true); /* more, or EOF, may
						    * follow */
	/* Drained (everything there was taken, without an -EAGAIN that
	 * would arm the ring): what arrives next is new, and an
	 * edge-triggered epoll must hear of it even if no look saw the
	 * stream unreadable in between (nginx reads once and waits). */
	if (!peek && res != 0 && !st->rx_len)
		atomic_fetch_and(&st->last_rev, ~(POLLIN | POLLRDNORM));
	pthread_mutex_unlock(&st->rx_lock);
	cur_free(&c);
	free(scratch);
	st_touched(st);
	return res;
}

/* ---- send ---- */

ssize_t st_send(struct sstream *st, const struct iovec *iov, int iovcnt,
		int flags)
{
	bool dontwait = (flags & MSG_DONTWAIT) || atomic_load(&st->nonblock);
	int tmo = atomic_load(&st->sndtimeo_ms);
	uint64_t deadline = dontwait ? 0 : deadline_of(tmo);
	size_t want = iov_total(iov, iovcnt), sent = 0;
	struct cursor c;
	ssize_t r, res;

	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	if (want == SIZE_MAX || iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	if (stream_foreign(st))
		return atomic_exchange(&st->reset, 1) ? -EPIPE : -ECONNRESET;
	if (atomic_load(&st->wr_shut))
		return -EPIPE;
	if (atomic_load(&st->reset))
		return -EPIPE;
	if (!want)
		return 0;
	if (cur_init(&c, iov, iovcnt) < 0)
		return -ENOMEM;
	cur_advance(&c, 0);
	pthread_mutex_lock(&st->tx_lock);
	for (;;) {
		if (atomic_load(&st->native)) {
			res = sent ? (ssize_t)sent : SHIM_NATIVE;
			goto out;
		}
		if (sent == want)
			break;
		r = lib_send(st, c.v, c.n);
		stream_path_refresh(st);
		if (r > 0) {
			sent += (size_t)r;
			cur_advance(&c, (size_t)r);
			continue;
		}
		if (r == 0)
			break;
		if (r != -EAGAIN) {
			r = app_err((int)r);
			if (r == -ECONNRESET && atomic_exchange(&st->reset, 1))
				r = -EPIPE;
			atomic_store(&st->err, 0);
			res = sent ? (ssize_t)sent : r;
			goto out;
		}
		atomic_store(&st->tx_blocked, true);
		if (dontwait) {
			res = sent ? (ssize_t)sent : -EAGAIN;
			goto out;
		}
		pthread_mutex_unlock(&st->tx_lock);
		r = st_wait(st, deadline, tmo > 0, false);
		if (r == 0)
			look_other(st, false);
		pthread_mutex_lock(&st->tx_lock);
		if (r < 0) {
			res = sent ? (ssize_t)sent : r;
			goto out;
		}
	}
	res = (ssize_t)sent;
out:
	pthread_mutex_unlock(&st->tx_lock);
	cur_free(&c);
	st_touched(st);
	return res;
}

/* ---- readiness ---- */

/* One byte ahead, if there is one: the probe.  After a wake-up (@woke)
 * one more even if bytes wait already: the receive takes a wake-up meant
 * for it.  rx lock held. */
static void probe_in(struct sstream *st, bool woke)
{
	if ((st->rx_len && !woke) || atomic_load(&st->eof) ||
	    atomic_load(&st->err) || atomic_load(&st->reset) ||
	    atomic_load(&st->rd_shut))
		return;
	if (!atomic_load(&st->rx_maybe))
		return;
	if (settle(st) == -EAGAIN || atomic_load(&st->native))
		return;
	rx_fill(st, st->rx_len + 1);
}

/* Room for TX_ROOM bytes, or the stream armed to hear of it (see atop):
 * sets tx_blocked.  An error leaves the fd writable, for the write to
 * report it.  tx lock held. */
static void probe_out(struct sstream *st)
{
	bool armed = atomic_load(&st->tx_armed);
	void *p;
	ssize_t r;

	if (atomic_load(&st->tx_blocked) || atomic_load(&st->wr_shut) ||
	    atomic_load(&st->reset) || atomic_load(&st->native) || pending(st))
		return;
	LIB_QUIET_ENTER();
	r = ism_stream_reserve(st->s, &p, TX_ROOM,
			       ISM_F_DONTWAIT | ISM_F_WAITALL);
	if (r > 0)
		ism_stream_commit(st->s, 0, 0); /* nothing sent */
	LIB_QUIET_LEAVE();
	atomic_store(&st->tx_blocked, r == -EAGAIN);
	atomic_store(&st->tx_armed, r == -EAGAIN);
	/* Settling an armed ring may have taken the wake-up of a thread
	 * blocked in a send: there is room, say so.  (Armed again, the
	 * ring wakes it itself; a nudge then would only bounce between
	 * two threads that both look.) */
	if (armed && r != -EAGAIN)
		nudge_waiters(st);
}

short st_revents(struct sstream *st, short want)
{
	short rev = 0;
	bool pend;
	bool woke = atomic_exchange(&st->woke, false);

	if (stream_foreign(st))
		return (short)(POLLERR | POLLHUP | (want & (POLLIN | POLLOUT)));
	if (atomic_load(&st->rx_maybe) &&
	    pthread_mutex_trylock(&st->rx_lock) == 0) {
		/* A reader holds the lock only across non-blocking calls:
		 * if it is busy, whatever it finds it reports itself. */
		if ((want & (POLLIN | POLLRDNORM | POLLRDHUP)) || woke)
			probe_in(st, woke);
		else
			(void)settle(st);
		pthread_mutex_unlock(&st->rx_lock);
	}
	if (((want & (POLLOUT | POLLWRNORM)) || woke) &&
	    pthread_mutex_trylock(&st->tx_lock) == 0) {
		/* The same for a writer. */
		probe_out(st);
		pthread_mutex_unlock(&st->tx_lock);
	}
	if (atomic_load(&st->native))
		return -1;
	pend = pending(st);
	if (st->rx_len)
		rev |= POLLIN | POLLRDNORM;
	if (atomic_load(&st->eof) || atomic_load(&st->rd_shut))
		rev |= POLLIN | POLLRDNORM | POLLRDHUP;
	if (atomic_load(&st->err))
		rev |= POLLERR | POLLHUP | POLLIN | POLLRDNORM | POLLRDHUP |
		       POLLOUT | POLLWRNORM;
	if (atomic_load(&st->reset))
		rev |= POLLHUP | POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT |
		       POLLWRNORM;
	if (!pend && !atomic_load(&st->tx_blocked))
		rev |= POLLOUT | POLLWRNORM;
	if (atomic_load(&st->wr_shut))
		rev |= POLLOUT | POLLWRNORM;
	if ((atomic_load(&st->eof) || atomic_load(&st->rd_shut)) &&
	    atomic_load(&st->wr_shut))
		rev |= POLLHUP;
	/* Something new is ready: an edge for edge-triggered epoll. */
	if (rev & ~atomic_exchange(&st->last_rev, rev))
		atomic_fetch_add(&st->gen, 1);
	return (short)(rev & (want | POLLERR | POLLHUP));
}

int st_inq(struct sstream *st)
{
	ssize_t r;
	int n;

	if (stream_foreign(st))
		return 0;
	pthread_mutex_lock(&st->rx_lock);
	r = settle(st);
	if (r == 0 && !atomic_load(&st->native))
		r = rx_fill(st, 64u << 10);
	n = (int)SHIM_MIN(st->rx_len, (size_t)INT_MAX);
	pthread_mutex_unlock(&st->rx_lock);
	if (atomic_load(&st->native))
		return -ENOTSUP; /* the caller asks the kernel */
	return n;
}

/* ---- the interposed calls ---- */

/* A stream this call should carry: referenced, or NULL (the kernel's). */
static struct sstream *carried(int fd)
{
	struct obj *o;

	if (shim_busy || !fd_maybe(fd))
		return NULL;
	o = fd_get(fd);
	if (!o)
		return NULL;
	if (o->kind != SK_STREAM ||
	    atomic_load(&((struct sstream *)o)->native)) {
		obj_put(o);
		return NULL;
	}
	return (struct sstream *)o;
}

bool fd_is_stream(int fd)
{
	struct sstream *st = carried(fd);

	if (st)
		obj_put(&st->o);
	return st != NULL;
}

/* Set errno from a result; SIGPIPE as the kernel sends it. */
static ssize_t ret(ssize_t r, int flags, bool tx)
{
	if (r >= 0)
		return r;
	if (tx && r == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	errno = (int)-r;
	return -1;
}

static ssize_t do_recv(int fd, const struct iovec *iov, int n, int flags,
		       ssize_t (*native)(int, const struct iovec *, int, int))
{
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (!(st = carried(fd)))
		return native(fd, iov, n, flags);
	r = st_recv(st, iov, n, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return native(fd, iov, n, flags);
	return ret(r, flags, false);
}

static ssize_t do_send(int fd, const struct iovec *iov, int n, int flags,
		       ssize_t (*native)(int, const struct iovec *, int, int))
{
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (!(st = carried(fd)))
		return native(fd, iov, n, flags);
	r = st_send(st, iov, n, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return native(fd, iov, n, flags);
	return ret(r, flags, true);
}

static ssize_t n_read(int fd, const struct iovec *iov, int n, int flags)
{
	(void)flags;
	return n == 1 ? real.read(fd, iov->iov_base, iov->iov_len)
		      : real.readv(fd, iov, n);
}

static ssize_t n_write(int fd, const struct iovec *iov, int n, int flags)
{
	(void)flags;
	return n == 1 ? real.write(fd, iov->iov_base, iov->iov_len)
		      : real.writev(fd, iov, n);
}

static ssize_t n_recv(int fd, const struct iovec *iov, int n, int flags)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)n };

	return real.recvmsg(fd, &m, flags);
}

static ssize_t n_send(int fd, const struct iovec *iov, int n, int flags)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)n };

	return real.sendmsg(fd, &m, flags);
}

ssize_t read(int fd, void *buf, size_t n)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };

	if (shim_busy || !fd_maybe(fd)) {
		shim_resolve();
		return real.read(fd, buf, n);
	}
	return do_recv(fd, &iov, 1, 0, n_read);
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

	if (shim_busy || !fd_maybe(fd)) {
		shim_resolve();
		return real.write(fd, buf, n);
	}
	return do_send(fd, &iov, 1, 0, n_write);
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	return do_recv(fd, iov, n, 0, n_read);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	return do_send(fd, iov, n, 0, n_write);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };

	if (shim_busy || !fd_maybe(fd)) {
		shim_resolve();
		return real.recvfrom(fd, buf, n, flags, NULL, NULL);
	}
	return do_recv(fd, &iov, 1, flags, n_recv);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr,
		 socklen_t *alen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (!(st = carried(fd)))
		return real.recvfrom(fd, buf, n, flags, addr.__sockaddr__,
				     alen);
	r = st_recv(st, &iov, 1, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return real.recvfrom(fd, buf, n, flags, addr.__sockaddr__,
				     alen);
	if (r >= 0 && addr.__sockaddr__ && alen)
		*alen = 0; /* TCP names no sender */
	return ret(r, flags, false);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, alen);
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (shim_busy) {
		/* libism's: the fds ismd sends move above the floor. */
		r = real.recvmsg(fd, m, flags);
		if (r >= 0 && m->msg_controllen)
			shim_fds_high_cmsg(m);
		return r;
	}
	if (!(st = carried(fd)) || (flags & MSG_ERRQUEUE)) {
		if (st)
			obj_put(&st->o);
		return real.recvmsg(fd, m, flags);
	}
	r = st_recv(st, m->msg_iov, (int)m->msg_iovlen, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return real.recvmsg(fd, m, flags);
	if (r >= 0) {
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = 0;
	}
	return ret(r, flags, false);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

	if (shim_busy || !fd_maybe(fd)) {
		shim_resolve();
		return real.sendto(fd, buf, n, flags, NULL, 0);
	}
	return do_send(fd, &iov, 1, flags, n_send);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags,
	       __CONST_SOCKADDR_ARG addr, socklen_t alen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (!(st = carried(fd)))
		return real.sendto(fd, buf, n, flags, addr.__sockaddr__, alen);
	r = st_send(st, &iov, 1, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return real.sendto(fd, buf, n, flags, addr.__sockaddr__, alen);
	return ret(r, flags, true);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct sstream *st;
	ssize_t r;

	shim_resolve();
	if (!(st = carried(fd)))
		return real.sendmsg(fd, m, flags);
	r = st_send(st, m->msg_iov, (int)m->msg_iovlen, flags);
	obj_put(&st->o);
	if (r == SHIM_NATIVE)
		return real.sendmsg(fd, m, flags);
	return ret(r, flags, true);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags,
	     struct timespec *tmo)
{
	struct sstream *st;
	unsigned i;

	shim_resolve();
	if (!(st = carried(fd)))
		return real.recvmmsg(fd, v, n, flags, tmo);
	obj_put(&st->o);
	/* TCP has no message boundaries: the first blocks (unless asked
	 * not to), the rest take what is there. */
	for (i = 0; i < n; i++) {
		ssize_t r = recvmsg(fd, &v[i].msg_hdr,
				    i ? (flags | MSG_DONTWAIT) : flags);

		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
		if (r == 0)
			return (int)i + 1;
	}
	return (int)i;
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	struct sstream *st;
	unsigned i;

	shim_resolve();
	if (!(st = carried(fd)))
		return real.sendmmsg(fd, v, n, flags);
	obj_put(&st->o);
	for (i = 0; i < n; i++) {
		ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);

		if (r < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
	}
	return (int)i;
}

/* ---- sendfile and splice: correct, by copying ---- */

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct sstream *st;
	off_t pos;
	size_t chunk = SHIM_MIN(count, (size_t)(64u << 10)), total = 0;
	uint8_t *buf;
	ssize_t r = 0;

	shim_resolve();
	if (!(st = carried(out)))
		return real.sendfile(out, in, off, count);
	pos = off ? *off : lseek(in, 0, SEEK_CUR);
	if (pos < 0 || !(buf = malloc(chunk ? chunk : 1))) {
		obj_put(&st->o);
		if (pos < 0)
			return -1; /* errno from lseek: ESPIPE, as sendfile */
		errno = ENOMEM;
		return -1;
	}
	while (total < count) {
		ssize_t n = pread(in, buf, SHIM_MIN(chunk, count - total), pos);
		struct iovec iov = { .iov_base = buf };

		if (n <= 0) {
			if (n < 0 && !total)
				r = -errno;
			break;
		}
		iov.iov_len = (size_t)n;
		/* Once bytes are in hand, all of them go (blocking for
		 * room if need be): what was read and not sent would be
		 * lost, since the file offset already says "sent". */
		r = st_send(st, &iov, 1, total ? MSG_DONTWAIT : 0);
		if (r == -EAGAIN && total)
			break;
		if (r == SHIM_NATIVE) {
			obj_put(&st->o);
			free(buf);
			if (!total)
				return real.sendfile(out, in, off, count);
			goto done;
		}
		if (r <= 0)
			break;
		pos += r;
		total += (size_t)r;
		if (r < n)
			break;
	}
	obj_put(&st->o);
	free(buf);
	if (!total && r < 0)
		return ret(r, 0, true);
done:
	if (off)
		*off = pos;
	else
		lseek(in, pos, SEEK_SET);
	return (ssize_t)total;
}

ssize_t sendfile64(int out, int in, off_t *off, size_t count);
ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return sendfile(out, in, off, count);
}

ssize_t splice(int in, off_t *off_in, int out, off_t *off_out, size_t len,
	       unsigned flags)
{
	struct sstream *sin, *sout;
	uint8_t *buf;
	size_t chunk = SHIM_MIN(len, (size_t)(64u << 10));
	ssize_t n, r;
	int mf = (flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0;

	shim_resolve();
	sin = carried(in);
	sout = carried(out);
	if (!sin && !sout)
		return real.splice(in, off_in, out, off_out, len, flags);
	if ((sin && sout) || (sin && off_in) || (sout && off_out) || !chunk) {
		if (sin)
			obj_put(&sin->o);
		if (sout)
			obj_put(&sout->o);
		errno = chunk ? EINVAL : 0;
		return chunk ? -1 : 0;
	}
	if (!(buf = malloc(chunk))) {
		obj_put(sin ? &sin->o : &sout->o);
		errno = ENOMEM;
		return -1;
	}
	if (sout) {
		/* pipe -> stream: what leaves the pipe all goes. */
		n = off_in ? pread(in, buf, chunk, *off_in)
			   : real.read(in, buf, chunk);
		if (n > 0) {
			struct iovec iov = { .iov_base = buf,
					     .iov_len = (size_t)n };

			r = st_send(sout, &iov, 1, 0);
			if (r >= 0 && off_in)
				*off_in += r;
			n = r == SHIM_NATIVE ? -ENOTSUP : r;
		} else if (n < 0) {
			n = -errno;
		}
		obj_put(&sout->o);
	} else {
		/* stream -> pipe: only what the pipe has room for. */
		int cap = real.fcntl(out, F_GETPIPE_SZ), used = 0;
		struct iovec iov = { .iov_base = buf };

		if (cap > 0 && real.ioctl(out, FIONREAD, &used) == 0 &&
		    used <= cap)
			chunk = SHIM_MIN(chunk, (size_t)(cap - used));
		if (!chunk)
			chunk = 1;
		iov.iov_len = chunk;
		n = st_recv(sin, &iov, 1, mf);
		if (n > 0) {
			r = real.write(out, buf, (size_t)n);
			if (r < n) {
				/* A writer raced us into the pipe: keep the
				 * rest for the next read. */
				size_t keep = (size_t)(n - (r > 0 ? r : 0));

				pthread_mutex_lock(&sin->rx_lock);
				if (rxb_reserve(sin, sin->rx_len + keep) == 0) {
					memmove(sin->rxb + keep,
						sin->rxb + sin->rx_off,
						sin->rx_len);
					memcpy(sin->rxb, buf + (r > 0 ? r : 0),
					       keep);
					sin->rx_off = 0;
					sin->rx_len += keep;
				}
				pthread_mutex_unlock(&sin->rx_lock);
				n = r > 0 ? r : -errno;
			}
		}
		obj_put(&sin->o);
	}
	free(buf);
	if (n == SHIM_NATIVE || n == -ENOTSUP)
		return real.splice(in, off_in, out, off_out, len, flags);
	return ret(n, 0, sout != NULL);
}
