/* SPDX-License-Identifier: MIT */
/*
 * ivdev - the ivshmem-doorbell device from inside a Linux guest
 * (include/ism-guest.h).
 *
 * Registers (BAR0, 32-bit): 8 IVPosition (our peer id), 12 Doorbell
 * (write (peer << 16) | vector).  BAR2 is the domain's memory.  With
 * VFIO, the BARs are regions of the device fd and MSI-X vectors are
 * wired to an eventfd (VFIO_DEVICE_SET_IRQS); with nothing, the BARs are
 * sysfs resource files and waiting is a short sleep.
 */
#include <ism-guest.h>
#include <ism/ivchan.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#define SYSPCI	      "/sys/bus/pci/devices"
#define REG_IVPOS     8
#define REG_DOORBELL  12
#define IVSHMEM_VEND  0x1af4
#define IVSHMEM_DEV   0x1110
#define PCI_CMD	      4
#define PCI_CMD_MEM   0x2
#define PCI_CMD_BUSMA 0x4

struct ism_guest {
	char bdf[32];
	uint32_t id, vectors, mode;
	volatile uint32_t *regs; /* BAR0 mapped, or NULL: pwrite to dfd */
	size_t regs_len;
	uint64_t regs_off; /* VFIO: BAR0's offset in the device fd */
	void *mem;
	uint64_t size;
	int container, group, dfd, efd;
	uint64_t irqs;
};

static int read_hex(const char *path, unsigned long *v)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*v = strtoul(buf, NULL, 16);
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int find_device(char *bdf, size_t n)
{
	DIR *dir = opendir(SYSPCI);
	struct dirent *e;
	int r = -ENODEV;

	if (!dir)
		return -ENODEV;
	while ((e = readdir(dir))) {
		char p[PATH_MAX];
		unsigned long vend, dev;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), SYSPCI "/%s/vendor", e->d_name);
		if (read_hex(p, &vend) < 0 || vend != IVSHMEM_VEND)
			continue;
		snprintf(p, sizeof(p), SYSPCI "/%s/device", e->d_name);
		if (read_hex(p, &dev) < 0 || dev != IVSHMEM_DEV)
			continue;
		/* The lowest address: stable across boots. */
		if (strlen(e->d_name) < n &&
		    (r < 0 || strcmp(e->d_name, bdf) < 0)) {
			memcpy(bdf, e->d_name, strlen(e->d_name) + 1);
			r = 0;
		}
	}
	closedir(dir);
	return r;
}

/* ---- VFIO ---- */

static int bind_vfio(const char *bdf)
{
	char p[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), SYSPCI "/%s/driver", bdf);
	n = readlink(p, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (!strcmp(strrchr(link, '/') + 1, "vfio-pci"))
			return 0;
		snprintf(p, sizeof(p), SYSPCI "/%s/driver/unbind", bdf);
		write_str(p, bdf);
	}
	snprintf(p, sizeof(p), SYSPCI "/%s/driver_override", bdf);
	if (write_str(p, "vfio-pci") < 0)
		return -EOPNOTSUPP;
	write_str("/sys/bus/pci/drivers_probe", bdf);
	snprintf(p, sizeof(p), SYSPCI "/%s/driver", bdf);
	n = readlink(p, link, sizeof(link) - 1);
	if (n <= 0)
		return -EOPNOTSUPP;
	link[n] = '\0';
	return strcmp(strrchr(link, '/') + 1, "vfio-pci") ? -EOPNOTSUPP : 0;
}

static int region(struct ism_guest *g, uint32_t index,
		  struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(g->dfd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -errno : 0;
}

static int open_vfio(struct ism_guest *g)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_region_info ri;
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	char p[PATH_MAX], link[PATH_MAX];
	const char *grp;
	uint16_t cmd;
	ssize_t n;
	int r;

	if ((r = bind_vfio(g->bdf)) < 0)
		return r;
	snprintf(p, sizeof(p), SYSPCI "/%s/iommu_group", g->bdf);
	if ((n = readlink(p, link, sizeof(link) - 1)) <= 0)
		return -EOPNOTSUPP; /* no IOMMU: no VFIO here */
	link[n] = '\0';
	grp = strrchr(link, '/') + 1;
	if ((g->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0)
		return -EOPNOTSUPP;
	if (ioctl(g->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(g->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
		return -EOPNOTSUPP;
	snprintf(p, sizeof(p), "/dev/vfio/%s", grp);
	if ((g->group = open(p, O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	if (ioctl(g->group, VFIO_GROUP_GET_STATUS, &st) < 0 ||
	    !(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EOPNOTSUPP;
	if (ioctl(g->group, VFIO_GROUP_SET_CONTAINER, &g->container) < 0 ||
	    ioctl(g->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
		return -errno;
	if ((g->dfd = ioctl(g->group, VFIO_GROUP_GET_DEVICE_FD, g->bdf)) < 0)
		return -errno;
	/* BAR0: mapped if VFIO lets us (a BAR smaller than a page may not
	 * be), else written through the fd. */
	if ((r = region(g, VFIO_PCI_BAR0_REGION_INDEX, &ri)) < 0)
		return r;
	g->regs_off = ri.offset;
	g->regs_len = ri.size;
	if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		void *m = mmap(NULL, ri.size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, g->dfd, (off_t)ri.offset);

		if (m != MAP_FAILED)
			g->regs = m;
	}
	if ((r = region(g, VFIO_PCI_BAR2_REGION_INDEX, &ri)) < 0)
		return r;
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || !ri.size)
		return -EOPNOTSUPP;
	g->size = ri.size;
	g->mem = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, g->dfd,
		      (off_t)ri.offset);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		return -errno;
	}
	/* Memory decoding and bus mastering: without the latter QEMU
	 * drops the device's MSI-X messages. */
	if ((r = region(g, VFIO_PCI_CONFIG_REGION_INDEX, &ri)) < 0)
		return r;
	if (pread(g->dfd, &cmd, 2, (off_t)(ri.offset + PCI_CMD)) != 2)
		return -EIO;
	cmd |= PCI_CMD_MEM | PCI_CMD_BUSMA;
	if (pwrite(g->dfd, &cmd, 2, (off_t)(ri.offset + PCI_CMD)) != 2)
		return -EIO;
	/* Every MSI-X vector signals one eventfd. */
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	if (ioctl(g->dfd, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0 || !ii.count)
		return -EOPNOTSUPP;
	g->vectors = ii.count > 64 ? 64 : ii.count;
	if ((g->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	{
		size_t len = sizeof(struct vfio_irq_set) +
			     sizeof(int32_t) * g->vectors;
		struct vfio_irq_set *set = calloc(1, len);

		if (!set)
			return -ENOMEM;
		set->argsz = (uint32_t)len;
		set->flags =
			VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		set->index = VFIO_PCI_MSIX_IRQ_INDEX;
		set->start = 0;
		set->count = g->vectors;
		for (uint32_t v = 0; v < g->vectors; v++)
			((int32_t *)set->data)[v] = g->efd;
		r = ioctl(g->dfd, VFIO_DEVICE_SET_IRQS, set) < 0 ? -errno : 0;
		free(set);
		if (r < 0)
			return r;
	}
	g->mode = ISM_GUEST_IRQ_VFIO;
	return 0;
}

/* ---- sysfs (no interrupts) ---- */

static void *map_resource(const char *bdf, int bar, size_t *len)
{
	char p[PATH_MAX];
	struct stat st;
	void *m;
	int fd;

	snprintf(p, sizeof(p), SYSPCI "/%s/resource%d", bdf, bar);
	if ((fd = open(p, O_RDWR | O_SYNC | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !st.st_size) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	*len = (size_t)st.st_size;
	return m;
}

static int open_sysfs(struct ism_guest *g)
{
	char p[PATH_MAX];
	size_t len = 0;

	snprintf(p, sizeof(p), SYSPCI "/%s/enable", g->bdf);
	write_str(p, "1");
	if (!(g->regs = map_resource(g->bdf, 0, &g->regs_len)))
		return -errno ? -errno : -EIO;
	if (!(g->mem = map_resource(g->bdf, 2, &len)))
		return -errno ? -errno : -EIO;
	g->size = len;
	g->vectors = 1;
	g->mode = ISM_GUEST_IRQ_POLL;
	return 0;
}

static uint32_t reg_read(struct ism_guest *g, uint32_t off)
{
	uint32_t v = 0;

	if (g->regs)
		return g->regs[off / 4];
	if (pread(g->dfd, &v, 4, (off_t)(g->regs_off + off)) != 4)
		return UINT32_MAX;
	return v;
}

int ism_guest_ring(struct ism_guest *g, uint32_t peer, uint32_t vector)
{
	uint32_t v = (peer << 16) | (vector & 0xffff);

	if (peer > 0xffff || vector >= 64)
		return -EINVAL;
	/* Earlier stores to the memory are seen before the doorbell. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (g->regs) {
		g->regs[REG_DOORBELL / 4] = v;
		return 0;
	}
	return pwrite(g->dfd, &v, 4, (off_t)(g->regs_off + REG_DOORBELL)) == 4
		       ? 0
		       : -EIO;
}

int ism_guest_wait(struct ism_guest *g, int timeout_ms)
{
	if (g->mode == ISM_GUEST_IRQ_VFIO) {
		struct pollfd p = { g->efd, POLLIN, 0 };
		uint64_t n;

		if (poll(&p, 1, timeout_ms) < 0)
			return errno == EINTR ? 0 : -errno;
		if ((p.revents & POLLIN) && read(g->efd, &n, 8) == 8)
			g->irqs += n;
		return 0;
	}
	/* Polling: a short sleep, then the caller looks again. */
	struct timespec ts = { 0, 200 * 1000 };

	if (timeout_ms == 0)
		return 0;
	nanosleep(&ts, NULL);
	return 0;
}

int ism_guest_open(const struct ism_guest_opts *o, struct ism_guest **out)
{
	struct ism_guest_opts c = { 0 };
	struct ism_guest *g;
	int r;

	*out = NULL;
	if (o)
		memcpy(&c, o,
		       (o->size && o->size < sizeof(c)) ? o->size : sizeof(c));
	if (!(g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	g->container = g->group = g->dfd = g->efd = -1;
	if (c.device && strlen(c.device) < sizeof(g->bdf))
		memcpy(g->bdf, c.device, strlen(c.device) + 1);
	else if (c.device) {
		r = -EINVAL;
		goto fail;
	} else if ((r = find_device(g->bdf, sizeof(g->bdf))) < 0)
		goto fail;
	r = -EOPNOTSUPP;
	if (c.irq != ISM_GUEST_IRQ_POLL)
		r = open_vfio(g);
	if (r < 0 && c.irq == ISM_GUEST_IRQ_VFIO)
		goto fail;
	if (r < 0) {
		/* Start again without VFIO. */
		struct ism_guest keep = *g;

		ism_guest_close(g);
		if (!(g = calloc(1, sizeof(*g))))
			return -ENOMEM;
		memcpy(g->bdf, keep.bdf, sizeof(g->bdf));
		g->container = g->group = g->dfd = g->efd = -1;
		if ((r = open_sysfs(g)) < 0)
			goto fail;
	}
	g->id = reg_read(g, REG_IVPOS);
	if (g->id > 0xffff) {
		r = -EIO;
		goto fail;
	}
	*out = g;
	return 0;
fail:
	ism_guest_close(g);
	return r;
}

void ism_guest_close(struct ism_guest *g)
{
	if (!g)
		return;
	if (g->mem)
		munmap(g->mem, g->size);
	if (g->regs)
		munmap((void *)g->regs, g->regs_len);
	if (g->efd >= 0)
		close(g->efd);
	if (g->dfd >= 0)
		close(g->dfd);
	if (g->group >= 0)
		close(g->group);
	if (g->container >= 0)
		close(g->container);
	free(g);
}

uint32_t ism_guest_id(const struct ism_guest *g)
{
	return g->id;
}

uint32_t ism_guest_vectors(const struct ism_guest *g)
{
	return g->vectors;
}

void *ism_guest_mem(const struct ism_guest *g, uint64_t *size)
{
	if (size)
		*size = g->size;
	return g->mem;
}

uint32_t ism_guest_irq_mode(const struct ism_guest *g)
{
	return g->mode;
}

const char *ism_guest_device(const struct ism_guest *g)
{
	return g->bdf;
}

uint64_t ism_guest_irqs(const struct ism_guest *g)
{
	return g->irqs;
}

static int g_ring(void *ctx, uint32_t peer, uint32_t vector)
{
	return ism_guest_ring(ctx, peer, vector);
}

static int g_wait(void *ctx, int timeout_ms)
{
	return ism_guest_wait(ctx, timeout_ms);
}

static const struct ism_ivdom_ops guest_ops = { g_ring, g_wait };

int ism_guest_ivdom(struct ism_guest *g, struct ism_ivdom **out)
{
	return ism_ivdom_open(g->mem, g->size, g->id, g->vectors, &guest_ops, g,
			      out);
}
