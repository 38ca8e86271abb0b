/* SPDX-License-Identifier: MIT */
#include "blake2s.h"

#include <errno.h>
#include <string.h>

static const uint32_t iv[8] = {
	0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
	0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

static const uint8_t sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return x >> n | x << (32 - n);
}

static inline uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

#define G(a, b, c, d, x, y)                                                    \
	do {                                                                   \
		v[a] = v[a] + v[b] + (x);                                      \
		v[d] = rotr(v[d] ^ v[a], 16);                                  \
		v[c] = v[c] + v[d];                                            \
		v[b] = rotr(v[b] ^ v[c], 12);                                  \
		v[a] = v[a] + v[b] + (y);                                      \
		v[d] = rotr(v[d] ^ v[a], 8);                                   \
		v[c] = v[c] + v[d];                                            \
		v[b] = rotr(v[b] ^ v[c], 7);                                   \
	} while (0)

static void compress(struct ism_blake2s *s, const uint8_t *block, int last)
{
	uint32_t m[16], v[16];

	for (int i = 0; i < 16; i++)
		m[i] = load32(block + 4 * i);
	for (int i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = iv[i];
	}
	v[12] ^= s->t[0];
	v[13] ^= s->t[1];
	if (last)
		v[14] = ~v[14];
	for (int r = 0; r < 10; r++) {
		const uint8_t *z = sigma[r];

		G(0, 4, 8, 12, m[z[0]], m[z[1]]);
		G(1, 5, 9, 13, m[z[2]], m[z[3]]);
		G(2, 6, 10, 14, m[z[4]], m[z[5]]);
		G(3, 7, 11, 15, m[z[6]], m[z[7]]);
		G(0, 5, 10, 15, m[z[8]], m[z[9]]);
		G(1, 6, 11, 12, m[z[10]], m[z[11]]);
		G(2, 7, 8, 13, m[z[12]], m[z[13]]);
		G(3, 4, 9, 14, m[z[14]], m[z[15]]);
	}
	for (int i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
}

static void add_count(struct ism_blake2s *s, uint32_t n)
{
	s->t[0] += n;
	if (s->t[0] < n)
		s->t[1]++;
}

int ism_blake2s_init(struct ism_blake2s *s, size_t outlen, const void *key,
		     size_t keylen)
{
	if (outlen == 0 || outlen > ISM_BLAKE2S_OUT_MAX ||
	    keylen > ISM_BLAKE2S_KEY_MAX)
		return -EINVAL;
	memcpy(s->h, iv, sizeof(s->h));
	/* Parameter block word 0: digest length, key length, fanout 1, depth 1. */
	s->h[0] ^= 0x01010000u ^ (uint32_t)keylen << 8 ^ (uint32_t)outlen;
	s->t[0] = s->t[1] = 0;
	s->buflen = 0;
	s->outlen = outlen;
	memset(s->buf, 0, sizeof(s->buf));
	if (keylen > 0) {
		uint8_t block[ISM_BLAKE2S_BLOCK] = { 0 };

		memcpy(block, key, keylen);
		ism_blake2s_update(s, block, sizeof(block));
		memset(block, 0, sizeof(block));
	}
	return 0;
}

void ism_blake2s_update(struct ism_blake2s *s, const void *in, size_t n)
{
	const uint8_t *p = in;

	while (n > 0) {
		/* Keep the latest block buffered: the final one is compressed
		 * with the last-block flag. */
		if (s->buflen == ISM_BLAKE2S_BLOCK) {
			add_count(s, ISM_BLAKE2S_BLOCK);
			compress(s, s->buf, 0);
			s->buflen = 0;
		}
		size_t c = ISM_BLAKE2S_BLOCK - s->buflen;

		if (c > n)
			c = n;
		memcpy(s->buf + s->buflen, p, c);
		s->buflen += c;
		p += c;
		n -= c;
	}
}

void ism_blake2s_final(struct ism_blake2s *s, uint8_t *out)
{
	uint8_t full[ISM_BLAKE2S_OUT_MAX];

	add_count(s, (uint32_t)s->buflen);
	memset(s->buf + s->buflen, 0, ISM_BLAKE2S_BLOCK - s->buflen);
	compress(s, s->buf, 1);
	for (int i = 0; i < 8; i++) {
		full[4 * i] = (uint8_t)s->h[i];
		full[4 * i + 1] = (uint8_t)(s->h[i] >> 8);
		full[4 * i + 2] = (uint8_t)(s->h[i] >> 16);
		full[4 * i + 3] = (uint8_t)(s->h[i] >> 24);
	}
	memcpy(out, full, s->outlen);
	memset(full, 0, sizeof(full));
	memset(s, 0, sizeof(*s));
}

int ism_blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen,
		const void *in, size_t inlen)
{
	struct ism_blake2s s;
	int r = ism_blake2s_init(&s, outlen, key, keylen);

	if (r < 0)
		return r;
	ism_blake2s_update(&s, in, inlen);
	ism_blake2s_final(&s, out);
	return 0;
}
