/* SPDX-License-Identifier: MIT */
/*
 * Hostile stream requests: fds that are not TCP sockets or not in the
 * state the role needs, missing or extra fds, updates that would claim
 * shared memory, other peers' records, forged claims (a socket that is not
 * the other end of the intent's connection), and two intents for one local
 * address.  ismd answers each with an error or a TCP verdict, keeps
 * serving, and forgets everything when the peer goes.
 */
#include "client/client.h"
#include "t_daemon.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return sa;
}

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	int fd = tcp_socket();

	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int bound_client(uint16_t reuse_port)
{
	struct sockaddr_in sa = loopback(reuse_port);
	int fd = tcp_socket(), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int open_role(struct ism_conn *c, uint32_t role, uint16_t dst_port,
		     int fd, struct ism_stream_rep *rep)
{
	struct ism_stream_open_req req = { .role = role };
	uint32_t gen;

	if (role == ISM_STREAM_CLIENT) {
		req.dst.family = AF_INET;
		req.dst.port = dst_port;
		req.dst.addr[0] = 127;
		req.dst.addr[3] = 1;
	}
	return conn_stream_open(c, &req, fd, rep, &gen);
}

static void test_wrong_fds(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "hostile", 0);
	struct ism_stream_rep rep;
	int p[2], u, un[2], fd;
	uint16_t port;

	(void)state;
	assert_int_equal(pipe(p), 0);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, un), 0);
	for (uint32_t role = 1; role <= 3; role++) {
		assert_int_equal(open_role(c, role, 1, p[0], &rep), -ENOTSOCK);
		assert_int_equal(open_role(c, role, 1, u, &rep), -EPROTOTYPE);
		assert_int_equal(open_role(c, role, 1, un[0], &rep),
				 -EPROTOTYPE);
	}
	/* A listener that does not listen; a client not bound; a server
	 * socket that is not connected. */
	fd = tcp_socket();
	assert_int_equal(open_role(c, ISM_STREAM_LISTENER, 0, fd, &rep),
			 -EINVAL);
	fd = tcp_socket();
	{
		int l = tcp_listener(&port);

		assert_int_equal(open_role(c, ISM_STREAM_LISTENER, 0, l, &rep),
				 0);
		assert_int_equal(
			open_role(c, ISM_STREAM_CLIENT, port, fd, &rep),
			-EINVAL);
		assert_int_equal(open_role(c, ISM_STREAM_SERVER, 0, fd, &rep),
				 -EINVAL);
		close(l);
	}
	close(fd);
	close(p[0]);
	close(p[1]);
	close(u);
	close(un[0]);
	close(un[1]);
	assert_true(t_daemon_alive(&t_group));
	ism_conn_close(c);
}

static void test_raw_frames(void **state)
{
	int fd = t_raw_connect(t_group.sock), fds[2];
	uint8_t msg[256];
	struct ism_stream_open_req req = { .role = ISM_STREAM_LISTENER };
	struct ism_wbuf b;
	uint64_t peer;
	uint16_t type;
	uint32_t seq;
	int n, l;
	uint16_t port;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(t_raw_hello(fd, &peer), 0);
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STREAM_OPEN, 0, 5, 0);
	ism_proto_put_stream_open_req(&b, &req);
	n = ism_proto_end(&b);
	/* No fd, then two. */
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, NULL, 0, 0), 0);
	assert_int_equal(t_raw_reply(fd, &type, &seq, 2000), EBADMSG);
	l = tcp_listener(&port);
	fds[0] = fds[1] = l;
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, fds, 2, 0), 0);
	assert_int_equal(t_raw_reply(fd, &type, &seq, 2000), EBADMSG);
	/* An fd on a request that takes none. */
	ism_proto_begin(&b, msg, sizeof(msg), ISM_MSG_STREAM_RESOLVE, 0, 6, 0);
	ism_proto_put_region_req(&b, 1);
	n = ism_proto_end(&b);
	assert_int_equal(ism_wire_send(fd, msg, (size_t)n, fds, 1, 0), 0);
	assert_int_equal(t_raw_reply(fd, &type, &seq, 2000), EBADMSG);
	close(l);
	close(fd);
	assert_true(t_daemon_alive(&t_group));
}

/* STREAM_CHECK: only the caller's own client records.  A plain intent is
 * answered as it stands.  A client naming an address no listener has is
 * kept pending, "other host" (a service address a NAT may rewrite); one
 * never connected (nothing in conntrack) goes TCP at its CHECK, for
 * good. */
static void test_check(void **state)
{
	struct ism_conn *srv = t_connect(&t_group, "server", 0);
	struct ism_conn *cli = t_connect(&t_group, "client", 0);
	struct ism_conn *evil = t_connect(&t_group, "evil", 0);
	struct ism_stream_open_req req = { .role = ISM_STREAM_CLIENT };
	struct ism_stream_rep rep, lrep, crep;
	uint32_t gen;
	uint16_t port;
	int l, cfd, nfd;

	(void)state;
	l = tcp_listener(&port);
	assert_int_equal(open_role(srv, ISM_STREAM_LISTENER, 0, l, &lrep), 0);
	assert_int_equal(conn_stream_check(cli, 999999, cli->gen, &crep),
			 -ENOENT);
	assert_int_equal(conn_stream_check(srv, lrep.id, srv->gen, &crep),
			 -ENOENT);
	cfd = bound_client(0);
	assert_int_equal(open_role(cli, ISM_STREAM_CLIENT, port, cfd, &rep), 0);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	assert_int_equal(rep.reason, ISM_SR_NONE);
	assert_int_equal(conn_stream_check(evil, rep.id, evil->gen, &crep),
			 -ENOENT);
	assert_int_equal(conn_stream_check(cli, rep.id, cli->gen, &crep), 0);
	assert_int_equal(crep.id, rep.id);
	assert_int_equal(crep.path, ISM_STREAM_PENDING);
	assert_int_equal(crep.reason, ISM_SR_NONE);

	nfd = bound_client(0); /* 127.0.0.1, toward 10.99.99.99 */
	req.dst.family = AF_INET;
	req.dst.port = port;
	req.dst.addr[0] = 10;
	req.dst.addr[1] = req.dst.addr[2] = req.dst.addr[3] = 99;
	assert_int_equal(conn_stream_open(cli, &req, nfd, &rep, &gen), 0);
	if (!(conn_caps(cli) & ISM_CAP_XNS)) {
		/* (An ismd that cannot look across namespaces reads no
		 * conntrack either.) */
		fprintf(stderr, "ismd without CAP_NET_ADMIN/CAP_SYS_ADMIN: "
				"no pending on a NAT\n");
		assert_int_equal(rep.path, ISM_STREAM_TCP);
		assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
	} else {
		assert_int_equal(rep.path, ISM_STREAM_PENDING);
		assert_int_equal(rep.reason, ISM_SR_OTHER_HOST);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(
				conn_stream_check(cli, rep.id, cli->gen, &crep),
				0);
			assert_int_equal(crep.path, ISM_STREAM_TCP);
			assert_int_equal(crep.reason, ISM_SR_OTHER_HOST);
		}
		assert_int_equal(
			conn_stream_resolve(cli, rep.id, cli->gen, &crep), 0);
		assert_int_equal(crep.path, ISM_STREAM_TCP);
	}
	close(nfd);
	close(cfd);
	close(l);
	ism_conn_close(evil);
	ism_conn_close(cli);
	ism_conn_close(srv);
	assert_true(t_daemon_alive(&t_group));
}

static void test_forged_claims(void **state)
{
	struct ism_conn *srv = t_connect(&t_group, "server", 0);
	struct ism_conn *cli = t_connect(&t_group, "client", 0);
	struct ism_conn *evil = t_connect(&t_group, "evil", 0);
	struct ism_stream_rep rep, rep2;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int l, cfd, a, c2;
	uint16_t port;
	uint32_t gen = 0;

	(void)state;
	l = tcp_listener(&port);
	assert_int_equal(open_role(srv, ISM_STREAM_LISTENER, 0, l, &rep), 0);
	cfd = bound_client(0);
	assert_int_equal(open_role(cli, ISM_STREAM_CLIENT, port, cfd, &rep), 0);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	/* A second intent on the same local address (SO_REUSEPORT): TCP. */
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&sa, &len), 0);
	c2 = bound_client(ntohs(sa.sin_port));
	assert_int_equal(open_role(evil, ISM_STREAM_CLIENT, port, c2, &rep2),
			 0);
	assert_int_equal(rep2.path, ISM_STREAM_TCP);
	assert_int_equal(rep2.reason, ISM_SR_ERROR);
	close(c2);
	sa = loopback(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	assert_true(a >= 0);
	/* The client's own end is not the server's end: no claim. */
	assert_int_equal(open_role(evil, ISM_STREAM_SERVER, 0, cfd, &rep2), 0);
	assert_int_equal(rep2.path, ISM_STREAM_TCP);
	/* Others' records are not ours to touch; nobody may claim shared
	 * memory by update. */
	assert_int_equal(conn_stream_resolve(evil, rep.id, evil->gen, &rep2),
			 -ENOENT);
	{
		struct ism_stream_rep own;

		assert_int_equal(open_role(evil, ISM_STREAM_SERVER, 0, a, &own),
				 0);
		/* evil holds the real server end: it claims (that is the
		 * proof) - and the real server, later, cannot. */
		assert_int_equal(own.path, ISM_STREAM_SHM);
		assert_int_equal(own.partner, ism_conn_peer_id(cli));
		assert_int_equal(open_role(srv, ISM_STREAM_SERVER, 0, a, &rep2),
				 0);
		assert_int_equal(rep2.path, ISM_STREAM_TCP);
	}
	/* Updates: the client may give shared memory up, not take it. */
	assert_int_equal(conn_stream_resolve(cli, rep.id, cli->gen, &rep2), 0);
	assert_int_equal(rep2.path, ISM_STREAM_SHM);
	pthread_mutex_lock(&cli->lock);
	gen = cli->gen;
	pthread_mutex_unlock(&cli->lock);
	assert_int_equal(conn_stream_update(cli, rep.id, gen, ISM_STREAM_TCP,
					    ISM_SR_REFUSED),
			 0);
	{
		struct ism_stream_info e[8];
		uint64_t next;
		int n = ism_admin_list_streams(cli, 0, e, 8, &next), seen = 0;

		for (int i = 0; i < n; i++)
			if (e[i].id == rep.id) {
				assert_int_equal(e[i].path, ISM_STREAM_TCP);
				assert_int_equal(e[i].reason, ISM_SR_REFUSED);
				seen = 1;
			}
		assert_int_equal(seen, 1);
	}
	close(a);
	close(cfd);
	close(l);
	ism_conn_close(evil);
	ism_conn_close(cli);
	ism_conn_close(srv);
	assert_true(t_daemon_alive(&t_group));
}

/* A peer that leaves pending intents and listeners: all forgotten, and
 * the sockets ismd kept are closed (the client's connection is not held
 * open by ismd). */
static void test_records_die_with_peer(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "leaver", 0);
	struct ism_conn *adm = t_connect(&t_group, "observer", 0);
	struct ism_stream_info e[16];
	struct ism_stream_rep rep;
	uint64_t next;
	int l, cfd, a, n;
	uint16_t port;
	struct sockaddr_in sa;
	char ch;

	(void)state;
	l = tcp_listener(&port);
	assert_int_equal(open_role(c, ISM_STREAM_LISTENER, 0, l, &rep), 0);
	cfd = bound_client(0);
	assert_int_equal(open_role(c, ISM_STREAM_CLIENT, port, cfd, &rep), 0);
	assert_int_equal(rep.path, ISM_STREAM_PENDING);
	sa = loopback(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a = accept(l, NULL, NULL);
	close(cfd); /* ismd still holds a copy while the intent lives */
	ism_conn_close(c);
	/* Once the peer is gone, ismd's copy closes: the server sees EOF. */
	{
		struct timeval tv = { 5, 0 };

		setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(recv(a, &ch, 1, 0), 0);
	}
	if (ism_conn_is_admin(adm)) {
		n = ism_admin_list_streams(adm, 0, e, 16, &next);
		assert_int_equal(n, 0);
	}
	close(a);
	close(l);
	ism_conn_close(adm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_fds),
		cmocka_unit_test(test_raw_frames),
		cmocka_unit_test(test_forged_claims),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_records_die_with_peer),
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
