/* SPDX-License-Identifier: MIT */
/*
 * vfu_wire - the vfio-user wire format, shared by the server
 * (lib/vfio_user) and the client (lib/vfio_user_client).
 *
 * Concepts: every message is a 16-byte header (id, command, size, flags,
 * error) and a payload, on an AF_UNIX SOCK_STREAM socket; fds travel as
 * SCM_RIGHTS with the sendmsg() that carries the header.  Each payload is
 * an ordinary host struct with an encoder and a decoder (struct vfu_msg,
 * one union member per command and direction); decoders read every field
 * through cursors with a sticky error, require every byte consumed, check
 * sizes, counts and ranges with overflow-safe arithmetic, and never trust
 * argsz for anything but what the spec says it is.  The VERSION message's
 * JSON capabilities have their own small parser (vfu_json.c): no library,
 * a depth cap, unknown keys skipped, known keys typed.
 *
 * vfu_ep.c is a non-blocking endpoint: it reads a header, then exactly
 * its payload (so fds sent with a header are tied to that message, and
 * fds arriving anywhere else are a protocol error), and queues what the
 * socket cannot take yet, up to a cap: a peer that stops reading never
 * blocks the sender.
 *
 * The protocol is in host byte order; ism speaks it little-endian and
 * refuses to build for a big-endian host.
 */
#ifndef ISM_VFU_WIRE_H
#define ISM_VFU_WIRE_H

#include "wire/wire.h"

#include <ism/vfio_user.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vfio-user speaks host byte order; ism implements little-endian only"
#endif

#define VFU_HDR_SIZE 16u

enum vfu_cmd {
	VFU_VERSION = 1,
	VFU_DMA_MAP = 2,
	VFU_DMA_UNMAP = 3,
	VFU_GET_INFO = 4,
	VFU_GET_REGION_INFO = 5,
	VFU_GET_REGION_IO_FDS = 6,
	VFU_GET_IRQ_INFO = 7,
	VFU_SET_IRQS = 8,
	VFU_REGION_READ = 9,
	VFU_REGION_WRITE = 10,
	VFU_DMA_READ = 11,
	VFU_DMA_WRITE = 12,
	VFU_DEVICE_RESET = 13,
	VFU_REGION_WRITE_MULTI = 15,
	VFU_DEVICE_FEATURE = 16,
	VFU_MIG_DATA_READ = 17,
	VFU_MIG_DATA_WRITE = 18,
	VFU_CMD_MAX = 18,
};

/* Header flags. */
#define VFU_F_TYPE_MASK 0x0fu
#define VFU_F_COMMAND	0x00u
#define VFU_F_REPLY	0x01u
#define VFU_F_NO_REPLY	0x10u
#define VFU_F_ERROR	0x20u

struct vfu_hdr {
	uint16_t id;
	uint16_t cmd;
	uint32_t size; /* whole message, header included */
	uint32_t flags;
	uint32_t error; /* replies with VFU_F_ERROR: an errno (may be 0) */
};

/* Protocol version: 0.x as QEMU and libvfio-user speak it.  We answer
 * every minor with 0 (the spec allows any minor <= the proposal). */
#define VFU_MAJOR 0u
#define VFU_MINOR 0u

/* Defaults the spec gives for capabilities left out. */
#define VFU_DEF_MAX_MSG_FDS  1u
#define VFU_DEF_MAX_XFER     (1u << 20)
#define VFU_DEF_MAX_DMA_MAPS 65535u
#define VFU_DEF_PGSIZES	     4096u
/* Our own limits. */
#define VFU_MAX_FDS	    16u		/* fds we accept in one message */
#define VFU_MAX_XFER	    (16u << 20) /* largest data count we accept */
#define VFU_MIN_XFER	    4096u	/* smallest max we offer (option) */
#define VFU_MIN_PEER_XFER   512u	/* smallest max a peer may name */
#define VFU_MAX_JSON	    4096u	/* VERSION's JSON, NUL included */
#define VFU_MAX_IO_FDS	    64u		/* sub-regions in GET_REGION_IO_FDS */
#define VFU_MAX_MULTI	    256u	/* writes in one REGION_WRITE_MULTI */
#define VFU_MAX_FEATURE	    4096u	/* DEVICE_FEATURE data */
#define VFU_MAX_IRQS_DATA   ISM_VFU_MAX_MSIX /* SET_IRQS booleans */
#define VFU_MAX_REGION_CAPS 16u		     /* caps walked in a region info */
/* Largest fixed part plus data of any message we build or accept. */
#define VFU_MSG_OVERHEAD 64u

_Static_assert(VFU_MAX_FDS < ISM_WIRE_SCM_MAX_FDS, "below SCM_MAX_FD");

/* ---- JSON capabilities ------------------------------------------------ */

/* Which keys were present (struct vfu_caps.present). */
#define VFU_CAP_MAX_MSG_FDS  0x01u
#define VFU_CAP_MAX_XFER     0x02u
#define VFU_CAP_MAX_DMA_MAPS 0x04u
#define VFU_CAP_PGSIZES	     0x08u
#define VFU_CAP_TWIN	     0x10u /* the twin_socket object */
#define VFU_CAP_TWIN_SUP     0x20u /* twin_socket.supported */
#define VFU_CAP_TWIN_INDEX   0x40u /* twin_socket.fd_index */
#define VFU_CAP_WRITE_MULTI  0x80u
#define VFU_CAP_MIGRATION    0x100u /* present, ignored */
#define VFU_CAP_OBJECT	     0x200u /* "capabilities" itself */

struct vfu_caps {
	uint32_t present; /* VFU_CAP_* */
	uint64_t max_msg_fds;
	uint64_t max_data_xfer;
	uint64_t max_dma_maps;
	uint64_t pgsizes;
	uint64_t twin_fd_index;
	bool twin_supported;
	bool write_multiple;
};

/*
 * Parse @len bytes of JSON (no NUL among them) into @c: an object whose
 * "capabilities" member (optional) is an object of the keys above; other
 * keys, at any level, are skipped whatever their value.  Known keys must
 * have their type (non-negative integers, booleans, objects) and appear
 * once.  Nesting is capped at 16.  Returns 0 or -EINVAL.
 */
int vfu_caps_parse(const char *json, size_t len, struct vfu_caps *c);
/*
 * Write @c as JSON (the present keys) into @buf of @cap bytes, NUL
 * terminated.  Returns the length without the NUL, or -EMSGSIZE.
 */
int vfu_caps_format(char *buf, size_t cap, const struct vfu_caps *c);

/* ---- payloads ----------------------------------------------------------- */

struct vfu_version {
	uint16_t major, minor;
	bool has_json;
	struct vfu_caps caps;
};

/* DMA_MAP request. */
struct vfu_dma_map {
	uint32_t argsz, flags;
	uint64_t offset, addr, len;
};

/* DMA_UNMAP request and reply (the reply echoes the request). */
#define VFU_DMA_UNMAP_FLAG_ALL 0x2u
struct vfu_dma_unmap {
	uint32_t argsz, flags;
	uint64_t addr, len;
};

/* GET_INFO request and reply. */
struct vfu_dev_info {
	uint32_t argsz, flags, num_regions, num_irqs;
};

/* GET_REGION_INFO request; the reply's fixed part. */
struct vfu_region_info {
	uint32_t argsz, flags, index, cap_offset;
	uint64_t len, offset;
};
#define VFU_REGION_INFO_SIZE	32u
#define VFU_CAP_SPARSE_MMAP	1u
#define VFU_CAP_TYPE		2u
#define VFU_CAP_HDR_SIZE	8u
#define VFU_SPARSE_AREAS_OFFSET 16u /* after the header, nr and reserved */
/* The reply: fixed part plus the sparse areas (when CAPS). */
struct vfu_region_info_reply {
	struct vfu_region_info ri;
	bool full;	  /* caps included (argsz allowed them) */
	uint32_t n_areas; /* from a SPARSE_MMAP cap */
	struct ism_vfu_area areas[ISM_VFU_MAX_AREAS];
	bool has_type;
	uint32_t type, subtype;
};

/* GET_REGION_IO_FDS request and reply. */
struct vfu_io_fd_sub {
	uint64_t offset, len;
	uint32_t fd_index, type, flags, padding;
	uint64_t datamatch; /* or user_data */
};
struct vfu_io_fds {
	uint32_t argsz, flags, index, count;
	bool full; /* replies: the entries are there (argsz allowed them) */
	struct vfu_io_fd_sub sub[VFU_MAX_IO_FDS]; /* replies only */
};
#define VFU_IO_FD_SUB_SIZE 40u

/* GET_IRQ_INFO request and reply. */
struct vfu_irq_info {
	uint32_t argsz, flags, index, count;
};

/* SET_IRQS request. */
struct vfu_set_irqs {
	uint32_t argsz, flags, index, start, count;
	const uint8_t *data; /* DATA_BOOL: count booleans (in the message) */
};
#define VFU_SET_IRQS_SIZE 20u

/* REGION_READ/WRITE requests and replies. */
struct vfu_region_rw {
	uint64_t offset;
	uint32_t region, count;
	const uint8_t *data; /* write request, read reply */
};
#define VFU_REGION_RW_SIZE 16u

/* DMA_READ/WRITE requests and replies. */
struct vfu_dma_rw {
	uint64_t addr, count;
	const uint8_t *data; /* write request, read reply */
	bool short_count;    /* DMA_WRITE reply with a 4-byte count (the
			      * spec's table); we send 8 as QEMU and
			      * libvfio-user do, and accept both */
};
#define VFU_DMA_RW_SIZE 16u

/* REGION_WRITE_MULTI request (the reply is wr_cnt). */
struct vfu_write_multi {
	uint64_t wr_cnt;
	struct {
		uint64_t offset;
		uint32_t region, count;
		uint8_t data[8];
	} wr[VFU_MAX_MULTI];
};
#define VFU_MULTI_ENTRY_SIZE 24u

/* DEVICE_FEATURE request and reply. */
#define VFU_FEATURE_MASK  0xffffu
#define VFU_FEATURE_GET	  (1u << 16)
#define VFU_FEATURE_SET	  (1u << 17)
#define VFU_FEATURE_PROBE (1u << 18)
struct vfu_feature {
	uint32_t argsz, flags;
	const uint8_t *data;
	uint32_t data_len;
};

/* MIG_DATA_READ/WRITE. */
struct vfu_mig_data {
	uint32_t argsz, size;
	const uint8_t *data; /* write request, read reply */
};

/* A decoded message: the header and one payload.  Pointers point into
 * the buffer that was decoded. */
struct vfu_msg {
	struct vfu_hdr h;
	union {
		struct vfu_version version;
		struct vfu_dma_map dma_map;
		struct vfu_dma_unmap dma_unmap;
		struct vfu_dev_info dev_info;
		struct vfu_region_info region_info;	      /* request */
		struct vfu_region_info_reply region_info_rep; /* reply */
		struct vfu_io_fds io_fds;
		struct vfu_irq_info irq_info;
		struct vfu_set_irqs set_irqs;
		struct vfu_region_rw region_rw;
		struct vfu_dma_rw dma_rw;
		struct vfu_write_multi multi;
		struct vfu_feature feature;
		struct vfu_mig_data mig;
		uint64_t wr_cnt; /* REGION_WRITE_MULTI reply */
	} u;
};

/*
 * Encode/decode the header.  vfu_hdr_get() checks: size >= 16, a known
 * type (command or reply), no unknown flag, NO_REPLY only on commands,
 * ERROR only on replies.  Returns 0 or -EBADMSG.
 */
void vfu_hdr_put(struct ism_wbuf *b, const struct vfu_hdr *h);
int vfu_hdr_get(const uint8_t p[VFU_HDR_SIZE], struct vfu_hdr *h);

/*
 * Decode the payload @p (@n bytes) of the message whose header is
 * @m->h into @m->u, for a message that arrived with @nfds fds.  Commands
 * are decoded as requests, replies (non-error) as replies of that
 * command.  Error replies carry no payload.  Every field is read and
 * checked; @n must be exactly the payload.  Returns 0, or -EINVAL (a
 * bad value, a bad fd count), -EBADMSG (short or long), -EOPNOTSUPP (no
 * such command in that direction).
 */
int vfu_msg_decode(struct vfu_msg *m, const uint8_t *p, size_t n,
		   unsigned nfds);

/*
 * Encode the payload of @m (as a command or reply per @m->h.flags) after
 * a header; sets h.size.  Returns the message length or -EMSGSIZE,
 * -EINVAL.
 */
ssize_t vfu_msg_encode(struct vfu_msg *m, uint8_t *buf, size_t cap);

/* Encode an error reply to command @cmd id @id. */
size_t vfu_error_reply(uint8_t buf[VFU_HDR_SIZE], uint16_t id, uint16_t cmd,
		       int err);

/* A name for a command ("DMA_MAP"), or "?" */
const char *vfu_cmd_name(uint32_t cmd);

/* ---- endpoint ------------------------------------------------------------ */

struct vfu_out; /* a queued message */

struct vfu_ep {
	int fd;		  /* the socket (non-blocking); -1 when closed */
	uint32_t max_in;  /* largest message accepted, header included */
	uint32_t max_fds; /* most fds one message may carry */
	size_t max_queue; /* bytes queued beyond which sends fail */
	/* receiving */
	uint8_t hb[VFU_HDR_SIZE];
	uint32_t hgot;
	struct vfu_hdr h;
	uint8_t *buf;
	uint32_t bufcap, got;
	int fds[VFU_MAX_FDS];
	unsigned nfds;
	bool fds_over; /* more than max_fds came: closed, flag it */
	/* one expected reply's data straight to a caller's buffer */
	struct vfu_steer {
		bool armed;
		uint16_t id, cmd;
		uint32_t head;
		uint8_t *dst;
		size_t len;
	} steer;
	bool steering; /* the message being read is the steered one */
	bool lost;     /* unsteered in the middle of it: the stream is lost */
	/* sending */
	struct vfu_out *q, **qtail;
	size_t qbytes;
};

/* A received message: valid until the next vfu_ep_recv().  The fds are
 * the caller's. */
struct vfu_rx {
	struct vfu_hdr h;
	const uint8_t *p; /* payload */
	size_t n;
	int fds[VFU_MAX_FDS];
	unsigned nfds;
	bool fds_over; /* the message came with more than max_fds fds (closed) */
	bool steered;  /* the last bytes went to vfu_ep_steer()'s buffer */
};

void vfu_ep_init(struct vfu_ep *ep, int fd, uint32_t max_in, size_t max_queue);
/* Close the socket (off-thread: the peer may have queued fds in it) and
 * free what is queued or buffered. */
void vfu_ep_close(struct vfu_ep *ep);
/*
 * Read one whole message without blocking.  Returns 1 with *@m filled,
 * 0 when the socket has no more yet (wait for POLLIN before calling
 * again: a payload read that comes back short is not retried), or
 * -errno: -ENOTCONN (EOF),
 * -EMSGSIZE (size above max_in), -EBADMSG (a bad header, fds not with a
 * header), or a socket error.  After an error the stream is lost.
 */
int vfu_ep_recv(struct vfu_ep *ep, struct vfu_rx *m);
/*
 * Receive one expected reply's data straight into @dst, without a copy:
 * when a header arrives that is a reply without error to (@cmd, @id)
 * whose size is exactly the header, @head bytes and @len bytes (checked
 * once, on the header as received), its first @head payload bytes go to
 * the endpoint's buffer (m->p, m->n == @head) and the @len bytes after
 * them to @dst, and vfu_ep_recv() sets m->steered.  Any other message is
 * received as usual.  One reply at a time; the steer lasts until that
 * reply is received or vfu_ep_unsteer().  @dst must stay valid until
 * then; on a bad reply its contents are undefined.
 */
void vfu_ep_steer(struct vfu_ep *ep, uint16_t cmd, uint16_t id, uint32_t head,
		  void *dst, size_t len);
/* Disarm the steer.  In the middle of the steered message the stream is
 * lost: every later vfu_ep_recv() fails with -EBADMSG. */
void vfu_ep_unsteer(struct vfu_ep *ep);
/*
 * Send @len bytes (a whole message) with @nfds fds (still the caller's).
 * What the socket cannot take now is queued (fds duplicated) for
 * vfu_ep_flush().  Returns 0, -ENOBUFS (the queue would exceed
 * max_queue: nothing sent), or -errno (-ENOTCONN: the peer is gone).
 */
int vfu_ep_send(struct vfu_ep *ep, const void *msg, size_t len, const int *fds,
		unsigned nfds);
/* The same, the message gathered from @niov (at most VFU_EP_MAX_IOV)
 * pieces: what the socket takes at once leaves without a copy. */
#define VFU_EP_MAX_IOV 4u
int vfu_ep_sendv(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		 const int *fds, unsigned nfds);
/*
 * The same, but the last @nlent pieces are lent: what the socket cannot
 * take at once is queued by reference, not copied.  They must stay
 * mapped until sent (vfu_ep_queued() false) or until vfu_ep_keep(); what
 * leaves is what they hold when it leaves.
 */
int vfu_ep_sendv_lent(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		      const int *fds, unsigned nfds, unsigned nlent);
/* Copy into the queue what it holds by reference (before that memory
 * goes).  Returns 0 or -ENOMEM (the queue is as it was, partly copied). */
int vfu_ep_keep(struct vfu_ep *ep);
/* Send what is queued.  Returns 0 when the queue is empty, -EAGAIN when
 * some is left, or -errno. */
int vfu_ep_flush(struct vfu_ep *ep);
static inline bool vfu_ep_queued(const struct vfu_ep *ep)
{
	return ep->q != NULL;
}
/* Bytes of the message being received that are in (0 between messages). */
static inline size_t vfu_ep_progress(const struct vfu_ep *ep)
{
	return (size_t)ep->hgot + ep->got;
}
/*
 * Wait until @fd is ready for @events (POLLIN/POLLOUT) or the monotonic
 * time @deadline_ns passes.  Returns >0 ready, 0 timeout, -errno.
 */
int vfu_wait_fd(int fd, short events, uint64_t deadline_ns);
/* Send a whole message, waiting (up to @deadline_ns) while the socket is
 * full.  Returns 0 or -errno (-ETIMEDOUT).  The iovec form copies nothing
 * when nothing is queued before it and it carries no fds. */
int vfu_ep_sendv_wait(struct vfu_ep *ep, const struct iovec *iov, unsigned niov,
		      const int *fds, unsigned nfds, uint64_t deadline_ns);
int vfu_ep_send_wait(struct vfu_ep *ep, const void *msg, size_t len,
		     const int *fds, unsigned nfds, uint64_t deadline_ns);
/* Read one whole message, waiting up to @deadline_ns.  Returns 1, or
 * -errno (-ETIMEDOUT...). */
int vfu_ep_recv_wait(struct vfu_ep *ep, struct vfu_rx *m, uint64_t deadline_ns);

/*
 * Raise @fd's socket buffers (SO_SNDBUF and SO_RCVBUF) so that each holds
 * a whole message of @msg bytes: the kernel doubles the value set, for
 * its own accounting, and caps it at net.core.wmem_max / rmem_max; a
 * buffer already as big is left alone.  Returns 0 or -errno.
 */
int vfu_sock_fit(int fd, size_t msg);

/* Close the fds of @m that the caller did not take (set to -1). */
void vfu_rx_close_fds(struct vfu_rx *m);

/* ---- fd checks -------------------------------------------------------- */

/* Is @fd an eventfd (by its /proc/self/fd link, without touching the
 * file)? */
bool vfu_fd_is_eventfd(int fd);
/*
 * Is @fd a shmem or hugetlbfs file (F_GET_SEALS answers) of at least
 * @min_size bytes, and if @need_seal safe to map against a holder who
 * wants us to fault: sealed against shrinking, and not hugetlbfs (holes
 * there fault once the pool is empty)?  Returns 0, -EBADF (another kind
 * of file), -ENOSPC (too small), -EPERM (not safe to map).
 */
int vfu_fd_check_mem(int fd, uint64_t min_size, bool need_seal);
/* Is @fd a connected AF_UNIX SOCK_STREAM socket? */
bool vfu_fd_is_unix_stream(int fd);

#endif
