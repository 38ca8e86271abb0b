/* SPDX-License-Identifier: MIT */
/*
 * ism-vfu-lspci: look at a vfio-user device the way lspci would, as a
 * client (ism/vfio_user_client.h): the version and capabilities agreed,
 * the config header (IDs, class, BARs, interrupt pin), the capability
 * list, every region (flags, size, mappable areas) and interrupt index.
 * Works against any vfio-user server (ism-pci, ism-vfu-sample,
 * libvfio-user's samples) that has no client attached: a server serves
 * one client at a time.
 *
 *   ism-vfu-lspci [--json] SOCKET
 *
 * Exit status: 0, 1 (the device answered with an error), 2 (usage), 3
 * (nothing answers at SOCKET), 4 (a protocol error).
 */
#include <ism/vfio_user_client.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *const region_names[] = { "BAR0", "BAR1",   "BAR2",
					    "BAR3", "BAR4",   "BAR5",
					    "ROM",  "CONFIG", "VGA" };
static const char *const irq_names[] = { "INTx", "MSI", "MSI-X", "ERR", "REQ" };

static const char *cap_name(unsigned id)
{
	switch (id) {
	case 0x01: return "power management";
	case 0x05: return "MSI";
	case 0x09: return "vendor specific";
	case 0x10: return "PCI Express";
	case 0x11: return "MSI-X";
	default: return "other";
	}
}

static int status(int err)
{
	if (err == -ENOENT || err == -ECONNREFUSED || err == -ECONNRESET)
		return 3;
	return err == -EPROTO || err == -ETIMEDOUT ? 4 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ism_vfu_client_opts o = { .size = sizeof(o),
					 .timeout_ms = 5000 };
	struct ism_vfu_client_info ci;
	struct ism_vfu_client *c;
	uint8_t cfg[256];
	int json = 0, opt, err;

	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = 1; break;
		case 'h':
			printf("usage: ism-vfu-lspci [--json] SOCKET\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: ism-vfu-lspci [--json] SOCKET\n");
		return 2;
	}
	err = ism_vfu_client_connect(argv[optind], &o, &c);
	if (err) {
		fprintf(stderr, "ism-vfu-lspci: %s: %s%s\n", argv[optind],
			strerror(-err),
			err == -ECONNRESET ? " (a client is attached?)" : "");
		return status(err);
	}
	ism_vfu_client_info(c, &ci);
	err = (int)ism_vfu_client_region_read(c, ISM_VFU_CONFIG, 0, cfg,
					      sizeof(cfg));
	if (err < 0) {
		fprintf(stderr, "ism-vfu-lspci: config space: %s\n",
			strerror(-err));
		ism_vfu_client_close(c);
		return status(err);
	}
#define U16(o) (unsigned)(cfg[o] | cfg[(o) + 1] << 8)
#define U32(o) (U16(o) | (unsigned)U16((o) + 2) << 16)
	if (json)
		printf("{\"version\": \"%u.%u\", \"vendor\": \"%04x\", "
		       "\"device\": \"%04x\", \"class\": \"%06x\", "
		       "\"revision\": %u, \"twin_socket\": %s, \"regions\": [",
		       ci.major, ci.minor, U16(0), U16(2), U32(8) >> 8, cfg[8],
		       ci.twin ? "true" : "false");
	else
		printf("vfio-user %u.%u, %u regions, %u irq types, max "
		       "transfer %u, %u fds per message%s\n"
		       "%04x:%04x (subsystem %04x:%04x) class %06x rev %u, "
		       "interrupt pin %u\n",
		       ci.major, ci.minor, ci.num_regions, ci.num_irqs,
		       ci.max_data_xfer, ci.max_msg_fds,
		       ci.twin ? ", twin socket" : "", U16(0), U16(2),
		       U16(0x2c), U16(0x2e), U32(8) >> 8, cfg[8], cfg[0x3d]);
	/* The capability list (at most 48 entries: no loop can trap us). */
	if (!json && (U16(6) & 0x10)) {
		unsigned at = cfg[0x34] & 0xfc;

		for (int n = 0; at >= 0x40 && at < 0xff && n < 48; n++) {
			printf("  capability 0x%02x at 0x%02x: %s\n", cfg[at],
			       at, cap_name(cfg[at]));
			at = cfg[at + 1] & 0xfc;
		}
	}
	for (uint32_t i = 0; i < ci.num_regions && i < 64; i++) {
		struct ism_vfu_region_info ri;

		err = ism_vfu_client_region_info(c, i, &ri);
		if (err)
			break;
		if (json) {
			printf("%s{\"index\": %u, \"flags\": %u, \"size\": "
			       "%llu, \"mappable\": %s, \"areas\": %u}",
			       i ? ", " : "", i, ri.flags,
			       (unsigned long long)ri.len,
			       ri.mappable ? "true" : "false", ri.n_areas);
			continue;
		}
		if (!ri.len)
			continue;
		printf("  region %u (%s): %llu bytes,%s%s%s", i,
		       i < 9 ? region_names[i] : "device-specific",
		       (unsigned long long)ri.len,
		       ri.flags & ISM_VFU_REGION_INFO_READ ? " read" : "",
		       ri.flags & ISM_VFU_REGION_INFO_WRITE ? " write" : "",
		       ri.flags & ISM_VFU_REGION_INFO_MMAP ? " mmap" : "");
		if (i < 6)
			printf(", BAR register %08x", U32(0x10 + 4 * i));
		printf("\n");
		for (uint32_t k = 0; k < ri.n_areas; k++)
			printf("    mappable: 0x%llx, %llu bytes\n",
			       (unsigned long long)ri.areas[k].offset,
			       (unsigned long long)ri.areas[k].len);
	}
	if (json)
		printf("], \"irqs\": [");
	for (uint32_t i = 0; !err && i < ci.num_irqs && i < 16; i++) {
		struct ism_vfu_irq_info ii;

		err = ism_vfu_client_irq_info(c, i, &ii);
		if (err)
			break;
		if (json)
			printf("%s{\"index\": %u, \"flags\": %u, \"count\": "
			       "%u}",
			       i ? ", " : "", i, ii.flags, ii.count);
		else if (ii.count)
			printf("  irq %u (%s): %u vector%s%s%s\n", i,
			       i < 5 ? irq_names[i] : "?", ii.count,
			       ii.count == 1 ? "" : "s",
			       ii.flags & ISM_VFU_IRQ_INFO_MASKABLE
				       ? ", maskable"
				       : "",
			       ii.flags & ISM_VFU_IRQ_INFO_EVENTFD ? ", eventfd"
								   : "");
	}
	if (json)
		printf("]}\n");
	ism_vfu_client_close(c);
	if (err) {
		fprintf(stderr, "ism-vfu-lspci: %s\n", strerror(-err));
		return status(err);
	}
	return 0;
}
