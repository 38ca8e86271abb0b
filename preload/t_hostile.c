/* SPDX-License-Identifier: MIT */
/*
 * t_hostile - plain-sockets programs that do what hostile or careless
 * programs do, for test_preload.py to run under ism-run: the shim must
 * keep every byte or report a clean error, never hang or crash them.
 *
 *   t_hostile server MODE      listen on 127.0.0.1 (free port, first line
 *                              on stdout), a thread per connection, until
 *                              stdin closes and every connection is done;
 *                              then "end served N errors E fds F" (F: open
 *                              fds now minus at start)
 *       echo    echo every byte back until EOF
 *       sink    read to EOF or an error, checking the bytes: one line per
 *               connection "sink BYTES pattern|records P C ok|bad END"
 *               (records: 4 KiB records from two writers, P and C of each,
 *               each writer's in order; END: eof or an errno name)
 *       source  write the pattern until a write fails: "source SENT END"
 *   t_hostile client MODE PORT [ARGS]
 *       closepoll N   N rounds: connect, send a byte, and close the fd
 *                     while another thread waits on it (poll, a blocking
 *                     read, or epoll_wait, in turn); the waiter must
 *                     return (every kind of return is fine)
 *       forkwrite both|child
 *                     connect, fork, both processes write 100 records on
 *                     the one connection with MSG_NOSIGNAL (child: the
 *                     parent starts once the child wrote one); prints
 *                     "P n e" and "C n e" (records written, first error)
 *       many N PAR    N connections, PAR at a time, each 1000 bytes echoed
 *                     and compared
 *       send FILE     write the pattern for ever, storing the byte count
 *                     written so far in FILE (8 bytes, mmap) after each
 *                     write: to be killed
 *       recv FILE     read and check the pattern for ever, the count in
 *                     FILE: to be killed
 *
 * Exit: 0 ok, 1 a wrong byte, a hang or a failed call (a line on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define REC	  4096
#define NREC	  100
#define REC_MAGIC 0x31434552u /* "REC1" */
#define CHUNK	  65536

static void die(const char *what)
{
	fprintf(stderr, "t_hostile[%d]: %s: %s\n", (int)getpid(), what,
		strerror(errno));
	exit(1);
}

static unsigned char pat(uint64_t i)
{
	return (unsigned char)((i * 7u + (i >> 9)) & 0xff);
}

static int nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* ---- server ---- */

static const char *mode;
static atomic_int served, errors, active;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void rec_fill(uint8_t *r, uint32_t who, uint32_t seq)
{
	uint32_t h[3] = { REC_MAGIC, who, seq };

	for (int i = 0; i < REC; i++)
		r[i] = (uint8_t)(who * 131u + seq + (unsigned)i);
	memcpy(r, h, sizeof(h));
}

static void serve_echo(int fd)
{
	uint8_t b[16384];

	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n < 0 || write_all(fd, b, (size_t)n) < 0) {
			atomic_fetch_add(&errors, 1);
			break;
		}
	}
}

static void serve_sink(int fd)
{
	static _Thread_local uint8_t b[REC * 4];
	uint64_t total = 0;
	uint32_t next[2] = { 0, 0 };
	size_t have = 0;
	int recs = -1, ok = 1;
	const char *end = "eof";

	for (;;) {
		ssize_t n = read(fd, b + have, sizeof(b) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			end = strerrorname_np(errno);
			break;
		}
		if (n == 0)
			break;
		if (recs < 0) /* records start with their magic */
			recs = have + (size_t)n >= 4 && b[0] == 'R' &&
			       b[1] == 'E' && b[2] == 'C' && b[3] == '1';
		if (!recs) {
			for (ssize_t i = 0; i < n; i++)
				if (b[i] != pat(total + (uint64_t)i))
					ok = 0;
			total += (uint64_t)n;
			continue;
		}
		have += (size_t)n;
		total += (uint64_t)n;
		while (have >= REC) {
			uint8_t want[REC];
			uint32_t h[3];

			memcpy(h, b, sizeof(h));
			if (h[0] != REC_MAGIC || h[1] > 1 ||
			    h[2] != next[h[1]]) {
				ok = 0;
			} else {
				rec_fill(want, h[1], h[2]);
				if (memcmp(want, b, REC))
					ok = 0;
				next[h[1]]++;
			}
			memmove(b, b + REC, have - REC);
			have -= REC;
		}
	}
	if (have)
		ok = 0; /* a torn record */
	say("sink %llu %s %u %u %s %s\n", (unsigned long long)total,
	    recs > 0 ? "records" : "pattern", next[0], next[1],
	    ok ? "ok" : "bad", end);
}

static void serve_source(int fd)
{
	uint8_t b[CHUNK];
	uint64_t sent = 0;

	for (;;) {
		ssize_t n;

		for (int i = 0; i < CHUNK; i++)
			b[i] = pat(sent + (uint64_t)i);
		n = send(fd, b, sizeof(b), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sent += (uint64_t)n;
		/* (a partial send: the next chunk starts where it ended) */
	}
	say("source %llu %s\n", (unsigned long long)sent,
	    strerrorname_np(errno));
}

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;

	if (!strcmp(mode, "echo"))
		serve_echo(fd);
	else if (!strcmp(mode, "sink"))
		serve_sink(fd);
	else
		serve_source(fd);
	close(fd);
	atomic_fetch_add(&served, 1);
	atomic_fetch_sub(&active, 1);
	return NULL;
}

static int base_fds;

static void *stdin_thread(void *arg)
{
	char c;

	(void)arg;
	while (read(0, &c, 1) > 0)
		;
	/* Connections still being served (a handshake that waits for its
	 * time) finish first, for at most 30 s. */
	for (int i = 0; i < 3000 && atomic_load(&active); i++) {
		struct timespec ms = { 0, 10000000 };

		nanosleep(&ms, NULL);
	}
	/* (and what they held settles: up to 5 s more) */
	for (int i = 0; i < 500 && nfds() != base_fds; i++) {
		struct timespec ms = { 0, 10000000 };

		nanosleep(&ms, NULL);
	}
	/* Every connection thread is done by now (the test waits for
	 * its clients): what is open beyond the start is a leak. */
	say("end served %d errors %d fds %d\n", atomic_load(&served),
	    atomic_load(&errors), nfds() - base_fds);
	if (nfds() != base_fds)
		/* what is left, for the test to show */
		(void)!system("ls -l /proc/$PPID/fd | sed 's/^/lsfd /'");
	exit(0);
}

static __attribute__((noreturn)) void server(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	pthread_attr_t at;
	pthread_t t;
	int l;

	signal(SIGPIPE, SIG_IGN);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 256) < 0)
		die("listen");
	if (getsockname(l, (struct sockaddr *)&a, &al) < 0)
		die("getsockname");
	base_fds = nfds();
	say("%d\n", ntohs(a.sin_port));
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 << 10);
	if (pthread_create(&t, &at, stdin_thread, NULL))
		die("pthread_create");
	for (;;) {
		int fd = accept(l, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		atomic_fetch_add(&active, 1);
		if (pthread_create(&t, &at, conn_thread, (void *)(intptr_t)fd))
			die("pthread_create");
	}
}

/* ---- clients ---- */

struct waiter {
	int fd, kind;
	atomic_int done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	char c;

	if (w->kind == 0) {
		struct pollfd p = { .fd = w->fd, .events = POLLIN };

		(void)poll(&p, 1, -1);
	} else if (w->kind == 1) {
		(void)!read(w->fd, &c, 1);
	} else {
		/* The kernel drops the registration with the last close:
		 * a wait that starts after it would never end. */
		struct epoll_event ev = { .events = EPOLLIN };
		int ep = epoll_create1(EPOLL_CLOEXEC);

		if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev) == 0)
			(void)epoll_wait(ep, &ev, 1, 2000);
		if (ep >= 0)
			close(ep);
	}
	atomic_store(&w->done, 1);
	return NULL;
}

static int closepoll(int port, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		struct waiter w = { .kind = i % 3 };
		struct timespec d = { 0, (i * 7919 % 300) * 1000l };
		pthread_t t;
		int k = 0;

		w.fd = connect_to(port);
		if (write_all(w.fd, "x", 1) < 0)
			die("send");
		if (pthread_create(&t, NULL, wait_thread, &w))
			die("pthread_create");
		nanosleep(&d, NULL);
		if (close(w.fd) < 0)
			die("close");
		/* A bounded wait: a waiter that never returns is a hang. */
		while (!atomic_load(&w.done) && k++ < 20000) {
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
		}
		if (!atomic_load(&w.done)) {
			fprintf(stderr,
				"t_hostile: closepoll round %d (%s): "
				"the waiter hangs\n",
				i,
				w.kind == 0   ? "poll"
				: w.kind == 1 ? "read"
					      : "epoll");
			exit(1);
		}
		pthread_join(t, NULL);
	}
	return 0;
}

static int forkwrite(int port, bool child_first)
{
	int fd = connect_to(port), st, go[2];
	pid_t pid;
	char c = 0;

	signal(SIGPIPE, SIG_IGN);
	if (pipe(go) < 0)
		die("pipe");
	if ((pid = fork()) < 0)
		die("fork");
	/* child_first: the parent writes once the child has written one
	 * record (the child's then is the stream, the parent's copy not) */
	if (pid && child_first && read(go[0], &c, 1) != 1)
		die("pipe read");
	{
		uint32_t who = pid == 0 ? 1 : 0;
		uint8_t r[REC];
		int n = 0, e = 0;

		for (uint32_t seq = 0; seq < NREC; seq++) {
			rec_fill(r, who, seq);
			if (write_all(fd, r, REC) < 0) {
				e = errno;
				break;
			}
			if (!n++ && !pid && write(go[1], "g", 1) != 1)
				die("pipe write");
		}
		printf("%c %d %s\n", who ? 'C' : 'P', n,
		       e ? strerrorname_np(e) : "-");
		fflush(stdout);
		close(fd);
		if (pid == 0)
			_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child");
	return 0;
}

struct many_arg {
	int port, n;
	atomic_int *next;
};

static void *many_thread(void *arg)
{
	struct many_arg *m = arg;
	uint8_t out[1000], in[1000];
	int i;

	while ((i = atomic_fetch_add(m->next, 1)) < m->n) {
		int fd = connect_to(m->port);
		size_t got = 0;

		for (int k = 0; k < 1000; k++)
			out[k] = (uint8_t)(i * 31 + k);
		if (write_all(fd, out, sizeof(out)) < 0 ||
		    shutdown(fd, SHUT_WR) < 0)
			die("send");
		for (;;) {
			ssize_t n = read(fd, in + got, sizeof(in) - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("read");
			if (n == 0)
				break;
			got += (size_t)n;
			if (got == sizeof(in)) {
				char c;

				if (read(fd, &c, 1) != 0)
					die("more than was sent");
				break;
			}
		}
		if (got != sizeof(in) || memcmp(in, out, sizeof(in))) {
			fprintf(stderr,
				"t_hostile: connection %d: %zu bytes "
				"back, %s\n",
				i, got, got == sizeof(in) ? "different" : "");
			exit(1);
		}
		close(fd);
	}
	return NULL;
}

static int many(int port, int n, int par)
{
	atomic_int next = 0;
	struct many_arg m = { .port = port, .n = n, .next = &next };
	pthread_t t[256];

	if (par < 1 || par > 256)
		par = 1;
	for (int i = 0; i < par; i++)
		if (pthread_create(&t[i], NULL, many_thread, &m))
			die("pthread_create");
	for (int i = 0; i < par; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static volatile uint64_t *progress(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	void *p;

	if (fd < 0 || ftruncate(fd, 8) < 0)
		die("progress file");
	p = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return p;
}

static __attribute__((noreturn)) void sender(int port, const char *file)
{
	volatile uint64_t *done = progress(file);
	int fd = connect_to(port);
	static uint8_t b[CHUNK];
	uint64_t sent = 0;

	for (;;) {
		ssize_t n;

		for (int i = 0; i < CHUNK; i++)
			b[i] = pat(sent + (uint64_t)i);
		n = send(fd, b, sizeof(b), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send");
		sent += (uint64_t)n;
		*done = sent;
	}
}

static __attribute__((noreturn)) void receiver(int port, const char *file)
{
	volatile uint64_t *done = progress(file);
	int fd = connect_to(port);
	static uint8_t b[CHUNK];
	uint64_t got = 0;

	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != pat(got + (uint64_t)i)) {
				fprintf(stderr, "t_hostile: byte %llu wrong\n",
					(unsigned long long)(got +
							     (uint64_t)i));
				exit(1);
			}
		got += (uint64_t)n;
		*done = got;
		/* slower than the source: the ring stays full */
		if ((got >> 16) % 16 == 0) {
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server")) {
		mode = argv[2];
		if (strcmp(mode, "echo") && strcmp(mode, "sink") &&
		    strcmp(mode, "source"))
			goto usage;
		server();
	}
	if (argc >= 4 && !strcmp(argv[1], "client")) {
		int port = atoi(argv[3]);
		const char *m = argv[2];

		if (!strcmp(m, "closepoll") && argc == 5)
			return closepoll(port, atoi(argv[4]));
		if (!strcmp(m, "forkwrite") && argc == 5)
			return forkwrite(port, !strcmp(argv[4], "child"));
		if (!strcmp(m, "many") && argc == 6)
			return many(port, atoi(argv[4]), atoi(argv[5]));
		if (!strcmp(m, "send") && argc == 5)
			sender(port, argv[4]);
		if (!strcmp(m, "recv") && argc == 5)
			receiver(port, argv[4]);
	}
usage:
	fprintf(stderr, "usage: t_hostile server echo|sink|source\n"
			"       t_hostile client MODE PORT [ARGS]\n");
	return 2;
}
