/* SPDX-License-Identifier: MIT */
#include "spawn.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

const char *ism_find_ismd(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("ISMD");
	char *slash;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	if (n > 0) {
		path[n] = '\0';
		slash = strrchr(path, '/');
		if (slash) {
			snprintf(slash, sizeof(path) - (size_t)(slash - path),
				 "/../ismd/ismd");
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "ismd";
}

static int answers(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ism_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

const char *ism_tmpdir(void)
{
	const char *v = getenv("TMPDIR");

	return v && v[0] == '/' && strlen(v) <= 40 ? v : "/tmp";
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int spawn(struct ism_private *p)
{
	const char *argv[8 + 64];
	const char *a = p->args;
	int n = 0;

	argv[n++] = p->ismd;
	argv[n++] = "--socket";
	argv[n++] = p->sock;
	argv[n++] = "--state-dir";
	argv[n++] = p->state;
	for (unsigned i = 0; i < p->n_args; i++, a += strlen(a) + 1)
		argv[n++] = a;
	argv[n] = NULL;
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -errno;
	}
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0600);

		/* A starter that dies (a crashed test) leaves no ismd: its
		 * state is in a temp dir, nobody else can use it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
			dup2(fd, 2);
		execvp(argv[0], (char **)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	/* 20 s: a sanitizer build on a loaded machine starts slowly. */
	for (int waited = 0; waited < 20000; waited += 5) {
		int st;

		if (answers(p->sock))
			return 0;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return -ECHILD;
		}
		msleep(5);
	}
	ism_private_kill(p);
	return -ETIMEDOUT;
}

int ism_private_start(struct ism_private *p, const char *ismd,
		      const char *const *extra)
{
	size_t used = 0;
	int r;

	memset(p, 0, sizeof(*p));
	p->ismd = ismd ? ismd : ism_find_ismd();
	for (; extra && *extra; extra++) {
		size_t len = strlen(*extra) + 1;

		if (p->n_args == 64 || len > sizeof(p->args) - used) {
			fprintf(stderr, "too many ismd arguments\n");
			return -E2BIG;
		}
		memcpy(p->args + used, *extra, len);
		used += len;
		p->n_args++;
	}
	snprintf(p->dir, sizeof(p->dir), "%s/ism-private-XXXXXX", ism_tmpdir());
	if (!mkdtemp(p->dir)) {
		r = -errno;
		fprintf(stderr, "cannot create a temp dir: %s\n", strerror(-r));
		p->dir[0] = '\0';
		return r;
	}
	chmod(p->dir, 0711); /* other uids may reach the socket */
	snprintf(p->sock, sizeof(p->sock), "%s/ism.sock", p->dir);
	snprintf(p->state, sizeof(p->state), "%s/state", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/ismd.log", p->dir);
	r = spawn(p);
	if (r < 0)
		fprintf(stderr, "%s did not start (%s); its log is %s\n",
			p->ismd, strerror(-r), p->log);
	return r;
}

int ism_private_restart(struct ism_private *p)
{
	return p->pid > 0 ? -EBUSY : spawn(p);
}

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d))) {
		int n;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue;
		if (unlink(sub) < 0 && errno == EISDIR)
			remove_dir(sub);
	}
	closedir(d);
	rmdir(path);
}

int ism_private_stop_within(struct ism_private *p, int ms)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid)
			break;
		if (r < 0) {
			p->pid = 0;
			return -1;
		}
		if (waited >= ms) {
			fprintf(stderr,
				"ismd did not stop within %d ms: "
				"killed\n",
				ms);
			ism_private_kill(p);
			return -ETIMEDOUT;
		}
		msleep(10);
	}
	p->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ism_private_kill(struct ism_private *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

void ism_private_remove(struct ism_private *p)
{
	if (p->dir[0])
		remove_dir(p->dir);
	p->dir[0] = '\0';
}

int ism_private_stop(struct ism_private *p, int remove)
{
	int r = ism_private_stop_within(p, 60000);

	if (remove)
		ism_private_remove(p);
	return r;
}
