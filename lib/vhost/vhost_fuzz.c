/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the vhost-user front-end helper's decoder and its serving of
 * a back-end's requests, fed hostile bytes through a real socket: the
 * input's first byte picks whether a sealed memfd rides along with the
 * first header, the rest is the stream.  Invariants, checked with abort():
 * process() returns a count or an errno (never hangs: the socket is
 * non-blocking and closed after the input), the window's mappings stay
 * inside it, sorted, and never overlap; and the message decoders never
 * accept what their sizes rule out.
 */
#include "vhost/vhost.h"
#include "util/util.h"

#include <ism/vhost_user.h>
#include <ism/window.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PG 4096u

static struct ism_window *w;
static int memfd = -1;

static void setup(void)
{
	if (w)
		return;
	if (ism_window_create(64 * PG, NULL, &w) < 0)
		abort();
	memfd = memfd_create("vhost-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, 16 * PG) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		abort();
}

static void check_window(void)
{
	static struct ism_window_mapping m[64];
	int n = ism_window_list(w, m, 64);
	uint64_t end = 0;

	if (n < 0 || n > 64)
		abort();
	for (int i = 0; i < n; i++) {
		if (m[i].len == 0 || m[i].offset < end ||
		    m[i].offset + m[i].len > 64 * PG)
			abort();
		end = m[i].offset + m[i].len;
	}
}

/* The decoders alone. */
static void decoders(const uint8_t *data, size_t size)
{
	struct vhost_mmap mm;
	struct vhost_mem_rw rw;
	static struct vhost_shmem_cfg cfg;
	struct vhost_hdr h;
	struct ism_rbuf rb;
	uint64_t v;

	ism_rbuf_init(&rb, data, size);
	if (vhost_get_hdr(&rb, &h) == 0 &&
	    (h.size > VHOST_PAYLOAD_MAX || (h.flags & 3) != 1))
		abort();
	ism_rbuf_init(&rb, data, size);
	if (vhost_get_mmap(&rb, &mm) == 0 &&
	    (size != VHOST_MMAP_SIZE || mm.len == 0 || mm.flags > 1))
		abort();
	ism_rbuf_init(&rb, data, size);
	if (vhost_get_shmem_cfg(&rb, &cfg) == 0 &&
	    (size != VHOST_SHMEM_CFG_SIZE || cfg.n > 256))
		abort();
	ism_rbuf_init(&rb, data, size);
	if (vhost_get_mem_rw(&rb, &rw, true) == 0 &&
	    (rw.size == 0 || rw.size > ISM_VHOST_USER_MEM_RW_MAX ||
	     size != 12 + (size_t)rw.size || rw.data != data + 12))
		abort();
	ism_rbuf_init(&rb, data, size);
	if (vhost_get_u64(&rb, &v) == 0 && size != 8)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ism_vhost_fe_opts o = {
		.size = sizeof(o),
		.protocol_features = 1ull
				     << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK,
	};
	struct ism_vhost_fe *fe;
	int sp[2], r, bufsz = 1 << 20;

	setup();
	decoders(data, size);
	if (size < 1 || size > 256 * 1024)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (ism_vhost_fe_create(sp[0], &o, &fe) < 0)
		abort();
	ism_vhost_fe_set_shmem(fe, 0, w, 1ull << 32);
	ism_vhost_fe_set_shmem(fe, 1, w, 1ull << 40);
	/* The stream, with the memfd on its first byte if asked. */
	vhost_send_all(sp[1], data + 1, size - 1, (data[0] & 1) ? memfd : -1,
		       100);
	shutdown(sp[1], SHUT_WR);
	for (int i = 0; i < 64; i++) {
		r = ism_vhost_fe_process(fe);
		if (r < 0 && r != -EPIPE && r != -EPROTO)
			abort();
		if (r < 0)
			break;
		check_window();
	}
	ism_vhost_fe_destroy(fe);
	close(sp[0]);
	close(sp[1]);
	/* Each input starts from an empty window. */
	ism_window_unmap(w, 0, 64 * PG, ISM_WINDOW_UNMAP_RANGE);
	return 0;
}
