/* SPDX-License-Identifier: MIT */
/*
 * ismctl streams - the stream connections ismd witnesses: each end's
 * path (shared memory or TCP) and, for TCP, why it fell back.
 */
#include "ismctl.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char *role_name(uint32_t role)
{
	switch (role) {
	case ISM_STREAM_LISTENER: return "listen";
	case ISM_STREAM_CLIENT: return "client";
	case ISM_STREAM_SERVER: return "server";
	default: return "?";
	}
}

/* "127.0.0.1:80", "[::1]:80" or "-". */
static char *addr_str(const struct ism_stream_addr *a, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN];

	if (!a->family || !inet_ntop(a->family, a->addr, ip, sizeof(ip))) {
		snprintf(buf, n, "-");
		return buf;
	}
	snprintf(buf, n, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 a->port);
	return buf;
}

int cmd_streams(struct ctl *ctl, int argc, char **argv)
{
	struct ism_stream_info e[128];
	json_object *arr = NULL;
	uint64_t cursor = 0, next;
	char l[64], rm[64], pt[24];
	int r;

	if (argc > 1 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: ismctl streams\n"
		       "List stream ends and listeners ismd knows: role, path "
		       "(shm or tcp),\nwhy a TCP one fell back, the peers at "
		       "both ends, addresses.\n");
		return EXIT_OK;
	}
	if (argc > 1)
		return ctl_usage("streams takes no arguments");
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (ctl->json)
		arr = json_object_new_array();
	else
		printf("%-8s %-12s %-6s %-7s %-18s %-12s %-22s %s\n", "ID",
		       "PEER", "ROLE", "PATH", "REASON", "PARTNER", "LOCAL",
		       "REMOTE");
	do {
		int n = ism_admin_list_streams(ctl->c, cursor, e,
					       ISM_ARRAY_SIZE(e), &next);

		if (n < 0) {
			json_object_put(arr);
			return ctl_fail("streams", n);
		}
		for (int i = 0; i < n; i++) {
			const char *path =
				e[i].role == ISM_STREAM_LISTENER
					? "-"
					: ism_stream_path_name((int)e[i].path);
			const char *why = e[i].reason
						  ? ism_stream_reason_name(
							    (int)e[i].reason)
						  : "-";

			addr_str(&e[i].local, l, sizeof(l));
			addr_str(&e[i].remote, rm, sizeof(rm));
			if (arr) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "id",
						       ctl_json_id(e[i].id));
				json_object_object_add(o, "peer",
						       ctl_json_id(e[i].peer));
				json_object_object_add(
					o, "role",
					json_object_new_string(
						role_name(e[i].role)));
				json_object_object_add(
					o, "path",
					json_object_new_string(path));
				json_object_object_add(
					o, "reason",
					e[i].reason
						? json_object_new_string(why)
						: NULL);
				json_object_object_add(
					o, "partner",
					e[i].partner ? ctl_json_id(e[i].partner)
						     : NULL);
				json_object_object_add(
					o, "local", json_object_new_string(l));
				json_object_object_add(
					o, "remote",
					json_object_new_string(rm));
				json_object_object_add(
					o, "age_ms",
					json_object_new_int64(
						(int64_t)(e[i].age_ns /
							  1000000)));
				json_object_array_add(arr, o);
				continue;
			}
			if (e[i].partner)
				snprintf(pt, sizeof(pt), "%llx",
					 (unsigned long long)e[i].partner);
			else
				snprintf(pt, sizeof(pt), "-");
			printf("%-8llx %-12llx %-6s %-7s %-18s %-12s %-22s "
			       "%s\n",
			       (unsigned long long)e[i].id,
			       (unsigned long long)e[i].peer,
			       role_name(e[i].role), path, why, pt, l, rm);
		}
		cursor = next;
	} while (cursor);
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "streams", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}
