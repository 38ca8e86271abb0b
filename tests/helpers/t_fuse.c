/* SPDX-License-Identifier: MIT */
/*
 * The hostile FUSE server (see t_fuse.h), written from the kernel's
 * protocol: read one request per read() of /dev/fuse (a fuse_in_header
 * and the opcode's argument), answer with one write() of a
 * fuse_out_header and the reply, or, to hang the caller, never answer.
 *
 * The kernel's structs are copied out of the request buffer with memcpy
 * (never cast onto it), zero-filled when the kernel sent a shorter one.
 */
#include "t_fuse.h"
#include "t_daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* FUSE_STATX arrived in protocol 7.39, after the UAPI header we build
 * against; a kernel may still send it, and it is a GETATTR by another
 * name. */
#define OP_STATX 52

#define FILE_ID	    2
#define CONTENT_LEN (sizeof(T_FUSE_CONTENT) - 1)

/*
 * The kernel refuses a read() of /dev/fuse shorter than the largest
 * request it may send (a WRITE of max_write bytes, or up to max_pages
 * pages): with max_write at 64 KiB a megabyte leaves room for any
 * max_pages default.
 */
#define BUF_SIZE  (1u << 20)
#define MAX_WRITE (64u << 10)

/* Give up on a server that has not answered FUSE_INIT by then. */
#define INIT_TIMEOUT_MS 5000

/* What the server tells the parent, through a pipe: one write each, so
 * each record arrives whole (well under PIPE_BUF). */
struct event {
	uint32_t opcode;
	/* INIT: the kernel's minor or -errno; a hung request: its tid */
	int32_t val;
};

struct server {
	int fd;
	int events;
	unsigned hang;
	uint8_t *buf;
};

static void report(struct server *s, uint32_t opcode, int32_t val)
{
	struct event ev = { opcode, val };

	/* Non-blocking: if nobody reads the reports, drop them rather than
	 * stop serving. */
	if (write(s->events, &ev, sizeof(ev)) < 0)
		return;
}

static int reply(struct server *s, uint64_t unique, int err, const void *data,
		 size_t len)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof(oh) + len),
		.error = err,
		.unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) },
		{ (void *)data, len },
	};

	/* ENOENT: the request was interrupted or aborted meanwhile and the
	 * kernel no longer wants the answer. */
	if (writev(s->fd, iov, len ? 2 : 1) < 0)
		return -errno;
	return 0;
}

static void fill_attr(uint64_t node, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->uid = getuid();
	a->gid = getgid();
	a->blksize = 4096;
	if (node == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0644;
		a->nlink = 1;
		a->size = CONTENT_LEN;
		a->blocks = 1;
	}
}

/* Copy the request's argument into @arg, zero-filling what is missing. */
static void get_arg(const uint8_t *p, size_t len, void *arg, size_t size)
{
	memset(arg, 0, size);
	memcpy(arg, p, len < size ? len : size);
}

static void do_init(struct server *s, uint64_t unique, const uint8_t *p,
		    size_t len)
{
	struct fuse_init_in in;
	struct fuse_init_out out;
	int r;

	get_arg(p, len, &in, sizeof(in));
	if (in.major < FUSE_KERNEL_VERSION) {
		reply(s, unique, -EPROTO, NULL, 0);
		report(s, FUSE_INIT, -EPROTO);
		return;
	}
	/*
	 * Offer the older of the two protocols; the kernel speaks every
	 * minor up to its own, and we ask for no optional feature (flags 0):
	 * no writeback cache (which would make FLUSH conditional), no
	 * FUSE_NO_OPEN_SUPPORT, no parallel or async anything.
	 */
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = in.minor < FUSE_KERNEL_MINOR_VERSION
			    ? in.minor
			    : FUSE_KERNEL_MINOR_VERSION;
	out.max_readahead = in.max_readahead;
	out.max_background = 16;
	out.congestion_threshold = 12;
	out.max_write = MAX_WRITE;
	out.time_gran = 1;
	r = reply(s, unique, 0, &out, sizeof(out));
	report(s, FUSE_INIT, r < 0 ? r : (int32_t)in.minor);
}

static void do_lookup(struct server *s, const struct fuse_in_header *ih,
		      const uint8_t *p, size_t len)
{
	struct fuse_entry_out out;

	if (ih->nodeid != FUSE_ROOT_ID || len < 2 || p[len - 1] != '\0' ||
	    strcmp((const char *)p, "f") != 0) {
		reply(s, ih->unique, -ENOENT, NULL, 0);
		return;
	}
	/* Zero timeouts: every use asks again, so GETATTR reaches us. */
	memset(&out, 0, sizeof(out));
	out.nodeid = FILE_ID;
	out.generation = 1;
	fill_attr(FILE_ID, &out.attr);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

static void do_getattr(struct server *s, const struct fuse_in_header *ih)
{
	struct fuse_attr_out out;

	if (s->hang & T_FUSE_HANG_GETATTR) {
		report(s, ih->opcode, (int32_t)ih->pid);
		return;
	}
	if (ih->opcode == OP_STATX ||
	    (ih->nodeid != FUSE_ROOT_ID && ih->nodeid != FILE_ID)) {
		reply(s, ih->unique, ih->opcode == OP_STATX ? -ENOSYS : -ENOENT,
		      NULL, 0);
		return;
	}
	memset(&out, 0, sizeof(out));
	fill_attr(ih->nodeid, &out.attr);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

static void do_open(struct server *s, const struct fuse_in_header *ih)
{
	/* open_flags 0: no FOPEN_NOFLUSH, so every close() sends FLUSH;
	 * no FOPEN_DIRECT_IO, so reads go through the page cache. */
	struct fuse_open_out out = { .fh = 1 };

	if (ih->nodeid != FILE_ID) {
		reply(s, ih->unique, -EISDIR, NULL, 0);
		return;
	}
	reply(s, ih->unique, 0, &out, sizeof(out));
}

static void do_read(struct server *s, const struct fuse_in_header *ih,
		    const uint8_t *p, size_t len)
{
	struct fuse_read_in in;
	size_t n = 0;

	get_arg(p, len, &in, sizeof(in));
	if (in.offset < CONTENT_LEN) {
		n = CONTENT_LEN - (size_t)in.offset;
		if (n > in.size)
			n = in.size;
	}
	reply(s, ih->unique, 0, T_FUSE_CONTENT + (n ? in.offset : 0), n);
}

static void do_statfs(struct server *s, uint64_t unique)
{
	struct fuse_statfs_out out;

	memset(&out, 0, sizeof(out));
	out.st.blocks = 1;
	out.st.files = 2;
	out.st.bsize = 4096;
	out.st.frsize = 4096;
	out.st.namelen = 255;
	reply(s, unique, 0, &out, sizeof(out));
}

/* Answer, or hang on, one request; FORGETs and INTERRUPTs get nothing. */
static void handle(struct server *s, const struct fuse_in_header *ih,
		   const uint8_t *p, size_t len)
{
	unsigned hang = 0;

	switch (ih->opcode) {
	case FUSE_INIT: do_init(s, ih->unique, p, len); return;
	case FUSE_LOOKUP: do_lookup(s, ih, p, len); return;
	case FUSE_GETATTR:
	case OP_STATX: do_getattr(s, ih); return;
	case FUSE_OPEN: do_open(s, ih); return;
	case FUSE_READ: do_read(s, ih, p, len); return;
	case FUSE_STATFS: do_statfs(s, ih->unique); return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_NOTIFY_REPLY: return;
	case FUSE_INTERRUPT:
		/* A hostile server ignores it, and never answers the
		 * interrupted request either. */
		return;
	case FUSE_FLUSH: hang = s->hang & T_FUSE_HANG_FLUSH; break;
	case FUSE_RELEASE: hang = s->hang & T_FUSE_HANG_RELEASE; break;
	case FUSE_DESTROY: break;
	default: reply(s, ih->unique, -ENOSYS, NULL, 0); return;
	}
	if (hang)
		report(s, ih->opcode, (int32_t)ih->pid);
	else
		reply(s, ih->unique, 0, NULL, 0);
}

static void serve(struct server *s)
{
	for (;;) {
		ssize_t n = read(s->fd, s->buf, BUF_SIZE);
		struct fuse_in_header ih;

		if (n < 0) {
			/* ENOENT: the request we were to read was
			 * interrupted before we got it. */
			if (errno == EINTR || errno == ENOENT ||
			    errno == EAGAIN)
				continue;
			/* ENODEV: unmounted or aborted, we are done. */
			_exit(errno == ENODEV ? 0 : 1);
		}
		if ((size_t)n < sizeof(ih))
			_exit(1);
		memcpy(&ih, s->buf, sizeof(ih));
		if (ih.len != (size_t)n)
			_exit(1);
		handle(s, &ih, s->buf + sizeof(ih), (size_t)n - sizeof(ih));
	}
}

/*
 * Drop the caller's files so the server holds no socket, pipe or lock
 * that a test expects to see closed.  Files on FUSE mounts stay: closing
 * one sends FLUSH, and if that is another instance's hung FLUSH the
 * server would never start.
 */
static void close_inherited(int maxfd, int keep1, int keep2)
{
	struct statfs sfs;

	for (int fd = 3; fd <= maxfd; fd++) {
		if (fd == keep1 || fd == keep2 || fstatfs(fd, &sfs) < 0)
			continue;
		if ((unsigned long)sfs.f_type != FUSE_SUPER_MAGIC)
			close(fd);
	}
}

static int max_open_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int max = 1024;

	if (!d)
		return max;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (fd > max)
			max = fd;
	}
	closedir(d);
	return max;
}

static __attribute__((noreturn)) void
server_main(pid_t parent, int fd, int events, unsigned hang, int maxfd)
{
	struct server s = { .fd = fd, .events = events, .hang = hang };

	/* Die with the test, which aborts the connection and releases
	 * whatever is stuck on it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	close_inherited(maxfd, fd, events);
	/* mmap, not malloc: the parent may have had threads. */
	s.buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.buf == MAP_FAILED)
		_exit(1);
	serve(&s);
	_exit(0);
}

/* The mount's "major:minor", which names its fusectl directory, from
 * mountinfo: a stat() of the mount point could send GETATTR. */
static unsigned conn_of(const char *dir)
{
	FILE *m = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[256];
	unsigned maj, min, conn = 0;
	int n;

	if (!m)
		return 0;
	while (fgets(line, sizeof(line), m)) {
		n = sscanf(line, "%*u %*u %u:%u %*s %255s", &maj, &min, mnt);
		/* The kernel's dev_t encoding, as fusectl prints it. */
		if (n == 3 && strcmp(mnt, dir) == 0)
			conn = (maj << 20) | min;
	}
	fclose(m);
	return conn;
}

static int wait_init(struct t_fuse *f)
{
	struct pollfd p = { .fd = f->events, .events = POLLIN };
	struct event ev;
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, INIT_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = read(f->events, &ev, sizeof(ev));
	if (n != sizeof(ev) || ev.opcode != FUSE_INIT)
		return -ENOTCONN; /* the server died */
	return ev.val;
}

int t_fuse_start(struct t_fuse *f, unsigned hang_flags)
{
	const char *tmp = t_tmpdir();
	char opts[160];
	int fd, ev[2], maxfd, r;
	pid_t parent = getpid();

	memset(f, 0, sizeof(*f));
	if (strlen(tmp) > sizeof(f->dir) - 16)
		tmp = "/tmp";
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT || errno == ENXIO ? -ENODEV : -errno;
		return r == -EACCES ? -EPERM : r;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/t_fuse.XXXXXX", tmp);
	if (!mkdtemp(f->dir)) {
		r = -errno;
		f->dir[0] = '\0';
		goto fail;
	}
	snprintf(f->path, sizeof(f->path), "%s/f", f->dir);
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40755,user_id=%u,group_id=%u,allow_other", fd,
		 (unsigned)getuid(), (unsigned)getgid());
	/* Does not wait for FUSE_INIT: the kernel queues it for the server. */
	if (mount("t_fuse", f->dir, "fuse.t_fuse", MS_NOSUID | MS_NODEV,
		  opts)) {
		r = -errno;
		goto fail;
	}
	f->mounted = 1;
	f->conn = conn_of(f->dir);
	if (pipe2(ev, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* The server must never block on a full pipe. */
	fcntl(ev[1], F_SETFL, O_NONBLOCK);
	maxfd = max_open_fd();
	f->pid = fork();
	if (f->pid == 0)
		server_main(parent, fd, ev[1], hang_flags, maxfd);
	r = f->pid < 0 ? -errno : 0;
	close(ev[1]);
	if (r < 0) {
		f->pid = 0;
		close(ev[0]);
		goto fail;
	}
	/* Only the server may hold /dev/fuse: its death must abort. */
	close(fd);
	fd = -1;
	f->events = ev[0];
	r = wait_init(f);
	if (r < 0)
		goto fail;
	f->kernel_minor = (unsigned)r;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	t_fuse_stop(f);
	return r;
}

int t_fuse_open(struct t_fuse *f, int flags)
{
	int fd = open(f->path, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int t_fuse_wait_hang(struct t_fuse *f, uint32_t opcode, int timeout_ms,
		     pid_t *tid)
{
	int64_t end = now_ms() + timeout_ms;

	if (f->pid <= 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd p = { .fd = f->events, .events = POLLIN };
		int64_t left = end - now_ms();
		struct event ev;
		ssize_t n;
		int r;

		r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(f->events, &ev, sizeof(ev));
		if (n == 0)
			return -ENOTCONN;
		if (n != sizeof(ev))
			return n < 0 ? -errno : -EBADMSG;
		if (ev.opcode == opcode && opcode != FUSE_INIT) {
			if (tid)
				*tid = ev.val;
			return 0;
		}
	}
}

/* Returns 0 or -errno (-ENOENT when fusectl is not mounted). */
static int abort_conn(unsigned conn)
{
	char path[80];
	int fd, r;

	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort", conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write(fd, "1", 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

void t_fuse_stop(struct t_fuse *f)
{
	/* Without fusectl, killing the server below does it. */
	if (f->mounted && f->conn)
		abort_conn(f->conn);
	if (f->pid > 0) {
		/* Its exit closes the last /dev/fuse fd: the kernel aborts
		 * the connection, failing every pending request. */
		t_kill(f->pid, SIGKILL);
		while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
			;
		f->pid = 0;
		close(f->events);
	}
	if (f->mounted) {
		umount2(f->dir, MNT_DETACH);
		f->mounted = 0;
	}
	if (f->dir[0]) {
		rmdir(f->dir);
		f->dir[0] = '\0';
		f->path[0] = '\0';
	}
}
