/* SPDX-License-Identifier: MIT */
/*
 * ism-bench window: windows, pools and vhost-user memory access, each
 * against its baseline in the same round.
 *
 * 1. Map + unmap of 64 KiB of a sealed memfd: into a window with libism
 *    (ism_window_map + ism_window_unmap: MAP_FIXED over the reservation
 *    and back to PROT_NONE, with the checks) against a bare mmap(NULL) +
 *    munmap of the same file range (map_vs_mmap: library time / bare
 *    time), and through ismd (ism_window_map_region +
 *    ism_window_unmap_region: the mapper's round trips to ismd and the
 *    owner's, whose libism a second thread serves; reported against the
 *    bare pair too).
 * 2. Bounce: ism_pool_bounce_in + _out of 64 KiB between private memory
 *    and a pool buffer in a window mapping, against memcpy in and out of
 *    the same memory (bounce_vs_memcpy: bounce GB/s / memcpy GB/s).
 * 3. vhost-user MEM_READ and MEM_WRITE of 4 KiB and 64 KiB: a back-end
 *    (this thread) asks a front-end (another thread serving its channel
 *    into a window), against the same request/reply exchange over an
 *    AF_UNIX stream pair with no checks (a 12-byte request answered with
 *    the data; the data answered with an 8-byte status).
 * Each figure is the median over rounds; each ratio the median of the
 * rounds' own ratios.
 */
#include "bench.h"
#include "util/spawn.h"
#include "util/util.h"

#include <ism.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAP_LEN	  (64u * 1024)
#define MAP_ITERS 2000u
#define IPC_ITERS 400u
#define COPY_LEN  (64u * 1024)
#define GUEST	  (1ull << 32)

enum {
	F_MMAP,
	F_FIXED,
	F_LIB,
	F_ISMD,
	F_MEMCPY,
	F_BOUNCE,
	F_RD4,
	F_UX_RD4,
	F_RD64,
	F_UX_RD64,
	F_WR4,
	F_UX_WR4,
	F_WR64,
	F_UX_WR64,
	NFIG
};

static const struct bench_fig figs[NFIG] = {
	[F_MMAP] = { "mmap_munmap_64k", "us" },
	[F_FIXED] = { "fixed_replace_pair_64k", "us" },
	[F_LIB] = { "window_map_unmap_64k", "us" },
	[F_ISMD] = { "ismd_map_unmap_64k", "us" },
	[F_MEMCPY] = { "memcpy_in_out_64k", "GB/s" },
	[F_BOUNCE] = { "bounce_in_out_64k", "GB/s" },
	[F_RD4] = { "mem_read_4k", "GB/s" },
	[F_UX_RD4] = { "unix_read_4k", "GB/s" },
	[F_RD64] = { "mem_read_64k", "GB/s" },
	[F_UX_RD64] = { "unix_read_64k", "GB/s" },
	[F_WR4] = { "mem_write_4k", "GB/s" },
	[F_UX_WR4] = { "unix_write_4k", "GB/s" },
	[F_WR64] = { "mem_write_64k", "GB/s" },
	[F_UX_WR64] = { "unix_write_64k", "GB/s" },
};

static const struct bench_ratio rats[] = {
	{ "map_vs_mmap", F_LIB, F_MMAP,
	  "window map+unmap / bare mmap+munmap (time; target <= 1.5)" },
	{ "fixed_vs_mmap", F_FIXED, F_MMAP,
	  "raw MAP_FIXED in + anonymous PROT_NONE back, no checks / bare "
	  "(time)" },
	{ "map_vs_fixed", F_LIB, F_FIXED,
	  "window map+unmap / the raw MAP_FIXED pair (time)" },
	{ "ismd_map_vs_mmap", F_ISMD, F_MMAP,
	  "through ismd / bare mmap+munmap (time)" },
	{ "bounce_vs_memcpy", F_BOUNCE, F_MEMCPY,
	  "pool bounce / memcpy (GB/s; target >= 0.8)" },
	{ "mem_read_vs_unix_4k", F_RD4, F_UX_RD4, "MEM_READ / AF_UNIX (GB/s)" },
	{ "mem_read_vs_unix_64k", F_RD64, F_UX_RD64,
	  "MEM_READ / AF_UNIX (GB/s)" },
	{ "mem_write_vs_unix_4k", F_WR4, F_UX_WR4,
	  "MEM_WRITE / AF_UNIX (GB/s)" },
	{ "mem_write_vs_unix_64k", F_WR64, F_UX_WR64,
	  "MEM_WRITE / AF_UNIX (GB/s)" },
};

static int sealed_memfd(size_t size)
{
	int fd = memfd_create("bench-window", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static double per_op_us(uint64_t ns, unsigned n)
{
	return (double)ns / n / 1000.0;
}

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : -1;
}

/* 1: bare, library. */
static double bare_pair(int fd)
{
	uint64_t t = bench_now();

	for (unsigned i = 0; i < MAP_ITERS; i++) {
		void *p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			return -1;
		munmap(p, MAP_LEN);
	}
	return per_op_us(bench_now() - t, MAP_ITERS);
}

/* The plain way to never leave the range unreserved, with no checks: the
 * file MAP_FIXED over a reservation, then the anonymous PROT_NONE back
 * over it, which the kernel merges with its neighbours (and splits again
 * at the next map).  libism unmaps into holes instead, which do not merge
 * (lib/window/window.c): map_vs_fixed below 1 is that difference. */
static double fixed_pair(int fd)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint8_t *res = mmap(NULL, 8 * MAP_LEN, PROT_NONE, flags, -1, 0);
	uint64_t t;

	if (res == MAP_FAILED)
		return -1;
	t = bench_now();
	for (unsigned i = 0; i < MAP_ITERS; i++) {
		uint8_t *q = res + (i & 7) * MAP_LEN;

		if (mmap(q, MAP_LEN, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
		    mmap(q, MAP_LEN, PROT_NONE, flags | MAP_FIXED, -1, 0) ==
			    MAP_FAILED) {
			munmap(res, 8 * MAP_LEN);
			return -1;
		}
	}
	t = bench_now() - t;
	munmap(res, 8 * MAP_LEN);
	return per_op_us(t, MAP_ITERS);
}

static double lib_pair(struct ism_window *w, int fd)
{
	uint64_t t = bench_now();

	for (unsigned i = 0; i < MAP_ITERS; i++) {
		uint64_t off = (uint64_t)(i & 7) * MAP_LEN;

		if (ism_window_map(w, off, MAP_LEN, fd, 0, ISM_ACCESS_RW,
				   ISM_WINDOW_MAP_SEALED, NULL) < 0 ||
		    ism_window_unmap(w, off, MAP_LEN, ISM_WINDOW_UNMAP_EXACT) !=
			    1)
			return -1;
	}
	return per_op_us(bench_now() - t, MAP_ITERS);
}

/* The window owner's event loop, on a thread. */
struct pump {
	struct ism_conn *c;
	atomic_bool stop;
};

static void *pump_run(void *arg)
{
	struct pump *p = arg;

	while (!atomic_load(&p->stop)) {
		struct pollfd pf = { .fd = ism_conn_fd(p->c),
				     .events = POLLIN };
		struct ism_event ev;

		if (poll(&pf, 1, 20) > 0) {
			ism_conn_process(p->c);
			while (ism_conn_next_event(p->c, &ev) == 1)
				;
		}
	}
	return NULL;
}

static double ismd_pair(struct ism_conn *mapper, uint64_t wid,
			const struct ism_token *tok)
{
	uint64_t t = bench_now();

	for (unsigned i = 0; i < IPC_ITERS; i++) {
		uint64_t map;

		if (ism_window_map_region(mapper, wid, tok, 0, 0, MAP_LEN,
					  ISM_ACCESS_RW, &map) < 0 ||
		    ism_window_unmap_region(mapper, map) < 0)
			return -1;
	}
	return per_op_us(bench_now() - t, IPC_ITERS);
}

/* 2: bounce and memcpy, in and out of @shared (a pool buffer). */
static void bounce_round(struct ism_pool *pool, uint8_t *shared, uint8_t *priv,
			 uint8_t *back, double *mc, double *bo)
{
	unsigned n = 4000;
	uint64_t t;

	t = bench_now();
	for (unsigned i = 0; i < n; i++) {
		memcpy(shared, priv, COPY_LEN);
		__asm__ volatile("" ::: "memory");
		memcpy(back, shared, COPY_LEN);
		__asm__ volatile("" ::: "memory");
	}
	*mc = gbps(2ull * n * COPY_LEN, bench_now() - t);
	t = bench_now();
	for (unsigned i = 0; i < n; i++)
		if (ism_pool_bounce_in(pool, shared, 0, priv, COPY_LEN) < 0 ||
		    ism_pool_bounce_out(pool, shared, 0, back, COPY_LEN) < 0) {
			*bo = -1;
			return;
		}
	*bo = gbps(2ull * n * COPY_LEN, bench_now() - t);
}

/* 3: a front-end serving its back-end channel on a thread. */
struct fe_thread {
	struct ism_vhost_fe *fe;
	int sock;
	atomic_bool stop;
};

static void *fe_run(void *arg)
{
	struct fe_thread *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd pf = { .fd = f->sock };

		pf.events = (short)ism_vhost_fe_poll_events(f->fe);
		if (poll(&pf, 1, 20) > 0 && ism_vhost_fe_process(f->fe) < 0)
			break;
	}
	return NULL;
}

/* The AF_UNIX baseline's server: 'r' + u32 len: answer len bytes; 'w' +
 * u32 len + data: answer 8 bytes; 'q': stop. */
static void *ux_server(void *arg)
{
	int fd = *(int *)arg;
	uint8_t *buf = malloc(COPY_LEN + 16), hdr[12];

	while (buf && bench_read_full(fd, hdr, 12) == 0 && hdr[0] != 'q') {
		uint32_t len;

		memcpy(&len, hdr + 8, 4);
		if (len > COPY_LEN)
			break;
		if (hdr[0] == 'r') {
			if (bench_write_full(fd, buf, len) < 0)
				break;
		} else if (bench_read_full(fd, buf, len) < 0 ||
			   bench_write_full(fd, buf, 8) < 0) {
			break;
		}
	}
	free(buf);
	return NULL;
}

static double ux_io(int fd, bool read, uint32_t len, uint8_t *buf)
{
	uint64_t t = bench_now(), bytes = 0;
	uint8_t hdr[12] = { read ? 'r' : 'w' };

	memcpy(hdr + 8, &len, 4);
	for (unsigned i = 0; i < IPC_ITERS * 4; i++) {
		if (bench_write_full(fd, hdr, 12) < 0)
			return -1;
		if (read ? bench_read_full(fd, buf, len) < 0
			 : (bench_write_full(fd, buf, len) < 0 ||
			    bench_read_full(fd, buf, 8) < 0))
			return -1;
		bytes += len;
	}
	return gbps(bytes, bench_now() - t);
}

static double vhost_io(struct ism_vhost_be *be, bool read, uint32_t len,
		       uint8_t *buf)
{
	uint64_t t = bench_now(), bytes = 0;

	for (unsigned i = 0; i < IPC_ITERS * 4; i++) {
		ssize_t n = read ? ism_vhost_be_mem_read(be, GUEST, buf, len)
				 : ism_vhost_be_mem_write(be, GUEST, buf, len);

		if (n != (ssize_t)len)
			return -1;
		bytes += len;
	}
	return gbps(bytes, bench_now() - t);
}

int bench_window(const struct bench_opts *o)
{
	unsigned rounds = bench_rounds(o, 5);
	static double v[NFIG][BENCH_MAX_ROUNDS];
	struct ism_window *w = NULL, *lw = NULL, *ow = NULL, *vw = NULL;
	struct ism_conn *owner = NULL, *mapper = NULL;
	struct ism_alloc_opts ao = { .size = sizeof(ao),
				     .max_access = ISM_ACCESS_RW };
	struct ism_window_grant g = { .size = sizeof(g),
				      .max_access = ISM_ACCESS_RW };
	struct ism_vhost_fe_opts fo = {
		.size = sizeof(fo),
		.protocol_features = 1ull
				     << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK,
	};
	struct ism_region *region = NULL;
	struct ism_vhost_fe *fe = NULL;
	struct ism_vhost_be *be = NULL;
	struct ism_pool *pool = NULL;
	struct fe_thread ft = { 0 };
	struct pump pump = { 0 };
	struct ism_private d;
	struct ism_token tok;
	pthread_t pt, ftt, uxt;
	bool pumping = false, serving = false, ux = false;
	uint8_t *priv = bench_buffer(COPY_LEN), *back = bench_buffer(COPY_LEN);
	void *shared;
	uint64_t wid;
	int fd = -1, chan[2] = { -1, -1 }, uxs[2] = { -1, -1 }, rc = 1;

	if (!priv || !back || (fd = sealed_memfd(8 * MAP_LEN)) < 0 ||
	    ism_window_create(8 * MAP_LEN, NULL, &w) < 0 ||
	    ism_window_create(8 * MAP_LEN, NULL, &lw) < 0)
		goto out;
	if (ism_private_start(&d, o->ismd, NULL) < 0)
		goto out;
	if (ism_conn_open(d.sock, NULL, &owner) < 0 ||
	    ism_conn_open(d.sock, NULL, &mapper) < 0 ||
	    ism_window_create(8 * MAP_LEN, NULL, &ow) < 0 ||
	    ism_window_register(ow, owner, &g, &wid) < 0 ||
	    ism_region_alloc(mapper, MAP_LEN, &ao, &region) < 0)
		goto stop;
	ism_region_token(region, &tok);
	pump.c = owner;
	if (pthread_create(&pt, NULL, pump_run, &pump) != 0)
		goto stop;
	pumping = true;
	/* The pool: its range is a window mapping of the memfd. */
	if (ism_window_map(w, 0, 2 * COPY_LEN, fd, 0, ISM_ACCESS_RW,
			   ISM_WINDOW_MAP_SEALED, NULL) < 0 ||
	    ism_pool_create(ism_window_base(w), 2 * COPY_LEN, NULL, &pool) <
		    0 ||
	    ism_pool_alloc(pool, COPY_LEN, &shared) < 0)
		goto stop;
	/* vhost-user: a window with 64 KiB mapped at guest address GUEST. */
	if (ism_window_create(MAP_LEN, NULL, &vw) < 0 ||
	    ism_window_map(vw, 0, MAP_LEN, fd, 0, ISM_ACCESS_RW,
			   ISM_WINDOW_MAP_SEALED, NULL) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0 ||
	    ism_vhost_fe_create(chan[0], &fo, &fe) < 0 ||
	    ism_vhost_fe_set_shmem(fe, 0, vw, GUEST) < 0 ||
	    ism_vhost_be_create(chan[1], fo.protocol_features, 5000, &be) < 0)
		goto stop;
	ft.fe = fe;
	ft.sock = chan[0];
	if (pthread_create(&ftt, NULL, fe_run, &ft) != 0)
		goto stop;
	serving = true;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, uxs) < 0 ||
	    pthread_create(&uxt, NULL, ux_server, &uxs[1]) != 0)
		goto stop;
	ux = true;

	for (unsigned r = 0; r < rounds; r++) {
		v[F_MMAP][r] = bare_pair(fd);
		v[F_FIXED][r] = fixed_pair(fd);
		v[F_LIB][r] = lib_pair(lw, fd);
		v[F_ISMD][r] = ismd_pair(mapper, wid, &tok);
		bounce_round(pool, shared, priv, back, &v[F_MEMCPY][r],
			     &v[F_BOUNCE][r]);
		v[F_RD4][r] = vhost_io(be, true, 4096, back);
		v[F_UX_RD4][r] = ux_io(uxs[0], true, 4096, back);
		v[F_RD64][r] = vhost_io(be, true, COPY_LEN, back);
		v[F_UX_RD64][r] = ux_io(uxs[0], true, COPY_LEN, back);
		v[F_WR4][r] = vhost_io(be, false, 4096, priv);
		v[F_UX_WR4][r] = ux_io(uxs[0], false, 4096, priv);
		v[F_WR64][r] = vhost_io(be, false, COPY_LEN, priv);
		v[F_UX_WR64][r] = ux_io(uxs[0], false, COPY_LEN, priv);
	}
	if (bench_report("window", v, figs, NFIG, rats,
			 (int)ISM_ARRAY_SIZE(rats), rounds) == 0) {
		result_note("map/unmap: %u pairs per round, %u through ismd",
			    MAP_ITERS, IPC_ITERS);
		result_note("process cap on window mappings: %u",
			    ism_window_process_cap());
		rc = 0;
	}
stop:
	if (ux) {
		uint8_t q[12] = { 'q' };

		bench_write_full(uxs[0], q, sizeof(q));
		pthread_join(uxt, NULL);
	}
	if (serving) {
		atomic_store(&ft.stop, true);
		pthread_join(ftt, NULL);
	}
	if (pumping) {
		atomic_store(&pump.stop, true);
		pthread_join(pt, NULL);
	}
	ism_vhost_be_destroy(be);
	ism_vhost_fe_destroy(fe);
	ism_pool_destroy(pool);
	ism_window_destroy(vw);
	ism_window_destroy(ow);
	ism_region_close(region);
	ism_conn_close(mapper);
	ism_conn_close(owner);
	ism_private_stop(&d, 1);
	if (rc == 0)
		result_end(o->json);
out:
	for (int i = 0; i < 2; i++) {
		if (chan[i] >= 0)
			close(chan[i]);
		if (uxs[i] >= 0)
			close(uxs[i]);
	}
	ism_window_destroy(w);
	ism_window_destroy(lw);
	if (fd >= 0)
		close(fd);
	free(priv);
	free(back);
	return rc;
}
