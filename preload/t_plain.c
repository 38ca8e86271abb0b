/* SPDX-License-Identifier: MIT */
/*
 * t_plain - a plain-sockets echo server and client that know nothing of
 * ism, for test_preload.py to run under ism-run: the shim must keep every
 * byte and every readiness report of the calls real programs make.
 *
 *   t_plain server MODE N      listen on 127.0.0.1 (free port, printed on
 *                              stdout), echo N connections, exit 0
 *       MODE: poll | epoll | epollet | select | fork (a child per
 *       connection, blocking reads; the parent closes its copy, and
 *       says on stderr how many fds and mappings it holds beyond what
 *       it held after the first: "t_plain: kept F fds M maps") |
 *       epollre (level-triggered, and after each turn a connection is
 *       deleted from the set, must not be reported by a zero-timeout
 *       wait, and is added again, as redis's event loop does) |
 *       epollbusy, pollbusy (level-triggered epoll, poll; the first
 *       connection is waited on only for POLLOUT, always there, until
 *       the others are served: the loop never sleeps meanwhile, and
 *       must still hear of their bytes)
 *   t_plain writer PORT BYTES   connect, write BYTES of the pattern
 *                              non-blocking, and after every short write
 *                              or EAGAIN wait 200 ms (the reader empties
 *                              everything), then for EPOLLOUT
 *                              (edge-triggered): the edge must come
 *                              within 10 s, as over TCP
 *   t_plain client MODE PORT BYTES
 *                              send BYTES of a pattern, SHUT_WR, read the
 *                              echo to EOF and compare; exit 0 if equal
 *       MODE: block | nb (non-blocking connect, EINPROGRESS, SO_ERROR,
 *       then a poll loop) | dup (dup2 onto another fd number, close the
 *       first) | peek (MSG_PEEK and FIONREAD before each read) | idle
 *       (blocking; the first 100 bytes echoed, then "idle" on stdout and
 *       3 s with the connection open and quiet, then the rest)
 *
 * Exit: 0 ok, 1 a wrong byte or a failed call (one line on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXC  64
#define BUFSZ 65536

static void die(const char *what)
{
	fprintf(stderr, "t_plain[%d]: %s: %s\n", (int)getpid(), what,
		strerror(errno));
	exit(1);
}

static unsigned char pat(size_t i)
{
	return (unsigned char)((i * 7u + (i >> 9)) & 0xff);
}

static void set_nb(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl");
}

/* ---- server ---- */

struct conn {
	int fd;
	unsigned char buf[BUFSZ];
	size_t len, off; /* bytes read, not yet echoed */
	int eof;
};

/* Read what is there and echo it (non-blocking).  1: finished. */
static int pump(struct conn *c)
{
	for (;;) {
		while (c->off < c->len) {
			ssize_t n = send(c->fd, c->buf + c->off,
					 c->len - c->off, MSG_NOSIGNAL);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			if (n <= 0)
				die("send");
			c->off += (size_t)n;
		}
		c->len = c->off = 0;
		if (c->eof)
			return 1;
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			die("recv");
		if (n == 0)
			c->eof = 1;
		c->len = (size_t)n;
	}
}

static struct conn *conns[MAXC];

static struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		die("calloc");
	c->fd = fd;
	set_nb(fd);
	return c;
}

/* Entries of /proc/self/fd (one of them the listing's own), or lines of
 * /proc/self/maps. */
static int count_of(const char *what)
{
	char line[512];
	int n = 0;

	if (!strcmp(what, "fd")) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;

		if (!d)
			return -1;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		return n;
	}
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static void serve_fork_child(int fd)
{
	unsigned char b[BUFSZ];
	ssize_t n;

	while ((n = read(fd, b, sizeof(b))) > 0)
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(fd, b + o, (size_t)(n - o));

			if (w <= 0)
				die("write");
			o += w;
		}
	if (n < 0)
		die("read");
	if (close(fd) < 0)
		die("close");
	_exit(0);
}

/* Delete @fd from @ep: no report of it may follow, however ready it is
 * (the other events of the look are left for the next, level-triggered
 * wait); then add it back with @ev, which must report it as the kernel
 * would. */
static void readd(int ep, int fd, struct epoll_event *ev)
{
	struct epoll_event evs[16],
		all = { .events = EPOLLIN | EPOLLOUT, .data = ev->data };
	char b;
	int n;

	/* Asking for EPOLLOUT too, which is nearly always there, before
	 * the delete makes a report after it all but certain if the
	 * deleted registration were still looked at. */
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &all) < 0)
		die("epoll_ctl mod");
	if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0)
		die("epoll_ctl del");
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, ev) == 0 || errno != ENOENT)
		die("epoll_ctl mod after del");
	/* A look at it (which makes the shim look at its registrations). */
	(void)!recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	n = epoll_wait(ep, evs, 16, 0);
	for (int i = 0; i < n; i++)
		if (evs[i].data.fd == ev->data.fd) {
			errno = EPROTO;
			die("reported after EPOLL_CTL_DEL");
		}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, ev) < 0)
		die("epoll_ctl add again");
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, ev) == 0 || errno != EEXIST)
		die("epoll_ctl add twice");
}

static int server(const char *mode, int total)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd, one = 1, done = 0, accepted = 0, ep = -1;
	int busy = strstr(mode, "busy") != NULL, held = -1;
	int et = !strcmp(mode, "epollet"), re = !strcmp(mode, "epollre");
	int pollm = !strcmp(mode, "poll") || !strcmp(mode, "pollbusy");

	if (total < 1 || total > MAXC)
		return 2;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
		die("listen");
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);

	if (!strcmp(mode, "fork")) {
		int fds0 = 0, maps0 = 0, fds = 0, maps = 0;

		while (accepted < total) {
			int fd = accept(lfd, NULL, NULL);
			pid_t pid;

			if (fd < 0)
				die("accept");
			accepted++;
			if ((pid = fork()) < 0)
				die("fork");
			if (pid == 0) {
				close(lfd);
				serve_fork_child(fd);
			}
			close(fd);
			if (accepted == 1) {
				fds0 = count_of("fd");
				maps0 = count_of("maps");
			}
		}
		for (int st; done < total; done++) {
			if (wait(&st) < 0)
				die("wait");
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "t_plain: a child failed\n");
				return 1;
			}
		}
		/* (Some closes happen on short-lived threads: settle.) */
		for (int ms = 0; ms < 3000; ms += 10) {
			fds = count_of("fd") - fds0;
			maps = count_of("maps") - maps0;
			if (fds <= 0 && maps <= 0)
				break;
			usleep(10000);
		}
		fprintf(stderr, "t_plain: kept %d fds %d maps\n", fds, maps);
		return 0;
	}

	set_nb(lfd);
	if (!strncmp(mode, "epoll", 5)) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };

		if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
			die("epoll");
	} else if (!pollm && strcmp(mode, "select")) {
		return 2;
	}
	while (done < total) {
		int ready[MAXC + 1], nr = 0, lready = 0;

		if (ep >= 0) {
			struct epoll_event evs[16];
			int n = epoll_wait(ep, evs, 16, -1);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("epoll_wait");
			for (int i = 0; i < n; i++) {
				if (evs[i].data.fd == -1)
					lready = 1;
				else if (evs[i].data.fd >= 0)
					ready[nr++] = evs[i].data.fd;
			}
		} else if (pollm) {
			struct pollfd p[MAXC + 2];
			int idx[MAXC + 2], np = 0;

			p[np].fd = lfd;
			p[np].events = POLLIN;
			idx[np++] = -1;
			for (int i = 0; i < MAXC; i++)
				if (conns[i]) {
					p[np].fd = conns[i]->fd;
					p[np].events =
						i == held ? POLLOUT
						: conns[i]->off < conns[i]->len
							? POLLOUT
							: POLLIN;
					idx[np++] = i;
				}
			if (poll(p, (nfds_t)np, -1) < 0) {
				if (errno == EINTR)
					continue;
				die("poll");
			}
			for (int i = 0; i < np; i++) {
				if (!p[i].revents)
					continue;
				if (p[i].revents & POLLNVAL) {
					errno = EBADF;
					die("POLLNVAL");
				}
				if (idx[i] == -1)
					lready = 1;
				else if (idx[i] >= 0)
					ready[nr++] = idx[i];
			}
		} else {
			fd_set r, w;
			int mx = lfd;

			FD_ZERO(&r);
			FD_ZERO(&w);
			FD_SET(lfd, &r);
			for (int i = 0; i < MAXC; i++)
				if (conns[i]) {
					if (conns[i]->fd >= FD_SETSIZE) {
						errno = EMFILE;
						die("select");
					}
					if (conns[i]->off < conns[i]->len)
						FD_SET(conns[i]->fd, &w);
					else
						FD_SET(conns[i]->fd, &r);
					if (conns[i]->fd > mx)
						mx = conns[i]->fd;
				}
			if (select(mx + 1, &r, &w, NULL, NULL) < 0) {
				if (errno == EINTR)
					continue;
				die("select");
			}
			lready = FD_ISSET(lfd, &r);
			for (int i = 0; i < MAXC; i++)
				if (conns[i] && (FD_ISSET(conns[i]->fd, &r) ||
						 FD_ISSET(conns[i]->fd, &w)))
					ready[nr++] = i;
		}
		while (lready && accepted < total) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int slot;

			if (fd < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (fd < 0)
				die("accept4");
			accepted++;
			for (slot = 0; slot < MAXC && conns[slot]; slot++)
				;
			conns[slot] = conn_new(fd);
			if (ep >= 0) {
				struct epoll_event ev = {
					.events = EPOLLIN | EPOLLOUT |
						  (et ? EPOLLET : 0),
					.data.fd = slot,
				};

				/* Level-triggered: EPOLLOUT only while
				 * something waits to go out (below). */
				if (!et)
					ev.events = EPOLLIN;
				if (busy && held < 0)
					ev.events = EPOLLOUT;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
					die("epoll_ctl");
			}
			if (busy && held < 0) {
				held = slot; /* left alone (see atop) */
				continue;
			}
			/* Whatever arrived with the connection is read
			 * below, as if it had been reported. */
			ready[nr++] = slot;
			if (!et)
				break;
		}
		for (int i = 0; i < nr; i++) {
			struct conn *c = conns[ready[i]];

			if (!c || ready[i] == held)
				continue;
			if (pump(c)) {
				if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_DEL,
							 c->fd, NULL) < 0)
					die("epoll_ctl del");
				if (close(c->fd) < 0)
					die("close");
				free(c);
				conns[ready[i]] = NULL;
				done++;
			} else if (ep >= 0 && !et) {
				struct epoll_event ev = {
					.events = c->off < c->len ? EPOLLOUT
								  : EPOLLIN,
					.data.fd = ready[i],
				};

				if (re)
					readd(ep, c->fd, &ev);
				else if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd,
						   &ev) < 0)
					die("epoll_ctl mod");
			}
		}
		if (held >= 0 && done == total - 1) {
			/* The others are served: this one's turn. */
			struct epoll_event ev = { .events = EPOLLIN,
						  .data.fd = held };

			if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_MOD,
						 conns[held]->fd, &ev) < 0)
				die("epoll_ctl mod");
			held = -1;
		}
	}
	return 0;
}

/* ---- client ---- */

/* stdio on the socket, as older C programs do: fdopen() both ways,
 * fwrite + fflush (or dprintf, a byte at a time) out, fread back; then
 * the end.  (glibc's FILE reaches the kernel past any preload.) */
static int stdio_client(int fd, size_t total, int use_dprintf)
{
	int rfd = dup(fd);
	FILE *w = use_dprintf ? NULL : fdopen(fd, "w");
	FILE *r = rfd >= 0 ? fdopen(rfd, "r") : NULL;
	unsigned char *b = malloc(BUFSZ);
	size_t sent = 0;

	if (!b || !r || (!use_dprintf && !w))
		die("fdopen");
	if (fileno(r) != rfd || (w && fileno(w) != fd)) {
		fprintf(stderr, "t_plain: fileno says another fd\n");
		return 1;
	}
	while (sent < total) {
		size_t k = total - sent < BUFSZ ? total - sent : BUFSZ;

		for (size_t i = 0; i < k; i++)
			b[i] = pat(sent + i);
		if (use_dprintf) {
			for (size_t i = 0; i < k; i++)
				if (dprintf(fd, "%c", b[i]) != 1)
					die("dprintf");
		} else if (fwrite(b, 1, k, w) != k || fflush(w)) {
			die("fwrite");
		}
		if (fread(b, 1, k, r) != k) {
			fprintf(stderr, "t_plain: short fread after %zu\n",
				sent);
			return 1;
		}
		for (size_t i = 0; i < k; i++)
			if (b[i] != pat(sent + i)) {
				fprintf(stderr, "t_plain: byte %zu wrong\n",
					sent + i);
				return 1;
			}
		sent += k;
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown");
	if (fread(b, 1, 1, r) != 0 || !feof(r)) {
		fprintf(stderr, "t_plain: no end of stream\n");
		return 1;
	}
	fclose(r);
	if (w)
		fclose(w);
	else
		close(fd);
	free(b);
	return 0;
}

static int client(const char *mode, int port, size_t total)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char *b = malloc(BUFSZ);
	size_t sent = 0, got = 0;
	int fd, nb = !strcmp(mode, "nb"), peek = !strcmp(mode, "peek");
	int wr_done = 0;

	if (!b)
		die("malloc");
	fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t el = sizeof(err);

		if (!nb || errno != EINPROGRESS)
			die("connect");
		while (poll(&p, 1, -1) < 0)
			if (errno != EINTR)
				die("poll connect");
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			die("SO_ERROR");
		if (err) {
			errno = err;
			die("connect (SO_ERROR)");
		}
	}
	if (!strcmp(mode, "idle")) {
		size_t k = total < 100 ? total : 100;
		ssize_t n;

		for (size_t i = 0; i < k; i++)
			b[i] = pat(i);
		if (send(fd, b, k, MSG_NOSIGNAL) != (ssize_t)k)
			die("send");
		for (got = 0; got < k; got += (size_t)n)
			if ((n = recv(fd, b + got, k - got, 0)) <= 0)
				die("recv");
		for (size_t i = 0; i < k; i++)
			if (b[i] != pat(i)) {
				fprintf(stderr, "t_plain: byte %zu wrong\n", i);
				return 1;
			}
		sent = k;
		printf("idle\n");
		fflush(stdout);
		sleep(3);
	}
	if (!strcmp(mode, "stdio") || !strcmp(mode, "dprintf")) {
		free(b);
		return stdio_client(fd, total, mode[0] == 'd');
	}
	if (!strcmp(mode, "dup")) {
		int nfd = dup2(fd, fd + 10);

		if (nfd != fd + 10 || close(fd) < 0)
			die("dup2");
		fd = nfd;
	}
	while (!wr_done || got < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (!wr_done)
			p.events |= POLLOUT;
		if (!nb && !wr_done) {
			/* Blocking: write a chunk, then read what came. */
			size_t k = total - sent < BUFSZ ? total - sent : BUFSZ;

			for (size_t i = 0; i < k; i++)
				b[i] = pat(sent + i);
			if (k && (n = send(fd, b, k, MSG_NOSIGNAL)) <= 0)
				die("send");
			sent += k ? (size_t)n : 0;
			if (sent == total) {
				if (shutdown(fd, SHUT_WR) < 0)
					die("shutdown");
				wr_done = 1;
			}
			/* and read the whole echo back (below) */
		} else if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (nb && (p.revents & POLLOUT) && !wr_done) {
			size_t k = total - sent < BUFSZ ? total - sent : BUFSZ;

			for (size_t i = 0; i < k; i++)
				b[i] = pat(sent + i);
			n = k ? send(fd, b, k, MSG_NOSIGNAL) : 0;
			if (n < 0 && errno != EAGAIN)
				die("send");
			if (n > 0)
				sent += (size_t)n;
			if (sent == total) {
				if (shutdown(fd, SHUT_WR) < 0)
					die("shutdown");
				wr_done = 1;
			}
		}
		if (nb && !(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (peek) {
			int q = -1;
			unsigned char c;

			n = recv(fd, &c, 1, MSG_PEEK);
			if (n < 0)
				die("recv MSG_PEEK");
			if (n == 1 && c != pat(got)) {
				fprintf(stderr,
					"t_plain: peeked byte %zu "
					"wrong\n",
					got);
				return 1;
			}
			if (ioctl(fd, FIONREAD, &q) < 0 || q < (int)n) {
				fprintf(stderr,
					"t_plain: FIONREAD %d after "
					"a peek of %zd\n",
					q, n);
				return 1;
			}
		}
		n = recv(fd, b, BUFSZ, nb ? MSG_DONTWAIT : 0);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			die("recv");
		if (n == 0) {
			if (got != total) {
				fprintf(stderr,
					"t_plain: EOF after %zu of "
					"%zu bytes\n",
					got, total);
				return 1;
			}
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != pat(got + (size_t)i)) {
				fprintf(stderr, "t_plain: byte %zu wrong\n",
					got + (size_t)i);
				return 1;
			}
		got += (size_t)n;
		if (got > sent) {
			fprintf(stderr, "t_plain: more bytes than sent\n");
			return 1;
		}
		while (!nb && got < sent) {
			n = recv(fd, b, BUFSZ, 0);
			if (n <= 0) {
				fprintf(stderr, "t_plain: echo cut at %zu\n",
					got);
				return 1;
			}
			for (ssize_t i = 0; i < n; i++)
				if (b[i] != pat(got + (size_t)i)) {
					fprintf(stderr,
						"t_plain: byte %zu "
						"wrong\n",
						got + (size_t)i);
					return 1;
				}
			got += (size_t)n;
		}
	}
	/* Then EOF (non-blocking: once poll says so). */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (nb && poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll");
		n = recv(fd, b, 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != 0) {
			fprintf(stderr,
				"t_plain: no EOF after the echo "
				"(%zd)\n",
				n);
			return 1;
		}
		break;
	}
	if (close(fd) < 0)
		die("close");
	free(b);
	return 0;
}

/* ---- a writer that waits for an edge after each short write ---- */

static int writer(int port, size_t total)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET };
	unsigned char *b = malloc(BUFSZ);
	size_t sent = 0;
	int fd, ep;

	if (!b)
		die("malloc");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	set_nb(fd);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll");
	while (sent < total) {
		size_t k = total - sent < BUFSZ ? total - sent : BUFSZ;
		ssize_t n;

		for (size_t i = 0; i < k; i++)
			b[i] = pat(sent + i);
		n = send(fd, b, k, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			die("send");
		if (n > 0)
			sent += (size_t)n;
		if (n < 0 || (size_t)n < k) {
			struct epoll_event got;
			int r;

			usleep(200000);
			do
				r = epoll_wait(ep, &got, 1, 10000);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				die("epoll_wait");
			if (r == 0) {
				fprintf(stderr,
					"t_plain: no EPOLLOUT edge after a "
					"short write, %zu bytes sent\n",
					sent);
				return 1;
			}
		}
	}
	if (close(fd) < 0)
		die("close");
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "writer"))
		return writer(atoi(argv[2]),
			      (size_t)strtoull(argv[3], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]),
			      (size_t)strtoull(argv[4], NULL, 10));
	fprintf(stderr, "usage: t_plain server MODE N | client MODE PORT "
			"BYTES\n");
	return 2;
}
