/* SPDX-License-Identifier: MIT */
/*
 * vfio-user, both directions hostile, written from the spec (QEMU's
 * docs/interop/vfio-user.rst and docs/vfio-user.md) with hand-built
 * bytes.  A hostile client against ism's server: commands before
 * VERSION, bad versions and JSON, bad argsz, oversized counts, too many
 * fds, fds where none belong, unknown commands, NO_REPLY errors,
 * pipelined commands, an absurd message size, a client that never
 * reads, one that sends half a header, DMA replies that lie, commands on
 * the twin socket.  A hostile server against ism's client: bad versions,
 * inconsistent twin sockets, unexplained fds, error replies, replies to
 * nothing, looping capability chains, fds that are not memory, DMA
 * outside the windows, silence, hang-ups.  Each side must refuse cleanly
 * and stay usable (or drop that peer), never crash or hang.
 */
#include "t_daemon.h"
#include "t_proc.h"
#include "../integration/vfu_testdev.h"
#include "util/util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ---- hand-built messages ------------------------------------------------ */

struct mb {
	uint8_t b[1 << 16];
	size_t n;
};

static void p8(struct mb *m, uint8_t v)
{
	m->b[m->n++] = v;
}

static void p16(struct mb *m, uint16_t v)
{
	p8(m, (uint8_t)v);
	p8(m, (uint8_t)(v >> 8));
}

static void p32(struct mb *m, uint32_t v)
{
	p16(m, (uint16_t)v);
	p16(m, (uint16_t)(v >> 16));
}

static void p64(struct mb *m, uint64_t v)
{
	p32(m, (uint32_t)v);
	p32(m, (uint32_t)(v >> 32));
}

/* Start a message: id, command, flags; its size is patched by fin(). */
static void hdr(struct mb *m, uint16_t id, uint16_t cmd, uint32_t flags)
{
	size_t at = m->n;

	p16(m, id);
	p16(m, cmd);
	p32(m, 0);
	p32(m, flags);
	p32(m, 0);
	(void)at;
}

/* Patch the size of the message that starts at @at. */
static void fin(struct mb *m, size_t at)
{
	uint32_t n = (uint32_t)(m->n - at);

	memcpy(m->b + at + 4, &n, 4);
}

static int sendfds(int s, const void *p, size_t n, const int *fds, int nfds)
{
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	struct iovec iov = { (void *)p, n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(s, &msg, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -errno;
}

static void sendm(int s, struct mb *m)
{
	assert_int_equal(sendfds(s, m->b, m->n, NULL, 0), 0);
	m->n = 0;
}

/* Read exactly @n bytes (bounded wait); fds received are closed or
 * counted into *@nfds.  Returns 0, or -1 on EOF/timeout. */
static int readn(int s, void *p, size_t n, int *nfds)
{
	size_t got = 0;

	while (got < n) {
		union {
			struct cmsghdr a;
			char b[CMSG_SPACE(sizeof(int) * 32)];
		} ctl;
		struct iovec iov = { (uint8_t *)p + got, n - got };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = ctl.b,
				      .msg_controllen = sizeof(ctl.b) };
		struct pollfd pf = { .fd = s, .events = POLLIN };
		struct cmsghdr *c;
		ssize_t r;

		if (poll(&pf, 1, 10000) != 1)
			return -1;
		r = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
		if (r <= 0)
			return -1;
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / 4;
			     i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + 4 * i, 4);
				close(fd);
				if (nfds)
					(*nfds)++;
			}
		got += (size_t)r;
	}
	return 0;
}

struct rep {
	uint16_t id, cmd;
	uint32_t size, flags, error;
	uint8_t p[(1 << 20) + 64];
	int nfds;
};

static struct rep R;

/* Read one whole message into R. */
static int recv_msg(int s)
{
	uint8_t h[16];

	R.nfds = 0;
	if (readn(s, h, 16, &R.nfds))
		return -1;
	memcpy(&R.id, h, 2);
	memcpy(&R.cmd, h + 2, 2);
	memcpy(&R.size, h + 4, 4);
	memcpy(&R.flags, h + 8, 4);
	memcpy(&R.error, h + 12, 4);
	assert_true(R.size >= 16 && R.size - 16 <= sizeof(R.p));
	return readn(s, R.p, R.size - 16, &R.nfds);
}

/* The server closed on us. */
static bool eof(int s)
{
	struct pollfd pf = { .fd = s, .events = POLLIN };
	char c;

	return poll(&pf, 1, 10000) == 1 && recv(s, &c, 1, MSG_DONTWAIT) <= 0;
}

static char sock[100];
static struct tdev T;

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	for (int i = 0; i < 200; i++) {
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return s;
		t_msleep(10);
	}
	close(s);
	return -1;
}

/* VERSION with @json (NULL: none); expect success. */
static void version(int s, const char *json)
{
	struct mb m = { .n = 0 };

	hdr(&m, 1, 1, 0);
	p16(&m, 0);
	p16(&m, 0);
	if (json) {
		memcpy(m.b + m.n, json, strlen(json) + 1);
		m.n += strlen(json) + 1;
	}
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.flags, 1);
	assert_int_equal(R.cmd, 1);
}

/* A connected, negotiated raw client (no twin socket). */
static int client(void)
{
	int s = raw_connect();

	assert_true(s >= 0);
	version(s, "{\"capabilities\":{\"max_msg_fds\":8}}");
	return s;
}

static void expect_error(int s, uint16_t id, uint32_t err)
{
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, id);
	assert_int_equal(R.flags, 0x21);
	assert_int_equal(R.error, err);
	assert_int_equal(R.size, 16);
}

/* GET_INFO works: the connection is still good. */
static void still_good(int s)
{
	struct mb m = { .n = 0 };

	hdr(&m, 77, 4, 0);
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, 77);
	assert_int_equal(R.flags, 1);
	assert_int_equal(R.size, 32);
}

static void test_before_version(void **state)
{
	struct mb m = { .n = 0 };
	int s = raw_connect();

	(void)state;
	hdr(&m, 5, 4, 0); /* GET_INFO first */
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 5, EINVAL);
	assert_true(eof(s));
	close(s);
}

static void test_bad_versions(void **state)
{
	static const char *const bad_json[] = {
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_data_xfer_size\":0}}",
		"{\"capabilities\":{\"max_data_xfer_size\":511}}",
		"{\"capabilities\":",
		"[1,2]",
	};
	struct mb m = { .n = 0 };
	int s, efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		s = raw_connect();
		hdr(&m, 9, 1, 0);
		p16(&m, 0);
		p16(&m, 0);
		memcpy(m.b + m.n, bad_json[i], strlen(bad_json[i]) + 1);
		m.n += strlen(bad_json[i]) + 1;
		fin(&m, 0);
		sendm(s, &m);
		expect_error(s, 9, EINVAL);
		assert_true(eof(s));
		close(s);
	}
	/* Major 1; JSON without its NUL; an fd with VERSION. */
	s = raw_connect();
	hdr(&m, 9, 1, 0);
	p16(&m, 1);
	p16(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 9, ENOTSUP);
	assert_true(eof(s));
	close(s);
	s = raw_connect();
	hdr(&m, 9, 1, 0);
	p16(&m, 0);
	p16(&m, 0);
	memcpy(m.b + m.n, "{}", 2);
	m.n += 2;
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 9, EINVAL);
	close(s);
	s = raw_connect();
	hdr(&m, 9, 1, 0);
	p16(&m, 0);
	p16(&m, 0);
	fin(&m, 0);
	assert_int_equal(sendfds(s, m.b, m.n, &efd, 1), 0);
	m.n = 0;
	expect_error(s, 9, EINVAL);
	close(s);
	close(efd);
	/* A second VERSION on a good connection: refused, not fatal. */
	s = client();
	hdr(&m, 3, 1, 0);
	p16(&m, 0);
	p16(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 3, EINVAL);
	still_good(s);
	close(s);
}

static void test_bad_fields(void **state)
{
	struct mb m = { .n = 0 };
	int s = client(), efds[20];

	(void)state;
	/* GET_INFO with argsz below its reply. */
	hdr(&m, 1, 4, 0);
	p32(&m, 8);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 1, EINVAL);
	/* DMA_MAP with argsz 24 (must be the structure's 32). */
	hdr(&m, 2, 2, 0);
	p32(&m, 24);
	p32(&m, 3);
	p64(&m, 0);
	p64(&m, 0x10000);
	p64(&m, 0x1000);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 2, EINVAL);
	/* SET_IRQS whose argsz is not its size. */
	hdr(&m, 3, 8, 0);
	p32(&m, 24);
	p32(&m, 0x21);
	p32(&m, 2);
	p32(&m, 0);
	p32(&m, 1);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 3, EINVAL);
	/* Oversized counts: a read past max_data_xfer_size; vectors past
	 * the index; an index past the device's. */
	hdr(&m, 4, 9, 0);
	p64(&m, 0);
	p32(&m, 1);
	p32(&m, 2u << 20);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 4, EINVAL);
	hdr(&m, 5, 8, 0);
	p32(&m, 20);
	p32(&m, 0x11);
	p32(&m, 2);
	p32(&m, 4000);
	p32(&m, 1000);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 5, EINVAL);
	hdr(&m, 6, 7, 0);
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 9);
	p32(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 6, EINVAL);
	/* Unknown commands, a server->client command, a truncated body. */
	hdr(&m, 7, 14, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 7, EINVAL);
	hdr(&m, 8, 99, 0);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 8, EINVAL);
	hdr(&m, 9, 11, 0);
	p64(&m, 0x10000);
	p64(&m, 8);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 9, EINVAL);
	hdr(&m, 10, 5, 0);
	p32(&m, 32);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 10, EINVAL);
	/* Too many fds (17 > our max_msg_fds 16), fds on GET_INFO. */
	for (int i = 0; i < 20; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	hdr(&m, 11, 8, 0);
	p32(&m, 20);
	p32(&m, 0x24);
	p32(&m, 2);
	p32(&m, 0);
	p32(&m, 17);
	fin(&m, 0);
	assert_int_equal(sendfds(s, m.b, m.n, efds, 17), 0);
	m.n = 0;
	expect_error(s, 11, EINVAL);
	hdr(&m, 12, 4, 0);
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, 0);
	assert_int_equal(sendfds(s, m.b, m.n, efds, 1), 0);
	m.n = 0;
	expect_error(s, 12, EINVAL);
	/* An error to a NO_REPLY command: nothing; the next one answers. */
	hdr(&m, 13, 99, 0x10);
	fin(&m, 0);
	sendm(s, &m);
	still_good(s);
	/* Overlapping and inexact DMA windows. */
	hdr(&m, 14, 2, 0);
	p32(&m, 32);
	p32(&m, 3);
	p64(&m, 0);
	p64(&m, 0x10000);
	p64(&m, 0x2000);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.flags, 1);
	hdr(&m, 15, 2, 0);
	p32(&m, 32);
	p32(&m, 3);
	p64(&m, 0);
	p64(&m, 0x11000);
	p64(&m, 0x2000);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 15, EEXIST);
	hdr(&m, 16, 3, 0);
	p32(&m, 24);
	p32(&m, 0);
	p64(&m, 0x10000);
	p64(&m, 0x1000);
	fin(&m, 0);
	sendm(s, &m);
	expect_error(s, 16, EINVAL);
	still_good(s);
	for (int i = 0; i < 20; i++)
		close(efds[i]);
	close(s);
}

/* Commands written back to back are answered in order. */
static void test_pipelined(void **state)
{
	struct mb m = { .n = 0 };
	int s = client();

	(void)state;
	for (uint16_t i = 0; i < 40; i++) {
		size_t at = m.n;

		hdr(&m, (uint16_t)(100 + i), 9, 0); /* REGION_READ R_ID */
		p64(&m, R_ID);
		p32(&m, 0);
		p32(&m, 4);
		fin(&m, at);
	}
	sendm(s, &m);
	for (uint16_t i = 0; i < 40; i++) {
		uint32_t v;

		assert_int_equal(recv_msg(s), 0);
		assert_int_equal(R.id, 100 + i);
		assert_int_equal(R.size, 36);
		memcpy(&v, R.p + 16, 4);
		assert_int_equal(v, TDEV_ID);
	}
	close(s);
}

/* The device's DMA by messages, on the main socket, interleaved with
 * pipelined commands: the DMA_READ comes first, the replies after it in
 * order; lies in DMA replies drop the client. */
static void test_dma_interleaved(void **state)
{
	struct mb m = { .n = 0 };
	uint16_t dma_id;
	size_t at;
	int s = client();

	(void)state;
	hdr(&m, 1, 2, 0); /* a window without fd */
	p32(&m, 32);
	p32(&m, 3);
	p64(&m, 0);
	p64(&m, 0x40000);
	p64(&m, 0x1000);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	/* addr, len, then "read", and a GET_INFO right behind it. */
	uint32_t regs[][2] = { { R_DMA_ADDR, 0x40010 },
			       { R_DMA_ADDR + 4, 0 },
			       { R_DMA_LEN, 8 },
			       { R_DMA_CMD, 1 } };
	for (int i = 0; i < 4; i++) {
		at = m.n;
		hdr(&m, (uint16_t)(10 + i), 10, 0);
		p64(&m, regs[i][0]);
		p32(&m, 0);
		p32(&m, 4);
		p32(&m, regs[i][1]);
		fin(&m, at);
	}
	at = m.n;
	hdr(&m, 20, 4, 0);
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, at);
	sendm(s, &m);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(recv_msg(s), 0);
		assert_int_equal(R.id, 10 + i);
	}
	/* The server's DMA_READ, before the reply to id 13. */
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.cmd, 11);
	assert_int_equal(R.flags, 0);
	dma_id = R.id;
	{
		uint64_t a, n;

		memcpy(&a, R.p, 8);
		memcpy(&n, R.p + 8, 8);
		assert_int_equal(a, 0x40010);
		assert_int_equal(n, 8);
	}
	hdr(&m, dma_id, 11, 1);
	p64(&m, 0x40010);
	p64(&m, 8);
	for (int i = 0; i < 8; i++)
		p8(&m, (uint8_t)(i + 1));
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, 13);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, 20);
	/* The device got the bytes: sum 36. */
	hdr(&m, 21, 9, 0);
	p64(&m, R_DMA_SUM);
	p32(&m, 0);
	p32(&m, 4);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	{
		uint32_t sum;

		memcpy(&sum, R.p + 16, 4);
		assert_int_equal(sum, 36);
	}
	/* An error reply to the DMA: the device sees EIO, the client
	 * stays. */
	hdr(&m, 22, 10, 0);
	p64(&m, R_DMA_CMD);
	p32(&m, 0);
	p32(&m, 4);
	p32(&m, 1);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.cmd, 11);
	dma_id = R.id;
	hdr(&m, dma_id, 11, 0x21);
	m.b[12] = EFAULT;
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, 22);
	hdr(&m, 23, 9, 0);
	p64(&m, R_DMA_STATUS);
	p32(&m, 0);
	p32(&m, 4);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	{
		uint32_t st;

		memcpy(&st, R.p + 16, 4);
		assert_int_equal(st, EIO);
	}
	/* A lying reply (another count): the client is dropped. */
	hdr(&m, 24, 10, 0);
	p64(&m, R_DMA_CMD);
	p32(&m, 0);
	p32(&m, 4);
	p32(&m, 1);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.cmd, 11);
	dma_id = R.id;
	hdr(&m, dma_id, 11, 1);
	p64(&m, 0x40010);
	p64(&m, 4);
	p32(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	/* The write's reply may still come (the device saw -EPROTO);
	 * then the end. */
	while (recv_msg(s) == 0)
		;
	close(s);
}

/* Stop points of the stream: an absurd size, half a header. */
static void test_stream_breaks(void **state)
{
	struct mb m = { .n = 0 };
	int s = client();

	(void)state;
	hdr(&m, 1, 10, 0);
	fin(&m, 0);
	memset(m.b + 4, 0xff, 4); /* 4 GiB */
	sendm(s, &m);
	assert_true(eof(s));
	close(s);
	/* Half a header, then nothing: dropped when VERSION is late (5 s
	 * here), so the next client gets the device. */
	s = raw_connect();
	assert_int_equal(send(s, "\x01\x00\x01", 3, 0), 3);
	assert_true(eof(s));
	close(s);
	s = client();
	still_good(s);
	close(s);
}

/* A client that never reads: the server stops reading it (no unbounded
 * queue, no blocked loop) and serves the next one once it goes. */
static void test_no_reader(void **state)
{
	struct mb m = { .n = 0 };
	int s = client(), s2;
	ssize_t sent = 0;

	(void)state;
	for (int i = 0; i < 64; i++) {
		size_t at = m.n;

		hdr(&m, (uint16_t)i, 9, 0); /* 64 KiB reads of BAR1 */
		p64(&m, 0);
		p32(&m, 1);
		p32(&m, 65536);
		fin(&m, at);
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (int k = 0; k < 100; k++) {
		ssize_t r = send(s, m.b, m.n, MSG_NOSIGNAL);

		if (r < 0)
			break;
		sent += r;
	}
	assert_true(sent > 0);
	/* The server thread is not stuck: it refuses a second client at
	 * once (busy), and answers the device's own stop below. */
	s2 = raw_connect();
	assert_true(s2 >= 0);
	assert_true(eof(s2));
	close(s2);
	close(s);
	s = client();
	still_good(s);
	close(s);
}

/* VERSION by hand asking for the twin socket, which is returned (kept:
 * readn() closes fds); the reply's payload goes to @p (512 bytes). */
static int version_twin(int s, uint8_t *p)
{
	static const char j[] =
		"{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}";
	struct mb m = { .n = 0 };
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	uint8_t h[16];
	struct iovec iov = { h, 16 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	uint32_t size;
	int twin = -1;

	hdr(&m, 1, 1, 0);
	p16(&m, 0);
	p16(&m, 0);
	memcpy(m.b + m.n, j, sizeof(j));
	m.n += sizeof(j);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recvmsg(s, &msg, MSG_CMSG_CLOEXEC), 16);
	assert_non_null(CMSG_FIRSTHDR(&msg));
	memcpy(&twin, CMSG_DATA(CMSG_FIRSTHDR(&msg)), 4);
	memcpy(&size, h + 4, 4);
	assert_true(size >= 16 && size - 16 <= 512);
	assert_int_equal(readn(s, p, size - 16, NULL), 0);
	return twin;
}

static void test_twin_abuse(void **state)
{
	struct mb m = { .n = 0 };
	int s = raw_connect(), twin;
	uint8_t p[512];

	(void)state;
	twin = version_twin(s, p);
	assert_non_null(strstr((char *)p + 4, "\"fd_index\":0"));
	/* A command on the twin socket: the client is dropped. */
	hdr(&m, 2, 4, 0);
	p32(&m, 16);
	p32(&m, 0);
	p32(&m, 0);
	p32(&m, 0);
	fin(&m, 0);
	sendm(twin, &m);
	assert_true(eof(s));
	close(twin);
	close(s);
	/* A client that takes no fds (max_msg_fds 0) gets none: no twin,
	 * no MMAP. */
	s = raw_connect();
	version(s, "{\"capabilities\":{\"max_msg_fds\":0,"
		   "\"twin_socket\":{\"supported\":true}}}");
	assert_int_equal(R.nfds, 0);
	assert_non_null(strstr((char *)R.p + 4, "\"supported\":false"));
	hdr(&m, 3, 5, 0);
	p32(&m, 256);
	p32(&m, 0);
	p32(&m, 1);
	p32(&m, 0);
	p64(&m, 0);
	p64(&m, 0);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.nfds, 0);
	assert_false(R.p[4] & 0x4);
	close(s);
}

/* REGION_WRITE of one BAR0 register, not waiting for the reply. */
static void reg_write(int s, uint16_t id, uint32_t off, uint32_t v)
{
	struct mb m = { .n = 0 };

	hdr(&m, id, 10, 0);
	p64(&m, off);
	p32(&m, 0);
	p32(&m, 4);
	p32(&m, v);
	fin(&m, 0);
	sendm(s, &m);
}

static uint32_t reg_read(int s, uint16_t id, uint32_t off)
{
	struct mb m = { .n = 0 };
	uint32_t v;

	hdr(&m, id, 9, 0);
	p64(&m, off);
	p32(&m, 0);
	p32(&m, 4);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.id, id);
	assert_int_equal(R.size, 36);
	memcpy(&v, R.p + 16, 4);
	return v;
}

/* Send all of it (the twin is non-blocking: wait while it is full). */
static void send_all(int s, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(s, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = s, .events = POLLOUT };

			assert_int_equal(poll(&pf, 1, 10000), 1);
			continue;
		}
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* The device's 1 MiB DMA_READ by messages on the twin socket: the
 * twin's buffers hold a whole DMA message; a reply to an id never sent
 * is ignored and the right one, after it, lands whole; a reply that
 * stops halfway fails the DMA with ETIMEDOUT at the deadline and drops
 * the client, and the next client finds the device, and that status. */
static void test_twin_dma(void **state)
{
	const uint32_t n = 1u << 20, win = 0x100000;
	uint8_t *data = malloc(n);
	long wmax = t_read_long("/proc/sys/net/core/wmem_max"),
	     rmax = t_read_long("/proc/sys/net/core/rmem_max");
	struct mb m = { .n = 0 };
	uint32_t sum = 0;
	uint16_t dma_id;
	uint8_t vp[512];
	int s, twin, v;
	socklen_t len = sizeof(v);

	(void)state;
	assert_non_null(data);
	for (uint32_t i = 0; i < n; i++) {
		data[i] = (uint8_t)(i * 5 + i / 4096);
		sum += data[i];
	}
	/* VERSION by hand, to keep the twin. */
	s = raw_connect();
	assert_true(s >= 0);
	twin = version_twin(s, vp);
	/* Buffers for a whole DMA message (the kernel reports them
	 * doubled), as far as the sysctls let them be. */
	if (wmax > 0 && rmax > 0) {
		assert_int_equal(
			getsockopt(twin, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
		assert_true(v >= 2 * ISM_MIN((long)n + 32, wmax));
		assert_int_equal(
			getsockopt(twin, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
		assert_true(v >= 2 * ISM_MIN((long)n + 32, rmax));
	}
	/* A window without fd, then a 1 MiB DMA_READ of it. */
	hdr(&m, 2, 2, 0);
	p32(&m, 32);
	p32(&m, 3);
	p64(&m, 0);
	p64(&m, win);
	p64(&m, n);
	fin(&m, 0);
	sendm(s, &m);
	assert_int_equal(recv_msg(s), 0);
	assert_int_equal(R.flags, 1);
	reg_write(s, 3, R_DMA_ADDR, win);
	reg_write(s, 4, R_DMA_ADDR + 4, 0);
	reg_write(s, 5, R_DMA_LEN, n);
	reg_write(s, 6, R_DMA_CMD, 1);
	assert_int_equal(recv_msg(twin), 0);
	assert_int_equal(R.cmd, 11);
	assert_int_equal(R.flags, 0);
	dma_id = R.id;
	/* A reply to an id never sent: ignored. */
	hdr(&m, (uint16_t)(dma_id + 1), 11, 1);
	p64(&m, win);
	p64(&m, 8);
	p64(&m, 0);
	fin(&m, 0);
	sendm(twin, &m);
	hdr(&m, dma_id, 11, 1);
	p64(&m, win);
	p64(&m, n);
	m.n = 32;
	memcpy(m.b + 4, &(uint32_t){ 32 + n }, 4);
	send_all(twin, m.b, 32);
	send_all(twin, data, n);
	m.n = 0;
	for (uint16_t id = 3; id <= 6; id++) {
		assert_int_equal(recv_msg(s), 0);
		assert_int_equal(R.id, id);
		assert_int_equal(R.flags, 1);
	}
	assert_int_equal(reg_read(s, 7, R_DMA_STATUS), 0);
	assert_int_equal(reg_read(s, 8, R_DMA_SUM), sum);
	/* Half the data, then nothing: the deadline (5 s) fails the DMA
	 * and drops the client. */
	reg_write(s, 9, R_DMA_CMD, 1);
	assert_int_equal(recv_msg(twin), 0);
	assert_int_equal(R.cmd, 11);
	dma_id = R.id;
	hdr(&m, dma_id, 11, 1);
	p64(&m, win);
	p64(&m, n);
	memcpy(m.b + 4, &(uint32_t){ 32 + n }, 4);
	send_all(twin, m.b, 32);
	send_all(twin, data, n / 2);
	m.n = 0;
	while (recv_msg(s) == 0) /* the write's reply may come */
		;
	assert_true(eof(twin));
	close(twin);
	close(s);
	s = client();
	assert_int_equal(reg_read(s, 10, R_DMA_STATUS), ETIMEDOUT);
	still_good(s);
	close(s);
	free(data);
}

/* ---- a hostile server ------------------------------------------------------ */

struct fake {
	int s;
	void (*script)(struct fake *f);
	int arg;
	pthread_t t;
};

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	f->script(f);
	return NULL;
}

/* The fake server's side of VERSION: read it, answer with @json, @fds. */
static void fake_version(struct fake *f, uint16_t major, const char *json,
			 const int *fds, int nfds)
{
	struct mb m = { .n = 0 };
	uint16_t id;

	if (recv_msg(f->s))
		return;
	id = R.id;
	hdr(&m, id, 1, 1);
	p16(&m, major);
	p16(&m, 0);
	if (json) {
		memcpy(m.b + m.n, json, strlen(json) + 1);
		m.n += strlen(json) + 1;
	}
	fin(&m, 0);
	sendfds(f->s, m.b, m.n, fds, nfds);
}

static void fake_info(struct fake *f)
{
	struct mb m = { .n = 0 };

	if (recv_msg(f->s))
		return;
	hdr(&m, R.id, 4, 1);
	p32(&m, 16);
	p32(&m, 3);
	p32(&m, 9);
	p32(&m, 5);
	fin(&m, 0);
	sendm(f->s, &m);
}

static int fake_open(struct fake *f, void (*script)(struct fake *), int arg,
		     int timeout_ms, struct ism_vfu_client **c)
{
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .timeout_ms = timeout_ms };
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	f->s = sv[1];
	f->script = script;
	f->arg = arg;
	assert_int_equal(pthread_create(&f->t, NULL, fake_thread, f), 0);
	*c = NULL;
	r = ism_vfu_client_open_fd(sv[0], &o, c);
	return r;
}

static void fake_close(struct fake *f)
{
	pthread_join(f->t, NULL);
	close(f->s);
}

static void s_major(struct fake *f)
{
	fake_version(f, 1, NULL, NULL, 0);
}

static void s_twin_nofd(struct fake *f)
{
	fake_version(
		f, 0,
		"{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}",
		NULL, 0);
}

static void s_stray_fd(struct fake *f)
{
	int e = eventfd(0, EFD_CLOEXEC);

	fake_version(f, 0, "{}", &e, 1);
	close(e);
}

static void s_twin_not_socket(struct fake *f)
{
	int e = eventfd(0, EFD_CLOEXEC);

	fake_version(f, 0,
		     "{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
		     "\"fd_index\":0}}}",
		     &e, 1);
	close(e);
}

static void s_error(struct fake *f)
{
	struct mb m = { .n = 0 };

	if (recv_msg(f->s))
		return;
	hdr(&m, R.id, 1, 0x21);
	m.b[12] = EPERM;
	fin(&m, 0);
	sendm(f->s, &m);
}

static void s_unasked(struct fake *f)
{
	/* write_multiple was not proposed. */
	fake_version(f, 0, "{\"capabilities\":{\"write_multiple\":true}}", NULL,
		     0);
}

static void s_tiny_xfer(struct fake *f)
{
	/* Proposed by the client, but below the floor (one round trip per
	 * byte otherwise). */
	fake_version(f, 0, "{\"capabilities\":{\"max_data_xfer_size\":1}}",
		     NULL, 0);
}

static void s_silent(struct fake *f)
{
	recv_msg(f->s);
	/* never answers; the client times out */
	t_msleep(500);
}

static void s_wrong_id(struct fake *f)
{
	struct mb m = { .n = 0 };

	fake_version(f, 0, "{}", NULL, 0);
	if (recv_msg(f->s))
		return;
	hdr(&m, (uint16_t)(R.id + 1), 4, 1);
	p32(&m, 16);
	p32(&m, 3);
	p32(&m, 9);
	p32(&m, 5);
	fin(&m, 0);
	sendm(f->s, &m);
}

/* With a twin: answer DMA_MAP, then a 1 MiB DMA_READ on the twin (more
 * than the socket holds) while the client runs nothing but its loop on
 * ism_vfu_client_fd(); arg: 1 when the whole reply came, with the data. */
#define BIG_DMA (1u << 20)
static volatile int big_done;
static int big_twin = -1; /* closed by the test, after the loop */

static void s_big_dma(struct fake *f)
{
	static const char json[] = "{\"capabilities\":{\"twin_socket\":"
				   "{\"supported\":true,\"fd_index\":0}}}";
	struct mb m = { .n = 0 };
	int tw[2];

	f->arg = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tw))
		goto out;
	big_twin = tw[0];
	fake_version(f, 0, json, &tw[1], 1);
	close(tw[1]);
	fake_info(f);
	if (recv_msg(f->s) || R.cmd != 2)
		goto out;
	hdr(&m, R.id, 2, 1);
	fin(&m, 0);
	sendm(f->s, &m);
	hdr(&m, 1, 11, 0);
	p64(&m, 1ull << 32);
	p64(&m, BIG_DMA);
	fin(&m, 0);
	sendm(tw[0], &m);
	if (recv_msg(tw[0]) == 0 && R.cmd == 11 && R.flags == 1 &&
	    R.size == 32 + BIG_DMA) {
		f->arg = 1;
		for (uint32_t i = 0; i < BIG_DMA; i++)
			if (R.p[16 + i] != (uint8_t)(i / 4096 + i))
				f->arg = 0;
	}
out:
	big_done = 1;
}

/* No fds accepted (max_msg_fds 0), then a hang-up. */
static void s_no_fds(struct fake *f)
{
	fake_version(f, 0, "{\"capabilities\":{\"max_msg_fds\":0}}", NULL, 0);
	fake_info(f);
	close(f->s);
	f->s = -1;
}

/* After negotiating: a region info with a looping cap chain (arg 0), an
 * fd that is a pipe (arg 1), a DMA_READ outside the windows and then a
 * hang-up (arg 2), an absurd size (arg 3). */
static void s_after(struct fake *f)
{
	struct mb m = { .n = 0 };
	int pfd[2];

	fake_version(f, 0, "{}", NULL, 0);
	fake_info(f);
	if (f->arg == 2) {
		hdr(&m, 500, 11, 0);
		p64(&m, 0xdead0000);
		p64(&m, 8);
		fin(&m, 0);
		sendm(f->s, &m);
		/* (no cmocka asserts off the main thread) */
		f->arg = recv_msg(f->s) == 0 && R.flags == 0x21 ? (int)R.error
								: -1;
		close(f->s);
		f->s = -1;
		return;
	}
	if (recv_msg(f->s))
		return;
	if (f->arg == 3) {
		hdr(&m, R.id, R.cmd, 1);
		fin(&m, 0);
		memset(m.b + 4, 0x7f, 4);
		sendm(f->s, &m);
		return;
	}
	hdr(&m, R.id, 5, 1);
	if (f->arg == 0) {
		p32(&m, 48);
		p32(&m, 0xf);
		p32(&m, 1);
		p32(&m, 32);
		p64(&m, 0x10000);
		p64(&m, 0);
		p16(&m, 1);
		p16(&m, 1);
		p32(&m, 32); /* next: itself */
		p32(&m, 0);
		p32(&m, 0);
		fin(&m, 0);
		sendm(f->s, &m);
		return;
	}
	p32(&m, 32);
	p32(&m, 0x7);
	p32(&m, 1);
	p32(&m, 0);
	p64(&m, 0x10000);
	p64(&m, 0);
	fin(&m, 0);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	sendfds(f->s, m.b, m.n, &pfd[0], 1);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_hostile_server(void **state)
{
	struct ism_vfu_region_info ri;
	struct ism_vfu_client *c;
	struct fake f;
	void *p;

	(void)state;
	assert_int_equal(fake_open(&f, s_major, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_twin_nofd, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_stray_fd, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_twin_not_socket, 0, 5000, &c),
			 -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_error, 0, 5000, &c), -EPERM);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_tiny_xfer, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_unasked, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_silent, 0, 200, &c), -ETIMEDOUT);
	fake_close(&f);
	assert_int_equal(fake_open(&f, s_wrong_id, 0, 5000, &c), -EPROTO);
	fake_close(&f);
	assert_null(c);

	/* A looping cap chain: refused, and the client is broken. */
	assert_int_equal(fake_open(&f, s_after, 0, 5000, &c), 0);
	assert_int_equal(ism_vfu_client_region_info(c, 1, &ri), -EPROTO);
	assert_int_equal(ism_vfu_client_reset(c), -EPROTO);
	ism_vfu_client_close(c);
	fake_close(&f);
	/* A pipe as region fd: described, never mapped. */
	assert_int_equal(fake_open(&f, s_after, 1, 5000, &c), 0);
	assert_int_equal(ism_vfu_client_region_info(c, 1, &ri), 0);
	assert_false(ri.mappable);
	assert_int_equal(ism_vfu_client_region_map(c, 1, &p), -EBADF);
	ism_vfu_client_close(c);
	fake_close(&f);
	/* DMA outside every window: an error reply (EFAULT); then the
	 * server hangs up: -ENOTCONN from then on. */
	assert_int_equal(fake_open(&f, s_after, 2, 5000, &c), 0);
	for (int i = 0; i < 2000 && ism_vfu_client_process(c) == 0; i++)
		t_msleep(5);
	fake_close(&f);
	assert_int_equal(f.arg, EFAULT);
	assert_int_equal(ism_vfu_client_process(c), -ENOTCONN);
	assert_int_equal(ism_vfu_client_reset(c), -ENOTCONN);
	ism_vfu_client_close(c);
	/* An absurd size in a reply. */
	assert_int_equal(fake_open(&f, s_after, 3, 5000, &c), 0);
	assert_int_equal(ism_vfu_client_region_info(c, 1, &ri), -EPROTO);
	ism_vfu_client_close(c);
	fake_close(&f);
	/* Broken is broken, whatever the server's caps said: eventfds to a
	 * server that took no fds are -ENOTCONN once it hung up, not
	 * -EOPNOTSUPP (found by the vfio_user_client fuzz target). */
	assert_int_equal(fake_open(&f, s_no_fds, 0, 5000, &c), 0);
	fake_close(&f);
	for (int i = 0; i < 2000 && ism_vfu_client_process(c) == 0; i++)
		t_msleep(5);
	assert_int_equal(ism_vfu_client_process(c), -ENOTCONN);
	{
		int e = eventfd(0, EFD_CLOEXEC);

		assert_int_equal(ism_vfu_client_irq_eventfds(c, 0, 0, 1, &e),
				 -ENOTCONN);
		close(e);
	}
	ism_vfu_client_close(c);
}

/* A DMA reply the socket cannot take at once, served from the caller's
 * loop alone (no call running): ism_vfu_client_fd() must wake the loop
 * to send the rest, or the server waits for it forever. */
static void test_dma_reply_from_loop(void **state)
{
	uint8_t *mem = malloc(BIG_DMA);
	struct ism_vfu_dma_map w = { .size = sizeof(w),
				     .prot = ISM_VFU_DMA_READ,
				     .addr = 1ull << 32,
				     .len = BIG_DMA,
				     .fd = -1,
				     .vaddr = mem };
	struct ism_vfu_client *c;
	struct fake f;

	(void)state;
	assert_non_null(mem);
	for (uint32_t i = 0; i < BIG_DMA; i++)
		mem[i] = (uint8_t)(i / 4096 + i);
	big_done = 0;
	assert_int_equal(fake_open(&f, s_big_dma, 0, 5000, &c), 0);
	assert_int_equal(ism_vfu_client_dma_map(c, &w), 0);
	/* The loop: process() only when the fd says so. */
	while (!big_done) {
		struct pollfd p = { .fd = ism_vfu_client_fd(c),
				    .events = POLLIN };

		if (poll(&p, 1, 100) == 1)
			assert_int_equal(ism_vfu_client_process(c), 0);
	}
	fake_close(&f);
	close(big_twin);
	assert_int_equal(f.arg, 1);
	ism_vfu_client_close(c);
	free(mem);
}

static int setup(void **state)
{
	(void)state;
	snprintf(sock, sizeof(sock), "%s/vfu-hostile-%d.sock", t_tmpdir(),
		 (int)getpid());
	return tdev_start(&T, sock, 0, 0, 0);
}

static int teardown(void **state)
{
	(void)state;
	tdev_stop(&T);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_version),
		cmocka_unit_test(test_bad_versions),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_dma_interleaved),
		cmocka_unit_test(test_stream_breaks),
		cmocka_unit_test(test_no_reader),
		cmocka_unit_test(test_twin_abuse),
		cmocka_unit_test(test_twin_dma),
		cmocka_unit_test(test_hostile_server),
		cmocka_unit_test(test_dma_reply_from_loop),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
