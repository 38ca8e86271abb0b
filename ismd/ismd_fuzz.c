/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a hostile peer against the real request handlers, in process.
 *
 * The input is a sequence of chunks, each [u8 ctl][le16 len][len bytes],
 * sent as one packet on a socketpair whose other end ismd serves exactly
 * as an accepted connection (fds attached when ctl asks).  The first byte
 * chooses the peer's uid (administrator or not) and whether it counts as
 * resumed, so recovery paths are reachable.  A victim peer owns a region
 * whose token is the known value 0x41 * 16, so attach, notify, read and
 * write reach a real region, and a lingering one with token 0x42 * 16,
 * which ctl bit 128 makes the victim destroy (an orphan, if the input
 * mapped it).  After every input the hostile peer is dropped and ismd
 * must be back where it started: one peer, its regions, their references,
 * no pending references, no stream records, and nothing charged to the
 * hostile uid (fds, memory, records: acct.h).
 *
 * Jobs (closes, populate, punch) and doorbell rings run inline here
 * (worker_set_sync, doorbell_set_sync): one thread, no timing.  Odd fds
 * (ctl bits 1|128: a pipe end and a batch past the per-message cap) reach
 * the paths that refuse them.
 *
 * Stream requests get real TCP sockets (ctl bit 16): a fresh one bound on
 * 127.0.0.1 (kept, so a later chunk can connect it), the listening socket
 * (bit 32), or the accepted end of the kept one connected to that
 * listener (bit 64), so a client intent can be claimed.
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct daemon D;
static struct peer *victim;
static int victim_end = -1;
static uint8_t buf[ISM_WIRE_MAX_MSG];
static int tcp_listener = -1;
static int tcp_listen(void);
static char ivsh_spec[128];

static void drain(int fd)
{
	int fds[ISM_WIRE_MAX_FDS];
	unsigned n;

	while (ism_wire_recv(fd, buf, sizeof(buf), fds, &n, MSG_DONTWAIT) > 0)
		ism_close_fds(fds, n);
}

/* Send one request from @fd's side and let ismd handle it. */
static void request(struct peer *p, int fd, const void *msg, size_t len)
{
	if (ism_wire_send(fd, msg, len, NULL, 0, MSG_DONTWAIT) == 0)
		peer_readable(&D, p);
}

#define VICTIM_SIZE 16384u

/* The victim's region with token @tok * 16, made if missing. */
static void make_victim_region(uint8_t tok, uint32_t flags)
{
	uint8_t known[ISM_TOKEN_SIZE];
	struct ism_alloc_req a = { .size = VICTIM_SIZE,
				   .max_access = ISM_ACCESS_RW,
				   .flags = flags };
	struct ism_wbuf b;
	struct region *r;
	uint64_t ta, tb;
	int n;

	memset(known, tok, sizeof(known));
	memcpy(&ta, known, 8);
	memcpy(&tb, known + 8, 8);
	if (ism_map_get(&D.regions.by_token, ta, tb))
		return;
	ism_proto_begin(&b, buf, sizeof(buf), ISM_MSG_ALLOC, 0, 1, 0);
	ism_proto_put_alloc_req(&b, &a);
	n = ism_proto_end(&b);
	request(victim, victim_end, buf, (size_t)n);
	drain(victim_end);
	/* The newest region is the one just made (regions: id order). */
	if (ism_list_empty(&D.regions.ordered))
		abort();
	r = ism_container_of(D.regions.ordered.prev, struct region, all_link);
	if (r->owner != victim)
		abort();
	/* White-box: give it a token the fuzzer can know. */
	{
		uint64_t oa, ob;

		memcpy(&oa, r->token, 8);
		memcpy(&ob, r->token + 8, 8);
		ism_map_del(&D.regions.by_token, oa, ob);
	}
	memcpy(r->token, known, sizeof(known));
	ism_map_put(&D.regions.by_token, ta, tb, r);
}

static void make_victim_regions(void)
{
	make_victim_region(0x41, 0);
	make_victim_region(0x42, ISM_ALLOC_LINGER);
}

/* White-box: the victim destroys its lingering region (an orphan, if the
 * hostile peer maps it). */
static void victim_destroys_linger(void)
{
	uint8_t known[ISM_TOKEN_SIZE];
	struct region *r;
	struct ism_wbuf b;
	uint64_t ta, tb;
	int n;

	memset(known, 0x42, sizeof(known));
	memcpy(&ta, known, 8);
	memcpy(&tb, known + 8, 8);
	r = ism_map_get(&D.regions.by_token, ta, tb);
	if (!r)
		return;
	ism_proto_begin(&b, buf, sizeof(buf), ISM_MSG_DESTROY, 0, 2, 0);
	ism_proto_put_region_req(&b, r->id);
	n = ism_proto_end(&b);
	request(victim, victim_end, buf, (size_t)n);
	drain(victim_end);
}

static uint64_t base_total[ACCT_KINDS];

int LLVMFuzzerInitialize(int *argc, char **argv[])
{
	struct ism_hello_req h = { .min_version = 1, .max_version = 1 };
	struct ism_wbuf b;
	int sv[2], n;

	(void)argc;
	(void)argv;
	memset(&D, 0, sizeof(D));
	ismd_config_defaults(&D.cfg);
	D.cfg.max_memory = 64u << 20;
	D.cfg.q_bytes = 16u << 20;
	D.cfg.q_regions = 32;
	D.cfg.q_refs = 32;
	D.cfg.q_events = 16;
	ismd_log_init(-1); /* silent */
	signal(SIGPIPE, SIG_IGN);
	worker_set_sync(true);
	doorbell_set_sync(true);
	{
		uint64_t caps[ACCT_KINDS];

		D.cfg.max_fds = 4096;
		D.cfg.max_heap = 64u << 20;
		daemon_caps(&D.cfg, caps);
		acct_init(caps, D.cfg.uid_share);
	}
	ism_list_init(&D.peers.all);
	ism_list_init(&D.peers.ordered);
	ism_list_init(&D.regions.ordered);
	ism_list_init(&D.peers.reap);
	ism_list_init(&D.ivsh.domains);
	ism_list_init(&D.ivsh.reap);
	ism_map_init(&D.peers.by_id);
	ism_map_init(&D.regions.by_id);
	ism_map_init(&D.regions.by_token);
	ism_map_init(&D.regions.refs);
	region_init(&D);
	stream_init(&D);
	window_init(&D);
	tcp_listener = tcp_listen();
	/* One ivshmem domain, "fuzz" (layout v2): members can join, ring,
	 * publish state, see sections, leave. */
	{
		char err[128];

		snprintf(ivsh_spec, sizeof(ivsh_spec),
			 "/tmp/ism-fuzz-ivsh-%d.sock,size=64K,vectors=2,"
			 "name=fuzz,peers=4,layout=v2,output=4K",
			 (int)getpid());
		if (ivsh_parse(ivsh_spec, &D.cfg.ivshmem[0], err, sizeof(err)) <
		    0)
			abort();
		D.cfg.n_ivshmem = 1;
	}
	D.page_size = 4096;
	D.huge_page_size = 2u << 20;
	D.rx = malloc(ISM_WIRE_MAX_MSG);
	D.tx = malloc(ISM_WIRE_MAX_MSG);
	D.rep = malloc(ISM_WIRE_MAX_MSG);
	D.req_buf = malloc(ism_proto_req_max_size());
	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	D.listen_fd = D.signal_fd = D.timer_fd = D.lock_fd = -1;
	if (!D.rx || !D.tx || !D.rep || !D.req_buf || D.epfd < 0 ||
	    ismd_state_ephemeral(&D) < 0 || ivsh_init(&D) < 0)
		abort();
	unlink(D.cfg.ivshmem[0].path); /* the socket is not needed */
	D.start_ns = ism_now_ns();
	D.recovery_end_ns = D.start_ns + 3600ull * 1000000000ull;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0, sv) < 0)
		abort();
	victim = peer_adopt(&D, sv[1], 1, 0, 0);
	victim_end = sv[0];
	ism_proto_begin(&b, buf, sizeof(buf), ISM_MSG_HELLO, 0, 1, 0);
	ism_proto_put_hello_req(&b, &h);
	n = ism_proto_end(&b);
	request(victim, victim_end, buf, (size_t)n);
	drain(victim_end);
	if (!victim || !(victim->flags & PEER_HELLO))
		abort();
	make_victim_regions();
	if (D.regions.n != 2)
		abort();
	for (int k = 0; k < ACCT_KINDS; k++)
		base_total[k] = acct_total((enum acct_kind)k);
	return 0;
}

/* The seeds name port ISMD_FUZZ_PORT (fuzz/gen_corpus.c); if it is
 * taken, any port (the seeds then reach less). */
#define ISMD_FUZZ_PORT 47613

static int tcp_listen(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(ISMD_FUZZ_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
	    one = 1;

	if (fd < 0)
		abort();
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		sa.sin_port = 0;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			abort();
	}
	if (listen(fd, 64) < 0)
		abort();
	return fd;
}

/* A TCP socket for a stream request, per @ctl (see the header). */
static int tcp_fd(uint8_t ctl, int *kept)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	if (ctl & 32)
		return dup(tcp_listener);
	if (ctl & 64) {
		if (*kept < 0 ||
		    getsockname(tcp_listener, (struct sockaddr *)&sa, &len) < 0)
			return -1;
		(void)connect(*kept, (struct sockaddr *)&sa, sizeof(sa));
		return accept4(tcp_listener, NULL, NULL, SOCK_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ism_close_fd(kept);
	*kept = dup(fd);
	return fd;
}

static int sealed_memfd(void)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, 16384) < 0 || fchmod(fd, 0600) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
		    0) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer *p;
	size_t off = 1;
	int sv[2], kept = -1;

	if (size < 1)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0, sv) < 0)
		return 0;
	/* Admin (uid 0) or not, per the first byte; bit 7: a guest's peer
	 * (ivsh_guest.c: no fds in its replies). */
	p = peer_adopt(&D, sv[1], (data[0] & 0x80) ? -1 : 2,
		       (data[0] & 1) ? 0 : 1000, 1000);
	if (!p) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	while (off + 3 <= size && !(p->flags & PEER_DEAD)) {
		uint8_t ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		int fds[24], nfds = 0;

		off += 3;
		if (len > size - off)
			len = size - off;
		if ((ctl & 129) == 129) {
			/* More fds than a message may carry. */
			for (; nfds < 20; nfds++)
				fds[nfds] = eventfd(0, EFD_CLOEXEC);
			if (fds[19] < 0) {
				ism_close_fds(fds, (unsigned)nfds);
				break;
			}
			{
				/* By hand: ism_wire_send caps at 16. */
				union {
					struct cmsghdr c;
					char b[CMSG_SPACE(20 * sizeof(int))];
				} u;
				static uint8_t zero;
				struct iovec io = { len ? (void *)(data + off)
							: &zero,
						    len ? len : 1 };
				struct msghdr mh = {
					.msg_iov = &io,
					.msg_iovlen = 1,
					.msg_control = u.b,
					.msg_controllen = sizeof(u.b),
				};
				struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

				c->cmsg_level = SOL_SOCKET;
				c->cmsg_type = SCM_RIGHTS;
				c->cmsg_len = CMSG_LEN(20 * sizeof(int));
				memcpy(CMSG_DATA(c), fds, 20 * sizeof(int));
				(void)sendmsg(sv[0], &mh, MSG_DONTWAIT);
			}
			ism_close_fds(fds, (unsigned)nfds);
			off += len;
			peer_readable(&D, p);
			drain(sv[0]);
			continue;
		}
		if (ctl & 128) {
			victim_destroys_linger();
			/* A pipe end where an eventfd, socket or memfd
			 * belongs. */
			int pp[2];

			if (pipe2(pp, O_CLOEXEC) == 0) {
				close(pp[1]);
				fds[nfds++] = pp[0];
			}
		} else if (ctl & 1) {
			fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		}
		if (ctl & 2)
			fds[nfds++] = sealed_memfd();
		if ((ctl & 16) && nfds < 2)
			fds[nfds++] = tcp_fd(ctl, &kept);
		if ((ctl & 8) && nfds < 2) {
			int pair[2];

			/* A link socket for ALLOC with LINK. */
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
				       0, pair) == 0) {
				fds[nfds++] = pair[0];
				close(pair[1]);
			} else {
				fds[nfds++] = -1;
			}
		}
		if ((nfds > 0 && fds[0] < 0) || (nfds > 1 && fds[1] < 0)) {
			ism_close_fds(fds, (unsigned)nfds);
			break;
		}
		if (len == 0 && nfds == 0) {
			off += 0;
			continue;
		}
		ism_wire_send(sv[0], data + off, len, fds, (unsigned)nfds,
			      MSG_DONTWAIT);
		ism_close_fds(fds, (unsigned)nfds);
		off += len;
		peer_readable(&D, p);
		if ((data[0] & 2) && (p->flags & PEER_HELLO))
			p->flags |=
				PEER_RESUMED; /* white-box: reach REGISTER */
		if (ctl & 4)
			peer_writable(&D, p);
		drain(sv[0]);
		drain(victim_end);
		peer_writable(&D, victim);
	}
	if (!(p->flags & PEER_DEAD))
		peer_kill(&D, p, "fuzz done");
	daemon_reap(&D);
	ism_close_fd(&kept);
	/* Connections the input made but never accepted. */
	for (int fd; (fd = accept4(tcp_listener, NULL, NULL, 0)) >= 0;)
		close(fd);
	drain(victim_end);
	close(sv[0]);
	/* An administrator may have revoked the victim's regions, or the
	 * input had it destroy the lingering one. */
	make_victim_regions();
	if (D.peers.n != 1 || D.regions.n != 2 || D.regions.n_refs != 2 ||
	    D.regions.n_pending != 0 ||
	    acct_total(ACCT_MEM) != 2 * VICTIM_SIZE + 65536 ||
	    D.streams.n != 0 || victim->n_refs != 0 ||
	    D.windows.n_windows != 0 || D.windows.n_maps != 0 ||
	    (victim->flags & PEER_DEAD))
		__builtin_trap();
	/* Nothing left charged for the hostile peer's uid. */
	for (int k = 0; k < ACCT_KINDS; k++)
		if (acct_total((enum acct_kind)k) != base_total[k])
			__builtin_trap();
	return 0;
}
