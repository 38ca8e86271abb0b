/* SPDX-License-Identifier: MIT */
/*
 * Pending references parked by strangers must not slow recovery down
 * (issue 9, item 19).
 *
 * After ismd restarts, a resumed peer may REATTACH regions of the earlier
 * ismd whose owners have not re-registered yet: each becomes a pending
 * reference, held until its owner's REGISTER (or the end of the recovery
 * window).  The previous ismd kept them in one list that every REGISTER
 * walked: resumed strangers park a million of them (each within its
 * attachment quota), and an honest owner's every region then costs a
 * walk of all of them, so only a few hundred fit in the window and the
 * rest of its regions are lost.
 *
 * STRANGERS resumed peers each park as many pending references as their
 * quota (--quota-attachments QUOTA) allows, with pipelined REATTACH
 * batches of ISM_REATTACH_MAX, each on a region id of its own (the
 * global cap, 2^20, is then nearly reached).  Then:
 *
 * - an honest owner re-registers REGIONS regions, one REGISTER each:
 *   every one must be accepted within the recovery window;
 * - the window ends on the million references (each is lost, REGION_GONE
 *   reason 4): ismd must keep answering, and stop when asked.
 *
 * Throughout, a bystander asks STATUS every few milliseconds; every
 * answer must come within a generous bound (seconds: a liveness bound,
 * not a speed one).
 *
 * The strangers are uid 65533 when the test runs as root (a child of that
 * uid makes each connection), otherwise connections of our own uid: the
 * attack needs no other uid.  Raw protocol on every side.  The teardown
 * stops the bystander and ismd and closes everything, whatever happened.
 */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STRANGER_UID 65533
#define STRANGERS    5
#define QUOTA	     200000
#define REGIONS	     8000
#define WINDOW_MS    15000
/* The second test only waits for the window's end. */
#define SHORT_WINDOW_MS 6000
/* A liveness bound, far above what a STATUS takes. */
#define BYSTANDER_MS 5000
/* REATTACH requests in flight per stranger. */
#define PIPELINE 8

static uint8_t tx[ISM_WIRE_MAX_MSG], rx[ISM_WIRE_MAX_MSG];

struct ident {
	uint64_t id;
	uint8_t proof[ISM_PROOF_SIZE];
};

struct owned {
	uint64_t region, size;
	uint8_t token[ISM_TOKEN_SIZE], proof[ISM_PROOF_SIZE];
	int fd;
};

static struct {
	struct ism_private d;
	struct owned *own; /* n_own of them */
	int n_own;
	int conns[STRANGERS + 2];
	pid_t bystander;
	int ctl; /* to the bystander: closed means stop */
	int res; /* from the bystander */
} T = { .ctl = -1, .res = -1 };

static int teardown(void **state)
{
	(void)state;
	if (T.bystander > 0) {
		t_kill(T.bystander, SIGKILL);
		t_wait(T.bystander);
	}
	if (T.ctl >= 0)
		close(T.ctl);
	if (T.res >= 0)
		close(T.res);
	for (unsigned i = 0; i < ISM_ARRAY_SIZE(T.conns); i++)
		if (T.conns[i] > 0)
			close(T.conns[i]);
	if (T.own)
		for (int i = 0; i < T.n_own; i++)
			if (T.own[i].fd > 0)
				close(T.own[i].fd);
	free(T.own);
	if (T.d.pid > 0)
		t_daemon_stop_within(&T.d, 10000);
	if (T.d.dir[0])
		t_daemon_cleanup(&T.d);
	memset(&T, 0, sizeof(T));
	T.ctl = T.res = -1;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- raw messages ---- */

static int send_msg(int fd, struct ism_wbuf *b, const int *fds, unsigned n)
{
	int len = ism_proto_end(b);

	return len < 0 ? len : ism_wire_send(fd, b->p, (size_t)len, fds, n, 0);
}

/*
 * The next reply on @fd (events skipped), its payload in @rb; its
 * status (0 or a positive errno), or -errno.  @fds (if not NULL) gets
 * its fds, else they are closed.
 */
static int next_reply(int fd, struct ism_rbuf *rb, struct ism_wire_hdr *h,
		      int *fds, unsigned *nfds, int timeout_ms)
{
	for (;;) {
		ssize_t k =
			t_raw_recv(fd, rx, sizeof(rx), timeout_ms, fds, nfds);

		if (k <= 0)
			return k == 0 ? -ECONNRESET : (int)k;
		ism_rbuf_init(rb, rx, (size_t)k);
		if (ism_wire_hdr_get(rb, (size_t)k, h) < 0)
			return -EBADMSG;
		if (!(h->flags & ISM_WIRE_F_EVENT))
			return (int)h->status;
		if (fds)
			ism_close_fds(fds, *nfds);
	}
}

/* HELLO, resuming @who if its id is set; the new identity in @who.
 * Returns the reply's flags. */
static uint32_t hello(int fd, struct ident *who)
{
	struct ism_hello_req h = { .min_version = 1, .max_version = 1 };
	struct ism_hello_rep rep;
	struct ism_wire_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;

	if (who->id) {
		h.flags = ISM_HELLO_F_RESUME;
		h.resume_id = who->id;
		memcpy(h.resume_proof, who->proof, ISM_PROOF_SIZE);
	}
	ism_strlcpy(h.name, "raw", sizeof(h.name));
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &h);
	assert_int_equal(send_msg(fd, &b, NULL, 0), 0);
	assert_int_equal(next_reply(fd, &rb, &hdr, NULL, NULL, 10000), 0);
	assert_int_equal(ism_proto_get_hello_rep(&rb, &rep), 0);
	who->id = rep.peer_id;
	memcpy(who->proof, rep.resume_proof, ISM_PROOF_SIZE);
	return rep.flags;
}

/* A connection of our own uid, or (as root, @stranger) of STRANGER_UID:
 * a child of that uid connects and hands the socket back. */
static int connect_as(bool stranger)
{
	int sv[2], fd = -1, r;
	unsigned n = 0;
	pid_t pid;
	char c;

	if (!stranger || geteuid() != 0) {
		fd = t_raw_connect(T.d.sock);
		assert_true(fd >= 0);
		return fd;
	}
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgroups(0, NULL) || setgid(STRANGER_UID) ||
		    setuid(STRANGER_UID))
			_exit(1);
		fd = t_raw_connect(T.d.sock);
		_exit(fd < 0 || ism_wire_send(sv[1], "c", 1, &fd, 1, 0) < 0
			      ? 2
			      : 0);
	}
	close(sv[1]);
	r = (int)ism_wire_recv(sv[0], &c, 1, &fd, &n, 0);
	close(sv[0]);
	assert_int_equal(t_wait(pid), 0);
	assert_int_equal(r, 1);
	assert_int_equal(n, 1);
	return fd;
}

/* ---- the bystander: STATUS every few ms, the slowest answer ---- */

struct bystander_report {
	int err;		   /* 0, or the first failure (-errno) */
	uint32_t asked;		   /* STATUS requests answered */
	uint32_t worst_ms;	   /* the slowest */
	uint32_t recovery_ms_left; /* in the last answer */
};

static int bystander(void *arg)
{
	int *p = arg; /* the stop pipe's read end, the report, and the
			 stop pipe's write end (ours to close) */
	struct bystander_report rep = { 0 };
	struct pollfd stop = { p[0], POLLIN, 0 };
	struct ident me = { 0 };
	int fd = t_raw_connect(T.d.sock);

	close(p[2]); /* so that the parent's close is the end */
	if (fd < 0)
		rep.err = fd;
	else
		hello(fd, &me);
	while (rep.err == 0 && poll(&stop, 1, 5) == 0) {
		struct ism_status st;
		struct ism_wire_hdr h;
		struct ism_wbuf b;
		struct ism_rbuf rb;
		uint64_t t0 = now_ms(), dt;

		ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STATUS, 0, 2, 0);
		if ((rep.err = send_msg(fd, &b, NULL, 0)) < 0)
			break;
		/* Waits past the bound: how slow it was is the report. */
		rep.err = next_reply(fd, &rb, &h, NULL, NULL, 2 * BYSTANDER_MS);
		dt = now_ms() - t0;
		rep.worst_ms = (uint32_t)ISM_MAX(rep.worst_ms, dt);
		if (rep.err == 0 && ism_proto_get_status_rep(&rb, &st) == 0)
			rep.recovery_ms_left = st.recovery_ms_left;
		rep.asked++;
	}
	if (rep.err > 0)
		rep.err = -rep.err;
	return write(p[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1;
}

static void bystander_start(void)
{
	int stop[2], res[2];

	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	{
		int p[3] = { stop[0], res[1], stop[1] };

		T.bystander = t_fork(bystander, p);
	}
	close(stop[0]);
	close(res[1]);
	T.ctl = stop[1];
	T.res = res[0];
	assert_true(T.bystander > 0);
}

static struct bystander_report bystander_stop(void)
{
	struct bystander_report rep;

	close(T.ctl);
	T.ctl = -1;
	assert_int_equal(read(T.res, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(t_wait(T.bystander), 0);
	T.bystander = 0;
	fprintf(stderr,
		"bystander: %u STATUS answered, the slowest in %u ms (bound "
		"%d)%s%s\n",
		rep.asked, rep.worst_ms, BYSTANDER_MS, rep.err ? ": " : "",
		rep.err ? strerror(-rep.err) : "");
	return rep;
}

/* ---- the attack ---- */

static void alloc_region(int fd, int i, struct owned *o)
{
	struct ism_alloc_req req = { .size = 4096,
				     .max_access = ISM_ACCESS_RO };
	struct ism_alloc_rep rep;
	struct ism_wire_hdr h;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	unsigned n = 0;
	int fds[ISM_WIRE_MAX_FDS];

	snprintf(req.name, sizeof(req.name), "honest-%d", i);
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_ALLOC, 0, 3, 0);
	ism_proto_put_alloc_req(&b, &req);
	assert_int_equal(send_msg(fd, &b, NULL, 0), 0);
	assert_int_equal(next_reply(fd, &rb, &h, fds, &n, 10000), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ism_proto_get_alloc_rep(&rb, &rep), 0);
	o->region = rep.region;
	o->size = rep.size;
	memcpy(o->token, rep.token, ISM_TOKEN_SIZE);
	memcpy(o->proof, rep.proof, ISM_PROOF_SIZE);
	o->fd = fds[0];
}

/* One REATTACH of ISM_REATTACH_MAX made-up regions of @epoch, each its
 * own region id. */
static void send_reattach(int fd, uint32_t epoch, uint32_t *next)
{
	static struct ism_reattach_req req;
	struct ism_wbuf b;

	req.n = ISM_REATTACH_MAX;
	for (uint32_t i = 0; i < req.n; i++) {
		struct ism_reattach_ent *e = &req.ent[i];
		uint32_t k = (*next)++;

		e->region = (uint64_t)epoch << 32 | (0x40000000u + k);
		memset(e->token, 0, sizeof(e->token));
		memcpy(e->token, &k, sizeof(k));
		e->access = ISM_ACCESS_RO;
		e->flags = ISM_ATTACH_NOFD;
	}
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_REATTACH, 0, 4, 0);
	ism_proto_put_reattach_req(&b, &req);
	assert_int_equal(send_msg(fd, &b, NULL, 0), 0);
}

/* Park as many pending references as ismd takes from @fd: how many. */
static uint32_t park(int fd, uint32_t epoch, uint32_t *next)
{
	uint32_t parked = 0, inflight = 0;
	bool full = false;

	while (!full || inflight) {
		struct ism_batch_rep br;
		struct ism_wire_hdr h;
		struct ism_rbuf rb;

		while (!full && inflight < PIPELINE) {
			send_reattach(fd, epoch, next);
			inflight++;
		}
		assert_int_equal(next_reply(fd, &rb, &h, NULL, NULL, 30000), 0);
		inflight--;
		assert_int_equal(ism_proto_get_batch_rep(&rb, &br), 0);
		for (uint32_t i = 0; i < br.n; i++) {
			if (br.status[i] == EINPROGRESS)
				parked++;
			else if (br.status[i] == EDQUOT)
				full = true;
			else
				fail_msg("REATTACH entry: %s",
					 strerror((int)br.status[i]));
		}
		/* The quota is the only limit meant here. */
		assert_true(parked <= QUOTA);
	}
	return parked;
}

static int register_one(int fd, const struct owned *o)
{
	static struct ism_register_req req;
	struct ism_register_ent *e = &req.ent[0];
	struct ism_batch_rep br;
	struct ism_wire_hdr h;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	int r;

	memset(&req, 0, sizeof(req));
	req.n = 1;
	e->region = o->region;
	e->size = o->size;
	memcpy(e->token, o->token, ISM_TOKEN_SIZE);
	memcpy(e->proof, o->proof, ISM_PROOF_SIZE);
	e->max_access = ISM_ACCESS_RO;
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_REGISTER, 0, 5, 0);
	ism_proto_put_register_req(&b, &req);
	assert_int_equal(send_msg(fd, &b, &o->fd, 1), 0);
	r = next_reply(fd, &rb, &h, NULL, NULL, WINDOW_MS + 10000);
	if (r != 0)
		return r > 0 ? -r : r;
	assert_int_equal(ism_proto_get_batch_rep(&rb, &br), 0);
	assert_int_equal(br.n, 1);
	return (int)br.status[0];
}

/*
 * ismd with @window, an honest owner of @regions regions and STRANGERS
 * peers, all resumable; ismd killed and restarted.  *@honest and
 * @strangers get the identities to resume, the return value is the
 * earlier epoch.
 */
static uint32_t before_restart(int window, int regions, struct ident *honest,
			       struct ident *strangers)
{
	char quota[16], win[16];
	const char *args[] = { "--socket-mode",
			       "0666",
			       "--quota-attachments",
			       quota,
			       "--recovery-window",
			       win,
			       NULL };
	struct rlimit rl;
	uint32_t epoch;
	int fd;

	/* One fd per region here, and in ismd (which inherits our hard
	 * limit and raises its own soft limit to it). */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < (rlim_t)regions + 2048) {
		fprintf(stderr,
			"skipped: needs %d fds (RLIMIT_NOFILE hard "
			"limit %llu)\n",
			regions + 2048, (unsigned long long)rl.rlim_max);
		skip();
	}
	if (rl.rlim_cur < (rlim_t)regions + 2048) {
		rl.rlim_cur = (rlim_t)regions + 2048;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	snprintf(quota, sizeof(quota), "%d", QUOTA);
	snprintf(win, sizeof(win), "%d", window);
	assert_int_equal(t_daemon_start(&T.d, args), 0);
	T.own = calloc((size_t)regions, sizeof(*T.own));
	assert_non_null(T.own);
	T.n_own = regions;
	fd = T.conns[0] = connect_as(false);
	hello(fd, honest);
	for (int i = 0; i < regions; i++)
		alloc_region(fd, i, &T.own[i]);
	epoch = (uint32_t)(honest->id >> 32);
	for (int i = 0; i < STRANGERS; i++) {
		T.conns[1 + i] = connect_as(true);
		hello(T.conns[1 + i], &strangers[i]);
	}
	t_daemon_kill9(&T.d);
	for (unsigned i = 0; i < ISM_ARRAY_SIZE(T.conns); i++) {
		if (T.conns[i] > 0)
			close(T.conns[i]);
		T.conns[i] = 0;
	}
	assert_int_equal(t_daemon_restart(&T.d), 0);
	return epoch;
}

/* The strangers resume and park all they may. */
static void strangers_park(struct ident *strangers, uint32_t epoch,
			   uint64_t t_restart)
{
	uint32_t next = 0, parked = 0;

	for (int i = 0; i < STRANGERS; i++) {
		int fd = T.conns[1 + i] = connect_as(true);

		assert_true(hello(fd, &strangers[i]) & ISM_HELLO_R_RESUMED);
		parked += park(fd, epoch, &next);
	}
	fprintf(stderr,
		"%d strangers parked %u pending references in %llu ms\n",
		STRANGERS, parked, (unsigned long long)(now_ms() - t_restart));
	assert_int_equal(parked, (uint32_t)STRANGERS * QUOTA);
}

/* ---- the tests ---- */

/* Every region of an honest owner re-registers in time. */
static void test_register_beside_parked_strangers(void **state)
{
	struct ident honest = { 0 }, strangers[STRANGERS];
	struct bystander_report rep;
	uint64_t t_restart, t_parked, t_done;
	uint32_t epoch;
	int fd, done = 0, r = 0;

	(void)state;
	memset(strangers, 0, sizeof(strangers));
	epoch = before_restart(WINDOW_MS, REGIONS, &honest, strangers);
	t_restart = now_ms();
	bystander_start();
	strangers_park(strangers, epoch, t_restart);
	t_parked = now_ms();

	/* The honest owner comes back: every region, one REGISTER each. */
	fd = T.conns[0] = connect_as(false);
	assert_true(hello(fd, &honest) & ISM_HELLO_R_RESUMED);
	for (; done < REGIONS; done++)
		if ((r = register_one(fd, &T.own[done])) != 0)
			break;
	t_done = now_ms();
	fprintf(stderr,
		"%d of %d regions re-registered in %llu ms (%llu ms after the "
		"restart; window %d ms)%s%s\n",
		done, REGIONS, (unsigned long long)(t_done - t_parked),
		(unsigned long long)(t_done - t_restart), WINDOW_MS,
		r ? ", then: " : "", r ? strerror(r < 0 ? -r : r) : "");
	rep = bystander_stop();

	assert_int_equal(r, 0);
	assert_int_equal(done, REGIONS);
	assert_int_equal(rep.err, 0);
	assert_true(rep.asked > 0);
	assert_true(rep.worst_ms < BYSTANDER_MS);
	assert_true(t_daemon_alive(&T.d));
}

/*
 * The window closes on the strangers' million references: each is lost
 * (REGION_GONE, reason 4).  Ending them must not stop ismd answering,
 * nor stopping.
 */
static void test_window_end_with_parked_strangers(void **state)
{
	struct ident honest = { 0 }, strangers[STRANGERS];
	struct bystander_report rep;
	uint64_t t_restart;
	uint32_t epoch;
	int st;

	(void)state;
	memset(strangers, 0, sizeof(strangers));
	epoch = before_restart(SHORT_WINDOW_MS, 1, &honest, strangers);
	t_restart = now_ms();
	bystander_start();
	strangers_park(strangers, epoch, t_restart);
	/* Past the window's end, asking all along. */
	while (now_ms() < t_restart + SHORT_WINDOW_MS + 3000)
		t_msleep(50);
	rep = bystander_stop();
	assert_int_equal(rep.err, 0);
	assert_true(rep.worst_ms < BYSTANDER_MS);
	assert_int_equal(rep.recovery_ms_left, 0); /* it saw the end */
	assert_true(t_daemon_alive(&T.d));
	st = t_daemon_stop_within(&T.d, 10000);
	assert_int_equal(st, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_register_beside_parked_strangers,
					  teardown),
		cmocka_unit_test_teardown(test_window_end_with_parked_strangers,
					  teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
