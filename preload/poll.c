/* SPDX-License-Identifier: MIT */
/*
 * poll - poll(), ppoll(), select() and pselect() with streams on shared
 * memory among the fds.
 *
 * A stream's readiness is the shim's (st_revents()); when nothing is
 * ready the kernel waits on the stream's wait fd in the application's
 * fd's place, beside the application's other fds, and a wake-up there
 * makes the shim look again.  A wake-up that turns out to be nothing
 * (a doorbell for the other direction) goes back to waiting with the
 * time that is left: no busy loop, and no lost wake-up, since a stream
 * is only waited on armed (a receive that left it unarmed is armed here,
 * io.c).  Without a
 * stream among the fds, the calls go straight to the kernel.
 */
#include "preload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NSTACK 32

static struct timespec ts_of_ms(int ms)
{
	struct timespec t = { .tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000l };

	return t;
}

static uint64_t deadline_ts(const struct timespec *t)
{
	if (!t)
		return 0;
	return shim_now_ns() + (uint64_t)t->tv_sec * 1000000000ull +
	       (uint64_t)t->tv_nsec + 1;
}

static struct sstream *carried_st(int fd)
{
	struct obj *o;

	if (fd < 0 || !fd_maybe(fd))
		return NULL;
	o = fd_get(fd);
	if (!o)
		return NULL;
	if (o->kind != SK_STREAM ||
	    atomic_load(&((struct sstream *)o)->native) ||
	    ((struct sstream *)o)->wfd < 0) {
		obj_put(o);
		return NULL;
	}
	return (struct sstream *)o;
}

/*
 * The engine: @deadline 0 waits forever unless @zero; @mask for ppoll.
 * Returns what poll() returns, errno set on failure.
 */
static int shim_poll(struct pollfd *fds, nfds_t n, bool zero, uint64_t deadline,
		     const sigset_t *mask)
{
	struct sstream *sts_stack[NSTACK], **sts = sts_stack;
	struct pollfd kp_stack[NSTACK], *kp = kp_stack;
	int total = 0, r, e = 0;

	if (n > NSTACK) {
		sts = calloc(n, sizeof(*sts));
		kp = calloc(n, sizeof(*kp));
		if (!sts || !kp) {
			free(sts);
			free(kp);
			errno = ENOMEM;
			return -1;
		}
	}
	for (nfds_t i = 0; i < n; i++)
		sts[i] = carried_st(fds[i].fd);
	for (;;) {
		int ready = 0, to;

		total = 0;
		for (nfds_t i = 0; i < n; i++) {
			short rv;

			fds[i].revents = 0;
			if (!sts[i])
				continue;
			/* Left unarmed by a receive: what came since is a
			 * wake-up nobody was sent (io.c). */
			if (fds[i].events & (POLLIN | POLLRDNORM | POLLRDHUP))
				st_look(sts[i]);
			rv = st_revents(sts[i], fds[i].events);
			if (rv == -1) { /* on TCP now: the kernel's */
				obj_put(&sts[i]->o);
				sts[i] = NULL;
				continue;
			}
			fds[i].revents = rv;
			if (rv)
				ready++;
		}
		for (nfds_t i = 0; i < n; i++) {
			kp[i].fd = sts[i] ? sts[i]->wfd : fds[i].fd;
			kp[i].events = sts[i] ? POLLIN : fds[i].events;
			kp[i].revents = 0;
		}
		to = ready || zero ? 0 : shim_ms_left(deadline);
		shim_busy++;
		for (nfds_t i = 0; i < n; i++)
			if (sts[i])
				atomic_fetch_add(&sts[i]->waiters, 1);
		if (to) {
			/* Counted as waiters: arm what a receive left
			 * unarmed (io.c atop); bytes found so are looked at
			 * before any sleep. */
			bool armed_ready = false;

			for (nfds_t i = 0; i < n; i++)
				if (sts[i] &&
				    (fds[i].events &
				     (POLLIN | POLLRDNORM | POLLRDHUP)) &&
				    st_arm(sts[i]))
					armed_ready = true;
			if (armed_ready) {
				for (nfds_t i = 0; i < n; i++)
					if (sts[i])
						atomic_fetch_sub(
							&sts[i]->waiters, 1);
				shim_busy--;
				continue;
			}
		}
		if (mask) {
			struct timespec t = ts_of_ms(to);

			r = real.ppoll(kp, n, to < 0 ? NULL : &t, mask);
		} else {
			r = real.poll(kp, n, to);
		}
		e = errno;
		for (nfds_t i = 0; i < n; i++)
			if (sts[i])
				atomic_fetch_sub(&sts[i]->waiters, 1);
		shim_busy--;
		if (r < 0) {
			if (ready && e == EINTR)
				r = 0; /* report what is ready */
			else
				break;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!sts[i]) {
				fds[i].revents = kp[i].revents;
			} else if (kp[i].revents) {
				short rv;

				st_activity(sts[i]);
				rv = st_revents(sts[i], fds[i].events);
				if (rv == -1) {
					/* Went to TCP: look again, natively. */
					obj_put(&sts[i]->o);
					sts[i] = NULL;
					fds[i].revents = 0;
					zero = true;
					continue;
				}
				fds[i].revents |= rv;
			}
			if (fds[i].revents)
				total++;
		}
		if (total || zero || (deadline && !shim_ms_left(deadline)))
			break;
	}
	for (nfds_t i = 0; i < n; i++)
		if (sts[i])
			obj_put(&sts[i]->o);
	if (sts != sts_stack) {
		free(sts);
		free(kp);
	}
	if (r < 0) {
		errno = e;
		return -1;
	}
	return total;
}

static bool any_carried(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && fd_maybe(fds[i].fd))
			return true;
	return false;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	shim_resolve();
	if (shim_busy || cfg.off || !any_carried(fds, n))
		return real.poll(fds, n, timeout);
	return shim_poll(fds, n, timeout == 0,
			 timeout > 0 ? shim_now_ns() +
					       (uint64_t)timeout * 1000000ull
				     : 0,
			 NULL);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	(void)fdslen;
	return poll(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
	  const sigset_t *mask)
{
	shim_resolve();
	if (shim_busy || cfg.off || !any_carried(fds, n))
		return real.ppoll(fds, n, t, mask);
	/* Without a mask, ppoll is poll with a finer timeout. */
	return shim_poll(fds, n, t && !t->tv_sec && !t->tv_nsec, deadline_ts(t),
			 mask);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
		const sigset_t *mask, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
		const sigset_t *mask, size_t fdslen)
{
	(void)fdslen;
	return ppoll(fds, n, t, mask);
}

/* select() through the engine: the sets become a pollfd array. */
static int select_common(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
			 bool zero, uint64_t deadline, const sigset_t *mask)
{
	struct pollfd stack[NSTACK], *p = stack;
	int n = 0, r, count = 0;

	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	for (int fd = 0; fd < nfds; fd++)
		if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
		    (ex && FD_ISSET(fd, ex)))
			n++;
	if (n > NSTACK && !(p = calloc((size_t)n, sizeof(*p)))) {
		errno = ENOMEM;
		return -1;
	}
	n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;

		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	r = shim_poll(p, (nfds_t)n, zero, deadline, mask);
	if (r >= 0) {
		for (int i = 0; i < n; i++)
			if (p[i].revents & POLLNVAL) {
				r = -1;
				errno = EBADF;
			}
	}
	if (r >= 0) {
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		for (int i = 0; i < n; i++) {
			short v = p[i].revents, ev = p[i].events;

			if ((ev & POLLIN) &&
			    (v & (POLLIN | POLLHUP | POLLERR))) {
				FD_SET(p[i].fd, rd);
				count++;
			}
			if ((ev & POLLOUT) && (v & (POLLOUT | POLLERR))) {
				FD_SET(p[i].fd, wr);
				count++;
			}
			if ((ev & POLLPRI) && (v & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				count++;
			}
		}
		r = count;
	}
	if (p != stack)
		free(p);
	return r;
}

static bool sets_carried(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
		     (ex && FD_ISSET(fd, ex))) &&
		    fd_maybe(fd))
			return true;
	return false;
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	uint64_t deadline = 0;
	bool zero = false;
	int r;

	shim_resolve();
	if (shim_busy || cfg.off || !sets_carried(nfds, rd, wr, ex))
		return real.select(nfds, rd, wr, ex, tv);
	if (tv) {
		zero = !tv->tv_sec && !tv->tv_usec;
		deadline = shim_now_ns() +
			   (uint64_t)tv->tv_sec * 1000000000ull +
			   (uint64_t)tv->tv_usec * 1000ull + 1;
	}
	r = select_common(nfds, rd, wr, ex, zero, deadline, NULL);
	if (tv && !zero) {
		/* Linux tells the time that was left. */
		int64_t left = (int64_t)(deadline - shim_now_ns());

		if (left < 0)
			left = 0;
		tv->tv_sec = (time_t)(left / 1000000000);
		tv->tv_usec = (suseconds_t)((left % 1000000000) / 1000);
	}
	return r;
}

int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
	    const struct timespec *t, const sigset_t *mask)
{
	shim_resolve();
	if (shim_busy || cfg.off || !sets_carried(nfds, rd, wr, ex))
		return real.pselect(nfds, rd, wr, ex, t, mask);
	return select_common(nfds, rd, wr, ex, t && !t->tv_sec && !t->tv_nsec,
			     deadline_ts(t), mask);
}
