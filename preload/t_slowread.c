/* SPDX-License-Identifier: MIT */
/*
 * t_slowread - two plain-sockets peers that trust POLLOUT the way socat
 * does, for test_preload.py to run under ism-run: each waits for
 * readiness (poll, select or epoll), then writes with a blocking call.
 * The client stops reading until it has sent everything, while the
 * server keeps reading and writes more than a ring holds.  On TCP that
 * works: POLLOUT means room for a good write, so the server's writes
 * never block and it keeps reading.  A POLLOUT with a nearly full ring
 * would block the server's write, hence its reading, hence the client's
 * write: both would wait for ever (the hang socat showed under ism-run
 * with its output into a pipe).
 *
 *   t_slowread server MODE BYTES   listen on 127.0.0.1 (a free port,
 *                                  printed on stdout) and serve one
 *                                  connection: send BYTES of one pattern
 *                                  while reading BYTES of another
 *   t_slowread client MODE PORT BYTES
 *                                  send BYTES without reading anything,
 *                                  then read the server's BYTES
 *       MODE: poll | select | epoll (level-triggered)
 *
 * Every byte is checked, and each side reads EOF after the other's
 * BYTES.  Exit: 0 ok, 1 a wrong byte, a short stream or a failed call
 * (one line on stderr).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

/* What socat writes at a time. */
#define CHUNK 8192

enum mode { M_POLL, M_SELECT, M_EPOLL };

static void die(const char *what)
{
	fprintf(stderr, "t_slowread[%d]: %s: %s\n", (int)getpid(), what,
		errno ? strerror(errno) : "failed");
	exit(1);
}

/* Byte @i of the stream a side sends (@seed tells the two apart); a
 * byte lost, repeated or moved shows. */
static unsigned char pat(uint64_t i, unsigned seed)
{
	uint32_t x = (uint32_t)(i * 2654435761u) ^ (uint32_t)(i >> 32);

	return (unsigned char)((x >> 24) ^ (x >> 11) ^ seed);
}

struct peer {
	enum mode mode;
	int fd, ep;
	size_t n;	    /* bytes each way */
	size_t sent, got;   /* so far */
	unsigned tx, rx;    /* pattern seeds */
	bool wr_done, eof;  /* SHUT_WR sent; EOF read */
	uint32_t ep_events; /* what the epoll set watches */
};

/* Wait until the socket is readable (@rd) or writable (@wr), as the
 * program's own loop would. */
static void wait_ready(struct peer *p, bool rd, bool wr, bool *can_rd,
		       bool *can_wr)
{
	*can_rd = *can_wr = false;
	if (p->mode == M_POLL) {
		struct pollfd pf = { .fd = p->fd,
				     .events = (short)((rd ? POLLIN : 0) |
						       (wr ? POLLOUT : 0)) };

		if (poll(&pf, 1, -1) < 0) {
			if (errno == EINTR)
				return;
			die("poll");
		}
		if (pf.revents & (POLLERR | POLLNVAL))
			die("poll: POLLERR");
		*can_rd = rd && (pf.revents & (POLLIN | POLLHUP));
		*can_wr = wr && (pf.revents & (POLLOUT | POLLHUP));
	} else if (p->mode == M_SELECT) {
		fd_set r, w;

		FD_ZERO(&r);
		FD_ZERO(&w);
		if (rd)
			FD_SET(p->fd, &r);
		if (wr)
			FD_SET(p->fd, &w);
		if (select(p->fd + 1, &r, &w, NULL, NULL) < 0) {
			if (errno == EINTR)
				return;
			die("select");
		}
		*can_rd = FD_ISSET(p->fd, &r);
		*can_wr = FD_ISSET(p->fd, &w);
	} else {
		uint32_t want = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0);
		struct epoll_event ev = { .events = want, .data.fd = p->fd };
		int n;

		if (want != p->ep_events) {
			if (epoll_ctl(p->ep, EPOLL_CTL_MOD, p->fd, &ev) < 0)
				die("epoll_ctl");
			p->ep_events = want;
		}
		n = epoll_wait(p->ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR)
			return;
		if (n != 1 || ev.data.fd != p->fd)
			die("epoll_wait");
		if (ev.events & EPOLLERR)
			die("epoll_wait: EPOLLERR");
		*can_rd = rd && (ev.events & (EPOLLIN | EPOLLHUP));
		*can_wr = wr && (ev.events & (EPOLLOUT | EPOLLHUP));
	}
}

/* One blocking write of up to CHUNK bytes (readiness said there is
 * room); SHUT_WR after the last. */
static void put(struct peer *p)
{
	unsigned char b[CHUNK];
	size_t k = p->n - p->sent < CHUNK ? p->n - p->sent : CHUNK;
	ssize_t w;

	for (size_t i = 0; i < k; i++)
		b[i] = pat(p->sent + i, p->tx);
	w = write(p->fd, b, k);
	if (w < 0 && errno == EINTR)
		return;
	if (w <= 0)
		die("write");
	p->sent += (size_t)w;
	if (p->sent == p->n) {
		if (shutdown(p->fd, SHUT_WR) < 0)
			die("shutdown");
		p->wr_done = true;
	}
}

/* One read (readiness said there is something): every byte checked,
 * EOF only after all of them. */
static void get(struct peer *p)
{
	unsigned char b[CHUNK];
	ssize_t r = read(p->fd, b, sizeof(b));

	if (r < 0 && errno == EINTR)
		return;
	if (r < 0)
		die("read");
	if (r == 0) {
		if (p->got != p->n) {
			fprintf(stderr,
				"t_slowread[%d]: EOF after %zu of %zu bytes\n",
				(int)getpid(), p->got, p->n);
			exit(1);
		}
		p->eof = true;
		return;
	}
	for (ssize_t i = 0; i < r; i++)
		if (p->got + (size_t)i >= p->n ||
		    b[i] != pat(p->got + (size_t)i, p->rx)) {
			fprintf(stderr,
				"t_slowread[%d]: wrong byte at offset %zu\n",
				(int)getpid(), p->got + (size_t)i);
			exit(1);
		}
	p->got += (size_t)r;
}

static void loop(struct peer *p, bool read_while_sending)
{
	while (!p->wr_done || !p->eof) {
		bool rd = !p->eof && (read_while_sending || p->wr_done);
		bool can_rd, can_wr;

		wait_ready(p, rd, !p->wr_done, &can_rd, &can_wr);
		if (can_wr)
			put(p);
		if (can_rd)
			get(p);
	}
}

static void setup(struct peer *p, const char *mode, const char *bytes,
		  unsigned tx)
{
	char *end;
	unsigned long long n = strtoull(bytes, &end, 10);

	if (*end || !n || n > (1ull << 40)) {
		errno = EINVAL;
		die("bytes");
	}
	p->n = (size_t)n;
	p->tx = tx;
	p->rx = !tx;
	if (!strcmp(mode, "poll")) {
		p->mode = M_POLL;
	} else if (!strcmp(mode, "select")) {
		p->mode = M_SELECT;
	} else if (!strcmp(mode, "epoll")) {
		struct epoll_event ev = { .events = 0, .data.fd = p->fd };

		p->mode = M_EPOLL;
		p->ep = epoll_create1(EPOLL_CLOEXEC);
		if (p->ep < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->fd, &ev) < 0)
			die("epoll");
	} else {
		errno = EINVAL;
		die("mode");
	}
	if (p->mode == M_SELECT && p->fd >= FD_SETSIZE) {
		errno = EMFILE;
		die("select");
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct peer p = { .ep = -1 };
	int l;

	if (argc == 4 && !strcmp(argv[1], "server")) {
		l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(l, 1) < 0 ||
		    getsockname(l, (struct sockaddr *)&a, &al) < 0)
			die("listen");
		printf("%u\n", ntohs(a.sin_port));
		fflush(stdout);
		p.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (p.fd < 0)
			die("accept");
		close(l);
		setup(&p, argv[2], argv[3], 0);
		loop(&p, true); /* reads all the time */
	} else if (argc == 5 && !strcmp(argv[1], "client")) {
		a.sin_port = htons((uint16_t)atoi(argv[3]));
		p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (p.fd < 0 || connect(p.fd, (struct sockaddr *)&a, al) < 0)
			die("connect");
		setup(&p, argv[2], argv[4], 1);
		loop(&p, false); /* reads nothing until all is sent */
	} else {
		fprintf(stderr, "usage: t_slowread server MODE BYTES | "
				"client MODE PORT BYTES\n");
		return 2;
	}
	close(p.fd);
	if (p.ep >= 0)
		close(p.ep);
	return 0;
}
