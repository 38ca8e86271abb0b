/* SPDX-License-Identifier: MIT */
/*
 * ivshmem domains against clients that speak exactly what QEMU's
 * ivshmem-doorbell reads (8-byte little-endian integers, one fd at most
 * each): the setup sequence, every peer's eventfds both ways, shared
 * memory, doorbells between peers, departure notices, ids not reused, a
 * peer that writes is dropped alone, the peer limit, and refused sizes.
 * (Real QEMU comes in a later test.)
 */
#include "t_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define VECTORS 2
#define SIZE	(1u << 20)

/* libism zero-fills the reserved tail of every struct it fills. */
#define assert_reserved_zero(s)                                                \
	do {                                                                   \
		for (size_t i_ = 0;                                            \
		     i_ < sizeof((s).reserved) / sizeof((s).reserved[0]);      \
		     i_++)                                                     \
			assert_int_equal((s).reserved[i_], 0);                 \
	} while (0)

static char dom_path[100];

/* One message: 1 with *@fd (-1 if none), 0 on timeout, -1 on EOF/error. */
static int get(int s, int64_t *v, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint8_t le[8];
	struct iovec iov = { le, sizeof(le) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct pollfd p = { s, POLLIN, 0 };
	uint64_t x = 0;
	ssize_t n;

	*fd = -1;
	if (poll(&p, 1, 3000) != 1)
		return 0;
	n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n != 8)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	for (int i = 7; i >= 0; i--)
		x = x << 8 | le[i];
	*v = (int64_t)x;
	return 1;
}

static void expect(int s, int64_t want, bool with_fd, int *fd_out)
{
	int64_t v;
	int fd;

	assert_int_equal(get(s, &v, &fd), 1);
	assert_int_equal(v, want);
	if (with_fd)
		assert_true(fd >= 0);
	else
		assert_int_equal(fd, -1);
	if (fd_out)
		*fd_out = fd;
	else if (fd >= 0)
		close(fd);
}

struct client {
	int sock, id, mem;
	int own[VECTORS];
};

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

/* Connect and read the setup up to the memory. */
static void join(struct client *c)
{
	int64_t v;
	int fd;
	struct stat st;

	c->sock = dial(dom_path);
	expect(c->sock, 0, false, NULL); /* version */
	assert_int_equal(get(c->sock, &v, &fd), 1);
	assert_int_equal(fd, -1);
	assert_true(v >= 0 && v <= 65535);
	c->id = (int)v;
	expect(c->sock, -1, true, &c->mem);
	assert_int_equal(fstat(c->mem, &st), 0);
	assert_int_equal(st.st_size, SIZE);
}

/* Its own eventfds, one per vector, in order. */
static void own_vectors(struct client *c)
{
	for (int v = 0; v < VECTORS; v++)
		expect(c->sock, c->id, true, &c->own[v]);
}

static void leave(struct client *c)
{
	close(c->sock);
	close(c->mem);
	for (int v = 0; v < VECTORS; v++)
		close(c->own[v]);
}

static void nothing_more(int s)
{
	struct pollfd p = { s, POLLIN, 0 };

	assert_int_equal(poll(&p, 1, 100), 0);
}

static void test_two_peers(void **state)
{
	struct client a, b, c;
	int b_to_a[VECTORS], a_to_b[VECTORS];
	uint64_t one = 1, got;
	char *ma, *mb;

	(void)state;
	join(&a);
	own_vectors(&a);
	nothing_more(a.sock);
	join(&b);
	assert_true(b.id != a.id);
	/* b learns a's eventfds, then its own; a learns b's. */
	for (int v = 0; v < VECTORS; v++)
		expect(b.sock, a.id, true, &b_to_a[v]);
	own_vectors(&b);
	for (int v = 0; v < VECTORS; v++)
		expect(a.sock, b.id, true, &a_to_b[v]);
	/* One memory. */
	ma = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, a.mem, 0);
	mb = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b.mem, 0);
	assert_true(ma != MAP_FAILED && mb != MAP_FAILED);
	strcpy(ma + 4096, "from a");
	assert_string_equal(mb + 4096, "from a");
	/* Doorbells: b rings a's vector 1, a rings b's vector 0. */
	assert_int_equal(write(b_to_a[1], &one, 8), 8);
	assert_int_equal(read(a.own[1], &got, 8), 8);
	assert_int_equal(got, 1);
	assert_int_equal(write(a_to_b[0], &one, 8), 8);
	assert_int_equal(read(b.own[0], &got, 8), 8);
	/* a writes a byte: a protocol violation; only a goes, b is told. */
	assert_int_equal(write(a.sock, "x", 1), 1);
	expect(b.sock, a.id, false, NULL);
	assert_true(t_daemon_alive(&t_group));
	/* A newcomer gets a fresh id and only b's eventfds. */
	join(&c);
	assert_true(c.id != a.id && c.id != b.id);
	for (int v = 0; v < VECTORS; v++)
		expect(c.sock, b.id, true, NULL);
	own_vectors(&c);
	nothing_more(c.sock);
	for (int v = 0; v < VECTORS; v++)
		expect(b.sock, c.id, true, NULL);
	/* The memory is still the one a wrote. */
	{
		char *mc = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, c.mem, 0);

		assert_true(mc != MAP_FAILED);
		assert_string_equal(mc + 4096, "from a");
		munmap(mc, SIZE);
	}
	/* b hangs up: c is told. */
	leave(&b);
	expect(c.sock, b.id, false, NULL);
	munmap(ma, SIZE);
	munmap(mb, SIZE);
	leave(&a);
	leave(&c);
	for (int v = 0; v < VECTORS; v++) {
		close(b_to_a[v]);
		close(a_to_b[v]);
	}
	t_msleep(200); /* ismd sees the hang-ups before the next test */
}

/* peers=3: the fourth is refused (closed at once) while three are in. */
static void test_peer_limit(void **state)
{
	struct client p[3];
	int s;
	char ch;

	(void)state;
	for (int i = 0; i < 3; i++) {
		join(&p[i]);
		for (int k = 0; k < i; k++)
			for (int v = 0; v < VECTORS; v++)
				expect(p[i].sock, p[k].id, true, NULL);
		own_vectors(&p[i]);
		for (int k = 0; k < i; k++)
			for (int v = 0; v < VECTORS; v++)
				expect(p[k].sock, p[i].id, true, NULL);
	}
	s = dial(dom_path);
	{
		struct pollfd pf = { s, POLLIN, 0 };

		assert_int_equal(poll(&pf, 1, 3000), 1);
		assert_int_equal(read(s, &ch, 1), 0);
	}
	close(s);
	for (int i = 0; i < 3; i++)
		leave(&p[i]);
}

static int member_child(void *arg)
{
	struct ism_conn *c;
	struct ism_ivshmem *m;

	(void)arg;
	if (ism_conn_open(t_group.sock, NULL, &c) < 0 ||
	    ism_ivshmem_join(c, "test", &m) < 0)
		return 1;
	pause();
	return 0;
}

/* An ism peer joins: a fake QEMU learns its eventfds, they ring each
 * other both ways (the member through ismd), share memory, and the
 * member's departure (its connection closed) reaches the QEMU. */
static void test_ism_member(void **state)
{
	struct ism_conn *c = t_connect(&t_group, "member", 0);
	struct ism_ivshmem_domain dl[4];
	struct ism_ivshmem_peer pl[8];
	struct ism_ivshmem *m;
	struct client q;
	int q_to_m[VECTORS], n, dom;
	uint64_t one = 1, got;
	char *mm, *mq;
	void *addr;

	(void)state;
	memset(dl, 0xa5, sizeof(dl));
	memset(pl, 0xa5, sizeof(pl));
	n = ism_ivshmem_list(c, dl, 4);
	assert_int_equal(n, 2); /* test, v2 */
	assert_reserved_zero(dl[0]);
	assert_reserved_zero(dl[1]);
	assert_string_equal(dl[0].name, "test");
	assert_string_equal(dl[1].name, "v2");
	assert_int_equal(dl[0].vectors, VECTORS);
	assert_int_equal(dl[0].size, SIZE);
	assert_true(dl[0].flags & ISM_IVSHMEM_MAY_JOIN); /* root: admin */
	dom = (int)dl[0].id;
	assert_int_equal(ism_ivshmem_join(c, "nope", &m), -ENOENT);
	join(&q);
	own_vectors(&q);
	assert_int_equal(ism_ivshmem_join(c, "test", &m), 0);
	assert_int_equal(ism_ivshmem_join(c, "test", &m) == -EALREADY, 1);
	assert_int_equal(ism_ivshmem_vectors(m), VECTORS);
	assert_true(ism_ivshmem_id(m) != (uint32_t)q.id);
	/* The QEMU learns the member like any peer. */
	for (int v = 0; v < VECTORS; v++)
		expect(q.sock, ism_ivshmem_id(m), true, &q_to_m[v]);
	n = ism_ivshmem_peers(c, (uint32_t)dom, pl, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		assert_reserved_zero(pl[i]);
	for (int i = 0; i < n; i++)
		if (pl[i].id == ism_ivshmem_id(m)) {
			assert_int_equal(pl[i].kind, ISM_IVSHMEM_ISM);
			assert_int_equal(pl[i].ism_peer, ism_conn_peer_id(c));
		} else {
			assert_int_equal(pl[i].kind, ISM_IVSHMEM_QEMU);
		}
	/* Memory. */
	assert_int_equal(ism_ivshmem_map(m, &addr), 0);
	mm = addr;
	mq = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, q.mem, 0);
	assert_true(mq != MAP_FAILED);
	strcpy(mm + 64, "host wrote");
	assert_string_equal(mq + 64, "host wrote");
	/* QEMU rings the member's vector 1. */
	assert_int_equal(write(q_to_m[1], &one, 8), 8);
	assert_int_equal(read(ism_ivshmem_vector_fd(m, 1), &got, 8), 8);
	assert_int_equal(got, 1);
	/* The member rings the QEMU's vector 0 (through ismd). */
	assert_int_equal(ism_ivshmem_ring(c, (uint32_t)dom, (uint32_t)q.id, 0),
			 0);
	{
		struct pollfd p = { q.own[0], POLLIN, 0 };

		assert_int_equal(poll(&p, 1, 3000), 1);
		assert_int_equal(read(q.own[0], &got, 8), 8);
	}
	assert_int_equal(ism_ivshmem_ring(c, (uint32_t)dom, 65535, 0), -ENOENT);
	assert_int_equal(
		ism_ivshmem_ring(c, (uint32_t)dom, (uint32_t)q.id, VECTORS),
		-EINVAL);
	assert_int_equal(ism_ivshmem_ring(c, 9, (uint32_t)q.id, 0), -ENOENT);
	assert_int_equal(ism_ivshmem_vector_fd(m, VECTORS), -EINVAL);
	/* It leaves: the QEMU is told. */
	{
		uint32_t mid = ism_ivshmem_id(m);

		ism_ivshmem_leave(m);
		expect(q.sock, mid, false, NULL);
	}
	/* A member whose process dies: the QEMU is told too. */
	{
		pid_t pid = t_fork(member_child, NULL);
		int64_t v;
		int fd;

		for (int k = 0; k < VECTORS; k++) {
			assert_int_equal(get(q.sock, &v, &fd), 1);
			assert_true(fd >= 0);
			close(fd);
		}
		t_kill(pid, SIGKILL);
		assert_int_equal(t_wait(pid), 128 + SIGKILL);
		expect(q.sock, v, false, NULL);
	}
	ism_conn_close(c);
	munmap(mq, SIZE);
	leave(&q);
	for (int v = 0; v < VECTORS; v++)
		close(q_to_m[v]);
	t_msleep(200);
}

/* Run ismctl with @args; its stdout in @out; returns the exit status. */
static int ismctl(const char *const *args, char *out, size_t cap)
{
	const char *prog = t_prog("ISMCTL", "ismctl/ismctl");
	char *argv[16];
	int pfd[2], st, n = 0;
	size_t got = 0;
	pid_t pid;

	argv[n++] = (char *)"ismctl";
	argv[n++] = (char *)"--socket";
	argv[n++] = t_group.sock;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execv(prog, argv);
		_exit(127);
	}
	close(pfd[1]);
	for (ssize_t r;
	     got + 1 < cap && (r = read(pfd[0], out + got, cap - 1 - got)) > 0;)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ismctl ivshmem: list, peers, ring a QEMU's doorbell, refusals. */
static void test_ismctl(void **state)
{
	static const char *const list[] = { "ivshmem", "list", NULL };
	static const char *const jlist[] = { "--json", "ivshmem", "list",
					     NULL };
	static const char *const peers[] = { "ivshmem", "peers", "test", NULL };
	static const char *const bad[] = { "ivshmem", "ring", "test",
					   "1",	      "99",   NULL };
	static const char *const none[] = { "ivshmem", "peers", "nope", NULL };
	char out[4096], id[8];
	const char *ring[] = { "ivshmem", "ring", "test", id, "1", NULL };
	struct client q;
	uint64_t got;

	(void)state;
	join(&q);
	own_vectors(&q);
	assert_int_equal(ismctl(list, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "test"));
	assert_non_null(strstr(out, "1/3"));
	assert_int_equal(ismctl(jlist, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"domains\""));
	assert_int_equal(ismctl(peers, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "qemu"));
	snprintf(id, sizeof(id), "%d", q.id);
	assert_int_equal(ismctl(ring, out, sizeof(out)), 0);
	{
		struct pollfd p = { q.own[1], POLLIN, 0 };

		assert_int_equal(poll(&p, 1, 3000), 1);
		assert_int_equal(read(q.own[1], &got, 8), 8);
	}
	assert_int_equal(ismctl(bad, out, sizeof(out)), 2);
	assert_int_equal(ismctl(none, out, sizeof(out)), 1);
	leave(&q);
	t_msleep(200);
}

/* layout=v2: output sections writable by their owner only (the kernel
 * refuses write access to the others' and to the state table), state
 * changes published and rung on vector 0, and a QEMU v1 device mapping
 * the read-write section. */
static void test_layout_v2(void **state)
{
	struct ism_conn *ca = t_connect(&t_group, "v2-a", 0);
	struct ism_conn *cb = t_connect(&t_group, "v2-b", 0);
	struct ism_ivshmem *a, *b, *v1;
	struct ism_ivshmem_layout l;
	const _Atomic uint32_t *tab;
	const void *seen;
	void *mine;
	uint64_t n;
	struct pollfd p;

	(void)state;
	assert_int_equal(ism_ivshmem_join(ca, "v2", &a), 0);
	assert_int_equal(ism_ivshmem_join(cb, "v2", &b), 0);
	assert_true(ism_ivshmem_id(a) < 4 && ism_ivshmem_id(b) < 4);
	memset(&l, 0xa5, sizeof(l));
	assert_int_equal(ism_ivshmem_layout(a, &l), 0);
	assert_reserved_zero(l);
	assert_int_equal(l.layout, 2);
	assert_int_equal(l.output_size, 16384);
	assert_int_equal(l.state_size, 4096);
	/* b joined after a: a's vector 0 is rung (by a ringer thread,
	 * shortly); drain it. */
	p = (struct pollfd){ ism_ivshmem_vector_fd(a, 0), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 3000), 1);
	assert_int_equal(read(ism_ivshmem_vector_fd(a, 0), &n, 8), 8);

	assert_int_equal(ism_ivshmem_output(a, &mine), 0);
	strcpy(mine, "a's output");
	assert_int_equal(ism_ivshmem_peer_output(b, ism_ivshmem_id(a), &seen),
			 0);
	assert_string_equal(seen, "a's output");
	/* Read-only for real: the mapping cannot be made writable. */
	assert_int_equal(mprotect((void *)seen, 16384, PROT_READ | PROT_WRITE),
			 -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(ism_ivshmem_peer_output(b, ism_ivshmem_id(b), &seen),
			 -ENOENT); /* its own is ism_ivshmem_output */
	assert_int_equal(ism_ivshmem_peer_output(b, 65535, &seen), -ENOENT);

	/* State: a publishes 7; b is rung on vector 0 and reads it. */
	assert_int_equal(ism_ivshmem_state_table(b, &tab), 0);
	assert_int_equal(atomic_load_explicit(&tab[ism_ivshmem_id(a)],
					      memory_order_acquire),
			 0);
	assert_int_equal(ism_ivshmem_set_state(a, 7), 0);
	p = (struct pollfd){ ism_ivshmem_vector_fd(b, 0), POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 3000), 1);
	assert_int_equal(read(p.fd, &n, 8), 8);
	/* Read the eventfd, then load (acquire): at least the new value. */
	assert_int_equal(atomic_load_explicit(&tab[ism_ivshmem_id(a)],
					      memory_order_acquire),
			 7);
	assert_int_equal(mprotect((void *)tab, 4096, PROT_READ | PROT_WRITE),
			 -1);
	/* a leaves: its state reads 0 again, b is rung, its section is
	 * gone from ismd. */
	{
		uint32_t aid = ism_ivshmem_id(a);

		ism_ivshmem_leave(a);
		assert_int_equal(poll(&p, 1, 3000), 1);
		assert_int_equal(read(p.fd, &n, 8), 8);
		assert_int_equal(
			atomic_load_explicit(&tab[aid], memory_order_acquire),
			0);
		assert_int_equal(ism_ivshmem_peer_output(b, aid, &seen),
				 -ENOENT);
	}
	/* A v1 domain has no v2 parts. */
	assert_int_equal(ism_ivshmem_join(ca, "test", &v1), 0);
	assert_int_equal(ism_ivshmem_layout(v1, &l), 0);
	assert_int_equal(l.layout, 1);
	assert_int_equal(ism_ivshmem_output(v1, &mine), -EOPNOTSUPP);
	assert_int_equal(ism_ivshmem_set_state(v1, 1), -EOPNOTSUPP);
	ism_ivshmem_leave(v1);
	/* A QEMU v1 device in the v2 domain maps the read-write section. */
	{
		char path[120];
		struct client q;
		int64_t v;
		int fd;
		struct stat st;

		snprintf(path, sizeof(path), "%s2", dom_path);
		q.sock = dial(path);
		expect(q.sock, 0, false, NULL);
		assert_int_equal(get(q.sock, &v, &fd), 1);
		assert_true(v < 4);
		expect(q.sock, -1, true, &fd);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 65536);
		close(fd);
		close(q.sock);
	}
	ism_ivshmem_leave(b);
	ism_conn_close(ca);
	ism_conn_close(cb);
	t_msleep(200);
}

/* Bad specifications: one line, exit status 2, nothing started. */
static void test_refused_specs(void **state)
{
	static const char *const bad[] = {
		"/tmp/x.sock,size=1536K",
		"/tmp/x.sock",
		"/tmp/x.sock,size=1M,vectors=65",
		"/tmp/x.sock,size=1M,peers=1",
		"size=1M",
		"/tmp/x.sock,size=1M,colour=red",
		"/tmp/x.sock,size=1M,output=16K",
		"/tmp/x.sock,size=1M,layout=v3",
		"/tmp/x.sock,size=1M,layout=v2,output=5000",
	};
	const char *ismd = t_prog("ISMD", "ismd/ismd");

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int pfd[2], st;
		char out[512] = { 0 };
		pid_t pid;
		ssize_t n;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		if (pid == 0) {
			dup2(pfd[1], 2);
			execl(ismd, "ismd", "--socket", "/nonexistent/s",
			      "--ivshmem", bad[i], (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		n = read(pfd[0], out, sizeof(out) - 1);
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 2);
		assert_true(n > 0);
		assert_non_null(strstr(out, "--ivshmem"));
		assert_int_equal(strchr(out, '\n') - out, n - 1); /* one line */
	}
}

static char spec[300];

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_peers),
		cmocka_unit_test(test_peer_limit),
		cmocka_unit_test(test_ism_member),
		cmocka_unit_test(test_ismctl),
		cmocka_unit_test(test_layout_v2),
		cmocka_unit_test(test_refused_specs),
	};
	static char spec2[300];
	static const char *args[] = { "--ivshmem", spec, "--ivshmem", spec2,
				      NULL };
	char tmpl[64]; /* short: sun_path */

	snprintf(tmpl, sizeof(tmpl), "%s/ism-ivsh-XXXXXX", t_tmpdir());
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(dom_path, sizeof(dom_path), "%s/ivsh.sock", tmpl);
	snprintf(spec, sizeof(spec), "%s,size=1M,vectors=%d,name=test,peers=3",
		 dom_path, VECTORS);
	snprintf(spec2, sizeof(spec2),
		 "%s2,size=64K,name=v2,layout=v2,output=16K,peers=4", dom_path);
	t_group_args = args;
	{
		int r = t_exit(cmocka_run_group_tests(tests, t_group_setup,
						      t_group_teardown));

		unlink(dom_path);
		snprintf(spec2, sizeof(spec2), "%s2", dom_path);
		unlink(spec2);
		rmdir(tmpl);
		return r;
	}
}
