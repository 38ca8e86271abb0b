/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the vhost-user decoders that read the other side's answers
 * and requests outside the front-end's serving loop (vhost_fuzz.c has
 * that): the back-end serving a front-end's handshake
 * (ism_vhost_be_serve_one), the front-end's handshake reading a
 * back-end's replies (ism_vhost_fe_handshake, GET_SHMEM_CONFIG among
 * them), and the back-end's requests reading a front-end's replies
 * (SHMEM_MAP, SHMEM_UNMAP, MEM_READ, MEM_WRITE).  The input's first byte
 * picks the side and which fds ride on the stream's first byte, the rest
 * is the stream, written into a socket that is then shut, so no call
 * waits.  Invariants, checked with abort(): results are counts or errnos;
 * only what was offered is acknowledged; a GET_SHMEM_CONFIG accepted
 * names at most 256 regions, page multiples, its count right; a channel
 * fd is kept only when it is a stream socket; a MEM_READ that succeeds
 * returns exactly what was asked.
 */
#include "vhost/vhost.h"
#include "util/util.h"

#include <ism/vhost_user.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PG	   4096u
#define MAX_INPUT  (96u * 1024)
#define TIMEOUT_MS 100
#define PF_OFFERED                                                             \
	((1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK) |                       \
	 (1ull << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ) |                     \
	 (1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM))
#define FEATURES (1ull << 32)

static bool is_errno(long r)
{
	return r < 0 && r >= -4095;
}

static bool is_stream_socket(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_STREAM;
}

/* The back-end answering a hostile front-end's handshake. */
static void serve(int sock)
{
	static const uint64_t sizes[3] = { 16 * PG, 0, 4 * PG };
	struct ism_vhost_be_dev dev = { .size = sizeof(dev),
					.n_shmem = 3,
					.features = FEATURES,
					.protocol_features = PF_OFFERED,
					.shmem_size = sizes };
	struct ism_vhost_be_state st = { .backend_fd = -1 };
	uint64_t offered =
		FEATURES | (1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES);

	for (int i = 0; i < 64; i++) {
		int r = ism_vhost_be_serve_one(sock, &dev, &st, TIMEOUT_MS);

		if (st.features & ~offered ||
		    st.protocol_features & ~PF_OFFERED)
			abort();
		if (st.backend_fd >= 0 && !is_stream_socket(st.backend_fd))
			abort();
		if (r > 0 && r != ISM_VHOST_USER_GET_FEATURES &&
		    r != ISM_VHOST_USER_SET_FEATURES &&
		    r != ISM_VHOST_USER_GET_PROTOCOL_FEATURES &&
		    r != ISM_VHOST_USER_SET_PROTOCOL_FEATURES &&
		    r != ISM_VHOST_USER_SET_BACKEND_REQ_FD &&
		    r != ISM_VHOST_USER_GET_SHMEM_CONFIG)
			abort();
		if (r == 0 || (r < 0 && !is_errno(r)))
			abort();
		if (r < 0 && r != -ENOSYS && r != -EINVAL)
			break;
	}
	if (st.backend_fd >= 0)
		close(st.backend_fd);
}

/* The front-end's handshake against a hostile back-end. */
static void handshake(int sock, uint64_t pf)
{
	struct ism_vhost_handshake *hs = malloc(sizeof(*hs));
	uint32_t n = 0;
	int r;

	if (!hs)
		abort();
	r = ism_vhost_fe_handshake(sock, FEATURES, pf, TIMEOUT_MS, hs);
	if (r < 0) {
		if (!is_errno(r) || hs->backend_fd != -1)
			abort();
		free(hs);
		return;
	}
	if (r != 0 ||
	    hs->features & ~(FEATURES |
			     (1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES)) ||
	    hs->protocol_features & ~pf)
		abort();
	if ((hs->backend_fd >= 0) !=
	    !!(hs->protocol_features &
	       (1ull << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ)))
		abort();
	for (uint32_t i = 0; i < ISM_VHOST_USER_MAX_SHMEM; i++) {
		if (hs->shmem_size[i] % PG)
			abort();
		n += hs->shmem_size[i] != 0;
	}
	if (n != hs->n_shmem || n > ISM_VHOST_USER_MAX_SHMEM)
		abort();
	if (hs->backend_fd >= 0)
		close(hs->backend_fd);
	free(hs);
}

/* The back-end's requests against a hostile front-end's replies. */
static void requests(int sock, uint64_t pf, int memfd)
{
	static uint8_t buf[ISM_VHOST_USER_MEM_RW_MAX];
	struct ism_vhost_be *be;
	ssize_t s;
	int r;

	if (ism_vhost_be_create(sock, pf, TIMEOUT_MS, &be) < 0)
		abort();
	r = ism_vhost_be_shmem_map(be, 0, memfd, 0, PG, PG, ISM_ACCESS_RW);
	if (r != 0 && !is_errno(r))
		abort();
	s = ism_vhost_be_mem_read(be, (1ull << 32) + PG, buf, 64);
	if (s != 64 && !is_errno(s))
		abort();
	s = ism_vhost_be_mem_write(be, (1ull << 32) + PG, buf, 64);
	if (s != 64 && !is_errno(s))
		abort();
	s = ism_vhost_be_mem_read(be, 1ull << 32, buf, sizeof(buf));
	if (s != (ssize_t)sizeof(buf) && !is_errno(s))
		abort();
	r = ism_vhost_be_shmem_unmap(be, 0, PG, PG);
	if (r != 0 && !is_errno(r))
		abort();
	ism_vhost_be_destroy(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int memfd = -1;
	int sp[2], extra[2] = { -1, -1 }, pass = -1, bufsz = 1 << 20;
	uint64_t pf;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (memfd < 0) {
		memfd = memfd_create("vhost-peer-fuzz",
				     MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (memfd < 0 || ftruncate(memfd, 4 * PG) < 0 ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			abort();
	}
	/* Byte 0: bits 0-1 the side, bits 2-3 the fd on the first byte
	 * (none, a stream socket, the memfd), bits 4-6 which of REPLY_ACK,
	 * BACKEND_REQ, SHMEM the calling side asks for. */
	pf = ((data[0] >> 4) & 1 ? 1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK
				 : 0) |
	     ((data[0] >> 5) & 1 ? 1ull << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ
				 : 0) |
	     ((data[0] >> 6) & 1 ? 1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM : 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	switch ((data[0] >> 2) & 3) {
	case 1:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, extra) <
		    0)
			abort();
		pass = extra[0];
		break;
	case 2: pass = memfd; break;
	}
	vhost_send_all(sp[1], data + 1, size - 1, pass, TIMEOUT_MS);
	shutdown(sp[1], SHUT_WR);
	switch (data[0] & 3) {
	case 0: serve(sp[0]); break;
	case 1: handshake(sp[0], pf); break;
	default: requests(sp[0], pf, memfd); break;
	}
	close(sp[0]);
	close(sp[1]);
	if (extra[0] >= 0) {
		close(extra[0]);
		close(extra[1]);
	}
	return 0;
}
