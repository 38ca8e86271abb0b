/* SPDX-License-Identifier: MIT */
/*
 * ism-bench stream: an ism stream between two processes pinned to
 * different CPUs, against TCP loopback and an AF_UNIX stream socket doing
 * the same work, and the ism stream forced onto TCP (the fallback path)
 * against raw TCP.
 *
 *   rtt64   64-byte ping-pong round trips (p50, p99): the client sends 64
 *           bytes, the server reads them and sends them back.  Also with
 *           spinning off (both ends sleep on every wait, as TCP does),
 *           and with a third process busy on the same two CPUs (ism and
 *           TCP with it, in the same round).
 *   tput    1 GiB in 64 KiB writes, GB/s at the sender from the first
 *           write to the receiver's last byte.  ism also zero-copy: the
 *           sender writes each 64 KiB into the ring (reserve, memcpy,
 *           commit), the receiver reads every cache line of it in place
 *           (peek, release) - it touches all the data, copies none.
 *   cpu     CPU seconds (user + system, getrusage) both processes spent
 *           on that transfer, per GiB moved.
 *
 *   bare    the same 1 GiB through a bare ring of the streams' ring size
 *           in shared memory (copy in, copy out, no checks): what two
 *           copies across these two cores can do at most.  And with one
 *           copy (bare_zc): the consumer reads every cache line in place
 *           as the zero-copy receiver does (a reference, not a
 *           ceiling: ism's zero-copy has measured above it).
 *   floor   the sleeping floor for the round trip with spinning off: the
 *           same 64-byte ping-pong through shared memory, nothing
 *           checked, each side asleep in the kernel between messages on
 *           the cheapest doorbells there are: an eventfd per direction
 *           (write; blocking read), a futex per direction (FUTEX_WAKE;
 *           FUTEX_WAIT), rung only when the receiver sleeps (a flag, as
 *           ism's wake word).  A sleeping round trip pays two wake-ups of
 *           a sleeping task on the other CPU; no design that sleeps on a
 *           doorbell goes below the better of the two
 *           (rtt64_p50_us_sleep_floor, per round).  The same with ism's
 *           own doorbell, bare (a one-byte packet on a SEQPACKET socket
 *           pair, MSG_DONTWAIT; a blocking recv) splits ism's distance
 *           to the floor into the doorbell's part and the rest.
 *   onecpu  TCP, the floor and ism with spinning off again with both
 *           processes on one CPU (the first): a wake-up then costs a
 *           context switch instead of a cross-CPU one (on a VM, an IPI to
 *           a halted vCPU).  Figures and ratios only, no targets.
 *
 * Every connection is a real one: ism streams connect through a private
 * ismd and its handshake, with the default ring size; TCP sockets have
 * TCP_NODELAY, like ism streams.  Each round measures every transport;
 * figures are medians over rounds, ratios medians of per-round ratios.
 * ism's blocking calls spin before sleeping (the default, adaptive): in
 * the ping-pong each side spins while it waits, which costs CPU the
 * figures here do not hide (the cpu figure is for the bulk transfer).
 */
#include "bench.h"
#include "util/spawn.h"

#include <errno.h>
#include <ism.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#define RTT_N	   20000
#define MSG	   64
#define BULK_SIZE  65536
#define BULK_BYTES (1ull << 30)
/* The default ring, as applications get it (ism-bench rings: why). */
#define RING ISM_STREAM_RING_DEFAULT

enum transport { T_ISM, T_TCP, T_UNIX, T_FALLBACK, T_COUNT };
static const char *const t_name[T_COUNT] = { "ism", "tcp", "unix", "fallback" };

static const char *sock_path;
static char unix_path[108];

/* One end of any of the four: an ism stream or a socket. */
struct end {
	struct ism_stream *s;
	int fd;
};

static int end_send(struct end *e, const uint8_t *b, size_t n)
{
	if (e->s)
		return ism_stream_send(e->s, b, n, 0) == (ssize_t)n ? 0 : -1;
	return bench_write_full(e->fd, b, n);
}

static int end_recv(struct end *e, uint8_t *b, size_t n)
{
	if (e->s)
		return ism_stream_recv(e->s, b, n, ISM_F_WAITALL) == (ssize_t)n
			       ? 0
			       : -1;
	return bench_read_full(e->fd, b, n);
}

static void end_close(struct end *e)
{
	if (e->s)
		ism_stream_close(e->s);
	else if (e->fd >= 0)
		close(e->fd);
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* ---- zero-copy ends ---- */

/* Read @total bytes in place: every cache line once (a sum the compiler
 * must keep), nothing copied; the same reads as the bare_zc ring's. */
static int zc_sink(struct ism_stream *s, uint64_t total)
{
	uint64_t sum = 0, got = 0;

	while (got < total) {
		const void *p;
		ssize_t n = ism_stream_peek(s, &p, 0);

		if (n <= 0)
			return -1;
		sum += bench_read_lines(p, (size_t)n);
		if (ism_stream_release(s, (size_t)n) < 0)
			return -1;
		got += (uint64_t)n;
	}
	__asm__ __volatile__("" : : "r"(sum));
	return 0;
}

/* Send @n bytes of @b, written straight into the stream's room. */
static int zc_send(struct ism_stream *s, const uint8_t *b, size_t n)
{
	while (n) {
		void *p;
		ssize_t k = ism_stream_reserve(s, &p, n, 0);

		if (k <= 0)
			return -1;
		memcpy(p, b, (size_t)k);
		if (ism_stream_commit(s, (size_t)k, 0) != k)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* ---- the child: connects, then echoes or receives ---- */

/* What one run measures. */
enum mode {
	M_RTT,		     /* echo RTT_N messages */
	M_BULK,		     /* receive BULK_BYTES */
	M_BULK_ZC,	     /* the same, zero-copy at both ends (ism only) */
	M_RTT_NOSPIN,	     /* M_RTT, spinning off (ism only) */
	M_RTT_LOADED,	     /* M_RTT beside a busy process */
	M_RTT_ONECPU,	     /* M_RTT, both processes on one CPU */
	M_RTT_NOSPIN_ONECPU, /* M_RTT_NOSPIN, both on one CPU (ism only) */
};

struct job {
	int t;
	enum mode mode;
	uint16_t port;
};

static bool bulk_mode(enum mode m)
{
	return m == M_BULK || m == M_BULK_ZC;
}

static uint32_t spin_of(enum mode m)
{
	return m == M_RTT_NOSPIN || m == M_RTT_NOSPIN_ONECPU ? ISM_CHAN_NO_SPIN
							     : 0;
}

static bool onecpu_mode(enum mode m)
{
	return m == M_RTT_ONECPU || m == M_RTT_NOSPIN_ONECPU;
}

/* What the child reports after a bulk receive. */
struct bulk_rep {
	uint64_t t_end, cpu;
};

static int child_connect(const struct job *j, struct ism_conn **c,
			 struct end *e)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .ring_size = RING,
				     .spin_us = spin_of(j->mode) };
	char port[8];

	e->s = NULL;
	e->fd = -1;
	snprintf(port, sizeof(port), "%u", j->port);
	switch (j->t) {
	case T_ISM:
	case T_FALLBACK:
		if (j->t == T_FALLBACK)
			o.flags = ISM_STREAM_TCP_ONLY;
		else if (ism_conn_open(sock_path, NULL, c) < 0)
			return -1;
		return ism_stream_connect(*c, "127.0.0.1", port, &o, &e->s) < 0
			       ? -1
			       : 0;
	case T_TCP:
		e->fd = bench_tcp_connect(j->port);
		if (e->fd >= 0)
			nodelay(e->fd);
		return e->fd < 0 ? -1 : 0;
	default: {
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		memcpy(a.sun_path, unix_path, sizeof(a.sun_path));
		e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (e->fd < 0 ||
		    connect(e->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
		return 0;
	}
	}
}

static int child(int ctl, void *arg)
{
	const struct job *j = arg;
	struct ism_conn *c = NULL;
	uint8_t *b = bench_buffer(BULK_SIZE);
	struct end e;
	int rc = 1;

	if (onecpu_mode(j->mode))
		bench_pin(0); /* beside the parent */
	if (!b || child_connect(j, &c, &e) < 0)
		return 2;
	if (!bulk_mode(j->mode)) {
		for (int i = 0; i < RTT_N; i++)
			if (end_recv(&e, b, MSG) < 0 ||
			    end_send(&e, b, MSG) < 0)
				goto out;
	} else {
		struct bulk_rep rep;
		uint64_t c0 = cpu_ns();

		if (j->mode == M_BULK_ZC) {
			if (zc_sink(e.s, BULK_BYTES) < 0)
				goto out;
		} else {
			for (uint64_t got = 0; got < BULK_BYTES;
			     got += BULK_SIZE)
				if (end_recv(&e, b, BULK_SIZE) < 0)
					goto out;
		}
		rep.t_end = bench_now();
		rep.cpu = cpu_ns() - c0;
		if (bench_put(ctl, &rep, sizeof(rep)) < 0)
			goto out;
	}
	rc = 0;
out:
	end_close(&e);
	ism_conn_close(c);
	free(b);
	return rc;
}

/* ---- the parent: listens, accepts, drives ---- */

struct meas {
	double p50_us, p99_us, gbps, cpu_s_per_gib;
	int path;
};

/* Listen for @t; the port (TCP kinds) goes into the job. */
static int listen_for(int t, struct ism_conn *c, struct job *j,
		      struct ism_stream_listener **l, int *lfd)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .ring_size = RING,
				     .spin_us = spin_of(j->mode) };

	*l = NULL;
	*lfd = -1;
	if (t == T_ISM || t == T_FALLBACK) {
		if (t == T_FALLBACK)
			o.flags = ISM_STREAM_TCP_ONLY;
		if (ism_stream_listen(t == T_ISM ? c : NULL, "127.0.0.1", "0",
				      &o, l) < 0)
			return -1;
		j->port = (uint16_t)ism_stream_listener_port(*l);
		return 0;
	}
	if (t == T_TCP) {
		*lfd = bench_tcp_listen(&j->port);
		return *lfd < 0 ? -1 : 0;
	}
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		memcpy(a.sun_path, unix_path, sizeof(a.sun_path));
		unlink(unix_path);
		*lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*lfd < 0 ||
		    bind(*lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(*lfd, 4) < 0)
			return -1;
		return 0;
	}
}

/* A process busy on any CPU (the third one competing for the two):
 * killed and reaped by hog_stop(). */
static pid_t hog_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		volatile uint64_t x = 0;
		cpu_set_t all;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Any CPU, not the one our parent is pinned to. */
		CPU_ZERO(&all);
		for (int i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &all);
		sched_setaffinity(0, sizeof(all), &all);
		for (;;)
			x++;
	}
	return pid;
}

static void hog_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int run(int t, enum mode mode, struct ism_conn *c, struct meas *m)
{
	struct job j = { .t = t, .mode = mode };
	struct ism_stream_listener *l;
	struct bench_child ch;
	struct end e = { NULL, -1 };
	uint8_t *b = bench_buffer(BULK_SIZE);
	pid_t hog = -1;
	int lfd, fail = 0;

	if (!b || listen_for(t, c, &j, &l, &lfd) < 0 ||
	    bench_spawn(&ch, child, &j) < 0) {
		free(b);
		return -1;
	}
	if (l)
		fail = ism_stream_accept(l, &e.s, 0) < 0;
	else if ((e.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		fail = 1;
	else if (t == T_TCP)
		nodelay(e.fd);
	if (!fail && e.s)
		m->path = ism_stream_path(e.s, NULL);
	if (!fail && mode == M_RTT_LOADED && (hog = hog_start()) < 0)
		fail = 1;
	if (!fail && !bulk_mode(mode)) {
		struct samples s;

		samples_init(&s, RTT_N);
		for (int i = 0; i < RTT_N && !fail; i++) {
			uint64_t t0 = bench_now();

			fail = end_send(&e, b, MSG) < 0 ||
			       end_recv(&e, b, MSG) < 0;
			samples_add(&s, bench_now() - t0);
		}
		m->p50_us = samples_pct(&s, 50) / 1e3;
		m->p99_us = samples_pct(&s, 99) / 1e3;
		samples_free(&s);
	} else if (!fail) {
		struct bulk_rep rep;
		uint64_t t0 = bench_now(), c0 = cpu_ns();

		for (uint64_t done = 0; done < BULK_BYTES && !fail;
		     done += BULK_SIZE)
			fail = mode == M_BULK_ZC
				       ? zc_send(e.s, b, BULK_SIZE) < 0
				       : end_send(&e, b, BULK_SIZE) < 0;
		if (!fail && bench_get(ch.ctl, &rep, sizeof(rep)) < 0)
			fail = 1;
		if (!fail) {
			double gib = (double)BULK_BYTES / (double)(1ull << 30);

			m->gbps = (double)BULK_BYTES / (double)(rep.t_end - t0);
			m->cpu_s_per_gib =
				(double)(cpu_ns() - c0 + rep.cpu) / 1e9 / gib;
		}
	}
	hog_stop(hog);
	end_close(&e);
	if (l)
		ism_stream_listener_close(l);
	if (lfd >= 0)
		close(lfd);
	free(b);
	if (bench_reap(&ch) < 0)
		fail = 1;
	return fail ? -1 : 0;
}

/* ---- the sleeping floor: shared memory and the cheapest doorbell ---- */

/* The floor is the better of the first two; FL_SEQPACKET is the doorbell
 * ism rings (a one-byte packet on a SEQPACKET socket, chosen for what a
 * hostile peer cannot do to it: docs/architecture.md), bare. */
enum floor_kind { FL_EVENTFD, FL_FUTEX, FL_SEQPACKET, FL_COUNT };

/* One direction: its sequence number (the futex word) and its message;
 * the receiver's flag that it sleeps (or is about to) on a line of its
 * own, as ism's wake word is. */
struct floor_dir {
	_Atomic uint32_t seq __attribute__((aligned(64)));
	uint8_t msg[MSG];
	_Atomic uint32_t asleep __attribute__((aligned(64)));
};

struct floor_job {
	enum floor_kind kind;
	bool onecpu;
	struct floor_dir *d; /* [0]: to the child, [1]: back (shared) */
	/* Per direction, the fd rung and the fd slept on (FL_EVENTFD: one
	 * eventfd; FL_SEQPACKET: the two ends of a socket pair). */
	int tx[2], rx[2];
	pid_t child; /* in the parent */
};

/*
 * A dead child must not leave the parent asleep for ever.  While a floor
 * runs, the parent's SIGCHLD handler looks whether the child is gone and
 * if so rings the doorbell the parent sleeps on, unconditionally, in a
 * way a sleep that starts later still sees (a count, a packet, the futex
 * word's FLOOR_GONE bit flipped); the parent's wait looks at floor_gone
 * before each sleep.  (A child gone after its last reply is no failure:
 * that reply is still there, under the flipped bit.)
 */
#define FLOOR_GONE (1u << 31)
static struct floor_job *volatile floor_cur;
static volatile sig_atomic_t floor_gone;

static bool floor_child_gone(const struct floor_job *j)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)j->child, &si, WEXITED | WNOHANG | WNOWAIT) <
		       0 ||
	       si.si_pid == j->child;
}

static void floor_on_sigchld(int sig)
{
	struct floor_job *j = floor_cur;
	uint64_t one = 1;
	int e = errno;

	(void)sig;
	if (!j || floor_gone || !floor_child_gone(j))
		return;
	floor_gone = 1;
	atomic_fetch_xor(&j->d[1].seq, FLOOR_GONE);
	if (j->kind == FL_EVENTFD)
		(void)!write(j->tx[1], &one, sizeof(one));
	else if (j->kind == FL_SEQPACKET)
		(void)!send(j->tx[1], "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		syscall(SYS_futex, &j->d[1].seq, FUTEX_WAKE, 1, NULL, NULL, 0);
	errno = e;
}

/* Publish @seq on @dir and ring its doorbell if the receiver sleeps:
 * one ring per sleep, as ism kicks only an armed ring.  (Dekker: the
 * store of seq and the look at the flag, like the receiver's store of
 * the flag and its look at seq, are sequentially consistent: one of the
 * two sees the other's.)  0 or -1. */
static int floor_ring(struct floor_job *j, int dir, uint32_t seq)
{
	atomic_store(&j->d[dir].seq, seq);
	if (!atomic_exchange(&j->d[dir].asleep, 0))
		return 0;
	if (j->kind == FL_EVENTFD) {
		uint64_t one = 1;

		return write(j->tx[dir], &one, sizeof(one)) == sizeof(one) ? 0
									   : -1;
	}
	if (j->kind == FL_SEQPACKET)
		return send(j->tx[dir], "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL) ==
				       1
			       ? 0
			       : -1;
	return syscall(SYS_futex, &j->d[dir].seq, FUTEX_WAKE, 1, NULL, NULL,
		       0) < 0
		       ? -1
		       : 0;
}

/* Sleep in the kernel until @dir carries @seq.  0 or -1. */
static int floor_wait(struct floor_job *j, int dir, uint32_t seq)
{
	for (;;) {
		uint32_t cur = atomic_load_explicit(&j->d[dir].seq,
						    memory_order_acquire);
		long r;

		if ((cur & ~FLOOR_GONE) == seq)
			return 0;
		if (floor_gone)
			return -1;
		atomic_store(&j->d[dir].asleep, 1);
		if ((atomic_load(&j->d[dir].seq) & ~FLOOR_GONE) == seq) {
			/* Came meanwhile.  If its sender took the flag, its
			 * ring is a spare count or packet, or a wake of
			 * nobody (futex): the next wait takes it and looks
			 * again. */
			atomic_exchange(&j->d[dir].asleep, 0);
			return 0;
		}
		if (j->kind == FL_EVENTFD) {
			uint64_t v;

			r = read(j->rx[dir], &v, sizeof(v));
		} else if (j->kind == FL_SEQPACKET) {
			char k;

			r = recv(j->rx[dir], &k, 1, 0);
			if (r == 0)
				return -1; /* its end closed */
		} else {
			r = syscall(SYS_futex, &j->d[dir].seq, FUTEX_WAIT, cur,
				    NULL, NULL, 0);
		}
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

/* The child: echo every message back. */
static int floor_child(int ctl, void *arg)
{
	struct floor_job *j = arg;

	(void)ctl;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (j->onecpu)
		bench_pin(0); /* beside the parent */
	for (uint32_t i = 1; i <= RTT_N; i++) {
		if (floor_wait(j, 0, i) < 0)
			return 1;
		memcpy(j->d[1].msg, j->d[0].msg, MSG);
		if (floor_ring(j, 1, i) < 0)
			return 1;
	}
	return 0;
}

/* RTT_N round trips on the floor of @kind: p50 and p99 into @m. */
static int floor_rtt(enum floor_kind kind, bool onecpu, struct meas *m)
{
	struct floor_job j = { .kind = kind,
			       .onecpu = onecpu,
			       .tx = { -1, -1 },
			       .rx = { -1, -1 } };
	struct sigaction sa = { .sa_handler = floor_on_sigchld }, old;
	struct bench_child ch;
	struct samples s;
	uint8_t b[MSG];
	int fail = 0;

	memset(b, 0x5a, sizeof(b));
	j.d = mmap(NULL, 2 * sizeof(*j.d), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (j.d == MAP_FAILED)
		return -1;
	for (int k = 0; k < 2 && !fail; k++) {
		int sv[2];

		if (kind == FL_EVENTFD) {
			j.tx[k] = j.rx[k] = eventfd(0, EFD_CLOEXEC);
			fail = j.tx[k] < 0;
		} else if (kind == FL_SEQPACKET) {
			fail = socketpair(AF_UNIX,
					  SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
					  sv) < 0;
			j.tx[k] = fail ? -1 : sv[0];
			j.rx[k] = fail ? -1 : sv[1];
		}
	}
	floor_gone = 0;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (!fail && sigaction(SIGCHLD, &sa, &old) < 0)
		fail = 1;
	if (!fail && bench_spawn(&ch, floor_child, &j) < 0) {
		sigaction(SIGCHLD, &old, NULL);
		fail = 1;
	}
	if (!fail) {
		j.child = ch.pid;
		floor_cur = &j;
		/* Gone before the handler knew it: nobody waits yet. */
		if (floor_child_gone(&j))
			floor_gone = 1;
		samples_init(&s, RTT_N);
		for (uint32_t i = 1; i <= RTT_N && !fail; i++) {
			uint64_t t0 = bench_now();

			memcpy(j.d[0].msg, b, MSG);
			fail = floor_ring(&j, 0, i) < 0 ||
			       floor_wait(&j, 1, i) < 0;
			memcpy(b, j.d[1].msg, MSG);
			samples_add(&s, bench_now() - t0);
		}
		m->p50_us = samples_pct(&s, 50) / 1e3;
		m->p99_us = samples_pct(&s, 99) / 1e3;
		samples_free(&s);
		if (fail)
			kill(ch.pid, SIGKILL);
		sigaction(SIGCHLD, &old, NULL);
		floor_cur = NULL;
		if (bench_reap(&ch) < 0)
			fail = 1;
	}
	for (int k = 0; k < 2; k++) {
		if (j.rx[k] >= 0 && j.rx[k] != j.tx[k])
			close(j.rx[k]);
		if (j.tx[k] >= 0)
			close(j.tx[k]);
	}
	munmap(j.d, 2 * sizeof(*j.d));
	return fail ? -1 : 0;
}

enum {
	F_RTT50,
	F_RTT99 = F_RTT50 + T_COUNT,
	F_GBPS = F_RTT99 + T_COUNT,
	F_CPU = F_GBPS + T_COUNT,
	F_BARE = F_CPU + T_COUNT,
	F_BARE_ZC,
	F_ZC_GBPS,
	F_ZC_CPU,
	F_NOSPIN50,
	F_NOSPIN99,
	F_LOADED50_ISM,
	F_LOADED50_TCP,
	F_LOADED99_ISM,
	F_LOADED99_TCP,
	F_FLOOR50, /* per kind (enum floor_kind) */
	F_FLOOR99 = F_FLOOR50 + FL_COUNT,
	F_FLOOR_BEST = F_FLOOR99 + FL_COUNT, /* eventfd's or futex's, lower */
	F_ONE_TCP,
	F_ONE_NOSPIN,
	F_ONE_FLOOR, /* per kind */
	F_ONE_FLOOR_BEST = F_ONE_FLOOR + FL_COUNT,
	F_COUNT
};

static struct bench_fig fig[F_COUNT] = {
	[F_BARE] = { "throughput64k_gbps_bare_ring", "GB/s" },
	[F_BARE_ZC] = { "throughput64k_gbps_bare_zc", "GB/s" },
	[F_ZC_GBPS] = { "throughput64k_gbps_ism_zc", "GB/s" },
	[F_ZC_CPU] = { "cpu_s_per_gib_ism_zc", "CPU s/GiB" },
	[F_NOSPIN50] = { "rtt64_p50_us_ism_nospin", "us" },
	[F_NOSPIN99] = { "rtt64_p99_us_ism_nospin", "us" },
	[F_LOADED50_ISM] = { "rtt64_p50_us_ism_loaded", "us" },
	[F_LOADED50_TCP] = { "rtt64_p50_us_tcp_loaded", "us" },
	[F_LOADED99_ISM] = { "rtt64_p99_us_ism_loaded", "us" },
	[F_LOADED99_TCP] = { "rtt64_p99_us_tcp_loaded", "us" },
	[F_FLOOR50 + FL_EVENTFD] = { "rtt64_p50_us_eventfd_sleep", "us" },
	[F_FLOOR50 + FL_FUTEX] = { "rtt64_p50_us_futex_sleep", "us" },
	[F_FLOOR50 + FL_SEQPACKET] = { "rtt64_p50_us_seqpacket_sleep", "us" },
	[F_FLOOR99 + FL_EVENTFD] = { "rtt64_p99_us_eventfd_sleep", "us" },
	[F_FLOOR99 + FL_FUTEX] = { "rtt64_p99_us_futex_sleep", "us" },
	[F_FLOOR99 + FL_SEQPACKET] = { "rtt64_p99_us_seqpacket_sleep", "us" },
	[F_FLOOR_BEST] = { "rtt64_p50_us_sleep_floor", "us" },
	[F_ONE_TCP] = { "rtt64_p50_us_tcp_onecpu", "us" },
	[F_ONE_NOSPIN] = { "rtt64_p50_us_ism_nospin_onecpu", "us" },
	[F_ONE_FLOOR +
		FL_EVENTFD] = { "rtt64_p50_us_eventfd_sleep_onecpu", "us" },
	[F_ONE_FLOOR + FL_FUTEX] = { "rtt64_p50_us_futex_sleep_onecpu", "us" },
	[F_ONE_FLOOR +
		FL_SEQPACKET] = { "rtt64_p50_us_seqpacket_sleep_onecpu", "us" },
	[F_ONE_FLOOR_BEST] = { "rtt64_p50_us_sleep_floor_onecpu", "us" },
};
static char fig_names[F_COUNT][BENCH_FIG_NAME];

static const struct bench_ratio ratios[] = {
	{ "rtt64_vs_tcp", F_RTT50 + T_ISM, F_RTT50 + T_TCP,
	  "ism / TCP 64-byte round trip p50 (target <= 0.4)" },
	{ "throughput64k_vs_tcp", F_GBPS + T_ISM, F_GBPS + T_TCP,
	  "ism / TCP GB/s, 64 KiB writes (target >= 5)" },
	{ "cpu_per_gib_vs_tcp", F_CPU + T_ISM, F_CPU + T_TCP,
	  "ism / TCP CPU seconds per GiB, both sides (target <= 0.4)" },
	{ "fallback_vs_tcp", F_GBPS + T_FALLBACK, F_GBPS + T_TCP,
	  "ism stream on TCP / raw TCP GB/s (target >= 0.9)" },
	{ "rtt64_p99_vs_tcp", F_RTT99 + T_ISM, F_RTT99 + T_TCP,
	  "ism / TCP 64-byte round trip p99" },
	{ "rtt64_vs_unix", F_RTT50 + T_ISM, F_RTT50 + T_UNIX,
	  "ism / AF_UNIX 64-byte round trip p50" },
	{ "throughput64k_vs_unix", F_GBPS + T_ISM, F_GBPS + T_UNIX,
	  "ism / AF_UNIX GB/s, 64 KiB writes" },
	{ "cpu_per_gib_vs_unix", F_CPU + T_ISM, F_CPU + T_UNIX,
	  "ism / AF_UNIX CPU seconds per GiB" },
	{ "fallback_rtt64_vs_tcp", F_RTT50 + T_FALLBACK, F_RTT50 + T_TCP,
	  "ism stream on TCP / raw TCP round trip p50" },
	{ "throughput64k_vs_bare_ring", F_GBPS + T_ISM, F_BARE,
	  "ism / a bare shared-memory ring doing the same two copies" },
	{ "bare_ring_vs_tcp", F_BARE, F_GBPS + T_TCP,
	  "bare ring / TCP: the most any two-copy path gets over TCP here" },
	{ "throughput64k_zc_vs_tcp", F_ZC_GBPS, F_GBPS + T_TCP,
	  "ism zero-copy / TCP GB/s, 64 KiB (target >= 10)" },
	{ "throughput64k_zc_vs_copy", F_ZC_GBPS, F_GBPS + T_ISM,
	  "ism zero-copy / ism copying GB/s" },
	{ "throughput64k_zc_vs_bare_zc", F_ZC_GBPS, F_BARE_ZC,
	  "ism zero-copy / a bare ring copying in once, reading in place" },
	{ "bare_zc_vs_tcp", F_BARE_ZC, F_GBPS + T_TCP,
	  "a bare ring copying in once, reading in place / TCP GB/s" },
	{ "cpu_per_gib_zc_vs_tcp", F_ZC_CPU, F_CPU + T_TCP,
	  "ism zero-copy / TCP CPU seconds per GiB" },
	{ "rtt64_nospin_vs_tcp", F_NOSPIN50, F_RTT50 + T_TCP,
	  "ism with spinning off / TCP round trip p50 (target <= 0.7)" },
	{ "rtt64_loaded_vs_tcp", F_LOADED50_ISM, F_LOADED50_TCP,
	  "ism / TCP round trip p50 beside a busy process (target <= 1)" },
	{ "rtt64_loaded_p99_vs_tcp", F_LOADED99_ISM, F_LOADED99_TCP,
	  "ism / TCP round trip p99 beside a busy process" },
	{ "rtt64_sleep_floor_vs_tcp", F_FLOOR_BEST, F_RTT50 + T_TCP,
	  "best sleeping doorbell (eventfd, futex) / TCP p50: no sleeper beats "
	  "it" },
	{ "rtt64_nospin_vs_floor", F_NOSPIN50, F_FLOOR_BEST,
	  "ism with spinning off / that sleeping floor, round trip p50" },
	{ "rtt64_seqpacket_vs_floor", F_FLOOR50 + FL_SEQPACKET, F_FLOOR_BEST,
	  "ism's doorbell (SEQPACKET), bare / the sleeping floor" },
	{ "rtt64_nospin_vs_seqpacket", F_NOSPIN50, F_FLOOR50 + FL_SEQPACKET,
	  "ism with spinning off / its own doorbell, bare" },
	{ "rtt64_nospin_vs_tcp_onecpu", F_ONE_NOSPIN, F_ONE_TCP,
	  "the same as rtt64_nospin_vs_tcp, both processes on one CPU" },
	{ "rtt64_sleep_floor_vs_tcp_onecpu", F_ONE_FLOOR_BEST, F_ONE_TCP,
	  "the same as rtt64_sleep_floor_vs_tcp, both on one CPU" },
	{ "rtt64_nospin_vs_floor_onecpu", F_ONE_NOSPIN, F_ONE_FLOOR_BEST,
	  "the same as rtt64_nospin_vs_floor, both on one CPU" },
};

static double min2(double a, double b)
{
	return a < 0 || b < 0 ? -1 : a < b ? a : b;
}

/* Round @r's floors, on two CPUs or on one (@onecpu: also TCP and ism
 * with spinning off there). */
static void floor_round(struct ism_conn *c, unsigned r, bool onecpu,
			double (*v)[BENCH_MAX_ROUNDS])
{
	int f50 = onecpu ? F_ONE_FLOOR : F_FLOOR50;
	struct meas t = { 0 }, n = { 0 };

	for (int k = 0; k < FL_COUNT; k++) {
		struct meas f = { 0 };
		bool ok = floor_rtt(k, onecpu, &f) == 0;

		v[f50 + k][r] = ok ? f.p50_us : -1;
		if (!onecpu)
			v[F_FLOOR99 + k][r] = ok ? f.p99_us : -1;
	}
	v[onecpu ? F_ONE_FLOOR_BEST : F_FLOOR_BEST][r] =
		min2(v[f50 + FL_EVENTFD][r], v[f50 + FL_FUTEX][r]);
	if (!onecpu)
		return;
	v[F_ONE_TCP][r] = run(T_TCP, M_RTT_ONECPU, c, &t) == 0 ? t.p50_us : -1;
	v[F_ONE_NOSPIN][r] =
		run(T_ISM, M_RTT_NOSPIN_ONECPU, c, &n) == 0 ? n.p50_us : -1;
}

int bench_stream(const struct bench_opts *o)
{
	static double v[F_COUNT][BENCH_MAX_ROUNDS];
	unsigned rounds = bench_rounds(o, 5);
	struct ism_private d;
	struct ism_conn *c = NULL;
	int rc = 1;

	{
		static const char *const what[4] = { "rtt64_p50_us",
						     "rtt64_p99_us",
						     "throughput64k_gbps",
						     "cpu_s_per_gib" };
		static const char *const unit[4] = { "us", "us", "GB/s",
						     "CPU s/GiB" };

		bench_fig_grid(fig, fig_names, what, unit, 4, t_name, T_COUNT);
	}
	bench_cpus_note();
	if (bench_ismd_start(&d, o) < 0)
		return 1;
	sock_path = d.sock;
	snprintf(unix_path, sizeof(unix_path), "%s.bench-unix", d.sock);
	if (ism_conn_open(sock_path, NULL, &c) < 0)
		goto out;
	for (unsigned r = 0; r < rounds; r++) {
		if (!o->json)
			fprintf(stderr, "stream: round %u of %u\n", r + 1,
				rounds);
		for (int t = 0; t < T_COUNT; t++) {
			struct meas m = { 0 };
			bool ok = run(t, M_RTT, c, &m) == 0 &&
				  run(t, M_BULK, c, &m) == 0;

			if (ok && t == T_ISM && m.path != ISM_STREAM_SHM) {
				fprintf(stderr, "ism-bench: the ism stream is "
						"not on shared memory\n");
				ok = false;
			}
			v[F_RTT50 + t][r] = ok ? m.p50_us : -1;
			v[F_RTT99 + t][r] = ok ? m.p99_us : -1;
			v[F_GBPS + t][r] = ok ? m.gbps : -1;
			v[F_CPU + t][r] = ok ? m.cpu_s_per_gib : -1;
		}
		v[F_BARE][r] =
			bench_bare_bulk_gbps(BULK_SIZE, RING, BULK_BYTES);
		{
			struct meas z = { 0 }, n = { 0 }, li = { 0 },
				    lt = { 0 };
			bool okz = run(T_ISM, M_BULK_ZC, c, &z) == 0;
			/* The bare zero-copy ring and the floors: each right
			 * after what it is compared with. */
			double bzc = bench_bare_bulk_zc_gbps(BULK_SIZE, RING,
							     BULK_BYTES);
			bool okn = run(T_ISM, M_RTT_NOSPIN, c, &n) == 0;
			bool okl;

			floor_round(c, r, false, v);
			okl = run(T_ISM, M_RTT_LOADED, c, &li) == 0 &&
			      run(T_TCP, M_RTT_LOADED, c, &lt) == 0;

			v[F_BARE_ZC][r] = bzc;
			v[F_ZC_GBPS][r] = okz ? z.gbps : -1;
			v[F_ZC_CPU][r] = okz ? z.cpu_s_per_gib : -1;
			v[F_NOSPIN50][r] = okn ? n.p50_us : -1;
			v[F_NOSPIN99][r] = okn ? n.p99_us : -1;
			v[F_LOADED50_ISM][r] = okl ? li.p50_us : -1;
			v[F_LOADED50_TCP][r] = okl ? lt.p50_us : -1;
			v[F_LOADED99_ISM][r] = okl ? li.p99_us : -1;
			v[F_LOADED99_TCP][r] = okl ? lt.p99_us : -1;
		}
		floor_round(c, r, true, v);
	}
	if (bench_report("stream", v, fig, F_COUNT, ratios,
			 (int)(sizeof(ratios) / sizeof(ratios[0])), rounds) < 0)
		goto out;
	result_note("medians of %u rounds (ratios: of per-round ratios), "
		    "[lowest .. highest round]; CPUs 0 and 1 (_onecpu: both "
		    "on 0); %d round trips "
		    "and 1 GiB per transport per round; ism rings %u KiB "
		    "(the default), spin %u us (the default)",
		    rounds, RTT_N, RING >> 10, ISM_SPIN_US_DEFAULT);
	result_end(o->json);
	rc = 0;
out:
	ism_conn_close(c);
	unlink(unix_path);
	ism_private_stop(&d, 1);
	return rc;
}
