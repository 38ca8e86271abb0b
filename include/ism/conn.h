/* SPDX-License-Identifier: MIT */
/*
 * ism/conn.h - a connection to ismd (one ISM device).
 *
 * Concepts: ism_conn_open() connects, negotiates the protocol and hands
 * ismd a doorbell eventfd.  Requests are synchronous: each call sends one
 * request and waits for its reply.  Events (notifications, regions going
 * away, peers attaching or leaving) arrive asynchronously; they are queued
 * inside the connection and read with ism_conn_next_event().
 *
 * For an event loop, poll ism_conn_fd() for POLLIN and call
 * ism_conn_process() when it is readable; the fd stays the same across
 * reconnects.  ism_conn_doorbell_fd() is the eventfd ismd signals when a
 * notification arrives; it suits a blocking wait or a KVM irqfd.
 *
 * Reconnect: with ISM_CONN_RECONNECT, a lost connection (ismd restarted or
 * crashed) is re-established transparently: libism reconnects with
 * backoff, resumes its peer id, re-registers the regions it owns and
 * re-attaches the ones it references.  Mappings and fds stay valid
 * throughout.  A region that could not be recovered is reported with an
 * ISM_EV_REGION_GONE event (reason ISM_GONE_LOST).
 *
 * Thread safety: every function taking a struct ism_conn may be called
 * from several threads at once; requests are serialised by an internal
 * lock.  Event callbacks do not exist: events are pulled, so no libism
 * code ever runs on a thread the caller did not lend it.
 */
#ifndef ISM_CONN_H
#define ISM_CONN_H

#include <ism/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_conn;

enum ism_conn_flags {
	/* Re-establish the connection when ismd goes away. */
	ISM_CONN_RECONNECT = 1u << 0,
	/* Do not create a doorbell eventfd (notifications still arrive as
	 * events on the socket). */
	ISM_CONN_NO_DOORBELL = 1u << 1,
};

/* Options; zero-initialise and set .size = sizeof(struct ism_conn_opts). */
struct ism_conn_opts {
	uint32_t size;
	uint32_t flags;	  /* enum ism_conn_flags */
	const char *name; /* shown by `ismctl peers`; <= ISM_NAME_MAX bytes */
	int timeout_ms;	  /* reply timeout per request; 0 means 10000 */
	int reconnect_ms; /* how long to retry a lost ismd; 0 means 30000 */
};

/*
 * Connect to ismd at @path (NULL: ism_default_socket()).  @opts may be NULL.
 * Returns 0 and a connection in *@out, or -errno: -ENOENT/-ECONNREFUSED
 * when no ismd listens, -EACCES when ismd's policy refuses this uid,
 * -EPROTONOSUPPORT when no common protocol version exists, -ETIMEDOUT.
 */
ISM_EXPORT int ism_conn_open(const char *path, const struct ism_conn_opts *opts,
			     struct ism_conn **out);

/*
 * Close the connection.  Regions this peer owns are destroyed by ismd and
 * references are released; region handles still open are freed (their
 * mappings are unmapped).  NULL is allowed.  No other call on this
 * connection or its handles may run concurrently or follow.
 */
ISM_EXPORT void ism_conn_close(struct ism_conn *c);

/*
 * A pollable fd: readable when ism_conn_process() has work.  Owned by the
 * connection; stable across reconnects.
 */
ISM_EXPORT int ism_conn_fd(struct ism_conn *c);

/* The doorbell eventfd ismd signals on notifications, or -1 if disabled.
 * Owned by the connection.  Reading it resets the count. */
ISM_EXPORT int ism_conn_doorbell_fd(struct ism_conn *c);

/*
 * Read whatever ismd sent without blocking, queue events, and drive a
 * reconnect if one is due.  Returns the number of events queued (>= 0), or
 * -errno: -EPIPE when the connection is lost for good.
 */
ISM_EXPORT int ism_conn_process(struct ism_conn *c);

/* This peer's id, stable across reconnects when resumption succeeds. */
ISM_EXPORT uint64_t ism_conn_peer_id(struct ism_conn *c);

/* The host id of the ismd this connection talks to. */
ISM_EXPORT void ism_conn_host_id(struct ism_conn *c, struct ism_host_id *out);

/* Nonzero if ismd granted this peer administrative rights (see ismd(8)). */
ISM_EXPORT int ism_conn_is_admin(struct ism_conn *c);

enum ism_event_type {
	ISM_EV_NOTIFY = 1,	  /* region, peer = sender, value, count */
	ISM_EV_REGION_GONE = 2,	  /* region, reason = enum ism_gone_reason */
	ISM_EV_PEER_ATTACHED = 3, /* region, peer, access */
	ISM_EV_PEER_DETACHED = 4, /* region, peer, reason: ism_detach_reason */
	ISM_EV_OVERFLOW = 5,	  /* count = events ismd could not queue */
	ISM_EV_WATCH = 6,	  /* watch.* (after ism_admin_watch()) */
	ISM_EV_SHUTDOWN = 7,	  /* ismd is stopping; reason 1 = restart */
	ISM_EV_RECONNECTED = 8,	  /* libism re-established the connection */
	ISM_EV_DISCONNECTED = 9,  /* connection lost for good */
	/* A peer's mapping was made (reason 0) or refused (reason: the
	 * errno) in one of our windows (ism/window.h): window.*, region,
	 * peer = the mapper, access. */
	ISM_EV_WINDOW_MAP = 10,
	/* A mapping made through ismd is gone: window.*, region, peer,
	 * reason = enum ism_window_unmap_reason.  Sent to the window's owner
	 * and to the mapper. */
	ISM_EV_WINDOW_UNMAP = 11,
};

enum ism_window_unmap_reason {
	ISM_WUNMAP_REQUESTED = 1,   /* the mapper unmapped it */
	ISM_WUNMAP_REGION_GONE = 2, /* the region was destroyed or revoked */
	ISM_WUNMAP_MAPPER_LEFT = 3, /* the mapper disconnected */
	ISM_WUNMAP_OWNER = 4,	    /* the window's owner unmapped it, or
				     * unregistered the window, or left */
	ISM_WUNMAP_TIMEOUT = 5,	    /* the owner did not confirm in time */
	ISM_WUNMAP_LOST = 6,	    /* (local) the connection to ismd was
				     * lost: unmapped, failing closed */
};

enum ism_gone_reason {
	ISM_GONE_DESTROYED = 1,	 /* the owner destroyed it */
	ISM_GONE_OWNER_LEFT = 2, /* the owner disconnected or crashed */
	ISM_GONE_REVOKED = 3,	 /* an administrator revoked it */
	ISM_GONE_LOST = 4,	 /* not recovered after an ismd restart */
};

enum ism_detach_reason {
	ISM_DETACH_REQUESTED = 1,   /* the peer detached */
	ISM_DETACH_DISCONNECTED = 2 /* the peer disconnected or crashed */
};

enum ism_watch_kind {
	ISM_WATCH_PEER_UP = 1,
	ISM_WATCH_PEER_DOWN = 2,
	ISM_WATCH_REGION_NEW = 3,
	ISM_WATCH_REGION_GONE = 4,
	ISM_WATCH_ATTACH = 5,
	ISM_WATCH_DETACH = 6,
};

struct ism_event {
	uint32_t type;	 /* enum ism_event_type */
	uint32_t reason; /* per type, see above */
	uint64_t region; /* region id, or 0 */
	uint64_t peer;	 /* peer id, or 0 */
	uint64_t
		value; /* ISM_EV_NOTIFY: the sender's value (latest if coalesced) */
	uint64_t count; /* NOTIFY: notifications coalesced into this one (>= 1);
			  * OVERFLOW: events lost */
	uint32_t access; /* PEER_ATTACHED: enum ism_access */
	union {
		struct {
			uint32_t kind; /* enum ism_watch_kind */
			uint32_t uid;
			uint32_t pid;
			uint64_t size;
			char name[ISM_NAME_MAX + 1];
		} watch; /* ISM_EV_WATCH */
		struct {
			uint64_t id;	 /* the window (ismd's id) */
			uint64_t map;	 /* the mapping (ismd's id) */
			uint64_t offset; /* in the window */
			uint64_t len;
			uint64_t region_offset;
		} window; /* ISM_EV_WINDOW_* (0.2; shares watch's bytes) */
	};
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[8];
};

/*
 * Take the oldest queued event.  Returns 1 and fills *@ev, or 0 if none is
 * queued (call ism_conn_process() or ism_conn_wait_event() first).
 */
ISM_EXPORT int ism_conn_next_event(struct ism_conn *c, struct ism_event *ev);

/*
 * Wait up to @timeout_ms (-1: forever) for an event.  Returns 1 with *@ev
 * filled, 0 on timeout, or -errno.
 */
ISM_EXPORT int ism_conn_wait_event(struct ism_conn *c, struct ism_event *ev,
				   int timeout_ms);

/* A short English name for an event type, e.g. "notify". */
ISM_EXPORT const char *ism_event_name(uint32_t type);

#ifdef __cplusplus
}
#endif

#endif
