/* SPDX-License-Identifier: MIT */
/*
 * libism never blocks on what a peer controls, and never takes a signal
 * from memory a peer can punch.
 *
 * The weapon against blocking: a TCP socket with SO_LINGER {1, 3600} whose
 * send queue can never drain (the accepted end never reads), put in flight
 * (SCM_RIGHTS) into a link socket the honest side holds, after which the
 * hostile side closes its own copy.  Whoever drops the last reference to
 * it (closing the link, or receiving on the link without a control buffer)
 * sleeps in the kernel for the linger time.  Each honest side runs in a
 * child that must be done within LIVENESS_MS; a hung child is killed and
 * the test fails.  Linux 6.16 lets libism refuse fds on the links it
 * receives on (SO_PASSRIGHTS); one test turns that back on in the honest
 * process, as older kernels have it, so that draining kicks that carry
 * fds is tested everywhere.
 *
 * The weapon against hugetlb mappings: the owner of a hugetlb region punches
 * its pages out and drains the huge page pool; whoever touches the hole
 * then gets SIGBUS.  A channel must refuse such a peer region.
 *
 * Cleanup runs in each test's teardown, on success and on failure: the
 * child is reaped (killed first if still there), the accepted ends are
 * closed first (their unread data makes the kernel reset the lingering
 * sockets, so no later close of those can wait), then everything else;
 * the huge page pool gets its old size back.
 */
#include "t_daemon.h"
#include "t_proc.h"
#include "wire/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Far below the linger time, far above what any honest call takes. */
#define LIVENESS_MS 10000
#define MAX_TRACKED 32

/* ---- what a test leaves for its teardown ---- */

static struct {
	pid_t child;
	int first[MAX_TRACKED]; /* accepted ends and listeners: closed first */
	unsigned nfirst;
	int rest[MAX_TRACKED];
	unsigned nrest;
	struct ism_conn *conn;
	struct ism_chan *chan;
	long hugepages_old; /* >= 0: restore /proc/sys/vm/nr_hugepages */
} T = { .hugepages_old = -1 };

static int track_first(int fd)
{
	assert_true(fd >= 0);
	assert_true(T.nfirst < MAX_TRACKED);
	T.first[T.nfirst++] = fd;
	return fd;
}

static int track(int fd)
{
	assert_true(fd >= 0);
	assert_true(T.nrest < MAX_TRACKED);
	T.rest[T.nrest++] = fd;
	return fd;
}

/* Close a tracked fd now (the hostile side dropping its copy). */
static void untrack_close(int fd)
{
	for (unsigned i = 0; i < T.nrest; i++) {
		if (T.rest[i] == fd) {
			T.rest[i] = T.rest[--T.nrest];
			close(fd);
			return;
		}
	}
	fail_msg("fd %d not tracked", fd);
}

static int wait_child(pid_t pid, int ms);
static void pool_restore(void);

static int cleanup(void **state)
{
	(void)state;
	if (T.child > 0)
		wait_child(T.child, 0);
	T.child = 0;
	while (T.nfirst)
		close(T.first[--T.nfirst]);
	while (T.nrest)
		close(T.rest[--T.nrest]);
	ism_chan_close(T.chan);
	T.chan = NULL;
	ism_conn_close(T.conn);
	T.conn = NULL;
	pool_restore();
	return 0;
}

/* ---- processes ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait up to @ms for @pid: its exit status, 128+signal, or -1 if it had
 * to be killed (a hang). */
static int wait_child(pid_t pid, int ms)
{
	uint64_t until = now_ms() + (uint64_t)ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (now_ms() >= until)
			break;
		t_msleep(10);
	}
	if (ms > 0)
		fprintf(stderr, "child %d still busy after %d ms: killed\n",
			(int)pid, ms);
	t_kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Fork the honest side.  cmocka's handlers for fatal signals go: a
 * signal in the child must kill it (and show in its status), not resume
 * the test runner in a copy of this process. */
static pid_t start_child(int (*fn)(void *), void *arg)
{
	static const int fatal[] = { SIGBUS, SIGSEGV, SIGILL,
				     SIGFPE, SIGSYS,  SIGABRT };

	T.child = fork();
	assert_true(T.child >= 0);
	if (T.child == 0) {
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], SIG_DFL);
		_exit(fn(arg));
	}
	return T.child;
}

static int finish_child(void)
{
	int st = wait_child(T.child, LIVENESS_MS);

	T.child = 0;
	return st;
}

/* ---- the weapon ---- */

/*
 * A connected loopback TCP socket with SO_LINGER {1, 3600} and more bytes
 * queued than the accepted end (which never reads) will take: its last
 * close waits an hour.  The listener and the accepted end are tracked
 * (closed first at teardown); the caller owns the returned socket.
 */
static int lingering_socket(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct linger lg = { .l_onoff = 1, .l_linger = 3600 };
	static char junk[65536];
	int small = 4096, l, s, queued = 0;

	l = track_first(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	/* Small buffers: the window closes after a few KiB. */
	assert_int_equal(
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(
		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(connect(s, (struct sockaddr *)&a, alen), 0);
	track_first(accept4(l, NULL, NULL, SOCK_CLOEXEC));
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	/* Fill until the send queue stays full. */
	for (int idle = 0; idle < 5;) {
		if (send(s, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) >
		    0) {
			idle = 0;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		idle++;
		t_msleep(10);
	}
	assert_int_equal(ioctl(s, SIOCOUTQ, &queued), 0);
	assert_true(queued > 0);
	return s;
}

/* One byte with @fd attached, on @sock: 0 or -errno. */
static int send_fd(int sock, int fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = "k", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(&ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/*
 * A link pair whose @handed end carries a lingering socket in its receive
 * queue (sent from the kept end before it leaves); the hostile side's copy
 * of the lingering socket is closed.  Returns the kept end; both tracked.
 */
static int poisoned_link(int *handed)
{
	int sv[2], s;

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	track(sv[0]);
	*handed = track(sv[1]);
	s = lingering_socket();
	assert_int_equal(send_fd(sv[0], s), 0);
	close(s); /* not the last reference: one is in flight */
	return sv[0];
}

static struct ism_conn *hostile_conn(const char *name)
{
	T.conn = t_connect(&t_group, name, 0);
	return T.conn;
}

/* ---- regions ---- */

struct region_args {
	struct ism_token tok[2];
};

/* Attach, close, a status call, attach another and close the connection
 * with it: each must come back. */
static int honest_attacher(void *arg)
{
	struct region_args *a = arg;
	struct ism_region *r;
	struct ism_status st;
	struct ism_conn *c;

	if (ism_conn_open(t_group.sock, NULL, &c) < 0)
		return 10;
	if (ism_region_attach(c, &a->tok[0], ISM_ACCESS_RO, 0, &r) < 0)
		return 11;
	ism_region_close(r);
	if (ism_admin_status(c, &st) < 0)
		return 12;
	if (ism_region_attach(c, &a->tok[1], ISM_ACCESS_RO, 0, &r) < 0)
		return 13;
	ism_conn_close(c); /* frees the second handle, link and all */
	return 0;
}

static void test_region_link_close(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINK,
				    .max_access = ISM_ACCESS_RO };
	struct ism_conn *owner = hostile_conn("hostile-owner");
	struct region_args args;
	struct ism_region *r[2];
	int handed;

	(void)state;
	for (int i = 0; i < 2; i++) {
		poisoned_link(&handed);
		o.link_fd = handed;
		assert_int_equal(ism_region_alloc(owner, 4096, &o, &r[i]), 0);
		untrack_close(handed); /* ismd's copy goes to the attacher */
		ism_region_token(r[i], &args.tok[i]);
	}
	start_child(honest_attacher, &args);
	assert_int_equal(finish_child(), 0);
}

/* ---- channels ---- */

static struct ism_chan_opts chan_opts(void)
{
	struct ism_chan_opts o = { .size = sizeof(o), .ring_size = 4096 };

	return o;
}

/* A formatted channel region as libism lays one out: what a hostile side
 * copies into memory of its own choosing. */
static size_t chan_template(uint8_t *buf, size_t cap)
{
	struct ism_chan_opts o = chan_opts();
	struct ism_chan *ch;
	struct stat st;
	int fds[2];

	assert_int_equal(ism_chan_local_create(&o, &ch), 0);
	assert_int_equal(ism_chan_local_export(ch, fds), 0);
	assert_int_equal(fstat(fds[0], &st), 0);
	assert_true(st.st_size > 0 && (size_t)st.st_size <= cap);
	assert_int_equal(pread(fds[0], buf, (size_t)st.st_size, 0), st.st_size);
	close(fds[0]);
	close(fds[1]);
	ism_chan_close(ch);
	return (size_t)st.st_size;
}

struct local_args {
	int ctl;
	bool old_kernel;
};

/* What a kernel before 6.16 does: every socket takes fds.  (Turns
 * SO_PASSRIGHTS back on where libism turned it off, so that the kicks
 * really come with fds and their draining is what is tested.) */
static void as_before_6_16(void)
{
	int on = 1;

	for (int fd = 0; fd < 1024; fd++)
		setsockopt(fd, SOL_SOCKET, 83 /* SO_PASSRIGHTS */, &on,
			   sizeof(on));
}

/* The honest side of a local channel over a control socket: export
 * ours, connect with theirs, receive until they hang up, free, and use
 * libism once more. */
static int honest_local(void *arg)
{
	struct local_args *a = arg;
	int ctl = a->ctl, mine[2], theirs[ISM_WIRE_MAX_FDS];
	struct ism_chan_opts o = chan_opts();
	struct ism_chan *ch;
	unsigned nfds = 0;
	char b[64];
	ssize_t n;

	if (ism_chan_local_create(&o, &ch) < 0)
		return 20;
	if (a->old_kernel)
		as_before_6_16();
	if (ism_chan_local_export(ch, mine) < 0 ||
	    ism_wire_send(ctl, "x", 1, mine, 2, 0) < 0)
		return 20;
	close(mine[0]);
	close(mine[1]);
	if (ism_wire_recv(ctl, b, sizeof(b), theirs, &nfds, 0) != 1 ||
	    nfds != 2)
		return 21;
	if (ism_chan_local_connect(ch, theirs[0], theirs[1]) < 0)
		return 22;
	/* The first look arms, the second drains the link: whatever the
	 * other side queued there before we connected. */
	for (int i = 0; i < 2; i++)
		if (ism_chan_recv(ch, b, sizeof(b), ISM_F_DONTWAIT) != -EAGAIN)
			return 23;
	if (write(ctl, "d", 1) != 1)
		return 24;
	n = ism_chan_recv(ch, b, sizeof(b), 0);
	if (n != -EPIPE && n != -ESHUTDOWN)
		return 25;
	ism_chan_close(ch);
	if (ism_chan_local_create(&o, &ch) < 0)
		return 26;
	ism_chan_close(ch);
	return 0;
}

static void local_chan_links(bool old_kernel)
{
	struct ism_chan_opts o = chan_opts();
	int ctl[2], theirs[ISM_WIRE_MAX_FDS], ours[2], kept, handed, s, e;
	struct local_args args = { .old_kernel = old_kernel };
	unsigned nfds = 0;
	char b[64];

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl), 0);
	track(ctl[0]);
	args.ctl = track(ctl[1]);
	start_child(honest_local, &args);
	assert_int_equal(ism_wire_recv(ctl[0], b, sizeof(b), theirs, &nfds, 0),
			 1);
	assert_int_equal(nfds, 2);
	track(theirs[0]);
	track(theirs[1]);
	/* Into the honest side's own link end, where its kicks arrive: with
	 * SO_PASSRIGHTS off (Linux >= 6.16) the kernel refuses. */
	s = lingering_socket();
	e = send_fd(theirs[1], s);
	if (e == 0)
		close(s);
	else
		track(s); /* refused: still only ours, reset at teardown */
	assert_true(e == 0 || (e == -EPERM && !old_kernel));
	fprintf(stderr, "fds into the honest side's link: %s\n",
		e ? strerror(-e) : "accepted");
	/* Our region is a real channel's; our link, a poisoned one. */
	assert_int_equal(ism_chan_local_create(&o, &T.chan), 0);
	assert_int_equal(ism_chan_local_export(T.chan, ours), 0);
	track(ours[0]);
	close(ours[1]);
	kept = poisoned_link(&handed);
	ours[1] = handed;
	assert_int_equal(ism_wire_send(ctl[0], "y", 1, ours, 2, 0), 0);
	untrack_close(ours[0]);
	untrack_close(handed);
	/* It connects and drains its link: a hang there is a failure. */
	{
		struct pollfd p = { .fd = ctl[0], .events = POLLIN };

		if (poll(&p, 1, LIVENESS_MS) != 1)
			fail_msg("the honest side hung connecting or draining");
		assert_int_equal(read(ctl[0], b, 1), 1);
	}
	/* Now hang up: kicks and a hang-up are all it will ever get. */
	send(theirs[1], "k", 1, MSG_DONTWAIT);
	ism_chan_close(T.chan);
	T.chan = NULL;
	untrack_close(theirs[1]);
	untrack_close(kept);
	assert_int_equal(finish_child(), 0);
}

static void test_local_chan_links(void **state)
{
	(void)state;
	local_chan_links(false);
}

/* The same where links take fds whatever libism asks: what comes with
 * the kicks is drained, not dropped on the honest side's thread. */
static void test_local_chan_links_old_kernel(void **state)
{
	(void)state;
	local_chan_links(true);
}

struct ismd_chan_args {
	struct ism_token tok;
};

/* Connect to the hostile side's channel over ismd, look, free; then
 * libism is still usable on the same connection. */
static int honest_ismd_chan(void *arg)
{
	struct ismd_chan_args *a = arg;
	struct ism_chan *ch;
	struct ism_status st;
	struct ism_conn *c;
	char b[64];

	if (ism_conn_open(t_group.sock, NULL, &c) < 0)
		return 30;
	if (ism_chan_create(c, NULL, &ch) < 0)
		return 31;
	if (ism_chan_connect(ch, &a->tok) < 0)
		return 32;
	if (ism_chan_recv(ch, b, sizeof(b), ISM_F_DONTWAIT) != -EAGAIN)
		return 33;
	ism_chan_close(ch);
	if (ism_admin_status(c, &st) < 0)
		return 34;
	ism_conn_close(c);
	return 0;
}

static void test_ismd_chan_link(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINK | ISM_ALLOC_LINGER,
				    .max_access = ISM_ACCESS_RO };
	struct ism_conn *owner = hostile_conn("hostile-chan");
	struct ismd_chan_args args;
	static uint8_t tmpl[1 << 16];
	struct ism_region *r;
	size_t len = chan_template(tmpl, sizeof(tmpl));
	int handed;
	void *m;

	(void)state;
	poisoned_link(&handed);
	o.link_fd = handed;
	assert_int_equal(ism_region_alloc(owner, len, &o, &r), 0);
	untrack_close(handed);
	assert_int_equal(ism_region_map(r, &m), 0);
	memcpy(m, tmpl, len);
	ism_region_token(r, &args.tok);
	start_child(honest_ismd_chan, &args);
	assert_int_equal(finish_child(), 0);
}

/* ---- huge pages ---- */

#define NR_HUGE	  "/proc/sys/vm/nr_hugepages"
#define FREE_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
#define HUGE_SIZE (2u << 20)

static void pool_restore(void)
{
	if (T.hugepages_old >= 0 && t_write_long(NR_HUGE, T.hugepages_old) < 0)
		fprintf(stderr, "could not restore %s to %ld\n", NR_HUGE,
			T.hugepages_old);
	T.hugepages_old = -1;
}

/* The default huge page size in KiB (what MFD_HUGETLB uses), or -1. */
static long huge_page_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* At least 4 huge pages of 2 MiB in the pool, 2 of them free, or skip. */
static void pool_up(void)
{
	long old = t_read_long(NR_HUGE);

	if (geteuid() != 0 || old < 0 || huge_page_kib() != 2048) {
		fprintf(stderr, "skipped: needs root and 2 MiB huge pages\n");
		skip();
	}
	if (old < 4) {
		T.hugepages_old = old; /* restored at teardown */
		t_write_long(NR_HUGE, 4);
	}
	if (t_read_long(NR_HUGE) < 4 || t_read_long(FREE_HUGE) < 2) {
		pool_restore();
		fprintf(stderr, "skipped: cannot reserve 4 huge pages here\n");
		skip();
	}
}

/* Take every free huge page (tracked: freed at teardown). */
static void pool_drain(void)
{
	int fd = track(memfd_create("drain", MFD_CLOEXEC | MFD_HUGETLB));
	off_t off = 0;

	assert_int_equal(ftruncate(fd, 64 * (off_t)HUGE_SIZE), 0);
	while (off < 64 * (off_t)HUGE_SIZE &&
	       fallocate(fd, 0, off, HUGE_SIZE) == 0)
		off += HUGE_SIZE;
}

static void punch(int fd)
{
	assert_int_equal(fallocate(fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, HUGE_SIZE),
			 0);
}

/*
 * The honest side reports what connecting gave (over @ctl); if it
 * connected, it waits for the go and then receives, touching the peer's
 * memory.  Its exit status says whether the connect was refused as
 * documented.
 */
static int report_and_touch(int ctl, struct ism_chan *ch, int r)
{
	char b[64];

	if (write(ctl, &r, sizeof(r)) != sizeof(r))
		return 40;
	if (r == 0 && read(ctl, b, 1) == 1)
		(void)ism_chan_recv(ch, b, sizeof(b), ISM_F_DONTWAIT);
	return r == -EOPNOTSUPP ? 0 : 41;
}

static int honest_local_huge(void *arg)
{
	int ctl = *(int *)arg, theirs[ISM_WIRE_MAX_FDS], r;
	struct ism_chan_opts o = chan_opts();
	struct ism_chan *ch;
	unsigned nfds = 0;
	char b[64];

	if (ism_chan_local_create(&o, &ch) < 0)
		return 42;
	if (ism_wire_recv(ctl, b, sizeof(b), theirs, &nfds, 0) != 1 ||
	    nfds != 2)
		return 43;
	r = ism_chan_local_connect(ch, theirs[0], theirs[1]);
	r = report_and_touch(ctl, ch, r);
	ism_chan_close(ch);
	return r;
}

/* The hostile side's part once the honest one has tried: if it
 * connected, punch, drain the pool and let it touch. */
static void attack(int ctl, int region_fd)
{
	int r = 1;

	assert_int_equal(read(ctl, &r, sizeof(r)), sizeof(r));
	fprintf(stderr, "honest connect: %d (%s)\n", r, strerror(-r));
	if (r == 0) {
		punch(region_fd);
		pool_drain();
		assert_int_equal(write(ctl, "g", 1), 1);
	}
}

static void test_local_chan_hugetlb(void **state)
{
	static uint8_t tmpl[1 << 16];
	size_t len = chan_template(tmpl, sizeof(tmpl));
	int ctl[2], fd, sv[2], give[2];
	uint8_t *m;

	(void)state;
	pool_up();
	fd = track(memfd_create("evil-huge",
				MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING));
	assert_int_equal(ftruncate(fd, HUGE_SIZE), 0);
	m = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_ptr_not_equal(m, MAP_FAILED);
	memcpy(m, tmpl, len);
	munmap(m, HUGE_SIZE);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			 0);
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	track(sv[0]);
	track(sv[1]);
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl), 0);
	track(ctl[0]);
	track(ctl[1]);
	start_child(honest_local_huge, &ctl[1]);
	give[0] = fd;
	give[1] = sv[1];
	assert_int_equal(ism_wire_send(ctl[0], "h", 1, give, 2, 0), 0);
	attack(ctl[0], fd);
	assert_int_equal(finish_child(), 0);
}

struct ismd_huge_args {
	struct ism_token tok;
	int ctl;
};

static int honest_ismd_huge(void *arg)
{
	struct ismd_huge_args *a = arg;
	struct ism_chan *ch;
	struct ism_conn *c;
	int r;

	if (ism_conn_open(t_group.sock, NULL, &c) < 0)
		return 44;
	if (ism_chan_create(c, NULL, &ch) < 0)
		return 45;
	r = ism_chan_connect(ch, &a->tok);
	r = report_and_touch(a->ctl, ch, r);
	ism_chan_close(ch);
	ism_conn_close(c);
	return r;
}

static void test_ismd_chan_hugetlb(void **state)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINK | ISM_ALLOC_LINGER |
					     ISM_ALLOC_HUGETLB |
					     ISM_ALLOC_HUGETLB_REQUIRED,
				    .max_access = ISM_ACCESS_RO };
	static uint8_t tmpl[1 << 16];
	size_t len = chan_template(tmpl, sizeof(tmpl));
	struct ismd_huge_args args;
	struct ism_conn *owner;
	struct ism_region *r;
	int sv[2], ctl[2];
	void *m;

	(void)state;
	pool_up();
	owner = hostile_conn("hostile-huge");
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	track(sv[0]);
	track(sv[1]);
	o.link_fd = sv[1];
	assert_int_equal(ism_region_alloc(owner, HUGE_SIZE, &o, &r), 0);
	assert_int_equal(ism_region_map(r, &m), 0);
	memcpy(m, tmpl, len);
	ism_region_token(r, &args.tok);
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl), 0);
	track(ctl[0]);
	args.ctl = track(ctl[1]);
	start_child(honest_ismd_huge, &args);
	attack(ctl[0], ism_region_fd(r));
	assert_int_equal(finish_child(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_region_link_close, cleanup),
		cmocka_unit_test_teardown(test_local_chan_links, cleanup),
		cmocka_unit_test_teardown(test_local_chan_links_old_kernel,
					  cleanup),
		cmocka_unit_test_teardown(test_ismd_chan_link, cleanup),
		cmocka_unit_test_teardown(test_local_chan_hugetlb, cleanup),
		cmocka_unit_test_teardown(test_ismd_chan_hugetlb, cleanup),
	};

	/* A peer's death must not kill the test through a pipe. */
	signal(SIGPIPE, SIG_IGN);
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
