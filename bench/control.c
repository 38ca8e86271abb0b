/* SPDX-License-Identifier: MIT */
/*
 * ism-bench control: the control path's cost and how it scales.
 *
 * 1. One cycle = owner alloc (4 KiB) + another peer's attach (with fd) +
 *    owner notify + detach + destroy, each a synchronous round trip to
 *    ismd.  Measured with 10, 100 and 1000 peers connected (each idle
 *    peer owns a region too, so ismd's tables are populated).  Reports
 *    per-operation and per-cycle p50/p99 and operations per second.
 * 2. Notify-to-wakeup: a receiver process on another CPU sleeps in poll()
 *    on its ism doorbell; the sender stamps the time and calls
 *    ism_region_notify_nowait() (one-way, like an eventfd write; the
 *    ratio's figure) or ism_region_notify() (waits for ismd's reply).  The
 *    baseline, interleaved round by round in the same run: the same
 *    receiver sleeping in poll() on a plain eventfd the sender writes
 *    directly.  The sender waits before each round so the receiver is
 *    really asleep: all three measure a blocking wake-up.
 */
#include "bench.h"
#include "util/spawn.h"

#include <errno.h>
#include <ism.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOPS   5
#define PASSES 5
static const char *const op_name[NOPS] = { "alloc", "attach", "notify",
					   "detach", "destroy" };

static void drain(struct ism_conn *c)
{
	struct ism_event ev;

	ism_conn_process(c);
	while (ism_conn_next_event(c, &ev) == 1)
		;
}

static int open_conn(const char *sock, const char *name, struct ism_conn **c)
{
	struct ism_conn_opts co = { .size = sizeof(co), .name = name };
	int r = ism_conn_open(sock, &co, c);

	if (r < 0)
		fprintf(stderr, "ism-bench: connect: %s\n", strerror(-r));
	return r;
}

struct round_stats {
	struct samples op[NOPS], cycle;
	uint64_t ops, ns;
};

static void stats_init(struct round_stats *st, unsigned iters)
{
	for (int i = 0; i < NOPS; i++)
		samples_init(&st->op[i], iters);
	samples_init(&st->cycle, iters);
	st->ops = st->ns = 0;
}

static void stats_free(struct round_stats *st)
{
	for (int i = 0; i < NOPS; i++)
		samples_free(&st->op[i]);
	samples_free(&st->cycle);
}

/* @iters measured cycles (after a few warm-up ones) into @st. */
static int control_round(struct ism_conn *a, struct ism_conn *b, unsigned iters,
			 struct round_stats *st)
{
	struct ism_alloc_opts ao = { .size = sizeof(ao) };
	unsigned warmup = iters / 10 + 1;
	uint64_t start = 0;
	int r = 0;

	for (unsigned i = 0; i < iters + warmup; i++) {
		struct ism_region *ra, *rb;
		struct ism_token t;
		uint64_t ts[NOPS + 1];

		if (i == warmup)
			start = bench_now();
		ts[0] = bench_now();
		if ((r = ism_region_alloc(a, 4096, &ao, &ra)) < 0)
			break;
		ts[1] = bench_now();
		ism_region_token(ra, &t);
		if ((r = ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb)) < 0)
			break;
		ts[2] = bench_now();
		if ((r = ism_region_notify(ra, i)) < 0)
			break;
		ts[3] = bench_now();
		if ((r = ism_region_close(rb)) < 0)
			break;
		ts[4] = bench_now();
		if ((r = ism_region_close(ra)) < 0)
			break;
		ts[5] = bench_now();
		if (i >= warmup) {
			for (int k = 0; k < NOPS; k++)
				samples_add(&st->op[k], ts[k + 1] - ts[k]);
			samples_add(&st->cycle, ts[5] - ts[0]);
			st->ops += NOPS;
		}
		/* Events (attached, notify, gone) are read outside the
		 * timed section, as an application would between calls. */
		if (i % 16 == 15) {
			uint64_t t0 = bench_now();

			drain(a);
			drain(b);
			start += bench_now() - t0;
		}
	}
	if (r < 0)
		fprintf(stderr, "ism-bench: control: %s\n", strerror(-r));
	else
		st->ns += bench_now() - start;
	return r;
}

static double report_round(struct round_stats *st, unsigned peers)
{
	char name[48];
	double p99;

	snprintf(name, sizeof(name), "cycle_p50_us_%u", peers);
	result_figure(name, samples_pct(&st->cycle, 50) / 1e3, "us");
	snprintf(name, sizeof(name), "cycle_p99_us_%u", peers);
	p99 = samples_pct(&st->cycle, 99) / 1e3;
	result_figure(name, p99, "us");
	snprintf(name, sizeof(name), "ops_per_s_%u", peers);
	result_figure(name, (double)st->ops / ((double)st->ns / 1e9), "ops/s");
	for (int k = 0; k < NOPS; k++) {
		snprintf(name, sizeof(name), "%s_p50_us_%u", op_name[k], peers);
		result_figure(name, samples_pct(&st->op[k], 50) / 1e3, "us");
		snprintf(name, sizeof(name), "%s_p99_us_%u", op_name[k], peers);
		result_figure(name, samples_pct(&st->op[k], 99) / 1e3, "us");
	}
	return p99;
}

/* ---- notify to wake-up ---- */

#define WAKE_MAX 4096

struct wake_shared {
	_Atomic uint32_t ready; /* round the receiver is about to sleep in */
	_Atomic uint64_t t_send;
	struct ism_token token;
	_Atomic int token_ready, failed;
	uint64_t lat[3][WAKE_MAX]; /* ism nowait, ism sync, eventfd */
};

static int receiver(struct wake_shared *sh, const char *sock, int efd,
		    unsigned rounds)
{
	struct ism_conn *c;
	struct ism_region *r;
	int db;

	bench_pin(1);
	while (!atomic_load(&sh->token_ready))
		usleep(100);
	if (open_conn(sock, "bench-receiver", &c) < 0 ||
	    ism_region_attach(c, &sh->token, ISM_ACCESS_RO, ISM_ATTACH_NOFD,
			      &r) < 0) {
		atomic_store(&sh->failed, 1);
		return 1;
	}
	db = ism_conn_doorbell_fd(c);
	for (unsigned i = 0; i < 3 * rounds; i++) {
		unsigned mode = i % 3;
		struct pollfd p = { .fd = mode == 2 ? efd : db,
				    .events = POLLIN };
		uint64_t v, now;

		atomic_store(&sh->ready, i + 1);
		if (poll(&p, 1, 10000) != 1) {
			atomic_store(&sh->failed, 1);
			return 1;
		}
		now = bench_now();
		sh->lat[mode][i / 3] = now - atomic_load(&sh->t_send);
		if (read(p.fd, &v, sizeof(v)) < 0)
			return 1;
		if (mode != 2)
			drain(c); /* the notify event itself */
	}
	ism_region_close(r);
	ism_conn_close(c);
	return 0;
}

static int wake_bench(const char *sock, unsigned rounds)
{
	struct wake_shared *sh;
	struct ism_alloc_opts ao = { .size = sizeof(ao) };
	struct samples s[3];
	struct ism_conn *c;
	struct ism_region *r;
	int efd, st, rc = 0;
	pid_t pid;

	if (rounds > WAKE_MAX)
		rounds = WAKE_MAX;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh == MAP_FAILED || efd < 0)
		return -errno;
	memset(sh, 0, sizeof(*sh));
	if (open_conn(sock, "bench-sender", &c) < 0 ||
	    ism_region_alloc(c, 4096, &ao, &r) < 0)
		return -1;
	ism_region_token(r, &sh->token);
	pid = fork();
	if (pid == 0)
		_exit(receiver(sh, sock, efd, rounds));
	atomic_store(&sh->token_ready, 1);
	bench_pin(0);
	for (unsigned i = 0; i < 3 * rounds; i++) {
		uint64_t one = 1;

		while (atomic_load(&sh->ready) != i + 1) {
			if (atomic_load(&sh->failed)) {
				rc = -1;
				goto out;
			}
			usleep(20);
		}
		/* Let the receiver fall asleep in poll(). */
		usleep(300);
		atomic_store(&sh->t_send, bench_now());
		if (i % 3 == 2) {
			if (write(efd, &one, sizeof(one)) != sizeof(one))
				rc = -1;
		} else if (i % 3 == 1) {
			if (ism_region_notify(r, i) != 1)
				rc = -1;
		} else if (ism_region_notify_nowait(r, i) != 0) {
			rc = -1;
		}
		if (rc < 0)
			goto out;
		if (i % 64 == 0)
			drain(c);
	}
out:
	waitpid(pid, &st, 0);
	if (rc == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		rc = -1;
	if (rc == 0) {
		double p50[3], p99[3];

		for (int k = 0; k < 3; k++) {
			samples_init(&s[k], rounds);
			for (unsigned i = 0; i < rounds; i++)
				samples_add(&s[k], sh->lat[k][i]);
			p50[k] = samples_pct(&s[k], 50) / 1e3;
			p99[k] = samples_pct(&s[k], 99) / 1e3;
			samples_free(&s[k]);
		}
		result_figure("notify_wakeup_p50_us", p50[0], "us");
		result_figure("notify_wakeup_p99_us", p99[0], "us");
		result_figure("notify_sync_wakeup_p50_us", p50[1], "us");
		result_figure("notify_sync_wakeup_p99_us", p99[1], "us");
		result_figure("eventfd_wakeup_p50_us", p50[2], "us");
		result_figure("eventfd_wakeup_p99_us", p99[2], "us");
		result_ratio("notify_wakeup_vs_eventfd", p50[0] / p50[2],
			     "p50, ism_region_notify_nowait() vs eventfd "
			     "write (target <= 1.5)");
		result_ratio("notify_sync_wakeup_vs_eventfd", p50[1] / p50[2],
			     "p50, ism_region_notify() (waits for its reply)");
		result_ratio("notify_wakeup_p99_vs_eventfd", p99[0] / p99[2],
			     "p99, nowait");
	} else {
		fprintf(stderr, "ism-bench: wake-up benchmark failed\n");
	}
	ism_region_close(r);
	ism_conn_close(c);
	close(efd);
	munmap(sh, sizeof(*sh));
	return rc;
}

int bench_control(const struct bench_opts *o)
{
	static const char *const extra[] = { "--max-peers", "4096",
					     "--log-level", "warn", NULL };
	static const unsigned counts[] = { 10, 100, 1000 };
	struct ism_alloc_opts ao = { .size = sizeof(ao) };
	unsigned iters = o->iterations ? o->iterations : 2000;
	struct ism_conn **idle = NULL, *a = NULL, *b = NULL;
	struct ism_private d;
	struct rlimit rl;
	unsigned nidle = 0;
	double p99[3] = { 0 };
	struct round_stats st[3] = { 0 };
	int rc = 1;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ism_private_start(&d, o->ismd, extra) < 0)
		return 1;
	result_begin("control");
	if (open_conn(d.sock, "bench-a", &a) < 0 ||
	    open_conn(d.sock, "bench-b", &b) < 0)
		goto out;
	idle = calloc(1000, sizeof(*idle));
	if (!idle)
		goto out;
	for (unsigned k = 0; k < 3; k++)
		stats_init(&st[k], iters);
	/* Interleave the peer counts over several passes, so that the host's
	 * moods (this is a VM) fall on all three alike. */
	for (unsigned pass = 0; pass < PASSES; pass++) {
		for (unsigned k = 0; k < 3; k++) {
			unsigned want = counts[k] - 2;

			while (nidle > want)
				ism_conn_close(idle[--nidle]);
			while (nidle < want) {
				struct ism_region *r;

				if (open_conn(d.sock, "bench-idle",
					      &idle[nidle]) < 0 ||
				    ism_region_alloc(idle[nidle], 4096, &ao,
						     &r) < 0)
					goto out;
				nidle++;
			}
			if (!o->json)
				fprintf(stderr, "control: pass %u, %u peers\n",
					pass + 1, counts[k]);
			if (control_round(a, b, iters / PASSES, &st[k]) < 0)
				goto out;
		}
	}
	for (unsigned k = 0; k < 3; k++)
		p99[k] = report_round(&st[k], counts[k]);
	result_ratio("p99_1000_vs_10", p99[2] / p99[0],
		     "cycle p99 at 1000 peers / at 10 (target <= 2)");
	rc = 0;
out:
	for (unsigned k = 0; k < 3; k++)
		stats_free(&st[k]);
	for (unsigned i = 0; i < nidle; i++)
		ism_conn_close(idle[i]);
	free(idle);
	if (rc == 0) {
		if (!o->json)
			fprintf(stderr, "control: notify-to-wakeup...\n");
		if (wake_bench(d.sock, iters > WAKE_MAX ? WAKE_MAX : iters) < 0)
			rc = 1;
	}
	ism_conn_close(a);
	ism_conn_close(b);
	ism_private_stop(&d, 1);
	if (rc == 0)
		result_end(o->json);
	return rc;
}
