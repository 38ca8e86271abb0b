/* SPDX-License-Identifier: MIT */
/*
 * ism-bench-vm-host - the host end of `ism-bench vm` (bench/vm.py): serves
 * one ism channel (as a member of an ivshmem domain) and one TCP
 * connection, each running the runs ism-guest bench / bench-tcp asks
 * for: a 12-byte header {mode, size, count}; mode 1 echoes count
 * messages of size, mode 2 reads them and answers one byte, mode 0 ends.
 *
 * Usage: ism-bench-vm-host SOCKET DOMAIN PORT TCP_PORT
 * Prints "ready ID" (our peer id) once both are listening, "done" at the
 * end.  TCP listens on 127.0.0.1 only: the guest reaches it through
 * QEMU's user networking (bench/vm.py says why).
 */
#include <ism.h>
#include <ism/ivchan.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXMSG (1u << 20)

struct xport {
	struct ism_ivchan *ch;
	int fd;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "ism-bench-vm-host: %s: %s\n", what, strerror(-err));
	exit(1);
}

static int x_recv(struct xport *x, void *p, size_t n)
{
	if (x->ch) {
		ssize_t r = ism_ivchan_recv(x->ch, p, MAXMSG, 0);

		return r == (ssize_t)n ? 0 : (r < 0 ? (int)r : -EPROTO);
	}
	for (uint8_t *q = p; n;) {
		ssize_t r = read(x->fd, q, n);

		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

static int x_send(struct xport *x, const void *p, size_t n)
{
	if (x->ch)
		return ism_ivchan_send(x->ch, p, n, 0);
	for (const uint8_t *q = p; n;) {
		ssize_t w = write(x->fd, q, n);

		if (w <= 0)
			return -errno;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve(struct xport *x)
{
	static _Thread_local uint8_t buf[MAXMSG];

	for (;;) {
		uint32_t h[3];
		int e;

		if ((e = x_recv(x, h, sizeof(h))) < 0)
			die("header", e);
		if (!h[0])
			return;
		if (h[1] > MAXMSG)
			die("size", -EMSGSIZE);
		for (uint32_t i = 0; i < h[2]; i++) {
			if ((e = x_recv(x, buf, h[1])) < 0)
				die("recv", e);
			if (h[0] == 1 && (e = x_send(x, buf, h[1])) < 0)
				die("send", e);
		}
		if (h[0] == 2 && (e = x_send(x, buf, 1)) < 0)
			die("ack", e);
	}
}

static int lfd;

static void *tcp_thread(void *arg)
{
	struct xport x = { 0 };
	int one = 1;

	(void)arg;
	if ((x.fd = accept(lfd, NULL, NULL)) < 0)
		die("accept", -errno);
	setsockopt(x.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	serve(&x);
	close(x.fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct ism_conn_opts co = { .size = sizeof(co),
				    .name = "ism-bench-vm-host" };
	struct ism_ivchan_opts o = { .size = sizeof(o) };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct xport x = { .fd = -1 };
	struct ism_conn *c;
	struct ism_ivshmem *m;
	struct ism_ivdom *d;
	pthread_t t;
	int e, one = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (argc != 5) {
		fprintf(stderr, "usage: ism-bench-vm-host SOCKET DOMAIN PORT "
				"TCP_PORT\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[4]));
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1) < 0)
		die("tcp listen", -errno);
	if ((e = ism_conn_open(argv[1], &co, &c)) < 0)
		die("connect to ismd", e);
	if ((e = ism_ivshmem_join(c, argv[2], &m)) < 0)
		die("join", e);
	if ((e = ism_ivshmem_ivdom(m, &d)) < 0)
		die("channels", e);
	if (pthread_create(&t, NULL, tcp_thread, NULL))
		die("thread", -EAGAIN);
	printf("ready %u\n", ism_ivshmem_id(m));
	fflush(stdout);
	o.timeout_ms = 600000;
	if ((e = ism_ivchan_accept(d, (uint32_t)atoi(argv[3]), &o, &x.ch)) < 0)
		die("accept", e);
	serve(&x);
	pthread_join(t, NULL);
	ism_ivchan_close(x.ch);
	ism_ivdom_close(d);
	ism_ivshmem_leave(m);
	ism_conn_close(c);
	printf("done\n");
	return 0;
}
