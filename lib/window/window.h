/* SPDX-License-Identifier: MIT */
/*
 * window - libism's internals of windows (include/ism/window.h): what
 * lib/client/window.c needs to make and remove mappings on ismd's behalf.
 *
 * Locking: each window has its own lock, taken inside every call here.
 * The client side takes its connection's lock first, then a window's;
 * nothing here takes a connection's lock while holding a window's (the
 * unmap hook below runs with no window lock held).
 */
#ifndef ISM_WINDOW_INTERNAL_H
#define ISM_WINDOW_INTERNAL_H

#include <ism/window.h>

#include <stdbool.h>
#include <stdint.h>

/* What ismd said of a mapping it asked for. */
struct window_remote {
	uint64_t map;	 /* ismd's id of the mapping */
	uint64_t region; /* the region mapped */
	uint64_t peer;	 /* who asked */
};

/*
 * Called (with no window lock held) after ism_window_unmap() or
 * ism_window_destroy() removed mappings made through ismd: @maps are
 * ismd's ids of them.  Set by ism_window_register().
 */
typedef void (*window_unmap_hook)(struct ism_window *w, void *ctx,
				  const uint64_t *maps, uint32_t n);

/* Map on ismd's behalf: as ism_window_map() with @flags
 * ISM_WINDOW_MAP_SEALED, the mapping tagged with @r. */
int window_map_remote(struct ism_window *w, uint64_t offset, uint64_t len,
		      int fd, uint64_t fd_offset, uint32_t access,
		      const struct window_remote *r);
/* Unmap the mapping ismd calls @map; 0, or -ENOENT if there is none. */
int window_unmap_remote(struct ism_window *w, uint64_t map,
			struct window_remote *out);
/* Unmap every mapping made through ismd; up to @cap of them are
 * described in @out.  Returns how many went. */
uint32_t window_unmap_all_remote(struct ism_window *w,
				 struct window_remote *out, uint32_t cap);

/*
 * Copy @len bytes at @off of the window to @buf (or from it, @write), if
 * they lie wholly inside one mapping (-EFAULT if not; -EACCES writing a
 * read-only one).  Under the window's lock, so no unmap races the copy;
 * the copy is the kernel's, so a page the file cannot provide is -EFAULT,
 * never a signal.
 */
int window_copy(struct ism_window *w, uint64_t off, void *buf, uint64_t len,
		bool write);

/* The registration's state (read and written under the window's lock;
 * lib/client/window.c changes it holding its connection's lock too). */
struct window_reg {
	struct ism_conn *conn; /* NULL: not registered */
	uint64_t id;	       /* ismd's id of the window */
};
void window_reg_read(struct ism_window *w, struct window_reg *out);
void window_reg_write(struct ism_window *w, const struct window_reg *in);
void window_set_hook(struct ism_window *w, window_unmap_hook fn, void *ctx);
/* The window's own cap on mappings (ism_window_opts.max_maps). */
uint32_t window_max_maps(struct ism_window *w);

/* The client side's ism_window_destroy() part: unregister if registered
 * (lib/client/window.c). */
int window_client_release(struct ism_window *w);

/* The kernel page size, and the huge page size (2 MiB if unknown). */
uint64_t window_page_size(void);
uint64_t window_huge_page_size(void);

#endif
