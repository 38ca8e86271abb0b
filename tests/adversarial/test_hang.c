/* SPDX-License-Identifier: MIT */
/*
 * Files a hostile peer chooses must never make ismd wait (issue 9, items
 * 1, 2, 4, 5 and 8).  Each attack hands ismd something whose close(),
 * fstat() or write() waits on the attacker: a TCP socket with SO_LINGER
 * and data its receiver never takes (the last close waits for an hour),
 * the same socket left in flight inside a socket ismd closes, a file on
 * the attacker's own FUSE mount that never answers FLUSH or GETATTR, and
 * eventfds made blocking and saturated, and a TCP socket whose lock its
 * owner holds (getsockname() and getpeername() wait for that lock).
 * After each, a bystander must be
 * answered promptly and SIGTERM must still stop ismd.  Each test runs its
 * own ismd, stopped with a bound (and killed past it), so a regression
 * fails the test instead of hanging it.
 */
#include "t_daemon.h"
#include "t_lock.h"
#include "t_fuse.h"
#include "proto/proto.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fuse.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Far more than ismd needs to answer, far less than the waits attacked. */
#define PROMPT_MS 5000

static uint8_t msg[ISM_WIRE_MAX_MSG];
/* The test's ismd, and an attacker process: the teardown reaps both
 * whatever happened (and stops the FUSE file system first). */
static struct ism_private D;
static pid_t attacker;

/*
 * A TCP socket whose last close waits for an hour: SO_LINGER, and more
 * data queued than its other end (*@rx, kept open and never read) takes.
 */
static int lingering_socket(int *rx)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
	struct pollfd p;
	int l, c, small = 4096;
	static char junk[65536];

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*rx = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*rx >= 0);
	close(l);
	/* Fill: the receiver's window and our send buffer. */
	while (send(c, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	p = (struct pollfd){ c, POLLOUT, 0 };
	assert_int_equal(poll(&p, 1, 0), 0); /* nothing more fits */
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	return c;
}

static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

/*
 * Close our copy of a lingering socket handed to ismd.  If ismd has
 * already closed its own, ours is the last and would wait for an hour:
 * cut that off (SIGALRM, no SA_RESTART) and say so - the attack then did
 * not test ismd, and the caller tries again.  True if ismd held on.
 */
static bool close_not_last(int fd)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 500000 } };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarmed = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	close(fd);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	return !alarmed;
}

/* A new raw connection, greeted. */
static int raw_peer(struct ism_private *d)
{
	int fd = t_raw_connect(d->sock);

	assert_true(fd >= 0);
	assert_int_equal(t_raw_hello(fd, NULL), 0);
	return fd;
}

/* Is ismd answering?  A fresh connection's HELLO and STATUS. */
static int bystander_ok(struct ism_private *d)
{
	struct ism_wbuf b;
	int fd = t_raw_connect(d->sock), n, r;

	if (fd < 0)
		return fd;
	if ((r = t_raw_hello(fd, NULL)) < 0)
		goto out;
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STATUS, 0, 9, 0);
	n = ism_proto_end(&b);
	if ((r = ism_wire_send(fd, msg, (size_t)n, NULL, 0, 0)) < 0)
		goto out;
	r = t_raw_reply(fd, NULL, NULL, PROMPT_MS);
out:
	close(fd);
	return r;
}

/* SIGTERM still works: ismd exits (0) within the bound. */
static void stops_promptly(struct ism_private *d)
{
	assert_int_equal(t_daemon_stop_within(d, PROMPT_MS), 0);
	assert_int_equal(t_daemon_cleanup(d), 0);
	memset(d, 0, sizeof(*d));
}

/* SIGTERM: ismd stops serving (its socket goes) within the bound, even
 * with a thread stuck on an attacker; the process may outlive it. */
static void term_unlistens(struct ism_private *d)
{
	struct stat st;
	int w = 0;

	t_kill(d->pid, SIGTERM);
	while (stat(d->sock, &st) == 0 && w < PROMPT_MS) {
		t_msleep(10);
		w += 10;
	}
	assert_int_not_equal(stat(d->sock, &st), 0);
}

static int send_req(int fd, uint16_t type, uint32_t seq,
		    void (*put)(struct ism_wbuf *, const void *),
		    const void *arg, const int *fds, unsigned nfds)
{
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, msg, sizeof(msg), type, 0, seq, 0);
	if (put)
		put(&b, arg);
	n = ism_proto_end(&b);
	if (n < 0)
		return n;
	return ism_wire_send(fd, msg, (size_t)n, fds, nfds, 0);
}

static void put_alloc(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_alloc_req(b, a);
}

static void put_region(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_region_req(b, *(const uint64_t *)a);
}

static void put_open(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_stream_open_req(b, a);
}

/* ---- item 1: a lingering socket with any request ---- */

#define TRIES 8

static void test_linger_with_request(void **state)
{
	int fd, ling, rx[2 * TRIES], nrx = 0;
	bool landed = false;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	fd = raw_peer(&D);
	for (int i = 0; i < TRIES && !landed; i++) {
		ling = lingering_socket(&rx[nrx++]);
		/* STATUS takes no fds: ismd refuses this one, closes it. */
		assert_int_equal(
			send_req(fd, ISM_MSG_STATUS, 2, NULL, NULL, &ling, 1),
			0);
		/* ismd holds the last reference now (or try again). */
		landed = close_not_last(ling);
		assert_true(t_raw_reply(fd, NULL, NULL, PROMPT_MS) >= 0);
	}
	assert_true(landed);
	assert_int_equal(bystander_ok(&D), 0);
	/* Before HELLO, in a packet with no valid header at all. */
	landed = false;
	for (int i = 0; i < TRIES && !landed; i++) {
		int raw = t_raw_connect(D.sock);

		assert_true(raw >= 0);
		ling = lingering_socket(&rx[nrx++]);
		assert_int_equal(ism_wire_send(raw, "xx", 2, &ling, 1, 0), 0);
		landed = close_not_last(ling);
		assert_int_equal(bystander_ok(&D), 0);
		close(raw);
	}
	assert_true(landed);
	assert_int_equal(bystander_ok(&D), 0);
	close(fd);
	stops_promptly(&D);
	for (int i = 0; i < nrx; i++)
		close(rx[i]);
}

/* The same through a stream client's socket that ismd keeps as an
 * intent, made to linger after it was handed over, then resolved. */
static void test_linger_stream_intent(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ism_stream_open_req o = { 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
	socklen_t len = sizeof(sa);
	static char junk[65536];
	int fd, l, c, rx, small = 4096;
	uint64_t id;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	fd = raw_peer(&D);
	/* An ism listener... */
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	o.role = ISM_STREAM_LISTENER;
	assert_int_equal(
		send_req(fd, ISM_MSG_STREAM_OPEN, 2, put_open, &o, &l, 1), 0);
	assert_int_equal(t_raw_reply(fd, NULL, NULL, PROMPT_MS), 0);
	/* ... and a client toward it, kept by ismd as an intent. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in me = { .sin_family = AF_INET,
					  .sin_addr.s_addr =
						  htonl(INADDR_LOOPBACK) };

		assert_int_equal(bind(c, (struct sockaddr *)&me, sizeof(me)),
				 0);
	}
	o.role = ISM_STREAM_CLIENT;
	ism_proto_addr_from(&o.dst, (struct sockaddr *)&sa);
	assert_int_equal(
		send_req(fd, ISM_MSG_STREAM_OPEN, 3, put_open, &o, &c, 1), 0);
	{
		struct ism_stream_rep rep;
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t n =
			t_raw_recv(fd, msg, sizeof(msg), PROMPT_MS, NULL, NULL);

		assert_true(n > 0);
		ism_rbuf_init(&rb, msg, (size_t)n);
		assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
		assert_int_equal(h.status, 0);
		assert_int_equal(ism_proto_get_stream_rep(&rb, &rep), 0);
		assert_int_equal(rep.path, ISM_STREAM_PENDING);
		id = rep.id;
	}
	/* Now make that very socket linger: connected to a receiver that
	 * never reads, full, SO_LINGER; our copy closed. */
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	rx = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(rx >= 0);
	while (send(c, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	close(c);
	/* RESOLVE: not claimed, so ismd drops its socket. */
	assert_int_equal(send_req(fd, ISM_MSG_STREAM_RESOLVE, 4, put_region,
				  &id, NULL, 0),
			 0);
	assert_int_equal(t_raw_reply(fd, NULL, NULL, PROMPT_MS), 0);
	assert_int_equal(bystander_ok(&D), 0);
	close(fd);
	stops_promptly(&D);
	close(rx);
	close(l);
}

/* ---- item 5: lingering sockets in flight inside sockets ismd closes ---- */

/* In a region's LINK socket, released at DESTROY. */
static void test_linger_in_link(void **state)
{
	struct ism_alloc_req a = { .size = 4096,
				   .max_access = ISM_ACCESS_RO,
				   .flags = ISM_ALLOC_LINK };
	int fd, pair[2], ling, rx, fds[ISM_WIRE_MAX_FDS];
	unsigned nfds;
	uint64_t id;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	fd = raw_peer(&D);
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
	ling = lingering_socket(&rx);
	/* In flight into the end ismd will hold. */
	assert_int_equal(ism_wire_send(pair[0], "k", 1, &ling, 1, 0), 0);
	close(ling);
	assert_int_equal(
		send_req(fd, ISM_MSG_ALLOC, 2, put_alloc, &a, &pair[1], 1), 0);
	close(pair[1]);
	{
		struct ism_alloc_rep rep;
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t n =
			t_raw_recv(fd, msg, sizeof(msg), PROMPT_MS, fds, &nfds);

		assert_true(n > 0);
		ism_close_fds(fds, nfds);
		ism_rbuf_init(&rb, msg, (size_t)n);
		assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
		assert_int_equal(h.status, 0);
		assert_int_equal(ism_proto_get_alloc_rep(&rb, &rep), 0);
		id = rep.region;
	}
	assert_int_equal(
		send_req(fd, ISM_MSG_DESTROY, 3, put_region, &id, NULL, 0), 0);
	assert_int_equal(t_raw_reply(fd, NULL, NULL, PROMPT_MS), 0);
	assert_int_equal(bystander_ok(&D), 0);
	close(fd);
	close(pair[0]);
	stops_promptly(&D);
	close(rx);
}

/* In messages ismd never reads: it drops the connection at the first
 * (a request before HELLO) with the second still queued in it. */
static void test_linger_unread(void **state)
{
	int rx[10], n = 0;
	bool landed = false;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	for (int tries = 0; tries < 10; tries++) {
		int raw = t_raw_connect(D.sock),
		    ling = lingering_socket(&rx[n]);
		union {
			struct cmsghdr c;
			char b[CMSG_SPACE(sizeof(int))];
		} u;
		struct ism_wbuf b;
		struct iovec io[2];
		struct mmsghdr mm[2];
		int len;

		n++;
		assert_true(raw >= 0);
		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STATUS, 0, 1, 0);
		len = ism_proto_end(&b);
		memset(mm, 0, sizeof(mm));
		io[0] = (struct iovec){ msg, (size_t)len };
		io[1] = (struct iovec){ msg, (size_t)len };
		mm[0].msg_hdr.msg_iov = &io[0];
		mm[0].msg_hdr.msg_iovlen = 1;
		mm[1].msg_hdr.msg_iov = &io[1];
		mm[1].msg_hdr.msg_iovlen = 1;
		mm[1].msg_hdr.msg_control = u.b;
		mm[1].msg_hdr.msg_controllen = sizeof(u.b);
		{
			struct cmsghdr *c = CMSG_FIRSTHDR(&mm[1].msg_hdr);

			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &ling, sizeof(int));
		}
		/* Both at once: ismd sees the first (STATUS before HELLO:
		 * dropped) before it could read the second. */
		len = sendmmsg(raw, mm, 2, 0);
		landed = close_not_last(ling) && len == 2;
		close(raw);
		if (landed)
			break;
	}
	assert_true(landed);
	assert_int_equal(bystander_ok(&D), 0);
	assert_int_equal(bystander_ok(&D), 0);
	stops_promptly(&D);
	for (int i = 0; i < n; i++)
		close(rx[i]);
}

/* ---- item 4: FUSE files, before HELLO, from a refused uid ---- */

static struct t_fuse fuse;

static int teardown(void **state)
{
	(void)state;
	if (attacker > 0)
		t_kill(attacker, SIGKILL);
	t_fuse_stop(&fuse);
	if (attacker > 0)
		t_wait(attacker);
	attacker = 0;
	if (D.pid > 0)
		t_daemon_stop_within(&D, PROMPT_MS);
	if (D.dir[0])
		t_daemon_cleanup(&D);
	memset(&D, 0, sizeof(D));
	return 0;
}

struct fuse_attack {
	const char *sock;
	const char *path;
	uint16_t type; /* 0: a packet with no valid header */
	bool hello;
};

/* As uid 65534: one fd of the FUSE file, with @type. */
static int fuse_attacker(void *arg)
{
	struct fuse_attack *a = arg;
	int fd, s;

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 90;
	fd = open(a->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 91;
	s = t_raw_connect(a->sock);
	if (s < 0)
		return 92;
	if (a->hello && t_raw_hello(s, NULL) < 0)
		return 93;
	if (a->type == ISM_MSG_STREAM_OPEN) {
		struct ism_stream_open_req o = { .role = ISM_STREAM_SERVER };

		if (send_req(s, a->type, 2, put_open, &o, &fd, 1) < 0)
			return 94;
	} else if (a->type) {
		if (send_req(s, a->type, 2, NULL, NULL, &fd, 1) < 0)
			return 94;
	} else if (ism_wire_send(s, "junk", 4, &fd, 1, 0) < 0) {
		return 94;
	}
	/* Our own copy must not be closed here: FLUSH would hang us.  The
	 * process exits with it open: the kernel's close at exit is the
	 * test's problem (it stops the file system first). */
	if (a->hello && a->type)
		(void)t_raw_reply(s, NULL, NULL, PROMPT_MS);
	pause();
	return 0;
}

/* Is @tid a thread of process @pid? */
static bool tid_of(pid_t pid, pid_t tid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return stat(path, &st) == 0;
}

static void fuse_case(unsigned hang, uint16_t type, bool hello,
		      const char *const *args)
{
	struct fuse_attack a;
	int r;

	r = t_fuse_start(&fuse, hang);
	if (r == -EPERM || r == -ENODEV) {
		fprintf(stderr, "skipped: FUSE needs root and /dev/fuse (%s)\n",
			strerror(-r));
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(t_daemon_start(&D, args), 0);
	a = (struct fuse_attack){ D.sock, fuse.path, type, hello };
	attacker = t_fork(fuse_attacker, &a);
	if (hang & T_FUSE_HANG_FLUSH) {
		pid_t tid = 0;

		/* The attack landed: a thread of ismd sent the FLUSH the
		 * file system sits on - a worker, never the loop. */
		assert_int_equal(
			t_fuse_wait_hang(&fuse, FUSE_FLUSH, PROMPT_MS, &tid),
			0);
		fprintf(stderr,
			"FLUSH sent by thread %d (ismd %d, attacker %d)\n",
			(int)tid, (int)D.pid, (int)attacker);
		assert_true(tid_of(D.pid, tid));
		assert_int_not_equal(tid, D.pid);
	} else {
		/* ismd never asks this file system for attributes. */
		assert_int_equal(
			t_fuse_wait_hang(&fuse, FUSE_GETATTR, 1000, NULL),
			-ETIMEDOUT);
	}
	assert_int_equal(bystander_ok(&D), 0);
	assert_int_equal(bystander_ok(&D), 0);
	/* The attacker did all it meant to (it waits to be killed). */
	assert_int_equal(waitpid(attacker, NULL, WNOHANG), 0);
	/* SIGTERM: ismd shuts down (its socket goes away) even while one of
	 * its threads waits on the file system; the process ends once the
	 * file system lets go of it. */
	term_unlistens(&D);
	t_kill(attacker, SIGKILL);
	t_fuse_stop(&fuse);
	t_wait(attacker);
	attacker = 0;
	assert_int_equal(t_daemon_stop_within(&D, PROMPT_MS), 0);
	assert_int_equal(t_daemon_cleanup(&D), 0);
	memset(&D, 0, sizeof(D));
}

static const char *const open_args[] = { "--socket-mode", "0666", NULL };

static void test_fuse_flush_before_hello(void **state)
{
	static const char *const refused[] = { "--socket-mode", "0666",
					       "--allow-uid", "12345", NULL };

	(void)state;
	/* A uid the policy refuses, no HELLO, a packet with no header. */
	fuse_case(T_FUSE_HANG_FLUSH, 0, false, refused);
}

static void test_fuse_flush_with_request(void **state)
{
	(void)state;
	fuse_case(T_FUSE_HANG_FLUSH, ISM_MSG_STATUS, true, open_args);
}

static void test_fuse_getattr_stream_open(void **state)
{
	(void)state;
	/* STREAM_OPEN inspects the fd it takes: never with fstat, which
	 * would wait on the file system (allow_other lets ismd reach it). */
	fuse_case(T_FUSE_HANG_GETATTR, ISM_MSG_STREAM_OPEN, true, open_args);
}

/* ---- item 8: many hostile doorbells at once ---- */

#define N_BELLS 60

static void test_doorbells_add_up(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o) };
	uint64_t big = 0xfffffffffffffffeull, t0, took;
	int peers[N_BELLS], bells[N_BELLS];
	struct ism_region *r;
	struct ism_conn *owner;
	struct ism_token t;

	(void)state;
	assert_int_equal(t_daemon_start(&D, NULL), 0);
	owner = t_connect(&D, "owner", 0);
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &r), 0);
	ism_region_token(r, &t);
	for (int i = 0; i < N_BELLS; i++) {
		struct ism_hello_req h = { .min_version = 1,
					   .max_version = 1,
					   .flags = ISM_HELLO_F_DOORBELL };
		struct ism_attach_req a = { .access = ISM_ACCESS_RO,
					    .flags = ISM_ATTACH_NOFD };
		struct ism_wbuf b;
		int n;

		bells[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		peers[i] = t_raw_connect(D.sock);
		assert_true(bells[i] >= 0 && peers[i] >= 0);
		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_HELLO, 0, 1, 0);
		ism_proto_put_hello_req(&b, &h);
		n = ism_proto_end(&b);
		assert_int_equal(ism_wire_send(peers[i], msg, (size_t)n,
					       &bells[i], 1, 0),
				 0);
		assert_int_equal(t_raw_reply(peers[i], NULL, NULL, PROMPT_MS),
				 0);
		memcpy(a.token, t.b, ISM_TOKEN_SIZE);
		ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_ATTACH, 0, 2, 0);
		ism_proto_put_attach_req(&b, &a);
		n = ism_proto_end(&b);
		assert_int_equal(
			ism_wire_send(peers[i], msg, (size_t)n, NULL, 0, 0), 0);
		assert_int_equal(t_raw_reply(peers[i], NULL, NULL, PROMPT_MS),
				 0);
		/* Saturated, and blocking: ismd shares this open file
		 * description with us. */
		assert_int_equal(write(bells[i], &big, sizeof(big)),
				 sizeof(big));
		assert_int_equal(fcntl(bells[i], F_SETFL, 0), 0);
	}
	/* One notify rings them all.  Before, each ring cost the loop a
	 * watchdog period: N_BELLS of them stalled everyone for seconds. */
	t0 = ism_now_ns();
	assert_int_equal(ism_region_notify(r, 1), N_BELLS);
	assert_int_equal(bystander_ok(&D), 0);
	took = ism_now_ns() - t0;
	fprintf(stderr, "notify + a bystander's status: %.1f ms\n",
		(double)took / 1e6);
	assert_true(took < (uint64_t)PROMPT_MS * 1000000ull / 2);
	/* Each hostile peer is dropped. */
	assert_true(T_WAIT_FOR(ism_region_notify(r, 2) == 0, PROMPT_MS));
	for (int i = 0; i < N_BELLS; i++) {
		close(peers[i]);
		close(bells[i]);
	}
	ism_region_close(r);
	ism_conn_close(owner);
	stops_promptly(&D);
}

/* ---- item 2: ivshmem eventfds made blocking by a QEMU-side client ---- */

static int ivsh_get(int s, int64_t *v, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint8_t le[8];
	struct iovec iov = { le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct pollfd p = { s, POLLIN, 0 };
	uint64_t x = 0;

	*fd = -1;
	if (poll(&p, 1, PROMPT_MS) != 1 ||
	    recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL) != 8)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	for (int i = 7; i >= 0; i--)
		x = x << 8 | le[i];
	*v = (int64_t)x;
	return 0;
}

static void test_ivshmem_eventfds(void **state)
{
	char spec[256], path[96];
	const char *args[] = { "--ivshmem", spec, NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t big = 0xfffffffffffffffeull;
	struct ism_ivshmem *m;
	struct ism_conn *c;
	int q, efd[2] = { -1, -1 }, fd, mid;
	int64_t v;

	(void)state;
	snprintf(path, sizeof(path), "%s/ism-hang-%d.ivsh", t_tmpdir(),
		 (int)getpid());
	snprintf(spec, sizeof(spec), "%s,size=64K,vectors=2,name=hd,layout=v2",
		 path);
	assert_int_equal(t_daemon_start(&D, args), 0);
	c = t_connect(&D, "member", 0);
	assert_int_equal(ism_ivshmem_join(c, "hd", &m), 0);
	mid = (int)ism_ivshmem_id(m);
	/* A QEMU-side client: it receives the member's eventfds. */
	q = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(q, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 3; i++) { /* version, id, memory */
		assert_int_equal(ivsh_get(q, &v, &fd), 0);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < 2; i++) { /* the member's two eventfds */
		assert_int_equal(ivsh_get(q, &v, &efd[i]), 0);
		assert_int_equal(v, mid);
		assert_true(efd[i] >= 0);
	}
	/* Make the member's vector 0 block for ismd's next write.  Our
	 * joining rang it (v2: a state change), perhaps not yet: empty the
	 * counter first, and again if a ring lands in between. */
	for (int tries = 0;; tries++) {
		uint64_t x;

		if (read(efd[0], &x, sizeof(x)) < 0 && errno != EAGAIN)
			fail_msg("read: %s", strerror(errno));
		if (write(efd[0], &big, sizeof(big)) == sizeof(big))
			break;
		assert_int_equal(errno, EAGAIN);
		assert_true(tries < 100);
	}
	assert_int_equal(fcntl(efd[0], F_SETFL, 0), 0);
	/* Ring it (an administrator may), and have a state change ring it
	 * too: neither may stall ismd. */
	assert_int_equal(
		ism_ivshmem_ring(c, ism_ivshmem_domain_id(m), (uint32_t)mid, 0),
		0);
	assert_int_equal(bystander_ok(&D), 0);
	assert_int_equal(ism_ivshmem_set_state(m, 3), 0);
	assert_int_equal(bystander_ok(&D), 0);
	/* Nobody was blamed: the member is still there, and vector 1
	 * still rings. */
	assert_int_equal(
		ism_ivshmem_ring(c, ism_ivshmem_domain_id(m), (uint32_t)mid, 1),
		0);
	{
		struct pollfd p = { ism_ivshmem_vector_fd(m, 1), POLLIN, 0 };

		assert_int_equal(poll(&p, 1, PROMPT_MS), 1);
	}
	close(efd[0]);
	close(efd[1]);
	close(q);
	ism_ivshmem_leave(m);
	ism_conn_close(c);
	stops_promptly(&D);
}

/* ---- sibling of item 1: a socket whose owner holds its lock ---- */

/*
 * A send() holds its socket's lock while it copies the caller's bytes; a
 * page that faults into a userfaultfd nobody serves keeps it copying, and
 * the lock held, for as long as the attacker likes.  getsockname() and
 * getpeername() on that socket then wait, in state D, for the lock.
 */
struct lock_attack {
	const char *sock;
	uint16_t port; /* the honest ism listener's */
	int ready;     /* a pipe: one byte once both locks are held */
};

static int open_as(int s, uint32_t seq, uint32_t role, uint16_t port, int fd)
{
	struct ism_stream_open_req o = { .role = role };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (port)
		ism_proto_addr_from(&o.dst, (struct sockaddr *)&sa);
	return send_req(s, ISM_MSG_STREAM_OPEN, seq, put_open, &o, &fd, 1);
}

/* As uid 65534 (the userfaultfd made first, as root): a stream client
 * whose kept socket it locks once connected, and a server end it locks
 * while ismd looks at it.  77: no userfaultfd here. */
static int lock_attacker(void *arg)
{
	struct lock_attack *a = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct t_held h[2];
	pthread_t t[2];
	char *pages;
	int uffd, s, c, l, c2, a2;

	if ((uffd = t_uffd_pages(2, &pages)) < 0)
		return 77;
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 90;
	s = t_raw_connect(a->sock);
	if (s < 0 || t_raw_hello(s, NULL) < 0)
		return 91;
	/* A client toward the honest listener: kept as an intent. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(c, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    open_as(s, 2, ISM_STREAM_CLIENT, a->port, c) < 0 ||
	    t_raw_reply(s, NULL, NULL, PROMPT_MS) != 0)
		return 92;
	sa.sin_port = htons(a->port);
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 93;
	/* A connection of our own, for a server end. */
	sa.sin_port = 0;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		return 94;
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c2, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (a2 = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return 95;
	/* Lock both. */
	h[0] = (struct t_held){ c, pages };
	h[1] = (struct t_held){ a2, pages + 4096 };
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, t_send_from_fault, &h[i]))
			return 96;
	if (!t_uffd_faults(uffd, 2, PROMPT_MS))
		return 97;
	/* ismd looks at the server end it is handed (no reply expected:
	 * that is our own request waiting on our own lock). */
	if (open_as(s, 3, ISM_STREAM_SERVER, 0, a2) < 0)
		return 98;
	if (write(a->ready, "A", 1) != 1)
		return 99;
	pause(); /* killed: the userfaultfd goes, the sends complete */
	return 0;
}

static void test_socket_lock(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct lock_attack a;
	struct ism_stream_rep rep;
	int srv, l, acc, pfd[2], st;
	char b;

	(void)state;
	assert_int_equal(t_daemon_start(&D, open_args), 0);
	srv = raw_peer(&D);
	/* The honest side (root): an ism listener. */
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(open_as(srv, 2, ISM_STREAM_LISTENER, 0, l), 0);
	assert_int_equal(t_raw_reply(srv, NULL, NULL, PROMPT_MS), 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	a = (struct lock_attack){ D.sock, ntohs(sa.sin_port), pfd[1] };
	attacker = t_fork(lock_attacker, &a);
	close(pfd[1]);
	if (read(pfd[0], &b, 1) != 1) {
		st = t_wait(attacker);
		attacker = 0;
		close(pfd[0]);
		if (st == 77) {
			fprintf(stderr, "skipped: no userfaultfd (needs root "
					"or vm.unprivileged_userfaultfd)\n");
			skip();
		}
		fail_msg("attacker failed: %d", st);
	}
	close(pfd[0]);
	/* The attacker's own request waits on its own lock, on a worker. */
	assert_true(t_thread_in_d(D.pid, PROMPT_MS));
	assert_int_equal(bystander_ok(&D), 0);
	/* The honest server accepts the attacker's connection, whose socket
	 * ismd kept and whose lock is held: the claim is answered, and
	 * proven without that lock. */
	acc = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(acc >= 0);
	assert_int_equal(open_as(srv, 3, ISM_STREAM_SERVER, 0, acc), 0);
	{
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t n = t_raw_recv(srv, msg, sizeof(msg), PROMPT_MS, NULL,
				       NULL);

		assert_true(n > 0);
		ism_rbuf_init(&rb, msg, (size_t)n);
		assert_int_equal(ism_wire_hdr_get(&rb, (size_t)n, &h), 0);
		assert_int_equal(h.status, 0);
		assert_int_equal(ism_proto_get_stream_rep(&rb, &rep), 0);
		assert_int_equal(rep.path, ISM_STREAM_SHM);
	}
	/* Another uid's jobs are not parked behind the stuck one. */
	assert_int_equal(open_as(srv, 4, ISM_STREAM_LISTENER, 0, l), 0);
	assert_int_equal(t_raw_reply(srv, NULL, NULL, PROMPT_MS), 0);
	assert_int_equal(bystander_ok(&D), 0);
	/* SIGTERM: ismd shuts down (its socket goes away) while a worker
	 * still waits for the lock; it exits once the attacker lets go. */
	term_unlistens(&D);
	t_kill(attacker, SIGKILL);
	t_wait(attacker);
	attacker = 0;
	assert_int_equal(t_daemon_stop_within(&D, PROMPT_MS), 0);
	assert_int_equal(t_daemon_cleanup(&D), 0);
	memset(&D, 0, sizeof(D));
	close(acc);
	close(l);
	close(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_linger_with_request, teardown),
		cmocka_unit_test_teardown(test_linger_stream_intent, teardown),
		cmocka_unit_test_teardown(test_linger_in_link, teardown),
		cmocka_unit_test_teardown(test_linger_unread, teardown),
		cmocka_unit_test_teardown(test_fuse_flush_before_hello,
					  teardown),
		cmocka_unit_test_teardown(test_fuse_flush_with_request,
					  teardown),
		cmocka_unit_test_teardown(test_fuse_getattr_stream_open,
					  teardown),
		cmocka_unit_test_teardown(test_doorbells_add_up, teardown),
		cmocka_unit_test_teardown(test_ivshmem_eventfds, teardown),
		cmocka_unit_test_teardown(test_socket_lock, teardown),
	};

	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
