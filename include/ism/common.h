/* SPDX-License-Identifier: MIT */
/*
 * ism/common.h - types shared by every libism module.
 *
 * Concepts: a *peer* is one connection to ismd (one "ISM device").  A
 * *region* is a block of shared memory owned by the peer that allocated it
 * and named on the wire by a 64-bit id.  A *token* is the 128-bit
 * unguessable capability that lets another peer attach to a region.  The
 * *host id* names the ismd instance (and so the host): two peers that see
 * the same host id can share memory.
 *
 * ABI: options are size-versioned structs (.size = sizeof the struct the
 * caller compiled against): libism takes a smaller one from an older
 * caller, with defaults for what it lacks, and a larger one from a newer
 * caller if every byte past what this libism knows is zero (-E2BIG
 * otherwise, the openat2(2) rule); -EINVAL below the struct's first
 * version.  Structs libism fills for the caller end in a reserved tail,
 * zero-filled, where later versions add fields: their size never changes.
 */
#ifndef ISM_COMMON_H
#define ISM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ISM_BUILDING_LIB)
#define ISM_EXPORT __attribute__((visibility("default")))
#else
#define ISM_EXPORT
#endif

#define ISM_VERSION_MAJOR  0
#define ISM_VERSION_MINOR  2
#define ISM_VERSION_PATCH  0
#define ISM_VERSION_STRING "0.2.0"

/* Protocol version spoken by this libism (see docs/protocol.md). */
#define ISM_PROTO_VERSION 1

#define ISM_TOKEN_SIZE	 16
#define ISM_HOST_ID_SIZE 16
/* Longest peer or region name, in bytes, not counting a terminating NUL. */
#define ISM_NAME_MAX 63
/* A token printed as text: 32 lowercase hex digits. */
#define ISM_TOKEN_STRLEN 32

struct ism_token {
	uint8_t b[ISM_TOKEN_SIZE];
};

struct ism_host_id {
	uint8_t b[ISM_HOST_ID_SIZE];
};

/* Access a peer has, or may grant, to a region. */
enum ism_access {
	ISM_ACCESS_RO = 1, /* read only, enforced by the kernel for fds */
	ISM_ACCESS_RW = 2, /* read and write */
};

/*
 * Flags of the send and receive calls of channels (ism/chan.h) and
 * streams (ism/stream.h); each call says which it takes.
 */
enum ism_io_flags {
	ISM_F_DONTWAIT = 1u << 0, /* never block: -EAGAIN instead */
	ISM_F_MORE = 1u << 1,	  /* channel send: more follows, publish at
				   * ism_chan_flush() */
	ISM_F_WAITALL = 1u << 2,  /* stream receive: fill the whole buffer
				   * (or stop at EOF or an error); stream
				   * reserve: all the room asked or none */
	ISM_F_NOARM = 1u << 3,	  /* stream receive with ISM_F_DONTWAIT: an
				   * -EAGAIN leaves the stream's fd unarmed
				   * (ism_stream_arm() before waiting) */
};

/*
 * Format @tok as 32 lowercase hex digits plus a NUL into @buf (at least
 * ISM_TOKEN_STRLEN + 1 bytes).  Returns @buf.
 */
ISM_EXPORT char *ism_token_format(const struct ism_token *tok, char *buf);

/*
 * Parse 32 hex digits (either case, nothing else) into @tok.
 * Returns 0, or -EINVAL if @s is not exactly a token.
 */
ISM_EXPORT int ism_token_parse(const char *s, struct ism_token *tok);

/* Same for host ids (32 hex digits). */
ISM_EXPORT char *ism_host_id_format(const struct ism_host_id *id, char *buf);
ISM_EXPORT int ism_host_id_parse(const char *s, struct ism_host_id *id);

/* Nonzero when the two host ids are equal (peers are co-located). */
ISM_EXPORT int ism_host_id_equal(const struct ism_host_id *a,
				 const struct ism_host_id *b);

/*
 * Where ismd listens by default: $ISM_SOCKET, else $XDG_RUNTIME_DIR/ism.sock,
 * else /run/ism/ism.sock.  Writes into @buf (size @n); returns 0, or
 * -ENAMETOOLONG if the path does not fit.
 */
ISM_EXPORT int ism_default_socket(char *buf, size_t n);

/* The libism version string, e.g. "0.2.0". */
ISM_EXPORT const char *ism_version(void);

#ifdef __cplusplus
}
#endif

#endif
