/* SPDX-License-Identifier: MIT */
/*
 * ismctl ivshmem list | peers DOMAIN | ring DOMAIN PEER VECTOR |
 *                join DOMAIN | channels DOMAIN |
 *                cat DOMAIN PEER PORT | cat -l DOMAIN PORT
 * DOMAIN is a domain's name or id (ismd --ivshmem; docs/ivshmem.md).
 */
#include "ismctl.h"
#include "util/util.h"
#include "ivchan/ivchan.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
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
	"       ismctl ivshmem channels DOMAIN   (joins to look: a "
	"channels=on domain)\n"
	"       ismctl ivshmem cat DOMAIN PEER PORT | cat -l DOMAIN PORT\n"
	"                      (a byte pipe: stdin to the channel, the "
	"channel to stdout)\n"
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

/* Join @name and open its channel layer: EXIT_OK or an exit code. */
static int ivdom(struct ctl *ctl, const char *name, struct ism_ivshmem **m,
		 struct ism_ivdom **d)
{
	int r;

	if ((r = ism_ivshmem_join(ctl->c, name, m)) < 0)
		return ctl_fail("ivshmem join", r);
	if ((r = ism_ivshmem_ivdom(*m, d)) < 0) {
		ism_ivshmem_leave(*m);
		return ctl_fail("ivshmem channels (served with channels=on?)",
				r);
	}
	return EXIT_OK;
}

static const char *state_name(uint32_t st)
{
	switch (st) {
	case IVC_OFFER: return "offer";
	case IVC_ACCEPT: return "accept";
	case IVC_CLOSED: return "closed";
	}
	return "?";
}

/*
 * The channel entries of every present member, as they read now.  All of
 * it is memory any guest can write: numbers are printed as read (one
 * load each), never followed.  We join to look (a member for a moment:
 * the others see a join and a departure).
 */
static int channels(struct ctl *ctl, const char *name)
{
	struct ism_ivshmem *m;
	struct ism_ivdom *d;
	const uint8_t *mem = NULL;
	const struct ivc_hdr *h;
	json_object *arr;
	uint64_t slot0, slot_size;
	uint32_t me, n;
	int r;

	if ((r = ivdom(ctl, name, &m, &d)) != EXIT_OK)
		return r;
	ism_ivshmem_map(m, (void **)&mem);
	h = (const struct ivc_hdr *)mem;
	me = ism_ivdom_id(d);
	n = ism_ivdom_slots(d);
	/* Validated by ism_ivdom_open; re-read once here. */
	slot0 = ivc_ld64(&h->slot0);
	slot_size = ivc_ld64(&h->slot_size);
	arr = ctl->json ? json_object_new_array() : NULL;
	if (!arr)
		printf("%-6s %-5s %-6s %-6s %-6s %-8s %s\n", "PEER", "ENTRY",
		       "STATE", "TO", "PORT", "GEN", "RING");
	for (uint32_t i = 0;
	     i < n && slot0 == IVC_HDR_SIZE && slot_size >= IVC_MIN_SLOT &&
	     slot0 + (uint64_t)(i + 1) * slot_size <= ism_ivshmem_size(m);
	     i++) {
		const struct ivc_slot *sl;

		if (i == me || !ism_ivdom_presence(d, i))
			continue;
		sl = (const struct ivc_slot *)(mem + slot0 +
					       (uint64_t)i * slot_size);
		for (uint32_t k = 0; k < IVC_ENTRIES; k++) {
			const struct ivc_entry *e = &sl->ent[k];
			uint32_t st = ivc_ld32(&e->state);

			if (st == IVC_FREE)
				continue;
			if (arr) {
				json_object *o = json_object_new_object();

				json_object_object_add(
					o, "peer", json_object_new_int64(i));
				json_object_object_add(
					o, "entry", json_object_new_int64(k));
				json_object_object_add(
					o, "state",
					json_object_new_string(state_name(st)));
				json_object_object_add(
					o, "to",
					json_object_new_int64(
						ivc_ld32(&e->peer)));
				json_object_object_add(
					o, "port",
					json_object_new_int64(
						ivc_ld32(&e->port)));
				json_object_object_add(
					o, "gen",
					json_object_new_int64(
						ivc_ld32(&e->gen)));
				json_object_object_add(
					o, "ring",
					json_object_new_int64(
						ivc_ld32(&e->data_size)));
				json_object_array_add(arr, o);
				continue;
			}
			printf("%-6u %-5u %-6s %-6u %-6u %-8u %u\n", i, k,
			       state_name(st), ivc_ld32(&e->peer),
			       ivc_ld32(&e->port), ivc_ld32(&e->gen),
			       ivc_ld32(&e->data_size));
		}
	}
	if (arr) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "channels", arr);
		ctl_json(o);
	}
	ism_ivdom_close(d);
	ism_ivshmem_leave(m);
	return EXIT_OK;
}

/* A byte pipe with a member (ism-guest cat): stdin to the channel, the
 * channel to stdout. */
static int cat(struct ctl *ctl, int argc, char **argv)
{
	bool listen = !strcmp(argv[0], "-l");
	struct ism_ivchan_opts o = { .size = sizeof(o) };
	struct ism_ivshmem *m;
	struct ism_ivdom *d;
	struct ism_ivchan *ch;
	uint32_t peer = 0, port = 0;
	int r;

	if (argc != 3)
		return ctl_usage("usage: ismctl ivshmem cat DOMAIN PEER PORT | "
				 "cat -l DOMAIN PORT");
	if ((!listen &&
	     (r = number(argv[1], 65535, &peer, "PEER")) != EXIT_OK) ||
	    (r = number(argv[2], UINT32_MAX, &port, "PORT")) != EXIT_OK)
		return r;
	if ((r = ivdom(ctl, argv[listen ? 1 : 0], &m, &d)) != EXIT_OK)
		return r;
	/* A peer still booting has no id yet: wait for it (its QEMU's
	 * arrival rings us). */
	for (int i = 0; !listen && i < 600; i++) {
		r = ism_ivchan_connect(d, peer, port, &o, &ch);
		if (r != -ECONNREFUSED)
			break;
		ism_ivdom_wait(d, 100);
	}
	if (listen)
		r = ism_ivchan_accept(d, port, &o, &ch);
	if (r < 0) {
		ism_ivdom_close(d);
		ism_ivshmem_leave(m);
		return ctl_fail(listen ? "ivshmem cat: accept"
				       : "ivshmem cat: connect",
				r);
	}
	r = ism_ivchan_pump(ch, 0, 1);
	ism_ivchan_close(ch);
	ism_ivdom_close(d);
	ism_ivshmem_leave(m);
	return r < 0 ? ctl_fail("ivshmem cat", r) : EXIT_OK;
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
			  (!strcmp(argv[1], "channels") && argc == 3) ||
			  (!strcmp(argv[1], "cat") && argc == 5) ||
			  (!strcmp(argv[1], "ring") && argc == 5)))
		return ctl_usage("usage: ismctl ivshmem list | peers DOMAIN | "
				 "ring DOMAIN PEER VECTOR | join DOMAIN | "
				 "channels DOMAIN | cat [-l] DOMAIN ...");
	if ((r = ctl_connect(ctl, 0)) != EXIT_OK)
		return r;
	if (!strcmp(argv[1], "list"))
		return list(ctl);
	if (!strcmp(argv[1], "peers"))
		return peers(ctl, argv[2]);
	if (!strcmp(argv[1], "ring"))
		return ring(ctl, argv + 2);
	if (!strcmp(argv[1], "channels"))
		return channels(ctl, argv[2]);
	if (!strcmp(argv[1], "cat"))
		return cat(ctl, argc - 2, argv + 2);
	return join(ctl, argv[2]);
}
