/* SPDX-License-Identifier: MIT */
/*
 * netlink - one answer from the kernel on a netlink socket, in bounded
 * time: what sockdiag.c and conntrack.c share.
 *
 * Both ask the kernel one question and wait for its answer on ismd's
 * loop (sock_diag) or a worker (conntrack), so the wait must end: a
 * deadline, not a blocking recv.  Datagrams that do not come from the kernel (port id
 * 0) are skipped; a datagram cut by the buffer is refused, never parsed
 * in part.
 */
#ifndef ISMD_NETLINK_H
#define ISMD_NETLINK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* How long an answer may take (ms). */
#define NL_REPLY_TIMEOUT_MS 100

/* CLOCK_MONOTONIC, in ms. */
int64_t nl_now_ms(void);

/*
 * The next datagram from the kernel on netlink socket @nl, into @buf
 * (@cap bytes), by @deadline (nl_now_ms() time).  Returns its length,
 * -ETIMEDOUT, -EMSGSIZE (larger than @cap), or -errno (ENOBUFS: the
 * kernel dropped it).
 */
ssize_t nl_recv_kernel(int nl, void *buf, size_t cap, int64_t deadline);

/* A u32 or u16 at @p in a datagram, in host order, wherever it lies
 * (netlink aligns to 4, but an attribute's payload is read as bytes). */
static inline uint32_t nl_rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t nl_rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

#endif
