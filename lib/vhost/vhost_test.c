/* SPDX-License-Identifier: MIT */
/*
 * vhost-user: golden bytes of every message ism speaks (so an encoding
 * change is deliberate, and the layout is the spec's), the decoders'
 * refusals, and a front-end and a back-end talking over a socket pair:
 * the handshake, SHMEM_MAP/UNMAP into windows, MEM_READ/WRITE, and a
 * hostile back-end (out of range, overlapping, oversized, fd-less,
 * unsealed, too many regions, not reading its replies) that gets errors
 * while the front-end stays intact; and a front-end lying in its replies,
 * which the back-end's calls report as errors.
 */
#include "vhost/vhost.h"
#include "util/util.h"

#include <ism/vhost_user.h>
#include <ism/window.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define PG 4096u

static uint8_t buf[ISM_VHOST_USER_HDR_SIZE + VHOST_PAYLOAD_MAX];

static void test_golden(void **state)
{
	/* clang-format off */
	static const uint8_t map[] = {
		9, 0, 0, 0,             /* BACKEND_SHMEM_MAP */
		0x09, 0, 0, 0,          /* version 1, need_reply */
		40, 0, 0, 0,            /* size */
		3, 0, 0, 0, 0, 0, 0, 0, /* shmid 3, padding */
		0, 0x20, 0, 0, 0, 0, 0, 0, /* fd_offset 8192 */
		0, 0x10, 0, 0, 0, 0, 0, 0, /* shm_offset 4096 */
		0, 0x30, 0, 0, 0, 0, 0, 0, /* len 12288 */
		1, 0, 0, 0, 0, 0, 0, 0, /* flags: read-write */
	};
	static const uint8_t ack[] = {
		10, 0, 0, 0, 0x05, 0, 0, 0, 8, 0, 0, 0, /* SHMEM_UNMAP reply */
		17, 0, 0, 0, 0, 0, 0, 0,                /* EEXIST */
	};
	static const uint8_t rd[] = {
		11, 0, 0, 0, 0x01, 0, 0, 0, 12, 0, 0, 0, /* MEM_READ */
		0, 0, 0, 0, 1, 0, 0, 0,  /* guest address 1 << 32 */
		0, 0x10, 0, 0,           /* size 4096 */
	};
	static const uint8_t wr[] = {
		12, 0, 0, 0, 0x01, 0, 0, 0, 15, 0, 0, 0, /* MEM_WRITE */
		0x10, 0, 0, 0, 0, 0, 0, 0, /* guest address 16 */
		3, 0, 0, 0, 'a', 'b', 'c', /* size 3, data */
	};
	static const uint8_t getcfg[] = {
		44, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, /* GET_SHMEM_CONFIG */
	};
	static const uint8_t cfg_head[] = {
		44, 0, 0, 0, 0x05, 0, 0, 0, 0x08, 0x08, 0, 0, /* reply, 2056 */
		2, 0, 0, 0, 0, 0, 0, 0,  /* 2 regions, padding */
		0, 0, 0x10, 0, 0, 0, 0, 0, /* shmid 0: 1 MiB */
		0, 0, 0, 0, 0, 0, 0, 0,    /* shmid 1: unused */
		0, 0x20, 0, 0, 0, 0, 0, 0, /* shmid 2: 8 KiB */
	};
	/* clang-format on */
	struct vhost_mmap m = { .shmid = 3,
				.fd_offset = 8192,
				.shm_offset = 4096,
				.len = 12288,
				.flags = ISM_VHOST_USER_SHMEM_MAP_RW },
			  m2;
	struct vhost_mem_rw rw = { .addr = 1ull << 32, .size = 4096 }, rw2;
	static struct vhost_shmem_cfg cfg, cfg2;
	struct vhost_hdr h;
	struct ism_wbuf b;
	struct ism_rbuf rb;
	uint64_t v;
	int n;

	(void)state;
	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_BACKEND_SHMEM_MAP,
			ISM_VHOST_USER_VERSION |
				ISM_VHOST_USER_FLAG_NEED_REPLY);
	vhost_put_mmap(&b, &m);
	n = vhost_msg_end(&b);
	assert_int_equal(n, sizeof(map));
	assert_memory_equal(buf, map, sizeof(map));
	ism_rbuf_init(&rb, buf, (size_t)n);
	assert_int_equal(vhost_get_hdr(&rb, &h), 0);
	assert_int_equal(h.size, 40);
	ism_rbuf_init(&rb, buf + 12, h.size);
	assert_int_equal(vhost_get_mmap(&rb, &m2), 0);
	assert_int_equal(m2.shmid, 3);
	assert_int_equal(m2.len, 12288);

	vhost_msg_begin(&b, buf, sizeof(buf),
			ISM_VHOST_USER_BACKEND_SHMEM_UNMAP,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	vhost_put_u64(&b, EEXIST);
	n = vhost_msg_end(&b);
	assert_int_equal(n, sizeof(ack));
	assert_memory_equal(buf, ack, sizeof(ack));

	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_BACKEND_MEM_READ,
			ISM_VHOST_USER_VERSION);
	vhost_put_mem_rw(&b, &rw, false);
	n = vhost_msg_end(&b);
	assert_int_equal(n, sizeof(rd));
	assert_memory_equal(buf, rd, sizeof(rd));
	ism_rbuf_init(&rb, buf + 12, 12);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, false), 0);
	assert_int_equal(rw2.size, 4096);

	rw.addr = 16;
	rw.size = 3;
	rw.data = (const uint8_t *)"abc";
	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_BACKEND_MEM_WRITE,
			ISM_VHOST_USER_VERSION);
	vhost_put_mem_rw(&b, &rw, true);
	n = vhost_msg_end(&b);
	assert_int_equal(n, sizeof(wr));
	assert_memory_equal(buf, wr, sizeof(wr));
	ism_rbuf_init(&rb, buf + 12, 15);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, true), 0);
	assert_memory_equal(rw2.data, "abc", 3);

	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_GET_SHMEM_CONFIG,
			ISM_VHOST_USER_VERSION);
	n = vhost_msg_end(&b);
	assert_int_equal(n, sizeof(getcfg));
	assert_memory_equal(buf, getcfg, sizeof(getcfg));

	memset(&cfg, 0, sizeof(cfg));
	cfg.n = 2;
	cfg.size[0] = 1u << 20;
	cfg.size[2] = 8192;
	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_GET_SHMEM_CONFIG,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	vhost_put_shmem_cfg(&b, &cfg);
	n = vhost_msg_end(&b);
	assert_int_equal(n, 12 + VHOST_SHMEM_CFG_SIZE);
	assert_memory_equal(buf, cfg_head, sizeof(cfg_head));
	ism_rbuf_init(&rb, buf + 12, VHOST_SHMEM_CFG_SIZE);
	assert_int_equal(vhost_get_shmem_cfg(&rb, &cfg2), 0);
	assert_int_equal(cfg2.size[2], 8192);

	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_GET_FEATURES,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	vhost_put_u64(&b, 1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES);
	n = vhost_msg_end(&b);
	assert_int_equal(n, 20);
	assert_int_equal(buf[12 + 3], 0x40); /* bit 30 */
	ism_rbuf_init(&rb, buf + 12, 8);
	assert_int_equal(vhost_get_u64(&rb, &v), 0);
	/* The spec's numbers. */
	assert_int_equal(ISM_VHOST_USER_PROTOCOL_F_SHMEM, 22);
	assert_int_equal(ISM_VHOST_USER_GET_SHMEM_CONFIG, 44);
	assert_int_equal(ISM_VHOST_USER_SET_BACKEND_REQ_FD, 21);
}

static void test_refusals(void **state)
{
	struct vhost_mmap m = { .len = PG }, m2;
	struct vhost_mem_rw rw = { .size = 1 }, rw2;
	static struct vhost_shmem_cfg cfg, cfg2;
	uint8_t h[12] = { 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	struct vhost_hdr hdr;
	struct ism_wbuf b;
	struct ism_rbuf rb;

	(void)state;
#define MMAP_IS(expect)                                                        \
	do {                                                                   \
		ism_wbuf_init(&b, buf, sizeof(buf));                           \
		vhost_put_mmap(&b, &m);                                        \
		ism_rbuf_init(&rb, buf, b.len);                                \
		assert_int_equal(vhost_get_mmap(&rb, &m2), expect);            \
	} while (0)
	MMAP_IS(0);
	m.flags = 2; /* only bit 0 means anything */
	MMAP_IS(-EINVAL);
	m.flags = 0;
	m.len = 0;
	MMAP_IS(-EINVAL);
	m.len = PG;
	m.shm_offset = UINT64_MAX;
	MMAP_IS(-EINVAL);
	m.shm_offset = 0;
	m.fd_offset = UINT64_MAX - 1;
	MMAP_IS(-EINVAL);
	m.fd_offset = 0;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_mmap(&b, &m);
	ism_rbuf_init(&rb, buf, 39);
	assert_int_equal(vhost_get_mmap(&rb, &m2), -EBADMSG);
	ism_rbuf_init(&rb, buf, 41);
	assert_int_equal(vhost_get_mmap(&rb, &m2), -EBADMSG);
	/* Headers: the version, unknown flags, a size ism never reads. */
	ism_rbuf_init(&rb, h, 12);
	assert_int_equal(vhost_get_hdr(&rb, &hdr), 0);
	h[4] = 2;
	ism_rbuf_init(&rb, h, 12);
	assert_int_equal(vhost_get_hdr(&rb, &hdr), -EPROTO);
	h[4] = 0x11;
	ism_rbuf_init(&rb, h, 12);
	assert_int_equal(vhost_get_hdr(&rb, &hdr), -EPROTO);
	h[4] = 1;
	h[10] = 0x10; /* 1 MiB */
	ism_rbuf_init(&rb, h, 12);
	assert_int_equal(vhost_get_hdr(&rb, &hdr), -EMSGSIZE);
	/* Shared memory config: too many, a count that lies, sizes. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.n = 300;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_shmem_cfg(&b, &cfg);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_shmem_cfg(&rb, &cfg2), -EINVAL);
	cfg.n = 1;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_shmem_cfg(&b, &cfg);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_shmem_cfg(&rb, &cfg2), -EINVAL);
	cfg.size[7] = 4097;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_shmem_cfg(&b, &cfg);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_shmem_cfg(&rb, &cfg2), -EINVAL);
	/* Memory access: sizes 0 and too large; data that is not there. */
	rw.size = 0;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_mem_rw(&b, &rw, false);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, false), -EINVAL);
	rw.size = ISM_VHOST_USER_MEM_RW_MAX + 1;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_mem_rw(&b, &rw, false);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, false), -EINVAL);
	rw.size = 8;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_mem_rw(&b, &rw, false);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, true), -EBADMSG);
	rw.addr = UINT64_MAX - 2;
	ism_wbuf_init(&b, buf, sizeof(buf));
	vhost_put_mem_rw(&b, &rw, false);
	ism_rbuf_init(&rb, buf, b.len);
	assert_int_equal(vhost_get_mem_rw(&rb, &rw2, false), -EINVAL);
}

/* ---- a front-end and a back-end ---- */

#define GUEST_BASE (1ull << 32)

struct pair {
	int main_fe, main_be; /* the vhost-user socket's two ends */
	int chan_be;	      /* the back-end's end of its channel */
	int chan_fe;	      /* the front-end's */
	struct ism_window *w;
	struct ism_vhost_fe *fe;
	struct ism_vhost_be *be;
	pthread_t pump;
	atomic_bool stop;
	atomic_int fe_result; /* the last error fe_process returned */
};

static const uint64_t shm_sizes[3] = { 64 * PG, 0, 16 * PG };

/* The back-end serving the handshake, on a thread. */
static void *be_handshake(void *arg)
{
	struct pair *p = arg;
	struct ism_vhost_be_dev dev = {
		.size = sizeof(dev),
		.n_shmem = 3,
		.features = 1ull << 32,
		.protocol_features =
			(1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			(1ull << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
			(1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM) | (1ull << 0),
		.shmem_size = shm_sizes,
	};
	struct ism_vhost_be_state st = { .backend_fd = -1 };

	for (int i = 0; i < 6; i++)
		if (ism_vhost_be_serve_one(p->main_be, &dev, &st, 5000) < 0)
			break;
	p->chan_be = st.backend_fd;
	return NULL;
}

static void *pump_run(void *arg)
{
	struct pair *p = arg;

	while (!atomic_load(&p->stop)) {
		struct pollfd pf = { .fd = -1 };
		int r;

		pf.events = (short)ism_vhost_fe_poll_events(p->fe);
		pf.fd = p->chan_fe;
		if (poll(&pf, 1, 20) <= 0)
			continue;
		r = ism_vhost_fe_process(p->fe);
		if (r < 0) {
			atomic_store(&p->fe_result, r);
			break;
		}
	}
	return NULL;
}

static void pair_up(struct pair *p)
{
	struct ism_vhost_fe_opts o = { .size = sizeof(o) };
	struct ism_vhost_handshake hs;
	int sp[2];
	pthread_t t;

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			 0);
	p->main_fe = sp[0];
	p->main_be = sp[1];
	p->chan_be = -1;
	assert_int_equal(pthread_create(&t, NULL, be_handshake, p), 0);
	assert_int_equal(
		ism_vhost_fe_handshake(
			p->main_fe, 1ull << 32,
			(1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				(1ull
				 << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
				(1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM),
			5000, &hs),
		0);
	pthread_join(t, NULL);
	assert_true(hs.features & (1ull << 32));
	assert_true(hs.features & (1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES));
	/* Bit 0 (MQ) was offered, not asked. */
	assert_int_equal(hs.protocol_features & 1, 0);
	assert_int_equal(hs.n_shmem, 2);
	assert_int_equal(hs.shmem_size[0], 64 * PG);
	assert_int_equal(hs.shmem_size[2], 16 * PG);
	assert_true(hs.backend_fd >= 0);
	p->chan_fe = hs.backend_fd;
	assert_true(p->chan_be >= 0);
	assert_int_equal(ism_window_create(hs.shmem_size[0], NULL, &p->w), 0);
	o.protocol_features = hs.protocol_features;
	assert_int_equal(ism_vhost_fe_create(hs.backend_fd, &o, &p->fe), 0);
	assert_int_equal(ism_vhost_fe_set_shmem(p->fe, 0, p->w, GUEST_BASE), 0);
	assert_int_equal(ism_vhost_be_create(p->chan_be, hs.protocol_features,
					     5000, &p->be),
			 0);
	atomic_store(&p->stop, false);
	assert_int_equal(pthread_create(&p->pump, NULL, pump_run, p), 0);
}

static void pair_down(struct pair *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->pump, NULL);
	close(p->chan_fe);
	ism_vhost_fe_destroy(p->fe);
	ism_vhost_be_destroy(p->be);
	ism_window_destroy(p->w);
	close(p->chan_be);
	close(p->main_fe);
	close(p->main_be);
}

static int memfd(size_t size, bool seal)
{
	int fd = memfd_create("vhost-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seal)
		assert_int_equal(
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

static int probe(void *addr)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_DUMPABLE, 0);
		signal(SIGSEGV, SIG_DFL);
		(void)*(volatile char *)addr;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_map_unmap(void **state)
{
	struct pair p;
	int fd = memfd(8 * PG, true), loose = memfd(PG, false);
	char *base, back[16];

	(void)state;
	pair_up(&p);
	base = ism_window_base(p.w);
	assert_int_equal(pwrite(fd, "from the device", 16, 2 * PG), 16);
	/* Map: the bytes are in the window when the back-end hears. */
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 2 * PG, 4 * PG,
						2 * PG, ISM_ACCESS_RO),
			 0);
	assert_string_equal(base + 4 * PG, "from the device");
	assert_int_not_equal(
		mprotect(base + 4 * PG, PG, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 0, 8 * PG, PG,
						ISM_ACCESS_RW),
			 0);
	base[8 * PG] = 'w';
	/* Refused, each answered: overlap, out of range (window, file),
	 * unaligned, unknown shmid, an unsealed memfd. */
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 0, 5 * PG, PG,
						ISM_ACCESS_RO),
			 -EEXIST);
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 0, 63 * PG, 2 * PG,
						ISM_ACCESS_RO),
			 -EINVAL);
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 7 * PG, 20 * PG,
						2 * PG, ISM_ACCESS_RO),
			 -EINVAL);
	assert_int_equal(
		ism_vhost_be_shmem_map(p.be, 0, fd, 0, 100, PG, ISM_ACCESS_RO),
		-EINVAL);
	assert_int_equal(
		ism_vhost_be_shmem_map(p.be, 2, fd, 0, 0, PG, ISM_ACCESS_RO),
		-ENOENT);
	/* (EPERM goes as EACCES: 1 is QEMU's "any failure".) */
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, loose, 0, 20 * PG, PG,
						ISM_ACCESS_RO),
			 -EACCES);
	/* MEM_READ/WRITE: inside a mapping, and outside any. */
	assert_int_equal(
		ism_vhost_be_mem_read(p.be, GUEST_BASE + 4 * PG, back, 16), 16);
	assert_string_equal(back, "from the device");
	assert_int_equal(
		ism_vhost_be_mem_write(p.be, GUEST_BASE + 8 * PG + 1, "xy", 2),
		2);
	assert_memory_equal(base + 8 * PG, "wxy", 3);
	assert_int_equal(ism_vhost_be_mem_read(p.be, GUEST_BASE, back, 16),
			 -EFAULT);
	assert_int_equal(
		ism_vhost_be_mem_read(p.be, GUEST_BASE + 6 * PG - 8, back, 16),
		-EFAULT); /* runs off the mapping */
	assert_int_equal(ism_vhost_be_mem_read(p.be, 12, back, 16), -EFAULT);
	assert_int_equal(
		ism_vhost_be_mem_write(p.be, GUEST_BASE + 4 * PG, "x", 1),
		-EACCES); /* a read-only mapping */
	/* Unmap: exactly a mapping it made, nothing else. */
	assert_int_equal(ism_vhost_be_shmem_unmap(p.be, 0, 4 * PG, PG),
			 -ENOENT);
	assert_int_equal(
		ism_window_map(p.w, 30 * PG, PG, fd, 0, ISM_ACCESS_RO, 0, NULL),
		0);
	assert_int_equal(ism_vhost_be_shmem_unmap(p.be, 0, 30 * PG, PG),
			 -ENOENT); /* the VMM's own */
	assert_int_equal(ism_vhost_be_shmem_unmap(p.be, 0, 4 * PG, 2 * PG), 0);
	assert_int_equal(probe(base + 4 * PG), 128 + SIGSEGV);
	assert_int_equal(
		ism_vhost_be_mem_read(p.be, GUEST_BASE + 4 * PG, back, 16),
		-EFAULT);
	assert_int_equal(ism_window_list(p.w, NULL, 0), 2);
	assert_int_equal(atomic_load(&p.fe_result), 0);
	pair_down(&p);
	close(fd);
	close(loose);
}

/* Raw bytes from a back-end that does not follow the spec. */
static void send_raw(int fd, const void *m, size_t n, int pass_fd)
{
	assert_int_equal(vhost_send_all(fd, m, n, pass_fd, 5000), 0);
}

static uint64_t read_ack(int fd, uint32_t request)
{
	uint8_t h[12], v[8];
	struct ism_rbuf rb;
	struct vhost_hdr hdr;
	uint64_t x;

	assert_int_equal(vhost_recv_all(fd, h, 12, 5000, NULL), 0);
	ism_rbuf_init(&rb, h, 12);
	assert_int_equal(vhost_get_hdr(&rb, &hdr), 0);
	assert_int_equal(hdr.request, request);
	assert_int_equal(hdr.size, 8);
	assert_int_equal(vhost_recv_all(fd, v, 8, 5000, NULL), 0);
	ism_rbuf_init(&rb, v, 8);
	assert_int_equal(vhost_get_u64(&rb, &x), 0);
	return x;
}

static void test_hostile_backend(void **state)
{
	struct vhost_mmap m = { .shm_offset = 0, .len = PG };
	struct ism_wbuf b;
	struct pair p;
	uint8_t msg[64];
	int fd = memfd(PG, true), n;

	(void)state;
	pair_up(&p);
	/* fd-less SHMEM_MAP: an error, the channel goes on. */
	vhost_msg_begin(&b, msg, sizeof(msg), ISM_VHOST_USER_BACKEND_SHMEM_MAP,
			ISM_VHOST_USER_VERSION |
				ISM_VHOST_USER_FLAG_NEED_REPLY);
	vhost_put_mmap(&b, &m);
	n = vhost_msg_end(&b);
	send_raw(p.chan_be, msg, (size_t)n, -1);
	assert_int_equal(read_ack(p.chan_be, ISM_VHOST_USER_BACKEND_SHMEM_MAP),
			 EBADF);
	/* A SHMEM_UNMAP with an fd it has no use for: refused, fd closed. */
	msg[0] = ISM_VHOST_USER_BACKEND_SHMEM_UNMAP;
	send_raw(p.chan_be, msg, (size_t)n, fd);
	assert_int_equal(
		read_ack(p.chan_be, ISM_VHOST_USER_BACKEND_SHMEM_UNMAP),
		EINVAL);
	/* An oversized payload for its request (48 bytes): refused. */
	msg[0] = ISM_VHOST_USER_BACKEND_SHMEM_MAP;
	msg[8] = 48;
	memset(msg + n, 0, 8);
	send_raw(p.chan_be, msg, (size_t)n + 8, fd);
	assert_int_equal(read_ack(p.chan_be, ISM_VHOST_USER_BACKEND_SHMEM_MAP),
			 EINVAL);
	/* A request it does not serve. */
	msg[0] = 1; /* IOTLB_MSG */
	msg[8] = 0;
	send_raw(p.chan_be, msg, 12, -1);
	assert_int_equal(read_ack(p.chan_be, 1), ENOSYS);
	assert_int_equal(ism_window_list(p.w, NULL, 0), 0);
	/* Still served. */
	assert_int_equal(
		ism_vhost_be_shmem_map(p.be, 0, fd, 0, 0, PG, ISM_ACCESS_RO),
		0);
	/* A size no request has: the channel is dropped (-EPROTO), the
	 * window keeps what it had. */
	msg[0] = ISM_VHOST_USER_BACKEND_MEM_WRITE;
	msg[8] = 0;
	msg[9] = 0;
	msg[10] = 0x10; /* 1 MiB */
	send_raw(p.chan_be, msg, 12, -1);
	for (int i = 0; i < 500 && atomic_load(&p.fe_result) == 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&p.fe_result), -EPROTO);
	assert_int_equal(ism_window_list(p.w, NULL, 0), 1);
	pair_down(&p);
	close(fd);
}

/* A back-end that asks and never reads its replies: the front-end stops
 * reading from it, and never blocks. */
static void test_backend_not_reading(void **state)
{
	struct vhost_mem_rw rw = { .addr = GUEST_BASE,
				   .size = ISM_VHOST_USER_MEM_RW_MAX };
	struct ism_wbuf b;
	struct pair p;
	uint8_t msg[32];
	int fd = memfd(16 * PG, true), n, sent = 0;

	(void)state;
	pair_up(&p);
	assert_int_equal(ism_vhost_be_shmem_map(p.be, 0, fd, 0, 0, 16 * PG,
						ISM_ACCESS_RO),
			 0);
	vhost_msg_begin(&b, msg, sizeof(msg), ISM_VHOST_USER_BACKEND_MEM_READ,
			ISM_VHOST_USER_VERSION);
	vhost_put_mem_rw(&b, &rw, false);
	n = vhost_msg_end(&b);
	assert_int_equal(ism_set_nonblock(p.chan_be), 0);
	for (int i = 0; i < 10000; i++) {
		ssize_t k = send(p.chan_be, msg, (size_t)n,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k < 0)
			break;
		assert_int_equal(k, n);
		sent++;
	}
	/* The requests filled its socket: the front-end did stop reading
	 * (or each would have been answered and the buffer never full). */
	assert_true(sent < 10000);
	/* The pump thread is not stuck: it stops when told. */
	pair_down(&p);
	close(fd);
}

/* A back-end that claims 300 VIRTIO Shared Memory Regions. */
static void *be_liar(void *arg)
{
	int sock = *(int *)arg;
	struct ism_vhost_be_dev dev = {
		.size = sizeof(dev),
		.protocol_features = 1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM,
	};
	struct ism_vhost_be_state st = { .backend_fd = -1 };
	static struct vhost_shmem_cfg cfg;
	struct ism_wbuf b;
	int n;

	for (int i = 0; i < 3; i++)
		ism_vhost_be_serve_one(sock, &dev, &st, 5000);
	/* SET_FEATURES, then GET_SHMEM_CONFIG: answered with a lie. */
	ism_vhost_be_serve_one(sock, &dev, &st, 5000);
	{
		uint8_t h[12];

		if (vhost_recv_all(sock, h, 12, 5000, NULL) < 0)
			return NULL;
	}
	cfg.n = 300;
	for (int i = 0; i < 256; i++)
		cfg.size[i] = PG;
	vhost_msg_begin(&b, buf, sizeof(buf), ISM_VHOST_USER_GET_SHMEM_CONFIG,
			ISM_VHOST_USER_VERSION | ISM_VHOST_USER_FLAG_REPLY);
	vhost_put_shmem_cfg(&b, &cfg);
	n = vhost_msg_end(&b);
	vhost_send_all(sock, buf, (size_t)n, -1, 5000);
	return NULL;
}

static void test_too_many_regions(void **state)
{
	struct ism_vhost_handshake hs;
	int sp[2];
	pthread_t t;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			 0);
	assert_int_equal(pthread_create(&t, NULL, be_liar, &sp[1]), 0);
	assert_int_equal(
		ism_vhost_fe_handshake(sp[0], 0,
				       1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM,
				       5000, &hs),
		-EPROTO);
	pthread_join(t, NULL);
	close(sp[0]);
	close(sp[1]);
}

/* A front-end's reply, queued before the back-end asks. */
static void queue_reply(int fd, uint32_t request, uint32_t flags, const void *p,
			size_t n)
{
	uint8_t m[ISM_VHOST_USER_HDR_SIZE + 12 + 64];
	struct ism_wbuf b;
	int len;

	vhost_msg_begin(&b, m, sizeof(m), request,
			ISM_VHOST_USER_VERSION | flags);
	ism_wbuf_bytes(&b, p, n);
	len = vhost_msg_end(&b);
	assert_true(len > 0);
	send_raw(fd, m, (size_t)len, -1);
}

static void queue_status(int fd, uint32_t request, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	queue_reply(fd, request, ISM_VHOST_USER_FLAG_REPLY, x, sizeof(x));
}

/* A front-end that lies in its replies: the back-end's calls fail with
 * an errno, never a success, and never wait past their bound. */
static void test_lying_frontend(void **state)
{
	const uint64_t pf = 1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK;
	const uint64_t addr = (1ull << 32) + PG;
	uint8_t back[64], rd[12 + 64] = { 0 };
	struct ism_vhost_be *be;
	int sp[2], mfd = memfd(PG, true);

	(void)state;
	memset(back, 0, sizeof(back));
	for (int k = 0; k < 9; k++) {
		assert_int_equal(
			socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
			0);
		assert_int_equal(ism_vhost_be_create(sp[0], pf, 200, &be), 0);
		switch (k) {
		case 0: /* QEMU's 1: a failure without a reason */
			queue_status(sp[1], ISM_VHOST_USER_BACKEND_SHMEM_MAP,
				     1);
			assert_int_equal(ism_vhost_be_shmem_map(be, 0, mfd, 0,
								0, PG,
								ISM_ACCESS_RW),
					 -EIO);
			break;
		case 1: /* an errno passes through */
			queue_status(sp[1], ISM_VHOST_USER_BACKEND_SHMEM_MAP,
				     EEXIST);
			assert_int_equal(ism_vhost_be_shmem_map(be, 0, mfd, 0,
								0, PG,
								ISM_ACCESS_RO),
					 -EEXIST);
			break;
		case 2: /* out of any errno's range */
			queue_status(sp[1], ISM_VHOST_USER_BACKEND_SHMEM_UNMAP,
				     1ull << 40);
			assert_int_equal(ism_vhost_be_shmem_unmap(be, 0, 0, PG),
					 -EIO);
			break;
		case 3: /* the answer to another request */
			queue_status(sp[1], ISM_VHOST_USER_BACKEND_SHMEM_MAP,
				     0);
			assert_int_equal(ism_vhost_be_shmem_unmap(be, 0, 0, PG),
					 -EPROTO);
			break;
		case 4: /* not flagged as a reply */
			queue_reply(sp[1], ISM_VHOST_USER_BACKEND_MEM_WRITE, 0,
				    "\0\0\0\0\0\0\0\0", 8);
			assert_int_equal(
				ism_vhost_be_mem_write(be, addr, back, 16),
				-EPROTO);
			break;
		case 5: /* MEM_READ's data for another address */
			rd[0] = 8;
			rd[8] = 64;
			queue_reply(sp[1], ISM_VHOST_USER_BACKEND_MEM_READ,
				    ISM_VHOST_USER_FLAG_REPLY, rd, sizeof(rd));
			assert_int_equal(
				ism_vhost_be_mem_read(be, addr, back, 64),
				-EPROTO);
			break;
		case 6: /* MEM_READ "refused" with a zero status */
			queue_status(sp[1], ISM_VHOST_USER_BACKEND_MEM_READ, 0);
			assert_int_equal(
				ism_vhost_be_mem_read(be, addr, back, 64),
				-EPROTO);
			break;
		case 7: /* MEM_READ's data, but less of it */
			memset(rd, 0, sizeof(rd));
			for (int i = 0; i < 8; i++)
				rd[i] = (uint8_t)(addr >> (8 * i));
			rd[8] = 32;
			queue_reply(sp[1], ISM_VHOST_USER_BACKEND_MEM_READ,
				    ISM_VHOST_USER_FLAG_REPLY, rd, 12 + 32);
			assert_int_equal(
				ism_vhost_be_mem_read(be, addr, back, 64),
				-EPROTO);
			break;
		case 8: /* no answer at all: the bound, then an error */
			assert_int_equal(ism_vhost_be_shmem_map(be, 0, mfd, 0,
								0, PG,
								ISM_ACCESS_RW),
					 -ETIMEDOUT);
			break;
		}
		ism_vhost_be_destroy(be);
		close(sp[0]);
		close(sp[1]);
	}
	close(mfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_map_unmap),
		cmocka_unit_test(test_hostile_backend),
		cmocka_unit_test(test_backend_not_reading),
		cmocka_unit_test(test_too_many_regions),
		cmocka_unit_test(test_lying_frontend),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
