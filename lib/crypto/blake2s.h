/* SPDX-License-Identifier: MIT */
/*
 * blake2s - BLAKE2s (RFC 7693), written from the RFC for ism.
 *
 * ismd needs a keyed pseudo-random function to derive owner proofs and
 * peer resume proofs from a secret key it keeps on disk, so a restarted
 * ismd can verify claims without storing per-region state.  Keyed BLAKE2s
 * is a PRF and needs nothing beyond libc.
 */
#ifndef ISM_BLAKE2S_H
#define ISM_BLAKE2S_H

#include <stddef.h>
#include <stdint.h>

#define ISM_BLAKE2S_BLOCK   64u
#define ISM_BLAKE2S_OUT_MAX 32u
#define ISM_BLAKE2S_KEY_MAX 32u

struct ism_blake2s {
	uint32_t h[8];
	uint32_t t[2];
	uint8_t buf[ISM_BLAKE2S_BLOCK];
	size_t buflen;
	size_t outlen;
};

/* @outlen 1..32, @keylen 0..32.  Returns 0 or -EINVAL. */
int ism_blake2s_init(struct ism_blake2s *s, size_t outlen, const void *key,
		     size_t keylen);
void ism_blake2s_update(struct ism_blake2s *s, const void *in, size_t n);
void ism_blake2s_final(struct ism_blake2s *s, uint8_t *out);

/* One-shot convenience. */
int ism_blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen,
		const void *in, size_t inlen);

#endif
