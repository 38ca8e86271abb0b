/* SPDX-License-Identifier: MIT */
/*
 * vhost - the vhost-user messages ism speaks (include/ism/vhost_user.h):
 * one host struct and one encoder and decoder each, on the cursors of
 * lib/wire (little-endian, which is the native order of the hosts ism
 * supports: checked at build time).  Decoders read every field, check
 * the cursor once, require every byte consumed and validate ranges:
 * -EBADMSG for malformed bytes, -EINVAL for well-formed but out of range.
 */
#ifndef ISM_VHOST_INTERNAL_H
#define ISM_VHOST_INTERNAL_H

#include "wire/wire.h"

#include <ism/vhost_user.h>

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "vhost-user is native-endian; ism encodes little-endian");

/* The largest payload ism reads: a MEM_WRITE of the most bytes. */
#define VHOST_MEM_RW_HDR     12u
#define VHOST_PAYLOAD_MAX    (VHOST_MEM_RW_HDR + ISM_VHOST_USER_MEM_RW_MAX)
#define VHOST_MMAP_SIZE	     40u
#define VHOST_SHMEM_CFG_SIZE (8u + 8u * ISM_VHOST_USER_MAX_SHMEM)
/* fds one message may bring (the spec's cap for back-end messages). */
#define VHOST_MAX_FDS 8u

struct vhost_hdr {
	uint32_t request, flags, size;
};

/* SHMEM_MAP / SHMEM_UNMAP ("MMAP request"). */
struct vhost_mmap {
	uint8_t shmid;
	uint64_t fd_offset, shm_offset, len, flags;
};

/* GET_SHMEM_CONFIG's reply. */
struct vhost_shmem_cfg {
	uint32_t n;
	uint64_t size[ISM_VHOST_USER_MAX_SHMEM];
};

/* MEM_READ (no data) and MEM_WRITE (with @size bytes of data). */
struct vhost_mem_rw {
	uint64_t addr;
	uint32_t size;
	const uint8_t *data; /* into the receive buffer */
};

void vhost_put_hdr(struct ism_wbuf *b, const struct vhost_hdr *h);
/* Version 1, no unknown flag, payload at most VHOST_PAYLOAD_MAX (else
 * -EMSGSIZE: the stream cannot be resynchronised). */
int vhost_get_hdr(struct ism_rbuf *b, struct vhost_hdr *h);
void vhost_put_u64(struct ism_wbuf *b, uint64_t v);
int vhost_get_u64(struct ism_rbuf *b, uint64_t *v);
void vhost_put_mmap(struct ism_wbuf *b, const struct vhost_mmap *m);
/* Padding is ignored (the spec does not say it is zero); flags other
 * than bit 0, a zero length, wrapping ranges: -EINVAL. */
int vhost_get_mmap(struct ism_rbuf *b, struct vhost_mmap *m);
void vhost_put_shmem_cfg(struct ism_wbuf *b, const struct vhost_shmem_cfg *c);
/* More than 256 regions, a count other than the non-zero sizes, sizes
 * not multiples of 4096: -EINVAL. */
int vhost_get_shmem_cfg(struct ism_rbuf *b, struct vhost_shmem_cfg *c);
/* MEM_READ's request: address and size, no data. */
void vhost_put_mem_rw(struct ism_wbuf *b, const struct vhost_mem_rw *m,
		      bool data);
/* @data: the payload holds the data too (MEM_WRITE, MEM_READ's reply). */
int vhost_get_mem_rw(struct ism_rbuf *b, struct vhost_mem_rw *m, bool data);

/* Start a message in @buf (its size patched by vhost_msg_end()); end it:
 * the whole message's length, or the cursor's error. */
void vhost_msg_begin(struct ism_wbuf *b, void *buf, size_t cap,
		     uint32_t request, uint32_t flags);
int vhost_msg_end(struct ism_wbuf *b);

/*
 * Blocking-with-a-bound I/O on a stream socket, for the handshakes and the
 * back-end helper: write all of @buf (with @fd, if >= 0, on its first
 * byte); read exactly @len bytes (an fd on the first read goes to *@fd if
 * it is -1, every other fd is closed on a thread of its own).  Each wait
 * is at most @timeout_ms: -ETIMEDOUT; -EPIPE at EOF.
 */
int vhost_send_all(int sock, const uint8_t *buf, size_t len, int fd,
		   int timeout_ms);
int vhost_recv_all(int sock, uint8_t *buf, size_t len, int timeout_ms, int *fd);

#endif
