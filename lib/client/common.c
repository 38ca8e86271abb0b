/* SPDX-License-Identifier: MIT */
/*
 * common - token and host id text forms, socket discovery, version.
 */
#include "util/util.h"

#include <ism/common.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *ism_token_format(const struct ism_token *tok, char *buf)
{
	ism_hex_encode(tok->b, ISM_TOKEN_SIZE, buf);
	return buf;
}

int ism_token_parse(const char *s, struct ism_token *tok)
{
	return ism_hex_decode(s, tok->b, ISM_TOKEN_SIZE);
}

char *ism_host_id_format(const struct ism_host_id *id, char *buf)
{
	ism_hex_encode(id->b, ISM_HOST_ID_SIZE, buf);
	return buf;
}

int ism_host_id_parse(const char *s, struct ism_host_id *id)
{
	return ism_hex_decode(s, id->b, ISM_HOST_ID_SIZE);
}

int ism_host_id_equal(const struct ism_host_id *a, const struct ism_host_id *b)
{
	return memcmp(a->b, b->b, ISM_HOST_ID_SIZE) == 0;
}

static int put(char *buf, size_t n, const char *dir, const char *file)
{
	int w = snprintf(buf, n, "%s%s", dir, file);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int ism_default_socket(char *buf, size_t n)
{
	const char *env = getenv("ISM_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (env && *env)
		return put(buf, n, env, "");
	/* A per-user ismd if one listens, else the system one. */
	if (xdg && *xdg) {
		int r = put(buf, n, xdg, "/ism.sock");

		if (r < 0)
			return r;
		if (stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
	}
	return put(buf, n, "/run/ism/ism.sock", "");
}

const char *ism_version(void)
{
	return ISM_VERSION_STRING;
}
