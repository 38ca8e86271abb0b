/* SPDX-License-Identifier: MIT */
/*
 * ism-bench - what the two-process suites share: a child pinned to the
 * other CPU with a control socket, exact reads and writes on sockets, a
 * TCP loopback pair, and the per-round medians behind every report.
 */
#include "bench.h"
#include "util/util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
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
	}
	for (int f = 0; f < nfig; f++) {
		double m[BENCH_MAX_ROUNDS];

		memcpy(m, v[f], sizeof(m));
		qsort(m, rounds, sizeof(double), cmp_d);
		result_figure(fig[f].name, m[rounds / 2], fig[f].unit);
	}
	return 0;
}

/* ---- this machine's limit for moving bytes between two cores ---- */

#define BARE_RING (4u << 20)

struct bare {
	_Atomic uint64_t prod __attribute__((aligned(64)));
	_Atomic uint64_t cons __attribute__((aligned(64)));
	size_t size;
	uint64_t count;
	uint8_t *ring; /* BARE_RING bytes, shared */
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The consumer: copy blocks out, no checks; reports when it is done. */
static int bare_child(int ctl, void *arg)
{
	struct bare *b = arg;
	uint64_t slots = BARE_RING / b->size, t1;
	uint8_t *buf = bench_buffer(b->size);

	if (!buf)
		return 1;
	for (uint64_t i = 0; i < b->count; i++) {
		while (atomic_load_explicit(&b->prod, memory_order_acquire) ==
		       i)
			relax();
		memcpy(buf, b->ring + (i % slots) * b->size, b->size);
		atomic_store_explicit(&b->cons, i + 1, memory_order_release);
	}
	t1 = bench_now();
	free(buf);
	return bench_put(ctl, &t1, sizeof(t1)) < 0;
}

double bench_bare_ring_gbps(size_t size, uint64_t bytes)
{
	struct bare *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint8_t *ring = mmap(NULL, BARE_RING, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint8_t *buf = bench_buffer(size);
	uint64_t slots = BARE_RING / size, t0, t1 = 0;
	struct bench_child c;
	double r = -1;

	if (b == MAP_FAILED || ring == MAP_FAILED || !buf)
		goto out;
	b->size = size;
	b->count = bytes / size;
	b->ring = ring;
	if (bench_spawn(&c, bare_child, b) < 0)
		goto out;
	t0 = bench_now();
	for (uint64_t i = 0; i < b->count; i++) {
		while (i - atomic_load_explicit(&b->cons,
						memory_order_acquire) >=
		       slots)
			relax();
		memcpy(ring + (i % slots) * size, buf, size);
		atomic_store_explicit(&b->prod, i + 1, memory_order_release);
	}
	if (bench_get(c.ctl, &t1, sizeof(t1)) == 0 && bench_reap(&c) == 0)
		r = (double)(b->count * size) / (double)(t1 - t0);
out:
	free(buf);
	if (ring != MAP_FAILED)
		munmap(ring, BARE_RING);
	if (b != MAP_FAILED)
		munmap(b, sizeof(*b));
	return r;
}
