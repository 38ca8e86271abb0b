/* SPDX-License-Identifier: MIT */
/*
 * systemd socket activation: ismd serves a listening socket it inherits
 * as fd 3 (LISTEN_FDS/LISTEN_PID), reports READY=1 on NOTIFY_SOCKET, and
 * refuses a socket of the wrong kind with a clear message.
 */
#include "t_daemon.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[128];

static int bound(int type, const char *name, char *path, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	snprintf(path, n, "%s/%s", dir, name);
	ism_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static pid_t spawn_activated(int lfd, const char *notify)
{
	pid_t pid = fork();

	if (pid == 0) {
		char state[200], pidbuf[16];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(state, sizeof(state), "%s/state", dir);
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		if (lfd != 3) {
			dup2(lfd, 3); /* also clears FD_CLOEXEC */
			close(lfd);
		} else {
			fcntl(3, F_SETFD, 0);
		}
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("NOTIFY_SOCKET", notify, 1);
		execl(t_prog("ISMD", "ismd/ismd"), "ismd", "--state-dir", state,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/ism-act-XXXXXX", t_tmpdir());
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_activated(void **state)
{
	char sock[200], notify[200], buf[256];
	int lfd = bound(SOCK_SEQPACKET, "ism.sock", sock, sizeof(sock));
	int nfd = bound(SOCK_DGRAM, "notify", notify, sizeof(notify));
	struct pollfd p = { .fd = nfd, .events = POLLIN };
	struct ism_conn *c;
	struct ism_region *r;
	struct ism_alloc_opts o = { .size = sizeof(o) };
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(listen(lfd, 16), 0);
	pid = spawn_activated(lfd, notify);
	close(lfd);
	assert_int_equal(poll(&p, 1, 10000), 1);
	n = recv(nfd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "READY=1"));
	assert_int_equal(ism_conn_open(sock, NULL, &c), 0);
	assert_int_equal(ism_region_alloc(c, 4096, &o, &r), 0);
	ism_region_close(r);
	ism_conn_close(c);
	t_kill(pid, SIGTERM);
	assert_int_equal(t_wait(pid), 0);
	/* systemd owns the path: ismd must not remove it. */
	assert_int_equal(access(sock, F_OK), 0);
	close(nfd);
	unlink(sock);
	unlink(notify);
}

static void test_wrong_kind(void **state)
{
	char sock[200];
	int lfd = bound(SOCK_STREAM, "stream.sock", sock, sizeof(sock));
	pid_t pid;

	(void)state;
	assert_int_equal(listen(lfd, 16), 0);
	pid = spawn_activated(lfd, "/nonexistent");
	close(lfd);
	assert_int_equal(t_wait(pid), 1);
	unlink(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_activated),
		cmocka_unit_test(test_wrong_kind),
	};

	return t_exit(cmocka_run_group_tests(tests, setup, teardown));
}
