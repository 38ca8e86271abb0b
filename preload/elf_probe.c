/* SPDX-License-Identifier: MIT */
/*
 * elf_probe - the ELF headers ism-run looks at (elf_probe.h).  Only the
 * identification, the program headers (PT_INTERP) and the section names
 * are read; 32- and 64-bit, either byte order.
 */
#include "elf_probe.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct elf {
	const uint8_t *p;
	size_t len;
	bool is64, msb;
};

static uint64_t rd(const struct elf *e, size_t off, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned k = e->msb ? i : n - 1 - i;

		v = v << 8 | e->p[off + k];
	}
	return v;
}

/* Is [off, off + n) inside the file?  (Overflow-safe.) */
static bool inside(const struct elf *e, uint64_t off, uint64_t n)
{
	return off <= e->len && n <= e->len - off;
}

/* A table of @num entries of @entsize bytes at @off, each at least @min:
 * inside the file? */
static bool table_ok(const struct elf *e, uint64_t off, uint64_t entsize,
		     uint64_t num, uint64_t min)
{
	uint64_t size;

	if (!num)
		return true;
	if (entsize < min || __builtin_mul_overflow(entsize, num, &size))
		return false;
	return inside(e, off, size);
}

/* Does the string at @off of a string table [@tab, @tab + @tlen) equal
 * @want (its terminating NUL inside the table)? */
static bool name_is(const struct elf *e, uint64_t tab, uint64_t tlen,
		    uint64_t off, const char *want)
{
	size_t n = strlen(want) + 1;

	return off < tlen && n <= tlen - off &&
	       !memcmp(e->p + tab + off, want, n);
}

/* Does the dynamic segment [@off, @off + @size) name a DT_SONAME?  A
 * shared object run as a program (the dynamic loader itself) has no
 * PT_INTERP and still reads LD_PRELOAD. */
static bool has_soname(const struct elf *e, uint64_t off, uint64_t size)
{
	unsigned w = e->is64 ? 8 : 4;

	if (!inside(e, off, size))
		return false;
	for (uint64_t at = off; size - (at - off) >= 2 * (uint64_t)w;
	     at += 2 * w) {
		uint64_t tag = rd(e, (size_t)at, w);

		if (tag == DT_NULL)
			break;
		if (tag == DT_SONAME)
			return true;
	}
	return false;
}

static int sections(const struct elf *e)
{
	/* Elf64_Shdr / Elf32_Shdr: sh_name at 0, sh_offset and sh_size at
	 * 24/32 (64-bit) or 16/20 (32-bit). */
	unsigned w = e->is64 ? 8 : 4;
	uint64_t shoff = rd(e, e->is64 ? 0x28 : 0x20, w);
	uint64_t entsize = rd(e, e->is64 ? 0x3a : 0x2e, 2);
	uint64_t num = rd(e, e->is64 ? 0x3c : 0x30, 2);
	uint64_t strndx = rd(e, e->is64 ? 0x3e : 0x32, 2);
	uint64_t min = e->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	uint64_t tab, tlen, at;
	int flags = 0;

	if (!shoff || !num)
		return 0; /* no section headers (stripped of them): unknown */
	/* SHN_XINDEX and other escapes: not worth following here. */
	if (strndx >= num || !table_ok(e, shoff, entsize, num, min))
		return -EBADMSG;
	at = shoff + strndx * entsize;
	tab = rd(e, at + (e->is64 ? 24 : 16), w);
	tlen = rd(e, at + (e->is64 ? 32 : 20), w);
	if (!inside(e, tab, tlen))
		return -EBADMSG;
	for (uint64_t i = 0; i < num; i++) {
		uint64_t name = rd(e, shoff + i * entsize, 4);

		if (name_is(e, tab, tlen, name, ".note.go.buildid") ||
		    name_is(e, tab, tlen, name, ".go.buildinfo"))
			flags |= ELF_PROBE_GO;
	}
	return flags;
}

int elf_probe(const uint8_t *buf, size_t len)
{
	struct elf e = { .p = buf, .len = len };
	uint64_t phoff, entsize, num, type, min, dyn_off = 0, dyn_size = 0;
	bool interp = false;
	int r;

	if (!buf || len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG))
		return -ENOEXEC;
	if (buf[EI_CLASS] != ELFCLASS32 && buf[EI_CLASS] != ELFCLASS64)
		return -ENOEXEC;
	if (buf[EI_DATA] != ELFDATA2LSB && buf[EI_DATA] != ELFDATA2MSB)
		return -ENOEXEC;
	e.is64 = buf[EI_CLASS] == ELFCLASS64;
	e.msb = buf[EI_DATA] == ELFDATA2MSB;
	if (len < (e.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
		return -EBADMSG;
	type = rd(&e, 0x10, 2);
	if (type != ET_EXEC && type != ET_DYN)
		return -ENOEXEC;
	phoff = rd(&e, e.is64 ? 0x20 : 0x1c, e.is64 ? 8 : 4);
	entsize = rd(&e, e.is64 ? 0x36 : 0x2a, 2);
	num = rd(&e, e.is64 ? 0x38 : 0x2c, 2);
	min = e.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (!num || num == PN_XNUM || !table_ok(&e, phoff, entsize, num, min))
		return -EBADMSG; /* nothing to load, or past the file */
	for (uint64_t i = 0; i < num; i++) {
		uint64_t at = phoff + i * entsize;

		type = rd(&e, at, 4);
		interp |= type == PT_INTERP;
		if (type == PT_DYNAMIC) {
			/* p_offset, p_filesz: 8, 32 (64-bit); 4, 16. */
			dyn_off = rd(&e, at + (e.is64 ? 8 : 4), e.is64 ? 8 : 4);
			dyn_size =
				rd(&e, at + (e.is64 ? 32 : 16), e.is64 ? 8 : 4);
		}
	}
	if (!interp && dyn_size)
		interp = has_soname(&e, dyn_off, dyn_size);
	r = sections(&e);
	if (r < 0)
		return r;
	return r | (interp ? 0 : ELF_PROBE_STATIC);
}
