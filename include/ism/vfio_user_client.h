/* SPDX-License-Identifier: MIT */
/*
 * ism/vfio_user_client.h - the client side of vfio-user: what a VMM (or a
 * test harness, or a tool) uses to drive a PCI device served by another
 * process over an AF_UNIX socket.
 *
 * Concepts: ism_vfu_client_connect() connects, negotiates the version and
 * capabilities (asking for a twin socket for the server's DMA messages)
 * and reads the device info.  Then: describe and map regions (BARs,
 * config space), read and write them by message, give the server eventfds
 * for interrupts, and hand it memory for DMA: with an fd it may map, or
 * without one, in which case the client answers the server's
 * DMA_READ/DMA_WRITE messages itself, from the memory it named (vaddr) or
 * through the dma callback.
 *
 * The server's DMA messages are served whenever the client library runs:
 * inside every call (while it waits for its reply), and from
 * ism_vfu_client_process(), which a caller's loop runs when
 * ism_vfu_client_fd() is readable (also when a DMA reply larger than the
 * socket can go on).  A server that never gets its DMA answered stalls
 * only itself.
 *
 * Threads: calls may come from several threads; they are serialised by
 * one lock, and the dma callback runs under it (it must not call the
 * client).  A server that goes away (or breaks the protocol) leaves the
 * client broken: every call returns -ENOTCONN (or -EPROTO); close it and
 * connect again, as after a device reset.
 *
 * The server is hostile: replies are decoded with bounds checks and
 * matched to their request; region fds are mapped only when they are
 * shmem files sealed against shrinking (a truncation cannot make the
 * caller fault); the server's DMA is served only inside the windows the
 * client mapped, with their access.
 */
#ifndef ISM_VFIO_USER_CLIENT_H
#define ISM_VFIO_USER_CLIENT_H

#include <ism/vfio_user.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_vfu_client;

enum ism_vfu_client_flags {
	/* Do not ask for a twin socket: the server's DMA messages then
	 * arrive between replies on the main socket. */
	ISM_VFU_CLIENT_NO_TWIN = 1u << 0,
	/* Map region fds even when not sealed against shrinking (the
	 * server can then make accesses to the mapping raise SIGBUS). */
	ISM_VFU_CLIENT_MAP_UNSEALED = 1u << 1,
};

/* Options; zero-initialise and set .size = sizeof(struct ism_vfu_client_opts). */
struct ism_vfu_client_opts {
	uint32_t size;
	uint32_t flags;		/* enum ism_vfu_client_flags */
	int timeout_ms;		/* per request; 0 means 10000 */
	uint32_t max_data_xfer; /* largest DMA count we accept: 512 B to
				 * 16 MiB; 0: 1 MiB */
	void *priv;
	/*
	 * The server reads (@is_write 0: fill @buf) or writes @len bytes of
	 * DMA address @addr, inside a window mapped without vaddr.  Returns
	 * 0 or -errno (sent to the server).  May be NULL (such windows then
	 * answer -EFAULT).  Runs under the client's lock.
	 */
	int (*dma)(void *priv, uint64_t addr, void *buf, size_t len,
		   int is_write);
};

/*
 * Connect to the server at @path and negotiate.  Returns 0 and the client
 * in *@out, or -errno: -ENOENT/-ECONNREFUSED (nobody there), -EPROTO (a
 * bad or inconsistent answer), -ENOTSUP (no common version),
 * -ETIMEDOUT, -ECONNRESET (the server refused: busy).
 */
ISM_EXPORT int ism_vfu_client_connect(const char *path,
				      const struct ism_vfu_client_opts *opts,
				      struct ism_vfu_client **out);

/* The same over @fd, a connected AF_UNIX stream socket (taken over, even
 * on error). */
ISM_EXPORT int ism_vfu_client_open_fd(int fd,
				      const struct ism_vfu_client_opts *opts,
				      struct ism_vfu_client **out);

/* Close: unmap regions, close sockets.  NULL is allowed. */
ISM_EXPORT void ism_vfu_client_close(struct ism_vfu_client *c);

/* A pollable fd (epoll): readable when the server sent something
 * (a DMA request, or a hang-up), or when a socket can take more of a DMA
 * reply still queued.  Owned by the client. */
ISM_EXPORT int ism_vfu_client_fd(struct ism_vfu_client *c);

/*
 * Serve what the server sent, without blocking (nothing if another
 * thread is inside a call: it serves them).  Returns 0, or -ENOTCONN
 * once the server is gone, -EPROTO after a protocol violation.
 */
ISM_EXPORT int ism_vfu_client_process(struct ism_vfu_client *c);

/* What the server said at connect. */
struct ism_vfu_client_info {
	uint16_t major, minor; /* the version agreed */
	uint32_t flags;	       /* ISM_VFU_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
	uint32_t max_msg_fds; /* the server's capabilities */
	uint32_t max_data_xfer;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	int twin; /* a twin socket carries the server's DMA */
	uint32_t reserved[8];
};

/* Fill *@info.  Returns 0. */
ISM_EXPORT int ism_vfu_client_info(struct ism_vfu_client *c,
				   struct ism_vfu_client_info *info);

struct ism_vfu_region_info {
	uint32_t index;
	uint32_t flags;	  /* ISM_VFU_REGION_INFO_* */
	uint64_t len;	  /* bytes (0: no such region on this device) */
	uint64_t offset;  /* mmap offset of its fd */
	uint32_t n_areas; /* mappable areas (SPARSE_MMAP); 0 with MMAP: all */
	struct ism_vfu_area areas[ISM_VFU_MAX_AREAS];
	int mappable; /* the server gave an fd this client accepts */
	uint32_t reserved[8];
};

/*
 * Ask the server about region @index (retrying with the argsz it says it
 * needs).  Returns 0, or -EINVAL (no such index), -errno.
 */
ISM_EXPORT int ism_vfu_client_region_info(struct ism_vfu_client *c,
					  uint32_t index,
					  struct ism_vfu_region_info *info);

/*
 * Map region @index: a reservation of its length in which the mappable
 * areas are the server's memory (read-only unless the region is
 * writable) and the rest is inaccessible.  Once per region (later calls
 * return the same address).  Returns 0 and the address in *@addr, or
 * -errno: -EBADF (no fd, or one this client does not map), -EINVAL.
 */
ISM_EXPORT int ism_vfu_client_region_map(struct ism_vfu_client *c,
					 uint32_t index, void **addr);
/* Undo ism_vfu_client_region_map().  Returns 0 or -EINVAL. */
ISM_EXPORT int ism_vfu_client_region_unmap(struct ism_vfu_client *c,
					   uint32_t index);

/*
 * Read or write @len bytes at @off of region @index by messages (split by
 * the server's max_data_xfer_size).  Returns @len, or -errno (the
 * server's error for that access).
 */
ISM_EXPORT ssize_t ism_vfu_client_region_read(struct ism_vfu_client *c,
					      uint32_t index, uint64_t off,
					      void *buf, size_t len);
ISM_EXPORT ssize_t ism_vfu_client_region_write(struct ism_vfu_client *c,
					       uint32_t index, uint64_t off,
					       const void *buf, size_t len);

struct ism_vfu_irq_info {
	uint32_t index;
	uint32_t flags; /* ISM_VFU_IRQ_INFO_* */
	uint32_t count;
	uint32_t reserved[5];
};

/* Ask about interrupt index @index.  Returns 0 or -errno. */
ISM_EXPORT int ism_vfu_client_irq_info(struct ism_vfu_client *c, uint32_t index,
				       struct ism_vfu_irq_info *info);

/*
 * Give vectors @start..@start+@count-1 of @index the eventfds @fds (the
 * server signals them; -1 entries, or @fds NULL, take them away).  Sent
 * in batches of the server's max_msg_fds.  The fds stay the caller's.
 * Returns 0 or -errno.
 */
ISM_EXPORT int ism_vfu_client_irq_eventfds(struct ism_vfu_client *c,
					   uint32_t index, uint32_t start,
					   uint32_t count, const int *fds);

/*
 * SET_IRQS without fds: @action (ISM_VFU_IRQ_SET_ACTION_MASK, _UNMASK or
 * _TRIGGER) on the vectors whose @bools byte is non-zero (@bools NULL:
 * all of them).  @count 0 with TRIGGER disables the whole index.
 * Returns 0 or -errno.
 */
ISM_EXPORT int ism_vfu_client_irq_set(struct ism_vfu_client *c, uint32_t index,
				      uint32_t action, uint32_t start,
				      uint32_t count, const uint8_t *bools);

/* A DMA window: zero-initialise and set .size = sizeof(struct ism_vfu_dma_map). */
struct ism_vfu_dma_map {
	uint32_t size;
	uint32_t prot;	    /* ISM_VFU_DMA_READ | ISM_VFU_DMA_WRITE */
	uint64_t addr, len; /* DMA addresses [addr, addr + len) */
	int fd;		    /* memory the server may map, or -1 */
	uint64_t fd_offset;
	/* Where this memory is in the caller (the server's DMA messages
	 * are answered from it, without a copy: it must stay mapped until
	 * the window is unmapped or the client closed), or NULL: the dma
	 * callback answers. */
	void *vaddr;
};

/*
 * Map a DMA window (the fd stays the caller's).  Returns 0 or -errno:
 * -EEXIST (it overlaps a window), -EINVAL, -ENOSPC (the server's cap), the
 * server's error.
 */
ISM_EXPORT int ism_vfu_client_dma_map(struct ism_vfu_client *c,
				      const struct ism_vfu_dma_map *map);
/* Unmap exactly the window at @addr of @len bytes.  When it returns the
 * server holds no reference to it.  Returns 0 or -errno (-ENOENT). */
ISM_EXPORT int ism_vfu_client_dma_unmap(struct ism_vfu_client *c, uint64_t addr,
					uint64_t len);
/* Unmap every window (VFIO_DMA_UNMAP_FLAG_ALL).  Returns 0 or -errno. */
ISM_EXPORT int ism_vfu_client_dma_unmap_all(struct ism_vfu_client *c);

/* DEVICE_RESET.  Returns 0 or the server's error. */
ISM_EXPORT int ism_vfu_client_reset(struct ism_vfu_client *c);

/*
 * DEVICE_FEATURE with @flags (feature index | GET/SET/PROBE bits) and
 * @in_len bytes of data; up to @out_cap bytes of the reply's data go to
 * @out.  Returns the reply's data length, or -errno (the server's: a
 * server without the feature says -ENOTSUP or -ENOTTY).
 */
ISM_EXPORT int ism_vfu_client_feature(struct ism_vfu_client *c, uint32_t flags,
				      const void *in, size_t in_len, void *out,
				      size_t out_cap);

/* One sub-region of GET_REGION_IO_FDS. */
struct ism_vfu_io_fd {
	uint64_t offset, len;
	int fd; /* the caller's to close */
	uint32_t type, flags;
	uint64_t datamatch;
};

/*
 * GET_REGION_IO_FDS for region @index: up to @cap sub-regions into @out.
 * Returns how many the server has (fds come with the first min(n, @cap)),
 * or -errno.
 */
ISM_EXPORT int ism_vfu_client_region_io_fds(struct ism_vfu_client *c,
					    uint32_t index,
					    struct ism_vfu_io_fd *out,
					    uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif
