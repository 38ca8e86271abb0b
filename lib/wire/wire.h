/* SPDX-License-Identifier: MIT */
/*
 * wire - the one framing every ism socket protocol uses.
 *
 * Concepts: a message is a 16-byte little-endian header and a payload,
 * sent as one SOCK_SEQPACKET packet, so the kernel keeps message
 * boundaries and ties fds (SCM_RIGHTS) to the message that carries them.
 * Fields are written and read one at a time through cursors (struct
 * ism_wbuf / ism_rbuf) that carry a sticky error: a decoder reads every
 * field, checks the error once, and requires that every byte was consumed.
 * No struct is ever cast onto a buffer.
 *
 * Receiving: ism_wire_recv() uses MSG_CMSG_CLOEXEC, rejects truncated
 * payloads (MSG_TRUNC) and control data (MSG_CTRUNC), any control message
 * other than SCM_RIGHTS, and more than ISM_WIRE_MAX_FDS fds; on every error
 * the fds it received are closed.  On success the caller owns the fds and
 * must consume or close each one.
 */
#ifndef ISM_WIRE_H
#define ISM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/types.h>

#define ISM_WIRE_HDR_SIZE 16u
/* Largest message, header included. */
#define ISM_WIRE_MAX_MSG (128u * 1024u)
/* Most fds one message may carry (well below the kernel's SCM_MAX_FD). */
#define ISM_WIRE_MAX_FDS 16u

_Static_assert(ISM_WIRE_MAX_FDS < 253, "must stay below SCM_MAX_FD");
_Static_assert(ISM_WIRE_MAX_MSG >= 65536 + 64,
	       "a full read/write chunk must fit in a message");

/* Header flags. */
#define ISM_WIRE_F_REPLY   0x0001u /* a reply to request @seq */
#define ISM_WIRE_F_EVENT   0x0002u /* unsolicited, @seq is 0 */
#define ISM_WIRE_F_NOREPLY 0x0004u /* a request wanting no reply at all */
#define ISM_WIRE_F_KNOWN                                                       \
	(ISM_WIRE_F_REPLY | ISM_WIRE_F_EVENT | ISM_WIRE_F_NOREPLY)

struct ism_wire_hdr {
	uint16_t type;	 /* message type (protocol-specific) */
	uint16_t flags;	 /* ISM_WIRE_F_* */
	uint32_t seq;	 /* request id chosen by the requester, echoed */
	uint32_t len;	 /* whole message length, header included */
	uint32_t status; /* replies: 0, or a positive errno */
};

/* Read cursor: a short read sets err = -EBADMSG and yields zeros. */
struct ism_rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

/* Write cursor: an overflow sets err = -EMSGSIZE and writes nothing more. */
struct ism_wbuf {
	uint8_t *p;
	size_t cap, len;
	int err;
};

static inline void ism_rbuf_init(struct ism_rbuf *b, const void *p, size_t len)
{
	b->p = p;
	b->len = len;
	b->off = 0;
	b->err = 0;
}

static inline void ism_wbuf_init(struct ism_wbuf *b, void *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
}

uint8_t ism_rbuf_u8(struct ism_rbuf *b);
uint16_t ism_rbuf_le16(struct ism_rbuf *b);
uint32_t ism_rbuf_le32(struct ism_rbuf *b);
uint64_t ism_rbuf_le64(struct ism_rbuf *b);
/* Copy @n bytes out (zeros on a short read). */
void ism_rbuf_bytes(struct ism_rbuf *b, void *dst, size_t n);
/* A pointer to the next @n bytes inside the buffer, or NULL (sets err). */
const uint8_t *ism_rbuf_ptr(struct ism_rbuf *b, size_t n);
/* Bytes not yet read. */
static inline size_t ism_rbuf_left(const struct ism_rbuf *b)
{
	return b->len - b->off;
}
/*
 * A string: le16 length then bytes (no NUL on the wire).  Copies into @dst
 * (capacity @cap, NUL-terminated); the length must be <= @max and the
 * bytes printable ASCII, else err = -EINVAL.
 */
void ism_rbuf_str(struct ism_rbuf *b, char *dst, size_t cap, size_t max);
/* Finish decoding: the sticky error, or -EBADMSG if bytes are left over. */
int ism_rbuf_end(const struct ism_rbuf *b);

void ism_wbuf_u8(struct ism_wbuf *b, uint8_t v);
void ism_wbuf_le16(struct ism_wbuf *b, uint16_t v);
void ism_wbuf_le32(struct ism_wbuf *b, uint32_t v);
void ism_wbuf_le64(struct ism_wbuf *b, uint64_t v);
void ism_wbuf_bytes(struct ism_wbuf *b, const void *src, size_t n);
/* Room for @n bytes the caller fills in place, or NULL (sets err). */
uint8_t *ism_wbuf_reserve(struct ism_wbuf *b, size_t n);
/* le16 length + bytes of the NUL-terminated @s (NULL writes length 0). */
void ism_wbuf_str(struct ism_wbuf *b, const char *s);

void ism_wire_hdr_put(struct ism_wbuf *b, const struct ism_wire_hdr *h);
/*
 * Decode a header from the start of a received message of @msglen bytes
 * and check it: len must equal @msglen, be >= the header size and <=
 * ISM_WIRE_MAX_MSG; no unknown flag; REPLY and EVENT not both.
 * Returns 0 or -EBADMSG.
 */
int ism_wire_hdr_get(struct ism_rbuf *b, size_t msglen, struct ism_wire_hdr *h);
/* Patch the len field of a message being built once its size is known. */
void ism_wire_set_len(struct ism_wbuf *b);

/*
 * Receive one message into @buf (capacity @cap, at least ISM_WIRE_MAX_MSG)
 * and up to ISM_WIRE_MAX_FDS fds into @fds (capacity ISM_WIRE_MAX_FDS).
 * @flags adds to the recvmsg flags (e.g. MSG_DONTWAIT).
 * Returns the message length (> 0), 0 on orderly EOF, or -errno:
 * -EAGAIN, -EMSGSIZE (payload truncated), -EBADMSG (control truncated,
 * unexpected control message, or too many fds), and socket errors.
 * *@nfds is the number of fds the caller now owns (0 on every error).
 */
ssize_t ism_wire_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds,
		      int flags);

/* The kernel's cap on fds per message (SCM_MAX_FD). */
#define ISM_WIRE_SCM_MAX_FDS 253u

/*
 * Like ism_wire_recv(), for a receiver that must not close what a peer
 * sent itself (ismd: closing may wait on the file): room for every fd the
 * kernel can attach (so it never drops one in our thread), and on every
 * outcome *@nfds is the number of fds now in @fds (capacity
 * ISM_WIRE_SCM_MAX_FDS), the caller's to dispose of.  Returns the length,
 * 0 on EOF, -EMSGSIZE (truncated), -EBADMSG (control data other than
 * SCM_RIGHTS, or truncated), or another -errno.
 */
ssize_t ism_wire_recv_keep(int sock, void *buf, size_t cap, int *fds,
			   unsigned *nfds, int flags);

/*
 * sendmsg() of @iov with @nfds fds (<= ISM_WIRE_MAX_FDS, else -EINVAL) as
 * SCM_RIGHTS, MSG_NOSIGNAL | @flags, retried on EINTR.  Returns the bytes
 * sent (a stream socket may take fewer) or -errno.  The fds remain the
 * caller's.
 */
ssize_t ism_wire_sendv(int sock, const struct iovec *iov, unsigned niov,
		       const int *fds, unsigned nfds, int flags);

/*
 * Send one message with @nfds fds (<= ISM_WIRE_MAX_FDS).  MSG_NOSIGNAL is
 * always added.  Returns 0, or -errno (-EAGAIN when the socket is full;
 * nothing was sent then).  The fds remain the caller's.
 */
int ism_wire_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned nfds, int flags);

#endif
