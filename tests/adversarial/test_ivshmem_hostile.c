/* SPDX-License-Identifier: MIT */
/*
 * Hostile ivshmem peers (issue 9, items 3, 12 and 22).
 *
 * - A v2 domain's state table and the other members' output sections
 *   reach a member as read-only open file descriptions; a member of
 *   another uid must not get them read-write by reopening its fd through
 *   /proc/self/fd (the memfds must not be world-writable).
 * - IVSH_PEERS tells strangers (neither members nor administrators) which
 *   ism peers are members of a domain: it must not.
 * - QEMU-side clients that never read: what ismd queues for them must
 *   not cost it an fd per queued eventfd (O(peers^2 x vectors)), only
 *   the eventfds themselves (O(peers x vectors)).
 *
 * Other uids (65534 a member, 65533 a stranger) need root: those tests
 * skip, saying so, otherwise.  A connection "of uid U" is made by a child
 * that switched to U, connected (SO_PEERCRED is the connecting process's)
 * and handed the socket back.  Each test runs its own ismd; the teardown
 * reaps every child, closes every fd, stops ismd and removes the temp
 * files whatever happened.
 */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MEMBER_UID   65534
#define STRANGER_UID 65533
#define MAX_TRACKED  128

static uint8_t tx[ISM_WIRE_MAX_MSG], rx[ISM_WIRE_MAX_MSG];

/* ---- what a test leaves for its teardown ---- */

static struct {
	struct ism_private d;
	char dir[128]; /* holds the domain's socket */
	char ivsh[192];
	int fds[MAX_TRACKED];
	unsigned nfds;
	pid_t child;
	struct ism_ivshmem *member;
	struct ism_conn *conn[4];
} T;

static int track(int fd)
{
	assert_true(fd >= 0);
	assert_true(T.nfds < MAX_TRACKED);
	T.fds[T.nfds++] = fd;
	return fd;
}

static void untrack_close(int fd)
{
	for (unsigned i = 0; i < T.nfds; i++)
		if (T.fds[i] == fd) {
			T.fds[i] = T.fds[--T.nfds];
			close(fd);
			return;
		}
	fail_msg("fd %d not tracked", fd);
}

static struct ism_conn *conn(const char *name)
{
	for (unsigned i = 0; i < ISM_ARRAY_SIZE(T.conn); i++)
		if (!T.conn[i])
			return T.conn[i] = t_connect(&T.d, name, 0);
	fail_msg("too many connections");
	return NULL;
}

static int teardown(void **state)
{
	(void)state;
	if (T.child > 0) {
		t_kill(T.child, SIGKILL);
		t_wait(T.child);
	}
	while (T.nfds)
		close(T.fds[--T.nfds]);
	ism_ivshmem_leave(T.member);
	for (unsigned i = 0; i < ISM_ARRAY_SIZE(T.conn); i++)
		ism_conn_close(T.conn[i]);
	if (T.d.pid > 0)
		t_daemon_stop_within(&T.d, 10000);
	if (T.d.dir[0])
		t_daemon_cleanup(&T.d);
	if (T.ivsh[0])
		unlink(T.ivsh);
	if (T.dir[0])
		rmdir(T.dir);
	memset(&T, 0, sizeof(T));
	return 0;
}

/* ismd with one domain: --ivshmem PATH,@spec (PATH in a temp dir). */
static void start(const char *spec, bool dumpable)
{
	char arg[512];
	const char *args[] = { "--socket-mode",
			       "0666",
			       "--ivshmem",
			       arg,
			       dumpable ? "--dumpable" : NULL,
			       NULL };
	int r;

	snprintf(T.dir, sizeof(T.dir), "%s/ism-ivh-XXXXXX", t_tmpdir());
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.ivsh, sizeof(T.ivsh), "%s/ivsh.sock", T.dir);
	snprintf(arg, sizeof(arg), "%s,%s", T.ivsh, spec);
	r = t_daemon_start(&T.d, args);
	if (r < 0)
		t_daemon_dump_log(&T.d);
	assert_int_equal(r, 0);
}

static bool need_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root to run peers of other "
				"uids\n");
		return false;
	}
	return true;
}

/* ---- raw peers ---- */

struct reply {
	struct ism_rbuf rb; /* the payload */
	int fds[ISM_WIRE_MAX_FDS];
	unsigned nfds;
};

/*
 * Send the request built in @b, wait for its reply (events skipped).
 * 0 with @r filled (the caller owns its fds), a positive errno (the
 * reply's status), or -errno.
 */
static int call(int fd, struct ism_wbuf *b, struct reply *r)
{
	struct ism_wire_hdr h;
	int n = ism_proto_end(b);

	if (n < 0)
		return n;
	if ((n = ism_wire_send(fd, b->p, (size_t)n, NULL, 0, 0)) < 0)
		return n;
	for (;;) {
		ssize_t k =
			t_raw_recv(fd, rx, sizeof(rx), 10000, r->fds, &r->nfds);

		if (k <= 0)
			return k == 0 ? -ECONNRESET : (int)k;
		ism_rbuf_init(&r->rb, rx, (size_t)k);
		if (ism_wire_hdr_get(&r->rb, (size_t)k, &h) < 0) {
			ism_close_fds(r->fds, r->nfds);
			return -EBADMSG;
		}
		if (h.status || (h.flags & ISM_WIRE_F_EVENT))
			ism_close_fds(r->fds, r->nfds);
		if (h.flags & ISM_WIRE_F_EVENT)
			continue;
		return (int)h.status;
	}
}

static void begin(struct ism_wbuf *b, uint16_t type)
{
	static uint32_t seq;

	ism_proto_begin(b, tx, sizeof(tx), type, 0, ++seq, 0);
}

/*
 * A greeted connection to ismd as @uid: a child switches to @uid,
 * connects and hands the socket back (ismd sees the connecting process's
 * credentials).  *@id gets the peer id.
 */
static int connect_as(uid_t uid, uint64_t *id)
{
	int sv[2], fd = -1, r;
	unsigned n = 0;
	pid_t pid;
	char c;

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
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
	track(fd);
	assert_int_equal(t_raw_hello(fd, id), 0);
	return fd;
}

/* IVSH_JOIN @name on a raw connection; the reply's fds are closed. */
static struct ism_ivsh_join_rep raw_join(int fd, const char *name)
{
	struct ism_ivsh_join_rep rep;
	struct ism_wbuf b;
	struct reply r;

	begin(&b, ISM_MSG_IVSH_JOIN);
	ism_proto_put_ivsh_join_req(&b, name);
	assert_int_equal(call(fd, &b, &r), 0);
	assert_int_equal(ism_proto_get_ivsh_join_rep(&r.rb, &rep), 0);
	ism_close_fds(r.fds, r.nfds);
	return rep;
}

/* IVSH_PEERS of @domain: how many, in @e (at most @cap). */
static uint32_t raw_peers(int fd, uint32_t domain, struct ism_ivshmem_peer *e,
			  uint32_t cap)
{
	struct ism_ivsh_req q = { .domain = domain };
	struct ism_wbuf b;
	struct reply r;
	uint32_t n = 0;

	begin(&b, ISM_MSG_IVSH_PEERS);
	ism_proto_put_ivsh_req(&b, ISM_MSG_IVSH_PEERS, &q);
	assert_int_equal(call(fd, &b, &r), 0);
	assert_int_equal(r.nfds, 0);
	assert_int_equal(ism_proto_get_ivsh_peers_rep(&r.rb, e, cap, &n), 0);
	return n;
}

/* ---- item 3: v2 read-only memory, reopened read-write ---- */

/* What the member of another uid got when it tried (errno, 0 = it
 * worked). */
struct reopen_result {
	int ctl;	/* its own memfd, as a control: must work */
	int state_rw;	/* the state table */
	int section_rw; /* the root member's output section */
	int wrote;	/* it wrote into that section */
	char seen[16];	/* what it read there (read-only) */
};

struct reopen_args {
	int state, section, out;
};

static int try_rw(int fd)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, O_RDWR | O_CLOEXEC);
	if (r < 0)
		return errno;
	close(r);
	return 0;
}

/* As the member's uid, holding the fds ismd gave it. */
static int reopen_as_member(void *arg)
{
	struct reopen_args *a = arg;
	struct reopen_result res = { 0 };
	char path[64];
	void *m;
	int fd;

	if (setgroups(0, NULL) || setgid(MEMBER_UID) || setuid(MEMBER_UID))
		return 10;
	/* The control: /proc/self/fd works for this process. */
	fd = memfd_create("control", MFD_CLOEXEC);
	res.ctl = fd < 0 ? errno : try_rw(fd);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, a->section, 0);
	if (m != MAP_FAILED) {
		memcpy(res.seen, m, sizeof(res.seen) - 1);
		munmap(m, 4096);
	}
	res.state_rw = try_rw(a->state);
	res.section_rw = try_rw(a->section);
	/* What the old ismd allowed: write another member's section. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", a->section);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		res.wrote = pwrite(fd, "pwned", 5, 0) == 5;
		close(fd);
	}
	return write(a->out, &res, sizeof(res)) == sizeof(res) ? 0 : 11;
}

static void test_v2_readonly_reopen(void **state)
{
	struct ism_ivsh_layout_rep lay;
	struct ism_ivsh_req q;
	struct reopen_args args;
	struct reopen_result res;
	struct ism_ivsh_join_rep jr;
	struct ism_conn *root;
	struct ism_wbuf b;
	struct reply r;
	uint32_t ids[ISM_IVSH_FDS_PER_MSG], n = 0;
	char *out;
	int fd, pp[2];

	(void)state;
	if (!need_root())
		skip();
	start("size=64K,vectors=2,name=x,layout=v2,output=4K,uid=65534", false);
	/* The root member writes its output section. */
	root = conn("root-member");
	assert_int_equal(ism_ivshmem_join(root, "x", &T.member), 0);
	assert_int_equal(ism_ivshmem_output(T.member, (void **)&out), 0);
	strcpy(out, "root's");

	/* A member of uid 65534 gets the state table and that section. */
	fd = connect_as(MEMBER_UID, NULL);
	jr = raw_join(fd, "x");
	q = (struct ism_ivsh_req){ .domain = jr.domain };
	begin(&b, ISM_MSG_IVSH_LAYOUT);
	ism_proto_put_ivsh_req(&b, ISM_MSG_IVSH_LAYOUT, &q);
	assert_int_equal(call(fd, &b, &r), 0);
	assert_int_equal(ism_proto_get_ivsh_layout_rep(&r.rb, &lay), 0);
	assert_int_equal(lay.layout, 2);
	assert_int_equal(r.nfds, 2);
	args.state = track(r.fds[0]);
	track(r.fds[1]); /* its own output section */
	q.a = 0;
	begin(&b, ISM_MSG_IVSH_SECTIONS);
	ism_proto_put_ivsh_req(&b, ISM_MSG_IVSH_SECTIONS, &q);
	assert_int_equal(call(fd, &b, &r), 0);
	assert_int_equal(ism_proto_get_ivsh_sections_rep(&r.rb, ids, &n), 0);
	assert_int_equal(r.nfds, n);
	for (unsigned i = 0; i < r.nfds; i++)
		track(r.fds[i]);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], ism_ivshmem_id(T.member));
	args.section = r.fds[0];
	assert_int_equal(fcntl(args.state, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fcntl(args.section, F_GETFL) & O_ACCMODE, O_RDONLY);

	/* That member's process tries to reopen both read-write. */
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	track(pp[0]);
	args.out = track(pp[1]);
	T.child = t_fork(reopen_as_member, &args);
	assert_true(T.child > 0);
	assert_int_equal(t_wait(T.child), 0);
	T.child = 0;
	assert_int_equal(read(pp[0], &res, sizeof(res)), sizeof(res));
	fprintf(stderr,
		"uid %d reopening read-write: control %s, state table %s, "
		"root's output section %s%s\n",
		MEMBER_UID, strerror(res.ctl), strerror(res.state_rw),
		strerror(res.section_rw), res.wrote ? " (and wrote it)" : "");
	/* The fds were the real ones, and /proc/self/fd works there. */
	assert_string_equal(res.seen, "root's");
	assert_int_equal(res.ctl, 0);
	/* Neither may become writable. */
	assert_int_equal(res.state_rw, EACCES);
	assert_int_equal(res.section_rw, EACCES);
	assert_false(res.wrote);
	assert_string_equal(out, "root's");
	assert_true(t_daemon_alive(&T.d));
}

/* ---- item 22: a stranger lists a domain's peers ---- */

static void test_peers_hidden_from_strangers(void **state)
{
	struct ism_ivshmem_peer e[8];
	struct ism_ivsh_join_rep jr;
	struct ism_conn *root, *admin;
	uint64_t member_id, stranger_id, root_id;
	uint32_t n;
	int member, stranger;

	(void)state;
	if (!need_root())
		skip();
	start("size=64K,vectors=2,name=x,uid=65534", false);
	root = conn("root-member");
	assert_int_equal(ism_ivshmem_join(root, "x", &T.member), 0);
	root_id = ism_conn_peer_id(root);
	member = connect_as(MEMBER_UID, &member_id);
	jr = raw_join(member, "x");
	stranger = connect_as(STRANGER_UID, &stranger_id);

	/* The stranger sees two ism members, but not who they are. */
	n = raw_peers(stranger, jr.domain, e, ISM_ARRAY_SIZE(e));
	assert_int_equal(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(e[i].kind, ISM_IVSHMEM_ISM);
		if (e[i].ism_peer)
			fprintf(stderr,
				"stranger (uid %d) sees member %u as ism "
				"peer %llx\n",
				STRANGER_UID, e[i].id,
				(unsigned long long)e[i].ism_peer);
		assert_int_equal(e[i].ism_peer, 0);
	}

	/* A member sees the real ids ... */
	n = raw_peers(member, jr.domain, e, ISM_ARRAY_SIZE(e));
	assert_int_equal(n, 2);
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].id == jr.id)
			assert_int_equal(e[i].ism_peer, member_id);
		else
			assert_int_equal(e[i].ism_peer, root_id);
	}
	/* ... and so does an administrator that is not a member. */
	admin = conn("admin");
	{
		struct ism_ivshmem_peer pl[8];
		int k = ism_ivshmem_peers(admin, jr.domain, pl, 8);

		assert_int_equal(k, 2);
		assert_true((pl[0].ism_peer == member_id &&
			     pl[1].ism_peer == root_id) ||
			    (pl[0].ism_peer == root_id &&
			     pl[1].ism_peer == member_id));
	}
	assert_true(t_daemon_alive(&T.d));
}

/* The same through libism, as `ismctl ivshmem peers` would do it: a
 * stranger must still be able to list (with the ids hidden; lib/proto's
 * decoder once refused a member entry with ism_peer 0). */
struct libism_peers {
	int n; /* ism_ivshmem_peers()'s return */
	struct ism_ivshmem_peer e[8];
};

static int stranger_libism_peers(void *arg)
{
	int out = *(int *)arg;
	struct libism_peers res = { 0 };
	struct ism_conn *c;

	if (setgroups(0, NULL) || setgid(STRANGER_UID) || setuid(STRANGER_UID))
		return 10;
	res.n = ism_conn_open(T.d.sock, NULL, &c);
	if (res.n == 0) {
		res.n = ism_ivshmem_peers(c, 1, res.e, 8);
		ism_conn_close(c);
	}
	return write(out, &res, sizeof(res)) == sizeof(res) ? 0 : 11;
}

static void test_stranger_lists_with_libism(void **state)
{
	struct libism_peers res;
	struct ism_conn *root;
	int member, pp[2];

	(void)state;
	if (!need_root())
		skip();
	start("size=64K,vectors=2,name=x,uid=65534", false);
	root = conn("root-member");
	assert_int_equal(ism_ivshmem_join(root, "x", &T.member), 0);
	member = connect_as(MEMBER_UID, NULL);
	raw_join(member, "x");
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	track(pp[0]);
	track(pp[1]);
	T.child = t_fork(stranger_libism_peers, &pp[1]);
	assert_true(T.child > 0);
	assert_int_equal(t_wait(T.child), 0);
	T.child = 0;
	assert_int_equal(read(pp[0], &res, sizeof(res)), sizeof(res));
	if (res.n < 0)
		fprintf(stderr, "ism_ivshmem_peers as a stranger: %s\n",
			strerror(-res.n));
	assert_int_equal(res.n, 2);
	for (int i = 0; i < res.n; i++) {
		assert_int_equal(res.e[i].kind, ISM_IVSHMEM_ISM);
		assert_int_equal(res.e[i].ism_peer, 0);
	}
}

/* ---- item 12: QEMU-side clients that never read ---- */

#define AMP_PEERS   64
#define AMP_VECTORS 16
#define AMP_SILENT  40
#define AMP_CHURN   12

static int qemu_client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	ism_strlcpy(sa.sun_path, T.ivsh, sizeof(sa.sun_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return track(fd);
}

/* The domain's peer count, as an administrator sees it. */
static int domain_peers(struct ism_conn *admin)
{
	struct ism_ivshmem_peer pl[AMP_PEERS];

	return ism_ivshmem_peers(admin, 1, pl, AMP_PEERS);
}

static void test_qemu_fd_amplification(void **state)
{
	char spec[128];
	const int bound = AMP_PEERS * AMP_VECTORS * 2 + 200;
	struct ism_conn *admin;
	struct ism_ivshmem *m;
	int base, worst = 0, fds, present;

	(void)state;
	snprintf(spec, sizeof(spec), "size=64K,vectors=%d,peers=%d,name=amp",
		 AMP_VECTORS, AMP_PEERS);
	/* --dumpable: /proc/PID/fd of ismd, should this run as non-root. */
	start(spec, true);
	admin = conn("admin");
	base = t_count_fds(T.d.pid);
	assert_true(base > 0);

	/* Clients that connect and never read a byte. */
	for (int i = 0; i < AMP_SILENT; i++) {
		qemu_client();
		assert_true(T_WAIT_FOR(domain_peers(admin) == i + 1, 10000));
	}
	fds = t_count_fds(T.d.pid);
	worst = ISM_MAX(worst, fds);
	fprintf(stderr, "ismd fds: %d at start, %d with %d silent clients\n",
		base, fds, AMP_SILENT);
	assert_true(fds <= bound);

	/* Churn: clients and an ism member come and go; every arrival
	 * queues its eventfds to each silent client, and a departed peer's
	 * eventfds stay referenced by those queues.  (Each silent client
	 * gets 3 + 16 x 40 + 17 x 15 = 898 messages here, below the 1043
	 * a queue holds for peers=64: none is dropped as too slow.) */
	for (int i = 0; i < AMP_CHURN; i++) {
		int q = qemu_client();

		assert_true(T_WAIT_FOR(domain_peers(admin) == AMP_SILENT + 1,
				       10000));
		untrack_close(q);
		assert_true(
			T_WAIT_FOR(domain_peers(admin) == AMP_SILENT, 10000));
		if (i % 4 == 0) {
			assert_int_equal(ism_ivshmem_join(admin, "amp", &m), 0);
			fds = t_count_fds(T.d.pid);
			worst = ISM_MAX(worst, fds);
			ism_ivshmem_leave(m);
		}
		fds = t_count_fds(T.d.pid);
		worst = ISM_MAX(worst, fds);
	}
	/* Every silent client is still there: none was dropped, so the
	 * count above is with all of them queued up. */
	present = domain_peers(admin);
	fds = t_count_fds(T.d.pid);
	worst = ISM_MAX(worst, fds);
	fprintf(stderr,
		"ismd fds: %d after churn, at most %d (bound %d), %d peers "
		"present\n",
		fds, worst, bound, present);
	assert_int_equal(present, AMP_SILENT);
	assert_true(worst <= bound);
	assert_true(t_daemon_alive(&T.d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_v2_readonly_reopen, teardown),
		cmocka_unit_test_teardown(test_peers_hidden_from_strangers,
					  teardown),
		cmocka_unit_test_teardown(test_stranger_lists_with_libism,
					  teardown),
		cmocka_unit_test_teardown(test_qemu_fd_amplification, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
