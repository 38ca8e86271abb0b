/* SPDX-License-Identifier: MIT */
/*
 * ism-chan-echo: an echo over an ism channel between two processes.
 *
 * The parent sends messages of varying sizes whose bytes are a function of
 * their sequence number; the child echoes each one back; the parent checks
 * every byte and prints the round-trip time.  The two sides meet over a
 * socket pair, which carries what the setup needs:
 *
 *   over ismd (default)  each side creates its half with ism_chan_create()
 *                        and sends the other its token (16 bytes);
 *   --local              no ismd: each side sends the other the two fds
 *                        from ism_chan_local_export() (SCM_RIGHTS).
 *
 * Usage: ism-chan-echo [--local] [--socket PATH] [--count N] [--max-size N]
 *                      [--spin-us N]
 * Exit status: 0 if every echo came back intact, 1 otherwise.
 *
 * Only the public API is used: this is a template for applications.
 */
#include <ism.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 4096

struct cfg {
	const char *socket;
	int local;
	unsigned long count;
	size_t max_size;
	uint32_t spin_us;
};

/* The echo side, while the sending side runs: die() reaps it first. */
static pid_t echo_pid = -1;
static int echo_sock = -1;

__attribute__((noreturn)) static void die(const char *what, int err)
{
	fprintf(stderr, "ism-chan-echo: %s: %s\n", what, strerror(err));
	if (echo_pid > 0) {
		/* Our end closed, it stops at its next exchange or receive;
		 * exiting first would leave it writing after we are gone. */
		close(echo_sock);
		kill(echo_pid, SIGTERM);
		waitpid(echo_pid, NULL, 0);
	}
	exit(1);
}

/* ---- the setup exchange over a socket pair ---- */

static int send_blob(int sock, const void *p, size_t n, const int *fds,
		     int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(&u.h), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EIO;
}

/* Exactly @n bytes and exactly @nfds fds, or -EPROTO (fds closed). */
static int recv_blob(int sock, void *p, size_t n, int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = p, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	int got = 0, tmp[4];

	if (r < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (got < 4)
				tmp[got++] = fd;
			else
				close(fd);
		}
	}
	if ((size_t)r != n || got != nfds ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < got; i++)
			close(tmp[i]);
		return -EPROTO;
	}
	if (got)
		memcpy(fds, tmp, (size_t)got * sizeof(int));
	return 0;
}

/*
 * Both sides: make our half, trade setup data over @sock, connect.  The
 * sending side (@first) goes first; the echo side waits for its half
 * before starting, so that when the sender fails (no ismd, say) the echo
 * side only sees the socket close and leaves quietly: one error, once.
 */
static struct ism_chan *setup(const struct cfg *cfg, int sock, int first,
			      struct ism_conn **conn)
{
	struct ism_chan_opts o = { .size = sizeof(o), .spin_us = cfg->spin_us };
	struct ism_chan *ch;
	int r;

	*conn = NULL;
	if (cfg->local) {
		int mine[2], theirs[2] = { -1, -1 };
		char tag = 'L';

		if (!first && recv_blob(sock, &tag, 1, theirs, 2) < 0)
			_exit(1); /* the sending side failed and said why */
		if ((r = ism_chan_local_create(&o, &ch)) < 0)
			die("ism_chan_local_create", -r);
		if ((r = ism_chan_local_export(ch, mine)) < 0)
			die("ism_chan_local_export", -r);
		r = send_blob(sock, &tag, 1, mine, 2);
		close(mine[0]); /* sent: the other side has its copies */
		close(mine[1]);
		if (r < 0 ||
		    (first && (r = recv_blob(sock, &tag, 1, theirs, 2)) < 0))
			die("fd exchange", -r);
		if ((r = ism_chan_local_connect(ch, theirs[0], theirs[1])) < 0)
			die("ism_chan_local_connect", -r);
	} else {
		struct ism_token mine, theirs;

		if (!first &&
		    recv_blob(sock, &theirs, sizeof(theirs), NULL, 0) < 0)
			_exit(1); /* the sending side failed and said why */
		if ((r = ism_conn_open(cfg->socket, NULL, conn)) < 0)
			die("cannot reach ismd (is it running? --socket, "
			    "or --local to go without)",
			    -r);
		if ((r = ism_chan_create(*conn, &o, &ch)) < 0)
			die("ism_chan_create", -r);
		ism_chan_token(ch, &mine);
		if ((r = send_blob(sock, &mine, sizeof(mine), NULL, 0)) < 0 ||
		    (first && (r = recv_blob(sock, &theirs, sizeof(theirs),
					     NULL, 0)) < 0))
			die("token exchange", -r);
		if ((r = ism_chan_connect(ch, &theirs)) < 0)
			die("ism_chan_connect", -r);
	}
	return ch;
}

/* ---- the two roles ---- */

static int echo_side(const struct cfg *cfg, int sock)
{
	struct ism_conn *conn;
	struct ism_chan *ch = setup(cfg, sock, 0, &conn);
	static uint8_t buf[MAX_MSG];
	ssize_t n;

	/* Echo until the other side closes (-ESHUTDOWN) or dies (-EPIPE). */
	while ((n = ism_chan_recv(ch, buf, sizeof(buf), 0)) >= 0)
		if (ism_chan_send(ch, buf, (size_t)n, 0) < 0)
			break;
	ism_chan_close(ch);
	ism_conn_close(conn);
	return n == -ESHUTDOWN ? 0 : 1;
}

static size_t fill(uint8_t *b, unsigned long seq, size_t max)
{
	size_t len = 8 + (size_t)((seq * 2654435761u) % (max - 7));

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seq * 131 + i * 7);
	return len;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int send_side(const struct cfg *cfg, int sock)
{
	struct ism_conn *conn;
	struct ism_chan *ch = setup(cfg, sock, 1, &conn);
	static uint8_t out[MAX_MSG], in[MAX_MSG];
	uint64_t *rtt = calloc(cfg->count, sizeof(*rtt)), bytes = 0;
	unsigned long i;
	int bad = 0;

	if (!rtt)
		die("calloc", ENOMEM);
	for (i = 0; i < cfg->count && !bad; i++) {
		size_t len = fill(out, i, cfg->max_size);
		uint64_t t0 = now_ns();
		ssize_t n;
		int r = ism_chan_send(ch, out, len, 0);

		if (r < 0)
			die("ism_chan_send", -r);
		n = ism_chan_recv(ch, in, sizeof(in), 0);
		if (n < 0)
			die("ism_chan_recv", (int)-n);
		rtt[i] = now_ns() - t0;
		bytes += len;
		if ((size_t)n != len || memcmp(in, out, len) != 0) {
			fprintf(stderr,
				"ism-chan-echo: message %lu came back "
				"different\n",
				i);
			bad = 1;
		}
	}
	ism_chan_shutdown(ch); /* the echo side sees -ESHUTDOWN and exits */
	if (!bad) {
		unsigned long p50 = i / 2, p99 = i * 99 / 100;

		qsort(rtt, i, sizeof(*rtt), cmp_u64);
		printf("%lu echoes over %s, %llu bytes each way, all intact\n"
		       "round trip: p50 %.2f us, p99 %.2f us\n",
		       i, cfg->local ? "local memfds" : "ismd",
		       (unsigned long long)bytes, (double)rtt[p50] / 1e3,
		       (double)rtt[p99] / 1e3);
	}
	free(rtt);
	ism_chan_close(ch);
	ism_conn_close(conn);
	return bad;
}

static unsigned long number(const char *opt, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s ? s : "", &end, 10);
	if (!s || errno || *end || v == 0 || v > max) {
		fprintf(stderr,
			"ism-chan-echo: %s wants a number from 1 to "
			"%lu\n",
			opt, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct cfg cfg = { .count = 10000, .max_size = 1024 };
	int sv[2], st, rc;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--local")) {
			cfg.local = 1;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			cfg.socket = argv[++i];
		} else if (!strcmp(argv[i], "--count")) {
			cfg.count =
				number("--count", (++i < argc ? argv[i] : NULL),
				       100000000);
		} else if (!strcmp(argv[i], "--max-size")) {
			cfg.max_size =
				number("--max-size",
				       (++i < argc ? argv[i] : NULL), MAX_MSG);
			if (cfg.max_size < 8)
				cfg.max_size = 8;
		} else if (!strcmp(argv[i], "--spin-us")) {
			cfg.spin_us = (uint32_t)number(
				"--spin-us", (++i < argc ? argv[i] : NULL),
				1000000);
		} else {
			fprintf(stderr,
				"usage: ism-chan-echo [--local] [--socket "
				"PATH] "
				"[--count N] [--max-size N] [--spin-us N]\n");
			return 2;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", errno);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		close(sv[0]);
		_exit(echo_side(&cfg, sv[1]));
	}
	close(sv[1]);
	echo_pid = pid;
	echo_sock = sv[0];
	rc = send_side(&cfg, sv[0]);
	close(sv[0]);
	echo_pid = -1;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ism-chan-echo: the echo side failed\n");
		rc = 1;
	}
	return rc;
}
