/* SPDX-License-Identifier: MIT */
/*
 * t_liar - an ism stream peer (libism, not under ism-run) that lies in
 * the in-band handshake (docs/protocol.md 5.15), for test_preload.py: a
 * program under ism-run on the other end must get every byte or a clean
 * error, and never crash or hang.
 *
 *   t_liar client PORT LIE     connect with libism; the answer lies; then
 *                              echo 100000 bytes through whatever path it
 *                              got and compare
 *   t_liar server LIE          listen on 127.0.0.1 (port on stdout), and
 *                              until killed accept and echo each connection
 *                              in turn; the offer (LIE offer-*) or the
 *                              confirm (confirm-*) lies
 *
 * LIE names the field: magic, version, kind, reserved, host, peer, token,
 * status (a reason no ism knows), short (32 of the 64 bytes, then
 * nothing), or none.  libism sends each handshake message with one send()
 * of 64 bytes starting "ISMSTRM1": this program's send() (which libism's
 * calls bind to) changes the first such message of the kind the lie is
 * for.  The server prints one line per connection: "conn PATH REASON|ERR".
 *
 * Exit (client): 0 if the connect failed cleanly or the echo was exact;
 * 1 otherwise.
 */
#include <ism.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HS_SIZE 64

static const char *lie = "none";
static int lie_kind; /* 1 offer, 2 answer, 3 confirm */

static void corrupt(uint8_t *b, size_t *len)
{
	const char *f = strchr(lie, '-') ? strchr(lie, '-') + 1 : lie;
	uint32_t v;

	if (!strcmp(f, "magic"))
		b[0] ^= 0xff;
	else if (!strcmp(f, "version"))
		b[8] = 9;
	else if (!strcmp(f, "kind"))
		b[10] = 7;
	else if (!strcmp(f, "reserved"))
		b[60] = 1;
	else if (!strcmp(f, "host"))
		b[16] ^= 1;
	else if (!strcmp(f, "token"))
		for (int i = 32; i < 48; i++)
			b[i] ^= 0x5a;
	else if (!strcmp(f, "peer"))
		b[48] ^= 1;
	else if (!strcmp(f, "status")) {
		v = 0xdeadbeefu;
		memcpy(b + 12, &v, 4);
	} else if (!strcmp(f, "short"))
		*len = 32;
}

/* libism's sends come here (the executable's definition comes first). */
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static int done;
	uint8_t b[HS_SIZE];
	size_t n = len;

	if (len == HS_SIZE && !done && !memcmp(buf, "ISMSTRM1", 8) &&
	    ((const uint8_t *)buf)[10] == lie_kind) {
		done = 1;
		memcpy(b, buf, HS_SIZE);
		corrupt(b, &n);
		if (syscall(SYS_sendto, fd, b, n, flags, NULL, 0) < 0)
			return -1;
		return (ssize_t)len; /* (short: the rest never comes) */
	}
	return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

static struct ism_stream_opts opts(void)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .handshake_ms = 1000,
				     .name = "t_liar" };

	return o;
}

static int echo_check(struct ism_stream *s)
{
	static uint8_t out[100000], in[100000];
	size_t got = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13 + 5);
	if (ism_stream_send(s, out, sizeof(out), 0) != (ssize_t)sizeof(out) ||
	    ism_stream_shutdown(s, SHUT_WR) < 0)
		return -1;
	while (got < sizeof(in)) {
		ssize_t n = ism_stream_recv(s, in + got, sizeof(in) - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof(in) && !memcmp(in, out, sizeof(in)) ? 0 : -1;
}

static int client(const char *port)
{
	struct ism_stream_opts o = opts();
	struct ism_conn *c;
	struct ism_stream *s;
	int r, reason = 0, path;

	lie_kind = 2;
	if ((r = ism_conn_open(NULL, NULL, &c)) < 0) {
		fprintf(stderr, "t_liar: ismd: %s\n", strerror(-r));
		return 1;
	}
	r = ism_stream_connect(c, "127.0.0.1", port, &o, &s);
	if (r < 0) {
		printf("connect: %s\n", strerror(-r));
		ism_conn_close(c);
		return 0;
	}
	path = ism_stream_path(s, &reason);
	printf("connect: %s %s\n", ism_stream_path_name(path),
	       ism_stream_reason_name(reason));
	r = echo_check(s);
	if (r < 0)
		fprintf(stderr, "t_liar: the echo differs on %s\n",
			ism_stream_path_name(path));
	ism_stream_close(s);
	ism_conn_close(c);
	return r < 0 ? 1 : 0;
}

static int server(void)
{
	struct ism_stream_opts o = opts();
	struct ism_stream_listener *l;
	struct ism_conn *c;
	int r;

	lie_kind = !strncmp(lie, "confirm-", 8) ? 3 : 1;
	if ((r = ism_conn_open(NULL, NULL, &c)) < 0 ||
	    (r = ism_stream_listen(c, "127.0.0.1", "0", &o, &l)) < 0) {
		fprintf(stderr, "t_liar: %s\n", strerror(-r));
		return 1;
	}
	printf("%d\n", ism_stream_listener_port(l));
	fflush(stdout);
	for (;;) {
		struct ism_stream *s;
		uint8_t b[16384];
		int reason = 0, path;
		ssize_t n;

		r = ism_stream_accept(l, &s, 0);
		if (r < 0) {
			printf("conn - %s\n", strerror(-r));
			fflush(stdout);
			continue;
		}
		path = ism_stream_path(s, &reason);
		while ((n = ism_stream_recv(s, b, sizeof(b), 0)) > 0)
			if (ism_stream_send(s, b, (size_t)n, 0) != n)
				break;
		printf("conn %s %s\n", ism_stream_path_name(path),
		       n < 0 ? strerror((int)-n)
			     : ism_stream_reason_name(reason));
		fflush(stdout);
		ism_stream_close(s);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "client")) {
		lie = argv[3];
		return client(argv[2]);
	}
	if (argc == 3 && !strcmp(argv[1], "server")) {
		lie = argv[2];
		return server();
	}
	fprintf(stderr, "usage: t_liar client PORT LIE | server LIE\n");
	return 2;
}
