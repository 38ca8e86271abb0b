/* SPDX-License-Identifier: MIT */
/*
 * ism/pool.h - a buffer allocator whose buffers all lie inside one memory
 * range (a window's mapped range, a region's mapping), and bounce helpers
 * that copy private data into such buffers and out again.
 *
 * Concepts: a device, or a peer, may only see part of a process's memory
 * (a window, a region).  Buffers it is to read or write must be carved
 * from that part: ism_pool_alloc() does, and its bookkeeping (which
 * ranges are free, which are handed out, and how long each is) lives in
 * this process's private memory, never in the shared range a peer can
 * write.  What a peer sees of a buffer is its offset in the range
 * (ism_pool_offset()); an offset a peer hands back is checked against the
 * pool's own records (ism_pool_buffer()) before anything uses it.
 * ism_pool_bounce_in() / _out() copy between private memory and a
 * buffer, bounds-checked against that buffer's length.
 *
 * The range must stay mapped (and writable, to bounce in) while the pool
 * lives.  A peer with write access can change a buffer's bytes at any
 * time: bounce out, then validate the private copy.  Thread-safe (one
 * lock per pool); errors are -errno.
 */
#ifndef ISM_POOL_H
#define ISM_POOL_H

#include <ism/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ism_pool;

/* The most buffers one pool hands out at once, and its default. */
#define ISM_POOL_BUFFERS_MAX	 (1u << 20)
#define ISM_POOL_BUFFERS_DEFAULT 65536u

/* Options; zero-initialise and set .size = sizeof(struct ism_pool_opts). */
struct ism_pool_opts {
	uint32_t size;
	uint32_t align;	      /* every buffer's alignment: a power of two,
			       * 8 .. 4096; 0 = 64 (a cache line) */
	uint32_t max_buffers; /* live buffers at most; 0 = the default */
};

/*
 * A pool over [@base, @base+@size) (@size > 0; the range must not wrap).
 * @opts may be NULL.  Returns 0 and the pool in *@out, or -EINVAL,
 * -ENOMEM.
 */
ISM_EXPORT int ism_pool_create(void *base, uint64_t size,
			       const struct ism_pool_opts *opts,
			       struct ism_pool **out);
/* Free the pool's records (the range itself is the caller's).  NULL ok. */
ISM_EXPORT void ism_pool_destroy(struct ism_pool *p);

/*
 * A buffer of @len bytes (rounded up to the alignment) inside the range:
 * 0 and its address in *@buf, or -EINVAL (@len 0 or past the range),
 * -ENOMEM (no free run long enough), -ENOSPC (max_buffers).
 */
ISM_EXPORT int ism_pool_alloc(struct ism_pool *p, uint64_t len, void **buf);
/* Give @buf back.  0, or -EINVAL if it is not a live buffer of @p (a
 * double free included). */
ISM_EXPORT int ism_pool_free(struct ism_pool *p, void *buf);

/* @buf's offset in the range (what to tell a peer): 0 or -EINVAL. */
ISM_EXPORT int ism_pool_offset(struct ism_pool *p, const void *buf,
			       uint64_t *off);
/*
 * The live buffer a peer names by @off, if [@off, @off+@len) lies inside
 * it: 0 and its address in *@buf (the buffer's start), or -EINVAL.
 */
ISM_EXPORT int ism_pool_buffer(struct ism_pool *p, uint64_t off, uint64_t len,
			       void **buf);

/*
 * Copy @len bytes from private @src into live buffer @buf at @at, or from
 * @buf at @at into private @dst; [@at, @at+@len) must lie inside the
 * buffer.  Returns 0, or -EINVAL (not a live buffer, out of bounds).
 */
ISM_EXPORT int ism_pool_bounce_in(struct ism_pool *p, void *buf, uint64_t at,
				  const void *src, uint64_t len);
ISM_EXPORT int ism_pool_bounce_out(struct ism_pool *p, const void *buf,
				   uint64_t at, void *dst, uint64_t len);

/* What the pool holds. */
struct ism_pool_stats {
	uint64_t size, used, largest_free;
	uint32_t buffers, free_runs;
	/* Fields are added here in later versions; the struct's size never
	 * changes.  Zero-filled. */
	uint64_t reserved[4];
};
ISM_EXPORT int ism_pool_stats(struct ism_pool *p, struct ism_pool_stats *st);

#ifdef __cplusplus
}
#endif

#endif
