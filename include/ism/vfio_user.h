/* SPDX-License-Identifier: MIT */
/*
 * ism/vfio_user.h - a PCI device served over vfio-user (the server side).
 *
 * Concepts: vfio-user (QEMU's docs/interop/vfio-user.rst, protocol 0.x)
 * lets a VMM (the *client*) drive a PCI device emulated in another
 * process (the *server*) over an AF_UNIX stream socket: the client reads
 * and writes the device's regions (BARs, config space), registers eventfds
 * the server signals as interrupts, and hands the server its memory for
 * DMA, as fds the server maps or as windows the server reaches with
 * DMA_READ/DMA_WRITE messages.  A struct ism_vfu_dev is one device: its
 * config space (kept by the library: IDs, class, BARs and their sizing,
 * MSI, MSI-X and PCIe capabilities), its regions (backed by a callback or
 * by a sealed memfd the client may map, whole or in sparse areas), its
 * interrupts, and the one client it serves at a time.
 *
 * Loop: the device is driven from one thread, the caller's: poll
 * ism_vfu_dev_fd() and call ism_vfu_dev_process(), or call
 * ism_vfu_dev_run().  Callbacks run on that thread, inside those calls,
 * and may call ism_vfu_irq_trigger() and ism_vfu_dma_read/write().  No
 * call is thread-safe except ism_vfu_dev_stop().
 *
 * A client that goes away (exit, kill -9, a protocol violation) loses
 * every DMA window and interrupt eventfd it set up; the device, its config
 * space and region contents stay, and the next client is accepted.
 *
 * The client is hostile: every message is decoded with bounds checks and
 * answered with an error reply when wrong; its fds are checked (eventfds
 * by type, DMA fds must be shmem or hugetlbfs files sealed against
 * shrinking, else the window is reached by messages instead); DMA windows
 * never overlap and are capped in number and bytes; a client that stops
 * reading stops being served, never stalls the caller's loop beyond the
 * DMA timeout.  See docs/vfio-user.md.
 */
#ifndef ISM_VFIO_USER_H
#define ISM_VFIO_USER_H

#include <ism/common.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Protocol constants, shared with ism/vfio_user_client.h. */

/* Region indexes of a PCI device (linux/vfio.h). */
enum ism_vfu_region_index {
	ISM_VFU_BAR0 = 0, /* ... BAR5 = 5 */
	ISM_VFU_ROM = 6,
	ISM_VFU_CONFIG = 7,
	ISM_VFU_VGA = 8,
	ISM_VFU_NUM_REGIONS = 9,
};

/* Interrupt indexes of a PCI device (linux/vfio.h). */
enum ism_vfu_irq_index {
	ISM_VFU_IRQ_INTX = 0,
	ISM_VFU_IRQ_MSI = 1,
	ISM_VFU_IRQ_MSIX = 2,
	ISM_VFU_IRQ_ERR = 3,
	ISM_VFU_IRQ_REQ = 4,
	ISM_VFU_NUM_IRQS = 5,
};

/* GET_REGION_INFO flags. */
#define ISM_VFU_REGION_INFO_READ  0x1u
#define ISM_VFU_REGION_INFO_WRITE 0x2u
#define ISM_VFU_REGION_INFO_MMAP  0x4u
#define ISM_VFU_REGION_INFO_CAPS  0x8u

/* GET_IRQ_INFO flags. */
#define ISM_VFU_IRQ_INFO_EVENTFD    0x1u
#define ISM_VFU_IRQ_INFO_MASKABLE   0x2u
#define ISM_VFU_IRQ_INFO_AUTOMASKED 0x4u
#define ISM_VFU_IRQ_INFO_NORESIZE   0x8u

/* SET_IRQS flags: exactly one DATA_ and one ACTION_. */
#define ISM_VFU_IRQ_SET_DATA_NONE      0x01u
#define ISM_VFU_IRQ_SET_DATA_BOOL      0x02u
#define ISM_VFU_IRQ_SET_DATA_EVENTFD   0x04u
#define ISM_VFU_IRQ_SET_ACTION_MASK    0x08u
#define ISM_VFU_IRQ_SET_ACTION_UNMASK  0x10u
#define ISM_VFU_IRQ_SET_ACTION_TRIGGER 0x20u

/* GET_INFO flags. */
#define ISM_VFU_DEVICE_FLAGS_RESET 0x1u
#define ISM_VFU_DEVICE_FLAGS_PCI   0x2u

/* DMA_MAP flags: what the server may do to the window. */
#define ISM_VFU_DMA_READ  0x1u
#define ISM_VFU_DMA_WRITE 0x2u

/* Most sparse mmap areas one region describes. */
#define ISM_VFU_MAX_AREAS 16u
/* Most MSI-X vectors (the PCI limit). */
#define ISM_VFU_MAX_MSIX 2048u

/* A part of a region the client may mmap, relative to the region. */
struct ism_vfu_area {
	uint64_t offset;
	uint64_t len;
};

/* ------------------------------------------------------------------ */
/* The server. */

struct ism_vfu_dev;

enum ism_vfu_dev_flags {
	/* A PCI Express endpoint: a PCIe capability and 4 KiB of config
	 * space (else conventional PCI, 256 bytes). */
	ISM_VFU_DEV_PCIE = 1u << 0,
	/* Do not offer a twin socket (server->client DMA messages then
	 * share the main socket). */
	ISM_VFU_DEV_NO_TWIN = 1u << 1,
	/* Map DMA fds even when they are not sealed against shrinking: the
	 * client can then make the device's DMA raise SIGBUS by truncating
	 * its file.  Off: such windows are reached by messages. */
	ISM_VFU_DEV_MAP_UNSEALED = 1u << 2,
	/* Never map DMA fds: every DMA is a message (the client's memory
	 * is never in the server's address space). */
	ISM_VFU_DEV_NO_DMA_FDS = 1u << 3,
};

/* Why the reset callback runs. */
enum ism_vfu_reset_type {
	ISM_VFU_RESET_DEVICE = 1,    /* DEVICE_RESET from the client */
	ISM_VFU_RESET_LOST_CONN = 2, /* the client went away */
};

/* Log levels of the log callback (syslog's). */
#define ISM_VFU_LOG_ERR	  3
#define ISM_VFU_LOG_INFO  6
#define ISM_VFU_LOG_DEBUG 7

/* Options; zero-initialise and set .size = sizeof(struct ism_vfu_dev_opts). */
struct ism_vfu_dev_opts {
	uint32_t size;
	uint32_t flags; /* enum ism_vfu_dev_flags */
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint32_t class_code; /* base << 16 | sub << 8 | prog-if */
	uint8_t revision;
	uint8_t reserved0[3];
	/* Interrupts: INTx (0 or 1), MSI vectors (0, or a power of two up
	 * to 32), MSI-X vectors (0 to ISM_VFU_MAX_MSIX).  The ERR and REQ
	 * indexes always have one vector each. */
	uint32_t n_intx, n_msi, n_msix;
	/* MSI-X table and PBA: a BAR (0-5, which must be set up with
	 * ism_vfu_dev_set_region()) and 8-byte aligned offsets in it.  The
	 * library answers REGION_READ/WRITE there itself. */
	uint32_t msix_bar, msix_table_offset, msix_pba_offset;
	/* Caps on what a client may make the server hold: DMA windows (0:
	 * 4096; at most 65535) and bytes of mapped DMA windows (0: 1 TiB). */
	uint32_t max_dma_maps;
	uint64_t max_dma_bytes;
	/* Largest REGION_READ/WRITE count accepted (0: 1 MiB; 4 KiB..16 MiB). */
	uint32_t max_data_xfer;
	/* How long a DMA message may wait for its reply (0: 10000). */
	int dma_timeout_ms;
	void *priv; /* passed to every callback */
	/* DEVICE_RESET, or a lost client: put the device back in its reset
	 * state (interrupt eventfds and DMA windows are the library's).
	 * Returns 0 or -errno (sent to the client).  May be NULL. */
	int (*reset)(void *priv, int type);
	/* A DMA window is going away (unmap, unmap-all, lost client): stop
	 * using it.  May be NULL. */
	void (*dma_unmap)(void *priv, uint64_t addr, uint64_t len);
	/* A client finished VERSION negotiation (1) or went away (0).  May
	 * be NULL. */
	void (*client)(void *priv, int connected);
	/* One line per event; NULL: nothing is logged. */
	void (*log)(void *priv, int level, const char *msg);
};

enum ism_vfu_region_flags {
	ISM_VFU_REGION_READ = 1u << 0,
	ISM_VFU_REGION_WRITE = 1u << 1,
	ISM_VFU_REGION_IO = 1u << 2,	   /* an I/O BAR: 1, 2, 4-byte access */
	ISM_VFU_REGION_MEM64 = 1u << 3,	   /* a 64-bit memory BAR (uses the
					    * next BAR's register too) */
	ISM_VFU_REGION_PREFETCH = 1u << 4, /* prefetchable memory BAR */
};

/*
 * A region: BAR0-5 or ROM.  Accesses by message go to @access when set,
 * else to the memfd.  A BAR's length is a power of two (memory >= 16,
 * I/O 4..256).  Zero-initialise and set .size = sizeof(struct
 * ism_vfu_region).
 */
struct ism_vfu_region {
	uint32_t size;
	uint32_t flags; /* enum ism_vfu_region_flags */
	uint64_t len;
	/* Read (@is_write 0) or write @count bytes at @off (in range: the
	 * library checked) into or from @buf.  Returns 0 or -errno (sent
	 * to the client). */
	int (*access)(void *priv, uint32_t index, uint64_t off, void *buf,
		      uint32_t count, int is_write);
	/* -1, or a memfd of at least fd_offset + len bytes sealed with
	 * F_SEAL_SHRINK (the library adds the seal when it can): the
	 * client may mmap it.  The library keeps a duplicate; the caller
	 * keeps its fd. */
	int fd;
	uint64_t fd_offset;
	/* Which parts the client may mmap (page aligned); 0: all of it. */
	uint32_t n_areas;
	const struct ism_vfu_area *areas;
};

/*
 * Create a device.  Returns 0 and the device in *@out, or -errno:
 * -EINVAL (bad options), -ENOMEM.
 */
ISM_EXPORT int ism_vfu_dev_create(const struct ism_vfu_dev_opts *opts,
				  struct ism_vfu_dev **out);

/*
 * Describe region @index (BAR0-5 or ISM_VFU_ROM) before the first client
 * arrives.  Returns 0 or -errno: -EINVAL (bad index, length, flags,
 * areas; a 64-bit BAR at BAR5 or over a BAR in use), -EBADF (@fd is not
 * a memfd large enough, or cannot be sealed), -EBUSY (a client is
 * connected).
 */
ISM_EXPORT int ism_vfu_dev_set_region(struct ism_vfu_dev *dev, uint32_t index,
				      const struct ism_vfu_region *r);

/*
 * Serve clients connecting to a new socket at @path (mode 0600; an
 * existing socket nobody answers on is replaced, anything else is
 * -EADDRINUSE).  The socket is removed by ism_vfu_dev_destroy().
 * Returns 0 or -errno.
 */
ISM_EXPORT int ism_vfu_dev_listen(struct ism_vfu_dev *dev, const char *path);

/*
 * Serve @fd, an AF_UNIX stream socket: a listening one (clients are
 * accepted from it), or a connected one (that client only).  The device
 * takes @fd over, even on error.  Returns 0 or -errno (-ENOTSOCK, -EINVAL).
 */
ISM_EXPORT int ism_vfu_dev_attach_fd(struct ism_vfu_dev *dev, int fd);

/*
 * A pollable fd (epoll, level-triggered): readable when
 * ism_vfu_dev_process() has work.  Owned by the device; stable.
 */
ISM_EXPORT int ism_vfu_dev_fd(struct ism_vfu_dev *dev);

/*
 * Do what is ready without blocking (a DMA message in a callback waits
 * for its reply): accept a client, serve up to 64 of its messages, flush
 * replies.  Returns 0, or -ENOTCONN once a connected socket given to
 * ism_vfu_dev_attach_fd() was closed (nobody else can come), or -errno
 * for a failure of the device itself.  Client errors are not errors of
 * this call: the client is dropped and the next one accepted.
 */
ISM_EXPORT int ism_vfu_dev_process(struct ism_vfu_dev *dev);

/*
 * Serve until ism_vfu_dev_stop() (returns 0) or until
 * ism_vfu_dev_process() fails (its error).
 */
ISM_EXPORT int ism_vfu_dev_run(struct ism_vfu_dev *dev);

/* Make ism_vfu_dev_run() return.  Async-signal-safe; any thread. */
ISM_EXPORT void ism_vfu_dev_stop(struct ism_vfu_dev *dev);

/* 1 while a client is connected and past VERSION, else 0. */
ISM_EXPORT int ism_vfu_dev_connected(struct ism_vfu_dev *dev);

/*
 * Drop the current client (as if it had gone away).  Returns 0, or
 * -ENOTCONN when none is connected.
 */
ISM_EXPORT int ism_vfu_dev_disconnect(struct ism_vfu_dev *dev);

/*
 * Raise vector @vector of interrupt @index.  Signalled at once when the
 * client gave it an eventfd and it is not masked; else it is left
 * pending (MSI-X: in the PBA) and signalled when unmasked or given an
 * eventfd.  Returns 1 if signalled, 0 if left pending, or -EINVAL
 * (no such vector).
 */
ISM_EXPORT int ism_vfu_irq_trigger(struct ism_vfu_dev *dev, uint32_t index,
				   uint32_t vector);

/*
 * Read or write @len bytes of the client's memory at DMA address @addr,
 * which must lie in windows the client mapped with ISM_VFU_DMA_READ (for
 * reads) or ISM_VFU_DMA_WRITE (for writes).  Through the mapping where
 * the client gave a usable fd, else by DMA_READ/WRITE messages in chunks
 * of the client's max_data_xfer_size (waiting up to dma_timeout_ms for
 * each reply).  Returns 0 or -errno: -EFAULT (not inside windows with
 * that access), -ENOTCONN (no client, or it went away), -ETIMEDOUT,
 * -EIO (the client answered with an error), -EPROTO (a bad reply: the
 * client is dropped).
 */
ISM_EXPORT int ism_vfu_dma_read(struct ism_vfu_dev *dev, uint64_t addr,
				void *buf, size_t len);
ISM_EXPORT int ism_vfu_dma_write(struct ism_vfu_dev *dev, uint64_t addr,
				 const void *buf, size_t len);

/* What the device counted, for tooling (ism-pci's log on SIGUSR1). */
struct ism_vfu_dev_stats {
	uint64_t clients;	 /* clients accepted (past VERSION) */
	uint64_t refused;	 /* connections refused (busy, bad VERSION) */
	uint64_t requests;	 /* commands served */
	uint64_t errors;	 /* commands answered with an error */
	uint64_t dma_maps;	 /* DMA windows mapped, all clients */
	uint64_t dma_msgs;	 /* DMA_READ/WRITE messages sent */
	uint64_t dma_bytes;	 /* bytes moved by ism_vfu_dma_read/write */
	uint64_t irqs;		 /* eventfd signals */
	uint32_t windows;	 /* DMA windows now */
	uint32_t windows_mapped; /* of which mapped through an fd */
	uint64_t mapped_bytes;	 /* bytes of those */
	uint64_t reserved[8];
};

/* Fill *@st.  Returns 0. */
ISM_EXPORT int ism_vfu_dev_stats(struct ism_vfu_dev *dev,
				 struct ism_vfu_dev_stats *st);

/*
 * Free the device: drop the client, close the socket (and remove the
 * one ism_vfu_dev_listen() made).  NULL is allowed.
 */
ISM_EXPORT void ism_vfu_dev_destroy(struct ism_vfu_dev *dev);

#ifdef __cplusplus
}
#endif

#endif
