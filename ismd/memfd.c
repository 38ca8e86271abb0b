/* SPDX-License-Identifier: MIT */
/* memfd - see memfd.h. */
#include "memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

_Static_assert(SEALS == ISMD_MEMFD_SEALS_MASK, "seal bits");

int ismd_memfd_seals(void)
{
	return SEALS;
}

int ismd_memfd_new(const char *name, uint64_t size, uint32_t huge_page)
{
	unsigned base = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd, e;

	if (size > INT64_MAX)
		return -EINVAL;
	if (huge_page) {
		fd = memfd_create(name, base | MFD_HUGETLB);
	} else {
		fd = memfd_create(name, base | MFD_NOEXEC_SEAL);
		if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
			fd = memfd_create(name, base);
	}
	if (fd < 0)
		return -errno;
	/* Mode first: nothing of it has left ismd yet. */
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0)
		goto fail;
	if (huge_page) {
		/* A shared mapping reserves the huge pages in the file;
		 * without free ones it fails here instead of faulting
		 * later. */
		void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			goto fail;
		munmap(p, size);
	}
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		goto fail;
	return fd;
fail:
	e = -errno;
	close(fd); /* ours alone: nothing can wait */
	return e;
}

int ismd_reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}
