/* SPDX-License-Identifier: MIT */
/* netlink - see netlink.h. */
#include "netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

int64_t nl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t nl_recv_kernel(int nl, void *buf, size_t cap, int64_t deadline)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buf, .iov_len = cap };
		struct msghdr m = { .msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1 };
		struct pollfd pfd = { .fd = nl, .events = POLLIN };
		int64_t left = deadline - nl_now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		/* MSG_TRUNC: the real length, to refuse a cut datagram. */
		n = recvmsg(nl, &m, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		if (m.msg_namelen < sizeof(from) || from.nl_pid != 0)
			continue; /* not from the kernel */
		if ((size_t)n > cap || (m.msg_flags & MSG_TRUNC))
			return -EMSGSIZE;
		return n;
	}
}
