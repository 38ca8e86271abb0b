/* SPDX-License-Identifier: MIT */
/*
 * state - what ismd keeps on disk (state.c): its host id, a secret key,
 * the epoch, the administrators' revocations; the keyed proofs.
 */
#ifndef ISMD_STATE_H
#define ISMD_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct ismd_state; /* state.c's own */

int ismd_state_open(struct daemon *d, const char *dir);
/* A random key and host id held in memory only (the fuzzer). */
int ismd_state_ephemeral(struct daemon *d);
void ismd_state_close(struct daemon *d);
void ismd_proof_owner(struct daemon *d, uint64_t region, uint64_t owner,
		      uint64_t size, uint64_t ino, const uint8_t *token,
		      uint8_t *out);
void ismd_proof_peer(struct daemon *d, uint64_t peer, uint8_t *out);
bool ismd_revoked(struct daemon *d, uint64_t region);
int ismd_revoke_record(struct daemon *d, uint64_t region);

#endif
