/* SPDX-License-Identifier: MIT */
/*
 * ism/vhost_user.h - vhost-user's VIRTIO Shared Memory Region messages,
 * both sides: a front-end (a VMM) that serves a back-end's SHMEM_MAP /
 * SHMEM_UNMAP requests into ism windows, and a back-end that sends them.
 *
 * Concepts: vhost-user (QEMU's docs/interop/vhost-user.rst) lets a
 * back-end ask its front-end to map a file range into a VIRTIO Shared
 * Memory Region, named by its shmid, at an offset: exactly an ism window
 * (ism/window.h).  The requests arrive on the back-end request channel
 * (the socket the front-end handed over with SET_BACKEND_REQ_FD); the
 * front-end learns the regions' sizes with GET_SHMEM_CONFIG.  A back-end
 * that cannot translate an address (it was never shown that memory) asks
 * the front-end to copy instead (MEM_READ / MEM_WRITE).
 *
 * Only what these need is here: the message header, feature negotiation,
 * SET_BACKEND_REQ_FD, GET_SHMEM_CONFIG, SHMEM_MAP, SHMEM_UNMAP, MEM_READ,
 * MEM_WRITE.  Numbers are those of the spec (native byte order; ism
 * supports little-endian hosts); MEM_READ/MEM_WRITE follow the proposal
 * on qemu-devel (ids 11 and 12), which is not in the merged spec:
 * docs/windows.md says where ism had to choose.
 *
 * Everything a peer sends is hostile: sizes, offsets and flags are
 * checked exactly (a wrong payload size is a protocol error), counts are
 * capped, an fd is accepted only where the message carries one and, by
 * default, only a sealed memfd.  The front-end never blocks on the
 * back-end (non-blocking reads and writes; a back-end that stops reading
 * stalls only its own channel).  Errors are -errno.
 */
#ifndef ISM_VHOST_USER_H
#define ISM_VHOST_USER_H

#include <ism/common.h>
#include <ism/window.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Front-end requests (the ones used here). */
#define ISM_VHOST_USER_GET_FEATURES	     1u
#define ISM_VHOST_USER_SET_FEATURES	     2u
#define ISM_VHOST_USER_GET_PROTOCOL_FEATURES 15u
#define ISM_VHOST_USER_SET_PROTOCOL_FEATURES 16u
#define ISM_VHOST_USER_SET_BACKEND_REQ_FD    21u
#define ISM_VHOST_USER_GET_SHMEM_CONFIG	     44u
/* Back-end requests. */
#define ISM_VHOST_USER_BACKEND_SHMEM_MAP   9u
#define ISM_VHOST_USER_BACKEND_SHMEM_UNMAP 10u
#define ISM_VHOST_USER_BACKEND_MEM_READ	   11u /* proposed, not merged */
#define ISM_VHOST_USER_BACKEND_MEM_WRITE   12u /* proposed, not merged */

/* Header flags: version 1 in the low two bits, reply, need_reply. */
#define ISM_VHOST_USER_VERSION	       0x1u
#define ISM_VHOST_USER_FLAG_REPLY      (1u << 2)
#define ISM_VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define ISM_VHOST_USER_HDR_SIZE	       12u

/* Feature bits: GET_FEATURES's, and protocol features. */
#define ISM_VHOST_USER_F_PROTOCOL_FEATURES	  30
#define ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK	  3
#define ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ	  5
#define ISM_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define ISM_VHOST_USER_PROTOCOL_F_SHMEM		  22

/* SHMEM_MAP flags: bit 0 set maps read-write, clear read-only. */
#define ISM_VHOST_USER_SHMEM_MAP_RW 0x1ull
/* VIRTIO Shared Memory Regions a device may have (shmid is 8 bits). */
#define ISM_VHOST_USER_MAX_SHMEM 256u
/* The most bytes one MEM_READ or MEM_WRITE carries. */
#define ISM_VHOST_USER_MEM_RW_MAX 65536u

/* ---- front-end: serving a back-end's requests into windows ---- */

struct ism_vhost_fe;

enum ism_vhost_fe_flags {
	/* Accept any regular file for SHMEM_MAP, not only a memfd sealed
	 * against shrinking (see ISM_WINDOW_MAP_SEALED: such a file can be
	 * truncated under the mapping, and checking it may wait on its
	 * file system). */
	ISM_VHOST_FE_ANY_FILE = 1u << 0,
};

/* Options; zero-initialise and set .size. */
struct ism_vhost_fe_opts {
	uint32_t size;
	uint32_t flags;		    /* enum ism_vhost_fe_flags */
	uint64_t protocol_features; /* as negotiated (REPLY_ACK: replies) */
};

/*
 * Serve the back-end request channel @sock (the front-end's end of the
 * socket pair SET_BACKEND_REQ_FD handed over; an AF_UNIX stream socket).
 * @sock stays the caller's; it is made non-blocking.  Returns 0 and the
 * helper in *@out, or -errno.
 */
ISM_EXPORT int ism_vhost_fe_create(int sock, const struct ism_vhost_fe_opts *o,
				   struct ism_vhost_fe **out);

/*
 * VIRTIO Shared Memory Region @shmid is window @w (which the caller keeps,
 * and must not destroy before this helper), seen by the guest at
 * @guest_addr (for MEM_READ/MEM_WRITE; any value if unused).  NULL
 * removes it.  Returns 0 or -EINVAL.
 */
ISM_EXPORT int ism_vhost_fe_set_shmem(struct ism_vhost_fe *fe, uint32_t shmid,
				      struct ism_window *w,
				      uint64_t guest_addr);

/*
 * Read what the back-end sent, without blocking, and serve every complete
 * request: SHMEM_MAP and SHMEM_UNMAP into the windows (mappings never
 * overlap; unmap takes exactly one earlier mapping), MEM_READ and
 * MEM_WRITE of window memory that is mapped (not of reserved holes),
 * anything else refused.  Replies (REPLY_ACK: zero or a positive errno)
 * are sent without blocking; while one is pending, nothing more is read.
 * Returns the number of requests served (>= 0), or -errno: -EPIPE (the
 * back-end closed), -EPROTO (it broke the protocol: drop it).
 */
ISM_EXPORT int ism_vhost_fe_process(struct ism_vhost_fe *fe);

/* What to poll @sock for: POLLIN, plus POLLOUT while a reply waits. */
ISM_EXPORT int ism_vhost_fe_poll_events(struct ism_vhost_fe *fe);

/* Free the helper (the mappings stay in their windows). */
ISM_EXPORT void ism_vhost_fe_destroy(struct ism_vhost_fe *fe);

/* What a front-end's handshake learned. */
struct ism_vhost_handshake {
	uint64_t features;	    /* acknowledged with SET_FEATURES */
	uint64_t protocol_features; /* acknowledged */
	int backend_fd;		    /* our end of the back-end channel, or -1 */
	uint32_t n_shmem;	    /* VIRTIO Shared Memory Regions in use */
	uint64_t shmem_size[ISM_VHOST_USER_MAX_SHMEM]; /* by shmid; 0: unused */
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};

/*
 * The front-end's handshake on the vhost-user socket @sock (blocking, each
 * step bounded by @timeout_ms): GET_FEATURES, SET_FEATURES (@features and
 * what the back-end offers, plus PROTOCOL_FEATURES), GET/SET_PROTOCOL_
 * FEATURES (@protocol_features and what it offers), then, with
 * BACKEND_REQ, SET_BACKEND_REQ_FD (a new socket pair) and, with SHMEM,
 * GET_SHMEM_CONFIG (refused if it names more than 256 regions, sizes not
 * page multiples, or a count that disagrees with its sizes).  Returns 0
 * with *@out filled (the caller owns out->backend_fd), or -errno.
 */
ISM_EXPORT int ism_vhost_fe_handshake(int sock, uint64_t features,
				      uint64_t protocol_features,
				      int timeout_ms,
				      struct ism_vhost_handshake *out);

/* ---- back-end: asking a front-end ---- */

struct ism_vhost_be;

/*
 * Send requests on the back-end channel @sock (the fd SET_BACKEND_REQ_FD
 * brought; stays the caller's) with the negotiated @protocol_features,
 * waiting at most @timeout_ms for each reply (0: 5000).
 */
ISM_EXPORT int ism_vhost_be_create(int sock, uint64_t protocol_features,
				   int timeout_ms, struct ism_vhost_be **out);
ISM_EXPORT void ism_vhost_be_destroy(struct ism_vhost_be *be);

/*
 * SHMEM_MAP: map [@fd_offset, +@len) of @fd at @shm_offset of region
 * @shmid, read-write if @access is ISM_ACCESS_RW.  With REPLY_ACK the
 * front-end's answer is returned (0, or -errno: a positive value it sent
 * back; 1, what QEMU sends for any failure, is -EIO); without, 0 once
 * sent.
 */
ISM_EXPORT int ism_vhost_be_shmem_map(struct ism_vhost_be *be, uint32_t shmid,
				      int fd, uint64_t fd_offset,
				      uint64_t shm_offset, uint64_t len,
				      uint32_t access);
/* SHMEM_UNMAP of exactly one earlier mapping. */
ISM_EXPORT int ism_vhost_be_shmem_unmap(struct ism_vhost_be *be, uint32_t shmid,
					uint64_t shm_offset, uint64_t len);
/* MEM_READ / MEM_WRITE of @len (1 .. ISM_VHOST_USER_MEM_RW_MAX) bytes at
 * guest address @addr through the front-end.  Returns @len or -errno. */
ISM_EXPORT ssize_t ism_vhost_be_mem_read(struct ism_vhost_be *be, uint64_t addr,
					 void *buf, uint32_t len);
ISM_EXPORT ssize_t ism_vhost_be_mem_write(struct ism_vhost_be *be,
					  uint64_t addr, const void *buf,
					  uint32_t len);

/* What a back-end offers in the handshake. */
struct ism_vhost_be_dev {
	uint32_t size;
	uint32_t n_shmem;	    /* entries of shmem_size (<= 256) */
	uint64_t features;	    /* offered (PROTOCOL_FEATURES is added) */
	uint64_t protocol_features; /* offered */
	const uint64_t *shmem_size; /* by shmid, page multiples, 0: unused */
};

/* What the front-end settled, as the back-end serves its handshake. */
struct ism_vhost_be_state {
	uint64_t features, protocol_features; /* acknowledged */
	int backend_fd; /* from SET_BACKEND_REQ_FD (ours to close), or -1 */
	uint32_t reserved32;
	uint64_t reserved[4];
};

/*
 * Read one front-end message from @sock (blocking up to @timeout_ms) and
 * answer it if it is one of the handshake's: GET/SET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES, SET_BACKEND_REQ_FD, GET_SHMEM_CONFIG.
 * Returns the request number handled (> 0), or -ENOSYS for any other
 * (answered with failure if it asked for a reply; its payload and fds
 * dropped), or -errno (-EPIPE: closed; -EPROTO: malformed).  Initialise
 * @st with backend_fd = -1.
 */
ISM_EXPORT int ism_vhost_be_serve_one(int sock,
				      const struct ism_vhost_be_dev *dev,
				      struct ism_vhost_be_state *st,
				      int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
