/* SPDX-License-Identifier: MIT */
/*
 * daemon - setup, the epoll loop, signals, housekeeping and shutdown.
 */
#include "ismd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_EVENTS	256
#define HOUSEKEEPING_MS 250

void ismd_config_defaults(struct ismd_config *c)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	memset(c, 0, sizeof(*c));
	c->socket_mode = 0660;
	c->max_memory = pages > 0 && psz > 0
				? (uint64_t)pages * (uint64_t)psz / 2
				: 1ull << 30;
	c->max_peers = 4096;
	c->q_regions = 65536;
	c->q_refs = 65536;
	c->q_events = 4096;
	c->q_bytes = 0; /* = max_memory */
	c->max_queue_bytes = 256 * 1024;
	/* ismd's own memory for records and queues: 1/16 of RAM, within
	 * 64 MiB .. 1 GiB. */
	c->max_heap = pages > 0 && psz > 0
			      ? (uint64_t)pages * (uint64_t)psz / 16
			      : 256ull << 20;
	c->max_heap = ISM_MAX(64ull << 20, ISM_MIN(c->max_heap, 1ull << 30));
	c->uid_share = 50;
	c->recovery_ms = 10000;
	c->hello_timeout_ms = 5000;
	c->log_level = L_INFO;
}

bool daemon_recovering(struct daemon *d)
{
	return d->recovery_end_ns && ism_now_ns() < d->recovery_end_ns;
}

static uint32_t read_huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb && kb <= (1ul << 20) ? (uint32_t)(kb * 1024) : 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* Root may raise the hard limit too (fs.nr_open bounds it). */
	if (geteuid() == 0 && rl.rlim_max < (1u << 20)) {
		struct rlimit big = { 1u << 20, 1u << 20 };

		if (setrlimit(RLIMIT_NOFILE, &big) == 0) {
			ismd_log(L_INFO, "file descriptor limit %u", 1u << 20);
			return;
		}
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	ismd_log(L_INFO, "file descriptor limit %llu",
		 (unsigned long long)rl.rlim_cur);
}

/* fds ismd keeps for itself (listeners, epoll, state files, a few
 * transient reopens, one message's worth of received fds): the rest of
 * RLIMIT_NOFILE is for peers. */
#define FD_RESERVE (64u + 2u * ISM_WIRE_SCM_MAX_FDS)

void daemon_caps(const struct ismd_config *cfg, uint64_t caps[ACCT_KINDS])
{
	struct rlimit rl;
	uint64_t fds = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fds = rl.rlim_cur;
	fds = fds > 2 * FD_RESERVE ? fds - FD_RESERVE : fds / 2;
	if (cfg->max_fds && cfg->max_fds < fds)
		fds = cfg->max_fds;
	caps[ACCT_PEERS] = cfg->max_peers;
	caps[ACCT_FDS] = fds;
	caps[ACCT_HEAP] = cfg->max_heap;
	caps[ACCT_MEM] = cfg->max_memory;
}

static int ep_add(struct daemon *d, int fd, struct ep_source *src,
		  void (*fn)(struct daemon *, struct ep_source *, uint32_t))
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };

	src->fn = fn;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void on_listen(struct daemon *d, struct ep_source *src, uint32_t ev)
{
	(void)src;
	(void)ev;
	peer_accept(d);
}

static void resume_accept(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &d->listen_src };

	if (!d->accept_paused)
		return;
	d->accept_paused = false;
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->listen_fd, &ev);
}

static void on_worker(struct daemon *d, struct ep_source *src, uint32_t ev)
{
	(void)src;
	(void)ev;
	worker_reap();
	/* Closes done: fds may be free again for waiting connections (if
	 * not, accept pauses again at once). */
	resume_accept(d);
}

static void on_doorbell(struct daemon *d, struct ep_source *src, uint32_t ev)
{
	(void)d;
	(void)src;
	(void)ev;
	doorbell_reap();
}

static void on_signal(struct daemon *d, struct ep_source *src, uint32_t ev);
static void housekeeping(struct daemon *d, struct ep_source *src, uint32_t ev);

int daemon_init(struct daemon *d, const struct ismd_config *cfg)
{
	struct itimerspec its = {
		.it_interval = { 0, HOUSEKEEPING_MS * 1000000L },
		.it_value = { 0, HOUSEKEEPING_MS * 1000000L },
	};
	uint64_t caps[ACCT_KINDS];
	sigset_t set;
	int r;

	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	d->epfd = d->listen_fd = d->signal_fd = d->timer_fd = d->lock_fd = -1;
	peer_init(d);
	region_init(d);
	ivsh_setup(d);
	stream_init(d);
	window_init(d);
	d->start_ns = ism_now_ns();
	d->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	d->huge_page_size = read_huge_page_size();
	d->rx = malloc(ISM_WIRE_MAX_MSG);
	d->tx = malloc(ISM_WIRE_MAX_MSG);
	d->rep = malloc(ISM_WIRE_MAX_MSG);
	d->req_buf = malloc(ism_proto_req_max_size());
	if (!d->rx || !d->tx || !d->rep || !d->req_buf)
		return -ENOMEM;

	/* Signals: SIGPIPE ignored (MSG_NOSIGNAL too), the rest via a
	 * signalfd; SIGALRM stays deliverable for the guard (guard.h). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0)
		return -errno;
	/* After the mask: the threads inherit it (and unblock SIGALRM). */
	if ((r = guard_init()) < 0 || (r = doorbell_init()) < 0 ||
	    (r = worker_init(16)) < 0)
		return r;
	d->guard = guard_register(100);
	closer_init(d->guard);

	/* Keep same-uid processes out of /proc/<ismd>/fd, where every
	 * region's private fd lives (and keep regions out of core dumps). */
	if (!cfg->dumpable)
		prctl(PR_SET_DUMPABLE, 0);
	if (access("/proc/self/fd", X_OK) < 0) {
		ismd_log(L_ERR, "/proc is not mounted: ismd needs it to hand "
				"out read-only fds");
		return -ENOENT;
	}
	raise_nofile();
	daemon_caps(cfg, caps);
	acct_init(caps, cfg->uid_share);
	ismd_log(L_INFO,
		 "budgets: %llu fds, %llu MiB of ismd memory, %u%% "
		 "of each per uid",
		 (unsigned long long)caps[ACCT_FDS],
		 (unsigned long long)(caps[ACCT_HEAP] >> 20), cfg->uid_share);

	if ((r = ismd_state_open(d, cfg->state_dir)) < 0)
		return r;
	if (d->epoch > 1 && cfg->recovery_ms)
		d->recovery_end_ns =
			d->start_ns + (uint64_t)cfg->recovery_ms * 1000000ull;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->epfd < 0 || d->timer_fd < 0)
		return -errno;
	timerfd_settime(d->timer_fd, 0, &its, NULL);
	/* The ivshmem sockets before the control socket: once ismd answers
	 * there, every socket it serves exists. */
	if ((r = ep_add(d, d->signal_fd, &d->signal_src, on_signal)) < 0 ||
	    (r = ep_add(d, d->timer_fd, &d->timer_src, housekeeping)) < 0 ||
	    (r = ep_add(d, worker_fd(), &d->worker_src, on_worker)) < 0 ||
	    (r = ep_add(d, doorbell_event_fd(), &d->doorbell_src,
			on_doorbell)) < 0 ||
	    (r = ivsh_init(d)) < 0 || (r = ismd_listen(d)) < 0 ||
	    (r = ep_add(d, d->listen_fd, &d->listen_src, on_listen)) < 0)
		return r;
	{
		char hid[2 * ISM_HOST_ID_SIZE + 1];

		ism_hex_encode(d->host_id, ISM_HOST_ID_SIZE, hid);
		ismd_log(L_INFO, "ismd %s pid %d host id %s epoch %u%s",
			 ISM_VERSION_STRING, (int)getpid(), hid, d->epoch,
			 d->recovery_end_ns ? " (accepting re-registrations)"
					    : "");
	}
	return 0;
}

void daemon_reap(struct daemon *d)
{
	peer_reap(d);
	ivsh_reap(d);
	window_reap(d);
}

static void housekeeping(struct daemon *d, struct ep_source *src, uint32_t ev)
{
	uint64_t now = ism_now_ns(), exp;

	(void)src;
	(void)ev;
	if (read(d->timer_fd, &exp, sizeof(exp)) < 0)
		return;
	worker_tick();
	peer_housekeeping(d, now);
	acct_sweep(now);
	recovery_tick(d, now);
	window_tick(d, now);
	stream_tick(d, now);
}

static void on_signal(struct daemon *d, struct ep_source *src, uint32_t ev)
{
	struct signalfd_siginfo si;

	(void)src;
	(void)ev;
	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			ismd_log(L_INFO, "signal %d: shutting down",
				 (int)si.ssi_signo);
			d->stopping = true;
			break;
		case SIGUSR1: {
			struct worker_stats ws;
			struct doorbell_stats ds;

			worker_stats(&ws);
			doorbell_stats(&ds);
			ismd_log(L_INFO,
				 "peers %u regions %u refs %u bytes %llu "
				 "ops %llu notifies %llu lost %llu "
				 "evictions %llu",
				 d->peers.n, d->regions.n, d->regions.n_refs,
				 (unsigned long long)acct_total(ACCT_MEM),
				 (unsigned long long)d->ops,
				 (unsigned long long)d->notifies,
				 (unsigned long long)d->events_lost,
				 (unsigned long long)d->evictions);
			ismd_log(L_INFO,
				 "fds %llu/%llu heap %llu/%llu uids %u; "
				 "workers %u (%u busy, %u stuck, %u queued); "
				 "doorbells rung %llu cut %llu hostile %llu",
				 (unsigned long long)acct_total(ACCT_FDS),
				 (unsigned long long)acct_cap(ACCT_FDS),
				 (unsigned long long)acct_total(ACCT_HEAP),
				 (unsigned long long)acct_cap(ACCT_HEAP),
				 acct_count(), ws.threads, ws.busy, ws.stuck,
				 ws.queued, (unsigned long long)ds.rung,
				 (unsigned long long)ds.cut,
				 (unsigned long long)ds.hostile);
			break;
		}
		default: break;
		}
	}
}

int daemon_run(struct daemon *d)
{
	struct epoll_event evs[MAX_EVENTS];

	ismd_sd_notify("READY=1\nSTATUS=serving");
	while (!d->stopping) {
		int n = epoll_wait(d->epfd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ismd_log(L_ERR, "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct ep_source *src = evs[i].data.ptr;

			src->fn(d, src, evs[i].events);
		}
		/* Freeing only here keeps pointers in evs[] valid. */
		daemon_reap(d);
	}
	ismd_sd_notify("STOPPING=1");
	return 0;
}

void daemon_fini(struct daemon *d)
{
	d->stopping = true; /* keeps region memory intact (region.c) */
	/* Tell every peer we are going, best effort, then drop them all. */
	peer_shutdown_all(d);
	/* Jobs in flight finish first (their done() sees the peers dead),
	 * unless one is stuck for good: its peer is then left alone. */
	worker_drain(1000);
	/* Regions die with their owners; quietly, as nobody is left. */
	peer_reap(d);
	pending_expire_all(d);
	region_free_all(d);
	ivsh_fini(d);
	ismd_unlisten(d);
	/* The closes all that queued, then the threads. */
	worker_drain(1000);
	/* A peer whose stuck job came back meanwhile (whoever held it let
	 * go): free it now, what it held is gone already.  Closes this
	 * queues are left to the exit. */
	peer_reap(d);
	worker_fini();
	doorbell_fini();
	ism_close_fd(&d->epfd);
	ism_close_fd(&d->signal_fd);
	ism_close_fd(&d->timer_fd);
	ismd_state_close(d);
	peer_fini(d);
	region_fini(d);
	stream_fini(d);
	window_fini(d);
	acct_fini();
	free(d->rx);
	free(d->tx);
	free(d->rep);
	free(d->req_buf);
	d->rx = d->tx = d->rep = NULL;
	d->req_buf = NULL;
}
