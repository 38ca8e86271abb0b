/* SPDX-License-Identifier: MIT */
/*
 * ism-guest.h - libism-guest: an ivshmem-doorbell device (PCI 1af4:1110)
 * from inside a Linux guest, for the channels of ism/ivchan.h.  No ismd,
 * no sockets: a static library (and the static ism-guest program) with
 * the same ring and channel code as libism.
 *
 * The device is found through sysfs; its registers (BAR0) and shared
 * memory (BAR2) are mapped, and interrupts come through VFIO: the
 * device is bound to vfio-pci, put in a type1 container (the guest needs
 * an IOMMU: QEMU's intel-iommu with intremap=on and intel_iommu=on on
 * the kernel command line), bus mastering is enabled (QEMU drops MSI-X
 * messages otherwise), and every MSI-X vector signals one eventfd.
 * Without VFIO it maps the BARs through sysfs and polls.  Needs root
 * (or the device's vfio group and sysfs files).
 *
 * Thread safety: one thread at a time per device handle.
 */
#ifndef ISM_GUEST_PUBLIC_H
#define ISM_GUEST_PUBLIC_H

#include <ism/common.h>
#include <ism/ivchan.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ism_guest_irq {
	ISM_GUEST_IRQ_AUTO = 0, /* VFIO if it works, else poll */
	ISM_GUEST_IRQ_VFIO = 1, /* MSI-X through VFIO, or fail */
	ISM_GUEST_IRQ_POLL = 2, /* no interrupts: sleep-poll */
};

struct ism_guest_opts {
	uint32_t size;	    /* sizeof(struct ism_guest_opts) */
	uint32_t irq;	    /* enum ism_guest_irq */
	const char *device; /* "0000:00:03.0", or NULL: the first 1af4:1110 */
};

struct ism_guest;

/* Find, bind and map the device.  0, -ENODEV (none), -EOPNOTSUPP (VFIO
 * asked for and impossible), -errno. */
ISM_EXPORT int ism_guest_open(const struct ism_guest_opts *o,
			      struct ism_guest **out);
ISM_EXPORT void ism_guest_close(struct ism_guest *g);
/* Our peer id (IVPosition), vectors, memory (BAR2). */
ISM_EXPORT uint32_t ism_guest_id(const struct ism_guest *g);
ISM_EXPORT uint32_t ism_guest_vectors(const struct ism_guest *g);
ISM_EXPORT void *ism_guest_mem(const struct ism_guest *g, uint64_t *size);
/* The interrupt mode in use (VFIO or POLL) and the device's address. */
ISM_EXPORT uint32_t ism_guest_irq_mode(const struct ism_guest *g);
ISM_EXPORT const char *ism_guest_device(const struct ism_guest *g);
/* Interrupts taken so far (wake-ups that read a non-zero eventfd). */
ISM_EXPORT uint64_t ism_guest_irqs(const struct ism_guest *g);
/* Ring vector @vector of peer @peer (the Doorbell register). */
ISM_EXPORT int ism_guest_ring(struct ism_guest *g, uint32_t peer,
			      uint32_t vector);
/* Wait for an interrupt or @timeout_ms (-1: none): 0 or -errno. */
ISM_EXPORT int ism_guest_wait(struct ism_guest *g, int timeout_ms);
/* The channel layer over the device (ism/ivchan.h). */
ISM_EXPORT int ism_guest_ivdom(struct ism_guest *g, struct ism_ivdom **out);

/*
 * The guest as an ism peer (a domain served with control=on, docs/vm.md):
 * a channel to ismd's member in the domain (@ismd, 0 in a fresh domain)
 * on IVC_CTL_PORT, over which the guest speaks ism's control protocol
 * without fds: regions are allocated, attached by token (no fd: ISM's
 * NOFD attach) and read and written through ismd; events (notifications,
 * a region's revocation) arrive on the channel, as interrupts.
 *
 * Every call waits for its reply (up to @timeout_ms of _open; -1: no
 * limit) and returns 0 (or a length) or -errno: ismd's refusal
 * (-EACCES, -ENOENT, -EDQUOT, -EOPNOTSUPP for what needs fds, ...),
 * -ETIMEDOUT, -EPIPE or -ESHUTDOWN (ismd ended the channel), -EPROTO or
 * -EBADMSG (a malformed reply).  Events that arrive meanwhile are kept
 * (a few; the rest are counted as an ISM_EV_OVERFLOW) for
 * ism_guest_ctl_event().  One thread at a time per handle.
 */
struct ism_guest_ctl;
struct ism_event;

ISM_EXPORT int ism_guest_ctl_open(struct ism_ivdom *d, uint32_t ismd,
				  const char *name, int timeout_ms,
				  struct ism_guest_ctl **out);
ISM_EXPORT void ism_guest_ctl_close(struct ism_guest_ctl *c);
/* Our ism peer id; the largest READ or WRITE this channel carries. */
ISM_EXPORT uint64_t ism_guest_ctl_peer_id(const struct ism_guest_ctl *c);
ISM_EXPORT uint32_t ism_guest_ctl_max_rw(const struct ism_guest_ctl *c);
/* A region of @size bytes that attachers may take with @max_access
 * (ISM_ACCESS_RO or ISM_ACCESS_RW); its id and token. */
ISM_EXPORT int ism_guest_ctl_alloc(struct ism_guest_ctl *c, uint64_t size,
				   uint32_t max_access, const char *name,
				   uint64_t *region, uint8_t *token);
/* Attach the region @token names (ISM_TOKEN_SIZE bytes) with @access. */
ISM_EXPORT int ism_guest_ctl_attach(struct ism_guest_ctl *c,
				    const uint8_t *token, uint32_t access,
				    uint64_t *region, uint64_t *size);
/* Read @len bytes at @off: the length read. */
ISM_EXPORT ssize_t ism_guest_ctl_read(struct ism_guest_ctl *c, uint64_t region,
				      uint64_t off, void *buf, uint32_t len);
ISM_EXPORT int ism_guest_ctl_write(struct ism_guest_ctl *c, uint64_t region,
				   uint64_t off, const void *buf, uint32_t len);
/* Notify the region's other holders with @value: how many were told. */
ISM_EXPORT int ism_guest_ctl_notify(struct ism_guest_ctl *c, uint64_t region,
				    uint64_t value);
ISM_EXPORT int ism_guest_ctl_detach(struct ism_guest_ctl *c, uint64_t region);
ISM_EXPORT int ism_guest_ctl_destroy(struct ism_guest_ctl *c, uint64_t region);
/* The next event: 1 (in @ev), 0 (none within @timeout_ms), -errno. */
ISM_EXPORT int ism_guest_ctl_event(struct ism_guest_ctl *c, int timeout_ms,
				   struct ism_event *ev);

#ifdef __cplusplus
}
#endif

#endif
