/* SPDX-License-Identifier: MIT */
/*
 * PCI config space of a vfio-user device, emulated by the library: the
 * type 0 header (IDs, command and status, BARs and their sizing, the ROM
 * BAR), a capability list (MSI-X, MSI, PCI Express) and, for PCIe, 4 KiB
 * with an empty extended list.  Every byte has a write mask (and W1C bits
 * where PCI says so); a client writes only what a driver may write.
 * BAR registers answer sizing (all ones written, the size mask read) from
 * the region lengths.  The MSI-X table and PBA live in a BAR: reads and
 * writes there by message are answered here (QEMU emulates the table
 * itself and reads the PBA from us; a client that drives the table itself
 * gets PCI semantics: vectors start masked).
 */
#include "vfio_user.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

#define PCI_COMMAND	0x04
#define PCI_STATUS	0x06
#define PCI_BAR0	0x10
#define PCI_ROM		0x30
#define PCI_CAP_PTR	0x34
#define PCI_INT_LINE	0x3c
#define PCI_INT_PIN	0x3d
#define PCI_CAP_MSI	0x05
#define PCI_CAP_PCIE	0x10
#define PCI_CAP_MSIX	0x11
#define STATUS_CAPLIST	0x0010
#define MSIX_CTL_MASK	0x4000
#define MSIX_CTL_ENABLE 0x8000
#define MSI_SIZE	24
#define MSIX_SIZE	12
#define PCIE_SIZE	60

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wm16(struct ism_vfu_dev *d, unsigned off, uint16_t m)
{
	put16(d->wmask + off, m);
}

static void wm32(struct ism_vfu_dev *d, unsigned off, uint32_t m)
{
	put32(d->wmask + off, m);
}

static unsigned log2u(unsigned v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

void pci_init(struct ism_vfu_dev *d)
{
	const struct ism_vfu_dev_opts *o = &d->o;
	uint8_t *c = d->cfg;
	unsigned pos = 0x40, prevpos = PCI_CAP_PTR;

	d->cfg_size =
		(o->flags & ISM_VFU_DEV_PCIE) ? CFG_SIZE_PCIE : CFG_SIZE_PCI;
	memset(c, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	memset(d->w1c, 0, sizeof(d->w1c));
	put16(c + 0, o->vendor_id);
	put16(c + 2, o->device_id);
	c[8] = o->revision;
	c[9] = (uint8_t)o->class_code;
	c[10] = (uint8_t)(o->class_code >> 8);
	c[11] = (uint8_t)(o->class_code >> 16);
	put16(c + 0x2c, o->subsys_vendor_id);
	put16(c + 0x2e, o->subsys_id);
	c[PCI_INT_PIN] = o->n_intx ? 1 : 0;
	/* I/O, memory, bus master, parity, SERR, INTx disable. */
	wm16(d, PCI_COMMAND, 0x0547);
	/* Status: parity, target/master aborts, SERR, parity error. */
	put16(d->w1c + PCI_STATUS, 0xf900);
	d->wmask[0x0c] = 0xff; /* cache line size */
	d->wmask[0x0d] = 0xff; /* latency timer */
	d->wmask[PCI_INT_LINE] = 0xff;

#define LINK(at)                                                               \
	do {                                                                   \
		c[prevpos] = (uint8_t)(at);                                    \
		prevpos = (at) + 1;                                            \
	} while (0)
	if (o->n_msix) {
		d->msix_cap = (uint16_t)pos;
		LINK(pos);
		c[pos] = PCI_CAP_MSIX;
		put16(c + pos + 2, (uint16_t)(o->n_msix - 1));
		wm16(d, pos + 2, MSIX_CTL_MASK | MSIX_CTL_ENABLE);
		put32(c + pos + 4, o->msix_table_offset | o->msix_bar);
		put32(c + pos + 8, o->msix_pba_offset | o->msix_bar);
		pos += MSIX_SIZE;
	}
	if (o->n_msi) {
		d->msi_cap = (uint16_t)pos;
		LINK(pos);
		c[pos] = PCI_CAP_MSI;
		/* 64-bit, per-vector masking, log2 of the vectors. */
		put16(c + pos + 2, (uint16_t)(0x0180 | log2u(o->n_msi) << 1));
		wm16(d, pos + 2, 0x0071);
		wm32(d, pos + 4, 0xfffffffc);
		wm32(d, pos + 8, 0xffffffff);
		wm16(d, pos + 12, 0xffff);
		wm32(d, pos + 16,
		     o->n_msi >= 32 ? 0xffffffffu : (1u << o->n_msi) - 1);
		pos += MSI_SIZE;
	}
	if (o->flags & ISM_VFU_DEV_PCIE) {
		d->pcie_cap = (uint16_t)pos;
		LINK(pos);
		c[pos] = PCI_CAP_PCIE;
		put16(c + pos + 2, 0x0002); /* version 2, endpoint */
		wm16(d, pos + 8, 0x7fff);   /* device control */
		put16(d->w1c + pos + 10, 0x000f);
		put32(c + pos + 12, 0x11); /* link: 2.5 GT/s, x1 */
		wm16(d, pos + 16, 0x0fff);
		put16(c + pos + 18, 0x11);
		wm16(d, pos + 40, 0xffff); /* device control 2 */
		pos += PCIE_SIZE;
	}
#undef LINK
	if (pos > 0x40)
		put16(c + PCI_STATUS, STATUS_CAPLIST);
}

int pci_realize(struct ism_vfu_dev *d)
{
	const struct ism_vfu_dev_opts *o = &d->o;

	for (unsigned i = 0; i < N_BARS; i++)
		if (d->reg[i].set && (d->reg[i].flags & ISM_VFU_REGION_MEM64) &&
		    (i + 1 >= N_BARS || d->reg[i + 1].set))
			return -EINVAL;
	if (o->n_msix) {
		const struct vreg *r;
		uint64_t t_end = o->msix_table_offset + 16ull * o->n_msix;
		uint64_t p_end =
			o->msix_pba_offset + 8ull * ((o->n_msix + 63) / 64);

		if (o->msix_bar >= N_BARS)
			return -EINVAL;
		r = &d->reg[o->msix_bar];
		if (!r->set || (r->flags & ISM_VFU_REGION_IO) ||
		    (o->msix_table_offset | o->msix_pba_offset) & 7 ||
		    t_end > r->len || p_end > r->len ||
		    (o->msix_table_offset < p_end &&
		     o->msix_pba_offset < t_end))
			return -EINVAL;
	}
	return 0;
}

/* ---- BAR registers ------------------------------------------------------ */

/* Is BAR @i the upper half of BAR i-1? */
static bool upper_half(const struct ism_vfu_dev *d, unsigned i)
{
	return i > 0 && d->reg[i - 1].set &&
	       (d->reg[i - 1].flags & ISM_VFU_REGION_MEM64);
}

static uint32_t bar_read(const struct ism_vfu_dev *d, unsigned i)
{
	const struct vreg *r = &d->reg[i];

	if (upper_half(d, i))
		return (uint32_t)((d->bar_addr[i - 1] &
				   ~(d->reg[i - 1].len - 1)) >>
				  32);
	if (!r->set)
		return 0;
	if (r->flags & ISM_VFU_REGION_IO)
		return ((uint32_t)d->bar_addr[i] & ~(uint32_t)(r->len - 1) &
			0xfffffffcu) |
		       1u;
	return ((uint32_t)d->bar_addr[i] & (uint32_t) ~(r->len - 1) &
		0xfffffff0u) |
	       ((r->flags & ISM_VFU_REGION_MEM64) ? 0x4u : 0) |
	       ((r->flags & ISM_VFU_REGION_PREFETCH) ? 0x8u : 0);
}

static void bar_write(struct ism_vfu_dev *d, unsigned i, uint32_t v)
{
	if (upper_half(d, i)) {
		d->bar_addr[i - 1] = (d->bar_addr[i - 1] & 0xffffffffull) |
				     (uint64_t)v << 32;
		return;
	}
	if (!d->reg[i].set)
		return;
	d->bar_addr[i] = (d->bar_addr[i] & ~0xffffffffull) | v;
}

static uint32_t rom_read(const struct ism_vfu_dev *d)
{
	const struct vreg *r = &d->reg[ISM_VFU_ROM];

	if (!r->set)
		return 0;
	return ((uint32_t)d->bar_addr[ISM_VFU_ROM] & (uint32_t) ~(r->len - 1) &
		0xfffff800u) |
	       (d->rom_ctl & 1);
}

static uint32_t dword_read(const struct ism_vfu_dev *d, unsigned off)
{
	if (off >= PCI_BAR0 && off < PCI_BAR0 + 4 * N_BARS)
		return bar_read(d, (off - PCI_BAR0) / 4);
	return rom_read(d);
}

static bool special(unsigned off)
{
	return (off >= PCI_BAR0 && off < PCI_BAR0 + 4 * N_BARS) ||
	       (off >= PCI_ROM && off < PCI_ROM + 4);
}

int pci_cfg_access(struct ism_vfu_dev *d, uint64_t off, uint8_t *buf,
		   uint32_t count, bool is_write)
{
	bool msix_ctl = false;

	if (off > d->cfg_size || count > d->cfg_size - off)
		return -EINVAL;
	for (uint32_t i = 0; i < count;) {
		unsigned at = (unsigned)off + i;

		if (special(at)) {
			/* BARs and the ROM BAR, a dword at a time. */
			unsigned base = at & ~3u;
			uint32_t v = dword_read(d, base);
			uint8_t b[4];

			put32(b, v);
			for (; i < count && ((unsigned)off + i) < base + 4;
			     i++) {
				unsigned k = (unsigned)off + i - base;

				if (is_write)
					b[k] = buf[i];
				else
					buf[i] = b[k];
			}
			if (!is_write)
				continue;
			v = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
			    (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
			if (base == PCI_ROM) {
				d->bar_addr[ISM_VFU_ROM] = v & 0xfffff800u;
				d->rom_ctl = v & 1;
			} else {
				bar_write(d, (base - PCI_BAR0) / 4, v);
			}
			continue;
		}
		if (!is_write) {
			buf[i++] = d->cfg[at];
			continue;
		}
		d->cfg[at] = (uint8_t)((d->cfg[at] & ~d->wmask[at]) |
				       (buf[i] & d->wmask[at]));
		d->cfg[at] &= (uint8_t) ~(buf[i] & d->w1c[at]);
		if (d->msix_cap &&
		    (at == d->msix_cap + 2u || at == d->msix_cap + 3u))
			msix_ctl = true;
		i++;
	}
	if (msix_ctl) {
		d->msix_ctl_written = true;
		vdev_irq_recheck(d, ISM_VFU_IRQ_MSIX);
	}
	return 0;
}

bool pci_msix_masked(struct ism_vfu_dev *d, uint32_t v)
{
	if (d->msix_ctl_written) {
		uint16_t ctl = get16(d->cfg + d->msix_cap + 2);

		if ((ctl & MSIX_CTL_MASK) || !(ctl & MSIX_CTL_ENABLE))
			return true;
	}
	return d->msix_written[v] && (d->msix_table[16 * v + 12] & 1);
}

/* ---- BAR accesses by message ------------------------------------------- */

static int dev_access(struct ism_vfu_dev *d, uint32_t index, uint64_t off,
		      uint8_t *buf, uint32_t count, bool is_write)
{
	struct vreg *r = &d->reg[index];

	if (r->access)
		return r->access(d->o.priv, index, off, buf, count, is_write);
	if (!r->map)
		return -EINVAL;
	if (is_write)
		memcpy(r->map + off, buf, count);
	else
		memcpy(buf, r->map + off, count);
	return 0;
}

int pci_bar_access(struct ism_vfu_dev *d, uint32_t index, uint64_t off,
		   uint8_t *buf, uint32_t count, bool is_write)
{
	const struct ism_vfu_dev_opts *o = &d->o;
	uint64_t t0, t1, p0, p1, end = off + count;
	bool table_written = false;

	if (!o->n_msix || index != o->msix_bar)
		return dev_access(d, index, off, buf, count, is_write);
	t0 = o->msix_table_offset;
	t1 = t0 + 16ull * o->n_msix;
	p0 = o->msix_pba_offset;
	p1 = p0 + 8ull * ((o->n_msix + 63) / 64);
	while (off < end) {
		uint64_t seg;
		int err;

		if (off >= t0 && off < t1) {
			seg = ISM_MIN(end, t1) - off;
			for (uint64_t k = 0; k < seg; k++) {
				uint64_t at = off - t0 + k;

				if (!is_write) {
					buf[k] = d->msix_table[at];
					continue;
				}
				d->msix_table[at] = buf[k];
				if (at % 16 >= 12)
					d->msix_written[at / 16] = 1;
				table_written = true;
			}
		} else if (off >= p0 && off < p1) {
			seg = ISM_MIN(end, p1) - off;
			for (uint64_t k = 0; k < seg && !is_write; k++) {
				uint64_t bit0 = (off - p0 + k) * 8;
				uint8_t v = 0;

				for (unsigned b = 0; b < 8; b++)
					if (bit0 + b < o->n_msix &&
					    d->irq[ISM_VFU_IRQ_MSIX]
						    .v[bit0 + b]
						    .pending)
						v |= (uint8_t)(1u << b);
				buf[k] = v;
			}
			/* PBA writes are ignored (read-only in PCI). */
		} else {
			uint64_t stop = end;

			if (t0 > off && t0 < stop)
				stop = t0;
			if (p0 > off && p0 < stop)
				stop = p0;
			seg = stop - off;
			err = dev_access(d, index, off, buf, (uint32_t)seg,
					 is_write);
			if (err)
				return err;
		}
		off += seg;
		buf += seg;
	}
	if (table_written)
		vdev_irq_recheck(d, ISM_VFU_IRQ_MSIX);
	return 0;
}
