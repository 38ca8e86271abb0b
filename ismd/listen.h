/* SPDX-License-Identifier: MIT */
/*
 * listen - binding ismd's UNIX listening sockets (listen.c).
 *
 * Every socket ismd binds to a path (the control socket, the ivshmem
 * sockets) goes through ismd_bind_unix(), which is safe even when the
 * socket's directory is writable by another user (it must not be, but a
 * mistake there must not let that user point ismd at other files): the
 * socket is made, given its mode and group, and set listening inside a
 * private directory, then renamed over the path.  Nothing is followed,
 * chmod()ed, chown()ed or deleted by that path's name.
 */
#ifndef ISMD_LISTEN_H
#define ISMD_LISTEN_H

#include <sys/types.h>

/* The file we bound, to remove only it. */
struct ismd_bound {
	int fd; /* the listening socket, or -1 */
	dev_t dev;
	ino_t ino;
};

/*
 * Bind and listen on @path (@type SOCK_SEQPACKET or SOCK_STREAM), the
 * socket file created with exactly @mode (permission bits) and, if @gid
 * is not (gid_t)-1, group @gid, with no instant at which it is reachable
 * with more access than that; no symlink is followed and no other file
 * touched.  If @path exists it is replaced only if it is a stale socket
 * (nobody listens on it).  Never blocks.
 *
 * Returns 0 with @out filled (@out->fd non-blocking and close-on-exec,
 * owned by the caller: release with ismd_unbind_unix()), or -errno with
 * @out->fd = -1 and one error line logged:
 *   -EEXIST       @path exists and is not a socket (a symlink, a file...)
 *   -EADDRINUSE   something answers on @path, or its listen queue is full
 *                 (a squatter, or a server too busy to tell from one)
 *   -ENAMETOOLONG @path does not fit a sockaddr_un
 *   -EPERM        our private directory was tampered with (its parent is
 *                 writable by another user)
 *   or what bind(), chown() etc. returned.
 * Needs /proc (binds through /proc/self/fd).  Thread-safe: it changes no
 * process-wide state (umask, cwd).
 */
int ismd_bind_unix(const char *path, int type, mode_t mode, gid_t gid,
		   int backlog, struct ismd_bound *out);

/* Remove @b's @path only if it is still the socket we bound (not a
 * symlink to it, not a file put in its place); close @b->fd.  A no-op if
 * @b->fd < 0. */
void ismd_unbind_unix(const char *path, struct ismd_bound *b);

struct daemon;

/* The control socket: systemd's (LISTEN_FDS), else ismd_bind_unix() on
 * the configured or default path. */
int ismd_listen(struct daemon *d);
void ismd_unlisten(struct daemon *d);
void ismd_sd_notify(const char *msg);
int ismd_default_socket_path(char *buf, size_t n);

#endif
