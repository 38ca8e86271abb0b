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

#ifdef __cplusplus
}
#endif

#endif
