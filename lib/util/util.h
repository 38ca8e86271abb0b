/* SPDX-License-Identifier: MIT */
/*
 * util - small helpers shared by libism, ismd, ismctl and the tests.
 * Internal: not part of the public API.
 */
#ifndef ISM_UTIL_H
#define ISM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#define ISM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ISM_MIN(a, b)	  ((a) < (b) ? (a) : (b))
#define ISM_MAX(a, b)	  ((a) > (b) ? (a) : (b))
#define ISM_UNUSED	  __attribute__((unused))
#define ISM_PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* Monotonic clock in nanoseconds. */
uint64_t ism_now_ns(void);

/* One step of a spin-wait: tells the CPU (and a hypervisor) that this
 * thread is only waiting. */
static inline void ism_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Fill @buf with @n cryptographically random bytes (getrandom).
 * Returns 0 or -errno. */
int ism_random(void *buf, size_t n);

/* Constant-time equality of two byte strings of length @n: true if equal. */
bool ism_ct_equal(const void *a, const void *b, size_t n);

/* Lowercase hex of @n bytes into @out (2n + 1 bytes). */
void ism_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits into @n bytes; returns 0 or -EINVAL. */
int ism_hex_decode(const char *s, uint8_t *out, size_t n);

/*
 * Parse a size: digits with an optional suffix K, M, G, T (powers of 1024,
 * optionally followed by "iB" or "B").  Returns 0 or -EINVAL/-ERANGE.
 */
int ism_parse_size(const char *s, uint64_t *out);
/* Parse an unsigned decimal (or 0x hex) integer that fits @max. */
int ism_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Format @v as "1.5 MiB" etc. into @buf of @n bytes; returns @buf. */
char *ism_format_size(uint64_t v, char *buf, size_t n);

/*
 * A name is valid if it is at most @max bytes of printable ASCII
 * (0x20..0x7e).  Returns true if so.
 */
bool ism_name_valid(const char *s, size_t len, size_t max);

/* Copy at most @n-1 bytes and always terminate.  Returns strlen(src). */
size_t ism_strlcpy(char *dst, const char *src, size_t n);

/* Round @v up to a multiple of @align (a power of two); false on overflow. */
bool ism_round_up(uint64_t v, uint64_t align, uint64_t *out);

/* Close @*fd if >= 0 and set it to -1, preserving errno. */
void ism_close_fd(int *fd);

/* Close every fd in @fds[0..n), preserving errno. */
void ism_close_fds(const int *fds, unsigned n);

/* Set O_NONBLOCK on @fd.  Returns 0 or -errno. */
int ism_set_nonblock(int fd);

/*
 * Take a caller's size-versioned options struct @src (its first field a
 * uint32_t size: the sizeof the caller compiled against) into ours, @dst
 * of @dst_size bytes, the way openat2(2) takes its struct open_how:
 *   @src NULL                      @dst all zero (every default);
 *   size < @min_size               -EINVAL (older than the first version);
 *   size <= @dst_size              copied, the rest of @dst zero (an older
 *                                  caller gets defaults for what it lacks);
 *   size > @dst_size, tail zero    copied up to @dst_size (a newer caller
 *                                  that asks nothing we do not know);
 *   size > @dst_size, tail not     -E2BIG (a newer caller asks for what
 *   all zero                       this version cannot do).
 * @dst's size field is then @dst_size.  @min_size is at least 4 (see
 * ISM_OPTS_SIZE_VER0).  Returns 0, -EINVAL or -E2BIG (@dst all zero then).
 */
int ism_opts_copy(void *dst, size_t dst_size, size_t min_size, const void *src);
/* The first version of an options struct @type: up to its field @last. */
#define ISM_OPTS_SIZE_VER0(type, last)                                         \
	(offsetof(type, last) + sizeof(((type *)0)->last))

/*
 * Symbol versions of libism (lib/libism.map; @node a string: "ISM_0.1").
 * A function whose ABI changed keeps its older version for old binaries
 * in lib/client/compat.c: @impl is exported as "name@node".  The new
 * definition is the default version through the map alone (a plain
 * .symver, which GNU as and clang's assembler treat alike).
 */
#define ISM_SYMVER_COMPAT(impl, name, node)                                    \
	__asm__(".symver " #impl "," #name "@" node)

/* The longest socket path with its NUL (struct sockaddr_un's sun_path). */
#define ISM_SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

#endif
