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
 *   address that A's output chain rewrites to B's listener moves to shared
 *   memory (ismd reads A's conntrack once the client is connected, and
 *   B's claim is proven by sequence numbers); toward one rewritten to a
 *   plain listener, the client goes TCP ("other host") at once, not after
 *   waiting for an offer ("timeout"); both ends in B through a DNAT in
 *   B's own output chain: shared memory, with ismd in the host's
 *   namespace and with one in B's.
 * - Both ends in B, one namespace that is not ismd's (a pod): shared
 *   memory, as in ismd's own.
 * - The trust model: uid 65534 in a user and network namespace of its
 *   own, told the victim's sequence numbers, builds with TCP_REPAIR an
 *   established socket with the mirrored 4-tuple and exactly those
 *   numbers and claims the victim's intent: refused (its namespace is
 *   not owned by ismd's user namespace); the real server still gets
 *   shared memory.  Without the ownership check it is shared memory.
 * - The proof budget: 3 failed proofs leave the intent to the real
 *   server, the 4th abandons it: both ends TCP, reason 2.
 * - A client (uid 65534) holding its socket's lock (a send() from a
 *   userfaultfd page) while its server claims: the proof waits on a
 *   worker (a thread of ismd in D state), the server is answered (TCP,
 *   reason 2) and ismd serves others meanwhile.
 * - An ismd without CAP_NET_ADMIN/CAP_SYS_ADMIN: TCP, reason 2.
 *
 * Needs root and `ip` (iproute2); exits 77 with the reason otherwise.  The
 * namespaces (and with them the veths) are removed at the end, also after
 * a failure (atexit).
 */
#include "t_daemon.h"
#include "t_lock.h"
#include "proto/proto.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/userfaultfd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
static uint8_t tx[ISM_WIRE_MAX_MSG];
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
	    /* A route for the DNAT cases' service address. */
	    sh("ip -n %s route add " SERVICE "/32 dev %s", ns[a], va) < 0 ||
	    sh("ip -n %s route add " SERVICE "/32 dev %s", ns[b], vb) < 0)
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
	assert_int_equal(t_raw_stream_call(conn, &b, sock, &rep), 0);
	return rep;
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
	bool path_only; /* client: no bytes (a plain server) */
	bool gated;	/* server: accepts once a byte comes on gate_fd */
	int gate_fd;
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
	if (sd->gated) {
		char go;

		if (read(sd->gate_fd, &go, 1) != 1)
			return 17;
	}
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
	if (sd->path_only) {
		ism_stream_close(s);
		ism_conn_close(c);
		return 0;
	}
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

static pid_t kid_start(int (*fn)(void *), void *arg);
static int kid_wait(pid_t pid);
static void own_ismd(const char *prefix);
static void own_ismd_stop(void);

/* DNAT in the output chain of namespace @k: SERVICE:@from to B's
 * address, port @to (a fresh table each time). */
static void dnat(int k, uint16_t from, uint16_t to)
{
	assert_int_equal(sh("ip netns exec %s nft -f - <<EOF\n"
			    "table ip ismt\n"
			    "delete table ip ismt\n"
			    "table ip ismt {\n"
			    " chain out {\n"
			    "  type nat hook output priority -100;\n"
			    "  ip daddr " SERVICE " tcp dport %u "
			    "dnat to " NET_AB ".2:%u\n"
			    " }\n"
			    "}\n"
			    "EOF",
			    ns[k], from, to),
			 0);
}

/* Has ismd answered the CHECK of the client toward SERVICE:@port (its
 * record no longer "pending, other host")? */
static bool client_checked(uint16_t port)
{
	static const uint8_t svc[4] = { 10, 231, 9, 9 };
	struct ism_conn *c = open_conn("netns-watch");
	struct ism_stream_info e[64];
	uint64_t cursor = 0, next;
	bool done = false;
	int n;

	assert_non_null(c);
	do {
		n = ism_admin_list_streams(c, cursor, e, 64, &next);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			if (e[i].role == ISM_STREAM_CLIENT &&
			    e[i].remote.port == port &&
			    !memcmp(e[i].remote.addr, svc, 4) &&
			    !(e[i].path == ISM_STREAM_PENDING &&
			      e[i].reason == ISM_SR_OTHER_HOST))
				done = true;
		cursor = next;
	} while (next && !done);
	ism_conn_close(c);
	return done;
}

/* A server in B and a client in @cli_ns (toward @host, as seen from
 * there).  @gated: the server accepts only once ismd has answered the
 * client's CHECK, so no proof can claim it first: the CHECK alone (what
 * conntrack said) decides whether the client waits for the offer. */
static void run_pair_gated(int cli_ns, const char *host, int path, int reason,
			   bool gated)
{
	struct side srv = { .ns = 1, .want_path = path, .gated = gated };
	struct side cli = { .ns = cli_ns,
			    .host = host,
			    .want_path = path,
			    .want_reason = reason };
	int p[2], g[2] = { -1, -1 };
	pid_t sp, cp;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	srv.pipe_fd = p[1];
	if (gated) {
		assert_int_equal(pipe2(g, O_CLOEXEC), 0);
		srv.gate_fd = g[0];
	}
	sp = kid_start(server_main, &srv);
	close(p[1]);
	if (gated)
		close(g[0]);
	assert_int_equal(read(p[0], &cli.port, sizeof(cli.port)),
			 (ssize_t)sizeof(cli.port));
	close(p[0]);
	if (strcmp(host, SERVICE) == 0)
		dnat(cli_ns, cli.port, cli.port);
	cp = kid_start(client_main, &cli);
	if (gated) {
		int waited = 0;

		while (!client_checked(cli.port) && waited++ < 1000)
			usleep(10000);
		assert_int_equal(write(g[1], "g", 1), 1);
		close(g[1]);
		assert_true(waited <= 1000);
	}
	assert_int_equal(kid_wait(cp), 0);
	assert_int_equal(kid_wait(sp), 0);
}

static void run_pair_in(int cli_ns, const char *host, int path, int reason)
{
	run_pair_gated(cli_ns, host, path, reason, false);
}

/* A server in B and a client in A (toward @host, as seen from A). */
static void run_pair(const char *host, int path, int reason)
{
	run_pair_in(0, host, path, reason);
}

static void test_libism_across(void **state)
{
	(void)state;
	run_pair(NET_AB ".2", ISM_STREAM_SHM, ISM_SR_NONE);
}

/* The pod case: both ends in one namespace that is not ismd's (B),
 * matched there as in ismd's own. */
static void test_one_namespace_not_ismds(void **state)
{
	(void)state;
	run_pair_in(1, NET_AB ".2", ISM_STREAM_SHM, ISM_SR_NONE);
}

static void need_nft(void)
{
	if (sh("command -v nft >/dev/null 2>&1") < 0) {
		fprintf(stderr, "skipped: no nft here\n");
		skip();
	}
}

static void test_dnat_moves(void **state)
{
	(void)state;
	need_nft();
	run_pair(SERVICE, ISM_STREAM_SHM, ISM_SR_NONE);
	/* Once more, the server held back until the CHECK is answered. */
	run_pair_gated(0, SERVICE, ISM_STREAM_SHM, ISM_SR_NONE, true);
}

/* Both ends in B, through a DNAT in B's own output chain: the client's
 * socket is connected to the service address, the server's to B's, in
 * one namespace (the server's claim is proven by sequence numbers). */
static void test_dnat_one_namespace(void **state)
{
	(void)state;
	need_nft();
	run_pair_in(1, SERVICE, ISM_STREAM_SHM, ISM_SR_NONE);
}

/* The same with ismd in B (its own namespace, where sock_diag answers
 * and conntrack is read on its loop's side): the client, bound to its
 * route's source, is no client of B's wildcard listener until CHECK. */
static void test_dnat_in_ismds_namespace(void **state)
{
	char prefix[96];

	(void)state;
	need_nft();
	if (sh("command -v nsenter >/dev/null 2>&1") < 0) {
		fprintf(stderr, "skipped: no nsenter here\n");
		skip();
	}
	snprintf(prefix, sizeof(prefix), "nsenter --net=/run/netns/%s", ns[1]);
	own_ismd(prefix);
	run_pair_in(1, SERVICE, ISM_STREAM_SHM, ISM_SR_NONE);
	run_pair_gated(1, SERVICE, ISM_STREAM_SHM, ISM_SR_NONE, true);
	own_ismd_stop();
}

/* The NAT's target is a plain listener (no ism listener on its port):
 * TCP at CHECK, "other host"; a client kept waiting for an offer would
 * say "timeout". */
static void test_dnat_to_plain_listener(void **state)
{
	struct side cli = { .ns = 0,
			    .host = SERVICE,
			    .want_path = ISM_STREAM_TCP,
			    .want_reason = ISM_SR_OTHER_HOST,
			    .path_only = true };
	int l;

	(void)state;
	need_nft();
	l = ns_tcp(1, 2, 0);
	assert_int_equal(listen(l, 8), 0);
	cli.port = port_of(l, false);
	dnat(0, cli.port, cli.port);
	assert_int_equal(kid_wait(kid_start(client_main, &cli)), 0);
}

static struct ism_private nocap; /* the case's own ismd, if running */

/* The case's own ismd (nocap), started through @prefix (a command line
 * that execs what follows), for the libism ends from now on. */
static void own_ismd(const char *prefix)
{
	const char *ismd = t_prog("ISMD", "ismd/ismd");
	char wrap[256], *old;
	FILE *f;
	int r;

	snprintf(wrap, sizeof(wrap), "%s/ismt-own-%d.sh", t_tmpdir(),
		 (int)getpid());
	f = fopen(wrap, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nexec %s '%s' \"$@\"\n", prefix, ismd);
	fclose(f);
	assert_int_equal(chmod(wrap, 0700), 0);
	old = getenv("ISMD") ? strdup(getenv("ISMD")) : NULL;
	setenv("ISMD", wrap, 1);
	r = t_daemon_start(&nocap, NULL);
	if (old) {
		setenv("ISMD", old, 1);
		free(old);
	} else {
		unsetenv("ISMD");
	}
	unlink(wrap);
	assert_int_equal(r, 0);
	sock_path = nocap.sock;
}

static void own_ismd_stop(void)
{
	int r;

	sock_path = NULL;
	r = t_daemon_cleanup(&nocap);
	memset(&nocap, 0, sizeof(nocap));
	assert_int_equal(r, 0);
}

/* An ismd without CAP_NET_ADMIN and CAP_SYS_ADMIN cannot look into other
 * namespaces: the same pair stays on TCP, every byte intact, and the
 * client says why. */
static void test_without_capabilities(void **state)
{
	(void)state;
	if (sh("command -v setpriv >/dev/null 2>&1") < 0) {
		fprintf(stderr, "skipped: no setpriv here\n");
		skip();
	}
	own_ismd("setpriv --bounding-set=-net_admin,-sys_admin "
		 "--inh-caps=-net_admin,-sys_admin");
	run_pair(NET_AB ".2", ISM_STREAM_TCP, ISM_SR_OTHER_HOST);
	own_ismd_stop();
}

/* ---- the hostile peer: the same 4-tuple in other namespaces ---- */

/* After a refused impostor: the real server end of the victim's
 * connection (accepted from @l) still claims it, shared memory, each end
 * naming the other's peer.  Returns that server end. */
static int real_server_claims(int server, uint64_t sid, int l, int victim,
			      uint64_t vid, uint64_t vsid)
{
	struct ism_stream_rep rep;
	int rs = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));

	rep = stream_open(server, ISM_STREAM_SERVER, rs, 0, 0);
	fprintf(stderr, "real server end: %s\n", t_stream_path_name(rep.path));
	assert_int_equal(rep.path, ISM_STREAM_SHM);
	assert_int_equal(rep.partner, vid);
	rep = t_raw_stream_resolve(victim, vsid);
	assert_int_equal(rep.path, ISM_STREAM_SHM);
	assert_int_equal(rep.partner, sid);
	return rs;
}

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
		port, t_stream_path_name(rep.path));
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
		t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);

	/* The real server end still claims it. */
	rs = real_server_claims(server, sid, l, victim, vid, vsid);

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

/* ---- helpers for the cases below ---- */

/* The sequence numbers of @fd, read with TCP_REPAIR as root (the test's
 * own socket): *@snd its next to send, *@rcv its next to receive. */
static void read_seq(int fd, uint32_t *snd, uint32_t *rcv)
{
	int on = 1, off = -1, q;
	socklen_t len = sizeof(*snd);

	assert_int_equal(
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)), 0);
	q = TCP_SEND_QUEUE;
	assert_int_equal(
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)),
		0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, snd, &len),
			 0);
	q = TCP_RECV_QUEUE;
	assert_int_equal(
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)),
		0);
	len = sizeof(*rcv);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, rcv, &len),
			 0);
	q = TCP_NO_QUEUE;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	assert_int_equal(
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)), 0);
}

static void connect_to(int fd, int host, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	char ip[32];

	snprintf(ip, sizeof(ip), NET_AB ".%d", host);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

/* Children still to reap if a case fails half-way (teardown). */
static pid_t kids[8];

static pid_t kid_start(int (*fn)(void *), void *arg)
{
	pid_t pid = t_fork(fn, arg);

	assert_true(pid > 0);
	for (unsigned i = 0; i < 8; i++)
		if (!kids[i]) {
			kids[i] = pid;
			break;
		}
	return pid;
}

static int kid_wait(pid_t pid)
{
	for (unsigned i = 0; i < 8; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	return t_wait(pid);
}

static void kids_kill(void)
{
	for (unsigned i = 0; i < 8; i++)
		if (kids[i]) {
			t_kill(kids[i], SIGKILL);
			t_wait(kids[i]);
			kids[i] = 0;
		}
}

/* A listener in B (NET_AB.2) registered on @server; its port. */
static uint16_t listener_in_b(int server, int *l)
{
	struct ism_stream_rep rep;

	*l = ns_tcp(1, 2, 0);
	assert_int_equal(listen(*l, 16), 0);
	rep = stream_open(server, ISM_STREAM_LISTENER, *l, 0, 0);
	assert_true(rep.id != 0);
	return port_of(*l, false);
}

/* ---- an unprivileged attacker with a user namespace of its own ---- */

struct forger {
	const char *sock;
	uint16_t port, eport; /* the victim's server port, its client port */
	uint32_t snd, rcv;    /* the numbers the forged socket must show */
	int out;	      /* where the reply goes */
};

static int if_up_with(int s, const char *name, const char *ip)
{
	struct ifreq ifr;
	struct sockaddr_in *sa = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sa->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sa->sin_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	inet_pton(AF_INET, "255.255.255.0", &sa->sin_addr);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/*
 * As uid 65534: a user namespace and a network namespace of its own
 * (where it holds CAP_NET_ADMIN), the victim's server address on its
 * loopback, and with TCP_REPAIR an established socket with the victim's
 * mirrored 4-tuple and exactly the numbers the victim's server end has.
 * Handed to ismd as the server end of the victim's pending client.
 * Writes ismd's reply (struct ism_stream_rep, or a negative code) to @out.
 */
static int forger_main(void *arg)
{
	struct forger *f = arg;
	struct sockaddr_in me = { .sin_family = AF_INET,
				  .sin_port = htons(f->port) },
			   peer = { .sin_family = AF_INET,
				    .sin_port = htons(f->eport) };
	struct ism_stream_open_req req = { .role = ISM_STREAM_SERVER };
	struct ism_stream_rep rep;
	struct ism_wbuf b;
	int conn, s, on = 1, off = -1, q, r;
	uint32_t snd = 0, rcv = 0;
	socklen_t len = sizeof(snd);

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 40;
	conn = t_raw_connect(f->sock);
	if (conn < 0 || t_raw_hello(conn, NULL) < 0)
		return 41;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare: %s\n", strerror(errno));
		return 77;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || if_up_with(s, "lo", NET_AB ".2") < 0)
		return 42;
	inet_pton(AF_INET, NET_AB ".2", &me.sin_addr);
	inet_pton(AF_INET, NET_AB ".1", &peer.sin_addr);
	/* Repair mode: the numbers are ours to set, connect sends nothing
	 * and the socket is established at once. */
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return 43;
	q = TCP_SEND_QUEUE;
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    setsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &f->snd, sizeof(f->snd)) <
		    0)
		return 44;
	q = TCP_RECV_QUEUE;
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    setsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &f->rcv, sizeof(f->rcv)) <
		    0)
		return 45;
	if (bind(s, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    connect(s, (struct sockaddr *)&peer, sizeof(peer)) < 0)
		return 46;
	/* The forgery holds: those numbers, read back. */
	q = TCP_SEND_QUEUE;
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &snd, &len) < 0 ||
	    snd != f->snd)
		return 47;
	q = TCP_RECV_QUEUE;
	len = sizeof(rcv);
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &rcv, &len) < 0 ||
	    rcv != f->rcv)
		return 48;
	q = TCP_NO_QUEUE;
	(void)setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)) < 0)
		return 49;
	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_OPEN, 0, 2, 0);
	ism_proto_put_stream_open_req(&b, &req);
	r = t_raw_stream_call(conn, &b, s, &rep);
	if (r != 0) {
		rep.path = 0;
		rep.reason = 1000u + (uint32_t)(r < 0 ? -r : r);
	}
	if (write(f->out, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		return 50;
	return 0;
}

static void test_userns_forgery_refused(void **state)
{
	struct ism_stream_rep rep;
	struct forger f;
	uint64_t sid, vid, vsid;
	int server, victim, l, vc, p[2], st;
	uint32_t snd, rcv;
	pid_t pid;

	(void)state;
	server = raw_conn(&sid);
	victim = raw_conn(&vid);
	f.port = listener_in_b(server, &l);
	vc = ns_tcp(0, 1, 0);
	f.eport = port_of(vc, false);
	rep = stream_open(victim, ISM_STREAM_CLIENT, vc, 2, f.port);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	vsid = rep.id;
	connect_to(vc, 2, f.port);
	/* What the attacker was told: the victim client's numbers, which
	 * the real server end mirrors. */
	read_seq(vc, &snd, &rcv);
	f.snd = rcv;
	f.rcv = snd;
	f.sock = t_group.sock;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f.out = p[1];
	pid = kid_start(forger_main, &f);
	close(p[1]);
	if (read(p[0], &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
		close(p[0]);
		st = kid_wait(pid);
		if (st == 77) {
			fprintf(stderr, "skipped: no unprivileged user "
					"namespaces here\n");
			skip();
		}
		fail_msg("forger failed: %d", st);
	}
	close(p[0]);
	assert_int_equal(kid_wait(pid), 0);
	fprintf(stderr,
		"forged server end (uid 65534, own user+net namespace, the "
		"victim's 4-tuple and numbers): %s, reason %u\n",
		t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
	/* The real server end still claims it. */
	(void)real_server_claims(server, sid, l, victim, vid, vsid);
	close_all();
	assert_true(t_daemon_alive(&t_group));
}

/* ---- the proof budget: decoys abandon an intent, for good ---- */

/* A victim pending from A to B, and a real connection in C -> D with the
 * mirrored 4-tuple, handed @fails times as its server end; then the
 * real server end claims. */
static void decoys(unsigned fails)
{
	struct ism_stream_rep rep;
	uint64_t sid, vid, hid, vsid;
	int server, victim, hostile, l, vc, hl, hc, hs, rs;
	uint16_t port, eport;

	server = raw_conn(&sid);
	victim = raw_conn(&vid);
	hostile = raw_conn(&hid);
	port = listener_in_b(server, &l);
	vc = ns_tcp(0, 1, 0);
	eport = port_of(vc, false);
	rep = stream_open(victim, ISM_STREAM_CLIENT, vc, 2, port);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	vsid = rep.id;
	hl = ns_tcp(3, 2, port);
	assert_int_equal(listen(hl, 16), 0);
	hc = ns_tcp(2, 1, eport);
	connect_to(hc, 2, port);
	connect_to(vc, 2, port);
	hs = track(accept4(hl, NULL, NULL, SOCK_CLOEXEC));
	for (unsigned i = 0; i < fails; i++) {
		rep = stream_open(hostile, ISM_STREAM_SERVER, hs, 0, 0);
		assert_int_equal(rep.path, ISM_STREAM_TCP);
		assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
	}
	rs = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));
	rep = stream_open(server, ISM_STREAM_SERVER, rs, 0, 0);
	fprintf(stderr, "after %u failed proofs: real server end %s (%u)",
		fails, t_stream_path_name(rep.path), rep.reason);
	if (fails < 4) {
		assert_int_equal(rep.path, ISM_STREAM_SHM);
		rep = t_raw_stream_resolve(victim, vsid);
		assert_int_equal(rep.path, ISM_STREAM_SHM);
	} else {
		/* Abandoned: both ends on TCP, for the same reason. */
		assert_int_equal(rep.path, ISM_STREAM_TCP);
		assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
		rep = t_raw_stream_resolve(victim, vsid);
		assert_int_equal(rep.path, ISM_STREAM_TCP);
		assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
	}
	fprintf(stderr, ", client %s (%u)\n", t_stream_path_name(rep.path),
		rep.reason);
	close_all();
}

static void test_proof_budget(void **state)
{
	(void)state;
	decoys(3);
	decoys(4);
	assert_true(t_daemon_alive(&t_group));
}

/* ---- a client that holds its socket's lock during the proof ---- */

struct locker {
	const char *sock;
	uint16_t port;
	int ready;
	int go; /* -1, or a pipe: then RESOLVE while locked (see below) */
};

/* The locker's own RESOLVE of its intent while ismd's proof waits on
 * its socket's lock: the reply must wait for the proof (a RESOLVE
 * answered meanwhile would let the client send into a socket in repair
 * mode).  Then the fault is served (the send completes, the lock goes,
 * the proof ends) and the reply must come.  Returns 0, or a code. */
static int resolve_while_locked(int conn, uint64_t id, int uffd, char *page,
				int out)
{
	struct ism_stream_rep rep;
	struct uffdio_zeropage z = { .range = { (unsigned long)page, 4096 } };
	struct pollfd pf = { conn, POLLIN, 0 };
	struct ism_wbuf b;
	int n;

	ism_proto_begin(&b, tx, sizeof(tx), ISM_MSG_STREAM_RESOLVE, 0, 7, 0);
	ism_proto_put_region_req(&b, id);
	if ((n = ism_proto_end(&b)) < 0 ||
	    ism_wire_send(conn, b.p, (size_t)n, NULL, 0, 0) < 0)
		return 70;
	if (poll(&pf, 1, 1500) != 0)
		return 71; /* answered while the proof held the socket */
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) < 0)
		return 72;
	/* (t_raw_stream_call's receive half: the request is already out.) */
	for (;;) {
		static uint8_t in[ISM_WIRE_MAX_MSG];
		struct ism_wire_hdr h;
		struct ism_rbuf rb;
		ssize_t k = t_raw_recv(conn, in, sizeof(in), 10000, NULL, NULL);

		if (k <= 0)
			return 73;
		ism_rbuf_init(&rb, in, (size_t)k);
		if (ism_wire_hdr_get(&rb, (size_t)k, &h) < 0)
			return 74;
		if (h.flags & ISM_WIRE_F_EVENT)
			continue;
		if (h.status || ism_proto_get_stream_rep(&rb, &rep) < 0)
			return 75;
		break;
	}
	return write(out, &rep, sizeof(rep)) == sizeof(rep) ? 0 : 76;
}

/* In A, as uid 65534 (namespace and userfaultfd entered and made as
 * root): a stream client toward B, pending; once connected, a send()
 * from a page that never arrives holds its socket's lock. */
static int locker_main(void *arg)
{
	struct locker *a = arg;
	struct ism_stream_rep rep;
	struct t_held h;
	pthread_t t;
	char *page;
	int uffd, conn, c;

	if (ns_enter(0) < 0)
		return 60;
	if ((uffd = t_uffd_pages(1, &page)) < 0)
		return 77;
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 61;
	conn = t_raw_connect(a->sock);
	if (conn < 0 || t_raw_hello(conn, NULL) < 0)
		return 62;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };

		inet_pton(AF_INET, NET_AB ".1", &sa.sin_addr);
		if (c < 0 || bind(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return 63;
	}
	rep = stream_open(conn, ISM_STREAM_CLIENT, c, 2, a->port);
	if (rep.path != ISM_STREAM_PENDING)
		return 64;
	connect_to(c, 2, a->port);
	h = (struct t_held){ c, page };
	if (pthread_create(&t, NULL, t_send_from_fault, &h))
		return 65;
	if (!t_uffd_faults(uffd, 1, 10000))
		return 66;
	if (write(a->ready, "L", 1) != 1)
		return 67;
	if (a->go >= 0) {
		char g;

		if (read(a->go, &g, 1) != 1)
			return 68;
		return resolve_while_locked(conn, rep.id, uffd, page, a->ready);
	}
	pause(); /* killed: the userfaultfd goes, the send completes */
	return 0;
}

/* Start the locker toward a listener of @server's in B (in *@l); back
 * once it holds its socket's lock: its pid, *@rd the read end it answers
 * on.  @go: -1, or the read end of the pipe that sends it on to
 * resolve_while_locked() (closed here; @go_w, its write end, too if the
 * locker fails).  Skips without userfaultfd. */
static pid_t locker_start(int server, int *l, int go, int go_w, int *rd)
{
	struct locker a = { .sock = t_group.sock, .go = go };
	int p[2], st;
	pid_t pid;
	char b;

	a.port = listener_in_b(server, l);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	a.ready = p[1];
	pid = kid_start(locker_main, &a);
	close(p[1]);
	if (go >= 0)
		close(go);
	if (read(p[0], &b, 1) != 1) {
		close(p[0]);
		if (go_w >= 0)
			close(go_w);
		st = kid_wait(pid);
		if (st == 77) {
			fprintf(stderr, "skipped: no userfaultfd here\n");
			skip();
		}
		fail_msg("locker failed: %d", st);
	}
	*rd = p[0];
	return pid;
}

static void test_locked_client_cannot_hang(void **state)
{
	struct ism_stream_rep rep;
	uint64_t sid;
	int server, l, rs, rd;
	pid_t pid;

	(void)state;
	server = raw_conn(&sid);
	pid = locker_start(server, &l, -1, -1, &rd);
	close(rd);
	/* The honest server end of that connection: its proof waits on the
	 * client's lock, on a worker; the claim is still answered (TCP,
	 * unproven) and the loop serves everyone meanwhile. */
	rs = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));
	rep = stream_open(server, ISM_STREAM_SERVER, rs, 0, 0);
	fprintf(stderr, "server end of a locked client: %s, reason %u\n",
		t_stream_path_name(rep.path), rep.reason);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
	/* The proof really is stuck on that lock... */
	assert_true(t_thread_in_d(t_group.pid, 10000));
	/* ...and others are served: a newcomer, and the server's next
	 * request. */
	(void)raw_conn(NULL);
	(void)listener_in_b(server, &l);
	t_kill(pid, SIGKILL);
	kid_wait(pid);
	close_all();
	assert_true(t_daemon_alive(&t_group));
}

static void test_resolve_waits_for_proof(void **state)
{
	struct ism_stream_rep rep, got;
	uint64_t sid;
	int server, l, rs, rd, g[2], st;
	pid_t pid;

	(void)state;
	server = raw_conn(&sid);
	assert_int_equal(pipe2(g, O_CLOEXEC), 0);
	pid = locker_start(server, &l, g[0], g[1], &rd);
	rs = track(accept4(l, NULL, NULL, SOCK_CLOEXEC));
	rep = stream_open(server, ISM_STREAM_SERVER, rs, 0, 0);
	assert_int_equal(rep.path, ISM_STREAM_TCP);
	/* The proof sits on the client's lock; now the client resolves. */
	assert_true(t_thread_in_d(t_group.pid, 10000));
	assert_int_equal(write(g[1], "G", 1), 1);
	close(g[1]);
	st = (int)read(rd, &got, sizeof(got));
	close(rd);
	assert_int_equal(kid_wait(pid), 0);
	assert_int_equal(st, (int)sizeof(got));
	/* Both ends on TCP, once the proof let go (the server unproven,
	 * reason 2; the client's intent given up, reason 5). */
	fprintf(stderr, "resolve after the proof: %s, reason %u\n",
		t_stream_path_name(got.path), got.reason);
	assert_int_equal(got.path, ISM_STREAM_TCP);
	assert_true(got.reason == ISM_SR_OTHER_HOST ||
		    got.reason == ISM_SR_TIMEOUT);
	close_all();
	assert_true(t_daemon_alive(&t_group));
}

/* After a case, also a failed one: its children reaped, its fds closed. */
static int case_teardown(void **state)
{
	(void)state;
	kids_kill();
	close_all();
	sock_path = NULL;
	if (nocap.pid) {
		(void)t_daemon_cleanup(&nocap);
		memset(&nocap, 0, sizeof(nocap));
	}
	return 0;
}

static int group_teardown(void **state)
{
	kids_kill();
	close_all();
	return t_group_teardown(state);
}

static const char *const group_args[] = { "--socket-mode", "0666", NULL };

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_libism_across, case_teardown),
		cmocka_unit_test_teardown(test_one_namespace_not_ismds,
					  case_teardown),
		cmocka_unit_test_teardown(test_mirrored_tuple_refused,
					  case_teardown),
		cmocka_unit_test_teardown(test_userns_forgery_refused,
					  case_teardown),
		cmocka_unit_test_teardown(test_proof_budget, case_teardown),
		cmocka_unit_test_teardown(test_locked_client_cannot_hang,
					  case_teardown),
		cmocka_unit_test_teardown(test_resolve_waits_for_proof,
					  case_teardown),
		cmocka_unit_test_teardown(test_without_capabilities,
					  case_teardown),
		cmocka_unit_test_teardown(test_dnat_moves, case_teardown),
		cmocka_unit_test_teardown(test_dnat_one_namespace,
					  case_teardown),
		cmocka_unit_test_teardown(test_dnat_in_ismds_namespace,
					  case_teardown),
		cmocka_unit_test_teardown(test_dnat_to_plain_listener,
					  case_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root (network namespaces)\n");
		return 77;
	}
	/* The attackers below run as uid 65534. */
	t_group_args = group_args;
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
