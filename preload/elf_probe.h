/* SPDX-License-Identifier: MIT */
/*
 * elf_probe - what in a program file keeps the shim out of it: no
 * dynamic loader (statically linked), or Go's runtime (its own system
 * calls).  ism-run says so before running such a program, rather than
 * leaving its connections on TCP unnoticed.  The file is the user's, but
 * read as hostile input all the same: every offset and count is checked.
 */
#ifndef ISM_PRELOAD_ELF_PROBE_H
#define ISM_PRELOAD_ELF_PROBE_H

#include <stddef.h>
#include <stdint.h>

enum elf_probe_flags {
	ELF_PROBE_STATIC = 1, /* no PT_INTERP: LD_PRELOAD is never read */
	ELF_PROBE_GO = 2,     /* a .note.go.buildid or .go.buildinfo section */
};

/*
 * Look at the @len bytes of a program file at @buf.  Returns its enum
 * elf_probe_flags (0: nothing known to keep the shim out), -ENOEXEC (not
 * an ELF executable or shared object: a script, say), or -EBADMSG (an
 * ELF file whose headers point outside it).
 */
int elf_probe(const uint8_t *buf, size_t len);

#endif
