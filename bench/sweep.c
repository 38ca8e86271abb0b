/* SPDX-License-Identifier: MIT */
/*
 * ism-bench sweep: message sizes from 64 B to 1 MiB, each measured for
 * an ism channel and for AF_UNIX and TCP loopback doing the same work in
 * the same run, between two processes on different CPUs:
 *
 *   rate       messages per second, one direction, one message per call
 *              (sockets: write and read exactly one message's bytes)
 *   bandwidth  the same run in GB/s
 *   latency    ping-pong, one way = RTT/2 (mean over the run)
 *
 * The machine's limits, measured by the same tool: a bare ring of fixed
 * slots of each size (no headers, no checks: bench_bare_msg_mps) for rate
 * and bandwidth, and a cache-line ping-pong for latency.
 *
 * The channels are local ones (ism_chan_local_*: the same rings and
 * doorbells as through ismd, set up without it), so the sweep needs no
 * daemon.  --iterations rounds (default 1); figures are medians.
 * ISM_BENCH_SWEEP_QUICK=1 runs a small, fast sweep (for tests).
 * --report DIR writes DIR/index.html and DIR/sweep.json (report.c).
 */
#include "bench.h"
#include "report.h"

#include <errno.h>
#include <ism.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define RING (4u << 20) /* holds one 1 MiB message per half */

enum { T_CHAN, T_UNIX, T_TCP, T_N };
static const char *const tname[T_N] = { "ism channel", "AF_UNIX stream",
					"TCP loopback" };

struct sjob {
	int kind; /* T_* */
	bool echo;
	size_t size;
	uint64_t count;
	int fd;		     /* sockets: the child's end */
	struct ism_chan *ch; /* the child's channel (inherited) */
	int chan_fds[2];     /* the parent's exported fds */
};

static int child_main(int ctl, void *arg)
{
	struct sjob *j = arg;
	uint8_t *b = bench_buffer(j->size);
	uint64_t t1;
	int r = 0;

	if (!b)
		return 1;
	if (j->kind == T_CHAN &&
	    ism_chan_local_connect(j->ch, j->chan_fds[0], j->chan_fds[1]) < 0)
		return 1;
	if (bench_put(ctl, "r", 1) < 0)
		return 1;
	for (uint64_t i = 0; i < j->count && !r; i++) {
		if (j->kind == T_CHAN) {
			r = ism_chan_recv(j->ch, b, j->size, 0) !=
			    (ssize_t)j->size;
			if (!r && j->echo)
				r = ism_chan_send(j->ch, b, j->size, 0) < 0;
		} else {
			r = bench_read_full(j->fd, b, j->size) < 0;
			if (!r && j->echo)
				r = bench_write_full(j->fd, b, j->size) < 0;
		}
	}
	t1 = bench_now();
	free(b);
	return r || bench_put(ctl, &t1, sizeof(t1)) < 0;
}

/* Nanoseconds for @count messages (one way, or round trips), or 0. */
static uint64_t run(int kind, bool echo, size_t size, uint64_t count)
{
	struct sjob j = { .kind = kind,
			  .echo = echo,
			  .size = size,
			  .count = count,
			  .fd = -1,
			  .chan_fds = { -1, -1 } };
	struct ism_chan_opts o = { .size = sizeof(o), .ring_size = RING };
	struct ism_chan *mine = NULL;
	uint8_t *b = bench_buffer(size);
	uint64_t t0, t1 = 0, ns = 0;
	struct bench_child c;
	int sv[2] = { -1, -1 }, theirs[2] = { -1, -1 }, bad = 0;
	char ready;

	if (!b)
		return 0;
	if (kind == T_CHAN) {
		if (ism_chan_local_create(&o, &mine) < 0 ||
		    ism_chan_local_create(&o, &j.ch) < 0 ||
		    ism_chan_local_export(mine, j.chan_fds) < 0 ||
		    ism_chan_local_export(j.ch, theirs) < 0)
			goto out;
	} else if (kind == T_UNIX) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			goto out;
	} else if (bench_tcp_pair(sv) < 0) {
		goto out;
	}
	j.fd = sv[1];
	if (bench_spawn(&c, child_main, &j) < 0)
		goto out;
	if (kind == T_CHAN) {
		/* The child's end stays open here until the child is done:
		 * closing a copy of it would shut its direction down. */
		bad = ism_chan_local_connect(mine, theirs[0], theirs[1]) < 0;
		theirs[0] = theirs[1] = -1;
	}
	bad |= bench_get(c.ctl, &ready, 1) < 0;
	t0 = bench_now();
	for (uint64_t i = 0; i < count && !bad; i++) {
		if (kind == T_CHAN) {
			bad = ism_chan_send(mine, b, size, 0) < 0;
			if (!bad && echo)
				bad = ism_chan_recv(mine, b, size, 0) !=
				      (ssize_t)size;
		} else {
			bad = bench_write_full(sv[0], b, size) < 0;
			if (!bad && echo)
				bad = bench_read_full(sv[0], b, size) < 0;
		}
	}
	if (echo) {
		uint64_t done = bench_now();

		/* Wait for the child's report anyway: closing the control
		 * socket under it would fail its last write. */
		if (!bad && bench_get(c.ctl, &t1, sizeof(t1)) < 0)
			bad = 1;
		t1 = done;
	} else if (!bad && bench_get(c.ctl, &t1, sizeof(t1)) < 0) {
		bad = 1;
	}
	if (bad && kind != T_CHAN)
		shutdown(sv[0], SHUT_RDWR); /* unblock the child */
	if (bad && kind == T_CHAN)
		ism_chan_shutdown(mine);
	if (bench_reap(&c) == 0 && !bad && t1 > t0)
		ns = t1 - t0;
out:
	ism_chan_close(mine);
	ism_chan_close(j.ch);
	for (int i = 0; i < 2; i++) {
		if (j.chan_fds[i] >= 0)
			close(j.chan_fds[i]);
		if (theirs[i] >= 0)
			close(theirs[i]);
		if (sv[i] >= 0)
			close(sv[i]);
	}
	free(b);
	return ns;
}

/* ---- the latency floor: one cache line bounced between two CPUs ---- */

struct line {
	_Atomic uint64_t v __attribute__((aligned(64)));
	uint64_t n;
};

static int line_child(int ctl, void *arg)
{
	struct line *l = arg;

	(void)ctl;
	for (uint64_t i = 1; i <= l->n; i++) {
		while (atomic_load_explicit(&l->v, memory_order_acquire) !=
		       2 * i - 1)
			__asm__ __volatile__("" ::: "memory");
		atomic_store_explicit(&l->v, 2 * i, memory_order_release);
	}
	return 0;
}

/* One-way microseconds, or -1. */
static double line_us(uint64_t n)
{
	struct line *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct bench_child c;
	uint64_t t0, t1;
	double us = -1;

	if (l == MAP_FAILED)
		return -1;
	l->n = n;
	atomic_store(&l->v, 0);
	if (bench_spawn(&c, line_child, l) == 0) {
		t0 = bench_now();
		for (uint64_t i = 1; i <= n; i++) {
			atomic_store_explicit(&l->v, 2 * i - 1,
					      memory_order_release);
			while (atomic_load_explicit(
				       &l->v, memory_order_acquire) != 2 * i)
				__asm__ __volatile__("" ::: "memory");
		}
		t1 = bench_now();
		if (bench_reap(&c) == 0)
			us = (double)(t1 - t0) / (double)n / 2 / 1e3;
	}
	munmap(l, sizeof(*l));
	return us;
}

static double median(double *v, unsigned n)
{
	double t;

	for (unsigned i = 1; i < n; i++)
		for (unsigned k = i; k > 0 && v[k - 1] > v[k]; k--) {
			t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : -1;
}

static void fill_machine(struct sweep_result *r)
{
	struct utsname u;
	long mem = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);

	if (uname(&u) == 0)
		snprintf(r->machine, sizeof(r->machine),
			 "%s %s %s, %d CPUs, %.1f GiB", u.sysname, u.release,
			 u.machine, bench_ncpus(),
			 mem > 0 && pg > 0
				 ? (double)mem * (double)pg / (1 << 30)
				 : 0.0);
}

int bench_sweep(const struct bench_opts *o)
{
	static const size_t full[] = { 64,    256,   1024,   4096,
				       16384, 65536, 262144, 1048576 };
	static const size_t quick[] = { 64, 4096, 65536, 1048576 };
	const char *q = getenv("ISM_BENCH_SWEEP_QUICK");
	bool is_quick = q && *q && strcmp(q, "0");
	const size_t *sizes = is_quick ? quick : full;
	unsigned nsz = is_quick ? 4 : 8;
	unsigned rounds = bench_rounds(o, 1);
	uint64_t budget = is_quick ? 8u << 20 : 64u << 20;
	uint64_t max_msgs = is_quick ? 2000 : 100000;
	struct sweep_result *r = calloc(1, sizeof(*r));
	double v[BENCH_MAX_ROUNDS];
	int failed = 0;

	if (!r)
		return 1;
	r->nsizes = nsz;
	r->nseries = T_N;
	r->rounds = rounds;
	r->quick = is_quick;
	fill_machine(r);
	for (int t = 0; t < T_N; t++)
		r->series[t] = tname[t];
	for (unsigned s = 0; s < nsz; s++) {
		size_t size = sizes[s];
		uint64_t n = budget / size, nl;

		n = n < 64 ? 64 : n > max_msgs ? max_msgs : n;
		/* Round trips cost a wake-up each on a busy machine. */
		nl = n / 50 < 32 ? 32 : n / 50 > 2000 ? 2000 : n / 50;
		r->sizes[s] = size;
		if (!o->json)
			fprintf(stderr, "sweep: %zu bytes\n", size);
		for (int t = 0; t < T_N; t++) {
			double lat[BENCH_MAX_ROUNDS];

			for (unsigned k = 0; k < rounds; k++) {
				uint64_t ns = run(t, false, size, n);
				uint64_t rt = run(t, true, size, nl);

				v[k] = ns ? (double)n / ((double)ns / 1e9) : -1;
				lat[k] = rt ? (double)rt / (double)nl / 2 / 1e3
					    : -1;
				failed |= !ns || !rt;
			}
			r->rate[t][s] = median(v, rounds);
			r->gbps[t][s] =
				r->rate[t][s] > 0
					? r->rate[t][s] * (double)size / 1e9
					: -1;
			r->lat_us[t][s] = median(lat, rounds);
		}
		for (unsigned k = 0; k < rounds; k++)
			v[k] = bench_bare_msg_mps(size, 1, RING, n) * 1e6;
		r->limit_rate[s] = median(v, rounds);
		r->limit_gbps[s] =
			r->limit_rate[s] > 0
				? r->limit_rate[s] * (double)size / 1e9
				: -1;
	}
	for (unsigned k = 0; k < rounds; k++)
		v[k] = line_us(is_quick ? 20000 : 1000000);
	r->limit_lat_us = median(v, rounds);
	sweep_print(r, o->json);
	if (bench_report_dir && sweep_write_report(r, bench_report_dir) < 0)
		failed = 1;
	free(r);
	return failed;
}
