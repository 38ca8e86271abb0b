/* SPDX-License-Identifier: MIT */
/*
 * ism-pci: the ISM PCI device for VMs, a vfio-user server backed by ismd.
 *
 * A VMM attaches it over a UNIX socket (QEMU 10.1+: -device
 * '{"driver":"vfio-user-pci","socket":{"type":"unix","path":PATH}}'); the
 * guest sees a PCI device whose BAR0 registers point at two rings in
 * guest memory: commands (allocate, attach by token, detach, destroy,
 * notify, read, write, info) and events (notifications, regions gone,
 * peers attached and detached).  ism-pci carries them out as one ism
 * peer of ismd, so permissions, quotas and revocation are ismd's; region
 * contents move between the region and guest buffers by DMA, so the guest
 * never maps host memory it could keep after a revocation.  Doorbells
 * arrive as MSI-X interrupts.  The layout is in pci/ism_pci.h and
 * docs/vfio-user.md.
 *
 * Conventions of vfio-user backends: foreground, SIGTERM ends it,
 * --socket-path=PATH or --fd=FDNUM (a listening or a connected socket).
 */
#include "ism_pci.h"

#include <ism.h>
#include <ism/vfio_user.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define COPY_BUDGET (8u << 20) /* bytes copied per loop turn */
#define CMD_BUDGET  32u	       /* commands per loop turn */
#define COPY_STEP   (4u << 20) /* one DMA call */
#define BOUNCE	    (1u << 20) /* no-map copies */

struct handle {
	struct ism_region *r;
	uint8_t *map; /* NULL: through ismd (huge pages) */
	uint64_t size, id;
	uint32_t access;
	bool owner, gone;
};

struct pci {
	struct ism_vfu_dev *dev;
	struct ism_conn *conn;
	bool verbose, ismd_up;
	uint64_t cq_base, eq_base;
	uint32_t cq_size, cq_tail, cq_head;
	uint32_t eq_size, eq_tail, eq_head, eq_dropped;
	uint32_t irq_status, queue_error;
	bool stopped;				  /* the command ring faulted */
	struct handle h[ISM_PCI_MAX_HANDLES + 1]; /* 0 is never a handle */
	/* the command being carried out (READ/WRITE go in steps) */
	bool active;
	uint8_t cmd[ISM_PCI_CMD_SIZE];
	uint64_t done;
	uint8_t *bounce;
	bool raise_cmd, raise_ev;
	uint64_t commands, events;
};

static void logf_(struct pci *p, bool debug, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void logf_(struct pci *p, bool debug, const char *fmt, ...)
{
	va_list ap;

	if (debug && !p->verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "ism-pci: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void vfu_log(void *priv, int level, const char *msg)
{
	struct pci *p = priv;

	if (level <= ISM_VFU_LOG_INFO || p->verbose)
		fprintf(stderr, "ism-pci: vfio-user: %s\n", msg);
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint64_t get64(const uint8_t *b)
{
	return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* ---- handles ------------------------------------------------------------ */

static void drop_handle(struct pci *p, uint32_t i)
{
	/* Destroys an owned region, detaches an attachment. */
	ism_region_close(p->h[i].r);
	memset(&p->h[i], 0, sizeof(p->h[i]));
}

static uint32_t find_handle(struct pci *p, uint64_t region)
{
	for (uint32_t i = 1; i <= ISM_PCI_MAX_HANDLES; i++)
		if (p->h[i].r && p->h[i].id == region)
			return i;
	return 0;
}

static void reset_device(struct pci *p)
{
	for (uint32_t i = 1; i <= ISM_PCI_MAX_HANDLES; i++)
		if (p->h[i].r)
			drop_handle(p, i);
	p->cq_base = p->eq_base = 0;
	p->cq_size = p->cq_tail = p->cq_head = 0;
	p->eq_size = p->eq_tail = p->eq_head = p->eq_dropped = 0;
	p->irq_status = p->queue_error = 0;
	p->stopped = p->active = false;
}

/* ---- BAR0 ----------------------------------------------------------------- */

static uint32_t reg_read(struct pci *p, uint64_t off)
{
	switch (off) {
	case ISM_PCI_R_MAGIC: return ISM_PCI_MAGIC;
	case ISM_PCI_R_VERSION: return ISM_PCI_VERSION;
	case ISM_PCI_R_FEATURES: return ISM_PCI_F_NOTIFY | ISM_PCI_F_EVENTS;
	case ISM_PCI_R_STATUS:
		return (p->ismd_up ? ISM_PCI_S_ISMD : 0) |
		       (p->stopped ? ISM_PCI_S_QUEUE_ERROR : 0);
	case ISM_PCI_R_CQ_BASE: return (uint32_t)p->cq_base;
	case ISM_PCI_R_CQ_BASE + 4: return (uint32_t)(p->cq_base >> 32);
	case ISM_PCI_R_CQ_SIZE: return p->cq_size;
	case ISM_PCI_R_CQ_TAIL: return p->cq_tail;
	case ISM_PCI_R_CQ_HEAD: return p->cq_head;
	case ISM_PCI_R_IRQ_STATUS: return p->irq_status;
	case ISM_PCI_R_EQ_BASE: return (uint32_t)p->eq_base;
	case ISM_PCI_R_EQ_BASE + 4: return (uint32_t)(p->eq_base >> 32);
	case ISM_PCI_R_EQ_SIZE: return p->eq_size;
	case ISM_PCI_R_EQ_TAIL: return p->eq_tail;
	case ISM_PCI_R_EQ_HEAD: return p->eq_head;
	case ISM_PCI_R_EQ_DROPPED: return p->eq_dropped;
	case ISM_PCI_R_PEER_ID: return (uint32_t)ism_conn_peer_id(p->conn);
	case ISM_PCI_R_PEER_ID + 4:
		return (uint32_t)(ism_conn_peer_id(p->conn) >> 32);
	case ISM_PCI_R_MAX_HANDLES: return ISM_PCI_MAX_HANDLES;
	case ISM_PCI_R_QUEUE_ERROR: return p->queue_error;
	default: return 0;
	}
}

static void reg_write(struct pci *p, uint64_t off, uint32_t v)
{
	switch (off) {
	case ISM_PCI_R_CQ_BASE:
		p->cq_base = (p->cq_base & ~0xffffffffull) | v;
		break;
	case ISM_PCI_R_CQ_BASE + 4:
		p->cq_base = (p->cq_base & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case ISM_PCI_R_CQ_SIZE:
		/* A new ring: both indexes from 0, faults forgotten. */
		p->cq_size = pow2(v) && v <= ISM_PCI_MAX_RING ? v : 0;
		p->cq_head = p->cq_tail = 0;
		p->stopped = p->active = false;
		p->queue_error = 0;
		break;
	case ISM_PCI_R_CQ_TAIL: p->cq_tail = v; break;
	case ISM_PCI_R_IRQ_STATUS: p->irq_status &= ~v; break;
	case ISM_PCI_R_EQ_BASE:
		p->eq_base = (p->eq_base & ~0xffffffffull) | v;
		break;
	case ISM_PCI_R_EQ_BASE + 4:
		p->eq_base = (p->eq_base & 0xffffffffull) | (uint64_t)v << 32;
		break;
	case ISM_PCI_R_EQ_SIZE:
		p->eq_size = pow2(v) && v <= ISM_PCI_MAX_RING ? v : 0;
		p->eq_head = p->eq_tail = 0;
		break;
	case ISM_PCI_R_EQ_HEAD: p->eq_head = v; break;
	case ISM_PCI_R_RESET:
		if (v & 1)
			reset_device(p);
		break;
	default: break; /* read-only or nothing: ignored, as hardware does */
	}
}

static int bar0(void *priv, uint32_t index, uint64_t off, void *buf,
		uint32_t count, int is_write)
{
	struct pci *p = priv;
	uint8_t *b = buf;

	(void)index;
	/* 4-byte registers; 8 bytes at once for the 64-bit ones. */
	if (off & 3 || (count != 4 && count != 8) || (count == 8 && off & 7))
		return -EINVAL;
	for (uint32_t k = 0; k < count; k += 4) {
		if (is_write)
			reg_write(p, off + k, get32(b + k));
		else
			put32(b + k, reg_read(p, off + k));
	}
	return 0;
}

/* BAR2 around the MSI-X table and PBA (which the library serves). */
static int bar2(void *priv, uint32_t index, uint64_t off, void *buf,
		uint32_t count, int is_write)
{
	(void)priv;
	(void)index;
	(void)off;
	if (!is_write)
		memset(buf, 0, count);
	return 0;
}

static int on_reset(void *priv, int type)
{
	struct pci *p = priv;

	/* A lost VMM keeps the device (and its regions) for the next one,
	 * as vfio-user asks; DEVICE_RESET clears it. */
	if (type == ISM_VFU_RESET_DEVICE)
		reset_device(p);
	else
		p->active = false;
	return 0;
}

static void on_client(void *priv, int connected)
{
	struct pci *p = priv;

	logf_(p, false, "VMM %s", connected ? "attached" : "detached");
}

/* ---- events --------------------------------------------------------------- */

static void push_event(struct pci *p, uint16_t type, uint16_t reason,
		       uint32_t handle, uint64_t value, uint64_t count,
		       uint64_t peer)
{
	uint8_t e[ISM_PCI_EV_SIZE] = { 0 };
	int err;

	/* A ring the guest did not set up, or filled: dropped, counted. */
	if (!p->eq_size || p->eq_tail - p->eq_head >= p->eq_size) {
		p->eq_dropped++;
		p->irq_status |= ISM_PCI_I_OVERFLOW;
		p->raise_ev = true;
		return;
	}
	put16(e + ISM_PCI_E_TYPE, type);
	put16(e + ISM_PCI_E_REASON, reason);
	put32(e + ISM_PCI_E_HANDLE, handle);
	put64(e + ISM_PCI_E_VALUE, value);
	put64(e + ISM_PCI_E_COUNT, count);
	put64(e + ISM_PCI_E_PEER, peer);
	err = ism_vfu_dma_write(
		p->dev,
		p->eq_base + (uint64_t)(p->eq_tail & (p->eq_size - 1)) *
				     ISM_PCI_EV_SIZE,
		e, sizeof(e));
	if (err) {
		logf_(p, true, "event ring: %s", strerror(-err));
		p->eq_dropped++;
		p->irq_status |= ISM_PCI_I_OVERFLOW;
		p->raise_ev = true;
		return;
	}
	p->eq_tail++;
	p->events++;
	p->irq_status |= ISM_PCI_I_EVENT;
	p->raise_ev = true;
}

static void ism_events(struct pci *p)
{
	struct ism_event ev;
	int r = ism_conn_process(p->conn);

	if (r < 0 && p->ismd_up) {
		logf_(p, false, "ismd: %s", strerror(-r));
		p->ismd_up = false;
	}
	while (ism_conn_next_event(p->conn, &ev) == 1) {
		uint32_t h = ev.region ? find_handle(p, ev.region) : 0;

		switch (ev.type) {
		case ISM_EV_NOTIFY:
			if (h)
				push_event(p, ISM_PCI_EV_NOTIFY, 0, h, ev.value,
					   ev.count, ev.peer);
			break;
		case ISM_EV_REGION_GONE:
			if (!h)
				break;
			p->h[h].gone = true;
			logf_(p, true, "handle %u: region gone (reason %u)", h,
			      ev.reason);
			push_event(p, ISM_PCI_EV_GONE, (uint16_t)ev.reason, h,
				   0, 0, 0);
			break;
		case ISM_EV_PEER_ATTACHED:
		case ISM_EV_PEER_DETACHED:
			if (h)
				push_event(p,
					   ev.type == ISM_EV_PEER_ATTACHED
						   ? ISM_PCI_EV_ATTACHED
						   : ISM_PCI_EV_DETACHED,
					   (uint16_t)ev.reason, h, 0, 0,
					   ev.peer);
			break;
		case ISM_EV_OVERFLOW:
			push_event(p, ISM_PCI_EV_LOST, 0, 0, 0, ev.count, 0);
			break;
		case ISM_EV_DISCONNECTED:
			p->ismd_up = false;
			logf_(p, false, "ismd: connection lost");
			break;
		case ISM_EV_RECONNECTED:
			p->ismd_up = true;
			logf_(p, false, "ismd: reconnected");
			break;
		default: break;
		}
	}
}

/* ---- commands ----------------------------------------------------------- */

static uint32_t free_handle(struct pci *p)
{
	for (uint32_t i = 1; i <= ISM_PCI_MAX_HANDLES; i++)
		if (!p->h[i].r)
			return i;
	return 0;
}

static int take_region(struct pci *p, uint32_t i, struct ism_region *r,
		       bool owner)
{
	struct ism_region_info info;
	void *map = NULL;

	ism_region_info(r, &info);
	/* Huge pages can be punched by any writer and fault once the pool
	 * is empty: such regions are reached through ismd instead. */
	if (!info.huge) {
		int err = ism_region_map(r, &map);

		if (err)
			return err;
	}
	p->h[i] = (struct handle){ .r = r,
				   .map = map,
				   .size = info.size,
				   .id = info.id,
				   .access = info.access,
				   .owner = owner };
	return 0;
}

/*
 * READ/WRITE: up to *@budget bytes of the copy this turn.  Returns 1 when
 * the command is done (status in *@st), 0 to go on next turn.
 */
static int copy(struct pci *p, struct handle *h, bool to_guest,
		uint32_t *budget, int *st)
{
	uint64_t off = get64(p->cmd + ISM_PCI_C_ARG0);
	uint64_t addr = get64(p->cmd + ISM_PCI_C_ARG1);
	uint64_t len = get64(p->cmd + ISM_PCI_C_ARG2);

	if (off > h->size || len > h->size - off || addr > UINT64_MAX - len) {
		*st = EINVAL;
		return 1;
	}
	if (!to_guest && h->access != ISM_ACCESS_RW) {
		*st = EACCES;
		return 1;
	}
	while (p->done < len && *budget) {
		uint64_t n = len - p->done;
		int err;

		if (n > COPY_STEP)
			n = COPY_STEP;
		if (!h->map && n > BOUNCE)
			n = BOUNCE;
		if (n > *budget)
			n = *budget;
		if (h->map && to_guest)
			err = ism_vfu_dma_write(p->dev, addr + p->done,
						h->map + off + p->done,
						(size_t)n);
		else if (h->map)
			err = ism_vfu_dma_read(p->dev, addr + p->done,
					       h->map + off + p->done,
					       (size_t)n);
		else if (to_guest) {
			ssize_t r = ism_region_read(h->r, off + p->done,
						    p->bounce, (size_t)n);

			err = r < 0 ? (int)r
				    : ism_vfu_dma_write(p->dev, addr + p->done,
							p->bounce, (size_t)n);
		} else {
			err = ism_vfu_dma_read(p->dev, addr + p->done,
					       p->bounce, (size_t)n);
			if (!err) {
				ssize_t r =
					ism_region_write(h->r, off + p->done,
							 p->bounce, (size_t)n);

				err = r < 0 ? (int)r : 0;
			}
		}
		if (err) {
			*st = -err;
			return 1;
		}
		p->done += n;
		*budget -= (uint32_t)n;
	}
	if (p->done < len)
		return 0;
	put64(p->cmd + ISM_PCI_C_RESULT, len);
	*st = 0;
	return 1;
}

/* Carry out p->cmd.  Returns 1 when done (status written into it). */
static int execute(struct pci *p, uint32_t *budget)
{
	uint16_t op = get16(p->cmd + ISM_PCI_C_OPCODE);
	uint32_t hi = get32(p->cmd + ISM_PCI_C_HANDLE);
	uint32_t access = get32(p->cmd + ISM_PCI_C_ACCESS);
	struct handle *h = hi && hi <= ISM_PCI_MAX_HANDLES && p->h[hi].r
				   ? &p->h[hi]
				   : NULL;
	struct ism_region *r;
	struct ism_token tok;
	int st = 0, err;

	switch (op) {
	case ISM_PCI_OP_NOP: break;
	case ISM_PCI_OP_ALLOC: {
		struct ism_alloc_opts o = { .size = sizeof(o),
					    .max_access = access,
					    .name = "ism-pci" };
		uint32_t i = free_handle(p);

		if (access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) {
			st = EINVAL;
			break;
		}
		if (!i) {
			st = ENOSPC;
			break;
		}
		err = ism_region_alloc(p->conn, get64(p->cmd + ISM_PCI_C_ARG0),
				       &o, &r);
		if (!err) {
			err = take_region(p, i, r, true);
			if (err)
				ism_region_close(r);
		}
		if (err) {
			st = -err;
			break;
		}
		ism_region_token(r, &tok);
		put32(p->cmd + ISM_PCI_C_HANDLE, i);
		memcpy(p->cmd + ISM_PCI_C_TOKEN, tok.b, sizeof(tok.b));
		put64(p->cmd + ISM_PCI_C_RESULT, p->h[i].size);
		logf_(p, true, "handle %u: allocated %" PRIu64 " bytes", i,
		      p->h[i].size);
		break;
	}
	case ISM_PCI_OP_ATTACH: {
		uint32_t i = free_handle(p);

		if (access != ISM_ACCESS_RO && access != ISM_ACCESS_RW) {
			st = EINVAL;
			break;
		}
		if (!i) {
			st = ENOSPC;
			break;
		}
		memcpy(tok.b, p->cmd + ISM_PCI_C_TOKEN, sizeof(tok.b));
		err = ism_region_attach(p->conn, &tok, access, 0, &r);
		if (!err) {
			err = take_region(p, i, r, false);
			if (err)
				ism_region_close(r);
		}
		if (err) {
			st = -err;
			break;
		}
		put32(p->cmd + ISM_PCI_C_HANDLE, i);
		put64(p->cmd + ISM_PCI_C_RESULT, p->h[i].size);
		logf_(p, true, "handle %u: attached", i);
		break;
	}
	case ISM_PCI_OP_DETACH:
	case ISM_PCI_OP_DESTROY:
		if (!h) {
			st = ENOENT;
			break;
		}
		/* Owners destroy, attachers detach; a gone handle just goes. */
		if (!h->gone && h->owner != (op == ISM_PCI_OP_DESTROY)) {
			st = EPERM;
			break;
		}
		drop_handle(p, hi);
		break;
	case ISM_PCI_OP_NOTIFY:
		if (!h || h->gone) {
			st = ENOENT;
			break;
		}
		err = ism_region_notify_nowait(h->r,
					       get64(p->cmd + ISM_PCI_C_ARG0));
		st = -err;
		break;
	case ISM_PCI_OP_READ:
	case ISM_PCI_OP_WRITE:
		if (!h || h->gone) {
			st = ENOENT;
			break;
		}
		if (!copy(p, h, op == ISM_PCI_OP_READ, budget, &st))
			return 0; /* more next turn */
		break;
	case ISM_PCI_OP_INFO:
		if (!h || h->gone) {
			st = ENOENT;
			break;
		}
		put32(p->cmd + ISM_PCI_C_ACCESS, h->access);
		memset(p->cmd + ISM_PCI_C_TOKEN, 0, ISM_TOKEN_SIZE);
		if (h->owner) {
			ism_region_token(h->r, &tok);
			memcpy(p->cmd + ISM_PCI_C_TOKEN, tok.b, sizeof(tok.b));
		}
		put64(p->cmd + ISM_PCI_C_RESULT, h->size);
		break;
	default: st = EOPNOTSUPP;
	}
	put32(p->cmd + ISM_PCI_C_STATUS, (uint32_t)st);
	return 1;
}

static void queue_fault(struct pci *p, int err)
{
	logf_(p, false, "command ring: %s; stopped until reset",
	      strerror(-err));
	p->stopped = true;
	p->active = false;
	p->queue_error = (uint32_t)-err;
}

/* Work through the command ring, within a budget.  Returns true when
 * more is waiting. */
static bool commands(struct pci *p)
{
	uint32_t budget = COPY_BUDGET, n = 0;

	while (n < CMD_BUDGET && budget && !p->stopped && p->cq_size &&
	       ism_vfu_dev_connected(p->dev) && p->cq_head != p->cq_tail) {
		uint64_t at =
			p->cq_base + (uint64_t)(p->cq_head & (p->cq_size - 1)) *
					     ISM_PCI_CMD_SIZE;
		int err;

		if (p->cq_tail - p->cq_head > p->cq_size) {
			queue_fault(p, -EINVAL); /* more than the ring holds */
			break;
		}
		if (!p->active) {
			err = ism_vfu_dma_read(p->dev, at, p->cmd,
					       ISM_PCI_CMD_SIZE);
			if (err) {
				queue_fault(p, err);
				break;
			}
			p->active = true;
			p->done = 0;
		}
		if (!execute(p, &budget))
			break; /* a copy goes on next turn */
		err = ism_vfu_dma_write(p->dev, at, p->cmd, ISM_PCI_CMD_SIZE);
		if (err) {
			queue_fault(p, err);
			break;
		}
		p->active = false;
		p->cq_head++;
		p->commands++;
		p->irq_status |= ISM_PCI_I_CMD;
		p->raise_cmd = true;
		n++;
	}
	if (p->raise_cmd) {
		ism_vfu_irq_trigger(p->dev, ISM_VFU_IRQ_MSIX, ISM_PCI_VEC_CMD);
		p->raise_cmd = false;
	}
	return !p->stopped && p->cq_size && ism_vfu_dev_connected(p->dev) &&
	       p->cq_head != p->cq_tail;
}

/* ---- the program ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ism-pci (--socket-path=PATH | --fd=FDNUM) [options]\n"
		"The ISM PCI device for VMs: a vfio-user server backed by "
		"ismd.\n\n"
		"  --socket-path=PATH  listen for the VMM on a new socket at "
		"PATH\n"
		"  --fd=FDNUM          serve an inherited socket (listening or "
		"connected)\n"
		"  --ism-socket=PATH   ismd's socket (default: $ISM_SOCKET, "
		"$XDG_RUNTIME_DIR/ism.sock, /run/ism/ism.sock)\n"
		"  --name=NAME         this device's name at ismd (default "
		"ism-pci)\n"
		"  --no-dma-fds        never map the VMM's memory: every DMA "
		"is "
		"a message\n"
		"  -v, --verbose       log every command and region\n"
		"  -h, --help          this help\n"
		"  -V, --version       the version\n\n"
		"Exit status: 0 stopped by SIGTERM/SIGINT (or the VMM left an "
		"--fd socket),\n1 failed, 2 usage, 3 ismd unreachable.  "
		"SIGUSR1 "
		"logs counters.\n"
		"QEMU 10.1+: -device "
		"'{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\","
		"\"path\":\"PATH\"}}'\n");
}

static int setup_device(struct pci *p, uint32_t flags)
{
	struct ism_vfu_dev_opts o = {
		.size = sizeof(o),
		.flags = ISM_VFU_DEV_PCIE | flags,
		.vendor_id = ISM_PCI_VENDOR,
		.device_id = ISM_PCI_DEVICE,
		.subsys_vendor_id = ISM_PCI_VENDOR,
		.subsys_id = ISM_PCI_DEVICE,
		.class_code = ISM_PCI_CLASS,
		.revision = ISM_PCI_VERSION,
		.n_intx = 1,
		.n_msix = ISM_PCI_N_VECTORS,
		.msix_bar = 2,
		.msix_table_offset = 0,
		.msix_pba_offset = ISM_PCI_PBA_OFFSET,
		.priv = p,
		.reset = on_reset,
		.client = on_client,
		.log = vfu_log,
	};
	struct ism_vfu_region r0 = { .size = sizeof(r0),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = ISM_PCI_BAR0_SIZE,
				     .access = bar0,
				     .fd = -1 };
	struct ism_vfu_region r2 = { .size = sizeof(r2),
				     .flags = ISM_VFU_REGION_READ |
					      ISM_VFU_REGION_WRITE,
				     .len = ISM_PCI_BAR2_SIZE,
				     .access = bar2,
				     .fd = -1 };
	int err = ism_vfu_dev_create(&o, &p->dev);

	if (!err)
		err = ism_vfu_dev_set_region(p->dev, 0, &r0);
	if (!err)
		err = ism_vfu_dev_set_region(p->dev, 2, &r2);
	return err;
}

static void stats(struct pci *p)
{
	struct ism_vfu_dev_stats st;
	uint32_t n = 0;

	ism_vfu_dev_stats(p->dev, &st);
	for (uint32_t i = 1; i <= ISM_PCI_MAX_HANDLES; i++)
		n += p->h[i].r != NULL;
	logf_(p, false,
	      "%u handles; %" PRIu64 " commands, %" PRIu64
	      " events (%u dropped); vfio-user: %" PRIu64 " clients, %" PRIu64
	      " requests, %" PRIu64
	      " errors, %u DMA windows (%u mapped), %" PRIu64
	      " DMA messages, %" PRIu64 " DMA bytes, %" PRIu64 " interrupts",
	      n, p->commands, p->events, p->eq_dropped, st.clients, st.requests,
	      st.errors, st.windows, st.windows_mapped, st.dma_msgs,
	      st.dma_bytes, st.irqs);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "ism-socket", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "no-dma-fds", no_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct pci p;
	const char *path = NULL, *ism_sock = NULL, *name = "ism-pci";
	uint32_t flags = 0;
	int fd = -1, c, err, sfd, rc = 0;
	sigset_t sigs;
	bool more = false;

	while ((c = getopt_long(argc, argv, "vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'f': {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0 ||
			    v > 65535) {
				fprintf(stderr,
					"ism-pci: --fd: not an fd "
					"number: %s\n",
					optarg);
				return 2;
			}
			fd = (int)v;
			break;
		}
		case 'i': ism_sock = optarg; break;
		case 'n': name = optarg; break;
		case 'D': flags |= ISM_VFU_DEV_NO_DMA_FDS; break;
		case 'v': p.verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ism-pci %s\n", ism_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !path == (fd < 0)) {
		fprintf(stderr, "ism-pci: give exactly one of --socket-path "
				"and --fd (--help for more)\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	p.bounce = malloc(BOUNCE);
	if (sfd < 0 || !p.bounce) {
		fprintf(stderr, "ism-pci: %s\n", strerror(errno));
		return 1;
	}

	{
		struct ism_conn_opts co = { .size = sizeof(co),
					    .flags = ISM_CONN_RECONNECT,
					    .name = name };

		err = ism_conn_open(ism_sock, &co, &p.conn);
		if (err) {
			fprintf(stderr, "ism-pci: ismd: %s\n", strerror(-err));
			return 3;
		}
		p.ismd_up = true;
	}
	err = setup_device(&p, flags);
	if (err) {
		fprintf(stderr, "ism-pci: device: %s\n", strerror(-err));
		return 1;
	}
	err = path ? ism_vfu_dev_listen(p.dev, path)
		   : ism_vfu_dev_attach_fd(p.dev, fd);
	if (err) {
		fprintf(stderr, "ism-pci: %s: %s\n", path ? path : "--fd",
			strerror(-err));
		return 1;
	}
	logf_(&p, false, "serving %s as ism peer %" PRIu64,
	      path ? path : "an inherited socket", ism_conn_peer_id(p.conn));

	for (;;) {
		struct pollfd pf[3] = {
			{ .fd = ism_vfu_dev_fd(p.dev), .events = POLLIN },
			{ .fd = ism_conn_fd(p.conn), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(pf, 3, more ? 0 : -1) < 0 && errno != EINTR) {
			fprintf(stderr, "ism-pci: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR1) {
				stats(&p);
			} else {
				logf_(&p, false, "stopping (signal %u)",
				      si.ssi_signo);
				break;
			}
		}
		err = ism_vfu_dev_process(p.dev);
		if (err == -ENOTCONN) {
			logf_(&p, false, "the VMM left; nobody else can come");
			break;
		}
		if (err) {
			fprintf(stderr, "ism-pci: vfio-user: %s\n",
				strerror(-err));
			rc = 1;
			break;
		}
		if (pf[1].revents)
			ism_events(&p);
		more = commands(&p);
		if (p.raise_ev) {
			ism_vfu_irq_trigger(p.dev, ISM_VFU_IRQ_MSIX,
					    ISM_PCI_VEC_EVENT);
			p.raise_ev = false;
		}
	}
	stats(&p);
	ism_vfu_dev_destroy(p.dev);
	reset_device(&p);
	ism_conn_close(p.conn);
	free(p.bounce);
	close(sfd);
	return rc;
}
