/* SPDX-License-Identifier: MIT */
/*
 * ismctl ivshmem list | peers DOMAIN | ring DOMAIN PEER VECTOR |
 *                join DOMAIN
 * DOMAIN is a domain's name or id (ismd --ivshmem; docs/ivshmem.md).
 */
#include "ismctl.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"Usage: ismctl ivshmem list\n"
	"       ismctl ivshmem peers DOMAIN\n"
	"       ismctl ivshmem ring DOMAIN PEER VECTOR\n"
	"       ismctl ivshmem join DOMAIN   (print doorbells until "
	"interrupted)\n"
	"DOMAIN: a name or id from 'ismctl ivshmem list'.\n";

/* The domain named or numbered @s: 0 and *@out, or an exit code. */
static int find_domain(struct ctl *ctl, const char *s,
		       struct ism_ivshmem_domain *out)
{
	struct ism_ivshmem_domain d[16];
	int n = ism_ivshmem_list(ctl->c, d, 16);

	if (n < 0)
		return ctl_fail("ivshmem", n);
	for (int i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof(id), "%u", d[i].id);
		if (!strcmp(s, d[i].name) || !strcmp(s, id)) {
			*out = d[i];
			return EXIT_OK;
		}
	}
	fprintf(stderr, "ismctl: ivshmem: no domain '%s'\n", s);
	return EXIT_FAILED;
}

static int list(struct ctl *ctl)
{
	struct ism_ivshmem_domain d[16];
	json_object *arr = ctl->json ? json_object_new_array() : NULL;
	int n = ism_ivshmem_list(ctl->c, d, 16);
	char sz[32];

	if (n < 0) {
		json_object_put(arr);
		return ctl_fail("ivshmem list", n);
	}
	if (!arr)
		printf("%-4s %-20s %10s %7s %11s %-6s %s\n", "ID", "NAME",
		       "SIZE", "VECTORS", "PEERS", "LAYOUT", "JOIN");
	for (int i = 0; i < n; i++) {
		if (arr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id",
					       json_object_new_int64(d[i].id));
			json_object_object_add(
				o, "name", json_object_new_string(d[i].name));
			json_object_object_add(
				o, "size",
				json_object_new_int64((int64_t)d[i].size));
			json_object_object_add(
				o, "vectors",
				json_object_new_int64(d[i].vectors));
			json_object_object_add(
				o, "peers", json_object_new_int64(d[i].peers));
			json_object_object_add(
				o, "max_peers",
				json_object_new_int64(d[i].max_peers));
			json_object_object_add(
				o, "may_join",
				json_object_new_boolean(d[i].flags &
							ISM_IVSHMEM_MAY_JOIN));
			json_object_object_add(
				o, "layout",
				json_object_new_string(
					d[i].flags & ISM_IVSHMEM_V2 ? "v2"
								    : "v1"));
			json_object_array_add(arr, o);
			continue;
		}
		/* v2: QEMU v1 devices map only the read-write section and
		 * nothing is enforced against them (docs/ivshmem.md). */
		printf("%-4u %-20s %10s %7u %5u/%-5u %-6s %s\n", d[i].id,
		       d[i].name, ism_format_size(d[i].size, sz, sizeof(sz)),
		       d[i].vectors, d[i].peers, d[i].max_peers,
		       d[i].flags & ISM_IVSHMEM_V2 ? "v2" : "v1",
		       d[i].flags & ISM_IVSHMEM_MAY_JOIN ? "yes" : "no");
	}
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "domains", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}

static int peers(struct ctl *ctl, const char *name)
{
	struct ism_ivshmem_peer p[256];
	struct ism_ivshmem_domain d = { 0 };
	json_object *arr;
	int r, n;

	if ((r = find_domain(ctl, name, &d)) != EXIT_OK)
		return r;
	if ((n = ism_ivshmem_peers(ctl->c, d.id, p, 256)) < 0)
		return ctl_fail("ivshmem peers", n);
	arr = ctl->json ? json_object_new_array() : NULL;
	if (!arr)
		printf("%-6s %-5s %-12s %s\n", "PEER", "KIND", "ISM PEER",
		       "AGE");
	for (int i = 0; i < n; i++) {
		const char *kind =
			p[i].kind == ISM_IVSHMEM_ISM ? "ism" : "qemu";

		if (arr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "id",
					       json_object_new_int64(p[i].id));
			json_object_object_add(o, "kind",
					       json_object_new_string(kind));
			json_object_object_add(
				o, "ism_peer",
				p[i].ism_peer ? ctl_json_id(p[i].ism_peer)
					      : NULL);
			json_object_object_add(
				o, "age_ms",
				json_object_new_int64(
					(int64_t)(p[i].age_ns / 1000000)));
			json_object_array_add(arr, o);
			continue;
		}
		printf("%-6u %-5s %-12llx %.1fs\n", p[i].id, kind,
		       (unsigned long long)p[i].ism_peer,
		       (double)p[i].age_ns / 1e9);
	}
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "peers", arr);
		ctl_json(o);
	}
	return EXIT_OK;
}

static int number(const char *s, uint64_t max, uint32_t *out, const char *what)
{
	uint64_t v;

	if (ism_parse_u64(s, max, &v) < 0)
		return ctl_usage("ivshmem: %s must be a number from 0 to %llu",
				 what, (unsigned long long)max);
	*out = (uint32_t)v;
	return EXIT_OK;
}

static int ring(struct ctl *ctl, char **argv)
{
	struct ism_ivshmem_domain d = { 0 };
	uint32_t peer = 0, vector = 0;
	int r;

	if ((r = number(argv[1], 65535, &peer, "PEER")) != EXIT_OK ||
	    (r = number(argv[2], 63, &vector, "VECTOR")) != EXIT_OK ||
	    (r = find_domain(ctl, argv[0], &d)) != EXIT_OK)
		return r;
	if ((r = ism_ivshmem_ring(ctl->c, d.id, peer, vector)) < 0)
		return ctl_fail("ivshmem ring", r);
	return EXIT_OK;
}

static int join(struct ctl *ctl, const char *name)
{
	struct ism_ivshmem *m;
	struct pollfd p[64];
	uint32_t nv;
	int r;

	if ((r = ism_ivshmem_join(ctl->c, name, &m)) < 0)
		return ctl_fail("ivshmem join", r);
	nv = ism_ivshmem_vectors(m);
	printf("joined %s as peer %u (%u vectors)\n", name, ism_ivshmem_id(m),
	       nv);
	fflush(stdout);
	for (uint32_t v = 0; v < nv; v++)
		p[v] = (struct pollfd){ ism_ivshmem_vector_fd(m, v), POLLIN,
					0 };
	for (;;) {
		if (poll(p, nv, -1) < 0 && errno != EINTR)
			break;
		for (uint32_t v = 0; v < nv; v++) {
			uint64_t n;

			if ((p[v].revents & POLLIN) &&
			    read(p[v].fd, &n, sizeof(n)) == sizeof(n)) {
				printf("vector %u rung (%llu)\n", v,
				       (unsigned long long)n);
				fflush(stdout);
			}
		}
	}
	ism_ivshmem_leave(m);
	return EXIT_FAILED;
}

int cmd_ivshmem(struct ctl *ctl, int argc, char **argv)
{
	int r;

	if (argc >= 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (argc < 2 || !((!strcmp(argv[1], "list") && argc == 2) ||
			  (!strcmp(argv[1], "peers") && argc == 3) ||
			  (!strcmp(argv[1], "join") && argc == 3) ||
			  (!strcmp(argv[1], "ring") && argc == 5)))
		return ctl_usage("usage: ismctl ivshmem list | peers DOMAIN | "
				 "ring DOMAIN PEER VECTOR | join DOMAIN");
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (!strcmp(argv[1], "list"))
		return list(ctl);
	if (!strcmp(argv[1], "peers"))
		return peers(ctl, argv[2]);
	if (!strcmp(argv[1], "ring"))
		return ring(ctl, argv + 2);
	return join(ctl, argv[2]);
}
