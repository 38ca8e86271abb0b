/* SPDX-License-Identifier: MIT */
/*
 * t-vmhost - the host side of the VM tests: an ism member of an ivshmem
 * domain (libism: ism_ivshmem_join, ism_ivshmem_ivdom) running one
 * channel script, printing one line per result for the test to read.
 *
 *   t-vmhost SOCKET DOMAIN echo PORT [N]      accept N channels, echo
 *   t-vmhost SOCKET DOMAIN send PEER PORT COUNT SIZE [PAUSE_MS]
 *            (PAUSE_MS before each of the first 10 messages: the other
 *            side goes to sleep and needs a doorbell to wake up)
 *   t-vmhost SOCKET DOMAIN drain PORT         numbered messages to the end
 *   t-vmhost SOCKET DOMAIN expect-proto PORT  read until the channel fails
 *
 * Commands can be chained with "--": they run in order in one
 * membership.  The first line is "joined DOMAIN as ID".
 */
#include <ism.h>
#include <ism/ivchan.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <time.h>

static struct ism_ivdom *dom;

static void die(const char *what, int err)
{
	printf("t-vmhost: %s: %s\n", what, strerror(-err));
	fflush(stdout);
	exit(1);
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end || v > UINT32_MAX)
		die("bad number", -EINVAL);
	return (uint32_t)v;
}

/* The same bytes ism-guest writes. */
static void pattern(uint8_t *p, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 131u + i * 7u + 1u);
}

static const struct ism_ivchan_opts copts = { .size = sizeof(copts),
					      .timeout_ms = 240000 };

static void do_echo(uint32_t port)
{
	static uint8_t buf[1 << 20];
	struct ism_ivchan *ch;
	uint64_t msgs = 0, bytes = 0;
	ssize_t r;
	int e = 0;

	if ((e = ism_ivchan_accept(dom, port, &copts, &ch)) < 0)
		die("accept", e);
	while ((r = ism_ivchan_recv(ch, buf, sizeof(buf), 0)) >= 0) {
		if ((e = ism_ivchan_send(ch, buf, (size_t)r, 0)) < 0)
			break;
		msgs++;
		bytes += (uint64_t)r;
	}
	printf("echo: %" PRIu64 " messages %" PRIu64 " bytes end %s\n", msgs,
	       bytes, strerror((int)-(r < 0 ? r : e)));
	ism_ivchan_close(ch);
}

static void do_send(uint32_t peer, uint32_t port, uint32_t count, uint32_t size,
		    uint32_t pause_ms)
{
	struct ism_ivchan *ch;
	uint8_t *out = malloc(size + 1), *in = malloc(size + 1);
	int e;

	if (!out || !in)
		die("malloc", -ENOMEM);
	/* The guest may still be booting: its id appears when its QEMU
	 * connects (ismd rings us then), its offer or accept later. */
	for (int tries = 0; (e = ism_ivchan_connect(dom, peer, port, &copts,
						    &ch)) == -ECONNREFUSED &&
			    tries < 2400;
	     tries++)
		ism_ivdom_wait(dom, 100);
	if (e < 0)
		die("connect", e);
	for (uint32_t i = 0; i < count; i++) {
		ssize_t r;

		pattern(out, size, i);
		if (i < 10 && pause_ms) {
			struct timespec ts = { pause_ms / 1000,
					       (long)(pause_ms % 1000) *
						       1000000 };

			nanosleep(&ts, NULL);
		}
		if ((e = ism_ivchan_send(ch, out, size, 0)) < 0)
			die("send", e);
		if ((r = ism_ivchan_recv(ch, in, size + 1, 0)) < 0)
			die("recv", (int)r);
		if ((size_t)r != size || memcmp(in, out, size)) {
			printf("send: echo %u differs\n", i);
			exit(1);
		}
	}
	ism_ivchan_close(ch);
	printf("send: ok %u messages of %u bytes\n", count, size);
	free(out);
	free(in);
}

static void do_drain(uint32_t port)
{
	uint8_t buf[4096], want[4096];
	struct ism_ivchan *ch;
	uint32_t n = 0;
	ssize_t r;
	int e;

	if ((e = ism_ivchan_accept(dom, port, &copts, &ch)) < 0)
		die("accept", e);
	printf("drain: accepted from %u\n", ism_ivchan_peer(ch));
	fflush(stdout);
	while ((r = ism_ivchan_recv(ch, buf, sizeof(buf), 0)) >= 0) {
		uint32_t seq;

		if (r < 4) {
			printf("drain: message %u is short\n", n);
			exit(1);
		}
		memcpy(&seq, buf, 4);
		pattern(want, (size_t)r - 4, seq);
		if (seq != n || memcmp(buf + 4, want, (size_t)r - 4)) {
			printf("drain: message %u is wrong (seq %u)\n", n, seq);
			exit(1);
		}
		n++;
	}
	printf("drain: %u messages end %s\n", n, strerror((int)-r));
	ism_ivchan_close(ch);
}

static void do_expect_proto(uint32_t port)
{
	uint8_t buf[65536];
	struct ism_ivchan *ch;
	uint32_t n = 0;
	ssize_t r;
	int e;

	if ((e = ism_ivchan_accept(dom, port, &copts, &ch)) < 0)
		die("accept", e);
	while ((r = ism_ivchan_recv(ch, buf, sizeof(buf), 0)) >= 0)
		n++;
	printf("proto: %u messages end %s\n", n, strerror((int)-r));
	ism_ivchan_close(ch);
}

int main(int argc, char **argv)
{
	struct ism_conn_opts co = { .size = sizeof(co), .name = "t-vmhost" };
	struct ism_conn *c;
	struct ism_ivshmem *m;
	int e, i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4) {
		fprintf(stderr, "usage: t-vmhost SOCKET DOMAIN COMMAND...\n");
		return 2;
	}
	if ((e = ism_conn_open(argv[1], &co, &c)) < 0)
		die("connect to ismd", e);
	if ((e = ism_ivshmem_join(c, argv[2], &m)) < 0)
		die("join", e);
	if ((e = ism_ivshmem_ivdom(m, &dom)) < 0)
		die("channels", e);
	printf("joined %s as %u\n", argv[2], ism_ivshmem_id(m));
	for (i = 3; i < argc;) {
		const char *cmd = argv[i];
		int n = 0;

		while (i + 1 + n < argc && strcmp(argv[i + 1 + n], "--"))
			n++;
		char **a = argv + i + 1;

		if (!strcmp(cmd, "echo") && (n == 1 || n == 2)) {
			uint32_t k = n == 2 ? num(a[1]) : 1;

			while (k--)
				do_echo(num(a[0]));
		} else if (!strcmp(cmd, "send") && (n == 4 || n == 5)) {
			do_send(num(a[0]), num(a[1]), num(a[2]), num(a[3]),
				n == 5 ? num(a[4]) : 0);
		} else if (!strcmp(cmd, "drain") && n == 1) {
			do_drain(num(a[0]));
		} else if (!strcmp(cmd, "expect-proto") && n == 1) {
			do_expect_proto(num(a[0]));
		} else {
			fprintf(stderr, "t-vmhost: bad command %s\n", cmd);
			return 2;
		}
		i += 1 + n + 1; /* the command, its arguments, "--" */
	}
	printf("t-vmhost: done\n");
	ism_ivdom_close(dom);
	ism_ivshmem_leave(m);
	ism_conn_close(c);
	return 0;
}
