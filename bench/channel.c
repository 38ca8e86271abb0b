/* SPDX-License-Identifier: MIT */
/*
 * ism-bench channel: an ism channel between two processes pinned to
 * different CPUs, against AF_UNIX and TCP loopback doing the same work,
 * and against this machine's limits measured by the same tool: memcpy
 * bandwidth and the cache-line ping-pong round trip.
 *
 *   msg64   64-byte messages per second: one message per call (each
 *           published at once), and batches of 32.  AF_UNIX and TCP
 *           write and read 64 bytes per call; AF_UNIX also with
 *           sendmmsg/recvmmsg batches of 32 (SOCK_SEQPACKET).  The bare
 *           baseline: a ring of fixed 64-byte slots of the same size, no
 *           headers, no checks, publishing every message or every 32.
 *   bulk    GB/s with 4 KiB and 64 KiB messages, copied in and out (the
 *           channel's copy API, as the sockets copy), against one
 *           thread's memcpy of the same size and a bare ring of the
 *           channel's ring size doing the same two copies.
 *   latency 64-byte ping-pong, one way = RTT/2: busy-polling (p50 from
 *           chunks of 200 round trips, like the cache-line baseline;
 *           p99 from single ones) and sleeping on the doorbell, against
 *           an eventfd ping-pong.
 *
 * Every measurement is repeated --iterations times (default 5), the
 * rounds interleaved; figures are medians over rounds, and each ratio is
 * the median of the rounds' ratios (a baseline is measured next to what
 * it is compared with, so drifts of the host cancel out).  The channel is
 * set up through a private ismd, exactly as applications do.
 */
#include "bench.h"
#include "util/spawn.h"
#include "util/util.h"
#include "wire/wire.h"

#include <errno.h>
#include <ism.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG64_N	    (2u << 20)
#define BULK_BYTES  (1ull << 30)
#define LAT_CHUNK   200
#define LAT_CHUNKS  100
#define LAT_SLEEP_N 3000
/* Rings: small messages and latency at 64 KiB; bulk at the default size,
 * as applications get it (ism-bench rings has the curve). */
#define MSG_RING  (64u << 10)
#define BULK_RING ISM_CHAN_RING_DEFAULT

static const char *sock_path;

/* Both sides: a channel through ismd, tokens over the control socket. */
static struct ism_chan *chan_setup(int ctl, uint32_t ring, uint32_t spin,
				   struct ism_conn **conn)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = ring,
				   .spin_us = spin };
	struct ism_token mine, theirs;
	struct ism_chan *ch;

	if (ism_conn_open(sock_path, NULL, conn) < 0)
		return NULL;
	if (ism_chan_create(*conn, &o, &ch) < 0)
		return NULL;
	ism_chan_token(ch, &mine);
	if (bench_put(ctl, &mine, sizeof(mine)) < 0 ||
	    bench_get(ctl, &theirs, sizeof(theirs)) < 0 ||
	    ism_chan_connect(ch, &theirs) < 0) {
		ism_chan_close(ch);
		return NULL;
	}
	return ch;
}

/* ---- the shared shape of a test: the child receives, replies a time ---- */

struct job {
	int kind; /* what the child does */
	uint32_t ring, spin;
	uint64_t count;
	size_t size;
	int batch;
	int fd; /* an inherited socket for the socket baselines */
};

enum {
	J_CHAN_RECV,
	J_CHAN_ECHO,
	J_SOCK_RECV,
	J_SOCK_ECHO,
	J_MMSG_RECV,
	J_EFD_ECHO,
	J_LINE_ECHO,
};

/* Shared page for the eventfd and cache-line baselines. */
struct shared {
	_Atomic uint64_t line __attribute__((aligned(64)));
	uint8_t pad[56];
	int efd[2];
};
static struct shared *shm;

static int child(int ctl, void *arg)
{
	struct job *j = arg;
	struct ism_conn *conn = NULL;
	struct ism_chan *ch = NULL;
	uint8_t *b = bench_buffer(j->size > 4096 ? j->size : 4096);
	uint64_t t1 = 0;
	int r = 0;

	if (!b)
		return 1;
	if (j->kind == J_CHAN_RECV || j->kind == J_CHAN_ECHO) {
		ch = chan_setup(ctl, j->ring, j->spin, &conn);
		if (!ch)
			return 2;
	}
	switch (j->kind) {
	case J_CHAN_RECV:
		if (j->batch > 1) {
			struct iovec iov[32];
			uint8_t *bb = bench_buffer(32 * 64);

			for (uint64_t i = 0; i < j->count;) {
				int n;

				for (int k = 0; k < 32; k++) {
					iov[k].iov_base = bb + 64 * k;
					iov[k].iov_len = 64;
				}
				n = ism_chan_recv_batch(ch, iov, 32, 0);
				if (n < 0) {
					r = 3;
					break;
				}
				i += (uint64_t)n;
			}
			free(bb);
		} else {
			for (uint64_t i = 0; i < j->count; i++)
				if (ism_chan_recv(ch, b, j->size, 0) < 0) {
					r = 3;
					break;
				}
		}
		t1 = bench_now();
		break;
	case J_CHAN_ECHO:
		for (uint64_t i = 0; i < j->count; i++) {
			ssize_t n = ism_chan_recv(ch, b, 64, 0);

			if (n < 0 || ism_chan_send(ch, b, (size_t)n, 0) < 0) {
				r = 4;
				break;
			}
		}
		break;
	case J_SOCK_RECV:
		for (uint64_t i = 0; i < j->count; i++)
			if (bench_read_full(j->fd, b, j->size) < 0) {
				r = 5;
				break;
			}
		t1 = bench_now();
		break;
	case J_SOCK_ECHO:
		for (uint64_t i = 0; i < j->count; i++)
			if (bench_read_full(j->fd, b, 64) < 0 ||
			    bench_write_full(j->fd, b, 64) < 0) {
				r = 6;
				break;
			}
		break;
	case J_MMSG_RECV: {
		struct mmsghdr mm[32];
		struct iovec iov[32];

		for (int k = 0; k < 32; k++) {
			iov[k].iov_base = b + 64 * (k % 32);
			iov[k].iov_len = 64;
			memset(&mm[k], 0, sizeof(mm[k]));
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		for (uint64_t i = 0; i < j->count;) {
			int n = recvmmsg(j->fd, mm, 32, 0, NULL);

			if (n <= 0) {
				r = 7;
				break;
			}
			i += (uint64_t)n;
		}
		t1 = bench_now();
		break;
	}
	case J_EFD_ECHO:
		for (uint64_t i = 0; i < j->count; i++) {
			uint64_t v = 1;

			if (read(shm->efd[0], &v, 8) != 8 ||
			    write(shm->efd[1], &v, 8) != 8) {
				r = 8;
				break;
			}
		}
		break;
	case J_LINE_ECHO:
		/* Bounce the line: wait for odd, answer with even. */
		for (uint64_t i = 0; i < j->count; i++) {
			uint64_t want = 2 * i + 1;

			while (atomic_load_explicit(&shm->line,
						    memory_order_acquire) !=
			       want)
				;
			atomic_store_explicit(&shm->line, want + 1,
					      memory_order_release);
		}
		break;
	}
	if (bench_put(ctl, &t1, sizeof(t1)) < 0)
		r = r ? r : 9;
	ism_chan_close(ch);
	ism_conn_close(conn);
	free(b);
	return r;
}

/* ---- measurements; each returns its figure, or < 0 ---- */

/*
 * End a channel measurement: collect the child's end time and reap it.
 * After a failure the channel is closed first, so that a child waiting
 * for more messages sees the end instead of waiting for ever.
 */
static int finish(struct bench_child *c, struct ism_chan *ch,
		  struct ism_conn *conn, int fail, uint64_t *t1)
{
	if (fail) {
		ism_chan_close(ch);
		ch = NULL;
	}
	if (bench_get(c->ctl, t1, sizeof(*t1)) < 0)
		fail = 1;
	ism_chan_close(ch);
	ism_conn_close(conn);
	return bench_reap(c) < 0 || fail ? -1 : 0;
}

static double chan_msg64(int batch)
{
	struct job j = { .kind = J_CHAN_RECV,
			 .ring = MSG_RING,
			 .spin = 1000000,
			 .count = MSG64_N,
			 .size = 64,
			 .batch = batch };
	struct ism_conn *conn;
	struct ism_chan *ch;
	struct bench_child c;
	uint8_t msg[64 * 32] = { 0 };
	uint64_t t0, t1;
	int fail = 0;

	if (bench_spawn(&c, child, &j) < 0)
		return -1;
	ch = chan_setup(c.ctl, j.ring, j.spin, &conn);
	if (!ch) {
		bench_reap(&c);
		return -1;
	}
	t0 = bench_now();
	if (batch > 1) {
		struct iovec iov[32];

		for (int k = 0; k < 32; k++) {
			iov[k].iov_base = msg + 64 * k;
			iov[k].iov_len = 64;
		}
		for (uint64_t i = 0; i < MSG64_N && !fail;) {
			int n = ism_chan_send_batch(ch, iov, 32, 0);

			if (n < 0)
				fail = 1;
			else
				i += (uint64_t)n;
		}
	} else {
		for (uint64_t i = 0; i < MSG64_N && !fail; i++)
			fail = ism_chan_send(ch, msg, 64, 0) < 0;
	}
	if (finish(&c, ch, conn, fail, &t1) < 0)
		return -1;
	return (double)MSG64_N / ((double)(t1 - t0) / 1e9) / 1e6;
}

/* Socket baselines: @kind "unix", "tcp", or "unix-mmsg". */
static double sock_stream(const char *kind, size_t size, uint64_t count,
			  bool gbps)
{
	struct job j = { .kind = J_SOCK_RECV, .count = count, .size = size };
	uint8_t *b = bench_buffer(size);
	struct bench_child c;
	uint64_t t0, t1;
	int sv[2], fail = 0;
	bool mmsg = !strcmp(kind, "unix-mmsg");

	if (!b)
		return -1;
	if (!strcmp(kind, "tcp")) {
		if (bench_tcp_pair(sv) < 0)
			return -1;
	} else if (socketpair(AF_UNIX,
			      (mmsg ? SOCK_SEQPACKET : SOCK_STREAM) |
				      SOCK_CLOEXEC,
			      0, sv) < 0) {
		return -1;
	}
	j.fd = sv[1];
	if (mmsg)
		j.kind = J_MMSG_RECV;
	if (bench_spawn(&c, child, &j) < 0)
		return -1;
	close(sv[1]);
	t0 = bench_now();
	if (mmsg) {
		struct mmsghdr mm[32];
		struct iovec iov[32];

		for (int k = 0; k < 32; k++) {
			iov[k].iov_base = b;
			iov[k].iov_len = 64;
			memset(&mm[k], 0, sizeof(mm[k]));
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		for (uint64_t i = 0; i < count && !fail;) {
			int n = sendmmsg(sv[0], mm, 32, MSG_NOSIGNAL);

			if (n <= 0)
				fail = 1;
			else
				i += (uint64_t)n;
		}
	} else {
		for (uint64_t i = 0; i < count && !fail; i++)
			fail = bench_write_full(sv[0], b, size) < 0;
	}
	if (bench_get(c.ctl, &t1, sizeof(t1)) < 0)
		fail = 1;
	close(sv[0]);
	free(b);
	if (bench_reap(&c) < 0 || fail)
		return -1;
	if (gbps)
		return (double)count * (double)size / (double)(t1 - t0);
	return (double)count / ((double)(t1 - t0) / 1e9) / 1e6;
}

static double chan_bulk_ring(size_t size, uint32_t ring)
{
	uint64_t count = BULK_BYTES / size;
	struct job j = { .kind = J_CHAN_RECV,
			 .ring = ring,
			 .spin = 1000000,
			 .count = count,
			 .size = size,
			 .batch = 1 };
	struct ism_conn *conn;
	struct ism_chan *ch;
	uint8_t *b = bench_buffer(size);
	struct bench_child c;
	uint64_t t0, t1;
	int fail = 0;

	if (!b || bench_spawn(&c, child, &j) < 0) {
		free(b);
		return -1;
	}
	ch = chan_setup(c.ctl, j.ring, j.spin, &conn);
	if (!ch) {
		free(b);
		bench_reap(&c);
		return -1;
	}
	t0 = bench_now();
	for (uint64_t i = 0; i < count && !fail; i++)
		fail = ism_chan_send(ch, b, size, 0) < 0;
	free(b);
	if (finish(&c, ch, conn, fail, &t1) < 0)
		return -1;
	return (double)(count * size) / (double)(t1 - t0);
}

static double chan_bulk(size_t size)
{
	return chan_bulk_ring(size, BULK_RING);
}

static double memcpy_gbps(size_t size)
{
	uint8_t *src = bench_buffer(size), *dst = bench_buffer(size);
	uint64_t t0, n = 0, bytes = 0;

	if (!src || !dst)
		return -1;
	bench_pin(0);
	t0 = bench_now();
	do {
		for (int i = 0; i < 64; i++) {
			memcpy(dst, src, size);
			/* Keep the copy from being optimised away. */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		n += 64;
		bytes += 64 * size;
	} while (bench_now() - t0 < 200000000ull);
	{
		double g = (double)bytes / (double)(bench_now() - t0);

		free(src);
		free(dst);
		(void)n;
		return g;
	}
}

/* Ping-pong: p50 from chunks, p99 from single round trips (ns, one way). */
struct lat {
	double p50, p99;
};

static struct lat chan_latency(uint32_t spin, int chunks, int chunk)
{
	uint64_t count = (uint64_t)chunks * (uint64_t)chunk + 1000 +
			 (uint64_t)chunks * (uint64_t)chunk;
	struct job j = { .kind = J_CHAN_ECHO,
			 .ring = MSG_RING,
			 .spin = spin,
			 .count = count,
			 .size = 64 };
	struct lat out = { -1, -1 };
	struct samples s, one;
	struct ism_conn *conn;
	struct ism_chan *ch;
	struct bench_child c;
	uint8_t m[64] = { 0 };
	uint64_t t1;
	int fail = 0;

	if (bench_spawn(&c, child, &j) < 0)
		return out;
	ch = chan_setup(c.ctl, j.ring, j.spin, &conn);
	if (!ch) {
		bench_reap(&c);
		return out;
	}
	samples_init(&s, (size_t)chunks);
	samples_init(&one, (size_t)chunks * (size_t)chunk);
	for (int i = 0; i < 1000 && !fail; i++) /* warm up */
		fail = ism_chan_send(ch, m, 64, 0) < 0 ||
		       ism_chan_recv(ch, m, 64, 0) < 0;
	for (int k = 0; k < chunks && !fail; k++) {
		uint64_t t0 = bench_now();

		for (int i = 0; i < chunk && !fail; i++)
			fail = ism_chan_send(ch, m, 64, 0) < 0 ||
			       ism_chan_recv(ch, m, 64, 0) < 0;
		samples_add(&s, (bench_now() - t0) / (uint64_t)chunk / 2);
	}
	for (int k = 0; k < chunks * chunk && !fail; k++) {
		uint64_t t0 = bench_now();

		fail = ism_chan_send(ch, m, 64, 0) < 0 ||
		       ism_chan_recv(ch, m, 64, 0) < 0;
		samples_add(&one, (bench_now() - t0) / 2);
	}
	if (finish(&c, ch, conn, fail, &t1) == 0) {
		out.p50 = samples_pct(&s, 50);
		out.p99 = samples_pct(&one, 99);
	}
	samples_free(&s);
	samples_free(&one);
	return out;
}

static struct lat line_latency(void)
{
	struct job j = { .kind = J_LINE_ECHO,
			 .count = (uint64_t)LAT_CHUNKS * LAT_CHUNK + 1000 };
	struct lat out = { -1, -1 };
	struct samples s;
	struct bench_child c;
	uint64_t i = 0, t1;

	atomic_store(&shm->line, 0);
	if (bench_spawn(&c, child, &j) < 0)
		return out;
	samples_init(&s, LAT_CHUNKS);
	for (; i < 1000; i++) {
		atomic_store_explicit(&shm->line, 2 * i + 1,
				      memory_order_release);
		while (atomic_load_explicit(&shm->line, memory_order_acquire) !=
		       2 * i + 2)
			;
	}
	for (int k = 0; k < LAT_CHUNKS; k++) {
		uint64_t t0 = bench_now();

		for (int n = 0; n < LAT_CHUNK; n++, i++) {
			atomic_store_explicit(&shm->line, 2 * i + 1,
					      memory_order_release);
			while (atomic_load_explicit(&shm->line,
						    memory_order_acquire) !=
			       2 * i + 2)
				;
		}
		samples_add(&s, (bench_now() - t0) / LAT_CHUNK); /* RTT */
	}
	if (bench_get(c.ctl, &t1, sizeof(t1)) == 0 && bench_reap(&c) == 0)
		out.p50 = samples_pct(&s, 50);
	samples_free(&s);
	return out;
}

static struct lat efd_latency(int n)
{
	struct job j = { .kind = J_EFD_ECHO, .count = (uint64_t)n + 100 };
	struct lat out = { -1, -1 };
	struct samples s;
	struct bench_child c;
	uint64_t v = 1, t1;
	int fail = 0;

	shm->efd[0] = eventfd(0, EFD_CLOEXEC);
	shm->efd[1] = eventfd(0, EFD_CLOEXEC);
	if (shm->efd[0] < 0 || shm->efd[1] < 0 ||
	    bench_spawn(&c, child, &j) < 0)
		return out;
	samples_init(&s, (size_t)n);
	for (int i = 0; i < n + 100 && !fail; i++) {
		uint64_t t0 = bench_now();

		fail = write(shm->efd[0], &v, 8) != 8 ||
		       read(shm->efd[1], &v, 8) != 8;
		if (i >= 100)
			samples_add(&s, (bench_now() - t0) / 2);
		usleep(100); /* let the other side fall asleep, as with ism */
	}
	if (bench_get(c.ctl, &t1, sizeof(t1)) == 0 && bench_reap(&c) == 0 &&
	    !fail) {
		out.p50 = samples_pct(&s, 50);
		out.p99 = samples_pct(&s, 99);
	}
	samples_free(&s);
	close(shm->efd[0]);
	close(shm->efd[1]);
	return out;
}

static struct lat chan_sleep_latency(int n)
{
	struct job j = { .kind = J_CHAN_ECHO,
			 .ring = MSG_RING,
			 .spin = ISM_CHAN_NO_SPIN,
			 .count = (uint64_t)n + 100,
			 .size = 64 };
	struct lat out = { -1, -1 };
	struct samples s;
	struct ism_conn *conn;
	struct ism_chan *ch;
	struct bench_child c;
	uint8_t m[64] = { 0 };
	uint64_t t1;
	int fail = 0;

	if (bench_spawn(&c, child, &j) < 0)
		return out;
	ch = chan_setup(c.ctl, j.ring, ISM_CHAN_NO_SPIN, &conn);
	if (!ch) {
		bench_reap(&c);
		return out;
	}
	samples_init(&s, (size_t)n);
	for (int i = 0; i < n + 100 && !fail; i++) {
		uint64_t t0 = bench_now();

		fail = ism_chan_send(ch, m, 64, 0) < 0 ||
		       ism_chan_recv(ch, m, 64, 0) < 0;
		if (i >= 100)
			samples_add(&s, (bench_now() - t0) / 2);
		usleep(100);
	}
	if (finish(&c, ch, conn, fail, &t1) == 0) {
		out.p50 = samples_pct(&s, 50);
		out.p99 = samples_pct(&s, 99);
	}
	samples_free(&s);
	return out;
}

/* ---- the suite ---- */

enum {
	F_ISM_MSG1,
	F_ISM_MSG32,
	F_UNIX_MSG,
	F_UNIX_MMSG,
	F_TCP_MSG,
	F_ISM_BULK4K,
	F_ISM_BULK64K,
	F_UNIX_BULK64K,
	F_TCP_BULK64K,
	F_UNIX_BULK4K,
	F_MEMCPY4K,
	F_MEMCPY64K,
	F_BARE_BULK64K,
	F_BARE_BULK4K,
	F_BARE_MSG1,
	F_BARE_MSG32,
	F_LAT_POLL_P50,
	F_LAT_POLL_P99,
	F_LINE_RTT,
	F_LAT_SLEEP_P50,
	F_LAT_SLEEP_P99,
	F_EFD_P50,
	F_EFD_P99,
	F_COUNT
};

static const struct bench_fig fig[F_COUNT] = {
	[F_ISM_MSG1] = { "msg64_single_mps_ism", "M msg/s" },
	[F_ISM_MSG32] = { "msg64_batch32_mps_ism", "M msg/s" },
	[F_UNIX_MSG] = { "msg64_mps_unix", "M msg/s" },
	[F_UNIX_MMSG] = { "msg64_batch32_mps_unix_mmsg", "M msg/s" },
	[F_TCP_MSG] = { "msg64_mps_tcp", "M msg/s" },
	[F_ISM_BULK4K] = { "bulk4k_gbps_ism", "GB/s" },
	[F_ISM_BULK64K] = { "bulk64k_gbps_ism", "GB/s" },
	[F_UNIX_BULK64K] = { "bulk64k_gbps_unix", "GB/s" },
	[F_TCP_BULK64K] = { "bulk64k_gbps_tcp", "GB/s" },
	[F_UNIX_BULK4K] = { "bulk4k_gbps_unix", "GB/s" },
	[F_MEMCPY4K] = { "memcpy4k_gbps", "GB/s" },
	[F_MEMCPY64K] = { "memcpy64k_gbps", "GB/s" },
	[F_BARE_BULK64K] = { "bulk64k_gbps_bare_ring", "GB/s" },
	[F_BARE_BULK4K] = { "bulk4k_gbps_bare_ring", "GB/s" },
	[F_BARE_MSG1] = { "msg64_single_mps_bare_ring", "M msg/s" },
	[F_BARE_MSG32] = { "msg64_batch32_mps_bare_ring", "M msg/s" },
	[F_LAT_POLL_P50] = { "latency_poll_p50_ns", "ns one way" },
	[F_LAT_POLL_P99] = { "latency_poll_p99_ns", "ns one way" },
	[F_LINE_RTT] = { "cacheline_rtt_ns", "ns round trip" },
	[F_LAT_SLEEP_P50] = { "latency_sleep_p50_us", "us one way" },
	[F_LAT_SLEEP_P99] = { "latency_sleep_p99_us", "us one way" },
	[F_EFD_P50] = { "eventfd_p50_us", "us one way" },
	[F_EFD_P99] = { "eventfd_p99_us", "us one way" },
};

/* Each ratio: figure num / figure den, per round. */
static const struct bench_ratio ratios[] = {
	{ "msg64_batch_vs_unix", F_ISM_MSG32, F_UNIX_MSG,
	  "ism batch 32 / AF_UNIX 64-byte writes (target >= 15)" },
	{ "msg64_single_vs_unix", F_ISM_MSG1, F_UNIX_MSG,
	  "ism one per call / AF_UNIX (target >= 5)" },
	{ "bulk64k_vs_memcpy", F_ISM_BULK64K, F_MEMCPY64K,
	  "ism 64 KiB / one thread's memcpy (target >= 0.5)" },
	{ "bulk64k_vs_unix", F_ISM_BULK64K, F_UNIX_BULK64K,
	  "ism 64 KiB / AF_UNIX 64 KiB (target >= 3)" },
	{ "latency_poll_vs_cacheline", F_LAT_POLL_P50, F_LINE_RTT,
	  "busy-poll one way p50 / cache-line RTT (target <= 3)" },
	{ "msg64_batch_vs_unix_batch", F_ISM_MSG32, F_UNIX_MMSG,
	  "ism batch 32 / AF_UNIX sendmmsg batch 32" },
	{ "msg64_single_vs_tcp", F_ISM_MSG1, F_TCP_MSG,
	  "ism one per call / TCP 64-byte writes" },
	{ "bulk64k_vs_tcp", F_ISM_BULK64K, F_TCP_BULK64K,
	  "ism 64 KiB / TCP 64 KiB" },
	{ "latency_sleep_vs_eventfd", F_LAT_SLEEP_P50, F_EFD_P50,
	  "doorbell-sleep one way p50 / eventfd one way p50" },
	{ "msg64_single_vs_bare", F_ISM_MSG1, F_BARE_MSG1,
	  "ism one per call / bare 64-byte-slot ring, same ring size "
	  "(target >= 0.8)" },
	{ "msg64_batch_vs_bare", F_ISM_MSG32, F_BARE_MSG32,
	  "ism batch 32 / bare slot ring publishing every 32 "
	  "(target >= 0.8)" },
	{ "bulk4k_vs_bare", F_ISM_BULK4K, F_BARE_BULK4K,
	  "ism 4 KiB / bare ring of the same size (target >= 0.9)" },
	{ "bulk64k_vs_bare", F_ISM_BULK64K, F_BARE_BULK64K,
	  "ism 64 KiB / bare ring of the same size (target >= 0.9)" },
	{ "bare_ring_vs_memcpy", F_BARE_BULK64K, F_MEMCPY64K,
	  "bare ring 64 KiB / memcpy: this machine's cross-core limit" },
};

int bench_channel(const struct bench_opts *o)
{
	static double v[F_COUNT][BENCH_MAX_ROUNDS];
	unsigned rounds = bench_rounds(o, 5);
	struct ism_private d;
	int rc = 1;

	bench_cpus_note();
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return 1;
	if (bench_ismd_start(&d, o) < 0)
		return 1;
	sock_path = d.sock;
	for (unsigned r = 0; r < rounds; r++) {
		struct lat l;

		if (!o->json)
			fprintf(stderr, "channel: round %u of %u\n", r + 1,
				rounds);
		v[F_ISM_MSG1][r] = chan_msg64(1);
		v[F_ISM_MSG32][r] = chan_msg64(32);
		v[F_UNIX_MSG][r] = sock_stream("unix", 64, MSG64_N / 4, false);
		v[F_UNIX_MMSG][r] =
			sock_stream("unix-mmsg", 64, MSG64_N / 2, false);
		v[F_TCP_MSG][r] = sock_stream("tcp", 64, MSG64_N / 4, false);
		v[F_ISM_BULK4K][r] = chan_bulk(4096);
		v[F_ISM_BULK64K][r] = chan_bulk(65536);
		v[F_MEMCPY64K][r] = memcpy_gbps(65536);
		v[F_BARE_BULK64K][r] =
			bench_bare_bulk_gbps(65536, BULK_RING, BULK_BYTES);
		v[F_BARE_BULK4K][r] =
			bench_bare_bulk_gbps(4096, BULK_RING, BULK_BYTES);
		v[F_BARE_MSG1][r] =
			bench_bare_msg_mps(64, 1, MSG_RING, MSG64_N);
		v[F_BARE_MSG32][r] =
			bench_bare_msg_mps(64, 32, MSG_RING, MSG64_N);
		v[F_UNIX_BULK64K][r] = sock_stream(
			"unix", 65536, BULK_BYTES / 65536 / 2, true);
		v[F_TCP_BULK64K][r] =
			sock_stream("tcp", 65536, BULK_BYTES / 65536 / 4, true);
		v[F_UNIX_BULK4K][r] =
			sock_stream("unix", 4096, BULK_BYTES / 4096 / 4, true);
		v[F_MEMCPY4K][r] = memcpy_gbps(4096);
		l = chan_latency(1000000, LAT_CHUNKS, LAT_CHUNK);
		v[F_LAT_POLL_P50][r] = l.p50;
		v[F_LAT_POLL_P99][r] = l.p99;
		l = line_latency();
		v[F_LINE_RTT][r] = l.p50;
		l = chan_sleep_latency(LAT_SLEEP_N);
		v[F_LAT_SLEEP_P50][r] = l.p50 / 1e3;
		v[F_LAT_SLEEP_P99][r] = l.p99 / 1e3;
		l = efd_latency(LAT_SLEEP_N);
		v[F_EFD_P50][r] = l.p50 / 1e3;
		v[F_EFD_P99][r] = l.p99 / 1e3;
	}
	if (bench_report("channel", v, fig, F_COUNT, ratios,
			 (int)(sizeof(ratios) / sizeof(ratios[0])), rounds) < 0)
		goto out;
	result_note("medians of %u rounds (ratios: of per-round ratios), "
		    "[lowest .. highest round]; CPUs 0 and 1; rings %u KiB "
		    "(messages) and %u KiB (bulk; bare rings the same)",
		    rounds, MSG_RING >> 10, BULK_RING >> 10);
	result_end(o->json);
	rc = 0;
out:
	ism_private_stop(&d, 1);
	munmap(shm, sizeof(*shm));
	return rc;
}

/* ---- ism-bench rings: bulk throughput against the ring size ---- */

#define RINGS_N 5
static const uint32_t ring_sizes[RINGS_N] = { 64u << 10, 256u << 10, 1u << 20,
					      4u << 20, 16u << 20 };

/*
 * The curve behind the default ring sizes: 4 KiB and 64 KiB messages
 * through a channel (copy in, copy out) at each ring size, and the bare
 * ring of the same size next to each.  (64 KiB messages need a ring of
 * at least 256 KiB: the largest message is half the ring.)
 */
int bench_rings(const struct bench_opts *o)
{
	static double v[4 * RINGS_N][BENCH_MAX_ROUNDS];
	static struct bench_fig rf[4 * RINGS_N];
	static struct bench_ratio rr[2 * RINGS_N];
	static char names[6 * RINGS_N][48], whats[2 * RINGS_N][64];
	unsigned rounds = bench_rounds(o, 3);
	int nf = 0, nr = 0, rc = 1;
	struct ism_private d;

	for (int k = 0; k < RINGS_N; k++) {
		for (int m = 0; m < 2; m++) {
			size_t size = m ? 65536 : 4096;

			if (size > ism_ring_max_msg(ring_sizes[k]))
				continue;
			snprintf(names[nf], 48, "bulk%uk_gbps_ism_ring%uk",
				 (unsigned)(size >> 10), ring_sizes[k] >> 10);
			rf[nf] = (struct bench_fig){ names[nf], "GB/s" };
			snprintf(names[nf + 1], 48, "bulk%uk_gbps_bare_ring%uk",
				 (unsigned)(size >> 10), ring_sizes[k] >> 10);
			rf[nf + 1] =
				(struct bench_fig){ names[nf + 1], "GB/s" };
			snprintf(names[4 * RINGS_N + nr], 48,
				 "bulk%uk_vs_bare_ring%uk",
				 (unsigned)(size >> 10), ring_sizes[k] >> 10);
			snprintf(whats[nr], 64,
				 "ism / bare, %u KiB messages, %u KiB ring",
				 (unsigned)(size >> 10), ring_sizes[k] >> 10);
			rr[nr] = (struct bench_ratio){ names[4 * RINGS_N + nr],
						       nf, nf + 1, whats[nr] };
			nf += 2;
			nr++;
		}
	}
	if (bench_ismd_start(&d, o) < 0)
		return 1;
	sock_path = d.sock;
	for (unsigned r = 0; r < rounds; r++) {
		int f = 0;

		if (!o->json)
			fprintf(stderr, "rings: round %u of %u\n", r + 1,
				rounds);
		for (int k = 0; k < RINGS_N; k++) {
			for (int m = 0; m < 2; m++) {
				size_t size = m ? 65536 : 4096;

				if (size > ism_ring_max_msg(ring_sizes[k]))
					continue;
				v[f][r] = chan_bulk_ring(size, ring_sizes[k]);
				v[f + 1][r] = bench_bare_bulk_gbps(
					size, ring_sizes[k], BULK_BYTES);
				f += 2;
			}
		}
	}
	if (bench_report("rings", v, rf, nf, rr, nr, rounds) < 0)
		goto out;
	result_note("medians of %u rounds, [lowest .. highest round]; 1 GiB "
		    "per point; CPUs 0 and 1; defaults: channel %u KiB, "
		    "stream %u KiB",
		    rounds, ISM_CHAN_RING_DEFAULT >> 10,
		    ISM_STREAM_RING_DEFAULT >> 10);
	result_end(o->json);
	rc = 0;
out:
	ism_private_stop(&d, 1);
	return rc;
}
