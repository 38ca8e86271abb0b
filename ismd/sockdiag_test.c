/* SPDX-License-Identifier: MIT */
/*
 * sockdiag against the running kernel: a listener is the one that would
 * accept until it is closed; an IPV6_V6ONLY wildcard takes no IPv4, a
 * dual-stack one does; of two listeners on a port only the kernel's pick
 * says yes (the more specific bind, one member of a SO_REUSEPORT group).
 * And the reply decoder's refusals, on crafted datagrams.
 */
#include "sockdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#define LISTEN_REUSEPORT 1
#define LISTEN_V6ONLY	 2
#define LISTEN_DUAL	 4

static void addr(struct sockaddr_storage *ss, socklen_t *len, const char *ip,
		 uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
		*len = sizeof(*a);
	}
}

/* A TCP socket bound to @ip:@port (0: any), listening unless @bind_only;
 * *@port gets the port.  -1 if the bind fails (no IPv6, say). */
static int tcp_socket(const char *ip, uint16_t *port, unsigned flags,
		      bool bind_only)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1, off = 0;

	addr(&ss, &len, ip, *port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (flags & LISTEN_REUSEPORT)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
					    sizeof(on)),
				 0);
	if (flags & (LISTEN_V6ONLY | LISTEN_DUAL))
		assert_int_equal(
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				   (flags & LISTEN_V6ONLY) ? &on : &off,
				   sizeof(on)),
			0);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (!bind_only && listen(fd, 4) < 0)) {
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(ss.ss_family == AF_INET
			      ? ((struct sockaddr_in *)&ss)->sin_port
			      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int listener(const char *ip, uint16_t *port, unsigned flags)
{
	int fd = tcp_socket(ip, port, flags, false);

	assert_true(fd >= 0);
	return fd;
}

/* Would @fd accept a connection to @ip:@port?  Skips the test where the
 * kernel has no sock_diag for us (not built in, or a sandbox's refusal). */
static int ask(int fd, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int r;

	addr(&ss, &len, ip, port);
	r = sockdiag_would_accept((struct sockaddr *)&ss, len,
				  sockdiag_cookie(fd));
	if (r == -EPROTONOSUPPORT || r == -EPERM || r == -EACCES)
		skip();
	return r;
}

static bool have_ipv6(void)
{
	uint16_t port = 0;
	int fd = tcp_socket("::1", &port, 0, true);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_one_listener(void **state)
{
	uint16_t port = 0, other_port = 0;
	int fd, other;
	uint64_t cookie;

	(void)state;
	fd = listener("127.0.0.1", &port, 0);
	cookie = sockdiag_cookie(fd);
	assert_int_not_equal(cookie, 0);
	assert_int_equal(ask(fd, "127.0.0.1", port), 1);
	/* The same connection named as IPv4-mapped IPv6. */
	assert_int_equal(ask(fd, "::ffff:127.0.0.1", port), 1);
	/* Another local address, another port: not this socket. */
	assert_int_equal(ask(fd, "127.0.0.2", port), 0);
	other = listener("127.0.0.1", &other_port, 0);
	assert_int_not_equal(sockdiag_cookie(other), cookie);
	assert_int_equal(ask(fd, "127.0.0.1", other_port), 0);
	/* The other listener's port is the other's, not ours. */
	assert_int_equal(ask(other, "127.0.0.1", other_port), 1);
	close(other);
	/* Closed: nobody would accept, whatever a record says. */
	close(fd);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(
		sockdiag_would_accept((struct sockaddr *)&a, sizeof(a), cookie),
		0);
}

static void test_bound_not_listening(void **state)
{
	uint16_t port = 0;
	int fd = tcp_socket("127.0.0.1", &port, 0, true);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ask(fd, "127.0.0.1", port), 0);
	close(fd);
}

static void test_v6only(void **state)
{
	uint16_t port = 0;
	int fd;

	(void)state;
	if (!have_ipv6())
		skip();
	fd = listener("::", &port, LISTEN_V6ONLY);
	/* An IPv4 client would find no listener at all. */
	assert_int_equal(ask(fd, "127.0.0.1", port), 0);
	assert_int_equal(ask(fd, "::ffff:127.0.0.1", port), 0);
	assert_int_equal(ask(fd, "::1", port), 1);
	close(fd);
}

static void test_dual_stack(void **state)
{
	uint16_t port = 0;
	int fd;

	(void)state;
	if (!have_ipv6())
		skip();
	fd = listener("::", &port, LISTEN_DUAL);
	assert_int_equal(ask(fd, "127.0.0.1", port), 1);
	assert_int_equal(ask(fd, "::ffff:127.0.0.1", port), 1);
	assert_int_equal(ask(fd, "::1", port), 1);
	close(fd);
}

/* 0.0.0.0:P and 127.0.0.1:P (both listening needs SO_REUSEPORT on
 * Linux): the exact address wins where it applies. */
static void test_more_specific(void **state)
{
	uint16_t port = 0;
	int any, lo;

	(void)state;
	any = listener("0.0.0.0", &port, LISTEN_REUSEPORT);
	lo = listener("127.0.0.1", &port, LISTEN_REUSEPORT);
	assert_int_equal(ask(lo, "127.0.0.1", port), 1);
	assert_int_equal(ask(any, "127.0.0.1", port), 0);
	assert_int_equal(ask(any, "127.0.0.2", port), 1);
	assert_int_equal(ask(lo, "127.0.0.2", port), 0);
	/* Gone: the wildcard takes its connections again. */
	close(lo);
	assert_int_equal(ask(any, "127.0.0.1", port), 1);
	close(any);
}

/* An IPv4 wildcard and a V6ONLY wildcard share a port: one per family. */
static void test_split_families(void **state)
{
	uint16_t port = 0;
	int v4, v6;

	(void)state;
	if (!have_ipv6())
		skip();
	v4 = listener("0.0.0.0", &port, 0);
	v6 = listener("::", &port, LISTEN_V6ONLY);
	assert_int_equal(ask(v4, "127.0.0.1", port), 1);
	assert_int_equal(ask(v6, "127.0.0.1", port), 0);
	assert_int_equal(ask(v6, "::1", port), 1);
	assert_int_equal(ask(v4, "::1", port), 0);
	close(v6);
	close(v4);
}

/* One SO_REUSEPORT group: the kernel hands a connection to one member. */
static void test_reuseport_group(void **state)
{
	uint16_t port = 0;
	int a, b, ra, rb;

	(void)state;
	a = listener("127.0.0.1", &port, LISTEN_REUSEPORT);
	b = listener("127.0.0.1", &port, LISTEN_REUSEPORT);
	ra = ask(a, "127.0.0.1", port);
	rb = ask(b, "127.0.0.1", port);
	assert_true(ra == 0 || ra == 1);
	assert_true(rb == 0 || rb == 1);
	assert_int_equal(ra + rb, 1);
	close(a);
	close(b);
}

static void test_bad_arguments(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(80),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(80) };
	struct sockaddr sa = { .sa_family = AF_UNIX };
	int fds[2];

	(void)state;
	assert_int_equal(sockdiag_cookie(-1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	/* Any socket has a cookie, distinct from every other's. */
	assert_int_not_equal(sockdiag_cookie(fds[0]), 0);
	assert_int_not_equal(sockdiag_cookie(fds[0]), sockdiag_cookie(fds[1]));
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(sockdiag_would_accept(NULL, 0, 1), -EINVAL);
	assert_int_equal(
		sockdiag_would_accept((struct sockaddr *)&a, sizeof(a) - 1, 1),
		-EINVAL);
	assert_int_equal(sockdiag_would_accept((struct sockaddr *)&a6,
					       sizeof(a6) - 1, 1),
			 -EINVAL);
	assert_int_equal(sockdiag_would_accept(&sa, sizeof(sa), 1),
			 -EAFNOSUPPORT);
	assert_int_equal(
		sockdiag_would_accept((struct sockaddr *)&a, sizeof(a), 0),
		-EINVAL);
	/* INET_DIAG_NOCOOKIE would match whatever socket is there. */
	assert_int_equal(sockdiag_would_accept((struct sockaddr *)&a, sizeof(a),
					       ~(uint64_t)0),
			 -EINVAL);
	a.sin_port = 0;
	assert_int_equal(
		sockdiag_would_accept((struct sockaddr *)&a, sizeof(a), 1),
		-EINVAL);
}

static void test_reopen(void **state)
{
	uint16_t port = 0;
	int fd;

	(void)state;
	fd = listener("127.0.0.1", &port, 0);
	assert_int_equal(ask(fd, "127.0.0.1", port), 1);
	sockdiag_close();
	sockdiag_close();
	assert_int_equal(ask(fd, "127.0.0.1", port), 1);
	close(fd);
	sockdiag_close();
}

/* A connected pair: each end is found by its own two addresses and its
 * own cookie, never by the other's, nor with the ends swapped. */
static void test_connection(void **state)
{
	uint16_t port = 0;
	int l = listener("127.0.0.1", &port, 0), c, s, r;
	struct sockaddr_in la = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in cl, sl, bad;
	socklen_t len = sizeof(cl);
	struct sockaddr sa = { .sa_family = AF_UNIX };

	(void)state;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&la, sizeof(la)), 0);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(getsockname(c, (struct sockaddr *)&cl, &len), 0);
	len = sizeof(sl);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sl, &len), 0);
#define IS(self, other, fd)                                                    \
	sockdiag_is_connection((struct sockaddr *)&(self), sizeof(self),       \
			       (struct sockaddr *)&(other), sizeof(other),     \
			       sockdiag_cookie(fd))
	r = IS(cl, sl, c);
	if (r == -EPROTONOSUPPORT || r == -EPERM || r == -EACCES)
		skip();
	assert_int_equal(r, 1);
	assert_int_equal(IS(sl, cl, s), 1);
	assert_int_equal(IS(cl, sl, s), 0);
	assert_int_equal(IS(sl, cl, c), 0);
	assert_int_equal(IS(sl, cl, l), 0);
	/* Another port at the other end: no such connection. */
	bad = sl;
	bad.sin_port = htons(port == 65535 ? 1 : port + 1);
	assert_int_equal(IS(cl, bad, c), 0);
	assert_int_equal(sockdiag_is_connection((struct sockaddr *)&cl,
						sizeof(cl), NULL, 0,
						sockdiag_cookie(c)),
			 -EINVAL);
	assert_int_equal(sockdiag_is_connection((struct sockaddr *)&cl,
						sizeof(cl), &sa, sizeof(sa),
						sockdiag_cookie(c)),
			 -EAFNOSUPPORT);
	bad.sin_port = 0;
	assert_int_equal(IS(cl, bad, c), -EINVAL);
	if (have_ipv6()) {
		struct sockaddr_in6 v6 = { .sin6_family = AF_INET6,
					   .sin6_port = htons(80),
					   .sin6_addr = IN6ADDR_LOOPBACK_INIT };

		assert_int_equal(IS(cl, v6, c), -EINVAL); /* two families */
	}
#undef IS
	/* Closed at both ends: gone (or TIME_WAIT, another socket). */
	close(c);
	close(s);
	close(l);
}

/* ---- the decoder, on crafted datagrams ---- */

#define SEQ    7u
#define COOKIE 0x1122334455667788ull

static size_t put_hdr(uint8_t *b, uint32_t len, uint16_t type, uint32_t seq)
{
	struct nlmsghdr h = { .nlmsg_len = len,
			      .nlmsg_type = type,
			      .nlmsg_seq = seq,
			      .nlmsg_pid = 1234 };

	memcpy(b, &h, sizeof(h));
	return NLMSG_HDRLEN;
}

/* An NLMSG_ERROR message with @err at @b; returns its aligned length. */
static size_t put_error(uint8_t *b, int err, uint32_t seq)
{
	struct nlmsgerr e = { .error = err };
	uint32_t len = NLMSG_LENGTH(sizeof(e));

	put_hdr(b, len, NLMSG_ERROR, seq);
	memcpy(b + NLMSG_HDRLEN, &e, sizeof(e));
	return NLMSG_ALIGN(len);
}

/* An answer naming the socket with @cookie, with @attrs attribute bytes
 * after the fixed part. */
static size_t put_sock(uint8_t *b, uint64_t cookie, uint32_t seq, size_t attrs)
{
	struct inet_diag_msg m = { .idiag_family = AF_INET, .idiag_state = 10 };
	uint32_t len = NLMSG_LENGTH(sizeof(m) + attrs);

	m.id.idiag_cookie[0] = (uint32_t)cookie;
	m.id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	put_hdr(b, len, SOCK_DIAG_BY_FAMILY, seq);
	memcpy(b + NLMSG_HDRLEN, &m, sizeof(m));
	memset(b + NLMSG_HDRLEN + sizeof(m), 0, attrs);
	return NLMSG_ALIGN(len);
}

static int parse(const uint8_t *b, size_t n)
{
	return sockdiag_parse_reply(b, n, SEQ, COOKIE);
}

static void test_parse_answers(void **state)
{
	static uint8_t b[SOCKDIAG_REPLY_MAX + 16];
	size_t n;

	(void)state;
	n = put_sock(b, COOKIE, SEQ, 52);
	assert_int_equal(parse(b, n), 1);
	/* Any alignment. */
	memmove(b + 1, b, n);
	assert_int_equal(parse(b + 1, n), 1);
	/* The last message need not be padded. */
	n = put_sock(b, COOKIE, SEQ, 3);
	assert_int_equal(parse(b, n - 1), 1);
	n = put_error(b, -ENOENT, SEQ);
	assert_int_equal(parse(b, n), 0);
	n = put_error(b, -ESTALE, SEQ);
	assert_int_equal(parse(b, n), 0);
	n = put_error(b, -EPERM, SEQ);
	assert_int_equal(parse(b, n), -EPERM);
	n = put_error(b, -EINVAL, SEQ);
	assert_int_equal(parse(b, n), -EINVAL);
	n = put_error(b, -EAGAIN, SEQ); /* not "no answer yet" */
	assert_int_equal(parse(b, n), -EBUSY);
	/* A late answer to an earlier request, then ours. */
	n = put_sock(b, COOKIE, SEQ - 1, 0);
	n += put_error(b + n, -ENOENT, SEQ);
	assert_int_equal(parse(b, n), 0);
	n = put_error(b, -ENOENT, SEQ - 1);
	assert_int_equal(parse(b, n), -EAGAIN);
	/* A no-op, then ours. */
	n = put_hdr(b, NLMSG_HDRLEN, NLMSG_NOOP, SEQ);
	n += put_sock(b + n, COOKIE, SEQ, 0);
	assert_int_equal(parse(b, n), 1);
}

static void test_parse_refusals(void **state)
{
	static uint8_t b[SOCKDIAG_REPLY_MAX + 16];
	size_t n;

	(void)state;
	assert_int_equal(parse(b, 0), -EBADMSG);
	/* Truncated: a short header, a length beyond the datagram, a
	 * payload shorter than its fixed part. */
	n = put_sock(b, COOKIE, SEQ, 0);
	assert_int_equal(parse(b, NLMSG_HDRLEN - 1), -EBADMSG);
	assert_int_equal(parse(b, n - 1), -EBADMSG);
	put_hdr(b, NLMSG_LENGTH(sizeof(struct inet_diag_msg) - 1),
		SOCK_DIAG_BY_FAMILY, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	n = put_error(b, -ENOENT, SEQ);
	put_hdr(b, NLMSG_LENGTH(3), NLMSG_ERROR, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	/* An ack (we never ask for one) and errors outside -4095..-1. */
	n = put_error(b, 0, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	n = put_error(b, 5, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	n = put_error(b, -4096, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	/* nlmsg_len shorter than a header (0 would loop forever). */
	n = put_error(b, -ENOENT, SEQ);
	put_hdr(b, 0, NLMSG_ERROR, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	put_hdr(b, NLMSG_HDRLEN - 1, NLMSG_ERROR, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	/* A length near 2^32. */
	put_hdr(b, UINT32_MAX - 2, NLMSG_ERROR, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	/* Another socket's cookie, an unknown family, an unknown type. */
	n = put_sock(b, COOKIE + 1, SEQ, 0);
	assert_int_equal(parse(b, n), -EBADMSG);
	n = put_sock(b, COOKIE, SEQ, 0);
	b[NLMSG_HDRLEN] = AF_UNIX;
	assert_int_equal(parse(b, n), -EBADMSG);
	n = put_hdr(b, NLMSG_HDRLEN, NLMSG_DONE, SEQ);
	assert_int_equal(parse(b, n), -EBADMSG);
	/* Bytes after the last message that are not a message. */
	n = put_error(b, -ENOENT, SEQ - 1);
	memset(b + n, 0, 8);
	assert_int_equal(parse(b, n + 8), -EBADMSG);
	/* Oversized. */
	n = put_sock(b, COOKIE, SEQ, 0);
	assert_int_equal(parse(b, SOCKDIAG_REPLY_MAX + 1), -EMSGSIZE);
	/* Garbage. */
	memset(b, 0xff, 256);
	assert_int_equal(parse(b, 256), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_listener),
		cmocka_unit_test(test_bound_not_listening),
		cmocka_unit_test(test_v6only),
		cmocka_unit_test(test_dual_stack),
		cmocka_unit_test(test_more_specific),
		cmocka_unit_test(test_split_families),
		cmocka_unit_test(test_reuseport_group),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_connection),
		cmocka_unit_test(test_parse_answers),
		cmocka_unit_test(test_parse_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
