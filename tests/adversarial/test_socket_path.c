/* SPDX-License-Identifier: MIT */
/*
 * The socket path in a directory another user can write (issue 9 item
 * 15).  The directory must not be such a place, but ismd must not be
 * turned against other files when it is: a symlink at PATH.lock, a
 * regular file at PATH, a squatting socket with a full backlog, a
 * symlink raced in between bind and chmod, and PATH replaced while ismd
 * runs.  Each case runs in a sticky (1777) and a plain (0777) directory.
 *
 * ismd is started here by hand (not t_daemon_start, which uses a private
 * directory).  The attacker is "nobody" when the test runs as root, and
 * the test's own uid otherwise (the cases still hold: ismd must not
 * follow, delete or hang on what it finds).  Every process started is
 * reaped, and every file removed, on success, failure and timeout: the
 * teardown kills and reaps what a failed assertion left behind.
 */
#include "t_daemon.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY	   65534
#define SOCK_GROUP 4242
/* Liveness bounds only: generous for a loaded 2-core machine. */
#define REFUSE_MS 10000
#define START_MS  10000

#define MAX_CHILDREN 8

static struct {
	char top[64];  /* root of everything: removed at teardown */
	char pub[80];  /* the world-writable directory */
	char priv[80]; /* 0700: victims, the log, the state directory */
	char sock[100], lock[112], log[100], state[100];
	pid_t kids[MAX_CHILDREN];
} F;

static const mode_t dir_modes[] = { 01777, 0777 };

static void track(pid_t pid)
{
	assert_true(pid > 0);
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (F.kids[i] <= 0) {
			F.kids[i] = pid;
			return;
		}
	fail_msg("too many children");
}

static void untrack(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (F.kids[i] == pid)
			F.kids[i] = 0;
}

static void kill_reap(pid_t pid)
{
	t_kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	untrack(pid);
}

/* Wait up to @ms for @pid to exit: its status (128+signal if killed),
 * or -ETIMEDOUT after killing and reaping it. */
static int wait_exit(pid_t pid, int ms)
{
	for (int w = 0;; w += 10) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			untrack(pid);
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		if (w >= ms) {
			kill_reap(pid);
			return -ETIMEDOUT;
		}
		t_msleep(10);
	}
}

static void rm_rf(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	char sub[512];

	if (!dir) {
		unlink(path);
		return;
	}
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rm_rf(sub);
	}
	closedir(dir);
	rmdir(path);
}

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	snprintf(F.top, sizeof(F.top), "%s/ism-sockpath-XXXXXX", t_tmpdir());
	if (!mkdtemp(F.top))
		return -1;
	/* The attacker must reach pub/ (but nothing else here). */
	chmod(F.top, 0711);
	snprintf(F.priv, sizeof(F.priv), "%s/priv", F.top);
	snprintf(F.log, sizeof(F.log), "%s/ismd.log", F.priv);
	snprintf(F.state, sizeof(F.state), "%s/state", F.priv);
	return mkdir(F.priv, 0700);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (F.kids[i] > 0)
			kill_reap(F.kids[i]);
	if (getenv("ISM_TEST_KEEP"))
		fprintf(stderr, "keeping %s\n", F.top);
	else if (F.top[0])
		rm_rf(F.top);
	return 0;
}

/* A fresh world-writable directory of @mode for one case. */
static void pub_dir(mode_t mode)
{
	if (F.pub[0])
		rm_rf(F.pub);
	snprintf(F.pub, sizeof(F.pub), "%s/pub%04o", F.top, (unsigned)mode);
	snprintf(F.sock, sizeof(F.sock), "%s/ism.sock", F.pub);
	snprintf(F.lock, sizeof(F.lock), "%s.lock", F.sock);
	assert_int_equal(mkdir(F.pub, 0700), 0);
	assert_int_equal(chmod(F.pub, mode), 0);
}

static bool is_root(void)
{
	return geteuid() == 0;
}

static int become_attacker(void)
{
	if (!is_root())
		return 0;
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return 0;
}

/* Run @fn(@arg) as the attacker, to completion: its exit status. */
static int as_attacker(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(become_attacker() < 0 ? 99 : fn(arg));
	}
	track(pid);
	return wait_exit(pid, REFUSE_MS);
}

static pid_t spawn_ismd(const char *const *extra)
{
	const char *argv[24];
	int n = 0, fd;
	pid_t pid;

	argv[n++] = t_prog("ISMD", "ismd/ismd");
	argv[n++] = "--socket";
	argv[n++] = F.sock;
	argv[n++] = "--state-dir";
	argv[n++] = F.state;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (int i = 0; extra && extra[i] && n < 22; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	/* Emptied here, not in the child: started() must not find the
	 * previous ismd's lines. */
	fd = open(F.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	track(pid);
	return pid;
}

/* The log of the last ismd, NUL-terminated (static buffer). */
static const char *log_text(void)
{
	static char buf[65536];
	ssize_t n = 0;
	int fd = open(F.log, O_RDONLY);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static void dump_log(void)
{
	fprintf(stderr, "---- ismd log ----\n%s---- end ----\n", log_text());
}

/* Does the log hold an error line naming @what? */
static bool log_error_names(const char *what)
{
	const char *p = log_text();

	while ((p = strstr(p, "ismd: error: "))) {
		const char *eol = strchr(p, '\n');

		const char *q = strstr(p, what);

		if (!eol)
			eol = p + strlen(p);
		if (q && q < eol)
			return true;
		p = eol;
	}
	return false;
}

static void assert_clean_log(void)
{
	const char *t = log_text();

	if (strstr(t, "Sanitizer") || strstr(t, "runtime error")) {
		dump_log();
		fail_msg("ismd reported a sanitizer error");
	}
}

/* A non-blocking connect: true if something accepts it now. */
static bool answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	bool up;

	if (fd < 0)
		return false;
	ism_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return up;
}

/*
 * ismd must refuse to start: wait for its exit (a clean, non-zero one,
 * not a signal) within the liveness bound.  If it comes up instead, or
 * hangs, it is killed and reaped, and the test fails.
 */
static void expect_refusal(pid_t pid, bool probe)
{
	int st = -ETIMEDOUT;

	for (int w = 0; w < REFUSE_MS; w += 10) {
		int s;

		if (waitpid(pid, &s, WNOHANG) == pid) {
			untrack(pid);
			st = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
			break;
		}
		if (probe && answers(F.sock)) {
			kill_reap(pid);
			dump_log();
			fail_msg("ismd started on %s", F.sock);
		}
		t_msleep(10);
	}
	if (st == -ETIMEDOUT) {
		kill_reap(pid);
		dump_log();
		fail_msg("ismd neither started nor refused in %d ms (hung)",
			 REFUSE_MS);
	}
	if (st == 0 || st >= 126) {
		dump_log();
		fail_msg("ismd exit status %d, expected a refusal", st);
	}
	assert_clean_log();
}

/* Start ismd and wait until it says it listens (the path itself may be
 * an attacker's by then); false if it exited first. */
static bool started(pid_t pid)
{
	for (int w = 0; w < START_MS; w += 5) {
		int s;

		if (strstr(log_text(), "listening on"))
			return true;
		if (waitpid(pid, &s, WNOHANG) == pid) {
			untrack(pid);
			return false;
		}
		t_msleep(5);
	}
	kill_reap(pid);
	dump_log();
	fail_msg("ismd neither started nor exited in %d ms", START_MS);
	return false;
}

static void stop(pid_t pid)
{
	int st;

	t_kill(pid, SIGTERM);
	st = wait_exit(pid, START_MS);
	if (st != 0) {
		dump_log();
		fail_msg("ismd stopped with status %d", st);
	}
	assert_clean_log();
}

/* (a) A symlink at PATH.lock: open(O_CREAT) must not follow it. */
static int plant_lock_symlink(void *target)
{
	return symlink(target, F.lock) < 0 ? 1 : 0;
}

static void test_lock_symlink(void **state)
{
	char target[200];

	(void)state;
	snprintf(target, sizeof(target), "%s/created-by-ismd", F.priv);
	for (size_t i = 0; i < ISM_ARRAY_SIZE(dir_modes); i++) {
		struct stat st;

		pub_dir(dir_modes[i]);
		assert_int_equal(as_attacker(plant_lock_symlink, target), 0);
		expect_refusal(spawn_ismd(NULL), true);
		assert_int_not_equal(access(target, F_OK), 0);
		assert_int_equal(errno, ENOENT);
		assert_true(log_error_names(F.lock));
		/* The symlink is the attacker's: left alone. */
		assert_int_equal(lstat(F.lock, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
	}
}

/* (b) A regular file at PATH: refused, and the file intact. */
static int plant_file(void *arg)
{
	int fd = open(F.sock, O_WRONLY | O_CREAT | O_EXCL, 0644);

	(void)arg;
	if (fd < 0 || write(fd, "precious\n", 9) != 9)
		return 1;
	close(fd);
	return 0;
}

static void assert_file_intact(const char *path, const struct stat *was)
{
	struct stat st;
	char buf[32] = { 0 };
	int fd;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_ino, was->st_ino);
	assert_int_equal(st.st_mode, was->st_mode);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 9);
	close(fd);
	assert_string_equal(buf, "precious\n");
}

static void test_regular_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < ISM_ARRAY_SIZE(dir_modes); i++) {
		struct stat was;

		pub_dir(dir_modes[i]);
		assert_int_equal(as_attacker(plant_file, NULL), 0);
		assert_int_equal(lstat(F.sock, &was), 0);
		expect_refusal(spawn_ismd(NULL), true);
		assert_file_intact(F.sock, &was);
		assert_true(log_error_names(F.sock));
	}
}

/* (c) A squatter: a listener with backlog 0 and its queue full.  It
 * reports on @arg (a pipe) and then waits to be killed. */
static int squat(void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int *pfd = arg, fd, n = 0;

	close(pfd[0]);
	ism_strlcpy(sa.sun_path, F.sock, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 0) < 0)
		return 1;
	for (;; n++) {
		int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);

		if (c < 0 || n > 64)
			return 2;
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (errno != EAGAIN)
				return 3;
			close(c);
			break;
		}
	}
	if (write(pfd[1], "", 1) != 1)
		return 4;
	for (;;)
		pause();
}

static void test_full_backlog_squatter(void **state)
{
	(void)state;
	for (size_t i = 0; i < ISM_ARRAY_SIZE(dir_modes); i++) {
		struct stat was, now;
		int pfd[2];
		pid_t sq;
		char c;

		pub_dir(dir_modes[i]);
		assert_int_equal(pipe(pfd), 0);
		sq = fork();
		if (sq == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(become_attacker() < 0 ? 99 : squat(pfd));
		}
		track(sq);
		close(pfd[1]);
		/* EOF here means the squatter failed to set up. */
		assert_int_equal(read(pfd[0], &c, 1), 1);
		close(pfd[0]);
		assert_int_equal(lstat(F.sock, &was), 0);
		expect_refusal(spawn_ismd(NULL), false);
		assert_true(log_error_names(F.sock));
		/* The squatter's socket is not ismd's to remove. */
		assert_int_equal(lstat(F.sock, &now), 0);
		assert_int_equal(now.st_ino, was.st_ino);
		kill_reap(sq);
	}
}

/*
 * (d) The socket has exactly --socket-mode and group; and a victim the
 * attacker symlinks (or links) at PATH, before and while ismd starts,
 * keeps its mode.  The race: the attacker renames a fresh symlink to the
 * victim over PATH in a loop, so whatever ismd does to PATH by name
 * between bind() and chmod() lands on the victim.
 */
static char victim[200];

static int plant_symlink(void *arg)
{
	(void)arg;
	return symlink(victim, F.sock) < 0 ? 1 : 0;
}

static int race_symlinks(void *arg)
{
	char tmp[220];

	(void)arg;
	snprintf(tmp, sizeof(tmp), "%s/.evil", F.pub);
	for (;;)
		if (symlink(victim, tmp) == 0 || errno == EEXIST)
			rename(tmp, F.sock);
	return 0;
}

static void make_victim(void)
{
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", F.priv);
	unlink(victim);
	fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	close(fd);
}

static void assert_victim_intact(const char *after)
{
	struct stat st;

	assert_int_equal(lstat(victim, &st), 0);
	if ((st.st_mode & 07777) != 0600 || st.st_uid != geteuid() ||
	    st.st_gid != getegid()) {
		dump_log();
		fail_msg("after %s, the victim is mode %04o uid %d gid %d",
			 after, (unsigned)(st.st_mode & 07777), (int)st.st_uid,
			 (int)st.st_gid);
	}
}

static void test_mode_and_victim(void **state)
{
	char group[16];
	const char *args[] = { "--socket-mode", "0640", "--socket-group", group,
			       NULL };
	const char *wide[] = { "--socket-mode", "0666", "--socket-group", group,
			       NULL };
	gid_t gid = is_root() ? SOCK_GROUP : getegid();

	(void)state;
	snprintf(group, sizeof(group), "%u", (unsigned)gid);
	for (size_t i = 0; i < ISM_ARRAY_SIZE(dir_modes); i++) {
		struct timespec t0, t1;
		struct stat st;
		pid_t pid, racer;

		pub_dir(dir_modes[i]);
		make_victim();

		/* A clean start: exactly the mode and group asked. */
		pid = spawn_ismd(args);
		assert_true(started(pid));
		assert_int_equal(lstat(F.sock, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0640);
		assert_int_equal(st.st_gid, gid);
		assert_int_equal(st.st_uid, geteuid());
		stop(pid);
		assert_int_not_equal(access(F.sock, F_OK), 0);

		/* A symlink to the victim planted beforehand. */
		assert_int_equal(as_attacker(plant_symlink, NULL), 0);
		pid = spawn_ismd(wide);
		if (started(pid))
			stop(pid);
		else
			assert_clean_log();
		assert_victim_intact("a symlink at PATH");
		unlink(F.sock);

		/* A hard link to it (as root: protected_hardlinks keeps
		 * nobody from making one, not every system sets it). */
		assert_int_equal(link(victim, F.sock), 0);
		pid = spawn_ismd(wide);
		if (started(pid))
			stop(pid);
		else
			assert_clean_log();
		assert_victim_intact("a hard link at PATH");
		unlink(F.sock);

		/* Symlinks raced in while ismd starts, again and again. */
		racer = fork();
		if (racer == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(become_attacker() < 0 ? 99 : race_symlinks(NULL));
		}
		track(racer);
		/* Before the fix this lost within 3 to 100 starts (some ms
		 * each); the time cap is for a slow machine. */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int n = 0; n < 400; n++) {
			char what[64];

			pid = spawn_ismd(wide);
			if (started(pid))
				stop(pid);
			else
				assert_clean_log();
			snprintf(what, sizeof(what),
				 "%d raced start(s) in a %04o directory", n + 1,
				 (unsigned)dir_modes[i]);
			assert_victim_intact(what);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (t1.tv_sec - t0.tv_sec > 8)
				break;
		}
		kill_reap(racer);
	}
}

/* (e) On exit, PATH is removed only if it is still ismd's socket. */
static void test_exit_removes_only_its_socket(void **state)
{
	char moved[220], other[220];

	(void)state;
	for (size_t i = 0; i < ISM_ARRAY_SIZE(dir_modes); i++) {
		struct stat was;
		pid_t pid;
		int fd;

		pub_dir(dir_modes[i]);
		snprintf(moved, sizeof(moved), "%s/moved.sock", F.pub);
		snprintf(other, sizeof(other), "%s/other", F.pub);

		/* Another file renamed over PATH while ismd runs. */
		pid = spawn_ismd(NULL);
		assert_true(started(pid));
		assert_true(answers(F.sock));
		fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "precious\n", 9), 9);
		close(fd);
		assert_int_equal(lstat(other, &was), 0);
		assert_int_equal(rename(other, F.sock), 0);
		stop(pid);
		assert_file_intact(F.sock, &was);
		assert_int_equal(unlink(F.sock), 0);

		/* ismd's socket moved aside and a symlink to it at PATH:
		 * the symlink is not ismd's socket (stat() would say it
		 * is). */
		pid = spawn_ismd(NULL);
		assert_true(started(pid));
		assert_int_equal(rename(F.sock, moved), 0);
		assert_int_equal(symlink(moved, F.sock), 0);
		stop(pid);
		assert_int_equal(lstat(F.sock, &was), 0);
		assert_true(S_ISLNK(was.st_mode));
		unlink(F.sock);
		unlink(moved);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lock_symlink, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_regular_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_backlog_squatter,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_and_victim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_exit_removes_only_its_socket, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return t_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
