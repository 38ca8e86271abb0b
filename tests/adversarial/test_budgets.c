/* SPDX-License-Identifier: MIT */
/*
 * What a hostile user can make ismd hold, and what it costs the others
 * (issue 9, items 9, 10, 11, 13, 20 and 21): file descriptors, lingering
 * memory, stream records, list walks, populating on the event loop, and
 * log lines.  The attacker is a stranger (uid 65534, not an
 * administrator: administrators are held to the global caps only); the
 * bystander who must still be served is another uid (65533), and root.
 * Those cases need root to switch uids and are skipped, visibly,
 * otherwise.
 *
 * Each test runs its own ismd; the teardown kills and reaps every process
 * a test started (ismd included) and removes its temp dir, whatever
 * failed.  Nothing here asserts speed: only orderings, and bounds far
 * above what the fixed ismd needs and far below what the old one takes.
 *
 * Against the ismd before the fix (fe3eec8): the EMFILE, lingering
 * memory, list, populate and log tests fail as they stand.  That ismd
 * has no --max-fds nor --max-heap, so the two tests that need those stop
 * at its start; what it did without them is said above each, checked by
 * hand with the option removed.
 *
 * test_fd_budget_one_conn, test_log_churn_hello and test_log_churn_serial
 * also fail against the ismd of 9f8e574: they document what it still gets
 * wrong at the fd share and in its log limiter (see each).
 */
#include "t_daemon.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STRANGER  65534
#define BYSTANDER 65533

/* Far more than ismd needs to answer, far less than what was attacked. */
#define PROMPT_MS 5000
#define MIB	  (1ull << 20)

static uint8_t msg[ISM_WIRE_MAX_MSG];

/* ---- what the teardown cleans up ---- */

static struct ism_private D;
static struct ism_conn *root;
#define MAX_KIDS 8
static pid_t kids[MAX_KIDS];
static int nkids;
/* The test process's own sockets and pipes. */
#define MAX_FDS 256
static int fds[MAX_FDS];
static int nfds;

static int keep_fd(int fd)
{
	assert_true(fd >= 0);
	assert_true(nfds < MAX_FDS);
	fds[nfds++] = fd;
	return fd;
}

static void close_kept(void)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	nfds = 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			t_kill(kids[i], SIGKILL);
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
	nkids = 0;
	close_kept();
	ism_conn_close(root);
	root = NULL;
	if (D.pid > 0)
		t_daemon_stop_within(&D, PROMPT_MS);
	if (D.dir[0])
		t_daemon_cleanup(&D);
	memset(&D, 0, sizeof(D));
	return 0;
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "skipped: needs root to run peers as uids %d and %d\n",
		STRANGER, BYSTANDER);
	return false;
}

static void start(const char *const *args)
{
	int r = t_daemon_start(&D, args);

	if (r < 0)
		fprintf(stderr, "ismd did not start: %s\n", strerror(-r));
	assert_int_equal(r, 0);
}

/* SIGTERM still works: ismd exits (0) within the bound. */
static void stops_promptly(void)
{
	assert_int_equal(t_daemon_stop_within(&D, PROMPT_MS), 0);
	assert_int_equal(t_daemon_cleanup(&D), 0);
	memset(&D, 0, sizeof(D));
}

/* ---- children, as another uid, driven through pipes ---- */

struct kid {
	pid_t pid;
	int to, from; /* our ends */
};

/* Run @fn(@in, @out, @arg) in a child as @uid (0: stay root). */
static void kid_start(struct kid *k, uid_t uid,
		      int (*fn)(int in, int out, void *arg), void *arg)
{
	int down[2], up[2];
	pid_t parent = getpid();

	assert_true(nkids < MAX_KIDS);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		/* Only its own ends: a pipe's reader must see EOF when we
		 * close our end, and no child may hold another's sockets. */
		close_kept();
		close(down[1]);
		close(up[0]);
		if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(90);
		/* After setuid, which clears it: never outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(91);
		_exit(fn(down[0], up[1], arg));
	}
	kids[nkids++] = k->pid;
	close(down[0]);
	close(up[1]);
	k->to = keep_fd(down[1]);
	k->from = keep_fd(up[0]);
}

/* Its exit status (see t_wait). */
static int kid_wait(struct kid *k)
{
	int st = t_wait(k->pid);

	for (int i = 0; i < nkids; i++)
		if (kids[i] == k->pid)
			kids[i] = 0;
	k->pid = 0;
	return st;
}

static int put(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -EIO;
}

/* Read exactly @n bytes within @ms (-1: forever); 0 or -errno. */
static int get(int fd, void *p, size_t n, int ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pf = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pf, 1, ms) <= 0)
			return -ETIMEDOUT;
		r = read(fd, (uint8_t *)p + got, n - got);
		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		got += (size_t)r;
	}
	return 0;
}

static int put64(int fd, int64_t v)
{
	return put(fd, &v, sizeof(v));
}

/* The child's next word, failing the test if none comes in @ms. */
static int64_t hear(struct kid *k, int ms)
{
	int64_t v = 0;

	assert_int_equal(get(k->from, &v, sizeof(v), ms), 0);
	return v;
}

static void tell(struct kid *k, int64_t v)
{
	assert_int_equal(put64(k->to, v), 0);
}

/* Wait for the parent's word (-1 if it is gone). */
static int64_t await(int in)
{
	int64_t v = -1;

	return get(in, &v, sizeof(v), -1) < 0 ? -1 : v;
}

/* ---- raw protocol (no libism on the attacking side) ---- */

static int send_req(int fd, uint16_t type, uint32_t seq,
		    void (*put_fn)(struct ism_wbuf *, const void *),
		    const void *arg, const int *sfds, unsigned n_sfds,
		    int flags)
{
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, msg, sizeof(msg), type, 0, seq, 0);
	if (put_fn)
		put_fn(&b, arg);
	n = ism_proto_end(&b);
	if (n < 0)
		return n;
	return ism_wire_send(fd, msg, (size_t)n, sfds, n_sfds, flags);
}

static void put_hello(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_hello_req(b, a);
}

static void put_alloc(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_alloc_req(b, a);
}

static void put_open(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_stream_open_req(b, a);
}

static void put_list(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_list_req(b, a);
}

/* A new connection, greeted: fd or -errno. */
static int greeted(const char *sock)
{
	int fd = t_raw_connect(sock), r;

	if (fd < 0)
		return fd;
	if ((r = t_raw_hello(fd, NULL)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Receive until a reply (events skipped): its status (0 or a positive
 * errno) or -errno; *@rb is its payload. */
static int reply_in(int fd, uint8_t *buf, size_t cap, struct ism_rbuf *rb,
		    int ms)
{
	for (;;) {
		struct ism_wire_hdr h;
		ssize_t n = t_raw_recv(fd, buf, cap, ms, NULL, NULL);

		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		ism_rbuf_init(rb, buf, (size_t)n);
		if (ism_wire_hdr_get(rb, (size_t)n, &h) < 0)
			return -EBADMSG;
		if (!(h.flags & ISM_WIRE_F_EVENT))
			return (int)h.status;
	}
}

/* HELLO, answered within @ms: its status, or -errno. */
static int hello_within(int fd, int ms)
{
	struct ism_hello_req h = { .min_version = 1, .max_version = 1 };
	int r;

	strcpy(h.name, "raw");
	r = send_req(fd, ISM_MSG_HELLO, 1, put_hello, &h, NULL, 0, 0);
	return r < 0 ? r : t_raw_reply(fd, NULL, NULL, ms);
}

/* ALLOC of @size with @flags: the reply's status, or -errno. */
static int raw_alloc(int fd, uint64_t size, uint32_t flags)
{
	struct ism_alloc_req a = { .size = size,
				   .flags = flags,
				   .max_access = ISM_ACCESS_RO };
	int r = send_req(fd, ISM_MSG_ALLOC, 2, put_alloc, &a, NULL, 0, 0);

	return r < 0 ? r : t_raw_reply(fd, NULL, NULL, PROMPT_MS);
}

/* The same, and the region's id in *@id. */
static int raw_alloc_id(int fd, uint64_t size, uint64_t *id)
{
	static uint8_t buf[512];
	struct ism_alloc_req a = { .size = size, .max_access = ISM_ACCESS_RO };
	struct ism_alloc_rep rep;
	struct ism_rbuf rb;
	int r = send_req(fd, ISM_MSG_ALLOC, 2, put_alloc, &a, NULL, 0, 0);

	if (r < 0 || (r = reply_in(fd, buf, sizeof(buf), &rb, PROMPT_MS)) != 0)
		return r;
	if (ism_proto_get_alloc_rep(&rb, &rep) < 0)
		return -EBADMSG;
	*id = rep.region;
	return 0;
}

static void put_region(struct ism_wbuf *b, const void *a)
{
	ism_proto_put_region_req(b, *(const uint64_t *)a);
}

/* DESTROY: the reply's status, or -errno. */
static int raw_destroy(int fd, uint64_t id)
{
	int r = send_req(fd, ISM_MSG_DESTROY, 4, put_region, &id, NULL, 0, 0);

	return r < 0 ? r : t_raw_reply(fd, NULL, NULL, PROMPT_MS);
}

/* A TCP socket bound to 127.0.0.1:0, as a stream client's. */
static int bound_tcp(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(s);
		return e;
	}
	return s;
}

/* STREAM_OPEN of a client that already chose TCP ("other host"): a record
 * ismd keeps and lists, and nothing else.  Sent, not answered. */
static int send_tcp_record(int fd, int tcp, int flags)
{
	struct ism_stream_open_req o = { .role = ISM_STREAM_CLIENT,
					 .reason = ISM_SR_OTHER_HOST };

	return send_req(fd, ISM_MSG_STREAM_OPEN, 3, put_open, &o, &tcp, 1,
			flags);
}

/* The same with a fresh socket, answered: the status, or -errno. */
static int open_tcp_record(int fd)
{
	int tcp = bound_tcp(), r;

	if (tcp < 0)
		return tcp;
	r = send_tcp_record(fd, tcp, 0);
	close(tcp);
	return r < 0 ? r : t_raw_reply(fd, NULL, NULL, PROMPT_MS);
}

/* STATUS as seen by the test (root: an administrator). */
static void status_of(struct ism_status *st)
{
	struct ism_conn *c = t_connect(&D, "root", ISM_CONN_NO_DOORBELL);

	assert_int_equal(ism_admin_status(c, st), 0);
	ism_conn_close(c);
}

static uint64_t bytes_used(void)
{
	struct ism_status st;

	status_of(&st);
	return st.bytes_used;
}

/* ---- /proc and the log ---- */

static long log_lines(void)
{
	char buf[65536];
	long lines = 0;
	ssize_t n;
	int fd = open(D.log, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

static bool log_has(const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(D.log, "re");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* CPU time ismd used, all its threads, in seconds. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = 0;
	p = strrchr(buf, ')');
	assert_non_null(p);
	/* Fields 3 (state) to 15 (stime). */
	assert_int_equal(sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%llu %llu",
				&ut, &st),
			 2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The fd limit that leaves @pid just @spare free fd numbers. */
static rlim_t limit_leaving(pid_t pid, int spare)
{
	static bool used[65536];
	char path[64];
	struct dirent *e;
	DIR *dir;
	int lim = 0;

	memset(used, 0, sizeof(used));
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		int n = atoi(e->d_name);

		if (e->d_name[0] != '.' && n >= 0 && n < 65536)
			used[n] = true;
	}
	closedir(dir);
	/* Its fds need not be the lowest numbers. */
	for (; lim < 65536 && spare > 0; lim++)
		spare -= !used[lim];
	return (rlim_t)lim;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- item 9: fds, per uid ---- */

#define FD_CONNS  4
#define FD_ALLOCS 2000

/* As the stranger: small regions over several connections until refused.
 * Says how many were granted and the refusal's status. */
static int fd_hog(int in, int out, void *arg)
{
	int c[FD_CONNS], n = 0, st = 0;

	for (int i = 0; i < FD_CONNS; i++)
		if ((c[i] = greeted(arg)) < 0)
			return 10;
	for (int i = 0; i < FD_ALLOCS; i++) {
		st = raw_alloc(c[i % FD_CONNS], 4096, 0);
		if (st != 0)
			break;
		n++;
	}
	put64(out, n);
	put64(out, st);
	/* Hold everything until told. */
	await(in);
	return 0;
}

/* As someone else: connect and allocate once. */
static int alloc_once(int in, int out, void *arg)
{
	int fd = greeted(arg);

	(void)in;
	(void)out;
	if (fd < 0)
		return 10;
	return raw_alloc(fd, 4096, 0) == 0 ? 0 : 11;
}

/*
 * --max-fds 512: a uid may hold 256.  The stranger is refused (EDQUOT)
 * once its connections and regions hold that many, long before ismd is
 * out of fds; then another uid and root still connect and allocate.
 *
 * The old ismd has no --max-fds.  Run by hand without it, the stranger
 * got all 2000 regions (its per-peer quota is 65536 regions a
 * connection): nothing but RLIMIT_NOFILE stops it.  With ismd's limit
 * lowered to 600 (prlimit), it got 582, then EMFILE with ismd holding 599
 * fds; after that uid 65533 was not even answered HELLO, and root's
 * ALLOC failed with EMFILE.
 */
static void test_fd_budget(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666",
					    "--max-fds", "512", NULL };
	struct kid hog, other;
	int64_t granted, st;
	int fd;

	(void)state;
	if (!need_root())
		skip();
	start(args);
	kid_start(&hog, STRANGER, fd_hog, D.sock);
	granted = hear(&hog, 60000);
	st = hear(&hog, PROMPT_MS);
	fprintf(stderr, "stranger: %lld regions, then %s; ismd holds %d fds\n",
		(long long)granted, st > 0 ? strerror((int)st) : "?",
		t_count_fds(D.pid));
	assert_int_equal(st, EDQUOT);
	/* Its share (256, its connections included) stopped it. */
	assert_true(granted >= 256 - 2 * FD_CONNS && granted < 256);
	assert_true(t_count_fds(D.pid) < 512);
	/* Another uid, then root, still get in and allocate. */
	kid_start(&other, BYSTANDER, alloc_once, D.sock);
	assert_int_equal(kid_wait(&other), 0);
	fd = keep_fd(greeted(D.sock));
	assert_int_equal(raw_alloc(fd, 4096, 0), 0);
	tell(&hog, 0);
	assert_int_equal(kid_wait(&hog), 0);
	assert_true(t_daemon_alive(&D));
	stops_promptly();
}

/* As the stranger, on one connection: regions until refused, then
 * destroy one and allocate again.  Says how many, and the three
 * statuses. */
static int fd_hog_one(int in, int out, void *arg)
{
	int fd = greeted(arg), n = 0, st = 0, st2 = -1, st3 = -1;
	uint64_t first = 0, id = 0;

	if (fd < 0)
		return 10;
	for (int i = 0; i < FD_ALLOCS; i++) {
		st = raw_alloc_id(fd, 4096, &id);
		if (st != 0)
			break;
		if (!first)
			first = id;
		n++;
	}
	if (st == EDQUOT && (st2 = raw_destroy(fd, first)) == 0)
		st3 = raw_alloc(fd, 4096, 0);
	put64(out, n);
	put64(out, st);
	put64(out, st2);
	put64(out, st3);
	await(in);
	return 0;
}

/*
 * The same on one connection: at its share the stranger is told EDQUOT,
 * and may still free a region and allocate again.
 *
 * Fails against the ismd of 9f8e574: the ALLOC that brings the uid to
 * exactly its share (one connection and 255 regions) succeeds, and then
 * peer.c's starved() stops reading that connection (acct_over() is
 * used >= cap).  Its next request - the ALLOC that should get EDQUOT, or a
 * DESTROY that would free an fd - is never read: only disconnecting
 * releases it.  (With several connections each gets one more request
 * read, then the same.)  The old ismd has no --max-fds: see above.
 */
static void test_fd_budget_one_conn(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666",
					    "--max-fds", "512", NULL };
	struct kid hog;
	int64_t granted, st, destroyed, again;

	(void)state;
	if (!need_root())
		skip();
	start(args);
	kid_start(&hog, STRANGER, fd_hog_one, D.sock);
	granted = hear(&hog, 60000);
	st = hear(&hog, PROMPT_MS);
	destroyed = hear(&hog, 2 * PROMPT_MS);
	again = hear(&hog, 2 * PROMPT_MS);
	fprintf(stderr,
		"one connection: %lld regions, then %s; destroy: %lld, "
		"alloc again: %lld\n",
		(long long)granted,
		st > 0	 ? strerror((int)st)
		: st < 0 ? strerror((int)-st)
			 : "?",
		(long long)destroyed, (long long)again);
	assert_int_equal(st, EDQUOT);
	assert_true(granted >= 256 - 2 && granted < 256);
	assert_int_equal(destroyed, 0);
	assert_int_equal(again, 0);
	tell(&hog, 0);
	assert_int_equal(kid_wait(&hog), 0);
	assert_true(t_daemon_alive(&D));
	stops_promptly();
}

/*
 * EMFILE on accept must not spin: ismd's real limit is lowered (prlimit)
 * to a few fds above what it holds, and more connections arrive than it
 * can accept.  Over a second, it must use little CPU and log few lines
 * (the old ismd: a level-triggered listener, accept() failing in a loop
 * at 100% CPU and one log line per failure).  Once those connections are
 * gone, a new one is served, within seconds: ismd listens again at each
 * tick (250 ms) and accepts as many as its free fds allow, so the backlog
 * before the newcomer drains at about EMFILE_SPARE per tick.
 */
#define EMFILE_CONNS 64
#define EMFILE_SPARE 16 /* fds left free for ismd */

static void test_emfile_no_spin(void **state)
{
	struct rlimit old, low;
	long lines0, lines1;
	double cpu0, cpu1;
	char emfile[128];
	int c[EMFILE_CONNS], fd;
	uint64_t t0;

	(void)state;
	if (!need_root())
		skip();
	start(NULL);
	assert_int_equal(prlimit(D.pid, RLIMIT_NOFILE, NULL, &old), 0);
	low = old;
	low.rlim_cur = limit_leaving(D.pid, EMFILE_SPARE);
	assert_int_equal(prlimit(D.pid, RLIMIT_NOFILE, &low, NULL), 0);
	for (int i = 0; i < EMFILE_CONNS; i++)
		c[i] = keep_fd(t_raw_connect(D.sock));
	snprintf(emfile, sizeof(emfile), "accept: %s", strerror(EMFILE));
	assert_true(T_WAIT_FOR(log_has(emfile), PROMPT_MS));
	t_msleep(200);
	cpu0 = cpu_seconds(D.pid);
	lines0 = log_lines();
	t_msleep(1000);
	cpu1 = cpu_seconds(D.pid);
	lines1 = log_lines();
	fprintf(stderr, "at EMFILE for 1 s: %.2f s of CPU, %ld log lines\n",
		cpu1 - cpu0, lines1 - lines0);
	assert_true(cpu1 - cpu0 < 0.3);
	assert_true(lines1 - lines0 < 50);
	/* Those connections go; a newcomer is served. */
	for (int i = 0; i < EMFILE_CONNS; i++) {
		close(c[i]);
		for (int k = 0; k < nfds; k++)
			if (fds[k] == c[i])
				fds[k] = -1;
	}
	t0 = now_ms();
	fd = keep_fd(t_raw_connect(D.sock));
	assert_int_equal(hello_within(fd, 3 * PROMPT_MS), 0);
	fprintf(stderr, "a newcomer was served after %llu ms\n",
		(unsigned long long)(now_ms() - t0));
	assert_int_equal(prlimit(D.pid, RLIMIT_NOFILE, &old, NULL), 0);
	assert_true(t_daemon_alive(&D));
	stops_promptly();
}

/* ---- item 10: lingering memory stays charged ---- */

/* An agent: a libism peer doing what it is told, one command at a time. */
enum {
	A_ALLOC = 1, /* size, flags: slot, token */
	A_FILL,	     /* slot: written through ismd, 64 KiB at a time */
	A_KEEP,	     /* slot: keep a dup of its fd */
	A_DESTROY,   /* slot: referrers told */
	A_CLOSE,     /* slot */
	A_ATTACH,    /* token: slot (read-only, with an fd) */
	A_WAIT_GONE, /* slot: its REGION_GONE arrived */
	A_BLOCKS,    /* slot: bytes its fd holds */
	A_KEPT,	     /* bytes the kept fds hold */
	A_BYE,	     /* disconnect */
};

struct cmd {
	int32_t op, slot;
	uint64_t size;
	uint32_t flags;
	uint8_t token[ISM_TOKEN_SIZE];
};

struct res {
	int64_t ret;
	uint8_t token[ISM_TOKEN_SIZE];
};

#define A_SLOTS 16

static int64_t fd_bytes(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_blocks * 512;
}

static int64_t fill(struct ism_region *r)
{
	static uint8_t chunk[ISM_RW_MAX];
	uint64_t size = ism_region_size(r);

	memset(chunk, 0xa5, sizeof(chunk));
	for (uint64_t off = 0; off < size; off += sizeof(chunk)) {
		ssize_t n = ism_region_write(r, off, chunk, sizeof(chunk));

		if (n != (ssize_t)sizeof(chunk))
			return n < 0 ? n : -EIO;
	}
	return 0;
}

static int64_t agent_do(struct ism_conn **c, struct ism_region **rs, int *kept,
			int *nkept, const struct cmd *m, struct res *out)
{
	struct ism_region *r =
		m->slot >= 0 && m->slot < A_SLOTS ? rs[m->slot] : NULL;
	struct ism_alloc_opts o = { .size = sizeof(o), .flags = m->flags };
	struct ism_token t;
	struct ism_event ev;
	int64_t sum = 0;
	int slot = 0, e;

	switch (m->op) {
	case A_ALLOC:
	case A_ATTACH:
		while (slot < A_SLOTS && rs[slot])
			slot++;
		if (slot == A_SLOTS)
			return -ENOSPC;
		if (m->op == A_ALLOC) {
			e = ism_region_alloc(*c, m->size, &o, &rs[slot]);
		} else {
			memcpy(t.b, m->token, sizeof(t.b));
			e = ism_region_attach(*c, &t, ISM_ACCESS_RO, 0,
					      &rs[slot]);
		}
		if (e < 0)
			return e;
		ism_region_token(rs[slot], &t);
		memcpy(out->token, t.b, sizeof(t.b));
		return slot;
	case A_KEPT:
		for (int i = 0; i < *nkept; i++)
			sum += fd_bytes(kept[i]);
		return sum;
	case A_BYE:
		for (int i = 0; i < A_SLOTS; i++)
			if (rs[i])
				ism_region_close(rs[i]);
		memset(rs, 0, A_SLOTS * sizeof(*rs));
		ism_conn_close(*c);
		*c = NULL;
		return 0;
	}
	if (!r)
		return -EBADSLT;
	switch (m->op) {
	case A_FILL: return fill(r);
	case A_KEEP:
		if (*nkept == A_SLOTS)
			return -ENOSPC;
		kept[(*nkept)++] = dup(ism_region_fd(r));
		return 0;
	case A_DESTROY: return ism_region_destroy(r);
	case A_CLOSE: rs[m->slot] = NULL; return ism_region_close(r);
	case A_WAIT_GONE:
		e = t_wait_event(*c, ISM_EV_REGION_GONE, &ev, PROMPT_MS);
		return e == 1 ? (int64_t)(ev.region == ism_region_id(r)
						  ? 0
						  : -EINVAL)
			      : -ETIMEDOUT;
	case A_BLOCKS: return fd_bytes(ism_region_fd(r));
	}
	return -ENOSYS;
}

static int agent(int in, int out, void *arg)
{
	struct ism_conn_opts co = { .size = sizeof(co),
				    .name = "agent",
				    .flags = ISM_CONN_NO_DOORBELL,
				    .timeout_ms = 30000 };
	struct ism_region *rs[A_SLOTS] = { 0 };
	struct ism_conn *c = NULL;
	int kept[A_SLOTS], nkept = 0;
	struct cmd m;
	struct res r;

	if (ism_conn_open(arg, &co, &c) < 0)
		return 10;
	while (get(in, &m, sizeof(m), -1) == 0) {
		memset(&r, 0, sizeof(r));
		r.ret = c || m.op == A_KEPT
				? agent_do(&c, rs, kept, &nkept, &m, &r)
				: -ENOTCONN;
		if (put(out, &r, sizeof(r)) < 0)
			return 11;
	}
	return 0;
}

static int64_t ask(struct kid *k, struct cmd m, uint8_t *token)
{
	struct res r;

	assert_int_equal(put(k->to, &m, sizeof(m)), 0);
	assert_int_equal(get(k->from, &r, sizeof(r), 60000), 0);
	if (token)
		memcpy(token, r.token, ISM_TOKEN_SIZE);
	return r.ret;
}

#define LINGER_SIZE (16 * MIB)
#define MEM_CAP	    (64 * MIB)

static const char *const mem_args[] = { "--socket-mode", "0666", "--max-memory",
					"64M", NULL };

/*
 * Allocate a lingering region, fill it through ismd, keep its fd, destroy
 * it; eight times.  Nobody else maps those regions, so each goes at once:
 * what the kept fds hold must stay within the cap, and within what ismd
 * counts (the old ismd: 128 MiB held while it counted 0).
 */
static void test_linger_kept_fds(void **state)
{
	struct kid s;
	int64_t held, slot;

	(void)state;
	if (!need_root())
		skip();
	start(mem_args);
	kid_start(&s, STRANGER, agent, D.sock);
	for (int i = 0; i < 8; i++) {
		slot = ask(&s,
			   (struct cmd){ .op = A_ALLOC,
					 .size = LINGER_SIZE,
					 .flags = ISM_ALLOC_LINGER },
			   NULL);
		assert_true(slot >= 0);
		assert_int_equal(
			ask(&s, (struct cmd){ A_FILL, (int32_t)slot }, NULL),
			0);
		assert_int_equal(
			ask(&s, (struct cmd){ A_KEEP, (int32_t)slot }, NULL),
			0);
		assert_int_equal(
			ask(&s, (struct cmd){ A_DESTROY, (int32_t)slot }, NULL),
			0);
		assert_int_equal(
			ask(&s, (struct cmd){ A_CLOSE, (int32_t)slot }, NULL),
			0);
	}
	held = ask(&s, (struct cmd){ .op = A_KEPT }, NULL);
	fprintf(stderr, "kept fds hold %lld MiB; ismd counts %llu MiB\n",
		(long long)(held / (int64_t)MIB),
		(unsigned long long)(bytes_used() / MIB));
	assert_true(held >= 0);
	assert_true((uint64_t)held <= MEM_CAP);
	assert_true((uint64_t)held <= bytes_used());
	assert_int_equal(ask(&s, (struct cmd){ .op = A_BYE }, NULL), 0);
	close(s.to);
	assert_int_equal(kid_wait(&s), 0);
	stops_promptly();
}

/* The stranger's lingering region, filled, mapped by the bystander. */
static int64_t orphan_setup(struct kid *owner, struct kid *reader,
			    int64_t *rslot)
{
	uint8_t tok[ISM_TOKEN_SIZE];
	struct cmd m = { .op = A_ATTACH };
	int64_t slot;

	slot = ask(owner,
		   (struct cmd){ .op = A_ALLOC,
				 .size = LINGER_SIZE,
				 .flags = ISM_ALLOC_LINGER },
		   tok);
	assert_true(slot >= 0);
	assert_int_equal(
		ask(owner, (struct cmd){ A_FILL, (int32_t)slot }, NULL), 0);
	memcpy(m.token, tok, sizeof(tok));
	*rslot = ask(reader, m, NULL);
	assert_true(*rslot >= 0);
	/* The owner destroys it: an orphan, the bystander its reader. */
	assert_int_equal(
		ask(owner, (struct cmd){ A_DESTROY, (int32_t)slot }, NULL), 1);
	assert_int_equal(
		ask(owner, (struct cmd){ A_CLOSE, (int32_t)slot }, NULL), 0);
	return slot;
}

/*
 * The orphan case: a lingering region another uid maps outlives its
 * owner's destroy.  It stays counted (bytes_used) and charged to the
 * owner's uid (32 MiB of the 64 MiB cap: a 24 MiB region no longer fits)
 * while its reader holds it; once the reader closes it (libism says
 * DETACH) or disconnects, the memory and the charge go.  The old ismd
 * counted 0 at once and let the owner allocate on.
 */
static void test_linger_orphan(void **state)
{
	struct kid owner, reader;
	int64_t rslot, r;

	(void)state;
	if (!need_root())
		skip();
	start(mem_args);
	kid_start(&owner, STRANGER, agent, D.sock);
	kid_start(&reader, BYSTANDER, agent, D.sock);
	orphan_setup(&owner, &reader, &rslot);
	/* The reader still has the data; ismd still counts it. */
	assert_int_equal(
		ask(&reader, (struct cmd){ A_BLOCKS, (int32_t)rslot }, NULL),
		(int64_t)LINGER_SIZE);
	assert_int_equal(bytes_used(), LINGER_SIZE);
	r = ask(&owner, (struct cmd){ .op = A_ALLOC, .size = 24 * MIB }, NULL);
	assert_int_equal(r, -EDQUOT);
	/* The reader lets go: the memory goes, the owner may allocate. */
	assert_int_equal(
		ask(&reader, (struct cmd){ A_WAIT_GONE, (int32_t)rslot }, NULL),
		0);
	assert_int_equal(
		ask(&reader, (struct cmd){ A_CLOSE, (int32_t)rslot }, NULL), 0);
	assert_true(T_WAIT_FOR(bytes_used() == 0, PROMPT_MS));
	r = ask(&owner, (struct cmd){ .op = A_ALLOC, .size = 24 * MIB }, NULL);
	assert_true(r >= 0);
	assert_int_equal(ask(&owner, (struct cmd){ A_CLOSE, (int32_t)r }, NULL),
			 0);
	assert_true(T_WAIT_FOR(bytes_used() == 0, PROMPT_MS));
	/* Again, and this time the reader disconnects. */
	orphan_setup(&owner, &reader, &rslot);
	assert_int_equal(bytes_used(), LINGER_SIZE);
	assert_int_equal(ask(&reader, (struct cmd){ .op = A_BYE }, NULL), 0);
	assert_true(T_WAIT_FOR(bytes_used() == 0, PROMPT_MS));
	r = ask(&owner, (struct cmd){ .op = A_ALLOC, .size = 24 * MIB }, NULL);
	assert_true(r >= 0);
	close(owner.to);
	close(reader.to);
	assert_int_equal(kid_wait(&owner), 0);
	assert_int_equal(kid_wait(&reader), 0);
	assert_true(T_WAIT_FOR(bytes_used() == 0, PROMPT_MS));
	stops_promptly();
}

/* ---- item 11: records per uid, not per connection ---- */

#define REC_CONNS 4
/* Well below REC_CONNS x 65536, the per-connection cap. */
#define REC_MAX (REC_CONNS * 8192)

/* As the stranger: stream records over several connections until
 * refused.  Says how many were granted and the refusal's status. */
static int record_hog(int in, int out, void *arg)
{
	int c[REC_CONNS], n = 0, st = 0;

	for (int i = 0; i < REC_CONNS; i++)
		if ((c[i] = greeted(arg)) < 0)
			return 10;
	for (int i = 0; i < REC_MAX; i++) {
		st = open_tcp_record(c[i % REC_CONNS]);
		if (st != 0)
			break;
		n++;
	}
	put64(out, n);
	put64(out, st);
	await(in);
	return 0;
}

static int record_once(int in, int out, void *arg)
{
	int fd = greeted(arg);

	(void)in;
	(void)out;
	if (fd < 0)
		return 10;
	return open_tcp_record(fd) == 0 ? 0 : 11;
}

/*
 * --max-heap 8M: a uid may have 4 MiB of records.  A stranger opening
 * stream records over four connections is refused (EDQUOT) well before
 * 4 x 65536; another uid, and root, can still open records.
 *
 * The old ismd has no --max-heap.  Run by hand without it, the stranger
 * got all 32768 records (the only cap was 65536 a connection: ~56 GiB of
 * ismd's heap for one uid at the default --max-peers, issue 9).
 */
static void test_stream_records(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666",
					    "--max-heap", "8M", NULL };
	struct kid hog, other;
	int64_t granted, st;
	int fd;

	(void)state;
	if (!need_root())
		skip();
	start(args);
	kid_start(&hog, STRANGER, record_hog, D.sock);
	granted = hear(&hog, 120000);
	st = hear(&hog, PROMPT_MS);
	fprintf(stderr, "stranger: %lld stream records, then %s\n",
		(long long)granted, st > 0 ? strerror((int)st) : "?");
	assert_int_equal(st, EDQUOT);
	assert_true(granted > 1000 && granted < REC_MAX);
	kid_start(&other, BYSTANDER, record_once, D.sock);
	assert_int_equal(kid_wait(&other), 0);
	fd = keep_fd(greeted(D.sock));
	assert_int_equal(open_tcp_record(fd), 0);
	tell(&hog, 0);
	assert_int_equal(kid_wait(&hog), 0);
	assert_true(t_daemon_alive(&D));
	stops_promptly();
}

/* ---- a starved peer that hangs up ---- */

#define STARVE_INTENTS 400 /* past the uid's share of --max-fds 512 */

/* As the stranger: an ism listener, then pending client intents toward
 * it (ismd keeps each one's socket), pipelined until ismd stops reading.
 * Says how many went out, then waits to be told to exit. */
static int intent_hog(int in, int out, void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ism_stream_open_req lq = { .role = ISM_STREAM_LISTENER };
	struct ism_stream_open_req cq = { .role = ISM_STREAM_CLIENT };
	socklen_t len = sizeof(sa);
	int fd = greeted(arg), l, n = 0;

	if (fd < 0)
		return 10;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 8) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		return 11;
	if (send_req(fd, ISM_MSG_STREAM_OPEN, 1, put_open, &lq, &l, 1, 0) < 0 ||
	    t_raw_reply(fd, NULL, NULL, PROMPT_MS) != 0)
		return 12;
	cq.dst.family = AF_INET;
	cq.dst.port = ntohs(sa.sin_port);
	cq.dst.addr[0] = 127;
	cq.dst.addr[3] = 1;
	for (; n < STARVE_INTENTS; n++) {
		int c = bound_tcp(), r;

		if (c < 0)
			return 13;
		r = send_req(fd, ISM_MSG_STREAM_OPEN, 2, put_open, &cq, &c, 1,
			     MSG_DONTWAIT);
		close(c);
		if (r < 0)
			break; /* ismd stopped reading: the buffer is full */
	}
	put64(out, n);
	await(in);
	return 0; /* and so hangs up, replies unread */
}

/*
 * A peer whose uid went past its fd share is not read until fds are
 * freed; if it then hangs up, only ismd can free them.  It must notice
 * the hang-up while not reading: release the peer and everything it
 * held, and not spin on the hang-up.
 *
 * Failed before: ismd kept the stranger's ~260 fds for good and used a
 * whole CPU (the level-triggered EPOLLHUP woke the loop, which returned
 * at once from a peer it was not reading).
 */
static void test_starved_peer_hangs_up(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666",
					    "--max-fds", "512", NULL };
	struct kid hog;
	int base, held, after = -1;
	int64_t sent;
	double cpu0, cpu1;

	(void)state;
	if (!need_root())
		skip();
	start(args);
	base = t_count_fds(D.pid);
	kid_start(&hog, STRANGER, intent_hog, D.sock);
	sent = hear(&hog, 60000);
	assert_true(T_WAIT_FOR(log_has("not reading its peers"), PROMPT_MS));
	held = t_count_fds(D.pid);
	tell(&hog, 0);
	assert_int_equal(kid_wait(&hog), 0);
	for (int i = 0; i < PROMPT_MS / 50; i++) {
		after = t_count_fds(D.pid);
		if (after <= base + 2)
			break;
		t_msleep(50);
	}
	cpu0 = cpu_seconds(D.pid);
	t_msleep(1000);
	cpu1 = cpu_seconds(D.pid);
	fprintf(stderr,
		"%lld intents sent; ismd held %d fds (%d at start), %d after "
		"the hang-up, then used %.2f s of CPU in 1 s\n",
		(long long)sent, held, base, after, cpu1 - cpu0);
	assert_true(held > base + 200);
	assert_true(after <= base + 2);
	assert_true(cpu1 - cpu0 < 0.3);
	assert_true(t_daemon_alive(&D));
	stops_promptly();
}

/* ---- item 13: a list costs what the requester may see ---- */

#define L_HOARDERS 6		 /* connections holding records */
#define L_RECORDS  65536	 /* each (the per-connection cap) */
#define L_BLIND	   64		 /* connections holding none */
#define L_FLOOD	   (1 + L_BLIND) /* those that list: one hoarder, the blind */
#define L_REQS	   500		 /* LIST_STREAMS pipelined on each of those */
#define L_STATUS   10		 /* the bystander's requests */
#define L_BOUND_MS 5000		 /* for all of them */

/* Fill @fd with @n records, pipelined, all with the same socket. */
static int hoard(int fd, int tcp, int n)
{
	int sent = 0, got = 0;

	while (got < n) {
		while (sent < n && sent - got < 128) {
			if (send_tcp_record(fd, tcp, 0) < 0)
				return -EIO;
			sent++;
		}
		if (t_raw_reply(fd, NULL, NULL, PROMPT_MS) != 0)
			return -EDQUOT;
		got++;
	}
	return 0;
}

/* Every connection sends L_REQS list requests without reading a reply. */
static int flood(const int *c, int n, int out)
{
	struct ism_list_req q = { .max = 1 };
	int sent[L_FLOOD] = { 0 }, left = n * L_REQS;
	bool told = false;

	while (left > 0) {
		struct pollfd p[L_FLOOD];

		for (int i = 0; i < n; i++) {
			while (sent[i] < L_REQS) {
				int r = send_req(c[i], ISM_MSG_LIST_STREAMS,
						 (uint32_t)sent[i] + 1,
						 put_list, &q, NULL, 0,
						 MSG_DONTWAIT);

				if (r == -EAGAIN)
					break;
				if (r < 0)
					return r;
				sent[i]++;
				left--;
			}
			p[i] = (struct pollfd){ c[i],
						sent[i] < L_REQS ? POLLOUT : 0,
						0 };
		}
		if (!told) {
			/* Every connection has requests queued in ismd. */
			put64(out, 1);
			told = true;
		}
		if (left > 0 && poll(p, (nfds_t)n, 60000) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Then read every reply: all succeed; the hoarder (first) sees its own
 * records, the blind an empty page. */
static int drain(const int *c, int n)
{
	static uint8_t buf[ISM_WIRE_MAX_MSG];
	struct ism_stream_info e[1];

	for (int i = 0; i < n; i++)
		for (int k = 0; k < L_REQS; k++) {
			struct ism_rbuf rb;
			uint64_t next = 1;
			uint32_t got = 9;

			if (reply_in(c[i], buf, sizeof(buf), &rb, 120000) != 0)
				return 20;
			if (ism_proto_get_streams_rep(&rb, &next, e, 1, &got) <
			    0)
				return 21;
			if (i == 0 ? got != 1 : (got != 0 || next != 0))
				return 22;
		}
	return 0;
}

static int list_stranger(int in, int out, void *arg)
{
	int c[L_HOARDERS + L_BLIND], n = L_HOARDERS + L_BLIND, r;
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (tcp < 0)
		return 10;
	for (int i = 0; i < n; i++)
		if ((c[i] = greeted(arg)) < 0)
			return 11;
	for (int i = 0; i < L_HOARDERS; i++)
		if (hoard(c[i], tcp, L_RECORDS) < 0)
			return 12;
	close(tcp);
	put64(out, 0);
	await(in);
	if ((r = flood(c + L_HOARDERS - 1, L_FLOOD, out)) < 0)
		return 13;
	put64(out, drain(c + L_HOARDERS - 1, L_FLOOD));
	await(in);
	return 0;
}

/* As the bystander: L_STATUS requests in turn, once told; says how many
 * were answered, how long they took and the longest wait (stopping early
 * past the bound). */
static int list_bystander(int in, int out, void *arg)
{
	int fd = greeted(arg), st = 0, done = 0;
	uint64_t t0, t1, worst = 0;

	if (fd < 0)
		return 10;
	put64(out, 0);
	await(in);
	t0 = now_ms();
	for (; done < L_STATUS && now_ms() - t0 <= L_BOUND_MS; done++) {
		t1 = now_ms();
		st = send_req(fd, ISM_MSG_STATUS, (uint32_t)done + 1, NULL,
			      NULL, NULL, 0, 0);
		if (st == 0)
			st = t_raw_reply(fd, NULL, NULL, 2 * L_BOUND_MS);
		if (st != 0)
			break;
		if (now_ms() - t1 > worst)
			worst = now_ms() - t1;
	}
	put64(out, done);
	put64(out, (int64_t)(now_ms() - t0));
	put64(out, (int64_t)worst);
	put64(out, st);
	await(in);
	return 0;
}

/*
 * The stranger holds 4 x 65536 stream records, on four connections, and
 * pipelines 500 LIST_STREAMS, reading no reply, on one of those and on 24
 * connections that hold nothing; meanwhile the bystander's STATUS
 * requests are answered within a generous bound.  A list costs what the
 * requester may see (its own records): the old ismd walked every record
 * of every peer, and sorted what the requester saw, for each request,
 * reading up to 32 requests of each connection per wakeup: over a second
 * per bystander request.  And a stranger who sees nothing gets an empty
 * page.
 */
static void test_list_cost(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666", NULL };
	struct kid s, b;
	int64_t done, ms, worst, st;

	(void)state;
	if (!need_root())
		skip();
	start(args);
	kid_start(&s, STRANGER, list_stranger, D.sock);
	kid_start(&b, BYSTANDER, list_bystander, D.sock);
	assert_int_equal(hear(&s, 120000), 0);
	assert_int_equal(hear(&b, PROMPT_MS), 0);
	tell(&s, 0);
	assert_int_equal(hear(&s, 60000), 1); /* flooding */
	tell(&b, 0);
	done = hear(&b, 4 * L_BOUND_MS);
	ms = hear(&b, PROMPT_MS);
	worst = hear(&b, PROMPT_MS);
	st = hear(&b, PROMPT_MS);
	fprintf(stderr,
		"under the flood: %lld of %d STATUS answered in %lld ms, "
		"the slowest in %lld ms\n",
		(long long)done, L_STATUS, (long long)ms, (long long)worst);
	assert_int_equal(st, 0);
	assert_int_equal(done, L_STATUS);
	assert_true(ms <= L_BOUND_MS);
	assert_int_equal(hear(&s, 120000), 0); /* every reply right */
	tell(&s, 0);
	tell(&b, 0);
	assert_int_equal(kid_wait(&s), 0);
	assert_int_equal(kid_wait(&b), 0);
	stops_promptly();
}

/* ---- item 20: populating is not the loop's work ---- */

static uint64_t populate_size(void)
{
	char line[128];
	unsigned long long kb = 0;
	uint64_t size = 4096 * MIB;
	FILE *f = fopen("/proc/meminfo", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	/* Kind to whatever else runs here. */
	if (kb * 1024 / 4 < size)
		size = kb * 1024 / 4 / MIB * MIB;
	return size < 256 * MIB ? 256 * MIB : size;
}

/*
 * A peer allocates a large region with POPULATE (as raw requests); right
 * after, a bystander asks STATUS.  The bystander's reply comes first: the
 * old ismd populated on its only thread, and answered the ALLOC first.
 * (Which uid does not matter here: the loop is everyone's.)
 */
static void test_populate_off_loop(void **state)
{
	struct ism_alloc_req a = { .flags = ISM_ALLOC_POPULATE,
				   .max_access = ISM_ACCESS_RO };
	struct pollfd p;
	int big, by;

	(void)state;
	start(NULL);
	a.size = populate_size();
	big = keep_fd(greeted(D.sock));
	by = keep_fd(greeted(D.sock));
	assert_int_equal(
		send_req(big, ISM_MSG_ALLOC, 2, put_alloc, &a, NULL, 0, 0), 0);
	assert_int_equal(
		send_req(by, ISM_MSG_STATUS, 2, NULL, NULL, NULL, 0, 0), 0);
	assert_int_equal(t_raw_reply(by, NULL, NULL, 60000), 0);
	p = (struct pollfd){ big, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 0), 0); /* the ALLOC still works */
	assert_int_equal(t_raw_reply(big, NULL, NULL, 60000), 0);
	fprintf(stderr, "populated %llu MiB after STATUS was answered\n",
		(unsigned long long)(a.size / MIB));
	stops_promptly();
}

/* ---- item 21: the log under connection churn ---- */

#define CHURN 2000

enum churn_kind {
	CHURN_CLOSE,   /* connect, close */
	CHURN_HELLO,   /* connect, HELLO, close */
	CHURN_REFUSED, /* connect, a request before HELLO, its refusal */
};

struct churn {
	const char *sock;
	enum churn_kind kind;
};

static int churner(int in, int out, void *arg)
{
	const struct churn *ch = arg;

	(void)in;
	(void)out;
	for (int i = 0; i < CHURN; i++) {
		int fd = t_raw_connect(ch->sock);

		if (fd < 0)
			return 10;
		if (ch->kind == CHURN_HELLO && t_raw_hello(fd, NULL) < 0)
			return 11;
		if (ch->kind == CHURN_REFUSED) {
			/* EPROTO, then ismd hangs up: it is done with us. */
			if (send_req(fd, ISM_MSG_STATUS, 1, NULL, NULL, NULL, 0,
				     0) < 0 ||
			    t_raw_reply(fd, NULL, NULL, PROMPT_MS) != EPROTO ||
			    t_raw_recv(fd, msg, sizeof(msg), PROMPT_MS, NULL,
				       NULL) != 0)
				return 12;
		}
		close(fd);
	}
	return 0;
}

/* One uid opens and closes CHURN connections as fast as it can; ismd's
 * log grows by far fewer lines (the per-uid limiter allows a burst of 20
 * and 5 a second; the old ismd wrote a line or more per connection). */
static void churn(enum churn_kind kind)
{
	static const char *const args[] = { "--socket-mode", "0666", NULL };
	struct churn ch = { .kind = kind };
	struct ism_status st;
	struct ism_conn *c;
	struct kid k;
	long lines0, lines;

	if (!need_root())
		skip();
	start(args);
	ch.sock = D.sock;
	c = root = t_connect(&D, "root", ISM_CONN_NO_DOORBELL);
	lines0 = log_lines();
	kid_start(&k, STRANGER, churner, &ch);
	assert_int_equal(kid_wait(&k), 0);
	/* Every connection gone in ismd (ours excepted). */
	assert_true(T_WAIT_FOR(ism_admin_status(c, &st) == 0 && st.peers == 1,
			       PROMPT_MS));
	lines = log_lines() - lines0;
	ism_conn_close(c);
	root = NULL;
	fprintf(stderr, "%d connections%s: %ld log lines\n", CHURN,
		kind == CHURN_HELLO	? " with HELLO"
		: kind == CHURN_REFUSED ? ", each refused in turn"
					: "",
		lines);
	assert_true(lines < 200);
	stops_promptly();
}

/* (Its connections overlap in ismd, which keeps their uid's account, and
 * the limiter's state with it: see test_log_churn_serial.) */
static void test_log_churn(void **state)
{
	(void)state;
	churn(CHURN_CLOSE);
}

/*
 * The same with a HELLO on each: what every libism client does.  Fails
 * against the ismd of 9f8e574 (4,000 to 6,000 lines for 2000
 * connections): hello.c logs every HELLO ("peer ID: pid P uid U ...") and
 * peer.c's peer_free() every departure ("peer ID (...) gone: ...") with
 * ismd_log(), which no limiter sees; and see test_log_churn_serial.
 */
static void test_log_churn_hello(void **state)
{
	(void)state;
	churn(CHURN_HELLO);
}

/*
 * Each connection sends a request before HELLO and waits to be refused
 * and hung up on, so that the next one finds none of its uid's
 * connections left in ismd: the limit is the uid's, all the same.  Fails
 * against the ismd of 9f8e574 (two lines a connection, ~4,000): log.c
 * keeps the uid's token bucket in its struct acct, which acct.c frees
 * (maybe_free) as soon as the uid holds nothing, so each connection
 * starts with a fresh burst of 20.
 */
static void test_log_churn_serial(void **state)
{
	(void)state;
	churn(CHURN_REFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fd_budget, teardown),
		cmocka_unit_test_teardown(test_fd_budget_one_conn, teardown),
		cmocka_unit_test_teardown(test_emfile_no_spin, teardown),
		cmocka_unit_test_teardown(test_linger_kept_fds, teardown),
		cmocka_unit_test_teardown(test_linger_orphan, teardown),
		cmocka_unit_test_teardown(test_stream_records, teardown),
		cmocka_unit_test_teardown(test_starved_peer_hangs_up, teardown),
		cmocka_unit_test_teardown(test_list_cost, teardown),
		cmocka_unit_test_teardown(test_populate_off_loop, teardown),
		cmocka_unit_test_teardown(test_log_churn, teardown),
		cmocka_unit_test_teardown(test_log_churn_hello, teardown),
		cmocka_unit_test_teardown(test_log_churn_serial, teardown),
	};

	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
