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
 * once cannot both decide the socket is stale), then bound by
 * ismd_bind_unix() (listen.h), the one way ismd binds a UNIX socket to a
 * path.  The socket's directory should be writable by ismd's user only,
 * but ismd may be run (as root) on a path in a directory another user can
 * write, and that user must not be able to point it at other files: so
 * the socket is bound, given its mode and group, and set listening in a
 * private directory beside PATH, then renamed over PATH in one step,
 * after a last look that PATH is absent or a stale socket.  Renaming over
 * a name never follows or modifies what the name pointed to, whereas
 * chmod(PATH) after bind(PATH) would follow whatever another user had
 * swapped in between (and unlink(PATH) after EADDRINUSE deleted any file
 * there).  The private directory is reached only through an fd opened
 * once (/proc/self/fd/N/... for bind(), *at() calls otherwise), so
 * renaming it away or swapping another directory in its place does not
 * redirect us either.  This needs no umask() or chdir(), which are
 * process-wide (ismd has a watchdog thread by then, and later helpers).
 */
#include "ismd.h"
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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

static int mkparent(const char *path)
{
	char dir[ISM_SUN_PATH_MAX];
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

/* Split @path into its directory (into @dir) and last component. */
static int split_path(const char *path, char *dir, size_t n, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		ism_strlcpy(dir, ".", n);
		*base = path;
	} else {
		size_t len = slash == path ? 1 : (size_t)(slash - path);

		if (len >= n)
			return -ENAMETOOLONG;
		memcpy(dir, path, len);
		dir[len] = '\0';
		*base = slash + 1;
	}
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
		return -EINVAL;
	return 0;
}

struct priv {
	int fd; /* the private directory, or -1 */
	char name[NAME_MAX + 1];
};

/*
 * Make and open a private directory (0700) in @pfd.  Whoever can write
 * @pfd may remove or rename ours between mkdirat() and openat() and put
 * its own in its place: the owner check catches that, as a directory of
 * ours with no access for others can only hold what we put there.
 */
static int priv_make(int pfd, const char *base, struct priv *pv)
{
	const int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

	for (int tries = 0; tries < 16; tries++) {
		uint8_t rnd[6];
		char hex[2 * sizeof(rnd) + 1];
		struct stat st;
		int r;

		if ((r = ism_random(rnd, sizeof(rnd))) < 0)
			return r;
		ism_hex_encode(rnd, sizeof(rnd), hex);
		snprintf(pv->name, sizeof(pv->name), ".%.200s.%s", base, hex);
		if (mkdirat(pfd, pv->name, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		pv->fd = openat(pfd, pv->name, dflags);
		if (pv->fd < 0) {
			/* Gone, or no longer a directory: swapped. */
			r = errno;
			if (r == ENOENT || r == ELOOP || r == ENOTDIR)
				return -EPERM;
			return -r;
		}
		if (fstat(pv->fd, &st) < 0 || st.st_uid != geteuid() ||
		    (st.st_mode & 077) || fchmod(pv->fd, 0700) < 0) {
			ism_close_fd(&pv->fd);
			return -EPERM;
		}
		return 0;
	}
	return -EEXIST;
}

/* Remove the private directory and whatever of ours is still in it. */
static void priv_remove(int pfd, struct priv *pv, const char *inner)
{
	struct stat a, b;

	if (pv->fd < 0)
		return;
	unlinkat(pv->fd, inner, 0); /* ENOENT once renamed: fine */
	/* By name only if the name still is ours: it may have been
	 * renamed away and something else put there. */
	if (fstat(pv->fd, &a) == 0 &&
	    fstatat(pfd, pv->name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlinkat(pfd, pv->name, AT_REMOVEDIR);
	ism_close_fd(&pv->fd);
}

static const char *file_kind(mode_t m)
{
	return S_ISLNK(m)    ? "a symlink"
	       : S_ISREG(m)  ? "a regular file"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
			     : "a device";
}

/*
 * The last look at @path before renaming over it: 0 if it is absent or a
 * stale socket, else -errno (logged).  The probe's connect() does not
 * block: a listener whose queue is full fails it with EAGAIN at once,
 * where a blocking connect() would wait for room, forever if that
 * listener is a squatter that never accepts.  Such a listener is not
 * stale, so it is not replaced.
 */
static int check_path(int pfd, const char *base, const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		ismd_log(L_ERR, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		ismd_log(L_ERR,
			 "%s exists and is %s, not a socket: refusing to "
			 "replace it",
			 path, file_kind(st.st_mode));
		return -EEXIST;
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		ismd_log(L_ERR, "socket: %s", strerror(-r));
		return r;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	close(fd);
	switch (r) {
	case -ECONNREFUSED:
		ismd_log(L_INFO, "replacing stale socket %s", path);
		return 0;
	case -ENOENT: /* gone since the fstatat() */ return 0;
	case -EAGAIN:
		ismd_log(L_ERR,
			 "a listener on %s has a full queue (a squatter, or "
			 "a busy server): refusing to replace it",
			 path);
		return -EADDRINUSE;
	case 0:
	case -EINPROGRESS:
	case -EPROTOTYPE: /* a live socket of another type */
		ismd_log(L_ERR, "something answers on %s (another ismd?)",
			 path);
		return -EADDRINUSE;
	default:
		ismd_log(L_ERR,
			 "%s: cannot tell whether it is stale (%s): refusing "
			 "to replace it",
			 path, strerror(-r));
		return -EADDRINUSE;
	}
}

int ismd_bind_unix(const char *path, int type, mode_t mode, gid_t gid,
		   int backlog, struct ismd_bound *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct priv pv = { .fd = -1 };
	char dir[sizeof(sa.sun_path)];
	const char *base, *inner = NULL, *what = NULL;
	struct stat st;
	int pfd, fd = -1, r;

	out->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ismd_log(L_ERR, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	if (type != SOCK_SEQPACKET && type != SOCK_STREAM)
		return -EINVAL;
	if ((r = split_path(path, dir, sizeof(dir), &base)) < 0) {
		ismd_log(L_ERR, "%s: not a socket file name", path);
		return r;
	}
	pfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		r = -errno;
		ismd_log(L_ERR, "%s: %s", dir, strerror(-r));
		return r;
	}
	if ((r = priv_make(pfd, base, &pv)) < 0) {
		ismd_log(L_ERR, "%s: a private directory beside it: %s%s", path,
			 strerror(-r),
			 r == -EPERM ? " (is its directory writable by "
				       "another user?)"
				     : "");
		goto out;
	}
	/* Bind through the fd, not the directory's name, which another
	 * user may have changed.  The address recorded (getsockname(),
	 * ss -x) is this one; keep PATH's last component in it when it
	 * fits, to say which socket it is. */
	inner = base;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path),
			     "/proc/self/fd/%d/%s", pv.fd,
			     inner) >= sizeof(sa.sun_path)) {
		inner = "s";
		snprintf(sa.sun_path, sizeof(sa.sun_path),
			 "/proc/self/fd/%d/%s", pv.fd, inner);
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		what = "socket";
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		what = "bind";
		goto fail;
	}
	/* Nobody else can reach the socket in here, so its mode may be
	 * wide for now (0777 & ~umask); set the group first so the final
	 * chmod leaves exactly @mode.  Only we can have put anything in
	 * this directory: no symlink to follow. */
	if (gid != (gid_t)-1 &&
	    fchownat(pv.fd, inner, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		what = "group";
		goto fail;
	}
	if (fchmodat(pv.fd, inner, mode & 0777, 0) < 0) {
		what = "mode";
		goto fail;
	}
	if (fstatat(pv.fd, inner, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		what = "stat";
		goto fail;
	}
	/* Listening before it appears at PATH: no client sees a refusal. */
	if (listen(fd, backlog) < 0) {
		what = "listen";
		goto fail;
	}
	if ((r = check_path(pfd, base, path, type)) < 0)
		goto out;
	/* Atomic: PATH is the stale socket (or absent), then ours.  Had
	 * another user swapped something in since check_path(), only that
	 * name is replaced, never the file it named. */
	if (renameat(pv.fd, inner, pfd, base) < 0) {
		what = "rename";
		goto fail;
	}
	out->fd = fd;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	fd = -1;
	r = 0;
	goto out;
fail:
	r = -errno;
	ismd_log(L_ERR, "%s: %s: %s", path, what, strerror(-r));
out:
	priv_remove(pfd, &pv, inner);
	if (fd >= 0)
		close(fd);
	close(pfd);
	return r;
}

void ismd_unbind_unix(const char *path, struct ismd_bound *b)
{
	struct stat st;

	if (b->fd < 0)
		return;
	/* lstat(): a symlink to our socket is not our socket.  Someone
	 * who can write the directory can still swap PATH between lstat()
	 * and unlink(); unlink() removes a name and never follows it, so
	 * all they can lose is an entry of their own. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == b->dev && st.st_ino == b->ino)
		unlink(path);
	ism_close_fd(&b->fd);
}

/*
 * PATH.lock lives beside the socket, where a symlink would make
 * open(O_CREAT) create or open its target, and a hard link would make
 * the lock another file: O_NOFOLLOW, and only a regular file of ours
 * with one link is used.  Nothing is ever written to it.
 */
static int open_lock(const char *lockpath)
{
	struct stat st;
	int fd, r;

	fd = open(lockpath,
		  O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		ismd_log(L_ERR, "%s: %s", lockpath,
			 r == -ELOOP ? "a symlink: refusing to follow it"
				     : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		ismd_log(L_ERR,
			 "%s: not a regular file of ours with one link: "
			 "refusing to use it",
			 lockpath);
		close(fd);
		return -EEXIST;
	}
	return fd;
}

int ismd_listen(struct daemon *d)
{
	struct ismd_bound b;
	gid_t gid = (gid_t)-1;
	char lockpath[128];
	int fd, r;

	d->lock_fd = -1;
	fd = activated_fd();
	if (fd == -2)
		return -EINVAL;
	if (fd >= 0) {
		d->listen_fd = fd;
		d->listen_owned = false;
		ism_strlcpy(d->socket_path, "(systemd)",
			    sizeof(d->socket_path));
		ism_set_nonblock(fd);
		ismd_log(L_INFO, "listening on a socket from systemd");
		return 0;
	}
	if (d->cfg.socket_path) {
		if (strlen(d->cfg.socket_path) >= sizeof(d->socket_path)) {
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
	if ((r = mkparent(d->socket_path)) < 0) {
		ismd_log(L_ERR, "%s: %s", d->socket_path, strerror(-r));
		return r;
	}
	snprintf(lockpath, sizeof(lockpath), "%s.lock", d->socket_path);
	if ((d->lock_fd = open_lock(lockpath)) < 0) {
		r = d->lock_fd;
		d->lock_fd = -1;
		return r;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ismd_log(L_ERR, "another ismd holds %s", lockpath);
		return -EADDRINUSE;
	}
	if (d->cfg.socket_gid_set)
		gid = d->cfg.socket_gid;
	r = ismd_bind_unix(d->socket_path, SOCK_SEQPACKET,
			   (mode_t)d->cfg.socket_mode, gid, 4096, &b);
	if (r < 0)
		return r;
	d->listen_fd = b.fd;
	d->sock_dev = b.dev;
	d->sock_ino = b.ino;
	d->listen_owned = true;
	ismd_log(L_INFO, "listening on %s (mode %04o)", d->socket_path,
		 (unsigned)d->cfg.socket_mode);
	return 0;
}

void ismd_unlisten(struct daemon *d)
{
	if (d->listen_fd >= 0 && d->listen_owned) {
		struct ismd_bound b = { .fd = d->listen_fd,
					.dev = d->sock_dev,
					.ino = d->sock_ino };

		/* Remove the path only if it is still our socket (a newer
		 * ismd may have replaced a path it thought stale). */
		ismd_unbind_unix(d->socket_path, &b);
		d->listen_fd = -1;
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
