/* SPDX-License-Identifier: MIT */
/*
 * Regions end to end against a real ismd: alloc, attach read-only,
 * read-write and without fd, mapping, read/write through ismd, notify and
 * doorbells, detach, destroy, grants, lists and status.
 */
#include "t_daemon.h"
#include "t_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* libism zero-fills the reserved tail of every struct it fills. */
#define assert_reserved_zero(s)                                                \
	do {                                                                   \
		for (size_t i_ = 0;                                            \
		     i_ < sizeof((s).reserved) / sizeof((s).reserved[0]);      \
		     i_++)                                                     \
			assert_int_equal((s).reserved[i_], 0);                 \
	} while (0)

static struct ism_region *alloc(struct ism_conn *c, uint64_t size,
				uint32_t max_access)
{
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = max_access,
				    .name = "test" };
	struct ism_region *r = NULL;

	assert_int_equal(ism_region_alloc(c, size, &o, &r), 0);
	return r;
}

static void test_share_ro(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "owner", 0);
	struct ism_conn *b = t_connect(&t_group, "reader", 0);
	struct ism_region *ra = alloc(a, 10000, ISM_ACCESS_RO), *rb;
	struct ism_region_info ia, ib;
	struct ism_token t;
	struct ism_event ev;
	char *pa, *pb;

	(void)state;
	memset(&ia, 0xa5, sizeof(ia));
	ism_region_info(ra, &ia);
	assert_reserved_zero(ia);
	assert_int_equal(ia.size, 12288); /* rounded to pages */
	assert_true(ia.is_owner);
	assert_int_equal(ia.access, ISM_ACCESS_RW);
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	ism_region_info(rb, &ib);
	assert_int_equal(ib.id, ia.id);
	assert_int_equal(ib.owner, ism_conn_peer_id(a));
	assert_int_equal(ib.access, ISM_ACCESS_RO);
	/* The owner hears of the attach. */
	assert_int_equal(t_wait_event(a, ISM_EV_PEER_ATTACHED, &ev, 5000), 1);
	assert_int_equal(ev.peer, ism_conn_peer_id(b));
	assert_int_equal(ev.access, ISM_ACCESS_RO);
	assert_reserved_zero(ev);

	assert_int_equal(ism_region_map(ra, (void **)&pa), 0);
	assert_int_equal(ism_region_map(rb, (void **)&pb), 0);
	strcpy(pa + 5000, "shared bytes");
	assert_string_equal(pb + 5000, "shared bytes");
	/* Read-only is the kernel's: the mapping cannot be made writable. */
	assert_int_not_equal(mprotect(pb, 4096, PROT_READ | PROT_WRITE), 0);
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			      ism_region_fd(rb), 0),
			 MAP_FAILED);
	assert_int_equal(ism_region_write(rb, 0, "x", 1), -EACCES);
	/* Asking for read-write on a read-only grant is refused. */
	struct ism_region *rw;

	assert_int_equal(ism_region_detach(rb), 0);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RW, 0, &rw),
			 -EACCES);
	assert_int_equal(t_wait_event(a, ISM_EV_PEER_DETACHED, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_DETACH_REQUESTED);
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
}

static void test_rw_and_nofd(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "owner", 0);
	struct ism_conn *b = t_connect(&t_group, "writer", 0);
	struct ism_region *ra = alloc(a, 200000, ISM_ACCESS_RW), *rb, *rn;
	static char big[200000], back[200000];
	struct ism_token t;
	char *pa, *pb;

	(void)state;
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RW, 0, &rb), 0);
	assert_int_equal(ism_region_map(ra, (void **)&pa), 0);
	assert_int_equal(ism_region_map(rb, (void **)&pb), 0);
	pb[100] = 'w';
	assert_int_equal(pa[100], 'w');
	/* Attaching twice is refused. */
	struct ism_region *dup;

	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &dup),
			 -EALREADY);
	ism_region_close(rb);

	/* No fd: everything through ismd, in several protocol chunks. */
	assert_int_equal(
		ism_region_attach(b, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD, &rn),
		0);
	assert_int_equal(ism_region_fd(rn), -1);
	void *p;

	assert_int_equal(ism_region_map(rn, &p), -EBADF);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	assert_int_equal(ism_region_write(rn, 1000, big, 150000), 150000);
	assert_memory_equal(pa + 1000, big, 150000);
	assert_int_equal(ism_region_read(rn, 1000, back, 150000), 150000);
	assert_memory_equal(back, big, 150000);
	/* Out of range, overflowing offsets. */
	assert_int_equal(ism_region_read(rn, ism_region_size(rn), back, 1),
			 -EINVAL);
	assert_int_equal(ism_region_read(rn, UINT64_MAX - 1, back, 4), -EINVAL);
	/* Destroy cuts no-fd access at once. */
	assert_true(ism_region_destroy(ra) >= 1);
	struct ism_event ev;

	assert_int_equal(t_wait_event(b, ISM_EV_REGION_GONE, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_GONE_DESTROYED);
	struct ism_region_info info;

	ism_region_info(rn, &info);
	assert_true(info.gone);
	assert_true(ism_region_read(rn, 0, back, 1) < 0);
	/* The owner's stale mapping reads zeros: the pages were freed. */
	assert_int_equal(pa[1000], 0);
	assert_int_equal(pa[100], 0);
	ism_region_close(rn);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
}

static void test_notify_doorbell(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "a", 0);
	struct ism_conn *b = t_connect(&t_group, "b", 0);
	struct ism_conn *c = t_connect(&t_group, "c", 0);
	struct ism_region *ra = alloc(a, 4096, ISM_ACCESS_RO), *rb, *rc;
	struct ism_token t;
	struct ism_event ev;
	uint64_t cnt;

	(void)state;
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	assert_int_equal(
		ism_region_attach(c, &t, ISM_ACCESS_RO, ISM_ATTACH_NOFD, &rc),
		0);
	/* Everyone but the sender: the owner and c. */
	assert_int_equal(ism_region_notify(rb, 1234), 2);
	struct pollfd p = { .fd = ism_conn_doorbell_fd(a), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(p.fd, &cnt, sizeof(cnt)), sizeof(cnt));
	assert_true(cnt >= 1);
	assert_int_equal(t_wait_event(a, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 1234);
	assert_int_equal(ev.peer, ism_conn_peer_id(b));
	assert_int_equal(ev.region, ism_region_id(ra));
	assert_int_equal(t_wait_event(c, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 1234);
	/* The sender gets nothing back. */
	assert_int_equal(ism_conn_process(b), 0);
	/* The owner notifies too. */
	assert_int_equal(ism_region_notify(ra, 5), 2);
	assert_int_equal(t_wait_event(b, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 5);
	/* One-way notifications arrive the same way. */
	assert_int_equal(ism_region_notify_nowait(ra, 6), 0);
	assert_int_equal(t_wait_event(b, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 6);
	assert_int_equal(t_wait_event(c, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 5);
	assert_int_equal(t_wait_event(c, ISM_EV_NOTIFY, &ev, 5000), 1);
	assert_int_equal(ev.value, 6);
	/* A peer without a reference cannot notify (nor learn it exists). */
	ism_region_close(rc);
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
	ism_conn_close(c);
}

static void test_grants(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "owner", 0);
	struct ism_conn *b = t_connect(&t_group, "friend", 0);
	struct ism_conn *x = t_connect(&t_group, "stranger", 0);
	uint64_t friend = ism_conn_peer_id(b);
	uint32_t uid = (uint32_t)getuid(), other = uid + 1;
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .max_access = ISM_ACCESS_RW,
				    .n_peers = 1,
				    .peers = &friend };
	struct ism_region *r1, *r2, *g;
	struct ism_token t;

	(void)state;
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r1), 0);
	ism_region_token(r1, &t);
	assert_int_equal(ism_region_attach(x, &t, ISM_ACCESS_RO, 0, &g),
			 -EACCES);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RW, 0, &g), 0);
	ism_region_close(g);
	/* A uid grant that excludes us. */
	o.n_peers = 0;
	o.n_uids = 1;
	o.uids = &other;
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r2), 0);
	ism_region_token(r2, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &g),
			 -EACCES);
	ism_region_close(r1);
	ism_region_close(r2);
	ism_conn_close(a);
	ism_conn_close(b);
	ism_conn_close(x);
}

static void test_destroy_rules(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "owner", 0);
	struct ism_conn *b = t_connect(&t_group, "other", 0);
	struct ism_region *ra = alloc(a, 4096, ISM_ACCESS_RO), *rb;
	struct ism_token t;

	(void)state;
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	assert_int_equal(ism_region_destroy(rb), -EPERM); /* not the owner */
	assert_int_equal(ism_region_detach(ra), -EPERM);  /* owners destroy */
	/* Unknown region ids. */
	assert_int_equal(ism_admin_destroy(a, 0x7fffffff00000001ull), -ENOENT);
	assert_int_equal(ism_region_destroy(ra), 1);
	assert_int_equal(ism_region_destroy(ra), -ENOENT); /* already gone */
	/* The token is dead now. */
	struct ism_region *again;

	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &again),
			 -ENOENT);
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
}

static void test_status_lists(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "lister", 0);
	struct ism_conn *b = t_connect(&t_group, "second", 0);
	struct ism_region *ra = alloc(a, 8192, ISM_ACCESS_RO), *rb;
	struct ism_peer_info peers[8];
	struct ism_region_entry regs[8];
	struct ism_ref_entry refs[8];
	struct ism_status st;
	struct ism_token t;
	uint64_t next;
	int n, found = 0;

	(void)state;
	ism_region_token(ra, &t);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	memset(&st, 0xa5, sizeof(st));
	memset(peers, 0xa5, sizeof(peers));
	memset(regs, 0xa5, sizeof(regs));
	memset(refs, 0xa5, sizeof(refs));
	assert_int_equal(ism_admin_status(a, &st), 0);
	assert_reserved_zero(st);
	assert_true(st.peers >= 2);
	assert_true(st.regions >= 1);
	assert_true(st.bytes_used >= 8192);
	assert_string_equal(st.version, ISM_VERSION_STRING);
	struct ism_host_id hid;

	ism_conn_host_id(a, &hid);
	assert_true(ism_host_id_equal(&hid, &st.host_id));
	/* Tests run as root or as ismd's own uid: administrators. */
	assert_true(ism_conn_is_admin(a));
	n = ism_admin_list_peers(a, 0, peers, 8, &next);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++) {
		assert_reserved_zero(peers[i]);
		if (peers[i].id == ism_conn_peer_id(a)) {
			assert_string_equal(peers[i].name, "lister");
			assert_int_equal(peers[i].pid, getpid());
			assert_true(peers[i].flags & ISM_PEER_SELF);
			assert_int_equal(peers[i].regions, 1);
			found++;
		}
	}
	assert_int_equal(found, 1);
	n = ism_admin_list_regions(a, 0, regs, 8, &next);
	assert_true(n >= 1);
	assert_reserved_zero(regs[0]);
	assert_int_equal(
		ism_admin_list_refs(a, ism_region_id(ra), 0, refs, 8, &next),
		2);
	assert_reserved_zero(refs[0]);
	assert_reserved_zero(refs[1]);
	/* Paging: one entry per page walks the whole list. */
	uint64_t cursor = 0;
	int pages = 0;

	do {
		n = ism_admin_list_peers(a, cursor, peers, 1, &next);
		assert_true(n >= 0 && n <= 1);
		cursor = next;
		pages++;
	} while (cursor && pages < 100);
	assert_true(pages >= 2);
	ism_region_close(rb);
	ism_region_close(ra);
	ism_conn_close(a);
	ism_conn_close(b);
}

/* LINGER: when the owner dies or destroys the region, peers that map it
 * can still read what it wrote; a revocation still frees it at once. */
static int linger_owner(void *arg)
{
	int *pipe_w = arg;
	struct ism_conn *c;
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINGER };
	struct ism_region *r;
	struct ism_token t;
	char *m;

	if (ism_conn_open(getenv("T_SOCK"), NULL, &c) < 0 ||
	    ism_region_alloc(c, 4096, &o, &r) < 0 ||
	    ism_region_map(r, (void **)&m) < 0)
		return 1;
	strcpy(m, "last words");
	ism_region_token(r, &t);
	if (write(*pipe_w, &t, sizeof(t)) != sizeof(t))
		return 1;
	pause();
	return 0;
}

static void test_linger(void **state)
{
	struct ism_conn *b = t_connect(&t_group, "survivor", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINGER };
	struct ism_region *rb, *own, *att;
	struct ism_region_info info;
	struct ism_event ev;
	struct ism_token t;
	int p[2];
	char *m;
	pid_t pid;

	(void)state;
	setenv("T_SOCK", t_group.sock, 1);
	assert_int_equal(pipe(p), 0);
	pid = t_fork(linger_owner, &p[1]);
	assert_int_equal(read(p[0], &t, sizeof(t)), sizeof(t));
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &rb), 0);
	assert_int_equal(ism_region_map(rb, (void **)&m), 0);
	t_kill(pid, SIGKILL);
	t_wait(pid);
	assert_int_equal(t_wait_event(b, ISM_EV_REGION_GONE, &ev, 5000), 1);
	assert_int_equal(ev.reason, ISM_GONE_OWNER_LEFT);
	assert_string_equal(m, "last words"); /* still there to drain */
	ism_region_close(rb);
	close(p[0]);
	close(p[1]);

	/* The owner's own destroy lingers too; a revocation does not. */
	for (int revoke = 0; revoke < 2; revoke++) {
		struct ism_conn *c = t_connect(&t_group, "reader", 0);
		char *m2;

		assert_int_equal(ism_region_alloc(b, 4096, &o, &own), 0);
		ism_region_info(own, &info);
		assert_true(info.linger);
		assert_int_equal(ism_region_map(own, (void **)&m), 0);
		strcpy(m, "kept");
		ism_region_token(own, &t);
		assert_int_equal(
			ism_region_attach(c, &t, ISM_ACCESS_RO, 0, &att), 0);
		assert_int_equal(ism_region_map(att, (void **)&m2), 0);
		if (revoke)
			assert_int_equal(
				ism_admin_destroy(c, ism_region_id(att)),
				1); /* the owner is told */
		else
			assert_int_equal(ism_region_destroy(own), 1);
		assert_int_equal(t_wait_event(revoke ? b : c,
					      ISM_EV_REGION_GONE, &ev, 5000),
				 1);
		if (revoke)
			assert_int_equal(m2[0], 0);
		else
			assert_string_equal(m2, "kept");
		ism_region_close(att);
		ism_region_close(own);
		ism_conn_close(c);
	}
	ism_conn_close(b);
}

/* LINK: the owner's socket goes to the first attacher with fds, only. */
static void test_link(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "owner", 0);
	struct ism_conn *b = t_connect(&t_group, "first", 0);
	struct ism_conn *c = t_connect(&t_group, "second", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_LINK };
	struct ism_region *r, *s1, *s2, *s0;
	struct ism_token t;
	int sv[2], link, efd;
	char byte = 0;

	(void)state;
	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	o.link_fd = sv[1];
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), 0);
	close(sv[1]); /* ismd holds it now */
	ism_region_token(r, &t);
	/* A no-fd attacher does not take it. */
	assert_int_equal(
		ism_region_attach(c, &t, ISM_ACCESS_RO, ISM_ATTACH_NOFD, &s0),
		0);
	assert_int_equal(ism_region_take_link(s0), -1);
	assert_int_equal(ism_region_attach(b, &t, ISM_ACCESS_RO, 0, &s1), 0);
	link = ism_region_take_link(s1);
	assert_true(link >= 0);
	assert_int_equal(ism_region_take_link(s1), -1); /* taken once */
	ism_region_close(s0);
	assert_int_equal(ism_region_attach(c, &t, ISM_ACCESS_RO, 0, &s2), 0);
	assert_int_equal(ism_region_take_link(s2), -1);
	/* A direct line between owner and first attacher. */
	assert_int_equal(send(link, "k", 1, MSG_DONTWAIT), 1);
	assert_int_equal(recv(sv[0], &byte, 1, 0), 1);
	assert_int_equal(byte, 'k');
	close(link); /* the attacher's end: the owner sees the hang-up */
	assert_int_equal(recv(sv[0], &byte, 1, 0), 0);
	close(sv[0]);
	ism_region_close(s2);
	ism_region_close(s1);
	ism_region_close(r);
	/* A link that is not a connected SEQPACKET socket is refused. */
	efd = eventfd(0, EFD_CLOEXEC);
	o.link_fd = efd;
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), -EBADMSG);
	close(efd);
	o.link_fd = -1;
	assert_int_equal(ism_region_alloc(a, 4096, &o, &r), -EBADF);
	ism_conn_close(c);
	ism_conn_close(b);
	ism_conn_close(a);
}

#define NR_HUGE	  "/proc/sys/vm/nr_hugepages"
#define FREE_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/* Without free huge pages: a fallback with the reason, or a refusal. */
static void test_hugetlb_fallback(void **state)
{
	struct ism_conn *a = t_connect(&t_group, "huge", 0);
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_HUGETLB };
	struct ism_region_info info;
	struct ism_region *r;

	(void)state;
	if (t_read_long(FREE_HUGE) != 0) {
		fprintf(stderr, "skipped: free huge pages exist\n");
		ism_conn_close(a);
		skip();
	}
	assert_int_equal(ism_region_alloc(a, 3 << 20, &o, &r), 0);
	ism_region_info(r, &info);
	assert_false(info.huge);
	assert_int_equal(info.page_size, 4096);
	assert_int_equal(info.huge_errno, ENOMEM);
	ism_region_close(r);
	o.flags |= ISM_ALLOC_HUGETLB_REQUIRED;
	assert_int_equal(ism_region_alloc(a, 3 << 20, &o, &r), -ENOMEM);
	ism_conn_close(a);
}

/* With huge pages reserved (root only): a real hugetlb region, mapped by
 * two peers and written without an fd (ismd's mapping path). */
static void test_hugetlb(void **state)
{
	struct ism_conn *a, *b;
	struct ism_alloc_opts o = { .size = sizeof(o),
				    .flags = ISM_ALLOC_HUGETLB |
					     ISM_ALLOC_HUGETLB_REQUIRED,
				    .max_access = ISM_ACCESS_RW };
	struct ism_region_info info;
	struct ism_region *r, *s;
	struct ism_token t;
	long before = t_read_long(NR_HUGE);
	char *m, buf[8];

	(void)state;
	if (geteuid() != 0 || before < 0 ||
	    t_write_long(NR_HUGE, before + 4) < 0 ||
	    t_read_long(FREE_HUGE) < 2) {
		if (before >= 0 && geteuid() == 0)
			t_write_long(NR_HUGE, before);
		fprintf(stderr, "skipped: cannot reserve huge pages here\n");
		skip();
	}
	a = t_connect(&t_group, "huge-owner", 0);
	b = t_connect(&t_group, "huge-writer", 0);
	assert_int_equal(ism_region_alloc(a, 3 << 20, &o, &r), 0);
	ism_region_info(r, &info);
	assert_true(info.huge);
	assert_int_equal(info.page_size, 2 << 20);
	assert_int_equal(info.size, 4 << 20);
	assert_int_equal(ism_region_map(r, (void **)&m), 0);
	ism_region_token(r, &t);
	assert_int_equal(
		ism_region_attach(b, &t, ISM_ACCESS_RW, ISM_ATTACH_NOFD, &s),
		0);
	assert_int_equal(ism_region_write(s, (3 << 20) + 5, "huge!", 6), 6);
	assert_string_equal(m + (3 << 20) + 5, "huge!");
	assert_int_equal(ism_region_read(s, (3 << 20) + 5, buf, 6), 6);
	assert_string_equal(buf, "huge!");
	ism_region_close(s);
	ism_region_close(r);
	ism_conn_close(b);
	ism_conn_close(a);
	assert_int_equal(t_write_long(NR_HUGE, before), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_ro),
		cmocka_unit_test(test_rw_and_nofd),
		cmocka_unit_test(test_notify_doorbell),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_destroy_rules),
		cmocka_unit_test(test_status_lists),
		cmocka_unit_test(test_linger),
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_hugetlb_fallback),
		cmocka_unit_test(test_hugetlb),
	};

	return t_exit(
		cmocka_run_group_tests(tests, t_group_setup, t_group_teardown));
}
