/* SPDX-License-Identifier: MIT */
/*
 * Windows through ismd, end to end: a peer registers a window, another
 * maps a range of its region into it; overlap, ranges and grants refused;
 * unmap on request; a destroy or a revocation unmaps the window's
 * mapping before it is reported complete (an access right after faults,
 * checked in a child by its signal); a window owner that dies, a mapper
 * that dies, an owner that never answers, ismd restarted with windows
 * live; quotas.
 *
 * The window owner's libism serves ismd's requests whenever its
 * connection is read: here a pump thread keeps reading it, as an event
 * loop would.
 */
#include "t_daemon.h"

#include <ism/window.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096u

/* Reads a connection until stopped, as the owner's event loop would. */
struct pump {
	struct ism_conn *c;
	pthread_t t;
	atomic_bool stop;
};

static void *pump_run(void *arg)
{
	struct pump *p = arg;

	/* ism_conn_fd() stays readable while events are queued, and the
	 * test reads those: so no poll here, a short sleep between reads. */
	while (!atomic_load(&p->stop)) {
		ism_conn_process(p->c);
		t_msleep(1);
	}
	return NULL;
}

static void pump_start(struct pump *p, struct ism_conn *c)
{
	p->c = c;
	atomic_store(&p->stop, false);
	assert_int_equal(pthread_create(&p->t, NULL, pump_run, p), 0);
}

static void pump_stop(struct pump *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->t, NULL);
}

/* Wait for a queued event of @type (the pump reads the socket). */
static int next_event(struct ism_conn *c, uint32_t type, struct ism_event *ev,
		      int ms)
{
	for (int waited = 0; waited <= ms; waited += 5) {
		while (ism_conn_next_event(c, ev) == 1)
			if (ev->type == type)
				return 1;
		t_msleep(5);
	}
	return 0;
}

static struct ism_region *alloc(struct ism_conn *c, uint64_t size,
				uint32_t max_access)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = max_access };
	struct ism_region *r = NULL;

	assert_int_equal(ism_region_alloc(c, size, &o, &r), 0);
	return r;
}

static struct ism_window *window(struct ism_conn *c, uint64_t size,
				 uint32_t max_access, uint64_t *id)
{
	struct ism_window_grant g = { .size = sizeof(g),
				      .max_access = max_access };
	struct ism_window *w;

	assert_int_equal(ism_window_create(size, NULL, &w), 0);
	assert_int_equal(ism_window_register(w, c, &g, id), 0);
	assert_true(*id != 0);
	return w;
}

static void touch(void *p)
{
	volatile char v = *(volatile char *)p;

	(void)v;
}

/* Touch @p in a child: 0 if it could, 128 + the signal if not. */
static int probe(void *p)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_DUMPABLE, 0);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		touch(p);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_map_unmap(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_region *r = alloc(b, 16 * PG, ISM_ACCESS_RW);
	struct ism_window_mapping m[2];
	struct ism_window *w;
	struct ism_event ev;
	struct ism_token t;
	struct pump pa;
	uint64_t wid, map;
	char *src, *base;

	(void)state;
	w = window(a, 64 * PG, ISM_ACCESS_RW, &wid);
	base = ism_window_base(w);
	pump_start(&pa, a);
	assert_int_equal(ism_region_map(r, (void **)&src), 0);
	strcpy(src + 2 * PG, "from the backend");
	ism_region_token(r, &t);
	assert_int_equal(ism_window_map_region(b, wid, &t, 2 * PG, 8 * PG,
					       4 * PG, ISM_ACCESS_RW, &map),
			 0);
	assert_true(map != 0);
	/* Mapped before the mapper was answered. */
	assert_string_equal(base + 8 * PG, "from the backend");
	strcpy(base + 9 * PG, "from the vmm");
	assert_string_equal(src + 3 * PG, "from the vmm");
	assert_int_equal(ism_window_list(w, m, 2), 1);
	assert_int_equal(m[0].offset, 8 * PG);
	assert_int_equal(m[0].len, 4 * PG);
	assert_int_equal(m[0].remote, 1);
	assert_int_equal(m[0].region, ism_region_id(r));
	assert_int_equal(m[0].peer, ism_conn_peer_id(b));
	assert_int_equal(next_event(a, ISM_EV_WINDOW_MAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, 0);
	assert_int_equal(ev.window.id, wid);
	assert_int_equal(ev.window.map, map);
	assert_int_equal(ev.window.offset, 8 * PG);

	/* Refused: overlap, ranges, alignment, unknown window or token. */
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 10 * PG, PG,
					       ISM_ACCESS_RO, NULL),
			 -EEXIST);
	assert_int_equal(ism_window_map_region(b, wid, &t, 15 * PG, 0, 2 * PG,
					       ISM_ACCESS_RO, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 63 * PG, 2 * PG,
					       ISM_ACCESS_RO, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 100, PG,
					       ISM_ACCESS_RO, NULL),
			 -EINVAL);
	assert_int_equal(ism_window_map_region(b, wid + 99, &t, 0, 0, PG,
					       ISM_ACCESS_RO, NULL),
			 -ENOENT);
	{
		struct ism_token bad = t;

		bad.b[0] ^= 1;
		assert_int_equal(ism_window_map_region(b, wid, &bad, 0, 0, PG,
						       ISM_ACCESS_RO, NULL),
				 -ENOENT);
	}
	/* A local mapping the owner made itself is respected too. */
	{
		int fd = ism_region_fd(r);

		assert_int_equal(ism_window_map(w, 20 * PG, PG, fd, 0,
						ISM_ACCESS_RO, 0, NULL),
				 0);
		assert_int_equal(ism_window_map_region(b, wid, &t, 0, 20 * PG,
						       PG, ISM_ACCESS_RO, NULL),
				 -EEXIST);
		assert_int_equal(ism_window_unmap(w, 20 * PG, PG,
						  ISM_WINDOW_UNMAP_EXACT),
				 1);
	}
	/* Unmap on request: gone from the window before the answer. */
	assert_int_equal(ism_window_unmap_region(b, map), 0);
	assert_int_equal(probe(base + 8 * PG), 128 + SIGSEGV);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	assert_int_equal(next_event(a, ISM_EV_WINDOW_UNMAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_REQUESTED);
	assert_int_equal(ev.window.map, map);
	assert_int_equal(ism_window_unmap_region(b, map), -ENOENT);

	/* The owner unmaps on its own: ismd is told, the mapper hears. */
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 0, PG,
					       ISM_ACCESS_RO, &map),
			 0);
	assert_int_equal(ism_window_unmap(w, 0, PG, ISM_WINDOW_UNMAP_EXACT), 1);
	assert_int_equal(t_wait_event(b, ISM_EV_WINDOW_UNMAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_OWNER);
	assert_int_equal(ev.window.map, map);
	assert_int_equal(ism_window_unmap_region(b, map), -ENOENT);

	pump_stop(&pa);
	assert_int_equal(ism_window_destroy(w), 0);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

static void test_grants(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_conn *c = t_connect(&t_group, "other", 0);
	struct ism_region *rw = alloc(b, PG, ISM_ACCESS_RW);
	struct ism_region *ro = alloc(b, PG, ISM_ACCESS_RO);
	uint64_t peer_b = ism_conn_peer_id(b), wro, wonly, map;
	struct ism_window *w1, *w2;
	struct ism_token trw, tro;
	struct pump pa;
	char *base;

	(void)state;
	ism_region_token(rw, &trw);
	ism_region_token(ro, &tro);
	/* A read-only window grant: no read-write mapping. */
	w1 = window(a, 16 * PG, ISM_ACCESS_RO, &wro);
	{
		struct ism_window_grant g = { .size = sizeof(g),
					      .max_access = ISM_ACCESS_RW,
					      .n_peers = 1,
					      .peers = &peer_b };

		assert_int_equal(ism_window_create(16 * PG, NULL, &w2), 0);
		assert_int_equal(ism_window_register(w2, a, &g, &wonly), 0);
		assert_int_equal(ism_window_register(w2, a, &g, &map),
				 -EALREADY);
	}
	pump_start(&pa, a);
	assert_int_equal(ism_window_map_region(b, wro, &trw, 0, 0, PG,
					       ISM_ACCESS_RW, NULL),
			 -EACCES);
	assert_int_equal(ism_window_map_region(b, wro, &trw, 0, 0, PG,
					       ISM_ACCESS_RO, &map),
			 0);
	/* Read-only in the window: from a read-only fd, not writable. */
	base = ism_window_base(w1);
	assert_int_not_equal(mprotect(base, PG, PROT_READ | PROT_WRITE), 0);
	/* The region's own grant: an attacher could only get read-only, so
	 * neither can a mapper (the region's owner included: it is the
	 * grant that counts, as for attach). */
	assert_int_equal(ism_window_map_region(b, wonly, &tro, 0, 0, PG,
					       ISM_ACCESS_RW, NULL),
			 -EACCES);
	assert_int_equal(ism_window_map_region(b, wonly, &tro, 0, 0, PG,
					       ISM_ACCESS_RO, NULL),
			 0);
	/* A peer the window's grant does not name. */
	assert_int_equal(ism_window_map_region(c, wonly, &trw, 0, PG, PG,
					       ISM_ACCESS_RO, NULL),
			 -EACCES);
	pump_stop(&pa);
	ism_window_destroy(w1);
	ism_window_destroy(w2);
	ism_region_close(rw);
	ism_region_close(ro);
	ism_conn_close(c);
	ism_conn_close(b);
	ism_conn_close(a);
}

/* Revocation reaches windows: the destroy (by the owner, or an
 * administrator's revocation) returns only once the window's owner put
 * PROT_NONE there. */
static void revoke_case(bool admin)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_region *r = alloc(b, 4 * PG, ISM_ACCESS_RW);
	struct ism_window *w;
	struct ism_event ev;
	struct ism_token t;
	struct pump pa;
	uint64_t wid, map;
	char *src, *base;

	w = window(a, 16 * PG, ISM_ACCESS_RO, &wid);
	base = ism_window_base(w);
	pump_start(&pa, a);
	assert_int_equal(ism_region_map(r, (void **)&src), 0);
	strcpy(src, "secret");
	ism_region_token(r, &t);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 4 * PG, 4 * PG,
					       ISM_ACCESS_RO, &map),
			 0);
	assert_string_equal(base + 4 * PG, "secret");
	if (admin) {
		/* The test runs as ismd's uid: an administrator. */
		struct ism_conn *adm = t_connect(&t_group, "admin", 0);

		assert_true(ism_conn_is_admin(adm));
		assert_true(ism_admin_destroy(adm, ism_region_id(r)) >= 0);
		ism_conn_close(adm);
	} else {
		assert_true(ism_region_destroy(r) >= 0);
	}
	/* Complete: the window no longer shows the region, at all. */
	assert_int_equal(probe(base + 4 * PG), 128 + SIGSEGV);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	assert_int_equal(next_event(a, ISM_EV_WINDOW_UNMAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_REGION_GONE);
	assert_int_equal(ev.window.map, map);
	pump_stop(&pa);
	ism_window_destroy(w);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

static void test_destroy_reaches_window(void **state)
{
	(void)state;
	revoke_case(false);
}

static void test_revoke_reaches_window(void **state)
{
	(void)state;
	revoke_case(true);
}

/* A window owner in a child: registers, prints its id on @pfd, serves,
 * and is killed. */
struct owner_child {
	const char *sock;
	int pfd;
};

static int owner_main(void *arg)
{
	struct owner_child *o = arg;
	struct ism_window_grant g = { .size = sizeof(g),
				      .max_access = ISM_ACCESS_RW };
	struct ism_conn *c;
	struct ism_window *w;
	uint64_t id;

	if (ism_conn_open(o->sock, NULL, &c) < 0 ||
	    ism_window_create(16 * PG, NULL, &w) < 0 ||
	    ism_window_register(w, c, &g, &id) < 0)
		return 1;
	if (write(o->pfd, &id, sizeof(id)) != sizeof(id))
		return 1;
	for (;;) {
		struct pollfd pf = { .fd = ism_conn_fd(c), .events = POLLIN };

		if (poll(&pf, 1, 1000) > 0 && ism_conn_process(c) < 0)
			return 0;
	}
}

static void test_owner_dies(void **state)
{
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_region *r = alloc(b, PG, ISM_ACCESS_RW);
	struct owner_child o = { .sock = t_group.sock };
	struct ism_event ev;
	struct ism_token t;
	uint64_t wid, map;
	int p[2];
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	o.pfd = p[1];
	pid = t_fork(owner_main, &o);
	assert_int_equal(read(p[0], &wid, sizeof(wid)), sizeof(wid));
	ism_region_token(r, &t);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 0, PG,
					       ISM_ACCESS_RW, &map),
			 0);
	t_kill(pid, SIGKILL);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	/* The mapper hears; the window and the mapping are forgotten. */
	assert_int_equal(t_wait_event(b, ISM_EV_WINDOW_UNMAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_OWNER);
	assert_int_equal(ev.window.map, map);
	assert_int_equal(ism_window_unmap_region(b, map), -ENOENT);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 0, PG,
					       ISM_ACCESS_RW, NULL),
			 -ENOENT);
	close(p[0]);
	close(p[1]);
	ism_region_close(r);
	ism_conn_close(b);
	assert_true(t_daemon_alive(&t_group));
}

/* A mapper in a child: maps the region its token names, reports, waits
 * to be killed. */
struct mapper_child {
	const char *sock;
	uint64_t window;
	struct ism_token tok;
	int pfd;
};

static int mapper_main(void *arg)
{
	struct mapper_child *m = arg;
	struct ism_conn *c;
	uint64_t map;

	if (ism_conn_open(m->sock, NULL, &c) < 0 ||
	    ism_window_map_region(c, m->window, &m->tok, 0, 0, PG,
				  ISM_ACCESS_RO, &map) < 0)
		return 1;
	if (write(m->pfd, &map, sizeof(map)) != sizeof(map))
		return 1;
	pause();
	return 0;
}

static void test_mapper_dies(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "region-owner", 0);
	struct ism_region *r = alloc(b, PG, ISM_ACCESS_RO);
	struct mapper_child m = { .sock = t_group.sock };
	struct ism_window *w;
	struct ism_event ev;
	struct pump pa;
	uint64_t map;
	int p[2];
	pid_t pid;

	(void)state;
	w = window(a, 4 * PG, ISM_ACCESS_RO, &m.window);
	ism_region_token(r, &m.tok);
	pump_start(&pa, a);
	assert_int_equal(pipe(p), 0);
	m.pfd = p[1];
	pid = t_fork(mapper_main, &m);
	assert_int_equal(read(p[0], &map, sizeof(map)), sizeof(map));
	assert_int_equal(probe(ism_window_base(w)), 0);
	t_kill(pid, SIGKILL);
	assert_int_equal(t_wait(pid), 128 + SIGKILL);
	/* Its mappings go with it. */
	assert_int_equal(next_event(a, ISM_EV_WINDOW_UNMAP, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_MAPPER_LEFT);
	assert_int_equal(ev.window.map, map);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	assert_int_equal(probe(ism_window_base(w)), 128 + SIGSEGV);
	pump_stop(&pa);
	close(p[0]);
	close(p[1]);
	ism_window_destroy(w);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

/* Is peer @id still connected?  (The test runs as ismd's uid: it sees
 * every peer.) */
static bool peer_listed(struct ism_conn *c, uint64_t id)
{
	struct ism_peer_info pi[64];
	uint64_t next;
	int n = ism_admin_list_peers(c, 0, pi, 64, &next);

	for (int i = 0; i < n; i++)
		if (pi[i].id == id)
			return true;
	return false;
}

/* An owner that never reads its connection: the mapper is answered
 * ETIMEDOUT, and the owner, told to unmap and silent again, is cut off. */
static void test_owner_silent(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "silent", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_region *r = alloc(b, PG, ISM_ACCESS_RW);
	uint64_t wid, silent = ism_conn_peer_id(a);
	struct ism_window *w;
	struct ism_event ev;
	struct ism_token t;

	(void)state;
	w = window(a, 4 * PG, ISM_ACCESS_RW, &wid);
	ism_region_token(r, &t);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 0, PG,
					       ISM_ACCESS_RW, NULL),
			 -ETIMEDOUT);
	assert_true(T_WAIT_FOR(!peer_listed(b, silent), 20000));
	/* When it reads at last: the mapping ismd asked for, the unmap,
	 * then the end; whatever ismd made is gone. */
	assert_int_equal(t_wait_event(a, ISM_EV_DISCONNECTED, &ev, 5000), 1);
	assert_int_equal(ism_window_list(w, NULL, 0), 0);
	assert_int_equal(ism_window_unregister(w), -ENOENT);
	ism_window_destroy(w);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
	assert_true(t_daemon_alive(&t_group));
}

static void test_quotas(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", 0);
	struct ism_conn *b = t_connect(&t_group, "backend", 0);
	struct ism_region *r = alloc(b, PG, ISM_ACCESS_RW);
	struct ism_window *ws[65], *small;
	struct ism_window_opts o = { .size = sizeof(o), .max_maps = 2 };
	struct ism_window_grant g = { .size = sizeof(g) };
	struct ism_token t;
	struct pump pa;
	uint64_t id;
	unsigned n;

	(void)state;
	/* Windows per peer: 64. */
	for (n = 0; n < 65; n++) {
		assert_int_equal(ism_window_create(PG, NULL, &ws[n]), 0);
		if (ism_window_register(ws[n], a, NULL, &id) < 0)
			break;
	}
	assert_int_equal(n, 64);
	assert_int_equal(ism_window_register(ws[n], a, NULL, &id), -EDQUOT);
	for (unsigned i = 0; i <= n; i++)
		ism_window_destroy(ws[i]);
	/* Mappings per window: the window's own cap. */
	assert_int_equal(ism_window_create(8 * PG, &o, &small), 0);
	assert_int_equal(ism_window_register(small, a, &g, &id), 0);
	ism_region_token(r, &t);
	pump_start(&pa, a);
	assert_int_equal(
		ism_window_map_region(b, id, &t, 0, 0, PG, ISM_ACCESS_RO, NULL),
		0);
	assert_int_equal(ism_window_map_region(b, id, &t, 0, 2 * PG, PG,
					       ISM_ACCESS_RO, NULL),
			 0);
	assert_int_equal(ism_window_map_region(b, id, &t, 0, 4 * PG, PG,
					       ISM_ACCESS_RO, NULL),
			 -ENOSPC);
	pump_stop(&pa);
	ism_window_destroy(small);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

/* ismd restarts with windows live: the reservation and the owner's own
 * mappings survive; mappings ismd made are unmapped (no revocation could
 * reach them any more) and the window must be registered again. */
static void test_restart(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "vmm", ISM_CONN_RECONNECT);
	struct ism_conn *b = t_connect(&t_group, "backend", ISM_CONN_RECONNECT);
	struct ism_region *r = alloc(b, 2 * PG, ISM_ACCESS_RW);
	struct ism_window *w;
	struct ism_event ev;
	struct ism_token t;
	struct pump pa;
	uint64_t wid, wid2;
	char *base;

	(void)state;
	w = window(a, 8 * PG, ISM_ACCESS_RW, &wid);
	base = ism_window_base(w);
	ism_region_token(r, &t);
	pump_start(&pa, a);
	assert_int_equal(ism_window_map_region(b, wid, &t, 0, 0, PG,
					       ISM_ACCESS_RW, NULL),
			 0);
	assert_int_equal(ism_window_map(w, 4 * PG, PG, ism_region_fd(r), PG,
					ISM_ACCESS_RW, 0, NULL),
			 0);
	base[4 * PG] = 'L';
	assert_int_equal(t_daemon_stop(&t_group), 0);
	assert_int_equal(next_event(a, ISM_EV_WINDOW_UNMAP, &ev, 10000), 1);
	assert_int_equal(ev.reason, ISM_WUNMAP_LOST);
	assert_int_equal(probe(base), 128 + SIGSEGV);
	assert_int_equal(probe(base + 4 * PG), 0); /* its own: kept */
	assert_int_equal(t_daemon_restart(&t_group), 0);
	assert_int_equal(next_event(a, ISM_EV_RECONNECTED, &ev, 15000), 1);
	pump_stop(&pa);
	/* Registered again, with the new ismd. */
	assert_int_equal(ism_window_register(w, a, NULL, &wid2), 0);
	assert_int_equal(base[4 * PG], 'L');
	ism_window_destroy(w);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_unmap),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_destroy_reaches_window),
		cmocka_unit_test(test_revoke_reaches_window),
		cmocka_unit_test(test_owner_dies),
		cmocka_unit_test(test_mapper_dies),
		cmocka_unit_test(test_owner_silent),
		cmocka_unit_test(test_quotas),
		cmocka_unit_test(test_restart),
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
