/* SPDX-License-Identifier: MIT */
/*
 * A stranger must not capture or spoil someone else's stream matches
 * (issue 9, items 16 and 17), with raw STREAM_OPEN/RESOLVE requests.
 *
 * - 16: a listener record claims "an ism listener serves port P".  ismd
 *   must believe it only for connections that socket would really accept:
 *   not for IPv4 when it is an IPV6_V6ONLY wildcard, and not once it is
 *   closed (the record outlives it) and someone else's plain server has
 *   the port.  Otherwise the victim's client is kept as a pending intent
 *   that nobody claims, and it waits the 2 s handshake timeout on every
 *   connection.
 * - 17: pending intents are keyed by the client socket's local address.
 *   The previous ismd folded the address to 64 bits and let the first
 *   intent of a fold own it: a stranger binding (IPV6_FREEBIND) an IPv6
 *   address that folds onto the victim's 127.0.0.1:Q pushed the victim's
 *   streams to TCP (ISM_SR_ERROR).
 *
 * The stranger is uid 65533 when the test runs as root (its connection
 * is made by a child of that uid), otherwise a second connection of our
 * own uid: nothing here depends on the uid.  Each test runs its own ismd;
 * the teardown closes every socket and stops ismd whatever happened.
 */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

#define STRANGER_UID 65533
#define MAX_TRACKED  64

static uint8_t tx[ISM_WIRE_MAX_MSG];

static struct {
	struct ism_private d;
	int fds[MAX_TRACKED];
	unsigned nfds;
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

static int teardown(void **state)
{
	(void)state;
	while (T.nfds)
		close(T.fds[--T.nfds]);
	if (T.d.pid > 0)
		t_daemon_stop_within(&T.d, 10000);
	if (T.d.dir[0])
		t_daemon_cleanup(&T.d);
	memset(&T, 0, sizeof(T));
	return 0;
}

static void start(void)
{
	static const char *const args[] = { "--socket-mode", "0666", NULL };
	int r = t_daemon_start(&T.d, args);

	if (r < 0)
		t_daemon_dump_log(&T.d);
	assert_int_equal(r, 0);
}

/* ---- raw peers ---- */

static int greet(int fd, uint64_t *id)
{
	track(fd);
	assert_int_equal(t_raw_hello(fd, id), 0);
	return fd;
}

/* A greeted connection of our own uid (the victim's). */
static int victim_conn(uint64_t *id)
{
	return greet(t_raw_connect(T.d.sock), id);
}

/* A greeted connection of the stranger: made by a child of uid
 * STRANGER_UID when we are root (ismd sees the connecting process's
 * credentials), else one of our own uid. */
static int stranger_conn(uint64_t *id)
{
	static bool said;
	int sv[2], fd = -1, r;
	unsigned n = 0;
	pid_t pid;
	char c;

	if (geteuid() != 0) {
		if (!said)
			fprintf(stderr, "not root: the stranger runs as our "
					"own uid\n");
		said = true;
		return victim_conn(id);
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
	return greet(fd, id);
}

static struct ism_stream_addr v4(uint16_t port)
{
	struct ism_stream_addr a = { .family = AF_INET, .port = port };

	a.addr[0] = 127;
	a.addr[3] = 1;
	return a;
}

/* STREAM_OPEN of @sock as @role (a client toward @dst). */
static struct ism_stream_rep stream_open(int conn, uint32_t role, int sock,
					 struct ism_stream_addr dst)
{
	static uint32_t seq;
	struct ism_stream_open_req req = { .role = role };
	struct ism_stream_rep rep;
	struct ism_wbuf b;

	if (role == ISM_STREAM_CLIENT)
		req.dst = dst;
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_OPEN, 0, ++seq, 0);
	ism_proto_put_stream_open_req(&b, &req);
	assert_int_equal(t_raw_stream_call(conn, &b, sock, &rep), 0);
	return rep;
}

/* ---- sockets ---- */

static int tcp(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	return track(fd);
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ntohs(ss.ss_family == AF_INET
			     ? ((struct sockaddr_in *)&ss)->sin_port
			     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A TCP socket bound to 127.0.0.1:@port (0: any). */
static int bound4(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = tcp(AF_INET);

	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int listen4(uint16_t port)
{
	int fd = bound4(port);

	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/* [::]:@port, listening, IPV6_V6ONLY as asked. */
static int listen6_any(uint16_t port, int v6only)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = tcp(AF_INET6);

	assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
				    sizeof(v6only)),
			 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static bool have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fprintf(stderr, "skipped: no IPv6 here (%s)\n",
			strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* ---- 16: listener records that would not accept the connection ---- */

static void test_v6only_listener(void **state)
{
	struct ism_stream_rep rep;
	uint64_t vid, sid;
	int victim, stranger, server, v6, c;
	uint16_t port, p2;

	(void)state;
	if (!have_ipv6())
		skip();
	start();
	victim = victim_conn(&vid);
	stranger = stranger_conn(&sid);
	/* The victim's plain TCP server (no ism) on 127.0.0.1:P ... */
	server = listen4(0);
	port = local_port(server);
	/* ... and the stranger's IPV6_V6ONLY [::]:P, which takes no IPv4
	 * connection at all, registered as an ism listener. */
	v6 = listen6_any(port, 1);
	rep = stream_open(stranger, ISM_STREAM_LISTENER, v6, v4(0));
	assert_int_equal(rep.path, ISM_STREAM_PENDING); /* a listener's */

	/* The victim's client toward 127.0.0.1:P: nobody ism serves it. */
	c = bound4(0);
	rep = stream_open(victim, ISM_STREAM_CLIENT, c, v4(port));
	fprintf(stderr,
		"client to 127.0.0.1:%u beside a V6ONLY [::]:%u "
		"record: %s, reason %u\n",
		port, port, t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_PEER_NOT_ISM);

	/* The same once the stranger closed its socket (its record
	 * stays). */
	untrack_close(v6);
	c = bound4(0);
	rep = stream_open(victim, ISM_STREAM_CLIENT, c, v4(port));
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_PEER_NOT_ISM);

	/* The control: a dual-stack [::]:P2 ism listener does take IPv4,
	 * and the client toward it is kept for it. */
	v6 = listen6_any(0, 0);
	p2 = local_port(v6);
	rep = stream_open(stranger, ISM_STREAM_LISTENER, v6, v4(0));
	c = bound4(0);
	rep = stream_open(victim, ISM_STREAM_CLIENT, c, v4(p2));
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	rep = t_raw_stream_resolve(victim, rep.id);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_TIMEOUT);
	assert_true(t_daemon_alive(&T.d));
}

static void test_closed_listener_record(void **state)
{
	struct ism_stream_rep rep;
	uint64_t vid, sid;
	int victim, stranger, l, c, a;
	uint16_t port;

	(void)state;
	start();
	victim = victim_conn(&vid);
	stranger = stranger_conn(&sid);
	/* The stranger registers 127.0.0.1:P and closes the socket: the
	 * record outlives it. */
	l = listen4(0);
	port = local_port(l);
	rep = stream_open(stranger, ISM_STREAM_LISTENER, l, v4(0));
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	untrack_close(l);
	/* The victim's plain server takes the port (once ismd's worker
	 * has closed ismd's copy of the stranger's socket). */
	l = tcp(AF_INET);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(port),
					  .sin_addr.s_addr =
						  htonl(INADDR_LOOPBACK) };

		int r, waited = 0;

		while ((r = bind(l, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
		       errno == EADDRINUSE && waited < 10000) {
			t_msleep(10);
			waited += 10;
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(listen(l, 16), 0);
	/* Its client must not be kept for a listener that is gone. */
	c = bound4(0);
	rep = stream_open(victim, ISM_STREAM_CLIENT, c, v4(port));
	fprintf(stderr,
		"client to 127.0.0.1:%u after the ism listener "
		"there closed: %s, reason %u\n",
		port, t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_PEER_NOT_ISM);
	/* And the plain connection works as plain TCP. */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(port),
					  .sin_addr.s_addr =
						  htonl(INADDR_LOOPBACK) };

		assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		a = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));
		(void)a;
	}
	assert_true(t_daemon_alive(&T.d));
}

/* ---- 17: intent keys folded to 64 bits ---- */

/* The previous ismd's intent key (fe3eec8:ismd/stream.c, addr_key):
 * the namespace was the map's other key. */
static uint64_t old_addr_key(const struct ism_stream_addr *a)
{
	uint64_t x = (uint64_t)a->family << 48 | (uint64_t)a->port << 32;
	uint64_t w[2];

	memcpy(w, a->addr, 16);
	return x ^ w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ a->scope_id;
}

/* An IPv6 address (second half zero) whose fold at port @port equals
 * @victim's: w0 = key ^ (AF_INET6 << 48 | port << 32). */
static struct ism_stream_addr fold_onto(const struct ism_stream_addr *victim)
{
	struct ism_stream_addr a = { .family = AF_INET6, .port = victim->port };
	uint64_t w0 = old_addr_key(victim) ^
		      ((uint64_t)AF_INET6 << 48 | (uint64_t)a.port << 32);

	memcpy(a.addr, &w0, 8);
	return a;
}

static void test_folded_intent_key(void **state)
{
	struct ism_stream_rep rep, srv;
	struct ism_stream_addr vaddr, evil;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char text[INET6_ADDRSTRLEN];
	uint64_t vcid, vsid, sid;
	int vclient, vserver, stranger, vl, sl, vc, sc, a, one = 1;
	uint16_t q;

	(void)state;
	if (!have_ipv6())
		skip();
	start();
	vclient = victim_conn(&vcid);
	vserver = victim_conn(&vsid);
	stranger = stranger_conn(&sid);
	/* Both have an ism listener. */
	vl = listen4(0);
	rep = stream_open(vserver, ISM_STREAM_LISTENER, vl, v4(0));
	sl = listen6_any(0, 0);
	rep = stream_open(stranger, ISM_STREAM_LISTENER, sl, v4(0));

	/* The victim's client socket, bound to 127.0.0.1:Q ... */
	vc = bound4(0);
	q = local_port(vc);
	vaddr = v4(q);
	/* ... and the stranger's, bound (IPV6_FREEBIND: the address need
	 * not be ours) to an address that folds onto it. */
	evil = fold_onto(&vaddr);
	assert_int_equal(old_addr_key(&evil), old_addr_key(&vaddr));
	sc = tcp(AF_INET6);
	assert_int_equal(
		setsockopt(sc, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)),
		0);
	memcpy(&s6.sin6_addr, evil.addr, 16);
	s6.sin6_port = htons(q);
	assert_int_equal(bind(sc, (struct sockaddr *)&s6, sizeof(s6)), 0);
	inet_ntop(AF_INET6, evil.addr, text, sizeof(text));
	/* The stranger's intent first (toward its own wildcard listener,
	 * at the address it is bound to: kept). */
	{
		struct ism_stream_addr dst = evil;

		dst.port = local_port(sl);
		rep = stream_open(stranger, ISM_STREAM_CLIENT, sc, dst);
	}
	assert_int_equal(rep.path, ISM_STREAM_PENDING);

	/* The victim's intent must be kept all the same ... */
	rep = stream_open(vclient, ISM_STREAM_CLIENT, vc, v4(local_port(vl)));
	fprintf(stderr,
		"victim's client 127.0.0.1:%u beside [%s]:%u: %s, "
		"reason %u\n",
		q, text, q, t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	/* ... and claimed by the victim's server for the accepted end. */
	sa.sin_port = htons(local_port(vl));
	assert_int_equal(connect(vc, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = track(accept4(vl, NULL, NULL, SOCK_CLOEXEC));
	srv = stream_open(vserver, ISM_STREAM_SERVER, a, v4(0));
	assert_int_equal(srv.path, ISM_STREAM_SHM);
	assert_int_equal(srv.partner, vcid);
	rep = t_raw_stream_resolve(vclient, rep.id);
	assert_int_equal(rep.path, ISM_STREAM_SHM);
	assert_int_equal(rep.partner, vsid);
	assert_true(t_daemon_alive(&T.d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_v6only_listener, teardown),
		cmocka_unit_test_teardown(test_closed_listener_record,
					  teardown),
		cmocka_unit_test_teardown(test_folded_intent_key, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
