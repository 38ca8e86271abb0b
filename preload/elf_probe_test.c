/* SPDX-License-Identifier: MIT */
/*
 * elf_probe: program files the shim can and cannot reach, built here
 * (64- and 32-bit, both byte orders) and this test's own; every
 * truncation; headers that point outside the file.
 */
#include "elf_probe.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

/* ---- a program file, built: the ELF header, @nph program headers (one
 * PT_INTERP if @interp), section headers named @names (the last one is
 * the name table), in the class and byte order asked ---- */

struct img {
	uint8_t b[4096];
	size_t len;
	bool is64, msb;
};

static void put(struct img *m, size_t off, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned k = m->msb ? n - 1 - i : i;

		m->b[off + k] = (uint8_t)(v >> (8 * i));
	}
}

static void build(struct img *m, bool is64, bool msb, bool interp,
		  const char *const *names, unsigned nnames)
{
	size_t eh = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t ph = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t sh = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	unsigned w = is64 ? 8 : 4, nph = 2;
	size_t phoff = eh, strtab = phoff + nph * ph, str = 1, shoff;

	memset(m, 0, sizeof(*m));
	m->is64 = is64;
	m->msb = msb;
	memcpy(m->b, ELFMAG, SELFMAG);
	m->b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	m->b[EI_DATA] = msb ? ELFDATA2MSB : ELFDATA2LSB;
	m->b[EI_VERSION] = EV_CURRENT;
	put(m, 0x10, ET_DYN, 2);
	put(m, is64 ? 0x20 : 0x1c, phoff, w);
	put(m, is64 ? 0x36 : 0x2a, ph, 2);
	put(m, is64 ? 0x38 : 0x2c, nph, 2);
	put(m, phoff, PT_LOAD, 4);
	put(m, phoff + ph, interp ? PT_INTERP : PT_NOTE, 4);
	/* The names, then the section headers (index 0: the null one). */
	for (unsigned i = 0; i < nnames; i++) {
		strcpy((char *)m->b + strtab + str, names[i]);
		str += strlen(names[i]) + 1;
	}
	shoff = (strtab + str + 7) & ~(size_t)7;
	if (nnames) {
		put(m, is64 ? 0x28 : 0x20, shoff, w);
		put(m, is64 ? 0x3a : 0x2e, sh, 2);
		put(m, is64 ? 0x3c : 0x30, nnames + 1, 2);
		put(m, is64 ? 0x3e : 0x32, nnames, 2); /* the last: names */
	}
	str = 1;
	for (unsigned i = 0; i < nnames; i++) {
		size_t at = shoff + (i + 1) * sh;

		put(m, at, str, 4);
		str += strlen(names[i]) + 1;
		if (i == nnames - 1) {
			put(m, at + (is64 ? 24 : 16), strtab, w);
			put(m, at + (is64 ? 32 : 20), str, w);
		}
	}
	m->len = shoff + (nnames + 1) * sh;
}

/* Make the second program header a PT_DYNAMIC segment, appended: a
 * DT_SONAME (a shared object run as a program, as the loader is) or not
 * (a static-pie). */
static void add_dynamic(struct img *m, bool soname)
{
	size_t ph = m->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t dyn = (m->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)) + ph;
	unsigned w = m->is64 ? 8 : 4;
	size_t at = m->len;

	put(m, dyn, PT_DYNAMIC, 4);
	put(m, dyn + (m->is64 ? 8 : 4), at, w);
	put(m, dyn + (m->is64 ? 32 : 16), 4 * w, w);
	put(m, at, soname ? DT_SONAME : DT_DEBUG, w);
	put(m, at + w, 1, w);
	put(m, at + 2 * w, DT_NULL, w);
	put(m, at + 3 * w, 0, w);
	m->len = at + 4 * w;
}

static const char *const plain[] = { ".text", ".dynamic", ".shstrtab" };
static const char *const go[] = { ".text", ".note.go.buildid", ".shstrtab" };
static const char *const go2[] = { ".go.buildinfo", ".shstrtab" };

/* Every prefix of a built file and of this program's own: an answer
 * the contract allows (ASan watches the reads). */
static void check_prefixes(const uint8_t *b, size_t len)
{
	for (size_t n = 0; n <= len; n++) {
		int r = elf_probe(b, n);

		assert_true(r == -ENOEXEC || r == -EBADMSG ||
			    (r >= 0 && r <= (ELF_PROBE_STATIC | ELF_PROBE_GO)));
	}
}

static void test_kinds(void **state)
{
	struct img m;

	(void)state;
	for (int v = 0; v < 4; v++) {
		bool is64 = v & 1, msb = v & 2;

		build(&m, is64, msb, true, plain, 3);
		assert_int_equal(elf_probe(m.b, m.len), 0);
		build(&m, is64, msb, false, plain, 3);
		assert_int_equal(elf_probe(m.b, m.len), ELF_PROBE_STATIC);
		build(&m, is64, msb, true, go, 3);
		assert_int_equal(elf_probe(m.b, m.len), ELF_PROBE_GO);
		build(&m, is64, msb, false, go2, 2);
		assert_int_equal(elf_probe(m.b, m.len),
				 ELF_PROBE_GO | ELF_PROBE_STATIC);
		/* No section headers at all: Go unknown, static known. */
		build(&m, is64, msb, false, NULL, 0);
		assert_int_equal(elf_probe(m.b, m.len), ELF_PROBE_STATIC);
		/* The loader run as a program; a static-pie; a dynamic
		 * segment past the end of the file. */
		build(&m, is64, msb, false, plain, 3);
		add_dynamic(&m, true);
		assert_int_equal(elf_probe(m.b, m.len), 0);
		check_prefixes(m.b, m.len);
		build(&m, is64, msb, false, plain, 3);
		add_dynamic(&m, false);
		assert_int_equal(elf_probe(m.b, m.len), ELF_PROBE_STATIC);
		build(&m, is64, msb, false, plain, 3);
		add_dynamic(&m, true);
		m.len -= 1;
		assert_int_equal(elf_probe(m.b, m.len), ELF_PROBE_STATIC);
	}
}

static void test_not_programs(void **state)
{
	static const char script[] = "#!/bin/sh\necho hi\n";
	struct img m;

	(void)state;
	assert_int_equal(elf_probe((const uint8_t *)script, sizeof(script)),
			 -ENOEXEC);
	assert_int_equal(elf_probe(NULL, 0), -ENOEXEC);
	build(&m, true, false, true, plain, 3);
	m.b[EI_CLASS] = 7;
	assert_int_equal(elf_probe(m.b, m.len), -ENOEXEC);
	build(&m, true, false, true, plain, 3);
	m.b[EI_DATA] = 0;
	assert_int_equal(elf_probe(m.b, m.len), -ENOEXEC);
	build(&m, true, false, true, plain, 3);
	put(&m, 0x10, ET_REL, 2); /* an object file */
	assert_int_equal(elf_probe(m.b, m.len), -ENOEXEC);
}

/* Headers that point outside the file, counts that overflow, a name
 * table without its NUL: -EBADMSG, or a name not matched. */
static void test_lies(void **state)
{
	struct img m;

	(void)state;
	build(&m, true, false, true, go, 3);
	put(&m, 0x20, m.len, 8); /* program headers past the end */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x20, UINT64_MAX - 8, 8); /* offset + size wraps */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x36, 8, 2); /* entries smaller than a program header */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x38, 0, 2); /* nothing to load */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x38, PN_XNUM, 2);
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, false, true, true, go, 3);
	put(&m, 0x30, 0xfff0, 2); /* section count past the end */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x3e, 4, 2); /* the name table's index out of range */
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	build(&m, true, false, true, go, 3);
	put(&m, 0x3a, UINT16_MAX, 2);
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
	/* The name table ends inside ".note.go.buildid" (1 + ".text" 6 +
	 * 10 of its 17 bytes): no match; then it starts past the end. */
	build(&m, true, false, true, go, 3);
	put(&m, m.len - sizeof(Elf64_Shdr) + 32, 17, 8);
	assert_int_equal(elf_probe(m.b, m.len), 0);
	put(&m, m.len - sizeof(Elf64_Shdr) + 24, m.len, 8);
	assert_int_equal(elf_probe(m.b, m.len), -EBADMSG);
}

static void test_truncated(void **state)
{
	struct img m;
	struct stat st;
	uint8_t *self;
	int fd;

	(void)state;
	build(&m, true, false, true, go, 3);
	check_prefixes(m.b, m.len);
	build(&m, false, true, false, go2, 2);
	check_prefixes(m.b, m.len);
	/* This test is a dynamically linked C program: nothing keeps the
	 * shim out. */
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	self = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(self != MAP_FAILED);
	assert_int_equal(elf_probe(self, (size_t)st.st_size), 0);
	check_prefixes(self,
		       (size_t)st.st_size < 8192 ? (size_t)st.st_size : 8192);
	munmap(self, (size_t)st.st_size);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_not_programs),
		cmocka_unit_test(test_lies),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
