/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t ism_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ism_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

bool ism_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void ism_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ism_hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int ism_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		int d = hexval(*s);

		if (d < 0 || (unsigned)d >= base)
			return -EINVAL;
		if (__builtin_mul_overflow(v, base, &v) ||
		    __builtin_add_overflow(v, (uint64_t)d, &v))
			return -ERANGE;
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int ism_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	size_t i = 0;

	if (!s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -ERANGE;
	}
	const char *suf = s + i;

	switch (*suf) {
	case '\0': break;
	case 'k':
	case 'K':
		mul = 1ull << 10;
		suf++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		suf++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		suf++;
		break;
	case 't':
	case 'T':
		mul = 1ull << 40;
		suf++;
		break;
	case 'b':
	case 'B': break;
	default: return -EINVAL;
	}
	if (mul > 1 && (suf[0] == 'i' || suf[0] == 'I'))
		suf++;
	if (suf[0] == 'b' || suf[0] == 'B')
		suf++;
	if (*suf)
		return -EINVAL;
	if (__builtin_mul_overflow(v, mul, &v))
		return -ERANGE;
	*out = v;
	return 0;
}

char *ism_format_size(uint64_t v, char *buf, size_t n)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned u = 0;
	double d = (double)v;

	while (d >= 1024.0 && u + 1 < ISM_ARRAY_SIZE(units)) {
		d /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, n, "%.1f %s", d, units[u]);
	return buf;
}

bool ism_name_valid(const char *s, size_t len, size_t max)
{
	if (len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

size_t ism_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n > 0) {
		size_t c = len < n - 1 ? len : n - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

bool ism_round_up(uint64_t v, uint64_t align, uint64_t *out)
{
	uint64_t r;

	if (__builtin_add_overflow(v, align - 1, &r))
		return false;
	*out = r & ~(align - 1);
	return true;
}

void ism_close_fd(int *fd)
{
	if (*fd >= 0) {
		int e = errno;

		close(*fd);
		errno = e;
		*fd = -1;
	}
}

void ism_close_fds(const int *fds, unsigned n)
{
	int e = errno;

	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	errno = e;
}

int ism_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int ism_opts_copy(void *dst, size_t dst_size, size_t min_size, const void *src)
{
	const uint8_t *in = src;
	uint32_t size;

	memset(dst, 0, dst_size);
	if (!src)
		goto done;
	memcpy(&size, src, sizeof(size));
	if (size < min_size)
		return -EINVAL;
	/* Unknown fields: only their zero (default) values are understood. */
	for (size_t i = dst_size; i < size; i++)
		if (in[i])
			return -E2BIG;
	memcpy(dst, src, ISM_MIN((size_t)size, dst_size));
done:
	size = (uint32_t)dst_size;
	memcpy(dst, &size, sizeof(size));
	return 0;
}
