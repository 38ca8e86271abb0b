/* SPDX-License-Identifier: MIT */
/*
 * hello - the two 64-byte in-band messages of a stream handshake
 * (docs/protocol.md, "Stream hellos").  Sent on the TCP connection only
 * after ismd matched both ends; the decoder still treats every byte as
 * hostile and checks it against what ismd said.
 */
#ifndef ISM_STREAM_HELLO_H
#define ISM_STREAM_HELLO_H

#include <ism/common.h>
#include <stdint.h>

#define HELLO_SIZE    64
#define HELLO_VERSION 1
#define HELLO_SERVER  1
#define HELLO_CLIENT  2
#define HELLO_CONFIRM 3 /* server: attached the client's channel, or not */

struct hello {
	uint32_t kind;	 /* HELLO_SERVER, HELLO_CLIENT or HELLO_CONFIRM */
	uint32_t status; /* 0, or the enum ism_stream_reason it declines for */
	uint32_t ring_size;
	uint64_t peer; /* the sender's ismd peer id */
	struct ism_host_id host;
	struct ism_token token; /* its channel, when status is 0 */
};

void hello_encode(uint8_t *buf, const struct hello *h);
/*
 * Decode @buf (HELLO_SIZE bytes) and check it is a @kind hello from
 * @peer on @host.  Returns 0, or -EPROTO.
 */
int hello_decode(const uint8_t *buf, struct hello *h, uint32_t kind,
		 const struct ism_host_id *host, uint64_t peer);

#endif
