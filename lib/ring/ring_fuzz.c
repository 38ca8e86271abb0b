/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a hostile producer area under an honest consumer.  The input
 * is a program: write bytes anywhere in the producer area, set its index,
 * send honestly, and run consumer operations in between; and, as a hostile
 * consumer would, any wake word (heavy bit included) under a producer
 * publishing lightly or not.  The areas are heap blocks of exactly their
 * size, so AddressSanitizer catches any access outside them; every
 * operation must return.
 */
#include "ring.h"

#include <ism/ring.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p;
	size_t n;
};

static int take(struct in *in, void *dst, size_t n)
{
	if (in->n < n)
		return -1;
	memcpy(dst, in->p, n);
	in->p += n;
	in->n -= n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint32_t dsize;
	uint8_t mode, buf[4096];
	size_t plen;
	uint8_t *prod, *cons;
	struct ism_ring_tx *tx = NULL;
	struct ism_ring_rx *rx = NULL;

	if (take(&in, &mode, 1) < 0)
		return 0;
	dsize = (mode & 1) ? 8192 : 4096;
	plen = ism_ring_prod_area(dsize);
	prod = aligned_alloc(64, plen);
	cons = aligned_alloc(64, ISM_RING_CONS_AREA);
	if (!prod || !cons)
		goto out;
	memset(cons, 0, ISM_RING_CONS_AREA);
	if (ism_ring_tx_init(prod, plen, dsize, cons, ISM_RING_CONS_AREA, &tx) <
	    0)
		goto out;
	/* Optionally corrupt the header before the consumer looks. */
	if (mode & 2) {
		uint8_t off, b;

		if (take(&in, &off, 1) < 0 || take(&in, &b, 1) < 0)
			goto out;
		prod[off % 64] = b;
	}
	if (ism_ring_rx_init(prod, plen, cons, ISM_RING_CONS_AREA, &rx) < 0)
		goto out;
	for (int steps = 0; steps < 256; steps++) {
		uint8_t op;
		uint16_t off, len;
		uint64_t v;
		const void *p;
		size_t l;

		if (take(&in, &op, 1) < 0)
			break;
		switch (op % 9) {
		case 0: /* scribble */
			if (take(&in, &off, 2) < 0 || take(&in, &len, 2) < 0)
				goto out;
			len %= 33;
			off %= (uint16_t)plen;
			if (off + len > plen)
				len = (uint16_t)(plen - off);
			if (in.n < len)
				goto out;
			memcpy(prod + off, in.p, len);
			in.p += len;
			in.n -= len;
			break;
		case 1: /* move the producer index (offset 64) */
			if (take(&in, &v, 8) < 0)
				goto out;
			memcpy(prod + 64, &v, 8);
			break;
		case 2: /* honest traffic */
			if (take(&in, &len, 2) < 0)
				goto out;
			if (len & 0x8000) {
				/* In place, the length known after writing
				 * (zero-copy streams). */
				size_t room = ism_ring_room(tx, len % 2100 + 1);
				void *w;

				/* What room promises, reserve keeps. */
				if (room > ism_ring_max_msg(dsize) ||
				    (room && ism_ring_reserve(tx, room, &w)))
					__builtin_trap();
				if (room) {
					memset(w, 0x5a, room);
					ism_ring_commit_len(
						tx, (len >> 4) % (room + 1));
				}
			} else {
				ism_ring_send(tx, buf, len % 2100);
			}
			ism_ring_publish(tx);
			break;
		case 3:
			if (ism_ring_peek(rx, &p, &l) == 1) {
				if (l > ism_ring_max_msg(dsize))
					__builtin_trap();
				memcpy(buf, p, l);
				ism_ring_release(rx);
			}
			break;
		case 4: ism_ring_recv(rx, buf, sizeof(buf)); break;
		case 5:
			ism_ring_rx_arm(rx);
			ism_ring_rx_disarm(rx);
			break;
		case 6:
			ism_ring_pending(rx);
			ism_ring_consumed(rx);
			break;
		case 7: { /* the consumer's wake word, as it likes */
			uint32_t w;
			int k;

			if (take(&in, &w, 4) < 0)
				goto out;
			memcpy(cons + 64, &w, 4);
			ism_ring_tx_set_light(tx, w & 2);
			k = ism_ring_send(tx, buf, w % 64) < 0
				    ? 0
				    : ism_ring_publish(tx);
			if (k != 0 && k != 1)
				__builtin_trap();
			break;
		}
		default: ism_ring_tx_shutdown(tx); break;
		}
	}
out:
	ism_ring_rx_close(rx);
	ism_ring_tx_close(tx);
	free(prod);
	free(cons);
	return 0;
}
