/* SPDX-License-Identifier: MIT */
/*
 * ism-bench connect: what a connection costs to set up, an ism stream
 * against TCP loopback: the price of moving a connection onto shared
 * memory, and of finding out that it cannot move.
 *
 * One connection is: connect, send 64 bytes, receive the 64 bytes the
 * server echoes, close; CONNS of them one after another per transport
 * per round (after WARM not counted), the client in this process on CPU
 * 0, the server a child on CPU 1 that accepts in a loop (accept, receive
 * 64 bytes, send them back, close), a private ismd wherever the
 * scheduler puts it.  Transports:
 *
 *   ism           ism_stream_connect() to an ism_stream_listen()ed
 *                 server, both through ismd: OPEN to ismd, the TCP
 *                 connect, ismd matching the two sockets, a channel
 *                 (regions from ismd, default ring size) and the
 *                 three-message handshake.  Every connection must end on
 *                 shared memory (both ends check; else the run fails).
 *   tcp           plain sockets, TCP_NODELAY, at both ends.
 *   fallback      an ism client (through ismd) to a plain TCP server:
 *                 the "peer not ism" decision.  Must end on TCP.
 *   plain_to_ism  a plain TCP client to an ism listener: what a client
 *                 that is not ism pays (the server hands ismd every
 *                 accepted socket).  Must end on TCP.
 *
 * Figures (medians over rounds, [lowest .. highest round]):
 *   connect_rtt_p50_us_T, _p99_us_T  one whole connection (connect to
 *                 close), per-connection percentiles;
 *   conn_per_s_T  connections per second for the same loop (1 / mean);
 *   connect_only_p50_us_T  the connect call alone (ism_stream_connect,
 *                 or socket + connect + TCP_NODELAY); a note gives it
 *                 beside the p50 of the rest (the 64-byte exchange and
 *                 the close);
 *   ism_conn_open_p50_us  ism_conn_open + ism_conn_close, the
 *                 once-per-process cost of talking to ismd (not in the
 *                 figures above: the client keeps one ism_conn).
 * Ratios are medians of per-round ratios (ism / TCP and the like).
 * Figures and ratios only, no targets.  The client resolves nothing for
 * TCP (a numeric address in a sockaddr); ism_stream_connect() takes a
 * host and port string and calls getaddrinfo(), which is part of its
 * cost here.
 */
#include "bench.h"
#include "util/spawn.h"

#include <ism.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNS  1000
#define WARM   20
#define MSG    64
#define OPEN_N 50

enum transport { T_ISM, T_TCP, T_FALLBACK, T_PLAIN_TO_ISM, T_COUNT };
static const char *const t_name[T_COUNT] = { "ism", "tcp", "fallback",
					     "plain_to_ism" };

static const char *sock_path;

static bool server_is_ism(int t)
{
	return t == T_ISM || t == T_PLAIN_TO_ISM;
}

static bool client_is_ism(int t)
{
	return t == T_ISM || t == T_FALLBACK;
}

/* The path every connection of @t must end on. */
static int want_path(int t)
{
	return t == T_ISM ? ISM_STREAM_SHM : ISM_STREAM_TCP;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- the server: a child accepting in a loop ---- */

struct job {
	int t;
	unsigned n; /* connections to serve */
};

/* What the server says: its port first, then how it went. */
struct hello {
	uint16_t port;
};
struct tally {
	uint32_t served, wrong_path; /* wrong_path: not on want_path() */
	int32_t path, reason;	     /* the first wrong one's */
};

static int serve_ism(const struct job *j, int ctl, uint8_t *b, struct tally *tl)
{
	struct ism_stream_opts o = { .size = sizeof(o) };
	struct ism_stream_listener *l = NULL;
	struct ism_conn *c = NULL;
	struct hello h;
	int rc = 1;

	if (ism_conn_open(sock_path, NULL, &c) < 0 ||
	    ism_stream_listen(c, "127.0.0.1", "0", &o, &l) < 0)
		goto out;
	h.port = (uint16_t)ism_stream_listener_port(l);
	if (bench_put(ctl, &h, sizeof(h)) < 0)
		goto out;
	for (unsigned i = 0; i < j->n; i++) {
		struct ism_stream *s;
		int path, reason, bad;

		if (ism_stream_accept(l, &s, 0) < 0)
			goto out;
		bad = ism_stream_recv(s, b, MSG, ISM_F_WAITALL) != MSG ||
		      ism_stream_send(s, b, MSG, 0) != MSG;
		path = ism_stream_path(s, &reason);
		if (path != want_path(j->t) && !tl->wrong_path++) {
			tl->path = path;
			tl->reason = reason;
		}
		ism_stream_close(s);
		if (bad)
			goto out;
		tl->served++;
	}
	rc = 0;
out:
	ism_stream_listener_close(l);
	ism_conn_close(c);
	return rc;
}

static int serve_tcp(const struct job *j, int ctl, uint8_t *b, struct tally *tl)
{
	struct hello h;
	int lfd = bench_tcp_listen(&h.port), rc = 1;

	if (lfd < 0 || bench_put(ctl, &h, sizeof(h)) < 0)
		goto out;
	for (unsigned i = 0; i < j->n; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), bad;

		if (fd < 0)
			goto out;
		nodelay(fd);
		bad = bench_read_full(fd, b, MSG) < 0 ||
		      bench_write_full(fd, b, MSG) < 0;
		close(fd);
		if (bad)
			goto out;
		tl->served++;
	}
	rc = 0;
out:
	if (lfd >= 0)
		close(lfd);
	return rc;
}

static int server(int ctl, void *arg)
{
	const struct job *j = arg;
	struct tally tl = { 0 };
	uint8_t b[MSG];
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rc = server_is_ism(j->t) ? serve_ism(j, ctl, b, &tl)
				 : serve_tcp(j, ctl, b, &tl);
	if (rc == 0 && bench_put(ctl, &tl, sizeof(tl)) < 0)
		rc = 1;
	return rc;
}

/* ---- the client: this process ---- */

struct meas {
	double p50_us, p99_us, conn_per_s, conn_only_us, rest_us;
};

/* One connection of @t to @port; the time the connect call returned in
 * *@t_conn.  0, -1 (failed) or -2 (the stream is on the wrong path). */
static int client_once(int t, struct ism_conn *c, const char *port,
		       uint16_t portn, uint8_t *b, uint64_t *t_conn)
{
	struct ism_stream_opts o = { .size = sizeof(o) };
	struct ism_stream *s;
	int fd, bad, path, reason;

	if (!client_is_ism(t)) {
		fd = bench_tcp_connect(portn);
		if (fd < 0)
			return -1;
		nodelay(fd);
		*t_conn = bench_now();
		bad = bench_write_full(fd, b, MSG) < 0 ||
		      bench_read_full(fd, b, MSG) < 0;
		close(fd);
		return bad ? -1 : 0;
	}
	if (ism_stream_connect(c, "127.0.0.1", port, &o, &s) < 0)
		return -1;
	*t_conn = bench_now();
	path = ism_stream_path(s, &reason);
	if (path != want_path(t)) {
		fprintf(stderr,
			"ism-bench: connect %s: the client is on %s (%s)\n",
			t_name[t], ism_stream_path_name(path),
			ism_stream_reason_name(reason));
		ism_stream_close(s);
		return -2;
	}
	bad = ism_stream_send(s, b, MSG, 0) != MSG ||
	      ism_stream_recv(s, b, MSG, ISM_F_WAITALL) != MSG;
	return ism_stream_close(s) < 0 || bad ? -1 : 0;
}

static int run(int t, struct ism_conn *c, struct meas *m)
{
	struct job j = { .t = t, .n = WARM + CONNS };
	struct samples all, conn, rest;
	struct bench_child ch;
	struct hello h;
	struct tally tl;
	uint64_t total = 0;
	uint8_t b[MSG];
	char port[8];
	int fail = 0;

	memset(b, 0x5a, sizeof(b));
	if (bench_spawn(&ch, server, &j) < 0)
		return -1;
	if (bench_get(ch.ctl, &h, sizeof(h)) < 0) {
		kill(ch.pid, SIGKILL);
		bench_reap(&ch);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", h.port);
	samples_init(&all, CONNS);
	samples_init(&conn, CONNS);
	samples_init(&rest, CONNS);
	for (unsigned i = 0; i < j.n && !fail; i++) {
		uint64_t t0 = bench_now(), t1 = t0, t2;

		fail = client_once(t, c, port, h.port, b, &t1) < 0;
		t2 = bench_now();
		if (i >= WARM) {
			samples_add(&all, t2 - t0);
			samples_add(&conn, t1 - t0);
			samples_add(&rest, t2 - t1);
			total += t2 - t0;
		}
	}
	if (fail) {
		kill(ch.pid, SIGKILL); /* it may wait in accept */
	} else if (bench_get(ch.ctl, &tl, sizeof(tl)) < 0 || tl.served != j.n) {
		fail = 1;
	} else if (tl.wrong_path) {
		fprintf(stderr,
			"ism-bench: connect %s: %u of %u served on the "
			"wrong path (first: %s, %s)\n",
			t_name[t], tl.wrong_path, tl.served,
			ism_stream_path_name(tl.path),
			ism_stream_reason_name(tl.reason));
		fail = 1;
	}
	if (!fail && all.n == CONNS && total) {
		m->p50_us = samples_pct(&all, 50) / 1e3;
		m->p99_us = samples_pct(&all, 99) / 1e3;
		m->conn_only_us = samples_pct(&conn, 50) / 1e3;
		m->rest_us = samples_pct(&rest, 50) / 1e3;
		m->conn_per_s = (double)CONNS * 1e9 / (double)total;
	} else {
		fail = 1;
	}
	samples_free(&all);
	samples_free(&conn);
	samples_free(&rest);
	if (bench_reap(&ch) < 0)
		fail = 1;
	return fail ? -1 : 0;
}

/* ism_conn_open + ism_conn_close, p50 in us, or -1. */
static double conn_open_us(void)
{
	struct samples s;
	double p = -1;

	samples_init(&s, OPEN_N);
	for (int i = 0; i < OPEN_N; i++) {
		struct ism_conn *c;
		uint64_t t0 = bench_now();

		if (ism_conn_open(sock_path, NULL, &c) < 0)
			goto out;
		ism_conn_close(c);
		samples_add(&s, bench_now() - t0);
	}
	p = samples_pct(&s, 50) / 1e3;
out:
	samples_free(&s);
	return p;
}

enum {
	F_P50,
	F_P99 = F_P50 + T_COUNT,
	F_RATE = F_P99 + T_COUNT,
	F_ONLY = F_RATE + T_COUNT,
	F_OPEN = F_ONLY + T_COUNT,
	F_COUNT
};

static struct bench_fig fig[F_COUNT] = {
	[F_OPEN] = { "ism_conn_open_p50_us", "us" },
};
static char fig_names[F_COUNT][BENCH_FIG_NAME];

static const struct bench_ratio ratios[] = {
	{ "connect_vs_tcp", F_P50 + T_ISM, F_P50 + T_TCP,
	  "ism / TCP per-connection p50 (connect, 64 B each way, close)" },
	{ "fallback_vs_tcp", F_P50 + T_FALLBACK, F_P50 + T_TCP,
	  "ism client to a plain server / TCP per-connection p50" },
	{ "plain_to_ism_vs_tcp", F_P50 + T_PLAIN_TO_ISM, F_P50 + T_TCP,
	  "plain client to an ism listener / TCP per-connection p50" },
	{ "conn_rate_vs_tcp", F_RATE + T_ISM, F_RATE + T_TCP,
	  "ism / TCP connections per second" },
	{ "conn_rate_fallback_vs_tcp", F_RATE + T_FALLBACK, F_RATE + T_TCP,
	  "fallback / TCP connections per second" },
	{ "conn_rate_plain_to_ism_vs_tcp", F_RATE + T_PLAIN_TO_ISM,
	  F_RATE + T_TCP, "plain_to_ism / TCP connections per second" },
	{ "connect_p99_vs_tcp", F_P99 + T_ISM, F_P99 + T_TCP,
	  "ism / TCP per-connection p99" },
	{ "connect_only_vs_tcp", F_ONLY + T_ISM, F_ONLY + T_TCP,
	  "ism_stream_connect / connect(2) alone, p50" },
};

int bench_connect(const struct bench_opts *o)
{
	static double v[F_COUNT][BENCH_MAX_ROUNDS];
	static double rest[T_COUNT][BENCH_MAX_ROUNDS];
	unsigned rounds = bench_rounds(o, 5);
	struct ism_private d;
	struct ism_conn *c = NULL;
	int rc = 1;

	{
		static const char *const what[4] = { "connect_rtt_p50_us",
						     "connect_rtt_p99_us",
						     "conn_per_s",
						     "connect_only_p50_us" };
		static const char *const unit[4] = { "us", "us", "conn/s",
						     "us" };

		bench_fig_grid(fig, fig_names, what, unit, 4, t_name, T_COUNT);
	}
	bench_cpus_note();
	if (bench_ismd_start(&d, o) < 0)
		return 1;
	sock_path = d.sock;
	if (ism_conn_open(sock_path, NULL, &c) < 0)
		goto out;
	for (unsigned r = 0; r < rounds; r++) {
		if (!o->json)
			fprintf(stderr, "connect: round %u of %u\n", r + 1,
				rounds);
		for (int t = 0; t < T_COUNT; t++) {
			struct meas m = { 0 };
			bool ok = run(t, c, &m) == 0;

			v[F_P50 + t][r] = ok ? m.p50_us : -1;
			v[F_P99 + t][r] = ok ? m.p99_us : -1;
			v[F_RATE + t][r] = ok ? m.conn_per_s : -1;
			v[F_ONLY + t][r] = ok ? m.conn_only_us : -1;
			rest[t][r] = m.rest_us;
		}
		v[F_OPEN][r] = conn_open_us();
	}
	if (bench_report("connect", v, fig, F_COUNT, ratios,
			 (int)(sizeof(ratios) / sizeof(ratios[0])), rounds) < 0)
		goto out;
	result_note("medians of %u rounds (ratios: of per-round ratios), "
		    "[lowest .. highest round]; client on CPU 0, server on "
		    "CPU 1; %d connections per transport per round (after "
		    "%d not counted), one after another; ism rings %u KiB "
		    "(the default)",
		    rounds, CONNS, WARM, ISM_STREAM_RING_DEFAULT >> 10);
	for (int t = 0; t < T_COUNT; t++) {
		result_note("%s: p50s of a connection %.1f us: the connect "
			    "call %.1f us, then exchange and close %.1f us",
			    t_name[t], bench_median(v[F_P50 + t], rounds),
			    bench_median(v[F_ONLY + t], rounds),
			    bench_median(rest[t], rounds));
	}
	result_end(o->json);
	rc = 0;
out:
	ism_conn_close(c);
	ism_private_stop(&d, 1);
	return rc;
}
