/* SPDX-License-Identifier: MIT */
/*
 * xns - sockets in other network namespaces: who owns the namespace, a
 * sock_diag socket there, and the sequence numbers of a connection (see
 * xns.h).
 */
#include "xns.h"
#include "conntrack.h"
#include "sockdiag.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netlink.h>
#include <sys/syscall.h>

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif
#ifndef NS_GET_USERNS
#define NS_GET_USERNS _IO(0xb7, 0x1)
#endif
#ifndef TCP_REPAIR_OFF_NO_WP
#define TCP_REPAIR_OFF_NO_WP -1 /* leave repair without a window probe */
#endif

/* ismd's own user namespace; written once before any thread reads it. */
static struct stat own_userns;
static bool own_userns_known, capable;

/* Does ismd hold, effective, what looking into another namespace takes:
 * CAP_NET_ADMIN (SIOCGSKNS, TCP_REPAIR) and CAP_SYS_ADMIN (setns)? */
static bool has_caps(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3
	};
	struct __user_cap_data_struct c[2];

	memset(c, 0, sizeof(c));
	if (syscall(SYS_capget, &h, c) < 0)
		return false;
	return (c[0].effective & (1u << CAP_NET_ADMIN)) &&
	       (c[0].effective & (1u << CAP_SYS_ADMIN));
}

int xns_init(void)
{
	struct stat st;

	capable = false;
	if (stat("/proc/self/ns/user", &st) < 0) {
		own_userns_known = false;
		return -errno;
	}
	own_userns = st;
	own_userns_known = true;
	capable = has_caps();
	return 0;
}

bool xns_capable(void)
{
	return capable;
}

int xns_netns_of(int fd)
{
	int ns = ioctl(fd, SIOCGSKNS);

	if (ns < 0)
		return errno == EINVAL ? -ENOTTY : -errno;
	/* open_related_ns() gives O_CLOEXEC already; say it anyway. */
	(void)fcntl(ns, F_SETFD, FD_CLOEXEC);
	return ns;
}

int xns_trusted(int nsfd)
{
	struct stat st;
	int u, r;

	if (!own_userns_known)
		return -ENOENT;
	u = ioctl(nsfd, NS_GET_USERNS);
	if (u < 0)
		return -errno;
	r = fstat(u, &st) < 0 ? -errno : 0;
	close(u);
	if (r < 0)
		return r;
	return st.st_dev == own_userns.st_dev && st.st_ino == own_userns.st_ino;
}

int xns_is_local(const struct sockaddr *dst, socklen_t len)
{
	struct sockaddr_storage me;
	int fd, r = 1, one = 1;

	if (len > sizeof(me))
		return -EINVAL;
	memcpy(&me, dst, len);
	if (me.ss_family == AF_INET)
		((struct sockaddr_in *)&me)->sin_port = 0;
	else if (me.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&me)->sin6_port = 0;
	else
		return -EAFNOSUPPORT;
	fd = socket(me.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	/* The address is checked at bind; the port search, which only a
	 * connect would need, is left out (and much of the cost with it). */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			 sizeof(one));
	if (bind(fd, (struct sockaddr *)&me, len) < 0)
		r = errno == EADDRNOTAVAIL ? 0 : -errno;
	close(fd);
	return r;
}

/* A question asked in another namespace: @ask runs on a thread of its
 * own that entered @nsfd first.  The thread ends right after, so its
 * namespace never matters again. */
struct in_ns {
	int nsfd;
	int (*ask)(struct in_ns *q);
	int ret;
	/* The question's: */
	const struct sockaddr *dst;
	socklen_t len;
	uint64_t cookie;
	const struct ct_tuple *orig;
	struct ct_tuple *reply;
};

static void *in_ns_thread(void *arg)
{
	struct in_ns *q = arg;

	q->ret = setns(q->nsfd, CLONE_NEWNET) < 0 ? -errno : q->ask(q);
	return NULL;
}

static int ask_in(struct in_ns *q)
{
	pthread_t t;
	int r;

	if (q->nsfd < 0)
		return -EBADF;
	q->ret = -EIO;
	r = pthread_create(&t, NULL, in_ns_thread, q);
	if (r)
		return -r;
	pthread_join(t, NULL);
	return q->ret;
}

static int would_accept_here(struct in_ns *q)
{
	int nl, r = xns_is_local(q->dst, q->len);

	if (r != 1)
		return r;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	r = sockdiag_would_accept_on(nl, q->dst, q->len, q->cookie);
	close(nl);
	return r;
}

int xns_would_accept(int nsfd, const struct sockaddr *dst, socklen_t len,
		     uint64_t cookie)
{
	struct in_ns q = { .nsfd = nsfd,
			   .ask = would_accept_here,
			   .dst = dst,
			   .len = len,
			   .cookie = cookie };

	return ask_in(&q);
}

static int ct_lookup_here(struct in_ns *q)
{
	return ct_lookup(q->orig, q->reply);
}

int xns_ct_lookup(int nsfd, const struct ct_tuple *orig, struct ct_tuple *reply)
{
	struct in_ns q = { .nsfd = nsfd,
			   .ask = ct_lookup_here,
			   .orig = orig,
			   .reply = reply };

	return ask_in(&q);
}

static bool established(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < 1)
		return false;
	return ti.tcpi_state == 1; /* TCP_ESTABLISHED */
}

static int queue_seq(int fd, int queue, uint32_t *seq)
{
	socklen_t len = sizeof(*seq);

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue,
		       sizeof(queue)) < 0)
		return -errno;
	if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &len) < 0)
		return -errno;
	return len == sizeof(*seq) ? 0 : -EIO;
}

int xns_tcp_seq(int fd, uint32_t *snd, uint32_t *rcv)
{
	int on = 1, off = TCP_REPAIR_OFF_NO_WP, none = TCP_NO_QUEUE;
	int reuse = 0, r;
	socklen_t len = sizeof(reuse);

	if (!established(fd))
		return -EINVAL;
	/* Leaving repair resets sk_reuse: remember the owner's setting. */
	if (getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len) < 0)
		return -errno;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return -errno;
	r = queue_seq(fd, TCP_SEND_QUEUE, snd);
	if (r == 0)
		r = queue_seq(fd, TCP_RECV_QUEUE, rcv);
	/* Back to no queue (so the owner's send/recv never touch a queue
	 * in repair terms), then out of repair, quietly. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &none,
			 sizeof(none));
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)) < 0 &&
	    r == 0)
		r = -errno;
	if (reuse)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse,
				 sizeof(reuse));
	return r;
}
