/* SPDX-License-Identifier: MIT */
/*
 * epoll - an application's epoll set holding streams on shared memory.
 *
 * For each (epoll set, stream fd) the application registers, the shim
 * keeps a registration (struct reg) with the application's events and
 * data, and puts the stream's wait fd into the set itself, edge-triggered,
 * with a cookie for data: high 16 bits 0x1e5d (never a user-space pointer
 * on Linux, nor a small integer), then 16 random bits, then the
 * registration's index.  epoll_wait() translates: a cookie event means
 * "look at this stream", the stream's readiness is computed
 * (st_revents()), and the application gets its own events and data.
 *
 * Which registrations are looked at: the "hot" ones - just added or
 * modified, woken (cookie event), touched by a read or write, or
 * level-triggered and ready the last time (they stay ready until the
 * application drains them, as the kernel reports them until then).  An
 * idle stream is never looked at, so an idle server under ism-run sleeps
 * in the kernel's epoll_wait like any other.
 *
 * Edge-triggered registrations report when readiness rose since the last
 * report (the stream's generation moved): a wake-up, or a state found by
 * a look (the other side's EOF, room after a full ring, data after a read
 * that took everything there was: io.c).  EPOLLONESHOT
 * disables after one report until EPOLL_CTL_MOD.
 *
 * EPOLL_CTL_DEL parks a registration instead of taking the wait fd out of
 * the kernel's set, and an EPOLL_CTL_ADD of the same stream under the same
 * fd takes it back: event loops that delete and re-add a connection on
 * every request (redis's ae, for one) then make no system call for it -
 * the kernel's ADD of a wait fd is a nested-epoll add, which walks every
 * path between epoll sets.  A parked registration is never reported, and
 * goes when its stream or set does.
 *
 * One lock (eplock) covers every set's registrations; it is never held
 * while a stream is looked at (that takes the stream's own locks, and a
 * look may move the stream to TCP, which takes eplock).
 */
#include "preload.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#define COOKIE_TAG  (0x1e5dull << 48)
#define COOKIE_MASK 0xffffffff00000000ull
#define CAND_MAX    256

struct reg {
	struct sepoll *ep;
	struct sstream *st;
	int fd;		   /* the application's fd */
	uint32_t events;   /* as the application asked */
	epoll_data_t data; /* as the application gave it */
	int wfd;	   /* what is in the kernel's set */
	bool wfd_owned;	   /* a dup of the wait fd (a second fd of one
			    * stream in one set) */
	bool disabled;	   /* EPOLLONESHOT fired */
	bool parked;	   /* the application deleted it (see above) */
	bool hot;
	unsigned seen_gen;
	uint32_t id;
	struct reg *st_next;
	struct reg *hot_next;
};

struct sepoll {
	struct obj o;
	int epfd;
	struct reg **slot; /* by id */
	uint32_t cap;
	struct reg *hot;
};

static pthread_mutex_t eplock = PTHREAD_MUTEX_INITIALIZER;
atomic_int shim_epoll_waiters;
static uint64_t cookie_base;

static uint64_t cookie(uint32_t id)
{
	if (!cookie_base) {
		uint16_t r = 0;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (uint16_t)shim_now_ns();
		cookie_base = COOKIE_TAG | ((uint64_t)r << 32);
	}
	return cookie_base | id;
}

static bool is_cookie(uint64_t v)
{
	return cookie_base && (v & COOKIE_MASK) == cookie_base;
}

void epoll_lock_all(void)
{
	pthread_mutex_lock(&eplock);
}

void epoll_unlock_all(void)
{
	pthread_mutex_unlock(&eplock);
}

/* ---- registrations (eplock held) ---- */

static void hot_add(struct reg *r)
{
	if (r->hot || r->disabled || r->parked)
		return;
	r->hot = true;
	r->hot_next = r->ep->hot;
	r->ep->hot = r;
}

static void hot_del(struct reg *r)
{
	struct reg **pp;

	if (!r->hot)
		return;
	for (pp = &r->ep->hot; *pp; pp = &(*pp)->hot_next)
		if (*pp == r) {
			*pp = r->hot_next;
			break;
		}
	r->hot = false;
}

static struct reg *find_reg(struct sepoll *ep, int fd)
{
	for (uint32_t i = 0; i < ep->cap; i++)
		if (ep->slot[i] && ep->slot[i]->fd == fd)
			return ep->slot[i];
	return NULL;
}

static int slot_new(struct sepoll *ep, struct reg *r)
{
	uint32_t i;

	for (i = 0; i < ep->cap; i++)
		if (!ep->slot[i])
			break;
	if (i == ep->cap) {
		uint32_t nc = ep->cap ? ep->cap * 2 : 16;
		struct reg **ns = realloc(ep->slot, nc * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		memset(ns + ep->cap, 0, (nc - ep->cap) * sizeof(*ns));
		ep->slot = ns;
		ep->cap = nc;
	}
	ep->slot[i] = r;
	r->id = i;
	return 0;
}

/* Unlink @r from its set and stream and free it; @kernel: also take the
 * wait fd out of the set (and, if @native, put the application's fd in
 * as it asked). */
static void reg_free(struct reg *r, bool kernel, bool native)
{
	struct reg **pp;

	hot_del(r);
	r->ep->slot[r->id] = NULL;
	for (pp = &r->st->regs; *pp; pp = &(*pp)->st_next)
		if (*pp == r) {
			*pp = r->st_next;
			break;
		}
	atomic_fetch_sub(&r->st->nregs, 1);
	shim_busy++;
	if (kernel) {
		real.epoll_ctl(r->ep->epfd, EPOLL_CTL_DEL, r->wfd, NULL);
		if (native && !r->parked) {
			struct epoll_event ev = { .events = r->events,
						  .data = r->data };

			if (r->disabled)
				ev.events &= ~(uint32_t)(EPOLLIN | EPOLLOUT |
							 EPOLLRDHUP | EPOLLPRI);
			real.epoll_ctl(r->ep->epfd, EPOLL_CTL_ADD, r->fd, &ev);
		}
	}
	if (r->wfd_owned)
		real.close(r->wfd);
	shim_busy--;
	free(r);
}

void epoll_forget_stream(struct sstream *st, bool native)
{
	if (!atomic_load(&st->nregs) && !st->regs)
		return;
	pthread_mutex_lock(&eplock);
	while (st->regs)
		reg_free(st->regs, true, native);
	pthread_mutex_unlock(&eplock);
}

void epoll_mark_hot(struct sstream *st)
{
	pthread_mutex_lock(&eplock);
	for (struct reg *r = st->regs; r; r = r->st_next)
		hot_add(r);
	pthread_mutex_unlock(&eplock);
}

static void sepoll_destroy(struct obj *o)
{
	struct sepoll *ep = (struct sepoll *)o;

	pthread_mutex_lock(&eplock);
	for (uint32_t i = 0; i < ep->cap; i++)
		if (ep->slot[i])
			reg_free(ep->slot[i], false, false);
	pthread_mutex_unlock(&eplock);
	free(ep->slot);
	free(ep);
}

/* The set's object, made on its first stream (a reference). */
static struct sepoll *sepoll_of(int epfd, bool create)
{
	struct obj *o = fd_get(epfd), *old;
	struct sepoll *ep;

	if (o && o->kind == SK_EPOLL)
		return (struct sepoll *)o;
	if (o) {
		obj_put(o);
		return NULL;
	}
	if (!create || !(ep = calloc(1, sizeof(*ep))))
		return NULL;
	ep->o.kind = SK_EPOLL;
	ep->o.destroy = sepoll_destroy;
	ep->epfd = epfd;
	old = fd_set_obj(epfd, &ep->o);
	if (old == &ep->o) {
		free(ep);
		return NULL;
	}
	obj_put(old);
	obj_hold(&ep->o);
	return ep;
}

/* ---- epoll_ctl ---- */

static int emu_add(int epfd, int fd, struct sstream *st,
		   const struct epoll_event *ev)
{
	struct epoll_event kev;
	struct sepoll *ep;
	struct reg *r;
	int e = 0;

	if (!(ep = sepoll_of(epfd, false))) {
		/* A set the shim has not seen: let the kernel judge it
		 * (EBADF, EINVAL) with an fd of our own first. */
		struct epoll_event tev = { .events = EPOLLIN };
		int t, rr;

		shim_busy++;
		t = eventfd(0, EFD_CLOEXEC);
		rr = t < 0 ? -1 : real.epoll_ctl(epfd, EPOLL_CTL_ADD, t, &tev);
		e = rr < 0 ? -errno : 0;
		if (rr == 0)
			real.epoll_ctl(epfd, EPOLL_CTL_DEL, t, NULL);
		if (t >= 0)
			real.close(t);
		shim_busy--;
		if (e)
			return e;
		if (!(ep = sepoll_of(epfd, true)))
			return -ENOMEM;
	}
	pthread_mutex_lock(&eplock);
	if ((r = find_reg(ep, fd)) && !r->parked) {
		e = -EEXIST;
		goto out;
	}
	if (r && r->st == st) {
		/* Deleted earlier: its wait fd is still in the set. */
		r->parked = false;
		r->events = ev->events;
		r->data = ev->data;
		r->disabled = false;
		r->seen_gen = ~0u;
		hot_add(r);
		goto out;
	}
	if (r) /* parked for a stream this fd no longer names */
		reg_free(r, true, false);
	if (!(r = calloc(1, sizeof(*r)))) {
		e = -ENOMEM;
		goto out;
	}
	r->ep = ep;
	r->st = st;
	r->fd = fd;
	r->events = ev->events;
	r->data = ev->data;
	r->wfd = st->wfd;
	r->seen_gen = ~0u;
	if (slot_new(ep, r) < 0) {
		free(r);
		e = -ENOMEM;
		goto out;
	}
	kev.events = EPOLLIN | EPOLLET;
	kev.data.u64 = cookie(r->id);
	shim_busy++;
	if (real.epoll_ctl(epfd, EPOLL_CTL_ADD, r->wfd, &kev) < 0) {
		e = -errno;
		if (e == -EEXIST) {
			/* The stream is in this set under another fd: a
			 * dup of its wait fd stands for this one. */
			e = 0;
			r->wfd = real.fcntl(st->wfd, F_DUPFD_CLOEXEC, 0);
			r->wfd_owned = r->wfd >= 0;
			if (r->wfd < 0 || real.epoll_ctl(epfd, EPOLL_CTL_ADD,
							 r->wfd, &kev) < 0)
				e = -errno;
		}
	}
	shim_busy--;
	if (e) {
		ep->slot[r->id] = NULL;
		if (r->wfd_owned)
			real.close(r->wfd);
		free(r);
		goto out;
	}
	r->st_next = st->regs;
	st->regs = r;
	atomic_fetch_add(&st->nregs, 1);
	hot_add(r); /* the kernel reports what is ready at once */
out:
	pthread_mutex_unlock(&eplock);
	obj_put(&ep->o);
	if (!e) /* a receive before this left it unarmed: arm at the wait */
		st_pend_if_unarmed(st);
	return e;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct obj *o;
	struct sepoll *ep;
	struct reg *r;
	int e = 0;

	shim_resolve();
	if (shim_busy || cfg.off || !fd_maybe(fd))
		return real.epoll_ctl(epfd, op, fd, ev);
	if (!(o = fd_get(fd)))
		return real.epoll_ctl(epfd, op, fd, ev);
	if (o->kind == SK_SOCK) {
		/* Remembered: if this socket is replaced at connect or
		 * listen, the registration follows it. */
		struct ssock *sk = (struct ssock *)o;
		int rr = real.epoll_ctl(epfd, op, fd, ev);

		if (rr == 0) {
			struct nreg **pp, *n;

			pthread_mutex_lock(&sk->lock);
			for (pp = &sk->nregs; *pp; pp = &(*pp)->next)
				if ((*pp)->epfd == epfd && (*pp)->fd == fd)
					break;
			if (op == EPOLL_CTL_DEL && *pp) {
				n = *pp;
				*pp = n->next;
				free(n);
			} else if (op == EPOLL_CTL_MOD && *pp) {
				(*pp)->ev = *ev;
			} else if (op == EPOLL_CTL_ADD &&
				   (n = calloc(1, sizeof(*n)))) {
				n->epfd = epfd;
				n->fd = fd;
				n->ev = *ev;
				n->next = sk->nregs;
				sk->nregs = n;
			}
			pthread_mutex_unlock(&sk->lock);
		}
		obj_put(o);
		return rr;
	}
	if (o->kind != SK_STREAM ||
	    atomic_load(&((struct sstream *)o)->native) ||
	    ((struct sstream *)o)->wfd < 0) {
		obj_put(o);
		return real.epoll_ctl(epfd, op, fd, ev);
	}
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && !ev) {
		obj_put(o);
		errno = EFAULT;
		return -1;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		e = emu_add(epfd, fd, (struct sstream *)o, ev);
		break;
	case EPOLL_CTL_MOD:
	case EPOLL_CTL_DEL:
		ep = sepoll_of(epfd, false);
		if (!ep) {
			/* Not a set the shim knows: the kernel says why. */
			obj_put(o);
			return real.epoll_ctl(epfd, op, fd, ev);
		}
		pthread_mutex_lock(&eplock);
		r = find_reg(ep, fd);
		if (!r || r->parked) {
			e = -ENOENT;
		} else if (op == EPOLL_CTL_DEL) {
			r->parked = true;
			hot_del(r);
		} else {
			r->events = ev->events;
			r->data = ev->data;
			r->disabled = false;
			r->seen_gen = ~0u; /* report what is ready now */
			hot_add(r);
		}
		pthread_mutex_unlock(&eplock);
		obj_put(&ep->o);
		if (!e && op == EPOLL_CTL_MOD)
			st_pend_if_unarmed((struct sstream *)o);
		break;
	default: e = -EINVAL; break;
	}
	obj_put(o);
	if (e) {
		errno = -e;
		return -1;
	}
	return 0;
}

void epoll_replay_native(struct ssock *sk, int fd, struct obj *now)
{
	struct nreg *n;

	pthread_mutex_lock(&sk->lock);
	n = sk->nregs;
	sk->nregs = NULL;
	pthread_mutex_unlock(&sk->lock);
	while (n) {
		struct nreg *next = n->next;
		struct sstream *st = (struct sstream *)now;

		if (now->kind == SK_STREAM && !atomic_load(&st->native) &&
		    st->wfd >= 0) {
			emu_add(n->epfd, fd, st, &n->ev);
		} else {
			shim_busy++;
			real.epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &n->ev);
			shim_busy--;
		}
		free(n);
		n = next;
	}
}

/* ---- epoll_wait ---- */

struct cand {
	struct reg *r; /* only under eplock, after checking it is still there */
	struct sstream *st;
	uint32_t id;
	uint32_t events; /* r's, copied under eplock */
	int fd;
	short rev;
	unsigned gen;
};

/* Collect the hot registrations (references to their streams) into
 * *@c (grown if need be), taking them off the hot list: registrations
 * made hot again while they are looked at wait for the next call.
 * eplock held.  Returns how many. */
static int collect(struct sepoll *ep, struct cand **c, int *cap)
{
	int n = 0;

	while (ep->hot) {
		struct reg *r = ep->hot;

		if (n == *cap) {
			int nc = *cap * 4;
			struct cand *m = malloc((size_t)nc * sizeof(*m));

			if (!m)
				break; /* the rest next time */
			memcpy(m, *c, (size_t)n * sizeof(*m));
			if (*cap > CAND_MAX)
				free(*c);
			*c = m;
			*cap = nc;
		}
		ep->hot = r->hot_next;
		r->hot = false;
		if (r->disabled || !obj_tryhold(&r->st->o))
			continue;
		(*c)[n].r = r;
		(*c)[n].st = r->st;
		(*c)[n].id = r->id;
		(*c)[n].events = r->events;
		(*c)[n].fd = r->fd;
		n++;
	}
	return n;
}

/* poll(2) bits of an epoll mask and back (the values are the same on
 * Linux, but say so). */
static short pbits(uint32_t ev)
{
	short p = 0;

	if (ev & EPOLLIN)
		p |= POLLIN;
	if (ev & EPOLLOUT)
		p |= POLLOUT;
	if (ev & EPOLLRDHUP)
		p |= POLLRDHUP;
	if (ev & EPOLLPRI)
		p |= POLLPRI;
	return p;
}

static uint32_t ebits(short p)
{
	uint32_t e = 0;

	if (p & POLLIN)
		e |= EPOLLIN;
	if (p & POLLOUT)
		e |= EPOLLOUT;
	if (p & POLLRDHUP)
		e |= EPOLLRDHUP;
	if (p & POLLERR)
		e |= EPOLLERR;
	if (p & POLLHUP)
		e |= EPOLLHUP;
	return e;
}

/* Look at the hot registrations; write ready ones to @out (up to @room).
 * Returns how many. */
static int emu_ready(struct sepoll *ep, struct epoll_event *out, int room)
{
	struct cand stack[CAND_MAX], *cands = stack;
	int n, k = 0, cap = CAND_MAX;

	if (room <= 0)
		return 0;
	pthread_mutex_lock(&eplock);
	n = collect(ep, &cands, &cap);
	pthread_mutex_unlock(&eplock);
	for (int i = 0; i < n; i++) {
		/* Without eplock, so never through cands[i].r: another
		 * thread may close the fd and free its registration now
		 * (the stream itself is held).  A stale mask costs a look. */
		cands[i].rev = st_revents(cands[i].st, pbits(cands[i].events));
		cands[i].gen = atomic_load(&cands[i].st->gen);
		SHIM_LOG(3, "ep %d: fd %d want %x rev %x gen %u", ep->epfd,
			 cands[i].fd, cands[i].events, cands[i].rev,
			 cands[i].gen);
	}
	pthread_mutex_lock(&eplock);
	for (int i = 0; i < n; i++) {
		struct reg *r = cands[i].r;
		bool et;

		/* Still the same registration? */
		if (cands[i].id >= ep->cap || ep->slot[cands[i].id] != r)
			continue;
		if (cands[i].rev == -1) {
			/* The stream went to TCP: the kernel's now. */
			reg_free(r, true, true);
			continue;
		}
		if (!cands[i].rev || r->disabled || r->parked)
			continue;
		et = r->events & EPOLLET;
		if (et && r->seen_gen == cands[i].gen)
			continue;
		if (k == room) {
			hot_add(r); /* next time */
			continue;
		}
		out[k].events =
			ebits(cands[i].rev) & (r->events | EPOLLERR | EPOLLHUP);
		out[k].data = r->data;
		k++;
		r->seen_gen = cands[i].gen;
		if (r->events & EPOLLONESHOT)
			r->disabled = true;
		else if (!et)
			hot_add(r); /* level: again until drained */
	}
	pthread_mutex_unlock(&eplock);
	for (int i = 0; i < n; i++)
		obj_put(&cands[i].st->o);
	if (cands != stack)
		free(cands);
	return k;
}

/* Take the cookie events out of what the kernel returned (marking their
 * registrations hot); returns how many application events remain. */
static int sift(struct sepoll *ep, struct epoll_event *ev, int n)
{
	int k = 0;

	pthread_mutex_lock(&eplock);
	for (int i = 0; i < n; i++) {
		if (is_cookie(ev[i].data.u64)) {
			uint32_t id = (uint32_t)ev[i].data.u64;

			SHIM_LOG(3, "ep %d: wake id %u", ep->epfd, id);
			if (id < ep->cap && ep->slot[id]) {
				st_activity(ep->slot[id]->st);
				for (struct reg *r = ep->slot[id]->st->regs; r;
				     r = r->st_next)
					if (r->ep == ep)
						hot_add(r);
			}
			continue;
		}
		ev[k++] = ev[i];
	}
	pthread_mutex_unlock(&eplock);
	return k;
}

/*
 * Spinning before a sleep.  A loop that sleeps with streams pending must
 * arm them, and whoever sends to one of them next pays a kick - on a VM a
 * wake-up of a halted CPU, tens of microseconds of the sender's time.  If
 * the next message comes within microseconds, looking for it a little
 * first (rings only, the kernel's set every few looks, never a syscall
 * per look) saves both sides that.  The budget adapts per thread, to how
 * long waits actually take: a spin that finds something, or a sleep that
 * ended sooner than the most a spin may take, doubles it (from 1 us); a
 * spin that found nothing halves it, down to nothing.  So an idle
 * program spins once after its last message, for a few microseconds at
 * most, then sleeps as before.  ISM_RUN_SPIN_US=0: never.
 */
#define SPIN_MIN_NS	  1000u
#define SPIN_KERNEL_EVERY 16 /* looks between asks of the kernel's set */

static __thread uint32_t spin_ns = SPIN_MIN_NS;

static bool spin_wanted(void)
{
	return cfg.spin_ns && spin_ns && st_look_pending_few();
}

/* 1: a pending stream is ready (hot now); 2: the kernel's set is;
 * 0: the budget went, sleep. */
static int spin_first(struct sepoll *ep, uint64_t deadline)
{
	uint64_t t0, now;
	int found = 0;

	t0 = shim_now_ns();
	for (unsigned i = 1;; i++) {
		if (st_look_pending()) {
			found = 1;
			break;
		}
		if (!(i % SPIN_KERNEL_EVERY)) {
			struct pollfd p = { .fd = ep->epfd, .events = POLLIN };

			if (real.poll(&p, 1, 0) > 0) {
				found = 2;
				break;
			}
		}
		now = shim_now_ns();
		if (now - t0 >= spin_ns || (deadline && now >= deadline))
			break;
		ism_cpu_relax();
	}
	if (found)
		spin_ns = spin_ns * 2 > cfg.spin_ns ? cfg.spin_ns : spin_ns * 2;
	else
		spin_ns /= 2;
	return found;
}

/* A sleep of @ns ended: had it been short enough, a spin would have
 * caught it. */
static void spin_learn(uint64_t ns)
{
	if (cfg.spin_ns && ns < cfg.spin_ns && spin_ns < cfg.spin_ns)
		spin_ns = spin_ns < SPIN_MIN_NS ? SPIN_MIN_NS : spin_ns * 2;
}

static int shim_epoll_wait(struct sepoll *ep, struct epoll_event *ev, int max,
			   bool zero, uint64_t deadline, const sigset_t *mask)
{
	struct st_armed armed = { 0 };

	for (;;) {
		int k, n, to, e, spin;
		uint64_t slept = 0;
		bool waiter, masked;
		sigset_t old;
		const sigset_t *mask_used;

		/* Streams receives left unarmed: arrivals since are
		 * wake-ups nobody was sent (io.c). */
		st_arm_pending(false, NULL);
		k = emu_ready(ep, ev, max);

		if (k == max)
			return k; /* the kernel's events wait for next time */
		to = k || zero ? 0 : shim_ms_left(deadline);
		shim_busy++;
		masked = false;
		if (to && spin_wanted()) {
			/* Signals wait while we spin, and the wait takes
			 * them as the kernel's would have from the start:
			 * EINTR, never a handler run with the program
			 * already asleep here. */
			sigset_t all;

			sigfillset(&all);
			masked = !pthread_sigmask(SIG_BLOCK, &all, &old);
			spin = spin_first(ep, deadline);
			if (spin == 1) {
				if (masked)
					pthread_sigmask(SIG_SETMASK, &old,
							NULL);
				shim_busy--;
				continue; /* report it */
			}
			if (spin == 2)
				to = 0; /* the kernel has something */
		}
		waiter = to != 0;
		if (waiter) {
			atomic_fetch_add(&shim_epoll_waiters, 1);
			/* Counted: arm what receives left unarmed (io.c);
			 * bytes found so are reported without a sleep. */
			if (st_arm_pending(true, &armed))
				to = 0;
			slept = shim_now_ns();
		}
		if (masked)
			mask_used = mask ? mask : &old;
		else
			mask_used = mask;
		n = mask_used ? real.epoll_pwait(ep->epfd, ev + k, max - k, to,
						 mask_used)
			      : real.epoll_wait(ep->epfd, ev + k, max - k, to);
		e = errno;
		if (masked)
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (waiter) {
			atomic_fetch_sub(&shim_epoll_waiters, 1);
			if (to)
				spin_learn(shim_now_ns() - slept);
		}
		/* Awake: what the sleep armed would cost kicks (io.c). */
		if (armed.n)
			st_disarm_woken(&armed);
		shim_busy--;
		if (n < 0) {
			if (k && e == EINTR)
				return k;
			errno = e;
			return -1;
		}
		n = sift(ep, ev + k, n);
		/* Only if none was reported yet: a level-triggered one
		 * reported above is hot again, and must not come twice. */
		if (!k && n < max)
			k = emu_ready(ep, ev + n, max - n);
		if (k + n > 0 || zero || (deadline && !shim_ms_left(deadline)))
			return k + n;
		/* Only wake-ups for nothing the application asked about:
		 * wait again for the time left. */
	}
}

static struct sepoll *set_of(int epfd)
{
	if (shim_busy || cfg.off || !fd_maybe(epfd))
		return NULL;
	return sepoll_of(epfd, false);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	struct sepoll *ep;
	int r;

	shim_resolve();
	if (max <= 0 || !(ep = set_of(epfd)))
		return real.epoll_wait(epfd, ev, max, timeout);
	r = shim_epoll_wait(ep, ev, max, timeout == 0,
			    timeout > 0 ? shim_now_ns() +
						  (uint64_t)timeout * 1000000ull
					: 0,
			    NULL);
	obj_put(&ep->o);
	return r;
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		const sigset_t *mask)
{
	struct sepoll *ep;
	int r;

	shim_resolve();
	if (max <= 0 || !(ep = set_of(epfd)))
		return real.epoll_pwait(epfd, ev, max, timeout, mask);
	r = shim_epoll_wait(ep, ev, max, timeout == 0,
			    timeout > 0 ? shim_now_ns() +
						  (uint64_t)timeout * 1000000ull
					: 0,
			    mask);
	obj_put(&ep->o);
	return r;
}

int epoll_pwait2(int epfd, struct epoll_event *ev, int max,
		 const struct timespec *t, const sigset_t *mask)
{
	struct sepoll *ep;
	uint64_t deadline = 0;
	int r;

	shim_resolve();
	if (max <= 0 || !(ep = set_of(epfd))) {
		if (!real.epoll_pwait2) {
			errno = ENOSYS;
			return -1;
		}
		return real.epoll_pwait2(epfd, ev, max, t, mask);
	}
	if (t)
		deadline = shim_now_ns() + (uint64_t)t->tv_sec * 1000000000ull +
			   (uint64_t)t->tv_nsec + 1;
	r = shim_epoll_wait(ep, ev, max, t && !t->tv_sec && !t->tv_nsec,
			    deadline, mask);
	obj_put(&ep->o);
	return r;
}
