/* SPDX-License-Identifier: MIT */
/*
 * chan - two rings, two regions, two links (see include/ism/chan.h).
 *
 * A side's region:
 *
 *     0   header (written once): magic, version, offsets, ring size
 *    64   consumer area of the ring coming from the other side
 *   256   producer area of our ring (header, index, flags, data)
 *
 * Links: each side makes a SEQPACKET socketpair, keeps one end (kicks and
 * the other side's hang-up arrive there) and hands the other end over
 * with its region.  We kick the other side on the end it gave us; its
 * hang-up also shows there (POLLHUP).
 *
 * Sleeping.  A role that sleeps alone (the usual case: one thread, or
 * only one of two threads waiting) blocks in recvmmsg() on the link
 * itself: a kick costs what a socket wake-up costs, with no epoll in
 * between, and the other side's death shows as the link's end of file.
 * With two threads (one sending, one receiving) both asleep, the second
 * sleeps in an epoll set of its own (the link, the other side's hang-up,
 * and a private eventfd for that role); whichever thread drains a kick
 * hands it on through the other role's eventfd if that one sleeps, and
 * only ever reads its own.  If the first sleeps in recvmmsg(), the second
 * leaves the link to it (poll on its eventfd and the hang-up only), and
 * the first wakes it when it returns, so it looks again.  A sleeper
 * announces itself (sleepers bits, one atomic word) before arming its
 * ring, so a kick caused by that arming is always drained after the
 * announcement is visible.
 *
 * An event loop's DONTWAIT receive may leave the ring unarmed
 * (ISM_F_NOARM): the loop arms (ism_chan_arm_rx(), which looks first, so
 * no arm is seen while a message waits) only before it sleeps.
 *
 * A role left armed by an ISM_F_DONTWAIT call is announced the same way
 * (ARMED), before arming: its caller polls ism_chan_fd(), which holds the
 * link and both roles' eventfds, so a kick for it that the other role
 * drains is handed on through its eventfd too.  And a call that only
 * empties the link (settling a DONTWAIT arming, an interrupted epoll)
 * never reads it from under a role asleep in recvmmsg() (which would
 * sleep on without its kick): it announces itself (DRAINING), leaves the
 * link alone if the other role is DIRECT, and while it drains no role
 * chooses DIRECT.
 *
 * Never waiting on the other side: both link ends can receive what it
 * sends, fds included (SCM_RIGHTS), and the last close of such an fd
 * can block as long as its maker wants (util/bgclose.h).  Our links
 * refuse fds where the kernel allows it; kicks are received with room
 * for any fds that come anyway, which go to ism_bgclose(); links are
 * closed with ism_bgclose().  And never a signal from its memory: a
 * hugetlb region can be punched out by its owner, after which touching
 * it may SIGBUS (the pool being empty), so such a peer region is refused.
 */
#include "chan.h"
#include "ring/ring.h"
#include "util/bgclose.h"
#include "util/util.h"

#include <ism/chan.h>
#include <ism/region.h>
#include <ism/ring.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CHAN_MAGIC   0x314e414843534d49ull /* "ISMCHAN1" */
#define CHAN_VERSION 1u
#define CHAN_HDR     256u
#define RX_OFF	     64u
#define TX_OFF	     CHAN_HDR
/* Pauses between looks while spinning: doubling up to this many.  Looking
 * at once keeps latency near the cache-line limit; backing off keeps a
 * spinning reader from pulling the writer's index line away on every
 * store, which would halve a busy flow's rate. */
#define SPIN_BACKOFF_MAX 16u
#define LINK_BATCH	 64 /* kicks read per call */
/* Kicks a disarmed receiver may leave in its link before a receive
 * empties it: far fewer than a link holds, so a kick is never refused
 * for a full link of stale ones. */
#define STRAYS_MAX 16u
/* Kicks read per direct wake-up: one is usual (one kick per sleep). */
#define LINK_DIRECT_BATCH 4
/* The most fds one sendmsg() can carry (SCM_MAX_FD in the kernel). */
#define LINK_MAX_FDS 253

struct chan_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t rx_off, rx_len;
	uint32_t tx_off, tx_len;
	uint32_t ring_size;
	uint32_t flags; /* CHAN_F_*; 0 from older sides */
	uint32_t reserved[6];
};

/* This side puts membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) between
 * arming its rings and re-checking them: the other side, if registered
 * for it, may publish with light barriers (lib/ring/ring.h). */
#define CHAN_F_FENCE 0x1u
/* This side, publishing lightly, honours the other's heavy wake word
 * (ISM_RING_WAKE_HEAVY, lib/ring/ring.h): it may go heavy. */
#define CHAN_F_HEAVY 0x2u

_Static_assert(sizeof(struct chan_hdr) == 64, "one cache line");
_Static_assert(offsetof(struct chan_hdr, rx_off) == 16, "layout");
_Static_assert(offsetof(struct chan_hdr, tx_off) == 24, "layout");
_Static_assert(offsetof(struct chan_hdr, ring_size) == 32, "layout");
_Static_assert(offsetof(struct chan_hdr, flags) == 36, "layout");
_Static_assert(RX_OFF + ISM_RING_CONS_AREA <= CHAN_HDR, "layout");

/* Roles, and their bits in struct ism_chan.sleepers. */
#define ROLE_RX		0
#define ROLE_TX		1
#define SLEEP_BIT(role) (1u << (role))
/* It sleeps in recvmmsg() on the link. */
#define DIRECT_BIT(role) (4u << (role))
/* It sleeps without the link (the other role is DIRECT). */
#define NOLINK_BIT(role) (16u << (role))
/* Left armed by a DONTWAIT call: its caller polls ism_chan_fd(). */
#define ARMED_BIT(role) (64u << (role))
/* It is emptying the link without sleeping (drain()). */
#define DRAINING_BIT(role) (256u << (role))

/*
 * What one drain of the link receives into, per role (the two may drain
 * at once).  Each message has room for all the fds it can carry: any the
 * kernel could not hand over, it would close itself, in our thread.
 * Heap, not stack: about 66 KiB of control space, touched only by fds.
 */
struct link_rxbuf {
	struct mmsghdr mm[LINK_BATCH];
	struct iovec iov[LINK_BATCH];
	char data[LINK_BATCH];
	union {
		char b[CMSG_SPACE(LINK_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl[LINK_BATCH];
};

struct ism_chan {
	/* over ismd */
	struct ism_conn *c;
	struct ism_region *own, *peer;
	/* without ismd */
	int own_memfd;
	size_t peer_len_local;
	void *peer_map_local; /* also a placed peer part's mapping */
	/* placed (ism_chan_create_at): our part's own mapping, and where it
	 * lies, so a peer part in the same file cannot overlap it */
	bool placed;
	dev_t own_dev;
	ino_t own_ino;
	uint64_t own_off;

	uint8_t *own_map;
	size_t own_len;
	const uint8_t *peer_map;
	uint32_t ring_size, spin_us;

	int link_rx;	 /* our end: kicks and hang-ups arrive here */
	int link_tx;	 /* the other side's end: we kick on it */
	int export_link; /* local mode: the end to hand over */
	int epfd;	 /* for the caller: link_rx, link_tx (hang-up) */
	int sleep_fd[2]; /* per role: link_rx, link_tx, wake[role] */
	int wake[2];	 /* private eventfds: hand a kick to the other role */
	/* Per role: its wake eventfd may hold a count (set after each
	 * write), so that a look reads it only then. */
	atomic_bool woken[2];
	struct link_rxbuf *rxbuf[2]; /* per role */

	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
	atomic_uint sleepers;
	atomic_bool peer_dead;
	bool fence; /* we membarrier when arming (CHAN_F_FENCE) */
	bool connected, closed, tx_pending;
	bool rx_armed, tx_armed; /* left armed by a DONTWAIT call */
	/* Disarms since the link was last emptied: each may have left a
	 * kick there (ism_chan_disarm_rx()). */
	unsigned rx_strays;
	/* Per role: how long a wait spins before sleeping (see spin_more) */
	struct spin_role {
		uint64_t budget;      /* ns */
		uint64_t quiet_until; /* no spinning before (ns) */
		uint64_t quiet;	      /* the last quiet stretch (ns) */
		unsigned waits;
		unsigned contended; /* times spinning gave way */
	} spin[2];
};

/*
 * Spinning.  A wait looks at the ring with a doubling back-off (1..16
 * pauses: looking at once keeps latency near the cache-line limit;
 * backing off keeps a spinning reader from pulling the writer's index
 * line away on every store), reads the clock every SPIN_CLOCK pauses and
 * yields the CPU every SPIN_YIELD_EVERY clock reads, for as long as its
 * role's budget, then sleeps.  The budget adapts to what waits take: a
 * wait that ended while spinning keeps it at least twice that long; one
 * that had to sleep halves it (to SPIN_MIN_NS), and every SPIN_PROBE-th
 * wait spins the whole spin_us again to notice waits getting shorter.
 * And spinning never keeps the CPU from other work: a yield that took
 * long means something else wanted this CPU, and the role then spins
 * no more than SPIN_QUIET_SPIN_NS (less than the first yield comes
 * after) for a while (SPIN_QUIET_NS, doubling while it lasts, up to
 * SPIN_QUIET_MAX_NS): on a busy machine a wake-up is the faster way
 * back, and an answer that comes at once is still caught spinning.  (Only the yield is timed: a gap between two clock reads may be
 * an interrupt or the hypervisor, nothing a yield would help.)
 */
#define SPIN_CLOCK	   64u	  /* pauses between clock reads */
#define SPIN_YIELD_EVERY   4u	  /* clock reads between yields */
#define SPIN_MIN_NS	   4000u  /* the least a budget shrinks to */
#define SPIN_QUIET_SPIN_NS 2000u  /* the most a quiet role spins */
#define SPIN_PROBE	   16u	  /* every this many waits spin in full */
#define SPIN_PREEMPTED_NS  30000u /* a yield this long: the CPU was taken */
#define SPIN_QUIET_NS	   (5ull * 1000000)
#define SPIN_QUIET_MAX_NS  (100ull * 1000000)

/* One wait in progress. */
struct spin {
	uint64_t start, until, last; /* ns; start 0: not spinning yet */
	unsigned backoff, pauses, reads;
	bool slept;
};

/* The CPU went to something else: sleep at once for a while. */
static void spin_contended(struct spin_role *st, uint64_t now)
{
	st->quiet = st->quiet ? ISM_MIN(2 * st->quiet, SPIN_QUIET_MAX_NS)
			      : SPIN_QUIET_NS;
	st->quiet_until = now + st->quiet;
	st->contended++;
}

/* Spin once more: true while the budget lasts, false when it is time to
 * sleep. */
static bool spin_more(struct ism_chan *ch, int role, struct spin *sp)
{
	struct spin_role *st = &ch->spin[role];
	uint64_t now;

	if (!ch->spin_us)
		return false;
	if (sp->start == 0) {
		uint64_t budget = st->budget;

		now = ism_now_ns();
		if (now < st->quiet_until)
			/* The CPU is wanted: a few microseconds, shorter
			 * than any yield, for answers that come at once. */
			budget = ISM_MIN(budget, (uint64_t)SPIN_QUIET_SPIN_NS);
		else if (++st->waits % SPIN_PROBE == 0)
			budget = (uint64_t)ch->spin_us * 1000;
		sp->start = sp->last = now;
		sp->until = now + budget;
		sp->backoff = 1;
		sp->pauses = sp->reads = 0;
	}
	if (sp->pauses >= SPIN_CLOCK) {
		sp->pauses = 0;
		if (++sp->reads % SPIN_YIELD_EVERY == 0) {
			/* Anything else runnable here goes first; if there
			 * was (the yield took long), stop spinning. */
			sched_yield();
			now = ism_now_ns();
			if (now - sp->last > SPIN_PREEMPTED_NS) {
				spin_contended(st, now);
				return false;
			}
		} else {
			now = ism_now_ns();
		}
		sp->last = now;
		if (now >= sp->until) {
			/* Spinning did not pay this time. */
			st->budget =
				ISM_MAX(st->budget / 2, (uint64_t)SPIN_MIN_NS);
			st->quiet = 0;
			return false;
		}
	}
	for (unsigned k = 0; k < sp->backoff; k++)
		ism_cpu_relax();
	sp->pauses += sp->backoff;
	if (sp->backoff < SPIN_BACKOFF_MAX)
		sp->backoff <<= 1;
	return true;
}

/* The wait is over: if spinning ended it, keep the budget above what it
 * took (sp->last, the last clock read, is close enough, and free). */
static inline void spin_done(struct ism_chan *ch, int role,
			     const struct spin *sp)
{
	struct spin_role *st = &ch->spin[role];
	uint64_t took;

	if (!sp->start || sp->slept)
		return;
	took = sp->last - sp->start;
	if (2 * took > st->budget)
		st->budget = ISM_MIN(2 * took, (uint64_t)ch->spin_us * 1000);
	st->quiet = 0; /* it spun undisturbed */
}

/*
 * The process-wide barrier behind light publication (lib/ring/ring.h):
 * registered once per process (fork keeps it, exec drops it with
 * everything else).  True if this process may advertise CHAN_F_FENCE.
 */
static bool membarrier_ready(void)
{
	static atomic_int state; /* 0 unknown, 1 ready, -1 unavailable */
	int s = atomic_load_explicit(&state, memory_order_acquire);
	long q;

	if (s)
		return s > 0;
	q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	s = q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
			    syscall(SYS_membarrier,
				    MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0,
				    0) == 0
		    ? 1
		    : -1;
	atomic_store_explicit(&state, s, memory_order_release);
	return s > 0;
}

/* Every CPU running a registered process runs a full barrier.  (It
 * fails only for a command the kernel lacks, which the registration
 * ruled out.) */
static void global_fence(void)
{
	(void)syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
}

static size_t region_len(uint32_t ring)
{
	size_t n = TX_OFF + ism_ring_prod_area(ring);

	return (n + 4095) & ~(size_t)4095;
}

static int check_opts(const struct ism_chan_opts *in, struct ism_chan_opts *o)
{
	int r = ism_opts_copy(o, sizeof(*o),
			      ISM_OPTS_SIZE_VER0(struct ism_chan_opts, name),
			      in);

	if (r < 0)
		return r;
	if (o->ring_size == 0)
		o->ring_size = ISM_CHAN_RING_DEFAULT;
	if (!ism_ring_prod_area(o->ring_size) || o->flags)
		return -EINVAL;
	if (o->spin_us == 0)
		o->spin_us = ISM_SPIN_US_DEFAULT;
	else if (o->spin_us == ISM_CHAN_NO_SPIN)
		o->spin_us = 0;
	return 0;
}

static struct ism_chan *chan_new(void)
{
	struct ism_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->own_memfd = ch->link_rx = ch->link_tx = ch->export_link = -1;
	ch->epfd = ch->sleep_fd[0] = ch->sleep_fd[1] = -1;
	ch->wake[0] = ch->wake[1] = -1;
	return ch;
}

/* Links, epoll and the private wake-up; formats our region. */
static int chan_setup(struct ism_chan *ch, uint32_t ring)
{
	struct chan_hdr *h = (struct chan_hdr *)(void *)ch->own_map;
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	ch->ring_size = ring;
	for (int role = 0; role < 2; role++) {
		ch->rxbuf[role] = malloc(sizeof(*ch->rxbuf[role]));
		if (!ch->rxbuf[role])
			return -ENOMEM;
	}
	ch->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ch->epfd < 0)
		return -errno;
	ev.data.fd = ch->link_rx;
	if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, ch->link_rx, &ev) < 0)
		return -errno;
	for (int role = 0; role < 2; role++) {
		ch->sleep_fd[role] = epoll_create1(EPOLL_CLOEXEC);
		ch->wake[role] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ch->sleep_fd[role] < 0 || ch->wake[role] < 0)
			return -errno;
		/* A kick for a DONTWAIT-armed role, handed on (see atop). */
		ev.data.fd = ch->wake[role];
		if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, ch->wake[role], &ev) < 0)
			return -errno;
		ev.data.fd = ch->link_rx;
		if (epoll_ctl(ch->sleep_fd[role], EPOLL_CTL_ADD, ch->link_rx,
			      &ev) < 0)
			return -errno;
		ev.data.fd = ch->wake[role];
		if (epoll_ctl(ch->sleep_fd[role], EPOLL_CTL_ADD, ch->wake[role],
			      &ev) < 0)
			return -errno;
	}
	memset(h, 0, CHAN_HDR);
	h->magic = CHAN_MAGIC;
	h->version = CHAN_VERSION;
	h->hdr_size = CHAN_HDR;
	h->rx_off = RX_OFF;
	h->rx_len = ISM_RING_CONS_AREA;
	h->tx_off = TX_OFF;
	h->tx_len = (uint32_t)ism_ring_prod_area(ring);
	h->ring_size = ring;
	ch->fence = membarrier_ready();
	h->flags = ch->fence ? CHAN_F_FENCE | CHAN_F_HEAVY : 0;
	r = ism_ring_tx_init(ch->own_map + TX_OFF, h->tx_len, ring, NULL, 0,
			     &ch->tx);
	return r;
}

/*
 * What both kinds of channel start with: options checked, the channel,
 * and our link.  The other end goes to *@other_end, or, if that is NULL,
 * stays to be exported (local channels).  NULL and *@err on failure.
 */
static struct ism_chan *chan_begin(const struct ism_chan_opts *opts,
				   struct ism_chan_opts *o, int *other_end,
				   int *err)
{
	struct ism_chan *ch;
	int sv[2];

	if ((*err = check_opts(opts, o)) < 0)
		return NULL;
	ch = chan_new();
	if (!ch) {
		*err = -ENOMEM;
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = -errno;
		free(ch);
		return NULL;
	}
	ch->spin_us = o->spin_us;
	for (int role = 0; role < 2; role++)
		ch->spin[role].budget = (uint64_t)o->spin_us * 1000;
	/* Kicks arrive on this end: before the other end leaves us, make
	 * it refuse fds (the other side never holds this one, so nobody
	 * can turn that back on). */
	ism_refuse_fds(sv[0]);
	ch->link_rx = sv[0];
	if (other_end)
		*other_end = sv[1];
	else
		ch->export_link = sv[1];
	return ch;
}

int ism_chan_create(struct ism_conn *c, const struct ism_chan_opts *opts,
		    struct ism_chan **out)
{
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .flags = ISM_ALLOC_LINGER | ISM_ALLOC_LINK,
				     .max_access = ISM_ACCESS_RO };
	struct ism_chan_opts o;
	struct ism_chan *ch;
	int other_end, r;
	void *m;

	*out = NULL;
	ch = chan_begin(opts, &o, &other_end, &r);
	if (!ch)
		return r;
	ch->c = c;
	ao.link_fd = other_end;
	ao.name = o.name ? o.name : "ism-chan";
	if (o.peer) {
		ao.n_peers = 1;
		ao.peers = &o.peer;
	}
	r = ism_region_alloc(c, region_len(o.ring_size), &ao, &ch->own);
	/* Not the last reference (ismd holds one), and its queue can only
	 * hold what we sent: a plain close. */
	close(other_end);
	if (r < 0)
		goto fail;
	if ((r = ism_region_map(ch->own, &m)) < 0)
		goto fail;
	ch->own_map = m;
	ch->own_len = ism_region_size(ch->own);
	if ((r = chan_setup(ch, o.ring_size)) < 0)
		goto fail;
	*out = ch;
	return 0;
fail:
	ism_chan_close(ch);
	return r;
}

void ism_chan_token(struct ism_chan *ch, struct ism_token *tok)
{
	if (ch->own)
		ism_region_token(ch->own, tok);
	else
		memset(tok, 0, sizeof(*tok));
}

/* The other side's region, mapped: check its header (read once). */
static int chan_join(struct ism_chan *ch, const uint8_t *peer, size_t len,
		     int link)
{
	struct epoll_event ev = { .events = EPOLLRDHUP };
	struct chan_hdr h;
	int type = 0, domain = 0;
	socklen_t tl = sizeof(type), dl = sizeof(domain);
	int r;

	if (len < CHAN_HDR)
		return -EPROTO;
	memcpy(&h, peer, sizeof(h));
	if (h.magic != CHAN_MAGIC || h.version != CHAN_VERSION ||
	    h.hdr_size != CHAN_HDR || h.rx_off != RX_OFF ||
	    h.rx_len != ISM_RING_CONS_AREA || h.tx_off != TX_OFF ||
	    !ism_ring_prod_area(h.ring_size) ||
	    h.tx_len != ism_ring_prod_area(h.ring_size) ||
	    (size_t)h.tx_off + h.tx_len > len)
		return -EPROTO;
	/* The link must be what we expect, whoever chose it. */
	if (link < 0 || getsockopt(link, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_SEQPACKET ||
	    getsockopt(link, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0 ||
	    domain != AF_UNIX)
		return -EPROTO;
	r = ism_ring_rx_init(peer + TX_OFF, h.tx_len, ch->own_map + RX_OFF,
			     ISM_RING_CONS_AREA, &ch->rx);
	if (r < 0)
		return r;
	r = ism_ring_tx_set_peer(ch->tx, peer + RX_OFF, ISM_RING_CONS_AREA);
	if (r < 0)
		return r;
	/* Its word, read once: if it lies, only its wake-ups suffer. */
	if (ch->fence && (h.flags & CHAN_F_FENCE)) {
		ism_ring_tx_set_light(ch->tx, true);
		ism_ring_rx_set_light(ch->rx, true);
		ism_ring_rx_set_heavy_ok(ch->rx, h.flags & CHAN_F_HEAVY);
	}
	ch->peer_map = peer;
	ch->link_tx = link;
	ism_set_nonblock(link);
	/* Only its hang-up: nothing is ever sent to us on this one. */
	ev.data.fd = link;
	if (epoll_ctl(ch->epfd, EPOLL_CTL_ADD, link, &ev) < 0 ||
	    epoll_ctl(ch->sleep_fd[ROLE_RX], EPOLL_CTL_ADD, link, &ev) < 0 ||
	    epoll_ctl(ch->sleep_fd[ROLE_TX], EPOLL_CTL_ADD, link, &ev) < 0)
		return -errno;
	ch->connected = true;
	return 0;
}

int ism_chan_connect(struct ism_chan *ch, const struct ism_token *peer)
{
	struct ism_region_info info;
	int r, link;
	void *m;

	if (!ch->c)
		return -EINVAL;
	if (ch->connected)
		return -EALREADY;
	r = ism_region_attach(ch->c, peer, ISM_ACCESS_RO, 0, &ch->peer);
	if (r < 0)
		return r;
	/* ismd says whether it is hugetlb; never mapped if so. */
	ism_region_info(ch->peer, &info);
	if (info.huge) {
		r = -EOPNOTSUPP;
		goto fail; /* its link goes with the handle */
	}
	if ((r = ism_region_map(ch->peer, &m)) < 0)
		goto fail;
	link = ism_region_take_link(ch->peer);
	r = chan_join(ch, m, ism_region_size(ch->peer), link);
	if (r < 0) {
		if (link >= 0 && ch->link_tx != link)
			ism_bgclose(link);
		goto fail;
	}
	return 0;
fail:
	ism_ring_rx_close(ch->rx);
	ch->rx = NULL;
	ism_region_close(ch->peer);
	ch->peer = NULL;
	return r;
}

int ism_chan_local_create(const struct ism_chan_opts *opts,
			  struct ism_chan **out)
{
	struct ism_chan_opts o;
	struct ism_chan *ch;
	int r;
	void *m;

	*out = NULL;
	ch = chan_begin(opts, &o, NULL, &r);
	if (!ch)
		return r;
	ch->own_len = region_len(o.ring_size);
	ch->own_memfd =
		memfd_create("ism-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ch->own_memfd < 0 ||
	    ftruncate(ch->own_memfd, (off_t)ch->own_len) < 0 ||
	    fcntl(ch->own_memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto fail;
	}
	m = mmap(NULL, ch->own_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 ch->own_memfd, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	ch->own_map = m;
	if ((r = chan_setup(ch, o.ring_size)) < 0)
		goto fail;
	*out = ch;
	return 0;
fail:
	ism_chan_close(ch);
	return r;
}

int ism_chan_local_export(struct ism_chan *ch, int fds[2])
{
	char path[64];
	int ro;

	if (ch->own_memfd < 0 || ch->export_link < 0)
		return -EINVAL;
	/* A read-only open of our memfd: the other side cannot write it. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ch->own_memfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return -errno;
	fds[0] = ro;
	fds[1] = ch->export_link; /* handed over: no copy stays here */
	ch->export_link = -1;
	return 0;
}

int ism_chan_local_connect(struct ism_chan *ch, int region_fd, int link_fd)
{
	struct statfs sf;
	struct stat st;
	void *m = MAP_FAILED;
	int r, seals = -1;

	/* First of all: no more fds in flight to us on the other side's
	 * link (where the kernel can say so; not a socket: refused below).
	 * Defence in depth: it may have queued some already, or kept a
	 * descriptor of this end to turn the option back on; so the link
	 * is still closed with ism_bgclose(). */
	ism_refuse_fds(link_fd);
	if (ch->own_memfd < 0 || ch->connected) {
		/* Not through fail: a connection we have stays. */
		ism_bgclose(region_fd);
		ism_bgclose(link_fd);
		return ch->connected ? -EALREADY : -EINVAL;
	}
	/* Only a memfd (shmem or hugetlbfs) answers F_GET_SEALS, and
	 * without asking a file system: anything else is refused before a
	 * call that could wait on one (fstat of a FUSE file can). */
	seals = fcntl(region_fd, F_GET_SEALS);
	if (seals < 0) {
		r = -EPROTO;
		goto fail;
	}
	if (fstatfs(region_fd, &sf) < 0) {
		r = -errno;
		goto fail;
	}
	/* Its holder can punch out huge pages we would touch. */
	if (sf.f_type == HUGETLBFS_MAGIC) {
		r = -EOPNOTSUPP;
		goto fail;
	}
	/* Seals keep the file from shrinking under our mapping. */
	if (!(seals & F_SEAL_SHRINK) || fstat(region_fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size < (off_t)CHAN_HDR) {
		r = -EPROTO;
		goto fail;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, region_fd, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	r = chan_join(ch, m, (size_t)st.st_size, link_fd);
	if (r < 0)
		goto fail;
	ch->peer_map_local = m;
	ch->peer_len_local = (size_t)st.st_size;
	close(region_fd);
	return 0;
fail:
	if (m != MAP_FAILED)
		munmap(m, (size_t)st.st_size);
	ism_ring_rx_close(ch->rx);
	ch->rx = NULL;
	/* A memfd closes at once; anything else may be the other side's
	 * trap, as may its link. */
	if (seals >= 0)
		ism_close_fd(&region_fd);
	else
		ism_bgclose(region_fd);
	if (ch->link_tx != link_fd)
		ism_bgclose(link_fd);
	return r;
}

/* ---- placed channels ---- */

static uint64_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : 4096u;
}

size_t ism_chan_place_len(uint32_t ring_size)
{
	uint64_t pg = page_size();
	size_t n;

	if (ring_size == 0)
		ring_size = ISM_CHAN_RING_DEFAULT;
	if (!ism_ring_prod_area(ring_size))
		return 0;
	n = TX_OFF + ism_ring_prod_area(ring_size);
	return (n + pg - 1) & ~(size_t)(pg - 1);
}

static int place_copy(const struct ism_chan_place *in, struct ism_chan_place *p)
{
	int r = ism_opts_copy(p, sizeof(*p),
			      ISM_OPTS_SIZE_VER0(struct ism_chan_place, len),
			      in);

	if (r < 0)
		return r;
	if (p->flags || p->offset % page_size())
		return -EINVAL;
	if (p->kind == ISM_CHAN_PLACE_FD)
		return p->fd >= 0 ? 0 : -EBADF;
	if (p->kind == ISM_CHAN_PLACE_REGION)
		return p->region ? 0 : -EINVAL;
	return -EINVAL;
}

/* Our own part's file: its fd (the caller's) and size.  We trust it as
 * the caller's own, but it must be writable. */
static int own_file(const struct ism_chan_place *p, int *fd, uint64_t *size,
		    struct stat *st)
{
	if (p->kind == ISM_CHAN_PLACE_REGION) {
		struct ism_region_info info;

		ism_region_info(p->region, &info);
		if (info.nofd || ism_region_fd(p->region) < 0)
			return -EBADF;
		if (info.access != ISM_ACCESS_RW)
			return -EACCES;
		*fd = ism_region_fd(p->region);
	} else {
		*fd = p->fd;
	}
	if (fstat(*fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	*size = (uint64_t)st->st_size;
	return 0;
}

int ism_chan_create_at(const struct ism_chan_place *at,
		       const struct ism_chan_opts *opts, struct ism_chan **out)
{
	struct ism_chan_place p;
	struct ism_chan_opts o;
	struct ism_chan *ch;
	struct stat st;
	uint64_t size = 0, end;
	size_t need;
	int fd, r;
	void *m;

	*out = NULL;
	if ((r = place_copy(at, &p)) < 0)
		return r;
	/* Checked here too (chan_begin does) for the length we need now. */
	if ((r = check_opts(opts, &o)) < 0)
		return r;
	if (o.peer)
		return -EINVAL;
	need = ism_chan_place_len(o.ring_size);
	if ((r = own_file(&p, &fd, &size, &st)) < 0)
		return r;
	if ((p.len && p.len < need) ||
	    __builtin_add_overflow(p.offset, (uint64_t)need, &end) ||
	    end > size)
		return -ENOSPC;
	ch = chan_begin(opts, &o, NULL, &r);
	if (!ch)
		return r;
	ch->placed = true;
	ch->own_dev = st.st_dev;
	ch->own_ino = st.st_ino;
	ch->own_off = p.offset;
	m = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)p.offset);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	ch->own_map = m;
	ch->own_len = need;
	if ((r = chan_setup(ch, o.ring_size)) < 0)
		goto fail;
	*out = ch;
	return 0;
fail:
	ism_chan_close(ch);
	return r;
}

int ism_chan_export_link(struct ism_chan *ch)
{
	int fd = ch->export_link;

	if (fd < 0)
		return -EINVAL;
	ch->export_link = -1; /* handed over: no copy stays here */
	return fd;
}

/*
 * The other side's file: only a memfd (asked without a file system: see
 * ism_chan_local_connect), not hugetlb, sealed against shrinking.  The
 * size comes from the file itself, not from anything the peer said.
 */
static int peer_file(const struct ism_chan_place *p, int *fd, struct stat *st)
{
	struct statfs sf;
	int seals;

	if (p->kind == ISM_CHAN_PLACE_REGION) {
		struct ism_region_info info;

		ism_region_info(p->region, &info);
		if (info.huge)
			return -EOPNOTSUPP; /* ismd says so */
		*fd = ism_region_fd(p->region);
		if (info.nofd || *fd < 0)
			return -EBADF;
	} else {
		*fd = p->fd;
	}
	seals = fcntl(*fd, F_GET_SEALS);
	if (seals < 0)
		return -EPROTO;
	if (fstatfs(*fd, &sf) < 0)
		return -errno;
	if (sf.f_type == HUGETLBFS_MAGIC)
		return -EOPNOTSUPP;
	if (!(seals & F_SEAL_SHRINK) || fstat(*fd, st) < 0 ||
	    !S_ISREG(st->st_mode))
		return -EPROTO;
	return 0;
}

/* Where our own part lies, if in a file the peer could name too. */
static bool own_where(struct ism_chan *ch, dev_t *dev, ino_t *ino,
		      uint64_t *off)
{
	struct stat st;
	int fd = ch->own_memfd;

	if (ch->placed) {
		*dev = ch->own_dev;
		*ino = ch->own_ino;
		*off = ch->own_off;
		return true;
	}
	if (fd < 0 && ch->own)
		fd = ism_region_fd(ch->own);
	if (fd < 0 || fstat(fd, &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	*off = 0;
	return true;
}

/* The most of a peer part worth mapping: a header and the largest ring. */
#define PART_MAX (TX_OFF + (uint64_t)ISM_RING_DATA_MAX + 4096u)

int ism_chan_connect_at(struct ism_chan *ch, const struct ism_chan_place *peer,
			int link_fd)
{
	struct ism_chan_place p;
	struct stat st;
	uint64_t avail, len, own_off, own_end, end;
	dev_t own_dev;
	ino_t own_ino;
	void *m = MAP_FAILED;
	size_t mlen = 0;
	int fd, r;

	/* As ism_chan_local_connect(): no more fds in flight to us. */
	ism_refuse_fds(link_fd);
	if (ch->connected) {
		/* Not through fail: the connection we have stays. */
		ism_bgclose(link_fd);
		return -EALREADY;
	}
	if ((r = place_copy(peer, &p)) < 0 || (r = peer_file(&p, &fd, &st)) < 0)
		goto fail;
	/* The range: inside the file, from the file's own size. */
	if (p.offset > (uint64_t)st.st_size) {
		r = -EINVAL;
		goto fail;
	}
	avail = (uint64_t)st.st_size - p.offset;
	len = p.len ? p.len : avail;
	if (len > avail) {
		r = -EINVAL;
		goto fail;
	}
	if (len < CHAN_HDR) {
		r = -EPROTO; /* no room for a channel */
		goto fail;
	}
	end = p.offset + len; /* <= st_size: no overflow */
	if (own_where(ch, &own_dev, &own_ino, &own_off) &&
	    own_dev == st.st_dev && own_ino == st.st_ino &&
	    !__builtin_add_overflow(own_off, (uint64_t)ch->own_len, &own_end) &&
	    p.offset < own_end && own_off < end) {
		r = -EINVAL; /* our own part, as the peer's */
		goto fail;
	}
	mlen = (size_t)ISM_MIN(len, PART_MAX);
	m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, (off_t)p.offset);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	/* The header's rings must fit in mlen: checked by chan_join. */
	r = chan_join(ch, m, mlen, link_fd);
	if (r < 0)
		goto fail;
	ch->peer_map_local = m;
	ch->peer_len_local = mlen;
	return 0;
fail:
	if (m != MAP_FAILED)
		munmap(m, mlen);
	ism_ring_rx_close(ch->rx);
	ch->rx = NULL;
	if (ch->link_tx != link_fd)
		ism_bgclose(link_fd);
	return r;
}

size_t ism_chan_max_msg(struct ism_chan *ch)
{
	return ism_ring_max_msg(ch->ring_size);
}

int ism_chan_fd(struct ism_chan *ch)
{
	return ch->epfd;
}

/* ---- kicks and sleep ---- */

static void kick(struct ism_chan *ch)
{
	ssize_t r;

	if (ch->link_tx < 0)
		return;
	r = send(ch->link_tx, "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r < 0 && errno != EAGAIN && errno != EINTR)
		atomic_store(&ch->peer_dead, true);
	/* EAGAIN: its queue is full of kicks; it is awake enough. */
}

/* Fds that came with a kick: never ours to use, and their last close
 * is the other side's to make slow. */
static void drop_fds(struct msghdr *m)
{
	int fds[LINK_MAX_FDS];

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = ISM_MIN((c->cmsg_len - CMSG_LEN(0)) / sizeof(int),
			    (size_t)LINK_MAX_FDS);
		memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		ism_bgclose_fds(fds, n);
	}
}

/* Receive up to @n kicks from the link (recvmmsg @flags): a zero-length
 * one is the other side's end closing, fds that came along go to
 * ism_bgclose().  recvmmsg's result, errno as it left it. */
static int link_recv(struct ism_chan *ch, int role, int n, int flags)
{
	struct link_rxbuf *b = ch->rxbuf[role];
	int r;

	for (int i = 0; i < n; i++) {
		b->iov[i] =
			(struct iovec){ .iov_base = &b->data[i], .iov_len = 1 };
		b->mm[i] = (struct mmsghdr){
			.msg_hdr = { .msg_iov = &b->iov[i],
				     .msg_iovlen = 1,
				     .msg_control = b->ctl[i].b,
				     .msg_controllen = sizeof(b->ctl[i].b) }
		};
	}
	r = recvmmsg(ch->link_rx, b->mm, (unsigned)n, flags | MSG_CMSG_CLOEXEC,
		     NULL);
	for (int i = 0; i < r; i++) {
		if (b->mm[i].msg_len == 0)
			atomic_store(&ch->peer_dead, true);
		if (b->mm[i].msg_hdr.msg_controllen)
			drop_fds(&b->mm[i].msg_hdr);
	}
	return r;
}

/* Empty the link of kicks, in one call; true if anything came (a kick or
 * a hang-up). */
static bool drain_link(struct ism_chan *ch, int role)
{
	int r = link_recv(ch, role, LINK_BATCH, MSG_DONTWAIT);

	if (r > 0)
		return true;
	if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		atomic_store(&ch->peer_dead, true);
		return true;
	}
	return false;
}

/* Consume our own role's wake-up from our other thread: if one was
 * written (woken[role]), or @fired (a wait saw the eventfd readable).
 * A write not yet flagged when we look is read at the next look: its
 * writer flags it right after, and the eventfd stays readable. */
static void drain_wake(struct ism_chan *ch, int role, bool fired)
{
	uint64_t v;

	if (!atomic_exchange(&ch->woken[role], false) && !fired)
		return;
	if (read(ch->wake[role], &v, sizeof(v)) < 0 && errno != EAGAIN)
		atomic_store(&ch->peer_dead, true);
}

static void wake_role(struct ism_chan *ch, int role)
{
	uint64_t one = 1;

	if (write(ch->wake[role], &one, sizeof(one)) < 0 && errno != EAGAIN)
		atomic_store(&ch->peer_dead, true);
	atomic_store(&ch->woken[role], true);
}

/* A kick drained by one role may be meant for the other: pass it on if
 * the other sleeps (never DIRECT then: see drain()) or is left armed. */
static void hand_on(struct ism_chan *ch, int role)
{
	if (!(atomic_load(&ch->sleepers) &
	      (SLEEP_BIT(!role) | ARMED_BIT(!role))))
		return;
	wake_role(ch, !role);
}

/* Read every kick and notice a hang-up; hand a kick on to the other
 * role if it sleeps; consume only our own role's wake-ups.  The link is
 * left to the other role if it sleeps on it (DIRECT): it gets the kicks,
 * and hands them on when it wakes. */
static void drain(struct ism_chan *ch, int role)
{
	unsigned old = atomic_load(&ch->sleepers);
	bool got = false;

	while (!(old & DIRECT_BIT(!role)) &&
	       !atomic_compare_exchange_weak(&ch->sleepers, &old,
					     old | DRAINING_BIT(role)))
		;
	if (!(old & DIRECT_BIT(!role))) {
		got = drain_link(ch, role);
		atomic_fetch_and(&ch->sleepers, ~DRAINING_BIT(role));
	}
	drain_wake(ch, role, false);
	if (ch->link_tx >= 0 && !got) {
		/* Its end of our link hangs up when it is gone.  (Not asked
		 * when kicks came: a later look without any asks, and every
		 * sleep watches for the hang-up.) */
		struct pollfd p = { .fd = ch->link_tx, .events = 0 };

		if (poll(&p, 1, 0) == 1 &&
		    (p.revents & (POLLHUP | POLLERR | POLLRDHUP))) {
			atomic_store(&ch->peer_dead, true);
			got = true;
		}
	}
	if (got)
		hand_on(ch, role);
}

/* Alone: block on the link itself, for a kick (several, if queued) or
 * its end of file. */
static void sleep_direct(struct ism_chan *ch, int role)
{
	int r = link_recv(ch, role, LINK_DIRECT_BATCH, MSG_WAITFORONE);

	/* EINTR: the caller looks again and comes back. */
	if (r == 0 || (r < 0 && errno != EINTR))
		atomic_store(&ch->peer_dead, true);
}

/* Beside a DIRECT sleeper: our eventfd (it wakes us when it returns) and
 * the other side's hang-up; never the link, which is the other's. */
static void sleep_nolink(struct ism_chan *ch, int role)
{
	struct pollfd p[2] = {
		{ .fd = ch->wake[role], .events = POLLIN },
		{ .fd = ch->link_tx, .events = POLLRDHUP },
	};

	if (poll(p, ch->link_tx >= 0 ? 2 : 1, -1) > 0) {
		if (p[0].revents & POLLIN)
			drain_wake(ch, role, true);
		if (p[1].revents & (POLLHUP | POLLRDHUP | POLLERR))
			atomic_store(&ch->peer_dead, true);
	}
}

/* With the other role asleep too: the epoll set, as described atop. */
static void sleep_epoll(struct ism_chan *ch, int role)
{
	struct epoll_event evs[3];
	bool got = false;
	int n = epoll_wait(ch->sleep_fd[role], evs, 3, -1);

	if (n <= 0) {
		drain(ch, role); /* EINTR: look at everything */
		return;
	}
	/* Only what fired: a wake-up costs epoll_wait and one more call. */
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;

		if (fd == ch->link_rx)
			got |= drain_link(ch, role);
		else if (fd == ch->wake[role])
			drain_wake(ch, role, true);
		else if (fd == ch->link_tx &&
			 (evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
			atomic_store(&ch->peer_dead, true);
			got = true;
		}
	}
	if (got)
		hand_on(ch, role);
}

/*
 * Sleep until a kick, a hang-up or our other thread wakes us.  @arm arms
 * and re-checks; it returns 1 if sleeping is pointless.  How to sleep is
 * decided in the same atomic step that announces us (see atop).
 */
static void chan_sleep(struct ism_chan *ch, int role,
		       int (*arm)(struct ism_chan *, size_t), size_t arg,
		       void (*disarm)(struct ism_chan *))
{
	unsigned old = atomic_load(&ch->sleepers), mode, mine;

	do {
		/* DIRECT only with the link to ourselves. */
		if (!(old & (SLEEP_BIT(!role) | DRAINING_BIT(!role))))
			mode = DIRECT_BIT(role);
		else if (old & DIRECT_BIT(!role))
			mode = NOLINK_BIT(role);
		else
			mode = 0;
		mine = SLEEP_BIT(role) | mode;
	} while (
		!atomic_compare_exchange_weak(&ch->sleepers, &old, old | mine));
	if (arm(ch, arg) == 0 && !atomic_load(&ch->peer_dead)) {
		if (mode & DIRECT_BIT(role))
			sleep_direct(ch, role);
		else if (mode & NOLINK_BIT(role))
			sleep_nolink(ch, role);
		else
			sleep_epoll(ch, role);
	}
	old = atomic_fetch_and(&ch->sleepers, ~mine);
	disarm(ch);
	/* The other role came while we held the link, or its caller
	 * waits on ism_chan_fd(): let it look again (it may have been the
	 * kick we took). */
	if ((mode & DIRECT_BIT(role)) &&
	    (old & (NOLINK_BIT(!role) | ARMED_BIT(!role))))
		wake_role(ch, !role);
}

static int rx_arm(struct ism_chan *ch, size_t unused)
{
	(void)unused;
	return ism_ring_rx_arm_fenced(ch->rx, ch->fence ? global_fence : NULL);
}

static void rx_disarm(struct ism_chan *ch)
{
	ism_ring_rx_disarm(ch->rx);
}

static int tx_arm(struct ism_chan *ch, size_t len)
{
	return ism_ring_tx_arm_fenced(ch->tx, len,
				      ch->fence ? global_fence : NULL);
}

static void tx_disarm(struct ism_chan *ch)
{
	ism_ring_tx_disarm(ch->tx);
}

/* A DONTWAIT call left us armed so ism_chan_fd() would wake the caller:
 * undo that, and empty the link so the fd is quiet again. */
static void rx_settle(struct ism_chan *ch)
{
	if (ch->rx_armed || ch->rx_strays >= STRAYS_MAX) {
		if (ch->rx_armed)
			ism_ring_rx_disarm(ch->rx);
		ch->rx_armed = false;
		ch->rx_strays = 0;
		atomic_fetch_and(&ch->sleepers, ~ARMED_BIT(ROLE_RX));
		drain(ch, ROLE_RX);
	}
}

static void tx_settle(struct ism_chan *ch)
{
	if (ch->tx_armed) {
		ism_ring_tx_disarm(ch->tx);
		ch->tx_armed = false;
		atomic_fetch_and(&ch->sleepers, ~ARMED_BIT(ROLE_TX));
		drain(ch, ROLE_TX);
	}
}

/* Arm for a DONTWAIT call's -EAGAIN, announced first (see atop): 0 left
 * armed, 1 no need (disarmed), or -errno. */
static int dontwait_arm(struct ism_chan *ch, int role, size_t len)
{
	int a;

	atomic_fetch_or(&ch->sleepers, ARMED_BIT(role));
	a = role == ROLE_TX ? tx_arm(ch, len) : rx_arm(ch, 0);
	if (a != 0)
		atomic_fetch_and(&ch->sleepers, ~ARMED_BIT(role));
	return a;
}

/* ---- sending ---- */

static inline void publish(struct ism_chan *ch)
{
	if (ism_ring_fast_publish(ch->tx))
		kick(ch);
	ch->tx_pending = false;
}

/* Copy one message in (not published): 0 or what reserve returns. */
static inline int put(struct ism_ring_tx *tx, const struct iovec *iov,
		      int iovcnt, size_t total)
{
	uint8_t *p;
	void *v;
	int r = ism_ring_fast_reserve(tx, total, &v);

	if (r < 0)
		return r;
	p = v;
	for (int i = 0; i < iovcnt; i++) {
		ism_ring_copy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	ism_ring_fast_commit(tx);
	return 0;
}

int ism_chan_flush(struct ism_chan *ch)
{
	if (atomic_load(&ch->peer_dead))
		return -EPIPE;
	publish(ch);
	return 0;
}

/* Wait for room for @len.  Returns 0 to retry, or -errno. */
static int wait_room(struct ism_chan *ch, size_t len, int flags,
		     struct spin *sp)
{
	if (ch->tx_pending)
		publish(ch); /* the consumer may be waiting on those */
	if (atomic_load(&ch->peer_dead))
		return -EPIPE;
	if (flags & ISM_F_DONTWAIT) {
		/* Arm so ism_chan_fd() wakes the caller when room appears. */
		int a = dontwait_arm(ch, ROLE_TX, len);

		if (a < 0)
			return a;
		if (a == 1)
			return 0;
		ch->tx_armed = true;
		return -EAGAIN;
	}
	if (spin_more(ch, ROLE_TX, sp))
		return 0;
	sp->slept = true;
	chan_sleep(ch, ROLE_TX, tx_arm, len, tx_disarm);
	return 0;
}

static int send_common(struct ism_chan *ch, const struct iovec *iov, int iovcnt,
		       int flags)
{
	struct spin sp = { 0 };
	size_t total = 0;
	int r;

	if (!ch->tx)
		return -ENOTCONN;
	if (ch->closed)
		return -EPIPE;
	tx_settle(ch);
	for (int i = 0; i < iovcnt; i++)
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return -EMSGSIZE;
	for (;;) {
		if (atomic_load_explicit(&ch->peer_dead, memory_order_relaxed))
			return -EPIPE;
		r = put(ch->tx, iov, iovcnt, total);
		if (r == 0) {
			spin_done(ch, ROLE_TX, &sp);
			break;
		}
		if (r != -EAGAIN)
			return r;
		if ((r = wait_room(ch, total, flags, &sp)) < 0)
			return r;
	}
	ch->tx_pending = true;
	if (!(flags & ISM_F_MORE))
		publish(ch);
	return 0;
}

int ism_chan_send(struct ism_chan *ch, const void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return send_common(ch, &iov, 1, flags);
}

int ism_chan_sendv(struct ism_chan *ch, const struct iovec *iov, int iovcnt,
		   int flags)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	return send_common(ch, iov, iovcnt, flags);
}

int ism_chan_send_batch(struct ism_chan *ch, const struct iovec *msgs,
			unsigned n, int flags)
{
	unsigned i;
	int r;

	if (n == 0)
		return 0;
	/* Block (unless DONTWAIT) only for the first... */
	r = send_common(ch, &msgs[0], 1, flags | ISM_F_MORE);
	if (r < 0)
		return r;
	/* ... then take what fits now: no waiting, and no arming, which
	 * would cost a barrier and a drain per batch. */
	for (i = 1; i < n; i++)
		if (put(ch->tx, &msgs[i], 1, msgs[i].iov_len) < 0)
			break;
	if (!(flags & ISM_F_MORE))
		publish(ch);
	return (int)i;
}

int ism_chan_reserve(struct ism_chan *ch, size_t len, void **p, int flags)
{
	struct spin sp = { 0 };
	int r;

	if (!ch->tx)
		return -ENOTCONN;
	if (ch->closed)
		return -EPIPE;
	tx_settle(ch);
	for (;;) {
		if (atomic_load(&ch->peer_dead))
			return -EPIPE;
		r = ism_ring_reserve(ch->tx, len, p);
		if (r != -EAGAIN)
			return r;
		if ((r = wait_room(ch, len, flags, &sp)) < 0)
			return r;
	}
}

ssize_t ism_chan_reserve_room(struct ism_chan *ch, size_t min, size_t max,
			      void **p, int flags)
{
	size_t cap = ism_chan_max_msg(ch), room;
	struct spin sp = { 0 };
	int r;

	if (!ch->tx)
		return -ENOTCONN;
	if (ch->closed)
		return -EPIPE;
	max = ISM_MIN(max, cap);
	min = ISM_MAX(ISM_MIN(min, max), (size_t)1);
	tx_settle(ch);
	for (;;) {
		if (atomic_load_explicit(&ch->peer_dead, memory_order_relaxed))
			return -EPIPE;
		room = ism_ring_room(ch->tx, max);
		if (room < min)
			room = min; /* for its answer: room now, or why not */
		r = ism_ring_fast_reserve(ch->tx, room, p);
		if (r == 0)
			return (ssize_t)room;
		if (r != -EAGAIN)
			return r;
		if ((r = wait_room(ch, min, flags, &sp)) < 0)
			return r;
	}
}

int ism_chan_commit_len(struct ism_chan *ch, size_t len, int flags)
{
	ism_ring_commit_len(ch->tx, len);
	ch->tx_pending = true;
	if (!(flags & ISM_F_MORE))
		publish(ch);
	return 0;
}

int ism_chan_commit(struct ism_chan *ch, int flags)
{
	ism_ring_commit(ch->tx);
	ch->tx_pending = true;
	if (!(flags & ISM_F_MORE))
		publish(ch);
	return 0;
}

/* ---- receiving ---- */

/* Next message in place: 1, or -errno (-EAGAIN only with DONTWAIT). */
static int next_msg(struct ism_chan *ch, const void **p, size_t *len, int flags)
{
	struct spin sp = { 0 };

	if (!ch->rx)
		return -ENOTCONN;
	rx_settle(ch);
	for (;;) {
		int r = ism_ring_fast_peek(ch->rx, p, len);

		if (r == 1) {
			spin_done(ch, ROLE_RX, &sp);
			return 1;
		}
		if (r == -EPIPE)
			return -ESHUTDOWN; /* closed in order, all received */
		if (r < 0)
			return r;
		/* Empty.  Our consumption may be what its sender waits for. */
		if (ism_ring_consumed(ch->rx))
			kick(ch);
		if (atomic_load(&ch->peer_dead)) {
			/* It is gone: whatever it published before is ours
			 * (the region lingers); look once more. */
			r = ism_ring_peek(ch->rx, p, len);
			if (r == 1)
				return 1;
			return r == -EPIPE ? -ESHUTDOWN : (r < 0 ? r : -EPIPE);
		}
		if (flags & ISM_F_DONTWAIT) {
			if (flags & ISM_F_NOARM)
				return -EAGAIN; /* ism_chan_arm_rx() later */
			r = dontwait_arm(ch, ROLE_RX, 0);
			if (r < 0)
				return r;
			if (r == 1)
				continue; /* arrived meanwhile (disarmed) */
			/* Not draining here: a kick drained now would be
			 * one the caller's poll() never sees. */
			ch->rx_armed = true;
			return -EAGAIN;
		}
		if (spin_more(ch, ROLE_RX, &sp))
			continue;
		sp.slept = true;
		chan_sleep(ch, ROLE_RX, rx_arm, 0, rx_disarm);
	}
}

int ism_chan_arm_rx(struct ism_chan *ch)
{
	int r;

	if (!ch->rx)
		return -ENOTCONN;
	if (ch->rx_armed)
		return 0;
	if ((r = ism_chan_rx_ready(ch)) != 0)
		return r; /* no arm the other side could see and kick for */
	r = dontwait_arm(ch, ROLE_RX, 0);
	if (r == 0)
		ch->rx_armed = true;
	return r;
}

int ism_chan_disarm_rx(struct ism_chan *ch)
{
	if (!ch->rx)
		return -ENOTCONN;
	if (ch->rx_armed) {
		/* Not draining: a kick sent before the disarm may still
		 * be on its way.  Counted, and drained in a while. */
		ism_ring_rx_disarm(ch->rx);
		ch->rx_armed = false;
		ch->rx_strays++;
		atomic_fetch_and(&ch->sleepers, ~ARMED_BIT(ROLE_RX));
	}
	return ism_chan_rx_ready(ch);
}

int ism_chan_rx_ready(struct ism_chan *ch)
{
	ssize_t n;

	if (!ch->rx)
		return -ENOTCONN;
	if (atomic_load(&ch->peer_dead))
		return 1;
	n = ism_ring_pending(ch->rx);
	if (n < 0)
		return (int)n;
	return n > 0 || ism_ring_peer_closed(ch->rx);
}

ssize_t ism_chan_recv(struct ism_chan *ch, void *buf, size_t cap, int flags)
{
	const void *p;
	size_t len;
	int r = next_msg(ch, &p, &len, flags);

	if (r < 0)
		return r;
	if (len > cap)
		return -EMSGSIZE;
	ism_ring_copy(buf, p, len);
	if (ism_ring_fast_release(ch->rx))
		kick(ch);
	return (ssize_t)len;
}

int ism_chan_recv_batch(struct ism_chan *ch, struct iovec *msgs, unsigned n,
			int flags)
{
	const void *p;
	size_t len;
	ssize_t r;
	unsigned i;

	if (n == 0)
		return 0;
	/* Wait (unless DONTWAIT) only for the first... */
	r = ism_chan_recv(ch, msgs[0].iov_base, msgs[0].iov_len, flags);
	if (r < 0)
		return (int)r;
	msgs[0].iov_len = (size_t)r;
	/* ... then take what is there, without arming. */
	for (i = 1; i < n; i++) {
		int k = ism_ring_fast_peek(ch->rx, &p, &len);

		if (k == 0) {
			/* Empty: the peek published our position; its
			 * sender may be waiting for that room. */
			if (ism_ring_consumed(ch->rx))
				kick(ch);
			break;
		}
		if (k < 0 || len > msgs[i].iov_len)
			break; /* the next call reports it */
		ism_ring_copy(msgs[i].iov_base, p, len);
		msgs[i].iov_len = len;
		if (ism_ring_fast_release(ch->rx))
			kick(ch);
	}
	return (int)i;
}

int ism_chan_peek(struct ism_chan *ch, const void **p, size_t *len, int flags)
{
	int r = next_msg(ch, p, len, flags);

	return r < 0 ? r : 0;
}

int ism_chan_release(struct ism_chan *ch)
{
	if (!ch->rx)
		return -ENOTCONN;
	if (ism_ring_release(ch->rx))
		kick(ch);
	return 0;
}

/* ---- end ---- */

int ism_chan_shutdown(struct ism_chan *ch)
{
	if (ch->closed)
		return 0;
	ch->closed = true;
	if (ch->tx && ism_ring_tx_shutdown(ch->tx))
		kick(ch);
	ch->tx_pending = false;
	return 0;
}

/* 0.2: close frees (0.1's close, now shutdown, and free: compat.c). */
/* Everything local; @tell: close the regions (else forget them). */
static void chan_free(struct ism_chan *ch, bool tell)
{
	ism_ring_tx_close(ch->tx);
	ism_ring_rx_close(ch->rx);
	if (tell) {
		ism_region_close(ch->own); /* lingers for the other side */
		ism_region_close(ch->peer);
	} else {
		ism_region_forget(ch->own);
		ism_region_forget(ch->peer);
	}
	if ((ch->own_memfd >= 0 || ch->placed) && ch->own_map)
		munmap(ch->own_map, ch->own_len);
	if (ch->peer_map_local)
		munmap(ch->peer_map_local, ch->peer_len_local);
	ism_close_fd(&ch->own_memfd);
	/* Either may hold fds the other side put in flight. */
	ism_bgclose(ch->link_rx);
	ism_bgclose(ch->link_tx);
	ism_close_fd(&ch->export_link);
	ism_close_fd(&ch->epfd);
	for (int role = 0; role < 2; role++) {
		ism_close_fd(&ch->sleep_fd[role]);
		ism_close_fd(&ch->wake[role]);
		free(ch->rxbuf[role]);
	}
	free(ch);
}

void ism_chan_close(struct ism_chan *ch)
{
	if (!ch)
		return;
	ism_chan_shutdown(ch);
	chan_free(ch, true);
}

void ism_chan_forget(struct ism_chan *ch)
{
	if (ch)
		chan_free(ch, false);
}
