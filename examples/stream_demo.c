/* SPDX-License-Identifier: MIT */
/*
 * ism-stream-demo (the README's `make run`): start a private ismd, then
 * run one program twice between two processes - a client and a server
 * talking through ism_stream_* - once as it comes (both ends are ism
 * streams on this host, so the bytes move over shared memory) and once
 * with ISM_STREAM_TCP_ONLY (plain TCP loopback), and print what each
 * took: 64-byte round trips, throughput with 64 KiB writes, and the CPU
 * both processes spent per GiB.  Every byte is checked.
 *
 * Usage: ism-stream-demo [--ismd PATH] [--mib N]   (N MiB moved per run,
 * default 512; ismd: $ISMD, else ../ismd/ismd next to this program, else
 * ismd on $PATH).  `ism-bench stream` is the careful version (rounds,
 * pinned CPUs, AF_UNIX too).
 */
#include <ism.h>
#include "util/spawn.h" /* a private ismd for this demo */

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUND_TRIPS 5000
#define WRITE	    65536

static const char *sock;
static uint64_t total_bytes;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* Client and server on different CPUs (when there are two), as two
 * services on one host would be. */
static void pin(int k)
{
	cpu_set_t set;
	int n = 0, cpu;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && n++ == k)
			break;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Write number @seq: a fixed pseudo-random block both sides compute, with
 * @seq in its first 8 bytes, so the receiver checks every byte (a memcmp
 * of data already in its cache) and the order.
 */
static void block(uint8_t *b, uint64_t seq)
{
	static uint8_t base[WRITE];
	static bool made;

	if (!made) {
		for (size_t i = 0; i < WRITE; i += 8) {
			uint64_t v = (i + 1) * 0x9e3779b97f4a7c15ull;

			memcpy(base + i, &v, 8);
		}
		made = true;
	}
	memcpy(b, base, WRITE);
	memcpy(b, &seq, 8);
}

struct result {
	int path, reason;
	double rtt_p50_us, rtt_p99_us, gbps, cpu_s_per_gib;
	uint64_t server_cpu_ns;
	int ok;
};

/*
 * The server process, its own ismd peer: listen, tell the port, echo the
 * round trips, receive and check the bulk, then report its CPU time for
 * the bulk.
 */
static int server(const struct ism_stream_opts *o, int report)
{
	static uint8_t b[WRITE], want[WRITE];
	struct ism_stream_listener *l;
	struct ism_conn *c = NULL;
	struct ism_stream *s;
	uint64_t c0, cpu;
	int port;

	if (!(o->flags & ISM_STREAM_TCP_ONLY) &&
	    ism_conn_open(sock, NULL, &c) < 0)
		return 1;
	if (ism_stream_listen(c, "127.0.0.1", "0", o, &l) < 0)
		return 1;
	port = ism_stream_listener_port(l);
	if (write(report, &port, sizeof(port)) != sizeof(port) ||
	    ism_stream_accept(l, &s, 0) < 0)
		return 1;
	for (int i = 0; i < ROUND_TRIPS; i++)
		if (ism_stream_recv(s, b, 64, ISM_F_WAITALL) != 64 ||
		    ism_stream_send(s, b, 64, 0) != 64)
			return 1;
	c0 = cpu_ns();
	block(want, 0);
	for (uint64_t seq = 0; seq < total_bytes / WRITE; seq++) {
		if (ism_stream_recv(s, b, WRITE, ISM_F_WAITALL) != WRITE)
			return 1;
		memcpy(want, &seq, 8);
		if (memcmp(b, want, WRITE) != 0)
			return 3;
	}
	cpu = cpu_ns() - c0;
	/* EOF after the last byte, as with TCP. */
	if (ism_stream_recv(s, b, 1, 0) != 0)
		return 1;
	ism_stream_close(s);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	return write(report, &cpu, sizeof(cpu)) == sizeof(cpu) ? 0 : 1;
}

/* The client is this process: connect, time round trips, send the bulk. */
static int client(struct ism_conn *c, const struct ism_stream_opts *o, int port,
		  int report, struct result *res)
{
	static uint8_t b[WRITE];
	static uint64_t rtt[ROUND_TRIPS];
	struct ism_stream *s;
	uint64_t t0, c0;
	char ps[8];

	snprintf(ps, sizeof(ps), "%d", port);
	if (ism_stream_connect(c, "127.0.0.1", ps, o, &s) < 0)
		return -1;
	res->path = ism_stream_path(s, &res->reason);
	for (int i = 0; i < ROUND_TRIPS; i++) {
		t0 = now_ns();
		if (ism_stream_send(s, b, 64, 0) != 64 ||
		    ism_stream_recv(s, b, 64, ISM_F_WAITALL) != 64)
			return -1;
		rtt[i] = now_ns() - t0;
	}
	const size_t p50 = ROUND_TRIPS / 2, p99 = ROUND_TRIPS * 99 / 100;

	qsort(rtt, ROUND_TRIPS, sizeof(rtt[0]), cmp_u64);
	res->rtt_p50_us = (double)rtt[p50] / 1e3;
	res->rtt_p99_us = (double)rtt[p99] / 1e3;
	t0 = now_ns();
	c0 = cpu_ns();
	block(b, 0);
	for (uint64_t seq = 0; seq < total_bytes / WRITE; seq++) {
		memcpy(b, &seq, 8);
		if (ism_stream_send(s, b, WRITE, 0) != WRITE)
			return -1;
	}
	ism_stream_shutdown(s, SHUT_WR);
	if (read(report, &res->server_cpu_ns, 8) != 8)
		return -1;
	res->gbps = (double)total_bytes / (double)(now_ns() - t0);
	res->cpu_s_per_gib = (double)(cpu_ns() - c0 + res->server_cpu_ns) /
			     1e9 / ((double)total_bytes / (1 << 30));
	ism_stream_close(s);
	return 0;
}

static int run(struct ism_conn *c, bool tcp_only, struct result *res)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .ring_size = 4u << 20,
				     .flags = tcp_only ? ISM_STREAM_TCP_ONLY
						       : 0 };
	int pfd[2], st, port = 0, r = -1;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pfd[0]);
		pin(1);
		_exit(server(&o, pfd[1]));
	}
	pin(0);
	close(pfd[1]);
	if (read(pfd[0], &port, sizeof(port)) == sizeof(port))
		r = client(tcp_only ? NULL : c, &o, port, pfd[0], res);
	close(pfd[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ism-stream-demo: the server failed%s\n",
			WIFEXITED(st) && WEXITSTATUS(st) == 3
				? ": bytes arrived wrong"
				: "");
		return -1;
	}
	res->ok = r == 0;
	return r;
}

static void row(const char *what, double a, double b, const char *unit,
		const char *better)
{
	printf("  %-30s %11.2f %-5s %11.2f %-5s %8.2fx  (%s)\n", what, a, unit,
	       b, unit, a / b, better);
}

int main(int argc, char **argv)
{
	const char *ismd = ism_find_ismd();
	struct ism_private d;
	struct ism_conn *c = NULL;
	struct result shm, tcp;
	long mib = 1024;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ismd") && i + 1 < argc) {
			ismd = argv[++i];
		} else if (!strcmp(argv[i], "--mib") && i + 1 < argc &&
			   (mib = strtol(argv[++i], NULL, 10)) > 0 &&
			   mib <= 65536) {
		} else {
			fprintf(stderr, "usage: ism-stream-demo [--ismd PATH] "
					"[--mib N]\n");
			return 2;
		}
	}
	total_bytes = (uint64_t)mib << 20;
	if (ism_private_start(&d, ismd, NULL) < 0)
		return 1;
	sock = d.sock;
	printf("ism stream demo: private ismd (pid %d) on %s\n", (int)d.pid,
	       sock);
	printf("one client and one server process, %d round trips of 64 "
	       "bytes, then %ld MiB in 64 KiB writes, every byte checked\n\n",
	       ROUND_TRIPS, mib);
	fflush(stdout);
	if (ism_conn_open(sock, NULL, &c) < 0) {
		fprintf(stderr, "ism-stream-demo: cannot reach the private "
				"ismd\n");
		goto out;
	}
	if (run(c, false, &shm) < 0 || run(c, true, &tcp) < 0) {
		fprintf(stderr, "ism-stream-demo: a run failed\n");
		goto out;
	}
	printf("  %-30s %17s %17s %9s\n", "", "ism stream", "plain TCP",
	       "ism/TCP");
	printf("  %-30s %17s %17s\n", "path taken",
	       shm.path == ISM_STREAM_SHM ? "shared memory"
					  : ism_stream_reason_name(shm.reason),
	       tcp.path == ISM_STREAM_TCP ? "tcp (TCP_ONLY)" : "?");
	row("64 B round trip, p50", shm.rtt_p50_us, tcp.rtt_p50_us, "us",
	    "lower is better");
	row("64 B round trip, p99", shm.rtt_p99_us, tcp.rtt_p99_us, "us",
	    "lower is better");
	row("throughput, 64 KiB writes", shm.gbps, tcp.gbps, "GB/s",
	    "higher is better");
	row("CPU per GiB, both processes", shm.cpu_s_per_gib, tcp.cpu_s_per_gib,
	    "s", "lower is better");
	printf("\nSame program both times; only ISM_STREAM_TCP_ONLY differs. "
	       "ism waits by spinning up to 50 us before sleeping.\n");
	rc = shm.path == ISM_STREAM_SHM ? 0 : 1;
	if (rc)
		fprintf(stderr, "ism-stream-demo: the ism run did not use "
				"shared memory\n");
out:
	ism_conn_close(c);
	if (ism_private_stop(&d, rc == 0) != 0) {
		fprintf(stderr, "ism-stream-demo: ismd exited badly; log: %s\n",
			d.log);
		rc = 1;
	}
	return rc;
}
