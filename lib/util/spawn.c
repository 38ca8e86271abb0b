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

int ism_private_start(struct ism_private *p, const char *ismd,
		      const char *const *extra)
{
	char state[96];
	const char *argv[40];
	int n = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/ism-private-XXXXXX");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "cannot create a temp dir: %s\n",
			strerror(errno));
		return -1;
	}
	snprintf(p->sock, sizeof(p->sock), "%s/ism.sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/ismd.log", p->dir);
	snprintf(state, sizeof(state), "%s/state", p->dir);
	argv[n++] = ismd;
	argv[n++] = "--socket";
	argv[n++] = p->sock;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	for (; extra && *extra && n < 38; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0)
			dup2(fd, 2);
		execvp(argv[0], (char **)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10000000L };
		int st;

		if (answers(p->sock))
			return 0;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "%s did not start; its log is %s\n", ismd, p->log);
	return -1;
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

int ism_private_stop(struct ism_private *p, int remove)
{
	int st, r = -1;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		if (waitpid(p->pid, &st, 0) == p->pid)
			r = WIFEXITED(st) ? WEXITSTATUS(st)
					  : 128 + WTERMSIG(st);
		p->pid = 0;
	}
	if (remove && p->dir[0])
		remove_dir(p->dir);
	return r;
}
