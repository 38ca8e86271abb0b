/* SPDX-License-Identifier: MIT */
/*
 * The JSON of VERSION's capabilities: a recursive-descent parser of RFC
 * 8259 JSON that keeps only the keys vfio-user defines, and a writer.
 * Hostile input: bounded by its length (<= VFU_MAX_JSON) and a nesting
 * cap, every token checked, no allocation.
 */
#include "vfu_wire.h"

#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16
#define KEY_MAX	  32

struct js {
	const char *p, *end;
	int depth;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool eat(struct js *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A string: into @key (KEY_MAX bytes, NUL-terminated) when @key is not
 * NULL; a key longer than that, or with characters outside printable
 * ASCII, comes back as "" (which matches no known key).
 */
static int string(struct js *j, char *key)
{
	size_t n = 0;
	bool odd = false;

	ws(j);
	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	j->p++;
	for (;;) {
		unsigned c;

		if (j->p >= j->end)
			return -EINVAL;
		c = (unsigned char)*j->p++;
		if (c == '"')
			break;
		if (c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			if (j->p >= j->end)
				return -EINVAL;
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/': break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				c = 0; /* not in any key we know */
				break;
			case 'u': {
				unsigned v = 0;

				if (j->end - j->p < 4)
					return -EINVAL;
				for (int i = 0; i < 4; i++) {
					int h = hexval(j->p[i]);

					if (h < 0)
						return -EINVAL;
					v = v << 4 | (unsigned)h;
				}
				j->p += 4;
				c = v;
				break;
			}
			default: return -EINVAL;
			}
		}
		if (!key)
			continue;
		if (c < 0x20 || c > 0x7e || n + 1 >= KEY_MAX)
			odd = true;
		else
			key[n++] = (char)c;
	}
	if (key)
		key[odd ? 0 : n] = '\0';
	return 0;
}

/* A JSON number of any form (skipped). */
static int number(struct js *j)
{
	const char *s;

	ws(j);
	if (j->p < j->end && *j->p == '-')
		j->p++;
	s = j->p;
	if (j->p < j->end && *j->p == '0') {
		j->p++;
	} else {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == s)
			return -EINVAL;
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		s = j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == s)
			return -EINVAL;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		s = j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == s)
			return -EINVAL;
	}
	return 0;
}

/* A non-negative JSON integer that fits 64 bits (no fraction, no
 * exponent, no leading zero). */
static int uint_value(struct js *j, uint64_t *out)
{
	uint64_t v = 0;
	const char *s;

	ws(j);
	s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*j->p - '0'), &v))
			return -EINVAL;
		j->p++;
	}
	if (j->p == s || (j->p - s > 1 && *s == '0'))
		return -EINVAL;
	if (j->p < j->end &&
	    (*j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '-'))
		return -EINVAL;
	*out = v;
	return 0;
}

static bool word(struct js *j, const char *w)
{
	size_t n = strlen(w);

	ws(j);
	if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, w, n)) {
		j->p += n;
		return true;
	}
	return false;
}

static int bool_value(struct js *j, bool *out)
{
	if (word(j, "true"))
		*out = true;
	else if (word(j, "false"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int value(struct js *j);

/*
 * Walk an object: @member is called with each key (positioned before the
 * value) and must consume the value.
 */
static int object(struct js *j,
		  int (*member)(struct js *, const char *, void *), void *arg)
{
	char key[KEY_MAX];
	int err;

	if (!eat(j, '{'))
		return -EINVAL;
	if (++j->depth > MAX_DEPTH)
		return -EINVAL;
	if (eat(j, '}')) {
		j->depth--;
		return 0;
	}
	do {
		err = string(j, key);
		if (err)
			return err;
		if (!eat(j, ':'))
			return -EINVAL;
		err = member(j, key, arg);
		if (err)
			return err;
	} while (eat(j, ','));
	if (!eat(j, '}'))
		return -EINVAL;
	j->depth--;
	return 0;
}

static int skip_member(struct js *j, const char *key, void *arg)
{
	(void)key;
	(void)arg;
	return value(j);
}

static int value(struct js *j)
{
	ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	switch (*j->p) {
	case '{': return object(j, skip_member, NULL);
	case '[': {
		int err;

		j->p++;
		if (++j->depth > MAX_DEPTH)
			return -EINVAL;
		if (eat(j, ']')) {
			j->depth--;
			return 0;
		}
		do {
			err = value(j);
			if (err)
				return err;
		} while (eat(j, ','));
		if (!eat(j, ']'))
			return -EINVAL;
		j->depth--;
		return 0;
	}
	case '"': return string(j, NULL);
	case 't':
	case 'f': {
		bool b;

		return bool_value(j, &b);
	}
	case 'n': return word(j, "null") ? 0 : -EINVAL;
	default: return number(j);
	}
}

/* A key seen twice is refused: two readers could pick different ones. */
static int once(struct vfu_caps *c, uint32_t bit)
{
	if (c->present & bit)
		return -EINVAL;
	c->present |= bit;
	return 0;
}
#define ONCE(bit, parse) (once(c, (bit)) ? -EINVAL : (parse))

static int twin_member(struct js *j, const char *key, void *arg)
{
	struct vfu_caps *c = arg;

	if (!strcmp(key, "supported"))
		return ONCE(VFU_CAP_TWIN_SUP,
			    bool_value(j, &c->twin_supported));
	if (!strcmp(key, "fd_index"))
		return ONCE(VFU_CAP_TWIN_INDEX,
			    uint_value(j, &c->twin_fd_index));
	return value(j);
}

static int caps_member(struct js *j, const char *key, void *arg)
{
	struct vfu_caps *c = arg;

	if (!strcmp(key, "max_msg_fds"))
		return ONCE(VFU_CAP_MAX_MSG_FDS,
			    uint_value(j, &c->max_msg_fds));
	if (!strcmp(key, "max_data_xfer_size"))
		return ONCE(VFU_CAP_MAX_XFER, uint_value(j, &c->max_data_xfer));
	if (!strcmp(key, "max_dma_maps"))
		return ONCE(VFU_CAP_MAX_DMA_MAPS,
			    uint_value(j, &c->max_dma_maps));
	if (!strcmp(key, "pgsizes"))
		return ONCE(VFU_CAP_PGSIZES, uint_value(j, &c->pgsizes));
	if (!strcmp(key, "write_multiple"))
		return ONCE(VFU_CAP_WRITE_MULTI,
			    bool_value(j, &c->write_multiple));
	if (!strcmp(key, "twin_socket"))
		return ONCE(VFU_CAP_TWIN, object(j, twin_member, c));
	if (!strcmp(key, "migration")) {
		/* Left over from migration v1 (libvfio-user): an object,
		 * ignored. */
		ws(j);
		if (j->p >= j->end || *j->p != '{')
			return -EINVAL;
		return ONCE(VFU_CAP_MIGRATION, value(j));
	}
	return value(j);
}

static int top_member(struct js *j, const char *key, void *arg)
{
	struct vfu_caps *c = arg;

	if (!strcmp(key, "capabilities"))
		return ONCE(VFU_CAP_OBJECT, object(j, caps_member, c));
	return value(j);
}

int vfu_caps_parse(const char *json, size_t len, struct vfu_caps *c)
{
	struct js j = { .p = json, .end = json + len, .depth = 0 };
	int err;

	memset(c, 0, sizeof(*c));
	err = object(&j, top_member, c);
	if (!err) {
		ws(&j);
		if (j.p != j.end)
			err = -EINVAL;
	}
	if (err)
		memset(c, 0, sizeof(*c));
	return err;
}

struct out {
	char *buf;
	size_t cap, len;
	bool over;
};

ISM_PRINTF(2, 3) static void put(struct out *o, const char *fmt, ...);

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->over = true;
		return;
	}
	o->len += (size_t)n;
}

int vfu_caps_format(char *buf, size_t cap, const struct vfu_caps *c)
{
	struct out o = { .buf = buf, .cap = cap };
	const char *sep = "";

	if (!cap)
		return -EMSGSIZE;
	buf[0] = '\0';
	if (!(c->present & VFU_CAP_OBJECT)) {
		put(&o, "{}");
		return o.over ? -EMSGSIZE : (int)o.len;
	}
	put(&o, "{\"capabilities\":{");
#define NUM(bit, name, v)                                                      \
	if (c->present & (bit)) {                                              \
		put(&o, "%s\"" name "\":%" PRIu64, sep, (uint64_t)(v));        \
		sep = ",";                                                     \
	}
	NUM(VFU_CAP_MAX_MSG_FDS, "max_msg_fds", c->max_msg_fds)
	NUM(VFU_CAP_MAX_XFER, "max_data_xfer_size", c->max_data_xfer)
	NUM(VFU_CAP_MAX_DMA_MAPS, "max_dma_maps", c->max_dma_maps)
	NUM(VFU_CAP_PGSIZES, "pgsizes", c->pgsizes)
#undef NUM
	if (c->present & VFU_CAP_TWIN) {
		const char *s2 = "";

		put(&o, "%s\"twin_socket\":{", sep);
		if (c->present & VFU_CAP_TWIN_SUP) {
			put(&o, "\"supported\":%s",
			    c->twin_supported ? "true" : "false");
			s2 = ",";
		}
		if (c->present & VFU_CAP_TWIN_INDEX)
			put(&o, "%s\"fd_index\":%" PRIu64, s2,
			    c->twin_fd_index);
		put(&o, "}");
		sep = ",";
	}
	if (c->present & VFU_CAP_WRITE_MULTI) {
		put(&o, "%s\"write_multiple\":%s", sep,
		    c->write_multiple ? "true" : "false");
		sep = ",";
	}
	if (c->present & VFU_CAP_MIGRATION)
		put(&o, "%s\"migration\":{}", sep);
	put(&o, "}}");
	return o.over ? -EMSGSIZE : (int)o.len;
}
