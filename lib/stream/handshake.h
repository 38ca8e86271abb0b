/* SPDX-License-Identifier: MIT */
/*
 * handshake - the three 64-byte in-band messages of a stream handshake
 * (docs/protocol.md, "Stream handshake").  Sent on the TCP connection only
 * after ismd matched both ends; the decoder still treats every byte as
 * hostile and checks it against what ismd said.
 */
#ifndef ISM_STREAM_HANDSHAKE_H
#define ISM_STREAM_HANDSHAKE_H

#include <ism/common.h>
#include <stdint.h>

#define HS_SIZE	   64
#define HS_VERSION 1
#define HS_OFFER   1
#define HS_ANSWER  2
#define HS_CONFIRM 3 /* server: attached the client's channel, or not */

struct hs_msg {
	uint32_t kind;	 /* HS_OFFER, HS_ANSWER or HS_CONFIRM */
	uint32_t status; /* 0, or the enum ism_stream_reason it declines for */
	uint32_t ring_size;
	uint64_t peer; /* the sender's ismd peer id */
	struct ism_host_id host;
	struct ism_token token; /* its channel, when status is 0 */
};

void hs_encode(uint8_t *buf, const struct hs_msg *h);
/*
 * Decode @buf (HS_SIZE bytes) and check it is a @kind message from
 * @peer on @host.  Returns 0, or -EPROTO.
 */
int hs_decode(const uint8_t *buf, struct hs_msg *h, uint32_t kind,
	      const struct ism_host_id *host, uint64_t peer);

#endif
