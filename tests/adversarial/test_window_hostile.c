/* SPDX-License-Identifier: MIT */
/*
 * Windows under attack, written from docs/protocol.md (5.16) with raw
 * sockets: malformed WIN_* requests, a stranger forging an owner's
 * WIN_DONE, a window owner that never unmaps during a revocation (the
 * destroy still completes, the owner is cut off), a mapper flooding a
 * silent owner (bounded), and peers of another uid: a grant by uid, and a
 * window owner of another uid that gets a read-only region's fd and
 * tries to write through it.  The other-uid cases need root and are
 * skipped, visibly, otherwise.
 */
#include "t_daemon.h"

#include <ism/window.h>
#include "wire/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define PG     4096u

/* Types and flags from docs/protocol.md. */
enum {
	T_DESTROY = 5,
	T_WIN_CREATE = 30,
	T_WIN_DESTROY = 31,
	T_WIN_MAP = 32,
	T_WIN_UNMAP = 33,
	T_WIN_DONE = 34,
	T_EV_WIN_MAP = 0x108,
	T_EV_WIN_UNMAP = 0x109,
	F_REPLY = 1,
	F_EVENT = 2,
	F_NOREPLY = 4,
};

static const char *const daemon_args[] = { "--socket-mode", "0666", NULL };

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Send header + @n payload bytes. */
static void send_raw(int fd, uint16_t type, uint16_t flags, uint32_t seq,
		     const uint8_t *payload, size_t n)
{
	uint8_t m[512];

	assert_true(n + 16 <= sizeof(m));
	m[0] = (uint8_t)type;
	m[1] = (uint8_t)(type >> 8);
	m[2] = (uint8_t)flags;
	m[3] = (uint8_t)(flags >> 8);
	put32(m + 4, seq);
	put32(m + 8, (uint32_t)(n + 16));
	put32(m + 12, 0);
	memcpy(m + 16, payload, n);
	assert_int_equal(ism_wire_send(fd, m, n + 16, NULL, 0, 0), 0);
}

/* Receive one message; returns its type (events and replies alike) with
 * the payload in @p (capacity 512), its status in *@status, an fd in
 * *@fd (or -1).  -errno on timeout or EOF. */
static int recv_raw(int fd, uint8_t *p, uint32_t *status, uint16_t *flags,
		    int *rfd, int ms)
{
	static uint8_t buf[ISM_WIRE_MAX_MSG];
	int fds[ISM_WIRE_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n = t_raw_recv(fd, buf, sizeof(buf), ms, fds, &nfds);

	if (rfd)
		*rfd = -1;
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (rfd && nfds)
		*rfd = fds[0];
	for (unsigned i = rfd && nfds ? 1 : 0; i < nfds; i++)
		close(fds[i]);
	if (status)
		*status = (uint32_t)get64(buf + 12) & 0xffffffffu;
	if (flags)
		*flags = (uint16_t)(buf[2] | buf[3] << 8);
	memcpy(p, buf + 16, (size_t)n - 16 < 512 ? (size_t)n - 16 : 512);
	return buf[0] | buf[1] << 8;
}

/* The reply to @type, skipping events; its status (0 or errno). */
static int reply_of(int fd, uint16_t type, uint8_t *p)
{
	for (;;) {
		uint32_t st;
		uint16_t fl;
		int t = recv_raw(fd, p, &st, &fl, NULL, 10000);

		if (t < 0)
			return t;
		if ((fl & F_REPLY) && t == type)
			return (int)st;
	}
}

static int raw_peer(uint64_t *id)
{
	int fd = t_raw_connect(t_group.sock);

	assert_true(fd >= 0);
	assert_int_equal(t_raw_hello(fd, id), 0);
	return fd;
}

/* WIN_CREATE: size, max_access, max_maps, and an empty grant. */
static uint64_t raw_window(int fd, uint64_t size, uint32_t access)
{
	uint8_t p[24] = { 0 }, r[512];

	put64(p, size);
	put32(p + 8, access);
	put32(p + 12, 64);
	send_raw(fd, T_WIN_CREATE, 0, 2, p, sizeof(p));
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), 0);
	return get64(r);
}

static void test_malformed(void **state)
{
	uint8_t p[64] = { 0 }, r[512];
	uint64_t id;
	int fd = raw_peer(&id);

	(void)state;
	/* WIN_CREATE: unaligned size, no maps, bad access, short, long. */
	put64(p, 4097);
	put32(p + 8, 1);
	put32(p + 12, 4);
	send_raw(fd, T_WIN_CREATE, 0, 2, p, 24);
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), EINVAL);
	put64(p, 4096);
	put32(p + 12, 0);
	send_raw(fd, T_WIN_CREATE, 0, 3, p, 24);
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), EINVAL);
	put32(p + 12, 4);
	put32(p + 8, 7);
	send_raw(fd, T_WIN_CREATE, 0, 4, p, 24);
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), EINVAL);
	put32(p + 8, 1);
	send_raw(fd, T_WIN_CREATE, 0, 5, p, 23);
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), EBADMSG);
	send_raw(fd, T_WIN_CREATE, 0, 6, p, 25);
	assert_int_equal(reply_of(fd, T_WIN_CREATE, r), EBADMSG);
	/* A grant count that is not to be trusted. */
	put32(p + 16, 1000);
	send_raw(fd, T_WIN_CREATE, 0, 7, p, 24);
	assert_true(reply_of(fd, T_WIN_CREATE, r) > 0);
	memset(p, 0, sizeof(p));
	/* WIN_MAP: zero length, wrapping offsets, unknown window. */
	put64(p, 1);
	put64(p + 48, 0);
	put32(p + 48, 1);
	send_raw(fd, T_WIN_MAP, 0, 8, p, 56);
	assert_int_equal(reply_of(fd, T_WIN_MAP, r), EINVAL);
	put64(p + 24, UINT64_MAX - 4095);
	put64(p + 40, 8192);
	send_raw(fd, T_WIN_MAP, 0, 9, p, 56);
	assert_int_equal(reply_of(fd, T_WIN_MAP, r), EINVAL);
	put64(p + 24, 0);
	put64(p, 0x7777);
	send_raw(fd, T_WIN_MAP, 0, 10, p, 56);
	assert_int_equal(reply_of(fd, T_WIN_MAP, r), ENOENT);
	/* WIN_DONE: bad op, status out of range, an unmap "failing". */
	memset(p, 0, sizeof(p));
	put64(p, 5);
	put32(p + 8, 9);
	send_raw(fd, T_WIN_DONE, 0, 11, p, 16);
	assert_int_equal(reply_of(fd, T_WIN_DONE, r), EINVAL);
	put32(p + 8, 1);
	put32(p + 12, 99999);
	send_raw(fd, T_WIN_DONE, 0, 12, p, 16);
	assert_int_equal(reply_of(fd, T_WIN_DONE, r), EINVAL);
	put32(p + 8, 2);
	put32(p + 12, 5);
	send_raw(fd, T_WIN_DONE, 0, 13, p, 16);
	assert_int_equal(reply_of(fd, T_WIN_DONE, r), EINVAL);
	/* WIN_UNMAP and WIN_DESTROY of what is not ours. */
	put64(p, 0x12345);
	send_raw(fd, T_WIN_UNMAP, 0, 14, p, 8);
	assert_int_equal(reply_of(fd, T_WIN_UNMAP, r), ENOENT);
	send_raw(fd, T_WIN_DESTROY, 0, 15, p, 8);
	assert_int_equal(reply_of(fd, T_WIN_DESTROY, r), ENOENT);
	/* Still served. */
	assert_true(raw_window(fd, PG, 1) != 0);
	close(fd);
	assert_true(t_daemon_alive(&t_group));
}

/* A libism mapper whose blocking call runs on a thread. */
struct mapper {
	struct ism_conn *c;
	uint64_t window;
	struct ism_token tok;
	uint64_t roff, woff, len;
	uint32_t access;
	uint64_t map;
	int result;
	pthread_t t;
};

static void *mapper_run(void *arg)
{
	struct mapper *m = arg;

	m->result = ism_window_map_region(m->c, m->window, &m->tok, m->roff,
					  m->woff, m->len, m->access, &m->map);
	return NULL;
}

/* Wait on the raw owner's socket for EV_WIN_MAP; returns its fd, and its
 * map id in *@map. */
static int await_map(int fd, uint64_t *map)
{
	uint8_t p[512];

	for (;;) {
		int rfd, t = recv_raw(fd, p, NULL, NULL, &rfd, 10000);

		assert_true(t > 0);
		if (t == T_EV_WIN_MAP) {
			assert_true(rfd >= 0);
			*map = get64(p + 8);
			return rfd;
		}
		if (rfd >= 0)
			close(rfd);
	}
}

static void done(int fd, uint64_t map, uint32_t op, uint32_t status)
{
	uint8_t p[16];

	put64(p, map);
	put32(p + 8, op);
	put32(p + 12, status);
	send_raw(fd, T_WIN_DONE, F_NOREPLY, 0, p, sizeof(p));
}

static void test_forged_done(void **state)
{
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct mapper m = { .c = b, .len = PG, .access = ISM_ACCESS_RO };
	struct ism_region *r;
	uint8_t p[16], rep[512];
	uint64_t id, map;
	int owner = raw_peer(&id), x = raw_peer(&id), rfd;

	(void)state;
	assert_int_equal(ism_region_alloc(b, PG, &o, &r), 0);
	ism_region_token(r, &m.tok);
	m.window = raw_window(owner, 4 * PG, ISM_ACCESS_RW);
	assert_int_equal(pthread_create(&m.t, NULL, mapper_run, &m), 0);
	rfd = await_map(owner, &map);
	/* A read-only mapping comes as a read-only fd. */
	assert_int_equal(fcntl(rfd, F_GETFL) & O_ACCMODE, O_RDONLY);
	/* A stranger cannot answer for the owner (asked for a reply). */
	put64(p, map);
	put32(p + 8, 1);
	put32(p + 12, 0);
	send_raw(x, T_WIN_DONE, 0, 3, p, sizeof(p));
	assert_int_equal(reply_of(x, T_WIN_DONE, rep), ENOENT);
	/* Nor unmap it (an administrator neither: the test runs as root;
	 * another uid's WIN_DESTROY is in test_other_uid). */
	send_raw(x, T_WIN_UNMAP, 0, 4, p, 8);
	assert_int_equal(reply_of(x, T_WIN_UNMAP, rep), ENOENT);
	/* The owner refuses: the mapper hears the owner's errno. */
	done(owner, map, 1, ENOMEM);
	pthread_join(m.t, NULL);
	assert_int_equal(m.result, -ENOMEM);
	close(rfd);
	/* The owner confirms twice, and unmaps what it never had: nothing
	 * breaks. */
	assert_int_equal(pthread_create(&m.t, NULL, mapper_run, &m), 0);
	rfd = await_map(owner, &map);
	done(owner, map, 1, 0);
	done(owner, map, 1, 0);
	pthread_join(m.t, NULL);
	assert_int_equal(m.result, 0);
	assert_int_equal(m.map, map);
	done(owner, map + 1000, 2, 0);
	close(rfd);
	close(x);
	close(owner);
	ism_region_close(r);
	ism_conn_close(b);
	assert_true(t_daemon_alive(&t_group));
}

/* The owner never unmaps: a DESTROY of the region still completes (the
 * owner is cut off), in bounded time. */
static void test_owner_ignores_revocation(void **state)
{
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct mapper m = { .c = b, .len = PG, .access = ISM_ACCESS_RO };
	struct ism_region *r;
	uint8_t p[512];
	uint64_t id, map;
	bool unmap_seen = false;
	int owner = raw_peer(&id), rfd, t;

	(void)state;
	assert_int_equal(ism_region_alloc(b, PG, &o, &r), 0);
	ism_region_token(r, &m.tok);
	m.window = raw_window(owner, 4 * PG, ISM_ACCESS_RW);
	assert_int_equal(pthread_create(&m.t, NULL, mapper_run, &m), 0);
	rfd = await_map(owner, &map);
	done(owner, map, 1, 0);
	pthread_join(m.t, NULL);
	assert_int_equal(m.result, 0);
	close(rfd);
	/* Answered (count of referrers told) despite the silent owner. */
	assert_true(ism_region_destroy(r) >= 0);
	while ((t = recv_raw(owner, p, NULL, NULL, NULL, 15000)) > 0)
		if (t == T_EV_WIN_UNMAP && get64(p + 8) == map)
			unmap_seen = true;
	assert_true(unmap_seen);
	assert_int_equal(t, -ECONNRESET); /* cut off */
	close(owner);
	ism_region_close(r);
	ism_conn_close(b);
	assert_true(t_daemon_alive(&t_group));
}

/* A mapper pipelining requests at a silent owner: a bounded number reach
 * it, the rest are refused at once. */
static void test_flood_silent_owner(void **state)
{
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r;
	struct ism_token tok;
	uint8_t p[56] = { 0 }, rep[512];
	uint64_t id, win;
	int owner = raw_peer(&id), m = raw_peer(&id), again = 0, events = 0;

	(void)state;
	assert_int_equal(ism_region_alloc(b, PG, &o, &r), 0);
	ism_region_token(r, &tok);
	win = raw_window(owner, 64 * PG, ISM_ACCESS_RO);
	for (unsigned i = 0; i < 40; i++) {
		put64(p, win);
		memcpy(p + 8, tok.b, 16);
		put64(p + 24, 0);
		put64(p + 32, (uint64_t)i * PG);
		put64(p + 40, PG);
		put32(p + 48, 1);
		put32(p + 52, 0);
		send_raw(m, T_WIN_MAP, 0, 100 + i, p, sizeof(p));
	}
	for (unsigned i = 0; i < 40 - 16; i++)
		if (reply_of(m, T_WIN_MAP, rep) == EAGAIN)
			again++;
	assert_int_equal(again, 40 - 16);
	for (;;) {
		int rfd, t = recv_raw(owner, rep, NULL, NULL, &rfd, 200);

		if (t < 0)
			break;
		if (rfd >= 0)
			close(rfd);
		events += t == T_EV_WIN_MAP;
	}
	assert_int_equal(events, 16);
	close(m);
	close(owner);
	ism_region_close(r);
	ism_conn_close(b);
	assert_true(t_daemon_alive(&t_group));
}

static bool can_switch(void)
{
	if (geteuid() != 0) {
		fprintf(stderr,
			"skipped: needs root to run a peer as nobody\n");
		return false;
	}
	return true;
}

static int become_nobody(void)
{
	return setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) ? -1 : 0;
}

struct nobody_args {
	const char *sock;
	uint64_t root_only, open;
	struct ism_token tok;
	int pfd;
};

/* As nobody: refused by a window grant to uid 0, let in by an open one. */
static int nobody_mapper(void *arg)
{
	struct nobody_args *a = arg;
	struct ism_conn *c;

	if (become_nobody() < 0 || ism_conn_open(a->sock, NULL, &c) < 0)
		return 10;
	if (ism_window_map_region(c, a->root_only, &a->tok, 0, 0, PG,
				  ISM_ACCESS_RO, NULL) != -EACCES)
		return 11;
	if (ism_window_map_region(c, a->open, &a->tok, 0, 0, PG, ISM_ACCESS_RO,
				  NULL) != 0)
		return 12;
	ism_conn_close(c);
	/* Nor can it destroy another's window. */
	{
		uint8_t p[8], r[512];
		uint64_t id;
		int fd = t_raw_connect(a->sock);

		if (fd < 0 || t_raw_hello(fd, &id) < 0)
			return 13;
		put64(p, a->open);
		send_raw(fd, T_WIN_DESTROY, 0, 3, p, sizeof(p));
		if (reply_of(fd, T_WIN_DESTROY, r) != ENOENT)
			return 14;
		close(fd);
	}
	return 0;
}

/* As nobody, a window owner handed a read-only region's fd: every way to
 * write through it fails in the kernel. */
static int nobody_owner(void *arg)
{
	struct nobody_args *a = arg;
	uint64_t id, win, map;
	char path[64];
	int fd, rfd;

	if (become_nobody() < 0)
		return 10;
	fd = t_raw_connect(a->sock);
	if (fd < 0 || t_raw_hello(fd, &id) < 0)
		return 11;
	win = raw_window(fd, 4 * PG, ISM_ACCESS_RW);
	if (write(a->pfd, &win, sizeof(win)) != sizeof(win))
		return 12;
	rfd = await_map(fd, &map);
	if ((fcntl(rfd, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return 13;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rfd);
	if (open(path, O_RDWR) >= 0 || errno != EACCES)
		return 14;
	if (mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0) !=
	    MAP_FAILED)
		return 15;
	if (pwrite(rfd, "x", 1, 0) >= 0 ||
	    fallocate(rfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PG) >=
		    0)
		return 16;
	done(fd, map, 1, 0);
	close(rfd);
	/* Wait for the mapper to be answered, then go. */
	{
		uint8_t p[512];

		while (recv_raw(fd, p, NULL, NULL, NULL, 200) > 0)
			;
	}
	close(fd);
	return 0;
}

static void test_other_uid(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct nobody_args na = { .sock = t_group.sock };
	struct ism_window *w1, *w2;
	struct ism_region *r;
	uint32_t root = 0;
	char *src;
	int p[2];
	pid_t pid;

	(void)state;
	if (!can_switch())
		skip();
	assert_int_equal(ism_region_alloc(b, PG, &o, &r), 0);
	assert_int_equal(ism_region_map(r, (void **)&src), 0);
	strcpy(src, "read only");
	ism_region_token(r, &na.tok);
	{
		struct ism_window_grant g = { .size = sizeof(g),
					      .n_uids = 1,
					      .uids = &root };

		assert_int_equal(ism_window_create(4 * PG, NULL, &w1), 0);
		assert_int_equal(ism_window_register(w1, a, &g, &na.root_only),
				 0);
		assert_int_equal(ism_window_create(4 * PG, NULL, &w2), 0);
		assert_int_equal(ism_window_register(w2, a, NULL, &na.open), 0);
	}
	/* The owner serves while the child waits on it. */
	pid = t_fork(nobody_mapper, &na);
	{
		struct ism_event ev;
		int st = -1;

		/* Serve until the child is done (bounded: 20 s). */
		for (int waited = 0; waited < 20000; waited += 5) {
			struct pollfd pf = { .fd = ism_conn_fd(a),
					     .events = POLLIN };

			if (poll(&pf, 1, 5) > 0)
				ism_conn_process(a);
			while (ism_conn_next_event(a, &ev) == 1)
				;
			if (waitpid(pid, &st, WNOHANG) == pid)
				break;
		}
		if (st == -1) {
			t_kill(pid, SIGKILL);
			t_wait(pid);
		}
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* A window owner of another uid. */
	assert_int_equal(pipe(p), 0);
	na.pfd = p[1];
	pid = t_fork(nobody_owner, &na);
	{
		struct mapper m = { .c = b,
				    .tok = na.tok,
				    .len = PG,
				    .access = ISM_ACCESS_RO };

		assert_int_equal(read(p[0], &m.window, sizeof(m.window)),
				 sizeof(m.window));
		mapper_run(&m);
		assert_int_equal(m.result, 0);
	}
	assert_int_equal(t_wait(pid), 0);
	assert_string_equal(src, "read only");
	close(p[0]);
	close(p[1]);
	ism_window_destroy(w1);
	ism_window_destroy(w2);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_forged_done),
		cmocka_unit_test(test_owner_ignores_revocation),
		cmocka_unit_test(test_flood_silent_owner),
		cmocka_unit_test(test_other_uid),
	};

	t_group_args = daemon_args;
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
