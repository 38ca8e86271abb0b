/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: hostile domain memory under an honest member.  The input
 * fills the domain header, the presence table and a peer's slot
 * (entries and areas); the member then opens the domain, accepts offers,
 * connects, and receives and sends on whatever channel it got.  The
 * memory is a heap block of exactly its size (AddressSanitizer catches
 * any access outside it) and every call must return.  Invariants: a
 * message received fits the buffer and the channel's maximum.
 */
#include "ivchan/ivchan.h"

#include <ism/ivchan.h>
#include <ism/ring.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM    (256u * 1024u)
#define NSLOTS 2u

static int f_ring(void *ctx, uint32_t peer, uint32_t vector)
{
	(void)ctx;
	if (peer >= NSLOTS || vector > 1)
		abort();
	return 0;
}

static int f_wait(void *ctx, int timeout_ms)
{
	(void)ctx;
	(void)timeout_ms;
	return 0;
}

static const struct ism_ivdom_ops ops = { f_ring, f_wait };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mem = calloc(1, MEM), buf[8192];
	struct ivc_hdr *h = (struct ivc_hdr *)mem;
	struct ism_ivchan_opts o = { .size = sizeof(o), .timeout_ms = 0 };
	struct ism_ivdom *d = NULL;
	struct ism_ivchan *ch = NULL;
	uint64_t slot = ivc_slot_size(MEM, NSLOTS);
	size_t off = 0;

	if (!mem)
		return 0;
	/* An honest header, then the input: first a header patch, then
	 * the peer's (id 1) slot from its start. */
	h->magic = IVC_MAGIC;
	h->version = IVC_VERSION;
	h->nslots = NSLOTS;
	h->slot0 = IVC_HDR_SIZE;
	h->slot_size = slot;
	h->presence[0] = 1;
	h->presence[1] = 2;
	if (size >= 1 && data[0] & 1) {
		size_t n = size > 65 ? 64 : size - 1;

		memcpy(mem, data + 1, n);
		off = 1 + n;
	} else {
		off = size ? 1 : 0;
	}
	if (size > off)
		memcpy(mem + IVC_HDR_SIZE + slot, data + off,
		       size - off > slot ? slot : size - off);
	o.timeout_ms = 1; /* accept/connect: one look, then -ETIMEDOUT */
	if (ism_ivdom_open(mem, MEM, 0, 2, &ops, NULL, &d) == 0) {
		if (ism_ivchan_accept(d, data[size ? size - 1 : 0] & 3, &o,
				      &ch) == 0) {
			for (int i = 0; i < 64; i++) {
				ssize_t n = ism_ivchan_recv(
					ch, buf, sizeof(buf), ISM_F_DONTWAIT);

				if (n > (ssize_t)sizeof(buf) ||
				    (n >= 0 &&
				     (size_t)n > ism_ivchan_max_msg(ch)))
					abort();
				if (n < 0 && n != -EAGAIN)
					break;
				if (ism_ivchan_send(ch, buf, 16,
						    ISM_F_DONTWAIT) == -EPROTO)
					break;
			}
		}
		ism_ivdom_close(d);
	}
	free(mem);
	return 0;
}
