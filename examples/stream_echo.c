/* SPDX-License-Identifier: MIT */
/*
 * ism-stream-echo: an echo server and client over ism streams.
 *
 *   ism-stream-echo server PORT            # a thread per connection
 *   ism-stream-echo client HOST PORT [COUNT [SIZE]]
 *
 * The client sends COUNT messages (default 10000) of 1..SIZE bytes
 * (default 4096), reads each echo back, checks every byte, and prints the
 * path its connection took (shared memory or TCP, and why) with the
 * round-trip times.  Either side may be anything that speaks TCP: the
 * server echoes for `nc`, the client works against any echo server.
 * -s SOCKET picks the ismd socket; -t stays on TCP.
 */
#include <ism.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "ism-stream-echo: %s: %s\n", what, strerror(-err));
	return 1;
}

static const char *path_text(struct ism_stream *s)
{
	static _Thread_local char buf[64];
	int reason, path = ism_stream_path(s, &reason);

	if (path == ISM_STREAM_SHM)
		return "shared memory";
	snprintf(buf, sizeof(buf), "%s (%s)", ism_stream_path_name(path),
		 ism_stream_reason_name(reason));
	return buf;
}

static void *serve(void *arg)
{
	struct ism_stream *s = arg;
	static _Thread_local char buf[65536];
	ssize_t n, w = 0;

	while ((n = ism_stream_recv(s, buf, sizeof(buf), 0)) > 0)
		if ((w = ism_stream_send(s, buf, (size_t)n, 0)) != n)
			break;
	/* The end: the peer's EOF, or a failed receive (n < 0) or send. */
	printf("connection over %s: %s\n", path_text(s),
	       n == 0  ? "closed"
	       : n < 0 ? strerror((int)-n)
	       : w < 0 ? strerror((int)-w)
		       : "short send");
	fflush(stdout);
	ism_stream_close(s);
	return NULL;
}

static int server(struct ism_conn *c, const struct ism_stream_opts *o,
		  const char *port)
{
	struct ism_stream_listener *l;
	int r;

	if ((r = ism_stream_listen(c, NULL, port, o, &l)) < 0)
		return fail("listen", r);
	printf("echoing on port %d%s\n", ism_stream_listener_port(l),
	       c ? "" : " (no ismd: TCP only)");
	fflush(stdout);
	for (;;) {
		struct ism_stream *s;
		pthread_t th;

		if ((r = ism_stream_accept(l, &s, 0)) < 0) {
			fprintf(stderr, "ism-stream-echo: accept: %s\n",
				strerror(-r));
			continue;
		}
		if (pthread_create(&th, NULL, serve, s) != 0) {
			ism_stream_close(s);
			continue;
		}
		pthread_detach(th);
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int client(struct ism_conn *c, const struct ism_stream_opts *o,
		  const char *host, const char *port, long count, long size)
{
	unsigned char *out = malloc((size_t)size), *in = malloc((size_t)size);
	uint64_t *rtt = calloc((size_t)count, sizeof(*rtt)), x = 1;
	struct ism_stream *s = NULL;
	size_t p50 = (size_t)count / 2, p99 = (size_t)count * 99 / 100;
	int r = 0, rc = 1;

	if (!out || !in || !rtt) {
		fail("memory", -ENOMEM);
		goto out;
	}
	if ((r = ism_stream_connect(c, host, port, o, &s)) < 0) {
		fail("connect", r);
		goto out;
	}
	printf("connected over %s\n", path_text(s));
	for (long i = 0; i < count; i++) {
		size_t len = 1 + (size_t)(x % (uint64_t)size);
		uint64_t t0;
		ssize_t n;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		for (size_t k = 0; k < len; k++)
			out[k] = (unsigned char)(x >> (k % 56));
		t0 = now_ns();
		if ((n = ism_stream_send(s, out, len, 0)) < 0) {
			fail("send", (int)n);
			goto out;
		}
		if ((n = ism_stream_recv(s, in, len, ISM_F_WAITALL)) < 0) {
			fail("receive", (int)n);
			goto out;
		}
		if ((size_t)n != len || memcmp(in, out, len) != 0) {
			fail("echo", -EILSEQ);
			goto out;
		}
		rtt[i] = now_ns() - t0;
	}
	qsort(rtt, (size_t)count, sizeof(*rtt), cmp_u64);
	printf("%ld echoes of 1..%ld bytes over %s, all intact: round trip "
	       "p50 %.1f us, p99 %.1f us\n",
	       count, size, path_text(s), (double)rtt[p50] / 1e3,
	       (double)rtt[p99] / 1e3);
	rc = 0;
out:
	ism_stream_close(s);
	free(out);
	free(in);
	free(rtt);
	return rc;
}

static long number(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v > 0 && v <= max ? v : -1;
}

int main(int argc, char **argv)
{
	struct ism_stream_opts o = { .size = sizeof(o) };
	struct ism_conn *c = NULL;
	const char *sock = NULL;
	long count = 10000, size = 4096;
	int opt, n;

	while ((opt = getopt(argc, argv, "s:th")) != -1) {
		if (opt == 's')
			sock = optarg;
		else if (opt == 't')
			o.flags |= ISM_STREAM_TCP_ONLY;
		else {
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: ism-stream-echo [-s SOCKET] [-t] "
				"server PORT\n"
				"       ism-stream-echo [-s SOCKET] [-t] "
				"client HOST PORT "
				"[COUNT [SIZE]]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	n = argc - optind;
	signal(SIGPIPE, SIG_IGN);
	if (n >= 1 && !strcmp(argv[optind], "client") && n >= 3 && n <= 5) {
		if ((n >= 4 &&
		     (count = number(argv[optind + 3], 100000000)) < 0) ||
		    (n == 5 &&
		     (size = number(argv[optind + 4], 1 << 24)) < 0)) {
			fprintf(stderr, "ism-stream-echo: COUNT and SIZE are "
					"positive numbers\n");
			return 2;
		}
	} else if (!(n == 2 && !strcmp(argv[optind], "server"))) {
		fprintf(stderr, "ism-stream-echo: need server PORT or client "
				"HOST PORT (see -h)\n");
		return 2;
	}
	/* No ismd is fine: TCP, and the output says why. */
	if (!(o.flags & ISM_STREAM_TCP_ONLY) &&
	    ism_conn_open(sock, NULL, &c) < 0)
		c = NULL;
	if (!strcmp(argv[optind], "server"))
		return server(c, &o, argv[optind + 1]);
	n = client(c, &o, argv[optind + 1], argv[optind + 2], count, size);
	ism_conn_close(c);
	return n;
}
