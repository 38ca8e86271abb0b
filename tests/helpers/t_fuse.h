/* SPDX-License-Identifier: MIT */
/*
 * A hostile FUSE file system for adversarial tests, spoken directly on
 * /dev/fuse with the kernel's UAPI (<linux/fuse.h>), no libfuse.
 *
 * Concepts: a peer may hand ismd an fd of a file on the peer's own FUSE
 * mount.  Every close() of it (not just the last, and the implicit ones
 * at exit) sends FUSE_FLUSH and waits for the answer: in state S until a
 * signal arrives (the kernel then sends FUSE_INTERRUPT), after it in
 * state D, since FLUSH is a forced request, so SIGKILL cannot end it.
 * fstat() sends FUSE_GETATTR when the cached attributes are stale, which
 * here they always are, and once the server has read it even SIGKILL
 * waits for the answer.  RELEASE goes out in the background after the
 * last close (not on fuseblk), so hanging it blocks no caller.  This server
 * can read chosen requests and never answer them, which is what a hostile
 * peer would do.  Only aborting the connection (fusectl's abort file, or
 * the last close of /dev/fuse when the server dies) releases the waiters.
 *
 * The file system has a root directory and one regular file, "f", holding
 * T_FUSE_CONTENT.  "f" opens with any access mode, but only reads work
 * (WRITE, SETATTR and so O_TRUNC fail with ENOSYS).  The server runs in a
 * forked child, so a hang in the test process cannot deadlock it, and it
 * dies with the thread that started it (PR_SET_PDEATHSIG), which aborts
 * the connection: start it from a thread that outlives the mount (the
 * main thread).  Not thread-safe: one thread drives a struct t_fuse.
 */
#ifndef T_FUSE_H
#define T_FUSE_H

#include <stdint.h>
#include <sys/types.h>

/* Requests the server reads and never answers. */
enum {
	T_FUSE_HANG_FLUSH = 1,
	T_FUSE_HANG_GETATTR = 2, /* and FUSE_STATX, should a kernel send it */
	T_FUSE_HANG_RELEASE = 4,
};

#define T_FUSE_CONTENT "hostile fuse file\n"

struct t_fuse {
	pid_t pid;     /* the server, 0 when none */
	int events;    /* its event pipe (read end), open while pid > 0 */
	unsigned conn; /* fusectl connection number (the mount's dev) */
	int mounted;   /* 1 while our mount is attached */
	char dir[64];  /* the mount point, "" when removed */
	char path[80]; /* dir + "/f" */
	/* The protocol minor (7.x) the kernel offered; we answer with
	 * min(it, FUSE_KERNEL_MINOR_VERSION of our UAPI header). */
	unsigned kernel_minor;
};

/*
 * Mount a FUSE file system on a fresh temp dir (in $TMPDIR or /tmp) and
 * serve it from a child process, hanging on the requests in @hang_flags
 * (T_FUSE_HANG_*).  Returns once the server has answered FUSE_INIT.
 *
 * Returns 0, or -errno: -ENODEV when /dev/fuse is missing, -EPERM when
 * not allowed to open it or to mount (not root): for these two a test
 * should skip (exit 77).  On failure nothing is left behind and
 * t_fuse_stop() is still safe to call.
 *
 * The server inherits the caller's open files and closes them, except
 * files on FUSE mounts (closing one could hang): those are closed only
 * when the server exits.  So when a file of an earlier instance with
 * T_FUSE_HANG_FLUSH is open across this call, stop the earlier instance
 * first, or this one's server cannot finish exiting.
 */
int t_fuse_start(struct t_fuse *f, unsigned hang_flags);

/*
 * open() "f" with @flags (O_CLOEXEC is always added, so ismd and other
 * exec'd programs do not inherit it).  Returns the fd, which the caller
 * owns, or -errno.  Its close() hangs under T_FUSE_HANG_FLUSH until
 * t_fuse_stop(): close it in a child process, or after the stop.
 */
int t_fuse_open(struct t_fuse *f, int flags);

/*
 * Wait up to @timeout_ms for the server to have read, and be holding
 * unanswered, a request with FUSE opcode @opcode (FUSE_FLUSH,
 * FUSE_GETATTR, FUSE_RELEASE).  Reports of other opcodes that arrive
 * meanwhile are discarded.  Returns 0 and stores in *@tid (may be NULL)
 * the id of the thread that sent the request, as the kernel reports it
 * (fuse_in_header.pid: the thread, not the process), or -ETIMEDOUT,
 * -ENOTCONN when the server is gone, -errno.
 */
int t_fuse_wait_hang(struct t_fuse *f, uint32_t opcode, int timeout_ms,
		     pid_t *tid);

/*
 * Make every pending request fail (whoever is stuck in close() or fstat()
 * on the file returns, with an error), unmount and remove the temp dir,
 * and reap the server.  Writes fusectl's abort file when fusectl is
 * mounted, and kills the server anyway: its death closes the last
 * /dev/fuse fd, which aborts the connection.  Idempotent; safe on a
 * zeroed struct and after a failed t_fuse_start().
 */
void t_fuse_stop(struct t_fuse *f);

#endif
