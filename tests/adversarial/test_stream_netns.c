/* SPDX-License-Identifier: MIT */
/*
 * Streams across network namespaces (issue 14): two namespaces joined by
 * a veth pair, as two containers are, with one ismd for both.
 *
 * - libism on both ends (a server in B, a client in A): the stream moves
 *   to shared memory and every byte of a few MiB comes back intact.
 * - A hostile peer: namespaces C and D repeat A's and B's addresses, and
 *   D holds a real connection with exactly the mirrored 4-tuple of the
 *   victim's (A -> B).  Handing ismd that socket as "the server end" of
 *   the victim's pending client must be refused (the sequence numbers
 *   differ); the real server's claim then succeeds.
 * - Destination NAT (nft, if installed): a client toward a service
 *   address that A's output chain rewrites to B stays on TCP, with the
 *   reason "other host".
 *
 * Needs root and `ip` (iproute2); exits 77 with the reason otherwise.  The
 * namespaces (and with them the veths) are removed at the end, also after
 * a failure (atexit).
 */
#include "t_daemon.h"
#include "proto/proto.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NET_AB	"10.231.0"
#define SERVICE "10.231.9.9"
#define PAYLOAD (4u << 20)
#define MAX_FDS 32

static char ns[4][32]; /* A, B, C, D */
static bool ns_made[4];
static uint8_t tx[ISM_WIRE_MAX_MSG], rx[ISM_WIRE_MAX_MSG];
static int fds[MAX_FDS];
static unsigned nfds;
static const char *sock_path; /* the ismd libism's ends use */

/* ---- namespaces ---- */

static int sh(const char *fmt, ...) ISM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == 0 ? 0 : -1;
}

static void ns_remove(void)
{
	for (int i = 0; i < 4; i++)
		if (ns_made[i]) {
			sh("ip netns del %s 2>/dev/null", ns[i]);
			ns_made[i] = false;
		}
}

/* Namespaces @a and @b, joined by a veth pair: .1 in @a, .2 in @b. */
static int ns_pair(int a, int b)
{
	char va[16], vb[16];

	snprintf(va, sizeof(va), "iv%d%c", (int)getpid() % 100000, 'a' + a);
	snprintf(vb, sizeof(vb), "iv%d%c", (int)getpid() % 100000, 'a' + b);
	for (int i = 0; i < 2; i++) {
		int k = i ? b : a;

		if (sh("ip netns add %s 2>/dev/null", ns[k]) < 0)
			return -1;
		ns_made[k] = true;
		if (sh("ip -n %s link set lo up", ns[k]) < 0)
			return -1;
	}
	if (sh("ip link add name %s netns %s type veth peer name %s netns %s",
	       va, ns[a], vb, ns[b]) < 0 ||
	    sh("ip -n %s addr add " NET_AB ".1/24 dev %s", ns[a], va) < 0 ||
	    sh("ip -n %s addr add " NET_AB ".2/24 dev %s", ns[b], vb) < 0 ||
	    sh("ip -n %s link set %s up", ns[a], va) < 0 ||
	    sh("ip -n %s link set %s up", ns[b], vb) < 0 ||
	    /* A route for the DNAT case's service address. */
	    sh("ip -n %s route add " SERVICE "/32 dev %s", ns[a], va) < 0)
		return -1;
	return 0;
}

static int ns_enter(int k)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/run/netns/%s", ns[k]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return r;
}

struct mk {
	int ns, ret;
};

static void *mk_socket(void *arg)
{
	struct mk *m = arg;

	m->ret = ns_enter(m->ns);
	if (m->ret == 0) {
		m->ret = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (m->ret < 0)
			m->ret = -errno;
	}
	return NULL;
}

/* A TCP socket in namespace @k (made by a thread that entered it), bound
 * to NET_AB.@host:@port. */
static int ns_tcp(int k, int host, uint16_t port)
{
	struct mk m = { .ns = k, .ret = -EIO };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	char ip[32];
	pthread_t t;
	int one = 1;

	assert_int_equal(pthread_create(&t, NULL, mk_socket, &m), 0);
	pthread_join(t, NULL);
	assert_true(m.ret >= 0);
	assert_true(nfds < MAX_FDS);
	fds[nfds++] = m.ret;
	setsockopt(m.ret, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	snprintf(ip, sizeof(ip), NET_AB ".%d", host);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	assert_int_equal(bind(m.ret, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return m.ret;
}

static int track(int fd)
{
	assert_true(fd >= 0);
	assert_true(nfds < MAX_FDS);
	fds[nfds++] = fd;
	return fd;
}

static uint16_t port_of(int fd, bool peer)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
			      : getsockname(fd, (struct sockaddr *)&sa, &len),
			 0);
	return ntohs(sa.sin_port);
}

/* ---- raw protocol (tests/adversarial/test_stream_hijack.c's way) ---- */

static int raw_conn(uint64_t *id)
{
	int fd = track(t_raw_connect(t_group.sock));

	assert_int_equal(t_raw_hello(fd, id), 0);
	return fd;
}

static int stream_call(int conn, struct ism_wbuf *b, int sock,
		       struct ism_stream_rep *rep)
{
	struct ism_wire_hdr h;
	struct ism_rbuf rb;
	int n = ism_proto_end(b);

	if (n < 0)
		return n;
	n = ism_wire_send(conn, b->p, (size_t)n, &sock, sock >= 0 ? 1 : 0, 0);
	if (n < 0)
		return n;
	for (;;) {
		ssize_t k = t_raw_recv(conn, rx, sizeof(rx), 10000, NULL, NULL);

		if (k <= 0)
			return k == 0 ? -ECONNRESET : (int)k;
		ism_rbuf_init(&rb, rx, (size_t)k);
		if (ism_wire_hdr_get(&rb, (size_t)k, &h) < 0)
			return -EBADMSG;
		if (h.flags & ISM_WIRE_F_EVENT)
			continue;
		if (h.status)
			return (int)h.status;
		return ism_proto_get_stream_rep(&rb, rep);
	}
}

static struct ism_stream_rep stream_open(int conn, uint32_t role, int sock,
					 int host, uint16_t port)
{
	static uint32_t seq;
	struct ism_stream_open_req req = { .role = role };
	struct ism_stream_rep rep;
	struct ism_wbuf b;

	if (role == ISM_STREAM_CLIENT) {
		req.dst.family = AF_INET;
		req.dst.port = port;
		req.dst.addr[0] = 10;
		req.dst.addr[1] = 231;
		req.dst.addr[3] = (uint8_t)host;
	}
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_OPEN, 0, ++seq, 0);
	ism_proto_put_stream_open_req(&b, &req);
	assert_int_equal(stream_call(conn, &b, sock, &rep), 0);
	return rep;
}

static struct ism_stream_rep stream_resolve(int conn, uint64_t id)
{
	struct ism_stream_rep rep;
	struct ism_wbuf b;

	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_RESOLVE, 0, 1, 0);
	ism_proto_put_region_req(&b, id);
	assert_int_equal(stream_call(conn, &b, -1, &rep), 0);
	return rep;
}

static const char *path_name(uint32_t path)
{
	return path == ISM_STREAM_PENDING ? "pending"
	       : path == ISM_STREAM_SHM	  ? "shared memory"
	       : path == ISM_STREAM_TCP	  ? "TCP"
					  : "?";
}

static void close_all(void)
{
	while (nfds)
		close(fds[--nfds]);
}

/* ---- libism on both ends ---- */

struct side {
	int ns;
	uint16_t port;
	int pipe_fd; /* server: where it writes its port */
	const char *host;
	int want_path; /* and its reason, for the client */
	int want_reason;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 13));
}

static struct ism_conn *open_conn(const char *name)
{
	struct ism_conn_opts o = { .size = sizeof(o),
				   .name = name,
				   .timeout_ms = 5000 };
	struct ism_conn *c = NULL;

	return ism_conn_open(sock_path ? sock_path : t_group.sock, &o, &c) < 0
		       ? NULL
		       : c;
}

/* In B: accept one stream, echo everything back until EOF. */
static int server_main(void *arg)
{
	struct side *sd = arg;
	struct ism_stream_listener *l;
	struct ism_stream *s;
	struct ism_conn *c;
	static uint8_t buf[65536];
	uint16_t port;
	int reason = 0, path;
	ssize_t n;

	if (ns_enter(sd->ns) < 0 || !(c = open_conn("netns-server")))
		return 10;
	if (ism_stream_listen(c, NULL, "0", NULL, &l) < 0)
		return 11;
	port = (uint16_t)ism_stream_listener_port(l);
	if (write(sd->pipe_fd, &port, sizeof(port)) != sizeof(port))
		return 12;
	if (ism_stream_accept(l, &s, 0) < 0)
		return 13;
	while ((n = ism_stream_recv(s, buf, sizeof(buf), 0)) > 0)
		if (ism_stream_send(s, buf, (size_t)n, 0) != n)
			return 14;
	path = ism_stream_path(s, &reason);
	fprintf(stderr, "server in %s: %s (%s)\n", ns[sd->ns],
		ism_stream_path_name(path), ism_stream_reason_name(reason));
	if (n < 0)
		return 15;
	ism_stream_close(s);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	return path == sd->want_path ? 0 : 16;
}

/* In A: connect, check the path, send PAYLOAD bytes, read them back. */
static int client_main(void *arg)
{
	struct side *sd = arg;
	struct ism_stream_opts o = { .size = sizeof(o), .handshake_ms = 500 };
	static uint8_t out[65536], in[65536];
	size_t sent = 0, got = 0;
	struct ism_stream *s;
	struct ism_conn *c;
	char port[8];
	int reason = 0, path, r;

	if (ns_enter(sd->ns) < 0 || !(c = open_conn("netns-client")))
		return 20;
	snprintf(port, sizeof(port), "%u", sd->port);
	if ((r = ism_stream_connect(c, sd->host, port, &o, &s)) < 0) {
		fprintf(stderr, "connect %s:%s: %s\n", sd->host, port,
			strerror(-r));
		return 21;
	}
	path = ism_stream_path(s, &reason);
	fprintf(stderr, "client in %s to %s:%s: %s (%s)\n", ns[sd->ns],
		sd->host, port, ism_stream_path_name(path),
		ism_stream_reason_name(reason));
	if (path != sd->want_path || reason != sd->want_reason)
		return 22;
	/* Interleave sends and receives so neither side's ring fills up
	 * against a peer that is itself blocked sending. */
	while (got < PAYLOAD) {
		if (sent < PAYLOAD && sent - got < sizeof(out)) {
			size_t k = PAYLOAD - sent;

			if (k > sizeof(out) - (sent - got))
				k = sizeof(out) - (sent - got);
			for (size_t i = 0; i < k; i++)
				out[i] = pattern(sent + i);
			if (ism_stream_send(s, out, k, 0) != (ssize_t)k)
				return 23;
			sent += k;
			if (sent == PAYLOAD)
				ism_stream_shutdown(s, SHUT_WR);
			continue;
		}
		ssize_t n = ism_stream_recv(s, in, sizeof(in), 0);

		if (n <= 0)
			return 24;
		for (ssize_t i = 0; i < n; i++)
			if (in[i] != pattern(got + (size_t)i)) {
				fprintf(stderr, "byte %zu differs\n",
					got + (size_t)i);
				return 25;
			}
		got += (size_t)n;
	}
	fprintf(stderr, "client: %zu bytes out and back, every one checked\n",
		got);
	ism_stream_close(s);
	ism_conn_close(c);
	return 0;
}

/* A server in B and a client in A (toward @host, as seen from A). */
static void run_pair(const char *host, int path, int reason)
{
	struct side srv = { .ns = 1, .want_path = path };
	struct side cli = {
		.ns = 0, .host = host, .want_path = path, .want_reason = reason
	};
	int p[2];
	pid_t sp, cp;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	srv.pipe_fd = p[1];
	sp = t_fork(server_main, &srv);
	close(p[1]);
	assert_int_equal(read(p[0], &cli.port, sizeof(cli.port)),
			 (ssize_t)sizeof(cli.port));
	close(p[0]);
	/* DNAT in A's output chain: the service address to B's. */
	if (strcmp(host, SERVICE) == 0)
		assert_int_equal(sh("ip netns exec %s nft -f - <<EOF\n"
				    "table ip ismt {\n"
				    " chain out {\n"
				    "  type nat hook output priority -100;\n"
				    "  ip daddr " SERVICE " tcp dport %u "
				    "dnat to " NET_AB ".2:%u\n"
				    " }\n"
				    "}\n"
				    "EOF",
				    ns[0], cli.port, cli.port),
				 0);
	cp = t_fork(client_main, &cli);
	assert_int_equal(t_wait(cp), 0);
	assert_int_equal(t_wait(sp), 0);
}

static void test_libism_across(void **state)
{
	(void)state;
	run_pair(NET_AB ".2", ISM_STREAM_SHM, ISM_SR_NONE);
}

static void test_dnat_stays_tcp(void **state)
{
	(void)state;
	if (sh("command -v nft >/dev/null 2>&1") < 0) {
		fprintf(stderr, "skipped: no nft here\n");
		skip();
	}
	run_pair(SERVICE, ISM_STREAM_TCP, ISM_SR_OTHER_HOST);
}

/* An ismd without CAP_NET_ADMIN and CAP_SYS_ADMIN cannot look into other
 * namespaces: the same pair stays on TCP, every byte intact, and the
 * client says why. */
static void test_without_capabilities(void **state)
{
	const char *ismd = t_prog("ISMD", "ismd/ismd");
	struct ism_private d = { 0 };
	char wrap[256], *old;
	FILE *f;
	int r;

	(void)state;
	if (sh("command -v setpriv >/dev/null 2>&1") < 0) {
		fprintf(stderr, "skipped: no setpriv here\n");
		skip();
	}
	snprintf(wrap, sizeof(wrap), "%s/ismt-nocap-%d.sh", t_tmpdir(),
		 (int)getpid());
	f = fopen(wrap, "w");
	assert_non_null(f);
	fprintf(f,
		"#!/bin/sh\nexec setpriv --bounding-set=-net_admin,-sys_admin "
		"--inh-caps=-net_admin,-sys_admin '%s' \"$@\"\n",
		ismd);
	fclose(f);
	assert_int_equal(chmod(wrap, 0700), 0);
	old = getenv("ISMD") ? strdup(getenv("ISMD")) : NULL;
	setenv("ISMD", wrap, 1);
	r = t_daemon_start(&d, NULL);
	if (old) {
		setenv("ISMD", old, 1);
		free(old);
	} else {
		unsetenv("ISMD");
	}
	unlink(wrap);
	assert_int_equal(r, 0);
	sock_path = d.sock;
	run_pair(NET_AB ".2", ISM_STREAM_TCP, ISM_SR_OTHER_HOST);
	sock_path = NULL;
	assert_int_equal(t_daemon_cleanup(&d), 0);
}

/* ---- the hostile peer: the same 4-tuple in other namespaces ---- */

static void test_mirrored_tuple_refused(void **state)
{
	struct ism_stream_rep rep;
	uint64_t sid, vid, hid, lid;
	int server, victim, hostile, l, vc, hl, hc, hs, rs;
	uint16_t port, eport;

	(void)state;
	server = raw_conn(&sid);
	victim = raw_conn(&vid);
	hostile = raw_conn(&hid);

	/* The real ism listener in B on NET_AB.2:P. */
	l = ns_tcp(1, 2, 0);
	assert_int_equal(listen(l, 16), 0);
	port = port_of(l, false);
	rep = stream_open(server, ISM_STREAM_LISTENER, l, 0, 0);
	lid = rep.id;
	assert_true(lid != 0);

	/* The victim's client in A, bound, handed over before connect. */
	vc = ns_tcp(0, 1, 0);
	eport = port_of(vc, false);
	rep = stream_open(victim, ISM_STREAM_CLIENT, vc, 2, port);
	fprintf(stderr,
		"victim client " NET_AB ".1:%u -> " NET_AB ".2:%u: %s\n", eport,
		port, path_name(rep.path));
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	uint64_t vsid = rep.id;

	/* The hostile copy: the same addresses in C and D, a real
	 * connection NET_AB.1:E -> NET_AB.2:P there. */
	hl = ns_tcp(3, 2, port);
	assert_int_equal(listen(hl, 16), 0);
	hc = ns_tcp(2, 1, eport);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(port) };

		inet_pton(AF_INET, NET_AB ".2", &sa.sin_addr);
		assert_int_equal(
			connect(hc, (struct sockaddr *)&sa, sizeof(sa)), 0);
		/* And the victim's own connection, A -> B. */
		assert_int_equal(
			connect(vc, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	hs = track(accept4(hl, NULL, NULL, SOCK_CLOEXEC));
	/* It mirrors the victim's connection exactly. */
	assert_int_equal(port_of(hs, true), eport);
	assert_int_equal(port_of(hs, false), port);

	rep = stream_open(hostile, ISM_STREAM_SERVER, hs, 0, 0);
	fprintf(stderr, "hostile server end in another netns: %s, reason %u\n",
		path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);

	/* The real server end still claims it. */
	rs = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));
	rep = stream_open(server, ISM_STREAM_SERVER, rs, 0, 0);
	fprintf(stderr, "real server end: %s\n", path_name(rep.path));
	assert_int_equal(rep.path, ISM_STREAM_SHM);
	assert_int_equal(rep.partner, vid);
	rep = stream_resolve(victim, vsid);
	assert_int_equal(rep.path, ISM_STREAM_SHM);
	assert_int_equal(rep.partner, sid);

	/* Bytes still flow both ways on the real connection after ismd's
	 * look at it (repair on and off again). */
	{
		char b[4] = { 0 };

		assert_int_equal(send(vc, "ping", 4, MSG_NOSIGNAL), 4);
		assert_int_equal(recv(rs, b, 4, MSG_WAITALL), 4);
		assert_memory_equal(b, "ping", 4);
		assert_int_equal(send(rs, "pong", 4, MSG_NOSIGNAL), 4);
		assert_int_equal(recv(vc, b, 4, MSG_WAITALL), 4);
		assert_memory_equal(b, "pong", 4);
	}
	close_all();
	assert_true(t_daemon_alive(&t_group));
}

static int group_teardown(void **state)
{
	close_all();
	return t_group_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libism_across),
		cmocka_unit_test(test_mirrored_tuple_refused),
		cmocka_unit_test(test_without_capabilities),
		cmocka_unit_test(test_dnat_stays_tcp),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root (network namespaces)\n");
		return 77;
	}
	for (int i = 0; i < 4; i++)
		snprintf(ns[i], sizeof(ns[i]), "ismt%d%c", (int)getpid(),
			 'a' + i);
	atexit(ns_remove);
	if (sh("command -v ip >/dev/null 2>&1") < 0 || ns_pair(0, 1) < 0 ||
	    ns_pair(2, 3) < 0) {
		fprintf(stderr, "skipped: cannot make network namespaces and "
				"veth pairs here\n");
		ns_remove();
		return 77;
	}
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, group_teardown));
}
