/* SPDX-License-Identifier: MIT */
/*
 * Access control under attack: token guessing, a read-only attacher
 * trying every way to write, a read-write attacher trying to truncate or
 * seal, and peers of another uid (policy refusal, grants by uid, what a
 * non-administrator can see and do).  The other-uid cases need root to
 * switch to "nobody" and are skipped, visibly, otherwise.
 */
#include "t_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOBODY 65534

static const char *const daemon_args[] = { "--socket-mode", "0666", NULL };

static void test_token_guessing(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "owner", 0);
	struct ism_conn *thief = t_connect(&t_group, "thief", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *g;
	struct ism_token t, guess;
	unsigned seed = 99;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &r), 0);
	ism_region_token(r, &t);
	for (int i = 0; i < 2000; i++) {
		for (int k = 0; k < ISM_TOKEN_SIZE; k++)
			guess.b[k] = (uint8_t)rand_r(&seed);
		if (i % 2) {
			/* Near misses: the real token with one bit flipped. */
			guess = t;
			guess.b[i % ISM_TOKEN_SIZE] ^= (uint8_t)(1u << (i % 8));
		}
		assert_int_equal(ism_region_attach(thief, &guess, ISM_ACCESS_RO,
						   ISM_ATTACH_NOFD, &g),
				 -ENOENT);
	}
	/* Nor can the region be named by id without a reference. */
	struct ism_peer_info pi;
	uint64_t next;

	assert_int_equal(ism_admin_list_peers(thief, 0, &pi, 1, &next), 1);
	assert_true(t_daemon_alive(&t_group));
	ism_region_close(r);
	ism_conn_close(thief);
	ism_conn_close(owner);
}

static void test_readonly_attacker(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "owner", 0);
	struct ism_conn *evil = t_connect(&t_group, "evil", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *r, *ro, *nofd;
	struct ism_token t;
	char *map, *m2;
	int fd;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 8192, &o, &r), 0);
	assert_int_equal(ism_region_map(r, (void **)&map), 0);
	strcpy(map, "owner's");
	ism_region_token(r, &t);
	assert_int_equal(ism_region_attach(evil, &t, ISM_ACCESS_RO, 0, &ro), 0);
	fd = ism_region_fd(ro);
	/* Every way to write through a read-only fd fails in the kernel. */
	assert_ptr_equal(
		mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
		MAP_FAILED);
	m2 = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	assert_ptr_not_equal(m2, MAP_FAILED);
	assert_int_equal(mprotect(m2, 8192, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(fallocate(fd,
				   FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, 4096),
			 -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(fcntl(fd, F_SETFL, O_RDWR), 0); /* a no-op ... */
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	/* A private copy-on-write mapping writes only to the attacker's copy. */
	{
		char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE, fd, 0);

		assert_ptr_not_equal(priv, MAP_FAILED);
		priv[0] = 'X';
		munmap(priv, 8192);
	}
	assert_string_equal(map, "owner's");
	assert_int_equal(m2[0], 'o');
	munmap(m2, 8192);
	/* Through ismd: a read-only reference cannot write either. */
	assert_int_equal(ism_region_write(ro, 0, "x", 1), -EACCES);
	ism_region_close(ro);
	assert_int_equal(ism_region_attach(evil, &t, ISM_ACCESS_RO,
					   ISM_ATTACH_NOFD, &nofd),
			 0);
	assert_int_equal(ism_region_write(nofd, 0, "x", 1), -EACCES);
	assert_string_equal(map, "owner's");
	ism_region_close(nofd);
	ism_region_close(r);
	ism_conn_close(evil);
	ism_conn_close(owner);
}

static void test_readwrite_attacker(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "owner", 0);
	struct ism_conn *evil = t_connect(&t_group, "evil", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW };
	struct ism_region *r, *rw;
	struct ism_token t;
	struct stat st;
	char *map;
	int fd;

	(void)state;
	assert_int_equal(ism_region_alloc(owner, 8192, &o, &r), 0);
	assert_int_equal(ism_region_map(r, (void **)&map), 0);
	ism_region_token(r, &t);
	assert_int_equal(ism_region_attach(evil, &t, ISM_ACCESS_RW, 0, &rw), 0);
	fd = ism_region_fd(rw);
	/* Seals: no shrinking under the owner's mapping (which would
	 * SIGBUS it), no growing, no new seals. */
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 1 << 20), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Its open file description is its own: flags it sets do not
	 * reach ismd's no-fd writes (O_APPEND would redirect pwrite). */
	assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
	struct ism_region *w;

	ism_region_close(rw);
	assert_int_equal(
		ism_region_attach(evil, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD, &w),
		0);
	assert_int_equal(ism_region_write(w, 100, "ok", 2), 2);
	assert_memory_equal(map + 100, "ok", 2);
	map[8191] = 1; /* the owner's mapping still works */
	ism_region_close(w);
	ism_region_close(r);
	ism_conn_close(evil);
	ism_conn_close(owner);
}

/* ---- another uid ---- */

static bool can_switch(void)
{
	if (geteuid() != 0) {
		fprintf(stderr,
			"skipped: needs root to run a peer as nobody\n");
		return false;
	}
	return true;
}

static int become_nobody(void)
{
	return setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) ? -1 : 0;
}

struct nobody_args {
	const char *sock;
	struct ism_token open_tok, uid_tok;
	uint64_t other_region;
	int rofd; /* inherited read-only fd, or -1 */
};

static int nobody_peer(void *arg)
{
	struct nobody_args *a = arg;
	struct ism_conn *c;
	struct ism_region *r;
	struct ism_peer_info pi[8];
	struct ism_region_entry re[8];
	struct ism_status st;
	uint64_t next;
	char path[64];

	if (become_nobody() < 0)
		return 10;
	if (ism_conn_open(a->sock, NULL, &c) < 0)
		return 11;
	if (ism_conn_is_admin(c))
		return 12;
	/* Only itself in the peer list, nothing in the region list. */
	if (ism_admin_list_peers(c, 0, pi, 8, &next) != 1 ||
	    pi[0].id != ism_conn_peer_id(c) || pi[0].uid != NOBODY)
		return 13;
	if (ism_admin_list_regions(c, 0, re, 8, &next) != 0)
		return 14;
	if (ism_admin_status(c, &st) < 0 || st.pid != 0)
		return 15;
	/* Cannot revoke another's region, nor learn it exists. */
	if (ism_admin_destroy(c, a->other_region) != -ENOENT)
		return 16;
	/* A grant to uid 0 only excludes us; an open grant does not. */
	if (ism_region_attach(c, &a->uid_tok, ISM_ACCESS_RO, 0, &r) != -EACCES)
		return 17;
	if (ism_region_attach(c, &a->open_tok, ISM_ACCESS_RO, 0, &r) < 0)
		return 18;
	/* The fd we got cannot be reopened read-write through /proc. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ism_region_fd(r));
	if (open(path, O_RDWR) >= 0 || errno != EACCES)
		return 19;
	/* Once attached, the region is visible. */
	if (ism_admin_list_regions(c, 0, re, 8, &next) != 1)
		return 20;
	ism_conn_close(c);
	return 0;
}

static void test_other_uid(void **state)
{
	struct ism_conn *owner = t_connect(&t_group, "root-owner", 0);
	struct ism_alloc_opts o = { .size = sizeof(o) };
	uint32_t root = 0;
	struct ism_region *open_r, *uid_r;
	struct nobody_args a = { .sock = t_group.sock };

	(void)state;
	if (!can_switch())
		skip();
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &open_r), 0);
	o.n_uids = 1;
	o.uids = &root;
	assert_int_equal(ism_region_alloc(owner, 4096, &o, &uid_r), 0);
	ism_region_token(open_r, &a.open_tok);
	ism_region_token(uid_r, &a.uid_tok);
	a.other_region = ism_region_id(uid_r);
	assert_int_equal(t_wait(t_fork(nobody_peer, &a)), 0);
	ism_region_close(uid_r);
	ism_region_close(open_r);
	ism_conn_close(owner);
}

static int refused_peer(void *arg)
{
	struct ism_conn *c;
	int r;

	if (become_nobody() < 0)
		return 10;
	r = ism_conn_open(arg, NULL, &c);
	return r == -EACCES ? 0 : 11;
}

static void test_policy_refuses_uid(void **state)
{
	static const char *const args[] = { "--socket-mode", "0666",
					    "--allow-uid", "0", NULL };
	struct ism_private P;

	(void)state;
	if (!can_switch())
		skip();
	assert_int_equal(t_daemon_start(&P, args), 0);
	assert_int_equal(t_wait(t_fork(refused_peer, P.sock)), 0);
	/* Root is still welcome. */
	ism_conn_close(t_connect(&P, "root", 0));
	assert_true(t_daemon_alive(&P));
	assert_int_equal(t_daemon_cleanup(&P), 0);
}

/* Membership by supplementary group (SO_PEERGROUPS): allowed in, and an
 * administrator, without being root or ismd's uid. */
static int grouped_peer(void *arg)
{
	gid_t g = 4242;
	struct ism_conn *c;
	int r;

	if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY))
		return 10;
	r = ism_conn_open(arg, NULL, &c);
	if (r < 0)
		return 11;
	r = ism_conn_is_admin(c) ? 0 : 12;
	ism_conn_close(c);
	return r;
}

static void test_policy_by_group(void **state)
{
	static const char *const args[] = {
		"--socket-mode", "0666", "--allow-gid", "4242",
		"--admin-gid",	 "4242", NULL
	};
	struct ism_private P;

	(void)state;
	if (!can_switch())
		skip();
	assert_int_equal(t_daemon_start(&P, args), 0);
	assert_int_equal(t_wait(t_fork(grouped_peer, P.sock)), 0);
	/* Without the group: refused. */
	assert_int_equal(t_wait(t_fork(refused_peer, P.sock)), 0);
	assert_int_equal(t_daemon_cleanup(&P), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_guessing),
		cmocka_unit_test(test_readonly_attacker),
		cmocka_unit_test(test_readwrite_attacker),
		cmocka_unit_test(test_other_uid),
		cmocka_unit_test(test_policy_refuses_uid),
		cmocka_unit_test(test_policy_by_group),
	};

	t_group_args = daemon_args;
	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
