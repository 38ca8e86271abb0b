/* SPDX-License-Identifier: MIT */
/*
 * Fuzz elf_probe(): any bytes as a program file.  The answer must be one
 * the contract allows (ASan checks every read stays in the input).  Seeds
 * (fuzz/corpus/elf_probe): small built files, dynamic, static and Go, 64-
 * and 32-bit.
 */
#include "elf_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes: a read past it is ASan's. */
	uint8_t *b = malloc(size ? size : 1);
	int r;

	if (!b)
		return 0;
	memcpy(b, data, size);
	r = elf_probe(b, size);
	if (r != -ENOEXEC && r != -EBADMSG &&
	    (r < 0 || r > (ELF_PROBE_STATIC | ELF_PROBE_GO)))
		abort();
	free(b);
	return 0;
}
