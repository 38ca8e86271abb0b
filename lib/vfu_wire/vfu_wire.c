/* SPDX-License-Identifier: MIT */
/*
 * vfio-user message codecs: one decoder and one encoder per command and
 * direction (docs/vfio-user.md lists every message with byte offsets).
 */
#include "vfu_wire.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = {
	[VFU_VERSION] = "VERSION",
	[VFU_DMA_MAP] = "DMA_MAP",
	[VFU_DMA_UNMAP] = "DMA_UNMAP",
	[VFU_GET_INFO] = "DEVICE_GET_INFO",
	[VFU_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[VFU_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[VFU_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[VFU_SET_IRQS] = "DEVICE_SET_IRQS",
	[VFU_REGION_READ] = "REGION_READ",
	[VFU_REGION_WRITE] = "REGION_WRITE",
	[VFU_DMA_READ] = "DMA_READ",
	[VFU_DMA_WRITE] = "DMA_WRITE",
	[VFU_DEVICE_RESET] = "DEVICE_RESET",
	[VFU_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
	[VFU_DEVICE_FEATURE] = "DEVICE_FEATURE",
	[VFU_MIG_DATA_READ] = "MIG_DATA_READ",
	[VFU_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *vfu_cmd_name(uint32_t cmd)
{
	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "?";
}

void vfu_hdr_put(struct ism_wbuf *b, const struct vfu_hdr *h)
{
	ism_wbuf_le16(b, h->id);
	ism_wbuf_le16(b, h->cmd);
	ism_wbuf_le32(b, h->size);
	ism_wbuf_le32(b, h->flags);
	ism_wbuf_le32(b, h->error);
}

int vfu_hdr_get(const uint8_t p[VFU_HDR_SIZE], struct vfu_hdr *h)
{
	struct ism_rbuf b;
	uint32_t type;

	ism_rbuf_init(&b, p, VFU_HDR_SIZE);
	h->id = ism_rbuf_le16(&b);
	h->cmd = ism_rbuf_le16(&b);
	h->size = ism_rbuf_le32(&b);
	h->flags = ism_rbuf_le32(&b);
	h->error = ism_rbuf_le32(&b);
	type = h->flags & VFU_F_TYPE_MASK;
	if (h->size < VFU_HDR_SIZE || type > VFU_F_REPLY ||
	    (h->flags & ~(VFU_F_TYPE_MASK | VFU_F_NO_REPLY | VFU_F_ERROR)))
		return -EBADMSG;
	if (type == VFU_F_COMMAND && (h->flags & VFU_F_ERROR))
		return -EBADMSG;
	if (type == VFU_F_REPLY && (h->flags & VFU_F_NO_REPLY))
		return -EBADMSG;
	return 0;
}

size_t vfu_error_reply(uint8_t buf[VFU_HDR_SIZE], uint16_t id, uint16_t cmd,
		       int err)
{
	struct vfu_hdr h = { .id = id,
			     .cmd = cmd,
			     .size = VFU_HDR_SIZE,
			     .flags = VFU_F_REPLY | VFU_F_ERROR,
			     .error = (uint32_t)(err < 0 ? -err : err) };
	struct ism_wbuf b;

	ism_wbuf_init(&b, buf, VFU_HDR_SIZE);
	vfu_hdr_put(&b, &h);
	return VFU_HDR_SIZE;
}

static bool add_ok(uint64_t a, uint64_t b)
{
	uint64_t s;

	return !__builtin_add_overflow(a, b, &s);
}

/* ---- VERSION ------------------------------------------------------------- */

static int dec_version(struct ism_rbuf *b, struct vfu_version *v)
{
	size_t n;
	const uint8_t *j;

	v->major = ism_rbuf_le16(b);
	v->minor = ism_rbuf_le16(b);
	if (b->err)
		return b->err;
	n = ism_rbuf_left(b);
	memset(&v->caps, 0, sizeof(v->caps));
	v->has_json = n > 0;
	if (!n)
		return 0;
	/* The JSON with its terminating NUL, and no NUL before it. */
	if (n > VFU_MAX_JSON)
		return -EINVAL;
	j = ism_rbuf_ptr(b, n);
	if (!j || j[n - 1] != '\0' || memchr(j, '\0', n - 1))
		return -EINVAL;
	return vfu_caps_parse((const char *)j, n - 1, &v->caps);
}

static void enc_version(struct ism_wbuf *b, const struct vfu_version *v)
{
	char json[VFU_MAX_JSON];
	int n;

	ism_wbuf_le16(b, v->major);
	ism_wbuf_le16(b, v->minor);
	if (!v->has_json)
		return;
	n = vfu_caps_format(json, sizeof(json), &v->caps);
	if (n < 0) {
		b->err = n;
		return;
	}
	ism_wbuf_bytes(b, json, (size_t)n + 1);
}

/* ---- regions ---------------------------------------------------------------- */

static void dec_region_info(struct ism_rbuf *b, struct vfu_region_info *r)
{
	r->argsz = ism_rbuf_le32(b);
	r->flags = ism_rbuf_le32(b);
	r->index = ism_rbuf_le32(b);
	r->cap_offset = ism_rbuf_le32(b);
	r->len = ism_rbuf_le64(b);
	r->offset = ism_rbuf_le64(b);
}

static void enc_region_info(struct ism_wbuf *b, const struct vfu_region_info *r)
{
	ism_wbuf_le32(b, r->argsz);
	ism_wbuf_le32(b, r->flags);
	ism_wbuf_le32(b, r->index);
	ism_wbuf_le32(b, r->cap_offset);
	ism_wbuf_le64(b, r->len);
	ism_wbuf_le64(b, r->offset);
}

#define REGION_INFO_FLAGS                                                      \
	(ISM_VFU_REGION_INFO_READ | ISM_VFU_REGION_INFO_WRITE |                \
	 ISM_VFU_REGION_INFO_MMAP | ISM_VFU_REGION_INFO_CAPS)

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64_at(const uint8_t *p)
{
	return (uint64_t)le32_at(p) | (uint64_t)le32_at(p + 4) << 32;
}

/*
 * The reply's capability chain, @p being the whole payload of @n bytes:
 * every header inside the payload, offsets strictly increasing (no loop),
 * at most VFU_MAX_REGION_CAPS of them, the sparse areas inside the payload
 * and inside the region.
 */
static int dec_region_caps(const uint8_t *p, size_t n,
			   struct vfu_region_info_reply *r)
{
	uint64_t off = r->ri.cap_offset;
	bool sparse = false;

	if (off < VFU_REGION_INFO_SIZE)
		return -EINVAL;
	for (unsigned i = 0; off; i++) {
		uint16_t id, ver;
		uint32_t next;

		if (i == VFU_MAX_REGION_CAPS || off > n ||
		    n - off < VFU_CAP_HDR_SIZE)
			return -EINVAL;
		id = (uint16_t)(p[off] | p[off + 1] << 8);
		ver = (uint16_t)(p[off + 2] | p[off + 3] << 8);
		next = le32_at(p + off + 4);
		if (id == VFU_CAP_SPARSE_MMAP) {
			uint32_t nr;

			if (sparse || ver != 1 ||
			    n - off < VFU_SPARSE_AREAS_OFFSET)
				return -EINVAL;
			nr = le32_at(p + off + 8);
			if (nr > ISM_VFU_MAX_AREAS ||
			    (n - off - VFU_SPARSE_AREAS_OFFSET) / 16 < nr)
				return -EINVAL;
			for (uint32_t k = 0; k < nr; k++) {
				const uint8_t *a = p + off +
						   VFU_SPARSE_AREAS_OFFSET +
						   16 * k;
				struct ism_vfu_area *ar = &r->areas[k];

				ar->offset = le64_at(a);
				ar->len = le64_at(a + 8);
				if (!ar->len || !add_ok(ar->offset, ar->len) ||
				    ar->offset + ar->len > r->ri.len)
					return -EINVAL;
			}
			r->n_areas = nr;
			sparse = true;
		} else if (id == VFU_CAP_TYPE) {
			if (r->has_type || n - off < VFU_CAP_HDR_SIZE + 8)
				return -EINVAL;
			r->type = le32_at(p + off + 8);
			r->subtype = le32_at(p + off + 12);
			r->has_type = true;
		}
		if (next && next <= off)
			return -EINVAL;
		off = next;
	}
	return 0;
}

static int dec_region_info_reply(struct ism_rbuf *b, const uint8_t *p, size_t n,
				 unsigned nfds, struct vfu_region_info_reply *r)
{
	dec_region_info(b, &r->ri);
	if (b->err)
		return b->err;
	if ((r->ri.flags & ~REGION_INFO_FLAGS) || r->ri.argsz < n || nfds > 1 ||
	    (nfds && !(r->ri.flags & ISM_VFU_REGION_INFO_MMAP)))
		return -EINVAL;
	r->n_areas = 0;
	r->has_type = false;
	r->full = r->ri.argsz == n;
	if (n == VFU_REGION_INFO_SIZE) {
		/* The fixed part alone: no caps in it.  When argsz says more is
		 * needed, the client asks again with that argsz. */
		if (r->full && (r->ri.flags & ISM_VFU_REGION_INFO_CAPS))
			return -EINVAL;
		b->off = b->len;
		return 0;
	}
	/* A longer reply is the full one, with its caps. */
	if (!r->full || !(r->ri.flags & ISM_VFU_REGION_INFO_CAPS))
		return -EINVAL;
	b->off = b->len;
	return dec_region_caps(p, n, r);
}

static void enc_region_info_reply(struct ism_wbuf *b,
				  const struct vfu_region_info_reply *r)
{
	struct vfu_region_info ri = r->ri;
	uint32_t sparse_len = 0, caps;

	if (!r->full || (!r->n_areas && !r->has_type)) {
		enc_region_info(b, &ri);
		return;
	}
	if (r->n_areas)
		sparse_len = VFU_SPARSE_AREAS_OFFSET + 16 * r->n_areas;
	caps = sparse_len + (r->has_type ? VFU_CAP_HDR_SIZE + 8 : 0);
	ri.argsz = VFU_REGION_INFO_SIZE + caps;
	ri.cap_offset = VFU_REGION_INFO_SIZE;
	ri.flags |= ISM_VFU_REGION_INFO_CAPS;
	enc_region_info(b, &ri);
	if (r->n_areas) {
		ism_wbuf_le16(b, VFU_CAP_SPARSE_MMAP);
		ism_wbuf_le16(b, 1);
		ism_wbuf_le32(b, r->has_type ? VFU_REGION_INFO_SIZE + sparse_len
					     : 0);
		ism_wbuf_le32(b, r->n_areas);
		ism_wbuf_le32(b, 0);
		for (uint32_t i = 0; i < r->n_areas; i++) {
			ism_wbuf_le64(b, r->areas[i].offset);
			ism_wbuf_le64(b, r->areas[i].len);
		}
	}
	if (r->has_type) {
		ism_wbuf_le16(b, VFU_CAP_TYPE);
		ism_wbuf_le16(b, 1);
		ism_wbuf_le32(b, 0);
		ism_wbuf_le32(b, r->type);
		ism_wbuf_le32(b, r->subtype);
	}
}

static int dec_io_fds_reply(struct ism_rbuf *b, size_t n, unsigned nfds,
			    struct vfu_io_fds *f)
{
	f->argsz = ism_rbuf_le32(b);
	f->flags = ism_rbuf_le32(b);
	f->index = ism_rbuf_le32(b);
	f->count = ism_rbuf_le32(b);
	if (b->err)
		return b->err;
	f->full = n > 16 || !f->count;
	if (f->flags || f->count > VFU_MAX_IO_FDS || f->argsz < n)
		return -EINVAL;
	if (n == 16) {
		/* No entries: none there, or argsz was too small for them. */
		if (nfds || (f->count && f->argsz == n))
			return -EINVAL;
		return 0;
	}
	if (n != 16 + (size_t)VFU_IO_FD_SUB_SIZE * f->count || !nfds ||
	    f->argsz != n)
		return -EINVAL;
	for (uint32_t i = 0; i < f->count; i++) {
		struct vfu_io_fd_sub *s = &f->sub[i];

		s->offset = ism_rbuf_le64(b);
		s->len = ism_rbuf_le64(b);
		s->fd_index = ism_rbuf_le32(b);
		s->type = ism_rbuf_le32(b);
		s->flags = ism_rbuf_le32(b);
		s->padding = ism_rbuf_le32(b);
		s->datamatch = ism_rbuf_le64(b);
		if (s->fd_index >= nfds || s->type > 1 || s->padding ||
		    !add_ok(s->offset, s->len))
			return -EINVAL;
	}
	return 0;
}

static void enc_io_fds(struct ism_wbuf *b, const struct vfu_io_fds *f,
		       bool reply)
{
	ism_wbuf_le32(b, f->argsz);
	ism_wbuf_le32(b, f->flags);
	ism_wbuf_le32(b, f->index);
	ism_wbuf_le32(b, f->count);
	if (!reply || !f->full)
		return;
	for (uint32_t i = 0; i < f->count && i < VFU_MAX_IO_FDS; i++) {
		const struct vfu_io_fd_sub *s = &f->sub[i];

		ism_wbuf_le64(b, s->offset);
		ism_wbuf_le64(b, s->len);
		ism_wbuf_le32(b, s->fd_index);
		ism_wbuf_le32(b, s->type);
		ism_wbuf_le32(b, s->flags);
		ism_wbuf_le32(b, s->padding);
		ism_wbuf_le64(b, s->datamatch);
	}
}

/* ---- four-u32 structs (GET_INFO, GET_IRQ_INFO, GET_REGION_IO_FDS) ------ */

static void dec4(struct ism_rbuf *b, uint32_t v[4])
{
	for (int i = 0; i < 4; i++)
		v[i] = ism_rbuf_le32(b);
}

static void enc4(struct ism_wbuf *b, uint32_t a, uint32_t c, uint32_t d,
		 uint32_t e)
{
	ism_wbuf_le32(b, a);
	ism_wbuf_le32(b, c);
	ism_wbuf_le32(b, d);
	ism_wbuf_le32(b, e);
}

/* ---- SET_IRQS ------------------------------------------------------------ */

#define IRQ_DATA                                                               \
	(ISM_VFU_IRQ_SET_DATA_NONE | ISM_VFU_IRQ_SET_DATA_BOOL |               \
	 ISM_VFU_IRQ_SET_DATA_EVENTFD)
#define IRQ_ACTION                                                             \
	(ISM_VFU_IRQ_SET_ACTION_MASK | ISM_VFU_IRQ_SET_ACTION_UNMASK |         \
	 ISM_VFU_IRQ_SET_ACTION_TRIGGER)

static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int dec_set_irqs(struct ism_rbuf *b, size_t n, unsigned nfds,
			struct vfu_set_irqs *s)
{
	size_t data;

	s->argsz = ism_rbuf_le32(b);
	s->flags = ism_rbuf_le32(b);
	s->index = ism_rbuf_le32(b);
	s->start = ism_rbuf_le32(b);
	s->count = ism_rbuf_le32(b);
	s->data = NULL;
	if (b->err)
		return b->err;
	data = ism_rbuf_left(b);
	if (s->argsz != n || (s->flags & ~(IRQ_DATA | IRQ_ACTION)) ||
	    !one_bit(s->flags & IRQ_DATA) || !one_bit(s->flags & IRQ_ACTION) ||
	    s->count > VFU_MAX_IRQS_DATA || s->start > VFU_MAX_IRQS_DATA)
		return -EINVAL;
	/* count 0 (start 0) with DATA_NONE: the whole index; else none. */
	if (!s->count && (!(s->flags & ISM_VFU_IRQ_SET_DATA_NONE) || s->start))
		return -EINVAL;
	if (s->flags & ISM_VFU_IRQ_SET_DATA_BOOL) {
		if (data != s->count || nfds)
			return -EINVAL;
		s->data = ism_rbuf_ptr(b, data);
	} else if (s->flags & ISM_VFU_IRQ_SET_DATA_EVENTFD) {
		/* count fds to assign, or none to de-assign. */
		if (data || (nfds && nfds != s->count))
			return -EINVAL;
	} else if (data || nfds) {
		return -EINVAL;
	}
	return 0;
}

/* ---- DEVICE_FEATURE ------------------------------------------------------ */

static int dec_feature(struct ism_rbuf *b, struct vfu_feature *f, bool reply)
{
	uint32_t rw;

	f->argsz = ism_rbuf_le32(b);
	f->flags = ism_rbuf_le32(b);
	if (b->err)
		return b->err;
	f->data_len = (uint32_t)ism_rbuf_left(b);
	if (f->data_len > VFU_MAX_FEATURE)
		return -EINVAL;
	f->data = ism_rbuf_ptr(b, f->data_len);
	rw = f->flags & (VFU_FEATURE_GET | VFU_FEATURE_SET);
	if (f->flags & ~(VFU_FEATURE_MASK | VFU_FEATURE_GET | VFU_FEATURE_SET |
			 VFU_FEATURE_PROBE))
		return -EINVAL;
	/* GET and SET exclude each other, except when probing. */
	if (rw == (VFU_FEATURE_GET | VFU_FEATURE_SET) &&
	    !(f->flags & VFU_FEATURE_PROBE))
		return -EINVAL;
	if (!reply && f->argsz < 8)
		return -EINVAL;
	return 0;
}

/* ---- the dispatch ---------------------------------------------------------- */

static int dec_request(struct vfu_msg *m, struct ism_rbuf *b, size_t n,
		       unsigned nfds)
{
	uint32_t v[4];
	int err = 0;

	/* Only DMA_MAP and SET_IRQS requests carry fds. */
	if (nfds && m->h.cmd != VFU_DMA_MAP && m->h.cmd != VFU_SET_IRQS)
		return -EINVAL;
	switch (m->h.cmd) {
	case VFU_VERSION: err = dec_version(b, &m->u.version); break;
	case VFU_DMA_MAP: {
		struct vfu_dma_map *d = &m->u.dma_map;

		d->argsz = ism_rbuf_le32(b);
		d->flags = ism_rbuf_le32(b);
		d->offset = ism_rbuf_le64(b);
		d->addr = ism_rbuf_le64(b);
		d->len = ism_rbuf_le64(b);
		if (!b->err &&
		    (d->argsz != 32 || n != 32 || nfds > 1 ||
		     (d->flags & ~(ISM_VFU_DMA_READ | ISM_VFU_DMA_WRITE)) ||
		     !d->len || !add_ok(d->addr, d->len) ||
		     !add_ok(d->offset, d->len)))
			err = -EINVAL;
		break;
	}
	case VFU_DMA_UNMAP: {
		struct vfu_dma_unmap *d = &m->u.dma_unmap;

		d->argsz = ism_rbuf_le32(b);
		d->flags = ism_rbuf_le32(b);
		d->addr = ism_rbuf_le64(b);
		d->len = ism_rbuf_le64(b);
		if (b->err)
			break;
		/* argsz: room for the reply, which echoes these 24 bytes. */
		if (d->argsz < 24 || (d->flags & ~VFU_DMA_UNMAP_FLAG_ALL))
			err = -EINVAL;
		else if (d->flags & VFU_DMA_UNMAP_FLAG_ALL)
			err = d->addr || d->len ? -EINVAL : 0;
		else
			err = d->len && add_ok(d->addr, d->len) ? 0 : -EINVAL;
		break;
	}
	case VFU_GET_INFO:
	case VFU_GET_IRQ_INFO:
	case VFU_GET_REGION_IO_FDS:
		dec4(b, v);
		if (b->err)
			break;
		/* argsz: at least the fixed reply; the rest as the spec says
		 * (GET_INFO: all zero; the others: an index, the rest zero). */
		if (v[0] < 16 || v[1] || v[3] ||
		    (m->h.cmd == VFU_GET_INFO && v[2]))
			err = -EINVAL;
		if (m->h.cmd == VFU_GET_INFO) {
			m->u.dev_info =
				(struct vfu_dev_info){ v[0], v[1], v[2], v[3] };
		} else if (m->h.cmd == VFU_GET_IRQ_INFO) {
			m->u.irq_info =
				(struct vfu_irq_info){ v[0], v[1], v[2], v[3] };
		} else {
			m->u.io_fds.argsz = v[0];
			m->u.io_fds.flags = v[1];
			m->u.io_fds.index = v[2];
			m->u.io_fds.count = v[3];
		}
		break;
	case VFU_GET_REGION_INFO: {
		struct vfu_region_info *r = &m->u.region_info;

		dec_region_info(b, r);
		if (!b->err && (r->argsz < VFU_REGION_INFO_SIZE || r->flags ||
				r->cap_offset || r->len || r->offset))
			err = -EINVAL;
		break;
	}
	case VFU_SET_IRQS:
		err = dec_set_irqs(b, n, nfds, &m->u.set_irqs);
		break;
	case VFU_REGION_READ:
	case VFU_REGION_WRITE: {
		struct vfu_region_rw *r = &m->u.region_rw;

		r->offset = ism_rbuf_le64(b);
		r->region = ism_rbuf_le32(b);
		r->count = ism_rbuf_le32(b);
		r->data = NULL;
		if (b->err)
			break;
		if (!r->count || !add_ok(r->offset, r->count))
			err = -EINVAL;
		else if (m->h.cmd == VFU_REGION_WRITE)
			r->data = ism_rbuf_ptr(b, r->count);
		break;
	}
	case VFU_DMA_READ:
	case VFU_DMA_WRITE: {
		struct vfu_dma_rw *d = &m->u.dma_rw;

		d->addr = ism_rbuf_le64(b);
		d->count = ism_rbuf_le64(b);
		d->data = NULL;
		d->short_count = false;
		if (b->err)
			break;
		if (!d->count || d->count > VFU_MAX_XFER ||
		    !add_ok(d->addr, d->count))
			err = -EINVAL;
		else if (m->h.cmd == VFU_DMA_WRITE)
			d->data = ism_rbuf_ptr(b, (size_t)d->count);
		break;
	}
	case VFU_DEVICE_RESET: break;
	case VFU_REGION_WRITE_MULTI: {
		struct vfu_write_multi *w = &m->u.multi;

		w->wr_cnt = ism_rbuf_le64(b);
		if (b->err)
			break;
		if (!w->wr_cnt || w->wr_cnt > VFU_MAX_MULTI ||
		    ism_rbuf_left(b) != w->wr_cnt * VFU_MULTI_ENTRY_SIZE) {
			err = -EINVAL;
			break;
		}
		for (uint64_t i = 0; i < w->wr_cnt; i++) {
			w->wr[i].offset = ism_rbuf_le64(b);
			w->wr[i].region = ism_rbuf_le32(b);
			w->wr[i].count = ism_rbuf_le32(b);
			ism_rbuf_bytes(b, w->wr[i].data, 8);
			if (!w->wr[i].count || w->wr[i].count > 8 ||
			    !add_ok(w->wr[i].offset, w->wr[i].count))
				err = -EINVAL;
		}
		break;
	}
	case VFU_DEVICE_FEATURE:
		err = dec_feature(b, &m->u.feature, false);
		break;
	case VFU_MIG_DATA_READ:
	case VFU_MIG_DATA_WRITE: {
		struct vfu_mig_data *d = &m->u.mig;

		d->argsz = ism_rbuf_le32(b);
		d->size = ism_rbuf_le32(b);
		d->data = NULL;
		if (b->err)
			break;
		if (m->h.cmd == VFU_MIG_DATA_WRITE) {
			if (ism_rbuf_left(b) != d->size)
				err = -EINVAL;
			else
				d->data = ism_rbuf_ptr(b, d->size);
		}
		break;
	}
	default: return -EOPNOTSUPP;
	}
	if (err)
		return err;
	return ism_rbuf_end(b);
}

static int dec_reply(struct vfu_msg *m, struct ism_rbuf *b, const uint8_t *p,
		     size_t n, unsigned nfds)
{
	uint32_t v[4];
	int err = 0;

	if (nfds && m->h.cmd != VFU_VERSION &&
	    m->h.cmd != VFU_GET_REGION_INFO &&
	    m->h.cmd != VFU_GET_REGION_IO_FDS)
		return -EINVAL;
	switch (m->h.cmd) {
	case VFU_VERSION:
		if (nfds > VFU_MAX_FDS)
			return -EINVAL;
		err = dec_version(b, &m->u.version);
		break;
	case VFU_DMA_MAP:
	case VFU_SET_IRQS:
	case VFU_DEVICE_RESET:
	case VFU_MIG_DATA_WRITE: break;
	case VFU_DMA_UNMAP: {
		struct vfu_dma_unmap *d = &m->u.dma_unmap;

		d->argsz = ism_rbuf_le32(b);
		d->flags = ism_rbuf_le32(b);
		d->addr = ism_rbuf_le64(b);
		d->len = ism_rbuf_le64(b);
		break;
	}
	case VFU_GET_INFO:
	case VFU_GET_IRQ_INFO:
		dec4(b, v);
		if (b->err)
			break;
		if (v[0] < 16)
			err = -EINVAL;
		if (m->h.cmd == VFU_GET_INFO) {
			m->u.dev_info =
				(struct vfu_dev_info){ v[0], v[1], v[2], v[3] };
			if (v[1] & ~(ISM_VFU_DEVICE_FLAGS_RESET |
				     ISM_VFU_DEVICE_FLAGS_PCI))
				err = -EINVAL;
		} else {
			m->u.irq_info =
				(struct vfu_irq_info){ v[0], v[1], v[2], v[3] };
			if (v[1] & ~0xfu)
				err = -EINVAL;
		}
		break;
	case VFU_GET_REGION_INFO:
		err = dec_region_info_reply(b, p, n, nfds,
					    &m->u.region_info_rep);
		break;
	case VFU_GET_REGION_IO_FDS:
		err = dec_io_fds_reply(b, n, nfds, &m->u.io_fds);
		break;
	case VFU_REGION_READ:
	case VFU_REGION_WRITE: {
		struct vfu_region_rw *r = &m->u.region_rw;

		r->offset = ism_rbuf_le64(b);
		r->region = ism_rbuf_le32(b);
		r->count = ism_rbuf_le32(b);
		r->data = NULL;
		if (b->err || m->h.cmd == VFU_REGION_WRITE)
			break;
		if (ism_rbuf_left(b) != r->count)
			err = -EINVAL;
		else
			r->data = ism_rbuf_ptr(b, r->count);
		break;
	}
	case VFU_DMA_READ:
	case VFU_DMA_WRITE: {
		struct vfu_dma_rw *d = &m->u.dma_rw;

		d->data = NULL;
		d->short_count = false;
		d->addr = ism_rbuf_le64(b);
		if (m->h.cmd == VFU_DMA_WRITE && n == 12) {
			d->count = ism_rbuf_le32(b);
			d->short_count = true;
			break;
		}
		d->count = ism_rbuf_le64(b);
		if (b->err || m->h.cmd == VFU_DMA_WRITE)
			break;
		if (ism_rbuf_left(b) != d->count || d->count > VFU_MAX_XFER)
			err = -EINVAL;
		else
			d->data = ism_rbuf_ptr(b, (size_t)d->count);
		break;
	}
	case VFU_REGION_WRITE_MULTI: m->u.wr_cnt = ism_rbuf_le64(b); break;
	case VFU_DEVICE_FEATURE:
		err = dec_feature(b, &m->u.feature, true);
		break;
	case VFU_MIG_DATA_READ: {
		struct vfu_mig_data *d = &m->u.mig;

		d->argsz = ism_rbuf_le32(b);
		d->size = ism_rbuf_le32(b);
		d->data = NULL;
		if (b->err)
			break;
		if (ism_rbuf_left(b) != d->size)
			err = -EINVAL;
		else
			d->data = ism_rbuf_ptr(b, d->size);
		break;
	}
	default: return -EOPNOTSUPP;
	}
	if (err)
		return err;
	return ism_rbuf_end(b);
}

int vfu_msg_decode(struct vfu_msg *m, const uint8_t *p, size_t n, unsigned nfds)
{
	struct ism_rbuf b;

	if ((size_t)m->h.size != VFU_HDR_SIZE + n)
		return -EBADMSG;
	ism_rbuf_init(&b, p, n);
	if ((m->h.flags & VFU_F_TYPE_MASK) == VFU_F_COMMAND)
		return dec_request(m, &b, n, nfds);
	if (m->h.flags & VFU_F_ERROR) {
		if (m->h.cmd == 0 || m->h.cmd > VFU_CMD_MAX)
			return -EOPNOTSUPP;
		return n || nfds ? -EBADMSG : 0;
	}
	return dec_reply(m, &b, p, n, nfds);
}

static void enc_request(struct ism_wbuf *b, const struct vfu_msg *m)
{
	const struct vfu_dma_rw *d = &m->u.dma_rw;
	const struct vfu_region_rw *r = &m->u.region_rw;

	switch (m->h.cmd) {
	case VFU_VERSION: enc_version(b, &m->u.version); break;
	case VFU_DMA_MAP:
		ism_wbuf_le32(b, m->u.dma_map.argsz);
		ism_wbuf_le32(b, m->u.dma_map.flags);
		ism_wbuf_le64(b, m->u.dma_map.offset);
		ism_wbuf_le64(b, m->u.dma_map.addr);
		ism_wbuf_le64(b, m->u.dma_map.len);
		break;
	case VFU_DMA_UNMAP:
		ism_wbuf_le32(b, m->u.dma_unmap.argsz);
		ism_wbuf_le32(b, m->u.dma_unmap.flags);
		ism_wbuf_le64(b, m->u.dma_unmap.addr);
		ism_wbuf_le64(b, m->u.dma_unmap.len);
		break;
	case VFU_GET_INFO:
		enc4(b, m->u.dev_info.argsz, m->u.dev_info.flags,
		     m->u.dev_info.num_regions, m->u.dev_info.num_irqs);
		break;
	case VFU_GET_IRQ_INFO:
		enc4(b, m->u.irq_info.argsz, m->u.irq_info.flags,
		     m->u.irq_info.index, m->u.irq_info.count);
		break;
	case VFU_GET_REGION_IO_FDS: enc_io_fds(b, &m->u.io_fds, false); break;
	case VFU_GET_REGION_INFO: enc_region_info(b, &m->u.region_info); break;
	case VFU_SET_IRQS: {
		const struct vfu_set_irqs *s = &m->u.set_irqs;
		uint32_t data =
			(s->flags & ISM_VFU_IRQ_SET_DATA_BOOL) ? s->count : 0;

		ism_wbuf_le32(b, VFU_SET_IRQS_SIZE + data);
		ism_wbuf_le32(b, s->flags);
		ism_wbuf_le32(b, s->index);
		ism_wbuf_le32(b, s->start);
		ism_wbuf_le32(b, s->count);
		if (data)
			ism_wbuf_bytes(b, s->data, data);
		break;
	}
	case VFU_REGION_READ:
	case VFU_REGION_WRITE:
		ism_wbuf_le64(b, r->offset);
		ism_wbuf_le32(b, r->region);
		ism_wbuf_le32(b, r->count);
		if (m->h.cmd == VFU_REGION_WRITE)
			ism_wbuf_bytes(b, r->data, r->count);
		break;
	case VFU_DMA_READ:
	case VFU_DMA_WRITE:
		ism_wbuf_le64(b, d->addr);
		ism_wbuf_le64(b, d->count);
		if (m->h.cmd == VFU_DMA_WRITE)
			ism_wbuf_bytes(b, d->data, (size_t)d->count);
		break;
	case VFU_DEVICE_RESET: break;
	case VFU_REGION_WRITE_MULTI:
		ism_wbuf_le64(b, m->u.multi.wr_cnt);
		for (uint64_t i = 0; i < m->u.multi.wr_cnt && i < VFU_MAX_MULTI;
		     i++) {
			ism_wbuf_le64(b, m->u.multi.wr[i].offset);
			ism_wbuf_le32(b, m->u.multi.wr[i].region);
			ism_wbuf_le32(b, m->u.multi.wr[i].count);
			ism_wbuf_bytes(b, m->u.multi.wr[i].data, 8);
		}
		break;
	case VFU_DEVICE_FEATURE:
		ism_wbuf_le32(b, m->u.feature.argsz);
		ism_wbuf_le32(b, m->u.feature.flags);
		ism_wbuf_bytes(b, m->u.feature.data, m->u.feature.data_len);
		break;
	case VFU_MIG_DATA_READ:
	case VFU_MIG_DATA_WRITE:
		ism_wbuf_le32(b, m->u.mig.argsz);
		ism_wbuf_le32(b, m->u.mig.size);
		if (m->h.cmd == VFU_MIG_DATA_WRITE)
			ism_wbuf_bytes(b, m->u.mig.data, m->u.mig.size);
		break;
	default: b->err = -EINVAL;
	}
}

static void enc_reply(struct ism_wbuf *b, const struct vfu_msg *m)
{
	const struct vfu_dma_rw *d = &m->u.dma_rw;
	const struct vfu_region_rw *r = &m->u.region_rw;

	switch (m->h.cmd) {
	case VFU_VERSION: enc_version(b, &m->u.version); break;
	case VFU_DMA_MAP:
	case VFU_SET_IRQS:
	case VFU_DEVICE_RESET:
	case VFU_MIG_DATA_WRITE: break;
	case VFU_DMA_UNMAP:
		ism_wbuf_le32(b, m->u.dma_unmap.argsz);
		ism_wbuf_le32(b, m->u.dma_unmap.flags);
		ism_wbuf_le64(b, m->u.dma_unmap.addr);
		ism_wbuf_le64(b, m->u.dma_unmap.len);
		break;
	case VFU_GET_INFO:
		enc4(b, m->u.dev_info.argsz, m->u.dev_info.flags,
		     m->u.dev_info.num_regions, m->u.dev_info.num_irqs);
		break;
	case VFU_GET_IRQ_INFO:
		enc4(b, m->u.irq_info.argsz, m->u.irq_info.flags,
		     m->u.irq_info.index, m->u.irq_info.count);
		break;
	case VFU_GET_REGION_INFO:
		enc_region_info_reply(b, &m->u.region_info_rep);
		break;
	case VFU_GET_REGION_IO_FDS: enc_io_fds(b, &m->u.io_fds, true); break;
	case VFU_REGION_READ:
	case VFU_REGION_WRITE:
		ism_wbuf_le64(b, r->offset);
		ism_wbuf_le32(b, r->region);
		ism_wbuf_le32(b, r->count);
		if (m->h.cmd == VFU_REGION_READ)
			ism_wbuf_bytes(b, r->data, r->count);
		break;
	case VFU_DMA_READ:
	case VFU_DMA_WRITE:
		ism_wbuf_le64(b, d->addr);
		if (m->h.cmd == VFU_DMA_WRITE && d->short_count) {
			ism_wbuf_le32(b, (uint32_t)d->count);
			break;
		}
		ism_wbuf_le64(b, d->count);
		if (m->h.cmd == VFU_DMA_READ)
			ism_wbuf_bytes(b, d->data, (size_t)d->count);
		break;
	case VFU_REGION_WRITE_MULTI: ism_wbuf_le64(b, m->u.wr_cnt); break;
	case VFU_DEVICE_FEATURE:
		ism_wbuf_le32(b, m->u.feature.argsz);
		ism_wbuf_le32(b, m->u.feature.flags);
		ism_wbuf_bytes(b, m->u.feature.data, m->u.feature.data_len);
		break;
	case VFU_MIG_DATA_READ:
		ism_wbuf_le32(b, m->u.mig.argsz);
		ism_wbuf_le32(b, m->u.mig.size);
		ism_wbuf_bytes(b, m->u.mig.data, m->u.mig.size);
		break;
	default: b->err = -EINVAL;
	}
}

ssize_t vfu_msg_encode(struct vfu_msg *m, uint8_t *buf, size_t cap)
{
	struct ism_wbuf b;

	ism_wbuf_init(&b, buf, cap);
	vfu_hdr_put(&b, &m->h);
	if ((m->h.flags & VFU_F_TYPE_MASK) == VFU_F_COMMAND)
		enc_request(&b, m);
	else if (!(m->h.flags & VFU_F_ERROR))
		enc_reply(&b, m);
	if (b.err)
		return b.err;
	if (b.len > UINT32_MAX)
		return -EMSGSIZE;
	m->h.size = (uint32_t)b.len;
	buf[4] = (uint8_t)b.len;
	buf[5] = (uint8_t)(b.len >> 8);
	buf[6] = (uint8_t)(b.len >> 16);
	buf[7] = (uint8_t)(b.len >> 24);
	return (ssize_t)b.len;
}
