/* SPDX-License-Identifier: MIT */
/*
 * The ISM PCI device's guest interface (ism-pci, docs/vfio-user.md "The
 * ISM PCI device"): BAR0 registers, the command and event rings in guest
 * memory, and their entries.  Everything is little-endian.  A guest
 * driver (and tests/integration/test_vfio_user_pci.c) uses this header.
 */
#ifndef ISM_PCI_H
#define ISM_PCI_H

#include <stdint.h>

#define ISM_PCI_VENDOR	0x1234u /* experimental, unassigned */
#define ISM_PCI_DEVICE	0x15a0u
#define ISM_PCI_CLASS	0x058000u   /* memory controller, other */
#define ISM_PCI_MAGIC	0x504d5349u /* "ISMP" */
#define ISM_PCI_VERSION 1u

/* BAR0: 4 KiB of 32-bit registers (64-bit ones are two, low first). */
#define ISM_PCI_BAR0_SIZE 4096u
enum ism_pci_reg {
	ISM_PCI_R_MAGIC = 0x000,       /* RO */
	ISM_PCI_R_VERSION = 0x004,     /* RO */
	ISM_PCI_R_FEATURES = 0x008,    /* RO: ISM_PCI_F_* */
	ISM_PCI_R_STATUS = 0x00c,      /* RO: ISM_PCI_S_* */
	ISM_PCI_R_CQ_BASE = 0x010,     /* RW, 64: command ring (64-aligned) */
	ISM_PCI_R_CQ_SIZE = 0x018,     /* RW: entries, a power of two; a write
				       * resets both indexes */
	ISM_PCI_R_CQ_TAIL = 0x01c,     /* RW: the doorbell: the guest's
				       * producer index (free running) */
	ISM_PCI_R_CQ_HEAD = 0x020,     /* RO: commands completed */
	ISM_PCI_R_IRQ_STATUS = 0x024,  /* RW1C: ISM_PCI_I_* */
	ISM_PCI_R_EQ_BASE = 0x030,     /* RW, 64: event ring (32-aligned) */
	ISM_PCI_R_EQ_SIZE = 0x038,     /* RW: entries, a power of two */
	ISM_PCI_R_EQ_TAIL = 0x03c,     /* RO: events written */
	ISM_PCI_R_EQ_HEAD = 0x040,     /* RW: events the guest consumed */
	ISM_PCI_R_EQ_DROPPED = 0x044,  /* RO: events lost to a full ring */
	ISM_PCI_R_RESET = 0x048,       /* WO: 1 resets the device */
	ISM_PCI_R_PEER_ID = 0x050,     /* RO, 64: this device's ism peer id */
	ISM_PCI_R_MAX_HANDLES = 0x058, /* RO */
	ISM_PCI_R_QUEUE_ERROR = 0x05c, /* RO: errno of a ring fault, or 0 */
};

#define ISM_PCI_F_NOTIFY 0x1u /* NOTIFY command, NOTIFY events */
#define ISM_PCI_F_EVENTS 0x2u /* the event ring */

#define ISM_PCI_S_ISMD 0x1u /* connected to ismd */
#define ISM_PCI_S_QUEUE_ERROR                                                  \
	0x2u /* a ring could not be read or
				    * written (QUEUE_ERROR says why); the
				    * command ring stops until CQ_SIZE is
				    * written again */

#define ISM_PCI_I_CMD	   0x1u /* commands completed (MSI-X vector 0) */
#define ISM_PCI_I_EVENT	   0x2u /* events written (MSI-X vector 1) */
#define ISM_PCI_I_OVERFLOW 0x4u /* events dropped */

/* MSI-X: 2 vectors, table at BAR2 + 0, PBA at BAR2 + 0x800. */
#define ISM_PCI_VEC_CMD	   0u
#define ISM_PCI_VEC_EVENT  1u
#define ISM_PCI_N_VECTORS  2u
#define ISM_PCI_BAR2_SIZE  4096u
#define ISM_PCI_PBA_OFFSET 0x800u

#define ISM_PCI_MAX_RING    4096u /* entries in a ring */
#define ISM_PCI_MAX_HANDLES 256u

/* A command: 64 bytes in the command ring. */
#define ISM_PCI_CMD_SIZE 64u
enum ism_pci_cmd_off {
	ISM_PCI_C_OPCODE = 0,  /* u16, in */
	ISM_PCI_C_FLAGS = 2,   /* u16, in: 0 */
	ISM_PCI_C_STATUS = 4,  /* u32, out: 0 or an errno */
	ISM_PCI_C_HANDLE = 8,  /* u32, in/out */
	ISM_PCI_C_ACCESS = 12, /* u32, in/out: 1 read-only, 2 read-write */
	ISM_PCI_C_ARG0 = 16,   /* u64, in: size, offset or value */
	ISM_PCI_C_ARG1 = 24,   /* u64, in: a guest DMA address */
	ISM_PCI_C_ARG2 = 32,   /* u64, in: a length */
	ISM_PCI_C_TOKEN = 40,  /* 16 bytes, in (ATTACH) or out */
	ISM_PCI_C_RESULT = 56, /* u64, out */
};

enum ism_pci_opcode {
	ISM_PCI_OP_NOP = 0,
	ISM_PCI_OP_ALLOC = 1,	/* arg0 size, access = what attachers may
				 * get -> handle, token, result = size */
	ISM_PCI_OP_ATTACH = 2,	/* token, access -> handle, result = size */
	ISM_PCI_OP_DETACH = 3,	/* handle (an attachment, or a gone one) */
	ISM_PCI_OP_DESTROY = 4, /* handle (owned) */
	ISM_PCI_OP_NOTIFY = 5,	/* handle, arg0 value */
	ISM_PCI_OP_READ = 6,	/* handle, arg0 offset, arg1 guest address,
				 * arg2 length: region -> guest */
	ISM_PCI_OP_WRITE = 7,	/* the same, guest -> region */
	ISM_PCI_OP_INFO = 8,	/* handle -> access, token (owner), result
				 * = size; status ENOENT once gone */
};

/* An event: 32 bytes in the event ring. */
#define ISM_PCI_EV_SIZE 32u
enum ism_pci_ev_off {
	ISM_PCI_E_TYPE = 0,   /* u16: enum ism_pci_event */
	ISM_PCI_E_REASON = 2, /* u16: as ism_event.reason */
	ISM_PCI_E_HANDLE = 4, /* u32: the handle, or 0 */
	ISM_PCI_E_VALUE = 8,  /* u64: NOTIFY's value */
	ISM_PCI_E_COUNT = 16, /* u64: NOTIFY's coalesced count */
	ISM_PCI_E_PEER = 24,  /* u64: the other peer */
};

enum ism_pci_event {
	ISM_PCI_EV_NOTIFY = 1,
	ISM_PCI_EV_GONE = 2,	 /* reason: enum ism_gone_reason */
	ISM_PCI_EV_ATTACHED = 3, /* a peer attached to an owned region */
	ISM_PCI_EV_DETACHED = 4,
	ISM_PCI_EV_LOST = 5, /* ismd dropped events (count) */
};

#endif
