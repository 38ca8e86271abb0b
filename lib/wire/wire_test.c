/* SPDX-License-Identifier: MIT */
#include "wire.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void test_rbuf(void **state)
{
	static const uint8_t data[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	struct ism_rbuf b;
	uint8_t tmp[4];

	(void)state;
	ism_rbuf_init(&b, data, sizeof(data));
	assert_int_equal(ism_rbuf_u8(&b), 1);
	assert_int_equal(ism_rbuf_le16(&b), 0x0302);
	assert_int_equal(ism_rbuf_le64(&b), 0x0b0a090807060504ull);
	assert_int_equal(ism_rbuf_end(&b), 0);
	/* A read past the end: sticky error, zeros, nothing consumed twice. */
	assert_int_equal(ism_rbuf_le32(&b), 0);
	assert_int_equal(b.err, -EBADMSG);
	ism_rbuf_bytes(&b, tmp, sizeof(tmp));
	assert_int_equal(tmp[0] | tmp[3], 0);
	assert_int_equal(ism_rbuf_end(&b), -EBADMSG);
	/* Leftover bytes are an error too. */
	ism_rbuf_init(&b, data, sizeof(data));
	ism_rbuf_le32(&b);
	assert_int_equal(ism_rbuf_end(&b), -EBADMSG);
	assert_int_equal(ism_rbuf_left(&b), 7);
}

static void test_strings(void **state)
{
	uint8_t buf[300];
	char s[64];
	struct ism_wbuf w;
	struct ism_rbuf r;

	(void)state;
	ism_wbuf_init(&w, buf, sizeof(buf));
	ism_wbuf_str(&w, "peer-1");
	ism_wbuf_str(&w, NULL);
	ism_rbuf_init(&r, buf, w.len);
	ism_rbuf_str(&r, s, sizeof(s), 63);
	assert_string_equal(s, "peer-1");
	ism_rbuf_str(&r, s, sizeof(s), 63);
	assert_string_equal(s, "");
	assert_int_equal(ism_rbuf_end(&r), 0);

	/* Too long for the limit. */
	ism_wbuf_init(&w, buf, sizeof(buf));
	ism_wbuf_str(&w, "0123456789");
	ism_rbuf_init(&r, buf, w.len);
	ism_rbuf_str(&r, s, sizeof(s), 5);
	assert_int_equal(r.err, -EINVAL);
	/* A length that runs past the buffer. */
	buf[0] = 200;
	buf[1] = 0;
	ism_rbuf_init(&r, buf, 12);
	ism_rbuf_str(&r, s, sizeof(s), 250);
	assert_int_not_equal(r.err, 0);
	/* Control characters are refused. */
	ism_wbuf_init(&w, buf, sizeof(buf));
	ism_wbuf_str(&w, "a\tb");
	ism_rbuf_init(&r, buf, w.len);
	ism_rbuf_str(&r, s, sizeof(s), 63);
	assert_int_equal(r.err, -EINVAL);
}

static void test_wbuf_overflow(void **state)
{
	uint8_t buf[6];
	struct ism_wbuf w;

	(void)state;
	ism_wbuf_init(&w, buf, sizeof(buf));
	ism_wbuf_le32(&w, 1);
	assert_int_equal(w.err, 0);
	ism_wbuf_le32(&w, 2);
	assert_int_equal(w.err, -EMSGSIZE);
	assert_int_equal(w.len, 4);
	ism_wbuf_u8(&w, 3); /* sticky: nothing more is written */
	assert_int_equal(w.len, 4);
}

static void test_header(void **state)
{
	/* Golden bytes: type 0x0102, flags REPLY, seq 7, len 16, status 13. */
	/* clang-format off */
	static const uint8_t gold[16] = { 0x02, 0x01, 0x01, 0x00, 0x07, 0, 0, 0,
					  0x10, 0, 0, 0, 0x0d, 0, 0, 0 };
	/* clang-format on */
	struct ism_wire_hdr h = { 0x0102, ISM_WIRE_F_REPLY, 7, 16, 13 }, g;
	uint8_t buf[16];
	struct ism_wbuf w;
	struct ism_rbuf r;

	(void)state;
	ism_wbuf_init(&w, buf, sizeof(buf));
	ism_wire_hdr_put(&w, &h);
	assert_memory_equal(buf, gold, 16);
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 16, &g), 0);
	assert_int_equal(g.type, 0x0102);
	assert_int_equal(g.seq, 7);
	assert_int_equal(g.status, 13);
	/* Length must match the packet. */
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 17, &g), -EBADMSG);
	/* Unknown flag. */
	buf[3] = 0x80;
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 16, &g), -EBADMSG);
	/* REPLY and EVENT together. */
	buf[2] = 3;
	buf[3] = 0;
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 16, &g), -EBADMSG);
	/* NOREPLY with REPLY. */
	buf[2] = ISM_WIRE_F_NOREPLY | ISM_WIRE_F_REPLY;
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 16, &g), -EBADMSG);
	buf[2] = ISM_WIRE_F_NOREPLY;
	ism_rbuf_init(&r, buf, 16);
	assert_int_equal(ism_wire_hdr_get(&r, 16, &g), 0);
	/* Short. */
	ism_rbuf_init(&r, buf, 15);
	assert_int_equal(ism_wire_hdr_get(&r, 15, &g), -EBADMSG);
}

static void pair(int sv[2])
{
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_fds_roundtrip(void **state)
{
	static uint8_t buf[ISM_WIRE_MAX_MSG];
	int sv[2], fds[ISM_WIRE_MAX_FDS], e1 = eventfd(0, EFD_CLOEXEC);
	unsigned n;
	ssize_t r;
	int flags;

	(void)state;
	pair(sv);
	assert_int_equal(ism_wire_send(sv[0], "hello", 5, &e1, 1, 0), 0);
	r = ism_wire_recv(sv[1], buf, sizeof(buf), fds, &n, 0);
	assert_int_equal(r, 5);
	assert_int_equal(n, 1);
	assert_memory_equal(buf, "hello", 5);
	flags = fcntl(fds[0], F_GETFD);
	assert_true(flags & FD_CLOEXEC); /* MSG_CMSG_CLOEXEC */
	close(fds[0]);
	close(e1);
	/* Orderly EOF. */
	close(sv[0]);
	assert_int_equal(ism_wire_recv(sv[1], buf, sizeof(buf), fds, &n, 0), 0);
	close(sv[1]);
}

static void test_too_many_fds(void **state)
{
	static uint8_t buf[ISM_WIRE_MAX_MSG];
	int sv[2], fds[ISM_WIRE_MAX_FDS], many[ISM_WIRE_MAX_FDS + 8];
	struct msghdr msg = { 0 };
	char ctl[CMSG_SPACE(sizeof(many))];
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct cmsghdr *c;
	unsigned n = 99;
	int before;

	(void)state;
	pair(sv);
	for (size_t i = 0; i < ISM_ARRAY_SIZE(many); i++)
		many[i] = eventfd(0, EFD_CLOEXEC);
	/* Sent by hand: ism_wire_send refuses this many. */
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(many));
	memcpy(CMSG_DATA(c), many, sizeof(many));
	assert_int_equal(sendmsg(sv[0], &msg, 0), 1);
	assert_int_equal(
		ism_wire_send(sv[0], "x", 1, many, ISM_WIRE_MAX_FDS + 1, 0),
		-EINVAL);
	for (size_t i = 0; i < ISM_ARRAY_SIZE(many); i++)
		close(many[i]);
	before = count_fds();
	assert_int_equal(ism_wire_recv(sv[1], buf, sizeof(buf), fds, &n, 0),
			 -EBADMSG);
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before); /* every received fd closed */
	close(sv[0]);
	close(sv[1]);
}

/* A raw packet of @len bytes carrying @fd, bypassing ism_wire_send(). */
static ssize_t send_with_fd(int sock, const void *p, size_t len, int fd)
{
	struct iovec iov = { (void *)p, len };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0);
}

static void test_truncated(void **state)
{
	static uint8_t big[ISM_WIRE_MAX_MSG + 100], buf[64];
	int sv[2], fds[ISM_WIRE_MAX_FDS], e = eventfd(0, EFD_CLOEXEC), before;
	unsigned n = 99;
	int sz = 1 << 20;

	(void)state;
	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* A packet bigger than the receiver's buffer, with an fd. */
	assert_int_equal(send_with_fd(sv[0], big, sizeof(big), e),
			 (ssize_t)sizeof(big));
	close(e);
	before = count_fds();
	assert_int_equal(ism_wire_recv(sv[1], buf, sizeof(buf), fds, &n, 0),
			 -EMSGSIZE);
	assert_int_equal(n, 0);
	assert_int_equal(count_fds(), before);
	/* An empty packet carrying an fd is not a message either. */
	e = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(send_with_fd(sv[0], big, 0, e), 0);
	close(e);
	before = count_fds();
	assert_int_equal(ism_wire_recv(sv[1], buf, sizeof(buf), fds, &n, 0),
			 -EBADMSG);
	assert_int_equal(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbuf),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_wbuf_overflow),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_fds_roundtrip),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
