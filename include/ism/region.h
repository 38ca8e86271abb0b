/* SPDX-License-Identifier: MIT */
/*
 * ism/region.h - shared-memory regions: allocate, attach, map, notify.
 *
 * Concepts: ism_region_alloc() asks ismd for a memfd-backed region; the
 * caller becomes its owner and gets a read-write fd plus a token.  Handing
 * the token to another peer (over any channel) lets it ism_region_attach():
 * read-only (the kernel refuses writable mappings of the fd it gets),
 * read-write (if the owner allowed it), or without any fd (ISM_ATTACH_NOFD:
 * every access goes through ismd with ism_region_read()/ism_region_write(),
 * so it stops the instant the region is destroyed).
 *
 * ism_region_notify() signals every other peer referencing the region.
 * Destroying a region tells every referrer and frees its memory at once
 * (see docs/security.md for what a stale mapping can still do).
 *
 * A struct ism_region is a local handle owned by the caller and tied to
 * its connection; free it with ism_region_close().  Handles may be used
 * from several threads (calls go through the connection's lock); closing a
 * handle while another thread uses it is the caller's bug.
 */
#ifndef ISM_REGION_H
#define ISM_REGION_H

#include <ism/common.h>
#include <ism/conn.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_region;

/* Largest region ismd accepts (1 TiB). */
#define ISM_REGION_SIZE_MAX (1ull << 40)
/* Most peer ids or uids in one grant list. */
#define ISM_ACL_MAX 64

enum ism_alloc_flags {
	/* Back the region with huge pages (MFD_HUGETLB); fall back to normal
	 * pages if none are free, reporting why (ism_region_info.huge_errno). */
	ISM_ALLOC_HUGETLB = 1u << 0,
	/* With ISM_ALLOC_HUGETLB: fail with -ENOMEM instead of falling back. */
	ISM_ALLOC_HUGETLB_REQUIRED = 1u << 1,
	/* Commit all pages now (fallocate), so a later first touch cannot fail. */
	ISM_ALLOC_POPULATE = 1u << 2,
	/* When the owner destroys the region, disconnects or crashes, keep
	 * the contents for peers that still map it (they can drain what it
	 * wrote) instead of freeing the pages at once; they go with the last
	 * mapping.  An administrator's revocation still frees them at once. */
	ISM_ALLOC_LINGER = 1u << 3,
	/* Hand .link_fd (a connected AF_UNIX SOCK_SEQPACKET socket) to the
	 * first peer that attaches with an fd, then forget it: a direct line
	 * between the two for doorbells and hang-up detection. */
	ISM_ALLOC_LINK = 1u << 4,
};

/* Options; zero-initialise and set .size = sizeof(struct ism_alloc_opts). */
struct ism_alloc_opts {
	uint32_t size;
	uint32_t flags; /* enum ism_alloc_flags */
	uint32_t
		max_access; /* what attachers may get: ISM_ACCESS_RO (default) or RW */
	uint32_t n_peers; /* if > 0, only these peer ids may attach */
	const uint64_t *peers;
	uint32_t
		n_uids; /* if > 0, only peers running as these uids may attach */
	const uint32_t *uids;
	const char *name; /* a label for ismctl, <= ISM_NAME_MAX bytes */
	int link_fd;	  /* with ISM_ALLOC_LINK; stays the caller's */
};

enum ism_attach_flags {
	/* No fd: access only through ism_region_read()/ism_region_write(). */
	ISM_ATTACH_NOFD = 1u << 0,
};

/* What a handle refers to. */
struct ism_region_info {
	uint64_t id;	     /* region id, unique per ismd host */
	uint64_t owner;	     /* owner's peer id */
	uint64_t size;	     /* bytes, a multiple of page_size */
	uint32_t page_size;  /* 4096, or the huge page size */
	uint32_t access;     /* this handle's access: ISM_ACCESS_RO or RW */
	uint32_t max_access; /* owner only: what attachers may get */
	int is_owner;
	int nofd;	/* attached with ISM_ATTACH_NOFD */
	int huge;	/* backed by huge pages */
	int huge_errno; /* why huge pages were not used (0 if used or not asked) */
	int gone;	/* destroyed, revoked or lost: only close it now */
	int linger;	/* ISM_ALLOC_LINGER */
	struct ism_token token;
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};

/*
 * Allocate a region of at least @size bytes (rounded up to pages).
 * Returns 0 and a handle in *@out, or -errno: -EINVAL (bad size or
 * options), -EDQUOT (this peer's quota), -ENOMEM (host memory cap or
 * ISM_ALLOC_HUGETLB_REQUIRED without free huge pages), -EPIPE (connection
 * lost).
 */
ISM_EXPORT int ism_region_alloc(struct ism_conn *c, uint64_t size,
				const struct ism_alloc_opts *opts,
				struct ism_region **out);

/*
 * Attach to the region @tok names with @access (ISM_ACCESS_RO or RW) and
 * @flags (enum ism_attach_flags).  Returns 0 and a handle, or -errno:
 * -ENOENT (no such token: also what a wrong guess gets), -EACCES (the
 * owner's grant does not allow this peer or this access), -EDQUOT,
 * -EALREADY (this peer already references it), -EPIPE.
 */
ISM_EXPORT int ism_region_attach(struct ism_conn *c,
				 const struct ism_token *tok, uint32_t access,
				 uint32_t flags, struct ism_region **out);

/*
 * Map the whole region (once; later calls return the same address) with
 * PROT_READ, plus PROT_WRITE for read-write handles.  Returns 0 and the
 * address in *@addr, or -errno (-EBADF for no-fd handles).  The mapping
 * lives until ism_region_close().
 */
ISM_EXPORT int ism_region_map(struct ism_region *r, void **addr);

/* The region's fd (owned by the handle; dup it to keep it), or -1 for
 * no-fd handles. */
ISM_EXPORT int ism_region_fd(struct ism_region *r);

/*
 * The link socket the owner attached (ISM_ALLOC_LINK) if this handle got
 * it, handing it over: the caller owns the returned fd.  -1 if none.
 * It refuses fds (SO_PASSRIGHTS off) where the kernel supports that, but
 * the owner may have queued some in it before, or turned that back on
 * through its own descriptor of it: the last close of such an fd, hence
 * of the link, can block as long as the owner chose.  Close it from a
 * thread that may wait (libism's own closes of links never block).
 */
ISM_EXPORT int ism_region_take_link(struct ism_region *r);

/* Fill *@info.  Returns 0. */
ISM_EXPORT int ism_region_info(struct ism_region *r,
			       struct ism_region_info *info);

ISM_EXPORT uint64_t ism_region_id(struct ism_region *r);
ISM_EXPORT uint64_t ism_region_size(struct ism_region *r);
ISM_EXPORT void ism_region_token(struct ism_region *r, struct ism_token *tok);

/*
 * Read or write through ismd (any handle may; no-fd handles must).
 * @off + @len must lie within the region.  Large transfers are split into
 * protocol-sized chunks.  Returns bytes transferred (== @len) or -errno:
 * -EACCES (write on a read-only reference), -EINVAL (out of range),
 * -ENOENT (region gone).
 */
ISM_EXPORT ssize_t ism_region_read(struct ism_region *r, uint64_t off,
				   void *buf, size_t len);
ISM_EXPORT ssize_t ism_region_write(struct ism_region *r, uint64_t off,
				    const void *buf, size_t len);

/*
 * Notify every other peer referencing the region: each gets an
 * ISM_EV_NOTIFY event with @value and its doorbell is signalled.
 * Returns the number of peers notified (>= 0) or -errno.
 */
ISM_EXPORT int ism_region_notify(struct ism_region *r, uint64_t value);

/*
 * Like ism_region_notify(), without waiting: the notification is handed to
 * ismd and nothing comes back, success or failure (ismd counts and logs a
 * failure; a region that went away is reported by ISM_EV_REGION_GONE
 * anyway).  For doorbell-style notifications on a fast path: one syscall,
 * like writing an eventfd.  Returns 0 once sent, or -errno (-ENOENT if the
 * region is gone, -EPIPE if the connection is).
 */
ISM_EXPORT int ism_region_notify_nowait(struct ism_region *r, uint64_t value);

/*
 * Drop this peer's reference (attachers).  The owner gets -EPERM: it
 * destroys instead.  The handle stays valid (info.gone) until closed.
 */
ISM_EXPORT int ism_region_detach(struct ism_region *r);

/*
 * Destroy the region (owner, or an administrator via ism_admin_destroy()):
 * every referrer is told, no-fd access stops and the memory is freed.
 * Returns the number of referrers told, or -errno (-EPERM if not owner).
 */
ISM_EXPORT int ism_region_destroy(struct ism_region *r);

/*
 * Release whatever the handle holds (detach, or destroy if owner), unmap,
 * close its fd and free it.  A link socket not taken is closed on a
 * short-lived thread, so the owner cannot make this call wait.  Returns
 * the result of the release (0 or -errno, informational: the handle is
 * freed either way).  NULL is allowed.
 */
ISM_EXPORT int ism_region_close(struct ism_region *r);

/*
 * Free the handle in this process only: unmap, close its fd, free it,
 * and tell ismd nothing (no DETACH, no DESTROY).  For a process that
 * shares the handle's connection with another since a fork and will
 * never use the region again: the other process's copy still holds it,
 * and its ism_region_close() releases it.  NULL is allowed.
 */
ISM_EXPORT void ism_region_forget(struct ism_region *r);

/*
 * Find the local handle for region @id on this connection, or NULL.  Useful
 * to route events.  The handle remains owned by whoever opened it.
 */
ISM_EXPORT struct ism_region *ism_region_find(struct ism_conn *c, uint64_t id);

#ifdef __cplusplus
}
#endif

#endif
