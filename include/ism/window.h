/* SPDX-License-Identifier: MIT */
/*
 * ism/window.h - windows: an address range one party reserves and others
 * fill with file mappings at offsets.
 *
 * Concepts: a *window* is a range of this process's address space
 * reserved PROT_NONE (so no unrelated mmap(NULL, ...) can ever land in
 * it), the shape of a VIRTIO Shared Memory Region a VMM shows its guest.
 * A *mapping* puts a range of a file (a memfd, a region's fd) at an offset
 * of the window, read-only or read-write - no other permission exists.
 * Mappings never overlap: mapping over a mapped range fails.  Mapping
 * and unmapping replace the pages in place (MAP_FIXED over the
 * reservation, then an empty sealed file PROT_NONE over the mapping), so
 * there is no instant in which any part of the window is unreserved, and
 * an access to an unmapped part faults (SIGSEGV) instead of reading
 * anything.  Whoever asks for a mapping names only offsets, never
 * addresses.
 *
 * A read-only mapping is always made from an O_RDONLY file description
 * (libism reopens the file read-only through /proc when it is handed a
 * writable one), so nothing in this process can mprotect() it writable.
 *
 * Every mapping can split the kernel's record of the reservation in
 * three, so mappings are capped per window (ism_window_opts.max_maps) and
 * per process (a quarter of vm.max_map_count, ism_window_process_cap()),
 * well before the kernel's own limit (mmap's ENOMEM, which would also hit
 * unrelated allocations of the process).
 *
 * A window may also be registered with ismd (ism_window_register(), below),
 * which then lets granted peers map regions into it; ismd's revocation of a
 * region reaches those mappings (docs/windows.md).
 *
 * Thread safety: every call may be made from several threads at once on
 * one window (an internal lock); destroying a window while another thread
 * uses it is the caller's bug.  Errors are -errno.
 */
#ifndef ISM_WINDOW_H
#define ISM_WINDOW_H

#include <ism/common.h>
#include <ism/conn.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_window;

/* Largest window (1 TiB) and the most mappings one window may hold. */
#define ISM_WINDOW_SIZE_MAX	(1ull << 40)
#define ISM_WINDOW_MAPS_MAX	65536u
#define ISM_WINDOW_MAPS_DEFAULT 1024u

enum ism_window_flags {
	/* Align the window's base to the huge page size (2 MiB on x86-64),
	 * so huge-page files can be mapped at huge-page offsets. */
	ISM_WINDOW_HUGE_ALIGN = 1u << 0,
	/* Accept hugetlbfs files in ISM_WINDOW_MAP_SEALED mappings (those
	 * of files others chose: through ismd, from a vhost-user back-end).
	 * Without it they are refused (-EOPNOTSUPP): any read-write holder
	 * of such a file can punch its pages out, and once the huge page
	 * pool is empty, touching the hole raises SIGBUS in this process.
	 * Set it only if accesses through the window can take that signal
	 * (docs/security.md, "Huge pages are the exception"). */
	ISM_WINDOW_HUGETLB_OK = 1u << 1,
};

/* Options; zero-initialise and set .size = sizeof(struct ism_window_opts). */
struct ism_window_opts {
	uint32_t size;
	uint32_t flags;	   /* enum ism_window_flags */
	uint64_t align;	   /* base alignment: a power of two, at least the
			    * page size; 0 = the page (or huge page) size */
	uint32_t max_maps; /* mappings this window may hold: 1 ..
			    * ISM_WINDOW_MAPS_MAX; 0 = ISM_WINDOW_MAPS_DEFAULT */
};

enum ism_window_map_flags {
	/* Accept only a memfd (shmem or hugetlbfs) sealed F_SEAL_SHRINK:
	 * nobody can then truncate it under the mapping (which would make
	 * accesses SIGBUS), and the checks never call into a file system a
	 * peer chose (a FUSE file could make fstat() wait).  Without it,
	 * any regular file is accepted and fstat()ed. */
	ISM_WINDOW_MAP_SEALED = 1u << 0,
};

enum ism_window_unmap_how {
	/* [offset, offset+len) must be exactly one mapping (-ENOENT if not). */
	ISM_WINDOW_UNMAP_EXACT = 0,
	/* Every mapping lying wholly inside [offset, offset+len); one that
	 * straddles either end fails the call (-EBUSY, nothing unmapped).
	 * Unmapped parts of the range are fine. */
	ISM_WINDOW_UNMAP_RANGE = 1,
};

/* One mapping, as ism_window_list() reports it. */
struct ism_window_mapping {
	uint64_t id;	    /* unique in this window, never reused */
	uint64_t offset;    /* in the window */
	uint64_t len;	    /* bytes */
	uint64_t fd_offset; /* in the file */
	uint32_t access;    /* ISM_ACCESS_RO or ISM_ACCESS_RW */
	uint32_t remote;    /* 1 if made through ismd (ism_window_register) */
	uint64_t region;    /* remote: the region mapped */
	uint64_t peer;	    /* remote: the peer that asked */
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};

/*
 * Reserve a window of @size bytes (a multiple of the page size, at most
 * ISM_WINDOW_SIZE_MAX).  @opts may be NULL.  Returns 0 and the window in
 * *@out, or -errno: -EINVAL (size, alignment or options), -ENOMEM.
 */
ISM_EXPORT int ism_window_create(uint64_t size,
				 const struct ism_window_opts *opts,
				 struct ism_window **out);

/*
 * Unmap everything, release the reservation and free the window (and
 * unregister it from ismd first if it was registered).  NULL is allowed.
 * Returns 0, or -errno from unregistering (informational).
 */
ISM_EXPORT int ism_window_destroy(struct ism_window *w);

/* The window's first byte, and its size. */
ISM_EXPORT void *ism_window_base(struct ism_window *w);
ISM_EXPORT uint64_t ism_window_size(struct ism_window *w);

/*
 * Map [@fd_offset, @fd_offset+@len) of @fd at @offset of the window with
 * @access (ISM_ACCESS_RO or ISM_ACCESS_RW) and @flags (enum
 * ism_window_map_flags).  Offsets and length must be multiples of the
 * page size (of the huge page size for hugetlbfs files), the range must
 * lie in the window and in the file, and must not overlap a mapping.
 * @fd stays the caller's (the mapping keeps the file alive).  Returns 0
 * with the mapping's id in *@id (may be NULL), or -errno: -EINVAL (range,
 * alignment, access or flags), -EEXIST (overlaps a mapping), -EBADF (not
 * a regular file), -EACCES (RW from a read-only fd; RO from a writable fd
 * that cannot be reopened read-only), -EPERM (ISM_WINDOW_MAP_SEALED and
 * not a sealed memfd), -EOPNOTSUPP (ISM_WINDOW_MAP_SEALED and a hugetlbfs
 * file, unless the window has ISM_WINDOW_HUGETLB_OK), -ENOSPC (this
 * window's max_maps), -EDQUOT (the process cap), -ENOMEM.
 */
ISM_EXPORT int ism_window_map(struct ism_window *w, uint64_t offset,
			      uint64_t len, int fd, uint64_t fd_offset,
			      uint32_t access, uint32_t flags, uint64_t *id);

/*
 * Unmap, as @how says (enum ism_window_unmap_how); each range goes back to
 * PROT_NONE in place.  Returns the number of mappings removed (>= 1 for
 * EXACT, >= 0 for RANGE), or -errno: -EINVAL (range or alignment),
 * -ENOENT (EXACT: no such mapping), -EBUSY (RANGE: a mapping straddles an
 * end).  Mappings made through ismd may be unmapped too (ismd is told).
 */
ISM_EXPORT int ism_window_unmap(struct ism_window *w, uint64_t offset,
				uint64_t len, uint32_t how);

/*
 * Copy up to @cap mappings, in offset order, into @out (may be NULL when
 * @cap is 0).  Returns how many mappings the window holds (which may be
 * more than @cap), or -errno.
 */
ISM_EXPORT int ism_window_list(struct ism_window *w,
			       struct ism_window_mapping *out, uint32_t cap);

/* The most window mappings this process may hold (all windows together):
 * a quarter of vm.max_map_count (read once). */
ISM_EXPORT uint32_t ism_window_process_cap(void);

/* ---- windows through ismd ---- */

/* Options for ism_window_register(); zero-initialise and set .size. */
struct ism_window_grant {
	uint32_t size;
	uint32_t max_access; /* what mappers may map: ISM_ACCESS_RO (default)
			      * or ISM_ACCESS_RW */
	uint32_t n_peers;    /* if > 0, only these peer ids may map */
	const uint64_t *peers;
	uint32_t n_uids; /* if > 0, only peers running as these uids may map */
	const uint32_t *uids;
	uint32_t max_maps; /* mappings ismd lets mappers hold in it; 0: the
			    * window's own max_maps */
};

/*
 * Register @w with ismd on @c, with @grant (may be NULL: read-only, any
 * peer that knows the window's id).  Granted peers may then ask ismd to
 * map ranges of regions they hold tokens of into the window
 * (ism_window_map_region()); libism makes those mappings when this
 * connection is processed (ism_conn_process(), or any call on it), and
 * queues ISM_EV_WINDOW_MAP / ISM_EV_WINDOW_UNMAP events.  When ismd
 * revokes a region, its mappings are unmapped before the destroy is
 * reported complete.  If the connection is lost, every mapping made
 * through ismd is unmapped (no revocation could reach it any more) and
 * the window is unregistered.  Returns 0 and the window's id in *@id
 * (give it to mappers), or -errno: -EALREADY (registered), -EDQUOT,
 * -EINVAL, -EPIPE.  A window is registered with one connection at most.
 */
ISM_EXPORT int ism_window_register(struct ism_window *w, struct ism_conn *c,
				   const struct ism_window_grant *grant,
				   uint64_t *id);

/* Unregister @w: ismd forgets it and every mapping made through ismd is
 * unmapped.  Returns 0 or -errno (-ENOENT if not registered). */
ISM_EXPORT int ism_window_unregister(struct ism_window *w);

/*
 * Ask ismd to map [@region_off, @region_off+@len) of the region @tok
 * names into window @window (an id ism_window_register() gave its owner)
 * at @window_off, with @access - at most what the region's grant gives
 * this peer, and at most the window's grant.  Waits until the window's
 * owner made (or refused) the mapping.  Returns 0 and the mapping's id in
 * *@map_id, or -errno: -ENOENT (no such window or region), -EACCES (a
 * grant refuses), -EINVAL (range or alignment), -EEXIST (overlap),
 * -ENOSPC/-EDQUOT (caps), -ETIMEDOUT (the owner did not answer in
 * time), or the owner's error.  The mapping lasts until this peer unmaps
 * it, leaves, the region ends, or the owner unmaps it or goes away.
 */
ISM_EXPORT int ism_window_map_region(struct ism_conn *c, uint64_t window,
				     const struct ism_token *tok,
				     uint64_t region_off, uint64_t window_off,
				     uint64_t len, uint32_t access,
				     uint64_t *map_id);

/* Remove a mapping this peer made (or one in a window it owns).
 * Returns 0 once the owner unmapped it, or -errno (-ENOENT). */
ISM_EXPORT int ism_window_unmap_region(struct ism_conn *c, uint64_t map_id);

#ifdef __cplusplus
}
#endif

#endif
