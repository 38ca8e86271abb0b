/* SPDX-License-Identifier: MIT */
/*
 * memfd - the shared memory ismd makes, and the fds it hands out of it.
 *
 * Every memfd ismd creates - regions, ivshmem domains, their state tables
 * and output sections - comes from here, so each is the same before any
 * fd of it leaves ismd: mode 0600 (a peer of another uid holding a
 * read-only fd cannot reopen it read-write through /proc), sealed against
 * shrinking, growing and further sealing, and no-exec where the kernel
 * has MFD_NOEXEC_SEAL (which stops execve, not a PROT_EXEC mapping: see
 * docs/security.md).  Peers get fresh open file descriptions of it
 * (ismd_reopen), never ismd's own.
 */
#ifndef ISMD_MEMFD_H
#define ISMD_MEMFD_H

#include <stdbool.h>
#include <stdint.h>

#define ISMD_MEMFD_SEALS_MASK 0x7u /* F_SEAL_SEAL | SHRINK | GROW */

/*
 * A sealed memfd of @size bytes (a multiple of the page size), or -errno.
 * @huge_page: 0 for normal pages, else a huge page size: the memfd is
 * MFD_HUGETLB and its pages are reserved now (a shared mapping reserves
 * them), so no later first touch can fault for lack of them.
 */
int ismd_memfd_new(const char *name, uint64_t size, uint32_t huge_page);
/* A fresh open file description of @fd (O_RDONLY or O_RDWR): an fd or
 * -errno. */
int ismd_reopen(int fd, int flags);
/* The seals ismd puts on every memfd it makes. */
int ismd_memfd_seals(void);

#endif
