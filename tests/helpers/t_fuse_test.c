/* SPDX-License-Identifier: MIT */
/*
 * The hostile FUSE helper does what adversarial tests rely on: a polite
 * instance serves its file; a hanging one holds close() (even against
 * SIGKILL) or fstat() until t_fuse_stop(), which releases the waiter and
 * leaves no mount, dir or process behind.  Needs root and /dev/fuse;
 * skips (77) without them.
 */
#include "t_fuse.h"
#include "t_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* How long a waiter must stay blocked, and how soon it must go once
 * released. */
#define STILL_MS 300
#define GONE_MS	 5000

/* fusectl's statfs magic (the kernel's fs/fuse/control.c; no UAPI). */
#define FUSECTL_SUPER_MAGIC 0x65735543

struct fx {
	struct t_fuse f;
	int fd;
	pid_t child;
};

static struct fx fx;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reap @pid within @ms: returns 1 with *@status, or 0 if still running. */
static int reap(pid_t pid, int ms, int *status)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* not ours to wait for any more */
		if (now_ms() >= end)
			return 0;
		sleep_ms(5);
	}
}

/* The scheduler state letter of @pid ('D': uninterruptible), or '?'. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *s;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = fopen(path, "re");
	if (!s)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, s);
	fclose(s);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static bool mounted(const char *dir)
{
	FILE *m = fopen("/proc/self/mounts", "re");
	char line[4096];
	bool found = false;

	assert_non_null(m);
	while (fgets(line, sizeof(line), m))
		if (strstr(line, dir))
			found = true;
	fclose(m);
	return found;
}

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.fd = -1;
	*state = &fx;
	return 0;
}

/* Runs on failure too: release waiters first, then reap, then close our
 * fd (its flush must not reach a live hanging server). */
static int teardown(void **state)
{
	int st;

	(void)state;
	t_fuse_stop(&fx.f);
	if (fx.child > 0 && !reap(fx.child, GONE_MS, &st)) {
		t_kill(fx.child, SIGKILL);
		waitpid(fx.child, &st, 0);
	}
	fx.child = 0;
	if (fx.fd >= 0)
		close(fx.fd);
	fx.fd = -1;
	return 0;
}

/* Stop, and check that the waiter returns and nothing is left behind. */
static void stop_and_check(int *status)
{
	char dir[sizeof(fx.f.dir)];
	int64_t t;

	memcpy(dir, fx.f.dir, sizeof(dir));
	t = now_ms();
	t_fuse_stop(&fx.f);
	assert_true(reap(fx.child, GONE_MS, status));
	fx.child = 0;
	fprintf(stderr, "released in %lld ms\n", (long long)(now_ms() - t));
	assert_false(mounted(dir));
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	/* Our own copy of the fd closes promptly on a dead connection. */
	t = now_ms();
	close(fx.fd);
	fx.fd = -1;
	assert_true(now_ms() - t < 1000);
}

static void test_polite(void **state)
{
	char buf[128];
	struct stat st;
	char dir[sizeof(fx.f.dir)];
	int64_t t = now_ms();
	struct statfs sfs;
	ssize_t n;

	(void)state;
	assert_int_equal(t_fuse_start(&fx.f, 0), 0);
	fprintf(stderr, "kernel offers FUSE 7.%u, we speak 7.%u\n",
		fx.f.kernel_minor, FUSE_KERNEL_MINOR_VERSION);
	assert_true(fx.f.kernel_minor > 0);
	assert_true(mounted(fx.f.dir));
	/* With fusectl mounted, t_fuse_stop() finds our connection there. */
	if (statfs("/sys/fs/fuse/connections/", &sfs) == 0 &&
	    (unsigned long)sfs.f_type == FUSECTL_SUPER_MAGIC) {
		snprintf(buf, sizeof(buf), "/sys/fs/fuse/connections/%u/abort",
			 fx.f.conn);
		assert_int_equal(access(buf, W_OK), 0);
		fprintf(stderr, "fusectl: %s\n", buf);
	}
	fx.fd = t_fuse_open(&fx.f, O_RDONLY);
	assert_true(fx.fd >= 0);
	assert_int_equal(fstat(fx.fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, strlen(T_FUSE_CONTENT));
	n = pread(fx.fd, buf, sizeof(buf), 0);
	assert_int_equal(n, strlen(T_FUSE_CONTENT));
	assert_memory_equal(buf, T_FUSE_CONTENT, (size_t)n);
	assert_int_equal(close(fx.fd), 0);
	fx.fd = -1;
	/* Unknown names do not exist; the root is a directory. */
	snprintf(buf, sizeof(buf), "%s/g", fx.f.dir);
	assert_int_equal(access(buf, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(stat(fx.f.dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Nothing hung, so nothing was reported. */
	assert_int_equal(t_fuse_wait_hang(&fx.f, FUSE_FLUSH, 0, NULL),
			 -ETIMEDOUT);
	memcpy(dir, fx.f.dir, sizeof(dir));
	t_fuse_stop(&fx.f);
	t_fuse_stop(&fx.f); /* idempotent */
	assert_false(mounted(dir));
	assert_int_equal(access(dir, F_OK), -1);
	assert_true(now_ms() - t < 2000);
}

static int do_close(void *arg)
{
	/* 0 if close() succeeded, else its errno (the aborted flush). */
	return close(*(int *)arg) == 0 ? 0 : errno;
}

static void test_hang_flush(void **state)
{
	pid_t tid = 0;
	int st;

	(void)state;
	assert_int_equal(t_fuse_start(&fx.f, T_FUSE_HANG_FLUSH), 0);
	fx.fd = t_fuse_open(&fx.f, O_RDONLY);
	assert_true(fx.fd >= 0);
	fx.child = fork();
	assert_true(fx.child >= 0);
	if (fx.child == 0)
		_exit(do_close(&fx.fd));
	assert_int_equal(t_fuse_wait_hang(&fx.f, FUSE_FLUSH, GONE_MS, &tid), 0);
	assert_int_equal(tid, fx.child);
	sleep_ms(STILL_MS);
	assert_int_equal(waitpid(fx.child, &st, WNOHANG), 0);
	/*
	 * The kernel first waits interruptibly (a signal sends
	 * FUSE_INTERRUPT, which we ignore), but FLUSH is a forced request:
	 * after the signal it waits on uninterruptibly, even on SIGKILL.
	 */
	assert_int_equal(proc_state(fx.child), 'S');
	t_kill(fx.child, SIGKILL);
	sleep_ms(100);
	assert_int_equal(waitpid(fx.child, &st, WNOHANG), 0);
	assert_int_equal(proc_state(fx.child), 'D');
	stop_and_check(&st);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static int do_fstat(void *arg)
{
	struct stat st;

	return fstat(*(int *)arg, &st) == 0 ? 0 : errno;
}

static void test_hang_getattr(void **state)
{
	pid_t tid = 0;
	int st;

	(void)state;
	assert_int_equal(t_fuse_start(&fx.f, T_FUSE_HANG_GETATTR), 0);
	/* Opening needs LOOKUP and OPEN, not GETATTR. */
	fx.fd = t_fuse_open(&fx.f, O_RDONLY);
	assert_true(fx.fd >= 0);
	fx.child = fork();
	assert_true(fx.child >= 0);
	if (fx.child == 0)
		_exit(do_fstat(&fx.fd));
	assert_int_equal(t_fuse_wait_hang(&fx.f, FUSE_GETATTR, GONE_MS, &tid),
			 0);
	assert_int_equal(tid, fx.child);
	sleep_ms(STILL_MS);
	assert_int_equal(waitpid(fx.child, &st, WNOHANG), 0);
	fprintf(stderr, "fstat state %c\n", proc_state(fx.child));
	stop_and_check(&st);
	/* fstat() failed: the connection was aborted under it. */
	assert_true(WIFEXITED(st));
	fprintf(stderr, "fstat: %s\n", strerror(WEXITSTATUS(st)));
	assert_int_not_equal(WEXITSTATUS(st), 0);
}

static int open_close(void *arg)
{
	int fd = t_fuse_open(arg, O_RDONLY);

	if (fd < 0)
		return -fd;
	return close(fd) == 0 ? 0 : errno;
}

static void test_hang_release(void **state)
{
	pid_t tid = 0;
	int st;

	(void)state;
	assert_int_equal(t_fuse_start(&fx.f, T_FUSE_HANG_RELEASE), 0);
	/* The last close: FLUSH (answered), then RELEASE, which a plain
	 * (not fuseblk) mount sends in the background, so close() returns
	 * while the server holds it. */
	fx.child = fork();
	assert_true(fx.child >= 0);
	if (fx.child == 0)
		_exit(open_close(&fx.f));
	assert_true(reap(fx.child, GONE_MS, &st));
	fx.child = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(t_fuse_wait_hang(&fx.f, FUSE_RELEASE, GONE_MS, &tid),
			 0);
	fprintf(stderr, "release sent by tid %d\n", (int)tid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_polite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_flush, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang_getattr, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang_release, setup,
						teardown),
	};
	struct t_fuse probe;
	int r = t_fuse_start(&probe, 0);

	t_fuse_stop(&probe);
	if (r == -EPERM || r == -ENODEV) {
		printf("SKIP: %s\n", r == -EPERM ? "not allowed to mount FUSE "
						   "(needs root)"
						 : "no /dev/fuse");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
