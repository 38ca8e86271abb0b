/* SPDX-License-Identifier: MIT */
/*
 * _ism - the CPython extension under `import ism`: a thin layer over
 * libism's public API (include/ism/ headers), linked statically.
 *
 * Concepts: each Python object owns one libism handle and a strong
 * reference to the Conn it was made on, so a connection is never freed
 * under its regions, channels or streams; Conn.close() closes them first.
 * Memory is never copied to be shown: a Region and an Ivshmem member are
 * buffers over their mapping (read-only handles give read-only buffers),
 * and the zero-copy receives (Chan.peek, Stream.peek) return a View,
 * itself a buffer, released by a context manager.  Anything that would
 * unmap or invalidate memory a Python buffer still shows fails with
 * BufferError instead.  Errors are OSError with the errno, which Python
 * maps to its subclasses (BrokenPipeError, BlockingIOError, ...).
 *
 * Blocking calls drop the GIL.  A handle counts the calls in flight; close
 * refuses (EBUSY) while one runs on another thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <ism.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Run @stmt without the GIL (it must not touch Python objects). */
#define NOGIL(stmt)                                                            \
	do {                                                                   \
		Py_BEGIN_ALLOW_THREADS stmt;                                   \
		Py_END_ALLOW_THREADS                                           \
	} while (0)

/* The same, counted in @cnt: a close refuses while the call runs. */
#define BUSY_NOGIL(cnt, stmt)                                                  \
	do {                                                                   \
		(cnt)++;                                                       \
		NOGIL(stmt);                                                   \
		(cnt)--;                                                       \
	} while (0)

static PyObject *seterr(long neg)
{
	errno = neg < 0 ? (int)-neg : EIO;
	return PyErr_SetFromErrno(PyExc_OSError);
}

static PyObject *busy_err(void)
{
	errno = EBUSY;
	return PyErr_SetFromErrno(PyExc_OSError);
}

static PyObject *closed_err(void)
{
	PyErr_SetString(PyExc_ValueError, "I/O operation on closed handle");
	return NULL;
}

/* Timeouts, socket-style: < 0 blocks, 0 never waits, > 0 waits so long. */
static int parse_timeout(PyObject *o, double *out)
{
	if (o == Py_None) {
		*out = -1;
		return 0;
	}
	*out = PyFloat_AsDouble(o);
	if (*out == -1 && PyErr_Occurred())
		return -1;
	if (*out < 0 || isnan(*out)) {
		PyErr_SetString(PyExc_ValueError, "Timeout value out of range");
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait for @fd to be readable until @deadline (monotonic seconds).
 * Returns 1 readable, 0 timed out, -1 with a Python error set.  The GIL
 * is dropped while waiting.
 */
static int wait_fd(int fd, double deadline)
{
	for (;;) {
		double left = deadline - now_s();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms, r;

		if (left <= 0)
			return 0;
		ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
		NOGIL(r = poll(&p, 1, ms));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR) {
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		if (PyErr_CheckSignals() < 0)
			return -1;
	}
}

static PyObject *timeout_err(void)
{
	PyErr_SetString(PyExc_TimeoutError, "timed out");
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Event: a struct sequence */

static PyStructSequence_Field event_fields[] = {
	{ "type", "enum ism_event_type (EV_* constants)" },
	{ "name", "the type's short name, e.g. 'notify'" },
	{ "reason", "per type (see ism/conn.h)" },
	{ "region", "region id, or 0" },
	{ "peer", "peer id, or 0" },
	{ "value", "EV_NOTIFY: the sender's value" },
	{ "count", "EV_NOTIFY: notifications coalesced; EV_OVERFLOW: lost" },
	{ "access", "EV_PEER_ATTACHED: ACCESS_RO or ACCESS_RW" },
	{ NULL, NULL },
};
static PyStructSequence_Desc event_desc = {
	"ism.Event",
	"An event from ismd (struct ism_event).",
	event_fields,
	8,
};
static PyTypeObject *EventType;

static PyObject *make_event(const struct ism_event *ev)
{
	PyObject *o = PyStructSequence_New(EventType);

	if (!o)
		return NULL;
	PyStructSequence_SET_ITEM(o, 0, PyLong_FromUnsignedLong(ev->type));
	PyStructSequence_SET_ITEM(
		o, 1, PyUnicode_FromString(ism_event_name(ev->type)));
	PyStructSequence_SET_ITEM(o, 2, PyLong_FromUnsignedLong(ev->reason));
	PyStructSequence_SET_ITEM(o, 3,
				  PyLong_FromUnsignedLongLong(ev->region));
	PyStructSequence_SET_ITEM(o, 4, PyLong_FromUnsignedLongLong(ev->peer));
	PyStructSequence_SET_ITEM(o, 5, PyLong_FromUnsignedLongLong(ev->value));
	PyStructSequence_SET_ITEM(o, 6, PyLong_FromUnsignedLongLong(ev->count));
	PyStructSequence_SET_ITEM(o, 7, PyLong_FromUnsignedLong(ev->access));
	if (PyErr_Occurred()) {
		Py_DECREF(o);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* Conn */

typedef struct {
	PyObject_HEAD struct ism_conn *c;
	int busy;	    /* calls in flight */
	PyObject *children; /* list of weakrefs: regions, channels, ... */
	PyObject *weakrefs;
} ConnObject;

static PyTypeObject ConnType;

/* Every handle made on a connection starts with these fields. */
#define CHILD_HEAD                                                             \
	PyObject_HEAD ConnObject *conn; /* strong; NULL for local chans */     \
	int busy;			/* calls in flight */                  \
	PyObject *weakrefs;

typedef struct {
	CHILD_HEAD
} ChildObject;

static int conn_adopt(ConnObject *c, PyObject *child)
{
	Py_ssize_t n = PyList_GET_SIZE(c->children);
	PyObject *w;
	int r;

	/* Drop the references of children gone, now and then. */
	if (n >= 64 && !(n & (n - 1))) {
		PyObject *live = PyList_New(0);

		if (!live)
			return -1;
		for (Py_ssize_t i = 0; i < n; i++) {
			PyObject *ref = PyList_GET_ITEM(c->children, i);

			if (PyWeakref_GetObject(ref) != Py_None &&
			    PyList_Append(live, ref) < 0) {
				Py_DECREF(live);
				return -1;
			}
		}
		Py_SETREF(c->children, live);
	}
	w = PyWeakref_NewRef(child, NULL);
	if (!w)
		return -1;
	r = PyList_Append(c->children, w);
	Py_DECREF(w);
	((ChildObject *)child)->conn = c;
	Py_INCREF(c);
	return r;
}

static PyObject *conn_new(PyTypeObject *t, PyObject *args, PyObject *kw)
{
	ConnObject *self = (ConnObject *)t->tp_alloc(t, 0);

	if (!self)
		return NULL;
	self->children = PyList_New(0);
	if (!self->children) {
		Py_DECREF(self);
		return NULL;
	}
	(void)args;
	(void)kw;
	return (PyObject *)self;
}

static int conn_init(ConnObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path",      "name",	       "timeout_ms",
				  "reconnect", "reconnect_ms", "no_doorbell",
				  NULL };
	PyObject *path_o = Py_None, *bytes = NULL;
	const char *name = NULL, *path = NULL;
	int timeout_ms = 0, reconnect = 0, reconnect_ms = 0, nodb = 0, r;
	struct ism_conn_opts o = { .size = sizeof(o) };

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|Ozipip", kwlist, &path_o,
					 &name, &timeout_ms, &reconnect,
					 &reconnect_ms, &nodb))
		return -1;
	if (self->c) {
		PyErr_SetString(PyExc_ValueError, "already open");
		return -1;
	}
	if (path_o != Py_None) {
		if (!PyUnicode_FSConverter(path_o, &bytes))
			return -1;
		path = PyBytes_AS_STRING(bytes);
	}
	o.name = name;
	o.timeout_ms = timeout_ms;
	o.reconnect_ms = reconnect_ms;
	o.flags = (reconnect ? ISM_CONN_RECONNECT : 0) |
		  (nodb ? ISM_CONN_NO_DOORBELL : 0);
	NOGIL(r = ism_conn_open(path, &o, &self->c));
	Py_XDECREF(bytes);
	if (r < 0) {
		self->c = NULL;
		seterr(r);
		return -1;
	}
	return 0;
}

static int child_close(PyObject *child);

/* Close every live child, then the connection.  A child with exported
 * buffers (or a call in flight) stops it before anything is closed. */
static PyObject *conn_close(ConnObject *self, PyObject *unused)
{
	Py_ssize_t n = PyList_GET_SIZE(self->children);

	(void)unused;
	if (!self->c)
		Py_RETURN_NONE;
	if (self->busy)
		return busy_err();
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o =
			PyWeakref_GetObject(PyList_GET_ITEM(self->children, i));
		PyObject *r;

		if (o == Py_None)
			continue;
		/* A dry run of each child's checks. */
		r = PyObject_CallMethod(o, "_can_close", NULL);
		if (!r)
			return NULL;
		Py_DECREF(r);
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o =
			PyWeakref_GetObject(PyList_GET_ITEM(self->children, i));

		if (o != Py_None) {
			Py_INCREF(o);
			if (child_close(o) < 0) {
				Py_DECREF(o);
				return NULL;
			}
			Py_DECREF(o);
		}
	}
	Py_CLEAR(self->children);
	self->children = PyList_New(0);
	ism_conn_close(self->c);
	self->c = NULL;
	Py_RETURN_NONE;
}

static void conn_dealloc(ConnObject *self)
{
	/* Children hold a reference: none is alive here. */
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->c)
		ism_conn_close(self->c);
	Py_XDECREF(self->children);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

#define CONN_OK(self)                                                          \
	do {                                                                   \
		if (!(self)->c)                                                \
			return closed_err();                                   \
	} while (0)

static PyObject *conn_fileno(ConnObject *self, PyObject *u)
{
	(void)u;
	CONN_OK(self);
	return PyLong_FromLong(ism_conn_fd(self->c));
}

static PyObject *conn_doorbell_fd(ConnObject *self, PyObject *u)
{
	(void)u;
	CONN_OK(self);
	return PyLong_FromLong(ism_conn_doorbell_fd(self->c));
}

static PyObject *conn_process(ConnObject *self, PyObject *u)
{
	int r;

	(void)u;
	CONN_OK(self);
	r = ism_conn_process(self->c);
	return r < 0 ? seterr(r) : PyLong_FromLong(r);
}

static PyObject *conn_next_event(ConnObject *self, PyObject *u)
{
	struct ism_event ev;

	(void)u;
	CONN_OK(self);
	if (ism_conn_next_event(self->c, &ev) != 1)
		Py_RETURN_NONE;
	return make_event(&ev);
}

static PyObject *conn_wait_event(ConnObject *self, PyObject *args)
{
	PyObject *to = Py_None;
	struct ism_event ev;
	double t;
	int r, ms;

	if (!PyArg_ParseTuple(args, "|O", &to) || parse_timeout(to, &t) < 0)
		return NULL;
	CONN_OK(self);
	ms = t < 0 ? -1 : t > 2e6 ? 2000000000 : (int)(t * 1000);
	BUSY_NOGIL(self->busy, r = ism_conn_wait_event(self->c, &ev, ms));
	if (r < 0)
		return seterr(r);
	if (r == 0)
		Py_RETURN_NONE;
	return make_event(&ev);
}

static PyObject *conn_get_peer_id(ConnObject *self, void *u)
{
	(void)u;
	CONN_OK(self);
	return PyLong_FromUnsignedLongLong(ism_conn_peer_id(self->c));
}

static PyObject *conn_get_host_id(ConnObject *self, void *u)
{
	struct ism_host_id id;
	char buf[2 * ISM_HOST_ID_SIZE + 1];

	(void)u;
	CONN_OK(self);
	ism_conn_host_id(self->c, &id);
	return PyUnicode_FromString(ism_host_id_format(&id, buf));
}

static PyObject *conn_get_is_admin(ConnObject *self, void *u)
{
	(void)u;
	CONN_OK(self);
	return PyBool_FromLong(ism_conn_is_admin(self->c));
}

static PyObject *conn_get_closed(ConnObject *self, void *u)
{
	(void)u;
	return PyBool_FromLong(!self->c);
}

static PyObject *self_enter(PyObject *self, PyObject *u)
{
	(void)u;
	Py_INCREF(self);
	return self;
}

static PyObject *call_close(PyObject *self, PyObject *args)
{
	(void)args;
	return PyObject_CallMethod(self, "close", NULL);
}

/* ------------------------------------------------------------------ */
/* tokens */

static int parse_token(PyObject *o, struct ism_token *tok)
{
	if (PyUnicode_Check(o)) {
		const char *s = PyUnicode_AsUTF8(o);

		if (!s)
			return -1;
		if (ism_token_parse(s, tok) < 0) {
			PyErr_SetString(PyExc_ValueError,
					"a token is 32 hex digits");
			return -1;
		}
		return 0;
	}
	Py_buffer b;

	if (PyObject_GetBuffer(o, &b, PyBUF_SIMPLE) < 0)
		return -1;
	if (b.len != ISM_TOKEN_SIZE) {
		PyBuffer_Release(&b);
		PyErr_SetString(PyExc_ValueError, "a token is 16 bytes");
		return -1;
	}
	memcpy(tok->b, b.buf, ISM_TOKEN_SIZE);
	PyBuffer_Release(&b);
	return 0;
}

static PyObject *token_str(const struct ism_token *tok)
{
	char buf[ISM_TOKEN_STRLEN + 1];

	return PyUnicode_FromString(ism_token_format(tok, buf));
}

/* ------------------------------------------------------------------ */
/* Region */

typedef struct {
	CHILD_HEAD struct ism_region *r;
	void *map;
	Py_ssize_t exports;
} RegionObject;

static PyTypeObject RegionType;

static int region_can_close(RegionObject *self)
{
	if (self->exports) {
		PyErr_Format(PyExc_BufferError,
			     "region has %zd exported buffer(s): release "
			     "the memoryviews (and arrays) over it first",
			     self->exports);
		return -1;
	}
	if (self->busy) {
		busy_err();
		return -1;
	}
	return 0;
}

static int region_close_impl(RegionObject *self)
{
	if (!self->r)
		return 0;
	if (region_can_close(self) < 0)
		return -1;
	ism_region_close(self->r);
	self->r = NULL;
	self->map = NULL;
	return 0;
}

static void region_dealloc(RegionObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* A buffer export holds a reference, so exports is 0 here. */
	if (self->r)
		ism_region_close(self->r);
	Py_XDECREF(self->conn);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *wrap_region(ConnObject *c, struct ism_region *r)
{
	RegionObject *o = PyObject_New(RegionObject, &RegionType);

	if (!o) {
		ism_region_close(r);
		return NULL;
	}
	o->r = r;
	o->map = NULL;
	o->exports = 0;
	o->busy = 0;
	o->weakrefs = NULL;
	o->conn = NULL;
	if (conn_adopt(c, (PyObject *)o) < 0) {
		Py_DECREF(o);
		return NULL;
	}
	return (PyObject *)o;
}

static PyObject *conn_alloc(ConnObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "size",     "writable", "name",
				  "populate", "hugetlb",  "linger",
				  "peers",    "uids",	  NULL };
	unsigned long long size;
	int writable = 0, populate = 0, huge = 0, linger = 0, r;
	const char *name = NULL;
	PyObject *peers = NULL, *uids = NULL, *ret = NULL;
	uint64_t pv[ISM_ACL_MAX];
	uint32_t uv[ISM_ACL_MAX];
	struct ism_alloc_opts o = { .size = sizeof(o) };
	struct ism_region *reg;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "K|$pzpppOO", kwlist, &size,
					 &writable, &name, &populate, &huge,
					 &linger, &peers, &uids))
		return NULL;
	CONN_OK(self);
	for (int k = 0; k < 2; k++) {
		PyObject *seq = k ? uids : peers, *fast;
		Py_ssize_t n;

		if (!seq || seq == Py_None)
			continue;
		fast = PySequence_Fast(seq, "peers/uids: a sequence of ints");
		if (!fast)
			return NULL;
		n = PySequence_Fast_GET_SIZE(fast);
		if (n > ISM_ACL_MAX) {
			Py_DECREF(fast);
			PyErr_SetString(PyExc_ValueError, "too many ids");
			return NULL;
		}
		for (Py_ssize_t i = 0; i < n; i++) {
			unsigned long long v = PyLong_AsUnsignedLongLong(
				PySequence_Fast_GET_ITEM(fast, i));

			if (PyErr_Occurred()) {
				Py_DECREF(fast);
				return NULL;
			}
			if (k)
				uv[i] = (uint32_t)v;
			else
				pv[i] = v;
		}
		Py_DECREF(fast);
		if (k) {
			o.n_uids = (uint32_t)n;
			o.uids = uv;
		} else {
			o.n_peers = (uint32_t)n;
			o.peers = pv;
		}
	}
	o.max_access = writable ? ISM_ACCESS_RW : ISM_ACCESS_RO;
	o.name = name;
	o.flags = (populate ? ISM_ALLOC_POPULATE : 0) |
		  (huge ? ISM_ALLOC_HUGETLB : 0) |
		  (linger ? ISM_ALLOC_LINGER : 0);
	BUSY_NOGIL(self->busy, r = ism_region_alloc(self->c, size, &o, &reg));
	if (r < 0)
		return seterr(r);
	ret = wrap_region(self, reg);
	return ret;
}

static PyObject *conn_attach(ConnObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "token", "writable", "nofd", NULL };
	PyObject *tok_o;
	int writable = 0, nofd = 0, r;
	struct ism_token tok;
	struct ism_region *reg;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$pp", kwlist, &tok_o,
					 &writable, &nofd))
		return NULL;
	CONN_OK(self);
	if (parse_token(tok_o, &tok) < 0)
		return NULL;
	BUSY_NOGIL(self->busy, r = ism_region_attach(
				       self->c, &tok,
				       writable ? ISM_ACCESS_RW : ISM_ACCESS_RO,
				       nofd ? ISM_ATTACH_NOFD : 0, &reg));
	if (r < 0)
		return seterr(r);
	return wrap_region(self, reg);
}

#define REGION_OK(self)                                                        \
	do {                                                                   \
		if (!(self)->r)                                                \
			return closed_err();                                   \
	} while (0)

static PyObject *region_close(RegionObject *self, PyObject *u)
{
	(void)u;
	if (region_close_impl(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *region_can_close_m(RegionObject *self, PyObject *u)
{
	(void)u;
	if (self->r && region_can_close(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *region_info(RegionObject *self, PyObject *u)
{
	struct ism_region_info i;

	(void)u;
	REGION_OK(self);
	ism_region_info(self->r, &i);
	return Py_BuildValue(
		"{sKsKsKsIsIsIsOsOsOsisOsOsN}", "id", (unsigned long long)i.id,
		"owner", (unsigned long long)i.owner, "size",
		(unsigned long long)i.size, "page_size", i.page_size, "access",
		i.access, "max_access", i.max_access, "is_owner",
		i.is_owner ? Py_True : Py_False, "nofd",
		i.nofd ? Py_True : Py_False, "huge",
		i.huge ? Py_True : Py_False, "huge_errno", i.huge_errno, "gone",
		i.gone ? Py_True : Py_False, "linger",
		i.linger ? Py_True : Py_False, "token", token_str(&i.token));
}

static PyObject *region_get_id(RegionObject *self, void *u)
{
	(void)u;
	REGION_OK(self);
	return PyLong_FromUnsignedLongLong(ism_region_id(self->r));
}

static PyObject *region_get_size(RegionObject *self, void *u)
{
	(void)u;
	REGION_OK(self);
	return PyLong_FromUnsignedLongLong(ism_region_size(self->r));
}

static PyObject *region_get_token(RegionObject *self, void *u)
{
	struct ism_token tok;

	(void)u;
	REGION_OK(self);
	ism_region_token(self->r, &tok);
	return token_str(&tok);
}

static PyObject *region_get_readonly(RegionObject *self, void *u)
{
	struct ism_region_info i;

	(void)u;
	REGION_OK(self);
	ism_region_info(self->r, &i);
	return PyBool_FromLong(i.access != ISM_ACCESS_RW);
}

static PyObject *region_get_closed(RegionObject *self, void *u)
{
	(void)u;
	return PyBool_FromLong(!self->r);
}

static PyObject *region_fileno(RegionObject *self, PyObject *u)
{
	(void)u;
	REGION_OK(self);
	return PyLong_FromLong(ism_region_fd(self->r));
}

static PyObject *region_read(RegionObject *self, PyObject *args)
{
	unsigned long long off;
	Py_ssize_t len;
	PyObject *out;
	ssize_t r;

	if (!PyArg_ParseTuple(args, "Kn", &off, &len))
		return NULL;
	REGION_OK(self);
	if (len < 0) {
		PyErr_SetString(PyExc_ValueError, "negative length");
		return NULL;
	}
	out = PyBytes_FromStringAndSize(NULL, len);
	if (!out)
		return NULL;
	self->busy++;
	NOGIL(r = ism_region_read(self->r, off, PyBytes_AS_STRING(out),
				  (size_t)len));
	self->busy--;
	if (r < 0) {
		Py_DECREF(out);
		return seterr(r);
	}
	return out;
}

static PyObject *region_write(RegionObject *self, PyObject *args)
{
	unsigned long long off;
	Py_buffer b;
	ssize_t r;

	if (!PyArg_ParseTuple(args, "Ky*", &off, &b))
		return NULL;
	if (!self->r) {
		PyBuffer_Release(&b);
		return closed_err();
	}
	self->busy++;
	NOGIL(r = ism_region_write(self->r, off, b.buf, (size_t)b.len));
	self->busy--;
	PyBuffer_Release(&b);
	return r < 0 ? seterr(r) : PyLong_FromSsize_t(r);
}

static PyObject *region_notify(RegionObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "value", "wait", NULL };
	unsigned long long v = 0;
	int wait = 1, r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|K$p", kwlist, &v, &wait))
		return NULL;
	REGION_OK(self);
	BUSY_NOGIL(self->busy, r = wait ? ism_region_notify(self->r, v)
					: ism_region_notify_nowait(self->r, v));
	return r < 0 ? seterr(r) : PyLong_FromLong(r);
}

static PyObject *region_detach(RegionObject *self, PyObject *u)
{
	int r;

	(void)u;
	REGION_OK(self);
	r = ism_region_detach(self->r);
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *region_destroy(RegionObject *self, PyObject *u)
{
	int r;

	(void)u;
	REGION_OK(self);
	r = ism_region_destroy(self->r);
	return r < 0 ? seterr(r) : PyLong_FromLong(r);
}

static int region_getbuffer(RegionObject *self, Py_buffer *view, int flags)
{
	struct ism_region_info i;
	int r;

	if (!self->r) {
		PyErr_SetString(PyExc_BufferError, "region is closed");
		view->obj = NULL;
		return -1;
	}
	ism_region_info(self->r, &i);
	if (!self->map) {
		r = ism_region_map(self->r, &self->map);
		if (r < 0) {
			self->map = NULL;
			errno = -r;
			PyErr_Format(PyExc_BufferError,
				     "region cannot be mapped: %s%s",
				     strerror(-r),
				     i.nofd ? " (attached without an fd: "
					      "use read() and write())"
					    : "");
			view->obj = NULL;
			return -1;
		}
	}
	if (i.size > PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_BufferError, "region too large");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->map,
			      (Py_ssize_t)i.size, i.access != ISM_ACCESS_RW,
			      flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void region_releasebuffer(RegionObject *self, Py_buffer *view)
{
	(void)view;
	self->exports--;
}

static PyBufferProcs region_as_buffer = {
	(getbufferproc)region_getbuffer,
	(releasebufferproc)region_releasebuffer,
};

/* ------------------------------------------------------------------ */
/* View: bytes lent by a zero-copy receive (or room lent by a zero-copy
 * send), released (or sent) by a with block */

enum { VIEW_CHAN = 1, VIEW_STREAM = 2, VIEW_STREAM_TX = 3 };

typedef struct {
	PyObject_HEAD PyObject *owner; /* Chan or Stream */
	int kind;
	const void *p;
	Py_ssize_t len;
	Py_ssize_t exports;
	PyObject *mv; /* the memoryview __enter__ made */
	bool released;
} ViewObject;

static PyTypeObject ViewType;

static int view_getbuffer(ViewObject *self, Py_buffer *view, int flags)
{
	if (self->released) {
		PyErr_SetString(PyExc_BufferError, "view was released");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, (void *)self->p,
			      self->len, self->kind != VIEW_STREAM_TX,
			      flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void view_releasebuffer(ViewObject *self, Py_buffer *view)
{
	(void)view;
	self->exports--;
}

static PyBufferProcs view_as_buffer = {
	(getbufferproc)view_getbuffer,
	(releasebufferproc)view_releasebuffer,
};

static PyObject *view_enter(ViewObject *self, PyObject *u)
{
	(void)u;
	if (self->released) {
		PyErr_SetString(PyExc_BufferError, "view was released");
		return NULL;
	}
	if (!self->mv) {
		self->mv = PyMemoryView_FromObject((PyObject *)self);
		if (!self->mv)
			return NULL;
	}
	Py_INCREF(self->mv);
	return self->mv;
}

static void owner_view_done(PyObject *owner, int kind);
static int owner_release(PyObject *owner, int kind, Py_ssize_t n);

static PyObject *view_release(ViewObject *self, PyObject *args)
{
	Py_ssize_t n = -1;

	if (!PyArg_ParseTuple(args, "|n", &n))
		return NULL;
	if (self->released)
		Py_RETURN_NONE;
	if (n < 0 || n > self->len)
		n = self->len;
	if (self->mv) {
		PyObject *r = PyObject_CallMethod(self->mv, "release", NULL);

		if (!r)
			return NULL; /* BufferError: sub-views still alive */
		Py_DECREF(r);
		Py_CLEAR(self->mv);
	}
	if (self->exports) {
		PyErr_Format(PyExc_BufferError,
			     "%zd buffer(s) still show the received bytes: "
			     "release them (or copy) first",
			     self->exports);
		return NULL;
	}
	self->released = true;
	owner_view_done(self->owner, self->kind);
	if (owner_release(self->owner, self->kind, n) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *view_exit(ViewObject *self, PyObject *args)
{
	/* Room reserved for sending is sent only if the block succeeded. */
	bool failed = PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 &&
		      PyTuple_GET_ITEM(args, 0) != Py_None;
	PyObject *a, *r;

	if (failed && self->kind == VIEW_STREAM_TX)
		a = Py_BuildValue("(n)", (Py_ssize_t)0);
	else
		a = PyTuple_New(0);
	if (!a)
		return NULL;
	r = view_release(self, a);
	Py_DECREF(a);
	return r;
}

static Py_ssize_t view_length(ViewObject *self)
{
	return self->released ? 0 : self->len;
}

static void view_dealloc(ViewObject *self)
{
	/* Never released: the bytes stay queued (peek again sees them). */
	if (!self->released)
		owner_view_done(self->owner, self->kind);
	Py_XDECREF(self->mv);
	Py_XDECREF(self->owner);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *make_view(PyObject *owner, int kind, const void *p,
			   Py_ssize_t len)
{
	ViewObject *v = PyObject_New(ViewObject, &ViewType);

	if (!v)
		return NULL;
	Py_INCREF(owner);
	v->owner = owner;
	v->kind = kind;
	v->p = p;
	v->len = len;
	v->exports = 0;
	v->mv = NULL;
	v->released = false;
	return (PyObject *)v;
}

/* ------------------------------------------------------------------ */
/* Chan */

typedef struct {
	CHILD_HEAD struct ism_chan *ch;
	double timeout;	  /* < 0: blocking */
	ViewObject *view; /* borrowed: the peeked message, if any */
} ChanObject;

static PyTypeObject ChanType;

#define CHAN_OK(self)                                                          \
	do {                                                                   \
		if (!(self)->ch)                                               \
			return closed_err();                                   \
	} while (0)

static int chan_can_close(ChanObject *self)
{
	if (self->view && !self->view->released && self->view->exports) {
		PyErr_SetString(PyExc_BufferError,
				"a received message is still viewed: "
				"release it first");
		return -1;
	}
	if (self->busy) {
		busy_err();
		return -1;
	}
	return 0;
}

static int chan_close_impl(ChanObject *self)
{
	if (!self->ch)
		return 0;
	if (chan_can_close(self) < 0)
		return -1;
	if (self->view)
		self->view->released = true; /* its bytes go with the chan */
	self->view = NULL;
	NOGIL(ism_chan_close(self->ch));
	self->ch = NULL;
	return 0;
}

static void chan_dealloc(ChanObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* A live View holds a reference: none is here. */
	if (self->ch)
		ism_chan_close(self->ch);
	Py_XDECREF(self->conn);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static ChanObject *chan_alloc(void)
{
	ChanObject *o = PyObject_New(ChanObject, &ChanType);

	if (!o)
		return NULL;
	o->ch = NULL;
	o->conn = NULL;
	o->busy = 0;
	o->weakrefs = NULL;
	o->timeout = -1;
	o->view = NULL;
	return o;
}

static int chan_opts(PyObject *args, PyObject *kw, const char *fmt,
		     char **kwlist, ConnObject **conn, struct ism_chan_opts *o)
{
	unsigned int ring = 0, spin = 0;
	unsigned long long peer = 0;
	const char *name = NULL;
	int r;

	if (conn)
		r = PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist,
						&ConnType, conn, &ring, &spin,
						&peer, &name);
	else
		r = PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &ring,
						&spin);
	if (!r)
		return -1;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->ring_size = ring;
	o->spin_us = spin;
	o->peer = peer;
	o->name = name;
	return 0;
}

static PyObject *chan_create(PyObject *cls, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "conn", "ring_size", "spin_us",
				  "peer", "name",      NULL };
	ConnObject *conn;
	struct ism_chan_opts o;
	ChanObject *self;
	int r;

	(void)cls;
	if (chan_opts(args, kw, "O!|$IIKz", kwlist, &conn, &o) < 0)
		return NULL;
	CONN_OK(conn);
	self = chan_alloc();
	if (!self)
		return NULL;
	BUSY_NOGIL(conn->busy, r = ism_chan_create(conn->c, &o, &self->ch));
	if (r < 0) {
		self->ch = NULL;
		Py_DECREF(self);
		return seterr(r);
	}
	if (conn_adopt(conn, (PyObject *)self) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static PyObject *chan_local(PyObject *cls, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "ring_size", "spin_us", NULL };
	struct ism_chan_opts o;
	ChanObject *self;
	int r;

	(void)cls;
	if (chan_opts(args, kw, "|$II", kwlist, NULL, &o) < 0)
		return NULL;
	self = chan_alloc();
	if (!self)
		return NULL;
	r = ism_chan_local_create(&o, &self->ch);
	if (r < 0) {
		self->ch = NULL;
		Py_DECREF(self);
		return seterr(r);
	}
	return (PyObject *)self;
}

static PyObject *chan_get_token(ChanObject *self, void *u)
{
	struct ism_token tok;

	(void)u;
	CHAN_OK(self);
	if (!self->conn) {
		PyErr_SetString(PyExc_ValueError,
				"a local channel has no token");
		return NULL;
	}
	ism_chan_token(self->ch, &tok);
	return token_str(&tok);
}

static PyObject *chan_connect(ChanObject *self, PyObject *tok_o)
{
	struct ism_token tok;
	int r;

	CHAN_OK(self);
	if (parse_token(tok_o, &tok) < 0)
		return NULL;
	self->busy++;
	NOGIL(r = ism_chan_connect(self->ch, &tok));
	self->busy--;
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *chan_local_export(ChanObject *self, PyObject *u)
{
	int fds[2], r;

	(void)u;
	CHAN_OK(self);
	r = ism_chan_local_export(self->ch, fds);
	if (r < 0)
		return seterr(r);
	return Py_BuildValue("(ii)", fds[0], fds[1]);
}

static PyObject *chan_local_connect(ChanObject *self, PyObject *args)
{
	int rfd, lfd, r;

	if (!PyArg_ParseTuple(args, "ii", &rfd, &lfd))
		return NULL;
	CHAN_OK(self);
	r = ism_chan_local_connect(self->ch, rfd, lfd);
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *chan_get_max_msg(ChanObject *self, void *u)
{
	(void)u;
	CHAN_OK(self);
	return PyLong_FromSize_t(ism_chan_max_msg(self->ch));
}

static PyObject *chan_max_msg_m(ChanObject *self, PyObject *u)
{
	(void)u;
	CHAN_OK(self);
	return PyLong_FromSize_t(ism_chan_max_msg(self->ch));
}

static PyObject *chan_fileno(ChanObject *self, PyObject *u)
{
	(void)u;
	CHAN_OK(self);
	return PyLong_FromLong(ism_chan_fd(self->ch));
}

/*
 * Run one I/O call the socket way: blocking, non-blocking or with a
 * deadline (DONTWAIT, then poll @fd).  @call gets the flags and returns a
 * result or -errno; the GIL is dropped around it when it may block.
 */
struct io_call {
	long (*fn)(void *obj, void *arg, int flags);
	void *obj, *arg;
};

static long run_io(int *busy, double timeout, int fd, int extra_flags,
		   struct io_call *c)
{
	double deadline = timeout > 0 ? now_s() + timeout : 0;
	long r;

	for (;;) {
		int flags = extra_flags | (timeout >= 0 ? ISM_F_DONTWAIT : 0);

		(*busy)++;
		if (flags & ISM_F_DONTWAIT) {
			r = c->fn(c->obj, c->arg, flags);
		} else {
			NOGIL(r = c->fn(c->obj, c->arg, flags));
		}
		(*busy)--;
		if (r != -EAGAIN || timeout <= 0)
			break;
		r = wait_fd(fd, deadline);
		if (r < 0)
			return LONG_MIN; /* Python error set */
		if (r == 0) {
			timeout_err();
			return LONG_MIN;
		}
	}
	if (r == -EINTR && PyErr_CheckSignals() < 0)
		return LONG_MIN;
	if (r < 0)
		seterr(r);
	return r < 0 ? LONG_MIN : r;
}

struct buf_arg {
	const void *p;
	size_t len;
};

static long chan_send_fn(void *obj, void *arg, int flags)
{
	struct buf_arg *b = arg;

	return ism_chan_send(obj, b->p, b->len, flags);
}

static long chan_recv_fn(void *obj, void *arg, int flags)
{
	struct buf_arg *b = arg;

	return ism_chan_recv(obj, (void *)b->p, b->len, flags);
}

static int chan_no_view(ChanObject *self)
{
	if (self->view && !self->view->released) {
		PyErr_SetString(PyExc_BufferError,
				"the peeked message is not released yet");
		return -1;
	}
	return 0;
}

static PyObject *chan_send(ChanObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "data", "more", NULL };
	Py_buffer b;
	int more = 0;
	struct buf_arg a;
	struct io_call c = { chan_send_fn, NULL, &a };
	long r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|$p", kwlist, &b, &more))
		return NULL;
	if (!self->ch) {
		PyBuffer_Release(&b);
		return closed_err();
	}
	a.p = b.buf;
	a.len = (size_t)b.len;
	c.obj = self->ch;
	r = run_io(&self->busy, self->timeout, ism_chan_fd(self->ch),
		   more ? ISM_F_MORE : 0, &c);
	PyBuffer_Release(&b);
	if (r == LONG_MIN)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *chan_flush(ChanObject *self, PyObject *u)
{
	int r;

	(void)u;
	CHAN_OK(self);
	r = ism_chan_flush(self->ch);
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

struct peek_arg {
	const void *p;
	size_t len;
};

static long chan_peek_fn(void *obj, void *arg, int flags)
{
	struct peek_arg *a = arg;
	int r = ism_chan_peek(obj, &a->p, &a->len, flags);

	return r < 0 ? r : 0;
}

static PyObject *chan_recv(ChanObject *self, PyObject *args)
{
	Py_ssize_t cap = -1;
	PyObject *out;
	struct buf_arg a;
	struct io_call c = { chan_recv_fn, NULL, &a };
	long r;

	if (!PyArg_ParseTuple(args, "|n", &cap))
		return NULL;
	CHAN_OK(self);
	if (chan_no_view(self) < 0)
		return NULL;
	if (cap < 0) {
		/* Any length: copy the message out of the ring at its size
		 * (no max_msg-sized buffer per call). */
		struct peek_arg pa;
		struct io_call pc = { chan_peek_fn, self->ch, &pa };
		int rr;

		if (run_io(&self->busy, self->timeout, ism_chan_fd(self->ch), 0,
			   &pc) == LONG_MIN)
			return NULL;
		out = PyBytes_FromStringAndSize(pa.p, (Py_ssize_t)pa.len);
		rr = ism_chan_release(self->ch);
		if (rr < 0) {
			Py_XDECREF(out);
			return seterr(rr);
		}
		return out;
	}
	out = PyBytes_FromStringAndSize(NULL, cap);
	if (!out)
		return NULL;
	a.p = PyBytes_AS_STRING(out);
	a.len = (size_t)cap;
	c.obj = self->ch;
	r = run_io(&self->busy, self->timeout, ism_chan_fd(self->ch), 0, &c);
	if (r == LONG_MIN) {
		Py_DECREF(out);
		return NULL;
	}
	if (r != cap && _PyBytes_Resize(&out, r) < 0)
		return NULL;
	return out;
}

static PyObject *chan_recv_into(ChanObject *self, PyObject *args)
{
	Py_buffer b;
	Py_ssize_t n = 0;
	struct buf_arg a;
	struct io_call c = { chan_recv_fn, NULL, &a };
	long r;

	if (!PyArg_ParseTuple(args, "w*|n", &b, &n))
		return NULL;
	if (!self->ch || chan_no_view(self) < 0) {
		PyBuffer_Release(&b);
		return self->ch ? NULL : closed_err();
	}
	a.p = b.buf;
	a.len = (size_t)(n > 0 && n < b.len ? n : b.len);
	c.obj = self->ch;
	r = run_io(&self->busy, self->timeout, ism_chan_fd(self->ch), 0, &c);
	PyBuffer_Release(&b);
	return r == LONG_MIN ? NULL : PyLong_FromLong(r);
}

static PyObject *chan_peek(ChanObject *self, PyObject *u)
{
	struct peek_arg a;
	struct io_call c = { chan_peek_fn, NULL, &a };
	PyObject *v;

	(void)u;
	CHAN_OK(self);
	if (chan_no_view(self) < 0)
		return NULL;
	c.obj = self->ch;
	if (run_io(&self->busy, self->timeout, ism_chan_fd(self->ch), 0, &c) ==
	    LONG_MIN)
		return NULL;
	v = make_view((PyObject *)self, VIEW_CHAN, a.p, (Py_ssize_t)a.len);
	if (v)
		self->view = (ViewObject *)v;
	return v;
}

static PyObject *chan_shutdown(ChanObject *self, PyObject *u)
{
	(void)u;
	CHAN_OK(self);
	ism_chan_shutdown(self->ch);
	Py_RETURN_NONE;
}

static PyObject *chan_close(ChanObject *self, PyObject *u)
{
	(void)u;
	if (chan_close_impl(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *chan_can_close_m(ChanObject *self, PyObject *u)
{
	(void)u;
	if (self->ch && chan_can_close(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *io_settimeout(double *slot, PyObject *v)
{
	double t;

	if (parse_timeout(v, &t) < 0)
		return NULL;
	*slot = t;
	Py_RETURN_NONE;
}

static PyObject *io_gettimeout(double t)
{
	if (t < 0)
		Py_RETURN_NONE;
	return PyFloat_FromDouble(t);
}

static PyObject *chan_settimeout(ChanObject *self, PyObject *v)
{
	return io_settimeout(&self->timeout, v);
}

static PyObject *chan_gettimeout(ChanObject *self, PyObject *u)
{
	(void)u;
	return io_gettimeout(self->timeout);
}

static PyObject *chan_setblocking(ChanObject *self, PyObject *v)
{
	int b = PyObject_IsTrue(v);

	if (b < 0)
		return NULL;
	self->timeout = b ? -1 : 0;
	Py_RETURN_NONE;
}

static PyObject *chan_get_closed(ChanObject *self, void *u)
{
	(void)u;
	return PyBool_FromLong(!self->ch);
}

/* ------------------------------------------------------------------ */
/* Stream and Listener */

typedef struct {
	CHILD_HEAD struct ism_stream *s;
	double timeout;
	ViewObject *view;    /* borrowed: peeked bytes, if any */
	ViewObject *tx_view; /* borrowed: reserved room, if any */
} StreamObject;

typedef struct {
	CHILD_HEAD struct ism_stream_listener *l;
	double timeout;
} ListenerObject;

static PyTypeObject StreamType, ListenerType;

#define STREAM_OK(self)                                                        \
	do {                                                                   \
		if (!(self)->s)                                                \
			return closed_err();                                   \
	} while (0)

static StreamObject *stream_alloc(void)
{
	StreamObject *o = PyObject_New(StreamObject, &StreamType);

	if (!o)
		return NULL;
	o->s = NULL;
	o->conn = NULL;
	o->busy = 0;
	o->weakrefs = NULL;
	o->timeout = -1;
	o->view = NULL;
	o->tx_view = NULL;
	return o;
}

static int stream_can_close(StreamObject *self)
{
	if (self->tx_view && !self->tx_view->released &&
	    self->tx_view->exports) {
		PyErr_SetString(PyExc_BufferError,
				"reserved room is still viewed: release it "
				"first");
		return -1;
	}
	if (self->view && !self->view->released && self->view->exports) {
		PyErr_SetString(PyExc_BufferError,
				"peeked bytes are still viewed: release "
				"them first");
		return -1;
	}
	if (self->busy) {
		busy_err();
		return -1;
	}
	return 0;
}

static int stream_close_impl(StreamObject *self)
{
	int r;

	if (!self->s)
		return 0;
	if (stream_can_close(self) < 0)
		return -1;
	if (self->view)
		self->view->released = true;
	if (self->tx_view)
		self->tx_view->released = true;
	self->view = self->tx_view = NULL;
	NOGIL(r = ism_stream_close(self->s));
	self->s = NULL;
	(void)r; /* informational, like close(2) after a shutdown */
	return 0;
}

static void stream_dealloc(StreamObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->s)
		ism_stream_close(self->s);
	Py_XDECREF(self->conn);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int stream_opts(PyObject *kw_ring, struct ism_stream_opts *o,
		       unsigned ring, unsigned spin, int hs, int tcp_only,
		       const char *name)
{
	(void)kw_ring;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->ring_size = ring;
	o->spin_us = spin;
	o->handshake_ms = hs;
	o->flags = tcp_only ? ISM_STREAM_TCP_ONLY : 0;
	o->name = name;
	return 0;
}

static PyObject *stream_connect(PyObject *cls, PyObject *args, PyObject *kw)
{
	int nobusy = 0, *cbusy = &nobusy;
	static char *kwlist[] = { "conn",      "host",	  "port",
				  "ring_size", "spin_us", "handshake_ms",
				  "tcp_only",  "name",	  NULL };
	PyObject *conn_o, *port_o;
	const char *host, *port;
	unsigned ring = 0, spin = 0;
	int hs = 0, tcp_only = 0, r;
	const char *name = NULL;
	struct ism_stream_opts o;
	StreamObject *self;
	PyObject *port_s;
	ConnObject *conn = NULL;

	(void)cls;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OzO|$IIipz", kwlist,
					 &conn_o, &host, &port_o, &ring, &spin,
					 &hs, &tcp_only, &name))
		return NULL;
	if (conn_o != Py_None) {
		if (!PyObject_TypeCheck(conn_o, &ConnType)) {
			PyErr_SetString(PyExc_TypeError,
					"conn: an ism.Conn or None");
			return NULL;
		}
		conn = (ConnObject *)conn_o;
		CONN_OK(conn);
		cbusy = &conn->busy;
	}
	port_s = PyObject_Str(port_o);
	if (!port_s)
		return NULL;
	port = PyUnicode_AsUTF8(port_s);
	if (!port) {
		Py_DECREF(port_s);
		return NULL;
	}
	stream_opts(NULL, &o, ring, spin, hs, tcp_only, name);
	self = stream_alloc();
	if (!self) {
		Py_DECREF(port_s);
		return NULL;
	}
	BUSY_NOGIL(*cbusy, r = ism_stream_connect(conn ? conn->c : NULL, host,
						  port, &o, &self->s));
	Py_DECREF(port_s);
	if (r < 0) {
		self->s = NULL;
		Py_DECREF(self);
		return seterr(r);
	}
	if (conn && conn_adopt(conn, (PyObject *)self) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static long stream_send_fn(void *obj, void *arg, int flags)
{
	struct buf_arg *b = arg;

	return ism_stream_send(obj, b->p, b->len, flags);
}

static long stream_recv_fn(void *obj, void *arg, int flags)
{
	struct buf_arg *b = arg;

	return ism_stream_recv(obj, (void *)b->p, b->len, flags);
}

static int stream_no_view(StreamObject *self)
{
	if (self->view && !self->view->released) {
		PyErr_SetString(PyExc_BufferError,
				"peeked bytes are not released yet");
		return -1;
	}
	return 0;
}

/* send: like socket.send, what was queued (maybe less when not blocking);
 * sendall: everything, honouring the timeout as a whole. */
static PyObject *stream_send_common(StreamObject *self, PyObject *args,
				    bool all)
{
	Py_buffer b;
	struct buf_arg a;
	struct io_call c = { stream_send_fn, NULL, &a };
	Py_ssize_t done = 0;
	double deadline = self->timeout > 0 ? now_s() + self->timeout : 0;
	long r = 0;

	if (!PyArg_ParseTuple(args, "y*", &b))
		return NULL;
	if (!self->s) {
		PyBuffer_Release(&b);
		return closed_err();
	}
	if (self->tx_view && !self->tx_view->released) {
		PyBuffer_Release(&b);
		PyErr_SetString(PyExc_BufferError,
				"reserved room is not sent or released yet");
		return NULL;
	}
	c.obj = self->s;
	do {
		double t = self->timeout;

		if (t > 0) {
			t = deadline - now_s();
			if (t <= 0) {
				timeout_err();
				r = LONG_MIN;
				break;
			}
		}
		a.p = (const char *)b.buf + done;
		a.len = (size_t)(b.len - done);
		r = run_io(&self->busy, t, ism_stream_fd(self->s), 0, &c);
		if (r == LONG_MIN)
			break;
		done += r;
	} while (all && done < b.len);
	PyBuffer_Release(&b);
	if (r == LONG_MIN)
		return NULL;
	if (all)
		Py_RETURN_NONE;
	return PyLong_FromSsize_t(done);
}

static PyObject *stream_send(StreamObject *self, PyObject *args)
{
	return stream_send_common(self, args, false);
}

static PyObject *stream_sendall(StreamObject *self, PyObject *args)
{
	return stream_send_common(self, args, true);
}

static PyObject *stream_recv(StreamObject *self, PyObject *args)
{
	Py_ssize_t cap;
	PyObject *out;
	struct buf_arg a;
	struct io_call c = { stream_recv_fn, NULL, &a };
	long r;

	if (!PyArg_ParseTuple(args, "n", &cap))
		return NULL;
	STREAM_OK(self);
	if (stream_no_view(self) < 0)
		return NULL;
	if (cap < 0) {
		PyErr_SetString(PyExc_ValueError,
				"negative buffersize in recv");
		return NULL;
	}
	out = PyBytes_FromStringAndSize(NULL, cap);
	if (!out)
		return NULL;
	a.p = PyBytes_AS_STRING(out);
	a.len = (size_t)cap;
	c.obj = self->s;
	r = run_io(&self->busy, self->timeout, ism_stream_fd(self->s), 0, &c);
	if (r == LONG_MIN) {
		Py_DECREF(out);
		return NULL;
	}
	if (r != cap && _PyBytes_Resize(&out, r) < 0)
		return NULL;
	return out;
}

static PyObject *stream_recv_into(StreamObject *self, PyObject *args)
{
	Py_buffer b;
	Py_ssize_t n = 0;
	struct buf_arg a;
	struct io_call c = { stream_recv_fn, NULL, &a };
	long r;

	if (!PyArg_ParseTuple(args, "w*|n", &b, &n))
		return NULL;
	if (!self->s || stream_no_view(self) < 0) {
		PyBuffer_Release(&b);
		return self->s ? NULL : closed_err();
	}
	a.p = b.buf;
	a.len = (size_t)(n > 0 && n < b.len ? n : b.len);
	c.obj = self->s;
	r = run_io(&self->busy, self->timeout, ism_stream_fd(self->s), 0, &c);
	PyBuffer_Release(&b);
	return r == LONG_MIN ? NULL : PyLong_FromLong(r);
}

static long stream_peek_fn(void *obj, void *arg, int flags)
{
	struct peek_arg *a = arg;
	ssize_t r = ism_stream_peek(obj, &a->p, flags);

	if (r >= 0)
		a->len = (size_t)r;
	return r < 0 ? (long)r : 0;
}

static PyObject *stream_peek(StreamObject *self, PyObject *u)
{
	struct peek_arg a = { NULL, 0 };
	struct io_call c = { stream_peek_fn, NULL, &a };
	PyObject *v;

	(void)u;
	STREAM_OK(self);
	if (stream_no_view(self) < 0)
		return NULL;
	c.obj = self->s;
	if (run_io(&self->busy, self->timeout, ism_stream_fd(self->s), 0, &c) ==
	    LONG_MIN)
		return NULL;
	v = make_view((PyObject *)self, VIEW_STREAM, a.p, (Py_ssize_t)a.len);
	if (v)
		self->view = (ViewObject *)v;
	return v;
}

struct reserve_arg {
	void *p;
	size_t want, got;
};

static long stream_reserve_fn(void *obj, void *arg, int flags)
{
	struct reserve_arg *a = arg;
	ssize_t r = ism_stream_reserve(obj, &a->p, a->want, flags);

	if (r >= 0)
		a->got = (size_t)r;
	return r < 0 ? (long)r : 0;
}

static PyObject *stream_reserve(StreamObject *self, PyObject *args)
{
	Py_ssize_t n;
	struct reserve_arg a = { NULL, 0, 0 };
	struct io_call c = { stream_reserve_fn, NULL, &a };
	PyObject *v;

	if (!PyArg_ParseTuple(args, "n", &n))
		return NULL;
	STREAM_OK(self);
	if (n <= 0) {
		PyErr_SetString(PyExc_ValueError, "reserve at least 1 byte");
		return NULL;
	}
	if (self->tx_view && !self->tx_view->released) {
		PyErr_SetString(PyExc_BufferError,
				"reserved room is not sent or released yet");
		return NULL;
	}
	a.want = (size_t)n;
	c.obj = self->s;
	if (run_io(&self->busy, self->timeout, ism_stream_fd(self->s), 0, &c) ==
	    LONG_MIN)
		return NULL;
	v = make_view((PyObject *)self, VIEW_STREAM_TX, a.p, (Py_ssize_t)a.got);
	if (v)
		self->tx_view = (ViewObject *)v;
	return v;
}

static PyObject *stream_shutdown(StreamObject *self, PyObject *args)
{
	int how, r;

	if (!PyArg_ParseTuple(args, "i", &how))
		return NULL;
	STREAM_OK(self);
	BUSY_NOGIL(self->busy, r = ism_stream_shutdown(self->s, how));
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *stream_fileno(StreamObject *self, PyObject *u)
{
	(void)u;
	STREAM_OK(self);
	return PyLong_FromLong(ism_stream_fd(self->s));
}

static PyObject *stream_socket_fd(StreamObject *self, PyObject *u)
{
	(void)u;
	STREAM_OK(self);
	return PyLong_FromLong(ism_stream_socket(self->s));
}

static PyObject *stream_get_path(StreamObject *self, void *u)
{
	(void)u;
	STREAM_OK(self);
	return PyUnicode_FromString(
		ism_stream_path_name(ism_stream_path(self->s, NULL)));
}

static PyObject *stream_get_reason(StreamObject *self, void *u)
{
	int reason = 0;

	(void)u;
	STREAM_OK(self);
	ism_stream_path(self->s, &reason);
	return PyUnicode_FromString(ism_stream_reason_name(reason));
}

static PyObject *stream_close(StreamObject *self, PyObject *u)
{
	(void)u;
	if (stream_close_impl(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *stream_can_close_m(StreamObject *self, PyObject *u)
{
	(void)u;
	if (self->s && stream_can_close(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *stream_settimeout(StreamObject *self, PyObject *v)
{
	return io_settimeout(&self->timeout, v);
}

static PyObject *stream_gettimeout(StreamObject *self, PyObject *u)
{
	(void)u;
	return io_gettimeout(self->timeout);
}

static PyObject *stream_setblocking(StreamObject *self, PyObject *v)
{
	int b = PyObject_IsTrue(v);

	if (b < 0)
		return NULL;
	self->timeout = b ? -1 : 0;
	Py_RETURN_NONE;
}

static PyObject *stream_get_closed(StreamObject *self, void *u)
{
	(void)u;
	return PyBool_FromLong(!self->s);
}

/* Listener */

static PyObject *listener_new_m(PyObject *cls, PyObject *args, PyObject *kw)
{
	int nobusy = 0, *cbusy = &nobusy;
	static char *kwlist[] = { "conn",      "host",	   "port",
				  "ring_size", "spin_us",  "handshake_ms",
				  "backlog",   "tcp_only", "name",
				  NULL };
	PyObject *conn_o, *port_o = NULL, *port_s;
	const char *host = NULL, *port, *name = NULL;
	unsigned ring = 0, spin = 0;
	int hs = 0, backlog = 0, tcp_only = 0, r;
	struct ism_stream_opts o;
	ListenerObject *self;
	ConnObject *conn = NULL;

	(void)cls;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|zO$IIiipz", kwlist,
					 &conn_o, &host, &port_o, &ring, &spin,
					 &hs, &backlog, &tcp_only, &name))
		return NULL;
	if (conn_o != Py_None) {
		if (!PyObject_TypeCheck(conn_o, &ConnType)) {
			PyErr_SetString(PyExc_TypeError,
					"conn: an ism.Conn or None");
			return NULL;
		}
		conn = (ConnObject *)conn_o;
		CONN_OK(conn);
		cbusy = &conn->busy;
	}
	port_s = port_o ? PyObject_Str(port_o) : PyUnicode_FromString("0");
	if (!port_s)
		return NULL;
	port = PyUnicode_AsUTF8(port_s);
	if (!port) {
		Py_DECREF(port_s);
		return NULL;
	}
	stream_opts(NULL, &o, ring, spin, hs, tcp_only, name);
	o.backlog = backlog;
	self = PyObject_New(ListenerObject, &ListenerType);
	if (!self) {
		Py_DECREF(port_s);
		return NULL;
	}
	self->l = NULL;
	self->conn = NULL;
	self->busy = 0;
	self->weakrefs = NULL;
	self->timeout = -1;
	BUSY_NOGIL(*cbusy, r = ism_stream_listen(conn ? conn->c : NULL, host,
						 port, &o, &self->l));
	Py_DECREF(port_s);
	if (r < 0) {
		self->l = NULL;
		Py_DECREF(self);
		return seterr(r);
	}
	if (conn && conn_adopt(conn, (PyObject *)self) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static void listener_dealloc(ListenerObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->l)
		ism_stream_listener_close(self->l);
	Py_XDECREF(self->conn);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

#define LISTENER_OK(self)                                                      \
	do {                                                                   \
		if (!(self)->l)                                                \
			return closed_err();                                   \
	} while (0)

static long accept_fn(void *obj, void *arg, int flags)
{
	return ism_stream_accept(obj, arg, flags);
}

static PyObject *listener_accept(ListenerObject *self, PyObject *u)
{
	struct ism_stream *s = NULL;
	struct io_call c = { accept_fn, NULL, &s };
	StreamObject *o;

	(void)u;
	LISTENER_OK(self);
	c.obj = self->l;
	/* With a timeout: wait for a connection, then accept it blocking,
	 * which finishes the handshake (bounded by handshake_ms) as a
	 * blocking accept does; non-blocking: the stream may be pending. */
	if (self->timeout > 0) {
		int w = wait_fd(ism_stream_listener_fd(self->l),
				now_s() + self->timeout);

		if (w <= 0)
			return w < 0 ? NULL : timeout_err();
	}
	if (run_io(&self->busy, self->timeout > 0 ? -1 : self->timeout,
		   ism_stream_listener_fd(self->l), 0, &c) == LONG_MIN)
		return NULL;
	o = stream_alloc();
	if (!o) {
		ism_stream_close(s);
		return NULL;
	}
	o->s = s;
	o->timeout = self->timeout;
	if (self->conn && conn_adopt(self->conn, (PyObject *)o) < 0) {
		Py_DECREF(o);
		return NULL;
	}
	return (PyObject *)o;
}

static PyObject *listener_fileno(ListenerObject *self, PyObject *u)
{
	(void)u;
	LISTENER_OK(self);
	return PyLong_FromLong(ism_stream_listener_fd(self->l));
}

static PyObject *listener_get_port(ListenerObject *self, void *u)
{
	(void)u;
	LISTENER_OK(self);
	return PyLong_FromLong(ism_stream_listener_port(self->l));
}

static PyObject *listener_close(ListenerObject *self, PyObject *u)
{
	(void)u;
	if (self->l && self->busy)
		return busy_err();
	if (self->l)
		ism_stream_listener_close(self->l);
	self->l = NULL;
	Py_RETURN_NONE;
}

static PyObject *listener_can_close_m(ListenerObject *self, PyObject *u)
{
	(void)u;
	if (self->l && self->busy)
		return busy_err();
	Py_RETURN_NONE;
}

static PyObject *listener_settimeout(ListenerObject *self, PyObject *v)
{
	return io_settimeout(&self->timeout, v);
}

static PyObject *listener_gettimeout(ListenerObject *self, PyObject *u)
{
	(void)u;
	return io_gettimeout(self->timeout);
}

static PyObject *listener_setblocking(ListenerObject *self, PyObject *v)
{
	int b = PyObject_IsTrue(v);

	if (b < 0)
		return NULL;
	self->timeout = b ? -1 : 0;
	Py_RETURN_NONE;
}

/* View owners */

static void owner_view_done(PyObject *owner, int kind)
{
	if (kind == VIEW_CHAN)
		((ChanObject *)owner)->view = NULL;
	else if (kind == VIEW_STREAM)
		((StreamObject *)owner)->view = NULL;
	else
		((StreamObject *)owner)->tx_view = NULL;
}

static int owner_release(PyObject *owner, int kind, Py_ssize_t n)
{
	int r = 0;

	if (kind == VIEW_CHAN) {
		ChanObject *c = (ChanObject *)owner;

		if (c->ch)
			r = ism_chan_release(c->ch);
	} else if (kind == VIEW_STREAM) {
		StreamObject *s = (StreamObject *)owner;

		if (s->s)
			r = ism_stream_release(s->s, (size_t)n);
	} else {
		StreamObject *s = (StreamObject *)owner;
		ssize_t sr = 0;

		if (s->s)
			BUSY_NOGIL(
				s->busy,
				sr = ism_stream_commit(
					s->s, (size_t)n,
					s->timeout == 0 ? ISM_F_DONTWAIT : 0));
		r = sr < 0 ? (int)sr : 0;
	}
	if (r < 0) {
		seterr(r);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ivshmem member */

typedef struct {
	CHILD_HEAD struct ism_ivshmem *m;
	void *map;
	Py_ssize_t exports;
} IvshmemObject;

static PyTypeObject IvshmemType;

#define IVSH_OK(self)                                                          \
	do {                                                                   \
		if (!(self)->m)                                                \
			return closed_err();                                   \
	} while (0)

static int ivsh_can_close(IvshmemObject *self)
{
	if (self->exports) {
		PyErr_Format(PyExc_BufferError,
			     "domain memory has %zd exported buffer(s)",
			     self->exports);
		return -1;
	}
	if (self->busy) {
		busy_err();
		return -1;
	}
	return 0;
}

static PyObject *conn_ivshmem_join(ConnObject *self, PyObject *args)
{
	const char *name;
	IvshmemObject *o;
	int r;

	if (!PyArg_ParseTuple(args, "s", &name))
		return NULL;
	CONN_OK(self);
	o = PyObject_New(IvshmemObject, &IvshmemType);
	if (!o)
		return NULL;
	o->m = NULL;
	o->map = NULL;
	o->exports = 0;
	o->conn = NULL;
	o->busy = 0;
	o->weakrefs = NULL;
	BUSY_NOGIL(self->busy, r = ism_ivshmem_join(self->c, name, &o->m));
	if (r < 0) {
		o->m = NULL;
		Py_DECREF(o);
		return seterr(r);
	}
	if (conn_adopt(self, (PyObject *)o) < 0) {
		Py_DECREF(o);
		return NULL;
	}
	return (PyObject *)o;
}

static PyObject *conn_ivshmem_list(ConnObject *self, PyObject *u)
{
	struct ism_ivshmem_domain d[64];
	PyObject *l;
	int n;

	(void)u;
	CONN_OK(self);
	n = ism_ivshmem_list(self->c, d, 64);
	if (n < 0)
		return seterr(n);
	l = PyList_New(0);
	for (int i = 0; l && i < n; i++) {
		PyObject *e = Py_BuildValue(
			"{sIsIsIsIsKsssOsO}", "id", d[i].id, "vectors",
			d[i].vectors, "peers", d[i].peers, "max_peers",
			d[i].max_peers, "size", (unsigned long long)d[i].size,
			"name", d[i].name, "may_join",
			d[i].flags & ISM_IVSHMEM_MAY_JOIN ? Py_True : Py_False,
			"v2", d[i].flags & ISM_IVSHMEM_V2 ? Py_True : Py_False);

		if (!e || PyList_Append(l, e) < 0) {
			Py_XDECREF(e);
			Py_CLEAR(l);
			break;
		}
		Py_DECREF(e);
	}
	return l;
}

static PyObject *conn_ivshmem_peers(ConnObject *self, PyObject *args)
{
	struct ism_ivshmem_peer p[256];
	unsigned domain;
	PyObject *l;
	int n;

	if (!PyArg_ParseTuple(args, "I", &domain))
		return NULL;
	CONN_OK(self);
	n = ism_ivshmem_peers(self->c, domain, p, 256);
	if (n < 0)
		return seterr(n);
	l = PyList_New(0);
	for (int i = 0; l && i < n; i++) {
		PyObject *e = Py_BuildValue(
			"{sIsssKsK}", "id", p[i].id, "kind",
			p[i].kind == ISM_IVSHMEM_QEMU ? "qemu" : "ism",
			"ism_peer", (unsigned long long)p[i].ism_peer, "age_ns",
			(unsigned long long)p[i].age_ns);

		if (!e || PyList_Append(l, e) < 0) {
			Py_XDECREF(e);
			Py_CLEAR(l);
			break;
		}
		Py_DECREF(e);
	}
	return l;
}

static PyObject *conn_ivshmem_ring(ConnObject *self, PyObject *args)
{
	unsigned d, p, v;
	int r;

	if (!PyArg_ParseTuple(args, "III", &d, &p, &v))
		return NULL;
	CONN_OK(self);
	BUSY_NOGIL(self->busy, r = ism_ivshmem_ring(self->c, d, p, v));
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *ivsh_get_u32(IvshmemObject *self, void *which)
{
	IVSH_OK(self);
	switch ((intptr_t)which) {
	case 0: return PyLong_FromUnsignedLong(ism_ivshmem_domain_id(self->m));
	case 1: return PyLong_FromUnsignedLong(ism_ivshmem_id(self->m));
	case 2: return PyLong_FromUnsignedLong(ism_ivshmem_vectors(self->m));
	default: return PyLong_FromUnsignedLongLong(ism_ivshmem_size(self->m));
	}
}

static PyObject *ivsh_vector_fd(IvshmemObject *self, PyObject *args)
{
	unsigned v;
	int r;

	if (!PyArg_ParseTuple(args, "I", &v))
		return NULL;
	IVSH_OK(self);
	r = ism_ivshmem_vector_fd(self->m, v);
	return r < 0 ? seterr(r) : PyLong_FromLong(r);
}

static PyObject *ivsh_set_state(IvshmemObject *self, PyObject *args)
{
	unsigned v;
	int r;

	if (!PyArg_ParseTuple(args, "I", &v))
		return NULL;
	IVSH_OK(self);
	BUSY_NOGIL(self->busy, r = ism_ivshmem_set_state(self->m, v));
	if (r < 0)
		return seterr(r);
	Py_RETURN_NONE;
}

static PyObject *ivsh_state(IvshmemObject *self, PyObject *args)
{
	const _Atomic uint32_t *t;
	struct ism_ivshmem_layout lay;
	unsigned peer;
	int r;

	if (!PyArg_ParseTuple(args, "I", &peer))
		return NULL;
	IVSH_OK(self);
	r = ism_ivshmem_layout(self->m, &lay);
	if (r < 0)
		return seterr(r);
	r = ism_ivshmem_state_table(self->m, &t);
	if (r < 0)
		return seterr(r);
	if ((uint64_t)peer >= lay.state_size / sizeof(uint32_t)) {
		PyErr_SetString(PyExc_IndexError, "no such peer id");
		return NULL;
	}
	return PyLong_FromUnsignedLong(
		atomic_load_explicit(&t[peer], memory_order_acquire));
}

static PyObject *ivsh_leave(IvshmemObject *self, PyObject *u)
{
	(void)u;
	if (!self->m)
		Py_RETURN_NONE;
	if (ivsh_can_close(self) < 0)
		return NULL;
	ism_ivshmem_leave(self->m);
	self->m = NULL;
	self->map = NULL;
	Py_RETURN_NONE;
}

static PyObject *ivsh_can_close_m(IvshmemObject *self, PyObject *u)
{
	(void)u;
	if (self->m && ivsh_can_close(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static void ivsh_dealloc(IvshmemObject *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->m)
		ism_ivshmem_leave(self->m);
	Py_XDECREF(self->conn);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ivsh_getbuffer(IvshmemObject *self, Py_buffer *view, int flags)
{
	uint64_t size;
	int r;

	view->obj = NULL;
	if (!self->m) {
		PyErr_SetString(PyExc_BufferError, "member has left");
		return -1;
	}
	if (!self->map && (r = ism_ivshmem_map(self->m, &self->map)) < 0) {
		self->map = NULL;
		PyErr_Format(PyExc_BufferError, "cannot map: %s", strerror(-r));
		return -1;
	}
	size = ism_ivshmem_size(self->m);
	if (size > PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_BufferError, "domain too large");
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->map,
			      (Py_ssize_t)size, 0, flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void ivsh_releasebuffer(IvshmemObject *self, Py_buffer *view)
{
	(void)view;
	self->exports--;
}

static PyBufferProcs ivsh_as_buffer = {
	(getbufferproc)ivsh_getbuffer,
	(releasebufferproc)ivsh_releasebuffer,
};

/* ------------------------------------------------------------------ */
/* Closing children from Conn.close() */

static int child_close(PyObject *o)
{
	if (PyObject_TypeCheck(o, &RegionType))
		return region_close_impl((RegionObject *)o);
	if (PyObject_TypeCheck(o, &ChanType))
		return chan_close_impl((ChanObject *)o);
	if (PyObject_TypeCheck(o, &StreamType))
		return stream_close_impl((StreamObject *)o);
	PyObject *r = PyObject_CallMethod(
		o, PyObject_TypeCheck(o, &IvshmemType) ? "leave" : "close",
		NULL);

	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Type tables */

static PyMethodDef conn_methods[] = {
	{ "close", (PyCFunction)conn_close, METH_NOARGS,
	  "Close the connection, closing its regions, channels, streams and "
	  "ivshmem memberships first.\nBufferError if one of them still has "
	  "buffers exported (nothing is closed then)." },
	{ "fileno", (PyCFunction)conn_fileno, METH_NOARGS,
	  "A pollable fd: readable when process() has work." },
	{ "doorbell_fd", (PyCFunction)conn_doorbell_fd, METH_NOARGS,
	  "The eventfd ismd signals on notifications, or -1." },
	{ "process", (PyCFunction)conn_process, METH_NOARGS,
	  "Read what ismd sent without blocking; returns events queued." },
	{ "next_event", (PyCFunction)conn_next_event, METH_NOARGS,
	  "The oldest queued Event, or None." },
	{ "wait_event", (PyCFunction)conn_wait_event, METH_VARARGS,
	  "wait_event(timeout=None): an Event, or None on timeout." },
	{ "alloc", (PyCFunction)(void (*)(void))conn_alloc,
	  METH_VARARGS | METH_KEYWORDS,
	  "alloc(size, *, writable=False, name=None, populate=False, "
	  "hugetlb=False, linger=False, peers=None, uids=None) -> Region\n"
	  "Allocate a region; `writable` lets attachers map it read-write." },
	{ "attach", (PyCFunction)(void (*)(void))conn_attach,
	  METH_VARARGS | METH_KEYWORDS,
	  "attach(token, *, writable=False, nofd=False) -> Region" },
	{ "ivshmem_join", (PyCFunction)conn_ivshmem_join, METH_VARARGS,
	  "ivshmem_join(name) -> Ivshmem: become a member of a domain." },
	{ "ivshmem_list", (PyCFunction)conn_ivshmem_list, METH_NOARGS,
	  "The ivshmem domains ismd serves, as dicts." },
	{ "ivshmem_peers", (PyCFunction)conn_ivshmem_peers, METH_VARARGS,
	  "ivshmem_peers(domain) -> list of dicts" },
	{ "ivshmem_ring", (PyCFunction)conn_ivshmem_ring, METH_VARARGS,
	  "ivshmem_ring(domain, peer, vector): ring a member's vector." },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef conn_getset[] = {
	{ "peer_id", (getter)conn_get_peer_id, NULL, "This peer's id.", NULL },
	{ "host_id", (getter)conn_get_host_id, NULL,
	  "ismd's host id (32 hex digits).", NULL },
	{ "is_admin", (getter)conn_get_is_admin, NULL,
	  "True if ismd granted administrative rights.", NULL },
	{ "closed", (getter)conn_get_closed, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ConnType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Conn",
	.tp_basicsize = sizeof(ConnObject),
	.tp_dealloc = (destructor)conn_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Conn(path=None, *, name=None, timeout_ms=0, "
		  "reconnect=False, reconnect_ms=0, no_doorbell=False)\n"
		  "A connection to ismd (path None: $ISM_SOCKET, "
		  "$XDG_RUNTIME_DIR/ism.sock, /run/ism/ism.sock).",
	.tp_methods = conn_methods,
	.tp_getset = conn_getset,
	.tp_init = (initproc)conn_init,
	.tp_new = conn_new,
	.tp_weaklistoffset = offsetof(ConnObject, weakrefs),
};

static PyMethodDef region_methods[] = {
	{ "close", (PyCFunction)region_close, METH_NOARGS,
	  "Release the region (destroy if owner, else detach) and unmap it. "
	  "BufferError while buffers over it are alive." },
	{ "_can_close", (PyCFunction)region_can_close_m, METH_NOARGS, NULL },
	{ "info", (PyCFunction)region_info, METH_NOARGS,
	  "A dict of struct ism_region_info." },
	{ "fileno", (PyCFunction)region_fileno, METH_NOARGS,
	  "The region's memfd (owned by the handle), or -1." },
	{ "read", (PyCFunction)region_read, METH_VARARGS,
	  "read(offset, length) -> bytes, through ismd." },
	{ "write", (PyCFunction)region_write, METH_VARARGS,
	  "write(offset, data) -> int, through ismd." },
	{ "notify", (PyCFunction)(void (*)(void))region_notify,
	  METH_VARARGS | METH_KEYWORDS,
	  "notify(value=0, *, wait=True) -> peers notified (0 if not wait)." },
	{ "detach", (PyCFunction)region_detach, METH_NOARGS, NULL },
	{ "destroy", (PyCFunction)region_destroy, METH_NOARGS, NULL },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef region_getset[] = {
	{ "id", (getter)region_get_id, NULL, NULL, NULL },
	{ "size", (getter)region_get_size, NULL, NULL, NULL },
	{ "token", (getter)region_get_token, NULL,
	  "The capability to hand to a peer (32 hex digits).", NULL },
	{ "readonly", (getter)region_get_readonly, NULL, NULL, NULL },
	{ "closed", (getter)region_get_closed, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject RegionType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Region",
	.tp_basicsize = sizeof(RegionObject),
	.tp_dealloc = (destructor)region_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A shared-memory region (Conn.alloc, Conn.attach).  A "
		  "buffer: memoryview(region) shows the mapping, no copy.",
	.tp_methods = region_methods,
	.tp_getset = region_getset,
	.tp_as_buffer = &region_as_buffer,
	.tp_weaklistoffset = offsetof(RegionObject, weakrefs),
};

static PyMethodDef view_methods[] = {
	{ "__enter__", (PyCFunction)view_enter, METH_NOARGS,
	  "A read-only memoryview of the bytes, in place." },
	{ "__exit__", (PyCFunction)view_exit, METH_VARARGS, NULL },
	{ "release", (PyCFunction)view_release, METH_VARARGS,
	  "release(n=all): consume the bytes (streams: the first n); for "
	  "Stream.reserve, send the first n." },
	{ NULL, NULL, 0, NULL },
};

static PySequenceMethods view_as_seq = {
	.sq_length = (lenfunc)view_length,
};

static PyTypeObject ViewType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.View",
	.tp_basicsize = sizeof(ViewObject),
	.tp_dealloc = (destructor)view_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Received bytes in place (Chan.peek, Stream.peek): use as "
		  "`with ch.peek() as mv:`; released on exit.",
	.tp_methods = view_methods,
	.tp_as_buffer = &view_as_buffer,
	.tp_as_sequence = &view_as_seq,
};

static PyMethodDef chan_methods[] = {
	{ "create", (PyCFunction)(void (*)(void))chan_create,
	  METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	  "create(conn, *, ring_size=0, spin_us=0, peer=0, name=None)\n"
	  "A channel over ismd; give .token to the other side." },
	{ "local", (PyCFunction)(void (*)(void))chan_local,
	  METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	  "local(*, ring_size=0, spin_us=0): a channel without ismd." },
	{ "connect", (PyCFunction)chan_connect, METH_O,
	  "connect(token): attach the other side's ring." },
	{ "local_export", (PyCFunction)chan_local_export, METH_NOARGS,
	  "(region_fd, link_fd) to pass to the other side; close them after." },
	{ "local_connect", (PyCFunction)chan_local_connect, METH_VARARGS,
	  "local_connect(region_fd, link_fd): takes ownership of both." },
	{ "max_msg", (PyCFunction)chan_max_msg_m, METH_NOARGS, NULL },
	{ "fileno", (PyCFunction)chan_fileno, METH_NOARGS,
	  "Readable when a non-blocking call may progress." },
	{ "send", (PyCFunction)(void (*)(void))chan_send,
	  METH_VARARGS | METH_KEYWORDS,
	  "send(data, *, more=False): one message (more: publish at "
	  "flush())." },
	{ "flush", (PyCFunction)chan_flush, METH_NOARGS, NULL },
	{ "recv", (PyCFunction)chan_recv, METH_VARARGS,
	  "recv(bufsize=max_msg) -> bytes: one message." },
	{ "recv_into", (PyCFunction)chan_recv_into, METH_VARARGS,
	  "recv_into(buffer, nbytes=0) -> int: one message into buffer." },
	{ "peek", (PyCFunction)chan_peek, METH_NOARGS,
	  "The next message in place: `with ch.peek() as mv: ...`.  The "
	  "bytes lie in the other side's memory and may change: copy what "
	  "you validate." },
	{ "shutdown", (PyCFunction)chan_shutdown, METH_NOARGS,
	  "Half-close: the other side reads our messages, then ESHUTDOWN." },
	{ "close", (PyCFunction)chan_close, METH_NOARGS, NULL },
	{ "_can_close", (PyCFunction)chan_can_close_m, METH_NOARGS, NULL },
	{ "settimeout", (PyCFunction)chan_settimeout, METH_O, NULL },
	{ "gettimeout", (PyCFunction)chan_gettimeout, METH_NOARGS, NULL },
	{ "setblocking", (PyCFunction)chan_setblocking, METH_O, NULL },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef chan_getset[] = {
	{ "token", (getter)chan_get_token, NULL, NULL, NULL },
	{ "closed", (getter)chan_get_closed, NULL, NULL, NULL },
	{ "max_message", (getter)chan_get_max_msg, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ChanType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Chan",
	.tp_basicsize = sizeof(ChanObject),
	.tp_dealloc = (destructor)chan_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A message channel (Chan.create over ismd, Chan.local "
		  "without).",
	.tp_methods = chan_methods,
	.tp_getset = chan_getset,
	.tp_weaklistoffset = offsetof(ChanObject, weakrefs),
};

static PyMethodDef stream_methods[] = {
	{ "connect", (PyCFunction)(void (*)(void))stream_connect,
	  METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	  "connect(conn, host, port, *, ring_size=0, spin_us=0, "
	  "handshake_ms=0, tcp_only=False, name=None) -> Stream" },
	{ "send", (PyCFunction)stream_send, METH_VARARGS,
	  "send(data) -> bytes queued." },
	{ "sendall", (PyCFunction)stream_sendall, METH_VARARGS, NULL },
	{ "recv", (PyCFunction)stream_recv, METH_VARARGS,
	  "recv(bufsize) -> bytes (b'' at EOF)." },
	{ "recv_into", (PyCFunction)stream_recv_into, METH_VARARGS,
	  "recv_into(buffer, nbytes=0) -> int" },
	{ "peek", (PyCFunction)stream_peek, METH_NOARGS,
	  "The next bytes in place: `with s.peek() as mv: ...`; released "
	  "(consumed) on exit, or View.release(n) consumes the first n." },
	{ "reserve", (PyCFunction)stream_reserve, METH_VARARGS,
	  "reserve(n) -> View: room for up to n bytes in place (writable): "
	  "`with s.reserve(n) as mv: mv[:k] = ...` sends all of it on exit "
	  "(nothing if the block raised); View.release(k) sends the first "
	  "k bytes." },
	{ "shutdown", (PyCFunction)stream_shutdown, METH_VARARGS,
	  "shutdown(how): socket.SHUT_RD, SHUT_WR or SHUT_RDWR." },
	{ "fileno", (PyCFunction)stream_fileno, METH_NOARGS,
	  "Readable when a non-blocking call may progress (for select, "
	  "selectors, asyncio)." },
	{ "tcp_fileno", (PyCFunction)stream_socket_fd, METH_NOARGS,
	  "The TCP socket (getpeername and the like; never read it)." },
	{ "close", (PyCFunction)stream_close, METH_NOARGS, NULL },
	{ "_can_close", (PyCFunction)stream_can_close_m, METH_NOARGS, NULL },
	{ "settimeout", (PyCFunction)stream_settimeout, METH_O, NULL },
	{ "gettimeout", (PyCFunction)stream_gettimeout, METH_NOARGS, NULL },
	{ "setblocking", (PyCFunction)stream_setblocking, METH_O, NULL },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef stream_getset[] = {
	{ "path", (getter)stream_get_path, NULL, "'shm', 'tcp' or 'pending'.",
	  NULL },
	{ "reason", (getter)stream_get_reason, NULL,
	  "Why the stream is on TCP.", NULL },
	{ "closed", (getter)stream_get_closed, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject StreamType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Stream",
	.tp_basicsize = sizeof(StreamObject),
	.tp_dealloc = (destructor)stream_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A TCP-compatible byte stream that moves onto shared "
		  "memory when both ends are ism (socket-like).",
	.tp_methods = stream_methods,
	.tp_getset = stream_getset,
	.tp_weaklistoffset = offsetof(StreamObject, weakrefs),
};

static PyMethodDef listener_methods[] = {
	{ "accept", (PyCFunction)listener_accept, METH_NOARGS,
	  "accept() -> Stream" },
	{ "fileno", (PyCFunction)listener_fileno, METH_NOARGS, NULL },
	{ "close", (PyCFunction)listener_close, METH_NOARGS, NULL },
	{ "_can_close", (PyCFunction)listener_can_close_m, METH_NOARGS, NULL },
	{ "settimeout", (PyCFunction)listener_settimeout, METH_O, NULL },
	{ "gettimeout", (PyCFunction)listener_gettimeout, METH_NOARGS, NULL },
	{ "setblocking", (PyCFunction)listener_setblocking, METH_O, NULL },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef listener_getset[] = {
	{ "port", (getter)listener_get_port, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ListenerType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Listener",
	.tp_basicsize = sizeof(ListenerObject),
	.tp_dealloc = (destructor)listener_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Listener(conn, host=None, port=0, *, ...): accepts ism "
		  "streams (and plain TCP clients).",
	.tp_methods = listener_methods,
	.tp_getset = listener_getset,
	.tp_new = (newfunc)listener_new_m,
	.tp_weaklistoffset = offsetof(ListenerObject, weakrefs),
};

static PyMethodDef ivsh_methods[] = {
	{ "vector_fd", (PyCFunction)ivsh_vector_fd, METH_VARARGS,
	  "vector_fd(v): an eventfd, readable when our vector v is rung." },
	{ "set_state", (PyCFunction)ivsh_set_state, METH_VARARGS,
	  "set_state(value) (layout v2)." },
	{ "state", (PyCFunction)ivsh_state, METH_VARARGS,
	  "state(peer) -> int: the peer's entry of the state table (v2)." },
	{ "leave", (PyCFunction)ivsh_leave, METH_NOARGS,
	  "Leave the domain; BufferError while views are alive." },
	{ "close", (PyCFunction)ivsh_leave, METH_NOARGS, "Same as leave()." },
	{ "_can_close", (PyCFunction)ivsh_can_close_m, METH_NOARGS, NULL },
	{ "__enter__", self_enter, METH_NOARGS, NULL },
	{ "__exit__", call_close, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef ivsh_getset[] = {
	{ "domain_id", (getter)ivsh_get_u32, NULL, NULL, (void *)0 },
	{ "id", (getter)ivsh_get_u32, NULL, "Our peer id in the domain.",
	  (void *)1 },
	{ "vectors", (getter)ivsh_get_u32, NULL, NULL, (void *)2 },
	{ "size", (getter)ivsh_get_u32, NULL, NULL, (void *)3 },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject IvshmemType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ism.Ivshmem",
	.tp_basicsize = sizeof(IvshmemObject),
	.tp_dealloc = (destructor)ivsh_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Membership of an ivshmem domain (Conn.ivshmem_join); a "
		  "read-write buffer over the domain's memory.",
	.tp_methods = ivsh_methods,
	.tp_getset = ivsh_getset,
	.tp_as_buffer = &ivsh_as_buffer,
	.tp_weaklistoffset = offsetof(IvshmemObject, weakrefs),
};

/* ------------------------------------------------------------------ */
/* Module */

static PyObject *mod_version(PyObject *m, PyObject *u)
{
	(void)m;
	(void)u;
	return PyUnicode_FromString(ism_version());
}

static PyObject *mod_default_socket(PyObject *m, PyObject *u)
{
	char buf[4096];
	int r;

	(void)m;
	(void)u;
	r = ism_default_socket(buf, sizeof(buf));
	return r < 0 ? seterr(r) : PyUnicode_DecodeFSDefault(buf);
}

static PyMethodDef mod_methods[] = {
	{ "version", mod_version, METH_NOARGS, "libism's version string." },
	{ "default_socket", mod_default_socket, METH_NOARGS,
	  "Where ismd listens by default." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef mod_def = {
	PyModuleDef_HEAD_INIT,
	"_ism",
	"The C extension under `import ism` (see ism/__init__.py).",
	-1,
	mod_methods,
	NULL,
	NULL,
	NULL,
	NULL,
};

PyMODINIT_FUNC PyInit__ism(void);
PyMODINIT_FUNC PyInit__ism(void)
{
	static PyTypeObject *types[] = { &ConnType,   &RegionType,
					 &ViewType,   &ChanType,
					 &StreamType, &ListenerType,
					 &IvshmemType };
	static const struct {
		const char *name;
		long v;
	} consts[] = {
		{ "ACCESS_RO", ISM_ACCESS_RO },
		{ "ACCESS_RW", ISM_ACCESS_RW },
		{ "EV_NOTIFY", ISM_EV_NOTIFY },
		{ "EV_REGION_GONE", ISM_EV_REGION_GONE },
		{ "EV_PEER_ATTACHED", ISM_EV_PEER_ATTACHED },
		{ "EV_PEER_DETACHED", ISM_EV_PEER_DETACHED },
		{ "EV_OVERFLOW", ISM_EV_OVERFLOW },
		{ "EV_WATCH", ISM_EV_WATCH },
		{ "EV_SHUTDOWN", ISM_EV_SHUTDOWN },
		{ "EV_RECONNECTED", ISM_EV_RECONNECTED },
		{ "EV_DISCONNECTED", ISM_EV_DISCONNECTED },
		{ "GONE_DESTROYED", ISM_GONE_DESTROYED },
		{ "GONE_OWNER_LEFT", ISM_GONE_OWNER_LEFT },
		{ "GONE_REVOKED", ISM_GONE_REVOKED },
		{ "GONE_LOST", ISM_GONE_LOST },
		{ "CHAN_NO_SPIN", ISM_CHAN_NO_SPIN },
		{ "TOKEN_SIZE", ISM_TOKEN_SIZE },
	};
	PyObject *m = PyModule_Create(&mod_def);

	if (!m)
		return NULL;
	EventType = PyStructSequence_NewType(&event_desc);
	if (!EventType ||
	    PyModule_AddObjectRef(m, "Event", (PyObject *)EventType) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (PyType_Ready(types[i]) < 0 ||
		    PyModule_AddObjectRef(m, strchr(types[i]->tp_name, '.') + 1,
					  (PyObject *)types[i]) < 0)
			goto fail;
	}
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name, consts[i].v) < 0)
			goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
