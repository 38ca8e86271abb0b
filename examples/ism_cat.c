/* SPDX-License-Identifier: MIT */
/*
 * ism-cat: netcat over ism streams.  Connects to HOST PORT (or, with -l,
 * listens on PORT and serves one connection), copies stdin to the stream
 * and the stream to stdout; stdin's EOF half-closes, the stream's EOF
 * ends.  Against an ism peer on this host the bytes move over shared
 * memory, with no copy in ism-cat itself (the zero-copy calls: stdin is
 * read into the ring, stdout written from it); against anything else
 * (plain nc, another host, no ismd) it is plain TCP.  -v says which, and
 * why.
 *
 *   ism-cat -l 5000 > out          # one side
 *   ism-cat -v localhost 5000 < in # the other
 *
 * Usage: ism-cat [-v] [-t] [-s SOCKET] HOST PORT
 *        ism-cat [-v] [-t] [-s SOCKET] -l [HOST] PORT
 *        ism-cat [-s SOCKET] -d DOMAIN MEMBER PORT
 *        ism-cat [-s SOCKET] -d DOMAIN -l PORT
 *   -t  TCP only (never shared memory)   -s  ismd socket (default: discovery)
 *   -d  an ism channel in ismd's ivshmem domain DOMAIN (channels=on) with
 *       member MEMBER (a guest's ism-guest cat, docs/vm.md) on PORT
 */
#include <ism.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "ism-cat: %s: %s\n", what, strerror(-err));
	return 1;
}

/* The most read from stdin at once. */
#define BUF (256u * 1024u)

/* Write all of @buf to fd 1. */
static int out_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(1, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * stdin -> stream, stream -> stdout, until the stream's EOF.  Zero-copy
 * on shared memory: stdin is read straight into the ring (reserve,
 * commit) and stdout written straight out of the other side's ring (peek,
 * release); on TCP the same calls go through the stream's buffers.
 * Nothing blocks: two ism-cats pushing at each other with full rings must
 * not wait on each other, so a write waiting for room waits on the
 * stream's fd, which wakes for room as well as for data.
 */
static int pump(struct ism_stream *s)
{
	bool in_open = true, in_ready = false, net_open = true;
	bool shut_due = false;

	for (;;) {
		struct pollfd p[2];
		const void *q;
		void *w;
		ssize_t n = -EAGAIN, got;

		while (net_open &&
		       (n = ism_stream_peek(s, &q, ISM_F_DONTWAIT)) > 0) {
			int r = out_all(q, (size_t)n);

			if (r < 0)
				return fail("stdout", r);
			ism_stream_release(s, (size_t)n);
		}
		if (n == 0)
			net_open = false; /* the other side is done sending */
		else if (n != -EAGAIN)
			return fail("receive", (int)n);
		if (in_ready) {
			n = ism_stream_reserve(s, &w, BUF, ISM_F_DONTWAIT);
			if (n < 0 && n != -EAGAIN)
				return fail("send", (int)n);
			if (n > 0) {
				/* poll() said stdin has something: no wait. */
				got = read(0, w, (size_t)n);
				ism_stream_commit(s, got > 0 ? (size_t)got : 0,
						  ISM_F_DONTWAIT);
				in_ready = false;
				if (got == 0 || (got < 0 && errno != EINTR)) {
					in_open = false;
					shut_due = true;
				}
			}
		}
		if (shut_due) {
			ism_stream_shutdown(s, SHUT_WR);
			shut_due = false;
		}
		/* Done when both directions are. */
		if (!net_open && !in_open)
			return 0;
		p[0] = (struct pollfd){ .fd = ism_stream_fd(s),
					.events = POLLIN };
		p[1] = (struct pollfd){ .fd = in_open && !in_ready ? 0 : -1,
					.events = POLLIN };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return fail("poll", -errno);
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			in_ready = true;
	}
}

/* A byte pipe over a channel in an ivshmem domain (docs/vm.md). */
static int cat_domain(const char *sock, const char *domain, bool listen_,
		      const char *member, const char *port)
{
	struct ism_ivchan_opts o = { .size = sizeof(o) };
	unsigned long peer = 0, p;
	struct ism_ivshmem *m;
	struct ism_ivchan *ch;
	struct ism_conn *c;
	struct ism_ivdom *d;
	char *end;
	int r;

	p = strtoul(port, &end, 0);
	if (*port == '\0' || *end || p > UINT32_MAX)
		return fprintf(stderr, "ism-cat: bad port '%s'\n", port), 2;
	if (member) {
		peer = strtoul(member, &end, 0);
		if (*member == '\0' || *end || peer > 65535)
			return fprintf(stderr, "ism-cat: bad member '%s'\n",
				       member),
			       2;
	}
	if ((r = ism_conn_open(sock, NULL, &c)) < 0)
		return fail("ismd", r);
	if ((r = ism_ivshmem_join(c, domain, &m)) < 0) {
		ism_conn_close(c);
		return fail("join", r);
	}
	if ((r = ism_ivshmem_ivdom(m, &d)) < 0)
		goto out_leave;
	if (listen_) {
		r = ism_ivchan_accept(d, (uint32_t)p, &o, &ch);
	} else {
		/* A guest still booting has not joined yet: its QEMU's
		 * arrival rings us; give it a minute. */
		for (int i = 0; i < 600; i++) {
			r = ism_ivchan_connect(d, (uint32_t)peer, (uint32_t)p,
					       &o, &ch);
			if (r != -ECONNREFUSED)
				break;
			ism_ivdom_wait(d, 100);
		}
	}
	if (r >= 0) {
		r = ism_ivchan_pump(ch, 0, 1);
		ism_ivchan_close(ch);
	}
	ism_ivdom_close(d);
out_leave:
	ism_ivshmem_leave(m);
	ism_conn_close(c);
	return r < 0 ? fail(domain, r) : 0;
}

int main(int argc, char **argv)
{
	struct ism_stream_opts o = { .size = sizeof(o) };
	const char *sock = NULL, *host = NULL, *port, *domain = NULL;
	bool listen_ = false, verbose = false;
	struct ism_conn *c = NULL;
	struct ism_stream *s = NULL;
	int opt, r, reason;

	while ((opt = getopt(argc, argv, "lvts:d:h")) != -1) {
		switch (opt) {
		case 'l': listen_ = true; break;
		case 'v': verbose = true; break;
		case 't': o.flags |= ISM_STREAM_TCP_ONLY; break;
		case 's': sock = optarg; break;
		case 'd': domain = optarg; break;
		default:
			fprintf(opt == 'h' ? stdout : stderr,
				"usage: ism-cat [-v] [-t] [-s SOCKET] HOST "
				"PORT\n"
				"       ism-cat [-v] [-t] [-s SOCKET] -l "
				"[HOST] PORT\n"
				"       ism-cat [-s SOCKET] -d DOMAIN MEMBER "
				"PORT\n"
				"       ism-cat [-s SOCKET] -d DOMAIN -l "
				"PORT\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (argc - optind == 2) {
		host = argv[optind];
		port = argv[optind + 1];
	} else if (argc - optind == 1 && listen_) {
		port = argv[optind];
	} else {
		fprintf(stderr, "ism-cat: need %sPORT (see -h)\n",
			listen_ ? "[HOST] " : "HOST ");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (domain)
		return cat_domain(sock, domain, listen_, host, port);
	/* No ismd is fine: plain TCP, and -v says so. */
	if (!(o.flags & ISM_STREAM_TCP_ONLY) &&
	    ism_conn_open(sock, NULL, &c) < 0)
		c = NULL;
	if (listen_) {
		struct ism_stream_listener *l;

		if ((r = ism_stream_listen(c, host, port, &o, &l)) < 0)
			return fail("listen", r);
		if (verbose)
			fprintf(stderr, "ism-cat: listening on port %d\n",
				ism_stream_listener_port(l));
		r = ism_stream_accept(l, &s, 0);
		ism_stream_listener_close(l);
		if (r < 0)
			return fail("accept", r);
	} else if ((r = ism_stream_connect(c, host, port, &o, &s)) < 0) {
		return fail("connect", r);
	}
	if (verbose) {
		int path = ism_stream_path(s, &reason);

		fprintf(stderr, "ism-cat: connected over %s%s%s%s\n",
			path == ISM_STREAM_SHM ? "shared memory"
					       : ism_stream_path_name(path),
			reason ? " (" : "",
			reason ? ism_stream_reason_name(reason) : "",
			reason ? ")" : "");
	}
	r = pump(s);
	ism_stream_close(s);
	ism_conn_close(c);
	return r;
}
