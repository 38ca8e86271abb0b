/* SPDX-License-Identifier: MIT */
/*
 * ivsh_spec - the --ivshmem option: PATH,size=SIZE[,vectors=N]
 * [,name=NAME][,peers=N][,uid=UID]...[,layout=v1|v2][,output=SIZE]
 * [,channels=on|off][,control=on|off][,guest_uid=UID]
 * (ismd(8); unit-tested by ivsh_spec_test.c).
 */
#include "ismd.h"
#include "ivchan/ivchan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ivsh_parse(const char *arg, struct ivsh_spec *s, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	bool have_size = false;

	memset(s, 0, sizeof(*s));
	s->vectors = 1;
	s->max_peers = IVSH_DEFAULT_PEERS;
	s->guest_uid = IVSH_GUEST_UID;
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "too long");
		return -EINVAL;
	}
	memcpy(buf, arg, strlen(arg) + 1);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strchr(tok, '=')) {
		snprintf(err, errlen, "the first item must be the socket path");
		return -EINVAL;
	}
	if (strlen(tok) >= sizeof(s->path)) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(s->path, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		uint64_t v;

		if (!eq) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", tok);
			return -EINVAL;
		}
		*eq++ = '\0';
		if (!strcmp(tok, "size")) {
			if (ism_parse_size(eq, &v) < 0 || v < 4096 ||
			    v > (1ull << 40) || (v & (v - 1))) {
				snprintf(
					err, errlen,
					"size %s is not a power of two from 4K "
					"to 1T (QEMU's ivshmem aborts on "
					"other sizes)",
					eq);
				return -EINVAL;
			}
			s->size = v;
			have_size = true;
		} else if (!strcmp(tok, "vectors")) {
			if (ism_parse_u64(eq, ISM_IVSHMEM_MAX_VECTORS, &v) <
				    0 ||
			    !v) {
				snprintf(err, errlen, "vectors must be 1 to %u",
					 (unsigned)ISM_IVSHMEM_MAX_VECTORS);
				return -EINVAL;
			}
			s->vectors = (uint32_t)v;
		} else if (!strcmp(tok, "peers")) {
			if (ism_parse_u64(eq, IVSH_MAX_PEERS, &v) < 0 ||
			    v < 2) {
				snprintf(err, errlen, "peers must be 2 to %u",
					 (unsigned)IVSH_MAX_PEERS);
				return -EINVAL;
			}
			s->max_peers = (uint32_t)v;
		} else if (!strcmp(tok, "uid")) {
			if (s->n_uids >= 8 ||
			    ism_parse_u64(eq, UINT32_MAX - 1, &v) < 0) {
				snprintf(err, errlen,
					 "uid must be a number "
					 "(at most 8 uid= keys)");
				return -EINVAL;
			}
			s->uids[s->n_uids++] = (uid_t)v;
		} else if (!strcmp(tok, "layout")) {
			if (strcmp(eq, "v1") != 0 && strcmp(eq, "v2") != 0) {
				snprintf(err, errlen, "layout is v1 or v2");
				return -EINVAL;
			}
			s->v2 = eq[1] == '2';
		} else if (!strcmp(tok, "channels")) {
			if (strcmp(eq, "on") != 0 && strcmp(eq, "off") != 0) {
				snprintf(err, errlen, "channels is on or off");
				return -EINVAL;
			}
			s->chan = eq[1] == 'n';
		} else if (!strcmp(tok, "control")) {
			if (strcmp(eq, "on") != 0 && strcmp(eq, "off") != 0) {
				snprintf(err, errlen, "control is on or off");
				return -EINVAL;
			}
			s->control = eq[1] == 'n';
		} else if (!strcmp(tok, "guest_uid")) {
			if (ism_parse_u64(eq, UINT32_MAX - 1, &v) < 0) {
				snprintf(err, errlen,
					 "guest_uid must be a number");
				return -EINVAL;
			}
			s->guest_uid = (uid_t)v;
		} else if (!strcmp(tok, "output")) {
			if (ism_parse_size(eq, &v) < 0 || v < 4096 ||
			    v > (1ull << 30) || (v & 4095)) {
				snprintf(err, errlen,
					 "output must be a multiple "
					 "of 4K, at most 1G");
				return -EINVAL;
			}
			s->output = v;
		} else if (!strcmp(tok, "name")) {
			if (!*eq || strlen(eq) > ISM_NAME_MAX) {
				snprintf(err, errlen,
					 "name must be 1 to %d bytes",
					 ISM_NAME_MAX);
				return -EINVAL;
			}
			memcpy(s->name, eq, strlen(eq) + 1);
		} else {
			snprintf(err, errlen, "unknown key '%s'", tok);
			return -EINVAL;
		}
	}
	if (!have_size) {
		snprintf(err, errlen, "size=SIZE is required");
		return -EINVAL;
	}
	if (s->output && !s->v2) {
		snprintf(err, errlen, "output= needs layout=v2");
		return -EINVAL;
	}
	if (s->chan && !ivc_slot_size(s->size, s->max_peers)) {
		snprintf(err, errlen,
			 "channels=on needs at least %uK of memory per peer",
			 (unsigned)(IVC_MIN_SLOT / 1024));
		return -EINVAL;
	}
	if (s->control && !s->chan) {
		snprintf(err, errlen, "control=on needs channels=on");
		return -EINVAL;
	}
	if (s->v2 && !s->output)
		s->output = 65536;
	if (!s->name[0]) {
		const char *base = strrchr(s->path, '/');

		/* The socket's file name, cut to fit. */
		ism_strlcpy(s->name, base ? base + 1 : s->path,
			    sizeof(s->name));
	}
	return 0;
}
