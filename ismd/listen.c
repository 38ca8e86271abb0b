/* SPDX-License-Identifier: MIT */
/*
 * listen - the listening socket: systemd socket activation, or a path
 * bound with a stale-socket check; and sd_notify.
 *
 * systemd's protocol is small and documented (sd_listen_fds(3),
 * sd_notify(3)): LISTEN_PID/LISTEN_FDS name fds from 3 on; NOTIFY_SOCKET
 * names a datagram socket for "READY=1".  It is implemented here rather
 * than linking libsystemd, so ismd needs nothing beyond libc.
 *
 * A path is claimed under an flock on PATH.lock (two ismds starting at
 * once cannot both decide the socket is stale), then bound; if the path
 * exists, ismd connects to it first and refuses to start when another
 * ismd answers.  Only a socket nobody answers on is removed.
 */
#include "ismd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

int ismd_default_socket_path(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int w;

	if (geteuid() == 0)
		w = snprintf(buf, n, "/run/ism/ism.sock");
	else if (xdg && *xdg)
		w = snprintf(buf, n, "%s/ism.sock", xdg);
	else
		return -ENOENT;
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t p, n;
	int type = 0, listening = 0, domain = 0;
	socklen_t len = sizeof(int);

	if (!pid || !fds || ism_parse_u64(pid, INT32_MAX, &p) < 0 ||
	    ism_parse_u64(fds, 64, &n) < 0 || (pid_t)p != getpid() || n == 0)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > 1)
		ismd_log(L_WARN, "systemd passed %llu sockets; using the first",
			 (unsigned long long)n);
	if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN,
		       &listening, &len) ||
	    getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_DOMAIN, &domain,
		       &len)) {
		ismd_log(L_ERR, "systemd socket: %s", strerror(errno));
		return -2;
	}
	if (domain != AF_UNIX || type != SOCK_SEQPACKET || !listening) {
		ismd_log(L_ERR,
			 "systemd socket must be a listening AF_UNIX "
			 "SOCK_SEQPACKET socket (ListenSequentialPacket=)");
		return -2;
	}
	fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
	return SD_LISTEN_FDS_START;
}

/* Does an ismd answer on @path? */
static bool alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	up = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return up;
}

static int mkparent(const char *path)
{
	char dir[108];
	char *slash;

	ism_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	/* Only the system default's parent is ours to create. */
	if (strcmp(dir, "/run/ism") == 0 && mkdir(dir, 0755) < 0 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

int ismd_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char lockpath[128];
	mode_t old;
	int fd, r;

	d->lock_fd = -1;
	fd = activated_fd();
	if (fd == -2)
		return -EINVAL;
	if (fd >= 0) {
		d->listen_fd = fd;
		d->listen_owned = false;
		ism_strlcpy(d->socket_path, "(systemd)", sizeof(d->socket_path));
		ism_set_nonblock(fd);
		ismd_log(L_INFO, "listening on a socket from systemd");
		return 0;
	}
	if (d->cfg.socket_path) {
		if (strlen(d->cfg.socket_path) >= sizeof(sa.sun_path)) {
			ismd_log(L_ERR, "socket path too long: %s",
				 d->cfg.socket_path);
			return -ENAMETOOLONG;
		}
		ism_strlcpy(d->socket_path, d->cfg.socket_path,
			    sizeof(d->socket_path));
	} else if ((r = ismd_default_socket_path(d->socket_path,
						 sizeof(d->socket_path))) < 0) {
		ismd_log(L_ERR, "no socket path: XDG_RUNTIME_DIR is unset; "
				"pass --socket");
		return r;
	}
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	if ((r = mkparent(d->socket_path)) < 0) {
		ismd_log(L_ERR, "%s: %s", d->socket_path, strerror(-r));
		return r;
	}
	snprintf(lockpath, sizeof(lockpath), "%s.lock", d->socket_path);
	d->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		r = -errno;
		ismd_log(L_ERR, "%s: %s", lockpath, strerror(-r));
		return r;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ismd_log(L_ERR, "another ismd holds %s", lockpath);
		return -EADDRINUSE;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Bind with no access for anyone, then open up to the configured
	 * mode: no window in which the socket is wider than asked. */
	old = umask(0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno == EADDRINUSE) {
		if (alive(&sa)) {
			umask(old);
			close(fd);
			ismd_log(L_ERR, "another ismd answers on %s",
				 d->socket_path);
			return -EADDRINUSE;
		}
		ismd_log(L_INFO, "removing stale socket %s", d->socket_path);
		unlink(d->socket_path);
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	umask(old);
	if (r < 0) {
		r = -errno;
		close(fd);
		ismd_log(L_ERR, "bind %s: %s", d->socket_path, strerror(-r));
		return r;
	}
	if (chmod(d->socket_path, (mode_t)d->cfg.socket_mode) < 0 ||
	    (d->cfg.socket_gid_set &&
	     chown(d->socket_path, (uid_t)-1, d->cfg.socket_gid) < 0)) {
		r = -errno;
		ismd_log(L_ERR, "%s: mode/group: %s", d->socket_path,
			 strerror(-r));
		unlink(d->socket_path);
		close(fd);
		return r;
	}
	if (listen(fd, 4096) < 0) {
		r = -errno;
		unlink(d->socket_path);
		close(fd);
		return r;
	}
	{
		struct stat st;

		/* Remember which file is ours, to remove only it on exit. */
		if (stat(d->socket_path, &st) == 0) {
			d->sock_dev = st.st_dev;
			d->sock_ino = st.st_ino;
		}
	}
	d->listen_fd = fd;
	d->listen_owned = true;
	ismd_log(L_INFO, "listening on %s (mode %04o)", d->socket_path,
		 (unsigned)d->cfg.socket_mode);
	return 0;
}

void ismd_unlisten(struct daemon *d)
{
	if (d->listen_fd >= 0 && d->listen_owned) {
		struct stat a;

		/* Remove the path only if it is still our socket (a newer
		 * ismd may have replaced a path it thought stale). */
		if (stat(d->socket_path, &a) == 0 && a.st_dev == d->sock_dev &&
		    a.st_ino == d->sock_ino)
			unlink(d->socket_path);
	}
	ism_close_fd(&d->listen_fd);
	ism_close_fd(&d->lock_fd);
}

void ismd_sd_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n;
	int fd;

	if (!path || !*path)
		return;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}
