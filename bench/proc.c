/* SPDX-License-Identifier: MIT */
/*
 * ism-bench - what the two-process suites share: a child pinned to the
 * other CPU with a control socket, exact reads and writes on sockets, a
 * TCP loopback pair, and the per-round medians behind every report.
 */
#include "bench.h"
#include "util/spawn.h"
#include "util/util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_spawn(struct bench_child *c, int (*fn)(int ctl, void *arg), void *arg)
{
	int sv[2];

	c->pid = -1;
	c->ctl = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		close(sv[0]);
		bench_pin(1);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	c->ctl = sv[0];
	bench_pin(0);
	return 0;
}

int bench_reap(struct bench_child *c)
{
	int st;

	close(c->ctl);
	if (waitpid(c->pid, &st, 0) != c->pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int bench_put(int fd, const void *p, size_t n)
{
	return ism_wire_send(fd, p, n, NULL, 0, 0) == 0 ? 0 : -1;
}

int bench_get(int fd, void *p, size_t n)
{
	uint8_t buf[256];
	int fds[ISM_WIRE_MAX_FDS];
	unsigned nf;
	ssize_t r = ism_wire_recv(fd, buf, sizeof(buf), fds, &nf, 0);

	ism_close_fds(fds, nf);
	if (r != (ssize_t)n)
		return -1;
	memcpy(p, buf, n);
	return 0;
}

uint8_t *bench_buffer(size_t n)
{
	uint8_t *b = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);

	if (b)
		memset(b, 0x5a, n);
	return b;
}

int bench_read_full(int fd, uint8_t *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, b + got, n - got, MSG_WAITALL);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int bench_write_full(int fd, const uint8_t *b, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = send(fd, b + done, n - done, MSG_NOSIGNAL);

		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

int bench_tcp_listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		if (l >= 0)
			close(l);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return l;
}

int bench_tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int bench_tcp_pair(int sv[2])
{
	uint16_t port;
	int l = bench_tcp_listen(&port);

	if (l < 0)
		return -1;
	sv[0] = bench_tcp_connect(port);
	sv[1] = sv[0] < 0 ? -1 : accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return sv[1] < 0 ? -1 : 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

unsigned bench_rounds(const struct bench_opts *o, unsigned dflt)
{
	unsigned r = o->iterations ? o->iterations : dflt;

	return r > BENCH_MAX_ROUNDS ? BENCH_MAX_ROUNDS : r;
}

double bench_median(const double *v, unsigned n)
{
	double m[BENCH_MAX_ROUNDS];

	memcpy(m, v, n * sizeof(*m));
	qsort(m, n, sizeof(double), cmp_d);
	return m[n / 2];
}

void bench_cpus_note(void)
{
	if (bench_ncpus() < 2)
		fprintf(stderr,
			"ism-bench: only one CPU: both sides share it\n");
}

int bench_ismd_start(struct ism_private *d, const struct bench_opts *o)
{
	static const char *const extra[] = { "--log-level", "warn", NULL };

	return ism_private_start(d, o->ismd, extra);
}

int bench_report(const char *suite, double (*v)[BENCH_MAX_ROUNDS],
		 const struct bench_fig *fig, int nfig,
		 const struct bench_ratio *rat, int nrat, unsigned rounds)
{
	for (int f = 0; f < nfig; f++)
		for (unsigned r = 0; r < rounds; r++)
			if (v[f][r] < 0) {
				fprintf(stderr, "ism-bench: %s failed\n",
					fig[f].name);
				return -1;
			}
	result_begin(suite);
	/* Ratios first, from the rounds' own pairs: a baseline measured
	 * next to what it is compared with, so drifts of the host cancel. */
	for (int k = 0; k < nrat; k++) {
		double q[BENCH_MAX_ROUNDS] = { 0 };

		for (unsigned r = 0; r < rounds; r++)
			q[r] = v[rat[k].num][r] / v[rat[k].den][r];
		qsort(q, rounds, sizeof(double), cmp_d);
		result_ratio(rat[k].name, q[rounds / 2], rat[k].what);
		result_spread(q[0], q[rounds - 1]);
	}
	for (int f = 0; f < nfig; f++) {
		double m[BENCH_MAX_ROUNDS];

		memcpy(m, v[f], sizeof(m));
		qsort(m, rounds, sizeof(double), cmp_d);
		result_figure(fig[f].name, m[rounds / 2], fig[f].unit);
		result_spread(m[0], m[rounds - 1]);
	}
	return 0;
}

/* ---- bare rings: this machine's limit for the same job, no checks ---- */

/*
 * A ring of fixed slots of @size bytes in @ring bytes of shared memory:
 * no record headers, no checks, nothing a hostile peer could break.  The
 * producer copies each message into its slot and publishes its position
 * (a release store) every @batch messages; the consumer reads the
 * producer's position only when it has caught up, copies each message
 * out, and publishes its own every @batch messages (or when it catches
 * up).  Both keep a copy of the other's position, as ism's rings do.
 * @in_place: the consumer reads each message where it lies instead
 * (bench_read_lines()), as a zero-copy receiver does: one copy in all.
 */
struct bare {
	_Atomic uint64_t prod __attribute__((aligned(64)));
	_Atomic uint64_t cons __attribute__((aligned(64)));
	size_t size, ring;
	unsigned batch;
	bool in_place;
	uint64_t count;
	uint8_t *data; /* @ring bytes, shared */
};

uint64_t bench_read_lines(const void *p, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i + 8 <= n; i += 64) {
		uint64_t w;

		memcpy(&w, (const uint8_t *)p + i, sizeof(w));
		sum += w;
	}
	return sum;
}

/* A pause while waiting; every 1024th gives the CPU away, so a bare
 * ring on a loaded machine is not a spinner starving its own other half
 * (ism's waits yield too; on a quiet machine this never runs). */
static inline void relax(unsigned *spins)
{
	ism_cpu_relax();
	if (++*spins % 1024 == 0)
		sched_yield();
}

static int bare_child(int ctl, void *arg)
{
	struct bare *b = arg;
	uint64_t slots = b->ring / b->size, prod = 0, sum = 0, t1;
	uint8_t *buf = bench_buffer(b->size);
	unsigned n = 0, spins = 0;

	if (!buf)
		return 1;
	for (uint64_t i = 0; i < b->count; i++) {
		while (prod == i) {
			prod = atomic_load_explicit(&b->prod,
						    memory_order_acquire);
			if (prod == i)
				relax(&spins);
		}
		if (b->in_place)
			sum += bench_read_lines(b->data + (i % slots) * b->size,
						b->size);
		else
			memcpy(buf, b->data + (i % slots) * b->size, b->size);
		/* Keep the copy or the reads from being optimised away. */
		__asm__ __volatile__("" : : "r"(buf), "r"(sum) : "memory");
		if (++n >= b->batch || i + 1 == prod) {
			atomic_store_explicit(&b->cons, i + 1,
					      memory_order_release);
			n = 0;
		}
	}
	t1 = bench_now();
	free(buf);
	return bench_put(ctl, &t1, sizeof(t1)) < 0;
}

/* Nanoseconds for @count messages of @size through @ring bytes, or 0. */
static uint64_t bare_run(size_t size, unsigned batch, size_t ring,
			 uint64_t count, bool in_place)
{
	struct bare *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint8_t *data = mmap(NULL, ring, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint8_t *buf = bench_buffer(size);
	uint64_t slots = ring / size, cons = 0, t0, t1 = 0, ns = 0;
	unsigned spins = 0;
	struct bench_child c;

	if (b == MAP_FAILED || data == MAP_FAILED || !buf || !slots || !batch)
		goto out;
	b->size = size;
	b->ring = ring;
	b->batch = batch;
	b->in_place = in_place;
	b->count = count;
	b->data = data;
	if (bench_spawn(&c, bare_child, b) < 0)
		goto out;
	t0 = bench_now();
	for (uint64_t i = 0; i < count;) {
		for (unsigned k = 0; k < batch && i < count; k++, i++) {
			while (i - cons >= slots) {
				cons = atomic_load_explicit(
					&b->cons, memory_order_acquire);
				if (i - cons >= slots)
					relax(&spins);
			}
			memcpy(data + (i % slots) * size, buf, size);
		}
		atomic_store_explicit(&b->prod, i, memory_order_release);
	}
	if (bench_get(c.ctl, &t1, sizeof(t1)) == 0 && bench_reap(&c) == 0 &&
	    t1 > t0)
		ns = t1 - t0;
out:
	free(buf);
	if (data != MAP_FAILED)
		munmap(data, ring);
	if (b != MAP_FAILED)
		munmap(b, sizeof(*b));
	return ns;
}

double bench_bare_msg_mps(size_t size, unsigned batch, size_t ring,
			  uint64_t count)
{
	uint64_t ns = bare_run(size, batch, ring, count, false);

	return ns ? (double)count / ((double)ns / 1e9) / 1e6 : -1;
}

static double bare_bulk(size_t size, size_t ring, uint64_t bytes, bool in_place)
{
	uint64_t count = bytes / size,
		 ns = bare_run(size, 1, ring, count, in_place);

	return ns ? (double)(count * size) / (double)ns : -1;
}

double bench_bare_bulk_gbps(size_t size, size_t ring, uint64_t bytes)
{
	return bare_bulk(size, ring, bytes, false);
}

double bench_bare_bulk_zc_gbps(size_t size, size_t ring, uint64_t bytes)
{
	return bare_bulk(size, ring, bytes, true);
}

double bench_bare_ring_gbps(size_t size, uint64_t bytes)
{
	return bench_bare_bulk_gbps(size, 4u << 20, bytes);
}

void bench_fig_grid(struct bench_fig *fig, char (*names)[BENCH_FIG_NAME],
		    const char *const *what, const char *const *unit, int nwhat,
		    const char *const *tname, int ntrans)
{
	for (int t = 0; t < ntrans; t++)
		for (int k = 0; k < nwhat; k++) {
			int f = k * ntrans + t;

			snprintf(names[f], BENCH_FIG_NAME, "%s_%s", what[k],
				 tname[t]);
			fig[f].name = names[f];
			fig[f].unit = unit[k];
		}
}
