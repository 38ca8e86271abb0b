/* SPDX-License-Identifier: MIT */
/*
 * Sleeping and waking on a channel (lib/chan/chan.c): one thread asleep
 * in receive while another sleeps in send for room on the same end (the
 * first sleeps on the link itself, the second beside it, and kicks for
 * either may reach either), with the other end in another process; and
 * spinning waits beside a process that keeps both CPUs busy.  Nothing is
 * timed: every message must arrive, intact and in order, and nothing may
 * hang (alarm).
 */
#include "t_daemon.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG   1500 /* a few of these fill a 4 KiB ring */
#define N_BIG 3000
#define N_UP  3000

/* ---- a local channel between two processes ---- */

static int send_fds(int s, const int fds[2])
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 2 * sizeof(int));
	return sendmsg(s, &m, 0) == 1 ? 0 : -1;
}

static int recv_fds(int s, int fds[2])
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char x;
	struct iovec iov = { .iov_base = &x, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;

	if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_len != CMSG_LEN(2 * sizeof(int)))
		return -1;
	memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
	return 0;
}

/* Make our end, swap fds with the other process over @sock, connect. */
static struct ism_chan *local_end(int sock, uint32_t ring, uint32_t spin)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = ring,
				   .spin_us = spin };
	struct ism_chan *ch;
	int mine[2], theirs[2];

	if (ism_chan_local_create(&o, &ch) < 0)
		return NULL;
	if (ism_chan_local_export(ch, mine) < 0 || send_fds(sock, mine) < 0 ||
	    recv_fds(sock, theirs) < 0 ||
	    ism_chan_local_connect(ch, theirs[0], theirs[1]) < 0) {
		ism_chan_close(ch);
		return NULL;
	}
	close(mine[0]);
	close(mine[1]);
	return ch;
}

static uint8_t tag(unsigned i, unsigned k)
{
	return (uint8_t)(i * 31 + k);
}

/* ---- two sleeping roles on one end ---- */

struct other_end {
	int sock;
	uint32_t spin;
};

/* The other process: drain the big messages slowly (so the sender
 * sleeps for room), and now and then send a small one up (so the
 * receiver, asleep beside it, has something to wake for). */
static int other_main(void *arg)
{
	struct other_end *o = arg;
	struct ism_chan *ch;
	uint8_t buf[BIG];
	unsigned up = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(120);
	ch = local_end(o->sock, 4096, o->spin);
	if (!ch)
		return 2;
	for (unsigned i = 0; i < N_BIG; i++) {
		ssize_t n = ism_chan_recv(ch, buf, sizeof(buf), 0);

		if (n != BIG)
			return 3;
		for (unsigned k = 0; k < BIG; k += 97)
			if (buf[k] != tag(i, k))
				return 4;
		if (i % 64 == 0)
			usleep(200); /* the sender falls asleep for room */
		if (up < N_UP && i % 2 == 0) {
			uint32_t v = up++;

			if (ism_chan_send(ch, &v, sizeof(v), 0) < 0)
				return 5;
		}
	}
	while (up < N_UP) {
		uint32_t v = up++;

		if (ism_chan_send(ch, &v, sizeof(v), 0) < 0)
			return 6;
	}
	/* Wait for the other side's end before ours. */
	if (ism_chan_recv(ch, buf, sizeof(buf), 0) != -ESHUTDOWN)
		return 7;
	ism_chan_close(ch);
	return 0;
}

struct role {
	struct ism_chan *ch;
	int err;
	bool dontwait; /* send with ISM_F_DONTWAIT, poll ism_chan_fd() */
};

/* A non-blocking send, waiting in poll() on the channel's fd. */
static int send_polling(struct ism_chan *ch, const void *buf, size_t len)
{
	struct pollfd p = { .fd = ism_chan_fd(ch), .events = POLLIN };
	int r;

	while ((r = ism_chan_send(ch, buf, len, ISM_F_DONTWAIT)) == -EAGAIN)
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return -errno;
	return r;
}

static void *sender_main(void *arg)
{
	struct role *r = arg;
	uint8_t buf[BIG];

	for (unsigned i = 0; i < N_BIG; i++) {
		for (unsigned k = 0; k < BIG; k++)
			buf[k] = tag(i, k);
		r->err = r->dontwait
				 ? send_polling(r->ch, buf, sizeof(buf))
				 : ism_chan_send(r->ch, buf, sizeof(buf), 0);
		if (r->err < 0)
			return NULL;
	}
	return NULL;
}

static void *receiver_main(void *arg)
{
	struct role *r = arg;

	for (uint32_t i = 0; i < N_UP; i++) {
		uint32_t v;
		ssize_t n = ism_chan_recv(r->ch, &v, sizeof(v), 0);

		if (n != sizeof(v) || v != i) {
			r->err = n < 0 ? (int)n : -EILSEQ;
			return NULL;
		}
	}
	return NULL;
}

static void two_roles(uint32_t spin, bool dontwait)
{
	struct other_end o = { .spin = spin };
	struct role snd = { .dontwait = dontwait }, rcv = { 0 };
	pthread_t ts, tr;
	int sv[2];
	pid_t pid;

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	o.sock = sv[1];
	pid = t_fork(other_main, &o);
	assert_true(pid > 0);
	snd.ch = local_end(sv[0], 4096, spin);
	assert_non_null(snd.ch);
	rcv.ch = snd.ch;
	alarm(120);
	assert_int_equal(pthread_create(&tr, NULL, receiver_main, &rcv), 0);
	assert_int_equal(pthread_create(&ts, NULL, sender_main, &snd), 0);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	alarm(0);
	ism_chan_close(snd.ch);
	assert_int_equal(t_wait(pid), 0);
	assert_int_equal(snd.err, 0);
	assert_int_equal(rcv.err, 0);
	close(sv[0]);
	close(sv[1]);
}

/* Both asleep at once, with no spinning at all... */
static void test_two_roles_sleeping(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		two_roles(ISM_CHAN_NO_SPIN, false);
}

/* ... and with the default, adaptive spin. */
static void test_two_roles_spinning(void **state)
{
	(void)state;
	two_roles(0, false);
}

/* A receiver asleep in recvmmsg() on the link while the sending thread
 * of the same end polls ism_chan_fd() with DONTWAIT sends: settling
 * those must never take the sleeper's kick from the link. */
static void test_two_roles_one_polling(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		two_roles(ISM_CHAN_NO_SPIN, true);
}

/* ---- spinning beside busy processes ---- */

static pid_t hog(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		volatile unsigned long x = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			x++;
	}
	return pid;
}

static int echo_main(void *arg)
{
	struct other_end *o = arg;
	struct ism_chan *ch;
	uint8_t buf[64];
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(120);
	ch = local_end(o->sock, 65536, o->spin);
	if (!ch)
		return 2;
	while ((n = ism_chan_recv(ch, buf, sizeof(buf), 0)) > 0)
		if (ism_chan_send(ch, buf, (size_t)n, 0) < 0)
			return 3;
	ism_chan_close(ch);
	return n == -ESHUTDOWN ? 0 : 4;
}

/* A ping-pong with the default spin while two processes keep both CPUs
 * busy: spinning must give way (it sleeps when it finds the CPU wanted),
 * and every message still comes back. */
static void test_spin_beside_hogs(void **state)
{
	struct other_end o = { .spin = 0 };
	struct ism_chan *ch;
	pid_t pid, h[2];
	int sv[2];

	(void)state;
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	o.sock = sv[1];
	pid = t_fork(echo_main, &o);
	assert_true(pid > 0);
	ch = local_end(sv[0], 65536, 0);
	assert_non_null(ch);
	h[0] = hog();
	h[1] = hog();
	assert_true(h[0] > 0 && h[1] > 0);
	alarm(120);
	for (uint32_t i = 0; i < 20000; i++) {
		uint8_t m[64];
		uint32_t back;

		memset(m, (int)(i & 0xff), sizeof(m));
		memcpy(m, &i, sizeof(i));
		assert_int_equal(ism_chan_send(ch, m, sizeof(m), 0), 0);
		assert_int_equal(ism_chan_recv(ch, m, sizeof(m), 0), sizeof(m));
		memcpy(&back, m, sizeof(back));
		assert_int_equal(back, i);
		assert_int_equal(m[63], i & 0xff);
	}
	alarm(0);
	for (int i = 0; i < 2; i++) {
		t_kill(h[i], SIGKILL);
		t_wait(h[i]);
	}
	ism_chan_close(ch);
	assert_int_equal(t_wait(pid), 0);
	close(sv[0]);
	close(sv[1]);
}

/* ---- a kick drained by the other role's DONTWAIT call ---- */

/* One thread, both roles with ISM_F_DONTWAIT: the sender is left armed
 * for room, and the kick that announces the room is drained from the
 * link by a receive (which empties the link so the fd goes quiet): the
 * fd must still fire for the sender. */
static void test_dontwait_kick_drained_by_other_role(void **state)
{
	struct ism_chan_opts o = { .size = sizeof(o),
				   .ring_size = 4096,
				   .spin_us = ISM_CHAN_NO_SPIN };
	struct ism_chan *a, *b;
	int fds[2];
	struct pollfd p;
	char buf[64];

	(void)state;
	assert_int_equal(ism_chan_local_create(&o, &a), 0);
	assert_int_equal(ism_chan_local_create(&o, &b), 0);
	assert_int_equal(ism_chan_local_export(a, fds), 0);
	assert_int_equal(ism_chan_local_connect(b, fds[0], fds[1]), 0);
	assert_int_equal(ism_chan_local_export(b, fds), 0);
	assert_int_equal(ism_chan_local_connect(a, fds[0], fds[1]), 0);
	p.fd = ism_chan_fd(a);
	p.events = POLLIN;
	/* a: armed to receive, then to send (its ring full). */
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	memset(buf, 7, sizeof(buf));
	while (ism_chan_send(a, buf, sizeof(buf), ISM_F_DONTWAIT) == 0)
		;
	assert_int_equal(ism_chan_send(a, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	/* b empties a's ring: a kick for a's sending role. */
	while (ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT) == 64)
		;
	/* a's receive settles (and drains the link): nothing to receive. */
	assert_int_equal(ism_chan_recv(a, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	/* The room is there, so the fd says so (bounded: "never" fails). */
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(ism_chan_send(a, buf, sizeof(buf), ISM_F_DONTWAIT), 0);
	ism_chan_close(a);
	ism_chan_close(b);
}

static void on_alarm(int sig)
{
	static const char msg[] = "wakeup: a wait never ended (alarm)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_roles_sleeping),
		cmocka_unit_test(test_two_roles_spinning),
		cmocka_unit_test(test_two_roles_one_polling),
		cmocka_unit_test(test_spin_beside_hogs),
		cmocka_unit_test(test_dontwait_kick_drained_by_other_role),
	};

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
