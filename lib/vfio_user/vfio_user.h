/* SPDX-License-Identifier: MIT */
/*
 * vfio_user - the server (ism/vfio_user.h): internals shared by
 * vfio_user.c (connection, dispatch, DMA, interrupts) and pci.c (config
 * space, BARs, the MSI-X table and PBA).
 */
#ifndef ISM_VFIO_USER_INTERNAL_H
#define ISM_VFIO_USER_INTERNAL_H

#include "vfu_wire/vfu_wire.h"

#include <ism/vfio_user.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CFG_SIZE_PCI  256u
#define CFG_SIZE_PCIE 4096u
#define N_BARS	      6u
#define N_REGS	      7u /* BAR0-5 and the ROM */

/* Our cap on one DMA message's data, and so the largest message on the
 * twin socket, whose buffers hold one such message each way (ism-bench
 * gives its AF_UNIX baseline the same buffers). */
#define VDEV_DMA_CHUNK_MAX (1u << 20)
#define VDEV_TWIN_MSG_MAX  (VFU_HDR_SIZE + VFU_DMA_RW_SIZE + VDEV_DMA_CHUNK_MAX)

struct vreg {
	bool set;
	uint32_t flags; /* enum ism_vfu_region_flags */
	uint64_t len;
	int (*access)(void *priv, uint32_t index, uint64_t off, void *buf,
		      uint32_t count, int is_write);
	int fd; /* our duplicate, or -1 */
	uint64_t fd_offset;
	uint8_t *map; /* our mapping of the fd (message accesses) */
	uint32_t n_areas;
	struct ism_vfu_area areas[ISM_VFU_MAX_AREAS];
};

struct vec {
	int efd;	/* trigger eventfd, or -1 */
	int mask_efd;	/* EVENTFD|MASK, kept and closed (see docs) */
	int unmask_efd; /* EVENTFD|UNMASK, likewise */
	bool masked;	/* by SET_IRQS MASK/UNMASK */
	bool pending;	/* raised while it could not be signalled */
};

struct virq {
	uint32_t count;
	struct vec *v;
};

struct win {
	uint64_t addr, len;
	uint32_t prot; /* ISM_VFU_DMA_READ | ISM_VFU_DMA_WRITE */
	void *map;     /* the mapping (page aligned), or NULL: messages */
	size_t map_len;
	uint8_t *p; /* where addr is in the mapping */
};

struct deferred {
	struct deferred *next;
	struct vfu_rx rx; /* p points at data */
	uint8_t data[];
};

struct ism_vfu_dev {
	struct ism_vfu_dev_opts o;
	struct vreg reg[N_REGS];

	/* config space (pci.c) */
	uint32_t cfg_size;
	uint8_t cfg[CFG_SIZE_PCIE];
	uint8_t wmask[CFG_SIZE_PCIE]; /* bits the client may write */
	uint8_t w1c[CFG_SIZE_PCIE];   /* bits a 1 clears */
	uint64_t bar_addr[N_REGS];    /* what was written to each BAR */
	uint32_t rom_ctl;
	uint16_t msi_cap, msix_cap, pcie_cap;
	bool msix_ctl_written; /* the client writes MSI-X control here */
	uint8_t *msix_table;   /* n_msix entries of 16 bytes */
	uint8_t *msix_written; /* per vector: its control was written here */

	struct virq irq[ISM_VFU_NUM_IRQS];

	/* sockets */
	int epfd;
	int wake;  /* eventfd: stop, or deferred work */
	int timer; /* timerfd: the VERSION deadline */
	atomic_int stop;
	int listen_fd;
	char path[108]; /* the socket ism_vfu_dev_listen() made, or "" */
	uint64_t path_ino;
	bool single; /* a connected socket was given: that client only */
	bool gone;   /* ... and it went away */
	bool realized;

	/* the client */
	bool have_client, negotiated, dead;
	struct vfu_ep ep;
	struct vfu_ep twin;
	bool has_twin;
	uint64_t cl_max_fds, cl_max_xfer;
	bool write_multi;
	uint16_t next_id;
	uint32_t watched; /* epoll events of ep.fd */
	struct win *win;
	uint32_t nwin, capwin, nmapped;
	uint64_t mapped_bytes;
	struct deferred *dq, **dqtail;
	uint32_t ndq;
	size_t dq_bytes;

	/* buffers */
	uint8_t *out; /* a reply being built */
	size_t outcap;
	uint8_t *dmabuf; /* a DMA message's fixed part being built */
	size_t dmacap;
	struct vfu_msg m, dm; /* the request served, a DMA reply */

	struct ism_vfu_dev_stats st;
};

void vdev_log(struct ism_vfu_dev *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* pci.c */
void pci_init(struct ism_vfu_dev *d);
/* Check the description before serving (MSI-X BAR, 64-bit BARs). */
int pci_realize(struct ism_vfu_dev *d);
int pci_cfg_access(struct ism_vfu_dev *d, uint64_t off, uint8_t *buf,
		   uint32_t count, bool is_write);
/* A BAR access through a message: the MSI-X table and PBA are ours, the
 * rest the region's. */
int pci_bar_access(struct ism_vfu_dev *d, uint32_t index, uint64_t off,
		   uint8_t *buf, uint32_t count, bool is_write);
/* Is MSI-X vector @v masked by what the client wrote to the table or the
 * control register? */
bool pci_msix_masked(struct ism_vfu_dev *d, uint32_t v);
/* Set bit @v of the PBA view (the pending bits live in irq[MSIX]). */

/* vfio_user.c: signal pending vectors of @index that may now fire. */
void vdev_irq_recheck(struct ism_vfu_dev *d, uint32_t index);

#endif
