/* SPDX-License-Identifier: MIT */
/*
 * stdio on a carried stream.  glibc's FILE and dprintf() write and read
 * with libc's internal write/read, which no preload can interpose: on a
 * stream moved onto shared memory those bytes would go to the idle TCP
 * socket underneath (the other side's end of stream then fails, see
 * lib/stream's tcp_bypassed()), and reads would wait there for ever.  So
 * dprintf() formats and writes through the shim, and fdopen() of a
 * stream returns a FILE whose reads, writes and close are the shim's
 * (fopencookie), fileno() still naming the fd.  A FILE the program
 * already had on the fd (stdout after dup2(), say) stays beyond reach.
 */
#include "preload.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- dprintf ---- */

/* All @n bytes through the shim's write(), or -1. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int format_out(int fd, const char *fmt, va_list ap)
{
	char *buf;
	int n = vasprintf(&buf, fmt, ap);

	if (n < 0)
		return -1;
	if (write_all(fd, buf, (size_t)n) < 0)
		n = -1;
	free(buf);
	return n;
}

int vdprintf(int fd, const char *fmt, va_list ap)
{
	shim_resolve();
	if (!fd_is_stream(fd))
		return real.vdprintf(fd, fmt, ap);
	return format_out(fd, fmt, ap);
}

int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vdprintf(fd, fmt, ap);
	va_end(ap);
	return n;
}

/* The fortified entry points (_FORTIFY_SOURCE builds call these). */
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	shim_resolve();
	if (!fd_is_stream(fd))
		return real.__vdprintf_chk(fd, flag, fmt, ap);
	return format_out(fd, fmt, ap);
}

int __dprintf_chk(int fd, int flag, const char *fmt, ...);
int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = __vdprintf_chk(fd, flag, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- fdopen ---- */

/* The FILEs fdopen() made on streams, for fileno(): few, so a list. */
struct cfile {
	FILE *f;
	int fd;
	struct cfile *next;
};
static pthread_mutex_t cfiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfile *cfiles;
static atomic_int n_cfiles;

static ssize_t c_read(void *cookie, char *buf, size_t n)
{
	struct cfile *c = cookie;
	ssize_t k;

	do
		k = read(c->fd, buf, n);
	while (k < 0 && errno == EINTR);
	return k;
}

static ssize_t c_write(void *cookie, const char *buf, size_t n)
{
	struct cfile *c = cookie;

	/* All or an error: stdio takes a short count for one. */
	return write_all(c->fd, buf, n) < 0 ? 0 : (ssize_t)n;
}

static int c_close(void *cookie)
{
	struct cfile *c = cookie, **pp;
	int fd = c->fd;

	pthread_mutex_lock(&cfiles_lock);
	for (pp = &cfiles; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			atomic_fetch_sub(&n_cfiles, 1);
			break;
		}
	pthread_mutex_unlock(&cfiles_lock);
	free(c);
	return close(fd);
}

FILE *fdopen(int fd, const char *mode)
{
	cookie_io_functions_t io = { .read = c_read,
				     .write = c_write,
				     .close = c_close };
	struct cfile *c;

	shim_resolve();
	if (!fd_is_stream(fd))
		return real.fdopen(fd, mode);
	if (!(c = malloc(sizeof(*c))))
		return NULL;
	c->fd = fd;
	c->f = fopencookie(c, mode, io);
	if (!c->f) {
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&cfiles_lock);
	c->next = cfiles;
	cfiles = c;
	atomic_fetch_add(&n_cfiles, 1);
	pthread_mutex_unlock(&cfiles_lock);
	return c->f;
}

/* The fd of one of our FILEs, or -1. */
static int cfile_fd(FILE *f)
{
	int fd = -1;

	if (!atomic_load(&n_cfiles))
		return -1;
	pthread_mutex_lock(&cfiles_lock);
	for (struct cfile *c = cfiles; c; c = c->next)
		if (c->f == f) {
			fd = c->fd;
			break;
		}
	pthread_mutex_unlock(&cfiles_lock);
	return fd;
}

int fileno(FILE *f)
{
	int fd = cfile_fd(f);

	shim_resolve();
	return fd >= 0 ? fd : real.fileno(f);
}

int fileno_unlocked(FILE *f)
{
	int fd = cfile_fd(f);

	shim_resolve();
	return fd >= 0 ? fd : real.fileno_unlocked(f);
}
