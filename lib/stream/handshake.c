/* SPDX-License-Identifier: MIT */
#include "handshake.h"
#include "wire/wire.h"

#include <ism/stream.h>

#include <errno.h>
#include <string.h>

static const uint8_t magic[8] = { 'I', 'S', 'M', 'S', 'T', 'R', 'M', '1' };

void hs_encode(uint8_t *buf, const struct hs_msg *h)
{
	struct ism_wbuf b;

	ism_wbuf_init(&b, buf, HS_SIZE);
	ism_wbuf_bytes(&b, magic, sizeof(magic));
	ism_wbuf_le16(&b, HS_VERSION);
	ism_wbuf_le16(&b, (uint16_t)h->kind);
	ism_wbuf_le32(&b, h->status);
	ism_wbuf_bytes(&b, h->host.b, ISM_HOST_ID_SIZE);
	ism_wbuf_bytes(&b, h->token.b, ISM_TOKEN_SIZE);
	ism_wbuf_le64(&b, h->peer);
	ism_wbuf_le32(&b, h->ring_size);
	ism_wbuf_le32(&b, 0);
}

int hs_decode(const uint8_t *buf, struct hs_msg *h, uint32_t kind,
	      const struct ism_host_id *host, uint64_t peer)
{
	struct ism_rbuf b;
	uint8_t m[sizeof(magic)];
	uint16_t version, k;
	uint32_t reserved;

	memset(h, 0, sizeof(*h));
	ism_rbuf_init(&b, buf, HS_SIZE);
	ism_rbuf_bytes(&b, m, sizeof(m));
	version = ism_rbuf_le16(&b);
	k = ism_rbuf_le16(&b);
	h->status = ism_rbuf_le32(&b);
	ism_rbuf_bytes(&b, h->host.b, ISM_HOST_ID_SIZE);
	ism_rbuf_bytes(&b, h->token.b, ISM_TOKEN_SIZE);
	h->peer = ism_rbuf_le64(&b);
	h->ring_size = ism_rbuf_le32(&b);
	reserved = ism_rbuf_le32(&b);
	h->kind = k;
	if (ism_rbuf_end(&b) < 0 || memcmp(m, magic, sizeof(m)) != 0 ||
	    version != HS_VERSION || k != kind || reserved ||
	    h->status > ISM_SR_MAX ||
	    memcmp(h->host.b, host->b, ISM_HOST_ID_SIZE) != 0 ||
	    h->peer != peer)
		return -EPROTO;
	return 0;
}
