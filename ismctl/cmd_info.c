/* SPDX-License-Identifier: MIT */
/*
 * ismctl status | peers | regions | refs
 */
#include "ismctl.h"
#include "util/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Commands without options: accept --help, refuse anything else. */
static int plain_args(int argc, char **argv, int nargs, const char *usage)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ismctl %s\n", usage);
			exit(EXIT_OK);
		}
		return ctl_usage("%s: unknown option", argv[0]);
	}
	if (argc - optind != nargs)
		return ctl_usage("usage: ismctl %s", usage);
	return EXIT_OK;
}

static void age(uint64_t ns, char *buf, size_t n)
{
	uint64_t s = ns / 1000000000ull;

	if (s < 120)
		snprintf(buf, n, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%llum", (unsigned long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%lluh", (unsigned long long)(s / 3600));
	else
		snprintf(buf, n, "%llud", (unsigned long long)(s / 86400));
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct ism_status st;
	char hid[2 * ISM_HOST_ID_SIZE + 1], a[32], b[32], c[32];
	int r;

	if ((r = plain_args(argc, argv, 0, "status")) != EXIT_OK)
		return r;
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if ((r = ism_admin_status(ctl->c, &st)) < 0)
		return ctl_fail("status", r);
	ism_host_id_format(&st.host_id, hid);
	if (ctl->json) {
		json_object *o = json_object_new_object(), *q;

		json_object_object_add(o, "version",
				       json_object_new_string(st.version));
		json_object_object_add(o, "host_id",
				       json_object_new_string(hid));
		json_object_object_add(o, "pid", json_object_new_int64(st.pid));
		json_object_object_add(o, "epoch",
				       json_object_new_int64(st.epoch));
		json_object_object_add(
			o, "uptime_ms",
			json_object_new_int64(
				(int64_t)(st.uptime_ns / 1000000)));
		json_object_object_add(o, "peers",
				       json_object_new_int64(st.peers));
		json_object_object_add(o, "max_peers",
				       json_object_new_int64(st.max_peers));
		json_object_object_add(o, "regions",
				       json_object_new_int64(st.regions));
		json_object_object_add(o, "refs",
				       json_object_new_int64(st.refs));
		json_object_object_add(
			o, "bytes_used",
			json_object_new_int64((int64_t)st.bytes_used));
		json_object_object_add(
			o, "max_memory",
			json_object_new_int64((int64_t)st.max_memory));
		q = json_object_new_object();
		json_object_object_add(q, "regions",
				       json_object_new_int64(st.quota_regions));
		json_object_object_add(
			q, "bytes",
			json_object_new_int64((int64_t)st.quota_bytes));
		json_object_object_add(q, "attachments",
				       json_object_new_int64(st.quota_refs));
		json_object_object_add(q, "events",
				       json_object_new_int64(st.quota_events));
		json_object_object_add(o, "quota_per_peer", q);
		json_object_object_add(o, "ops",
				       json_object_new_int64((int64_t)st.ops));
		json_object_object_add(
			o, "notifies",
			json_object_new_int64((int64_t)st.notifies));
		json_object_object_add(
			o, "events_coalesced",
			json_object_new_int64((int64_t)st.events_coalesced));
		json_object_object_add(
			o, "events_lost",
			json_object_new_int64((int64_t)st.events_lost));
		json_object_object_add(
			o, "evictions",
			json_object_new_int64((int64_t)st.evictions));
		json_object_object_add(
			o, "recovery_ms_left",
			json_object_new_int64(st.recovery_ms_left));
		ctl_json(o);
		return EXIT_OK;
	}
	age(st.uptime_ns, a, sizeof(a));
	printf("ismd %s  pid %u  epoch %u  up %s\n", st.version, st.pid,
	       st.epoch, a);
	printf("host id    %s\n", hid);
	printf("peers      %u of %u\n", st.peers, st.max_peers);
	printf("regions    %u  references %u\n", st.regions, st.refs);
	printf("memory     %s used of %s\n",
	       ism_format_size(st.bytes_used, a, sizeof(a)),
	       ism_format_size(st.max_memory, b, sizeof(b)));
	printf("per peer   %u regions, %s, %u attachments, %u queued events\n",
	       st.quota_regions, ism_format_size(st.quota_bytes, c, sizeof(c)),
	       st.quota_refs, st.quota_events);
	printf("counters   ops %llu  notifies %llu  coalesced %llu  lost %llu  "
	       "evictions %llu\n",
	       (unsigned long long)st.ops, (unsigned long long)st.notifies,
	       (unsigned long long)st.events_coalesced,
	       (unsigned long long)st.events_lost,
	       (unsigned long long)st.evictions);
	if (st.recovery_ms_left)
		printf("recovery   re-registrations accepted for %u ms\n",
		       st.recovery_ms_left);
	return EXIT_OK;
}

int cmd_peers(struct ctl *ctl, int argc, char **argv)
{
	struct ism_peer_info e[128];
	json_object *arr = NULL;
	uint64_t cursor = 0, next;
	char a[32], b[32];
	int r;

	if ((r = plain_args(argc, argv, 0, "peers")) != EXIT_OK)
		return r;
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (ctl->json)
		arr = json_object_new_array();
	else
		printf("%-12s %7s %6s %6s %7s %5s %10s %6s %5s %-5s %s\n", "ID",
		       "PID", "UID", "GID", "REGIONS", "REFS", "BYTES",
		       "QUEUED", "AGE", "FLAGS", "NAME");
	do {
		int n = ism_admin_list_peers(ctl->c, cursor, e,
					     ISM_ARRAY_SIZE(e), &next);

		if (n < 0) {
			json_object_put(arr);
			return ctl_fail("peers", n);
		}
		for (int i = 0; i < n; i++) {
			if (arr) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "id",
						       ctl_json_id(e[i].id));
				json_object_object_add(
					o, "pid",
					json_object_new_int64(e[i].pid));
				json_object_object_add(
					o, "uid",
					json_object_new_int64(e[i].uid));
				json_object_object_add(
					o, "gid",
					json_object_new_int64(e[i].gid));
				json_object_object_add(
					o, "name",
					json_object_new_string(e[i].name));
				json_object_object_add(
					o, "regions",
					json_object_new_int64(e[i].regions));
				json_object_object_add(
					o, "attachments",
					json_object_new_int64(e[i].refs));
				json_object_object_add(
					o, "bytes",
					json_object_new_int64(
						(int64_t)e[i].bytes));
				json_object_object_add(
					o, "queued",
					json_object_new_int64(e[i].queued));
				json_object_object_add(
					o, "age_ms",
					json_object_new_int64(
						(int64_t)(e[i].age_ns /
							  1000000)));
				json_object_object_add(
					o, "ops",
					json_object_new_int64(
						(int64_t)e[i].ops));
				json_object_object_add(
					o, "admin",
					json_object_new_boolean(
						e[i].flags & ISM_PEER_ADMIN));
				json_object_object_add(
					o, "watcher",
					json_object_new_boolean(
						e[i].flags & ISM_PEER_WATCHER));
				json_object_object_add(
					o, "self",
					json_object_new_boolean(e[i].flags &
								ISM_PEER_SELF));
				json_object_array_add(arr, o);
				continue;
			}
			age(e[i].age_ns, a, sizeof(a));
			printf("%-12llx %7u %6u %6u %7u %5u %10s %6u %5s "
			       "%c%c%c   %s\n",
			       (unsigned long long)e[i].id, e[i].pid, e[i].uid,
			       e[i].gid, e[i].regions, e[i].refs,
			       ism_format_size(e[i].bytes, b, sizeof(b)),
			       e[i].queued, a,
			       e[i].flags & ISM_PEER_ADMIN ? 'a' : '-',
			       e[i].flags & ISM_PEER_WATCHER ? 'w' : '-',
			       e[i].flags & ISM_PEER_SELF ? '*' : '-',
			       e[i].name);
		}
		cursor = next;
	} while (cursor);
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "peers", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}

int cmd_regions(struct ctl *ctl, int argc, char **argv)
{
	struct ism_region_entry e[128];
	json_object *arr = NULL;
	uint64_t cursor = 0, next;
	char a[32], b[32];
	int r;

	if ((r = plain_args(argc, argv, 0, "regions")) != EXIT_OK)
		return r;
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (ctl->json)
		arr = json_object_new_array();
	else
		printf("%-12s %-12s %10s %6s %6s %5s %5s %s\n", "ID", "OWNER",
		       "SIZE", "PAGE", "GRANTS", "REFS", "AGE", "NAME");
	do {
		int n = ism_admin_list_regions(ctl->c, cursor, e,
					       ISM_ARRAY_SIZE(e), &next);

		if (n < 0) {
			json_object_put(arr);
			return ctl_fail("regions", n);
		}
		for (int i = 0; i < n; i++) {
			if (arr) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "id",
						       ctl_json_id(e[i].id));
				json_object_object_add(o, "owner",
						       ctl_json_id(e[i].owner));
				json_object_object_add(
					o, "size",
					json_object_new_int64(
						(int64_t)e[i].size));
				json_object_object_add(
					o, "page_size",
					json_object_new_int64(e[i].page_size));
				json_object_object_add(
					o, "huge",
					json_object_new_boolean(
						e[i].flags & ISM_REGION_HUGE));
				json_object_object_add(
					o, "max_access",
					json_object_new_string(ctl_access_name(
						e[i].max_access)));
				json_object_object_add(
					o, "refs",
					json_object_new_int64(e[i].refs));
				json_object_object_add(
					o, "age_ms",
					json_object_new_int64(
						(int64_t)(e[i].age_ns /
							  1000000)));
				json_object_object_add(
					o, "name",
					json_object_new_string(e[i].name));
				json_object_array_add(arr, o);
				continue;
			}
			age(e[i].age_ns, a, sizeof(a));
			printf("%-12llx %-12llx %10s %5uK %6s %5u %5s %s\n",
			       (unsigned long long)e[i].id,
			       (unsigned long long)e[i].owner,
			       ism_format_size(e[i].size, b, sizeof(b)),
			       e[i].page_size / 1024,
			       ctl_access_name(e[i].max_access), e[i].refs, a,
			       e[i].name);
		}
		cursor = next;
	} while (cursor);
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "regions", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}

int cmd_refs(struct ctl *ctl, int argc, char **argv)
{
	struct ism_ref_entry e[128];
	json_object *arr = NULL;
	uint64_t cursor = 0, next, id;
	int r;

	if ((r = plain_args(argc, argv, 1, "refs REGION")) != EXIT_OK)
		return r;
	if (ctl_parse_id(argv[optind], &id) < 0 || id == 0)
		return ctl_usage("refs: bad region id '%s'", argv[optind]);
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (ctl->json)
		arr = json_object_new_array();
	else
		printf("%-12s %-12s %-6s %s\n", "REGION", "PEER", "ACCESS",
		       "FLAGS");
	do {
		int n = ism_admin_list_refs(ctl->c, id, cursor, e,
					    ISM_ARRAY_SIZE(e), &next);

		if (n < 0) {
			json_object_put(arr);
			return ctl_fail("refs", n);
		}
		for (int i = 0; i < n; i++) {
			if (arr) {
				json_object *o = json_object_new_object();

				json_object_object_add(
					o, "region", ctl_json_id(e[i].region));
				json_object_object_add(o, "peer",
						       ctl_json_id(e[i].peer));
				json_object_object_add(
					o, "access",
					json_object_new_string(
						ctl_access_name(e[i].access)));
				json_object_object_add(
					o, "owner",
					json_object_new_boolean(e[i].flags &
								ISM_REF_OWNER));
				json_object_object_add(
					o, "nofd",
					json_object_new_boolean(e[i].flags &
								ISM_REF_NOFD));
				json_object_array_add(arr, o);
				continue;
			}
			printf("%-12llx %-12llx %-6s %s%s\n",
			       (unsigned long long)e[i].region,
			       (unsigned long long)e[i].peer,
			       ctl_access_name(e[i].access),
			       e[i].flags & ISM_REF_OWNER ? "owner " : "",
			       e[i].flags & ISM_REF_NOFD ? "no-fd" : "");
		}
		cursor = next;
	} while (cursor);
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "refs", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}
