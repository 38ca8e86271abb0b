/* SPDX-License-Identifier: MIT */
/*
 * t_lock - holding a socket's lock from a test (see t_lock.h).
 */
#include "t_lock.h"
#include "t_daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int t_uffd_pages(size_t n, char **pages)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	char *p;

	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0) {
		if (uffd >= 0)
			close(uffd);
		return -77;
	}
	p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (unsigned long)p;
	reg.range.len = n * 4096;
	if (p == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		close(uffd);
		return -77;
	}
	*pages = p;
	return uffd;
}

bool t_uffd_faults(int uffd, int n, int ms)
{
	for (int got = 0; got < n;) {
		struct uffd_msg m;
		struct pollfd p = { uffd, POLLIN, 0 };

		if (poll(&p, 1, ms) != 1 ||
		    read(uffd, &m, sizeof(m)) != sizeof(m))
			return false;
		if (m.event == UFFD_EVENT_PAGEFAULT)
			got++;
	}
	return true;
}

void *t_send_from_fault(void *arg)
{
	struct t_held *h = arg;

	(void)send(h->fd, h->page, 4096, 0);
	return NULL;
}

bool t_thread_in_d(pid_t pid, int ms)
{
	for (int w = 0; w < ms; w += 10) {
		char path[320];
		DIR *dir;
		struct dirent *e;
		bool found = false;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		if (!(dir = opendir(path)))
			return false;
		while ((e = readdir(dir)) && !found) {
			char st[512], *p;
			FILE *f;

			if (e->d_name[0] == '.' || atoi(e->d_name) == pid)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%.32s/stat",
				 (int)pid, e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(st, sizeof(st), f) && (p = strrchr(st, ')')))
				found = p[1] == ' ' && p[2] == 'D';
			fclose(f);
		}
		closedir(dir);
		if (found)
			return true;
		t_msleep(10);
	}
	return false;
}
