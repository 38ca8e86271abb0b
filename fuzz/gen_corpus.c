/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora for the fuzz targets (fuzz/corpus/<target>/):
 * for proto, one seed per row of the message table (messages.def: every
 * request, reply and event, from a zeroed host struct) and one valid
 * message of every kind; for wire the same messages; a few request
 * sequences (hello, alloc, attach to the known token, notify, read,
 * write, lists, destroy) for ismd, and real channel regions for chan.  Run by `make fuzz-corpus`; the output
 * is committed.
 */
#include "proto/proto.h"
#include "stream/handshake.h"
#include "vfu_wire/vfu_wire.h"
#include "vhost/vhost.h"
#include "ivchan/ivchan.h"

#include <ism/ring.h>

#include <ism/chan.h>
#include <unistd.h>

#include <stdio.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

static uint8_t msg[ISM_WIRE_MAX_MSG];
static char dir[512];

static void save(const char *target, const char *name, const void *p, size_t n)
{
	char path[700];
	FILE *f;

	/* A new target's directory is made on its first seed. */
	snprintf(path, sizeof(path), "%s/%s", dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

#define MSG(type, flags, put)                                                  \
	({                                                                     \
		struct ism_wbuf w_;                                            \
		ism_proto_begin(&w_, msg, sizeof(msg), type, flags, 7, 0);     \
		put;                                                           \
		(size_t) ism_proto_end(&w_);                                   \
	})

/* One seed per message in the table, so a message added there is
 * fuzzed from the start. */
static void table_seeds(void)
{
	static uint8_t zero[1u << 20];

	for (size_t i = 0; i < ism_proto_n_msgs; i++) {
		const struct ism_msg_desc *d = &ism_proto_msgs[i];
		char name[96];
		size_t n;

		if (d->event) {
			struct ism_event *ev = (struct ism_event *)zero;

			/* The event's own type, so it encodes. */
			memset(zero, 0, sizeof(*ev));
			ev->type = ism_proto_event_type(d->type);
			n = MSG(d->type, ISM_WIRE_F_EVENT,
				d->req->put(&w_, zero));
			snprintf(name, sizeof(name), "table-%s", d->name);
			save("proto", name, msg, n);
			continue;
		}
		memset(zero, 0, d->req->size);
		n = MSG(d->type, 0, d->req->put(&w_, zero));
		snprintf(name, sizeof(name), "table-%s-req", d->name);
		save("proto", name, msg, n);
		memset(zero, 0, d->rep->size);
		n = MSG(d->type, ISM_WIRE_F_REPLY, d->rep->put(&w_, zero));
		snprintf(name, sizeof(name), "table-%s-rep", d->name);
		save("proto", name, msg, n);
	}
}

/* An ismd input: [flags byte] then chunks [ctl][le16 len][bytes]. */
/* ivchan: a peer's slot (id 1 of 2 in 256K, as ivchan_fuzz.c lays out
 * the memory) holding an offer to id 0 on port 0 whose ring carries a
 * few messages; and the same with a header patch first. */
static void ivchan_seeds(void)
{
	static _Alignas(64) uint8_t buf[12288];
	static uint8_t in[1 + sizeof(buf)];
	uint64_t slot = ivc_slot_size(256u * 1024u, 2);
	uint64_t base = IVC_HDR_SIZE + slot;
	struct ivc_slot *s = (struct ivc_slot *)buf;
	struct ism_ring_tx *tx;

	s->magic = IVC_SLOT_MAGIC;
	s->version = IVC_VERSION;
	s->serial = 2;
	s->nent = IVC_ENTRIES;
	s->ent[0].state = IVC_OFFER;
	s->ent[0].gen = 1;
	s->ent[0].peer = 0;
	s->ent[0].peer_serial = 1;
	s->ent[0].data_size = 4096;
	s->ent[0].cons_off = base + IVC_SLOT_META + IVC_CONS_OFF;
	s->ent[0].prod_off = base + IVC_SLOT_META + IVC_PROD_OFF;
	if (ism_ring_tx_init(buf + IVC_SLOT_META + IVC_PROD_OFF,
			     ism_ring_prod_area(4096), 4096, NULL, 0, &tx) < 0)
		exit(1);
	for (int i = 0; i < 5; i++)
		ism_ring_send(tx, "seed message, longer", 12 + (size_t)i);
	ism_ring_publish(tx);
	ism_ring_tx_close(tx);
	memcpy(in + 1, buf, sizeof(buf)); /* in[0]: no header patch */
	save("ivchan", "offer", in,
	     1 + IVC_SLOT_META + IVC_PROD_OFF + ism_ring_prod_area(4096) + 1);
}

static uint8_t seq[65536];
static size_t seqlen;

static void seq_start(uint8_t flags)
{
	seq[0] = flags;
	seqlen = 1;
}

static void seq_add(uint8_t ctl, size_t n)
{
	seq[seqlen++] = ctl;
	seq[seqlen++] = (uint8_t)n;
	seq[seqlen++] = (uint8_t)(n >> 8);
	memcpy(seq + seqlen, msg, n);
	seqlen += n;
}

/* vfio-user (vfu_c2s_fuzz.c, vfu_s2c_fuzz.c): a control byte, then one
 * message of each kind each way, from the encoders. */
static void vfu_save(const char *target, const char *name, uint8_t ctl,
		     struct vfu_msg *m)
{
	static uint8_t b[1 + 4096];
	ssize_t n = vfu_msg_encode(m, b + 1, sizeof(b) - 1);

	if (n < 0) {
		fprintf(stderr, "gen-corpus: vfio-user %s: %zd\n", name, n);
		exit(1);
	}
	b[0] = ctl;
	save(target, name, b, (size_t)n + 1);
}

static void vfu_seeds(void)
{
	static const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const char json[] =
		"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "
		"\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, "
		"\"migration\": {\"pgsize\": 4096}, \"write_multiple\": true}}";
	struct vfu_msg m = { 0 };
	const uint32_t cmd = VFU_F_COMMAND, rep = VFU_F_REPLY;

#define H(c, f) (m.h = (struct vfu_hdr){ .id = 7, .cmd = (c), .flags = (f) })
	/* client -> server: ctl = command index | 0x40 (one fd). */
	H(VFU_VERSION, cmd);
	m.u.version = (struct vfu_version){ .has_json = true };
	vfu_caps_parse(json, sizeof(json) - 1, &m.u.version.caps);
	vfu_save("vfu_c2s", "version", 0, &m);
	H(VFU_DMA_MAP, cmd);
	m.u.dma_map = (struct vfu_dma_map){ 32, 3, 0, 1ull << 32, 1u << 20 };
	vfu_save("vfu_c2s", "dma-map-fd", 1 | 0x40, &m);
	H(VFU_DMA_UNMAP, cmd);
	m.u.dma_unmap = (struct vfu_dma_unmap){ 24, 0, 1ull << 32, 1u << 20 };
	vfu_save("vfu_c2s", "dma-unmap", 2, &m);
	H(VFU_GET_INFO, cmd);
	m.u.dev_info = (struct vfu_dev_info){ 16, 0, 0, 0 };
	vfu_save("vfu_c2s", "get-info", 3, &m);
	H(VFU_GET_REGION_INFO, cmd);
	m.u.region_info = (struct vfu_region_info){ .argsz = 32, .index = 1 };
	vfu_save("vfu_c2s", "region-info", 4, &m);
	H(VFU_GET_REGION_IO_FDS, cmd);
	m.u.io_fds = (struct vfu_io_fds){ .argsz = 16 };
	vfu_save("vfu_c2s", "io-fds", 5, &m);
	H(VFU_GET_IRQ_INFO, cmd);
	m.u.irq_info = (struct vfu_irq_info){ 16, 0, 2, 0 };
	vfu_save("vfu_c2s", "irq-info", 6, &m);
	H(VFU_SET_IRQS, cmd);
	m.u.set_irqs =
		(struct vfu_set_irqs){ .flags = 0x24, .index = 2, .count = 1 };
	vfu_save("vfu_c2s", "set-irqs-eventfd", 7 | 0x40, &m);
	m.u.set_irqs = (struct vfu_set_irqs){
		.flags = 0x12, .index = 2, .count = 4, .data = data
	};
	vfu_save("vfu_c2s", "set-irqs-bool", 7, &m);
	H(VFU_REGION_READ, cmd);
	m.u.region_rw = (struct vfu_region_rw){ 0x10, 0, 4, NULL };
	vfu_save("vfu_c2s", "region-read", 8, &m);
	H(VFU_REGION_WRITE, cmd);
	m.u.region_rw = (struct vfu_region_rw){ 0x10, 0, 8, data };
	vfu_save("vfu_c2s", "region-write", 9, &m);
	H(VFU_DEVICE_RESET, cmd);
	vfu_save("vfu_c2s", "reset", 10, &m);
	H(VFU_REGION_WRITE_MULTI, cmd);
	memset(&m.u, 0, sizeof(m.u)); /* the data bytes: no leftovers */
	m.u.multi.wr_cnt = 2;
	m.u.multi.wr[0].offset = 0x40;
	m.u.multi.wr[0].count = 4;
	m.u.multi.wr[1].offset = 0x44;
	m.u.multi.wr[1].count = 8;
	vfu_save("vfu_c2s", "write-multi", 11, &m);
	H(VFU_DEVICE_FEATURE, cmd);
	m.u.feature = (struct vfu_feature){ 16, (1u << 18) | (1u << 16) | 1,
					    NULL, 0 };
	vfu_save("vfu_c2s", "feature-probe", 12, &m);
	H(VFU_MIG_DATA_WRITE, cmd);
	m.u.mig = (struct vfu_mig_data){ 8, 8, data };
	vfu_save("vfu_c2s", "mig-write", 14, &m);
	/* Replies to the server's DMA (ctl 0x20 | write). */
	H(VFU_DMA_READ, rep);
	m.u.dma_rw = (struct vfu_dma_rw){ .addr = 1ull << 32,
					  .count = 8,
					  .data = data };
	vfu_save("vfu_c2s", "dma-read-rep", 0x20, &m);
	H(VFU_DMA_WRITE, rep);
	vfu_save("vfu_c2s", "dma-write-rep", 0x21, &m);
	{
		uint8_t b[sizeof(json)];

		b[0] = 0xc0; /* the JSON alone */
		memcpy(b + 1, json, sizeof(json) - 1);
		save("vfu_c2s", "json", b, sizeof(json));
	}

	/* server -> client: ctl = command index | fds << 5; 0x80 a DMA
	 * command. */
	H(VFU_VERSION, rep);
	m.u.version = (struct vfu_version){ .has_json = true };
	m.u.version.caps.present = VFU_CAP_OBJECT | VFU_CAP_MAX_MSG_FDS |
				   VFU_CAP_TWIN | VFU_CAP_TWIN_SUP |
				   VFU_CAP_TWIN_INDEX;
	m.u.version.caps.max_msg_fds = 16;
	m.u.version.caps.twin_supported = true;
	vfu_save("vfu_s2c", "version-twin", 0 | 0x20, &m);
	H(VFU_DMA_UNMAP, rep);
	m.u.dma_unmap = (struct vfu_dma_unmap){ 24, 0, 1ull << 32, 1u << 20 };
	vfu_save("vfu_s2c", "dma-unmap", 2, &m);
	H(VFU_GET_INFO, rep);
	m.u.dev_info = (struct vfu_dev_info){ 16, 3, 9, 5 };
	vfu_save("vfu_s2c", "get-info", 3, &m);
	H(VFU_GET_REGION_INFO, rep);
	memset(&m.u.region_info_rep, 0, sizeof(m.u.region_info_rep));
	m.u.region_info_rep.ri = (struct vfu_region_info){ .flags = 7,
							   .index = 1,
							   .len = 65536 };
	m.u.region_info_rep.full = true;
	m.u.region_info_rep.n_areas = 2;
	m.u.region_info_rep.areas[0] = (struct ism_vfu_area){ 0, 16384 };
	m.u.region_info_rep.areas[1] = (struct ism_vfu_area){ 32768, 16384 };
	vfu_save("vfu_s2c", "region-info-sparse", 4 | 0x20, &m);
	m.u.region_info_rep.full = false;
	m.u.region_info_rep.ri.argsz = 80;
	vfu_save("vfu_s2c", "region-info-short", 4, &m);
	H(VFU_GET_REGION_IO_FDS, rep);
	m.u.io_fds =
		(struct vfu_io_fds){ .argsz = 56, .count = 1, .full = true };
	m.u.io_fds.sub[0] = (struct vfu_io_fd_sub){ .offset = 0x100,
						    .len = 4,
						    .datamatch = 1 };
	vfu_save("vfu_s2c", "io-fds", 5 | 0x20, &m);
	H(VFU_GET_IRQ_INFO, rep);
	m.u.irq_info = (struct vfu_irq_info){ 16, 3, 2, 4 };
	vfu_save("vfu_s2c", "irq-info", 6, &m);
	H(VFU_REGION_READ, rep);
	m.u.region_rw = (struct vfu_region_rw){ 0x10, 0, 8, data };
	vfu_save("vfu_s2c", "region-read", 8, &m);
	H(VFU_REGION_WRITE, rep);
	vfu_save("vfu_s2c", "region-write", 9, &m);
	H(VFU_REGION_WRITE_MULTI, rep);
	m.u.wr_cnt = 2;
	vfu_save("vfu_s2c", "write-multi", 11, &m);
	H(VFU_DEVICE_FEATURE, rep);
	m.u.feature = (struct vfu_feature){ 16, (1u << 16) | 1, data, 8 };
	vfu_save("vfu_s2c", "feature-get", 12, &m);
	H(VFU_DMA_MAP, rep | VFU_F_ERROR);
	m.h.error = 17;
	vfu_save("vfu_s2c", "error", 1, &m);
	H(VFU_DMA_READ, cmd);
	m.u.dma_rw = (struct vfu_dma_rw){ .addr = 1ull << 32, .count = 8 };
	vfu_save("vfu_s2c", "dma-read", 0x80, &m);
	H(VFU_DMA_WRITE, cmd);
	m.u.dma_rw.data = data;
	vfu_save("vfu_s2c", "dma-write", 0x81, &m);

	/* vfio_user (vfio_user_fuzz.c): a client's stream after VERSION,
	 * with replies to the device's DMA where they will be read. */
	{
		static uint8_t st[8192];
		size_t len = 0;
		uint32_t v;

#define ADD()                                                                  \
	do {                                                                   \
		ssize_t n_ = vfu_msg_encode(&m, st + len, sizeof(st) - len);   \
		if (n_ < 0)                                                    \
			exit(1);                                               \
		len += (size_t)n_;                                             \
	} while (0)
#define WR32(region, off, val)                                                 \
	do {                                                                   \
		v = (val);                                                     \
		H(VFU_REGION_WRITE, cmd);                                      \
		m.u.region_rw = (struct vfu_region_rw){ (off), (region), 4,    \
							(uint8_t *)&v };       \
		ADD();                                                         \
	} while (0)
		H(VFU_GET_INFO, cmd);
		m.u.dev_info = (struct vfu_dev_info){ 16, 0, 0, 0 };
		ADD();
		H(VFU_GET_REGION_INFO, cmd);
		m.u.region_info =
			(struct vfu_region_info){ .argsz = 32, .index = 1 };
		ADD();
		m.u.region_info.argsz = 64;
		ADD();
		H(VFU_GET_IRQ_INFO, cmd);
		m.u.irq_info = (struct vfu_irq_info){ 16, 0, 2, 0 };
		ADD();
		H(VFU_REGION_READ, cmd);
		m.u.region_rw = (struct vfu_region_rw){ 0, 7, 64, NULL };
		ADD();
		WR32(7, 0x10, 0xffffffff);
		WR32(7, 0x30, 0xffffffff);
		WR32(7, 0x40, 0xc0000000);
		WR32(3, 12, 0);
		H(VFU_REGION_READ, cmd);
		m.u.region_rw = (struct vfu_region_rw){ 2048, 3, 8, NULL };
		ADD();
		H(VFU_DMA_MAP, cmd);
		m.u.dma_map =
			(struct vfu_dma_map){ 32, 3, 0, 0x10000, 0x10000 };
		ADD();
		WR32(0, 0, 0x10000);
		WR32(0, 4, 8);
		WR32(0, 8, 1); /* the device reads 8 bytes: DMA_READ id 0 */
		H(VFU_DMA_READ, rep);
		m.h.id = 0;
		m.u.dma_rw = (struct vfu_dma_rw){ .addr = 0x10000,
						  .count = 8,
						  .data = data };
		ADD();
		WR32(0, 12, 1);	      /* it writes them back: DMA_WRITE id 1 */
		H(VFU_GET_INFO, cmd); /* pipelined meanwhile: deferred */
		m.u.dev_info = (struct vfu_dev_info){ 16, 0, 0, 0 };
		ADD();
		H(VFU_DMA_WRITE, rep);
		m.h.id = 1;
		m.u.dma_rw = (struct vfu_dma_rw){ .addr = 0x10000, .count = 8 };
		ADD();
		H(VFU_SET_IRQS, cmd);
		m.u.set_irqs = (struct vfu_set_irqs){
			.flags = 0x12, .index = 2, .count = 4, .data = data
		};
		ADD();
		WR32(0, 16, 2u << 16 | 1);
		H(VFU_REGION_WRITE_MULTI, cmd);
		memset(&m.u, 0, sizeof(m.u));
		m.u.multi.wr_cnt = 2;
		m.u.multi.wr[0].offset = 0x100;
		m.u.multi.wr[0].region = 4;
		m.u.multi.wr[0].count = 4;
		m.u.multi.wr[1].offset = 0;
		m.u.multi.wr[1].region = 4;
		m.u.multi.wr[1].count = 1;
		ADD();
		H(VFU_DMA_UNMAP, cmd);
		m.u.dma_unmap =
			(struct vfu_dma_unmap){ 24, 0, 0x10000, 0x10000 };
		ADD();
		m.u.dma_unmap = (struct vfu_dma_unmap){ 24, 2, 0, 0 };
		ADD();
		H(VFU_DEVICE_RESET, cmd);
		ADD();
		H(VFU_DEVICE_FEATURE, cmd);
		m.u.feature =
			(struct vfu_feature){ 8, (1u << 18) | 1, NULL, 0 };
		ADD();
		save("vfio_user", "session", st, len);
#undef WR32
#undef ADD
	}
#undef H
}

/* vfio_user_client (lib/vfio_user_client/vfio_user_client_fuzz.c): the
 * server's script, a step per reply or command: op, fd kinds, le16
 * length, payload (a message from the encoder, header left off). */
static uint8_t cseq[1u << 16];
static size_t cseqlen;

static void cstep(uint8_t op, uint8_t fdkind, struct vfu_msg *m,
		  const void *raw, size_t n)
{
	static uint8_t b[8192];
	unsigned nfds = (op >> 3) & 7;

	if (m) {
		ssize_t k = vfu_msg_encode(m, b, sizeof(b));

		if (k < (ssize_t)VFU_HDR_SIZE) {
			fprintf(stderr, "gen-corpus: vfio_user_client: %zd\n",
				k);
			exit(1);
		}
		raw = b + VFU_HDR_SIZE;
		n = (size_t)k - VFU_HDR_SIZE;
	}
	if (cseqlen + 3 + nfds + n > sizeof(cseq))
		exit(1);
	cseq[cseqlen++] = op;
	for (unsigned i = 0; i < nfds; i++)
		cseq[cseqlen++] = fdkind;
	cseq[cseqlen++] = (uint8_t)n;
	cseq[cseqlen++] = (uint8_t)(n >> 8);
	if (n)
		memcpy(cseq + cseqlen, raw, n);
	cseqlen += n;
}

static void vfu_client_seeds(void)
{
	static const uint8_t data[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint8_t eio = 5, einval = 22, enotsup = 95;
	struct vfu_msg m = { 0 };
	/* op: 0 reply, 1 command (main), 2 command (twin); fds << 3;
	 * 0x40 error reply / DMA_WRITE. */
	const uint8_t rep = 0, err = 0x40, fd1 = 1 << 3;

#define R(c, f) (m.h = (struct vfu_hdr){ .cmd = (c), .flags = (f) })
	for (int twin = 1; twin >= 0; twin--) {
		cseqlen = 0;
		R(VFU_VERSION, VFU_F_REPLY);
		memset(&m.u, 0, sizeof(m.u));
		m.u.version.has_json = true;
		m.u.version.caps.present =
			VFU_CAP_OBJECT | VFU_CAP_MAX_MSG_FDS | VFU_CAP_MAX_XFER;
		m.u.version.caps.max_msg_fds = 8;
		m.u.version.caps.max_data_xfer = 4096;
		if (twin) {
			m.u.version.caps.present |= VFU_CAP_TWIN |
						    VFU_CAP_TWIN_SUP |
						    VFU_CAP_TWIN_INDEX;
			m.u.version.caps.twin_supported = true;
		}
		cstep(rep | (twin ? fd1 : 0), 4, &m, NULL, 0);
		R(VFU_GET_INFO, VFU_F_REPLY);
		m.u.dev_info = (struct vfu_dev_info){ 16, 3, 2, 1 };
		cstep(rep, 0, &m, NULL, 0);
		/* Region 0 by messages: read, write, a read answered with an
		 * error, no I/O fds. */
		R(VFU_GET_REGION_INFO, VFU_F_REPLY);
		memset(&m.u, 0, sizeof(m.u));
		m.u.region_info_rep.ri =
			(struct vfu_region_info){ 32, 3, 0, 0, 4096, 0 };
		m.u.region_info_rep.full = true;
		cstep(rep, 0, &m, NULL, 0);
		R(VFU_REGION_READ, VFU_F_REPLY);
		m.u.region_rw = (struct vfu_region_rw){ 0, 0, 64, data };
		cstep(rep, 0, &m, NULL, 0);
		R(VFU_REGION_WRITE, VFU_F_REPLY);
		m.u.region_rw = (struct vfu_region_rw){ 8, 0, 16, NULL };
		cstep(rep, 0, &m, NULL, 0);
		cstep(rep | err, 0, NULL, &eio, 1);
		cstep(rep | err, 0, NULL, &einval, 1);
		/* Region 1 mappable (a sealed memfd), the rest refused;
		 * with the twin, one sparse area, after a first reply that
		 * asks for a larger argsz. */
		R(VFU_GET_REGION_INFO, VFU_F_REPLY);
		memset(&m.u, 0, sizeof(m.u));
		m.u.region_info_rep.ri =
			(struct vfu_region_info){ 32, 7, 1, 0, 8192, 0 };
		if (twin) {
			m.u.region_info_rep.ri.argsz = 64;
			m.u.region_info_rep.ri.flags = 0xf;
			cstep(rep, 0, &m, NULL, 0);
			m.u.region_info_rep.n_areas = 1;
			m.u.region_info_rep.areas[0] =
				(struct ism_vfu_area){ 4096, 4096 };
		}
		m.u.region_info_rep.full = true;
		cstep(rep | fd1, 0, &m, NULL, 0);
		for (int i = 0; i < 4; i++)
			cstep(rep | err, 0, NULL, &eio, 1);
		/* IRQ 0: info, eventfd, none, mask. */
		R(VFU_GET_IRQ_INFO, VFU_F_REPLY);
		m.u.irq_info = (struct vfu_irq_info){ 16, 7, 0, 2 };
		cstep(rep, 0, &m, NULL, 0);
		for (int i = 0; i < 3; i++)
			cstep(rep, 0, NULL, NULL, 0);
		/* Two DMA windows; then the server's DMA on both. */
		cstep(rep, 0, NULL, NULL, 0);
		cstep(rep, 0, NULL, NULL, 0);
		R(VFU_DMA_READ, VFU_F_COMMAND);
		m.u.dma_rw = (struct vfu_dma_rw){ .addr = 0x10000, .count = 8 };
		cstep(twin ? 2 : 1, 0, &m, NULL, 0);
		R(VFU_DMA_WRITE, VFU_F_COMMAND);
		m.u.dma_rw = (struct vfu_dma_rw){ .addr = 0x10008,
						  .count = 8,
						  .data = data };
		cstep((twin ? 2 : 1) | 0x40, 0, &m, NULL, 0);
		R(VFU_DMA_READ, VFU_F_COMMAND);
		m.u.dma_rw =
			(struct vfu_dma_rw){ .addr = 0x40000, .count = 16 };
		cstep(1, 0, &m, NULL, 0);
		cstep(rep, 0, NULL, NULL, 0); /* reset */
		cstep(rep | err, 0, NULL, &enotsup, 1);
		R(VFU_DMA_UNMAP, VFU_F_REPLY);
		m.u.dma_unmap =
			(struct vfu_dma_unmap){ 24, 0, 0x10000, 0x10000 };
		cstep(rep, 0, &m, NULL, 0);
		m.u.dma_unmap =
			(struct vfu_dma_unmap){ 24, VFU_DMA_UNMAP_FLAG_ALL, 0,
						0 };
		cstep(rep, 0, &m, NULL, 0);
		save("vfio_user_client", twin ? "session-twin" : "session",
		     cseq, cseqlen);
	}
	/* A VERSION whose JSON is cut short. */
	cseqlen = 0;
	cstep(rep, 0, NULL, "\0\0\0\0{\"capabilities\": {\"max_msg_fds\"", 33);
	save("vfio_user_client", "version-cut", cseq, cseqlen);
#undef R
}

int main(int argc, char **argv)
{
	struct ism_hello_req hello = { .min_version = 1,
				       .max_version = 1,
				       .caps = ISM_CAPQ_CHECK,
				       .name = "seed" };
	struct ism_alloc_req alloc = { .size = 8192,
				       .max_access = ISM_ACCESS_RW,
				       .name = "seed" };
	struct ism_attach_req attach = { .access = ISM_ACCESS_RW };
	struct ism_notify_req notify = { .region = (2ull << 32) | 1,
					 .value = 5 };
	struct ism_read_req rd = { .region = (2ull << 32) | 1, .len = 64 };
	struct ism_write_req wr = { .region = (2ull << 32) | 1,
				    .offset = 8,
				    .len = 4,
				    .data = (const uint8_t *)"seed" };
	struct ism_list_req list = { .max = 16 };
	static struct ism_register_req reg;
	static struct ism_reattach_req rea;
	struct ism_status st = { .version = "0.1.0" };
	struct ism_alloc_rep arep = { .region = 1,
				      .size = 4096,
				      .page_size = 4096,
				      .max_access = ISM_ACCESS_RO };
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-corpus DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	table_seeds();
	ivchan_seeds();
	vfu_seeds();
	vfu_client_seeds();
	memset(attach.token, 0x41, sizeof(attach.token));
	reg.n = 1;
	reg.ent[0].region = 1;
	reg.ent[0].size = 16384;
	reg.ent[0].max_access = ISM_ACCESS_RO;
	rea.n = 1;
	rea.ent[0].region = 1;
	rea.ent[0].access = ISM_ACCESS_RO;
	memset(rea.ent[0].token, 0x41, sizeof(rea.ent[0].token));

	/* wire and proto: single messages. */
	n = MSG(ISM_MSG_HELLO, 0, ism_proto_put_hello_req(&w_, &hello));
	save("wire", "hello", msg, n);
	save("proto", "hello", msg, n);
	n = MSG(ISM_MSG_ALLOC, 0, ism_proto_put_alloc_req(&w_, &alloc));
	save("proto", "alloc", msg, n);
	n = MSG(ISM_MSG_ATTACH, 0, ism_proto_put_attach_req(&w_, &attach));
	save("proto", "attach", msg, n);
	n = MSG(ISM_MSG_WRITE, 0, ism_proto_put_write_req(&w_, &wr));
	save("proto", "write", msg, n);
	n = MSG(ISM_MSG_REGISTER, 0, ism_proto_put_register_req(&w_, &reg));
	save("proto", "register", msg, n);
	n = MSG(ISM_MSG_REATTACH, 0, ism_proto_put_reattach_req(&w_, &rea));
	save("proto", "reattach", msg, n);
	n = MSG(ISM_MSG_STATUS, ISM_WIRE_F_REPLY,
		ism_proto_put_status_rep(&w_, &st));
	save("proto", "status-rep", msg, n);
	save("wire", "status-rep", msg, n);
	n = MSG(ISM_MSG_ALLOC, ISM_WIRE_F_REPLY,
		ism_proto_put_alloc_rep(&w_, &arep));
	save("proto", "alloc-rep", msg, n);
	n = MSG(ISM_MSG_EV_NOTIFY, ISM_WIRE_F_EVENT,
		ism_proto_put_ev_notify(&w_, 1, 2, 3, 1));
	save("proto", "ev-notify", msg, n);
	n = MSG(ISM_MSG_EV_WATCH, ISM_WIRE_F_EVENT,
		ism_proto_put_ev_watch(&w_, 1, 0, 1, 2, 4096, 0, 1, "w"));
	save("proto", "ev-watch", msg, n);

	/* ring: a little program (mode, then ops; see ring_fuzz.c). */
	{
		/* clang-format off */
		static const uint8_t ring1[] = {
			0,		/* 4 KiB data, header intact */
			2, 100, 0,	/* honest message of 100 bytes */
			3,		/* peek + release */
			2, 0xff, 0x07,	/* a large one */
			4, 6, 5,	/* recv, consumed, arm */
			0, 200, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, /* scribble */
			3, 4,
			1, 0x10, 0, 0, 0, 0, 0, 0, 0, /* prod = 16 */
			3, 7, 4,
		};
		/* clang-format on */
		/* clang-format off */
		static const uint8_t ring2[] = {
			3, 17, 0xff, /* 8 KiB, corrupt a header byte */
			2, 50, 0, 3, 4, 6,
		};
		/* clang-format on */

		save("ring", "program", ring1, sizeof(ring1));
		save("ring", "bad-header", ring2, sizeof(ring2));
	}

	/* chan: [pages-1] then a real region (ring 4096) with messages. */
	{
		struct ism_chan_opts o = { .size = sizeof(o),
					   .ring_size = 4096 };
		struct ism_chan *ch;
		static uint8_t img[1 + 8192];
		uint8_t m[300] = { 0 };
		int fds[2];

		if (ism_chan_local_create(&o, &ch) < 0 ||
		    ism_chan_local_export(ch, fds) < 0) {
			fprintf(stderr, "gen-corpus: no channel\n");
			exit(1);
		}
		img[0] = 1;
		if (pread(fds[0], img + 1, 8192, 0) != 8192)
			exit(1);
		save("chan", "empty", img, sizeof(img));
		for (int i = 0; i < 5; i++)
			ism_chan_send(ch, m, (size_t)(i * 60), ISM_F_DONTWAIT);
		if (pread(fds[0], img + 1, 8192, 0) != 8192)
			exit(1);
		save("chan", "five-messages", img, sizeof(img));
		/* The same as a placed part: page 1 of 3, to the end. */
		img[0] = 1 | 0x08 | 0x10;
		save("chan", "placed", img, sizeof(img));
		img[0] = 1;
		ism_chan_shutdown(ch);
		if (pread(fds[0], img + 1, 8192, 0) != 8192)
			exit(1);
		save("chan", "closed", img, sizeof(img));
		close(fds[0]);
		close(fds[1]);
		ism_chan_close(ch);
	}

	/* vhost: a back-end's stream ([flags byte: 1 = a sealed memfd with
	 * the first header] then messages): map, write, read, unmap. */
	{
		static uint8_t stream[1 + 4 * 128];
		struct vhost_mmap mm = { .shm_offset = 4096, .len = 8192 };
		struct vhost_mem_rw rw = { .addr = (1ull << 32) + 4096,
					   .size = 4,
					   .data = (const uint8_t *)"seed" };
		size_t len = 1;
		struct ism_wbuf b;
		int vn;

#define VHOST_ADD(req, fl, put)                                                \
	do {                                                                   \
		vhost_msg_begin(&b, stream + len, sizeof(stream) - len, req,   \
				ISM_VHOST_USER_VERSION | (fl));                \
		put;                                                           \
		vn = vhost_msg_end(&b);                                        \
		if (vn > 0)                                                    \
			len += (size_t)vn;                                     \
	} while (0)
		stream[0] = 1;
		VHOST_ADD(ISM_VHOST_USER_BACKEND_SHMEM_MAP,
			  ISM_VHOST_USER_FLAG_NEED_REPLY,
			  vhost_put_mmap(&b, &mm));
		save("vhost", "map", stream, len);
		VHOST_ADD(ISM_VHOST_USER_BACKEND_MEM_WRITE,
			  ISM_VHOST_USER_FLAG_NEED_REPLY,
			  vhost_put_mem_rw(&b, &rw, true));
		VHOST_ADD(ISM_VHOST_USER_BACKEND_MEM_READ, 0,
			  vhost_put_mem_rw(&b, &rw, false));
		VHOST_ADD(ISM_VHOST_USER_BACKEND_SHMEM_UNMAP,
			  ISM_VHOST_USER_FLAG_NEED_REPLY,
			  vhost_put_mmap(&b, &mm));
		save("vhost", "map-rw-unmap", stream, len);
		stream[0] = 0; /* the same without an fd */
		save("vhost", "fd-less", stream, len);
#undef VHOST_ADD
	}

	/* vhost_peer (lib/vhost/vhost_peer_fuzz.c): [mode byte] then the
	 * other side's stream: a front-end's handshake for the back-end to
	 * serve, a back-end's handshake replies, a front-end's replies to
	 * SHMEM_MAP, MEM_READ, MEM_WRITE, MEM_READ (refused), SHMEM_UNMAP. */
	{
		static uint8_t stream[1 + 8 * 128 + 12 + 2056];
		static const uint8_t data64[64] = "the bytes a front-end read";
		static struct vhost_shmem_cfg cfg = {
			.n = 2, .size = { 16 * 4096, 0, 4 * 4096 }
		};
		const uint64_t pf =
			(1ull << ISM_VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			(1ull << ISM_VHOST_USER_PROTOCOL_F_BACKEND_REQ) |
			(1ull << ISM_VHOST_USER_PROTOCOL_F_SHMEM);
		const uint64_t feat =
			(1ull << 32) |
			(1ull << ISM_VHOST_USER_F_PROTOCOL_FEATURES);
		struct vhost_mem_rw mrd = { .addr = (1ull << 32) + 4096,
					    .size = 64,
					    .data = data64 };
		const uint32_t rfl = ISM_VHOST_USER_FLAG_REPLY;
		size_t plen = 1;
		struct ism_wbuf b;
		int pn;

#define VP_ADD(req, fl, put)                                                   \
	do {                                                                   \
		vhost_msg_begin(&b, stream + plen, sizeof(stream) - plen, req, \
				ISM_VHOST_USER_VERSION | (fl));                \
		put;                                                           \
		pn = vhost_msg_end(&b);                                        \
		if (pn > 0)                                                    \
			plen += (size_t)pn;                                    \
	} while (0)
		stream[0] = 0x04; /* serve, a socket on the first byte */
		VP_ADD(ISM_VHOST_USER_SET_BACKEND_REQ_FD, 0, (void)0);
		VP_ADD(ISM_VHOST_USER_GET_FEATURES, 0, (void)0);
		VP_ADD(ISM_VHOST_USER_GET_PROTOCOL_FEATURES, 0, (void)0);
		VP_ADD(ISM_VHOST_USER_SET_PROTOCOL_FEATURES, 0,
		       vhost_put_u64(&b, pf));
		VP_ADD(ISM_VHOST_USER_SET_FEATURES,
		       ISM_VHOST_USER_FLAG_NEED_REPLY, vhost_put_u64(&b, feat));
		VP_ADD(ISM_VHOST_USER_GET_SHMEM_CONFIG, 0, (void)0);
		save("vhost_peer", "serve", stream, plen);
		plen = 1;
		stream[0] = 0x71; /* the handshake, asking for all three */
		VP_ADD(ISM_VHOST_USER_GET_FEATURES, rfl,
		       vhost_put_u64(&b, feat));
		VP_ADD(ISM_VHOST_USER_GET_PROTOCOL_FEATURES, rfl,
		       vhost_put_u64(&b, pf));
		VP_ADD(ISM_VHOST_USER_SET_BACKEND_REQ_FD, rfl,
		       vhost_put_u64(&b, 0));
		VP_ADD(ISM_VHOST_USER_GET_SHMEM_CONFIG, rfl,
		       vhost_put_shmem_cfg(&b, &cfg));
		save("vhost_peer", "handshake", stream, plen);
		plen = 1;
		stream[0] = 0x12; /* the requests, with REPLY_ACK */
		VP_ADD(ISM_VHOST_USER_BACKEND_SHMEM_MAP, rfl,
		       vhost_put_u64(&b, 0));
		VP_ADD(ISM_VHOST_USER_BACKEND_MEM_READ, rfl,
		       vhost_put_mem_rw(&b, &mrd, true));
		VP_ADD(ISM_VHOST_USER_BACKEND_MEM_WRITE, rfl,
		       vhost_put_u64(&b, 0));
		VP_ADD(ISM_VHOST_USER_BACKEND_MEM_READ, rfl,
		       vhost_put_u64(&b, 14) /* EFAULT */);
		VP_ADD(ISM_VHOST_USER_BACKEND_SHMEM_UNMAP, rfl,
		       vhost_put_u64(&b, 0));
		save("vhost_peer", "requests", stream, plen);
#undef VP_ADD
	}

	/* ismd: a window, the victim's region mapped into it, confirmed,
	 * unmapped, the window destroyed. */
	{
		struct ism_win_create_req wc = { .size = 16 * 4096,
						 .max_access = ISM_ACCESS_RW,
						 .max_maps = 8 };
		struct ism_win_map_req wm = { .window = (2ull << 32) | 1,
					      .len = 4096,
					      .access = ISM_ACCESS_RO };
		struct ism_win_done_req wd = { .map = (2ull << 32) | 1,
					       .op = ISM_WIN_OP_MAP };

		memset(wm.token, 0x41, sizeof(wm.token));
		seq_start(0);
		seq_add(0, MSG(ISM_MSG_HELLO, 0,
			       ism_proto_put_hello_req(&w_, &hello)));
		seq_add(0, MSG(ISM_MSG_WIN_CREATE, 0,
			       ism_proto_put_win_create_req(&w_, &wc)));
		save("proto", "win-create", msg,
		     MSG(ISM_MSG_WIN_CREATE, 0,
			 ism_proto_put_win_create_req(&w_, &wc)));
		seq_add(0, MSG(ISM_MSG_WIN_MAP, 0,
			       ism_proto_put_win_map_req(&w_, &wm)));
		save("proto", "win-map", msg,
		     MSG(ISM_MSG_WIN_MAP, 0,
			 ism_proto_put_win_map_req(&w_, &wm)));
		seq_add(0, MSG(ISM_MSG_WIN_DONE, ISM_WIRE_F_NOREPLY,
			       ism_proto_put_win_done_req(&w_, &wd)));
		seq_add(0, MSG(ISM_MSG_WIN_UNMAP, 0,
			       ism_proto_put_region_req(&w_, wd.map)));
		wd.op = ISM_WIN_OP_UNMAP;
		seq_add(0, MSG(ISM_MSG_WIN_DONE, ISM_WIRE_F_NOREPLY,
			       ism_proto_put_win_done_req(&w_, &wd)));
		save("proto", "win-done", msg,
		     MSG(ISM_MSG_WIN_DONE, ISM_WIRE_F_NOREPLY,
			 ism_proto_put_win_done_req(&w_, &wd)));
		seq_add(0, MSG(ISM_MSG_WIN_MAP, 0,
			       ism_proto_put_win_map_req(&w_, &wm)));
		seq_add(0, MSG(ISM_MSG_WIN_DESTROY, 0,
			       ism_proto_put_region_req(&w_, wm.window)));
		save("ismd", "windows", seq, seqlen);
	}

	/* ismd: request sequences. */
	seq_start(0);
	seq_add(0, MSG(ISM_MSG_HELLO, 0, ism_proto_put_hello_req(&w_, &hello)));
	seq_add(0, MSG(ISM_MSG_ALLOC, 0, ism_proto_put_alloc_req(&w_, &alloc)));
	seq_add(0,
		MSG(ISM_MSG_NOTIFY, 0, ism_proto_put_notify_req(&w_, &notify)));
	seq_add(0, MSG(ISM_MSG_READ, 0, ism_proto_put_read_req(&w_, &rd)));
	seq_add(0, MSG(ISM_MSG_WRITE, 0, ism_proto_put_write_req(&w_, &wr)));
	seq_add(0, MSG(ISM_MSG_LIST_REGIONS, 0,
		       ism_proto_put_list_req(&w_, &list)));
	seq_add(0, MSG(ISM_MSG_DESTROY, 0,
		       ism_proto_put_region_req(&w_, notify.region)));
	save("ismd", "owner", seq, seqlen);

	seq_start(0); /* a region with a link and linger, then an attach */
	seq_add(0, MSG(ISM_MSG_HELLO, 0, ism_proto_put_hello_req(&w_, &hello)));
	alloc.flags = ISM_ALLOC_LINK | ISM_ALLOC_LINGER;
	seq_add(8, MSG(ISM_MSG_ALLOC, 0, ism_proto_put_alloc_req(&w_, &alloc)));
	alloc.flags = 0;
	seq_add(0,
		MSG(ISM_MSG_ATTACH, 0, ism_proto_put_attach_req(&w_, &attach)));
	save("ismd", "link", seq, seqlen);

	seq_start(1); /* administrator */
	seq_add(1, MSG(ISM_MSG_HELLO, 0,
		       (hello.flags = ISM_HELLO_F_DOORBELL,
			ism_proto_put_hello_req(&w_, &hello))));
	hello.flags = 0;
	seq_add(0,
		MSG(ISM_MSG_ATTACH, 0, ism_proto_put_attach_req(&w_, &attach)));
	seq_add(0,
		MSG(ISM_MSG_NOTIFY, 0, ism_proto_put_notify_req(&w_, &notify)));
	seq_add(0, MSG(ISM_MSG_STATUS, 0, (void)0));
	seq_add(0,
		MSG(ISM_MSG_LIST_PEERS, 0, ism_proto_put_list_req(&w_, &list)));
	seq_add(0, MSG(ISM_MSG_WATCH, 0, ism_proto_put_watch_req(&w_, 1)));
	seq_add(0, MSG(ISM_MSG_DETACH, 0,
		       ism_proto_put_region_req(&w_, notify.region)));
	save("ismd", "attacher", seq, seqlen);

	seq_start(2); /* resumed: recovery paths */
	seq_add(0, MSG(ISM_MSG_HELLO, 0, ism_proto_put_hello_req(&w_, &hello)));
	seq_add(2, MSG(ISM_MSG_REGISTER, 0,
		       ism_proto_put_register_req(&w_, &reg)));
	seq_add(0, MSG(ISM_MSG_REATTACH, 0,
		       ism_proto_put_reattach_req(&w_, &rea)));
	save("ismd", "recovery", seq, seqlen);

	/* Streams: a listener, a client intent for it, the claim by the
	 * accepted end, resolve, update, list, close (ismd_fuzz.c: ctl 16
	 * a bound socket, 16|32 the listener, 16|64 the accepted end). */
	{
		struct ism_stream_open_req lreq = {
			.role = ISM_STREAM_LISTENER
		};
		struct ism_stream_open_req creq = {
			.role = ISM_STREAM_CLIENT,
			.dst = { .family = AF_INET,
				 .port = 47613,
				 .addr = { 127, 0, 0, 1 } },
		};
		struct ism_stream_open_req sreq = { .role = ISM_STREAM_SERVER };
		struct ism_stream_update_req up = { .id = 2,
						    .path = ISM_STREAM_TCP,
						    .reason = ISM_SR_ERROR };
		struct ism_stream_rep srep = { .id = 1,
					       .partner = 2,
					       .path = ISM_STREAM_SHM };
		struct ism_stream_info info = {
			.id = 1,
			.peer = 2,
			.role = ISM_STREAM_CLIENT,
			.path = ISM_STREAM_TCP,
			.reason = ISM_SR_TIMEOUT,
			.local = creq.dst,
			.remote = creq.dst,
		};

		seq_start(0);
		seq_add(0, MSG(ISM_MSG_HELLO, 0,
			       ism_proto_put_hello_req(&w_, &hello)));
		seq_add(16 | 32,
			MSG(ISM_MSG_STREAM_OPEN, 0,
			    ism_proto_put_stream_open_req(&w_, &lreq)));
		seq_add(16, MSG(ISM_MSG_STREAM_OPEN, 0,
				ism_proto_put_stream_open_req(&w_, &creq)));
		seq_add(16 | 64,
			MSG(ISM_MSG_STREAM_OPEN, 0,
			    ism_proto_put_stream_open_req(&w_, &sreq)));
		seq_add(0, MSG(ISM_MSG_STREAM_CHECK, 0,
			       ism_proto_put_region_req(&w_, 2)));
		seq_add(0, MSG(ISM_MSG_STREAM_RESOLVE, 0,
			       ism_proto_put_region_req(&w_, 2)));
		seq_add(0, MSG(ISM_MSG_STREAM_UPDATE, ISM_WIRE_F_NOREPLY,
			       ism_proto_put_stream_update_req(&w_, &up)));
		seq_add(0, MSG(ISM_MSG_LIST_STREAMS, 0,
			       ism_proto_put_list_req(&w_, &list)));
		seq_add(0, MSG(ISM_MSG_STREAM_CLOSE, 0,
			       ism_proto_put_region_req(&w_, 1)));
		save("ismd", "streams", seq, seqlen);

		n = MSG(ISM_MSG_STREAM_OPEN, 0,
			ism_proto_put_stream_open_req(&w_, &creq));
		save("proto", "stream-open", msg, n);
		n = MSG(ISM_MSG_STREAM_UPDATE, 0,
			ism_proto_put_stream_update_req(&w_, &up));
		save("proto", "stream-update", msg, n);
		n = MSG(ISM_MSG_STREAM_OPEN, ISM_WIRE_F_REPLY,
			ism_proto_put_stream_rep(&w_, &srep));
		save("proto", "stream-rep", msg, n);
		n = MSG(ISM_MSG_LIST_STREAMS, ISM_WIRE_F_REPLY,
			ism_proto_put_streams_rep(&w_, 0, &info, 1));
		save("proto", "streams-rep", msg, n);
	}

	/* ivshmem: requests and replies; for ismd, a member's life in the
	 * fuzzer's domain "fuzz" (id 1). */
	{
		struct ism_ivsh_req ring = { .domain = 1, .a = 0, .b = 0 };
		struct ism_ivsh_req one = { .domain = 1 };
		struct ism_ivshmem_domain dom = { .id = 1,
						  .vectors = 2,
						  .peers = 1,
						  .max_peers = 4,
						  .flags = ISM_IVSHMEM_MAY_JOIN,
						  .size = 65536,
						  .name = "fuzz" };
		struct ism_ivshmem_peer ip = { .id = 3,
					       .kind = ISM_IVSHMEM_ISM,
					       .ism_peer = 2,
					       .age_ns = 9 };
		struct ism_ivsh_join_rep jr = { .domain = 1,
						.id = 3,
						.vectors = 2,
						.n = 2,
						.size = 65536 };

		seq_start(1); /* an administrator may join */
		seq_add(0, MSG(ISM_MSG_HELLO, 0,
			       ism_proto_put_hello_req(&w_, &hello)));
		seq_add(0, MSG(ISM_MSG_IVSH_LIST, 0, (void)0));
		seq_add(0, MSG(ISM_MSG_IVSH_JOIN, 0,
			       ism_proto_put_ivsh_join_req(&w_, "fuzz")));
		seq_add(0, MSG(ISM_MSG_IVSH_PEERS, 0,
			       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_PEERS,
						      &one)));
		seq_add(0, MSG(ISM_MSG_IVSH_RING, 0,
			       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_RING,
						      &ring)));
		seq_add(0, MSG(ISM_MSG_IVSH_LAYOUT, 0,
			       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_LAYOUT,
						      &one)));
		seq_add(0, MSG(ISM_MSG_IVSH_STATE, 0,
			       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_STATE,
						      &ring)));
		seq_add(0, MSG(ISM_MSG_IVSH_SECTIONS, 0,
			       ism_proto_put_ivsh_req(
				       &w_, ISM_MSG_IVSH_SECTIONS, &one)));
		seq_add(0, MSG(ISM_MSG_IVSH_LEAVE, 0,
			       ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_LEAVE,
						      &one)));
		save("ismd", "ivshmem", seq, seqlen);
		{
			struct ism_ivsh_layout_rep lr = { .layout = 2,
							  .state_size = 4096,
							  .output_size = 4096 };
			uint32_t ids[2] = { 1, 3 };

			n = MSG(ISM_MSG_IVSH_LAYOUT, ISM_WIRE_F_REPLY,
				ism_proto_put_ivsh_layout_rep(&w_, &lr));
			save("proto", "ivsh-layout-rep", msg, n);
			n = MSG(ISM_MSG_IVSH_SECTIONS, ISM_WIRE_F_REPLY,
				ism_proto_put_ivsh_sections_rep(&w_, ids, 2));
			save("proto", "ivsh-sections-rep", msg, n);
		}

		n = MSG(ISM_MSG_IVSH_RING, 0,
			ism_proto_put_ivsh_req(&w_, ISM_MSG_IVSH_RING, &ring));
		save("proto", "ivsh-ring", msg, n);
		n = MSG(ISM_MSG_IVSH_JOIN, 0,
			ism_proto_put_ivsh_join_req(&w_, "fuzz"));
		save("proto", "ivsh-join", msg, n);
		n = MSG(ISM_MSG_IVSH_LIST, ISM_WIRE_F_REPLY,
			ism_proto_put_ivsh_list_rep(&w_, &dom, 1));
		save("proto", "ivsh-list-rep", msg, n);
		n = MSG(ISM_MSG_IVSH_PEERS, ISM_WIRE_F_REPLY,
			ism_proto_put_ivsh_peers_rep(&w_, &ip, 1));
		save("proto", "ivsh-peers-rep", msg, n);
		n = MSG(ISM_MSG_IVSH_JOIN, ISM_WIRE_F_REPLY,
			ism_proto_put_ivsh_join_rep(&w_, &jr));
		save("proto", "ivsh-join-rep", msg, n);
	}

	/* handshake: the stream handshake's in-band messages (handshake_fuzz.c:
	 * one byte choosing the expected kind, then 64 bytes). */
	{
		uint8_t h[1 + HS_SIZE];
		struct hs_msg hs = { .kind = HS_OFFER,
				     .peer = 7,
				     .ring_size = 1u << 20 };

		memset(hs.host.b, 0x5a, sizeof(hs.host.b));
		memset(hs.token.b, 0x41, sizeof(hs.token.b));
		h[0] = HS_OFFER;
		hs_encode(h + 1, &hs);
		save("handshake", "offer", h, sizeof(h));
		hs.kind = HS_ANSWER;
		hs.status = ISM_SR_QUOTA;
		h[0] = HS_ANSWER;
		hs_encode(h + 1, &hs);
		save("handshake", "answer-declines", h, sizeof(h));
		hs.kind = HS_CONFIRM;
		hs.status = 0;
		h[0] = HS_CONFIRM;
		hs_encode(h + 1, &hs);
		save("handshake", "confirm", h, sizeof(h));
	}
	return 0;
}
