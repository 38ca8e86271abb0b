/* SPDX-License-Identifier: MIT */
/*
 * fdhigh - the fds libism and the shim make for themselves live above a
 * floor, out of the application's range.
 *
 * A stream costs about a dozen fds (its TCP socket, the channel's memfd,
 * eventfds and socketpair, epoll sets).  Made at the lowest free numbers,
 * as the kernel hands them out, they would push the application's own
 * fds up by that much per connection, and programs size tables by the
 * number of connections they make: wrk's event loop holds 10 + 3 per
 * connection fds and fails a connect() whose fd is beyond that; a
 * select() program breaks at FD_SETSIZE.  So every fd made while the
 * shim calls into libism (shim_busy) moves to the lowest free number at
 * or above the floor, keeping its close-on-exec flag; the application's
 * fds stay where the kernel would put them without ism.
 *
 * The floor is half the soft RLIMIT_NOFILE, at most 4096 (below 256: no
 * floor), or ISM_RUN_FD_FLOOR (0: none).  A move that fails (no free fd
 * above the floor) keeps the fd where it is: only its number is at stake.
 */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define FLOOR_MAX 4096

static int floor_fd;

void shim_fd_floor_init(void)
{
	const char *v = getenv("ISM_RUN_FD_FLOOR");
	struct rlimit rl;

	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);

		if (!*end && n >= 0 && n <= (1 << 20)) {
			floor_fd = (int)n;
			return;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 256)
		return;
	floor_fd = rl.rlim_cur / 2 > FLOOR_MAX ? FLOOR_MAX
					       : (int)(rl.rlim_cur / 2);
}

int shim_fd_high(int fd)
{
	int fl, n, e;

	if (fd < 0 || fd >= floor_fd)
		return fd;
	e = errno;
	fl = real.fcntl(fd, F_GETFD);
	n = fl < 0 ? -1
		   : real.fcntl(fd,
				(fl & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD,
				floor_fd);
	if (n >= 0) {
		real.close(fd);
		fd = n;
	}
	errno = e;
	return fd;
}

void shim_fds_high_cmsg(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			fd = shim_fd_high(fd);
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(fd));
		}
	}
}

/* The calls libism makes fds with that the shim does not otherwise
 * interpose (socket, accept4 and recvmsg move theirs in sock.c and
 * io.c).  The application's own calls pass straight through. */

int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r;

	shim_resolve();
	r = real.socketpair(domain, type, protocol, sv);
	if (r == 0 && shim_busy) {
		sv[0] = shim_fd_high(sv[0]);
		sv[1] = shim_fd_high(sv[1]);
	}
	return r;
}

int eventfd(unsigned int initval, int flags)
{
	int fd;

	shim_resolve();
	fd = real.eventfd(initval, flags);
	return shim_busy ? shim_fd_high(fd) : fd;
}

int memfd_create(const char *name, unsigned int flags)
{
	int fd;

	shim_resolve();
	if (!real.memfd_create) {
		errno = ENOSYS;
		return -1;
	}
	fd = real.memfd_create(name, flags);
	return shim_busy ? shim_fd_high(fd) : fd;
}

int timerfd_create(int clockid, int flags)
{
	int fd;

	shim_resolve();
	fd = real.timerfd_create(clockid, flags);
	return shim_busy ? shim_fd_high(fd) : fd;
}

int epoll_create1(int flags)
{
	int fd;

	shim_resolve();
	fd = real.epoll_create1(flags);
	return shim_busy ? shim_fd_high(fd) : fd;
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	shim_resolve();
	fd = real.open(path, flags, mode);
	return shim_busy ? shim_fd_high(fd) : fd;
}
