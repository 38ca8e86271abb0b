/* SPDX-License-Identifier: MIT */
/*
 * Streams: which path a connection takes and why (ism at both ends, a
 * plain TCP client or server at either, no ismd, TCP_ONLY, a listener that
 * never claims), TCP semantics on both paths (byte order over random write
 * and read sizes, half-close, EOF, non-blocking with the fd in poll), a
 * peer killed at random points, ismd killed under live streams, and many
 * concurrent connections through one ismd.
 */
#include "t_daemon.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ism_stream_opts sopts(uint32_t ring, int hs_ms)
{
	struct ism_stream_opts o = { .size = sizeof(o),
				     .ring_size = ring,
				     .handshake_ms = hs_ms };

	return o;
}

static char *port_str(int port, char *buf)
{
	snprintf(buf, 16, "%d", port);
	return buf;
}

/* ---- a byte stream that checks itself: byte i is a function of i ---- */

struct pattern {
	uint64_t pos;
};

static uint8_t pat_byte(uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> (8 * (i & 7)));
}

static void pat_fill(struct pattern *p, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pat_byte(p->pos + i);
	p->pos += n;
}

/* Returns the offset of the first wrong byte, or -1. */
static int64_t pat_check(struct pattern *p, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pat_byte(p->pos + i))
			return (int64_t)(p->pos + i);
	p->pos += n;
	return -1;
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* ---- a server thread: accept one stream, run @fn on it ---- */

struct server {
	struct ism_stream_listener *l;
	struct ism_stream *s;
	int (*fn)(struct server *);
	uint64_t bytes;
	int path, reason, result;
	pthread_t th;
};

static void *server_main(void *arg)
{
	struct server *sv = arg;

	sv->result = ism_stream_accept(sv->l, &sv->s, 0);
	if (sv->result < 0)
		return NULL;
	sv->path = ism_stream_path(sv->s, &sv->reason);
	sv->result = sv->fn ? sv->fn(sv) : 0;
	return NULL;
}

static void server_start(struct server *sv, struct ism_stream_listener *l,
			 int (*fn)(struct server *))
{
	memset(sv, 0, sizeof(*sv));
	sv->l = l;
	sv->fn = fn;
	assert_int_equal(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static int server_join(struct server *sv)
{
	pthread_join(sv->th, NULL);
	return sv->result;
}

/* Listen on @c, serve one stream with @fn on a thread, connect from @d:
 * the client's end. */
static struct ism_stream *pair_up(struct ism_conn *c, struct ism_conn *d,
				  const struct ism_stream_opts *o,
				  struct ism_stream_listener **l,
				  struct server *sv, int (*fn)(struct server *))
{
	struct ism_stream *s = NULL;
	char port[16];

	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", o, l), 0);
	server_start(sv, *l, fn);
	assert_int_equal(
		ism_stream_connect(d, "127.0.0.1",
				   port_str(ism_stream_listener_port(*l), port),
				   o, &s),
		0);
	return s;
}

/* Echo until EOF, then close. */
static int echo_fn(struct server *sv)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = ism_stream_recv(sv->s, buf, sizeof(buf), 0)) > 0) {
		if (ism_stream_send(sv->s, buf, (size_t)n, 0) != n)
			return -EIO;
		sv->bytes += (uint64_t)n;
	}
	ism_stream_close(sv->s);
	return n < 0 ? (int)n : 0;
}

/* Receive the pattern until EOF with random read sizes. */
static int sink_fn(struct server *sv)
{
	static uint8_t buf[1 << 20];
	struct pattern p = { 0 };
	uint64_t r = 12345;
	ssize_t n;

	for (;;) {
		size_t want;

		r = r * 6364136223846793005ull + 1442695040888963407ull;
		want = 1 + (size_t)((r >> 33) % sizeof(buf));
		n = ism_stream_recv(sv->s, buf, want, 0);
		if (n <= 0)
			break;
		if (pat_check(&p, buf, (size_t)n) >= 0)
			return -EILSEQ;
	}
	sv->bytes = p.pos;
	ism_stream_close(sv->s);
	return (int)n;
}

/* Send @total pattern bytes in random-sized writes, then shut down. */
static void send_pattern(struct ism_stream *s, uint64_t total)
{
	static uint8_t buf[1 << 20];
	struct pattern p = { 0 };

	while (p.pos < total) {
		size_t n = 1 + (size_t)(rnd() % sizeof(buf));

		if (rnd() % 4 == 0)
			n = 1 + n % 100; /* many small ones too */
		if (n > total - p.pos)
			n = (size_t)(total - p.pos);
		pat_fill(&p, buf, n);
		assert_int_equal(ism_stream_send(s, buf, n, 0), (ssize_t)n);
	}
	assert_int_equal(ism_stream_shutdown(s, SHUT_WR), 0);
}

/* ---- which path, and why ---- */

static void test_shm_path_echo(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "stream-a", 0);
	struct ism_conn *d = t_connect(&t_group, "stream-b", 0);
	struct ism_stream_opts o = sopts(0, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s;
	struct server sv;
	char buf[256];
	int reason = -1;

	(void)state;
	s = pair_up(c, d, &o, &l, &sv, echo_fn);
	assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_SHM);
	assert_int_equal(reason, ISM_SR_NONE);
	assert_int_equal(ism_stream_send(s, "hello", 5, 0), 5);
	assert_int_equal(ism_stream_recv(s, buf, 5, ISM_F_WAITALL), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Partial reads of one message, and one read across messages. */
	assert_int_equal(ism_stream_send(s, "abcdef", 6, 0), 6);
	assert_int_equal(ism_stream_send(s, "ghij", 4, 0), 4);
	assert_int_equal(ism_stream_recv(s, buf, 2, 0), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(ism_stream_recv(s, buf, 8, ISM_F_WAITALL), 8);
	assert_memory_equal(buf, "cdefghij", 8);
	/* What ismd lists: both ends on shared memory, partners. */
	{
		struct ism_stream_info e[16];
		uint64_t next;
		int n, found = 0;

		memset(e, 0xa5, sizeof(e));
		n = ism_admin_list_streams(d, 0, e, 16, &next);
		assert_true(n >= 1);
		for (int i = 0; i < n; i++)
			for (size_t j = 0; j < ISM_ARRAY_SIZE(e[i].reserved);
			     j++)
				assert_int_equal(e[i].reserved[j], 0);
		for (int i = 0; i < n; i++)
			if (e[i].role == ISM_STREAM_CLIENT) {
				assert_int_equal(e[i].path, ISM_STREAM_SHM);
				assert_int_equal(e[i].partner,
						 ism_conn_peer_id(c));
				assert_int_equal(e[i].remote.port,
						 ism_stream_listener_port(l));
				found++;
			}
		assert_int_equal(found, 1);
	}
	assert_int_equal(ism_stream_close(s), 0);
	assert_int_equal(server_join(&sv), 0);
	assert_int_equal(sv.path, ISM_STREAM_SHM);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

/* Echo until EOF or an error, then shut our direction down (its result
 * in sv->reason) and close. */
static int echo_shut_fn(struct server *sv)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = ism_stream_recv(sv->s, buf, sizeof(buf), 0)) > 0) {
		if (ism_stream_send(sv->s, buf, (size_t)n, 0) != n)
			return -EIO;
		sv->bytes += (uint64_t)n;
	}
	sv->reason = ism_stream_shutdown(sv->s, SHUT_WR);
	ism_stream_close(sv->s);
	return (int)n;
}

/* Bytes written to the TCP socket behind a stream on shared memory (a
 * program's raw system call, io_uring, an exec'ed program) cannot be
 * ordered with the stream's: the other side's end of stream becomes an
 * error, not a clean EOF that would hide them.  A plain byte, and an
 * urgent one (which SIOCINQ does not count). */
static void test_bypass_is_an_error(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "stream-a", 0);
	struct ism_conn *d = t_connect(&t_group, "stream-b", 0);
	struct ism_stream_opts o = sopts(0, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s;
	struct server sv;
	char buf[8];

	(void)state;
	for (int oob = 0; oob < 2; oob++) {
		s = pair_up(c, d, &o, &l, &sv, echo_shut_fn);
		assert_int_equal(ism_stream_path(s, NULL), ISM_STREAM_SHM);
		assert_int_equal(ism_stream_send(s, "ab", 2, 0), 2);
		assert_int_equal(ism_stream_recv(s, buf, 2, ISM_F_WAITALL), 2);
		assert_int_equal(send(ism_stream_socket(s), "xyz", oob ? 1 : 3,
				      oob ? MSG_OOB : 0),
				 oob ? 1 : 3);
		assert_int_equal(ism_stream_send(s, "cd", 2, 0), 2);
		assert_int_equal(ism_stream_recv(s, buf, 2, ISM_F_WAITALL), 2);
		assert_memory_equal(buf, "cd", 2);
		assert_int_equal(ism_stream_shutdown(s, SHUT_WR), 0);
		/* After our end, a byte past libism fails, as on TCP. */
		assert_int_equal(
			send(ism_stream_socket(s), "q", 1, MSG_NOSIGNAL), -1);
		assert_int_equal(errno, EPIPE);
		/* The server got the stream's 4 bytes, then the error; its
		 * shutdown still worked. */
		assert_int_equal(server_join(&sv), -EPROTO);
		assert_int_equal(sv.bytes, 4);
		assert_int_equal(sv.reason, 0);
		/* It wrote nothing past libism: a clean end for us. */
		assert_int_equal(ism_stream_recv(s, buf, 1, 0), 0);
		assert_int_equal(ism_stream_close(s), 0);
		ism_stream_listener_close(l);
	}
	ism_conn_close(c);
	ism_conn_close(d);
}

/* A plain TCP server (not ism) that speaks first: the ism client must not
 * write anything of its own, and reads the banner as data. */
static void test_plain_server(void **state)
{
	struct ism_conn *d = t_connect(&t_group, "to-plain", 0);
	struct ism_stream_opts o = sopts(0, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct ism_stream *s;
	char port[16], buf[64];
	int lfd, fd, reason;

	(void)state;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(ism_stream_connect(d, "127.0.0.1",
					    port_str(ntohs(sa.sin_port), port),
					    &o, &s),
			 0);
	assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_TCP);
	assert_int_equal(reason, ISM_SR_PEER_NOT_ISM);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "220 banner\n", 11), 11);
	assert_int_equal(ism_stream_recv(s, buf, 11, ISM_F_WAITALL), 11);
	assert_memory_equal(buf, "220 banner\n", 11);
	assert_int_equal(ism_stream_send(s, "QUIT\n", 5, 0), 5);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "QUIT\n", 5);
	close(fd);
	assert_int_equal(ism_stream_recv(s, buf, sizeof(buf), 0), 0);
	ism_stream_close(s);
	close(lfd);
	ism_conn_close(d);
}

/* A plain TCP client of an ism server: the server sees TCP, no hello is
 * written to the client, and the server may speak first. */
static int banner_fn(struct server *sv)
{
	char buf[16];

	if (ism_stream_send(sv->s, "220 hi\n", 7, 0) != 7)
		return -EIO;
	if (ism_stream_recv(sv->s, buf, 4, ISM_F_WAITALL) != 4 ||
	    memcmp(buf, "bye\n", 4))
		return -EILSEQ;
	ism_stream_close(sv->s);
	return 0;
}

static void test_plain_client(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "from-plain", 0);
	struct ism_stream_opts o = sopts(0, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ism_stream_listener *l;
	struct server sv;
	char buf[16];
	int fd;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	server_start(&sv, l, banner_fn);
	sa.sin_port = htons((uint16_t)ism_stream_listener_port(l));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(recv(fd, buf, 7, MSG_WAITALL), 7);
	assert_memory_equal(buf, "220 hi\n", 7);
	assert_int_equal(write(fd, "bye\n", 4), 4);
	assert_int_equal(server_join(&sv), 0);
	assert_int_equal(sv.path, ISM_STREAM_TCP);
	assert_int_equal(sv.reason, ISM_SR_PEER_NOT_ISM);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

/* An ism listener whose application accepts with plain accept(): nobody
 * claims, the client gives up after handshake_ms, both stay on TCP, and
 * a claim after the give-up is impossible. */
static void test_unclaimed_times_out(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "lazy-server", 0);
	struct ism_conn *d = t_connect(&t_group, "patient-client", 0);
	struct ism_stream_opts o = sopts(0, 100);
	struct ism_stream_listener *l;
	struct ism_stream *s;
	char port[16], buf[16];
	int fd, reason;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	assert_int_equal(
		ism_stream_connect(d, "127.0.0.1",
				   port_str(ism_stream_listener_port(l), port),
				   &o, &s),
		0);
	assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_TCP);
	assert_int_equal(reason, ISM_SR_TIMEOUT);
	/* Now the server accepts the ism way: too late, it must see TCP. */
	{
		struct ism_stream *a;
		int sreason;

		assert_int_equal(ism_stream_accept(l, &a, 0), 0);
		assert_int_equal(ism_stream_path(a, &sreason), ISM_STREAM_TCP);
		assert_int_equal(sreason, ISM_SR_PEER_NOT_ISM);
		assert_int_equal(ism_stream_send(a, "x", 1, 0), 1);
		assert_int_equal(ism_stream_recv(s, buf, sizeof(buf), 0), 1);
		assert_int_equal(buf[0], 'x');
		ism_stream_close(a);
	}
	ism_stream_close(s);
	/* And a connection accepted with plain accept() works too. */
	assert_int_equal(ism_stream_connect(d, "127.0.0.1", port, &o, &s), 0);
	fd = accept(ism_stream_listener_fd(l), NULL, NULL);
	if (fd < 0) {
		struct pollfd p = { ism_stream_listener_fd(l), POLLIN, 0 };

		poll(&p, 1, 5000);
		fd = accept(ism_stream_listener_fd(l), NULL, NULL);
	}
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ok", 2), 2);
	assert_int_equal(ism_stream_recv(s, buf, 2, ISM_F_WAITALL), 2);
	assert_memory_equal(buf, "ok", 2);
	close(fd);
	ism_stream_close(s);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

static void test_no_ismd_and_disabled(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "srv", 0);
	struct ism_stream_opts o = sopts(0, 0), tcp = sopts(0, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s;
	struct server sv;
	char port[16], buf[8];
	int reason;

	(void)state;
	tcp.flags = ISM_STREAM_TCP_ONLY;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), port);
	/* No ism_conn: TCP, "ismd unreachable". */
	server_start(&sv, l, echo_fn);
	assert_int_equal(ism_stream_connect(NULL, "127.0.0.1", port, &o, &s),
			 0);
	assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_TCP);
	assert_int_equal(reason, ISM_SR_NO_ISMD);
	assert_int_equal(ism_stream_send(s, "abc", 3, 0), 3);
	assert_int_equal(ism_stream_recv(s, buf, 3, ISM_F_WAITALL), 3);
	assert_int_equal(ism_stream_shutdown(s, SHUT_WR), 0);
	assert_int_equal(ism_stream_recv(s, buf, 3, 0), 0);
	ism_stream_close(s);
	assert_int_equal(server_join(&sv), 0);
	assert_int_equal(sv.reason, ISM_SR_PEER_NOT_ISM);
	/* TCP_ONLY. */
	server_start(&sv, l, echo_fn);
	assert_int_equal(ism_stream_connect(c, "127.0.0.1", port, &tcp, &s), 0);
	assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_TCP);
	assert_int_equal(reason, ISM_SR_DISABLED);
	ism_stream_close(s);
	assert_int_equal(server_join(&sv), 0);
	/* Bad arguments. */
	assert_int_equal(ism_stream_connect(c, "127.0.0.1", NULL, &o, &s),
			 -EINVAL);
	assert_int_equal(
		ism_stream_connect(c, "no such host.invalid", "1", &o, &s),
		-EINVAL);
	/* Options: .size 0 is refused (not taken for the defaults), as is a
	 * newer caller's option this libism does not know. */
	{
		struct {
			struct ism_stream_opts o;
			uint64_t newer; /* no padding after it */
		} big = { .o = sopts(0, 0), .newer = 1 };
		struct ism_stream_listener *l2 = NULL;

		o.size = 0;
		assert_int_equal(
			ism_stream_connect(c, "127.0.0.1", port, &o, &s),
			-EINVAL);
		assert_int_equal(
			ism_stream_listen(c, "127.0.0.1", "0", &o, &l2),
			-EINVAL);
		big.o.size = sizeof(big);
		assert_int_equal(
			ism_stream_listen(c, "127.0.0.1", "0", &big.o, &l2),
			-E2BIG);
		assert_null(l2);
		big.newer = 0;
		assert_int_equal(
			ism_stream_listen(c, "127.0.0.1", "0", &big.o, &l2), 0);
		ism_stream_listener_close(l2);
	}
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

/* ---- semantics ---- */

static void bulk(bool shm, uint64_t total)
{
	struct ism_conn *c = t_connect(&t_group, "bulk-srv", 0);
	struct ism_conn *d = t_connect(&t_group, "bulk-cli", 0);
	struct ism_stream_opts o = sopts(256 * 1024, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s;
	struct server sv;
	uint8_t b;

	if (!shm)
		o.flags = ISM_STREAM_TCP_ONLY;
	s = pair_up(c, d, &o, &l, &sv, sink_fn);
	assert_int_equal(ism_stream_path(s, NULL),
			 shm ? ISM_STREAM_SHM : ISM_STREAM_TCP);
	send_pattern(s, total);
	assert_int_equal(server_join(&sv), 0);
	assert_int_equal(sv.bytes, total);
	/* The server closed: EOF for us. */
	assert_int_equal(ism_stream_recv(s, &b, 1, 0), 0);
	ism_stream_close(s);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

static uint64_t bulk_bytes(void)
{
	const char *e = getenv("ISM_TEST_STREAM_BYTES");

	return e ? strtoull(e, NULL, 0) : (1ull << 30);
}

static void test_bulk_shm(void **state)
{
	(void)state;
	bulk(true, bulk_bytes());
}

static void test_bulk_tcp(void **state)
{
	(void)state;
	bulk(false, bulk_bytes());
}

/* Half-close both ways, and the poll loop with DONTWAIT. */
static void test_half_close_and_poll(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "hc-srv", 0);
	struct ism_conn *d = t_connect(&t_group, "hc-cli", 0);
	struct ism_stream_opts o = sopts(4096, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s, *a = NULL;
	uint8_t big[20000], in[20000];
	char port[16], buf[16];
	size_t sent = 0, got = 0;
	int r;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), port);
	assert_int_equal(ism_stream_accept(l, &a, ISM_F_DONTWAIT), -EAGAIN);
	/* connect blocks for the hello, accept in this thread: the
	 * listener's backlog holds the connection while connect waits, so
	 * do the accept from a second connect-less thread instead. */
	{
		struct server sv;

		server_start(&sv, l, NULL);
		assert_int_equal(
			ism_stream_connect(d, "127.0.0.1", port, &o, &s), 0);
		assert_int_equal(server_join(&sv), 0);
		a = sv.s;
	}
	assert_int_equal(ism_stream_path(s, NULL), ISM_STREAM_SHM);
	assert_int_equal(ism_stream_path(a, NULL), ISM_STREAM_SHM);
	/* Nothing yet. */
	assert_int_equal(ism_stream_recv(a, buf, sizeof(buf), ISM_F_DONTWAIT),
			 -EAGAIN);
	/* 20000 bytes through a 4 KiB ring, both non-blocking, driven by
	 * poll on the two fds. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	while (got < sizeof(big)) {
		struct pollfd p[2] = { { ism_stream_fd(s), POLLIN, 0 },
				       { ism_stream_fd(a), POLLIN, 0 } };
		ssize_t n;

		if (sent < sizeof(big)) {
			n = ism_stream_send(s, big + sent, sizeof(big) - sent,
					    ISM_F_DONTWAIT);
			assert_true(n > 0 || n == -EAGAIN);
			if (n > 0)
				sent += (size_t)n;
		}
		n = ism_stream_recv(a, in + got, sizeof(in) - got,
				    ISM_F_DONTWAIT);
		assert_true(n > 0 || n == -EAGAIN);
		if (n > 0)
			got += (size_t)n;
		else
			assert_true(poll(p, 2, 5000) > 0);
	}
	assert_memory_equal(in, big, sizeof(big));
	/* Client half-closes: server reads EOF, can still answer. */
	assert_int_equal(ism_stream_shutdown(s, SHUT_WR), 0);
	assert_int_equal(ism_stream_send(s, "x", 1, 0), -EPIPE);
	assert_int_equal(ism_stream_recv(a, buf, sizeof(buf), 0), 0);
	assert_int_equal(ism_stream_send(a, "late", 4, 0), 4);
	assert_int_equal(ism_stream_recv(s, buf, 4, ISM_F_WAITALL), 4);
	assert_memory_equal(buf, "late", 4);
	r = ism_stream_close(a);
	assert_int_equal(r, 0);
	assert_int_equal(ism_stream_recv(s, buf, sizeof(buf), 0), 0);
	ism_stream_close(s);
	/* Both ends on one ism_conn cannot share (a peer cannot attach its
	 * own region): TCP, and both sides say why. */
	{
		struct server sv;
		int reason;

		server_start(&sv, l, echo_fn);
		assert_int_equal(
			ism_stream_connect(c, "127.0.0.1", port, &o, &s), 0);
		assert_int_equal(ism_stream_path(s, &reason), ISM_STREAM_TCP);
		assert_int_equal(reason, ISM_SR_SAME_CONN);
		assert_int_equal(ism_stream_send(s, "same", 4, 0), 4);
		assert_int_equal(ism_stream_recv(s, buf, 4, ISM_F_WAITALL), 4);
		ism_stream_close(s);
		assert_int_equal(server_join(&sv), 0);
		assert_int_equal(sv.reason, ISM_SR_SAME_CONN);
	}
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

/* A client connecting from a thread (connect blocks until the server's
 * confirm, which a DONTWAIT accept leaves to the stream's first call). */
struct connector {
	struct ism_conn *c;
	const char *port;
	struct ism_stream_opts o;
	struct ism_stream *s;
	int r;
	pthread_t th;
};

static void *connector_main(void *arg)
{
	struct connector *k = arg;

	k->r = ism_stream_connect(k->c, "127.0.0.1", k->port, &k->o, &k->s);
	return NULL;
}

/* Wait for @s's fd, then receive @n bytes without blocking. */
static void poll_recv(struct ism_stream *s, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r =
			ism_stream_recv(s, buf + got, n - got, ISM_F_DONTWAIT);
		struct pollfd p = { ism_stream_fd(s), POLLIN, 0 };

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		assert_int_equal(r, -EAGAIN);
		assert_int_equal(poll(&p, 1, 5000), 1);
	}
}

/* Non-blocking on both paths: a DONTWAIT accept of a claimed connection
 * finishes its handshake in the first call once the fd says so; on TCP
 * the fd follows the socket. */
static void test_nonblocking_paths(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "nb-srv", 0);
	struct ism_conn *d = t_connect(&t_group, "nb-cli", 0);
	struct ism_stream_listener *l;
	struct connector k = { .c = d, .o = sopts(0, 0) };
	struct ism_stream *a;
	char port[16], buf[8];
	int path;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &k.o, &l), 0);
	k.port = port_str(ism_stream_listener_port(l), port);
	for (int tcp = 0; tcp < 2; tcp++) {
		struct pollfd lp = { ism_stream_listener_fd(l), POLLIN, 0 };

		k.o.flags = tcp ? ISM_STREAM_TCP_ONLY : 0;
		assert_int_equal(
			pthread_create(&k.th, NULL, connector_main, &k), 0);
		assert_int_equal(poll(&lp, 1, 5000), 1);
		assert_int_equal(ism_stream_accept(l, &a, ISM_F_DONTWAIT), 0);
		path = ism_stream_path(a, NULL);
		assert_int_equal(path,
				 tcp ? ISM_STREAM_TCP : ISM_STREAM_PENDING);
		/* The handshake completes in the first calls, as the fd
		 * wakes us. */
		if (!tcp) {
			struct pollfd p = { ism_stream_fd(a), POLLIN, 0 };

			while (ism_stream_path(a, NULL) == ISM_STREAM_PENDING) {
				ssize_t r = ism_stream_recv(a, buf, 1,
							    ISM_F_DONTWAIT);

				assert_int_equal(r, -EAGAIN);
				if (ism_stream_path(a, NULL) ==
				    ISM_STREAM_PENDING)
					assert_int_equal(poll(&p, 1, 5000), 1);
			}
		}
		pthread_join(k.th, NULL);
		assert_int_equal(k.r, 0);
		assert_int_equal(ism_stream_path(a, NULL),
				 tcp ? ISM_STREAM_TCP : ISM_STREAM_SHM);
		assert_int_equal(ism_stream_path(k.s, NULL),
				 ism_stream_path(a, NULL));
		assert_int_equal(ism_stream_send(k.s, "nonblock", 8, 0), 8);
		poll_recv(a, buf, 8);
		assert_memory_equal(buf, "nonblock", 8);
		ism_stream_close(k.s);
		assert_int_equal(ism_stream_recv(a, buf, 1, 0), 0);
		ism_stream_close(a);
	}
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

/* An event loop's receives (ISM_F_NOARM): a receive that finds nothing
 * arms nothing, so the other side's send wakes nobody; the loop looks
 * (ism_stream_rx_ready()) or arms (ism_stream_arm()) before it sleeps,
 * and an armed stream wakes it as before. */
static void test_noarm_event_loop(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "na-srv", 0);
	struct ism_conn *d = t_connect(&t_group, "na-cli", 0);
	struct ism_stream_listener *l;
	struct connector k = { .c = d, .o = sopts(0, 0) };
	struct ism_stream *a;
	const int F = ISM_F_DONTWAIT | ISM_F_NOARM;
	char port[16], buf[8];

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &k.o, &l), 0);
	k.port = port_str(ism_stream_listener_port(l), port);
	for (int tcp = 0; tcp < 2; tcp++) {
		struct pollfd p;

		k.o.flags = tcp ? ISM_STREAM_TCP_ONLY : 0;
		assert_int_equal(
			pthread_create(&k.th, NULL, connector_main, &k), 0);
		assert_int_equal(ism_stream_accept(l, &a, 0), 0);
		pthread_join(k.th, NULL);
		assert_int_equal(k.r, 0);
		/* The server's handshake ends in its first call. */
		assert_int_equal(ism_stream_send(a, "h", 1, 0), 1);
		assert_int_equal(ism_stream_recv(k.s, buf, 1, 0), 1);
		p = (struct pollfd){ ism_stream_fd(a), POLLIN, 0 };
		if (tcp) {
			/* The fd follows the socket: nothing to arm. */
			assert_int_equal(ism_stream_path(a, NULL),
					 ISM_STREAM_TCP);
			assert_int_equal(ism_stream_recv(a, buf, 1, F),
					 -EAGAIN);
			assert_int_equal(ism_stream_arm(a), 0);
			assert_int_equal(ism_stream_disarm(a), 0);
			assert_int_equal(ism_stream_rx_ready(a), 0);
			assert_int_equal(ism_stream_send(k.s, "t", 1, 0), 1);
			assert_int_equal(poll(&p, 1, 5000), 1);
			assert_int_equal(ism_stream_recv(a, buf, 1, F), 1);
		} else {
			assert_int_equal(ism_stream_path(a, NULL),
					 ISM_STREAM_SHM);
			assert_int_equal(ism_stream_recv(a, buf, 1, F),
					 -EAGAIN);
			assert_int_equal(ism_stream_rx_ready(a), 0);
			/* Unarmed: the send wakes nobody... */
			assert_int_equal(ism_stream_send(k.s, "x", 1, 0), 1);
			assert_int_equal(poll(&p, 1, 100), 0);
			/* ... and a look or an arm finds the byte. */
			assert_int_equal(ism_stream_rx_ready(a), 1);
			assert_int_equal(ism_stream_arm(a), 1);
			assert_int_equal(ism_stream_recv(a, buf, 8, F), 1);
			assert_int_equal(buf[0], 'x');
			assert_int_equal(ism_stream_recv(a, buf, 8, F),
					 -EAGAIN);
			/* Armed, a send wakes the fd as after a plain
			 * -EAGAIN. */
			assert_int_equal(ism_stream_arm(a), 0);
			assert_int_equal(ism_stream_arm(a), 0);
			assert_int_equal(ism_stream_send(k.s, "y", 1, 0), 1);
			assert_int_equal(poll(&p, 1, 5000), 1);
			assert_int_equal(ism_stream_recv(a, buf, 8, F), 1);
			assert_int_equal(buf[0], 'y');
			/* Disarmed again (awake for something else), a
			 * send wakes nobody; what came is still found. */
			assert_int_equal(ism_stream_recv(a, buf, 8, F),
					 -EAGAIN);
			assert_int_equal(ism_stream_arm(a), 0);
			assert_int_equal(ism_stream_disarm(a), 0);
			assert_int_equal(ism_stream_disarm(a), 0);
			assert_int_equal(ism_stream_send(k.s, "z", 1, 0), 1);
			assert_int_equal(poll(&p, 1, 100), 0);
			assert_int_equal(ism_stream_disarm(a), 1);
			assert_int_equal(ism_stream_recv(a, buf, 8, F), 1);
			assert_int_equal(buf[0], 'z');
			/* Kicks that come just before a disarm are left in
			 * the link, and emptied in a while: many rounds,
			 * then an armed stream still wakes. */
			for (int i = 0; i < 300; i++) {
				assert_int_equal(ism_stream_recv(a, buf, 8, F),
						 -EAGAIN);
				assert_int_equal(ism_stream_arm(a), 0);
				assert_int_equal(
					ism_stream_send(k.s, "r", 1, 0), 1);
				assert_int_equal(ism_stream_disarm(a), 1);
				assert_int_equal(ism_stream_recv(a, buf, 8, F),
						 1);
			}
			assert_int_equal(ism_stream_recv(a, buf, 8, F),
					 -EAGAIN);
			assert_int_equal(ism_stream_arm(a), 0);
			assert_int_equal(ism_stream_send(k.s, "w", 1, 0), 1);
			assert_int_equal(poll(&p, 1, 5000), 1);
			assert_int_equal(ism_stream_recv(a, buf, 8, F), 1);
			assert_int_equal(buf[0], 'w');
			/* The other side's end is something to receive. */
			assert_int_equal(ism_stream_recv(a, buf, 8, F),
					 -EAGAIN);
			assert_int_equal(ism_stream_shutdown(k.s, SHUT_WR), 0);
			assert_int_equal(ism_stream_rx_ready(a), 1);
			assert_int_equal(ism_stream_arm(a), 1);
		}
		ism_stream_close(k.s);
		assert_int_equal(ism_stream_recv(a, buf, 1, 0), 0);
		assert_int_equal(ism_stream_arm(a), tcp ? 0 : 1);
		ism_stream_close(a);
	}
	assert_int_equal(ism_stream_arm(NULL), -EINVAL);
	assert_int_equal(ism_stream_disarm(NULL), -EINVAL);
	assert_int_equal(ism_stream_rx_ready(NULL), -EINVAL);
	ism_stream_listener_close(l);
	ism_conn_close(c);
	ism_conn_close(d);
}

/* ---- crashes ---- */

struct child_arg {
	const char *sock;
	char port[16];
	bool tcp_only;
};

/* Connect and send the pattern forever (until killed). */
static int sender_child(void *arg)
{
	struct child_arg *ca = arg;
	struct ism_stream_opts o = sopts(64 * 1024, 0);
	struct ism_conn *c = NULL;
	struct ism_stream *s;
	static uint8_t buf[100000];
	struct pattern p = { 0 };

	if (ca->tcp_only)
		o.flags = ISM_STREAM_TCP_ONLY;
	if (ism_conn_open(ca->sock, NULL, &c) < 0 ||
	    ism_stream_connect(c, "127.0.0.1", ca->port, &o, &s) < 0)
		return 2;
	for (uint64_t i = 0;; i++) {
		size_t n = 1 + (size_t)((i * 2654435761u) % sizeof(buf));

		pat_fill(&p, buf, n);
		if (ism_stream_send(s, buf, n, 0) != (ssize_t)n)
			return 3;
	}
}

static void test_peer_killed_at_random(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "victim-srv", 0);
	struct ism_stream_opts o = sopts(64 * 1024, 0);
	struct ism_stream_listener *l;
	struct child_arg ca = { .sock = t_group.sock };

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), ca.port);
	for (int round = 0; round < 8; round++) {
		static uint8_t buf[65536];
		struct pattern p = { 0 };
		struct ism_stream *a;
		ssize_t n;
		pid_t pid;

		ca.tcp_only = round % 4 == 3;
		pid = t_fork(sender_child, &ca);
		/* Kill before, during or after the handshake, or mid-flow. */
		if (round % 4 == 0)
			usleep((useconds_t)(rnd() % 2000));
		else
			assert_int_equal(ism_stream_accept(l, &a, 0), 0);
		if (round % 4 != 0) {
			usleep((useconds_t)(rnd() % 30000));
			t_kill(pid, SIGKILL);
			for (;;) {
				n = ism_stream_recv(a, buf, sizeof(buf), 0);
				if (n <= 0)
					break;
				/* Every byte that arrives is the right one. */
				assert_int_equal(pat_check(&p, buf, (size_t)n),
						 -1);
			}
			/* A dead TCP peer's kernel sends FIN: EOF. */
			if (ca.tcp_only)
				assert_true(n == 0 || n == -ECONNRESET);
			else
				assert_int_equal(n, -ECONNRESET);
			ism_stream_close(a);
		} else {
			t_kill(pid, SIGKILL);
		}
		assert_int_equal(t_wait(pid), 128 + SIGKILL);
		/* A connection the dead child left in the backlog: accepted
		 * now, it is on TCP (its intent died with it) and at EOF -
		 * or, when ismd matched it before it saw the child die (a
		 * loaded machine), its handshake finds the client gone.
		 * Either way not one byte comes out of it. */
		for (;;) {
			struct ism_stream *x;
			int reason, path;

			if (ism_stream_accept(l, &x, ISM_F_DONTWAIT) < 0)
				break;
			path = ism_stream_path(x, &reason);
			if (path == ISM_STREAM_PENDING) {
				n = ism_stream_recv(x, buf, sizeof(buf), 0);
				assert_true(n <= 0);
			} else {
				assert_int_equal(path, ISM_STREAM_TCP);
				assert_int_equal(reason, ISM_SR_PEER_NOT_ISM);
			}
			ism_stream_close(x);
		}
	}
	/* Anything half-done is abandoned; the listener still works. */
	{
		struct server sv;
		struct ism_stream *s;

		for (;;) {
			struct ism_stream *a;
			int r = ism_stream_accept(l, &a, ISM_F_DONTWAIT);

			if (r < 0)
				break;
			ism_stream_close(a);
		}
		struct ism_conn *d = t_connect(&t_group, "after-kills", 0);

		server_start(&sv, l, echo_fn);
		assert_int_equal(
			ism_stream_connect(d, "127.0.0.1", ca.port, &o, &s), 0);
		assert_int_equal(ism_stream_path(s, NULL), ISM_STREAM_SHM);
		ism_stream_close(s);
		assert_int_equal(server_join(&sv), 0);
		ism_conn_close(d);
	}
	assert_true(t_daemon_alive(&t_group));
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

/* Our side sends; the receiver dies: the sender learns it. */
static int sleeper_child(void *arg)
{
	struct child_arg *ca = arg;
	struct ism_stream_opts o = sopts(64 * 1024, 0);
	struct ism_conn *c = NULL;
	struct ism_stream *s;

	if (ism_conn_open(ca->sock, NULL, &c) < 0 ||
	    ism_stream_connect(c, "127.0.0.1", ca->port, &o, &s) < 0)
		return 2;
	pause();
	return 0;
}

static void test_receiver_killed(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "sender-srv", 0);
	struct ism_stream_opts o = sopts(64 * 1024, 0);
	struct ism_stream_listener *l;
	struct child_arg ca = { .sock = t_group.sock };
	static uint8_t buf[65536];
	struct ism_stream *a;
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), ca.port);
	pid = t_fork(sleeper_child, &ca);
	assert_int_equal(ism_stream_accept(l, &a, 0), 0);
	assert_int_equal(ism_stream_path(a, NULL), ISM_STREAM_SHM);
	/* Part-fill its ring, then kill it; we block for room until we
	 * learn it died. */
	assert_int_equal(ism_stream_send(a, buf, 16384, 0), 16384);
	t_kill(pid, SIGKILL);
	do
		n = ism_stream_send(a, buf, sizeof(buf), 0);
	while (n > 0);
	assert_int_equal(n, -ECONNRESET);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	ism_stream_close(a);
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

/* ismd killed under live streams: those on shared memory keep working,
 * new ones fall back to TCP at once, with the reason. */
static void test_ismd_killed(void **state)
{
	struct ism_private d;
	struct ism_conn *c, *e;
	struct ism_conn_opts co = { .size = sizeof(co),
				    .flags = ISM_CONN_RECONNECT,
				    .reconnect_ms = 60000 };
	struct ism_stream_opts o = sopts(0, 0);
	struct ism_stream_listener *l;
	struct ism_stream *s, *s2;
	struct server sv, sv2;
	char port[16], buf[16];
	int reason;

	(void)state;
	assert_int_equal(t_daemon_start(&d, NULL), 0);
	c = t_connect(&d, "srv", 0);
	assert_int_equal(ism_conn_open(d.sock, &co, &e), 0);
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), port);
	server_start(&sv, l, echo_fn);
	assert_int_equal(ism_stream_connect(e, "127.0.0.1", port, &o, &s), 0);
	assert_int_equal(ism_stream_path(s, NULL), ISM_STREAM_SHM);
	t_daemon_kill9(&d);
	/* The live stream goes on. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ism_stream_send(s, "ping", 4, 0), 4);
		assert_int_equal(ism_stream_recv(s, buf, 4, ISM_F_WAITALL), 4);
		assert_memory_equal(buf, "ping", 4);
	}
	/* A new one falls back, though @e would reconnect for a minute. */
	server_start(&sv2, l, echo_fn);
	assert_int_equal(ism_stream_connect(e, "127.0.0.1", port, &o, &s2), 0);
	assert_int_equal(ism_stream_path(s2, &reason), ISM_STREAM_TCP);
	assert_int_equal(reason, ISM_SR_NO_ISMD);
	assert_int_equal(ism_stream_send(s2, "tcp", 3, 0), 3);
	assert_int_equal(ism_stream_recv(s2, buf, 3, ISM_F_WAITALL), 3);
	ism_stream_close(s2);
	assert_int_equal(server_join(&sv2), 0);
	assert_int_equal(sv2.reason, ISM_SR_NO_ISMD);
	ism_stream_close(s);
	assert_int_equal(server_join(&sv), 0);
	ism_stream_listener_close(l);
	ism_conn_close(e);
	ism_conn_close(c);
	/* Killed on purpose: the cleanup only removes its directory. */
	assert_int_equal(t_daemon_cleanup(&d), 0);
}

/* ---- many connections ---- */

#define MANY 1000

struct many_arg {
	const char *sock;
	char port[16];
};

static int many_client(void *arg)
{
	struct many_arg *ma = arg;
	struct ism_stream_opts o = sopts(4096, 0);
	static struct ism_stream *s[MANY];
	struct ism_conn *c;

	o.spin_us = ISM_CHAN_NO_SPIN;
	if (ism_conn_open(ma->sock, NULL, &c) < 0)
		return 2;
	for (int i = 0; i < MANY; i++)
		if (ism_stream_connect(c, "127.0.0.1", ma->port, &o, &s[i]) <
			    0 ||
		    ism_stream_path(s[i], NULL) != ISM_STREAM_SHM)
			return 3;
	for (int i = 0; i < MANY; i++)
		if (ism_stream_send(s[i], &i, sizeof(i), 0) != sizeof(i))
			return 4;
	for (int i = 0; i < MANY; i++) {
		int v = -1;

		if (ism_stream_recv(s[i], &v, sizeof(v), ISM_F_WAITALL) !=
			    sizeof(v) ||
		    v != i * 3)
			return 5;
	}
	for (int i = 0; i < MANY; i++)
		ism_stream_close(s[i]);
	ism_conn_close(c);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void test_many_connections(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "many-srv", 0);
	struct ism_stream_opts o = sopts(4096, 0);
	static struct ism_stream *a[MANY];
	struct ism_stream_listener *l;
	struct many_arg ma = { .sock = t_group.sock };
	struct ism_stream_info *e;
	uint64_t next = 0;
	size_t listed = 0;
	pid_t pid;

	(void)state;
	raise_nofile();
	o.spin_us = ISM_CHAN_NO_SPIN;
	assert_int_equal(ism_stream_listen(c, "127.0.0.1", "0", &o, &l), 0);
	port_str(ism_stream_listener_port(l), ma.port);
	pid = t_fork(many_client, &ma);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(ism_stream_accept(l, &a[i], 0), 0);
		assert_int_equal(ism_stream_path(a[i], NULL), ISM_STREAM_SHM);
	}
	/* All 2000 ends (and the listener) are ismd's records. */
	e = calloc(256, sizeof(*e));
	do {
		int n = ism_admin_list_streams(c, next, e, 256, &next);

		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			listed += e[i].path == ISM_STREAM_SHM;
	} while (next);
	free(e);
	assert_true(listed >= MANY); /* ours; the client's as partners */
	for (int i = 0; i < MANY; i++) {
		int v = -1;

		assert_int_equal(
			ism_stream_recv(a[i], &v, sizeof(v), ISM_F_WAITALL),
			sizeof(v));
		assert_int_equal(v, i);
		v *= 3;
		assert_int_equal(ism_stream_send(a[i], &v, sizeof(v), 0),
				 sizeof(v));
	}
	assert_int_equal(t_wait(pid), 0);
	for (int i = 0; i < MANY; i++) {
		char b;

		assert_int_equal(ism_stream_recv(a[i], &b, 1, 0), 0);
		ism_stream_close(a[i]);
	}
	ism_stream_listener_close(l);
	ism_conn_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_path_echo),
		cmocka_unit_test(test_bypass_is_an_error),
		cmocka_unit_test(test_plain_server),
		cmocka_unit_test(test_plain_client),
		cmocka_unit_test(test_unclaimed_times_out),
		cmocka_unit_test(test_no_ismd_and_disabled),
		cmocka_unit_test(test_half_close_and_poll),
		cmocka_unit_test(test_nonblocking_paths),
		cmocka_unit_test(test_noarm_event_loop),
		cmocka_unit_test(test_bulk_shm),
		cmocka_unit_test(test_bulk_tcp),
		cmocka_unit_test(test_peer_killed_at_random),
		cmocka_unit_test(test_receiver_killed),
		cmocka_unit_test(test_ismd_killed),
		cmocka_unit_test(test_many_connections),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
